/* corio — socket and file I/O for coroutines (and threads).
 *
 * Inside a coroutine each call below is one io_uring operation on the
 * coroutine's loop: the coroutine is suspended until the operation
 * completes and the loop runs others meanwhile. On a plain thread the same
 * call performs the ordinary blocking system call (with poll(2) enforcing
 * the timeout). One API for both worlds.
 *
 * Conventions shared by every call here:
 *  - The return value is what the system call would return on success
 *    (a byte count, a file descriptor, 0, a poll mask), or a negative
 *    error code: -errno exactly as the system call would set it,
 *    -ETIMEDOUT when `timeout` expired first, -ECANCELED when the calling
 *    coroutine was cancelled (corio_future_cancel on its future, or
 *    runtime shutdown). errno is never read nor written.
 *  - `timeout` is relative, in seconds (CORIO_FOREVER or any negative
 *    value: no limit; 0: only what can complete at once). NaN: -EINVAL.
 *  - Buffers, addresses, iovec arrays and paths are borrowed: they must
 *    stay valid until the call returns, and no longer. Nothing is
 *    retained after the return (not even after a timeout or a cancel: the
 *    call waits for the kernel to let go of them before it returns).
 *  - A negative fd gives -EBADF; a NULL buffer with a non-zero length
 *    gives -EFAULT; a NULL iovec array with a non-zero count gives -EFAULT.
 *  - The file descriptors may be blocking or non-blocking (O_NONBLOCK);
 *    either way the call waits, up to the timeout, for the operation to be
 *    possible. It never returns -EAGAIN for lack of readiness.
 *  - After a timeout or a cancel, no data has been transferred by that
 *    call. A connect that timed out or was cancelled leaves the socket in an
 *    unspecified state: close it.
 *  - A cancel that arrives after the kernel completed the operation does
 *    not undo it: the call returns its result and the next blocking call
 *    returns -ECANCELED. So no received byte and no accepted connection is
 *    ever lost to a cancel.
 *
 * Kernel support is probed once per process (io_uring_get_probe_ring);
 * an operation the kernel lacks is done as a readiness poll on the ring
 * followed by the system call, with the same results.
 */
#ifndef CORIO_IO_H
#define CORIO_IO_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Create a socket, like socket(2) (SOCK_CLOEXEC is added to `type`).
 * Returns the new descriptor (owned by the caller: close it with
 * corio_close or close(2)) or -errno. Never blocks, so it takes no timeout;
 * it is the plain system call in both worlds. */
CORIO_API int corio_socket(int domain, int type, int protocol);

/** Accept one connection on the listening socket `fd`, like accept4(2)
 * with SOCK_CLOEXEC added to `flags` (SOCK_NONBLOCK is honoured). When
 * `addr` is not NULL, the peer's address is stored there and `*addrlen`
 * (in: its size, out: the address length) updated; both must stay valid
 * until the call returns. Returns the new descriptor (owned by the caller)
 * or -errno, -ETIMEDOUT, -ECANCELED. */
CORIO_API int corio_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
                           double timeout);

/** Connect the socket `fd` to `addr` (valid until the call returns), like
 * connect(2) on a blocking socket: returns 0 once connected, or -errno
 * (-ECONNREFUSED, ...), -ETIMEDOUT, -ECANCELED. */
CORIO_API int corio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                            double timeout);

/** Receive up to `len` bytes into `buf` (valid until the call returns),
 * like recv(2). Returns the number of bytes received (0: the peer shut
 * down its side), or -errno, -ETIMEDOUT, -ECANCELED. */
CORIO_API ssize_t corio_recv(int fd, void *buf, size_t len, int flags, double timeout);

/** Send up to `len` bytes from `buf` (valid until the call returns), like
 * send(2); MSG_NOSIGNAL is always added (a closed peer gives -EPIPE, never
 * SIGPIPE). Returns the number of bytes sent, which may be less than len,
 * or -errno, -ETIMEDOUT, -ECANCELED. */
CORIO_API ssize_t corio_send(int fd, const void *buf, size_t len, int flags, double timeout);

/** Read up to `len` bytes into `buf` (valid until the call returns) at
 * `offset`, like pread(2), or from the current file position like read(2)
 * when offset is -1 (the only valid value for pipes, sockets and other
 * non-seekable files). Returns the number of bytes read (0: end of file),
 * or -errno, -ETIMEDOUT, -ECANCELED. The timeout is only meaningful for
 * what can wait (pipes, sockets, terminals): a regular file never does. */
CORIO_API ssize_t corio_read(int fd, void *buf, size_t len, int64_t offset, double timeout);

