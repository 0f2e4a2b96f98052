/* corio — HTTP client: one request, its response head, retries, redirects.
 *
 * corio_http_client_send runs, per hop of a redirect chain, one exchange:
 *
 *   take a connection (pool) ─▶ write head and body, flush ─▶ read the
 *   response head through corio_stream_peek, feeding the parser only the
 *   new bytes each time ─▶ copy the head out of the stream's buffer (its
 *   views die at the next read) and consume it ─▶ a response object.
 *
 * Stale connections. A server may close an idle keep-alive connection at
 * any time; the pool's peek catches the ones already closed, and the rest
 * show as a failed write, or an end of stream or reset before the first
 * response byte. Only then, only on a pooled connection and only for an
 * idempotent method (RFC 9110 section 9.2.2), the request is sent once more
 * on a new connection, as Go's Transport does.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "client_internal.h"
#include "corio/error.h"
#include "internal.h"

/* Redirect bodies of at most this many bytes are read and dropped so the
 * connection can be reused; longer ones close it. */
#define DRAIN_MAX (64u * 1024u)

int corio__http_client_parse_error(int st) {
    switch (st) {
    case -431:
        return CORIO_EHTTP_HEAD_TOO_LARGE;
    case -501:
    case -505:
        return CORIO_EHTTP_UNSUPPORTED;
    default:
        return CORIO_EHTTP_PROTOCOL;
    }
}

