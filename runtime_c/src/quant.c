/* Fixed-point requantization and per-tensor quantization (design 1, 2, 9); twin of
 * explore/fqt/quant.py.  Shifts of negative values are arithmetic, as gcc and arm-none-eabi-gcc
 * implement them; wrap-around is spelled in uint32 so that no signed overflow occurs. */
#include <math.h>

#include "explore_kernels.h"
#include "quantize.h"

#define INT32_MAX_ 2147483647
#define INT32_MIN_ (-2147483647 - 1)
/* Largest float32 below 2^31: the clamp of a float bias before its int32 conversion. */
#define BIAS_LIMIT 2147483520.0f

int32_t explore_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN_ && b == INT32_MIN_) {
        return INT32_MAX_;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    /* Division truncates toward zero, as gemmlowp's does. */
    return (int32_t)((ab + nudge) / (1ll << 31));
}

int32_t explore_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    if (exponent <= 0) {
        return x;
    }
    /* exponent is at most 31; 1 << 31 wraps in the simulator's int32 arithmetic too. */
    int32_t mask = (int32_t)((1u << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t explore_mbqm(int32_t x, int32_t m0, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift < 0 ? -shift : 0;
    int32_t shifted;
    if (left >= 32) {
        shifted = 0;
    } else {
        /* Saturate instead of overflowing where TFLite's left shift would overflow. */
        int32_t limit = left >= 31 ? 0 : (INT32_MAX_ >> left);
        int32_t clipped = x > limit ? limit : (x < -limit - 1 ? -limit - 1 : x);
        shifted = (int32_t)((uint32_t)clipped << left);
    }
    return explore_rounding_divide_by_pot(explore_srdhm(shifted, m0), right);
}

void explore_quantize_multiplier(float multiplier, int32_t *m0, int32_t *shift)
{
    if (multiplier > 3.4028234663852886e38f) {
        /* The simulator converts inf * 2^24 to INT32_MAX and wraps the product with 128. */
        *m0 = (int32_t)((uint32_t)INT32_MAX_ * 128u);
        *shift = 0;
        return;
    }
    int exponent = 0;
    float frac = frexpf(multiplier, &exponent);
    if (!(multiplier > 0.0f) || exponent < -31) {
        *m0 = 0;
        *shift = 0;
        return;
    }
    /* A float32 mantissa has 24 bits, so frac * 2^24 is an exact integer. */
    *m0 = (int32_t)(frac * 16777216.0f) * 128;
    *shift = exponent;
}

/* truncf without the library call (the M4's FPU has no rounding instruction): from 2^23 up a float
   is whole, below the int32 conversion truncates.  For x in (-1, 0) this gives +0.0 where truncf
   gives -0.0; explore_round_half_away's sums below cannot tell the two apart. */
static float truncate_toward_zero(float x)
{
    return fabsf(x) < 8388608.0f ? (float)(int32_t)x : x;
}

float explore_round_half_away(float x)
{
    float whole = truncate_toward_zero(x);
    float frac = x - whole;
    if (fabsf(frac) >= 0.5f) {
        return whole + (x > 0.0f ? 1.0f : -1.0f);
    }
    return whole + 0.0f;   /* -0.0 becomes +0.0, as in the simulator */
}

uint8_t explore_quantize_value(float x, float inv_scale, int32_t zero)
{
    return explore_quantize_inline(x, inv_scale, zero, explore_bounded_zero(zero));
}

void explore_quantize_values(const float *x, uint32_t n, float inv_scale, int32_t zero, uint8_t *q)
{
    const int32_t near_zero = explore_bounded_zero(zero);
    for (uint32_t k = 0; k < n; k++) {
        q[k] = explore_quantize_inline(x[k], inv_scale, zero, near_zero);
    }
}

void explore_choose_qparams(float f_min, float f_max, float fallback, float *scale, int32_t *zero)
{
    const float inv_255 = 1.0f / 255.0f;
    f_min = f_min < 0.0f ? f_min : 0.0f;
    f_max = f_max > 0.0f ? f_max : 0.0f;
    float s = (f_max - f_min) * inv_255;
    s = s > 0.0f ? s : fallback;
    float z = explore_round_half_away(-f_min * (1.0f / s));
    *scale = s;
    *zero = z < 0.0f ? 0 : (z > 255.0f ? 255 : (int32_t)z);
}

int32_t explore_bias_q(float b_f, float w_scale, float x_scale)
{
    float acc_scale = w_scale * x_scale;
    float b = explore_round_half_away(b_f * (1.0f / acc_scale));
    b = b < -BIAS_LIMIT ? -BIAS_LIMIT : (b > BIAS_LIMIT ? BIAS_LIMIT : b);
    return (int32_t)b;
}

void explore_requant_multiplier(float w_scale, float x_scale, float y_scale, int32_t *m0, int32_t *shift)
{
    float acc_scale = w_scale * x_scale;
    explore_quantize_multiplier(acc_scale / y_scale, m0, shift);
}

void explore_activation_range(uint8_t activation, float scale, int32_t zero, uint8_t *low, uint8_t *high)
{
    /* 0 none, 1 relu, 2 relu6 (enum explore_activation of model.h) */
    if (activation == 0) {
        *low = EXPLORE_QMIN;
        *high = EXPLORE_QMAX;
        return;
    }
    int32_t top = EXPLORE_QMAX;
    if (activation == 2) {
        int32_t six = (int32_t)explore_round_half_away(6.0f * (1.0f / scale));
        top = zero + six < EXPLORE_QMAX ? zero + six : EXPLORE_QMAX;
    }
    *low = (uint8_t)(zero > EXPLORE_QMIN ? zero : EXPLORE_QMIN);
    *high = (uint8_t)top;
}

void explore_gradient_window(uint8_t activation, float scale, int32_t zero, int16_t *low, int16_t *high)
{
    if (activation == 0) {
        *low = EXPLORE_QMIN - 1;
        *high = EXPLORE_QMAX + 1;
        return;
    }
    uint8_t lo, hi;
    explore_activation_range(activation, scale, zero, &lo, &hi);
    *low = lo;
    /* Saturation at 255 outside the activation is straight-through. */
    *high = (activation == 1 || hi == EXPLORE_QMAX) ? EXPLORE_QMAX + 1 : hi;
}
