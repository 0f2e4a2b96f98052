/* Tests for the process pool: jobs and their transport. Pointer and byte
 * arguments and results (static data shared by fork, zero lengths, 16 MiB
 * both ways, an oversized payload refused), failure messages, map chunks
 * (compact and full forms), 100k small jobs, corrupt and truncated frames
 * and the wire checks; round trips from waiting threads (which read their
 * workers' answers themselves) and from coroutines (a pool created inside
 * a runtime, two loops sharing one). The workers' lives (creation, the
 * initializer, crashes, cancel, shutdown, cleanliness) are in
 * test_process_pool_workers.c; the helpers both use in t_process_pool.h.
 *
 * Check forks each test, so every test creates and destroys its own pool. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "corio.h"
#include "internal.h"
#include "t_helpers.h"
#include "t_process_pool.h"

/* LeakSanitizer asks this before its check at exit. A child that leaves
 * through exit() on purpose (the at-exit tests) sets it: Check's own
 * allocations of the test that forked it are still live there and would
 * be reported, not corio's. Everywhere else it is 0 (checks run). */
static volatile int t_no_leak_check;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return t_no_leak_check; }
#include "../executors/wire.h"

/* ---- jobs (they run in the workers) ------------------------------------ */

static const char t_static_text[] = "static data is shared by fork";

static int t_strlen(void *arg, corio_value *out) {
    out->ptr = (void *)(uintptr_t)strlen(arg);
    return 0;
}

/* Echo the argument (no copy: the worker copies it into the frame). */
static int t_echo(void *arg, corio_value *out) {
    const corio_value *in = arg;
    out->ptr = in->ptr;
    out->len = in->len;
    return 0;
}

static int t_fail_odd(void *arg, corio_value *out) {
    uintptr_t v = (uintptr_t)arg;
    if (v % 2)
        return corio_task_fail(-EDOM, "odd input %u", (unsigned)v);
    out->ptr = (void *)(v * 10);
    return 0;
}

static int t_bytes_len(void *arg, corio_value *out) {
    const corio_value *in = arg;
    if (in->len == 3)
        return corio_task_fail(-ERANGE, "three bytes are not allowed");
    out->ptr = (void *)(uintptr_t)in->len;
    return 0;
}

/* Scribble a corrupt frame on the socket, then answer normally. */
static int t_corrupt(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    unsigned char junk[sizeof(corio__res_hdr)];
    memset(junk, 0xA5, sizeof junk);
    ssize_t r = write(corio__pp_worker_fd, junk, sizeof junk);
    (void)r;
    return 0;
}

/* Write the start of a frame, then die. */
static int t_truncate(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_ONE};
    ssize_t r = write(corio__pp_worker_fd, &h, 20);
    (void)r;
    _exit(0);
}

static int t_len_no_ptr(void *arg, corio_value *out) {
    (void)arg;
    out->len = 5;
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_submit_pointer_and_static_data) {
    corio_executor *ex = t_pool(2);
    int err = 0;
    corio_future *f = corio_executor_submit(ex, t_add_one, (void *)41, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(t_result_int(f), 42);
    corio_future_unref(f);
    f = corio_executor_submit(ex, t_strlen, (void *)t_static_text, &err);
    ck_assert_uint_eq(t_result_int(f), strlen(t_static_text));
    corio_future_unref(f);
    ck_assert_ptr_null(corio_executor_submit(ex, NULL, NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_bytes_round_trip_and_zero_length) {
    corio_executor *ex = t_pool(2);
    int err = 0;
    corio_future *f = corio_executor_submit_bytes(ex, t_reverse, "abcdef", 6, &err);
    corio_value v;
    ck_assert_int_eq(corio_future_result_value(f, 30, &v), 0);
    ck_assert_uint_eq(v.len, 6);
    ck_assert_int_eq(memcmp(v.ptr, "fedcba", 6), 0);
    corio_future_unref(f);
    /* Zero-length argument (NULL data allowed) and zero-length result. */
    f = corio_executor_submit_bytes(ex, t_reverse, NULL, 0, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(corio_future_result_value(f, 30, &v), 0);
    ck_assert_uint_eq(v.len, 0);
    corio_future_unref(f);
    f = corio_executor_submit_bytes(ex, t_bytes_len, "", 0, &err);
    ck_assert_uint_eq(t_result_int(f), 0);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_task_failure_message) {
    corio_executor *ex = t_pool(1);
    corio_future *f = corio_executor_submit(ex, t_fail_odd, (void *)7, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), -EDOM);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), -EDOM);
    ck_assert_str_eq(msg, "odd input 7");
    corio_future_unref(f);
    f = corio_executor_submit(ex, t_len_no_ptr, NULL, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), -EINVAL);
    corio_future_unref(f);
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
}
END_TEST

