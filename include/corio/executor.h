/* corio — executors: the thread pool and the process pool behind one interface.
 *
 * An executor runs corio_fn tasks and hands back a future for each, exactly
 * like Python's concurrent.futures.Executor: submit, map, shutdown. Both pool
 * kinds are created with their own create function and then used only
 * through the corio_executor_* calls below.
 */
#ifndef CORIO_EXECUTOR_H
#define CORIO_EXECUTOR_H

#include "common.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque executor (thread pool or process pool). */
typedef struct corio_executor corio_executor;

/** Per-worker initializer: return 0 on success, a negative code to fail
 * (call corio_task_fail for a message). A failure breaks the pool. */
typedef int (*corio_init_fn)(void *arg);

/** The largest max_workers accepted (beyond it create returns -EINVAL,
 * rather than allocating per-worker tables for millions of workers). */
#define CORIO_THREAD_POOL_MAX_WORKERS 65536
/** The largest max_workers of a process pool (each worker is a process
 * and two descriptors, all started at create). */
#define CORIO_PROCESS_POOL_MAX_WORKERS 4096

/** Options for corio_thread_pool_create. Zero-initialise, then set fields. */
typedef struct corio_thread_pool_options {
    int max_workers;                /**< 0: default min(32, usable CPUs + 4); negative or over CORIO_THREAD_POOL_MAX_WORKERS: -EINVAL */
    const char *thread_name_prefix; /**< names are "<prefix>_<n>"; NULL: "corio-tp". The kernel keeps 15 characters of the whole name, so with a prefix of 14 or more every worker shows the same name */
    corio_init_fn initializer;      /**< run once in each worker before its first task; may be NULL */
    void *initargs;                 /**< passed to initializer */
} corio_thread_pool_options;

/** Create a thread pool. `opts` may be NULL for the defaults. Workers start
 * lazily, one per submit while no idle worker exists, up to max_workers.
 * Returns 0 and stores the executor in *out (owned by the caller; release
 * with corio_executor_destroy), or -EINVAL / -ENOMEM. */
CORIO_API int corio_thread_pool_create(const corio_thread_pool_options *opts, corio_executor **out);

/** Options for corio_process_pool_create (the last two fields are the
 * beyond-Python flags; see docs/process-pool.md). Zero-initialise, then set fields. */
typedef struct corio_process_pool_options {
    int max_workers;           /**< 0: usable CPUs (affinity mask and cgroup cpu.max quota); negative or over CORIO_PROCESS_POOL_MAX_WORKERS: -EINVAL */
    corio_init_fn initializer; /**< run once in each worker process; may be NULL */
    void *initargs;            /**< passed to initializer (must be valid in the workers: data that existed when the pool was created) */
    int max_tasks_per_child;   /**< 0: unlimited; N > 0: a worker is replaced after N jobs */
    bool replace_crashed_workers; /**< beyond Python: a crashed worker fails only its own job and is replaced, instead of breaking the pool */
    bool cancel_kills_running; /**< beyond Python: cancelling a running job kills its worker (which is replaced) */
} corio_process_pool_options;

/** Create a process pool. Its fork server is forked now, so this is safe even
 * when the program already runs threads and loops. Returns 0 and stores the
 * executor in *out, or -EINVAL / -ENOMEM / another -errno from fork or pipe. */
CORIO_API int corio_process_pool_create(const corio_process_pool_options *opts,
                                        corio_executor **out);

/** Schedule fn(arg) and return its future (a new reference owned by the
 * caller), or NULL with *err (when err is not NULL) set to CORIO_ESHUTDOWN
 * after shutdown, CORIO_EBROKEN_THREAD_POOL / CORIO_EBROKEN_PROCESS_POOL when
 * the pool is broken, -EINVAL for NULL ex or fn, -EPERM when ex was created
 * by another process (a forked child, or a process-pool worker, has a copy
 * of its parent's executors without their threads and workers), -ENOMEM, and on the thread
 * pool -EAGAIN when no worker runs and none could be started (Python:
 * RuntimeError "can't start new thread").
 *
 * Thread pool: `arg` is passed as is; it must stay valid until the task has
 * run. Process pool: `arg` is passed as the pointer value; it is only
 * meaningful in the worker when it points to memory that existed when the
 * pool was created (static data); use corio_executor_submit_bytes for data. */
CORIO_API corio_future *corio_executor_submit(corio_executor *ex, corio_fn fn, void *arg, int *err);

/** Schedule fn on a copy of `len` bytes at `data` (copied before return, so
 * the caller may free it at once). fn receives, as its arg, a pointer to a
 * const corio_value {ptr, len} describing the bytes. On the process pool the
 * bytes travel to the worker; the result's bytes (out->ptr, out->len) travel
 * back and become the future's value (freed with the future). Errors as
 * corio_executor_submit. */
CORIO_API corio_future *corio_executor_submit_bytes(corio_executor *ex, corio_fn fn,
                                                    const void *data, size_t len, int *err);

/** An ordered iterator over map results. */
typedef struct corio_map corio_map;

