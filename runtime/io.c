/* corio — coroutine I/O: socket and file operations on the loop's ring.
 *
 * In a coroutine, every call is one SQE awaited with corio__loop_await,
 * which links a timeout when one is asked for and suspends the coroutine
 * until every CQE of the op is in; cancelling the coroutine turns into an
 * IORING_OP_ASYNC_CANCEL of that op (coro.c). No allocation per op: the op
 * record and the timeout's timespec live on the coroutine's stack, which is
 * also why a call never returns before the kernel let go of the caller's
 * buffers.
 *
 * Two paths share the "poll, then system call" shape:
 *  - a plain thread (poll(2) bounds the wait), and
 *  - a coroutine whose kernel lacks the opcode (an IORING_OP_POLL_ADD on
 *    the ring bounds the wait, then the system call runs on the loop thread).
 * Both retry on -EAGAIN (non-blocking descriptors) until the deadline, so
 * the caller never sees -EAGAIN for lack of readiness.
 *
 * Ring ops on non-blocking descriptors: for sockets the kernel arms its own
 * poll and retries; read/write on an O_NONBLOCK pipe return -EAGAIN
 * instead, which we meet with a ring poll and a retry.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "corio/io.h"
#include "io_internal.h"
#include "loop.h"

/* ---- kernel support, probed once per process ---- */

/* 1 when the kernel has the opcode; filled by the first loop that asks. */
static unsigned char op_ok[IORING_OP_LAST];
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
/* The loop whose ring answers the probe: the caller's own, per thread, read
 * by probe() on the same thread inside pthread_once. */
static CORIO__TLS_HOT corio__loop *probe_loop;

int corio__io_force_fallback;

static void probe(void) {
    struct io_uring_probe *p = io_uring_get_probe_ring(&probe_loop->ring);
    if (!p)
        return; /* no probe (before 5.6): every op goes the fallback way */
    for (int op = 0; op < IORING_OP_LAST; op++)
        op_ok[op] = (unsigned char)io_uring_opcode_supported(p, op);
    io_uring_free_probe(p);
}

/* The current loop when the caller is a coroutine that may use `opcode`
 * on the ring, else NULL. */
static corio__loop *ring_for(int opcode) {
    corio__loop *l = corio__tls_loop;
    if (!corio__tls_coro || !l)
        return NULL;
    probe_loop = l;
    pthread_once(&probe_once, probe);
    return op_ok[opcode] && !corio__io_force_fallback ? l : NULL;
}

int corio__io_op_supported(int opcode) {
    corio__loop *l = corio__tls_loop;
    if (!l)
        return -1;
    probe_loop = l;
    pthread_once(&probe_once, probe);
    return op_ok[opcode];
}

/* ---- deadlines ---- */

static int bad_timeout(double timeout) { return timeout != timeout; }

/* poll(2)'s milliseconds, rounded up so that we never wake just before. */
static int left_ms(int64_t deadline) {
    if (deadline == INT64_MAX)
        return -1;
    int64_t d = deadline - corio__now_ns();
    if (d <= 0)
        return 0;
    int64_t ms = (d + 999999) / 1000000;
    return ms > 1000000000 ? 1000000000 : (int)ms;
}

/* ---- the ring path ---- */

/* Await one prepared SQE with whatever is left of the deadline. */
static int ring_await(corio__loop *l, struct io_uring_sqe *sqe, int64_t deadline) {
    return corio__loop_await(l, sqe, corio__left_s(deadline), NULL);
}

/* ---- readiness: ring poll in a coroutine, poll(2) on a thread ---- */

/* Wait until fd has one of `events`. Returns revents (> 0), -ETIMEDOUT,
 * -ECANCELED or -errno. */
