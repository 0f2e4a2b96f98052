/* corio — the MPI executor's client side: submit, the progress thread,
 * shutdown.
 *
 * Threads: submitters (any thread, loops' coroutines included) only take
 * the pool lock to queue a job and, when the progress thread sleeps,
 * signal it. The progress thread makes every MPI call of the executor
 * (MPI_THREAD_SERIALIZED), so no loop ever blocks in MPI. It sends with
 * MPI_Isend and finds results with MPI_Improbe + MPI_Mrecv, both
 * non-blocking (MPI_Improbe rather than MPI_Testsome over posted
 * receives: results have any size, and a matched probe sizes the buffer).
 * Between polls it backs off: 64 tight polls, then 64 polls with
 * sched_yield, then timed waits on its condition variable doubling from
 * 10 µs to max_poll_us (200 µs by default). A submission signals the
 * condition variable, so new work never waits for the backoff; a result
 * arriving during a sleep waits at most max_poll_us (only after about
 * 128 empty polls: in a busy pool results are seen at once). Fewer yields
 * matter on an oversubscribed machine, where a yield storm among ranks
 * costs more than the sleep (measured: see docs/benchmarks.md). With
 * nothing queued or in flight it yields 256 times, then sleeps until a
 * submission.
 *
 * Each worker holds at most DEPTH jobs (one running, one already sent
 * behind it, to hide the message latency). A job is RUNNING, no longer
 * cancellable, once sent; queued jobs stay PENDING and cancellable.
 *
 * Lock: the pool lock guards the queue and the flags marked below; no
 * future is completed while it is held. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi_internal.h"
#include "fault.h"
#include "corio/runtime.h"

#define DEPTH 2

typedef struct mjob {
    struct mjob *next;  /* queue, or the worker's in-flight FIFO */
    corio_future *f;    /* the pool's reference */
    uint64_t id;        /* echoed by the worker */
    unsigned char *buf; /* the job message (header, name, payload) */
    size_t len;         /* its bytes */
    size_t nitems;      /* map chunk: items; 0 for one job */
    MPI_Request req;    /* the Isend, until the result arrives */
} mjob;

typedef struct mworker {
    mjob *head, *tail; /* jobs sent, oldest first */
    int n;             /* their number */
} mworker;

typedef struct mpool {
    corio_executor base;   /* common head (first) */
    pthread_mutex_t lock;  /* guards the fields up to `thread_done` */
    pthread_cond_t wake;   /* the progress thread sleeps on it */
    pthread_cond_t done_cv; /* broadcast when the progress thread ends */
    mjob *qh, *qt;         /* queued jobs (PENDING) */
    size_t nq;             /* their number */
    int shutdown;          /* submits are refused */
    int stopping;          /* the progress thread ends once idle */
    int abandon;           /* shutdown timed out: fail what runs and end now */
    int thread_done;       /* the progress thread has ended */
    char why[256];         /* why the pool broke (set once, under the lock) */
    _Atomic size_t running; /* jobs sent and not answered (inspect) */
    /* Progress thread only, after create: */
    MPI_Comm comm;         /* SPMD duplicate of the world, or the spawn intercomm */
    int spawned;           /* comm is an intercomm to spawned workers */
    int first;             /* rank of worker 0 on comm */
    int nworkers;          /* workers */
    mworker *w;            /* per worker */
    uint64_t next_id;      /* id of the next job (under the lock) */
    size_t max_payload;    /* submit limit */
    int max_poll_us;       /* longest backoff sleep */
    pthread_t thr;         /* the progress thread */
    int joined;            /* thr was joined */
} mpool;

static const corio__executor_vt mpi_vt;

static mpool *as_pool(corio_executor *ex) { return ex && ex->vt == &mpi_vt ? (mpool *)ex : NULL; }

/* ---- completing jobs (no lock held) ------------------------------------------ */

/* The future helper of every job: a waiter yields while polling for up to
 * about 200 µs before it parks, so a short job's result needs no futex
 * wake-up of the waiting thread (in a coroutine, corio_yield lets the
 * loop's other coroutines run between polls). */
