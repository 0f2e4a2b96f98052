/* corio — the executor interface: dispatch to the pool kind, map, batches.
 *
 * map() is written once here on top of the pool's submit and submit_batch,
 * so the thread pool and the process pool behave identically. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "fault.h"

/* Executors do not survive fork(): a forked child has a copy of the pool's
 * memory but none of its threads, and its descriptors are the parent's (or
 * closed, in a process-pool worker), so a submit there would wait forever
 * or write into the parent's pipes. The count is bumped in the child by a
 * pthread_atfork handler (the child runs one thread then, so relaxed
 * accesses suffice); every executor records it at creation. */
static _Atomic unsigned fork_gen;

static void fork_child(void) {
    atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

/* Installed when the library is loaded, so that every fork after it is
 * counted, including the ones a pool makes before it is registered. */
__attribute__((constructor)) static void fork_install(void) {
    pthread_atfork(NULL, NULL, fork_child);
}

unsigned corio__fork_gen(void) { return atomic_load_explicit(&fork_gen, memory_order_relaxed); }

/* 0, or -EPERM when ex was created by another process (an ancestor). */
static int check_owner(const corio_executor *ex) {
    return ex->fork_gen == atomic_load_explicit(&fork_gen, memory_order_relaxed) ? 0 : -EPERM;
}

CORIO_API corio_future *corio_executor_submit(corio_executor *ex, corio_fn fn, void *arg,
                                              int *err) {
    int dummy;
    if (!err)
        err = &dummy;
    if (!ex || !fn) {
        *err = -EINVAL;
        return NULL;
    }
    if ((*err = check_owner(ex)) < 0)
        return NULL;
    return ex->vt->submit(ex, fn, arg, NULL, 0, 0, err);
}

CORIO_API corio_future *corio_executor_submit_bytes(corio_executor *ex, corio_fn fn,
                                                    const void *data, size_t len, int *err) {
    int dummy;
    if (!err)
        err = &dummy;
    if (!ex || !fn || (!data && len)) {
        *err = -EINVAL;
        return NULL;
    }
    if ((*err = check_owner(ex)) < 0)
        return NULL;
    return ex->vt->submit(ex, fn, NULL, data, len, 1, err);
}

CORIO_API int corio_executor_shutdown(corio_executor *ex, bool wait, bool cancel_futures) {
    if (!ex)
        return -EINVAL;
    return ex->vt->shutdown(ex, wait, cancel_futures, -1.0);
}

CORIO_API int corio_executor_shutdown_timeout(corio_executor *ex, double timeout,
                                              bool cancel_futures) {
    /* NaN compares false with everything: refuse it before `timeout < 0`
     * (which it passes) lets it wait forever. */
    if (!ex || isnan(timeout) || timeout < 0)
        return -EINVAL;
    return ex->vt->shutdown(ex, 1, cancel_futures, timeout);
}

CORIO_API int corio_executor_inspect(const corio_executor *ex, corio_executor_stats *st) {
    if (!ex || !st)
        return -EINVAL;
    st->max_workers = ex->max_workers;
    st->workers = 0;
    st->pending = st->running = st->ids_len = 0;
    if (!st->ids)
        st->ids_cap = 0;
    ex->vt->inspect(ex, st);
    return 0;
}

/* ---- joining executors at exit ----------------------------------------------- */

/* Like CPython's interpreter exit, which joins its executors' threads,
 * exit() (and a return from main) waits for every live executor's accepted
 * jobs: each gets shutdown(wait=true, cancel_futures=false), so a job
 * accepted before shutdown(wait=false) still runs to completion, and after
 * shutdown(cancel_futures=true) only the running ones are waited for.
 * Skipped: executors of another process (a forked child's copies), and
 * every executor when exit() is called by one of its own workers or its
 * collector (it cannot wait for itself) — the pools' shutdown already
 * returns at once on those threads. The list's lock is never held while
 * waiting: the handler takes the list, then shuts each pool down; an
 * executor destroyed meanwhile cannot be, since destroy unregisters under
 * the lock first and the handler holds the lock across each call (a recursive lock: a
 * done-callback run by that shutdown may create or destroy an executor). */
static pthread_mutex_t exit_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static corio_executor *exit_list;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void exit_join_all(void *unused) {
    (void)unused;
    pthread_mutex_lock(&exit_lock);
    pid_t me = getpid();
    for (corio_executor *ex = exit_list; ex; ex = ex->exit_next)
        if (ex->exit_pid == me)
            ex->vt->shutdown(ex, 1, 0, -1.0);
    pthread_mutex_unlock(&exit_lock);
}

static void exit_install(void) { corio__atexit(exit_join_all, NULL); }

void corio__executor_register(corio_executor *ex) {
    pthread_once(&exit_once, exit_install);
    pthread_mutex_lock(&exit_lock);
    ex->exit_pid = getpid();
    ex->fork_gen = corio__fork_gen();
    ex->exit_next = exit_list;
    exit_list = ex;
    pthread_mutex_unlock(&exit_lock);
}

void corio__executor_unregister(corio_executor *ex) {
    pthread_mutex_lock(&exit_lock);
    corio_executor **pp = &exit_list;
    while (*pp && *pp != ex)
        pp = &(*pp)->exit_next;
    if (*pp)
        *pp = ex->exit_next;
    pthread_mutex_unlock(&exit_lock);
}

void corio__executor_forget_all(void) {
    /* Single-threaded child of a fork: the lock may have been held by a
     * thread that does not exist here. */
    pthread_mutex_t fresh = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    exit_lock = fresh;
    exit_list = NULL;
}

CORIO_API bool corio_executor_broken(const corio_executor *ex) {
    return ex && atomic_load_explicit(&((corio_executor *)ex)->broken, memory_order_acquire);
}

CORIO_API void corio_executor_destroy(corio_executor *ex) {
    if (!ex)
        return;
    corio__executor_unregister(ex);
    ex->vt->shutdown(ex, 1, 0, -1.0);
    ex->vt->destroy(ex);
}

/* ---- batches (map chunks) -------------------------------------------------- */

void corio__batch_run(corio_fn fn, corio__batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        corio__batch_item *it = &b->items[i];
        memset(&it->value, 0, sizeof it->value);
        corio__task_msg_clear();
        int r = fn(it->arg, &it->value);
        if (r < 0) {
            it->code = r;
            const char *m = corio__task_msg();
            it->message = *m ? corio__strdup(m) : NULL;
            if (it->value.dtor)
                it->value.dtor(it->value.ptr);
            memset(&it->value, 0, sizeof it->value);
        }
    }
}

