/* The depthwise forward kernel (src/depthwise_forward_q.c) against a straightforward loop over every
 * tap, on drawn shapes: odd channel counts (tails of the 4-channel DSP groups), strides 1 and 2,
 * kernels 1x1 to 5x5 including 1xk and 3x3, padding on every side, windows with no inside tap,
 * zero points outside the uint8 codes and a kernel wider than the kernel's tables.
 * The reference loop is the semantics that test_conv.c's golden vectors pin to the simulator.
 * tests/deploy/test_kernels_qemu.py runs the same file on each Cortex-M core under QEMU
 * (EXPLORE_TEST_ON_QEMU), where the M4 and M7 take the DSP path. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "explore_kernels.h"

#define DRAW_SEED 88172645u
#include "drawn.h"

#define MAX_SIDE 9u
#define MAX_C 37u
#define MAX_K 5u
#define CASES 600u

static uint8_t x[MAX_SIDE * MAX_SIDE * MAX_C];
static uint8_t w[MAX_K * MAX_K * MAX_C];
static int32_t bias[MAX_C];
static uint8_t got[MAX_SIDE * MAX_SIDE * MAX_C];
static uint8_t want[MAX_SIDE * MAX_SIDE * MAX_C];

static uint8_t requantize(const explore_conv_q_params_t *p, int32_t acc)
{
    int32_t v = explore_mbqm(acc, p->m0, p->shift) + p->y_zero;
    return (uint8_t)(v < p->low ? p->low : (v > p->high ? p->high : v));
}

static void reference(const explore_conv_geom_t *g, const explore_conv_q_params_t *p, uint8_t *y)
{
    for (uint32_t oh = 0; oh < g->out_h; oh++) {
        for (uint32_t ow = 0; ow < g->out_w; ow++) {
            for (uint32_t c = 0; c < g->out_c; c++) {
                int32_t acc = 0;
                for (uint32_t kh = 0; kh < g->k_h; kh++) {
                    for (uint32_t kw = 0; kw < g->k_w; kw++) {
                        int32_t ih = explore_conv_in_row(g, oh, kh), iw = explore_conv_in_col(g, ow, kw);
                        if (ih >= 0 && iw >= 0) {
                            int32_t xv = x[((uint32_t)ih * g->in_w + (uint32_t)iw) * g->in_c + c];
                            acc += (xv - p->x_zero) * ((int32_t)w[(kh * g->k_w + kw) * g->out_c + c] - p->w_zero);
                        }
                    }
                }
                uint32_t sum = (uint32_t)acc + (uint32_t)bias[c];   /* the simulator's wrapping add */
                y[(oh * g->out_w + ow) * g->out_c + c] = requantize(p, (int32_t)sum);
            }
        }
    }
}

/* One side of the layer: input n, kernel k, stride s, padding before and after up to k - 1. */
static void draw_side(uint32_t *in, uint32_t *k, uint32_t *stride, uint32_t *pad, uint32_t *out)
{
    *in = between(1u, MAX_SIDE);
    *k = between(1u, MAX_K);
    *stride = between(1u, 2u);
    *pad = between(0u, *k - 1u);
    uint32_t after = between(0u, *k - 1u);
    uint32_t span = *in + *pad + after;
    if (span < *k) {
        after += *k - span;
        span = *k;
    }
    *out = (span - *k) / *stride + 1u;
    if (*out > MAX_SIDE) {
        *out = MAX_SIDE;
    }
}

static explore_conv_geom_t draw_geom(void)
{
    explore_conv_geom_t g;
    memset(&g, 0, sizeof g);
    draw_side(&g.in_h, &g.k_h, &g.stride_h, &g.pad_top, &g.out_h);
    draw_side(&g.in_w, &g.k_w, &g.stride_w, &g.pad_left, &g.out_w);
    if (next() % 4u == 0) {   /* a 1-D layer: 1 x k */
        g.in_h = g.out_h = g.k_h = g.stride_h = 1u;
        g.pad_top = 0;
    }
    uint32_t c = next() % 3u == 0 ? 4u * between(1u, 9u) : between(1u, MAX_C);
    g.in_c = g.out_c = c;
    g.depthwise = 1;
    return g;
}

/* A zero point; now and then one that is no uint8 code (the kernel's general loops). */
static int32_t draw_zero(void)
{
    return next() % 16u == 0 ? (int32_t)between(0u, 600u) - 300 : (int32_t)between(0u, 255u);
}

static explore_conv_q_params_t draw_params(void)
{
    explore_conv_q_params_t p;
    p.x_zero = draw_zero();
    p.w_zero = draw_zero();
    p.y_zero = (int32_t)between(0u, 255u);
    p.m0 = (int32_t)between(1u << 30, 2147483647u);
    p.shift = (int32_t)between(0u, 20u) - 18;
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
    for (uint32_t k = 0; k < g->k_h * g->k_w * g->out_c; k++) {
        w[k] = (uint8_t)next();
    }
    for (uint32_t c = 0; c < g->out_c; c++) {
        /* some biases near the int32 limits, where the add must wrap */
        bias[c] = next() % 8u == 0 ? (int32_t)(2147483647u - next() % 1000000u) : (int32_t)(next() % 200001u) - 100000;
    }
}

static int check_case(uint32_t index, const explore_conv_geom_t *layer)
{
    explore_conv_geom_t g = *layer;
    explore_conv_q_params_t p = draw_params();
    fill(&g);
    uint32_t n = g.out_h * g.out_w * g.out_c;
    reference(&g, &p, want);
    explore_conv_forward_q(&g, &p, x, w, bias, got);
    for (uint32_t k = 0; k < n; k++) {
        if (got[k] != want[k]) {
            char line[200];
            snprintf(line, sizeof line,
                     "case %u: in %ux%ux%u k %ux%u stride %ux%u pad %u,%u out %ux%u: element %u got %u want %u\n",
                     (unsigned)index, (unsigned)g.in_h, (unsigned)g.in_w, (unsigned)g.in_c, (unsigned)g.k_h,
                     (unsigned)g.k_w, (unsigned)g.stride_h, (unsigned)g.stride_w, (unsigned)g.pad_top,
                     (unsigned)g.pad_left, (unsigned)g.out_h, (unsigned)g.out_w, (unsigned)k, (unsigned)got[k],
                     (unsigned)want[k]);
            say(line);
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
        failed += (uint32_t)check_case(k, &g);
    }
    /* a 1-D kernel of more taps than the kernel's tables hold: in 100 x 6, k 90, pad 10 */
    explore_conv_geom_t wide = {1u, 100u, 6u, 1u, 31u, 6u, 1u, 90u, 1u, 1u, 0u, 10u, 1u};
    failed += (uint32_t)check_case(CASES, &wide);
    char line[80];
    snprintf(line, sizeof line, "depthwise forward: %u of %u layers differ\n", (unsigned)failed,
             (unsigned)CASES + 1u);
    say(line);
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_exit(failed ? 1 : 0);
#endif
    return failed ? 1 : 0;
}
