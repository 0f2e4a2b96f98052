/* corio — coroutines: spawn, run, park, cancel, finish.
 *
 * A coroutine's life: corio__coro_new (any thread) → launch on its loop
 * (stack from the loop's pool, fiber prepared, made ready) → runs until it
 * parks, awaits a ring operation or yields → ... → its body returns, its
 * future is completed, and it switches back to the scheduler for the last
 * time; the loop then returns its stack to the pool and frees it.
 *
 * Cancellation: corio_future_cancel on a running coroutine's future calls
 * coro_canceller (under the future's lock, so the coroutine cannot finish
 * meanwhile), which posts the coroutine's embedded cancel message to its
 * loop. The loop marks it cancelled and interrupts what it waits on: a
 * parked wait is resumed with -ECANCELED, a ring operation gets an
 * IORING_OP_ASYNC_CANCEL. If the coroutine finished before the message was
 * handled, its free is deferred until the message has been seen.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"

static _Atomic uint64_t next_id = 1;

/* Coroutine ids are handed to each spawning thread in blocks, so a spawn
 * costs no locked instruction for its id: unique per process, increasing
 * per thread, not globally ordered. */
#define ID_BLOCK 1024
static CORIO__TLS_HOT uint64_t id_next, id_end;

static uint64_t new_id(void) {
    if (id_next == id_end) {
        id_next = atomic_fetch_add_explicit(&next_id, ID_BLOCK, memory_order_relaxed);
        id_end = id_next + ID_BLOCK;
    }
    return id_next++;
}

/* ---- scheduler hooks for the parker (see internal.h) ---- */

void corio__coro_suspend(corio__coro *c) {
    corio__fiber_switch(&c->fiber, &c->loop->sched);
}

static int sched_park(corio__parker *p, int64_t deadline_ns) {
    corio__coro *c = p->coro;
    corio__loop *l = c->loop;
    c->parker = p;
    c->park_res = 0;
    p->since = corio__now_coarse_ns();
    if (deadline_ns != INT64_MAX) {
        c->deadline = deadline_ns;
        corio__timer_add(l, c);
        if (c->heap_idx == SIZE_MAX) { /* no memory for a timer */
            c->parker = NULL;
            uint32_t expect = CORIO__PARKED;
            if (atomic_compare_exchange_strong(&p->state, &expect, CORIO__IDLE))
                return -ETIMEDOUT;
            return 0;
        }
    }
    corio__coro_suspend(c);
    corio__timer_del(l, c);
    c->parker = NULL;
    return c->park_res;
}

static void sched_unpark(corio__parker *p) {
    corio__coro *c = p->coro;
    if (corio__tls_loop == c->loop)
        corio__loop_make_ready(c->loop, c);
    else
        corio__loop_post(c->loop, &c->wake_msg);
}

static int sched_cancelled(void) {
    corio__coro *c = corio__tls_coro;
    return c && corio__coro_stopped(c);
}

static int64_t sched_limit(void) {
    corio__coro *c = corio__tls_coro;
    return c && c->scope ? c->scope->limit : INT64_MAX;
}

/* Direct starts: joining a child that has not run yet and is first in the
 * run queue, the joiner switches straight into it instead of through the
 * scheduler (which would run the rest of its pass, the loop's bookkeeping
 * and then that child first), and the child's end hands the thread straight
 * back (coro_entry). What else was ready keeps its order; the rest of the
 * current pass waits for the child, as it waits for any coroutine that runs
 * before it.
 * At most DIRECT_STARTS of them per pass of the scheduler over its run
 * queue, so a coroutine that spawns and joins in a loop still lets the
 * loop reap completions, drain its inbox and fire timers: the pass is
 * recognised by the loop's `switches` counter, which only the scheduler
 * moves, once per pass (l->direct_pass, l->direct_left: loop thread
 * only; not thread-local, as the library's initial-exec TLS must stay
 * small enough for dlopen). */
#define DIRECT_STARTS 64

static int direct_start_ok(corio__loop *l, corio__coro *c) {
    if (c->fiber.stack || c->finished || l->rq_head != c)
        return 0;
    uint64_t pass = atomic_load_explicit(&l->m.switches, memory_order_relaxed);
    if (pass != l->direct_pass) {
        l->direct_pass = pass;
        l->direct_left = DIRECT_STARTS;
    }
    if (l->direct_left == 0)
        return 0;
    l->direct_left--;
    return 1;
}

