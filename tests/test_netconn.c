/* Tests for corio/net.h listeners: bad input, dual-stack listening, port
 * 0, SO_REUSEPORT with one socket per loop, backlog, several accepters on
 * one loop, Unix stream sockets on a path and an abstract name, Unix
 * datagram, UDP, stale socket files, close waking blocked accepts (TCP,
 * reuseport, Unix; coroutines on two loops and a thread).
 *
 * Loop tests run in three worlds: _i = 0 a coroutine on the ring, 1 a
 * coroutine through the fallback path (ring poll + system call), 2 a plain
 * thread. Only loopback is used; names are numeric or from /etc/hosts
 * ("localhost"). Dial tests are in test_netdial.c. */
#include "t_net.h"

/* ---- bad input ------------------------------------------------------------- */

static int t_bad_input(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_listener *l = (corio_listener *)1;
    char big[301];
    memset(big, 'a', 300);
    big[300] = '\0';
    ck_assert_int_eq(corio_dial(NULL, "80", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("", "80", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", "", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", "65536", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", "99999999999999999999", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", "-1", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", "80x", 1), -EINVAL);
    ck_assert_int_eq(corio_dial(big, "80", 1), -ENAMETOOLONG);
    ck_assert_int_eq(corio_dial("*", "80", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("[::1", "80", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("[127.0.0.1]", "80", 1), -EINVAL);
    ck_assert_int_eq(corio_dial("127.0.0.1", "80", NAN), -EINVAL);
    int r = corio_dial("127.0.0.1", "no-such-service-corio", 1);
    ck_assert_msg(r < 0, "an unknown service dialled: %d", r);
    ck_assert_ptr_nonnull(corio_strerror(r));
    ck_assert_int_eq(corio_dial("unix:", NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_dial("unix:@", NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_dial("unix:/tmp/x", "80", 1), -EINVAL);
    char path[200] = "unix:/";
    memset(path + 6, 'p', 120);
    ck_assert_int_eq(corio_dial(path, NULL, 1), -ENAMETOOLONG);
    ck_assert_int_eq(corio_dial("unix:/nonexistent/corio/sock", NULL, 1), -ENOENT);
    corio_dial_options bad = {.type = SOCK_RAW};
    ck_assert_int_eq(corio_dial_with("127.0.0.1", "80", &bad, 1), -EINVAL);
    bad = (corio_dial_options){.family = AF_PACKET};
    ck_assert_int_eq(corio_dial_with("127.0.0.1", "80", &bad, 1), -EINVAL);
    bad = (corio_dial_options){.attempt_delay = -1};
    ck_assert_int_eq(corio_dial_with("127.0.0.1", "80", &bad, 1), -EINVAL);
    bad = (corio_dial_options){.family = AF_INET6};
    ck_assert_int_eq(corio_dial_with("127.0.0.1", "80", &bad, 1), -EAFNOSUPPORT);
    ck_assert_int_eq(corio_dial_addrinfo(NULL, NULL, 1), -EINVAL);

    ck_assert_int_eq(corio_listen(NULL, "0", NULL, &l), -EINVAL);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(corio_listen("", "0", NULL, &l), -EINVAL);
    ck_assert_int_eq(corio_listen("127.0.0.1", "65536", NULL, &l), -EINVAL);
    ck_assert_int_eq(corio_listen("127.0.0.1", NULL, NULL, &l), -EINVAL);
    ck_assert_int_eq(corio_listen(big, "0", NULL, &l), -ENAMETOOLONG);
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, NULL), -EINVAL);
    r = corio_listen("127.0.0.1", "no-such-service-corio", NULL, &l);
    ck_assert_msg(r < 0, "an unknown service listened: %d", r);
    corio_listen_options lo = {.backlog = -1};
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &lo, &l), -EINVAL);
    lo = (corio_listen_options){.type = SOCK_SEQPACKET};
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &lo, &l), -EINVAL);
    lo = (corio_listen_options){.reuseport = true};
    if (!corio_in_coroutine())
        ck_assert_int_eq(corio_listen("127.0.0.1", "0", &lo, &l), -EINVAL); /* no runtime */
    ck_assert_int_eq(corio_listen("unix:/tmp/x", NULL, &lo, &l), -EINVAL);
    ck_assert_int_eq(corio_listener_accept(NULL, NULL, NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_listener_port(NULL), -EINVAL);
    ck_assert_int_eq(corio_listener_fd(NULL, 0), -EINVAL);
    ck_assert_int_eq(corio_listener_close(NULL), -EINVAL);
    corio_listener_destroy(NULL);

    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &l), 0);
    struct sockaddr_storage ss;
    ck_assert_int_eq(corio_listener_accept(l, (struct sockaddr *)&ss, NULL, 1), -EFAULT);
    ck_assert_int_eq(corio_listener_accept(l, NULL, NULL, NAN), -EINVAL);
    ck_assert_int_eq(corio_listener_fd(l, -2), -EINVAL);
    ck_assert_int_ge(corio_listener_fd(l, 5), 0); /* one socket: any loop number */
    corio_listener_destroy(l);
    return 0;
}

