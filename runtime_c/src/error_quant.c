/* Per-sample dynamic quantization of error tensors (design 4 and 5); twin of
 * quant.dynamic_quantize_acc / dynamic_quantize_float. */
#include "dsp.h"
#include "explore_kernels.h"
#include "requant.h"

#ifdef EXPLORE_USE_DSP
EXPLORE_INNER_LOOP void requantize_small(const explore_requant_t *r, const int32_t *acc, uint32_t n, uint8_t *q)
{
    explore_requant_small(r, acc, n, q, 1);
}
#endif

/* q[i] = clamp(mbqm(acc[i], m0, shift) + zero, 0, 255) with the prepared parameters of requant.h (its
   exact twin), on DSP cores by SMMULR where the accumulators, within [lo, hi], allow. */
static void requantize(const int32_t *acc, uint32_t n, int32_t m0, int32_t shift, int32_t zero, int32_t lo,
                       int32_t hi, uint8_t *q)
{
    explore_requant_t r = explore_scale_prepare(m0, shift);
    r.y_zero = zero;
    r.low = EXPLORE_QMIN;
    r.high = EXPLORE_QMAX;
#ifdef EXPLORE_USE_DSP
    const int32_t limit = 1 << 30;
    if (lo > -limit && hi < limit && explore_requant_small_fits(&r, NULL, 0u, 0)) {
        requantize_small(&r, acc, n, q);
        return;
    }
#else
    (void)lo;
    (void)hi;
#endif
    for (uint32_t i = 0; i < n; i++) {
        q[i] = explore_requant(&r, acc[i]);
    }
}

int32_t explore_quantize_acc(const int32_t *acc, uint32_t n, float acc_scale, uint8_t *q, float *scale)
{
    const float inv_255 = 1.0f / 255.0f;
    int32_t lo = 0, hi = 0;
    for (uint32_t i = 0; i < n; i++) {
        lo = acc[i] < lo ? acc[i] : lo;
        hi = acc[i] > hi ? acc[i] : hi;
    }
    /* lo <= 0 <= hi, so the span fits in uint32 even where it overflows int32. */
    uint32_t span = (uint32_t)hi - (uint32_t)lo;
    if (span == 0) {
        for (uint32_t i = 0; i < n; i++) {
            q[i] = 0;
        }
        *scale = acc_scale;
        return 0;
    }
    int32_t m0, shift;
    explore_quantize_multiplier(255.0f / (float)span, &m0, &shift);
    int32_t zero = -explore_mbqm(lo, m0, shift);
    zero = zero < EXPLORE_QMIN ? EXPLORE_QMIN : (zero > EXPLORE_QMAX ? EXPLORE_QMAX : zero);
    requantize(acc, n, m0, shift, zero, lo, hi, q);
    *scale = acc_scale * ((float)span * inv_255);
    return zero;
}

int32_t explore_quantize_float(const float *x, uint32_t n, uint8_t *q, float *scale)
{
    float lo = x[0], hi = x[0];
    for (uint32_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    int32_t zero;
    explore_choose_qparams(lo, hi, 1.0f, scale, &zero);
    explore_quantize_values(x, n, 1.0f / *scale, zero, q);
    return zero;
}
