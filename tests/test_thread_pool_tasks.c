/* Tests for the thread pool (Python's ThreadPoolExecutor) through the
 * executor interface, its jobs: cancelling a queued job, every way a task
 * fails, submit_bytes copies, done-callbacks on the worker, and the
 * classic deadlock pitfalls (bounded by timeouts). Reference: CPython's
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
#include "t_tasks.h"
#include "t_thread_pool.h"

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

int main(void) {
    Suite *s = suite_create("thread_pool_tasks");
    TCase *tc = tcase_create("tasks");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cancel_queued_while_first_runs);
    tcase_add_test(tc, test_task_failures);
    tcase_add_test(tc, test_submit_bytes_copies);
    tcase_add_test(tc, test_done_callback_on_worker);
    tcase_add_test(tc, test_pitfall_mutual_wait);
    tcase_add_test(tc, test_pitfall_wait_on_own_pool);
    tcase_add_test(tc, test_idle_worker_not_held_hostage);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
