/* Tests of the sync objects (channel, mutex, semaphore, event) used from
 * plain threads: NULL handles, a channel's order and timeouts, close,
 * channel traffic between threads, mutex errors and ownership, semaphore
 * and event basics. From coroutines, across loops and from both at once:
 * test_sync_coroutines.c; the helpers they share in t_sync.h.
 *
 * Ordering between the test and what it starts is done with the objects
 * under test, futures and POSIX semaphores, never with sleeps. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "corio.h"
#include "t_helpers.h"
#include "t_sync.h"

/* ---- NULL handles ---------------------------------------------------------- */

START_TEST(test_null_handles) {
    void *item;
    ck_assert_int_eq(corio_channel_create(4, NULL), -EINVAL);
    ck_assert_int_eq(corio_channel_destroy(NULL), 0);
    ck_assert_int_eq(corio_channel_send(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(corio_channel_recv(NULL, &item, 0), -EINVAL);
    ck_assert_int_eq(corio_channel_try_send(NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_channel_try_recv(NULL, &item), -EINVAL);
    ck_assert_int_eq(corio_channel_close(NULL), -EINVAL);
    ck_assert_uint_eq(corio_channel_len(NULL), 0);
    ck_assert_uint_eq(corio_channel_capacity(NULL), 0);

    ck_assert_int_eq(corio_mutex_create(NULL), -EINVAL);
    ck_assert_int_eq(corio_mutex_destroy(NULL), 0);
    ck_assert_int_eq(corio_mutex_lock(NULL, CORIO_FOREVER), -EINVAL);
    ck_assert_int_eq(corio_mutex_trylock(NULL), -EINVAL);
    ck_assert_int_eq(corio_mutex_unlock(NULL), -EINVAL);

    ck_assert_int_eq(corio_semaphore_create(1, NULL), -EINVAL);
    ck_assert_int_eq(corio_semaphore_destroy(NULL), 0);
    ck_assert_int_eq(corio_semaphore_acquire(NULL, CORIO_FOREVER), -EINVAL);
    ck_assert_int_eq(corio_semaphore_try_acquire(NULL), -EINVAL);
    ck_assert_int_eq(corio_semaphore_release(NULL, 1), -EINVAL);
    ck_assert_uint_eq(corio_semaphore_value(NULL), 0);

    ck_assert_int_eq(corio_event_create(NULL), -EINVAL);
    ck_assert_int_eq(corio_event_destroy(NULL), 0);
    ck_assert_int_eq(corio_event_set(NULL), -EINVAL);
    ck_assert_int_eq(corio_event_clear(NULL), -EINVAL);
    ck_assert_int_eq(corio_event_wait(NULL, CORIO_FOREVER), -EINVAL);
    ck_assert(!corio_event_is_set(NULL));
}
END_TEST

/* ---- channel, one thread ------------------------------------------------- */

START_TEST(test_channel_fifo_single_thread) {
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(3, &ch), 0);
    ck_assert_uint_eq(corio_channel_capacity(ch), 3);
    void *item = NULL;
    ck_assert_int_eq(corio_channel_try_recv(ch, &item), -EAGAIN);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(corio_channel_try_send(ch, ITEM(i)), 0);
    ck_assert_uint_eq(corio_channel_len(ch), 3);
    ck_assert_int_eq(corio_channel_try_send(ch, ITEM(9)), -EAGAIN);
    ck_assert_int_eq(corio_channel_send(ch, ITEM(9), 0), -ETIMEDOUT);
    /* Wrap the ring around a few times, checking order. */
    for (size_t i = 3; i < 20; i++) {
        ck_assert_int_eq(corio_channel_recv(ch, &item, 0), 0);
        ck_assert_uint_eq(ITEM_ID(item), i - 3);
        ck_assert_int_eq(corio_channel_send(ch, ITEM(i), 0), 0);
    }
    ck_assert_int_eq(corio_channel_recv(ch, NULL, 0), 0); /* discard 17 */
    ck_assert_int_eq(corio_channel_try_recv(ch, &item), 0);
    ck_assert_uint_eq(ITEM_ID(item), 18);
    ck_assert_int_eq(corio_channel_send(ch, NULL, 0), 0); /* NULL is an item */
    ck_assert_int_eq(corio_channel_recv(ch, &item, 0), 0);
    ck_assert_uint_eq(ITEM_ID(item), 19);
    item = ITEM(0);
    ck_assert_int_eq(corio_channel_recv(ch, &item, 0), 0);
    ck_assert_ptr_null(item);
    ck_assert_int_eq(corio_channel_recv(ch, &item, 0), -ETIMEDOUT);
    ck_assert_int_eq(corio_channel_destroy(ch), 0);

    /* Rendezvous: nothing can be sent without a waiting receiver. */
    ck_assert_int_eq(corio_channel_create(0, &ch), 0);
    ck_assert_int_eq(corio_channel_try_send(ch, ITEM(1)), -EAGAIN);
    ck_assert_int_eq(corio_channel_send(ch, ITEM(1), 0), -ETIMEDOUT);
    ck_assert_int_eq(corio_channel_try_recv(ch, &item), -EAGAIN);
    ck_assert_int_eq(corio_channel_close(ch), 0);
    ck_assert_int_eq(corio_channel_try_recv(ch, &item), -EPIPE);
    ck_assert_int_eq(corio_channel_destroy(ch), 0);
}
END_TEST

START_TEST(test_channel_timeouts_thread) {
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(1, &ch), 0);
    void *item;
    double t0 = t_now();
    ck_assert_int_eq(corio_channel_recv(ch, &item, 0.05), -ETIMEDOUT);
    ck_assert_double_ge(t_now() - t0, 0.045);
    ck_assert_int_eq(corio_channel_send(ch, ITEM(0), 0.05), 0);
    t0 = t_now();
    ck_assert_int_eq(corio_channel_send(ch, ITEM(1), 0.05), -ETIMEDOUT);
    ck_assert_double_ge(t_now() - t0, 0.045);
    /* The timed-out sender left nothing behind. */
    ck_assert_int_eq(corio_channel_recv(ch, &item, 0), 0);
    ck_assert_uint_eq(ITEM_ID(item), 0);
    ck_assert_int_eq(corio_channel_recv(ch, &item, 0), -ETIMEDOUT);
    ck_assert_int_eq(corio_channel_destroy(ch), 0);
}
END_TEST

/* ---- channel close --------------------------------------------------------- */

START_TEST(test_channel_close_drains_then_epipe) {
    corio_channel *ch;
    ck_assert_int_eq(corio_channel_create(4, &ch), 0);
    ck_assert_int_eq(corio_channel_send(ch, ITEM(0), 0), 0);
    ck_assert_int_eq(corio_channel_send(ch, ITEM(1), 0), 0);
    ck_assert_int_eq(corio_channel_close(ch), 0);
    ck_assert_int_eq(corio_channel_close(ch), 0); /* idempotent */
    ck_assert_int_eq(corio_channel_send(ch, ITEM(2), CORIO_FOREVER), -EPIPE);
    ck_assert_int_eq(corio_channel_try_send(ch, ITEM(2)), -EPIPE);
    void *item;
    ck_assert_int_eq(corio_channel_recv(ch, &item, CORIO_FOREVER), 0);
    ck_assert_uint_eq(ITEM_ID(item), 0);
    ck_assert_int_eq(corio_channel_try_recv(ch, &item), 0);
    ck_assert_uint_eq(ITEM_ID(item), 1);
    ck_assert_int_eq(corio_channel_recv(ch, &item, CORIO_FOREVER), -EPIPE);
    ck_assert_int_eq(corio_channel_try_recv(ch, &item), -EPIPE);
    ck_assert_int_eq(corio_channel_destroy(ch), 0);
}
END_TEST

typedef struct t_closer {
    corio_channel *ch; /* channel the blocked threads use */
    sem_t started;     /* each thread posts before blocking */
    _Atomic int epipe; /* calls that ended with -EPIPE */
} t_closer;

static void t_close_recv(void *p) {
    t_closer *c = p;
    sem_post(&c->started);
    void *item;
    if (corio_channel_recv(c->ch, &item, CORIO_FOREVER) == -EPIPE)
        atomic_fetch_add(&c->epipe, 1);
}

static void t_close_send(void *p) {
    t_closer *c = p;
    sem_post(&c->started);
    if (corio_channel_send(c->ch, ITEM(7), CORIO_FOREVER) == -EPIPE)
        atomic_fetch_add(&c->epipe, 1);
}

/* Close wakes every blocked receiver and sender with -EPIPE. (Whether the
 * threads are parked yet or about to park, the outcome must be the same;
 * the coroutine variant below pins the parked case.) */
START_TEST(test_channel_close_wakes_threads) {
    t_closer c = {0};
    t_gate_init(&c.started);
    t_thread th[4];
    /* Receivers on an empty channel. */
    ck_assert_int_eq(corio_channel_create(2, &c.ch), 0);
    for (int i = 0; i < 4; i++)
        t_thread_start(&th[i], t_close_recv, &c);
    for (int i = 0; i < 4; i++)
        t_gate_pass(&c.started);
    ck_assert_int_eq(corio_channel_close(c.ch), 0);
    for (int i = 0; i < 4; i++)
        t_thread_join(&th[i]);
    ck_assert_int_eq(t_ldi(&c.epipe), 4);
    ck_assert_int_eq(corio_channel_destroy(c.ch), 0);
    /* Senders on a rendezvous channel. */
    atomic_store(&c.epipe, 0);
    ck_assert_int_eq(corio_channel_create(0, &c.ch), 0);
    for (int i = 0; i < 4; i++)
        t_thread_start(&th[i], t_close_send, &c);
    for (int i = 0; i < 4; i++)
        t_gate_pass(&c.started);
    ck_assert_int_eq(corio_channel_close(c.ch), 0);
    for (int i = 0; i < 4; i++)
        t_thread_join(&th[i]);
    ck_assert_int_eq(t_ldi(&c.epipe), 4);
    ck_assert_int_eq(corio_channel_destroy(c.ch), 0);
    sem_destroy(&c.started);
}
END_TEST

/* ---- channel traffic: threads, coroutines, mixed ------------------------- */

/* Threads only. */
static const t_mix_cfg thread_cfgs[] = {
    {.cap = 16, .thr_prod = 4, .thr_cons = 4},
    {.cap = 1, .thr_prod = 3, .thr_cons = 2},
    {.cap = 0, .thr_prod = 2, .thr_cons = 3},
};

START_TEST(test_channel_threads) {
    t_mix_run(&thread_cfgs[_i], t_scale(_i == 0 ? 100000 : 20000, 2000));
}
END_TEST

/* ---- mutex --------------------------------------------------------------- */

START_TEST(test_mutex_errors) {
    corio_mutex *m;
    ck_assert_int_eq(corio_mutex_create(&m), 0);
    ck_assert_int_eq(corio_mutex_unlock(m), -EPERM); /* not locked */
    ck_assert_int_eq(corio_mutex_trylock(m), 0);
    ck_assert_int_eq(corio_mutex_trylock(m), -EBUSY);
    ck_assert_int_eq(corio_mutex_lock(m, CORIO_FOREVER), -EDEADLK);
    ck_assert_int_eq(corio_mutex_destroy(m), -EBUSY);
    ck_assert_int_eq(corio_mutex_unlock(m), 0);
    ck_assert_int_eq(corio_mutex_lock(m, 0), 0);
    ck_assert_int_eq(corio_mutex_unlock(m), 0);
    ck_assert_int_eq(corio_mutex_destroy(m), 0);
}
END_TEST

typedef struct t_mtx_other {
    corio_mutex *m; /* locked by the test thread */
    int unlock_rc;  /* the other thread's unlock */
    int lock_rc;    /* its timed lock */
} t_mtx_other;

static void t_mtx_other_fn(void *p) {
    t_mtx_other *o = p;
    o->unlock_rc = corio_mutex_unlock(o->m);
    o->lock_rc = corio_mutex_lock(o->m, 0.02);
}

START_TEST(test_mutex_unlock_by_non_owner) {
    t_mtx_other o = {0};
    ck_assert_int_eq(corio_mutex_create(&o.m), 0);
    ck_assert_int_eq(corio_mutex_lock(o.m, CORIO_FOREVER), 0);
    t_thread th;
    t_thread_start(&th, t_mtx_other_fn, &o);
    t_thread_join(&th);
    ck_assert_int_eq(o.unlock_rc, -EPERM);
    ck_assert_int_eq(o.lock_rc, -ETIMEDOUT);
    ck_assert_int_eq(corio_mutex_unlock(o.m), 0);
    ck_assert_int_eq(corio_mutex_destroy(o.m), 0);
}
END_TEST

/* ---- semaphore ------------------------------------------------------------ */

START_TEST(test_semaphore_basics) {
    corio_semaphore *s;
    ck_assert_int_eq(corio_semaphore_create(2, &s), 0);
    ck_assert_uint_eq(corio_semaphore_value(s), 2);
    ck_assert_int_eq(corio_semaphore_acquire(s, 0), 0);
    ck_assert_int_eq(corio_semaphore_try_acquire(s), 0);
    ck_assert_int_eq(corio_semaphore_try_acquire(s), -EAGAIN);
    double t0 = t_now();
    ck_assert_int_eq(corio_semaphore_acquire(s, 0.05), -ETIMEDOUT);
    ck_assert_double_ge(t_now() - t0, 0.045);
    ck_assert_int_eq(corio_semaphore_release(s, 0), -EINVAL);
    ck_assert_int_eq(corio_semaphore_release(s, 3), 0);
    ck_assert_uint_eq(corio_semaphore_value(s), 3);
    ck_assert_int_eq(corio_semaphore_release(s, UINT32_MAX), -EOVERFLOW);
    ck_assert_uint_eq(corio_semaphore_value(s), 3);
    ck_assert_int_eq(corio_semaphore_destroy(s), 0);
}
END_TEST

/* ---- event --------------------------------------------------------------- */

START_TEST(test_event_basics) {
    corio_event *e;
    ck_assert_int_eq(corio_event_create(&e), 0);
    ck_assert(!corio_event_is_set(e));
    ck_assert_int_eq(corio_event_wait(e, 0), -ETIMEDOUT);
    double t0 = t_now();
    ck_assert_int_eq(corio_event_wait(e, 0.05), -ETIMEDOUT);
    ck_assert_double_ge(t_now() - t0, 0.045);
    ck_assert_int_eq(corio_event_set(e), 0);
    ck_assert(corio_event_is_set(e));
    ck_assert_int_eq(corio_event_wait(e, CORIO_FOREVER), 0);
    ck_assert_int_eq(corio_event_set(e), 0);
    ck_assert_int_eq(corio_event_clear(e), 0);
    ck_assert(!corio_event_is_set(e));
    ck_assert_int_eq(corio_event_wait(e, 0), -ETIMEDOUT);
    ck_assert_int_eq(corio_event_destroy(e), 0);
}
END_TEST

/* ---- suite ------------------------------------------------------------- */

static Suite *sync_suite(void) {
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_null_handles);
    tcase_add_test(tc, test_channel_fifo_single_thread);
    tcase_add_test(tc, test_channel_timeouts_thread);
    tcase_add_test(tc, test_channel_close_drains_then_epipe);
    tcase_add_test(tc, test_channel_close_wakes_threads);
    tcase_add_loop_test(tc, test_channel_threads, 0, 3);
    tcase_add_test(tc, test_mutex_errors);
    tcase_add_test(tc, test_mutex_unlock_by_non_owner);
    tcase_add_test(tc, test_semaphore_basics);
    tcase_add_test(tc, test_event_basics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(sync_suite()); }
