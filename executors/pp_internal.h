/* corio — the process pool's internal interface, shared by its parts.
 *
 * The pool is split by concern, each part depending only on those before
 * it (no part calls back into a later one):
 *
 *   pp_registry.c   live pools and parent-side descriptors (the fork
 *                   server closes them; process_worker.c calls only this)
 *   pp_dispatch.c   jobs to workers: the queue, spawning, writing frames,
 *                   outcomes, breaking the pool, burying and replacing
 *   pp_receive.c    results from workers: frame parsing, the reading
 *                   helper of waiting threads (pp_help)
 *   pp_collector.c  the collector thread: events, exit reports, the fork
 *                   server's control socket
 *   process_pool.c  the public door: create, submit, shutdown, destroy,
 *                   inspect
 *
 * Locks: the pool lock guards queue, workers and every job's pool-side
 * fields. Order: live_lock -> pool lock -> future lock, and pool lock ->
 * fd_lock. No future is ever completed while the pool lock is held.
 */
#ifndef CORIO_PP_INTERNAL_H
#define CORIO_PP_INTERNAL_H

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

#include "corio/metrics.h"
#include "corio/runtime.h"
#include "wire.h"
#include "fault.h"

/* Bytes of a worker's receive buffer; larger frames get their own buffer. */
#define INBUF (64 * 1024)
/* A pipe's capacity once a frame larger than its default 64 KiB goes
 * through it (F_SETPIPE_SZ, best effort: the default limit for an
 * unprivileged process is 1 MiB): fewer writes and wake-ups per frame. */
#define BIG_PIPE (1024 * 1024)
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

/* The collector's epoll tag of a worker's job pipe (EPOLLOUT): the worker's
 * address plus one; its result pipe is tagged with the address itself. */
#define TX_TAG(w) ((void *)((char *)(w) + 1))

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
    int64_t submit_ns;    /* when it was submitted (queue-wait histogram) */
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
    int fd;                /* read end of its result pipe (non-blocking); -1 once closed */
    int tx_fd;             /* write end of its job pipe (non-blocking); -1 once closed */
    int tx_rd;             /* our copy of the job pipe's read end (wire.h); -1 once closed */
    unsigned ep_in;        /* events registered for fd (EPOLLIN or 0) */
    int tx_big;            /* its job pipe was enlarged for a large frame (BIG_PIPE) */
    int epoll_out;         /* EPOLLOUT is armed on tx_fd */
    int in_closed;         /* we closed its job pipe: it exits after its jobs */
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
    int nhelp;             /* waiting threads reading its results (EPOLLIN off while > 0) */
    int creading;          /* the collector is reading its results without the lock */
    int64_t eof_ns;        /* when its result pipe reached end of stream with jobs outstanding, or 0 */
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
    uint64_t completed;         /* jobs a worker answered (its function ran to its end); lock */
    uint64_t run_hist[CORIO_METRICS_BUCKETS];   /* run times the workers reported; lock */
    uint64_t queue_hist[CORIO_METRICS_BUCKETS]; /* submit to first hand-off; lock */
    int shutdown;               /* submits refused */
    int done;                   /* collector finished: all workers and the fork server gone */
    int joined;                 /* the collector thread was joined (by shutdown or destroy) */
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

/* Bucket of a time in corio_executor_metrics.run_us / queue_us: 0 below
 * 1 us, k for [2^(k-1), 2^k) us, the last one for everything longer. */
static inline unsigned corio__pp_bucket(int64_t ns) {
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    unsigned k = us ? 64 - (unsigned)__builtin_clzll(us) : 0;
    return k < CORIO_METRICS_BUCKETS ? k : CORIO_METRICS_BUCKETS - 1;
}

/* ---- pp_registry.c ---- */

/* Held across a fork of a fork server and across pipe2..close of a
 * worker's pipes, so the fork server's list of descriptors to close is
 * consistent. */
extern pthread_mutex_t corio__pp_fd_lock;
void corio__pp_reg_fd_locked(int fd);
void corio__pp_close_fd(int fd);
void corio__pp_close_registered(void);
int corio__pp_lock_live_pool(pool *p, const pp_job *j);
void corio__pp_live_add(pool *p);
void corio__pp_live_remove(pool *p);

/* ---- pp_dispatch.c ---- */

/* True on a collector thread (of any pool): it writes to busy workers too. */
extern _Thread_local int corio__pp_tls_collector;
void corio__pp_wake_collector(pool *p);
void corio__pp_epoll_set(pool *p, worker *w, int out);
void corio__pp_signal_worker(pool *p, worker *w, int sig);
void corio__pp_describe_exit(char *buf, size_t len, pid_t pid, int how, int status);
void corio__pp_outcome(pp_job **list, pp_job *j, int kind, int code, char *msg, int owned);
void corio__pp_complete_all(pp_job *list);
pp_job *corio__pp_pop_head(worker *w);
void corio__pp_requeue_outstanding(pool *p, worker *w, pp_job **done);
int corio__pp_spawn_worker_locked(pool *p);
void corio__pp_flush_locked(pool *p, worker *w);
void corio__pp_dispatch_locked(pool *p, pp_job **done);
void corio__pp_break_pool_locked(pool *p, const char *msg, pp_job **done);
void corio__pp_break_start_locked(pool *p, worker *bad, const char *msg, pp_job **done);
void corio__pp_bury_locked(pool *p, worker *w);
void corio__pp_free_workers(worker *g);
void corio__pp_replace_locked(pool *p, pp_job **done);

/* ---- pp_receive.c ---- */

void corio__pp_protocol_fail_locked(pool *p, worker *w, const char *what, pp_job **done);
int corio__pp_receive(pool *p, worker *w);
int corio__pp_help(corio_future *f, void *arg, int64_t deadline_ns);

/* ---- pp_collector.c ---- */

void *corio__pp_collector_main(void *arg);

#endif /* CORIO_PP_INTERNAL_H */
