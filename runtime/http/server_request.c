/* corio — the HTTP server's request object: what the head says (method,
 * target, normalised path, query, fields, version, peer) and the body
 * reader, which decodes Content-Length and chunked bodies straight out of
 * the connection's stream buffer, sends "100 Continue" on the first read
 * when asked to, and holds the body to its deadline (body_timeout).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "server_internal.h"

/* Fill c->req from the head just parsed (c->req.h). A path the parser
 * refuses, or an Expect other than 100-continue, sets body_status to the
 * status to refuse the request with. */
void corio__hs_request_setup(corio__hconn *c) {
    corio_http_server *s = c->srv;
    corio_http_request *q = &c->req;
    corio__http_request h = q->h;
    memset(q, 0, sizeof *q);
    q->h = h;
    q->c = c;
    q->is_head = h.method == CORIO_HTTP_HEAD;
    q->keep_alive = h.keep_alive && !atomic_load_explicit(&s->draining, memory_order_relaxed);
    q->path = c->pathbuf;
    q->path[0] = '/';
    int n = corio__http_path_normalize(h.target, h.target_len, q->path + 1, s->path_cap - 1);
    if (n < 0) {
        q->body_status = -n;
        q->path[1] = 0;
        q->path_len = 1;
    } else if (n == 1 && q->path[1] == '.') {
        q->path[1] = 0;
        q->path_len = 1;
    } else {
        q->path_len = (size_t)n + 1;
    }
    const char *qm = memchr(h.target, '?', h.target_len);
    if (qm) {
        const char *end = h.target + h.target_len;
        const char *hash = memchr(qm, '#', (size_t)(end - qm));
        size_t ql = (size_t)((hash ? hash : end) - qm - 1);
        q->query = c->pathbuf + s->path_cap;
        memcpy(q->query, qm + 1, ql);
        q->query[ql] = 0;
        q->query_len = ql;
    }
    size_t elen;
    const char *ex = corio_http_request_header(q, "expect", &elen);
    if (ex && h.version_minor >= 1) {
        if (corio__http_ieq(ex, elen, "100-continue"))
            q->expect_continue = true;
        else
            q->body_status = 417;
    }
    if (h.body == CORIO__HTTP_BODY_NONE) {
        q->body_done = true;
    } else {
        corio__http_body_init(&q->body, h.body, h.content_length, &s->lim, false);
        q->body_deadline = corio__hs_now() + s->body_t;
    }
}

corio_http_method corio_http_request_method(const corio_http_request *req) {
    return req ? req->h.method : 0;
}

const char *corio_http_request_method_str(const corio_http_request *req, size_t *len) {
    if (!req)
        return NULL;
    if (len)
        *len = req->h.method_len;
    return req->h.method_str;
}

const char *corio_http_request_target(const corio_http_request *req, size_t *len) {
    if (!req)
        return NULL;
    if (len)
        *len = req->h.target_len;
    return req->h.target;
}

const char *corio_http_request_path(const corio_http_request *req, size_t *len) {
    if (!req)
        return NULL;
    if (len)
        *len = req->path_len;
    return req->path;
}

const char *corio_http_request_query(const corio_http_request *req, size_t *len) {
    if (!req || !req->query)
        return NULL;
    if (len)
        *len = req->query_len;
    return req->query;
}

/* Decode a form-urlencoded component into out (NULL: only check and
 * measure). Returns the decoded length or -EILSEQ. */
static ssize_t form_decode(const char *p, size_t n, char *out, size_t cap, bool *trunc) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return -EILSEQ;
            int a = corio__http_hexval((unsigned char)p[i + 1]);
            int b = corio__http_hexval((unsigned char)p[i + 2]);
            if (a < 0 || b < 0)
                return -EILSEQ;
            ch = (char)(a * 16 + b);
            i += 2;
        }
        if (out) {
            if (k + 1 < cap)
                out[k] = ch;
            else
                *trunc = true;
        }
        k++;
    }
    return (ssize_t)k;
}

ssize_t corio_http_request_query_param(const corio_http_request *req, const char *name,
                                       char *buf, size_t cap) {
    if (!req || !name || !buf || cap == 0)
        return -EINVAL;
    buf[0] = 0;
    if (!req->query)
        return -ENOENT;
    size_t nlen = strlen(name);
    const char *p = req->query, *end = req->query + req->query_len;
    char key[256];
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        bool trunc = false;
        ssize_t kl = (size_t)(ke - p) < sizeof key * 3
                         ? form_decode(p, (size_t)(ke - p), key, sizeof key, &trunc)
                         : -EILSEQ;
        if (kl >= 0 && !trunc && (size_t)kl == nlen && !memcmp(key, name, nlen)) {
            const char *v = eq ? eq + 1 : pe;
            trunc = false;
            ssize_t vl = form_decode(v, (size_t)(pe - v), buf, cap, &trunc);
            if (vl < 0) {
                buf[0] = 0;
                return vl;
            }
            size_t z = (size_t)vl < cap ? (size_t)vl : cap - 1;
            buf[z] = 0;
            return trunc ? -ENOSPC : vl;
        }
        p = pe + (amp ? 1 : 0);
    }
    return -ENOENT;
}

const char *corio_http_request_header(const corio_http_request *req, const char *name,
                                      size_t *len) {
    if (!req || !name)
        return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->h.num_headers; i++) {
        const corio_http_header *f = &req->h.headers[i];
        if (f->name_len == nl && strncasecmp(f->name, name, nl) == 0) {
            if (len)
                *len = f->value_len;
            return f->value;
        }
    }
    return NULL;
}

size_t corio_http_request_header_count(const corio_http_request *req) {
    return req ? req->h.num_headers : 0;
}

