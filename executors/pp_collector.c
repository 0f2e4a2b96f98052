/* corio — process pool: the collector thread. It epolls the control
 * socket, every worker's pipes and an eventfd; reads results (pp_receive.c),
 * handles exits reported by the fork server or seen as end of stream, and
 * refills workers (pp_dispatch.c). */
#include "pp_internal.h"

/* ---- worker exits -------------------------------------------------------- */

static worker *find_worker(pool *p, pid_t pid, uint64_t token) {
    for (worker *w = p->workers; w; w = w->next)
        if ((pid && w->pid == pid) || (token && w->token == token))
            return w;
    return NULL;
}

static void worker_exited(pool *p, worker *w, int how, int status) {
    if (p->shm && w->pid) {
        /* It may have died holding the polling turn. */
        int32_t pid = (int32_t)w->pid;
        atomic_compare_exchange_strong(&p->shm->spinner, &pid, 0);
    }
    /* First take whatever it wrote before dying. */
    if (!w->rx_done)
        corio__pp_receive(p, w);
    pp_job *done = NULL;
    pthread_mutex_lock(&p->lock);
    if (!w->rx_done && (w->big || w->in_len)) {
        free(w->big);
        w->big = NULL;
        w->in_len = 0;
        corio__pp_protocol_fail_locked(p, w, "end of stream in the middle of a frame", &done);
    }
    char what[160];
    corio__pp_describe_exit(what, sizeof what, w->pid, how, status);
    pp_job *j;
    switch (w->kill_reason) {
    case KILL_CANCEL:
        if (w->head && w->head == w->cancel_job)
            corio__pp_outcome(&done, corio__pp_pop_head(w), C_CANCEL, 0, NULL, 0);
        corio__pp_requeue_outstanding(p, w, &done);
        break;
    case KILL_PROTOCOL:
        corio__pp_requeue_outstanding(p, w, &done);
        break;
    case KILL_TERMINATE:
        while ((j = corio__pp_pop_head(w)))
            corio__pp_outcome(&done, j, C_CANCEL_EXEC, 0, NULL, 0);
        break;
    case KILL_BROKEN:
        break; /* its jobs failed when the pool broke */
    default:
        if (w->nout == 0 && (w->retiring || w->in_closed))
            break; /* a normal exit */
        char msg[512];
        snprintf(msg, sizeof msg,
                 "a process in the process pool was terminated abruptly while the future was "
                 "running or pending: %s",
                 what);
        if (p->o.replace_crashed_workers) {
            if ((j = corio__pp_pop_head(w)))
                corio__pp_outcome(&done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, corio__strdup(msg), 1);
            corio__pp_requeue_outstanding(p, w, &done);
        } else {
            corio__pp_break_pool_locked(p, msg, &done);
        }
    }
    corio__pp_bury_locked(p, w);
    corio__pp_replace_locked(p, &done);
    corio__pp_dispatch_locked(p, &done);
    pthread_mutex_unlock(&p->lock);
    corio__pp_complete_all(done);
}

/* The fork server is gone: nothing can be reaped or spawned any more. */
static void fork_server_lost(pool *p) {
    pp_job *done = NULL;
    pthread_mutex_lock(&p->lock);
    p->fs_dead = 1;
    char msg[512];
    if (p->fs_killed)
        snprintf(msg, sizeof msg, "%s", p->broken_msg);
    else
        snprintf(msg, sizeof msg, "the process pool's fork server (pid %d) died",
                 (int)p->fs_pid);
    if (p->nlive)
        corio__pp_break_pool_locked(p, msg, &done);
    while (p->workers)
        corio__pp_bury_locked(p, p->workers);
    pthread_mutex_unlock(&p->lock);
    corio__pp_complete_all(done);
}

