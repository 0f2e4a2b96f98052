/* Tests for the HTTP client over TLS (https://) against nginx.
 *
 * main() makes a throw-away CA and a server certificate for 127.0.0.1 and
 * localhost with the openssl command line, a second CA that signed
 * nothing, a small document tree, and an nginx configuration listening
 * with TLS on 127.0.0.1 only; it starts nginx in the foreground (its PID
 * is ours), waits until the port accepts, runs the suite, then stops nginx
 * by that PID and removes the directory. No key is ever committed. Without
 * nginx or openssl the suite is skipped (exit 77). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "corio.h"
#include "t_helpers.h"

static char dir[256];   /* the scratch directory */
static int port;        /* nginx's TLS port */
static pid_t nginx_pid; /* nginx, started by main */

static void t_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

static const char *t_url(const char *host, const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "https://%s:%d%s", host, port, path);
    return buf;
}

/* A client trusting `ca` ("ca.pem", "self.pem"; NULL: the system
 * store, through the client's default context), or insecure. */
static corio_http_client *t_client(const char *ca, bool insecure, corio_tls_context **ctx) {
    *ctx = NULL;
    corio_http_client_options o = {0};
    if (ca || insecure) {
        char p[512];
        if (ca)
            t_path(p, sizeof p, ca);
        corio_tls_options to = {.role = CORIO_TLS_CLIENT, .ca_file = ca ? p : NULL,
                                .insecure = insecure};
        ck_assert_int_eq(corio_tls_context_create(&to, ctx), 0);
        o.tls = *ctx;
    }
    corio_http_client *c;
    ck_assert_int_eq(corio_http_client_create(&o, &c), 0);
    return c;
}

static void t_client_done(corio_http_client *c, corio_tls_context *ctx) {
    ck_assert_int_eq(corio_http_client_destroy(c), 0);
    corio_tls_context_destroy(ctx);
}

/* GET url, collect; returns the code, *len the body length. */
static int t_get(corio_http_client *c, const char *url, int *status, size_t *len) {
    corio_http_client_request rq = {.url = url, .timeout = 20};
    corio_http_client_response *r;
    int rc = corio_http_client_send(c, &rq, &r);
    if (rc < 0)
        return rc;
    *status = corio_http_client_response_status(r);
    void *d;
    rc = corio_http_client_response_collect(r, 1 << 24, &d, len, 20);
    if (rc == 0 && *status == 200) { /* the served files: 'a'..'z' repeated */
        const char *p = d;
        for (size_t i = 0; i < *len && rc == 0; i++)
            if (p[i] != (char)('a' + i % 26))
                rc = -EILSEQ;
    }
    free(d);
    corio_http_client_response_destroy(r);
    return rc;
}

START_TEST(test_https_verified) {
    corio_tls_context *ctx;
    corio_http_client *c = t_client("ca.pem", false, &ctx);
    char u[256];
    int st;
    size_t n;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(t_get(c, t_url("127.0.0.1", "/f64k", u, sizeof u), &st, &n), 0);
        ck_assert_int_eq(st, 200);
        ck_assert_uint_eq(n, 65536);
    }
    ck_assert_int_eq(t_get(c, t_url("localhost", "/f1m", u, sizeof u), &st, &n), 0);
    ck_assert_uint_eq(n, 1 << 20);
    ck_assert_int_eq(t_get(c, t_url("127.0.0.1", "/missing", u, sizeof u), &st, &n), 0);
    ck_assert_int_eq(st, 404);
    corio_http_client_stats s;
    corio_http_client_stats_get(c, &s);
    /* One connection per origin (127.0.0.1 and localhost are two), kept
     * across responses over TLS; the 404 closed nothing (nginx keeps it). */
    ck_assert_uint_le(s.dials, 3);
    ck_assert_uint_ge(s.reuses, 4);
    t_client_done(c, ctx);
}
END_TEST

START_TEST(test_https_wrong_ca) {
    corio_tls_context *ctx;
    corio_http_client *c = t_client("self.pem", false, &ctx);
    char u[256];
    int st;
    size_t n;
    ck_assert_int_eq(t_get(c, t_url("127.0.0.1", "/f64k", u, sizeof u), &st, &n),
                     CORIO_ETLS_VERIFY);
    t_client_done(c, ctx);
    /* The client's default context trusts the system store only. */
    c = t_client(NULL, false, &ctx);
    ck_assert_int_eq(t_get(c, t_url("127.0.0.1", "/f64k", u, sizeof u), &st, &n),
                     CORIO_ETLS_VERIFY);
    t_client_done(c, ctx);
}
END_TEST

START_TEST(test_https_insecure) {
    corio_tls_context *ctx;
    corio_http_client *c = t_client(NULL, true, &ctx);
    char u[256];
    int st;
    size_t n;
    ck_assert_int_eq(t_get(c, t_url("127.0.0.1", "/f64k", u, sizeof u), &st, &n), 0);
    ck_assert_uint_eq(n, 65536);
    t_client_done(c, ctx);
}
END_TEST

