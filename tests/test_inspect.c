/* Tests for the runtime's introspection and shutdown (corio/inspect.h,
 * corio/metrics.h, corio_runtime_drain): drain counts with short and
 * endless coroutines and blocking-pool jobs plus a dummy drain hook,
 * metrics against a known workload, the thread pool's deadlock detection
 * (and a near-deadlock not reported). The coroutine dump and the stall
 * watchdog: tests/test_dump.c.
 *
 * Time bounds are generous (a deadline of 50 ms must fire within 5 s and
 * not before 50 ms): speed belongs in the benchmarks. Ordering is done with
 * futures and semaphores, never with sleeps. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"
#include "internal.h"
#include "loop.h"
#include "t_helpers.h"

static corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}



static atomic_int live;

static int child_sleep_forever(void *arg, corio_value *out) {
    (void)out;
    atomic_int *order = arg;
    atomic_fetch_add(&live, 1);
    int r = corio_sleep(3600);
    if (order)
        atomic_fetch_add(order, 1);
    atomic_fetch_sub(&live, 1);
    return r;
}

static int gate_job(void *arg, corio_value *out) {
    (void)out;
    t_gate_pass(arg);
    return 0;
}

/* ---- drain -------------------------------------------------------------- */

/* Set just before the drain starts: the coroutines that are to finish
 * during the drain wait for it first, so that none finishes before it
 * however slow the machine (TSan) is to start the rest. */
static atomic_int drain_go;

static int wait_drain_go(void) {
    while (!atomic_load(&drain_go)) {
        int r = corio_sleep(0.002);
        if (r < 0)
            return r;
    }
    return 0;
}

static int short_coro(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int r = wait_drain_go();
    return r < 0 ? r : corio_sleep(0.02);
}

static int blocking_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    t_sleep(0.02);
    return 0;
}

/* Finishes during the drain with a job on the blocking pool. */
static int coro_with_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int w = wait_drain_go();
    if (w < 0)
        return w;
    corio_future *j = corio_to_thread(blocking_job, NULL, NULL);
    if (!j)
        return -ENOMEM;
    int r = corio_future_result(j, -1, NULL);
    corio_future_unref(j);
    return r;
}

typedef struct hook_probe {
    int calls;         /* drain hook calls */
    int gone;          /* calls saying the runtime was destroyed */
    corio_runtime *rt; /* the runtime it was called for */
} hook_probe;

static void probe_hook(corio_runtime *rt, void *arg, int gone) {
    hook_probe *h = arg;
    if (gone) {
        h->gone++;
        return;
    }
    h->calls++;
    h->rt = rt;
}

