/* bench_runtime — what coroutines cost, against threads measured in the
 * same run.
 *
 * Three figures:
 *  - spawn: corio_spawn of an empty coroutine, then corio_future_result on
 *    it, then corio_future_unref, from a coroutine of the same loop (ns per
 *    coroutine); baseline: pthread_create + pthread_join of an empty thread.
 *    Reported both one at a time (spawn, join, spawn, join) and in batches
 *    of 1000 (spawn 1000, join 1000). Peer in the same run, when built
 *    with it: Boost.Fiber's pooled-stack create + join + destroy of an
 *    empty fiber (bench_runtime_boost_fiber.cc; no future on that side).
 *  - wake: a coroutine submits a no-op job to a one-worker thread pool and
 *    awaits its result (µs per round trip: two cross-thread wake-ups);
 *    baselines: the same job awaited by a plain thread, and a bare futex
 *    ping-pong between two threads (the floor of any cross-thread round trip
 *    on this machine).
 *  - memory: VmRSS growth for 100k coroutines parked on one future (bytes
 *    per coroutine), against the 1 GiB budget and against the address
 *    space their stacks reserve.
 *
 * Usage: bench_runtime [--quick]   (--quick: 10x fewer iterations)
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"

#include "bench_common.h"

static size_t spawn_iters = 1000000; /* coroutines per spawn run */
static size_t thread_iters = 20000;  /* threads for the baseline */
static size_t wake_iters = 100000;   /* round trips per wake run */
static size_t idle_coros = 100000;   /* coroutines in the memory figure */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int code) {
    fprintf(stderr, "bench_runtime: %s: %s\n", what, corio_strerror(code));
    exit(1);
}

/* ---- spawn + run + join -------------------------------------------------- */

#ifdef BENCH_HAVE_BOOST_FIBER
/* bench_runtime_boost_fiber.cc: Boost.Fiber create (pooled stack of
 * stack_size bytes) + join + destroy of an empty fiber, n times one at a
 * time and n in batches of 1000; best of `runs`, ns per fiber. */
void bench_boost_fiber_spawn(size_t n, size_t stack_size, int runs, double *serial_ns,
                             double *batched_ns);
/* The same for boost::context::fiber: create + resume + destroy, no
 * scheduler (a lower bound rather than a like-for-like peer). */
void bench_boost_context_fiber_spawn(size_t n, size_t stack_size, int runs, double *serial_ns,
                                     double *batched_ns);
#endif

static int empty(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

/* One at a time: the parent parks on each child's future. */
static int spawn_serial(void *arg, corio_value *out) {
    double *ns = arg;
    (void)out;
    size_t n = spawn_iters;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        int err;
        corio_future *f = corio_spawn(empty, NULL, &err);
        if (!f)
            die("corio_spawn", err);
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
    }
    *ns = (now_s() - t0) / (double)n * 1e9;
    return 0;
}

/* In batches: spawn 1000, then join them in order. */
static int spawn_batched(void *arg, corio_value *out) {
    double *ns = arg;
    (void)out;
    enum { B = 1000 };
    static corio_future *fs[B];
    size_t n = spawn_iters / B * B;
    double t0 = now_s();
    for (size_t i = 0; i < n; i += B) {
        for (size_t j = 0; j < B; j++) {
            int err;
            fs[j] = corio_spawn(empty, NULL, &err);
            if (!fs[j])
                die("corio_spawn", err);
        }
        for (size_t j = 0; j < B; j++) {
            corio_future_result(fs[j], CORIO_FOREVER, NULL);
            corio_future_unref(fs[j]);
        }
    }
    *ns = (now_s() - t0) / (double)n * 1e9;
    return 0;
}

/* All futures first, then every result (the case of a plain thread that
 * hands a loop a million jobs): `fs` holds spawn_iters futures. */
static corio_future **many;

static int spawn_all_then_join(void *arg, corio_value *out) {
    double *ns = arg;
    (void)out;
    double t0 = now_s();
    for (size_t i = 0; i < spawn_iters; i++) {
        int err;
        many[i] = corio_spawn(empty, NULL, &err);
        if (!many[i])
            die("corio_spawn", err);
    }
    for (size_t i = 0; i < spawn_iters; i++) {
        corio_future_result(many[i], CORIO_FOREVER, NULL);
        corio_future_unref(many[i]);
    }
    *ns = (now_s() - t0) / (double)spawn_iters * 1e9;
    return 0;
}

/* The same from a plain (non-loop) thread: every spawn is a message to
 * the loop's inbox. */
static double from_thread(corio_runtime *rt) {
    double t0 = now_s();
    for (size_t i = 0; i < spawn_iters; i++) {
        int err;
        many[i] = corio_spawn_on(rt, 0, empty, NULL, NULL, &err);
        if (!many[i])
            die("corio_spawn_on", err);
    }
    for (size_t i = 0; i < spawn_iters; i++) {
        corio_future_result(many[i], CORIO_FOREVER, NULL);
        corio_future_unref(many[i]);
    }
    return (now_s() - t0) / (double)spawn_iters * 1e9;
}

