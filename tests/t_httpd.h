/* Helpers shared by the corio-httpd suites (test_httpd.c,
 * test_httpd_connections.c): the served directory's type and a server
 * started in-process on 127.0.0.1, port 0; the client, whose calls block a
 * plain thread and suspend a coroutine, reading responses with the
 * response parser of http_parser.h.
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. */
#ifndef CORIO_T_HTTPD_H
#define CORIO_T_HTTPD_H

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"
#include "http_parser.h"
#include "httpd.h"

#define T_IO_TIMEOUT 20.0 /* seconds any client call may take */

/* ---- a served directory ---- */

typedef struct t_dir {
    char base[64];  /* mkdtemp'd; holds root/ and secret.txt */
    char root[96];  /* the served directory */
} t_dir;

/* A server on d (or on no directory of interest when d is NULL). */
static inline httpd *t_start(t_dir *d, httpd_options *o) {
    httpd_options def = {.loops = 1};
    if (!o)
        o = &def;
    o->port = 0;
    o->quiet = true;
    o->root = d ? d->root : "/tmp";
    httpd *s = NULL;
    int r = httpd_create(o, &s);
    ck_assert_msg(r == 0, "httpd_create: %s", corio_strerror(r));
    ck_assert_int_gt(httpd_port(s), 0);
    return s;
}

/* ---- the client ---- */

typedef struct t_client {
    int fd;
    char buf[65536]; /* received, not yet consumed */
    size_t len;
} t_client;

typedef struct t_resp {
    int status;
    char head[8192];  /* the head, NUL-terminated */
    char *body;       /* malloc'd, body_len bytes (+ NUL) */
    uint64_t body_len;
    bool keep_alive;
} t_resp;

static inline int t_connect(t_client *c, int port) {
    c->len = 0;
    c->fd = corio_socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return c->fd;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = corio_connect(c->fd, (struct sockaddr *)&a, sizeof a, T_IO_TIMEOUT);
    if (r < 0) {
        corio_close(c->fd);
        c->fd = -1;
    }
    return r;
}

static inline void t_close(t_client *c) {
    if (c->fd >= 0)
        corio_close(c->fd);
    c->fd = -1;
}

static inline int t_send(t_client *c, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = corio_send(c->fd, s, n, 0, T_IO_TIMEOUT);
        if (w < 0)
            return (int)w;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int t_sends(t_client *c, const char *s) { return t_send(c, s, strlen(s)); }

/* Receive more into c->buf; 0 on EOF, < 0 on error. */
static inline ssize_t t_fill(t_client *c) {
    if (c->len == sizeof c->buf)
        return -ENOBUFS;
    ssize_t n = corio_recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0, T_IO_TIMEOUT);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static inline void t_consume(t_client *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Read one response to a request with `method`. Returns 0, or < 0 (with
 * nothing allocated) on EOF before a whole response, an error or a bad
 * response. */
static inline int t_read(t_client *c, corio_http_method method, t_resp *r) {
    corio__http_parser p;
    corio_http_header h[64];
    corio__http_response resp;
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_body = UINT64_MAX; /* the client takes any size */
    corio__http_response_parser_init(&p, &lim, h, 64);
    r->body = NULL;
    int pr;
    while ((pr = corio__http_response_parse(&p, c->buf, c->len, method, &resp)) == 0) {
        ssize_t n = t_fill(c);
        if (n <= 0)
            return n == 0 ? -EPIPE : (int)n;
    }
    if (pr < 0 || resp.head_len >= sizeof r->head)
        return -EPROTO;
    if (resp.body != CORIO__HTTP_BODY_NONE && resp.body != CORIO__HTTP_BODY_LENGTH)
        return -EPROTO; /* the server only sends Content-Length bodies */
    r->status = resp.status;
    r->keep_alive = resp.keep_alive;
    memcpy(r->head, c->buf, resp.head_len);
    r->head[resp.head_len] = 0;
    r->body_len = resp.body == CORIO__HTTP_BODY_LENGTH ? resp.content_length : 0;
    t_consume(c, resp.head_len);
    r->body = malloc(r->body_len + 1);
    if (!r->body)
        return -ENOMEM;
    uint64_t got = 0;
    while (got < r->body_len) {
        if (c->len == 0) {
            ssize_t n = t_fill(c);
            if (n <= 0) {
                free(r->body);
                r->body = NULL;
                return n == 0 ? -EPIPE : (int)n;
            }
        }
        size_t k = r->body_len - got < c->len ? (size_t)(r->body_len - got) : c->len;
        memcpy(r->body + got, c->buf, k);
        got += k;
        t_consume(c, k);
    }
    r->body[r->body_len] = 0;
    return 0;
}

static inline void t_resp_free(t_resp *r) {
    free(r->body);
    r->body = NULL;
}

/* The value of field `name` in r's head ("" when absent), in out. */
static const char *t_header(const t_resp *r, const char *name, char *out, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strstr(r->head, key);
    out[0] = 0;
    if (p) {
        p += strlen(key);
        size_t n = strcspn(p, "\r");
        if (n >= cap)
            n = cap - 1;
        memcpy(out, p, n);
        out[n] = 0;
    }
    return out;
}

/* The server closed: EOF with nothing more buffered. */
static inline bool t_at_eof(t_client *c) {
    if (c->len)
        return false;
    return t_fill(c) == 0;
}

/* Send `req`, read one response, check its status; returns it. */
static inline void t_roundtrip(t_client *c, const char *req, corio_http_method m, int status,
                        t_resp *r) {
    ck_assert_int_eq(t_sends(c, req), 0);
    int e = t_read(c, m, r);
    ck_assert_msg(e == 0, "reading the response to %.40s: %s", req, corio_strerror(e));
    ck_assert_msg(r->status == status, "%.40s: status %d, want %d", req, r->status, status);
}

static inline bool t_is_pattern(const char *b, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (b[i] != (char)('a' + i % 26))
            return false;
    return true;
}

#endif /* CORIO_T_HTTPD_H */