static int mpi_help(corio_future *f, void *arg, int64_t deadline_ns) {
    (void)arg;
    int64_t end = corio__now_ns() + 200000;
    if (end > deadline_ns)
        end = deadline_ns;
    int coro = corio_in_coroutine();
    while (!corio_future_done(f)) {
        if (corio__now_ns() >= end)
            return 0;
        if (coro ? corio_yield() == -ECANCELED : sched_yield() != 0)
            return 0;
    }
    return 1;
}

static void job_release(mjob *j) {
    free(j->buf);
    j->buf = NULL;
    corio_future_unref(j->f); /* j lives in f's storage: last use */
}

static void job_fail(mjob *j, int code, const char *msg) {
    corio__future_fail(j->f, code, msg);
    job_release(j);
}

/* Break the pool: fail every job sent or queued with CORIO_EBROKEN_MPI. */
static void pool_break(mpool *p, const char *why) {
    pthread_mutex_lock(&p->lock);
    if (!p->why[0])
        snprintf(p->why, sizeof p->why, "%s", why);
    atomic_store_explicit(&p->base.broken, 1, memory_order_release);
    mjob *q = p->qh;
    p->qh = p->qt = NULL;
    p->nq = 0;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++) {
        mjob *j = p->w[i].head;
        p->w[i].head = p->w[i].tail = NULL;
        p->w[i].n = 0;
        while (j) {
            mjob *nx = j->next;
            atomic_fetch_sub(&p->running, 1);
            job_fail(j, CORIO_EBROKEN_MPI, p->why);
            j = nx;
        }
    }
    while (q) {
        mjob *nx = q->next;
        job_fail(q, CORIO_EBROKEN_MPI, p->why);
        q = nx;
    }
}

static int mpi_failed(mpool *p, int rc, const char *what, int rank) {
    char e[MPI_MAX_ERROR_STRING];
    int el = 0;
    MPI_Error_string(rc, e, &el);
    char why[256];
    snprintf(why, sizeof why, "MPI executor broken: %s (rank %d): %.160s", what, rank, e);
    pool_break(p, why);
    return -1;
}

/* Turn a result message into the job's outcome. */
static void job_complete(mjob *j, unsigned char *m, size_t mlen) {
    corio__mpi_res h;
    memcpy(&h, m, sizeof h);
    const unsigned char *pl = m + sizeof h;
    if (h.len > mlen - sizeof h || h.msglen > mlen - sizeof h - h.len) {
        job_fail(j, CORIO_EPROTOCOL, "truncated result from an MPI worker");
        return;
    }
    if (h.code < 0) {
        char msg[CORIO__MPI_MAX_MSG + 1];
        memcpy(msg, pl + h.len, h.msglen);
        msg[h.msglen] = '\0';
        job_fail(j, h.code, msg);
        return;
    }
    corio_value v = {(void *)(uintptr_t)h.ptr, 0, NULL};
    if (h.kind == CORIO__MPI_RES_PTRS) {
        size_t n = (size_t)h.ptr;
        if (n != j->nitems || h.len != n * sizeof(uint64_t)) {
            job_fail(j, CORIO_EPROTOCOL, "batch result of the wrong size");
            return;
        }
        corio__batch *b = corio__calloc(1, sizeof *b + n * sizeof b->items[0]);
        if (!b) {
            job_fail(j, -ENOMEM, "out of memory receiving a chunk");
            return;
        }
        b->n = n;
        for (size_t i = 0; i < n; i++) {
            uint64_t x;
            memcpy(&x, pl + i * sizeof x, sizeof x);
            b->items[i].value.ptr = (void *)(uintptr_t)x;
        }
        v = (corio_value){b, 0, corio__batch_free};
        goto set;
    }
    if (h.kind == CORIO__MPI_RES_BATCH) {
        size_t n = (size_t)h.ptr;
        if (n != j->nitems) {
            job_fail(j, CORIO_EPROTOCOL, "batch result of the wrong size");
            return;
        }
        corio__batch *b = corio__calloc(1, sizeof *b + n * sizeof b->items[0]);
        if (!b) {
            job_fail(j, -ENOMEM, "out of memory receiving a chunk");
            return;
        }
        b->n = n;
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            corio__mpi_item x;
            if (h.len - off < sizeof x)
                goto corrupt;
            memcpy(&x, pl + off, sizeof x);
            off += sizeof x;
            if (x.len > h.len - off || x.msglen > h.len - off - x.len)
                goto corrupt;
            corio__batch_item *it = &b->items[i];
            it->code = x.code;
            if (x.code < 0) {
                it->message = corio__malloc(x.msglen + 1);
                if (it->message) {
                    memcpy(it->message, pl + off + x.len, x.msglen);
                    it->message[x.msglen] = '\0';
                }
            } else if (x.len) {
                void *d = corio__malloc(x.len);
                if (!d) {
                    it->code = -ENOMEM;
                } else {
                    memcpy(d, pl + off, x.len);
                    it->value = (corio_value){d, x.len, free};
                }
            } else {
                it->value.ptr = (void *)(uintptr_t)x.ptr;
            }
            off += x.len + x.msglen;
        }
        v = (corio_value){b, 0, corio__batch_free};
        goto set;
    corrupt:
        corio__batch_free(b);
        job_fail(j, CORIO_EPROTOCOL, "corrupt batch result from an MPI worker");
        return;
    }
    if (h.len) {
        void *d = corio__malloc(h.len);
        if (!d) {
            job_fail(j, -ENOMEM, "out of memory receiving a result");
            return;
        }
        memcpy(d, pl, h.len);
        v = (corio_value){d, h.len, free};
    }
