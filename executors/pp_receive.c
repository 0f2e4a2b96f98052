/* corio — process pool: results from workers. Parsing and checking frames
 * (wire.h), completing their jobs, and the helper through which a thread
 * waiting for a job reads its worker's answer itself. */
#include "pp_internal.h"

/* ---- receiving results --------------------------------------------------- */

/* A worker broke the protocol: fail its running job, kill and replace it. */
void corio__pp_protocol_fail_locked(pool *p, worker *w, const char *what, pp_job **done) {
    char msg[512];
    snprintf(msg, sizeof msg, "corrupt or truncated message from worker pid %d: %s", (int)w->pid,
             what);
    pp_job *j = corio__pp_pop_head(w);
    if (j)
        corio__pp_outcome(done, j, C_FAIL, CORIO_EPROTOCOL, corio__strdup(msg), 1);
    else
        corio__log("process pool: %s", msg);
    w->rx_done = 1;
    if (w->fd >= 0)
        epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
    if (!w->kill_reason) {
        w->kill_reason = KILL_PROTOCOL;
        corio__pp_signal_worker(p, w, SIGKILL);
    }
}

/* The moving average of job run times decides whether a waiting thread
 * polls for its answer (corio__pp_help). */
static void note_time(pool *p, uint64_t ns) {
    p->avg_ns += ((int64_t)ns - p->avg_ns) / 8;
}

/* One complete frame: header h, body (payload then message). `owned` says
 * the body is a malloc'd buffer that may become the value. Lock held. */
static void frame_locked(pool *p, worker *w, const corio__res_hdr *h, unsigned char *body,
                         int owned, pp_job **done) {
    char err[256];
    if (h->kind == CORIO__RES_INIT_FAIL) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "a worker process could not be started: a process initializer failed (worker "
                 "pid %d): %s%s%.*s; the process pool is not usable anymore",
                 (int)w->pid, corio_error_name(h->code), h->msglen ? ": " : "", (int)h->msglen,
                 (const char *)body);
        corio__pp_break_start_locked(p, w, msg, done);
        if (owned)
            free(body);
        return;
    }
    pp_job *j = corio__pp_pop_head(w);
    if (!j) { /* its job was failed meanwhile (the pool broke) */
        if (owned)
            free(body);
        return;
    }
    note_time(p, h->ns);
    p->run_hist[corio__pp_bucket((int64_t)h->ns)]++;
    p->completed++;
    const char *m = (const char *)body + h->len;
    if (h->code < 0) {
        char *msg = NULL;
        if (h->msglen && (msg = corio__malloc(h->msglen + 1))) {
            memcpy(msg, m, h->msglen);
            msg[h->msglen] = '\0';
        }
        corio__pp_outcome(done, j, C_FAIL, h->code, msg, 1);
    } else if (h->kind == CORIO__RES_BATCH) {
        corio__batch *b;
        int r = corio__wire_decode_batch(body, h->len, j->nitems, &b, err, sizeof err);
        if (r == CORIO_EPROTOCOL) {
            /* Re-link so protocol_fail_locked fails this very job. */
            j->next = w->head;
            w->head = j;
            if (!w->tail)
                w->tail = j;
            w->nout++;
            corio__pp_protocol_fail_locked(p, w, err, done);
        } else if (r < 0) {
            corio__pp_outcome(done, j, C_FAIL, r, corio__strdup("out of memory decoding a map chunk"), 1);
        } else {
            j->c_value = (corio_value){b, 0, corio__batch_free};
            corio__pp_outcome(done, j, C_VALUE, 0, NULL, 0);
        }
    } else if (h->len == 0) {
        j->c_value = (corio_value){(void *)(uintptr_t)h->ptr, 0, NULL};
        corio__pp_outcome(done, j, C_VALUE, 0, NULL, 0);
    } else if (owned) {
        j->c_value = (corio_value){body, (size_t)h->len, free};
        body = NULL;
        corio__pp_outcome(done, j, C_VALUE, 0, NULL, 0);
    } else {
        void *v = corio__malloc((size_t)h->len);
        if (v) {
            memcpy(v, body, (size_t)h->len);
            j->c_value = (corio_value){v, (size_t)h->len, free};
            corio__pp_outcome(done, j, C_VALUE, 0, NULL, 0);
        } else {
            corio__pp_outcome(done, j, C_FAIL, -ENOMEM, corio__strdup("out of memory for a result"), 1);
        }
    }
    if (owned)
        free(body);
}

