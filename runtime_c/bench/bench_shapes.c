/* Kernel benchmark for `explore bench kernels`: instructions of each integer kernel, whole kernel,
 * on fixed layer shapes with synthetic data, counted under QEMU -icount.  Padding taps count as
 * MACs, so a kernel that skips them is not credited for work it did not do.
 *
 *   S <kernel> <shape> <macs> <instructions>
 *
 * Only the public kernel API (explore_kernels.h) is used, so the same file measures an older
 * runtime's kernels for a before/after comparison in one run. */
#include <stdint.h>
#include <string.h>

#include "explore_kernels.h"
#include "bench_print.h"
#include "port.h"

typedef struct {
    const char *name;
    uint32_t h, w, in_c, out_c, k_h, k_w;
    uint8_t depthwise;
} shape_t;

/* 'same' padding, stride 1; a dense layer is a 1x1 conv over a 1x1 image. */
static const shape_t SHAPES[] = {
    {"conv_12x12x16_o16_k3", 12, 12, 16, 16, 3, 3, 0},
    {"conv_12x12x32_o16_k3", 12, 12, 32, 16, 3, 3, 0},
    {"conv_1x40x16_o32_k5", 1, 40, 16, 32, 1, 5, 0},
    {"dw_12x12x32_k3", 12, 12, 32, 32, 3, 3, 1},
    {"conv_8x8x64_o16_k3", 8, 8, 64, 16, 3, 3, 0},
    {"pw_12x12x32_o32", 12, 12, 32, 32, 1, 1, 0},
    {"dense_256_o32", 1, 1, 256, 32, 1, 1, 0},
};

#define MAX_IN 4608u      /* 12 x 12 x 32 */
#define MAX_OUT 4608u     /* 12 x 12 x 32 */
#define MAX_WEIGHTS 9216u /* 3 x 3 x 64 x 16 */
#define MAX_OUT_C 32u

static uint8_t x[MAX_IN];
static uint8_t e[MAX_OUT];
static uint8_t wq[MAX_WEIGHTS];
static int32_t bias[MAX_OUT_C];
static uint8_t y[MAX_OUT];
static int32_t acc[MAX_IN];
static float grad_w[MAX_WEIGHTS];
static float grad_b[MAX_OUT_C], mean[MAX_OUT_C], m2[MAX_OUT_C];

static void report(const char *kernel, const char *shape, uint64_t macs, uint64_t instructions)
{
    put("S ");
    put(kernel);
    put(" ");
    put(shape);
    put(" ");
    put_u64(macs);
    put(" ");
    put_u64(instructions);
    put("\n");
}

static void fill_bytes(uint8_t *out, uint32_t n, uint32_t *state)
{
    for (uint32_t k = 0; k < n; k++) {
        *state = *state * 1103515245u + 12345u;
        out[k] = (uint8_t)(*state >> 24);
    }
}

static void fill(void)
{
    uint32_t state = 12345u;
    fill_bytes(x, sizeof x, &state);
    fill_bytes(e, sizeof e, &state);
    fill_bytes(wq, sizeof wq, &state);
    for (uint32_t c = 0; c < MAX_OUT_C; c++) {
        state = state * 1103515245u + 12345u;
        bias[c] = (int32_t)(state >> 20) - 2048;
    }
}

static explore_conv_geom_t geometry(const shape_t *s)
{
    explore_conv_geom_t g;
    memset(&g, 0, sizeof g);
    g.in_h = g.out_h = s->h;
    g.in_w = g.out_w = s->w;
    g.in_c = s->in_c;
    g.out_c = s->out_c;
    g.k_h = s->k_h;
    g.k_w = s->k_w;
    g.stride_h = g.stride_w = 1;
    g.pad_top = (s->k_h - 1u) / 2u;
    g.pad_left = (s->k_w - 1u) / 2u;
    g.depthwise = s->depthwise;
    return g;
}

static uint64_t macs_of(const shape_t *s)
{
    uint64_t per_output = (uint64_t)s->k_h * s->k_w * (s->depthwise ? 1u : s->in_c);
    return (uint64_t)s->h * s->w * s->out_c * per_output;
}

static void run_shape(const shape_t *s)
{
    explore_conv_geom_t g = geometry(s);
    uint64_t macs = macs_of(s);
    explore_conv_q_params_t p = {128, 120, 3, 1 << 30, -8, 0, 255};
    uint64_t start = explore_port_instructions();
    explore_conv_forward_q(&g, &p, x, wq, bias, y);
    report("forward", s->name, macs, explore_port_instructions() - start);

    start = explore_port_instructions();
    explore_conv_input_error_q(&g, e, 131, wq, 120, 0, s->out_c, acc);
    report("input_error", s->name, macs, explore_port_instructions() - start);

    memset(grad_w, 0, sizeof grad_w);
    explore_grad_sink_t sink = {grad_w, grad_b, mean, m2, 0.0f};
    start = explore_port_instructions();
    explore_conv_weight_grad_q(&g, x, 128, 0.01f, e, 131, 0.02f, 0, s->out_c, &sink);
    report("weight_grad", s->name, macs, explore_port_instructions() - start);
}

int main(void)
{
    explore_port_init();
    fill();
    put("C ");
    put_u64((uint64_t)explore_port_counts_instructions());
    put("\n");
    for (uint32_t k = 0; k < sizeof SHAPES / sizeof SHAPES[0]; k++) {
        run_shape(&SHAPES[k]);
    }
    explore_port_exit(0);
}
