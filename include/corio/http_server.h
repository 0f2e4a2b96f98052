/**
 * @file corio/http_server.h
 * An HTTP/1.1 server on a corio runtime: one SO_REUSEPORT listener per
 * loop (corio_listen), one coroutine per connection, a handler called in
 * that coroutine for each request, answers in order (keep-alive and
 * pipelining), graceful drain, optional TLS.
 *
 *     static int hello(corio_http_request *req, corio_http_response *resp, void *arg) {
 *         corio_http_response_set_header(resp, "Content-Type", "text/plain");
 *         return corio_http_response_write_all(resp, "Hello, world!\n", 14);
 *     }
 *     ...
 *     corio_http_server *srv;
 *     int r = corio_http_server_create(rt, "127.0.0.1", 8080, NULL, hello, NULL, &srv);
 *
 * Defaults follow Go's net/http where it has one, nginx where Go has none
 * (Go leaves its timeouts off; a server on the internet cannot):
 *   head_timeout   20 s  the whole request head, from its first byte (from
 *                        the accept for a connection's first request):
 *                        a slow head gets 408 and the connection is closed
 *                        (slowloris); nginx client_header_timeout
 *   body_timeout   60 s  the whole request body, from the end of the head:
 *                        past it a read returns -ETIMEDOUT, the answer (if
 *                        none was started) is 408, the connection closed
 *   idle_timeout   60 s  a keep-alive connection waiting for its next
 *                        request is closed silently; Go's IdleTimeout
 *   write_timeout  60 s  the peer must take some of what is sent within
 *                        this; else the connection is closed; nginx
 *                        send_timeout
 *   max_header_bytes 16 KiB (431), max_headers 100 (431), max_uri 8 KiB
 *                        (414), max_body 1 MiB (413: nginx
 *                        client_max_body_size), max_conns 10000 (503)
 * Timeouts are kept by one watchdog coroutine per loop that looks at the
 * connections of its loop every min(timeout / 4, 1 s): a timeout strikes
 * between T and T + min(T / 4, 1 s), and no I/O call carries a timer.
 *
 * Framing is the server's: the request body is delivered decoded (chunked
 * or Content-Length), a response without Content-Length is sent chunked to
 * an HTTP/1.1 client and close-delimited to a 1.0 one, HEAD answers carry
 * no body, an unread request body is discarded after the handler (up to
 * 256 KiB, as Go; beyond, the connection is closed). A request the parser
 * refuses (bad syntax, smuggling attempts: Content-Length with
 * Transfer-Encoding, two Content-Lengths, obs-fold, bare CR or LF; limits)
 * is answered with its 4xx/5xx and "Connection: close" without calling the
 * handler, and the connection is closed.
 *
 * Threads: a handler runs on the loop of its connection; handlers of
 * different connections run at once on different loops. A request and its
 * response are used by the handler's coroutine only.
 */
#ifndef CORIO_HTTP_SERVER_H
#define CORIO_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "corio/common.h"
#include "corio/http.h"
#include "corio/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A running server (opaque). */
typedef struct corio_http_server corio_http_server;
/** One request, valid during the handler call that received it. */
typedef struct corio_http_request corio_http_request;
/** The answer to one request, valid during the handler call. */
typedef struct corio_http_response corio_http_response;
/** A TLS context of corio/tls.h (declared again here so that this header
 * does not need that one). */
typedef struct corio_tls_context corio_tls_context;

/** A request handler, called in the connection's coroutine. It answers
 * through `resp`; what it did not finish is finished when it returns
 * (corio_http_response_end). Return 0, or a negative code: if the answer
 * had not started, the client gets 500 (or the 4xx its body read failed
 * with: 400, 408, 413); if it had, the connection is closed (the answer
 * is cut). `req` and `resp` are valid until the handler returns. */
typedef int (*corio_http_handler)(corio_http_request *req, corio_http_response *resp,
                                  void *arg);

/** Options of corio_http_server_create. Zero-initialise, then set
 * fields: 0 in a field means its default (see the top of this file). */
