/* corio — task groups (nurseries): coroutines and jobs owned by a group.
 *
 * A group counts its children that have not ended (`pending`) and keeps a
 * reference to each child's future. A child coroutine reports its end
 * through the end hook of its record (coro_end, called by coro.c on its
 * loop when its future is done): no done-callback, no future lock. An
 * attached future (an executor job) reports through a done-callback that
 * calls the same code.
 *
 * Locking: one spinlock guards every field. Its sections are a few
 * instructions, except the last child's end, which unparks the joiner
 * under the lock (at most a loop post and an eventfd write): the joiner
 * cannot see pending == 0, return and free the group (with its parker on
 * its stack) before that unpark is done. Cancelling the children must run
 * outside the lock (cancelling a queued job runs its done-callbacks, which
 * take the lock), so the canceller counts itself in `busy`, and joins wait
 * for busy == 0 too: the group outlives every canceller.
 *
 * Spawn order: pending is raised and an array slot reserved before the
 * child is spawned (it may end on another loop before the spawn returns),
 * the future stored after. A child that ends before it is stored is
 * still counted correctly; only its entry appears a little later.
 */
#include <errno.h>
#include <stdlib.h>

#include "corio/scope.h"
#include "fault.h"
#include "loop.h"

struct corio_group {
    atomic_flag lock;          /* spinlock over everything below */
    corio_group_policy policy; /* what a failure does */
    corio_future **kids;       /* the children's futures, one reference each */
    size_t n, cap;             /* stored children, array capacity */
    size_t reserved;           /* slots reserved by spawns in progress */
    size_t pending;            /* children not yet ended (spawns in progress included) */
    size_t busy;               /* cancellers running outside the lock */
    int cancelled;             /* corio_group_cancel or a fail-fast failure happened */
    int first_code;            /* the first failure's code, 0 if none */
    corio_future *first_failed; /* that child's future (the group's reference) */
    corio__parker *joiner;     /* the join in progress, or NULL */
    corio__end_hook hook;      /* {coro_end, this group}: the children's end hook */
};

static void lock(corio_group *g) {
    while (atomic_flag_test_and_set_explicit(&g->lock, memory_order_acquire))
        corio__cpu_relax();
}

static void unlock(corio_group *g) { atomic_flag_clear_explicit(&g->lock, memory_order_release); }

/* Under the lock: wake the joiner once nothing is left to wait for. */
static void maybe_wake(corio_group *g) {
    if (g->pending == 0 && g->busy == 0 && g->joiner)
        corio__parker_unpark(g->joiner);
}

static size_t cancel_all(corio_group *g);

/* A child ended: f is its future, done. */
static void child_ended(corio_group *g, corio_future *f) {
    int code = corio__future_code(f);
    int fail_fast = 0;
    lock(g);
    if (code != 0 && !g->first_code) {
        g->first_code = code;
        g->first_failed = f;
        if (g->policy == CORIO_GROUP_FAIL_FAST && !g->cancelled) {
            g->cancelled = 1;
            g->busy++; /* held across cancel_all, released there */
            fail_fast = 1;
        }
    }
    g->pending--;
    maybe_wake(g);
    unlock(g);
    if (fail_fast)
        cancel_all(g);
}

static void coro_end(void *arg, corio_future *f) { child_ended(arg, f); }

static int job_done(corio_future *f, void *arg) {
    child_ended(arg, f);
    return 0;
}

/* Cancel every stored child; the caller has counted itself in busy. */
static size_t cancel_all(corio_group *g) {
    size_t count = 0;
    for (size_t i = 0;; i++) {
        lock(g);
        corio_future *f = i < g->n ? g->kids[i] : NULL;
        unlock(g);
        if (!f)
            break;
        /* The group's reference keeps f valid: kids only grows until
         * destroy, which waits for busy == 0. */
        count += corio_future_cancel(f);
    }
    lock(g);
    g->busy--;
    maybe_wake(g);
    unlock(g);
    return count;
}

CORIO_API int corio_group_create(corio_group_policy policy, corio_group **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (policy != CORIO_GROUP_FAIL_FAST && policy != CORIO_GROUP_COLLECT_ALL)
        return -EINVAL;
    corio_group *g = corio__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    atomic_flag_clear(&g->lock);
    g->policy = policy;
    g->hook = (corio__end_hook){coro_end, g};
    *out = g;
    return 0;
}

/* Raise pending and reserve a slot; -ECANCELED, -ENOMEM. */
static int reserve(corio_group *g) {
    lock(g);
    if (g->cancelled) {
        unlock(g);
        return -ECANCELED;
    }
    size_t need = g->n + g->reserved + 1;
    if (need > g->cap) {
        /* Growing under a spinlock: rare (doubling), and the other side of
         * the lock only ever waits for a few instructions otherwise. */
        size_t cap = g->cap ? 2 * g->cap : 8;
        while (cap < need)
            cap *= 2;
        corio_future **k = corio__realloc(g->kids, cap * sizeof *k);
        if (!k) {
            unlock(g);
            return -ENOMEM;
        }
        g->kids = k;
        g->cap = cap;
    }
    g->reserved++;
    g->pending++;
    unlock(g);
    return 0;
}

/* Store a child's future in its reserved slot (f NULL: the spawn failed
 * and never counted as a child). Returns 1 when the group was cancelled
 * meanwhile, so the caller cancels f. */
