/* Tests for corio_executor_map on the thread pool (Python's Executor.map):
 * order, chunks, failures per item, the timeout counted from the call and
 * the cancelling of what remains, the bounded submission window
 * (buffersize), byte items, early destroy and a million items.
 * Reference: CPython's Lib/test/test_concurrent_futures/executor.py. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

static corio_executor *t_pool(int max_workers) {
    corio_thread_pool_options o = {0};
    o.max_workers = max_workers;
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    return ex;
}

/* n items whose pointers are the integers 0..n-1. */
static void **t_int_items(size_t n) {
    void **items = malloc((n ? n : 1) * sizeof *items);
    ck_assert_ptr_nonnull(items);
    for (size_t i = 0; i < n; i++)
        items[i] = (void *)(uintptr_t)i;
    return items;
}

/* item -> 2 * item + 1 */
static int t_twice(void *arg, corio_value *out) {
    out->ptr = (void *)(2 * (uintptr_t)arg + 1);
    return 0;
}

/* Fails for item % 13 == 5, with a message naming the item. */
static int t_some_fail(void *arg, corio_value *out) {
    uintptr_t i = (uintptr_t)arg;
    if (i % 13 == 5)
        return corio_task_fail(-EDOM, "bad item %zu", (size_t)i);
    out->ptr = (void *)(i + 100);
    return 0;
}

/* A heap string result, freed with its future or chunk. */
static int t_heap_string(void *arg, corio_value *out) {
    char *s = malloc(24);
    snprintf(s, 24, "item-%zu", (size_t)(uintptr_t)arg);
    out->ptr = s;
    out->dtor = free;
    return 0;
}

static void t_read_all_twice(corio_map *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        corio_value v = {0};
        ck_assert_int_eq(corio_map_next(m, &v), 1);
        ck_assert_ptr_eq(v.ptr, (void *)(2 * i + 1));
    }
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    ck_assert_int_eq(corio_map_next(m, &v), 0);
}

/* A gated item: its own gate, so the test decides which one finishes. */
typedef struct t_item {
    sem_t gate;          /* passed once before returning (if gated) */
    int gated;           /* wait at the gate */
    size_t idx;          /* its index */
    atomic_int *started; /* counts started items */
    sem_t *started_sem;  /* posted when it starts */
} t_item;

static int t_item_task(void *arg, corio_value *out) {
    t_item *it = arg;
    atomic_fetch_add(it->started, 1);
    if (it->started_sem)
        sem_post(it->started_sem);
    if (it->gated && !t_gate_pass_within(&it->gate, 60.0))
        return corio_task_fail(-ETIMEDOUT, "gate never opened");
    out->ptr = (void *)(it->idx + 1);
    return 0;
}

static t_item *t_items_new(size_t n, atomic_int *started, sem_t *started_sem, void ***ptrs) {
    t_item *items = calloc(n, sizeof *items);
    *ptrs = malloc(n * sizeof **ptrs);
    for (size_t i = 0; i < n; i++) {
        t_gate_init(&items[i].gate);
        items[i].idx = i;
        items[i].started = started;
        items[i].started_sem = started_sem;
        (*ptrs)[i] = &items[i];
    }
    return items;
}

static void t_items_free(t_item *items, size_t n, void **ptrs) {
    for (size_t i = 0; i < n; i++)
        sem_destroy(&items[i].gate);
    free(items);
    free(ptrs);
}

/* ---- order and chunks --------------------------------------------------------- */

