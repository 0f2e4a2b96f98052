/* Tests for cancel scopes, shields and task groups (corio/scope.h): the
 * scope deadline on every kind of blocking call, nesting, cancel of a
 * scope from the same loop, another loop and another thread, shields
 * holding off cancels and outer deadlines while their own deadline fires,
 * groups (fail-fast order, collect-all, destroy cancels and joins, nesting,
 * attached pool jobs, self-join), and a coroutine awaiting itself.
 *
 * Time bounds are generous (a deadline of 50 ms must fire within 5 s and
 * not before 50 ms): speed belongs in the benchmarks. Ordering is done with
 * futures and semaphores, never with sleeps. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"

static corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Run fn as a coroutine on loop 0 of a fresh one-loop runtime; expect 0. */
static void t_in_coro(corio_fn fn, void *arg) {
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, fn, arg);
    const char *msg = "";
    int r = corio_future_exception(f, 60, &msg);
    ck_assert_msg(r == 0, "coroutine ended with %d (%s): %s", r, corio_error_name(r), msg);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
}

#define T_EXPECT(cond)                                                                            \
    do {                                                                                          \
        if (!(cond))                                                                              \
            return corio_task_fail(CORIO_ETASK, "%s:%d: %s", __FILE__, __LINE__, #cond);          \
    } while (0)

/* ---- deadlines ---------------------------------------------------------- */

/* Every kind of blocking call inside a 50 ms scope ends with -ETIMEDOUT,
 * not before the deadline, and the scope reports it. */
enum { K_RESULT, K_WAIT, K_AS_COMPLETED, K_SLEEP, K_CHANNEL, K_MUTEX, K_SEM, K_EVENT, K_RECV,
       K_POLL, K_NKINDS };

/* Holds a mutex from another thread for the K_MUTEX case. */
typedef struct holder {
    corio_mutex *mu;
    sem_t locked, release;
} holder;

static void *holder_main(void *arg) {
    holder *h = arg;
    corio_mutex_lock(h->mu, -1);
    sem_post(&h->locked);
    t_gate_pass(&h->release);
    corio_mutex_unlock(h->mu);
    return NULL;
}

static int one_kind(int kind) {
    corio_future *never = corio_future_create();
    corio_channel *ch = NULL;
    corio_mutex *mu = NULL;
    corio_semaphore *sem = NULL;
    corio_event *ev = NULL;
    int sv[2] = {-1, -1};
    corio_channel_create(1, &ch);
    corio_mutex_create(&mu);
    holder h = {.mu = mu};
    pthread_t ht;
    sem_init(&h.locked, 0, 0);
    sem_init(&h.release, 0, 0);
    pthread_create(&ht, NULL, holder_main, &h);
    t_gate_pass(&h.locked);
    corio_semaphore_create(0, &sem);
    corio_event_create(&ev);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    corio_scope s;
    int64_t t0 = corio_now_ns();
    corio_scope_enter_timeout(&s, 0.05);
    long r = 0;
    void *item;
    char buf[8];
    corio_future *done = NULL, *notdone = NULL;
    size_t nd = 0, nn = 0;
    corio_as_completed *it = NULL;
    switch (kind) {
    case K_RESULT: r = corio_future_result(never, -1, NULL); break;
    case K_WAIT:
        r = corio_wait(&never, 1, -1, CORIO_ALL_COMPLETED, &done, &nd, &notdone, &nn);
        break;
    case K_AS_COMPLETED:
        r = corio_as_completed_create2(&never, 1, -1, &it);
        if (r == 0) {
            corio_future *out = NULL;
            r = corio_as_completed_next(it, &out);
        }
        break;
    case K_SLEEP: r = corio_sleep(10); break;
    case K_CHANNEL: r = corio_channel_recv(ch, &item, -1); break;
    case K_MUTEX:
        r = corio_mutex_lock(mu, -1); /* held by the holder thread */
        break;
    case K_SEM: r = corio_semaphore_acquire(sem, -1); break;
    case K_EVENT: r = corio_event_wait(ev, -1); break;
    case K_RECV: r = corio_recv(sv[0], buf, sizeof buf, 0, -1); break;
    case K_POLL: r = corio_poll(sv[0], POLLIN, -1); break;
    }
    int64_t took = corio_now_ns() - t0;
    int st = corio_scope_exit(&s);
    if (it)
        corio_as_completed_destroy(it);
    sem_post(&h.release);
    pthread_join(ht, NULL);
    sem_destroy(&h.locked);
    sem_destroy(&h.release);
    corio_mutex_destroy(mu);
    corio_channel_destroy(ch);
    corio_semaphore_destroy(sem);
    corio_event_destroy(ev);
    close(sv[0]);
    close(sv[1]);
    corio_future_unref(never);
    T_EXPECT(r == -ETIMEDOUT);
    T_EXPECT(st == -ETIMEDOUT);
    T_EXPECT(took >= 50000000 && took < 5000000000);
    T_EXPECT(corio_scope_deadline() == CORIO_NO_DEADLINE);
    return 0;
}

static int every_kind(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    for (int k = 0; k < K_NKINDS; k++) {
        int r = one_kind(k);
        if (r < 0)
        {
            char m[512];
            snprintf(m, sizeof m, "%s", corio__task_msg());
            return corio_task_fail(r, "kind %d: %s", k, m);
        }
    }
    return 0;
}

START_TEST(test_deadline_every_blocking_call_coroutine) { t_in_coro(every_kind, NULL); }
END_TEST

START_TEST(test_deadline_every_blocking_call_thread) {
    /* The same calls on a plain thread: the scope's deadline bounds them. */
    int r = every_kind(NULL, NULL);
    ck_assert_msg(r == 0, "%s", corio__task_msg());
}
END_TEST

static int nested(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_future *never = corio_future_create();
    corio_scope a, b;
    /* Outer early, inner late: the outer's deadline applies inside. */
    corio_scope_enter_timeout(&a, 0.05);
    int64_t da = corio_scope_deadline();
    corio_scope_enter_timeout(&b, 30);
    T_EXPECT(corio_scope_deadline() == da);
    T_EXPECT(corio_future_result(never, -1, NULL) == -ETIMEDOUT);
    T_EXPECT(corio_scope_exit(&b) == 0); /* its own deadline has not passed */
    T_EXPECT(corio_scope_exit(&a) == -ETIMEDOUT);
    /* Outer late, inner early: the inner one fires, the outer is fine. */
    corio_scope_enter_timeout(&a, 30);
    corio_scope_enter_timeout(&b, 0.05);
    T_EXPECT(corio_sleep(10) == -ETIMEDOUT);
    T_EXPECT(corio_scope_exit(&b) == -ETIMEDOUT);
    T_EXPECT(corio_sleep(0.001) == 0);
    /* The per-call timeout wins when it is earlier. */
    T_EXPECT(corio_future_result(never, 0.02, NULL) == -ETIMEDOUT);
    T_EXPECT(corio_scope_exit(&a) == 0);
    /* Misuse: leaving a scope that is not the innermost. */
    corio_scope_enter(&a, CORIO_NO_DEADLINE);
    corio_scope_enter(&b, CORIO_NO_DEADLINE);
    T_EXPECT(corio_scope_exit(&a) == -EINVAL);
    T_EXPECT(corio_scope_exit(&b) == 0);
    T_EXPECT(corio_scope_exit(&a) == 0);
    T_EXPECT(corio_scope_exit(NULL) == -EINVAL);
    T_EXPECT(corio_scope_enter(NULL, 0) == -EINVAL);
    T_EXPECT(corio_scope_enter_timeout(&a, 0.0 / 0.0) == -EINVAL);
    /* A past absolute deadline: only what completes at once. */
    corio_scope_enter(&a, corio_now_ns() - 1);
    T_EXPECT(corio_sleep(1) == -ETIMEDOUT);
    T_EXPECT(corio_yield() == 0);
    T_EXPECT(corio_scope_exit(&a) == -ETIMEDOUT);
    corio_future_unref(never);
    return 0;
}

START_TEST(test_nested_deadlines) { t_in_coro(nested, NULL); }
END_TEST

START_TEST(test_nested_deadlines_thread) { ck_assert_int_eq(nested(NULL, NULL), 0); }
END_TEST

/* ---- cancel ------------------------------------------------------------- */

typedef struct cancel_ctx {
    corio_scope *scope;   /* published by the victim once entered */
    sem_t entered;        /* the victim is inside its scope */
    _Atomic(corio_scope *) pub; /* the same, for a coroutine canceller */
    int after;            /* what a call after the scope returned */
    int hold;             /* the victim keeps its stack (the scope's memory) until... */
    atomic_int released;  /* ...the canceller sets this: its last cancel has returned */
} cancel_ctx;

static int victim(void *arg, corio_value *out) {
    (void)out;
    cancel_ctx *c = arg;
    corio_future *never = corio_future_create();
    corio_scope s;
    corio_scope_enter(&s, CORIO_NO_DEADLINE);
    c->scope = &s;
    atomic_store(&c->pub, &s);
    sem_post(&c->entered);
    int r = corio_future_result(never, -1, NULL);
    int r2 = corio_sleep(0.001); /* still inside: cancelled too */
    int st = corio_scope_exit(&s);
    /* Outside the scope the coroutine is not cancelled. */
    c->after = corio_sleep(0.001);
    corio_future_unref(never);
    /* A cancel after the exit does nothing, but its scope must still be
     * there (corio_scope_cancel's lifetime rule): wait for the canceller. */
    while (c->hold && !atomic_load(&c->released))
        corio_yield();
    T_EXPECT(r == -ECANCELED);
    T_EXPECT(r2 == -ECANCELED);
    T_EXPECT(st == -ECANCELED);
    T_EXPECT(c->after == 0);
    T_EXPECT(!corio_cancel_requested());
    return 0;
}

static void run_cancel_from_thread(int loops, int victim_loop) {
    corio_runtime *rt = t_rt(loops);
    cancel_ctx c = {0};
    t_gate_init(&c.entered);
    corio_future *f = t_spawn(rt, victim_loop, victim, &c);
    ck_assert(t_gate_pass_within(&c.entered, 10));
    corio_scope_cancel(c.scope);
    int r = corio_future_result(f, 30, NULL);
    ck_assert_msg(r == 0, "%s", corio_error_name(r));
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    sem_destroy(&c.entered);
}

START_TEST(test_cancel_scope_from_thread) { run_cancel_from_thread(1, 0); }
END_TEST

static int canceller(void *arg, corio_value *out) {
    (void)out;
    cancel_ctx *c = arg;
    corio_scope *s;
    while (!(s = atomic_load(&c->pub)))
        corio_yield();
    corio_scope_cancel(s);
    corio_scope_cancel(s); /* twice: harmless */
    atomic_store(&c->released, 1);
    return 0;
}

START_TEST(test_cancel_scope_from_coroutine_same_and_other_loop) {
    for (int other = 0; other < 2; other++) {
        corio_runtime *rt = t_rt(2);
        cancel_ctx c = {.hold = 1};
        t_gate_init(&c.entered);
        corio_future *v = t_spawn(rt, 0, victim, &c);
        corio_future *k = t_spawn(rt, other, canceller, &c);
        ck_assert_int_eq(corio_future_result(v, 30, NULL), 0);
        ck_assert_int_eq(corio_future_result(k, 30, NULL), 0);
        corio_future_unref(v);
        corio_future_unref(k);
        corio_runtime_destroy(rt);
        sem_destroy(&c.entered);
    }
}
END_TEST

typedef struct thread_victim {
    corio_scope *scope;
    sem_t entered;
    int r, st, after;
} thread_victim;

static void *thread_victim_main(void *arg) {
    thread_victim *t = arg;
    corio_future *never = corio_future_create();
    corio_scope s;
    corio_scope_enter(&s, CORIO_NO_DEADLINE);
    t->scope = &s;
    sem_post(&t->entered);
    t->r = corio_future_result(never, -1, NULL);
    t->st = corio_scope_exit(&s);
    t->after = corio_future_result(never, 0.01, NULL);
    corio_future_unref(never);
    return NULL;
}

START_TEST(test_cancel_thread_scope_from_other_thread) {
    thread_victim t = {0};
    t_gate_init(&t.entered);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, thread_victim_main, &t), 0);
    ck_assert(t_gate_pass_within(&t.entered, 10));
    corio_scope_cancel(t.scope);
    pthread_join(th, NULL);
    ck_assert_int_eq(t.r, -ECANCELED);
    ck_assert_int_eq(t.st, -ECANCELED);
    ck_assert_int_eq(t.after, -ETIMEDOUT);
    sem_destroy(&t.entered);
}
END_TEST

