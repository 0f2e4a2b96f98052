/* Tests for the coroutine runtime (corio/runtime.h), ending coroutines:
 * cancellation of a coroutine parked in each blocking call (from a
 * coroutine and from a thread, before it starts, after it finished, when
 * it ignores the cancel), shutdown with blocked coroutines and racing
 * spawners, stack overflow reporting, and a tiny submission queue (a storm
 * of NOPs, cancels that need SQEs themselves).
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

/* ---- cancellation ---------------------------------------------------------- */

/* What the victim does: block in one of the calls below, record what the
 * call returned, and return it (so -ECANCELED ends it as cancelled). */
enum { T_IN_RESULT, T_IN_SLEEP, T_IN_WAIT, T_IN_YIELD_LOOP, T_IN_AS_COMPLETED };

typedef struct t_victim {
    int how;
    corio_future *never; /* a future nobody completes */
    int got;             /* what the blocking call returned */
    sem_t entered;       /* posted just before blocking */
    bool ran;            /* the body started */
} t_victim;

static int t_victim_body(void *arg, corio_value *out) {
    (void)out;
    t_victim *v = arg;
    v->ran = true;
    sem_post(&v->entered);
    switch (v->how) {
    case T_IN_RESULT:
        v->got = corio_future_result(v->never, CORIO_FOREVER, NULL);
        break;
    case T_IN_SLEEP:
        v->got = corio_sleep(3600);
        break;
    case T_IN_WAIT:
        v->got = corio_wait(&v->never, 1, CORIO_FOREVER, CORIO_ALL_COMPLETED, NULL, NULL, NULL,
                            NULL);
        break;
    case T_IN_AS_COMPLETED: {
        corio_as_completed *it = corio_as_completed_create(&v->never, 1, CORIO_FOREVER);
        corio_future *x;
        v->got = corio_as_completed_next(it, &x);
        corio_as_completed_destroy(it);
        break;
    }
    default:
        while ((v->got = corio_yield()) == 0) {
        }
    }
    ck_assert(corio_cancel_requested());
    return v->got;
}

static void t_victim_init(t_victim *v, int how) {
    memset(v, 0, sizeof *v);
    v->how = how;
    v->never = corio_future_create();
    t_gate_init(&v->entered);
}

static void t_victim_fini(t_victim *v) {
    corio_future_unref(v->never);
    sem_destroy(&v->entered);
}

/* Same loop: the canceller runs only once the victim is parked (it was
 * spawned first and the loop runs them in order). */
static int t_cancel_parked_main(void *arg, corio_value *out) {
    (void)out;
    t_victim *v = arg;
    corio_future *f = corio_spawn(t_victim_body, v, NULL);
    ck_assert_int_eq(corio_yield(), 0); /* victim runs and parks */
    ck_assert(v->ran);
    ck_assert(!corio_future_done(f));
    ck_assert(corio_future_cancel(f));
    ck_assert(corio_future_cancel(f)); /* repeated: still true, one request */
    ck_assert_int_eq(corio_future_result(f, 30, NULL), -ECANCELED);
    ck_assert(corio_future_cancelled(f));
    corio_future_unref(f);
    return 0;
}

static void t_cancel_parked(int how) {
    t_victim v;
    t_victim_init(&v, how);
    corio_runtime *rt = t_rt(1);
    double t0 = t_now();
    t_join(t_spawn(rt, 0, t_cancel_parked_main, &v));
    ck_assert(t_now() - t0 < 30);
    ck_assert_int_eq(v.got, -ECANCELED);
    corio_runtime_destroy(rt);
    t_victim_fini(&v);
}

START_TEST(test_cancel_in_future_result) { t_cancel_parked(T_IN_RESULT); }
END_TEST
START_TEST(test_cancel_in_sleep) { t_cancel_parked(T_IN_SLEEP); }
END_TEST
START_TEST(test_cancel_in_wait) { t_cancel_parked(T_IN_WAIT); }
END_TEST
START_TEST(test_cancel_in_as_completed) { t_cancel_parked(T_IN_AS_COMPLETED); }
END_TEST
START_TEST(test_cancel_in_yield_loop) { t_cancel_parked(T_IN_YIELD_LOOP); }
END_TEST

