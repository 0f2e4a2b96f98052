/* corio — message I/O: sendmsg/recvmsg (and sendto/recvfrom over them) on
 * the ring, and the batched recvmmsg/sendmmsg.
 *
 * Two shapes, both with io.c's conventions (see corio/io.h):
 *
 *  - one message: in a coroutine one IORING_OP_SENDMSG / IORING_OP_RECVMSG
 *    awaited with corio__loop_await (a linked timeout bounds it; a cancel
 *    becomes an async cancel of the op); the kernel arms its own poll and
 *    retries, so the op completes only with a datagram or an error.
 *  - everything else (the batched calls, a kernel without the opcode, a
 *    plain thread): "try without waiting, then wait for readiness, then try
 *    again", the readiness wait being a ring poll in a coroutine and
 *    poll(2) on a thread (corio__io_wait_ready).
 *
 * Why recvmmsg after a ring poll rather than a multishot recvmsg with a
 * provided-buffer ring: the caller's mmsghdr array names the buffers, so
 * recvmmsg fills them directly (no copy out of a kernel-selected buffer),
 * needs no per-socket state or registered buffer group, and one wake-up
 * still takes every datagram queued (up to n) in one system call. Under
 * load the first try usually succeeds and no ring op is needed at all.
 *
 * No allocation anywhere: the op records live on the caller's stack. A
 * call never returns before the kernel let go of the caller's msghdr
 * (corio__loop_await waits for every CQE), so nothing is retained.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "corio/udp.h"
#include "io_internal.h"
#include "loop.h"

/* The kernel caps one transfer at MAX_RW_COUNT and a CQE's res is an int
 * (as in io.c). */
#define IO_MAX ((size_t)0x7ffff000)

/* The kernel takes at most UIO_MAXIOV messages per recvmmsg/sendmmsg; a
 * larger n is cut here so that the int result cannot overflow. */
#define MMSG_MAX 1024u

/* What one message operation does. */
enum { K_RECVMSG, K_SENDMSG, K_RECVMMSG, K_SENDMMSG };

/* One message operation, as the system-call path performs it. */
typedef struct msg_op {
    int kind;            /* K_* */
    int fd;              /* the socket */
    short events;        /* readiness it waits for: POLLIN or POLLOUT */
    int flags;           /* caller's MSG_* flags (MSG_NOSIGNAL added to sends) */
    struct msghdr *msg;  /* K_RECVMSG, K_SENDMSG */
    struct mmsghdr *mm;  /* K_RECVMMSG, K_SENDMMSG */
    unsigned n;          /* length of mm */
} msg_op;

/* The operation once, as a system call: the result or -errno. `nowait`
 * adds MSG_DONTWAIT; without it the batched receive still returns after
 * the first datagram (MSG_WAITFORONE), as the call documents. */
static ssize_t call(const msg_op *o, int nowait) {
    int f = o->flags | (nowait ? MSG_DONTWAIT : 0);
    ssize_t r;
    switch (o->kind) {
    case K_RECVMSG:
        r = recvmsg(o->fd, o->msg, f);
        break;
    case K_SENDMSG:
        r = sendmsg(o->fd, o->msg, f | MSG_NOSIGNAL);
        break;
    case K_RECVMMSG:
        r = recvmmsg(o->fd, o->mm, o->n, f | MSG_WAITFORONE, NULL);
        break;
    default:
        r = sendmmsg(o->fd, o->mm, o->n, f | MSG_NOSIGNAL);
        break;
    }
    return r < 0 ? -errno : r;
}

static int again(ssize_t r) { return r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR; }

/* The system-call path: try, wait for readiness, try again, until the call
 * completes, fails other than for lack of readiness, or the deadline
 * passes. A datagram taken by a try is always returned, even if a cancel
 * or the deadline arrived meanwhile. */
static ssize_t sys_run(const msg_op *o, int64_t deadline) {
    int in_coro = corio__tls_coro != NULL;
    if (!in_coro && deadline == INT64_MAX && o->kind != K_SENDMMSG) {
        /* A thread without a limit: the blocking call is one syscall. Only
         * a non-blocking socket needs the poll loop below. Not for
         * sendmmsg: blocking, it would wait for room for every message
         * after the first, where the call returns what the socket took. */
        ssize_t r;
        do
            r = call(o, 0);
        while (r == -EINTR);
        if (!again(r))
            return r;
    }
    ssize_t r = call(o, 1);
    for (;;) {
        if (!again(r))
            return r;
        if (in_coro && corio_cancel_requested())
            return -ECANCELED;
        /* Checked after a try, so a datagram that is there at the deadline
         * (or with a zero timeout) is still taken. */
        if (deadline != INT64_MAX && corio__now_ns() >= deadline)
            return -ETIMEDOUT;
        int w = corio__io_wait_ready(o->fd, o->events, deadline);
        if (w < 0)
            return w;
        /* Ready, or an error condition, which this try reports. */
        r = call(o, 1);
    }
}

/* The ring path of one message: the op, and on -EAGAIN (MSG_DONTWAIT in
 * the caller's flags, or a socket the kernel would not poll) a readiness
 * wait and the op again. */
