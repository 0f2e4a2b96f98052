/* corio — the future: state machine, outcome storage, done-callbacks and
 * the waiter list.
 *
 * Locking: each future has one lock (a futex word, see future_lock) guarding
 * its transitions to a done state, its callback list and its waiter list.
 * `state` is also an atomic so that the read-only queries (done, cancelled,
 * ...) and the fast path of result() need no lock: it is stored with release
 * ordering after the outcome fields are written, and loaded with acquire
 * ordering before they are read. The one transition made without the lock
 * is PENDING -> RUNNING (set_running_or_notify_cancel, start): a single CAS,
 * since it touches nothing the lock guards. Every transition out of PENDING
 * is therefore a CAS (see set_state_locked), so a cancel can never overwrite
 * a RUNNING that raced in after it read PENDING.
 *
 * Completion protocol (complete_locked + finish): under the lock, the
 * outcome is stored, the state published, and every waiter is unlinked and
 * notified (notify functions only unpark or enqueue, never block). The lock
 * is then released and the done-callbacks run, in registration order, on the
 * completing thread. Because waiters are notified under the lock, a waiter
 * that removes itself (timeout, wait() returning) under the same lock never
 * races a notification in flight: its memory may be released right after.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "fault.h"

/* One registered done-callback. The first lives inside the future so the
 * common single-callback case allocates nothing. */
typedef struct callback {
    struct callback *next; /* next in registration order */
    corio_done_fn fn;      /* the callback */
    void *arg;             /* its argument */
} callback;

/* The fields an executor job's future touches on its way (create, run,
 * complete, result, release) are in the first 64 bytes, one cache line
 * (slab slots are 64-aligned): a thread that collects a million results
 * and releases them reads one line per future, not three. The rest is for
 * callbacks, cancellers, helpers and coroutines.
 *
 *   line 0: lock state refs code | pooled cbs cancel_requested by_executor |
 *           message | value (ptr len dtor) | waiters
 *   line 1: first_cb (fn arg next) | cb_tail | canceller | canceller_arg |
 *           helper | helper_arg
 *   then:   coro */
struct corio_future {
    _Atomic uint32_t lock;     /* futex lock (see future_lock); guards all but refs and state reads */
    _Atomic int state;         /* corio_future_state; written under lock, read lock-free */
    _Atomic int refs;          /* reference count */
    int code;                  /* failure code when FINISHED with a failure, else 0 */
    unsigned char pooled;      /* 0: malloc'd; else 1 + its slab size class (see future_mem_alloc) */
    unsigned char cbs;         /* callbacks not yet run: 0 none, 1 first_cb only, 2 heap ones too */
    unsigned char cancel_requested; /* a cancel() reached a running future with a canceller */
    unsigned char by_executor; /* cancelled by executor shutdown */
    char *message;             /* failure message (malloc'd) or NULL */
    corio_value value;         /* result on success */
    corio__waiter *waiters;    /* head of the doubly-linked waiter list */
    callback first_cb;         /* inline storage for the first callback (fn NULL = unused) */
    callback *cb_tail;         /* last callback in the list (NULL when none) */
    corio__cancel_fn canceller; /* cancels a running job (coroutines, process jobs) */
    void *canceller_arg;       /* its argument */
    corio__help_fn helper;     /* work a waiting thread may do itself, or NULL (set before sharing) */
    void *helper_arg;          /* its argument */
    void *coro;                /* the coroutine whose outcome this is, or NULL (set before sharing) */
};

_Static_assert(offsetof(struct corio_future, waiters) + sizeof(void *) <= 64,
               "the hot fields of a future fill its first cache line");

/* The future's lock: a futex word, 0 free, 1 held, 2 held with (possibly)
 * sleeping contenders (Drepper, "Futexes Are Tricky", mutex 2). It takes 4
 * bytes where a pthread mutex takes 40, costs one CAS to take and one
 * exchange to release, and a FUTEX_WAKE only when someone sleeps on it.
 * Critical sections are a few dozen instructions, so a contended acquire
 * first spins briefly. Acquire on taking and release on releasing give the
 * ordering of a mutex. */
