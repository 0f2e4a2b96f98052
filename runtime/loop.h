/* corio — internal interface of loops and coroutines, used by the runtime,
 * the I/O calls and the sync objects.
 *
 *  thread k ──runs──▶ loop k ──owns──▶ io_uring, run queue, timer heap, stack pool
 *                        ▲
 *   other threads ──inbox (MPSC stack) + eventfd (only while the loop sleeps)
 */
#ifndef CORIO_LOOP_H
#define CORIO_LOOP_H

#include <liburing.h>
#include <sched.h>

#include "corio/runtime.h"
#include "fiber.h"
#include "internal.h"
#include "stack.h"

typedef struct corio__loop corio__loop;
typedef struct corio__coro corio__coro;

/* A message in a loop's inbox. Every message is embedded in the object it
 * concerns, so posting never allocates. */
typedef struct corio__msg {
    struct corio__msg *next; /* inbox link (written before the publishing CAS) */
    int kind;                /* CORIO__MSG_* */
} corio__msg;

enum {
    CORIO__MSG_START = 1, /* a coroutine spawned from another thread: start it */
    CORIO__MSG_WAKE,      /* a parked coroutine was unparked by another thread */
    CORIO__MSG_CANCEL,    /* cancellation of a coroutine was requested */
    CORIO__MSG_STOP,      /* the runtime is stopping (loop's own message) */
    CORIO__MSG_DRAIN,     /* the runtime drains: count what is live (loop's own) */
    CORIO__MSG_DRAIN_CANCEL, /* the drain's deadline passed: cancel what is live */
    CORIO__MSG_CALL,      /* run a function on the loop (corio__call_msg) */
};

typedef struct corio__call_msg corio__call_msg;
/* A message that runs fn(l, m) on the loop's thread, between coroutines:
 * for work that must see the loop's own data (the coroutine dump). The
 * poster owns m and must keep it valid until fn has run. */
struct corio__call_msg {
    corio__msg m;                                  /* kind CORIO__MSG_CALL; must stay first */
    void (*fn)(corio__loop *l, corio__call_msg *m); /* what to run */
};

typedef struct corio__op corio__op;
/* Called once when a coroutine has ended (its future f is done), on its
 * loop's thread, or on the thread that gives up a coroutine that never
 * started (launch failure, runtime destroy). Must not block. */
typedef void (*corio__end_fn)(void *arg, corio_future *f);
/* An end hook and its argument, kept by its owner (the group), so that a
 * coroutine record carries one pointer for both. */
typedef struct corio__end_hook {
    corio__end_fn fn; /* called once at the end */
    void *arg;        /* its argument */
} corio__end_hook;
/* Handler of a multishot operation's CQEs (see corio__op.on_cqe). */
typedef void (*corio__cqe_fn)(corio__loop *l, corio__op *op, struct io_uring_cqe *cqe);

/* A ring operation in flight for a coroutine; lives on its stack, or, for
 * a multishot operation, in the object that armed it. */
struct corio__op {
    corio__coro *coro; /* the coroutine to resume when all CQEs are in */
    int res;           /* cqe->res of the operation */
    uint32_t flags;    /* cqe->flags of the operation */
    int pending;       /* CQEs still expected: 1, or 2 with a linked timeout */
    int timed_out;     /* the linked timeout fired */
    int fd;            /* the SQE's fd and opcode, for the dump */
    unsigned char opcode;
    int64_t since;     /* coarse clock at submission, for the dump */
    /* NULL for a one-shot op awaited with corio__loop_await. Otherwise a
     * multishot op (never awaited, never linked to a timeout): every CQE
     * goes to on_cqe, and the loop counts the op in `inflight` until a CQE
     * without IORING_CQE_F_MORE ends it (the armer adds 1 when it submits). */
    corio__cqe_fn on_cqe;
};