static int wait_ready(int fd, short events, int64_t deadline) {
    corio__loop *l = corio__tls_coro ? corio__tls_loop : NULL;
    if (l && op_ok[IORING_OP_POLL_ADD]) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_poll_add(sqe, fd, (unsigned)events);
        return ring_await(l, sqe, deadline);
    }
    if (l && corio__tls_coro) {
        /* No ring poll at all (pre-5.1 kernel): poll without blocking the
         * loop, yielding between tries. */
        for (;;) {
            struct pollfd p = {.fd = fd, .events = events};
            int r = poll(&p, 1, 0);
            if (r > 0)
                return p.revents;
            if (r < 0 && errno != EINTR)
                return -errno;
            if (corio__now_ns() >= deadline)
                return -ETIMEDOUT;
            if (corio_yield() < 0)
                return -ECANCELED;
        }
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left_ms(deadline));
        if (r > 0)
            return p.revents;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* The two helpers above, for the other I/O modules (runtime/net/): see
 * io_internal.h. Thin wrappers, so io.c's own calls stay static. */
corio__loop *corio__io_ring_for(int opcode) { return ring_for(opcode); }
int corio__io_wait_ready(int fd, short events, int64_t deadline) {
    return wait_ready(fd, events, deadline);
}

/* ---- the system-call path ---- */

/* One blocking operation as a system call: `call` performs it once and
 * returns the result or -errno. */
typedef struct sys_op {
    int fd;          /* the descriptor */
    short events;    /* readiness it needs */
    int can_nowait;  /* `call` takes a don't-block flag (sockets) */
    ssize_t (*call)(const struct sys_op *o, int nowait);
    void *buf;                /* buffer (recv/send/read/write) */
    size_t len;               /* its length */
    int flags;                /* recv/send/accept flags */
    int64_t off;              /* file offset or -1 */
    const struct iovec *iov;  /* readv/writev */
    int iovcnt;               /* its length */
    struct sockaddr *addr;    /* accept */
    socklen_t *addrlen;       /* accept */
} sys_op;

static ssize_t neg(ssize_t r) { return r < 0 ? -errno : r; }

/* Run o on this thread (or on the loop thread, fallback) until it completes,
 * fails other than with -EAGAIN, or the deadline passes. */
static ssize_t sys_run(const sys_op *o, int64_t deadline) {
    int in_coro = corio__tls_coro != NULL;
    if (!in_coro && deadline == INT64_MAX) {
        /* No limit on a thread: the plain blocking call is one syscall.
         * Only a non-blocking descriptor needs the poll loop below. */
        for (;;) {
            ssize_t r = o->call(o, 0);
            if (r != -EINTR && r != -EAGAIN && r != -EWOULDBLOCK)
                return r;
            if (r == -EINTR)
                continue;
            break;
        }
    }
    for (;;) {
        if (o->can_nowait) {
            ssize_t r = o->call(o, 1);
            if (r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR)
                return r;
        }
        int w = wait_ready(o->fd, o->events, deadline);
        if (w < 0)
            return w;
        if (!o->can_nowait) {
            /* Ready: the call should not block (a race with another reader
             * of the same descriptor could still make it wait). */
            ssize_t r = o->call(o, 0);
            if (r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR)
                return r;
        }
        if (in_coro && corio_cancel_requested())
            return -ECANCELED;
        if (deadline != INT64_MAX && corio__now_ns() >= deadline)
            return -ETIMEDOUT;
    }
}

static ssize_t call_recv(const sys_op *o, int nowait) {
    return neg(recv(o->fd, o->buf, o->len, o->flags | (nowait ? MSG_DONTWAIT : 0)));
}
static ssize_t call_send(const sys_op *o, int nowait) {
    return neg(send(o->fd, o->buf, o->len, o->flags | MSG_NOSIGNAL | (nowait ? MSG_DONTWAIT : 0)));
}
static ssize_t call_read(const sys_op *o, int nowait) {
    (void)nowait;
    return neg(o->off < 0 ? read(o->fd, o->buf, o->len) : pread(o->fd, o->buf, o->len, o->off));
}
static ssize_t call_write(const sys_op *o, int nowait) {
    (void)nowait;
    return neg(o->off < 0 ? write(o->fd, o->buf, o->len)
                          : pwrite(o->fd, o->buf, o->len, o->off));
}
static ssize_t call_readv(const sys_op *o, int nowait) {
    (void)nowait;
    return neg(o->off < 0 ? readv(o->fd, o->iov, o->iovcnt)
                          : preadv(o->fd, o->iov, o->iovcnt, o->off));
}
static ssize_t call_writev(const sys_op *o, int nowait) {
    (void)nowait;
    return neg(o->off < 0 ? writev(o->fd, o->iov, o->iovcnt)
                          : pwritev(o->fd, o->iov, o->iovcnt, o->off));
}
static ssize_t call_accept(const sys_op *o, int nowait) {
    (void)nowait;
    return neg(accept4(o->fd, o->addr, o->addrlen, o->flags));
}