START_TEST(test_drain_counts_and_refuses_new_work) {
    corio_runtime *rt = t_rt(2);
    hook_probe h = {0}, gone = {0};
    ck_assert_int_eq(corio__runtime_on_drain(rt, probe_hook, &h), 0);
    ck_assert_int_eq(corio__runtime_on_drain(rt, probe_hook, &gone), 0);
    corio__runtime_off_drain(rt, probe_hook, &gone); /* unregistered: not called */
    atomic_store(&live, 0);
    atomic_store(&drain_go, 0);
    corio_future *fs[13];
    int n = 0;
    for (int i = 0; i < 6; i++)
        fs[n++] = t_spawn(rt, i % 2, short_coro, NULL);
    for (int i = 0; i < 3; i++)
        fs[n++] = t_spawn(rt, i % 2, coro_with_job, NULL);
    for (int i = 0; i < 4; i++)
        fs[n++] = t_spawn(rt, i % 2, child_sleep_forever, NULL);
    while (atomic_load(&live) < 4)
        sched_yield();
    corio_drain_summary sum;
    int64_t t0 = corio_now_ns();
    atomic_store(&drain_go, 1);
    ck_assert_int_eq(corio_runtime_drain(rt, t0 + 300000000, &sum), 0);
    int64_t took = corio_now_ns() - t0;
    ck_assert_uint_eq(sum.finished, 9);
    ck_assert_uint_eq(sum.cancelled, 4);
    ck_assert(sum.timed_out);
    ck_assert(took >= 300000000 && took < 10000000000);
    ck_assert_int_eq(h.calls, 1);
    ck_assert_ptr_eq(h.rt, rt);
    ck_assert_int_eq(gone.calls, 0);
    ck_assert_int_eq(atomic_load(&live), 0);
    for (int i = 0; i < n; i++) {
        int r = corio_future_result(fs[i], 0, NULL);
        ck_assert_int_eq(r, i < 9 ? 0 : -ECANCELED);
        corio_future_unref(fs[i]);
    }
    int err = 0;
    ck_assert_ptr_null(corio_spawn_on(rt, 0, short_coro, NULL, NULL, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    ck_assert_int_eq(corio_runtime_drain(rt, t0, &sum), -EALREADY);
    corio_runtime_destroy(rt);
    /* Destroyed with h registered: h is told once; gone was unregistered. */
    ck_assert_int_eq(h.gone, 1);
    ck_assert_int_eq(gone.gone, 0);
    ck_assert_int_eq(h.calls, 1);
}
END_TEST

/* Jobs of the blocking pool (one worker): one finishes during the drain
 * (its gate is opened by the drain hook), one is still running at the
 * deadline (left to finish), one still queued then (cancelled). */
static void open_gate_hook(corio_runtime *rt, void *arg, int gone) {
    (void)rt;
    if (!gone)
        t_gate_open(arg, 1);
}

START_TEST(test_drain_blocking_jobs) {
    corio_runtime_options o = {.loops = 1, .no_pin = true, .blocking_workers = 1};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    sem_t during, after;
    t_gate_init(&during);
    t_gate_init(&after);
    ck_assert_int_eq(corio__runtime_on_drain(rt, open_gate_hook, &during), 0);
    corio_executor *ex = corio_runtime_blocking_pool(rt);
    corio_future *a = corio_executor_submit(ex, gate_job, &during, NULL);
    corio_future *b = corio_executor_submit(ex, gate_job, &after, NULL);
    corio_future *c = corio_executor_submit(ex, gate_job, &after, NULL);
    while (!corio_future_running(a))
        sched_yield();
    corio_drain_summary sum;
    ck_assert_int_eq(corio_runtime_drain(rt, corio_now_ns() + 300000000, &sum), 0);
    ck_assert_uint_eq(sum.finished, 0);
    ck_assert_uint_eq(sum.cancelled, 0);
    ck_assert_uint_eq(sum.jobs_finished, 1);
    ck_assert_uint_eq(sum.jobs_cancelled, 1);
    ck_assert(sum.timed_out);
    ck_assert_int_eq(corio_future_result(a, 0, NULL), 0);
    ck_assert(corio_future_running(b));
    ck_assert(corio_future_cancelled(c));
    t_gate_open(&after, 1);
    ck_assert_int_eq(corio_future_result(b, 30, NULL), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_future_unref(c);
    corio_runtime_destroy(rt);
    sem_destroy(&during);
    sem_destroy(&after);
}
END_TEST

START_TEST(test_drain_idle_runtime_returns_at_once) {
    corio_runtime *rt = t_rt(2);
    corio_drain_summary sum = {.finished = 99};
    int64_t t0 = corio_now_ns();
    ck_assert_int_eq(corio_runtime_drain(rt, t0 + 30000000000, &sum), 0);
    ck_assert(corio_now_ns() - t0 < 5000000000);
    ck_assert_uint_eq(sum.finished, 0);
    ck_assert_uint_eq(sum.cancelled, 0);
    ck_assert(!sum.timed_out);
    ck_assert_int_eq(corio_runtime_drain(NULL, 0, NULL), -EINVAL);
    corio_runtime_destroy(rt);
}
END_TEST

/* ---- metrics ------------------------------------------------------------ */

static int sleeper_1ms(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return corio_sleep(0.001);
}

static int poll_once(void *arg, corio_value *out) {
    (void)out;
    int *sv = arg;
    char b;
    int r = corio_poll(sv[0], POLLIN, 10);
    if (r < 0)
        return r;
    return corio_recv(sv[0], &b, 1, 0, 10) == 1 ? 0 : -EIO;
}

START_TEST(test_metrics_known_workload) {
    corio_runtime *rt = t_rt(2);
    corio_loop_metrics m0, m1, all;
    ck_assert_int_eq(corio_loop_metrics_get(rt, 0, &m0), 0);
    corio_future *fs[50];
    for (int i = 0; i < 50; i++)
        fs[i] = t_spawn(rt, 0, sleeper_1ms, NULL);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 30, NULL), 0);
        corio_future_unref(fs[i]);
    }
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    corio_future *p = t_spawn(rt, 0, poll_once, sv);
    ck_assert_int_eq(corio_future_result(p, 30, NULL), 0);
    corio_future_unref(p);
    close(sv[0]);
    close(sv[1]);
    /* Freed right after their end, on the loop: wait for the last one. */
    int64_t until = corio_now_ns() + 10000000000;
    do {
        ck_assert_int_eq(corio_loop_metrics_get(rt, 0, &m1), 0);
    } while (m1.live != 0 && corio_now_ns() < until && sched_yield() == 0);
    ck_assert_uint_eq(m1.spawned - m0.spawned, 51);
    ck_assert_uint_eq(m1.live, 0);
    ck_assert_uint_ge(m1.switches - m0.switches, 51 * 2);
    ck_assert_uint_ge(m1.timers_fired - m0.timers_fired, 50);
    ck_assert_uint_ge(m1.ring_submitted - m0.ring_submitted, 1);
    ck_assert_uint_ge(m1.ring_completed - m0.ring_completed, 1);
    ck_assert_uint_ge(m1.ring_enters - m0.ring_enters, 1);
    ck_assert_uint_ge(m1.inbox_msgs - m0.inbox_msgs, 51);
    ck_assert_uint_eq(m1.stack_hits + m1.stack_misses, m1.spawned);
    ck_assert_uint_ge(m1.stack_hits, 1);
    ck_assert_int_eq(corio_loop_metrics_get(rt, -1, &all), 0);
    ck_assert_uint_ge(all.spawned, m1.spawned);
    ck_assert_int_eq(corio_loop_metrics_get(rt, 2, &all), -EINVAL);
    ck_assert_int_eq(corio_loop_metrics_get(NULL, 0, &all), -EINVAL);
    /* The Prometheus text: the size query, then the text. */
    ssize_t need = corio_metrics_format(rt, NULL, 0);
    ck_assert_int_gt(need, 100);
    char small[16];
    ck_assert_int_eq(corio_metrics_format(rt, small, sizeof small), need);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    char *text = malloc((size_t)need + 1);
    ck_assert_int_eq(corio_metrics_format(rt, text, (size_t)need + 1), need);
    char want[64];
    snprintf(want, sizeof want, "\ncorio_spawned{loop=\"0\"} %llu\n",
             (unsigned long long)m1.spawned);
    ck_assert_msg(strstr(text, want), "no '%s' in:\n%s", want, text);
    ck_assert(strstr(text, "# TYPE corio_ring_submitted counter\n"));
    ck_assert(strstr(text, "corio_live{loop=\"1\"} 0\n"));
    ck_assert(strstr(text, "# TYPE corio_pool_run_seconds histogram\n"));
    ck_assert(strstr(text, "corio_pool_run_seconds_bucket{pool=\"blocking\",le=\"+Inf\"} "));
    free(text);
    corio_runtime_destroy(rt);
}
END_TEST

