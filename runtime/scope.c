/* corio — cancel scopes, deadlines and shields.
 *
 * A scope is a record on its owner's stack, linked into the owner's chain
 * (innermost first): a coroutine's chain hangs off its record (c->scope),
 * a plain thread's off corio__tls_thread_scope. Nothing here blocks or
 * wakes by itself; the scopes act through the two points every blocking
 * call already passes:
 *
 *   - the deadline: corio__deadline, corio__parker_park and
 *     corio__loop_await clip theirs to the innermost scope's `limit`,
 *     computed once at enter (the earliest of the scope's own deadline and
 *     its parent's limit, the parent left out for a shield);
 *   - the cancel check: where a coroutine's blocking call asked "is this
 *     coroutine cancelled?", it now asks corio__coro_stopped, which walks
 *     the chain up to the innermost shield (a few scopes at most); a
 *     plain thread's park asks the same of the thread's chain.
 *
 * Cancelling a scope sets its flag, then wakes the owner if it is blocked:
 * a coroutine through its loop (corio__coro_kick: directly on the loop's
 * own thread, else through a message embedded in the coroutine), a plain
 * thread by unparking the parker it published (corio__parker_kick_thread).
 *
 * Lifetime against a concurrent exit: the canceller reaches the owner
 * through the scope, which lives on the owner's stack. `guard` makes that
 * safe: the canceller moves it 0 -> 1 (entered -> busy) before touching
 * the owner and back to 0 after, exit moves it 0 -> 2 (left) and spins
 * while it is 1. So while the canceller holds 1 the scope is entered,
 * hence its owner alive; once exit won, cancellers see 2 and do nothing.
 * The owner's coroutine record itself stays valid after the kick message
 * was posted: its free waits for msg_posted to clear (loop.c).
 *
 * Cost: enter is a few plain stores; exit one compare-and-swap (and a
 * clock read when the scope has a deadline). Code outside scopes pays the
 * `corio__tls_nscopes == 0` branch per blocking call and, in coroutines,
 * the `c->scope == NULL` branch per cancel check.
 */
#include <errno.h>

#include "corio/scope.h"
#include "loop.h"

_Static_assert(sizeof(corio__scope) <= sizeof(corio_scope), "corio_scope too small");
_Static_assert(_Alignof(corio__scope) <= 8, "corio_scope under-aligned");

enum { GUARD_ENTERED = 0, GUARD_BUSY = 1, GUARD_LEFT = 2 };

CORIO_API int64_t corio_now_ns(void) { return corio__now_ns(); }

static int enter(corio_scope *ps, int64_t deadline, int shield) {
    if (!ps)
        return -EINVAL;
    corio__scope *s = (corio__scope *)(void *)ps;
    corio__coro *c = corio__tls_coro;
    corio__scope *parent = c ? c->scope : corio__tls_thread_scope;
    s->parent = parent;
    s->deadline = deadline;
    s->limit = !shield && parent && parent->limit < deadline ? parent->limit : deadline;
    s->coro = c;
    s->thread = c ? NULL : corio__parker_thread_self();
    /* Relaxed: nobody else can see s before the caller shares it, and the
     * caller's sharing (a store, a message) publishes these stores. */
    atomic_store_explicit(&s->cancel, 0, memory_order_relaxed);
    atomic_store_explicit(&s->guard, GUARD_ENTERED, memory_order_relaxed);
    s->shield = shield;
    s->status = 0;
    if (c)
        c->scope = s;
    else
        corio__tls_thread_scope = s;
    corio__tls_nscopes++;
    return 0;
}

CORIO_API int corio_scope_enter(corio_scope *s, int64_t deadline_ns) {
    return enter(s, deadline_ns, 0);
}

CORIO_API int corio_shield_enter(corio_scope *s, int64_t deadline_ns) {
    return enter(s, deadline_ns, 1);
}

CORIO_API int corio_scope_enter_timeout(corio_scope *s, double timeout) {
    if (timeout != timeout)
        return -EINVAL;
    /* Not corio__deadline: that clips to the current scope already, which
     * enter does itself (and must not, for a shield). */
    int64_t d = timeout < 0 || timeout > 9.0e9 ? CORIO_NO_DEADLINE
                                               : corio__now_ns() + (int64_t)(timeout * 1e9);
    return enter(s, d, 0);
}

static int outcome(const corio__scope *s) {
    if (atomic_load_explicit(&s->cancel, memory_order_acquire))
        return -ECANCELED;
    if (s->deadline != CORIO_NO_DEADLINE && corio__now_ns() >= s->deadline)
        return -ETIMEDOUT;
    return 0;
}

CORIO_API int corio_scope_exit(corio_scope *ps) {
    if (!ps)
        return -EINVAL;
    corio__scope *s = (corio__scope *)(void *)ps;
    corio__coro *c = corio__tls_coro;
    if ((c ? c->scope : corio__tls_thread_scope) != s)
        return -EINVAL;
    /* Wait out a canceller that is waking us (it holds GUARD_BUSY for a
     * few instructions); acquire pairs with its release of the guard, so
     * its cancel flag is seen by outcome() below. */
    int g = GUARD_ENTERED;
    while (!atomic_compare_exchange_weak_explicit(&s->guard, &g, GUARD_LEFT, memory_order_acq_rel,
                                                  memory_order_acquire)) {
        g = GUARD_ENTERED;
        corio__cpu_relax();
    }
    s->status = outcome(s);
    if (c)
        c->scope = s->parent;
    else
        corio__tls_thread_scope = s->parent;
    corio__tls_nscopes--;
    return s->status;
}

CORIO_API void corio_scope_cancel(corio_scope *ps) {
    if (!ps)
        return;
    corio__scope *s = (corio__scope *)(void *)ps;
    int g = GUARD_ENTERED;
    while (!atomic_compare_exchange_weak_explicit(&s->guard, &g, GUARD_BUSY, memory_order_acquire,
                                                  memory_order_acquire)) {
        if (g == GUARD_LEFT)
            return; /* left: its outcome is settled */
        g = GUARD_ENTERED;
        corio__cpu_relax();
    }
    /* The flag before the wake: a woken owner re-checks its scopes and
     * must find it (release pairs with the acquire in the chain walk). */
    atomic_store_explicit(&s->cancel, 1, memory_order_release);
    if (s->coro)
        corio__coro_kick(s->coro);
    else
        corio__parker_kick_thread(s->thread);
    atomic_store_explicit(&s->guard, GUARD_ENTERED, memory_order_release);
}

CORIO_API int corio_scope_status(const corio_scope *ps) {
    if (!ps)
        return -EINVAL;
    const corio__scope *s = (const corio__scope *)(const void *)ps;
    if (atomic_load_explicit(&s->guard, memory_order_acquire) == GUARD_LEFT)
        return s->status;
    return outcome(s);
}

CORIO_API int64_t corio_scope_deadline(void) { return corio__scope_clip(CORIO_NO_DEADLINE); }
