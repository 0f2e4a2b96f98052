/* corio — reporting coroutine stack overflows.
 *
 * A coroutine that runs off its stack touches the guard region below it
 * (stack.h) and takes SIGSEGV (SIGBUS on some kernels/guard kinds). The
 * handler installed here runs on the thread's alternate signal stack —
 * the fiber stack is full, the kernel could not push a signal frame on it
 * — and decides from the faulting address alone:
 *
 *   - within [lo - span, lo) of the fiber running on this thread, where
 *     span = max(CORIO__STACK_GUARD, 64 KiB) so that frames big enough to
 *     step over the guard are still named: write
 *     "corio: coroutine stack overflow (coroutine <id>)\n" with write(2)
 *     and abort(). Only the current fiber is checked: a fault near some
 *     other stack is not an overflow of the code that is running.
 *   - anything else: hand over to the handler that was installed before
 *     ours, as if we were not there (sa_sigaction or sa_handler; SIG_DFL
 *     and SIG_IGN for a fault mean "die of it": we restore SIG_DFL,
 *     re-raise the signal and return, so the process dies of that signal
 *     with a core dump as it would have without us; a signal sent with
 *     kill() to a process that ignored it is dropped).
 *
 * Everything the handler does is async-signal-safe: it reads one
 * initial-exec TLS pointer and the fiber/stack it points to (kept valid by
 * the runtime while the fiber runs), formats digits by hand, and calls
 * write, abort, sigaction and raise. errno is preserved for the chained
 * case. */
#include "fiber.h"
#include "fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Thread_local const corio__fiber *corio__overflow_current
    __attribute__((tls_model("initial-exec")));

/* How far below lo a fault still counts as an overflow. */
#define OVERFLOW_SPAN \
    (CORIO__STACK_GUARD > 64 * 1024 ? CORIO__STACK_GUARD : (size_t)64 * 1024)

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;                  /* -errno from the one install */
static struct sigaction old_segv;        /* what SIGSEGV did before us */
static struct sigaction old_bus;         /* what SIGBUS did before us */

void corio__overflow_set_current(const corio__fiber *f)
{
    corio__overflow_current = f;
}

/* Write "corio: coroutine stack overflow (coroutine <id>)\n" and abort. */
static _Noreturn void report_overflow(uint64_t id)
{
    static const char head[] = "corio: coroutine stack overflow (coroutine ";
    char buf[sizeof head + 24];
    memcpy(buf, head, sizeof head - 1);
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id != 0);
    size_t len = sizeof head - 1;
    while (n > 0)
        buf[len++] = digits[--n];
    buf[len++] = ')';
    buf[len++] = '\n';
    ssize_t r = write(STDERR_FILENO, buf, len);
    (void)r;
    abort();
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    int from_kernel = si->si_code > 0;  /* a fault, not kill()/sigqueue() */
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
        return;
    }
    if (old->sa_handler == SIG_IGN && !from_kernel)
        return;
    if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        /* Pending until we return and sig is unblocked, then fatal. For
         * a fault, re-executing the instruction would also kill, but not
         * if the page became accessible meanwhile (another thread) or
         * under emulators that do not re-execute (valgrind). */
        raise(sig);
        return;
    }
    old->sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    const corio__fiber *f = corio__overflow_current;
    if (f != NULL && f->stack != NULL && si->si_code > 0) {
        uintptr_t lo = (uintptr_t)f->stack->lo;
        uintptr_t addr = (uintptr_t)si->si_addr;
        if (addr < lo && lo - addr <= OVERFLOW_SPAN)
            report_overflow(f->id);
    }
    chain(sig, si, uc);
    errno = saved_errno;
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old_segv) != 0) {
        install_err = -errno;
        return;
    }
    if (sigaction(SIGBUS, &sa, &old_bus) != 0) {
        install_err = -errno;
        sigaction(SIGSEGV, &old_segv, NULL);
    }
}

int corio__overflow_install(void)
{
    int err = pthread_once(&install_once, install);
    return err != 0 ? -err : install_err;
}

/* --- per-thread alternate signal stack --- */

/* Smallest existing alternate stack we accept instead of mapping ours:
 * our handler needs well under a page; whoever installed a stack of this
 * size (ASan does, 32 KiB) sized it for their own handler. */
#define ALT_MIN_ACCEPTED ((size_t)16 * 1024)

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t alt_key;     /* its destructor frees at thread exit */
static int key_err;

static _Thread_local void *alt_mem;     /* our mapping, NULL if none */
static _Thread_local size_t alt_size;   /* its size */

static void alt_release(void)
{
    if (alt_mem == NULL)
        return;
    stack_t cur;
    /* Disable only if it is still ours (someone may have replaced it). */
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == alt_mem) {
        stack_t off;
        memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
    }
    munmap(alt_mem, alt_size);
    alt_mem = NULL;
    alt_size = 0;
}

static void alt_destructor(void *unused)
{
    (void)unused;
    alt_release();
}

static void make_key(void)
{
    key_err = -pthread_key_create(&alt_key, alt_destructor);
}

int corio__overflow_thread_init(void)
{
    if (alt_mem != NULL)
        return 0;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
        cur.ss_size >= ALT_MIN_ACCEPTED)
        return 0;  /* keep the one that is there; not ours to free */
    int err = pthread_once(&key_once, make_key);
    if (err != 0)
        return -err;
    if (key_err < 0)
        return key_err;
    long sz = sysconf(_SC_SIGSTKSZ);
    size_t size = (size_t)64 * 1024 + (sz > 0 ? (size_t)sz : (size_t)SIGSTKSZ);
    void *mem = corio__mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED)
        return -ENOMEM;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem;
    ss.ss_size = size;
    if (sigaltstack(&ss, NULL) != 0) {
        err = -errno;
        munmap(mem, size);
        return err;
    }
    alt_mem = mem;
    alt_size = size;
    /* Any non-NULL value makes the destructor run at thread exit. */
    pthread_setspecific(alt_key, mem);
    return 0;
}

void corio__overflow_thread_fini(void)
{
    if (alt_mem == NULL)
        return;
    pthread_setspecific(alt_key, NULL);
    alt_release();
}