typedef struct corio_http_server_options {
    double head_timeout;     /**< whole request head, seconds; 0: 20 */
    double body_timeout;     /**< whole request body, seconds; 0: 60 */
    double idle_timeout;     /**< keep-alive wait for a next request; 0: 60 */
    double write_timeout;    /**< a send making no progress; 0: 60 */
    uint64_t max_body;       /**< largest request body; 0: 1 MiB */
    size_t max_uri;          /**< longest request target; 0: 8 KiB */
    size_t max_header_bytes; /**< largest header section; 0: 16 KiB */
    size_t max_headers;      /**< most field lines in a head; 0: 100 (at most 1000) */
    int max_conns;           /**< connections served at once; beyond, 503 and close; 0: 10000 */
    int backlog;             /**< listen(2) backlog per loop; 0: 4096 */
    unsigned methods;        /**< corio_http_method mask the server accepts; others
                              *   get 405 before the handler; 0: every method */
    size_t stack_size;       /**< a connection coroutine's stack; 0: 64 KiB */
    const char *server_name; /**< value of the Server field; NULL: "corio"; "": none.
                              *   Copied. */
    corio_tls_context *tls;  /**< HTTPS with this server context (corio/tls.h);
                              *   NULL: plain HTTP. Borrowed: it must stay valid until
                              *   corio_http_server_destroy returns. The handshake is
                              *   bounded by head_timeout. */
    bool quiet;              /**< no diagnostics on stderr (accept failures) */
} corio_http_server_options;

/** Counters of a server (relaxed snapshots). */
typedef struct corio_http_server_stats {
    uint64_t accepted;      /**< connections accepted */
    uint64_t rejected;      /**< connections answered 503 (over max_conns) */
    uint64_t accept_errors; /**< accept failures (EMFILE, ENFILE, ...) */
    uint64_t requests;      /**< requests handed to the handler or refused with an answer, counted
                             *   before the first byte goes out */
    uint64_t bad_requests;  /**< requests refused by the parser or a limit (4xx/5xx
                             *   without the handler), timeouts (408) included */
    uint64_t timeouts;      /**< connections closed by a timeout */
    uint64_t tls_failures;  /**< TLS handshakes that failed */
    int64_t active;         /**< connections open now */
} corio_http_server_counters;

/* ---- the server ---- */

/** Start serving on `rt`: listen on `host`:`port` with one SO_REUSEPORT
 * socket per loop of rt (corio_listen: "127.0.0.1", "::1", "[::1]", "*",
 * a name; `port` 0: a free port, see corio_http_server_port), and run one
 * acceptor and one watchdog coroutine per loop. Each request is given to
 * `handler` with `arg`.
 * Returns 0 with the server in *out, or -EINVAL (NULL rt, host, handler or
 * out; a port outside 0..65535; a negative or NaN timeout; a bad option),
 * -ENOMEM,
 * CORIO_ESHUTDOWN (rt is draining), and the errors of corio_listen
 * (-EADDRINUSE, -EADDRNOTAVAIL, CORIO_EAI_NONAME, ...).
 * Lifetime: `host`, `opts` and its strings are read during the call only;
 * `arg` must stay valid until corio_http_server_destroy returns; the
 * server must be destroyed before rt. Call from a plain thread, or a
 * coroutine of another runtime. */
CORIO_API int corio_http_server_create(corio_runtime *rt, const char *host, int port,
                                       const corio_http_server_options *opts,
                                       corio_http_handler handler, void *arg,
                                       corio_http_server **out);

/** The port the server listens on (the one chosen for port 0).
 * Returns it, or -EINVAL for NULL. */
CORIO_API int corio_http_server_port(const corio_http_server *srv);

/** Copy the server's counters into *out. Returns 0, or -EINVAL (NULL). */
CORIO_API int corio_http_server_stats(const corio_http_server *srv,
                                      corio_http_server_counters *out);

