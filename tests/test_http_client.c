/* Tests for the HTTP client (corio/http_client.h) against the scripted
 * origin of t_http_origin.h on 127.0.0.1. Most tests call the client from
 * the test's plain thread (the client's calls block a thread as they
 * suspend a coroutine); the concurrency tests run it from coroutines on
 * several loops and from threads at once. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"
#include "t_helpers.h"
#include "t_http_origin.h"

static t_origin srv;
static char url[512];

static const char *U(const char *path) { return t_origin_url(&srv, path, url, sizeof url); }

static corio_http_client *t_client(const corio_http_client_options *o) {
    corio_http_client *c;
    ck_assert_int_eq(corio_http_client_create(o, &c), 0);
    return c;
}

/* GET `path`, collect the body; returns the send/collect code. */
static int t_get(corio_http_client *c, const char *path, int *status, char **body, size_t *len) {
    corio_http_client_request rq = {.url = U(path)};
    corio_http_client_response *r;
    *body = NULL;
    int rc = corio_http_client_send(c, &rq, &r);
    if (rc < 0)
        return rc;
    *status = corio_http_client_response_status(r);
    void *d;
    rc = corio_http_client_response_collect(r, 1 << 24, &d, len, 10.0);
    *body = d;
    corio_http_client_response_destroy(r);
    return rc;
}

static void setup(void) { t_origin_start(&srv); }
static void teardown(void) { t_origin_stop(&srv); }

