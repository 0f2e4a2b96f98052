/* bench_process_pool — what a process-pool job costs, against CPython's
 * concurrent.futures.ProcessPoolExecutor(2) measured in the same run.
 *
 * Three figures, each with 2 workers, for corio and for CPython:
 *  - round trip: submit one job, wait for its result, repeated sequentially
 *    (mean per job, and percentiles for corio); for corio also from a
 *    coroutine (one loop), which reads the answer itself between yields to
 *    its loop, or is resumed through the loop's inbox (docs/process-pool.md);
 *  - map, chunksize 1: map over N items, one message per item (wall / N);
 *  - map, chunksize 1000: the same with 1000 items per message.
 * The job adds one to an integer (CPython: `x + 1`), so the figures are the
 * cost of the machinery. CPython runs tests/bench/bench_process_pool.py
 * through popen; its figures are parsed and ratios printed. Each side runs
 * ROUNDS rounds and keeps its best: the round trip with the lowest mean (the
 * figure compared with CPython's; its p50 and p99 printed beside), the
 * lowest per-item cost of each map.
 *
 * Usage: bench_process_pool [--quick] [--no-python]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"

#include "bench_common.h"

#ifndef CORIO_BENCH_PY
#define CORIO_BENCH_PY "tests/bench/bench_process_pool.py"
#endif

#define WORKERS 2
#define ROUNDS 3

static size_t rt_iters = 50000;     /* sequential round trips */
static size_t map1_items = 200000;  /* map items at chunksize 1 */
static size_t map1k_items = 5000000; /* map items at chunksize 1000 */
/* CPython is ~10x slower per item: fewer iterations keep it around 3 s. */
static size_t py_rt = 3000, py_map1 = 10000, py_map1k = 2000000;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, int code) {
    fprintf(stderr, "bench_process_pool: %s: %s\n", what, corio_strerror(code));
    exit(1);
}

static int inc(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg + 1);
    return 0;
}

/* Mean round trip in µs; p50/p99 into the pointers. */
static double round_trip(corio_executor *ex, double *p50, double *p99) {
    double *s = malloc(rt_iters * sizeof *s);
    double total = 0;
    for (size_t i = 0; i < rt_iters; i++) {
        double t0 = now_s();
        int err = 0;
        corio_future *f = corio_executor_submit(ex, inc, (void *)i, &err);
        if (!f)
            die("submit", err);
        void *v;
        int r = corio_future_result(f, CORIO_FOREVER, &v);
        if (r < 0 || (uintptr_t)v != i + 1)
            die("result", r < 0 ? r : -1);
        corio_future_unref(f);
        s[i] = now_s() - t0;
        total += s[i];
    }
    qsort(s, rt_iters, sizeof *s, cmp_double);
    *p50 = s[rt_iters / 2] * 1e6;
    *p99 = s[rt_iters * 99 / 100] * 1e6;
    free(s);
    return total / (double)rt_iters * 1e6;
}

/* The round trip from a coroutine: the same calls, suspending it. */
typedef struct coro_rt {
    corio_executor *ex;
    double mean, p50, p99;
} coro_rt;

static int coro_round_trip(void *arg, corio_value *out) {
    (void)out;
    coro_rt *c = arg;
    c->mean = round_trip(c->ex, &c->p50, &c->p99);
    return 0;
}

static void coro_round_trip_on(corio_executor *ex, coro_rt *c) {
    corio_runtime_options ro = {.loops = 1};
    corio_runtime *rt;
    int r = corio_runtime_create(&ro, &rt);
    if (r < 0)
        die("runtime", r);
    c->ex = ex;
    corio_future *f = corio_spawn_on(rt, 0, coro_round_trip, c, NULL, &r);
    if (!f)
        die("spawn", r);
    if ((r = corio_future_result(f, CORIO_FOREVER, NULL)) < 0)
        die("coroutine", r);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}

