/* Golden-vector test of maxpool.c, avgpool.c and add.c against explore.fqt.kernels (maxpool_forward /
 * maxpool_backward, avgpool_forward_q, gap_forward_q, spread, add_forward_q; make_golden.py).
 * Backward errors are uint8 codes with a zero point in C and centred int32 in the simulator. */
#include <stdint.h>

#include "explore_kernels.h"
#include "golden/golden_check.h"
#include "golden/golden_pool_add.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))
#define MAX_N 256

static void centre(const uint8_t *q, int32_t zero, uint32_t n, int32_t *out)
{
    for (uint32_t k = 0; k < n; k++) {
        out[k] = (int32_t)q[k] - zero;
    }
}

static uint32_t maxpool_u8(const char *name, const explore_pool_geom_t *g, const uint8_t *x, const uint8_t *want_y,
                           const uint8_t *want_arg, const uint8_t *e, int32_t e_zero, const int32_t *want_dx)
{
    uint8_t y[MAX_N], arg[MAX_N], dx[MAX_N];
    int32_t centred[MAX_N];
    uint32_t out_n = g->out_h * g->out_w * g->c, in_n = g->in_h * g->in_w * g->c;
    explore_maxpool_forward_u8(g, x, y, arg);
    check_u8(name, y, want_y, out_n);
    check_u8(name, arg, want_arg, out_n);
    explore_maxpool_backward_u8(g, e, arg, (uint8_t)e_zero, dx);
    centre(dx, e_zero, in_n, centred);
    check_i32(name, centred, want_dx, in_n);
    return 2 * out_n + in_n;
}

int main(void)
{
    uint32_t checked = 0;
    checked += maxpool_u8("maxpool_u8 2-D", &max2d_geom, max2d_x, max2d_want_y, max2d_want_arg, max2d_e,
                          max2d_e_zero, max2d_want_dx);
    checked += maxpool_u8("maxpool_u8 1-D", &max1d_geom, max1d_x, max1d_want_y, max1d_want_arg, max1d_e,
                          max1d_e_zero, max1d_want_dx);

    float yf[MAX_N], dxf[MAX_N];
    uint8_t arg[MAX_N], y[MAX_N], dx[MAX_N];
    int32_t centred[MAX_N];
    explore_maxpool_forward_f(&maxf_geom, maxf_x, yf, arg);
    check_f32("maxpool_f.y", yf, maxf_want_y, COUNT(maxf_want_y));
    check_u8("maxpool_f.arg", arg, maxf_want_arg, COUNT(maxf_want_arg));
    explore_maxpool_backward_f(&maxf_geom, maxf_e, arg, dxf);
    check_f32("maxpool_f.dx", dxf, maxf_want_dx, COUNT(maxf_want_dx));
    checked += 2 * COUNT(maxf_want_y) + COUNT(maxf_want_dx);

    explore_avgpool_forward_u8(&avg_geom, avg_x, y);
    check_u8("avgpool_u8.y", y, avg_want_y, COUNT(avg_want_y));
    explore_avgpool_backward_u8(&avg_geom, avg_e, avg_e_zero, dx);
    centre(dx, avg_e_zero, COUNT(avg_want_dx), centred);
    check_i32("avgpool_u8.dx", centred, avg_want_dx, COUNT(avg_want_dx));
    explore_avgpool_backward_f(&avg_geom, avg_ef, avg_inv_count, dxf);
    check_f32("avgpool_f.dx", dxf, avg_want_dxf, COUNT(avg_want_dxf));
    checked += COUNT(avg_want_y) + COUNT(avg_want_dx) + COUNT(avg_want_dxf);

    explore_avgpool_forward_u8(&gap_geom, gap_x, y);
    check_u8("global_avgpool_u8.y", y, gap_want_y, COUNT(gap_want_y));
    explore_avgpool_backward_u8(&gap_geom, gap_e, gap_e_zero, dx);
    centre(dx, gap_e_zero, COUNT(gap_want_dx), centred);
    check_i32("global_avgpool_u8.dx", centred, gap_want_dx, COUNT(gap_want_dx));
    checked += COUNT(gap_want_y) + COUNT(gap_want_dx);

    const int32_t *params[2] = {add_relu_params, add_none_params};
    const uint8_t *a[2] = {add_relu_a, add_none_a}, *b[2] = {add_relu_b, add_none_b};
    const uint8_t *want[2] = {add_relu_want_y, add_none_want_y};
    const uint32_t n[2] = {add_relu_n, add_none_n};
    for (int k = 0; k < 2; k++) {
        const int32_t *q = params[k];
        explore_add_q_params_t p = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], (uint8_t)q[9],
                                    (uint8_t)q[10]};
        explore_add_forward_q(&p, a[k], b[k], n[k], y);
        check_u8(k == 0 ? "add_q (relu)" : "add_q (none)", y, want[k], n[k]);
        checked += n[k];
    }
    return golden_finish("test_pool_add", checked);
}
