/* Integer input error of a conv / dense layer (Eq. 1 and 4): the transposed convolution of the
 * output error with the weights, summed over the kept output channels only (design 10), in int32
 * ahead of its dynamic requantization (design 4).
 *
 * Paths, first that takes the shape: the SMLAD path (conv_input_error_q_dsp.c, DSP cores); a
 * depthwise layer gathered per input position; without DSP, the errors centred once per output
 * position; else one scalar product per (tap, input channel) over the kept list. */
#include <string.h>

#include "backward_loops.h"
#include "dsp.h"
#include "dsp_loops.h"
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


/* --- depthwise: gathered per input position ------------------------------------------------- */

/* Kernel taps up to this many take the gather path. */
#define TAPS_MAX 64u

/* One kernel tap that reaches an input position: where its output error and weights start. */
typedef struct {
    uint32_t error, weight;
} reach_t;

/* The output row (column) that reads input row (column) i through kernel offset k, or -1; the
   division only for strides above 1 (the M0+ has no divide instruction). */
static int32_t reading_output(uint32_t i, uint32_t pad, uint32_t k, uint32_t stride, uint32_t out)
{
    int32_t r = (int32_t)(i + pad) - (int32_t)k;
    if (r < 0) {
        return -1;
    }
    uint32_t o = (uint32_t)r;
    if (stride > 1u) {
        if (o % stride) {
            return -1;
        }
        o /= stride;
    }
    return o < out ? (int32_t)o : -1;
}

/* The taps whose output position reads input (ih, iw), as offsets into e and w; returns how many. */
static uint32_t reaching_taps(const explore_conv_geom_t *g, uint32_t ih, uint32_t iw, reach_t *taps)
{
    uint32_t n = 0, c = g->out_c;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t oh = reading_output(ih, g->pad_top, kh, g->stride_h, g->out_h);
        if (oh < 0) {
            continue;
        }
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t ow = reading_output(iw, g->pad_left, kw, g->stride_w, g->out_w);
            if (ow < 0) {
                continue;
            }
            taps[n].error = ((uint32_t)oh * g->out_w + (uint32_t)ow) * c;
            taps[n].weight = (kh * g->k_w + kw) * c;
            n++;
        }
    }
    return n;
}

/* Channel c of one input position: sum over its reaching taps of (e - ze)(w - zw). */
static int32_t channel_taps(const reach_t *taps, uint32_t n, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                            int32_t w_zero)
{
    int32_t s = 0;
    for (const reach_t *end = taps + n; taps != end; taps++) {
        s += ((int32_t)e[taps->error] - e_zero) * ((int32_t)w[taps->weight] - w_zero);
    }
    return s;
}

#ifdef EXPLORE_USE_DSP
/* Channels 4k..4k+3 at once: a word of errors and of weights per tap, centred in 16-bit lanes
   (channels 0 and 2, then 1 and 3), each lane its own multiply-accumulate. */
EXPLORE_INNER_LOOP uint32_t channel_quads(const reach_t *taps, uint32_t n, const uint8_t *e, int32_t e_zero,
                                          const uint8_t *w, int32_t w_zero, uint32_t channels, int32_t *acc)
{
    const uint32_t ze = explore_pair(e_zero, e_zero), zw = explore_pair(w_zero, w_zero);
    uint32_t c = 0;
    for (; c + 4u <= channels; c += 4u) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const reach_t *t = taps;
        for (uint32_t k = n; k; k--, t++) {
            uint32_t ev = explore_load4(e + t->error + c), wv = explore_load4(w + t->weight + c);
            uint32_t e02 = __ssub16(explore_bytes02(ev), ze), e13 = __ssub16(explore_bytes13(ev), ze);
            uint32_t w02 = __ssub16(explore_bytes02(wv), zw), w13 = __ssub16(explore_bytes13(wv), zw);
            a0 = __smlabb((int32_t)e02, (int32_t)w02, a0);
            a2 = __smlatt((int32_t)e02, (int32_t)w02, a2);
            a1 = __smlabb((int32_t)e13, (int32_t)w13, a1);
            a3 = __smlatt((int32_t)e13, (int32_t)w13, a3);
        }
        acc[c] = a0;
        acc[c + 1u] = a1;
        acc[c + 2u] = a2;
        acc[c + 3u] = a3;
    }
    return c;
}
#else
/* The M0+ has too few registers for more than one channel at a time (channel_taps). */
static uint32_t channel_quads(const reach_t *taps, uint32_t n, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                              int32_t w_zero, uint32_t channels, int32_t *acc)
{
    (void)taps, (void)n, (void)e, (void)e_zero, (void)w, (void)w_zero, (void)channels, (void)acc;
    return 0;
}
#endif

/* Channels not in the kept list get exact zeros. */
static void zero_dropped(const explore_conv_geom_t *g, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    uint32_t positions = g->in_h * g->in_w, next = 0;
    for (uint32_t c = 0; c < g->in_c; c++) {
        if (next < num_kept && (kept ? kept[next] : next) == c) {
            next++;
            continue;
        }
        for (uint32_t p = 0; p < positions; p++) {
            acc[p * g->in_c + c] = 0;
        }
    }
}

