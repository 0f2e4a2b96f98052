/* bench_switch — cost of a coroutine context switch, against Boost.Context.
 *
 * A "switch" is one transfer of control from one context to another. Two
 * contexts ping-pong; a round trip is two switches, so ns/switch = time of
 * N round trips / (2 N). Measured in the same run:
 *
 *   corio   corio__fiber_switch (the API the runtime uses: without
 *           sanitizers inline, corio__ctx_switch_inline plus the overflow
 *           handler's current-fiber store; with a sanitizer a function
 *           that adds its annotations)
 *   raw     corio__ctx_switch alone (the out-of-line assembly switch)
 *   boost   Boost.Context's jump_fcontext (libboost_context), the usual
 *           reference for a hand-written switch; skipped with a message
 *           when the library was not found at build time
 *
 * and the cost of getting a stack: a fresh guard-paged mapping (mmap +
 * guard + munmap) against the per-loop pool (cached alloc + free).
 *
 * Each figure is the best of several runs (least disturbed by the rest of
 * the machine); the three switches take turns run by run. Output lines are "label: value unit". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "ctx.h"
#include "fiber.h"
#include "stack.h"

#ifdef BENCH_HAVE_BOOST_CONTEXT
/* Boost.Context's low-level API; its assembly has C linkage. */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
#endif

#define ROUNDS 2000000L  /* round trips per run */
#define RUNS 7           /* runs per figure; the best is kept */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Clear the calling context's MXCSR exception flags, then (differ) raise
 * the inexact flag, as an inexact operation would. Elsewhere nothing:
 * AArch64's status flags (FPSR) are apart from its control (FPCR). */
static void set_status_flags(int differ)
{
#if defined(__x86_64__)
    _mm_setcsr((_mm_getcsr() & ~0x3fu) | (differ ? 0x20u : 0u));
#else
    (void)differ;
#endif
}

/* --- corio__fiber_switch --- */

static corio__fiber main_f, peer_f;

static void fiber_peer(void *arg)
{
    (void)arg;
    for (;;)
        corio__fiber_switch(&peer_f, &main_f);
}

static void fiber_start(corio__stack *st)
{
    corio__fiber_init_thread(&main_f);
    corio__fiber_init(&peer_f, st, 1, fiber_peer, NULL);
    corio__fiber_switch(&main_f, &peer_f);  /* start it */
}

/* One run: ns per switch. */
static double fiber_run(void)
{
    double t0 = now_ns();
    for (long i = 0; i < ROUNDS; i++)
        corio__fiber_switch(&main_f, &peer_f);
    return (now_ns() - t0) / (2.0 * ROUNDS);
}

/* The peer stays suspended forever (no destructors run on its stack: it
 * holds none). */
static void fiber_stop(void)
{
    corio__fiber_fini(&peer_f);
    corio__fiber_fini(&main_f);
}

/* --- corio__ctx_switch --- */

static corio__ctx main_c, peer_c;

static void ctx_peer(void *arg)
{
    (void)arg;
    for (;;)
        corio__ctx_switch(&peer_c, &main_c);
}

static void ctx_start(corio__stack *st)
{
    corio__ctx_make(&peer_c, st->lo, st->size, ctx_peer, NULL);
    corio__ctx_switch(&main_c, &peer_c);
}

static double ctx_run(void)
{
    double t0 = now_ns();
    for (long i = 0; i < ROUNDS; i++)
        corio__ctx_switch(&main_c, &peer_c);
    return (now_ns() - t0) / (2.0 * ROUNDS);
}

/* --- Boost.Context --- */

#ifdef BENCH_HAVE_BOOST_CONTEXT
static void boost_peer(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, NULL);
}

static transfer_t boost_t;

static void boost_start(corio__stack *st)
{
    /* make_fcontext takes the top of the stack. */
    fcontext_t peer = make_fcontext((char *)st->lo + st->size, st->size, boost_peer);
    boost_t = jump_fcontext(peer, NULL);
}

static double boost_run(void)
{
    transfer_t t = boost_t;
    double t0 = now_ns();
    for (long i = 0; i < ROUNDS; i++)
        t = jump_fcontext(t.fctx, NULL);
    double ns = (now_ns() - t0) / (2.0 * ROUNDS);
    boost_t = t;
    return ns;
}
#endif

/* --- stack creation --- */

#define STACK_ITERS 20000L

static double bench_stack_fresh(void)
{
    corio__stack_pool p;
    corio__stack_pool_init(&p, 0, 0);  /* cache nothing: every alloc maps */
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < STACK_ITERS; i++) {
            corio__stack *s;
            if (corio__stack_alloc(&p, 0, &s) != 0)
                abort();
            corio__stack_free(&p, s);
        }
        double ns = (now_ns() - t0) / STACK_ITERS;
        if (ns < best)
            best = ns;
    }
    corio__stack_pool_fini(&p);
    return best;
}

