/* More tests for corio/resolve.h against a real dnsmasq (tests/t_dns.h):
 * CNAME chains and AI_CANONNAME, the TCP retry of a truncated answer, the
 * CARES_HOSTS hosts file, the libc backend on the blocking pool,
 * getnameinfo (numeric, PTR through dnsmasq, NI_NAMEREQD, overflow), a
 * cancelled lookup (and the loop's channel afterwards), and edge input.
 * Most lookups run twice: in a coroutine (the loop's channel on io_uring)
 * and on the plain test thread (a per-call channel driven by poll(2)). */
#include <poll.h>
#include <strings.h>

#include "t_dns.h"

static t_dns dns;

/* Run fn in a coroutine of a fresh 1-loop runtime, then on this thread. */
static void t_both(corio_fn fn, void *arg) {
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, fn, arg, NULL), 0);
    ck_assert_int_eq(fn(arg, NULL), 0);
}

/* How many entries of r are AF_INET/SOCK_STREAM. */
static int count_inet_stream(const struct addrinfo *r) {
    int n = 0;
    for (; r; r = r->ai_next)
        n += r->ai_family == AF_INET && r->ai_socktype == SOCK_STREAM;
    return n;
}

/* A name of exactly `len` characters under .test: labels of up to 63,
 * then "test", plus a final dot when `dot`. */
static void make_name(char *out, size_t len, int dot) {
    size_t body = len - strlen(".test") - (dot ? 1 : 0), n = 0;
    while (n < body) {
        size_t l = body - n > 63 ? 63 : body - n;
        if (body - n - l == 1) /* never leave a single '.' with an empty label */
            l--;
        memset(out + n, 'a', l);
        n += l;
        if (n < body)
            out[n++] = '.';
    }
    strcpy(out + n, dot ? ".test." : ".test");
    ck_assert_uint_eq(strlen(out), len);
}

/* ---- CNAME ---- */

static int cname_lookups(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char buf[64];
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *r = NULL;
    ck_assert_int_eq(corio_getaddrinfo("alias.test", "80", &h, 5, &r), 0);
    ck_assert_str_eq(t_addr_text(r, buf), "10.1.2.3");
    ck_assert_ptr_null(r->ai_canonname); /* not asked for */
    ck_assert_ptr_null(r->ai_next);
    corio_freeaddrinfo(r);
    h.ai_flags = AI_CANONNAME;
    ck_assert_int_eq(corio_getaddrinfo("alias.test", "80", &h, 5, &r), 0);
    ck_assert_str_eq(t_addr_text(r, buf), "10.1.2.3");
    ck_assert_ptr_nonnull(r->ai_canonname);
    ck_assert_str_eq(r->ai_canonname, "alpha.test"); /* the end of the chain */
    corio_freeaddrinfo(r);
    /* Two links: alias2 -> alias -> alpha. */
    ck_assert_int_eq(corio_getaddrinfo("alias2.test", NULL, &h, 5, &r), 0);
    ck_assert_str_eq(t_addr_text(r, buf), "10.1.2.3");
    ck_assert_str_eq(r->ai_canonname, "alpha.test");
    corio_freeaddrinfo(r);
    /* No CNAME: the name asked. */
    ck_assert_int_eq(corio_getaddrinfo("beta.test", NULL, &h, 5, &r), 0);
    ck_assert_str_eq(r->ai_canonname, "beta.test");
    corio_freeaddrinfo(r);
    return 0;
}

START_TEST(test_cname) {
    const char *extra[] = {"--cname=alias.test,alpha.test", "--cname=alias2.test,alias.test",
                           NULL};
    t_dns_start_ex(&dns, NULL, extra);
    if (!dns.pid)
        return;
    t_both(cname_lookups, NULL);
    t_dns_stop(&dns);
}
END_TEST

/* ---- a truncated UDP answer, retried over TCP ---- */

#define BIG_N 60