START_TEST(test_map_in_order) {
    corio_executor *ex = t_pool(4);
    size_t n = 100;
    void **items = t_int_items(n);
    size_t chunks[] = {0, 1, 7, 10, 99, 100, 1000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        corio_map_options o = {0};
        o.chunksize = chunks[c];
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(ex, t_twice, items, n, &o, &m), 0);
        ck_assert_ptr_nonnull(m);
        t_read_all_twice(m, n);
        corio_map_destroy(m);
    }
    /* NULL options: the defaults. */
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, n, NULL, &m), 0);
    t_read_all_twice(m, n);
    corio_map_destroy(m);
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_map_empty) {
    corio_executor *ex = t_pool(2);
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, NULL, 0, NULL, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    ck_assert_str_eq(corio_map_message(m), "");
    corio_map_destroy(m);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_map_bad_arguments) {
    corio_executor *ex = t_pool(2);
    void **items = t_int_items(3);
    corio_map *m = (corio_map *)0x1;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, 3, NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_executor_map(NULL, t_twice, items, 3, NULL, &m), -EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(corio_executor_map(ex, NULL, items, 3, NULL, &m), -EINVAL);
    ck_assert_int_eq(corio_executor_map(ex, t_twice, NULL, 3, NULL, &m), -EINVAL);
    corio_value v;
    ck_assert_int_eq(corio_map_next(NULL, &v), -EINVAL);
    ck_assert_str_eq(corio_map_message(NULL), "");
    corio_map_destroy(NULL);
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, 3, NULL, &m), 0);
    ck_assert_int_eq(corio_map_next(m, NULL), -EINVAL);
    corio_map_destroy(m);
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_map_after_shutdown) {
    corio_executor *ex = t_pool(2);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    void **items = t_int_items(5);
    corio_map *m = (corio_map *)0x1;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, 5, NULL, &m), CORIO_ESHUTDOWN);
    ck_assert_ptr_null(m);
    corio_map_options o = {0};
    o.chunksize = 2;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, 5, &o, &m), CORIO_ESHUTDOWN);
    ck_assert_ptr_null(m);
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- failures ------------------------------------------------------------------ */

START_TEST(test_map_failure_surfaces_at_its_item) {
    corio_executor *ex = t_pool(3);
    size_t n = 60;
    void **items = t_int_items(n);
    size_t chunks[] = {1, 7, 60};
    for (size_t c = 0; c < 3; c++) {
        corio_map_options o = {0};
        o.chunksize = chunks[c];
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(ex, t_some_fail, items, n, &o, &m), 0);
        for (size_t i = 0; i < n; i++) {
            corio_value v = {0};
            int r = corio_map_next(m, &v);
            if (i % 13 == 5) {
                ck_assert_int_eq(r, -EDOM);
                char want[32];
                snprintf(want, sizeof want, "bad item %zu", i);
                ck_assert_str_eq(corio_map_message(m), want);
            } else {
                ck_assert_int_eq(r, 1);
                ck_assert_ptr_eq(v.ptr, (void *)(i + 100));
                ck_assert_str_eq(corio_map_message(m), "");
            }
        }
        corio_value v;
        ck_assert_int_eq(corio_map_next(m, &v), 0);
        corio_map_destroy(m);
    }
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

static int t_fail_timedout_3(void *arg, corio_value *out) {
    if ((uintptr_t)arg == 3)
        return corio_task_fail(-ETIMEDOUT, "item timed out by itself");
    out->ptr = arg;
    return 0;
}

/* A task failing with -ETIMEDOUT is that item's failure, not the map's
 * timeout: the iteration goes on. */
START_TEST(test_map_task_timeout_is_not_map_timeout) {
    corio_executor *ex = t_pool(2);
    void **items = t_int_items(6);
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        corio_map_options o = {0};
        o.timeout = 60.0;
        o.chunksize = chunk;
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(ex, t_fail_timedout_3, items, 6, &o, &m), 0);
        for (uintptr_t i = 0; i < 6; i++) {
            corio_value v = {0};
            int r = corio_map_next(m, &v);
            if (i == 3) {
                ck_assert_int_eq(r, -ETIMEDOUT);
                ck_assert_str_eq(corio_map_message(m), "item timed out by itself");
            } else {
                ck_assert_int_eq(r, 1);
                ck_assert_ptr_eq(v.ptr, (void *)i);
            }
        }
        corio_value v;
        ck_assert_int_eq(corio_map_next(m, &v), 0);
        corio_map_destroy(m);
    }
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- timeout ------------------------------------------------------------------- */

START_TEST(test_map_timeout_cancels_the_rest) {
    corio_executor *ex = t_pool(1);
    enum { N = 10 };
    atomic_int started = 0;
    sem_t started_sem;
    t_gate_init(&started_sem);
    void **ptrs;
    t_item *items = t_items_new(N, &started, &started_sem, &ptrs);
    items[0].gated = 1; /* the only worker is stuck on item 0 */
    corio_map_options o = {0};
    o.timeout = 0.2;
    corio_map *m = NULL;
    double t0 = t_now();
    ck_assert_int_eq(corio_executor_map(ex, t_item_task, ptrs, N, &o, &m), 0);
    ck_assert(t_gate_pass_within(&started_sem, 60.0));
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT);
    double el = t_now() - t0;
    ck_assert(el >= 0.19 && el < 10.0);
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT); /* sticky */
    t_gate_open(&items[0].gate, 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    /* The queued items were cancelled at the timeout: they never ran. */
    ck_assert_int_eq(atomic_load(&started), 1);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
    t_items_free(items, N, ptrs);
    sem_destroy(&started_sem);
}
END_TEST

