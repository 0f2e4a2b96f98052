/* Tests for the process pool under pressure (issue 16): the bounded
 * hand-off, worker limits, failed replacements, deaths seen without the
 * fork server, bounded shutdown, nothing lost at exit, size extremes and
 * introspection. (Split from test_process_pool.c, which has the rest.)
 *
 * Check forks each test, so every test creates and destroys its own pool.
 * Jobs that need to tell the test something while still running (their pid)
 * write to t_shm, a MAP_SHARED page mapped before the pool is created and
 * so inherited by the fork server and every worker. */
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

/* LeakSanitizer asks this before its check at exit. A child that leaves
 * through exit() on purpose (the at-exit tests) sets it: Check's own
 * allocations of the test that forked it are still live there and would
 * be reported, not corio's. Everywhere else it is 0 (checks run). */
static volatile int t_no_leak_check;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return t_no_leak_check; }
#ifdef CORIO_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif
#include "../executors/wire.h"

/* Shared with the workers: [0] pid of the job that wants to be killed. */
static _Atomic int *t_shm;

static void t_setup(void) {
    t_shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(t_shm, MAP_FAILED);
}

static void t_teardown(void) { munmap((void *)t_shm, 4096); }

static corio_executor *t_pool(int workers) {
    corio_process_pool_options o = {.max_workers = workers};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    return ex;
}

static corio_executor *t_pool_opts(const corio_process_pool_options *o) {
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(o, &ex), 0);
    return ex;
}

/* ---- jobs (they run in the workers) ------------------------------------ */

static int t_add_one(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg + 1);
    return 0;
}

static int t_getpid(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)(uintptr_t)getpid();
    return 0;
}

/* Reverse the argument bytes into a malloc'd result. */
static int t_reverse(void *arg, corio_value *out) {
    const corio_value *in = arg;
    unsigned char *r = in->len ? malloc(in->len) : NULL;
    for (size_t i = 0; i < in->len; i++)
        r[i] = ((const unsigned char *)in->ptr)[in->len - 1 - i];
    out->ptr = r;
    out->len = in->len;
    out->dtor = free;
    return 0;
}

static uintptr_t t_result_int(corio_future *f) {
    void *v = NULL;
    int r = corio_future_result(f, 30, &v);
    ck_assert_msg(r == 0, "result: %s", corio_error_name(r));
    return (uintptr_t)v;
}

/* ---- under pressure (issue: bounded hand-off, worker limits, exits) ---- */

/* pp_gate: a pipe made before the pool (inherited by its workers); a gate
 * job announces its start in t_shm[1] and its pid in t_shm[4], then blocks
 * until the test writes one byte. */
static int pp_gate[2] = {-1, -1};

static void pp_gate_open(void) { ck_assert_int_eq(pipe(pp_gate), 0); }

static void pp_gate_close(void) {
    close(pp_gate[0]);
    close(pp_gate[1]);
}

static void pp_gate_release(int n) {
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(write(pp_gate[1], "g", 1), 1);
}

static int pp_gate_job(void *arg, corio_value *out) {
    atomic_store(&t_shm[4], getpid());
    atomic_fetch_add(&t_shm[1], 1);
    char c;
    ssize_t r = read(pp_gate[0], &c, 1);
    out->ptr = (void *)((uintptr_t)arg + (r == 1));
    return 0;
}

/* Wait (bounded) until n gate jobs have started. */
static void t_wait_started(int n) {
    int64_t until = corio__now_ns() + 10 * 1000000000LL;
    while (atomic_load(&t_shm[1]) < n) {
        ck_assert_msg(corio__now_ns() < until, "gate jobs did not start");
        sched_yield();
    }
}

/* Warm the pool with quick jobs (today's adaptive write-ahead grows to 16). */
static void t_warm(corio_executor *ex) {
    corio_future *fs[300];
    for (int i = 0; i < 300; i++)
        ck_assert_ptr_nonnull(fs[i] = corio_executor_submit(ex, t_add_one, (void *)(uintptr_t)i, NULL));
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(t_result_int(fs[i]), i + 1);
        corio_future_unref(fs[i]);
    }
}

