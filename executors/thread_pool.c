/* corio — the thread pool (Python's ThreadPoolExecutor).
 *
 * Jobs live in the extra storage of their own future (one allocation per
 * submit) and wait in a FIFO protected by the pool mutex. Workers start
 * lazily: a submit starts a new worker only when no idle worker can take the
 * job, up to max_workers.
 *
 * Wake-ups cost a futex call, so they are avoided where possible: a worker
 * that runs out of work first spins for a short while (SPIN_NS) polling the
 * queue length, and a submit signals the condition variable only when more
 * jobs are queued than workers are spinning. `spinning` and `sleeping` change
 * only under the mutex, so a submit (also under the mutex) never misses a
 * worker that is about to sleep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "fault.h"

/* How long an idle worker polls for new work before sleeping. Long enough to
 * cover a submit/result round trip, short enough to cost nothing noticeable
 * when the pool goes quiet. */
#define SPIN_NS 50000

typedef struct job {
    struct job *next;    /* FIFO link */
    corio_fn fn;         /* the task */
    void *arg;           /* its argument (or &bytes, or the batch) */
    corio_future *f;     /* the job's future (the queue's reference) */
    corio__batch *batch; /* a map chunk, or NULL */
    corio_value bytes;   /* argument bytes for submit_bytes (copied after the job) */
} job;

typedef struct thread_pool {
    corio_executor base;        /* common executor head (must be first) */
    pthread_mutex_t lock;       /* guards everything below */
    pthread_cond_t work;        /* signalled when a job is queued or at shutdown */
    job *head, *tail;           /* the FIFO of queued jobs */
    _Atomic size_t queued;      /* FIFO length, also read lock-free by spinners */
    int nthreads;               /* workers started (alive or exited, not joined) */
    int spinning;               /* idle workers polling the queue */
    int sleeping;               /* idle workers blocked on `work` */
    _Atomic int finishing;      /* workers completing a job's future, not yet back under the lock */
    int shutdown;               /* no new submits; workers exit when the queue is empty */
    pthread_t *threads;         /* max_workers slots, first nthreads used */
    unsigned char *joined;      /* joined[i]: threads[i] was joined; guarded by join_lock */
    pthread_mutex_t join_lock;  /* serialises joining in shutdown(wait) */
    char prefix[16];            /* thread name prefix */
    corio_init_fn initializer;  /* per-worker initializer, or NULL */
    void *initargs;             /* its argument */
    char broken_msg[256];       /* why the pool broke */
} thread_pool;

/* Online CPUs, read once (a spinning waiter only helps with two or more). */
static long ncpu(void) {
    static _Atomic long cached;
    long n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}

/* The pool whose worker is running on this thread, if any. */
static _Thread_local thread_pool *tls_pool;

/* Run one job. The worker counts itself in `finishing` (until it is back
 * under the pool lock) before it completes the future: whoever sees the
 * result and submits again at once must find this worker idle rather than
 * start another (Python's test_idle_thread_reuse). The cost is that a job
 * submitted from a done-callback waits for the callbacks to return. */
static void run_job(thread_pool *p, job *j) {
    corio_future *f = j->f;
    if (corio_future_set_running_or_notify_cancel(f) == 1) {
        corio_value out = {0};
        int r = 0;
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
        atomic_fetch_add_explicit(&p->finishing, 1, memory_order_relaxed);
        if (r < 0)
            corio__future_fail(f, r, corio__task_msg());
        else
            corio_future_set_value(f, &out);
    } else {
        atomic_fetch_add_explicit(&p->finishing, 1, memory_order_relaxed);
    }
    if (j->batch) { /* cancelled before it ran */
        corio__batch_free(j->batch);
        j->batch = NULL;
    }
    corio_future_unref(f);
}

/* Fail every queued job with the broken error; lock held, jobs returned. */
static job *take_all_locked(thread_pool *p) {
    job *j = p->head;
    p->head = p->tail = NULL;
    atomic_store_explicit(&p->queued, 0, memory_order_relaxed);
    return j;
}

