/* Tests for corio_wait and corio_as_completed, against future.h and CPython's
 * concurrent.futures.wait / as_completed (Lib/test/test_concurrent_futures/
 * test_wait.py, test_as_completed.py). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

static corio_future *t_new(void) {
    corio_future *f = corio_future_create();
    ck_assert_ptr_nonnull(f);
    return f;
}
static corio_future *t_done_ok(void) {
    corio_future *f = t_new();
    corio_future_set_result(f, NULL, NULL);
    return f;
}
static corio_future *t_done_fail(void) {
    corio_future *f = t_new();
    corio_future_set_exception(f, -EIO, "failed");
    return f;
}
static corio_future *t_done_cancelled(void) {
    corio_future *f = t_new();
    corio_future_cancel(f);
    return f;
}
static void t_unref_all(corio_future **fs, size_t n) {
    for (size_t i = 0; i < n; i++)
        corio_future_unref(fs[i]);
}

/* A thread that completes futures in the given order once its gate opens. */
typedef struct t_finisher {
    corio_future **fs; /* futures to complete, in order */
    size_t n;
    int how;           /* 0 result, 1 exception, 2 cancel */
    sem_t *go;         /* gate, or NULL */
} t_finisher;

static void *t_finish_thread(void *arg) {
    t_finisher *t = arg;
    if (t->go)
        t_gate_pass(t->go);
    for (size_t i = 0; i < t->n; i++) {
        if (t->how == 0)
            corio_future_set_result(t->fs[i], (void *)(uintptr_t)(i + 1), NULL);
        else if (t->how == 1)
            corio_future_set_exception(t->fs[i], -EIO, "fail %zu", i);
        else
            corio_future_cancel(t->fs[i]);
    }
    return NULL;
}

/* ---- wait: arguments ------------------------------------------------------- */

START_TEST(test_wait_empty) {
    size_t nd = 99, nn = 99;
    ck_assert_int_eq(corio_wait(NULL, 0, CORIO_FOREVER, CORIO_ALL_COMPLETED, NULL, &nd, NULL, &nn), 0);
    ck_assert_uint_eq(nd, 0);
    ck_assert_uint_eq(nn, 0);
    ck_assert_int_eq(corio_wait(NULL, 0, 0, CORIO_FIRST_COMPLETED, NULL, &nd, NULL, &nn), 0);
    ck_assert_int_eq(corio_wait(NULL, 0, 0, CORIO_FIRST_EXCEPTION, NULL, &nd, NULL, &nn), 0);
}
END_TEST

START_TEST(test_wait_bad_arguments) {
    corio_future *a = t_new();
    corio_future *fs[3] = {a, NULL, a};
    corio_future *done[3], *nd[3];
    size_t n1, n2;
    ck_assert_int_eq(corio_wait(NULL, 2, 0, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), -EINVAL);
    ck_assert_int_eq(corio_wait(fs, 3, 0, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), -EINVAL);
    ck_assert_int_eq(corio_wait(fs, 1, 0, (corio_return_when)7, done, &n1, nd, &n2), -EINVAL);
    ck_assert_int_eq(corio_wait(fs, 1, 0, (corio_return_when)-1, done, &n1, nd, &n2), -EINVAL);
    /* Many entries (heap path) with a NULL at the end. */
    corio_future *big[40];
    for (int i = 0; i < 40; i++)
        big[i] = a;
    big[39] = NULL;
    ck_assert_int_eq(corio_wait(big, 40, CORIO_FOREVER, CORIO_ALL_COMPLETED, NULL, NULL, NULL, NULL),
                     -EINVAL);
    corio_future_unref(a);
}
END_TEST

/* ---- wait: conditions -------------------------------------------------------- */

