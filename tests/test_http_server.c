/* Tests of the HTTP server library (corio/http_server.h), through its
 * public API only: a runtime, a server with test handlers, and raw
 * blocking sockets as clients (every read bounded by SO_RCVTIMEO).
 *   api:         request accessors, body reading (Content-Length, chunked,
 *                100-continue), response framing (held, chunked, 1.0
 *                close-delimited, HEAD), the router, bad arguments
 *   files:       ranges, 416, 304, index.html symlink inside the root
 *   conformance: smuggling and malformed input (400 and close, others
 *                still served), HEAD errors without body, slowloris head
 *                and body (408), limits, client abort mid-body, drain
 *   tls:         HTTPS with curl --cacert against a CA made at test time
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"

static corio_runtime *t_rt;
static corio_http_server *t_srv;
static char t_root[64];
static int t_rootfd = -1;

/* ---- handlers ---- */

/* /echo: the body back; /info: what the request says; /stream: a
 * chunked answer; /small: held then ended; /file/...: static files;
 * /slow-body: reads the body with no timeout of its own. */
static int t_handler(corio_http_request *req, corio_http_response *w, void *arg) {
    (void)arg;
    size_t n;
    const char *p = corio_http_request_path(req, &n);
    char buf[8192]; /* a connection's stack is 64 KiB */
    if (!strcmp(p, "/echo") || !strcmp(p, "/slow-body")) {
        ssize_t k = corio_http_request_read_all(req, buf, sizeof buf, -1);
        if (k < 0)
            return (int)k;
        return corio_http_response_write_all(w, buf, (size_t)k);
    }
    if (!strncmp(p, "/info", 5)) {
        char v[64] = "";
        ssize_t qv = corio_http_request_query_param(req, "name", v, sizeof v);
        size_t hl = 0;
        const char *h = corio_http_request_header(req, "x-test", &hl);
        const char *q = corio_http_request_query(req, NULL);
        int k = snprintf(buf, sizeof buf, "m=%s t=%s p=%s q=%s name=%s(%zd) x=%.*s v=%d ka=%d n=%zu",
                         corio_http_request_method_str(req, NULL),
                         corio_http_request_target(req, NULL), p, q ? q : "(none)", v, qv,
                         (int)hl, h ? h : "", corio_http_request_version(req),
                         corio_http_request_keep_alive(req),
                         corio_http_request_header_count(req));
        corio_http_response_set_header(w, "Content-Type", "text/plain");
        return corio_http_response_write_all(w, buf, (size_t)k);
    }
    if (!strcmp(p, "/sethdr")) {
        /* A refused set_header leaves the field it would replace. */
        int a = corio_http_response_set_header(w, "X-A", "1");
        int b = corio_http_response_set_header(w, "X-A", "bad\r\nvalue");
        int c = corio_http_response_set_header(w, "X A", "2");
        int k = snprintf(buf, sizeof buf, "set=%d,%d,%d", a, b, c);
        return corio_http_response_write_all(w, buf, (size_t)k);
    }
    if (!strcmp(p, "/own-server")) {
        corio_http_response_set_header(w, "Server", "mine");
        return corio_http_response_write_all(w, "own", 3);
    }
    if (!strcmp(p, "/peer")) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (corio_http_request_peer(req, (struct sockaddr *)&ss, &len) < 0)
            return -EIO;
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        socklen_t small = 2; /* a short buffer gets a prefix, the full length */
        struct sockaddr_in cut = {0};
        corio_http_request_peer(req, (struct sockaddr *)&cut, &small);
        int k = snprintf(buf, sizeof buf, "family=%d addr=%08x port=%u len=%u small=%u/%d",
                         a->sin_family, ntohl(a->sin_addr.s_addr), ntohs(a->sin_port),
                         (unsigned)len, (unsigned)small, cut.sin_family);
        return corio_http_response_write_all(w, buf, (size_t)k);
    }
    if (!strcmp(p, "/stream")) {
        memset(buf, 'z', 5000);
        for (int i = 0; i < 3; i++)
            if (corio_http_response_write(w, buf, 5000) != 5000)
                return -EIO;
        return corio_http_response_end(w);
    }
    if (!strcmp(p, "/small")) {
        corio_http_response_write(w, "ab", 2);
        corio_http_response_write(w, "cd", 2);
        return 0; /* the server ends it */
    }
    if (!strcmp(p, "/fail"))
        return -EIO;
    if (n > 6 && !memcmp(p, "/file/", 6))
        return corio_http_response_send_file(w, req, t_rootfd, p + 6, CORIO_HTTP_FILE_INDEX);
    return corio_http_response_error(w, 404);
}

