/* corio — one HTTP connection's life (the coroutine serve runs):
 *
 *   [TLS handshake] → read a head (whole-head deadline; idle deadline
 *   before its first byte) → refuse it (4xx, close) or call the handler →
 *   finish the answer → discard an unread body → flush when nothing more
 *   is buffered (pipelined answers leave together) → next head, or linger
 *   and close.
 *
 * The head is parsed in place in the stream's read buffer, then copied to
 * the request block (or c->head when bigger; its slices rebased) so that
 * the body reader may refill the buffer while the handler still uses the
 * head.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../net/stream_internal.h"
#include "bcache.h"
#include "server_internal.h"

#define LINGER_MAX 2.0            /* seconds to drain a closing connection */
#define LINGER_BYTES (256 * 1024) /* bytes drained at most */

/* ---- per-request memory ---- */

int corio__hs_work_take(corio__hconn *c) {
    if (c->work)
        return 0;
    corio_http_server *s = c->srv;
    void *w = corio__bcache_get(s->work_size);
    if (!w)
        return -ENOMEM;
    size_t hsz = s->max_headers * sizeof(corio_http_header);
    c->work = w;
    c->hdrs = w;
    c->pathbuf = (char *)w + hsz;
    c->extra = c->pathbuf + 2 * s->path_cap;
    c->headbuf = c->extra + CORIO__HS_HDR_CAP + CORIO__HS_HOLD_CAP;
    c->p.hdrs = c->hdrs;
    return 0;
}

void corio__hs_work_give(corio__hconn *c) {
    free(c->head);
    c->head = NULL;
    c->head_cap = 0;
    void *w = c->work;
    if (!w)
        return;
    c->work = NULL;
    c->hdrs = NULL;
    c->pathbuf = c->extra = c->headbuf = NULL;
    c->p.hdrs = NULL;
    corio__bcache_put(w, c->srv->work_size);
}

/* Closing after an answer: stop sending, then read and drop what the
 * client still sends until it closes (or LINGER_MAX passes), so that the
 * close does not become a reset that destroys the answer before the client
 * read it (RFC 9112 9.6). */
static void linger(corio__hconn *c) {
    corio_http_server *s = c->srv;
    corio_scope sc;
    corio__wd_arm(c, &sc, corio__hs_now() + s->write_t, CORIO__WD_WRITE);
    int r = corio_stream_shutdown(c->st, SHUT_WR, CORIO_FOREVER);
    corio__wd_disarm(c, &sc, r);
    if (r < 0)
        return;
    double limit = s->idle_t < LINGER_MAX ? s->idle_t : LINGER_MAX;
    char buf[4096];
    size_t total = 0;
    corio__wd_arm(c, &sc, corio__hs_now() + limit, CORIO__WD_WRITE);
    while (total < LINGER_BYTES) {
        ssize_t n = corio_stream_read(c->st, buf, sizeof buf, CORIO_FOREVER);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    corio__wd_disarm(c, &sc, 0);
}

/* An error answer without the handler ("<status> <reason>\n", Connection:
 * close); HEAD gets the head only. Returns 0 or the write's error. */
int corio__hs_send_error(corio__hconn *c, int status, bool is_head) {
    char head[512], body[64];
    int bn = snprintf(body, sizeof body, "%d %s\n", status, corio_http_status_reason(status));
    char extra[128] = "";
    if (status == 405) {
        /* The methods the server accepts (its methods option). */
        static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                            "CONNECT", "OPTIONS", "TRACE", "PATCH"};
        size_t k = (size_t)snprintf(extra, sizeof extra, "Allow: ");
        for (int i = 0; i < 9; i++)
            if (c->srv->methods & (1u << i))
                k += (size_t)snprintf(extra + k, sizeof extra - k, "%s%s", k > 7 ? ", " : "",
                                      names[i]);
        snprintf(extra + k, sizeof extra - k, "\r\n");
    }
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\n%sDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: %d\r\n%sConnection: close\r\n\r\n",
                      status, corio_http_status_reason(status), c->srv->server_line,
                      corio__hs_date(), bn, extra);
    atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
    struct iovec iov[2] = {{head, (size_t)hn}, {body, is_head ? 0 : (size_t)bn}};
    int r = corio__hs_write(c, iov, 2);
    if (r == 0)
        r = corio__hs_flush(c);
    return r;
}

/* Refuse the request in the buffer (the parser's -status, a limit, a
 * timeout) and close. A HEAD request gets no body even here. */
static void refuse(corio__hconn *c, int status) {
    const void *v = NULL;
    ssize_t n = corio_stream_peek(c->st, 0, &v, 0);
    bool is_head = n >= 5 && !memcmp(v, "HEAD ", 5);
    atomic_fetch_add_explicit(&c->srv->bad_requests, 1, memory_order_relaxed);
    if (corio__hs_send_error(c, status, is_head) == 0)
        linger(c);
}