static void t_check_map(corio_executor *ex, size_t chunk) {
    enum { N = 1000 };
    static void *items[N];
    for (size_t i = 0; i < N; i++)
        items[i] = (void *)i;
    corio_map_options mo = {.chunksize = chunk};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_fail_odd, items, N, &mo, &m), 0);
    corio_value v;
    for (size_t i = 0; i < N; i++) {
        int r = corio_map_next(m, &v);
        if (i % 2) {
            ck_assert_int_eq(r, -EDOM);
            char want[32];
            snprintf(want, sizeof want, "odd input %u", (unsigned)i);
            ck_assert_str_eq(corio_map_message(m), want);
        } else {
            ck_assert_int_eq(r, 1);
            ck_assert_uint_eq((uintptr_t)v.ptr, i * 10);
        }
    }
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    corio_map_destroy(m);
}

/* Chunks whose items all succeed travel in the compact form; one failure
 * after k successes switches the worker to full items (the k answered
 * ones rewritten): every outcome must still be right. */
static void t_check_map_late_failure(corio_executor *ex, size_t fail_at) {
    enum { N = 120, CHUNK = 50 };
    static void *items[N];
    for (size_t i = 0; i < N; i++)
        items[i] = (void *)(2 * i);
    items[fail_at] = (void *)(2 * fail_at + 1);
    corio_map_options mo = {.chunksize = CHUNK};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_fail_odd, items, N, &mo, &m), 0);
    corio_value v;
    for (size_t i = 0; i < N; i++) {
        int r = corio_map_next(m, &v);
        if (i == fail_at) {
            ck_assert_int_eq(r, -EDOM);
        } else {
            ck_assert_int_eq(r, 1);
            ck_assert_uint_eq((uintptr_t)v.ptr, 2 * i * 10);
        }
    }
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    corio_map_destroy(m);
}

