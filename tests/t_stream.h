/* Shared helpers of the stream suites (test_stream.c, test_stream_fd.c):
 * the three receive modes, streams over loopback TCP pairs, plain-syscall
 * peers, a byte pattern and its checker. Only 127.0.0.1 is ever used. */
#ifndef CORIO_T_STREAM_H
#define CORIO_T_STREAM_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"
#include "io_internal.h"
#include "t_helpers.h"

enum { M_PLAIN = 0, M_MULTISHOT = 1, M_FALLBACK = 2, M_COUNT = 3 };
static const char *const t_mode_names[] = {"plain", "multishot", "fallback"};

/* ---- helpers --------------------------------------------------------------- */

/* Select the path for mode m (before any I/O of the forked test). */
static inline void t_mode(int m) { corio__io_force_fallback = m == M_FALLBACK; }

static inline int t_recv_mode(int m) {
    return m == M_MULTISHOT ? CORIO_STREAM_RECV_MULTISHOT : CORIO_STREAM_RECV_PLAIN;
}

/* A stream over fd with the mode's receive path and the given sizes (0:
 * defaults); fails the test if it cannot be made. */
static inline corio_stream *t_stream(int fd, int m, size_t rbuf, size_t rmax, size_t wbuf) {
    corio_stream_options o = {.read_buffer = rbuf, .max_read_buffer = rmax,
                              .write_buffer = wbuf, .recv_mode = t_recv_mode(m)};
    corio_stream *s = NULL;
    int r = corio_stream_create(fd, &o, &s);
    ck_assert_msg(r == 0, "corio_stream_create: %s", corio_strerror(r));
    return s;
}

static inline corio_runtime *t_rt(void) {
    corio_runtime_options o = {.loops = 1, .stack_size = 64 * 1024, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Run fn as a coroutine on a fresh one-loop runtime; returns its outcome. */
static inline int t_run(corio_fn fn, void *arg) {
    corio_runtime_options o = {.loops = 1, .stack_size = 64 * 1024, .no_pin = true};
    return corio_run_with(&o, fn, arg, NULL);
}

/* A connected TCP pair over loopback, made with plain system calls. */
static inline void t_tcp_pair(int fds[2]) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(fds[1], 0);
    close(l);
}

/* Write all of buf to fd with plain system calls. */
static inline void t_put(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, p, len);
        ck_assert_int_gt(w, 0);
        p += w;
        len -= (size_t)w;
    }
}

static inline void t_puts(int fd, const char *s) { t_put(fd, s, strlen(s)); }

/* Read exactly len bytes from fd with plain system calls (5 s bound). */
static inline void t_get(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ck_assert_int_eq(poll(&pf, 1, 5000), 1);
        ssize_t r = read(fd, p, len);
        ck_assert_int_gt(r, 0);
        p += r;
        len -= (size_t)r;
    }
}

static inline corio_stream_counters t_stats(corio_stream *s) {
    corio_stream_counters c;
    ck_assert_int_eq(corio_stream_stats(s, &c), 0);
    return c;
}

/* Byte i of a test pattern. */
static inline unsigned char t_pat(size_t i) { return (unsigned char)(i * 31 + (i >> 8) + 7); }

/* The index of the first byte of b[0..n) that is not t_pat(from + i),
 * SIZE_MAX if none. (One assertion per buffer: each ck_assert is a
 * message to Check's parent process.) */
static inline size_t t_mismatch(const unsigned char *b, size_t n, size_t from) {
    for (size_t i = 0; i < n; i++)
        if (b[i] != t_pat(from + i))
            return i;
    return SIZE_MAX;
}

/* One test's state, shared by its coroutines. */
typedef struct t_ctx {
    int mode;       /* M_* */
    int fds[2];     /* [0] the stream's side, [1] the peer's */
    corio_stream *s;
    sem_t gate;     /* ordering between the test thread and a coroutine */
    ssize_t res;    /* a coroutine's last result */
} t_ctx;

/* A peer thread's job: `len` bytes of t_pat to read from (sink) or write
 * to (source) fd; ok says the sink saw them all intact. */
typedef struct t_sink {
    int fd;     /* the peer's end */
    size_t len; /* bytes to move */
    int ok;     /* 1: all read and matching */
} t_sink;

#endif
