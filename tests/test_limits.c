/* Sizes and counts at their extremes for the runtime: loop counts beyond
 * what a process can hold fail at once with a clear code, and a coroutine
 * stack that cannot be mapped fails that spawn only. */
#include <sys/resource.h>

#include "t_helpers.h"

START_TEST(test_absurd_loop_counts_fail_fast) {
    corio_runtime *rt = (corio_runtime *)1;
    double t0 = t_now();
    corio_runtime_options o = {.loops = 100000};
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EINVAL);
    ck_assert_ptr_null(rt);
    o.loops = CORIO_LOOPS_MAX + 1;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EINVAL);
    o.loops = -1;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EINVAL);
    /* Within the cap, but more than the descriptor limit allows: -EMFILE
     * before a single loop is started. */
    struct rlimit lim = {.rlim_cur = 64, .rlim_max = 64};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    o.loops = CORIO_LOOPS_MAX;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EMFILE);
    o.loops = 30; /* 2 * 30 + 16 > 64 */
    ck_assert_int_eq(corio_runtime_create(&o, &rt), -EMFILE);
    ck_assert_msg(t_now() - t0 < 5.0, "refusals took %.2f s", t_now() - t0);
    /* What fits still works. */
    o.loops = 2;
    o.no_pin = true;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    ck_assert_int_eq(corio_runtime_loops(rt), 2);
    corio_runtime_destroy(rt);
}
END_TEST

static int give_7(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)7;
    return 0;
}

START_TEST(test_huge_stack_fails_that_spawn_only) {
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    const size_t sizes[] = {(size_t)1 << 62, SIZE_MAX / 2 + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        corio_spawn_options so = {.stack_size = sizes[i]};
        int err = 0;
        corio_future *f = corio_spawn_on(rt, 0, give_7, NULL, &so, &err);
        if (!f) { /* refused at once */
            ck_assert_msg(err == -EINVAL || err == -ENOMEM, "err %d", err);
            continue;
        }
        int r = corio_future_result(f, 30, NULL);
        ck_assert_msg(r == -ENOMEM || r == -EINVAL, "stack %zu: %d", sizes[i], r);
        corio_future_unref(f);
    }
    /* The loop is unharmed: a normal spawn runs. */
    int err = 0;
    corio_future *f = corio_spawn_on(rt, 0, give_7, NULL, NULL, &err);
    ck_assert_ptr_nonnull(f);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
    ck_assert_ptr_eq(v, (void *)7);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("runtime");
    tcase_add_test(tc, test_absurd_loop_counts_fail_fast);
    tcase_add_test(tc, test_huge_stack_fails_that_spawn_only);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
