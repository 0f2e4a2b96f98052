/* Helpers shared by the process pool suites (test_process_pool.c,
 * test_process_pool_workers.c): t_shm, the page shared with the workers,
 * mapped by the fixture (t_setup, t_teardown); a pool of n workers; the
 * jobs both use (add one, reverse bytes, sleep, die by SIGKILL); no child
 * left, and an integer result.
 *
 * Jobs that need to tell the test something while still running (their pid)
 * write to t_shm, a MAP_SHARED page mapped before the pool is created and
 * so inherited by the fork server and every worker.
 *
 * Everything is static (the functions static inline): each suite is one
 * translation unit and uses only part of it. Include after corio.h and
 * t_helpers.h. */
#ifndef CORIO_T_PROCESS_POOL_H
#define CORIO_T_PROCESS_POOL_H

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "corio.h"
#include "t_helpers.h"

#ifdef CORIO_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Shared with the workers: [0] pid of the job that wants to be killed. */
static _Atomic int *t_shm;

static inline void t_setup(void) {
    t_shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(t_shm, MAP_FAILED);
}

static inline void t_teardown(void) { munmap((void *)t_shm, 4096); }

static inline corio_executor *t_pool(int workers) {
    corio_process_pool_options o = {.max_workers = workers};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    return ex;
}

/* ---- jobs (they run in the workers) ------------------------------------ */

static inline int t_add_one(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg + 1);
    return 0;
}

/* Reverse the argument bytes into a malloc'd result. */
static inline int t_reverse(void *arg, corio_value *out) {
    const corio_value *in = arg;
    unsigned char *r = in->len ? malloc(in->len) : NULL;
    for (size_t i = 0; i < in->len; i++)
        r[i] = ((const unsigned char *)in->ptr)[in->len - 1 - i];
    out->ptr = r;
    out->len = in->len;
    out->dtor = free;
    return 0;
}

static inline int t_sleep_ms(void *arg, corio_value *out) {
    (void)out;
    struct timespec ts = {(time_t)((uintptr_t)arg / 1000), (long)((uintptr_t)arg % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return 0;
}

static inline int t_self_kill(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    raise(SIGKILL);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static inline void t_no_children(void) {
    errno = 0;
    pid_t r = waitpid(-1, NULL, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD, "a child remains (waitpid -> %d, %s)", (int)r,
                  strerror(errno));
}

static inline uintptr_t t_result_int(corio_future *f) {
    void *v = NULL;
    int r = corio_future_result(f, 30, &v);
    ck_assert_msg(r == 0, "result: %s", corio_error_name(r));
    return (uintptr_t)v;
}

#endif /* CORIO_T_PROCESS_POOL_H */
