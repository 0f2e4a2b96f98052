/* corio — the HTTP server's response object: status and field lines, the
 * head (Server, Date, the handler's fields, framing, Connection), and the
 * body's framing: a Content-Length the handler set, a Content-Length the
 * server computes for a body ended while still held (up to 4 KiB, as Go
 * does), else chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
 *
 * Every byte goes through the connection's stream: writes that fit its
 * buffer are copied, so the answers to pipelined requests leave in one
 * send (server_conn.c flushes once nothing more is buffered).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../net/stream_internal.h"
#include "server_internal.h"

/* The Date field value of the current second, which *sec receives;
 * formatted at most once a second per thread. One thread-local block: one
 * TLS address lookup per call. */
static const char *date_now(time_t *sec) {
    static _Thread_local struct {
        time_t last;
        char buf[40];
    } d;
    time_t t = time(NULL);
    if (t != d.last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(d.buf, sizeof d.buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        d.last = t;
    }
    *sec = t;
    return d.buf;
}

const char *corio__hs_date(void) {
    time_t t;
    return date_now(&t);
}

/* Write iov in full through the stream, under the write timeout. Returns
 * 0, or a negative code (the answer is then cut: resp.failed). */
int corio__hs_write(corio__hconn *c, const struct iovec *in, int nin) {
    /* Empty pieces (no field lines, no body) are left out: the stream
     * would memcpy from their NULL base. */
    struct iovec iov[8];
    int n = 0;
    size_t total = 0;
    for (int i = 0; i < nin && n < 8; i++)
        if (in[i].iov_len) {
            iov[n++] = in[i];
            total += in[i].iov_len;
        }
    if (n == 0)
        return 0;
    /* Taken whole by the stream's buffer it is a copy: no wait to watch. */
    ssize_t w = corio__stream_write_buffered(c->st, iov, n, total);
    if (w == -EAGAIN) {
        corio_scope sc;
        corio__wd_arm(c, &sc, corio__hs_now() + c->srv->write_t, CORIO__WD_WRITE);
        w = corio_stream_writev(c->st, iov, n, CORIO_FOREVER);
        w = corio__wd_disarm(c, &sc, w);
    }
    if (w >= 0 && (size_t)w == total)
        return 0;
    c->resp.failed = true;
    c->resp.close = true;
    return w < 0 ? (int)w : -EPIPE;
}

int corio__hs_flush(corio__hconn *c) {
    corio_scope sc;
    corio__wd_arm(c, &sc, corio__hs_now() + c->srv->write_t, CORIO__WD_WRITE);
    int r = (int)corio__wd_disarm(c, &sc, corio_stream_flush(c->st, CORIO_FOREVER));
    if (r < 0) {
        c->resp.failed = true;
        c->resp.close = true;
    }
    return r;
}

void corio__hs_response_setup(corio__hconn *c) {
    corio_http_response *w = &c->resp;
    memset(w, 0, sizeof *w);
    w->c = c;
    w->req = &c->req;
    w->status = 200;
    w->close = !c->req.keep_alive;
    w->no_body = c->req.is_head;
    if (c->extra) {
        w->hdrs = c->extra;
        w->hold = c->extra + CORIO__HS_HDR_CAP;
    }
}

static bool no_body_status(int st) { return st < 200 || st == 204 || st == 304; }

int corio_http_response_set_status(corio_http_response *resp, int status) {
    if (!resp || status < 200 || status > 999)
        return -EINVAL;
    if (resp->started)
        return CORIO_EINVALID_STATE;
    resp->status = status;
    return 0;
}

/* The connection's field-line and hold buffers: part of the request block
 * a connection holds while it answers (corio__hs_work_take). */
static int ensure_extra(corio_http_response *w) {
    corio__hconn *c = w->c;
    if (!c->extra && corio__hs_work_take(c) < 0)
        return -ENOMEM;
    w->hdrs = c->extra;
    w->hold = c->extra + CORIO__HS_HDR_CAP;
    return 0;
}

/* The length of the token s, or 0 when s is empty or not a token. */
static size_t token_len(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!corio__http_is_tchar((unsigned char)s[n]))
            return 0;
    return n;
}

