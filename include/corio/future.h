/* corio — futures, and waiting on several of them.
 *
 * A corio_future is the eventual outcome of something that runs elsewhere: a
 * thread-pool job, a process-pool job, a coroutine or an I/O operation. It
 * follows Python's concurrent.futures.Future exactly:
 *
 *     PENDING ──set_running_or_notify_cancel──▶ RUNNING ──set_result/──▶ FINISHED
 *        │                                              set_exception
 *        └──cancel──▶ CANCELLED
 *
 * (PENDING can also finish directly with set_result/set_exception.)
 *
 * Futures are reference counted and thread safe; every function may be
 * called from any thread or coroutine. Blocking calls (result, exception,
 * wait, as_completed) suspend the calling coroutine when called inside one
 * and block the calling thread otherwise.
 */
#ifndef CORIO_FUTURE_H
#define CORIO_FUTURE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque, reference-counted future. */
typedef struct corio_future corio_future;

/** The four states of a future. */
typedef enum corio_future_state {
    CORIO_PENDING = 0,   /**< not started; can still be cancelled */
    CORIO_RUNNING = 1,   /**< started; can no longer be cancelled (by Python's rules) */
    CORIO_CANCELLED = 2, /**< cancelled before it ran; done */
    CORIO_FINISHED = 3,  /**< has a result or a failure; done */
} corio_future_state;

/** A done-callback: called once with the future when it is done.
 * A negative return is logged to stderr and ignored; later callbacks still run. */
typedef int (*corio_done_fn)(corio_future *f, void *arg);

/** Create a pending future with one reference, owned by the caller.
 * Returns NULL when memory is exhausted. */
CORIO_API corio_future *corio_future_create(void);

/** Take another reference; returns `f`. NULL is accepted and returned. */
CORIO_API corio_future *corio_future_ref(corio_future *f);

/** Drop a reference. The last one frees the future and runs the result's
 * destructor, if any. NULL is accepted and ignored. */
CORIO_API void corio_future_unref(corio_future *f);

/** The current state; CORIO_PENDING for a NULL future. */
CORIO_API corio_future_state corio_future_state_get(const corio_future *f);

/** Attempt to cancel. Returns true when the future is (now) cancelled: it was
 * pending, or already cancelled. Returns false when it is running or
 * finished (or f is NULL). Cancelling wakes every waiter and runs the
 * done-callbacks. Two exceptions can be cancelled while running: a future
 * created by corio_spawn (a running coroutine gets a cancel request, see
 * corio/runtime.h), and a process-pool job when the pool has
 * cancel_kills_running (its worker is killed and replaced); cancel then
 * returns true at once and the future completes later. */
CORIO_API bool corio_future_cancel(corio_future *f);

/** True when cancelled. */
CORIO_API bool corio_future_cancelled(const corio_future *f);
/** True when running (started and not done). */
CORIO_API bool corio_future_running(const corio_future *f);
/** True when cancelled or finished. */
CORIO_API bool corio_future_done(const corio_future *f);

/** Wait up to `timeout` seconds (CORIO_FOREVER: no limit, 0: poll) for the
 * future, then report its outcome.
 *
 * Returns 0 and stores the result pointer in `*out` (when out is not NULL)
 * if it finished successfully; the pointer stays owned by the future and is
 * valid while the caller holds a reference. Otherwise returns:
 *  - the task's own negative failure code (see corio_future_exception for the message),
 *  - -ECANCELED if the future was cancelled,
 *  - -ETIMEDOUT if it is not done when the timeout expires (the future is not
 *    touched; call again to keep waiting),
 *  - -ECANCELED also when the calling coroutine is cancelled while it waits
 *    (the future is not touched; corio_future_cancelled() tells the two
 *    apart),
 *  - -EINVAL if f is NULL.
 * A task may itself fail with -ETIMEDOUT; corio_future_done() tells the two apart. */
CORIO_API int corio_future_result(corio_future *f, double timeout, void **out);

/** Like corio_future_result, but hands out the whole value: pointer and
 * length (for byte results from the process pool or I/O). The value stays
 * owned by the future. */
CORIO_API int corio_future_result_value(corio_future *f, double timeout, corio_value *out);

/** Wait like corio_future_result, then report the failure, if any.
 *
 * Returns 0 when the future finished successfully (no exception), the task's
 * negative failure code when it failed (storing its message, owned by the
 * future and valid while the caller holds a reference, in `*message` when
 * message is not NULL; "" if the failure has no message), -ECANCELED (or
 * CORIO_ECANCELLED_BY_EXECUTOR when an executor shutdown cancelled it) if
 * cancelled, -ETIMEDOUT if not done in time, -EINVAL if f is NULL. */
CORIO_API int corio_future_exception(corio_future *f, double timeout, const char **message);

/** Register `fn(f, arg)` to run when the future is done. Callbacks run once,
 * in registration order, on the thread that completes the future, or at once
 * in the caller when the future is already done.
 * Returns 0, -EINVAL (NULL f or fn) or -ENOMEM. If this call fails the
 * callback never runs. */
