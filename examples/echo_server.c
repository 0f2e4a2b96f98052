/* echo_server — a TCP echo server on 127.0.0.1: one coroutine per
 * connection, one corio loop per core.
 *
 *   echo_server [--port P] [--loops N] [--mode shared|reuseport]
 *
 * Two ways to spread connections over the loops, both one corio_listen:
 *   shared     one listening socket; every loop runs an accept coroutine on
 *              it (the listener gives each loop its own multishot accept),
 *              and whichever loop's accept the kernel completes gets the
 *              connection.
 *   reuseport  one listening socket per loop, all bound to the same port
 *              with SO_REUSEPORT (.reuseport = true); the kernel hashes each
 *              new connection to one of them, and each loop accepts from
 *              its own.
 * The default is `shared`: measured with bench_echo --target on 2 loops
 * (docs/benchmarks.md, "Echo (coroutine I/O)"), it accepted about twice as
 * many connections per second as reuseport (8-11k vs 4.3k connect, echo,
 * close cycles/s), with the same steady-state echo rate (best runs 89.9k vs
 * 89.3k req/s). reuseport is one flag away.
 *
 * SIGINT or SIGTERM (taken with corio_signal_wait) stops it gracefully:
 * corio_runtime_drain closes the listener, lets open connections finish
 * for up to 5 s, then cancels the rest (their blocked calls return
 * -ECANCELED).
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
static const char *port = "7777";
static corio_listener *listener;

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
 * with the core that accepted it). Ends when the drain closes the
 * listener (-ESHUTDOWN) or the runtime cancels it. */
static int accept_loop(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_spawn_options so = {.stack_size = 32 * 1024}; /* serve() needs little */
    for (;;) {
        int fd = corio_listener_accept(listener, NULL, NULL, CORIO_FOREVER);
        if (fd == -ECANCELED || fd == -ESHUTDOWN)
            break; /* draining or stopping */
        if (fd < 0) {
            /* EMFILE and friends: report, then keep accepting. */
            fprintf(stderr, "echo_server: accept: %s\n", corio_strerror(fd));
            corio_sleep(0.1);
            continue;
        }
        int r;
        corio_future *f = corio_spawn_on(corio_runtime_current(), -1, serve,
                                         (void *)(intptr_t)fd, &so, &r);
        if (!f) {
            corio_close(fd);
            continue;
        }
        corio_future_unref(f); /* fire and forget: the loop keeps it alive */
    }
    return 0;
}

int main(int argc, char **argv) {
    int loops = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = argv[++i];
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
    /* Block the stop signals before any thread starts (the loops inherit
     * the mask); the main thread takes them with corio_signal_wait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    corio_signal_block(&stop);

    corio_runtime_options o = {.loops = loops, .ring_entries = 1024};
    corio_runtime *rt;
    int r = corio_runtime_create(&o, &rt);
    if (r < 0) {
        fprintf(stderr, "echo_server: %s\n", corio_strerror(r));
        return 1;
    }
    corio_listen_options lo = {.reuseport = mode_reuseport, .runtime = rt, .backlog = 4096};
    r = corio_listen("127.0.0.1", port, &lo, &listener);
    if (r < 0) {
        fprintf(stderr, "echo_server: listen on 127.0.0.1:%s: %s\n", port, corio_strerror(r));
        corio_runtime_destroy(rt);
        return 1;
    }
    int n = corio_runtime_loops(rt);
    for (int k = 0; k < n; k++) {
        corio_future *f = corio_spawn_on(rt, k, accept_loop, NULL, NULL, &r);
        if (f)
            corio_future_unref(f);
    }
    printf("echo_server: 127.0.0.1:%d, %d loops, %s listener\n", corio_listener_port(listener),
           n, mode_reuseport ? "per-loop SO_REUSEPORT" : "one shared");
    fflush(stdout);
    corio_signal_info si;
    if (corio_signal_wait(&stop, CORIO_FOREVER, &si) > 0) {
        corio_drain_summary sum;
        corio_runtime_drain(rt, corio_now_ns() + 5 * 1000000000LL, &sum);
        fprintf(stderr, "echo_server: signal %d: %zu coroutines finished, %zu cancelled\n",
                si.signo, sum.finished, sum.cancelled);
    }
    corio_listener_destroy(listener);
    corio_runtime_destroy(rt);
    return 0;
}
