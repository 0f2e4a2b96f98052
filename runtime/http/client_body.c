/* corio — HTTP client: the response object and its body.
 *
 * The head was copied out of the stream by client_request.c; the body is
 * read from the stream on demand:
 *   - Content-Length: corio_stream_read of at most the bytes still due, so
 *     a read never takes bytes of a next response; a read of a buffer at
 *     least as large as the stream's (16 KiB) receives straight into the
 *     caller's memory, and on a plain socket with nothing buffered a read
 *     of 16 KiB or more is one MSG_WAITALL receive of what is due;
 *   - chunked: the stream's buffered bytes (a peek view) are decoded by
 *     corio__http_body_decode straight into the caller's buffer, and what
 *     the decoder used is consumed;
 *   - close-delimited: plain reads until the end of the stream; such a
 *     connection is never reused.
 * Any error is sticky (r->error), and a response with an error, or whose
 * body was not read to its end, closes its connection when destroyed.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "client_internal.h"
#include "corio/error.h"
#include "corio/io.h"
#include "internal.h"

/* Reads of at least this many body bytes on a plain socket use one
 * MSG_WAITALL receive (see corio_http_client_response_read): the stream's
 * read buffer size, below which a read through the stream is as cheap. */
#define WAITALL_MIN (16u * 1024u)

/* Scratch buffer of corio_http_client_response_stream. */
#define STREAM_CHUNK (64u * 1024u)

CORIO_API int corio_http_client_response_status(const corio_http_client_response *r) {
    return r ? r->status : -EINVAL;
}

CORIO_API const char *corio_http_client_response_reason(const corio_http_client_response *r) {
    return r ? r->reason : NULL;
}

CORIO_API const char *corio_http_client_response_header(const corio_http_client_response *r,
                                                        const char *name, size_t *len) {
    if (len)
        *len = 0;
    if (!r || !name)
        return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].name_len == nl && !strncasecmp(r->headers[i].name, name, nl)) {
            if (len)
                *len = r->headers[i].value_len;
            return r->headers[i].value;
        }
    return NULL;
}

CORIO_API const corio_http_header *corio_http_client_response_headers(
    const corio_http_client_response *r, size_t *n) {
    if (n)
        *n = r ? r->nheaders : 0;
    if (!r || !n)
        return NULL;
    return r->headers;
}

CORIO_API int64_t corio_http_client_response_content_length(const corio_http_client_response *r) {
    return r ? r->content_length : -EINVAL;
}

CORIO_API const char *corio_http_client_response_url(const corio_http_client_response *r) {
    return r ? r->url : NULL;
}

/* Record a sticky error and return it. */
static ssize_t fail(corio_http_client_response *r, int code) {
    r->error = code;
    return code;
}

/* Chunked: decode from the stream's buffer into buf. */
static ssize_t read_chunked(corio_http_client_response *r, corio_stream *s, char *buf, size_t len,
                            int64_t d) {
    size_t want = 1;
    for (;;) {
        const void *v;
        ssize_t n = corio_stream_peek(s, want, &v, corio__http_left(d));
        if (n < 0)
            return fail(r, (int)n);
        if ((size_t)n < want)
            return fail(r, CORIO_EUNEXPECTED_EOF);
        size_t used = 0, out_len = 0;
        int dr = corio__http_body_decode(&r->body, v, (size_t)n, &used, buf, len, &out_len);
        corio_stream_consume(s, used);
        if (dr < 0)
            return fail(r, corio__http_client_parse_error(dr));
        if (dr == CORIO__HTTP_DONE)
            r->done = true;
        if (out_len > 0 || r->done)
            return (ssize_t)out_len;
        /* Nothing decoded: a partial chunk line stays buffered; wait for
         * at least one byte more than is there now. */
        want = (size_t)n - used + 1;
    }
}

