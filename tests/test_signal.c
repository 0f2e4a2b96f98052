/* Tests for corio/signal.h: signals sent to the test process with kill(2)
 * and sigqueue(3), taken by plain threads and by coroutines (on one loop
 * and on two). One signal to exactly one waiter; signals sent while no one
 * waits are kept; a timed-out or cancelled waiter takes nothing; sets of
 * several signals; waiters on different sets do not steal from each
 * other; realtime signals queue with their values; the blocking rule is
 * enforced. Each test blocks its signals first, before any thread exists
 * (the rule the header states), so no signal can kill the test. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "corio.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

static sigset_t t_set(int a, int b) {
    sigset_t s;
    sigemptyset(&s);
    if (a)
        sigaddset(&s, a);
    if (b)
        sigaddset(&s, b);
    return s;
}

/* Block SIGUSR1, SIGUSR2 and SIGRTMIN in this (the only) thread. */
static void t_block_all(void) {
    sigset_t s = t_set(SIGUSR1, SIGUSR2);
    sigaddset(&s, SIGRTMIN);
    ck_assert_int_eq(corio_signal_block(&s), 0);
}

static corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .stack_size = 64 * 1024, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Nothing of the set is left pending. */
static void t_assert_none_pending(int a, int b) {
    sigset_t s = t_set(a, b);
    ck_assert_int_eq(corio_signal_wait(&s, 0, NULL), -ETIMEDOUT);
}

/* A waiter: waits for `set`, records what it got, opens `done`. */
typedef struct t_waiter {
    sigset_t set;
    sem_t *ready, *done;
    _Atomic int got; /* what the wait returned; 0 while it waits (read by the test meanwhile) */
    corio_signal_info info;
} t_waiter;

static int t_wait_coro(void *arg, corio_value *out) {
    (void)out;
    t_waiter *w = arg;
    t_gate_open(w->ready, 1);
    int r = corio_signal_wait(&w->set, 30, &w->info);
    w->got = r;
    t_gate_open(w->done, 1);
    return r < 0 ? r : 0;
}

