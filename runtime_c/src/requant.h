/* Requantization of an int32 accumulator to a uint8 output (design 2), inline, with the layer's
 * parameters prepared once instead of re-derived per output: the same integers as
 * explore_mbqm(acc, m0, shift) + y_zero clamped to [low, high].
 *
 * Why the short form is exact: gemmlowp's SaturatingRoundingDoublingHighMul divides (a*b + nudge)
 * by 2^31 truncating toward zero, nudge = 2^30 for a*b >= 0 and 1 - 2^30 below.  For a*b < 0 the
 * truncation is a ceiling, (n + 2^31 - 1) >> 31 with n = a*b + 1 - 2^30, which is (a*b + 2^30) >> 31:
 * one expression, an arithmetic shift, serves both signs.  Its only saturating input, a = b =
 * INT32_MIN, cannot occur: explore_quantize_multiplier never returns m0 = INT32_MIN. */
#ifndef EXPLORE_REQUANT_H
#define EXPLORE_REQUANT_H

#include <stdint.h>

#include "explore_kernels.h"

typedef struct {
    int32_t m0;
    uint32_t left;        /* shift > 0: left shift with saturation */
    int32_t limit;        /* |value| bound that the left shift keeps in range */
    uint32_t right;       /* shift < 0: rounding right shift */
    int32_t mask;         /* (1 << right) - 1 */
    int32_t y_zero, low, high;
    int32_t all_zero;     /* left >= 32: the shifted value is 0 */
} explore_requant_t;

/* The fixed-point multiply alone (explore_mbqm(acc, m0, shift)): y_zero 0, no clamp. */
static inline explore_requant_t explore_scale_prepare(int32_t m0, int32_t shift)
{
    explore_requant_t r;
    r.m0 = m0;
    r.left = shift > 0 ? (uint32_t)shift : 0u;
    r.right = shift < 0 ? (uint32_t)-shift : 0u;
    r.all_zero = r.left >= 32u;
    r.limit = r.left >= 31u ? 0 : (int32_t)(2147483647u >> r.left);
    r.mask = r.right >= 32u ? -1 : (int32_t)((1u << r.right) - 1u);
    r.y_zero = 0;
    r.low = 0;
    r.high = 0;
    return r;
}

static inline explore_requant_t explore_requant_prepare(const explore_conv_q_params_t *p)
{
    explore_requant_t r = explore_scale_prepare(p->m0, p->shift);
    r.y_zero = p->y_zero;
    r.low = p->low;
    r.high = p->high;
    return r;
}

/* explore_mbqm(acc, m0, shift) with the prepared parameters. */
static inline int32_t explore_scale(const explore_requant_t *r, int32_t acc)
{
    int32_t x = acc;
    if (r->left) {
        int32_t clipped = x > r->limit ? r->limit : (x < -r->limit - 1 ? -r->limit - 1 : x);
        x = r->all_zero ? 0 : (int32_t)((uint32_t)clipped << r->left);
    }
    int32_t high = (int32_t)(((int64_t)x * r->m0 + (1ll << 30)) >> 31);
    if (r->right) {
        int32_t threshold = (r->mask >> 1) + (high < 0 ? 1 : 0);
        high = (high >> r->right) + ((high & r->mask) > threshold ? 1 : 0);
    }
    return high;
}

static inline uint8_t explore_requant(const explore_requant_t *r, int32_t acc)
{
    /* wraps like the simulator's int32 add (a saturating left shift can reach INT32_MAX) */
    int32_t v = (int32_t)((uint32_t)explore_scale(r, acc) + (uint32_t)r->y_zero);
    return (uint8_t)(v < r->low ? r->low : (v > r->high ? r->high : v));
}

#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
#include <arm_acle.h>

