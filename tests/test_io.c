/* Tests for corio/io.h: every operation on loopback sockets, pipes and
 * files, in coroutines and on plain threads; timeouts and cancellation of
 * every blocking operation; bad input. The multishot acceptor and the load
 * runs are in test_io_acceptor.c; the helpers they share in t_io.h. Loop
 * tests run twice where it matters: _i = 0 on the ring, _i = 1 through the
 * fallback path (ring poll + system call) that kernels lacking an opcode
 * take. Only 127.0.0.1 is ever used. */
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

/* ---- helpers --------------------------------------------------------------- */

/* A connected TCP pair over loopback, with plain blocking syscalls. */
static void t_tcp_pair(int fds[2]) {
    uint16_t port;
    int l = t_listener(4, &port);
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = t_addr(port);
    ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(fds[1], 0);
    close(l);
}

static void t_set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    ck_assert_int_ge(fl, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
}

/* Fill a pipe until a write would block; leaves the descriptor's mode as it was. */
static void t_fill_pipe(int wfd) {
    int fl = fcntl(wfd, F_GETFL);
    t_set_nonblock(wfd, 1);
    char buf[4096] = {0};
    while (write(wfd, buf, sizeof buf) > 0) {
    }
    ck_assert_int_eq(errno, EAGAIN);
    while (write(wfd, buf, 1) > 0) {
    }
    fcntl(wfd, F_SETFL, fl);
}

/* Fill a TCP connection (the peer does not read) until send would block for good. */
static void t_fill_socket(int fd) {
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static char buf[65536];
    for (;;) {
        while (send(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
        }
        ck_assert_int_eq(errno, EAGAIN);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 200) == 0)
            return; /* stayed full for 200 ms: the peer's window is closed */
    }
}

