/* Checks a port: output, exit status, the instruction counter against a loop of known
 * length, the stack high-water mark, and that libm links.  Expected output (host: counts 0):
 *
 *   explore port selftest
 *   counts_instructions=1
 *   loop_instructions_expected=600000
 *   loop_instructions=<measured>
 *   stack_checksum=<number>
 *   stack_high_water=<bytes>
 *   libm=ok
 *
 * and exit status 3, chosen so that a program that never reached the end (0 or 1) cannot
 * pass for one that did.  Built with EXPLORE_SELFTEST_FAULT defined (Cortex-M only), it
 * executes an undefined instruction after the first line instead. */
#include "port.h"

#include <math.h>
#include <stdint.h>

#define LOOP_ITERATIONS 100000u
#define LOOP_INSTRUCTIONS_PER_ITERATION 6u

static void put(const char *text)
{
    uint32_t n = 0;
    while (text[n] != '\0') {
        ++n;
    }
    explore_port_write(text, n);
}

static void put_u64(const char *key, uint64_t value)
{
    char digits[21];
    uint32_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0 && i > 0);
    put(key);
    explore_port_write(digits + i, (uint32_t)(sizeof digits - i));
    put("\n");
}

/* Exactly LOOP_INSTRUCTIONS_PER_ITERATION instructions per iteration, in assembly so the
 * compiler can neither unroll nor delete it. */
static void __attribute__((noinline)) known_loop(uint32_t n)
{
#if defined(__arm__) || defined(__thumb__)
    /* GCC hands Thumb-1 inline assembly to gas in divided syntax; `subs` needs unified. */
    __asm__ __volatile__(
        ".syntax unified\n"
        "1:\n\t"
        "nop\n\t"
        "nop\n\t"
        "nop\n\t"
        "nop\n\t"
        "subs %0, %0, #1\n\t"
        "bne 1b"
        : "+l"(n)
        :
        : "cc");
#else
    volatile uint32_t left = n;
    while (left > 0) {
        left = left - 1;
    }
#endif
}

/* Uses a known amount of stack, so the high-water mark has something to find. */
static uint32_t __attribute__((noinline)) use_stack(uint32_t seed)
{
    volatile uint8_t block[1024];
    uint32_t i;
    uint32_t sum = 0;
    for (i = 0; i < sizeof block; ++i) {
        block[i] = (uint8_t)(seed + i);
    }
    for (i = 0; i < sizeof block; ++i) {
        sum += block[i];
    }
    return sum;
}

static int libm_ok(void)
{
    /* volatile: the calls must happen at run time, through the linked libm. */
    volatile float square = 2.25f;
    volatile float eight = 8.0f;
    volatile float negative = -2.7f;
    volatile float half = -2.5f;
    int exponent = 0;
    float mantissa = frexpf(eight, &exponent);
    return sqrtf(square) == 1.5f && mantissa == 0.5f && exponent == 4 && truncf(negative) == -2.0f
           && fabsf(half) == 2.5f && floorf(half) == -3.0f;
}

int main(void)
{
    uint64_t before;
    uint64_t after;
    explore_port_init();
    put("explore port selftest\n");
#if defined(EXPLORE_SELFTEST_FAULT) && (defined(__arm__) || defined(__thumb__))
    /* The fault path: the port must print "hardfault" and exit with status 99. */
    __asm__ __volatile__("udf #0");
#endif
    put_u64("counts_instructions=", (uint64_t)explore_port_counts_instructions());
    put_u64("loop_instructions_expected=", (uint64_t)LOOP_ITERATIONS * LOOP_INSTRUCTIONS_PER_ITERATION);
    before = explore_port_instructions();
    known_loop(LOOP_ITERATIONS);
    after = explore_port_instructions();
    put_u64("loop_instructions=", after - before);
    put_u64("stack_checksum=", use_stack(7u));
    put_u64("stack_high_water=", explore_port_stack_high_water());
    put(libm_ok() ? "libm=ok\n" : "libm=bad\n");
    return 3;
}