static void control(pool *p) {
    for (;;) {
        corio__fs_msg m;
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct iovec iov = {&m, sizeof m};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t n = recvmsg(p->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            epoll_ctl(p->ep, EPOLL_CTL_DEL, p->ctl, NULL);
            fork_server_lost(p);
            return;
        }
        int fd = -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
        if (fd >= 0)
            close(fd); /* none is expected */
        pthread_mutex_lock(&p->lock);
        worker *w = find_worker(p, m.type == CORIO__FS_EXITED ? (pid_t)m.pid : 0,
                                m.type == CORIO__FS_EXITED ? 0 : m.token);
        if (!w || (size_t)n != sizeof m) {
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        if (m.type == CORIO__FS_SPAWNED) {
            w->pid = (pid_t)m.pid;
            if (w->kill_sig)
                corio__pp_signal_worker(p, w, w->kill_sig);
            pthread_mutex_unlock(&p->lock);
        } else if (m.type == CORIO__FS_SPAWN_FAILED) {
            pp_job *done = NULL;
            char msg[256];
            snprintf(msg, sizeof msg, "a worker process could not be started: %s",
                     corio_strerror(m.err));
            /* It never existed: no exit report will come. */
            corio__pp_break_start_locked(p, w, msg, &done);
            corio__pp_bury_locked(p, w);
            pthread_mutex_unlock(&p->lock);
            corio__pp_complete_all(done);
        } else {
            pthread_mutex_unlock(&p->lock);
            worker_exited(p, w, m.how, m.status);
        }
    }
}

/* ---- the collector thread ------------------------------------------------ */

/* How long an end of stream with a job outstanding waits for the fork
 * server's exit report (which says how the worker died) before the worker
 * is settled without it. */
#define EOF_GRACE_NS (200 * 1000000LL)

/* Settle workers whose result pipe ended EOF_GRACE_NS ago with no exit report;
 * returns the epoll timeout (ms) until the next one is due, or -1. */
static int settle_silent_exits(pool *p) {
    for (;;) {
        int64_t now = corio__now_ns(), next = INT64_MAX;
        worker *due = NULL;
        pthread_mutex_lock(&p->lock);
        for (worker *w = p->workers; w && !due; w = w->next) {
            if (!w->eof_ns)
                continue;
            if (now - w->eof_ns >= EOF_GRACE_NS)
                due = w;
            else if (w->eof_ns + EOF_GRACE_NS < next)
                next = w->eof_ns + EOF_GRACE_NS;
        }
        pthread_mutex_unlock(&p->lock);
        if (!due)
            return next == INT64_MAX ? -1 : (int)((next - now) / 1000000 + 1);
        /* Status unknown: the fork server has not reaped it. Its later
         * report finds no worker and is ignored. */
        worker_exited(p, due, 0, 0);
    }
}

void *corio__pp_collector_main(void *arg) {
    pool *p = arg;
    corio__pp_tls_collector = 1;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(p->ep, evs, 64, settle_silent_exits(p));
        if (n < 0 && errno != EINTR) {
            corio__log("process pool: epoll_wait: %s", strerror(errno));
            abort();
        }
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &p->ctl) {
                control(p);
            } else if (tag == &p->wake) {
                uint64_t v;
                ssize_t r = read(p->wake, &v, sizeof v);
                (void)r;
                pp_job *done = NULL;
                pthread_mutex_lock(&p->lock);
                corio__pp_dispatch_locked(p, &done);
                pthread_mutex_unlock(&p->lock);
                corio__pp_complete_all(done);
            } else {
                /* A worker's result pipe (tag w) or job pipe (TX_TAG(w)). */
                int tx = ((uintptr_t)tag & 1) != 0;
                worker *w = tx ? (worker *)(void *)((char *)tag - 1) : tag;
                /* An event may name a worker buried earlier in this batch. */
                int alive = 0;
                pthread_mutex_lock(&p->lock);
                for (worker *x = p->workers; x; x = x->next)
                    alive |= x == w;
                if (alive && tx)
                    corio__pp_flush_locked(p, w);
                pthread_mutex_unlock(&p->lock);
                if (alive && !tx && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    corio__pp_receive(p, w);
            }
        }
        pthread_mutex_lock(&p->lock);
        /* Helpers may still point at a buried worker: keep them until the
         * last helper leaves (it wakes us). */
        worker *g = p->nhelpers ? NULL : p->graveyard;
        if (g)
            p->graveyard = NULL;
        int finished = (p->shutdown || atomic_load_explicit(&p->base.broken, memory_order_relaxed)) &&
                       p->nlive == 0 && (!p->qh || p->fs_dead);
        pthread_mutex_unlock(&p->lock);
        corio__pp_free_workers(g);
        if (finished)
            break;
    }
    /* Every worker has been reaped: let the fork server go, then reap it. */
    corio__pp_close_fd(p->ctl);
    p->ctl = -1;
    while (waitpid(p->fs_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&p->lock);
    p->done = 1;
    pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}
