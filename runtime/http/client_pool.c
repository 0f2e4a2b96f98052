/* corio — HTTP client: the client object and its connection pool.
 *
 * Per origin ("scheme://host:port") the pool keeps a count of open
 * connections (busy, idle and being dialled), a LIFO of idle ones (the most
 * recently used first: its TCP window is the warmest, and the oldest ones
 * age out), and a FIFO of callers waiting for max_conns_per_origin.
 *
 * Taking (corio__http_pool_get), under the lock:
 *   1. idle connections past idle_timeout are unlinked (closed after the
 *      lock is released);
 *   2. the newest idle connection is taken, if any, and peeked for liveness
 *      after the lock is released (a dead one is closed and step 1 rerun);
 *   3. else, below the limit, the count is raised and the caller dials;
 *   4. else the caller queues a waiter and waits (lock released) on its
 *      event until the deadline.
 * Returning (corio__http_pool_put) hands a reusable connection straight to
 * the oldest waiter, else pools it (or closes it when max_idle are idle);
 * a connection that is closed instead hands the oldest waiter a "unit":
 * permission to dial, the count staying as it was. So the count never
 * exceeds the limit and no waiter misses a connection that was freed.
 *
 * A waiter that times out removes itself under the lock; if it had already
 * been handed something (the event raced with the timeout), it takes it.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client_internal.h"
#include "corio/error.h"
#include "corio/io.h"
#include "corio/net.h"
#include "corio/runtime.h"
#include "config.h"
#include "internal.h"

double corio__http_left(int64_t ns) {
    if (ns == INT64_MAX)
        return CORIO_FOREVER;
    int64_t l = ns - corio__now_ns();
    return l > 0 ? (double)l / 1e9 : 1e-9;
}

int64_t corio__http_min_deadline(int64_t ns, double timeout) {
    if (timeout < 0)
        return ns;
    int64_t d = corio__deadline(timeout);
    return d < ns ? d : ns;
}

/* A timeout option: 0 the default, negative none, NaN invalid. */
static int opt_timeout(double v, double dflt, double *out) {
    if (isnan(v))
        return -EINVAL;
    *out = v == 0 ? dflt : v < 0 ? CORIO_FOREVER : v;
    return 0;
}

