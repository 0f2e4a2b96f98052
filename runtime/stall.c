/* corio — the stall watchdog: a thread that notices a loop blocked by one
 * of its coroutines, or a busy loop that stopped entering its ring.
 *
 * It only reads counters the loops keep anyway (corio__loop_counters):
 * every threshold / 2 it samples, per loop, `switches` (coroutine
 * resumptions), `ring_enters`, and the loop's `sleeping` flag, and the id
 * of the coroutine resumed last. A loop that is awake, has resumed no
 * coroutine and entered no ring since the previous sample is running one
 * coroutine; two such samples in a row (threshold) make a stall. One
 * that is awake and has entered no ring and ended no run-queue pass for
 * two samples, running other coroutines, is in a pass that does not end
 * (many coroutines that each run a while): a ring stall. The loop pays one
 * plain store per coroutine switch (current_id) for this.
 *
 * Memory ordering: relaxed loads throughout; a stale value only delays or
 * skips a report by one period, never invents one (the counters only
 * grow, and a loop that is asleep says so before it blocks).
 *
 * Backtrace of the stalled loop. The coroutine is running on the loop's
 * thread, so only that thread can walk its stack: the watchdog sends it
 * SIGURG (ignored by default, so unused by nearly every program; Go's
 * runtime takes it for preemption for the same reason), whose handler
 * calls backtrace(3) — the unwinder reads .eh_frame, no frame pointers
 * needed — into a static buffer and publishes the count. The watchdog
 * waits up to BT_WAIT_NS for it and writes the frames with
 * backtrace_symbols_fd. The handler is installed only while SIGURG has
 * its default disposition (a program that uses SIGURG keeps it, and its
 * reports say "no backtrace"); backtrace() is called once beforehand so
 * that its first-call loading of libgcc never happens in the handler.
 * One request at a time, process-wide (bt_lock), so the buffer has one
 * writer: the thread whose tid is bt_tid. Ordering: the watchdog stores
 * bt_tid (release) before pthread_kill; the handler loads it (acquire),
 * fills the buffer, stores bt_n (release); the watchdog loads bt_n
 * (acquire) before reading the buffer. A late signal (after the watchdog
 * gave up) finds bt_tid 0 and does nothing.
 */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "corio/inspect.h"
#include "fault.h"
#include "loop.h"

/* What the watchdog last saw of one loop. */
typedef struct stall_seen {
    uint64_t switches;    /* counters at the previous sample */
    uint64_t enters;      /* ring_enters then */
    uint64_t current;     /* current_id then */
    int still;            /* samples in a row without a switch, awake */
    int no_ring;          /* samples in a row without a ring entry nor a pass end, awake */
    int reported;         /* this stall was reported */
    int ring_reported;    /* this ring stall was reported */
} stall_seen;

typedef struct corio__stall {
    corio_runtime *rt;       /* the runtime watched */
    int64_t period_ns;       /* threshold / 2 */
    double threshold;        /* seconds, for the messages */
    int fd;                  /* where reports go */
    pthread_t thread;        /* the watchdog */
    pthread_mutex_t lock;    /* guards stop, with cond */
    pthread_cond_t cond;     /* signalled to stop */
    int stop;                /* the runtime is being destroyed */
    stall_seen *seen;        /* one per loop */
    int backtraces;          /* the SIGURG handler is ours: reports carry backtraces */
} corio__stall;

/* ---- the stalled loop's backtrace ---- */

#define BT_MAX 32
#define BT_WAIT_NS 200000000 /* 200 ms: a thread in a syscall takes the signal late */

static pthread_mutex_t bt_lock = PTHREAD_MUTEX_INITIALIZER;
static void *bt_buf[BT_MAX];
static _Atomic int bt_n = -1;       /* frames captured, -1: none yet */
static _Atomic pid_t bt_tid;        /* the thread asked for, 0: none */
static int bt_installed;            /* our handler is installed (under bt_lock) */

static void bt_handler(int sig) {
    (void)sig;
    int saved = errno;
    pid_t want = atomic_load_explicit(&bt_tid, memory_order_acquire);
    if (want && want == (pid_t)syscall(SYS_gettid)) {
        int n = backtrace(bt_buf, BT_MAX);
        atomic_store_explicit(&bt_n, n, memory_order_release);
    }
    errno = saved;
}

