/* corio — the thread pool's internal interface, shared by its two parts:
 *
 *   thread_pool.c  the pool: submit, the queue, the workers and their
 *                  sleep protocol, shutdown, create and destroy
 *   tp_observe.c   what watches it: the deadlock check of a worker's
 *                  blocking wait, metrics and inspect
 *
 * tp_observe.c depends on this header only; thread_pool.c names its
 * functions in the vtable and the wait hook. The design (the queue, the
 * counters, the memory ordering) is described at the top of thread_pool.c.
 */
#ifndef CORIO_TP_INTERNAL_H
#define CORIO_TP_INTERNAL_H

#include <sched.h>

#include "internal.h"

/* `state`: places reserved by submits (taken back when refused) and flags. */
#define ST_SHUTDOWN ((uint64_t)1 << 62) /* no new submits; exit when the count is 0 */
#define ST_BROKEN ((uint64_t)1 << 63)   /* an initializer failed: no new submits, exit */
#define ST_FLAGS (ST_SHUTDOWN | ST_BROKEN)
#define ST_COUNT (ST_SHUTDOWN - 1)

/* A job lives after its future in one slab slot (future.c): with the
 * future, three cache lines. submit_bytes puts a corio_value and the bytes
 * after it, in a larger allocation.
 *
 *   | corio_future | job (48 bytes) | [corio_value | argument bytes] |
 */
typedef struct job {
    struct job *_Atomic next; /* queue link; after the pop, a private list link */
    corio_fn fn;              /* the task */
    void *arg;                /* its argument (or the corio_value after the job) */
    corio_future *f;          /* the job's future (the queue's reference) */
    corio__batch *batch;      /* a map chunk, or NULL */
    int64_t submitted_ns;     /* submit time of a sampled job (queue-wait histogram), else 0 */
} job;

_Static_assert(sizeof(job) <= CORIO__FUTURE_EXT_SMALL, "a job fits the future's smallest slab");

/* A worker's flag "completing a job's future, not yet back at the queue",
 * on a cache line of its own: set and cleared once per job, so a shared
 * counter would bounce between the workers on every job. */
typedef struct finishing_flag {
    _Atomic int on;        /* 1 while finishing */
    _Atomic int running;   /* 1 while running a job's function (metrics, inspect) */
    _Atomic int tid;       /* the worker's kernel thread id while it lives, else 0 */
    unsigned nsample;      /* jobs since the last timed one (worker only) */
    _Atomic uint64_t jobs; /* jobs this worker ran (metrics); worker-written only */
    corio_future *_Atomic current; /* the job's future while its function runs (deadlocks) */
    _Atomic uint64_t *hist; /* this worker's run-time buckets (CORIO_METRICS_BUCKETS) */
    _Atomic uint64_t *qhist; /* this worker's queue-wait buckets (CORIO_METRICS_BUCKETS) */
    char pad[64 - 4 * sizeof(int) - sizeof(uint64_t) - 3 * sizeof(void *)]; /* the rest of the line */
} finishing_flag;

_Static_assert(sizeof(finishing_flag) == 64, "a worker's flags fill one cache line");

typedef struct thread_pool {
    corio_executor base;        /* common executor head (must be first) */
    /* The pads keep the submit side, the worker side and the rest on
     * separate cache lines (the pool comes from calloc: no 64-byte
     * alignment to rely on, so separation is by distance). */
    char pad0[64];              /* see above */
    _Atomic uint64_t state;     /* queued count | ST_SHUTDOWN | ST_BROKEN */
    job *_Atomic tail;          /* last linked job (or the stub); submits exchange it */
    char pad1[64];              /* see above */
    _Atomic int pop_lock;       /* spin lock serialising consumers of the queue (see pop_lock) */
    _Atomic uint64_t taken;     /* jobs popped since the start; written under pop_lock (see queued) */
    job *head;                  /* next to pop (or the stub); under pop_lock */
    job stub;                   /* the queue's placeholder node (Vyukov) */
    char pad2[64];              /* see above */
    _Atomic int spinning;       /* idle workers polling the count (0 or 1) */
    _Atomic uint64_t sleepers;  /* SL_*: unclaimed sleepers (high half), tokens (low half, futex) */
    finishing_flag *finishing;  /* max_workers flags, worker i uses finishing[i] */
    _Atomic uint64_t *hist;     /* 2 * max_workers rows of CORIO_METRICS_BUCKETS (finishing[i].hist, .qhist) */
    char pad3[64];              /* see above */
    pthread_mutex_t lock;       /* guards starting workers, threads[], broken_msg */
    _Atomic int nthreads;       /* workers started (alive or exited, not joined); written under lock */
    pthread_t *threads;         /* max_workers slots, first nthreads used */
    unsigned char *joined;      /* joined[i]: threads[i] was joined; guarded by join_lock */
    pthread_mutex_t join_lock;  /* serialises joining in shutdown(wait) */
    char prefix[16];            /* thread name prefix */
    corio_init_fn initializer;  /* per-worker initializer, or NULL */
    void *initargs;             /* its argument */
    char broken_msg[256];       /* why the pool broke */
    int blocked_on_queue;       /* workers waiting on a job queued in this pool; under lock */
    corio__wait_hook wait_hook; /* the workers' deadlock check (see wait_begin) */
} thread_pool;

/* The count says a job is queued but it is not linked yet: its producer is
 * between its reservation and its link, a few instructions, unless it was
 * preempted; after a while, give it the CPU. */
static inline void pause_for_producer(unsigned *spins) {
    if (++*spins % 64 == 0) {
        sched_yield();
        return;
    }
    corio__cpu_relax();
}

/* The consumers' lock. Held for a pop (a dozen instructions) or a drain,
 * so a spin lock: one exchange to take, a plain release store to release
 * (a mutex's unlock is a locked instruction). A holder preempted on a busy
 * machine is given the CPU by the yield. */
static inline void pop_lock(thread_pool *p) {
    unsigned spins = 0;
    while (atomic_exchange_explicit(&p->pop_lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&p->pop_lock, memory_order_relaxed))
            pause_for_producer(&spins);
}

static inline void pop_unlock(thread_pool *p) {
    atomic_store_explicit(&p->pop_lock, 0, memory_order_release);
}

/* Jobs queued or being queued: reservations minus jobs taken. `taken` is
 * read first: every job it counts had its reservation made before (the
 * release above), so the count read after includes them and the
 * difference cannot wrap; at worst it counts a job taken meanwhile, and
 * the caller looks again. seq_cst: one side of the Dekker pair with a
 * worker going to sleep (see worker_main). */
static inline uint64_t queued(thread_pool *p) {
    uint64_t t = atomic_load_explicit(&p->taken, memory_order_seq_cst);
    return (atomic_load_explicit(&p->state, memory_order_seq_cst) & ST_COUNT) - t;
}

/* tp_observe.c: the workers' wait hook (corio__wait_hook), the deadlock
 * check; see there. */
int corio__tp_wait_begin(void *arg, corio_future *f, int64_t deadline_ns);
void corio__tp_wait_end(void *arg);

/* tp_observe.c: the vtable's metrics and inspect. */
int corio__tp_metrics(corio_executor *ex, corio_executor_metrics *m);
void corio__tp_inspect(const corio_executor *ex, corio_executor_stats *st);

#endif /* CORIO_TP_INTERNAL_H */
