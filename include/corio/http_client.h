/**
 * @file corio/http_client.h
 * An HTTP/1.1 client with a keep-alive pool per origin, in the manner of
 * Go's net/http Client and Transport: one corio_http_client is made once
 * and shared by every coroutine, loop and thread of the program.
 *
 *   corio_http_client_send ──▶ pool: idle connection of the origin, or
 *                              corio_dial (Happy Eyeballs) [+ corio_tls_connect]
 *                          ──▶ request head (+ body) written on a corio_stream
 *                          ──▶ response head parsed strictly, redirects followed
 *                          ──▶ corio_http_client_response: status, headers,
 *                              body read, streamed or collected by the caller
 *   corio_http_client_response_destroy ──▶ the connection goes back to the
 *                              pool when the body was read to its end and the
 *                              server allowed keep-alive; else it is closed.
 *
 * URLs. "http://" and "https://" (scheme case-insensitive), a host name
 * (resolved by corio_getaddrinfo inside corio_dial), an IPv4 literal or an
 * IPv6 literal in brackets ("http://[::1]:8080/x"), an optional port (80
 * and 443 by default), then path and query; a fragment is dropped. User
 * information ("user:pw@") is refused (-EINVAL): credentials belong in an
 * Authorization header. Spaces and control bytes anywhere are -EINVAL.
 *
 * Responses are parsed strictly (RFC 9112): two Content-Length fields, a
 * Content-Length together with Transfer-Encoding, a bare CR, obs-fold
 * (a field line continued on the next line), a malformed status line or
 * chunk line all fail with CORIO_EHTTP_PROTOCOL; none is ever silently
 * accepted, since each is a way for two parsers to disagree on where a
 * response ends. A bare LF as a line end is accepted (the RFC's MAY).
 * Bodies: Content-Length, chunked (decoded; trailers checked and dropped)
 * and close-delimited; a response to HEAD, 1xx (skipped), 204 and 304 has
 * none. Content codings are not decoded (no Accept-Encoding is sent).
 *
 * Connections. Pooled per origin (scheme, host, port). One is reused only
 * when its previous response was read to the end and neither side asked
 * for "Connection: close". A pooled connection the server closed meanwhile
 * is detected when taken (a non-blocking peek), or fails on first use: then
 * an idempotent request (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is sent
 * once more on a new connection; a POST or PATCH fails with the error.
 *
 * Conventions (those of corio/io.h): every call that waits suspends the
 * calling coroutine only, and blocks a plain thread; timeouts are relative
 * seconds; -ETIMEDOUT, -ECANCELED (the calling coroutine was cancelled:
 * the connection in use is closed, never pooled); errno is untouched.
 *
 * HTTPS. https:// dials, then corio_tls_connect(ctx, fd, host, ...) with
 * the URL's host as SNI and verified name; the rest is the same code on
 * the TLS stream (see options.tls for the context).
 *
 * Thread safety. A client is used from any number of coroutines, loops
 * and threads at once: its pool is guarded by one pthread mutex, held only
 * to take or return a connection (never across I/O or a suspension), and
 * its counters are atomics. A response belongs to one coroutine or thread
 * at a time, like the corio_stream under it.
 */
#ifndef CORIO_HTTP_CLIENT_H
#define CORIO_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "corio/common.h"
#include "corio/http.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A shared TLS configuration (corio/tls.h). */
typedef struct corio_tls_context corio_tls_context;

/** An HTTP client: options, connection pool, TLS context (opaque). */
typedef struct corio_http_client corio_http_client;

/** One response, its connection and its body not yet read (opaque). */
typedef struct corio_http_client_response corio_http_client_response;

/** max_redirects value: do not follow redirects (the 3xx is returned). */
#define CORIO_HTTP_NO_REDIRECTS (-1)

/** Options of corio_http_client_create. A NULL pointer or a zeroed struct
 * gives the defaults, which are Go's where Go has one. Timeouts: 0 means
 * the default, a negative value no limit, NaN -EINVAL. */
