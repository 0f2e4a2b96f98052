/* Tests for corio/io.h: the multishot acceptor (many connections, re-armed
 * after an error, on a plain thread, bad input), and load: a
 * 1000-connection echo through it, and a 4-entry ring under hundreds of
 * operations. The single operations are in test_io.c; the helpers they
 * share in t_io.h. Loop tests run twice where it matters: _i = 0 on the
 * ring, _i = 1 through the fallback path (ring poll + system call) that
 * kernels lacking an opcode take. Only 127.0.0.1 is ever used. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "corio.h"
#include "io_internal.h"
#include "t_helpers.h"
#include "t_io.h"

/* ---- acceptor --------------------------------------------------------------- */

typedef struct t_acc {
    int lfd;
    uint16_t port;
    int n;        /* connections to accept */
    int accepted; /* how many were */
} t_acc;

static int t_acc_body(void *arg, corio_value *out) {
    (void)out;
    t_acc *t = arg;
    corio_acceptor *acc;
    ck_assert_int_eq(corio_acceptor_create(t->lfd, 0, &acc), 0);
    /* Clients connect before anyone waits: they are queued by the
     * multishot (or stay in the backlog). */
    int *cl = calloc((size_t)t->n, sizeof *cl);
    struct sockaddr_in a = t_addr(t->port);
    for (int i = 0; i < t->n; i++) {
        cl[i] = corio_socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(corio_connect(cl[i], (struct sockaddr *)&a, sizeof a, 5), 0);
        if (i == 0)
            ck_assert_int_eq(corio_yield(), 0);
    }
    for (int i = 0; i < t->n; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        int fd = corio_acceptor_next(acc, (struct sockaddr *)&peer, &plen, 5);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(plen, sizeof peer);
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        ck_assert_int_eq(corio_send(fd, &i, sizeof i, 0, 5), sizeof i);
        corio_close(fd);
        t->accepted++;
    }
    /* Every client got exactly one distinct connection. */
    unsigned char *seen = calloc((size_t)t->n, 1);
    for (int i = 0; i < t->n; i++) {
        int v = -1;
        ck_assert_int_eq(corio_recv(cl[i], &v, sizeof v, MSG_WAITALL, 5), sizeof v);
        ck_assert(v >= 0 && v < t->n && !seen[v]);
        seen[v] = 1;
        corio_close(cl[i]);
    }
    ck_assert_int_eq(corio_acceptor_next(acc, NULL, NULL, 0.05), -ETIMEDOUT);
    corio_acceptor_destroy(acc); /* armed: waits for the kernel to let go */
    free(seen);
    free(cl);
    return 0;
}

START_TEST(test_acceptor_many) {
    t_mode(_i);
    t_acc t = {.n = 300};
    t.lfd = t_listener(512, &t.port);
    ck_assert_int_eq(t_run(t_acc_body, &t), 0);
    ck_assert_int_eq(t.accepted, t.n);
    close(t.lfd);
}
END_TEST

/* An accept error (EMFILE) ends the kernel's multishot: it is reported
 * once, then the acceptor re-arms and the waiting connection comes through. */
