/* corio — channel, mutex, semaphore and event, for coroutines and threads.
 *
 * All four objects share one shape:
 *
 *   object ──lock──▶ state (buffer / owner / count / flag)
 *                    wait queue: head ⇄ waiter ⇄ waiter ⇄ ... ⇄ tail
 *                                       │
 *                                       └─ lives on the waiting thread's or
 *                                          coroutine's stack, holds a parker
 *
 * Protocol. A caller that has to wait links a waiter record (on its own
 * stack) at the tail of the queue, under the object's lock, then unlocks
 * and parks. Whoever makes progress possible (send, recv, unlock, release,
 * set, close) does the whole hand-off under the lock: it unlinks the head
 * waiter, completes the waiter's operation for it (stores the item, makes
 * it the owner, gives it the unit), records the outcome in w->status, and
 * unparks it, still under the lock (unpark never blocks). The woken waiter
 * re-takes the lock before it looks at w->status or returns. Hence:
 *
 *  - no lost wake-ups: the decision and the record are made under the
 *    lock, and the parker remembers an unpark that comes before the park;
 *  - no use after return: the waker touches the record only under the
 *    lock, and the waiter cannot leave (its stack frame cannot die) before
 *    it has taken the lock again;
 *  - FIFO fairness without barging: what frees up goes to the longest
 *    waiter directly, so a newcomer that finds the lock first sees nothing
 *    available and queues behind;
 *  - timeouts and cancellation race cleanly with a hand-off: after park
 *    returns for any reason, the waiter checks w->status under the lock.
 *    If the hand-off happened, the operation completed (the item or the
 *    ownership is the caller's) and the call returns 0; otherwise the
 *    waiter unlinks itself, and nobody can hand it anything any more.
 *
 * Memory ordering: every shared field is read and written under the
 * object's lock (pthread mutex: acquire on lock, release on unlock), except
 * the event's flag, which is also read lock-free by corio_event_is_set (an
 * atomic stored with release under the lock, loaded with acquire), and the
 * channel's length and the semaphore's count, read lock-free as relaxed
 * snapshots by corio_channel_len and corio_semaphore_value.
 *
 * The lock is held for O(1) work, never across a park, so a coroutine that
 * contends for it delays its loop only for that long. Costs: every call
 * O(1), except close and event_set, O(waiters), and release(n), O(n).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "corio/sync.h"
#include "internal.h"
#include "fault.h"

/* ---- wait queues ---------------------------------------------------------- */

typedef struct sync_waiter {
    struct sync_waiter *next, *prev; /* links in the object's queue; guarded by its lock */
    corio__parker parker;            /* the waiting thread or coroutine */
    void *item;                      /* channel: the item to send, or the item received */
    const void *owner;               /* mutex: the waiter's owner token */
    int status;                      /* guarded by the lock: 0 still waiting, 1 served,
                                        -EPIPE channel closed; set once, by the waker */
} sync_waiter;

typedef struct sync_queue {
    sync_waiter *head, *tail; /* oldest and newest waiter; both NULL when empty */
} sync_queue;