/* Parse w->in; lock held. */
static void parse_locked(pool *p, worker *w, pp_job **done) {
    size_t pos = 0;
    char err[256];
    /* A pool broken by a worker crash failed every job: ignore the rest. A
     * pool broken by a failed start (break_start_locked) still expects the
     * answers of the jobs its healthy workers run. */
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed) && !w->head)
        pos = w->in_len;
    while (!w->rx_done && pos < w->in_len && w->in_len - pos >= sizeof(corio__res_hdr)) {
        corio__res_hdr h;
        memcpy(&h, w->in + pos, sizeof h);
        if (h.kind != CORIO__RES_INIT_FAIL && !w->head) {
            corio__pp_protocol_fail_locked(p, w, "a frame with no job outstanding", done);
            break;
        }
        if (corio__wire_check_res(&h, w->head ? w->head->seq : 0, w->head ? w->head->nitems : 0,
                                  err, sizeof err) < 0) {
            corio__pp_protocol_fail_locked(p, w, err, done);
            break;
        }
        size_t body = (size_t)h.len + h.msglen;
        size_t have = w->in_len - pos - sizeof h;
        if (have >= body) {
            frame_locked(p, w, &h, w->in + pos + sizeof h, 0, done);
            pos += sizeof h + body;
            continue;
        }
        if (sizeof h + body > INBUF) {
            /* Too big for the buffer: receive the body into its own
             * allocation, which becomes the value (payload comes first). */
            w->big = corio__malloc(body);
            if (!w->big) {
                corio__pp_protocol_fail_locked(p, w, "no memory for a large result", done);
                break;
            }
            memcpy(w->big, w->in + pos + sizeof h, have);
            w->big_need = body;
            w->big_got = have;
            w->big_hdr = h;
            pos = w->in_len;
        }
        break;
    }
    if (w->rx_done)
        pos = w->in_len;
    memmove(w->in, w->in + pos, w->in_len - pos);
    w->in_len -= pos;
}

/* One read from w's result pipe into its buffers. The reader is either the
 * collector, which marks w->creading under the lock and reads without it
 * (a large read copies for a while), or a helping waiter, which reads under
 * the lock and only when creading is clear: so one reader at a time. */
static ssize_t read_worker(worker *w) {
    if (w->big)
        return read(w->fd, w->big + w->big_got, w->big_need - w->big_got);
    return read(w->fd, w->in + w->in_len, INBUF - w->in_len);
}

/* Account for n bytes (or EOF / error) just read from w. Lock held. */
static void received_locked(pool *p, worker *w, ssize_t n, pp_job **done);

