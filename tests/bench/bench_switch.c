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
 * the machine). Output lines are "label: value unit". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

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

/* --- corio__fiber_switch --- */

static corio__fiber main_f, peer_f;

static void fiber_peer(void *arg)
{
    (void)arg;
    for (;;)
        corio__fiber_switch(&peer_f, &main_f);
}

static double bench_fiber(corio__stack *st)
{
    corio__fiber_init_thread(&main_f);
    corio__fiber_init(&peer_f, st, 1, fiber_peer, NULL);
    corio__fiber_switch(&main_f, &peer_f);  /* start it */
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < ROUNDS; i++)
            corio__fiber_switch(&main_f, &peer_f);
        double ns = (now_ns() - t0) / (2.0 * ROUNDS);
        if (ns < best)
            best = ns;
    }
    /* The peer stays suspended forever; its stack is reused by the next
     * benchmark (no destructors run on it: it holds none). */
    corio__fiber_fini(&peer_f);
    corio__fiber_fini(&main_f);
    return best;
}

/* --- corio__ctx_switch --- */

static corio__ctx main_c, peer_c;

static void ctx_peer(void *arg)
{
    (void)arg;
    for (;;)
        corio__ctx_switch(&peer_c, &main_c);
}

static double bench_ctx(corio__stack *st)
{
    corio__ctx_make(&peer_c, st->lo, st->size, ctx_peer, NULL);
    corio__ctx_switch(&main_c, &peer_c);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < ROUNDS; i++)
            corio__ctx_switch(&main_c, &peer_c);
        double ns = (now_ns() - t0) / (2.0 * ROUNDS);
        if (ns < best)
            best = ns;
    }
    return best;
}

/* --- Boost.Context --- */

#ifdef BENCH_HAVE_BOOST_CONTEXT
static void boost_peer(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, NULL);
}

static double bench_boost(corio__stack *st)
{
    /* make_fcontext takes the top of the stack. */
    fcontext_t peer = make_fcontext((char *)st->lo + st->size, st->size, boost_peer);
    transfer_t t = jump_fcontext(peer, NULL);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < ROUNDS; i++)
            t = jump_fcontext(t.fctx, NULL);
        double ns = (now_ns() - t0) / (2.0 * ROUNDS);
        if (ns < best)
            best = ns;
    }
    return best;
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
    corio__stack_pool pool;
    corio__stack *st;
    if (corio__stack_pool_init(&pool, 0, 4) != 0 || corio__stack_alloc(&pool, 0, &st) != 0) {
        fprintf(stderr, "bench_switch: no stack\n");
        return 1;
    }
    double raw = bench_ctx(st);
    double fib = bench_fiber(st);
    printf("switch corio: %.2f ns\n", fib);
    printf("switch corio raw ctx: %.2f ns\n", raw);
#ifdef BENCH_HAVE_BOOST_CONTEXT
    double boost = bench_boost(st);
    printf("switch boost: %.2f ns\n", boost);
    printf("ratio corio/boost: %.2f\n", fib / boost);
    printf("ratio corio raw ctx/boost: %.2f\n", raw / boost);
#else
    printf("switch boost: skipped (libboost_context not found at build time)\n");
#endif
    corio__stack_free(&pool, st);
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
