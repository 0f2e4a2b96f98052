/* corio — process pool: handing jobs to workers. The queue, spawning a
 * worker through the fork server, writing frames, applying outcomes,
 * breaking the pool, and burying and replacing workers. Calls only the
 * registry; the receiver, the collector and the public door call it. */
#include "pp_internal.h"

/* ---- helpers ----------------------------------------------------------------- */

void corio__pp_wake_collector(pool *p) {
    uint64_t one = 1;
    ssize_t r = write(p->wake, &one, sizeof one);
    (void)r; /* a full counter already means "wake" */
}

/* The collector's interest in w: EPOLLOUT on its job pipe while frames
 * wait to be written; EPOLLIN on its result pipe unless a waiting thread
 * is reading it itself (corio__pp_help), so that its answers do not also
 * wake the collector. Only what changed is told to epoll. Lock held. */
void corio__pp_epoll_set(pool *p, worker *w, int out) {
    unsigned in = w->nhelp ? 0u : EPOLLIN;
    if (w->fd >= 0 && !w->rx_done && in != w->ep_in) {
        struct epoll_event ev = {.events = in, .data.ptr = w};
        epoll_ctl(p->ep, EPOLL_CTL_MOD, w->fd, &ev);
        w->ep_in = in;
    }
    if (w->tx_fd >= 0 && !out != !w->epoll_out) {
        struct epoll_event ev = {.events = out ? EPOLLOUT : 0u, .data.ptr = TX_TAG(w)};
        epoll_ctl(p->ep, EPOLL_CTL_MOD, w->tx_fd, &ev);
    }
    w->epoll_out = out;
}

/* Signals go through the fork server: it is the worker's parent, so the
 * pid cannot have been recycled while it has not reaped it. Lock held. */