START_TEST(test_queued_jobs_stay_pending_and_cancellable) {
    pp_gate_open();
    corio_executor *ex = t_pool(2);
    t_warm(ex);
    corio_future *g[2], *q[10];
    for (int i = 0; i < 2; i++)
        g[i] = corio_executor_submit(ex, pp_gate_job, (void *)100, NULL);
    t_wait_started(2);
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(q[i] = corio_executor_submit(ex, t_add_one, NULL, NULL));
    for (int i = 0; i < 10; i++)
        ck_assert_msg(!corio_future_running(q[i]), "queued job %d reports running()", i);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(corio_future_cancel(q[i]), "queued job %d could not be cancelled", i);
    /* shutdown(cancel_futures) cancels the rest, as CPython does. */
    ck_assert_int_eq(corio_executor_shutdown(ex, false, true), 0);
    for (int i = 0; i < 10; i++) {
        ck_assert_msg(corio_future_cancelled(q[i]), "job %d not cancelled by shutdown", i);
        corio_future_unref(q[i]);
    }
    pp_gate_release(2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(t_result_int(g[i]), 101);
        corio_future_unref(g[i]);
    }
    corio_executor_destroy(ex);
    pp_gate_close();
}
END_TEST

START_TEST(test_idle_worker_takes_queued_work) {
    /* A long job, then 40 quick ones: the other worker runs all 40 while
     * the long one still blocks (none waits behind it). */
    pp_gate_open();
    corio_executor *ex = t_pool(2);
    t_warm(ex);
    corio_future *g = corio_executor_submit(ex, pp_gate_job, (void *)0, NULL);
    t_wait_started(1);
    corio_future *q[40];
    for (int i = 0; i < 40; i++)
        q[i] = corio_executor_submit(ex, t_add_one, (void *)(uintptr_t)i, NULL);
    for (int i = 0; i < 40; i++) {
        void *v = NULL;
        ck_assert_msg(corio_future_result(q[i], 5.0, &v) == 0, "quick job %d waited behind a long one", i);
        ck_assert_uint_eq((uintptr_t)v, i + 1);
        corio_future_unref(q[i]);
    }
    ck_assert(!corio_future_done(g));
    pp_gate_release(1);
    ck_assert_int_eq(t_result_int(g), 1);
    corio_future_unref(g);
    corio_executor_destroy(ex);
    pp_gate_close();
}
END_TEST

/* Counts concurrent jobs in t_shm[1] and their peak in t_shm[2]. */
static int t_counted_job(void *arg, corio_value *out) {
    int now = atomic_fetch_add(&t_shm[1], 1) + 1;
    int peak = atomic_load(&t_shm[2]);
    while (now > peak && !atomic_compare_exchange_weak(&t_shm[2], &peak, now))
        ;
    struct timespec ts = {0, 50 * 1000000}; /* the job's own duration */
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&t_shm[1], 1);
    out->ptr = arg;
    return 0;
}

START_TEST(test_max_tasks_per_child_keeps_max_workers) {
    corio_process_pool_options o = {.max_workers = 2, .max_tasks_per_child = 1};
    corio_executor *ex = t_pool_opts(&o);
    corio_future *fs[8];
    for (int i = 0; i < 8; i++)
        fs[i] = corio_executor_submit(ex, t_counted_job, (void *)(uintptr_t)(i + 1), NULL);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(t_result_int(fs[i]), i + 1);
        corio_future_unref(fs[i]);
    }
    ck_assert_msg(atomic_load(&t_shm[2]) <= 2, "%d jobs ran at once with max_workers 2",
                  atomic_load(&t_shm[2]));
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_max_tasks_per_child_after_shutdown_nowait) {
    corio_process_pool_options o = {.max_workers = 1, .max_tasks_per_child = 1};
    corio_executor *ex = t_pool_opts(&o);
    corio_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = corio_executor_submit(ex, t_getpid, NULL, NULL);
    ck_assert_int_eq(corio_executor_shutdown(ex, false, false), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_gt(t_result_int(fs[i]), 0);
        corio_future_unref(fs[i]);
    }
    corio_executor_destroy(ex);
}
END_TEST

