/* What the drawn-case kernel tests share: their output, on the host or through the QEMU port
 * (EXPLORE_TEST_ON_QEMU), and a xorshift32 stream.  Each test defines DRAW_SEED before including
 * this, so that its cases do not change when another test draws more. */
#ifndef EXPLORE_TESTS_DRAWN_H
#define EXPLORE_TESTS_DRAWN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef EXPLORE_TEST_ON_QEMU
#include "port.h"
#endif

static inline void say(const char *text)
{
#ifdef EXPLORE_TEST_ON_QEMU
    explore_port_write(text, (uint32_t)strlen(text));
#else
    fputs(text, stdout);
#endif
}

static uint32_t state = DRAW_SEED;

static inline uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static inline uint32_t between(uint32_t lo, uint32_t hi)
{
    return lo + next() % (hi - lo + 1u);
}

#endif /* EXPLORE_TESTS_DRAWN_H */
