/* Conformance with CPython's concurrent.futures test suite
 * (Lib/test/test_concurrent_futures/): the behaviours those tests check that
 * apply to a C library, ported one by one. Each test names the CPython test
 * it mirrors in a comment right above it; where corio deliberately differs
 * (no CANCELLED vs CANCELLED_AND_NOTIFIED distinction, max_workers = 0 means
 * the default) the comment says so.
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
#include "../executors/wire.h"

/* Bound for every wait that should end quickly. */
#define T_LONG 30.0

/* ---- futures in each state (CPython's PENDING_FUTURE ... SUCCESSFUL_FUTURE) */

enum { S_PENDING, S_RUNNING, S_CANCELLED, S_EXCEPTION, S_SUCCESS, S_COUNT };

static corio_future *t_state_future(int s) {
    corio_future *f = corio_future_create();
    ck_assert_ptr_nonnull(f);
    switch (s) {
    case S_RUNNING:
        ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 1);
        break;
    case S_CANCELLED:
        ck_assert(corio_future_cancel(f));
        break;
    case S_EXCEPTION:
        ck_assert_int_eq(corio_future_set_exception(f, -EIO, "an OSError"), 0);
        break;
    case S_SUCCESS:
        ck_assert_int_eq(corio_future_set_result(f, (void *)42, NULL), 0);
        break;
    default:
        break;
    }
    return f;
}

/* What a done-callback saw. */
typedef struct t_seen {
    atomic_int calls;     /* how many times it ran */
    corio_future *f;      /* the future it was given */
    int state;            /* the future's state then */
    int code;             /* corio_future_exception(f, 0) then */
    void *value;          /* the result pointer then */
    pthread_t thread;     /* where it ran */
    sem_t done;           /* posted after each call */
} t_seen;

static void t_seen_init(t_seen *s) {
    memset(s, 0, sizeof *s);
    atomic_init(&s->calls, 0);
    t_gate_init(&s->done);
}

static int t_record(corio_future *f, void *arg) {
    t_seen *s = arg;
    s->f = f;
    s->state = (int)corio_future_state_get(f);
    s->code = corio_future_exception(f, 0, NULL);
    s->value = NULL;
    if (s->code == 0)
        corio_future_result(f, 0, &s->value);
    s->thread = pthread_self();
    atomic_fetch_add(&s->calls, 1);
    sem_post(&s->done);
    return 0;
}

static int t_raise(corio_future *f, void *arg) {
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
    return -EPERM; /* logged and ignored, as Python logs the exception */
}

/* Run fn(arg) on a new thread. */
static pthread_t t_start_thread(void *(*fn)(void *), void *arg) {
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fn, arg), 0);
    return th;
}

/* ---- test_future.FutureTests ---------------------------------------------- */

/* CPython: test_future.FutureTests.test_done, test_running, test_cancelled */
START_TEST(test_state_queries) {
    static const struct {
        bool done, running, cancelled;
    } want[S_COUNT] = {
        [S_PENDING] = {false, false, false},  [S_RUNNING] = {false, true, false},
        [S_CANCELLED] = {true, false, true},  [S_EXCEPTION] = {true, false, false},
        [S_SUCCESS] = {true, false, false},
    };
    for (int s = 0; s < S_COUNT; s++) {
        corio_future *f = t_state_future(s);
        ck_assert_msg(corio_future_done(f) == want[s].done, "state %d done", s);
        ck_assert_msg(corio_future_running(f) == want[s].running, "state %d running", s);
        ck_assert_msg(corio_future_cancelled(f) == want[s].cancelled, "state %d cancelled", s);
        corio_future_unref(f);
    }
}
END_TEST

/* CPython: test_future.FutureTests.test_cancel */
START_TEST(test_cancel_per_state) {
    static const bool want[S_COUNT] = {[S_PENDING] = true, [S_RUNNING] = false,
                                       [S_CANCELLED] = true, [S_EXCEPTION] = false,
                                       [S_SUCCESS] = false};
    for (int s = 0; s < S_COUNT; s++) {
        corio_future *f = t_state_future(s);
        int before = (int)corio_future_state_get(f);
        ck_assert_msg(corio_future_cancel(f) == want[s], "state %d", s);
        if (want[s])
            ck_assert_int_eq(corio_future_state_get(f), CORIO_CANCELLED);
        else
            ck_assert_int_eq(corio_future_state_get(f), before);
        corio_future_unref(f);
    }
}
END_TEST

/* CPython: test_future.FutureTests.test_result_with_timeout */
START_TEST(test_result_with_timeout) {
    static const int want[S_COUNT] = {[S_PENDING] = -ETIMEDOUT, [S_RUNNING] = -ETIMEDOUT,
                                      [S_CANCELLED] = -ECANCELED, [S_EXCEPTION] = -EIO,
                                      [S_SUCCESS] = 0};
    for (int s = 0; s < S_COUNT; s++) {
        corio_future *f = t_state_future(s);
        void *v = (void *)1;
        ck_assert_msg(corio_future_result(f, 0, &v) == want[s], "state %d", s);
        if (s == S_SUCCESS)
            ck_assert_ptr_eq(v, (void *)42);
        /* A short non-zero timeout behaves the same on an undone future. */
        if (!corio_future_done(f))
            ck_assert_int_eq(corio_future_result(f, 0.01, NULL), -ETIMEDOUT);
        corio_future_unref(f);
    }
}
END_TEST

/* CPython: test_future.FutureTests.test_exception_with_timeout */
START_TEST(test_exception_with_timeout) {
    static const int want[S_COUNT] = {[S_PENDING] = -ETIMEDOUT, [S_RUNNING] = -ETIMEDOUT,
                                      [S_CANCELLED] = -ECANCELED, [S_EXCEPTION] = -EIO,
                                      [S_SUCCESS] = 0};
    for (int s = 0; s < S_COUNT; s++) {
        corio_future *f = t_state_future(s);
        const char *msg = NULL;
        ck_assert_msg(corio_future_exception(f, 0, &msg) == want[s], "state %d", s);
        if (s == S_EXCEPTION)
            ck_assert_str_eq(msg, "an OSError");
        corio_future_unref(f);
    }
}
END_TEST