/* The first two workers start; every later one fails its initializer, by
 * returning an error (_i == 0) or by calling exit() (_i == 1). */
static int t_fail_later_init(void *arg) {
    if (atomic_fetch_add(&t_shm[3], 1) < 2)
        return 0;
    if (arg)
        exit(3);
    return corio_task_fail(-EIO, "replacement refused");
}

START_TEST(test_failed_replacement_keeps_running_job) {
    pp_gate_open();
    corio_process_pool_options o = {.max_workers = 2, .max_tasks_per_child = 1,
                                    .initializer = t_fail_later_init,
                                    .initargs = (void *)(uintptr_t)_i};
    corio_executor *ex = t_pool_opts(&o);
    corio_future *a = corio_executor_submit(ex, pp_gate_job, (void *)40, NULL);
    t_wait_started(1);
    corio_future *b = corio_executor_submit(ex, t_add_one, (void *)1, NULL);
    ck_assert_int_eq(t_result_int(b), 2);
    corio_future *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = corio_executor_submit(ex, t_add_one, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        if (!c[i])
            continue; /* refused: the pool was already broken */
        const char *msg = NULL;
        ck_assert_int_eq(corio_future_exception(c[i], 30, &msg), CORIO_EBROKEN_PROCESS_POOL);
        ck_assert_msg(strstr(msg, "could not be started"), "message: %s", msg);
        corio_future_unref(c[i]);
    }
    ck_assert(corio_executor_broken(ex));
    /* The healthy worker's job was never failed: it completes. */
    ck_assert(!corio_future_done(a));
    pp_gate_release(1);
    ck_assert_int_eq(t_result_int(a), 41);
    corio_future_unref(a);
    corio_future_unref(b);
    corio_executor_destroy(ex);
    pp_gate_close();
}
END_TEST

/* The fork server of a pool: the parent of its workers. */
static pid_t t_fork_server_of(pid_t worker) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)worker);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    int ppid = 0;
    char *p = strrchr(buf, ')');
    ck_assert_int_eq(sscanf(p + 2, "%*c %d", &ppid), 1);
    return ppid;
}

/* A process's state letter from /proc/<pid>/stat ('R', 'S', ...). */
static char t_proc_state(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    char *p = strrchr(buf, ')');
    return p[2];
}

/* Also the regression test of a lost wake-up: the waiting thread, reading
 * the worker's socket itself, took the end of stream and removed the
 * socket from the collector's epoll before the collector, woken by the
 * hang-up, collected the event; the collector slept on without a timeout
 * and the job stayed RUNNING (under TSan on a 2-CPU machine it failed on
 * the first run tried; 8 runs after the fix passed). */
START_TEST(test_worker_death_seen_without_fork_server) {
    pp_gate_open();
    corio_executor *ex = t_pool(1);
    corio_future *f = corio_executor_submit(ex, pp_gate_job, NULL, NULL);
    t_wait_started(1);
    pid_t w = atomic_load(&t_shm[4]);
    pid_t fs = t_fork_server_of(w);
    /* The fork server closes its copy of the worker's socket just after
     * fork(), which the worker may outrun; stopped before that close, it
     * would keep the socket open and hide the death. Its only blocking call
     * is poll(), so once it sleeps ('S') the close is behind it. */
    int64_t until = corio__now_ns() + 10 * 1000000000LL;
    while (t_proc_state(fs) != 'S') {
        ck_assert_msg(corio__now_ns() < until, "fork server never went idle");
        sched_yield();
    }
    ck_assert_int_eq(kill(fs, SIGSTOP), 0);
    ck_assert_int_eq(kill(w, SIGKILL), 0);
    int r = corio_future_result(f, 30.0, NULL);
    char diag[256] = "";
    if (r != CORIO_EBROKEN_PROCESS_POOL) {
        /* What held the worker's socket open: the fork server's state and
         * its open socket count, read while it is still stopped. */
        int socks = 0;
        char dir[64], link[128], target[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)fs);
        for (int fd = 0; fd < 1024; fd++) {
            snprintf(link, sizeof link, "%s/%d", dir, fd);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n > 0 && strncmp(target, "socket:", 7) == 0)
                socks++;
        }
        snprintf(link, sizeof link, "/proc/%d", (int)w);
        snprintf(diag, sizeof diag, "fork server state %c, %d sockets open; worker %s",
                 t_proc_state(fs), socks, access(link, F_OK) == 0 ? "not reaped" : "gone");
    }
    kill(fs, SIGCONT);
    ck_assert_msg(r == CORIO_EBROKEN_PROCESS_POOL, "result %d (%s)", r, diag);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    pp_gate_close();
}
END_TEST

