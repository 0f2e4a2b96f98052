/* bench_udp — UDP echo over 127.0.0.1, datagrams per second: a corio
 * server (one loop, one coroutine: corio_recvmmsg then corio_sendmmsg of
 * the same batch back to the senders) against an epoll server written
 * here (one thread, level-triggered: recvmmsg(MSG_DONTWAIT) until the
 * socket is empty, each batch sent back with sendmmsg, epoll_wait only
 * when there is nothing to read),
 * driven by the same client in the same run.
 *
 * The client is one plain thread with one connected UDP socket: it keeps
 * `--window` datagrams of `--size` bytes in flight, checks every echoed
 * byte, and sends one new datagram per echo received (sendmmsg of the
 * batch that recvmmsg returned). A datagram lost (none are expected on
 * loopback with the buffers set here) is counted, and the window refilled
 * after 50 ms without an echo. The server (loop or thread) is pinned to
 * CPU 0 and the client to CPU 1 when there are two CPUs. Each server gets
 * `--rounds` rounds of `--seconds`, alternating; its best round is
 * reported, with the server thread's CPU time per datagram.
 *
 *   bench_udp [--seconds S] [--rounds R] [--window W] [--size B] [--batch N]
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "corio.h"

#define MAX_BATCH 1024
#define MAX_SIZE 1472 /* one Ethernet-sized UDP payload */

static double seconds = 1.0;
static int rounds = 2;
static unsigned window = 64;
static size_t dsize = 64;
static unsigned batch = 64;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err) {
    fprintf(stderr, "bench_udp: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static void pin(int cpu) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % n, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void big_buffers(int s) {
    int sz = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

/* A UDP socket on 127.0.0.1 (port 0: any), its address in *a. */
static int udp_socket(struct sockaddr_in *a, int nonblock) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (s < 0)
        die("socket", errno);
    big_buffers(s);
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *a;
    if (bind(s, (struct sockaddr *)a, sizeof *a) < 0 ||
        getsockname(s, (struct sockaddr *)a, &len) < 0)
        die("bind", errno);
    return s;
}

/* A batch of datagram buffers with their names, for either side. */
typedef struct dbatch {
    unsigned char (*data)[MAX_SIZE];
    struct iovec *iov;
    struct sockaddr_in *name;
    struct mmsghdr *m;
} dbatch;

static void dbatch_init(dbatch *b, unsigned n) {
    b->data = calloc(n, sizeof *b->data);
    b->iov = calloc(n, sizeof *b->iov);
    b->name = calloc(n, sizeof *b->name);
    b->m = calloc(n, sizeof *b->m);
    if (!b->data || !b->iov || !b->name || !b->m)
        die("calloc", ENOMEM);
}

/* Ready msgs [0, n) to receive into (server: with the sender's name). */
static void dbatch_arm(dbatch *b, unsigned n, int names) {
    for (unsigned i = 0; i < n; i++) {
        b->iov[i] = (struct iovec){b->data[i], MAX_SIZE};
        b->m[i].msg_hdr = (struct msghdr){.msg_name = names ? &b->name[i] : NULL,
                                          .msg_namelen = names ? sizeof b->name[i] : 0,
                                          .msg_iov = &b->iov[i], .msg_iovlen = 1};
    }
}

/* Received msgs [0, n) turned into their own replies. */
static void dbatch_reply(dbatch *b, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        b->iov[i].iov_len = b->m[i].msg_len;
}

static void dbatch_free(dbatch *b) {
    free(b->data);
    free(b->iov);
    free(b->name);
    free(b->m);
}

/* ---- the client ---------------------------------------------------------------- */

static unsigned char pat(uint32_t seq, size_t i) { return (unsigned char)(seq * 13 + i * 7); }

static long lost;

/* Send `n` new datagrams, numbered from *seq. */
static void client_send(int s, dbatch *out, unsigned n, uint32_t *seq) {
    for (unsigned i = 0; i < n; i++) {
        uint32_t q = (*seq)++;
        memcpy(out->data[i], &q, sizeof q);
        for (size_t k = sizeof q; k < dsize; k++)
            out->data[i][k] = pat(q, k);
        out->iov[i] = (struct iovec){out->data[i], dsize};
        out->m[i].msg_hdr = (struct msghdr){.msg_iov = &out->iov[i], .msg_iovlen = 1};
    }
    for (unsigned off = 0; off < n;) {
        int r = sendmmsg(s, out->m + off, n - off, 0);
        if (r < 0) {
            if (errno == EINTR || errno == ENOBUFS)
                continue;
            die("client sendmmsg", errno);
        }
        off += (unsigned)r;
    }
}

/* Closed loop against `srv` for `secs`: echoes per second. */
static double run_client(const struct sockaddr_in *srv, double secs) {
    struct sockaddr_in me;
    int s = udp_socket(&me, 0);
    if (connect(s, (const struct sockaddr *)srv, sizeof *srv) < 0)
        die("connect", errno);
    dbatch out, in;
    dbatch_init(&out, window);
    dbatch_init(&in, window);
    uint32_t seq = 0;
    long done = 0, inflight = window;
    client_send(s, &out, window, &seq);
    double t0 = now_s(), end = t0 + secs;
    while (now_s() < end) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        int w = poll(&p, 1, 50);
        if (w == 0) {
            /* Nothing for 50 ms: what was in flight is lost. */
            lost += inflight;
            client_send(s, &out, window, &seq);
            inflight = window;
            continue;
        }
        dbatch_arm(&in, window, 0);
        int k = recvmmsg(s, in.m, window, MSG_DONTWAIT, NULL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            die("client recvmmsg", errno);
        }
        for (int i = 0; i < k; i++) {
            if (in.m[i].msg_len != dsize)
                die("echo length", EPROTO);
            uint32_t q;
            memcpy(&q, in.data[i], sizeof q);
            for (size_t b = sizeof q; b < dsize; b++)
                if (in.data[i][b] != pat(q, b))
                    die("echo mismatch", EPROTO);
        }
        done += k;
        inflight -= k;
        if (inflight < 0)
            inflight = 0; /* a late echo of a datagram counted lost */
        client_send(s, &out, (unsigned)k, &seq);
        inflight += k;
    }
    double el = now_s() - t0;
    dbatch_free(&out);
    dbatch_free(&in);
    close(s);
    return (double)done / el;
}