/* ---- ring ops with the -EAGAIN retry ---- */

/* Await `sqe`; on -EAGAIN (a non-blocking pipe or file), wait for `events`
 * on the ring and let `reprep` prepare the op again. */
typedef void (*prep_fn)(struct io_uring_sqe *sqe, const sys_op *o);

/* A receive right after this coroutine's own send is most likely waiting
 * for the answer to it: request and response, either side. Then the
 * kernel's first attempt would only find the socket empty (a locked
 * tcp_recvmsg that returns -EAGAIN) before it arms its poll, so
 * IORING_RECVSEND_POLL_FIRST arms the poll at once. A wrong guess (data
 * already there, or the send went to another socket, as in a relay) costs
 * little: the poll finds the socket readable and the receive runs from
 * task work in the same ring enter. The coroutine record has a byte to
 * spare, not an fd (it fills its slot), hence no check of the socket. The
 * flag is 5.19's; a ring that took SINGLE_ISSUER (6.0) has it, and older
 * kernels would reject the SQE. Not with MSG_DONTWAIT, which would then
 * fail with -EAGAIN without a look at the socket. */
static ssize_t ring_run(corio__loop *l, int opcode, const sys_op *o, prep_fn prep,
                        int64_t deadline) {
    corio__coro *c = l->current;
    for (;;) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        prep(sqe, o);
        if (opcode == IORING_OP_RECV && c->sent && !(o->flags & MSG_DONTWAIT) &&
            (l->setup_flags & IORING_SETUP_SINGLE_ISSUER))
            sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        int r = ring_await(l, sqe, deadline);
        c->sent = opcode == IORING_OP_SEND && r > 0;
        if (r != -EAGAIN)
            return r;
        r = wait_ready(o->fd, o->events, deadline);
        if (r < 0)
            return r;
    }
}

static void prep_recv(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_recv(s, o->fd, o->buf, o->len, o->flags);
}
static void prep_send(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_send(s, o->fd, o->buf, o->len, o->flags | MSG_NOSIGNAL);
}
static void prep_read(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_read(s, o->fd, o->buf, (unsigned)o->len, (uint64_t)o->off);
}
static void prep_write(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_write(s, o->fd, o->buf, (unsigned)o->len, (uint64_t)o->off);
}
static void prep_readv(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_readv(s, o->fd, o->iov, (unsigned)o->iovcnt, (uint64_t)o->off);
}
static void prep_writev(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_writev(s, o->fd, o->iov, (unsigned)o->iovcnt, (uint64_t)o->off);
}
static void prep_accept(struct io_uring_sqe *s, const sys_op *o) {
    io_uring_prep_accept(s, o->fd, o->addr, o->addrlen, o->flags);
}

/* The one body of every buffer/fd op: validate, then ring or syscall. */
static ssize_t run(int opcode, sys_op *o, prep_fn prep, double timeout) {
    if (bad_timeout(timeout))
        return -EINVAL;
    if (o->fd < 0)
        return -EBADF;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    int64_t deadline = corio__deadline(timeout);
    corio__loop *l = ring_for(opcode);
    if (l)
        return ring_run(l, opcode, o, prep, deadline);
    int saved = errno;
    ssize_t r = sys_run(o, deadline);
    errno = saved;
    return r;
}