START_TEST(test_map_chunks) {
    corio_executor *ex = t_pool(2);
    t_check_map(ex, 1);
    t_check_map(ex, 7);
    t_check_map(ex, 1000);
    t_check_map_late_failure(ex, 0);
    t_check_map_late_failure(ex, 37);
    t_check_map_late_failure(ex, 49);
    t_check_map_late_failure(ex, 119);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_map_bytes_chunks) {
    corio_executor *ex = t_pool(2);
    enum { N = 200 };
    static corio_value items[N];
    static char data[N];
    for (size_t i = 0; i < N; i++)
        items[i] = (corio_value){data, i % 5, NULL};
    for (size_t chunk = 1; chunk <= 64; chunk *= 8) {
        corio_map_options mo = {.chunksize = chunk, .bytes = true};
        corio_map *m = NULL;
        ck_assert_int_eq(corio_executor_map(ex, t_bytes_len, items, N, &mo, &m), 0);
        corio_value v;
        for (size_t i = 0; i < N; i++) {
            int r = corio_map_next(m, &v);
            if (i % 5 == 3) {
                ck_assert_int_eq(r, -ERANGE);
                ck_assert_str_eq(corio_map_message(m), "three bytes are not allowed");
            } else {
                ck_assert_int_eq(r, 1);
                ck_assert_uint_eq((uintptr_t)v.ptr, i % 5);
            }
        }
        ck_assert_int_eq(corio_map_next(m, &v), 0);
        corio_map_destroy(m);
    }
    /* Byte results inside a chunk. */
    corio_map_options mo = {.chunksize = 16, .bytes = true};
    static corio_value words[3] = {{"one", 3, NULL}, {"", 0, NULL}, {"three", 5, NULL}};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_reverse, words, 3, &mo, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert(v.len == 3 && memcmp(v.ptr, "eno", 3) == 0);
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert_uint_eq(v.len, 0);
    ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert(v.len == 5 && memcmp(v.ptr, "eerht", 5) == 0);
    corio_map_destroy(m);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_16mib_payload_exact) {
    corio_executor *ex = t_pool(2);
    size_t n = 16u << 20;
    unsigned char *buf = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    corio_future *f1 = corio_executor_submit_bytes(ex, t_echo, buf, n, NULL);
    corio_future *f2 = corio_executor_submit_bytes(ex, t_reverse, buf, n, NULL);
    ck_assert_ptr_nonnull(f1);
    ck_assert_ptr_nonnull(f2);
    corio_value v;
    ck_assert_int_eq(corio_future_result_value(f1, 60, &v), 0);
    ck_assert_uint_eq(v.len, n);
    ck_assert_int_eq(memcmp(v.ptr, buf, n), 0);
    ck_assert_int_eq(corio_future_result_value(f2, 60, &v), 0);
    ck_assert_uint_eq(v.len, n);
    const unsigned char *r = v.ptr;
    for (size_t i = 0; i < n; i += 4093)
        ck_assert_uint_eq(r[i], buf[n - 1 - i]);
    corio_future_unref(f1);
    corio_future_unref(f2);
    free(buf);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_oversized_payload) {
    corio_executor *ex = t_pool(1);
    int err = 0;
    char one = 0;
    /* Refused before any byte is read. */
    ck_assert_ptr_null(
        corio_executor_submit_bytes(ex, t_echo, &one, (size_t)CORIO__WIRE_MAX_PAYLOAD + 1, &err));
    ck_assert_int_eq(err, -EMSGSIZE);
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_100k_small_jobs) {
    corio_executor *ex = t_pool(2);
    enum { N = 100000 };
    corio_future **fs = malloc(N * sizeof *fs);
    for (uintptr_t i = 0; i < N; i++) {
        fs[i] = corio_executor_submit(ex, t_add_one, (void *)i, NULL);
        ck_assert_ptr_nonnull(fs[i]);
    }
    for (uintptr_t i = 0; i < N; i++) {
        ck_assert_uint_eq(t_result_int(fs[i]), i + 1);
        corio_future_unref(fs[i]);
    }
    free(fs);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_corrupt_message_fails_job_only) {
    corio_executor *ex = t_pool(1);
    corio_future *f = corio_executor_submit(ex, t_corrupt, NULL, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), CORIO_EPROTOCOL);
    const char *msg = NULL;
    corio_future_exception(f, 0, &msg);
    ck_assert_msg(strstr(msg, "bad frame magic 0xa5a5a5a5"), "message: %s", msg);
    corio_future_unref(f);
    f = corio_executor_submit(ex, t_truncate, NULL, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), CORIO_EPROTOCOL);
    corio_future_exception(f, 0, &msg);
    ck_assert_msg(strstr(msg, "corrupt or truncated"), "message: %s", msg);
    corio_future_unref(f);
    f = corio_executor_submit(ex, t_add_one, (void *)1, NULL);
    ck_assert_uint_eq(t_result_int(f), 2);
    corio_future_unref(f);
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
}
END_TEST

/* A pool created from inside a running corio runtime (loop threads and an
 * io_uring already exist): coroutines await process jobs, and while they
 * are suspended the loop keeps running other coroutines. */
typedef struct t_in_rt {
    corio_executor *ex; /* the pool, created by the main coroutine */
    _Atomic int ticks;  /* progress of the ticker coroutine */
    _Atomic int done;   /* the awaiting coroutines have their results */
} t_in_rt;

