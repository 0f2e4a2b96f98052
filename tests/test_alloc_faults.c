/* Allocation-failure sweeps: for every creation path, fail its 1st, 2nd, ...
 * fault point (allocation, stack mapping, descriptor, thread; see
 * runtime/fault.h) until the path runs to the end without meeting the
 * fault. At each step the path must end with a clean error (or succeed
 * when the failure was tolerable), release everything it made, and neither
 * crash nor hang. Built only with -Dfault_injection=true; `make test-faults`
 * runs it under ASan+UBSan, where LeakSanitizer is asked after every step
 * whether anything leaked, so a leak names its path and step.
 *
 * Each sweep prints "fault sweep: <path>: <k> failure points", the figure
 * docs/reliability.md reports. Counts include points reached by the
 * library's own threads (loops, pool workers, the process pool's
 * collector) while the path runs; those may vary by one or two from run to
 * run with scheduling. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"
#include "fault.h"
#include "t_helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define T_LEAK_CHECK() __lsan_do_recoverable_leak_check()
#else
#define T_LEAK_CHECK() 0
#endif

/* No path has anywhere near this many points: reaching it means the sweep
 * never ends (the operation keeps meeting the fault). */
#define T_MAX_POINTS 2000

/* One more code the current sweep accepts (0: none). */
static int t_also_ok;

/* The error codes a path may end with when one of its acquisitions failed. */
static int t_clean_error(int r) {
    return r == -ENOMEM || r == -EMFILE || r == -EAGAIN || (t_also_ok && r == t_also_ok);
}

/* One step's outcome, for the messages. */
#define T_STEP_FMT "%s (%s): failing fault point %lu, returned %d (%s)"

/* Sweep one path in one mode. setup (disarmed) makes what the path needs
 * but does not test (a pool for submit, a runtime for spawn); op runs
 * armed, releases everything it made and returns 0 or the first error it
 * met; teardown (disarmed) releases what setup made. `from`: fail every
 * point from the n-th on instead of the n-th alone. Returns the number of
 * failure points: the steps at which the fault fired. */
static unsigned long t_sweep_mode(const char *name, void *(*setup)(void), int (*op)(void *ctx),
                                  void (*teardown)(void *ctx), int from) {
    const char *mode = from ? "from the Nth on" : "the Nth only";
    for (unsigned long n = 1; n <= T_MAX_POINTS; n++) {
        void *ctx = setup ? setup() : NULL;
        if (from)
            corio__fault_arm_from(n);
        else
            corio__fault_arm(n);
        int r = op(ctx);
        unsigned long reached = corio__fault_count();
        int fired = corio__fault_fired();
        corio__fault_disarm();
        if (teardown)
            teardown(ctx);
        ck_assert_msg(T_LEAK_CHECK() == 0, "%s (%s): leak after failing fault point %lu", name,
                      mode, n);
        if (!fired) {
            ck_assert_msg(r == 0, "%s (%s): returned %d (%s) with no fault injected", name, mode,
                          r, corio_error_name(r));
            printf("fault sweep: %s (%s): %lu failure points (%lu points in a clean run)\n",
                   name, mode, n - 1, reached);
            fflush(stdout);
            return n - 1;
        }
        ck_assert_msg(r == 0 || t_clean_error(r), T_STEP_FMT, name, mode, n, r,
                      corio_error_name(r));
    }
    ck_abort_msg("%s (%s): still meeting the fault after %d points", name, mode, T_MAX_POINTS);
    return 0;
}

/* Both modes; the number of failure points of the first. (The two counts
 * differ only for a path with lasting state, such as the process-wide
 * blocking pool that the first successful step creates.) */
static unsigned long t_sweep(const char *name, void *(*setup)(void), int (*op)(void *ctx),
                             void (*teardown)(void *ctx)) {
    unsigned long once = t_sweep_mode(name, setup, op, teardown, 0);
    t_sweep_mode(name, setup, op, teardown, 1);
    return once;
}

/* First error wins. */
static void t_first(int *acc, int r) {
    if (*acc == 0 && r < 0)
        *acc = r;
}

