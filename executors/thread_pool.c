/* corio — the thread pool (Python's ThreadPoolExecutor).
 *
 * Jobs live in the extra storage of their own future (one allocation per
 * submit) and wait in a FIFO. Workers start lazily: a submit starts a new
 * worker only when no idle worker can take the job, up to max_workers.
 *
 * The FIFO is an intrusive multi-producer queue (Vyukov's MPSC list):
 * a submit links its job with one atomic exchange and takes no lock;
 * workers pop one job at a time under `pop_lock`, which only workers (and
 * the drains at shutdown and breakage) take. Submitters and workers meet in
 * two counters: `state`, the places reserved by submits since the start
 * plus the SHUTDOWN and BROKEN flags, written by submitters only, and
 * `taken`, the jobs popped, written by pop_lock holders only, on the
 * workers' cache line; the jobs queued or being queued are the difference
 * (see queued). A busy worker pops straight from the list and never reads
 * `state`, so the line a submit writes stays in the submitter's cache. A
 * submit reserves its place with one fetch-add on `state` before linking
 * the job, so
 *   - a submit that got in before shutdown() or breakage set its flag is
 *     counted, and whoever drains or exits waits until its job is linked;
 *   - a submit that finds a flag set takes its reservation back and fails.
 * A worker exits when the count is 0 and SHUTDOWN is set (or at BROKEN).
 *
 * Wake-ups cost a futex call, so they are avoided where possible: a worker
 * that runs out of work first spins for a short while (SPIN_NS) polling the
 * count, and a submit wakes a sleeper only when more jobs are queued than
 * spinning and finishing workers can take. Sleeping is a semaphore in one
 * word, `sleepers`: the workers committed to sleep and not yet claimed by
 * a waker (high half), and the wake-up tokens posted for claimed ones (low
 * half, the futex word). A worker announces itself in the high half,
 * re-reads `state` and sleeps until it gets a token only if it still shows
 * no job; a submit increments the count, then reads the high half. All
 * four accesses are seq_cst, so at least one side sees the other and no
 * wake-up is lost. A waker claims one sleeper and posts its token in one
 * step, so a burst of submits wakes each sleeper once, not once per submit
 * while the sleeper is still on its way back. Tokens are anonymous: any
 * sleeper may take one. So a sleeper that finds a job itself leaves in one
 * step too: it takes back one unclaimed count if there is one, else a
 * token (there is then one for it: the two halves always add up to the
 * workers between announcing themselves and leaving). Deciding between
 * the two from one read and acting on the other, as two separate words
 * did, lost wake-ups: a worker back asleep could take the token meant for
 * it, or its stale count remain for a waker to claim in vain.
 * tests/model/thread_pool_sleep.py checks this protocol (and shows those
 * two losing wake-ups) over every interleaving of a few workers.
 *
 * The pool mutex is left to the slow path: starting workers (while fewer
 * than max_workers run), the shutdown bookkeeping and joining.
 *
 * The pool's types and the queue's lock and count are in tp_internal.h;
 * the deadlock check, metrics and inspect in tp_observe.c.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "tp_internal.h"

/* How long an idle worker polls for new work before sleeping. Long enough to
 * cover a submit/result round trip, short enough to cost nothing noticeable
 * when the pool goes quiet. */
#define SPIN_NS 50000

/* `sleepers`: one unclaimed sleeper is SL_ONE, one token is 1. */
#define SL_ONE ((uint64_t)1 << 32)
#define SL_SLEEPING(w) ((uint32_t)((w) >> 32))
#define SL_TOKENS(w) ((uint32_t)(w))

/* Every RUN_SAMPLE-th job of a worker is timed (two clock reads) into the
 * run-time histogram: a sample keeps the cost off the other jobs. */
#define RUN_SAMPLE 16

/* Every QUEUE_SAMPLE-th submit of a thread stamps its job with the time
 * (one clock read there, one in the worker that takes it) for the
 * queue-wait histogram; the other jobs carry 0 and cost a test. The count
 * is per submitting thread, so no submitter touches a shared counter. */
