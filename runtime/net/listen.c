/* corio — listeners: bind and listen by name, accept on every loop.
 *
 * A listener is one listening socket, or with reuseport one per loop of a
 * runtime, all bound to the same address with SO_REUSEPORT so that the
 * kernel spreads connections over them: loop k accepts on fds[k] only and
 * no accept queue is shared between cores.
 *
 *   listener ──fds[0..nsock)──  (one, or one per loop)
 *       └──slots[0..nloops)──▶ slot k: acceptor (multishot accept on the ring)
 *                                       + FIFO of coroutines waiting their turn
 *
 * A slot belongs to loop k and is only touched by loop k's thread: no
 * lock. The slot array itself is created once, by the listener (reuseport)
 * or by the first coroutine to accept, and published with a release store
 * read with acquire; `lock` serialises its creation only.
 *
 * Closing a TCP listener is shutdown(2) on every socket: Linux then fails
 * a pending accept, blocked accept(2), poll(2) and the ring's multishot
 * accept alike (-EINVAL, POLLHUP), on every loop and thread, without any
 * message to deliver; the caller seeing a failure and `closed` set reports
 * -ESHUTDOWN. A Unix listener is different: after shutdown(2) a
 * non-blocking accept keeps failing with EAGAIN while poll reports POLLIN,
 * so the ring's accept never ends and a thread would spin. Instead, close
 * connects to the listener once per call inside accept (`inside`): each
 * connection wakes one accepter, which sees `closed`, closes it and
 * reports -ESHUTDOWN. For that count to hold, every accept on a Unix
 * listener takes exactly one connection: coroutines use one-shot ring
 * accepts there, not the multishot acceptor (which would take several). `closed` and `inside` are sequentially consistent:
 * an accept that enters as close runs either is counted by it or sees
 * `closed` at its entry (the store-load pattern of Dekker's algorithm).
 * The descriptors stay open until destroy, so no number is reused while a
 * loop may still name it.
 *
 * Stale Unix socket files: bind(2) fails with EADDRINUSE when the path
 * exists. If it is a socket and a connect to it is refused (nobody
 * listens: its owner died), the file is removed and bound again; if
 * someone answers, or the path is not a socket, the error stands. The
 * file is removed again on destroy, if it is still the one we created.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "corio/io.h"
#include "fault.h"
#include "loop.h"
#include "net_internal.h"

/* A coroutine waiting for its turn at a slot's acceptor (on its stack). */
typedef struct turn {
    struct turn *next;     /* next in the slot's FIFO */
    corio__parker parker;  /* what it parks on */
    int granted;           /* the slot was handed to it (it now holds `busy`) */
} turn;

/* Accept state of one loop; only that loop's thread touches it. */
typedef struct slot {
    corio_acceptor *acc;     /* created by the loop's first accept, or NULL */
    int busy;                /* a coroutine is inside corio_acceptor_next */
    turn *head, *tail;       /* coroutines waiting for `busy` to clear, FIFO */
} slot;

struct corio_listener {
    int type;                     /* SOCK_STREAM or SOCK_DGRAM */
    int nsock;                    /* number of sockets: 1, or loops with reuseport */
    int *fds;                     /* the sockets (non-blocking, CLOEXEC) */
    int reuseport;                /* fds[k] is loop k's socket */
    corio_runtime *rt;            /* the runtime of `slots`; written before the
                                   * release store of slots, read after acquire */
    int nslots;                   /* loops of rt (slot count), same publication */
    slot *_Atomic slots;          /* per-loop accept state, NULL until needed */
    pthread_mutex_t lock;         /* serialises the creation of slots */
    _Atomic int closed;           /* corio_listener_close was called */
    _Atomic int inside;           /* calls inside corio_listener_accept (Unix only) */
    struct sockaddr_storage addr; /* the bound address (port filled in) */
    socklen_t addrlen;            /* its length */
    char *unix_path;              /* the socket file we created, or NULL */
    dev_t unix_dev;               /* its device and inode, so destroy removes */
    ino_t unix_ino;               /* only that file, not a successor's */
    corio_runtime *_Atomic drain_rt; /* whose corio_runtime_drain closes it, or NULL */
};

static int neg_errno(void) { return errno ? -errno : -EIO; }

/* ---- creation ---- */