static int t_emfile_body(void *arg, corio_value *out) {
    (void)out;
    t_acc *t = arg;
    corio_acceptor *acc;
    ck_assert_int_eq(corio_acceptor_create(t->lfd, 0, &acc), 0);
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int cl = corio_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = t_addr(t->port);
    ck_assert_int_eq(corio_connect(cl, (struct sockaddr *)&a, sizeof a, 5), 0);
    /* Lower the limit to the next free descriptor: the accept cannot get one. */
    int probe = dup(0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = corio_acceptor_next(acc, NULL, NULL, 5);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(r, -EMFILE);
    int fd = corio_acceptor_next(acc, NULL, NULL, 5);
    ck_assert_int_ge(fd, 0);
    corio_close(fd);
    corio_close(cl);
    corio_acceptor_destroy(acc);
    t->accepted = 1;
    return 0;
}

START_TEST(test_acceptor_rearms_after_error) {
    t_acc t = {0};
    t.lfd = t_listener(16, &t.port);
    ck_assert_int_eq(t_run(t_emfile_body, &t), 0);
    ck_assert_int_eq(t.accepted, 1);
    close(t.lfd);
}
END_TEST

START_TEST(test_acceptor_thread_and_bad_input) {
    corio_acceptor *acc = (corio_acceptor *)1;
    ck_assert_int_eq(corio_acceptor_create(-1, 0, &acc), -EBADF);
    ck_assert_ptr_null(acc);
    ck_assert_int_eq(corio_acceptor_create(3, 0, NULL), -EINVAL);
    ck_assert_int_eq(corio_acceptor_create(3, 12345, &acc), -EINVAL);
    ck_assert_int_eq(corio_acceptor_next(NULL, NULL, NULL, 0), -EINVAL);
    corio_acceptor_destroy(NULL);
    /* On a thread: plain accepts. */
    uint16_t port;
    int l = t_listener(4, &port);
    ck_assert_int_eq(corio_acceptor_create(l, SOCK_NONBLOCK, &acc), 0);
    ck_assert_int_eq(corio_acceptor_next(acc, NULL, NULL, 0.01), -ETIMEDOUT);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = t_addr(port);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int fd = corio_acceptor_next(acc, NULL, NULL, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    close(c);
    corio_acceptor_destroy(acc);
    close(l);
}
END_TEST

/* ---- echo with 1000 concurrent connections ----------------------------------- */

#define T_ECHO_BYTES 8192

typedef struct t_echo {
    int lfd;
    uint16_t port;
    int nconn;
    atomic_int served;   /* server coroutines that echoed everything */
    atomic_int verified; /* client coroutines that checked every byte */
} t_echo;

typedef struct t_conn {
    t_echo *e;
    int fd;  /* server side: the accepted socket */
    int idx; /* client side: its number (seeds its byte pattern) */
} t_conn;

static int t_echo_serve(void *arg, corio_value *out) {
    (void)out;
    t_conn *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = corio_recv(c->fd, buf, sizeof buf, 0, 60);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = corio_send(c->fd, buf + off, (size_t)(n - off), 0, 60);
            ck_assert_int_gt(w, 0);
            off += w;
        }
    }
    corio_close(c->fd);
    atomic_fetch_add(&c->e->served, 1);
    free(c);
    return 0;
}

static int t_echo_acceptor(void *arg, corio_value *out) {
    (void)out;
    t_echo *e = arg;
    corio_acceptor *acc;
    ck_assert_int_eq(corio_acceptor_create(e->lfd, 0, &acc), 0);
    corio_future **fs = calloc((size_t)e->nconn, sizeof *fs);
    for (int i = 0; i < e->nconn; i++) {
        int fd = corio_acceptor_next(acc, NULL, NULL, 60);
        ck_assert_int_ge(fd, 0);
        t_conn *c = malloc(sizeof *c);
        c->e = e;
        c->fd = fd;
        fs[i] = corio_spawn(t_echo_serve, c, NULL);
        ck_assert_ptr_nonnull(fs[i]);
    }
    corio_acceptor_destroy(acc);
    for (int i = 0; i < e->nconn; i++) {
        ck_assert_int_eq(corio_future_result(fs[i], 60, NULL), 0);
        corio_future_unref(fs[i]);
    }
    free(fs);
    return 0;
}

static unsigned char t_pattern(int idx, size_t i) {
    return (unsigned char)((size_t)idx * 131u + i * 7u + (i >> 8));
}

static int t_echo_client(void *arg, corio_value *out) {
    (void)out;
    t_conn *c = arg;
    int fd = corio_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = t_addr(c->e->port);
    ck_assert_int_eq(corio_connect(fd, (struct sockaddr *)&a, sizeof a, 60), 0);
    unsigned char *tx = malloc(T_ECHO_BYTES), *rx = malloc(T_ECHO_BYTES);
    for (size_t i = 0; i < T_ECHO_BYTES; i++)
        tx[i] = t_pattern(c->idx, i);
    /* Send in uneven pieces, reading back as we go so neither side's
     * buffers fill up. */
    size_t sent = 0, got = 0;
    while (got < T_ECHO_BYTES) {
        if (sent < T_ECHO_BYTES) {
            size_t chunk = 1 + (size_t)(c->idx + (int)sent) % 1500;
            if (chunk > T_ECHO_BYTES - sent)
                chunk = T_ECHO_BYTES - sent;
            ssize_t w = corio_send(fd, tx + sent, chunk, 0, 60);
            ck_assert_int_gt(w, 0);
            sent += (size_t)w;
        }
        ssize_t r = corio_recv(fd, rx + got, T_ECHO_BYTES - got, 0, 60);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_int_eq(memcmp(tx, rx, T_ECHO_BYTES), 0);
    ck_assert_int_eq(corio_close(fd), 0);
    free(tx);
    free(rx);
    atomic_fetch_add(&c->e->verified, 1);
    free(c);
    return 0;
}

static void t_raise_nofile(void) {
    struct rlimit r;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &r), 0);
    r.rlim_cur = r.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &r), 0);
    if (r.rlim_cur < 2200)
        ck_abort_msg("RLIMIT_NOFILE hard limit %llu is too low for 1000 connections",
                     (unsigned long long)r.rlim_cur);
}

