/* corio — wait() and as_completed() over many futures.
 *
 * Both register one waiter per distinct future (O(n) registrations, each
 * O(1)) and then sleep on a single parker; completions arrive as notify
 * calls under each future's lock. Nothing polls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fault.h"

/* ---- deduplication ------------------------------------------------------ */

typedef struct ptr_idx {
    corio_future *f; /* the future */
    size_t i;        /* its first position in the input */
} ptr_idx;

static int cmp_ptr_idx(const void *a, const void *b) {
    const ptr_idx *x = a, *y = b;
    if (x->f != y->f)
        return (uintptr_t)x->f < (uintptr_t)y->f ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

/* Fill uniq with the distinct futures of fs in input order; returns their
 * count, or -EINVAL for a NULL entry, -ENOMEM. O(n log n). */
static long dedup(corio_future *const *fs, size_t n, corio_future **uniq) {
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return -EINVAL;
    if (n <= 1) {
        if (n)
            uniq[0] = fs[0];
        return (long)n;
    }
    ptr_idx *v = corio__malloc(n * sizeof *v);
    unsigned char *keep = corio__calloc(n, 1);
    if (!v || !keep) {
        free(v);
        free(keep);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (ptr_idx){fs[i], i};
    qsort(v, n, sizeof *v, cmp_ptr_idx);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || v[i].f != v[i - 1].f)
            keep[v[i].i] = 1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            uniq[m++] = fs[i];
    free(v);
    free(keep);
    return (long)m;
}

/* ---- wait --------------------------------------------------------------- */

typedef struct waitset {
    corio__parker parker;   /* the waiting thread or coroutine */
    _Atomic size_t done;    /* futures that completed since registration */
    _Atomic size_t failed;  /* of those, how many finished with a failure */
} waitset;

static void waitset_notify(corio__waiter *w, corio_future *f) {
    waitset *ws = w->data;
    /* Counters first, then unpark: the parker's release/acquire pairing
     * makes them visible to the woken waiter. */
    if (corio__future_code(f) != 0)
        atomic_fetch_add_explicit(&ws->failed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ws->done, 1, memory_order_relaxed);
    corio__parker_unpark(&ws->parker);
}

static int condition_met(corio_return_when rw, size_t total, size_t done, size_t failed) {
    if (done == total)
        return 1;
    if (rw == CORIO_FIRST_COMPLETED)
        return done > 0;
    if (rw == CORIO_FIRST_EXCEPTION)
        return failed > 0;
    return 0;
}

CORIO_API int corio_wait(corio_future *const *fs, size_t n, double timeout,
                         corio_return_when return_when, corio_future **done, size_t *n_done,
                         corio_future **not_done, size_t *n_not_done) {
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    if ((!fs && n) || return_when < CORIO_FIRST_COMPLETED || return_when > CORIO_ALL_COMPLETED)
        return -EINVAL;
    int64_t deadline = corio__deadline(timeout);
    corio_future *stack_uniq[16];
    corio__waiter stack_w[16];
    corio_future **uniq = n <= 16 ? stack_uniq : corio__malloc(n * sizeof *uniq);
    corio__waiter *ws = n <= 16 ? stack_w : corio__malloc(n * sizeof *ws);
    int r = 0;
    if (!uniq || !ws) {
        r = -ENOMEM;
        goto out;
    }
    long m = dedup(fs, n, uniq);
    if (m < 0) {
        r = (int)m;
        goto out;
    }
    size_t total = (size_t)m, ndone = 0, nfailed = 0;
    /* A zeroed waiter (notify NULL) marks a future counted as done here; the
     * registration below must skip exactly these, not whatever is done by
     * then (one finishing in between would be neither counted nor
     * registered, and ALL_COMPLETED would wait forever). */
    for (size_t i = 0; i < total; i++) {
        ws[i] = (corio__waiter){0};
        if (corio_future_done(uniq[i])) {
            ndone++;
            nfailed += corio__future_code(uniq[i]) != 0;
        } else {
            ws[i].notify = waitset_notify;
        }
    }
    if (!condition_met(return_when, total, ndone, nfailed)) {
        waitset set;
        corio__parker_init(&set.parker);
        corio__parker_what(&set.parker, "corio_wait (futures)", fs);
        atomic_init(&set.done, 0);
        atomic_init(&set.failed, 0);
        /* Register on every pending future; one that finished in between
         * is counted directly. Counts are rebuilt from the notifications
         * plus those already done at the scan. */
        size_t base_done = ndone, base_failed = nfailed;
        for (size_t i = 0; i < total; i++) {
            if (!ws[i].notify)
                continue;
            ws[i].data = &set;
            if (!corio__future_add_waiter(uniq[i], &ws[i])) {
                base_done++;
                base_failed += corio__future_code(uniq[i]) != 0;
            }
        }
        for (;;) {
            size_t d = base_done + atomic_load_explicit(&set.done, memory_order_relaxed);
            size_t fl = base_failed + atomic_load_explicit(&set.failed, memory_order_relaxed);
            if (condition_met(return_when, total, d, fl))
                break;
            int pr = corio__parker_park(&set.parker, deadline);
            if (pr < 0) {
                r = pr;
                break;
            }
        }
        /* Removing under each future's lock guarantees no notify is still
         * touching `set` when we return. */
        for (size_t i = 0; i < total; i++)
            corio__future_remove_waiter(uniq[i], &ws[i]);
    }
    /* Final partition from the futures' own states. */
    size_t a = 0, b = 0;
    ndone = nfailed = 0;
    for (size_t i = 0; i < total; i++) {
        if (corio_future_done(uniq[i])) {
            if (done)
                done[a] = uniq[i];
            a++;
            nfailed += corio__future_code(uniq[i]) != 0;
        } else {
            if (not_done)
                not_done[b] = uniq[i];
            b++;
        }
    }
    if (n_done)
        *n_done = a;
    if (n_not_done)
        *n_not_done = b;
    if (r == -ETIMEDOUT && condition_met(return_when, total, a, nfailed))
        r = 0;
out:
    if (uniq != stack_uniq)
        free(uniq);
    if (ws != stack_w)
        free(ws);
    return r;
}

/* ---- as_completed --------------------------------------------------------- */

struct corio_as_completed {
    pthread_mutex_t lock;     /* guards ready ring, sleeper; taken inside future locks */
    size_t n;                 /* distinct futures */
    corio_future **fs;        /* the futures (one reference each) */
    corio__waiter *ws;        /* one waiter per future */
    size_t *ready;            /* ring of indices of done, not yet yielded futures */
    size_t head, tail;        /* ring positions (monotonic; each index enters once) */
    size_t yielded;           /* how many have been returned */
    int64_t deadline;         /* absolute deadline for the whole iteration */
    corio__parker *sleeper;   /* parker of the caller blocked in next(), or NULL */
};

static void ac_push_locked(corio_as_completed *it, size_t idx) {
    it->ready[it->tail++ % it->n] = idx;
}

static void ac_notify(corio__waiter *w, corio_future *f) {
    (void)f;
    corio_as_completed *it = w->data;
    size_t idx = (size_t)(w - it->ws);
    /* Lock order: future lock (held by our caller) -> iterator lock. */
    pthread_mutex_lock(&it->lock);
    ac_push_locked(it, idx);
    if (it->sleeper)
        corio__parker_unpark(it->sleeper);
    pthread_mutex_unlock(&it->lock);
}

CORIO_API int corio_as_completed_create2(corio_future *const *fs, size_t n, double timeout,
                                         corio_as_completed **out) {
    if (!out || (!fs && n))
        return -EINVAL;
    *out = NULL;
    if (timeout != timeout) /* NaN: uniform timeouts, -EINVAL everywhere */
        return -EINVAL;
    corio_as_completed *it = corio__calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->deadline = corio__deadline(timeout);
    pthread_mutex_init(&it->lock, NULL);
    size_t cap = n ? n : 1;
    it->fs = corio__malloc(cap * sizeof *it->fs);
    it->ws = corio__calloc(cap, sizeof *it->ws);
    it->ready = corio__malloc(cap * sizeof *it->ready);
    if (!it->fs || !it->ws || !it->ready) {
        corio_as_completed_destroy(it);
        return -ENOMEM;
    }
    long m = dedup(fs, n, it->fs);
    if (m < 0) {
        corio_as_completed_destroy(it);
        return (int)m;
    }
    it->n = (size_t)m;
    for (size_t i = 0; i < it->n; i++)
        corio_future_ref(it->fs[i]);
    /* Already-done futures first, in input order (marked by a NULL
     * notify, so they are not registered below)... */
    pthread_mutex_lock(&it->lock);
    for (size_t i = 0; i < it->n; i++) {
        if (corio_future_done(it->fs[i]))
            ac_push_locked(it, i);
        else
            it->ws[i] = (corio__waiter){.notify = ac_notify, .data = it};
    }
    pthread_mutex_unlock(&it->lock);
    /* ...then the rest as they complete. */
    for (size_t i = 0; i < it->n; i++) {
        if (!it->ws[i].notify)
            continue;
        if (!corio__future_add_waiter(it->fs[i], &it->ws[i])) {
            pthread_mutex_lock(&it->lock);
            ac_push_locked(it, i);
            pthread_mutex_unlock(&it->lock);
        }
    }
    *out = it;
    return 0;
}

CORIO_API corio_as_completed *corio_as_completed_create(corio_future *const *fs, size_t n,
                                                        double timeout) {
    corio_as_completed *it = NULL;
    corio_as_completed_create2(fs, n, timeout, &it);
    return it;
}

CORIO_API int corio_as_completed_next(corio_as_completed *it, corio_future **out) {
    if (!it || !out)
        return -EINVAL;
    corio__parker p;
    corio__parker_init(&p);
    corio__parker_what(&p, "as_completed", it);
    for (;;) {
        pthread_mutex_lock(&it->lock);
        if (it->head != it->tail) {
            size_t idx = it->ready[it->head++ % it->n];
            it->yielded++;
            it->sleeper = NULL;
            pthread_mutex_unlock(&it->lock);
            *out = it->fs[idx];
            return 1;
        }
        if (it->yielded == it->n) {
            pthread_mutex_unlock(&it->lock);
            return 0;
        }
        it->sleeper = &p;
        pthread_mutex_unlock(&it->lock);
        int r = corio__parker_park(&p, it->deadline);
        if (r < 0) {
            pthread_mutex_lock(&it->lock);
            it->sleeper = NULL;
            int ready = it->head != it->tail;
            pthread_mutex_unlock(&it->lock);
            if (!ready)
                return r;
        }
    }
}

CORIO_API size_t corio_as_completed_pending(const corio_as_completed *it, size_t *total) {
    if (!it) {
        if (total)
            *total = 0;
        return 0;
    }
    corio_as_completed *m = (corio_as_completed *)it;
    pthread_mutex_lock(&m->lock);
    size_t left = m->n - m->yielded;
    pthread_mutex_unlock(&m->lock);
    if (total)
        *total = m->n;
    return left;
}

CORIO_API void corio_as_completed_destroy(corio_as_completed *it) {
    if (!it)
        return;
    for (size_t i = 0; it->fs && i < it->n; i++) {
        if (it->ws[i].notify)
            corio__future_remove_waiter(it->fs[i], &it->ws[i]);
        corio_future_unref(it->fs[i]);
    }
    free(it->fs);
    free(it->ws);
    free(it->ready);
    pthread_mutex_destroy(&it->lock);
    free(it);
}