typedef struct t_setter {
    corio_future *f;
    int what; /* 0: set_result, 1: cancel, 2: set_exception */
} t_setter;

static void *t_setter_main(void *arg) {
    t_setter *s = arg;
    if (s->what == 0)
        corio_future_set_result(s->f, (void *)42, NULL);
    else if (s->what == 1)
        corio_future_cancel(s->f);
    else
        corio_future_set_exception(s->f, -EIO, "set from a thread");
    return NULL;
}

/* CPython: test_future.FutureTests.test_result_with_success */
START_TEST(test_result_with_success) {
    corio_future *f = t_state_future(S_PENDING);
    t_setter s = {f, 0};
    pthread_t th = t_start_thread(t_setter_main, &s);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, T_LONG, &v), 0);
    ck_assert_ptr_eq(v, (void *)42);
    pthread_join(th, NULL);
    corio_future_unref(f);
}
END_TEST

/* CPython: test_future.FutureTests.test_result_with_cancel */
START_TEST(test_result_with_cancel) {
    corio_future *f = t_state_future(S_PENDING);
    t_setter s = {f, 1};
    pthread_t th = t_start_thread(t_setter_main, &s);
    ck_assert_int_eq(corio_future_result(f, T_LONG, NULL), -ECANCELED);
    pthread_join(th, NULL);
    corio_future_unref(f);
}
END_TEST

/* CPython: test_future.FutureTests.test_exception_with_success (the failure
 * arrives from another thread while exception() waits) */
START_TEST(test_exception_with_success) {
    corio_future *f = t_state_future(S_PENDING);
    t_setter s = {f, 2};
    pthread_t th = t_start_thread(t_setter_main, &s);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, T_LONG, &msg), -EIO);
    ck_assert_str_eq(msg, "set from a thread");
    pthread_join(th, NULL);
    corio_future_unref(f);
}
END_TEST

/* CPython: test_future.FutureTests.test_done_callback_with_result */
START_TEST(test_done_callback_with_result) {
    corio_future *f = t_state_future(S_PENDING);
    t_seen s;
    t_seen_init(&s);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record, &s), 0);
    ck_assert_int_eq(atomic_load(&s.calls), 0);
    ck_assert_int_eq(corio_future_set_result(f, (void *)5, NULL), 0);
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    ck_assert_ptr_eq(s.f, f);
    ck_assert_int_eq(s.state, CORIO_FINISHED);
    ck_assert_ptr_eq(s.value, (void *)5);
    corio_future_unref(f);
    sem_destroy(&s.done);
}
END_TEST

/* CPython: test_future.FutureTests.test_done_callback_with_exception */
START_TEST(test_done_callback_with_exception) {
    corio_future *f = t_state_future(S_PENDING);
    t_seen s;
    t_seen_init(&s);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record, &s), 0);
    ck_assert_int_eq(corio_future_set_exception(f, -EINVAL, "test"), 0);
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    ck_assert_int_eq(s.code, -EINVAL);
    corio_future_unref(f);
    sem_destroy(&s.done);
}
END_TEST

/* CPython: test_future.FutureTests.test_done_callback_with_cancel */
START_TEST(test_done_callback_with_cancel) {
    corio_future *f = t_state_future(S_PENDING);
    t_seen s;
    t_seen_init(&s);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record, &s), 0);
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    ck_assert_int_eq(s.state, CORIO_CANCELLED);
    ck_assert_int_eq(s.code, -ECANCELED);
    /* A second cancel does not run the callback again. */
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    corio_future_unref(f);
    sem_destroy(&s.done);
}
END_TEST

/* CPython: test_future.FutureTests.test_done_callback_raises */
START_TEST(test_done_callback_raises) {
    corio_future *f = t_state_future(S_PENDING);
    atomic_int raised;
    atomic_init(&raised, 0);
    t_seen s;
    t_seen_init(&s);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_raise, &raised), 0);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record, &s), 0);
    ck_assert_int_eq(corio_future_set_result(f, (void *)5, NULL), 0);
    ck_assert_int_eq(atomic_load(&raised), 1);
    ck_assert_int_eq(atomic_load(&s.calls), 1); /* later callbacks still run */
    corio_future_unref(f);
    sem_destroy(&s.done);
}
END_TEST

/* CPython: test_future.FutureTests.test_done_callback_already_successful,
 * test_done_callback_already_failed, test_done_callback_already_cancelled */
START_TEST(test_done_callback_already_done) {
    for (int st = S_CANCELLED; st <= S_SUCCESS; st++) {
        corio_future *f = t_state_future(st);
        t_seen s;
        t_seen_init(&s);
        ck_assert_int_eq(corio_future_add_done_callback(f, t_record, &s), 0);
        /* Called at once, in the caller. */
        ck_assert_int_eq(atomic_load(&s.calls), 1);
        ck_assert(pthread_equal(s.thread, pthread_self()));
        ck_assert_int_eq(s.state, st == S_CANCELLED ? CORIO_CANCELLED : CORIO_FINISHED);
        ck_assert_int_eq(s.code, st == S_CANCELLED ? -ECANCELED : st == S_EXCEPTION ? -EIO : 0);
        if (st == S_SUCCESS)
            ck_assert_ptr_eq(s.value, (void *)42);
        corio_future_unref(f);
        sem_destroy(&s.done);
    }
}
END_TEST

/* CPython: test_future.FutureTests.test_done_callback_raises_already_succeeded */
START_TEST(test_done_callback_raises_already_succeeded) {
    corio_future *f = t_state_future(S_SUCCESS);
    atomic_int raised;
    atomic_init(&raised, 0);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_raise, &raised), 0);
    ck_assert_int_eq(atomic_load(&raised), 1);
    /* The future is untouched by its callback's failure. */
    ck_assert_int_eq(corio_future_result(f, 0, NULL), 0);
    corio_future_unref(f);
}
END_TEST

