/* corio — the process pool (Python's ProcessPoolExecutor).
 *
 * Processes:
 *
 *   application ──fork (at create)──▶ fork server ──fork (per worker)──▶ worker
 *     │  collector thread                 │ reaps workers (signalfd + waitid)
 *     │  ◀── SPAWNED / EXITED ────────────┘ (SOCK_SEQPACKET control socket)
 *     └── two pipes per worker: job frames down one, results up the other
 *
 * Jobs live in the extra storage of their future (corio__future_create_ext),
 * with their frame already serialised (wire.h). A submit appends the job to
 * the pool queue and, if a worker has room, writes it to that worker's
 * job pipe at once from the submitting thread (non-blocking; what does not fit
 * is written later by the collector on EPOLLOUT). Each worker holds a FIFO
 * of outstanding jobs; it answers them in order, so the oldest outstanding
 * job is the one it runs.
 *
 * The collector thread epolls the control socket, every worker socket and
 * an eventfd. It reads results, completes futures (outside the pool lock:
 * completing runs done-callbacks and wakes waiters, which may submit again),
 * refills workers, handles exits reported by the fork server, replaces
 * workers and breaks the pool when a worker dies as Python's does.
 *
 * The parts (pp_internal.h lists them) depend one way: registry <-
 * dispatch <- receive <- collector <- this file.
 *
 * Locks: the pool lock guards queue, workers and every job's pool-side
 * fields. Order: live_lock → pool lock → future lock, and pool lock →
 * corio__pp_fd_lock. No future is ever completed while the pool lock is held.
 */
#include <sys/mman.h>

#include "pp_internal.h"

/* ---- submit ------------------------------------------------------------------ */

static corio_future *enqueue(pool *p, pp_job *j, int *err) {
    pp_job *done = NULL;
    j->submit_ns = corio__now_ns();
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
        pthread_mutex_unlock(&p->lock);
        *err = CORIO_EBROKEN_PROCESS_POOL;
        return NULL;
    }
    if (p->shutdown) {
        pthread_mutex_unlock(&p->lock);
        *err = CORIO_ESHUTDOWN;
        return NULL;
    }
    j->next = NULL;
    if (p->qt)
        p->qt->next = j;
    else
        p->qh = j;
    p->qt = j;
    corio_future *f = corio_future_ref(j->f); /* the caller's reference */
    corio__pp_dispatch_locked(p, &done);
    pthread_mutex_unlock(&p->lock);
    corio__pp_complete_all(done);
    return f;
}

/* A job with a frame of `payload` bytes after the header; NULL on ENOMEM. */
static pp_job *job_new(pool *p, uint32_t kind, corio_fn fn, uint64_t arg, size_t payload) {
    size_t flen = sizeof(corio__job_hdr) + payload;
    int inl = flen <= INLINE_FRAME;
    corio_future *f = corio__future_create_ext(sizeof(pp_job) + (inl ? flen : 0));
    if (!f)
        return NULL;
    pp_job *j = corio__future_ext(f);
    memset(j, 0, sizeof *j);
    j->f = f;
    j->pool_id = p->id;
    j->frame_len = flen;
    if (inl) {
        j->frame = (unsigned char *)(j + 1);
    } else {
        j->frame = corio__malloc(flen);
        j->heap = 1;
        if (!j->frame) {
            corio_future_unref(f);
            return NULL;
        }
    }
    corio__job_hdr h = {.magic = CORIO__JOB_MAGIC,
                        .kind = kind,
                        .fn = (uint64_t)(uintptr_t)fn,
                        .arg = arg,
                        .len = payload};
    memcpy(j->frame, &h, sizeof h);
    corio__future_set_helper(f, corio__pp_help, p);
    return j;
}

static void job_free(pp_job *j) {
    if (j->heap)
        free(j->frame);
    corio_future_unref(j->f);
}

static corio_future *pp_submit(corio_executor *ex, corio_fn fn, void *arg, const void *data,
                               size_t len, int bytes, int *err) {
    pool *p = (pool *)ex;
    if (bytes && len > CORIO__WIRE_MAX_PAYLOAD) {
        *err = -EMSGSIZE;
        return NULL;
    }
    pp_job *j = job_new(p, bytes ? CORIO__JOB_BYTES : CORIO__JOB_PTR, fn,
                        bytes ? 0 : (uint64_t)(uintptr_t)arg, bytes ? len : 0);
    if (!j) {
        *err = -ENOMEM;
        return NULL;
    }
    if (bytes && len)
        memcpy(j->frame + sizeof(corio__job_hdr), data, len);
    corio_future *f = enqueue(p, j, err);
    if (!f)
        job_free(j);
    return f;
}

