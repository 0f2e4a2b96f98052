/* Conformance with CPython's concurrent.futures test suite
 * (Lib/test/test_concurrent_futures/), the executors: executor.ExecutorTest,
 * test_shutdown and test_init, each case for the thread pool and the process
 * pool where it applies, ported one by one. Each test names the CPython test
 * it mirrors in a comment right above it; where corio deliberately differs
 * (max_workers = 0 means the default) the comment says so. The futures'
 * cases are in test_conformance.c, the deadlock cases in
 * test_conformance_deadlock.c.
 *
 * Ordering is done with gates (semaphores) in the parent and with a shared
 * page (t_shm, mapped before any process pool is created, so inherited by
 * the fork server and every worker) for process jobs. Every wait is bounded:
 * a broken library fails a test instead of hanging it. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"
#include "t_tasks.h"
#include "t_conformance.h"

/* ---- process pool jobs (they run in the workers) ----------------------------- */

static int t_init_value; /* set by t_pinit in workers only */
static _Thread_local int t_thread_init_value; /* set by t_tinit in thread workers */
static atomic_int t_tinit_calls;

static int t_fail_at_5(void *arg, corio_value *out) {
    uintptr_t v = (uintptr_t)arg;
    if (v == 5)
        return corio_task_fail(-EDOM, "division by zero at item %u", (unsigned)v);
    out->ptr = (void *)(v * 2);
    return 0;
}

/* ---- executor.ExecutorTest ----------------------------------------------------- */

/* CPython: executor.ExecutorTest.test_max_workers_negative. Python also
 * refuses 0; corio documents 0 as "the default" and checks that instead. */
START_TEST(test_max_workers_checks) {
    corio_executor *ex = (corio_executor *)1;
    corio_thread_pool_options to = {.max_workers = -1};
    ck_assert_int_eq(corio_thread_pool_create(&to, &ex), -EINVAL);
    ck_assert_ptr_null(ex);
    to.max_workers = -1000;
    ck_assert_int_eq(corio_thread_pool_create(&to, &ex), -EINVAL);
    corio_process_pool_options po = {.max_workers = -1};
    ex = (corio_executor *)1;
    ck_assert_int_eq(corio_process_pool_create(&po, &ex), -EINVAL);
    ck_assert_ptr_null(ex);
    /* 0: the default, a working pool of each kind. */
    to.max_workers = 0;
    ck_assert_int_eq(corio_thread_pool_create(&to, &ex), 0);
    corio_future *f = t_sub(ex, t_inc, (void *)1);
    ck_assert_int_eq(corio_future_result(f, T_LONG, NULL), 0);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    po = (corio_process_pool_options){0};
    ck_assert_int_eq(corio_process_pool_create(&po, &ex), 0);
    f = t_sub(ex, t_inc, (void *)1);
    ck_assert_int_eq(corio_future_result(f, T_LONG, NULL), 0);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* Map over 0..n-1 with fn; check the values and the failure at 5. */
static void t_check_map_exception(corio_executor *ex, size_t chunksize) {
    static void *items[10];
    for (uintptr_t i = 0; i < 10; i++)
        items[i] = (void *)i;
    corio_map_options o = {.chunksize = chunksize};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_fail_at_5, items, 10, &o, &m), 0);
    corio_value v;
    for (uintptr_t i = 0; i < 10; i++) {
        int r = corio_map_next(m, &v);
        if (i == 5) {
            ck_assert_int_eq(r, -EDOM);
            ck_assert_str_eq(corio_map_message(m), "division by zero at item 5");
        } else {
            ck_assert_int_eq(r, 1);
            ck_assert_ptr_eq(v.ptr, (void *)(i * 2));
        }
    }
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    corio_map_destroy(m);
}

/* CPython: executor.ExecutorTest.test_map_exception (Python's iteration ends
 * at the exception; corio reports it at its item and may go on) */
