/* corio — internal interfaces shared between the parts of the library.
 * Nothing here is exported; names use the corio__ prefix. */
#ifndef CORIO_INTERNAL_H
#define CORIO_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "corio/error.h"
#include "corio/executor.h"
#include "corio/future.h"
#include "corio/metrics.h"

#define CORIO__HIDDEN __attribute__((visibility("hidden")))

/* Zero n bytes at p (both multiples of 8) with plain 8-byte stores. For a
 * record of a few hundred bytes on the hot path (a future, a coroutine),
 * memset of a constant size compiles to `rep stos`, whose start-up costs
 * more than the stores themselves; the empty asm keeps the compiler from
 * turning the loop back into that memset. */
static inline void corio__zero(void *p, size_t n) {
    uint64_t *w = p;
    for (size_t i = 0; i + 2 <= n / 8; i += 2) {
        w[i] = 0;
        w[i + 1] = 0;
        __asm__ volatile("" ::: "memory");
    }
    if (n / 8 % 2)
        w[n / 8 - 1] = 0;
}

/* ------------------------------------------------------------------------ */
/* Exit handlers                                                              */

/* atexit(3) tied to this library's image: fn runs at exit(), or at dlclose
 * when libcorio was loaded with dlopen and is unloaded first. glibc's atexit
 * does this by passing the caller's __dso_handle to __cxa_atexit, but the
 * sanitizer runtimes intercept atexit and register with no handle, so the
 * handler of an unloaded library was then called at exit, in unmapped code
 * (seen under TSan: tests/test_shared.c). Passing the handle ourselves holds
 * under every runtime. */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);
extern void *__dso_handle;

static inline int corio__atexit(void (*fn)(void *), void *arg) {
    return __cxa_atexit(fn, arg, &__dso_handle);
}

/* ------------------------------------------------------------------------ */
/* Thread-local storage                                                       */

/* For the thread-locals read on every spawn, switch, park and allocation.
 * In a shared library the default (global-dynamic) model calls
 * __tls_get_addr on each access; initial-exec is one load at a fixed
 * offset from the thread pointer (spawn + join: 117 -> ~95 ns). It takes
 * static TLS space, which a library loaded later with dlopen (ctypes, say)
 * must find in glibc's small reserve, so it is kept for these few small
 * variables (under 120 bytes in all); big buffers stay global-dynamic. */
#define CORIO__TLS_HOT _Thread_local __attribute__((tls_model("initial-exec")))

/* ------------------------------------------------------------------------ */
/* Polling                                                                    */

/* The CPU's spin-wait hint, once per round of every polling loop. */
static inline void corio__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Online CPUs, read once (at least 1): polling only pays with two or more. */
long corio__online_cpus(void);
/* CPUs this process may use: its affinity mask, capped by a cgroup v2
 * cpu.max quota rounded up (runtime/cpus.c); at least 1. */
long corio__usable_cpus(void);
/* The (i mod |set|)-th CPU of `set`, to pin loop i inside the allowed set. */
int corio__cpu_set_nth(const cpu_set_t *set, unsigned i);

/* Whether a loop pinned to the CPU this thread runs on is awake (running
 * coroutines or polling its inbox). A thread about to poll for work (an
 * idle thread-pool worker) should sleep instead: polling there only takes
 * the CPU from the loop, which typically waits for that very work, and
 * Linux does not move a thread off a busy CPU while it keeps running. Once
 * asleep, its next wake-up places it on an idle CPU. A heuristic: read
 * without ordering. */
bool corio__pinned_loop_awake_here(void);

/* Create a library thread (loop, pool worker, collector). Threads inherit
 * their creator's CPU affinity, and a pool created or grown from a
 * coroutine would pin its workers to that loop's one CPU, beside the loop:
 * a thread created from a pinned loop gets the CPUs the loop had before it
 * pinned itself instead. Returns an error number, like pthread_create. */
int corio__thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
/* The same for a process just forked from a pinned loop's thread (the
 * process pool's fork server); call it in the child. */
void corio__unpin_forked_child(void);

/* ------------------------------------------------------------------------ */
/* Time                                                                       */

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t corio__now_ns(void);
/* Absolute deadline for a relative timeout in seconds: INT64_MAX for a
 * negative (forever) timeout, now for 0; then the earlier of that and the
 * current cancel scope's limit (corio__scope_clip). */
