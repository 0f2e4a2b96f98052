/* corio-httpd as a module: its routes on the library's HTTP server
 * (corio/http_server.h) and the runtime it runs on, started and stopped by
 * the program (httpd_main.c) or by a test (tests/test_httpd.c). Routes:
 *   GET|HEAD /hello      200, "Hello, world!" (text/plain, 13 bytes)
 *   GET|HEAD /bytes/N    200, N bytes, byte i = 'a' + i % 26
 *   GET|HEAD /<path>     a regular file under the root (index.html for a
 *                        directory that has one), else 404
 *   other methods        405 with "Allow: GET, HEAD" (501 for a method
 *                        token HTTP does not define)
 * The manual is docs/reference/httpd.md.
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio.h"

/* Defaults of httpd_options (0 in a field means its default). */
#define HTTPD_DEFAULT_PORT 8080
#define HTTPD_DEFAULT_MAX_CONNS 10000
#define HTTPD_DEFAULT_IDLE_TIMEOUT 60.0
#define HTTPD_DEFAULT_MAX_BODY (1024u * 1024u)
/* Largest N of /bytes/N (1 TiB): larger is a 404. */
#define HTTPD_MAX_BYTES (1ull << 40)

/* How to run a server. Zero-initialise, then set fields. */
typedef struct httpd_options {
    const char *bind;        /* address or name to listen on; NULL: "127.0.0.1" */
    int port;                /* TCP port; 0: any free port (see httpd_port);
                              * negative: the default, 8080 */
    const char *root;        /* directory of the static files; NULL: "." */
    int loops;               /* corio loops (threads); 0: one per online CPU */
    int delay_ms;            /* wait this long (without blocking the loop)
                              * before each response; 0: none */
    int max_conns;           /* connections served at once; beyond, new ones get
                              * 503 and are closed; 0: 10000 */
    double idle_timeout;     /* seconds a connection may stay silent (idle,
                              * head, body and write timeouts of the server); 0: 60 */
    uint64_t max_body;       /* largest request body accepted; 0: 1 MiB */
    size_t max_uri;          /* longest request target; 0: the parser's 8 KiB */
    size_t max_header_bytes; /* largest header section; 0: the parser's 16 KiB */
    bool quiet;              /* no diagnostics on stderr */
    const char *tls_cert;    /* PEM certificate chain: serve HTTPS (with tls_key) */
    const char *tls_key;     /* its private key */
} httpd_options;

/* Counters of a running server (relaxed snapshots). */
typedef struct httpd_stats {
    uint64_t accepted;      /* connections accepted */
    uint64_t rejected;      /* connections answered 503 (over max_conns) */
    uint64_t accept_errors; /* accept failures (EMFILE, ENFILE, ...) */
    uint64_t requests;      /* requests answered (any status), counted as the answer
                             * starts: a client that has its answer finds it counted */
    int64_t active;         /* connections open now */
} httpd_stats;

/* An opaque running server. */
typedef struct httpd httpd;

/* Start a server: open the root, listen, create the runtime and its
 * acceptors. Returns 0 with the server in *out (owned by the caller: stop
 * it with httpd_destroy), or a negative code: -errno from opening
 * the root (-ENOTDIR, -ENOENT...), socket/bind/listen (-EADDRINUSE...),
 * -EINVAL for a bad option, -ENOMEM, or a corio error from the runtime.
 * `opts` (NULL: all defaults) and its strings are copied or used only
 * during the call. Call from a plain thread, not a coroutine. */
int httpd_create(const httpd_options *opts, httpd **out);

/* The port the server listens on (the one chosen when opts->port was 0). */
int httpd_port(const httpd *srv);

/* A snapshot of the server's counters. */
void httpd_stats_get(const httpd *srv, httpd_stats *st);

/* Stop: cancel every connection and acceptor coroutine (each closes its
 * socket and frees its buffers), stop the runtime, close the listening
 * socket and the root. Connections in the middle of a response are cut.
 * Call from a plain thread, never from one of the server's coroutines.
 * NULL is ignored. */
void httpd_destroy(httpd *srv);

/* Drain (SIGTERM), within `grace` seconds in all: first
 * corio_http_server_shutdown (stop accepting, finish the requests in
 * flight with "Connection: close", close idle keep-alive connections,
 * cancel what is left), then corio_runtime_drain with the rest of the
 * time for whatever else runs on the runtime (coroutines spawned by
 * handlers, blocking-pool jobs); *sum gets its counts. Then call
 * httpd_destroy. Returns 0 (all finished), 1 (some were cancelled),
 * -EINVAL (NULL, negative or NaN grace), -EALREADY (drained before). */
int httpd_drain(httpd *srv, double grace, corio_drain_summary *sum);

#endif /* HTTPD_H */
