/* The SMLAD path of explore_conv_input_error_q for conv and dense layers (ARMv7E-M DSP cores).
 *
 * Per output position the centred errors (zeros for dropped channels) are regrouped into 16-bit
 * pairs that match a 4-byte weight load; two neighbouring output positions go together so that
 * each weight word, once loaded and widened, feeds both.  The weight zero point comes out of the
 * sum:  sum_o (e - ze)(w - zw) = sum_o (e - ze) w - zw sum_o (e - ze). */
#include <string.h>

#include "backward_loops.h"
#include "dsp.h"

#ifdef EXPLORE_USE_DSP
/* Output channels up to this many take this path (two positions' centred errors on the stack). */
#define ERROR_MAX 512u
#define PAIRS_MAX (ERROR_MAX / 2u)

/* One output position's errors: SMLAD pairs of the first 4 * groups channels (channels 4k..4k+3 in
   words 2k = (e0, e2) and 2k + 1 = (e1, e3)), the remaining channels centred, and the sum. */
typedef struct {
    uint32_t *pairs;
    int32_t tail[3];
    int32_t correction;   /* zw * sum of the centred errors */
} position_t;

/* Channel o's centred error, 0 for a dropped channel (kept says which). */
static int32_t centred_error(const uint8_t *ep, int32_t e_zero, const uint8_t *kept, uint32_t o)
{
    return kept[o] ? (int32_t)ep[o] - e_zero : 0;
}

/* The errors of one output position as position_t holds them. */
static void centre_position(const explore_conv_geom_t *g, const uint8_t *ep, int32_t e_zero, int32_t w_zero,
                            const uint8_t *kept, position_t *p)
{
    int32_t sum = 0;
    uint32_t groups = g->out_c / 4u;
    for (uint32_t k = 0; k < groups; k++) {
        int32_t v0 = centred_error(ep, e_zero, kept, 4u * k), v1 = centred_error(ep, e_zero, kept, 4u * k + 1u);
        int32_t v2 = centred_error(ep, e_zero, kept, 4u * k + 2u), v3 = centred_error(ep, e_zero, kept, 4u * k + 3u);
        p->pairs[2u * k] = explore_pair(v0, v2);
        p->pairs[2u * k + 1u] = explore_pair(v1, v3);
        sum += v0 + v1 + v2 + v3;
    }
    for (uint32_t o = 4u * groups; o < g->out_c; o++) {
        p->tail[o - 4u * groups] = centred_error(ep, e_zero, kept, o);
        sum += p->tail[o - 4u * groups];
    }
    p->correction = w_zero * sum;
}