static atomic_int t_dtor_calls;
static void t_dtor(void *p) {
    (void)p;
    atomic_fetch_add(&t_dtor_calls, 1);
}

/* CPython: test_future.FutureTests.test_multiple_set_result and
 * test_multiple_set_exception (InvalidStateError) */
START_TEST(test_multiple_set) {
    for (int st = S_CANCELLED; st <= S_SUCCESS; st++) {
        corio_future *f = t_state_future(st);
        int code = corio_future_exception(f, 0, NULL);
        atomic_store(&t_dtor_calls, 0);
        ck_assert_int_eq(corio_future_set_result(f, (void *)7, t_dtor), CORIO_EINVALID_STATE);
        ck_assert_int_eq(corio_future_set_exception(f, -EDOM, "again"), CORIO_EINVALID_STATE);
        corio_value v = {(void *)8, 1, t_dtor};
        ck_assert_int_eq(corio_future_set_value(f, &v), CORIO_EINVALID_STATE);
        /* The first outcome stands and the refused values were not taken. */
        ck_assert_int_eq(corio_future_exception(f, 0, NULL), code);
        corio_future_unref(f);
        ck_assert_int_eq(atomic_load(&t_dtor_calls), 0);
    }
}
END_TEST

/* No dedicated CPython test: the contract of
 * Future.set_running_or_notify_cancel (Lib/concurrent/futures/_base.py):
 * True from PENDING, False from CANCELLED (waiters notified), an error from
 * RUNNING or FINISHED. */
START_TEST(test_set_running_or_notify_cancel) {
    corio_future *f = t_state_future(S_PENDING);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 1);
    ck_assert(corio_future_running(f));
    ck_assert(!corio_future_cancel(f));
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_set_result(f, NULL, NULL), 0);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    corio_future_unref(f);

    f = t_state_future(S_EXCEPTION);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    corio_future_unref(f);

    /* Cancelled: 0, the future stays cancelled, callbacks ran once. */
    f = t_state_future(S_PENDING);
    t_seen s;
    t_seen_init(&s);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record, &s), 0);
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 0);
    ck_assert(corio_future_cancelled(f));
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    /* A producer that was told "cancelled" must not be able to complete it. */
    ck_assert_int_eq(corio_future_set_result(f, NULL, NULL), CORIO_EINVALID_STATE);
    corio_future_unref(f);
    sem_destroy(&s.done);
}
END_TEST

/* ---- test_wait.WaitTests ----------------------------------------------------- */

/* True when the n-entry array a holds x. */
static bool t_has(corio_future *const *a, size_t n, const corio_future *x) {
    for (size_t i = 0; i < n; i++)
        if (a[i] == x)
            return true;
    return false;
}

typedef struct t_part {
    corio_future *done[16], *not_done[16];
    size_t nd, nn;
} t_part;

static int t_wait(corio_future *const *fs, size_t n, double timeout, corio_return_when rw,
                  t_part *p) {
    ck_assert_uint_le(n, 16);
    return corio_wait(fs, n, timeout, rw, p->done, &p->nd, p->not_done, &p->nn);
}

/* Tasks of the thread-pool cases (t_ctl, t_gated and t_inc: t_tasks.h). */
static int t_mul21(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg * 21);
    return 0;
}

/* Fails after the future in arg is done (CPython's sleep_and_raise, with the
 * sleep replaced by the ordering it stood for). */
static int t_raise_after(void *arg, corio_value *out) {
    (void)out;
    if (corio_future_result(arg, T_LONG, NULL) == -ETIMEDOUT)
        return corio_task_fail(-ETIMEDOUT, "the other future never finished");
    return corio_task_fail(-EIO, "this is an exception");
}

static corio_executor *t_tpool(int workers) {
    corio_thread_pool_options o = {.max_workers = workers};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    return ex;
}

static corio_future *t_sub(corio_executor *ex, corio_fn fn, void *arg) {
    int err = 0;
    corio_future *f = corio_executor_submit(ex, fn, arg, &err);
    ck_assert_msg(f != NULL, "submit: %s", corio_error_name(err));
    return f;
}

/* CPython: test_wait.WaitTests.test_first_completed. corio has no
 * CANCELLED-but-not-notified state, so a cancelled future is done at once;
 * the Python test's CANCELLED_FUTURE is left out of the set. */
