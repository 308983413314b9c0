/* Integer conv / depthwise conv / dense forward (design 2): int32 accumulation of zero-point-centred
 * uint8 operands, int32 bias, fixed-point requantization, activation as the clamp.  Weights are in
 * Flax layout (kh, kw, in, out); a dense layer is a 1x1 conv over a 1x1 image. */
#include "dsp.h"
#include "dsp_loops.h"
#include "explore_kernels.h"

static int32_t dot_at(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                      const uint8_t *w, uint32_t oh, uint32_t ow, uint32_t o)
{
    int32_t acc = 0;
    uint32_t wc = g->depthwise ? 1u : g->in_c;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        if (ih < 0) {
            continue;   /* padding is real zero: (x - zx) = 0 */
        }
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t iw = explore_conv_in_col(g, ow, kw);
            if (iw < 0) {
                continue;
            }
            const uint8_t *xp = x + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c;
            const uint8_t *wp = w + (kh * g->k_w + kw) * wc * g->out_c + o;
            if (g->depthwise) {
                acc += ((int32_t)xp[o] - p->x_zero) * ((int32_t)wp[0] - p->w_zero);
                continue;
            }
            for (uint32_t ci = 0; ci < g->in_c; ci++) {
                acc += ((int32_t)xp[ci] - p->x_zero) * ((int32_t)wp[ci * g->out_c] - p->w_zero);
            }
        }
    }
    return acc;
}

/* int32 addition that wraps like the simulator's (a bias clamped near 2^31 can overflow it). */
static int32_t add_wrapping(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static uint8_t requantize(const explore_conv_q_params_t *p, int32_t acc)
{
    int32_t v = explore_mbqm(acc, p->m0, p->shift) + p->y_zero;
    return (uint8_t)(v < p->low ? p->low : (v > p->high ? p->high : v));
}

#ifdef EXPLORE_USE_DSP
/* Centred patches up to this many elements go through the SMLAD path (the patch is on the stack). */
#define PATCH_MAX 512u

/* The centred input patch of output position (oh, ow) in weight-row order (kh, kw, ci), padding
   taps as zeros; returns the sum of its elements. */
static int32_t gather_patch(const explore_conv_geom_t *g, const uint8_t *x, int32_t x_zero, uint32_t oh,
                            uint32_t ow, int16_t *patch)
{
    int32_t sum = 0;
    uint32_t j = 0;
    for (uint32_t kh = 0; kh < g->k_h; kh++) {
        int32_t ih = explore_conv_in_row(g, oh, kh);
        for (uint32_t kw = 0; kw < g->k_w; kw++) {
            int32_t iw = explore_conv_in_col(g, ow, kw);
            int inside = ih >= 0 && iw >= 0;
            const uint8_t *xp = inside ? x + ((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c : 0;
            for (uint32_t ci = 0; ci < g->in_c; ci++, j++) {
                int32_t v = inside ? (int32_t)xp[ci] - x_zero : 0;
                patch[j] = (int16_t)v;
                sum += v;
            }
        }
    }
    return sum;
}

/* Output channels o, o+1 at two positions (patches p0, p1): acc[2 * position + channel] =
   sum_j patch[j] * w[j][o + channel] over raw weight codes.  Rows j, j+1 of the two channels are
   regrouped into (row j, row j+1) lanes once and serve both positions. */
void explore_dsp_dot_two_by_two(const int16_t *p0, const int16_t *p1, uint32_t fan, const uint8_t *w,
                                uint32_t out_c, int32_t *acc)
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    const uint32_t step = 2u * out_c;
    const uint8_t *w1 = w + out_c;
    uint32_t j = fan & ~1u;
    const int16_t *q0 = p0, *q1 = p1;
    for (uint32_t n = fan / 2u; n; n--) {
        uint32_t x0, x1;
        uint16_t h0, h1;
        memcpy(&x0, q0, sizeof x0);
        memcpy(&x1, q1, sizeof x1);
        q0 += 2;
        q1 += 2;
        memcpy(&h0, w, sizeof h0);
        memcpy(&h1, w1, sizeof h1);
        w += step;
        w1 += step;
        uint32_t rows = (uint32_t)h0 | ((uint32_t)h1 << 16);
        uint32_t first = explore_bytes02(rows), second = explore_bytes13(rows);
        a00 = explore_smlad(x0, first, a00);
        a01 = explore_smlad(x0, second, a01);
        a10 = explore_smlad(x1, first, a10);
        a11 = explore_smlad(x1, second, a11);
    }
    if (j < fan) {
        a00 += p0[j] * w[0];
        a01 += p0[j] * w[1];
        a10 += p1[j] * w[0];
        a11 += p1[j] * w[1];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

static int32_t dot_one(const int16_t *patch, uint32_t fan, const uint8_t *w, uint32_t out_c)
{
    int32_t acc = 0;
    for (uint32_t j = 0; j < fan; j++) {
        acc += patch[j] * w[j * out_c];
    }
    return acc;
}

/* sum (x - zx)(w - zw) = sum (x - zx) w - zw sum (x - zx): the weights' zero point is applied once
   per output, so the inner loop multiplies raw weight codes. */
static int dsp_forward(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                       const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    uint32_t fan = explore_conv_fan_in(g);
    if (g->depthwise || fan > PATCH_MAX) {
        return 0;
    }
    int16_t patches[2][PATCH_MAX];
    uint32_t positions = g->out_h * g->out_w;
    for (uint32_t pos = 0; pos < positions; pos += 2) {
        /* an odd last position is paired with itself */
        uint32_t second = pos + 1 < positions ? pos + 1 : pos;
        int32_t sums[2] = {gather_patch(g, x, p->x_zero, pos / g->out_w, pos % g->out_w, patches[0]),
                           gather_patch(g, x, p->x_zero, second / g->out_w, second % g->out_w, patches[1])};
        uint8_t *rows[2] = {y + pos * g->out_c, y + second * g->out_c};
        uint32_t o = 0;
        for (; o + 2 <= g->out_c; o += 2) {
            int32_t acc[4];
            explore_dsp_dot_two_by_two(patches[0], patches[1], fan, w + o, g->out_c, acc);
            for (uint32_t k = 0; k < 4; k++) {
                uint32_t at = k / 2, c = o + k % 2;
                rows[at][c] = requantize(p, add_wrapping(acc[k] - p->w_zero * sums[at], bias[c]));
            }
        }
        for (; o < g->out_c; o++) {
            for (uint32_t at = 0; at < 2; at++) {
                int32_t acc = dot_one(patches[at], fan, w + o, g->out_c);
                rows[at][o] = requantize(p, add_wrapping(acc - p->w_zero * sums[at], bias[o]));
            }
        }
    }
    return 1;
}
#endif

void explore_conv_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                            const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    if (g->depthwise) { explore_depthwise_forward_q(g, p, x, w, bias, y); return; }
#ifdef EXPLORE_USE_DSP
    if (dsp_forward(g, p, x, w, bias, y)) {
        return;
    }
#endif
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            uint8_t *yp = y + (oh * g->out_w + ow) * g->out_c;
            for (uint32_t o = 0; o < g->out_c; o++) {
                yp[o] = requantize(p, add_wrapping(dot_at(g, p, x, w, oh, ow, o), bias[o]));
            }
        }
    }
}