START_TEST(test_map_exception) {
    corio_executor *ex = t_tpool(2);
    t_check_map_exception(ex, 1);
    t_check_map_exception(ex, 3);
    corio_executor_destroy(ex);
    ex = t_ppool(2);
    t_check_map_exception(ex, 1);
    t_check_map_exception(ex, 4);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: executor.ExecutorTest.test_map_timeout (thread pool):
 * map(sleep, [0, 0, 6], timeout=5) yields two results, then times out. */
/* The map item of test_map_timeout_thread: NULL returns at once (CPython's
 * sleep(0)), a t_ctl waits at its gate (the sleep(6)). */
static int t_gated_if_set(void *arg, corio_value *out) {
    return arg ? t_gated(arg, out) : 0;
}

START_TEST(test_map_timeout_thread) {
    corio_executor *ex = t_tpool(2);
    t_ctl c;
    t_ctl_init(&c);
    /* Only the third item waits. (A gate opened twice for three gated
     * items let a worker done with the first take the third and pass
     * before the second reached the gate: 3 runs in 12 under TSan.) */
    void *items[3] = {NULL, NULL, &c};
    corio_map_options o = {.timeout = 0.3};
    corio_map *m = NULL;
    double t0 = t_now();
    ck_assert_int_eq(corio_executor_map(ex, t_gated_if_set, items, 3, &o, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.29);
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT); /* stays ended */
    t_gate_open(&c.gate, 1);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* In a worker: item 6 waits for the release flag, others return at once. */
static int t_wait_if_6(void *arg, corio_value *out) {
    if ((uintptr_t)arg == 6)
        return t_wait_release(arg, out);
    out->ptr = arg;
    return 0;
}

/* CPython: executor.ExecutorTest.test_map_timeout (process pool) */
START_TEST(test_map_timeout_process) {
    corio_executor *ex = t_ppool(2);
    static void *items[3] = {(void *)0, (void *)0, (void *)6};
    corio_map_options o = {.timeout = 0.5};
    corio_map *m = NULL;
    double t0 = t_now();
    ck_assert_int_eq(corio_executor_map(ex, t_wait_if_6, items, 3, &o, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.49);
    atomic_store(&t_shm[1], 1);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: test_thread_pool.ThreadPoolExecutorTest.test_map_submits_without_iteration */
START_TEST(test_map_submits_without_iteration) {
    corio_executor *ex = t_tpool(2);
    t_ctl c;
    t_ctl_init(&c);
    t_gate_open(&c.gate, 4);
    void *items[4] = {&c, &c, &c, &c};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_gated, items, 4, NULL, &m), 0);
    /* Never iterated: the jobs still run. */
    for (int i = 0; i < 4; i++)
        ck_assert(t_gate_pass_within(&c.started, T_LONG));
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(atomic_load(&c.ran), 4);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_thread_pool.ThreadPoolExecutorTest.test_executor_map_current_future_cancel */
START_TEST(test_map_current_future_cancel) {
    corio_executor *ex = t_tpool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *first = t_sub(ex, t_gated, &c);
    ck_assert(t_gate_pass_within(&c.started, T_LONG));
    void *items[2] = {&c, &c};
    corio_map_options o = {.timeout = 0.01};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_gated, items, 2, &o, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT);
    corio_map_destroy(m);
    t_gate_open(&c.gate, 1);
    ck_assert_int_eq(corio_future_result(first, T_LONG, NULL), 0);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    /* "second" was cancelled by the timeout, "third" by the map's end. */
    ck_assert_int_eq(atomic_load(&c.ran), 1);
    corio_future_unref(first);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* A submitter racing shutdown: submits until refused, checking every
 * future it got (at most 256 outstanding). */
typedef struct t_racer {
    corio_executor *ex;
    sem_t *started;  /* posted after the first accepted submit */
    int refused;     /* the submit error that ended the loop */
    size_t accepted; /* futures handed out */
    int bad;         /* first unexpected outcome, 0 if none */
} t_racer;

static void *t_racer_main(void *arg) {
    t_racer *r = arg;
    enum { W = 256 };
    corio_future *ring[W];
    size_t n = 0;
    for (uintptr_t i = 0;; i++) {
        int err = 0;
        corio_future *f = corio_executor_submit(r->ex, t_inc, (void *)i, &err);
        if (!f) {
            r->refused = err;
            break;
        }
        if (n == 0)
            sem_post(r->started);
        if (n >= W) {
            corio_future *o = ring[n % W];
            void *v = NULL;
            int rc = corio_future_result(o, T_LONG, &v);
            if (rc != 0 && !r->bad)
                r->bad = rc;
            corio_future_unref(o);
        }
        ring[n % W] = f;
        n++;
        if (i > 50000000) { /* never refused: fail rather than run forever */
            r->refused = 1;
            break;
        }
    }
    for (size_t k = n > W ? n - W : 0; k < n; k++) {
        int rc = corio_future_result(ring[k % W], T_LONG, NULL);
        if (rc != 0 && !r->bad)
            r->bad = rc;
        corio_future_unref(ring[k % W]);
    }
    r->accepted = n;
    return NULL;
}

static void t_shutdown_race(corio_executor *ex) {
    enum { T = 4 };
    sem_t started;
    t_gate_init(&started);
    t_racer r[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        r[i] = (t_racer){.ex = ex, .started = &started};
        th[i] = t_start_thread(t_racer_main, &r[i]);
    }
    for (int i = 0; i < T; i++)
        ck_assert(t_gate_pass_within(&started, T_LONG));
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(r[i].refused == CORIO_ESHUTDOWN, "racer %d ended with %s", i,
                      corio_error_name(r[i].refused));
        ck_assert_msg(r[i].bad == 0, "racer %d: a future ended with %s", i,
                      corio_error_name(r[i].bad));
        ck_assert_uint_gt(r[i].accepted, 0);
    }
    sem_destroy(&started);
}

/* CPython: executor.ExecutorTest.test_shutdown_race_issue12456 (thread pool) */
START_TEST(test_shutdown_race_thread) {
    corio_executor *ex = t_tpool(4);
    t_shutdown_race(ex);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: executor.ExecutorTest.test_shutdown_race_issue12456 (process pool) */
START_TEST(test_shutdown_race_process) {
    corio_executor *ex = t_ppool(2);
    t_shutdown_race(ex);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* ---- test_shutdown --------------------------------------------------------------- */

/* CPython: test_shutdown.ExecutorShutdownTest.test_run_after_shutdown */
START_TEST(test_run_after_shutdown) {
    corio_executor *pools[2] = {t_tpool(2), t_ppool(1)};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(corio_executor_shutdown(pools[k], true, false), 0);
        int err = 0;
        ck_assert_ptr_null(corio_executor_submit(pools[k], t_inc, NULL, &err));
        ck_assert_int_eq(err, CORIO_ESHUTDOWN);
        ck_assert_ptr_null(corio_executor_submit_bytes(pools[k], t_inc, "x", 1, &err));
        ck_assert_int_eq(err, CORIO_ESHUTDOWN);
        static void *items[1];
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(pools[k], t_inc, items, 1, NULL, &m), CORIO_ESHUTDOWN);
        ck_assert_ptr_null(m);
        corio_executor_destroy(pools[k]);
    }
}
END_TEST

/* CPython: test_shutdown.ExecutorShutdownTest.test_cancel_futures and
 * ThreadPoolShutdownTest.test_cancel_futures_wait_false: running jobs finish,
 * pending ones are cancelled (by the executor). */
START_TEST(test_shutdown_cancel_futures_thread) {
    enum { N = 50 };
    corio_executor *ex = t_tpool(2);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_sub(ex, t_gated, &c);
    ck_assert(t_gate_pass_within(&c.started, T_LONG));
    ck_assert(t_gate_pass_within(&c.started, T_LONG));
    /* wait=false: returns although two jobs are blocked. */
    ck_assert_int_eq(corio_executor_shutdown(ex, false, true), 0);
    int cancelled = 0;
    for (int i = 0; i < N; i++)
        if (corio_future_cancelled(fs[i])) {
            ck_assert_int_eq(corio_future_exception(fs[i], 0, NULL), CORIO_ECANCELLED_BY_EXECUTOR);
            ck_assert_int_eq(corio_future_result(fs[i], 0, NULL), -ECANCELED);
            cancelled++;
        }
    ck_assert_int_eq(cancelled, N - 2);
    t_gate_open(&c.gate, 2);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, true), 0);
    for (int i = 0; i < N; i++) {
        ck_assert(corio_future_done(fs[i]));
        if (!corio_future_cancelled(fs[i]))
            ck_assert_int_eq(corio_future_exception(fs[i], 0, NULL), 0);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(atomic_load(&c.ran), 2);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_shutdown.ExecutorShutdownTest.test_cancel_futures (process pool) */
START_TEST(test_shutdown_cancel_futures_process) {
    enum { N = 50 };
    corio_executor *ex = t_ppool(1);
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_sub(ex, t_wait_release, (void *)(uintptr_t)i);
    t_wait_pid();
    ck_assert_int_eq(corio_executor_shutdown(ex, false, true), 0);
    atomic_store(&t_shm[1], 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, true), 0);
    int cancelled = 0;
    ck_assert(!corio_future_cancelled(fs[0])); /* it was running */
    for (int i = 0; i < N; i++) {
        ck_assert(corio_future_done(fs[i]));
        if (corio_future_cancelled(fs[i])) {
            ck_assert_int_eq(corio_future_exception(fs[i], 0, NULL), CORIO_ECANCELLED_BY_EXECUTOR);
            cancelled++;
        } else {
            void *v = NULL;
            ck_assert_int_eq(corio_future_result(fs[i], 0, &v), 0);
            ck_assert_ptr_eq(v, (void *)(uintptr_t)i);
        }
        corio_future_unref(fs[i]);
    }
    ck_assert_int_gt(cancelled, 20);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* CPython: test_shutdown.ThreadPoolShutdownTest.test_shutdown_no_wait and
 * test_threads_terminate */
START_TEST(test_shutdown_no_wait_thread) {
    corio_thread_pool_options o = {.max_workers = 3, .thread_name_prefix = "conf-nw"};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = t_sub(ex, t_gated, &c);
    for (int i = 0; i < 3; i++)
        ck_assert(t_gate_pass_within(&c.started, T_LONG));
    ck_assert_int_eq(t_count_workers("conf-nw"), 3);
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0); /* gates closed: no wait */
    t_gate_open(&c.gate, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], T_LONG, NULL), 0);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(t_count_workers_settled("conf-nw", 0), 0); /* threads terminated */
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_shutdown.ProcessPoolShutdownTest.test_shutdown_no_wait and
 * test_processes_terminate */
