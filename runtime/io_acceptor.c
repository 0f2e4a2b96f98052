/* corio — the acceptor: one multishot accept feeding many corio_acceptor_next
 * calls.
 *
 * A single IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT stays armed in the
 * kernel and posts one CQE per accepted connection (IORING_CQE_F_MORE set
 * while it stays armed). The loop hands each CQE to accept_cqe (corio__op's
 * on_cqe), which queues the descriptor and wakes the coroutine waiting in
 * corio_acceptor_next, if any. When the kernel ends the multishot (an
 * error such as -EMFILE, or our own cancel), the next call re-arms it.
 *
 *   kernel ──CQE(fd, F_MORE)──▶ accept_cqe ──push──▶ q[] ──pop──▶ next()
 *                                    └──unpark──▶ waiting coroutine
 *
 * Back-pressure: when QUEUE_PAUSE descriptors wait unclaimed, the
 * multishot is cancelled so that further connections stay in the socket's
 * backlog (where the kernel's limits apply) instead of piling up here.
 * Everything below runs on the owning loop's thread only: no locks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio/io.h"
#include "io_internal.h"
#include "loop.h"
#include "fault.h"

#define QUEUE_PAUSE 128

struct corio_acceptor {
    corio__op op;           /* the multishot accept (user_data = &op) */
    int fd;                 /* listening socket (borrowed) */
    int flags;              /* accept4 flags, SOCK_CLOEXEC included */
    corio__loop *loop;      /* owning loop, set by the first coroutine's next */
    int armed;              /* a multishot accept is in the kernel */
    int pausing;            /* we asked the kernel to cancel it (back-pressure) */
    int multishot;          /* 1 multishot works, 0 kernel refused it, -1 unknown */
    int stopping;           /* destroy in progress: close what still arrives */
    int err;                /* error that ended the multishot, reported once */
    int *q;                 /* ring buffer of accepted, unclaimed descriptors */
    size_t qhead, qlen, qcap; /* its first slot, length and capacity */
    corio__parker *waiter;  /* the coroutine parked in next(), if any */
    corio__coro *destroyer; /* the coroutine waiting in destroy() */
};

