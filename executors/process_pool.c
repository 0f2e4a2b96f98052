/* corio — the process pool (Python's ProcessPoolExecutor).
 *
 * Processes:
 *
 *   application ──fork (at create)──▶ fork server ──fork (per worker)──▶ worker
 *     │  collector thread                 │ reaps workers (signalfd + waitid)
 *     │  ◀── SPAWNED / EXITED ────────────┘ (SOCK_SEQPACKET control socket)
 *     └── one AF_UNIX stream socket per worker: job frames down, results up
 *
 * Jobs live in the extra storage of their future (corio__future_create_ext),
 * with their frame already serialised (wire.h). A submit appends the job to
 * the pool queue and, if a worker has room, writes it to that worker's
 * socket at once from the submitting thread (non-blocking; what does not fit
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
 * Locks: the pool lock guards queue, workers and every job's pool-side
 * fields. Order: live_lock → pool lock → future lock, and pool lock →
 * fd_lock. No future is ever completed while the pool lock is held.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio/runtime.h"
#include "wire.h"
#include "fault.h"

/* Bytes of a worker's receive buffer; larger frames get their own buffer. */
#define INBUF (64 * 1024)
/* Frames up to this size live inside the job; larger ones are malloc'd. */
#define INLINE_FRAME 4096
/* Most jobs written to one worker: one, the job it runs. A job written
 * ahead behind a running one could neither be cancelled (the worker would
 * run it anyway) nor be taken by another worker that falls idle first, so
 * jobs wait in the parent's queue, PENDING and cancellable, until a worker
 * is free (CPython hands at most max_workers + 1 calls to its call queue).
 * A job is marked RUNNING when it is written to its idle worker, which
 * starts it as soon as it reads it (after its initializer, for a new one). */
#define MAX_DEPTH 1

enum { KILL_NONE = 0, KILL_CANCEL, KILL_PROTOCOL, KILL_TERMINATE, KILL_BROKEN };
enum { C_VALUE = 1, C_FAIL, C_CANCEL, C_CANCEL_EXEC, C_DROP };

struct worker;

typedef struct pp_job {
    struct pp_job *next;  /* pool queue, worker FIFO, or completion list */
    corio_future *f;      /* the job's future (the pool's reference) */
    struct worker *w;     /* worker it was written to; NULL while queued */
    uint64_t pool_id;     /* owning pool, checked by the canceller */
    unsigned char *frame; /* header + payload */
    size_t frame_len;     /* bytes in frame */
    size_t nitems;        /* items of a map chunk; 0 for a single job */
    uint32_t seq;         /* seq written in the frame for its current worker */
    unsigned heap : 1;    /* frame was malloc'd (freed with the job) */
    unsigned started : 1; /* future already RUNNING (set on first dispatch) */
    unsigned discard : 1; /* future already finished as cancelled: drop the result */
    /* Outcome, filled under the pool lock, applied after it is released. */
    int c_kind;           /* C_* */
    int c_code;           /* failure code */
    corio_value c_value;  /* C_VALUE: the result */
    char *c_msg;          /* failure message */
    unsigned c_msg_owned : 1; /* c_msg was malloc'd */
} pp_job;

typedef struct worker {
    struct worker *next;   /* the pool's worker list */
    uint64_t token;        /* SPAWN request number */
    pid_t pid;             /* 0 until the fork server reports it */
    int fd;                /* our end of the socket (non-blocking); -1 once closed */
    int epoll_out;         /* EPOLLOUT is armed */
    int in_closed;         /* we shut our writing side: it exits after its jobs */
    int rx_done;           /* EOF or error on reads, or reading abandoned */
    int retiring;          /* takes no new jobs (max_tasks_per_child reached) */
    int kill_reason;       /* KILL_*: why we signalled it */
    int kill_sig;          /* signal to send once the pid is known */
    pp_job *cancel_job;    /* the running job a cancel killed it for */
    pp_job *head, *tail;   /* outstanding jobs, oldest first */
    size_t nout;           /* their number */
    pp_job *tx;            /* first outstanding job not fully written */
    size_t tx_off;         /* bytes of tx's frame already written */
    uint32_t seq;          /* seq of the next job written */
    unsigned assigned;     /* jobs written (for max_tasks_per_child) */
    int dirty;             /* has jobs to write (during one dispatch) */
    int nhelp;             /* waiting threads reading this socket (EPOLLIN off while > 0) */
    int creading;          /* the collector is reading the socket without the lock */
    int64_t eof_ns;        /* when its socket reached end of stream with jobs outstanding, or 0 */
    unsigned char *in;     /* receive buffer (INBUF bytes) */
    size_t in_len;         /* bytes in it */
    unsigned char *big;    /* body of a frame too large for `in`, or NULL */
    size_t big_need;       /* its size */
    size_t big_got;        /* bytes of it received */
    corio__res_hdr big_hdr; /* its header */
} worker;

