/* The conv / dense forward and input error kernels (conv_forward_q*.c, conv_input_error_q*.c) against
 * straightforward loops over every tap, on drawn layers: the small shapes of the generated designs
 * (1 to 9 channels, kernels 1x1 to 3x3 and 1xk, images of a few pixels, dense layers as 1x1 images,
 * depthwise layers)
 * and some larger ones, strides 1 and 2, 'same' and 'valid' padding, biases near the int32 limits,
 * shifts from -20 to +2, every clamp; the input error with
 * all output channels or a drawn kept list.  The reference loops are the semantics that test_conv.c's
 * golden vectors pin to the simulator.  tests/deploy/test_kernels_qemu.py runs the same file on each
 * Cortex-M core under QEMU (EXPLORE_TEST_ON_QEMU), where the M4 and M7 take the DSP paths. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "explore_kernels.h"

#define DRAW_SEED 1234567891u
#include "drawn.h"

#define MAX_SIDE 9u
#define MAX_C 24u
#define MAX_K 3u
#define MAX_DENSE 200u
#define CASES 500u
#define MAX_IN (MAX_SIDE * MAX_SIDE * MAX_C > MAX_DENSE ? MAX_SIDE * MAX_SIDE * MAX_C : MAX_DENSE)

static uint8_t x[MAX_IN];
static uint8_t e[MAX_SIDE * MAX_SIDE * MAX_C];
static uint8_t w[MAX_K * MAX_K * MAX_C * MAX_C > MAX_DENSE * MAX_C ? MAX_K * MAX_K * MAX_C * MAX_C : MAX_DENSE * MAX_C];
static int32_t bias[MAX_C];
static uint8_t got[MAX_SIDE * MAX_SIDE * MAX_C];
static uint8_t want[MAX_SIDE * MAX_SIDE * MAX_C];
static int32_t got_acc[MAX_IN];
static int32_t want_acc[MAX_IN];
static uint16_t kept[MAX_C];

static uint8_t requantize(const explore_conv_q_params_t *p, int32_t acc)
{
    int32_t v = (int32_t)((uint32_t)explore_mbqm(acc, p->m0, p->shift) + (uint32_t)p->y_zero);
    return (uint8_t)(v < p->low ? p->low : (v > p->high ? p->high : v));
}

/* The input of output (oh, ow) through tap (kh, kw), or -1 in the padding. */
static int32_t input_at(const explore_conv_geom_t *g, uint32_t oh, uint32_t ow, uint32_t kh, uint32_t kw)
{
    int32_t ih = explore_conv_in_row(g, oh, kh), iw = explore_conv_in_col(g, ow, kw);
    return ih >= 0 && iw >= 0 ? (ih * (int32_t)g->in_w + iw) * (int32_t)g->in_c : -1;
}

/* Flax layout: (kh, kw, in, out), or (kh, kw, 1, C) for a depthwise layer. */
static uint32_t weight_index(const explore_conv_geom_t *g, uint32_t kh, uint32_t kw, uint32_t ci, uint32_t c)
{
    return g->depthwise ? (kh * g->k_w + kw) * g->out_c + c : ((kh * g->k_w + kw) * g->in_c + ci) * g->out_c + c;
}

static void reference_forward(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, uint8_t *y)
{
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->out_c; c++) {
                uint32_t acc = 0;   /* the simulator's int32 sum wraps */
                for (uint32_t kh = 0; kh < g->k_h; kh++) {
                    for (uint32_t kw = 0; kw < g->k_w; kw++) {
                        int32_t at = input_at(g, oh, ow, kh, kw);
                        for (uint32_t ci = 0; at >= 0 && ci < g->in_c; ci++) {
                            if (g->depthwise && ci != c) {
                                continue;
                            }
                            int32_t wv = w[weight_index(g, kh, kw, ci, c)];
                            acc += (uint32_t)(((int32_t)x[(uint32_t)at + ci] - p->x_zero) * (wv - p->w_zero));
                        }
                    }
                }
                y[(oh * g->out_w + ow) * g->out_c + c] = requantize(p, (int32_t)(acc + (uint32_t)bias[c]));
            }
        }
    }
}

