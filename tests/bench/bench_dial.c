/* bench_dial: connection set-up on loopback, corio_dial + corio_listener_accept
 * against the plain system calls, measured in the same run.
 *
 *   baseline: one thread, socket + blocking connect + accept4 + two closes
 *   corio:    one loop, a client coroutine dialling (corio_dial, numeric
 *             host) and a server coroutine accepting (corio_listener_accept,
 *             the multishot acceptor), one connection in flight
 *   corio x16: the same with 16 client coroutines at once
 *
 * Each is run --rounds times (default 5), best kept; prints connections/s
 * and the ratio against the baseline. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "corio.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err) {
    fprintf(stderr, "bench_dial: %s: %s\n", what, corio_strerror(err));
    exit(1);
}

/* ---- baseline ---- */

static double baseline(int n) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, SOMAXCONN) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0)
        die("baseline listen", -errno);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
            die("baseline connect", -errno);
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0)
            die("baseline accept", -errno);
        close(s);
        close(c);
    }
    double dt = now_s() - t0;
    close(l);
    return n / dt;
}

/* ---- corio ---- */

typedef struct run {
    corio_listener *l; /* the listener */
    char port[8];      /* its port */
    int n;             /* connections per client */
    int clients;       /* client coroutines */
} run;

static int server(void *arg, corio_value *out) {
    (void)out;
    run *r = arg;
    for (int i = 0; i < r->n * r->clients; i++) {
        int s = corio_listener_accept(r->l, NULL, NULL, 30);
        if (s < 0)
            die("accept", s);
        corio_close(s);
    }
    return 0;
}

static int client(void *arg, corio_value *out) {
    (void)out;
    run *r = arg;
    for (int i = 0; i < r->n; i++) {
        int c = corio_dial("127.0.0.1", r->port, 30);
        if (c < 0)
            die("dial", c);
        corio_close(c);
    }
    return 0;
}

static int corio_main(void *arg, corio_value *out) {
    (void)out;
    run *r = arg;
    int err = corio_listen("127.0.0.1", "0", NULL, &r->l);
    if (err < 0)
        die("listen", err);
    snprintf(r->port, sizeof r->port, "%d", corio_listener_port(r->l));
    corio_future *srv = corio_spawn(server, r, &err);
    corio_future *cl[64];
    for (int i = 0; i < r->clients; i++)
        if (!(cl[i] = corio_spawn(client, r, &err)))
            die("spawn", err);
    for (int i = 0; i < r->clients; i++) {
        corio_future_result(cl[i], CORIO_FOREVER, NULL);
        corio_future_unref(cl[i]);
    }
    corio_future_result(srv, CORIO_FOREVER, NULL);
    corio_future_unref(srv);
    /* Before the runtime ends: the acceptor lives on this loop. */
    corio_listener_destroy(r->l);
    return 0;
}

static double corio_rate(int n, int clients) {
    run r = {.n = n / clients, .clients = clients};
    corio_runtime_options o = {.loops = 1};
    double t0 = now_s();
    int e = corio_run_with(&o, corio_main, &r, NULL);
    double dt = now_s() - t0;
    if (e < 0)
        die("run", e);
    return r.n * clients / dt;
}

int main(int argc, char **argv) {
    int n = 5000, rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--conns") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
    }
    if (n < 16 || rounds < 1) {
        fprintf(stderr, "usage: %s [--conns N>=16] [--rounds R]\n", argv[0]);
        return 2;
    }
    bench_print_machine();
    double best_b = 0, best_c = 0, best_c16 = 0;
    for (int r = 0; r < rounds; r++) {
        double b = baseline(n), c = corio_rate(n, 1), c16 = corio_rate(n, 16);
        printf("  round %d: syscalls %.0f, corio %.0f, corio x16 %.0f connections/s\n", r + 1, b,
               c, c16);
        best_b = b > best_b ? b : best_b;
        best_c = c > best_c ? c : best_c;
        best_c16 = c16 > best_c16 ? c16 : best_c16;
    }
    printf("dial+accept+close on loopback, %d connections, best of %d:\n", n, rounds);
    printf("syscall baseline (1 thread, blocking):        %.0f connections/s\n", best_b);
    printf("corio (1 loop, 1 dialler + 1 acceptor):       %.0f connections/s\n", best_c);
    printf("corio (1 loop, 16 diallers + 1 acceptor):     %.0f connections/s\n", best_c16);
    printf("ratio corio/syscalls: %.2f, corio x16/syscalls: %.2f\n", best_c / best_b,
           best_c16 / best_b);
    return 0;
}
