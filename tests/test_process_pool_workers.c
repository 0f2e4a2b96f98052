/* Tests for the process pool's workers and its lifetime: creation (the
 * options, with other threads busy in malloc and a mutex), the
 * initializer (run in the workers only; failing breaks the pool),
 * max_tasks_per_child, workers that die (SIGKILL with 100 jobs pending,
 * exit in the middle of a job, replace_crashed_workers), cancelling a
 * running job (refused by default, cancel_kills_running), shutdown (no
 * wait, cancel_futures, a timeout that terminates), and nothing left
 * behind (descriptors, zombies). Jobs and their transport are in
 * test_process_pool.c; the helpers both use in t_process_pool.h.
 *
 * Check forks each test, so every test creates and destroys its own pool.
 * Jobs that need to tell the test something while still running (their pid)
 * write to t_shm, a MAP_SHARED page mapped before the pool is created and
 * so inherited by the fork server and every worker. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "corio.h"
#include "internal.h"
#include "t_helpers.h"
#include "t_process_pool.h"

/* Set by t_init in the workers only. */
static int t_init_value;

static corio_executor *t_pool_opts(const corio_process_pool_options *o) {
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(o, &ex), 0);
    return ex;
}

/* ---- jobs (they run in the workers) ------------------------------------ */

static int t_getpid(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)(uintptr_t)getpid();
    return 0;
}

/* Publish our pid, then sleep long: the test kills us. */
static int t_pid_then_sleep(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    atomic_store(&t_shm[0], getpid());
    sleep(30);
    return 0;
}

static int t_exit3(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    _exit(3);
}

static int t_init(void *arg) {
    t_init_value = (int)(uintptr_t)arg;
    return 0;
}

static int t_init_fail(void *arg) {
    (void)arg;
    return corio_task_fail(-EACCES, "no access to the test resource");
}

