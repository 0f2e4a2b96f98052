/* corio — buffered streams: life cycle, the descriptor transport, the
 * write side (coalescing), shutdown and deadlines. The read side is in
 * stream_read.c, the multishot recv path in bufring.c.
 *
 * Design, and why:
 *  - The stream owns its descriptor and both buffers (DESIGN.md): one
 *    object per connection that TLS and HTTP can wrap, freed in one call.
 *  - Everything under the buffers goes through a transport vtable
 *    (stream_internal.h). The default one here is the descriptor itself,
 *    built on corio/io.h, so a stream works the same in a coroutine (one
 *    ring op per transfer) and on a plain thread (the system call); TLS
 *    slots in with its own vtable without a change to the public API.
 *  - Write coalescing: a write that fits in the write buffer is a memcpy;
 *    one that does not goes out together with what is buffered in a single
 *    writev (a socket's gather send), so N small writes followed by a
 *    flush or a big write cost one system call, not N. A write at least
 *    the buffer's size with nothing buffered skips the copy entirely.
 *  - A write's outcome is never ambiguous: all accepted (len), a short
 *    count when it was cut short after part of the caller's data left, or
 *    a negative code with nothing of the caller's data accepted. Bytes of
 *    the buffer that could not be sent stay buffered for the next call.
 *  - Sockets are written with sendmsg(MSG_NOSIGNAL): writev(2) on a socket
 *    whose peer left raises SIGPIPE, which a library must not do to its
 *    host. io.h has no sendmsg, so this file submits IORING_OP_SENDMSG
 *    itself (or, where the kernel lacks it, polls and calls sendmsg).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcache.h"
#include "corio/io.h"
#include "corio/runtime.h"
#include "fault.h"
#include "io_internal.h"
#include "stream_internal.h"

/* ---- the descriptor transport ---- */

static ssize_t fd_read(void *ctx, void *buf, size_t len, int64_t deadline) {
    corio_stream *s = ctx;
    if (s->is_sock)
        return corio_recv(s->fd, buf, len, 0, corio__left_s(deadline));
    return corio_read(s->fd, buf, len, -1, corio__left_s(deadline));
}

static ssize_t fd_readv(void *ctx, const struct iovec *iov, int iovcnt, int64_t deadline) {
    corio_stream *s = ctx;
    return corio_readv(s->fd, iov, iovcnt, -1, corio__left_s(deadline));
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len, int64_t deadline) {
    corio_stream *s = ctx;
    if (s->is_sock)
        return corio_send(s->fd, buf, len, 0, corio__left_s(deadline));
    return corio_write(s->fd, buf, len, -1, corio__left_s(deadline));
}

/* sendmsg(MSG_NOSIGNAL) of an iovec array on a socket, in both worlds. */
static ssize_t sock_sendmsg(int fd, const struct iovec *iov, int iovcnt, int64_t deadline) {
    struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov,
                       .msg_iovlen = (size_t)iovcnt};
    corio__loop *l = corio__tls_coro ? corio__tls_loop : NULL;
    if (l && corio_cancel_requested())
        return -ECANCELED;
    if (l && !corio__io_force_fallback && corio__io_op_supported(IORING_OP_SENDMSG) == 1) {
        /* m lives on this coroutine's stack, and corio__loop_await returns
         * only once the kernel let go of it. For a socket the kernel waits
         * for room itself, even on an O_NONBLOCK one. */
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_sendmsg(sqe, fd, &m, MSG_NOSIGNAL);
        return corio__loop_await(l, sqe, corio__left_s(deadline), NULL);
    }
    int saved = errno;
    for (;;) {
        ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            r = r < 0 ? -errno : r;
            errno = saved;
            return r;
        }
        if (errno == EINTR)
            continue;
        int p = corio_poll(fd, POLLOUT, corio__left_s(deadline));
        if (p < 0) {
            errno = saved;
            return p;
        }
    }
}