START_TEST(test_bad_input) { ck_assert_int_eq(t_world(_i, t_bad_input, NULL), 0); }
END_TEST

static int t_dual_stack(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_listener *l;
    ck_assert_int_eq(corio_listen("*", "0", NULL, &l), 0);
    int port = corio_listener_port(l);
    ck_assert_int_gt(port, 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(corio_listener_fd(l, -1), (struct sockaddr *)&ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), port);
    len = sizeof ss;
    ck_assert_int_eq(corio_listener_addr(l, (struct sockaddr *)&ss, &len), 0);
    ck_assert_int_eq(len, sizeof(struct sockaddr_in6));
    /* Both families reach the one socket (IPv4 as a mapped address). */
    ck_assert_int_eq(t_connect_accept(l, "127.0.0.1"), AF_INET6);
    ck_assert_int_eq(t_connect_accept(l, "::1"), AF_INET6);
    ck_assert_int_eq(t_connect_accept(l, "[::1]"), AF_INET6);
    ck_assert_int_eq(t_connect_accept(l, "localhost"), AF_INET6); /* /etc/hosts */
    corio_listener_destroy(l);

    /* v6only refuses IPv4; an IPv4 listener reports IPv4 peers. */
    corio_listen_options o = {.v6only = true};
    ck_assert_int_eq(corio_listen("::1", "0", &o, &l), 0);
    char p[8];
    ck_assert_int_eq(corio_dial("127.0.0.1", t_port(p, corio_listener_port(l)), 5),
                     -ECONNREFUSED);
    corio_listener_destroy(l);
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &l), 0);
    ck_assert_int_eq(t_connect_accept(l, "127.0.0.1"), AF_INET);
    corio_listener_destroy(l);
    return 0;
}

START_TEST(test_dual_stack_listen) { ck_assert_int_eq(t_world(_i, t_dual_stack, NULL), 0); }
END_TEST

