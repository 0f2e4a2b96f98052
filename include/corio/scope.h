/* corio — cancel scopes, deadlines and shields; task groups.
 *
 * A cancel scope bounds a stretch of code run by one coroutine or one
 * plain thread: every blocking corio call made inside it (future results,
 * corio_wait, as_completed and map iterators, channels, mutexes,
 * semaphores, events, I/O, corio_sleep, group joins) ends at the scope's
 * deadline with -ETIMEDOUT, and with -ECANCELED once the scope is
 * cancelled. Scopes nest: a call's effective deadline is the earliest of
 * its own timeout and the deadlines of every scope around it. Cancelling a
 * scope ends only the calls made inside it; the code after the scope runs
 * normally, and corio_scope_exit / corio_scope_status tell whether the
 * scope was cancelled or timed out.
 *
 * THE SHIELD RULE. A shield is a scope that holds off every cancellation
 * from outside it: the cancel of an outer scope, the deadline of an outer
 * scope, and the cancel of the coroutine itself (corio_future_cancel,
 * runtime shutdown or drain). Inside a shield only the shield's own
 * deadline, a corio_scope_cancel of the shield itself, and the scopes
 * entered inside the shield apply. A cancel held off is not lost: once the
 * shield is left, the next blocking call sees it. Use a shield, with a
 * deadline, for cleanup after a cancel: joining children, a goodbye
 * message, a clean TLS close.
 *
 *     corio_scope s;
 *     corio_scope_enter_timeout(&s, 2.0);      // everything below: 2 s at most
 *     int r = corio_future_result(f, -1, &v);  // -ETIMEDOUT after 2 s
 *     if (corio_scope_exit(&s) == -ETIMEDOUT) ...
 *
 * Scopes are caller-embedded (usually on the stack) and strictly nested:
 * a context leaves its scopes in the reverse order it entered them, before
 * the coroutine or job returns. They cost nothing to code that does not
 * use them, and a few nanoseconds to enter and leave.
 */
#ifndef CORIO_SCOPE_H
#define CORIO_SCOPE_H

#include <stdint.h>

#include "common.h"
#include "executor.h"
#include "future.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** No deadline (the largest CLOCK_MONOTONIC time). */
#define CORIO_NO_DEADLINE INT64_MAX

/** A cancel scope or shield. Embed it (on the stack, in a struct); its
 * contents are private. Valid from corio_scope_enter until the caller
 * stops using it after corio_scope_exit. */
typedef struct corio_scope {
    _Alignas(8) unsigned char opaque_[64]; /**< private */
} corio_scope;

/** Nanoseconds on CLOCK_MONOTONIC, the clock of every corio deadline. */
CORIO_API int64_t corio_now_ns(void);

/** Enter scope s, with an absolute deadline (ns on CLOCK_MONOTONIC, see
 * corio_now_ns; CORIO_NO_DEADLINE: none; a past deadline makes every
 * blocking call inside return -ETIMEDOUT unless it completes at once).
 * The scope applies to the calling coroutine, or the calling thread
 * outside coroutines. Returns 0, or -EINVAL for a NULL s.
 * Lifetime: s must stay valid and in place until corio_scope_exit(s). */
CORIO_API int corio_scope_enter(corio_scope *s, int64_t deadline_ns);

/** corio_scope_enter with a deadline `timeout` seconds from now (negative:
 * none). Returns 0, -EINVAL for a NULL s or a NaN timeout. */
CORIO_API int corio_scope_enter_timeout(corio_scope *s, double timeout);

/** Enter a shield: a scope that holds off every cancellation and deadline
 * from outside it (see THE SHIELD RULE above); its own deadline
 * (CORIO_NO_DEADLINE: none) still applies, and it can be cancelled itself.
 * Returns 0 or -EINVAL. Lifetime: as corio_scope_enter. */
CORIO_API int corio_shield_enter(corio_scope *s, int64_t deadline_ns);

/** Leave scope s, which must be the innermost scope the caller (this
 * coroutine, or this thread) entered. Returns the scope's outcome:
 * -ECANCELED if it was cancelled, else -ETIMEDOUT if its own deadline had
 * passed when it was left, else 0; -EINVAL (nothing done) when s is NULL
 * or not the caller's innermost scope. A canceller running at that moment
 * on another thread is waited for (it holds on for a few instructions). */
CORIO_API int corio_scope_exit(corio_scope *s);

/** Cancel scope s: every blocking call inside it, now or later, returns
 * -ECANCELED until the scope is left (shields inside it hold that off).
 * Any thread or coroutine may call it, any number of times; after
 * corio_scope_exit it does nothing. A coroutine blocked inside s is woken
 * at once; so is a plain thread blocked on a future, corio_wait, an
 * iterator, a sync object or corio_sleep. A plain thread blocked in an
 * I/O call (a poll or read in the kernel) is not woken: the cancel takes
 * effect at its next blocking call, its deadline still holds.
 * Lifetime: s must have been entered, and its memory must stay valid
 * until this call returns (the caller arranges that with the owner). */