/* ---- the servers ------------------------------------------------------------------ */

typedef struct server {
    int fd;
    _Atomic int stop;  /* epoll server: set to end it */
    long echoed;       /* datagrams echoed */
    double cpu;        /* the serving thread's CPU time, seconds */
} server;

/* corio: one coroutine, a batch received and sent back per wake-up. */
static int corio_server(void *arg, corio_value *out) {
    (void)out;
    server *sv = arg;
    dbatch b;
    dbatch_init(&b, batch);
    double cpu0 = thread_cpu_s();
    for (;;) {
        dbatch_arm(&b, batch, 1);
        int n = corio_recvmmsg(sv->fd, b.m, batch, 0, CORIO_FOREVER);
        if (n < 0)
            break; /* -ECANCELED: the run is over */
        dbatch_reply(&b, (unsigned)n);
        int off = 0;
        while (off < n) {
            int r = corio_sendmmsg(sv->fd, b.m + off, (unsigned)(n - off), 0, CORIO_FOREVER);
            if (r < 0)
                goto done;
            off += r;
        }
        sv->echoed += n;
    }
done:
    sv->cpu = thread_cpu_s() - cpu0;
    dbatch_free(&b);
    return 0;
}

static double bench_corio(double *cpu_us) {
    server sv = {0};
    struct sockaddr_in a;
    sv.fd = udp_socket(&a, 1);
    corio_runtime_options o = {.loops = 1, .ring_entries = 1024};
    corio_runtime *rt;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0)
        die("corio_runtime_create", r);
    corio_future *f = corio_spawn_on(rt, 0, corio_server, &sv, NULL, &r);
    if (!f)
        die("corio_spawn_on", r);
    double dps = run_client(&a, seconds);
    corio_future_cancel(f);
    corio_future_result(f, CORIO_FOREVER, NULL);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    close(sv.fd);
    *cpu_us = sv.echoed ? sv.cpu / (double)sv.echoed * 1e6 : 0;
    return dps;
}

