/* Tests for the coroutine runtime (corio/runtime.h), awaiting: every kind
 * of future awaited from a coroutine (results, wait, as_completed, map,
 * thread-pool and process-pool jobs, coroutines on the same and on other
 * loops) and coroutines awaited from threads; idle loops that stop polling;
 * and at scale: 100k parked coroutines, ping-pong across two loops, 10k
 * coroutines awaiting pool jobs.
 *
 * Every test creates and destroys its own runtime and releases every
 * future it made. Ordering is done with futures and semaphores, never with
 * sleeps: a test that proves a call suspends (rather than blocks) its
 * coroutine does so by making the call depend on another coroutine of the
 * same single loop, which could not run if the loop thread were blocked. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio.h"
#include "loop.h"
#include "t_helpers.h"
#include "t_runtime.h"

/* ---- awaiting: the call suspends the coroutine, not the loop ----------------- */

/* The helper coroutine: completes `f` (which the main coroutine waits on)
 * after letting the loop go round once. Only runs if the loop runs. */
static int t_completer(void *arg, corio_value *out) {
    (void)out;
    corio_yield();
    ck_assert_int_eq(corio_future_set_result(arg, (void *)0x5ee, NULL), 0);
    return 0;
}

enum { T_VIA_RESULT, T_VIA_WAIT, T_VIA_AS_COMPLETED };

static int t_await_main(void *arg, corio_value *out) {
    (void)out;
    int how = (int)(intptr_t)arg;
    corio_future *ev = corio_future_create();
    corio_future *helper = corio_spawn(t_completer, ev, NULL);
    ck_assert_ptr_nonnull(helper);
    if (how == T_VIA_RESULT) {
        void *v = NULL;
        ck_assert_int_eq(corio_future_result(ev, 30, &v), 0);
        ck_assert_ptr_eq(v, (void *)0x5ee);
    } else if (how == T_VIA_WAIT) {
        corio_future *done[1], *nd[1];
        size_t nd_n = 9, d_n = 9;
        ck_assert_int_eq(corio_wait(&ev, 1, 30, CORIO_FIRST_COMPLETED, done, &d_n, nd, &nd_n), 0);
        ck_assert_uint_eq(d_n, 1);
        ck_assert_uint_eq(nd_n, 0);
    } else {
        corio_as_completed *it = corio_as_completed_create(&ev, 1, 30);
        ck_assert_ptr_nonnull(it);
        corio_future *got = NULL;
        ck_assert_int_eq(corio_as_completed_next(it, &got), 1);
        ck_assert_ptr_eq(got, ev);
        ck_assert_int_eq(corio_as_completed_next(it, &got), 0);
        corio_as_completed_destroy(it);
    }
    ck_assert_int_eq(corio_future_result(helper, 30, NULL), 0);
    corio_future_unref(helper);
    corio_future_unref(ev);
    return 0;
}

static void t_await_on_one_loop(int how) {
    corio_runtime *rt = t_rt(1);
    t_join(t_spawn(rt, 0, t_await_main, (void *)(intptr_t)how));
    corio_runtime_destroy(rt);
}

START_TEST(test_future_result_suspends) { t_await_on_one_loop(T_VIA_RESULT); }
END_TEST
START_TEST(test_wait_suspends) { t_await_on_one_loop(T_VIA_WAIT); }
END_TEST
START_TEST(test_as_completed_suspends) { t_await_on_one_loop(T_VIA_AS_COMPLETED); }
END_TEST

/* map: the job (on a pool thread) blocks until a second coroutine of the
 * same loop completes `ev`; map_next in the first coroutine must let it
 * run. */
static int t_job_wait_ev(void *arg, corio_value *out) {
    corio_future *ev = arg;
    void *v = NULL;
    int r = corio_future_result(ev, 60, &v);
    out->ptr = v;
    return r;
}

static int t_map_main(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_executor *ex = NULL;
    corio_thread_pool_options o = {.max_workers = 2};
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    corio_future *ev = corio_future_create();
    void *items[2] = {ev, ev};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_job_wait_ev, items, 2, NULL, &m), 0);
    corio_future *helper = corio_spawn(t_completer, ev, NULL);
    corio_value v;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(corio_map_next(m, &v), 1);
        ck_assert_ptr_eq(v.ptr, (void *)0x5ee);
    }
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    corio_map_destroy(m);
    ck_assert_int_eq(corio_future_result(helper, 30, NULL), 0);
    corio_future_unref(helper);
    corio_future_unref(ev);
    corio_executor_destroy(ex);
    return 0;
}

