/* Tests of corio-httpd's server module (examples/http/server.c), its
 * routes: hello, bytes, HEAD, static files and path traversal; and, run
 * with --cli PATH, the corio-httpd binary's command line. Connection
 * semantics and load are in test_httpd_connections.c; the served
 * directory's type, the server start and the client in t_httpd.h.
 *
 * Each test starts a server in-process on 127.0.0.1, port 0, serving a
 * directory made with mkdtemp, and talks to it as a client. Responses are
 * read with the response parser of http_parser.h and checked byte for
 * byte. Every test stops its server and removes its directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"
#include "http_parser.h"
#include "httpd.h"
#include "t_httpd.h"

/* ---- a served directory ---- */

static void t_write_file(const char *dir, const char *name, const char *data, size_t len) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void t_dir_make(t_dir *d) {
    snprintf(d->base, sizeof d->base, "/tmp/test_httpd.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->base));
    snprintf(d->root, sizeof d->root, "%s/root", d->base);
    ck_assert_int_eq(mkdir(d->root, 0755), 0);
    t_write_file(d->base, "secret.txt", "SECRET", 6);
}

static void t_dir_remove(t_dir *d) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->base);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- routes ---- */

START_TEST(test_hello_keep_alive) {
    httpd *s = t_start(NULL, NULL);
    t_client c;
    ck_assert_int_eq(t_connect(&c, httpd_port(s)), 0);
    char v[128];
    for (int i = 0; i < 3; i++) {
        t_resp r;
        t_roundtrip(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
        ck_assert_uint_eq(r.body_len, 13);
        ck_assert_str_eq(r.body, "Hello, world!");
        ck_assert_str_eq(t_header(&r, "Content-Type", v, sizeof v), "text/plain");
        ck_assert_str_eq(t_header(&r, "Content-Length", v, sizeof v), "13");
        ck_assert(r.keep_alive);
        t_resp_free(&r);
    }
    httpd_stats st;
    httpd_stats_get(s, &st);
    ck_assert_uint_eq(st.accepted, 1); /* three requests, one connection */
    ck_assert_uint_eq(st.requests, 3);
    t_close(&c);
    httpd_destroy(s);
}
END_TEST

START_TEST(test_bytes) {
    httpd *s = t_start(NULL, NULL);
    t_client c;
    ck_assert_int_eq(t_connect(&c, httpd_port(s)), 0);
    static const uint64_t sizes[] = {0, 1, 26, 27, 16384, 100000, 3 * 1024 * 1024 + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET /bytes/%llu HTTP/1.1\r\nHost: x\r\n\r\n",
                 (unsigned long long)sizes[i]);
        t_resp r;
        t_roundtrip(&c, req, CORIO_HTTP_GET, 200, &r);
        ck_assert_uint_eq(r.body_len, sizes[i]);
        ck_assert(t_is_pattern(r.body, r.body_len));
        t_resp_free(&r);
    }
    /* Not a number, or too big: an ordinary path, so 404. */
    t_resp r;
    t_roundtrip(&c, "GET /bytes/12x HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 404, &r);
    t_resp_free(&r);
    t_roundtrip(&c, "GET /bytes/99999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET,
                404, &r);
    t_resp_free(&r);
    t_close(&c);
    httpd_destroy(s);
}
END_TEST

START_TEST(test_head) {
    httpd *s = t_start(NULL, NULL);
    t_client c;
    ck_assert_int_eq(t_connect(&c, httpd_port(s)), 0);
    char v[64];
    t_resp r;
    t_roundtrip(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_HEAD, 200, &r);
    ck_assert_str_eq(t_header(&r, "Content-Length", v, sizeof v), "13");
    t_resp_free(&r);
    t_roundtrip(&c, "HEAD /bytes/5000000 HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_HEAD, 200, &r);
    ck_assert_str_eq(t_header(&r, "Content-Length", v, sizeof v), "5000000");
    t_resp_free(&r);
    t_roundtrip(&c, "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_HEAD, 404, &r);
    t_resp_free(&r);
    /* No body was sent: the next response starts right away. */
    t_roundtrip(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_str_eq(r.body, "Hello, world!");
    t_resp_free(&r);
    ck_assert_uint_eq(c.len, 0);
    t_close(&c);
    httpd_destroy(s);
}
END_TEST

START_TEST(test_static_files) {
    t_dir d;
    t_dir_make(&d);
    t_write_file(d.root, "a.txt", "A file\n", 7);
    t_write_file(d.root, "empty.css", "", 0);
    size_t big_len = 1024 * 1024 + 17;
    char *big = malloc(big_len);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 7 + i / 251);
    t_write_file(d.root, "big.bin", big, big_len);
    char sub[160];
    snprintf(sub, sizeof sub, "%s/site", d.root);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    t_write_file(sub, "index.html", "<p>index</p>\n", 13);
    snprintf(sub, sizeof sub, "%s/bare", d.root);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/fifo", d.root);
    ck_assert_int_eq(mkfifo(sub, 0644), 0); /* must not stall the loop */

    httpd *s = t_start(&d, NULL);
    t_client c;
    ck_assert_int_eq(t_connect(&c, httpd_port(s)), 0);
    char v[128];
    t_resp r;
    t_roundtrip(&c, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_str_eq(r.body, "A file\n");
    ck_assert_str_eq(t_header(&r, "Content-Type", v, sizeof v), "text/plain; charset=utf-8");
    t_resp_free(&r);
    t_roundtrip(&c, "GET /a.txt?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_str_eq(r.body, "A file\n");
    t_resp_free(&r);
    t_roundtrip(&c, "GET /empty.css HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_str_eq(t_header(&r, "Content-Type", v, sizeof v), "text/css; charset=utf-8");
    t_resp_free(&r);
    /* Out of the page cache first: the server's reads must wait for the
     * disk, not fail with EAGAIN. */
    char bigpath[160];
    snprintf(bigpath, sizeof bigpath, "%s/big.bin", d.root);
    int bfd = open(bigpath, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(bfd, 0);
    fdatasync(bfd);
    posix_fadvise(bfd, 0, 0, POSIX_FADV_DONTNEED);
    close(bfd);
    t_roundtrip(&c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_uint_eq(r.body_len, big_len);
    ck_assert(memcmp(r.body, big, big_len) == 0);
    ck_assert_str_eq(t_header(&r, "Content-Type", v, sizeof v), "application/octet-stream");
    t_resp_free(&r);
    t_roundtrip(&c, "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_HEAD, 200, &r);
    ck_assert_str_eq(t_header(&r, "Content-Length", v, sizeof v), "1048593");
    t_resp_free(&r);
    /* A directory: its index.html, or 404 without one. */
    t_roundtrip(&c, "GET /site/ HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_str_eq(r.body, "<p>index</p>\n");
    ck_assert_str_eq(t_header(&r, "Content-Type", v, sizeof v), "text/html; charset=utf-8");
    t_resp_free(&r);
    t_roundtrip(&c, "GET /bare HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 404, &r);
    t_resp_free(&r);
    t_roundtrip(&c, "GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 404, &r);
    t_resp_free(&r);
    t_roundtrip(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 404, &r);
    t_resp_free(&r);
    t_roundtrip(&c, "GET /nothing.txt HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 404, &r);
    ck_assert(r.keep_alive); /* a 404 keeps the connection */
    t_resp_free(&r);
    t_roundtrip(&c, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    t_resp_free(&r);
    t_close(&c);
    httpd_destroy(s);
    free(big);
    t_dir_remove(&d);
}
END_TEST

/* No request reaches a file outside the root: "..", encoded or not, is a
 * 400; symlinks leading out are a 404. */
START_TEST(test_traversal) {
    t_dir d;
    t_dir_make(&d);
    t_write_file(d.root, "a.txt", "A", 1);
    char p[200];
    snprintf(p, sizeof p, "%s/out", d.root);
    ck_assert_int_eq(symlink("../secret.txt", p), 0);
    snprintf(p, sizeof p, "%s/abs", d.root);
    char target[128];
    snprintf(target, sizeof target, "%s/secret.txt", d.base);
    ck_assert_int_eq(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/updir", d.root);
    ck_assert_int_eq(symlink("..", p), 0);
    snprintf(p, sizeof p, "%s/in", d.root);
    ck_assert_int_eq(symlink("a.txt", p), 0);

    httpd *s = t_start(&d, NULL);
    static const struct {
        const char *target;
        int status;
    } cases[] = {
        {"/../secret.txt", 400},     {"/%2e%2e/secret.txt", 400}, {"/a/../../secret.txt", 400},
        {"/..%2fsecret.txt", 400},   {"/%2E%2E%2Fsecret.txt", 400}, {"/.%2e/secret.txt", 400},
        {"/..\\secret.txt", 400},    {"/out", 404},               {"/abs", 404},
        {"/updir/secret.txt", 404},  {"/%00", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t_client c;
        ck_assert_int_eq(t_connect(&c, httpd_port(s)), 0);
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", cases[i].target);
        t_resp r;
        ck_assert_int_eq(t_sends(&c, req), 0);
        ck_assert_int_eq(t_read(&c, CORIO_HTTP_GET, &r), 0);
        ck_assert_msg(r.status == cases[i].status, "%s: %d", cases[i].target, r.status);
        ck_assert_ptr_null(strstr(r.body, "SECRET"));
        t_resp_free(&r);
        t_close(&c);
    }
    /* A symlink that stays inside the root is followed where openat2
     * resolves beneath the root (the fallback refuses every final link). */
    t_client c;
    ck_assert_int_eq(t_connect(&c, httpd_port(s)), 0);
    t_resp r;
    ck_assert_int_eq(t_sends(&c, "GET /in HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ck_assert_int_eq(t_read(&c, CORIO_HTTP_GET, &r), 0);
    ck_assert(r.status == 200 || r.status == 404);
    if (r.status == 200)
        ck_assert_str_eq(r.body, "A");
    t_resp_free(&r);
    t_close(&c);
    httpd_destroy(s);
    t_dir_remove(&d);
}
END_TEST

/* ---- the command line (run with --cli PATH-TO-corio-httpd) ---- */

static const char *cli_path;

/* Start the binary with `args` (NULL-terminated, after argv[0]), its
 * stdout on a pipe; returns the pid, *out the pipe's read end. */
static pid_t t_spawn(const char *const *args, int *out) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *argv[16] = {cli_path};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(cli_path, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* The contract the downloads tool relies on: with --port 0, exactly one
 * line "listening on 127.0.0.1:PORT" on stdout, the routes answer, and
 * SIGTERM (or SIGINT) ends it with status 0. */
START_TEST(test_cli) {
    static const int sigs[] = {SIGTERM, SIGINT};
    const char *args[] = {"--port", "0", "--root", "/tmp", "--loops", "1", "--quiet", NULL};
    int fd;
    pid_t pid = t_spawn(args, &fd);
    char line[128];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = corio_read(fd, line + n, 1, -1, T_IO_TIMEOUT);
        ck_assert_int_eq(r, 1);
        if (line[n++] == '\n')
            break;
    }
    line[n] = 0;
    int port = 0;
    char nl = 0;
    ck_assert_msg(sscanf(line, "listening on 127.0.0.1:%d%c", &port, &nl) == 2 && nl == '\n',
                  "first line: %s", line);
    ck_assert_int_gt(port, 0);
    t_client c;
    t_resp r;
    ck_assert_int_eq(t_connect(&c, port), 0);
    t_roundtrip(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert_str_eq(r.body, "Hello, world!");
    t_resp_free(&r);
    t_roundtrip(&c, "GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n", CORIO_HTTP_GET, 200, &r);
    ck_assert(t_is_pattern(r.body, 100000));
    t_resp_free(&r);
    ck_assert_int_eq(kill(pid, sigs[_i]), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    /* Nothing more on stdout; the connection was closed by the server. */
    ck_assert_int_eq(corio_read(fd, line, sizeof line, -1, T_IO_TIMEOUT), 0);
    ck_assert(t_at_eof(&c));
    t_close(&c);
    close(fd);
}
END_TEST

START_TEST(test_cli_usage) {
    static const char *const bad[][4] = {
        {"--port", "70000", NULL}, {"--bogus", NULL}, {"--loops", NULL}, {"--max-conns", "x", NULL},
    };
    int fd;
    pid_t pid = t_spawn(bad[_i], &fd);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %#x", status);
    close(fd);
    const char *missing[] = {"--port", "0", "--root", "/nonexistent/dir", NULL};
    pid = t_spawn(missing, &fd);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %#x", status);
    close(fd);
}
END_TEST

static Suite *cli_suite(void) {
    Suite *s = suite_create("httpd-cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_cli, 0, 2);
    tcase_add_loop_test(tc, test_cli_usage, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *httpd_suite(void) {
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("routes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hello_keep_alive);
    tcase_add_test(tc, test_bytes);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_static_files);
    tcase_add_test(tc, test_traversal);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    /* `--cli PATH`: test the corio-httpd binary at PATH instead (the binary
     * is built under examples/, whose meson.build registers that run). */
    if (argc == 3 && !strcmp(argv[1], "--cli"))
        cli_path = argv[2];
    SRunner *sr = srunner_create(cli_path ? cli_suite() : httpd_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