static void *empty_thread(void *arg) { return arg; }

static double bench_pthread(void) {
    double t0 = now_s();
    for (size_t i = 0; i < thread_iters; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, empty_thread, NULL) != 0)
            die("pthread_create", -errno);
        pthread_join(t, NULL);
    }
    return (now_s() - t0) / (double)thread_iters * 1e9;
}

static double best_of(corio_runtime *rt, corio_fn fn, int runs) {
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        double ns = 0;
        int err;
        corio_future *f = corio_spawn_on(rt, 0, fn, &ns, NULL, &err);
        if (!f)
            die("corio_spawn_on", err);
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
        if (ns < best)
            best = ns;
    }
    return best;
}

static void bench_spawn(void) {
    corio_runtime_options o = {.loops = 1};
    corio_runtime *rt;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0)
        die("corio_runtime_create", r);
    double serial = best_of(rt, spawn_serial, 3);
    double batched = best_of(rt, spawn_batched, 3);
    many = malloc(spawn_iters * sizeof *many);
    if (!many)
        die("malloc", -ENOMEM);
    double all_co = best_of(rt, spawn_all_then_join, 3);
    double all_th = 1e30;
    for (int k = 0; k < 3; k++) {
        double ns = from_thread(rt);
        if (ns < all_th)
            all_th = ns;
    }
    free(many);
    corio_runtime_destroy(rt);
    double th = bench_pthread();
    printf("spawn+run+join, empty coroutine, one at a time: %.0f ns\n", serial);
    printf("spawn+run+join, empty coroutine, batches of 1000: %.0f ns\n", batched);
    printf("pthread_create+join, empty thread: %.0f ns\n", th);
    printf("ratio thread / coroutine: %.1fx (one at a time), %.1fx (batched)\n", th / serial,
           th / batched);
    printf("spawn %zu, then join them all, from a coroutine: %.0f ns each\n", spawn_iters, all_co);
    printf("spawn %zu, then join them all, from a plain thread: %.0f ns each\n", spawn_iters,
           all_th);
    printf("ratio spawn from-thread/from-coroutine: %.2f\n", all_th / all_co);
#ifdef BENCH_HAVE_BOOST_FIBER
    /* corio's side includes a future (created, completed, read, freed);
     * Boost.Fiber's fiber has none. Stacks: both pooled, 256 KiB usable;
     * corio's have guard pages, Boost's pooled_fixedsize_stack has none. */
    double bf_serial, bf_batched;
    bench_boost_fiber_spawn(spawn_iters, 256 * 1024, 3, &bf_serial, &bf_batched);
    printf("boost.fiber create+join+destroy, empty fiber, pooled stack, one at a time: %.0f ns\n",
           bf_serial);
    printf("boost.fiber create+join+destroy, empty fiber, pooled stack, batches of 1000: %.0f ns\n",
           bf_batched);
    printf("ratio spawn corio/boost-fiber: %.2f (one at a time), %.2f (batched)\n",
           serial / bf_serial, batched / bf_batched);
    double bc_serial, bc_batched;
    bench_boost_context_fiber_spawn(spawn_iters, 256 * 1024, 3, &bc_serial, &bc_batched);
    printf("boost.context fiber create+resume+destroy, pooled stack, no scheduler, one at a time: "
           "%.0f ns\n",
           bc_serial);
    printf("boost.context fiber create+resume+destroy, pooled stack, no scheduler, batches of "
           "1000: %.0f ns\n",
           bc_batched);
    printf("ratio spawn corio/boost-context-fiber: %.2f (one at a time), %.2f (batched)\n",
           serial / bc_serial, batched / bc_batched);
#else
    printf("boost.fiber: skipped (Boost.Fiber not found at build time)\n");
#endif
}

/* ---- cross-thread wake latency ------------------------------------------- */

static int noop_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

typedef struct wake_arg {
    corio_executor *ex;
    double us; /* mean round trip */
} wake_arg;

static void wake_rounds(wake_arg *w) {
    /* Warm up: start the worker and fill the future caches. */
    for (int i = 0; i < 1000; i++) {
        corio_future *f = corio_executor_submit(w->ex, noop_job, NULL, NULL);
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
    }
    double t0 = now_s();
    for (size_t i = 0; i < wake_iters; i++) {
        int err;
        corio_future *f = corio_executor_submit(w->ex, noop_job, NULL, &err);
        if (!f)
            die("corio_executor_submit", err);
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
    }
    w->us = (now_s() - t0) / (double)wake_iters * 1e6;
}

static int wake_coro(void *arg, corio_value *out) {
    (void)out;
    wake_rounds(arg);
    return 0;
}

static _Atomic uint32_t pp_word; /* 0: ping's turn, 1: pong's turn */
static int pp_stop;