/* A temporary file, unlinked at once; its path is kept in `path`. */
static int t_tmpfile(char path[64]) {
    strcpy(path, "/tmp/corio-io-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* ---- every op works ------------------------------------------------------- */

typedef struct t_echo1 {
    int lfd;       /* listener */
    uint16_t port; /* its port */
    int done;      /* client finished */
} t_echo1;

static int t_echo1_client(void *arg, corio_value *out) {
    (void)out;
    t_echo1 *e = arg;
    int fd = corio_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = t_addr(e->port);
    ck_assert_int_eq(corio_connect(fd, (struct sockaddr *)&a, sizeof a, 5), 0);
    ck_assert_int_eq(corio_send(fd, "hello", 5, 0, 5), 5);
    char buf[16] = {0};
    ssize_t got = 0;
    while (got < 5) {
        ssize_t r = corio_recv(fd, buf + got, sizeof buf - (size_t)got, 0, 5);
        ck_assert_int_gt(r, 0);
        got += r;
    }
    ck_assert_mem_eq(buf, "HELLO", 5);
    ck_assert_int_eq(corio_recv(fd, buf, sizeof buf, 0, 5), 0); /* server closed */
    ck_assert_int_eq(corio_close(fd), 0);
    e->done = 1;
    return 0;
}

static int t_echo1_server(void *arg, corio_value *out) {
    (void)out;
    t_echo1 *e = arg;
    int err;
    corio_future *cf = corio_spawn(t_echo1_client, e, &err);
    ck_assert_ptr_nonnull(cf);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int c = corio_accept(e->lfd, (struct sockaddr *)&peer, &plen, 0, 5);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(plen, sizeof peer);
    ck_assert_int_eq(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
    char buf[16];
    ssize_t got = 0;
    while (got < 5) {
        ssize_t r = corio_recv(c, buf + got, sizeof buf - (size_t)got, 0, 5);
        ck_assert_int_gt(r, 0);
        got += r;
    }
    for (int i = 0; i < 5; i++)
        buf[i] = (char)(buf[i] - 'a' + 'A');
    struct iovec iov[2] = {{buf, 2}, {buf + 2, 3}};
    ck_assert_int_eq(corio_writev(c, iov, 2, -1, 5), 5);
    ck_assert_int_eq(corio_close(c), 0);
    ck_assert_int_eq(corio_future_result(cf, 10, NULL), 0);
    corio_future_unref(cf);
    return 0;
}

START_TEST(test_tcp_ops) {
    t_mode(_i);
    t_echo1 e = {0};
    e.lfd = t_listener(16, &e.port);
    ck_assert_int_eq(t_run(t_echo1_server, &e), 0);
    ck_assert_int_eq(e.done, 1);
    close(e.lfd);
}
END_TEST

static int t_file_body(void *arg, corio_value *out) {
    (void)out;
    const char *path = arg;
    int fd = corio_openat(AT_FDCWD, path, O_RDWR | O_TRUNC, 0600, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(corio_write(fd, "abcdef", 6, 0, 5), 6);
    ck_assert_int_eq(corio_write(fd, "XY", 2, 2, 5), 2);
    char buf[16] = {0};
    ck_assert_int_eq(corio_read(fd, buf, sizeof buf, 0, 5), 6);
    ck_assert_str_eq(buf, "abXYef");
    /* -1: the file position (still 0: positional calls do not move it). */
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 0);
    ck_assert_int_eq(corio_write(fd, "12", 2, -1, 5), 2);
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 2);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(corio_read(fd, buf, 3, -1, 5), 3);
    ck_assert_str_eq(buf, "XYe");
    char a[3] = {0}, b[4] = {0};
    struct iovec iov[2] = {{a, 2}, {b, 3}};
    ck_assert_int_eq(corio_readv(fd, iov, 2, 1, 5), 5);
    ck_assert_str_eq(a, "2X");
    ck_assert_str_eq(b, "Yef");
    struct iovec wv[2] = {{"pq", 2}, {"rs", 2}};
    ck_assert_int_eq(corio_writev(fd, wv, 2, 6, 5), 4);
    ck_assert_int_eq(corio_fsync(fd, false, 5), 0);
    ck_assert_int_eq(corio_fsync(fd, true, 5), 0);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(corio_read(fd, buf, sizeof buf, 0, 5), 10);
    ck_assert_str_eq(buf, "12XYefpqrs");
    ck_assert_int_eq(corio_read(fd, buf, sizeof buf, 10, 5), 0); /* EOF */
    ck_assert_int_eq(corio_close(fd), 0);
    ck_assert_int_eq(corio_openat(AT_FDCWD, "/nonexistent/corio", O_RDONLY, 0, 5), -ENOENT);
    return 0;
}

START_TEST(test_file_ops) {
    t_mode(_i);
    char path[64];
    close(t_tmpfile(path));
    ck_assert_int_eq(t_run(t_file_body, path), 0);
    unlink(path);
}
END_TEST

/* The same file body on a plain thread: one API for both worlds. */
START_TEST(test_file_ops_thread) {
    char path[64];
    close(t_tmpfile(path));
    ck_assert_int_eq(t_file_body(path, NULL), 0);
    unlink(path);
}
END_TEST

static int t_pipe_body(void *arg, corio_value *out) {
    (void)out;
    int *p = arg; /* p[0] read end, p[1] write end */
    ck_assert_int_eq(corio_poll(p[1], POLLOUT, 5) & POLLOUT, POLLOUT);
    ck_assert_int_eq(corio_poll(p[0], POLLIN, 0), -ETIMEDOUT);
    ck_assert_int_eq(corio_write(p[1], "ping", 4, -1, 5), 4);
    ck_assert_int_eq(corio_poll(p[0], POLLIN, 5) & POLLIN, POLLIN);
    char buf[8] = {0};
    ck_assert_int_eq(corio_read(p[0], buf, sizeof buf, -1, 5), 4);
    ck_assert_str_eq(buf, "ping");
    char x[2], y[3];
    struct iovec wv[2] = {{"ab", 2}, {"cde", 3}};
    ck_assert_int_eq(corio_writev(p[1], wv, 2, -1, 5), 5);
    struct iovec rv[2] = {{x, 2}, {y, 3}};
    ck_assert_int_eq(corio_readv(p[0], rv, 2, -1, 5), 5);
    ck_assert_mem_eq(x, "ab", 2);
    ck_assert_mem_eq(y, "cde", 3);
    return 0;
}

/* _i: 0 ring, 1 fallback; blocking then non-blocking pipes (an O_NONBLOCK
 * pipe makes the ring return -EAGAIN, which must never surface). */
START_TEST(test_pipe_ops) {
    t_mode(_i);
    for (int nb = 0; nb < 2; nb++) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC | (nb ? O_NONBLOCK : 0)), 0);
        ck_assert_int_eq(t_run(t_pipe_body, p), 0);
        ck_assert_int_eq(t_pipe_body(p, NULL), 0); /* and on a plain thread */
        close(p[0]);
        close(p[1]);
    }
}
END_TEST