int64_t corio__deadline(double timeout);
/* The inverse, for the calls that take a relative timeout: seconds left
 * until `deadline` (ns on CLOCK_MONOTONIC), >= 0; -1 (no limit) for
 * INT64_MAX. */
static inline double corio__left_s(int64_t deadline) {
    if (deadline == INT64_MAX)
        return -1.0;
    int64_t d = deadline - corio__now_ns();
    return d > 0 ? (double)d / 1e9 : 0.0;
}

/* ------------------------------------------------------------------------ */
/* Parker: the one way anything in corio blocks.                             */
/*
 * A parker belongs to the thread or coroutine that created it (with
 * corio__parker_init, which captures the current context). park() blocks the
 * thread on a futex, or suspends the coroutine through the scheduler hooks;
 * unpark() may be called from any thread, any number of times.
 *
 * state protocol (all transitions atomic):
 *   IDLE --park--> PARKED --unpark--> NOTIFIED --(park returns)--> IDLE
 *   IDLE --unpark--> NOTIFIED: the next park returns at once.
 * unpark() acts (futex wake / reschedule) only when it swaps PARKED away,
 * so a wake is delivered exactly once and never to a context that is not
 * parked. */
enum { CORIO__IDLE = 0, CORIO__PARKED = 1, CORIO__NOTIFIED = 2 };

typedef struct corio__parker {
    _Atomic uint32_t state; /* IDLE, PARKED or NOTIFIED (futex word for threads) */
    void *coro;             /* the coroutine that parks, or NULL for a plain thread */
    const char *what;       /* what it waits for, for the dump ("future", ...), or NULL */
    const void *obj;        /* that object's address, or NULL */
    int64_t since;          /* coarse clock when a coroutine parked (set by its scheduler) */
} corio__parker;

/* Say what p's owner waits for (a string literal) and on which object:
 * the coroutine dump prints both. Optional; plain stores, owner only. */
static inline void corio__parker_what(corio__parker *p, const char *what, const void *obj) {
    p->what = what;
    p->obj = obj;
}

/* CLOCK_MONOTONIC at a few ms' resolution, for a few ns (no syscall, no
 * hardware counter read): for figures a person reads, such as how long a
 * coroutine has waited. Same epoch as corio__now_ns. */
static inline int64_t corio__now_coarse_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Scheduler hooks, installed by the coroutine runtime when it starts. */
typedef struct corio__sched_ops {
    /* Suspend the current coroutine (p->coro) whose parker is already
     * PARKED, until unpark or deadline_ns (INT64_MAX: none). Runs on the
     * coroutine's loop thread. Returns 0 when resumed by unpark, -ETIMEDOUT
     * on deadline, -ECANCELED when the coroutine was cancelled. The hook
     * itself resolves the race with unpark by swapping the state. */
    int (*park)(corio__parker *p, int64_t deadline_ns);
    /* Make p->coro runnable again; any thread; called only by the context
     * that swapped PARKED -> NOTIFIED. Must not block. */
    void (*unpark)(corio__parker *p);
    /* Is the current coroutine's cancellation requested? */
    int (*cancelled)(void);
    /* Wait, in the current coroutine, until the coroutine `coro` (the owner
     * of a future, see corio__future_set_coro) has ended, without a waiter
     * on its future: possible when both run on the same loop, so the child
     * wakes its joiner directly. Returns 0 once it ended (its future is then
     * done), -ECANCELED if the caller was cancelled, -EAGAIN when it cannot
     * join (other loop, another joiner): use a waiter then. */
    int (*join)(void *coro);
    /* The current coroutine's scope limit (INT64_MAX when none). */
    int64_t (*limit)(void);
    /* Until when the current coroutine may poll for a wake-up instead of
     * suspending, because its loop has nothing else to do: `until`, or the
     * loop's next timer if sooner; 0 when the loop has other work (ready
     * coroutines, inbox messages, ring operations queued or in flight) or
     * runs on one CPU. Loop thread only, a few loads: pollers call it
     * again every few dozen rounds. */
    int64_t (*idle_until)(int64_t until);
} corio__sched_ops;