static void t_start(const corio_http_server_options *o) {
    corio_runtime_options ro = {.loops = 1};
    ck_assert_int_eq(corio_runtime_create(&ro, &t_rt), 0);
    corio_http_server_options def = {.max_body = 100000};
    int r = corio_http_server_create(t_rt, "127.0.0.1", 0, o ? o : &def, t_handler, NULL, &t_srv);
    ck_assert_msg(r == 0, "create: %s", corio_strerror(r));
}

static void t_stop(void) {
    corio_http_server_destroy(t_srv);
    corio_runtime_destroy(t_rt);
    t_srv = NULL;
}

/* ---- a blocking client ---- */

static int t_conn(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)corio_http_server_port(t_srv)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void t_put(int fd, const char *s) {
    size_t n = strlen(s);
    ck_assert_int_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Everything until the server closes (bounded by the receive timeout). */
static size_t t_all(int fd, char *buf, size_t cap) {
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = recv(fd, buf + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    return got;
}

/* Send req on a new connection, return all the server sent until close. */
static size_t t_exchange(const char *req, char *buf, size_t cap) {
    int fd = t_conn();
    t_put(fd, req);
    size_t n = t_all(fd, buf, cap);
    close(fd);
    return n;
}

static int t_count(const char *hay, const char *needle) {
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        k++;
    return k;
}

static double t_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char big[1 << 18];

/* ---- api ---- */

START_TEST(test_request_accessors) {
    t_start(NULL);
    t_exchange("GET /info/a/./b//c%20d?name=J%C3%B6+x&y HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\n"
               "Connection: close\r\n\r\n",
               big, sizeof big);
    ck_assert_msg(strstr(big, "m=GET t=/info/a/./b//c%20d?name=J%C3%B6+x&y p=/info/a/b/c d "
                              "q=name=J%C3%B6+x&y name=J\xc3\xb6 x(5) x=yes v=1 ka=0 n=3"),
                  "%s", big);
    /* Traversal never reaches the handler. */
    t_exchange("GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 400 ", 13));
    t_exchange("GET /a/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: h\r\n\r\n", big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 400 ", 13));
    t_stop();
}
END_TEST

/* A head is copied into the request block up to CORIO__HS_HEAD_CAP bytes
 * (with its NUL) and to the heap beyond: pipelined heads on both sides of
 * that size, big then small again, each reach the handler whole. */
START_TEST(test_head_copy_sizes) {
    t_start(NULL);
    static const size_t lens[] = {10, 981, 982, 983, 3000, 12, 982};
    static char req[16384], want[4096];
    size_t n = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        bool last = i + 1 == sizeof lens / sizeof lens[0];
        n += (size_t)snprintf(req + n, sizeof req - n, "GET /info HTTP/1.1\r\nHost: h\r\n%sX-Test: ",
                              last ? "Connection: close\r\n" : "");
        memset(req + n, 'a' + (int)i, lens[i]);
        n += lens[i];
        n += (size_t)snprintf(req + n, sizeof req - n, "\r\n\r\n");
    }
    req[n] = 0;
    t_exchange(req, big, sizeof big);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t k = (size_t)snprintf(want, sizeof want, "t=/info p=/info q=(none) name=(-2) x=");
        memset(want + k, 'a' + (int)i, lens[i]);
        snprintf(want + k + lens[i], sizeof want - k - lens[i], " v=1");
        ck_assert_msg(strstr(big, want), "head %zu (%zu-byte value) not whole", i, lens[i]);
    }
    ck_assert_int_eq(t_count(big, "HTTP/1.1 200 "), (int)(sizeof lens / sizeof lens[0]));
    t_stop();
}
END_TEST