/* A non-blocking socket: recv waits for data instead of returning -EAGAIN. */
typedef struct t_nb {
    int fds[2];
    sem_t ready;
} t_nb;

static int t_nb_reader(void *arg, corio_value *out) {
    (void)out;
    t_nb *n = arg;
    sem_post(&n->ready);
    char c = 0;
    ck_assert_int_eq(corio_recv(n->fds[1], &c, 1, 0, 10), 1);
    ck_assert_int_eq(c, 'z');
    return 0;
}

START_TEST(test_nonblocking_socket_waits) {
    t_mode(_i);
    t_nb n;
    t_tcp_pair(n.fds);
    t_set_nonblock(n.fds[1], 1);
    t_gate_init(&n.ready);
    corio_runtime *rt = t_rt(1, 0);
    corio_future *f = corio_spawn_on(rt, 0, t_nb_reader, &n, NULL, NULL);
    ck_assert(t_gate_pass_within(&n.ready, 10));
    ck_assert_int_eq(send(n.fds[0], "z", 1, 0), 1);
    ck_assert_int_eq(corio_future_result(f, 10, NULL), 0);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    close(n.fds[0]);
    close(n.fds[1]);
    sem_destroy(&n.ready);
}
END_TEST

/* A receive right after the coroutine's own send (which the ring path arms
 * with poll first): the answer may already be there, arrive later, never
 * arrive (timeout), or be asked for with MSG_DONTWAIT, on a blocking or a
 * non-blocking socket. Each must behave as any receive. */
typedef struct t_ras {
    int fds[2]; /* [0] the coroutine's, [1] the peer's */
} t_ras;

static int t_ras_body(void *arg, corio_value *out) {
    (void)out;
    t_ras *t = arg;
    int fd = t->fds[0];
    char b[8];
    for (int nb = 0; nb < 2; nb++) {
        t_set_nonblock(fd, nb);
        /* Already there: the peer wrote before our send. */
        ck_assert_int_eq(send(t->fds[1], "abc", 3, 0), 3);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        ck_assert_int_eq(corio_send(fd, "x", 1, 0, 10), 1);
        ck_assert_int_eq(corio_recv(fd, b, sizeof b, 0, 10), 3);
        ck_assert_int_eq(memcmp(b, "abc", 3), 0);
        /* Already there, asked for with MSG_DONTWAIT. */
        ck_assert_int_eq(send(t->fds[1], "de", 2, 0), 2);
        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        ck_assert_int_eq(corio_send(fd, "y", 1, 0, 10), 1);
        ck_assert_int_eq(corio_recv(fd, b, sizeof b, MSG_DONTWAIT, 10), 2);
        ck_assert_int_eq(memcmp(b, "de", 2), 0);
        /* Never comes: the timeout ends it, and the socket still works. */
        ck_assert_int_eq(corio_send(fd, "z", 1, 0, 10), 1);
        double t0 = t_now();
        ck_assert_int_eq(corio_recv(fd, b, sizeof b, 0, 0.05), -ETIMEDOUT);
        ck_assert(t_now() - t0 >= 0.04);
        /* Comes after we asked: the peer answers once it read our "q". */
        ck_assert_int_eq(corio_send(fd, "q", 1, 0, 10), 1);
        ck_assert_int_eq(corio_recv(fd, b, sizeof b, 0, 10), 1);
        ck_assert_int_eq(b[0], 'r');
    }
    return 0;
}