typedef struct corio_http_client_options {
    /** Connections open to one origin at most, busy and idle together;
     *  callers beyond it wait (first come, first served) for one to be
     *  handed over, bounded by their request's timeout. 0: no limit (Go's
     *  MaxConnsPerHost). */
    unsigned max_conns_per_origin;
    /** Idle connections kept per origin; 0: 2 (Go's
     *  DefaultMaxIdleConnsPerHost); negative: none (no keep-alive pool). */
    int max_idle_per_origin;
    /** Seconds an idle connection is kept; 0: 90 (Go's IdleConnTimeout).
     *  Expired connections are closed when the origin is next used or when
     *  the client is destroyed (there is no reaper thread). */
    double idle_timeout;
    /** Redirects followed per request at most; 0: 10 (Go's limit);
     *  CORIO_HTTP_NO_REDIRECTS: none, the 3xx response is returned. */
    int max_redirects;
    /** Bound on resolving and connecting (TLS handshake included); 0: 30 s
     *  (Go's net.Dialer in DefaultTransport). */
    double connect_timeout;
    /** Bound on waiting for the response head once the request is sent;
     *  0: no limit (Go's ResponseHeaderTimeout). */
    double first_byte_timeout;
    /** Bound on the whole transfer, redirects and body included, counted
     *  from corio_http_client_send; 0: no limit (Go's Client.Timeout). A
     *  request may set its own (corio_http_client_request.timeout). */
    double timeout;
    /** Largest response head (status line and fields); 0: 64 KiB. Larger:
     *  CORIO_EHTTP_HEAD_TOO_LARGE. At most 1 MiB (-EINVAL). */
    size_t max_head_bytes;
    /** TLS context for https:// (a client context). NULL: the client
     *  creates a default verifying one (system CA store) on first https
     *  use. Borrowed: it must outlive the client. */
    corio_tls_context *tls;
    /** User-Agent sent when the request sets none; NULL: "corio/<version>";
     *  "": none. Copied at create. */
    const char *user_agent;
} corio_http_client_options;

/** One request. Zero-initialise, then set fields. Every pointer is
 * borrowed for the duration of corio_http_client_send only. */
typedef struct corio_http_client_request {
    /** Method token ("GET", "POST", any RFC 9110 token); NULL: "GET". */
    const char *method;
    /** Absolute http:// or https:// URL (see the top of this file). */
    const char *url;
    /** Extra field lines, sent in order. Host and User-Agent given here
     *  replace the client's own; Content-Length, Transfer-Encoding and
     *  Connection are the client's to set (-EINVAL). Names must be tokens
     *  and values free of CR, LF and NUL (-EINVAL). */
    const corio_http_header *headers;
    /** Entries in headers. */
    size_t num_headers;
    /** Request body, sent with a Content-Length; NULL with body_len 0: no
     *  body (and no Content-Length, except "Content-Length: 0" for POST,
     *  PUT and PATCH, as Go sends). */
    const void *body;
    /** Bytes in body. */
    size_t body_len;
    /** Whole-transfer bound for this request; 0: the client's timeout;
     *  negative: none. */
    double timeout;
} corio_http_client_request;

/** Counters of one client (corio_http_client_stats). */
typedef struct corio_http_client_stats {
    uint64_t requests;    /**< request heads sent (redirects and retries included) */
    uint64_t dials;       /**< connections opened */
    uint64_t reuses;      /**< requests sent on a pooled connection */
    uint64_t retries;     /**< requests sent again after a stale connection */
    uint64_t redirects;   /**< redirects followed */
    uint64_t waits;       /**< requests that waited for max_conns_per_origin */
} corio_http_client_stats;

/** Body sink for corio_http_client_response_stream: called with each piece
 * of the decoded body, in order (`len` > 0). `data` is valid during the
 * call only. Return 0 to go on, a negative code to stop: the stream call
 * then returns that code. */
