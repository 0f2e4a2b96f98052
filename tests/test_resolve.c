/* Tests for corio/resolve.h against a real dnsmasq started on 127.0.0.1 on
 * a free port with a test hosts file: A, NXDOMAIN, a server that never
 * answers, numeric addresses, bad input, and many concurrent lookups on one
 * loop while a timer coroutine keeps firing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

static pid_t dns_pid;
static char servers[64];

/* A port on 127.0.0.1 free for both UDP and TCP when asked (dnsmasq binds
 * both); the sockets are released, so another process may still take it:
 * t_dns_start retries with a new port when dnsmasq exits. */
static int t_free_port(void) {
    for (;;) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ck_assert_int_eq(bind(u, (struct sockaddr *)&a, sizeof a), 0);
        socklen_t l = sizeof a;
        getsockname(u, (struct sockaddr *)&a, &l);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = bind(t, (struct sockaddr *)&a, sizeof a) == 0;
        close(t);
        close(u);
        if (ok)
            return ntohs(a.sin_port);
    }
}

/* Start dnsmasq on a free port and wait (bounded) until it answers. Up to
 * 10 ports are tried: one taken between t_free_port and dnsmasq's bind makes
 * dnsmasq exit, which waitpid sees. */
static void t_dns_start(void) {
    if (access("/usr/sbin/dnsmasq", X_OK) != 0)
        return;
    char hosts[] = "/tmp/corio-hosts-XXXXXX";
    int fd = mkstemp(hosts);
    const char *text = "10.1.2.3 alpha.test\n10.1.2.4 beta.test\nfd00::5 six.test\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    for (int attempt = 0; attempt < 10; attempt++) {
        int port = t_free_port();
        char parg[32], harg[64];
        snprintf(parg, sizeof parg, "--port=%d", port);
        snprintf(harg, sizeof harg, "--addn-hosts=%s", hosts);
        dns_pid = fork();
        if (dns_pid == 0) {
            execl("/usr/sbin/dnsmasq", "dnsmasq", "--keep-in-foreground", "--no-resolv",
                  "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root",
                  "--local=/test/", parg, harg, "--pid-file=", (char *)NULL);
            _exit(127);
        }
        snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
        corio_resolver_options o = {.servers = servers, .try_timeout = 1, .attempts = 5};
        ck_assert_int_eq(corio_resolver_configure(&o), 0);
        for (int i = 0; i < 200; i++) {
            int status;
            if (waitpid(dns_pid, &status, WNOHANG) == dns_pid) {
                dns_pid = 0;
                break; /* it exited (port taken): try another */
            }
            struct addrinfo *r = NULL;
            if (corio_getaddrinfo("alpha.test", NULL, NULL, 0.2, &r) == 0) {
                corio_freeaddrinfo(r);
                unlink(hosts);
                return;
            }
            t_sleep(0.01);
        }
        if (dns_pid > 0) {
            kill(dns_pid, SIGKILL);
            waitpid(dns_pid, NULL, 0);
            dns_pid = 0;
        }
    }
    unlink(hosts);
    ck_abort_msg("dnsmasq did not answer");
}

static void t_dns_stop(void) {
    if (dns_pid > 0) {
        kill(dns_pid, SIGTERM);
        waitpid(dns_pid, NULL, 0);
        dns_pid = 0;
    }
}

static const char *first_addr(struct addrinfo *r, char *buf) {
    if (r->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)r->ai_addr)->sin_addr, buf, 64);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)r->ai_addr)->sin6_addr, buf, 64);
    return buf;
}

static int lookups(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char buf[64];
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *r = NULL;
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", "80", &h, 5, &r), 0);
    ck_assert_str_eq(first_addr(r, buf), "10.1.2.3");
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)r->ai_addr)->sin_port), 80);
    ck_assert_ptr_null(r->ai_next);
    corio_freeaddrinfo(r);
    h.ai_family = AF_INET6;
    ck_assert_int_eq(corio_getaddrinfo("six.test", NULL, &h, 5, &r), 0);
    ck_assert_str_eq(first_addr(r, buf), "fd00::5");
    corio_freeaddrinfo(r);
    ck_assert_int_eq(corio_getaddrinfo("nosuch.test", NULL, NULL, 5, &r), CORIO_EAI_NONAME);
    ck_assert_ptr_null(r);
    return 0;
}

START_TEST(test_lookup) {
    t_dns_start();
    if (!dns_pid)
        return;
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, lookups, NULL, NULL), 0);
    ck_assert_int_eq(lookups(NULL, NULL), 0); /* the same on a plain thread */
    t_dns_stop();
}
END_TEST

