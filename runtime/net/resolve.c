/* corio — asynchronous name resolution: c-ares driven by the loop's ring.
 *
 * Shape. Each loop has one c-ares channel (created lazily by the loop's
 * first lookup, on its thread, destroyed by a loop exit hook), used only by
 * that loop's thread, so it needs no lock. c-ares never owns the loop: its
 * socket-state callback tells us which sockets to watch for what, and we
 * watch them with one-shot IORING_OP_POLL_ADD ops whose CQEs go to an
 * on_cqe handler (as the acceptor's multishot accept does); its next
 * timeout (ares_timeout) is one absolute IORING_OP_TIMEOUT on the ring.
 * Readiness and timeouts are fed back with ares_process_fd, whose query
 * callbacks unpark the coroutines waiting in corio_getaddrinfo.
 *
 *   coroutine ──ares_getaddrinfo──▶ channel ──sock_state_cb──▶ watches
 *        ▲                            ▲                          │ POLL_ADD
 *        └──unpark── query callback ◀─┴── ares_process_fd ◀── CQE handler
 *
 * Why one channel per loop, not one per query: a channel multiplexes every
 * query of the loop over one UDP socket per server (1,000 concurrent
 * lookups cost 1 descriptor, not 1,000), and resolv.conf, nsswitch.conf
 * and host.conf are parsed once per loop instead of once per lookup. The
 * price is cancellation: c-ares 1.18 (Debian 12) cannot cancel one query,
 * only all of a channel (ares_cancel). So a cancelled or timed-out lookup
 * abandons its query record: the coroutine returns at once, and the
 * record, owned by c-ares until its callback, drops the late answer and
 * frees itself. When every query in flight on the channel is abandoned,
 * ares_cancel ends them all at once, which releases their sockets and
 * timers.
 *
 * Why one-shot polls: c-ares reads every datagram a socket holds on each
 * ares_process_fd, so a re-arm costs one SQE per batch of answers, and a
 * change of interest (TCP write wanted) is a plain re-arm instead of a
 * cancel of a multishot poll.
 *
 * Reentrancy. CQE handlers run inside reap(), which also runs when a
 * coroutine needs an SQE and the SQ is full (loop.c make_room), possibly
 * while we are inside a c-ares call. c-ares is not reentrant, so a handler
 * that finds the resolver `busy` only records what happened (`dirty`), and
 * the outer drain() processes it before it returns.
 *
 * Plain threads use a channel of their own per call, driven with poll(2):
 * blocking is allowed there, and results and error mapping are the same.
 * Numeric hosts and service-only lookups go to libc with AI_NUMERICHOST
 * (no network); hosts c-ares cannot serve (nsswitch.conf sources other than
 * files and dns) go to libc on the blocking pool (resolve_libc.c). Reading
 * /etc/hosts is done by c-ares inline: a small local file.
 *
 * Result shape. c-ares gives the addresses; the service, socket types and
 * protocols come from libc's getaddrinfo(NULL, service) (local: a number,
 * or /etc/services), one entry per address and per libc entry, so every
 * path returns glibc's shape.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "corio/resolve.h"
#include "fault.h"
#include "loop.h"
#include "resolve_internal.h"

/* The longest name DNS can carry, in text form with a final dot. */
#define NAME_MAX_LEN 254

/* ---- process-wide configuration ---- */

/* Guarded by cfg_lock; cfg_gen counts changes so loops can notice. */
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static corio_resolver_options cfg;
static char *cfg_servers;
static _Atomic unsigned cfg_gen;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;
static void lib_init(void) { lib_status = ares_library_init(ARES_LIB_INIT_ALL); }

static int ares_code(int status) {
    switch (status) {
    case ARES_SUCCESS: return 0;
    case ARES_ENODATA: return CORIO_EAI_NODATA;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME: return CORIO_EAI_NONAME;
    case ARES_ETIMEOUT:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED: return CORIO_EAI_AGAIN;
    case ARES_EBADFAMILY: return CORIO_EAI_FAMILY;
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS: return CORIO_EAI_BADFLAGS;
    case ARES_ESERVICE: return CORIO_EAI_SERVICE;
    case ARES_ENOMEM: return -ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return -ECANCELED;
    default: return CORIO_EAI_FAIL;
    }
}

