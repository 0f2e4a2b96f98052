/* corio — dial: resolve, then connect with Happy Eyeballs (RFC 8305).
 *
 * The addresses are interleaved by family, IPv6 first (section 4); one
 * attempt starts, and the next starts when the Connection Attempt Delay
 * (250 ms) has passed since, or at once when every running attempt has
 * failed (section 5). The first attempt to connect wins; the others are
 * cancelled and their sockets closed before the call returns, whatever way
 * it returns (success, failure, timeout, cancel of the caller).
 *
 *   t=0      attempt 1 (v6) ─────────────── ... (blackholed)
 *   t=250ms            attempt 2 (v4) ──✓   ← winner; attempt 1 cancelled
 *
 * In a coroutine, the attempts are ring operations driven by the calling
 * coroutine itself, not helper coroutines: each attempt is a corio__op
 * with an on_cqe handler (like the acceptor's multishot accept), an
 * IORING_OP_CONNECT (or, where the kernel lacks it, a non-blocking
 * connect(2) and an IORING_OP_POLL_ADD), all in flight at once. The
 * caller parks until the next deadline or a completion. Why not helper
 * coroutines: each would need a stack and a future, and a cancelled
 * caller cannot join them (every blocking call of a cancelled coroutine
 * returns -ECANCELED at once), while its own ops it can always drain: it
 * cancels them and suspends, deaf to cancellation, until their last CQEs
 * are in, as corio_acceptor_destroy does. The attempts live in one
 * allocation the caller frees after the drain.
 *
 * On a plain thread: non-blocking connects, poll(2) over the running ones.
 * A single address (Unix names, most numeric hosts) is one corio_connect:
 * nothing to race. Datagram sockets connect at once (no handshake): the
 * first address that connects wins, in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio/io.h"
#include "fault.h"
#include "io_internal.h"
#include "loop.h"
#include "net_internal.h"

enum { IDLE = 0, RUNNING, DONE };

typedef struct dialer dialer;

/* One connection attempt. In the coroutine path, `op` is named by the
 * kernel from submission until its CQE: the attempt must not move or be
 * freed before that. */
typedef struct attempt {
    corio__op op;                /* the ring op (connect or poll); first member */
    dialer *d;                   /* its dial */
    const corio__netaddr *addr;  /* where to */
    int fd;                      /* its socket, -1 once closed or never opened */
    int state;                   /* IDLE, RUNNING (in flight), DONE */
    int res;                     /* once DONE: 0 connected, or -errno */
    int polled;                  /* the op is a POLL_ADD after connect(2) */
    int seen;                    /* the dial loop has taken its DONE into account */
} attempt;

/* The state of one dial. */
struct dialer {
    corio__netaddr *addrs;   /* the addresses, interleaved (owned) */
    attempt *at;             /* one attempt per address (owned) */
    int n;                   /* number of both */
    const corio__netaddr *local; /* bind here first, or NULL */
    corio__loop *loop;       /* the caller's loop (coroutine path), else NULL */
    int use_connect_op;      /* IORING_OP_CONNECT (else connect(2) + POLL_ADD) */
    int running;             /* attempts in flight */
    int events;              /* completions since the dial loop last looked */
    corio__parker *waiter;   /* the caller, parked for the next event */
    corio__coro *drainer;    /* the caller, suspended until running == 0 */
};

static int neg_errno(void) { return errno ? -errno : -EIO; }

static int set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return neg_errno();
    int want = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return want == fl || fcntl(fd, F_SETFL, want) == 0 ? 0 : neg_errno();
}

static int so_error(int fd) {
    int err = 0;
    socklen_t el = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ? neg_errno() : -err;
}

/* RFC 8305 section 4: interleave the families, IPv6 first. The relative
 * order within a family is the resolver's (its RFC 6724 sorting). */
static void interleave(const corio__netaddr *in, int n, corio__netaddr *out) {
    int i6 = 0, i4 = 0, k = 0, turn6 = 1;
    while (k < n) {
        while (i6 < n && in[i6].family != AF_INET6)
            i6++;
        while (i4 < n && in[i4].family == AF_INET6)
            i4++;
        if (i6 < n && (turn6 || i4 >= n))
            out[k++] = in[i6++];
        else if (i4 < n)
            out[k++] = in[i4++];
        turn6 = !turn6;
    }
}

/* A socket for `a`, bound to the local address when there is one. */
static int open_socket(const dialer *d, const corio__netaddr *a, int nonblock) {
    int fd = socket(a->family, a->type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
                    a->protocol);
    if (fd < 0)
        return neg_errno();
    if (d->local && bind(fd, (const struct sockaddr *)&d->local->ss, d->local->len) < 0) {
        int e = neg_errno();
        close(fd);
        return e;
    }
    return fd;
}