/** Options for corio_executor_map. Zero-initialise: the defaults are no
 * timeout, chunksize 1, and a window of 4 * max_workers jobs (16 when max_workers <= 4).
 *
 * The timeout follows the rule of every corio call (negative: no limit,
 * 0: poll, NaN: -EINVAL), with one allowance for zero-initialised options:
 * a timeout of exactly 0 means "no limit" unless `has_timeout` is set. So
 * `{.timeout = 2.5}` is a 2.5 s limit, `{0}` none, and
 * `{.timeout = 0, .has_timeout = true}` polls: each corio_map_next returns
 * a result already computed or -ETIMEDOUT (cancelling what remains). */
typedef struct corio_map_options {
    double timeout;   /**< seconds from the map call for the whole iteration (see above) */
    size_t chunksize; /**< items per job (process pool: per message); 0 = 1 */
    size_t buffersize; /**< most items submitted but not yet read (Python 3.14's buffersize); 0 = default */
    bool bytes;       /**< items are corio_value buffers copied to the task (like submit_bytes) */
    bool has_timeout; /**< timeout is meant as given, so 0 polls (see above) */
} corio_map_options;

/** Apply fn to each of the n items, in order (Python's Executor.map).
 *
 * `items` is an array of n pointers (void *) — or, with opts->bytes, an array
 * of n corio_value buffers — that must stay valid until the iterator is
 * destroyed. Jobs are submitted lazily, keeping at most buffersize items in
 * flight. Returns 0 and stores the iterator in *out, or a submit error
 * (-EPERM for an executor of another process, as for submit). */
CORIO_API int corio_executor_map(corio_executor *ex, corio_fn fn, const void *items, size_t n,
                                 const corio_map_options *opts, corio_map **out);

/** The next result, in input order. Returns 1 and stores the result value
 * (owned by the iterator; valid until the next call or destroy) in *out,
 * 0 when all items have been read, or the item's failure code (the message
 * via corio_map_message), -ETIMEDOUT when the map's timeout expired (every
 * remaining job is then cancelled), -ECANCELED for a cancelled job.
 * After a failure the iteration may continue with the next item. */
CORIO_API int corio_map_next(corio_map *m, corio_value *out);

/** The failure message of the item last returned with a failure code, or "". */
CORIO_API const char *corio_map_message(const corio_map *m);

/** Cancel what has not run and release the iterator. NULL is ignored. */
CORIO_API void corio_map_destroy(corio_map *m);

/** Shut the executor down (Python's shutdown). After it, submits fail with
 * CORIO_ESHUTDOWN. With cancel_futures, pending (not started) futures are
 * cancelled. With wait, returns when every running job has finished and the
 * workers have exited. Idempotent. Returns 0 or -EINVAL. */
CORIO_API int corio_executor_shutdown(corio_executor *ex, bool wait, bool cancel_futures);

/** Shutdown with a deadline (beyond Python; 3.14's terminate/kill_workers for
 * the process pool): waits up to `timeout` seconds, then terminates process
 * workers (SIGTERM, then SIGKILL after another `timeout`); on the thread pool
 * it returns -ETIMEDOUT if workers still run (threads cannot be killed). */
CORIO_API int corio_executor_shutdown_timeout(corio_executor *ex, double timeout,
                                              bool cancel_futures);

/** A snapshot of an executor's state (corio_executor_inspect). Set `ids`
 * and `ids_cap` before the call to receive worker ids; the call fills the rest. */
typedef struct corio_executor_stats {
    int max_workers; /**< the pool's worker limit (defaults applied) */
    int workers;     /**< live workers: threads started and not exited; processes started and not yet reaped (retiring ones included) */
    size_t pending;  /**< jobs submitted and not started (cancellable) */
    size_t running;  /**< jobs a worker has started (or, process pool, been handed: it starts it at once) and not finished */
    int64_t *ids;    /**< in: caller's array for worker ids, or NULL: process ids (process pool), kernel thread ids (thread pool) */
    size_t ids_cap;  /**< in: capacity of ids */
    size_t ids_len;  /**< out: ids stored, at most ids_cap (a process worker whose pid is not known yet is left out) */
} corio_executor_stats;

/** Read an executor's worker limit, live worker count, worker ids and
 * pending and running job counts in one consistent snapshot (one lock, or
 * for the thread pool's lock-free counters, a best-effort read: counts may
 * be off by the jobs moving at that instant).
 * Returns 0, or -EINVAL for a NULL ex or st.
 * Lifetime: st and st->ids are the caller's; nothing is retained. */
CORIO_API int corio_executor_inspect(const corio_executor *ex, corio_executor_stats *st);

/** True once a worker failure has broken the executor. */
CORIO_API bool corio_executor_broken(const corio_executor *ex);

/** Shut down (wait, no cancel) and free the executor. NULL is ignored.
 * Futures already handed out stay valid (they hold their own references). */
CORIO_API void corio_executor_destroy(corio_executor *ex);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_EXECUTOR_H */
