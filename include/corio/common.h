/* corio — common definitions shared by every public header.
 *
 * Conventions (see docs/guide.md):
 *  - Functions that can fail return int: >= 0 on success, a negative code on
 *    failure (-errno where one fits, CORIO_E* otherwise; see corio/error.h).
 *  - Timeouts are relative, in seconds, as a double, exactly like Python:
 *    CORIO_FOREVER (any negative value) waits without limit, 0 polls.
 *    A NaN timeout is rejected with -EINVAL by every call.
 *  - Every blocking call suspends the calling coroutine when it runs inside
 *    one, and blocks the calling thread otherwise.
 */
#ifndef CORIO_COMMON_H
#define CORIO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(CORIO_STATIC_BUILD) || !defined(__GNUC__)
#define CORIO_API
#else
#define CORIO_API __attribute__((visibility("default")))
#endif

#if defined(__GNUC__)
#define CORIO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CORIO_PRINTF(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Wait without limit (any negative timeout means the same). */
#define CORIO_FOREVER (-1.0)

/** A value produced by a task, a coroutine or an I/O operation.
 *
 * `ptr` is the value itself (any pointer, or bytes for a process job),
 * `len` its size in bytes when it is a byte buffer (0 otherwise, or for an
 * empty buffer), and `dtor`, when not NULL, is called once with `ptr` when the
 * last reference to the future holding the value is dropped. */
typedef struct corio_value {
    void *ptr;              /**< the value, or the first byte of a buffer */
    size_t len;             /**< size of the buffer at ptr, 0 if not a buffer */
    void (*dtor)(void *ptr); /**< releases ptr; NULL when nothing to release */
} corio_value;

/** A unit of work for an executor or a coroutine.
 *
 * Return 0 after storing the result in `*out` (it starts zeroed; leaving it
 * zeroed yields a NULL result), or a negative code to fail; call
 * corio_task_fail() to attach a message to the failure. For a process-pool
 * job submitted with bytes, `arg` points to a const corio_value describing
 * the argument bytes (valid only during the call). */
typedef int (*corio_fn)(void *arg, corio_value *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_COMMON_H */