/* ---- futures ---------------------------------------------------------------- */

static int t_count_cb(corio_future *f, void *arg) {
    (void)f;
    atomic_fetch_add((_Atomic int *)arg, 1);
    return 0;
}

/* create, three done-callbacks (the first is stored inline, the others
 * allocated), a failure with a message (copied), the callbacks run once. */
static int op_future(void *ctx) {
    (void)ctx;
    corio_future *f = corio_future_create();
    if (!f)
        return -ENOMEM;
    _Atomic int ran = 0;
    int added = 0, first = 0;
    for (int i = 0; i < 3; i++) {
        int r = corio_future_add_done_callback(f, t_count_cb, (void *)&ran);
        ck_assert_msg(r == 0 || r == -ENOMEM, "add_done_callback: %d", r);
        if (r == 0)
            added++;
        t_first(&first, r);
    }
    int r = corio_future_set_exception(f, -EIO, "failed on purpose (%d)", 42);
    ck_assert_msg(r == 0 || r == -ENOMEM, "set_exception: %d", r);
    t_first(&first, r);
    /* Even when the message could not be copied the future is done, with
     * its code, and every registered callback ran exactly once. */
    ck_assert(corio_future_done(f));
    ck_assert_int_eq(atomic_load(&ran), added);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), -EIO);
    corio_future_unref(f);
    return first;
}

START_TEST(test_sweep_future) { ck_assert_uint_gt(t_sweep("future", NULL, op_future, NULL), 0); }
END_TEST

/* ---- wait / as_completed, heap path (n > 16) ------------------------------- */

#define T_NF 24
typedef struct t_futs {
    corio_future *f[T_NF + 2]; /* T_NF distinct futures and two duplicates */
} t_futs;

static void *setup_futs(void) {
    t_futs *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < T_NF; i++) {
        t->f[i] = corio_future_create();
        ck_assert_ptr_nonnull(t->f[i]);
        if (i % 2 == 0)
            ck_assert_int_eq(corio_future_set_result(t->f[i], (void *)(uintptr_t)i, NULL), 0);
    }
    t->f[T_NF] = t->f[1];
    t->f[T_NF + 1] = t->f[2];
    return t;
}

static void teardown_futs(void *ctx) {
    t_futs *t = ctx;
    for (int i = 0; i < T_NF; i++)
        corio_future_unref(t->f[i]);
    free(t);
}

static int op_wait(void *ctx) {
    t_futs *t = ctx;
    corio_future *done[T_NF + 2], *not_done[T_NF + 2];
    size_t nd = 0, nn = 0;
    int first = 0;
    /* Some done: returns at once. */
    int r = corio_wait(t->f, T_NF + 2, CORIO_FOREVER, CORIO_FIRST_COMPLETED, done, &nd, not_done,
                       &nn);
    if (r == 0) {
        ck_assert_uint_eq(nd, T_NF / 2);
        ck_assert_uint_eq(nn, T_NF / 2);
    }
    t_first(&first, r);
    /* Not all done: registers a waiter on every pending future, times out,
     * withdraws them. */
    r = corio_wait(t->f, T_NF + 2, 0.001, CORIO_ALL_COMPLETED, done, &nd, not_done, &nn);
    ck_assert_msg(r == -ETIMEDOUT || r == 0 || t_clean_error(r), "wait: %d", r);
    if (r != -ETIMEDOUT)
        t_first(&first, r);
    /* as_completed: the done half, then a timeout. */
    corio_as_completed *it = NULL;
    r = corio_as_completed_create2(t->f, T_NF + 2, 0.001, &it);
    t_first(&first, r);
    if (r == 0) {
        corio_future *f;
        size_t got = 0;
        while ((r = corio_as_completed_next(it, &f)) == 1) /* borrowed */
            got++;
        ck_assert_msg(r == -ETIMEDOUT, "as_completed_next: %d", r);
        ck_assert_uint_eq(got, T_NF / 2);
        corio_as_completed_destroy(it);
    } else {
        ck_assert_ptr_null(it);
    }
    return first;
}

