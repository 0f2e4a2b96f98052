/* corio — the runtime: N loops on N threads, corio_run, the blocking pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "corio/metrics.h"
#include "corio/scope.h"
#include "loop.h"
#include "fault.h"

CORIO_API int corio_runtime_create(const corio_runtime_options *opts, corio_runtime **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_runtime_options o = {0};
    if (opts)
        o = *opts;
    if (o.loops < 0 || o.blocking_workers < 0)
        return -EINVAL;
    if (o.loops == 0) {
        o.loops = (int)corio__usable_cpus();
    }
    if (o.loops > CORIO_LOOPS_MAX)
        return -EINVAL;
    /* Fail before starting anything when the descriptors cannot suffice:
     * each loop holds a ring and an eventfd. Creating loops until one
     * failed took seconds for absurd counts, and left no descriptor for
     * the application meanwhile. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        (rlim_t)o.loops * 2 + 16 > nofile.rlim_cur)
        return -EMFILE;
    if (o.ring_entries == 0)
        o.ring_entries = 256;
    if (o.ring_entries > 32768)
        return -EINVAL;
    int r = corio__overflow_install();
    if (r < 0)
        return r;
    corio__sched_install();
    corio_runtime *rt = corio__calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->opts = o;
    pthread_mutex_init(&rt->hooks_lock, NULL);
    rt->loops = corio__calloc((size_t)o.loops, sizeof *rt->loops);
    if (!rt->loops) {
        free(rt);
        return -ENOMEM;
    }
    corio_thread_pool_options tpo = {.max_workers = o.blocking_workers,
                                     .thread_name_prefix = "corio-blk"};
    r = corio_thread_pool_create(&tpo, &rt->blocking);
    if (r < 0) {
        free(rt->loops);
        free(rt);
        return r;
    }
    for (int i = 0; i < o.loops; i++) {
        corio__loop *l = &rt->loops[i];
        l->id = i;
        l->rt = rt;
        l->ops = &corio__coro_ops_default;
        l->efd = -1;
        l->ring_entries = o.ring_entries;
        l->default_stack = o.stack_size;
        r = corio__loop_start(l);
        if (r < 0) {
            rt->nloops = i;
            if (l->efd >= 0)
                close(l->efd);
            if (l->started)
                corio__stack_pool_fini(&l->stacks);
            if (l->ring_ok)
                io_uring_queue_exit(&l->ring);
            corio_runtime_destroy(rt);
            return r;
        }
        rt->nloops = i + 1;
    }
    *out = rt;
    return 0;
}

CORIO_API void corio_runtime_destroy(corio_runtime *rt) {
    if (!rt)
        return;
    corio__dump_stop(rt);
    corio__stall_stop(rt);
    atomic_store_explicit(&rt->destroying, 1, memory_order_release);
    atomic_store_explicit(&rt->stopping, 1, memory_order_release);
    for (int i = 0; i < rt->nloops; i++)
        corio__loop_post(&rt->loops[i], &rt->loops[i].stop_msg);
    for (int i = 0; i < rt->nloops; i++)
        pthread_join(rt->loops[i].thread, NULL);
    for (int i = 0; i < rt->nloops; i++) {
        corio__loop *l = &rt->loops[i];
        /* Only after every loop has exited can no more messages arrive. A
         * loop exits once it has no live coroutine, so what is left can
         * only be START messages: spawns (from a coroutine of another loop)
         * that passed the `stopping` check just before it was set. Those
         * coroutines never ran: end their futures as cancelled and drop
         * the coroutine's reference (which frees it). */
        corio__msg *m = atomic_exchange_explicit(&l->inbox, NULL, memory_order_acquire);
        while (m) {
            corio__msg *next = m->next;
            if (m->kind == CORIO__MSG_START) {
                corio__coro *c = (corio__coro *)((char *)m - offsetof(corio__coro, wake_msg));
                corio_future_cancel(c->future);
                if (c->end)
                    c->end->fn(c->end->arg, c->future);
                corio_future_unref(c->future);
            }
            m = next;
        }
        io_uring_queue_exit(&l->ring);
        close(l->efd);
        corio__stack_pool_fini(&l->stacks);
        free(l->heap);
        pthread_mutex_destroy(&l->start_lock);
        pthread_cond_destroy(&l->start_cond);
    }
    corio_executor_destroy(rt->blocking);
    pthread_mutex_lock(&rt->hooks_lock);
    for (corio__drain_hook *h = rt->hooks, *n; h; h = n) {
        n = h->next;
        h->fn(rt, h->arg, 1); /* still registered: rt is gone for it */
        free(h);
    }
    rt->hooks = NULL;
    pthread_mutex_unlock(&rt->hooks_lock);
    pthread_mutex_destroy(&rt->hooks_lock);
    free(rt->loops);
    free(rt);
}

