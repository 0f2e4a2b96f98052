/* Tests for corio/udp.h: sendto/recvfrom, sendmsg/recvmsg with control
 * messages, the batched recvmmsg/sendmmsg, timeouts, cancellation, and
 * descriptor passing. Most tests run in three worlds (t_world): a
 * coroutine on the ring path, a coroutine on the fallback path, and a
 * plain thread. */
#include <net/if.h>
#include <signal.h>
#include <sys/time.h>

#include "t_net.h"

enum { W_CORO, W_FALLBACK, W_THREAD, W_COUNT };

/* Two UDP sockets on 127.0.0.1, and their addresses. */
typedef struct t_udp {
    int a, b;              /* sockets */
    struct sockaddr_in aa; /* a's address */
    struct sockaddr_in ba; /* b's address */
    int world;             /* W_* */
} t_udp;

static int t_udp_sock(struct sockaddr_in *addr) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)addr, &len), 0);
    return s;
}

static void t_udp_open(t_udp *u, int world) {
    memset(u, 0, sizeof *u);
    u->world = world;
    u->a = t_udp_sock(&u->aa);
    u->b = t_udp_sock(&u->ba);
}

static void t_udp_close(t_udp *u) {
    close(u->a);
    close(u->b);
}

#define T_TO(u) ((const struct sockaddr *)&(u)->ba), sizeof (u)->ba

/* A descriptor number that is not open. */
static int t_closed_fd(void) {
    int d = dup(0);
    ck_assert_int_ge(d, 0);
    close(d);
    return d;
}

/* A Unix datagram socketpair whose fds[0] cannot send: fds[1]'s queue is
 * full of 1024-byte datagrams of 'f'. */
static void t_full_dgram_pair(int fds[2]) {
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
    char buf[1024];
    memset(buf, 'f', sizeof buf);
    int n = 0;
    while (send(fds[0], buf, sizeof buf, MSG_DONTWAIT) == (ssize_t)sizeof buf)
        n++;
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_gt(n, 0);
}

/* Drain fds[1] of the pair; returns how many datagrams were not filler. */
static int t_drain_foreign(int fd) {
    char buf[2048];
    int foreign = 0;
    ssize_t r;
    while ((r = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0)
        foreign += r != 1024 || buf[0] != 'f';
    return foreign;
}

/* ---- sendto / recvfrom -------------------------------------------------------- */

static int t_sendto_body(void *arg, corio_value *out) {
    (void)out;
    t_udp *u = arg;
    char buf[256];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;

    /* A datagram with addresses both ways. */
    ck_assert_int_eq(corio_sendto(u->a, "hello", 5, 0, T_TO(u), 5), 5);
    memset(&from, 0, sizeof from);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl, 5),
                     5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_uint_eq(fl, sizeof(struct sockaddr_in));
    struct sockaddr_in *f = (struct sockaddr_in *)&from;
    ck_assert_int_eq(f->sin_family, AF_INET);
    ck_assert_uint_eq(f->sin_port, u->aa.sin_port);
    ck_assert_uint_eq(f->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

    /* No address wanted. */
    ck_assert_int_eq(corio_sendto(u->a, "x", 1, 0, T_TO(u), 5), 1);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, 5), 1);
    ck_assert_int_eq(buf[0], 'x');

    /* A longer datagram than the buffer: the rest is discarded... */
    unsigned char big[100];
    for (int i = 0; i < 100; i++)
        big[i] = (unsigned char)i;
    ck_assert_int_eq(corio_sendto(u->a, big, sizeof big, 0, T_TO(u), 5), 100);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, 10, 0, NULL, NULL, 5), 10);
    ck_assert_mem_eq(buf, big, 10);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, 0), -ETIMEDOUT);
    /* ...and with MSG_TRUNC the real length is returned. */
    ck_assert_int_eq(corio_sendto(u->a, big, sizeof big, 0, T_TO(u), 5), 100);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, 10, MSG_TRUNC, NULL, NULL, 5), 100);
    ck_assert_mem_eq(buf, big, 10);

    /* An empty datagram is a datagram. */
    ck_assert_int_eq(corio_sendto(u->a, NULL, 0, 0, T_TO(u), 5), 0);
    fl = sizeof from;
    memset(&from, 0, sizeof from);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl, 5),
                     0);
    ck_assert_uint_eq(f->sin_port, u->aa.sin_port);

    /* Larger than UDP allows. */
    static char huge[70000];
    ck_assert_int_eq(corio_sendto(u->a, huge, sizeof huge, 0, T_TO(u), 5), -EMSGSIZE);

    /* A connected socket: no address; a refused datagram shows up on the
     * next call as -ECONNREFUSED. */
    ck_assert_int_eq(connect(u->a, (struct sockaddr *)&u->ba, sizeof u->ba), 0);
    ck_assert_int_eq(corio_sendto(u->a, "c", 1, 0, NULL, 0, 5), 1);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, 5), 1);
    ck_assert_int_eq(buf[0], 'c');
    struct sockaddr_in gone;
    int g = t_udp_sock(&gone);
    close(g);
    int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&gone, sizeof gone), 0);
    ck_assert_int_eq(corio_sendto(c, "r", 1, 0, NULL, 0, 5), 1);
    ck_assert_int_eq(corio_recvfrom(c, buf, sizeof buf, 0, NULL, NULL, 5), -ECONNREFUSED);
    close(c);

    /* Bad input, refused before any I/O. */
    int closed = t_closed_fd();
    ck_assert_int_eq(corio_sendto(u->a, NULL, 1, 0, T_TO(u), 5), -EFAULT);
    ck_assert_int_eq(corio_sendto(u->a, "x", 1, 0, NULL, 4, 5), -EFAULT);
    ck_assert_int_eq(corio_recvfrom(u->b, NULL, 1, 0, NULL, NULL, 5), -EFAULT);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, 1, 0, (struct sockaddr *)&from, NULL, 5),
                     -EFAULT);
    ck_assert_int_eq(corio_sendto(-1, "x", 1, 0, T_TO(u), 5), -EBADF);
    ck_assert_int_eq(corio_recvfrom(-1, buf, 1, 0, NULL, NULL, 5), -EBADF);
    ck_assert_int_eq(corio_sendto(closed, "x", 1, 0, T_TO(u), 5), -EBADF);
    ck_assert_int_eq(corio_recvfrom(closed, buf, 1, 0, NULL, NULL, 5), -EBADF);
    return 0;
}

