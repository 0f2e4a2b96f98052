/* Helpers shared by the runtime suites (test_runtime.c,
 * test_runtime_await.c, test_runtime_cancel.c): a runtime of n unpinned
 * loops, joining a coroutine from a plain thread, a coroutine that returns
 * its argument.
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. Include after corio.h and t_helpers.h. */
#ifndef CORIO_T_RUNTIME_H
#define CORIO_T_RUNTIME_H

#include <check.h>

#include "corio.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

/* A runtime with n loops, unpinned (tests run beside other suites). */
static inline corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    ck_assert_ptr_nonnull(rt);
    return rt;
}

/* Wait (from a plain thread) for a coroutine, expect success, return its
 * result pointer, and drop the reference. */
static inline void *t_join(corio_future *f) {
    void *v = (void *)1;
    int r = corio_future_result(f, 60, &v);
    ck_assert_msg(r == 0, "coroutine ended with %d (%s)", r, corio_error_name(r));
    corio_future_unref(f);
    return v;
}

static inline int t_ret_arg(void *arg, corio_value *out) {
    out->ptr = arg;
    return 0;
}

#endif /* CORIO_T_RUNTIME_H */
