/* Tests for corio/stream.h: framed reads (delimiters split across reads,
 * lines over the limit, the two kinds of end of stream), exact reads over
 * many small segments, peek, write coalescing observed through the
 * stream's own counters, large writes, shutdown, deadlines, cancel without
 * losing a byte, a peer's reset, a pipe, the same bodies on a plain thread. Other descriptors, plain threads, the
 * multishot path's own cases and bad input are in test_stream_fd.c.
 *
 * Loop tests run in three modes: _i = 0 the plain path on the ring, 1 the
 * multishot recv path (CORIO_STREAM_RECV_MULTISHOT), 2 the io fallback
 * (ring poll + system call, as on kernels lacking the opcodes). Only
 * 127.0.0.1 is ever used. */
#include "t_stream.h"
#include "net/stream_internal.h"

/* ---- framed reads ---------------------------------------------------------- */

/* A 4-byte read buffer splits every delimiter across refills: "\r\n" and
 * "\r\n\r\n" straddle them, and the buffer grows for longer frames. */
static int t_split_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    t_puts(c->fds[1], "GET / HTTP/1.1\r\nHost: x\r\n\r\nabc\r\n\r\nrest");
    corio_stream *s = t_stream(c->fds[0], c->mode, 4, 256, 0);
    const void *v;
    ssize_t r = corio_stream_read_until(s, "\r\n", 2, 64, &v, 5);
    ck_assert_int_eq(r, 16);
    ck_assert_mem_eq(v, "GET / HTTP/1.1\r\n", 16);
    r = corio_stream_read_until(s, "\r\n\r\n", 4, 64, &v, 5);
    ck_assert_int_eq(r, 11);
    ck_assert_mem_eq(v, "Host: x\r\n\r\n", 11);
    r = corio_stream_read_until(s, "\r\n\r\n", 4, 64, &v, 5);
    ck_assert_int_eq(r, 7);
    ck_assert_mem_eq(v, "abc\r\n\r\n", 7);
    close(c->fds[1]);
    r = corio_stream_read_until(s, "\n", 1, 64, &v, 5);
    ck_assert_int_eq(r, CORIO_EUNEXPECTED_EOF);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(corio_stream_buffered(s), 4);
    char buf[8];
    ck_assert_int_eq(corio_stream_read(s, buf, sizeof buf, 5), 4);
    ck_assert_mem_eq(buf, "rest", 4);
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, 64, &v, 5), 0);
    /* It really took several refills (the multishot path: one arm, its
     * 4 KiB buffer copied out 4 bytes at a time). */
    if (c->mode != M_MULTISHOT)
        ck_assert_uint_ge(t_stats(s).reads, 5);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

START_TEST(test_delimiter_split_across_reads) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_split_body, &c), 0);
}
END_TEST

/* A line longer than max is -EMSGSIZE and stays buffered; a bigger max
 * then reads it whole. A max above the buffer limit is refused at once. */
static int t_long_line_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    char line[301];
    memset(line, 'x', 299);
    line[299] = '\n';
    line[300] = '\0';
    t_puts(c->fds[1], line);
    t_puts(c->fds[1], "short\r\n");
    corio_stream *s = t_stream(c->fds[0], c->mode, 64, 1024, 0);
    const char *l;
    size_t n;
    ck_assert_int_eq(corio_stream_read_line(s, 100, &l, &n, 5), -EMSGSIZE);
    ck_assert_ptr_null(l);
    ck_assert_uint_ge(corio_stream_buffered(s), 100);
    ck_assert_int_eq(corio_stream_read_line(s, 1025, &l, &n, 5), -EINVAL);
    ck_assert_int_eq(corio_stream_read_line(s, SIZE_MAX, &l, &n, 5), -EINVAL);
    ck_assert_int_eq(corio_stream_read_line(s, 300, &l, &n, 5), 1);
    ck_assert_uint_eq(n, 299);
    ck_assert_uint_eq(strlen(l), 299);
    ck_assert_int_eq(corio_stream_read_line(s, 300, &l, &n, 5), 1);
    ck_assert_str_eq(l, "short");
    ck_assert_uint_eq(n, 5);
    /* An empty line is a line (1), not the end (0). */
    t_puts(c->fds[1], "\r\n");
    ck_assert_int_eq(corio_stream_read_line(s, 300, &l, &n, 5), 1);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(l, "");
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_line_over_max) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_long_line_body, &c), 0);
}
END_TEST