/* ---- shield ------------------------------------------------------------- */

typedef struct shield_ctx {
    sem_t inside;  /* the coroutine is in its shield */
    sem_t go;      /* the test has cancelled it */
    int r_shielded, r_deadline, r_outer_deadline, r_after;
} shield_ctx;

static int shielded(void *arg, corio_value *out) {
    (void)out;
    shield_ctx *c = arg;
    corio_future *never = corio_future_create();
    corio_scope outer, sh, sh2;
    corio_scope_enter_timeout(&outer, 0.05);
    corio_shield_enter(&sh, CORIO_NO_DEADLINE);
    sem_post(&c->inside);
    /* Blocks the loop thread on purpose until the test cancelled us: the
     * cancel is then pending while we are shielded. */
    t_gate_pass(&c->go);
    /* Cancelled and past the outer deadline, yet inside the shield a
     * sleep runs its course... */
    c->r_shielded = corio_sleep(0.1);
    /* ...and the shield's own deadline still fires. */
    corio_shield_enter(&sh2, corio_now_ns() + 20000000);
    c->r_deadline = corio_future_result(never, -1, NULL);
    corio_scope_exit(&sh2);
    corio_scope_exit(&sh);
    /* Out of the shield: the outer deadline and the cancel apply again. */
    c->r_outer_deadline = corio_sleep(0.001);
    corio_scope_exit(&outer);
    c->r_after = corio_sleep(0.001);
    corio_future_unref(never);
    return c->r_after;
}