static int t_get_init_value(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)(uintptr_t)t_init_value;
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static size_t t_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_create_options) {
    corio_executor *ex = NULL;
    corio_process_pool_options o = {.max_workers = -1};
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), -EINVAL);
    ck_assert_ptr_null(ex);
    ck_assert_int_eq(corio_process_pool_create(NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_process_pool_create(NULL, &ex), 0);
    ck_assert_int_eq(ex->max_workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

START_TEST(test_initializer) {
    corio_process_pool_options o = {.max_workers = 2, .initializer = t_init, .initargs = (void *)77};
    corio_executor *ex = t_pool_opts(&o);
    corio_future *f = corio_executor_submit(ex, t_get_init_value, NULL, NULL);
    ck_assert_uint_eq(t_result_int(f), 77);
    corio_future_unref(f);
    ck_assert_int_eq(t_init_value, 0); /* the parent never ran it */
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_initializer_failure_breaks_pool) {
    corio_process_pool_options o = {.max_workers = 2, .initializer = t_init_fail};
    corio_executor *ex = t_pool_opts(&o);
    int err = 0;
    corio_future *f = corio_executor_submit(ex, t_add_one, NULL, &err);
    if (f) { /* may be accepted before the failure is known */
        ck_assert_int_eq(corio_future_result(f, 30, NULL), CORIO_EBROKEN_PROCESS_POOL);
        const char *msg = NULL;
        corio_future_exception(f, 0, &msg);
        ck_assert_ptr_nonnull(strstr(msg, "initializer failed"));
        ck_assert_ptr_nonnull(strstr(msg, "no access to the test resource"));
        corio_future_unref(f);
    }
    /* Broken now: the pool is marked broken before it fails its futures,
     * and a refused submit means it already was. */
    ck_assert(corio_executor_broken(ex));
    ck_assert_ptr_null(corio_executor_submit(ex, t_add_one, NULL, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_PROCESS_POOL);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

START_TEST(test_max_tasks_per_child) {
    corio_process_pool_options o = {.max_workers = 1, .max_tasks_per_child = 2};
    corio_executor *ex = t_pool_opts(&o);
    pid_t pids[6];
    for (int i = 0; i < 6; i++) {
        corio_future *f = corio_executor_submit(ex, t_getpid, NULL, NULL);
        pids[i] = (pid_t)t_result_int(f);
        corio_future_unref(f);
    }
    for (int i = 0; i < 6; i += 2) {
        ck_assert_int_eq(pids[i], pids[i + 1]);
        if (i)
            ck_assert_int_ne(pids[i], pids[i - 1]);
    }
    /* Submitted all at once too. */
    corio_future *fs[20];
    for (int i = 0; i < 20; i++)
        fs[i] = corio_executor_submit(ex, t_getpid, NULL, NULL);
    for (int i = 0; i < 20; i++) {
        pids[i % 2] = (pid_t)t_result_int(fs[i]);
        if (i % 2)
            ck_assert_int_eq(pids[0], pids[1]);
        corio_future_unref(fs[i]);
    }
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
}
END_TEST

static pid_t t_wait_pid(void) {
    for (int i = 0; i < 10000; i++) {
        int pid = atomic_load(&t_shm[0]);
        if (pid)
            return pid;
        usleep(1000);
    }
    ck_abort_msg("the job never started");
    return 0;
}

START_TEST(test_sigkill_breaks_pool_100_pending) {
    corio_executor *ex = t_pool(2);
    corio_future *first = corio_executor_submit(ex, t_pid_then_sleep, NULL, NULL);
    corio_future *fs[100];
    for (int i = 0; i < 100; i++)
        fs[i] = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)(i % 3), NULL);
    pid_t pid = t_wait_pid();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_result(first, 30, NULL), CORIO_EBROKEN_PROCESS_POOL);
    ck_assert_int_eq(corio_future_exception(first, 0, &msg), CORIO_EBROKEN_PROCESS_POOL);
    char want[64];
    snprintf(want, sizeof want, "worker pid %d was killed by signal 9 (SIGKILL)", (int)pid);
    ck_assert_msg(strstr(msg, want), "message: %s", msg);
    ck_assert_ptr_nonnull(strstr(msg, "terminated abruptly"));
    int broken = 0;
    for (int i = 0; i < 100; i++) {
        int r = corio_future_result(fs[i], 30, NULL);
        ck_assert_msg(r == 0 || r == CORIO_EBROKEN_PROCESS_POOL, "job %d: %s", i,
                      corio_error_name(r));
        broken += r != 0;
        corio_future_unref(fs[i]);
    }
    ck_assert_int_gt(broken, 0);
    ck_assert(corio_executor_broken(ex));
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_add_one, NULL, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_PROCESS_POOL);
    corio_map *m = NULL;
    static void *items[2];
    ck_assert_int_eq(corio_executor_map(ex, t_add_one, items, 2, NULL, &m),
                     CORIO_EBROKEN_PROCESS_POOL);
    corio_future_unref(first);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

START_TEST(test_exit_mid_job_breaks_pool) {
    corio_executor *ex = t_pool(1);
    corio_future *f = corio_executor_submit(ex, t_exit3, NULL, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), CORIO_EBROKEN_PROCESS_POOL);
    const char *msg = NULL;
    corio_future_exception(f, 0, &msg);
    ck_assert_msg(strstr(msg, "exited with status 3"), "message: %s", msg);
    corio_future_unref(f);
    ck_assert(corio_executor_broken(ex));
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_replace_crashed_workers) {
    corio_process_pool_options o = {.max_workers = 2, .replace_crashed_workers = true};
    corio_executor *ex = t_pool_opts(&o);
    for (int round = 0; round < 3; round++) {
        corio_future *bad = corio_executor_submit(ex, t_self_kill, NULL, NULL);
        corio_future *good[10];
        for (int i = 0; i < 10; i++)
            good[i] = corio_executor_submit(ex, t_add_one, (void *)(uintptr_t)i, NULL);
        ck_assert_int_eq(corio_future_result(bad, 30, NULL), CORIO_EBROKEN_PROCESS_POOL);
        const char *msg = NULL;
        corio_future_exception(bad, 0, &msg);
        ck_assert_msg(strstr(msg, "killed by signal 9"), "message: %s", msg);
        for (int i = 0; i < 10; i++) {
            ck_assert_uint_eq(t_result_int(good[i]), (uintptr_t)i + 1);
            corio_future_unref(good[i]);
        }
        corio_future_unref(bad);
    }
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

START_TEST(test_cancel_running_default_refused) {
    corio_executor *ex = t_pool(1);
    corio_future *f = corio_executor_submit(ex, t_sleep_ms, (void *)200, NULL);
    while (!corio_future_running(f))
        usleep(1000);
    ck_assert(!corio_future_cancel(f)); /* Python: a running future cannot be cancelled */
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_cancel_kills_running) {
    corio_process_pool_options o = {.max_workers = 1, .cancel_kills_running = true};
    corio_executor *ex = t_pool_opts(&o);
    corio_future *f = corio_executor_submit(ex, t_pid_then_sleep, NULL, NULL);
    corio_future *next = corio_executor_submit(ex, t_getpid, NULL, NULL);
    pid_t pid = t_wait_pid();
    int64_t t0 = corio__now_ns();
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 10, NULL), -ECANCELED);
    ck_assert_int_lt(corio__now_ns() - t0, 5000000000LL);
    /* The job queued behind it runs on the replacement worker. */
    pid_t p2 = (pid_t)t_result_int(next);
    ck_assert_int_ne(p2, pid);
    ck_assert(!corio_executor_broken(ex));
    corio_future_unref(f);
    corio_future_unref(next);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