static void reference_input_error(const explore_conv_geom_t *g, int32_t e_zero, int32_t w_zero, const uint16_t *keep,
                                  uint32_t num_kept, int32_t *acc)
{
    uint32_t n = g->in_h * g->in_w * g->in_c;
    for (uint32_t k = 0; k < n; k++) {
        acc[k] = 0;
    }
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t kh = 0; kh < g->k_h; kh++) {
                for (uint32_t kw = 0; kw < g->k_w; kw++) {
                    int32_t at = input_at(g, oh, ow, kh, kw);
                    for (uint32_t ci = 0; at >= 0 && ci < g->in_c; ci++) {
                        uint32_t sum = (uint32_t)acc[(uint32_t)at + ci];
                        for (uint32_t k = 0; k < num_kept; k++) {
                            uint32_t c = keep ? keep[k] : k;
                            if (g->depthwise && ci != c) {
                                continue;
                            }
                            int32_t ev = (int32_t)e[(oh * g->out_w + ow) * g->out_c + c] - e_zero;
                            int32_t wv = (int32_t)w[weight_index(g, kh, kw, ci, c)] - w_zero;
                            sum += (uint32_t)(ev * wv);
                        }
                        acc[(uint32_t)at + ci] = (int32_t)sum;
                    }
                }
            }
        }
    }
}

/* One side: input n, kernel k, stride s, 'same' (XLA: the smaller half first) or 'valid'. */
static void draw_side(uint32_t *in, uint32_t *k, uint32_t *stride, uint32_t *pad, uint32_t *out)
{
    *in = between(1u, MAX_SIDE);
    *k = between(1u, MAX_K);
    *stride = next() % 3u == 0 ? 2u : 1u;
    if (*k > *in || next() % 2u) {   /* same */
        *out = (*in + *stride - 1u) / *stride;
        int32_t total = (int32_t)((*out - 1u) * *stride + *k) - (int32_t)*in;
        *pad = total > 0 ? (uint32_t)total / 2u : 0u;
    } else {   /* valid */
        *out = (*in - *k) / *stride + 1u;
        *pad = 0;
    }
}

static explore_conv_geom_t draw_geom(void)
{
    explore_conv_geom_t g;
    memset(&g, 0, sizeof g);
    uint32_t kind = next() % 8u;
    if (kind == 0) {   /* dense: a 1x1 conv over a 1x1 image */
        g.in_h = g.in_w = g.out_h = g.out_w = g.k_h = g.k_w = g.stride_h = g.stride_w = 1u;
        g.in_c = between(1u, MAX_DENSE);
        g.out_c = between(1u, 16u);
        return g;
    }
    draw_side(&g.in_h, &g.k_h, &g.stride_h, &g.pad_top, &g.out_h);
    draw_side(&g.in_w, &g.k_w, &g.stride_w, &g.pad_left, &g.out_w);
    if (kind == 1) {   /* a 1-D layer: 1 x k */
        g.in_h = g.out_h = g.k_h = g.stride_h = 1u;
        g.pad_top = 0;
    }
    g.in_c = kind == 2 ? between(1u, MAX_C) : between(1u, 9u);
    g.out_c = kind == 3 ? between(1u, MAX_C) : between(1u, 9u);
    if (kind == 4) {   /* depthwise: as many outputs as inputs */
        g.depthwise = 1;
        g.out_c = g.in_c = between(1u, 18u);
    }
    return g;
}

/* A zero point: a uint8 code, the only kind a bundle or the runtime's dynamic quantization makes (the
   DSP paths rely on it: a padding tap is the byte x_zero). */
static int32_t draw_zero(void)
{
    return (int32_t)between(0u, 255u);
}

static explore_conv_q_params_t draw_params(void)
{
    explore_conv_q_params_t p;
    p.x_zero = draw_zero();
    p.w_zero = draw_zero();
    p.y_zero = (int32_t)between(0u, 255u);
    p.m0 = (int32_t)between(1u << 30, 2147483647u);
    p.shift = (int32_t)between(0u, 22u) - 20;
    p.low = (uint8_t)between(0u, 60u);
    p.high = (uint8_t)between(180u, 255u);
    if (next() % 3u == 0) {   /* no clamp but the codes' (ReLU with zero point 0, no activation) */
        p.low = 0;
        p.high = 255;
    }
    return p;
}