CORIO_API void corio_scope_cancel(corio_scope *s);

/** The outcome of s so far (inside it) or for good (after exit): as the
 * return of corio_scope_exit. -EINVAL for NULL. */
CORIO_API int corio_scope_status(const corio_scope *s);

/** The deadline that applies to the caller's blocking calls now (the
 * innermost scope's effective deadline), CORIO_NO_DEADLINE if none. For
 * code that hands a deadline to something corio does not manage. */
CORIO_API int64_t corio_scope_deadline(void);

/* ------------------------------------------------------------------------ */
/* Task groups                                                                */

/** A task group (a nursery): coroutines and executor jobs it owns. Opaque;
 * corio_group_create / corio_group_destroy. */
typedef struct corio_group corio_group;

/** What a group does when a child fails. */
typedef enum corio_group_policy {
    /** Default: the first child failure cancels every other child; join
     * reports that failure. */
    CORIO_GROUP_FAIL_FAST = 0,
    /** Every child runs to its end; join reports the first failure, and
     * each child's outcome is read from its future. */
    CORIO_GROUP_COLLECT_ALL = 1,
} corio_group_policy;

/** Create an empty group, from a coroutine or a thread. Returns 0 and the
 * group in *out (the caller's; corio_group_destroy), -EINVAL (NULL out,
 * unknown policy) or -ENOMEM. */
CORIO_API int corio_group_create(corio_group_policy policy, corio_group **out);

/** Spawn fn(arg) as a child coroutine of g on loop `loop` of rt (as
 * corio_spawn_on: -1 is the calling coroutine's loop, else loop 0). rt may
 * be NULL inside a coroutine (its own runtime). Returns 0, storing a new
 * reference to the child's future in *f when f is not NULL (the caller
 * unrefs it); -EINVAL, -ENOMEM, CORIO_ESHUTDOWN (runtime stopping or
 * draining), or -ECANCELED when g is already cancelled (nothing spawned).
 * Any thread or coroutine, also a child of g. */
CORIO_API int corio_group_spawn_on(corio_group *g, corio_runtime *rt, int loop, corio_fn fn,
                                   void *arg, const corio_spawn_options *opts, corio_future **f);

/** corio_group_spawn_on on the calling coroutine's runtime and loop (or
 * loop 0 of rt from a thread: use corio_group_spawn_on). */
CORIO_API int corio_group_spawn(corio_group *g, corio_fn fn, void *arg, corio_future **f);

/** Attach an executor job (or any future) to g: the group holds its own
 * reference, join waits for it, and cancelling the group cancels it: a
 * job still queued is cancelled; a running thread-pool job cannot be
 * stopped, so the group waits for it to finish (a process-pool job of a
 * pool with cancel_kills_running is killed). Returns 0, -EINVAL,
 * -ENOMEM, or -ECANCELED when g is already cancelled (f is then cancelled
 * too, which fails for a running job). */
CORIO_API int corio_group_attach(corio_group *g, corio_future *f);

/** Wait until every child of g has ended (children spawned meanwhile
 * included), at most `timeout` seconds (negative: no limit; the caller's
 * cancel scopes apply). Returns 0 when every child ended without failure
 * (cancelled children are not failures), else the first failure's code;
 * -ETIMEDOUT (children keep running: join again or destroy), -ECANCELED
 * when the caller was cancelled (the children are then cancelled as well:
 * they were its work; join again to wait for them), -EDEADLK when called
 * from one of g's own child coroutines (it would wait for itself), -EBUSY
 * when another join is in progress, -EINVAL for NULL or a NaN timeout. */
CORIO_API int corio_group_join(corio_group *g, double timeout);

/** Cancel every child of g, now and spawned later (corio_group_spawn then
 * returns -ECANCELED). Returns the number of futures this call cancelled.
 * Any thread. */
CORIO_API size_t corio_group_cancel(corio_group *g);

/** The future of the first child that failed (a borrowed reference, valid
 * until corio_group_destroy), or NULL. */
CORIO_API corio_future *corio_group_first_failure(corio_group *g);

/** Number of children ever added to g (spawned or attached). */
CORIO_API size_t corio_group_size(corio_group *g);

/** The future of child i (0 <= i < size, in the order they were added), a
 * borrowed reference valid until corio_group_destroy; NULL out of range. */
CORIO_API corio_future *corio_group_child(corio_group *g, size_t i);

/** Destroy g: cancel the children still running, wait for all of them
 * (shielded: a cancel of the caller does not cut this wait short, so no
 * child outlives its group), and free everything. Must not be called from
 * a child of g (-EDEADLK is not possible here: that is a bug, reported on
 * stderr and the children are not waited for). NULL is ignored. */
CORIO_API void corio_group_destroy(corio_group *g);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_SCOPE_H */