/* Free what ended meanwhile, as the scheduler does after each switch
 * (loop.c, free_zombies): we run on our own stack, so theirs are free. */
static void free_zombies_here(corio__loop *l) {
    while (l->zombies) {
        corio__coro *z = l->zombies;
        l->zombies = z->next;
        if (!atomic_load_explicit(&z->msg_posted, memory_order_acquire))
            l->ops->free(z);
    }
}

/* Join `coro` from the current coroutine when both live on this loop: the
 * joiner and joining links are touched only by this loop's thread, so no
 * atomic is needed, and the child's end (wake_joiner) resumes us. Every
 * coroutine of a loop reaches its end on that loop (also when it is
 * cancelled before it starts, or cannot get a stack), so the join always
 * ends. The caller holds a reference to the child's future, which keeps the
 * child's record valid. */
static int sched_join(void *coro) {
    corio__coro *me = corio__tls_coro, *c = coro;
    if (c == me || c->loop != me->loop || c->joiner)
        return -EAGAIN;
    if (corio__coro_stopped(me))
        return -ECANCELED;
    corio__loop *l = me->loop;
    if (direct_start_ok(l, c)) {
        l->rq_head = c->next; /* c was first: take it off the queue */
        if (!l->rq_head)
            l->rq_tail = NULL;
        /* Its stack now, as run_ready would take it (before the joiner is
         * linked: a failed start must not wake us, we are running). */
        if (l->ops->stack(c) < 0) {
            free_zombies_here(l);
            return 0; /* c ended, failed: its future says so */
        }
        c->joiner = me;
        me->joining = c;
        me->park_res = 0;
        l->current = c;
        corio__tls_coro = c;
        atomic_store_explicit(&l->m.current_name, c->name, memory_order_relaxed);
        atomic_store_explicit(&l->m.current_id, c->fiber.id, memory_order_relaxed);
        corio__fiber_switch(&me->fiber, &c->fiber);
        /* Resumed by c's end (handed straight back, or through the
         * scheduler if c suspended first) or by a cancel of ours; either
         * way as the current coroutine again. */
        free_zombies_here(l);
        return me->park_res;
    }
    c->joiner = me;
    me->joining = c;
    me->park_res = 0;
    corio__coro_suspend(me);
    /* Resumed by wake_joiner (0) or corio__coro_cancel_now (-ECANCELED),
     * which both unlinked us. */
    return me->park_res;
}

/* Resume the coroutine joined on c, if any (c could not start). */
static void wake_joiner(corio__coro *c) {
    corio__coro *j = c->joiner;
    if (!j)
        return;
    c->joiner = NULL;
    j->joining = NULL;
    corio__loop_make_ready(c->loop, j);
}

static const corio__sched_ops sched_ops = {
    .park = sched_park,
    .unpark = sched_unpark,
    .cancelled = sched_cancelled,
    .join = sched_join,
    .limit = sched_limit,
    .idle_until = corio__loop_idle_until,
};

void corio__sched_install(void) {
    atomic_store_explicit(&corio__sched, &sched_ops, memory_order_release);
}

/* ---- cancellation ---- */

/* Runs under the future's lock, on any thread. */
static void coro_canceller(corio_future *f, void *arg) {
    (void)f;
    corio__coro *c = arg;
    atomic_store_explicit(&c->cancel_req, 1, memory_order_release);
    corio__coro_post_attention(c);
}

void corio__coro_post_attention(corio__coro *c) {
    /* One message in flight at a time. The loop clears msg_posted (an
     * acq_rel exchange) before it looks at cancel_req and the scopes, so
     * a flag stored before an exchange here that found 1 is seen by that
     * look: the exchanges form one chain, each acquiring the previous. */
    if (atomic_exchange_explicit(&c->msg_posted, 1, memory_order_acq_rel))
        return;
    corio__loop_post(c->loop, &c->cancel_msg);
}

void corio__coro_cancel_now(corio__coro *c) {
    if (c->cancelled)
        return;
    c->cancelled = 1;
    corio__coro_interrupt(c);
}