static void *t_ras_peer(void *arg) {
    t_ras *t = arg;
    /* Read what the body sends; answer each "q" with "r". */
    for (int answered = 0; answered < 2;) {
        char c;
        if (recv(t->fds[1], &c, 1, 0) != 1)
            break;
        if (c == 'q') {
            send(t->fds[1], "r", 1, 0);
            answered++;
        }
    }
    return NULL;
}

START_TEST(test_recv_after_send) {
    t_mode(_i);
    t_ras t;
    t_tcp_pair(t.fds);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, t_ras_peer, &t), 0);
    ck_assert_int_eq(t_run(t_ras_body, &t), 0);
    pthread_join(th, NULL);
    close(t.fds[0]);
    close(t.fds[1]);
}
END_TEST

/* ---- timeouts and cancellation of every blocking op ------------------------ */

enum {
    OP_RECV,
    OP_SEND,
    OP_READ,
    OP_WRITE,
    OP_READV,
    OP_WRITEV,
    OP_ACCEPT,
    OP_CONNECT,
    OP_POLL,
    OP_ACCEPTOR,
    OP_COUNT
};
static const char *const t_op_names[OP_COUNT] = {"recv",  "send",    "read", "write",
                                                  "readv", "writev",  "accept", "connect",
                                                  "poll",  "acceptor"};

/* A descriptor set-up on which op `kind` blocks until something happens. */
typedef struct t_block {
    int kind;
    int fds[4];     /* whatever the op needs; -1 when unused */
    uint16_t port;  /* listener port (connect) */
    double timeout; /* what the op is called with */
    sem_t ready;    /* posted just before the op */
    ssize_t res;    /* what the op returned */
    double took;    /* how long it took */
} t_block;