START_TEST(test_wait_already_done) {
    corio_future *fs[4] = {t_new(), t_done_ok(), t_new(), t_done_fail()};
    corio_future *done[4], *nd[4];
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(corio_wait(fs, 4, CORIO_FOREVER, CORIO_FIRST_COMPLETED, done, &n1, nd, &n2), 0);
    ck_assert_uint_eq(n1, 2);
    ck_assert_uint_eq(n2, 2);
    ck_assert_ptr_eq(done[0], fs[1]);
    ck_assert_ptr_eq(done[1], fs[3]);
    ck_assert_ptr_eq(nd[0], fs[0]);
    ck_assert_ptr_eq(nd[1], fs[2]);
    ck_assert_int_eq(corio_wait(fs, 4, CORIO_FOREVER, CORIO_FIRST_EXCEPTION, done, &n1, nd, &n2), 0);
    ck_assert_uint_eq(n1, 2);
    corio_future_set_result(fs[0], NULL, NULL);
    corio_future_cancel(fs[2]);
    ck_assert_int_eq(corio_wait(fs, 4, CORIO_FOREVER, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), 0);
    ck_assert_uint_eq(n1, 4);
    ck_assert_uint_eq(n2, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_eq(done[i], fs[i]);
    t_unref_all(fs, 4);
}
END_TEST

START_TEST(test_wait_timeout_partitions) {
    corio_future *fs[5] = {t_new(), t_done_ok(), t_new(), t_done_cancelled(), t_new()};
    corio_future *done[5], *nd[5];
    size_t n1 = 0, n2 = 0;
    for (int rw = CORIO_FIRST_EXCEPTION; rw <= CORIO_ALL_COMPLETED; rw++) {
        double t0 = t_now();
        ck_assert_int_eq(corio_wait(fs, 5, 0.1, (corio_return_when)rw, done, &n1, nd, &n2), -ETIMEDOUT);
        double el = t_now() - t0;
        ck_assert(el >= 0.09 && el < 10.0);
        ck_assert_uint_eq(n1, 2);
        ck_assert_uint_eq(n2, 3);
        ck_assert_ptr_eq(done[0], fs[1]);
        ck_assert_ptr_eq(done[1], fs[3]);
        ck_assert_ptr_eq(nd[0], fs[0]);
        ck_assert_ptr_eq(nd[1], fs[2]);
        ck_assert_ptr_eq(nd[2], fs[4]);
    }
    /* Poll: returns at once. */
    ck_assert_int_eq(corio_wait(fs, 5, 0, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), -ETIMEDOUT);
    corio_future *pending[2] = {fs[0], fs[2]};
    ck_assert_int_eq(corio_wait(pending, 2, 0, CORIO_FIRST_COMPLETED, done, &n1, nd, &n2), -ETIMEDOUT);
    ck_assert_uint_eq(n1, 0);
    ck_assert_uint_eq(n2, 2);
    /* The waiters of the timed-out calls are gone: completing now must not
     * touch them (ASan reports a stack-use-after-return otherwise). */
    corio_future_set_result(fs[0], NULL, NULL);
    corio_future_set_result(fs[2], NULL, NULL);
    corio_future_cancel(fs[4]);
    t_unref_all(fs, 5);
}
END_TEST

START_TEST(test_wait_null_outputs) {
    corio_future *fs[2] = {t_done_ok(), t_new()};
    ck_assert_int_eq(corio_wait(fs, 2, 0, CORIO_FIRST_COMPLETED, NULL, NULL, NULL, NULL), 0);
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(corio_wait(fs, 2, 0, CORIO_ALL_COMPLETED, NULL, &n1, NULL, &n2), -ETIMEDOUT);
    ck_assert_uint_eq(n1, 1);
    ck_assert_uint_eq(n2, 1);
    t_unref_all(fs, 2);
}
END_TEST

START_TEST(test_wait_first_completed_blocks) {
    corio_future *fs[3] = {t_new(), t_new(), t_new()};
    sem_t go;
    t_gate_init(&go);
    t_finisher fin = {&fs[1], 1, 0, &go};
    pthread_t th;
    pthread_create(&th, NULL, t_finish_thread, &fin);
    t_gate_open(&go, 1);
    corio_future *done[3], *nd[3];
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(corio_wait(fs, 3, 60.0, CORIO_FIRST_COMPLETED, done, &n1, nd, &n2), 0);
    pthread_join(th, NULL);
    ck_assert_uint_eq(n1, 1);
    ck_assert_ptr_eq(done[0], fs[1]);
    ck_assert_uint_eq(n2, 2);
    ck_assert_ptr_eq(nd[0], fs[0]);
    ck_assert_ptr_eq(nd[1], fs[2]);
    /* Completing the others after wait returned must not touch its waiters. */
    corio_future_set_result(fs[0], NULL, NULL);
    corio_future_set_exception(fs[2], -EIO, NULL);
    sem_destroy(&go);
    t_unref_all(fs, 3);
}
END_TEST

START_TEST(test_wait_first_exception) {
    corio_future *fs[4] = {t_new(), t_new(), t_new(), t_new()};
    corio_future *done[4], *nd[4];
    size_t n1 = 0, n2 = 0;
    /* Successes and cancellations do not satisfy FIRST_EXCEPTION. */
    corio_future_set_result(fs[0], NULL, NULL);
    corio_future_cancel(fs[1]);
    ck_assert_int_eq(corio_wait(fs, 4, 0.05, CORIO_FIRST_EXCEPTION, done, &n1, nd, &n2), -ETIMEDOUT);
    ck_assert_uint_eq(n1, 2);
    ck_assert_uint_eq(n2, 2);
    /* A failure from another thread while blocked ends the wait. */
    sem_t go;
    t_gate_init(&go);
    t_finisher fin = {&fs[3], 1, 1, &go};
    pthread_t th;
    pthread_create(&th, NULL, t_finish_thread, &fin);
    t_gate_open(&go, 1);
    ck_assert_int_eq(corio_wait(fs, 4, 60.0, CORIO_FIRST_EXCEPTION, done, &n1, nd, &n2), 0);
    pthread_join(th, NULL);
    ck_assert_uint_eq(n1, 3);
    ck_assert_uint_eq(n2, 1);
    ck_assert_ptr_eq(nd[0], fs[2]);
    ck_assert_ptr_eq(done[2], fs[3]);
    corio_future_set_result(fs[2], NULL, NULL);
    sem_destroy(&go);
    t_unref_all(fs, 4);
}
END_TEST

START_TEST(test_wait_first_exception_without_failure_is_all_completed) {
    enum { N = 6 };
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_new();
    sem_t go;
    t_gate_init(&go);
    /* Half succeed, half are cancelled: FIRST_EXCEPTION returns when all
     * are done, like ALL_COMPLETED. */
    t_finisher a = {fs, N / 2, 0, &go}, b = {fs + N / 2, N / 2, 2, &go};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, t_finish_thread, &a);
    pthread_create(&tb, NULL, t_finish_thread, &b);
    t_gate_open(&go, 2);
    corio_future *done[N];
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(corio_wait(fs, N, 60.0, CORIO_FIRST_EXCEPTION, done, &n1, NULL, &n2), 0);
    ck_assert_uint_eq(n1, N);
    ck_assert_uint_eq(n2, 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    sem_destroy(&go);
    t_unref_all(fs, N);
}
END_TEST

START_TEST(test_wait_duplicates_count_once) {
    corio_future *a = t_new(), *b = t_new();
    corio_future *fs[5] = {a, b, a, a, b};
    corio_future *done[5], *nd[5];
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(corio_wait(fs, 5, 0, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), -ETIMEDOUT);
    ck_assert_uint_eq(n1, 0);
    ck_assert_uint_eq(n2, 2);
    ck_assert_ptr_eq(nd[0], a);
    ck_assert_ptr_eq(nd[1], b);
    corio_future_set_result(a, NULL, NULL);
    ck_assert_int_eq(corio_wait(fs, 5, 0.05, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), -ETIMEDOUT);
    ck_assert_uint_eq(n1, 1);
    ck_assert_uint_eq(n2, 1);
    ck_assert_ptr_eq(done[0], a);
    ck_assert_ptr_eq(nd[0], b);
    /* ALL_COMPLETED over duplicates returns once each distinct one is done
     * (a waiter registered twice on b would count b twice). */
    sem_t go;
    t_gate_init(&go);
    t_finisher fin = {&b, 1, 0, &go};
    pthread_t th;
    pthread_create(&th, NULL, t_finish_thread, &fin);
    t_gate_open(&go, 1);
    ck_assert_int_eq(corio_wait(fs, 5, 60.0, CORIO_ALL_COMPLETED, done, &n1, nd, &n2), 0);
    ck_assert_uint_eq(n1, 2);
    ck_assert_uint_eq(n2, 0);
    pthread_join(th, NULL);
    sem_destroy(&go);
    corio_future_unref(a);
    corio_future_unref(b);
}
END_TEST

START_TEST(test_wait_many_all_completed) {
    enum { N = 200 }; /* more than the on-stack arrays */
    corio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = t_new();
    /* Two threads complete interleaved halves in opposite orders. */
    corio_future *even[N / 2], *odd[N / 2];
    for (int i = 0; i < N / 2; i++) {
        even[i] = fs[2 * i];
        odd[i] = fs[N - 1 - 2 * i];
    }
    sem_t go;
    t_gate_init(&go);
    t_finisher a = {even, N / 2, 0, &go}, b = {odd, N / 2, 1, &go};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, t_finish_thread, &a);
    pthread_create(&tb, NULL, t_finish_thread, &b);
    t_gate_open(&go, 2);
    corio_future **done = malloc(N * sizeof *done);
    size_t n1 = 0, n2 = 0;
    ck_assert_int_eq(corio_wait(fs, N, CORIO_FOREVER, CORIO_ALL_COMPLETED, done, &n1, NULL, &n2), 0);
    ck_assert_uint_eq(n1, N);
    ck_assert_uint_eq(n2, 0);
    for (int i = 0; i < N; i++)
        ck_assert_ptr_eq(done[i], fs[i]);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    free(done);
    sem_destroy(&go);
    t_unref_all(fs, N);
}
END_TEST