static int big_lookup(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *r = NULL;
    ck_assert_int_eq(corio_getaddrinfo("big.test", "443", &h, 10, &r), 0);
    /* Every address, each once: 60 A records do not fit in 512 bytes, so
     * only the TCP answer can hold them all. */
    ck_assert_int_eq(count_inet_stream(r), BIG_N);
    unsigned char seen[BIG_N + 1] = {0};
    for (struct addrinfo *e = r; e; e = e->ai_next) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)e->ai_addr;
        uint32_t a = ntohl(sin->sin_addr.s_addr);
        ck_assert_uint_eq(a >> 8, (10u << 16) | (2u << 8)); /* 10.2.0.x */
        ck_assert_uint_ge(a & 0xff, 1);
        ck_assert_uint_le(a & 0xff, BIG_N);
        ck_assert_int_eq(seen[a & 0xff]++, 0);
        ck_assert_int_eq(ntohs(sin->sin_port), 443);
    }
    corio_freeaddrinfo(r);
    return 0;
}

static int big_many(void *arg, corio_value *out) {
    (void)out;
    int n = *(int *)arg;
    corio_future *fs[16];
    int err = 0;
    for (int i = 0; i < n; i++) {
        fs[i] = corio_spawn(big_lookup, NULL, &err);
        ck_assert_ptr_nonnull(fs[i]);
    }
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 20, NULL), 0);
        corio_future_unref(fs[i]);
    }
    return 0;
}

START_TEST(test_tcp_fallback) {
    char hosts[BIG_N * 24 + sizeof T_DNS_HOSTS];
    size_t len = (size_t)snprintf(hosts, sizeof hosts, "%s", T_DNS_HOSTS);
    for (int i = 1; i <= BIG_N; i++)
        len += (size_t)snprintf(hosts + len, sizeof hosts - len, "10.2.0.%d big.test\n", i);
    t_dns_start_ex(&dns, hosts, NULL);
    if (!dns.pid)
        return;
    t_both(big_lookup, NULL);
    int n = 8; /* several at once on one loop: one TCP connection each or shared */
    corio_runtime_options o = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, big_many, &n, NULL), 0);
    /* use_tcp: every query over TCP, small answers too. */
    corio_resolver_options ro = {.servers = dns.servers, .try_timeout = 1, .attempts = 3,
                                 .use_tcp = true};
    ck_assert_int_eq(corio_resolver_configure(&ro), 0);
    t_both(big_lookup, NULL);
    t_dns_stop(&dns);
}
END_TEST

/* ---- the hosts file of CARES_HOSTS ---- */

static int hosts_lookup(void *arg, corio_value *out) {
    (void)out;
    const char *want = arg;
    char buf[64];
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *r = NULL;
    double t0 = t_now();
    /* The only server never answers and has 5 s per try: a DNS query
     * would end in -ETIMEDOUT after 2 s. */
    ck_assert_int_eq(corio_getaddrinfo("hostsonly.test", NULL, &h, 2, &r), 0);
    ck_assert(t_now() - t0 < 1);
    ck_assert_str_eq(t_addr_text(r, buf), want);
    corio_freeaddrinfo(r);
    /* Timeout 0: the file is read inline, so it completes at once; a name
     * not in it would need the (silent) server. */
    ck_assert_int_eq(corio_getaddrinfo("hostsonly.test", NULL, &h, 0, &r), 0);
    corio_freeaddrinfo(r);
    t0 = t_now();
    ck_assert_int_eq(corio_getaddrinfo("nothere.test", NULL, &h, 0, &r), -ETIMEDOUT);
    ck_assert_ptr_null(r);
    ck_assert(t_now() - t0 < 0.5);
    /* Names DNS cannot carry are refused by c-ares without a query (one
     * would time out here): 254 bytes without a final dot, a label of 64. */
    char name[300];
    make_name(name, 254, 0);
    t0 = t_now();
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, &h, 2, &r), CORIO_EAI_NONAME);
    memset(name, 'a', 64);
    strcpy(name + 64, ".test");
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, &h, 2, &r), CORIO_EAI_NONAME);
    ck_assert(t_now() - t0 < 0.5);
    return 0;
}