static void t_block_setup(t_block *b, int kind) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    for (int i = 0; i < 4; i++)
        b->fds[i] = -1;
    t_gate_init(&b->ready);
    switch (kind) {
    case OP_RECV:
        t_tcp_pair(b->fds);
        break;
    case OP_SEND: {
        t_tcp_pair(b->fds);
        /* A fixed receive buffer stops the kernel from growing the peer's
         * window later (autotuning), which would let the send complete. */
        int small = 4096;
        setsockopt(b->fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        t_fill_socket(b->fds[0]);
        break;
    }
    case OP_READ:
    case OP_READV:
    case OP_POLL:
        ck_assert_int_eq(pipe2(b->fds, O_CLOEXEC), 0);
        break;
    case OP_WRITE:
    case OP_WRITEV:
        ck_assert_int_eq(pipe2(b->fds, O_CLOEXEC), 0);
        t_fill_pipe(b->fds[1]);
        break;
    case OP_ACCEPT:
        b->fds[0] = t_listener(4, &b->port);
        break;
    case OP_ACCEPTOR:
        b->fds[0] = t_listener(4, &b->port);
        break;
    case OP_CONNECT: {
        /* Backlog 0 holds one completed connection; with it queued and
         * never accepted, the kernel drops further SYNs: the next connect
         * stays in SYN_SENT. */
        b->fds[0] = t_listener(0, &b->port);
        b->fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = t_addr(b->port);
        ck_assert_int_eq(connect(b->fds[1], (struct sockaddr *)&a, sizeof a), 0);
        b->fds[2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r = connect(b->fds[2], (struct sockaddr *)&a, sizeof a);
        ck_assert(r == 0 || errno == EINPROGRESS);
        b->fds[3] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        break;
    }
    }
}

static void t_block_teardown(t_block *b) {
    for (int i = 0; i < 4; i++)
        if (b->fds[i] >= 0)
            close(b->fds[i]);
    sem_destroy(&b->ready);
}

/* Run the op; it must block. */
static ssize_t t_block_op(t_block *b) {
    static char buf[65536];
    struct iovec iov[2] = {{buf, 1}, {buf + 1, 1}};
    double t = b->timeout;
    switch (b->kind) {
    case OP_RECV:
        return corio_recv(b->fds[1], buf, sizeof buf, 0, t);
    case OP_SEND:
        return corio_send(b->fds[0], buf, sizeof buf, 0, t);
    case OP_READ:
        return corio_read(b->fds[0], buf, sizeof buf, -1, t);
    case OP_WRITE:
        return corio_write(b->fds[1], buf, 1, -1, t);
    case OP_READV:
        return corio_readv(b->fds[0], iov, 2, -1, t);
    case OP_WRITEV:
        return corio_writev(b->fds[1], iov, 2, -1, t);
    case OP_ACCEPT:
        return corio_accept(b->fds[0], NULL, NULL, 0, t);
    case OP_ACCEPTOR: {
        /* One acceptor per call: it belongs to the loop that used it. */
        corio_acceptor *acc;
        ck_assert_int_eq(corio_acceptor_create(b->fds[0], 0, &acc), 0);
        ssize_t r = corio_acceptor_next(acc, NULL, NULL, t);
        corio_acceptor_destroy(acc);
        return r;
    }
    case OP_CONNECT: {
        struct sockaddr_in a = t_addr(b->port);
        return corio_connect(b->fds[3], (struct sockaddr *)&a, sizeof a, t);
    }
    case OP_POLL:
        return corio_poll(b->fds[0], POLLIN, t);
    }
    return -EINVAL;
}

static int t_block_body(void *arg, corio_value *out) {
    (void)out;
    t_block *b = arg;
    sem_post(&b->ready);
    double t0 = t_now();
    b->res = t_block_op(b);
    b->took = t_now() - t0;
    return b->res < 0 ? (int)b->res : 0;
}

/* _i = op * 2 + fallback. */
START_TEST(test_timeout_each_op) {
    int kind = _i / 2;
    t_mode(_i % 2);
    t_block b;
    t_block_setup(&b, kind);
    b.timeout = 0.1;
    int r = t_run(t_block_body, &b);
    ck_assert_msg(b.res == -ETIMEDOUT, "%s (fallback %d): %zd", t_op_names[kind], _i % 2, b.res);
    ck_assert_int_eq(r, -ETIMEDOUT);
    ck_assert_msg(b.took >= 0.09 && b.took < 5, "%s took %.3f s", t_op_names[kind], b.took);
    /* Zero timeout: only what can complete at once. A sending op may find
     * room after all (TCP grows its buffers while the first attempt was
     * blocked), so for those a success is as right as a timeout. */
    b.timeout = 0;
    r = t_run(t_block_body, &b);
    if (kind == OP_SEND || kind == OP_WRITE || kind == OP_WRITEV)
        ck_assert_msg(r == -ETIMEDOUT || r == 0, "%s: %d", t_op_names[kind], r);
    else
        ck_assert_int_eq(r, -ETIMEDOUT);
    t_block_teardown(&b);
}
END_TEST

/* The same on a plain thread (poll(2) bounds the wait; the acceptor there
 * is a plain accept). */
START_TEST(test_timeout_each_op_thread) {
    int kind = _i;
    t_block b;
    t_block_setup(&b, kind);
    b.timeout = 0.1;
    t_block_body(&b, NULL);
    ck_assert_msg(b.res == -ETIMEDOUT, "%s: %zd", t_op_names[kind], b.res);
    ck_assert_msg(b.took >= 0.09 && b.took < 5, "%s took %.3f s", t_op_names[kind], b.took);
    t_block_teardown(&b);
}
END_TEST

/* Cancel the coroutine's future while its op is in flight: the op returns
 * -ECANCELED and the future ends cancelled. _i = op * 2 + fallback. */
START_TEST(test_cancel_each_op) {
    int kind = _i / 2;
    t_mode(_i % 2);
    t_block b;
    t_block_setup(&b, kind);
    b.timeout = CORIO_FOREVER;
    b.res = 1;
    corio_runtime *rt = t_rt(1, 0);
    corio_future *f = corio_spawn_on(rt, 0, t_block_body, &b, NULL, NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert(t_gate_pass_within(&b.ready, 10));
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 10, NULL), -ECANCELED);
    ck_assert_msg(b.res == -ECANCELED, "%s (fallback %d): %zd", t_op_names[kind], _i % 2, b.res);
    ck_assert(corio_future_cancelled(f));
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    t_block_teardown(&b);
}
END_TEST