/* From another thread, while the victim is (about to be) parked. */
START_TEST(test_cancel_from_thread) {
    for (int how = T_IN_RESULT; how <= T_IN_AS_COMPLETED; how++) {
        t_victim v;
        t_victim_init(&v, how);
        corio_runtime *rt = t_rt(2);
        corio_future *f = t_spawn(rt, 1, t_victim_body, &v);
        ck_assert(t_gate_pass_within(&v.entered, 30));
        ck_assert(corio_future_cancel(f));
        ck_assert_int_eq(corio_future_result(f, 30, NULL), -ECANCELED);
        ck_assert(corio_future_cancelled(f));
        ck_assert_int_eq(v.got, -ECANCELED);
        corio_future_unref(f);
        corio_runtime_destroy(rt);
        t_victim_fini(&v);
    }
}
END_TEST

/* Cancelled before it started: the body never runs. */
static int t_cancel_before_start_main(void *arg, corio_value *out) {
    (void)out;
    t_victim *v = arg;
    corio_future *f = corio_spawn(t_victim_body, v, NULL);
    ck_assert(corio_future_cancel(f));
    ck_assert(corio_future_cancelled(f));
    ck_assert_int_eq(corio_future_result(f, 30, NULL), -ECANCELED);
    ck_assert_int_eq(corio_yield(), 0);
    corio_future_unref(f);
    return 0;
}

START_TEST(test_cancel_before_start) {
    t_victim v;
    t_victim_init(&v, T_IN_RESULT);
    corio_runtime *rt = t_rt(1);
    t_join(t_spawn(rt, 0, t_cancel_before_start_main, &v));
    ck_assert(!v.ran);
    corio_runtime_destroy(rt);
    t_victim_fini(&v);
}
END_TEST

START_TEST(test_cancel_finished_returns_false) {
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_ret_arg, (void *)7);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    ck_assert(!corio_future_cancel(f));
    ck_assert(!corio_future_cancelled(f));
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}
END_TEST

/* A coroutine may ignore a cancel request: it then finishes normally. */
static int t_ignore_cancel(void *arg, corio_value *out) {
    t_victim *v = arg;
    sem_post(&v->entered);
    v->got = corio_future_result(v->never, CORIO_FOREVER, NULL);
    ck_assert(corio_cancel_requested());
    /* Every later blocking call also ends at once. */
    ck_assert_int_eq(corio_sleep(3600), -ECANCELED);
    ck_assert_int_eq(corio_yield(), -ECANCELED);
    out->ptr = (void *)0x1d;
    return 0;
}

START_TEST(test_cancel_ignored_finishes) {
    t_victim v;
    t_victim_init(&v, T_IN_RESULT);
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_ignore_cancel, &v);
    ck_assert(t_gate_pass_within(&v.entered, 30));
    ck_assert(corio_future_cancel(f));
    ck_assert_ptr_eq(t_join(f), (void *)0x1d);
    ck_assert_int_eq(v.got, -ECANCELED);
    corio_runtime_destroy(rt);
    t_victim_fini(&v);
}
END_TEST

/* ---- shutdown ---------------------------------------------------------------- */

START_TEST(test_destroy_cancels_blocked) {
    enum { N = 5 };
    t_victim v[N];
    corio_future *f[N];
    corio_runtime *rt = t_rt(2);
    for (int i = 0; i < N; i++) {
        t_victim_init(&v[i], i);
        f[i] = t_spawn(rt, i % 2, t_victim_body, &v[i]);
    }
    for (int i = 0; i < N; i++)
        ck_assert(t_gate_pass_within(&v[i].entered, 30));
    /* Plus some that are queued but never started. */
    corio_future *late[64];
    for (int i = 0; i < 64; i++)
        late[i] = t_spawn(rt, i % 2, t_ret_arg, NULL);
    corio_runtime_destroy(rt);
    for (int i = 0; i < N; i++) {
        ck_assert(corio_future_cancelled(f[i]));
        ck_assert_int_eq(v[i].got, -ECANCELED);
        corio_future_unref(f[i]);
        t_victim_fini(&v[i]);
    }
    for (int i = 0; i < 64; i++) {
        ck_assert(corio_future_done(late[i]));
        corio_future_unref(late[i]);
    }
}
END_TEST

