/* corio — runtime and executor metrics.
 *
 * Every loop keeps its counters itself (no locked instruction: only its
 * own thread writes them), and every thread pool worker its own; a read
 * from any thread takes relaxed snapshots of each, so the fields of one
 * reading come from slightly different moments. Cheap enough to poll:
 * a read costs a few dozen loads per loop. corio_metrics_format renders
 * everything in the Prometheus text exposition format.
 */
#ifndef CORIO_METRICS_H
#define CORIO_METRICS_H

#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct corio_runtime;
struct corio_executor;

/** Counters of one loop (or of all loops added up). All counts since the
 * runtime started unless said otherwise. */
typedef struct corio_loop_metrics {
    uint64_t spawned;        /**< coroutines started on the loop */
    uint64_t live;           /**< coroutines started and not yet freed (now) */
    uint64_t runnable;       /**< coroutines the last run-queue pass ran (now) */
    uint64_t switches;       /**< coroutine resumptions by the scheduler */
    uint64_t ring_enters;    /**< submit / wait calls into the io_uring */
    uint64_t ring_submitted; /**< SQEs the kernel took */
    uint64_t ring_completed; /**< CQEs reaped */
    uint64_t sleeps;         /**< times the loop blocked waiting for the ring */
    uint64_t timers;         /**< timers pending at the last pass (now) */
    uint64_t timers_fired;   /**< timers that expired */
    uint64_t inbox_msgs;     /**< messages from other threads (spawns, wakes, cancels) */
    uint64_t eventfd_wakes;  /**< wake-ups of the sleeping loop through its eventfd */
    uint64_t stack_hits;     /**< coroutine stacks reused from the loop's cache */
    uint64_t stack_misses;   /**< coroutine stacks newly mapped */
} corio_loop_metrics;

/** Read loop `loop` of rt (0 <= loop < loops), or every loop added up
 * (loop = -1). Any thread. Returns 0, or -EINVAL (NULL rt or out, loop
 * out of range). */
CORIO_API int corio_loop_metrics_get(struct corio_runtime *rt, int loop, corio_loop_metrics *out);

/** Buckets of corio_executor_metrics.run_us (powers of two of microseconds). */
#define CORIO_METRICS_BUCKETS 24

/** Counters of an executor. */

typedef struct corio_executor_metrics {
    uint64_t queued;      /**< jobs submitted and not yet taken by a worker (now) */
    uint64_t running;     /**< jobs running (now) */
    uint64_t workers;     /**< workers started */
    uint64_t max_workers; /**< the pool's limit */
    uint64_t completed;   /**< jobs whose function ran to its end */
    /** Run times of a sample of the jobs (thread pool: every 16th of each
     *  worker; process pool: every job, as the worker timed it around the
     *  function and reported it with the answer, a map chunk once for its
     *  whole run): run_us[0] counts those
     *  under 1 us, run_us[k] those in [2^(k-1), 2^k) us, the last bucket
     *  everything longer. The time is the function's own run, not the
     *  wait in the queue. */
    uint64_t run_us[CORIO_METRICS_BUCKETS];
    uint64_t run_samples; /**< the sum of run_us */
    /** Queue waits of a sample of the jobs, in the same buckets: the time
     *  from the submit call to the moment a worker took the job (process
     *  pool: every job, a map chunk once, until its first hand-off to a
     *  worker). */
    uint64_t queue_us[CORIO_METRICS_BUCKETS];
    uint64_t queue_samples; /**< the sum of queue_us */
    bool shutdown;        /**< shut down: submits refused */
    bool broken;          /**< broken by a worker failure */
} corio_executor_metrics;

/** Read ex's counters (thread and process pools; for a process pool
 * `workers` counts live worker processes and `completed` the jobs a
 * worker answered, a map chunk counting once). Any thread. Returns 0,
 * -EINVAL (NULL ex or out), -ENOTSUP for an executor kind without
 * metrics. */
CORIO_API int corio_executor_metrics_get(struct corio_executor *ex, corio_executor_metrics *out);

/** Render rt's loop counters (labelled loop="k") and its blocking pool's
 * counters in the Prometheus text format (version 0.0.4), each metric
 * named corio_<field>, with # HELP and # TYPE lines, into buf (cap bytes,
 * NUL-terminated when cap > 0). Returns the length the whole text needs
 * (without the NUL), as snprintf does: call again with a bigger buffer
 * when it is >= cap; -EINVAL for a NULL rt, or a NULL buf with cap > 0. */
CORIO_API ssize_t corio_metrics_format(struct corio_runtime *rt, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_METRICS_H */