/* The kernel caps one transfer at MAX_RW_COUNT (INT_MAX rounded down to a
 * page); a CQE's res is an int. Asking for more than fits would be cut
 * short anyway, so cut it here where the ring's 32-bit length needs it. */
#define IO_MAX ((size_t)0x7ffff000)

/* ---- public API ---- */

CORIO_API int corio_socket(int domain, int type, int protocol) {
    /* socket(2) never blocks: the plain call is cheapest in both worlds. */
    int saved = errno;
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        fd = -errno;
        errno = saved;
    }
    return fd;
}

CORIO_API int corio_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
                           double timeout) {
    if (addr && !addrlen)
        return -EFAULT;
    /* What accept(2) would refuse at once, a readiness wait (ring or
     * poll(2)) would wait on forever: a pipe never has a connection. */
    int listening = 0, saved = errno;
    socklen_t ll = sizeof listening;
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) < 0) {
        int e = -errno;
        errno = saved;
        return e;
    }
    if (fd >= 0 && !listening)
        return -EINVAL;
    sys_op o = {.fd = fd, .events = POLLIN, .call = call_accept, .addr = addr,
                .addrlen = addr ? addrlen : NULL, .flags = flags | SOCK_CLOEXEC};
    return (int)run(IORING_OP_ACCEPT, &o, prep_accept, timeout);
}

/* connect on a thread: a blocking connect cannot be bounded, so with a
 * deadline the socket is made non-blocking for the attempt. */
static int connect_sys(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    int nb = deadline != INT64_MAX || corio__tls_coro;
    if (nb && !(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int r = connect(fd, addr, len);
    if (r < 0)
        r = -errno;
    if (r == -EINTR && !nb)
        r = -EINPROGRESS; /* the connection goes on; wait for it */
    if (r == -EINPROGRESS || r == -EALREADY) {
        r = wait_ready(fd, POLLOUT, deadline);
        if (r > 0) {
            int err = 0;
            socklen_t el = sizeof err;
            r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ? -errno : -err;
        }
    }
    if (nb && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl);
    return r;
}

CORIO_API int corio_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                            double timeout) {
    if (bad_timeout(timeout))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!addr)
        return -EFAULT;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    int64_t deadline = corio__deadline(timeout);
    corio__loop *l = ring_for(IORING_OP_CONNECT);
    if (!l) {
        int saved = errno;
        int r = connect_sys(fd, addr, addrlen, deadline);
        errno = saved;
        return r;
    }
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_connect(sqe, fd, addr, addrlen);
    int r = ring_await(l, sqe, deadline);
    if (r == -EINPROGRESS || r == -EALREADY) {
        /* A non-blocking socket: the ring reports what connect(2) would. */
        r = wait_ready(fd, POLLOUT, deadline);
        if (r > 0) {
            int err = 0;
            socklen_t el = sizeof err;
            r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ? -errno : -err;
        }
    }
    return r;
}

CORIO_API ssize_t corio_recv(int fd, void *buf, size_t len, int flags, double timeout) {
    if (!buf && len)
        return -EFAULT;
    sys_op o = {.fd = fd, .events = POLLIN, .can_nowait = 1, .call = call_recv, .buf = buf,
                .len = len > IO_MAX ? IO_MAX : len, .flags = flags};
    return run(IORING_OP_RECV, &o, prep_recv, timeout);
}

CORIO_API ssize_t corio_send(int fd, const void *buf, size_t len, int flags, double timeout) {
    if (!buf && len)
        return -EFAULT;
    sys_op o = {.fd = fd, .events = POLLOUT, .can_nowait = 1, .call = call_send,
                .buf = (void *)(uintptr_t)buf, .len = len > IO_MAX ? IO_MAX : len,
                .flags = flags};
    return run(IORING_OP_SEND, &o, prep_send, timeout);
}

CORIO_API ssize_t corio_read(int fd, void *buf, size_t len, int64_t offset, double timeout) {
    if (!buf && len)
        return -EFAULT;
    if (offset < -1)
        return -EINVAL;
    sys_op o = {.fd = fd, .events = POLLIN, .call = call_read, .buf = buf,
                .len = len > IO_MAX ? IO_MAX : len, .off = offset};
    return run(IORING_OP_READ, &o, prep_read, timeout);
}