/* The peer closes mid-frame (CORIO_EUNEXPECTED_EOF, bytes kept) versus a
 * clean end (0) for every framed read. */
static int t_eof_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    t_puts(c->fds[1], "one\ntwo\nhalf");
    close(c->fds[1]);
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    const char *l;
    size_t n;
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 5), 1);
    ck_assert_str_eq(l, "one");
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 5), 1);
    ck_assert_str_eq(l, "two");
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 5), CORIO_EUNEXPECTED_EOF);
    char buf[16];
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 10, 5), CORIO_EUNEXPECTED_EOF);
    ck_assert_uint_eq(corio_stream_buffered(s), 4);
    const void *v;
    ck_assert_int_eq(corio_stream_peek(s, 10, &v, 5), 4); /* fewer than asked: the end */
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 4, 5), 4);
    ck_assert_mem_eq(buf, "half", 4);
    /* Clean end now, for each kind of read. */
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 5), 0);
    ck_assert_int_eq(corio_stream_read_until(s, "x", 1, 64, &v, 5), 0);
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 10, 5), 0);
    ck_assert_int_eq(corio_stream_read(s, buf, sizeof buf, 5), 0);
    ck_assert_int_eq(corio_stream_peek(s, 1, &v, 5), 0);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

START_TEST(test_eof_clean_vs_mid_frame) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_eof_body, &c), 0);
}
END_TEST

/* A writer coroutine sends 4000 bytes as 400 sends of 10 bytes, yielding
 * between them so they arrive as many segments; read_exact gathers them,
 * in the buffer (n <= max) and straight into the caller's memory (n > max). */
static int t_dribble(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    unsigned char b[10];
    for (size_t i = 0; i < 4000; i += 10) {
        for (size_t k = 0; k < 10; k++)
            b[k] = t_pat(i + k);
        ck_assert_int_eq(corio_send(c->fds[1], b, 10, 0, 5), 10);
        corio_yield();
    }
    return 0;
}

static int t_exact_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_future *w = t_spawn(corio_runtime_current(), 0, t_dribble, c);
    /* 16-byte buffer growing to 2048: the first 2000 bytes fit the limit,
     * the next 2000 do not. */
    corio_stream *s = t_stream(c->fds[0], c->mode, 16, 2048, 0);
    static unsigned char got[4000];
    ck_assert_int_eq(corio_stream_read_exact(s, got, 2000, 10), 2000);
    ck_assert_int_eq(corio_stream_read_exact(s, got + 2000, 2000, 10), 2000);
    ck_assert_uint_eq(t_mismatch(got, 4000, 0), SIZE_MAX);
    ck_assert_int_eq(corio_future_result(w, 10, NULL), 0);
    corio_future_unref(w);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_read_exact_many_segments) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_exact_body, &c), 0);
}
END_TEST

/* peek never consumes; consume and read then see the same bytes. */
static int t_peek_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    t_puts(c->fds[1], "0123456789");
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    const void *v;
    ssize_t r = corio_stream_peek(s, 5, &v, 5);
    ck_assert_int_ge(r, 5);
    ck_assert_mem_eq(v, "01234", 5);
    ck_assert_int_ge(corio_stream_peek(s, 5, &v, 5), 5);
    ck_assert_mem_eq(v, "01234", 5);
    ck_assert_int_ge(corio_stream_peek(s, 0, &v, 5), 5); /* no I/O, what is there */
    ck_assert_int_eq(corio_stream_consume(s, 2), 0);
    ck_assert_int_eq(corio_stream_peek(s, 8, &v, 5), 8);
    ck_assert_mem_eq(v, "23456789", 8);
    ck_assert_int_eq(corio_stream_consume(s, 9), -EINVAL);
    char buf[8];
    ck_assert_int_eq(corio_stream_read(s, buf, 3, 5), 3);
    ck_assert_mem_eq(buf, "234", 3);
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 5, 5), 5);
    ck_assert_mem_eq(buf, "56789", 5);
    ck_assert_uint_eq(corio_stream_buffered(s), 0);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_peek_does_not_consume) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_peek_body, &c), 0);
}
END_TEST

/* ---- writes ---------------------------------------------------------------- */

/* 100 writes of 10 bytes cost no send; the flush sends them in one. A
 * small write that overflows the buffer leaves with it in one writev; a
 * large write on an empty buffer goes out directly. The peer checks the
 * order of every byte. */
