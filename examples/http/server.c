/* corio-httpd's server: accept loop, one coroutine per connection, request
 * parsing with http_parser.h, and the three kinds of response (/hello,
 * /bytes/N, static files). See server.h for the contract and
 * docs/http-tutorial.md for a walk through this file.
 *
 *   listening socket ──multishot accept (one acceptor coroutine per loop)──┐
 *        ┌────────────────────────────────────────────────────────────────┘
 *        ▼
 *   serve(conn): recv → parse heads (pipelined: as many as buffered)
 *                     → respond into conn->out (batched) → send → recv ...
 *
 * Memory: each connection owns one `conn` (allocated at accept, freed when
 * its coroutine's future completes): the receive buffer, the output buffer
 * responses are batched in, the parser and its header array. Nothing is
 * allocated per request, except one 128 KiB file-transfer buffer the first
 * time a connection streams a file larger than what fits in its output
 * buffer (kept until the connection ends).
 *
 * Timeouts: the idle timeout is kept by one watchdog coroutine per loop
 * (watchdog()), which cancels connections past their deadline; the I/O
 * calls themselves carry no timeout.
 *
 * Blocking: everything waits through corio calls (the loop keeps running),
 * except opening a static file (openat2 + fstat), done directly on the loop
 * thread as nginx does: on a local file system it does not wait on I/O for
 * long, and the ring has no call for openat2.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"
#include "http_parser.h"

#define IN_INIT 8192          /* receive buffer to start with, in the conn */
#define OUT_CAP 16384         /* output buffer: heads and small bodies */
#define HEAD_ROOM 512         /* room a response head needs in out */
#define MAX_HDRS 100          /* field lines per request head */
#define XFER_CAP (128 * 1024) /* file transfer buffer, for files > OUT_CAP */
#define PATTERN_LEN (256 * 1024) /* /bytes/N chunk; the pattern is 26 longer */
#define CONN_STACK (64 * 1024)   /* a connection coroutine's stack */
#define LINGER_MAX 2.0        /* seconds to drain a closing connection */
#define LINGER_BYTES (256 * 1024) /* bytes drained at most */
#define ACCEPT_BACKOFF 0.05   /* seconds to wait after an accept failure */
#define MAX_REJECTING 256     /* 503 answers in flight at once; beyond, close */

struct corio_httpd {
    corio_runtime *rt;       /* the loops; owned */
    corio_listener *lst;     /* the listening socket(s); owned */
    int rootfd;              /* O_PATH descriptor of the root; owned */
    int port;                /* the port listened on */
    int nloops;              /* loops of rt, each with an acceptor */
    bool have_openat2;       /* openat2(RESOLVE_BENEATH) works here */
    bool quiet;              /* no diagnostics */
    char *root_real;         /* realpath of the root (fallback check) */
    size_t root_real_len;    /* strlen(root_real) */
    double delay;            /* seconds before each response */
    double idle;             /* idle timeout, seconds */
    int64_t max_conns;       /* connections served at once */
    size_t in_max;           /* receive buffer may grow to this */
    size_t path_cap;         /* bytes of conn->path */
    corio__http_limits lim;   /* parser limits */
    char *pattern;           /* PATTERN_LEN + 26 bytes of a..z repeated */
    struct conn **watch;     /* per loop: the connections it serves, a
                              * list only that loop's thread touches */
    _Atomic int64_t active;  /* connections being served (not rejects) */
    _Atomic int rejecting;   /* 503 answers in flight */
    _Atomic uint64_t accepted, rejected, accept_errors, requests; /* stats */
    corio_future **tasks;    /* per loop: its acceptor and watchdog (2 * nloops) */
    _Atomic bool draining;   /* corio_httpd_drain: close idle connections, no keep-alive */
};

/* What the current request asks for, decided when its head is parsed (so
 * that the receive buffer may move while its body is skipped). */
enum route { R_HELLO, R_BYTES, R_FILE, R_METRICS };

