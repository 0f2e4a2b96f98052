/* Tests for the thread pool (Python's ThreadPoolExecutor) through the
 * executor interface: worker counts and names, lazy start and idle reuse,
 * initializers and the broken state, shutdown, cancellation, failures,
 * submit_bytes, the classic deadlock pitfalls (bounded by timeouts) and a
 * many-submitter stress run. Reference: CPython's
 * Lib/test/test_concurrent_futures/test_thread_pool.py and executor.py. */
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

/* LeakSanitizer asks this before its check at exit. A child that leaves
 * through exit() on purpose (the at-exit tests) sets it: Check's own
 * allocations of the test that forked it are still live there and would
 * be reported, not corio's. Everywhere else it is 0 (checks run). */
static volatile int t_no_leak_check;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return t_no_leak_check; }
#include "t_tasks.h"

/* ---- helpers --------------------------------------------------------------- */

/* Counts a run in the t_ctl and returns at once. */
static int t_count(void *arg, corio_value *out) {
    t_ctl *c = arg;
    atomic_fetch_add(&c->ran, 1);
    out->ptr = (void *)0x600d;
    return 0;
}

static corio_executor *t_pool(int max_workers) {
    corio_thread_pool_options o = {0};
    o.max_workers = max_workers;
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    ck_assert_ptr_nonnull(ex);
    return ex;
}

static corio_future *t_submit(corio_executor *ex, corio_fn fn, void *arg) {
    int err = 0;
    corio_future *f = corio_executor_submit(ex, fn, arg, &err);
    ck_assert_msg(f != NULL, "submit failed: %s", corio_error_name(err));
    return f;
}

/* Wait for `n` gated tasks to have started (or fail the test). */
static void t_wait_started(t_ctl *c, int n) {
    for (int i = 0; i < n; i++)
        ck_assert_msg(t_gate_pass_within(&c->started, 60.0), "task %d never started", i);
}

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

/* ---- cancellation and failures ------------------------------------------------ */

START_TEST(test_cancel_queued_while_first_runs) {
    corio_executor *ex = t_pool(1);
    t_ctl c, q;
    t_ctl_init(&c);
    t_ctl_init(&q);
    corio_future *a = t_submit(ex, t_gated, &c);
    corio_future *b = t_submit(ex, t_count, &q);
    corio_future *d = t_submit(ex, t_count, &q);
    t_wait_started(&c, 1);
    ck_assert(corio_future_running(a));
    ck_assert(!corio_future_cancel(a)); /* running: cannot be cancelled */
    ck_assert(corio_future_cancel(b));
    ck_assert(corio_future_cancelled(b));
    ck_assert(corio_future_cancel(b));
    ck_assert_int_eq(corio_future_exception(b, 0, NULL), -ECANCELED); /* not by the executor */
    t_gate_open(&c.gate, 1);
    ck_assert_int_eq(corio_future_result(a, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_future_result(d, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_future_result(b, CORIO_FOREVER, NULL), -ECANCELED);
    ck_assert_int_eq(atomic_load(&q.ran), 1); /* b never ran */
    corio_future_unref(a);
    corio_future_unref(b);
    corio_future_unref(d);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
    t_ctl_fini(&q);
}
END_TEST

static int t_fail_msg(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return corio_task_fail(-ENOENT, "no such %s", "thing");
}
static int t_fail_plain(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return -EDOM;
}
static int t_fail_timedout(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return corio_task_fail(-ETIMEDOUT, "backend too slow");
}
/* Fails after storing a value with a destructor: the pool must release it. */
static int t_fail_with_value(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = malloc(32);
    out->dtor = free;
    return corio_task_fail(-EIO, "partial");
}
static int t_heap_result(void *arg, corio_value *out) {
    char *p = malloc(16);
    snprintf(p, 16, "v%d", (int)(intptr_t)arg);
    out->ptr = p;
    out->dtor = free;
    return 0;
}

START_TEST(test_task_failures) {
    corio_executor *ex = t_pool(2);
    corio_future *f1 = t_submit(ex, t_fail_msg, NULL);
    corio_future *f2 = t_submit(ex, t_fail_plain, NULL);
    corio_future *f3 = t_submit(ex, t_fail_timedout, NULL);
    corio_future *f4 = t_submit(ex, t_fail_with_value, NULL);
    corio_future *f5 = t_submit(ex, t_heap_result, (void *)7);
    /* A failing task must not leak its message into the next task. */
    corio_future *f6 = t_submit(ex, t_inc, NULL);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_result(f1, CORIO_FOREVER, NULL), -ENOENT);
    ck_assert_int_eq(corio_future_exception(f1, 0, &msg), -ENOENT);
    ck_assert_str_eq(msg, "no such thing");
    ck_assert_int_eq(corio_future_result(f2, CORIO_FOREVER, NULL), -EDOM);
    ck_assert_int_eq(corio_future_exception(f2, 0, &msg), -EDOM);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(corio_future_result(f3, CORIO_FOREVER, NULL), -ETIMEDOUT);
    ck_assert(corio_future_done(f3)); /* the task's own -ETIMEDOUT */
    ck_assert_int_eq(corio_future_exception(f3, 0, &msg), -ETIMEDOUT);
    ck_assert_str_eq(msg, "backend too slow");
    ck_assert_int_eq(corio_future_result(f4, CORIO_FOREVER, NULL), -EIO);
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f5, CORIO_FOREVER, &out), 0);
    ck_assert_str_eq(out, "v7");
    ck_assert_int_eq(corio_future_result(f6, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_future_exception(f6, 0, &msg), 0);
    corio_future *fs[6] = {f1, f2, f3, f4, f5, f6};
    for (int i = 0; i < 6; i++)
        corio_future_unref(fs[i]);
    ck_assert(!corio_executor_broken(ex)); /* task failures do not break the pool */
    corio_executor_destroy(ex);
}
END_TEST

