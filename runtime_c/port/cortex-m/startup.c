/* Reset and exception handling for QEMU's mps2 machines (Cortex-M3/M4/M7 running ARMv6-M or
 * ARMv7E-M code).  There is no C library start-up (-nostartfiles): Reset_Handler does the
 * little a freestanding C99 program needs and hands main's return value to explore_port_exit. */
#include "cortex_m.h"
#include "port.h"

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

typedef void (*vector_t)(void);

/* Only the 16 system vectors: the port enables no peripheral interrupt, and a stray one lands
 * on Default_Handler through the vector that follows only if VTOR pointed elsewhere. */
__attribute__((section(".vectors"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)__stack_top,
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler,
    Default_Handler,   /* MemManage (ARMv7-M) */
    Default_Handler,   /* BusFault (ARMv7-M) */
    Default_Handler,   /* UsageFault (ARMv7-M) */
    0, 0, 0, 0,
    Default_Handler,   /* SVCall */
    Default_Handler,   /* DebugMonitor (ARMv7-M) */
    0,
    Default_Handler,   /* PendSV */
    SysTick_Handler,
};

static void put(const char *text)
{
    uint32_t n = 0;
    while (text[n] != '\0') {
        ++n;
    }
    explore_port_write(text, n);
}

__attribute__((noreturn)) void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* Full access to CP10/CP11 before any float instruction, including those the compiler
     * may schedule into main's prologue. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ __volatile__("dsb\n\tisb" ::: "memory");
#endif
    {
        /* Paint below the live stack pointer only: this function's own frame sits above it.
         * Volatile stores keep GCC from turning the loop into a memset call, whose frame
         * would land inside the region being painted. */
        uint32_t *sp;
        volatile uint32_t *p = __stack_bottom;
        __asm__ __volatile__("mov %0, sp" : "=r"(sp));
        while (p < sp) {
            *p++ = EXPLORE_STACK_PAINT;
        }
    }
    {
        const uint32_t *src = __data_load;
        uint32_t *dst = __data_start;
        while (dst < __data_end) {
            *dst++ = *src++;
        }
        for (dst = __bss_start; dst < __bss_end; ++dst) {
            *dst = 0;
        }
    }
    explore_port_exit(main());
}

/* Runs with the stack pointer reset to the top of the stack, because the fault may have
 * been a stack overflow; the program is over either way. */
__attribute__((noreturn, used)) static void hardfault_report(void)
{
    put("hardfault\n");
    explore_port_exit(99);
}

__attribute__((naked, noreturn)) void HardFault_Handler(void)
{
    __asm__ __volatile__(
        "ldr r0, =__stack_top\n\t"
        "mov sp, r0\n\t"
        "bl hardfault_report\n\t"
        ".ltorg");
}

__attribute__((noreturn)) void Default_Handler(void)
{
    put("unexpected exception\n");
    explore_port_exit(98);
}
