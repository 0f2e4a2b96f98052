/* Tests for corio/net.h dialling: refused and timed-out dials, descriptor
 * exhaustion, Happy Eyeballs against a v6 address that drops SYNs (a full
 * accept queue on ::1 always; a blackholed route in a network namespace
 * the test creates when it is root), IPv6 first whatever the list order,
 * cancel during a dial with no descriptor left behind (/proc/self/fd).
 *
 * Loop tests run in three worlds: _i = 0 a coroutine on the ring, 1 a
 * coroutine through the fallback path (ring poll + system call), 2 a plain
 * thread. */
#include "t_net.h"

/* ---- dial failures, Happy Eyeballs ----------------------------------------- */

static int t_refused(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int port;
    int hold = t_refusing_port(&port);
    char p[8];
    int base = t_count_fds();
    ck_assert_int_eq(corio_dial("127.0.0.1", t_port(p, port), 5), -ECONNREFUSED);
    /* Two refusing addresses: the second starts at once when the first
     * fails, not after the attempt delay (made long to tell them apart). */
    t_ai v6, v4;
    t_ai_set(&v4, "127.0.0.1", port, NULL);
    t_ai_set(&v6, "::1", port, &v4);
    corio_dial_options o = {.attempt_delay = 2.0};
    double t0 = t_now();
    ck_assert_int_eq(corio_dial_addrinfo(&v6.ai, &o, 5), -ECONNREFUSED);
    ck_assert_msg(t_now() - t0 < 1.5, "took %.3f s", t_now() - t0);
    ck_assert_int_eq(t_count_fds(), base);
    close(hold);
    return 0;
}

START_TEST(test_dial_refused) { ck_assert_int_eq(t_world(_i, t_refused, NULL), 0); }
END_TEST

/* Descriptor exhaustion: every call says -EMFILE, nothing is left open. */
static int t_emfile(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_listener *l;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &l), 0);
    char port[8];
    t_port(port, corio_listener_port(l));
    t_ai v6, v4;
    t_ai_set(&v4, "127.0.0.1", corio_listener_port(l), NULL);
    t_ai_set(&v6, "::1", corio_listener_port(l), &v4);
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int base = t_count_fds();
    low = old;
    low.rlim_cur = (rlim_t)dup(0); /* the lowest free number: none left after it */
    close((int)low.rlim_cur);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    corio_listener *l2 = NULL;
    ck_assert_int_eq(corio_dial("127.0.0.1", port, 5), -EMFILE);
    ck_assert_int_eq(corio_dial_addrinfo(&v6.ai, NULL, 5), -EMFILE);
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &l2), -EMFILE);
    ck_assert_ptr_null(l2);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(t_count_fds(), base);
    int c = corio_dial("127.0.0.1", port, 5); /* and it recovers */
    ck_assert_int_ge(c, 0);
    corio_close(c);
    corio_listener_destroy(l);
    return 0;
}

START_TEST(test_dial_listen_emfile) { ck_assert_int_eq(t_world(_i, t_emfile, NULL), 0); }
END_TEST

/* Happy Eyeballs with a v6 address that drops SYNs and a v4 that answers:
 * connected after about the stagger, not the v6 timeout; the v6 attempt's
 * socket is closed. v6 is given first (corio sorts it first anyway). */
typedef struct t_he {
    const char *v6;   /* the silent IPv6 address */
    int v6port;       /* its port */
} t_he;

static int t_he_body(void *arg, corio_value *out) {
    (void)out;
    t_he *h = arg;
    corio_listener *l;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &l), 0);
    t_ai v6, v4;
    t_ai_set(&v4, "127.0.0.1", corio_listener_port(l), NULL);
    t_ai_set(&v6, h->v6, h->v6port, &v4);
    int base = t_count_fds();
    double t0 = t_now();
    int c = corio_dial_addrinfo(&v6.ai, NULL, 10);
    double dt = t_now() - t0;
    ck_assert_msg(c >= 0, "dial: %s", corio_strerror(c));
    ck_assert_msg(dt >= 0.24 && dt < 1.5, "connected after %.3f s (stagger 0.25 s)", dt);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    ck_assert_int_eq(getpeername(c, (struct sockaddr *)&peer, &len), 0);
    ck_assert_int_eq(peer.ss_family, AF_INET);
    ck_assert_int_eq(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(t_count_fds(), base + 1); /* the winner only */
    int s = corio_listener_accept(l, NULL, NULL, 5);
    ck_assert_int_ge(s, 0);
    t_exchange(c, s, "eyeballs");
    corio_close(s);
    corio_close(c);
    /* A shorter stagger is honoured. */
    corio_dial_options o = {.attempt_delay = 0.05};
    t0 = t_now();
    c = corio_dial_addrinfo(&v6.ai, &o, 10);
    dt = t_now() - t0;
    ck_assert_int_ge(c, 0);
    ck_assert_msg(dt >= 0.04 && dt < 0.24, "connected after %.3f s (stagger 0.05 s, default 0.25)",
                  dt);
    corio_close(c);
    s = corio_listener_accept(l, NULL, NULL, 5);
    ck_assert_int_ge(s, 0);
    corio_close(s);
    /* v6 alone: the overall timeout, not a hang. */
    v6.ai.ai_next = NULL;
    t0 = t_now();
    ck_assert_int_eq(corio_dial_addrinfo(&v6.ai, NULL, 0.3), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.29);
    ck_assert_int_eq(t_count_fds(), base);
    corio_listener_destroy(l);
    return 0;
}

/* The silent v6 here is ::1 with a full accept queue: no root needed. */
START_TEST(test_happy_eyeballs_full_queue) {
    int port, filler;
    int s = t_full_listener(AF_INET6, &port, &filler);
    t_he h = {.v6 = "::1", .v6port = port};
    ck_assert_int_eq(t_world(_i, t_he_body, &h), 0);
    close(filler);
    close(s);
}
END_TEST