START_TEST(test_executor_metrics) {
    corio_thread_pool_options o = {.max_workers = 1};
    corio_executor *ex;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    sem_t gate;
    t_gate_init(&gate);
    corio_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = corio_executor_submit(ex, gate_job, &gate, NULL);
    while (!corio_future_running(f[0]))
        sched_yield();
    corio_executor_metrics m;
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.running, 1);
    ck_assert_uint_eq(m.queued, 2);
    ck_assert_uint_eq(m.workers, 1);
    ck_assert_uint_eq(m.max_workers, 1);
    ck_assert_uint_eq(m.completed, 0);
    t_gate_open(&gate, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(corio_future_result(f[i], 30, NULL), 0);
        corio_future_unref(f[i]);
    }
    corio_executor_shutdown(ex, true, false);
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.completed, 3);
    ck_assert_uint_eq(m.running, 0);
    ck_assert_uint_eq(m.queued, 0);
    ck_assert(m.shutdown);
    ck_assert_int_eq(corio_executor_metrics_get(NULL, &m), -EINVAL);
    corio_executor_destroy(ex);
    sem_destroy(&gate);
}
END_TEST

/* The run-time histogram: 64 jobs of about 2 ms on one worker give 4 timed
 * samples (every 16th job), each at 2 ms or more: bucket 11 ([1024, 2048)
 * us) holds 2 ms only if the sleep returned early, so buckets >= 11. */