/** Graceful drain: stop accepting (the listeners close; connections still
 * in the kernel's backlog are reset), answer the requests in flight with
 * "Connection: close", close idle keep-alive connections at once, wait
 * for the rest up to `grace_seconds`, then cancel the connections still
 * open (their coroutines end at their next blocking call) and wait for
 * them. Only this server's coroutines are waited for: rt keeps running.
 * Returns 0 when every connection ended within the grace time, 1 when
 * some had to be cancelled, or -EINVAL (NULL, negative or NaN grace),
 * -EALREADY (a second call), -EPERM (called from one of rt's loops).
 * Afterwards only corio_http_server_stats, _port and _destroy may be
 * called. */
CORIO_API int corio_http_server_shutdown(corio_http_server *srv, double grace_seconds);

/** Stop at once (a shutdown with grace 0 if none was done: connections in
 * the middle of an answer are cut), then free the server. Call from a
 * plain thread or another runtime's coroutine, before rt is destroyed.
 * NULL is ignored. */
CORIO_API void corio_http_server_destroy(corio_http_server *srv);

/* ---- the request ---- */

/** The method as a corio_http_method bit (0: cannot happen, unknown
 * methods never reach a handler), or 0 for NULL. */
CORIO_API corio_http_method corio_http_request_method(const corio_http_request *req);

/** The method token as received ("GET"), NUL-terminated; *len (may be
 * NULL) gets its length. NULL for a NULL req. Valid during the handler. */
CORIO_API const char *corio_http_request_method_str(const corio_http_request *req, size_t *len);

/** The request target as received, undecoded ("/a%20b?x=1"), NUL-terminated.
 * *len (may be NULL) gets its length. NULL for NULL. Valid during the handler. */
CORIO_API const char *corio_http_request_target(const corio_http_request *req, size_t *len);

/** The normalised path: percent-decoded once, starting with '/', with no
 * empty, "." or ".." segment and no trailing '/' ("/" for the root), so it
 * names nothing outside a directory it is resolved beneath. A target with
 * a ".." segment (raw or encoded), a NUL, a backslash or a control byte
 * never reaches the handler (400). NUL-terminated; *len (may be NULL) gets
 * its length. NULL for NULL. Valid during the handler. */
CORIO_API const char *corio_http_request_path(const corio_http_request *req, size_t *len);

/** The query: the target's bytes after the first '?' up to a '#' (raw,
 * not decoded), NUL-terminated, "" for "/a?"; NULL when the target has no
 * '?'. *len (may be NULL) gets its length. Valid during the handler. */
CORIO_API const char *corio_http_request_query(const corio_http_request *req, size_t *len);

/** Look up query parameter `name` (compared exactly, after decoding) in
 * the query's "k=v&k2=v2" pairs; the first match is decoded ('+' is a
 * space, %XX a byte) into buf[0..cap) and NUL-terminated ("k" alone gives
 * ""). Returns the decoded length, -ENOENT (not there, or no query),
 * -ENOSPC (cap too small: buf holds a truncated value), -EINVAL (NULL
 * req, name or buf, cap 0), -EILSEQ (a bad %-escape in the value).
 * Lifetime: nothing is kept. */
CORIO_API ssize_t corio_http_request_query_param(const corio_http_request *req, const char *name,
                                                 char *buf, size_t cap);

/** The value of the first field named `name` (ASCII case-insensitive),
 * not NUL-terminated, with its length in *len (may be NULL); NULL when
 * absent (or NULL arguments). Valid during the handler. O(fields). */
CORIO_API const char *corio_http_request_header(const corio_http_request *req, const char *name,
                                                size_t *len);

/** The number of field lines of the head (in received order). */
CORIO_API size_t corio_http_request_header_count(const corio_http_request *req);

/** Field line `i` (0 .. count - 1) into *out: slices valid during the
 * handler. Returns 0, -ERANGE (i out of range), -EINVAL (NULL). */
CORIO_API int corio_http_request_header_at(const corio_http_request *req, size_t i,
                                           corio_http_header *out);

/** The minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1; -EINVAL for NULL. */
CORIO_API int corio_http_request_version(const corio_http_request *req);

/** Whether the connection may carry another request after this one: the
 * client's wish (1.1 default, Connection: close, 1.0 keep-alive) and the
 * server's (not draining). */