START_TEST(test_shutdown_timeout_with_stopped_fork_server) {
    pp_gate_open();
    corio_executor *ex = t_pool(1);
    corio_future *f = corio_executor_submit(ex, pp_gate_job, NULL, NULL);
    t_wait_started(1);
    pid_t fs = t_fork_server_of(atomic_load(&t_shm[4]));
    ck_assert_int_eq(kill(fs, SIGSTOP), 0);
    int64_t t0 = corio__now_ns();
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, 0.5, false), -ETIMEDOUT);
    double took = (double)(corio__now_ns() - t0) / 1e9;
    ck_assert_msg(took < 2.5, "shutdown_timeout(0.5) took %.2f s", took);
    ck_assert(corio_future_done(f));
    const char *msg = NULL;
    int code = corio_future_exception(f, 0, &msg);
    ck_assert_msg(code == CORIO_EBROKEN_PROCESS_POOL || code == CORIO_ECANCELLED_BY_EXECUTOR,
                  "code %d", code);
    corio_future_unref(f);
    corio_executor_destroy(ex);
    pp_gate_close();
}
END_TEST

START_TEST(test_shutdown_timeout_nan) {
    corio_executor *ex = t_pool(1);
    ck_assert_int_eq(corio_executor_shutdown_timeout(ex, NAN, false), -EINVAL);
    corio_future *f = corio_executor_submit(ex, t_add_one, NULL, NULL); /* not shut down */
    ck_assert_int_eq(t_result_int(f), 1);
    corio_future_unref(f);
    corio_executor_destroy(ex);
}
END_TEST

/* Child: a pool, a job that writes to fd after 300 ms, shutdown(wait=false)
 * (cancel_futures when cancel), then exit() at once. */
static int t_exit_job(void *arg, corio_value *out) {
    (void)out;
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    int fd = (int)(uintptr_t)arg;
    return write(fd, "x", 1) == 1 ? 0 : -EIO;
}

START_TEST(test_job_not_lost_at_exit) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        close(p[0]);
        t_no_leak_check = 1; /* see __lsan_is_turned_off */
        corio_executor *ex = NULL;
        if (corio_process_pool_create(&(corio_process_pool_options){.max_workers = 1}, &ex))
            _exit(10);
        corio_future *f = corio_executor_submit(ex, t_exit_job, (void *)(uintptr_t)p[1], NULL);
        for (int i = 0; i < 3 && _i; i++) /* queued behind it: cancelled */
            corio_future_unref(
                corio_executor_submit(ex, t_exit_job, (void *)(uintptr_t)p[1], NULL));
        while (f && !corio_future_running(f)) /* the first one has started */
            sched_yield();
        corio_future_unref(f); /* dropping a future leaves its job alone */
        corio_executor_shutdown(ex, false, _i);
        exit(0);
    }
    close(p[1]);
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
    char buf[8];
    ssize_t n = read(p[0], buf, sizeof buf); /* EOF once every copy of p[1] is gone */
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 0); /* cancelled jobs never ran */
    close(p[0]);
}
END_TEST