static int t_unix_stream(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char dir[] = "/tmp/corio-netconn-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char name[160], path[128];
    snprintf(path, sizeof path, "%s/s", dir);
    snprintf(name, sizeof name, "unix:%s", path);
    corio_listener *l;
    ck_assert_int_eq(corio_listen(name, NULL, NULL, &l), 0);
    ck_assert_int_eq(corio_listener_port(l), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(t_connect_accept(l, name), AF_UNIX);
    corio_listener_destroy(l);
    ck_assert_int_eq(stat(path, &st), -1); /* removed on destroy */

    /* An abstract name: no file at all. */
    snprintf(name, sizeof name, "unix:@corio-netconn-%d", (int)getpid());
    ck_assert_int_eq(corio_listen(name, "", NULL, &l), 0);
    ck_assert_int_eq(t_connect_accept(l, name), AF_UNIX);
    corio_listener *l2;
    ck_assert_int_eq(corio_listen(name, NULL, NULL, &l2), -EADDRINUSE);
    corio_listener_destroy(l);
    ck_assert_int_eq(rmdir(dir), 0);
    return 0;
}

START_TEST(test_unix_stream) { ck_assert_int_eq(t_world(_i, t_unix_stream, NULL), 0); }
END_TEST

static int t_unix_dgram(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char dir[] = "/tmp/corio-netconn-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char name[160], path[128];
    snprintf(path, sizeof path, "%s/d", dir);
    snprintf(name, sizeof name, "unix:%s", path);
    corio_listen_options lo = {.type = SOCK_DGRAM};
    corio_listener *l;
    ck_assert_int_eq(corio_listen(name, NULL, &lo, &l), 0);
    ck_assert_int_eq(corio_listener_accept(l, NULL, NULL, 1), -EOPNOTSUPP);
    int srv = corio_listener_fd(l, -1);
    /* The client autobinds an abstract name so it can be answered. */
    corio_dial_options d = {.type = SOCK_DGRAM, .local_host = "unix:"};
    int c = corio_dial_with(name, NULL, &d, 5);
    ck_assert_msg(c >= 0, "dgram dial: %s", corio_strerror(c));
    ck_assert_int_eq(corio_send(c, "datagram", 8, 0, 5), 8);
    char buf[32] = {0};
    ck_assert_int_eq(corio_poll(srv, POLLIN, 5), POLLIN);
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    ck_assert_int_eq(recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 8);
    ck_assert_str_eq(buf, "datagram");
    ck_assert_int_gt(flen, sizeof(sa_family_t));
    ck_assert_int_eq(sendto(srv, "reply", 5, 0, (struct sockaddr *)&from, flen), 5);
    ck_assert_int_eq(corio_recv(c, buf, sizeof buf, 0, 5), 5);
    ck_assert_mem_eq(buf, "reply", 5);
    corio_close(c);
    /* A datagram socket nobody owns: connect is refused. */
    corio_listener_destroy(l);
    ck_assert_int_eq(corio_dial_with(name, NULL, &d, 5), -ENOENT);
    ck_assert_int_eq(rmdir(dir), 0);
    return 0;
}

START_TEST(test_unix_dgram) { ck_assert_int_eq(t_world(_i, t_unix_dgram, NULL), 0); }
END_TEST

/* UDP through the same calls: a bound socket on "*", a connected client. */
static int t_udp(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_listen_options lo = {.type = SOCK_DGRAM};
    corio_listener *l;
    ck_assert_int_eq(corio_listen("*", "0", &lo, &l), 0);
    ck_assert_int_gt(corio_listener_port(l), 0);
    ck_assert_int_eq(corio_listener_accept(l, NULL, NULL, 1), -EOPNOTSUPP);
    char port[8];
    t_port(port, corio_listener_port(l));
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
        corio_dial_options d = {.type = SOCK_DGRAM};
        int c = corio_dial_with(hosts[i], port, &d, 5);
        ck_assert_msg(c >= 0, "udp dial %s: %s", hosts[i], corio_strerror(c));
        ck_assert_int_eq(corio_send(c, "udp", 3, 0, 5), 3);
        int srv = corio_listener_fd(l, -1);
        ck_assert_int_eq(corio_poll(srv, POLLIN, 5), POLLIN);
        char buf[8] = {0};
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ck_assert_int_eq(recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 3);
        ck_assert_str_eq(buf, "udp");
        ck_assert_int_eq(sendto(srv, "back", 4, 0, (struct sockaddr *)&from, flen), 4);
        ck_assert_int_eq(corio_recv(c, buf, sizeof buf, 0, 5), 4);
        ck_assert_mem_eq(buf, "back", 4);
        corio_close(c);
    }
    corio_listener_destroy(l);
    return 0;
}

START_TEST(test_udp) { ck_assert_int_eq(t_world(_i, t_udp, NULL), 0); }
END_TEST