/* A redirect over https, on the same pooled TLS connection. */
START_TEST(test_https_redirect) {
    corio_tls_context *ctx;
    corio_http_client *c = t_client("ca.pem", false, &ctx);
    char u[256];
    int st;
    size_t n;
    ck_assert_int_eq(t_get(c, t_url("127.0.0.1", "/moved", u, sizeof u), &st, &n), 0);
    ck_assert_int_eq(st, 200);
    ck_assert_uint_eq(n, 65536);
    t_client_done(c, ctx);
}
END_TEST

/* Many coroutines on two loops and a thread share one client over TLS. */
typedef struct t_job {
    corio_http_client *c;
    int ok;
} t_job;

static int t_work(t_job *j) {
    char u[256];
    for (int i = 0; i < 8; i++) {
        int st;
        size_t n;
        if (t_get(j->c, t_url("127.0.0.1", "/f64k", u, sizeof u), &st, &n) == 0 && n == 65536)
            j->ok++;
    }
    return 0;
}

static int t_coro(void *arg, corio_value *out) {
    (void)out;
    return t_work(arg);
}

static void *t_thread(void *arg) {
    t_work(arg);
    return NULL;
}

START_TEST(test_https_concurrent) {
    corio_tls_context *ctx;
    corio_http_client *c = t_client("ca.pem", false, &ctx);
    corio_runtime_options ro = {.loops = 2};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    t_job jobs[5];
    corio_future *fs[4];
    for (int i = 0; i < 5; i++)
        jobs[i] = (t_job){.c = c};
    for (int i = 0; i < 4; i++) {
        int err;
        fs[i] = corio_spawn_on(rt, i % 2, t_coro, &jobs[i], NULL, &err);
        ck_assert_ptr_nonnull(fs[i]);
    }
    pthread_t th;
    pthread_create(&th, NULL, t_thread, &jobs[4]);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 60, NULL), 0);
        corio_future_unref(fs[i]);
    }
    pthread_join(th, NULL);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(jobs[i].ok, 8);
    corio_runtime_destroy(rt);
    t_client_done(c, ctx);
}
END_TEST

/* --- the server --------------------------------------------------------- */

static int t_sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void t_write_file(const char *name, size_t n) {
    char p[512];
    t_path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), f);
    fclose(f);
}

static int t_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static bool t_port_open(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int t_server_start(void) {
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : NULL;
    if (!nginx || t_sh("command -v openssl >/dev/null 2>&1") != 0)
        return 77;
    snprintf(dir, sizeof dir, "/tmp/corio-https-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char cmd[4096];
    /* The tests' PKI (tests/tls/make_certs.sh): ca.pem, server.pem/.key
     * for localhost and 127.0.0.1, and self.pem, a CA this server's
     * certificate does not chain to. */
    snprintf(cmd, sizeof cmd, "cd %s && mkdir -p www tmp && bash '%s' . >/dev/null", dir,
             T_TLS_MAKE_CERTS);
    if (t_sh(cmd) != 0)
        return 1;
    t_write_file("www/f64k", 65536);
    t_write_file("www/f1m", 1 << 20);
    port = t_free_port();
    char conf[512];
    t_path(conf, sizeof conf, "nginx.conf");
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "daemon off; master_process off; worker_processes 1;\n"
            "error_log %s/error.log; pid %s/nginx.pid;\n"
            "events { worker_connections 256; }\n"
            "http { access_log off; client_body_temp_path %s/tmp; proxy_temp_path %s/tmp;\n"
            "  fastcgi_temp_path %s/tmp; uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;\n"
            "  server { listen 127.0.0.1:%d ssl; root %s/www; keepalive_requests 100000;\n"
            "    ssl_certificate %s/server.pem; ssl_certificate_key %s/server.key;\n"
            "    location = /moved { return 302 /f64k; } } }\n",
            dir, dir, dir, dir, dir, dir, dir, port, dir, dir, dir);
    fclose(f);
    nginx_pid = fork();
    if (nginx_pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execl(nginx, nginx, "-p", dir, "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !t_port_open(); i++) { /* readiness: at most 5 s */
        if (waitpid(nginx_pid, NULL, WNOHANG) == nginx_pid)
            return 77; /* nginx could not start here (say, no permission) */
        t_sleep(0.01);
    }
    return t_port_open() ? 0 : 1;
}

static void t_server_stop(void) {
    if (nginx_pid > 0) {
        kill(nginx_pid, SIGTERM);
        waitpid(nginx_pid, NULL, 0);
    }
    if (dir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        t_sh(cmd);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int rc = t_server_start();
    if (rc != 0) {
        fprintf(stderr, "https tests skipped or failed to start nginx (%d)\n", rc);
        t_server_stop();
        return rc;
    }
    Suite *s = suite_create("http_client_tls");
    TCase *tc = tcase_create("https");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_https_verified);
    tcase_add_test(tc, test_https_wrong_ca);
    tcase_add_test(tc, test_https_insecure);
    tcase_add_test(tc, test_https_redirect);
    tcase_add_test(tc, test_https_concurrent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    t_server_stop();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
