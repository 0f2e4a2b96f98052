/* corio — internals of the HTTP/1.1 server (runtime/http/server*.c).
 *
 *   server.c           create, shutdown, destroy, stats; per loop an
 *                      acceptor and a watchdog; a coroutine per connection
 *   server_conn.c      a connection's life: heads, handler calls, error
 *                      answers, keep-alive, linger
 *   server_request.c   the request object: accessors, query, body reader
 *   server_response.c  the response object: head, framing, writes
 *   server_file.c      static files (ranges, conditional GET, sendfile)
 *   server_mux.c       the router
 *
 * Timeouts: a connection waiting on its peer enters a cancel scope and
 * publishes it with a deadline (wd_arm); the watchdog of its loop cancels
 * the scope once the deadline passes (or at once for an idle connection
 * when draining), and the wait ends with -ECANCELED, turned into
 * -ETIMEDOUT by wd_disarm. The connection then answers (408) with ordinary
 * calls: only the scope was cancelled, not the coroutine. No I/O call
 * carries a ring timer on the hot path.
 */
#ifndef CORIO_HTTP_SERVER_INTERNAL_H
#define CORIO_HTTP_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "corio.h"
#include "corio/http_server.h"
#include "http_parser.h"

#define CORIO__HS_HOLD_CAP 4096      /* body bytes held before the head */
#define CORIO__HS_HDR_CAP 8192       /* response field lines */
#define CORIO__HS_HEAD_CAP 1024      /* a head copy up to this size (with its NUL) */
/* An answer's status line, Server and Date fields: "HTTP/1.1 " and 3
 * digits (12), a reason (at most 31) and CRLF, server_line (96), "Date: "
 * and the date (35) and CRLF. */
#define CORIO__HS_PRE_CAP 256
#define CORIO__HS_DISCARD (256 * 1024) /* unread body discarded after a handler */

/* What a connection waits for (the watchdog's deadline kinds). */
enum { CORIO__WD_NONE, CORIO__WD_HEAD, CORIO__WD_IDLE, CORIO__WD_BODY, CORIO__WD_WRITE };

typedef struct corio__hconn corio__hconn;

/* A loop's last start of a head (status line, Server, Date fields) for a
 * server, reused by the next answer of the same status in the same second
 * (send_head). Written and read by that loop's coroutines only; 64-byte
 * aligned, so that loops do not share its lines. */
typedef struct corio__hs_pre {
    _Alignas(64) time_t t; /* the second of its Date */
    int status;            /* its status; 0: none yet */
    size_t len;            /* bytes in buf */
    char buf[CORIO__HS_PRE_CAP];
} corio__hs_pre;

struct corio_http_request {
    corio__hconn *c;          /* the connection */
    corio__http_request h;    /* the head; slices into c->head */
    char *path;               /* normalised path, '/'-prefixed, NUL-terminated */
    size_t path_len;          /* strlen(path) */
    char *query;              /* query copy, NUL-terminated; NULL: no '?' */
    size_t query_len;         /* strlen(query) */
    bool keep_alive;          /* client and server agree on another request */
    bool is_head;             /* HEAD request */
    bool expect_continue;     /* sent "Expect: 100-continue" */
    bool continue_sent;       /* we sent "100 Continue" */
    bool body_done;           /* the body was read to its end */
    int body_err;             /* sticky read error (negative), 0: none */
    int body_status;          /* the answer a failed read calls for (400, 408, 413) */
    double body_deadline;     /* coarse seconds: the whole body by then */
    corio__http_body body;    /* decoder */
};

