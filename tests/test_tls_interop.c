/* TLS interop: corio's TLS server checked with real clients (openssl
 * s_client, curl --cacert), both on 127.0.0.1, bounded in time. Skipped
 * (77) without openssl or curl. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio.h"
#include "t_helpers.h"
#include "t_tls.h"

/* A tiny HTTPS server on a runtime of its own thread: each connection gets
 * one HTTP/1.1 answer, "hello over tls\n", and is closed. */
typedef struct srv {
    corio_runtime *rt;
    corio_listener *l;
    corio_tls_context *ctx;
    corio_future *acceptor;
    int port;
    int handshakes_ok, handshakes_failed; /* loop thread only */
} srv;

static int conn_fn(void *arg, corio_value *out) {
    (void)out;
    void **a = arg;
    srv *s = a[0];
    int fd = (int)(intptr_t)a[1];
    free(a);
    corio_stream *st = NULL;
    int r = corio_tls_accept(s->ctx, fd, NULL, 10.0, &st);
    if (r < 0) {
        s->handshakes_failed++;
        corio_close(fd);
        return 0;
    }
    s->handshakes_ok++;
    const char *line;
    size_t len;
    /* Read the request head up to its empty line. */
    while (corio_stream_read_line(st, 8192, &line, &len, 10.0) == 1 && len > 0) {
    }
    const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\n"
                      "hello over tls\n";
    corio_stream_write(st, ans, strlen(ans), 10.0);
    corio_stream_flush(st, 10.0);
    corio_stream_shutdown(st, SHUT_WR, 5.0);
    corio_stream_destroy(st);
    return 0;
}

static int accept_fn(void *arg, corio_value *out) {
    (void)out;
    srv *s = arg;
    for (;;) {
        int fd = corio_listener_accept(s->l, NULL, NULL, -1);
        if (fd < 0)
            return 0; /* cancelled at the end */
        void **a = malloc(2 * sizeof *a);
        a[0] = s;
        a[1] = (void *)(intptr_t)fd;
        int err = 0;
        corio_future *f = corio_spawn(conn_fn, a, &err);
        if (f)
            corio_future_unref(f);
        else {
            free(a);
            corio_close(fd);
        }
    }
}

static void srv_start(srv *s) {
    char cert[600], key[600];
    t_tls_file(cert, sizeof cert, "server", "pem");
    t_tls_file(key, sizeof key, "server", "key");
    corio_tls_options o = {.role = CORIO_TLS_SERVER, .cert_file = cert, .key_file = key,
                           .alpn = "http/1.1"};
    ck_assert_int_eq(corio_tls_context_create(&o, &s->ctx), 0);
    corio_runtime_options ro = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_runtime_create(&ro, &s->rt), 0);
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &s->l), 0);
    s->port = corio_listener_port(s->l);
    int err = 0;
    s->acceptor = corio_spawn_on(s->rt, 0, accept_fn, s, NULL, &err);
    ck_assert_ptr_nonnull(s->acceptor);
}

static void srv_stop(srv *s) {
    corio_future_cancel(s->acceptor);
    corio_future_result(s->acceptor, 10.0, NULL);
    corio_future_unref(s->acceptor);
    corio_listener_destroy(s->l); /* before its loop stops */
    corio_runtime_destroy(s->rt);
    corio_tls_context_destroy(s->ctx);
}

/* Run a shell command under `timeout`, capturing its output. Returns the
 * exit status (124: timed out). */
static int run(const char *cmd, char *outbuf, size_t n) {
    char full[2048];
    snprintf(full, sizeof full, "timeout 20 sh -c '%s' 2>&1", cmd);
    FILE *f = popen(full, "r");
    ck_assert_ptr_nonnull(f);
    size_t got = fread(outbuf, 1, n - 1, f);
    outbuf[got] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_curl_verifies) {
    t_tls_setup();
    if (system("command -v curl >/dev/null 2>&1") != 0)
        return; /* checked in main: never here */
    srv s = {0};
    srv_start(&s);
    char ca[600], cmd[1500], out[4096];
    t_tls_file(ca, sizeof ca, "ca", "pem");
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 --cacert %s https://localhost:%d/", ca,
             s.port);
    int st = run(cmd, out, sizeof out);
    ck_assert_msg(st == 0, "curl: exit %d: %s", st, out);
    ck_assert_str_eq(out, "hello over tls\n");
    /* By address: the certificate has IP:127.0.0.1. */
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 --cacert %s https://127.0.0.1:%d/", ca,
             s.port);
    st = run(cmd, out, sizeof out);
    ck_assert_msg(st == 0, "curl by address: exit %d: %s", st, out);
    /* A wrong host name must fail verification (curl: exit 60). */
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 10 --cacert %s --resolve wrong.example:%d:127.0.0.1 "
             "https://wrong.example:%d/",
             ca, s.port, s.port);
    st = run(cmd, out, sizeof out);
    ck_assert_msg(st == 60, "curl wrong name: exit %d: %s", st, out);
    /* Without the CA: an unknown issuer (exit 60 too). */
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 https://localhost:%d/", s.port);
    st = run(cmd, out, sizeof out);
    ck_assert_msg(st == 60, "curl without CA: exit %d: %s", st, out);
    /* TLS 1.2 only, too. */
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 10 --tls-max 1.2 --cacert %s https://localhost:%d/", ca,
             s.port);
    st = run(cmd, out, sizeof out);
    ck_assert_msg(st == 0, "curl TLS 1.2: exit %d: %s", st, out);
    ck_assert_str_eq(out, "hello over tls\n");
    srv_stop(&s);
}
END_TEST

