/* The inline requantization (src/requant.h) against explore_mbqm + zero point + clamp, which the
 * golden vectors of test_quant.c pin to the simulator: every accumulator, multiplier and shift
 * drawn here, edge values included, must give the same byte. */
#include <stdint.h>
#include <stdio.h>

#include "../src/requant.h"
#include "explore_kernels.h"

static uint32_t state = 2463534242u;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static uint8_t reference(const explore_conv_q_params_t *p, int32_t acc)
{
    int32_t v = explore_mbqm(acc, p->m0, p->shift) + p->y_zero;
    return (uint8_t)(v < p->low ? p->low : (v > p->high ? p->high : v));
}

static const int32_t EDGES[] = {0, 1, -1, 2, -2, 1 << 30, -(1 << 30), 2147483647, -2147483647 - 1, 12345, -12345};
#define EDGE_COUNT (sizeof EDGES / sizeof EDGES[0])

static int32_t draw(void)
{
    uint32_t kind = next() % 4u;
    if (kind == 0) {
        return EDGES[next() % EDGE_COUNT];
    }
    return kind == 1 ? (int32_t)(next() % 200001u) - 100000 : (int32_t)next();
}

static explore_conv_q_params_t draw_params(void)
{
    explore_conv_q_params_t p;
    float multiplier = (float)(next() % 1000000u + 1u) * 1e-9f * (float)(1u << (next() % 24u));
    explore_quantize_multiplier(multiplier, &p.m0, &p.shift);
    if (next() % 8u == 0) {    /* shifts outside what a layer produces, both directions */
        p.shift = (int32_t)(next() % 72u) - 31;   /* right shifts stop at 31, as quantize_multiplier's */
    }
    if (next() % 16u == 0) {
        p.m0 = next() % 2u ? 0 : -128;   /* underflow, and the wrapped overflow of an infinite multiplier */
    }
    p.x_zero = 0;
    p.w_zero = 0;
    p.y_zero = (int32_t)(next() % 256u);
    p.low = (uint8_t)(next() % 128u);
    p.high = (uint8_t)(p.low + next() % (256u - p.low));
    return p;
}

int main(void)
{
    uint32_t checked = 0, failures = 0;
    for (uint32_t layer = 0; layer < 2000; layer++) {
        explore_conv_q_params_t p = draw_params();
        explore_requant_t r = explore_requant_prepare(&p);
        for (uint32_t k = 0; k < 500; k++, checked++) {
            int32_t acc = draw();
            uint8_t want = reference(&p, acc), got = explore_requant(&r, acc);
            if (got != want && failures++ < 10) {
                printf("FAIL acc %ld m0 %ld shift %ld: got %u want %u\n", (long)acc, (long)p.m0, (long)p.shift,
                       (unsigned)got, (unsigned)want);
            }
        }
    }
    printf("requant: %lu values, %lu failures\n", (unsigned long)checked, (unsigned long)failures);
    return failures != 0;
}
