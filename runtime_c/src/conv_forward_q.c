/* Integer conv / dense forward (design 2; depthwise layers go to depthwise_forward_q.c): int32
 * accumulation of zero-point-centred uint8 operands, int32 bias, fixed-point requantization,
 * activation as the clamp.  Weights are in Flax layout (kh, kw, in, out); a dense layer is a 1x1
 * conv over a 1x1 image.
 *
 * These are the portable loops; cores with the DSP extension take conv_forward_q_dsp.c.  The
 * weights' zero point is applied once per output, sum (x - zx)(w - zw) = sum (x - zx) w -
 * zw sum (x - zx), and the taps inside the image are found once per output position: the inside
 * taps of a kernel row are one run of the input and of the weights, and the inner loop multiplies
 * one centred input with the raw weight codes of eight output channels. */
#include "dsp.h"
#include "dsp_loops.h"
#include "explore_kernels.h"
#include "requant.h"

/* Kernel taps whose input lies inside the image (padding is real zero: (x - zx) = 0). */
typedef struct {
    uint32_t kh0, kh1, kw0, kw1;
} window_t;

static window_t window_at(const explore_conv_geom_t *g, uint32_t oh, uint32_t ow)
{
    window_t t = {g->k_h, 0, g->k_w, 0};
    for (uint32_t kh = g->k_h; kh--;) {
        if (explore_conv_in_row(g, oh, kh) >= 0) {
            t.kh0 = kh;
            t.kh1 = t.kh1 ? t.kh1 : kh + 1;
        }
    }
    for (uint32_t kw = g->k_w; kw--;) {
        if (explore_conv_in_col(g, ow, kw) >= 0) {
            t.kw0 = kw;
            t.kw1 = t.kw1 ? t.kw1 : kw + 1;
        }
    }
    if (t.kh0 >= t.kh1 || t.kw0 >= t.kw1) {
        t.kh0 = t.kh1 = t.kw0 = t.kw1 = 0;   /* no tap inside: empty runs */
    }
    return t;
}

static const uint8_t *input_at(const explore_conv_geom_t *g, const uint8_t *x, uint32_t oh, uint32_t ow,
                               uint32_t kh, uint32_t kw)
{
    uint32_t ih = (uint32_t)explore_conv_in_row(g, oh, kh), iw = (uint32_t)explore_conv_in_col(g, ow, kw);
    return x + (ih * g->in_w + iw) * g->in_c;
}

/* acc[c] += sum over n inputs of (x - zx) w[ci][c], channels c = 0..7 of the weights at wp: one
   centred input serves eight multiply-accumulates. */