void corio__coro_interrupt(corio__coro *c) {
    corio__loop *l = c->loop;
    /* A shield may hold the cancel off: then only the next blocking call
     * after the shield is left sees it. */
    if (!corio__coro_stopped(c))
        return;
    if (c->parker) {
        uint32_t expect = CORIO__PARKED;
        if (atomic_compare_exchange_strong(&c->parker->state, &expect, CORIO__IDLE)) {
            c->park_res = -ECANCELED;
            corio__loop_make_ready(l, c);
        }
    } else if (c->op) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_cancel(sqe, c->op, 0);
        io_uring_sqe_set_data64(sqe, 0);
    } else if (c->joining) {
        c->joining->joiner = NULL;
        c->joining = NULL;
        c->park_res = -ECANCELED;
        corio__loop_make_ready(l, c);
    }
    /* A coroutine that is ready or running sees the cancel at its next
     * blocking call. */
}

void corio__coro_kick(corio__coro *c) {
    if (corio__tls_loop == c->loop) {
        corio__coro_interrupt(c);
        return;
    }
    corio__coro_post_attention(c);
}

/* ---- life cycle ---- */

static void coro_entry(void *arg) {
    corio__coro *c = arg;
    corio_future *f = c->future;
    if (corio__future_start(f, coro_canceller, c) == 1) {
        corio_value out = {0};
        corio__task_msg_clear();
        int r = c->fn(c->arg, &out);
        if (r < 0) {
            if (out.dtor)
                out.dtor(out.ptr);
            if (r == -ECANCELED && (c->cancelled || corio__future_cancel_requested(f)))
                corio__future_finish_cancelled(f, 0);
            else
                corio__future_fail(f, r, corio__task_msg());
        } else {
            corio_future_set_value(f, &out);
        }
    }
    if (c->scope) {
        /* The body returned inside scopes it never left: leave them, so
         * that the thread's count stays right. */
        corio__log("coroutine %llu ended inside a cancel scope; scopes must be left before "
                   "returning", (unsigned long long)c->fiber.id);
        for (corio__scope *s = c->scope; s; s = s->parent) {
            /* As corio_scope_exit: wait out a canceller holding 1. */
            int g = 0;
            while (!atomic_compare_exchange_weak_explicit(&s->guard, &g, 2, memory_order_acq_rel,
                                                          memory_order_acquire))
                g = 0;
            corio__tls_nscopes--;
        }
        c->scope = NULL;
    }
    if (c->end)
        c->end->fn(c->end->arg, f);
    c->finished = 1;
    /* Our stack is still in use until we switch away: the scheduler frees
     * us when it next runs (run_ready). */
    corio__loop *l = c->loop;
    c->next = l->zombies;
    l->zombies = c;
    corio__coro *j = c->joiner;
    if (j) {
        /* Hand the thread straight to the coroutine joined on us (same
         * loop): no trip through the scheduler and its run queue. It runs
         * now, ahead of what else is ready, as the continuation of our end;
         * when it suspends, the scheduler carries on where it left us. */
        c->joiner = NULL;
        j->joining = NULL;
        l->current = j;
        corio__tls_coro = j;
        corio__fiber_exit(&c->fiber, &j->fiber);
    }
    corio__fiber_exit(&c->fiber, &l->sched);
}

/* Its future comes from the recycled slabs (see future.c). */
_Static_assert(sizeof(corio__coro) <= CORIO__FUTURE_EXT_LARGE, "coroutine record too large");

corio__coro *corio__coro_new(corio__loop *l, corio_fn fn, void *arg, size_t stack_size,
                             int refs) {
    /* The coroutine lives in its future's extra storage: one allocation,
     * and it stays valid for as long as the coroutine holds its reference.
     * refs - 1 more references are taken at once for the spawner. */
    corio_future *f = corio__future_create_ext_refs(sizeof(corio__coro), refs);
    if (!f)
        return NULL;
    corio__coro *c = corio__future_ext(f);
    _Static_assert(sizeof *c % 8 == 0, "corio__zero needs whole words");
    corio__zero(c, sizeof *c);
    c->future = f;
    corio__future_set_coro(f, c);
    c->loop = l;
    c->fn = fn;
    c->arg = arg;
    c->stack_size = stack_size; /* until launch; then the union holds the deadline */
    c->fiber.id = new_id(); /* the id lives in the fiber (fiber_init keeps it) */
    c->heap_idx = SIZE_MAX;
    c->wake_msg.kind = CORIO__MSG_START;
    c->cancel_msg.kind = CORIO__MSG_CANCEL;
    atomic_init(&c->cancel_req, 0);
    atomic_init(&c->msg_posted, 0);
    return c;
}

static void link_live(corio__loop *l, corio__coro *c) {
    c->all_prev = NULL;
    c->all_next = l->live;
    if (l->live)
        l->live->all_prev = c;
    l->live = c;
    l->nlive++;
}

