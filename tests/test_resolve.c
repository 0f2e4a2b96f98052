/* Tests for corio/resolve.h against a real dnsmasq started on 127.0.0.1 on
 * a free port with a test hosts file: A, NXDOMAIN, a server that never
 * answers, numeric addresses, bad input, and many concurrent lookups on one
 * loop while a timer coroutine keeps firing. More (CNAME, TCP fallback,
 * hosts file, libc backend, getnameinfo, cancel, edge input) are in
 * test_resolve_more.c; the dnsmasq helpers are tests/t_dns.h. */
#include "t_dns.h"

static t_dns dns;
static char servers[64];

static const char *first_addr(struct addrinfo *r, char *buf) { return t_addr_text(r, buf); }

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
    t_dns_start(&dns);
    if (!dns.pid)
        return;
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, lookups, NULL, NULL), 0);
    ck_assert_int_eq(lookups(NULL, NULL), 0); /* the same on a plain thread */
    t_dns_stop(&dns);
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
    int s = t_silent_server(servers, NULL);
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
    int s = t_silent_server(servers, NULL);
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
    t_dns_start(&dns);
    if (!dns.pid)
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
    t_dns_stop(&dns);
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
