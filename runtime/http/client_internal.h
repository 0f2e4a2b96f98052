/* corio — HTTP client internals, shared by runtime/http/client_*.c.
 *
 * Files, one concept each:
 *   client_url.c      URL parsing, origin keys, Location resolution
 *   client_pool.c     the client object, its per-origin pool and limit,
 *                     dialling (plain and TLS)
 *   client_request.c  one exchange: request head, response head, stale
 *                     connection retry, redirects
 *   client_body.c     the response object: accessors, body read, stream,
 *                     collect, destroy
 *
 * Lock order: there is one lock, corio_http_client.lock (a pthread mutex).
 * It guards the origin list and everything in an origin (its idle list, its
 * connection count, its wait queue). It is held for list operations only:
 * never across I/O, a suspension, or a call that can block (the streams of
 * connections taken out of the pool are closed after it is released).
 */
#ifndef CORIO_HTTP_CLIENT_INTERNAL_H
#define CORIO_HTTP_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "corio/http_client.h"
#include "corio/stream.h"
#include "corio/sync.h"
#include "http_parser.h"

/* Longest host name (RFC 1035's 253, with room for an IPv6 zone). */
#define CORIO__HTTP_HOST_MAX 256
/* Origin key "https://host:port", NUL included. */
#define CORIO__HTTP_KEY_MAX (8 + CORIO__HTTP_HOST_MAX + 8)
/* Field lines kept from one response head at most. */
#define CORIO__HTTP_CLIENT_MAX_FIELDS 256

/* A parsed absolute URL. */
typedef struct corio__http_url {
    bool tls;                        /* https */
    bool ipv6;                       /* host is an IPv6 literal (bracketed
                                      * in the URL and in Host) */
    bool default_port;               /* port is the scheme's default */
    char host[CORIO__HTTP_HOST_MAX]; /* host, without brackets, as written */
    char port[6];                    /* decimal port */
    char *target;                    /* malloc'd "/path?query", never empty */
} corio__http_url;

/* Parse `url` (NUL-terminated). Returns 0 with *u filled (release with
 * corio__http_url_fini), -EINVAL (malformed, userinfo, space or control
 * byte, bad port), -EPROTONOSUPPORT (another scheme), -ENOMEM. */
int corio__http_url_parse(const char *url, corio__http_url *u);

/* Free what *u holds; safe on a zeroed or finished url. */
void corio__http_url_fini(corio__http_url *u);

/* Resolve the reference ref[0..len) (a Location value) against `base`
 * (RFC 3986 section 5.2, fragment dropped) into *out. Returns as
 * corio__http_url_parse. */
int corio__http_url_resolve(const corio__http_url *base, const char *ref, size_t len,
                            corio__http_url *out);

/* The URL as text, malloc'd ("http://[::1]:8080/x"), or NULL (no memory). */
char *corio__http_url_format(const corio__http_url *u);

/* The origin key "scheme://host:port" (host lowercased) into key[KEY_MAX]. */
void corio__http_url_origin(const corio__http_url *u, char *key);

/* One connection: a stream, plain or TLS, to one origin. */
typedef struct corio__http_conn {
    corio_stream *s;                  /* the stream (owns the socket) */
    struct corio__http_origin *origin; /* the origin it belongs to */
    int64_t idle_since;               /* CLOCK_MONOTONIC ns when pooled */
    struct corio__http_conn *next;    /* next idle connection of the origin */
} corio__http_conn;

/* A caller waiting for max_conns_per_origin. Lives on the waiter's stack;
 * the releasing side fills conn or unit and sets ev, under the lock. */
typedef struct corio__http_waiter {
    corio_event *ev;                  /* set when something was handed over */
    corio__http_conn *conn;           /* a connection handed over, or NULL */
    bool unit;                        /* permission to dial a new one */
    struct corio__http_waiter *next;  /* next in the origin's FIFO */
} corio__http_waiter;

/* Everything the pool keeps per origin. Never freed before the client. */
typedef struct corio__http_origin {
    char key[CORIO__HTTP_KEY_MAX];     /* "scheme://host:port" */
    unsigned conns;                    /* open connections, busy and idle,
                                        * plus dials in progress */
    unsigned nidle;                    /* entries in idle */
    corio__http_conn *idle;            /* idle connections, newest first */
    corio__http_waiter *wq_head;       /* callers waiting, oldest first */
    corio__http_waiter *wq_tail;       /* newest waiter */
    struct corio__http_origin *next;   /* next origin of the client */
} corio__http_origin;