static int t_coalesce_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 1024);
    unsigned char b[4096];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = t_pat(i);
    for (size_t i = 0; i < 1000; i += 10)
        ck_assert_int_eq(corio_stream_write(s, b + i, 10, 5), 10);
    ck_assert_uint_eq(t_stats(s).writes, 0);
    ck_assert_int_eq(corio_stream_flush(s, 5), 0);
    corio_stream_counters st = t_stats(s);
    ck_assert_uint_eq(st.writes, 1);
    ck_assert_uint_eq(st.bytes_written, 1000);
    ck_assert_int_eq(corio_stream_flush(s, 5), 0); /* nothing left: no send */
    ck_assert_uint_eq(t_stats(s).writes, 1);
    /* 1000 buffered + 100 more does not fit 1024: one writev of both. */
    ck_assert_int_eq(corio_stream_write(s, b + 1000, 1000, 5), 1000);
    ck_assert_int_eq(corio_stream_write(s, b + 2000, 100, 5), 100);
    st = t_stats(s);
    ck_assert_uint_eq(st.writes, 2);
    ck_assert_uint_eq(st.bytes_written, 2100);
    /* A gather write that fits is copied; one that does not goes with it. */
    struct iovec iov[3] = {{b + 2100, 50}, {b + 2150, 0}, {b + 2150, 50}};
    ck_assert_int_eq(corio_stream_writev(s, iov, 3, 5), 100);
    ck_assert_uint_eq(t_stats(s).writes, 2);
    struct iovec big[2] = {{b + 2200, 1000}, {b + 3200, 896}};
    ck_assert_int_eq(corio_stream_writev(s, big, 2, 5), 1896);
    st = t_stats(s);
    ck_assert_uint_eq(st.writes, 3);
    ck_assert_uint_eq(st.bytes_written, 4096);
    /* Large write, empty buffer: direct, nothing copied. */
    ck_assert_int_eq(corio_stream_write(s, b, 2048, 5), 2048);
    st = t_stats(s);
    ck_assert_uint_eq(st.writes, 4);
    ck_assert_uint_eq(st.bytes_written, 4096 + 2048);
    unsigned char got[4096 + 2048];
    t_get(c->fds[1], got, sizeof got);
    ck_assert_mem_eq(got, b, 4096);
    ck_assert_mem_eq(got + 4096, b, 2048);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_write_coalescing) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_coalesce_body, &c), 0);
}
END_TEST

/* A peer thread that reads `len` bytes and checks them against t_pat. */
static void *t_sink_main(void *arg) {
    t_sink *k = arg;
    static unsigned char buf[65536];
    size_t got = 0;
    k->ok = 1;
    while (got < k->len) {
        ssize_t r = read(k->fd, buf, sizeof buf);
        if (r <= 0) {
            k->ok = 0;
            break;
        }
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != t_pat(got + (size_t)i))
                k->ok = 0;
        got += (size_t)r;
    }
    return NULL;
}

/* A 4 MiB write bypasses the 8 KiB buffer: when it returns, every byte
 * has been handed to the kernel, none is left buffered. */
static int t_large_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    size_t len = 4u << 20;
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < len; i++)
        b[i] = t_pat(i);
    t_sink k = {.fd = c->fds[1], .len = len + 3};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, t_sink_main, &k), 0);
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    ck_assert_int_eq(corio_stream_write(s, b, len, 10), (ssize_t)len);
    ck_assert_uint_eq(t_stats(s).bytes_written, len);
    /* Three buffered bytes, then a large write: they go first, together. */
    unsigned char three[3] = {t_pat(len), t_pat(len + 1), t_pat(len + 2)};
    ck_assert_int_eq(corio_stream_write(s, three, 3, 10), 3);
    ck_assert_int_eq(corio_stream_flush(s, 10), 0);
    pthread_join(t, NULL);
    ck_assert(k.ok);
    free(b);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_large_write_bypasses_buffer) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_large_body, &c), 0);
}
END_TEST

/* Shutting writes flushes, the peer sees the end, later writes are
 * -EPIPE, and reading still works; shutting reads returns what is
 * buffered, then 0. */