typedef struct pool {
    corio_executor base;        /* common executor head (must be first) */
    uint64_t id;                /* unique; lets the canceller find a live pool */
    struct pool *live_next;     /* the list of live pools (live_lock) */
    pthread_mutex_t lock;       /* guards everything below */
    pthread_cond_t done_cv;     /* broadcast when the collector finishes */
    corio_process_pool_options o; /* options, defaults applied */
    pp_job *qh, *qt;            /* jobs not written to any worker */
    worker *workers;            /* live workers (not yet reported exited) */
    worker *graveyard;          /* exited workers, freed after the event batch */
    int nactive;                /* live, non-retiring workers */
    int nlive;                  /* live workers */
    int shutdown;               /* submits refused */
    int done;                   /* collector finished: all workers and the fork server gone */
    int fs_dead;                /* the fork server is gone */
    int fs_killed;              /* shutdown killed it (broken_msg says why) */
    int depth;                  /* jobs written to one worker at most (MAX_DEPTH) */
    int64_t avg_ns;             /* moving average of job run time */
    uint64_t next_token;        /* for SPAWN requests */
    int ctl;                    /* control socket to the fork server */
    pid_t fs_pid;               /* the fork server */
    int ep;                     /* the collector's epoll */
    int wake;                   /* eventfd: shutdown and terminate requests */
    pthread_t collector;        /* the collector thread */
    int ncpu;                   /* online CPUs at create */
    int nhelpers;               /* threads in pp_help (destroy waits for 0; graveyard kept) */
    corio__pp_shared *shm;      /* page shared with the workers (see wire.h) */
    char broken_msg[512];       /* why the pool broke */
} pool;

/* ---- registries -------------------------------------------------------------- */

/* Live pools, for the canceller, which may run after its pool is gone. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pool *live_pools;
static uint64_t next_pool_id = 1;

/* Every parent-side descriptor of every pool, so that a fork server forked
 * later closes them: otherwise a worker socket would stay open in another
 * pool's processes. fd_lock is held across the fork in create. */
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static int *fd_reg;
static size_t fd_n, fd_cap;

static void reg_fd_locked(int fd) {
    if (fd_n == fd_cap) {
        size_t cap = fd_cap ? fd_cap * 2 : 64;
        int *n = corio__realloc(fd_reg, cap * sizeof *n);
        if (!n)
            return; /* only hygiene is lost */
        fd_reg = n;
        fd_cap = cap;
    }
    fd_reg[fd_n++] = fd;
}

static void close_fd(int fd) {
    if (fd < 0)
        return;
    pthread_mutex_lock(&fd_lock);
    for (size_t i = 0; i < fd_n; i++) {
        if (fd_reg[i] == fd) {
            fd_reg[i] = fd_reg[--fd_n];
            break;
        }
    }
    close(fd);
    pthread_mutex_unlock(&fd_lock);
}

