/* explore_quantize_value and explore_quantize_values (src/quant.c) against the float formula that
 * test_quant.c's golden vectors pin to the simulator (round half away from zero by truncation and
 * the fraction, plus the zero point, clamped, NaN to 0), written out here: on drawn values and on
 * the hard ones (exact .5 ties of both signs, the float just below a tie, the clamp edges, +-0,
 * denormals, 2^23 and its neighbours, huge values, infinities, NaN), drawn scales and zero points
 * (some no uint8 code, some beyond +-2^24); and explore_quantize_acc (src/error_quant.c) against its
 * formula with explore_mbqm, on accumulators of drawn spans (1 to 2^32 - 1).
 * tests/deploy/test_kernels_qemu.py runs the same file on each Cortex-M core under QEMU
 * (EXPLORE_TEST_ON_QEMU). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "explore_kernels.h"

#define DRAW_SEED 3141592653u
#include "drawn.h"

#define CASES 300u
#define VALUES 256u

static float from_bits(uint32_t bits)
{
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* The formula as the simulator states it (truncf, the fraction, +-1 away from zero). */
static uint8_t reference(float x, float inv_scale, int32_t zero)
{
    float v = x * inv_scale;
    float whole = truncf(v);
    float frac = v - whole;
    float r = fabsf(frac) >= 0.5f ? whole + (v > 0.0f ? 1.0f : -1.0f) : whole + 0.0f;
    float q = r + (float)zero;
    if (!(q >= 0.0f)) {
        return 0;
    }
    return q > 255.0f ? 255 : (uint8_t)q;
}

/* A value whose product with inv_scale lands on a hard case, or a drawn one. */
static float draw_value(float inv_scale)
{
    const float scale = 1.0f / inv_scale;
    float k = (float)((int32_t)(next() % 700u) - 350);
    switch (next() % 12u) {
    case 0: return (k + 0.5f) * scale;                                  /* near a tie */
    case 1: return nextafterf(k + 0.5f, 0.0f) * scale;                  /* just inside a tie */
    case 2: return nextafterf(k + 0.5f, 1000.0f) * scale;
    case 3: return k * scale;
    case 4: return from_bits(next() & 0x807FFFFFu);                    /* +-denormal */
    case 5: return next() % 2u ? 0.0f : -0.0f;
    case 6: return from_bits(0x4B000000u + (next() % 5u) - 2u) * (next() % 2u ? 1.0f : -1.0f) * scale;   /* ~2^23 */
    case 7: return from_bits((next() % 0x7F7FFFFFu) | (next() % 2u ? 0x80000000u : 0u));   /* any finite */
    case 8: return next() % 2u ? INFINITY : -INFINITY;
    case 9: return NAN;
    default: return ((float)(next() % 2000001u) - 1000000.0f) * 0.001f * scale;
    }
}

static float draw_inv_scale(void)
{
    float s = 1.0f + (float)(next() % 1000000u) * 1e-6f;
    for (uint32_t k = next() % 24u; k; k--) {
        s *= next() % 2u ? 2.0f : 0.5f;
    }
    return s;
}

static int32_t draw_zero(void)
{
    uint32_t kind = next() % 16u;
    if (kind == 0) {
        return (int32_t)(next() % 2u ? 16777216u + next() % 100000000u : 0u - 16777216u - next() % 100000000u);
    }
    return kind == 1 ? (int32_t)(next() % 2001u) - 1000 : (int32_t)(next() % 256u);
}

static int check_case(uint32_t index)
{
    float x[VALUES];
    uint8_t got[VALUES], want[VALUES];
    float inv_scale = draw_inv_scale();
    int32_t zero = draw_zero();
    for (uint32_t k = 0; k < VALUES; k++) {
        x[k] = draw_value(inv_scale);
        want[k] = reference(x[k], inv_scale, zero);
    }
    explore_quantize_values(x, VALUES, inv_scale, zero, got);
    for (uint32_t k = 0; k < VALUES; k++) {
        uint8_t one = explore_quantize_value(x[k], inv_scale, zero);
        if (got[k] != want[k] || one != want[k]) {
            char line[160];
            snprintf(line, sizeof line, "case %u: x %a inv_scale %a zero %ld: got %u (one %u) want %u\n",
                     (unsigned)index, (double)x[k], (double)inv_scale, (long)zero, (unsigned)got[k], (unsigned)one,
                     (unsigned)want[k]);
            say(line);
            return 1;
        }
    }
    return 0;
}

/* explore_quantize_acc's codes as the simulator's dynamic_quantize_acc states them. */
static int32_t reference_acc(const int32_t *acc, uint32_t n, uint8_t *q)
{
    int32_t lo = 0, hi = 0;
    for (uint32_t i = 0; i < n; i++) {
        lo = acc[i] < lo ? acc[i] : lo;
        hi = acc[i] > hi ? acc[i] : hi;
    }
    uint32_t span = (uint32_t)hi - (uint32_t)lo;
    if (span == 0) {
        memset(q, 0, n);
        return 0;
    }
    int32_t m0, shift;
    explore_quantize_multiplier(255.0f / (float)span, &m0, &shift);
    int32_t zero = -explore_mbqm(lo, m0, shift);
    zero = zero < 0 ? 0 : (zero > 255 ? 255 : zero);
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = explore_mbqm(acc[i], m0, shift) + zero;
        q[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
    return zero;
}

static int check_acc(uint32_t index)
{
    int32_t acc[VALUES];
    uint8_t got[VALUES], want[VALUES];
    uint32_t n = 1u + next() % VALUES, magnitude = next() % 32u;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = next();
        acc[k] = magnitude == 31u ? (int32_t)v : (int32_t)(v % (2u << magnitude)) - (int32_t)(1u << magnitude);
    }
    float scale;
    int32_t zero = explore_quantize_acc(acc, n, 0.01f, got, &scale);
    int32_t want_zero = reference_acc(acc, n, want);
    for (uint32_t k = 0; k < n; k++) {
        if (got[k] != want[k] || zero != want_zero) {
            char line[120];
            snprintf(line, sizeof line, "acc case %u: acc %ld: got %u (zero %ld) want %u (zero %ld)\n", (unsigned)index,
                     (long)acc[k], (unsigned)got[k], (long)zero, (unsigned)want[k], (long)want_zero);
            say(line);
            return 1;
        }
    }
    return 0;
}

int main(void)
{
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_init();
#endif
    uint32_t failed = 0;
    for (uint32_t k = 0; k < CASES; k++) {
        failed += (uint32_t)(check_case(k) | check_acc(k));
    }
    char line[80];
    snprintf(line, sizeof line, "quantize: %u of %u cases differ\n", (unsigned)failed, (unsigned)CASES);
    say(line);
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_exit(failed ? 1 : 0);
#endif
    return failed ? 1 : 0;
}
