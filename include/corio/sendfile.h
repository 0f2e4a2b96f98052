/* corio — files to sockets: corio_sendfile, for static-file servers.
 *
 * Follows the conventions of corio/io.h (the same call suspends a
 * coroutine or blocks a thread; -errno, -ETIMEDOUT, -ECANCELED; relative
 * timeout in seconds, NaN: -EINVAL; nothing borrowed is retained).
 *
 * In a coroutine the bytes go file -> pipe -> out_fd with IORING_OP_SPLICE
 * on the loop's ring (no copy through user memory, and the loop thread
 * never waits for the disk); the pipe is the loop thread's own, reused
 * from call to call. Where the kernel lacks IORING_OP_SPLICE, and on a
 * plain thread, it is sendfile(2), waiting for out_fd's readiness with a
 * ring poll (coroutine) or poll(2) (thread). The fallback in a coroutine
 * runs sendfile(2) on the loop thread: a page-cache miss there stalls the
 * loop for the disk read.
 */
#ifndef CORIO_SENDFILE_H
#define CORIO_SENDFILE_H

#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Send `count` bytes of the regular file `in_fd` to `out_fd` (a socket,
 * a pipe or a file), starting at `*offset` when `offset` is not NULL (the
 * file position is then neither used nor changed, and *offset is advanced
 * by the bytes sent), else at the file position (which is advanced).
 *
 * All or error, like a loop of sendfile(2): it returns once `count` bytes
 * are sent, or fewer when the file ends first (0 at or past its end).
 * When the call ends early (timeout, cancel, an error such as -EPIPE)
 * after some bytes were sent, it returns that byte count (> 0; the
 * offset or position reflects exactly it, no byte is sent twice by a
 * retry from there), and the next call reports the condition; when none
 * were sent, the error: -ETIMEDOUT, -ECANCELED, -EPIPE (the peer closed:
 * never SIGPIPE, not even from the kernel's splice), -errno.
 *
 * The timeout bounds the whole call. MSG_NOSIGNAL semantics hold for any
 * out_fd: a SIGPIPE the transfer raises on the calling thread is
 * swallowed (the thread's signal mask is restored afterwards).
 *
 * Errors: -EBADF (a negative or closed fd, in_fd not readable), -EINVAL
 * (in_fd not a regular file or block device: a pipe, a socket; a
 * negative *offset; NaN timeout), -ESPIPE never (in_fd is seekable). A
 * count of 0 returns 0 after the checks; a count above SSIZE_MAX is cut
 * to SSIZE_MAX.
 *
 * Lifetime: `offset` is borrowed until the call returns. In a coroutine
 * (either path), and on a plain thread with a timeout, a blocking out_fd
 * is made non-blocking for the duration of the call (other users of the
 * same open socket see O_NONBLOCK meanwhile), as corio_connect does. */
CORIO_API ssize_t corio_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count,
                                 double timeout);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_SENDFILE_H */