static ssize_t ring_run(corio__loop *l, const msg_op *o, int64_t deadline) {
    for (;;) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        if (o->kind == K_RECVMSG)
            io_uring_prep_recvmsg(sqe, o->fd, o->msg, (unsigned)o->flags);
        else
            io_uring_prep_sendmsg(sqe, o->fd, o->msg, (unsigned)(o->flags | MSG_NOSIGNAL));
        int r = corio__loop_await(l, sqe, corio__left_s(deadline), NULL);
        if (r != -EAGAIN && r != -EWOULDBLOCK)
            return r;
        r = corio__io_wait_ready(o->fd, o->events, deadline);
        if (r < 0)
            return r;
    }
}

/* The one body of every call here: validate, then the ring or the system
 * call, errno preserved. */
static ssize_t run(msg_op *o, double timeout) {
    if (timeout != timeout)
        return -EINVAL;
    if (o->fd < 0)
        return -EBADF;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    int64_t deadline = corio__deadline(timeout);
    int saved = errno;
    ssize_t r;
    int opcode = o->kind == K_RECVMSG ? IORING_OP_RECVMSG
                 : o->kind == K_SENDMSG ? IORING_OP_SENDMSG
                                        : IORING_OP_POLL_ADD;
    /* Asked in every case: the first call of a loop probes the kernel,
     * which the readiness wait of the system-call path relies on. */
    corio__loop *l = corio__io_ring_for(opcode);
    if (l && (o->kind == K_RECVMSG || o->kind == K_SENDMSG))
        r = ring_run(l, o, deadline);
    else
        r = sys_run(o, deadline);
    errno = saved;
    return r;
}

/* -EFAULT when an iovec of msg names a NULL buffer with a length, or the
 * array itself is NULL with a count: the ring would fault too, but later
 * and in a worker; here it is a clear error before anything starts. */
static int check_msg(const struct msghdr *m) {
    if (!m)
        return -EFAULT;
    if (!m->msg_iov && m->msg_iovlen)
        return -EFAULT;
    if (!m->msg_control && m->msg_controllen)
        return -EFAULT;
    return 0;
}

/* ---- public API ---- */

CORIO_API ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags, double timeout) {
    int e = check_msg(msg);
    if (e)
        return e;
    /* sendmsg(2) takes a const msghdr; the ring's prep wants a plain
     * pointer but does not write through it. */
    msg_op o = {.kind = K_SENDMSG, .fd = fd, .events = POLLOUT, .flags = flags,
                .msg = (struct msghdr *)(uintptr_t)msg};
    return run(&o, timeout);
}

CORIO_API ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags, double timeout) {
    int e = check_msg(msg);
    if (e)
        return e;
    msg_op o = {.kind = K_RECVMSG, .fd = fd, .events = POLLIN, .flags = flags, .msg = msg};
    return run(&o, timeout);
}

CORIO_API ssize_t corio_sendto(int fd, const void *buf, size_t len, int flags,
                               const struct sockaddr *addr, socklen_t addrlen, double timeout) {
    if (!buf && len)
        return -EFAULT;
    if (!addr && addrlen)
        return -EFAULT;
    struct iovec iov = {.iov_base = (void *)(uintptr_t)buf,
                        .iov_len = len > IO_MAX ? IO_MAX : len};
    struct msghdr m = {.msg_name = (void *)(uintptr_t)addr, .msg_namelen = addr ? addrlen : 0,
                       .msg_iov = &iov, .msg_iovlen = 1};
    msg_op o = {.kind = K_SENDMSG, .fd = fd, .events = POLLOUT, .flags = flags, .msg = &m};
    return run(&o, timeout);
}

CORIO_API ssize_t corio_recvfrom(int fd, void *buf, size_t len, int flags,
                                 struct sockaddr *addr, socklen_t *addrlen, double timeout) {
    if (!buf && len)
        return -EFAULT;
    if (addr && !addrlen)
        return -EFAULT;
    struct iovec iov = {.iov_base = buf, .iov_len = len > IO_MAX ? IO_MAX : len};
    struct msghdr m = {.msg_name = addr, .msg_namelen = addr ? *addrlen : 0, .msg_iov = &iov,
                       .msg_iovlen = 1};
    msg_op o = {.kind = K_RECVMSG, .fd = fd, .events = POLLIN, .flags = flags, .msg = &m};
    ssize_t r = run(&o, timeout);
    if (r >= 0 && addr)
        *addrlen = m.msg_namelen;
    return r;
}

/* The batched calls: the same validation, n cut to what the kernel takes. */
static int mmsg(int kind, int fd, struct mmsghdr *msgs, unsigned n, int flags,
                double timeout) {
    if (!msgs && n)
        return -EFAULT;
    if (timeout != timeout)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (n == 0)
        return 0;
    msg_op o = {.kind = kind, .fd = fd, .events = kind == K_RECVMMSG ? POLLIN : POLLOUT,
                .flags = flags, .mm = msgs, .n = n > MMSG_MAX ? MMSG_MAX : n};
    return (int)run(&o, timeout);
}

CORIO_API int corio_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                             double timeout) {
    return mmsg(K_RECVMMSG, fd, msgs, n, flags, timeout);
}

CORIO_API int corio_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                             double timeout) {
    return mmsg(K_SENDMMSG, fd, msgs, n, flags, timeout);
}