CORIO_API ssize_t corio_http_client_response_read(corio_http_client_response *r, void *buf,
                                                  size_t len, double timeout) {
    if (!r || isnan(timeout))
        return -EINVAL;
    if (!buf && len > 0)
        return -EFAULT;
    if (r->error)
        return r->error;
    if (r->done || len == 0)
        return 0;
    if (!r->conn || !r->conn->s)
        return fail(r, -EPIPE);
    corio_stream *s = r->conn->s;
    int64_t d = corio__http_min_deadline(r->deadline, timeout);
    ssize_t n;
    switch (r->kind) {
    case CORIO__HTTP_BODY_LENGTH: {
        uint64_t due = (uint64_t)r->content_length - r->body_read;
        size_t want = len < due ? len : (size_t)due;
        if (want >= WAITALL_MIN && corio_stream_buffered(s) == 0 &&
            !corio__http_stream_is_tls(s))
            /* Nothing buffered on a plain socket: receive the bytes still
             * due (never more) straight into buf, with MSG_WAITALL, so a
             * large body costs one completion per buffer-full rather than
             * one per batch of TCP segments. The stream's buffer is empty
             * and stays so; a timeout or error here fails the response,
             * so bytes a cut-short receive took cannot be missed. */
            n = corio_recv(corio_stream_fd(s), buf, want, MSG_WAITALL, corio__http_left(d));
        else
            n = corio_stream_read(s, buf, want, corio__http_left(d));
        if (n == 0)
            return fail(r, CORIO_EUNEXPECTED_EOF);
        if (n < 0)
            return fail(r, (int)n);
        r->body_read += (uint64_t)n;
        if (r->body_read == (uint64_t)r->content_length)
            r->done = true;
        return n;
    }
    case CORIO__HTTP_BODY_CLOSE:
        n = corio_stream_read(s, buf, len, corio__http_left(d));
        if (n < 0)
            return fail(r, (int)n);
        if (n == 0)
            r->done = true;
        r->body_read += (uint64_t)n;
        return n;
    case CORIO__HTTP_BODY_CHUNKED:
        n = read_chunked(r, s, buf, len, d);
        if (n > 0)
            r->body_read += (uint64_t)n;
        return n;
    default:
        r->done = true;
        return 0;
    }
}

CORIO_API int corio_http_client_response_stream(corio_http_client_response *r,
                                                corio_http_body_fn fn, void *arg,
                                                double timeout) {
    if (!r || !fn || isnan(timeout))
        return -EINVAL;
    if (r->error)
        return r->error;
    if (r->done)
        return 0;
    char *buf = malloc(STREAM_CHUNK);
    if (!buf)
        return -ENOMEM;
    int64_t d = corio__deadline(timeout);
    int rc = 0;
    for (;;) {
        ssize_t n = corio_http_client_response_read(r, buf, STREAM_CHUNK, corio__http_left(d));
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        int cr = fn(arg, buf, (size_t)n);
        if (cr < 0) {
            rc = (int)fail(r, cr);
            break;
        }
    }
    free(buf);
    return rc;
}

CORIO_API int corio_http_client_response_collect(corio_http_client_response *r, size_t max,
                                                 void **data, size_t *len, double timeout) {
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!r || !data || !len || isnan(timeout))
        return -EINVAL;
    if (r->error)
        return r->error;
    if (r->content_length > 0 && (uint64_t)r->content_length - r->body_read > max)
        return (int)fail(r, CORIO_EHTTP_BODY_TOO_LARGE);
    size_t cap = r->content_length >= 0 ? (size_t)r->content_length - (size_t)r->body_read + 1
                                        : 16384;
    if (cap > max + 1)
        cap = max + 1;
    char *b = malloc(cap);
    if (!b)
        return -ENOMEM;
    size_t n = 0;
    int64_t d = corio__deadline(timeout);
    for (;;) {
        if (r->done)
            break;
        if (n + 1 >= cap) {
            if (cap > max + 1) { /* room for max and the NUL is already there */
                free(b);
                return (int)fail(r, CORIO_EHTTP_BODY_TOO_LARGE);
            }
            size_t nc = cap * 2 > max + 2 ? max + 2 : cap * 2;
            char *nb = realloc(b, nc);
            if (!nb) {
                free(b);
                return -ENOMEM;
            }
            b = nb;
            cap = nc;
        }
        ssize_t k = corio_http_client_response_read(r, b + n, cap - n - 1, corio__http_left(d));
        if (k < 0) {
            free(b);
            return (int)k;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max) {
            free(b);
            return (int)fail(r, CORIO_EHTTP_BODY_TOO_LARGE);
        }
    }
    b[n] = '\0';
    *data = b;
    *len = n;
    return 0;
}

CORIO_API void corio_http_client_response_destroy(corio_http_client_response *r) {
    if (!r)
        return;
    if (r->conn)
        corio__http_pool_put(r->client, r->conn, r->done && !r->error && r->keep_alive);
    atomic_fetch_sub(&r->client->live, 1);
    free(r->headers);
    free(r->strings);
    free(r->url);
    free(r);
}