/* Regression: a future that completed between wait()'s first scan of the
 * futures and its waiter registrations was neither counted nor registered,
 * so ALL_COMPLETED waited for the full timeout (forever with CORIO_FOREVER)
 * although every future was done. A spinning thread completes the futures in
 * reverse order shortly after wait() starts (the delay sweeps over rounds),
 * which lands completions in that window often. */
typedef struct t_spin_finisher {
    corio_future **fs;
    size_t n;
    atomic_int *go;
    int delay; /* busy-wait iterations after the go, to sweep the window */
} t_spin_finisher;

static void *t_spin_finish_thread(void *arg) {
    t_spin_finisher *t = arg;
    while (!atomic_load_explicit(t->go, memory_order_acquire)) {
    }
    for (volatile int i = 0; i < t->delay; i++) {
    }
    for (size_t i = t->n; i-- > 0;)
        corio_future_set_result(t->fs[i], NULL, NULL);
    return NULL;
}

START_TEST(test_wait_regression_done_between_scan_and_register) {
    enum { N = 12 };
    int rounds = (int)t_scale(3000, 100);
    for (int round = 0; round < rounds; round++) {
        corio_future *fs[N];
        for (int i = 0; i < N; i++)
            fs[i] = t_new();
        atomic_int go = 0;
        t_spin_finisher fin = {fs, N, &go, (round * 7) % 400};
        pthread_t th;
        pthread_create(&th, NULL, t_spin_finish_thread, &fin);
        double t0 = t_now();
        size_t n1 = 0;
        atomic_store_explicit(&go, 1, memory_order_release);
        int r = corio_wait(fs, N, 5.0, CORIO_ALL_COMPLETED, NULL, &n1, NULL, NULL);
        double el = t_now() - t0;
        pthread_join(th, NULL);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(n1, N);
        ck_assert_msg(el < 4.0, "round %d: wait took %.1f s for futures that were done", round, el);
        t_unref_all(fs, N);
    }
}
END_TEST