/* The Unix path of an address, NULL for an abstract name or autobind. */
static const char *unix_path_of(const corio__netaddr *a) {
    const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)&a->ss;
    if (a->family != AF_UNIX || a->len <= offsetof(struct sockaddr_un, sun_path) ||
        un->sun_path[0] == '\0')
        return NULL;
    return un->sun_path;
}

/* bind(2) failed with EADDRINUSE on a Unix path: 0 when the file was a
 * stale socket and is gone (bind again), else -EADDRINUSE. */
static int clear_stale(const corio__netaddr *a) {
    const char *path = unix_path_of(a);
    struct stat st;
    if (!path || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return -EADDRINUSE; /* never remove what is not a socket */
    /* A probe of the same type: a stream listener with a full backlog
     * answers EAGAIN (in use); a dead one's file refuses (stale). */
    int p = socket(AF_UNIX, a->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p < 0)
        return neg_errno();
    int r = connect(p, (const struct sockaddr *)&a->ss, a->len);
    int e = r < 0 ? errno : 0;
    close(p);
    if (r < 0 && e == ECONNREFUSED && unlink(path) == 0)
        return 0;
    return -EADDRINUSE;
}

/* Open, configure, bind and (for streams) listen one socket on `a`. */
static int open_one(const corio__netaddr *a, const corio_listen_options *o, int backlog) {
    int fd = socket(a->family, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, a->protocol);
    if (fd < 0)
        return neg_errno();
    int one = 1, r = 0;
    if (a->family != AF_UNIX && !o->no_reuseaddr)
        r = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (r == 0 && o->reuseport)
        r = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (r == 0 && a->family == AF_INET6) {
        /* Explicit either way: the system default (bindv6only) may differ. */
        int v6only = o->v6only ? 1 : 0;
        r = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (r == 0) {
        r = bind(fd, (const struct sockaddr *)&a->ss, a->len);
        if (r < 0 && errno == EADDRINUSE && a->family == AF_UNIX) {
            r = clear_stale(a);
            if (r == 0)
                r = bind(fd, (const struct sockaddr *)&a->ss, a->len);
            else
                errno = -r;
        }
    }
    if (r == 0 && a->type == SOCK_STREAM)
        r = listen(fd, backlog);
    if (r < 0) {
        int e = neg_errno();
        close(fd);
        return e;
    }
    return fd;
}

/* Open every socket of l on address `a` (one, or one per loop). */
static int open_all(corio_listener *l, corio__netaddr *a, const corio_listen_options *o,
                    int backlog) {
    for (int i = 0; i < l->nsock; i++) {
        int fd = open_one(a, o, backlog);
        if (fd < 0) {
            while (i > 0)
                close(l->fds[--i]);
            return fd;
        }
        l->fds[i] = fd;
        if (i == 0) {
            l->addrlen = sizeof l->addr;
            if (getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen) < 0) {
                int e = neg_errno();
                close(fd);
                return e;
            }
            /* Port 0 with reuseport: the siblings bind the port the
             * kernel picked for the first socket. */
            if (a->family == AF_INET)
                ((struct sockaddr_in *)(void *)&a->ss)->sin_port =
                    ((struct sockaddr_in *)(void *)&l->addr)->sin_port;
            else if (a->family == AF_INET6)
                ((struct sockaddr_in6 *)(void *)&a->ss)->sin6_port =
                    ((struct sockaddr_in6 *)(void *)&l->addr)->sin6_port;
        }
    }
    return 0;
}

/* Remember the socket file created, to remove it (and only it) on destroy. */
static int note_unix_path(corio_listener *l, const corio__netaddr *a) {
    const char *path = unix_path_of(a);
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return 0;
    l->unix_path = corio__strdup(path);
    if (!l->unix_path)
        return -ENOMEM;
    l->unix_dev = st.st_dev;
    l->unix_ino = st.st_ino;
    return 0;
}

static void free_listener(corio_listener *l) {
    pthread_mutex_destroy(&l->lock);
    free(atomic_load_explicit(&l->slots, memory_order_relaxed));
    free(l->unix_path);
    free(l->fds);
    free(l);
}

/* Drain hook: called under the runtime's hook lock, which destroy's
 * corio__runtime_off_drain also takes, so l is alive here. A runtime
 * destroyed before the listener says so (gone): destroy then has nothing
 * to unregister from. */
static void drain_close(corio_runtime *rt, void *arg, int gone) {
    (void)rt;
    corio_listener *l = arg;
    if (gone)
        atomic_store_explicit(&l->drain_rt, NULL, memory_order_release);
    else
        corio_listener_close(l);
}

CORIO_API int corio_listen(const char *host, const char *port, const corio_listen_options *opts,
                           corio_listener **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_listen_options o = {0};
    if (opts)
        o = *opts;
    int type = o.type ? o.type : SOCK_STREAM;
    if ((type != SOCK_STREAM && type != SOCK_DGRAM) || o.backlog < 0 ||
        o.resolve_timeout != o.resolve_timeout)
        return -EINVAL;
    int backlog = o.backlog ? o.backlog : SOMAXCONN;
    double rt_timeout = o.resolve_timeout == 0 ? 10.0 : o.resolve_timeout;
    corio_runtime *rt = NULL;
    if (o.reuseport) {
        rt = o.runtime ? o.runtime : corio_runtime_current();
        if (!rt || type != SOCK_STREAM || (host && strncmp(host, "unix:", 5) == 0))
            return -EINVAL;
    }
    corio__netaddr addrs[8];
    int n = corio__net_resolve(host, port, type, o.family, CORIO__NET_PASSIVE, rt_timeout, addrs,
                               8);
    if (n < 0)
        return n;
    corio_listener *l = corio__calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->type = type;
    l->reuseport = o.reuseport;
    l->nsock = rt ? corio_runtime_loops(rt) : 1;
    l->fds = corio__calloc((size_t)l->nsock, sizeof *l->fds);
    slot *slots = rt ? corio__calloc((size_t)l->nsock, sizeof *slots) : NULL;
    if (!l->fds || (rt && !slots)) {
        free(slots);
        free(l->fds);
        free(l);
        return -ENOMEM;
    }
    pthread_mutex_init(&l->lock, NULL);
    if (rt) {
        /* Reuseport pins the slots to this runtime from the start. */
        l->rt = rt;
        l->nslots = l->nsock;
        atomic_store_explicit(&l->slots, slots, memory_order_release);
    }
    /* The first address that binds wins ("*": IPv6 any, else IPv4 any). */
    int r = -EADDRNOTAVAIL;
    for (int i = 0; i < n; i++) {
        r = open_all(l, &addrs[i], &o, backlog);
        if (r == 0) {
            r = note_unix_path(l, &addrs[i]);
            if (r < 0)
                for (int k = 0; k < l->nsock; k++)
                    close(l->fds[k]);
            break;
        }
    }
    if (r < 0) {
        free_listener(l);
        return r;
    }
    /* A drain of the runtime it belongs to (o.runtime, else the calling
     * coroutine's) stops it accepting. A listener made on a plain thread
     * without o.runtime belongs to no runtime and is closed by its owner. */
    corio_runtime *owner = o.runtime ? o.runtime : corio_runtime_current();
    if (owner) {
        r = corio__runtime_on_drain(owner, drain_close, l);
        if (r < 0) {
            for (int k = 0; k < l->nsock; k++)
                close(l->fds[k]);
            if (l->unix_path)
                unlink(l->unix_path);
            free_listener(l);
            return r;
        }
        atomic_store_explicit(&l->drain_rt, owner, memory_order_relaxed);
    }
    *out = l;
    return 0;
}

/* ---- accepting ---- */

/* The per-loop slots for the calling coroutine's runtime, creating them on
 * first use. NULL with *err: -EINVAL (another runtime), -ENOMEM. */
static slot *get_slots(corio_listener *l, int *err) {
    corio_runtime *rt = corio_runtime_current();
    slot *s = atomic_load_explicit(&l->slots, memory_order_acquire);
    if (!s) {
        pthread_mutex_lock(&l->lock);
        s = atomic_load_explicit(&l->slots, memory_order_relaxed);
        if (!s) {
            s = corio__calloc((size_t)corio_runtime_loops(rt), sizeof *s);
            if (s) {
                l->rt = rt;
                l->nslots = corio_runtime_loops(rt);
                atomic_store_explicit(&l->slots, s, memory_order_release);
            }
        }
        pthread_mutex_unlock(&l->lock);
        if (!s) {
            *err = -ENOMEM;
            return NULL;
        }
    }
    if (l->rt != rt) {
        *err = -EINVAL; /* its acceptors live on another runtime's loops */
        return NULL;
    }
    return s;
}

/* Hand the slot to the next waiting coroutine, or free it. */
static void release_turn(slot *s) {
    turn *t = s->head;
    if (!t) {
        s->busy = 0;
        return;
    }
    s->head = t->next;
    if (!s->head)
        s->tail = NULL;
    t->granted = 1; /* busy stays set: it passes to t without a gap */
    corio__parker_unpark(&t->parker);
}

/* Wait until the slot is ours (busy set on our behalf). 0, or -ETIMEDOUT,
 * -ECANCELED having left the queue. */
static int take_turn(slot *s, int64_t deadline) {
    if (!s->busy) {
        s->busy = 1;
        return 0;
    }
    turn t = {0};
    corio__parker_init(&t.parker);
    if (s->tail)
        s->tail->next = &t;
    else
        s->head = &t;
    s->tail = &t;
    while (!t.granted) {
        int r = corio__parker_park(&t.parker, deadline);
        if (t.granted)
            break;
        if (r < 0) {
            /* Unlink ourselves (O(n) in the waiters of this loop). */
            turn **pp = &s->head, *prev = NULL;
            while (*pp && *pp != &t) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            if (*pp)
                *pp = t.next;
            if (s->tail == &t)
                s->tail = prev;
            return r;
        }
    }
    if (corio_cancel_requested()) {
        release_turn(s);
        return -ECANCELED;
    }
    return 0;
}

static int accept_coro(corio_listener *l, struct sockaddr *peer, socklen_t *peerlen,
                       double timeout) {
    if (l->addr.ss_family == AF_UNIX)
        return corio_accept(l->fds[0], peer, peerlen, 0, timeout); /* see the top */
    int err = 0;
    slot *slots = get_slots(l, &err);
    if (!slots)
        return err;
    int k = corio_loop_id();
    if (k < 0 || k >= l->nslots)
        return -EINVAL;
    slot *s = &slots[k];
    if (!s->acc) {
        int r = corio_acceptor_create(l->fds[l->reuseport ? k : 0], 0, &s->acc);
        if (r < 0)
            return r;
    }
    int64_t deadline = corio__deadline(timeout);
    int r = take_turn(s, deadline);
    if (r < 0)
        return r;
    if (atomic_load_explicit(&l->closed, memory_order_acquire)) {
        release_turn(s);
        return -ESHUTDOWN;
    }
    r = corio_acceptor_next(s->acc, peer, peerlen, corio__left_s(deadline));
    release_turn(s);
    return r;
}

/* A plain thread with several sockets (reuseport): poll them all. */
static int accept_poll(corio_listener *l, struct sockaddr *peer, socklen_t *peerlen,
                       double timeout) {
    int64_t deadline = corio__deadline(timeout);
    struct pollfd pfd[64];
    int n = l->nsock < 64 ? l->nsock : 64;
    for (;;) {
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = l->fds[i], .events = POLLIN};
        int ms = -1;
        if (deadline != INT64_MAX) {
            int64_t d = deadline - corio__now_ns();
            ms = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
        }
        int r = poll(pfd, (nfds_t)n, ms);
        if (r < 0 && errno != EINTR)
            return neg_errno();
        if (r == 0)
            return -ETIMEDOUT;
        for (int i = 0; r > 0 && i < n; i++) {
            if (!pfd[i].revents)
                continue;
            socklen_t *lp = peer ? peerlen : NULL;
            int fd = accept4(l->fds[i], peer, lp, SOCK_CLOEXEC);
            if (fd >= 0)
                return fd;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
                errno != EINTR)
                return neg_errno();
        }
    }
}