CORIO_API int corio_http_client_create(const corio_http_client_options *opts,
                                       corio_http_client **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    corio_http_client_options o = {0};
    if (opts)
        o = *opts;
    if (o.max_head_bytes > (1u << 20) || isnan(o.idle_timeout) || o.idle_timeout < 0)
        return -EINVAL;
    if (o.max_redirects < CORIO_HTTP_NO_REDIRECTS)
        return -EINVAL;
    corio_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    if (opt_timeout(o.connect_timeout, 30.0, &c->connect_timeout) < 0 ||
        opt_timeout(o.first_byte_timeout, CORIO_FOREVER, &c->first_byte_timeout) < 0 ||
        opt_timeout(o.timeout, CORIO_FOREVER, &c->timeout) < 0) {
        free(c);
        return -EINVAL;
    }
    c->max_conns = o.max_conns_per_origin;
    c->max_idle = o.max_idle_per_origin == 0 ? 2u
                  : o.max_idle_per_origin < 0 ? 0u
                                              : (unsigned)o.max_idle_per_origin;
    c->idle_timeout_ns = (int64_t)((o.idle_timeout == 0 ? 90.0 : o.idle_timeout) * 1e9);
    c->max_redirects = o.max_redirects == 0 ? 10 : o.max_redirects < 0 ? 0 : o.max_redirects;
    c->max_head = o.max_head_bytes ? o.max_head_bytes : 64u * 1024u;
    const char *ua = o.user_agent ? o.user_agent : "corio/" CORIO_VERSION_STRING;
    for (const char *p = ua; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            free(c);
            return -EINVAL;
        }
    if (*ua && !(c->user_agent = strdup(ua))) {
        free(c);
        return -ENOMEM;
    }
    c->tls = o.tls;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

/* Close a list of connections unlinked from the pool (lock not held). */
static void close_list(corio__http_conn *list) {
    while (list) {
        corio__http_conn *nx = list->next;
        if (list->s)
            corio_stream_destroy(list->s);
        free(list);
        list = nx;
    }
}

CORIO_API int corio_http_client_destroy(corio_http_client *c) {
    if (!c)
        return 0;
    if (atomic_load(&c->live) != 0)
        return -EBUSY;
    for (corio__http_origin *o = c->origins, *nx; o; o = nx) {
        nx = o->next;
        close_list(o->idle);
        free(o);
    }
    if (c->tls_owned)
        corio__http_tls_context_destroy(c->tls);
    pthread_mutex_destroy(&c->lock);
    free(c->user_agent);
    free(c);
    return 0;
}

CORIO_API int corio_http_client_stats_get(const corio_http_client *c,
                                          corio_http_client_stats *out) {
    if (!c || !out)
        return -EINVAL;
    out->requests = atomic_load(&c->n_requests);
    out->dials = atomic_load(&c->n_dials);
    out->reuses = atomic_load(&c->n_reuses);
    out->retries = atomic_load(&c->n_retries);
    out->redirects = atomic_load(&c->n_redirects);
    out->waits = atomic_load(&c->n_waits);
    return 0;
}

/* The origin of `key`, created on first use. Lock held. O(origins). */
static corio__http_origin *origin_get(corio_http_client *c, const char *key) {
    for (corio__http_origin *o = c->origins; o; o = o->next)
        if (!strcmp(o->key, key))
            return o;
    corio__http_origin *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    memcpy(o->key, key, CORIO__HTTP_KEY_MAX);
    o->next = c->origins;
    c->origins = o;
    return o;
}

/* Unlink idle connections of `o` older than the idle timeout onto *dead.
 * Lock held. */
static void expire_idle(corio_http_client *c, corio__http_origin *o, corio__http_conn **dead) {
    int64_t now = corio__now_ns();
    for (corio__http_conn **pc = &o->idle; *pc;) {
        corio__http_conn *k = *pc;
        if (now - k->idle_since >= c->idle_timeout_ns) {
            *pc = k->next;
            k->next = *dead;
            *dead = k;
            o->nidle--;
            o->conns--;
        } else {
            pc = &k->next;
        }
    }
}

/* Whether an idle connection still looks usable: the server has not
 * closed it, and, for plain HTTP, sent nothing unasked. On TLS, bytes may
 * be a session ticket or a close_notify: it is kept, and a failure on
 * first use is retried by the caller. */
static bool conn_alive(const corio__http_conn *k) {
    if (corio_stream_buffered(k->s) > 0)
        return false;
    char b;
    ssize_t n = recv(corio_stream_fd(k->s), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return false;
    if (n > 0)
        return corio__http_stream_is_tls(k->s);
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Dial `u` into a new stream. */
static int dial(corio_http_client *c, const corio__http_url *u, int64_t deadline,
                corio_stream **out) {
    int64_t d = corio__http_min_deadline(deadline, c->connect_timeout);
    int fd = corio_dial_with(u->host, u->port, NULL, corio__http_left(d));
    if (fd < 0)
        return fd;
    atomic_fetch_add(&c->n_dials, 1);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    corio_stream_options so = {.read_buffer = 16384, .max_read_buffer = c->max_head + 16384};
    int rc;
    if (u->tls)
        rc = corio__http_tls_open(c, fd, u->host, &so, corio__http_left(d), out);
    else
        rc = corio_stream_create(fd, &so, out);
    if (rc < 0)
        corio_close(fd);
    return rc;
}

static void release_unit(corio_http_client *c, corio__http_origin *o);

int corio__http_pool_get(corio_http_client *c, const corio__http_url *u, int64_t deadline,
                         corio__http_conn **out, bool *reused) {
    char key[CORIO__HTTP_KEY_MAX];
    corio__http_url_origin(u, key);
    corio__http_conn *dead = NULL, *got = NULL;
    corio__http_waiter w = {0};
    bool may_dial = false;
    corio__http_origin *o;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        o = origin_get(c, key);
        if (!o) {
            pthread_mutex_unlock(&c->lock);
            return -ENOMEM;
        }
        expire_idle(c, o, &dead);
        if (!o->idle)
            break; /* with the lock held */
        got = o->idle;
        o->idle = got->next;
        o->nidle--;
        pthread_mutex_unlock(&c->lock);
        close_list(dead);
        dead = NULL;
        /* The liveness peek is a system call: made outside the lock. */
        if (conn_alive(got)) {
            *reused = true;
            *out = got;
            return 0;
        }
        corio_stream_destroy(got->s);
        free(got);
        got = NULL;
        release_unit(c, o);
    }
    if (!got && (c->max_conns == 0 || o->conns < c->max_conns)) {
        o->conns++;
        may_dial = true;
    }
    int rc = 0;
    if (!got && !may_dial) {
        rc = corio_event_create(&w.ev);
        if (rc == 0) {
            if (o->wq_tail)
                o->wq_tail->next = &w;
            else
                o->wq_head = &w;
            o->wq_tail = &w;
        }
    }
    pthread_mutex_unlock(&c->lock);
    close_list(dead);
    if (rc < 0)
        return rc;
    if (w.ev) { /* wait for a connection or a unit to be handed over */
        atomic_fetch_add(&c->n_waits, 1);
        int wr = corio_event_wait(w.ev, corio__http_left(deadline));
        pthread_mutex_lock(&c->lock);
        if (!w.conn && !w.unit) { /* still queued: leave the queue */
            corio__http_waiter **pw = &o->wq_head, *prev = NULL;
            while (*pw && *pw != &w) {
                prev = *pw;
                pw = &(*pw)->next;
            }
            if (*pw) {
                *pw = w.next;
                if (o->wq_tail == &w)
                    o->wq_tail = prev;
            }
        }
        pthread_mutex_unlock(&c->lock);
        corio_event_destroy(w.ev);
        if (w.conn)
            got = w.conn;
        else if (w.unit)
            may_dial = true;
        else
            return wr < 0 ? wr : -ETIMEDOUT;
    }
    if (got) {
        *reused = true;
        *out = got;
        return 0;
    }
    /* may_dial: a unit is ours. */
    corio__http_conn *k = calloc(1, sizeof *k);
    if (!k) {
        release_unit(c, o);
        return -ENOMEM;
    }
    k->origin = o;
    rc = dial(c, u, deadline, &k->s);
    if (rc < 0) {
        free(k);
        release_unit(c, o);
        return rc;
    }
    *reused = false;
    *out = k;
    return 0;
}

int corio__http_pool_redial(corio_http_client *c, corio__http_conn *conn,
                            const corio__http_url *u, int64_t deadline) {
    if (conn->s)
        corio_stream_destroy(conn->s);
    conn->s = NULL;
    return dial(c, u, deadline, &conn->s);
}

/* Pop the oldest waiter of `o`, NULL when none. Lock held. */
static corio__http_waiter *waiter_pop(corio__http_origin *o) {
    corio__http_waiter *w = o->wq_head;
    if (w) {
        o->wq_head = w->next;
        if (!o->wq_head)
            o->wq_tail = NULL;
        w->next = NULL;
    }
    return w;
}

/* Hand waiter `w` what it was given, under the lock: the waiter frees its
 * event only after taking the lock itself, so the event cannot be gone
 * while it is set here. */
static void waiter_wake(corio__http_waiter *w) { corio_event_set(w->ev); }

/* A connection of `o` is gone (closed, or its dial failed): the oldest
 * waiter may dial in its place, else the count drops. */
static void release_unit(corio_http_client *c, corio__http_origin *o) {
    pthread_mutex_lock(&c->lock);
    corio__http_waiter *w = waiter_pop(o);
    if (w) {
        w->unit = true;
        waiter_wake(w);
    } else {
        o->conns--;
    }
    pthread_mutex_unlock(&c->lock);
}

void corio__http_pool_put(corio_http_client *c, corio__http_conn *conn, bool reusable) {
    corio__http_origin *o = conn->origin;
    if (reusable && conn->s) {
        pthread_mutex_lock(&c->lock);
        corio__http_waiter *w = waiter_pop(o);
        if (w) {
            w->conn = conn; /* the count is unchanged: it changes hands */
            waiter_wake(w);
            conn = NULL;
        } else if (o->nidle < c->max_idle) {
            conn->idle_since = corio__now_ns();
            conn->next = o->idle;
            o->idle = conn;
            o->nidle++;
            conn = NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (!conn)
            return;
    }
    if (conn->s)
        corio_stream_destroy(conn->s);
    free(conn);
    release_unit(c, o);
}
