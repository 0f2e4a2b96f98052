/* Tests for the fiber layer's stacks: the stack pool (reuse, sizes, trim),
 * the guard page, 100k fibers one after another and 100k live idle ones
 * (RSS); and the stack-overflow handler, each case in a forked child:
 * overflows reported, other faults chained to the previous handler, an
 * entry function that returns, the alternate signal stack. The context
 * switch is in test_fiber.c; the helpers both use in t_fiber.h. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "fiber.h"
#include "stack.h"

#include "t_fiber.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

/* Run fn in a forked child whose stderr goes to a pipe; return the wait
 * status and what the child wrote (NUL-terminated, truncated to cap). */
static int t_run_child(void (*fn)(void), char *out, size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char chunk[512];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Keep what fits, drain the rest (the child must not get EPIPE). */
        size_t keep = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
        memcpy(out + len, chunk, keep);
        len += keep;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Stacks                                                                     */

START_TEST(test_stack_pool_reuse)
{
    corio__stack_pool p;
    ck_assert_int_eq(corio__stack_pool_init(&p, 0, 2), 0);
    corio__stack *a, *b, *c, *d;
    ck_assert_int_eq(corio__stack_alloc(&p, 0, &a), 0);
    ck_assert_uint_eq(a->size, CORIO__STACK_DEFAULT);
    ck_assert_ptr_eq(a->lo, (char *)a->map + CORIO__STACK_GUARD);
    ck_assert_uint_eq(a->map_size, CORIO__STACK_GUARD + a->size);
    memset(a->lo, 0xab, a->size);           /* all of it is usable */
    corio__stack_free(&p, a);
    ck_assert_int_eq(corio__stack_alloc(&p, 0, &b), 0);
    ck_assert_ptr_eq(b, a);                 /* same stack back */
    ck_assert_int_eq(corio__stack_alloc(&p, 10000, &c), 0);
    ck_assert_uint_eq(c->size % 4096, 0);   /* rounded to pages */
    ck_assert_uint_ge(c->size, 10000);
    corio__stack_free(&p, c);
    ck_assert_int_eq(corio__stack_alloc(&p, 0, &d), 0);
    ck_assert_ptr_ne(d, c);                 /* sizes are not mixed */
    corio__stack *e;
    ck_assert_int_eq(corio__stack_alloc(&p, 10000, &e), 0);
    ck_assert_ptr_eq(e, c);                 /* odd size reused too */
    corio__stack_free(&p, b);
    corio__stack_free(&p, d);
    corio__stack_free(&p, e);               /* cache full (2): unmapped */
    ck_assert_uint_eq(p.n_cached, 2);
    corio__stack_pool_trim(&p, 1);
    ck_assert_uint_eq(p.n_cached, 1);
    corio__stack_pool_fini(&p);
    ck_assert_uint_eq(p.n_cached, 0);

    ck_assert_int_eq(corio__stack_pool_init(&p, 100, 0), 0);
    ck_assert_uint_eq(p.default_size, 4096);
    ck_assert_int_eq(corio__stack_alloc(&p, SIZE_MAX - 10, &a), -EINVAL);
    corio__stack_pool_fini(&p);
}
END_TEST

/* The guard really faults (checked in a child). */
static void t_touch_guard_child(void)
{
    corio__stack_pool p;
    corio__stack *s;
    if (corio__stack_pool_init(&p, 0, 1) != 0 || corio__stack_alloc(&p, 0, &s) != 0)
        _exit(3);
    volatile char *g = (char *)s->lo - 1;
    T_EXPECT_FAULT();
    *g = 1;
    _exit(4);
}

START_TEST(test_stack_guard_faults)
{
    char out[256];
    int st = t_run_child(t_touch_guard_child, out, sizeof out);
#if defined(CORIO__ASAN) || defined(CORIO__TSAN)
    /* The sanitizer's SEGV handler reports and exits with an error. */
    ck_assert_msg(strstr(out, "SEGV") != NULL, "status %#x, child said: %s", st, out);
#else
    ck_assert_msg(WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS),
                  "status %#x", st);
#endif
}
END_TEST

/* 100k fibers one after another: each runs, exits and gives its stack
 * back; the pool keeps a few and the rest are unmapped. */
