/* Tests of the sync objects (channel, mutex, semaphore, event) used from
 * coroutines on one loop, across loops, and from coroutines and threads at
 * once: channel traffic, timeouts racing with hand-offs, cancellation and
 * timeouts of a parked coroutine, close and FIFO order of parked waiters,
 * contention, destroy with waiters. From plain threads only: test_sync.c.
 *
 * Ordering between the test and what it starts is done with the objects
 * under test, futures and POSIX semaphores, never with sleeps. Coroutine
 * scenarios that need "B is parked now" run the driver as a coroutine on
 * B's loop: the loop's run queue is FIFO, so after the driver spawns B and
 * yields once, B has run up to its park. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "corio.h"
#include "t_helpers.h"
#include "t_sync.h"

/* io_uring available? Coroutine tests are left out when it is not. */
static int t_have_runtime;

/* ---- channel traffic: threads, coroutines, mixed ------------------------- */

/* Coroutines only, one loop. */
static const t_mix_cfg coro_cfgs[] = {
    {.cap = 8, .coro_prod = 3, .coro_cons = 3, .loops = 1},
    {.cap = 0, .coro_prod = 2, .coro_cons = 2, .loops = 1},
    /* across loops */
    {.cap = 4, .coro_prod = 2, .coro_cons = 2, .loops = 2},
    {.cap = 0, .coro_prod = 4, .coro_cons = 4, .loops = 2},
};

START_TEST(test_channel_coroutines) { t_mix_run(&coro_cfgs[_i], t_scale(50000, 2000)); }
END_TEST

/* Coroutines and threads on one channel: thread producers with coroutine
 * consumers, the reverse, and everything at once. */
static const t_mix_cfg mixed_cfgs[] = {
    {.cap = 32, .thr_prod = 2, .coro_cons = 4, .loops = 2},
    {.cap = 32, .coro_prod = 4, .thr_cons = 2, .loops = 2},
    {.cap = 4, .thr_prod = 2, .coro_prod = 2, .thr_cons = 2, .coro_cons = 2, .loops = 2},
    {.cap = 0, .thr_prod = 1, .coro_prod = 2, .thr_cons = 1, .coro_cons = 2, .loops = 2},
};

START_TEST(test_channel_mixed_100k) { t_mix_run(&mixed_cfgs[_i], t_scale(100000, 2000)); }
END_TEST

/* Timeouts racing with hand-offs: every send and recv uses a tiny timeout
 * and retries after -ETIMEDOUT. A timed-out send must not have delivered
 * its item, and a hand-off that beats a recv's timeout must not be lost:
 * every item still arrives exactly once. */
static void t_race_produce(void *p) {
    t_mix *m = p;
    for (;;) {
        size_t i = atomic_fetch_add(&m->next, 1);
        if (i >= m->n)
            return;
        int r;
        while ((r = corio_channel_send(m->ch, ITEM(i), 0.0002)) == -ETIMEDOUT) {
        }
        if (r != 0)
            atomic_fetch_add(&m->bad, 1);
    }
}

static void t_race_consume(void *p) {
    t_mix *m = p;
    void *item;
    for (;;) {
        int r = corio_channel_recv(m->ch, &item, 0.0001);
        if (r == -ETIMEDOUT)
            continue;
        if (r != 0) {
            if (r != -EPIPE)
                atomic_fetch_add(&m->bad, 1);
            return;
        }
        size_t i = ITEM_ID(item);
        if (i >= m->n)
            atomic_fetch_add(&m->bad, 1);
        else
            atomic_fetch_add(&m->seen[i], 1);
        atomic_fetch_add(&m->received, 1);
    }
}

