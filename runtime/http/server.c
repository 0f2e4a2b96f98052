/* corio — the HTTP/1.1 server: start, stop, counters, and per loop an
 * acceptor (on the loop's own SO_REUSEPORT socket) and a watchdog (the
 * timeouts of the loop's connections). A connection's life is in
 * server_conn.c. See corio/http_server.h for the contract.
 *
 *   loop k:  listener socket k ──accept── acceptor k ──spawn on loop k──▶ serve(conn)
 *            watchdog k: every period, cancel the wait scope of each
 *            connection of loop k past its deadline
 *
 * Memory: a small ticket per connection (fd, peer address), freed by
 * conn_done when its coroutine's future completes; the connection's state
 * on the coroutine's stack (corio__hs_serve); the per-request block (header array, path
 * buffers, response field lines) only while a request is under way, from
 * the loop thread's block cache (runtime/bcache.h, server_conn.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_internal.h"

#define ACCEPT_BACKOFF 0.05 /* seconds to wait after an accept failure */
#define MAX_REJECTING 256   /* 503 answers in flight; beyond, just close */

/* A connection's last trace is gone: the server may finish draining. */
static void conn_closed(corio_http_server *s) {
    if (atomic_fetch_sub(&s->open, 1) == 1 && atomic_load(&s->draining))
        corio_event_set(s->gone);
}

/* Runs when a connection's future completes (after serve returned, or
 * instead of it when it never started). Loop thread of the connection. */
static int conn_done(corio_future *f, void *arg) {
    (void)f;
    corio__hs_ticket *tk = arg;
    corio_http_server *s = tk->srv;
    if (!tk->started) {
        close(tk->fd);
        corio__hs_uncount(s, tk->reject);
    }
    free(tk);
    conn_closed(s);
    return 0;
}

/* Give fd its coroutine on this loop; the counters were raised by the
 * caller and are lowered here on failure. */
static void start_conn(corio_http_server *s, int fd, bool reject, const struct sockaddr_storage *peer,
                       socklen_t peerlen) {
    corio_spawn_options so = {.stack_size = s->stack_size};
    if (peerlen > sizeof *peer)
        peerlen = sizeof *peer;
    corio__hs_ticket *tk = malloc(sizeof *tk + peerlen);
    int err = -ENOMEM;
    corio_future *f = NULL;
    atomic_fetch_add(&s->open, 1);
    if (tk) {
        *tk = (corio__hs_ticket){.srv = s, .fd = fd, .reject = reject,
                                 .accepted_at = corio__hs_now(), .peerlen = peerlen};
        memcpy(tk->peer, peer, peerlen);
        f = corio_spawn_on(s->rt, -1, corio__hs_serve, tk, &so, &err);
    }
    if (!f) {
        free(tk);
        close(fd);
        corio__hs_uncount(s, reject);
        conn_closed(s);
        if (!s->quiet)
            fprintf(stderr, "corio http server: cannot start a connection: %s\n",
                    corio_strerror(err));
        return;
    }
    /* The coroutine is on this loop and has not run yet: the callback is in
     * place before it ends. If registering fails (no memory), cancel it and
     * clean up here once it is done. */
    tk->future = f;
    if (corio_future_add_done_callback(f, conn_done, tk) < 0) {
        corio_future_cancel(f);
        corio_future_result(f, CORIO_FOREVER, NULL);
        conn_done(f, tk);
    }
    corio_future_unref(f);
}

/* One per loop: accept on this loop's socket, start connections here. */
static int acceptor(void *arg, corio_value *out) {
    (void)out;
    corio_http_server *s = arg;
    bool failing = false;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = corio_listener_accept(s->lst, (struct sockaddr *)&peer, &plen, CORIO_FOREVER);
        if (fd == -ECANCELED || fd == -ESHUTDOWN)
            break;
        if (fd < 0) {
            /* EMFILE, ENFILE, ENOBUFS: the connection waits in the backlog.
             * Say so once per episode, back off, accept again. */
            atomic_fetch_add_explicit(&s->accept_errors, 1, memory_order_relaxed);
            if (!failing && !s->quiet)
                fprintf(stderr, "corio http server: accept: %s (retrying)\n", corio_strerror(fd));
            failing = true;
            if (corio_sleep(ACCEPT_BACKOFF) == -ECANCELED)
                break;
            continue;
        }
        failing = false;
        atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
        if (atomic_fetch_add(&s->active, 1) < s->max_conns) {
            start_conn(s, fd, false, &peer, plen);
            continue;
        }
        atomic_fetch_sub(&s->active, 1);
        atomic_fetch_add_explicit(&s->rejected, 1, memory_order_relaxed);
        if (atomic_fetch_add(&s->rejecting, 1) < MAX_REJECTING) {
            start_conn(s, fd, true, &peer, plen);
        } else {
            atomic_fetch_sub(&s->rejecting, 1);
            close(fd); /* a flood: no 503 for this one */
        }
    }
    return 0;
}