/* set_header with a bad value or name fails with -EINVAL and leaves the
 * field it would have replaced. */
START_TEST(test_set_header_refused) {
    t_start(NULL);
    t_exchange("GET /sethdr HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert_msg(strstr(big, "\r\nX-A: 1\r\n") && strstr(big, "set=0,-22,-22"), "%s", big);
    t_stop();
}
END_TEST

/* The answer's first bytes (status line, Server, Date) as they should be. */
static void t_want_start(const char *got, const char *status, const char *server) {
    char want[128];
    snprintf(want, sizeof want, "HTTP/1.1 %s\r\n%s%s%sDate: ", status, server ? "Server: " : "",
             server ? server : "", server ? "\r\n" : "");
    ck_assert_msg(!strncmp(got, want, strlen(want)), "want %s got %.80s", want, got);
    const char *d = got + strlen(want); /* "Sun, 06 Dec 2026 20:09:26 GMT\r\n" */
    ck_assert_msg(strlen(d) > 31 && d[3] == ',' && !memcmp(d + 25, " GMT\r\n", 6), "%.40s", d);
}

/* One exchange on server srv: the answers, each copied into st[] up to
 * the next status line. Returns how many. */
static char t_ans[8][1024];
static int t_answers(corio_http_server *srv, const char *req, char **st) {
    t_srv = srv;
    t_exchange(req, big, sizeof big);
    int k = 0;
    for (char *p = strstr(big, "HTTP/1.1 "); p && k < 8; k++) {
        char *next = strstr(p + 1, "HTTP/1.1 ");
        size_t n = next ? (size_t)(next - p) : strlen(p);
        ck_assert_uint_lt(n, sizeof t_ans[k]);
        memcpy(t_ans[k], p, n);
        t_ans[k][n] = 0;
        st[k] = t_ans[k];
        p = next;
    }
    return k;
}

/* The start of a head (status line, Server, Date) is cached per server
 * and loop for one status: an answer of another status, a handler's own
 * Server field, another server on the same loop, and one created after
 * the first was destroyed (perhaps at its address) each get their own. */
START_TEST(test_head_start_cache) {
    corio_runtime_options ro = {.loops = 1};
    ck_assert_int_eq(corio_runtime_create(&ro, &t_rt), 0);
    corio_http_server *a, *b, *c;
    corio_http_server_options oa = {.server_name = "one"}, ob = {.server_name = "two"},
                              oc = {.server_name = "three"}, on = {.server_name = ""};
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 0, &oa, t_handler, NULL, &a), 0);
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 0, &ob, t_handler, NULL, &b), 0);
    char *st[8];
    const char *get = "GET /small HTTP/1.1\r\nHost: h\r\n\r\n";
    char req[512];
    snprintf(req, sizeof req, "%s%sGET /nope HTTP/1.1\r\nHost: h\r\n\r\n%s"
             "GET /own-server HTTP/1.1\r\nHost: h\r\n\r\n"
             "GET /small HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", get, get, get);
    ck_assert_int_eq(t_answers(a, req, st), 6);
    t_want_start(st[0], "200 OK", "one");
    t_want_start(st[1], "200 OK", "one");
    t_want_start(st[2], "404 Not Found", "one");
    t_want_start(st[3], "200 OK", "one");
    ck_assert_msg(!strncmp(st[4], "HTTP/1.1 200 OK\r\n", 17) && strstr(st[4], "\r\nServer: mine\r\n") &&
                      !strstr(st[4], "Server: one"), "%.200s", st[4]);
    t_want_start(st[5], "200 OK", "one");
    snprintf(req, sizeof req, "%sGET /small HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", get);
    ck_assert_int_eq(t_answers(b, req, st), 2);
    t_want_start(st[0], "200 OK", "two");
    t_want_start(st[1], "200 OK", "two");
    ck_assert_int_eq(t_answers(a, req, st), 2);
    t_want_start(st[0], "200 OK", "one");
    corio_http_server_destroy(a);
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 0, &oc, t_handler, NULL, &c), 0);
    ck_assert_int_eq(t_answers(c, req, st), 2);
    t_want_start(st[0], "200 OK", "three");
    t_want_start(st[1], "200 OK", "three");
    corio_http_server_destroy(c);
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 0, &on, t_handler, NULL, &c), 0);
    ck_assert_int_eq(t_answers(c, req, st), 2);
    t_want_start(st[0], "200 OK", NULL);
    corio_http_server_destroy(c);
    corio_http_server_destroy(b);
    corio_runtime_destroy(t_rt);
    t_srv = NULL;
}
END_TEST

