/* Conformance with CPython's concurrent.futures test suite
 * (Lib/test/test_concurrent_futures/), the process pool's
 * test_deadlock.ExecutorDeadlockTest, ported one by one: a worker that
 * crashes, exits or fails while running a job, while receiving it or while
 * sending its result; a big result cut short; shutdown with broken workers.
 * Each test names the CPython test it mirrors in a comment right above it.
 * The futures' cases are in test_conformance.c, the executors' in
 * test_conformance_executor.c.
 *
 * Ordering is done with a shared page (t_shm, mapped before any process
 * pool is created, so inherited by the fork server and every worker). Every
 * wait is bounded: a broken library fails a test instead of hanging it. */
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
#include "../executors/wire.h"

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
    Suite *s = suite_create("conformance_deadlock");
    TCase *tc = tcase_create("deadlock");
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
