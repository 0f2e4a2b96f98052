/* Tests for the thread pool (Python's ThreadPoolExecutor) through the
 * executor interface: creation and arguments, worker counts and names,
 * lazy start and idle reuse, initializers and the broken state, shutdown.
 * What jobs do (cancellation, failures, submit_bytes, callbacks, the
 * deadlock pitfalls) is in test_thread_pool_tasks.c, stress and pressure
 * in test_thread_pool_stress.c; the helpers they share in t_thread_pool.h.
 * Reference: CPython's Lib/test/test_concurrent_futures/test_thread_pool.py
 * and executor.py. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <sys/wait.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"
#include "t_tasks.h"
#include "t_thread_pool.h"

/* ---- helpers --------------------------------------------------------------- */

static int t_default_workers(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    return ncpu + 4 < 32 ? (int)ncpu + 4 : 32;
}

/* ---- creation and arguments ---------------------------------------------------- */

START_TEST(test_create_arguments) {
    corio_executor *ex = (corio_executor *)0x1;
    corio_thread_pool_options o = {0};
    o.max_workers = -1;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), -EINVAL);
    ck_assert_ptr_null(ex);
    ck_assert_int_eq(corio_thread_pool_create(NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(NULL, t_inc, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_ptr_null(corio_executor_submit(ex, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_ptr_null(corio_executor_submit(ex, NULL, NULL, NULL)); /* err may be NULL */
    ck_assert_ptr_null(corio_executor_submit_bytes(ex, t_inc, NULL, 4, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_ptr_null(corio_executor_submit_bytes(NULL, t_inc, "x", 1, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_int_eq(corio_executor_shutdown(NULL, true, false), -EINVAL);
    ck_assert_int_eq(corio_executor_shutdown_timeout(NULL, 1.0, false), -EINVAL);
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, -1.0, false), -EINVAL);
    ck_assert(!corio_executor_broken(NULL));
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
    corio_executor_destroy(NULL);
}
END_TEST

START_TEST(test_submit_result) {
    corio_executor *ex = t_pool(2);
    corio_future *f = t_submit(ex, t_inc, (void *)41);
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, &out), 0);
    ck_assert_ptr_eq(out, (void *)42);
    ck_assert(corio_future_done(f));
    ck_assert(!corio_future_cancel(f));
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* Start as many gated tasks as the pool will run at once, prove no more
 * start, and check the thread count. */
static void t_check_worker_limit(corio_executor *ex, int expect) {
    int base = t_count_workers("corio-tp");
    t_ctl c;
    t_ctl_init(&c);
    int m = expect + 3;
    corio_future **fs = calloc((size_t)m, sizeof *fs);
    for (int i = 0; i < m; i++)
        fs[i] = t_submit(ex, t_gated, &c);
    t_wait_started(&c, expect);
    t_sleep(0.2); /* proving a negative: no extra worker starts */
    ck_assert_int_eq(atomic_load(&c.ran), expect);
    ck_assert_int_eq(t_count_workers("corio-tp"), base + expect);
    t_gate_open(&c.gate, m);
    for (int i = 0; i < m; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], CORIO_FOREVER, NULL), 0);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(atomic_load(&c.ran), m);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(t_count_workers_settled("corio-tp", base), base);
    free(fs);
    t_ctl_fini(&c);
}

START_TEST(test_default_max_workers) {
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    t_check_worker_limit(ex, t_default_workers());
    corio_executor_destroy(ex);
    ex = t_pool(0); /* 0 also means the default */
    t_check_worker_limit(ex, t_default_workers());
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_explicit_max_workers) {
    corio_executor *ex = t_pool(3);
    t_check_worker_limit(ex, 3);
    corio_executor_destroy(ex);
    ex = t_pool(1);
    t_check_worker_limit(ex, 1);
    corio_executor_destroy(ex);
}
END_TEST

static void t_check_names(const char *prefix, int workers, const char *const *names) {
    corio_thread_pool_options o = {0};
    o.max_workers = workers;
    o.thread_name_prefix = prefix;
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    t_ctl c;
    t_ctl_init(&c);
    corio_future **fs = calloc((size_t)workers, sizeof *fs);
    for (int i = 0; i < workers; i++)
        fs[i] = t_submit(ex, t_gated, &c);
    t_wait_started(&c, workers);
    for (int i = 0; i < workers; i++)
        ck_assert_msg(t_count_named(names[i]) == 1, "no thread named '%s'", names[i]);
    t_gate_open(&c.gate, workers);
    for (int i = 0; i < workers; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    /* Joined workers linger in /proc/self/task for a moment: let them go
     * before the next pool reuses the names. */
    for (int i = 0; i < workers; i++)
        ck_assert_int_eq(t_count_workers_settled(names[i], 0), 0);
    free(fs);
    t_ctl_fini(&c);
}

START_TEST(test_thread_names) {
    const char *const mine[] = {"tpname_0", "tpname_1", "tpname_2"};
    t_check_names("tpname", 3, mine);
    const char *const dflt[] = {"corio-tp_0", "corio-tp_1"};
    t_check_names(NULL, 2, dflt);
    t_check_names("", 2, dflt);
    /* The kernel keeps 15 characters. */
    const char *const longn[] = {"averyveryverylo"};
    t_check_names("averyveryverylongprefix", 1, longn);
}
END_TEST

START_TEST(test_lazy_start) {
    int base = t_count_workers("corio-tp");
    corio_executor *ex = t_pool(4);
    ck_assert_int_eq(t_count_workers("corio-tp"), base); /* no worker before a submit */
    corio_future *f = t_submit(ex, t_inc, (void *)1);
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), 0);
    corio_future_unref(f);
    ck_assert_int_eq(t_count_workers("corio-tp"), base + 1);
    corio_executor_destroy(ex);
    ck_assert_int_eq(t_count_workers_settled("corio-tp", base), base);
    /* A pool shut down before any submit never starts a thread. */
    ex = t_pool(4);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(t_count_workers("corio-tp"), base);
    corio_executor_destroy(ex);
}
END_TEST

/* Python's test_idle_thread_reuse: sequential submit/result pairs are served
 * by one worker. */
START_TEST(test_idle_worker_reused) {
    int base = t_count_workers("corio-tp");
    corio_executor *ex = t_pool(8);
    int rounds = (int)t_scale(500, 20);
    for (int i = 0; i < rounds; i++) {
        corio_future *f = t_submit(ex, t_inc, (void *)(uintptr_t)i);
        void *out = NULL;
        ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, &out), 0);
        ck_assert_ptr_eq(out, (void *)(uintptr_t)(i + 1));
        corio_future_unref(f);
    }
    ck_assert_int_eq(t_count_workers("corio-tp"), base + 1);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- initializer ------------------------------------------------------------ */

static atomic_int t_init_calls;
static _Thread_local int t_initialized;

static int t_init_ok(void *arg) {
    ck_assert_ptr_eq(arg, (void *)0x1417);
    atomic_fetch_add(&t_init_calls, 1);
    t_initialized = 1;
    return 0;
}

static int t_init_fail(void *arg) {
    (void)arg;
    atomic_fetch_add(&t_init_calls, 1);
    return corio_task_fail(-EPERM, "no access to %s", "db");
}

/* Returns whether this worker ran the initializer. */
static int t_check_initialized(void *arg, corio_value *out) {
    t_ctl *c = arg;
    atomic_fetch_add(&c->ran, 1);
    out->ptr = (void *)(uintptr_t)t_initialized;
    return 0;
}

START_TEST(test_initializer_once_per_worker) {
    atomic_store(&t_init_calls, 0);
    corio_thread_pool_options o = {0};
    o.max_workers = 3;
    o.initializer = t_init_ok;
    o.initargs = (void *)0x1417;
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    ck_assert_int_eq(atomic_load(&t_init_calls), 0); /* lazy */
    t_ctl c;
    t_ctl_init(&c);
    corio_future *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = t_submit(ex, t_gated, &c);
    t_wait_started(&c, 3); /* three workers exist now */
    enum { N = 60 };
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_submit(ex, t_check_initialized, &c);
    t_gate_open(&c.gate, 3);
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], CORIO_FOREVER, &out), 0);
        ck_assert_ptr_eq(out, (void *)1);
        corio_future_unref(fs[i]);
    }
    for (int i = 0; i < 3; i++)
        corio_future_unref(g[i]);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(atomic_load(&t_init_calls), 3);
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