/* ---- drain ---- */

int corio__runtime_on_drain(corio_runtime *rt, corio__drain_fn fn, void *arg) {
    corio__drain_hook *h = corio__malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    h->fn = fn;
    h->arg = arg;
    pthread_mutex_lock(&rt->hooks_lock);
    h->next = rt->hooks;
    rt->hooks = h;
    pthread_mutex_unlock(&rt->hooks_lock);
    return 0;
}

void corio__runtime_off_drain(corio_runtime *rt, corio__drain_fn fn, void *arg) {
    pthread_mutex_lock(&rt->hooks_lock);
    for (corio__drain_hook **pp = &rt->hooks; *pp; pp = &(*pp)->next) {
        corio__drain_hook *h = *pp;
        if (h->fn == fn && h->arg == arg) {
            *pp = h->next;
            free(h);
            break;
        }
    }
    pthread_mutex_unlock(&rt->hooks_lock);
}

/* Wait until every loop reported it has no live coroutine, or the
 * deadline: 0 or -ETIMEDOUT. Shielded: the drainer's own cancel (it may
 * be a coroutine of another runtime) does not cut the drain short. */
static int drain_wait(corio_runtime *rt, corio__parker *p, int64_t deadline) {
    corio_scope shield;
    corio_shield_enter(&shield, deadline);
    int r = 0;
    while (atomic_load_explicit(&rt->drain_loops, memory_order_acquire) != 0) {
        r = corio__parker_park(p, deadline);
        if (r == -ETIMEDOUT)
            break;
        r = 0;
    }
    if (atomic_load_explicit(&rt->drain_loops, memory_order_acquire) == 0)
        r = 0;
    corio_scope_exit(&shield);
    return r;
}

CORIO_API int corio_runtime_drain(corio_runtime *rt, int64_t deadline_ns,
                                  corio_drain_summary *out) {
    if (out)
        *out = (corio_drain_summary){0};
    if (!rt)
        return -EINVAL;
    /* From one of rt's own loops the wait could never end. */
    if (corio__tls_loop && corio__tls_loop->rt == rt)
        return -EPERM;
    if (atomic_exchange_explicit(&rt->draining, 1, memory_order_acq_rel))
        return -EALREADY;
    corio_executor_metrics jobs0;
    corio_executor_metrics_get(rt->blocking, &jobs0);
    /* No new coroutines from here: spawns fail with CORIO_ESHUTDOWN. */
    atomic_store_explicit(&rt->stopping, 1, memory_order_release);
    pthread_mutex_lock(&rt->hooks_lock);
    for (corio__drain_hook *h = rt->hooks; h; h = h->next)
        h->fn(rt, h->arg, 0);
    pthread_mutex_unlock(&rt->hooks_lock);
    corio__parker *p = &rt->drain_parker;
    corio__parker_init(p);
    atomic_store_explicit(&rt->drain_loops, rt->nloops, memory_order_release);
    for (int i = 0; i < rt->nloops; i++)
        corio__loop_post(&rt->loops[i], &rt->loops[i].drain_msg);
    int r = drain_wait(rt, p, deadline_ns);
    int timed_out = r == -ETIMEDOUT;
    if (timed_out) {
        for (int i = 0; i < rt->nloops; i++)
            corio__loop_post(&rt->loops[i], &rt->loops[i].drain_cancel_msg);
        /* Cancelled coroutines end at their next blocking call; one that
         * never makes one (or cleans up in a shield without a deadline)
         * holds the drain up, as it would hold up corio_runtime_destroy. */
        drain_wait(rt, p, INT64_MAX);
    }
    /* The blocking pool's jobs: queued and running ones may finish until
     * the deadline; then what is still queued is cancelled (a running
     * thread cannot be stopped: it is left to finish). */
    double left = (double)(deadline_ns - corio__now_ns()) / 1e9;
    int jr = corio_executor_shutdown_timeout(rt->blocking, left > 0 ? left : 0, false);
    corio_executor_metrics em;
    corio_executor_metrics_get(rt->blocking, &em);
    corio_drain_summary sum = {.timed_out = timed_out || jr == -ETIMEDOUT};
    if (jr == -ETIMEDOUT) {
        sum.jobs_cancelled = em.queued;
        corio_executor_shutdown(rt->blocking, false, true);
    }
    sum.jobs_finished = em.completed - jobs0.completed;
    for (int i = 0; i < rt->nloops; i++) {
        sum.finished += atomic_load_explicit(&rt->loops[i].drain_finished, memory_order_relaxed);
        sum.cancelled += atomic_load_explicit(&rt->loops[i].drain_cancelled, memory_order_relaxed);
    }
    if (out)
        *out = sum;
    return 0;
}

