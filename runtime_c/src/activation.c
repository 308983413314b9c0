/* Activation masks of the backward pass (design 2: ReLU/ReLU6 are the clamp of the output codes;
 * the error passes where the output code lies strictly inside the gradient window). */
#include "explore_kernels.h"

void explore_mask_u8(uint8_t *e, int32_t e_zero, const uint8_t *y, uint32_t n, int16_t pass_low, int16_t pass_high)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!((int16_t)y[i] > pass_low && (int16_t)y[i] < pass_high)) {
            e[i] = (uint8_t)e_zero;
        }
    }
}

void explore_mask_f(float *e, const float *y, uint32_t n, uint8_t activation)
{
    for (uint32_t i = 0; i < n; i++) {
        int passes = activation == 1 ? y[i] > 0.0f : (activation == 2 ? (y[i] > 0.0f && y[i] < 6.0f) : 1);
        if (!passes) {
            e[i] = 0.0f;
        }
    }
}