/* Stale socket files are replaced; live ones and other files are not. */
START_TEST(test_unix_stale_path) {
    char dir[] = "/tmp/corio-netconn-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char name[160], path[128];
    snprintf(path, sizeof path, "%s/s", dir);
    snprintf(name, sizeof name, "unix:%s", path);
    /* A socket file left by a listener that went away. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(s, 1), 0);
    close(s);
    corio_listener *l, *l2;
    ck_assert_int_eq(corio_listen(name, NULL, NULL, &l), 0);
    ck_assert_int_eq(t_connect_accept(l, name), AF_UNIX);
    /* Someone listens: in use, and its file stays. */
    ck_assert_int_eq(corio_listen(name, NULL, NULL, &l2), -EADDRINUSE);
    /* The probe that found it alive was a connection, closed at once. */
    int probe = corio_listener_accept(l, NULL, NULL, 5);
    ck_assert_int_ge(probe, 0);
    char c;
    ck_assert_int_eq(corio_recv(probe, &c, 1, 0, 5), 0);
    corio_close(probe);
    ck_assert_int_eq(t_connect_accept(l, name), AF_UNIX);
    corio_listener_destroy(l);
    /* Not a socket: never removed. */
    int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(f, 0);
    close(f);
    ck_assert_int_eq(corio_listen(name, NULL, NULL, &l2), -EADDRINUSE);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    /* destroy removes only its own file: replaced meanwhile, it stays. */
    unlink(path);
    ck_assert_int_eq(corio_listen(name, NULL, NULL, &l), 0);
    unlink(path);
    f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(f);
    corio_listener_destroy(l);
    ck_assert_int_eq(stat(path, &st), 0);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- reuseport, several accepters, backlog -------------------------------- */

typedef struct t_rp {
    corio_listener *l;       /* the listener */
    _Atomic int per_loop[2]; /* connections accepted by each loop */
    sem_t accepted;          /* one post per connection */
} t_rp;

static int t_rp_acceptor(void *arg, corio_value *out) {
    (void)out;
    t_rp *rp = arg;
    int loop = corio_loop_id();
    for (;;) {
        int s = corio_listener_accept(rp->l, NULL, NULL, 30);
        if (s == -ESHUTDOWN)
            return 0;
        ck_assert_msg(s >= 0, "accept: %s", corio_strerror(s));
        corio_close(s);
        atomic_fetch_add(&rp->per_loop[loop], 1);
        sem_post(&rp->accepted);
    }
}

START_TEST(test_reuseport_two_loops) {
    corio_runtime *rt = t_rt(2);
    t_rp rp = {0};
    t_gate_init(&rp.accepted);
    corio_listen_options o = {.reuseport = true, .runtime = rt};
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &o, &rp.l), 0);
    ck_assert_int_ne(corio_listener_fd(rp.l, 0), corio_listener_fd(rp.l, 1));
    ck_assert_int_eq(corio_listener_fd(rp.l, 2), -EINVAL);
    corio_future *f[4];
    for (int i = 0; i < 4; i++)
        f[i] = t_spawn(rt, i % 2, t_rp_acceptor, &rp); /* two accepters per loop */
    char port[8];
    t_port(port, corio_listener_port(rp.l));
    enum { N = 64 };
    for (int i = 0; i < N; i++) {
        int c = corio_dial("127.0.0.1", port, 5);
        ck_assert_int_ge(c, 0);
        close(c);
    }
    for (int i = 0; i < N; i++)
        ck_assert(t_gate_pass_within(&rp.accepted, 10));
    int a0 = atomic_load(&rp.per_loop[0]), a1 = atomic_load(&rp.per_loop[1]);
    ck_assert_int_eq(a0 + a1, N);
    /* The kernel hashes the 4-tuple: all 64 on one socket is 2^-63 likely. */
    ck_assert_msg(a0 > 0 && a1 > 0, "connections reached one loop only: %d/%d", a0, a1);
    corio_listener_close(rp.l);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(corio_future_result(f[i], 10, NULL), 0);
        corio_future_unref(f[i]);
    }
    corio_listener_destroy(rp.l);
    corio_runtime_destroy(rt);
    sem_destroy(&rp.accepted);
}
END_TEST

/* A reuseport listener accepted from a plain thread: poll over both
 * sockets, so connections hashed to either are taken. */
START_TEST(test_reuseport_thread_accept) {
    corio_runtime *rt = t_rt(2);
    corio_listen_options o = {.reuseport = true, .runtime = rt};
    corio_listener *l;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &o, &l), 0);
    char port[8];
    t_port(port, corio_listener_port(l));
    enum { N = 16 };
    int c[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_ge(c[i] = corio_dial("127.0.0.1", port, 5), 0);
    for (int i = 0; i < N; i++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int s = corio_listener_accept(l, (struct sockaddr *)&peer, &len, 5);
        ck_assert_msg(s >= 0, "accept %d: %s", i, corio_strerror(s));
        ck_assert_int_eq(len, sizeof peer);
        ck_assert_int_eq(peer.sin_family, AF_INET);
        close(s);
    }
    ck_assert_int_eq(corio_listener_accept(l, NULL, NULL, 0.01), -ETIMEDOUT);
    for (int i = 0; i < N; i++)
        close(c[i]);
    corio_listener_destroy(l);
    corio_runtime_destroy(rt);
}
END_TEST

