/* corio — buffered byte streams over a connected descriptor.
 *
 * A corio_stream owns one connected descriptor (TCP or Unix socket, pipe,
 * terminal: anything read(2) and write(2) work on) and two buffers:
 *
 *   kernel ──recv──▶ read buffer ──views / copies──▶ caller
 *   caller ──small writes──▶ write buffer ──one writev with the next big
 *                                           write, or flush──▶ kernel
 *
 * Reads come in two shapes. The framed reads that a protocol parser wants
 * (corio_stream_read_until, corio_stream_read_line, corio_stream_peek)
 * return a zero-copy view into the read buffer, valid until the next read
 * call on the stream (any corio_stream_read*, corio_stream_peek) or its
 * destruction; writes, flushes, corio_stream_consume and the other calls
 * leave it valid, so a view can be written back out as it is. The plain
 * reads (corio_stream_read, corio_stream_read_exact)
 * copy into the caller's buffer. A caller that wants to keep a view copies
 * it (one memcpy it can size itself), so there is no allocating variant.
 *
 * Conventions, on top of those of corio/io.h (the same call suspends a
 * coroutine and blocks a plain thread; `timeout` relative in seconds,
 * negative: none, 0: only what completes at once, NaN: -EINVAL; -ETIMEDOUT;
 * -ECANCELED when the calling coroutine is cancelled; errno untouched):
 *  - End of stream. 0 means a clean end: the peer closed before the first
 *    byte of what was asked for. CORIO_EUNEXPECTED_EOF means it closed in
 *    the middle of a frame (a line without its delimiter, fewer bytes than
 *    read_exact asked for); those bytes stay buffered and can still be
 *    read with corio_stream_read.
 *  - Limits. The read buffer grows on demand up to the stream's
 *    max_read_buffer and never beyond: a line or delimited frame longer
 *    than the caller's `max` is -EMSGSIZE, and a `max` (or peek size) above
 *    max_read_buffer is -EINVAL, refused before any I/O.
 *  - Nothing is lost to an error. A read that fails (-ETIMEDOUT,
 *    -ECANCELED, -EMSGSIZE, CORIO_EUNEXPECTED_EOF, -ECONNRESET, ...)
 *    consumes nothing: every byte received meanwhile stays buffered for the
 *    next call. The one exception is corio_stream_read_exact with n above
 *    max_read_buffer, which reads straight into the caller's buffer (see
 *    there).
 *  - A write that fails having sent nothing of the caller's data returns
 *    the negative code and accepted nothing; one cut short after part of
 *    the data went out returns that (short) count, as write(2) does.
 *    Buffered bytes that could not be sent stay buffered.
 *  - Deadlines. corio_stream_set_deadline sets an absolute deadline per
 *    direction; each call waits until the earlier of its own timeout and
 *    the deadline of its direction. A deadline already past makes the call
 *    behave as with timeout 0 (it still returns what is buffered).
 *  - One user at a time. A stream is not locked: use it from one coroutine
 *    or thread at a time (one reader and one writer at the same time is
 *    fine only on a plain thread pair; in coroutines, at most one call
 *    waits in the stream). A stream whose reads used the multishot path
 *    (below) belongs to that coroutine's loop from then on.
 *
 * Receive paths. By default a stream receives with one recv (or read) per
 * refill straight into its read buffer. With CORIO_STREAM_RECV_MULTISHOT a
 * stream on a socket read from a coroutine keeps one multishot recv armed
 * on the loop's ring, fed from a buffer ring the loop's streams share
 * (io_uring provided buffers, kernel 6.0+): one submission for many
 * receives, each buffer copied into the stream and given back to the ring
 * at once. It is probed at run time; where the kernel lacks it, on a pipe
 * and on a plain thread the stream falls back to the plain path with the
 * same results. docs/benchmarks.md has the figures behind the default.
 */
#ifndef CORIO_STREAM_H
#define CORIO_STREAM_H

#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A buffered stream over one connected descriptor (opaque). */
typedef struct corio_stream corio_stream;

/** How a stream receives (corio_stream_options.recv_mode). */
enum corio_stream_recv_mode {
    /** The library's choice: currently CORIO_STREAM_RECV_PLAIN. */
    CORIO_STREAM_RECV_AUTO = 0,
    /** One recv/read per refill, into the stream's buffer. */
    CORIO_STREAM_RECV_PLAIN = 1,
    /** A multishot recv over the loop's provided-buffer ring where the
     *  kernel, the descriptor (a socket) and the caller (a coroutine) allow
     *  it; the plain path otherwise. */
    CORIO_STREAM_RECV_MULTISHOT = 2,
};

/** Directions, for corio_stream_set_deadline. */
enum {
    CORIO_STREAM_READ = 1,  /**< the read calls */
    CORIO_STREAM_WRITE = 2, /**< write, writev, flush, shutdown */
};