START_TEST(test_echo_1000_connections) {
    t_mode(_i);
    t_raise_nofile();
    t_echo e = {.nconn = 1000};
    e.lfd = t_listener(4096, &e.port);
    corio_runtime *rt = t_rt(2, 0);
    /* Server on loop 0, clients spread over both loops. */
    corio_future *srv = corio_spawn_on(rt, 0, t_echo_acceptor, &e, NULL, NULL);
    corio_future **cf = calloc((size_t)e.nconn, sizeof *cf);
    for (int i = 0; i < e.nconn; i++) {
        t_conn *c = malloc(sizeof *c);
        c->e = &e;
        c->idx = i;
        cf[i] = corio_spawn_on(rt, i % 2, t_echo_client, c, NULL, NULL);
        ck_assert_ptr_nonnull(cf[i]);
    }
    for (int i = 0; i < e.nconn; i++) {
        ck_assert_int_eq(corio_future_result(cf[i], 120, NULL), 0);
        corio_future_unref(cf[i]);
    }
    ck_assert_int_eq(corio_future_result(srv, 120, NULL), 0);
    corio_future_unref(srv);
    corio_runtime_destroy(rt);
    ck_assert_int_eq(atomic_load(&e.verified), e.nconn);
    ck_assert_int_eq(atomic_load(&e.served), e.nconn);
    free(cf);
    close(e.lfd);
}
END_TEST

/* ---- SQ full: a 4-entry ring and hundreds of concurrent ops ------------------- */

typedef struct t_sq {
    int p[2];      /* a pipe per reader */
    int silent;    /* read end of a pipe nobody writes to */
    int timeouts;  /* this reader also waits on a silent pipe with a timeout */
    int ok;
} t_sq;

static int t_sq_reader(void *arg, corio_value *out) {
    (void)out;
    t_sq *s = arg;
    char c = 0;
    if (s->timeouts) {
        /* A timed op queued behind hundreds of others: its linked timeout
         * must stay linked even when the op takes the SQ's last slot. */
        ck_assert_int_eq(corio_poll(s->p[1], POLLOUT, CORIO_FOREVER) & POLLOUT, POLLOUT);
        ck_assert_int_eq(corio_poll(s->silent, POLLIN, 0.05), -ETIMEDOUT);
    }
    /* Without a timeout the read takes one SQE, with one two: the mix
     * makes pairs straddle the SQ's end. */
    ck_assert_int_eq(corio_read(s->p[0], &c, 1, -1, s->timeouts ? CORIO_FOREVER : 30), 1);
    ck_assert_int_eq(c, 'k');
    s->ok = 1;
    return 0;
}

static int t_sq_writer(void *arg, corio_value *out) {
    (void)out;
    t_sq *s = arg;
    ck_assert_int_eq(corio_write(s->p[1], "k", 1, -1, 30), 1);
    return 0;
}

START_TEST(test_sq_full_tiny_ring) {
    t_mode(_i);
    enum { N = 400 };
    t_sq *s = calloc(N, sizeof *s);
    int silent[2];
    ck_assert_int_eq(pipe2(silent, O_CLOEXEC), 0);
    corio_runtime *rt = t_rt(1, 4);
    corio_future *f[2 * N];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pipe2(s[i].p, O_CLOEXEC), 0);
        s[i].timeouts = i % 2;
        s[i].silent = silent[0];
        f[2 * i] = corio_spawn_on(rt, 0, t_sq_reader, &s[i], NULL, NULL);
        f[2 * i + 1] = corio_spawn_on(rt, 0, t_sq_writer, &s[i], NULL, NULL);
    }
    for (int i = 0; i < 2 * N; i++) {
        ck_assert_int_eq(corio_future_result(f[i], 30, NULL), 0);
        corio_future_unref(f[i]);
    }
    corio_runtime_destroy(rt);
    for (int i = 0; i < N; i++) {
        ck_assert(s[i].ok);
        close(s[i].p[0]);
        close(s[i].p[1]);
    }
    close(silent[0]);
    close(silent[1]);
    free(s);
}
END_TEST

static Suite *io_acceptor_suite(void) {
    Suite *s = suite_create("io_acceptor");
    TCase *tc = tcase_create("acceptor");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_acceptor_many, 0, 2);
    tcase_add_test(tc, test_acceptor_rearms_after_error);
    tcase_add_test(tc, test_acceptor_thread_and_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_echo_1000_connections, 0, 2);
    tcase_add_loop_test(tc, test_sq_full_tiny_ring, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(io_acceptor_suite()); }