/* Backlog: with backlog 1 the kernel queues two connections, then drops
 * SYNs; a dial to it times out (and says so in about its timeout). */
static int t_backlog(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_listen_options o = {.backlog = 1};
    corio_listener *l;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &o, &l), 0);
    char port[8];
    t_port(port, corio_listener_port(l));
    int c1 = corio_dial("127.0.0.1", port, 5), c2 = corio_dial("127.0.0.1", port, 5);
    ck_assert_int_ge(c1, 0);
    ck_assert_int_ge(c2, 0);
    double t0 = t_now();
    ck_assert_int_eq(corio_dial("127.0.0.1", port, 0.3), -ETIMEDOUT);
    double dt = t_now() - t0;
    ck_assert_msg(dt >= 0.29 && dt < 3, "timed out after %.3f s", dt);
    /* The queued ones are still there to accept. */
    int s = corio_listener_accept(l, NULL, NULL, 5);
    ck_assert_int_ge(s, 0);
    corio_close(s);
    corio_close(c1);
    corio_close(c2);
    corio_listener_destroy(l);
    return 0;
}

START_TEST(test_backlog_and_dial_timeout) { ck_assert_int_eq(t_world(_i, t_backlog, NULL), 0); }
END_TEST

/* Several coroutines of one loop accept at once: each gets one. */
typedef struct t_multi {
    corio_listener *l; /* the listener */
    int got;           /* connections accepted */
} t_multi;

static int t_multi_accepter(void *arg, corio_value *out) {
    (void)out;
    t_multi *m = arg;
    int s = corio_listener_accept(m->l, NULL, NULL, 10);
    ck_assert_msg(s >= 0, "accept: %s", corio_strerror(s));
    corio_close(s);
    m->got++;
    return 0;
}

static int t_multi_main(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    t_multi m = {0};
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &m.l), 0);
    corio_future *f[3];
    int err;
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(f[i] = corio_spawn(t_multi_accepter, &m, &err));
    /* A fourth waits its turn, then gives up at its timeout. */
    ck_assert_int_eq(corio_yield(), 0);
    ck_assert_int_eq(corio_listener_accept(m.l, NULL, NULL, 0.05), -ETIMEDOUT);
    char port[8];
    t_port(port, corio_listener_port(m.l));
    int c[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(c[i] = corio_dial("127.0.0.1", port, 5), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(corio_future_result(f[i], 10, NULL), 0);
        corio_future_unref(f[i]);
        corio_close(c[i]);
    }
    ck_assert_int_eq(m.got, 3);
    corio_listener_destroy(m.l);
    return 0;
}

START_TEST(test_many_accepters_one_loop) {
    ck_assert_int_eq(t_world(_i, t_multi_main, NULL), 0);
}
END_TEST

/* ---- close wakes blocked accepts ------------------------------------------- */

typedef struct t_blocked {
    corio_listener *l; /* the listener */
    int res;           /* what accept returned */
    sem_t *started;    /* posted just before the accept */
} t_blocked;

static int t_blocked_accept(void *arg, corio_value *out) {
    (void)out;
    t_blocked *b = arg;
    sem_post(b->started);
    b->res = corio_listener_accept(b->l, NULL, NULL, 30);
    return 0;
}

static void *t_blocked_thread(void *arg) {
    t_blocked_accept(arg, NULL);
    return NULL;
}