void corio__pp_signal_worker(pool *p, worker *w, int sig) {
    if (!w->pid) {
        w->kill_sig = sig; /* sent once the fork server reports the pid */
        return;
    }
    if (p->fs_dead || p->ctl < 0)
        return;
    corio__fs_msg m = {.type = CORIO__FS_KILL, .pid = w->pid, .status = sig};
    while (send(p->ctl, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

void corio__pp_describe_exit(char *buf, size_t len, pid_t pid, int how, int status) {
    if (how == CLD_EXITED)
        snprintf(buf, len, "worker pid %d exited with status %d", (int)pid, status);
    else if (how == CLD_KILLED || how == CLD_DUMPED)
        snprintf(buf, len, "worker pid %d was killed by signal %d (SIG%s)%s", (int)pid, status,
                 sigabbrev_np(status) ? sigabbrev_np(status) : "?",
                 how == CLD_DUMPED ? ", core dumped" : "");
    else
        snprintf(buf, len,
                 "worker pid %d closed its connection and ended (status unknown: the fork "
                 "server did not report it)",
                 (int)pid);
}

/* Put an outcome on a job and move it to the completion list. */
void corio__pp_outcome(pp_job **list, pp_job *j, int kind, int code, char *msg, int owned) {
    j->c_kind = j->discard ? C_DROP : kind;
    j->c_code = code;
    j->c_msg = msg;
    j->c_msg_owned = owned;
    j->w = NULL;
    j->next = *list;
    *list = j;
}

/* Apply outcomes (pool lock NOT held): complete futures, drop references.
 * The list is in reverse; reverse it so futures complete in order. */
void corio__pp_complete_all(pp_job *list) {
    pp_job *r = NULL;
    while (list) {
        pp_job *n = list->next;
        list->next = r;
        r = list;
        list = n;
    }
    while (r) {
        pp_job *j = r;
        r = r->next;
        corio_future *f = j->f;
        switch (j->c_kind) {
        case C_VALUE:
            if (corio_future_set_value(f, &j->c_value) != 0 && j->c_value.dtor)
                j->c_value.dtor(j->c_value.ptr);
            break;
        case C_FAIL:
            corio__future_fail(f, j->c_code, j->c_msg);
            break;
        case C_CANCEL:
        case C_CANCEL_EXEC:
            corio__future_finish_cancelled(f, j->c_kind == C_CANCEL_EXEC);
            break;
        default:
            if (j->c_value.dtor)
                j->c_value.dtor(j->c_value.ptr);
            break;
        }
        if (j->c_msg_owned)
            free(j->c_msg);
        if (j->heap)
            free(j->frame);
        corio_future_unref(f); /* may free j */
    }
}

/* Pop the oldest outstanding job of w. */
pp_job *corio__pp_pop_head(worker *w) {
    pp_job *j = w->head;
    if (!j)
        return NULL;
    w->head = j->next;
    if (!w->head)
        w->tail = NULL;
    if (w->tx == j) {
        w->tx = j->next;
        w->tx_off = 0;
    }
    w->nout--;
    if (w->cancel_job == j)
        w->cancel_job = NULL;
    j->next = NULL;
    return j;
}

/* Put w's outstanding jobs back at the front of the queue, in order (they
 * never started: the worker runs them in order and died before). */
void corio__pp_requeue_outstanding(pool *p, worker *w, pp_job **done) {
    pp_job *first = NULL, *last = NULL;
    pp_job *j;
    while ((j = corio__pp_pop_head(w))) {
        if (j->discard) {
            corio__pp_outcome(done, j, C_DROP, 0, NULL, 0);
            continue;
        }
        j->w = NULL;
        if (last)
            last->next = j;
        else
            first = j;
        last = j;
    }
    if (first) {
        last->next = p->qh;
        p->qh = first;
        if (!p->qt)
            p->qt = last;
    }
}

/* Close w's job pipe: it reads end of input and exits after its jobs. */
static void close_input(pool *p, worker *w) {
    if (w->in_closed || w->tx_fd < 0)
        return;
    epoll_ctl(p->ep, EPOLL_CTL_DEL, w->tx_fd, NULL);
    corio__pp_close_fd(w->tx_fd);
    w->tx_fd = -1;
    w->epoll_out = 0;
    w->in_closed = 1;
}

void corio__pp_break_pool_locked(pool *p, const char *msg, pp_job **done);
void corio__pp_break_start_locked(pool *p, worker *bad, const char *msg, pp_job **done);

/* Ask the fork server for a new worker. Lock held.
 *
 * A worker has two pipes (wire.h): jobs down one, results up the other.
 * Pipes, not a socket pair: on a VM a pipe's write and read cost about half
 * a stream socket's (0.9 against 2.1-2.5 us the pair), and a round trip
 * makes two pairs. We keep a copy of the job pipe's read end, so a write
 * to a dead worker never raises SIGPIPE in the application (a pipe has no
 * MSG_NOSIGNAL); its death shows as end of stream on the result pipe. */
int corio__pp_spawn_worker_locked(pool *p) {
    worker *w = corio__calloc(1, sizeof *w);
    unsigned char *in = corio__malloc(INBUF);
    if (!w || !in) {
        free(w);
        free(in);
        return -ENOMEM;
    }
    w->in = in;
    w->token = ++p->next_token;
    int job[2] = {-1, -1}, res[2] = {-1, -1};
    /* corio__pp_fd_lock across pipe2..close: the worker's ends must not leak
     * into a fork server being forked by another pool's create meanwhile. */
    pthread_mutex_lock(&corio__pp_fd_lock);
    if (corio__pipe2(job, O_CLOEXEC | O_NONBLOCK) < 0 ||
        corio__pipe2(res, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = -errno;
        if (job[0] >= 0) {
            close(job[0]);
            close(job[1]);
        }
        pthread_mutex_unlock(&corio__pp_fd_lock);
        free(in);
        free(w);
        return e;
    }
    corio__fs_msg m = {.type = CORIO__FS_SPAWN, .token = w->token};
    struct iovec iov = {&m, sizeof m};
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int pass[2] = {job[0], res[1]}; /* the worker's: jobs in, results out */
    memcpy(CMSG_DATA(c), pass, sizeof pass);
    /* Blocking send: the fork server reads its socket promptly. */
    ssize_t r;
    while ((r = sendmsg(p->ctl, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    int e = r < 0 ? -errno : 0;
    close(res[1]);
    if (e) {
        close(job[0]);
        close(job[1]);
        close(res[0]);
        pthread_mutex_unlock(&corio__pp_fd_lock);
        free(in);
        free(w);
        return e;
    }
    corio__pp_reg_fd_locked(job[0]);
    corio__pp_reg_fd_locked(job[1]);
    corio__pp_reg_fd_locked(res[0]);
    pthread_mutex_unlock(&corio__pp_fd_lock);
    w->fd = res[0];
    w->tx_fd = job[1];
    w->tx_rd = job[0];
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, w->fd, &ev);
    w->ep_in = EPOLLIN;
    ev = (struct epoll_event){.events = 0, .data.ptr = TX_TAG(w)};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, w->tx_fd, &ev);
    w->next = p->workers;
    p->workers = w;
    p->nactive++;
    p->nlive++;
    return 0;
}

/* Write what w has pending, without blocking. Lock held. */
void corio__pp_flush_locked(pool *p, worker *w) {
    if (w->tx && !w->tx_big && w->tx->frame_len > 65536 && w->tx_fd >= 0) {
        w->tx_big = 1;
        fcntl(w->tx_fd, F_SETPIPE_SZ, BIG_PIPE);
    }
    while (w->tx && w->tx_fd >= 0) {
        struct iovec iov[64];
        int cnt = 0;
        size_t off = w->tx_off;
        for (pp_job *j = w->tx; j && cnt < 64; j = j->next, off = 0)
            iov[cnt++] = (struct iovec){j->frame + off, j->frame_len - off};
        ssize_t n = writev(w->tx_fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!w->epoll_out)
                    corio__pp_epoll_set(p, w, 1);
                return;
            }
            /* The worker is gone; its exit report will sort its jobs out. */
            w->tx = NULL;
            break;
        }
        size_t left = (size_t)n;
        while (w->tx && left >= w->tx->frame_len - w->tx_off) {
            left -= w->tx->frame_len - w->tx_off;
            w->tx = w->tx->next;
            w->tx_off = 0;
        }
        if (w->tx)
            w->tx_off += left;
    }
    if (w->epoll_out && !w->tx)
        corio__pp_epoll_set(p, w, 0);
    if (!w->tx && (w->retiring || (p->shutdown && !p->qh) ||
                   (!w->head && atomic_load_explicit(&p->base.broken, memory_order_relaxed))))
        close_input(p, w);
}

static void pp_cancel(corio_future *f, void *arg);

/* True on a collector thread (of any pool). */
_Thread_local int corio__pp_tls_collector;

/* Write queued jobs to workers with room. Lock held. */
void corio__pp_dispatch_locked(pool *p, pp_job **done) {
    int64_t now = 0; /* read once per call, at the first hand-off */
    /* Of the idle workers, the one polling its job pipe (process_worker.c)
     * reads a job without being woken: a job given to another, blocked in
     * read(), waits for a wake-up while the poller burns a CPU for nothing
     * (on 2 CPUs, the one the woken worker needed). A stale value only
     * costs that wake-up. */
    pid_t spinner = p->shm ? atomic_load_explicit(&p->shm->spinner, memory_order_relaxed) : 0;
    while (p->qh && !atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
        worker *best = NULL;
        for (worker *w = p->workers; w; w = w->next) {
            if (w->retiring || w->in_closed || w->kill_reason || w->rx_done ||
                w->nout >= (size_t)p->depth)
                continue;
            if (!best || w->nout < best->nout ||
                (w->nout == best->nout && spinner && w->pid == spinner))
                best = w;
        }
        if (!best)
            break;
        pp_job *j = p->qh;
        p->qh = j->next;
        if (!p->qh)
            p->qt = NULL;
        j->next = NULL;
        if (j->discard) {
            corio__pp_outcome(done, j, C_DROP, 0, NULL, 0);
            continue;
        }
        if (!j->started) {
            if (corio_future_set_running_or_notify_cancel(j->f) != 1) {
                corio__pp_outcome(done, j, C_DROP, 0, NULL, 0); /* cancelled while queued */
                continue;
            }
            j->started = 1;
            if (!now)
                now = corio__now_ns();
            p->queue_hist[corio__pp_bucket(now - j->submit_ns)]++;
            if (p->o.cancel_kills_running)
                corio__future_set_canceller(j->f, pp_cancel, p);
        }
        worker *w = best;
        j->seq = w->seq++;
        memcpy(j->frame + offsetof(corio__job_hdr, seq), &j->seq, sizeof j->seq);
        j->w = w;
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->nout++;
        if (!w->tx) {
            w->tx = j;
            w->tx_off = 0;
        }
        w->dirty = 1;
        if (p->o.max_tasks_per_child > 0 &&
            ++w->assigned >= (unsigned)p->o.max_tasks_per_child) {
            /* Python's max_tasks_per_child: this worker takes no more and
             * exits once its job is answered. It counts against
             * max_workers until it has exited: its replacement is started
             * from its exit report (replace_locked), never before. */
            w->retiring = 1;
            p->nactive--;
        }
    }
    /* Writes are coalesced: a submitter writes only to a worker with
     * nothing unanswered in its pipes (idle, or about to be); a busy
     * worker's new jobs go out with one write when the collector reads its
     * next answer. */
    for (worker *w = p->workers; w; w = w->next) {
        if ((w->dirty && (corio__pp_tls_collector || w->tx == w->head)) || (p->shutdown && !p->qh) ||
            atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
            w->dirty = 0;
            corio__pp_flush_locked(p, w);
        }
    }
}

/* Fail everything: the pool is broken (Python's BrokenProcessPool). */
void corio__pp_break_pool_locked(pool *p, const char *msg, pp_job **done) {
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed))
        return;
    snprintf(p->broken_msg, sizeof p->broken_msg, "%s", msg);
    atomic_store_explicit(&p->base.broken, 1, memory_order_release);
    pp_job *j;
    while ((j = p->qh)) {
        p->qh = j->next;
        corio__pp_outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
    }
    p->qt = NULL;
    for (worker *w = p->workers; w; w = w->next) {
        while ((j = corio__pp_pop_head(w)))
            corio__pp_outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
        w->tx = NULL;
        if (w->kill_reason != KILL_TERMINATE)
            w->kill_reason = KILL_BROKEN;
        corio__pp_signal_worker(p, w, SIGKILL);
    }
}

/* A worker could not be started (spawn failed, or its initializer failed
 * or exited): the pool is broken, but a job that a healthy worker runs
 * keeps its result. Only what cannot run fails: the queue, and the jobs
 * written to `bad` (the worker that failed, or NULL). The other workers
 * finish their job, then see their input closed and exit. */
void corio__pp_break_start_locked(pool *p, worker *bad, const char *msg, pp_job **done) {
    pp_job *j;
    /* Another worker failing to start after the pool broke still fails
     * what was written to it (with the first message). */
    if (!atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
        snprintf(p->broken_msg, sizeof p->broken_msg, "%s", msg);
        atomic_store_explicit(&p->base.broken, 1, memory_order_release);
    }
    while ((j = p->qh)) {
        p->qh = j->next;
        corio__pp_outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
    }
    p->qt = NULL;
    if (bad) {
        while ((j = corio__pp_pop_head(bad)))
            corio__pp_outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
        bad->tx = NULL;
        if (!bad->kill_reason)
            bad->kill_reason = KILL_BROKEN;
    }
    for (worker *w = p->workers; w; w = w->next)
        if (!w->head)
            close_input(p, w);
}


/* Cancel of a RUNNING job (cancel_kills_running): kill the worker running
 * it, or drop it if it has not started. Runs on the cancelling thread,
 * without the future's lock; the pool may already be gone. */
static void pp_cancel(corio_future *f, void *arg) {
    pool *p = arg;
    pp_job *j = corio__future_ext(f);
    if (!corio__pp_lock_live_pool(p, j))
        return;
    int finish_now = 0;
    if (j->w && j->w->head == j) {
        if (!j->w->kill_reason) {
            j->w->kill_reason = KILL_CANCEL;
            j->w->cancel_job = j;
            corio__pp_signal_worker(p, j->w, SIGKILL);
        }
    } else if (!j->discard && !corio_future_done(f)) {
        /* Written ahead but not started, or re-queued: it will not run. */
        j->discard = 1;
        finish_now = 1;
    }
    pthread_mutex_unlock(&p->lock);
    if (finish_now)
        corio__future_finish_cancelled(f, 0);
}

/* Remove w from the pool (its process is gone). Lock held. */
void corio__pp_bury_locked(pool *p, worker *w) {
    worker **pp = &p->workers;
    while (*pp != w)
        pp = &(*pp)->next;
    *pp = w->next;
    if (!w->retiring)
        p->nactive--;
    p->nlive--;
    if (w->fd >= 0) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
        corio__pp_close_fd(w->fd);
        w->fd = -1;
    }
    if (w->tx_fd >= 0) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, w->tx_fd, NULL);
        corio__pp_close_fd(w->tx_fd);
        w->tx_fd = -1;
    }
    corio__pp_close_fd(w->tx_rd);
    w->tx_rd = -1;
    free(w->big);
    w->big = NULL;
    w->next = p->graveyard;
    p->graveyard = w;
}

/* Free a list of buried workers (linked by next). */
void corio__pp_free_workers(worker *g) {
    while (g) {
        worker *nx = g->next;
        free(g->in);
        free(g);
        g = nx;
    }
}

/* Start a replacement if the pool still needs one. Lock held. */
void corio__pp_replace_locked(pool *p, pp_job **done) {
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed) || p->fs_dead)
        return;
    if (p->shutdown && !p->qh)
        return;
    /* nlive counts retiring workers until their exit: never more than
     * max_workers processes at once. */
    while (p->nlive < p->base.max_workers) {
        int e = corio__pp_spawn_worker_locked(p);
        if (e < 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "a worker process could not be started: %s",
                     corio_strerror(e));
            corio__pp_break_start_locked(p, NULL, msg, done);
            return;
        }
    }
}