static corio_future *pp_submit_batch(corio_executor *ex, corio_fn fn, void *const *items,
                                     size_t n, int bytes, int *err) {
    pool *p = (pool *)ex;
    /* The chunk travels as one frame: n words (pointers, or lengths followed
     * by the data of every item). */
    if (n == 0 || n > CORIO__WIRE_MAX_PAYLOAD / sizeof(uint64_t)) {
        *err = n ? -EMSGSIZE : -EINVAL;
        return NULL;
    }
    uint64_t payload = (uint64_t)n * sizeof(uint64_t);
    /* Each length is checked against what is left under the limit before
     * it is added, so the sum never wraps (two items of 2^63 bytes). */
    for (size_t i = 0; bytes && i < n && payload <= CORIO__WIRE_MAX_PAYLOAD; i++) {
        size_t len = ((const corio_value *)items[i])->len;
        payload = len > CORIO__WIRE_MAX_PAYLOAD - payload ? CORIO__WIRE_MAX_PAYLOAD + 1
                                                           : payload + len;
    }
    if (payload > CORIO__WIRE_MAX_PAYLOAD) {
        *err = n ? -EMSGSIZE : -EINVAL;
        return NULL;
    }
    pp_job *j = job_new(p, bytes ? CORIO__JOB_BATCH_BYTES : CORIO__JOB_BATCH_PTR, fn, n,
                        (size_t)payload);
    if (!j) {
        *err = -ENOMEM;
        return NULL;
    }
    j->nitems = n;
    unsigned char *w = j->frame + sizeof(corio__job_hdr);
    unsigned char *d = w + n * sizeof(uint64_t);
    for (size_t i = 0; i < n; i++) {
        uint64_t word;
        if (bytes) {
            const corio_value *v = items[i];
            word = v->len;
            if (v->len)
                memcpy(d, v->ptr, v->len);
            d += v->len;
        } else {
            word = (uint64_t)(uintptr_t)items[i];
        }
        memcpy(w + i * sizeof word, &word, sizeof word);
    }
    corio_future *f = enqueue(p, j, err);
    if (!f)
        job_free(j);
    return f;
}

/* ---- shutdown and destroy ---------------------------------------------------- */

/* Wait for the collector to finish, until deadline. Lock held. */
static int wait_done_locked(pool *p, int64_t deadline) {
    while (!p->done) {
        if (deadline == INT64_MAX) {
            pthread_cond_wait(&p->done_cv, &p->lock);
            continue;
        }
        int64_t now = corio__now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        /* done_cv uses CLOCK_MONOTONIC (see create). */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (deadline - now);
        ts.tv_sec = t / 1000000000;
        ts.tv_nsec = t % 1000000000;
        pthread_cond_timedwait(&p->done_cv, &p->lock, &ts);
    }
    return 0;
}

static void terminate_locked(pool *p, int sig, pp_job **done) {
    pp_job *j;
    while ((j = p->qh)) { /* nobody will run these now */
        p->qh = j->next;
        corio__pp_outcome(done, j, C_CANCEL_EXEC, 0, NULL, 0);
    }
    p->qt = NULL;
    for (worker *w = p->workers; w; w = w->next) {
        if (!w->kill_reason || w->kill_reason == KILL_TERMINATE) {
            w->kill_reason = KILL_TERMINATE;
            corio__pp_signal_worker(p, w, sig);
        }
    }
}

/* The fork server did not carry out a shutdown's kill requests. It has not
 * been reaped (the collector reaps it last), so its pid is ours to signal;
 * stopped, it cannot reap a worker, so the workers' pids are still theirs.
 * Its death reaches the collector as end of stream on the control socket
 * (fork_server_lost), which fails what is left. Lock held. */
static void kill_fork_server_locked(pool *p) {
    if (p->fs_dead || p->fs_pid <= 0)
        return;
    kill(p->fs_pid, SIGSTOP);
    for (worker *w = p->workers; w; w = w->next)
        if (w->pid > 0)
            kill(w->pid, SIGKILL);
    snprintf(p->broken_msg, sizeof p->broken_msg,
             "the process pool's fork server (pid %d) did not answer during shutdown; it and "
             "its workers were killed",
             (int)p->fs_pid);
    p->fs_killed = 1;
    kill(p->fs_pid, SIGKILL);
}