/* The current coroutine of this thread, NULL on a plain thread. */
extern CORIO__TLS_HOT void *corio__tls_coro;
/* Set once by the runtime; read with acquire ordering. */
extern const corio__sched_ops *_Atomic corio__sched;

void corio__parker_init(corio__parker *p);
/* Returns 0 when notified (or spuriously), -ETIMEDOUT at the deadline,
 * -ECANCELED when the calling coroutine has been cancelled. The caller
 * re-checks its condition in a loop. */
int corio__parker_park(corio__parker *p, int64_t deadline_ns);
void corio__parker_unpark(corio__parker *p);

/* Futex helpers (thread side). */
int corio__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns);
void corio__futex_wake(_Atomic uint32_t *addr, int n);

/* ------------------------------------------------------------------------ */
/* Cancel scopes (see scope.c and include/corio/scope.h)                      */
/*
 * A scope is entered and left by one context (a coroutine or a plain
 * thread), strictly nested: each context has a chain of scopes, innermost
 * first, linked by `parent`. A coroutine's chain hangs off its record, a
 * thread's off corio__tls_thread_scope. Every blocking call clips its
 * deadline to the innermost scope's `limit` (corio__scope_clip) and treats
 * the context as cancelled when a scope of the chain, up to and including
 * the innermost shield, is cancelled (corio__scope_chain_stopped).
 *
 * Code that never enters a scope pays one load and a predicted branch per
 * blocking call: corio__tls_nscopes counts the scopes entered on this
 * thread by any context (a coroutine never changes threads), so 0 means
 * there is nothing to look up. */
typedef struct corio__scope corio__scope;
struct corio__scope {
    corio__scope *parent;   /* the next outer scope of the same context, or NULL */
    int64_t deadline;       /* its own deadline (ns, CLOCK_MONOTONIC; INT64_MAX: none) */
    int64_t limit;          /* earliest deadline that applies inside: its own and,
                             * unless it is a shield, its parent's limit */
    void *coro;             /* owning coroutine (corio__coro), or NULL for a thread */
    void *thread;           /* owning thread's park record (corio__tpark), when coro is NULL */
    _Atomic int cancel;     /* corio_scope_cancel was called (sticky) */
    _Atomic int guard;      /* 0 entered, 1 a canceller is waking the owner, 2 left: a
                             * canceller only touches the owner while it holds 1, and
                             * exit waits it out, so the owner is alive meanwhile */
    int shield;             /* holds off the cancels and deadlines of outer scopes */
    int status;             /* set at exit: 0, -ECANCELED or -ETIMEDOUT */
};

/* Scopes entered and not yet left on this thread, by any context. */
extern CORIO__TLS_HOT unsigned corio__tls_nscopes;
/* The plain thread's innermost scope (not a coroutine's). */
extern CORIO__TLS_HOT corio__scope *corio__tls_thread_scope;

/* Is a context whose innermost scope is s cancelled? `base` is the
 * context's own cancel flag (a coroutine's cancel request), which counts
 * only when no shield stands in between. */
static inline int corio__scope_chain_stopped(const corio__scope *s, int base) {
    for (; s; s = s->parent) {
        if (atomic_load_explicit(&s->cancel, memory_order_acquire))
            return 1;
        if (s->shield)
            return 0;
    }
    return base;
}

/* The current context's scope limit (INT64_MAX when none); park.c. */
int64_t corio__scope_limit_slow(void);

/* d, or the current scope's limit if that is earlier. */
static inline int64_t corio__scope_clip(int64_t d) {
    if (__builtin_expect(corio__tls_nscopes == 0, 1))
        return d;
    int64_t l = corio__scope_limit_slow();
    return l < d ? l : d;
}

/* Wake the thread owning a scope if it is parked (park.c): its park then
 * re-checks its scopes. `tpark` is the scope's `thread`. Any thread. */
void corio__parker_kick_thread(void *tpark);
/* This thread's park record, for a scope entered on a plain thread. */
void *corio__parker_thread_self(void);

/* ------------------------------------------------------------------------ */
/* Waiters on a future                                                        */

typedef struct corio__waiter corio__waiter;
/* Called exactly once, under the future's lock, when the future becomes
 * done. It must be quick and must not block or touch the future's public
 * API (it may unpark a parker or push to a lock-free queue). */
typedef void (*corio__notify_fn)(corio__waiter *w, corio_future *f);

