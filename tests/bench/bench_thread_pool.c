/* bench_thread_pool — what a thread-pool job costs, against libuv's
 * uv_queue_work measured in the same run.
 *
 * Two figures, for corio and for libuv, each with 2 workers:
 *  - latency: one submit followed by waiting for its result, repeated
 *    sequentially (mean and percentiles of the round trip);
 *  - throughput: N no-op jobs submitted back to back, then all awaited
 *    (wall time / N).
 * corio allocates a real future per job (as an application would use it);
 * libuv's uv_work_t records are preallocated by the caller, so libuv does
 * no allocation at all here.
 *
 * Usage: bench_thread_pool [--quick]   (--quick: 10x fewer iterations)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"

#include "bench_common.h"

#ifdef HAVE_LIBUV
#include <uv.h>
#endif

#define WORKERS 2

static size_t lat_iters = 200000;   /* sequential round trips */
static size_t tput_jobs = 1000000;  /* jobs per throughput run */
static const int tput_runs = 3;     /* throughput runs; the best is reported */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct lat_stats {
    double mean, p50, p99; /* microseconds */
} lat_stats;

/* Sorts `v` (n round trips in seconds) and summarises it. */
static lat_stats summarise(double *v, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    qsort(v, n, sizeof *v, cmp_double);
    return (lat_stats){sum / (double)n * 1e6, v[n / 2] * 1e6, v[n * 99 / 100] * 1e6};
}

static void die(const char *what, int code) {
    fprintf(stderr, "bench_thread_pool: %s: %s\n", what, corio_strerror(code));
    exit(1);
}

/* ---- corio ----------------------------------------------------------------- */

static int noop(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

static lat_stats corio_latency(corio_executor *ex, double *samples) {
    for (size_t i = 0; i < lat_iters; i++) {
        double t0 = now_s();
        int err = 0;
        corio_future *f = corio_executor_submit(ex, noop, NULL, &err);
        if (!f)
            die("submit", err);
        int r = corio_future_result(f, CORIO_FOREVER, NULL);
        if (r != 0)
            die("result", r);
        corio_future_unref(f);
        samples[i] = now_s() - t0;
    }
    return summarise(samples, lat_iters);
}

/* Returns microseconds per job. */
static double corio_throughput(corio_executor *ex, corio_future **fs) {
    double t0 = now_s();
    for (size_t i = 0; i < tput_jobs; i++) {
        int err = 0;
        fs[i] = corio_executor_submit(ex, noop, NULL, &err);
        if (!fs[i])
            die("submit", err);
    }
    for (size_t i = 0; i < tput_jobs; i++) {
        int r = corio_future_result(fs[i], CORIO_FOREVER, NULL);
        if (r != 0)
            die("result", r);
        corio_future_unref(fs[i]);
    }
    return (now_s() - t0) / (double)tput_jobs * 1e6;
}

/* ---- libuv ------------------------------------------------------------------ */

#ifdef HAVE_LIBUV
static size_t uv_done; /* after_work callbacks run so far */

static void uv_noop_work(uv_work_t *req) { (void)req; }
static void uv_after(uv_work_t *req, int status) {
    (void)req;
    (void)status;
    uv_done++;
}

static lat_stats libuv_latency(uv_loop_t *loop, double *samples) {
    uv_work_t req;
    for (size_t i = 0; i < lat_iters; i++) {
        double t0 = now_s();
        uv_queue_work(loop, &req, uv_noop_work, uv_after);
        uv_run(loop, UV_RUN_DEFAULT); /* returns once after_work has run */
        samples[i] = now_s() - t0;
    }
    return summarise(samples, lat_iters);
}

static double libuv_throughput(uv_loop_t *loop, uv_work_t *reqs) {
    uv_done = 0;
    double t0 = now_s();
    for (size_t i = 0; i < tput_jobs; i++)
        uv_queue_work(loop, &reqs[i], uv_noop_work, uv_after);
    uv_run(loop, UV_RUN_DEFAULT);
    double us = (now_s() - t0) / (double)tput_jobs * 1e6;
    if (uv_done != tput_jobs) {
        fprintf(stderr, "bench_thread_pool: libuv ran %zu of %zu jobs\n", uv_done, tput_jobs);
        exit(1);
    }
    return us;
}
#endif

/* ---- main ------------------------------------------------------------------- */

static void print_lat(const char *who, lat_stats s) {
    printf("%-6s latency    (submit + result, sequential, %zu round trips): "
           "mean %.2f us, p50 %.2f us, p99 %.2f us\n",
           who, lat_iters, s.mean, s.p50, s.p99);
}

static void print_tput(const char *who, double us) {
    printf("%-6s throughput (%zu no-op jobs submitted then awaited, best of %d): "
           "%.3f us/job (%.2f M jobs/s)\n",
           who, tput_jobs, tput_runs, us, 1.0 / us);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        lat_iters /= 10;
        tput_jobs /= 10;
    }
    /* libuv reads it once, at its first uv_queue_work. */
    setenv("UV_THREADPOOL_SIZE", "2", 1);

    bench_print_machine();
    printf("corio %s, %d workers each\n", corio_version(), WORKERS);

    double *samples = malloc(lat_iters * sizeof *samples);
    corio_future **fs = malloc(tput_jobs * sizeof *fs);
    if (!samples || !fs)
        die("malloc", -ENOMEM);

    corio_executor *ex;
    corio_thread_pool_options o = {.max_workers = WORKERS};
    int r = corio_thread_pool_create(&o, &ex);
    if (r < 0)
        die("corio_thread_pool_create", r);
    /* Start both workers and warm the allocator before measuring. */
    corio_throughput(ex, fs);
    lat_stats c_lat = corio_latency(ex, samples);
    double c_tput = 1e9;
    for (int i = 0; i < tput_runs; i++) {
        double us = corio_throughput(ex, fs);
        if (us < c_tput)
            c_tput = us;
    }
    corio_executor_destroy(ex);
    print_lat("corio", c_lat);
    print_tput("corio", c_tput);

#ifdef HAVE_LIBUV
    printf("libuv %s, UV_THREADPOOL_SIZE=%s\n", uv_version_string(), getenv("UV_THREADPOOL_SIZE"));
    uv_loop_t *loop = uv_default_loop();
    uv_work_t *reqs = malloc(tput_jobs * sizeof *reqs);
    if (!reqs)
        die("malloc", -ENOMEM);
    libuv_throughput(loop, reqs); /* warm-up: starts the pool's threads */
    lat_stats u_lat = libuv_latency(loop, samples);
    double u_tput = 1e9;
    for (int i = 0; i < tput_runs; i++) {
        double us = libuv_throughput(loop, reqs);
        if (us < u_tput)
            u_tput = us;
    }
    uv_loop_close(loop);
    free(reqs);
    print_lat("libuv", u_lat);
    print_tput("libuv", u_tput);
    printf("ratio corio/libuv latency (mean):    %.2f  (< 1: corio faster)\n", c_lat.mean / u_lat.mean);
    printf("ratio corio/libuv latency (p50):     %.2f\n", c_lat.p50 / u_lat.p50);
    printf("ratio corio/libuv throughput (us/job): %.2f  (< 1: corio faster)\n", c_tput / u_tput);
#else
    printf("libuv: not installed (install libuv1-dev and reconfigure for the comparison)\n");
#endif
    free(samples);
    free(fs);
    return 0;
}