struct corio_http_response {
    corio__hconn *c;          /* the connection */
    corio_http_request *req;  /* the request answered */
    int status;               /* status code, 200 by default */
    char *hdrs;               /* field lines "Name: value\r\n" (c->extra) */
    size_t hlen;              /* bytes of hdrs */
    char *hold;               /* held body bytes (c->extra + HDR_CAP) */
    size_t hold_len;          /* bytes held */
    uint64_t cl;              /* Content-Length when has_cl */
    uint64_t written;         /* body bytes written so far */
    bool has_cl;              /* a Content-Length was set */
    bool close;               /* last answer on the connection */
    bool own_server, own_date; /* the handler set Server / Date itself */
    bool started, ended;      /* head sent; answer complete */
    bool chunked;             /* chunked framing */
    bool no_body;             /* HEAD, 1xx, 204, 304: the bytes are dropped */
    bool failed;              /* an I/O error cut the answer: close */
};

/* What the acceptor hands a connection's coroutine (corio__hs_serve): the
 * little that must outlive the coroutine or exist before it runs. Freed
 * by the future's done callback (server.c conn_done), which closes fd and
 * lowers the counters itself when serve never ran. */
typedef struct corio__hs_ticket {
    corio_http_server *srv;     /* the server */
    corio_future *future;       /* the coroutine's future (set before it runs) */
    int fd;                     /* the accepted socket */
    bool reject;                /* answer 503 and close */
    bool started;               /* serve ran: it owns fd and the counters */
    double accepted_at;         /* coarse seconds of the accept */
    socklen_t peerlen;          /* the client address's length */
    unsigned char peer[];       /* and the address, peerlen bytes */
} corio__hs_ticket;

/* A connection while its coroutine serves it: a local of corio__hs_serve,
 * so that it lives in the stack page a waiting coroutine keeps resident
 * anyway instead of on the heap (docs/benchmarks.md, memory per idle
 * connection). Other coroutines of its loop (the watchdog) reach it
 * through srv->watch while serve runs. */
struct corio__hconn {
    corio_http_server *srv;     /* the server (outlives every connection) */
    const corio__hs_ticket *tk; /* the acceptor's ticket (outlives serve) */
    corio__hconn *next, *prev;  /* in srv->watch[loop] while serve runs */
    corio_scope *scope;         /* the scope a wait runs in; NULL: not waiting */
    double deadline;            /* when the watchdog cancels scope (coarse s) */
    uint8_t dkind;              /* CORIO__WD_* of the current wait */
    uint8_t timed_out;          /* the watchdog cancelled the wait: its kind */
    bool idle;                  /* waiting for a next request, nothing received */
    int fd;                     /* the socket (owned by st once it exists) */
    int loop;                   /* the loop serving it (corio_loop_id) */
    corio_stream *st;           /* the buffered (maybe TLS) stream */
    uint64_t nreq;              /* requests answered */
    corio__http_parser p;       /* request parser */
    char *head;                 /* heap copy of a head too big for headbuf; NULL while idle */
    size_t head_cap;            /* its size */
    char *headbuf;              /* copy of a head up to HEAD_CAP bytes (in work) */
    char *extra;                /* response field lines + hold (in work); NULL while idle */
    char *xfer;                 /* TLS file transfer buffer, lazily */
    corio_http_request req;     /* the current request */
    corio_http_response resp;   /* its answer */
    void *work;                 /* the request block (hdrs, pathbuf, extra); NULL while
                                 * idle: see corio__hs_work_take */
    corio_http_header *hdrs;    /* srv->max_headers field lines (in work) */
    char *pathbuf;              /* path and query copies (in work) */
};