static void fwait(uint32_t val) {
    while (atomic_load_explicit(&pp_word, memory_order_acquire) == val)
        syscall(SYS_futex, &pp_word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void fset(uint32_t val) {
    atomic_store_explicit(&pp_word, val, memory_order_release);
    syscall(SYS_futex, &pp_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *ponger(void *arg) {
    (void)arg;
    for (;;) {
        fwait(0); /* until it is 1 */
        if (pp_stop)
            return NULL;
        fset(0);
    }
}

static double bench_futex_pingpong(void) {
    pthread_t t;
    atomic_store(&pp_word, 0);
    pthread_create(&t, NULL, ponger, NULL);
    double t0 = now_s();
    for (size_t i = 0; i < wake_iters; i++) {
        fset(1);
        fwait(1);
    }
    double us = (now_s() - t0) / (double)wake_iters * 1e6;
    pp_stop = 1;
    fset(1);
    pthread_join(t, NULL);
    return us;
}

/* Rounds of each side, alternating (coroutine, thread, coroutine, ...) so
 * that a burst of load on the shared machine hits both; the best of each
 * is reported. */
#define WAKE_ROUNDS 5

static void bench_wake(void) {
    corio_executor *ex;
    corio_thread_pool_options po = {.max_workers = 1};
    int r = corio_thread_pool_create(&po, &ex);
    if (r < 0)
        die("corio_thread_pool_create", r);
    corio_runtime_options o = {.loops = 1};
    corio_runtime *rt;
    r = corio_runtime_create(&o, &rt);
    if (r < 0)
        die("corio_runtime_create", r);
    double co_us = 1e9, th_us = 1e9;
    for (int round = 0; round < WAKE_ROUNDS; round++) {
        wake_arg co = {.ex = ex}, th = {.ex = ex};
        corio_future *f = corio_spawn_on(rt, 0, wake_coro, &co, NULL, &r);
        if (!f)
            die("corio_spawn_on", r);
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
        wake_rounds(&th);
        if (co.us < co_us)
            co_us = co.us;
        if (th.us < th_us)
            th_us = th.us;
    }
    corio_runtime_destroy(rt);
    corio_executor_destroy(ex);
    double pp = bench_futex_pingpong();
    printf("thread-pool job awaited by a coroutine: %.2f us per round trip (best of %d)\n", co_us,
           WAKE_ROUNDS);
    printf("thread-pool job awaited by a plain thread: %.2f us per round trip (best of %d)\n",
           th_us, WAKE_ROUNDS);
    printf("futex ping-pong between two threads: %.1f us per round trip\n", pp);
    printf("ratio coroutine/thread: %.2f  (<= 1: a coroutine waits as cheaply as a thread)\n",
           co_us / th_us);
    printf("ratio coroutine / futex ping-pong: %.2fx\n", co_us / pp);
}

/* ---- memory of idle coroutines ------------------------------------------- */

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    long kb = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

typedef struct idle_arg {
    corio_future *ev;
    _Atomic size_t parked;
} idle_arg;

static int idle_body(void *arg, corio_value *out) {
    (void)out;
    idle_arg *a = arg;
    atomic_fetch_add(&a->parked, 1);
    return corio_future_result(a->ev, CORIO_FOREVER, NULL);
}

static void bench_memory(void) {
    corio_runtime_options o = {.loops = 1};
    corio_runtime *rt;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0)
        die("corio_runtime_create", r);
    idle_arg a = {.ev = corio_future_create()};
    corio_future **fs = malloc(idle_coros * sizeof *fs);
    long before = rss_kib();
    for (size_t i = 0; i < idle_coros; i++) {
        fs[i] = corio_spawn_on(rt, 0, idle_body, &a, NULL, &r);
        if (!fs[i])
            die("corio_spawn_on", r);
    }
    /* Wait until every one is parked (polling is fine in a benchmark). */
    while (atomic_load(&a.parked) < idle_coros) {
        for (size_t i = 0; i < idle_coros; i += 997)
            if (corio_future_done(fs[i]))
                die("an idle coroutine ended early", corio_future_result(fs[i], 0, NULL));
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    long after = rss_kib();
    corio_future_set_result(a.ev, NULL, NULL);
    for (size_t i = 0; i < idle_coros; i++) {
        corio_future_result(fs[i], CORIO_FOREVER, NULL);
        corio_future_unref(fs[i]);
    }
    free(fs);
    corio_future_unref(a.ev);
    corio_runtime_destroy(rt);
    double total = (double)(after - before) * 1024.0;
    double reserved = (double)idle_coros * (256.0 + 16.0) * 1024.0;
    printf("RSS of %zu idle coroutines: %.1f MiB (%.0f bytes each)\n", idle_coros,
           total / 1048576.0, total / (double)idle_coros);
    printf("ratio to the 1 GiB budget: %.2f; to the stack address space reserved (%.1f GiB): "
           "%.3f\n",
           total / 1073741824.0 * (100000.0 / (double)idle_coros), reserved / 1073741824.0,
           total / reserved);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        spawn_iters /= 10;
        thread_iters /= 10;
        wake_iters /= 10;
        idle_coros /= 10;
    }
    bench_print_machine();
    bench_spawn();
    bench_wake();
    bench_memory();
    return 0;
}