typedef int (*corio_http_body_fn)(void *arg, const void *data, size_t len);

/** Create a client. `opts` may be NULL and is read during the call only
 * (user_agent is copied; tls is borrowed).
 * Returns 0 with the client in *out.
 * Errors: -EINVAL (NULL out, NaN or bad option), -ENOMEM.
 * Lifetime: the caller owns the client; release it with
 * corio_http_client_destroy. Never blocks. */
CORIO_API int corio_http_client_create(const corio_http_client_options *opts,
                                       corio_http_client **out);

/** Close the pooled connections and free the client (and the TLS context
 * it created, if any). NULL is ignored.
 * Returns 0.
 * Errors: -EBUSY when responses are still alive or requests in progress
 * (nothing is freed: destroy them first).
 * Lifetime: the client and its pointers are invalid after success. */
CORIO_API int corio_http_client_destroy(corio_http_client *c);

/** Send one request and wait for its response head, following redirects:
 * 301, 302 and 303 turn a request other than GET or HEAD into a GET
 * without body (303 always; 301/302 for POST, as Go and browsers do), 307
 * and 308 repeat method and body; a relative Location is resolved against
 * the URL it answers; Authorization, Cookie and Proxy-Authorization are
 * dropped when a redirect leaves the origin. A 3xx without Location is
 * returned as it is. 1xx interim responses are skipped.
 * Returns 0 with the response in *out: its head is read, its body is not.
 * Any status is a success here (a 404 is a response); read
 * corio_http_client_response_status.
 * Errors: -EINVAL (NULL argument, bad URL, method or header),
 * -EPROTONOSUPPORT (a scheme other than http and https),
 * CORIO_EHTTP_PROTOCOL (malformed response, unusable Location),
 * CORIO_EHTTP_HEAD_TOO_LARGE, CORIO_EHTTP_UNSUPPORTED (a 101 upgrade or a
 * transfer coding other than chunked in a framed body, HTTP/2+),
 * CORIO_EHTTP_TOO_MANY_REDIRECTS, CORIO_EUNEXPECTED_EOF (the server closed
 * before the head was complete), -ETIMEDOUT (connect, first-byte or whole
 * transfer bound, or the wait for max_conns_per_origin), -ECANCELED, the
 * errors of corio_dial (-ECONNREFUSED, resolver codes...), and of
 * corio_tls_connect for https (CORIO_ETLS_VERIFY...), -ENOMEM.
 * Lifetime: `req` and everything it points to are read during the call
 * only. The response is the caller's: corio_http_client_response_destroy.
 * Cancel safety: a cancelled or timed-out call leaves nothing open but
 * pooled connections in a clean state. */
CORIO_API int corio_http_client_send(corio_http_client *c, const corio_http_client_request *req,
                                     corio_http_client_response **out);

/** Copy the client's counters into *out.
 * Returns 0.
 * Errors: -EINVAL (NULL).
 * Lifetime: a snapshot; each counter is read atomically. */
CORIO_API int corio_http_client_stats_get(const corio_http_client *c,
                                          corio_http_client_stats *out);

/** The status code (100..999) of response `r`.
 * Returns the status.
 * Errors: -EINVAL (NULL).
 * Lifetime: valid until the response is destroyed. */
CORIO_API int corio_http_client_response_status(const corio_http_client_response *r);

/** The reason phrase of `r`, NUL-terminated, possibly empty.
 * Returns the string, or NULL for a NULL response.
 * Errors: none besides NULL.
 * Lifetime: owned by the response, valid until it is destroyed. */
CORIO_API const char *corio_http_client_response_reason(const corio_http_client_response *r);

/** The value of the first field named `name` (ASCII case-insensitive),
 * NUL-terminated, with leading and trailing whitespace removed; its length
 * in *len when len is not NULL.
 * Returns the value, or NULL when there is no such field (or a NULL
 * argument).
 * Errors: none besides NULL.
 * Lifetime: owned by the response, valid until it is destroyed. */