/* ---- as_completed ------------------------------------------------------------ */

START_TEST(test_ac_done_first_then_completion_order) {
    corio_future *fs[5] = {t_new(), t_new(), t_new(), t_new(), t_new()};
    /* Done before the call, out of input order: yielded in input order. */
    corio_future_set_result(fs[3], NULL, NULL);
    corio_future_cancel(fs[1]);
    corio_as_completed *it = corio_as_completed_create(fs, 5, CORIO_FOREVER);
    ck_assert_ptr_nonnull(it);
    size_t total = 0;
    ck_assert_uint_eq(corio_as_completed_pending(it, &total), 5);
    ck_assert_uint_eq(total, 5);
    /* Then in completion order. */
    corio_future_set_exception(fs[4], -EIO, NULL);
    corio_future_set_result(fs[0], NULL, NULL);
    corio_future_set_result(fs[2], NULL, NULL);
    corio_future *want[5] = {fs[1], fs[3], fs[4], fs[0], fs[2]};
    for (int i = 0; i < 5; i++) {
        corio_future *f = NULL;
        ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
        ck_assert_ptr_eq(f, want[i]);
        ck_assert_uint_eq(corio_as_completed_pending(it, NULL), (size_t)(4 - i));
    }
    corio_future *f = NULL;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 0);
    ck_assert_int_eq(corio_as_completed_next(it, &f), 0);
    corio_as_completed_destroy(it);
    t_unref_all(fs, 5);
}
END_TEST

START_TEST(test_ac_blocks_until_completion) {
    corio_future *fs[3] = {t_new(), t_new(), t_new()};
    corio_as_completed *it = corio_as_completed_create(fs, 3, 60.0);
    ck_assert_ptr_nonnull(it);
    sem_t go;
    t_gate_init(&go);
    corio_future *order[3] = {fs[2], fs[0], fs[1]};
    for (int i = 0; i < 3; i++) {
        t_finisher fin = {&order[i], 1, i == 1 ? 1 : 0, &go};
        pthread_t th;
        pthread_create(&th, NULL, t_finish_thread, &fin);
        t_gate_open(&go, 1);
        corio_future *f = NULL;
        ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
        ck_assert_ptr_eq(f, order[i]);
        pthread_join(th, NULL);
    }
    corio_future *f;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 0);
    corio_as_completed_destroy(it);
    sem_destroy(&go);
    t_unref_all(fs, 3);
}
END_TEST