/* After destroy began nothing new is accepted: a coroutine that tries to
 * spawn during shutdown gets CORIO_ESHUTDOWN. */
static int t_spawn_after_cancel(void *arg, corio_value *out) {
    (void)out;
    t_victim *v = arg;
    sem_post(&v->entered);
    v->got = corio_future_result(v->never, CORIO_FOREVER, NULL);
    int err = 0;
    corio_future *g = corio_spawn(t_ret_arg, NULL, &err);
    ck_assert_ptr_null(g);
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    return -ECANCELED;
}

START_TEST(test_destroy_refuses_spawn) {
    t_victim v;
    t_victim_init(&v, T_IN_RESULT);
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_spawn_after_cancel, &v);
    ck_assert(t_gate_pass_within(&v.entered, 30));
    corio_runtime_destroy(rt);
    ck_assert(corio_future_cancelled(f));
    ck_assert_int_eq(v.got, -ECANCELED);
    corio_future_unref(f);
    t_victim_fini(&v);
}
END_TEST

/* Regression: a coroutine on loop 0 spawning onto loop 1 while
 * corio_runtime_destroy runs could pass the "stopping" check, then post
 * its start message after loop 1 had already exited: that coroutine was
 * never started nor freed, and its future never completed. Every future
 * the spawner obtains must end up done once destroy returns. */
typedef struct t_racer {
    corio_future **fs;
    size_t n, cap;
    sem_t started;
} t_racer;

static int t_racing_spawner(void *arg, corio_value *out) {
    (void)out;
    t_racer *r = arg;
    sem_post(&r->started);
    while (r->n < r->cap) {
        int err = 0;
        corio_future *f =
            corio_spawn_on(corio_runtime_current(), 1, t_ret_arg, NULL, NULL, &err);
        if (!f) {
            ck_assert_int_eq(err, CORIO_ESHUTDOWN);
            break;
        }
        r->fs[r->n++] = f;
    }
    return 0;
}

START_TEST(test_spawn_racing_destroy_completes) {
    int rounds = (int)t_scale(300, 20);
    for (int round = 0; round < rounds; round++) {
        t_racer r = {.cap = 200000};
        r.fs = malloc(r.cap * sizeof *r.fs);
        t_gate_init(&r.started);
        corio_runtime *rt = t_rt(2);
        corio_future *sp = t_spawn(rt, 0, t_racing_spawner, &r);
        t_gate_pass(&r.started);
        corio_runtime_destroy(rt); /* the spawner still runs: hence the race */
        ck_assert(corio_future_done(sp));
        corio_future_unref(sp);
        for (size_t i = 0; i < r.n; i++) {
            ck_assert_msg(corio_future_done(r.fs[i]), "round %d: future %zu of %zu never done",
                          round, i, r.n);
            corio_future_unref(r.fs[i]);
        }
        free(r.fs);
        sem_destroy(&r.started);
    }
}
END_TEST

/* ---- stack overflow (in a forked child) ---------------------------------- */

static volatile int t_sink;
static volatile int t_depth_limit = 1 << 30; /* never reached; defeats -Winfinite-recursion */

static int t_recurse(int depth) {
    if (depth > t_depth_limit)
        return 0;
    volatile char pad[512];
    pad[0] = (char)depth;
    t_sink = pad[0];
    return t_recurse(depth + 1) + pad[0];
}

static int t_overflow_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return t_recurse(0);
}