CORIO_API const char *corio_http_client_response_header(const corio_http_client_response *r,
                                                        const char *name, size_t *len);

/** Every field line of `r`, in the order received; the count in *n. Each
 * name and value is also NUL-terminated.
 * Returns the array, or NULL (with *n 0) for a NULL argument.
 * Errors: none besides NULL.
 * Lifetime: owned by the response, valid until it is destroyed. */
CORIO_API const corio_http_header *corio_http_client_response_headers(
    const corio_http_client_response *r, size_t *n);

/** The declared body length of `r`.
 * Returns the Content-Length, 0 for a response without body (HEAD, 204,
 * 304), or -1 when the length is not known ahead (chunked, until close).
 * Errors: -EINVAL (NULL).
 * Lifetime: no pointer involved. */
CORIO_API int64_t corio_http_client_response_content_length(const corio_http_client_response *r);

/** The URL `r` answers: the request's, or the last redirect's target.
 * Returns a NUL-terminated string, or NULL for NULL.
 * Errors: none besides NULL.
 * Lifetime: owned by the response, valid until it is destroyed. */
CORIO_API const char *corio_http_client_response_url(const corio_http_client_response *r);

/** Read up to `len` bytes of the decoded body into `buf`, waiting at most
 * `timeout` seconds (and never past the request's whole-transfer bound).
 * Returns the bytes stored (> 0), 0 at the end of the body (every later
 * call returns 0 too).
 * Errors: -EINVAL (NULL r, NaN timeout), -EFAULT (NULL buf with len > 0),
 * CORIO_EUNEXPECTED_EOF (the server closed before the end of a
 * Content-Length or chunked body), CORIO_EHTTP_PROTOCOL (bad chunk
 * framing), -ETIMEDOUT, -ECANCELED, -ECONNRESET and other -errno. After an
 * error the response is failed: every later read returns the same code and
 * the connection will be closed.
 * Lifetime: `buf` is borrowed for the call.
 * Cancel safety: a timeout is sticky too (the framing of the connection is
 * unknown afterwards); read with a longer timeout instead of retrying. */
CORIO_API ssize_t corio_http_client_response_read(corio_http_client_response *r, void *buf,
                                                  size_t len, double timeout);

/** Read the rest of the body, handing it to `fn` piece by piece.
 * Returns 0 once the whole body was delivered.
 * Errors: those of corio_http_client_response_read, -EINVAL (NULL fn),
 * or the negative code `fn` returned (the transfer then stops and the
 * connection will be closed).
 * Lifetime: `arg` is passed through; the data handed to fn is valid during
 * each call only. */
CORIO_API int corio_http_client_response_stream(corio_http_client_response *r,
                                                corio_http_body_fn fn, void *arg,
                                                double timeout);

/** Read the rest of the body into one allocated buffer of at most `max`
 * bytes (a NUL byte is added after the data, not counted in *len).
 * Returns 0 with *data (malloc'd; the caller frees it with free()) and
 * *len set.
 * Errors: those of corio_http_client_response_read, -EINVAL (NULL data
 * or len), CORIO_EHTTP_BODY_TOO_LARGE (more than `max` bytes: nothing is
 * returned, and the connection will be closed), -ENOMEM.
 * Lifetime: *data belongs to the caller. */
CORIO_API int corio_http_client_response_collect(corio_http_client_response *r, size_t max,
                                                 void **data, size_t *len, double timeout);

/** Free the response. Its connection goes back to the pool when the body
 * was read to its end, without error, and the exchange allowed keep-alive;
 * otherwise it is closed (a body left unread is not drained). NULL is
 * ignored. Never blocks on the network.
 * Returns nothing.
 * Errors: none.
 * Lifetime: `r` and every string it returned are invalid afterwards. The
 * client must still exist. */
CORIO_API void corio_http_client_response_destroy(corio_http_client_response *r);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_HTTP_CLIENT_H */