/* Install the handler if SIGURG is unused. Returns 1 when it is ours. */
static int bt_install(void) {
    pthread_mutex_lock(&bt_lock);
    if (!bt_installed) {
        struct sigaction old;
        if (sigaction(SIGURG, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL) {
            void *warm[2];
            backtrace(warm, 2); /* loads the unwinder now, not in the handler */
            struct sigaction sa = {.sa_handler = bt_handler, .sa_flags = SA_RESTART};
            sigemptyset(&sa.sa_mask);
            bt_installed = sigaction(SIGURG, &sa, NULL) == 0;
        }
    }
    int r = bt_installed;
    pthread_mutex_unlock(&bt_lock);
    return r;
}

static void report(corio__stall *w, const char *fmt, ...) CORIO_PRINTF(2, 3);
static void report(corio__stall *w, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) {
        ssize_t r = write(w->fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        (void)r; /* best effort: a watchdog must not stop on a full pipe */
    }
}

/* Ask loop l's thread for its backtrace and write it to the report fd. */
static void report_backtrace(corio__stall *w, corio__loop *l, int i) {
    if (!w->backtraces) {
        report(w, "corio: stall: loop %d: no backtrace (SIGURG is in use by the program)\n", i);
        return;
    }
    pthread_mutex_lock(&bt_lock);
    atomic_store_explicit(&bt_n, -1, memory_order_relaxed);
    atomic_store_explicit(&bt_tid, (pid_t)atomic_load_explicit(&l->m.tid, memory_order_relaxed),
                          memory_order_release);
    int n = -1;
    if (pthread_kill(l->thread, SIGURG) == 0) {
        for (int64_t waited = 0; waited < BT_WAIT_NS; waited += 1000000) {
            n = atomic_load_explicit(&bt_n, memory_order_acquire);
            if (n >= 0)
                break;
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
    atomic_store_explicit(&bt_tid, 0, memory_order_release);
    if (n > 0) {
        report(w, "corio: stall: loop %d: backtrace of the running coroutine (innermost "
                  "first):\n", i);
        /* Frame 0 is the handler, 1 the signal trampoline. */
        int skip = n > 2 ? 2 : 0;
        backtrace_symbols_fd(bt_buf + skip, n - skip, w->fd);
    } else {
        report(w, "corio: stall: loop %d: no backtrace (the thread did not answer within "
                  "200 ms)\n", i);
    }
    pthread_mutex_unlock(&bt_lock);
}

static void sample(corio__stall *w) {
    for (int i = 0; i < w->rt->nloops; i++) {
        corio__loop *l = &w->rt->loops[i];
        stall_seen *s = &w->seen[i];
        uint64_t sw = atomic_load_explicit(&l->m.switches, memory_order_relaxed);
        uint64_t en = atomic_load_explicit(&l->m.ring_enters, memory_order_relaxed);
        uint64_t cur = atomic_load_explicit(&l->m.current_id, memory_order_relaxed);
        int awake = !atomic_load_explicit(&l->sleeping, memory_order_relaxed);
        /* A coroutine is running, and it is the same one, and the loop
         * resumed no other since the last sample. */
        if (awake && cur != 0 && cur == s->current && sw == s->switches) {
            if (++s->still >= 2 && !s->reported) {
                s->reported = 1;
                /* The name is the caller's string, valid while its
                 * coroutine lives: read it only if that coroutine is still
                 * the one running (same id, no switch since) after the
                 * pointer was loaded. Best effort: it is not copied. */
                const char *name = atomic_load_explicit(&l->m.current_name, memory_order_relaxed);
                if (atomic_load_explicit(&l->m.current_id, memory_order_relaxed) != cur ||
                    atomic_load_explicit(&l->m.switches, memory_order_relaxed) != sw)
                    name = NULL;
                report(w,
                       "corio: stall: loop %d: coroutine %" PRIu64 " \"%.64s\" has run for over "
                       "%.3f s without yielding (it blocks its loop)\n",
                       i, cur, name ? name : "", w->threshold);
                report_backtrace(w, l, i);
            }
        } else {
            s->still = 0;
            s->reported = 0;
        }
        /* A run-queue pass that does not end: `switches` is counted at
         * the end of each pass, and between passes the loop fires its
         * timers, takes its messages and enters its ring whenever an
         * operation is in flight. So a loop that is awake, has ended no
         * pass and entered no ring for two samples, and runs another
         * coroutine than at the previous sample (else it is the stall
         * above, reported once), is starving everything but its
         * coroutines. Passes that end without a ring
         * entry are not reported: the loop enters only when an operation
         * is in flight or to be submitted, so nothing waits then. */
        if (awake && en == s->enters && sw == s->switches) {
            if (++s->no_ring >= 2 && cur != s->current && !s->ring_reported) {
                s->ring_reported = 1;
                report(w,
                       "corio: stall: loop %d: busy, ring not entered for over %.3f s "
                       "(one pass over its ready coroutines has not ended: its timers, "
                       "messages and I/O completions wait)\n",
                       i, w->threshold);
            }
        } else {
            s->no_ring = 0;
            s->ring_reported = 0;
        }
        s->switches = sw;
        s->enters = en;
        s->current = cur;
    }
}

static void *stall_main(void *arg) {
    corio__stall *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + w->period_ns;
        ts.tv_sec = t / 1000000000;
        ts.tv_nsec = t % 1000000000;
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        sample(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

CORIO_API int corio_runtime_stall_watch(corio_runtime *rt, double threshold, int fd) {
    if (!rt || !(threshold > 0) || threshold > 1e6 || fd < 0)
        return -EINVAL;
    if (rt->stall)
        return -EBUSY;
    corio__stall *w = corio__calloc(1, sizeof *w);
    stall_seen *seen = corio__calloc((size_t)rt->nloops, sizeof *seen);
    if (!w || !seen) {
        free(w);
        free(seen);
        return -ENOMEM;
    }
    w->rt = rt;
    w->threshold = threshold;
    w->period_ns = (int64_t)(threshold * 1e9 / 2);
    if (w->period_ns < 1000000)
        w->period_ns = 1000000; /* 1 ms at least: a watchdog must not spin */
    w->fd = fd;
    w->seen = seen;
    w->backtraces = bt_install();
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    int r = corio__thread_create(&w->thread, stall_main, w);
    if (r != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(seen);
        free(w);
        return -r;
    }
    rt->stall = w;
    return 0;
}

void corio__stall_stop(corio_runtime *rt) {
    corio__stall *w = rt->stall;
    if (!w)
        return;
    rt->stall = NULL;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->seen);
    free(w);
}
