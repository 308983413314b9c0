/* Golden-vector test of welford.c and update.c against simulator.channel_statistics,
 * standardized_gradient, update_quantized and update_float (make_golden.py).  The bias step and
 * the re-derived int32 bias / multiplier follow runtime_train.c's update_layer. */
#include <math.h>
#include <stdint.h>

#include "explore_kernels.h"
#include "golden/golden_check.h"
#include "golden/golden_update.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static uint32_t test_statistics(void)
{
    float mean[COUNT(ws_want_mean)] = {0}, m2[COUNT(ws_want_m2)] = {0};
    float count = 0.0f;
    for (uint32_t s = 0; s < ws_batch; s++) {
        for (uint32_t c = 0; c < ws_channels; c++) {
            float sm = 0.0f, sm2 = 0.0f;
            for (uint32_t j = 0; j < ws_fan; j++) {
                explore_welford_push(&sm, &sm2, (float)j, ws_g[(s * ws_fan + j) * ws_channels + c]);
            }
            explore_welford_merge(&mean[c], &m2[c], count, sm, sm2, (float)ws_fan);
        }
        count = count + (float)ws_fan;
    }
    check_f32("channel_statistics.mean", mean, ws_want_mean, ws_channels);
    check_f32("channel_statistics.m2", m2, ws_want_m2, ws_channels);
    check_one_f32("channel_statistics.count", count, ws_want_count);
    return 2 * ws_channels + 1;
}

static uint32_t test_update(void)
{
    uint32_t n = upd_fan * upd_channels;
    uint32_t checked = 0;
    for (uint32_t k = 0; k < upd_cases; k++) {
        const float *grad_w = &upd_grad_w[k * n], *grad_b = &upd_grad_b[k * upd_channels];
        const float *mean = &upd_mean[k * upd_channels], *m2 = &upd_m2[k * upd_channels];
        float inv_n = 1.0f / upd_n[k], lr = upd_lr[k];

        /* Eq. 8 element by element, with 1/(sigma + 1e-8) as update.c derives it */
        float g_hat[64];
        for (uint32_t c = 0; c < upd_channels; c++) {
            float count = upd_count[k] > 1.0f ? upd_count[k] : 1.0f;
            float inv_sd = 1.0f / (sqrtf(m2[c] * (1.0f / count)) + 1e-8f);
            for (uint32_t j = 0; j < upd_fan; j++) {
                g_hat[j * upd_channels + c] = explore_standardized(grad_w[j * upd_channels + c], inv_n, mean[c],
                                                                   inv_sd);
            }
        }
        check_f32("standardized", g_hat, &upd_want_g_hat[k * n], n);

        uint8_t w_q[64];
        float w_scale = upd_w_scale[k];
        int32_t w_zero = upd_w_zero[k];
        for (uint32_t j = 0; j < n; j++) {
            w_q[j] = upd_w_q[k * n + j];
        }
        explore_update_q(w_q, &w_scale, &w_zero, grad_w, mean, m2, upd_count[k], inv_n, lr, upd_fan, upd_channels);
        float b_f[16];
        int32_t b_q[16], m0, shift;
        for (uint32_t c = 0; c < upd_channels; c++) {
            b_f[c] = upd_b_f[k * upd_channels + c] - lr * (grad_b[c] * inv_n);
            b_q[c] = explore_bias_q(b_f[c], w_scale, upd_x_scale);
        }
        explore_requant_multiplier(w_scale, upd_x_scale, upd_y_scale, &m0, &shift);
        check_u8("update_q.w_q", w_q, &upd_want_w_q[k * n], n);
        check_one_f32("update_q.w_scale", w_scale, upd_want_w_scale[k]);
        check_one_i32("update_q.w_zero", w_zero, upd_want_w_zero[k]);
        check_f32("update_q.b_f", b_f, &upd_want_b_f[k * upd_channels], upd_channels);
        check_i32("update_q.b_q", b_q, &upd_want_b_q[k * upd_channels], upd_channels);
        check_one_i32("update_q.m0", m0, upd_want_m0[k]);
        check_one_i32("update_q.shift", shift, upd_want_shift[k]);

        float wf[64], bf[16];
        for (uint32_t j = 0; j < n; j++) {
            wf[j] = upd_wf[k * n + j];
        }
        explore_update_f(wf, grad_w, mean, m2, upd_count[k], inv_n, lr, upd_fan, upd_channels);
        for (uint32_t c = 0; c < upd_channels; c++) {
            bf[c] = upd_b_f[k * upd_channels + c] - lr * (grad_b[c] * inv_n);
        }
        check_f32("update_f.w", wf, &upd_want_wf[k * n], n);
        check_f32("update_f.b", bf, &upd_want_bf[k * upd_channels], upd_channels);
        checked += 3 * n + 3 * upd_channels + 4 + upd_channels;
    }
    return checked;
}

int main(void)
{
    uint32_t checked = test_statistics();
    checked += test_update();
    return golden_finish("test_update", checked);
}