CORIO_API ssize_t corio_write(int fd, const void *buf, size_t len, int64_t offset,
                              double timeout) {
    if (!buf && len)
        return -EFAULT;
    if (offset < -1)
        return -EINVAL;
    sys_op o = {.fd = fd, .events = POLLOUT, .call = call_write, .buf = (void *)(uintptr_t)buf,
                .len = len > IO_MAX ? IO_MAX : len, .off = offset};
    return run(IORING_OP_WRITE, &o, prep_write, timeout);
}

CORIO_API ssize_t corio_readv(int fd, const struct iovec *iov, int iovcnt, int64_t offset,
                              double timeout) {
    if (!iov && iovcnt)
        return -EFAULT;
    if (iovcnt < 0 || offset < -1)
        return -EINVAL;
    sys_op o = {.fd = fd, .events = POLLIN, .call = call_readv, .iov = iov, .iovcnt = iovcnt,
                .off = offset};
    return run(IORING_OP_READV, &o, prep_readv, timeout);
}

CORIO_API ssize_t corio_writev(int fd, const struct iovec *iov, int iovcnt, int64_t offset,
                               double timeout) {
    if (!iov && iovcnt)
        return -EFAULT;
    if (iovcnt < 0 || offset < -1)
        return -EINVAL;
    sys_op o = {.fd = fd, .events = POLLOUT, .call = call_writev, .iov = iov, .iovcnt = iovcnt,
                .off = offset};
    return run(IORING_OP_WRITEV, &o, prep_writev, timeout);
}

CORIO_API int corio_close(int fd) {
    if (fd < 0)
        return -EBADF;
    corio__loop *l = ring_for(IORING_OP_CLOSE);
    if (l && !corio_cancel_requested()) {
        /* The ring defers the final fput to the kernel's task work; the
         * coroutine still waits for the result. Never linked to a timeout,
         * and a cancel cannot stop a close once submitted. */
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_close(sqe, fd);
        int r = corio__loop_await(l, sqe, -1, NULL);
        if (r != -ECANCELED)
            return r;
        /* Cancelled between submission and issue: close it here. */
    }
    /* close(2) frees the descriptor even when it reports EINTR (Linux):
     * never retry. */
    int saved = errno;
    int r = close(fd) < 0 && errno != EINTR ? -errno : 0;
    errno = saved;
    return r;
}

CORIO_API int corio_openat(int dirfd, const char *path, int flags, mode_t mode, double timeout) {
    if (bad_timeout(timeout))
        return -EINVAL;
    if (!path)
        return -EFAULT;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    corio__loop *l = ring_for(IORING_OP_OPENAT);
    if (l) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_openat(sqe, dirfd, path, flags | O_CLOEXEC, mode);
        return ring_await(l, sqe, corio__deadline(timeout));
    }
    int saved = errno;
    int fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        fd = -errno;
        errno = saved;
    }
    return fd;
}

CORIO_API int corio_fsync(int fd, bool datasync, double timeout) {
    if (bad_timeout(timeout))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    corio__loop *l = ring_for(IORING_OP_FSYNC);
    if (l) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
        return ring_await(l, sqe, corio__deadline(timeout));
    }
    int saved = errno;
    int r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
    errno = saved;
    return r;
}

CORIO_API int corio_poll(int fd, short events, double timeout) {
    if (bad_timeout(timeout))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    int64_t deadline = corio__deadline(timeout);
    corio__loop *l = ring_for(IORING_OP_POLL_ADD);
    if (l) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_poll_add(sqe, fd, (unsigned)events);
        return ring_await(l, sqe, deadline);
    }
    /* poll(2) reports a bad descriptor as POLLNVAL; keep the -EBADF the
     * ring's poll gives, so both worlds agree. */
    int saved = errno;
    int r = wait_ready(fd, events, deadline);
    errno = saved;
    return r > 0 && (r & POLLNVAL) ? -EBADF : r;
}
