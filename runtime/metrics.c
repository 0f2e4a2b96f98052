/* corio — metrics: reading the loops' and executors' counters, and the
 * Prometheus text rendering.
 *
 * The counters live where they are counted (corio__loop_counters in each
 * loop, per-worker fields in the thread pool); this file only reads them,
 * with relaxed loads: each value is a true snapshot of its counter, the
 * set of them is not a snapshot of one instant. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "corio/metrics.h"
#include "loop.h"

static uint64_t rd(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static void add_loop(corio__loop *l, corio_loop_metrics *m) {
    corio__loop_counters *c = &l->m;
    uint64_t spawned = rd(&c->spawned), ended = rd(&c->ended);
    m->spawned += spawned;
    /* ended is read after spawned: never more than spawned (both only
     * grow, and a coroutine is counted spawned before it can end). */
    m->live += spawned >= ended ? spawned - ended : 0;
    m->runnable += rd(&c->runnable);
    m->switches += rd(&c->switches);
    m->ring_enters += rd(&c->ring_enters);
    m->ring_submitted += rd(&c->ring_submitted);
    m->ring_completed += rd(&c->ring_completed);
    m->sleeps += rd(&c->sleeps);
    m->timers += rd(&c->timers);
    m->timers_fired += rd(&c->timers_fired);
    m->inbox_msgs += rd(&c->inbox_msgs);
    m->eventfd_wakes += rd(&c->eventfd_wakes);
    m->stack_hits += rd(&c->stack_hits);
    m->stack_misses += rd(&c->stack_misses);
}

CORIO_API int corio_loop_metrics_get(corio_runtime *rt, int loop, corio_loop_metrics *out) {
    if (!rt || !out || loop < -1 || loop >= rt->nloops)
        return -EINVAL;
    *out = (corio_loop_metrics){0};
    if (loop >= 0) {
        add_loop(&rt->loops[loop], out);
        return 0;
    }
    for (int i = 0; i < rt->nloops; i++)
        add_loop(&rt->loops[i], out);
    return 0;
}

CORIO_API int corio_executor_metrics_get(corio_executor *ex, corio_executor_metrics *out) {
    if (!ex || !out)
        return -EINVAL;
    *out = (corio_executor_metrics){0};
    if (!ex->vt->metrics)
        return -ENOTSUP;
    return ex->vt->metrics(ex, out);
}

/* ---- Prometheus text format ---- */

/* An output buffer that counts what did not fit (snprintf semantics). */
typedef struct out_buf {
    char *buf;  /* destination */
    size_t cap; /* its size */
    size_t len; /* bytes the whole text needs so far */
} out_buf;

