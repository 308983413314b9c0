/* explore_quantize_value's arithmetic as inline functions, for the loops that quantize many values
 * (quant.c: explore_quantize_values; update.c).  Twin of explore/fqt/quant.py quantize. */
#ifndef EXPLORE_QUANTIZE_H
#define EXPLORE_QUANTIZE_H

#include <math.h>
#include <stdint.h>
#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* q clamped to [0, 255]: one USAT where the core has it. */
static inline uint8_t explore_clamp_u8(int32_t q)
{
#if defined(__ARM_FEATURE_SAT)
    return (uint8_t)__usat(q, 8);
#else
    return (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
#endif
}

/* A zero point beyond +-2^24 decides the clamp of a value below 2^23 in magnitude by itself: clamped
   there, it leaves the result alone and the int32 sum cannot overflow. */
static inline int32_t explore_bounded_zero(int32_t zero)
{
    return zero < -16777216 ? -16777216 : (zero > 16777216 ? 16777216 : zero);
}

/* clamp(round_half_away(x inv_scale) + zero, 0, 255), NaN to 0, in integers where |x inv_scale| < 2^23:
   there v = x inv_scale has t = trunc(v) exactly as an int32, d = v - t is exact (Sterbenz), and
   (int32)(d + d) is +-1 exactly where |d| >= 1/2 (the doubling is exact, the conversion truncates):
   round_half_away(v) = t + (int32)(d + d), an integer below 2^23 in magnitude, and the float sum with
   the zero point is exact wherever it can land in [0, 255].  Elsewhere (|v| >= 2^23, inf, NaN) v is
   whole already and the float expression is kept.  near_zero = explore_bounded_zero(zero). */
static inline uint8_t explore_quantize_inline(float x, float inv_scale, int32_t zero, int32_t near_zero)
{
    float v = x * inv_scale;
    if (!(fabsf(v) < 8388608.0f)) {
        float q = (v + 0.0f) + (float)zero;
        return !(q >= 0.0f) ? 0 : (q > 255.0f ? 255 : (uint8_t)q);
    }
    int32_t t = (int32_t)v;
    float d = v - (float)t;
    return explore_clamp_u8(t + (int32_t)(d + d) + near_zero);
}

#endif /* EXPLORE_QUANTIZE_H */