struct corio__waiter {
    corio__waiter *next, *prev; /* links in the future's waiter list */
    corio__notify_fn notify;    /* what to do when the future is done */
    void *data;                 /* owner's context for notify */
    _Atomic int linked;         /* 1 while registered and not yet notified: set under the
                                 * future's lock, cleared after notify returned (release) */
};

/* Register w; returns 1 if registered, 0 if the future is already done
 * (w is not registered and notify will not be called). O(1). */
int corio__future_add_waiter(corio_future *f, corio__waiter *w);
/* Unregister w if still registered. O(1). After it returns, notify is not
 * running and will not run. */
void corio__future_remove_waiter(corio_future *f, corio__waiter *w);

/* Wait until f is done or the deadline; 0 when done, -ETIMEDOUT,
 * -ECANCELED (calling coroutine cancelled), -EDEADLK (f is the calling
 * coroutine's own, or the wait hook found a deadlock). */
int corio__future_wait_done(corio_future *f, int64_t deadline_ns);

/* A plain thread's hook around its blocking waits on futures (set by an
 * executor's workers for deadlock detection). begin runs before the
 * thread parks on f: a negative return ends the wait with that code (end
 * is then not called); end runs after the wait. */
typedef struct corio__wait_hook {
    int (*begin)(void *arg, corio_future *f, int64_t deadline_ns); /* before parking on f */
    void (*end)(void *arg);                   /* after, if begin returned >= 0 */
    void *arg;                                /* their argument (the pool) */
} corio__wait_hook;
/* This thread's hook, or NULL (future.c). */
extern CORIO__TLS_HOT const corio__wait_hook *corio__tls_wait_hook;

/* Canceller: what cancel() does to a RUNNING future that supports it
 * (coroutines, process jobs with cancel_kills_running). Called at most once,
 * UNDER the future's lock (so the job cannot complete meanwhile): it must
 * only post a request (never block, never call the future's API). */
typedef void (*corio__cancel_fn)(corio_future *f, void *arg);
void corio__future_set_canceller(corio_future *f, corio__cancel_fn fn, void *arg);
/* Helper: work a waiter of f may do itself instead of polling f's state
 * before it parks: an executor whose completions normally pass through
 * another thread (the process pool's collector) lends the waiter that
 * thread's work, saving a wake-up on each side. Called at most once per
 * wait, without any lock held: on a plain thread only on a multi-core
 * machine (it may spin), in a coroutine always (it must not hold up the
 * loop: between attempts it lets the loop's other coroutines run with
 * corio_yield, and gives up when that returns -ECANCELED). It returns 1
 * once f is done, 0 to park as usual (it gave up, or deadline_ns passed).
 * Set before f is shared. */
typedef int (*corio__help_fn)(corio_future *f, void *arg, int64_t deadline_ns);
void corio__future_set_helper(corio_future *f, corio__help_fn fn, void *arg);
/* set_running_or_notify_cancel and set_canceller in one lock hold. */
int corio__future_start(corio_future *f, corio__cancel_fn fn, void *arg);
/* Was a cancel requested on a running future? */
int corio__future_cancel_requested(const corio_future *f);
/* Finish a RUNNING (or PENDING) future as CANCELLED (used when a running
 * coroutine honours a cancel request, or executor shutdown). by_executor
 * marks the reason. Returns 0 or CORIO_EINVALID_STATE. */
int corio__future_finish_cancelled(corio_future *f, int by_executor);
/* Create a future with `extra` bytes of caller storage after it, in the same
 * allocation (16-byte aligned), e.g. for an executor's job record; the
 * storage lives as long as the future. */
corio_future *corio__future_create_ext(size_t extra);
/* Extra storage up to this size comes from recycled slabs (see future.c);
 * larger sizes are malloc'd. A coroutine record must fit. */
#define CORIO__FUTURE_EXT_LARGE 256
/* The smallest slab class: a future and a thread-pool job record (three
 * cache lines in all on x86-64). */
#define CORIO__FUTURE_EXT_SMALL 48
/* The same with `refs` references at once (one per owner), saving the
 * atomic increments of corio_future_ref while nobody else can see it. */