/* has_timeout with timeout 0 polls: a next() whose item is not done
 * returns -ETIMEDOUT at once and cancels the rest; {0} waits without limit. */
START_TEST(test_map_timeout_zero_polls) {
    corio_executor *ex = t_pool(1);
    enum { N = 4 };
    atomic_int started = 0;
    sem_t started_sem;
    t_gate_init(&started_sem);
    void **ptrs;
    t_item *items = t_items_new(N, &started, &started_sem, &ptrs);
    items[0].gated = 1;
    corio_map_options o = {.timeout = 0, .has_timeout = true};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_item_task, ptrs, N, &o, &m), 0);
    ck_assert(t_gate_pass_within(&started_sem, 60.0));
    corio_value v;
    double t0 = t_now();
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT);
    ck_assert(t_now() - t0 < 5.0);
    t_gate_open(&items[0].gate, 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(atomic_load(&started), 1); /* the rest was cancelled */
    corio_map_destroy(m);
    /* Zero-initialised options: no limit, every item arrives. */
    atomic_store(&started, 0);
    corio_executor *ex2 = t_pool(1);
    corio_map_options d = {0};
    items[0].gated = 0;
    ck_assert_int_eq(corio_executor_map(ex2, t_item_task, ptrs, N, &d, &m), 0);
    int got = 0;
    while (corio_map_next(m, &v) == 1)
        got++;
    ck_assert_int_eq(got, N);
    corio_map_destroy(m);
    corio_map_options bad = {.timeout = NAN};
    ck_assert_int_eq(corio_executor_map(ex2, t_item_task, ptrs, N, &bad, &m), -EINVAL);
    corio_executor_destroy(ex2);
    corio_executor_destroy(ex);
    t_items_free(items, N, ptrs);
    sem_destroy(&started_sem);
}
END_TEST

/* The timeout counts from the map call, not from each next(). */
START_TEST(test_map_timeout_counts_from_call) {
    corio_executor *ex = t_pool(2);
    enum { N = 8 };
    atomic_int started = 0;
    void **ptrs;
    t_item *items = t_items_new(N, &started, NULL, &ptrs);
    items[5].gated = 1;
    corio_map_options o = {0};
    o.timeout = 2.0;
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_item_task, ptrs, N, &o, &m), 0);
    t_sleep(2.1); /* the consumer is late: the whole budget is spent */
    corio_value v;
    for (size_t i = 0; i < 5; i++) { /* done items are still returned */
        ck_assert_int_eq(corio_map_next(m, &v), 1);
        ck_assert_ptr_eq(v.ptr, (void *)(i + 1));
    }
    double t0 = t_now();
    ck_assert_int_eq(corio_map_next(m, &v), -ETIMEDOUT);
    ck_assert_msg(t_now() - t0 < 1.5, "next() waited a fresh timeout");
    t_gate_open(&items[5].gate, 1);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
    t_items_free(items, N, ptrs);
}
END_TEST

/* ---- bounded window --------------------------------------------------------------- */

START_TEST(test_map_buffersize_bounds_submissions) {
    corio_executor *ex = t_pool(8); /* enough workers to start far more */
    enum { N = 24, B = 4 };
    atomic_int started = 0;
    sem_t started_sem;
    t_gate_init(&started_sem);
    void **ptrs;
    t_item *items = t_items_new(N, &started, &started_sem, &ptrs);
    for (size_t i = 0; i < N; i++)
        items[i].gated = 1;
    corio_map_options o = {0};
    o.buffersize = B;
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_item_task, ptrs, N, &o, &m), 0);
    for (int i = 0; i < B; i++)
        ck_assert(t_gate_pass_within(&started_sem, 60.0));
    t_sleep(0.2); /* proving a negative: nothing beyond the window starts */
    ck_assert_int_eq(atomic_load(&started), B);
    for (size_t i = 0; i < N; i++) {
        t_gate_open(&items[i].gate, 1);
        corio_value v;
        ck_assert_int_eq(corio_map_next(m, &v), 1);
        ck_assert_ptr_eq(v.ptr, (void *)(i + 1));
        ck_assert_int_le(atomic_load(&started), (int)(i + 1 + B));
    }
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    ck_assert_int_eq(atomic_load(&started), N);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
    t_items_free(items, N, ptrs);
    sem_destroy(&started_sem);
}
END_TEST