/* epoll: one thread, level-triggered, non-blocking recvmmsg + sendmmsg. */
static void *epoll_server(void *arg) {
    server *sv = arg;
    pin(0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sv->fd, &ev) < 0)
        die("epoll_ctl", errno);
    dbatch b;
    dbatch_init(&b, batch);
    double cpu0 = thread_cpu_s();
    while (!atomic_load_explicit(&sv->stop, memory_order_relaxed)) {
        /* Drain first, wait only when the socket is empty: under load no
         * epoll_wait at all, as on the corio side. */
        dbatch_arm(&b, batch, 1);
        int n = recvmmsg(sv->fd, b.m, batch, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            struct epoll_event got;
            epoll_wait(ep, &got, 1, 100);
            continue;
        }
        dbatch_reply(&b, (unsigned)n);
        for (int off = 0; off < n;) {
            int r = sendmmsg(sv->fd, b.m + off, (unsigned)(n - off), 0);
            if (r < 0) {
                if (errno == EAGAIN) {
                    struct pollfd p = {.fd = sv->fd, .events = POLLOUT};
                    poll(&p, 1, 100);
                    continue;
                }
                die("server sendmmsg", errno);
            }
            off += r;
        }
        sv->echoed += n;
    }
    sv->cpu = thread_cpu_s() - cpu0;
    dbatch_free(&b);
    close(ep);
    return NULL;
}

static double bench_epoll(double *cpu_us) {
    server sv = {0};
    struct sockaddr_in a;
    sv.fd = udp_socket(&a, 1);
    pthread_t t;
    if (pthread_create(&t, NULL, epoll_server, &sv) != 0)
        die("pthread_create", errno);
    double dps = run_client(&a, seconds);
    atomic_store(&sv.stop, 1);
    pthread_join(t, NULL);
    close(sv.fd);
    *cpu_us = sv.echoed ? sv.cpu / (double)sv.echoed * 1e6 : 0;
    return dps;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--seconds") && v)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && v)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--window") && v)
            window = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && v)
            dsize = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && v)
            batch = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--rounds R] [--window W] [--size B] "
                            "[--batch N]\n", argv[0]);
            return 2;
        }
    }
    if (seconds <= 0 || rounds < 1 || window < 1 || window > MAX_BATCH || batch < 1 ||
        batch > MAX_BATCH || dsize < 4 || dsize > MAX_SIZE) {
        fprintf(stderr, "bench_udp: bad arguments\n");
        return 2;
    }
    bench_print_machine();
    pin(1); /* the client */
    double best_c = 0, best_e = 0, cpu_c = 0, cpu_e = 0;
    for (int r = 0; r < rounds; r++) {
        double cc, ce;
        double dc = bench_corio(&cc);
        double de = bench_epoll(&ce);
        printf("  round %d: corio %.0f, epoll %.0f datagrams/s\n", r + 1, dc, de);
        if (dc > best_c) {
            best_c = dc;
            cpu_c = cc;
        }
        if (de > best_e) {
            best_e = de;
            cpu_e = ce;
        }
    }
    printf("UDP echo on 127.0.0.1, %zu-byte datagrams, window %u, server batch %u, "
           "best of %d x %.1f s:\n", dsize, window, batch, rounds, seconds);
    printf("epoll + recvmmsg/sendmmsg (1 thread):          %9.0f datagrams/s  "
           "(server %.2f us CPU/datagram)\n", best_e, cpu_e);
    printf("corio_recvmmsg/corio_sendmmsg (1 coroutine):   %9.0f datagrams/s  "
           "(server %.2f us CPU/datagram)\n", best_c, cpu_c);
    printf("ratio corio/epoll: %.2f\n", best_e > 0 ? best_c / best_e : 0);
    if (lost)
        printf("datagrams lost (window refilled after 50 ms): %ld\n", lost);
    return 0;
}