START_TEST(test_shutdown_no_wait_process) {
    corio_executor *ex = t_ppool(2);
    corio_future *f = t_sub(ex, t_wait_release, (void *)7);
    t_wait_pid();
    double t0 = t_now();
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0);
    ck_assert(t_now() - t0 < 5.0);
    ck_assert(!corio_future_done(f)); /* the job still waits for the flag */
    atomic_store(&t_shm[1], 1);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, T_LONG, &v), 0);
    ck_assert_ptr_eq(v, (void *)7);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    t_no_children(); /* workers and fork server are gone */
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* Done-callback that shuts the executor down (waiting) from wherever the
 * future completes (a worker thread, or the process pool's collector). */
typedef struct t_cb_shutdown {
    corio_executor *ex;
    int rc;
    sem_t done;
} t_cb_shutdown;

static int t_shutdown_cb(corio_future *f, void *arg) {
    (void)f;
    t_cb_shutdown *s = arg;
    s->rc = corio_executor_shutdown(s->ex, true, false);
    sem_post(&s->done);
    return 0;
}

/* No dedicated CPython test: shutdown called from a done-callback, which
 * Python runs on the worker or on the executor's management thread. It must
 * neither deadlock (a thread joining itself) nor drop queued jobs. */
START_TEST(test_shutdown_from_done_callback_thread) {
    corio_executor *ex = t_tpool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *a = t_sub(ex, t_gated, &c);
    ck_assert(t_gate_pass_within(&c.started, T_LONG));
    corio_future *b = t_sub(ex, t_inc, (void *)1); /* queued behind a */
    t_cb_shutdown s = {.ex = ex, .rc = 1};
    t_gate_init(&s.done);
    ck_assert_int_eq(corio_future_add_done_callback(a, t_shutdown_cb, &s), 0);
    t_gate_open(&c.gate, 1);
    ck_assert(t_gate_pass_within(&s.done, T_LONG));
    ck_assert_int_eq(s.rc, 0);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(b, T_LONG, &v), 0); /* still ran */
    ck_assert_ptr_eq(v, (void *)2);
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_executor_destroy(ex);
    sem_destroy(&s.done);
    t_ctl_fini(&c);
}
END_TEST