static int hosts_twice(void *arg, corio_value *out) {
    /* The same loop and channel: the file is read at each lookup. */
    char **files = arg;
    ck_assert_int_eq(setenv("CARES_HOSTS", files[0], 1), 0);
    hosts_lookup("10.7.7.7", out);
    ck_assert_int_eq(setenv("CARES_HOSTS", files[1], 1), 0);
    hosts_lookup("10.7.7.8", out);
    return 0;
}

static void write_hosts(char *path, const char *text) {
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

START_TEST(test_hosts_file) {
    char servers[64];
    int s = t_silent_server(servers, NULL);
    corio_resolver_options o = {.servers = servers, .try_timeout = 5, .attempts = 1};
    ck_assert_int_eq(corio_resolver_configure(&o), 0);
    char f1[] = "/tmp/corio-chosts-XXXXXX", f2[] = "/tmp/corio-chosts-XXXXXX";
    write_hosts(f1, "# test\n10.7.7.7 hostsonly.test other.test\n");
    write_hosts(f2, "10.7.7.8 hostsonly.test\n");
    /* Set before the runtime (and its loop threads) exist. */
    ck_assert_int_eq(setenv("CARES_HOSTS", f1, 1), 0);
    t_both(hosts_lookup, "10.7.7.7");
    /* Changed while the loop's channel exists: honoured at the next
     * lookup (c-ares 1.18 reads the file, and the variable, per lookup). */
    char *files[2] = {f1, f2};
    corio_runtime_options ro = {.loops = 1, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&ro, hosts_twice, files, NULL), 0);
    /* hostsonly.test never reached the server: only nothere.test did. */
    unsigned char buf[512];
    ssize_t n;
    int queries = 0;
    while ((n = recv(s, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        ck_assert_int_gt(n, 20);
        ck_assert_int_eq(buf[12], 7);
        ck_assert(memcmp(buf + 13, "nothere", 7) == 0);
        queries++;
    }
    ck_assert_int_ge(queries, 1);
    unsetenv("CARES_HOSTS");
    unlink(f1);
    unlink(f2);
    close(s);
}
END_TEST

/* ---- the libc backend on the blocking pool ---- */

static _Atomic int ticks;
static _Atomic int ticking;

static int ticker(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    while (ticking) {
        if (corio_sleep(0.001) < 0)
            break;
        ticks++;
    }
    return 0;
}

static void check_localhost(const struct addrinfo *r) {
    char buf[64];
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->ai_family, AF_INET);
    ck_assert_str_eq(t_addr_text(r, buf), "127.0.0.1");
    ck_assert_int_eq(ntohs(((const struct sockaddr_in *)r->ai_addr)->sin_port), 8080);
}

/* Lookups back to back, never yielding on its own: the ticker can only run
 * while a lookup has this coroutine suspended on the pool's future. Done
 * inline on the loop thread, the ticks would stay 0. */
static int libc_lookups(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    int start = ticks, i;
    for (i = 0; i < 20000 && ticks - start < 5; i++) {
        struct addrinfo *r = NULL;
        ck_assert_int_eq(corio_getaddrinfo("localhost", "8080", &h, 5, &r), 0);
        check_localhost(r);
        corio_freeaddrinfo(r);
    }
    ck_assert_msg(ticks - start >= 5, "the ticker ran %d times over %d lookups", ticks - start, i);
    char host[64];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL,
                                       0, NI_NAMEREQD, 5),
                     0);
    ck_assert_str_eq(host, "localhost");
    return 0;
}

