/* corio-downloads — a native HTTP/1.1 client on the loop's ring.
 *
 * One GET per call, from a coroutine: corio_connect, corio_send and
 * corio_recv are io_uring operations on the coroutine's loop, and the
 * response is framed by examples/http's response parser and body decoder.
 *
 * Per loop (coroutines never migrate, and a loop runs one coroutine at a
 * time, so this state needs no lock):
 *   - idle connections, keyed by "host:port": a finished response whose
 *     connection may be kept alive returns it here and the next URL for the
 *     same host takes it (a stale one, closed by the server meanwhile, is
 *     detected on first use and replaced once);
 *   - resolved addresses, keyed the same way (corio_getaddrinfo runs once per
 *     host and loop, suspending only the coroutine that asks);
 *   - receive buffers of --bufsize bytes, reused so that a transfer does
 *     not fault in fresh pages.
 *
 * Bodies with a Content-Length (the common case) are received straight
 * into the buffer with MSG_WAITALL, asking for exactly the bytes still
 * due (never past the end of the response), so a large body costs one
 * completion per buffer-full rather than one per TCP segment batch.
 * Chunked and close-delimited bodies go through corio__http_body_decode.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "downloads.h"
#include "http_parser.h"

#define MAX_LOOPS 256
#define KEY_MAX 272 /* "host:port" */

/* A kept-alive connection. */
typedef struct conn {
    int fd;            /* the socket */
    char key[KEY_MAX]; /* "host:port" it is connected to */
    struct conn *next; /* next idle connection of the loop */
} conn;

/* A resolved "host:port". */
typedef struct addr_entry {
    char key[KEY_MAX];             /* "host:port" */
    struct sockaddr_storage addr;  /* first address getaddrinfo returned */
    socklen_t len;                 /* its length */
    struct addr_entry *next;       /* next entry of the loop */
} addr_entry;

/* Everything one loop keeps between transfers. */
typedef struct loop_state {
    conn *idle;        /* idle connections, most recent first */
    addr_entry *addrs; /* resolved addresses */
    char **bufs;       /* free receive buffers */
    size_t nbufs;      /* entries used in bufs */
    size_t capbufs;    /* entries allocated in bufs */
    size_t bufsize;    /* size of every buffer */
} loop_state;

/* Indexed by loop id; slot k is touched only by loop k's coroutines. */
static loop_state *states[MAX_LOOPS];

static loop_state *state_get(size_t bufsize) {
    int id = corio_loop_id();
    if (id < 0 || id >= MAX_LOOPS)
        return NULL;
    if (!states[id]) {
        states[id] = calloc(1, sizeof *states[id]);
        if (states[id])
            states[id]->bufsize = bufsize;
    }
    return states[id];
}

static char *buf_get(loop_state *s) {
    if (s->nbufs > 0)
        return s->bufs[--s->nbufs];
    return malloc(s->bufsize);
}

static void buf_put(loop_state *s, char *b) {
    if (s->nbufs == s->capbufs) {
        size_t cap = s->capbufs ? s->capbufs * 2 : 16;
        char **a = realloc(s->bufs, cap * sizeof *a);
        if (!a) {
            free(b);
            return;
        }
        s->bufs = a;
        s->capbufs = cap;
    }
    s->bufs[s->nbufs++] = b;
}

void dl_native_loop_cleanup(void) {
    int id = corio_loop_id();
    if (id < 0 || id >= MAX_LOOPS || !states[id])
        return;
    loop_state *s = states[id];
    for (conn *c = s->idle, *nx; c; c = nx) {
        nx = c->next;
        corio_close(c->fd);
        free(c);
    }
    for (addr_entry *a = s->addrs, *nx; a; a = nx) {
        nx = a->next;
        free(a);
    }
    for (size_t i = 0; i < s->nbufs; i++)
        free(s->bufs[i]);
    free(s->bufs);
    free(s);
    states[id] = NULL;
}

/* The parts of an http:// URL. */
typedef struct url_parts {
    char host[256];    /* host name or address, without brackets */
    char port[8];      /* port as text ("80" by default) */
    char key[KEY_MAX]; /* "host:port" */
    const char *path;  /* from the first '/' (or "/" when absent), in the URL */
} url_parts;