void corio__batch_free(void *p) {
    corio__batch *b = p;
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].value.dtor)
            b->items[i].value.dtor(b->items[i].value.ptr);
        free(b->items[i].message);
    }
    free(b);
}

/* ---- map --------------------------------------------------------------------- */

struct corio_map {
    corio_executor *ex;     /* the executor (not owned) */
    corio_fn fn;            /* the function applied to each item */
    const void *items;      /* caller's items: void *[n] or corio_value[n] */
    size_t n;               /* number of items */
    int bytes;              /* items are corio_value buffers */
    size_t chunk;           /* items per job */
    size_t nchunks;         /* jobs in all */
    size_t window;          /* ring slots: most jobs in flight (submitted, not fully read), plus one for the held chunk */
    int64_t deadline;       /* absolute, INT64_MAX for none */
    corio_future **futs;    /* ring of `window` futures, indexed by chunk % window */
    size_t submitted;       /* chunks submitted so far */
    size_t read;            /* items read so far */
    int stop;               /* sticky error that ended the iteration (timeout) */
    corio__batch *cur;      /* outcomes of the chunk being read, or NULL */
    size_t cur_lo, cur_hi;  /* its items' range [cur_lo, cur_hi) */
    char message[1024];     /* message of the last failure returned */
};

static void *item_ptr(const corio_map *m, size_t i) {
    if (m->bytes)
        return (void *)&((const corio_value *)m->items)[i];
    return ((void *const *)m->items)[i];
}