static int t_ticker(void *arg, corio_value *out) {
    (void)out;
    t_in_rt *t = arg;
    while (!atomic_load(&t->done)) {
        atomic_fetch_add(&t->ticks, 1);
        if (corio_yield() < 0)
            break;
    }
    return 0;
}

static int t_await_job(void *arg, corio_value *out) {
    t_in_rt *t = arg;
    int err = 0;
    corio_future *f = corio_executor_submit_bytes(t->ex, t_reverse, "coroutine", 9, &err);
    if (!f)
        return err;
    corio_value v;
    int r = corio_future_result_value(f, 60, &v);
    if (r == 0)
        r = v.len == 9 && memcmp(v.ptr, "enituoroc", 9) == 0 ? 0 : -EPROTO;
    corio_future_unref(f);
    out->ptr = (void *)(uintptr_t)1;
    return r;
}

static int t_pool_in_runtime_main(void *arg, corio_value *out) {
    (void)out;
    t_in_rt *t = arg;
    corio_process_pool_options o = {.max_workers = 2};
    int r = corio_process_pool_create(&o, &t->ex);
    if (r < 0)
        return r;
    int err = 0;
    corio_future *ticker = corio_spawn(t_ticker, t, &err);
    corio_future *fs[8];
    for (int i = 0; i < 8; i++)
        fs[i] = corio_spawn(t_await_job, t, &err);
    size_t nd = 0;
    r = corio_wait(fs, 8, 60, CORIO_ALL_COMPLETED, NULL, &nd, NULL, NULL);
    atomic_store(&t->done, 1);
    for (int i = 0; i < 8 && r == 0; i++)
        r = corio_future_result(fs[i], 0, NULL);
    for (int i = 0; i < 8; i++)
        corio_future_unref(fs[i]);
    corio_future_result(ticker, 60, NULL);
    corio_future_unref(ticker);
    corio_executor_destroy(t->ex);
    return r;
}

START_TEST(test_pool_created_inside_runtime) {
    if (RUNNING_ON_VALGRIND) {
        /* valgrind 3.19 cannot run io_uring loops: the runtime is covered
         * by the ASan and TSan configurations instead. */
        fprintf(stderr, "skipped under valgrind: needs io_uring\n");
        return;
    }
    t_in_rt t = {0};
    corio_runtime_options o = {.loops = 1};
    ck_assert_int_eq(corio_run_with(&o, t_pool_in_runtime_main, &t, NULL), 0);
    /* The loop ran the ticker while the awaiting coroutines were suspended. */
    ck_assert_int_gt(atomic_load(&t.ticks), 1);
}
END_TEST

/* Round trips, one by one, from coroutines on two loops at once (sharing
 * the pool's workers), then a batch through corio_wait, then a job that
 * outlives a short timeout; a coroutine cancelled while it awaits; a
 * worker dying under a coroutine's wait. */
static int t_await_round_trips(void *arg, corio_value *out) {
    corio_executor *ex = arg;
    (void)out;
    for (uintptr_t i = 0; i < 3000; i++) {
        corio_future *f = corio_executor_submit(ex, t_add_one, (void *)i, NULL);
        ck_assert_ptr_nonnull(f);
        void *v = NULL;
        int r = corio_future_result(f, 30, &v);
        ck_assert_msg(r == 0, "round trip %zu: %s", (size_t)i, corio_error_name(r));
        ck_assert_uint_eq((uintptr_t)v, i + 1);
        corio_future_unref(f);
    }
    enum { B = 100 };
    corio_future *fs[B];
    for (uintptr_t i = 0; i < B; i++)
        ck_assert_ptr_nonnull(fs[i] = corio_executor_submit(ex, t_add_one, (void *)i, NULL));
    ck_assert_int_eq(corio_wait(fs, B, 30, CORIO_ALL_COMPLETED, NULL, NULL, NULL, NULL), 0);
    for (uintptr_t i = 0; i < B; i++) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(fs[i], 0, &v), 0);
        ck_assert_uint_eq((uintptr_t)v, i + 1);
        corio_future_unref(fs[i]);
    }
    corio_future *f = corio_executor_submit(ex, t_sleep_ms, (void *)(uintptr_t)300, NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(corio_future_result(f, 0.02, NULL), -ETIMEDOUT);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    corio_future_unref(f);
    return 0;
}