static void lock_slow(_Atomic uint32_t *l) {
    for (int i = 0; i < 64; i++) {
        corio__cpu_relax();
        uint32_t c = 0;
        if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(l, &c, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* Mark the lock contended (2) and sleep until it is released; whoever
     * takes it through this path keeps it marked, so its release wakes the
     * next sleeper (at worst one futile wake). */
    while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
        corio__futex_wait(l, 2, INT64_MAX);
}

static inline void future_lock(corio_future *f) {
    uint32_t c = 0;
    if (!atomic_compare_exchange_strong_explicit(&f->lock, &c, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        lock_slow(&f->lock);
}

static inline void future_unlock(corio_future *f) {
    if (atomic_exchange_explicit(&f->lock, 0, memory_order_release) == 2)
        corio__futex_wake(&f->lock, 1);
}

/* Size of the future rounded up so extra storage after it is 16-aligned. */
#define FUTURE_SIZE ((sizeof(struct corio_future) + 15) & ~(size_t)15)

/* ---- future memory ----------------------------------------------------------
 *
 * Every executor job allocates a future, so allocation is on the hot path.
 * With glibc, a burst of jobs followed by their release makes free() trim
 * the heap and the next burst page-faults it back in, which costs far more
 * than the job itself. Futures of the common sizes (a future alone or with
 * a thread-pool job record; with a 64-byte job record of the other
 * executors; with a coroutine record) are therefore carved from slabs and
 * recycled, one set of caches per size class. The thread pool's class is
 * three cache lines rather than four: a burst of a million jobs touches a
 * quarter less memory on each of its three passes (submit, run, collect).
 *
 *   thread cache (TLS, no atomics)  <-- batches of SLAB_BATCH slots -->  depot
 *   (allocs and frees of this thread)      (under depot.lock)     (all threads)
 *
 * A thread frees into its own cache; when the cache holds 2 * SLAB_BATCH
 * slots, one batch moves to the depot; an empty cache takes a batch from
 * the depot, or carves a new chunk. Lock traffic is one acquisition per
 * SLAB_BATCH operations. The mutex orders a slot's last use by one thread
 * before its reuse by another. A thread's cache returns to the depot when
 * the thread exits.
 *
 * Memory is kept for reuse, never returned to the system: a process keeps
 * one slot (192, 256 or 448 bytes on x86-64) per future of its peak number of
 * live futures of that class. Chunks stay
 * reachable from depot.chunks, so leak checkers do not report them. Under
 * AddressSanitizer or valgrind the slabs are bypassed (plain malloc/free),
 * so use-after-free of a future is still caught there. */
#define SLOT_SMALL ((FUTURE_SIZE + CORIO__FUTURE_EXT_SMALL + 63) & ~(size_t)63) /* a thread job */
#define SLOT_MEDIUM ((FUTURE_SIZE + 64 + 63) & ~(size_t)63) /* a 64-byte job record */
#define SLOT_LARGE ((FUTURE_SIZE + CORIO__FUTURE_EXT_LARGE + 63) & ~(size_t)63) /* a coroutine */
#define NCLASS 3       /* slab size classes */
#define SLAB_BATCH 128 /* slots per batch moved between a thread cache and the depot */

static const size_t slot_size[NCLASS] = {SLOT_SMALL, SLOT_MEDIUM, SLOT_LARGE};

typedef struct slot {
    struct slot *next;       /* next free slot of the same batch or cache */
    struct slot *next_batch; /* depot: the next batch (set on a batch's first slot) */
    size_t len;              /* depot: slots in this batch (on its first slot) */
} slot;

/* One chunk of SLAB_BATCH slots; the header keeps every chunk reachable. */
typedef struct chunk {
    struct chunk *next; /* all chunks ever carved */
    _Alignas(64) unsigned char slots[]; /* SLAB_BATCH slots of one class */
} chunk;

static struct {
    pthread_mutex_t lock;    /* guards the fields below */
    slot *batches[NCLASS];   /* per class, a stack of free batches (linked by next_batch) */
    chunk *chunks;           /* every chunk, for reachability */
    pthread_key_t key;       /* its destructor returns a thread's caches */
    pthread_once_t once;     /* creates key */
} depot = {PTHREAD_MUTEX_INITIALIZER, {NULL, NULL, NULL}, NULL, 0, PTHREAD_ONCE_INIT};

static CORIO__TLS_HOT struct {
    slot *head;     /* free slots of this thread */
    size_t n;       /* how many */
} tcache[NCLASS];
static CORIO__TLS_HOT int tcache_registered; /* the exit destructor is armed for this thread */

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_BYPASS() 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_BYPASS() 1
#endif
#endif
#if !defined(SLAB_BYPASS) && defined(CORIO_HAVE_VALGRIND_H)
#include <valgrind/valgrind.h>
#define SLAB_BYPASS() RUNNING_ON_VALGRIND
#endif
#ifndef SLAB_BYPASS
#define SLAB_BYPASS() 0
#endif

/* Give a whole list of free slots of class cls to the depot as one batch. */
static void depot_put(int cls, slot *head, size_t n) {
    head->len = n;
    pthread_mutex_lock(&depot.lock);
    head->next_batch = depot.batches[cls];
    depot.batches[cls] = head;
    pthread_mutex_unlock(&depot.lock);
}

static void tcache_flush(void *unused) {
    (void)unused;
    for (int cls = 0; cls < NCLASS; cls++) {
        if (tcache[cls].head)
            depot_put(cls, tcache[cls].head, tcache[cls].n);
        tcache[cls].head = NULL;
        tcache[cls].n = 0;
    }
}

static void depot_key_create(void) { pthread_key_create(&depot.key, tcache_flush); }

/* Refill the empty thread cache of class cls: a batch from the depot, or a
 * new chunk. */
static int tcache_refill(int cls) {
    if (!tcache_registered) {
        pthread_once(&depot.once, depot_key_create);
        /* Any non-NULL value arms the destructor at thread exit. */
        pthread_setspecific(depot.key, &tcache);
        tcache_registered = 1;
    }
    pthread_mutex_lock(&depot.lock);
    slot *b = depot.batches[cls];
    if (b) {
        depot.batches[cls] = b->next_batch;
        pthread_mutex_unlock(&depot.lock);
        tcache[cls].head = b;
        tcache[cls].n = b->len;
        return 0;
    }
    pthread_mutex_unlock(&depot.lock);
    size_t size = slot_size[cls];
    chunk *c = corio__aligned_alloc(64, sizeof(chunk) + SLAB_BATCH * size);
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < SLAB_BATCH; i++) {
        slot *s = (slot *)(c->slots + i * size);
        s->next = i + 1 < SLAB_BATCH ? (slot *)(c->slots + (i + 1) * size) : NULL;
    }
    tcache[cls].head = (slot *)c->slots;
    tcache[cls].n = SLAB_BATCH;
    pthread_mutex_lock(&depot.lock);
    c->next = depot.chunks;
    depot.chunks = c;
    pthread_mutex_unlock(&depot.lock);
    return 0;
}

/* Memory for a future with `size` bytes in all; sets *pooled. */
static void *future_mem_alloc(size_t size, int *pooled) {
    if (size > SLOT_LARGE || SLAB_BYPASS()) {
        *pooled = 0;
        return corio__aligned_alloc(16, (size + 15) & ~(size_t)15);
    }
    int cls = size <= SLOT_SMALL ? 0 : size <= SLOT_MEDIUM ? 1 : 2;
    if (!tcache[cls].head && tcache_refill(cls) < 0)
        return NULL;
    slot *s = tcache[cls].head;
    tcache[cls].head = s->next;
    tcache[cls].n--;
    *pooled = 1 + cls;
    return s;
}

static void future_mem_free(void *p, int pooled) {
    if (!pooled) {
        free(p);
        return;
    }
    int cls = pooled - 1;
    slot *s = p;
    s->next = tcache[cls].head;
    tcache[cls].head = s;
    if (++tcache[cls].n < 2 * SLAB_BATCH)
        return;
    /* Keep SLAB_BATCH slots, give the next SLAB_BATCH to the depot. */
    slot *last = s;
    for (size_t i = 1; i < SLAB_BATCH; i++)
        last = last->next;
    slot *batch = last->next;
    last->next = NULL;
    tcache[cls].n = SLAB_BATCH;
    depot_put(cls, batch, SLAB_BATCH);
}

corio_future *corio__future_create_ext(size_t extra) {
    return corio__future_create_ext_refs(extra, 1);
}

corio_future *corio__future_create_ext_refs(size_t extra, int refs) {
    int pooled;
    corio_future *f = future_mem_alloc(FUTURE_SIZE + extra, &pooled);
    if (!f)
        return NULL;
    corio__zero(f, FUTURE_SIZE);
    f->pooled = pooled;
    atomic_init(&f->state, CORIO_PENDING);
    atomic_init(&f->refs, refs);
    return f;
}

void *corio__future_ext(corio_future *f) { return (char *)f + FUTURE_SIZE; }

void corio__future_set_coro(corio_future *f, void *coro) { f->coro = coro; }

CORIO_API corio_future *corio_future_create(void) { return corio__future_create_ext(0); }

CORIO_API corio_future *corio_future_ref(corio_future *f) {
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

CORIO_API void corio_future_unref(corio_future *f) {
    if (!f)
        return;
    /* acq_rel: the releasing decrement orders our uses before the free; the
     * acquiring side of the last decrement sees everyone else's. A count of
     * 1 seen by a holder of a reference is final: only holders make new
     * references, and ours is the only one. Then the locked decrement is
     * skipped (the acquire load pairs with the other holders' releasing
     * decrements): the last release of a job's future, typically by the
     * collecting thread after the worker let go, then costs a plain load
     * of a line that is often not in this core's cache, which a locked
     * instruction would wait for without letting later loads proceed. */
    if (atomic_load_explicit(&f->refs, memory_order_acquire) != 1 &&
        atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (f->value.dtor)
        f->value.dtor(f->value.ptr);
    if (f->message)
        free(f->message);
    callback *c = f->cbs == 2 ? f->first_cb.next : NULL;
    while (c) { /* callbacks of a never-completed future */
        callback *n = c->next;
        free(c);
        c = n;
    }
    future_mem_free(f, f->pooled);
}

static inline int load_state(const corio_future *f) {
    return atomic_load_explicit(&((corio_future *)f)->state, memory_order_acquire);
}

CORIO_API corio_future_state corio_future_state_get(const corio_future *f) {
    return f ? (corio_future_state)load_state(f) : CORIO_PENDING;
}
CORIO_API bool corio_future_cancelled(const corio_future *f) {
    return f && load_state(f) == CORIO_CANCELLED;
}
CORIO_API bool corio_future_running(const corio_future *f) {
    return f && load_state(f) == CORIO_RUNNING;
}
CORIO_API bool corio_future_done(const corio_future *f) {
    return f && load_state(f) >= CORIO_CANCELLED;
}

/* Move a not-done future to the done `state`; lock held. A PENDING future may
 * turn RUNNING under our feet (the only lock-free transition), hence the
 * CAS. Returns 0, or CORIO_EINVALID_STATE if it is done already. With
 * pending_only, only PENDING -> state is allowed (cancel): returns 1 when
 * the future is RUNNING instead. */
static int set_state_locked(corio_future *f, int state, int pending_only) {
    int s = atomic_load_explicit(&f->state, memory_order_acquire);
    if (s == CORIO_RUNNING && !pending_only) {
        /* Only lock holders move a RUNNING future: a plain store will do. */
        atomic_store_explicit(&f->state, state, memory_order_release);
        return 0;
    }
    for (;;) {
        if (s >= CORIO_CANCELLED)
            return CORIO_EINVALID_STATE;
        if (pending_only && s != CORIO_PENDING)
            return 1;
        /* release: publishes the outcome fields stored before. */
        if (atomic_compare_exchange_weak_explicit(&f->state, &s, state, memory_order_acq_rel,
                                                  memory_order_acquire))
            return 0;
    }
}

/* Notify the waiters of a future just made done; lock held. Returns the
 * callback list to run after unlocking. */
static callback *complete_locked(corio_future *f) {
    corio__waiter *w = f->waiters;
    f->waiters = NULL;
    while (w) {
        corio__waiter *next = w->next;
        w->next = w->prev = NULL;
        w->notify(w, f);
        /* Last touch of w: once a remover sees 0 here (acquire) it may skip
         * the lock and release w, since notify has returned. */
        atomic_store_explicit(&w->linked, 0, memory_order_release);
        w = next;
    }
    if (!f->cbs)
        return NULL;
    f->cbs = 0; /* run_callbacks takes them; nothing is added once done */
    return &f->first_cb;
}

/* Run the callbacks (lock not held). Each one runs once; the list nodes stay
 * until the future is freed except the heap ones, which go now. */
static void run_callbacks(corio_future *f, callback *c) {
    if (!c)
        return;
    /* Keep the future alive while callbacks run, even if one drops the last
     * reference the caller had. */
    corio_future_ref(f);
    callback *heap = c->next;
    f->first_cb.next = NULL;
    int r = c->fn(f, c->arg);
    if (r < 0)
        corio__log("done-callback failed: %s (%s)", corio_strerror(r), corio_error_name(r));
    while (heap) {
        callback *n = heap->next;
        r = heap->fn(f, heap->arg);
        if (r < 0)
            corio__log("done-callback failed: %s (%s)", corio_strerror(r), corio_error_name(r));
        free(heap);
        heap = n;
    }
    corio_future_unref(f);
}

CORIO_API bool corio_future_cancel(corio_future *f) {
    if (!f)
        return false;
    future_lock(f);
    if (set_state_locked(f, CORIO_CANCELLED, 1) == 0) {
        callback *cbs = complete_locked(f);
        future_unlock(f);
        run_callbacks(f, cbs);
        return true;
    }
    /* acquire: a RUNNING stored lock-free by start published the canceller. */
    int s = atomic_load_explicit(&f->state, memory_order_acquire);
    if (s == CORIO_CANCELLED) {
        future_unlock(f);
        return true;
    }
    if (s == CORIO_RUNNING && f->canceller) {
        /* Beyond Python: a running coroutine (or killable process job) can
         * be asked to stop; it completes later, usually as cancelled. The
         * canceller runs under the lock so that the job cannot complete,
         * and free what the canceller's argument points to, meanwhile; it
         * only posts a request and never blocks. */
        if (!f->cancel_requested) {
            f->cancel_requested = 1;
            f->canceller(f, f->canceller_arg);
        }
        future_unlock(f);
        return true;
    }
    future_unlock(f);
    return false;
}

int corio__future_finish_cancelled(corio_future *f, int by_executor) {
    future_lock(f);
    int s = atomic_load_explicit(&f->state, memory_order_relaxed);
    if (s >= CORIO_CANCELLED) {
        future_unlock(f);
        return CORIO_EINVALID_STATE;
    }
    f->by_executor = by_executor;
    set_state_locked(f, CORIO_CANCELLED, 0); /* not done: cannot fail under the lock */
    callback *cbs = complete_locked(f);
    future_unlock(f);
    run_callbacks(f, cbs);
    return 0;
}

void corio__future_set_canceller(corio_future *f, corio__cancel_fn fn, void *arg) {
    future_lock(f);
    f->canceller = fn;
    f->canceller_arg = arg;
    future_unlock(f);
}

int corio__future_cancel_requested(const corio_future *f) {
    corio_future *m = (corio_future *)f;
    future_lock(m);
    int r = m->cancel_requested;
    future_unlock(m);
    return r;
}

CORIO_API int corio_future_set_running_or_notify_cancel(corio_future *f) {
    if (!f)
        return -EINVAL;
    /* Lock-free: PENDING -> RUNNING touches nothing the lock guards, and
     * every other way out of PENDING is a CAS too (set_state_locked). */
    int s = CORIO_PENDING;
    if (atomic_compare_exchange_strong_explicit(&f->state, &s, CORIO_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire))
        return 1;
    /* CANCELLED: waiters were already woken by cancel(); Python's notify of
     * waiters here is for its cancel-then-notify split. */
    return s == CORIO_CANCELLED ? 0 : CORIO_EINVALID_STATE;
}

/* Store an outcome unless done. Takes ownership of message only on success. */
static int finish(corio_future *f, const corio_value *v, int code, char *message) {
    future_lock(f);
    int s = atomic_load_explicit(&f->state, memory_order_relaxed);
    if (s >= CORIO_CANCELLED) {
        future_unlock(f);
        return CORIO_EINVALID_STATE;
    }
    if (v)
        f->value = *v;
    f->code = code;
    f->message = message;
    set_state_locked(f, CORIO_FINISHED, 0); /* not done: cannot fail under the lock */
    callback *cbs = complete_locked(f);
    future_unlock(f);
    run_callbacks(f, cbs);
    return 0;
}

CORIO_API int corio_future_set_result(corio_future *f, void *value, void (*dtor)(void *)) {
    if (!f)
        return -EINVAL;
    corio_value v = {value, 0, dtor};
    return finish(f, &v, 0, NULL);
}

CORIO_API int corio_future_set_value(corio_future *f, const corio_value *value) {
    if (!f || !value)
        return -EINVAL;
    return finish(f, value, 0, NULL);
}

int corio__future_fail(corio_future *f, int code, const char *message) {
    if (!f)
        return -EINVAL;
    if (code >= 0)
        code = CORIO_ETASK;
    char *m = NULL;
    if (message && *message) {
        m = corio__strdup(message);
        if (!m) {
            int r = finish(f, NULL, code, NULL);
            return r ? r : -ENOMEM;
        }
    }
    int r = finish(f, NULL, code, m);
    if (r)
        free(m);
    return r;
}

CORIO_API int corio_future_set_exception(corio_future *f, int code, const char *fmt, ...) {
    if (!f)
        return -EINVAL;
    char buf[1024];
    buf[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    }
    return corio__future_fail(f, code, buf);
}

CORIO_API int corio_future_add_done_callback(corio_future *f, corio_done_fn fn, void *arg) {
    if (!f || !fn)
        return -EINVAL;
    future_lock(f);
    if (atomic_load_explicit(&f->state, memory_order_relaxed) >= CORIO_CANCELLED) {
        future_unlock(f);
        int r = fn(f, arg);
        if (r < 0)
            corio__log("done-callback failed: %s (%s)", corio_strerror(r), corio_error_name(r));
        return 0;
    }
    callback *c;
    if (!f->first_cb.fn) {
        c = &f->first_cb;
        f->cbs = 1;
    } else {
        f->cbs = 2;
        c = corio__malloc(sizeof *c);
        if (!c) {
            future_unlock(f);
            return -ENOMEM;
        }
        f->cb_tail->next = c;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = NULL;
    f->cb_tail = c;
    future_unlock(f);
    return 0;
}

int corio__future_add_waiter(corio_future *f, corio__waiter *w) {
    future_lock(f);
    if (atomic_load_explicit(&f->state, memory_order_relaxed) >= CORIO_CANCELLED) {
        future_unlock(f);
        return 0;
    }
    w->prev = NULL;
    w->next = f->waiters;
    if (f->waiters)
        f->waiters->prev = w;
    f->waiters = w;
    atomic_store_explicit(&w->linked, 1, memory_order_relaxed);
    future_unlock(f);
    return 1;
}

void corio__future_remove_waiter(corio_future *f, corio__waiter *w) {
    /* Fast path: already notified and notify has returned (see
     * complete_locked), so nothing can touch w any more. Only its owner
     * sets linked to 1, so a 0 seen here is final. */
    if (!atomic_load_explicit(&w->linked, memory_order_acquire))
        return;
    future_lock(f);
    if (atomic_load_explicit(&w->linked, memory_order_relaxed)) {
        if (w->prev)
            w->prev->next = w->next;
        else
            f->waiters = w->next;
        if (w->next)
            w->next->prev = w->prev;
        atomic_store_explicit(&w->linked, 0, memory_order_relaxed);
        w->next = w->prev = NULL;
    }
    future_unlock(f);
}

static void notify_parker(corio__waiter *w, corio_future *f) {
    (void)f;
    corio__parker_unpark(w->data);
}

/* How long a plain thread polls a future before parking on it. Parking and
 * being woken cost two futex calls and a context switch on each side (5-20
 * microseconds on a VM, where waking an idle vCPU is slow); a short job
 * finishes sooner than that. Only on a multi-core machine, where the job
 * runs meanwhile on another core.
 *
 * A coroutine polls the same way, but only while its loop has nothing else
 * to do (corio__sched_ops.idle_until: no other ready coroutine, no inbox
 * message, no ring operation, no timer due sooner), so the loop is never
 * held up: suspending would only have the loop poll its inbox for the
 * wake-up message. Polling the future instead saves the waiter, the
 * message, the two switches and the loop's iteration, and the completing
 * thread finds nobody to wake. It yields every few dozen rounds (a pinned
 * loop may share its CPU with the worker it waits for), and stops as soon
 * as the loop gets other work. */
#define WAIT_SPIN_NS 4000

long corio__online_cpus(void) {
    static _Atomic long cached;
    long n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}

/* Poll f's state until done (returns 1) or until WAIT_SPIN_NS or the
 * deadline passes (returns 0). In a coroutine (ops non-NULL), only while its
 * loop is idle (see WAIT_SPIN_NS). */
static int spin_until_done(corio_future *f, int64_t deadline_ns, const corio__sched_ops *ops) {
    int64_t until = corio__now_ns() + WAIT_SPIN_NS;
    if (until > deadline_ns)
        until = deadline_ns;
    if (ops && !(until = ops->idle_until(until)))
        return 0;
    for (unsigned i = 1;; i++) {
        corio__cpu_relax();
        if (load_state(f) >= CORIO_CANCELLED)
            return 1;
        /* The clock costs more than a poll: read it every 32nd round. */
        if (i % 32 == 0) {
            if (corio__now_ns() >= until)
                return 0;
            if (ops) {
                if (!ops->idle_until(until) || ops->cancelled())
                    return 0;
                sched_yield();
            }
        }
    }
}

CORIO__TLS_HOT const corio__wait_hook *corio__tls_wait_hook;

int corio__future_wait_done(corio_future *f, int64_t deadline_ns) {
    if (load_state(f) >= CORIO_CANCELLED)
        return 0;
    /* A coroutine awaiting its own outcome would wait forever. */
    if (f->coro && f->coro == corio__tls_coro)
        return -EDEADLK;
    if (deadline_ns != INT64_MAX && corio__now_ns() >= deadline_ns)
        return -ETIMEDOUT;
    /* A coroutine does not poll a coroutine's future: on its own loop,
     * the other cannot run meanwhile (the join below serves that case). */
    if (f->helper ? (corio__tls_coro || corio__online_cpus() > 1) &&
                        f->helper(f, f->helper_arg, deadline_ns)
                  : corio__online_cpus() > 1 && !(corio__tls_coro && f->coro) &&
                        spin_until_done(f, deadline_ns,
                                        corio__tls_coro ? atomic_load_explicit(
                                                              &corio__sched, memory_order_acquire)
                                                        : NULL))
        return 0;
    if (corio__tls_coro && f->coro && deadline_ns == INT64_MAX) {
        /* A coroutine awaiting a coroutine: join it when both share a loop
         * (no lock, no waiter, no parker), else fall through. */
        const corio__sched_ops *ops = atomic_load_explicit(&corio__sched, memory_order_acquire);
        int r = ops->join(f->coro);
        if (r != -EAGAIN)
            return load_state(f) >= CORIO_CANCELLED ? 0 : r;
    }
    const corio__wait_hook *hook = corio__tls_coro ? NULL : corio__tls_wait_hook;
    if (hook) {
        int h = hook->begin(hook->arg, f, deadline_ns);
        if (h < 0)
            return load_state(f) >= CORIO_CANCELLED ? 0 : h;
    }
    corio__parker p;
    corio__parker_init(&p);
    corio__parker_what(&p, "future", f);
    corio__waiter w = {.notify = notify_parker, .data = &p};
    int r = 0;
    if (corio__future_add_waiter(f, &w)) {
        while (load_state(f) < CORIO_CANCELLED) {
            r = corio__parker_park(&p, deadline_ns);
            if (r < 0)
                break;
        }
        corio__future_remove_waiter(f, &w);
    }
    if (hook)
        hook->end(hook->arg);
    /* A timeout or cancel that raced with completion still reports done. */
    return load_state(f) >= CORIO_CANCELLED ? 0 : r;
}

CORIO_API int corio_future_result_value(corio_future *f, double timeout, corio_value *out) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!f)
        return -EINVAL;
    /* A done future answers at once, whatever the timeout and the scopes
     * (as corio__future_wait_done would): the common case of collecting
     * results skips the deadline and the wait. */
    int s = load_state(f);
    if (s < CORIO_CANCELLED) {
        int r = corio__future_wait_done(f, corio__deadline(timeout));
        if (r < 0)
            return r;
        s = load_state(f);
    }
    if (s == CORIO_CANCELLED)
        return -ECANCELED;
    if (f->code)
        return f->code;
    if (out)
        *out = f->value;
    return 0;
}

CORIO_API int corio_future_result(corio_future *f, double timeout, void **out) {
    corio_value v;
    int r = corio_future_result_value(f, timeout, &v);
    if (r == 0 && out)
        *out = v.ptr;
    return r;
}

CORIO_API int corio_future_exception(corio_future *f, double timeout, const char **message) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if (!f)
        return -EINVAL;
    int r = corio__future_wait_done(f, corio__deadline(timeout));
    if (r < 0)
        return r;
    if (load_state(f) == CORIO_CANCELLED)
        return f->by_executor ? CORIO_ECANCELLED_BY_EXECUTOR : -ECANCELED;
    if (message)
        *message = f->message ? f->message : "";
    return f->code;
}

int corio__future_code(const corio_future *f) {
    return load_state(f) == CORIO_FINISHED ? f->code : 0;
}

void corio__future_release_value(corio_future *f) {
    future_lock(f);
    f->value.dtor = NULL;
    future_unlock(f);
}

void corio__future_set_helper(corio_future *f, corio__help_fn fn, void *arg) {
    /* Before the future is shared: plain stores, published with it. */
    f->helper = fn;
    f->helper_arg = arg;
}

int corio__future_start(corio_future *f, corio__cancel_fn fn, void *arg) {
    /* Lock-free like set_running_or_notify_cancel. The canceller is read
     * only by cancel() once it saw RUNNING (acquire), so storing it before
     * the releasing CAS publishes it; a future that turns out done meanwhile
     * never reads it. */
    if (atomic_load_explicit(&f->state, memory_order_relaxed) == CORIO_PENDING) {
        f->canceller = fn;
        f->canceller_arg = arg;
    }
    int s = CORIO_PENDING;
    if (atomic_compare_exchange_strong_explicit(&f->state, &s, CORIO_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire))
        return 1;
    return s == CORIO_CANCELLED ? 0 : CORIO_EINVALID_STATE;
}
