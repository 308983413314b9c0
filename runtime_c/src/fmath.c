/* exp and log from + - * / only: twin of explore/fqt/fmath.py, so the loss (which sets the
 * sparse-update rate, design 10) has the same bits as the simulator's.  libm's expf/logf differ
 * from XLA's in the last bits. */
#include <math.h>
#include <string.h>

#include "explore_kernels.h"

static const float LOG2E = 0x1.715476p+0f;
static const float LN2_HI = 0x1.62e4p-1f;
static const float LN2_LO = 0x1.7f7d1cp-20f;
static const float LN2_LO16 = 0x1.7f7ep-20f;
static const float SQRT_HALF = 0x1.6a09e6p-1f;
/* 1/n! for n = 7..2 */
static const float EXP_COEFFS[6] = {0x1.a01a02p-13f, 0x1.6c16c2p-10f, 0x1.111112p-7f,
                                    0x1.555556p-5f, 0x1.555556p-3f, 0x1p-1f};
/* 1/(2n+1) for n = 6..1 */
static const float LOG_COEFFS[6] = {0x1.3b13b2p-4f, 0x1.745d18p-4f, 0x1.c71c72p-4f,
                                    0x1.24924ap-3f, 0x1.99999ap-3f, 0x1.555556p-2f};

float explore_exp_f32(float x)
{
    if (x < -87.0f) {
        return 0.0f;
    }
    float k = floorf(x * LOG2E + 0.5f);
    k = k < -126.0f ? -126.0f : (k > 127.0f ? 127.0f : k);
    float r = (x - k * LN2_HI) - k * LN2_LO;
    float p = EXP_COEFFS[0];
    for (int i = 1; i < 6; i++) {
        p = p * r + EXP_COEFFS[i];
    }
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return p * two_k;
}

float explore_log_f32(float x)
{
    int exponent = 0;
    float frac = frexpf(x, &exponent);
    if (frac < SQRT_HALF) {
        frac = frac * 2.0f;
        exponent -= 1;
    }
    float e = (float)exponent;
    float f = frac - 1.0f;
    float s = f / (f + 2.0f);
    float z = s * s;
    float r = LOG_COEFFS[0];
    for (int i = 1; i < 6; i++) {
        r = r * z + LOG_COEFFS[i];
    }
    r = r * z;
    float two_s = s * 2.0f;
    return e * LN2_HI + (e * LN2_LO16 + (two_s + two_s * r));
}