static int sleep_2ms(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    return 0;
}

START_TEST(test_executor_run_histogram) {
    corio_thread_pool_options o = {.max_workers = 1};
    corio_executor *ex;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    corio_future *f[64];
    for (int i = 0; i < 64; i++)
        ck_assert_ptr_nonnull(f[i] = corio_executor_submit(ex, sleep_2ms, NULL, NULL));
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(corio_future_result(f[i], 30, NULL), 0);
        corio_future_unref(f[i]);
    }
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    corio_executor_metrics m;
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.run_samples, 4);
    uint64_t sum = 0, low = 0;
    for (unsigned k = 0; k < CORIO_METRICS_BUCKETS; k++) {
        sum += m.run_us[k];
        if (k < 11)
            low += m.run_us[k];
    }
    ck_assert_uint_eq(sum, m.run_samples);
    ck_assert_uint_eq(low, 0);
    corio_executor_destroy(ex);
}
END_TEST

/* The queue-wait histogram: one worker held by a gated job, 64 jobs queued
 * behind it from this thread (every 16th submit of a thread is stamped:
 * exactly 4 of 64 consecutive ones), the gate held for at least `held`
 * after the last submit. Each of them waited at least `held` from its
 * submit to the moment the worker took it, so every new sample lands in
 * the bucket of `held` or above. */
static int noop_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

static int64_t t_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

START_TEST(test_executor_queue_histogram) {
    corio_thread_pool_options o = {.max_workers = 1};
    corio_executor *ex;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    sem_t gate;
    t_gate_init(&gate);
    corio_future *blocker = corio_executor_submit(ex, gate_job, &gate, NULL);
    ck_assert_ptr_nonnull(blocker);
    while (!corio_future_running(blocker))
        sched_yield();
    corio_executor_metrics m0, m1;
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m0), 0); /* the blocker's own sample, if any */
    corio_future *f[64];
    for (int i = 0; i < 64; i++)
        ck_assert_ptr_nonnull(f[i] = corio_executor_submit(ex, noop_job, NULL, NULL));
    int64_t t0 = t_now_ns();
    struct timespec ts = {0, 20000000}; /* the quantity measured, not a synchronisation */
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
    uint64_t held_us = (uint64_t)(t_now_ns() - t0) / 1000;
    t_gate_open(&gate, 1);
    ck_assert_int_eq(corio_future_result(blocker, 30, NULL), 0);
    corio_future_unref(blocker);
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(corio_future_result(f[i], 30, NULL), 0);
        corio_future_unref(f[i]);
    }
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m1), 0);
    ck_assert_uint_eq(m1.queue_samples - m0.queue_samples, 4);
    /* held_us >= 20000: its bucket k holds [2^(k-1), 2^k) us. */
    unsigned held_k = 64 - (unsigned)__builtin_clzll(held_us);
    ck_assert_uint_lt(held_k, CORIO_METRICS_BUCKETS - 1);
    uint64_t sum = 0, high = 0;
    for (unsigned k = 0; k < CORIO_METRICS_BUCKETS; k++) {
        uint64_t d = m1.queue_us[k] - m0.queue_us[k];
        sum += d;
        if (k >= held_k)
            high += d;
    }
    ck_assert_uint_eq(sum, 4);
    ck_assert_uint_eq(high, 4);
    corio_executor_destroy(ex);
    sem_destroy(&gate);
}
END_TEST