START_TEST(test_sendto_recvfrom) {
    t_udp u;
    t_udp_open(&u, _i);
    ck_assert_int_eq(t_world(_i, t_sendto_body, &u), 0);
    t_udp_close(&u);
}
END_TEST

/* ---- sendmsg / recvmsg with control messages ---------------------------------- */

typedef union t_ctl {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct timeval)) + 64];
    struct cmsghdr align;
} t_ctl;

static double t_wall(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int t_msg_body(void *arg, corio_value *out) {
    (void)out;
    t_udp *u = arg;
    int on = 1;
    ck_assert_int_eq(setsockopt(u->b, IPPROTO_IP, IP_PKTINFO, &on, sizeof on), 0);
    ck_assert_int_eq(setsockopt(u->b, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on), 0);

    /* Two iovecs out, two in, split differently. */
    struct iovec siov[2] = {{(void *)"head:", 5}, {(void *)"tail", 4}};
    struct msghdr sm = {.msg_name = &u->ba, .msg_namelen = sizeof u->ba, .msg_iov = siov,
                        .msg_iovlen = 2};
    double before = t_wall();
    ck_assert_int_eq(corio_sendmsg(u->a, &sm, 0, 5), 9);
    char p1[3], p2[16] = {0};
    struct iovec riov[2] = {{p1, sizeof p1}, {p2, sizeof p2}};
    t_ctl ctl;
    struct sockaddr_in from = {0};
    struct msghdr rm = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = riov,
                        .msg_iovlen = 2, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    ck_assert_int_eq(corio_recvmsg(u->b, &rm, 0, 5), 9);
    double after = t_wall();
    ck_assert_mem_eq(p1, "hea", 3);
    ck_assert_str_eq(p2, "d:tail");
    ck_assert_int_eq(rm.msg_flags & (MSG_TRUNC | MSG_CTRUNC), 0);
    ck_assert_uint_eq(rm.msg_namelen, sizeof from);
    ck_assert_uint_eq(from.sin_port, u->aa.sin_port);
    ck_assert_uint_lt(rm.msg_controllen, sizeof ctl.buf);
    int saw_ts = 0, saw_pi = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&rm); h; h = CMSG_NXTHDR(&rm, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_TIMESTAMP) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(h), sizeof tv);
            double t = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
            ck_assert_msg(t >= before - 1 && t <= after + 1, "timestamp %.6f not in [%.6f, %.6f]",
                          t, before, after);
            saw_ts = 1;
        }
        saw_pi += h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO;
    }
    ck_assert(saw_ts);
    ck_assert(saw_pi);
    struct sockaddr_storage local;
    unsigned ifindex = 0;
    ck_assert_int_eq(corio_msg_local_addr(&rm, &local, &ifindex), 0);
    struct sockaddr_in *la = (struct sockaddr_in *)&local;
    ck_assert_int_eq(la->sin_family, AF_INET);
    ck_assert_uint_eq(la->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ck_assert_uint_eq(la->sin_port, 0);
    ck_assert_uint_eq(ifindex, if_nametoindex("lo"));
    ck_assert_int_eq(corio_msg_local_addr(&rm, &local, NULL), 0);

    /* Data and control both cut: MSG_TRUNC and MSG_CTRUNC in msg_flags. */
    ck_assert_int_eq(corio_sendmsg(u->a, &sm, 0, 5), 9);
    char small[4];
    struct iovec siov1 = {small, sizeof small};
    union {
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } tiny;
    rm = (struct msghdr){.msg_iov = &siov1, .msg_iovlen = 1, .msg_control = tiny.buf,
                         .msg_controllen = sizeof tiny.buf};
    ck_assert_int_eq(corio_recvmsg(u->b, &rm, 0, 5), 4);
    ck_assert_mem_eq(small, "head", 4);
    ck_assert_int_ne(rm.msg_flags & MSG_TRUNC, 0);
    ck_assert_int_ne(rm.msg_flags & MSG_CTRUNC, 0);

    /* A message without packet info. */
    struct msghdr none = {0};
    ck_assert_int_eq(corio_msg_local_addr(&none, &local, &ifindex), -ENOENT);
    ck_assert_int_eq(corio_msg_local_addr(NULL, &local, &ifindex), -EFAULT);
    ck_assert_int_eq(corio_msg_local_addr(&none, NULL, &ifindex), -EFAULT);
    ck_assert_int_eq(setsockopt(u->b, IPPROTO_IP, IP_PKTINFO, &(int){0}, sizeof(int)), 0);
    ck_assert_int_eq(corio_sendto(u->a, "z", 1, 0, T_TO(u), 5), 1);
    rm = (struct msghdr){.msg_iov = &siov1, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    ck_assert_int_eq(corio_recvmsg(u->b, &rm, 0, 5), 1);
    ck_assert_uint_gt(rm.msg_controllen, 0); /* the timestamp only */
    ck_assert_int_eq(corio_msg_local_addr(&rm, &local, &ifindex), -ENOENT);

    /* IPv6 packet info, where ::1 exists. */
    int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    socklen_t l6 = sizeof a6;
    if (s6 >= 0 && bind(s6, (struct sockaddr *)&a6, sizeof a6) == 0) {
        ck_assert_int_eq(getsockname(s6, (struct sockaddr *)&a6, &l6), 0);
        ck_assert_int_eq(setsockopt(s6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on), 0);
        ck_assert_int_eq(corio_sendto(s6, "six", 3, 0, (struct sockaddr *)&a6, sizeof a6, 5), 3);
        rm = (struct msghdr){.msg_iov = &siov1, .msg_iovlen = 1, .msg_control = ctl.buf,
                             .msg_controllen = sizeof ctl.buf};
        ck_assert_int_eq(corio_recvmsg(s6, &rm, 0, 5), 3);
        ck_assert_int_eq(corio_msg_local_addr(&rm, &local, &ifindex), 0);
        struct sockaddr_in6 *l = (struct sockaddr_in6 *)&local;
        ck_assert_int_eq(l->sin6_family, AF_INET6);
        ck_assert(IN6_IS_ADDR_LOOPBACK(&l->sin6_addr));
        ck_assert_uint_eq(ifindex, if_nametoindex("lo"));
    }
    if (s6 >= 0)
        close(s6);

    /* Bad input. */
    struct msghdr bad = {.msg_iovlen = 1};
    ck_assert_int_eq(corio_sendmsg(u->a, NULL, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_recvmsg(u->b, NULL, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_sendmsg(u->a, &bad, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_recvmsg(u->b, &bad, 0, 5), -EFAULT);
    bad = (struct msghdr){.msg_controllen = 16};
    ck_assert_int_eq(corio_sendmsg(u->a, &bad, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_recvmsg(u->b, &bad, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_sendmsg(-1, &sm, 0, 5), -EBADF);
    ck_assert_int_eq(corio_recvmsg(t_closed_fd(), &rm, 0, 5), -EBADF);
    return 0;
}

START_TEST(test_sendmsg_recvmsg) {
    t_udp u;
    t_udp_open(&u, _i);
    ck_assert_int_eq(t_world(_i, t_msg_body, &u), 0);
    t_udp_close(&u);
}
END_TEST

/* ---- recvmmsg / sendmmsg ---------------------------------------------------------- */

#define T_NB 8
#define T_IN 16

/* A batch of datagrams: msgs[i] of i + 1 bytes of 'a' + i, to `to`. */
typedef struct t_batch {
    char data[T_IN][64];
    struct iovec iov[T_IN];
    struct sockaddr_in name[T_IN];
    struct mmsghdr m[T_IN];
} t_batch;

static void t_batch_out(t_batch *b, unsigned n, const struct sockaddr_in *to) {
    memset(b, 0, sizeof *b);
    for (unsigned i = 0; i < n; i++) {
        memset(b->data[i], 'a' + (int)i, i + 1);
        b->iov[i] = (struct iovec){b->data[i], i + 1};
        b->m[i].msg_hdr = (struct msghdr){.msg_name = (void *)(uintptr_t)to,
                                          .msg_namelen = sizeof *to, .msg_iov = &b->iov[i],
                                          .msg_iovlen = 1};
    }
}

static void t_batch_in(t_batch *b) {
    memset(b, 0, sizeof *b);
    for (unsigned i = 0; i < T_IN; i++) {
        b->iov[i] = (struct iovec){b->data[i], sizeof b->data[i]};
        b->m[i].msg_hdr = (struct msghdr){.msg_name = &b->name[i],
                                          .msg_namelen = sizeof b->name[i],
                                          .msg_iov = &b->iov[i], .msg_iovlen = 1};
    }
}

/* Datagram k of a batch received at index i: its length and bytes. */
static void t_batch_check(const t_batch *b, unsigned i, unsigned k, const t_udp *u) {
    ck_assert_uint_eq(b->m[i].msg_len, k + 1);
    for (unsigned j = 0; j <= k; j++)
        ck_assert_int_eq(b->data[i][j], 'a' + (int)k);
    ck_assert_uint_eq(b->name[i].sin_port, u->aa.sin_port);
}

static int t_mmsg_send_later(void *arg, corio_value *out) {
    (void)out;
    t_udp *u = arg;
    t_batch o;
    t_batch_out(&o, 3, &u->ba);
    ck_assert_int_eq(corio_sendmmsg(u->a, o.m, 3, 0, 5), 3);
    return 0;
}

static void *t_mmsg_send_thread(void *arg) {
    t_mmsg_send_later(arg, NULL);
    return NULL;
}

static int t_mmsg_body(void *arg, corio_value *out) {
    (void)out;
    t_udp *u = arg;
    static t_batch o, in;

    /* One call sends them all; one call takes every queued datagram. */
    t_batch_out(&o, T_NB, &u->ba);
    ck_assert_int_eq(corio_sendmmsg(u->a, o.m, T_NB, 0, 5), T_NB);
    for (unsigned i = 0; i < T_NB; i++)
        ck_assert_uint_eq(o.m[i].msg_len, i + 1);
    t_batch_in(&in);
    double t0 = t_now();
    ck_assert_int_eq(corio_recvmmsg(u->b, in.m, T_IN, 0, 5), T_NB);
    ck_assert_msg(t_now() - t0 < 2.5, "waited for more than were queued");
    for (unsigned i = 0; i < T_NB; i++)
        t_batch_check(&in, i, i, u);

    /* At most n per call; the rest stays queued. */
    t_batch_out(&o, 5, &u->ba);
    ck_assert_int_eq(corio_sendmmsg(u->a, o.m, 5, 0, 5), 5);
    t_batch_in(&in);
    ck_assert_int_eq(corio_recvmmsg(u->b, in.m, 2, 0, 5), 2);
    t_batch_check(&in, 0, 0, u);
    t_batch_check(&in, 1, 1, u);
    t_batch_in(&in);
    ck_assert_int_eq(corio_recvmmsg(u->b, in.m, T_IN, 0, 5), 3);
    for (unsigned i = 0; i < 3; i++)
        t_batch_check(&in, i, i + 2, u);

    /* More than the kernel takes per call (cut to 1024) is fine. */
    unsigned many = 2000;
    struct mmsghdr *mm = calloc(many, sizeof *mm);
    char *space = calloc(many, 8);
    struct iovec *iv = calloc(many, sizeof *iv);
    for (unsigned i = 0; i < many; i++) {
        iv[i] = (struct iovec){space + 8 * i, 8};
        mm[i].msg_hdr = (struct msghdr){.msg_iov = &iv[i], .msg_iovlen = 1};
    }
    t_batch_out(&o, 3, &u->ba);
    ck_assert_int_eq(corio_sendmmsg(u->a, o.m, 3, 0, 5), 3);
    ck_assert_int_eq(corio_recvmmsg(u->b, mm, many, 0, 5), 3);
    ck_assert_uint_eq(mm[2].msg_len, 3);
    free(mm);
    free(space);
    free(iv);

    /* Nothing queued yet: the call waits for the first, then takes what
     * is there. In a coroutine the sender is a second coroutine of this
     * loop, which runs only once the receiver is suspended. */
    pthread_t t;
    corio_future *f = NULL;
    if (u->world == W_THREAD)
        ck_assert_int_eq(pthread_create(&t, NULL, t_mmsg_send_thread, u), 0);
    else
        f = t_spawn(corio_runtime_current(), 0, t_mmsg_send_later, u);
    unsigned got = 0;
    while (got < 3) {
        t_batch_in(&in);
        int r = corio_recvmmsg(u->b, in.m, T_IN, 0, 5);
        ck_assert_int_ge(r, 1);
        for (int i = 0; i < r; i++)
            t_batch_check(&in, (unsigned)i, got + (unsigned)i, u);
        got += (unsigned)r;
    }
    ck_assert_uint_eq(got, 3);
    if (f) {
        ck_assert_int_eq(corio_future_result(f, 5, NULL), 0);
        corio_future_unref(f);
    } else {
        pthread_join(t, NULL);
    }

    /* n == 0, and bad input. */
    ck_assert_int_eq(corio_recvmmsg(u->b, in.m, 0, 0, 5), 0);
    ck_assert_int_eq(corio_sendmmsg(u->a, o.m, 0, 0, 5), 0);
    ck_assert_int_eq(corio_recvmmsg(u->b, NULL, 0, 0, 5), 0);
    ck_assert_int_eq(corio_recvmmsg(u->b, NULL, 1, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_sendmmsg(u->a, NULL, 1, 0, 5), -EFAULT);
    ck_assert_int_eq(corio_recvmmsg(-1, in.m, 1, 0, 5), -EBADF);
    ck_assert_int_eq(corio_sendmmsg(t_closed_fd(), o.m, 1, 0, 5), -EBADF);
    return 0;
}

START_TEST(test_mmsg) {
    t_udp u;
    t_udp_open(&u, _i);
    ck_assert_int_eq(t_world(_i, t_mmsg_body, &u), 0);
    t_udp_close(&u);
}
END_TEST

/* sendmmsg sends what the socket takes without waiting for room for the
 * rest: with room for about one datagram, it returns a short count rather
 * than block on the second (on a plain thread without a limit too). */
static int t_mmsg_partial_body(void *arg, corio_value *out) {
    (void)out;
    int *fds = arg;
    char buf[1024];
    ck_assert_int_eq(recv(fds[1], buf, sizeof buf, 0), (ssize_t)sizeof buf);
    static char data[4][1024];
    struct iovec iov[4];
    struct mmsghdr m[4];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 4; i++) {
        memset(data[i], 'm', sizeof data[i]);
        iov[i] = (struct iovec){data[i], sizeof data[i]};
        m[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int r = corio_sendmmsg(fds[0], m, 4, 0, CORIO_FOREVER);
    ck_assert_msg(r >= 1 && r < 4, "sendmmsg: %d", r);
    return 0;
}

START_TEST(test_sendmmsg_partial) {
    int fds[2];
    t_full_dgram_pair(fds);
    ck_assert_int_eq(t_world(_i, t_mmsg_partial_body, fds), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* ---- timeouts ------------------------------------------------------------------------ */

static int t_timeout_body(void *arg, corio_value *out) {
    (void)out;
    t_udp *u = arg;
    char buf[64];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    static t_batch in;
    t_batch_in(&in);

    /* Nothing comes: -ETIMEDOUT after the timeout, at once for 0. */
    for (int k = 0; k < 3; k++) {
        for (int zero = 0; zero < 2; zero++) {
            double to = zero ? 0 : 0.1, t0 = t_now();
            ssize_t r = k == 0   ? corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, to)
                        : k == 1 ? corio_recvmsg(u->b, &m, 0, to)
                                 : corio_recvmmsg(u->b, in.m, T_IN, 0, to);
            double took = t_now() - t0;
            ck_assert_msg(r == -ETIMEDOUT, "op %d timeout %g: %zd", k, to, r);
            if (zero)
                ck_assert_msg(took < 0.5, "op %d poll took %.3f s", k, took);
            else
                ck_assert_msg(took >= 0.09 && took < 5, "op %d took %.3f s", k, took);
        }
    }
    /* Timeout 0 takes what is already there. */
    ck_assert_int_eq(corio_sendto(u->a, "one", 3, 0, T_TO(u), 5), 3);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, 0), 3);
    ck_assert_int_eq(corio_sendto(u->a, "two", 3, 0, T_TO(u), 5), 3);
    ck_assert_int_eq(corio_recvmsg(u->b, &m, 0, 0), 3);
    ck_assert_mem_eq(buf, "two", 3);
    ck_assert_int_eq(corio_sendto(u->a, "3", 1, 0, T_TO(u), 5), 1);
    ck_assert_int_eq(corio_sendto(u->a, "4", 1, 0, T_TO(u), 5), 1);
    ck_assert_int_eq(corio_recvmmsg(u->b, in.m, T_IN, 0, 0), 2);
    ck_assert_int_eq(corio_sendto(u->a, "5", 1, 0, T_TO(u), 0), 1);

    /* NaN: -EINVAL from every call, and nothing consumed. */
    struct msghdr sm = {.msg_name = &u->ba, .msg_namelen = sizeof u->ba, .msg_iov = &iov,
                        .msg_iovlen = 1};
    int fds[1] = {0};
    size_t nfds = 1;
    ck_assert_int_eq(corio_sendto(u->a, "x", 1, 0, T_TO(u), NAN), -EINVAL);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, NAN), -EINVAL);
    ck_assert_int_eq(corio_sendmsg(u->a, &sm, 0, NAN), -EINVAL);
    ck_assert_int_eq(corio_recvmsg(u->b, &m, 0, NAN), -EINVAL);
    ck_assert_int_eq(corio_sendmmsg(u->a, in.m, 1, 0, NAN), -EINVAL);
    ck_assert_int_eq(corio_recvmmsg(u->b, in.m, 1, 0, NAN), -EINVAL);
    ck_assert_int_eq(corio_send_fds(u->a, "x", 1, fds, 1, NAN), -EINVAL);
    ck_assert_int_eq(corio_recv_fds(u->b, buf, 1, fds, &nfds, NAN), -EINVAL);
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, 0), 1);
    ck_assert_int_eq(buf[0], '5');
    ck_assert_int_eq(corio_recvfrom(u->b, buf, sizeof buf, 0, NULL, NULL, 0), -ETIMEDOUT);

    /* Sends that find no room: -ETIMEDOUT, and nothing was sent. */
    int p[2];
    t_full_dgram_pair(p);
    int d = p[1];
    struct iovec xi = {(void *)"x", 1};
    struct msghdr xm = {.msg_iov = &xi, .msg_iovlen = 1};
    struct mmsghdr xmm = {.msg_hdr = xm};
    for (int zero = 0; zero < 2; zero++) {
        double to = zero ? 0 : 0.1;
        ck_assert_int_eq(corio_sendto(p[0], "x", 1, 0, NULL, 0, to), -ETIMEDOUT);
        ck_assert_int_eq(corio_sendmsg(p[0], &xm, 0, to), -ETIMEDOUT);
        ck_assert_int_eq(corio_sendmmsg(p[0], &xmm, 1, 0, to), -ETIMEDOUT);
        ck_assert_int_eq(corio_send_fds(p[0], "x", 1, &d, 1, to), -ETIMEDOUT);
    }
    ck_assert_int_eq(t_drain_foreign(p[1]), 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(test_timeouts) {
    t_udp u;
    t_udp_open(&u, _i);
    ck_assert_int_eq(t_world(_i, t_timeout_body, &u), 0);
    t_udp_close(&u);
}
END_TEST

/* ---- cancellation -------------------------------------------------------------------- */

enum { C_RECVFROM, C_RECVMSG, C_RECVMMSG, C_RECV_FDS, C_SENDTO, C_SENDMMSG, C_COUNT };

typedef struct t_cancel {
    int kind;     /* C_* */
    int fds[2];   /* the socket pair the op blocks on */
    sem_t ready;  /* posted just before the op */
    ssize_t res;  /* what the op returned */
    ssize_t res2; /* what the next call returned */
} t_cancel;

static ssize_t t_cancel_op(t_cancel *c, double to) {
    char buf[64];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    struct mmsghdr mm = {.msg_hdr = m};
    int fds[4];
    size_t nfds = 4;
    switch (c->kind) {
    case C_RECVFROM:
        return corio_recvfrom(c->fds[1], buf, sizeof buf, 0, NULL, NULL, to);
    case C_RECVMSG:
        return corio_recvmsg(c->fds[1], &m, 0, to);
    case C_RECVMMSG:
        return corio_recvmmsg(c->fds[1], &mm, 1, 0, to);
    case C_RECV_FDS:
        return corio_recv_fds(c->fds[1], buf, sizeof buf, fds, &nfds, to);
    case C_SENDTO:
        return corio_sendto(c->fds[0], "x", 1, 0, NULL, 0, to);
    default:
        iov.iov_len = 1;
        buf[0] = 'x';
        return corio_sendmmsg(c->fds[0], &mm, 1, 0, to);
    }
}

static int t_cancel_body(void *arg, corio_value *out) {
    (void)out;
    t_cancel *c = arg;
    sem_post(&c->ready);
    c->res = t_cancel_op(c, CORIO_FOREVER);
    c->res2 = t_cancel_op(c, 5);
    return (int)c->res;
}

/* _i = kind * 2 + fallback. */
START_TEST(test_cancel) {
    t_cancel c = {.kind = _i / 2, .res = 1, .res2 = 1};
    corio__io_force_fallback = _i % 2;
    t_gate_init(&c.ready);
    int sending = c.kind >= C_SENDTO;
    if (sending)
        t_full_dgram_pair(c.fds);
    else
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, c.fds), 0);
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_cancel_body, &c);
    ck_assert(t_gate_pass_within(&c.ready, 5));
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 5, NULL), -ECANCELED);
    ck_assert_msg(c.res == -ECANCELED, "op %d (fallback %d): %zd", c.kind, _i % 2, c.res);
    ck_assert_int_eq(c.res2, -ECANCELED);
    ck_assert(corio_future_cancelled(f));
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    /* Nothing was taken or sent by the cancelled calls. */
    if (sending) {
        ck_assert_int_eq(t_drain_foreign(c.fds[1]), 0);
    } else {
        ck_assert_int_eq(send(c.fds[0], "after", 5, 0), 5);
        char buf[8];
        ck_assert_int_eq(corio_recvfrom(c.fds[1], buf, sizeof buf, 0, NULL, NULL, 0), 5);
        ck_assert_mem_eq(buf, "after", 5);
    }
    close(c.fds[0]);
    close(c.fds[1]);
    sem_destroy(&c.ready);
}
END_TEST