/* The length of a field value, or SIZE_MAX when it holds a CR or LF. */
static size_t value_len(const char *v) {
    size_t n = strcspn(v, "\r\n");
    return v[n] ? SIZE_MAX : n;
}

/* The field names the server itself interprets: the length picks the one
 * candidate, so other names cost no comparison. */
enum { F_OTHER, F_TE, F_CL, F_CONNECTION, F_SERVER, F_DATE };
static int field_kind(const char *name, size_t nl) {
    switch (nl) {
    case 17:
        return !strcasecmp(name, "transfer-encoding") ? F_TE : F_OTHER;
    case 14:
        return !strcasecmp(name, "content-length") ? F_CL : F_OTHER;
    case 10:
        return !strcasecmp(name, "connection") ? F_CONNECTION : F_OTHER;
    case 6:
        return !strcasecmp(name, "server") ? F_SERVER : F_OTHER;
    case 4:
        return !strcasecmp(name, "date") ? F_DATE : F_OTHER;
    default:
        return F_OTHER;
    }
}

static bool has_token(const char *v, const char *tok) {
    size_t n = strlen(tok);
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == n && strncasecmp(p, tok, n) == 0)
            return true;
        p = e;
    }
    return false;
}

/* add_header once name (nl bytes, a token, field_kind `kind`) and value
 * (vl bytes, no CR or LF) are checked. */
static int add_checked(corio_http_response *resp, const char *name, size_t nl, int kind,
                       const char *value, size_t vl) {
    if (kind == F_TE)
        return -EINVAL; /* the framing is the server's */
    if (kind == F_CL) {
        uint64_t v = 0;
        const char *p = value;
        if (!*p)
            return -EINVAL;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                return -EINVAL;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        resp->has_cl = true;
        resp->cl = v;
        return 0;
    }
    if (kind == F_CONNECTION) {
        if (has_token(value, "close"))
            resp->close = true;
        return 0; /* the server writes Connection itself */
    }
    if (ensure_extra(resp) < 0)
        return -ENOMEM;
    if (resp->hlen + nl + vl + 4 > CORIO__HS_HDR_CAP)
        return -ENOSPC;
    char *p = resp->hdrs + resp->hlen;
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = ' ';
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    resp->hlen += nl + vl + 4;
    if (kind == F_SERVER)
        resp->own_server = true;
    if (kind == F_DATE)
        resp->own_date = true;
    return 0;
}

/* The checks add_header and set_header share: 0 with the lengths of name
 * and value, -EINVAL, or CORIO_EINVALID_STATE. */
static int check_field(const corio_http_response *resp, const char *name, const char *value,
                       size_t *nl, size_t *vl) {
    if (!resp || !name || !value || (*nl = token_len(name)) == 0 ||
        (*vl = value_len(value)) == SIZE_MAX)
        return -EINVAL;
    return resp->started ? CORIO_EINVALID_STATE : 0;
}

int corio_http_response_add_header(corio_http_response *resp, const char *name,
                                   const char *value) {
    size_t nl, vl;
    int rc = check_field(resp, name, value, &nl, &vl);
    if (rc < 0)
        return rc;
    return add_checked(resp, name, nl, field_kind(name, nl), value, vl);
}

int corio_http_response_set_header(corio_http_response *resp, const char *name,
                                   const char *value) {
    size_t nl, vl;
    int rc = check_field(resp, name, value, &nl, &vl);
    if (rc < 0)
        return rc;
    size_t i = 0;
    while (i < resp->hlen) {
        char *line = resp->hdrs + i;
        char *end = memchr(line, '\n', resp->hlen - i);
        size_t ll = (size_t)(end - line) + 1;
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            memmove(line, line + ll, resp->hlen - i - ll);
            resp->hlen -= ll;
        } else {
            i += ll;
        }
    }
    int kind = field_kind(name, nl);
    if (kind == F_CL)
        resp->has_cl = false;
    return add_checked(resp, name, nl, kind, value, vl);
}

