/* Golden-vector test of quant.c and error_quant.c against explore.fqt.quant (make_golden.py). */
#include <stdint.h>

#include "explore_kernels.h"
#include "golden/golden_check.h"
#include "golden/golden_quant.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static uint32_t test_fixed_point(void)
{
    int32_t got[COUNT(srdhm_want) + COUNT(rdbp_want)];
    for (uint32_t k = 0; k < COUNT(srdhm_want); k++) {
        got[k] = explore_srdhm(srdhm_a[k], srdhm_b[k]);
    }
    check_i32("srdhm", got, srdhm_want, COUNT(srdhm_want));
    for (uint32_t k = 0; k < COUNT(rdbp_want); k++) {
        got[k] = explore_rounding_divide_by_pot(rdbp_x[k], rdbp_exp[k]);
    }
    check_i32("rounding_divide_by_pot", got, rdbp_want, COUNT(rdbp_want));
    int32_t mb[COUNT(mbqm_want)];
    for (uint32_t k = 0; k < COUNT(mbqm_want); k++) {
        mb[k] = explore_mbqm(mbqm_x[k], mbqm_m0[k], mbqm_shift[k]);
    }
    check_i32("mbqm", mb, mbqm_want, COUNT(mbqm_want));
    int32_t m0[COUNT(qm_in)], shift[COUNT(qm_in)];
    for (uint32_t k = 0; k < COUNT(qm_in); k++) {
        explore_quantize_multiplier(qm_in[k], &m0[k], &shift[k]);
    }
    check_i32("quantize_multiplier.m0", m0, qm_m0, COUNT(qm_in));
    check_i32("quantize_multiplier.shift", shift, qm_shift, COUNT(qm_in));
    return COUNT(srdhm_want) + COUNT(rdbp_want) + COUNT(mbqm_want) + 2 * COUNT(qm_in);
}

static uint32_t test_rounding_and_qparams(void)
{
    float r[COUNT(rha_in)];
    for (uint32_t k = 0; k < COUNT(rha_in); k++) {
        r[k] = explore_round_half_away(rha_in[k]);
        /* Known, unobservable divergence: for x in (-0.5, 0) C returns trunc(x) = -0.0 where the
           simulator returns whole + 0.0 = +0.0.  Every caller adds a zero point or converts to
           int32, which erases the sign of zero, so only the value is compared there. */
        if (r[k] == 0.0f && rha_want[k] == 0.0f && golden_bits(r[k]) != golden_bits(rha_want[k])) {
            printf("note: round_half_away(%a) = %a in C, %a in the simulator (sign of zero only)\n",
                   (double)rha_in[k], (double)r[k], (double)rha_want[k]);
            r[k] = rha_want[k];
        }
    }
    check_f32("round_half_away", r, rha_want, COUNT(rha_in));
    uint8_t q[COUNT(quantize_x)];
    for (uint32_t k = 0; k < COUNT(quantize_x); k++) {
        q[k] = explore_quantize_value(quantize_x[k], 1.0f / quantize_scale[k], quantize_zero[k]);
    }
    check_u8("quantize_value", q, quantize_want, COUNT(quantize_x));
    float s[COUNT(cq_min)];
    int32_t z[COUNT(cq_min)];
    for (uint32_t k = 0; k < COUNT(cq_min); k++) {
        explore_choose_qparams(cq_min[k], cq_max[k], cq_fallback[k], &s[k], &z[k]);
    }
    check_f32("choose_qparams.scale", s, cq_scale, COUNT(cq_min));
    check_i32("choose_qparams.zero", z, cq_zero, COUNT(cq_min));
    int32_t bq[COUNT(bias_b)], m0[COUNT(bias_b)], shift[COUNT(bias_b)];
    for (uint32_t k = 0; k < COUNT(bias_b); k++) {
        bq[k] = explore_bias_q(bias_b[k], bias_w_scale[k], bias_x_scale[k]);
        explore_requant_multiplier(bias_w_scale[k], bias_x_scale[k], bias_y_scale[k], &m0[k], &shift[k]);
    }
    check_i32("bias_q", bq, bias_want_q, COUNT(bias_b));
    check_i32("requant_multiplier.m0", m0, bias_want_m0, COUNT(bias_b));
    check_i32("requant_multiplier.shift", shift, bias_want_shift, COUNT(bias_b));
    return COUNT(rha_in) + COUNT(quantize_x) + 2 * COUNT(cq_min) + 3 * COUNT(bias_b);
}

static uint32_t test_dynamic(void)
{
    uint8_t q[COUNT(dqa_want_q) + COUNT(dqf_want_q)];
    float scale[COUNT(dqa_want_scale) + COUNT(dqf_want_scale)];
    int32_t zero[COUNT(dqa_want_zero) + COUNT(dqf_want_zero)];
    for (uint32_t r = 0; r < dqa_rows; r++) {
        zero[r] = explore_quantize_acc(&dqa_acc[r * dqa_cols], dqa_cols, dqa_acc_scale[r], &q[r * dqa_cols],
                                       &scale[r]);
    }
    check_u8("quantize_acc.q", q, dqa_want_q, dqa_rows * dqa_cols);
    check_f32("quantize_acc.scale", scale, dqa_want_scale, dqa_rows);
    check_i32("quantize_acc.zero", zero, dqa_want_zero, dqa_rows);
    for (uint32_t r = 0; r < dqf_rows; r++) {
        zero[r] = explore_quantize_float(&dqf_x[r * dqf_cols], dqf_cols, &q[r * dqf_cols], &scale[r]);
    }
    check_u8("quantize_float.q", q, dqf_want_q, dqf_rows * dqf_cols);
    check_f32("quantize_float.scale", scale, dqf_want_scale, dqf_rows);
    check_i32("quantize_float.zero", zero, dqf_want_zero, dqf_rows);
    return dqa_rows * (dqa_cols + 2) + dqf_rows * (dqf_cols + 2);
}

static uint32_t test_activation(void)
{
    uint32_t n = COUNT(act_kind);
    int32_t low[COUNT(act_kind)], high[COUNT(act_kind)], pass_low[COUNT(act_kind)], pass_high[COUNT(act_kind)];
    for (uint32_t k = 0; k < n; k++) {
        uint8_t lo, hi;
        int16_t plo, phi;
        explore_activation_range(act_kind[k], act_scale[k], act_zero[k], &lo, &hi);
        explore_gradient_window(act_kind[k], act_scale[k], act_zero[k], &plo, &phi);
        low[k] = lo;
        high[k] = hi;
        pass_low[k] = plo;
        pass_high[k] = phi;
    }
    check_i32("activation_range.low", low, act_want_low, n);
    check_i32("activation_range.high", high, act_want_high, n);
    check_i32("gradient_window.low", pass_low, act_want_pass_low, n);
    check_i32("gradient_window.high", pass_high, act_want_pass_high, n);
    return 4 * n;
}

int main(void)
{
    uint32_t checked = test_fixed_point();
    checked += test_rounding_and_qparams();
    checked += test_dynamic();
    checked += test_activation();
    return golden_finish("test_quant", checked);
}
