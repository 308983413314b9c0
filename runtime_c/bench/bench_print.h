/* Text output of the benchmark images through the port (no printf: the images link no stdio). */
#ifndef EXPLORE_BENCH_PRINT_H
#define EXPLORE_BENCH_PRINT_H

#include <stdint.h>

#include "port.h"

static void put(const char *text)
{
    uint32_t n = 0;
    while (text[n]) {
        n++;
    }
    explore_port_write(text, n);
}

static void put_u64(uint64_t value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value);
    while (n) {
        explore_port_write(&digits[--n], 1);
    }
}

#endif /* EXPLORE_BENCH_PRINT_H */