/* ---- pool deadlocks ------------------------------------------------------ */

typedef struct pool_ctx {
    corio_executor *ex;
    sem_t *gate; /* for the near-deadlock: a job that holds its worker */
} pool_ctx;

static int returns_7(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)7;
    return 0;
}

static int waits_on_queued(void *arg, corio_value *out) {
    pool_ctx *c = arg;
    corio_future *f = corio_executor_submit(c->ex, returns_7, NULL, NULL);
    if (!f)
        return -ENOMEM;
    void *v = NULL;
    int r = corio_future_result(f, CORIO_FOREVER, &v); /* a timed wait is never reported */
    corio_future_unref(f);
    out->ptr = v;
    return r;
}

START_TEST(test_pool_deadlock_reported) {
    pool_ctx c = {0};
    corio_thread_pool_options o = {.max_workers = 1, .thread_name_prefix = "dl-pool"};
    ck_assert_int_eq(corio_thread_pool_create(&o, &c.ex), 0);
    corio_future *f = corio_executor_submit(c.ex, waits_on_queued, &c, NULL);
    const char *msg = "";
    ck_assert_int_eq(corio_future_exception(f, 30, &msg), -EDEADLK);
    ck_assert_msg(strstr(msg, "dl-pool") && strstr(msg, "deadlock"), "message: %s", msg);
    corio_future_unref(f);
    corio_executor_destroy(c.ex);
}
END_TEST

START_TEST(test_pool_near_deadlock_not_reported) {
    /* Two workers: the one waiting on a queued job is not alone, the other
     * takes the job. */
    pool_ctx c = {0};
    corio_thread_pool_options o = {.max_workers = 2};
    ck_assert_int_eq(corio_thread_pool_create(&o, &c.ex), 0);
    for (int i = 0; i < 20; i++) {
        corio_future *f = corio_executor_submit(c.ex, waits_on_queued, &c, NULL);
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
        ck_assert_ptr_eq(v, (void *)7);
        corio_future_unref(f);
    }
    /* And a worker blocked on something else (a gate) is not counted:
     * the other one waiting on a queued job is not reported... it cannot
     * be served either, but the gate will free a worker. */
    sem_t gate;
    t_gate_init(&gate);
    corio_future *g = corio_executor_submit(c.ex, gate_job, &gate, NULL);
    while (!corio_future_running(g))
        sched_yield();
    corio_future *f = corio_executor_submit(c.ex, waits_on_queued, &c, NULL);
    ck_assert_int_eq(corio_future_result(f, 0.1, NULL), -ETIMEDOUT);
    t_gate_open(&gate, 1);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    ck_assert_int_eq(corio_future_result(g, 30, NULL), 0);
    corio_future_unref(f);
    corio_future_unref(g);
    corio_executor_destroy(c.ex);
    sem_destroy(&gate);
}
END_TEST

int main(void) {
    Suite *s = suite_create("inspect");
    TCase *tc = tcase_create("inspect");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_drain_counts_and_refuses_new_work);
    tcase_add_test(tc, test_drain_idle_runtime_returns_at_once);
    tcase_add_test(tc, test_drain_blocking_jobs);
    tcase_add_test(tc, test_metrics_known_workload);
    tcase_add_test(tc, test_executor_metrics);
    tcase_add_test(tc, test_executor_run_histogram);
    tcase_add_test(tc, test_executor_queue_histogram);
    tcase_add_test(tc, test_pool_deadlock_reported);
    tcase_add_test(tc, test_pool_near_deadlock_not_reported);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
