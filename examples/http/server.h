/* corio-httpd as a module: an HTTP/1.1 server on corio loops, started and
 * stopped by a program (httpd_main.c) or by a test (tests/test_httpd.c).
 *
 * One listening socket, shared by one acceptor coroutine per loop (a
 * multishot accept each); one coroutine per connection. Routes:
 *   GET|HEAD /hello      200, "Hello, world!" (text/plain, 13 bytes)
 *   GET|HEAD /bytes/N    200, N bytes, byte i = 'a' + i % 26
 *   GET|HEAD /<path>     a regular file under the root (index.html for a
 *                        directory that has one), else 404
 *   other methods        405 with "Allow: GET, HEAD" (501 for a method
 *                        token HTTP does not define)
 * The manual is docs/reference/httpd.md; the step-by-step build-up of this
 * file is docs/http-tutorial.md.
 */
#ifndef CORIO_HTTPD_SERVER_H
#define CORIO_HTTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio.h"

/* Defaults of corio_httpd_options (0 in a field means its default). */
#define CORIO_HTTPD_DEFAULT_PORT 8080
#define CORIO_HTTPD_DEFAULT_MAX_CONNS 10000
#define CORIO_HTTPD_DEFAULT_IDLE_TIMEOUT 60.0
#define CORIO_HTTPD_DEFAULT_MAX_BODY (1024u * 1024u)
/* Largest N of /bytes/N (1 TiB): larger is a 404. */
#define CORIO_HTTPD_MAX_BYTES (1ull << 40)

/* How to run a server. Zero-initialise, then set fields. */
typedef struct corio_httpd_options {
    const char *bind;        /* IPv4 address to listen on; NULL: "127.0.0.1" */
    int port;                /* TCP port; 0: any free port (see corio_httpd_port);
                              * negative: the default, 8080 */
    const char *root;        /* directory of the static files; NULL: "." */
    int loops;               /* corio loops (threads); 0: one per online CPU */
    int delay_ms;            /* wait this long (without blocking the loop)
                              * before each response; 0: none */
    int max_conns;           /* connections served at once; beyond, new ones get
                              * 503 and are closed; 0: 10000 */
    double idle_timeout;     /* seconds a connection may stay silent; 0: 60 */
    uint64_t max_body;       /* largest request body accepted; 0: 1 MiB */
    size_t max_uri;          /* longest request target; 0: the parser's 8 KiB */
    size_t max_header_bytes; /* largest header section; 0: the parser's 16 KiB */
    bool quiet;              /* no diagnostics on stderr */
} corio_httpd_options;

/* Counters of a running server (relaxed snapshots). */
typedef struct corio_httpd_stats {
    uint64_t accepted;      /* connections accepted */
    uint64_t rejected;      /* connections answered 503 (over max_conns) */
    uint64_t accept_errors; /* accept failures (EMFILE, ENFILE, ...) */
    uint64_t requests;      /* requests answered (any status), counted as the answer
                             * starts: a client that has its answer finds it counted */
    int64_t active;         /* connections open now */
} corio_httpd_stats;

/* An opaque running server. */
typedef struct corio_httpd corio_httpd;

/* Start a server: open the root, listen, create the runtime and its
 * acceptors. Returns 0 with the server in *out (owned by the caller: stop
 * it with corio_httpd_destroy), or a negative code: -errno from opening
 * the root (-ENOTDIR, -ENOENT...), socket/bind/listen (-EADDRINUSE...),
 * -EINVAL for a bad option, -ENOMEM, or a corio error from the runtime.
 * `opts` (NULL: all defaults) and its strings are copied or used only
 * during the call. Call from a plain thread, not a coroutine. */
int corio_httpd_create(const corio_httpd_options *opts, corio_httpd **out);

/* The port the server listens on (the one chosen when opts->port was 0). */
int corio_httpd_port(const corio_httpd *srv);

/* A snapshot of the server's counters. */
void corio_httpd_stats_get(const corio_httpd *srv, corio_httpd_stats *st);

/* Stop: cancel every connection and acceptor coroutine (each closes its
 * socket and frees its buffers), stop the runtime, close the listening
 * socket and the root. Connections in the middle of a response are cut.
 * Call from a plain thread, never from one of the server's coroutines.
 * NULL is ignored. */
void corio_httpd_destroy(corio_httpd *srv);

/* Drain (SIGTERM): stop accepting, finish the requests in flight (each
 * answered with "Connection: close"), close idle keep-alive connections,
 * and after `grace` seconds cancel what is left (corio_runtime_drain).
 * Fills *out (may be NULL) with the drain's counts. Then call
 * corio_httpd_destroy. Returns 0, -EINVAL, -EALREADY (drained before). */
int corio_httpd_drain(corio_httpd *srv, double grace, corio_drain_summary *out);

#endif /* CORIO_HTTPD_SERVER_H */