set:
    if (corio_future_set_value(j->f, &v) != 0 && v.dtor)
        v.dtor(v.ptr);
    job_release(j);
}

/* ---- the progress thread -------------------------------------------------------- */

/* Send queued jobs to workers with room. Returns jobs sent, -1 if broken. */
static int dispatch(mpool *p) {
    int sent = 0;
    for (;;) {
        /* The least loaded worker, the lowest rank among equals: a caller
         * submitting one job at a time keeps hitting the same worker,
         * which is still polling (not yet in its sleeping backoff). */
        int wi = -1;
        for (int i = 0; i < p->nworkers; i++) {
            if (p->w[i].n < DEPTH && (wi < 0 || p->w[i].n < p->w[wi].n))
                wi = i;
        }
        if (wi < 0)
            return sent;
        pthread_mutex_lock(&p->lock);
        mjob *j = p->qh;
        if (j) {
            p->qh = j->next;
            if (!p->qh)
                p->qt = NULL;
            p->nq--;
        }
        pthread_mutex_unlock(&p->lock);
        if (!j)
            return sent;
        if (corio__future_start(j->f, NULL, NULL) != 1) { /* cancelled while queued */
            job_release(j);
            continue;
        }
        j->next = NULL;
        int rc = MPI_Isend(j->buf, (int)j->len, MPI_BYTE, p->first + wi, CORIO__MPI_TAG_JOB,
                           p->comm, &j->req);
        mworker *w = &p->w[wi];
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->n++;
        atomic_fetch_add(&p->running, 1);
        if (rc != MPI_SUCCESS)
            return mpi_failed(p, rc, "sending a job", p->first + wi);
        sent++;
    }
}