START_TEST(test_shield_holds_off_cancel_own_deadline_fires) {
    corio_runtime *rt = t_rt(1);
    shield_ctx c = {0};
    t_gate_init(&c.inside);
    t_gate_init(&c.go);
    corio_future *f = t_spawn(rt, 0, shielded, &c);
    ck_assert(t_gate_pass_within(&c.inside, 10));
    corio_future_cancel(f); /* running: only requested */
    t_gate_open(&c.go, 1);
    int r = corio_future_result(f, 30, NULL);
    ck_assert_int_eq(c.r_shielded, 0);
    ck_assert_int_eq(c.r_deadline, -ETIMEDOUT);
    /* Cancelled and past the deadline: either is a fair answer; the cancel
     * is checked first. */
    ck_assert_int_eq(c.r_outer_deadline, -ECANCELED);
    ck_assert_int_eq(c.r_after, -ECANCELED);
    ck_assert_int_eq(r, -ECANCELED);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    sem_destroy(&c.inside);
    sem_destroy(&c.go);
}
END_TEST

/* ---- groups ------------------------------------------------------------- */

static atomic_int live;

static int child_sleep_forever(void *arg, corio_value *out) {
    (void)out;
    atomic_int *order = arg;
    atomic_fetch_add(&live, 1);
    int r = corio_sleep(3600);
    if (order)
        atomic_fetch_add(order, 1);
    atomic_fetch_sub(&live, 1);
    return r;
}