static int t_sum_bytes(void *arg, corio_value *out) {
    const corio_value *v = arg;
    uintptr_t sum = 0;
    for (size_t i = 0; i < v->len; i++)
        sum += ((const unsigned char *)v->ptr)[i];
    out->ptr = (void *)(sum * 1000 + v->len);
    return 0;
}

START_TEST(test_submit_bytes_copies) {
    corio_executor *ex = t_pool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *a = t_submit(ex, t_gated, &c); /* keeps the bytes job queued */
    t_wait_started(&c, 1);
    size_t len = 1000;
    unsigned char *buf = malloc(len);
    uintptr_t want = 0;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (unsigned char)(i * 7);
        want += buf[i];
    }
    int err = 0;
    corio_future *f = corio_executor_submit_bytes(ex, t_sum_bytes, buf, len, &err);
    ck_assert_ptr_nonnull(f);
    memset(buf, 0xff, len); /* the caller may reuse or free it at once */
    free(buf);
    corio_future *e = corio_executor_submit_bytes(ex, t_sum_bytes, NULL, 0, &err);
    ck_assert_ptr_nonnull(e);
    t_gate_open(&c.gate, 1);
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, &out), 0);
    ck_assert_ptr_eq(out, (void *)(want * 1000 + len));
    ck_assert_int_eq(corio_future_result(e, CORIO_FOREVER, &out), 0);
    ck_assert_ptr_eq(out, (void *)0);
    corio_future_unref(a);
    corio_future_unref(f);
    corio_future_unref(e);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

typedef struct t_cb_thread {
    pthread_t thread;
    atomic_int calls;
} t_cb_thread;

static int t_cb_record_thread(corio_future *f, void *arg) {
    (void)f;
    t_cb_thread *t = arg;
    t->thread = pthread_self();
    atomic_fetch_add(&t->calls, 1);
    return 0;
}

START_TEST(test_done_callback_on_worker) {
    corio_executor *ex = t_pool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *a = t_submit(ex, t_gated, &c);
    t_wait_started(&c, 1);
    t_cb_thread rec = {0};
    ck_assert_int_eq(corio_future_add_done_callback(a, t_cb_record_thread, &rec), 0);
    t_gate_open(&c.gate, 1);
    void *worker = NULL;
    ck_assert_int_eq(corio_future_result(a, CORIO_FOREVER, &worker), 0);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0); /* callbacks finished */
    ck_assert_int_eq(atomic_load(&rec.calls), 1);
    ck_assert(pthread_equal(rec.thread, (pthread_t)(uintptr_t)worker));
    corio_future_unref(a);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* ---- pitfalls, bounded by timeouts --------------------------------------------- */

typedef struct t_peer {
    corio_future *other; /* filled in before `go` opens */
    double timeout;
    sem_t *go;
} t_peer;