/** Options of corio_stream_create; a NULL pointer or a zeroed struct gives
 * the defaults. Sizes above 1 GiB are -EINVAL. */
typedef struct corio_stream_options {
    /** Initial read buffer size in bytes (0: 8192). */
    size_t read_buffer;
    /** Largest the read buffer may grow to, hence the longest line, frame
     *  or peek (0: the larger of 65536 and read_buffer; below read_buffer:
     *  -EINVAL). */
    size_t max_read_buffer;
    /** Write buffer size (0: 8192): writes that fit are only copied; a
     *  write that does not fit goes out with the buffer in one writev. */
    size_t write_buffer;
    /** enum corio_stream_recv_mode (other values: -EINVAL). */
    int recv_mode;
} corio_stream_options;

/** Counters of one stream: what it asked of the kernel. */
typedef struct corio_stream_counters {
    uint64_t reads;          /**< receive operations issued (recv, read) */
    uint64_t writes;         /**< send operations issued (send, write, writev, sendmsg) */
    uint64_t bytes_read;     /**< bytes received from the descriptor */
    uint64_t bytes_written;  /**< bytes sent to the descriptor */
    uint64_t multishot_arms; /**< multishot recvs submitted (multishot path) */
    uint64_t ring_buffers;   /**< provided buffers received (multishot path) */
} corio_stream_counters;

/** Create a stream over the connected descriptor `fd`. On success the
 * stream owns it (corio_stream_destroy closes it); on failure the caller
 * still does. `opts` may be NULL and is read only during the call. Returns 0 and stores the stream in *out
 * (owned by the caller: corio_stream_destroy), or -EINVAL (NULL out, bad
 * options), -EBADF (fd < 0 or not open), -ENOMEM. Never blocks. */
CORIO_API int corio_stream_create(int fd, const corio_stream_options *opts, corio_stream **out);

/** Close the descriptor and free the stream and its buffers. Buffered
 * output is discarded, not flushed (call corio_stream_flush first): a
 * destroy never blocks on the peer. Returns what closing the descriptor
 * returned (0 or -errno); the stream is freed either way. NULL: -EINVAL.
 * A stream with a multishot recv armed must be destroyed from a coroutine
 * of its loop (the call then waits, deaf to cancellation, for the kernel
 * to drop it; elsewhere it is leaked with a log line). */
CORIO_API int corio_stream_destroy(corio_stream *s);

/** Free the stream without closing its descriptor and return the
 * descriptor (owned by the caller again). Buffered input and output are
 * discarded: check corio_stream_buffered and flush first when they
 * matter. The same loop rule as destroy applies. NULL: -EINVAL. */
CORIO_API int corio_stream_detach(corio_stream *s);

/** The stream's descriptor (still owned by the stream), -EINVAL for NULL.
 * Reading or writing it directly bypasses the buffers. */
CORIO_API int corio_stream_fd(const corio_stream *s);

/** Read up to `len` bytes into `buf`: what is buffered, or, when nothing
 * is, what one receive brings (a receive of len >= the read buffer's size
 * goes straight into buf). Returns the bytes copied (> 0), 0 at the end of
 * the stream (or len == 0), or -errno, -ETIMEDOUT, -ECANCELED, -EFAULT
 * (NULL buf with len > 0), -EINVAL. `buf` is borrowed for the call. */
CORIO_API ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len, double timeout);

/** Read exactly `n` bytes into `buf`. Returns n, 0 when the stream ended
 * before the first byte (clean end), CORIO_EUNEXPECTED_EOF when it ended
 * after some (they stay buffered when n <= max_read_buffer), or -errno,
 * -ETIMEDOUT, -ECANCELED, -EFAULT. For n <= max_read_buffer the bytes are
 * gathered in the stream buffer and copied once complete, so a failed call
 * consumes nothing. For larger n they go straight into `buf`; then a
 * failed call has consumed the bytes it already stored in buf (the count
 * is not reported: treat the stream as out of step). */
CORIO_API ssize_t corio_stream_read_exact(corio_stream *s, void *buf, size_t n, double timeout);

/** Read up to and including the first occurrence of the `dlen`-byte
 * delimiter `delim`, looking at most `max` bytes (delimiter included)
 * ahead. On success *out points to the frame inside the stream's buffer
 * (delimiter included, not NUL-terminated), valid until the next read call
 * on the stream, and the frame is consumed. Returns its length (> 0), 0 at a
 * clean end of the stream, -EMSGSIZE when `max` bytes hold no delimiter,
 * CORIO_EUNEXPECTED_EOF when the stream ended inside a frame (in both
 * cases the bytes stay buffered, and *out is NULL), -EINVAL (dlen == 0,
 * dlen > max, max > max_read_buffer), -EFAULT (NULL delim or out),
 * -ETIMEDOUT, -ECANCELED, -errno. */