static int t_shutdown_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    ck_assert_int_eq(corio_stream_write(s, "bye", 3, 5), 3);
    ck_assert_int_eq(corio_stream_shutdown(s, SHUT_WR, 5), 0);
    char buf[8];
    t_get(c->fds[1], buf, 3);
    ck_assert_mem_eq(buf, "bye", 3);
    ck_assert_int_eq(read(c->fds[1], buf, sizeof buf), 0); /* the end */
    ck_assert_int_eq(corio_stream_write(s, "x", 1, 5), -EPIPE);
    ck_assert_int_eq(corio_stream_write(s, buf, 0, 5), -EPIPE);
    ck_assert_int_eq(corio_stream_flush(s, 5), 0);
    ck_assert_int_eq(corio_stream_shutdown(s, SHUT_WR, 5), 0); /* again: harmless */
    t_puts(c->fds[1], "reply\nmore");
    const char *l;
    size_t n;
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 5), 1);
    ck_assert_str_eq(l, "reply");
    const void *v;
    ck_assert_int_ge(corio_stream_peek(s, 4, &v, 5), 4);
    ck_assert_int_eq(corio_stream_shutdown(s, SHUT_RD, 5), 0);
    ck_assert_int_eq(corio_stream_read(s, buf, sizeof buf, 5), 4);
    ck_assert_int_eq(corio_stream_read(s, buf, sizeof buf, 5), 0);
    ck_assert_int_eq(corio_stream_shutdown(s, 42, 5), -EINVAL);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_shutdown_and_writes_after) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_shutdown_body, &c), 0);
}
END_TEST

/* ---- deadlines and cancel ---------------------------------------------------- */

/* Fill a connection whose peer does not read until a send would block. */
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

static int t_deadline_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    char buf[64];
    /* The stream's read deadline bounds a call without a timeout. */
    ck_assert_int_eq(corio_stream_set_deadline(s, CORIO_STREAM_READ, 0.1), 0);
    double t0 = t_now();
    ck_assert_int_eq(corio_stream_read(s, buf, sizeof buf, CORIO_FOREVER), -ETIMEDOUT);
    double took = t_now() - t0;
    ck_assert_msg(took >= 0.08 && took < 5, "deadline took %.3f s", took);
    /* Past: the call behaves as with timeout 0. The line is in the kernel
     * already, but on the multishot path its CQE may not have been reaped
     * by the first attempt, which then times out: the second finds it
     * queued. Either way no call waits. */
    t_puts(c->fds[1], "ab\n");
    const char *l;
    size_t n;
    t0 = t_now();
    int r = corio_stream_read_line(s, 64, &l, &n, CORIO_FOREVER);
    if (r == -ETIMEDOUT && c->mode == M_MULTISHOT)
        r = corio_stream_read_line(s, 64, &l, &n, CORIO_FOREVER);
    ck_assert_int_eq(r, 1);
    ck_assert_str_eq(l, "ab");
    ck_assert_msg(t_now() - t0 < 1, "a past deadline waited");
    /* The call's own timeout wins when it is earlier. */
    ck_assert_int_eq(corio_stream_set_deadline(s, CORIO_STREAM_READ, 30), 0);
    t0 = t_now();
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 0.1), -ETIMEDOUT);
    took = t_now() - t0;
    ck_assert_msg(took >= 0.08 && took < 5, "timeout took %.3f s", took);
    /* Cleared: data arriving later is read. */
    ck_assert_int_eq(corio_stream_set_deadline(s, CORIO_STREAM_READ, -1), 0);
    t_puts(c->fds[1], "cd\n");
    ck_assert_int_eq(corio_stream_read_line(s, 64, &l, &n, 5), 1);
    ck_assert_str_eq(l, "cd");
    /* Write deadline: the peer reads nothing, the write times out. */
    t_fill_socket(c->fds[0]);
    ck_assert_int_eq(corio_stream_set_deadline(s, CORIO_STREAM_WRITE, 0.1), 0);
    static char big[1 << 20];
    t0 = t_now();
    ssize_t w = corio_stream_write(s, big, sizeof big, CORIO_FOREVER);
    took = t_now() - t0;
    ck_assert_msg(w == -ETIMEDOUT || (w > 0 && w < (ssize_t)sizeof big), "write: %zd", w);
    ck_assert_msg(took >= 0.08 && took < 5, "write deadline took %.3f s", took);
    t_fill_socket(c->fds[0]); /* what went out made room: fill it again */
    ck_assert_int_eq(corio_stream_write(s, "x", 1, 5), 1); /* buffered: no wait */
    ck_assert_int_eq(corio_stream_flush(s, CORIO_FOREVER), -ETIMEDOUT);
    ck_assert_int_eq(corio_stream_set_deadline(s, 0, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_set_deadline(s, 4, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_set_deadline(s, CORIO_STREAM_READ, NAN), -EINVAL);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_deadlines) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_deadline_body, &c), 0);
}
END_TEST