/* A byte item {NULL, len > 0} is refused as submit_bytes refuses it. */
static int map_bytes_valid(const corio_map *m, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) {
        const corio_value *v = item_ptr(m, i);
        if (!v->ptr && v->len)
            return 0;
    }
    return 1;
}

/* Submit chunk c; on a submit error, a future failed with that error takes
 * its place so the error surfaces when the chunk's items are read. */
static void map_submit_chunk(corio_map *m, size_t c) {
    /* c * chunk < n for every chunk that exists, so neither sum wraps. */
    size_t lo = c * m->chunk, hi = m->n - lo > m->chunk ? lo + m->chunk : m->n;
    int err = 0;
    corio_future *f;
    if (m->bytes && !map_bytes_valid(m, lo, hi)) {
        f = NULL;
        err = -EINVAL;
    } else if (m->chunk == 1) {
        if (m->bytes) {
            const corio_value *v = item_ptr(m, lo);
            f = m->ex->vt->submit(m->ex, m->fn, NULL, v->ptr, v->len, 1, &err);
        } else {
            f = m->ex->vt->submit(m->ex, m->fn, item_ptr(m, lo), NULL, 0, 0, &err);
        }
    } else {
        void *stack_items[64] = {0};
        void **its = hi - lo <= 64 ? stack_items : corio__calloc(hi - lo, sizeof *its);
        if (!its) {
            f = NULL;
            err = -ENOMEM;
        } else {
            for (size_t i = lo; i < hi; i++)
                its[i - lo] = item_ptr(m, i);
            f = m->ex->vt->submit_batch(m->ex, m->fn, its, hi - lo, m->bytes, &err);
            if (its != stack_items)
                free(its);
        }
    }
    if (!f) {
        f = corio_future_create();
        if (f)
            corio__future_fail(f, err, "map: submit failed");
    }
    m->futs[c % m->window] = f;
    m->submitted++;
}

static void map_top_up(corio_map *m) {
    /* At most window - 1 chunks submitted and not fully read. The chunk of
     * the last item returned may be fully read yet still held (its value is
     * the caller's until the next call): the ring's extra slot keeps it, so
     * the next chunk is always submitted before it is read, even for a
     * window of one chunk (buffersize <= chunksize). */
    while (m->submitted < m->nchunks && m->submitted < m->read / m->chunk + m->window - 1)
        map_submit_chunk(m, m->submitted);
}

CORIO_API int corio_executor_map(corio_executor *ex, corio_fn fn, const void *items, size_t n,
                                 const corio_map_options *opts, corio_map **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ex || !fn || (!items && n))
        return -EINVAL;
    if (check_owner(ex) < 0)
        return -EPERM;
    corio_map_options o = {0};
    if (opts)
        o = *opts;
    /* Uniform timeouts: NaN is refused, negative means no limit, 0 polls;
     * but a zero-initialised options struct must give the default
     * (CPython's timeout=None), so 0 polls only with has_timeout. */
    if (isnan(o.timeout))
        return -EINVAL;
    int limited = o.timeout > 0 || (o.timeout == 0 && o.has_timeout);
    corio_map *m = corio__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->ex = ex;
    m->fn = fn;
    m->items = items;
    m->n = n;
    m->bytes = o.bytes;
    m->chunk = o.chunksize ? o.chunksize : 1;
    /* Rounded up without n + chunk - 1, which wraps for a huge chunksize. */
    m->nchunks = n / m->chunk + (n % m->chunk != 0);
    m->deadline = limited ? corio__deadline(o.timeout) : INT64_MAX;
    /* The window in chunks, rounded up without a wrap, and clamped to the
     * number of chunks: more ring slots than chunks would never be used,
     * and window + 1 must not wrap to 0 (buffersize SIZE_MAX). */
    size_t w = o.buffersize ? o.buffersize / m->chunk + (o.buffersize % m->chunk != 0)
                            : (size_t)(ex->max_workers > 4 ? 4 * (size_t)ex->max_workers : 16);
    if (w > m->nchunks)
        w = m->nchunks;
    if (w < 1)
        w = 1;
    m->window = w + 1;
    m->futs = corio__calloc(m->window, sizeof *m->futs);
    if (!m->futs) {
        free(m);
        return -ENOMEM;
    }
    /* Refuse a map on a shut-down or broken executor at once, like submit. */
    if (n) {
        map_submit_chunk(m, 0);
        int code = 0;
        if (corio_future_done(m->futs[0]) && m->futs[0] &&
            ((code = corio__future_code(m->futs[0])) == CORIO_ESHUTDOWN ||
             code == CORIO_EBROKEN_THREAD_POOL || code == CORIO_EBROKEN_PROCESS_POOL ||
             code == CORIO_EBROKEN_MPI)) {
            corio_map_destroy(m);
            return code;
        }
        map_top_up(m);
    }
    *out = m;
    return 0;
}