CORIO_API ssize_t corio_stream_read_until(corio_stream *s, const void *delim, size_t dlen,
                                          size_t max, const void **out, double timeout);

/** Read one line ending in "\n" of at most `max` bytes (terminator
 * included). On success *line points to it inside the stream's buffer,
 * without its "\n" or "\r\n" and NUL-terminated in place, *len is its
 * length (0 for an empty line), and the call returns 1; valid until the
 * next read call on the stream. Returns 0 at a clean end of the stream, and the
 * errors of corio_stream_read_until (-EMSGSIZE for a longer line: it stays
 * buffered; CORIO_EUNEXPECTED_EOF for a last line without "\n"). */
CORIO_API int corio_stream_read_line(corio_stream *s, size_t max, const char **line, size_t *len,
                                     double timeout);

/** Wait until at least `n` bytes are buffered (n == 0: do no I/O) and set
 * *out to them, without consuming anything. Returns the number of bytes
 * buffered, which may exceed n; fewer than n only at the end of the
 * stream (0: nothing left). The view is valid until the next read call on
 * the stream (consuming part of it does not move it). Errors: -EINVAL (n > max_read_buffer), -EFAULT (NULL out),
 * -ETIMEDOUT, -ECANCELED, -errno. */
CORIO_API ssize_t corio_stream_peek(corio_stream *s, size_t n, const void **out, double timeout);

/** Consume `n` buffered bytes (after corio_stream_peek, say). Returns 0,
 * or -EINVAL when fewer than n are buffered (nothing is consumed). */
CORIO_API int corio_stream_consume(corio_stream *s, size_t n);

/** Bytes buffered and not yet consumed; 0 for NULL. */
CORIO_API size_t corio_stream_buffered(const corio_stream *s);

/** Write all `len` bytes of `buf`. Data that fits in the write buffer is
 * only copied there (no system call); otherwise the buffer and the data
 * leave together in one writev, or the data alone when the buffer is empty
 * and the data is at least the buffer's size. Returns len (accepted:
 * buffered or sent), a short count (0 < k < len) when the call was cut
 * short after k bytes of buf were sent, or, with nothing of buf accepted,
 * -EPIPE (after shutdown, or the peer left), -ETIMEDOUT, -ECANCELED,
 * -EFAULT, -EINVAL, -errno. On a socket SIGPIPE is never raised (the send
 * gets MSG_NOSIGNAL); writing to a pipe whose reader is gone may raise it,
 * as write(2) does. `buf` is borrowed for the call. */
CORIO_API ssize_t corio_stream_write(corio_stream *s, const void *buf, size_t len,
                                     double timeout);

/** Gather form of corio_stream_write: all the bytes of the `iovcnt`
 * buffers, in order, with the same rules (the buffer plus the array in one
 * writev when they do not fit). iovcnt must be below IOV_MAX (-EINVAL);
 * the array and its buffers are borrowed for the call. Returns the total,
 * a short count, or a negative code as corio_stream_write. */
CORIO_API ssize_t corio_stream_writev(corio_stream *s, const struct iovec *iov, int iovcnt,
                                      double timeout);

/** Send everything buffered. Returns 0, or -errno, -ETIMEDOUT, -ECANCELED
 * (what could not be sent stays buffered: a later flush resumes). */
CORIO_API int corio_stream_flush(corio_stream *s, double timeout);

/** Shut down a direction, like shutdown(2): `how` is SHUT_RD, SHUT_WR or
 * SHUT_RDWR. Shutting writes flushes first (a failed flush is returned and
 * nothing is shut), then later writes return -EPIPE and the peer sees the
 * end of the stream. After SHUT_RD, reads return what is buffered, then
 * 0. On a descriptor that is not a socket (a pipe) only the stream's own
 * state changes (the peer sees the end when the stream is destroyed).
 * Returns 0, -EINVAL, or an error of the flush or of shutdown(2). */
CORIO_API int corio_stream_shutdown(corio_stream *s, int how, double timeout);

/** Set the deadline of the directions in `which` (CORIO_STREAM_READ,
 * CORIO_STREAM_WRITE, or both) to `timeout` seconds from now, kept as an
 * absolute CLOCK_MONOTONIC time; negative: no deadline. Returns 0, or
 * -EINVAL (NULL stream, NaN, no direction). */
CORIO_API int corio_stream_set_deadline(corio_stream *s, int which, double timeout);

/** Copy the stream's counters into *out. Returns 0 or -EINVAL (NULL). */
CORIO_API int corio_stream_stats(const corio_stream *s, corio_stream_counters *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_STREAM_H */