/* One per loop: the timeouts of this loop's connections. A connection
 * publishes its wait scope and deadline while it waits (corio__wd_arm);
 * every period the watchdog cancels the scopes past their deadline.
 * Draining: idle connections are cancelled at once; after the grace
 * (s->kill), every connection's coroutine. O(connections) per round. */
static int watchdog(void *arg, corio_value *out) {
    (void)out;
    corio_http_server *s = arg;
    corio__hconn **head = &s->watch[corio_loop_id()];
    double period = s->min_t / 4 < 1.0 ? s->min_t / 4 : 1.0;
    if (period < 0.01)
        period = 0.01; /* a tiny timeout must not make the watchdog spin */
    for (;;) {
        bool draining = atomic_load_explicit(&s->draining, memory_order_relaxed);
        if (draining && !*head && atomic_load(&s->open) == 0)
            break;
        if (corio_sleep(draining ? 0.01 : period) != 0 && !draining)
            break;
        bool kill = atomic_load_explicit(&s->kill, memory_order_relaxed);
        double now = corio__hs_now();
        for (corio__hconn *c = *head; c; c = c->next) {
            if (kill) {
                corio_future_cancel(c->tk->future);
            } else if (c->scope && !c->timed_out &&
                       ((draining && c->idle) || (c->deadline != 0 && now >= c->deadline))) {
                c->timed_out = c->dkind;
                corio_scope_cancel(c->scope);
            }
        }
        if (draining && !*head && kill)
            break;
    }
    return 0;
}

static bool bad_timeout(double t) { return !(t >= 0) || t > 1e9; }