CORIO_API bool corio_http_request_keep_alive(const corio_http_request *req);

/** The client's address, copied to `addr` (at most *addrlen bytes) and
 * *addrlen set to its full length. Returns 0 or -EINVAL (NULL). */
CORIO_API int corio_http_request_peer(const corio_http_request *req, struct sockaddr *addr,
                                      socklen_t *addrlen);

/** The declared body length (Content-Length), -1 for a chunked body
 * (length unknown), 0 for none; -EINVAL for NULL. */
CORIO_API int64_t corio_http_request_content_length(const corio_http_request *req);

/** Read body bytes, decoded (chunked framing removed), into buf[0..len).
 * The first read of a request that sent "Expect: 100-continue" first
 * sends "100 Continue" (only then: a handler that answers without reading
 * sends no 100, and the connection is then closed after its answer).
 * Waits at most `timeout` seconds (negative: no limit of its own) and
 * never past the body deadline (body_timeout). Returns the bytes read
 * (> 0), 0 at the end of the body, or -ETIMEDOUT, -ECANCELED (server
 * stopping), -EPROTO (malformed chunked framing: the answer becomes 400),
 * -EMSGSIZE (the body exceeds max_body: 413), CORIO_EUNEXPECTED_EOF (the
 * client closed or reset mid-body), -EINVAL (NULL req, NaN timeout),
 * -EFAULT (NULL buf with len > 0). Errors are sticky for the request.
 * Lifetime: `buf` is borrowed for the call. */
CORIO_API ssize_t corio_http_request_read(corio_http_request *req, void *buf, size_t len,
                                          double timeout);

/** Read the whole (rest of the) body into buf[0..cap). Returns its length,
 * -EMSGSIZE when it does not fit in cap (what fit is in buf; the rest is
 * unread), or an error of corio_http_request_read. */
CORIO_API ssize_t corio_http_request_read_all(corio_http_request *req, void *buf, size_t cap,
                                              double timeout);

/* ---- the response ---- */

/** Set the status (100..999, default 200). Returns 0, -EINVAL (NULL, out
 * of range, 1xx: the server sends 100 Continue itself), CORIO_EINVALID_STATE
 * (the head was sent). */
CORIO_API int corio_http_response_set_status(corio_http_response *resp, int status);

/** Add a field line (another one with the same name may exist). The name
 * must be a token and the value free of CR, LF and NUL (-EINVAL otherwise);
 * Transfer-Encoding is the server's (-EINVAL). "Content-Length" fixes the
 * body length (a value that is not a number is -EINVAL); "Connection:
 * close" makes this the connection's last answer. Returns 0, -EINVAL,
 * -ENOSPC (the head would pass 8 KiB), CORIO_EINVALID_STATE (head sent).
 * Both strings are copied. */
CORIO_API int corio_http_response_add_header(corio_http_response *resp, const char *name,
                                             const char *value);

/** As add_header, after removing the fields of that name (case-insensitive)
 * added before. A name or value add_header refuses (-EINVAL) removes
 * nothing. */
CORIO_API int corio_http_response_set_header(corio_http_response *resp, const char *name,
                                             const char *value);

/** Send body bytes (the head goes first, with the first call). Framing:
 * with a Content-Length set, exactly that many bytes may be written
 * (more: -EINVAL, nothing sent); without one the first bytes (up to 4 KiB)
 * are held, so that an answer ended soon after gets a Content-Length;
 * beyond, the answer is chunked (HTTP/1.1) or ends with the connection
 * (HTTP/1.0). For HEAD, 204 and 304 the bytes are counted and dropped.
 * Returns len, or -EPIPE (the client left), -ETIMEDOUT (write_timeout),
 * -ECANCELED, -EINVAL (NULL, too many bytes), -EFAULT, CORIO_EINVALID_STATE
 * (after end). After an error the answer is cut (the connection closes).
 * Lifetime: `buf` is borrowed for the call. */
CORIO_API ssize_t corio_http_response_write(corio_http_response *resp, const void *buf,
                                            size_t len);

/** Send a whole body of `len` bytes: sets Content-Length (unless set),
 * writes and ends. Returns 0 or an error of write/end. */