corio_future *corio__future_create_ext_refs(size_t extra, int refs);
void *corio__future_ext(corio_future *f);
/* Mark f as the outcome of coroutine `coro` (the scheduler's record), whose
 * end implies f is done: waiting for f in a coroutine may then join it (see
 * corio__sched_ops.join). Set before f is shared. */
void corio__future_set_coro(corio_future *f, void *coro);

/* The failure code of a done future (0 for success or cancelled). Lock-free:
 * valid once corio_future_done() returned true (acquire on the state). */
int corio__future_code(const corio_future *f);
/* Forget the result's destructor (its ownership moved elsewhere). */
void corio__future_release_value(corio_future *f);
/* Failure with an already formatted message (may be NULL). */
int corio__future_fail(corio_future *f, int code, const char *message);

/* ------------------------------------------------------------------------ */
/* Task failure messages (thread-local, set by corio_task_fail)             */

/* Clear the thread's pending task message. */
void corio__task_msg_clear(void);
/* The thread's pending task message, "" if none. */
const char *corio__task_msg(void);

/* ------------------------------------------------------------------------ */
/* Executors                                                                 */

/* One job of a map chunk: the item and, after it ran, its outcome. */
typedef struct corio__batch_item {
    void *arg;         /* the item pointer (or a corio_value * for bytes maps) */
    corio_value value; /* result on success */
    int code;          /* 0 or the failure code */
    char *message;     /* failure message (malloc'd) or NULL */
} corio__batch_item;

/* A chunk's result value: an array of items, freed with the future. */
typedef struct corio__batch {
    size_t n;                  /* number of items */
    corio__batch_item items[]; /* outcomes, in input order */
} corio__batch;

typedef struct corio__executor_vt {
    /* Submit one job; `bytes` selects the copying form. */
    corio_future *(*submit)(corio_executor *ex, corio_fn fn, void *arg, const void *data,
                            size_t len, int bytes, int *err);
    /* Submit a chunk as one job: the future's value is a corio__batch with
     * one outcome per item (items are pointers, or corio_value * when bytes). */
    corio_future *(*submit_batch)(corio_executor *ex, corio_fn fn, void *const *items, size_t n,
                                  int bytes, int *err);
    /* Shutdown; timeout < 0: plain Python shutdown(wait). */
    int (*shutdown)(corio_executor *ex, int wait, int cancel_futures, double timeout);
    /* Release everything (after a waiting shutdown). */
    void (*destroy)(corio_executor *ex);
    /* Fill *m (zeroed by the caller); NULL: the kind has no metrics. */
    int (*metrics)(corio_executor *ex, struct corio_executor_metrics *m);
    /* corio_executor_inspect: fill every field but max_workers. */
    void (*inspect)(const corio_executor *ex, corio_executor_stats *st);
} corio__executor_vt;

/* The largest byte payload of one job on either pool (the process pool's
 * wire limit, CORIO__WIRE_MAX_PAYLOAD): -EMSGSIZE beyond it. */
#define CORIO__EXECUTOR_MAX_BYTES ((size_t)1 << 30)

/* Executors alive in this process, joined by an atexit handler (executor.c). */
void corio__executor_register(corio_executor *ex);
void corio__executor_unregister(corio_executor *ex);
/* In a forked child: forget the parent's executors (they have no workers here). */
void corio__executor_forget_all(void);

/* The common head of every executor. */
struct corio_executor {
    const corio__executor_vt *vt; /* the pool kind's operations */
    int max_workers;              /* for map's default window */
    _Atomic int broken;           /* set once a worker failure broke the pool */
    struct corio_executor *exit_next; /* the list joined at exit (executor.c's exit_lock) */
    pid_t exit_pid;               /* the process that created it (a forked child skips it) */
    unsigned fork_gen;            /* corio__fork_gen() when it was created (see executor.c) */
};

/* How many fork()s lie between the first process and this one (0 in the
 * process that never forked; a pthread_atfork child handler counts them).
 * An executor created under another count belongs to an ancestor. */
unsigned corio__fork_gen(void);

/* Run a batch in the current thread (thread pool helper). */
void corio__batch_run(corio_fn fn, corio__batch *b);
void corio__batch_free(void *b);

/* Log a message to stderr with a "corio: " prefix. */
void corio__log(const char *fmt, ...) CORIO_PRINTF(1, 2);

#endif /* CORIO_INTERNAL_H */
