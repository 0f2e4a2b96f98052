/* Helpers shared by the conformance suites (test_conformance.c,
 * test_conformance_executor.c, test_conformance_deadlock.c): the wait bound,
 * thread-pool jobs and submission, and for process jobs the shared page
 * t_shm with its fixture and the process-pool helpers.
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. Include after corio.h and t_helpers.h. */
#ifndef CORIO_T_CONFORMANCE_H
#define CORIO_T_CONFORMANCE_H

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"
#include "t_helpers.h"

/* Bound for every wait that should end quickly. */
#define T_LONG 30.0

/* ---- threads and thread-pool jobs ------------------------------------------- */

/* Run fn(arg) on a new thread. */
static inline pthread_t t_start_thread(void *(*fn)(void *), void *arg) {
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fn, arg), 0);
    return th;
}

/* Tasks of the thread-pool cases (t_ctl, t_gated and t_inc: t_tasks.h). */
static inline int t_mul21(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg * 21);
    return 0;
}

static inline corio_executor *t_tpool(int workers) {
    corio_thread_pool_options o = {.max_workers = workers};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    return ex;
}

static inline corio_future *t_sub(corio_executor *ex, corio_fn fn, void *arg) {
    int err = 0;
    corio_future *f = corio_executor_submit(ex, fn, arg, &err);
    ck_assert_msg(f != NULL, "submit: %s", corio_error_name(err));
    return f;
}

/* ---- process pool jobs (they run in the workers) ----------------------------- */

/* Shared with workers: [0] a worker's pid, [1] release flag, [2] counter. */
static _Atomic int *t_shm;

static inline void t_setup(void) {
    t_shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(t_shm, MAP_FAILED);
}

static inline void t_teardown(void) { munmap((void *)t_shm, 4096); }

static inline void t_msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* In a worker: wait (bounded) until the test sets t_shm[1]. The worker polls;
 * the test never sleeps. */
static inline int t_wait_release(void *arg, corio_value *out) {
    atomic_store(&t_shm[0], getpid());
    for (int i = 0; i < 30000 && !atomic_load(&t_shm[1]); i++)
        t_msleep(1);
    out->ptr = arg;
    return 0;
}

/* Test's side: wait for a job to publish its pid (bounded poll of a shared
 * word, as nothing else can tell a process job's progress). */
static inline pid_t t_wait_pid(void) {
    for (int i = 0; i < 30000; i++) {
        int pid = atomic_load(&t_shm[0]);
        if (pid)
            return pid;
        t_msleep(1);
    }
    ck_abort_msg("the job never started");
    return 0;
}

static inline corio_executor *t_ppool(int workers) {
    corio_process_pool_options o = {.max_workers = workers};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    return ex;
}

static inline corio_executor *t_ppool_opts(const corio_process_pool_options *o) {
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(o, &ex), 0);
    return ex;
}

static inline void t_no_children(void) {
    errno = 0;
    pid_t r = waitpid(-1, NULL, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD, "a child remains (waitpid -> %d)", (int)r);
}

#endif /* CORIO_T_CONFORMANCE_H */