START_TEST(test_sweep_wait) {
    ck_assert_uint_gt(t_sweep("wait+as_completed (n > 16)", setup_futs, op_wait, teardown_futs), 0);
}
END_TEST

/* ---- thread pool ------------------------------------------------------------ */

static int t_echo(void *arg, corio_value *out) {
    out->ptr = arg;
    return 0;
}

/* Bytes in, the same bytes back (a malloc'd copy, freed with the future). */
static int t_echo_bytes(void *arg, corio_value *out) {
    const corio_value *in = arg;
    out->ptr = malloc(in->len ? in->len : 1);
    if (!out->ptr)
        return -ENOMEM;
    memcpy(out->ptr, in->ptr, in->len);
    out->len = in->len;
    out->dtor = free;
    return 0;
}

/* Odd items fail with a message (copied per item in a map chunk). */
static int t_odd_fails(void *arg, corio_value *out) {
    uintptr_t i = (uintptr_t)arg;
    if (i % 2)
        return corio_task_fail(-EDOM, "item %u is odd", (unsigned)i);
    out->ptr = arg;
    return 0;
}

static int op_tp_create(void *ctx) {
    (void)ctx;
    corio_executor *ex = NULL;
    corio_thread_pool_options o = {.max_workers = 2};
    int r = corio_thread_pool_create(&o, &ex);
    if (r < 0) {
        ck_assert_ptr_null(ex);
        return r;
    }
    corio_executor_destroy(ex);
    return 0;
}

START_TEST(test_sweep_thread_pool_create) {
    ck_assert_uint_gt(t_sweep("thread pool create", NULL, op_tp_create, NULL), 0);
}
END_TEST

static void *setup_tp(void) {
    corio_executor *ex = NULL;
    corio_thread_pool_options o = {.max_workers = 2};
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    return ex;
}

static void teardown_ex(void *ctx) { corio_executor_destroy(ctx); }

/* Submit (pointer and bytes) and collect; the first submit starts the
 * first worker thread, a later one the second. */
static int op_submit(void *ctx) {
    corio_executor *ex = ctx;
    corio_future *fs[5] = {0};
    int first = 0;
    for (int i = 0; i < 4; i++) {
        int err = 0;
        fs[i] = corio_executor_submit(ex, t_echo, (void *)(uintptr_t)(i + 1), &err);
        if (!fs[i])
            ck_assert_msg(t_clean_error(err), "submit: %d", err);
        t_first(&first, fs[i] ? 0 : err);
    }
    int err = 0;
    fs[4] = corio_executor_submit_bytes(ex, t_echo_bytes, "corio", 5, &err);
    t_first(&first, fs[4] ? 0 : err);
    for (int i = 0; i < 5; i++) {
        if (!fs[i])
            continue;
        corio_value v;
        int r = corio_future_result_value(fs[i], CORIO_FOREVER, &v);
        ck_assert_msg(r == 0 || t_clean_error(r), "result %d: %d", i, r);
        if (r == 0 && i < 4)
            ck_assert_ptr_eq(v.ptr, (void *)(uintptr_t)(i + 1));
        if (r == 0 && i == 4)
            ck_assert(v.len == 5 && memcmp(v.ptr, "corio", 5) == 0);
        t_first(&first, r);
        corio_future_unref(fs[i]);
    }
    return first;
}

START_TEST(test_sweep_thread_pool_submit) {
    ck_assert_uint_gt(t_sweep("thread pool submit", setup_tp, op_submit, teardown_ex), 0);
}
END_TEST

#define T_MAP_N 40
static void *t_map_items[T_MAP_N];

