/* corio — the parker: the single mechanism through which corio blocks.
 *
 * A plain thread parks on a futex; a coroutine parks through the scheduler
 * hooks the coroutine runtime installs. Everything that waits (future
 * results, wait, as_completed, map, channels, mutexes) is written once, on
 * top of this. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

CORIO__TLS_HOT void *corio__tls_coro;
const corio__sched_ops *_Atomic corio__sched;
CORIO__TLS_HOT unsigned corio__tls_nscopes;
CORIO__TLS_HOT corio__scope *corio__tls_thread_scope;

/* A plain thread's park record, reached by corio_scope_cancel from other
 * threads through the scopes the thread entered. The lock orders the
 * canceller's look at `parked` against the thread's publishing and
 * withdrawing it: a canceller that finds it set unparks a parker that is
 * still in use, and one that finds it NULL has stored its cancel flag
 * before the thread's next check (which follows its taking the lock). */
typedef struct corio__tpark {
    pthread_mutex_t lock;  /* guards parked */
    corio__parker *parked; /* the parker this thread is blocked on, or NULL */
} corio__tpark;

static _Thread_local corio__tpark tpark = {PTHREAD_MUTEX_INITIALIZER, NULL};

void *corio__parker_thread_self(void) { return &tpark; }

void corio__parker_kick_thread(void *arg) {
    corio__tpark *t = arg;
    pthread_mutex_lock(&t->lock);
    if (t->parked)
        corio__parker_unpark(t->parked);
    pthread_mutex_unlock(&t->lock);
}

int64_t corio__scope_limit_slow(void) {
    if (corio__tls_coro) {
        const corio__sched_ops *ops = atomic_load_explicit(&corio__sched, memory_order_acquire);
        return ops->limit();
    }
    corio__scope *s = corio__tls_thread_scope;
    return s ? s->limit : INT64_MAX;
}

/* Publish p as this thread's parked parker (while it has scopes), then
 * look at the scopes: 1 when they are cancelled (p withdrawn again). */
static int thread_scope_begin(corio__parker *p) {
    pthread_mutex_lock(&tpark.lock);
    tpark.parked = p;
    pthread_mutex_unlock(&tpark.lock);
    if (corio__scope_chain_stopped(corio__tls_thread_scope, 0)) {
        pthread_mutex_lock(&tpark.lock);
        tpark.parked = NULL;
        pthread_mutex_unlock(&tpark.lock);
        return 1;
    }
    return 0;
}

static void thread_scope_end(void) {
    pthread_mutex_lock(&tpark.lock);
    tpark.parked = NULL;
    pthread_mutex_unlock(&tpark.lock);
}

int corio__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns) {
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != INT64_MAX) {
        /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
         * spurious wake never stretches the total wait. */
        ts.tv_sec = deadline_ns / 1000000000;
        ts.tv_nsec = deadline_ns % 1000000000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, tsp,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return -ETIMEDOUT;
    return 0;
}

void corio__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* Back to IDLE after a wake-up. This must be an atomic exchange, never a
 * plain store: with several notifiers (wait, as_completed), a second unpark
 * can land between our seeing NOTIFIED and resetting the state. A store
 * would overwrite its NOTIFIED, and (x86 lets the caller's next load of its
 * condition pass the store) the caller could miss the condition as well and
 * park for good. As a read-modify-write, the reset is ordered against every
 * unpark's exchange: a later unpark leaves NOTIFIED for the next park, an
 * earlier one is read here, and acquiring it makes what it published
 * visible. */
static inline void parker_reset(corio__parker *p) {
    atomic_exchange_explicit(&p->state, CORIO__IDLE, memory_order_acq_rel);
}

static int thread_park(corio__parker *p, int64_t deadline_ns);

void corio__parker_init(corio__parker *p) {
    atomic_init(&p->state, CORIO__IDLE);
    p->coro = corio__tls_coro;
    p->what = NULL;
    p->obj = NULL;
}

int corio__parker_park(corio__parker *p, int64_t deadline_ns) {
    deadline_ns = corio__scope_clip(deadline_ns);
    if (p->coro) {
        const corio__sched_ops *ops = atomic_load_explicit(&corio__sched, memory_order_acquire);
        if (ops->cancelled())
            return -ECANCELED;
        uint32_t expect = CORIO__IDLE;
        /* acq_rel: the acquire half pairs with unpark's release so that,
         * when we find NOTIFIED, we also see what the notifier published. */
        if (!atomic_compare_exchange_strong_explicit(&p->state, &expect, CORIO__PARKED,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            parker_reset(p);
            return 0; /* already notified */
        }
        int r = ops->park(p, deadline_ns);
        parker_reset(p);
        return r;
    }
    /* A thread inside scopes: a cancel from another thread must be able
     * to wake it (corio__parker_kick_thread). */
    int scoped = corio__tls_thread_scope != NULL;
    if (scoped && thread_scope_begin(p))
        return -ECANCELED;
    int r = thread_park(p, deadline_ns);
    /* A kick returns 0 like any wake-up: the caller re-checks its
     * condition and parks again, and that park reports the cancel. */
    if (scoped)
        thread_scope_end();
    return r;
}

/* A plain thread's park on the futex. */
static int thread_park(corio__parker *p, int64_t deadline_ns) {
    uint32_t expect = CORIO__IDLE;
    if (!atomic_compare_exchange_strong_explicit(&p->state, &expect, CORIO__PARKED,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        parker_reset(p);
        return 0;
    }
    int r = 0;
    while (atomic_load_explicit(&p->state, memory_order_acquire) == CORIO__PARKED) {
        if (corio__futex_wait(&p->state, CORIO__PARKED, deadline_ns) == -ETIMEDOUT) {
            /* Timed out: withdraw unless a notification raced in. */
            expect = CORIO__PARKED;
            if (atomic_compare_exchange_strong_explicit(&p->state, &expect, CORIO__IDLE,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire))
                return -ETIMEDOUT;
            break;
        }
    }
    parker_reset(p);
    return r;
}

void corio__parker_unpark(corio__parker *p) {
    /* release: publishes whatever the notifier wrote before waking. */
    uint32_t old = atomic_exchange_explicit(&p->state, CORIO__NOTIFIED, memory_order_acq_rel);
    if (old != CORIO__PARKED)
        return;
    if (p->coro) {
        const corio__sched_ops *ops = atomic_load_explicit(&corio__sched, memory_order_acquire);
        ops->unpark(p);
    } else {
        corio__futex_wake(&p->state, 1);
    }
}