START_TEST(test_libc_backend) {
    corio_resolver_options o = {.backend = CORIO_RESOLVER_LIBC};
    ck_assert_int_eq(corio_resolver_configure(&o), 0);
    corio_runtime_options ro = {.loops = 1, .no_pin = true};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    ticking = 1;
    corio_future *tick = t_spawn(rt, 0, ticker, NULL);
    corio_future *f = t_spawn(rt, 0, libc_lookups, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    ticking = 0;
    ck_assert_int_eq(corio_future_result(tick, 5, NULL), 0);
    corio_future_unref(f);
    corio_future_unref(tick);
    corio_runtime_destroy(rt);
    /* On a plain thread: the process-wide pool, the same answer. */
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *r = NULL;
    ck_assert_int_eq(corio_getaddrinfo("localhost", "8080", &h, 5, &r), 0);
    check_localhost(r);
    corio_freeaddrinfo(r);
    ck_assert_int_eq(corio_resolver_configure(NULL), 0);
}
END_TEST

/* ---- getnameinfo ---- */

static struct sockaddr_in sin4(const char *addr, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    ck_assert_int_eq(inet_pton(AF_INET, addr, &a.sin_addr), 1);
    return a;
}

static int nameinfo_checks(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    struct sockaddr_in a = sin4("127.0.0.1", 80);
    const struct sockaddr *sa = (const struct sockaddr *)&a;
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, host, sizeof host, serv, sizeof serv,
                                       NI_NUMERICHOST | NI_NUMERICSERV, 5),
                     0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(serv, "80");
    /* The service by name, from /etc/services; the host not wanted. */
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, NULL, 0, serv, sizeof serv, 0, 5), 0);
    ck_assert_str_eq(serv, "http");
    /* PTR through dnsmasq (its addn-hosts entries), IPv4 and IPv6. */
    struct sockaddr_in b = sin4("10.1.2.3", 0);
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&b, sizeof b, host, sizeof host, NULL,
                                       0, NI_NAMEREQD, 5),
                     0);
    ck_assert_str_eq(host, "alpha.test");
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    ck_assert_int_eq(inet_pton(AF_INET6, "fd00::5", &s6.sin6_addr), 1);
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&s6, sizeof s6, host, sizeof host,
                                       NULL, 0, 0, 5),
                     0);
    ck_assert_str_eq(host, "six.test");
    /* No name: NI_NAMEREQD fails, else the numeric form. */
    struct sockaddr_in c = sin4("10.1.2.99", 0);
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&c, sizeof c, host, sizeof host, NULL,
                                       0, NI_NAMEREQD, 5),
                     CORIO_EAI_NONAME);
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&c, sizeof c, host, sizeof host, NULL,
                                       0, 0, 5),
                     0);
    ck_assert_str_eq(host, "10.1.2.99");
    /* Neither buffer. */
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, NULL, 0, NULL, 0, 0, 5), CORIO_EAI_NONAME);
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, NULL, 10, NULL, 10, 0, 5),
                     CORIO_EAI_NONAME);
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, host, 0, serv, 0, 0, 5), CORIO_EAI_NONAME);
    /* Buffers too small: numeric host, looked-up name, service. */
    char tiny[4];
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, tiny, sizeof tiny, NULL, 0, NI_NUMERICHOST,
                                       5),
                     CORIO_EAI_OVERFLOW);
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&b, sizeof b, tiny, sizeof tiny, NULL,
                                       0, 0, 5),
                     CORIO_EAI_OVERFLOW);
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&b, sizeof b, host, sizeof("alpha.test"),
                                       NULL, 0, 0, 5),
                     0); /* exactly the name and its NUL */
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, NULL, 0, tiny, 2, NI_NUMERICSERV, 5),
                     CORIO_EAI_OVERFLOW);
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, NULL, 0, tiny, 3, NI_NUMERICSERV, 5), 0);
    ck_assert_str_eq(tiny, "80");
    /* Bad input. */
    ck_assert_int_eq(corio_getnameinfo(NULL, sizeof a, host, sizeof host, NULL, 0, 0, 5),
                     -EINVAL);
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, host, sizeof host, NULL, 0, 0, 0.0 / 0.0),
                     -EINVAL);
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a - 1, host, sizeof host, NULL, 0, 0, 5),
                     CORIO_EAI_FAMILY);
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    ck_assert_int_eq(corio_getnameinfo((struct sockaddr *)&un, sizeof un, host, sizeof host, NULL,
                                       0, 0, 5),
                     CORIO_EAI_FAMILY);
    ck_assert_int_eq(corio_getnameinfo(sa, sizeof a, host, sizeof host, NULL, 0, 0x40000000, 5),
                     CORIO_EAI_BADFLAGS);
    return 0;
}