/* Awaits a job that takes 10 s; the test cancels this coroutine first. */
static int t_await_long(void *arg, corio_value *out) {
    (void)out;
    corio_future *f = corio_executor_submit(arg, t_sleep_ms, (void *)(uintptr_t)10000, NULL);
    ck_assert_ptr_nonnull(f);
    int r = corio_future_result(f, 60, NULL);
    corio_future_cancel(f); /* the job: dropped if still queued */
    corio_future_unref(f);
    return r;
}

static int t_await_crash(void *arg, corio_value *out) {
    (void)out;
    corio_future *f = corio_executor_submit(arg, t_self_kill, NULL, NULL);
    ck_assert_ptr_nonnull(f);
    int r = corio_future_result(f, 30, NULL);
    corio_future_unref(f);
    return r;
}

START_TEST(test_coroutines_await_jobs) {
    if (RUNNING_ON_VALGRIND) {
        fprintf(stderr, "skipped under valgrind: needs io_uring\n");
        return;
    }
    corio_executor *ex = t_pool(2);
    corio_runtime_options ro = {.loops = 2, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    corio_future *a = t_spawn(rt, 0, t_await_round_trips, ex);
    corio_future *b = t_spawn(rt, 1, t_await_round_trips, ex);
    ck_assert_int_eq(corio_future_result(a, 60, NULL), 0);
    ck_assert_int_eq(corio_future_result(b, 60, NULL), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    /* A coroutine cancelled while it awaits a long job ends with
     * -ECANCELED, wherever the cancel finds it. */
    corio_future *c = t_spawn(rt, 0, t_await_long, ex);
    corio_future_cancel(c);
    ck_assert_int_eq(corio_future_result(c, 30, NULL), -ECANCELED);
    corio_future_unref(c);
    /* A worker dying under a coroutine's wait breaks the pool; the
     * coroutine gets the error, nothing hangs. */
    corio_future *d = t_spawn(rt, 1, t_await_crash, ex);
    ck_assert_int_eq(corio_future_result(d, 60, NULL), CORIO_EBROKEN_PROCESS_POOL);
    corio_future_unref(d);
    corio_runtime_destroy(rt);
    corio_executor_shutdown(ex, true, true);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* Waiting threads read their workers' answers themselves (pp_help) while
 * the collector's interest in those sockets is off. Several threads doing
 * sequential round trips at once share workers and helpers; afterwards,
 * jobs nobody calls result() on must still be completed by the collector
 * (its interest turned back on), as seen through corio_wait. */
typedef struct {
    corio_executor *ex;
    uintptr_t base;
    int bad;
} t_rt_arg;

static void *t_round_trips(void *arg) {
    t_rt_arg *a = arg;
    size_t n = RUNNING_ON_VALGRIND ? 100 : 3000;
    for (uintptr_t i = 0; i < n; i++) {
        corio_future *f = corio_executor_submit(a->ex, t_add_one, (void *)(a->base + i), NULL);
        void *v = NULL;
        if (!f || corio_future_result(f, 30, &v) != 0 || (uintptr_t)v != a->base + i + 1)
            a->bad++;
        corio_future_unref(f);
    }
    return NULL;
}

START_TEST(test_waiting_threads_read_answers) {
    corio_executor *ex = t_pool(2);
    t_rt_arg one = {ex, 7000000, 0};
    t_round_trips(&one); /* alone: the waiter reads (multi-core machines) */
    ck_assert_int_eq(one.bad, 0);
    pthread_t th[4];
    t_rt_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (t_rt_arg){ex, (uintptr_t)i * 1000000, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, t_round_trips, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].bad, 0);
    }
    corio_future *fs[200];
    for (uintptr_t i = 0; i < 200; i++)
        ck_assert_ptr_nonnull(fs[i] = corio_executor_submit(ex, t_add_one, (void *)i, NULL));
    ck_assert_int_eq(corio_wait(fs, 200, 20, CORIO_ALL_COMPLETED, NULL, NULL, NULL, NULL), 0);
    for (uintptr_t i = 0; i < 200; i++) {
        ck_assert_uint_eq(t_result_int(fs[i]), i + 1);
        corio_future_unref(fs[i]);
    }
    /* A worker dying while its answer is being waited for (and read) by
     * the waiting thread: the pool breaks, nothing hangs. */
    corio_future *f = corio_executor_submit(ex, t_self_kill, NULL, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), CORIO_EBROKEN_PROCESS_POOL);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

START_TEST(test_wire_checks) {
    char err[128];
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_ONE, .seq = 4};
    ck_assert_int_eq(corio__wire_check_res(&h, 4, 0, err, sizeof err), 0);
    ck_assert_int_eq(corio__wire_check_res(&h, 5, 0, err, sizeof err), CORIO_EPROTOCOL);
    ck_assert_ptr_nonnull(strstr(err, "job #5 was expected"));
    h.len = CORIO__WIRE_MAX_PAYLOAD + 1;
    ck_assert_int_eq(corio__wire_check_res(&h, 4, 0, err, sizeof err), CORIO_EPROTOCOL);
    h.len = 0;
    h.kind = CORIO__RES_BATCH;
    h.ptr = 3;
    ck_assert_int_eq(corio__wire_check_res(&h, 4, 3, err, sizeof err), 0);
    ck_assert_int_eq(corio__wire_check_res(&h, 4, 2, err, sizeof err), CORIO_EPROTOCOL);
    /* A batch payload with a lying length. */
    unsigned char buf[64] = {0};
    corio__res_item it = {0, 0, 0, 1000};
    memcpy(buf, &it, sizeof it);
    corio__batch *b = NULL;
    ck_assert_int_eq(corio__wire_decode_batch(buf, sizeof buf, 1, &b, err, sizeof err),
                     CORIO_EPROTOCOL);
    ck_assert_ptr_null(b);
    it.len = 4;
    memcpy(buf, &it, sizeof it);
    memcpy(buf + sizeof it, "abcd", 4);
    ck_assert_int_eq(corio__wire_decode_batch(buf, sizeof it + 4, 1, &b, err, sizeof err), 0);
    ck_assert(b->n == 1 && b->items[0].value.len == 4 && memcmp(b->items[0].value.ptr, "abcd", 4) == 0);
    corio__batch_free(b);
    /* The compact form: exactly n words, n bare pointers. */
    uint64_t words[3] = {7, 0, UINT64_MAX};
    ck_assert_int_eq(corio__wire_decode_batch(words, sizeof words, 3, &b, err, sizeof err), 0);
    ck_assert(b->n == 3 && b->items[0].value.ptr == (void *)7 && b->items[1].value.ptr == NULL &&
              b->items[2].value.ptr == (void *)(uintptr_t)UINT64_MAX);
    ck_assert(b->items[2].code == 0 && b->items[2].value.len == 0 && !b->items[2].message);
    corio__batch_free(b);
    /* Two words for three items is neither form. */
    ck_assert_int_eq(corio__wire_decode_batch(words, 2 * sizeof words[0], 3, &b, err, sizeof err),
                     CORIO_EPROTOCOL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("process_pool");
    TCase *tc = tcase_create("process_pool");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_submit_pointer_and_static_data);
    tcase_add_test(tc, test_bytes_round_trip_and_zero_length);
    tcase_add_test(tc, test_task_failure_message);
    tcase_add_test(tc, test_map_chunks);
    tcase_add_test(tc, test_map_bytes_chunks);
    tcase_add_test(tc, test_16mib_payload_exact);
    tcase_add_test(tc, test_oversized_payload);
    tcase_add_test(tc, test_100k_small_jobs);
    tcase_add_test(tc, test_corrupt_message_fails_job_only);
    tcase_add_test(tc, test_pool_created_inside_runtime);
    tcase_add_test(tc, test_waiting_threads_read_answers);
    tcase_add_test(tc, test_coroutines_await_jobs);
    tcase_add_test(tc, test_wire_checks);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