static void queue_push(sync_queue *q, sync_waiter *w) {
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

static void queue_remove(sync_queue *q, sync_waiter *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
}

static sync_waiter *queue_pop(sync_queue *q) {
    sync_waiter *w = q->head;
    if (w)
        queue_remove(q, w);
    return w;
}

/* Serve w: record the outcome and wake it. Called under the lock, after w
 * was unlinked and its operation completed. The status store is ordered
 * before the waiter's read by the lock, which the waiter takes again
 * before reading it. */
static void serve(sync_waiter *w, int status) {
    w->status = status;
    corio__parker_unpark(&w->parker);
}

static int deadline_passed(int64_t deadline) {
    return deadline != INT64_MAX && corio__now_ns() >= deadline;
}

/* Enqueue w (fresh) on q and wait to be served. Called and returns with
 * *lock held. Returns 0 when served, w->status when it is negative (the
 * waker's verdict, e.g. -EPIPE), or the park's -ETIMEDOUT / -ECANCELED
 * when nobody served it in time (w is then unlinked). */
static int wait_served(pthread_mutex_t *lock, sync_queue *q, sync_waiter *w, int64_t deadline) {
    corio__parker_init(&w->parker);
    corio__parker_what(&w->parker, "sync object (mutex, condition, semaphore, event, channel)", q);
    w->status = 0;
    queue_push(q, w);
    for (;;) {
        pthread_mutex_unlock(lock);
        int r = corio__parker_park(&w->parker, deadline);
        pthread_mutex_lock(lock);
        /* A hand-off that raced with the timeout or the cancel wins: the
         * operation has completed on our behalf and cannot be undone. */
        if (w->status != 0)
            return w->status > 0 ? 0 : w->status;
        if (r < 0) {
            queue_remove(q, w);
            return r;
        }
        /* Spurious return (r == 0, not served): park again. */
    }
}

/* ------------------------------------------------------------------------ */
/* Channel                                                                    */
/*
 * Invariants (under lock):
 *   receivers waiting  ⇒  buffer empty (and no sender waiting);
 *   senders waiting    ⇒  buffer full (len == cap; for cap 0, always).
 * So a send first serves a waiting receiver, else buffers, else waits; a
 * recv first takes from the buffer (and refills the freed slot from the
 * first waiting sender), else takes straight from a waiting sender (cap 0),
 * else waits. */

struct corio_channel {
    pthread_mutex_t lock;   /* guards everything below */
    size_t cap;             /* capacity; 0 for a rendezvous channel */
    void **buf;             /* ring of cap slots (NULL when cap == 0) */
    size_t head;            /* index of the oldest buffered item */
    _Atomic size_t len;     /* buffered items; written under lock, read relaxed by _len */
    int closed;             /* close() was called */
    sync_queue senders;     /* senders waiting for room or a receiver */
    sync_queue receivers;   /* receivers waiting for an item */
};

CORIO_API int corio_channel_create(size_t capacity, corio_channel **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (capacity > SIZE_MAX / sizeof(void *))
        return -ENOMEM;
    corio_channel *ch = corio__calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    if (capacity && !(ch->buf = corio__malloc(capacity * sizeof(void *)))) {
        free(ch);
        return -ENOMEM;
    }
    pthread_mutex_init(&ch->lock, NULL);
    ch->cap = capacity;
    atomic_init(&ch->len, 0);
    *out = ch;
    return 0;
}

CORIO_API int corio_channel_destroy(corio_channel *ch) {
    if (!ch)
        return 0;
    pthread_mutex_lock(&ch->lock);
    int busy = ch->senders.head || ch->receivers.head;
    pthread_mutex_unlock(&ch->lock);
    if (busy)
        return -EBUSY;
    pthread_mutex_destroy(&ch->lock);
    free(ch->buf);
    free(ch);
    return 0;
}

static size_t chan_len(const corio_channel *ch) {
    return atomic_load_explicit(&ch->len, memory_order_relaxed);
}

static void chan_push(corio_channel *ch, void *item) {
    size_t n = chan_len(ch);
    ch->buf[(ch->head + n) % ch->cap] = item;
    atomic_store_explicit(&ch->len, n + 1, memory_order_relaxed);
}

static void *chan_pop(corio_channel *ch) {
    void *item = ch->buf[ch->head];
    ch->head = (ch->head + 1) % ch->cap;
    atomic_store_explicit(&ch->len, chan_len(ch) - 1, memory_order_relaxed);
    return item;
}

/* Try to send without waiting; under lock. 0, -EAGAIN or -EPIPE. */
static int chan_send_locked(corio_channel *ch, void *item) {
    if (ch->closed)
        return -EPIPE;
    sync_waiter *r = queue_pop(&ch->receivers);
    if (r) {
        r->item = item;
        serve(r, 1);
        return 0;
    }
    if (chan_len(ch) < ch->cap) {
        chan_push(ch, item);
        return 0;
    }
    return -EAGAIN;
}

/* Try to receive without waiting; under lock. 0, -EAGAIN or -EPIPE. */
static int chan_recv_locked(corio_channel *ch, void **item) {
    void *got;
    if (chan_len(ch) > 0) {
        got = chan_pop(ch);
        /* The freed slot goes to the oldest sender, keeping the order in
         * which senders arrived. */
        sync_waiter *s = queue_pop(&ch->senders);
        if (s) {
            chan_push(ch, s->item);
            serve(s, 1);
        }
    } else {
        sync_waiter *s = queue_pop(&ch->senders); /* only for cap 0 */
        if (!s)
            return ch->closed ? -EPIPE : -EAGAIN;
        got = s->item;
        serve(s, 1);
    }
    if (item)
        *item = got;
    return 0;
}

CORIO_API int corio_channel_send(corio_channel *ch, void *item, double timeout) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!ch)
        return -EINVAL;
    int64_t deadline = corio__deadline(timeout);
    pthread_mutex_lock(&ch->lock);
    int r = chan_send_locked(ch, item);
    if (r == -EAGAIN) {
        if (deadline_passed(deadline)) {
            r = -ETIMEDOUT;
        } else {
            sync_waiter w = {.item = item};
            r = wait_served(&ch->lock, &ch->senders, &w, deadline);
        }
    }
    pthread_mutex_unlock(&ch->lock);
    return r;
}