START_TEST(test_s_client_verifies) {
    t_tls_setup();
    srv s = {0};
    srv_start(&s);
    char ca[600], cmd[1500], out[16384];
    t_tls_file(ca, sizeof ca, "ca", "pem");
    snprintf(cmd, sizeof cmd,
             "printf \"GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n\" | openssl s_client "
             "-connect 127.0.0.1:%d -servername localhost -verify_hostname localhost "
             "-verify_return_error -CAfile %s -alpn http/1.1 -ign_eof",
             s.port, ca);
    int st = run(cmd, out, sizeof out);
    ck_assert_msg(st == 0, "s_client: exit %d: %s", st, out);
    ck_assert_msg(strstr(out, "Verify return code: 0 (ok)"), "%s", out);
    ck_assert_msg(strstr(out, "ALPN protocol: http/1.1"), "%s", out);
    ck_assert_msg(strstr(out, "hello over tls"), "%s", out);
    /* Wrong name: s_client refuses with -verify_return_error. */
    snprintf(cmd, sizeof cmd,
             "echo | openssl s_client -connect 127.0.0.1:%d -servername localhost "
             "-verify_hostname wrong.example -verify_return_error -CAfile %s",
             s.port, ca);
    st = run(cmd, out, sizeof out);
    ck_assert_msg(st != 0, "s_client accepted a wrong name: %s", out);
    srv_stop(&s);
}
END_TEST

/* corio-httpd --tls-cert/--tls-key (main's --httpd PATH): started with a
 * free port, checked with curl, stopped with SIGTERM (it drains). */
static const char *httpd_path;

START_TEST(test_httpd_https) {
    t_tls_setup();
    char cert[600], key[600], ca[600], cmd[2000], out[4096];
    t_tls_file(cert, sizeof cert, "server", "pem");
    t_tls_file(key, sizeof key, "server", "key");
    t_tls_file(ca, sizeof ca, "ca", "pem");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execl(httpd_path, httpd_path, "--port", "0", "--loops", "1", "--root", "/tmp", "--quiet",
              "--tls-cert", cert, "--tls-key", key, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* "listening on 127.0.0.1:PORT" */
    const char *colon = strrchr(line, ':');
    ck_assert_ptr_nonnull(colon);
    int port = atoi(colon + 1);
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 --cacert %s https://localhost:%d/hello", ca,
             port);
    int st = run(cmd, out, sizeof out);
    /* Plain HTTP on the TLS port: refused, nothing hangs. */
    char cmd2[600], out2[4096];
    snprintf(cmd2, sizeof cmd2, "curl -sS --max-time 10 http://127.0.0.1:%d/hello", port);
    int st2 = run(cmd2, out2, sizeof out2);
    kill(pid, SIGTERM);
    int ws;
    waitpid(pid, &ws, 0);
    fclose(f);
    ck_assert_msg(st == 0, "curl: exit %d: %s", st, out);
    ck_assert_str_eq(out, "Hello, world!");
    ck_assert_msg(st2 != 0 && st2 != 124, "plain HTTP on the TLS port: exit %d: %s", st2, out2);
    ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}
END_TEST

static Suite *interop_suite(void) {
    Suite *s = suite_create("tls_interop");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 120);
    if (httpd_path) {
        tcase_add_test(tc, test_httpd_https);
    } else {
        tcase_add_test(tc, test_curl_verifies);
        tcase_add_test(tc, test_s_client_verifies);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--httpd") == 0)
        httpd_path = argv[2];
    if (system("command -v curl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "curl not installed: skipped\n");
        return 77;
    }
    int r = t_tls_make_pki();
    if (r == 77)
        return 77;
    int rc = t_run_suite(interop_suite());
    t_tls_remove_pki();
    return rc;
}