static void fail_jobs(job *j, int code, const char *msg, int cancel) {
    while (j) {
        job *n = j->next;
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

static void *worker_main(void *arg) {
    thread_pool *p = arg;
    tls_pool = p;
    /* Our number is our slot: the creator holds the lock across
     * pthread_create, so once we hold it our slot is filled in. */
    pthread_mutex_lock(&p->lock);
    int id = 1;
    for (int i = 0; i < p->nthreads; i++)
        if (pthread_equal(p->threads[i], pthread_self()))
            id = i + 1;
    pthread_mutex_unlock(&p->lock);
    char name[48];
    snprintf(name, sizeof name, "%s_%d", p->prefix, id - 1);
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
            job *j = take_all_locked(p);
            pthread_cond_broadcast(&p->work);
            pthread_mutex_unlock(&p->lock);
            fail_jobs(j, CORIO_EBROKEN_THREAD_POOL, p->broken_msg, 0);
            return NULL;
        }
    }

    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (atomic_load_explicit(&p->base.broken, memory_order_relaxed))
            break;
        if (p->head) {
            /* Take one job at a time, as Python's workers do. Taking a
             * share of the queue into a private list let shutdown
             * (cancel_futures) miss those pending jobs, and held them
             * hostage behind a blocked job while other workers sat idle. */
            size_t q = atomic_load_explicit(&p->queued, memory_order_relaxed);
            size_t take = 1;
            job *first = p->head, *last = first;
            for (size_t i = 1; i < take && last->next; i++)
                last = last->next;
            p->head = last->next;
            if (!p->head)
                p->tail = NULL;
            last->next = NULL;
            size_t n = 0;
            for (job *j = first; j; j = j->next)
                n++;
            atomic_store_explicit(&p->queued, q - n, memory_order_relaxed);
            pthread_mutex_unlock(&p->lock);
            while (first) {
                job *n2 = first->next;
                run_job(p, first);
                first = n2;
            }
            pthread_mutex_lock(&p->lock);
            atomic_fetch_sub_explicit(&p->finishing, (int)n, memory_order_relaxed);
            continue;
        }
        if (p->shutdown)
            break;
        /* Idle: spin briefly without the lock, then sleep. Only one worker
         * spins at a time, and only on a multi-core machine: a second
         * spinner would take a core from the thread that submits. */
        if (p->spinning == 0 && ncpu() > 1) {
            p->spinning++;
            pthread_mutex_unlock(&p->lock);
            int64_t until = corio__now_ns() + SPIN_NS;
            for (unsigned i = 1; atomic_load_explicit(&p->queued, memory_order_relaxed) == 0; i++) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
                /* Reading the clock costs more than a poll: read it rarely. */
                if (i % 64 == 0 && corio__now_ns() >= until)
                    break;
            }
            pthread_mutex_lock(&p->lock);
            p->spinning--;
            if (p->head || p->shutdown)
                continue;
        }
        p->sleeping++;
        while (!p->head && !p->shutdown && !atomic_load_explicit(&p->base.broken, memory_order_relaxed))
            pthread_cond_wait(&p->work, &p->lock);
        p->sleeping--;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static corio_future *tp_enqueue(thread_pool *p, job *j, int *err) {
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
        pthread_mutex_unlock(&p->lock);
        *err = CORIO_EBROKEN_THREAD_POOL;
        return NULL;
    }
    if (p->shutdown) {
        pthread_mutex_unlock(&p->lock);
        *err = CORIO_ESHUTDOWN;
        return NULL;
    }
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    size_t q = atomic_load_explicit(&p->queued, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->queued, q, memory_order_relaxed);
    size_t finishing = (size_t)atomic_load_explicit(&p->finishing, memory_order_relaxed);
    size_t idle = (size_t)p->spinning + (size_t)p->sleeping + finishing;
    if (q > idle && p->nthreads < p->base.max_workers) {
        /* No idle worker for this job: start one (Python's
         * _adjust_thread_count). nthreads is bumped first so the new worker
         * reads its number from it. */
        p->nthreads++;
        if (corio__pthread_create(&p->threads[p->nthreads - 1], NULL, worker_main, p) != 0) {
            p->nthreads--;
            if (p->nthreads == 0) {
                /* Nobody could ever run the job: take it back. */
                p->head = p->tail = NULL;
                atomic_store_explicit(&p->queued, 0, memory_order_relaxed);
                pthread_mutex_unlock(&p->lock);
                *err = -EAGAIN;
                return NULL;
            }
        }
    } else if (p->sleeping > 0 && q > (size_t)p->spinning + finishing) {
        /* Spinning and finishing workers look at the queue again without
         * being woken (a finishing one once it is back under the lock), so
         * wake a sleeper only for the jobs they cannot take. */
        pthread_cond_signal(&p->work);
    }
    /* The caller's reference; the queue keeps the creation reference. */
    corio_future *f = corio_future_ref(j->f);
    pthread_mutex_unlock(&p->lock);
    return f;
}