/* The peer address is the client's socket name, whole or cut to the
 * caller's buffer. */
START_TEST(test_request_peer) {
    t_start(NULL);
    int fd = t_conn();
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    t_put(fd, "GET /peer HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    t_all(fd, big, sizeof big);
    close(fd);
    char want[128];
    snprintf(want, sizeof want, "family=%d addr=7f000001 port=%u len=%u small=%u/%d", AF_INET,
             ntohs(me.sin_port), (unsigned)sizeof me, (unsigned)sizeof me, AF_INET);
    ck_assert_msg(strstr(big, want), "%s (want %s)", big, want);
    t_stop();
}
END_TEST

START_TEST(test_bodies) {
    t_start(NULL);
    /* Content-Length, then chunked, pipelined on one connection, then
     * HTTP/1.0 (close-delimited stream). */
    int fd = t_conn();
    t_put(fd, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
              "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3;x=\"y\"\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"
              "GET /small HTTP/1.1\r\nHost: h\r\n\r\n"
              "GET /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    t_all(fd, big, sizeof big);
    close(fd);
    char *a = strstr(big, "\r\n\r\nhello");
    char *b = strstr(big, "\r\n\r\nabcde");
    char *c = strstr(big, "Content-Length: 4\r\n");
    char *d = strstr(big, "Transfer-Encoding: chunked\r\n");
    ck_assert_msg(a && b && c && d && a < b && b < c && c < d, "%s", big);
    ck_assert(strstr(big, "\r\n\r\nabcd"));
    ck_assert(strstr(big, "1388\r\nzzzz"));
    ck_assert(strstr(big, "\r\n0\r\n\r\n"));
    t_exchange("GET /stream HTTP/1.0\r\n\r\n", big, sizeof big);
    ck_assert(strstr(big, "Connection: close\r\n"));
    ck_assert(!strstr(big, "chunked"));
    ck_assert_uint_eq(strlen(strstr(big, "\r\n\r\n") + 4), 15000);
    /* Expect: 100-continue: 100 first when the handler reads. */
    fd = t_conn();
    t_put(fd, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    ssize_t n = recv(fd, big, sizeof big - 1, 0);
    ck_assert_int_gt(n, 0);
    big[n] = 0;
    ck_assert_str_eq(big, "HTTP/1.1 100 Continue\r\n\r\n");
    t_put(fd, "xyz");
    n = recv(fd, big, sizeof big - 1, 0);
    big[n > 0 ? n : 0] = 0;
    ck_assert_msg(!strncmp(big, "HTTP/1.1 200 ", 13) && strstr(big, "\r\n\r\nxyz"), "%s", big);
    close(fd);
    /* ... and none when it answers without reading: then it closes. */
    t_exchange("POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
               big, sizeof big);
    ck_assert_msg(!strstr(big, "100 Continue") && strstr(big, "Connection: close"), "%s", big);
    /* A body over max_body that the handler reads: 413. */
    t_exchange("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "FFFFFF\r\n", big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 413 ", 13), "%s", big);
    /* A handler failing before answering: 500. */
    t_exchange("GET /fail HTTP/1.1\r\nHost: h\r\n\r\n", big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 500 ", 13));
    t_stop();
}
END_TEST

static int t_route_a(corio_http_request *q, corio_http_response *w, void *arg) {
    (void)q;
    return corio_http_response_write_all(w, arg, strlen(arg));
}

START_TEST(test_mux_and_args) {
    corio_http_mux *mux;
    ck_assert_int_eq(corio_http_mux_create(&mux), 0);
    ck_assert_int_eq(corio_http_mux_handle(mux, "/api/", CORIO_HTTP_POST, t_route_a, "api"), 0);
    ck_assert_int_eq(corio_http_mux_handle(mux, "/api/x", CORIO_HTTP_GET, t_route_a, "x"), 0);
    ck_assert_int_eq(corio_http_mux_handle(mux, "/", CORIO_HTTP_GET, t_route_a, "root"), 0);
    ck_assert_int_eq(corio_http_mux_handle(mux, "/", 0, t_route_a, "dup"), -EEXIST);
    ck_assert_int_eq(corio_http_mux_handle(mux, "rel", 0, t_route_a, "bad"), -EINVAL);
    corio_runtime_options ro = {.loops = 1};
    ck_assert_int_eq(corio_runtime_create(&ro, &t_rt), 0);
    /* Bad arguments. */
    corio_http_server *s;
    ck_assert_int_eq(corio_http_server_create(NULL, "127.0.0.1", 0, NULL, t_handler, NULL, &s),
                     -EINVAL);
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 70000, NULL, t_handler, NULL, &s),
                     -EINVAL);
    corio_http_server_options bad = {.head_timeout = -1};
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 0, &bad, t_handler, NULL, &s),
                     -EINVAL);
    ck_assert_int_eq(corio_http_server_port(NULL), -EINVAL);
    ck_assert_int_eq(corio_http_server_stats(NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_http_server_shutdown(NULL, 1), -EINVAL);
    corio_http_server_destroy(NULL);
    ck_assert_int_eq(corio_http_request_read(NULL, big, 1, 1), -EINVAL);
    ck_assert_ptr_null(corio_http_request_path(NULL, NULL));
    ck_assert_int_eq(corio_http_response_write(NULL, "x", 1), -EINVAL);
    ck_assert_int_eq(corio_http_response_end(NULL), -EINVAL);
    ck_assert_int_eq(corio_http_response_send_file(NULL, NULL, 0, NULL, 0), -EINVAL);
    ck_assert_int_eq(corio_http_server_create(t_rt, "127.0.0.1", 0, NULL, corio_http_mux_serve,
                                              mux, &t_srv), 0);
    t_exchange("GET /api/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert(strstr(big, "\r\n\r\nx"));
    t_exchange("POST /api/y HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
               big, sizeof big);
    ck_assert(strstr(big, "\r\n\r\napi"));
    t_exchange("DELETE /api/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 405 ", 13) && strstr(big, "Allow: GET, HEAD, POST\r\n"),
                  "%s", big);
    t_exchange("GET /other HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert(strstr(big, "\r\n\r\nroot"));
    t_stop();
    corio_http_mux_destroy(mux);
}
END_TEST

/* ---- files ---- */

static void t_files(void) {
    snprintf(t_root, sizeof t_root, "/tmp/test_http_server.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t_root));
    char p[256];
    snprintf(p, sizeof p, "%s/f.txt", t_root);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 20000; i++)
        fputc('a' + i % 26, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/d", t_root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/d/index.html", t_root);
    /* Regression: an index.html that is a symlink staying inside the root
     * was resolved beneath the directory and gave 404. */
    ck_assert_int_eq(symlink("../f.txt", p), 0);
    t_rootfd = open(t_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void t_files_rm(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_root);
    ck_assert_int_eq(system(cmd), 0);
    close(t_rootfd);
}

START_TEST(test_files) {
    t_files();
    t_start(NULL);
    t_exchange("GET /file/f.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert(strstr(big, "Content-Length: 20000\r\n") && strstr(big, "Last-Modified: "));
    ck_assert(strstr(big, "Content-Type: text/plain; charset=utf-8\r\n"));
    t_exchange("GET /file/d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 200 ", 13), "%s", big);
    t_exchange("GET /file/f.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=26-30\r\nConnection: close\r\n\r\n",
               big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 206 ", 13) &&
                      strstr(big, "Content-Range: bytes 26-30/20000\r\n") &&
                      strstr(big, "\r\n\r\nabcde"),
                  "%s", big);
    t_exchange("GET /file/f.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=-2\r\nConnection: close\r\n\r\n",
               big, sizeof big);
    ck_assert(strstr(big, "Content-Range: bytes 19998-19999/20000\r\n"));
    t_exchange("GET /file/f.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=20000-\r\nConnection: close\r\n\r\n",
               big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 416 ", 13) && strstr(big, "Content-Range: bytes */20000"),
                  "%s", big);
    t_exchange("GET /file/f.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,5-6\r\nConnection: close\r\n\r\n",
               big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 200 ", 13));
    t_exchange("HEAD /file/f.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert(strstr(big, "Content-Length: 20000\r\n") && !strcmp(strstr(big, "\r\n\r\n"), "\r\n\r\n"));
    t_exchange("GET /file/f.txt HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"
               "\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 304 ", 13), "%s", big);
    t_exchange("GET /file/nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 404 ", 13));
    t_stop();
    t_files_rm();
}
END_TEST

/* ---- conformance ---- */

static const char *const t_smuggle[] = {
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "GET /info HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",          /* obs-fold */
    "GET /info HTTP/1.1\r\nHost: h\rX: a\r\n\r\n",                  /* bare CR */
    "GET /info HTTP/1.1\nHost: h\r\n\r\n",                         /* bare LF */
    "GET /info HTTP/1.1\r\nHost: a b\r\n\r\n",                     /* invalid Host */
    "GET /info HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "GET /info HTTP/1.1\r\nHost: a@b\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;;;==\"\r\nhello\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n",
};

START_TEST(test_smuggling) {
    t_start(NULL);
    t_exchange(t_smuggle[_i], big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 400 ", 13) && strstr(big, "Connection: close\r\n") &&
                      t_count(big, "HTTP/1.1") == 1,
                  "case %d: %s", _i, big);
    /* The server goes on serving others. */
    t_exchange("GET /info HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 200 ", 13));
    t_stop();
}
END_TEST

START_TEST(test_head_errors_no_body) {
    corio_http_server_options o = {.max_uri = 64, .max_header_bytes = 256};
    t_start(&o);
    /* Regression: a HEAD refused by the parser got a body. */
    t_exchange("HEAD /info HTTP/1.1\r\nHost: h\r\nBad Line\r\n\r\n", big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 400 ", 13) && !strcmp(strstr(big, "\r\n\r\n"), "\r\n\r\n"),
                  "%s", big);
    memset(big, 'a', 100);
    char req[512];
    snprintf(req, sizeof req, "HEAD /%.100s HTTP/1.1\r\nHost: h\r\n\r\n", big);
    t_exchange(req, big, sizeof big);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 414 ", 13) && !strcmp(strstr(big, "\r\n\r\n"), "\r\n\r\n"),
                  "%s", big);
    snprintf(req, sizeof req, "GET /info HTTP/1.1\r\nHost: h\r\nX: %0300d\r\n\r\n", 0);
    t_exchange(req, big, sizeof big);
    ck_assert(!strncmp(big, "HTTP/1.1 431 ", 13));
    t_stop();
}
END_TEST