/* ---- descriptor passing --------------------------------------------------------------- */

/* Same open file? */
static int t_same_file(int a, int b) {
    struct stat sa, sb;
    ck_assert_int_eq(fstat(a, &sa), 0);
    ck_assert_int_eq(fstat(b, &sb), 0);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int t_fds_body(void *arg, corio_value *out) {
    (void)out;
    int type = *(int *)arg;
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sp), 0);
    int before = t_count_fds();

    /* Three descriptors and their data. */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(dn, 0);
    int send3[3] = {p[0], p[1], dn};
    ck_assert_int_eq(corio_send_fds(sp[0], "abc", 3, send3, 3, 5), 3);
    int got[4] = {-1, -1, -1, -1};
    size_t n = 4;
    char buf[16];
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, sizeof buf, got, &n, 5), 3);
    ck_assert_mem_eq(buf, "abc", 3);
    ck_assert_uint_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_ge(got[i], 0);
        ck_assert_int_ne(got[i], send3[i]);
        ck_assert(t_same_file(got[i], send3[i]));
        ck_assert_int_eq(fcntl(got[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    ck_assert_int_eq(got[3], -1);
    /* They work: through the received write end into the original read end. */
    ck_assert_int_eq(write(got[1], "!", 1), 1);
    ck_assert_int_eq(read(p[0], buf, 1), 1);
    ck_assert_int_eq(buf[0], '!');
    for (int i = 0; i < 3; i++)
        close(got[i]);

    /* Data alone: nfds 0 out; a NULL fds with capacity 0 is fine. */
    ck_assert_int_eq(corio_send_fds(sp[0], "d", 1, NULL, 0, 5), 1);
    n = 0;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, sizeof buf, NULL, &n, 5), 1);
    ck_assert_uint_eq(n, 0);

    /* More descriptors than capacity: -EMSGSIZE, every one closed, the
     * bytes consumed, and the next message intact. */
    int many[5] = {p[0], p[1], dn, p[0], dn};
    ck_assert_int_eq(corio_send_fds(sp[0], "big", 3, many, 5, 5), 3);
    ck_assert_int_eq(corio_send_fds(sp[0], "nx", 2, &dn, 1, 5), 2);
    n = 2;
    got[0] = got[1] = -1;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 3, got, &n, 5), -EMSGSIZE);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(t_count_fds(), before + 3);
    n = 0;
    ck_assert_int_eq(corio_send_fds(sp[0], "zz", 2, &dn, 1, 5), 2);
    n = 2;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 2, got, &n, 5), 2);
    ck_assert_mem_eq(buf, "nx", 2);
    ck_assert_uint_eq(n, 1);
    ck_assert(t_same_file(got[0], dn));
    close(got[0]);
    /* Capacity 0 and a message with a descriptor: -EMSGSIZE too. */
    n = 0;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 2, NULL, &n, 5), -EMSGSIZE);
    ck_assert_int_eq(t_count_fds(), before + 3);

    /* The most a message carries. */
    int *lots = malloc(CORIO_FDS_MAX * sizeof *lots);
    int *back = malloc(CORIO_FDS_MAX * sizeof *back);
    for (int i = 0; i < CORIO_FDS_MAX; i++)
        lots[i] = dn;
    ck_assert_int_eq(corio_send_fds(sp[0], "L", 1, lots, CORIO_FDS_MAX, 5), 1);
    n = CORIO_FDS_MAX;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 1, back, &n, 5), 1);
    ck_assert_uint_eq(n, CORIO_FDS_MAX);
    ck_assert_int_eq(t_count_fds(), before + 3 + CORIO_FDS_MAX);
    for (int i = 0; i < CORIO_FDS_MAX; i++)
        close(back[i]);
    /* One short of it: -EMSGSIZE with all of them closed. */
    ck_assert_int_eq(corio_send_fds(sp[0], "L", 1, lots, CORIO_FDS_MAX, 5), 1);
    n = CORIO_FDS_MAX - 1;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 1, back, &n, 5), -EMSGSIZE);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(t_count_fds(), before + 3);

    /* Bad input. */
    int closed = t_closed_fd();
    ck_assert_int_eq(corio_send_fds(sp[0], "x", 1, lots, CORIO_FDS_MAX + 1, 5), -EINVAL);
    ck_assert_int_eq(corio_send_fds(sp[0], "x", 0, &dn, 1, 5), -EINVAL);
    ck_assert_int_eq(corio_send_fds(sp[0], NULL, 1, &dn, 1, 5), -EFAULT);
    ck_assert_int_eq(corio_send_fds(sp[0], "x", 1, NULL, 1, 5), -EFAULT);
    ck_assert_int_eq(corio_send_fds(-1, "x", 1, &dn, 1, 5), -EBADF);
    ck_assert_int_eq(corio_send_fds(closed, "x", 1, &dn, 1, 5), -EBADF);
    n = 1;
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 1, got, NULL, 5), -EFAULT);
    ck_assert_int_eq(corio_recv_fds(sp[1], NULL, 1, got, &n, 5), -EFAULT);
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 1, NULL, &n, 5), -EFAULT);
    ck_assert_int_eq(corio_recv_fds(-1, buf, 1, got, &n, 5), -EBADF);
    ck_assert_int_eq(corio_recv_fds(closed, buf, 1, got, &n, 5), -EBADF);
    ck_assert_int_eq(corio_recv_fds(sp[1], buf, 1, got, &n, 0), -ETIMEDOUT);
    ck_assert_uint_eq(n, 0);
    free(lots);
    free(back);

    /* The peer leaves: 0 on a stream socket. */
    if (type == SOCK_STREAM) {
        ck_assert_int_eq(shutdown(sp[0], SHUT_WR), 0);
        n = 1;
        ck_assert_int_eq(corio_recv_fds(sp[1], buf, 1, got, &n, 5), 0);
        ck_assert_uint_eq(n, 0);
    }
    close(p[0]);
    close(p[1]);
    close(dn);
    ck_assert_int_eq(t_count_fds(), before);
    close(sp[0]);
    close(sp[1]);
    return 0;
}