/* MSG_START (or a spawn on the caller's own loop): the coroutine joins the
 * loop's live list and its run queue. Its stack is taken only when it
 * first runs (corio__coro_stack): a burst of spawns from a plain thread
 * arrives as one inbox full of START messages, and launching them all
 * with stacks would map one fresh stack per coroutine (the pool caches a
 * few dozen), where running them in turn reuses the same warm ones. */
int corio__coro_launch(corio__coro *c) {
    corio__loop *l = c->loop;
    c->wake_msg.kind = CORIO__MSG_WAKE; /* from now on it only wakes */
    link_live(l, c);
    corio__count(&l->m.spawned, 1);
    if (l->stopping || (l->drain_phase && !c->system))
        corio_future_cancel(c->future); /* spawned while stopping: never runs */
    corio__loop_make_ready(l, c);
    return 0;
}

/* Before the first switch into c (run_ready): its stack and fiber. On
 * failure the coroutine ends here, failed, and is freed; returns < 0. */
int corio__coro_stack(corio__coro *c) {
    corio__loop *l = c->loop;
    size_t cached = l->stacks.n_cached;
    corio__stack *st = NULL;
    size_t want = c->stack_size ? c->stack_size : l->stacks.default_size;
    int r = corio__stack_alloc(&l->stacks, c->stack_size, &st);
    c->deadline = 0; /* the union's other half from now on */
    if (r == 0)
        corio__count(l->stacks.n_cached < cached ? &l->m.stack_hits : &l->m.stack_misses, 1);
    if (r == 0)
        r = corio__fiber_init(&c->fiber, st, c->fiber.id, coro_entry, c);
    if (r == 0)
        return 0;
    /* The likely cause differs with the size: a huge stack exceeds the
     * address space or the memory limits; a normal one runs out of
     * mappings (each coroutine needs 2) long before memory. */
    static _Atomic int hinted;
    if (r == -ENOMEM && !atomic_exchange(&hinted, 1)) {
        if (want > ((size_t)1 << 30))
            corio__log("cannot map a coroutine stack of %zu bytes: larger than the address "
                       "space or the memory limits (RLIMIT_AS, overcommit) allow",
                       want);
        else
            corio__log("cannot map a coroutine stack (is vm.max_map_count too low? each "
                       "coroutine needs 2 mappings)");
    }
    if (st)
        corio__stack_free(&l->stacks, st);
    c->fiber.stack = NULL;
    corio__future_fail(c->future, r, "cannot start coroutine: no stack");
    wake_joiner(c); /* a joiner holds a reference: c is still valid */
    if (c->end)
        c->end->fn(c->end->arg, c->future);
    c->finished = 1;
    /* Freed by the scheduler like any finished coroutine (not here: a
     * cancel message in flight may still name it). */
    c->next = l->zombies;
    l->zombies = c;
    return r;
}

void corio__coro_free(corio__coro *c) {
    corio__loop *l = c->loop;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        l->live = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    l->nlive--;
    corio__count(&l->m.ended, 1);
    corio__stack *st = c->fiber.stack; /* fini clears it */
    if (st) { /* NULL: it never got one (corio__coro_stack failed) */
        corio__fiber_fini(&c->fiber);
        corio__stack_free(&l->stacks, st);
    }
    corio_future_unref(c->future); /* last use of c: it lives in the future */
    if (__builtin_expect(l->drain_phase != 0, 0)) {
        if (l->drain_phase == 1)
            atomic_fetch_add_explicit(&l->drain_finished, 1, memory_order_relaxed);
        corio__loop_drain_check(l);
    }
}

/* ---- public API ---- */

/* The one spawn path, inlined into each entry point: the plain spawn must
 * not pay a call layer for the group's arguments. */
static inline __attribute__((always_inline)) corio_future *
spawn_impl(corio_runtime *rt, int loop, corio_fn fn, void *arg, const corio_spawn_options *opts,
           int refs, const corio__end_hook *end, int system, int *err) {
    int dummy;
    if (!err)
        err = &dummy;
    if (!rt || !fn || loop < -1 || loop >= rt->nloops) {
        *err = -EINVAL;
        return NULL;
    }
    if (atomic_load_explicit(&rt->stopping, memory_order_acquire) &&
        (!system || atomic_load_explicit(&rt->destroying, memory_order_acquire))) {
        *err = CORIO_ESHUTDOWN;
        return NULL;
    }
    corio__loop *here = corio__tls_loop;
    if (loop == -1)
        loop = here && here->rt == rt ? here->id : 0;
    corio__loop *l = &rt->loops[loop];
    corio__coro *c = corio__coro_new(l, fn, arg, opts ? opts->stack_size : 0, refs);
    if (!c) {
        *err = -ENOMEM;
        return NULL;
    }
    c->end = end;
    c->system = (unsigned char)system;
    corio_future *f = c->future; /* the second reference, ours to return */
    if (here == l) {
        int r = corio__coro_launch(c);
        if (r < 0) {
            /* launch completed the future with the error and freed c */
            *err = r;
            return f;
        }
    } else {
        corio__loop_post(l, &c->wake_msg);
    }
    return f;
}

