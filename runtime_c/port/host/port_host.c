/* Host port: an ordinary hosted C program.  Nothing is measured here; the host build exists
 * for fast tests and sanitizers, the Cortex-M port for counts and sizes. */
#include "port.h"

#include <stdio.h>
#include <stdlib.h>

void explore_port_init(void)
{
}

void explore_port_write(const char *data, uint32_t n)
{
    /* Fail loudly: a truncated result file would otherwise parse as a shorter, wrong one. */
    if (n > 0 && fwrite(data, 1, n, stdout) != n) {
        abort();
    }
}

uint64_t explore_port_instructions(void)
{
    return 0;
}

int explore_port_counts_instructions(void)
{
    return 0;
}

uint32_t explore_port_stack_high_water(void)
{
    return 0;
}

void explore_port_exit(int status)
{
    if (fflush(stdout) != 0) {
        abort();
    }
    exit(status);
}