CORIO_API int corio_resolver_configure(const corio_resolver_options *opts) {
    corio_resolver_options o = {0};
    if (opts)
        o = *opts;
    if (o.try_timeout != o.try_timeout || o.try_timeout < 0 || o.try_timeout > 3600 ||
        o.attempts < 0 || o.attempts > 100 || o.backend < CORIO_RESOLVER_AUTO ||
        o.backend > CORIO_RESOLVER_LIBC)
        return -EINVAL;
    char *servers = NULL;
    if (o.servers) {
        /* Let c-ares parse it now, so a bad string fails here and not in
         * every later lookup. */
        pthread_once(&lib_once, lib_init);
        ares_channel ch;
        struct ares_options ao = {.lookups = (char *)"f"};
        if (ares_init_options(&ch, &ao, ARES_OPT_LOOKUPS) != ARES_SUCCESS)
            return -ENOMEM;
        int st = *o.servers ? ares_set_servers_ports_csv(ch, o.servers) : ARES_EBADSTR;
        ares_destroy(ch);
        if (st != ARES_SUCCESS)
            return st == ARES_ENOMEM ? -ENOMEM : -EINVAL;
        if (!(servers = corio__strdup(o.servers)))
            return -ENOMEM;
    }
    pthread_mutex_lock(&cfg_lock);
    free(cfg_servers);
    cfg_servers = servers;
    cfg = o;
    cfg.servers = servers;
    atomic_fetch_add_explicit(&cfg_gen, 1, memory_order_release);
    pthread_mutex_unlock(&cfg_lock);
    return 0;
}

/* Which backend serves names now: 1 c-ares, 0 libc on the pool. */
static int use_cares(void) {
    pthread_mutex_lock(&cfg_lock);
    int b = cfg.backend, servers = cfg_servers != NULL;
    pthread_mutex_unlock(&cfg_lock);
    if (b == CORIO_RESOLVER_LIBC)
        return 0;
    return b == CORIO_RESOLVER_CARES || servers || !corio__nss_needs_libc();
}

/* A channel with the current configuration; *gen receives its generation. */
static int channel_new(ares_channel *ch, ares_sock_state_cb cb, void *data, unsigned *gen) {
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS)
        return ares_code(lib_status);
    struct ares_options o;
    memset(&o, 0, sizeof o);
    /* A loop's channel multiplexes every lookup over one UDP socket: a
     * burst of answers (1,000 at once) overflows the default receive buffer
     * and costs a retry round. Ask for 1 MiB (capped by rmem_max). */
    o.socket_receive_buffer_size = 1 << 20;
    int mask = ARES_OPT_SOCK_RCVBUF;
    pthread_mutex_lock(&cfg_lock);
    *gen = atomic_load_explicit(&cfg_gen, memory_order_relaxed);
    if (cfg.try_timeout > 0) {
        o.timeout = (int)(cfg.try_timeout * 1000 + 0.5);
        if (o.timeout < 1)
            o.timeout = 1;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (cfg.attempts > 0) {
        o.tries = cfg.attempts;
        mask |= ARES_OPT_TRIES;
    }
    if (cfg.use_tcp) {
        o.flags = ARES_FLAG_USEVC;
        mask |= ARES_OPT_FLAGS;
    }
    if (cb) {
        o.sock_state_cb = cb;
        o.sock_state_cb_data = data;
        mask |= ARES_OPT_SOCK_STATE_CB;
    }
    int st = ares_init_options(ch, &o, mask);
    if (st == ARES_SUCCESS && cfg_servers) {
        st = ares_set_servers_ports_csv(*ch, cfg_servers);
        if (st != ARES_SUCCESS)
            ares_destroy(*ch);
    }
    pthread_mutex_unlock(&cfg_lock);
    return st == ARES_SUCCESS ? 0 : ares_code(st);
}

/* ---- one lookup, shared by both drivers ---- */

enum { Q_ADDR, Q_NAME };

/* A query handed to c-ares. Owned by c-ares from submission to its
 * callback; abandoned (waiter NULL) by a coroutine that stopped waiting,
 * then freed by the callback. Loop (or calling) thread only. */
typedef struct query {
    struct resolver *r;         /* the loop's resolver, NULL on a plain thread */
    corio__parker *waiter;      /* the parked coroutine; NULL once abandoned */
    int kind;                   /* Q_ADDR or Q_NAME */
    int done;                   /* the callback ran */
    int status;                 /* its ARES_* status */
    struct ares_addrinfo *ai;   /* Q_ADDR: the answer, until taken */
    char host[NI_MAXHOST];      /* Q_NAME: the name found */
} query;