START_TEST(test_channel_timeout_races) {
    size_t cap = _i == 0 ? 0 : 2;
    size_t n = t_scale(20000, 1000);
    t_mix m = {0};
    m.n = n;
    m.seen = calloc(n, 1);
    ck_assert_ptr_nonnull(m.seen);
    ck_assert_int_eq(corio_channel_create(cap, &m.ch), 0);
    corio_runtime *rt = t_have_runtime ? t_rt(2) : NULL;
    t_body prod = {t_race_produce, &m}, cons = {t_race_consume, &m};
    corio_future *fp[2] = {0}, *fc[2] = {0};
    t_thread tp[2], tc[2];
    for (int i = 0; i < 2; i++) {
        t_thread_start(&tc[i], t_race_consume, &m);
        t_thread_start(&tp[i], t_race_produce, &m);
        if (rt) {
            fc[i] = t_spawn(rt, i, t_coro_body, &cons);
            fp[i] = t_spawn(rt, 1 - i, t_coro_body, &prod);
        }
    }
    for (int i = 0; i < 2; i++) {
        t_thread_join(&tp[i]);
        if (fp[i])
            ck_assert_int_eq(t_join(fp[i]), 0);
    }
    ck_assert_int_eq(corio_channel_close(m.ch), 0);
    for (int i = 0; i < 2; i++) {
        t_thread_join(&tc[i]);
        if (fc[i])
            ck_assert_int_eq(t_join(fc[i]), 0);
    }
    ck_assert_int_eq(t_ldi(&m.bad), 0);
    ck_assert_uint_eq(t_ldz(&m.received), n);
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&m.seen[i]) != 1)
            ck_abort_msg("item %zu received %d times", i, (int)atomic_load(&m.seen[i]));
    ck_assert_int_eq(corio_channel_destroy(m.ch), 0);
    corio_runtime_destroy(rt);
    free((void *)m.seen);
}
END_TEST

/* Mutex and semaphore with timeouts racing with hand-offs: a lock that
 * timed out must not own the mutex, one that was handed the mutex as its
 * timeout fired must own it; units are neither lost nor created. */
typedef struct t_tmo {
    corio_mutex *m;       /* protects counter */
    corio_semaphore *s;   /* `limit` units */
    size_t iters;         /* successful rounds per worker */
    long counter;         /* plain: only the mutex protects it */
    _Atomic int holders;  /* semaphore holders right now */
    _Atomic int bad;      /* violations */
} t_tmo;

static void t_tmo_work(void *p) {
    t_tmo *t = p;
    for (size_t i = 0; i < t->iters;) {
        int r = corio_mutex_lock(t->m, 0.0001);
        if (r == -ETIMEDOUT)
            continue;
        if (r != 0) {
            atomic_fetch_add(&t->bad, 1);
            return;
        }
        long c = t->counter;
        if (i % 4 == 0)
            corio_yield();
        t->counter = c + 1;
        if (corio_mutex_unlock(t->m) != 0)
            atomic_fetch_add(&t->bad, 1);
        r = corio_semaphore_acquire(t->s, 0.0001);
        if (r == 0) {
            if (atomic_fetch_add(&t->holders, 1) >= 2)
                atomic_fetch_add(&t->bad, 1);
            corio_yield();
            atomic_fetch_sub(&t->holders, 1);
            corio_semaphore_release(t->s, 1);
        } else if (r != -ETIMEDOUT) {
            atomic_fetch_add(&t->bad, 1);
        }
        i++;
    }
}

START_TEST(test_lock_timeout_races) {
    t_tmo t = {0};
    t.iters = t_scale(5000, 300);
    ck_assert_int_eq(corio_mutex_create(&t.m), 0);
    ck_assert_int_eq(corio_semaphore_create(2, &t.s), 0);
    corio_runtime *rt = t_have_runtime ? t_rt(2) : NULL;
    t_body body = {t_tmo_work, &t};
    corio_future *f[4] = {0};
    int nworkers = 2;
    if (rt) {
        for (int i = 0; i < 4; i++)
            f[i] = t_spawn(rt, i % 2, t_coro_body, &body);
        nworkers += 4;
    }
    t_thread th[2];
    for (int i = 0; i < 2; i++)
        t_thread_start(&th[i], t_tmo_work, &t);
    for (int i = 0; i < 2; i++)
        t_thread_join(&th[i]);
    for (int i = 0; i < 4; i++)
        if (f[i])
            ck_assert_int_eq(t_join(f[i]), 0);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(t_ldi(&t.bad), 0);
    ck_assert_int_eq(t.counter, (long)(nworkers * t.iters));
    ck_assert_uint_eq(corio_semaphore_value(t.s), 2);
    ck_assert_int_eq(corio_mutex_destroy(t.m), 0);
    ck_assert_int_eq(corio_semaphore_destroy(t.s), 0);
}
END_TEST

