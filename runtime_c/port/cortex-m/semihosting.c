/* Output and exit through Arm semihosting (BKPT 0xAB), which QEMU serves when started with
 * -semihosting-config enable=on,target=native.
 *
 * Each semihosting call is a trap into QEMU costing microseconds of wall time, so output is
 * collected in a small buffer and written with one SYS_WRITE per block; 2 MB of output then
 * takes a few thousand traps instead of one per number. */
#include "cortex_m.h"
#include "port.h"

enum {
    SYS_OPEN = 0x01,
    SYS_WRITE = 0x05,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
    OPEN_MODE_W = 4,
    ADP_STOPPED_APPLICATION_EXIT = 0x20026,
    ADP_STOPPED_RUNTIME_ERROR = 0x20023
};

#define BUFFER_BYTES 512u

static char buffer[BUFFER_BYTES];
static uint32_t buffered;
static int stdout_handle = -1;

static int semihost(int op, const void *args)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = args;
    __asm__ __volatile__("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void write_raw(const char *data, uint32_t n)
{
    /* ":tt" opened for writing is the semihosting console; QEMU hands out no preopened
     * handle 1 for Arm, so open it on first use. */
    if (stdout_handle < 0) {
        static const char console[] = ":tt";
        uint32_t open_args[3];
        open_args[0] = (uint32_t)(uintptr_t)console;
        open_args[1] = OPEN_MODE_W;
        open_args[2] = sizeof console - 1;
        stdout_handle = semihost(SYS_OPEN, open_args);
    }
    while (n > 0) {
        uint32_t args[3];
        int left;
        args[0] = (uint32_t)stdout_handle;
        args[1] = (uint32_t)(uintptr_t)data;
        args[2] = n;
        left = semihost(SYS_WRITE, args);
        /* SYS_WRITE returns the bytes NOT written; give up on an error rather than spin. */
        if (left < 0 || (uint32_t)left >= n) {
            return;
        }
        data += n - (uint32_t)left;
        n = (uint32_t)left;
    }
}

void explore_cortex_m_flush(void)
{
    uint32_t n = buffered < BUFFER_BYTES ? buffered : BUFFER_BYTES;
    buffered = 0;
    write_raw(buffer, n);
}

void explore_port_write(const char *data, uint32_t n)
{
    if (buffered + n > BUFFER_BYTES) {
        explore_cortex_m_flush();
    }
    if (n >= BUFFER_BYTES) {
        write_raw(data, n);
        return;
    }
    while (n-- > 0) {
        buffer[buffered++] = *data++;
    }
}

void explore_cortex_m_semihost_exit(int status)
{
    /* SYS_EXIT_EXTENDED carries the status on 32-bit targets (plain SYS_EXIT only says
     * "success" or "failure", which QEMU turns into 0 or 1). */
    uint32_t args[2];
    args[0] = ADP_STOPPED_APPLICATION_EXIT;
    args[1] = (uint32_t)status;
    semihost(SYS_EXIT_EXTENDED, args);
    /* Reached only if the host lacks SYS_EXIT_EXTENDED. */
    semihost(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                               : ADP_STOPPED_RUNTIME_ERROR));
    for (;;) {
    }
}

void explore_port_exit(int status)
{
    explore_cortex_m_flush();
    explore_cortex_m_semihost_exit(status);
}