static ssize_t fd_writev(void *ctx, const struct iovec *iov, int iovcnt, int64_t deadline) {
    corio_stream *s = ctx;
    if (s->is_sock)
        return sock_sendmsg(s->fd, iov, iovcnt, deadline);
    return corio_writev(s->fd, iov, iovcnt, -1, corio__left_s(deadline));
}

static int fd_shutdown(void *ctx, int how) {
    corio_stream *s = ctx;
    if (!s->is_sock)
        return 0; /* a pipe has no half-close: the stream's state is all */
    int saved = errno;
    int r = shutdown(s->fd, how) < 0 ? -errno : 0;
    errno = saved;
    /* The peer may already have gone: the direction is shut either way. */
    return r == -ENOTCONN ? 0 : r;
}

static int fd_close(void *ctx) {
    corio_stream *s = ctx;
    return corio_close(s->fd);
}

static const corio__stream_transport fd_transport = {
    .read = fd_read,
    .readv = fd_readv,
    .write = fd_write,
    .writev = fd_writev,
    .shutdown = fd_shutdown,
    .close = fd_close,
};

/* ---- life cycle ---- */

int corio__stream_create_with(const corio__stream_transport *tp, void *ctx, int fd,
                              const corio_stream_options *opts, corio_stream **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!tp)
        return -EINVAL;
    corio_stream_options o = {0};
    if (opts)
        o = *opts;
    if (o.read_buffer > CORIO__STREAM_MAX_SIZE || o.max_read_buffer > CORIO__STREAM_MAX_SIZE ||
        o.write_buffer > CORIO__STREAM_MAX_SIZE)
        return -EINVAL;
    if (o.recv_mode < CORIO_STREAM_RECV_AUTO || o.recv_mode > CORIO_STREAM_RECV_MULTISHOT)
        return -EINVAL;
    if (!o.read_buffer)
        o.read_buffer = 8192;
    if (!o.max_read_buffer)
        o.max_read_buffer = o.read_buffer > 65536 ? o.read_buffer : 65536;
    if (o.max_read_buffer < o.read_buffer)
        return -EINVAL;
    if (!o.write_buffer)
        o.write_buffer = 8192;
    /* The write buffer never grows, but it is taken only at the first
     * write that is buffered (a stream that only reads, or whose writes
     * are all large, never has one) and given back by corio__stream_trim:
     * an idle connection of a server holds none. */
    corio_stream *s = corio__malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    memset(s, 0, sizeof *s);
    s->rbuf = corio__bcache_get(o.read_buffer);
    if (!s->rbuf) {
        free(s);
        return -ENOMEM;
    }
    s->tp = tp;
    s->tp_ctx = ctx ? ctx : s;
    s->fd = fd;
    s->rcap = s->rinit = o.read_buffer;
    s->rmax = o.max_read_buffer;
    s->wcap = o.write_buffer;
    s->rdeadline = s->wdeadline = INT64_MAX;
    /* AUTO is the plain path: the echo benchmark (docs/benchmarks.md)
     * shows no gain from the multishot path that would pay for its copy. */
    s->recv_mode = o.recv_mode == CORIO_STREAM_RECV_AUTO ? CORIO_STREAM_RECV_PLAIN : o.recv_mode;
    *out = s;
    return 0;
}

CORIO_API int corio_stream_create(int fd, const corio_stream_options *opts, corio_stream **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    struct stat st;
    int saved = errno;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        errno = saved;
        return e;
    }
    corio_stream *s;
    int r = corio__stream_create_with(&fd_transport, NULL, fd, opts, &s);
    if (r < 0)
        return r;
    s->is_sock = S_ISSOCK(st.st_mode);
    *out = s;
    return 0;
}

/* Free what destroy and detach share; 0, or -EINVAL when the multishot
 * recv cannot be stopped from here (the stream is then leaked). */