/* Each input element is written once: the sum over the taps that reach it, every channel computed
   and the dropped ones zeroed afterwards.  Returns 0 (nothing done) above TAPS_MAX taps. */
static int depthwise_gather(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                            int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    if (g->k_h * g->k_w > TAPS_MAX) {
        return 0;
    }
    reach_t taps[TAPS_MAX];
    for (uint32_t ih = 0; ih < g->in_h; ih++) {
        for (uint32_t iw = 0; iw < g->in_w; iw++, acc += g->in_c) {
            uint32_t n = reaching_taps(g, ih, iw, taps);
            uint32_t c = channel_quads(taps, n, e, e_zero, w, w_zero, g->in_c, acc);
            for (; c < g->in_c; c++) {
                acc[c] = channel_taps(taps, n, e + c, e_zero, w + c, w_zero);
            }
        }
    }
    if (num_kept < g->in_c) {
        zero_dropped(g, kept, num_kept, acc - g->in_h * g->in_w * g->in_c);
    }
    return 1;
}

/* --- conv and dense without DSP: centred errors once per output position ----------------------- */
#ifndef EXPLORE_USE_DSP

/* Output channels up to this many take the centred path (their errors as int32 on the stack). */
#define CENTRED_MAX 256u

/* Every input channel ci of one tap: acc[ci] += sum_o e[o] w[ci][o] - correction, two channels
   per pass sharing each error load. */
EXPLORE_INNER_LOOP void centred_tap(const int32_t *centred, const uint8_t *w, uint32_t in_c, uint32_t out_c,
                                    int32_t correction, int32_t *acc)
{
    uint32_t ci = 0;
    for (; ci + 2u <= in_c; ci += 2u, w += 2u * out_c) {
        int32_t a = 0, b = 0;
        const uint8_t *w0 = w, *w1 = w + out_c;
        const int32_t *e = centred;
        for (uint32_t o = out_c; o; o--) {
            int32_t v = *e++;
            a += v * *w0++;
            b += v * *w1++;
        }
        acc[ci] += a - correction;
        acc[ci + 1u] += b - correction;
    }
    if (ci < in_c) {
        int32_t a = 0;
        for (uint32_t o = 0; o < out_c; o++) {
            a += centred[o] * w[o];
        }
        acc[ci] += a - correction;
    }
}

/* The centred errors of one output position, zeros for dropped channels; returns their sum. */
static int32_t centre_errors(const uint8_t *ep, int32_t e_zero, uint32_t out_c, const uint16_t *kept,
                             uint32_t num_kept, int32_t *centred)
{
    int32_t sum = 0;
    if (kept) {
        memset(centred, 0, out_c * sizeof *centred);
    }
    for (uint32_t k = 0; k < num_kept; k++) {
        uint32_t o = kept ? kept[k] : k;
        centred[o] = (int32_t)ep[o] - e_zero;
        sum += centred[o];
    }
    return sum;
}

/* sum_o (e - ze)(w - zw) = sum_o (e - ze) w - zw sum_o (e - ze), per (tap, input channel). */
static int centred_input_error(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                               int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    if (g->depthwise || g->out_c > CENTRED_MAX || 2u * num_kept < g->out_c) {
        return 0;
    }
    int32_t centred[CENTRED_MAX];
    memset(acc, 0, (size_t)g->in_h * g->in_w * g->in_c * sizeof(int32_t));
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            const uint8_t *ep = e + (oh * g->out_w + ow) * g->out_c;
            int32_t correction = w_zero * centre_errors(ep, e_zero, g->out_c, kept, num_kept, centred);
            for (uint32_t kh = 0; kh < g->k_h; kh++) {
                int32_t ih = explore_conv_in_row(g, oh, kh);
                for (uint32_t kw = 0; kw < g->k_w && ih >= 0; kw++) {
                    int32_t iw = explore_conv_in_col(g, ow, kw);
                    if (iw >= 0) {
                        centred_tap(centred, w + (kh * g->k_w + kw) * g->in_c * g->out_c, g->in_c, g->out_c,
                                    correction, acc + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c);
                    }
                }
            }
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
    if (explore_dense_fits(g) && g->out_c <= EXPLORE_DENSE_OUTPUTS_MAX) {
        explore_dense_input_error_q(g, e, e_zero, w, w_zero, kept, num_kept, acc);
        return;
    }
#ifdef EXPLORE_USE_DSP
    if (explore_depthwise_input_error_small(g, e, e_zero, w, w_zero, kept, num_kept, acc) ||
        explore_input_error_small(g, e, e_zero, w, w_zero, kept, num_kept, acc)) {
        return;
    }
    if (explore_input_error_dsp(g, e, e_zero, w, w_zero, kept, num_kept, acc)) {
        return;
    }
#endif
    if (g->depthwise && depthwise_gather(g, e, e_zero, w, w_zero, kept, num_kept, acc)) {
        return;
    }
#ifndef EXPLORE_USE_DSP
    if (centred_input_error(g, e, e_zero, w, w_zero, kept, num_kept, acc)) {
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
