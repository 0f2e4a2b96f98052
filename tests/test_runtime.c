/* Tests for the coroutine runtime (corio/runtime.h): corio_run, spawning on
 * loops (from coroutines and from plain threads), ids, yield and sleep.
 * Awaiting futures from coroutines and scale are in test_runtime_await.c,
 * cancellation, shutdown and a tiny submission queue in
 * test_runtime_cancel.c; the helpers they share in t_runtime.h.
 *
 * Every test creates and destroys its own runtime and releases every
 * future it made. Ordering is done with futures and semaphores, never with
 * sleeps. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio.h"
#include "loop.h"
#include "t_helpers.h"
#include "t_runtime.h"

/* ---- helpers --------------------------------------------------------------- */

static atomic_int t_dtor_calls;
static void t_dtor(void *p) {
    atomic_fetch_add(&t_dtor_calls, 1);
    free(p);
}

/* ---- corio_run ---------------------------------------------------------------- */

static int t_main_value(void *arg, corio_value *out) {
    ck_assert(corio_in_coroutine());
    ck_assert_int_eq(corio_loop_id(), 0);
    int *v = malloc(sizeof *v);
    *v = *(int *)arg * 2;
    out->ptr = v;
    out->dtor = t_dtor;
    return 0;
}

START_TEST(test_run_returns_main_result) {
    int in = 21;
    corio_value v = {0};
    atomic_store(&t_dtor_calls, 0);
    ck_assert_int_eq(corio_run(t_main_value, &in, &v), 0);
    ck_assert_ptr_nonnull(v.ptr);
    ck_assert_int_eq(*(int *)v.ptr, 42);
    /* The destructor became ours: the runtime did not run it. */
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 0);
    ck_assert(v.dtor == t_dtor);
    v.dtor(v.ptr);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 1);
    /* Without a result pointer the value is released with the future. */
    ck_assert_int_eq(corio_run(t_main_value, &in, NULL), 0);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 2);
}
END_TEST

static int t_main_fail(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return corio_task_fail(CORIO_ETASK - 7, "bad input %d", 7);
}

START_TEST(test_run_propagates_failure) {
    ck_assert_int_eq(corio_run(t_main_fail, NULL, NULL), CORIO_ETASK - 7);
    /* The message travels with the coroutine's future. */
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_main_fail, NULL);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 60, &msg), CORIO_ETASK - 7);
    ck_assert_str_eq(msg, "bad input 7");
    ck_assert_int_eq(corio_future_result(f, 0, NULL), CORIO_ETASK - 7);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}
END_TEST

static int t_return_errno(void *arg, corio_value *out) {
    (void)out;
    return (int)(intptr_t)arg;
}

START_TEST(test_run_with_options) {
    corio_runtime_options o = {.loops = 2, .no_pin = true, .stack_size = 64 * 1024,
                               .ring_entries = 8};
    ck_assert_int_eq(corio_run_with(&o, t_return_errno, (void *)(intptr_t)0, NULL), 0);
    /* -ECANCELED without a cancel request is an ordinary failure. */
    ck_assert_int_eq(corio_run_with(&o, t_return_errno, (void *)(intptr_t)-ECANCELED, NULL),
                     -ECANCELED);
    ck_assert_int_eq(corio_run_with(&o, t_return_errno, (void *)(intptr_t)-EIO, NULL), -EIO);
}
END_TEST

START_TEST(test_run_invalid) {
    ck_assert_int_eq(corio_run(NULL, NULL, NULL), -EINVAL);
    corio_runtime_options o = {.loops = -1};
    ck_assert_int_eq(corio_run_with(&o, t_ret_arg, NULL, NULL), -EINVAL);
    corio_runtime *rt = (corio_runtime *)1;
    ck_assert_int_eq(corio_runtime_create(NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EINVAL);
    ck_assert_ptr_null(rt);
    o = (corio_runtime_options){.loops = 1, .blocking_workers = -1};
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EINVAL);
    o = (corio_runtime_options){.loops = 1, .ring_entries = 1u << 20};
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EINVAL);
    corio_runtime_destroy(NULL);
    ck_assert_int_eq(corio_runtime_loops(NULL), 0);
    ck_assert_ptr_null(corio_runtime_blocking_pool(NULL));
}
END_TEST

START_TEST(test_runtime_defaults) {
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(NULL, &rt), 0);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(corio_runtime_loops(rt), ncpu > 0 ? ncpu : 1);
    ck_assert_ptr_nonnull(corio_runtime_blocking_pool(rt));
    corio_runtime_destroy(rt);
}
END_TEST

/* ---- spawning, ids ----------------------------------------------------------- */

/* What a coroutine learns about itself. */
typedef struct t_where {
    int loop;
    uint64_t id;
    corio_runtime *rt;
    bool in;
} t_where;