START_TEST(test_shutdown_nowait) {
    size_t fds = t_count_fds();
    corio_executor *ex = t_pool(2);
    corio_future *fs[10];
    for (int i = 0; i < 10; i++)
        fs[i] = corio_executor_submit(ex, t_sleep_ms, (void *)20, NULL);
    int64_t t0 = corio__now_ns();
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0);
    ck_assert_int_lt(corio__now_ns() - t0, 50000000);
    int err = 0;
    ck_assert_ptr_null(corio_executor_submit(ex, t_add_one, NULL, &err));
    ck_assert_int_eq(err, CORIO_ESHUTDOWN);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 30, NULL), 0);
        corio_future_unref(fs[i]);
    }
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0); /* idempotent */
    corio_executor_destroy(ex);
    ck_assert_uint_eq(t_count_fds(), fds);
    t_no_children();
}
END_TEST

START_TEST(test_shutdown_cancel_futures) {
    corio_executor *ex = t_pool(1);
    corio_future *fs[50];
    for (int i = 0; i < 50; i++)
        fs[i] = corio_executor_submit(ex, t_sleep_ms, (void *)20, NULL);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, true), 0);
    int ran = 0, cancelled = 0;
    for (int i = 0; i < 50; i++) {
        int r = corio_future_result(fs[i], 0, NULL);
        if (r == 0)
            ran++;
        else {
            ck_assert_int_eq(r, -ECANCELED);
            ck_assert_int_eq(corio_future_exception(fs[i], 0, NULL), CORIO_ECANCELLED_BY_EXECUTOR);
            cancelled++;
        }
        corio_future_unref(fs[i]);
    }
    ck_assert_int_ge(ran, 1);
    ck_assert_int_ge(cancelled, 40);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_shutdown_timeout_terminates) {
    corio_executor *ex = t_pool(2);
    corio_future *f = corio_executor_submit(ex, t_pid_then_sleep, NULL, NULL);
    t_wait_pid();
    int64_t t0 = corio__now_ns();
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, 0.2, false), -ETIMEDOUT);
    ck_assert_int_lt(corio__now_ns() - t0, 3000000000LL);
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -ECANCELED);
    ck_assert_int_eq(corio_future_exception(f, 0, NULL), CORIO_ECANCELLED_BY_EXECUTOR);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* Threads that keep malloc and a mutex busy while the pool is created. */