CORIO_API int corio_runtime_loops(const corio_runtime *rt) { return rt ? rt->nloops : 0; }

CORIO_API corio_executor *corio_runtime_blocking_pool(corio_runtime *rt) {
    return rt ? rt->blocking : NULL;
}

CORIO_API int corio_run_with(const corio_runtime_options *opts, corio_fn fn, void *arg,
                             corio_value *result) {
    if (!fn)
        return -EINVAL;
    corio_runtime *rt;
    int r = corio_runtime_create(opts, &rt);
    if (r < 0)
        return r;
    corio_future *f = corio_spawn_on(rt, 0, fn, arg, NULL, &r);
    if (!f) {
        corio_runtime_destroy(rt);
        return r;
    }
    corio_value v;
    r = corio_future_result_value(f, CORIO_FOREVER, &v);
    corio_runtime_destroy(rt);
    if (r == 0 && result) {
        /* Hand the value, destructor included, over to the caller. */
        *result = v;
        corio__future_release_value(f);
    }
    corio_future_unref(f);
    return r;
}

CORIO_API int corio_run(corio_fn fn, void *arg, corio_value *result) {
    return corio_run_with(NULL, fn, arg, result);
}

/* The process-wide blocking pool for corio_to_thread outside coroutines. */
static corio_executor *_Atomic default_blocking;
static pthread_mutex_t default_blocking_lock = PTHREAD_MUTEX_INITIALIZER;

static void default_blocking_destroy(void *unused) {
    (void)unused;
    corio_executor_destroy(default_blocking);
}

/* Create the pool on first use. A failed creation is retried by the next
 * call: with pthread_once, one transient ENOMEM left the process without a
 * blocking pool for good. */
static corio_executor *default_blocking_get(void) {
    corio_executor *ex = atomic_load_explicit(&default_blocking, memory_order_acquire);
    if (ex)
        return ex;
    pthread_mutex_lock(&default_blocking_lock);
    ex = atomic_load_explicit(&default_blocking, memory_order_relaxed);
    if (!ex) {
        corio_thread_pool_options o = {.thread_name_prefix = "corio-blk"};
        if (corio_thread_pool_create(&o, &ex) == 0) {
            atomic_store_explicit(&default_blocking, ex, memory_order_release);
            corio__atexit(default_blocking_destroy, NULL);
        }
    }
    pthread_mutex_unlock(&default_blocking_lock);
    return ex;
}

CORIO_API corio_future *corio_to_thread(corio_fn fn, void *arg, int *err) {
    corio_runtime *rt = corio_runtime_current();
    corio_executor *ex = rt ? rt->blocking : NULL;
    if (!ex) {
        ex = default_blocking_get();
    }
    if (!ex) {
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    return corio_executor_submit(ex, fn, arg, err);
}