/* Drain a map; every item is read exactly once, whatever failed. */
static int t_drain_map(corio_executor *ex, corio_fn fn, size_t chunk, int expect_odd_fail) {
    for (size_t i = 0; i < T_MAP_N; i++)
        t_map_items[i] = (void *)(uintptr_t)i;
    corio_map_options o = {.chunksize = chunk, .buffersize = 8};
    corio_map *m = NULL;
    int r = corio_executor_map(ex, fn, t_map_items, T_MAP_N, &o, &m);
    if (r < 0) {
        ck_assert_ptr_null(m);
        return r;
    }
    int first = 0;
    size_t seen = 0;
    corio_value v;
    while ((r = corio_map_next(m, &v)) != 0) {
        ck_assert_msg(seen < T_MAP_N, "map_next keeps returning %d after %zu items", r, seen);
        if (r == 1) {
            ck_assert_ptr_eq(v.ptr, t_map_items[seen]);
        } else if (expect_odd_fail && r == -EDOM) {
            ck_assert_uint_eq(seen % 2, 1);
        } else {
            ck_assert_msg(t_clean_error(r), "map_next: %d", r);
            t_first(&first, r);
        }
        seen++;
    }
    ck_assert_uint_eq(seen, T_MAP_N);
    corio_map_destroy(m);
    return first;
}

static int op_map(void *ctx) {
    corio_executor *ex = ctx;
    int first = 0;
    t_first(&first, t_drain_map(ex, t_echo, 1, 0));
    t_first(&first, t_drain_map(ex, t_odd_fails, 8, 1));
    return first;
}

START_TEST(test_sweep_thread_pool_map) {
    ck_assert_uint_gt(t_sweep("thread pool map (chunks of 1 and 8)", setup_tp, op_map, teardown_ex),
                      0);
}
END_TEST

/* ---- process pool ----------------------------------------------------------- */

static int op_pp_create(void *ctx) {
    (void)ctx;
    corio_executor *ex = NULL;
    corio_process_pool_options o = {.max_workers = 2};
    int r = corio_process_pool_create(&o, &ex);
    if (r < 0) {
        ck_assert_ptr_null(ex);
        return r;
    }
    corio_executor_destroy(ex);
    return 0;
}

START_TEST(test_sweep_process_pool_create) {
    ck_assert_uint_gt(t_sweep("process pool create", NULL, op_pp_create, NULL), 0);
}
END_TEST

static void *setup_pp(void) {
    corio_executor *ex = NULL;
    corio_process_pool_options o = {.max_workers = 2};
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    return ex;
}

static int op_pp_work(void *ctx) {
    int first = op_submit(ctx);
    t_first(&first, t_drain_map(ctx, t_odd_fails, 8, 1));
    return first;
}

/* Workers replaced after every job: the collector asks the fork server for
 * new ones while jobs are queued. */
static void *setup_pp_recycle(void) {
    corio_executor *ex = NULL;
    corio_process_pool_options o = {.max_workers = 2, .max_tasks_per_child = 1};
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    return ex;
}

/* A replacement worker that cannot be started breaks the pool (as in
 * Python): queued and later jobs fail with CORIO_EBROKEN_PROCESS_POOL. */
START_TEST(test_sweep_process_pool_recycle) {
    t_also_ok = CORIO_EBROKEN_PROCESS_POOL;
    ck_assert_uint_gt(t_sweep("process pool submit, max_tasks_per_child = 1", setup_pp_recycle,
                              op_submit, teardown_ex),
                      0);
}
END_TEST

START_TEST(test_sweep_process_pool_submit) {
    ck_assert_uint_gt(t_sweep("process pool submit+map", setup_pp, op_pp_work, teardown_ex), 0);
}
END_TEST

/* ---- corio_to_thread outside a runtime: the process-wide blocking pool ---- */

static int op_to_thread(void *ctx) {
    (void)ctx;
    int err = 0;
    corio_future *f = corio_to_thread(t_echo, (void *)5, &err);
    if (!f) {
        ck_assert_msg(t_clean_error(err), "to_thread: %d", err);
        return err;
    }
    void *v = NULL;
    int r = corio_future_result(f, CORIO_FOREVER, &v);
    ck_assert_msg(r == 0 || t_clean_error(r), "to_thread result: %d", r);
    if (r == 0)
        ck_assert_ptr_eq(v, (void *)5);
    corio_future_unref(f);
    return r;
}