START_TEST(test_close_wakes_accept) {
    corio__io_force_fallback = _i == 1;
    int reuse = _i == 2;
    corio_runtime *rt = t_rt(2);
    corio_listen_options o = {.reuseport = reuse, .runtime = rt};
    corio_listener *l;
    ck_assert_int_eq(corio_listen(_i == 3 ? "unix:@corio-netconn-close" : "127.0.0.1",
                                  _i == 3 ? NULL : "0", &o, &l),
                     0);
    sem_t started;
    t_gate_init(&started);
    t_blocked b[3] = {{l, 1, &started}, {l, 1, &started}, {l, 1, &started}};
    corio_future *f0 = t_spawn(rt, 0, t_blocked_accept, &b[0]);
    corio_future *f1 = t_spawn(rt, 1, t_blocked_accept, &b[1]);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, t_blocked_thread, &b[2]), 0);
    /* They stay blocked on their own (checked for 100 ms)... */
    for (int i = 0; i < 3; i++)
        ck_assert(t_gate_pass_within(&started, 10));
    t_sleep(0.1);
    ck_assert(!corio_future_done(f0));
    ck_assert(!corio_future_done(f1));
    /* ...until the listener is closed. */
    double t0 = t_now();
    ck_assert_int_eq(corio_listener_close(l), 0);
    ck_assert_int_eq(corio_future_result(f0, 5, NULL), 0);
    ck_assert_int_eq(corio_future_result(f1, 5, NULL), 0);
    pthread_join(t, NULL);
    ck_assert(t_now() - t0 < 5);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(b[i].res == -ESHUTDOWN, "accept %d returned %s", i,
                      corio_strerror(b[i].res));
    ck_assert_int_eq(corio_listener_accept(l, NULL, NULL, 1), -ESHUTDOWN);
    ck_assert_int_eq(corio_listener_close(l), 0); /* again: nothing */
    corio_future_unref(f0);
    corio_future_unref(f1);
    corio_listener_destroy(l); /* from this thread: acceptors released on their loops */
    corio_runtime_destroy(rt);
    sem_destroy(&started);
}
END_TEST

/* corio_runtime_drain closes the runtime's listeners: accepts blocked on
 * them (in coroutines) return -ESHUTDOWN and the drain ends without its
 * deadline. A listener outliving its runtime is still destroyed safely. */
START_TEST(test_drain_closes_listeners) {
    int reuse = _i == 1;
    corio_runtime *rt = t_rt(2);
    corio_listen_options o = {.reuseport = reuse, .runtime = rt};
    corio_listener *l, *late;
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &o, &l), 0);
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &o, &late), 0);
    sem_t started;
    t_gate_init(&started);
    t_blocked b[2] = {{l, 1, &started}, {l, 1, &started}};
    corio_future *f0 = t_spawn(rt, 0, t_blocked_accept, &b[0]);
    corio_future *f1 = t_spawn(rt, 1, t_blocked_accept, &b[1]);
    for (int i = 0; i < 2; i++)
        ck_assert(t_gate_pass_within(&started, 10));
    corio_drain_summary sum;
    int64_t t0 = corio_now_ns();
    ck_assert_int_eq(corio_runtime_drain(rt, t0 + 30 * 1000000000LL, &sum), 0);
    ck_assert(!sum.timed_out);
    ck_assert_int_eq(corio_future_result(f0, 5, NULL), 0);
    ck_assert_int_eq(corio_future_result(f1, 5, NULL), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(b[i].res == -ESHUTDOWN, "accept %d returned %s", i,
                      corio_strerror(b[i].res));
    ck_assert_int_eq(corio_listener_accept(late, NULL, NULL, 1), -ESHUTDOWN);
    corio_future_unref(f0);
    corio_future_unref(f1);
    corio_listener_destroy(l);
    if (reuse) /* its acceptors live on rt's loops: destroy it first */
        corio_listener_destroy(late);
    corio_runtime_destroy(rt);
    if (!reuse)
        corio_listener_destroy(late); /* after its runtime: nothing to unregister */
    sem_destroy(&started);
}
END_TEST

static Suite *netconn_suite(void) {
    Suite *s = suite_create("netconn");
    TCase *tc = tcase_create("listen");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_bad_input, 0, 3);
    tcase_add_loop_test(tc, test_dual_stack_listen, 0, 3);
    tcase_add_loop_test(tc, test_unix_stream, 0, 3);
    tcase_add_loop_test(tc, test_unix_dgram, 0, 3);
    tcase_add_loop_test(tc, test_udp, 0, 3);
    tcase_add_test(tc, test_unix_stale_path);
    tcase_add_test(tc, test_reuseport_two_loops);
    tcase_add_test(tc, test_reuseport_thread_accept);
    tcase_add_loop_test(tc, test_backlog_and_dial_timeout, 0, 3);
    tcase_add_loop_test(tc, test_many_accepters_one_loop, 0, 2);
    tcase_add_loop_test(tc, test_close_wakes_accept, 0, 4);
    tcase_add_loop_test(tc, test_drain_closes_listeners, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(netconn_suite()); }
