/* The port interface: the only place the runtime touches the machine it runs on.
 *
 * Two implementations exist: port/host/port_host.c (a normal hosted program) and
 * port/cortex-m/ (bare metal on QEMU's mps2 machines, output through semihosting,
 * instruction counts from SysTick under `-icount shift=0`).  See port/README.md. */
#ifndef EXPLORE_PORT_H
#define EXPLORE_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Call once, first thing in main: starts the instruction counter. */
void explore_port_init(void);

/* Raw bytes to stdout.  The Cortex-M port buffers; explore_port_exit flushes. */
void explore_port_write(const char *data, uint32_t n);

/* Guest instructions executed so far (Cortex-M under -icount shift=0: SysTick ticks times
 * instructions per tick, so the resolution is one tick); 0 on the host. */
uint64_t explore_port_instructions(void);

/* 1 where explore_port_instructions means something (Cortex-M under QEMU -icount), 0 on the host. */
int explore_port_counts_instructions(void);

/* Bytes of the stack ever used since reset (painted-region scan); 0 on the host. */
uint32_t explore_port_stack_high_water(void);

/* Flushes output and ends the program; status becomes the process (or QEMU) exit status. */
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void explore_port_exit(int status);

#ifdef __cplusplus
}
#endif

#endif /* EXPLORE_PORT_H */