/** Write up to `len` bytes from `buf` (valid until the call returns) at
 * `offset` (like pwrite(2)), or at the current position when -1 (like
 * write(2)). Returns the number of bytes written, or -errno, -ETIMEDOUT,
 * -ECANCELED. A closed pipe gives -EPIPE; SIGPIPE is still raised for
 * pipes on a plain thread, as write(2) would. */
CORIO_API ssize_t corio_write(int fd, const void *buf, size_t len, int64_t offset,
                              double timeout);

/** Scatter read into `iovcnt` buffers, like preadv(2) / readv(2) (offset
 * -1). The iovec array and every buffer it names stay valid until the call
 * returns. Returns the total bytes read, or -errno, -ETIMEDOUT, -ECANCELED. */
CORIO_API ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t offset,
                              double timeout);

/** Gather write, like pwritev(2) / writev(2) (offset -1). The array and the
 * buffers stay valid until the call returns. Returns the total bytes
 * written, or -errno, -ETIMEDOUT, -ECANCELED. */
CORIO_API ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t offset,
                               double timeout);

/** Close `fd`. Returns 0 or -errno (-EBADF, -EIO...). It always closes:
 * it is never cut short by a cancel, and takes no timeout. */
CORIO_API int corio_close(int fd);

/** Open `path` relative to the directory `dirfd` (AT_FDCWD: the current
 * directory), like openat(2), with O_CLOEXEC added to `flags`. `path` must
 * stay valid until the call returns. Returns the new descriptor (owned by
 * the caller) or -errno, -ETIMEDOUT, -ECANCELED. On a plain thread the
 * timeout is not enforced. Kernel quirk: in a coroutine, the ring opens a
 * FIFO without waiting for its peer (as with O_NONBLOCK, then clears the
 * flag), whereas open(2) on a thread waits. */
CORIO_API int corio_openat(int dirfd, const char *path, int flags, mode_t mode, double timeout);

/** Flush `fd` to storage like fsync(2), or like fdatasync(2) when
 * `datasync` is true. Returns 0 or -errno, -ECANCELED (cancelled before it
 * started). The timeout can only stop a flush that has not started yet; on
 * a plain thread it is not enforced. */
CORIO_API int corio_fsync(int fd, bool datasync, double timeout);

/** Wait until `fd` is ready for `events` (POLLIN, POLLOUT, ... from
 * <poll.h>). Returns the ready events (> 0; POLLERR, POLLHUP and POLLNVAL
 * may be among them), or -errno, -ETIMEDOUT, -ECANCELED. */
CORIO_API int corio_poll(int fd, short events, double timeout);

/** An acceptor: accepts connections on one listening socket with a single
 * multishot accept on the ring (one submission for many connections),
 * re-armed whenever the kernel ends it. Connections that arrive while no
 * one calls corio_acceptor_next are queued in the acceptor (and handed out
 * in order). Falls back to one accept per call where the kernel lacks
 * multishot accept, and on a plain thread. */
typedef struct corio_acceptor corio_acceptor;

/** Create an acceptor for the listening socket `fd` (not owned: the caller
 * closes it, after destroying the acceptor). `flags` are accept4 flags
 * (SOCK_NONBLOCK; SOCK_CLOEXEC is always added). Returns 0 and stores the
 * acceptor in *out (owned by the caller), -EBADF, -EINVAL, -ENOMEM. The
 * acceptor belongs to the loop of the first coroutine that calls
 * corio_acceptor_next on it: only that loop's coroutines may use it
 * afterwards (others get -EINVAL). Creating arms nothing. */
CORIO_API int corio_acceptor_create(int fd, int flags, corio_acceptor **out);

/** The next connection: a new descriptor owned by the caller, or -errno
 * (an accept failure such as -EMFILE is reported once, then the acceptor
 * re-arms on the next call), -ETIMEDOUT, -ECANCELED. `addr`/`addrlen`,
 * when not NULL, receive the peer address (from getpeername(2)) and must
 * stay valid until the call returns. At most one coroutine may wait in it
 * at a time (another gets -EBUSY). */
CORIO_API int corio_acceptor_next(corio_acceptor *acc, struct sockaddr *addr, socklen_t *addrlen,
                                  double timeout);

/** Stop accepting, close the connections queued and not handed out, and
 * free the acceptor. Call it from a coroutine of the acceptor's loop (it
 * waits, immune to cancellation, for the kernel to drop the multishot
 * accept), or from any thread when no coroutine ever used it. NULL is
 * ignored. */
CORIO_API void corio_acceptor_destroy(corio_acceptor *acc);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_IO_H */