struct corio__coro {
    corio__fiber fiber;      /* context and stack; must stay first */
    corio__loop *loop;       /* home loop, for life */
    corio_future *future;    /* its outcome; the coroutine holds one reference */
    corio_fn fn;             /* body */
    void *arg;               /* body's argument */
    corio__coro *next;       /* run-queue link (loop thread only) */
    corio__coro *all_prev, *all_next; /* the loop's list of live coroutines */
    corio__msg wake_msg;     /* START or WAKE, posted by other threads */
    corio__msg cancel_msg;   /* CANCEL ("look at me"), posted by the future's canceller
                              * and by corio__coro_kick; at most one in flight */
    _Atomic int cancel_req;  /* the future's canceller ran (set before posting) */
    _Atomic int msg_posted;  /* cancel_msg is in (or on its way to) the inbox */
    int park_res;            /* what park() returns: 0, -ETIMEDOUT, -ECANCELED */
    unsigned char cancelled; /* cancel seen by the loop: blocked calls end with -ECANCELED */
    unsigned char finished;  /* body returned; waiting to be freed */
    unsigned char system;    /* the library's own cleanup work (corio__spawn_system) */
    unsigned char sent;      /* its last ring op was a send that sent (io.c) */
    corio__parker *parker;   /* set while parked through a parker */
    corio__op *op;           /* set while waiting for a ring operation */
    corio__coro *joiner;     /* a coroutine of this loop joined on us (see sched_join), or NULL */
    corio__coro *joining;    /* while we are joined on that coroutine, it; else NULL */
    union {
        size_t stack_size;   /* before its first run: the requested stack size (0: default) */
        int64_t deadline;    /* after: parked with a deadline (timer heap key) */
    };
    size_t heap_idx;         /* position in the timer heap, SIZE_MAX if absent */
    corio__scope *scope;     /* innermost cancel scope entered, or NULL (own thread only) */
    const corio__end_hook *end; /* its group's hook, or NULL (set before it is shared) */
    const char *name;        /* corio_coro_set_name's (caller-owned) string, or NULL */
};

/* Do the coroutine's blocking calls end with -ECANCELED now? Its own
 * cancel request, unless a shield holds it off, or a cancelled scope. */
static inline int corio__coro_stopped(const corio__coro *c) {
    if (__builtin_expect(c->scope == NULL, 1))
        return c->cancelled;
    return corio__scope_chain_stopped(c->scope, c->cancelled);
}

struct corio_runtime;

/* Work run on a loop's thread when the loop ends (its last coroutine gone,
 * the ring still open): other parts free their per-loop state there (the
 * resolver's c-ares channel). Embedded in that state; linked by the loop
 * thread only. */
typedef struct corio__loop_hook {
    struct corio__loop_hook *next;                        /* next hook, or NULL */
    void (*fn)(corio__loop *l, struct corio__loop_hook *h); /* called once, may free h */
} corio__loop_hook;
/* Memory a per-loop cache can give back once its loop has gone quiet (the
 * block cache's blocks, the provided-buffer ring's free buffers): one
 * mechanism for all of them. The owner embeds a corio__quiet, sets trim,
 * and calls corio__quiet_use on each use of the resource. The first use
 * arms it; the loop then looks at it the first time it wakes from a sleep
 * at or after CORIO__LOOP_QUIET_NS from the arming (the sleep is bounded
 * by that time), after it has handled every completion the kernel posted.
 * If the resource was used since the last look the loop looks again a
 * period later; if not, it calls trim once and disarms it until the next
 * use. A loop that never sleeps never trims. Loop thread only; an armed
 * corio__quiet is forgotten, not trimmed, when the loop ends. */
#define CORIO__LOOP_QUIET_NS 100000000 /* 100 ms */
typedef struct corio__quiet {
    struct corio__quiet *next;                         /* next armed one (loop's list) */
    void (*trim)(corio__loop *l, struct corio__quiet *q); /* give the memory back */
    uint64_t uses;                                     /* uses noted, ever */
    uint64_t seen;                                     /* uses at the last look */
    int armed;                                         /* linked in the loop's list */
} corio__quiet;
/* A loop's counters: written only by the loop's thread (corio__count: a
 * plain load, add and store, no locked instruction), read by any thread
 * with relaxed loads (corio_loop_metrics_get), so a reading is a snapshot
 * of each counter, not of all together. */
