/* Instruction counting and stack measurement.
 *
 * Under `qemu-system-arm -icount shift=0` every guest instruction advances virtual time by
 * exactly 1 ns, and SysTick (CLKSOURCE = processor clock) counts virtual time at the
 * machine's system clock: 25 MHz on mps2-an385/an386/an500, so one tick is 40 instructions.
 * The 24-bit counter wraps every 2^24 ticks (about 671 million instructions); the interrupt
 * counts wraps so the total fits a uint64. */
#include "cortex_m.h"
#include "port.h"

#ifndef EXPLORE_INSTRUCTIONS_PER_TICK
#define EXPLORE_INSTRUCTIONS_PER_TICK 40u
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE 1u
#define SYST_CSR_TICKINT 2u
#define SYST_CSR_CLKSOURCE 4u
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void)
{
    wraps = wraps + 1u;
}

void explore_port_init(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0; /* any write clears the counter and COUNTFLAG */
    wraps = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

uint64_t explore_port_instructions(void)
{
    uint32_t before;
    uint32_t current;
    uint32_t after;
    /* A wrap between the two reads of `wraps` would pair a new counter value with an old
     * wrap count; read again until both agree. */
    do {
        before = wraps;
        current = SYST_CVR;
        after = wraps;
    } while (before != after);
    return ((uint64_t)before * (SYST_RELOAD + 1u) + (SYST_RELOAD - current))
           * EXPLORE_INSTRUCTIONS_PER_TICK;
}

int explore_port_counts_instructions(void)
{
    return 1;
}

uint32_t explore_port_stack_high_water(void)
{
    const volatile uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == EXPLORE_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}