/* The pool is made by the first call: a failure there must not leave the
 * process without one for good. */
START_TEST(test_sweep_to_thread_default_pool) {
    ck_assert_uint_gt(t_sweep("corio_to_thread (default blocking pool)", NULL, op_to_thread, NULL),
                      0);
}
END_TEST

/* ---- runtime and coroutines ------------------------------------------------- */

static int op_rt_create(void *ctx) {
    (void)ctx;
    corio_runtime_options o = {.loops = 2, .no_pin = true};
    corio_runtime *rt = NULL;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0) {
        ck_assert_ptr_null(rt);
        return r;
    }
    corio_runtime_destroy(rt);
    return 0;
}

START_TEST(test_sweep_runtime_create) {
    ck_assert_uint_gt(t_sweep("runtime create (2 loops)", NULL, op_rt_create, NULL), 0);
}
END_TEST

static int t_child(void *arg, corio_value *out) {
    int r = corio_sleep(0.001); /* a timer: the loop's heap */
    out->ptr = arg;
    return r;
}

/* A coroutine that spawns a child on its own loop (launched at once) and
 * one on the other loop (posted), sleeps, and joins them. */
static int t_parent(void *arg, corio_value *out) {
    (void)arg;
    int first = 0, err = 0;
    corio_future *a = corio_spawn(t_child, (void *)1, &err);
    t_first(&first, a ? 0 : err);
    corio_future *b = corio_spawn_on(corio_runtime_current(), 1 - corio_loop_id(), t_child,
                                     (void *)2, NULL, &err);
    t_first(&first, b ? 0 : err);
    t_first(&first, corio_sleep(0.001));
    corio_future *fs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (!fs[i])
            continue;
        void *v = NULL;
        int r = corio_future_result(fs[i], CORIO_FOREVER, &v);
        ck_assert_msg(r == 0 || t_clean_error(r), "child: %d", r);
        if (r == 0)
            ck_assert_ptr_eq(v, (void *)(uintptr_t)(i + 1));
        t_first(&first, r);
        corio_future_unref(fs[i]);
    }
    out->ptr = (void *)7;
    return first;
}

