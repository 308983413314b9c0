/* Residual add: TFLite's quantized ADD (both inputs rescaled to a common fixed-point scale, summed,
 * requantized), and its float form. */
#include "explore_kernels.h"
#include "requant.h"

#define ADD_LEFT_SHIFT 20

#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
/* A right shift of 1 to 31 bits (explore_scale_right's range). */
static int shifts_right(int32_t shift)
{
    return shift < 0 && shift >= -31;
}

/* Every multiplier shifting right (the usual case): explore_scale_right, parameters in registers. */
static void add_right(const explore_add_q_params_t *p, const uint8_t *a, const uint8_t *b, uint32_t n, uint8_t *y)
{
    const int32_t m_a = p->m_a, m_b = p->m_b, m_out = p->m_out;
    const uint32_t down_a = (uint32_t)-p->shift_a - 1u, down_b = (uint32_t)-p->shift_b - 1u;
    const uint32_t down_out = (uint32_t)-p->shift_out - 1u;
    const uint32_t half_a = 1u << down_a, half_b = 1u << down_b, half_out = 1u << down_out;
    const int32_t a_zero = p->a_zero, b_zero = p->b_zero, y_zero = p->y_zero, low = p->low, high = p->high;
    for (uint32_t i = 0; i < n; i++) {
        int32_t xa = (int32_t)((uint32_t)((int32_t)a[i] - a_zero) << ADD_LEFT_SHIFT);
        int32_t xb = (int32_t)((uint32_t)((int32_t)b[i] - b_zero) << ADD_LEFT_SHIFT);
        int32_t total = explore_scale_right(xa, m_a, half_a, down_a) + explore_scale_right(xb, m_b, half_b, down_b);
        int32_t v = explore_scale_right(total, m_out, half_out, down_out) + y_zero;
        y[i] = (uint8_t)(v < low ? low : (v > high ? high : v));
    }
}
#endif

void explore_add_forward_q(const explore_add_q_params_t *p, const uint8_t *a, const uint8_t *b, uint32_t n,
                           uint8_t *y)
{
#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
    if (shifts_right(p->shift_a) && shifts_right(p->shift_b) && shifts_right(p->shift_out)) {
        add_right(p, a, b, n, y);
        return;
    }
#endif
    /* locals prepared once: the byte stores cannot alias them */
    const explore_requant_t scale_a = explore_scale_prepare(p->m_a, p->shift_a);
    const explore_requant_t scale_b = explore_scale_prepare(p->m_b, p->shift_b);
    const explore_requant_t scale_out = explore_scale_prepare(p->m_out, p->shift_out);
    const int32_t a_zero = p->a_zero, b_zero = p->b_zero, y_zero = p->y_zero, low = p->low, high = p->high;
    for (uint32_t i = 0; i < n; i++) {
        int32_t xa = (int32_t)((uint32_t)((int32_t)a[i] - a_zero) << ADD_LEFT_SHIFT);
        int32_t xb = (int32_t)((uint32_t)((int32_t)b[i] - b_zero) << ADD_LEFT_SHIFT);
        int32_t total = explore_scale(&scale_a, xa) + explore_scale(&scale_b, xb);
        int32_t v = explore_scale(&scale_out, total) + y_zero;
        y[i] = (uint8_t)(v < low ? low : (v > high ? high : v));
    }
}

static float activate(float v, uint8_t activation)
{
    if (activation == 1) {
        return v > 0.0f ? v : 0.0f;
    }
    if (activation == 2) {
        return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    }
    return v;
}

void explore_add_forward_f(const float *a, const float *b, uint32_t n, uint8_t activation, float *y)
{
    for (uint32_t i = 0; i < n; i++) {
        y[i] = activate(a[i] + b[i], activation);
    }
}
