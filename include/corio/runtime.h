/* corio — the coroutine runtime: one io_uring event loop per core, each
 * hosting stackful coroutines.
 *
 * A coroutine is a corio_fn run on its own stack by a loop. Inside it, every
 * blocking corio call (corio_future_result, corio_wait, the as_completed and
 * map iterators, the I/O calls of corio/io.h, the sync objects of
 * corio/sync.h) suspends just the coroutine: its loop runs others meanwhile.
 * A coroutine never moves to another loop. Its outcome is a corio_future,
 * awaitable from threads and from other coroutines alike.
 */
#ifndef CORIO_RUNTIME_H
#define CORIO_RUNTIME_H

#include "common.h"
#include "executor.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque runtime: N loops on N threads. */
typedef struct corio_runtime corio_runtime;

/** The most loops one runtime may have (corio_runtime_create: -EINVAL above). */
#define CORIO_LOOPS_MAX 4096

/** Options for corio_runtime_create. Zero-initialise, then set fields. */
typedef struct corio_runtime_options {
    int loops;             /**< number of loops (threads); 0: usable CPUs; negative or > CORIO_LOOPS_MAX: -EINVAL */
    size_t stack_size;     /**< default coroutine stack size in bytes; 0: 256 KiB */
    unsigned ring_entries; /**< SQ entries per io_uring (rounded up to a power of 2; CQ is 4x); 0: 256; more than 32768: -EINVAL */
    bool no_pin;           /**< do not pin loop k to CPU k (pinning is the default) */
    int blocking_workers;  /**< max workers of the runtime's blocking pool (corio_to_thread); 0: default */
} corio_runtime_options;

/** Start a runtime: create the loops and start their threads. Returns 0 and
 * stores it in *out (owned by the caller; release with
 * corio_runtime_destroy), -EINVAL (bad options), -EMFILE at once when
 * RLIMIT_NOFILE cannot hold 2 descriptors per loop plus a margin of 16,
 * -ENOMEM, or an -errno from io_uring setup (e.g. -ENOSYS when io_uring
 * is unavailable) or thread creation (-EAGAIN). A coroutine stack that
 * cannot be mapped fails that coroutine's spawn, not the runtime. */
CORIO_API int corio_runtime_create(const corio_runtime_options *opts, corio_runtime **out);

/** Stop the runtime: cancel every coroutine still running (their blocked
 * calls return -ECANCELED), wait for them to finish, stop the loops, join
 * their threads, and free every stack and ring. Must not be called from one
 * of the runtime's own coroutines or loop threads. NULL is ignored. */
CORIO_API void corio_runtime_destroy(corio_runtime *rt);

/** What corio_runtime_drain did. */
typedef struct corio_drain_summary {
    size_t finished;  /**< coroutines that ended by themselves during the drain */
    size_t cancelled; /**< coroutines still running at the deadline, cancelled then */
    size_t jobs_finished;  /**< blocking-pool jobs that ran to their end during the drain */
    size_t jobs_cancelled; /**< blocking-pool jobs still queued at the deadline, cancelled */
    bool timed_out;   /**< the deadline passed with coroutines or blocking jobs left */
} corio_drain_summary;

/** Drain rt gracefully: stop accepting new work (from now on spawns on rt
 * fail with CORIO_ESHUTDOWN, and what registered to be told, such as
 * listeners, closes), let the coroutines already running finish until
 * `deadline_ns` (absolute, CLOCK_MONOTONIC, see corio_now_ns in
 * corio/scope.h), then cancel those still running and wait for them to
 * end (a cancelled coroutine ends at its next blocking call; one that
 * never blocks, or cleans up in a shield without a deadline, holds the
 * drain up). Then the blocking pool (corio_to_thread) is shut down: its
 * jobs, queued or running, may finish until the deadline; then the queued
 * ones are cancelled, and a running one is left to finish (a thread
 * cannot be stopped).
 * The loops keep running; release rt with corio_runtime_destroy.
 * Call from a plain thread or a coroutine of another runtime.
 * Returns 0 and, if out is not NULL, the counts in *out; -EINVAL (NULL
 * rt), -EPERM (called from one of rt's loops), -EALREADY (a second
 * drain). */