/* explore_scale for shift < 0 (left 0, right >= 1) in eight instructions on ARMv7E-M.  With
 * p = x m0 + 2^30, the multiply's result is h = floor(p / 2^31), and the rounding right shift by r
 * is floor((h + 2^(r-1) - s) / 2^r) with s = (h < 0) = (p < 0) (a remainder of 2^(r-1) + s or more
 * rounds up).  The integer added to h can be added to p as a multiple of 2^31:
 *     floor((p + (2^(r-1) - s) 2^31) / 2^(31+r)),
 * and as 31 + r >= 32 that is the high word of the 64-bit sum shifted right by r - 1.  One SMLAL
 * forms p, an ADDS/ADC pair the sum.  half = 2^(r-1), down = r - 1. */
static inline int32_t explore_scale_right(int32_t x, int32_t m0, uint32_t half, uint32_t down)
{
    uint32_t lo = 1u << 30;
    int32_t hi = 0;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(x), "r"(m0));
    uint32_t t = half - ((uint32_t)hi >> 31);
    __asm__("adds %0, %0, %2, lsl #31\n\t"
            "adc %1, %1, %2, lsr #1"
            : "+r"(lo), "+r"(hi)
            : "r"(t)
            : "cc");
    return hi >> down;
}

/* explore_srdhm(x, m0) for |x| < 2^30 in one SMMULR: SMMULR gives floor((a b + 2^31) / 2^32), and
 * with a = 2x that is floor((x m0 + 2^30) / 2^31), gemmlowp's result by the identity above.  2x
 * fits in int32 and is not INT32_MIN, so neither the doubling nor the multiply saturates.  x2 = 2x. */
static inline int32_t explore_srdhm_doubled(int32_t x2, int32_t m0)
{
    int32_t h;
    __asm__("smmulr %0, %1, %2" : "=r"(h) : "r"(x2), "r"(m0));
    return h;
}

/* explore_rounding_divide_by_pot(h, r) for r in [1, 31] and |h| < 2^30: a remainder of
 * 2^(r-1) + s or more (s = 1 for h < 0) rounds up, so the result is floor((h + 2^(r-1) - s) / 2^r),
 * and h >> 31 (arithmetic) is -s.  half = 2^(r-1). */
static inline int32_t explore_round_right(int32_t h, int32_t half, uint32_t r)
{
    return (h + half + (h >> 31)) >> r;
}

/* Whether a kernel may requantize with explore_requant_small: a right shift of 1 to 31 bits, and
   every sum below 2^30 in magnitude (terms: the kernel's bound on a sum without its bias). */
static inline int explore_requant_small_fits(const explore_requant_t *r, const int32_t *bias, uint32_t n,
                                             int32_t terms)
{
    if (r->left != 0u || r->right < 1u || r->right > 31u || terms >= (1 << 29)) {
        return 0;
    }
    const int32_t limit = (1 << 30) - terms;
    for (uint32_t k = 0; bias && k < n; k++) {
        if (bias[k] >= limit || bias[k] <= -limit) {
            return 0;
        }
    }
    return 1;
}

/* y[k] = explore_requant(r, acc[k]) for n sums below 2^30 in magnitude (explore_requant_small_fits):
   doubled, one SMMULR and a rounding shift each.  full (a constant where it is inlined): the clamp
   is [0, 255], one USAT. */
static inline __attribute__((always_inline)) void explore_requant_small(const explore_requant_t *r,
                                                                         const int32_t *acc, uint32_t n, uint8_t *y,
                                                                         int full)
{
    const int32_t m0 = r->m0, half = (int32_t)(1u << (r->right - 1u)), y_zero = r->y_zero;
    const int32_t low = r->low, high = r->high;
    const uint32_t right = r->right;
    for (uint32_t k = 0; k < n; k++) {
        int32_t h = explore_srdhm_doubled((int32_t)((uint32_t)acc[k] << 1), m0);
        int32_t v = explore_round_right(h, half, right) + y_zero;
        y[k] = (uint8_t)(full ? (int32_t)__usat(v, 8) : (v < low ? low : (v > high ? high : v)));
    }
}
#endif

#endif /* EXPLORE_REQUANT_H */
