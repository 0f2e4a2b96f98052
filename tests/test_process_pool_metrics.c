/* Tests for the process pool's histograms in corio_executor_metrics:
 * run_us (the run time each worker reports with its answer) and queue_us
 * (submit to the first hand-off to a worker), with a known workload. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "corio.h"

/* The workload: a job that sleeps `arg` milliseconds, then answers arg. */
static int t_sleep_ms(void *arg, corio_value *out) {
    long ms = (long)(uintptr_t)arg;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    out->ptr = arg;
    return 0;
}

static uint64_t t_sum(const uint64_t *h) {
    uint64_t s = 0;
    for (int k = 0; k < CORIO_METRICS_BUCKETS; k++)
        s += h[k];
    return s;
}

/* Samples at or above bucket k (at least 2^(k-1) us). */
static uint64_t t_from(const uint64_t *h, int k) {
    uint64_t s = 0;
    for (; k < CORIO_METRICS_BUCKETS; k++)
        s += h[k];
    return s;
}

/* 20 ms is in bucket 15, [16384, 32768) us; a sleep never runs shorter. */
#define T_MS 20
#define T_BUCKET 15

START_TEST(test_histograms_known_workload) {
    corio_process_pool_options o = {.max_workers = 1};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    corio_executor_metrics m;
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.run_samples + m.queue_samples, 0);

    /* Four 20 ms jobs on one worker, submitted together: each runs at least
     * 20 ms; the last two are handed to the worker only after the first
     * has answered (at most one job waits on a worker besides the one it
     * runs), so they waited at least 20 ms in the queue. */
    enum { N = 4 };
    corio_future *f[N];
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(f[i] = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)T_MS, NULL));
    for (int i = 0; i < N; i++) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(f[i], 60.0, &v), 0);
        ck_assert_ptr_eq(v, (void *)(uintptr_t)T_MS);
        corio_future_unref(f[i]);
    }
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.completed, N);
    ck_assert_uint_eq(m.run_samples, N);
    ck_assert_uint_eq(t_sum(m.run_us), N);
    ck_assert_uint_eq(t_from(m.run_us, T_BUCKET), N);
    ck_assert_uint_eq(m.queue_samples, N);
    ck_assert_uint_eq(t_sum(m.queue_us), N);
    ck_assert_uint_ge(t_from(m.queue_us, T_BUCKET), N - 2);

    /* A quick job is one more sample of each (where it lands is not
     * asserted: a loaded machine may stretch it). */
    corio_future *q = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)0, NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(corio_future_result(q, 60.0, NULL), 0);
    corio_future_unref(q);
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.run_samples, N + 1);
    ck_assert_uint_eq(m.queue_samples, N + 1);

    /* A map chunk is one sample of each: 6 items in chunks of 3, each item
     * 20 ms, so each chunk ran at least 60 ms (bucket 16, from 32768 us;
     * earlier samples may have landed there too on a loaded machine). */
    uint64_t slow = t_from(m.run_us, T_BUCKET + 1);
    void *items[6];
    for (int i = 0; i < 6; i++)
        items[i] = (void *)(uintptr_t)T_MS;
    corio_map_options mo = {.chunksize = 3};
    corio_map *mp = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_sleep_ms, items, 6, &mo, &mp), 0);
    corio_value v;
    int n = 0, r;
    while ((r = corio_map_next(mp, &v)) == 1)
        n++;
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(n, 6);
    corio_map_destroy(mp);
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.run_samples, N + 3);
    ck_assert_uint_eq(m.queue_samples, N + 3);
    ck_assert_uint_eq(t_from(m.run_us, T_BUCKET + 1), slow + 2);

    /* A job cancelled in the queue never reached a worker: no sample. */
    corio_future *g = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)T_MS, NULL);
    corio_future *c = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)T_MS, NULL);
    corio_future *c2 = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)T_MS, NULL);
    ck_assert(corio_future_cancel(c2));
    ck_assert_int_eq(corio_future_result(g, 60.0, NULL), 0);
    ck_assert_int_eq(corio_future_result(c, 60.0, NULL), 0);
    ck_assert_int_eq(corio_future_result(c2, 60.0, NULL), -ECANCELED);
    corio_future_unref(g);
    corio_future_unref(c);
    corio_future_unref(c2);
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.run_samples, N + 5);
    ck_assert_uint_eq(m.queue_samples, N + 5);
    corio_executor_destroy(ex);
}
END_TEST

int main(void) {
    Suite *s = suite_create("process_pool_metrics");
    TCase *tc = tcase_create("histograms");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_histograms_known_workload);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