/* IPv6 is tried first whatever the list's order: with a silent IPv4
 * listed first and an IPv6 that answers, the connection is at once. */
static int t_v6_first(void *arg, corio_value *out) {
    (void)out;
    int v4port = *(int *)arg;
    corio_listener *l;
    ck_assert_int_eq(corio_listen("::1", "0", NULL, &l), 0);
    t_ai v6, v4;
    t_ai_set(&v6, "::1", corio_listener_port(l), NULL);
    t_ai_set(&v4, "127.0.0.1", v4port, &v6);
    int base = t_count_fds();
    corio_dial_options o = {.attempt_delay = 2.0};
    double t0 = t_now();
    int c = corio_dial_addrinfo(&v4.ai, &o, 10);
    double dt = t_now() - t0;
    ck_assert_msg(c >= 0, "dial: %s", corio_strerror(c));
    ck_assert_msg(dt < 1.5, "connected after %.3f s: IPv4 was tried first", dt);
    ck_assert_int_eq(t_count_fds(), base + 1);
    corio_close(c);
    /* Restricted to IPv4, only the silent one is left: the timeout. */
    o = (corio_dial_options){.family = AF_INET};
    ck_assert_int_eq(corio_dial_addrinfo(&v4.ai, &o, 0.2), -ETIMEDOUT);
    o.family = AF_INET6;
    c = corio_dial_addrinfo(&v4.ai, &o, 5);
    ck_assert_int_ge(c, 0);
    corio_close(c);
    ck_assert_int_eq(t_count_fds(), base);
    corio_listener_destroy(l);
    return 0;
}

START_TEST(test_happy_eyeballs_v6_first) {
    int port, filler;
    int s = t_full_listener(AF_INET, &port, &filler);
    ck_assert_int_eq(t_world(_i, t_v6_first, &port), 0);
    close(filler);
    close(s);
}
END_TEST

/* Run a command (a real child process); its exit status. */
static int t_sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The v6 address blackholes for real: in a network namespace of the
 * test's own, 2001:db8::1 routes to a veth whose peer never answers (a
 * static neighbour entry, so not even neighbour discovery fails). */
START_TEST(test_happy_eyeballs_blackhole_netns) {
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP happy_eyeballs_blackhole_netns: needs root for unshare -n\n");
        return;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "SKIP happy_eyeballs_blackhole_netns: unshare(CLONE_NEWNET): %s\n",
                strerror(errno));
        return;
    }
    if (t_sh("command -v ip >/dev/null") != 0) {
        fprintf(stderr, "SKIP happy_eyeballs_blackhole_netns: no ip(8) (iproute2)\n");
        return;
    }
    int r = t_sh("ip link set lo up && "
                 "ip link add cv0 type veth peer name cv1 && ip link set cv0 up && "
                 "ip link set cv1 up && ip -6 addr add 2001:db8::2/64 dev cv0 nodad && "
                 "ip -6 neigh add 2001:db8::1 lladdr 02:00:00:00:00:01 dev cv0");
    if (r != 0) {
        fprintf(stderr, "SKIP happy_eyeballs_blackhole_netns: cannot set up a veth (%d)\n", r);
        return;
    }
    t_he h = {.v6 = "2001:db8::1", .v6port = 80};
    ck_assert_int_eq(t_world(_i, t_he_body, &h), 0);
}
END_TEST

/* Cancel a coroutine while two attempts hang: every socket is closed. */
typedef struct t_cancel {
    t_ai list[2];     /* two silent addresses */
    int base;         /* descriptors before the dial */
} t_cancel;

static int t_cancel_dialer(void *arg, corio_value *out) {
    (void)out;
    t_cancel *c = arg;
    return corio_dial_addrinfo(&c->list[0].ai, NULL, 30);
}

START_TEST(test_cancel_during_dial) {
    corio__io_force_fallback = _i;
    int p6, p4, f6, f4;
    int s6 = t_full_listener(AF_INET6, &p6, &f6), s4 = t_full_listener(AF_INET, &p4, &f4);
    corio_runtime *rt = t_rt(1);
    t_cancel c;
    t_ai_set(&c.list[1], "127.0.0.1", p4, NULL);
    t_ai_set(&c.list[0], "::1", p6, &c.list[1]);
    c.base = t_count_fds();
    corio_future *f = t_spawn(rt, 0, t_cancel_dialer, &c);
    /* Both attempts running shows as two more descriptors (no event to
     * wait for from outside the coroutine: poll the count, bounded). */
    double t0 = t_now();
    while (t_count_fds() < c.base + 2 && t_now() - t0 < 10)
        t_sleep(0.005);
    ck_assert_int_eq(t_count_fds(), c.base + 2);
    ck_assert(!corio_future_done(f));
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 10, NULL), -ECANCELED);
    corio_future_unref(f);
    ck_assert_int_eq(t_count_fds(), c.base);
    corio_runtime_destroy(rt);
    close(f6);
    close(f4);
    close(s6);
    close(s4);
}
END_TEST

static Suite *netdial_suite(void) {
    Suite *s = suite_create("netdial");
    TCase *tc = tcase_create("dial");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_dial_refused, 0, 3);
    tcase_add_loop_test(tc, test_dial_listen_emfile, 0, 3);
    tcase_add_loop_test(tc, test_happy_eyeballs_full_queue, 0, 3);
    tcase_add_loop_test(tc, test_happy_eyeballs_v6_first, 0, 3);
    tcase_add_loop_test(tc, test_happy_eyeballs_blackhole_netns, 0, 3);
    tcase_add_loop_test(tc, test_cancel_during_dial, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(netdial_suite()); }