EXPLORE_INNER_LOOP void dot_eight(const uint8_t *xp, uint32_t n, int32_t x_zero, const uint8_t *wp,
                                  uint32_t out_c, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    for (const uint8_t *end = xp + n; xp != end; xp++, wp += out_c) {
        int32_t v = (int32_t)*xp - x_zero;
        a0 += v * wp[0];
        a1 += v * wp[1];
        a2 += v * wp[2];
        a3 += v * wp[3];
        a4 += v * wp[4];
        a5 += v * wp[5];
        a6 += v * wp[6];
        a7 += v * wp[7];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    acc[6] = a6;
    acc[7] = a7;
}

/* The same for four channels (what is left of out_c after the groups of eight). */
EXPLORE_INNER_LOOP void dot_four(const uint8_t *xp, uint32_t n, int32_t x_zero, const uint8_t *wp,
                                 uint32_t out_c, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (const uint8_t *end = xp + n; xp != end; xp++, wp += out_c) {
        int32_t v = (int32_t)*xp - x_zero;
        a0 += v * wp[0];
        a1 += v * wp[1];
        a2 += v * wp[2];
        a3 += v * wp[3];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static int32_t dot_one(const uint8_t *xp, uint32_t n, int32_t x_zero, const uint8_t *wp, uint32_t out_c)
{
    int32_t acc = 0;
    for (uint32_t ci = 0; ci < n; ci++, wp += out_c) {
        acc += ((int32_t)xp[ci] - x_zero) * *wp;
    }
    return acc;
}

typedef struct {
    const explore_conv_geom_t *g;
    const uint8_t *x, *w;
    const int32_t *bias;
    int32_t x_zero, w_zero;
    explore_requant_t rq;
} forward_t;

/* Output channels [o, o + width) (width 8, 4 or 1) of position (oh, ow), before the weights' zero point.
   The taps of a kernel row inside the image are one run of the input and of the weights. */
static void dot_channels(const forward_t *f, uint32_t oh, uint32_t ow, const window_t *t, uint32_t o,
                         uint32_t width, int32_t *acc)
{
    const explore_conv_geom_t *g = f->g;
    const uint32_t run = (t->kw1 - t->kw0) * g->in_c;
    for (uint32_t kh = t->kh0; kh < t->kh1; kh++) {
        const uint8_t *xp = input_at(g, f->x, oh, ow, kh, t->kw0);
        const uint8_t *wp = f->w + (kh * g->k_w + t->kw0) * g->in_c * g->out_c + o;
        if (width == 8) {
            dot_eight(xp, run, f->x_zero, wp, g->out_c, acc);
        } else if (width == 4) {
            dot_four(xp, run, f->x_zero, wp, g->out_c, acc);
        } else {
            acc[0] += dot_one(xp, run, f->x_zero, wp, g->out_c);
        }
    }
}

static int32_t centred_sum(const forward_t *f, uint32_t oh, uint32_t ow, const window_t *t)
{
    const uint32_t run = (t->kw1 - t->kw0) * f->g->in_c;
    int32_t sum = 0;
    for (uint32_t kh = t->kh0; kh < t->kh1; kh++) {
        const uint8_t *xp = input_at(f->g, f->x, oh, ow, kh, t->kw0);
        for (uint32_t k = 0; k < run; k++) {
            sum += (int32_t)xp[k] - f->x_zero;
        }
    }
    return sum;
}

static void forward_position(const forward_t *f, uint32_t oh, uint32_t ow, uint8_t *y)
{
    const explore_conv_geom_t *g = f->g;
    const explore_requant_t rq = f->rq;   /* a local: the byte stores cannot alias it */
    window_t t = window_at(g, oh, ow);
    /* uint32: the bias adds with wrap-around like the simulator's int32 (a bias clamped near 2^31) */
    uint32_t correction = (uint32_t)f->w_zero * (uint32_t)centred_sum(f, oh, ow, &t);
    for (uint32_t o = 0; o < g->out_c;) {
        uint32_t left = g->out_c - o, width = left >= 8 ? 8 : (left >= 4 ? 4 : 1);
        int32_t acc[8] = {0};
        dot_channels(f, oh, ow, &t, o, width, acc);
        for (uint32_t c = 0; c < width; c++, o++) {
            y[o] = explore_requant(&rq, (int32_t)((uint32_t)acc[c] - correction + (uint32_t)f->bias[o]));
        }
    }
}

void explore_conv_forward_q(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, const uint8_t *x,
                            const uint8_t *w, const int32_t *bias, uint8_t *y)
{
    if (g->depthwise) {
        explore_depthwise_forward_q(g, p, x, w, bias, y);
        return;
    }
    if (explore_dense_fits(g)) {
        explore_dense_forward_q(g, p, x, w, bias, y);
        return;
    }
#ifdef EXPLORE_USE_DSP
    if (explore_conv_forward_q_small(g, p, x, w, bias, y) || explore_conv_forward_q_dsp(g, p, x, w, bias, y)) {
        return;
    }
#endif
    forward_t f = {g, x, w, bias, p->x_zero, p->w_zero, explore_requant_prepare(p)};
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            forward_position(&f, oh, ow, y + (oh * g->out_w + ow) * g->out_c);
        }
    }
}