/* Append the string z at out[n]; returns the new length. The callers'
 * buffers are sized for every value they append. */
static size_t put(char *out, size_t n, const char *z) {
    size_t k = strlen(z);
    memcpy(out + n, z, k);
    return n + k;
}

static size_t put_u64(char *out, size_t n, uint64_t v) {
    char tmp[24];
    int k = 0;
    do
        tmp[k++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (k > 0)
        out[n++] = tmp[--k];
    return n;
}

/* Send the head. `final`: the handler ended without sending the head, so
 * the held bytes are the whole body (their length is the Content-Length). */
static int send_head(corio_http_response *w, bool final, const void *body, size_t blen) {
    corio__hconn *c = w->c;
    corio_http_request *q = w->req;
    corio_http_server *s = c->srv;
    char pre[CORIO__HS_PRE_CAP], post[160];
    bool nobody_st = no_body_status(w->status);
    if (nobody_st || q->is_head)
        w->no_body = true;
    /* The client sent Expect: 100-continue and we did not ask for the
     * body: it may come or not, so this is the last answer. */
    if (q->expect_continue && !q->continue_sent && !q->body_done)
        w->close = true;
    if (atomic_load_explicit(&s->draining, memory_order_relaxed))
        w->close = true;
    /* Assembled with memcpy: snprintf was a visible share of a small
     * answer's CPU time. */
    size_t pn, tn = 0;
    /* The loop's cached start of a head, when this is the connection's
     * loop and the answer carries the server's own Server and Date. */
    corio__hs_pre *pc = NULL;
    time_t now = 0;
    if (!w->own_server && !w->own_date && corio_loop_id() == c->loop) {
        pc = &s->pre[c->loop];
        date_now(&now);
        if (pc->status == w->status && pc->t == now) {
            pn = pc->len;
            memcpy(pre, pc->buf, pn);
            goto framing;
        }
    }
    pn = put(pre, 0, "HTTP/1.1 ");
    pn = put_u64(pre, pn, (uint64_t)w->status);
    pre[pn++] = ' ';
    pn = put(pre, pn, corio_http_status_reason(w->status));
    pn = put(pre, pn, "\r\n");
    if (!w->own_server)
        pn = put(pre, pn, s->server_line);
    if (!w->own_date) {
        pn = put(pre, pn, "Date: ");
        pn = put(pre, pn, date_now(&now));
        pn = put(pre, pn, "\r\n");
    }
    if (pc) {
        memcpy(pc->buf, pre, pn);
        pc->len = pn;
        pc->status = w->status;
        pc->t = now;
    }
framing:
    if (w->status == 204 || w->status < 200) {
        /* no framing at all (RFC 9110 8.6) */
    } else if (w->has_cl || (final && w->status != 304)) {
        tn = put(post, tn, "Content-Length: ");
        tn = put_u64(post, tn, w->has_cl ? w->cl : w->written);
        tn = put(post, tn, "\r\n");
    } else if (final || w->no_body) {
        /* 304, or HEAD of a body of unknown length: no framing field */
    } else if (q->h.version_minor >= 1) {
        w->chunked = true;
        tn = put(post, tn, "Transfer-Encoding: chunked\r\n");
    } else {
        w->close = true; /* close-delimited */
    }
    tn = put(post, tn, w->close                  ? "Connection: close\r\n\r\n"
                       : q->h.version_minor == 0 ? "Connection: keep-alive\r\n\r\n"
                                                 : "\r\n");
    struct iovec iov[4] = {{pre, pn},
                           {w->hdrs, w->hlen},
                           {post, tn},
                           {(void *)body, w->no_body ? 0 : blen}};
    w->started = true;
    return corio__hs_write(c, iov, 4);
}

/* The head alone, for a body the caller sends itself (send_file). */
int corio__hs_head_only(corio_http_response *w) { return send_head(w, false, NULL, 0); }

/* One chunk: size line, data, CRLF. */
static int write_chunk(corio__hconn *c, const void *buf, size_t len) {
    if (len == 0)
        return 0;
    char line[24];
    int n = snprintf(line, sizeof line, "%zx\r\n", len);
    struct iovec iov[3] = {{line, (size_t)n}, {(void *)buf, len}, {"\r\n", 2}};
    return corio__hs_write(c, iov, 3);
}

/* Body bytes after the head, in the answer's framing (none for HEAD). */
static int body_out(corio_http_response *w, const void *buf, size_t len) {
    if (w->no_body || len == 0)
        return 0;
    if (w->chunked)
        return write_chunk(w->c, buf, len);
    return corio__hs_write(w->c, &(struct iovec){(void *)buf, len}, 1);
}

ssize_t corio_http_response_write(corio_http_response *w, const void *buf, size_t len) {
    if (!w)
        return -EINVAL;
    if (!buf && len > 0)
        return -EFAULT;
    if (w->ended || w->failed)
        return CORIO_EINVALID_STATE;
    if (len == 0)
        return 0;
    if (w->has_cl && len > w->cl - w->written)
        return -EINVAL;
    int r = 0;
    if (w->started) {
        r = body_out(w, buf, len);
    } else if (w->has_cl || no_body_status(w->status)) {
        r = send_head(w, false, buf, len);
    } else if (w->hold_len + len <= CORIO__HS_HOLD_CAP && ensure_extra(w) == 0) {
        memcpy(w->hold + w->hold_len, buf, len);
        w->hold_len += len;
    } else {
        /* Too much to hold: the framing is chunked (or close-delimited). */
        if ((r = send_head(w, false, NULL, 0)) == 0)
            r = body_out(w, w->hold, w->hold_len);
        w->hold_len = 0;
        if (r == 0)
            r = body_out(w, buf, len);
    }
    w->written += len;
    return r < 0 ? r : (ssize_t)len;
}

int corio_http_response_end(corio_http_response *w) {
    if (!w)
        return -EINVAL;
    if (w->ended)
        return w->failed ? -EPIPE : 0;
    int r = 0;
    if (!w->started) {
        r = send_head(w, !w->has_cl, w->hold, w->hold_len);
        w->hold_len = 0;
    } else if (w->chunked && !w->no_body && !w->failed) {
        r = corio__hs_write(w->c, &(struct iovec){"0\r\n\r\n", 5}, 1);
    }
    w->ended = true;
    if (r == 0 && w->has_cl && w->written < w->cl && !w->no_body) {
        w->close = true;
        w->failed = true;
        r = -EPROTO;
    }
    return r;
}

int corio_http_response_write_all(corio_http_response *w, const void *buf, size_t len) {
    if (!w)
        return -EINVAL;
    if (!buf && len > 0)
        return -EFAULT;
    if (w->ended)
        return CORIO_EINVALID_STATE;
    if (!w->started && !w->has_cl) {
        w->has_cl = true;
        w->cl = w->written + len;
    }
    if (!w->started && w->hold_len == 0) {
        /* The common case: head and body in one write. */
        int r = send_head(w, false, buf, len);
        w->written += len;
        w->ended = true;
        return r;
    }
    ssize_t n = corio_http_response_write(w, buf, len);
    if (n < 0)
        return (int)n;
    return corio_http_response_end(w);
}

int corio_http_response_error(corio_http_response *w, int status) {
    if (!w || status < 200 || status > 999)
        return -EINVAL;
    if (w->started)
        return CORIO_EINVALID_STATE;
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, corio_http_status_reason(status));
    w->status = status;
    int r = corio_http_response_set_header(w, "Content-Type", "text/plain; charset=utf-8");
    if (r == 0 && status == 405)
        r = corio_http_response_set_header(w, "Allow", "GET, HEAD");
    if (r < 0)
        return r;
    return corio_http_response_write_all(w, body, (size_t)n);
}

bool corio_http_response_started(const corio_http_response *w) { return w && w->started; }