/* ---- the coroutine path: attempts as ring ops ---- */

/* The CQE of an attempt's op (loop thread, from reap). */
static void attempt_cqe(corio__loop *l, corio__op *op, struct io_uring_cqe *cqe) {
    (void)l;
    attempt *at = (attempt *)(void *)op;
    dialer *d = at->d;
    int res = cqe->res;
    if (at->polled && res > 0)
        res = so_error(at->fd); /* ready for writing: connected or failed */
    at->res = res > 0 ? 0 : res;
    at->state = DONE;
    d->running--;
    d->events++;
    if (d->waiter)
        corio__parker_unpark(d->waiter);
    if (d->drainer && d->running == 0)
        corio__loop_make_ready(d->loop, d->drainer); /* once: at the last CQE */
}

/* Submit `at` as a ring op. Returns 1 (in flight), 0 (connected at once),
 * or -errno (failed at once). */
static int start_ring(dialer *d, attempt *at) {
    const corio__netaddr *a = at->addr;
    int fd = open_socket(d, a, !d->use_connect_op);
    if (fd < 0)
        return fd;
    at->fd = fd;
    struct io_uring_sqe *sqe;
    if (d->use_connect_op) {
        sqe = corio__loop_sqe(d->loop);
        io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&a->ss, a->len);
    } else {
        if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
            return set_nonblock(fd, 0);
        if (errno != EINPROGRESS)
            return neg_errno();
        at->polled = 1;
        sqe = corio__loop_sqe(d->loop);
        io_uring_prep_poll_add(sqe, fd, POLLOUT);
    }
    at->op.on_cqe = attempt_cqe;
    io_uring_sqe_set_data(sqe, &at->op);
    at->state = RUNNING;
    d->running++;
    d->loop->inflight++; /* until its CQE (loop.c handle_cqe) */
    return 1;
}

/* Park until an attempt completes or `until`. Returns 0 or -ECANCELED. */
static int wait_ring(dialer *d, int64_t until) {
    if (d->events)
        return 0;
    corio__parker p;
    corio__parker_init(&p);
    d->waiter = &p;
    int r = corio__parker_park(&p, until);
    d->waiter = NULL;
    return r == -ECANCELED ? r : 0;
}

/* Cancel every attempt in flight and wait, deaf to cancellation, until
 * the kernel has let go of all of them. */
static void drain_ring(dialer *d) {
    for (int i = 0; i < d->n; i++) {
        if (d->at[i].state != RUNNING)
            continue;
        struct io_uring_sqe *sqe = corio__loop_sqe(d->loop);
        io_uring_prep_cancel(sqe, &d->at[i].op, 0);
        io_uring_sqe_set_data64(sqe, 0);
    }
    if (d->running == 0)
        return;
    corio__coro *c = d->loop->current;
    d->drainer = c;
    while (d->running > 0)
        corio__coro_suspend(c);
    d->drainer = NULL;
}

/* ---- the thread path: non-blocking connects and poll(2) ---- */

