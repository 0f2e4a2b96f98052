/* corio-httpd's routes on the library's HTTP server (corio/http_server.h):
 * /hello, /bytes/N, /metrics and static files under the root, GET and
 * HEAD only (405 with Allow otherwise, 501 for an unknown method: the
 * server's parser). Everything about connections (keep-alive, pipelining,
 * limits, timeouts, drain) is the library's. See httpd.h.
 */
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATTERN_LEN (256 * 1024) /* /bytes/N chunk; the pattern is 26 longer */

struct httpd {
    corio_runtime *rt;      /* the loops; owned */
    /* The server; owned. Atomic: create stores it after the loops may
     * already run handlers (which read it for /metrics). */
    _Atomic(corio_http_server *) srv;
    int rootfd;             /* the static files' directory; owned */
    double delay;           /* seconds before each answer */
    char *pattern;          /* PATTERN_LEN + 26 bytes of a..z repeated */
    corio_tls_context *tls; /* HTTPS: the server context; owned (NULL: plain) */
};

static int hello(corio_http_response *w) {
    int r = corio_http_response_set_header(w, "Content-Type", "text/plain");
    return r < 0 ? r : corio_http_response_write_all(w, "Hello, world!", 13);
}

static int bytes(httpd *h, corio_http_response *w, uint64_t n) {
    char cl[24];
    snprintf(cl, sizeof cl, "%llu", (unsigned long long)n);
    int r = corio_http_response_set_header(w, "Content-Type", "application/octet-stream");
    if (r == 0)
        r = corio_http_response_set_header(w, "Content-Length", cl);
    /* Whole chunks straight from the pattern (byte i is pattern[i % 26]). */
    for (uint64_t pos = 0; r == 0 && pos < n;) {
        size_t chunk = n - pos < PATTERN_LEN ? (size_t)(n - pos) : PATTERN_LEN;
        ssize_t k = corio_http_response_write(w, h->pattern + pos % 26, chunk);
        r = k < 0 ? (int)k : 0;
        pos += chunk;
    }
    return r < 0 ? r : corio_http_response_end(w);
}

/* The runtime's counters and the server's, in Prometheus' text format. */
static int metrics(httpd *h, corio_http_response *w) {
    corio_http_server_counters st;
    corio_http_server_stats(atomic_load_explicit(&h->srv, memory_order_acquire), &st);
    char own[1024];
    int k = snprintf(own, sizeof own,
                     "# HELP corio_httpd_accepted Connections accepted.\n"
                     "# TYPE corio_httpd_accepted counter\ncorio_httpd_accepted %llu\n"
                     "# HELP corio_httpd_requests Requests answered.\n"
                     "# TYPE corio_httpd_requests counter\ncorio_httpd_requests %llu\n"
                     "# HELP corio_httpd_rejected Connections answered 503.\n"
                     "# TYPE corio_httpd_rejected counter\ncorio_httpd_rejected %llu\n"
                     "# HELP corio_httpd_bad_requests Requests refused before the handler.\n"
                     "# TYPE corio_httpd_bad_requests counter\ncorio_httpd_bad_requests %llu\n"
                     "# HELP corio_httpd_active Connections being served.\n"
                     "# TYPE corio_httpd_active gauge\ncorio_httpd_active %lld\n",
                     (unsigned long long)st.accepted, (unsigned long long)st.requests,
                     (unsigned long long)st.rejected, (unsigned long long)st.bad_requests,
                     (long long)st.active);
    ssize_t need = corio_metrics_format(h->rt, NULL, 0);
    if (k < 0 || need < 0)
        return -EIO;
    char *body = malloc((size_t)need + (size_t)k + 1);
    if (!body)
        return -ENOMEM;
    ssize_t n = corio_metrics_format(h->rt, body, (size_t)need + 1);
    if (n > need)
        n = need; /* counters grew longer meanwhile: cut at what was sized */
    memcpy(body + n, own, (size_t)k);
    int r = corio_http_response_set_header(w, "Content-Type", "text/plain; version=0.0.4");
    if (r == 0)
        r = corio_http_response_write_all(w, body, (size_t)n + (size_t)k);
    free(body);
    return r;
}

static int handle(corio_http_request *req, corio_http_response *w, void *arg) {
    httpd *h = arg;
    corio_http_method m = corio_http_request_method(req);
    if (m != CORIO_HTTP_GET && m != CORIO_HTTP_HEAD)
        return corio_http_response_error(w, 405);
    if (h->delay > 0) {
        int r = corio_sleep(h->delay);
        if (r < 0)
            return r;
    }
    size_t n;
    const char *p = corio_http_request_path(req, &n);
    if (n == 6 && !memcmp(p, "/hello", 6))
        return hello(w);
    if (n == 8 && !memcmp(p, "/metrics", 8))
        return metrics(h, w);
    if (n > 7 && n <= 7 + 13 && !memcmp(p, "/bytes/", 7)) {
        uint64_t v = 0;
        size_t i = 7;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            v = v * 10 + (uint64_t)(p[i++] - '0');
        if (i == n && v <= HTTPD_MAX_BYTES)
            return bytes(h, w, v);
    }
    return corio_http_response_send_file(w, req, h->rootfd, NULL, CORIO_HTTP_FILE_INDEX);
}

