/* The few newlib system-call hooks libc/libm may reference.  Nothing here is meant to be
 * used: the runtime writes through explore_port_write and never allocates, so every stub
 * fails.  They exist so the link has no undefined symbols and needs no libnosys (whose
 * stubs make the linker warn). */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cortex_m.h"

/* newlib's reentrant wrappers declare these; prototypes keep -Wmissing-prototypes quiet. */
void *_sbrk(intptr_t increment);
int _write(int fd, const void *data, int n);
int _read(int fd, void *data, int n);
int _close(int fd);
int _lseek(int fd, int offset, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _getpid(void);
int _kill(int pid, int sig);
void _exit(int status);

void *_sbrk(intptr_t increment)
{
    (void)increment;
    errno = ENOMEM;
    return (void *)-1;
}

int _write(int fd, const void *data, int n)
{
    (void)fd;
    (void)data;
    (void)n;
    errno = ENOSYS;
    return -1;
}

int _read(int fd, void *data, int n)
{
    (void)fd;
    (void)data;
    (void)n;
    errno = ENOSYS;
    return -1;
}

int _close(int fd)
{
    (void)fd;
    errno = ENOSYS;
    return -1;
}

int _lseek(int fd, int offset, int whence)
{
    (void)fd;
    (void)offset;
    (void)whence;
    errno = ENOSYS;
    return -1;
}

int _fstat(int fd, struct stat *st)
{
    (void)fd;
    (void)st;
    errno = ENOSYS;
    return -1;
}

int _isatty(int fd)
{
    (void)fd;
    return 0;
}

int _getpid(void)
{
    return 1;
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = ENOSYS;
    return -1;
}

/* exit() and abort() end here (abort: status 1, after _kill declined the signal). */
void _exit(int status)
{
    explore_cortex_m_flush();
    explore_cortex_m_semihost_exit(status);
}