START_TEST(test_ac_duplicates_once) {
    corio_future *a = t_done_ok(), *b = t_new();
    corio_future *fs[5] = {a, b, a, b, b};
    corio_as_completed *it = corio_as_completed_create(fs, 5, CORIO_FOREVER);
    ck_assert_ptr_nonnull(it);
    size_t total = 0;
    ck_assert_uint_eq(corio_as_completed_pending(it, &total), 2);
    ck_assert_uint_eq(total, 2);
    corio_future *f = NULL;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
    ck_assert_ptr_eq(f, a);
    corio_future_set_result(b, NULL, NULL);
    ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
    ck_assert_ptr_eq(f, b);
    ck_assert_int_eq(corio_as_completed_next(it, &f), 0);
    corio_as_completed_destroy(it);
    corio_future_unref(a);
    corio_future_unref(b);
}
END_TEST

START_TEST(test_ac_timeout) {
    corio_future *fs[4] = {t_new(), t_done_ok(), t_new(), t_new()};
    double t0 = t_now();
    corio_as_completed *it = corio_as_completed_create(fs, 4, 0.1);
    ck_assert_ptr_nonnull(it);
    corio_future *f = NULL;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
    ck_assert_ptr_eq(f, fs[1]);
    ck_assert_int_eq(corio_as_completed_next(it, &f), -ETIMEDOUT);
    double el = t_now() - t0;
    ck_assert(el >= 0.09 && el < 10.0);
    size_t total = 0;
    size_t left = corio_as_completed_pending(it, &total);
    char msg[64];
    snprintf(msg, sizeof msg, "%zu (of %zu) futures unfinished", left, total);
    ck_assert_str_eq(msg, "3 (of 4) futures unfinished");
    /* Still timed out (the timeout counts from the create call)... */
    ck_assert_int_eq(corio_as_completed_next(it, &f), -ETIMEDOUT);
    corio_as_completed_destroy(it);
    /* Completing after destroy must not reach the iterator. */
    corio_future_set_result(fs[0], NULL, NULL);
    corio_future_set_result(fs[2], NULL, NULL);
    corio_future_cancel(fs[3]);
    t_unref_all(fs, 4);
}
END_TEST

START_TEST(test_ac_zero_timeout_polls) {
    corio_future *fs[2] = {t_new(), t_done_fail()};
    corio_as_completed *it = NULL;
    ck_assert_int_eq(corio_as_completed_create2(fs, 2, 0, &it), 0);
    corio_future *f = NULL;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
    ck_assert_ptr_eq(f, fs[1]);
    ck_assert_int_eq(corio_as_completed_next(it, &f), -ETIMEDOUT);
    corio_as_completed_destroy(it);
    corio_future_cancel(fs[0]);
    t_unref_all(fs, 2);
}
END_TEST

START_TEST(test_ac_destroy_before_exhausting) {
    corio_future *fs[20];
    for (int i = 0; i < 20; i++)
        fs[i] = i % 5 ? t_new() : t_done_ok();
    corio_as_completed *it = corio_as_completed_create(fs, 20, CORIO_FOREVER);
    ck_assert_ptr_nonnull(it);
    corio_future *f = NULL;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
    corio_as_completed_destroy(it);
    for (int i = 0; i < 20; i++) {
        if (!corio_future_done(fs[i]))
            corio_future_set_result(fs[i], NULL, NULL);
    }
    t_unref_all(fs, 20);
}
END_TEST

START_TEST(test_ac_holds_references) {
    corio_future *a = t_done_ok();
    corio_future *fs[1] = {a};
    corio_as_completed *it = corio_as_completed_create(fs, 1, CORIO_FOREVER);
    ck_assert_ptr_nonnull(it);
    corio_future_unref(a); /* the iterator's reference keeps it alive */
    corio_future *f = NULL;
    ck_assert_int_eq(corio_as_completed_next(it, &f), 1);
    ck_assert_ptr_eq(f, a);
    ck_assert(corio_future_done(f));
    corio_as_completed_destroy(it);
}
END_TEST

