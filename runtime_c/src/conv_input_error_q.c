/* Integer input error of a conv / dense layer (Eq. 1 and 4): the transposed convolution of the
 * output error with the weights, summed over the kept output channels only (design 10), in int32
 * ahead of its dynamic requantization (design 4). */
#include <string.h>

#include "dsp.h"
#include "explore_kernels.h"

static int32_t kept_dot(const uint8_t *ep, int32_t e_zero, const uint8_t *wp, int32_t w_zero,
                        const uint16_t *kept, uint32_t num_kept)
{
    int32_t s = 0;
    for (uint32_t k = 0; k < num_kept; k++) {
        uint32_t o = kept ? kept[k] : k;
        s += ((int32_t)ep[o] - e_zero) * ((int32_t)wp[o] - w_zero);
    }
    return s;
}

#ifdef EXPLORE_USE_DSP
/* Output channels up to this many go through the SMLAD path (their centred errors are on the stack). */
#define ERROR_MAX 512u

/* The centred error row of one output position, regrouped for SMLAD against 4-byte weight loads:
   for channels 4k..4k+3, word 2k holds (e0, e2) and word 2k+1 holds (e1, e3).  Returns its sum. */
static int32_t regroup_errors(const uint8_t *ep, int32_t e_zero, uint32_t groups, uint32_t *pairs)
{
    int32_t sum = 0;
    for (uint32_t k = 0; k < groups; k++) {
        const uint8_t *q = ep + 4u * k;
        int32_t v0 = (int32_t)q[0] - e_zero, v1 = (int32_t)q[1] - e_zero;
        int32_t v2 = (int32_t)q[2] - e_zero, v3 = (int32_t)q[3] - e_zero;
        pairs[2u * k] = explore_pair(v0, v2);
        pairs[2u * k + 1u] = explore_pair(v1, v3);
        sum += v0 + v1 + v2 + v3;
    }
    return sum;
}

/* For every input channel ci of one tap: acc[ci] += sum over the first 4 * groups channels of
   e * w[ci] (raw weight codes) - correction; two weight rows per pass share the error words. */
EXPLORE_INNER_LOOP void tap_dots(const uint32_t *pairs, uint32_t groups, const uint8_t *w, uint32_t in_c,
                                 uint32_t out_c, int32_t correction, int32_t *acc)
{
    uint32_t ci = 0;
    for (; ci + 2 <= in_c; ci += 2, w += 2u * out_c) {
        int32_t a = 0, b = 0;
        const uint8_t *w0 = w, *w1 = w + out_c;
        const uint32_t *e = pairs;
        for (uint32_t k = groups; k; k--, e += 2, w0 += 4, w1 += 4) {
            uint32_t r0 = explore_load4(w0), r1 = explore_load4(w1);
            a = explore_smlad(explore_bytes02(r0), e[0], a);
            a = explore_smlad(explore_bytes13(r0), e[1], a);
            b = explore_smlad(explore_bytes02(r1), e[0], b);
            b = explore_smlad(explore_bytes13(r1), e[1], b);
        }
        acc[ci] += a - correction;
        acc[ci + 1] += b - correction;
    }
    if (ci < in_c) {
        int32_t a = 0;
        const uint32_t *e = pairs;
        for (uint32_t k = 0; k < groups; k++, e += 2) {
            uint32_t r0 = explore_load4(w + 4u * k);
            a = explore_smlad(explore_bytes02(r0), e[0], a);
            a = explore_smlad(explore_bytes13(r0), e[1], a);
        }
        acc[ci] += a - correction;
    }
}

static int32_t tail_dot(const uint8_t *ep, int32_t e_zero, const uint8_t *wp, uint32_t from, uint32_t to)
{
    int32_t s = 0;
    for (uint32_t o = from; o < to; o++) {
        s += ((int32_t)ep[o] - e_zero) * (int32_t)wp[o];
    }
    return s;
}

/* sum_o (e - ze)(w - zw) = sum_o (e - ze) w - zw sum_o (e - ze), per (tap, input channel). */
static void add_position(const explore_conv_geom_t *g, const uint8_t *ep, int32_t e_zero, const uint8_t *w,
                         int32_t w_zero, uint32_t oh, uint32_t ow, int32_t *acc, uint32_t *pairs)
{
    uint32_t groups = g->out_c / 4u;
    int32_t e_sum = regroup_errors(ep, e_zero, groups, pairs);
    for (uint32_t o = 4u * groups; o < g->out_c; o++) {
        e_sum += (int32_t)ep[o] - e_zero;
    }
    int32_t correction = w_zero * e_sum;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        if (ih < 0) {
            continue;
        }
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t iw = explore_conv_in_col(g, ow, kw);
            if (iw < 0) {
                continue;
            }
            int32_t *ap = acc + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
            const uint8_t *wp = w + (kh * g->k_w + kw) * g->in_c * g->out_c;
            tap_dots(pairs, groups, wp, g->in_c, g->out_c, correction, ap);
            if (4u * groups < g->out_c) {
                for (uint32_t ci = 0; ci < g->in_c; ci++) {
                    ap[ci] += tail_dot(ep, e_zero, wp + ci * g->out_c, 4u * groups, g->out_c);
                }
            }
        }
    }
}

static int dsp_input_error(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                           int32_t w_zero, int32_t *acc)
{
    if (g->depthwise || g->out_c > ERROR_MAX) {
        return 0;
    }
    uint32_t pairs[ERROR_MAX / 2u];
    memset(acc, 0, (size_t)g->in_h * g->in_w * g->in_c * sizeof(int32_t));
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            add_position(g, e + (oh * g->out_w + ow) * g->out_c, e_zero, w, w_zero, oh, ow, acc, pairs);
        }
    }
    return 1;
}
#endif

uint32_t explore_conv_input_error_q_scratch_bytes(uint32_t in_elements)
{
    return (uint32_t)sizeof(int32_t) * in_elements;
}

void explore_conv_input_error_q(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                                int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
#ifdef EXPLORE_USE_DSP
    if (!kept && dsp_input_error(g, e, e_zero, w, w_zero, acc)) {
        return;
    }
#endif
    memset(acc, 0, (size_t)g->in_h * g->in_w * g->in_c * sizeof(int32_t));
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            const uint8_t *ep = e + (oh * g->out_w + ow) * g->out_c;
            for (uint32_t kh = 0; kh < g->k_h; kh++) {
                int32_t ih = explore_conv_in_row(g, oh, kh);
                if (ih < 0) {
                    continue;
                }
                for (uint32_t kw = 0; kw < g->k_w; kw++) {
                    int32_t iw = explore_conv_in_col(g, ow, kw);
                    if (iw < 0) {
                        continue;
                    }
                    int32_t *ap = acc + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
                    const uint8_t *wp = w + (kh * g->k_w + kw) * wc * g->out_c;
                    if (g->depthwise) {
                        for (uint32_t k = 0; k < num_kept; k++) {
                            uint32_t c = kept ? kept[k] : k;
                            ap[c] += ((int32_t)ep[c] - e_zero) * ((int32_t)wp[c] - w_zero);
                        }
                        continue;
                    }
                    for (uint32_t ci = 0; ci < g->in_c; ci++) {
                        ap[ci] += kept_dot(ep, e_zero, wp + ci * g->out_c, w_zero, kept, num_kept);
                    }
                }
            }
        }
    }
}