static corio_future *tp_submit(corio_executor *ex, corio_fn fn, void *arg, const void *data,
                               size_t len, int bytes, int *err) {
    thread_pool *p = (thread_pool *)ex;
    size_t extra = sizeof(job) + (bytes ? len : 0);
    corio_future *f = corio__future_create_ext(extra);
    if (!f) {
        *err = -ENOMEM;
        return NULL;
    }
    job *j = corio__future_ext(f);
    j->fn = fn;
    j->f = f;
    j->batch = NULL;
    if (bytes) {
        j->bytes.ptr = (char *)(j + 1);
        j->bytes.len = len;
        j->bytes.dtor = NULL;
        if (len)
            memcpy(j->bytes.ptr, data, len);
        j->arg = &j->bytes;
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
    corio__batch *b = corio__calloc(1, sizeof *b + n * sizeof b->items[0]);
    corio_future *f = b ? corio__future_create_ext(sizeof(job)) : NULL;
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
    corio_future *r = tp_enqueue(p, j, err);
    if (!r) {
        corio__batch_free(b);
        corio_future_unref(f);
    }
    return r;
}

static int tp_shutdown(corio_executor *ex, int wait, int cancel_futures, double timeout) {
    thread_pool *p = (thread_pool *)ex;
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    job *cancelled = cancel_futures ? take_all_locked(p) : NULL;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    fail_jobs(cancelled, 0, NULL, 1);
    if (!wait)
        return 0;
    int64_t deadline = timeout >= 0 ? corio__deadline(timeout) : INT64_MAX;
    /* Join every worker but ourselves (a task may shut its own pool down).
     * join_lock serialises concurrent waiting shutdowns so that each worker
     * is joined exactly once (joined[] records it). */
    pthread_mutex_lock(&p->join_lock);
    pthread_mutex_lock(&p->lock);
    int n = p->nthreads;
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
    free(p->joined);
    pthread_cond_destroy(&p->work);
    free(p->threads);
    free(p);
}

static const corio__executor_vt thread_pool_vt = {
    .submit = tp_submit,
    .submit_batch = tp_submit_batch,
    .shutdown = tp_shutdown,
    .destroy = tp_destroy,
};

CORIO_API int corio_thread_pool_create(const corio_thread_pool_options *opts, corio_executor **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_thread_pool_options o = {0};
    if (opts)
        o = *opts;
    if (o.max_workers < 0)
        return -EINVAL;
    if (o.max_workers == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu < 1)
            ncpu = 1;
        o.max_workers = ncpu + 4 < 32 ? (int)ncpu + 4 : 32;
    }
    thread_pool *p = corio__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->threads = corio__calloc((size_t)o.max_workers, sizeof *p->threads);
    p->joined = corio__calloc((size_t)o.max_workers, 1);
    if (!p->threads || !p->joined) {
        free(p->joined);
        free(p->threads);
        free(p);
        return -ENOMEM;
    }
    p->base.vt = &thread_pool_vt;
    p->base.max_workers = o.max_workers;
    atomic_init(&p->base.broken, 0);
    atomic_init(&p->queued, 0);
    atomic_init(&p->finishing, 0);
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->join_lock, NULL);
    pthread_cond_init(&p->work, NULL);
    snprintf(p->prefix, sizeof p->prefix, "%s",
             o.thread_name_prefix && *o.thread_name_prefix ? o.thread_name_prefix : "corio-tp");
    p->initializer = o.initializer;
    p->initargs = o.initargs;
    *out = &p->base;
    return 0;
}