/* ---- the per-loop driver ---- */

/* One socket c-ares asked us to watch. */
typedef struct watch {
    corio__op op;               /* the one-shot poll (user_data = &op); first */
    struct resolver *r;         /* its resolver */
    int fd;                     /* c-ares' socket */
    unsigned want;              /* POLLIN / POLLOUT c-ares wants; 0 after close */
    unsigned armed_mask;        /* the mask of the poll in flight */
    unsigned revents;           /* readiness seen and not yet given to c-ares */
    int armed;                  /* a poll is in the kernel */
    int removing;               /* we asked the kernel to remove it */
    int closed;                 /* c-ares closed the socket: free once unarmed */
    struct watch *next;         /* the resolver's list */
} watch;

typedef struct resolver {
    corio__loop_hook hook;      /* frees everything as the loop ends; first */
    corio__loop *loop;          /* owning loop */
    ares_channel ch;            /* the channel, NULL until the first lookup */
    unsigned gen;               /* configuration generation of ch */
    watch *watches;             /* every watch, live or waiting for its CQE */
    corio__op timer;            /* the ring timeout for ares_timeout */
    struct __kernel_timespec ts; /* its absolute expiry (read by the kernel at submit) */
    int64_t timer_at;           /* that expiry in ns */
    int timer_armed;            /* a timeout is in the kernel */
    int timer_removing;         /* we asked for its removal (an earlier one is needed) */
    int timer_fired;            /* it expired: c-ares must process timeouts */
    int busy;                   /* inside c-ares or drain(): handlers only record */
    int dirty;                  /* a handler recorded something while busy */
    int dying;                  /* the loop is ending: no more ring ops */
    size_t pending;             /* queries handed to c-ares, callback not yet run */
    size_t abandoned;           /* of those, the ones nobody waits for */
} resolver;

static void drain(resolver *r);

static void watch_cqe(corio__loop *l, corio__op *op, struct io_uring_cqe *cqe) {
    (void)l;
    watch *w = (watch *)(void *)op;
    w->armed = 0;
    w->removing = 0;
    if (cqe->res > 0)
        w->revents |= (unsigned)cqe->res;
    else if (cqe->res != -ECANCELED && cqe->res != -ENOENT)
        w->revents |= POLLERR; /* let c-ares meet the error on its read */
    if (w->r->busy)
        w->r->dirty = 1;
    else
        drain(w->r);
}

static void timer_cqe(corio__loop *l, corio__op *op, struct io_uring_cqe *cqe) {
    (void)l;
    resolver *r = (resolver *)(void *)((char *)op - offsetof(resolver, timer));
    r->timer_armed = 0;
    r->timer_removing = 0;
    if (cqe->res == -ETIME)
        r->timer_fired = 1;
    if (r->busy)
        r->dirty = 1;
    else
        drain(r);
}

/* c-ares' socket-state callback: only records (we are inside c-ares). */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable) {
    resolver *r = data;
    watch *w = r->watches;
    while (w && (w->fd != fd || w->closed))
        w = w->next;
    unsigned want = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
    if (!w) {
        if (!want || r->dying)
            return;
        w = corio__calloc(1, sizeof *w);
        if (!w)
            return; /* the query on it ends by its c-ares timeout */
        w->r = r;
        w->fd = fd;
        w->op.on_cqe = watch_cqe;
        w->next = r->watches;
        r->watches = w;
    }
    w->want = want;
    if (!want)
        w->closed = 1; /* c-ares closes fd right after this call */
}

/* Bring the ring in line with what c-ares wants: arm, re-arm or remove
 * polls, free closed watches, set the timeout. Never calls c-ares except
 * ares_timeout (which does not call back). */