static int child_fail(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_yield();
    return corio_task_fail(-ENOENT, "child failed");
}

static int child_ok(void *arg, corio_value *out) {
    (void)arg;
    corio_yield();
    out->ptr = (void *)42;
    return 0;
}

static int fail_fast(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_group *g;
    T_EXPECT(corio_group_create(CORIO_GROUP_FAIL_FAST, &g) == 0);
    atomic_int cancelled_after = 0;
    for (int i = 0; i < 10; i++)
        T_EXPECT(corio_group_spawn(g, child_sleep_forever, &cancelled_after, NULL) == 0);
    corio_future *bad;
    T_EXPECT(corio_group_spawn(g, child_fail, NULL, &bad) == 0);
    int r = corio_group_join(g, 30);
    T_EXPECT(r == -ENOENT);
    T_EXPECT(corio_group_first_failure(g) == bad);
    T_EXPECT(atomic_load(&cancelled_after) == 10);
    T_EXPECT(corio_group_size(g) == 11);
    for (size_t i = 0; i < 10; i++)
        T_EXPECT(corio_future_cancelled(corio_group_child(g, i)));
    T_EXPECT(corio_group_child(g, 11) == NULL);
    /* A cancelled group refuses new children. */
    T_EXPECT(corio_group_spawn(g, child_ok, NULL, NULL) == -ECANCELED);
    corio_future_unref(bad);
    corio_group_destroy(g);
    T_EXPECT(atomic_load(&live) == 0);
    return 0;
}

START_TEST(test_group_fail_fast_cancels_siblings) { t_in_coro(fail_fast, NULL); }
END_TEST