int httpd_create(const httpd_options *opts, httpd **out) {
    static const httpd_options defaults = {.port = -1};
    const httpd_options *o = opts ? opts : &defaults;
    if (o->loops < 0 || o->delay_ms < 0 || o->max_conns < 0 || !(o->idle_timeout >= 0) ||
        o->port > 65535)
        return -EINVAL;
    httpd *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->rootfd = -1;
    h->delay = o->delay_ms / 1000.0;
    int r = -ENOMEM;
    if (!(h->pattern = malloc(PATTERN_LEN + 26)))
        goto fail;
    for (size_t i = 0; i < PATTERN_LEN + 26; i++)
        h->pattern[i] = (char)('a' + i % 26);
    h->rootfd = open(o->root ? o->root : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (h->rootfd < 0) {
        r = -errno;
        goto fail;
    }
    corio_runtime_options ro = {.loops = o->loops, .ring_entries = 1024};
    if ((r = corio_runtime_create(&ro, &h->rt)) < 0)
        goto fail;
    if (o->tls_cert || o->tls_key) {
        corio_tls_options to = {.role = CORIO_TLS_SERVER, .cert_file = o->tls_cert,
                                .key_file = o->tls_key, .alpn = "http/1.1"};
        if ((r = corio_tls_context_create(&to, &h->tls)) < 0) {
            if (!o->quiet && r == CORIO_ETLS_CONFIG)
                fprintf(stderr, "corio-httpd: %s\n", corio_tls_last_error());
            goto fail;
        }
    }
    double t = o->idle_timeout;
    corio_http_server_options so = {
        .tls = h->tls,
        .idle_timeout = t, .head_timeout = t, .body_timeout = t, .write_timeout = t,
        .max_conns = o->max_conns, .max_body = o->max_body ? o->max_body : HTTPD_DEFAULT_MAX_BODY,
        .max_uri = o->max_uri, .max_header_bytes = o->max_header_bytes,
        .methods = CORIO_HTTP_GET | CORIO_HTTP_HEAD, /* others: 405 and close */
        .server_name = "corio-httpd", .quiet = o->quiet};
    corio_http_server *srv;
    r = corio_http_server_create(h->rt, o->bind ? o->bind : "127.0.0.1",
                                 o->port < 0 ? HTTPD_DEFAULT_PORT : o->port, &so, handle, h,
                                 &srv);
    if (r < 0)
        goto fail;
    atomic_store_explicit(&h->srv, srv, memory_order_release);
    *out = h;
    return 0;
fail:
    httpd_destroy(h);
    return r;
}

int httpd_port(const httpd *h) { return corio_http_server_port(atomic_load((_Atomic(corio_http_server *) *)&h->srv)); }

void httpd_stats_get(const httpd *h, httpd_stats *st) {
    corio_http_server_counters c;
    corio_http_server_stats(atomic_load((_Atomic(corio_http_server *) *)&h->srv), &c);
    st->accepted = c.accepted;
    st->rejected = c.rejected;
    st->accept_errors = c.accept_errors;
    st->requests = c.requests;
    st->active = c.active;
}

int httpd_drain(httpd *h, double grace, corio_drain_summary *sum) {
    if (!h || !sum || !(grace >= 0))
        return -EINVAL;
    int64_t deadline = corio_now_ns() + (int64_t)(grace * 1e9);
    /* The server first: it knows which connections are idle (closed at
     * once) and which are answering (finished with "Connection: close"). */
    int r = corio_http_server_shutdown(atomic_load(&h->srv), grace);
    if (r < 0)
        return r;
    /* Then the rest of the runtime, with what is left of the grace time:
     * coroutines a handler spawned and blocking-pool jobs it queued. */
    int d = corio_runtime_drain(h->rt, deadline, sum);
    if (d < 0)
        return d;
    return r || sum->cancelled || sum->jobs_cancelled ? 1 : 0;
}

void httpd_destroy(httpd *h) {
    if (!h)
        return;
    corio_http_server_destroy(atomic_load(&h->srv));
    corio_runtime_destroy(h->rt);
    corio_tls_context_destroy(h->tls); /* after its connections */
    if (h->rootfd >= 0)
        close(h->rootfd);
    free(h->pattern);
    free(h);
}
