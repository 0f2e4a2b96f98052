/* corio — watching the thread pool (tp_internal.h): the deadlock check
 * of a worker's blocking wait, and the pool's metrics and inspect.
 */
#include <errno.h>
#include <pthread.h>

#include "tp_internal.h"

/* The worker's current wait is counted in blocked_on_queue. */
static _Thread_local int tls_counted;

/* Deadlock detection.
 *
 * A worker that waits on a future which is a job of its own pool (queued,
 * or running on another worker) can only be released by the pool's other
 * workers. When every worker the pool may have is waiting that way, none
 * ever will: the last one to start waiting gets -EDEADLK instead of
 * blocking (the others stay blocked until its job returns and frees a
 * worker). Only waits without a deadline count: one with a timeout (its
 * own or a cancel scope's) ends by itself. A pool that may still start a
 * worker, or with one worker free or blocked on anything else, is not
 * reported. The check looks at the workers' current jobs and walks the
 * queue under pop_lock: O(workers + queued), on the slow path of a
 * worker's blocking wait only. (A queued
 * job cancelled from outside would release its waiter: then the error was
 * premature. Nothing in the pool can do that, so it is accepted.) */

/* Is f a job of p, running or queued (not yet taken)? */
static int job_here(thread_pool *p, corio_future *f) {
    int found = 0;
    pop_lock(p);
    /* Under pop_lock: take_one makes a popped job current before it
     * unlocks, so a job is seen in one place or the other. */
    for (int i = 0; i < p->base.max_workers && !found; i++)
        found = atomic_load_explicit(&p->finishing[i].current, memory_order_relaxed) == f;
    /* Jobs are only unlinked under pop_lock, so every node reached stays
     * valid; a push in progress may hide the newest jobs: then the answer
     * is no, and no deadlock is reported (never a false one). */
    for (job *j = p->head; j && !found; j = atomic_load_explicit(&j->next, memory_order_acquire))
        found = j != &p->stub && j->f == f;
    pop_unlock(p);
    return found;
}

int corio__tp_wait_begin(void *arg, corio_future *f, int64_t deadline_ns) {
    thread_pool *p = arg;
    /* A wait with a deadline ends by itself (and then frees its worker):
     * it is neither reported nor counted as blocked for good. */
    if (deadline_ns != INT64_MAX || !job_here(p, f))
        return 1; /* not counted: end() must not uncount it (see corio__tp_wait_end) */
    pthread_mutex_lock(&p->lock);
    int n = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
    if (p->blocked_on_queue + 1 >= n && n >= p->base.max_workers) {
        pthread_mutex_unlock(&p->lock);
        corio__log("thread pool %s: deadlock: all %d workers wait on jobs of the same pool",
                   p->prefix, n);
        corio_task_fail(-EDEADLK,
                        "thread pool %s: deadlock: all %d workers wait on jobs of the same pool",
                        p->prefix, n);
        return -EDEADLK;
    }
    p->blocked_on_queue++;
    pthread_mutex_unlock(&p->lock);
    tls_counted = 1;
    return 0;
}

void corio__tp_wait_end(void *arg) {
    thread_pool *p = arg;
    if (!tls_counted)
        return;
    tls_counted = 0;
    pthread_mutex_lock(&p->lock);
    p->blocked_on_queue--;
    pthread_mutex_unlock(&p->lock);
}

/* Relaxed snapshots of each counter (not of all together). */
int corio__tp_metrics(corio_executor *ex, corio_executor_metrics *m) {
    thread_pool *p = (thread_pool *)ex;
    m->queued = queued(p);
    uint64_t st = atomic_load_explicit(&p->state, memory_order_relaxed);
    int n = atomic_load_explicit(&p->nthreads, memory_order_acquire);
    m->workers = (uint64_t)n;
    m->max_workers = (uint64_t)ex->max_workers;
    for (int i = 0; i < ex->max_workers; i++) {
        m->running += (uint64_t)atomic_load_explicit(&p->finishing[i].running, memory_order_relaxed);
        m->completed += atomic_load_explicit(&p->finishing[i].jobs, memory_order_relaxed);
        for (unsigned k = 0; k < CORIO_METRICS_BUCKETS; k++) {
            uint64_t v = atomic_load_explicit(&p->finishing[i].hist[k], memory_order_relaxed);
            m->run_us[k] += v;
            m->run_samples += v;
            v = atomic_load_explicit(&p->finishing[i].qhist[k], memory_order_relaxed);
            m->queue_us[k] += v;
            m->queue_samples += v;
        }
    }
    m->shutdown = (st & ST_SHUTDOWN) != 0;
    m->broken = atomic_load_explicit(&ex->broken, memory_order_relaxed) != 0;
    return 0;
}

/* corio_executor_inspect: relaxed reads of the per-worker flags and the
 * queue count (no lock covers them; the figures are a snapshot). */
void corio__tp_inspect(const corio_executor *ex, corio_executor_stats *st) {
    thread_pool *p = (thread_pool *)ex;
    int n = atomic_load_explicit(&p->nthreads, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        int tid = atomic_load_explicit(&p->finishing[i].tid, memory_order_relaxed);
        if (!tid)
            continue;
        st->workers++;
        st->running += (size_t)atomic_load_explicit(&p->finishing[i].running,
                                                    memory_order_relaxed);
        if (st->ids_len < st->ids_cap)
            st->ids[st->ids_len++] = tid;
    }
    st->pending = (size_t)queued(p);
}