CORIO_API int corio_listener_accept(corio_listener *l, struct sockaddr *peer, socklen_t *peerlen,
                                    double timeout) {
    if (!l || timeout != timeout)
        return -EINVAL;
    if (peer && !peerlen)
        return -EFAULT;
    if (l->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    /* Only Unix listeners need the count (see the top); a TCP accept
     * keeps off that shared cache line, one per listener for all loops. */
    int counted = l->addr.ss_family == AF_UNIX;
    if (counted)
        atomic_fetch_add(&l->inside, 1);
    if (atomic_load(&l->closed)) {
        if (counted)
            atomic_fetch_sub(&l->inside, 1);
        return -ESHUTDOWN;
    }
    int saved = errno, r;
    if (corio_in_coroutine())
        r = accept_coro(l, peer, peerlen, timeout);
    else if (l->nsock == 1)
        r = corio_accept(l->fds[0], peer, peerlen, 0, timeout);
    else
        r = accept_poll(l, peer, peerlen, timeout);
    /* Whatever failure the shutdown caused (-EINVAL from accept, a poll
     * error), it means the same to the caller; so does a connection that
     * raced with the close (or was close's own wake-up call). */
    if (r != -ECANCELED && atomic_load(&l->closed)) {
        if (r >= 0)
            close(r);
        r = -ESHUTDOWN;
    }
    errno = saved;
    if (counted)
        atomic_fetch_sub(&l->inside, 1);
    return r;
}

/* ---- queries ---- */

CORIO_API int corio_listener_port(const corio_listener *l) {
    if (!l)
        return -EINVAL;
    return corio__net_port((const struct sockaddr *)&l->addr);
}

CORIO_API int corio_listener_addr(const corio_listener *l, struct sockaddr *addr,
                                  socklen_t *addrlen) {
    if (!l || !addr || !addrlen)
        return -EINVAL;
    memcpy(addr, &l->addr, *addrlen < l->addrlen ? *addrlen : l->addrlen);
    *addrlen = l->addrlen;
    return 0;
}

CORIO_API int corio_listener_fd(const corio_listener *l, int loop) {
    if (!l || loop < -1)
        return -EINVAL;
    if (loop == -1)
        loop = corio_loop_id() < 0 ? 0 : corio_loop_id();
    if (!l->reuseport)
        return l->fds[0];
    return loop < l->nsock ? l->fds[loop] : -EINVAL;
}

/* ---- closing ---- */

CORIO_API int corio_listener_close(corio_listener *l) {
    if (!l)
        return -EINVAL;
    /* The flag first, then the wake-ups: whoever is woken and loads the
     * flag finds it set. */
    if (atomic_exchange(&l->closed, 1))
        return 0;
    int saved = errno;
    if (l->addr.ss_family == AF_UNIX && l->type == SOCK_STREAM) {
        int n = atomic_load(&l->inside);
        for (int i = 0; i < n; i++) {
            /* Non-blocking: EAGAIN means the backlog is full, and those
             * queued connections wake the accepters as well. */
            int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c < 0)
                break;
            connect(c, (const struct sockaddr *)&l->addr, l->addrlen);
            close(c);
        }
    } else {
        for (int i = 0; i < l->nsock; i++)
            shutdown(l->fds[i], SHUT_RDWR); /* ENOTCONN on an unconnected datagram socket: fine */
    }
    errno = saved;
    return 0;
}