START_TEST(test_wait_first_completed) {
    corio_executor *ex = t_tpool(2);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *f2 = t_sub(ex, t_gated, &c);
    corio_future *f1 = t_sub(ex, t_mul21, (void *)2);
    corio_future *fs[] = {f1, f2};
    t_part p;
    ck_assert_int_eq(t_wait(fs, 2, T_LONG, CORIO_FIRST_COMPLETED, &p), 0);
    ck_assert_uint_eq(p.nd, 1);
    ck_assert_ptr_eq(p.done[0], f1);
    ck_assert_uint_eq(p.nn, 1);
    ck_assert_ptr_eq(p.not_done[0], f2);
    t_gate_open(&c.gate, 1);
    ck_assert_int_eq(corio_future_result(f2, T_LONG, NULL), 0);
    corio_future_unref(f1);
    corio_future_unref(f2);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_wait.WaitTests.test_first_completed_some_already_completed */
START_TEST(test_wait_first_completed_some_already_completed) {
    corio_executor *ex = t_tpool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *cancelled = t_state_future(S_CANCELLED);
    corio_future *success = t_state_future(S_SUCCESS);
    corio_future *f1 = t_sub(ex, t_gated, &c);
    corio_future *fs[] = {cancelled, success, f1};
    t_part p;
    ck_assert_int_eq(t_wait(fs, 3, T_LONG, CORIO_FIRST_COMPLETED, &p), 0);
    ck_assert_uint_eq(p.nd, 2);
    ck_assert(t_has(p.done, p.nd, cancelled) && t_has(p.done, p.nd, success));
    ck_assert_uint_eq(p.nn, 1);
    ck_assert_ptr_eq(p.not_done[0], f1);
    t_gate_open(&c.gate, 1);
    corio_future_unref(f1);
    corio_future_unref(cancelled);
    corio_future_unref(success);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_wait.WaitTests.test_first_exception */
START_TEST(test_wait_first_exception) {
    corio_executor *ex = t_tpool(3);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *f3 = t_sub(ex, t_gated, &c);
    corio_future *f1 = t_sub(ex, t_mul21, (void *)2);
    corio_future *f2 = t_sub(ex, t_raise_after, f1);
    corio_future *fs[] = {f1, f2, f3};
    t_part p;
    ck_assert_int_eq(t_wait(fs, 3, T_LONG, CORIO_FIRST_EXCEPTION, &p), 0);
    ck_assert_uint_eq(p.nd, 2);
    ck_assert(t_has(p.done, p.nd, f1) && t_has(p.done, p.nd, f2));
    ck_assert_uint_eq(p.nn, 1);
    ck_assert_ptr_eq(p.not_done[0], f3);
    ck_assert_int_eq(corio_future_exception(f2, 0, NULL), -EIO);
    t_gate_open(&c.gate, 1);
    for (int i = 0; i < 3; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_wait.WaitTests.test_first_exception_some_already_complete
 * (CANCELLED and CANCELLED_AND_NOTIFIED are one state here: done) */
START_TEST(test_wait_first_exception_some_already_complete) {
    corio_executor *ex = t_tpool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *success = t_state_future(S_SUCCESS), *exc = t_state_future(S_EXCEPTION),
                 *cancelled = t_state_future(S_CANCELLED);
    corio_future *f1 = t_sub(ex, t_gated, &c);
    corio_future *fs[] = {success, exc, cancelled, f1};
    t_part p;
    double t0 = t_now();
    ck_assert_int_eq(t_wait(fs, 4, T_LONG, CORIO_FIRST_EXCEPTION, &p), 0);
    ck_assert(t_now() - t0 < T_LONG / 2); /* returned because of exc, not by timeout */
    ck_assert_uint_eq(p.nd, 3);
    ck_assert(t_has(p.done, 3, success) && t_has(p.done, 3, exc) && t_has(p.done, 3, cancelled));
    ck_assert_uint_eq(p.nn, 1);
    ck_assert_ptr_eq(p.not_done[0], f1);
    t_gate_open(&c.gate, 1);
    for (int i = 0; i < 4; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_wait.WaitTests.test_first_exception_one_already_failed */
START_TEST(test_wait_first_exception_one_already_failed) {
    corio_future *exc = t_state_future(S_EXCEPTION), *pending = t_state_future(S_PENDING);
    corio_future *fs[] = {exc, pending};
    t_part p;
    ck_assert_int_eq(t_wait(fs, 2, T_LONG, CORIO_FIRST_EXCEPTION, &p), 0);
    ck_assert(p.nd == 1 && p.done[0] == exc);
    ck_assert(p.nn == 1 && p.not_done[0] == pending);
    corio_future_unref(exc);
    corio_future_unref(pending);
}
END_TEST

/* No dedicated CPython test; _base.wait's FIRST_EXCEPTION rule ("any done
 * future that is not cancelled and has an exception"): cancelled futures
 * are not failures, so the wait goes on until everything is done. */
START_TEST(test_wait_first_exception_with_cancelled) {
    corio_future *cancelled = t_state_future(S_CANCELLED), *pending = t_state_future(S_PENDING);
    corio_future *fs[] = {cancelled, pending};
    t_part p;
    ck_assert_int_eq(t_wait(fs, 2, 0, CORIO_FIRST_EXCEPTION, &p), -ETIMEDOUT);
    ck_assert(p.nd == 1 && p.done[0] == cancelled);
    ck_assert(p.nn == 1 && p.not_done[0] == pending);
    ck_assert_int_eq(t_wait(fs, 2, 0.02, CORIO_FIRST_EXCEPTION, &p), -ETIMEDOUT);
    /* Cancelling the other one completes the wait (ALL_COMPLETED reached). */
    t_setter s = {pending, 1};
    pthread_t th = t_start_thread(t_setter_main, &s);
    ck_assert_int_eq(t_wait(fs, 2, T_LONG, CORIO_FIRST_EXCEPTION, &p), 0);
    ck_assert_uint_eq(p.nd, 2);
    ck_assert_uint_eq(p.nn, 0);
    pthread_join(th, NULL);
    corio_future_unref(cancelled);
    corio_future_unref(pending);
}
END_TEST

/* CPython: test_wait.WaitTests.test_all_completed */
START_TEST(test_wait_all_completed) {
    corio_executor *ex = t_tpool(2);
    corio_future *success = t_state_future(S_SUCCESS), *exc = t_state_future(S_EXCEPTION),
                 *cancelled = t_state_future(S_CANCELLED);
    corio_future *f1 = t_sub(ex, t_mul21, (void *)2), *f2 = t_sub(ex, t_mul21, (void *)3);
    corio_future *fs[] = {success, cancelled, exc, f1, f2};
    t_part p;
    ck_assert_int_eq(t_wait(fs, 5, T_LONG, CORIO_ALL_COMPLETED, &p), 0);
    ck_assert_uint_eq(p.nd, 5);
    ck_assert_uint_eq(p.nn, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_eq(p.done[i], fs[i]); /* input order */
    for (int i = 0; i < 5; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: test_wait.WaitTests.test_timeout */
START_TEST(test_wait_timeout) {
    corio_executor *ex = t_tpool(1);
    t_ctl c;
    t_ctl_init(&c);
    corio_future *cancelled = t_state_future(S_CANCELLED), *exc = t_state_future(S_EXCEPTION),
                 *success = t_state_future(S_SUCCESS);
    corio_future *blocked = t_sub(ex, t_gated, &c);
    corio_future *fs[] = {cancelled, exc, success, blocked};
    t_part p;
    double t0 = t_now();
    ck_assert_int_eq(t_wait(fs, 4, 0.1, CORIO_ALL_COMPLETED, &p), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.09);
    ck_assert_uint_eq(p.nd, 3);
    ck_assert(p.nn == 1 && p.not_done[0] == blocked);
    t_gate_open(&c.gate, 1);
    for (int i = 0; i < 4; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* CPython: test_wait.WaitTests.test_20369 (duplicates), plus the
 * zero-timeout poll on a mix of done and pending futures. */
START_TEST(test_wait_duplicates_and_zero_timeout) {
    corio_future *f = t_state_future(S_SUCCESS), *pend = t_state_future(S_PENDING);
    corio_future *dup[] = {f, f};
    t_part p;
    ck_assert_int_eq(t_wait(dup, 2, T_LONG, CORIO_ALL_COMPLETED, &p), 0);
    ck_assert(p.nd == 1 && p.done[0] == f && p.nn == 0);
    ck_assert_int_eq(t_wait(dup, 2, T_LONG, CORIO_FIRST_COMPLETED, &p), 0);
    ck_assert(p.nd == 1 && p.nn == 0);
    corio_future *mix[] = {pend, f, pend, f};
    for (int rw = CORIO_FIRST_COMPLETED; rw <= CORIO_ALL_COMPLETED; rw++) {
        int r = t_wait(mix, 4, 0, (corio_return_when)rw, &p);
        /* FIRST_COMPLETED is met by f; the others need pend. */
        ck_assert_int_eq(r, rw == CORIO_FIRST_COMPLETED ? 0 : -ETIMEDOUT);
        ck_assert(p.nd == 1 && p.done[0] == f);
        ck_assert(p.nn == 1 && p.not_done[0] == pend);
    }
    corio_future_unref(f);
    corio_future_unref(pend);
}
END_TEST

/* CPython: test_wait.WaitTests.test_pending_calls_race (completions racing
 * a waiter: the wait sees every one of them) */
START_TEST(test_wait_races_completions) {
    enum { N = 500 };
    corio_executor *ex = t_tpool(4);
    corio_future **fs = malloc(N * sizeof *fs), **done = malloc(N * sizeof *done);
    for (uintptr_t i = 0; i < N; i++)
        fs[i] = t_sub(ex, t_inc, (void *)i);
    size_t nd = 0, nn = 0;
    ck_assert_int_eq(corio_wait(fs, N, T_LONG, CORIO_ALL_COMPLETED, done, &nd, NULL, &nn), 0);
    ck_assert_uint_eq(nd, N);
    ck_assert_uint_eq(nn, 0);
    for (uintptr_t i = 0; i < N; i++) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], 0, &v), 0);
        ck_assert_ptr_eq(v, (void *)(i + 1));
        corio_future_unref(fs[i]);
    }
    free(fs);
    free(done);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- test_as_completed.AsCompletedTests -------------------------------------- */

/* CPython: test_as_completed.AsCompletedTests.test_no_timeout */
START_TEST(test_ac_no_timeout) {
    corio_executor *ex = t_tpool(2);
    corio_future *cancelled = t_state_future(S_CANCELLED), *exc = t_state_future(S_EXCEPTION),
                 *success = t_state_future(S_SUCCESS);
    corio_future *f1 = t_sub(ex, t_mul21, (void *)2), *f2 = t_sub(ex, t_mul21, (void *)3);
    corio_future *fs[] = {cancelled, exc, success, f1, f2};
    corio_as_completed *it = corio_as_completed_create(fs, 5, T_LONG);
    ck_assert_ptr_nonnull(it);
    corio_future *got[5], *g;
    int n = 0, r;
    while ((r = corio_as_completed_next(it, &g)) == 1) {
        ck_assert_int_lt(n, 5);
        got[n++] = g;
    }
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert(t_has(got, 5, fs[i]));
    corio_as_completed_destroy(it);
    for (int i = 0; i < 5; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: test_as_completed.AsCompletedTests.test_future_times_out (with a
 * zero timeout: the done ones come out, then the timeout) and
 * test_correct_timeout_exception_msg ("2 (of 4) futures unfinished") */
START_TEST(test_ac_zero_timeout) {
    corio_future *cancelled = t_state_future(S_CANCELLED), *exc = t_state_future(S_EXCEPTION),
                 *p1 = t_state_future(S_PENDING), *p2 = t_state_future(S_RUNNING);
    corio_future *fs[] = {p1, cancelled, p2, exc};
    corio_as_completed *it = corio_as_completed_create(fs, 4, 0);
    ck_assert_ptr_nonnull(it);
    corio_future *g;
    ck_assert_int_eq(corio_as_completed_next(it, &g), 1);
    ck_assert_ptr_eq(g, cancelled); /* already-done ones first, input order */
    ck_assert_int_eq(corio_as_completed_next(it, &g), 1);
    ck_assert_ptr_eq(g, exc);
    ck_assert_int_eq(corio_as_completed_next(it, &g), -ETIMEDOUT);
    size_t total = 0;
    ck_assert_uint_eq(corio_as_completed_pending(it, &total), 2);
    ck_assert_uint_eq(total, 4);
    corio_as_completed_destroy(it);
    for (int i = 0; i < 4; i++)
        corio_future_unref(fs[i]);
}
END_TEST

/* CPython: test_as_completed.AsCompletedTests.test_duplicate_futures */
START_TEST(test_ac_duplicate_futures) {
    corio_executor *ex = t_tpool(1);
    corio_future *f = t_sub(ex, t_mul21, (void *)2);
    corio_future *fs[] = {f, f, f};
    corio_as_completed *it = corio_as_completed_create(fs, 3, T_LONG);
    corio_future *g;
    ck_assert_int_eq(corio_as_completed_next(it, &g), 1);
    ck_assert_ptr_eq(g, f);
    ck_assert_int_eq(corio_as_completed_next(it, &g), 0);
    size_t total = 0;
    ck_assert_uint_eq(corio_as_completed_pending(it, &total), 0);
    ck_assert_uint_eq(total, 1);
    corio_as_completed_destroy(it);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- process pool jobs (they run in the workers) ----------------------------- */

/* Shared with workers: [0] a worker's pid, [1] release flag, [2] counter. */
static _Atomic int *t_shm;
static int t_init_value; /* set by t_pinit in workers only */
static _Thread_local int t_thread_init_value; /* set by t_tinit in thread workers */
static atomic_int t_tinit_calls;

static void t_setup(void) {
    t_shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(t_shm, MAP_FAILED);
}

static void t_teardown(void) { munmap((void *)t_shm, 4096); }

static void t_msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* In a worker: wait (bounded) until the test sets t_shm[1]. The worker polls;
 * the test never sleeps. */
static int t_wait_release(void *arg, corio_value *out) {
    atomic_store(&t_shm[0], getpid());
    for (int i = 0; i < 30000 && !atomic_load(&t_shm[1]); i++)
        t_msleep(1);
    out->ptr = arg;
    return 0;
}

static int t_fail_at_5(void *arg, corio_value *out) {
    uintptr_t v = (uintptr_t)arg;
    if (v == 5)
        return corio_task_fail(-EDOM, "division by zero at item %u", (unsigned)v);
    out->ptr = (void *)(v * 2);
    return 0;
}

/* Test's side: wait for a job to publish its pid (bounded poll of a shared
 * word, as nothing else can tell a process job's progress). */
static pid_t t_wait_pid(void) {
    for (int i = 0; i < 30000; i++) {
        int pid = atomic_load(&t_shm[0]);
        if (pid)
            return pid;
        t_msleep(1);
    }
    ck_abort_msg("the job never started");
    return 0;
}

static corio_executor *t_ppool(int workers) {
    corio_process_pool_options o = {.max_workers = workers};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    return ex;
}

static corio_executor *t_ppool_opts(const corio_process_pool_options *o) {
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(o, &ex), 0);
    return ex;
}

static void t_no_children(void) {
    errno = 0;
    pid_t r = waitpid(-1, NULL, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD, "a child remains (waitpid -> %d)", (int)r);
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

/* ---- test_deadlock.ExecutorDeadlockTest (process pool) ---------------------------- */

/* Both wait for the release flag first (t_wait_release), so that the test
 * has queued its next job before the pool breaks. */
static int t_crash_segv(void *arg, corio_value *out) {
    t_wait_release(arg, out);
    raise(SIGSEGV);
    return 0;
}

static int t_exit1(void *arg, corio_value *out) {
    t_wait_release(arg, out);
    _exit(1);
}

static int t_error(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return corio_task_fail(-ENOTSUP, "error during func exec");
}

static const char t_small[16] = "0123456789abcde";

/* A result too large to send (the "unpicklable result" of C). */
static int t_oversized_result(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)t_small;
    out->len = (size_t)CORIO__WIRE_MAX_PAYLOAD + 1;
    return 0;
}

/* A result whose bytes cannot be read: the worker crashes producing it. */
static void *t_noaccess; /* a PROT_NONE page, mapped before the pool */

static int t_unreadable_result(void *arg, corio_value *out) {
    out->ptr = t_noaccess;
    out->len = (size_t)(uintptr_t)arg;
    return 0;
}

/* The result's destructor exits the worker once the result is out. */
static void t_exit_dtor(void *p) {
    (void)p;
    _exit(2);
}

static int t_exit_in_result_dtor(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)t_small;
    out->len = sizeof t_small;
    out->dtor = t_exit_dtor;
    return 0;
}

static void t_expect_broken(corio_future *f, const char *want) {
    const char *msg = NULL;
    int r = corio_future_exception(f, T_LONG, &msg);
    ck_assert_msg(r == CORIO_EBROKEN_PROCESS_POOL, "got %s (%s)", corio_error_name(r),
                  msg ? msg : "");
    if (want)
        ck_assert_msg(strstr(msg, want), "message: %s", msg);
}

/* Submit fn on a fresh 1-worker pool with a job queued behind it; the
 * crash must fail both (pool broken), never hang. fn waits for the release
 * flag, set once `behind` is queued: a worker that picks the job up at once
 * (an idle worker polls for it) could otherwise break the pool before the
 * second submit, which would then be refused instead of queued. */
static void t_check_crash(corio_fn fn, void *arg, const char *want) {
    corio_executor *ex = t_ppool(1);
    corio_future *f = t_sub(ex, fn, arg);
    corio_future *behind = t_sub(ex, t_inc, NULL);
    atomic_store(&t_shm[1], 1);
    t_expect_broken(f, want);
    int r = corio_future_result(behind, T_LONG, NULL);
    ck_assert_int_eq(r, CORIO_EBROKEN_PROCESS_POOL);
    ck_assert(corio_executor_broken(ex));
    corio_future_unref(f);
    corio_future_unref(behind);
    corio_executor_destroy(ex);
    t_no_children();
}

/* CPython: test_deadlock.ExecutorDeadlockTest.test_crash_during_func_exec_on_worker */
START_TEST(test_crash_during_func_exec) {
    t_check_crash(t_crash_segv, NULL, "terminated abruptly");
}
END_TEST

/* CPython: test_deadlock.ExecutorDeadlockTest.test_exit_during_func_exec_on_worker */
START_TEST(test_exit_during_func_exec) {
    t_check_crash(t_exit1, NULL, "exited with status 1");
}
END_TEST

/* CPython: test_deadlock.ExecutorDeadlockTest.test_error_during_func_exec_on_worker */
START_TEST(test_error_during_func_exec) {
    corio_executor *ex = t_ppool(1);
    corio_future *f = t_sub(ex, t_error, NULL);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, T_LONG, &msg), -ENOTSUP);
    ck_assert_str_eq(msg, "error during func exec");
    ck_assert(!corio_executor_broken(ex));
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: test_deadlock.ExecutorDeadlockTest.test_error_at_task_pickle (an
 * argument that cannot be sent is refused at submit) */
START_TEST(test_error_at_task_send) {
    corio_executor *ex = t_ppool(1);
    int err = 0;
    char one = 1;
    ck_assert_ptr_null(corio_executor_submit_bytes(ex, t_inc, &one,
                                                   (size_t)CORIO__WIRE_MAX_PAYLOAD + 1, &err));
    ck_assert_int_eq(err, -EMSGSIZE);
    corio_future *f = t_sub(ex, t_inc, (void *)1); /* the pool is fine */
    ck_assert_int_eq(corio_future_result(f, T_LONG, NULL), 0);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: test_deadlock.ExecutorDeadlockTest.test_error_during_result_pickle_on_worker */
START_TEST(test_error_during_result_send) {
    corio_executor *ex = t_ppool(1);
    corio_future *f = t_sub(ex, t_oversized_result, NULL);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, T_LONG, &msg), -EMSGSIZE);
    ck_assert_ptr_nonnull(strstr(msg, "over the"));
    corio_future_unref(f);
    f = t_sub(ex, t_inc, (void *)1);
    ck_assert_int_eq(corio_future_result(f, T_LONG, NULL), 0);
    ck_assert(!corio_executor_broken(ex));
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* CPython: test_deadlock.ExecutorDeadlockTest.test_crash_during_result_pickle_on_worker
 * (small result: copied into the worker's output buffer; large: written
 * straight from the job's buffer) */
START_TEST(test_crash_during_result_send) {
    t_noaccess = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(t_noaccess, MAP_FAILED);
    size_t sizes[] = {100, 1 << 20};
    for (int k = 0; k < 2; k++) {
        corio_executor *ex = t_ppool(1);
        corio_future *f = t_sub(ex, t_unreadable_result, (void *)(uintptr_t)sizes[k]);
        int r = corio_future_exception(f, T_LONG, NULL);
        /* Either the worker died (broken) or its write failed cleanly. */
        ck_assert_msg(r == CORIO_EBROKEN_PROCESS_POOL || r == -EFAULT || r == CORIO_EPROTOCOL,
                      "size %zu: %s", sizes[k], corio_error_name(r));
        corio_future_unref(f);
        corio_executor_destroy(ex);
        t_no_children();
    }
    munmap(t_noaccess, 1 << 20);
}
END_TEST

/* CPython: test_deadlock.ExecutorDeadlockTest.test_exit_during_result_pickle_on_worker */
START_TEST(test_exit_during_result_send) {
    corio_executor *ex = t_ppool(1);
    corio_future *f = t_sub(ex, t_exit_in_result_dtor, NULL);
    corio_value v;
    int r = corio_future_result_value(f, T_LONG, &v);
    /* The result went out before the exit: it may arrive, or the exit may
     * be seen first; never a hang. */
    ck_assert_msg(r == 0 || r == CORIO_EBROKEN_PROCESS_POOL, "%s", corio_error_name(r));
    if (r == 0)
        ck_assert(v.len == sizeof t_small && memcmp(v.ptr, t_small, sizeof t_small) == 0);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* Write a valid header for a `len`-byte result to the parent, then half the
 * payload, publish the pid and wait to be killed. arg: the job's seq. */
static int t_half_result(void *arg, corio_value *out) {
    (void)out;
    size_t len = 8u << 20, half = len / 2;
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_ONE,
                        .seq = (uint32_t)(uintptr_t)arg, .len = len};
    unsigned char *buf = calloc(1, half);
    if (write(corio__pp_worker_fd, &h, sizeof h) != (ssize_t)sizeof h)
        _exit(9);
    for (size_t off = 0; off < half;) {
        ssize_t n = write(corio__pp_worker_fd, buf + off, half - off);
        if (n <= 0)
            _exit(9);
        off += (size_t)n;
    }
    atomic_store(&t_shm[0], getpid());
    sleep(30);
    free(buf);
    _exit(8);
}

/* CPython: test_deadlock.ExecutorDeadlockTest
 * .test_error_during_result_unpickle_in_result_handler and
 * .test_exit_during_result_unpickle_in_result_handler: the worker dies while
 * the parent is in the middle of reading a large result. */
START_TEST(test_crash_while_parent_reads_result) {
    corio_executor *ex = t_ppool(1);
    corio_future *f = t_sub(ex, t_half_result, (void *)0); /* first job: seq 0 */
    pid_t pid = t_wait_pid();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    const char *msg = NULL;
    int r = corio_future_exception(f, T_LONG, &msg);
    ck_assert_msg(r == CORIO_EBROKEN_PROCESS_POOL || r == CORIO_EPROTOCOL, "%s: %s",
                  corio_error_name(r), msg ? msg : "");
    if (r == CORIO_EPROTOCOL) /* the header was accepted: the body was cut */
        ck_assert_msg(strstr(msg, "before end of stream"), "message: %s", msg);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* Returns a 32 MiB result, publishing its pid just before. */
static int t_big_result(void *arg, corio_value *out) {
    (void)arg;
    size_t len = 32u << 20;
    unsigned char *p = malloc(len);
    memset(p, 0x5a, len);
    atomic_store(&t_shm[0], getpid());
    *out = (corio_value){p, len, free};
    return 0;
}

/* Same, with the kill landing wherever the worker is in sending a real
 * 32 MiB result (often in the middle of the write). */
START_TEST(test_kill_while_sending_big_result) {
    corio_executor *ex = t_ppool(1);
    corio_future *f = t_sub(ex, t_big_result, NULL);
    pid_t pid = t_wait_pid();
    kill(pid, SIGKILL); /* may already be done and exited? no: workers stay */
    corio_value v;
    int r = corio_future_result_value(f, T_LONG, &v);
    ck_assert_msg(r == 0 || r == CORIO_EBROKEN_PROCESS_POOL || r == CORIO_EPROTOCOL, "%s",
                  corio_error_name(r));
    if (r == 0)
        ck_assert_uint_eq(v.len, 32u << 20);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

static int t_crash_with_data(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    raise(SIGKILL);
    return 0;
}

/* CPython: test_deadlock.ExecutorDeadlockTest.test_crash_big_data */
START_TEST(test_crash_big_data) {
    corio_executor *ex = t_ppool(2);
    size_t n = 16u << 20;
    unsigned char *data = calloc(1, n);
    corio_future *fs[4];
    for (int i = 0; i < 4; i++) {
        /* Once the first crash is seen, submits are refused. */
        int err = 0;
        fs[i] = corio_executor_submit_bytes(ex, t_crash_with_data, data, n, &err);
        ck_assert(fs[i] || err == CORIO_EBROKEN_PROCESS_POOL);
    }
    ck_assert_ptr_nonnull(fs[0]);
    free(data);
    for (int i = 0; i < 4; i++) {
        if (fs[i])
            t_expect_broken(fs[i], NULL);
        corio_future_unref(fs[i]);
    }
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

static int t_crash_when_released(void *arg, corio_value *out) {
    t_wait_release(arg, out);
    raise(SIGKILL);
    return 0;
}

/* CPython: test_deadlock.ExecutorDeadlockTest.test_shutdown_deadlock (a
 * worker crashes after shutdown was called) */
START_TEST(test_shutdown_deadlock) {
    corio_executor *ex = t_ppool(2);
    corio_future *f = t_sub(ex, t_crash_when_released, NULL);
    t_wait_pid();
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0);
    atomic_store(&t_shm[1], 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    t_expect_broken(f, "terminated abruptly");
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* CPython: test_process_pool.ProcessPoolExecutorTest.test_killed_child */
START_TEST(test_killed_child) {
    corio_executor *ex = t_ppool(2);
    corio_future *f = t_sub(ex, t_wait_release, NULL);
    pid_t pid = t_wait_pid();
    corio_future *more[10];
    for (int i = 0; i < 10; i++)
        more[i] = t_sub(ex, t_wait_release, NULL);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    t_expect_broken(f, "killed by signal 9");
    for (int i = 0; i < 10; i++) {
        int r = corio_future_result(more[i], T_LONG, NULL);
        ck_assert(r == 0 || r == CORIO_EBROKEN_PROCESS_POOL);
        corio_future_unref(more[i]);
    }
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_PROCESS_POOL);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* CPython: test_process_pool.ProcessPoolExecutorTest.test_max_tasks_early_shutdown */
START_TEST(test_max_tasks_early_shutdown) {
    corio_process_pool_options o = {.max_workers = 3, .max_tasks_per_child = 1};
    corio_executor *ex = t_ppool_opts(&o);
    corio_future *fs[6];
    for (uintptr_t i = 0; i < 6; i++)
        fs[i] = t_sub(ex, t_mul21, (void *)i);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    for (uintptr_t i = 0; i < 6; i++) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], 0, &v), 0);
        ck_assert_ptr_eq(v, (void *)(i * 21));
        corio_future_unref(fs[i]);
    }
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

int main(void) {
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("future");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_state_queries);
    tcase_add_test(tc, test_cancel_per_state);
    tcase_add_test(tc, test_result_with_timeout);
    tcase_add_test(tc, test_exception_with_timeout);
    tcase_add_test(tc, test_result_with_success);
    tcase_add_test(tc, test_result_with_cancel);
    tcase_add_test(tc, test_exception_with_success);
    tcase_add_test(tc, test_done_callback_with_result);
    tcase_add_test(tc, test_done_callback_with_exception);
    tcase_add_test(tc, test_done_callback_with_cancel);
    tcase_add_test(tc, test_done_callback_raises);
    tcase_add_test(tc, test_done_callback_already_done);
    tcase_add_test(tc, test_done_callback_raises_already_succeeded);
    tcase_add_test(tc, test_multiple_set);
    tcase_add_test(tc, test_set_running_or_notify_cancel);
    suite_add_tcase(s, tc);

    tc = tcase_create("wait");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wait_first_completed);
    tcase_add_test(tc, test_wait_first_completed_some_already_completed);
    tcase_add_test(tc, test_wait_first_exception);
    tcase_add_test(tc, test_wait_first_exception_some_already_complete);
    tcase_add_test(tc, test_wait_first_exception_one_already_failed);
    tcase_add_test(tc, test_wait_first_exception_with_cancelled);
    tcase_add_test(tc, test_wait_all_completed);
    tcase_add_test(tc, test_wait_timeout);
    tcase_add_test(tc, test_wait_duplicates_and_zero_timeout);
    tcase_add_test(tc, test_wait_races_completions);
    tcase_add_test(tc, test_ac_no_timeout);
    tcase_add_test(tc, test_ac_zero_timeout);
    tcase_add_test(tc, test_ac_duplicate_futures);
    suite_add_tcase(s, tc);

    tc = tcase_create("executor");
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

    tc = tcase_create("deadlock");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_crash_during_func_exec);
    tcase_add_test(tc, test_exit_during_func_exec);
    tcase_add_test(tc, test_error_during_func_exec);
    tcase_add_test(tc, test_error_at_task_send);
    tcase_add_test(tc, test_error_during_result_send);
    tcase_add_test(tc, test_crash_during_result_send);
    tcase_add_test(tc, test_exit_during_result_send);
    tcase_add_test(tc, test_crash_while_parent_reads_result);
    tcase_add_test(tc, test_kill_while_sending_big_result);
    tcase_add_test(tc, test_crash_big_data);
    tcase_add_test(tc, test_shutdown_deadlock);
    tcase_add_test(tc, test_killed_child);
    tcase_add_test(tc, test_max_tasks_early_shutdown);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