static _Atomic int t_stop;
static pthread_mutex_t t_mu = PTHREAD_MUTEX_INITIALIZER;

static void *t_busy(void *arg) {
    (void)arg;
    while (!atomic_load(&t_stop)) {
        pthread_mutex_lock(&t_mu);
        void *p = malloc(64 + (size_t)(rand() % 4096));
        pthread_mutex_unlock(&t_mu);
        free(p);
    }
    return NULL;
}

START_TEST(test_create_with_running_threads) {
    /* Under valgrind, which runs one thread at a time, four threads that
     * never sleep leave the pool's own threads too little time: one busy
     * thread, fewer jobs and a longer bound keep the point (a fork server
     * created while another thread holds malloc's and a mutex's locks). */
    int nth = RUNNING_ON_VALGRIND ? 1 : 4, rounds = RUNNING_ON_VALGRIND ? 2 : 5;
    int njobs = RUNNING_ON_VALGRIND ? 20 : 100;
    double bound = RUNNING_ON_VALGRIND ? 300 : 30;
    pthread_t th[4];
    for (int i = 0; i < nth; i++)
        pthread_create(&th[i], NULL, t_busy, NULL);
    for (int round = 0; round < rounds; round++) {
        corio_executor *ex = t_pool(2);
        corio_future *fs[100];
        for (int i = 0; i < njobs; i++)
            fs[i] = corio_executor_submit_bytes(ex, t_reverse, "xyz", 3, NULL);
        for (int i = 0; i < njobs; i++) {
            corio_value v;
            ck_assert_int_eq(corio_future_result_value(fs[i], bound, &v), 0);
            ck_assert(v.len == 3 && memcmp(v.ptr, "zyx", 3) == 0);
            corio_future_unref(fs[i]);
        }
        corio_executor_destroy(ex);
    }
    atomic_store(&t_stop, 1);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    t_no_children();
}
END_TEST

START_TEST(test_no_leaked_fds_or_zombies) {
    size_t before = t_count_fds();
    for (int round = 0; round < 3; round++) {
        corio_process_pool_options o = {.max_workers = 2, .max_tasks_per_child = 3};
        corio_executor *a = t_pool_opts(&o);
        corio_executor *b = t_pool(1);
        corio_future *fs[20];
        for (int i = 0; i < 20; i++)
            fs[i] = corio_executor_submit(i % 2 ? a : b, t_getpid, NULL, NULL);
        for (int i = 0; i < 20; i++) {
            t_result_int(fs[i]);
            corio_future_unref(fs[i]);
        }
        corio_executor_destroy(a);
        corio_executor_destroy(b);
    }
    ck_assert_uint_eq(t_count_fds(), before);
    t_no_children();
}
END_TEST

int main(void) {
    Suite *s = suite_create("process_pool_workers");
    TCase *tc = tcase_create("workers");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_options);
    tcase_add_test(tc, test_initializer);
    tcase_add_test(tc, test_initializer_failure_breaks_pool);
    tcase_add_test(tc, test_max_tasks_per_child);
    tcase_add_test(tc, test_sigkill_breaks_pool_100_pending);
    tcase_add_test(tc, test_exit_mid_job_breaks_pool);
    tcase_add_test(tc, test_replace_crashed_workers);
    tcase_add_test(tc, test_cancel_running_default_refused);
    tcase_add_test(tc, test_cancel_kills_running);
    tcase_add_test(tc, test_shutdown_nowait);
    tcase_add_test(tc, test_shutdown_cancel_futures);
    tcase_add_test(tc, test_shutdown_timeout_terminates);
    tcase_add_test(tc, test_create_with_running_threads);
    tcase_add_test(tc, test_no_leaked_fds_or_zombies);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
