/* bench_scope — what structured concurrency and introspection cost, each
 * against a baseline measured in the same run (best of 5 rounds).
 *
 *  - group: spawn 1000 empty coroutines into a task group and join the
 *    group, from a coroutine of the same loop (ns per child); baseline:
 *    the same with bare corio_spawn + corio_future_result + unref in
 *    batches of 1000. The bound: overhead <= 20 %.
 *  - scope: corio_scope_enter + corio_scope_exit (no deadline, and with a
 *    timeout, which reads the clock at enter and at exit), in a coroutine
 *    (ns per pair); baseline: one corio_now_ns() call.
 *  - dump: corio_runtime_dump of 100k parked coroutines to /dev/null (ms),
 *    with full backtraces (the default), with the frame-pointer walk and
 *    with none (CORIO_DUMP_BACKTRACE); baseline: spawning those 100k
 *    coroutines.
 *  - metrics: corio_loop_metrics_get of all loops, and corio_metrics_format
 *    of the whole Prometheus text (ns per call); baseline: corio_now_ns().
 *
 * Usage: bench_scope [--quick]   (--quick: 10x fewer iterations)
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"

#include "bench_common.h"

static size_t rounds_n = 1000;     /* batches of 1000 children per round */
static size_t scope_iters = 10000000;
static size_t idle_coros = 100000;
static size_t metric_iters = 1000000;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int code) {
    fprintf(stderr, "bench_scope: %s: %s\n", what, corio_strerror(code));
    exit(1);
}