/* Regression: with a window of one chunk (buffersize <= chunksize, e.g.
 * buffersize 1) the next chunk was never submitted before it was read, and
 * the map returned the previous chunk's values again (and released the
 * future whose value it had just handed out). */
START_TEST(test_map_regression_window_of_one_chunk) {
    corio_executor *ex = t_pool(4);
    size_t n = 200;
    void **items = t_int_items(n);
    corio_map_options o = {0};
    o.buffersize = 10;
    o.chunksize = 3;
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, n, &o, &m), 0);
    t_read_all_twice(m, n);
    corio_map_destroy(m);
    size_t cases[][2] = {{1, 3}, {1, 1}, {3, 3}, {2, 5}}; /* {buffersize, chunksize} */
    for (size_t k = 0; k < 4; k++) {
        o.buffersize = cases[k][0];
        o.chunksize = cases[k][1];
        ck_assert_int_eq(corio_executor_map(ex, t_twice, items, n, &o, &m), 0);
        t_read_all_twice(m, n);
        corio_map_destroy(m);
    }
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- bytes, heap values, early destroy ------------------------------------------------ */

static int t_bytes_len_sum(void *arg, corio_value *out) {
    const corio_value *v = arg;
    uintptr_t sum = 0;
    for (size_t i = 0; i < v->len; i++)
        sum += ((const unsigned char *)v->ptr)[i];
    out->ptr = (void *)(sum * 100 + v->len);
    return 0;
}

START_TEST(test_map_bytes_items) {
    corio_executor *ex = t_pool(2);
    const char *words[] = {"", "a", "hello", "corio", "concurrent.futures", "x"};
    enum { N = 6 };
    corio_value vals[N];
    for (int i = 0; i < N; i++)
        vals[i] = (corio_value){(void *)words[i], strlen(words[i]), NULL};
    for (size_t chunk = 1; chunk <= 4; chunk += 3) {
        corio_map_options o = {0};
        o.bytes = true;
        o.chunksize = chunk;
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(ex, t_bytes_len_sum, vals, N, &o, &m), 0);
        for (int i = 0; i < N; i++) {
            uintptr_t sum = 0;
            for (const char *p = words[i]; *p; p++)
                sum += (unsigned char)*p;
            corio_value v;
            ck_assert_int_eq(corio_map_next(m, &v), 1);
            ck_assert_ptr_eq(v.ptr, (void *)(sum * 100 + strlen(words[i])));
        }
        corio_map_destroy(m);
    }
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_map_heap_values) {
    corio_executor *ex = t_pool(3);
    size_t n = 50;
    void **items = t_int_items(n);
    for (size_t chunk = 1; chunk <= 7; chunk += 6) {
        corio_map_options o = {0};
        o.chunksize = chunk;
        o.buffersize = 8;
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(ex, t_heap_string, items, n, &o, &m), 0);
        for (size_t i = 0; i < n; i++) {
            corio_value v;
            ck_assert_int_eq(corio_map_next(m, &v), 1);
            char want[24];
            snprintf(want, sizeof want, "item-%zu", i);
            ck_assert_str_eq(v.ptr, want); /* valid until the next call */
        }
        corio_map_destroy(m); /* every string freed exactly once */
    }
    free(items);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_map_destroy_early) {
    corio_executor *ex = t_pool(1);
    enum { N = 40 };
    atomic_int started = 0;
    sem_t started_sem;
    t_gate_init(&started_sem);
    void **ptrs;
    t_item *items = t_items_new(N, &started, &started_sem, &ptrs);
    items[3].gated = 1;
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_item_task, ptrs, N, NULL, &m), 0);
    corio_value v;
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(corio_map_next(m, &v), 1);
    for (int i = 0; i < 4; i++) /* items 0-3 started; 3 is stuck */
        ck_assert(t_gate_pass_within(&started_sem, 60.0));
    corio_map_destroy(m); /* item 3 runs; what is queued behind it is cancelled */
    t_gate_open(&items[3].gate, 1);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(atomic_load(&started), 4);
    corio_executor_destroy(ex);
    t_items_free(items, N, ptrs);
    sem_destroy(&started_sem);
    /* Heap values of a partly read map are released too. */
    ex = t_pool(2);
    void **ints = t_int_items(100);
    corio_map_options o = {0};
    o.chunksize = 9;
    ck_assert_int_eq(corio_executor_map(ex, t_heap_string, ints, 100, &o, &m), 0);
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
    free(ints);
}
END_TEST