/* Copy the parsed head out of the stream's buffer (rebasing its slices),
 * then consume it: into the request block, or when bigger than that
 * place to c->head, kept until the connection is idle. */
static int keep_head(corio__hconn *c, const char *v) {
    corio__http_request *h = &c->req.h;
    size_t n = h->head_len;
    char *dst = c->headbuf;
    if (n + 1 > CORIO__HS_HEAD_CAP) {
        if (n + 1 > c->head_cap) {
            char *p = realloc(c->head, n + 1);
            if (!p)
                return -ENOMEM;
            c->head = p;
            c->head_cap = n + 1;
        }
        dst = c->head;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
    ptrdiff_t d = dst - v;
    h->method_str += d;
    h->target += d;
    if (h->host)
        h->host += d;
    for (size_t i = 0; i < h->num_headers; i++) {
        h->headers[i].name += d;
        h->headers[i].value += d;
    }
    /* NUL-terminate the method and the target in the copy (each is
     * followed by a space there). */
    dst[h->method_str - dst + (ptrdiff_t)h->method_len] = 0;
    dst[h->target - dst + (ptrdiff_t)h->target_len] = 0;
    return corio_stream_consume(c->st, n);
}

/* Read and parse one head. Returns 1 (c->req.h filled), 0 to close
 * silently (clean end, idle timeout, a reset, the server stopping), or a
 * status to refuse with (400, 408, 414, 431, ...). */
static int read_head(corio__hconn *c) {
    corio_http_server *s = c->srv;
    double head_dl = c->nreq == 0 ? c->tk->accepted_at + s->head_t : 0;
    const void *v = NULL;
    size_t have = corio_stream_buffered(c->st);
    for (;;) {
        if (have > 0) {
            if (corio__hs_work_take(c) < 0)
                return 503;
            corio_stream_peek(c->st, 0, &v, 0);
            int r = corio__http_request_parse(&c->p, v, have, &c->req.h);
            if (r == CORIO__HTTP_DONE)
                return keep_head(c, v) < 0 ? 503 : 1;
            if (r < 0)
                return -r;
            if (head_dl == 0)
                head_dl = corio__hs_now() + s->head_t; /* from the first byte */
        }
        if (have >= s->in_max)
            return 431; /* the parser's limits should have caught it first */
        bool idle = have == 0 && c->nreq > 0;
        if (atomic_load_explicit(&s->draining, memory_order_relaxed) && idle)
            return 0;
        if (have == 0) {
            /* Nothing of a next head yet (the last answer is flushed):
             * the connection needs no request block and, on the multishot
             * path, no read or write buffer while it waits. */
            corio__hs_work_give(c);
            corio__stream_trim(c->st);
        }
        corio_scope sc;
        corio__wd_arm(c, &sc, idle ? corio__hs_now() + s->idle_t : head_dl,
                      idle ? CORIO__WD_IDLE : CORIO__WD_HEAD);
        c->idle = idle;
        ssize_t n = corio_stream_peek(c->st, have + 1, &v, CORIO_FOREVER);
        c->idle = false;
        n = corio__wd_disarm(c, &sc, n);
        if (n == -ETIMEDOUT) {
            atomic_fetch_add_explicit(&s->timeouts, 1, memory_order_relaxed);
            /* Idle between requests (or drained): close silently. A head
             * that is late, or a new connection that sent nothing: 408. */
            return c->timed_out == CORIO__WD_IDLE ? 0 : 408;
        }
        if (n < 0 || (size_t)n <= have)
            return 0; /* reset, EOF (mid-head too), or the server stopping */
        have = (size_t)n;
    }
}

/* After the handler: complete the answer, dispose of an unread body.
 * Returns true when the connection may carry another request. */
static bool finish(corio__hconn *c, int hr) {
    corio_http_request *q = &c->req;
    corio_http_response *w = &c->resp;
    if (!w->started) {
        if (hr < 0 || q->body_err) {
            int st = q->body_status ? q->body_status : 500;
            if (hr == -ECANCELED && !q->body_status)
                return false; /* the server is stopping */
            w->close = true;
            w->hlen = 0;
            w->has_cl = false;
            w->hold_len = 0;
            w->written = 0;
            if (corio_http_response_error(w, st) < 0)
                return false;
            if (st == 408)
                atomic_fetch_add_explicit(&c->srv->timeouts, 1, memory_order_relaxed);
        } else if (corio_http_response_end(w) < 0) {
            return false;
        }
    } else if (!w->ended) {
        if (hr < 0 || corio_http_response_end(w) < 0)
            return false; /* cut: the client sees the framing end early */
    }
    if (w->failed)
        return false;
    if (!q->body_done) {
        /* The client waits for 100 Continue before it sends: without it, the
         * body may or may not come, so the connection cannot go on. */
        if (q->expect_continue && !q->continue_sent)
            w->close = true;
        else if (!w->close && corio__hs_body_discard(c, CORIO__HS_DISCARD) < 0)
            w->close = true;
    }
    return !w->close;
}

static void serve_conn(corio__hconn *c) {
    corio_http_server *s = c->srv;
    for (;;) {
        int r = read_head(c);
        if (r == 0)
            return;
        if (r > 1) {
            refuse(c, r);
            return;
        }
        corio__hs_request_setup(c);
        corio__hs_response_setup(c);
        if (c->req.body_status) { /* a bad path, an Expect we do not know */
            refuse(c, c->req.body_status);
            return;
        }
        /* Counted before the handler runs: a client that has the answer
         * (and whoever it tells) finds it counted. */
        atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
        int hr = s->handler(&c->req, &c->resp, s->arg);
        c->nreq++;
        bool again = finish(c, hr);
        /* The answer is in the stream's buffer: the request block is not
         * needed while it leaves. Given back before the flush waits, a
         * loop that answers a batch of connections in one pass reuses one
         * warm block instead of holding one per connection. */
        bool more = again && corio_stream_buffered(c->st) > 0;
        if (!more)
            corio__hs_work_give(c);
        if (!again) {
            if (!c->resp.failed && corio__hs_flush(c) == 0)
                linger(c);
            return;
        }
        /* Pipelined requests already buffered: answer them first, so that
         * their answers leave in one send. */
        if (!more && corio__hs_flush(c) < 0)
            return;
    }
}

/* Over max_conns: 503 with one non-blocking send, then close. Not inlined:
 * its buffers would otherwise sit in corio__hs_serve's frame, on the stack
 * page every waiting connection keeps resident. */
__attribute__((noinline)) static void reject(corio__hconn *c) {
    if (c->srv->tls)
        return;
    char head[256];
    static const char body[] = "503 Service Unavailable\n";
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 503 Service Unavailable\r\n%sDate: %s\r\nContent-Type: text/plain"
                     "\r\nContent-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                     c->srv->server_line, corio__hs_date(), sizeof body - 1, body);
    if (n > 0 && send(c->fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
        atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
        shutdown(c->fd, SHUT_WR);
        char buf[1024];
        corio_recv(c->fd, buf, sizeof buf, 0, 0.2); /* let the answer be read */
    }
}

/* The connection's state is this function's local (struct corio__hconn);
 * everything it holds is let go before it returns. */
int corio__hs_serve(void *arg, corio_value *out) {
    (void)out;
    corio__hs_ticket *tk = arg;
    tk->started = true; /* from here on, fd and the counters are ours */
    corio_http_server *s = tk->srv;
    corio__hconn conn;
    memset(&conn, 0, sizeof conn);
    corio__hconn *c = &conn;
    c->srv = s;
    c->tk = tk;
    c->fd = tk->fd;
    c->loop = corio_loop_id();
    /* The header array comes with the request block (corio__hs_work_take
     * points the parser at it); a placeholder until then, so that the
     * parser's capacity is set once here. */
    corio__http_request_parser_init(&c->p, &s->lim, s->methods, (corio_http_header *)(c + 1),
                                    s->max_headers);
    c->p.hdrs = NULL;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tk->reject) {
        reject(c); /* plain: one send; TLS: just the close (no handshake spent) */
        goto done;
    }
    /* Plain TCP receives through the loop's provided-buffer ring (one
     * multishot recv per connection instead of a recv per request), so
     * that a waiting connection holds no receive buffer of its own. */
    corio_stream_options so = {.read_buffer = 8192, .max_read_buffer = s->in_max,
                               .write_buffer = 16384,
                               .recv_mode = s->tls ? CORIO_STREAM_RECV_AUTO
                                                   : CORIO_STREAM_RECV_MULTISHOT};
    if (s->tls) {
        /* The handshake counts against the first head's deadline. The rest
         * of the server works on the TLS stream unchanged. */
        double left = tk->accepted_at + s->head_t - corio__hs_now();
        int r = corio_tls_accept(s->tls, c->fd, &so, left > 0.001 ? left : 0.001, &c->st);
        if (r < 0) {
            c->st = NULL;
            atomic_fetch_add_explicit(&s->tls_failures, 1, memory_order_relaxed);
            goto done;
        }
    } else if (corio_stream_create(c->fd, &so, &c->st) < 0) {
        goto done;
    }
    corio__hconn **head = &s->watch[c->loop];
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
    serve_conn(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
done:
    /* Closed here, in the coroutine: a multishot recv must be stopped by a
     * coroutine of its loop. */
    if (c->st)
        corio_stream_destroy(c->st);
    else
        close(c->fd);
    corio__hs_uncount(s, tk->reject);
    corio__hs_work_give(c);
    free(c->xfer);
    return 0;
}