static int t_wait_peer(void *arg, corio_value *out) {
    t_peer *p = arg;
    t_gate_pass(p->go);
    out->ptr = (void *)(intptr_t)corio_future_result(p->other, p->timeout, NULL);
    return 0;
}

/* Two jobs waiting on each other (Python's docs: "Deadlocks can occur when
 * the callable associated with a Future waits on the results of another
 * Future"). The timeout breaks the cycle: the shorter wait times out, and
 * then the other sees its peer done. */
START_TEST(test_pitfall_mutual_wait) {
    corio_executor *ex = t_pool(2);
    sem_t go;
    t_gate_init(&go);
    t_peer pa = {NULL, 0.2, &go}, pb = {NULL, 30.0, &go};
    corio_future *a = t_submit(ex, t_wait_peer, &pa);
    corio_future *b = t_submit(ex, t_wait_peer, &pb);
    pa.other = b;
    pb.other = a;
    t_gate_open(&go, 2);
    void *ra = NULL, *rb = NULL;
    ck_assert_int_eq(corio_future_result(a, CORIO_FOREVER, &ra), 0);
    ck_assert_int_eq(corio_future_result(b, CORIO_FOREVER, &rb), 0);
    ck_assert_int_eq((int)(intptr_t)ra, -ETIMEDOUT);
    ck_assert_int_eq((int)(intptr_t)rb, 0);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_executor_destroy(ex);
    sem_destroy(&go);
}
END_TEST

typedef struct t_nested {
    corio_executor *ex;
    corio_future *inner; /* set by the outer job */
} t_nested;

static int t_submit_and_wait(void *arg, corio_value *out) {
    t_nested *n = arg;
    n->inner = corio_executor_submit(n->ex, t_inc, (void *)9, NULL);
    if (!n->inner)
        return corio_task_fail(CORIO_ETASK, "inner submit failed");
    out->ptr = (void *)(intptr_t)corio_future_result(n->inner, 0.3, NULL);
    return 0;
}

/* A job waiting on a job only its own (busy) one-worker pool could run. */
START_TEST(test_pitfall_wait_on_own_pool) {
    corio_executor *ex = t_pool(1);
    t_nested n = {ex, NULL};
    corio_future *outer = t_submit(ex, t_submit_and_wait, &n);
    void *r = NULL;
    ck_assert_int_eq(corio_future_result(outer, CORIO_FOREVER, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, -ETIMEDOUT);
    /* The inner job runs once the worker is free. */
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(n.inner, CORIO_FOREVER, &v), 0);
    ck_assert_ptr_eq(v, (void *)10);
    corio_future_unref(n.inner);
    corio_future_unref(outer);
    corio_executor_destroy(ex);
}
END_TEST

/* Regression: a worker coming back to a backlog took a share of the queue
 * into a private list; a job in that list waiting on a later job of the same
 * list could only time out, although another worker sat idle (Python's
 * workers take one job at a time, so the idle one runs it). */
START_TEST(test_idle_worker_not_held_hostage) {
    corio_executor *ex = t_pool(2);
    t_ctl c, q;
    t_ctl_init(&c);
    t_ctl_init(&q);
    corio_future *g1 = t_submit(ex, t_gated, &c);
    corio_future *g2 = t_submit(ex, t_gated, &c);
    t_wait_started(&c, 2); /* both workers busy */
    sem_t go;
    t_gate_init(&go);
    t_peer px = {NULL, 10.0, &go};
    corio_future *x = t_submit(ex, t_wait_peer, &px);
    corio_future *y = t_submit(ex, t_count, &q);
    corio_future *z = t_submit(ex, t_count, &q);
    corio_future *w = t_submit(ex, t_count, &q);
    px.other = y;
    t_gate_open(&go, 1);
    t_gate_open(&c.gate, 2);
    void *rx = NULL;
    ck_assert_int_eq(corio_future_result(x, CORIO_FOREVER, &rx), 0);
    ck_assert_msg((int)(intptr_t)rx == 0, "x waited on y in vain: %s",
                  corio_error_name((int)(intptr_t)rx));
    corio_future *all[6] = {g1, g2, x, y, z, w};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(corio_future_result(all[i], CORIO_FOREVER, NULL), 0);
        corio_future_unref(all[i]);
    }
    corio_executor_destroy(ex);
    sem_destroy(&go);
    t_ctl_fini(&c);
    t_ctl_fini(&q);
}
END_TEST