struct corio_http_client {
    pthread_mutex_t lock;              /* see the top of this file */
    corio__http_origin *origins;       /* every origin used so far */
    unsigned max_conns;                /* max_conns_per_origin, 0: none */
    unsigned max_idle;                 /* idle kept per origin */
    int64_t idle_timeout_ns;           /* idle lifetime */
    int max_redirects;                 /* redirects followed; 0: none */
    double connect_timeout;            /* negative: none */
    double first_byte_timeout;         /* negative: none */
    double timeout;                    /* whole transfer; negative: none */
    size_t max_head;                   /* max_head_bytes */
    char *user_agent;                  /* malloc'd, NULL: send none */
    corio_tls_context *tls;            /* https context, NULL until needed */
    bool tls_owned;                    /* tls was created here */
    atomic_long live;                  /* responses alive + calls running */
    atomic_uint_fast64_t n_requests;   /* stats, see corio_http_client_stats */
    atomic_uint_fast64_t n_dials;
    atomic_uint_fast64_t n_reuses;
    atomic_uint_fast64_t n_retries;
    atomic_uint_fast64_t n_redirects;
    atomic_uint_fast64_t n_waits;
};

struct corio_http_client_response {
    corio_http_client *client;         /* the client it came from */
    corio__http_conn *conn;            /* its connection, NULL once released */
    int status;                        /* status code */
    char *reason;                      /* NUL-terminated, into strings */
    char *strings;                     /* malloc'd copy of reason, names and
                                        * values, each NUL-terminated */
    corio_http_header *headers;        /* malloc'd, slices into strings */
    size_t nheaders;                   /* entries in headers */
    corio__http_body body;             /* body decoder */
    uint8_t kind;                      /* corio__http_body_kind */
    int64_t content_length;            /* declared, -1 unknown */
    uint64_t body_read;                /* decoded body bytes handed out */
    bool keep_alive;                   /* the exchange allows reuse */
    bool done;                         /* the body was read to its end */
    int error;                         /* sticky error, 0 when none */
    int64_t deadline;                  /* whole-transfer deadline (ns) */
    char *url;                         /* malloc'd URL it answers */
};

/* Seconds from now to the absolute deadline `ns`, CORIO_FOREVER for
 * INT64_MAX, a tiny positive value once passed (so the call times out). */
double corio__http_left(int64_t ns);

/* The earlier of `ns` and now + timeout (timeout < 0: none). */
int64_t corio__http_min_deadline(int64_t ns, double timeout);

/* Take a connection for `u`: an idle one of its origin (*reused true) or a
 * newly dialled one, waiting for max_conns_per_origin until `deadline`.
 * Returns 0 with *out, or the error of the dial or of the wait. */
int corio__http_pool_get(corio_http_client *c, const corio__http_url *u, int64_t deadline,
                         corio__http_conn **out, bool *reused);

/* Replace the stream of `conn` (found stale) with a new connection to the
 * same origin, keeping its place in the origin's count. Returns 0, or the
 * dial's error (conn->s is then NULL; release conn with reusable false). */
int corio__http_pool_redial(corio_http_client *c, corio__http_conn *conn,
                            const corio__http_url *u, int64_t deadline);

/* Return `conn`: to a waiter, to the idle list, or closed (!reusable, or
 * the idle list is full). */
void corio__http_pool_put(corio_http_client *c, corio__http_conn *conn, bool reusable);

/* TLS glue (client_tls.c). Open a client TLS stream over connected `fd`
 * for `host`, creating the client's default context on first use; on
 * failure fd stays the caller's. */
int corio__http_tls_open(corio_http_client *c, int fd, const char *host,
                         const corio_stream_options *so, double timeout, corio_stream **out);
/* Whether `s` is a TLS stream. */
bool corio__http_stream_is_tls(const corio_stream *s);
/* Release a context the client created. */
void corio__http_tls_context_destroy(corio_tls_context *ctx);

/* Map a negative status from the parser to a client error code. */
int corio__http_client_parse_error(int st);

#endif /* CORIO_HTTP_CLIENT_INTERNAL_H */