static void *t_wait_thread(void *arg) {
    t_wait_coro(arg, NULL);
    return NULL;
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(test_bad_input) {
    t_block_all();
    sigset_t empty = t_set(0, 0), usr1 = t_set(SIGUSR1, 0), kill_set = t_set(SIGKILL, 0);
    sigset_t stop_set = t_set(SIGUSR1, SIGSTOP), winch = t_set(SIGWINCH, 0);
    ck_assert_int_eq(corio_signal_wait(NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(corio_signal_wait(&empty, 0, NULL), -EINVAL);
    ck_assert_int_eq(corio_signal_wait(&kill_set, 0, NULL), -EINVAL);
    ck_assert_int_eq(corio_signal_wait(&stop_set, 0, NULL), -EINVAL);
    ck_assert_int_eq(corio_signal_wait(&usr1, NAN, NULL), -EINVAL);
    /* Not blocked in this thread: refused, not a silent hang. */
    ck_assert_int_eq(corio_signal_wait(&winch, 0, NULL), -EINVAL);
    sigset_t mixed = t_set(SIGUSR1, SIGWINCH);
    ck_assert_int_eq(corio_signal_wait(&mixed, 0, NULL), -EINVAL);
    ck_assert_int_eq(corio_signal_block(NULL), -EINVAL);
    ck_assert_int_eq(corio_signal_block(&kill_set), -EINVAL);
    ck_assert_int_eq(corio_signal_unblock(NULL), -EINVAL);
    /* Unblocked again, a signal of the set is refused too. */
    ck_assert_int_eq(corio_signal_block(&winch), 0);
    ck_assert_int_eq(corio_signal_wait(&winch, 0, NULL), -ETIMEDOUT);
    ck_assert_int_eq(corio_signal_unblock(&winch), 0);
    ck_assert_int_eq(corio_signal_wait(&winch, 0, NULL), -EINVAL);
}
END_TEST

/* Sent while nobody waits: kept by the kernel, taken by the next waiter,
 * with the sender's pid and uid. */
START_TEST(test_pending_not_lost) {
    t_block_all();
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    sigset_t s = t_set(SIGUSR1, 0);
    corio_signal_info info;
    ck_assert_int_eq(corio_signal_wait(&s, 0, &info), SIGUSR1);
    ck_assert_int_eq(info.signo, SIGUSR1);
    ck_assert_int_eq(info.code, SI_USER);
    ck_assert_int_eq(info.pid, getpid());
    ck_assert_int_eq(info.uid, getuid());
    t_assert_none_pending(SIGUSR1, 0);
}
END_TEST

/* A thread's wait times out having taken nothing; the signal sent after
 * reaches the next waiter. */
START_TEST(test_thread_timeout_then_next_waiter) {
    t_block_all();
    sigset_t s = t_set(SIGUSR2, 0);
    double t0 = t_now();
    ck_assert_int_eq(corio_signal_wait(&s, 0.05, NULL), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.045);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(corio_signal_wait(&s, 30, NULL), SIGUSR2);
}
END_TEST

/* Two waiters (threads: _i 0; coroutines on one loop: 1; on two loops: 2),
 * two signals sent one after the other: one each. */
START_TEST(test_two_waiters_one_each) {
    t_block_all();
    sem_t ready, done;
    t_gate_init(&ready);
    t_gate_init(&done);
    t_waiter w[2] = {{.set = t_set(SIGUSR1, 0), .ready = &ready, .done = &done},
                     {.set = t_set(SIGUSR1, 0), .ready = &ready, .done = &done}};
    corio_runtime *rt = NULL;
    corio_future *f[2] = {NULL, NULL};
    pthread_t t[2];
    if (_i == 0) {
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(pthread_create(&t[k], NULL, t_wait_thread, &w[k]), 0);
    } else {
        rt = t_rt(2);
        for (int k = 0; k < 2; k++)
            f[k] = t_spawn(rt, _i == 1 ? 0 : k, t_wait_coro, &w[k]);
    }
    ck_assert(t_gate_pass_within(&ready, 30));
    ck_assert(t_gate_pass_within(&ready, 30));
    /* Standard signals coalesce: send the second only once the first was
     * taken, so there are really two. */
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert(t_gate_pass_within(&done, 30));
    /* Exactly one of them has it; the other still waits. */
    int g0 = w[0].got, g1 = w[1].got;
    ck_assert_msg((g0 == SIGUSR1 && g1 == 0) || (g0 == 0 && g1 == SIGUSR1), "got %d and %d", g0,
                  g1);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert(t_gate_pass_within(&done, 30));
    for (int k = 0; k < 2; k++) {
        if (_i == 0)
            pthread_join(t[k], NULL);
        else {
            ck_assert_int_eq(corio_future_result(f[k], 30, NULL), 0);
            corio_future_unref(f[k]);
        }
        ck_assert_int_eq(w[k].got, SIGUSR1);
        ck_assert_int_eq(w[k].info.pid, getpid());
    }
    corio_runtime_destroy(rt);
    t_assert_none_pending(SIGUSR1, 0);
    sem_destroy(&ready);
    sem_destroy(&done);
}
END_TEST

/* A coroutine's wait is cancelled having taken nothing: the signal sent
 * after reaches the next waiter (a plain thread). */
START_TEST(test_coroutine_cancelled_then_next_waiter) {
    t_block_all();
    sem_t ready, done;
    t_gate_init(&ready);
    t_gate_init(&done);
    t_waiter w = {.set = t_set(SIGUSR2, 0), .ready = &ready, .done = &done};
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_wait_coro, &w);
    ck_assert(t_gate_pass_within(&ready, 30));
    ck_assert(corio_future_cancel(f));
    ck_assert(t_gate_pass_within(&done, 30));
    ck_assert_int_eq(w.got, -ECANCELED);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), -ECANCELED);
    corio_future_unref(f);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    sigset_t s = t_set(SIGUSR2, 0);
    ck_assert_int_eq(corio_signal_wait(&s, 30, NULL), SIGUSR2);
    corio_runtime_destroy(rt);
    sem_destroy(&ready);
    sem_destroy(&done);
}
END_TEST

/* A coroutine's wait with a timeout; then one that gets a signal. */
static int t_coro_timeout_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    sigset_t s = t_set(SIGUSR1, 0);
    ck_assert_int_eq(corio_signal_wait(&s, 0.05, NULL), -ETIMEDOUT);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    corio_signal_info info;
    ck_assert_int_eq(corio_signal_wait(&s, 30, &info), SIGUSR1);
    ck_assert_int_eq(info.pid, getpid());
    return 0;
}

