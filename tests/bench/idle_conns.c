/* idle_conns — hold N idle keep-alive HTTP connections to 127.0.0.1:PORT,
 * each having had one request answered, so that a script can read what
 * the server's memory grew by per idle connection (httpd_vs_nginx.sh).
 *
 *   idle_conns PORT N [HOLD_SECONDS]
 *
 * Opens N connections (at most 256 connects in flight), sends
 * "GET /hello HTTP/1.1" on each and reads the answer (head, then
 * Content-Length bytes), then prints "ready N" and holds every connection
 * open until its standard input closes or HOLD_SECONDS (default 120) pass,
 * whichever is first. Exits 1 when a connection fails or the set-up takes
 * longer than 60 s. Loopback only: it never connects anywhere else. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT 256    /* connections being set up at once */
#define SETUP_LIMIT 60. /* seconds for all of them */

static const char request[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* One connection's progress. */
typedef struct conn {
    int fd;       /* the socket, -1 before it is opened */
    int sent;     /* the request went out */
    size_t got;   /* bytes of the answer received */
    long need;    /* head + body length once the head is in, else -1 */
    char buf[512]; /* the answer so far (the head must fit) */
} conn;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "idle_conns: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The answer's full length once its head is in buf, else -1. */
static long answer_len(const conn *c) {
    const char *end = memmem(c->buf, c->got, "\r\n\r\n", 4);
    if (!end)
        return -1;
    long cl = 0;
    const char *p = memmem(c->buf, (size_t)(end - c->buf), "\r\nContent-Length:", 17);
    if (!p)
        p = memmem(c->buf, (size_t)(end - c->buf), "\r\ncontent-length:", 17);
    if (p)
        cl = strtol(p + 17, NULL, 10);
    return (long)(end + 4 - c->buf) + cl;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT N [HOLD_SECONDS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int n = atoi(argv[2]);
    double hold = argc > 3 ? atof(argv[3]) : 120.;
    if (port <= 0 || port > 65535 || n <= 0)
        return 2;
    conn *cs = calloc((size_t)n, sizeof *cs);
    if (!cs)
        die("calloc");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    int opened = 0, done = 0, busy = 0;
    double t0 = now_s();
    while (done < n) {
        while (opened < n && busy < INFLIGHT) {
            conn *c = &cs[opened];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0)
                die("socket");
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->need = -1;
            if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
                die("connect");
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)opened};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
                die("epoll_ctl");
            opened++;
            busy++;
        }
        if (now_s() - t0 > SETUP_LIMIT) {
            fprintf(stderr, "idle_conns: %d of %d connections answered in %.0f s\n", done, n,
                    SETUP_LIMIT);
            return 1;
        }
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 1000);
        if (k < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < k; i++) {
            conn *c = &cs[evs[i].data.u32];
            if (!c->sent && (evs[i].events & EPOLLOUT)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    errno = err;
                    die("connect");
                }
                if (send(c->fd, request, sizeof request - 1, MSG_NOSIGNAL) !=
                    (ssize_t)sizeof request - 1)
                    die("send");
                c->sent = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            ssize_t r = recv(c->fd, c->buf + c->got, sizeof c->buf - c->got, 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r <= 0) {
                fprintf(stderr, "idle_conns: connection %u closed after %zu bytes\n",
                        evs[i].data.u32, c->got);
                return 1;
            }
            c->got += (size_t)r;
            if (c->need < 0)
                c->need = answer_len(c);
            if (c->need < 0 && c->got == sizeof c->buf) {
                fprintf(stderr, "idle_conns: answer head too long\n");
                return 1;
            }
            if (c->need >= 0 && (long)c->got >= c->need) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                busy--;
                done++;
            }
        }
    }
    printf("ready %d\n", n);
    fflush(stdout);
    /* Hold: until stdin closes (or reads anything), bounded in time. */
    struct pollfd p = {.fd = 0, .events = POLLIN};
    poll(&p, 1, (int)(hold * 1000));
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    close(ep);
    free(cs);
    return 0;
}