/* ---- coroutine scenarios driven from a coroutine ------------------------- */

/* Run fn(arg) as a coroutine on loop 0 of a fresh runtime of `loops` loops
 * and return its result code. */
static int t_drive(int loops, corio_fn fn, void *arg) {
    corio_runtime *rt = t_rt(loops);
    int r = t_join(t_spawn(rt, 0, fn, arg));
    corio_runtime_destroy(rt);
    return r;
}

typedef struct t_blk {
    int kind;               /* what the blocker blocks in (T_RECV, ...) */
    double timeout;         /* its timeout */
    corio_channel *ch;      /* T_RECV: empty; T_SEND: full */
    corio_mutex *m;         /* T_LOCK: held by someone else */
    corio_semaphore *s;     /* T_ACQUIRE: at 0 */
    corio_event *ev;        /* T_WAIT: clear */
    corio_event *started;   /* set by the blocker just before it blocks */
    int rc;                 /* what the blocking call returned */
    int cancel_from_thread; /* thread-driven variant: the test thread cancels */
} t_blk;

enum { T_RECV, T_SEND, T_LOCK, T_ACQUIRE, T_WAIT, T_NKINDS };

static int t_block(t_blk *b) {
    void *item;
    switch (b->kind) {
    case T_RECV:
        return corio_channel_recv(b->ch, &item, b->timeout);
    case T_SEND:
        return corio_channel_send(b->ch, ITEM(99), b->timeout);
    case T_LOCK:
        return corio_mutex_lock(b->m, b->timeout);
    case T_ACQUIRE:
        return corio_semaphore_acquire(b->s, b->timeout);
    default:
        return corio_event_wait(b->ev, b->timeout);
    }
}

static int t_blocker(void *arg, corio_value *out) {
    (void)out;
    t_blk *b = arg;
    if (b->started)
        corio_event_set(b->started);
    b->rc = t_block(b);
    return b->rc < 0 ? b->rc : 0;
}

static void t_blk_init(t_blk *b, int kind) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->timeout = CORIO_FOREVER;
    ck_assert_int_eq(corio_channel_create(1, &b->ch), 0);
    if (kind == T_SEND)
        ck_assert_int_eq(corio_channel_send(b->ch, ITEM(0), 0), 0);
    ck_assert_int_eq(corio_mutex_create(&b->m), 0);
    ck_assert_int_eq(corio_semaphore_create(0, &b->s), 0);
    ck_assert_int_eq(corio_event_create(&b->ev), 0);
}

/* Every object must be free of waiters (destroy succeeds). */
static void t_blk_fini(t_blk *b) {
    ck_assert_int_eq(corio_channel_destroy(b->ch), 0);
    ck_assert_int_eq(corio_mutex_destroy(b->m), 0);
    ck_assert_int_eq(corio_semaphore_destroy(b->s), 0);
    ck_assert_int_eq(corio_event_destroy(b->ev), 0);
    corio_event_destroy(b->started);
}

/* Driver: hold the mutex (for T_LOCK), spawn the blocker on this loop,
 * yield so it parks, cancel it, and check what it saw. */