/* The body of the coroutine that destroys a slot's acceptor on its loop. */
static int destroy_acceptor(void *arg, corio_value *out) {
    (void)out;
    corio_acceptor_destroy(arg);
    return 0;
}

CORIO_API void corio_listener_destroy(corio_listener *l) {
    if (!l)
        return;
    corio_runtime *drt = atomic_load_explicit(&l->drain_rt, memory_order_acquire);
    if (drt)
        corio__runtime_off_drain(drt, drain_close, l);
    corio_listener_close(l);
    slot *slots = atomic_load_explicit(&l->slots, memory_order_acquire);
    for (int k = 0; slots && k < l->nslots; k++) {
        corio_acceptor *acc = slots[k].acc;
        if (!acc)
            continue;
        slots[k].acc = NULL;
        if (corio_runtime_current() == l->rt && corio_loop_id() == k) {
            corio_acceptor_destroy(acc);
            continue;
        }
        /* The acceptor may still have its multishot accept in the ring of
         * loop k: only a coroutine of that loop may wait for it to end. */
        int err = 0;
        corio_future *f = corio__spawn_system(l->rt, k, destroy_acceptor, acc, &err);
        if (!f) {
            corio__log("corio_listener_destroy: cannot reach loop %d (%s); its acceptor is "
                       "released off its loop", k, corio_strerror(err));
            corio_acceptor_destroy(acc);
            continue;
        }
        /* A cancelled caller stops waiting here, but the coroutine goes on:
         * it touches only the acceptor, never the listener. */
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
    }
    for (int i = 0; i < l->nsock; i++)
        close(l->fds[i]);
    if (l->unix_path) {
        struct stat st;
        if (lstat(l->unix_path, &st) == 0 && st.st_dev == l->unix_dev &&
            st.st_ino == l->unix_ino)
            unlink(l->unix_path);
    }
    free_listener(l);
}
