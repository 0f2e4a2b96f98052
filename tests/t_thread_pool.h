/* Helpers shared by the thread-pool suites (test_thread_pool.c,
 * test_thread_pool_tasks.c, test_thread_pool_stress.c): a counting task,
 * creating a pool and submitting to it, waiting for gated tasks to start.
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. Include after corio.h, t_helpers.h and t_tasks.h. */
#ifndef CORIO_T_THREAD_POOL_H
#define CORIO_T_THREAD_POOL_H

#include <check.h>
#include <stdatomic.h>

#include "corio.h"
#include "t_helpers.h"
#include "t_tasks.h"

/* ---- helpers --------------------------------------------------------------- */

/* Counts a run in the t_ctl and returns at once. */
static inline int t_count(void *arg, corio_value *out) {
    t_ctl *c = arg;
    atomic_fetch_add(&c->ran, 1);
    out->ptr = (void *)0x600d;
    return 0;
}

static inline corio_executor *t_pool(int max_workers) {
    corio_thread_pool_options o = {0};
    o.max_workers = max_workers;
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    ck_assert_ptr_nonnull(ex);
    return ex;
}

static inline corio_future *t_submit(corio_executor *ex, corio_fn fn, void *arg) {
    int err = 0;
    corio_future *f = corio_executor_submit(ex, fn, arg, &err);
    ck_assert_msg(f != NULL, "submit failed: %s", corio_error_name(err));
    return f;
}

/* Wait for `n` gated tasks to have started (or fail the test). */
static inline void t_wait_started(t_ctl *c, int n) {
    for (int i = 0; i < n; i++)
        ck_assert_msg(t_gate_pass_within(&c->started, 60.0), "task %d never started", i);
}

#endif /* CORIO_T_THREAD_POOL_H */
