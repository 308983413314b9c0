/* End-of-minibatch update (design 8 and 9, Eqs. 5-8), in the order of simulator.update_quantized:
 * standardize the mean gradient per output channel, take the float step, re-derive the range of the
 * whole tensor and requantize all of it.  The step is computed twice (range, then codes) rather
 * than stored, so the update needs no memory beyond the weights. */
#include <math.h>

#include "explore_kernels.h"
#include "quantize.h"

#define STD_EPSILON 1e-8f

float explore_standardized(float grad_sum, float inv_n, float mean, float inv_sd)
{
    float g_mean = grad_sum * inv_n;
    return (g_mean - mean) * inv_sd;
}

static float inv_sigma(float m2, float count)
{
    float n = count > 1.0f ? count : 1.0f;
    float sigma = sqrtf(m2 * (1.0f / n));
    return 1.0f / (sigma + STD_EPSILON);
}

static float stepped(uint8_t q, float scale, int32_t zero, float grad_sum, float inv_n, float mean, float inv_sd,
                     float lr)
{
    float w_old = (float)((int32_t)q - zero) * scale;
    return w_old - lr * explore_standardized(grad_sum, inv_n, mean, inv_sd);
}

void explore_update_q(uint8_t *w_q, float *w_scale, int32_t *w_zero, const float *grad_w, const float *mean,
                      const float *m2, float count, float inv_n, float lr, uint32_t fan_in, uint32_t channels)
{
    float lo = 0.0f, hi = 0.0f;
    for (uint32_t pass = 0; pass < 2; pass++) {
        float new_scale = 0.0f, inv_new = 0.0f;
        int32_t new_zero = 0;
        if (pass == 1) {
            explore_choose_qparams(lo, hi, *w_scale, &new_scale, &new_zero);
            inv_new = 1.0f / new_scale;
        }
        const int32_t near_zero = explore_bounded_zero(new_zero);
        for (uint32_t c = 0; c < channels; c++) {
            float inv_sd = inv_sigma(m2[c], count);
            for (uint32_t j = 0; j < fan_in; j++) {
                uint32_t k = j * channels + c;
                float w = stepped(w_q[k], *w_scale, *w_zero, grad_w[k], inv_n, mean[c], inv_sd, lr);
                if (pass == 0) {
                    lo = (j == 0 && c == 0) || w < lo ? w : lo;
                    hi = (j == 0 && c == 0) || w > hi ? w : hi;
                } else {
                    w_q[k] = explore_quantize_inline(w, inv_new, new_zero, near_zero);
                }
            }
        }
        if (pass == 1) {
            *w_scale = new_scale;
            *w_zero = new_zero;
        }
    }
}

void explore_update_f(float *w, const float *grad_w, const float *mean, const float *m2, float count, float inv_n,
                      float lr, uint32_t fan_in, uint32_t channels)
{
    for (uint32_t c = 0; c < channels; c++) {
        float inv_sd = inv_sigma(m2[c], count);
        for (uint32_t j = 0; j < fan_in; j++) {
            uint32_t k = j * channels + c;
            w[k] = w[k] - lr * explore_standardized(grad_w[k], inv_n, mean[c], inv_sd);
        }
    }
}