typedef struct conn {
    corio_httpd *srv;        /* the server (outlives every conn) */
    struct conn *next, *prev; /* in srv->watch[loop] while serve() runs */
    corio_future *future;    /* serve()'s future (borrowed: valid while
                              * serve runs; the watchdog cancels it) */
    double deadline;         /* waiting for the peer until then (monotonic
                              * seconds); 0: not waiting on the peer */
    bool timed_out;          /* the watchdog cancelled us for silence */
    bool idle;               /* waiting for a next request, nothing of it received yet */
    int fd;                  /* the connection; closed by conn_done */
    bool started;            /* serve() ran (else conn_done cleans up alone) */
    bool reject;             /* answer 503 and close: over max_conns */
    bool in_body;            /* skipping the current request's body */
    bool is_head;            /* the current request is HEAD */
    bool keep_alive;         /* the connection survives the current request */
    int minor;               /* HTTP/1.minor of the current request */
    enum route route;        /* what the current request asks for */
    uint64_t nbytes;         /* R_BYTES: N */
    size_t path_len;         /* R_FILE: strlen(path) */
    uint64_t nreq;           /* requests answered on this connection */
    char *in;                /* receive buffer: in0 or a grown copy */
    size_t in_cap;           /* bytes of in */
    size_t start, len;       /* in[start..len): received, not consumed */
    size_t outlen;           /* bytes of out waiting to be sent */
    char *xfer;              /* file transfer buffer (XFER_CAP), lazily */
    corio__http_parser p;     /* request parser */
    corio__http_request req;  /* the last parsed head */
    corio__http_body body;    /* body skipper of the current request */
    corio_http_header hdrs[MAX_HDRS]; /* field lines of the last head */
    char out[OUT_CAP];       /* responses waiting to be sent, in order */
    char in0[IN_INIT];       /* the first receive buffer */
    char path[];             /* normalised path, srv->path_cap bytes */
} conn;

/* ---- helpers ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A cheap clock for deadlines (a few ms of resolution is plenty). */
static double coarse_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The Date field value, formatted at most once a second per loop thread. */
static const char *http_date(void) {
    static _Thread_local time_t last;
    static _Thread_local char buf[40];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return buf;
}

/* Send all of buf[0..len), or fail (-errno, -ECANCELED; -ETIMEDOUT when
 * the peer has not taken a byte for the idle timeout). The timeout is the
 * watchdog's (see watchdog()), not the ring's: no timer per send. */