static int t_whereami(void *arg, corio_value *out) {
    (void)out;
    t_where *w = arg;
    w->loop = corio_loop_id();
    w->id = corio_coro_id();
    w->rt = corio_runtime_current();
    w->in = corio_in_coroutine();
    return 0;
}

START_TEST(test_spawn_on_each_loop) {
    corio_runtime *rt = t_rt(3);
    ck_assert_int_eq(corio_runtime_loops(rt), 3);
    t_where w[4] = {{0}};
    corio_future *f[4];
    for (int i = 0; i < 3; i++)
        f[i] = t_spawn(rt, i, t_whereami, &w[i]);
    f[3] = t_spawn(rt, -1, t_whereami, &w[3]); /* from a plain thread: loop 0 */
    for (int i = 0; i < 4; i++)
        t_join(f[i]);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(w[i].loop, i < 3 ? i : 0);
        ck_assert_ptr_eq(w[i].rt, rt);
        ck_assert(w[i].in);
        ck_assert_uint_gt(w[i].id, 0);
        for (int j = 0; j < i; j++)
            ck_assert_uint_ne(w[i].id, w[j].id);
    }
    corio_runtime_destroy(rt);
}
END_TEST

/* Spawns children from inside a coroutine: with corio_spawn, spawn_on(-1)
 * (both the current loop), and spawn_on another loop. */