static int url_split(const char *url, url_parts *u) {
    const char *p = url + 7; /* after "http://" */
    const char *end = p + strcspn(p, "/?#");
    const char *hs = p, *he;
    const char *colon = NULL;
    if (*p == '[') { /* [v6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return -EINVAL;
        hs = p + 1;
        he = rb;
        if (rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        he = colon ? colon : end;
    }
    if (memchr(p, '@', (size_t)(end - p)))
        return -EINVAL; /* userinfo: not supported */
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof u->host)
        return -EINVAL;
    memcpy(u->host, hs, hl);
    u->host[hl] = 0;
    size_t pl = colon ? (size_t)(end - colon - 1) : 0;
    if (colon && (pl == 0 || pl >= sizeof u->port))
        return -EINVAL;
    if (colon) {
        memcpy(u->port, colon + 1, pl);
        u->port[pl] = 0;
    } else {
        strcpy(u->port, "80");
    }
    snprintf(u->key, sizeof u->key, "%s:%s", u->host, u->port);
    u->path = *end == '/' ? end : "/";
    return 0;
}

static int resolve(loop_state *s, const url_parts *u, const addr_entry **out) {
    for (addr_entry *a = s->addrs; a; a = a->next)
        if (!strcmp(a->key, u->key)) {
            *out = a;
            return 0;
        }
    /* corio_getaddrinfo suspends this coroutine only (c-ares on the loop's
     * ring): getaddrinfo(3) here would stall every download on the loop. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int g = corio_getaddrinfo(u->host, u->port, &hints, 30.0, &res);
    if (g != 0)
        return g < 0 ? g : -EIO;
    addr_entry *a = calloc(1, sizeof *a);
    if (!a) {
        corio_freeaddrinfo(res);
        return -ENOMEM;
    }
    snprintf(a->key, sizeof a->key, "%s", u->key);
    memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    corio_freeaddrinfo(res);
    a->next = s->addrs;
    s->addrs = a;
    *out = a;
    return 0;
}

/* Seconds left before `deadline` (0: none → CORIO_FOREVER); a tiny
 * positive value once it has passed, so the next call times out. */
static double left(double deadline) {
    if (deadline <= 0)
        return CORIO_FOREVER;
    double l = deadline - dl_now();
    return l > 0 ? l : 1e-6;
}

static int open_conn(const addr_entry *a, double deadline) {
    int fd = corio_socket(a->addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = corio_connect(fd, (const struct sockaddr *)&a->addr, a->len, left(deadline));
    if (rc < 0) {
        corio_close(fd);
        return rc;
    }
    return fd;
}

/* Write `len` bytes to the output file (fd < 0: discard). */
static int sink_write(int fd, const char *p, size_t len) {
    while (fd >= 0 && len > 0) {
        ssize_t w = corio_write(fd, p, len, -1, CORIO_FOREVER);
        if (w < 0)
            return (int)w;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Outcome of one attempt on one connection. */
enum attempt { ATT_DONE, ATT_RETRY, ATT_FAILED };

/* One request/response on `fd`. On ATT_DONE *keep tells whether the
 * connection may be reused. `reused` says the connection was idle before:
 * a failure before any response byte then asks for a retry on a fresh one. */
static enum attempt exchange(const dl_options *o, int fd, bool reused, const url_parts *u,
                             char *buf, size_t cap, int out_fd, double deadline, dl_result *r,
                             bool *keep) {
    *keep = false;
    char req[2048];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: corio-downloads\r\n"
                      "Accept: */*\r\n\r\n",
                      u->path, u->host, strcmp(u->port, "80") ? ":" : "",
                      strcmp(u->port, "80") ? u->port : "");
    if (rl < 0 || (size_t)rl >= sizeof req) {
        dl_fail(r, -E2BIG, "URL too long");
        return ATT_FAILED;
    }
    for (int off = 0; off < rl;) {
        ssize_t w = corio_send(fd, req + off, (size_t)(rl - off), 0, left(deadline));
        if (w < 0) {
            if (reused && off == 0 && w != -ETIMEDOUT && w != -ECANCELED)
                return ATT_RETRY;
            dl_fail(r, (int)w, "send: %s", corio_strerror((int)w));
            return ATT_FAILED;
        }
        off += (int)w;
    }
    dl_quickack(fd); /* no delayed ACKs while the response comes in */
    /* The head. */
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_body = UINT64_MAX;
    corio_http_header hdrs[64];
    corio__http_parser p;
    corio__http_response_parser_init(&p, &lim, hdrs, 64);
    corio__http_response resp;
    size_t filled = 0, start = 0;
    for (;;) {
        int pr = filled > start
                     ? corio__http_response_parse(&p, buf + start, filled - start, CORIO_HTTP_GET,
                                                 &resp)
                     : CORIO__HTTP_NEED_MORE;
        if (pr == CORIO__HTTP_DONE) {
            if (resp.status >= 100 && resp.status < 200) { /* interim: skip it */
                start += resp.head_len;
                corio__http_parser_reset(&p);
                continue;
            }
            break;
        }
        if (pr < 0) {
            dl_fail(r, -EPROTO, "malformed response (%d %s)", -pr,
                    corio_http_status_reason(-pr));
            return ATT_FAILED;
        }
        if (filled == cap) {
            dl_fail(r, -EMSGSIZE, "response head larger than %zu bytes", cap);
            return ATT_FAILED;
        }
        ssize_t n = corio_recv(fd, buf + filled, cap - filled, 0, left(deadline));
        if (n <= 0) {
            if (reused && filled == 0 && (n == 0 || n == -ECONNRESET))
                return ATT_RETRY;
            if (n == 0)
                dl_fail(r, -ECONNRESET, "connection closed before the response was complete");
            else if (n == -ETIMEDOUT)
                dl_fail(r, (int)n, "timed out after %.3g s", o->timeout);
            else
                dl_fail(r, (int)n, "recv: %s", corio_strerror((int)n));
            return ATT_FAILED;
        }
        filled += (size_t)n;
    }
    r->status = resp.status;
    if (resp.status < 200 || resp.status > 299) {
        dl_fail(r, -EPROTO, "HTTP %d %.*s", resp.status, (int)resp.reason_len, resp.reason);
        return ATT_FAILED; /* the connection is closed, not drained */
    }
    size_t body_off = start + resp.head_len;
    size_t have = filled - body_off;
    if (resp.body == CORIO__HTTP_BODY_NONE) {
        *keep = resp.keep_alive && have == 0;
        return ATT_DONE;
    }
    if (resp.body == CORIO__HTTP_BODY_LENGTH) {
        uint64_t cl = resp.content_length;
        size_t take = have < cl ? have : (size_t)cl;
        int rc = sink_write(out_fd, buf + body_off, take);
        r->bytes += take;
        uint64_t remaining = cl - take;
        while (remaining > 0 && rc == 0) {
            size_t want = remaining < cap ? (size_t)remaining : cap;
            ssize_t n = corio_recv(fd, buf, want, MSG_WAITALL, left(deadline));
            if (n <= 0) {
                if (n == 0)
                    dl_fail(r, -ECONNRESET, "connection closed after %llu of %llu body bytes",
                            (unsigned long long)(cl - remaining), (unsigned long long)cl);
                else if (n == -ETIMEDOUT)
                    dl_fail(r, (int)n, "timed out after %.3g s", o->timeout);
                else
                    dl_fail(r, (int)n, "recv: %s", corio_strerror((int)n));
                return ATT_FAILED;
            }
            rc = sink_write(out_fd, buf, (size_t)n);
            r->bytes += (uint64_t)n;
            remaining -= (uint64_t)n;
        }
        if (rc < 0) {
            dl_fail(r, rc, "write: %s", corio_strerror(rc));
            return ATT_FAILED;
        }
        *keep = resp.keep_alive && have <= cl;
        return ATT_DONE;
    }
    /* Chunked or until close: decode in place. */
    corio__http_body b;
    corio__http_body_init(&b, resp.body, resp.content_length, &lim, true);
    const char *in = buf + body_off;
    size_t in_len = have;
    for (;;) {
        size_t used = 0, out_len = 0;
        int dr = CORIO__HTTP_NEED_MORE;
        if (in_len > 0) {
            dr = corio__http_body_decode(&b, in, in_len, &used, (char *)in, in_len, &out_len);
            if (dr < 0) {
                dl_fail(r, -EPROTO, "malformed body (%d)", -dr);
                return ATT_FAILED;
            }
            int rc = sink_write(out_fd, in, out_len);
            if (rc < 0) {
                dl_fail(r, rc, "write: %s", corio_strerror(rc));
                return ATT_FAILED;
            }
            r->bytes += out_len;
        }
        if (dr == CORIO__HTTP_DONE) {
            *keep = resp.keep_alive && used == in_len && resp.body == CORIO__HTTP_BODY_CHUNKED;
            return ATT_DONE;
        }
        /* Keep what the decoder did not consume (a partial chunk line). */
        size_t rest = in_len - used;
        memmove(buf, in + used, rest);
        ssize_t n = corio_recv(fd, buf + rest, cap - rest, 0, left(deadline));
        if (n == 0) {
            if (corio__http_body_eof(&b) == CORIO__HTTP_DONE)
                return ATT_DONE;
            dl_fail(r, -ECONNRESET, "connection closed before the body was complete");
            return ATT_FAILED;
        }
        if (n < 0) {
            if (n == -ETIMEDOUT)
                dl_fail(r, (int)n, "timed out after %.3g s", o->timeout);
            else
                dl_fail(r, (int)n, "recv: %s", corio_strerror((int)n));
            return ATT_FAILED;
        }
        in = buf;
        in_len = rest + (size_t)n;
    }
}

void dl_native_fetch(const dl_options *o, const char *url, const char *out_path, dl_result *r) {
    double t0 = dl_now();
    double deadline = o->timeout > 0 ? t0 + o->timeout : 0;
    r->code = 0;
    r->status = 0;
    r->bytes = 0;
    r->error[0] = 0;
    loop_state *s = state_get(o->bufsize);
    url_parts u;
    const addr_entry *a;
    int out_fd = -1;
    char *buf = NULL;
    int rc;
    if (!s) {
        dl_fail(r, -ENOMEM, "no loop state");
        goto out;
    }
    if (url_split(url, &u) < 0) {
        dl_fail(r, -EINVAL, "cannot parse URL");
        goto out;
    }
    if ((rc = resolve(s, &u, &a)) < 0) {
        dl_fail(r, rc, "cannot resolve %s", u.host);
        goto out;
    }
    if (out_path) {
        out_fd = corio_openat(AT_FDCWD, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644,
                              CORIO_FOREVER);
        if (out_fd < 0) {
            dl_fail(r, out_fd, "cannot create %s: %s", out_path, corio_strerror(out_fd));
            goto out;
        }
    }
    buf = buf_get(s);
    if (!buf) {
        dl_fail(r, -ENOMEM, "out of memory");
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        /* Take an idle connection to the same host, else connect. */
        int fd = -1;
        bool reused = false;
        /* A retry always connects afresh, so it cannot ask for another. */
        for (conn **pc = &s->idle; attempt == 0 && *pc; pc = &(*pc)->next)
            if (!strcmp((*pc)->key, u.key)) {
                conn *c = *pc;
                *pc = c->next;
                fd = c->fd;
                free(c);
                reused = true;
                break;
            }
        if (fd < 0) {
            fd = open_conn(a, deadline);
            if (fd < 0) {
                if (fd == -ETIMEDOUT)
                    dl_fail(r, fd, "connect to %s timed out after %.3g s", u.key, o->timeout);
                else
                    dl_fail(r, fd, "connect to %s: %s", u.key, corio_strerror(fd));
                goto out;
            }
        }
        bool keep = false;
        enum attempt at = exchange(o, fd, reused, &u, buf, s->bufsize, out_fd, deadline, r,
                                   &keep);
        if (at == ATT_RETRY) {
            corio_close(fd);
            if (out_fd >= 0 && (ftruncate(out_fd, 0) < 0 || lseek(out_fd, 0, SEEK_SET) < 0)) {
                dl_fail(r, -errno, "cannot rewind %s", out_path);
                goto out;
            }
            r->bytes = 0;
            continue;
        }
        conn *c = keep ? malloc(sizeof *c) : NULL;
        if (c) {
            c->fd = fd;
            snprintf(c->key, sizeof c->key, "%s", u.key);
            c->next = s->idle;
            s->idle = c;
        } else {
            corio_close(fd);
        }
        break;
    }
out:
    if (buf)
        buf_put(s, buf);
    if (out_fd >= 0)
        corio_close(out_fd);
    if (r->code < 0)
        r->bytes = 0;
    r->ms = (dl_now() - t0) * 1e3;
}