typedef struct corio__loop_counters {
    _Atomic uint64_t spawned;        /* coroutines started on this loop */
    _Atomic uint64_t ended;          /* of those, freed after their end */
    _Atomic uint64_t runnable;       /* coroutines run by the last run-queue pass */
    _Atomic uint64_t switches;       /* coroutines resumed by the scheduler */
    _Atomic uint64_t ring_enters;    /* submit / wait calls into the ring */
    _Atomic uint64_t ring_submitted; /* SQEs the kernel took */
    _Atomic uint64_t ring_completed; /* CQEs reaped */
    _Atomic uint64_t sleeps;         /* times the loop blocked in the ring */
    _Atomic uint64_t timers;         /* timers (parked deadlines) pending, at the last pass */
    _Atomic uint64_t timers_fired;   /* deadlines that expired */
    _Atomic uint64_t inbox_msgs;     /* messages taken from the inbox */
    _Atomic uint64_t eventfd_wakes;  /* eventfd reads completed (wake-ups by other threads) */
    _Atomic uint64_t stack_hits;     /* stacks served from the loop's cache */
    _Atomic uint64_t stack_misses;   /* stacks that had to be mapped */
    const char *_Atomic current_name; /* that coroutine's name (corio_coro_set_name), or NULL */
    _Atomic uint64_t current_id;     /* id of the coroutine the scheduler resumed last,
                                      * 0 while the scheduler runs (stall watchdog) */
    _Atomic int tid;                 /* the loop thread's kernel id (stall backtraces) */
} corio__loop_counters;