static double bench_stack_pooled(void)
{
    corio__stack_pool p;
    corio__stack_pool_init(&p, 0, 64);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < STACK_ITERS * 50; i++) {
            corio__stack *s;
            if (corio__stack_alloc(&p, 0, &s) != 0)
                abort();
            corio__stack_free(&p, s);
        }
        double ns = (now_ns() - t0) / (STACK_ITERS * 50);
        if (ns < best)
            best = ns;
    }
    corio__stack_pool_fini(&p);
    return best;
}

/* A fresh stack also costs page faults as it is first touched: time
 * mapping + touching the top page (what a new coroutine does at once). */
static double bench_stack_fresh_touch(void)
{
    corio__stack_pool p;
    corio__stack_pool_init(&p, 0, 0);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < STACK_ITERS; i++) {
            corio__stack *s;
            if (corio__stack_alloc(&p, 0, &s) != 0)
                abort();
            ((volatile char *)s->lo)[s->size - 1] = 1;
            corio__stack_free(&p, s);
        }
        double ns = (now_ns() - t0) / STACK_ITERS;
        if (ns < best)
            best = ns;
    }
    corio__stack_pool_fini(&p);
    return best;
}

static void print_machine(void)
{
    struct utsname u;
    if (uname(&u) == 0)
        printf("machine: %s, kernel %s\n", u.machine, u.release);
    FILE *fp = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (fp != NULL && fgets(line, sizeof line, fp) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v != NULL)
                printf("cpu: %s", v + 2);
            break;
        }
    }
    if (fp != NULL)
        fclose(fp);
#if defined(CORIO__ASAN) || defined(CORIO__TSAN)
    printf("note: built with a sanitizer; figures are not representative\n");
#endif
}

int main(void)
{
    print_machine();
    /* One peer per side, each on its own stack, started once; then the
     * sides take turns run by run (their order rotating), so that a burst
     * of load or a frequency change hits all of them alike. Best run of
     * each side. */
    corio__stack_pool pool;
    corio__stack *st[3];
    if (corio__stack_pool_init(&pool, 0, 4) != 0 || corio__stack_alloc(&pool, 0, &st[0]) != 0 ||
        corio__stack_alloc(&pool, 0, &st[1]) != 0 || corio__stack_alloc(&pool, 0, &st[2]) != 0) {
        fprintf(stderr, "bench_switch: no stack\n");
        return 1;
    }
    double (*run[3])(void) = {fiber_run, ctx_run, NULL};
    set_status_flags(0); /* the peers start with clear status flags */
    fiber_start(st[0]);
    ctx_start(st[1]);
#ifdef BENCH_HAVE_BOOST_CONTEXT
    boost_start(st[2]);
    run[2] = boost_run;
#endif
    /* Each run twice: with the FP status flags (MXCSR's exception flags,
     * x87 status) alike in both contexts, as in a ping-pong that does no
     * FP arithmetic, and with them differing, as when one context has
     * done an inexact operation since (every division like 1.0/3, every
     * double printed): the status flags are not control state, but a
     * switch that loads the target's MXCSR whole rewrites them every time. */
    double best[3] = {1e30, 1e30, 1e30}, dirty[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < RUNS; r++)
        for (int k = 0; k < 6; k++) {
            int side = (r + k) % 3, differ = k >= 3;
            if (!run[side])
                continue;
            set_status_flags(differ);
            double ns = run[side]();
            double *b = differ ? &dirty[side] : &best[side];
            if (ns < *b)
                *b = ns;
        }
    set_status_flags(0);
    fiber_stop();
    double fib = best[0], raw = best[1];
    printf("switch corio: %.2f ns\n", fib);
    printf("switch corio raw ctx: %.2f ns\n", raw);
#ifdef BENCH_HAVE_BOOST_CONTEXT
    double boost = best[2];
    printf("switch boost: %.2f ns\n", boost);
    printf("ratio corio/boost: %.2f\n", fib / boost);
    printf("ratio corio raw ctx/boost: %.2f\n", raw / boost);
#else
    printf("switch boost: skipped (libboost_context not found at build time)\n");
#endif
#if defined(__x86_64__)
    printf("switch corio, FP status flags differing: %.2f ns\n", dirty[0]);
    printf("switch corio raw ctx, FP status flags differing: %.2f ns\n", dirty[1]);
#ifdef BENCH_HAVE_BOOST_CONTEXT
    printf("switch boost, FP status flags differing: %.2f ns\n", dirty[2]);
    printf("ratio corio/boost, FP status flags differing: %.2f\n", dirty[0] / dirty[2]);
#endif
#endif
    for (int i = 0; i < 3; i++)
        corio__stack_free(&pool, st[i]);
    corio__stack_pool_fini(&pool);

    double fresh = bench_stack_fresh();
    double touch = bench_stack_fresh_touch();
    double pooled = bench_stack_pooled();
    printf("stack fresh (mmap+guard+munmap): %.0f ns\n", fresh);
    printf("stack fresh + first page fault: %.0f ns\n", touch);
    printf("stack pooled (alloc+free): %.2f ns\n", pooled);
    printf("ratio fresh/pooled: %.0f\n", fresh / pooled);
    return 0;
}