/* ---- stress --------------------------------------------------------------------- */

typedef struct t_submitter {
    corio_executor *ex;
    size_t first, count; /* the args this thread submits */
    size_t checked;      /* results verified */
    int error;           /* first unexpected code */
} t_submitter;

static void *t_submitter_main(void *arg) {
    t_submitter *s = arg;
    enum { BATCH = 1024 };
    corio_future *fs[BATCH];
    size_t done = 0;
    while (done < s->count) {
        size_t k = s->count - done < BATCH ? s->count - done : BATCH;
        for (size_t i = 0; i < k; i++) {
            int err = 0;
            fs[i] = corio_executor_submit(s->ex, t_inc, (void *)(s->first + done + i), &err);
            if (!fs[i] && !s->error)
                s->error = err;
        }
        for (size_t i = 0; i < k; i++) {
            if (!fs[i])
                continue;
            void *out = NULL;
            int r = corio_future_result(fs[i], CORIO_FOREVER, &out);
            if (r == 0 && out == (void *)(s->first + done + i + 1))
                s->checked++;
            else if (!s->error)
                s->error = r ? r : -EBADMSG;
            corio_future_unref(fs[i]);
        }
        done += k;
    }
    return NULL;
}

START_TEST(test_stress_many_submitters) {
    enum { T = 8 };
    size_t total = t_scale(1000000, 2000);
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    t_submitter s[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        s[t] = (t_submitter){ex, (size_t)t * (total / T), total / T, 0, 0};
        pthread_create(&th[t], NULL, t_submitter_main, &s[t]);
    }
    size_t checked = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        ck_assert_msg(s[t].error == 0, "submitter %d: %s", t, corio_error_name(s[t].error));
        checked += s[t].checked;
    }
    ck_assert_uint_eq(checked, (total / T) * T);
    corio_executor_destroy(ex);
}
END_TEST

/* Bursts of up to 8 jobs after idle periods of every length, on 3 workers
 * (more than the CPUs here, fewer than a burst, so that a burst claims
 * every sleeper): idle workers end up in every state (spinning, asleep, on
 * their way to sleep or back, preempted anywhere) when the next burst
 * arrives, and every job must still run. One submitter: with more, their
 * later submits would wake a worker stuck as below and hide it.
 * A worker that took a job on its way back from sleep once waited there
 * for a wake-up token that another worker, back asleep after its own job,
 * could take first; the job it held then never ran. */