static void fill(const explore_conv_geom_t *g)
{
    for (uint32_t k = 0; k < g->in_h * g->in_w * g->in_c; k++) {
        x[k] = (uint8_t)next();
    }
    for (uint32_t k = 0; k < g->out_h * g->out_w * g->out_c; k++) {
        e[k] = (uint8_t)next();
    }
    for (uint32_t k = 0; k < g->k_h * g->k_w * g->in_c * g->out_c; k++) {
        w[k] = (uint8_t)next();
    }
    for (uint32_t c = 0; c < g->out_c; c++) {
        /* some biases near the int32 limits, where the add must wrap */
        bias[c] = next() % 8u == 0 ? (int32_t)(2147483647u - next() % 1000000u) : (int32_t)(next() % 200001u) - 100000;
    }
}

static void describe(const char *what, uint32_t index, const explore_conv_geom_t *g, int32_t x_zero, int32_t w_zero,
                     uint32_t element, long got_v, long want_v)
{
    char line[240];
    snprintf(line, sizeof line,
             "%s case %u: in %ux%ux%u out %ux%ux%u k %ux%u stride %ux%u pad %u,%u zero points %ld %ld: element %u "
             "got %ld want %ld\n",
             what, (unsigned)index, (unsigned)g->in_h, (unsigned)g->in_w, (unsigned)g->in_c, (unsigned)g->out_h,
             (unsigned)g->out_w, (unsigned)g->out_c, (unsigned)g->k_h, (unsigned)g->k_w, (unsigned)g->stride_h,
             (unsigned)g->stride_w, (unsigned)g->pad_top, (unsigned)g->pad_left, (long)x_zero, (long)w_zero,
             (unsigned)element, got_v, want_v);
    say(line);
}

static int check_forward(uint32_t index, const explore_conv_geom_t *g)
{
    explore_conv_q_params_t p = draw_params();
    uint32_t n = g->out_h * g->out_w * g->out_c;
    reference_forward(g, &p, want);
    explore_conv_forward_q(g, &p, x, w, bias, got);
    for (uint32_t k = 0; k < n; k++) {
        if (got[k] != want[k]) {
            describe("forward", index, g, p.x_zero, p.w_zero, k, got[k], want[k]);
            return 1;
        }
    }
    return 0;
}

static int check_input_error(uint32_t index, const explore_conv_geom_t *g)
{
    int32_t e_zero = draw_zero(), w_zero = draw_zero();
    const uint16_t *keep = NULL;
    uint32_t num_kept = g->out_c;
    if (next() % 2u) {   /* a kept list: each channel with probability 1/2, at least one */
        num_kept = 0;
        for (uint32_t c = 0; c < g->out_c; c++) {
            if (next() % 2u || (c + 1u == g->out_c && num_kept == 0)) {
                kept[num_kept++] = (uint16_t)c;
            }
        }
        keep = kept;
    }
    uint32_t n = g->in_h * g->in_w * g->in_c;
    reference_input_error(g, e_zero, w_zero, keep, num_kept, want_acc);
    explore_conv_input_error_q(g, e, e_zero, w, w_zero, keep, num_kept, got_acc);
    for (uint32_t k = 0; k < n; k++) {
        if (got_acc[k] != want_acc[k]) {
            describe("input error", index, g, e_zero, w_zero, k, got_acc[k], want_acc[k]);
            return 1;
        }
    }
    return 0;
}

int main(void)
{
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_init();
#endif
    uint32_t failed = 0;
    for (uint32_t k = 0; k < CASES; k++) {
        explore_conv_geom_t g = draw_geom();
        fill(&g);
        failed += (uint32_t)(check_forward(k, &g) | check_input_error(k, &g));
    }
    char line[80];
    snprintf(line, sizeof line, "conv: %u of %u layers differ\n", (unsigned)failed, (unsigned)CASES);
    say(line);
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_exit(failed ? 1 : 0);
#endif
    return failed ? 1 : 0;
}