START_TEST(test_map_next_suspends) {
    corio_runtime *rt = t_rt(1);
    t_join(t_spawn(rt, 0, t_map_main, NULL));
    corio_runtime_destroy(rt);
}
END_TEST

/* A thread-pool job awaited by a coroutine. */
static int t_square(void *arg, corio_value *out) {
    intptr_t x = (intptr_t)arg;
    out->ptr = (void *)(x * x);
    return 0;
}

static int t_await_pool(void *arg, corio_value *out) {
    corio_executor *ex = arg;
    intptr_t sum = 0;
    for (intptr_t i = 1; i <= 10; i++) {
        corio_future *f = corio_executor_submit(ex, t_square, (void *)i, NULL);
        ck_assert_ptr_nonnull(f);
        void *v;
        ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
        sum += (intptr_t)v;
        corio_future_unref(f);
    }
    /* corio_to_thread: the runtime's own blocking pool. */
    corio_future *f = corio_to_thread(t_square, (void *)(intptr_t)12, NULL);
    ck_assert_ptr_nonnull(f);
    void *v;
    ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
    ck_assert_int_eq((intptr_t)v, 144);
    corio_future_unref(f);
    out->ptr = (void *)sum;
    return 0;
}

START_TEST(test_await_thread_pool_job) {
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &ex), 0);
    corio_runtime *rt = t_rt(2);
    ck_assert_int_eq((intptr_t)t_join(t_spawn(rt, 1, t_await_pool, ex)), 385);
    corio_runtime_destroy(rt);
    corio_executor_destroy(ex);
}
END_TEST

/* Threads and processes a pinned loop creates are not pinned with it. */
/* How many CPUs the calling thread may run on (0 if unknown). */
static int t_cpus_allowed(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

static int t_cpu_count(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)(uintptr_t)t_cpus_allowed();
    return 0;
}

static int t_pools_from_pinned_loop(void *arg, corio_value *out) {
    int *counts = arg; /* this loop's, a thread-pool worker's, a process worker's */
    (void)out;
    counts[0] = t_cpus_allowed();
    corio_executor *tp = NULL, *pp = NULL;
    ck_assert_int_eq(corio_thread_pool_create(NULL, &tp), 0);
    corio_process_pool_options po = {.max_workers = 1};
    ck_assert_int_eq(corio_process_pool_create(&po, &pp), 0);
    corio_executor *ex[2] = {tp, pp};
    for (int k = 0; k < 2; k++) {
        corio_future *f = corio_executor_submit(ex[k], t_cpu_count, NULL, NULL);
        ck_assert_ptr_nonnull(f);
        void *n = NULL;
        ck_assert_int_eq(corio_future_result(f, 30, &n), 0);
        counts[k + 1] = (int)(uintptr_t)n;
        corio_future_unref(f);
        corio_executor_shutdown(ex[k], true, false);
        corio_executor_destroy(ex[k]);
    }
    return 0;
}

START_TEST(test_pinned_loop_children_unpinned) {
    int mine = t_cpus_allowed();
    if (mine < 2)
        return; /* one CPU: nothing to tell apart */
    corio_runtime_options o = {.loops = 1}; /* pinned: the default */
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    int counts[3] = {0, 0, 0};
    t_join(t_spawn(rt, 0, t_pools_from_pinned_loop, counts));
    corio_runtime_destroy(rt);
    ck_assert_int_eq(counts[0], 1);     /* the loop is pinned */
    ck_assert_int_eq(counts[1], mine);  /* its pool's worker thread is not */
    ck_assert_int_eq(counts[2], mine);  /* nor its pool's worker process */
}
END_TEST

/* CPU time (user + system, in clock ticks) of this process's thread named
 * `name`, or -1 if there is none. */
typedef struct t_ticks {
    const char *name;
    long ticks;
} t_ticks;