static int t_spawner(void *arg, corio_value *out) {
    (void)out;
    t_where *w = arg;
    int err = 1;
    corio_future *a = corio_spawn(t_whereami, &w[0], &err);
    ck_assert_ptr_nonnull(a);
    corio_future *b = corio_spawn_on(corio_runtime_current(), -1, t_whereami, &w[1], NULL, NULL);
    ck_assert_ptr_nonnull(b);
    int other = (corio_loop_id() + 1) % corio_runtime_loops(corio_runtime_current());
    corio_spawn_options so = {.stack_size = 32 * 1024};
    corio_future *c = corio_spawn_on(corio_runtime_current(), other, t_whereami, &w[2], &so, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(corio_future_result(a, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_future_result(b, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_future_result(c, CORIO_FOREVER, NULL), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_future_unref(c);
    w[3].loop = corio_loop_id();
    w[3].id = corio_coro_id();
    return 0;
}

START_TEST(test_spawn_from_coroutine) {
    corio_runtime *rt = t_rt(2);
    t_where w[4] = {{0}};
    t_join(t_spawn(rt, 1, t_spawner, w));
    ck_assert_int_eq(w[0].loop, 1);
    ck_assert_int_eq(w[1].loop, 1);
    ck_assert_int_eq(w[2].loop, 0);
    ck_assert_int_eq(w[3].loop, 1);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            ck_assert_uint_ne(w[i].id, w[j].id);
    corio_runtime_destroy(rt);
}
END_TEST

/* Spawning from a thread the runtime does not know. */
typedef struct t_thread_spawn {
    corio_runtime *rt;
    t_where w[8];
} t_thread_spawn;

static void *t_thread_spawner(void *arg) {
    t_thread_spawn *s = arg;
    corio_future *f[8];
    for (int i = 0; i < 8; i++)
        f[i] = corio_spawn_on(s->rt, i % 2, t_whereami, &s->w[i], NULL, NULL);
    for (int i = 0; i < 8; i++) {
        if (f[i])
            corio_future_result(f[i], 60, NULL);
        corio_future_unref(f[i]);
    }
    return NULL;
}

START_TEST(test_spawn_from_plain_thread) {
    corio_runtime *rt = t_rt(2);
    t_thread_spawn s = {.rt = rt};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, t_thread_spawner, &s), 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 8; i++) {
        ck_assert(s.w[i].in);
        ck_assert_int_eq(s.w[i].loop, i % 2);
    }
    corio_runtime_destroy(rt);
}
END_TEST

START_TEST(test_spawn_invalid) {
    corio_runtime *rt = t_rt(2);
    int err = 0;
    ck_assert_ptr_null(corio_spawn_on(NULL, 0, t_ret_arg, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    err = 0;
    ck_assert_ptr_null(corio_spawn_on(rt, 0, NULL, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    err = 0;
    ck_assert_ptr_null(corio_spawn_on(rt, -2, t_ret_arg, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    err = 0;
    ck_assert_ptr_null(corio_spawn_on(rt, 2, t_ret_arg, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_ptr_null(corio_spawn_on(rt, 2, t_ret_arg, NULL, NULL, NULL)); /* err optional */
    err = 0;
    ck_assert_ptr_null(corio_spawn(t_ret_arg, NULL, &err));
    ck_assert_int_eq(err, -EPERM);
    ck_assert_ptr_null(corio_spawn(t_ret_arg, NULL, NULL));
    corio_runtime_destroy(rt);
}
END_TEST

START_TEST(test_outside_coroutine) {
    ck_assert(!corio_in_coroutine());
    ck_assert_int_eq(corio_loop_id(), -1);
    ck_assert_uint_eq(corio_coro_id(), 0);
    ck_assert_ptr_null(corio_runtime_current());
    ck_assert(!corio_cancel_requested());
    ck_assert_int_eq(corio_yield(), 0);
    ck_assert_int_eq(corio_sleep(-1), -EINVAL);
    ck_assert_int_eq(corio_sleep(NAN), -EINVAL);
    ck_assert_int_eq(corio_sleep(0), 0);
    double t0 = t_now();
    ck_assert_int_eq(corio_sleep(0.02), 0);
    ck_assert(t_now() - t0 >= 0.02);
    /* to_thread outside a coroutine uses the process-wide pool. */
    int err = 0;
    corio_future *f = corio_to_thread(t_ret_arg, (void *)&err, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_eq(t_join(f), &err);
}
END_TEST

/* ---- yield and sleep ---------------------------------------------------------- */

typedef struct t_log {
    char buf[64];
    int n;
} t_log;

typedef struct t_yielder {
    t_log *log;
    char tag;
} t_yielder;

static int t_yield_body(void *arg, corio_value *out) {
    (void)out;
    t_yielder *y = arg;
    for (int i = 0; i < 3; i++) {
        y->log->buf[y->log->n++] = y->tag;
        ck_assert_int_eq(corio_yield(), 0);
    }
    return 0;
}

static int t_yield_main(void *arg, corio_value *out) {
    (void)out;
    t_log *log = arg;
    t_yielder y[3] = {{log, 'a'}, {log, 'b'}, {log, 'c'}};
    corio_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = corio_spawn(t_yield_body, &y[i], NULL);
    ck_assert_int_eq(corio_wait(f, 3, CORIO_FOREVER, CORIO_ALL_COMPLETED, NULL, NULL, NULL, NULL),
                     0);
    for (int i = 0; i < 3; i++)
        corio_future_unref(f[i]);
    return 0;
}

START_TEST(test_yield_round_robin) {
    t_log log = {{0}, 0};
    corio_runtime *rt = t_rt(1);
    t_join(t_spawn(rt, 0, t_yield_main, &log));
    ck_assert_str_eq(log.buf, "abcabcabc");
    corio_runtime_destroy(rt);
}
END_TEST

typedef struct t_sleeper {
    t_log *log;
    char tag;
    double secs;
} t_sleeper;

static int t_sleep_body(void *arg, corio_value *out) {
    (void)out;
    t_sleeper *s = arg;
    double t0 = t_now();
    ck_assert_int_eq(corio_sleep(s->secs), 0);
    double dt = t_now() - t0;
    ck_assert_msg(dt >= s->secs && dt < s->secs + 5, "slept %f for %f", dt, s->secs);
    s->log->buf[s->log->n++] = s->tag;
    return 0;
}

static int t_sleep_checks(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    ck_assert_int_eq(corio_sleep(-0.5), -EINVAL);
    ck_assert_int_eq(corio_sleep(NAN), -EINVAL);
    ck_assert_int_eq(corio_sleep(0), 0);
    return 0;
}

START_TEST(test_sleep) {
    t_log log = {{0}, 0};
    corio_runtime *rt = t_rt(1);
    t_join(t_spawn(rt, 0, t_sleep_checks, NULL));
    /* Three sleepers on one loop wake in deadline order, concurrently. */
    t_sleeper s[3] = {{&log, 'c', 0.15}, {&log, 'a', 0.05}, {&log, 'b', 0.1}};
    double t0 = t_now();
    corio_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = t_spawn(rt, 0, t_sleep_body, &s[i]);
    for (int i = 0; i < 3; i++)
        t_join(f[i]);
    ck_assert_str_eq(log.buf, "abc");
    ck_assert(t_now() - t0 < 5); /* not 0.3 s in a row... generously */
    corio_runtime_destroy(rt);
}
END_TEST

/* ---- suite ------------------------------------------------------------------- */

static Suite *runtime_suite(void) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("run");
    tcase_add_test(tc, test_run_returns_main_result);
    tcase_add_test(tc, test_run_propagates_failure);
    tcase_add_test(tc, test_run_with_options);
    tcase_add_test(tc, test_run_invalid);
    tcase_add_test(tc, test_runtime_defaults);
    suite_add_tcase(s, tc);

    tc = tcase_create("spawn");
    tcase_add_test(tc, test_spawn_on_each_loop);
    tcase_add_test(tc, test_spawn_from_coroutine);
    tcase_add_test(tc, test_spawn_from_plain_thread);
    tcase_add_test(tc, test_spawn_invalid);
    tcase_add_test(tc, test_outside_coroutine);
    tcase_add_test(tc, test_yield_round_robin);
    tcase_add_test(tc, test_sleep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(runtime_suite()); }
