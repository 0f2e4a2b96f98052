/* Helpers shared by the sync-object suites (test_sync.c,
 * test_sync_coroutines.c): channel items, a runtime and joining its
 * coroutines, plain threads, a coroutine running a thread body, and the
 * channel traffic run (t_mix_run: producers and consumers on threads
 * and coroutines, every item received exactly once).
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. Include after corio.h and t_helpers.h. */
#ifndef CORIO_T_SYNC_H
#define CORIO_T_SYNC_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "corio.h"
#include "t_helpers.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define ITEM_ID(p) ((size_t)(uintptr_t)(p) - 1)

/* ---- helpers ------------------------------------------------------------- */

static inline corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {0};
    o.loops = loops;
    o.no_pin = true;
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Wait for f, drop it, and return its result code. */
static inline int t_join(corio_future *f) {
    int r = corio_future_result(f, CORIO_FOREVER, NULL);
    corio_future_unref(f);
    return r;
}

typedef struct t_thread {
    pthread_t tid;
    void (*fn)(void *);
    void *arg;
} t_thread;

static inline void *t_thread_main(void *p) {
    t_thread *t = p;
    t->fn(t->arg);
    return NULL;
}

static inline void t_thread_start(t_thread *t, void (*fn)(void *), void *arg) {
    t->fn = fn;
    t->arg = arg;
    ck_assert_int_eq(pthread_create(&t->tid, NULL, t_thread_main, t), 0);
}

static inline void t_thread_join(t_thread *t) { ck_assert_int_eq(pthread_join(t->tid, NULL), 0); }

/* Atomic loads, named so that assertion messages stay readable. */
static inline int t_ldi(_Atomic int *p) { return atomic_load(p); }
static inline size_t t_ldz(_Atomic size_t *p) { return atomic_load(p); }

/* Adapters so one body runs on a thread or as a coroutine. */
typedef struct t_body {
    void (*fn)(void *); /* the body */
    void *arg;          /* its argument */
} t_body;

static inline int t_coro_body(void *arg, corio_value *out) {
    (void)out;
    t_body *b = arg;
    b->fn(b->arg);
    return 0;
}

/* ---- channel traffic: threads, coroutines, mixed ------------------------- */

typedef struct t_mix {
    corio_channel *ch;            /* the channel under test */
    size_t n;                     /* items to pass */
    _Atomic size_t next;          /* next item id a producer claims */
    _Atomic unsigned char *seen;  /* receipts per item id */
    _Atomic size_t received;      /* total receipts */
    _Atomic int bad;              /* unexpected results */
} t_mix;

static inline void t_mix_produce(void *p) {
    t_mix *m = p;
    for (;;) {
        size_t i = atomic_fetch_add(&m->next, 1);
        if (i >= m->n)
            return;
        if (corio_channel_send(m->ch, ITEM(i), CORIO_FOREVER) != 0)
            atomic_fetch_add(&m->bad, 1);
    }
}

static inline void t_mix_consume(void *p) {
    t_mix *m = p;
    void *item;
    int r;
    while ((r = corio_channel_recv(m->ch, &item, CORIO_FOREVER)) == 0) {
        size_t i = ITEM_ID(item);
        if (i >= m->n)
            atomic_fetch_add(&m->bad, 1);
        else
            atomic_fetch_add(&m->seen[i], 1);
        atomic_fetch_add(&m->received, 1);
    }
    if (r != -EPIPE)
        atomic_fetch_add(&m->bad, 1);
}

typedef struct t_mix_cfg {
    size_t cap;     /* channel capacity */
    int thr_prod;   /* producer threads */
    int coro_prod;  /* producer coroutines (spread over the loops) */
    int thr_cons;   /* consumer threads */
    int coro_cons;  /* consumer coroutines */
    int loops;      /* loops of the runtime (0: no runtime) */
} t_mix_cfg;

/* Pass n items from the producers to the consumers; every item must be
 * received exactly once. Producers are joined, then the channel closed;
 * consumers end on -EPIPE after draining. */
static inline void t_mix_run(const t_mix_cfg *cfg, size_t n) {
    t_mix m = {0};
    m.n = n;
    m.seen = calloc(n, 1);
    ck_assert_ptr_nonnull(m.seen);
    ck_assert_int_eq(corio_channel_create(cfg->cap, &m.ch), 0);
    corio_runtime *rt = cfg->loops ? t_rt(cfg->loops) : NULL;
    t_body prod = {t_mix_produce, &m}, cons = {t_mix_consume, &m};
    t_thread tp[8], tc[8];
    corio_future *fp[8], *fc[8];
    for (int i = 0; i < cfg->coro_cons; i++)
        fc[i] = t_spawn(rt, i % cfg->loops, t_coro_body, &cons);
    for (int i = 0; i < cfg->thr_cons; i++)
        t_thread_start(&tc[i], t_mix_consume, &m);
    for (int i = 0; i < cfg->coro_prod; i++)
        fp[i] = t_spawn(rt, (i + 1) % cfg->loops, t_coro_body, &prod);
    for (int i = 0; i < cfg->thr_prod; i++)
        t_thread_start(&tp[i], t_mix_produce, &m);

    for (int i = 0; i < cfg->thr_prod; i++)
        t_thread_join(&tp[i]);
    for (int i = 0; i < cfg->coro_prod; i++)
        ck_assert_int_eq(t_join(fp[i]), 0);
    ck_assert_int_eq(corio_channel_close(m.ch), 0);
    for (int i = 0; i < cfg->thr_cons; i++)
        t_thread_join(&tc[i]);
    for (int i = 0; i < cfg->coro_cons; i++)
        ck_assert_int_eq(t_join(fc[i]), 0);

    ck_assert_int_eq(t_ldi(&m.bad), 0);
    ck_assert_uint_eq(t_ldz(&m.received), n);
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&m.seen[i]) != 1)
            ck_abort_msg("item %zu received %d times", i, (int)atomic_load(&m.seen[i]));
    ck_assert_uint_eq(corio_channel_len(m.ch), 0);
    ck_assert_int_eq(corio_channel_destroy(m.ch), 0);
    corio_runtime_destroy(rt);
    free((void *)m.seen);
}

#endif /* CORIO_T_SYNC_H */