/* Same, process pool: the callback runs on the collector thread. */
START_TEST(test_shutdown_from_done_callback_process) {
    corio_executor *ex = t_ppool(1);
    corio_future *a = t_sub(ex, t_wait_release, (void *)1);
    corio_future *b = t_sub(ex, t_inc, (void *)1);
    t_wait_pid();
    t_cb_shutdown s = {.ex = ex, .rc = 1};
    t_gate_init(&s.done);
    ck_assert_int_eq(corio_future_add_done_callback(a, t_shutdown_cb, &s), 0);
    atomic_store(&t_shm[1], 1);
    ck_assert(t_gate_pass_within(&s.done, T_LONG));
    ck_assert_int_eq(s.rc, 0);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(b, T_LONG, &v), 0);
    ck_assert_ptr_eq(v, (void *)2);
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_executor_destroy(ex);
    t_no_children();
    sem_destroy(&s.done);
}
END_TEST

/* CPython: test_shutdown.ExecutorShutdownTest.test_interpreter_shutdown,
 * test_hang_issue12364 and ThreadPoolShutdownTest/ProcessPoolShutdownTest
 * .test_del_shutdown: destroying an executor with work pending neither hangs
 * nor loses a result; futures dropped before destroy leak nothing. */
static void t_destroy_with_pending(corio_executor *ex) {
    enum { N = 200 };
    corio_future *fs[N];
    for (uintptr_t i = 0; i < N; i++)
        fs[i] = t_sub(ex, t_inc, (void *)i);
    for (int i = 0; i < N; i += 2) /* half of them nobody keeps */
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    for (uintptr_t i = 1; i < N; i += 2) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], 0, &v), 0); /* done already */
        ck_assert_ptr_eq(v, (void *)(i + 1));
        corio_future_unref(fs[i]);
    }
}