static int empty(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

enum { BATCH = 1000 };

/* ns per child, spawned bare in batches. */
static double bare_batches(void) {
    static corio_future *fs[BATCH];
    double t0 = now_s();
    for (size_t r = 0; r < rounds_n; r++) {
        for (size_t i = 0; i < BATCH; i++) {
            int err;
            if (!(fs[i] = corio_spawn(empty, NULL, &err)))
                die("corio_spawn", err);
        }
        for (size_t i = 0; i < BATCH; i++) {
            corio_future_result(fs[i], CORIO_FOREVER, NULL);
            corio_future_unref(fs[i]);
        }
    }
    return (now_s() - t0) / (double)(rounds_n * BATCH) * 1e9;
}

/* ns per child, spawned into a group (one group per batch). */
static double group_batches(void) {
    double t0 = now_s();
    for (size_t r = 0; r < rounds_n; r++) {
        corio_group *g;
        int e = corio_group_create(CORIO_GROUP_FAIL_FAST, &g);
        if (e < 0)
            die("corio_group_create", e);
        for (size_t i = 0; i < BATCH; i++)
            if ((e = corio_group_spawn(g, empty, NULL, NULL)) < 0)
                die("corio_group_spawn", e);
        if ((e = corio_group_join(g, CORIO_FOREVER)) < 0)
            die("corio_group_join", e);
        corio_group_destroy(g);
    }
    return (now_s() - t0) / (double)(rounds_n * BATCH) * 1e9;
}

static double scope_pairs(int with_timeout) {
    corio_scope s;
    double t0 = now_s();
    for (size_t i = 0; i < scope_iters; i++) {
        if (with_timeout)
            corio_scope_enter_timeout(&s, 10);
        else
            corio_scope_enter(&s, CORIO_NO_DEADLINE);
        __asm__ volatile("" ::: "memory");
        corio_scope_exit(&s);
    }
    return (now_s() - t0) / (double)scope_iters * 1e9;
}

static double clock_calls(void) {
    int64_t sink = 0;
    double t0 = now_s();
    for (size_t i = 0; i < scope_iters; i++)
        sink += corio_now_ns();
    double ns = (now_s() - t0) / (double)scope_iters * 1e9;
    if (sink == 42)
        puts("");
    return ns;
}

typedef struct figures {
    double bare, group, scope_plain, scope_timeout, clock;
} figures;

static int bench_main(void *arg, corio_value *out) {
    (void)out;
    figures *best = arg;
    for (int round = 0; round < 5; round++) {
        double b = bare_batches(), g = group_batches();
        double sp = scope_pairs(0), st = scope_pairs(1), c = clock_calls();
        if (round == 0 || b < best->bare)
            best->bare = b;
        if (round == 0 || g < best->group)
            best->group = g;
        if (round == 0 || sp < best->scope_plain)
            best->scope_plain = sp;
        if (round == 0 || st < best->scope_timeout)
            best->scope_timeout = st;
        if (round == 0 || c < best->clock)
            best->clock = c;
    }
    return 0;
}

/* ---- dump of 100k coroutines ---- */

static corio_future *never;

static int parked(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return corio_future_result(never, CORIO_FOREVER, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--quick")) {
        rounds_n /= 10;
        scope_iters /= 10;
        idle_coros /= 10;
        metric_iters /= 10;
    }
    bench_print_machine();
    corio_runtime_options o = {.loops = 1};
    corio_runtime *rt;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0)
        die("corio_runtime_create", r);
    figures fg = {0};
    corio_future *f = corio_spawn_on(rt, 0, bench_main, &fg, NULL, &r);
    if (!f || (r = corio_future_result(f, CORIO_FOREVER, NULL)) < 0)
        die("bench", r);
    corio_future_unref(f);
    printf("spawn+join, empty coroutine, batches of 1000, bare: %.0f ns\n", fg.bare);
    printf("spawn+join, empty coroutine, batches of 1000, through a group: %.0f ns\n", fg.group);
    printf("ratio group / bare: %.2fx (overhead %+.0f %%, bound +20 %%)\n", fg.group / fg.bare,
           (fg.group / fg.bare - 1) * 100);
    printf("cancel scope enter+exit, no deadline: %.1f ns\n", fg.scope_plain);
    printf("cancel scope enter+exit, with a timeout: %.1f ns\n", fg.scope_timeout);
    printf("corio_now_ns(): %.1f ns; ratio scope / clock read: %.2fx (no deadline), %.2fx "
           "(timeout)\n",
           fg.clock, fg.scope_plain / fg.clock, fg.scope_timeout / fg.clock);

    /* Dump: 100k parked coroutines on the loop. */
    never = corio_future_create();
    corio_future **fs = malloc(idle_coros * sizeof *fs);
    double t0 = now_s();
    for (size_t i = 0; i < idle_coros; i++)
        if (!(fs[i] = corio_spawn_on(rt, 0, parked, NULL, NULL, &r)))
            die("spawn", r);
    corio_loop_metrics m;
    do
        corio_loop_metrics_get(rt, 0, &m);
    while (m.live < idle_coros);
    double spawn_s = now_s() - t0;
    /* The same dump with each way of taking backtraces (the variable is
     * read at every dump): the default (by the unwind tables, libunwind),
     * the frame-pointer walk, none. */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    static const char *const modes[] = {NULL, "fp", "none"};
    double best_dump[3] = {0};
    long listed = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 3; k++) {
            if (modes[k])
                setenv("CORIO_DUMP_BACKTRACE", modes[k], 1);
            else
                unsetenv("CORIO_DUMP_BACKTRACE");
            t0 = now_s();
            listed = corio_runtime_dump(rt, devnull);
            double d = now_s() - t0;
            if (round == 0 || d < best_dump[k])
                best_dump[k] = d;
        }
    }
    unsetenv("CORIO_DUMP_BACKTRACE");
    close(devnull);
    printf("dump of %zu parked coroutines to /dev/null, full backtraces (default): %.1f ms "
           "(%ld listed, %.0f ns each)\n",
           idle_coros, best_dump[0] * 1e3, listed, best_dump[0] / (double)idle_coros * 1e9);
    printf("the same, CORIO_DUMP_BACKTRACE=fp (frame-pointer walk): %.1f ms (%.0f ns each)\n",
           best_dump[1] * 1e3, best_dump[1] / (double)idle_coros * 1e9);
    printf("the same, CORIO_DUMP_BACKTRACE=none: %.1f ms (%.0f ns each)\n", best_dump[2] * 1e3,
           best_dump[2] / (double)idle_coros * 1e9);
    printf("ratio full / fp: %.2fx; full / none: %.2fx\n", best_dump[0] / best_dump[1],
           best_dump[0] / best_dump[2]);
    printf("spawning them: %.1f ms; ratio dump (full) / spawn: %.2fx\n", spawn_s * 1e3,
           best_dump[0] / spawn_s);

    /* Metrics reads, with those 100k coroutines live. */
    double best_get = 0, best_fmt = 0;
    static char text[65536];
    for (int round = 0; round < 5; round++) {
        t0 = now_s();
        for (size_t i = 0; i < metric_iters; i++)
            corio_loop_metrics_get(rt, -1, &m);
        double g = (now_s() - t0) / (double)metric_iters * 1e9;
        t0 = now_s();
        for (size_t i = 0; i < metric_iters / 100; i++)
            corio_metrics_format(rt, text, sizeof text);
        double ft = (now_s() - t0) / (double)(metric_iters / 100) * 1e9;
        if (round == 0 || g < best_get)
            best_get = g;
        if (round == 0 || ft < best_fmt)
            best_fmt = ft;
    }
    printf("corio_loop_metrics_get (all loops): %.1f ns; ratio to corio_now_ns(): %.2fx\n",
           best_get, best_get / fg.clock);
    printf("corio_metrics_format (Prometheus text, %zu bytes): %.0f ns\n", strlen(text),
           best_fmt);

    for (size_t i = 0; i < idle_coros; i++)
        corio_future_cancel(fs[i]);
    for (size_t i = 0; i < idle_coros; i++) {
        corio_future_result(fs[i], CORIO_FOREVER, NULL);
        corio_future_unref(fs[i]);
    }
    free(fs);
    corio_future_unref(never);
    corio_runtime_destroy(rt);
    return 0;
}