int corio_http_request_header_at(const corio_http_request *req, size_t i, corio_http_header *out) {
    if (!req || !out)
        return -EINVAL;
    if (i >= req->h.num_headers)
        return -ERANGE;
    *out = req->h.headers[i];
    return 0;
}

int corio_http_request_version(const corio_http_request *req) {
    return req ? (req->h.version_minor >= 1 ? 1 : 0) : -EINVAL;
}

bool corio_http_request_keep_alive(const corio_http_request *req) {
    return req && req->keep_alive && !req->c->resp.close;
}

int corio_http_request_peer(const corio_http_request *req, struct sockaddr *addr,
                            socklen_t *addrlen) {
    if (!req || !addr || !addrlen)
        return -EINVAL;
    const corio__hs_ticket *tk = req->c->tk;
    socklen_t n = tk->peerlen < *addrlen ? tk->peerlen : *addrlen;
    memcpy(addr, tk->peer, n);
    *addrlen = tk->peerlen;
    return 0;
}

int64_t corio_http_request_content_length(const corio_http_request *req) {
    if (!req)
        return -EINVAL;
    if (req->h.body == CORIO__HTTP_BODY_CHUNKED)
        return -1;
    return req->h.body == CORIO__HTTP_BODY_LENGTH ? (int64_t)req->h.content_length : 0;
}

/* Record a body failure: the error to return from now on, and the answer
 * it calls for if the handler has not started one. */
static ssize_t body_fail(corio_http_request *q, ssize_t err) {
    q->body_err = (int)err;
    q->body_status = err == -EMSGSIZE ? 413 : err == -ETIMEDOUT ? 408 : err == -EPROTO ? 400 : 0;
    q->c->resp.close = true; /* the framing is lost: this answer is the last */
    return err;
}

/* Decode body bytes into buf (NULL: discard up to len). */
static ssize_t body_read(corio_http_request *q, void *buf, size_t len, double timeout) {
    corio__hconn *c = q->c;
    if (q->body_err)
        return q->body_err;
    if (q->body_done || len == 0)
        return 0;
    if (q->expect_continue && !q->continue_sent && !c->resp.started) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct iovec iov = {(void *)cont, sizeof cont - 1};
        q->continue_sent = true;
        int r = corio__hs_write(c, &iov, 1);
        if (r == 0)
            r = corio__hs_flush(c);
        if (r < 0)
            return body_fail(q, r);
    }
    for (;;) {
        const void *v = NULL;
        ssize_t have = corio_stream_peek(c->st, 0, &v, 0);
        if (have > 0) {
            size_t used = 0, got = 0;
            int r = corio__http_body_decode(&q->body, v, (size_t)have, &used, buf, len, &got);
            if (r < 0)
                return body_fail(q, r == -413 ? -EMSGSIZE : -EPROTO);
            corio_stream_consume(c->st, used);
            if (r == CORIO__HTTP_DONE)
                q->body_done = true;
            if (got > 0 || q->body_done)
                return (ssize_t)got;
        }
        /* Nothing decoded from what is buffered: wait for more, until the
         * body deadline (the watchdog's) or the caller's own timeout. */
        corio_scope sc;
        corio__wd_arm(c, &sc, q->body_deadline, CORIO__WD_BODY);
        ssize_t n = corio_stream_peek(c->st, (size_t)have + 1, &v,
                                      timeout < 0 ? CORIO_FOREVER : timeout);
        n = corio__wd_disarm(c, &sc, n);
        if (n < 0) {
            if (n == -ETIMEDOUT && !c->timed_out)
                return -ETIMEDOUT; /* the caller's timeout: retry allowed */
            return body_fail(q, n == -ETIMEDOUT    ? -ETIMEDOUT
                                : n == -ECANCELED ? -ECANCELED
                                                  : CORIO_EUNEXPECTED_EOF);
        }
        if ((size_t)n <= (size_t)have)
            return body_fail(q, CORIO_EUNEXPECTED_EOF); /* closed mid-body */
    }
}

ssize_t corio_http_request_read(corio_http_request *req, void *buf, size_t len, double timeout) {
    if (!req || timeout != timeout)
        return -EINVAL;
    if (!buf && len > 0)
        return -EFAULT;
    return body_read(req, buf, len, timeout);
}

ssize_t corio_http_request_read_all(corio_http_request *req, void *buf, size_t cap,
                                    double timeout) {
    if (!req || timeout != timeout)
        return -EINVAL;
    if (!buf && cap > 0)
        return -EFAULT;
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            if (req->body_done)
                return (ssize_t)got;
            char probe;
            ssize_t n = body_read(req, &probe, 1, timeout);
            if (n == 0)
                return (ssize_t)got;
            if (n < 0)
                return n;
            return -EMSGSIZE; /* one byte more than fits: consumed, lost */
        }
        ssize_t n = body_read(req, (char *)buf + got, cap - got, timeout);
        if (n < 0)
            return n;
        if (n == 0)
            return (ssize_t)got;
        got += (size_t)n;
    }
}

/* After the handler: read and drop up to max more body bytes. Returns 0
 * when the body ended, or < 0 (too long, an error): close. */
int corio__hs_body_discard(corio__hconn *c, size_t max) {
    corio_http_request *q = &c->req;
    char buf[2048];
    size_t total = 0;
    while (!q->body_done) {
        if (q->h.body == CORIO__HTTP_BODY_LENGTH && q->body.remaining > max - total)
            return -EMSGSIZE; /* known to be too long: do not wait for it */
        ssize_t n = body_read(q, buf, sizeof buf, CORIO_FOREVER);
        if (n < 0)
            return (int)n;
        total += (size_t)n;
        if (total > max)
            return -EMSGSIZE;
    }
    return 0;
}