/* Receive the results that arrived. Returns results handled, -1 if broken. */
static int receive(mpool *p) {
    int got = 0;
    for (int k = 0; k < 64; k++) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        int rc = MPI_Improbe(MPI_ANY_SOURCE, CORIO__MPI_TAG_RES, p->comm, &flag, &msg, &st);
        if (rc != MPI_SUCCESS)
            return mpi_failed(p, rc, "polling for results", -1);
        if (!flag)
            return got;
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        unsigned char *m = corio__malloc(count > 0 ? (size_t)count : 1);
        if (!m) {
            pool_break(p, "MPI executor broken: out of memory receiving a result");
            return -1;
        }
        int src = st.MPI_SOURCE;
        rc = MPI_Mrecv(m, count, MPI_BYTE, &msg, &st);
        if (rc != MPI_SUCCESS) {
            free(m);
            return mpi_failed(p, rc, "receiving a result", src);
        }
        got++;
        int wi = src - p->first;
        corio__mpi_res h;
        if ((size_t)count < sizeof h || wi < 0 || wi >= p->nworkers) {
            free(m);
            char why[160];
            snprintf(why, sizeof why, "MPI executor broken: stray message from rank %d", src);
            pool_break(p, why);
            return -1;
        }
        memcpy(&h, m, sizeof h);
        if (h.kind == CORIO__MPI_RES_DYING) {
            char why[256];
            snprintf(why, sizeof why, "MPI executor broken: %.*s",
                     (int)(h.msglen < (size_t)count - sizeof h ? h.msglen : count - sizeof h),
                     (const char *)m + sizeof h);
            free(m);
            pool_break(p, why);
            char ack = 0;
            MPI_Send(&ack, 1, MPI_BYTE, src, CORIO__MPI_TAG_ACK, p->comm);
            return -1;
        }
        mworker *w = &p->w[wi];
        mjob *j = w->head;
        if (!j || h.magic != CORIO__MPI_RES_MAGIC || h.id != j->id) {
            free(m);
            char why[160];
            snprintf(why, sizeof why, "MPI executor broken: unexpected result from rank %d", src);
            pool_break(p, why);
            return -1;
        }
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->n--;
        /* The worker has the job: its send has completed or is about to. */
        MPI_Wait(&j->req, MPI_STATUS_IGNORE);
        atomic_fetch_sub(&p->running, 1);
        job_complete(j, m, (size_t)count);
        free(m);
    }
    return got;
}

/* STOP every worker (small messages: MPI_Send returns once they are
 * buffered). `abandoned`: the executor gave up on running jobs; the worker
 * reads STOP after its job and then skips MPI_Comm_disconnect, which we no
 * longer call. */
static void stop_workers(mpool *p, int abandoned) {
    corio__mpi_job stop = {.magic = CORIO__MPI_JOB_MAGIC, .kind = CORIO__MPI_JOB_STOP,
                           .arg = (uint64_t)abandoned};
    for (int i = 0; i < p->nworkers; i++)
        MPI_Send(&stop, (int)sizeof stop, MPI_BYTE, p->first + i, CORIO__MPI_TAG_JOB, p->comm);
}