CORIO_API corio_future *corio_spawn_on(corio_runtime *rt, int loop, corio_fn fn, void *arg,
                                       const corio_spawn_options *opts, int *err) {
    return spawn_impl(rt, loop, fn, arg, opts, 2, NULL, 0, err);
}

corio_future *corio__spawn(corio_runtime *rt, int loop, corio_fn fn, void *arg,
                           const corio_spawn_options *opts, int refs,
                           const corio__end_hook *end, int *err) {
    return spawn_impl(rt, loop, fn, arg, opts, refs, end, 0, err);
}

corio_future *corio__spawn_system(corio_runtime *rt, int loop, corio_fn fn, void *arg, int *err) {
    return spawn_impl(rt, loop, fn, arg, NULL, 2, NULL, 1, err);
}

CORIO_API corio_future *corio_spawn(corio_fn fn, void *arg, int *err) {
    corio__loop *l = corio__tls_loop;
    if (!l || !corio__tls_coro) {
        if (err)
            *err = -EPERM;
        return NULL;
    }
    return spawn_impl(l->rt, l->id, fn, arg, NULL, 2, NULL, 0, err);
}

CORIO_API int corio_yield(void) {
    corio__coro *c = corio__tls_coro;
    if (!c) {
        sched_yield();
        return 0;
    }
    if (corio__coro_stopped(c))
        return -ECANCELED;
    corio__loop_make_ready(c->loop, c);
    corio__coro_suspend(c);
    return corio__coro_stopped(c) ? -ECANCELED : 0;
}

CORIO_API int corio_sleep(double seconds) {
    if (seconds < 0 || seconds != seconds)
        return -EINVAL;
    /* The sleep's own end, and the scopes' limit if earlier: reaching the
     * scopes' limit is a timeout, reaching its own end is success. */
    int64_t own = seconds > 9.0e9 ? INT64_MAX : corio__now_ns() + (int64_t)(seconds * 1e9);
    int64_t deadline = corio__scope_clip(own);
    if (!corio__tls_coro && !corio__tls_thread_scope) {
        struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        return 0;
    }
    /* A park that nobody unparks: only the deadline or a cancel ends it
     * (a thread inside scopes parks too, so corio_scope_cancel wakes it). */
    corio__parker p;
    corio__parker_init(&p);
    corio__parker_what(&p, "sleep", NULL);
    for (;;) {
        int r = corio__parker_park(&p, deadline);
        if (r == -ETIMEDOUT || (r == 0 && corio__now_ns() >= deadline))
            return deadline < own ? -ETIMEDOUT : 0;
        if (r < 0)
            return r;
    }
}

CORIO_API bool corio_in_coroutine(void) { return corio__tls_coro != NULL; }

CORIO_API int corio_loop_id(void) {
    return corio__tls_coro && corio__tls_loop ? corio__tls_loop->id : -1;
}

CORIO_API uint64_t corio_coro_id(void) {
    corio__coro *c = corio__tls_coro;
    return c ? c->fiber.id : 0;
}

CORIO_API corio_runtime *corio_runtime_current(void) {
    return corio__tls_coro && corio__tls_loop ? corio__tls_loop->rt : NULL;
}

CORIO_API bool corio_cancel_requested(void) {
    corio__coro *c = corio__tls_coro;
    if (!c)
        return corio__scope_chain_stopped(corio__tls_thread_scope, 0);
    if (c->scope)
        return corio__coro_stopped(c);
    return c->cancelled || corio__future_cancel_requested(c->future);
}

const corio__coro_ops corio__coro_ops_default = {
    .launch = corio__coro_launch,
    .stack = corio__coro_stack,
    .free = corio__coro_free,
    .cancel_now = corio__coro_cancel_now,
    .interrupt = corio__coro_interrupt,
};
