/* corio — synchronisation objects for coroutines and threads: channel,
 * mutex, semaphore, event.
 *
 * Every object works across loops and threads at once. A blocking call made
 * inside a coroutine suspends only that coroutine (its loop keeps running);
 * made on a plain thread it blocks the thread. There is no flag to choose:
 * the calling context decides.
 *
 * Common rules:
 *  - Timeouts are relative seconds as a double: CORIO_FOREVER (any negative
 *    value) waits without limit, 0 fails at once with -ETIMEDOUT when the
 *    call would have to wait.
 *  - A blocking call returns 0, -ETIMEDOUT, -ECANCELED (the calling
 *    coroutine's cancellation was requested while it had to wait), or
 *    -EINVAL for a NULL object. A call that can complete without waiting
 *    completes even in a cancelled coroutine, exactly like
 *    corio_future_result on a done future.
 *  - Waiters are served first come, first served: what becomes available
 *    (an item, a free slot, the mutex, a semaphore unit) is handed to the
 *    longest waiter directly, so a newcomer never overtakes it.
 *  - _destroy may be called only when no call on the object is in progress
 *    or can still start (join the threads and coroutines that use it
 *    first). It returns -EBUSY, freeing nothing, if it finds waiters.
 *
 * To wait for the first of several futures, use corio_wait with
 * CORIO_FIRST_COMPLETED (or corio_as_completed): no select object is needed.
 */
#ifndef CORIO_SYNC_H
#define CORIO_SYNC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Channel                                                                    */

/** A bounded multi-producer multi-consumer FIFO of `void *` items. */
typedef struct corio_channel corio_channel;

/** Create a channel holding up to `capacity` items (0: rendezvous, each
 * send waits for a receiver to take its item). Stores it in *out (owned by
 * the caller; release with corio_channel_destroy). Returns 0, -EINVAL
 * (out NULL), -ENOMEM. */
CORIO_API int corio_channel_create(size_t capacity, corio_channel **out);

/** Free the channel. Items still buffered are not freed (the library never
 * frees what it did not allocate): drain them with corio_channel_try_recv
 * first if they own memory. Returns 0, -EBUSY if senders or receivers are
 * still waiting (nothing is freed). NULL is ignored (returns 0). */
CORIO_API int corio_channel_destroy(corio_channel *ch);

/** Send `item` (any pointer, NULL included; the channel only carries it).
 * Waits while the channel is full (for capacity 0: until a receiver takes
 * the item). Returns 0 once the item is in the channel or received,
 * -EPIPE if the channel is or gets closed before that (the item was not
 * sent and still belongs to the caller), -ETIMEDOUT, -ECANCELED, -EINVAL. */
CORIO_API int corio_channel_send(corio_channel *ch, void *item, double timeout);

/** Receive the oldest item into *item (may be NULL to discard it). Waits
 * while the channel is empty. After close, remaining items are still
 * received; then -EPIPE. Returns 0, -EPIPE, -ETIMEDOUT, -ECANCELED,
 * -EINVAL. */
CORIO_API int corio_channel_recv(corio_channel *ch, void **item, double timeout);

/** Send without waiting: 0, -EAGAIN (full; for capacity 0: no receiver
 * waiting), -EPIPE (closed), -EINVAL. */
CORIO_API int corio_channel_try_send(corio_channel *ch, void *item);

/** Receive without waiting: 0, -EAGAIN (empty), -EPIPE (closed and
 * empty), -EINVAL. */
CORIO_API int corio_channel_try_recv(corio_channel *ch, void **item);

/** Close the channel: later sends fail with -EPIPE, waiting senders return
 * -EPIPE, waiting receivers return -EPIPE (they wait only when nothing is
 * buffered), and receivers drain the buffered items before seeing -EPIPE.
 * Idempotent. Returns 0, -EINVAL. */
CORIO_API int corio_channel_close(corio_channel *ch);

/** Number of buffered items (a snapshot), 0 for NULL. */
CORIO_API size_t corio_channel_len(corio_channel *ch);

/** The capacity given to create, 0 for NULL. */
CORIO_API size_t corio_channel_capacity(const corio_channel *ch);

