/* Kernel benchmark for `explore bench runtime`: instructions of each integer kernel on synthetic
 * data, counted under QEMU -icount.  Every case runs at two reduction lengths; the difference of
 * instructions over the difference of MACs is the inner loop's cost per MAC, apart from the
 * per-output work (patch gathering, requantization, stores).
 *
 *   R <kernel> <in_c> <macs> <instructions>
 *   L <inner loop> <length> <macs> <instructions>   (DSP builds: the forward and weight-gradient
 *                                                   SMLAD inner loops alone)
 */
#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "backward_loops.h"
#include "dsp_loops.h"
#include "explore_kernels.h"
#include "bench_print.h"
#include "port.h"

#define SIDE 12u
#define OUT_C 16u
#define MAX_IN_C 32u

static uint8_t x[SIDE * SIDE * MAX_IN_C];
static uint8_t e[SIDE * SIDE * OUT_C];
static uint8_t w[3 * 3 * MAX_IN_C * OUT_C];
static int32_t bias[OUT_C];
static uint8_t y[SIDE * SIDE * OUT_C];
static int32_t acc[SIDE * SIDE * MAX_IN_C];
static float grad_w[3 * 3 * MAX_IN_C * OUT_C];
static float grad_b[OUT_C], mean[OUT_C], m2[OUT_C];
static uint16_t kept[OUT_C];

static void report_fields(const char *name, uint32_t in_c, uint64_t macs, uint64_t instructions)
{
    put(name);
    put(" ");
    put_u64(in_c);
    put(" ");
    put_u64(macs);
    put(" ");
    put_u64(instructions);
    put("\n");
}

static void report(const char *name, uint32_t in_c, uint64_t macs, uint64_t instructions)
{
    put("R ");
    report_fields(name, in_c, macs, instructions);
}

static void fill(void)
{
    uint32_t state = 12345u;
    for (uint32_t k = 0; k < sizeof x; k++) {
        state = state * 1103515245u + 12345u;
        x[k] = (uint8_t)(state >> 24);
    }
    for (uint32_t k = 0; k < sizeof e; k++) {
        state = state * 1103515245u + 12345u;
        e[k] = (uint8_t)(state >> 24);
    }
    for (uint32_t k = 0; k < sizeof w; k++) {
        state = state * 1103515245u + 12345u;
        w[k] = (uint8_t)(state >> 24);
    }
    for (uint32_t c = 0; c < OUT_C; c++) {
        kept[c] = (uint16_t)c;
    }
}

/* 3x3 'valid' convolution, so that every tap is real (MACs = positions * 9 * in_c * out_c). */
static explore_conv_geom_t geometry(uint32_t in_c)
{
    explore_conv_geom_t g;
    memset(&g, 0, sizeof g);
    g.in_h = g.in_w = SIDE;
    g.in_c = in_c;
    g.out_h = g.out_w = SIDE - 2u;
    g.out_c = OUT_C;
    g.k_h = g.k_w = 3;
    g.stride_h = g.stride_w = 1;
    return g;
}

static void run_case(uint32_t in_c, uint32_t num_kept)
{
    explore_conv_geom_t g = geometry(in_c);
    uint64_t macs = (uint64_t)g.out_h * g.out_w * 9u * in_c * OUT_C;
    uint64_t kept_macs = macs * num_kept / OUT_C;
    explore_conv_q_params_t p = {128, 120, 3, 1 << 30, -8, 0, 255};
    const uint16_t *list = num_kept == OUT_C ? 0 : kept;
    uint64_t start = explore_port_instructions();
    if (num_kept == OUT_C) {
        explore_conv_forward_q(&g, &p, x, w, bias, y);
        report("forward_conv", in_c, macs, explore_port_instructions() - start);
    }
    start = explore_port_instructions();
    explore_conv_input_error_q(&g, e, 131, w, 120, list, num_kept, acc);
    report(num_kept == OUT_C ? "input_error" : "input_error_sparse", in_c, kept_macs,
           explore_port_instructions() - start);
    explore_grad_sink_t sink = {grad_w, grad_b, mean, m2, 0.0f};
    start = explore_port_instructions();
    explore_conv_weight_grad_q(&g, x, 128, 0.01f, e, 131, 0.02f, list, num_kept, &sink);
    report(num_kept == OUT_C ? "weight_grad" : "weight_grad_sparse", in_c, kept_macs,
           explore_port_instructions() - start);
}

#ifdef EXPLORE_USE_DSP
static int16_t patches[3][EXPLORE_PATCH_MAX];
static int16_t column[512];   /* 10 x 20 positions */

static void loop_report(const char *name, uint32_t length, uint64_t macs, uint64_t instructions)
{
    put("L ");
    report_fields(name, length, macs, instructions);
}

/* Each SMLAD inner loop at two trip counts, REPEAT times each (the counter ticks every 40
   instructions): the difference is the loop's own cost per MAC. */
#define REPEAT 50u

static void inner_loops(void)
{
    int32_t out[8] = {0};
    for (uint32_t fan = 160; fan <= EXPLORE_PATCH_MAX; fan += 160) {
        uint64_t start = explore_port_instructions();
        for (uint32_t r = 0; r < REPEAT; r++) {
            explore_dsp_dot_three_by_two(patches[0], fan / 4u, w, OUT_C, out, 2);
        }
        loop_report("forward_conv", fan, REPEAT * 6u * fan, explore_port_instructions() - start);
    }
    for (uint32_t width = 10; width <= 20; width += 10) {     /* 10 rows of output positions */
        explore_conv_geom_t g = geometry(16);
        g.in_h = 10;
        g.in_w = width;
        g.out_h = 10;
        g.out_w = width;
        explore_grad_window_t t = {0, 10, 0, width, 0, 0};
        uint64_t start = explore_port_instructions();
        for (uint32_t r = 0; r < REPEAT; r++) {
            explore_grad_two_by_two(&g, x, column, column, &t, 0, out);
        }
        loop_report("weight_grad", width, REPEAT * 4u * 10u * width, explore_port_instructions() - start);
    }
}
#endif

int main(void)
{
    explore_port_init();
    fill();
    put("C ");
    put_u64((uint64_t)explore_port_counts_instructions());
    put("\n");
    for (uint32_t in_c = 16; in_c <= MAX_IN_C; in_c += 16) {
        run_case(in_c, OUT_C);
        run_case(in_c, 2);   /* lambda = 0.1 of 16 channels keeps max(1, floor(1.6)) = 1; 2 here */
    }
#ifdef EXPLORE_USE_DSP
    inner_loops();
#endif
    explore_port_exit(0);
}