int corio_http_server_create(corio_runtime *rt, const char *host, int port,
                             const corio_http_server_options *opts, corio_http_handler handler,
                             void *arg, corio_http_server **out) {
    static const corio_http_server_options defaults;
    const corio_http_server_options *o = opts ? opts : &defaults;
    if (!rt || !host || !handler || !out || port < 0 || port > 65535 ||
        bad_timeout(o->head_timeout) || bad_timeout(o->body_timeout) ||
        bad_timeout(o->idle_timeout) || bad_timeout(o->write_timeout) || o->max_conns < 0 ||
        o->backlog < 0 || o->max_headers > 1000 || (o->methods & ~CORIO_HTTP_METHODS_ALL) ||
        (o->server_name && strlen(o->server_name) > 64) ||
        (o->stack_size && o->stack_size < 16384))
        return -EINVAL;
    if (o->server_name)
        for (const char *p = o->server_name; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return -EINVAL;
    *out = NULL;
    corio_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->rt = rt;
    s->handler = handler;
    s->arg = arg;
    s->quiet = o->quiet;
    s->tls = o->tls;
    s->head_t = o->head_timeout > 0 ? o->head_timeout : 20;
    s->body_t = o->body_timeout > 0 ? o->body_timeout : 60;
    s->idle_t = o->idle_timeout > 0 ? o->idle_timeout : 60;
    s->write_t = o->write_timeout > 0 ? o->write_timeout : 60;
    s->min_t = s->head_t;
    if (s->body_t < s->min_t)
        s->min_t = s->body_t;
    if (s->idle_t < s->min_t)
        s->min_t = s->idle_t;
    if (s->write_t < s->min_t)
        s->min_t = s->write_t;
    s->max_conns = o->max_conns > 0 ? o->max_conns : 10000;
    s->methods = o->methods ? o->methods : CORIO_HTTP_METHODS_ALL;
    s->stack_size = o->stack_size ? o->stack_size : 64 * 1024;
    corio__http_limits_init(&s->lim);
    if (o->max_body)
        s->lim.max_body = o->max_body;
    if (o->max_uri)
        s->lim.max_uri = o->max_uri;
    if (o->max_header_bytes)
        s->lim.max_header_bytes = o->max_header_bytes;
    if (o->max_headers)
        s->lim.max_headers = o->max_headers;
    s->max_headers = s->lim.max_headers;
    /* Room for the longest head the limits allow: request line, header
     * section, leading empty lines. */
    s->in_max = s->lim.max_uri + s->lim.max_header_bytes + CORIO__HTTP_MAX_METHOD + 64;
    if (s->in_max < 8192)
        s->in_max = 8192;
    s->path_cap = s->lim.max_uri + 4;
    const char *name = o->server_name ? o->server_name : "corio";
    if (*name)
        snprintf(s->server_line, sizeof s->server_line, "Server: %s\r\n", name);
    int r = corio_event_create(&s->gone);
    if (r < 0)
        goto fail;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    corio_listen_options lo = {.runtime = rt, .reuseport = true,
                               .backlog = o->backlog ? o->backlog : 4096};
    if ((r = corio_listen(host, portstr, &lo, &s->lst)) < 0)
        goto fail;
    s->port = corio_listener_port(s->lst);
    s->nloops = corio_runtime_loops(rt);
    s->work_size = s->max_headers * sizeof(corio_http_header) + 2 * s->path_cap +
                   CORIO__HS_HDR_CAP + CORIO__HS_HOLD_CAP + CORIO__HS_HEAD_CAP;
    /* pre: aligned_alloc, its entries are 64-byte aligned (a multiple of
     * 64 in size). */
    if (!(s->watch = calloc((size_t)s->nloops, sizeof *s->watch)) ||
        !(s->tasks = calloc(2 * (size_t)s->nloops, sizeof *s->tasks)) ||
        !(s->pre = aligned_alloc(64, (size_t)s->nloops * sizeof *s->pre))) {
        r = -ENOMEM;
        goto fail;
    }
    memset(s->pre, 0, (size_t)s->nloops * sizeof *s->pre);
    for (int k = 0; k < s->nloops; k++) {
        if (!(s->tasks[2 * k] = corio_spawn_on(rt, k, acceptor, s, NULL, &r)) ||
            !(s->tasks[2 * k + 1] = corio_spawn_on(rt, k, watchdog, s, NULL, &r)))
            goto fail;
    }
    *out = s;
    return 0;
fail:
    corio_http_server_destroy(s);
    return r;
}

int corio_http_server_port(const corio_http_server *srv) {
    return srv ? srv->port : -EINVAL;
}

int corio_http_server_stats(const corio_http_server *srv, corio_http_server_counters *st) {
    if (!srv || !st)
        return -EINVAL;
    corio_http_server *s = (corio_http_server *)srv; /* atomic loads want non-const */
    st->accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    st->rejected = atomic_load_explicit(&s->rejected, memory_order_relaxed);
    st->accept_errors = atomic_load_explicit(&s->accept_errors, memory_order_relaxed);
    st->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    st->bad_requests = atomic_load_explicit(&s->bad_requests, memory_order_relaxed);
    st->timeouts = atomic_load_explicit(&s->timeouts, memory_order_relaxed);
    st->tls_failures = atomic_load_explicit(&s->tls_failures, memory_order_relaxed);
    st->active = atomic_load_explicit(&s->active, memory_order_relaxed);
    return 0;
}

int corio_http_server_shutdown(corio_http_server *srv, double grace) {
    if (!srv || !(grace >= 0) || grace > 1e9)
        return -EINVAL;
    if (corio_runtime_current() == srv->rt)
        return -EPERM;
    if (srv->shut)
        return -EALREADY;
    srv->shut = true;
    /* Order: no keep-alive and idle connections closed (draining), no new
     * connections (the listeners close: the acceptors end with
     * -ESHUTDOWN), wait for the connections; past the grace, the watchdogs
     * cancel what is left, and we wait again (a cancelled coroutine ends at
     * its next blocking call). */
    atomic_store(&srv->draining, true);
    if (srv->lst)
        corio_listener_close(srv->lst);
    for (int k = 0; srv->tasks && k < srv->nloops; k++)
        if (srv->tasks[2 * k])
            corio_future_result(srv->tasks[2 * k], CORIO_FOREVER, NULL);
    int ret = 0;
    if (atomic_load(&srv->open) > 0 && corio_event_wait(srv->gone, grace) < 0 &&
        atomic_load(&srv->open) > 0) {
        ret = 1;
        atomic_store(&srv->kill, true);
        corio_event_wait(srv->gone, CORIO_FOREVER);
    }
    atomic_store(&srv->kill, true);
    for (int k = 0; srv->tasks && k < srv->nloops; k++)
        if (srv->tasks[2 * k + 1])
            corio_future_result(srv->tasks[2 * k + 1], CORIO_FOREVER, NULL);
    return ret;
}

void corio_http_server_destroy(corio_http_server *srv) {
    if (!srv)
        return;
    if (!srv->shut && srv->tasks && srv->lst)
        corio_http_server_shutdown(srv, 0);
    if (srv->lst) {
        corio_listener_close(srv->lst);
        corio_listener_destroy(srv->lst);
    }
    for (int k = 0; srv->tasks && k < 2 * srv->nloops; k++)
        if (srv->tasks[k]) {
            /* Only after a failed create can a task still run here. */
            corio_future_cancel(srv->tasks[k]);
            corio_future_result(srv->tasks[k], CORIO_FOREVER, NULL);
            corio_future_unref(srv->tasks[k]);
        }
    free(srv->tasks);
    free(srv->watch);
    free(srv->pre);
    corio_event_destroy(srv->gone);
    free(srv);
}