START_TEST(test_coroutine_timeout) {
    t_block_all();
    corio_runtime_options o = {.loops = 1, .stack_size = 64 * 1024, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, t_coro_timeout_body, NULL, NULL), 0);
}
END_TEST

/* A set of several signals: each pending member is taken once. */
START_TEST(test_several_in_a_set) {
    t_block_all();
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    sigset_t s = t_set(SIGUSR1, SIGUSR2);
    int a = corio_signal_wait(&s, 0, NULL), b = corio_signal_wait(&s, 0, NULL);
    ck_assert((a == SIGUSR1 && b == SIGUSR2) || (a == SIGUSR2 && b == SIGUSR1));
    t_assert_none_pending(SIGUSR1, SIGUSR2);
}
END_TEST

/* Waiters on different sets do not take each other's signals. */
START_TEST(test_different_sets) {
    t_block_all();
    sem_t ready, done1, done2;
    t_gate_init(&ready);
    t_gate_init(&done1);
    t_gate_init(&done2);
    t_waiter w1 = {.set = t_set(SIGUSR1, 0), .ready = &ready, .done = &done1};
    t_waiter w2 = {.set = t_set(SIGUSR2, 0), .ready = &ready, .done = &done2};
    corio_runtime *rt = t_rt(1);
    corio_future *f1 = t_spawn(rt, 0, t_wait_coro, &w1);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, t_wait_thread, &w2), 0);
    ck_assert(t_gate_pass_within(&ready, 30));
    ck_assert(t_gate_pass_within(&ready, 30));
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert(t_gate_pass_within(&done2, 30));
    ck_assert_int_eq(w2.got, SIGUSR2);
    ck_assert(!corio_future_done(f1)); /* SIGUSR1's waiter still waits */
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert(t_gate_pass_within(&done1, 30));
    ck_assert_int_eq(w1.got, SIGUSR1);
    pthread_join(t, NULL);
    ck_assert_int_eq(corio_future_result(f1, 30, NULL), 0);
    corio_future_unref(f1);
    corio_runtime_destroy(rt);
    sem_destroy(&ready);
    sem_destroy(&done1);
    sem_destroy(&done2);
}
END_TEST

/* Realtime signals queue: three of the same number, each delivered once,
 * in order, with its value. */
START_TEST(test_realtime_queue) {
    t_block_all();
    for (int v = 1; v <= 3; v++) {
        union sigval sv = {.sival_int = v};
        ck_assert_int_eq(sigqueue(getpid(), SIGRTMIN, sv), 0);
    }
    sigset_t s = t_set(SIGRTMIN, 0);
    for (int v = 1; v <= 3; v++) {
        corio_signal_info info;
        ck_assert_int_eq(corio_signal_wait(&s, 0, &info), SIGRTMIN);
        ck_assert_int_eq(info.code, SI_QUEUE);
        ck_assert_int_eq((int)info.value, v);
        ck_assert_int_eq(info.pid, getpid());
    }
    t_assert_none_pending(SIGRTMIN, 0);
}
END_TEST

/* No descriptor for the signalfd: a clear error, and the pending signal
 * is still there for the next waiter. */
START_TEST(test_fd_exhaustion) {
    t_block_all();
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    struct rlimit old, rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = 0;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    sigset_t s = t_set(SIGUSR1, 0);
    ck_assert_int_eq(corio_signal_wait(&s, 0, NULL), -EMFILE);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(corio_signal_wait(&s, 0, NULL), SIGUSR1);
}
END_TEST

static Suite *signal_suite(void) {
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_pending_not_lost);
    tcase_add_test(tc, test_thread_timeout_then_next_waiter);
    tcase_add_loop_test(tc, test_two_waiters_one_each, 0, 3);
    tcase_add_test(tc, test_coroutine_cancelled_then_next_waiter);
    tcase_add_test(tc, test_coroutine_timeout);
    tcase_add_test(tc, test_several_in_a_set);
    tcase_add_test(tc, test_different_sets);
    tcase_add_test(tc, test_realtime_queue);
    tcase_add_test(tc, test_fd_exhaustion);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(signal_suite()); }