/* _i = world * 2 + (0: stream, 1: datagram socket). */
START_TEST(test_fds) {
    int type = _i % 2 ? SOCK_DGRAM : SOCK_STREAM;
    ck_assert_int_eq(t_world(_i / 2, t_fds_body, &type), 0);
}
END_TEST

/* 100,000 datagrams over loopback at a sane rate (windows of 64, each
 * received before the next is sent): none lost, none duplicated, in order.
 * Fewer under sanitizers (t_scale: TSan 5,000). */
enum { T_WIN = 64 };

static int t_bulk_body(void *arg, corio_value *out) {
    (void)out;
    t_udp *u = arg;
    uint32_t sent[T_WIN], got[T_WIN];
    struct iovec siov[T_WIN], riov[T_WIN];
    struct mmsghdr sm[T_WIN], rm[T_WIN];
    const uint32_t T_BULK = (uint32_t)t_scale(100000, 5000);
    uint32_t next = 0, expect = 0;
    while (next < T_BULK) {
        unsigned w = T_BULK - next < T_WIN ? T_BULK - next : T_WIN;
        memset(sm, 0, sizeof sm);
        for (unsigned i = 0; i < w; i++) {
            sent[i] = next + i;
            siov[i] = (struct iovec){&sent[i], sizeof sent[i]};
            sm[i].msg_hdr = (struct msghdr){.msg_name = &u->ba, .msg_namelen = sizeof u->ba,
                                            .msg_iov = &siov[i], .msg_iovlen = 1};
        }
        for (unsigned off = 0; off < w;) {
            int n = corio_sendmmsg(u->a, sm + off, w - off, 0, 10);
            ck_assert_int_gt(n, 0);
            off += (unsigned)n;
        }
        next += w;
        while (expect < next) {
            memset(rm, 0, sizeof rm);
            for (unsigned i = 0; i < T_WIN; i++) {
                riov[i] = (struct iovec){&got[i], sizeof got[i]};
                rm[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
            }
            int n = corio_recvmmsg(u->b, rm, T_WIN, 0, 10);
            ck_assert_msg(n > 0, "datagram %u never came: %s", expect, corio_strerror(n));
            for (int i = 0; i < n; i++) {
                ck_assert_uint_eq(rm[i].msg_len, sizeof got[i]);
                ck_assert_uint_eq(got[i], expect);
                expect++;
            }
        }
    }
    ck_assert_uint_eq(expect, T_BULK);
    return 0;
}

START_TEST(test_bulk_none_lost) {
    t_udp u;
    t_udp_open(&u, _i);
    ck_assert_int_eq(t_world(_i, t_bulk_body, &u), 0);
    t_udp_close(&u);
}
END_TEST

static Suite *udp_suite(void) {
    Suite *s = suite_create("udp");
    TCase *tc = tcase_create("datagrams");
    tcase_set_timeout(tc, 15);
    tcase_add_loop_test(tc, test_sendto_recvfrom, 0, W_COUNT);
    tcase_add_loop_test(tc, test_sendmsg_recvmsg, 0, W_COUNT);
    tcase_add_loop_test(tc, test_mmsg, 0, W_COUNT);
    tcase_add_loop_test(tc, test_bulk_none_lost, 0, W_COUNT);
    tcase_add_loop_test(tc, test_sendmmsg_partial, 0, W_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeout_cancel");
    tcase_set_timeout(tc, 15);
    tcase_add_loop_test(tc, test_timeouts, 0, W_COUNT);
    tcase_add_loop_test(tc, test_cancel, 0, 2 * C_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("fds");
    tcase_set_timeout(tc, 15);
    tcase_add_loop_test(tc, test_fds, 0, 2 * W_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    return t_run_suite(udp_suite());
}