START_TEST(test_bad_arguments) {
    corio_http_client *c;
    ck_assert_int_eq(corio_http_client_create(NULL, NULL), -EINVAL);
    corio_http_client_options bad = {.connect_timeout = 0.0 / 0.0};
    ck_assert_int_eq(corio_http_client_create(&bad, &c), -EINVAL);
    corio_http_client_options bad2 = {.max_head_bytes = 1u << 30};
    ck_assert_int_eq(corio_http_client_create(&bad2, &c), -EINVAL);
    c = t_client(NULL);
    corio_http_client_response *r = (void *)1;
    corio_http_client_request rq = {.url = NULL};
    ck_assert_int_eq(corio_http_client_send(NULL, &rq, &r), -EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), -EINVAL);
    const char *bad_urls[] = {"", "127.0.0.1/x", "http://", "http:///x", "http://a b/",
                              "http://h:0/", "http://h:65536/", "http://h:12a/", "http://u@h/",
                              "http://[::1/", "http://h/a\rb", "http://[::1]x/"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        rq.url = bad_urls[i];
        ck_assert_msg(corio_http_client_send(c, &rq, &r) == -EINVAL, "%s", bad_urls[i]);
    }
    rq.url = "ftp://h/x";
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), -EPROTONOSUPPORT);
    rq.url = U("/echo");
    rq.method = "GE T";
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), -EINVAL);
    rq.method = NULL;
    corio_http_header h = {"Content-Length", 14, "5", 1};
    rq.headers = &h;
    rq.num_headers = 1;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), -EINVAL);
    corio_http_header h2 = {"X-Bad", 5, "a\r\nb", 4};
    rq.headers = &h2;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), -EINVAL);
    ck_assert_int_eq(corio_http_client_response_status(NULL), -EINVAL);
    ck_assert_ptr_null(corio_http_client_response_header(NULL, "x", NULL));
    ck_assert_int_eq(corio_http_client_response_read(NULL, url, 1, 1), -EINVAL);
    corio_http_client_response_destroy(NULL);
    ck_assert_int_eq(corio_http_client_destroy(NULL), 0);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_bodies) {
    corio_http_client *c = t_client(NULL);
    int st;
    char *b;
    size_t n;
    ck_assert_int_eq(t_get(c, "/len/100000", &st, &b, &n), 0);
    ck_assert_int_eq(st, 200);
    ck_assert_uint_eq(n, 100000);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(b[i], 'a' + (int)(i % 26));
    free(b);
    ck_assert_int_eq(t_get(c, "/chunked", &st, &b, &n), 0);
    ck_assert_str_eq(b, "hello, chunked world");
    free(b);
    ck_assert_int_eq(t_get(c, "/close", &st, &b, &n), 0);
    ck_assert_str_eq(b, "until close");
    free(b);
    ck_assert_int_eq(t_get(c, "/len/0", &st, &b, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(b);
    ck_assert_int_eq(t_get(c, "/interim", &st, &b, &n), 0);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(b, "after 100");
    free(b);
    /* 204 and 304 have no body, whatever Content-Length says. */
    ck_assert_int_eq(t_get(c, "/head204", &st, &b, &n), 0);
    ck_assert_int_eq(st, 204);
    ck_assert_uint_eq(n, 0);
    free(b);
    ck_assert_int_eq(t_get(c, "/notmod", &st, &b, &n), 0);
    ck_assert_int_eq(st, 304);
    ck_assert_uint_eq(n, 0);
    free(b);
    /* HEAD: a Content-Length but no body, and the connection stays usable. */
    corio_http_client_request rq = {.method = "HEAD", .url = U("/echo")};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_content_length(r), 0);
    ck_assert_str_eq(corio_http_client_response_header(r, "content-length", NULL), "11");
    char tmp[8];
    ck_assert_int_eq(corio_http_client_response_read(r, tmp, sizeof tmp, 1), 0);
    corio_http_client_response_destroy(r);
    ck_assert_int_eq(t_get(c, "/echo", &st, &b, &n), 0);
    ck_assert_str_eq(b, "GET /echo ");
    free(b);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* Reading a body with small buffers, and streaming to a callback. */
static int t_count_cb(void *arg, const void *data, size_t len) {
    (void)data;
    *(size_t *)arg += len;
    return 0;
}

static int t_stop_cb(void *arg, const void *data, size_t len) {
    (void)arg;
    (void)data;
    (void)len;
    return -ECONNABORTED;
}

START_TEST(test_read_and_stream) {
    corio_http_client *c = t_client(NULL);
    corio_http_client_request rq = {.url = U("/chunked")};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_content_length(r), -1);
    char out[64] = "";
    size_t k = 0;
    ssize_t n;
    while ((n = corio_http_client_response_read(r, out + k, 3, 5.0)) > 0)
        k += (size_t)n;
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(out, "hello, chunked world");
    corio_http_client_response_destroy(r);
    rq.url = U("/len/300000");
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    size_t total = 0;
    ck_assert_int_eq(corio_http_client_response_stream(r, t_count_cb, &total, 10.0), 0);
    ck_assert_uint_eq(total, 300000);
    corio_http_client_response_destroy(r);
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_stream(r, t_stop_cb, NULL, 10.0), -ECONNABORTED);
    corio_http_client_response_destroy(r);
    /* collect with a limit below the body */
    rq.url = U("/len/1000");
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    void *d;
    size_t len;
    ck_assert_int_eq(corio_http_client_response_collect(r, 999, &d, &len, 5.0),
                     CORIO_EHTTP_BODY_TOO_LARGE);
    ck_assert_ptr_null(d);
    corio_http_client_response_destroy(r);
    rq.url = U("/close");
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_collect(r, 5, &d, &len, 5.0),
                     CORIO_EHTTP_BODY_TOO_LARGE);
    corio_http_client_response_destroy(r);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_keepalive_reuse) {
    corio_http_client *c = t_client(NULL);
    int st;
    char *b;
    size_t n;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(t_get(c, i % 2 ? "/chunked" : "/len/5000", &st, &b, &n), 0);
        free(b);
    }
    ck_assert_int_eq(atomic_load(&srv.nconns), 1);
    corio_http_client_stats s;
    ck_assert_int_eq(corio_http_client_stats_get(c, &s), 0);
    ck_assert_uint_eq(s.requests, 10);
    ck_assert_uint_eq(s.dials, 1);
    ck_assert_uint_eq(s.reuses, 9);
    /* A body left unread closes its connection. */
    corio_http_client_request rq = {.url = U("/len/100")};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    corio_http_client_response_destroy(r);
    ck_assert_int_eq(t_get(c, "/echo", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(atomic_load(&srv.nconns), 2);
    /* A close-delimited body is never reused. */
    ck_assert_int_eq(t_get(c, "/close", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(t_get(c, "/echo", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(atomic_load(&srv.nconns), 3); /* /close ran on the pooled one */
    /* No pool at all. */
    corio_http_client_options o = {.max_idle_per_origin = -1};
    corio_http_client *c2 = t_client(&o);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(t_get(c2, "/echo", &st, &b, &n), 0);
        free(b);
    }
    ck_assert_int_eq(atomic_load(&srv.nconns), 6);
    ck_assert_int_eq(corio_http_client_destroy(c2), 0);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_stale_retry) {
    corio_http_client *c = t_client(NULL);
    int st;
    char *b;
    size_t n;
    /* Second /once on the pooled connection: the server closes it without
     * answering; the GET is sent again on a new connection. */
    ck_assert_int_eq(t_get(c, "/once", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(t_get(c, "/once", &st, &b, &n), 0);
    ck_assert_str_eq(b, "once");
    free(b);
    corio_http_client_stats s;
    corio_http_client_stats_get(c, &s);
    ck_assert_uint_eq(s.retries, 1);
    ck_assert_int_eq(atomic_load(&srv.nconns), 2);
    /* POST is not idempotent: the same failure is reported. */
    corio_http_client_request rq = {.method = "POST", .url = U("/once"), .body = "x",
                                    .body_len = 1};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), CORIO_EUNEXPECTED_EOF);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_redirects) {
    corio_http_client *c = t_client(NULL);
    int st;
    char *b;
    size_t n;
    ck_assert_int_eq(t_get(c, "/redir/3", &st, &b, &n), 0);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(b, "GET /redir/0 ");
    free(b);
    ck_assert_int_eq(t_get(c, "/redir/10", &st, &b, &n), 0); /* Go's bound: 10 is fine */
    free(b);
    corio_http_client_request rq = {.url = U("/loop")};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), CORIO_EHTTP_TOO_MANY_REDIRECTS);
    ck_assert_int_eq(t_get(c, "/rel/a/b", &st, &b, &n), 0);
    ck_assert_str_eq(b, "GET /rel/c?x=1 ");
    free(b);
    ck_assert_int_eq(t_get(c, "/abs", &st, &b, &n), 0);
    ck_assert_str_eq(b, "GET /echo ");
    free(b);
    /* 303 turns POST into a GET without body; 307 keeps both. */
    rq = (corio_http_client_request){.method = "POST", .url = U("/303"), .body = "data",
                                     .body_len = 4};
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    void *d;
    ck_assert_int_eq(corio_http_client_response_collect(r, 100, &d, &n, 5), 0);
    ck_assert_str_eq(d, "GET /echo ");
    ck_assert_str_eq(corio_http_client_response_url(r), U("/echo"));
    free(d);
    corio_http_client_response_destroy(r);
    rq.url = U("/307");
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_collect(r, 100, &d, &n, 5), 0);
    ck_assert_str_eq(d, "POST /echo data");
    free(d);
    corio_http_client_response_destroy(r);
    /* Every hop above reused the one connection (short bodies drained). */
    ck_assert_int_eq(atomic_load(&srv.nconns), 1);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
    /* Bounded lower, and not followed at all. */
    corio_http_client_options o = {.max_redirects = 2};
    c = t_client(&o);
    ck_assert_int_eq(t_get(c, "/redir/2", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(t_get(c, "/redir/3", &st, &b, &n), CORIO_EHTTP_TOO_MANY_REDIRECTS);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
    o.max_redirects = CORIO_HTTP_NO_REDIRECTS;
    c = t_client(&o);
    ck_assert_int_eq(t_get(c, "/redir/1", &st, &b, &n), 0);
    ck_assert_int_eq(st, 302);
    ck_assert_str_eq(b, "moved");
    free(b);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_truncated_bodies) {
    corio_http_client *c = t_client(NULL);
    int st;
    char *b;
    size_t n;
    ck_assert_int_eq(t_get(c, "/midbody", &st, &b, &n), CORIO_EUNEXPECTED_EOF);
    ck_assert_int_eq(t_get(c, "/midchunk", &st, &b, &n), CORIO_EUNEXPECTED_EOF);
    /* The failure is sticky for the response. */
    corio_http_client_request rq = {.url = U("/midbody")};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    char buf[200];
    ssize_t k, got = 0;
    while ((k = corio_http_client_response_read(r, buf, sizeof buf, 5)) > 0)
        got += k;
    ck_assert_int_eq(got, 10);
    ck_assert_int_eq(k, CORIO_EUNEXPECTED_EOF);
    ck_assert_int_eq(corio_http_client_response_read(r, buf, sizeof buf, 5),
                     CORIO_EUNEXPECTED_EOF);
    corio_http_client_response_destroy(r);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_malformed_responses) {
    corio_http_client *c = t_client(NULL);
    const char *bad[] = {"/bad/dupcl", "/bad/clte", "/bad/barecr", "/bad/obsfold",
                         "/bad/status"};
    int st;
    char *b;
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(t_get(c, bad[i], &st, &b, &n) == CORIO_EHTTP_PROTOCOL, "%s", bad[i]);
    corio_http_client_options o = {.max_head_bytes = 4096};
    corio_http_client *small = t_client(&o);
    ck_assert_int_eq(t_get(small, "/bighead", &st, &b, &n), CORIO_EHTTP_HEAD_TOO_LARGE);
    ck_assert_int_eq(t_get(c, "/bighead", &st, &b, &n), 0); /* fits in 64 KiB */
    free(b);
    ck_assert_int_eq(corio_http_client_destroy(small), 0);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

START_TEST(test_timeouts) {
    corio_http_client_options o = {.first_byte_timeout = 0.2};
    corio_http_client *c = t_client(&o);
    int st;
    char *b;
    size_t n;
    double t0 = t_now();
    ck_assert_int_eq(t_get(c, "/silent", &st, &b, &n), -ETIMEDOUT);
    double dt = t_now() - t0;
    ck_assert_msg(dt >= 0.15 && dt < 3.0, "first byte timeout took %.3f s", dt);
    /* The whole-transfer bound, per request, cuts a trickling body. */
    corio_http_client_request rq = {.url = U("/trickle"), .timeout = 0.3};
    corio_http_client_response *r;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    void *d;
    t0 = t_now();
    ck_assert_int_eq(corio_http_client_response_collect(r, 10000, &d, &n, -1), -ETIMEDOUT);
    dt = t_now() - t0;
    ck_assert_msg(dt < 3.0, "transfer timeout took %.3f s", dt);
    corio_http_client_response_destroy(r);
    /* Connecting to a closed port fails at once. */
    corio_listener *l;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &l), 0);
    char u2[64];
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/", corio_listener_port(l));
    corio_listener_destroy(l);
    rq = (corio_http_client_request){.url = u2};
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), -ECONNREFUSED);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* Per-origin limit: many coroutines on several loops and plain threads at
 * once; the server never sees more than the limit open. */
typedef struct t_job {
    corio_http_client *c; /* shared client */
    int ok;               /* successful requests */
} t_job;

static int t_worker(t_job *j) {
    char u[128];
    for (int i = 0; i < 4; i++) {
        corio_http_client_request rq = {.url = t_origin_url(&srv, "/hold", u, sizeof u),
                                        .timeout = 30};
        corio_http_client_response *r;
        if (corio_http_client_send(j->c, &rq, &r) < 0)
            continue;
        void *d;
        size_t n;
        if (corio_http_client_response_collect(r, 100, &d, &n, 5) == 0 && n == 4)
            j->ok++;
        free(d);
        corio_http_client_response_destroy(r);
    }
    return 0;
}

static int t_coro_worker(void *arg, corio_value *out) {
    (void)out;
    return t_worker(arg);
}

static void *t_thread_worker(void *arg) {
    t_worker(arg);
    return NULL;
}

START_TEST(test_per_origin_limit) {
    corio_http_client_options o = {.max_conns_per_origin = 2, .max_idle_per_origin = 4};
    corio_http_client *c = t_client(&o);
    corio_runtime_options ro = {.loops = 2};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    enum { NCORO = 6, NTHR = 2 };
    t_job jobs[NCORO + NTHR];
    corio_future *fs[NCORO];
    pthread_t th[NTHR];
    for (int i = 0; i < NCORO + NTHR; i++)
        jobs[i] = (t_job){.c = c};
    for (int i = 0; i < NCORO; i++) {
        int err;
        fs[i] = corio_spawn_on(rt, i % 2, t_coro_worker, &jobs[i], NULL, &err);
        ck_assert_ptr_nonnull(fs[i]);
    }
    for (int i = 0; i < NTHR; i++)
        pthread_create(&th[i], NULL, t_thread_worker, &jobs[NCORO + i]);
    for (int i = 0; i < NCORO; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 60, NULL), 0);
        corio_future_unref(fs[i]);
    }
    for (int i = 0; i < NTHR; i++)
        pthread_join(th[i], NULL);
    int ok = 0;
    for (int i = 0; i < NCORO + NTHR; i++)
        ok += jobs[i].ok;
    ck_assert_int_eq(ok, (NCORO + NTHR) * 4);
    ck_assert_int_le(atomic_load(&srv.max_open), 2);
    ck_assert_int_le(atomic_load(&srv.nconns), 2);
    corio_http_client_stats s;
    corio_http_client_stats_get(c, &s);
    ck_assert_uint_gt(s.waits, 0);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* A waiter past its timeout gives up with -ETIMEDOUT. */
