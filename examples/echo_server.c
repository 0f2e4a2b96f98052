/* echo_server — a TCP echo server on 127.0.0.1: one coroutine per
 * connection, one corio loop per core.
 *
 *   echo_server [--port P] [--loops N] [--mode shared|reuseport]
 *
 * Two ways to spread connections over the loops:
 *   shared     one listening socket; every loop runs an acceptor coroutine
 *              with a multishot accept (corio_acceptor) on it, and whichever
 *              loop's accept the kernel completes gets the connection.
 *   reuseport  one listening socket per loop, all bound to the same port
 *              with SO_REUSEPORT; the kernel hashes each new connection to
 *              one of them, and each loop accepts from its own.
 * The default is `shared`: measured with bench_echo --target on 2 loops
 * (docs/benchmarks.md, "Echo (coroutine I/O)"), it accepted about twice as
 * many connections per second as reuseport (8-11k vs 4.3k connect, echo,
 * close cycles/s), with the same steady-state echo rate (best runs 89.9k vs
 * 89.3k req/s). reuseport is one flag away.
 *
 * Ctrl-C (or SIGTERM) stops it: destroying the runtime cancels every
 * coroutine, whose blocked calls then return -ECANCELED.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio.h"

static int mode_reuseport;
static uint16_t port = 7777;
static int shared_fd = -1;

/* A listening socket on 127.0.0.1:port, optionally with SO_REUSEPORT. */
static int make_listener(int reuseport) {
    int fd = corio_socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* One connection: read what comes, write it back, until EOF, an error or
 * cancellation. */
static int serve(void *arg, corio_value *out) {
    (void)out;
    int fd = (int)(intptr_t)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[4096];
    for (;;) {
        ssize_t n = corio_recv(fd, buf, sizeof buf, 0, CORIO_FOREVER);
        if (n <= 0)
            break; /* 0: the client is done; < 0: error or -ECANCELED */
        for (ssize_t off = 0; off < n;) {
            ssize_t w = corio_send(fd, buf + off, (size_t)(n - off), 0, CORIO_FOREVER);
            if (w < 0)
                goto done;
            off += w;
        }
    }
done:
    corio_close(fd);
    return 0;
}

/* The accept loop of one loop: hand every connection to a new coroutine
 * on this same loop (coroutines never migrate, so the connection stays
 * with the core that accepted it). */
static int accept_loop(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int lfd = mode_reuseport ? make_listener(1) : shared_fd;
    if (lfd < 0) {
        fprintf(stderr, "echo_server: listen: %s\n", corio_strerror(lfd));
        return lfd;
    }
    corio_acceptor *acc;
    int r = corio_acceptor_create(lfd, 0, &acc);
    if (r < 0)
        return r;
    corio_spawn_options so = {.stack_size = 32 * 1024}; /* serve() needs little */
    for (;;) {
        int fd = corio_acceptor_next(acc, NULL, NULL, CORIO_FOREVER);
        if (fd == -ECANCELED)
            break; /* the runtime is stopping */
        if (fd < 0) {
            /* EMFILE and friends: report, then keep accepting. */
            fprintf(stderr, "echo_server: accept: %s\n", corio_strerror(fd));
            corio_sleep(0.1);
            continue;
        }
        corio_future *f = corio_spawn_on(corio_runtime_current(), -1, serve,
                                         (void *)(intptr_t)fd, &so, &r);
        if (!f) {
            corio_close(fd);
            continue;
        }
        corio_future_unref(f); /* fire and forget: the loop keeps it alive */
    }
    corio_acceptor_destroy(acc);
    if (mode_reuseport)
        corio_close(lfd);
    return 0;
}

int main(int argc, char **argv) {
    int loops = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = (uint16_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--loops") && i + 1 < argc)
            loops = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "reuseport"))
                mode_reuseport = 1;
            else if (strcmp(m, "shared")) {
                fprintf(stderr, "echo_server: unknown mode %s\n", m);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s [--port P] [--loops N] [--mode shared|reuseport]\n",
                    argv[0]);
            return 2;
        }
    }
    /* Block the stop signals in every thread (the loops inherit the mask);
     * the main thread takes them with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    if (!mode_reuseport) {
        shared_fd = make_listener(0);
        if (shared_fd < 0) {
            fprintf(stderr, "echo_server: listen: %s\n", corio_strerror(shared_fd));
            return 1;
        }
    }
    corio_runtime_options o = {.loops = loops, .ring_entries = 1024};
    corio_runtime *rt;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0) {
        fprintf(stderr, "echo_server: %s\n", corio_strerror(r));
        return 1;
    }
    int n = corio_runtime_loops(rt);
    for (int k = 0; k < n; k++) {
        corio_future *f = corio_spawn_on(rt, k, accept_loop, NULL, NULL, &r);
        if (f)
            corio_future_unref(f);
    }
    printf("echo_server: 127.0.0.1:%u, %d loops, %s listener\n", port, n,
           mode_reuseport ? "per-loop SO_REUSEPORT" : "one shared multishot");
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    corio_runtime_destroy(rt);
    if (shared_fd >= 0)
        close(shared_fd);
    return 0;
}