static void t_check_broken_future(corio_future *f) {
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), CORIO_EBROKEN_THREAD_POOL);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), CORIO_EBROKEN_THREAD_POOL);
    ck_assert_msg(strstr(msg, "initializer failed") != NULL, "message: %s", msg);
    ck_assert_msg(strstr(msg, "no access to db") != NULL, "message: %s", msg);
}

static void t_initializer_failure(int workers, int jobs) {
    atomic_store(&t_init_calls, 0);
    corio_thread_pool_options o = {0};
    o.max_workers = workers;
    o.initializer = t_init_fail;
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    t_ctl c;
    t_ctl_init(&c);
    corio_future **fs = calloc((size_t)jobs, sizeof *fs);
    int accepted = 0;
    for (int i = 0; i < jobs; i++) {
        int err = 0;
        fs[i] = corio_executor_submit(ex, t_count, &c, &err);
        if (fs[i])
            accepted++;
        else /* the pool broke meanwhile: refused with the broken error */
            ck_assert_int_eq(err, CORIO_EBROKEN_THREAD_POOL);
    }
    ck_assert_int_ge(accepted, 1); /* the first submit precedes any worker */
    for (int i = 0; i < jobs; i++) {
        if (fs[i]) {
            t_check_broken_future(fs[i]);
            corio_future_unref(fs[i]);
        }
    }
    ck_assert(corio_executor_broken(ex));
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_count, &c, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_THREAD_POOL);
    ck_assert_ptr_null(corio_executor_submit_bytes(ex, t_count, "ab", 2, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_THREAD_POOL);
    void *items[2] = {&c, &c};
    corio_map *m = (corio_map *)0x1;
    ck_assert_int_eq(corio_executor_map(ex, t_count, items, 2, NULL, &m), CORIO_EBROKEN_THREAD_POOL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(atomic_load(&c.ran), 0); /* no task ran */
    ck_assert_int_ge(atomic_load(&t_init_calls), 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    corio_executor_destroy(ex);
    free(fs);
    t_ctl_fini(&c);
}

START_TEST(test_initializer_failure_breaks_pool) {
    t_initializer_failure(1, 1);
    t_initializer_failure(1, 5);
    t_initializer_failure(4, 10); /* several workers may fail concurrently */
}
END_TEST

/* ---- shutdown ---------------------------------------------------------------- */

START_TEST(test_submit_after_shutdown) {
    corio_executor *ex = t_pool(2);
    corio_future *f = t_submit(ex, t_inc, (void *)1);
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0);
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    err = 0;
    ck_assert_ptr_null(corio_executor_submit_bytes(ex, t_inc, "abc", 3, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    /* Shutting down does not cancel what was accepted. */
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, &out), 0);
    ck_assert_ptr_eq(out, (void *)2);
    /* Idempotent. */
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, true), 0);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert(!corio_executor_broken(ex));
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