CORIO_API int corio_map_next(corio_map *m, corio_value *out) {
    if (!m || !out)
        return -EINVAL;
    m->message[0] = '\0';
    if (m->stop)
        return m->stop;
    if (m->read == m->n)
        return 0;
    if (m->cur && m->read > m->cur_lo && m->read < m->cur_hi) {
        /* The rest of a chunk already fetched (its future holds it until
         * the next chunk's first item): no wait, no division. The window
         * moves (map_top_up) only once the chunk's last item is read. */
        corio__batch_item *it = &m->cur->items[m->read++ - m->cur_lo];
        int r = 1;
        if (it->code < 0) {
            snprintf(m->message, sizeof m->message, "%s", it->message ? it->message : "");
            r = it->code;
        } else {
            *out = it->value;
        }
        if (m->read == m->cur_hi)
            map_top_up(m);
        return r;
    }
    m->cur = NULL;
    size_t c = m->read / m->chunk;
    corio_future *f = m->futs[c % m->window];
    corio_value v;
    int r = -ENOMEM;
    /* No future: neither the chunk's job nor its failed stand-in could be
     * allocated (map_submit_chunk). Each of the chunk's items then fails
     * with -ENOMEM and the iteration moves on, as after any failed item;
     * returning without advancing made a caller that goes on after a
     * failure call this forever. */
    if (f) {
        double left = -1.0;
        if (m->deadline != INT64_MAX) {
            int64_t d = m->deadline - corio__now_ns();
            left = d > 0 ? (double)d / 1e9 : 0.0;
        }
        r = corio_future_result_value(f, left, &v);
        if (r == -ETIMEDOUT && !corio_future_done(f)) {
            /* Python: on timeout every remaining future is cancelled. */
            for (size_t k = c; k < m->submitted; k++)
                corio_future_cancel(m->futs[k % m->window]);
            m->stop = -ETIMEDOUT;
            return r;
        }
    }
    size_t idx = m->read - c * m->chunk;
    m->read++;
    if (r < 0) {
        const char *msg = NULL;
        corio_future_exception(f, 0, &msg);
        snprintf(m->message, sizeof m->message, "%s", msg ? msg : "");
    } else if (m->chunk == 1) {
        *out = v;
    } else {
        corio__batch *b = v.ptr;
        corio__batch_item *it = &b->items[idx];
        m->cur = b;
        m->cur_lo = c * m->chunk;
        m->cur_hi = m->cur_lo + b->n;
        r = it->code;
        if (r < 0)
            snprintf(m->message, sizeof m->message, "%s", it->message ? it->message : "");
        else
            *out = it->value;
    }
    /* The value stays owned by the chunk's future until the caller moves
     * past it: release the future of the chunk before this one. */
    if (c > 0 && idx == 0) {
        size_t prev = (c - 1) % m->window;
        corio_future_unref(m->futs[prev]);
        m->futs[prev] = NULL;
    }
    map_top_up(m);
    return r < 0 ? r : 1;
}

CORIO_API const char *corio_map_message(const corio_map *m) { return m ? m->message : ""; }

CORIO_API void corio_map_destroy(corio_map *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->window; i++) {
        if (m->futs[i]) {
            corio_future_cancel(m->futs[i]);
            corio_future_unref(m->futs[i]);
        }
    }
    free(m->futs);
    free(m);
}