static void *progress_main(void *arg) {
    mpool *p = arg;
    unsigned idle = 0;
    int64_t sleep_ns = 10000;
    int broken = 0;
    for (;;) {
        int did = 0;
        if (!broken) {
            int a = dispatch(p), b = a < 0 ? -1 : receive(p);
            broken = a < 0 || b < 0;
            did = !broken && a + b > 0;
        }
        pthread_mutex_lock(&p->lock);
        size_t inflight = atomic_load(&p->running);
        if (p->abandon && !broken) {
            pthread_mutex_unlock(&p->lock);
            pool_break(p, "MPI executor broken: shutdown timed out with jobs running");
            broken = 1;
            continue;
        }
        if (broken || (p->stopping && p->nq == 0 && inflight == 0)) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        if (did) {
            idle = 0;
            sleep_ns = 10000;
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        if (p->nq == 0 && inflight == 0 && !p->stopping) {
            /* Nothing to do: yield a while first (a caller submitting one
             * job after another then needs no wake-up), then sleep until
             * a submission signals. */
            if (idle++ < 256) {
                pthread_mutex_unlock(&p->lock);
                sched_yield();
                continue;
            }
            pthread_cond_wait(&p->wake, &p->lock);
            idle = 0;
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        idle++;
        if (idle < 64) {
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        if (idle < 128) {
            pthread_mutex_unlock(&p->lock);
            sched_yield();
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + sleep_ns;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
        pthread_mutex_unlock(&p->lock);
        sleep_ns *= 2;
        if (sleep_ns > (int64_t)p->max_poll_us * 1000)
            sleep_ns = (int64_t)p->max_poll_us * 1000;
    }
    pthread_mutex_lock(&p->lock);
    int abandoned = p->abandon;
    pthread_mutex_unlock(&p->lock);
    if (broken)
        pool_break(p, "MPI executor broken");
    /* After a timed-out shutdown the workers are alive, only late: let
     * them end once their job is done. After a worker's death nothing is
     * sent (a send to a dead rank may not return). */
    if (!broken || abandoned)
        stop_workers(p, abandoned);
    if (p->spawned && !broken)
        MPI_Comm_disconnect(&p->comm);
    pthread_mutex_lock(&p->lock);
    p->thread_done = 1;
    pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- submit ------------------------------------------------------------------------ */

static corio_future *unknown_fn(corio_fn fn, int *err) {
    corio_future *f = corio_future_create();
    if (!f) {
        *err = -ENOMEM;
        return NULL;
    }
    char m[160];
    void *addr;
    memcpy(&addr, &fn, sizeof addr); /* printable without a pedantic cast */
    snprintf(m, sizeof m,
             "job function %p is not registered for MPI (use CORIO_MPI_FUNCTION)", addr);
    corio__future_fail(f, -ENOENT, m);
    return f;
}


static void fill_copy(unsigned char *dst, const void *src, size_t len, size_t n) {
    (void)n;
    if (len)
        memcpy(dst, src, len);
}

static corio_future *submit_common(mpool *p, const char *name, uint32_t kind, uint64_t arg,
                                   const void *data, size_t len, size_t nitems,
                                   void (*fill)(unsigned char *, const void *, size_t, size_t),
                                   int *err) {
    /* The whole message is built before the job is queued (published
     * under the lock), so the progress thread never sees a partial one. */
    size_t nl = strlen(name);
    if (len > p->max_payload) {
        *err = -EMSGSIZE;
        return NULL;
    }
    unsigned char *pl;
    corio_future *f = corio__future_create_ext_refs(sizeof(mjob), 2);
    if (!f) {
        *err = -ENOMEM;
        return NULL;
    }
    corio__future_set_helper(f, mpi_help, p);
    mjob *j = corio__future_ext(f);
    memset(j, 0, sizeof *j);
    j->f = f;
    j->nitems = nitems;
    j->len = sizeof(corio__mpi_job) + nl + len;
    j->buf = corio__malloc(j->len);
    if (!j->buf) {
        corio_future_unref(f);
        corio_future_unref(f);
        *err = -ENOMEM;
        return NULL;
    }
    corio__mpi_job h = {.magic = CORIO__MPI_JOB_MAGIC, .kind = kind, .arg = arg, .len = len,
                        .namelen = (uint32_t)nl};
    memcpy(j->buf + sizeof h, name, nl);
    pl = j->buf + sizeof h + nl;
    fill(pl, data, len, nitems);
    pthread_mutex_lock(&p->lock);
    int code = p->base.broken ? CORIO_EBROKEN_MPI : p->shutdown ? CORIO_ESHUTDOWN : 0;
    if (code) {
        pthread_mutex_unlock(&p->lock);
        free(j->buf);
        corio_future_unref(f);
        corio_future_unref(f);
        *err = code;
        return NULL;
    }
    h.id = j->id = p->next_id++;
    memcpy(j->buf, &h, sizeof h);
    if (p->qt)
        p->qt->next = j;
    else
        p->qh = j;
    p->qt = j;
    p->nq++;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return f;
}

static corio_future *mpi_submit(corio_executor *ex, corio_fn fn, void *arg, const void *data,
                                size_t len, int bytes, int *err) {
    mpool *p = (mpool *)ex;
    char name[CORIO_MPI_NAME_MAX + 1];
    if (!corio__mpi_name_of(fn, name, sizeof name))
        return unknown_fn(fn, err);
    if (bytes)
        return submit_common(p, name, CORIO__MPI_JOB_BYTES, 0, data, len, 0, fill_copy, err);
    return submit_common(p, name, CORIO__MPI_JOB_PTR, (uint64_t)(uintptr_t)arg, NULL, 0, 0,
                         fill_copy, err);
}

/* Batch payload: n u64 (pointer values or lengths), then the data. */
static void fill_batch(unsigned char *dst, const void *items, size_t len, size_t n) {
    (void)len;
    void *const *its = items;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = (uint64_t)(uintptr_t)its[i];
        memcpy(dst + i * sizeof v, &v, sizeof v);
    }
}

/* The bytes form: items are corio_value pointers. */
static void fill_batch_bytes(unsigned char *dst, const void *items, size_t len, size_t n) {
    (void)len;
    void *const *its = items;
    unsigned char *data = dst + n * sizeof(uint64_t);
    for (size_t i = 0; i < n; i++) {
        const corio_value *v = its[i];
        uint64_t l = v->len;
        memcpy(dst + i * sizeof l, &l, sizeof l);
        if (v->len)
            memcpy(data, v->ptr, v->len);
        data += v->len;
    }
}

static corio_future *mpi_submit_batch(corio_executor *ex, corio_fn fn, void *const *items,
                                      size_t n, int bytes, int *err) {
    mpool *p = (mpool *)ex;
    char name[CORIO_MPI_NAME_MAX + 1];
    if (!corio__mpi_name_of(fn, name, sizeof name))
        return unknown_fn(fn, err);
    size_t len = n * sizeof(uint64_t);
    if (n > p->max_payload / sizeof(uint64_t)) {
        *err = -EMSGSIZE;
        return NULL;
    }
    if (bytes) {
        for (size_t i = 0; i < n; i++) {
            const corio_value *v = items[i];
            if (v->len > p->max_payload - len) {
                *err = -EMSGSIZE;
                return NULL;
            }
            len += v->len;
        }
        return submit_common(p, name, CORIO__MPI_JOB_BATCH_BYTES, n, items, len, n,
                             fill_batch_bytes, err);
    }
    return submit_common(p, name, CORIO__MPI_JOB_BATCH_PTR, n, items, len, n, fill_batch, err);
}

CORIO_API corio_future *corio_mpi_submit_named(corio_executor *ex, const char *name,
                                               const void *data, size_t len, int *err) {
    int dummy;
    if (!err)
        err = &dummy;
    mpool *p = as_pool(ex);
    if (!p || !name || !*name || strlen(name) > CORIO_MPI_NAME_MAX || (!data && len)) {
        *err = -EINVAL;
        return NULL;
    }
    return submit_common(p, name, CORIO__MPI_JOB_BYTES, 0, data, len, 0, fill_copy, err);
}

/* ---- shutdown, destroy, inspect -------------------------------------------------- */

static int mpi_shutdown(corio_executor *ex, int wait, int cancel_futures, double timeout) {
    mpool *p = (mpool *)ex;
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    p->stopping = 1;
    mjob *q = NULL;
    if (cancel_futures) {
        q = p->qh;
        p->qh = p->qt = NULL;
        p->nq = 0;
    }
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    while (q) {
        mjob *nx = q->next;
        corio__future_finish_cancelled(q->f, 1);
        job_release(q);
        q = nx;
    }
    /* The progress thread cannot wait for itself (a done-callback). */
    if (!wait || pthread_equal(pthread_self(), p->thr))
        return 0;
    int64_t deadline = timeout < 0 ? INT64_MAX : corio__deadline(timeout);
    int r = 0;
    pthread_mutex_lock(&p->lock);
    while (!p->thread_done) {
        if (deadline == INT64_MAX) {
            pthread_cond_wait(&p->done_cv, &p->lock);
            continue;
        }
        int64_t left = deadline - corio__now_ns();
        if (left <= 0) {
            if (!p->abandon) {
                p->abandon = 1;
                r = -ETIMEDOUT;
                pthread_cond_signal(&p->wake);
                deadline = corio__now_ns() + (int64_t)(timeout * 1e9) + 1000000;
                continue;
            }
            break; /* the progress thread is stuck in MPI: give up waiting */
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (left < 50000000 ? left : 50000000);
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&p->done_cv, &p->lock, &ts);
    }
    int done = p->thread_done;
    pthread_mutex_unlock(&p->lock);
    if (done && !p->joined) {
        pthread_join(p->thr, NULL);
        p->joined = 1;
    }
    return done ? r : -ETIMEDOUT;
}

static void mpi_destroy(corio_executor *ex) {
    mpool *p = (mpool *)ex;
    if (!p->joined) {
        pthread_mutex_lock(&p->lock);
        int done = p->thread_done;
        pthread_mutex_unlock(&p->lock);
        if (!done) {
            /* Still stuck in MPI after a timed-out shutdown: leak rather
             * than free what the thread uses. */
            atomic_fetch_sub(&corio__mpi.live, 1);
            return;
        }
        pthread_join(p->thr, NULL);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p->w);
    free(p);
    atomic_fetch_sub(&corio__mpi.live, 1);
}

static void mpi_inspect(const corio_executor *ex, corio_executor_stats *st) {
    mpool *p = (mpool *)ex;
    pthread_mutex_lock(&p->lock);
    st->workers = p->thread_done ? 0 : p->nworkers;
    st->pending = p->nq;
    st->running = atomic_load(&p->running);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers && st->ids && st->ids_len < st->ids_cap; i++)
        st->ids[st->ids_len++] = p->first + i; /* MPI ranks */
}

static const corio__executor_vt mpi_vt = {
    .submit = mpi_submit,
    .submit_batch = mpi_submit_batch,
    .shutdown = mpi_shutdown,
    .destroy = mpi_destroy,
    .metrics = NULL,
    .inspect = mpi_inspect,
};

/* ---- create ------------------------------------------------------------------------- */

static int spawn_workers(mpool *p, const corio_mpi_options *o, int n) {
    char self[4096];
    const char *cmd = o->command;
    if (!cmd) {
        ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
        if (l <= 0)
            return -ECHILD;
        self[l] = '\0';
        cmd = self;
    }
    int *codes = corio__calloc((size_t)n, sizeof *codes);
    if (!codes)
        return -ENOMEM;
    MPI_Info info;
    MPI_Info_create(&info);
    /* Open MPI: let a small machine run more workers than it has slots. */
    MPI_Info_set(info, "map_by", ":OVERSUBSCRIBE");
    int rc = MPI_Comm_spawn(cmd, o->argv ? o->argv : MPI_ARGV_NULL, n, info, 0, MPI_COMM_SELF,
                            &p->comm, codes);
    MPI_Info_free(&info);
    int bad = rc != MPI_SUCCESS;
    for (int i = 0; i < n && !bad; i++)
        bad = codes[i] != MPI_SUCCESS;
    free(codes);
    if (bad) {
        corio__log("MPI_Comm_spawn of %d workers of %s failed", n, cmd);
        return -ECHILD;
    }
    MPI_Comm_set_errhandler(p->comm, MPI_ERRORS_RETURN);
    p->spawned = 1;
    p->first = 0;
    return 0;
}

CORIO_API int corio_mpi_executor_create(const corio_mpi_options *opts, corio_executor **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_mpi_options o = {0};
    if (opts)
        o = *opts;
    if (!corio__mpi.initialized || corio__mpi.finalized || o.max_workers < 0 ||
        o.max_payload > CORIO_MPI_MAX_PAYLOAD || o.max_poll_us < 0)
        return -EINVAL;
    int spmd = corio__mpi.world_size > 1 && !o.spawn;
    int n;
    if (spmd) {
        if (corio__mpi.spmd_taken)
            return -EALREADY;
        n = corio__mpi.world_size - 1;
        if (o.max_workers > n)
            return -EINVAL;
    } else {
        n = o.max_workers ? o.max_workers : 1;
    }
    mpool *p = corio__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->w = corio__calloc((size_t)n, sizeof *p->w);
    if (!p->w) {
        free(p);
        return -ENOMEM;
    }
    p->base.vt = &mpi_vt;
    p->base.max_workers = n;
    p->nworkers = n;
    p->max_payload = o.max_payload ? o.max_payload : CORIO_MPI_MAX_PAYLOAD;
    p->max_poll_us = o.max_poll_us ? o.max_poll_us : 200;
    p->next_id = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    int r = 0;
    if (spmd) {
        p->comm = corio__mpi.spmd;
        p->first = 1;
    } else {
        r = spawn_workers(p, &o, n);
    }
    if (!r && pthread_create(&p->thr, NULL, progress_main, p) != 0) {
        r = -EAGAIN;
        if (p->spawned) {
            stop_workers(p, 0);
            MPI_Comm_disconnect(&p->comm);
        }
    }
    if (r) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
        pthread_cond_destroy(&p->done_cv);
        free(p->w);
        free(p);
        return r;
    }
    if (spmd)
        corio__mpi.spmd_taken = 1;
    atomic_fetch_add(&corio__mpi.live, 1);
    corio__executor_register(&p->base);
    *out = &p->base;
    return 0;
}