/* Runtime shutdown cancels blocked I/O too. */
START_TEST(test_destroy_cancels_blocked_io) {
    t_block b;
    t_block_setup(&b, OP_RECV);
    b.timeout = CORIO_FOREVER;
    corio_runtime *rt = t_rt(1, 0);
    corio_future *f = corio_spawn_on(rt, 0, t_block_body, &b, NULL, NULL);
    ck_assert(t_gate_pass_within(&b.ready, 10));
    corio_runtime_destroy(rt);
    ck_assert_int_eq(b.res, -ECANCELED);
    ck_assert(corio_future_cancelled(f));
    corio_future_unref(f);
    t_block_teardown(&b);
}
END_TEST

/* A cancel requested before the call: the call does not start. */
static int t_precancel_body(void *arg, corio_value *out) {
    (void)out;
    int *p = arg;
    corio_future *self_cancel = NULL;
    (void)self_cancel;
    /* Wait until the test cancelled us (the gate is the pipe itself). */
    char c;
    ck_assert_int_eq(corio_read(p[0], &c, 1, -1, CORIO_FOREVER), -ECANCELED);
    ck_assert_int_eq(corio_recv(p[0], &c, 1, 0, 5), -ECANCELED);
    ck_assert_int_eq(corio_write(p[1], "x", 1, -1, 5), -ECANCELED);
    ck_assert_int_eq(corio_poll(p[1], POLLOUT, 5), -ECANCELED);
    ck_assert_int_eq(corio_fsync(p[1], false, 5), -ECANCELED);
    ck_assert_int_eq(corio_openat(AT_FDCWD, "/", O_RDONLY, 0, 5), -ECANCELED);
    /* close always closes, even when cancelled. */
    int d = dup(p[1]);
    ck_assert_int_eq(corio_close(d), 0);
    ck_assert_int_eq(fcntl(d, F_GETFD), -1);
    return -ECANCELED;
}

START_TEST(test_cancelled_coroutine_ops_refuse) {
    t_mode(_i);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    corio_runtime *rt = t_rt(1, 0);
    corio_future *f = corio_spawn_on(rt, 0, t_precancel_body, p, NULL, NULL);
    /* Cancelling a not-yet-started coroutine just cancels it; wait until
     * it runs (its first read blocks, so the cancel finds it running). */
    while (!corio_future_running(f) && !corio_future_done(f))
        sched_yield();
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 10, NULL), -ECANCELED);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------ */