/* Regression: a client trickling a header byte a second (or a body) kept
 * its connection forever, because only silence was timed. Now the whole
 * head (head_timeout) and body (body_timeout) have deadlines: 408, close,
 * and the others (max_conns of them) are served meanwhile. */
START_TEST(test_slowloris) {
    corio_http_server_options o = {.head_timeout = 1, .body_timeout = 1, .max_conns = 50,
                                   .max_body = 100000};
    t_start(&o);
    const char *slow = _i == 0 ? "GET /info HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               : "POST /slow-body HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int fds[40];
    for (int i = 0; i < 40; i++)
        fds[i] = t_conn();
    double t0 = t_now();
    size_t len = strlen(slow), pos = 0;
    bool closed = false;
    int status = 0;
    /* A byte every 50 ms per connection: never silent for long. */
    while (!closed && t_now() - t0 < 10) {
        for (int i = 0; i < 40 && pos < len; i++)
            if (send(fds[i], slow + pos, 1, MSG_NOSIGNAL) < 0)
                closed = true;
        pos = pos < len ? pos + 1 : pos;
        /* Another client is served meanwhile. */
        if (pos == 5) {
            t_exchange("GET /info HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, 4096);
            ck_assert(!strncmp(big, "HTTP/1.1 200 ", 13));
        }
        struct timeval tv = {.tv_usec = 50000};
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fds[0], &rs);
        if (select(fds[0] + 1, &rs, NULL, NULL, &tv) > 0) {
            char b[512] = {0};
            if (recv(fds[0], b, sizeof b - 1, 0) >= 0 && !strncmp(b, "HTTP/1.1 ", 9))
                status = atoi(b + 9);
            closed = true;
        }
    }
    double took = t_now() - t0;
    ck_assert_msg(status == 408, "status %d after %.2f s", status, took);
    ck_assert_msg(took > 0.8 && took < 6, "cut after %.2f s", took);
    for (int i = 0; i < 40; i++)
        close(fds[i]);
    corio_http_server_counters st;
    corio_http_server_stats(t_srv, &st);
    ck_assert_uint_ge(st.timeouts, 1);
    t_stop();
}
END_TEST

