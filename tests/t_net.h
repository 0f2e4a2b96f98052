/* Helpers shared by the net suites (test_netconn.c, test_netdial.c).
 * Everything is static: each suite is one translation unit. */
#ifndef CORIO_T_NET_H
#define CORIO_T_NET_H

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
static inline int t_count_fds(void) {
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
static inline int t_world(int w, corio_fn fn, void *arg) {
    corio__io_force_fallback = w == 1;
    if (w == 2) {
        corio_value v = {0};
        return fn(arg, &v);
    }
    corio_runtime_options o = {.loops = 1, .stack_size = 128 * 1024, .no_pin = true};
    return corio_run_with(&o, fn, arg, NULL);
}

static inline corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .stack_size = 128 * 1024, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Port as a string. */
static inline const char *t_port(char buf[8], int port) {
    snprintf(buf, 8, "%d", port);
    return buf;
}

/* A listener on `host` port 0 that never accepts and whose accept queue
 * is full (backlog 0 holds one connection, made here): new SYNs are
 * dropped, so a connect to it hangs like one to a blackholed address.
 * Returns the listening fd; *filler is the connection filling the queue. */
static inline int t_full_listener(int family, int *port, int *filler) {
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
    /* connect returns once the client side is established; the listener
     * counts the filler only when its ACK has been processed, which on a
     * loaded machine can come after a SYN that another CPU sends next (that
     * SYN would then be answered and the "hanging" connect succeed). The
     * listener is readable once the filler is in its accept queue. */
    struct pollfd pf = {.fd = s, .events = POLLIN};
    ck_assert_int_eq(poll(&pf, 1, 10000), 1);
    return s;
}

/* A port on 127.0.0.1 nobody listens on (bound, so no one else takes it). */
static inline int t_refusing_port(int *port) {
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

static inline void t_ai_set(t_ai *e, const char *ip, int port, t_ai *next) {
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
static inline void t_exchange(int a, int b, const char *msg) {
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

/* Dial `host` to l from a thread (the dialer) and accept it here. */
typedef struct t_dial_job {
    const char *host;  /* where to */
    char port[8];      /* its port */
    int fd;            /* the result */
} t_dial_job;

static inline void *t_dial_thread(void *arg) {
    t_dial_job *j = arg;
    j->fd = corio_dial(j->host, j->port[0] ? j->port : NULL, 5);
    return NULL;
}

/* Connect to l at `host` (from another thread) and accept it; returns the
 * peer family seen by accept, checks bytes flow both ways. */
static inline int t_connect_accept(corio_listener *l, const char *host) {
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


#endif /* CORIO_T_NET_H */