static int t_bad_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    char b[4];
    int unused = dup(0);
    close(unused); /* a descriptor number that is certainly not open */
    struct iovec iov = {b, 1};
    struct sockaddr_in a = t_addr(1);
    ck_assert_int_eq(corio_recv(-1, b, 1, 0, 1), -EBADF);
    ck_assert_int_eq(corio_recv(unused, b, 1, 0, 1), -EBADF);
    ck_assert_int_eq(corio_send(unused, b, 1, 0, 1), -EBADF);
    ck_assert_int_eq(corio_read(unused, b, 1, -1, 1), -EBADF);
    ck_assert_int_eq(corio_write(unused, b, 1, -1, 1), -EBADF);
    ck_assert_int_eq(corio_readv(unused, &iov, 1, -1, 1), -EBADF);
    ck_assert_int_eq(corio_writev(unused, &iov, 1, -1, 1), -EBADF);
    ck_assert_int_eq(corio_accept(unused, NULL, NULL, 0, 1), -EBADF);
    ck_assert_int_eq(corio_connect(unused, (struct sockaddr *)&a, sizeof a, 1), -EBADF);
    ck_assert_int_eq(corio_fsync(unused, false, 1), -EBADF);
    ck_assert_int_eq(corio_close(unused), -EBADF);
    ck_assert_int_eq(corio_close(-1), -EBADF);
    ck_assert_int_eq(corio_poll(-1, POLLIN, 1), -EBADF);
    ck_assert_int_eq(corio_poll(unused, POLLIN, 1), -EBADF);
    ck_assert_int_eq(corio_recv(0, NULL, 1, 0, 1), -EFAULT);
    ck_assert_int_eq(corio_send(0, NULL, 1, 0, 1), -EFAULT);
    ck_assert_int_eq(corio_read(0, NULL, 1, -1, 1), -EFAULT);
    ck_assert_int_eq(corio_write(1, NULL, 1, -1, 1), -EFAULT);
    ck_assert_int_eq(corio_readv(0, NULL, 1, -1, 1), -EFAULT);
    ck_assert_int_eq(corio_writev(1, NULL, 1, -1, 1), -EFAULT);
    ck_assert_int_eq(corio_openat(AT_FDCWD, NULL, O_RDONLY, 0, 1), -EFAULT);
    ck_assert_int_eq(corio_connect(0, NULL, 0, 1), -EFAULT);
    ck_assert_int_eq(corio_accept(0, (struct sockaddr *)&a, NULL, 0, 1), -EFAULT);
    ck_assert_int_eq(corio_read(0, b, 1, -2, 1), -EINVAL);
    ck_assert_int_eq(corio_readv(0, &iov, -1, -1, 1), -EINVAL);
    ck_assert_int_eq(corio_recv(0, b, 1, 0, NAN), -EINVAL);
    ck_assert_int_eq(corio_poll(0, POLLIN, NAN), -EINVAL);
    ck_assert_int_eq(corio_socket(12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
    /* A socket op on a pipe: what the syscall says. */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(corio_recv(p[0], b, 1, 0, 1), -ENOTSOCK);
    ck_assert_int_eq(corio_accept(p[0], NULL, NULL, 0, 1), -ENOTSOCK);
    /* A closed read end: EPIPE, never SIGPIPE for sockets; pipes on a
     * thread follow write(2), so ignore the signal for this check. */
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(corio_write(p[1], "x", 1, -1, 1), -EPIPE);
    close(p[1]);
    /* Zero-length transfers are fine with NULL buffers. */
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(corio_write(p[1], NULL, 0, -1, 1), 0);
    close(p[0]);
    close(p[1]);
    /* errno is never touched. */
    errno = 4242;
    ck_assert_int_eq(corio_close(unused), -EBADF);
    ck_assert_int_eq(errno, 4242);
    return 0;
}

START_TEST(test_bad_input) {
    t_mode(_i);
    ck_assert_int_eq(t_run(t_bad_body, NULL), 0);
    ck_assert_int_eq(t_bad_body(NULL, NULL), 0); /* and on a plain thread */
}
END_TEST

/* Kernel support is probed through a loop's ring, not assumed. */
static int t_probe_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    ck_assert_int_eq(corio__io_op_supported(IORING_OP_NOP), 1);
    ck_assert_int_eq(corio__io_op_supported(IORING_OP_READ), 1); /* 5.6+: every CI kernel */
    return 0;
}

START_TEST(test_probe) {
    ck_assert_int_eq(t_run(t_probe_body, NULL), 0);
}
END_TEST

static Suite *io_suite(void) {
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_tcp_ops, 0, 2);
    tcase_add_loop_test(tc, test_file_ops, 0, 2);
    tcase_add_test(tc, test_file_ops_thread);
    tcase_add_loop_test(tc, test_pipe_ops, 0, 2);
    tcase_add_loop_test(tc, test_nonblocking_socket_waits, 0, 2);
    tcase_add_loop_test(tc, test_recv_after_send, 0, 2);
    tcase_add_loop_test(tc, test_bad_input, 0, 2);
    tcase_add_test(tc, test_probe);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeout_cancel");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_timeout_each_op, 0, 2 * OP_COUNT);
    tcase_add_loop_test(tc, test_timeout_each_op_thread, 0, OP_COUNT);
    tcase_add_loop_test(tc, test_cancel_each_op, 0, 2 * OP_COUNT);
    tcase_add_test(tc, test_destroy_cancels_blocked_io);
    tcase_add_loop_test(tc, test_cancelled_coroutine_ops_refuse, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(io_suite()); }