/* ---- volume ---------------------------------------------------------------------- */

START_TEST(test_map_million_items) {
    size_t n = t_scale(1000000, 5000);
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    void **items = t_int_items(n);
    corio_map_options o = {0};
    o.chunksize = 1000;
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, items, n, &o, &m), 0);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        corio_value v = {0};
        if (corio_map_next(m, &v) != 1 || v.ptr != (void *)(2 * i + 1))
            bad++;
    }
    ck_assert_uint_eq(bad, 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    corio_map_destroy(m);
    free(items);
    corio_executor_destroy(ex);
}
END_TEST


/* Every size argument at its extremes (run under UBSan in CI): the window
 * and chunk arithmetic never wraps (buffersize SIZE_MAX used to divide by
 * zero; chunksize SIZE_MAX made the chunk count 0), on both pools. */
static const size_t t_extremes[] = {0, 1, SIZE_MAX, SIZE_MAX / 2 + 1};

START_TEST(test_map_size_extremes) {
    corio_executor *ex = NULL;
    if (_i == 0) {
        ex = t_pool(2);
    } else {
        corio_process_pool_options po = {.max_workers = 2};
        ck_assert_int_eq(corio_process_pool_create(&po, &ex), 0);
    }
    void **items = t_int_items(7);
    for (size_t a = 0; a < 4; a++) {
        for (size_t b = 0; b < 4; b++) {
            corio_map_options o = {.buffersize = t_extremes[a], .chunksize = t_extremes[b]};
            corio_map *m = NULL;
            ck_assert_int_eq(corio_executor_map(ex, t_twice, items, 7, &o, &m), 0);
            corio_value v;
            for (uintptr_t i = 0; i < 7; i++) {
                ck_assert_int_eq(corio_map_next(m, &v), 1);
                ck_assert_uint_eq((uintptr_t)v.ptr, 2 * i + 1);
            }
            ck_assert_int_eq(corio_map_next(m, &v), 0);
            corio_map_destroy(m);
        }
    }
    free(items);
    /* A byte item {NULL, len > 0} fails as submit_bytes refuses it. */
    static const char txt[] = "abc";
    corio_value bytes[2] = {{NULL, 4, NULL}, {(void *)txt, 3, NULL}};
    corio_map_options o = {.bytes = true};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_twice, bytes, 2, &o, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), -EINVAL);
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    corio_map_destroy(m);
    /* A NaN timeout is refused (uniform timeouts). */
    o = (corio_map_options){.timeout = NAN};
    ck_assert_int_eq(corio_executor_map(ex, t_twice, bytes, 1, &o, &m), -EINVAL);
    corio_executor_destroy(ex);
}
END_TEST

int main(void) {
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("map");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_map_in_order);
    tcase_add_test(tc, test_map_empty);
    tcase_add_test(tc, test_map_bad_arguments);
    tcase_add_test(tc, test_map_after_shutdown);
    tcase_add_test(tc, test_map_failure_surfaces_at_its_item);
    tcase_add_test(tc, test_map_task_timeout_is_not_map_timeout);
    tcase_add_test(tc, test_map_timeout_cancels_the_rest);
    tcase_add_test(tc, test_map_timeout_counts_from_call);
    tcase_add_test(tc, test_map_timeout_zero_polls);
    tcase_add_test(tc, test_map_buffersize_bounds_submissions);
    tcase_add_test(tc, test_map_regression_window_of_one_chunk);
    tcase_add_test(tc, test_map_bytes_items);
    tcase_add_test(tc, test_map_heap_values);
    tcase_add_test(tc, test_map_destroy_early);
    tcase_add_loop_test(tc, test_map_size_extremes, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("volume");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_map_million_items);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