START_TEST(test_stress_bursts_after_idle) {
    corio_executor *ex = t_pool(3);
    double secs = 2.0 * t_scale_factor();
    int64_t end = corio__now_ns() + (int64_t)((secs > 1.0 ? secs : 1.0) * 1e9);
    uint64_t rng = 0x9e3779b97f4a7c15ull; /* burst sizes and idle times */
    size_t jobs = 0;
    /* The first failure. No ck_assert in the loop: each passing one costs
     * Check a write to its log, which changes the timing enough that the
     * lost wake-up above, with a delay injected to widen its window, was
     * no longer caught. */
    char what[96] = "";
    for (int round = 0; !what[0] && corio__now_ns() < end; round++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int k = 1 + (int)(rng % 8);
        corio_future *fs[8];
        for (int i = 0; i < k; i++) {
            int err = 0;
            fs[i] = corio_executor_submit(ex, t_inc, (void *)(uintptr_t)i, &err);
            if (!fs[i]) {
                snprintf(what, sizeof what, "submit: %s", corio_error_name(err));
                k = i;
            }
        }
        for (int i = 0; i < k; i++) {
            void *v = NULL;
            int r = corio_future_result(fs[i], 30, &v);
            if ((r != 0 || v != (void *)(uintptr_t)(i + 1)) && !what[0])
                snprintf(what, sizeof what, "round %d, job %d of %d: %s", round, i, k,
                         r ? corio_error_name(r) : "wrong value");
            corio_future_unref(fs[i]);
        }
        jobs += (size_t)k;
        /* Half the rounds go on at once, while the workers are on their
         * way to sleep; the others idle for up to ~150 us, around the
         * workers' 50 us spin. */
        int64_t idle = (rng >> 8) % 2 ? (int64_t)((rng >> 9) % 150000) : 0;
        int64_t idle_until = corio__now_ns() + idle;
        while (corio__now_ns() < idle_until)
            corio__cpu_relax();
    }
    ck_assert_msg(!what[0], "%s", what);
    ck_assert_uint_gt(jobs, 0);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- under pressure: sizes, exit, affinity, inspect ---------------------- */

#ifndef CORIO__EXECUTOR_MAX_BYTES
#define CORIO__EXECUTOR_MAX_BYTES ((size_t)1 << 30)
#endif

static int tp_echo_len(void *arg, corio_value *out) {
    out->ptr = (void *)(uintptr_t)((const corio_value *)arg)->len;
    return 0;
}

START_TEST(test_submit_bytes_size_extremes) {
    corio_executor *ex = t_pool(1);
    static const char small[4] = "abc";
    const size_t bad[] = {SIZE_MAX, SIZE_MAX / 2 + 1, CORIO__EXECUTOR_MAX_BYTES + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int err = 0;
        ck_assert_ptr_null(corio_executor_submit_bytes(ex, tp_echo_len, small, bad[i], &err));
        ck_assert_int_eq(err, -EMSGSIZE);
    }
    for (size_t len = 0; len <= 1; len++) {
        corio_future *f = corio_executor_submit_bytes(ex, tp_echo_len, small, len, NULL);
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
        ck_assert_uint_eq((uintptr_t)v, len);
        corio_future_unref(f);
    }
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_max_workers_extremes) {
    corio_executor *ex = NULL;
    corio_thread_pool_options o = {.max_workers = INT32_MAX};
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), -EINVAL);
    corio_process_pool_options po = {.max_workers = INT32_MAX};
    ck_assert_int_eq(corio_process_pool_create(&po, &ex), -EINVAL);
    o.max_workers = 1;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_shutdown_timeout_nan_thread) {
    corio_executor *ex = t_pool(1);
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, NAN, false), -EINVAL);
    corio_executor_destroy(ex);
}
END_TEST

static int tp_exit_job(void *arg, corio_value *out) {
    (void)out;
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    return write((int)(uintptr_t)arg, "x", 1) == 1 ? 0 : -EIO;
}

/* A job accepted before shutdown(wait=false) runs to completion although
 * the program exits right after; with cancel_futures (_i) the queued ones
 * are cancelled. */
START_TEST(test_job_not_lost_at_exit_thread) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        close(p[0]);
        t_no_leak_check = 1; /* see __lsan_is_turned_off */
        corio_executor *ex = NULL;
        if (corio_thread_pool_create(&(corio_thread_pool_options){.max_workers = 1}, &ex))
            _exit(10);
        corio_future *f = corio_executor_submit(ex, tp_exit_job, (void *)(uintptr_t)p[1], NULL);
        for (int i = 0; i < 3 * _i; i++)
            corio_executor_submit(ex, tp_exit_job, (void *)(uintptr_t)p[1], NULL);
        while (f && !corio_future_running(f)) /* the first one has started */
            sched_yield();
        corio_executor_shutdown(ex, false, _i);
        exit(0);
    }
    close(p[1]);
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
    char buf[8];
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 1);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 0);
    close(p[0]);
}
END_TEST

/* Under `taskset -c <one cpu>`: default sizes follow the affinity mask. */
#ifndef T_MAIN_BASELINE
START_TEST(test_defaults_follow_affinity) {
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            last = c;
    CPU_ZERO(&set);
    CPU_SET(last, &set);
    ck_assert_int_eq(sched_setaffinity(0, sizeof set, &set), 0);
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    corio_executor_stats st = {0};
    ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
    ck_assert_int_eq(st.max_workers, 5); /* min(32, 1 + 4) */
    corio_executor_destroy(ex);
    ck_assert_int_eq(corio_process_pool_create(NULL, &ex), 0);
    ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
    ck_assert_int_eq(st.max_workers, 1);
    corio_executor_destroy(ex);
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(NULL, &rt), 0);
    ck_assert_int_eq(corio_runtime_loops(rt), 1);
    corio_runtime_destroy(rt);
}
END_TEST
#endif

static sem_t tp_gate;

static int tp_gate_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    t_gate_pass(&tp_gate);
    return 0;
}