static int t_cancel_driver(void *arg, corio_value *out) {
    (void)out;
    t_blk *b = arg;
    if (b->kind == T_LOCK)
        ck_assert_int_eq(corio_mutex_lock(b->m, CORIO_FOREVER), 0);
    int err;
    corio_future *f = corio_spawn(t_blocker, b, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(corio_yield(), 0); /* the blocker runs and parks */
    ck_assert(!corio_future_done(f));
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), -ECANCELED);
    ck_assert(corio_future_cancelled(f));
    ck_assert_int_eq(b->rc, -ECANCELED);
    corio_future_unref(f);
    /* The object still works: the cancelled waiter left its queue. */
    void *item;
    switch (b->kind) {
    case T_RECV:
        ck_assert_int_eq(corio_channel_send(b->ch, ITEM(5), 0), 0);
        ck_assert_int_eq(corio_channel_recv(b->ch, &item, 0), 0);
        ck_assert_uint_eq(ITEM_ID(item), 5);
        break;
    case T_SEND:
        ck_assert_int_eq(corio_channel_recv(b->ch, &item, 0), 0);
        ck_assert_uint_eq(ITEM_ID(item), 0);
        ck_assert_int_eq(corio_channel_recv(b->ch, &item, 0), -ETIMEDOUT);
        break;
    case T_LOCK:
        ck_assert_int_eq(corio_mutex_unlock(b->m), 0);
        ck_assert_int_eq(corio_mutex_trylock(b->m), 0);
        ck_assert_int_eq(corio_mutex_unlock(b->m), 0);
        break;
    case T_ACQUIRE:
        ck_assert_int_eq(corio_semaphore_release(b->s, 1), 0);
        ck_assert_uint_eq(corio_semaphore_value(b->s), 1);
        ck_assert_int_eq(corio_semaphore_try_acquire(b->s), 0);
        break;
    default:
        ck_assert_int_eq(corio_event_set(b->ev), 0);
        ck_assert_int_eq(corio_event_wait(b->ev, 0), 0);
        break;
    }
    return 0;
}

START_TEST(test_cancel_blocked_coroutine) {
    t_blk b;
    t_blk_init(&b, _i);
    ck_assert_int_eq(t_drive(1, t_cancel_driver, &b), 0);
    t_blk_fini(&b);
}
END_TEST

/* Cross-thread variant: the blocker runs on loop 1, the test thread (which
 * holds the mutex for T_LOCK) cancels it once it has started. */
START_TEST(test_cancel_blocked_coroutine_from_thread) {
    t_blk b;
    t_blk_init(&b, _i);
    ck_assert_int_eq(corio_event_create(&b.started), 0);
    if (b.kind == T_LOCK)
        ck_assert_int_eq(corio_mutex_lock(b.m, CORIO_FOREVER), 0);
    corio_runtime *rt = t_rt(2);
    corio_future *f = t_spawn(rt, 1, t_blocker, &b);
    ck_assert_int_eq(corio_event_wait(b.started, CORIO_FOREVER), 0);
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), -ECANCELED);
    ck_assert(corio_future_cancelled(f));
    ck_assert_int_eq(b.rc, -ECANCELED);
    corio_future_unref(f);
    if (b.kind == T_LOCK)
        ck_assert_int_eq(corio_mutex_unlock(b.m), 0);
    corio_runtime_destroy(rt);
    t_blk_fini(&b);
}
END_TEST

/* A coroutine's timed wait ends with -ETIMEDOUT and leaves its queue. For
 * T_LOCK the test thread holds the mutex meanwhile. */
static int t_timeout_driver(void *arg, corio_value *out) {
    (void)out;
    t_blk *b = arg;
    b->timeout = 0.05;
    double t0 = t_now();
    ck_assert_int_eq(t_block(b), -ETIMEDOUT);
    ck_assert_double_ge(t_now() - t0, 0.045);
    b->timeout = 0;
    ck_assert_int_eq(t_block(b), -ETIMEDOUT);
    if (b->kind == T_LOCK)
        ck_assert_int_eq(corio_mutex_unlock(b->m), -EPERM); /* not the owner */
    return 0;
}