/* The reader has "hel" buffered and waits for the rest of the line when it
 * is cancelled; the rest arrives afterwards; a later read on the same
 * stream gets the whole line: not a byte lost. */
static int t_cancel_reader(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    const void *v;
    ck_assert_int_ge(corio_stream_peek(c->s, 3, &v, 5), 3);
    sem_post(&c->gate);
    const char *l;
    size_t n;
    c->res = corio_stream_read_line(c->s, 64, &l, &n, CORIO_FOREVER);
    return (int)c->res;
}

static int t_late_reader(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    const char *l;
    size_t n;
    ck_assert_int_eq(corio_stream_read_line(c->s, 64, &l, &n, 5), 1);
    ck_assert_str_eq(l, "hello");
    ck_assert_int_eq(corio_stream_read_line(c->s, 64, &l, &n, 5), 1);
    ck_assert_str_eq(l, "world");
    ck_assert_int_eq(corio_stream_destroy(c->s), 0);
    return 0;
}

START_TEST(test_cancel_during_read_loses_nothing) {
    t_mode(_i);
    t_ctx c = {.mode = _i, .res = 1};
    t_tcp_pair(c.fds);
    t_gate_init(&c.gate);
    c.s = t_stream(c.fds[0], c.mode, 0, 0, 0);
    corio_runtime *rt = t_rt();
    t_puts(c.fds[1], "hel");
    corio_future *f = t_spawn(rt, 0, t_cancel_reader, &c);
    ck_assert(t_gate_pass_within(&c.gate, 10));
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 10, NULL), -ECANCELED);
    ck_assert_int_eq(c.res, -ECANCELED);
    corio_future_unref(f);
    t_puts(c.fds[1], "lo\nworld\n");
    f = t_spawn(rt, 0, t_late_reader, &c);
    ck_assert_int_eq(corio_future_result(f, 10, NULL), 0);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    close(c.fds[1]);
    sem_destroy(&c.gate);
}
END_TEST

/* ---- other descriptors and worlds ---------------------------------------------- */

/* A peer resetting the connection is its error code, not the end. */
static int t_reset_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    struct linger lg = {1, 0};
    setsockopt(c->fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    t_puts(c->fds[1], "x");
    char buf[8];
    ck_assert_int_eq(corio_stream_read(s, buf, 1, 5), 1);
    close(c->fds[1]); /* RST */
    const char *l;
    size_t n;
    int r = corio_stream_read_line(s, 64, &l, &n, 5);
    ck_assert_msg(r == -ECONNRESET, "after RST: %s", corio_error_name(r));
    /* Writing to a reset connection: -EPIPE or -ECONNRESET, no SIGPIPE. */
    ssize_t w = corio_stream_write(s, buf, 8, 5);
    if (w == 8)
        w = corio_stream_flush(s, 5);
    ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "write after RST: %zd", w);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

START_TEST(test_peer_reset) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_reset_body, &c), 0);
}
END_TEST

/* A stream over each end of a pipe: lines written, flushed, the writer
 * destroyed (its close is the end), the reader sees every line then 0. */
static int t_pipe_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *w = t_stream(c->fds[1], c->mode, 0, 0, 0);
    corio_stream *r = t_stream(c->fds[0], c->mode, 32, 0, 0);
    for (int i = 0; i < 100; i++) {
        char line[32];
        int k = snprintf(line, sizeof line, "line %d\n", i);
        ck_assert_int_eq(corio_stream_write(w, line, (size_t)k, 5), k);
    }
    ck_assert_int_eq(corio_stream_flush(w, 5), 0);
    ck_assert_uint_eq(t_stats(w).writes, 1);
    ck_assert_int_eq(corio_stream_shutdown(w, SHUT_WR, 5), 0); /* a pipe: state only */
    ck_assert_int_eq(corio_stream_write(w, "x", 1, 5), -EPIPE);
    ck_assert_int_eq(corio_stream_destroy(w), 0);
    for (int i = 0; i < 100; i++) {
        const char *l;
        size_t n;
        ck_assert_int_eq(corio_stream_read_line(r, 64, &l, &n, 5), 1);
        char want[32];
        snprintf(want, sizeof want, "line %d", i);
        ck_assert_str_eq(l, want);
    }
    const char *l;
    size_t n;
    ck_assert_int_eq(corio_stream_read_line(r, 64, &l, &n, 5), 0);
    ck_assert_uint_eq(t_stats(r).multishot_arms, 0); /* never on a pipe */
    ck_assert_int_eq(corio_stream_destroy(r), 0);
    return 0;
}

