/* Tests for the thread pool (Python's ThreadPoolExecutor) through the
 * executor interface, under stress and pressure: a many-submitter stress
 * run, bursts after idle periods, sizes at their extremes, NaN timeouts,
 * jobs accepted before exit(), defaults that follow the affinity mask, and
 * introspection. Reference: CPython's
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

/* LeakSanitizer asks this before its check at exit. A child that leaves
 * through exit() on purpose (the at-exit tests) sets it: Check's own
 * allocations of the test that forked it are still live there and would
 * be reported, not corio's. Everywhere else it is 0 (checks run). */
static volatile int t_no_leak_check;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return t_no_leak_check; }
#include "t_tasks.h"
#include "t_thread_pool.h"

/* ---- stress --------------------------------------------------------------------- */

typedef struct t_submitter {
    corio_executor *ex;
    size_t first, count; /* the args this thread submits */
    size_t checked;      /* results verified */
    int error;           /* first unexpected code */
} t_submitter;

static void *t_submitter_main(void *arg) {
    t_submitter *s = arg;
    enum { BATCH = 1024 };
    corio_future *fs[BATCH];
    size_t done = 0;
    while (done < s->count) {
        size_t k = s->count - done < BATCH ? s->count - done : BATCH;
        for (size_t i = 0; i < k; i++) {
            int err = 0;
            fs[i] = corio_executor_submit(s->ex, t_inc, (void *)(s->first + done + i), &err);
            if (!fs[i] && !s->error)
                s->error = err;
        }
        for (size_t i = 0; i < k; i++) {
            if (!fs[i])
                continue;
            void *out = NULL;
            int r = corio_future_result(fs[i], CORIO_FOREVER, &out);
            if (r == 0 && out == (void *)(s->first + done + i + 1))
                s->checked++;
            else if (!s->error)
                s->error = r ? r : -EBADMSG;
            corio_future_unref(fs[i]);
        }
        done += k;
    }
    return NULL;
}

START_TEST(test_stress_many_submitters) {
    enum { T = 8 };
    size_t total = t_scale(1000000, 2000);
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    t_submitter s[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        s[t] = (t_submitter){ex, (size_t)t * (total / T), total / T, 0, 0};
        pthread_create(&th[t], NULL, t_submitter_main, &s[t]);
    }
    size_t checked = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        ck_assert_msg(s[t].error == 0, "submitter %d: %s", t, corio_error_name(s[t].error));
        checked += s[t].checked;
    }
    ck_assert_uint_eq(checked, (total / T) * T);
    corio_executor_destroy(ex);
}
END_TEST

/* Bursts of up to 8 jobs after idle periods of every length, on 3 workers
 * (more than the CPUs here, fewer than a burst, so that a burst claims
 * every sleeper): idle workers end up in every state (spinning, asleep, on
 * their way to sleep or back, preempted anywhere) when the next burst
 * arrives, and every job must still run. One submitter: with more, their
 * later submits would wake a worker stuck as below and hide it.
 * A worker that took a job on its way back from sleep once waited there
 * for a wake-up token that another worker, back asleep after its own job,
 * could take first; the job it held then never ran. */