START_TEST(test_ac_bad_arguments) {
    corio_future *a = t_new();
    corio_future *fs[2] = {a, NULL};
    corio_as_completed *it = (corio_as_completed *)0x1;
    ck_assert_ptr_null(corio_as_completed_create(fs, 2, CORIO_FOREVER));
    ck_assert_int_eq(corio_as_completed_create2(fs, 2, CORIO_FOREVER, &it), -EINVAL);
    ck_assert_ptr_null(it);
    ck_assert_int_eq(corio_as_completed_create2(NULL, 1, CORIO_FOREVER, &it), -EINVAL);
    ck_assert_int_eq(corio_as_completed_create2(fs, 1, CORIO_FOREVER, NULL), -EINVAL);
    corio_future *f;
    ck_assert_int_eq(corio_as_completed_next(NULL, &f), -EINVAL);
    size_t total = 9;
    ck_assert_uint_eq(corio_as_completed_pending(NULL, &total), 0);
    ck_assert_uint_eq(total, 0);
    corio_as_completed_destroy(NULL);
    /* n = 0: an empty iteration. */
    ck_assert_int_eq(corio_as_completed_create2(NULL, 0, CORIO_FOREVER, &it), 0);
    ck_assert_int_eq(corio_as_completed_next(it, &f), 0);
    ck_assert_int_eq(corio_as_completed_next(it, NULL), -EINVAL);
    corio_as_completed_destroy(it);
    corio_future_unref(a);
}
END_TEST

START_TEST(test_ac_stress_each_once) {
    size_t n = t_scale(4000, 200);
    corio_future **fs = malloc(n * sizeof *fs);
    for (size_t i = 0; i < n; i++)
        fs[i] = t_new();
    corio_as_completed *it = corio_as_completed_create(fs, n, CORIO_FOREVER);
    ck_assert_ptr_nonnull(it);
    /* Four threads complete interleaved quarters while we consume. */
    enum { T = 4 };
    corio_future **parts[T];
    t_finisher fin[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        parts[t] = malloc(n * sizeof **parts);
        size_t k = 0;
        for (size_t i = (size_t)t; i < n; i += T)
            parts[t][k++] = fs[i];
        fin[t] = (t_finisher){parts[t], k, t == 3 ? 2 : t % 2, NULL};
        pthread_create(&th[t], NULL, t_finish_thread, &fin[t]);
    }
    unsigned char *seen = calloc(n, 1);
    corio_future *f;
    size_t got = 0;
    int r;
    while ((r = corio_as_completed_next(it, &f)) == 1) {
        ck_assert(corio_future_done(f));
        /* Find f's index: the futures are distinct allocations. */
        size_t idx = n;
        for (size_t i = 0; i < n; i++)
            if (fs[i] == f) {
                idx = i;
                break;
            }
        ck_assert_uint_lt(idx, n);
        ck_assert_int_eq(seen[idx], 0);
        seen[idx] = 1;
        got++;
    }
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(got, n);
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        free(parts[t]);
    }
    corio_as_completed_destroy(it);
    free(seen);
    t_unref_all(fs, n);
    free(fs);
}
END_TEST

int main(void) {
    Suite *s = suite_create("wait");
    TCase *tc = tcase_create("wait");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_wait_empty);
    tcase_add_test(tc, test_wait_bad_arguments);
    tcase_add_test(tc, test_wait_already_done);
    tcase_add_test(tc, test_wait_timeout_partitions);
    tcase_add_test(tc, test_wait_null_outputs);
    tcase_add_test(tc, test_wait_first_completed_blocks);
    tcase_add_test(tc, test_wait_first_exception);
    tcase_add_test(tc, test_wait_first_exception_without_failure_is_all_completed);
    tcase_add_test(tc, test_wait_duplicates_count_once);
    tcase_add_test(tc, test_wait_many_all_completed);
    tcase_add_test(tc, test_wait_regression_done_between_scan_and_register);
    suite_add_tcase(s, tc);

    tc = tcase_create("as_completed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ac_done_first_then_completion_order);
    tcase_add_test(tc, test_ac_blocks_until_completion);
    tcase_add_test(tc, test_ac_duplicates_once);
    tcase_add_test(tc, test_ac_timeout);
    tcase_add_test(tc, test_ac_zero_timeout_polls);
    tcase_add_test(tc, test_ac_destroy_before_exhausting);
    tcase_add_test(tc, test_ac_holds_references);
    tcase_add_test(tc, test_ac_bad_arguments);
    tcase_add_test(tc, test_ac_stress_each_once);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