#ifndef T_MAIN_BASELINE
START_TEST(test_inspect) {
    pp_gate_open();
    corio_executor *ex = t_pool(2);
    int64_t ids[4] = {0};
    corio_executor_stats st = {.ids = ids, .ids_cap = 4};
    ck_assert_int_eq(corio_executor_inspect(NULL, &st), -EINVAL);
    ck_assert_int_eq(corio_executor_inspect(ex, NULL), -EINVAL);
    corio_future *g[2], *q[3];
    for (int i = 0; i < 2; i++)
        g[i] = corio_executor_submit(ex, pp_gate_job, NULL, NULL);
    t_wait_started(2);
    for (int i = 0; i < 3; i++)
        q[i] = corio_executor_submit(ex, t_add_one, NULL, NULL);
    /* A worker's pid arrives from the fork server, maybe after its job
     * started: wait (bounded) until both are known. */
    int64_t until = corio__now_ns() + 10 * 1000000000LL;
    do {
        ck_assert_int_eq(corio_executor_inspect(ex, &st), 0);
        ck_assert(corio__now_ns() < until);
    } while (st.ids_len < 2 && sched_yield() == 0);
    ck_assert_int_eq(st.max_workers, 2);
    ck_assert_int_eq(st.workers, 2);
    ck_assert_uint_eq(st.running, 2);
    ck_assert_uint_eq(st.pending, 3);
    ck_assert_uint_eq(st.ids_len, 2);
    ck_assert(ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1]);
    ck_assert_int_eq(kill((pid_t)ids[0], 0), 0);
    /* The metrics agree with the snapshot. */
    corio_executor_metrics m;
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.max_workers, 2);
    ck_assert_uint_eq(m.workers, 2);
    ck_assert_uint_eq(m.running, 2);
    ck_assert_uint_eq(m.queued, 3);
    ck_assert_uint_eq(m.completed, 0);
    ck_assert(!m.shutdown && !m.broken);
    pp_gate_release(2);
    for (int i = 0; i < 2; i++) {
        t_result_int(g[i]);
        corio_future_unref(g[i]);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(t_result_int(q[i]), 1);
        corio_future_unref(q[i]);
    }
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert_uint_eq(m.completed, 5);
    ck_assert_uint_eq(m.running + m.queued, 0);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(corio_executor_metrics_get(ex, &m), 0);
    ck_assert(m.shutdown);
    corio_executor_destroy(ex);
    pp_gate_close();
}
END_TEST
#endif

START_TEST(test_size_extremes) {
    corio_executor *ex = t_pool(1);
    static const char small[8] = "abcdefg";
    const size_t lens[] = {SIZE_MAX, SIZE_MAX / 2 + 1, (size_t)CORIO__WIRE_MAX_PAYLOAD + 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int err = 0;
        ck_assert_ptr_null(corio_executor_submit_bytes(ex, t_reverse, small, lens[i], &err));
        ck_assert_int_eq(err, -EMSGSIZE);
    }
    /* A chunk whose item lengths sum past 2^64 is refused, never copied. */
    corio_value items[2] = {{(void *)small, SIZE_MAX / 2 + 1, NULL},
                            {(void *)small, SIZE_MAX / 2 + 1, NULL}};
    corio_map *m = NULL;
    corio_map_options mo = {.chunksize = 2, .bytes = true};
    ck_assert_int_eq(corio_executor_map(ex, t_reverse, items, 2, &mo, &m), 0);
    corio_value v;
    ck_assert_int_eq(corio_map_next(m, &v), -EMSGSIZE);
    corio_map_destroy(m);
    /* {NULL, len > 0} fails its item with -EINVAL, as submit_bytes does. */
    corio_value bad[2] = {{NULL, 5, NULL}, {(void *)small, 3, NULL}};
    for (size_t chunk = 1; chunk <= 2; chunk++) {
        mo.chunksize = chunk;
        ck_assert_int_eq(corio_executor_map(ex, t_reverse, bad, 2, &mo, &m), 0);
        ck_assert_int_eq(corio_map_next(m, &v), -EINVAL);
        corio_map_destroy(m);
    }
    corio_executor_destroy(ex);
}
END_TEST

/* ---- an executor used by another process ------------------------------ */

static corio_executor *foreign; /* created in the test process */

static int noop_job(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    return 0;
}

/* In a worker of another pool: submit to the test process's pool (the
 * worker has a copy of its memory). Answers the error. */