START_TEST(test_getnameinfo) {
    t_dns_start(&dns);
    if (!dns.pid)
        return;
    t_both(nameinfo_checks, NULL);
    t_dns_stop(&dns);
}
END_TEST

/* ---- cancel ---- */

typedef struct blocked {
    const char *name;  /* asked of the silent upstream */
    _Atomic int rc;    /* corio_getaddrinfo's own return; 1 until it returned */
    double returned;   /* when it returned (t_now) */
} blocked;

static int blocked_lookup(void *arg, corio_value *out) {
    (void)out;
    blocked *b = arg;
    struct addrinfo h = {.ai_family = AF_INET}, *r = NULL;
    int e = corio_getaddrinfo(b->name, NULL, &h, 30, &r);
    ck_assert_ptr_null(r);
    b->returned = t_now();
    b->rc = e;
    return 0;
}

static int alpha_lookup(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char buf[64];
    struct addrinfo h = {.ai_family = AF_INET}, *r = NULL;
    double t0 = t_now();
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, &h, 5, &r), 0);
    ck_assert(t_now() - t0 < 1);
    ck_assert_str_eq(t_addr_text(r, buf), "10.1.2.3");
    corio_freeaddrinfo(r);
    return 0;
}

/* Receive one query dnsmasq forwarded to the silent upstream (bounded). */
static ssize_t upstream_recv(int s, unsigned char *buf, size_t len, struct sockaddr_in *from) {
    struct pollfd p = {.fd = s, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    socklen_t fl = sizeof *from;
    ssize_t n = recvfrom(s, buf, len, 0, (struct sockaddr *)from, &fl);
    ck_assert_int_gt(n, 12);
    return n;
}

/* Wait for the forwarded query whose name starts with label `label`,
 * skipping others (retransmissions); returns its length. */
static ssize_t upstream_query_for(int s, const char *label, unsigned char *buf, size_t len,
                                  struct sockaddr_in *from) {
    for (int i = 0; i < 20; i++) {
        ssize_t n = upstream_recv(s, buf, len, from);
        if ((size_t)buf[12] == strlen(label) &&
            strncasecmp((const char *)buf + 13, label, strlen(label)) == 0)
            return n;
    }
    ck_abort_msg("no query for %s reached the upstream", label);
    return -1;
}

static void cancel_one(corio_future *f, blocked *b) {
    double t0 = t_now();
    ck_assert(corio_future_cancel(f));
    int r = corio_future_result(f, 5, NULL);
    ck_assert_msg(r == 0 || r == -ECANCELED, "future: %s", corio_error_name(r));
    ck_assert_int_eq(b->rc, -ECANCELED);
    ck_assert_msg(b->returned - t0 < 0.5, "returned %.3f s after the cancel", b->returned - t0);
}

START_TEST(test_cancel_then_resolve) {
    /* dnsmasq forwards *.silent.test to a socket that never answers on its
     * own, so one channel (one configuration) has both a silent name and
     * names answered at once. */
    int up_port;
    char up[64], fwd[96];
    int s = t_silent_server(up, &up_port);
    snprintf(fwd, sizeof fwd, "--server=/silent.test/127.0.0.1#%d", up_port);
    const char *extra[] = {fwd, NULL};
    t_dns_start_ex(&dns, NULL, extra);
    if (!dns.pid) {
        close(s);
        return;
    }
    corio_runtime_options ro = {.loops = 1, .no_pin = true};
    corio_runtime *rt;
    ck_assert_int_eq(corio_runtime_create(&ro, &rt), 0);
    unsigned char pkt[512];
    struct sockaddr_in from;

    /* 1. The only query in flight, cancelled: the channel is idle after. */
    for (int round = 0; round < 2; round++) {
        blocked b = {.name = round ? "q1.silent.test" : "q0.silent.test", .rc = 1};
        corio_future *f = t_spawn(rt, 0, blocked_lookup, &b);
        upstream_query_for(s, round ? "q1" : "q0", pkt, sizeof pkt, &from);
        ck_assert_int_eq(b.rc, 1);
        cancel_one(f, &b);
        corio_future_unref(f);
        corio_future *g = t_spawn(rt, 0, alpha_lookup, NULL);
        ck_assert_int_eq(corio_future_result(g, 10, NULL), 0);
        corio_future_unref(g);
    }

    /* 2. Two in flight, one cancelled: its record stays with c-ares, and
     * its late answer (NXDOMAIN, sent after the cancel) is dropped; the
     * other's answer still reaches it. */
    blocked a = {.name = "qa.silent.test", .rc = 1}, b = {.name = "qb.silent.test", .rc = 1};
    corio_future *fa = t_spawn(rt, 0, blocked_lookup, &a);
    ssize_t na = upstream_query_for(s, "qa", pkt, sizeof pkt, &from);
    unsigned char qa[512];
    memcpy(qa, pkt, (size_t)na);
    struct sockaddr_in from_a = from;
    corio_future *fb = t_spawn(rt, 0, blocked_lookup, &b);
    ssize_t nb = upstream_query_for(s, "qb", pkt, sizeof pkt, &from);
    cancel_one(fa, &a);
    ck_assert_int_eq(b.rc, 1); /* still waiting */
    corio_future *g = t_spawn(rt, 0, alpha_lookup, NULL); /* meanwhile, on the same channel */
    ck_assert_int_eq(corio_future_result(g, 10, NULL), 0);
    corio_future_unref(g);
    /* Answer both, a's first: NXDOMAIN (QR, RD, RA, RCODE 3). */
    qa[2] = 0x81, qa[3] = 0x83;
    ck_assert_int_eq(sendto(s, qa, (size_t)na, 0, (struct sockaddr *)&from_a, sizeof from_a), na);
    pkt[2] = 0x81, pkt[3] = 0x83;
    ck_assert_int_eq(sendto(s, pkt, (size_t)nb, 0, (struct sockaddr *)&from, sizeof from), nb);
    ck_assert_int_eq(corio_future_result(fb, 10, NULL), 0);
    ck_assert_int_eq(b.rc, CORIO_EAI_NONAME);
    ck_assert_int_eq(a.rc, -ECANCELED);
    corio_future_unref(fa);
    corio_future_unref(fb);
    g = t_spawn(rt, 0, alpha_lookup, NULL);
    ck_assert_int_eq(corio_future_result(g, 10, NULL), 0);
    corio_future_unref(g);

    /* 3. Still blocked when the runtime ends: destroy cancels it. */
    blocked c = {.name = "qc.silent.test", .rc = 1};
    corio_future *fc = t_spawn(rt, 0, blocked_lookup, &c);
    upstream_query_for(s, "qc", pkt, sizeof pkt, &from);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(c.rc, -ECANCELED);
    corio_future_unref(fc);
    t_dns_stop(&dns);
    close(s);
}
END_TEST

/* ---- edge input ---- */

static int edge_checks(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo *r = (struct addrinfo *)1;
    char name[300];
    /* 253: the longest name DNS carries (255 octets on the wire). */
    make_name(name, 253, 0);
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, NULL, 5, &r), CORIO_EAI_NONAME);
    ck_assert_ptr_null(r);
    /* 254: the same with its final dot. */
    make_name(name, 254, 1);
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, NULL, 5, &r), CORIO_EAI_NONAME);
    /* 254 without a final dot: one octet too long for DNS. */
    make_name(name, 254, 0);
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, NULL, 5, &r), CORIO_EAI_NONAME);
    /* 255: refused before any query. */
    make_name(name, 255, 1);
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, NULL, 5, &r), -ENAMETOOLONG);
    ck_assert_ptr_null(r);
    /* A label over 63. */
    memset(name, 'a', 64);
    strcpy(name + 64, ".test");
    ck_assert_int_eq(corio_getaddrinfo(name, NULL, NULL, 5, &r), CORIO_EAI_NONAME);
    /* Timeouts: NaN, 0 (only what completes at once: numbers, the hosts
     * file; see test_hosts_file), negative (none). */
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, NULL, 0.0 / 0.0, &r), -EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(corio_getaddrinfo("127.0.0.1", "80", NULL, 0, &r), 0);
    corio_freeaddrinfo(r);
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, NULL, -1, &r), 0);
    corio_freeaddrinfo(r);
    /* Hints: bad family, flags, socket type; for a name and a number. */
    struct addrinfo h = {.ai_family = AF_UNIX};
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, &h, 5, &r), CORIO_EAI_FAMILY);
    ck_assert_int_eq(corio_getaddrinfo("127.0.0.1", NULL, &h, 5, &r), CORIO_EAI_FAMILY);
    h.ai_family = 12345;
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, &h, 5, &r), CORIO_EAI_FAMILY);
    h = (struct addrinfo){.ai_flags = 0x40000000};
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, &h, 5, &r), CORIO_EAI_BADFLAGS);
    ck_assert_int_eq(corio_getaddrinfo("127.0.0.1", NULL, &h, 5, &r), CORIO_EAI_BADFLAGS);
    h.ai_flags = AI_CANONNAME; /* with no host: as glibc */
    ck_assert_int_eq(corio_getaddrinfo(NULL, "80", &h, 5, &r), CORIO_EAI_BADFLAGS);
    h = (struct addrinfo){.ai_socktype = 12345};
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", "80", &h, 5, &r), CORIO_EAI_SOCKTYPE);
    h = (struct addrinfo){.ai_flags = AI_NUMERICHOST};
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", NULL, &h, 5, &r), CORIO_EAI_NONAME);
    h = (struct addrinfo){.ai_flags = AI_NUMERICSERV};
    ck_assert_int_eq(corio_getaddrinfo("alpha.test", "http", &h, 5, &r), CORIO_EAI_NONAME);
    ck_assert_ptr_null(r);
    return 0;
}