void corio__pp_close_registered(void) {
    /* In the fork server: single-threaded, fd_lock was held by the forking
     * thread, whose copy we are; read the array as it was. */
    for (size_t i = 0; i < fd_n; i++)
        close(fd_reg[i]);
    fd_n = 0;
    corio__executor_forget_all(); /* the parent's executors are not joined here */
    /* Locks held at fork time by the forking thread (fd_lock) or by threads
     * that do not exist here (live_lock) start afresh, so that a job may
     * create a pool of its own. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    fd_lock = fresh;
    live_lock = fresh;
    live_pools = NULL;
}

/* ---- helpers ----------------------------------------------------------------- */

static void wake_collector(pool *p) {
    uint64_t one = 1;
    ssize_t r = write(p->wake, &one, sizeof one);
    (void)r; /* a full counter already means "wake" */
}

/* The collector's interest in w: EPOLLOUT while frames wait to be written;
 * EPOLLIN unless a waiting thread is reading the socket itself (pp_help), so
 * that its answers do not also wake the collector. Lock held. */
static void epoll_set(pool *p, worker *w, int out) {
    struct epoll_event ev = {.events = (w->nhelp ? 0u : EPOLLIN) | (out ? EPOLLOUT : 0u),
                             .data.ptr = w};
    if (w->fd >= 0 && !w->rx_done)
        epoll_ctl(p->ep, EPOLL_CTL_MOD, w->fd, &ev);
    w->epoll_out = out;
}

/* Signals go through the fork server: it is the worker's parent, so the
 * pid cannot have been recycled while it has not reaped it. Lock held. */
static void signal_worker(pool *p, worker *w, int sig) {
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

static void describe_exit(char *buf, size_t len, pid_t pid, int how, int status) {
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
static void outcome(pp_job **list, pp_job *j, int kind, int code, char *msg, int owned) {
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
static void complete_all(pp_job *list) {
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
static pp_job *pop_head(worker *w) {
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
static void requeue_outstanding(pool *p, worker *w, pp_job **done) {
    pp_job *first = NULL, *last = NULL;
    pp_job *j;
    while ((j = pop_head(w))) {
        if (j->discard) {
            outcome(done, j, C_DROP, 0, NULL, 0);
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

static void close_input(worker *w) {
    if (w->in_closed || w->fd < 0)
        return;
    shutdown(w->fd, SHUT_WR);
    w->in_closed = 1;
}

static void break_pool_locked(pool *p, const char *msg, pp_job **done);
static void break_start_locked(pool *p, worker *bad, const char *msg, pp_job **done);

/* Ask the fork server for a new worker. Lock held. */
static int spawn_worker_locked(pool *p) {
    worker *w = corio__calloc(1, sizeof *w);
    unsigned char *in = corio__malloc(INBUF);
    if (!w || !in) {
        free(w);
        free(in);
        return -ENOMEM;
    }
    w->in = in;
    w->token = ++p->next_token;
    int sv[2];
    /* fd_lock across socketpair..close: the worker end must not leak into a
     * fork server being forked by another pool's create meanwhile. */
    pthread_mutex_lock(&fd_lock);
    if (corio__socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = -errno;
        pthread_mutex_unlock(&fd_lock);
        free(in);
        free(w);
        return e;
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    corio__fs_msg m = {.type = CORIO__FS_SPAWN, .token = w->token};
    struct iovec iov = {&m, sizeof m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &sv[1], sizeof sv[1]);
    /* Blocking send: the fork server reads its socket promptly. */
    ssize_t r;
    while ((r = sendmsg(p->ctl, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    int e = r < 0 ? -errno : 0;
    close(sv[1]);
    if (e) {
        close(sv[0]);
        pthread_mutex_unlock(&fd_lock);
        free(in);
        free(w);
        return e;
    }
    reg_fd_locked(sv[0]);
    pthread_mutex_unlock(&fd_lock);
    w->fd = sv[0];
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, w->fd, &ev);
    w->next = p->workers;
    p->workers = w;
    p->nactive++;
    p->nlive++;
    return 0;
}

/* Write what w has pending, without blocking. Lock held. */
static void flush_locked(pool *p, worker *w) {
    while (w->tx && w->fd >= 0 && !w->in_closed) {
        struct iovec iov[64];
        int cnt = 0;
        size_t off = w->tx_off;
        for (pp_job *j = w->tx; j && cnt < 64; j = j->next, off = 0)
            iov[cnt++] = (struct iovec){j->frame + off, j->frame_len - off};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t n = sendmsg(w->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!w->epoll_out)
                    epoll_set(p, w, 1);
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
        epoll_set(p, w, 0);
    if (!w->tx && (w->retiring || (p->shutdown && !p->qh) ||
                   (!w->head && atomic_load_explicit(&p->base.broken, memory_order_relaxed))))
        close_input(w);
}

static void pp_cancel(corio_future *f, void *arg);

/* True on a collector thread (of any pool). */
static _Thread_local int tls_collector;

/* Write queued jobs to workers with room. Lock held. */
static void dispatch_locked(pool *p, pp_job **done) {
    while (p->qh && !atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
        worker *best = NULL;
        for (worker *w = p->workers; w; w = w->next) {
            if (w->retiring || w->in_closed || w->kill_reason || w->rx_done ||
                w->nout >= (size_t)p->depth)
                continue;
            if (!best || w->nout < best->nout)
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
            outcome(done, j, C_DROP, 0, NULL, 0);
            continue;
        }
        if (!j->started) {
            if (corio_future_set_running_or_notify_cancel(j->f) != 1) {
                outcome(done, j, C_DROP, 0, NULL, 0); /* cancelled while queued */
                continue;
            }
            j->started = 1;
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
     * nothing unanswered on its socket (idle, or about to be); a busy
     * worker's new jobs go out with one write when the collector reads its
     * next answer. */
    for (worker *w = p->workers; w; w = w->next) {
        if ((w->dirty && (tls_collector || w->tx == w->head)) || (p->shutdown && !p->qh) ||
            atomic_load_explicit(&p->base.broken, memory_order_relaxed)) {
            w->dirty = 0;
            flush_locked(p, w);
        }
    }
}

/* Fail everything: the pool is broken (Python's BrokenProcessPool). */
static void break_pool_locked(pool *p, const char *msg, pp_job **done) {
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed))
        return;
    snprintf(p->broken_msg, sizeof p->broken_msg, "%s", msg);
    atomic_store_explicit(&p->base.broken, 1, memory_order_release);
    pp_job *j;
    while ((j = p->qh)) {
        p->qh = j->next;
        outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
    }
    p->qt = NULL;
    for (worker *w = p->workers; w; w = w->next) {
        while ((j = pop_head(w)))
            outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
        w->tx = NULL;
        if (w->kill_reason != KILL_TERMINATE)
            w->kill_reason = KILL_BROKEN;
        signal_worker(p, w, SIGKILL);
    }
}

/* A worker could not be started (spawn failed, or its initializer failed
 * or exited): the pool is broken, but a job that a healthy worker runs
 * keeps its result. Only what cannot run fails: the queue, and the jobs
 * written to `bad` (the worker that failed, or NULL). The other workers
 * finish their job, then see their input closed and exit. */
static void break_start_locked(pool *p, worker *bad, const char *msg, pp_job **done) {
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed))
        return;
    snprintf(p->broken_msg, sizeof p->broken_msg, "%s", msg);
    atomic_store_explicit(&p->base.broken, 1, memory_order_release);
    pp_job *j;
    while ((j = p->qh)) {
        p->qh = j->next;
        outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
    }
    p->qt = NULL;
    if (bad) {
        while ((j = pop_head(bad)))
            outcome(done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, p->broken_msg, 0);
        bad->tx = NULL;
        if (!bad->kill_reason)
            bad->kill_reason = KILL_BROKEN;
    }
    for (worker *w = p->workers; w; w = w->next)
        if (!w->head)
            close_input(w);
}

/* Lock p if it is still the live pool j was submitted to (a job's future
 * may outlive its pool): 1 with p->lock held, 0 if it is gone. The live
 * list's lock is taken first, so destroy cannot free p in between. */
static int lock_live_pool(pool *p, const pp_job *j) {
    pthread_mutex_lock(&live_lock);
    pool *q = live_pools;
    while (q && !(q == p && q->id == j->pool_id))
        q = q->live_next;
    if (q)
        pthread_mutex_lock(&p->lock);
    pthread_mutex_unlock(&live_lock);
    return q != NULL;
}

/* Cancel of a RUNNING job (cancel_kills_running): kill the worker running
 * it, or drop it if it has not started. Runs on the cancelling thread,
 * without the future's lock; the pool may already be gone. */
static void pp_cancel(corio_future *f, void *arg) {
    pool *p = arg;
    pp_job *j = corio__future_ext(f);
    if (!lock_live_pool(p, j))
        return;
    int finish_now = 0;
    if (j->w && j->w->head == j) {
        if (!j->w->kill_reason) {
            j->w->kill_reason = KILL_CANCEL;
            j->w->cancel_job = j;
            signal_worker(p, j->w, SIGKILL);
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

/* ---- receiving results --------------------------------------------------- */

/* A worker broke the protocol: fail its running job, kill and replace it. */
static void protocol_fail_locked(pool *p, worker *w, const char *what, pp_job **done) {
    char msg[512];
    snprintf(msg, sizeof msg, "corrupt or truncated message from worker pid %d: %s", (int)w->pid,
             what);
    pp_job *j = pop_head(w);
    if (j)
        outcome(done, j, C_FAIL, CORIO_EPROTOCOL, corio__strdup(msg), 1);
    else
        corio__log("process pool: %s", msg);
    w->rx_done = 1;
    if (w->fd >= 0)
        epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
    if (!w->kill_reason) {
        w->kill_reason = KILL_PROTOCOL;
        signal_worker(p, w, SIGKILL);
    }
}

/* The moving average of job run times decides whether a waiting thread
 * polls for its answer (pp_help). */
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
        break_start_locked(p, w, msg, done);
        if (owned)
            free(body);
        return;
    }
    pp_job *j = pop_head(w);
    if (!j) { /* its job was failed meanwhile (the pool broke) */
        if (owned)
            free(body);
        return;
    }
    note_time(p, h->ns);
    const char *m = (const char *)body + h->len;
    if (h->code < 0) {
        char *msg = NULL;
        if (h->msglen && (msg = corio__malloc(h->msglen + 1))) {
            memcpy(msg, m, h->msglen);
            msg[h->msglen] = '\0';
        }
        outcome(done, j, C_FAIL, h->code, msg, 1);
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
            protocol_fail_locked(p, w, err, done);
        } else if (r < 0) {
            outcome(done, j, C_FAIL, r, corio__strdup("out of memory decoding a map chunk"), 1);
        } else {
            j->c_value = (corio_value){b, 0, corio__batch_free};
            outcome(done, j, C_VALUE, 0, NULL, 0);
        }
    } else if (h->len == 0) {
        j->c_value = (corio_value){(void *)(uintptr_t)h->ptr, 0, NULL};
        outcome(done, j, C_VALUE, 0, NULL, 0);
    } else if (owned) {
        j->c_value = (corio_value){body, (size_t)h->len, free};
        body = NULL;
        outcome(done, j, C_VALUE, 0, NULL, 0);
    } else {
        void *v = corio__malloc((size_t)h->len);
        if (v) {
            memcpy(v, body, (size_t)h->len);
            j->c_value = (corio_value){v, (size_t)h->len, free};
            outcome(done, j, C_VALUE, 0, NULL, 0);
        } else {
            outcome(done, j, C_FAIL, -ENOMEM, corio__strdup("out of memory for a result"), 1);
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
            protocol_fail_locked(p, w, "a frame with no job outstanding", done);
            break;
        }
        if (corio__wire_check_res(&h, w->head ? w->head->seq : 0, w->head ? w->head->nitems : 0,
                                  err, sizeof err) < 0) {
            protocol_fail_locked(p, w, err, done);
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
                protocol_fail_locked(p, w, "no memory for a large result", done);
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

/* One read from w's socket into its buffers. The reader is either the
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
static int receive(pool *p, worker *w) {
    for (int rounds = 0; rounds < 64; rounds++) {
        pthread_mutex_lock(&p->lock);
        if (w->rx_done || w->fd < 0) {
            pthread_mutex_unlock(&p->lock);
            return 1;
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
        dispatch_locked(p, &done);
        pthread_mutex_unlock(&p->lock);
        complete_all(done);
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
            protocol_fail_locked(p, w, what, done);
        }
        if (!w->rx_done) {
            w->rx_done = 1;
            epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
        }
        /* A worker that closed its socket with a job outstanding has died;
         * its exit report normally follows at once, but comes through the
         * fork server, which may be stopped: the collector settles the
         * worker from this end of stream after EOF_GRACE_NS. */
        if (w->nout && !w->eof_ns)
            w->eof_ns = corio__now_ns();
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
        epoll_set(p, w, w->epoll_out);
}

/* The future helper (corio__future_set_helper) of every job: instead of the
 * collector reading the worker's answer and waking this thread (two
 * wake-ups per round trip, with the worker's), the waiting thread reads the
 * socket of the worker running its job itself, while the collector's
 * EPOLLIN interest in that socket is off (so the answer does not wake it
 * either). Reads happen under the pool lock and only while the collector is
 * not reading that socket (read_worker). Whatever it reads it processes as
 * the collector would, completing other futures too. When it gives up or
 * the job is done it turns EPOLLIN back on; epoll is level-triggered, so an
 * answer that arrived meanwhile is seen by the collector then.
 *
 * In a coroutine it does the same, but between two reads it yields to the
 * loop's other coroutines (and, every few rounds, the CPU to other threads:
 * a pinned loop must not keep the worker that will answer off its CPU)
 * instead of spinning: the answer then reaches the coroutine without
 * waking the collector, or the loop. A coroutine cancelled meanwhile stops
 * helping; the wait that follows reports the cancel. */
static int pp_help(corio_future *f, void *arg, int64_t deadline_ns) {
    pool *p = arg;
    pp_job *j = corio__future_ext(f);
    /* The pool may be gone if the job finished meanwhile; destroy waits
     * for nhelpers to be 0. */
    if (!lock_live_pool(p, j))
        return corio_future_done(f);
    /* Polling pays only with a CPU to spare: not when every CPU has a
     * worker with jobs (a map over CPU-bound items), nor for long jobs. */
    int busy = 0;
    for (worker *w = p->workers; w && busy < p->ncpu; w = w->next)
        busy += w->nout > 0;
    if (busy >= p->ncpu || p->avg_ns > HELP_MAX_JOB_NS) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    p->nhelpers++;
    int64_t until = corio__now_ns() + HELP_NS;
    if (until > deadline_ns)
        until = deadline_ns;
    worker *hw = NULL;
    int ok;
    unsigned rounds = 0;
    for (;;) {
        if ((ok = corio_future_done(f)) || corio__now_ns() >= until)
            break;
        /* j->w is the worker the job was written to (NULL while queued or
         * once finished); valid under the lock. */
        worker *w = j->w;
        if (w != hw) {
            if (hw)
                help_release_locked(p, hw);
            hw = NULL;
            if (w && !w->rx_done && w->fd >= 0) {
                hw = w;
                if (hw->nhelp++ == 0)
                    epoll_set(p, hw, hw->epoll_out);
            }
        }
        if (hw && !hw->creading && !hw->rx_done && hw->fd >= 0) {
            ssize_t n = read_worker(hw);
            if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
                pp_job *done = NULL;
                received_locked(p, hw, n, &done);
                dispatch_locked(p, &done);
                if (done) {
                    pthread_mutex_unlock(&p->lock);
                    complete_all(done);
                    pthread_mutex_lock(&p->lock);
                }
                continue;
            }
        }
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
    if (hw)
        help_release_locked(p, hw);
    if (--p->nhelpers == 0) {
        if (p->graveyard)
            wake_collector(p); /* to free what it kept for us */
        pthread_cond_broadcast(&p->done_cv); /* a destroy may wait */
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

/* ---- worker exits -------------------------------------------------------- */

static worker *find_worker(pool *p, pid_t pid, uint64_t token) {
    for (worker *w = p->workers; w; w = w->next)
        if ((pid && w->pid == pid) || (token && w->token == token))
            return w;
    return NULL;
}

/* Remove w from the pool (its process is gone). Lock held. */
static void bury_locked(pool *p, worker *w) {
    worker **pp = &p->workers;
    while (*pp != w)
        pp = &(*pp)->next;
    *pp = w->next;
    if (!w->retiring)
        p->nactive--;
    p->nlive--;
    if (w->fd >= 0) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, w->fd, NULL);
        close_fd(w->fd);
        w->fd = -1;
    }
    free(w->big);
    w->big = NULL;
    w->next = p->graveyard;
    p->graveyard = w;
}

/* Free a list of buried workers (linked by next). */
static void free_workers(worker *g) {
    while (g) {
        worker *nx = g->next;
        free(g->in);
        free(g);
        g = nx;
    }
}

/* Start a replacement if the pool still needs one. Lock held. */
static void replace_locked(pool *p, pp_job **done) {
    if (atomic_load_explicit(&p->base.broken, memory_order_relaxed) || p->fs_dead)
        return;
    if (p->shutdown && !p->qh)
        return;
    /* nlive counts retiring workers until their exit: never more than
     * max_workers processes at once. */
    while (p->nlive < p->base.max_workers) {
        int e = spawn_worker_locked(p);
        if (e < 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "a worker process could not be started: %s",
                     corio_strerror(e));
            break_start_locked(p, NULL, msg, done);
            return;
        }
    }
}

static void worker_exited(pool *p, worker *w, int how, int status) {
    if (p->shm && w->pid) {
        /* It may have died holding the polling turn. */
        int32_t pid = (int32_t)w->pid;
        atomic_compare_exchange_strong(&p->shm->spinner, &pid, 0);
    }
    /* First take whatever it wrote before dying. */
    if (!w->rx_done)
        receive(p, w);
    pp_job *done = NULL;
    pthread_mutex_lock(&p->lock);
    if (!w->rx_done && (w->big || w->in_len)) {
        free(w->big);
        w->big = NULL;
        w->in_len = 0;
        protocol_fail_locked(p, w, "end of stream in the middle of a frame", &done);
    }
    char what[160];
    describe_exit(what, sizeof what, w->pid, how, status);
    pp_job *j;
    switch (w->kill_reason) {
    case KILL_CANCEL:
        if (w->head && w->head == w->cancel_job)
            outcome(&done, pop_head(w), C_CANCEL, 0, NULL, 0);
        requeue_outstanding(p, w, &done);
        break;
    case KILL_PROTOCOL:
        requeue_outstanding(p, w, &done);
        break;
    case KILL_TERMINATE:
        while ((j = pop_head(w)))
            outcome(&done, j, C_CANCEL_EXEC, 0, NULL, 0);
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
            if ((j = pop_head(w)))
                outcome(&done, j, C_FAIL, CORIO_EBROKEN_PROCESS_POOL, corio__strdup(msg), 1);
            requeue_outstanding(p, w, &done);
        } else {
            break_pool_locked(p, msg, &done);
        }
    }
    bury_locked(p, w);
    replace_locked(p, &done);
    dispatch_locked(p, &done);
    pthread_mutex_unlock(&p->lock);
    complete_all(done);
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
        break_pool_locked(p, msg, &done);
    while (p->workers)
        bury_locked(p, p->workers);
    pthread_mutex_unlock(&p->lock);
    complete_all(done);
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
                signal_worker(p, w, w->kill_sig);
            pthread_mutex_unlock(&p->lock);
        } else if (m.type == CORIO__FS_SPAWN_FAILED) {
            pp_job *done = NULL;
            char msg[256];
            snprintf(msg, sizeof msg, "a worker process could not be started: %s",
                     corio_strerror(m.err));
            /* It never existed: no exit report will come. */
            break_start_locked(p, w, msg, &done);
            bury_locked(p, w);
            pthread_mutex_unlock(&p->lock);
            complete_all(done);
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

/* Settle workers whose socket ended EOF_GRACE_NS ago with no exit report;
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

static void *collector_main(void *arg) {
    pool *p = arg;
    tls_collector = 1;
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
                dispatch_locked(p, &done);
                pthread_mutex_unlock(&p->lock);
                complete_all(done);
            } else {
                worker *w = tag;
                /* An event may name a worker buried earlier in this batch. */
                int alive = 0;
                pthread_mutex_lock(&p->lock);
                for (worker *x = p->workers; x; x = x->next)
                    alive |= x == w;
                if (alive && (evs[i].events & EPOLLOUT))
                    flush_locked(p, w);
                pthread_mutex_unlock(&p->lock);
                if (alive && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    receive(p, w);
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
        free_workers(g);
        if (finished)
            break;
    }
    /* Every worker has been reaped: let the fork server go, then reap it. */
    close_fd(p->ctl);
    p->ctl = -1;
    while (waitpid(p->fs_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&p->lock);
    p->done = 1;
    pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- submit ------------------------------------------------------------------ */

static corio_future *enqueue(pool *p, pp_job *j, int *err) {
    pp_job *done = NULL;
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
    dispatch_locked(p, &done);
    pthread_mutex_unlock(&p->lock);
    complete_all(done);
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
    corio__future_set_helper(f, pp_help, p);
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
        outcome(done, j, C_CANCEL_EXEC, 0, NULL, 0);
    }
    p->qt = NULL;
    for (worker *w = p->workers; w; w = w->next) {
        if (!w->kill_reason || w->kill_reason == KILL_TERMINATE) {
            w->kill_reason = KILL_TERMINATE;
            signal_worker(p, w, sig);
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
            outcome(&done, j, C_CANCEL_EXEC, 0, NULL, 0);
        }
        p->qt = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    complete_all(done);
    wake_collector(p); /* closes idle workers' input */
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
        complete_all(done);
        pthread_mutex_lock(&p->lock);
        if (wait_done_locked(p, corio__deadline(timeout / 2)) < 0) {
            done = NULL;
            terminate_locked(p, SIGKILL, &done);
            pthread_mutex_unlock(&p->lock);
            complete_all(done);
            pthread_mutex_lock(&p->lock);
            if (wait_done_locked(p, corio__deadline(timeout / 2)) < 0)
                kill_fork_server_locked(p);
        }
    }
    wait_done_locked(p, INT64_MAX);
    pthread_mutex_unlock(&p->lock);
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
    pthread_mutex_lock(&live_lock);
    pool **pp = &live_pools;
    while (*pp && *pp != p)
        pp = &(*pp)->live_next;
    if (*pp)
        *pp = p->live_next;
    pthread_mutex_unlock(&live_lock);
    pthread_mutex_lock(&p->lock);
    while (p->nhelpers) /* threads that found the pool live before */
        pthread_cond_wait(&p->done_cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->collector, NULL);
    free_workers(p->graveyard); /* kept for helpers after the collector's last batch */
    p->graveyard = NULL;
    if (p->shm)
        munmap(p->shm, sizeof *p->shm);
    close_fd(p->ep);
    close_fd(p->wake);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}

/* corio_executor_inspect: one snapshot under the pool lock. A job written
 * to a worker is the one it runs (MAX_DEPTH 1), so every outstanding job
 * counts as running. */
static void pp_inspect(const corio_executor *ex, corio_executor_stats *st) {
    pool *p = (pool *)ex;
    pthread_mutex_lock(&p->lock);
    st->workers = p->nlive;
    for (pp_job *j = p->qh; j; j = j->next)
        st->pending += j->nitems ? j->nitems : 1;
    for (worker *w = p->workers; w; w = w->next) {
        for (pp_job *j = w->head; j; j = j->next)
            st->running++;
        if (w->pid > 0 && st->ids_len < st->ids_cap)
            st->ids[st->ids_len++] = w->pid;
    }
    pthread_mutex_unlock(&p->lock);
}

static const corio__executor_vt process_pool_vt = {
    .submit = pp_submit,
    .submit_batch = pp_submit_batch,
    .shutdown = pp_shutdown,
    .destroy = pp_destroy,
    .inspect = pp_inspect,
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
    /* fd_lock across the fork: the child closes every registered descriptor
     * and must see a consistent list. The fork server is forked from this
     * thread alone; glibc's fork keeps malloc usable in the child. */
    pthread_mutex_lock(&fd_lock);
    pid_t pid = fork();
    if (pid == 0) {
        corio__unpin_forked_child();
        close(sv[0]);
        corio__fork_server_main(sv[1], &cfg);
    }
    if (pid < 0) {
        e = -errno;
        pthread_mutex_unlock(&fd_lock);
        close(sv[0]);
        close(sv[1]);
        goto fail;
    }
    close(sv[1]);
    reg_fd_locked(sv[0]);
    reg_fd_locked(p->ep);
    reg_fd_locked(p->wake);
    pthread_mutex_unlock(&fd_lock);
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
        e = spawn_worker_locked(p);
    pthread_mutex_unlock(&p->lock);
    if (!e) {
        /* The collector takes no application signals. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = -corio__thread_create(&p->collector, collector_main, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (e) {
        /* Closing the control socket makes the fork server kill its workers
         * and exit; then it can be reaped. */
        for (worker *w = p->workers, *n; w; w = n) {
            n = w->next;
            close_fd(w->fd);
            free(w->in);
            free(w);
        }
        close_fd(p->ctl);
        waitpid(pid, NULL, 0);
        p->ctl = -1;
        goto fail;
    }
    pthread_mutex_lock(&live_lock);
    p->id = next_pool_id++;
    p->live_next = live_pools;
    live_pools = p;
    pthread_mutex_unlock(&live_lock);
    corio__executor_register(&p->base);
    *out = &p->base;
    return 0;
fail:
    if (p->shm)
        munmap(p->shm, sizeof *p->shm);
    close_fd(p->ep);
    close_fd(p->wake);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->done_cv);
    free(p);
    return e;
}