START_TEST(test_stress_bursts_after_idle) {
    corio_executor *ex = t_pool(3);
    double secs = 2.0 * t_scale_factor();
    int64_t end = corio__now_ns() + (int64_t)((secs > 1.0 ? secs : 1.0) * 1e9);
    uint64_t rng = 0x9e3779b97f4a7c15ull; /* burst sizes and idle times */
    size_t jobs = 0;
    /* The first failure. No ck_assert in the loop: each passing one costs
     * Check a write to its log, which changes the timing enough that the
     * lost wake-up above, with a delay injected to widen its window, was
     * no longer caught. */
    char what[96] = "";
    for (int round = 0; !what[0] && corio__now_ns() < end; round++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int k = 1 + (int)(rng % 8);
        corio_future *fs[8];
        for (int i = 0; i < k; i++) {
            int err = 0;
            fs[i] = corio_executor_submit(ex, t_inc, (void *)(uintptr_t)i, &err);
            if (!fs[i]) {
                snprintf(what, sizeof what, "submit: %s", corio_error_name(err));
                k = i;
            }
        }
        for (int i = 0; i < k; i++) {
            void *v = NULL;
            int r = corio_future_result(fs[i], 30, &v);
            if ((r != 0 || v != (void *)(uintptr_t)(i + 1)) && !what[0])
                snprintf(what, sizeof what, "round %d, job %d of %d: %s", round, i, k,
                         r ? corio_error_name(r) : "wrong value");
            corio_future_unref(fs[i]);
        }
        jobs += (size_t)k;
        /* Half the rounds go on at once, while the workers are on their
         * way to sleep; the others idle for up to ~150 us, around the
         * workers' 50 us spin. */
        int64_t idle = (rng >> 8) % 2 ? (int64_t)((rng >> 9) % 150000) : 0;
        int64_t idle_until = corio__now_ns() + idle;
        while (corio__now_ns() < idle_until)
            corio__cpu_relax();
    }
    ck_assert_msg(!what[0], "%s", what);
    ck_assert_uint_gt(jobs, 0);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- under pressure: sizes, exit, affinity, inspect ---------------------- */

#ifndef CORIO__EXECUTOR_MAX_BYTES
#define CORIO__EXECUTOR_MAX_BYTES ((size_t)1 << 30)
#endif

static int tp_echo_len(void *arg, corio_value *out) {
    out->ptr = (void *)(uintptr_t)((const corio_value *)arg)->len;
    return 0;
}

START_TEST(test_submit_bytes_size_extremes) {
    corio_executor *ex = t_pool(1);
    static const char small[4] = "abc";
    const size_t bad[] = {SIZE_MAX, SIZE_MAX / 2 + 1, CORIO__EXECUTOR_MAX_BYTES + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int err = 0;
        ck_assert_ptr_null(corio_executor_submit_bytes(ex, tp_echo_len, small, bad[i], &err));
        ck_assert_int_eq(err, -EMSGSIZE);
    }
    for (size_t len = 0; len <= 1; len++) {
        corio_future *f = corio_executor_submit_bytes(ex, tp_echo_len, small, len, NULL);
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
        ck_assert_uint_eq((uintptr_t)v, len);
        corio_future_unref(f);
    }
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_max_workers_extremes) {
    corio_executor *ex = NULL;
    corio_thread_pool_options o = {.max_workers = INT32_MAX};
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), -EINVAL);
    corio_process_pool_options po = {.max_workers = INT32_MAX};
    ck_assert_int_eq(corio_process_pool_create(&po, &ex), -EINVAL);
    o.max_workers = 1;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_shutdown_timeout_nan_thread) {
    corio_executor *ex = t_pool(1);
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, NAN, false), -EINVAL);
    corio_executor_destroy(ex);
}
END_TEST

static int tp_exit_job(void *arg, corio_value *out) {
    (void)out;
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    return write((int)(uintptr_t)arg, "x", 1) == 1 ? 0 : -EIO;
}

/* A job accepted before shutdown(wait=false) runs to completion although
 * the program exits right after; with cancel_futures (_i) the queued ones
 * are cancelled. */
START_TEST(test_job_not_lost_at_exit_thread) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        close(p[0]);
        t_no_leak_check = 1; /* see __lsan_is_turned_off */
        corio_executor *ex = NULL;
        if (corio_thread_pool_create(&(corio_thread_pool_options){.max_workers = 1}, &ex))
            _exit(10);
        corio_future *f = corio_executor_submit(ex, tp_exit_job, (void *)(uintptr_t)p[1], NULL);
        for (int i = 0; i < 3 * _i; i++)
            corio_executor_submit(ex, tp_exit_job, (void *)(uintptr_t)p[1], NULL);
        while (f && !corio_future_running(f)) /* the first one has started */
            sched_yield();
        corio_executor_shutdown(ex, false, _i);
        exit(0);
    }
    close(p[1]);
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
    char buf[8];
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 1);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 0);
    close(p[0]);
}
END_TEST

/* Under `taskset -c <one cpu>`: default sizes follow the affinity mask. */
#ifndef T_MAIN_BASELINE
START_TEST(test_defaults_follow_affinity) {
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            last = c;
    CPU_ZERO(&set);
    CPU_SET(last, &set);
    ck_assert_int_eq(sched_setaffinity(0, sizeof set, &set), 0);
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    corio_executor_stats st = {0};
    ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
    ck_assert_int_eq(st.max_workers, 5); /* min(32, 1 + 4) */
    corio_executor_destroy(ex);
    ck_assert_int_eq(corio_process_pool_create(NULL, &ex), 0);
    ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
    ck_assert_int_eq(st.max_workers, 1);
    corio_executor_destroy(ex);
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(NULL, &rt), 0);
    ck_assert_int_eq(corio_runtime_loops(rt), 1);
    corio_runtime_destroy(rt);
}
END_TEST
#endif