static int collect_all(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_group *g;
    T_EXPECT(corio_group_create(CORIO_GROUP_COLLECT_ALL, &g) == 0);
    for (int i = 0; i < 5; i++)
        T_EXPECT(corio_group_spawn(g, i == 2 ? child_fail : child_ok, NULL, NULL) == 0);
    T_EXPECT(corio_group_join(g, 30) == -ENOENT);
    for (size_t i = 0; i < 5; i++) {
        void *v = NULL;
        int r = corio_future_result(corio_group_child(g, i), 0, &v);
        T_EXPECT(i == 2 ? r == -ENOENT : r == 0 && v == (void *)42);
    }
    corio_group_destroy(g);
    return 0;
}

START_TEST(test_group_collect_all) { t_in_coro(collect_all, NULL); }
END_TEST

static int inner_parent(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_group *g;
    atomic_fetch_add(&live, 1);
    corio_group_create(CORIO_GROUP_FAIL_FAST, &g);
    for (int i = 0; i < 3; i++)
        corio_group_spawn(g, child_sleep_forever, NULL, NULL);
    int r = corio_group_join(g, -1); /* -ECANCELED when we are cancelled */
    corio_group_destroy(g);
    atomic_fetch_sub(&live, 1);
    return r;
}

START_TEST(test_group_destroy_cancels_and_joins_nested) {
    /* From a plain thread, children on both loops, each with a group of
     * its own: destroying the outer group leaves no coroutine alive. */
    corio_runtime *rt = t_rt(2);
    atomic_store(&live, 0);
    corio_group *g;
    ck_assert_int_eq(corio_group_create(CORIO_GROUP_FAIL_FAST, &g), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(corio_group_spawn_on(g, rt, i % 2, inner_parent, NULL, NULL, NULL), 0);
        ck_assert_int_eq(corio_group_spawn_on(g, rt, i % 2, child_sleep_forever, NULL, NULL, NULL),
                         0);
    }
    /* Wait until all 4 + 4*3 + 4 are running. */
    while (atomic_load(&live) < 20)
        sched_yield();
    ck_assert_int_eq(corio_group_join(g, 0.05), -ETIMEDOUT);
    corio_group_destroy(g);
    ck_assert_int_eq(atomic_load(&live), 0);
    corio_runtime_destroy(rt);
}
END_TEST

typedef struct self_ctx {
    corio_group *g;
    corio_future *self;
} self_ctx;

static int join_own_group(void *arg, corio_value *out) {
    (void)out;
    self_ctx *c = arg;
    T_EXPECT(corio_group_join(c->g, -1) == -EDEADLK);
    /* Awaiting its own future (handed over before it first ran). */
    T_EXPECT(corio_future_result(c->self, -1, NULL) == -EDEADLK);
    return 0;
}

static int self_deadlocks(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    self_ctx c;
    corio_group_create(CORIO_GROUP_FAIL_FAST, &c.g);
    T_EXPECT(corio_group_spawn(c.g, join_own_group, &c, &c.self) == 0);
    T_EXPECT(corio_group_join(c.g, 30) == 0);
    corio_future_unref(c.self);
    corio_group_destroy(c.g);
    return 0;
}

START_TEST(test_group_join_self_and_await_self_deadlock) { t_in_coro(self_deadlocks, NULL); }
END_TEST

static int gate_job(void *arg, corio_value *out) {
    (void)out;
    t_gate_pass(arg);
    return 0;
}

START_TEST(test_group_attached_pool_jobs) {
    corio_thread_pool_options o = {.max_workers = 1};
    corio_executor *ex;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    sem_t gate;
    t_gate_init(&gate);
    corio_group *g;
    ck_assert_int_eq(corio_group_create(CORIO_GROUP_FAIL_FAST, &g), 0);
    corio_future *running = corio_executor_submit(ex, gate_job, &gate, NULL);
    corio_future *queued = corio_executor_submit(ex, gate_job, &gate, NULL);
    while (!corio_future_running(running))
        sched_yield();
    ck_assert_int_eq(corio_group_attach(g, running), 0);
    ck_assert_int_eq(corio_group_attach(g, queued), 0);
    /* The queued job is cancelled, the running one is left to finish. */
    ck_assert_uint_eq(corio_group_cancel(g), 1);
    ck_assert(corio_future_cancelled(queued));
    ck_assert_int_eq(corio_group_join(g, 0.02), -ETIMEDOUT);
    t_gate_open(&gate, 1);
    ck_assert_int_eq(corio_group_join(g, 30), 0);
    ck_assert_int_eq(corio_future_result(running, 0, NULL), 0);
    corio_group_destroy(g);
    corio_future_unref(running);
    corio_future_unref(queued);
    corio_executor_destroy(ex);
    sem_destroy(&gate);
}
END_TEST