#define QUEUE_SAMPLE 16
static CORIO__TLS_HOT unsigned tls_nsubmit;

static int64_t submit_stamp(void) {
    if (++tls_nsubmit < QUEUE_SAMPLE)
        return 0;
    tls_nsubmit = 0;
    return corio__now_ns();
}

/* Bucket of a run time: 0 below 1 us, k for [2^(k-1), 2^k) us, the last
 * one for everything longer. */
static unsigned run_bucket(int64_t ns) {
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    unsigned k = us ? 64 - (unsigned)__builtin_clzll(us) : 0;
    return k < CORIO_METRICS_BUCKETS ? k : CORIO_METRICS_BUCKETS - 1;
}

/* The pool whose worker is running on this thread, if any. */
static CORIO__TLS_HOT thread_pool *tls_pool;
/* A sampled job's wait from its submit to now, into the worker's buckets
 * (worker-written only, like the run-time buckets). */
static void record_queue_wait(finishing_flag *fin, const job *j) {
    if (!j->submitted_ns)
        return;
    _Atomic uint64_t *b = &fin->qhist[run_bucket(corio__now_ns() - j->submitted_ns)];
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Run one job. The worker raises its finishing flag (until it is back at
 * the queue) before it completes the future: whoever sees the result and
 * submits again at once must find this worker idle rather than start
 * another (Python's test_idle_thread_reuse). The cost is that a job
 * submitted from a done-callback waits for the callbacks to return. */
static void run_job(finishing_flag *fin, job *j) {
    corio_future *f = j->f;
    if (corio_future_set_running_or_notify_cancel(f) == 1) {
        corio_value out = {0};
        int r = 0;
        /* Relaxed: metrics and inspect read these as snapshots. fin->current
         * is already f: take_one set it under pop_lock. */
        atomic_store_explicit(&fin->running, 1, memory_order_relaxed);
        int timed = ++fin->nsample >= RUN_SAMPLE;
        int64_t t0 = 0;
        if (timed) {
            fin->nsample = 0;
            t0 = corio__now_ns();
        }
        if (j->batch) {
            corio__batch_run(j->fn, j->batch);
            out = (corio_value){j->batch, 0, corio__batch_free};
            j->batch = NULL;
        } else {
            corio__task_msg_clear();
            r = j->fn(j->arg, &out);
            if (r < 0 && out.dtor)
                out.dtor(out.ptr);
        }
        if (timed) {
            /* Worker-written only: a relaxed load and store, no locked add. */
            _Atomic uint64_t *b = &fin->hist[run_bucket(corio__now_ns() - t0)];
            atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        }
        atomic_store_explicit(&fin->current, NULL, memory_order_relaxed);
        atomic_store_explicit(&fin->jobs,
                              atomic_load_explicit(&fin->jobs, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        atomic_store_explicit(&fin->on, 1, memory_order_relaxed);
        atomic_store_explicit(&fin->running, 0, memory_order_relaxed);
        if (r < 0)
            corio__future_fail(f, r, corio__task_msg());
        else
            corio_future_set_value(f, &out);
    } else {
        atomic_store_explicit(&fin->current, NULL, memory_order_relaxed);
        atomic_store_explicit(&fin->on, 1, memory_order_relaxed);
    }
    if (j->batch) { /* cancelled before it ran */
        corio__batch_free(j->batch);
        j->batch = NULL;
    }
    corio_future_unref(f);
}

/* ---- the queue ---------------------------------------------------------------
 *
 * Vyukov's intrusive MPSC list: producers exchange `tail` and then link the
 * previous node to theirs; the single consumer (whoever holds pop_lock)
 * walks from `head`. The stub node stands in when the list is empty, so
 * neither side ever sees a NULL tail. Between a producer's exchange and its
 * link the consumer finds the list cut short and pops nothing, though the
 * count says a job is there: it retries (see pause_for_producer). */

static void q_push(thread_pool *p, job *j) {
    atomic_store_explicit(&j->next, NULL, memory_order_relaxed);
    /* acq_rel: orders the job's contents before its link becomes visible;
     * the release store below publishes them to the consumer. */
    job *prev = atomic_exchange_explicit(&p->tail, j, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, j, memory_order_release);
}

/* pop_lock held. The oldest job, or NULL when none is linked yet. A job is
 * returned only once its successor is linked (or the stub replaced it), so
 * no producer touches it afterwards and its `next` is free for other uses. */
static job *q_pop(thread_pool *p) {
    job *head = p->head;
    job *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &p->stub) {
        if (!next)
            return NULL;
        p->head = head = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        p->head = next;
        return head;
    }
    if (atomic_load_explicit(&p->tail, memory_order_acquire) != head)
        return NULL; /* a producer is linking after head */
    q_push(p, &p->stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        p->head = next;
        return head;
    }
    return NULL;
}

/* pop_lock held: count one more job taken. Only pop_lock holders write
 * `taken`, so a plain increment will do; release, so that whoever reads
 * the new value (acquire) also sees the reservation of the job taken (see
 * queued). */
static void count_taken(thread_pool *p) {
    atomic_store_explicit(&p->taken, atomic_load_explicit(&p->taken, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* Pop one job and count it taken; NULL if none is linked yet. The job
 * becomes the worker's current one under pop_lock, so that the deadlock
 * check (job_here, which reads both under pop_lock) always finds a job
 * either queued or current: set after the unlock, a job just popped was
 * in neither for a moment, two workers waiting on each other could both
 * miss the other's job, and both blocked unreported. */
static job *take_one(thread_pool *p, finishing_flag *fin) {
    pop_lock(p);
    job *j = q_pop(p);
    if (j) {
        count_taken(p);
        atomic_store_explicit(&fin->current, j->f, memory_order_relaxed);
    }
    pop_unlock(p);
    return j;
}

/* Pop every job until the count reaches 0 (after SHUTDOWN or BROKEN was
 * set, so the count only falls): waits for reserved jobs to be linked.
 * Returns them in FIFO order, linked through `next`. */
static job *take_all(thread_pool *p) {
    job *list = NULL, *last = NULL;
    unsigned spins = 0;
    pop_lock(p);
    while (queued(p)) {
        job *j = q_pop(p);
        if (!j) {
            pause_for_producer(&spins);
            continue;
        }
        count_taken(p);
        atomic_store_explicit(&j->next, NULL, memory_order_relaxed);
        if (last)
            atomic_store_explicit(&last->next, j, memory_order_relaxed);
        else
            list = j;
        last = j;
    }
    pop_unlock(p);
    return list;
}

/* The futex word: the tokens half of `sleepers`. Only the kernel reads it
 * as 32 bits; the code reads and writes the whole word. */
static _Atomic uint32_t *tokens_word(thread_pool *p) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (_Atomic uint32_t *)&p->sleepers;
#else
    return (_Atomic uint32_t *)&p->sleepers + 1;
#endif
}

/* Wake one sleeping worker, if any; all of them with `all`: claim them and
 * post their tokens in one step. */
static void wake_workers(thread_pool *p, int all) {
    uint64_t w = atomic_load_explicit(&p->sleepers, memory_order_seq_cst);
    uint32_t n;
    do {
        uint32_t s = SL_SLEEPING(w);
        if (s == 0)
            return;
        n = all ? s : 1;
    } while (!atomic_compare_exchange_weak_explicit(&p->sleepers, &w, w - n * SL_ONE + n,
                                                    memory_order_seq_cst, memory_order_seq_cst));
    corio__futex_wake(tokens_word(p), (int)n);
}

/* Sleep until a token is posted, and take it. */
static void wait_token(thread_pool *p) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&p->sleepers, memory_order_acquire);
        if (SL_TOKENS(w) == 0) {
            corio__futex_wait(tokens_word(p), 0, INT64_MAX);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&p->sleepers, &w, w - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
}

/* Leave the sleepers without sleeping (a job was found, or the pool is
 * ending): take back an unclaimed count, or if wakers claimed every
 * sleeper meanwhile, one of their tokens, posted with the claim. Never
 * waits: this worker may hold the job everyone waits for. */
static void leave_sleep(thread_pool *p) {
    uint64_t w = atomic_load_explicit(&p->sleepers, memory_order_seq_cst);
    for (;;) {
        /* Both halves at 0 cannot happen: this worker is still counted in
         * one of them (see the top); the word is then left alone rather
         * than wrapped. */
        uint64_t nw = SL_SLEEPING(w) ? w - SL_ONE : SL_TOKENS(w) ? w - 1 : w;
        if (atomic_compare_exchange_weak_explicit(&p->sleepers, &w, nw, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            return;
    }
}

static void fail_jobs(job *j, int code, const char *msg, int cancel) {
    while (j) {
        job *n = atomic_load_explicit(&j->next, memory_order_relaxed);
        if (cancel)
            corio__future_finish_cancelled(j->f, 1);
        else
            corio__future_fail(j->f, code, msg);
        if (j->batch)
            corio__batch_free(j->batch);
        corio_future_unref(j->f);
        j = n;
    }
}

/* What an idle worker counts as (see worker_main). */
enum { W_BUSY, W_FINISHING, W_SPINNING, W_SLEEPING };

/* Workers finishing a job (see run_job). O(workers started). */
static uint64_t count_finishing(thread_pool *p) {
    int n = atomic_load_explicit(&p->nthreads, memory_order_acquire);
    uint64_t c = 0;
    for (int i = 0; i < n; i++)
        c += (uint64_t)atomic_load_explicit(&p->finishing[i].on, memory_order_seq_cst);
    return c;
}

/* Leave the idle count the worker is in. seq_cst from finishing: on the
 * way to sleep, the worker's next read of the count and a submit's read
 * of the flag form a Dekker pair (see worker_main). */
static void leave(thread_pool *p, finishing_flag *fin, int me) {
    if (me == W_FINISHING)
        atomic_store_explicit(&fin->on, 0, memory_order_seq_cst);
    else if (me == W_SPINNING)
        atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
    else if (me == W_SLEEPING)
        leave_sleep(p);
}

/* Leave the idle count the worker is in, having taken a job off the
 * count. From finishing, a release store is enough: a submit that reads
 * the flag cleared (seq_cst, an acquire) also sees the job taken (see
 * count_taken), and no Dekker pair needs the worker's later loads ordered
 * after it; on x86 it is a plain store instead of an exchange, once per
 * job. */
static void leave_busy(thread_pool *p, finishing_flag *fin, int me) {
    if (me == W_FINISHING)
        atomic_store_explicit(&fin->on, 0, memory_order_release);
    else
        leave(p, fin, me);
}

static void *worker_main(void *arg) {
    thread_pool *p = arg;
    tls_pool = p;
    corio__tls_wait_hook = &p->wait_hook;
    /* Our number is our slot: the creator holds the lock across
     * pthread_create, so once we hold it our slot is filled in. */
    pthread_mutex_lock(&p->lock);
    int id = 1;
    int nthreads = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
    for (int i = 0; i < nthreads; i++)
        if (pthread_equal(p->threads[i], pthread_self()))
            id = i + 1;
    pthread_mutex_unlock(&p->lock);
    char name[48];
    snprintf(name, sizeof name, "%s_%d", p->prefix, id - 1);
    finishing_flag *fin = &p->finishing[id - 1];
    atomic_store_explicit(&fin->tid, (int)gettid(), memory_order_relaxed);
    name[15] = '\0'; /* the kernel's limit for a thread name */
    pthread_setname_np(pthread_self(), name);

    if (p->initializer) {
        corio__task_msg_clear();
        int r = p->initializer(p->initargs);
        if (r < 0) {
            /* Python: "A thread initializer failed, the thread pool is not
             * usable anymore"; every queued future fails, submits refused. */
            pthread_mutex_lock(&p->lock);
            /* The first failure writes the message; later ones must not
             * rewrite it while an earlier one copies it without the lock. */
            if (!atomic_load_explicit(&p->base.broken, memory_order_relaxed))
                snprintf(p->broken_msg, sizeof p->broken_msg,
                         "a thread initializer failed, the thread pool is not usable anymore: %s%s%s",
                         corio_error_name(r), *corio__task_msg() ? ": " : "", corio__task_msg());
            atomic_store_explicit(&p->base.broken, 1, memory_order_release);
            atomic_fetch_or_explicit(&p->state, ST_BROKEN, memory_order_seq_cst);
            pthread_mutex_unlock(&p->lock);
            job *j = take_all(p);
            wake_workers(p, 1);
            fail_jobs(j, CORIO_EBROKEN_THREAD_POOL, p->broken_msg, 0);
            atomic_store_explicit(&fin->tid, 0, memory_order_relaxed);
            return NULL;
        }
    }

    /* An idle worker counts in exactly one of finishing, spinning, sleeping
     * (`me` says which), enters the next before it leaves the previous, and
     * leaves the last only once it has taken a job off the count. A submit
     * reads those three before the count, so it never finds a worker in
     * none of them while the job that worker is taking still counts: it
     * would start a needless worker (Python's test_idle_thread_reuse). */
    int me = W_BUSY;
    int spun = 0; /* this idle period already had its spin */
    unsigned spins = 0;
    for (;;) {
        if (me == W_FINISHING) {
            /* Just finished a job: look at the queue itself first. While
             * jobs keep coming this is all a worker does, and it never
             * reads the submitters' `state` line, which each submit then
             * finds still in its own cache. */
            job *j = take_one(p, fin);
            if (j) {
                record_queue_wait(fin, j);
                leave_busy(p, fin, me);
                run_job(fin, j);
                spun = 0;
                continue; /* still W_FINISHING: run_job counted us */
            }
        }
        uint64_t n = queued(p);
        /* Not older than the value queued() read (read-read coherence). */
        uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);
        if (s & ST_BROKEN)
            break;
        if (n) {
            /* Take one job at a time, as Python's workers do. Taking a
             * share of the queue into a private list let shutdown
             * (cancel_futures) miss those pending jobs, and held them
             * hostage behind a blocked job while other workers sat idle. */
            job *j = take_one(p, fin);
            if (!j) {
                pause_for_producer(&spins);
                continue;
            }
            record_queue_wait(fin, j);
            leave_busy(p, fin, me);
            run_job(fin, j);
            me = W_FINISHING; /* run_job counted us */
            spun = 0;
            continue;
        }
        if (s & ST_SHUTDOWN)
            break;
        if (me == W_SLEEPING) {
            /* Counted in sleeping before we read the count above (the Dekker
             * pair with submit): sleep until a waker claims us. */
            wait_token(p);
            me = W_BUSY;
            spun = 0;
            continue;
        }
        /* Idle: spin briefly, then sleep. Only one worker spins at a time,
         * and only on a multi-core machine: a second spinner would take a
         * core from the thread that submits. Never on the CPU of an awake
         * pinned loop (corio__pinned_loop_awake_here): sleeping lets the
         * next wake-up put this worker on another CPU. */
        int zero = 0;
        if (!spun && corio__online_cpus() > 1 && !corio__pinned_loop_awake_here() &&
            atomic_compare_exchange_strong_explicit(&p->spinning, &zero, 1, memory_order_seq_cst,
                                                    memory_order_relaxed)) {
            leave(p, fin, me);
            me = W_SPINNING;
            spun = 1;
            int64_t until = corio__now_ns() + SPIN_NS;
            /* Equal: no job queued and no flag set. */
            for (unsigned i = 1; atomic_load_explicit(&p->taken, memory_order_relaxed) ==
                                 atomic_load_explicit(&p->state, memory_order_relaxed);
                 i++) {
                corio__cpu_relax();
                /* Reading the clock costs more than a poll: read it rarely.
                 * Then yield, in case the thread we wait for is queued on
                 * this CPU (a pinned loop whose coroutine woke us here):
                 * sched_yield returns at once when nothing else is
                 * runnable on it. */
                if (i % 64 == 0) {
                    if (corio__now_ns() >= until || corio__pinned_loop_awake_here())
                        break;
                    sched_yield();
                }
            }
            continue; /* still counted as spinning */
        }
        atomic_fetch_add_explicit(&p->sleepers, SL_ONE, memory_order_seq_cst);
        leave(p, fin, me);
        me = W_SLEEPING; /* the loop's next read of the count decides */
    }
    leave(p, fin, me);
    atomic_store_explicit(&fin->tid, 0, memory_order_relaxed);
    return NULL;
}

/* Slow path of a submit while fewer than max_workers run: start a worker
 * unless an idle one can take the job (Python's _adjust_thread_count).
 * Returns 0, or -EAGAIN when no worker runs and none could be started. */
static int start_worker_if_needed(thread_pool *p) {
    pthread_mutex_lock(&p->lock);
    int n = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
    /* The idle counts first, then the count (see worker_main). */
    uint64_t idle = count_finishing(p) +
                    (uint64_t)atomic_load_explicit(&p->spinning, memory_order_seq_cst) +
                    SL_SLEEPING(atomic_load_explicit(&p->sleepers, memory_order_seq_cst));
    uint64_t q = queued(p);
    int r = 0;
    if (q > idle && n < p->base.max_workers) {
        /* nthreads is bumped first so the new worker reads its number
         * from it. */
        atomic_store_explicit(&p->nthreads, n + 1, memory_order_relaxed);
        if (corio__thread_create(&p->threads[n], worker_main, p) != 0) {
            atomic_store_explicit(&p->nthreads, n, memory_order_relaxed);
            if (n == 0)
                r = -EAGAIN;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

static corio_future *tp_enqueue(thread_pool *p, job *j, int *err) {
    /* Reserve a place (see the top of the file); seq_cst for the Dekker
     * pair with a worker going to sleep. */
    uint64_t s = atomic_fetch_add_explicit(&p->state, 1, memory_order_seq_cst);
    /* The future was created with two references: the queue's (dropped by
     * the worker) and the caller's, returned here. */
    corio_future *f = j->f;
    if (s & ST_FLAGS) {
        atomic_fetch_sub_explicit(&p->state, 1, memory_order_relaxed);
        corio_future_unref(f); /* the caller's; the submit drops the other */
        *err = s & ST_BROKEN ? CORIO_EBROKEN_THREAD_POOL : CORIO_ESHUTDOWN;
        return NULL;
    }
    q_push(p, j);
    if (atomic_load_explicit(&p->nthreads, memory_order_relaxed) < p->base.max_workers) {
        if (start_worker_if_needed(p) < 0) {
            /* No worker runs and none could start: nobody could ever run
             * the queued jobs. Fail them all (ours is returned to the
             * caller as the error, the others carry it in their future),
             * unless a worker appeared meanwhile. */
            pthread_mutex_lock(&p->lock);
            int none = atomic_load_explicit(&p->nthreads, memory_order_relaxed) == 0;
            pthread_mutex_unlock(&p->lock);
            if (none) {
                int found = 0;
                for (job *k = take_all(p), *n; k; k = n) {
                    n = atomic_load_explicit(&k->next, memory_order_relaxed);
                    if (k == j) {
                        found = 1;
                        continue;
                    }
                    corio__future_fail(k->f, -EAGAIN, "cannot start a worker thread");
                    if (k->batch)
                        corio__batch_free(k->batch);
                    corio_future_unref(k->f);
                }
                if (found) {
                    /* Taken back: the caller drops the creation reference. */
                    corio_future_unref(f);
                    *err = -EAGAIN;
                    return NULL;
                }
                /* Another submit drained it: its future carries the error. */
            }
        }
    }
    if (SL_SLEEPING(atomic_load_explicit(&p->sleepers, memory_order_seq_cst)) > 0) {
        /* Spinning and finishing workers look at the count again without
         * being woken, so wake a sleeper only for the jobs they cannot
         * take. */
        uint64_t busy_soon = count_finishing(p) +
                             (uint64_t)atomic_load_explicit(&p->spinning, memory_order_seq_cst);
        uint64_t q = queued(p);
        if (q > busy_soon)
            wake_workers(p, 0);
    }
    return f;
}

static corio_future *tp_submit(corio_executor *ex, corio_fn fn, void *arg, const void *data,
                               size_t len, int bytes, int *err) {
    thread_pool *p = (thread_pool *)ex;
    /* The same limit as the process pool's wire format, so that the two
     * pools accept the same submits and sizeof(job) + len cannot wrap. */
    if (bytes && len > CORIO__EXECUTOR_MAX_BYTES) {
        *err = -EMSGSIZE;
        return NULL;
    }
    size_t extra = sizeof(job) + (bytes ? sizeof(corio_value) + len : 0);
    corio_future *f = corio__future_create_ext_refs(extra, 2);
    if (!f) {
        *err = -ENOMEM;
        return NULL;
    }
    job *j = corio__future_ext(f);
    j->fn = fn;
    j->f = f;
    j->batch = NULL;
    j->submitted_ns = submit_stamp();
    if (bytes) {
        corio_value *v = (corio_value *)(j + 1);
        v->ptr = (char *)(v + 1);
        v->len = len;
        v->dtor = NULL;
        if (len)
            memcpy(v->ptr, data, len);
        j->arg = v;
    } else {
        j->arg = arg;
    }
    corio_future *r = tp_enqueue(p, j, err);
    if (!r)
        corio_future_unref(f);
    return r;
}

static corio_future *tp_submit_batch(corio_executor *ex, corio_fn fn, void *const *items, size_t n,
                                     int bytes, int *err) {
    (void)bytes; /* a thread job sees the caller's corio_value items directly */
    thread_pool *p = (thread_pool *)ex;
    if (n == 0 || n > (SIZE_MAX - sizeof(corio__batch)) / sizeof(corio__batch_item)) {
        *err = n ? -EMSGSIZE : -EINVAL;
        return NULL;
    }
    corio__batch *b = corio__calloc(1, sizeof *b + n * sizeof b->items[0]);
    corio_future *f = b ? corio__future_create_ext_refs(sizeof(job), 2) : NULL;
    if (!f) {
        free(b);
        *err = -ENOMEM;
        return NULL;
    }
    b->n = n;
    for (size_t i = 0; i < n; i++)
        b->items[i].arg = items[i];
    job *j = corio__future_ext(f);
    j->fn = fn;
    j->f = f;
    j->arg = NULL;
    j->batch = b;
    j->submitted_ns = submit_stamp();
    corio_future *r = tp_enqueue(p, j, err);
    if (!r) {
        corio__batch_free(b);
        corio_future_unref(f);
    }
    return r;
}

static int tp_shutdown(corio_executor *ex, int wait, int cancel_futures, double timeout) {
    thread_pool *p = (thread_pool *)ex;
    /* From here no submit gets in; those that already reserved a place
     * finish linking their job, which take_all waits for. */
    atomic_fetch_or_explicit(&p->state, ST_SHUTDOWN, memory_order_seq_cst);
    job *cancelled = cancel_futures ? take_all(p) : NULL;
    wake_workers(p, 1);
    fail_jobs(cancelled, 0, NULL, 1);
    if (!wait)
        return 0;
    int64_t deadline = timeout >= 0 ? corio__deadline(timeout) : INT64_MAX;
    /* Join every worker but ourselves (a task may shut its own pool down).
     * join_lock serialises concurrent waiting shutdowns so that each worker
     * is joined exactly once (joined[] records it). */
    pthread_mutex_lock(&p->join_lock);
    pthread_mutex_lock(&p->lock);
    int n = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < n; i++) {
        if (p->joined[i] || pthread_equal(p->threads[i], pthread_self()))
            continue;
        if (deadline == INT64_MAX) {
            pthread_join(p->threads[i], NULL);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t left = deadline - corio__now_ns();
            if (left < 0)
                left = 0;
            ts.tv_sec += left / 1000000000;
            ts.tv_nsec += left % 1000000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            if (pthread_timedjoin_np(p->threads[i], NULL, &ts) != 0) {
                pthread_mutex_unlock(&p->join_lock);
                return -ETIMEDOUT;
            }
        }
        p->joined[i] = 1;
    }
    pthread_mutex_unlock(&p->join_lock);
    return 0;
}

static void tp_destroy(corio_executor *ex) {
    thread_pool *p = (thread_pool *)ex;
    if (tls_pool == p) {
        /* Destroyed from one of its own workers: the worker cannot join
         * itself; detach it and leak the pool rather than free memory the
         * worker still uses. */
        corio__log("thread pool destroyed from its own worker; leaking it");
        pthread_detach(pthread_self());
        return;
    }
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->join_lock);
    free(p->hist);
    free(p->finishing);
    free(p->joined);
    free(p->threads);
    free(p);
}

static const corio__executor_vt thread_pool_vt = {
    .submit = tp_submit,
    .submit_batch = tp_submit_batch,
    .shutdown = tp_shutdown,
    .destroy = tp_destroy,
    .metrics = corio__tp_metrics,
    .inspect = corio__tp_inspect,
};

CORIO_API int corio_thread_pool_create(const corio_thread_pool_options *opts, corio_executor **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_thread_pool_options o = {0};
    if (opts)
        o = *opts;
    if (o.max_workers < 0 || o.max_workers > CORIO_THREAD_POOL_MAX_WORKERS)
        return -EINVAL;
    if (o.max_workers == 0) {
        long ncpu = corio__usable_cpus();
        o.max_workers = ncpu + 4 < 32 ? (int)ncpu + 4 : 32;
    }
    thread_pool *p = corio__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->threads = corio__calloc((size_t)o.max_workers, sizeof *p->threads);
    p->joined = corio__calloc((size_t)o.max_workers, 1);
    p->finishing = corio__calloc((size_t)o.max_workers, sizeof *p->finishing);
    p->hist = corio__calloc((size_t)o.max_workers * 2 * CORIO_METRICS_BUCKETS, sizeof *p->hist);
    if (!p->threads || !p->joined || !p->finishing || !p->hist) {
        free(p->hist);
        free(p->finishing);
        free(p->joined);
        free(p->threads);
        free(p);
        return -ENOMEM;
    }
    for (int i = 0; i < o.max_workers; i++) {
        p->finishing[i].hist = p->hist + (size_t)i * 2 * CORIO_METRICS_BUCKETS;
        p->finishing[i].qhist = p->finishing[i].hist + CORIO_METRICS_BUCKETS;
    }
    p->base.vt = &thread_pool_vt;
    p->base.max_workers = o.max_workers;
    atomic_init(&p->base.broken, 0);
    atomic_init(&p->state, 0);
    atomic_init(&p->taken, 0);
    atomic_init(&p->stub.next, NULL);
    atomic_init(&p->tail, &p->stub);
    p->head = &p->stub;
    atomic_init(&p->spinning, 0);
    atomic_init(&p->sleepers, 0);
    for (int i = 0; i < o.max_workers; i++) {
        atomic_init(&p->finishing[i].on, 0);
        atomic_init(&p->finishing[i].running, 0);
        atomic_init(&p->finishing[i].jobs, 0);
        atomic_init(&p->finishing[i].current, NULL);
    }
    atomic_init(&p->nthreads, 0);
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->join_lock, NULL);
    atomic_init(&p->pop_lock, 0);
    p->wait_hook = (corio__wait_hook){.begin = corio__tp_wait_begin, .end = corio__tp_wait_end, .arg = p};
    snprintf(p->prefix, sizeof p->prefix, "%s",
             o.thread_name_prefix && *o.thread_name_prefix ? o.thread_name_prefix : "corio-tp");
    p->initializer = o.initializer;
    p->initargs = o.initargs;
    corio__executor_register(&p->base);
    *out = &p->base;
    return 0;
}