CORIO_API int corio_runtime_drain(corio_runtime *rt, int64_t deadline_ns,
                                  corio_drain_summary *out);

/** Number of loops of rt. */
CORIO_API int corio_runtime_loops(const corio_runtime *rt);

/** Options for one spawn. */
typedef struct corio_spawn_options {
    size_t stack_size; /**< this coroutine's stack size; 0: the runtime's default */
} corio_spawn_options;

/** Run fn(arg) as a new coroutine on loop `loop` (0 <= loop < loops; -1:
 * the calling coroutine's loop if that coroutine belongs to rt, else loop
 * 0) of rt. Any thread or
 * coroutine may call it. Returns the coroutine's future (a new reference
 * owned by the caller): its result is what fn stored in *out, or fn's
 * failure code and message; cancelled if it was cancelled before it started
 * or returned -ECANCELED after a cancel request. Returns NULL with *err set
 * to -EINVAL, -ENOMEM or CORIO_ESHUTDOWN (runtime stopping). opts may be
 * NULL. */
CORIO_API corio_future *corio_spawn_on(corio_runtime *rt, int loop, corio_fn fn, void *arg,
                                       const corio_spawn_options *opts, int *err);

/** Spawn on the calling coroutine's own loop (inside a coroutine only;
 * otherwise NULL with *err = -EPERM). */
CORIO_API corio_future *corio_spawn(corio_fn fn, void *arg, int *err);

/** Create a runtime with default options, run fn(arg) as its main
 * coroutine on loop 0, wait for it, destroy the runtime, and return the
 * coroutine's outcome: 0 with its result value in *result (may be NULL;
 * the value's destructor, if any, becomes the caller's to call), or its
 * failure code. Like asyncio.run, except that the failure's message (see
 * corio_task_fail) is lost with the coroutine's future: a caller that wants
 * it spawns the coroutine with corio_spawn_on on its own runtime and reads
 * corio_future_exception. */
CORIO_API int corio_run(corio_fn fn, void *arg, corio_value *result);

/** Same as corio_run with options. */
CORIO_API int corio_run_with(const corio_runtime_options *opts, corio_fn fn, void *arg,
                             corio_value *result);

/** Let the loop run other ready coroutines, then continue. Returns 0, or
 * -ECANCELED if this coroutine's cancellation was requested; outside a
 * coroutine it yields the thread (sched_yield) and returns 0. */
CORIO_API int corio_yield(void);

/** Sleep for `seconds`: suspends the coroutine (a thread sleeps). Returns
 * 0, or -ECANCELED when the coroutine is cancelled meanwhile, -EINVAL for
 * a negative or NaN duration. */
CORIO_API int corio_sleep(double seconds);

/** True when called from inside a coroutine. */
CORIO_API bool corio_in_coroutine(void);

/** The calling coroutine's loop number, or -1 outside a coroutine. */
CORIO_API int corio_loop_id(void);

/** The calling coroutine's id (unique per process, > 0), or 0 outside. */
CORIO_API uint64_t corio_coro_id(void);

/** The runtime of the calling coroutine, or NULL outside a coroutine. */
CORIO_API corio_runtime *corio_runtime_current(void);

/** Has cancellation of the calling coroutine been requested? (Its blocked
 * calls then return -ECANCELED; a coroutine that wants to end as cancelled
 * returns -ECANCELED.) False outside a coroutine. */
CORIO_API bool corio_cancel_requested(void);

/** Run fn(arg) on the runtime's blocking thread pool and return its future,
 * like asyncio.to_thread: await it with corio_future_result. From inside a
 * coroutine uses its runtime's pool; outside, a process-wide default pool
 * (created on first use). NULL with *err on failure. */
CORIO_API corio_future *corio_to_thread(corio_fn fn, void *arg, int *err);

/** The blocking pool of rt (owned by rt; do not destroy). */
CORIO_API corio_executor *corio_runtime_blocking_pool(corio_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_RUNTIME_H */