static sem_t tp_gate;

static int tp_gate_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    t_gate_pass(&tp_gate);
    return 0;
}

#ifndef T_MAIN_BASELINE
START_TEST(test_inspect_thread) {
    t_gate_init(&tp_gate);
    corio_executor *ex = t_pool(2);
    int64_t ids[4] = {0};
    corio_executor_stats st = {.ids = ids, .ids_cap = 4};
    corio_future *fs[5];
    for (int i = 0; i < 5; i++)
        fs[i] = corio_executor_submit(ex, tp_gate_job, NULL, NULL);
    int64_t until = corio__now_ns() + 10 * 1000000000LL;
    do {
        ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
        ck_assert(corio__now_ns() < until);
        sched_yield();
    } while (st.running < 2 || st.pending < 3);
    ck_assert_int_eq(st.max_workers, 2);
    ck_assert_int_eq(st.workers, 2);
    ck_assert_uint_eq(st.running, 2);
    ck_assert_uint_eq(st.pending, 3);
    ck_assert_uint_eq(st.ids_len, 2);
    ck_assert(ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1]);
    t_gate_open(&tp_gate, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 30, NULL), 0);
        corio_future_unref(fs[i]);
    }
    corio_executor_destroy(ex);
    sem_destroy(&tp_gate);
}
END_TEST
#endif



/* One rule for every call that takes a timeout: NaN is -EINVAL (it used to
 * wait forever for futures, wait and the sync objects). */
START_TEST(test_nan_timeouts_are_einval) {
    corio_future *f = corio_future_create();
    void *v;
    const char *msg;
    ck_assert_int_eq(corio_future_result(f, NAN, &v), -EINVAL);
    ck_assert_int_eq(corio_future_exception(f, NAN, &msg), -EINVAL);
    ck_assert_int_eq(corio_future_result(f, 0, &v), -ETIMEDOUT); /* 0 = poll */
    size_t nd = 0, nn = 0;
    corio_future *done[1], *not_done[1];
    ck_assert_int_eq(corio_wait(&f, 1, NAN, CORIO_ALL_COMPLETED, done, &nd, not_done, &nn), -EINVAL);
    corio_as_completed *it = NULL;
    ck_assert_int_eq(corio_as_completed_create2(&f, 1, NAN, &it), -EINVAL);
    ck_assert_ptr_null(it);
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(1, &ch), 0);
    ck_assert_int_eq(corio_channel_recv(ch, &v, NAN), -EINVAL);
    ck_assert_int_eq(corio_channel_send(ch, NULL, NAN), -EINVAL);
    corio_channel_destroy(ch);
    corio_mutex *m;
    ck_assert_int_eq(corio_mutex_create(&m), 0);
    ck_assert_int_eq(corio_mutex_lock(m, NAN), -EINVAL);
    corio_mutex_destroy(m);
    corio_semaphore *s;
    ck_assert_int_eq(corio_semaphore_create(0, &s), 0);
    ck_assert_int_eq(corio_semaphore_acquire(s, NAN), -EINVAL);
    corio_semaphore_destroy(s);
    corio_event *e;
    ck_assert_int_eq(corio_event_create(&e), 0);
    ck_assert_int_eq(corio_event_wait(e, NAN), -EINVAL);
    corio_event_destroy(e);
    corio_future_cancel(f);
    corio_future_unref(f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("thread_pool_stress");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_stress_many_submitters);
    suite_add_tcase(s, tc);

    tc = tcase_create("bursts");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stress_bursts_after_idle);
    suite_add_tcase(s, tc);
    tc = tcase_create("pressure");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_submit_bytes_size_extremes);
    tcase_add_test(tc, test_max_workers_extremes);
    tcase_add_test(tc, test_shutdown_timeout_nan_thread);
    tcase_add_test(tc, test_nan_timeouts_are_einval);
    tcase_add_loop_test(tc, test_job_not_lost_at_exit_thread, 0, 2);
#ifndef T_MAIN_BASELINE
    tcase_add_test(tc, test_defaults_follow_affinity);
    tcase_add_test(tc, test_inspect_thread);
#endif
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