static int push(corio_acceptor *a, int fd) {
    if (a->qlen == a->qcap) {
        size_t cap = a->qcap ? 2 * a->qcap : 16;
        int *q = corio__malloc(cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        for (size_t i = 0; i < a->qlen; i++)
            q[i] = a->q[(a->qhead + i) % a->qcap];
        free(a->q);
        a->q = q;
        a->qhead = 0;
        a->qcap = cap;
    }
    a->q[(a->qhead + a->qlen) % a->qcap] = fd;
    a->qlen++;
    return 0;
}

static int pop(corio_acceptor *a) {
    int fd = a->q[a->qhead];
    a->qhead = (a->qhead + 1) % a->qcap;
    a->qlen--;
    return fd;
}

/* One CQE of the multishot accept (loop thread, from reap). */
static void accept_cqe(corio__loop *l, corio__op *op, struct io_uring_cqe *cqe) {
    corio_acceptor *a = (corio_acceptor *)(void *)op;
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (cqe->res >= 0) {
        a->multishot = 1;
        if (a->stopping || push(a, cqe->res) < 0)
            close(cqe->res); /* nobody will claim it / no memory to keep it */
    } else if (!more) {
        if (cqe->res == -EINVAL && a->multishot < 0)
            a->multishot = 0; /* the kernel does not know the flag: one accept per call */
        else if (cqe->res != -ECANCELED || !(a->pausing || a->stopping))
            a->err = cqe->res;
    }
    if (!more) {
        a->armed = 0;
        a->pausing = 0;
        if (a->destroyer)
            corio__loop_make_ready(l, a->destroyer);
    } else if (a->qlen >= QUEUE_PAUSE && !a->pausing) {
        struct io_uring_sqe *sqe = corio__loop_sqe(l);
        io_uring_prep_cancel(sqe, &a->op, 0);
        io_uring_sqe_set_data64(sqe, 0);
        a->pausing = 1;
    }
    if (a->waiter)
        corio__parker_unpark(a->waiter);
}

static void arm(corio_acceptor *a, corio__loop *l) {
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_multishot_accept(sqe, a->fd, NULL, NULL, a->flags);
    io_uring_sqe_set_data(sqe, &a->op);
    a->op.on_cqe = accept_cqe;
    a->armed = 1;
    l->inflight++; /* until the CQE without F_MORE (see loop.c handle_cqe) */
}

CORIO_API int corio_acceptor_create(int fd, int flags, corio_acceptor **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    corio_acceptor *a = corio__calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->fd = fd;
    a->flags = flags | SOCK_CLOEXEC;
    a->multishot = -1;
    *out = a;
    return 0;
}

static int hand_out(int fd, struct sockaddr *addr, socklen_t *addrlen) {
    int saved = errno;
    if (addr && getpeername(fd, addr, addrlen) < 0)
        *addrlen = 0; /* the peer already went away; the fd is still valid */
    errno = saved;
    return fd;
}

CORIO_API int corio_acceptor_next(corio_acceptor *a, struct sockaddr *addr, socklen_t *addrlen,
                                  double timeout) {
    if (!a || timeout != timeout)
        return -EINVAL;
    if (addr && !addrlen)
        return -EFAULT;
    corio__loop *l = corio__tls_coro ? corio__tls_loop : NULL;
    if (!l) {
        /* A plain thread: an acceptor never used by coroutines is a plain
         * accept. */
        if (a->loop)
            return -EINVAL;
        return corio_accept(a->fd, addr, addrlen, a->flags, timeout);
    }
    if (!a->loop)
        a->loop = l;
    else if (a->loop != l)
        return -EINVAL;
    if (a->waiter)
        return -EBUSY;
    if (corio__io_op_supported(IORING_OP_ACCEPT) != 1 || corio__io_force_fallback)
        a->multishot = 0;
    int64_t deadline = corio__deadline(timeout);
    for (;;) {
        if (a->qlen)
            return hand_out(pop(a), addr, addrlen);
        if (a->err) {
            int e = a->err;
            a->err = 0;
            return e;
        }
        if (corio_cancel_requested())
            return -ECANCELED;
        if (a->multishot == 0 && !a->armed) {
            double left = -1;
            if (deadline != INT64_MAX) {
                int64_t d = deadline - corio__now_ns();
                left = d > 0 ? (double)d / 1e9 : 0;
            }
            return corio_accept(a->fd, addr, addrlen, a->flags, left);
        }
        if (!a->armed)
            arm(a, l);
        corio__parker p;
        corio__parker_init(&p);
        a->waiter = &p;
        int r = corio__parker_park(&p, deadline);
        a->waiter = NULL;
        /* A connection that raced in with a timeout or cancel stays queued
         * for the next call: it is never lost. */
        if (r < 0)
            return r;
    }
}

CORIO_API void corio_acceptor_destroy(corio_acceptor *a) {
    if (!a)
        return;
    a->stopping = 1;
    if (a->armed) {
        corio__coro *c = corio__tls_coro;
        if (!c || corio__tls_loop != a->loop) {
            corio__log("corio_acceptor_destroy: called off its loop while armed; leaked");
            return;
        }
        struct io_uring_sqe *sqe = corio__loop_sqe(a->loop);
        io_uring_prep_cancel(sqe, &a->op, 0);
        io_uring_sqe_set_data64(sqe, 0);
        /* Wait for the last CQE: a->op is named by the kernel until then.
         * Deliberately deaf to cancellation (only accept_cqe wakes us). */
        a->destroyer = c;
        while (a->armed)
            corio__coro_suspend(c);
    }
    while (a->qlen)
        close(pop(a));
    free(a->q);
    free(a);
}