static void *setup_rt(void) {
    corio_runtime_options o = {.loops = 2, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

static void teardown_rt(void *ctx) { corio_runtime_destroy(ctx); }

static int op_spawn(void *ctx) {
    corio_runtime *rt = ctx;
    int err = 0;
    corio_future *f = corio_spawn_on(rt, 0, t_parent, NULL, NULL, &err);
    if (!f) {
        ck_assert(t_clean_error(err));
        return err;
    }
    void *v = NULL;
    int r = corio_future_result(f, CORIO_FOREVER, &v);
    ck_assert_msg(r == 0 || t_clean_error(r), "coroutine: %d", r);
    if (r == 0)
        ck_assert_ptr_eq(v, (void *)7);
    corio_future_unref(f);
    return r;
}

START_TEST(test_sweep_spawn) {
    ck_assert_uint_gt(t_sweep("spawn + run (nested, cross-loop)", setup_rt, op_spawn, teardown_rt),
                      0);
}
END_TEST

static int op_run(void *ctx) {
    (void)ctx;
    corio_runtime_options o = {.loops = 2, .no_pin = true};
    corio_value v = {0};
    int r = corio_run_with(&o, t_parent, NULL, &v);
    ck_assert_msg(r == 0 || t_clean_error(r), "corio_run_with: %d", r);
    if (r == 0)
        ck_assert_ptr_eq(v.ptr, (void *)7);
    return r;
}

START_TEST(test_sweep_run) {
    ck_assert_uint_gt(t_sweep("corio_run_with (create, spawn, run, destroy)", NULL, op_run, NULL),
                      0);
}
END_TEST

/* ---- sync objects ----------------------------------------------------------- */

static int op_sync(void *ctx) {
    (void)ctx;
    int first = 0, r;
    corio_channel *ch = NULL;
    for (size_t cap = 0; cap <= 4; cap += 4) {
        r = corio_channel_create(cap, &ch);
        t_first(&first, r);
        if (r == 0) {
            void *item = NULL;
            ck_assert_int_eq(corio_channel_try_send(ch, (void *)1), cap ? 0 : -EAGAIN);
            ck_assert_int_eq(corio_channel_try_recv(ch, &item), cap ? 0 : -EAGAIN);
            ck_assert_int_eq(corio_channel_destroy(ch), 0);
        } else {
            ck_assert_ptr_null(ch);
        }
    }
    corio_mutex *m = NULL;
    r = corio_mutex_create(&m);
    t_first(&first, r);
    if (r == 0) {
        ck_assert_int_eq(corio_mutex_lock(m, CORIO_FOREVER), 0);
        ck_assert_int_eq(corio_mutex_unlock(m), 0);
        ck_assert_int_eq(corio_mutex_destroy(m), 0);
    }
    corio_semaphore *s = NULL;
    r = corio_semaphore_create(1, &s);
    t_first(&first, r);
    if (r == 0) {
        ck_assert_int_eq(corio_semaphore_acquire(s, CORIO_FOREVER), 0);
        ck_assert_int_eq(corio_semaphore_release(s, 1), 0);
        ck_assert_int_eq(corio_semaphore_destroy(s), 0);
    }
    corio_event *e = NULL;
    r = corio_event_create(&e);
    t_first(&first, r);
    if (r == 0) {
        ck_assert_int_eq(corio_event_set(e), 0);
        ck_assert_int_eq(corio_event_wait(e, CORIO_FOREVER), 0);
        ck_assert_int_eq(corio_event_destroy(e), 0);
    }
    return first;
}

START_TEST(test_sweep_sync) {
    ck_assert_uint_gt(t_sweep("channel/mutex/semaphore/event create", NULL, op_sync, NULL), 0);
}
END_TEST

/* ---- acceptor --------------------------------------------------------------- */

static int op_acceptor(void *ctx) {
    (void)ctx;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    corio_acceptor *acc = NULL;
    int r = corio_acceptor_create(fd, 0, &acc);
    if (r == 0)
        corio_acceptor_destroy(acc);
    close(fd);
    return r;
}

START_TEST(test_sweep_acceptor) {
    ck_assert_uint_gt(t_sweep("acceptor create", NULL, op_acceptor, NULL), 0);
}
END_TEST

/* ---- the mechanism itself --------------------------------------------------- */

/* Arming fails exactly the n-th point, once; disarmed nothing fails. */
START_TEST(test_fault_counts_and_fires_once) {
    corio__fault_arm(2);
    corio_future *a = corio_future_create();
    corio_future *b = corio_future_create();
    corio_future *c = corio_future_create();
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(c);
    ck_assert(corio__fault_fired());
    ck_assert_uint_eq(corio__fault_count(), 3);
    corio__fault_disarm();
    b = corio_future_create();
    ck_assert_ptr_nonnull(b);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_future_unref(c);
}
END_TEST

static Suite *alloc_faults_suite(void) {
    Suite *s = suite_create("alloc_faults");
    TCase *tc = tcase_create("mechanism");
    tcase_add_test(tc, test_fault_counts_and_fires_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sweep_future);
    tcase_add_test(tc, test_sweep_wait);
    tcase_add_test(tc, test_sweep_thread_pool_create);
    tcase_add_test(tc, test_sweep_thread_pool_submit);
    tcase_add_test(tc, test_sweep_thread_pool_map);
    tcase_add_test(tc, test_sweep_sync);
    tcase_add_test(tc, test_sweep_to_thread_default_pool);
    suite_add_tcase(s, tc);
    tc = tcase_create("process_pool");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sweep_process_pool_create);
    tcase_add_test(tc, test_sweep_process_pool_submit);
    tcase_add_test(tc, test_sweep_process_pool_recycle);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sweep_runtime_create);
    tcase_add_test(tc, test_sweep_spawn);
    tcase_add_test(tc, test_sweep_run);
    tcase_add_test(tc, test_sweep_acceptor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(alloc_faults_suite()); }