static int submit_to_foreign(void *arg, corio_value *out) {
    (void)arg;
    int err = 0;
    corio_future *f = corio_executor_submit(foreign, noop_job, NULL, &err);
    if (f) { /* must not happen; do not wait on it */
        corio_future_unref(f);
        err = 1;
    }
    out->ptr = (void *)(intptr_t)err;
    return 0;
}

/* A forked process (a pool's worker, or a plain fork) has a copy of its
 * parent's executors but not their threads, workers or pipes: a submit or
 * a map there is refused with -EPERM instead of waiting forever. */
START_TEST(test_executor_of_another_process) {
    corio_process_pool_options po = {.max_workers = 1};
    ck_assert_int_eq(corio_process_pool_create(&po, &foreign), 0);
    corio_executor *other;
    ck_assert_int_eq(corio_process_pool_create(&po, &other), 0);
    corio_future *f = corio_executor_submit(other, submit_to_foreign, NULL, NULL);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, 30.0, &v), 0);
    ck_assert_int_eq((int)(intptr_t)v, -EPERM);
    corio_future_unref(f);
    /* A thread pool, from a plain fork. */
    corio_executor *tp;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &tp), 0);
    corio_future *warm = corio_executor_submit(tp, noop_job, NULL, NULL);
    ck_assert_int_eq(corio_future_result(warm, 30.0, NULL), 0);
    corio_future_unref(warm);
    /* The child reports through a pipe and ends by SIGKILL: it holds copies
     * of the pool's in-flight records whose owners (the worker threads) it
     * does not have, which a leak checker run at its exit would report
     * (valgrind then turns the exit status into its error code). */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        int err = 0, code = 0;
        corio_future *g = corio_executor_submit(tp, noop_job, NULL, &err);
        if (g || err != -EPERM)
            code |= 1;
        g = corio_executor_submit_bytes(tp, noop_job, "x", 1, &err);
        if (g || err != -EPERM)
            code |= 2;
        void *items[1] = {NULL};
        corio_map *m = NULL;
        if (corio_executor_map(tp, noop_job, items, 1, NULL, &m) != -EPERM || m)
            code |= 4;
        unsigned char c = (unsigned char)code;
        if (write(pfd[1], &c, 1) != 1)
            _exit(100);
        raise(SIGKILL);
        _exit(101);
    }
    close(pfd[1]);
    unsigned char code = 0xff;
    ck_assert_int_eq(read(pfd[0], &code, 1), 1);
    close(pfd[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
    ck_assert_msg(code == 0, "child found %#x (1 submit, 2 submit_bytes, 4 map not refused)",
                  code);
    /* The parent's own pools still work. */
    corio_future *h = corio_executor_submit(tp, noop_job, NULL, NULL);
    ck_assert_int_eq(corio_future_result(h, 30.0, NULL), 0);
    corio_future_unref(h);
    corio_executor_destroy(tp);
    corio_executor_destroy(other);
    corio_executor_destroy(foreign);
}
END_TEST

int main(void) {
    Suite *s = suite_create("process_pool_pressure");
    TCase *tc;
    tc = tcase_create("pressure");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_queued_jobs_stay_pending_and_cancellable);
    tcase_add_test(tc, test_idle_worker_takes_queued_work);
    tcase_add_test(tc, test_max_tasks_per_child_keeps_max_workers);
    tcase_add_test(tc, test_max_tasks_per_child_after_shutdown_nowait);
    tcase_add_loop_test(tc, test_failed_replacement_keeps_running_job, 0, 2);
    tcase_add_test(tc, test_worker_death_seen_without_fork_server);
    tcase_add_test(tc, test_shutdown_timeout_with_stopped_fork_server);
    tcase_add_test(tc, test_shutdown_timeout_nan);
    tcase_add_loop_test(tc, test_job_not_lost_at_exit, 0, 2);
    tcase_add_test(tc, test_size_extremes);
#ifndef T_MAIN_BASELINE
    tcase_add_test(tc, test_inspect);
#endif
    tcase_add_test(tc, test_executor_of_another_process);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