static int t_ticks_of(const char *tid, const char *comm, void *ctx) {
    t_ticks *c = ctx;
    if (strcmp(comm, c->name) != 0)
        return 0;
    char path[300], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    /* Fields 14 and 15 (utime, stime) follow the ")" that ends comm. */
    unsigned long ut = 0, st = 0;
    ck_assert_int_eq(sscanf(strrchr(buf, ')') + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    c->ticks = (long)(ut + st);
    return 1;
}

static long t_thread_ticks(const char *name) {
    t_ticks c = {name, -1};
    t_each_thread(t_ticks_of, &c);
    return c.ticks;
}

/* A one-worker thread pool and a one-loop runtime (pinned, as by default). */
static void t_pool1_loop1(corio_executor **ex, corio_runtime **rt) {
    corio_thread_pool_options po = {.max_workers = 1};
    ck_assert_int_eq(corio_thread_pool_create(&po, ex), 0);
    corio_runtime_options o = {.loops = 1};
    ck_assert_int_eq(corio_runtime_create(&o, rt), 0);
}

typedef struct t_pingpong {
    corio_executor *ex;
    corio_future *idle; /* awaited after the round trips */
    sem_t done;         /* posted when the round trips are over */
} t_pingpong;

static int t_pingpong_then_idle(void *arg, corio_value *out) {
    (void)out;
    t_pingpong *a = arg;
    for (intptr_t i = 0; i < 2000; i++) {
        corio_future *f = corio_executor_submit(a->ex, t_square, (void *)i, NULL);
        void *v = NULL;
        if (!f || corio_future_result(f, 30, &v) != 0 || (intptr_t)v != i * i)
            return corio_task_fail(-EIO, "round trip %ld failed", (long)i);
        corio_future_unref(f);
    }
    sem_post(&a->done);
    return corio_future_result(a->idle, 60, NULL);
}

/* A loop polls its inbox before sleeping while its coroutines await short
 * jobs of other threads (loop.c, poll_inbox), and only then: once its
 * coroutine waits for something that does not come, the loop must sleep,
 * not poll. Its thread's CPU time over a quiet 300 ms says which. */
START_TEST(test_idle_loop_stops_polling) {
    corio_executor *ex = NULL;
    corio_runtime *rt = NULL;
    t_pool1_loop1(&ex, &rt);
    t_pingpong a = {.ex = ex, .idle = corio_future_create()};
    t_gate_init(&a.done);
    corio_future *f = t_spawn(rt, 0, t_pingpong_then_idle, &a);
    ck_assert(t_gate_pass_within(&a.done, 60.0));
    t_sleep(0.05); /* let the loop's last poll, if any, run out */
    long t0 = t_thread_ticks("corio-loop0");
    ck_assert_int_ge(t0, 0);
    t_sleep(0.3); /* proving that nothing spins: no event to wait for */
    long t1 = t_thread_ticks("corio-loop0");
    long hz = sysconf(_SC_CLK_TCK);
    /* Polling throughout would be ~0.3 s; asleep, 0. Allow 0.1 s. */
    ck_assert_msg((t1 - t0) * 10 < hz, "idle loop used %ld of %ld ticks/s", t1 - t0, hz);
    corio_future_set_result(a.idle, NULL, NULL);
    ck_assert_int_eq(corio_future_result(f, 60, NULL), 0);
    corio_future_unref(f);
    corio_future_unref(a.idle);
    sem_destroy(&a.done);
    corio_runtime_destroy(rt);
    corio_executor_destroy(ex);
}
END_TEST

/* A coroutine alone on its loop polls a thread-pool future instead of
 * parking on it (future.c, spin_until_done): a short job then costs no
 * wake-up message. A parked wait is woken by one inbox message, so the
 * loop's inbox_msgs over the round trips counts the waits that parked.
 * Seen: 0-3 of 2000 (TSan: 20-60); when the loop took itself for busy
 * after every wake-up through its inbox poll, all 2000. */
static int t_pool_rounds(void *arg, corio_value *out) {
    corio_executor *ex = arg;
    corio_loop_metrics m0, m1;
    for (intptr_t i = 0; i < 2200; i++) {
        if (i == 200) /* warmed up: the worker started, the caches filled */
            ck_assert_int_eq(corio_loop_metrics_get(corio_runtime_current(), 0, &m0), 0);
        corio_future *f = corio_executor_submit(ex, t_square, (void *)i, NULL);
        void *v = NULL;
        if (!f || corio_future_result(f, 30, &v) != 0 || (intptr_t)v != i * i)
            return corio_task_fail(-EIO, "round trip %ld failed", (long)i);
        corio_future_unref(f);
    }
    ck_assert_int_eq(corio_loop_metrics_get(corio_runtime_current(), 0, &m1), 0);
    out->ptr = (void *)(uintptr_t)(m1.inbox_msgs - m0.inbox_msgs);
    return 0;
}

START_TEST(test_await_pool_job_polls) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return; /* one CPU: waiters never poll */
    corio_executor *ex = NULL;
    corio_runtime *rt = NULL;
    t_pool1_loop1(&ex, &rt);
    corio_future *f = t_spawn(rt, 0, t_pool_rounds, ex);
    corio_value v = {0};
    ck_assert_int_eq(corio_future_result_value(f, 120, &v), 0);
    /* Generous: a loaded machine may delay the worker past the poll. */
    uintptr_t parked = (uintptr_t)v.ptr;
    ck_assert_msg(parked <= 400, "%lu of 2000 waits parked", (unsigned long)parked);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    corio_executor_destroy(ex);
}
END_TEST

/* A plain thread awaits a coroutine that itself waits on the thread. */
static int t_wait_then_return(void *arg, corio_value *out) {
    void *v = NULL;
    int r = corio_future_result(arg, 60, &v);
    out->ptr = v;
    return r;
}

START_TEST(test_thread_awaits_coroutine) {
    corio_runtime *rt = t_rt(2);
    corio_future *ev = corio_future_create();
    corio_future *f = t_spawn(rt, 1, t_wait_then_return, ev);
    ck_assert_int_eq(corio_future_result(f, 0.01, NULL), -ETIMEDOUT);
    ck_assert(!corio_future_done(f));
    ck_assert_int_eq(corio_future_set_result(ev, (void *)0xabc, NULL), 0);
    ck_assert_ptr_eq(t_join(f), (void *)0xabc);
    corio_future_unref(ev);
    corio_runtime_destroy(rt);
}
END_TEST

/* A coroutine on loop 0 awaits one on loop 1. */
static int t_on_loop_1(void *arg, corio_value *out) {
    (void)arg;
    ck_assert_int_eq(corio_loop_id(), 1);
    ck_assert_int_eq(corio_sleep(0.01), 0);
    out->ptr = (void *)(intptr_t)corio_loop_id();
    return 0;
}

static int t_await_other_loop(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    ck_assert_int_eq(corio_loop_id(), 0);
    corio_future *f = corio_spawn_on(corio_runtime_current(), 1, t_on_loop_1, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(f);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
    ck_assert_int_eq((intptr_t)v, 1);
    ck_assert_int_eq(corio_loop_id(), 0); /* never moved */
    corio_future_unref(f);
    return 0;
}

START_TEST(test_await_coroutine_other_loop) {
    corio_runtime *rt = t_rt(2);
    t_join(t_spawn(rt, 0, t_await_other_loop, NULL));
    corio_runtime_destroy(rt);
}
END_TEST

/* One coroutine awaits three different kinds of thing through one API: a
 * thread-pool job, another coroutine, and an I/O operation (a read on a
 * socketpair, driven through the loop's ring). */
typedef struct t_mixed {
    corio_executor *ex;
    int fds[2];
} t_mixed;

static int t_write_later(void *arg, corio_value *out) {
    (void)out;
    int fd = (int)(intptr_t)arg;
    ck_assert_int_eq(corio_yield(), 0);
    ck_assert_int_eq(write(fd, "ping", 4), 4);
    return 0;
}

static int t_mixed_main(void *arg, corio_value *out) {
    (void)out;
    t_mixed *m = arg;
    corio_future *job = corio_executor_submit(m->ex, t_square, (void *)(intptr_t)9, NULL);
    corio_future *co = corio_spawn_on(corio_runtime_current(), 1, t_on_loop_1, NULL, NULL, NULL);
    corio_future *wr = corio_spawn(t_write_later, (void *)(intptr_t)m->fds[1], NULL);
    ck_assert_ptr_nonnull(job);
    ck_assert_ptr_nonnull(co);
    ck_assert_ptr_nonnull(wr);
    /* The read (corio_recv, on this loop's ring) can only complete if the
     * writer coroutine, on the same loop, runs while we wait. */
    char buf[8] = {0};
    ck_assert_int_eq(corio_recv(m->fds[0], buf, sizeof buf, 0, 30), 4);
    ck_assert_str_eq(buf, "ping");
    void *v;
    ck_assert_int_eq(corio_future_result(job, 30, &v), 0);
    ck_assert_int_eq((intptr_t)v, 81);
    ck_assert_int_eq(corio_future_result(co, 30, &v), 0);
    ck_assert_int_eq((intptr_t)v, 1);
    ck_assert_int_eq(corio_future_result(wr, 30, NULL), 0);
    corio_future_unref(job);
    corio_future_unref(co);
    corio_future_unref(wr);
    return 0;
}

START_TEST(test_await_pool_coroutine_and_io) {
    t_mixed m;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m.fds), 0);
    ck_assert_int_eq(corio_thread_pool_create(NULL, &m.ex), 0);
    corio_runtime *rt = t_rt(2);
    t_join(t_spawn(rt, 0, t_mixed_main, &m));
    corio_runtime_destroy(rt);
    corio_executor_destroy(m.ex);
    close(m.fds[0]);
    close(m.fds[1]);
}
END_TEST

