/* Residual add: TFLite's quantized ADD (both inputs rescaled to a common fixed-point scale, summed,
 * requantized), and its float form. */
#include "dsp.h"
#include "explore_kernels.h"
#include "requant.h"

#define ADD_LEFT_SHIFT 20

#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
/* The usual multipliers: an input's is scale / (2 max scale) <= 1/2, so shift 0 (the larger
 * input: exactly 1/2) or a right shift; the output's (2 max scale / (2^20 output scale)) shifts
 * right by about 20.  The fast path takes shifts in [-31, 0] and zero points in [0, 255], where
 * every value is small enough for explore_srdhm_doubled and explore_round_right (requant.h):
 * |(x - zx) << 20| < 2^28, so an input's scaled value has magnitude at most 2^28 + 1 (|m0| <= 2^31),
 * the sum of two at most 2^29 + 2, and the output's scaled value less than 2^30. */
typedef struct {
    const uint8_t *x;
    int32_t zero_doubled;   /* zx << 21 */
    int32_t m0, half;
    uint32_t right;
} add_input_t;

static int fast_shift(int32_t shift)
{
    return shift <= 0 && shift >= -31;
}

static int fast_zero(int32_t zero)
{
    return zero >= 0 && zero <= 255;
}

static add_input_t add_input(const uint8_t *x, int32_t zero, int32_t m0, int32_t shift)
{
    add_input_t in = {x, (int32_t)((uint32_t)zero << (ADD_LEFT_SHIFT + 1)), m0, 0, (uint32_t)-shift};
    in.half = in.right ? (int32_t)(1u << (in.right - 1u)) : 0;
    return in;
}

/* One input's rescaled value: mbqm((x - zx) << 20, m0, shift), the multiply on the doubled value. */
EXPLORE_INLINE int32_t rescale(const add_input_t *in, uint32_t i, int rounds)
{
    int32_t h = explore_srdhm_doubled((int32_t)((uint32_t)in->x[i] << (ADD_LEFT_SHIFT + 1)) - in->zero_doubled, in->m0);
    return rounds ? explore_round_right(h, in->half, in->right) : h;
}

/* The loop, for input a rescaled with rounding or not (b always rounds; the output too, its shift
   nonzero): the flags are constants where it is called, so each call is a loop of its own. */
EXPLORE_INLINE void add_loop(const add_input_t *pa, const add_input_t *pb, const explore_add_q_params_t *p,
                             uint32_t n, uint8_t *y, int a_rounds, int b_rounds)
{
    const add_input_t a = *pa, b = *pb;   /* locals: the byte stores cannot alias them */
    const int32_t m_out = p->m_out, half_out = (int32_t)(1u << (-p->shift_out - 1)), y_zero = p->y_zero;
    const uint32_t right_out = (uint32_t)-p->shift_out;
    const int32_t low = p->low, high = p->high;
    for (uint32_t i = 0; i < n; i++) {
        int32_t total = rescale(&a, i, a_rounds) + rescale(&b, i, b_rounds);
        int32_t h = explore_srdhm_doubled((int32_t)((uint32_t)total << 1), m_out);
        int32_t v = explore_round_right(h, half_out, right_out) + y_zero;
        y[i] = (uint8_t)(v < low ? low : (v > high ? high : v));
    }
}

/* The three loops, each a function of its own so that its parameters stay in registers. */
EXPLORE_INNER_LOOP void add_both_round(const add_input_t *a, const add_input_t *b, const explore_add_q_params_t *p,
                                       uint32_t n, uint8_t *y)
{
    add_loop(a, b, p, n, y, 1, 1);
}

EXPLORE_INNER_LOOP void add_second_rounds(const add_input_t *a, const add_input_t *b, const explore_add_q_params_t *p,
                                          uint32_t n, uint8_t *y)
{
    add_loop(a, b, p, n, y, 0, 1);
}

EXPLORE_INNER_LOOP void add_none_round(const add_input_t *a, const add_input_t *b, const explore_add_q_params_t *p,
                                       uint32_t n, uint8_t *y)
{
    add_loop(a, b, p, n, y, 0, 0);
}

/* Returns 0 where the multipliers or zero points are outside the fast path. */
static int add_fast(const explore_add_q_params_t *p, const uint8_t *a, const uint8_t *b, uint32_t n, uint8_t *y)
{
    if (!fast_shift(p->shift_a) || !fast_shift(p->shift_b) || !fast_shift(p->shift_out) || p->shift_out == 0 ||
        !fast_zero(p->a_zero) || !fast_zero(p->b_zero)) {
        return 0;
    }
    add_input_t ia = add_input(a, p->a_zero, p->m_a, p->shift_a), ib = add_input(b, p->b_zero, p->m_b, p->shift_b);
    /* the sum is exact and commutes: the unshifted input goes first */
    const add_input_t *first = ia.right ? &ib : &ia, *second = ia.right ? &ia : &ib;
    if (first->right) {
        add_both_round(first, second, p, n, y);
    } else if (second->right) {
        add_second_rounds(first, second, p, n, y);
    } else {
        add_none_round(first, second, p, n, y);
    }
    return 1;
}
#endif

void explore_add_forward_q(const explore_add_q_params_t *p, const uint8_t *a, const uint8_t *b, uint32_t n,
                           uint8_t *y)
{
#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
    if (add_fast(p, a, b, n, y)) {
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
        /* wraps like the simulator's int32 sum (left-shifting multipliers can saturate both) */
        int32_t total = (int32_t)((uint32_t)explore_scale(&scale_a, xa) + (uint32_t)explore_scale(&scale_b, xb));
        int32_t v = (int32_t)((uint32_t)explore_scale(&scale_out, total) + (uint32_t)y_zero);
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