static int release(corio_stream *s) {
    if (corio__stream_ms_stop(s) < 0) {
        corio__log("corio_stream: destroyed off its loop with a multishot recv armed; leaked");
        return -EINVAL;
    }
    corio__bcache_put(s->rbuf, s->rcap);
    corio__bcache_put(s->wbuf, s->wcap);
    return 0;
}

void corio__stream_trim(corio_stream *s) {
    if (s->wlen == 0 && s->wbuf) {
        corio__bcache_put(s->wbuf, s->wcap);
        s->wbuf = NULL;
    }
    /* On the plain path the next refill's receive would hold a buffer
     * while it waits anyway: keep the one we have. */
    if (s->rlen == 0 && s->rbuf && s->is_sock && s->recv_mode == CORIO_STREAM_RECV_MULTISHOT) {
        corio__bcache_put(s->rbuf, s->rcap);
        s->rbuf = NULL;
        s->rcap = s->rpos = 0;
    }
}

CORIO_API int corio_stream_destroy(corio_stream *s) {
    if (!s)
        return -EINVAL;
    if (release(s) < 0)
        return -EINVAL;
    int r = s->tp->close(s->tp_ctx);
    free(s);
    return r;
}

CORIO_API int corio_stream_detach(corio_stream *s) {
    if (!s)
        return -EINVAL;
    int fd = s->fd;
    if (release(s) < 0)
        return -EINVAL;
    if (s->tp->release)
        s->tp->release(s->tp_ctx);
    free(s);
    return fd;
}

CORIO_API int corio_stream_fd(const corio_stream *s) { return s ? s->fd : -EINVAL; }

CORIO_API int corio_stream_set_deadline(corio_stream *s, int which, double timeout) {
    if (!s || timeout != timeout || !(which & (CORIO_STREAM_READ | CORIO_STREAM_WRITE)) ||
        (which & ~(CORIO_STREAM_READ | CORIO_STREAM_WRITE)))
        return -EINVAL;
    int64_t d = corio__deadline(timeout);
    if (which & CORIO_STREAM_READ)
        s->rdeadline = d;
    if (which & CORIO_STREAM_WRITE)
        s->wdeadline = d;
    return 0;
}

CORIO_API int corio_stream_stats(const corio_stream *s, corio_stream_counters *out) {
    if (!s || !out)
        return -EINVAL;
    *out = s->st;
    return 0;
}

/* ---- the write side ---- */

/* Send the buffer's wlen bytes followed by the caller's iov[0..n) (whose
 * total is `total`) until everything is out, in as few operations as the
 * kernel allows (one when the socket has room). Returns the bytes of the
 * caller's data sent. On failure *err gets the code; what of the buffer
 * was sent is removed from it, the rest stays. */
#define IOV_CAP 64

static size_t send_all(corio_stream *s, const struct iovec *iov, int n, size_t total,
                       int64_t deadline, int *err) {
    size_t head = s->wlen; /* buffered bytes still to send */
    size_t hsent = 0;      /* of them, sent */
    size_t dsent = 0;      /* caller's bytes sent */
    *err = 0;
    while (hsent < head || dsent < total) {
        /* Build the array of what is left: the buffer's tail, then the
         * caller's buffers from where we are. Arrays longer than IOV_CAP
         * go out in parts (the kernel's IOV_MAX is 1024, but an on-stack
         * copy that size would be 16 KiB of a small coroutine stack). */
        struct iovec v[IOV_CAP];
        int k = 0;
        if (hsent < head)
            v[k++] = (struct iovec){s->wbuf + hsent, head - hsent};
        size_t skip = dsent;
        for (int i = 0; i < n && k < IOV_CAP; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            v[k++] = (struct iovec){(char *)iov[i].iov_base + skip, iov[i].iov_len - skip};
            skip = 0;
        }
        s->st.writes++;
        ssize_t r = k == 1 ? s->tp->write(s->tp_ctx, v[0].iov_base, v[0].iov_len, deadline)
                           : s->tp->writev(s->tp_ctx, v, k, deadline);
        if (r <= 0) {
            *err = r < 0 ? (int)r : -EIO; /* 0 for a non-empty send: cannot happen */
            break;
        }
        s->st.bytes_written += (uint64_t)r;
        size_t w = (size_t)r;
        size_t h = head - hsent < w ? head - hsent : w;
        hsent += h;
        dsent += w - h;
    }
    if (hsent) {
        memmove(s->wbuf, s->wbuf + hsent, head - hsent);
        s->wlen = head - hsent;
    }
    return dsent;
}