START_TEST(test_destroy_with_pending_work) {
    t_destroy_with_pending(t_tpool(2));
    t_destroy_with_pending(t_ppool(2));
    t_no_children();
}
END_TEST

/* ---- test_init ------------------------------------------------------------------- */

static int t_tinit(void *arg) {
    atomic_fetch_add(&t_tinit_calls, 1);
    t_thread_init_value = (int)(uintptr_t)arg;
    return 0;
}

static int t_get_thread_init(void *arg, corio_value *out) {
    t_ctl *c = arg;
    int r = t_gated(c, out);
    out->ptr = (void *)(uintptr_t)t_thread_init_value;
    return r;
}

/* CPython: test_init.InitializerMixin.test_initializer (thread pool) */
START_TEST(test_initializer_thread) {
    atomic_store(&t_tinit_calls, 0);
    corio_thread_pool_options o = {.max_workers = 4, .initializer = t_tinit,
                                   .initargs = (void *)1234};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    ck_assert_int_eq(atomic_load(&t_tinit_calls), 0); /* lazily, per worker */
    t_ctl c;
    t_ctl_init(&c);
    corio_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = t_sub(ex, t_get_thread_init, &c);
    for (int i = 0; i < 4; i++)
        ck_assert(t_gate_pass_within(&c.started, T_LONG));
    t_gate_open(&c.gate, 4);
    for (int i = 0; i < 4; i++) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], T_LONG, &v), 0);
        ck_assert_ptr_eq(v, (void *)1234);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(atomic_load(&t_tinit_calls), 4); /* once per worker */
    ck_assert_int_eq(t_thread_init_value, 0);          /* not in the caller */
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

static int t_pinit(void *arg) {
    t_init_value = (int)(uintptr_t)arg;
    return 0;
}

static int t_get_init(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)(uintptr_t)t_init_value;
    return 0;
}

/* CPython: test_init.InitializerMixin.test_initializer (process pool) */
START_TEST(test_initializer_process) {
    corio_process_pool_options o = {.max_workers = 2, .initializer = t_pinit,
                                    .initargs = (void *)99};
    corio_executor *ex = t_ppool_opts(&o);
    corio_future *fs[8];
    for (int i = 0; i < 8; i++)
        fs[i] = t_sub(ex, t_get_init, NULL);
    for (int i = 0; i < 8; i++) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], T_LONG, &v), 0);
        ck_assert_ptr_eq(v, (void *)99);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(t_init_value, 0);
    corio_executor_destroy(ex);
}
END_TEST