/* Regression: 50 trickling clients with max_conns 50 kept every other
 * client at 503. Now each is cut at the head deadline, and a client
 * arriving after that is served (while they hold the slots, it gets 503). */
START_TEST(test_slowloris_max_conns) {
    corio_http_server_options o = {.head_timeout = 1, .max_conns = 50};
    t_start(&o);
    int fds[50];
    for (int i = 0; i < 50; i++) {
        fds[i] = t_conn();
        t_put(fds[i], "GET /info HTTP/1.1\r\n");
    }
    /* Wait until the server counts all 50 (the accept is asynchronous). */
    corio_http_server_counters st;
    double t0 = t_now();
    do
        corio_http_server_stats(t_srv, &st);
    while (st.active < 50 && t_now() - t0 < 10 && usleep(1000) == 0);
    ck_assert_int_eq(st.active, 50);
    t_exchange("GET /info HTTP/1.1\r\nHost: h\r\n\r\n", big, 4096);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 503 ", 13), "%s", big);
    /* Keep trickling; every slow one ends with 408 within the deadline. */
    int ended = 0;
    bool done[50] = {false};
    while (ended < 50 && t_now() - t0 < 10) {
        for (int i = 0; i < 50; i++) {
            if (done[i])
                continue;
            if (send(fds[i], "X", 1, MSG_NOSIGNAL) < 0) {
                done[i] = true;
                ended++;
                continue;
            }
            char b[256];
            ssize_t n = recv(fds[i], b, sizeof b - 1, MSG_DONTWAIT);
            if (n > 0) {
                b[n] = 0;
                ck_assert_msg(!strncmp(b, "HTTP/1.1 408 ", 13), "%s", b);
                done[i] = true;
                ended++;
            } else if (n == 0) {
                done[i] = true;
                ended++;
            }
        }
        usleep(20000); /* the trickle's pace, not a synchronisation */
    }
    ck_assert_int_eq(ended, 50);
    ck_assert_msg(t_now() - t0 < 6, "took %.2f s", t_now() - t0);
    for (int i = 0; i < 50; i++)
        close(fds[i]);
    t0 = t_now();
    do
        corio_http_server_stats(t_srv, &st);
    while (st.active > 0 && t_now() - t0 < 10 && usleep(1000) == 0);
    t_exchange("GET /info HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", big, 4096);
    ck_assert_msg(!strncmp(big, "HTTP/1.1 200 ", 13), "%s", big);
    t_stop();
}
END_TEST