static int store(corio_group *g, corio_future *f) {
    lock(g);
    g->reserved--;
    int cancelled = g->cancelled;
    if (f)
        g->kids[g->n++] = f;
    else
        g->pending--;
    maybe_wake(g);
    unlock(g);
    return f && cancelled;
}

CORIO_API int corio_group_spawn_on(corio_group *g, corio_runtime *rt, int loop, corio_fn fn,
                                   void *arg, const corio_spawn_options *opts, corio_future **f) {
    if (f)
        *f = NULL;
    if (!g || !fn)
        return -EINVAL;
    if (!rt)
        rt = corio_runtime_current();
    if (!rt)
        return -EINVAL;
    int r = reserve(g);
    if (r < 0)
        return r;
    /* References: the coroutine's, the group's, and the caller's if asked. */
    corio_future *fut = corio__spawn(rt, loop, fn, arg, opts, f ? 3 : 2, &g->hook, &r);
    if (!fut) {
        store(g, NULL);
        return r;
    }
    /* A future returned with an error is a child that failed to launch:
     * its hook has run, it counts as an ended child. */
    if (store(g, fut))
        corio_future_cancel(fut);
    if (r < 0) {
        if (f)
            corio_future_unref(fut); /* the caller's reference: not handed out */
        return r;
    }
    if (f)
        *f = fut;
    return 0;
}

CORIO_API int corio_group_spawn(corio_group *g, corio_fn fn, void *arg, corio_future **f) {
    return corio_group_spawn_on(g, NULL, -1, fn, arg, NULL, f);
}

CORIO_API int corio_group_attach(corio_group *g, corio_future *f) {
    if (!g || !f)
        return -EINVAL;
    int r = reserve(g);
    if (r < 0) {
        if (r == -ECANCELED)
            corio_future_cancel(f);
        return r;
    }
    corio_future_ref(f);
    if (store(g, f))
        corio_future_cancel(f);
    /* After storing: a job already done runs job_done here and now. */
    r = corio_future_add_done_callback(f, job_done, g);
    if (r < 0) {
        /* Not watched: count it as ended now, keep it in the list. */
        lock(g);
        g->pending--;
        maybe_wake(g);
        unlock(g);
        return r;
    }
    return 0;
}

/* Is the calling coroutine a child of g? Its record names the group. */
static int called_by_child(corio_group *g) {
    corio__coro *c = corio__tls_coro;
    return c && c->end == &g->hook;
}

CORIO_API int corio_group_join(corio_group *g, double timeout) {
    if (!g || timeout != timeout)
        return -EINVAL;
    if (called_by_child(g))
        return -EDEADLK;
    int64_t deadline = corio__deadline(timeout);
    corio__parker p;
    corio__parker_init(&p);
    corio__parker_what(&p, "group join", g);
    lock(g);
    if (g->joiner) {
        unlock(g);
        return -EBUSY;
    }
    g->joiner = &p;
    int r = 0;
    while (g->pending || g->busy) {
        unlock(g);
        r = corio__parker_park(&p, deadline);
        lock(g);
        if (r < 0)
            break;
    }
    g->joiner = NULL;
    int done = !g->pending && !g->busy;
    int code = g->first_code;
    unlock(g);
    if (done)
        return code;
    if (r == -ECANCELED) {
        /* The caller was cancelled: so is the work it was waiting for. */
        lock(g);
        g->cancelled = 1;
        g->busy++;
        unlock(g);
        cancel_all(g);
    }
    return r;
}

CORIO_API size_t corio_group_cancel(corio_group *g) {
    if (!g)
        return 0;
    lock(g);
    g->cancelled = 1;
    g->busy++;
    unlock(g);
    return cancel_all(g);
}

CORIO_API corio_future *corio_group_first_failure(corio_group *g) {
    if (!g)
        return NULL;
    lock(g);
    corio_future *f = g->first_failed;
    unlock(g);
    return f;
}

CORIO_API size_t corio_group_size(corio_group *g) {
    if (!g)
        return 0;
    lock(g);
    size_t n = g->n;
    unlock(g);
    return n;
}

CORIO_API corio_future *corio_group_child(corio_group *g, size_t i) {
    if (!g)
        return NULL;
    lock(g);
    corio_future *f = i < g->n ? g->kids[i] : NULL;
    unlock(g);
    return f;
}

CORIO_API void corio_group_destroy(corio_group *g) {
    if (!g)
        return;
    if (called_by_child(g)) {
        /* It would wait for itself. Freeing the group under its running
         * children is not an option either: cancel them and leak it. */
        corio__log("corio_group_destroy called by a child of the group: the group is cancelled "
                   "but not freed");
        corio_group_cancel(g);
        return;
    }
    corio_group_cancel(g);
    /* Shielded: no child outlives its group, even when the caller is
     * cancelled. Without a deadline the join only ends when every child
     * did (or another join is in progress: then wait for that one). */
    corio_scope shield;
    corio_shield_enter(&shield, CORIO_NO_DEADLINE);
    while (corio_group_join(g, -1) == -EBUSY)
        corio_sleep(0.001);
    corio_scope_exit(&shield);
    for (size_t i = 0; i < g->n; i++)
        corio_future_unref(g->kids[i]);
    free(g->kids);
    free(g);
}