CORIO_API int corio_http_response_write_all(corio_http_response *resp, const void *buf,
                                            size_t len);

/** Finish the answer: the head if not sent yet (with Content-Length of
 * the bytes held), the last chunk for a chunked answer. Idempotent.
 * Returns 0, or -EPIPE, -ETIMEDOUT, -ECANCELED, -EPROTO (fewer bytes
 * written than the Content-Length set: the connection is closed), -EINVAL. */
CORIO_API int corio_http_response_end(corio_http_response *resp);

/** Answer with a short text body "<status> <reason>\n" (text/plain) and
 * end. Returns as corio_http_response_write_all; CORIO_EINVALID_STATE if
 * the head was sent. */
CORIO_API int corio_http_response_error(corio_http_response *resp, int status);

/** Whether the head was sent (then status and fields are fixed). */
CORIO_API bool corio_http_response_started(const corio_http_response *resp);

/** Flags of corio_http_response_send_file. */
enum {
    /** A directory is answered with its index.html (else 404). */
    CORIO_HTTP_FILE_INDEX = 1,
    /** Refuse symbolic links entirely (by default a link is followed while
     * it stays beneath the root). */
    CORIO_HTTP_FILE_NO_SYMLINKS = 2,
};

/** Answer with the regular file `path` (relative; NULL: the request's
 * normalised path) resolved beneath the directory `rootfd` (openat2
 * RESOLVE_BENEATH where the kernel has it, else a real-path check: no
 * "..", absolute path or symlink may lead out of the root). Sends
 * Content-Type by extension (unless set), Last-Modified, Accept-Ranges,
 * and honours If-Modified-Since (304) and a single Range (206 with
 * Content-Range; an unsatisfiable one: 416 with a Content-Range
 * giving the size; several ranges: 200 with the whole file). HEAD gets the head
 * only. The body goes with corio_sendfile (plain) or through the stream
 * (TLS). A file that is not there, not regular or not readable is a 404
 * answer (returned as 0: the request was answered). Only GET and HEAD are
 * served (else 405 with "Allow: GET, HEAD").
 * Returns 0 once answered, or -EPIPE, -ETIMEDOUT, -ECANCELED (the answer
 * was cut), -EINVAL (NULL resp or req, rootfd < 0), CORIO_EINVALID_STATE
 * (head already sent). Lifetime: `path` is read during the call. */
CORIO_API int corio_http_response_send_file(corio_http_response *resp,
                                            const corio_http_request *req, int rootfd,
                                            const char *path, unsigned flags);

/* ---- a router ---- */

/** A request router, Go's ServeMux-like (opaque). */
typedef struct corio_http_mux corio_http_mux;

/** Create an empty router. Returns 0 with *out, -EINVAL, -ENOMEM. */
CORIO_API int corio_http_mux_create(corio_http_mux **out);

/** Route `pattern` to `handler` for the methods in `methods` (a mask;
 * 0: every method; GET implies HEAD). A pattern ending in '/' is a
 * prefix ("/static/" matches "/static" and everything under it); any other
 * pattern is an exact path. The longest matching pattern wins. A request
 * whose path matches but whose method does not gets 405 with an Allow
 * field listing the methods of every matching pattern; no match: 404.
 * Returns 0, -EINVAL (NULL, pattern not starting with '/'), -EEXIST (the
 * pattern was added), -ENOMEM. Lifetime: the pattern is copied; `arg`
 * must live as long as the mux. Add every route before serving. */
CORIO_API int corio_http_mux_handle(corio_http_mux *mux, const char *pattern, unsigned methods,
                                    corio_http_handler handler, void *arg);

/** The mux as a handler: pass it to corio_http_server_create with the mux
 * as `arg`. */
CORIO_API int corio_http_mux_serve(corio_http_request *req, corio_http_response *resp,
                                   void *mux);

/** Free the router (after the server using it is destroyed). NULL is
 * ignored. */
CORIO_API void corio_http_mux_destroy(corio_http_mux *mux);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_HTTP_SERVER_H */