ssize_t corio__stream_write_buffered(corio_stream *s, const struct iovec *iov, int n,
                                     size_t total) {
    if (s->wshut || total == 0)
        return -EAGAIN; /* write_iov answers these */
    if (!s->wbuf && total < s->wcap)
        s->wbuf = corio__bcache_get(s->wcap); /* NULL: this write goes out unbuffered */
    if (!s->wbuf || total > s->wcap - s->wlen)
        return -EAGAIN;
    /* Coalesce: only a copy, the next flush or big write takes it. */
    for (int i = 0; i < n; i++) {
        memcpy(s->wbuf + s->wlen, iov[i].iov_base, iov[i].iov_len);
        s->wlen += iov[i].iov_len;
    }
    return (ssize_t)total;
}

static ssize_t write_iov(corio_stream *s, const struct iovec *iov, int n, size_t total,
                         double timeout) {
    if (timeout != timeout)
        return -EINVAL;
    ssize_t b = corio__stream_write_buffered(s, iov, n, total);
    if (b != -EAGAIN)
        return b;
    if (s->wshut)
        return -EPIPE;
    if (total == 0)
        return 0;
    int err;
    size_t sent = send_all(s, iov, n, total, corio__stream_deadline(timeout, s->wdeadline), &err);
    if (err && sent == 0)
        return err;
    return (ssize_t)sent;
}

CORIO_API ssize_t corio_stream_write(corio_stream *s, const void *buf, size_t len,
                                     double timeout) {
    if (!s)
        return -EINVAL;
    if (!buf && len)
        return -EFAULT;
    if (len > SSIZE_MAX)
        return -EINVAL;
    struct iovec v = {(void *)(uintptr_t)buf, len};
    return write_iov(s, &v, 1, len, timeout);
}

CORIO_API ssize_t corio_stream_writev(corio_stream *s, const struct iovec *iov, int iovcnt,
                                      double timeout) {
    if (!s || iovcnt < 0 || iovcnt >= IOV_MAX)
        return -EINVAL;
    if (!iov && iovcnt)
        return -EFAULT;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len)
            return -EFAULT;
        if (iov[i].iov_len > SSIZE_MAX - total)
            return -EINVAL; /* the total would not fit the return value */
        total += iov[i].iov_len;
    }
    return write_iov(s, iov, iovcnt, total, timeout);
}

CORIO_API int corio_stream_flush(corio_stream *s, double timeout) {
    if (!s || timeout != timeout)
        return -EINVAL;
    int64_t deadline = corio__stream_deadline(timeout, s->wdeadline);
    int err = 0;
    if (s->wlen)
        send_all(s, NULL, 0, 0, deadline, &err);
    /* A layer that buffers under the stream (TLS records) sends its part. */
    if (err == 0 && s->tp->flush)
        err = s->tp->flush(s->tp_ctx, deadline);
    return err;
}

CORIO_API int corio_stream_shutdown(corio_stream *s, int how, double timeout) {
    if (!s || timeout != timeout || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
        return -EINVAL;
    if (how != SHUT_RD && !s->wshut) {
        int r = corio_stream_flush(s, timeout);
        if (r < 0)
            return r;
    }
    int r = s->tp->shutdown(s->tp_ctx, how);
    if (r < 0)
        return r;
    if (how != SHUT_RD)
        s->wshut = 1;
    if (how != SHUT_WR)
        s->rshut = 1;
    return 0;
}