static int start_sys(dialer *d, attempt *at) {
    int fd = open_socket(d, at->addr, 1);
    if (fd < 0)
        return fd;
    at->fd = fd;
    if (connect(fd, (const struct sockaddr *)&at->addr->ss, at->addr->len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return neg_errno();
    at->state = RUNNING;
    d->running++;
    return 1;
}

static int wait_sys(dialer *d, int64_t until) {
    struct pollfd pfd[CORIO__NET_MAX_ADDRS];
    int idx[CORIO__NET_MAX_ADDRS], m = 0;
    for (int i = 0; i < d->n; i++)
        if (d->at[i].state == RUNNING) {
            pfd[m] = (struct pollfd){.fd = d->at[i].fd, .events = POLLOUT};
            idx[m++] = i;
        }
    int ms = -1;
    if (until != INT64_MAX) {
        int64_t left = until - corio__now_ns();
        ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
    }
    int r = poll(pfd, (nfds_t)m, ms);
    if (r < 0)
        return errno == EINTR ? 0 : neg_errno();
    for (int j = 0; j < m && r > 0; j++) {
        if (!pfd[j].revents)
            continue;
        attempt *at = &d->at[idx[j]];
        at->res = so_error(at->fd);
        at->state = DONE;
        d->running--;
        d->events++;
    }
    return 0;
}

/* ---- the race ---- */

/* Run Happy Eyeballs over d's addresses until `deadline`. Returns the index
 * of the winning attempt (its fd stays open), or a negative code. Every
 * other attempt's socket is closed when it returns. */
static int race(dialer *d, int64_t delay_ns, int64_t deadline) {
    int ring = d->loop != NULL;
    int next = 0, winner = -1, result = -ECONNREFUSED;
    int64_t next_at = corio__now_ns();
    for (;;) {
        /* Start attempts that are due: one per delay, or back to back
         * while each fails at once. */
        while (winner < 0 && next < d->n && (d->running == 0 || corio__now_ns() >= next_at)) {
            attempt *at = &d->at[next++];
            int r = ring ? start_ring(d, at) : start_sys(d, at);
            if (r == 0) {
                winner = (int)(at - d->at);
                break;
            }
            if (r < 0) {
                result = r;
                next_at = corio__now_ns(); /* failed at once: the next one now */
                continue;
            }
            next_at = corio__now_ns() + delay_ns;
            break;
        }
        /* Take what completed into account. */
        d->events = 0;
        for (int i = 0; i < d->n && winner < 0; i++) {
            attempt *at = &d->at[i];
            if (at->state != DONE || at->seen)
                continue;
            at->seen = 1;
            if (at->res == 0) {
                winner = i;
            } else {
                result = at->res;
                next_at = corio__now_ns(); /* a failure starts the next one at once */
            }
        }
        if (winner >= 0)
            break;
        if (d->running == 0 && next < d->n)
            continue; /* every attempt failed: the next one starts at once */
        if (d->running == 0)
            break; /* all failed: the last failure is the answer */
        int64_t now = corio__now_ns();
        if (now >= deadline) {
            result = -ETIMEDOUT;
            break;
        }
        int64_t until = next < d->n && next_at < deadline ? next_at : deadline;
        int r = ring ? wait_ring(d, until) : wait_sys(d, until);
        if (r < 0) {
            /* Cancelled (or poll failed): an attempt that connected
             * meanwhile still wins, as a completed op is never undone. */
            for (int i = 0; i < d->n && winner < 0; i++)
                if (d->at[i].state == DONE && !d->at[i].seen && d->at[i].res == 0)
                    winner = i;
            if (winner < 0)
                result = r;
            break;
        }
    }
    if (ring)
        drain_ring(d);
    for (int i = 0; i < d->n; i++)
        if (i != winner && d->at[i].fd >= 0) {
            close(d->at[i].fd);
            d->at[i].fd = -1;
        }
    return winner >= 0 ? winner : result;
}

/* One address: a plain corio_connect (ring op or blocking call). */
static int dial_one(const dialer *d, const corio__netaddr *a, int64_t deadline) {
    int fd = open_socket(d, a, 0);
    if (fd < 0)
        return fd;
    double left = -1;
    if (deadline != INT64_MAX) {
        int64_t ns = deadline - corio__now_ns();
        left = ns > 0 ? (double)ns / 1e9 : 0;
    }
    int r = corio_connect(fd, (const struct sockaddr *)&a->ss, a->len, left);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* Datagram sockets: connect(2) only sets the peer, at once. */
static int dial_dgram(const dialer *d) {
    int result = -ECONNREFUSED;
    for (int i = 0; i < d->n; i++) {
        int fd = open_socket(d, &d->addrs[i], 0);
        if (fd < 0) {
            result = fd;
            continue;
        }
        const corio__netaddr *a = &d->addrs[i];
        if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
            return fd;
        result = neg_errno();
        close(fd);
    }
    return result;
}

/* Dial the addresses in[0..n) (n > 0). */
static int dial_addrs(const corio__netaddr *in, int n, const corio__netaddr *local,
                      double delay, int64_t deadline) {
    dialer d = {.n = n, .local = local};
    if (n == 1 && in[0].type == SOCK_STREAM)
        return dial_one(&d, &in[0], deadline);
    d.addrs = corio__calloc((size_t)n, sizeof *d.addrs);
    d.at = corio__calloc((size_t)n, sizeof *d.at);
    if (!d.addrs || !d.at) {
        free(d.addrs);
        free(d.at);
        return -ENOMEM;
    }
    interleave(in, n, d.addrs);
    int r;
    if (in[0].type == SOCK_DGRAM) {
        r = dial_dgram(&d);
    } else {
        if (corio_in_coroutine()) {
            d.loop = corio__tls_loop;
            d.use_connect_op =
                corio__io_op_supported(IORING_OP_CONNECT) == 1 && !corio__io_force_fallback;
            if (!d.use_connect_op && corio__io_op_supported(IORING_OP_POLL_ADD) != 1)
                d.loop = NULL; /* no ring poll (pre-5.1): poll(2), as a thread */
        }
        for (int i = 0; i < n; i++) {
            d.at[i] = (attempt){.d = &d, .addr = &d.addrs[i], .fd = -1};
        }
        r = race(&d, (int64_t)(delay * 1e9), deadline);
        if (r >= 0) {
            int fd = d.at[r].fd;
            r = set_nonblock(fd, 0);
            if (r < 0)
                close(fd);
            else
                r = fd;
        }
    }
    free(d.at);
    free(d.addrs);
    return r;
}

/* Validate options; fills type, family, delay. */
static int check_opts(const corio_dial_options *o, double timeout, int *type, double *delay) {
    if (timeout != timeout)
        return -EINVAL;
    *type = o->type ? o->type : SOCK_STREAM;
    if (*type != SOCK_STREAM && *type != SOCK_DGRAM)
        return -EINVAL;
    if (o->family != AF_UNSPEC && o->family != AF_INET && o->family != AF_INET6)
        return -EINVAL;
    if (o->attempt_delay != o->attempt_delay || o->attempt_delay < 0)
        return -EINVAL;
    *delay = o->attempt_delay > 0 ? o->attempt_delay : 0.25;
    return 0;
}

/* Resolve the local address, and narrow `family` to its family. */
static int resolve_local(const corio_dial_options *o, int type, int *family, int64_t deadline,
                         corio__netaddr *local) {
    int r = corio__net_resolve(o->local_host, o->local_port, type, *family, CORIO__NET_LOCAL,
                               corio__left_s(deadline), local, 1);
    if (r < 0)
        return r;
    if (local->family != AF_UNIX)
        *family = local->family;
    return 0;
}

/* Drop the addresses another family than the local address's. */
static int keep_family(corio__netaddr *a, int n, int family) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (a[i].family == family)
            a[k++] = a[i];
    return k;
}

static int dial_saving_errno(const char *host, const char *port, const corio_dial_options *opts,
                             double timeout) {
    corio_dial_options o = {0};
    if (opts)
        o = *opts;
    int type;
    double delay;
    int r = check_opts(&o, timeout, &type, &delay);
    if (r < 0)
        return r;
    if (corio_in_coroutine() && corio_cancel_requested())
        return -ECANCELED;
    int64_t deadline = corio__deadline(timeout);
    int family = o.family;
    corio__netaddr local, *lp = NULL;
    if (o.local_host) {
        r = resolve_local(&o, type, &family, deadline, &local);
        if (r < 0)
            return r;
        lp = &local;
    }
    /* A Unix local address with an IP remote (or the reverse) is refused
     * by bind; a family restriction does not apply to Unix names. */
    int rfamily = host && strncmp(host, "unix:", 5) == 0 ? AF_UNSPEC : family;
    corio__netaddr *addrs = corio__calloc(CORIO__NET_MAX_ADDRS, sizeof *addrs);
    if (!addrs)
        return -ENOMEM;
    int n = corio__net_resolve(host, port, type, rfamily, 0, corio__left_s(deadline), addrs,
                               CORIO__NET_MAX_ADDRS);
    if (n > 0 && lp && lp->family != AF_UNIX) {
        n = keep_family(addrs, n, lp->family);
        if (n == 0)
            n = -EAFNOSUPPORT;
    }
    r = n < 0 ? n : dial_addrs(addrs, n, lp, delay, deadline);
    free(addrs);
    return r;
}

CORIO_API int corio_dial_with(const char *host, const char *port, const corio_dial_options *opts,
                              double timeout) {
    int saved = errno;
    int r = dial_saving_errno(host, port, opts, timeout);
    errno = saved;
    return r;
}

CORIO_API int corio_dial(const char *host, const char *port, double timeout) {
    return corio_dial_with(host, port, NULL, timeout);
}

CORIO_API int corio_dial_addrinfo(const struct addrinfo *list, const corio_dial_options *opts,
                                  double timeout) {
    corio_dial_options o = {0};
    if (opts)
        o = *opts;
    int type;
    double delay;
    int r = check_opts(&o, timeout, &type, &delay);
    if (r < 0)
        return r;
    if (!list)
        return -EINVAL;
    if (corio_in_coroutine() && corio_cancel_requested())
        return -ECANCELED;
    int saved = errno;
    int64_t deadline = corio__deadline(timeout);
    int family = o.family;
    corio__netaddr local, *lp = NULL;
    if (o.local_host) {
        r = resolve_local(&o, type, &family, deadline, &local);
        if (r < 0) {
            errno = saved;
            return r;
        }
        lp = &local;
    }
    corio__netaddr *addrs = corio__calloc(CORIO__NET_MAX_ADDRS, sizeof *addrs);
    if (!addrs) {
        errno = saved;
        return -ENOMEM;
    }
    int n = corio__net_from_addrinfo(list, type, family, addrs, CORIO__NET_MAX_ADDRS);
    r = n > 0 ? dial_addrs(addrs, n, lp, delay, deadline) : -EAFNOSUPPORT;
    free(addrs);
    errno = saved;
    return r;
}