/* Read what w has sent. Returns 1 on EOF or error. Collector only. */
int corio__pp_receive(pool *p, worker *w) {
    for (int rounds = 0; rounds < 64; rounds++) {
        pthread_mutex_lock(&p->lock);
        if (w->rx_done || w->fd < 0) {
            pthread_mutex_unlock(&p->lock);
            return 1;
        }
        if (w->nhelp && rounds) {
            /* A waiting thread reads this worker now: leave it the rest
             * (taking the lock in turns with it would cost both a futex
             * round per answer). Its EPOLLIN comes back when it leaves. */
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        w->creading = 1;
        pthread_mutex_unlock(&p->lock);
        ssize_t n = read_worker(w);
        int e = errno;
        pp_job *done = NULL;
        pthread_mutex_lock(&p->lock);
        w->creading = 0;
        if (n < 0 && (e == EINTR || e == EAGAIN)) {
            pthread_mutex_unlock(&p->lock);
            if (e == EAGAIN)
                return 0;
            continue;
        }
        received_locked(p, w, n, &done);
        corio__pp_dispatch_locked(p, &done);
        pthread_mutex_unlock(&p->lock);
        corio__pp_complete_all(done);
        if (n <= 0)
            return 1;
    }
    return 0;
}

static void received_locked(pool *p, worker *w, ssize_t n, pp_job **done) {
    if (n <= 0) {
        if (w->big || w->in_len) {
            char what[128];
            if (w->big)
                snprintf(what, sizeof what, "got %zu of %zu bytes of a frame before end of stream",
                         w->big_got, w->big_need);
            else
                snprintf(what, sizeof what, "%zu stray bytes before end of stream", w->in_len);
            free(w->big);
            w->big = NULL;
            w->in_len = 0;
            corio__pp_protocol_fail_locked(p, w, what, done);
        }
        if (!w->rx_done) {
            w->rx_done = 1;
            epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
        }
        /* A worker that closed its pipe with a job outstanding has died;
         * its exit report normally follows at once, but comes through the
         * fork server, which may be stopped: the collector settles the
         * worker from this end of stream after EOF_GRACE_NS. */
        if (w->nout && !w->eof_ns) {
            w->eof_ns = corio__now_ns();
            /* Seen by a helping waiter, the end of stream is news to the
             * collector, which no longer polls this pipe (removed from
             * its epoll just above) and may sleep without a timeout: wake
             * it so that it arms the grace timer. Without this a worker
             * that died while a waiter was reading its pipe, with the
             * fork server stopped, was never settled (its job stayed
             * RUNNING; seen under TSan, whose timing makes the waiter's
             * read window catch the death more often). */
            if (!corio__pp_tls_collector)
                corio__pp_wake_collector(p);
        }
    } else if (w->big) {
        w->big_got += (size_t)n;
        if (w->big_got == w->big_need) {
            unsigned char *b = w->big;
            w->big = NULL;
            frame_locked(p, w, &w->big_hdr, b, 1, done);
        }
    } else {
        w->in_len += (size_t)n;
        parse_locked(p, w, done);
    }
}

/* ---- waiting threads help ------------------------------------------------ */

/* How long a thread waiting for a job reads the answers itself before it
 * parks: a short job's round trip through an awake worker is a few µs. */
#define HELP_NS 50000
/* Jobs that run longer than this on average are not worth polling for. */
#define HELP_MAX_JOB_NS 50000

/* Drop a helper's claim on w (which may be buried meanwhile: its memory is
 * kept while nhelpers > 0). Lock held. */
static void help_release_locked(pool *p, worker *w) {
    if (--w->nhelp == 0)
        corio__pp_epoll_set(p, w, w->epoll_out);
}

/* Most workers one helping thread reads at once. */
#define HELP_MAX_WORKERS 16

/* The future helper (corio__future_set_helper) of every job: instead of the
 * collector reading the answers and waking this thread (two wake-ups per
 * round trip, with the worker's), the waiting thread reads the result pipes of
 * the workers with jobs outstanding itself, while the collector's EPOLLIN
 * interest in those pipes is off (so their answers do not wake it
 * either). Reads happen under the pool lock and only while the collector is
 * not reading that pipe (read_worker). Whatever it reads it processes as
 * the collector would, completing other futures and handing the next
 * queued job to the worker that answered: with the bounded hand-off a
 * worker gets its next job only once it is free, so a thread waiting for
 * one job of a map keeps every worker fed without the collector's wake-up
 * per answer. When it gives up or the job is done it turns EPOLLIN back on;
 * epoll is level-triggered, so an answer that arrived meanwhile is seen by
 * the collector then.
 *
 * In a coroutine it does the same, but between two reads it yields to the
 * loop's other coroutines (and, every few rounds, the CPU to other threads:
 * a pinned loop must not keep the worker that will answer off its CPU)
 * instead of spinning: the answer then reaches the coroutine without
 * waking the collector, or the loop. A coroutine cancelled meanwhile stops
 * helping; the wait that follows reports the cancel. */
int corio__pp_help(corio_future *f, void *arg, int64_t deadline_ns) {
    pool *p = arg;
    pp_job *j = corio__future_ext(f);
    /* The pool may be gone if the job finished meanwhile; destroy waits
     * for nhelpers to be 0. */
    if (!corio__pp_lock_live_pool(p, j))
        return corio_future_done(f);
    /* Long jobs are not worth polling for. (Busy workers are: with the
     * bounded hand-off a worker with a short job idles until someone reads
     * its answer and hands it the next.) */
    if (p->avg_ns > HELP_MAX_JOB_NS) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    p->nhelpers++;
    int64_t until = corio__now_ns() + HELP_NS;
    if (until > deadline_ns)
        until = deadline_ns;
    /* The workers this thread has claimed (nhelp counted); buried ones stay
     * valid while nhelpers > 0. */
    worker *mine[HELP_MAX_WORKERS];
    int nmine = 0;
    int ok;
    unsigned rounds = 0;
    for (;;) {
        if ((ok = corio_future_done(f)) || corio__now_ns() >= until)
            break;
        int got = 0;
        for (worker *w = p->workers; w && !got; w = w->next) {
            if (w->rx_done || w->fd < 0 || !w->nout)
                continue;
            int k = 0;
            while (k < nmine && mine[k] != w)
                k++;
            if (k == nmine) {
                if (nmine == HELP_MAX_WORKERS)
                    continue;
                mine[nmine++] = w;
                if (w->nhelp++ == 0)
                    corio__pp_epoll_set(p, w, w->epoll_out);
            }
            if (w->creading)
                continue;
            ssize_t n = read_worker(w);
            if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
                pp_job *done = NULL;
                received_locked(p, w, n, &done);
                corio__pp_dispatch_locked(p, &done);
                if (done) {
                    pthread_mutex_unlock(&p->lock);
                    corio__pp_complete_all(done);
                    pthread_mutex_lock(&p->lock);
                }
                got = 1; /* the list may have changed: start over */
            }
        }
        if (got)
            continue;
        pthread_mutex_unlock(&p->lock);
        if (corio__tls_coro) {
            if (++rounds % 8 == 0)
                sched_yield();
            int cancelled = corio_yield() < 0;
            pthread_mutex_lock(&p->lock);
            if (cancelled)
                break;
            continue;
        }
        for (int i = 0; i < 32 && !corio_future_done(f); i++) {
            corio__cpu_relax();
        }
        pthread_mutex_lock(&p->lock);
    }
    for (int k = 0; k < nmine; k++)
        help_release_locked(p, mine[k]);
    if (--p->nhelpers == 0) {
        if (p->graveyard)
            corio__pp_wake_collector(p); /* to free what it kept for us */
        pthread_cond_broadcast(&p->done_cv); /* a destroy may wait */
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}