CORIO_API int corio_channel_recv(corio_channel *ch, void **item, double timeout) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!ch)
        return -EINVAL;
    int64_t deadline = corio__deadline(timeout);
    pthread_mutex_lock(&ch->lock);
    int r = chan_recv_locked(ch, item);
    if (r == -EAGAIN) {
        if (deadline_passed(deadline)) {
            r = -ETIMEDOUT;
        } else {
            sync_waiter w = {0};
            r = wait_served(&ch->lock, &ch->receivers, &w, deadline);
            if (r == 0 && item)
                *item = w.item;
        }
    }
    pthread_mutex_unlock(&ch->lock);
    return r;
}

CORIO_API int corio_channel_try_send(corio_channel *ch, void *item) {
    if (!ch)
        return -EINVAL;
    pthread_mutex_lock(&ch->lock);
    int r = chan_send_locked(ch, item);
    pthread_mutex_unlock(&ch->lock);
    return r;
}

CORIO_API int corio_channel_try_recv(corio_channel *ch, void **item) {
    if (!ch)
        return -EINVAL;
    pthread_mutex_lock(&ch->lock);
    int r = chan_recv_locked(ch, item);
    pthread_mutex_unlock(&ch->lock);
    return r;
}

CORIO_API int corio_channel_close(corio_channel *ch) {
    if (!ch)
        return -EINVAL;
    pthread_mutex_lock(&ch->lock);
    ch->closed = 1;
    /* Waiting receivers imply an empty buffer: nothing more will come.
     * Waiting senders' items were never accepted: they stay theirs. */
    sync_waiter *w;
    while ((w = queue_pop(&ch->receivers)))
        serve(w, -EPIPE);
    while ((w = queue_pop(&ch->senders)))
        serve(w, -EPIPE);
    pthread_mutex_unlock(&ch->lock);
    return 0;
}

CORIO_API size_t corio_channel_len(corio_channel *ch) { return ch ? chan_len(ch) : 0; }

CORIO_API size_t corio_channel_capacity(const corio_channel *ch) { return ch ? ch->cap : 0; }

/* ------------------------------------------------------------------------ */
/* Mutex                                                                      */
/*
 * The owner is identified by a token: the current coroutine (corio__tls_coro)
 * inside one, else the address of a thread-local byte, which is distinct
 * for every live thread and never equal to a coroutine. Unlock hands the
 * mutex to the oldest waiter (owner = its token) instead of releasing it,
 * so a waiter cannot be starved by callers that keep arriving. */

