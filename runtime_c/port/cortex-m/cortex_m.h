/* Internals shared by the Cortex-M port's files; not part of the port interface. */
#ifndef EXPLORE_CORTEX_M_H
#define EXPLORE_CORTEX_M_H

#include <stdint.h>

/* Linker-script symbols (mps2-*.ld); only their addresses mean anything. */
extern uint32_t __stack_bottom[];
extern uint32_t __stack_top[];
extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];

/* Written over the whole stack before main; the first word that differs, counted from the
 * bottom, marks the deepest the stack ever reached. */
#define EXPLORE_STACK_PAINT 0xA5C3E187u

/* Writes whatever explore_port_write has buffered; safe to call from a fault handler. */
void explore_cortex_m_flush(void);

/* Ends QEMU with `status` as its exit status, without flushing. */
__attribute__((noreturn)) void explore_cortex_m_semihost_exit(int status);

int main(void);

/* Exception handlers, named in startup.c's vector table. */
void Reset_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

#endif /* EXPLORE_CORTEX_M_H */