static void sync_ring(resolver *r) {
    corio__loop *l = r->loop;
    for (watch **pw = &r->watches; *pw;) {
        watch *w = *pw;
        if (w->closed && !w->armed) {
            *pw = w->next;
            free(w);
            continue;
        }
        if (w->armed && !w->removing && (w->closed || w->armed_mask != w->want)) {
            struct io_uring_sqe *sqe = corio__loop_sqe(l);
            io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&w->op);
            io_uring_sqe_set_data64(sqe, 0);
            w->removing = 1;
        } else if (!w->armed && !w->closed && w->want && !w->revents) {
            struct io_uring_sqe *sqe = corio__loop_sqe(l);
            io_uring_prep_poll_add(sqe, w->fd, w->want);
            io_uring_sqe_set_data(sqe, &w->op);
            w->armed = 1;
            w->armed_mask = w->want;
            l->inflight++; /* until its CQE (loop.c handle_cqe) */
        }
        pw = &w->next;
    }
    struct timeval tv;
    if (!r->ch || !ares_timeout(r->ch, NULL, &tv) || r->timer_removing)
        return; /* nothing to time, or a removal is on its way: re-synced on its CQE */
    int64_t at = corio__now_ns() + (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
    if (r->timer_armed) {
        /* An earlier expiry than the armed one: remove it and re-arm on its
         * CQE. A later one: the armed timeout fires first, harmlessly. */
        if (at + 1000000 < r->timer_at) {
            struct io_uring_sqe *sqe = corio__loop_sqe(l);
            io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&r->timer, 0);
            io_uring_sqe_set_data64(sqe, 0);
            r->timer_removing = 1;
        }
        return;
    }
    r->ts.tv_sec = at / 1000000000;
    r->ts.tv_nsec = at % 1000000000;
    r->timer_at = at;
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_timeout(sqe, &r->ts, 0, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data(sqe, &r->timer);
    r->timer_armed = 1;
    l->inflight++;
}

/* Give c-ares what the handlers recorded, then re-sync the ring, until
 * nothing new happened meanwhile. */
static void drain(resolver *r) {
    if (r->dying)
        return;
    r->busy++;
    do {
        r->dirty = 0;
        for (watch *w = r->watches; w; w = w->next) {
            unsigned ev = w->revents;
            w->revents = 0;
            if (!ev || w->closed)
                continue;
            int rd = (ev & (POLLIN | POLLERR | POLLHUP)) != 0;
            int wr = (ev & (POLLOUT | POLLERR)) != 0;
            ares_process_fd(r->ch, rd ? w->fd : ARES_SOCKET_BAD, wr ? w->fd : ARES_SOCKET_BAD);
        }
        if (r->timer_fired) {
            r->timer_fired = 0;
            ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        }
        if (r->pending && r->abandoned == r->pending)
            ares_cancel(r->ch); /* nobody waits for any of them */
        sync_ring(r);
    } while (r->dirty);
    r->busy--;
}

static void resolver_end(corio__loop *l, corio__loop_hook *h) {
    resolver *r = (resolver *)(void *)h;
    /* No coroutine is left, so every query is abandoned: ares_destroy calls
     * them back (freeing them). The ring stays open but will not be reaped
     * again: polls and the timeout hold no user memory after submission,
     * so the watches can go now. */
    r->dying = 1;
    if (r->ch)
        ares_destroy(r->ch);
    while (r->watches) {
        watch *w = r->watches;
        r->watches = w->next;
        free(w);
    }
    l->resolver = NULL;
    free(r);
}

/* The loop's resolver with a channel of the current configuration. */
static int resolver_get(corio__loop *l, resolver **out) {
    resolver *r = l->resolver;
    if (!r) {
        r = corio__calloc(1, sizeof *r);
        if (!r)
            return -ENOMEM;
        r->loop = l;
        r->timer.on_cqe = timer_cqe;
        r->hook.fn = resolver_end;
        r->hook.next = l->exit_hooks;
        l->exit_hooks = &r->hook;
        l->resolver = r;
    }
    unsigned gen = atomic_load_explicit(&cfg_gen, memory_order_acquire);
    if (r->ch && r->gen != gen && r->pending == 0) {
        /* New options: the idle channel is replaced. Its sockets were all
         * closed by the time its last query ended (watches drain below). */
        r->busy++;
        ares_destroy(r->ch);
        r->ch = NULL;
        r->busy--;
        sync_ring(r);
    }
    if (!r->ch) {
        int e = channel_new(&r->ch, sock_state, r, &r->gen);
        if (e < 0) {
            r->ch = NULL;
            return e;
        }
    }
    *out = r;
    return 0;
}

/* ---- callbacks ---- */

static void query_done(query *q, int status) {
    resolver *r = q->r;
    if (r)
        r->pending--;
    if (!q->waiter) {
        if (r)
            r->abandoned--;
        if (q->ai)
            ares_freeaddrinfo(q->ai);
        free(q);
        return;
    }
    q->done = 1;
    q->status = status;
    if (q->r)
        corio__parker_unpark(q->waiter);
}