struct corio_mutex {
    pthread_mutex_t lock; /* guards everything below */
    const void *owner;    /* owner token, NULL when unlocked */
    sync_queue waiters;   /* lockers waiting, oldest first */
};

static CORIO__TLS_HOT char thread_token; /* its address names this thread */

static const void *owner_token(void) {
    return corio__tls_coro ? corio__tls_coro : (const void *)&thread_token;
}

CORIO_API int corio_mutex_create(corio_mutex **out) {
    if (!out)
        return -EINVAL;
    corio_mutex *m = corio__calloc(1, sizeof *m);
    *out = m;
    if (!m)
        return -ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    return 0;
}

CORIO_API int corio_mutex_destroy(corio_mutex *m) {
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    int busy = m->owner || m->waiters.head;
    pthread_mutex_unlock(&m->lock);
    if (busy)
        return -EBUSY;
    pthread_mutex_destroy(&m->lock);
    free(m);
    return 0;
}

CORIO_API int corio_mutex_lock(corio_mutex *m, double timeout) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!m)
        return -EINVAL;
    int64_t deadline = corio__deadline(timeout);
    const void *me = owner_token();
    int r = 0;
    pthread_mutex_lock(&m->lock);
    if (!m->owner) {
        m->owner = me; /* free implies no waiters: unlock hands off otherwise */
    } else if (m->owner == me) {
        r = -EDEADLK;
    } else if (deadline_passed(deadline)) {
        r = -ETIMEDOUT;
    } else {
        sync_waiter w = {.owner = me};
        r = wait_served(&m->lock, &m->waiters, &w, deadline);
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

CORIO_API int corio_mutex_trylock(corio_mutex *m) {
    if (!m)
        return -EINVAL;
    int r = -EBUSY;
    pthread_mutex_lock(&m->lock);
    if (!m->owner) {
        m->owner = owner_token();
        r = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

CORIO_API int corio_mutex_unlock(corio_mutex *m) {
    if (!m)
        return -EINVAL;
    int r = 0;
    pthread_mutex_lock(&m->lock);
    if (m->owner != owner_token()) {
        r = -EPERM;
    } else {
        sync_waiter *w = queue_pop(&m->waiters);
        m->owner = w ? w->owner : NULL;
        if (w)
            serve(w, 1);
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Semaphore                                                                  */
/*
 * Invariant (under lock): waiters present ⇒ count == 0, because release
 * hands units to waiters before adding them to the count. */

struct corio_semaphore {
    pthread_mutex_t lock;    /* guards everything below */
    _Atomic unsigned count;  /* free units; written under lock, read relaxed by _value */
    sync_queue waiters;      /* acquirers waiting, oldest first */
};

CORIO_API int corio_semaphore_create(unsigned value, corio_semaphore **out) {
    if (!out)
        return -EINVAL;
    corio_semaphore *s = corio__calloc(1, sizeof *s);
    *out = s;
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->count, value);
    return 0;
}

CORIO_API int corio_semaphore_destroy(corio_semaphore *s) {
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    int busy = s->waiters.head != NULL;
    pthread_mutex_unlock(&s->lock);
    if (busy)
        return -EBUSY;
    pthread_mutex_destroy(&s->lock);
    free(s);
    return 0;
}

/* Take a unit if one is free; under lock. */
static int sem_take_locked(corio_semaphore *s) {
    unsigned c = atomic_load_explicit(&s->count, memory_order_relaxed);
    if (c == 0)
        return 0;
    atomic_store_explicit(&s->count, c - 1, memory_order_relaxed);
    return 1;
}

CORIO_API int corio_semaphore_acquire(corio_semaphore *s, double timeout) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!s)
        return -EINVAL;
    int64_t deadline = corio__deadline(timeout);
    int r = 0;
    pthread_mutex_lock(&s->lock);
    if (!sem_take_locked(s)) {
        if (deadline_passed(deadline)) {
            r = -ETIMEDOUT;
        } else {
            sync_waiter w = {0};
            r = wait_served(&s->lock, &s->waiters, &w, deadline);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

CORIO_API int corio_semaphore_try_acquire(corio_semaphore *s) {
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    int ok = sem_take_locked(s);
    pthread_mutex_unlock(&s->lock);
    return ok ? 0 : -EAGAIN;
}

CORIO_API int corio_semaphore_release(corio_semaphore *s, unsigned n) {
    if (!s || n == 0)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    unsigned c = atomic_load_explicit(&s->count, memory_order_relaxed);
    /* Waiters present imply c == 0, so the check never refuses a release
     * that would fit; the final count is at most c + n. */
    if (c > UINT_MAX - n) {
        pthread_mutex_unlock(&s->lock);
        return -EOVERFLOW;
    }
    sync_waiter *w;
    while (n > 0 && (w = queue_pop(&s->waiters))) {
        serve(w, 1);
        n--;
    }
    atomic_store_explicit(&s->count, c + n, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

CORIO_API unsigned corio_semaphore_value(corio_semaphore *s) {
    return s ? atomic_load_explicit(&s->count, memory_order_relaxed) : 0;
}

/* ------------------------------------------------------------------------ */
/* Event                                                                      */

struct corio_event {
    pthread_mutex_t lock; /* guards the queue; flag writes happen under it */
    _Atomic int flag;     /* set? stored with release under lock, loaded with acquire */
    sync_queue waiters;   /* waiting for the flag */
};

CORIO_API int corio_event_create(corio_event **out) {
    if (!out)
        return -EINVAL;
    corio_event *e = corio__calloc(1, sizeof *e);
    *out = e;
    if (!e)
        return -ENOMEM;
    pthread_mutex_init(&e->lock, NULL);
    atomic_init(&e->flag, 0);
    return 0;
}

CORIO_API int corio_event_destroy(corio_event *e) {
    if (!e)
        return 0;
    pthread_mutex_lock(&e->lock);
    int busy = e->waiters.head != NULL;
    pthread_mutex_unlock(&e->lock);
    if (busy)
        return -EBUSY;
    pthread_mutex_destroy(&e->lock);
    free(e);
    return 0;
}

CORIO_API int corio_event_set(corio_event *e) {
    if (!e)
        return -EINVAL;
    pthread_mutex_lock(&e->lock);
    /* release: an is_set() that sees the flag also sees what the setter
     * wrote before set(), like a waiter (which gets it from the lock). */
    atomic_store_explicit(&e->flag, 1, memory_order_release);
    sync_waiter *w;
    while ((w = queue_pop(&e->waiters)))
        serve(w, 1);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

CORIO_API int corio_event_clear(corio_event *e) {
    if (!e)
        return -EINVAL;
    pthread_mutex_lock(&e->lock);
    atomic_store_explicit(&e->flag, 0, memory_order_relaxed);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

CORIO_API int corio_event_wait(corio_event *e, double timeout) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!e)
        return -EINVAL;
    /* Fast path without the lock; acquire pairs with set's release. */
    if (atomic_load_explicit(&e->flag, memory_order_acquire))
        return 0;
    int64_t deadline = corio__deadline(timeout);
    int r = 0;
    pthread_mutex_lock(&e->lock);
    if (!atomic_load_explicit(&e->flag, memory_order_relaxed)) {
        if (deadline_passed(deadline)) {
            r = -ETIMEDOUT;
        } else {
            sync_waiter w = {0};
            r = wait_served(&e->lock, &e->waiters, &w, deadline);
        }
    }
    pthread_mutex_unlock(&e->lock);
    return r;
}

CORIO_API bool corio_event_is_set(const corio_event *e) {
    return e && atomic_load_explicit(&e->flag, memory_order_acquire);
}