CORIO_API int corio_future_add_done_callback(corio_future *f, corio_done_fn fn, void *arg);

/** For executors and other producers: mark the future running.
 * Returns 1 when it moved PENDING → RUNNING, 0 when it was cancelled (the
 * caller must then not run the work; waiters have been woken), and
 * CORIO_EINVALID_STATE when it is already running or finished. */
CORIO_API int corio_future_set_running_or_notify_cancel(corio_future *f);

/** Complete the future with a result. `dtor` (may be NULL) is called with
 * `value` when the last reference goes. Returns 0, -EINVAL for NULL, or
 * CORIO_EINVALID_STATE when the future is already done — in that case the
 * value is not taken and dtor is not called. */
CORIO_API int corio_future_set_result(corio_future *f, void *value, void (*dtor)(void *));

/** Complete the future with a whole value (pointer, length, destructor);
 * same rules as corio_future_set_result. */
CORIO_API int corio_future_set_value(corio_future *f, const corio_value *value);

/** Complete the future with a failure: `code` (negative; a non-negative code
 * is stored as CORIO_ETASK) and a printf-style message (fmt may be NULL).
 * Returns 0, -EINVAL, -ENOMEM (the failure is still set, without message)
 * or CORIO_EINVALID_STATE when already done. */
CORIO_API int corio_future_set_exception(corio_future *f, int code, const char *fmt, ...)
    CORIO_PRINTF(3, 4);

/* ------------------------------------------------------------------------ */
/* Waiting on several futures                                                */

/** When corio_wait returns (Python's return_when). */
typedef enum corio_return_when {
    CORIO_FIRST_COMPLETED = 0, /**< as soon as any future is done */
    CORIO_FIRST_EXCEPTION = 1, /**< as soon as any future fails, or all are done */
    CORIO_ALL_COMPLETED = 2,   /**< when every future is done */
} corio_return_when;

/** Wait for the `n` futures in `fs` (duplicates count once) and partition
 * them, like Python's concurrent.futures.wait.
 *
 * On return, `done` (may be NULL) holds the done futures and `not_done`
 * (may be NULL) the others, each deduplicated, in input order; both arrays
 * must have room for n entries. Their counts go to `*n_done` and
 * `*n_not_done`. The arrays borrow the caller's references; nothing is
 * ref'd or unref'd. Cancelled futures count as done, and with
 * FIRST_EXCEPTION a cancelled future does not count as a failure.
 *
 * Returns 0 when the condition was met, -ETIMEDOUT when the timeout expired
 * first (the partition is still filled in), -ECANCELED when the calling
 * coroutine is cancelled while it waits, -EINVAL for bad arguments (NULL
 * fs with n > 0, a NULL entry, an unknown return_when), -ENOMEM.
 * Cost: one waiter registration per distinct future, no polling. */
CORIO_API int corio_wait(corio_future *const *fs, size_t n, double timeout,
                         corio_return_when return_when, corio_future **done, size_t *n_done,
                         corio_future **not_done, size_t *n_not_done);

/** An iterator over futures in completion order (Python's as_completed). */
typedef struct corio_as_completed corio_as_completed;

/** Start iterating over `n` futures: already-done ones are yielded first (in
 * input order), then the rest in completion order, each distinct future once.
 * `timeout` counts from this call. The iterator takes its own reference to
 * each future. Returns NULL on bad arguments (errno is not used; use
 * corio_as_completed_create2 for the code) or memory exhaustion. */
CORIO_API corio_as_completed *corio_as_completed_create(corio_future *const *fs, size_t n,
                                                        double timeout);

/** Same as corio_as_completed_create, reporting the error: returns 0 and
 * stores the iterator in *out, or -EINVAL / -ENOMEM. */
CORIO_API int corio_as_completed_create2(corio_future *const *fs, size_t n, double timeout,
                                         corio_as_completed **out);

/** Next done future, blocking (or suspending) until one is done.
 * Returns 1 and stores it in *out (a borrowed reference, valid until the
 * iterator is destroyed; take corio_future_ref to keep it longer), 0 when
 * every future has been yielded, -ETIMEDOUT when the timeout expired first
 * (see corio_as_completed_pending for how many remain), -ECANCELED when the
 * calling coroutine is cancelled while it waits, -EINVAL for NULL. */
CORIO_API int corio_as_completed_next(corio_as_completed *it, corio_future **out);

/** How many futures have not been yielded yet; with `total` (may be NULL)
 * set to the number of distinct futures. Used to build Python's
 * "N (of M) futures unfinished" timeout message. */
CORIO_API size_t corio_as_completed_pending(const corio_as_completed *it, size_t *total);

/** Release the iterator and its references. NULL is ignored. */
CORIO_API void corio_as_completed_destroy(corio_as_completed *it);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_FUTURE_H */