/* A client that sends half a body and leaves: the handler's read fails,
 * the connection ends, the server serves the next one. */
START_TEST(test_abort_mid_body) {
    t_start(NULL);
    int fd = t_conn();
    t_put(fd, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nabc");
    close(fd);
    t_exchange("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
               big, sizeof big);
    ck_assert(strstr(big, "\r\n\r\nok"));
    t_stop();
}
END_TEST

/* Shutdown: an idle keep-alive connection is closed, the server answers
 * no more, shutdown returns 0 (nothing cancelled), a second is -EALREADY. */
START_TEST(test_shutdown) {
    t_start(NULL);
    int fd = t_conn();
    t_put(fd, "GET /info HTTP/1.1\r\nHost: h\r\n\r\n");
    ssize_t n = recv(fd, big, sizeof big - 1, 0);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(corio_http_server_shutdown(t_srv, 10), 0);
    ck_assert_int_eq(recv(fd, big, sizeof big, 0), 0);
    close(fd);
    ck_assert_int_eq(corio_http_server_shutdown(t_srv, 1), -EALREADY);
    t_stop();
}
END_TEST

/* ---- TLS ---- */

START_TEST(test_https_curl) {
    if (access("/usr/bin/openssl", X_OK) || access("/usr/bin/curl", X_OK)) {
        fprintf(stderr, "test_https_curl: no openssl or curl, skipped\n");
        return;
    }
    char dir[] = "/tmp/test_https.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[2048];
    /* The tests' PKI (tests/tls/make_certs.sh): ca.pem, server.pem/.key. */
    snprintf(cmd, sizeof cmd, "bash '%s' %s >/dev/null", T_TLS_MAKE_CERTS, dir);
    ck_assert_int_eq(system(cmd), 0);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    corio_tls_options to = {.role = CORIO_TLS_SERVER, .cert_file = cert, .key_file = key};
    corio_tls_context *tls;
    ck_assert_int_eq(corio_tls_context_create(&to, &tls), 0);
    corio_http_server_options o = {.tls = tls, .max_body = 100000};
    t_start(&o);
    snprintf(cmd, sizeof cmd,
             "timeout 30 curl -sS --cacert %s/ca.pem https://127.0.0.1:%d/info?name=tls "
             "https://127.0.0.1:%d/stream -o /dev/null -o %s/out -d x=1 2>&1",
             dir, corio_http_server_port(t_srv), corio_http_server_port(t_srv), dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "timeout 30 curl -sS --cacert %s/ca.pem https://127.0.0.1:%d/info?name=tls",
             dir, corio_http_server_port(t_srv));
    FILE *p = popen(cmd, "r");
    size_t n = fread(big, 1, sizeof big - 1, p);
    big[n] = 0;
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(strstr(big, "name=tls(3)"), "%s", big);
    /* A plain-text client on the TLS port: the handshake fails, counted. */
    t_exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\n", big, sizeof big);
    corio_http_server_counters st;
    corio_http_server_stats(t_srv, &st);
    ck_assert_uint_ge(st.tls_failures, 1);
    t_stop();
    corio_tls_context_destroy(tls);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("http_server");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_request_accessors);
    tcase_add_test(tc, test_head_copy_sizes);
    tcase_add_test(tc, test_set_header_refused);
    tcase_add_test(tc, test_head_start_cache);
    tcase_add_test(tc, test_request_peer);
    tcase_add_test(tc, test_bodies);
    tcase_add_test(tc, test_mux_and_args);
    tcase_add_test(tc, test_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("conformance");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_smuggling, 0, (int)(sizeof t_smuggle / sizeof t_smuggle[0]));
    tcase_add_test(tc, test_head_errors_no_body);
    tcase_add_loop_test(tc, test_slowloris, 0, 2);
    tcase_add_test(tc, test_slowloris_max_conns);
    tcase_add_test(tc, test_abort_mid_body);
    tcase_add_test(tc, test_shutdown);
    suite_add_tcase(s, tc);
    tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_https_curl);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