START_TEST(test_overflow_aborts_with_message) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        corio_runtime_options o = {.loops = 1, .no_pin = true, .stack_size = 64 * 1024};
        corio_run_with(&o, t_overflow_body, NULL, NULL);
        _exit(0); /* not reached */
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], out + len, sizeof out - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof out - 1)
            break;
    }
    out[len] = '\0';
    close(fds[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(strstr(out, "corio: coroutine stack overflow") != NULL, "child said: %s", out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
}
END_TEST

/* ---- a tiny submission queue ------------------------------------------------- */

/* Each coroutine pushes `rounds` NOPs through the ring (several per yield
 * storm) with 4 SQ entries: corio__loop_sqe must submit to make room. */
static int t_nop_storm(void *arg, corio_value *out) {
    (void)out;
    int rounds = (int)(intptr_t)arg;
    corio__loop *l = corio__tls_loop;
    for (int i = 0; i < rounds; i++) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_nop(sqe);
        ck_assert_int_eq(corio__loop_await(l, sqe, i % 3 == 0 ? 30 : -1, NULL), 0);
        ck_assert_int_eq(corio_yield(), 0);
    }
    return 0;
}

START_TEST(test_tiny_ring_storm) {
    corio_runtime_options o = {.loops = 2, .no_pin = true, .ring_entries = 4};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    size_t n = t_scale(1000, 50);
    corio_future **fs = malloc(n * sizeof *fs);
    for (size_t i = 0; i < n; i++)
        fs[i] = t_spawn(rt, (int)(i % 2), t_nop_storm, (void *)(intptr_t)20);
    for (size_t i = 0; i < n; i++)
        t_join(fs[i]);
    free(fs);
    corio_runtime_destroy(rt);
}
END_TEST

/* Cancel coroutines waiting on ring operations that never complete (a
 * recv on a silent socket), with 4 SQ entries: the cancels themselves need
 * SQEs. */
static int t_recv_forever(void *arg, corio_value *out) {
    (void)out;
    int fd = (int)(intptr_t)arg;
    corio__loop *l = corio__tls_loop;
    char b;
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_recv(sqe, fd, &b, 1, 0);
    return corio__loop_await(l, sqe, -1, NULL);
}

START_TEST(test_tiny_ring_cancel_ops) {
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    corio_runtime_options o = {.loops = 1, .no_pin = true, .ring_entries = 4};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    enum { N = 64 };
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_spawn(rt, 0, t_recv_forever, (void *)(intptr_t)fds[0]);
    /* Cancel half from here; destroy cancels the rest. */
    for (int i = 0; i < N; i += 2) {
        ck_assert(corio_future_cancel(fs[i]));
        ck_assert_int_eq(corio_future_result(fs[i], 30, NULL), -ECANCELED);
    }
    corio_runtime_destroy(rt);
    for (int i = 0; i < N; i++) {
        ck_assert(corio_future_cancelled(fs[i]));
        corio_future_unref(fs[i]);
    }
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* ---- suite ------------------------------------------------------------------- */

static Suite *runtime_cancel_suite(void) {
    Suite *s = suite_create("runtime_cancel");
    TCase *tc = tcase_create("cancel");
    tcase_add_test(tc, test_cancel_in_future_result);
    tcase_add_test(tc, test_cancel_in_sleep);
    tcase_add_test(tc, test_cancel_in_wait);
    tcase_add_test(tc, test_cancel_in_as_completed);
    tcase_add_test(tc, test_cancel_in_yield_loop);
    tcase_add_test(tc, test_cancel_from_thread);
    tcase_add_test(tc, test_cancel_before_start);
    tcase_add_test(tc, test_cancel_finished_returns_false);
    tcase_add_test(tc, test_cancel_ignored_finishes);
    suite_add_tcase(s, tc);

    tc = tcase_create("shutdown");
    tcase_add_test(tc, test_destroy_cancels_blocked);
    tcase_add_test(tc, test_destroy_refuses_spawn);
    tcase_add_test(tc, test_spawn_racing_destroy_completes);
    tcase_add_test(tc, test_overflow_aborts_with_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("ring");
    tcase_add_test(tc, test_tiny_ring_storm);
    tcase_add_test(tc, test_tiny_ring_cancel_ops);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(runtime_cancel_suite()); }