START_TEST(test_limit_wait_timeout) {
    corio_http_client_options o = {.max_conns_per_origin = 1};
    corio_http_client *c = t_client(&o);
    corio_http_client_request rq = {.url = U("/len/10")};
    corio_http_client_response *r1, *r2;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r1), 0);
    rq.timeout = 0.1;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r2), -ETIMEDOUT);
    ck_assert_int_eq(corio_http_client_destroy(c), -EBUSY);
    corio_http_client_response_destroy(r1); /* unread: closed, unit freed */
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r2), 0);
    corio_http_client_response_destroy(r2);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* Cancelling a coroutine blocked in send. */
typedef struct t_cancel {
    corio_http_client *c;
    int rc;
} t_cancel;

static int t_cancel_fn(void *arg, corio_value *out) {
    (void)out;
    t_cancel *tc = arg;
    char u[128];
    corio_http_client_request rq = {.url = t_origin_url(&srv, "/silent", u, sizeof u)};
    corio_http_client_response *r;
    tc->rc = corio_http_client_send(tc->c, &rq, &r);
    return tc->rc;
}

START_TEST(test_cancellation) {
    corio_http_client *c = t_client(NULL);
    corio_runtime_options ro = {.loops = 1};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    t_cancel tc = {.c = c, .rc = 1};
    int err;
    corio_future *f = corio_spawn_on(rt, 0, t_cancel_fn, &tc, NULL, &err);
    ck_assert_ptr_nonnull(f);
    /* Wait for the server to have the request, then cancel. */
    while (atomic_load(&srv.requests) == 0)
        t_sleep(0.005);
    corio_future_cancel(f);
    corio_future_result(f, 10, NULL);
    ck_assert_int_eq(tc.rc, -ECANCELED);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* IPv6 literal and "localhost" through corio_dial. */
START_TEST(test_hosts) {
    corio_http_client *c = t_client(NULL);
    char u[128];
    snprintf(u, sizeof u, "http://localhost:%d/echo?q=1#frag", srv.port);
    corio_http_client_request rq = {.url = u};
    corio_http_client_response *r;
    int rc = corio_http_client_send(c, &rq, &r);
    if (rc == 0) { /* localhost may resolve to ::1 first: Happy Eyeballs */
        void *d;
        size_t n;
        ck_assert_int_eq(corio_http_client_response_collect(r, 100, &d, &n, 5), 0);
        ck_assert_str_eq(d, "GET /echo?q=1 ");
        free(d);
        corio_http_client_response_destroy(r);
    }
    /* [::1] is not listened on (the server binds 127.0.0.1): refused, which
     * shows the bracketed literal was parsed and dialled. */
    snprintf(u, sizeof u, "http://[::1]:%d/", srv.port);
    rc = corio_http_client_send(c, &rq, &r);
    ck_assert_msg(rc == -ECONNREFUSED || rc == -EADDRNOTAVAIL || rc == -ENETUNREACH ||
                      rc == -EAFNOSUPPORT,
                  "rc %d", rc);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* Request fields: the caller's replace Host and User-Agent; credentials
 * survive a redirect within the origin and are dropped when it leaves. */
START_TEST(test_request_fields) {
    corio_http_client_options o = {.user_agent = "t-agent/1"};
    corio_http_client *c = t_client(&o);
    corio_http_header h[] = {{"Authorization", 13, "Bearer x", 8}, {"Cookie", 6, "a=b", 3},
                             {"X-Keep", 6, "yes", 3}};
    corio_http_client_request rq = {.url = U("/tosame"), .headers = h, .num_headers = 3};
    corio_http_client_response *r;
    void *d;
    size_t n;
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_collect(r, 1000, &d, &n, 5), 0);
    ck_assert_ptr_nonnull(strstr(d, "Authorization=Bearer x\n"));
    ck_assert_ptr_nonnull(strstr(d, "Cookie=a=b\n"));
    ck_assert_ptr_nonnull(strstr(d, "User-Agent=t-agent/1\n"));
    char host[64];
    snprintf(host, sizeof host, "Host=127.0.0.1:%d\n", srv.port);
    ck_assert_ptr_nonnull(strstr(d, host));
    free(d);
    corio_http_client_response_destroy(r);
    rq.url = U("/toloc");
    if (corio_http_client_send(c, &rq, &r) == 0) { /* localhost may not resolve here */
        ck_assert_int_eq(corio_http_client_response_collect(r, 1000, &d, &n, 5), 0);
        ck_assert_ptr_null(strstr(d, "Authorization="));
        ck_assert_ptr_null(strstr(d, "Cookie="));
        ck_assert_ptr_nonnull(strstr(d, "X-Keep=yes\n"));
        free(d);
        corio_http_client_response_destroy(r);
    }
    corio_http_header h2[] = {{"Host", 4, "example.test", 12}, {"User-Agent", 10, "mine", 4}};
    rq = (corio_http_client_request){.url = U("/hdrs"), .headers = h2, .num_headers = 2};
    ck_assert_int_eq(corio_http_client_send(c, &rq, &r), 0);
    ck_assert_int_eq(corio_http_client_response_collect(r, 1000, &d, &n, 5), 0);
    ck_assert_str_eq(d, "Host=example.test\nUser-Agent=mine\n");
    free(d);
    size_t nh;
    const corio_http_header *all = corio_http_client_response_headers(r, &nh);
    ck_assert_uint_eq(nh, 1);
    ck_assert_str_eq(all[0].name, "Content-Length");
    ck_assert_ptr_nonnull(corio_http_client_response_header(r, "CONTENT-length", &n));
    ck_assert_ptr_null(corio_http_client_response_header(r, "Content-Type", NULL));
    corio_http_client_response_destroy(r);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* Idle connections past idle_timeout are not reused. */
START_TEST(test_idle_timeout) {
    corio_http_client_options o = {.idle_timeout = 0.05};
    corio_http_client *c = t_client(&o);
    int st;
    char *b;
    size_t n;
    ck_assert_int_eq(t_get(c, "/echo", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(t_get(c, "/echo", &st, &b, &n), 0); /* at once: reused */
    free(b);
    ck_assert_int_eq(atomic_load(&srv.nconns), 1);
    t_sleep(0.1); /* let the idle timeout pass */
    ck_assert_int_eq(t_get(c, "/echo", &st, &b, &n), 0);
    free(b);
    ck_assert_int_eq(atomic_load(&srv.nconns), 2);
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
}
END_TEST

/* connect_timeout against a listener whose accept queue is full: Linux
 * drops further SYNs, so the connect hangs until the bound. */
START_TEST(test_connect_timeout) {
    corio_listen_options lo = {.backlog = 1};
    corio_listener *l;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &lo, &l), 0);
    int lport = corio_listener_port(l);
    int fill[8];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 8; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    corio_http_client_options o = {.connect_timeout = 0.3};
    corio_http_client *c = t_client(&o);
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", lport);
    corio_http_client_request rq = {.url = u};
    corio_http_client_response *r;
    double t0 = t_now();
    int rc = corio_http_client_send(c, &rq, &r);
    double dt = t_now() - t0;
    if (rc == 0) /* the kernel accepted the SYN after all: nothing to time */
        corio_http_client_response_destroy(r);
    else {
        ck_assert_int_eq(rc, -ETIMEDOUT);
        ck_assert_msg(dt >= 0.25 && dt < 3.0, "connect timeout took %.3f s", dt);
    }
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
    for (int i = 0; i < 8; i++)
        close(fill[i]);
    corio_listener_destroy(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("http_client");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_bodies);
    tcase_add_test(tc, test_read_and_stream);
    tcase_add_test(tc, test_keepalive_reuse);
    tcase_add_test(tc, test_stale_retry);
    tcase_add_test(tc, test_redirects);
    tcase_add_test(tc, test_truncated_bodies);
    tcase_add_test(tc, test_malformed_responses);
    tcase_add_test(tc, test_timeouts);
    tcase_add_test(tc, test_per_origin_limit);
    tcase_add_test(tc, test_limit_wait_timeout);
    tcase_add_test(tc, test_cancellation);
    tcase_add_test(tc, test_hosts);
    tcase_add_test(tc, test_request_fields);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_connect_timeout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