/* ------------------------------------------------------------------------ */
/* Mutex                                                                      */

/** A non-recursive mutual-exclusion lock owned by a coroutine or a thread. */
typedef struct corio_mutex corio_mutex;

/** Create an unlocked mutex in *out (owned by the caller; release with
 * corio_mutex_destroy). Returns 0, -EINVAL, -ENOMEM. */
CORIO_API int corio_mutex_create(corio_mutex **out);

/** Free the mutex. Returns 0, -EBUSY if it is locked or has waiters
 * (nothing is freed). NULL is ignored. */
CORIO_API int corio_mutex_destroy(corio_mutex *m);

/** Lock, waiting up to `timeout`. The owner is the calling coroutine, or
 * the calling thread outside coroutines. Returns 0, -EDEADLK (the caller
 * already owns it), -ETIMEDOUT, -ECANCELED, -EINVAL. */
CORIO_API int corio_mutex_lock(corio_mutex *m, double timeout);

/** Lock without waiting: 0, -EBUSY (locked by someone, the caller
 * included), -EINVAL. */
CORIO_API int corio_mutex_trylock(corio_mutex *m);

/** Unlock; the longest waiter, if any, becomes the owner. Returns 0,
 * -EPERM (the caller is not the owner, or it is unlocked), -EINVAL. */
CORIO_API int corio_mutex_unlock(corio_mutex *m);

/* ------------------------------------------------------------------------ */
/* Semaphore                                                                  */

/** A counting semaphore (Python's threading.Semaphore). */
typedef struct corio_semaphore corio_semaphore;

/** Create a semaphore with `value` units in *out (owned by the caller;
 * release with corio_semaphore_destroy). Returns 0, -EINVAL, -ENOMEM. */
CORIO_API int corio_semaphore_create(unsigned value, corio_semaphore **out);

/** Free the semaphore. Returns 0, -EBUSY if it has waiters. NULL is
 * ignored. */
CORIO_API int corio_semaphore_destroy(corio_semaphore *s);

/** Take one unit, waiting up to `timeout` while none is available.
 * Returns 0, -ETIMEDOUT, -ECANCELED, -EINVAL. */
CORIO_API int corio_semaphore_acquire(corio_semaphore *s, double timeout);

/** Take one unit without waiting: 0, -EAGAIN (none), -EINVAL. */
CORIO_API int corio_semaphore_try_acquire(corio_semaphore *s);

/** Add `n` units (n >= 1), handing them to the longest waiters first; any
 * thread or coroutine may release, owner or not. Returns 0, -EINVAL (NULL
 * or n == 0), -EOVERFLOW (the count would exceed UINT_MAX; nothing
 * changed). */
CORIO_API int corio_semaphore_release(corio_semaphore *s, unsigned n);

/** Units available now (a snapshot), 0 for NULL. */
CORIO_API unsigned corio_semaphore_value(corio_semaphore *s);

/* ------------------------------------------------------------------------ */
/* Event                                                                      */

/** A flag that can be waited for (Python's threading.Event). */
typedef struct corio_event corio_event;

/** Create a clear event in *out (owned by the caller; release with
 * corio_event_destroy). Returns 0, -EINVAL, -ENOMEM. */
CORIO_API int corio_event_create(corio_event **out);

/** Free the event. Returns 0, -EBUSY if it has waiters. NULL is ignored. */
CORIO_API int corio_event_destroy(corio_event *e);

/** Set the flag and wake every waiter. Returns 0, -EINVAL. */
CORIO_API int corio_event_set(corio_event *e);

/** Clear the flag. Waiters already woken by set still return 0. Returns
 * 0, -EINVAL. */
CORIO_API int corio_event_clear(corio_event *e);

/** Wait until the flag is set (returns at once if it is). Returns 0 (set,
 * or set while waiting even if cleared since), -ETIMEDOUT, -ECANCELED,
 * -EINVAL. */
CORIO_API int corio_event_wait(corio_event *e, double timeout);

/** Is the flag set? False for NULL. Lock-free. */
CORIO_API bool corio_event_is_set(const corio_event *e);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_SYNC_H */