static int pp_shutdown(corio_executor *ex, int wait, int cancel_futures, double timeout) {
    pool *p = (pool *)ex;
    pp_job *done = NULL;
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    if (cancel_futures) {
        pp_job *j;
        /* Python cancels the futures that have not started; a job
         * re-queued after a worker loss is cancelled the same way. */
        while ((j = p->qh)) {
            p->qh = j->next;
            corio__pp_outcome(&done, j, C_CANCEL_EXEC, 0, NULL, 0);
        }
        p->qt = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    corio__pp_complete_all(done);
    corio__pp_wake_collector(p); /* closes idle workers' input */
    if (!wait || pthread_equal(pthread_self(), p->collector))
        return 0; /* (a done-callback cannot wait for its own thread) */
    int r = 0;
    pthread_mutex_lock(&p->lock);
    if (timeout >= 0 && wait_done_locked(p, corio__deadline(timeout)) < 0) {
        /* Beyond Python (3.14's terminate_workers / kill_workers): SIGTERM,
         * then after timeout/2 SIGKILL, both through the fork server; when
         * that has not ended it all after another timeout/2, the fork
         * server does not answer (stopped, frozen): it is our own child,
         * so stop it (it cannot reap, so no worker pid can be recycled),
         * kill the workers and it directly, and fail what is left. About
         * 2 * timeout in all, whatever the children do. */
        r = -ETIMEDOUT;
        done = NULL;
        terminate_locked(p, SIGTERM, &done);
        pthread_mutex_unlock(&p->lock);
        corio__pp_complete_all(done);
        pthread_mutex_lock(&p->lock);
        if (wait_done_locked(p, corio__deadline(timeout / 2)) < 0) {
            done = NULL;
            terminate_locked(p, SIGKILL, &done);
            pthread_mutex_unlock(&p->lock);
            corio__pp_complete_all(done);
            pthread_mutex_lock(&p->lock);
            if (wait_done_locked(p, corio__deadline(timeout / 2)) < 0)
                kill_fork_server_locked(p);
        }
    }
    wait_done_locked(p, INT64_MAX);
    /* Join the finished collector here, as CPython's shutdown(wait=True)
     * joins its management thread: a pool shut down by the exit handler
     * and never destroyed leaves no unjoined thread behind. The flag under
     * the lock makes exactly one caller join. */
    int join = !p->joined;
    p->joined = 1;
    pthread_mutex_unlock(&p->lock);
    if (join)
        pthread_join(p->collector, NULL);
    return r;
}

static void pp_destroy(corio_executor *ex) {
    pool *p = (pool *)ex;
    if (pthread_equal(pthread_self(), p->collector)) {
        corio__log("process pool destroyed from its own done-callback; leaking it");
        pthread_detach(p->collector);
        return;
    }
    /* No canceller can reach the pool after this. */
    corio__pp_live_remove(p);
    pthread_mutex_lock(&p->lock);
    while (p->nhelpers) /* threads that found the pool live before */
        pthread_cond_wait(&p->done_cv, &p->lock);
    int join = !p->joined;
    p->joined = 1;
    pthread_mutex_unlock(&p->lock);
    if (join)
        pthread_join(p->collector, NULL);
    corio__pp_free_workers(p->graveyard); /* kept for helpers after the collector's last batch */
    p->graveyard = NULL;
    if (p->shm)
        munmap(p->shm, sizeof *p->shm);
    corio__pp_close_fd(p->ep);
    corio__pp_close_fd(p->wake);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}

/* The counts of a snapshot; the caller holds the pool lock. A job written
 * to a worker is the one it runs (MAX_DEPTH 1), so every outstanding job
 * counts as running. */
static void count_locked(pool *p, corio_executor_stats *st) {
    st->workers = p->nlive;
    for (pp_job *j = p->qh; j; j = j->next)
        st->pending += j->nitems ? j->nitems : 1;
    for (worker *w = p->workers; w; w = w->next) {
        for (pp_job *j = w->head; j; j = j->next)
            st->running++;
        if (w->pid > 0 && st->ids_len < st->ids_cap)
            st->ids[st->ids_len++] = w->pid;
    }
}

/* corio_executor_inspect: one snapshot under the pool lock. */
static void pp_inspect(const corio_executor *ex, corio_executor_stats *st) {
    pool *p = (pool *)ex;
    pthread_mutex_lock(&p->lock);
    count_locked(p, st);
    pthread_mutex_unlock(&p->lock);
}

/* corio_executor_metrics_get: the same snapshot and the totals, taken
 * under one hold of the lock so that they agree with each other. */
static int pp_metrics(corio_executor *ex, corio_executor_metrics *m) {
    pool *p = (pool *)ex;
    corio_executor_stats st = {0};
    pthread_mutex_lock(&p->lock);
    count_locked(p, &st);
    m->workers = (uint64_t)p->nlive;
    m->completed = p->completed;
    for (unsigned k = 0; k < CORIO_METRICS_BUCKETS; k++) {
        m->run_us[k] = p->run_hist[k];
        m->run_samples += p->run_hist[k];
        m->queue_us[k] = p->queue_hist[k];
        m->queue_samples += p->queue_hist[k];
    }
    m->shutdown = p->shutdown != 0;
    pthread_mutex_unlock(&p->lock);
    m->queued = st.pending;
    m->running = st.running;
    m->max_workers = (uint64_t)ex->max_workers;
    m->broken = atomic_load_explicit(&ex->broken, memory_order_relaxed) != 0;
    return 0;
}

static const corio__executor_vt process_pool_vt = {
    .submit = pp_submit,
    .submit_batch = pp_submit_batch,
    .shutdown = pp_shutdown,
    .destroy = pp_destroy,
    .inspect = pp_inspect,
    .metrics = pp_metrics,
};

/* ---- create ------------------------------------------------------------------ */

CORIO_API int corio_process_pool_create(const corio_process_pool_options *opts,
                                        corio_executor **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_process_pool_options o = {0};
    if (opts)
        o = *opts;
    if (o.max_workers < 0 || o.max_workers > CORIO_PROCESS_POOL_MAX_WORKERS ||
        o.max_tasks_per_child < 0)
        return -EINVAL;
    long online = corio__usable_cpus();
    int ncpu = online > 1024 ? 1024 : (int)online;
    if (o.max_workers == 0)
        o.max_workers = ncpu;
    pool *p = corio__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->base.vt = &process_pool_vt;
    p->base.max_workers = o.max_workers;
    atomic_init(&p->base.broken, 0);
    p->o = o;
    p->depth = MAX_DEPTH;
    p->ctl = p->ep = p->wake = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->done_cv, &ca);
    pthread_condattr_destroy(&ca);

    int e = 0, sv[2] = {-1, -1};
    p->ep = corio__epoll_create1(EPOLL_CLOEXEC);
    p->wake = corio__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->ep < 0 || p->wake < 0 ||
        corio__socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        e = -errno;
        goto fail;
    }
    /* Workers poll for their next job only where another CPU can run the
     * application meanwhile. */
    p->ncpu = ncpu;
    if (p->ncpu > 1) {
        p->shm = mmap(NULL, sizeof *p->shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
        if (p->shm == MAP_FAILED)
            p->shm = NULL; /* only the polling is lost */
    }
    corio__fs_config cfg = {o.initializer, o.initargs, p->shm};
    /* corio__pp_fd_lock across the fork: the child closes every registered descriptor
     * and must see a consistent list. The fork server is forked from this
     * thread alone; glibc's fork keeps malloc usable in the child. */
    pthread_mutex_lock(&corio__pp_fd_lock);
    pid_t pid = fork();
    if (pid == 0) {
        corio__unpin_forked_child();
        close(sv[0]);
        corio__fork_server_main(sv[1], &cfg);
    }
    if (pid < 0) {
        e = -errno;
        pthread_mutex_unlock(&corio__pp_fd_lock);
        close(sv[0]);
        close(sv[1]);
        goto fail;
    }
    close(sv[1]);
    corio__pp_reg_fd_locked(sv[0]);
    corio__pp_reg_fd_locked(p->ep);
    corio__pp_reg_fd_locked(p->wake);
    pthread_mutex_unlock(&corio__pp_fd_lock);
    p->fs_pid = pid;
    p->ctl = sv[0];
    /* The control socket stays blocking for sends (the fork server reads
     * it promptly); the collector receives with MSG_DONTWAIT. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->ctl};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->ctl, &ev);
    ev.data.ptr = &p->wake;
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->wake, &ev);

    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < o.max_workers && !e; i++)
        e = corio__pp_spawn_worker_locked(p);
    pthread_mutex_unlock(&p->lock);
    if (!e) {
        /* The collector takes no application signals. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = -corio__thread_create(&p->collector, corio__pp_collector_main, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (e) {
        /* Closing the control socket makes the fork server kill its workers
         * and exit; then it can be reaped. */
        for (worker *w = p->workers, *n; w; w = n) {
            n = w->next;
            corio__pp_close_fd(w->fd);
            corio__pp_close_fd(w->tx_fd);
            corio__pp_close_fd(w->tx_rd);
            free(w->in);
            free(w);
        }
        corio__pp_close_fd(p->ctl);
        waitpid(pid, NULL, 0);
        p->ctl = -1;
        goto fail;
    }
    corio__pp_live_add(p);
    corio__executor_register(&p->base);
    *out = &p->base;
    return 0;
fail:
    if (p->shm)
        munmap(p->shm, sizeof *p->shm);
    corio__pp_close_fd(p->ep);
    corio__pp_close_fd(p->wake);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->done_cv);
    free(p);
    return e;
}