typedef struct t_slow {
    atomic_int *finished;
} t_slow;

static int t_slow_task(void *arg, corio_value *out) {
    (void)out;
    t_sleep(0.05); /* the work itself, not synchronisation */
    atomic_fetch_add(((t_slow *)arg)->finished, 1);
    return 0;
}

START_TEST(test_shutdown_wait_joins) {
    int base = t_count_workers("corio-tp");
    corio_executor *ex = t_pool(4);
    atomic_int finished = 0;
    t_slow s = {&finished};
    enum { N = 12 };
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_submit(ex, t_slow_task, &s);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    /* Every accepted job ran to completion, and the workers are gone. */
    ck_assert_int_eq(atomic_load(&finished), N);
    for (int i = 0; i < N; i++) {
        ck_assert(corio_future_done(fs[i]));
        ck_assert_int_eq(corio_future_result(fs[i], 0, NULL), 0);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(t_count_workers_settled("corio-tp", base), base);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_destroy_runs_pending_jobs) {
    corio_executor *ex = t_pool(1);
    t_ctl c;
    t_ctl_init(&c);
    enum { N = 30 };
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_submit(ex, t_count, &c);
    corio_executor_destroy(ex); /* shutdown(wait=true, cancel=false) */
    ck_assert_int_eq(atomic_load(&c.ran), N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 0, NULL), 0);
        corio_future_unref(fs[i]); /* futures outlive their executor */
    }
    t_ctl_fini(&c);
}
END_TEST