static void put(out_buf *o, const char *fmt, ...) CORIO_PRINTF(2, 3);
static void put(out_buf *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *at = o->len < o->cap ? o->buf + o->len : NULL;
    size_t room = at ? o->cap - o->len : 0;
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* One loop metric: its name, type, help, and where it sits in the struct. */
typedef struct loop_field {
    const char *name; /* corio_<name> */
    const char *type; /* counter or gauge */
    const char *help; /* # HELP text */
    size_t off;       /* offsetof(corio_loop_metrics, field) */
} loop_field;

#define LF(f, t, h) {#f, t, h, offsetof(corio_loop_metrics, f)}
static const loop_field loop_fields[] = {
    LF(spawned, "counter", "Coroutines started."),
    LF(live, "gauge", "Coroutines started and not yet freed."),
    LF(runnable, "gauge", "Coroutines run by the last run-queue pass."),
    LF(switches, "counter", "Coroutine resumptions by the scheduler."),
    LF(ring_enters, "counter", "Submit or wait calls into the io_uring."),
    LF(ring_submitted, "counter", "SQEs submitted to the kernel."),
    LF(ring_completed, "counter", "CQEs reaped."),
    LF(sleeps, "counter", "Times the loop blocked waiting for the ring."),
    LF(timers, "gauge", "Timers pending."),
    LF(timers_fired, "counter", "Timers that expired."),
    LF(inbox_msgs, "counter", "Messages from other threads."),
    LF(eventfd_wakes, "counter", "Wake-ups of the sleeping loop through its eventfd."),
    LF(stack_hits, "counter", "Coroutine stacks reused from the loop's cache."),
    LF(stack_misses, "counter", "Coroutine stacks newly mapped."),
};

/* One bucketed time (corio_executor_metrics.run_us or queue_us) as a
 * Prometheus histogram of the blocking pool: cumulative buckets with
 * upper bounds 2^k us (in seconds), then +Inf. The sum is not tracked,
 * so it is the bucket bounds' estimate. */
static void put_hist(out_buf *o, const char *name, const char *help,
                     const uint64_t b[CORIO_METRICS_BUCKETS], uint64_t count) {
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    double sum = 0;
    for (unsigned k = 0; k + 1 < CORIO_METRICS_BUCKETS; k++) {
        cum += b[k];
        double le = (double)(1ull << k) / 1e6;
        sum += (double)b[k] * le;
        put(o, "%s_bucket{pool=\"blocking\",le=\"%.9g\"} %llu\n", name, le,
            (unsigned long long)cum);
    }
    put(o, "%s_bucket{pool=\"blocking\",le=\"+Inf\"} %llu\n%s_sum{pool=\"blocking\"} %.9g\n"
           "%s_count{pool=\"blocking\"} %llu\n",
        name, (unsigned long long)count, name, sum, name, (unsigned long long)count);
}

CORIO_API ssize_t corio_metrics_format(corio_runtime *rt, char *buf, size_t cap) {
    if (!rt || (!buf && cap))
        return -EINVAL;
    out_buf o = {buf, cap, 0};
    if (cap)
        buf[0] = '\0';
    /* One reading per loop, taken once, so every metric of a loop comes
     * from the same reading. Loops beyond 256 are left out (a VLA here
     * would be unbounded); 256 readings are 29 KiB of stack. */
    enum { MAX_LOOPS = 256 };
    corio_loop_metrics m[MAX_LOOPS];
    int n = rt->nloops < MAX_LOOPS ? rt->nloops : MAX_LOOPS;
    for (int i = 0; i < n; i++)
        corio_loop_metrics_get(rt, i, &m[i]);
    for (size_t f = 0; f < sizeof loop_fields / sizeof loop_fields[0]; f++) {
        const loop_field *lf = &loop_fields[f];
        put(&o, "# HELP corio_%s %s\n# TYPE corio_%s %s\n", lf->name, lf->help, lf->name,
            lf->type);
        for (int i = 0; i < n; i++) {
            uint64_t v = *(const uint64_t *)(const void *)((const char *)&m[i] + lf->off);
            put(&o, "corio_%s{loop=\"%d\"} %llu\n", lf->name, i, (unsigned long long)v);
        }
    }
    corio_executor_metrics em;
    if (corio_executor_metrics_get(rt->blocking, &em) == 0) {
        put(&o, "# HELP corio_pool_queued Jobs queued on the blocking pool.\n"
                "# TYPE corio_pool_queued gauge\ncorio_pool_queued{pool=\"blocking\"} %llu\n",
            (unsigned long long)em.queued);
        put(&o, "# HELP corio_pool_running Jobs running on the blocking pool.\n"
                "# TYPE corio_pool_running gauge\ncorio_pool_running{pool=\"blocking\"} %llu\n",
            (unsigned long long)em.running);
        put(&o, "# HELP corio_pool_workers Workers of the blocking pool.\n"
                "# TYPE corio_pool_workers gauge\ncorio_pool_workers{pool=\"blocking\"} %llu\n",
            (unsigned long long)em.workers);
        put(&o, "# HELP corio_pool_completed Jobs the blocking pool ran.\n"
                "# TYPE corio_pool_completed counter\n"
                "corio_pool_completed{pool=\"blocking\"} %llu\n",
            (unsigned long long)em.completed);
        put_hist(&o, "corio_pool_run_seconds",
                 "Run time of a sample of the blocking pool's jobs (every 16th per worker).",
                 em.run_us, em.run_samples);
        put_hist(&o, "corio_pool_queue_seconds",
                 "Queue wait (submit to start) of a sample of the blocking pool's jobs.",
                 em.queue_us, em.queue_samples);
    }
    return (ssize_t)o.len;
}