static void addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
    (void)timeouts;
    query *q = arg;
    q->ai = res;
    query_done(q, status);
}

static void name_cb(void *arg, int status, int timeouts, char *node, char *service) {
    (void)timeouts;
    (void)service;
    query *q = arg;
    if (status == ARES_SUCCESS && node) {
        size_t n = strlen(node);
        if (n >= sizeof q->host)
            status = ARES_EBADRESP;
        else
            memcpy(q->host, node, n + 1);
    }
    query_done(q, status);
}

typedef void (*submit_fn)(ares_channel ch, query *q, const void *a, const void *b);

/* Run one query to its end (or the deadline, or a cancel). Returns 0 with
 * the finished query in *out (the caller frees it), or a negative code
 * (the query then belongs to c-ares, or is freed). */
static int run_query(query *q, submit_fn submit, const void *a, const void *b, int64_t deadline,
                     query **out) {
    corio__loop *l = corio__tls_coro ? corio__tls_loop : NULL;
    if (l) {
        resolver *r;
        int e = resolver_get(l, &r);
        if (e < 0) {
            free(q);
            return e;
        }
        corio__parker p;
        corio__parker_init(&p);
        q->r = r;
        q->waiter = &p;
        r->pending++;
        r->busy++;
        submit(r->ch, q, a, b);
        r->busy--;
        drain(r);
        while (!q->done) {
            int pr = corio__parker_park(&p, deadline);
            if (pr < 0 && !q->done) {
                q->waiter = NULL; /* c-ares' callback frees it */
                r->abandoned++;
                drain(r);
                return pr;
            }
        }
        *out = q;
        return 0;
    }
    /* A plain thread: a channel of its own, driven with poll(2). */
    ares_channel ch;
    unsigned gen;
    int e = channel_new(&ch, NULL, NULL, &gen);
    if (e < 0) {
        free(q);
        return e;
    }
    /* On a thread nobody parks: a parker that is never parked on marks the
     * query as waited for (query_done then only records). */
    corio__parker dummy;
    corio__parker_init(&dummy);
    q->waiter = &dummy;
    submit(ch, q, a, b);
    int rc = 0;
    while (!q->done) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        /* Unsigned: c-ares' ARES_GETSOCK_WRITABLE shifts 1 into the sign bit. */
        unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        int n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = (short)(((bits >> i) & 1u ? POLLIN : 0) |
                               ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (!ev)
                continue;
            pfd[n].fd = socks[i];
            pfd[n].events = ev;
            pfd[n].revents = 0;
            n++;
        }
        struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
        int64_t now = corio__now_ns();
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        int64_t wait = tvp ? (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000 : -1;
        if (deadline != INT64_MAX && (wait < 0 || deadline - now < wait))
            wait = deadline - now;
        int ms = wait < 0 ? -1 : (int)((wait + 999999) / 1000000);
        int saved = errno;
        int pr = poll(pfd, (nfds_t)n, ms);
        errno = saved;
        if (pr <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            int rd = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
            int wr = (pfd[i].revents & (POLLOUT | POLLERR)) != 0;
            ares_process_fd(ch, rd ? pfd[i].fd : ARES_SOCKET_BAD, wr ? pfd[i].fd : ARES_SOCKET_BAD);
        }
    }
    if (!q->done)
        q->waiter = NULL; /* ares_destroy's callback (EDESTRUCTION) frees it */
    ares_destroy(ch);
    if (rc < 0)
        return rc;
    *out = q;
    return 0;
}

/* ---- getaddrinfo ---- */

static void submit_addr(ares_channel ch, query *q, const void *a, const void *b) {
    ares_getaddrinfo(ch, a, NULL, b, addr_cb, q);
}

/* The canonical name: the end of the CNAME chain, else the name asked. */
static const char *canon_name(const struct ares_addrinfo *ai, const char *asked) {
    const char *name = ai->name ? ai->name : asked;
    for (int step = 0; step < 16; step++) {
        const struct ares_addrinfo_cname *c = ai->cnames;
        while (c && (!c->alias || !name || strcasecmp(c->alias, name) != 0))
            c = c->next;
        if (!c || !c->name)
            break;
        name = c->name;
    }
    return name;
}