START_TEST(test_bad_input) {
    struct addrinfo *r = (struct addrinfo *)1;
    ck_assert_int_eq(corio_getaddrinfo("x", NULL, NULL, 1, NULL), -EINVAL);
    ck_assert_int_eq(corio_getaddrinfo("", NULL, NULL, 1, &r), -EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(corio_getaddrinfo(NULL, NULL, NULL, 1, &r), CORIO_EAI_NONAME);
    char big[301];
    memset(big, 'a', 300);
    big[300] = 0;
    ck_assert_int_eq(corio_getaddrinfo(big, NULL, NULL, 1, &r), -ENAMETOOLONG);
    ck_assert_int_eq(corio_getaddrinfo("127.0.0.1", "70000", NULL, 1, &r), CORIO_EAI_SERVICE);
    ck_assert_int_eq(corio_getaddrinfo("127.0.0.1", "no-such-service", NULL, 1, &r),
                     CORIO_EAI_SERVICE);
    ck_assert_int_eq(corio_getaddrinfo("127.0.0.1", "1", NULL, 0.0 / 0.0, &r), -EINVAL);
    ck_assert_str_eq(corio_error_name(CORIO_EAI_AGAIN), "CORIO_EAI_AGAIN");
    ck_assert_str_eq(corio_strerror(CORIO_EAI_NONAME), "name or service not known");
    struct addrinfo h = {.ai_socktype = SOCK_STREAM};
    ck_assert_int_eq(corio_getaddrinfo("::1", "443", &h, 0, &r), 0);
    ck_assert_int_eq(r->ai_family, AF_INET6);
    corio_freeaddrinfo(r);
    corio_freeaddrinfo(NULL);
}
END_TEST

static int silent_lookup(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo *r = NULL;
    double t0 = t_now();
    ck_assert_int_eq(corio_getaddrinfo("slow.test", NULL, NULL, 0.3, &r), -ETIMEDOUT);
    ck_assert(t_now() - t0 < 3);
    return 0;
}

START_TEST(test_timeout) {
    /* A UDP socket that never answers. */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    snprintf(servers, sizeof servers, "127.0.0.1:%d", ntohs(a.sin_port));
    corio_resolver_options o = {.servers = servers, .try_timeout = 5, .attempts = 1};
    ck_assert_int_eq(corio_resolver_configure(&o), 0);
    corio_runtime_options ro = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&ro, silent_lookup, NULL, NULL), 0);
    ck_assert_int_eq(silent_lookup(NULL, NULL), 0);
    close(s);
}
END_TEST

static int cancelled_lookup(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo *r = NULL;
    return corio_getaddrinfo("never.test", NULL, NULL, 30, &r);
}

START_TEST(test_cancel) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    snprintf(servers, sizeof servers, "127.0.0.1:%d", ntohs(a.sin_port));
    corio_resolver_options o = {.servers = servers, .try_timeout = 10, .attempts = 1};
    ck_assert_int_eq(corio_resolver_configure(&o), 0);
    corio_runtime_options ro = {.loops = 1, .no_pin = true};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    corio_future *f = t_spawn(rt, 0, cancelled_lookup, NULL);
    /* The query reaches the silent server: then cancel. */
    char buf[512];
    ck_assert_int_gt(recv(s, buf, sizeof buf, 0), 0);
    double t0 = t_now();
    corio_future_cancel(f);
    ck_assert_int_eq(corio_future_result(f, 10, NULL), -ECANCELED);
    ck_assert(t_now() - t0 < 2);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    close(s);
}
END_TEST

static _Atomic int ok_count;
static _Atomic int last_err;

static int one_lookup(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo *r = NULL;
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    int e = corio_getaddrinfo("beta.test", "1", &h, 20, &r);
    if (e == 0)
        ok_count++;
    else
        last_err = e;
    corio_freeaddrinfo(r);
    return 0;
}

static _Atomic int ticking;
static double max_gap;

/* Sleeps 10 ms at a time while the lookups run; records the longest gap. */
static int ticker(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    double last = t_now();
    while (ticking) {
        if (corio_sleep(0.01) < 0)
            break;
        double now = t_now();
        if (now - last > max_gap)
            max_gap = now - last;
        last = now;
    }
    return 0;
}

START_TEST(test_many_concurrent) {
    t_dns_start();
    if (!dns_pid)
        return;
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    size_t n = t_scale(1000, 50);
    ticking = 1;
    corio_future *tick = t_spawn(rt, 0, ticker, NULL);
    corio_future **fs = calloc(n, sizeof *fs);
    for (size_t i = 0; i < n; i++)
        fs[i] = t_spawn(rt, 0, one_lookup, NULL);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 60, NULL), 0);
        corio_future_unref(fs[i]);
    }
    free(fs);
    ticking = 0;
    ck_assert_int_eq(corio_future_result(tick, 10, NULL), 0);
    corio_future_unref(tick);
    ck_assert_msg(ok_count == (int)n, "%d of %zu lookups failed, last with %s", (int)n - ok_count,
                  n, corio_error_name(last_err));
    ck_assert_msg(max_gap < 0.5, "the loop stalled %.3f s", max_gap);
    corio_runtime_destroy(rt);
    t_dns_stop();
}
END_TEST

static Suite *resolve_suite(void) {
    Suite *s = suite_create("resolve");
    TCase *tc = tcase_create("resolve");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_many_concurrent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(resolve_suite()); }