#ifndef T_MAIN_BASELINE
START_TEST(test_inspect_thread) {
    t_gate_init(&tp_gate);
    corio_executor *ex = t_pool(2);
    int64_t ids[4] = {0};
    corio_executor_stats st = {.ids = ids, .ids_cap = 4};
    corio_future *fs[5];
    for (int i = 0; i < 5; i++)
        fs[i] = corio_executor_submit(ex, tp_gate_job, NULL, NULL);
    int64_t until = corio__now_ns() + 10 * 1000000000LL;
    do {
        ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
        ck_assert(corio__now_ns() < until);
        sched_yield();
    } while (st.running < 2 || st.pending < 3);
    ck_assert_int_eq(st.max_workers, 2);
    ck_assert_int_eq(st.workers, 2);
    ck_assert_uint_eq(st.running, 2);
    ck_assert_uint_eq(st.pending, 3);
    ck_assert_uint_eq(st.ids_len, 2);
    ck_assert(ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1]);
    t_gate_open(&tp_gate, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 30, NULL), 0);
        corio_future_unref(fs[i]);
    }
    corio_executor_destroy(ex);
    sem_destroy(&tp_gate);
}
END_TEST
#endif



/* One rule for every call that takes a timeout: NaN is -EINVAL (it used to
 * wait forever for futures, wait and the sync objects). */
START_TEST(test_nan_timeouts_are_einval) {
    corio_future *f = corio_future_create();
    void *v;
    const char *msg;
    ck_assert_int_eq(corio_future_result(f, NAN, &v), -EINVAL);
    ck_assert_int_eq(corio_future_exception(f, NAN, &msg), -EINVAL);
    ck_assert_int_eq(corio_future_result(f, 0, &v), -ETIMEDOUT); /* 0 = poll */
    size_t nd = 0, nn = 0;
    corio_future *done[1], *not_done[1];
    ck_assert_int_eq(corio_wait(&f, 1, NAN, CORIO_ALL_COMPLETED, done, &nd, not_done, &nn), -EINVAL);
    corio_as_completed *it = NULL;
    ck_assert_int_eq(corio_as_completed_create2(&f, 1, NAN, &it), -EINVAL);
    ck_assert_ptr_null(it);
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(1, &ch), 0);
    ck_assert_int_eq(corio_channel_recv(ch, &v, NAN), -EINVAL);
    ck_assert_int_eq(corio_channel_send(ch, NULL, NAN), -EINVAL);
    corio_channel_destroy(ch);
    corio_mutex *m;
    ck_assert_int_eq(corio_mutex_create(&m), 0);
    ck_assert_int_eq(corio_mutex_lock(m, NAN), -EINVAL);
    corio_mutex_destroy(m);
    corio_semaphore *s;
    ck_assert_int_eq(corio_semaphore_create(0, &s), 0);
    ck_assert_int_eq(corio_semaphore_acquire(s, NAN), -EINVAL);
    corio_semaphore_destroy(s);
    corio_event *e;
    ck_assert_int_eq(corio_event_create(&e), 0);
    ck_assert_int_eq(corio_event_wait(e, NAN), -EINVAL);
    corio_event_destroy(e);
    corio_future_cancel(f);
    corio_future_unref(f);
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

    tc = tcase_create("tasks");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cancel_queued_while_first_runs);
    tcase_add_test(tc, test_task_failures);
    tcase_add_test(tc, test_submit_bytes_copies);
    tcase_add_test(tc, test_done_callback_on_worker);
    tcase_add_test(tc, test_pitfall_mutual_wait);
    tcase_add_test(tc, test_pitfall_wait_on_own_pool);
    tcase_add_test(tc, test_idle_worker_not_held_hostage);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_stress_many_submitters);
    suite_add_tcase(s, tc);

    tc = tcase_create("bursts");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stress_bursts_after_idle);
    suite_add_tcase(s, tc);
    tc = tcase_create("pressure");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_submit_bytes_size_extremes);
    tcase_add_test(tc, test_max_workers_extremes);
    tcase_add_test(tc, test_shutdown_timeout_nan_thread);
    tcase_add_test(tc, test_nan_timeouts_are_einval);
    tcase_add_loop_test(tc, test_job_not_lost_at_exit_thread, 0, 2);
#ifndef T_MAIN_BASELINE
    tcase_add_test(tc, test_defaults_follow_affinity);
    tcase_add_test(tc, test_inspect_thread);
#endif
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