/* Add n to a counter of the calling loop's own (see corio__loop_counters). */
static inline void corio__count(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* What a loop does to a coroutine on its messages, supplied by coro.c.
 * runtime.c, which depends on both, hands it to each loop it starts, so
 * loop.c never calls into coro.c: the reactor knows coroutines as fibers
 * to switch to and messages to hand back, and the dependency points one
 * way (coro.c -> loop.c). */
typedef struct corio__coro_ops {
    int (*launch)(corio__coro *c);      /* MSG_START: link it, make it ready */
    int (*stack)(corio__coro *c);       /* before its first run: stack + fiber;
                                         * 0, or < 0 when it was ended instead */
    void (*free)(corio__coro *c);       /* a finished coroutine's last step */
    void (*cancel_now)(corio__coro *c); /* MSG_CANCEL with a cancel request */
    void (*interrupt)(corio__coro *c);  /* MSG_CANCEL for a cancelled scope */
} corio__coro_ops;

struct corio__loop {
    int id;                         /* loop number in its runtime */
    const corio__coro_ops *ops;     /* set before corio__loop_start */
    struct corio_runtime *rt;       /* owning runtime */
    pthread_t thread;               /* the loop's thread */
    struct io_uring ring;           /* this loop's ring (created on its thread) */
    unsigned ring_entries;          /* SQ size asked for */
    unsigned setup_flags;           /* IORING_SETUP_* flags the kernel accepted */
    int ring_ok;                    /* ring initialised */
    int start_err;                  /* error from the thread's set-up, reported to create */
    corio__fiber sched;             /* the scheduler's own (thread-stack) context */
    corio__coro *current;           /* running coroutine, NULL in the scheduler */
    corio__coro *rq_head, *rq_tail; /* run queue (FIFO), loop thread only */
    corio__coro *pass_next;         /* run_ready: the rest of its current pass, or NULL */
    corio__coro *zombies;           /* finished coroutines whose stacks the scheduler
                                     * frees when it next runs (linked by `next`) */
    uint64_t direct_pass;           /* direct starts (coro.c, sched_join): the scheduler
                                     * pass they were counted in, loop thread only */
    unsigned direct_left;           /* direct starts that pass has left */
    size_t inflight;                /* ring operations awaited by coroutines */
    corio__coro *live;              /* all live coroutines (for shutdown) */
    size_t nlive;                   /* their number */
    corio__msg *_Atomic inbox;      /* MPSC stack of messages from any thread */
    _Atomic int sleeping;           /* loop is (about to be) blocked in the ring */
    int pin_cpu;                    /* the CPU it is pinned to, -1 if not pinned (loop thread) */
    cpu_set_t free_cpus;            /* its CPUs before pinning (if pinned; loop thread) */
    int efd;                        /* eventfd other threads write to wake the loop */
    uint64_t efd_buf;               /* target of the ring's read on efd */
    int efd_armed;                  /* that read is in flight */
    int efd_queued;                 /* that read is in the SQ, not yet submitted */
    int spin_ok;                    /* more than one CPU online: polling may pay */
    int spin;                       /* last sleep was short and ended by the inbox:
                                     * poll the inbox before the next one (loop.c) */
    corio__msg stop_msg;            /* STOP message */
    corio__msg drain_msg;           /* DRAIN message (drain start) */
    corio__msg drain_cancel_msg;    /* DRAIN_CANCEL message (drain deadline) */
    int drain_phase;                /* 0; 1 draining; 2 past the drain's deadline (loop thread) */
    int drain_reported;             /* told the drainer it has no live coroutine (loop thread) */
    _Atomic size_t drain_finished;  /* coroutines that ended in phase 1 (read by the drainer) */
    _Atomic size_t drain_cancelled; /* coroutines cancelled at the deadline (same) */
    int stopping;                   /* STOP seen: cancel everything, exit when empty */
    corio__coro **heap;             /* timer min-heap on deadline */
    size_t heap_len, heap_cap;      /* its length and capacity */
    corio__stack_pool stacks;       /* stack cache */
    size_t default_stack;           /* runtime's default stack size */
    pthread_mutex_t start_lock;     /* start-up handshake with create */
    pthread_cond_t start_cond;      /* signalled when the ring is ready or failed */
    int started;                    /* handshake state */
    corio__loop_hook *exit_hooks;   /* run by the loop thread as it ends (loop thread only) */
    corio__quiet *quiet;            /* armed corio__quiet, looked at once slept until quiet_at */
    int64_t quiet_at;               /* when they are due (monotonic ns; loop thread) */
    void *resolver;                 /* the resolver's per-loop state, or NULL (resolve.c) */
    corio__loop_counters m;         /* metrics (see corio__loop_counters) */
};

/* A function the runtime calls when a drain starts (gone 0), and when the
 * runtime is destroyed with the hook still registered (gone 1: forget rt,
 * do not unregister). See corio__runtime_on_drain. */
typedef void (*corio__drain_fn)(corio_runtime *rt, void *arg, int gone);

typedef struct corio__drain_hook {
    struct corio__drain_hook *next; /* next registration */
    corio__drain_fn fn;             /* what to call */
    void *arg;                      /* its argument */
} corio__drain_hook;

struct corio__dumper;

struct corio_runtime {
    int nloops;                  /* number of loops */
    corio__loop *loops;          /* the loops */
    _Atomic int stopping;        /* no new spawns (drain or destroy) */
    _Atomic int destroying;      /* corio_runtime_destroy began: not even system spawns */
    corio_executor *blocking;    /* blocking pool for corio_to_thread */
    corio_runtime_options opts;  /* options as resolved */
    _Atomic int draining;        /* corio_runtime_drain was called (once) */
    _Atomic int drain_loops;     /* loops that still have live coroutines in the drain */
    corio__parker drain_parker;  /* the drainer's, woken when drain_loops hits 0; in rt (not on
                                  * the drainer's stack) so that the last loop's unpark never
                                  * touches memory the drainer has already left */
    pthread_mutex_t hooks_lock;  /* guards hooks */
    corio__drain_hook *hooks;    /* called when a drain starts */
    struct corio__dumper *dumper; /* corio_runtime_dump_on_signal's thread, or NULL */
    struct corio__stall *stall;  /* corio_runtime_stall_watch's thread, or NULL */
};

/* dump.c: stop the signal dumper of rt, if any (runtime destroy). */
void corio__dump_stop(corio_runtime *rt);
/* stall.c: stop the stall watchdog of rt, if any (runtime destroy). */
void corio__stall_stop(corio_runtime *rt);

/* Register fn(rt, arg, 0) to run once when corio_runtime_drain starts, on
 * the draining thread, before it waits (a listener closes itself there:
 * it may only post to its own loop, not block). Returns 0 or -ENOMEM.
 * Unregister with corio__runtime_off_drain (same fn and arg) before arg
 * is freed; if rt is destroyed first, fn(rt, arg, 1) tells arg so, and
 * arg must then not unregister. Both calls hold the hook lock that
 * off_drain takes: arg is alive during them. */
int corio__runtime_on_drain(corio_runtime *rt, corio__drain_fn fn, void *arg);
void corio__runtime_off_drain(corio_runtime *rt, corio__drain_fn fn, void *arg);

/* The loop running on this thread, NULL elsewhere. */
extern CORIO__TLS_HOT corio__loop *corio__tls_loop;


/* --- loop.c --- */
int corio__loop_start(corio__loop *l);       /* start the thread; waits for the ring */
/* Loop thread, during a drain: tell the drainer once this loop has no
 * live coroutine left. */
void corio__loop_drain_check(corio__loop *l);
void corio__loop_post(corio__loop *l, corio__msg *m); /* any thread */
void corio__loop_make_ready(corio__loop *l, corio__coro *c); /* loop thread */
int64_t corio__loop_idle_until(int64_t until); /* corio__sched_ops.idle_until; loop thread */
/* Link q in l's quiet list (q not armed; corio__quiet_use calls it). */
void corio__loop_arm_quiet(corio__loop *l, corio__quiet *q);
static inline void corio__quiet_use(corio__loop *l, corio__quiet *q) {
    q->uses++;
    if (!q->armed)
        corio__loop_arm_quiet(l, q);
}
/* Suspend the current coroutine back to the scheduler (loop thread). */
void corio__coro_suspend(corio__coro *c);
/* An SQE of the current loop; submits to make room when the SQ is full.
 * Never NULL. Loop thread only. */
struct io_uring_sqe *corio__loop_sqe(corio__loop *l);
/* Submit the operation prepared in `sqe` for the current coroutine and
 * suspend until it completes. timeout < 0: none. Returns cqe->res, or
 * -ETIMEDOUT when the linked timeout fired, -ECANCELED when cancelled. The
 * op's CQE flags are stored in *flags when not NULL. */
int corio__loop_await(corio__loop *l, struct io_uring_sqe *sqe, double timeout, uint32_t *flags);
void corio__timer_add(corio__loop *l, corio__coro *c);
void corio__timer_del(corio__loop *l, corio__coro *c);

/* --- coro.c --- */
extern const corio__coro_ops corio__coro_ops_default;
/* A coroutine whose future has `refs` references: its own, plus the
 * spawner's. */
corio__coro *corio__coro_new(corio__loop *l, corio_fn fn, void *arg, size_t stack_size, int refs);
int corio__coro_launch(corio__coro *c); /* loop thread: link it, make it ready */
int corio__coro_stack(corio__coro *c);  /* loop thread, before its first run: stack + fiber */
void corio__coro_free(corio__coro *c);  /* loop thread, after it finished */
void corio__coro_cancel_now(corio__coro *c); /* loop thread: act on a cancel */
/* Loop thread: end what c waits on with -ECANCELED if it is now stopped
 * (a scope of its was cancelled). */
void corio__coro_interrupt(corio__coro *c);
/* Any thread: make c re-check its scopes (corio_scope_cancel). c must be
 * alive: the caller holds a scope of c entered. */
void corio__coro_kick(corio__coro *c);
/* Any thread: post c's CANCEL message unless one is in flight, so that
 * its loop looks at its cancel request and scopes. */
void corio__coro_post_attention(corio__coro *c);
void corio__sched_install(void);
/* corio_spawn_on with the future's reference count (2: the coroutine's
 * and one returned; 3: one more for the caller to keep) and an end hook
 * (may be NULL). On failure NULL and *err; a future returned with *err set
 * is already done (launch failed), and its hook has run. */
corio_future *corio__spawn(corio_runtime *rt, int loop, corio_fn fn, void *arg,
                           const corio_spawn_options *opts, int refs,
                           const corio__end_hook *end, int *err);
/* The library's own short cleanup work on loop `loop` (a listener's
 * acceptor release): unlike corio_spawn_on it is accepted after a drain
 * began, and a drain does not cancel it, until corio_runtime_destroy
 * starts (then CORIO_ESHUTDOWN). Returns the future (2 references) or NULL
 * with *err. */
corio_future *corio__spawn_system(corio_runtime *rt, int loop, corio_fn fn, void *arg, int *err);

#endif /* CORIO_LOOP_H */