struct corio_http_server {
    corio_runtime *rt;          /* the caller's runtime */
    corio_listener *lst;        /* one socket per loop; owned */
    corio_http_handler handler; /* the application */
    void *arg;                  /* its argument */
    corio_tls_context *tls;     /* NULL: plain */
    int port;                   /* bound port */
    int nloops;                 /* loops of rt */
    bool quiet;                 /* no diagnostics */
    double head_t, body_t, idle_t, write_t; /* timeouts, seconds */
    double min_t;               /* the shortest of them (watchdog period) */
    int64_t max_conns;          /* connections at once */
    size_t in_max;              /* largest read buffer: the longest head */
    size_t path_cap;            /* bytes for a path (and again for the query) */
    size_t max_headers;         /* field lines per head */
    unsigned methods;           /* accepted methods */
    size_t stack_size;          /* connection stack */
    corio__http_limits lim;     /* parser limits */
    char server_line[96];       /* "Server: x\r\n" or "" */
    corio__hconn **watch;       /* per loop: its connections (that loop only) */
    corio__hs_pre *pre;         /* per loop: its cached start of a head (that loop only) */
    size_t work_size;           /* bytes of a request block */
    corio_future **tasks;       /* per loop: acceptor, watchdog */
    corio_event *gone;          /* set when draining and no connection is left */
    _Atomic int64_t open;       /* connection coroutines alive (served + rejected) */
    _Atomic int64_t active;     /* connections served (not rejects) */
    _Atomic int rejecting;      /* 503 answers in flight */
    _Atomic uint64_t accepted, rejected, accept_errors, requests, bad_requests,
        timeouts, tls_failures;
    _Atomic bool draining;      /* shutdown: close idle ones, no keep-alive */
    _Atomic bool kill;          /* shutdown's grace is over: cancel everything */
    bool shut;                  /* shutdown ran */
};

/* Coarse monotonic seconds (deadlines need a few ms of resolution). */
static inline double corio__hs_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Start a wait the watchdog bounds (see the top of the file). */
static inline void corio__wd_arm(corio__hconn *c, corio_scope *sc, double deadline, int kind) {
    corio_scope_enter(sc, CORIO_NO_DEADLINE);
    c->timed_out = 0;
    c->deadline = deadline;
    c->dkind = (uint8_t)kind;
    c->scope = sc;
}

/* End it; r is the wait's result: -ECANCELED caused by the watchdog
 * becomes -ETIMEDOUT. */
static inline long corio__wd_disarm(corio__hconn *c, corio_scope *sc, long r) {
    c->scope = NULL;
    c->deadline = 0;
    corio_scope_exit(sc);
    if (r == -ECANCELED && c->timed_out)
        return -ETIMEDOUT;
    return r;
}

/* Per-request memory (server_conn.c). A connection holds its request block
 * (header array, path and query copies, response field lines, hold and a
 * head copy up to CORIO__HS_HEAD_CAP: work_size bytes) and the heap copy
 * of a bigger head only from the first byte of a head
 * until it is idle again; in between, blocks wait in the loop thread's
 * block cache (runtime/bcache.h) for the next connection that has
 * something to parse, and give their pages back when the loop goes
 * quiet. An idle keep-alive
 * connection then costs its struct, its stream's struct and the touched
 * pages of its stack (docs/benchmarks.md, HTTP server). take: 0 or
 * -ENOMEM; give: any thread (off a loop thread the block is freed). */
int corio__hs_work_take(corio__hconn *c);
void corio__hs_work_give(corio__hconn *c);


/* server_conn.c */
int corio__hs_serve(void *arg, corio_value *out); /* arg: a corio__hs_ticket */
/* A connection counted by the acceptor (s->active, or s->rejecting for a
 * 503 answer) is gone: uncount it. Relaxed: counters, read for limits and
 * statistics only. */
static inline void corio__hs_uncount(corio_http_server *s, bool reject) {
    if (reject)
        atomic_fetch_sub_explicit(&s->rejecting, 1, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}
int corio__hs_send_error(corio__hconn *c, int status, bool is_head);
/* server_request.c */
void corio__hs_request_setup(corio__hconn *c);
int corio__hs_body_discard(corio__hconn *c, size_t max);
/* server_response.c */
void corio__hs_response_setup(corio__hconn *c);
int corio__hs_write(corio__hconn *c, const struct iovec *iov, int n);
int corio__hs_flush(corio__hconn *c);
int corio__hs_head_only(corio_http_response *w);
const char *corio__hs_date(void);

#endif /* CORIO_HTTP_SERVER_INTERNAL_H */
