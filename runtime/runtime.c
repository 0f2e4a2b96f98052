/* corio — the runtime: N loops on N threads, corio_run, the blocking pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    free(rt->loops);
    free(rt);
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

static void default_blocking_destroy(void) { corio_executor_destroy(default_blocking); }

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
            atexit(default_blocking_destroy);
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