/* Combine c-ares' addresses with libc's template for the service. */
static int build(const struct ares_addrinfo *ai, const struct addrinfo *tmpl,
                 const char *canon_for, struct addrinfo **res) {
    struct addrinfo *head = NULL, **tail = &head;
    for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
        if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
            continue;
        for (const struct addrinfo *t = tmpl; t; t = t->ai_next) {
            struct sockaddr_storage ss;
            socklen_t len = n->ai_family == AF_INET ? sizeof(struct sockaddr_in)
                                                    : sizeof(struct sockaddr_in6);
            memset(&ss, 0, sizeof ss);
            memcpy(&ss, n->ai_addr, n->ai_addrlen < len ? n->ai_addrlen : len);
            uint16_t port = ((const struct sockaddr_in *)(const void *)t->ai_addr)->sin_port;
            if (n->ai_family == AF_INET)
                ((struct sockaddr_in *)&ss)->sin_port = port;
            else
                ((struct sockaddr_in6 *)&ss)->sin6_port = port;
            struct addrinfo *e = corio__ai_node(n->ai_family, t->ai_socktype, t->ai_protocol,
                                                (struct sockaddr *)&ss, len);
            if (!e) {
                corio_freeaddrinfo(head);
                return -ENOMEM;
            }
            *tail = e;
            tail = &e->ai_next;
        }
    }
    if (!head)
        return CORIO_EAI_NODATA;
    const char *cn = canon_for ? canon_name(ai, canon_for) : NULL;
    if (cn && !(head->ai_canonname = corio__strdup(cn))) {
        corio_freeaddrinfo(head);
        return -ENOMEM;
    }
    *res = head;
    return 0;
}

static int libc_now(const char *host, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res) {
    struct addrinfo *r = NULL;
    int saved = errno;
    int e = getaddrinfo(host, service, hints, &r);
    int code = corio__eai_code(e, errno);
    errno = saved;
    if (code == 0) {
        code = corio__ai_copy(r, res);
        freeaddrinfo(r);
    }
    return code;
}

static int is_numeric(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    char tmp[INET6_ADDRSTRLEN + 1];
    if (inet_pton(AF_INET, host, buf) == 1)
        return 1;
    size_t n = strcspn(host, "%"); /* fe80::1%eth0 */
    if (n >= sizeof tmp)
        return 0;
    memcpy(tmp, host, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, buf) == 1;
}

CORIO_API int corio_getaddrinfo(const char *host, const char *service,
                                const struct addrinfo *hints, double timeout,
                                struct addrinfo **res) {
    if (!res)
        return -EINVAL;
    *res = NULL;
    if (timeout != timeout || (host && !*host))
        return -EINVAL;
    if (!host && !service)
        return CORIO_EAI_NONAME;
    if (host && strlen(host) > NAME_MAX_LEN)
        return -ENAMETOOLONG;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    struct addrinfo h = {0};
    if (hints) {
        h.ai_flags = hints->ai_flags;
        h.ai_family = hints->ai_family;
        h.ai_socktype = hints->ai_socktype;
        h.ai_protocol = hints->ai_protocol;
    }
    if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
        return CORIO_EAI_FAMILY;
    if (service && *service >= '0' && *service <= '9') {
        /* glibc takes any number and keeps its low 16 bits: refuse it. */
        char *end;
        unsigned long port = strtoul(service, &end, 10);
        if (!*end && port > 65535)
            return CORIO_EAI_SERVICE;
    }
    /* Numeric hosts, service-only lookups: libc, which never touches the
     * network for them. */
    if (!host || (h.ai_flags & AI_NUMERICHOST) || is_numeric(host)) {
        h.ai_flags |= host ? AI_NUMERICHOST : 0;
        return libc_now(host, service, &h, res);
    }
    int64_t deadline = corio__deadline(timeout);
    if (!use_cares())
        return corio__libc_getaddrinfo(host, service, &h, deadline, res);
    /* The service part first: a bad service or socket type fails before
     * any query, and the template gives every entry's type and port. */
    struct addrinfo th = {.ai_flags = AI_PASSIVE | (h.ai_flags & AI_NUMERICSERV),
                          .ai_family = AF_INET,
                          .ai_socktype = h.ai_socktype,
                          .ai_protocol = h.ai_protocol};
    if (h.ai_flags & ~(AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL |
                       AI_ADDRCONFIG | AI_NUMERICSERV))
        return CORIO_EAI_BADFLAGS;
    struct addrinfo *tmpl = NULL;
    int saved = errno;
    int e = getaddrinfo(NULL, service ? service : "0", &th, &tmpl);
    int code = corio__eai_code(e, errno);
    errno = saved;
    if (code < 0)
        return code;
    query *q = corio__calloc(1, sizeof *q);
    if (!q) {
        freeaddrinfo(tmpl);
        return -ENOMEM;
    }
    q->kind = Q_ADDR;
    /* ARES_AI_ENVHOSTS: c-ares 1.18 reads $CARES_HOSTS (instead of
     * /etc/hosts) only when asked to, at each lookup. */
    struct ares_addrinfo_hints ah = {
        .ai_family = h.ai_family,
        .ai_flags = ARES_AI_ENVHOSTS | ((h.ai_flags & AI_CANONNAME) ? ARES_AI_CANONNAME : 0)};
    query *done = NULL;
    code = run_query(q, submit_addr, host, &ah, deadline, &done);
    if (code == 0) {
        code = ares_code(done->status);
        if (code == 0 && done->ai)
            code = build(done->ai, tmpl, (h.ai_flags & AI_CANONNAME) ? host : NULL, res);
        else if (code == 0)
            code = CORIO_EAI_NODATA;
        if (done->ai)
            ares_freeaddrinfo(done->ai);
        free(done);
    }
    freeaddrinfo(tmpl);
    return code;
}