static int t_tinit_fail(void *arg) {
    (void)arg;
    return corio_task_fail(-EACCES, "thread initializer says no");
}

/* CPython: test_init.FailingInitializerMixin.test_initializer (thread pool:
 * BrokenThreadPool for the pending future and for later submits) */
START_TEST(test_failing_initializer_thread) {
    corio_thread_pool_options o = {.max_workers = 2, .initializer = t_tinit_fail};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    corio_future *f = t_sub(ex, t_inc, NULL); /* starts the first worker */
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, T_LONG, &msg), CORIO_EBROKEN_THREAD_POOL);
    ck_assert_ptr_nonnull(strstr(msg, "initializer failed"));
    ck_assert_ptr_nonnull(strstr(msg, "thread initializer says no"));
    ck_assert(corio_executor_broken(ex));
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_THREAD_POOL);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

static int t_pinit_fail(void *arg) {
    (void)arg;
    return corio_task_fail(-EACCES, "process initializer says no");
}

static int t_pinit_kill(void *arg) {
    (void)arg;
    raise(SIGKILL);
    return 0;
}

static int t_pinit_exit(void *arg) {
    (void)arg;
    _exit(7);
}

/* Submit to a pool whose initializer fails or crashes: the submit is
 * refused, or its future fails; either way the pool ends broken. */
static void t_check_broken_by_init(corio_init_fn init, const char *want_msg) {
    corio_process_pool_options o = {.max_workers = 2, .initializer = init};
    corio_executor *ex = t_ppool_opts(&o);
    int err = 0;
    corio_future *f = corio_executor_submit(ex, t_inc, NULL, &err);
    if (f) {
        const char *msg = NULL;
        ck_assert_int_eq(corio_future_exception(f, T_LONG, &msg), CORIO_EBROKEN_PROCESS_POOL);
        ck_assert_msg(strstr(msg, want_msg), "message: %s", msg);
        corio_future_unref(f);
        ck_assert(corio_executor_broken(ex));
        f = corio_executor_submit(ex, t_inc, NULL, &err);
    }
    ck_assert_ptr_null(f);
    ck_assert_int_eq(err, CORIO_EBROKEN_PROCESS_POOL);
    corio_executor_destroy(ex);
    t_no_children();
}

/* CPython: test_init.FailingInitializerMixin.test_initializer (process pool) */
START_TEST(test_failing_initializer_process) {
    t_check_broken_by_init(t_pinit_fail, "process initializer says no");
}
END_TEST

/* CPython: test_init.FailingInitializerMixin.test_initializer, with a crash
 * and an exit in the initializer instead of an exception */
START_TEST(test_crashing_initializer_process) {
    t_check_broken_by_init(t_pinit_kill, "");
    t_check_broken_by_init(t_pinit_exit, "");
}
END_TEST

int main(void) {
    Suite *s = suite_create("conformance_executor");
    TCase *tc = tcase_create("executor");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_max_workers_checks);
    tcase_add_test(tc, test_map_exception);
    tcase_add_test(tc, test_map_timeout_thread);
    tcase_add_test(tc, test_map_timeout_process);
    tcase_add_test(tc, test_map_submits_without_iteration);
    tcase_add_test(tc, test_map_current_future_cancel);
    tcase_add_test(tc, test_shutdown_race_thread);
    tcase_add_test(tc, test_shutdown_race_process);
    tcase_add_test(tc, test_run_after_shutdown);
    tcase_add_test(tc, test_shutdown_cancel_futures_thread);
    tcase_add_test(tc, test_shutdown_cancel_futures_process);
    tcase_add_test(tc, test_shutdown_no_wait_thread);
    tcase_add_test(tc, test_shutdown_no_wait_process);
    tcase_add_test(tc, test_shutdown_from_done_callback_thread);
    tcase_add_test(tc, test_shutdown_from_done_callback_process);
    tcase_add_test(tc, test_destroy_with_pending_work);
    tcase_add_test(tc, test_initializer_thread);
    tcase_add_test(tc, test_initializer_process);
    tcase_add_test(tc, test_failing_initializer_thread);
    tcase_add_test(tc, test_failing_initializer_process);
    tcase_add_test(tc, test_crashing_initializer_process);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