static int send_all(conn *c, const char *buf, size_t len) {
    while (len > 0) {
        c->deadline = coarse_s() + c->srv->idle;
        ssize_t w = corio_send(c->fd, buf, len, 0, CORIO_FOREVER);
        c->deadline = 0;
        if (w < 0)
            return c->timed_out ? -ETIMEDOUT : (int)w;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Send what is batched in out. */
static int out_flush(conn *c) {
    int r = send_all(c, c->out, c->outlen);
    c->outlen = 0;
    return r;
}

/* Append a response head to out (flushing first if out is nearly full):
 * one snprintf. `extra` is more field lines, each ending in CRLF. */
static int put_head(conn *c, int status, const char *ctype, uint64_t clen, const char *extra,
                    bool close) {
    if (OUT_CAP - c->outlen < HEAD_ROOM) {
        int r = out_flush(c);
        if (r < 0)
            return r;
    }
    const char *connection = close ? "Connection: close\r\n"
                             : c->minor == 0 ? "Connection: keep-alive\r\n"
                                             : "";
    int n = snprintf(c->out + c->outlen, OUT_CAP - c->outlen,
                     "HTTP/1.1 %d %s\r\nServer: corio-httpd\r\nDate: %s\r\n"
                     "Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\n%s%s\r\n",
                     status, corio_http_status_reason(status), http_date(), ctype, clen,
                     extra, connection);
    if (n < 0 || (size_t)n >= OUT_CAP - c->outlen)
        return -EOVERFLOW; /* cannot happen: HEAD_ROOM covers every head */
    c->outlen += (size_t)n;
    return 0;
}

/* Append body bytes to out, flushing whenever it fills. */
static int put_body(conn *c, const char *p, size_t n) {
    while (n > 0) {
        if (c->outlen == OUT_CAP) {
            int r = out_flush(c);
            if (r < 0)
                return r;
        }
        size_t k = OUT_CAP - c->outlen < n ? OUT_CAP - c->outlen : n;
        memcpy(c->out + c->outlen, p, k);
        c->outlen += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* Closing after a response: stop sending, then read and drop what the
 * client still sends until it closes (or LINGER_MAX passes), so that the
 * close does not turn into a reset that could destroy the response before
 * the client has read it (RFC 9112 section 9.6). */
static void linger(conn *c) {
    shutdown(c->fd, SHUT_WR);
    double limit = c->srv->idle < LINGER_MAX ? c->srv->idle : LINGER_MAX;
    double deadline = now_s() + limit;
    size_t total = 0;
    while (total < LINGER_BYTES) {
        double left = deadline - now_s();
        if (left <= 0)
            break;
        ssize_t n = corio_recv(c->fd, c->in, c->in_cap, 0, left);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

/* Answer an error `status` (what the parser or the router decided), after
 * the responses already batched, and close the connection. */
static void fail(conn *c, int status) {
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, corio_http_status_reason(status));
    const char *extra = status == 405 ? "Allow: GET, HEAD\r\n" : "";
    if (put_head(c, status, "text/plain", (uint64_t)n, extra, true) < 0)
        return;
    if (!c->is_head && put_body(c, body, (size_t)n) < 0)
        return;
    /* Counted before it goes out (as in respond), so that a client that
     * has the answer finds it counted. */
    atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
    if (out_flush(c) < 0)
        return;
    linger(c);
}

/* ---- routing ---- */

/* Decide what the head just parsed asks for. Returns 0, or an error status
 * for the request (400 for a path that tries to leave the root). */
static int route(conn *c) {
    corio_httpd *s = c->srv;
    const corio__http_request *q = &c->req;
    c->is_head = q->method == CORIO_HTTP_HEAD;
    c->keep_alive = q->keep_alive;
    c->minor = q->version_minor;
    int n = corio__http_path_normalize(q->target, q->target_len, c->path, s->path_cap);
    if (n < 0)
        return -n;
    c->path_len = (size_t)n;
    if (atomic_load_explicit(&s->draining, memory_order_relaxed))
        c->keep_alive = false; /* draining: this answer is the last */
    if (n == 5 && !memcmp(c->path, "hello", 5)) {
        c->route = R_HELLO;
        return 0;
    }
    if (n == 7 && !memcmp(c->path, "metrics", 7)) {
        c->route = R_METRICS;
        return 0;
    }
    if (n > 6 && n <= 6 + 13 && !memcmp(c->path, "bytes/", 6)) {
        uint64_t v = 0;
        int i = 6;
        while (i < n && c->path[i] >= '0' && c->path[i] <= '9')
            v = v * 10 + (uint64_t)(c->path[i++] - '0');
        if (i == n && v <= CORIO_HTTPD_MAX_BYTES) {
            c->route = R_BYTES;
            c->nbytes = v;
            return 0;
        }
    }
    c->route = R_FILE;
    return 0;
}

/* ---- responses ---- */

static int respond_bytes(conn *c) {
    corio_httpd *s = c->srv;
    uint64_t n = c->nbytes;
    int r = put_head(c, 200, "application/octet-stream", n, "", !c->keep_alive);
    if (r < 0 || c->is_head)
        return r;
    /* The head and the first bytes go out together; then whole chunks
     * straight from the pattern (byte i is pattern[i % 26]). */
    size_t k = OUT_CAP - c->outlen < n ? OUT_CAP - c->outlen : (size_t)n;
    memcpy(c->out + c->outlen, s->pattern, k);
    c->outlen += k;
    uint64_t pos = k;
    if (pos == n)
        return 0;
    if ((r = out_flush(c)) < 0)
        return r;
    while (pos < n) {
        size_t chunk = n - pos < PATTERN_LEN ? (size_t)(n - pos) : PATTERN_LEN;
        if ((r = send_all(c, s->pattern + pos % 26, chunk)) < 0)
            return r;
        pos += chunk;
    }
    return 0;
}

/* openat2 with RESOLVE_BENEATH where the kernel has it: no "..", absolute
 * path or symlink may lead out of dirfd. Otherwise openat with O_NOFOLLOW
 * (the last component) and a check of the opened file's real path (every
 * other component). O_NONBLOCK so that a FIFO cannot stall the loop. */
static int open_beneath(corio_httpd *s, int dirfd, const char *path) {
    int fd;
    if (s->have_openat2) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        return fd < 0 ? -errno : fd;
    }
    fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n < 0 || (size_t)n < s->root_real_len ||
        memcmp(real, s->root_real, s->root_real_len) ||
        ((size_t)n > s->root_real_len && real[s->root_real_len] != '/' &&
         s->root_real_len > 1)) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

/* Open the file the request names: a regular file, or a directory's
 * index.html. Returns the descriptor with *st filled and *name set to the
 * name that decides its type, or -ENOENT (anything else: 404). */
static int open_file(conn *c, struct stat *st, const char **name, size_t *name_len) {
    corio_httpd *s = c->srv;
    int fd = open_beneath(s, s->rootfd, c->path);
    if (fd < 0)
        return -ENOENT;
    *name = c->path;
    *name_len = c->path_len;
    if (fstat(fd, st) < 0)
        goto no;
    if (S_ISDIR(st->st_mode)) {
        int ifd = open_beneath(s, fd, "index.html");
        close(fd);
        fd = ifd;
        if (fd < 0)
            return -ENOENT;
        *name = "index.html";
        *name_len = 10;
        if (fstat(fd, st) < 0)
            goto no;
    }
    if (!S_ISREG(st->st_mode))
        goto no;
    /* O_NONBLOCK was for the open only: on a regular file it would make a
     * ring read that misses the page cache fail with EAGAIN (and corio
     * retry it at once) instead of waiting for the disk. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        goto no;
    return fd;
no:
    close(fd);
    return -ENOENT;
}

/* 404 for what is not there; keeps the connection. */
static int respond_404(conn *c) {
    static const char body[] = "404 Not Found\n";
    int r = put_head(c, 404, "text/plain", sizeof body - 1, "", !c->keep_alive);
    if (r < 0 || c->is_head)
        return r;
    return put_body(c, body, sizeof body - 1);
}

static int respond_file(conn *c) {
    struct stat st;
    const char *name;
    size_t name_len;
    int fd = open_file(c, &st, &name, &name_len);
    if (fd < 0)
        return respond_404(c);
    uint64_t size = (uint64_t)st.st_size;
    int r = put_head(c, 200, corio__http_mime_type(name, name_len), size, "", !c->keep_alive);
    if (r < 0 || c->is_head)
        goto out;
    /* Small files: read straight into out, behind the head: one send. */
    uint64_t pos = 0;
    while (pos < size && c->outlen < OUT_CAP) {
        size_t room = OUT_CAP - c->outlen;
        size_t want = size - pos < room ? (size_t)(size - pos) : room;
        ssize_t n = corio_read(fd, c->out + c->outlen, want, (int64_t)pos, CORIO_FOREVER);
        if (n <= 0) {
            r = n < 0 ? (int)n : -EIO; /* shrank under us: the framing is lost */
            goto out;
        }
        c->outlen += (size_t)n;
        pos += (uint64_t)n;
    }
    if (pos < size) {
        if ((r = out_flush(c)) < 0)
            goto out;
        if (!c->xfer && !(c->xfer = malloc(XFER_CAP))) {
            r = -ENOMEM;
            goto out;
        }
        while (pos < size) {
            size_t want = size - pos < XFER_CAP ? (size_t)(size - pos) : XFER_CAP;
            ssize_t n = corio_read(fd, c->xfer, want, (int64_t)pos, CORIO_FOREVER);
            if (n <= 0) {
                r = n < 0 ? (int)n : -EIO;
                goto out;
            }
            if ((r = send_all(c, c->xfer, (size_t)n)) < 0)
                goto out;
            pos += (uint64_t)n;
        }
    }
out:
    close(fd);
    return r;
}

/* Answer the current request (its head parsed, its body skipped). A
 * negative return aborts the connection. */
/* GET /metrics: the runtime's counters and the server's, in the
 * Prometheus text format. */
static int respond_metrics(conn *c) {
    corio_httpd *s = c->srv;
    corio_httpd_stats st;
    corio_httpd_stats_get(s, &st);
    char own[768];
    int k = snprintf(own, sizeof own,
                     "# HELP corio_httpd_accepted Connections accepted.\n"
                     "# TYPE corio_httpd_accepted counter\ncorio_httpd_accepted %llu\n"
                     "# HELP corio_httpd_requests Requests answered.\n"
                     "# TYPE corio_httpd_requests counter\ncorio_httpd_requests %llu\n"
                     "# HELP corio_httpd_rejected Connections answered 503.\n"
                     "# TYPE corio_httpd_rejected counter\ncorio_httpd_rejected %llu\n"
                     "# HELP corio_httpd_active Connections being served.\n"
                     "# TYPE corio_httpd_active gauge\ncorio_httpd_active %lld\n",
                     (unsigned long long)st.accepted, (unsigned long long)st.requests,
                     (unsigned long long)st.rejected, (long long)st.active);
    ssize_t need = corio_metrics_format(s->rt, NULL, 0);
    if (k < 0 || need < 0)
        return fail(c, 500), -EIO;
    char *body = malloc((size_t)need + (size_t)k + 1);
    if (!body)
        return fail(c, 503), -ENOMEM;
    ssize_t n = corio_metrics_format(s->rt, body, (size_t)need + 1);
    if (n > need)
        n = need; /* counters grew longer meanwhile: cut at what was sized */
    memcpy(body + n, own, (size_t)k);
    size_t len = (size_t)n + (size_t)k;
    int r = put_head(c, 200, "text/plain; version=0.0.4", len, "", !c->keep_alive);
    if (r == 0 && !c->is_head)
        r = put_body(c, body, len);
    free(body);
    return r;
}

static int respond(conn *c) {
    corio_httpd *s = c->srv;
    int r = 0;
    if (s->delay > 0 && (r = corio_sleep(s->delay)) < 0)
        return r;
    /* Counted before any of the answer goes out: a client that has it (and
     * whoever it tells) must find it in the stats. Counting after the
     * writes let a test read 4986 of 5000 answered requests. */
    c->nreq++;
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    switch (c->route) {
    case R_HELLO:
        r = put_head(c, 200, "text/plain", 13, "", !c->keep_alive);
        if (r == 0 && !c->is_head)
            r = put_body(c, "Hello, world!", 13);
        break;
    case R_BYTES:
        r = respond_bytes(c);
        break;
    case R_FILE:
        r = respond_file(c);
        break;
    case R_METRICS:
        r = respond_metrics(c);
        break;
    }
    return r;
}

/* ---- the connection ---- */

/* Make room for more input: grow the receive buffer, up to in_max. */
static bool grow(conn *c) {
    corio_httpd *s = c->srv;
    if (c->in_cap >= s->in_max)
        return false;
    size_t cap = c->in_cap * 2 < s->in_max ? c->in_cap * 2 : s->in_max;
    char *in = malloc(cap);
    if (!in)
        return false;
    memcpy(in, c->in, c->len);
    if (c->in != c->in0)
        free(c->in);
    c->in = in;
    c->in_cap = cap;
    return true;
}

/* One connection's whole life: read, parse every head that is buffered,
 * answer each in order (batched in out), then read again. Ends on EOF, an
 * error, a Connection: close, the idle timeout or cancellation. conn_done
 * closes the socket and frees c. */
static void serve_conn(conn *c);

static int serve(void *arg, corio_value *out) {
    (void)out;
    conn *c = arg;
    c->started = true;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->reject) {
        fail(c, 503);
        return 0;
    }
    conn **head = &c->srv->watch[corio_loop_id()];
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
    return 0;
}

/* The idle timeout struck while waiting for a request: the coroutine is
 * cancelled (every corio call now returns -ECANCELED), so the 408 goes out
 * with one non-blocking send(2): the connection is idle and its send buffer
 * empty, so it fits. Then the write side is shut; conn_done closes. */
static void timed_out_408(conn *c) {
    c->is_head = false;
    c->outlen = 0;
    static const char body[] = "408 Request Timeout\n";
    if (put_head(c, 408, "text/plain", sizeof body - 1, "", true) < 0)
        return;
    memcpy(c->out + c->outlen, body, sizeof body - 1);
    c->outlen += sizeof body - 1;
    if (send(c->fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        atomic_fetch_add_explicit(&c->srv->requests, 1, memory_order_relaxed);
    shutdown(c->fd, SHUT_WR);
}

static void serve_conn(conn *c) {
    corio_httpd *s = c->srv;
    for (;;) {
        int r;
        if (c->in_body) {
            size_t used, ignored;
            r = corio__http_body_decode(&c->body, c->in + c->start, c->len - c->start, &used,
                                       NULL, 0, &ignored);
            c->start += used;
            if (r < 0) {
                fail(c, -r);
                return;
            }
            if (r == CORIO__HTTP_DONE) {
                c->in_body = false;
                if (respond(c) < 0)
                    return;
                if (!c->keep_alive)
                    goto close;
                continue;
            }
        } else if (c->start < c->len) {
            r = corio__http_request_parse(&c->p, c->in + c->start, c->len - c->start, &c->req);
            if (r < 0) {
                c->is_head = false;
                fail(c, -r);
                return;
            }
            if (r == CORIO__HTTP_DONE) {
                c->start += c->req.head_len;
                if ((r = route(c)) > 0) {
                    fail(c, r);
                    return;
                }
                if (c->req.body != CORIO__HTTP_BODY_NONE) {
                    corio__http_body_init(&c->body, c->req.body, c->req.content_length, &s->lim,
                                         false);
                    c->in_body = true;
                    continue;
                }
                if (respond(c) < 0)
                    return;
                if (!c->keep_alive)
                    goto close;
                continue;
            }
        }
        /* Everything buffered is consumed (or is an incomplete head): send
         * the batched responses, then wait for more. */
        if (c->outlen && out_flush(c) < 0)
            return;
        if (c->start > 0) {
            memmove(c->in, c->in + c->start, c->len - c->start);
            c->len -= c->start;
            c->start = 0;
        }
        if (c->len == c->in_cap && !grow(c)) {
            c->is_head = false;
            fail(c, 431); /* the parser's limits should have caught it first */
            return;
        }
        c->deadline = coarse_s() + s->idle;
        c->idle = c->len == 0 && !c->in_body;
        ssize_t n = corio_recv(c->fd, c->in + c->len, c->in_cap - c->len, 0, CORIO_FOREVER);
        c->deadline = 0;
        c->idle = false;
        if (n < 0 && c->timed_out) {
            /* Silent for the idle timeout: 408 when a request was due (a
             * new connection, or one in the middle of a request); an idle
             * keep-alive connection between requests is just closed. */
            if (c->nreq == 0 || c->len > 0 || c->in_body)
                timed_out_408(c);
            return;
        }
        if (n <= 0)
            return; /* EOF, reset, or -ECANCELED: the server is stopping */
        c->len += (size_t)n;
    }
close:
    if (out_flush(c) == 0)
        linger(c);
}

/* Runs when the connection's future completes: after serve() returned, or
 * instead of it when the runtime stopped before it started. */
static int conn_done(corio_future *f, void *arg) {
    (void)f;
    conn *c = arg;
    corio_httpd *s = c->srv;
    close(c->fd);
    if (c->reject)
        atomic_fetch_sub_explicit(&s->rejecting, 1, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
    if (c->in != c->in0)
        free(c->in);
    free(c->xfer);
    free(c);
    return 0;
}

static conn *conn_new(corio_httpd *s, int fd) {
    conn *c = malloc(sizeof *c + s->path_cap);
    if (!c)
        return NULL;
    /* Only the header fields; the buffers need no clearing. */
    memset(c, 0, offsetof(conn, hdrs));
    c->srv = s;
    c->fd = fd;
    c->in = c->in0;
    c->in_cap = IN_INIT;
    corio__http_request_parser_init(&c->p, &s->lim, CORIO_HTTP_GET | CORIO_HTTP_HEAD, c->hdrs,
                                   MAX_HDRS);
    return c;
}

/* Give fd its coroutine (a 503 one when `reject`). The counters were
 * raised by the caller; on failure they are lowered here. */
static void start_conn(corio_httpd *s, int fd, bool reject) {
    static const corio_spawn_options so = {.stack_size = CONN_STACK};
    _Atomic int64_t *ac = &s->active;
    _Atomic int *rc = &s->rejecting;
    conn *c = conn_new(s, fd);
    int err = -ENOMEM;
    corio_future *f = NULL;
    if (c) {
        c->reject = reject;
        f = corio_spawn_on(s->rt, -1, serve, c, &so, &err);
    }
    if (!f) {
        free(c);
        close(fd);
        if (reject)
            atomic_fetch_sub(rc, 1);
        else
            atomic_fetch_sub(ac, 1);
        if (!s->quiet)
            fprintf(stderr, "corio-httpd: cannot start a connection: %s\n", corio_strerror(err));
        return;
    }
    /* The coroutine is on this loop and cannot have run yet: the callback
     * is in place before it ends. If registering fails (no memory), the
     * connection is cancelled: conn_done is then called directly once the
     * future is done, which corio_future_result waits for. */
    c->future = f; /* the loop's own reference keeps it while serve() runs */
    if (corio_future_add_done_callback(f, conn_done, c) < 0) {
        corio_future_cancel(f);
        corio_future_result(f, CORIO_FOREVER, NULL);
        conn_done(f, c);
    }
    corio_future_unref(f);
}

/* One per loop: the idle timeout of every connection of this loop. A
 * connection sets its deadline before it waits for its peer (recv, send)
 * and clears it after; every quarter of the timeout the watchdog cancels
 * the connections past their deadline (every second at most, for long
 * timeouts). So a silent connection is noticed between T and
 * T + min(T/4, 1 s), T the idle timeout, and no I/O call carries a
 * ring timeout (each would cost a linked timeout SQE, a kernel timer armed
 * and disarmed, and a second CQE, per call). O(connections) per round. */
static int watchdog(void *arg, corio_value *out) {
    (void)out;
    corio_httpd *s = arg;
    conn **head = &s->watch[corio_loop_id()];
    double period = s->idle / 4 < 1.0 ? s->idle / 4 : 1.0;
    if (period < 0.01)
        period = 0.01; /* a tiny timeout must not make the watchdog spin */
    for (;;) {
        bool draining = atomic_load_explicit(&s->draining, memory_order_relaxed);
        if (draining && !*head)
            break; /* nothing left to watch on this loop: let the drain end */
        if (corio_sleep(draining ? 0.01 : period) != 0)
            break;
        double now = coarse_s();
        for (conn *c = *head; c; c = c->next) {
            /* Draining: an idle keep-alive connection is closed at once. */
            if (draining && c->idle && !c->timed_out) {
                c->timed_out = true;
                corio_future_cancel(c->future);
            } else if (c->deadline != 0 && now >= c->deadline && !c->timed_out) {
                c->timed_out = true;
                corio_future_cancel(c->future);
            }
        }
    }
    return 0;
}

/* One per loop: accept from the shared listening socket and start a
 * coroutine per connection on this loop. */
static int acceptor_main(void *arg, corio_value *out) {
    (void)out;
    corio_httpd *s = arg;
    bool failing = false;
    for (;;) {
        int fd = corio_listener_accept(s->lst, NULL, NULL, CORIO_FOREVER);
        if (fd == -ECANCELED || fd == -ESHUTDOWN)
            break; /* the server is stopping, or draining (listener closed) */
        if (fd < 0) {
            /* EMFILE, ENFILE, ENOBUFS...: the connection waits in the
             * backlog. Say so once per episode, back off, accept again. */
            atomic_fetch_add_explicit(&s->accept_errors, 1, memory_order_relaxed);
            if (!failing && !s->quiet)
                fprintf(stderr, "corio-httpd: accept: %s (retrying)\n", corio_strerror(fd));
            failing = true;
            if (corio_sleep(ACCEPT_BACKOFF) == -ECANCELED)
                break;
            continue;
        }
        failing = false;
        atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
        if (atomic_fetch_add(&s->active, 1) < s->max_conns) {
            start_conn(s, fd, false);
            continue;
        }
        atomic_fetch_sub(&s->active, 1);
        atomic_fetch_add_explicit(&s->rejected, 1, memory_order_relaxed);
        if (atomic_fetch_add(&s->rejecting, 1) < MAX_REJECTING) {
            start_conn(s, fd, true);
        } else {
            atomic_fetch_sub(&s->rejecting, 1);
            close(fd); /* a flood: no 503 for this one */
        }
    }
    return 0;
}

/* ---- start and stop ---- */

int corio_httpd_create(const corio_httpd_options *opts, corio_httpd **out) {
    static const corio_httpd_options defaults = {.port = -1};
    const corio_httpd_options *o = opts ? opts : &defaults;
    if (o->loops < 0 || o->delay_ms < 0 || o->max_conns < 0 || o->idle_timeout < 0 ||
        o->port > 65535 || o->idle_timeout != o->idle_timeout)
        return -EINVAL;
    corio_httpd *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->rootfd = -1;
    s->quiet = o->quiet;
    s->delay = o->delay_ms / 1000.0;
    s->idle = o->idle_timeout > 0 ? o->idle_timeout : CORIO_HTTPD_DEFAULT_IDLE_TIMEOUT;
    s->max_conns = o->max_conns > 0 ? o->max_conns : CORIO_HTTPD_DEFAULT_MAX_CONNS;
    corio__http_limits_init(&s->lim);
    s->lim.max_body = o->max_body ? o->max_body : CORIO_HTTPD_DEFAULT_MAX_BODY;
    if (o->max_uri)
        s->lim.max_uri = o->max_uri;
    if (o->max_header_bytes)
        s->lim.max_header_bytes = o->max_header_bytes;
    /* Room for the longest head the limits allow: request line (method,
     * target, version), header section, leading empty lines. */
    s->in_max = s->lim.max_uri + s->lim.max_header_bytes + CORIO__HTTP_MAX_METHOD + 64;
    if (s->in_max < IN_INIT)
        s->in_max = IN_INIT;
    s->path_cap = s->lim.max_uri + 2;
    int r = -ENOMEM;
    s->pattern = malloc(PATTERN_LEN + 26);
    if (!s->pattern)
        goto fail;
    for (size_t i = 0; i < PATTERN_LEN + 26; i++)
        s->pattern[i] = (char)('a' + i % 26);

    const char *root = o->root ? o->root : ".";
    s->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s->rootfd < 0) {
        r = -errno;
        goto fail;
    }
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
    int probe = (int)syscall(SYS_openat2, s->rootfd, ".", &how, sizeof how);
    s->have_openat2 = probe >= 0;
    if (probe >= 0)
        close(probe);
    if (!(s->root_real = realpath(root, NULL))) {
        r = -errno;
        goto fail;
    }
    s->root_real_len = strlen(s->root_real);

    corio_runtime_options ro = {.loops = o->loops, .ring_entries = 1024};
    if ((r = corio_runtime_create(&ro, &s->rt)) < 0)
        goto fail;
    /* Any host corio_listen takes: "127.0.0.1", "::1", "[::1]", "*" (dual
     * stack), a name. The listener belongs to the runtime, so its drain
     * closes it. */
    char port[16];
    snprintf(port, sizeof port, "%d", o->port < 0 ? CORIO_HTTPD_DEFAULT_PORT : o->port);
    corio_listen_options lo = {.runtime = s->rt, .backlog = 4096};
    if ((r = corio_listen(o->bind ? o->bind : "127.0.0.1", port, &lo, &s->lst)) < 0)
        goto fail;
    s->port = corio_listener_port(s->lst);
    s->nloops = corio_runtime_loops(s->rt);
    if (!(s->watch = calloc((size_t)s->nloops, sizeof *s->watch)) ||
        !(s->tasks = calloc(2 * (size_t)s->nloops, sizeof *s->tasks))) {
        r = -ENOMEM;
        goto fail;
    }
    for (int k = 0; k < s->nloops; k++) {
        if (!(s->tasks[2 * k] = corio_spawn_on(s->rt, k, acceptor_main, s, NULL, &r)))
            goto fail;
        if (!(s->tasks[2 * k + 1] = corio_spawn_on(s->rt, k, watchdog, s, NULL, &r)))
            goto fail;
    }
    *out = s;
    return 0;
fail:
    corio_httpd_destroy(s);
    return r;
}

int corio_httpd_port(const corio_httpd *srv) {
    return srv->port;
}

void corio_httpd_stats_get(const corio_httpd *srv, corio_httpd_stats *st) {
    corio_httpd *s = (corio_httpd *)srv; /* atomic loads want non-const */
    st->accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    st->rejected = atomic_load_explicit(&s->rejected, memory_order_relaxed);
    st->accept_errors = atomic_load_explicit(&s->accept_errors, memory_order_relaxed);
    st->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    st->active = atomic_load_explicit(&s->active, memory_order_relaxed);
}

int corio_httpd_drain(corio_httpd *srv, double grace, corio_drain_summary *out) {
    if (!srv || !(grace >= 0))
        return -EINVAL;
    /* Answer what is in flight with "Connection: close", close idle
     * connections (the watchdogs), and let the runtime drain the rest: the
     * drain closes the listener first (the acceptors end with -ESHUTDOWN;
     * connections still in the backlog are reset). */
    atomic_store(&srv->draining, true);
    return corio_runtime_drain(srv->rt, corio_now_ns() + (int64_t)(grace * 1e9), out);
}

void corio_httpd_destroy(corio_httpd *srv) {
    if (!srv)
        return;
    /* The acceptors leave the listener first (it is released on their
     * loops), then the runtime cancels every coroutine: blocked calls
     * return -ECANCELED, serve() returns, conn_done closes and frees each
     * connection. */
    if (srv->lst) {
        corio_listener_close(srv->lst);
        for (int k = 0; srv->tasks && k < srv->nloops; k++)
            if (srv->tasks[2 * k])
                corio_future_result(srv->tasks[2 * k], CORIO_FOREVER, NULL);
        corio_listener_destroy(srv->lst);
    }
    corio_runtime_destroy(srv->rt);
    for (int k = 0; srv->tasks && k < 2 * srv->nloops; k++)
        if (srv->tasks[k])
            corio_future_unref(srv->tasks[k]);
    free(srv->tasks);
    if (srv->rootfd >= 0)
        close(srv->rootfd);
    free(srv->root_real);
    free(srv->pattern);
    free(srv->watch);
    free(srv);
}
