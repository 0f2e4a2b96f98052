/* ex_cpu_map — a CPU-bound map with chunksize, timed sequentially and on the
 * process pool (the seeds' `executor.map(cpu_intensive, numbers)` example,
 * with many small items so that chunking matters).
 *
 * Each item is an integer n passed as the pointer value (no bytes travel);
 * the job returns sum(i*i for i < n) mod 2^64 as the result's pointer value.
 * chunksize groups items into one message each way: with 20 000 items of
 * ~40 µs, chunksize 1 pays one message per item, chunksize 500 one per 500. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <corio.h>

#define ITEMS 20000
#define WORK 20000

static uint64_t cpu_intensive(uint64_t n) {
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) {
        s += i * i;
        __asm__ volatile("" : "+r"(s)); /* keep the loop a loop */
    }
    return s;
}

static int job(void *arg, corio_value *out) {
    out->ptr = (void *)(uintptr_t)cpu_intensive((uint64_t)(uintptr_t)arg);
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *items[ITEMS];

static double run_map(corio_executor *ex, size_t chunksize, uint64_t *sum) {
    double t0 = now();
    corio_map_options mo = {.chunksize = chunksize};
    corio_map *m;
    if (corio_executor_map(ex, job, items, ITEMS, &mo, &m) < 0)
        return -1;
    corio_value v;
    int r;
    *sum = 0;
    while ((r = corio_map_next(m, &v)) == 1)
        *sum += (uint64_t)(uintptr_t)v.ptr;
    corio_map_destroy(m);
    return r < 0 ? -1 : now() - t0;
}

int main(void) {
    for (size_t i = 0; i < ITEMS; i++)
        items[i] = (void *)(uintptr_t)(WORK + i % 7);
    double t0 = now();
    uint64_t want = 0;
    for (size_t i = 0; i < ITEMS; i++)
        want += cpu_intensive((uint64_t)(uintptr_t)items[i]);
    double seq = now() - t0;
    printf("sequential:               %.3f s\n", seq);

    corio_executor *ex;
    int r = corio_process_pool_create(NULL, &ex);
    if (r < 0) {
        fprintf(stderr, "process pool: %s\n", corio_strerror(r));
        return 1;
    }
    size_t chunks[] = {1, 500};
    for (size_t k = 0; k < 2; k++) {
        uint64_t sum = 0;
        double t = run_map(ex, chunks[k], &sum);
        printf("process pool, chunksize %-4zu %.3f s (%.1fx)%s\n", chunks[k], t, seq / t,
               sum == want ? "" : "  WRONG SUM");
    }
    corio_executor_destroy(ex);
    return 0;
}
