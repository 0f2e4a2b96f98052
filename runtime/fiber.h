/* corio — fibers: a machine context plus a stack plus the bookkeeping
 * that sanitizers and valgrind need to follow stack switches.
 *
 * The coroutine runtime (runtime/coro.c) builds on this: one fiber per
 * coroutine, and one "thread fiber" per loop thread standing for the
 * thread's own stack, on which the scheduler runs. All functions here are
 * called on the thread that owns the fibers; a fiber never migrates
 * between threads while it is suspended (TSan and the overflow handler's
 * thread-local pointer assume so).
 *
 * Stack overflow: every fiber stack has a guard region below it (see
 * stack.h). corio__overflow_install sets a process-wide SIGSEGV/SIGBUS
 * handler that, when the faulting address is in the guard region of the
 * fiber running on this thread, writes
 *     corio: coroutine stack overflow (coroutine <id>)
 * to stderr and aborts; any other fault goes to the handler that was
 * installed before (or the default action). The handler runs on an
 * alternate signal stack, which each loop thread sets up with
 * corio__overflow_thread_init (a thread without one dies of the plain
 * SIGSEGV on overflow: the kernel cannot push a signal frame onto a full
 * stack). */
#ifndef CORIO_FIBER_H
#define CORIO_FIBER_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "stack.h"

/* Which sanitizer annotations to compile in (gcc defines
 * __SANITIZE_*__, clang answers __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define CORIO__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CORIO__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO__TSAN 1
#endif
#endif

typedef struct corio__fiber {
    corio__ctx ctx;         /* saved context while suspended; first member */
    corio__stack *stack;    /* the fiber's stack (not owned); NULL for a
                               thread fiber, which runs on the thread stack */
    uint64_t id;            /* coroutine id, printed on stack overflow */
    void (*entry)(void *);  /* entry function, called once on first switch */
    void *arg;              /* its argument */
    /* AddressSanitizer: the fake stack of this fiber while it is
     * suspended (use-after-return detection), and the bounds of its real
     * stack, passed to __sanitizer_start_switch_fiber when switching to
     * it. For a thread fiber the bounds are learnt on the first switch
     * back from another fiber. Unused (but kept, so the struct is the same
     * in every build) without ASan. */
    void *asan_fake_stack;
    const void *asan_bottom;
    size_t asan_size;
    /* ThreadSanitizer fiber handle; created by corio__fiber_init, the
     * thread's own for a thread fiber (not owned). */
    void *tsan_fiber;
    int tsan_owned;         /* 1 when tsan_fiber was created by us */
    int exited;             /* 1 once corio__fiber_exit switched away for
                               good; else fini treats the fiber as abandoned
                               while suspended */
} corio__fiber;

/* Make f stand for the calling thread's own stack, i.e. the context that
 * is running now (the scheduler). It can be switched from and back to;
 * it is never started. */
void corio__fiber_init_thread(corio__fiber *f);

/* Prepare f to run entry(arg) on stack st at its first switch-to. st must
 * stay allocated until corio__fiber_fini (the caller owns it). entry must
 * leave with corio__fiber_exit, never by returning (returning aborts with
 * a message). id is reported on stack overflow. Returns 0 (-EINVAL if st
 * is NULL or too small). */
int corio__fiber_init(corio__fiber *f, corio__stack *st, uint64_t id,
                      void (*entry)(void *), void *arg);

/* Suspend `from` (which must be the running fiber) and run `to`. Returns
 * when something switches back to `from`. Updates the overflow handler's
 * idea of the current fiber. Without sanitizers this is inline (below):
 * the store of the current fiber plus corio__ctx_switch_inline, expanded
 * in the caller so the compiler saves only the registers live there and
 * the resume is a jump to the caller's own code (an out-of-line function
 * would end in a `ret` the return stack buffer mispredicts on every
 * switch). With ASan or TSan it is a function in fiber.c that brackets
 * the switch with their annotations. */
#if defined(CORIO__ASAN) || defined(CORIO__TSAN)
void corio__fiber_switch(corio__fiber *from, corio__fiber *to);
#else
static inline void corio__fiber_switch(corio__fiber *from, corio__fiber *to);
#endif

/* Final switch out of a finished fiber: like corio__fiber_switch, but
 * `from` will never run again (ASan frees its fake stack). Never returns.
 * Its stack and the fiber struct may be released by `to` once it runs. */
_Noreturn void corio__fiber_exit(corio__fiber *from, corio__fiber *to);

/* Release what corio__fiber_init or _init_thread set up besides the
 * stack (the TSan fiber). f must not be running. */
void corio__fiber_fini(corio__fiber *f);

/* --- stack overflow reporting (overflow.c) --- */

/* Install the SIGSEGV/SIGBUS handler, once per process (later calls do
 * nothing). Returns 0 or -errno from sigaction. */
int corio__overflow_install(void);

/* Give the calling thread an alternate signal stack (mmap'd) unless it
 * already has a large enough one; it is released by
 * corio__overflow_thread_fini or at thread exit. Returns 0, -ENOMEM. */
int corio__overflow_thread_init(void);
void corio__overflow_thread_fini(void);

/* The fiber whose guard the handler checks: the running fiber of this
 * thread, NULL on the thread stack. corio__fiber_switch and
 * corio__fiber_exit keep it up to date; this setter is for code that
 * switches by other means. Initial-exec TLS, so the handler can read it
 * without allocating. */
extern _Thread_local const corio__fiber *corio__overflow_current
    __attribute__((tls_model("initial-exec")));
void corio__overflow_set_current(const corio__fiber *f);

#if !defined(CORIO__ASAN) && !defined(CORIO__TSAN)
static inline void corio__fiber_switch(corio__fiber *from, corio__fiber *to)
{
    corio__overflow_current = to->stack != NULL ? to : NULL;
    corio__ctx_switch_inline(&from->ctx, &to->ctx);
}
#endif

#endif /* CORIO_FIBER_H */
