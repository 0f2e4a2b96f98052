/* Tests for corio/net.h listen and dial: bad input, dual-stack listening,
 * port 0, SO_REUSEPORT with one socket per loop, backlog, Unix stream
 * sockets on a path and an abstract name, Unix datagram, stale socket
 * files, refused and timed-out dials, Happy Eyeballs against a v6 address
 * that drops SYNs (a full accept queue on ::1 always; a blackholed route
 * in a network namespace the test creates when it is root), cancel during
 * a dial with no descriptor left behind, close waking blocked accepts.
 *
 * Loop tests run in three worlds: _i = 0 a coroutine on the ring, 1 a
 * coroutine through the fallback path (ring poll + system call), 2 a plain
 * thread. Only loopback and a test-made namespace are used; names are
 * numeric or from /etc/hosts ("localhost"). */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio.h"
#include "io_internal.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

/* Open descriptors of this process (entries of /proc/self/fd, minus the
 * one opendir uses). */
static int t_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Run fn in world `w`: 0 coroutine, 1 coroutine on the fallback path, 2
 * this thread. Returns fn's outcome. */
static int t_world(int w, corio_fn fn, void *arg) {
    corio__io_force_fallback = w == 1;
    if (w == 2) {
        corio_value v = {0};
        return fn(arg, &v);
    }
    corio_runtime_options o = {.loops = 1, .stack_size = 128 * 1024, .no_pin = true};
    return corio_run_with(&o, fn, arg, NULL);
}

static corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .stack_size = 128 * 1024, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Port as a string. */
static const char *t_port(char buf[8], int port) {
    snprintf(buf, 8, "%d", port);
    return buf;
}

/* A listener on `host` port 0 that never accepts and whose accept queue
 * is full (backlog 0 holds one connection, made here): new SYNs are
 * dropped, so a connect to it hangs like one to a blackholed address.
 * Returns the listening fd; *filler is the connection filling the queue. */
static int t_full_listener(int family, int *port, int *filler) {
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    ck_assert_int_eq(bind(s, (struct sockaddr *)&ss, len), 0);
    ck_assert_int_eq(listen(s, 0), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *filler = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(*filler, (struct sockaddr *)&ss, len), 0);
    return s;
}

/* A port on 127.0.0.1 nobody listens on (bound, so no one else takes it). */
static int t_refusing_port(int *port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return s;
}

/* An addrinfo entry for a numeric address (for corio_dial_addrinfo). */
typedef struct t_ai {
    struct addrinfo ai;
    struct sockaddr_storage ss;
} t_ai;

static void t_ai_set(t_ai *e, const char *ip, int port, t_ai *next) {
    memset(e, 0, sizeof *e);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&e->ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
        e->ai.ai_family = AF_INET6;
        e->ai.ai_addrlen = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&e->ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
        e->ai.ai_family = AF_INET;
        e->ai.ai_addrlen = sizeof *a;
    }
    e->ai.ai_socktype = SOCK_STREAM;
    e->ai.ai_addr = (struct sockaddr *)&e->ss;
    e->ai.ai_next = next ? &next->ai : NULL;
}

/* Write `msg` on one end and read it on the other. */
static void t_exchange(int a, int b, const char *msg) {
    size_t n = strlen(msg);
    ck_assert_int_eq(corio_send(a, msg, n, 0, 5), (ssize_t)n);
    char buf[64] = {0};
    size_t got = 0;
    while (got < n) {
        ssize_t r = corio_recv(b, buf + got, sizeof buf - got, 0, 5);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_mem_eq(buf, msg, n);
}

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

/* ---- dual stack, port 0, Unix names --------------------------------------- */

/* Dial `host` to l from a thread (the dialer) and accept it here. */
typedef struct t_dial_job {
    const char *host;  /* where to */
    char port[8];      /* its port */
    int fd;            /* the result */
} t_dial_job;

static void *t_dial_thread(void *arg) {
    t_dial_job *j = arg;
    j->fd = corio_dial(j->host, j->port[0] ? j->port : NULL, 5);
    return NULL;
}

/* Connect to l at `host` (from another thread) and accept it; returns the
 * peer family seen by accept, checks bytes flow both ways. */
static int t_connect_accept(corio_listener *l, const char *host) {
    t_dial_job j = {.host = host};
    if (corio_listener_port(l) > 0)
        t_port(j.port, corio_listener_port(l));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, t_dial_thread, &j), 0);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int s = corio_listener_accept(l, (struct sockaddr *)&peer, &plen, 5);
    pthread_join(t, NULL);
    ck_assert_msg(s >= 0, "accept from %s: %s", host, corio_strerror(s));
    ck_assert_msg(j.fd >= 0, "dial %s: %s", host, corio_strerror(j.fd));
    t_exchange(j.fd, s, "ping");
    t_exchange(s, j.fd, "pong");
    corio_close(j.fd);
    corio_close(s);
    return peer.ss_family;
}

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
    suite_add_tcase(s, tc);
    tc = tcase_create("dial");
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

int main(void) { return t_run_suite(netconn_suite()); }