/* µs per item of a map over n items. */
static double map_cost(corio_executor *ex, size_t n, size_t chunk) {
    void **items = malloc(n * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = (void *)i;
    double t0 = now_s();
    corio_map_options mo = {.chunksize = chunk};
    corio_map *m;
    int r = corio_executor_map(ex, inc, items, n, &mo, &m);
    if (r < 0)
        die("map", r);
    corio_value v;
    size_t sum = 0;
    while ((r = corio_map_next(m, &v)) == 1)
        sum += (uintptr_t)v.ptr;
    if (r < 0 || sum != n * (n + 1) / 2)
        die("map_next", r < 0 ? r : -1);
    corio_map_destroy(m);
    double dt = now_s() - t0;
    free(items);
    return dt / (double)n * 1e6;
}

int main(int argc, char **argv) {
    int quick = 0, python = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--no-python") == 0)
            python = 0;
    }
    if (quick) {
        rt_iters /= 10;
        map1_items /= 10;
        map1k_items /= 10;
        py_rt /= 10;
        py_map1 /= 10;
        py_map1k /= 10;
    }
    bench_print_machine();
    corio_process_pool_options o = {.max_workers = WORKERS};
    corio_executor *ex;
    int r = corio_process_pool_create(&o, &ex);
    if (r < 0)
        die("create", r);
    map_cost(ex, 10000, 1); /* warm up */
    double rt = 1e30, p50 = 0, p99 = 0, m1 = 1e30, m1k = 1e30;
    coro_rt crt = {.mean = 1e30};
    for (int round = 0; round < ROUNDS; round++) {
        double q50, q99, q = round_trip(ex, &q50, &q99);
        if (q < rt) {
            rt = q;
            p50 = q50;
            p99 = q99;
        }
        coro_rt c;
        coro_round_trip_on(ex, &c);
        if (c.mean < crt.mean)
            crt = c;
        double a = map_cost(ex, map1_items, 1), b = map_cost(ex, map1k_items, 1000);
        m1 = a < m1 ? a : m1;
        m1k = b < m1k ? b : m1k;
    }
    corio_executor_destroy(ex);

    printf("corio   process pool (%d workers, best of %d rounds):\n", WORKERS, ROUNDS);
    printf("  round trip (submit + result), %zu jobs: %8.2f us/job (p50 %.2f, p99 %.2f)\n",
           rt_iters, rt, p50, p99);
    printf("  the same from a coroutine (1 loop):         %8.2f us/job (p50 %.2f, p99 %.2f)\n",
           crt.mean, crt.p50, crt.p99);
    printf("  map, chunksize 1,    %8zu items:   %8.3f us/item\n", map1_items, m1);
    printf("  map, chunksize 1000, %8zu items:   %8.4f us/item\n", map1k_items, m1k);

    if (!python)
        return 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %zu %zu %zu %d", CORIO_BENCH_PY, py_rt,
             py_map1, py_map1k, ROUNDS);
    FILE *py = popen(cmd, "r");
    double prt = 0, pm1 = 0, pm1k = 0;
    if (py) {
        char line[256];
        while (fgets(line, sizeof line, py)) {
            sscanf(line, "py_roundtrip_us %lf", &prt);
            sscanf(line, "py_map_chunk1_us %lf", &pm1);
            sscanf(line, "py_map_chunk1000_us %lf", &pm1k);
        }
        pclose(py);
    }
    if (prt <= 0 || pm1 <= 0 || pm1k <= 0) {
        printf("CPython: not measured (could not run %s)\n", cmd);
        return 0;
    }
    printf("CPython ProcessPoolExecutor(%d) (/usr/bin/python3, same run, best of %d rounds):\n",
           WORKERS, ROUNDS);
    printf("  round trip (submit + result), %zu jobs: %8.2f us/job\n", py_rt, prt);
    printf("  map, chunksize 1,    %8zu items:   %8.3f us/item\n", py_map1, pm1);
    printf("  map, chunksize 1000, %8zu items:   %8.4f us/item\n", py_map1k, pm1k);
    printf("ratios (CPython / corio; higher is better for corio):\n");
    printf("  round trip:          %6.1fx\n", prt / rt);
    printf("  map, chunksize 1:    %6.1fx\n", pm1 / m1);
    printf("  map, chunksize 1000: %6.1fx\n", pm1k / m1k);
    printf("chunking gain (corio, chunksize 1 / chunksize 1000): %.0fx\n", m1 / m1k);
    return 0;
}
