/* The quantized residual add (src/add.c) against TFLite's formula written with explore_mbqm, whose
 * semantics test_pool_add.c's golden vectors pin to the simulator, on drawn parameters: multipliers
 * prepared from drawn scales as the bundle writer does (one input's multiplier exactly 1/2, shift 0;
 * equal scales: both), raw multipliers with every shift from -31 to 0 (and some outside the fast
 * path, and some zero points that are no uint8 code), every activation clamp.
 * tests/deploy/test_kernels_qemu.py runs the same file on each Cortex-M core under QEMU
 * (EXPLORE_TEST_ON_QEMU), where the M4 and M7 take the DSP path. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "explore_kernels.h"

#define DRAW_SEED 2463534242u
#include "drawn.h"

#define CASES 400u
#define MAX_N 300u

static uint8_t a[MAX_N], b[MAX_N], got[MAX_N], want[MAX_N];

static void reference(const explore_add_q_params_t *p, uint32_t n, uint8_t *y)
{
    for (uint32_t i = 0; i < n; i++) {
        int32_t xa = (int32_t)((uint32_t)((int32_t)a[i] - p->a_zero) << 20);
        int32_t xb = (int32_t)((uint32_t)((int32_t)b[i] - p->b_zero) << 20);
        uint32_t sum = (uint32_t)explore_mbqm(xa, p->m_a, p->shift_a) + (uint32_t)explore_mbqm(xb, p->m_b, p->shift_b);
        int32_t total = (int32_t)sum;   /* the simulator's int32 add wraps */
        int32_t v = (int32_t)((uint32_t)explore_mbqm(total, p->m_out, p->shift_out) + (uint32_t)p->y_zero);
        y[i] = (uint8_t)(v < p->low ? p->low : (v > p->high ? p->high : v));
    }
}

/* A scale between 2^-16 and 2 with a random mantissa. */
static float draw_scale(void)
{
    float s = 1.0f + (float)(next() % 1000000u) * 1e-6f;
    for (uint32_t k = between(0u, 16u); k; k--) {
        s *= 0.5f;
    }
    return s;
}

/* TFLite's ADD preparation (explore.fqt.kernels.add_multipliers), in float32. */
static void prepared_multipliers(explore_add_q_params_t *p)
{
    float sa = draw_scale(), sb = next() % 5u == 0 ? sa : draw_scale(), sy = draw_scale();
    float twice_max = 2.0f * (sa > sb ? sa : sb);
    explore_quantize_multiplier(sa / twice_max, &p->m_a, &p->shift_a);
    explore_quantize_multiplier(sb / twice_max, &p->m_b, &p->shift_b);
    explore_quantize_multiplier(twice_max / (1048576.0f * sy), &p->m_out, &p->shift_out);
}

/* Any multiplier explore_quantize_multiplier can return: m0 of either sign (its overflow case is
   negative) but never INT32_MIN (requant.h relies on that), shifts mostly in [-31, 0]. */
static void raw_multiplier(int32_t *m0, int32_t *shift)
{
    uint32_t kind = next() % 8u;
    *m0 = kind == 0 ? -2147483647 : (kind == 1 ? -(int32_t)between(0u, 1u << 30) : (int32_t)(next() >> 1));
    *shift = next() % 10u == 0 ? (int32_t)between(0u, 40u) - 8 : -(int32_t)between(0u, 31u);
    if (kind >= 5) {   /* 1/2 with a shift that cuts at the inputs' 2^20: exact ties, both signs */
        *m0 = (int32_t)(1u << 30);
        *shift = -(int32_t)between(17u, 22u);
    }
}

static int32_t draw_zero(void)
{
    return next() % 16u == 0 ? (int32_t)between(0u, 600u) - 300 : (int32_t)between(0u, 255u);
}

static explore_add_q_params_t draw_params(void)
{
    explore_add_q_params_t p;
    p.a_zero = draw_zero();
    p.b_zero = draw_zero();
    p.y_zero = (int32_t)between(0u, 255u);
    if (next() % 2u) {
        prepared_multipliers(&p);
    } else {
        raw_multiplier(&p.m_a, &p.shift_a);
        raw_multiplier(&p.m_b, &p.shift_b);
        raw_multiplier(&p.m_out, &p.shift_out);
    }
    uint32_t clamp = next() % 3u;   /* none, relu, relu6-like */
    p.low = (uint8_t)(clamp == 0 ? 0u : (uint32_t)p.y_zero);
    p.high = (uint8_t)(clamp == 2 ? between((uint32_t)p.low, 255u) : 255u);
    return p;
}

static int check_case(uint32_t index)
{
    explore_add_q_params_t p = draw_params();
    uint32_t n = between(1u, MAX_N);
    for (uint32_t i = 0; i < n; i++) {
        a[i] = (uint8_t)next();
        b[i] = (uint8_t)next();
    }
    a[0] = 0;   /* the extremes of the codes */
    b[n - 1] = 255;
    reference(&p, n, want);
    explore_add_forward_q(&p, a, b, n, got);
    for (uint32_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            char line[200];
            snprintf(line, sizeof line,
                     "case %u: zeros %d %d %d m %d %d %d shifts %d %d %d clamp %u-%u: element %u got %u want %u\n",
                     (unsigned)index, (int)p.a_zero, (int)p.b_zero, (int)p.y_zero, (int)p.m_a, (int)p.m_b,
                     (int)p.m_out, (int)p.shift_a, (int)p.shift_b, (int)p.shift_out, (unsigned)p.low,
                     (unsigned)p.high, (unsigned)i, (unsigned)got[i], (unsigned)want[i]);
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
        failed += (uint32_t)check_case(k);
    }
    char line[80];
    snprintf(line, sizeof line, "add: %u of %u cases differ\n", (unsigned)failed, (unsigned)CASES);
    say(line);
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_exit(failed ? 1 : 0);
#endif
    return failed ? 1 : 0;
}
