/* Joining a coroutine that has not started yet (runtime/coro.c, direct
 * starts): the joiner switches straight into the child, at most a bounded
 * number of times per scheduler pass.
 *
 *   result      a directly started child runs, returns its value to the
 *               joiner, and the loop frees it (no stack or record leaks:
 *               many rounds reuse the pool);
 *   suspends    a directly started child that suspends (sleeps) lets the
 *               scheduler run others, and its end still resumes the joiner;
 *   cancel      a joiner cancelled while its directly started child is
 *               suspended gets -ECANCELED; the child carries on to its end;
 *   fairness    a coroutine spawning and joining empty children without
 *               end cannot starve a coroutine waiting on a timer: the
 *               spawner stops only when the sleeper has woken (without the
 *               per-pass bound this would never end: the test times out). */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "corio.h"
#include "t_helpers.h"

static corio_runtime *t_rt1(void) {
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

static int t_child_value(void *arg, corio_value *out) {
    out->ptr = arg;
    return 0;
}

static int t_many_joins(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    for (uintptr_t i = 1; i <= 20000; i++) {
        int err = 0;
        corio_future *f = corio_spawn(t_child_value, (void *)i, &err);
        ck_assert_ptr_nonnull(f);
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, &v), 0);
        ck_assert_ptr_eq(v, (void *)i);
        corio_future_unref(f);
    }
    return 0;
}

START_TEST(test_direct_start_result) {
    corio_runtime *rt = t_rt1();
    corio_future *f = t_spawn(rt, 0, t_many_joins, NULL);
    ck_assert_int_eq(corio_future_result(f, 60, NULL), 0);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}
END_TEST

static atomic_int t_sleeper_done;

static int t_sleepy_child(void *arg, corio_value *out) {
    (void)arg;
    ck_assert_int_eq(corio_sleep(0.01), 0);
    atomic_store(&t_sleeper_done, 1);
    out->ptr = (void *)7;
    return 0;
}

static int t_join_sleepy(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int err = 0;
    corio_future *f = corio_spawn(t_sleepy_child, NULL, &err);
    ck_assert_ptr_nonnull(f);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, &v), 0);
    ck_assert_ptr_eq(v, (void *)7);
    ck_assert_int_eq(atomic_load(&t_sleeper_done), 1);
    corio_future_unref(f);
    return 0;
}

START_TEST(test_direct_start_suspends) {
    atomic_store(&t_sleeper_done, 0);
    corio_runtime *rt = t_rt1();
    corio_future *f = t_spawn(rt, 0, t_join_sleepy, NULL);
    ck_assert_int_eq(corio_future_result(f, 60, NULL), 0);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}
END_TEST

/* cancel: the child parks on a gate the test opens after the cancel. */
static corio_future *t_gate;
static corio_future *t_cancel_child_f;
static sem_t t_joining;

static int t_gated_child(void *arg, corio_value *out) {
    (void)arg;
    sem_post(&t_joining); /* the joiner has switched into us */
    ck_assert_int_eq(corio_future_result(t_gate, CORIO_FOREVER, NULL), 0);
    out->ptr = (void *)9;
    return 0;
}

static int t_cancelled_joiner(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int err = 0;
    corio_future *f = corio_spawn(t_gated_child, NULL, &err);
    ck_assert_ptr_nonnull(f);
    corio_future_ref(f);
    t_cancel_child_f = f;
    int r = corio_future_result(f, CORIO_FOREVER, NULL);
    corio_future_unref(f);
    return r;
}

START_TEST(test_direct_start_joiner_cancelled) {
    sem_init(&t_joining, 0, 0);
    t_gate = corio_future_create();
    corio_runtime *rt = t_rt1();
    corio_future *j = t_spawn(rt, 0, t_cancelled_joiner, NULL);
    sem_wait(&t_joining);
    ck_assert(corio_future_cancel(j));
    ck_assert_int_eq(corio_future_result(j, 60, NULL), -ECANCELED);
    corio_future_unref(j);
    /* The child did not end with its joiner. */
    ck_assert(!corio_future_done(t_cancel_child_f));
    corio_value one = {.ptr = (void *)1};
    ck_assert_int_eq(corio_future_set_value(t_gate, &one), 0);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(t_cancel_child_f, 60, &v), 0);
    ck_assert_ptr_eq(v, (void *)9);
    corio_future_unref(t_cancel_child_f);
    corio_future_unref(t_gate);
    corio_runtime_destroy(rt);
    sem_destroy(&t_joining);
}
END_TEST

static atomic_int t_woke;

static int t_timer_sleeper(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    ck_assert_int_eq(corio_sleep(0.001), 0);
    atomic_store(&t_woke, 1);
    return 0;
}

static int t_empty(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

static int t_spawn_join_until_woken(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    while (!atomic_load(&t_woke)) {
        int err = 0;
        corio_future *f = corio_spawn(t_empty, NULL, &err);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), 0);
        corio_future_unref(f);
    }
    return 0;
}

START_TEST(test_direct_start_fairness) {
    atomic_store(&t_woke, 0);
    corio_runtime *rt = t_rt1();
    corio_future *s = t_spawn(rt, 0, t_timer_sleeper, NULL);
    corio_future *f = t_spawn(rt, 0, t_spawn_join_until_woken, NULL);
    ck_assert_int_eq(corio_future_result(f, 120, NULL), 0);
    ck_assert_int_eq(corio_future_result(s, 120, NULL), 0);
    corio_future_unref(f);
    corio_future_unref(s);
    corio_runtime_destroy(rt);
}
END_TEST

static Suite *spawn_join_suite(void) {
    Suite *s = suite_create("spawn_join");
    TCase *tc = tcase_create("direct");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_direct_start_result);
    tcase_add_test(tc, test_direct_start_suspends);
    tcase_add_test(tc, test_direct_start_joiner_cancelled);
    tcase_add_test(tc, test_direct_start_fairness);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(spawn_join_suite()); }