static int t_cb_count(corio_future *f, void *arg) {
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

START_TEST(test_shutdown_cancel_futures) {
    corio_executor *ex = t_pool(1);
    t_ctl c, q;
    t_ctl_init(&c);
    t_ctl_init(&q);
    corio_future *a = t_submit(ex, t_gated, &c);
    t_wait_started(&c, 1);
    enum { N = 6 };
    corio_future *fs[N];
    atomic_int cbs = 0;
    for (int i = 0; i < N; i++) {
        fs[i] = t_submit(ex, t_count, &q);
        corio_future_add_done_callback(fs[i], t_cb_count, &cbs);
    }
    ck_assert_int_eq(corio_executor_shutdown(ex, false, true), 0);
    for (int i = 0; i < N; i++) {
        ck_assert(corio_future_cancelled(fs[i]));
        ck_assert_int_eq(corio_future_result(fs[i], 0, NULL), -ECANCELED);
        ck_assert_int_eq(corio_future_exception(fs[i], 0, NULL), CORIO_ECANCELLED_BY_EXECUTOR);
    }
    ck_assert_int_eq(atomic_load(&cbs), N);
    /* The running job cannot be cancelled and completes. */
    ck_assert(corio_future_running(a));
    ck_assert(!corio_future_cancel(a));
    t_gate_open(&c.gate, 1);
    ck_assert_int_eq(corio_future_result(a, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(atomic_load(&q.ran), 0);
    for (int i = 0; i < N; i++)
        corio_future_unref(fs[i]);
    corio_future_unref(a);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
    t_ctl_fini(&q);
}
END_TEST

/* Regression: a worker took a share of the queue (up to 64 jobs) into a
 * private list in one go; shutdown(cancel_futures=true) only cancelled jobs
 * still in the shared queue, so pending jobs in that list ran anyway. Here
 * the backlog is in place when the single worker comes back for work. */
START_TEST(test_shutdown_cancel_futures_after_backlog) {
    corio_executor *ex = t_pool(1);
    t_ctl c, q;
    t_ctl_init(&c);
    t_ctl_init(&q);
    corio_future *a = t_submit(ex, t_gated, &c);
    t_wait_started(&c, 1);
    corio_future *b = t_submit(ex, t_gated, &c);
    enum { N = 8 };
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_submit(ex, t_count, &q);
    t_gate_open(&c.gate, 1); /* a returns; the worker takes b (and more?) */
    t_wait_started(&c, 1);   /* b runs */
    ck_assert_int_eq(corio_executor_shutdown(ex, false, true), 0);
    t_gate_open(&c.gate, 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(corio_future_result(a, 0, NULL), 0);
    ck_assert_int_eq(corio_future_result(b, 0, NULL), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(corio_future_cancelled(fs[i]), "queued job %d was not cancelled", i);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(atomic_load(&q.ran), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
    t_ctl_fini(&q);
}
END_TEST

static int t_shutdown_self(void *arg, corio_value *out) {
    out->ptr = (void *)(intptr_t)corio_executor_shutdown(arg, true, false);
    return 0;
}

START_TEST(test_shutdown_from_own_task) {
    corio_executor *ex = t_pool(2);
    corio_future *f = t_submit(ex, t_shutdown_self, ex);
    void *out = (void *)1;
    ck_assert_int_eq(corio_future_result(f, 60.0, &out), 0); /* no self-join deadlock */
    ck_assert_ptr_eq(out, (void *)0);
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_shutdown_timeout) {
    corio_executor *ex = t_pool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *a = t_submit(ex, t_gated, &c);
    t_wait_started(&c, 1);
    double t0 = t_now();
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, 0.1, false), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.09);
    t_gate_open(&c.gate, 1);
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, 60.0, false), 0);
    ck_assert_int_eq(corio_future_result(a, 0, NULL), 0);
    corio_future_unref(a);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("thread_pool");
    TCase *tc = tcase_create("basics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_arguments);
    tcase_add_test(tc, test_submit_result);
    tcase_add_test(tc, test_default_max_workers);
    tcase_add_test(tc, test_explicit_max_workers);
    tcase_add_test(tc, test_thread_names);
    tcase_add_test(tc, test_lazy_start);
    tcase_add_test(tc, test_idle_worker_reused);
    suite_add_tcase(s, tc);

    tc = tcase_create("initializer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_initializer_once_per_worker);
    tcase_add_test(tc, test_initializer_failure_breaks_pool);
    suite_add_tcase(s, tc);

    tc = tcase_create("shutdown");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_submit_after_shutdown);
    tcase_add_test(tc, test_shutdown_wait_joins);
    tcase_add_test(tc, test_destroy_runs_pending_jobs);
    tcase_add_test(tc, test_shutdown_cancel_futures);
    tcase_add_test(tc, test_shutdown_cancel_futures_after_backlog);
    tcase_add_test(tc, test_shutdown_from_own_task);
    tcase_add_test(tc, test_shutdown_timeout);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