START_TEST(test_edge_input) {
    t_dns_start(&dns);
    if (!dns.pid)
        return;
    t_both(edge_checks, NULL);
    /* Options: NaN or negative try timeout, negative attempts, unknown
     * backend, unparsable servers. */
    corio_resolver_options o = {.try_timeout = 0.0 / 0.0};
    ck_assert_int_eq(corio_resolver_configure(&o), -EINVAL);
    o = (corio_resolver_options){.try_timeout = -1};
    ck_assert_int_eq(corio_resolver_configure(&o), -EINVAL);
    o = (corio_resolver_options){.attempts = -1};
    ck_assert_int_eq(corio_resolver_configure(&o), -EINVAL);
    o = (corio_resolver_options){.backend = 3};
    ck_assert_int_eq(corio_resolver_configure(&o), -EINVAL);
    o = (corio_resolver_options){.servers = "not an address"};
    ck_assert_int_eq(corio_resolver_configure(&o), -EINVAL);
    o = (corio_resolver_options){.servers = ""};
    ck_assert_int_eq(corio_resolver_configure(&o), -EINVAL);
    t_dns_stop(&dns);
}
END_TEST

static Suite *resolve_more_suite(void) {
    Suite *s = suite_create("resolve_more");
    TCase *tc = tcase_create("resolve_more");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cname);
    tcase_add_test(tc, test_tcp_fallback);
    tcase_add_test(tc, test_hosts_file);
    tcase_add_test(tc, test_libc_backend);
    tcase_add_test(tc, test_getnameinfo);
    tcase_add_test(tc, test_cancel_then_resolve);
    tcase_add_test(tc, test_edge_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(resolve_more_suite()); }
