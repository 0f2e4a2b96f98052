/* Helpers shared by the fiber suites (test_fiber.c, test_fiber_stack.c):
 * the valgrind and TSan switches (T_ON_VALGRIND, T_EXPECT_FAULT,
 * T_FAULT_HANDLED, T_SLOW), and the thread's main fiber with a stack pool
 * (t_main, t_pool, t_setup, t_teardown).
 *
 * Everything is static (the functions static inline): each suite is one
 * translation unit and uses only part of it. */
#ifndef CORIO_T_FIBER_H
#define CORIO_T_FIBER_H

#include <check.h>
#include <stdint.h>

#include "config.h"
#include "ctx.h"
#include "fiber.h"
#include "stack.h"

#ifdef CORIO_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#define T_ON_VALGRIND() RUNNING_ON_VALGRIND
/* In children that fault on purpose: memcheck would count it an error. */
#define T_EXPECT_FAULT() VALGRIND_DISABLE_ERROR_REPORTING
#define T_FAULT_HANDLED() VALGRIND_ENABLE_ERROR_REPORTING
#else
#define T_FAULT_HANDLED() ((void)0)
#define T_ON_VALGRIND() 0
#define T_EXPECT_FAULT() ((void)0)
#endif

/* TSan makes fiber creation expensive and caps live fibers (each is a
 * TSan thread context, at most 8128): smaller counts there. */
#if defined(CORIO__TSAN)
#define T_SLOW 1
#else
#define T_SLOW T_ON_VALGRIND()
#endif

/* ---- helpers --------------------------------------------------------------- */

/* A main (thread) fiber, a pool and one coroutine fiber, shared by the
 * simple tests. Each test sets up and tears down its own. */
static corio__stack_pool t_pool;
static corio__fiber t_main;

static inline void t_setup(void)
{
    ck_assert_int_eq(corio__stack_pool_init(&t_pool, 0, 8), 0);
    corio__fiber_init_thread(&t_main);
}

static inline void t_teardown(void)
{
    corio__fiber_fini(&t_main);
    corio__stack_pool_fini(&t_pool);
}

#endif /* CORIO_T_FIBER_H */