/* RFC 9110 tchar. */
static bool tchar(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_token(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool name_is(const corio_http_header *h, const char *name) {
    return h->name_len == strlen(name) && !strncasecmp(h->name, name, h->name_len);
}

/* The parser's method bit for a token (what decides whether a body
 * follows): GET for tokens it does not know, which frame like GET. */
static corio_http_method method_bit(const char *m) {
    static const struct {
        const char *name;
        corio_http_method bit;
    } tab[] = {{"GET", CORIO_HTTP_GET},         {"HEAD", CORIO_HTTP_HEAD},
               {"POST", CORIO_HTTP_POST},       {"PUT", CORIO_HTTP_PUT},
               {"DELETE", CORIO_HTTP_DELETE},   {"CONNECT", CORIO_HTTP_CONNECT},
               {"OPTIONS", CORIO_HTTP_OPTIONS}, {"TRACE", CORIO_HTTP_TRACE},
               {"PATCH", CORIO_HTTP_PATCH}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(m, tab[i].name))
            return tab[i].bit;
    return CORIO_HTTP_GET;
}

static bool idempotent(const char *m) {
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
           !strcmp(m, "TRACE") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

/* What one hop sends. */
typedef struct hop {
    const char *method;              /* method token */
    const corio__http_url *url;      /* where */
    const corio_http_header *hdrs;   /* caller's extra fields */
    size_t nhdrs;                    /* entries in hdrs */
    bool drop_credentials;           /* skip Authorization, Cookie,
                                      * Proxy-Authorization (cross-origin) */
    const void *body;                /* request body or NULL */
    size_t body_len;                 /* its length */
} hop;

static bool credential(const corio_http_header *h) {
    return name_is(h, "Authorization") || name_is(h, "Cookie") ||
           name_is(h, "Proxy-Authorization");
}

/* Check the caller's fields: -EINVAL for a bad name or value, or a framing
 * field that is the client's to set. */
static int check_headers(const corio_http_header *h, size_t n) {
    if (n > 0 && !h)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!h[i].name || !is_token(h[i].name, h[i].name_len) ||
            (h[i].value_len > 0 && !h[i].value))
            return -EINVAL;
        for (size_t k = 0; k < h[i].value_len; k++) {
            unsigned char ch = (unsigned char)h[i].value[k];
            if (ch == '\r' || ch == '\n' || ch == '\0')
                return -EINVAL;
        }
        if (name_is(&h[i], "Content-Length") || name_is(&h[i], "Transfer-Encoding") ||
            name_is(&h[i], "Connection"))
            return -EINVAL;
    }
    return 0;
}

/* The request head, malloc'd, into *out / *len. */
static int build_head(const corio_http_client *c, const hop *h, char **out, size_t *len) {
    bool has_host = false, has_ua = false;
    size_t need = strlen(h->method) + strlen(h->url->target) + strlen(h->url->host) + 128;
    for (size_t i = 0; i < h->nhdrs; i++) {
        need += h->hdrs[i].name_len + h->hdrs[i].value_len + 4;
        has_host |= name_is(&h->hdrs[i], "Host");
        has_ua |= name_is(&h->hdrs[i], "User-Agent");
    }
    if (c->user_agent)
        need += strlen(c->user_agent);
    char *b = malloc(need);
    if (!b)
        return -ENOMEM;
    const corio__http_url *u = h->url;
    size_t n = (size_t)snprintf(b, need, "%s %s HTTP/1.1\r\n", h->method, u->target);
    if (!has_host)
        n += (size_t)snprintf(b + n, need - n, "Host: %s%s%s%s%s\r\n", u->ipv6 ? "[" : "",
                              u->host, u->ipv6 ? "]" : "", u->default_port ? "" : ":",
                              u->default_port ? "" : u->port);
    if (!has_ua && c->user_agent)
        n += (size_t)snprintf(b + n, need - n, "User-Agent: %s\r\n", c->user_agent);
    bool wants_cl = !strcmp(h->method, "POST") || !strcmp(h->method, "PUT") ||
                    !strcmp(h->method, "PATCH");
    if (h->body_len > 0 || wants_cl)
        n += (size_t)snprintf(b + n, need - n, "Content-Length: %zu\r\n", h->body_len);
    for (size_t i = 0; i < h->nhdrs; i++) {
        const corio_http_header *f = &h->hdrs[i];
        if (h->drop_credentials && credential(f))
            continue;
        memcpy(b + n, f->name, f->name_len);
        n += f->name_len;
        b[n++] = ':';
        b[n++] = ' ';
        if (f->value_len)
            memcpy(b + n, f->value, f->value_len);
        n += f->value_len;
        b[n++] = '\r';
        b[n++] = '\n';
    }
    b[n++] = '\r';
    b[n++] = '\n';
    *out = b;
    *len = n;
    return 0;
}

/* Copy the parsed head `r` into the response: reason, names and values,
 * each NUL-terminated, in one allocation; `hdrs` becomes resp->headers. */
static int keep_head(corio_http_client_response *resp, const corio__http_response *r,
                     corio_http_header *hdrs) {
    size_t need = r->reason_len + 1;
    for (size_t i = 0; i < r->num_headers; i++)
        need += hdrs[i].name_len + hdrs[i].value_len + 2;
    char *s = malloc(need);
    if (!s)
        return -ENOMEM;
    size_t k = 0;
    memcpy(s, r->reason, r->reason_len);
    s[r->reason_len] = '\0';
    resp->reason = s;
    k = r->reason_len + 1;
    for (size_t i = 0; i < r->num_headers; i++) {
        memcpy(s + k, hdrs[i].name, hdrs[i].name_len);
        s[k + hdrs[i].name_len] = '\0';
        hdrs[i].name = s + k;
        k += hdrs[i].name_len + 1;
        if (hdrs[i].value_len)
            memcpy(s + k, hdrs[i].value, hdrs[i].value_len);
        s[k + hdrs[i].value_len] = '\0';
        hdrs[i].value = s + k;
        k += hdrs[i].value_len + 1;
    }
    resp->strings = s;
    resp->headers = hdrs;
    resp->nheaders = r->num_headers;
    resp->status = r->status;
    return 0;
}

/* Read the response head from `s` into resp, skipping 1xx heads. *nothing
 * is set when the stream ended or was reset before its first byte. */
static int read_head(const corio_http_client *c, corio_stream *s, corio_http_method mbit,
                     int64_t deadline, corio_http_client_response *resp, bool *nothing) {
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_header_bytes = c->max_head;
    lim.max_headers = CORIO__HTTP_CLIENT_MAX_FIELDS;
    lim.max_body = UINT64_MAX;
    corio_http_header *hdrs = malloc(CORIO__HTTP_CLIENT_MAX_FIELDS * sizeof *hdrs);
    if (!hdrs)
        return -ENOMEM;
    corio__http_parser p;
    corio__http_response_parser_init(&p, &lim, hdrs, CORIO__HTTP_CLIENT_MAX_FIELDS);
    corio__http_response r;
    size_t cap = c->max_head + 16384; /* the stream's max_read_buffer */
    size_t have = 0;
    bool any = false;
    int rc;
    *nothing = false;
    for (;;) {
        const void *v;
        if (have + 1 > cap) {
            rc = CORIO_EHTTP_HEAD_TOO_LARGE;
            goto fail;
        }
        ssize_t n = corio_stream_peek(s, have + 1, &v, corio__http_left(deadline));
        if (n < 0) {
            *nothing = !any && (n == -ECONNRESET || n == -EPIPE);
            rc = (int)n;
            goto fail;
        }
        if ((size_t)n <= have) { /* the end of the stream */
            *nothing = !any;
            rc = CORIO_EUNEXPECTED_EOF;
            goto fail;
        }
        any = true;
        have = (size_t)n;
        int pr = corio__http_response_parse(&p, v, have, mbit, &r);
        if (pr == CORIO__HTTP_NEED_MORE)
            continue;
        if (pr < 0) {
            rc = corio__http_client_parse_error(pr);
            goto fail;
        }
        if (r.status == 101) { /* a protocol switch nobody asked for */
            rc = CORIO_EHTTP_UNSUPPORTED;
            goto fail;
        }
        if (r.status < 200) { /* interim: drop it, parse the next head */
            corio_stream_consume(s, r.head_len);
            corio__http_parser_reset(&p);
            have = 0;
            continue;
        }
        break;
    }
    if ((rc = keep_head(resp, &r, hdrs)) < 0)
        goto fail;
    corio_stream_consume(s, r.head_len);
    resp->kind = (uint8_t)r.body;
    resp->content_length = r.body == CORIO__HTTP_BODY_LENGTH ? (int64_t)r.content_length
                           : r.body == CORIO__HTTP_BODY_NONE ? 0
                                                             : -1;
    if (r.body == CORIO__HTTP_BODY_LENGTH && r.content_length > INT64_MAX) {
        rc = CORIO_EHTTP_PROTOCOL;
        goto fail_kept;
    }
    corio__http_body_init(&resp->body, r.body, r.content_length, &lim, true);
    resp->keep_alive = r.keep_alive && r.body != CORIO__HTTP_BODY_CLOSE;
    resp->done = r.body == CORIO__HTTP_BODY_NONE ||
                 (r.body == CORIO__HTTP_BODY_LENGTH && r.content_length == 0);
    return 0;
fail_kept:
    return rc; /* headers now belong to resp, freed with it */
fail:
    free(hdrs);
    return rc;
}

/* Write the request of `h` on `s`: head, body, flush. */
static int write_request(const corio_http_client *c, corio_stream *s, const hop *h,
                         int64_t deadline) {
    char *head;
    size_t hl;
    int rc = build_head(c, h, &head, &hl);
    if (rc < 0)
        return rc;
    struct iovec iov[2] = {{head, hl}, {(void *)h->body, h->body_len}};
    ssize_t w = corio_stream_writev(s, iov, h->body_len ? 2 : 1, corio__http_left(deadline));
    free(head);
    if (w >= 0 && (size_t)w < hl + h->body_len)
        return -EPIPE; /* cut short: the connection is unusable */
    if (w < 0)
        return (int)w;
    int rc2 = corio_stream_flush(s, corio__http_left(deadline));
    if (rc2 == 0) {
        /* Acknowledge the response at once. A keep-alive client that sends
         * a request after each response looks interactive to Linux, which
         * then delays its ACKs (up to 40 ms) to piggyback them on the next
         * request; a server whose response outgrows its send buffer waits
         * for those ACKs, so a 64 KiB response could stall for 40 ms.
         * TCP_QUICKACK is not sticky (the next send re-arms delayed ACKs),
         * hence once per request. Errors are ignored (not TCP). */
        int one = 1;
        (void)setsockopt(corio_stream_fd(s), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    return rc2;
}

/* One exchange; on success *out holds the response with its connection. */
static int exchange(corio_http_client *c, const hop *h, int64_t deadline,
                    corio_http_client_response **out) {
    corio_http_client_response *resp = calloc(1, sizeof *resp);
    if (!resp)
        return -ENOMEM;
    resp->client = c;
    resp->deadline = deadline;
    if (!(resp->url = corio__http_url_format(h->url))) {
        free(resp);
        return -ENOMEM;
    }
    corio__http_conn *conn = NULL;
    bool reused = false;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt == 0) {
            rc = corio__http_pool_get(c, h->url, deadline, &conn, &reused);
            if (rc < 0)
                break;
        } else {
            atomic_fetch_add(&c->n_retries, 1);
            reused = false;
            if ((rc = corio__http_pool_redial(c, conn, h->url, deadline)) < 0)
                break;
        }
        atomic_fetch_add(&c->n_requests, 1);
        if (reused)
            atomic_fetch_add(&c->n_reuses, 1);
        bool retryable = reused && idempotent(h->method);
        rc = write_request(c, conn->s, h, deadline);
        if (rc < 0) {
            if (retryable && rc != -ETIMEDOUT && rc != -ECANCELED && rc != -ENOMEM)
                continue;
            break;
        }
        int64_t head_deadline = corio__http_min_deadline(deadline, c->first_byte_timeout);
        bool nothing = false;
        rc = read_head(c, conn->s, method_bit(h->method), head_deadline, resp, &nothing);
        if (rc < 0 && nothing && retryable)
            continue;
        break;
    }
    if (rc < 0) {
        if (conn)
            corio__http_pool_put(c, conn, false);
        free(resp->headers);
        free(resp->strings);
        free(resp->url);
        free(resp);
        return rc;
    }
    resp->conn = conn;
    atomic_fetch_add(&c->live, 1);
    *out = resp;
    return 0;
}

/* Read and drop a short redirect body so its connection can be reused. */
static void drain(corio_http_client_response *r) {
    if (r->done || r->kind == CORIO__HTTP_BODY_CLOSE || r->content_length > (int64_t)DRAIN_MAX)
        return;
    char buf[2048];
    size_t total = 0;
    ssize_t n;
    while (total <= DRAIN_MAX &&
           (n = corio_http_client_response_read(r, buf, sizeof buf, 1.0)) > 0)
        total += (size_t)n;
}

static bool is_redirect(int st) {
    return st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
}

CORIO_API int corio_http_client_send(corio_http_client *c, const corio_http_client_request *req,
                                     corio_http_client_response **out) {
    if (out)
        *out = NULL;
    if (!c || !req || !out || !req->url || isnan(req->timeout))
        return -EINVAL;
    const char *method = req->method ? req->method : "GET";
    if (!is_token(method, strlen(method)) || (req->body_len > 0 && !req->body))
        return -EINVAL;
    int rc = check_headers(req->headers, req->num_headers);
    if (rc < 0)
        return rc;
    corio__http_url url;
    if ((rc = corio__http_url_parse(req->url, &url)) < 0)
        return rc;
    double t = req->timeout == 0 ? c->timeout : req->timeout;
    int64_t deadline = corio__deadline(t < 0 ? CORIO_FOREVER : t);
    atomic_fetch_add(&c->live, 1);
    hop h = {.method = method, .url = &url, .hdrs = req->headers, .nhdrs = req->num_headers,
             .body = req->body, .body_len = req->body_len};
    char key0[CORIO__HTTP_KEY_MAX], key1[CORIO__HTTP_KEY_MAX];
    corio_http_client_response *resp = NULL;
    for (int hops = 0;; hops++) {
        rc = exchange(c, &h, deadline, &resp);
        if (rc < 0)
            break;
        size_t loc_len;
        const char *loc = corio_http_client_response_header(resp, "Location", &loc_len);
        if (!is_redirect(resp->status) || !loc || c->max_redirects == 0)
            break;
        if (hops == c->max_redirects) {
            rc = CORIO_EHTTP_TOO_MANY_REDIRECTS;
            break;
        }
        corio__http_url next;
        rc = corio__http_url_resolve(&url, loc, loc_len, &next);
        if (rc < 0) {
            rc = rc == -EINVAL ? CORIO_EHTTP_PROTOCOL : rc;
            break;
        }
        int st = resp->status;
        drain(resp);
        corio_http_client_response_destroy(resp);
        resp = NULL;
        /* RFC 9110 section 15.4: 303 fetches with GET (HEAD stays HEAD);
         * 301 and 302 turn POST into GET as every client does; 307 and
         * 308 repeat the request as it was. */
        if ((st == 303 && strcmp(h.method, "HEAD")) ||
            ((st == 301 || st == 302) && !strcmp(h.method, "POST"))) {
            h.method = "GET";
            h.body = NULL;
            h.body_len = 0;
        }
        corio__http_url_origin(&url, key0);
        corio__http_url_origin(&next, key1);
        if (strcmp(key0, key1))
            h.drop_credentials = true;
        corio__http_url_fini(&url);
        url = next;
        atomic_fetch_add(&c->n_redirects, 1);
    }
    if (rc < 0 && resp) {
        corio_http_client_response_destroy(resp);
        resp = NULL;
    }
    corio__http_url_fini(&url);
    atomic_fetch_sub(&c->live, 1);
    *out = resp;
    return rc;
}