/* ---- scale ---------------------------------------------------------------- */

typedef struct t_crowd {
    corio_future *ev;   /* every coroutine waits on it */
    atomic_size_t parked; /* how many are about to wait */
    size_t n;            /* how many there are */
    sem_t all_parked;    /* posted by the last one */
} t_crowd;

static int t_crowd_member(void *arg, corio_value *out) {
    t_crowd *c = arg;
    if (atomic_fetch_add(&c->parked, 1) + 1 == c->n)
        sem_post(&c->all_parked);
    void *v = NULL;
    int r = corio_future_result(c->ev, CORIO_FOREVER, &v);
    out->ptr = v;
    return r;
}

/* Say why a mass spawn may have run out of mappings. */
static void t_explain_map_count(size_t n) {
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long max = 0;
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 0;
        fclose(f);
    }
    if (max > 0 && (size_t)max < 2 * n + 1000)
        fprintf(stderr,
                "note: vm.max_map_count is %ld; %zu coroutine stacks need one mapping each with "
                "MADV_GUARD_INSTALL (Linux 6.13+, adjacent ones merge) but two with the "
                "mprotect fallback\n",
                max, n);
}

START_TEST(test_100k_parked_coroutines) {
    size_t n = t_scale(100000, 1000);
    t_crowd c = {.ev = corio_future_create(), .n = n};
    atomic_init(&c.parked, 0);
    t_gate_init(&c.all_parked);
    corio_runtime *rt = t_rt(2);
    corio_future **fs = malloc(n * sizeof *fs);
    for (size_t i = 0; i < n; i++)
        fs[i] = t_spawn(rt, (int)(i % 2), t_crowd_member, &c);
    /* A stack that cannot be mapped fails that coroutine's future with
     * -ENOMEM (and it never reaches the gate): look for that while waiting,
     * and say so plainly rather than time out. */
    double t0 = t_now();
    while (!t_gate_pass_within(&c.all_parked, 1)) {
        for (size_t i = 0; i < n; i++) {
            if (corio_future_done(fs[i]) && corio_future_result(fs[i], 0, NULL) == -ENOMEM) {
                t_explain_map_count(n);
                ck_abort_msg("coroutine %zu could not get a stack (-ENOMEM): address space, "
                             "vm.max_map_count or memory exhausted", i);
            }
        }
        ck_assert_msg(t_now() - t0 < 120, "only %zu of %zu coroutines started",
                      atomic_load(&c.parked), n);
    }
    for (size_t i = 0; i < n; i += n / 100)
        ck_assert(!corio_future_done(fs[i]));
    ck_assert_int_eq(corio_future_set_result(c.ev, (void *)0x77, NULL), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_eq(t_join(fs[i]), (void *)0x77);
    free(fs);
    corio_runtime_destroy(rt);
    corio_future_unref(c.ev);
    sem_destroy(&c.all_parked);
}
END_TEST

/* Ping-pong across two loops: A (loop 0) completes ping[i] and awaits
 * pong[i]; B (loop 1) awaits ping[i] and completes pong[i]. */
typedef struct t_pp {
    corio_future **ping, **pong;
    size_t n;
} t_pp;

static int t_pinger(void *arg, corio_value *out) {
    (void)out;
    t_pp *p = arg;
    ck_assert_int_eq(corio_loop_id(), 0);
    for (size_t i = 0; i < p->n; i++) {
        ck_assert_int_eq(corio_future_set_result(p->ping[i], (void *)i, NULL), 0);
        void *v;
        ck_assert_int_eq(corio_future_result(p->pong[i], 60, &v), 0);
        ck_assert_ptr_eq(v, (void *)(i + 1));
    }
    return 0;
}

static int t_ponger(void *arg, corio_value *out) {
    (void)out;
    t_pp *p = arg;
    ck_assert_int_eq(corio_loop_id(), 1);
    for (size_t i = 0; i < p->n; i++) {
        void *v;
        ck_assert_int_eq(corio_future_result(p->ping[i], 60, &v), 0);
        ck_assert_ptr_eq(v, (void *)i);
        ck_assert_int_eq(corio_future_set_result(p->pong[i], (void *)(i + 1), NULL), 0);
    }
    return 0;
}

START_TEST(test_ping_pong_two_loops) {
    t_pp p = {.n = t_scale(100000, 1000)};
    p.ping = malloc(p.n * sizeof *p.ping);
    p.pong = malloc(p.n * sizeof *p.pong);
    for (size_t i = 0; i < p.n; i++) {
        p.ping[i] = corio_future_create();
        p.pong[i] = corio_future_create();
    }
    corio_runtime *rt = t_rt(2);
    corio_future *b = t_spawn(rt, 1, t_ponger, &p);
    corio_future *a = t_spawn(rt, 0, t_pinger, &p);
    t_join(a);
    t_join(b);
    corio_runtime_destroy(rt);
    for (size_t i = 0; i < p.n; i++) {
        corio_future_unref(p.ping[i]);
        corio_future_unref(p.pong[i]);
    }
    free(p.ping);
    free(p.pong);
}
END_TEST

/* 10k coroutines, each awaiting its own thread-pool job. */
static int t_submit_and_await(void *arg, corio_value *out) {
    corio_executor *ex = arg;
    intptr_t x = (intptr_t)corio_coro_id() % 1000;
    corio_future *f = corio_executor_submit(ex, t_square, (void *)x, NULL);
    ck_assert_ptr_nonnull(f);
    void *v;
    int r = corio_future_result(f, 60, &v);
    corio_future_unref(f);
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq((intptr_t)v, x * x);
    out->ptr = (void *)1;
    return 0;
}

START_TEST(test_10k_coroutines_await_pool_jobs) {
    size_t n = t_scale(10000, 500);
    corio_executor *ex = NULL;
    corio_thread_pool_options o = {.max_workers = 4};
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    corio_runtime *rt = t_rt(2);
    corio_future **fs = malloc(n * sizeof *fs);
    for (size_t i = 0; i < n; i++)
        fs[i] = t_spawn(rt, (int)(i % 2), t_submit_and_await, ex);
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_eq(t_join(fs[i]), (void *)1);
    free(fs);
    corio_runtime_destroy(rt);
    corio_executor_destroy(ex);
}
END_TEST

/* ---- suite ------------------------------------------------------------------- */

static Suite *runtime_await_suite(void) {
    Suite *s = suite_create("runtime_await");
    TCase *tc = tcase_create("await");
    tcase_add_test(tc, test_future_result_suspends);
    tcase_add_test(tc, test_wait_suspends);
    tcase_add_test(tc, test_as_completed_suspends);
    tcase_add_test(tc, test_map_next_suspends);
    tcase_add_test(tc, test_await_thread_pool_job);
    tcase_add_test(tc, test_pinned_loop_children_unpinned);
    tcase_add_test(tc, test_idle_loop_stops_polling);
    tcase_add_test(tc, test_await_pool_job_polls);
    tcase_add_test(tc, test_thread_awaits_coroutine);
    tcase_add_test(tc, test_await_coroutine_other_loop);
    tcase_add_test(tc, test_await_pool_coroutine_and_io);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_100k_parked_coroutines);
    tcase_add_test(tc, test_ping_pong_two_loops);
    tcase_add_test(tc, test_10k_coroutines_await_pool_jobs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(runtime_await_suite()); }