/* Every input channel ci of one tap at one position: acc[ci] += sum_o e w[ci][o] - correction. */
EXPLORE_INNER_LOOP void tap_dots_one(const uint32_t *pairs, uint32_t groups, const uint8_t *w, uint32_t in_c,
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

/* tap_dots_one for two positions at once (errors of the second PAIRS_MAX words after the first's):
   each weight word is loaded and widened once for both. */
EXPLORE_INNER_LOOP void tap_dots_two(const uint32_t *pairs, uint32_t groups, const uint8_t *w, uint32_t in_c,
                                     uint32_t out_c, const int32_t *correction, int32_t *acc_a, int32_t *acc_b)
{
    uint32_t ci = 0;
    for (; ci + 2 <= in_c; ci += 2, w += 2u * out_c) {
        int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
        const uint8_t *w0 = w, *w1 = w + out_c;
        const uint32_t *e = pairs;
        for (uint32_t k = groups; k; k--, e += 2, w0 += 4, w1 += 4) {
            uint32_t r0 = explore_load4(w0), r1 = explore_load4(w1);
            uint32_t lo0 = explore_bytes02(r0), hi0 = explore_bytes13(r0);
            uint32_t lo1 = explore_bytes02(r1), hi1 = explore_bytes13(r1);
            uint32_t e0 = e[0];
            a0 = explore_smlad(lo0, e0, a0);
            a1 = explore_smlad(lo1, e0, a1);
            uint32_t e1 = e[1];
            a0 = explore_smlad(hi0, e1, a0);
            a1 = explore_smlad(hi1, e1, a1);
            uint32_t f0 = e[PAIRS_MAX];
            b0 = explore_smlad(lo0, f0, b0);
            b1 = explore_smlad(lo1, f0, b1);
            uint32_t f1 = e[PAIRS_MAX + 1u];
            b0 = explore_smlad(hi0, f1, b0);
            b1 = explore_smlad(hi1, f1, b1);
        }
        acc_a[ci] += a0 - correction[0];
        acc_a[ci + 1] += a1 - correction[0];
        acc_b[ci] += b0 - correction[1];
        acc_b[ci + 1] += b1 - correction[1];
    }
    if (ci < in_c) {
        tap_dots_one(pairs, groups, w, 1u, out_c, correction[0], acc_a + ci);
        tap_dots_one(pairs + PAIRS_MAX, groups, w, 1u, out_c, correction[1], acc_b + ci);
    }
}

/* The channels past the last group of 4, for every input channel of one tap at one position. */
static void tail_dots(const position_t *p, uint32_t from, const uint8_t *w, const explore_conv_geom_t *g,
                      int32_t *acc)
{
    for (uint32_t ci = 0; ci < g->in_c; ci++, w += g->out_c) {
        int32_t s = 0;
        for (uint32_t o = from; o < g->out_c; o++) {
            s += p->tail[o - from] * (int32_t)w[o];
        }
        acc[ci] += s;
    }
}

static int32_t *input_at(const explore_conv_geom_t *g, int32_t *acc, int32_t ih, int32_t iw)
{
    return acc + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
}

/* Output positions (oh, ow) and, if two, (oh, ow + 1): every tap each reaches. */
static void add_positions(const explore_conv_geom_t *g, const uint8_t *w, const position_t *p, uint32_t count,
                          uint32_t oh, uint32_t ow, int32_t *acc)
{
    uint32_t groups = g->out_c / 4u;
    int32_t corrections[2] = {p[0].correction, p[count - 1u].correction};
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        if (ih < 0) {
            continue;
        }
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            const uint8_t *wp = w + (kh * g->k_w + kw) * g->in_c * g->out_c;
            int32_t iw[2] = {explore_conv_in_col(g, ow, kw), count > 1u ? explore_conv_in_col(g, ow + 1u, kw) : -1};
            if (iw[0] >= 0 && iw[1] >= 0) {
                tap_dots_two(p[0].pairs, groups, wp, g->in_c, g->out_c, corrections, input_at(g, acc, ih, iw[0]),
                             input_at(g, acc, ih, iw[1]));
            }
            for (uint32_t n = 0; n < count; n++) {
                if (iw[n] < 0) {
                    continue;
                }
                int32_t *ap = input_at(g, acc, ih, iw[n]);
                if (iw[1 - n] < 0) {
                    tap_dots_one(p[n].pairs, groups, wp, g->in_c, g->out_c, p[n].correction, ap);
                }
                if (4u * groups < g->out_c) {
                    tail_dots(&p[n], 4u * groups, wp, g, ap);
                }
            }
        }
    }
}

int explore_input_error_dsp(const explore_conv_geom_t *g, const uint8_t *e, int32_t e_zero, const uint8_t *w,
                            int32_t w_zero, const uint16_t *kept, uint32_t num_kept, int32_t *acc)
{
    /* dropped channels cost as much as kept ones here: very sparse lists go the scalar way */
    if (g->depthwise || g->out_c > ERROR_MAX || 8u * num_kept < g->out_c) {
        return 0;
    }
    uint32_t pairs[2u * PAIRS_MAX];
    uint8_t keep[ERROR_MAX];
    for (uint32_t k = 0, next = 0; k < g->out_c; k++) {
        keep[k] = next < num_kept && (kept ? kept[next] : next) == k;
        next += keep[k];
    }
    position_t p[2] = {{pairs, {0, 0, 0}, 0}, {pairs + PAIRS_MAX, {0, 0, 0}, 0}};
    memset(acc, 0, (size_t)g->in_h * g->in_w * g->in_c * sizeof(int32_t));
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow += 2u) {
            uint32_t count = ow + 1u < g->out_w ? 2u : 1u;
            for (uint32_t n = 0; n < count; n++) {
                const uint8_t *ep = e + (oh * g->out_w + ow + n) * g->out_c;
                centre_position(g, ep, e_zero, w_zero, keep, &p[n]);
            }
            add_positions(g, w, p, count, oh, ow, acc);
        }
    }
    return 1;
}
#endif
