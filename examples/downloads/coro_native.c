/* corio-downloads — the native client: corio_http_client, from coroutines.
 *
 * One GET per call, from a coroutine. The library does the work: corio_dial
 * (Happy Eyeballs over corio_getaddrinfo), TLS for https:// through
 * corio_tls_connect, the request, strict response parsing, keep-alive
 * pooling and the stale-connection retry (see corio/http_client.h). This
 * file only turns a URL into a request and a body into a file.
 *
 * One client per loop (slot k is touched only by loop k's coroutines, and
 * coroutines never migrate, so the slots need no lock): each loop's pooled
 * connections serve its own transfers and the client's lock is never
 * contended across loops. The TLS context (--insecure, --cacert) is made
 * once by dl_native_init and shared by every loop's client, so TLS
 * sessions are resumed across loops.
 *
 * Bodies are read with corio_http_client_response_read into a per-loop
 * buffer of --bufsize bytes: a read at least as large as the stream's
 * buffer goes straight from the socket (or from TLS) into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "downloads.h"

#define MAX_LOOPS 256

/* Everything one loop keeps between transfers. */
typedef struct loop_state {
    corio_http_client *client; /* this loop's client and pool */
    char **bufs;               /* free receive buffers */
    size_t nbufs;              /* entries used in bufs */
    size_t capbufs;            /* entries allocated in bufs */
    size_t bufsize;            /* size of every buffer */
} loop_state;

/* Indexed by loop id; slot k is touched only by loop k's coroutines. */
static loop_state *states[MAX_LOOPS];
/* The https context every loop's client borrows (NULL: none yet). */
static corio_tls_context *tls_ctx;

int dl_native_init(const dl_options *o, char *err, size_t errlen) {
    if (!o->https)
        return 0;
    corio_tls_options to = {.role = CORIO_TLS_CLIENT, .insecure = o->insecure,
                            .ca_file = o->cacert};
    int rc = corio_tls_context_create(&to, &tls_ctx);
    if (rc < 0)
        snprintf(err, errlen, "TLS: %s%s%s", corio_strerror(rc),
                 *corio_tls_last_error() ? ": " : "", corio_tls_last_error());
    return rc;
}

void dl_native_fini(void) {
    corio_tls_context_destroy(tls_ctx);
    tls_ctx = NULL;
}

static loop_state *state_get(const dl_options *o) {
    int id = corio_loop_id();
    if (id < 0 || id >= MAX_LOOPS)
        return NULL;
    if (!states[id]) {
        loop_state *s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        /* Go's defaults, but a pool as deep as the window: every transfer
         * in flight on this loop may leave its connection for the next. */
        corio_http_client_options co = {
            .max_idle_per_origin = o->concurrency,
            .max_redirects = 10,
            .tls = tls_ctx,
            .user_agent = "corio-downloads",
        };
        if (corio_http_client_create(&co, &s->client) < 0) {
            free(s);
            return NULL;
        }
        s->bufsize = o->bufsize;
        states[id] = s;
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
    corio_http_client_destroy(s->client);
    for (size_t i = 0; i < s->nbufs; i++)
        free(s->bufs[i]);
    free(s->bufs);
    free(s);
    states[id] = NULL;
}

bool dl_native_url(const char *url) {
    return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
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

/* The host:port part of an http(s) URL, for messages. */
static void url_authority(const char *url, char *out, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    snprintf(out, cap, "%.*s", (int)n, p);
}

/* Describe a failure of corio_http_client_send. */
static void send_failed(const dl_options *o, const char *url, int rc, dl_result *r) {
    char auth[280];
    url_authority(url, auth, sizeof auth);
    switch (rc) {
    case -ETIMEDOUT:
        dl_fail(r, rc, "timed out after %.3g s", o->timeout);
        break;
    case -ECONNREFUSED:
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case CORIO_EAI_NONAME:
    case CORIO_EAI_AGAIN:
    case CORIO_EAI_FAIL:
    case CORIO_EAI_NODATA:
        dl_fail(r, rc, "connect to %s: %s", auth, corio_strerror(rc));
        break;
    case CORIO_ETLS_VERIFY:
    case CORIO_ETLS_HANDSHAKE:
    case CORIO_ETLS_PROTOCOL:
        dl_fail(r, rc, "TLS with %s: %s%s%s", auth, corio_strerror(rc),
                *corio_tls_last_error() ? ": " : "", corio_tls_last_error());
        break;
    default:
        dl_fail(r, rc, "%s", corio_strerror(rc));
    }
}

void dl_native_fetch(const dl_options *o, const char *url, const char *out_path, dl_result *r) {
    double t0 = dl_now();
    r->code = 0;
    r->status = 0;
    r->bytes = 0;
    r->error[0] = 0;
    loop_state *s = state_get(o);
    corio_http_client_response *resp = NULL;
    int out_fd = -1;
    char *buf = NULL;
    if (!s) {
        dl_fail(r, -ENOMEM, "no loop state");
        goto out;
    }
    static const corio_http_header accept = {"Accept", 6, "*/*", 3};
    corio_http_client_request rq = {.url = url, .headers = &accept, .num_headers = 1,
                                    .timeout = o->timeout > 0 ? o->timeout : -1};
    int rc = corio_http_client_send(s->client, &rq, &resp);
    if (rc < 0) {
        send_failed(o, url, rc, r);
        goto out;
    }
    r->status = corio_http_client_response_status(resp);
    if (r->status < 200 || r->status > 299) {
        dl_fail(r, -EPROTO, "HTTP %d %s", r->status, corio_http_client_response_reason(resp));
        goto out; /* destroying the unread response closes its connection */
    }
    if (out_path) {
        out_fd = corio_openat(AT_FDCWD, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644,
                              CORIO_FOREVER);
        if (out_fd < 0) {
            dl_fail(r, out_fd, "cannot create %s: %s", out_path, corio_strerror(out_fd));
            goto out;
        }
    }
    if (!(buf = buf_get(s))) {
        dl_fail(r, -ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = corio_http_client_response_read(resp, buf, s->bufsize, CORIO_FOREVER);
        if (n == 0)
            break;
        if (n < 0) {
            if (n == -ETIMEDOUT)
                dl_fail(r, (int)n, "timed out after %.3g s", o->timeout);
            else if (n == CORIO_EUNEXPECTED_EOF)
                dl_fail(r, (int)n, "connection closed after %llu body bytes",
                        (unsigned long long)r->bytes);
            else
                dl_fail(r, (int)n, "%s", corio_strerror((int)n));
            goto out;
        }
        if ((rc = sink_write(out_fd, buf, (size_t)n)) < 0) {
            dl_fail(r, rc, "write: %s", corio_strerror(rc));
            goto out;
        }
        r->bytes += (uint64_t)n;
    }
out:
    corio_http_client_response_destroy(resp);
    if (buf)
        buf_put(s, buf);
    if (out_fd >= 0)
        corio_close(out_fd);
    if (r->code < 0)
        r->bytes = 0;
    r->ms = (dl_now() - t0) * 1e3;
}