START_TEST(test_timeout_coroutine) {
    t_blk b;
    t_blk_init(&b, _i);
    if (b.kind == T_LOCK)
        ck_assert_int_eq(corio_mutex_lock(b.m, CORIO_FOREVER), 0);
    ck_assert_int_eq(t_drive(1, t_timeout_driver, &b), 0);
    if (b.kind == T_LOCK)
        ck_assert_int_eq(corio_mutex_unlock(b.m), 0);
    t_blk_fini(&b);
}
END_TEST

/* ---- close wakes parked coroutines --------------------------------------- */

typedef struct t_cw {
    corio_channel *ch; /* closed while both coroutines are parked */
    int rc[2];         /* what recv and send returned */
} t_cw;

static int t_cw_recv(void *arg, corio_value *out) {
    (void)out;
    t_cw *c = arg;
    void *item;
    c->rc[0] = corio_channel_recv(c->ch, &item, CORIO_FOREVER);
    return 0;
}

static int t_cw_send(void *arg, corio_value *out) {
    (void)out;
    t_cw *c = arg;
    c->rc[1] = corio_channel_send(c->ch, ITEM(1), CORIO_FOREVER);
    return 0;
}

static int t_close_driver(void *arg, corio_value *out) {
    (void)out;
    t_cw *c = arg;
    int err;
    corio_future *r = corio_spawn(t_cw_recv, c, &err);
    ck_assert_int_eq(corio_yield(), 0);
    ck_assert(!corio_future_done(r));
    ck_assert_int_eq(corio_channel_close(c->ch), 0);
    ck_assert_int_eq(corio_future_result(r, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(c->rc[0], -EPIPE);
    corio_future_unref(r);
    return 0;
}

static int t_close_driver_send(void *arg, corio_value *out) {
    (void)out;
    t_cw *c = arg;
    int err;
    corio_future *s = corio_spawn(t_cw_send, c, &err);
    ck_assert_int_eq(corio_yield(), 0);
    ck_assert(!corio_future_done(s));
    ck_assert_int_eq(corio_channel_close(c->ch), 0);
    ck_assert_int_eq(corio_future_result(s, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(c->rc[1], -EPIPE);
    corio_future_unref(s);
    return 0;
}

START_TEST(test_channel_close_wakes_coroutines) {
    t_cw c = {0};
    ck_assert_int_eq(corio_channel_create(0, &c.ch), 0);
    ck_assert_int_eq(t_drive(1, t_close_driver, &c), 0);
    ck_assert_int_eq(corio_channel_destroy(c.ch), 0);
    ck_assert_int_eq(corio_channel_create(0, &c.ch), 0);
    ck_assert_int_eq(t_drive(1, t_close_driver_send, &c), 0);
    ck_assert_int_eq(corio_channel_destroy(c.ch), 0);
}
END_TEST

/* ---- FIFO order of waiters ---------------------------------------------- */

typedef struct t_order {
    corio_channel *ch;   /* rendezvous channel */
    int idx;             /* this receiver's arrival rank */
    int got;             /* the item it received */
} t_order;

static int t_order_recv(void *arg, corio_value *out) {
    (void)out;
    t_order *o = arg;
    void *item;
    ck_assert_int_eq(corio_channel_recv(o->ch, &item, CORIO_FOREVER), 0);
    o->got = (int)ITEM_ID(item);
    return 0;
}

/* Receivers park in order 0..4; items 0..4 sent afterwards must reach them
 * in that order. */
static int t_order_driver(void *arg, corio_value *out) {
    (void)out;
    corio_channel *ch = arg;
    t_order o[5];
    corio_future *f[5];
    int err;
    for (int i = 0; i < 5; i++) {
        o[i] = (t_order){ch, i, -1};
        f[i] = corio_spawn(t_order_recv, &o[i], &err);
        ck_assert_int_eq(corio_yield(), 0); /* o[i] parks before o[i+1] */
    }
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(corio_channel_send(ch, ITEM(i), CORIO_FOREVER), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(t_join(f[i]), 0);
        ck_assert_int_eq(o[i].got, i);
    }
    return 0;
}

START_TEST(test_channel_fifo_waiters) {
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(0, &ch), 0);
    ck_assert_int_eq(t_drive(1, t_order_driver, ch), 0);
    ck_assert_int_eq(corio_channel_destroy(ch), 0);
}
END_TEST

/* ---- mutex --------------------------------------------------------------- */

typedef struct t_mtx {
    corio_mutex *m;    /* the mutex under test */
    size_t iters;      /* lock/unlock rounds per worker */
    long counter;      /* plain int: only the mutex protects it */
    int inside;        /* 1 while someone is in the critical section */
    _Atomic int bad;   /* overlaps seen or unexpected results */
} t_mtx;

static void t_mtx_work(void *p) {
    t_mtx *t = p;
    for (size_t i = 0; i < t->iters; i++) {
        if (corio_mutex_lock(t->m, CORIO_FOREVER) != 0) {
            atomic_fetch_add(&t->bad, 1);
            continue;
        }
        if (t->inside)
            atomic_fetch_add(&t->bad, 1);
        t->inside = 1;
        long c = t->counter;
        if (i % 16 == 0)
            corio_yield(); /* let others run, and contend, inside the section */
        t->counter = c + 1;
        t->inside = 0;
        if (corio_mutex_unlock(t->m) != 0)
            atomic_fetch_add(&t->bad, 1);
    }
}

/* Mutual exclusion under contention: 2 coroutines on each of 2 loops and
 * 2 threads increment a plain counter. */
START_TEST(test_mutex_contention) {
    t_mtx t = {0};
    t.iters = t_scale(20000, 500);
    ck_assert_int_eq(corio_mutex_create(&t.m), 0);
    corio_runtime *rt = t_rt(2);
    t_body body = {t_mtx_work, &t};
    corio_future *f[4];
    for (int i = 0; i < 4; i++)
        f[i] = t_spawn(rt, i % 2, t_coro_body, &body);
    t_thread th[2];
    for (int i = 0; i < 2; i++)
        t_thread_start(&th[i], t_mtx_work, &t);
    for (int i = 0; i < 2; i++)
        t_thread_join(&th[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(t_join(f[i]), 0);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(t_ldi(&t.bad), 0);
    ck_assert_int_eq(t.counter, (long)(6 * t.iters));
    ck_assert_int_eq(corio_mutex_destroy(t.m), 0);
}
END_TEST

/* ---- semaphore ------------------------------------------------------------ */

typedef struct t_sem {
    corio_semaphore *s;   /* limits concurrency to `limit` */
    unsigned limit;       /* initial units */
    size_t iters;         /* rounds per worker */
    _Atomic int active;   /* holders right now */
    _Atomic int max;      /* most holders seen at once */
    _Atomic int bad;      /* unexpected results */
} t_sem;

static void t_sem_work(void *p) {
    t_sem *t = p;
    for (size_t i = 0; i < t->iters; i++) {
        if (corio_semaphore_acquire(t->s, CORIO_FOREVER) != 0) {
            atomic_fetch_add(&t->bad, 1);
            continue;
        }
        int a = atomic_fetch_add(&t->active, 1) + 1;
        int m = atomic_load(&t->max);
        while (a > m && !atomic_compare_exchange_weak(&t->max, &m, a)) {
        }
        if (i % 8 == 0)
            corio_yield();
        atomic_fetch_sub(&t->active, 1);
        if (corio_semaphore_release(t->s, 1) != 0)
            atomic_fetch_add(&t->bad, 1);
    }
}

/* At most `limit` holders at once, across 2 loops and 2 threads. */
START_TEST(test_semaphore_limits_concurrency) {
    t_sem t = {0};
    t.limit = 2;
    t.iters = t_scale(10000, 300);
    ck_assert_int_eq(corio_semaphore_create(t.limit, &t.s), 0);
    corio_runtime *rt = t_rt(2);
    t_body body = {t_sem_work, &t};
    corio_future *f[6];
    for (int i = 0; i < 6; i++)
        f[i] = t_spawn(rt, i % 2, t_coro_body, &body);
    t_thread th[2];
    for (int i = 0; i < 2; i++)
        t_thread_start(&th[i], t_sem_work, &t);
    for (int i = 0; i < 2; i++)
        t_thread_join(&th[i]);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(t_join(f[i]), 0);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(t_ldi(&t.bad), 0);
    ck_assert_int_le(t_ldi(&t.max), (int)t.limit);
    ck_assert_uint_eq(corio_semaphore_value(t.s), t.limit);
    ck_assert_int_eq(corio_semaphore_destroy(t.s), 0);
}
END_TEST

/* release(n) serves n parked acquirers in one call. */
static int t_sem_acq(void *arg, corio_value *out) {
    (void)out;
    return corio_semaphore_acquire(arg, CORIO_FOREVER);
}

static int t_release_n_driver(void *arg, corio_value *out) {
    (void)out;
    corio_semaphore *s = arg;
    corio_future *f[4];
    int err;
    for (int i = 0; i < 4; i++)
        f[i] = corio_spawn(t_sem_acq, s, &err);
    ck_assert_int_eq(corio_yield(), 0); /* all four park */
    ck_assert_int_eq(corio_semaphore_release(s, 3), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(corio_future_result(f[i], CORIO_FOREVER, NULL), 0);
    ck_assert(!corio_future_done(f[3])); /* FIFO: the last one still waits */
    ck_assert_int_eq(corio_semaphore_release(s, 2), 0);
    ck_assert_int_eq(corio_future_result(f[3], CORIO_FOREVER, NULL), 0);
    ck_assert_uint_eq(corio_semaphore_value(s), 1);
    for (int i = 0; i < 4; i++)
        corio_future_unref(f[i]);
    return 0;
}

START_TEST(test_semaphore_release_n) {
    corio_semaphore *s;
    ck_assert_int_eq(corio_semaphore_create(0, &s), 0);
    ck_assert_int_eq(t_drive(1, t_release_n_driver, s), 0);
    ck_assert_int_eq(corio_semaphore_destroy(s), 0);
}
END_TEST

/* ---- event --------------------------------------------------------------- */

typedef struct t_evw {
    corio_event *go;      /* the event everyone waits for */
    corio_semaphore *in;  /* each waiter releases one unit before waiting */
    _Atomic int woke;     /* waiters that returned 0 */
} t_evw;

static void t_evw_wait(void *p) {
    t_evw *w = p;
    corio_semaphore_release(w->in, 1);
    if (corio_event_wait(w->go, CORIO_FOREVER) == 0)
        atomic_fetch_add(&w->woke, 1);
}

/* set wakes every waiter: 3 threads and 2 coroutines on each of 2 loops. */
START_TEST(test_event_set_wakes_all) {
    t_evw w = {0};
    ck_assert_int_eq(corio_event_create(&w.go), 0);
    ck_assert_int_eq(corio_semaphore_create(0, &w.in), 0);
    corio_runtime *rt = t_rt(2);
    t_body body = {t_evw_wait, &w};
    corio_future *f[4];
    for (int i = 0; i < 4; i++)
        f[i] = t_spawn(rt, i % 2, t_coro_body, &body);
    t_thread th[3];
    for (int i = 0; i < 3; i++)
        t_thread_start(&th[i], t_evw_wait, &w);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(corio_semaphore_acquire(w.in, CORIO_FOREVER), 0);
    ck_assert_int_eq(corio_event_set(w.go), 0);
    for (int i = 0; i < 3; i++)
        t_thread_join(&th[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(t_join(f[i]), 0);
    ck_assert_int_eq(t_ldi(&w.woke), 7);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(corio_event_destroy(w.go), 0);
    ck_assert_int_eq(corio_semaphore_destroy(w.in), 0);
}
END_TEST

/* Python semantics: a waiter woken by set returns success even when the
 * flag is cleared again before it runs. */
static int t_evw_coro(void *arg, corio_value *out) {
    (void)out;
    return corio_event_wait(arg, CORIO_FOREVER);
}

static int t_set_clear_driver(void *arg, corio_value *out) {
    (void)out;
    corio_event *e = arg;
    int err;
    corio_future *f = corio_spawn(t_evw_coro, e, &err);
    ck_assert_int_eq(corio_yield(), 0); /* parks */
    ck_assert_int_eq(corio_event_set(e), 0);
    ck_assert_int_eq(corio_event_clear(e), 0); /* before the waiter runs */
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), 0);
    corio_future_unref(f);
    ck_assert(!corio_event_is_set(e));
    return 0;
}

START_TEST(test_event_set_then_clear) {
    corio_event *e;
    ck_assert_int_eq(corio_event_create(&e), 0);
    ck_assert_int_eq(t_drive(1, t_set_clear_driver, e), 0);
    ck_assert_int_eq(corio_event_destroy(e), 0);
}
END_TEST

/* ---- destroy with waiters -------------------------------------------------- */

static int t_destroy_busy_driver(void *arg, corio_value *out) {
    (void)out;
    corio_channel *ch = arg;
    int err;
    t_cw c = {.ch = ch};
    corio_future *r = corio_spawn(t_cw_recv, &c, &err);
    ck_assert_int_eq(corio_yield(), 0);
    ck_assert_int_eq(corio_channel_destroy(ch), -EBUSY);
    ck_assert_int_eq(corio_channel_send(ch, ITEM(3), CORIO_FOREVER), 0);
    ck_assert_int_eq(t_join(r), 0);
    ck_assert_int_eq(c.rc[0], 0);
    return 0;
}

START_TEST(test_destroy_with_waiters_is_ebusy) {
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(0, &ch), 0);
    ck_assert_int_eq(t_drive(1, t_destroy_busy_driver, ch), 0);
    ck_assert_int_eq(corio_channel_destroy(ch), 0);
}
END_TEST

/* ---- suite ------------------------------------------------------------- */

static Suite *sync_coroutines_suite(void) {
    Suite *s = suite_create("sync_coroutines");
    if (!t_have_runtime) {
        fprintf(stderr, "io_uring unavailable: coroutine tests skipped\n");
        return s;
    }
    TCase *tc = tcase_create("coroutines");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_channel_coroutines, 0, 4);
    tcase_add_loop_test(tc, test_channel_mixed_100k, 0, 4);
    tcase_add_test(tc, test_channel_close_wakes_coroutines);
    tcase_add_test(tc, test_channel_fifo_waiters);
    tcase_add_loop_test(tc, test_cancel_blocked_coroutine, 0, T_NKINDS);
    tcase_add_loop_test(tc, test_cancel_blocked_coroutine_from_thread, 0, T_NKINDS);
    tcase_add_loop_test(tc, test_timeout_coroutine, 0, T_NKINDS);
    tcase_add_test(tc, test_mutex_contention);
    tcase_add_test(tc, test_semaphore_limits_concurrency);
    tcase_add_test(tc, test_semaphore_release_n);
    tcase_add_test(tc, test_event_set_wakes_all);
    tcase_add_test(tc, test_event_set_then_clear);
    tcase_add_test(tc, test_destroy_with_waiters_is_ebusy);
    tcase_add_loop_test(tc, test_channel_timeout_races, 0, 2);
    tcase_add_test(tc, test_lock_timeout_races);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    corio_runtime_options o = {0};
    o.loops = 1;
    corio_runtime *rt = NULL;
    t_have_runtime = corio_runtime_create(&o, &rt) == 0;
    corio_runtime_destroy(rt);
    return t_run_suite(sync_coroutines_suite());
}