static void t_exit_fiber(void *p)
{
    corio__fiber **pair = p;
    corio__fiber_exit(pair[0], pair[1]);
}

START_TEST(test_100k_fibers_sequential)
{
    t_setup();
    long n = T_SLOW ? 5000 : 100000;
    long bad = 0;
    for (long i = 0; i < n; i++) {
        corio__fiber f;
        corio__fiber *pair[2] = { &f, &t_main };
        corio__stack *st;
        bad += corio__stack_alloc(&t_pool, 0, &st) != 0;
        bad += corio__fiber_init(&f, st, (uint64_t)i, t_exit_fiber, pair) != 0;
        corio__fiber_switch(&t_main, &f);
        corio__fiber_fini(&f);
        corio__stack_free(&t_pool, st);
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_le(t_pool.n_cached, 8);
    ck_assert_uint_eq(t_pool.n_live, 0);
    t_teardown();
}
END_TEST

static long t_rss_kib(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (fp == NULL)
        return -1;
    if (fscanf(fp, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(fp);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* 100k live, idle fibers (each started and suspended in its entry):
 * resident memory must stay under 1 GiB. With mprotect guards (kernels
 * before 6.13) each stack costs two VMAs and the mapping-count limit
 * (vm.max_map_count, 65530 by default) stops us first; then we measure
 * as many as fit and extrapolate the per-fiber cost to 100k. */
struct t_idle_arg {
    corio__fiber *self, *main;
};

static void t_idle_fiber(void *p)
{
    struct t_idle_arg *a = p;
    corio__fiber_switch(a->self, a->main);
    corio__fiber_exit(a->self, a->main);
}

START_TEST(test_100k_idle_fibers_rss)
{
    /* Under valgrind and TSan: 4000 live fibers, extrapolated. */
    const long N = T_SLOW ? 4000 : 100000;
    corio__stack_pool p;
    ck_assert_int_eq(corio__stack_pool_init(&p, 0, 0), 0);
    corio__fiber main_f;
    corio__fiber_init_thread(&main_f);
    corio__fiber *fs = calloc(N, sizeof *fs);
    struct t_idle_arg *args = calloc(N, sizeof *args);
    ck_assert_ptr_nonnull(fs);
    ck_assert_ptr_nonnull(args);
    long rss0 = t_rss_kib();
    long made = 0;
    for (; made < N; made++) {
        corio__stack *st;
        int err = corio__stack_alloc(&p, 0, &st);
        if (err == -ENOMEM)
            break;
        if (err != 0)
            ck_abort_msg("stack_alloc: %d", err);
        args[made] = (struct t_idle_arg){ .self = &fs[made], .main = &main_f };
        if (corio__fiber_init(&fs[made], st, (uint64_t)made, t_idle_fiber, &args[made]) != 0)
            ck_abort_msg("fiber_init failed");
        corio__fiber_switch(&main_f, &fs[made]);
    }
    long rss1 = t_rss_kib();
    ck_assert_int_ge(made, N < 20000 ? N : 20000);
    double per_fiber_kib = (double)(rss1 - rss0) / (double)made;
    fprintf(stderr, "idle fibers: %ld live, %.2f KiB RSS each, %.0f MiB for 100k\n",
            made, per_fiber_kib, per_fiber_kib * 100000 / 1024);
    /* Valgrind's and TSan's own bookkeeping dominate RSS there; ASan's
     * swapcontext interceptor clears the whole stack's shadow. */
#if defined(CORIO_CTX_PORTABLE) && defined(CORIO__ASAN)
    if (0)
#else
    if (!T_SLOW)
#endif
        ck_assert_msg(per_fiber_kib * 100000 <= 1024.0 * 1024.0,
                      "%.2f KiB per idle fiber", per_fiber_kib);
    for (long i = 0; i < made; i++) {
        corio__fiber_switch(&main_f, &fs[i]);
        corio__stack *st = fs[i].stack;
        corio__fiber_fini(&fs[i]);
        corio__stack_free(&p, st);
    }
    corio__stack_pool_fini(&p);
    corio__fiber_fini(&main_f);
    free(fs);
    free(args);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Stack overflow and signal chaining (each in a forked child)                */

static corio__fiber t_child_main, t_child_fiber;

static volatile int t_depth_limit = 1 << 30;  /* never reached */

static int t_recurse(volatile char *prev, int depth)
{
    volatile char buf[512];
    if (depth >= t_depth_limit)
        return 0;
    buf[0] = (char)depth;
    buf[511] = prev != NULL ? prev[0] : 0;
    return t_recurse(buf, depth + 1) + buf[0];  /* not a tail call */
}

static void t_overflow_entry(void *p)
{
    (void)p;
    t_recurse(NULL, 0);
    corio__fiber_exit(&t_child_fiber, &t_child_main);
}

/* A large frame that jumps over the guard and lands below it. */
static void t_big_frame_entry(void *p)
{
    (void)p;
    volatile char *lo = t_child_fiber.stack->lo;
    T_EXPECT_FAULT();
    lo[-(long)CORIO__STACK_GUARD - 8192] = 1;  /* below the guard, within 64 KiB */
    corio__fiber_exit(&t_child_fiber, &t_child_main);
}

static void t_child_run_on_fiber(void (*entry)(void *), size_t stack_size)
{
    corio__stack_pool p;
    corio__stack *st;
    if (corio__overflow_install() != 0 || corio__overflow_thread_init() != 0)
        _exit(10);
    if (corio__stack_pool_init(&p, stack_size, 0) != 0 || corio__stack_alloc(&p, 0, &st) != 0)
        _exit(11);
    corio__fiber_init_thread(&t_child_main);
    if (corio__fiber_init(&t_child_fiber, st, 4242, entry, NULL) != 0)
        _exit(12);
    corio__fiber_switch(&t_child_main, &t_child_fiber);
    _exit(13);
}

static void t_overflow_child(void)
{
    t_child_run_on_fiber(t_overflow_entry, 64 * 1024);
}

static void t_big_frame_child(void)
{
    /* mmap places new mappings top-down, so below a fresh stack there is
     * usually a hole and the write faults; if not, the test says so. */
    t_child_run_on_fiber(t_big_frame_entry, 64 * 1024);
}

START_TEST(test_overflow_detected)
{
    char out[4096];
    int st = t_run_child(t_overflow_child, out, sizeof out);
    ck_assert_msg(strstr(out, "corio: coroutine stack overflow (coroutine 4242)\n") != NULL,
                  "child said: %s", out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
}
END_TEST

START_TEST(test_overflow_big_frame_detected)
{
    char out[4096];
    int st = t_run_child(t_big_frame_child, out, sizeof out);
    /* Below the guard there may be another mapping; if the write did not
     * fault, the child exits 13 and there is nothing to check. */
    if (WIFEXITED(st) && WEXITSTATUS(st) == 13)
        return;
    ck_assert_msg(strstr(out, "corio: coroutine stack overflow (coroutine 4242)\n") != NULL,
                  "child said: %s", out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
}
END_TEST

/* Chaining: a fault that is not an overflow reaches the handler that was
 * there before corio's. */
static void *t_noaccess;

static void t_prev_sigaction(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    static const char msg[] = "previous sigaction handler\n";
    T_FAULT_HANDLED();
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    _exit(sig == SIGSEGV && si->si_addr == t_noaccess ? 42 : 43);
}

static void t_prev_handler(int sig)
{
    static const char msg[] = "previous plain handler\n";
    T_FAULT_HANDLED();
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    _exit(sig == SIGSEGV ? 44 : 45);
}

static void t_fault_entry(void *p)
{
    (void)p;
    T_EXPECT_FAULT();
    *(volatile char *)t_noaccess = 1;  /* far from any guard */
    corio__fiber_exit(&t_child_fiber, &t_child_main);
}

static void t_fault_setup(void)
{
    t_noaccess = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t_noaccess == MAP_FAILED)
        _exit(20);
}

static void t_chain_sigaction_child(void)
{
    t_fault_setup();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = t_prev_sigaction;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    t_child_run_on_fiber(t_fault_entry, 0);
}

static void t_chain_handler_child(void)
{
    t_fault_setup();
    signal(SIGSEGV, t_prev_handler);
    t_child_run_on_fiber(t_fault_entry, 0);
}

static void t_chain_default_child(void)
{
    t_fault_setup();
    signal(SIGSEGV, SIG_DFL);
    t_child_run_on_fiber(t_fault_entry, 0);
}

START_TEST(test_overflow_chains_sigaction)
{
    char out[4096];
    int st = t_run_child(t_chain_sigaction_child, out, sizeof out);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 42, "status %#x, child said: %s", st, out);
    ck_assert_ptr_null(strstr(out, "stack overflow"));
}
END_TEST

START_TEST(test_overflow_chains_handler)
{
    char out[4096];
    int st = t_run_child(t_chain_handler_child, out, sizeof out);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 44, "status %#x, child said: %s", st, out);
}
END_TEST

START_TEST(test_overflow_chains_default)
{
    char out[4096];
    int st = t_run_child(t_chain_default_child, out, sizeof out);
    /* Under ASan/TSan the sanitizer's own SEGV handler is the previous one:
     * it reports and exits with an error instead. */
#if defined(CORIO__ASAN) || defined(CORIO__TSAN)
    ck_assert_msg(!(WIFEXITED(st) && WEXITSTATUS(st) == 13), "status %#x", st);
#else
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x, child said: %s", st, out);
#endif
    ck_assert_ptr_null(strstr(out, "stack overflow"));
}
END_TEST

/* An overflow while a previous handler exists is still reported by corio. */
static void t_overflow_with_prev_child(void)
{
    signal(SIGSEGV, t_prev_handler);
    t_child_run_on_fiber(t_overflow_entry, 64 * 1024);
}

START_TEST(test_overflow_not_chained)
{
    char out[4096];
    int st = t_run_child(t_overflow_with_prev_child, out, sizeof out);
    ck_assert_msg(strstr(out, "corio: coroutine stack overflow (coroutine 4242)\n") != NULL,
                  "child said: %s", out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
}
END_TEST

/* An entry function that returns aborts with a message. */
static void t_returning_entry(void *p)
{
    (void)p;
}

static void t_return_child(void)
{
    t_child_run_on_fiber(t_returning_entry, 0);
}

START_TEST(test_entry_return_aborts)
{
    char out[4096];
    int st = t_run_child(t_return_child, out, sizeof out);
    ck_assert_msg(strstr(out, "corio: fiber entry function returned\n") != NULL,
                  "child said: %s", out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
}
END_TEST

/* The alternate signal stack is set up once per thread and released. */
START_TEST(test_sigaltstack_lifecycle)
{
    stack_t before, during, after;
    ck_assert_int_eq(sigaltstack(NULL, &before), 0);
    ck_assert_int_eq(corio__overflow_thread_init(), 0);
    ck_assert_int_eq(corio__overflow_thread_init(), 0);  /* idempotent */
    ck_assert_int_eq(sigaltstack(NULL, &during), 0);
    ck_assert(!(during.ss_flags & SS_DISABLE));
    corio__overflow_thread_fini();
    ck_assert_int_eq(sigaltstack(NULL, &after), 0);
    ck_assert_int_eq(after.ss_flags & SS_DISABLE, before.ss_flags & SS_DISABLE);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *fiber_stack_suite(void)
{
    Suite *s = suite_create("fiber_stack");
    TCase *tc = tcase_create("stack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stack_pool_reuse);
    tcase_add_test(tc, test_stack_guard_faults);
    tcase_add_test(tc, test_100k_fibers_sequential);
    tcase_add_test(tc, test_100k_idle_fibers_rss);
    suite_add_tcase(s, tc);

    tc = tcase_create("overflow");
    tcase_add_test(tc, test_overflow_detected);
    tcase_add_test(tc, test_overflow_big_frame_detected);
    tcase_add_test(tc, test_overflow_chains_sigaction);
    tcase_add_test(tc, test_overflow_chains_handler);
    tcase_add_test(tc, test_overflow_chains_default);
    tcase_add_test(tc, test_overflow_not_chained);
    tcase_add_test(tc, test_entry_return_aborts);
    tcase_add_test(tc, test_sigaltstack_lifecycle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fiber_stack_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