/* A process-pool job that sleeps `arg` milliseconds (the worker is a
 * separate process: no gate can be shared with it). */
static int sleep_job(void *arg, corio_value *out) {
    (void)out;
    long ms = (long)(uintptr_t)arg;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return 0;
}

/* The same rules for process-pool jobs: a queued job attached to a group
 * is cancelled with it (it stays in the parent until a worker is free, so
 * it is still PENDING), the running one is left to finish and joined. */
START_TEST(test_group_attached_process_pool_jobs) {
    corio_process_pool_options o = {.max_workers = 1};
    corio_executor *ex;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    corio_group *g;
    ck_assert_int_eq(corio_group_create(CORIO_GROUP_FAIL_FAST, &g), 0);
    corio_future *running = corio_executor_submit(ex, sleep_job, (void *)(uintptr_t)300, NULL);
    corio_future *queued = corio_executor_submit(ex, sleep_job, (void *)(uintptr_t)1, NULL);
    ck_assert_ptr_nonnull(running);
    ck_assert_ptr_nonnull(queued);
    int64_t until = corio_now_ns() + 30000000000;
    while (!corio_future_running(running) && !corio_future_done(running) &&
           corio_now_ns() < until)
        sched_yield();
    ck_assert_int_eq(corio_group_attach(g, running), 0);
    ck_assert_int_eq(corio_group_attach(g, queued), 0);
    size_t n = corio_group_cancel(g);
    /* One cancelled: the queued job (unless the first had already ended
     * and the second was started: then nothing was left to cancel). */
    if (!corio_future_done(running) || corio_future_cancelled(queued))
        ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(corio_group_join(g, 30), 0);
    ck_assert_int_eq(corio_future_result(running, 0, NULL), 0);
    ck_assert(corio_future_cancelled(queued) || n == 0);
    corio_group_destroy(g);
    corio_future_unref(running);
    corio_future_unref(queued);
    corio_executor_destroy(ex);
}
END_TEST

START_TEST(test_group_invalid) {
    corio_group *g;
    ck_assert_int_eq(corio_group_create(CORIO_GROUP_FAIL_FAST, NULL), -EINVAL);
    ck_assert_int_eq(corio_group_create((corio_group_policy)7, &g), -EINVAL);
    ck_assert_int_eq(corio_group_create(CORIO_GROUP_COLLECT_ALL, &g), 0);
    /* Outside a coroutine without a runtime. */
    ck_assert_int_eq(corio_group_spawn(g, child_ok, NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_group_spawn_on(NULL, NULL, 0, child_ok, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_group_attach(g, NULL), -EINVAL);
    ck_assert_int_eq(corio_group_join(NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_group_join(g, 0.0 / 0.0), -EINVAL);
    ck_assert_int_eq(corio_group_join(g, 0), 0); /* empty */
    corio_group_destroy(g);
    corio_group_destroy(NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("scope");
    TCase *tc = tcase_create("scope");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deadline_every_blocking_call_coroutine);
    tcase_add_test(tc, test_deadline_every_blocking_call_thread);
    tcase_add_test(tc, test_nested_deadlines);
    tcase_add_test(tc, test_nested_deadlines_thread);
    tcase_add_test(tc, test_cancel_scope_from_thread);
    tcase_add_test(tc, test_cancel_scope_from_coroutine_same_and_other_loop);
    tcase_add_test(tc, test_cancel_thread_scope_from_other_thread);
    tcase_add_test(tc, test_shield_holds_off_cancel_own_deadline_fires);
    tcase_add_test(tc, test_group_fail_fast_cancels_siblings);
    tcase_add_test(tc, test_group_collect_all);
    tcase_add_test(tc, test_group_destroy_cancels_and_joins_nested);
    tcase_add_test(tc, test_group_join_self_and_await_self_deadlock);
    tcase_add_test(tc, test_group_attached_pool_jobs);
    tcase_add_test(tc, test_group_attached_process_pool_jobs);
    tcase_add_test(tc, test_group_invalid);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