START_TEST(test_pipe) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    ck_assert_int_eq(pipe2(c.fds, O_CLOEXEC), 0);
    ck_assert_int_eq(t_run(t_pipe_body, &c), 0);
}
END_TEST

/* The framed-read, write and EOF bodies on a plain thread (no runtime):
 * system calls with poll(2) bounding the waits; multishot asked for falls
 * back to the plain path. */
START_TEST(test_plain_thread) {
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_split_body(&c, NULL), 0);
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_coalesce_body(&c, NULL), 0);
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_eof_body(&c, NULL), 0);
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_deadline_body(&c, NULL), 0);
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_large_body(&c, NULL), 0);
    ck_assert_int_eq(pipe2(c.fds, O_CLOEXEC), 0);
    ck_assert_int_eq(t_pipe_body(&c, NULL), 0);
}
END_TEST

/* ---- trimming an idle stream (corio__stream_trim) -------------------------- */

/* A server trims a connection's stream each time it waits for the next
 * request: the buffers go (the read buffer only on the multishot path, and
 * neither while it holds bytes), come back at the next read or write, and
 * no byte is lost or reordered, including the end of the stream. */
static int t_trim_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    const void *v;
    t_puts(c->fds[1], "one\n");
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, 64, &v, 5), 4);
    ck_assert_mem_eq(v, "one\n", 4);
    ck_assert_int_eq(corio_stream_write(s, "a", 1, 5), 1);
    ck_assert_int_eq(corio_stream_flush(s, 5), 0);
    corio__stream_trim(s);
    ck_assert_ptr_null(s->wbuf);
    if (c->mode == M_MULTISHOT)
        ck_assert_ptr_null(s->rbuf);
    else
        ck_assert_ptr_nonnull(s->rbuf);
    /* Waits without buffers, then takes them back. */
    t_puts(c->fds[1], "two\nthree");
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, 64, &v, 5), 4);
    ck_assert_mem_eq(v, "two\n", 4);
    /* Bytes buffered, a write pending: trimming keeps both. */
    ck_assert_int_eq(corio_stream_write(s, "b", 1, 5), 1);
    corio__stream_trim(s);
    ck_assert_ptr_nonnull(s->wbuf);
    ck_assert_ptr_nonnull(s->rbuf);
    char buf[16];
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 5, 5), 5);
    ck_assert_mem_eq(buf, "three", 5);
    ck_assert_int_eq(corio_stream_flush(s, 5), 0);
    corio__stream_trim(s);
    ck_assert_int_eq(corio_stream_write(s, "c", 1, 5), 1);
    ck_assert_int_eq(corio_stream_flush(s, 5), 0);
    char got[3];
    t_get(c->fds[1], got, 3);
    ck_assert_mem_eq(got, "abc", 3);
    /* The end of the stream, met while trimmed. */
    corio__stream_trim(s);
    close(c->fds[1]);
    ck_assert_int_eq(corio_stream_read(s, buf, sizeof buf, 5), 0);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

START_TEST(test_trim_while_idle_loses_nothing) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_trim_body, &c), 0);
}
END_TEST

static Suite *stream_suite(void) {
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("read");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_delimiter_split_across_reads, 0, M_COUNT);
    tcase_add_loop_test(tc, test_line_over_max, 0, M_COUNT);
    tcase_add_loop_test(tc, test_eof_clean_vs_mid_frame, 0, M_COUNT);
    tcase_add_loop_test(tc, test_read_exact_many_segments, 0, M_COUNT);
    tcase_add_loop_test(tc, test_peek_does_not_consume, 0, M_COUNT);
    tcase_add_loop_test(tc, test_peer_reset, 0, M_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("write");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_write_coalescing, 0, M_COUNT);
    tcase_add_loop_test(tc, test_large_write_bypasses_buffer, 0, M_COUNT);
    tcase_add_loop_test(tc, test_shutdown_and_writes_after, 0, M_COUNT);
    tcase_add_loop_test(tc, test_trim_while_idle_loses_nothing, 0, M_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("deadline_cancel");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_deadlines, 0, M_COUNT);
    tcase_add_loop_test(tc, test_cancel_during_read_loses_nothing, 0, M_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("pipe_thread");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_pipe, 0, M_COUNT);
    tcase_add_loop_test(tc, test_plain_thread, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    (void)t_mode_names;
    return t_run_suite(stream_suite());
}