/* ---- getnameinfo ---- */

static void submit_name(ares_channel ch, query *q, const void *a, const void *b) {
    const struct sockaddr *sa = a;
    const int *flags = b;
    ares_getnameinfo(ch, sa,
                     sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6),
                     *flags, name_cb, q);
}

CORIO_API int corio_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                                size_t hostlen, char *serv, size_t servlen, int flags,
                                double timeout) {
    if (!sa || timeout != timeout)
        return -EINVAL;
    if ((!host || !hostlen) && (!serv || !servlen))
        return CORIO_EAI_NONAME;
    if (!host)
        hostlen = 0;
    if (!serv)
        servlen = 0;
    if (!hostlen)
        host = NULL;
    if (!servlen)
        serv = NULL;
    if ((sa->sa_family != AF_INET || salen < sizeof(struct sockaddr_in)) &&
        (sa->sa_family != AF_INET6 || salen < sizeof(struct sockaddr_in6)))
        return CORIO_EAI_FAMILY;
    if (flags & ~(NI_NUMERICHOST | NI_NUMERICSERV | NI_NAMEREQD | NI_NOFQDN | NI_DGRAM))
        return CORIO_EAI_BADFLAGS;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    int64_t deadline = corio__deadline(timeout);
    int want_name = host && !(flags & NI_NUMERICHOST);
    if (want_name && !use_cares())
        return corio__libc_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags, deadline);
    /* The service and numeric hosts: libc (a number, or /etc/services). */
    char hb[NI_MAXHOST], sb[NI_MAXSERV];
    int saved = errno;
    int e = getnameinfo(sa, salen, want_name ? NULL : (host ? hb : NULL), sizeof hb,
                        serv ? sb : NULL, sizeof sb,
                        (flags & ~NI_NAMEREQD) | NI_NUMERICHOST);
    int code = corio__eai_code(e, errno);
    errno = saved;
    if (code < 0)
        return code;
    if (want_name) {
        query *q = corio__calloc(1, sizeof *q);
        if (!q)
            return -ENOMEM;
        q->kind = Q_NAME;
        int af = ARES_NI_LOOKUPHOST | ((flags & NI_NAMEREQD) ? ARES_NI_NAMEREQD : 0) |
                 ((flags & NI_NOFQDN) ? ARES_NI_NOFQDN : 0);
        query *done = NULL;
        code = run_query(q, submit_name, sa, &af, deadline, &done);
        if (code < 0)
            return code;
        code = ares_code(done->status);
        if (code == CORIO_EAI_NODATA)
            code = CORIO_EAI_NONAME;
        if (code == 0)
            memcpy(hb, done->host, strlen(done->host) + 1);
        free(done);
        if (code < 0)
            return code;
    }
    if ((host && strlen(hb) >= hostlen) || (serv && strlen(sb) >= servlen))
        return CORIO_EAI_OVERFLOW;
    if (host)
        strcpy(host, hb);
    if (serv)
        strcpy(serv, sb);
    return 0;
}
