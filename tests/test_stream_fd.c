/* Tests for corio/stream.h over other descriptors and paths: a Unix
 * socketpair, the multishot recv path (kept armed,
 * back-pressure, a starved buffer ring), and bad input. Modes as in
 * test_stream.c. */
#include "t_stream.h"

/* Two streams over a Unix socketpair, a request/response exchange between
 * two coroutines. */
static int t_unix_server(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[1], c->mode, 0, 0, 0);
    const char *l;
    size_t n;
    int got = 0;
    while (corio_stream_read_line(s, 128, &l, &n, 5) == 1) {
        char reply[160];
        int k = snprintf(reply, sizeof reply, "re: %s\n", l);
        ck_assert_int_eq(corio_stream_write(s, reply, (size_t)k, 5), k);
        ck_assert_int_eq(corio_stream_flush(s, 5), 0);
        got++;
    }
    ck_assert_int_eq(got, 50);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

static int t_unix_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_future *srv = t_spawn(corio_runtime_current(), 0, t_unix_server, c);
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    for (int i = 0; i < 50; i++) {
        char req[32];
        int k = snprintf(req, sizeof req, "ping %d\n", i);
        ck_assert_int_eq(corio_stream_write(s, req, (size_t)k, 5), k);
        ck_assert_int_eq(corio_stream_flush(s, 5), 0);
        const char *l;
        size_t n;
        ck_assert_int_eq(corio_stream_read_line(s, 128, &l, &n, 5), 1);
        char want[40];
        snprintf(want, sizeof want, "re: ping %d", i);
        ck_assert_str_eq(l, want);
    }
    ck_assert_int_eq(corio_stream_shutdown(s, SHUT_WR, 5), 0);
    ck_assert_int_eq(corio_future_result(srv, 10, NULL), 0);
    corio_future_unref(srv);
    if (c->mode == M_MULTISHOT) {
        /* Kept armed across the 50 rounds: a handful of arms, not 50. */
        corio_stream_counters st = t_stats(s);
        ck_assert_msg(st.multishot_arms >= 1 && st.multishot_arms < 10, "arms %llu",
                      (unsigned long long)st.multishot_arms);
        ck_assert_uint_ge(st.ring_buffers, 50);
    }
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

START_TEST(test_unix_socketpair) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.fds), 0);
    ck_assert_int_eq(t_run(t_unix_body, &c), 0);
}
END_TEST

/* ---- the multishot path ----------------------------------------------------- */

/* 2 MiB through a stream whose read buffer may hold only 4 KiB while the
 * reader takes 1000 bytes at a time: the multishot pauses (its queue
 * reaches the limit) and re-arms, and every byte arrives in order. */
static int t_backpressure_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 4096, 4096, 0);
    size_t total = 2u << 20;
    unsigned char buf[1000];
    size_t got = 0;
    while (got < total) {
        size_t want = total - got < sizeof buf ? total - got : sizeof buf;
        ssize_t r = corio_stream_read_exact(s, buf, want, 10);
        ck_assert_int_eq(r, (ssize_t)want);
        ck_assert_uint_eq(t_mismatch(buf, want, got), SIZE_MAX);
        got += want;
    }
    if (c->mode == M_MULTISHOT)
        ck_assert_uint_ge(t_stats(s).multishot_arms, 2); /* paused and re-armed */
    ck_assert_uint_eq(t_stats(s).bytes_read, total);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    return 0;
}

static void *t_source_main(void *arg) {
    t_sink *k = arg;
    static unsigned char buf[65536];
    for (size_t off = 0; off < k->len;) {
        size_t n = k->len - off < sizeof buf ? k->len - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = t_pat(off + i);
        t_put(k->fd, buf, n);
        off += n;
    }
    close(k->fd);
    return NULL;
}

START_TEST(test_backpressure) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    t_sink src = {.fd = c.fds[1], .len = 2u << 20};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, t_source_main, &src), 0);
    ck_assert_int_eq(t_run(t_backpressure_body, &c), 0);
    pthread_join(t, NULL);
}
END_TEST

/* 100 streams each receive 12 KiB before any of them reads: with 256 ring
 * buffers of 4 KiB, the ring runs dry (held by queues nobody drains yet);
 * streams fall back to plain receives and still read everything. */
#define T_STARVE_N 100
#define T_STARVE_LEN (12 * 1024)

typedef struct t_starve {
    int mode;
    int fds[T_STARVE_N][2];
    corio_stream *s[T_STARVE_N];
    int armed; /* streams that armed their multishot */
} t_starve;

static int t_starve_body(void *arg, corio_value *out) {
    (void)out;
    t_starve *st = arg;
    static unsigned char buf[T_STARVE_LEN];
    /* Arm each stream with a first 1-byte read, then let all data land. */
    for (int i = 0; i < T_STARVE_N; i++) {
        st->s[i] = t_stream(st->fds[i][0], st->mode, 0, 0, 0);
        t_put(st->fds[i][1], "s", 1);
        ck_assert_int_eq(corio_stream_read_exact(st->s[i], buf, 1, 5), 1);
    }
    for (int i = 0; i < T_STARVE_N; i++) {
        for (size_t k = 0; k < T_STARVE_LEN; k++)
            buf[k] = t_pat(k + (size_t)i);
        t_put(st->fds[i][1], buf, T_STARVE_LEN);
    }
    /* Two loop iterations: the kernel runs the receives and the loop reaps
     * their CQEs, so the ring's buffers are held before anyone reads. */
    corio_yield();
    corio_yield();
    for (int i = 0; i < T_STARVE_N; i++) {
        ck_assert_int_eq(corio_stream_read_exact(st->s[i], buf, T_STARVE_LEN, 10), T_STARVE_LEN);
        ck_assert_uint_eq(t_mismatch(buf, T_STARVE_LEN, (size_t)i), SIZE_MAX);
        st->armed += t_stats(st->s[i]).multishot_arms > 0;
        ck_assert_int_eq(corio_stream_destroy(st->s[i]), 0);
        close(st->fds[i][1]);
    }
    return 0;
}

START_TEST(test_starved_ring) {
    t_mode(_i);
    t_starve *st = calloc(1, sizeof *st);
    st->mode = _i;
    for (int i = 0; i < T_STARVE_N; i++)
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->fds[i]), 0);
    ck_assert_int_eq(t_run(t_starve_body, st), 0);
    if (_i == M_MULTISHOT)
        ck_assert_int_eq(st->armed, T_STARVE_N);
    free(st);
}
END_TEST

/* The multishot path is really taken in multishot mode, never in plain. */
static int t_path_body(void *arg, corio_value *out) {
    (void)out;
    t_ctx *c = arg;
    corio_stream *s = t_stream(c->fds[0], c->mode, 0, 0, 0);
    for (int i = 0; i < 20; i++) {
        t_puts(c->fds[1], "x\n");
        const char *l;
        size_t n;
        ck_assert_int_eq(corio_stream_read_line(s, 16, &l, &n, 5), 1);
    }
    corio_stream_counters st = t_stats(s);
    if (c->mode == M_MULTISHOT) {
        ck_assert_uint_ge(st.multishot_arms, 1);
        ck_assert_uint_ge(st.ring_buffers, 1);
        ck_assert_uint_lt(st.reads, 20); /* fewer submissions than receives */
    } else {
        ck_assert_uint_eq(st.multishot_arms, 0);
        ck_assert_uint_eq(st.ring_buffers, 0);
        ck_assert_uint_eq(st.reads, 20);
    }
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    close(c->fds[1]);
    return 0;
}

START_TEST(test_path_taken) {
    t_mode(_i);
    t_ctx c = {.mode = _i};
    t_tcp_pair(c.fds);
    ck_assert_int_eq(t_run(t_path_body, &c), 0);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------- */

START_TEST(test_bad_input) {
    corio_stream *s = (corio_stream *)1;
    ck_assert_int_eq(corio_stream_create(-1, NULL, &s), -EBADF);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(corio_stream_create(0, NULL, NULL), -EINVAL);
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    int closed = dup(fds[0]);
    close(closed);
    ck_assert_int_eq(corio_stream_create(closed, NULL, &s), -EBADF);
    corio_stream_options o = {.read_buffer = (size_t)1 << 31};
    ck_assert_int_eq(corio_stream_create(fds[0], &o, &s), -EINVAL);
    o = (corio_stream_options){.write_buffer = SIZE_MAX};
    ck_assert_int_eq(corio_stream_create(fds[0], &o, &s), -EINVAL);
    o = (corio_stream_options){.read_buffer = 4096, .max_read_buffer = 1024};
    ck_assert_int_eq(corio_stream_create(fds[0], &o, &s), -EINVAL);
    o = (corio_stream_options){.recv_mode = 3};
    ck_assert_int_eq(corio_stream_create(fds[0], &o, &s), -EINVAL);
    o = (corio_stream_options){.recv_mode = -1};
    ck_assert_int_eq(corio_stream_create(fds[0], &o, &s), -EINVAL);
    /* NULL stream everywhere. */
    char buf[8];
    const void *v;
    const char *l;
    size_t n;
    ck_assert_int_eq(corio_stream_destroy(NULL), -EINVAL);
    ck_assert_int_eq(corio_stream_detach(NULL), -EINVAL);
    ck_assert_int_eq(corio_stream_fd(NULL), -EINVAL);
    ck_assert_int_eq(corio_stream_read(NULL, buf, 1, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_exact(NULL, buf, 1, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_until(NULL, "\n", 1, 8, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_line(NULL, 8, &l, &n, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_peek(NULL, 1, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_consume(NULL, 0), -EINVAL);
    ck_assert_uint_eq(corio_stream_buffered(NULL), 0);
    ck_assert_int_eq(corio_stream_write(NULL, "x", 1, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_writev(NULL, NULL, 0, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_flush(NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_shutdown(NULL, SHUT_WR, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_set_deadline(NULL, CORIO_STREAM_READ, 1), -EINVAL);
    corio_stream_counters st;
    ck_assert_int_eq(corio_stream_stats(NULL, &st), -EINVAL);

    o = (corio_stream_options){.read_buffer = 16, .max_read_buffer = 64};
    ck_assert_int_eq(corio_stream_create(fds[0], &o, &s), 0);
    ck_assert_int_eq(corio_stream_fd(s), fds[0]);
    ck_assert_int_eq(corio_stream_stats(s, NULL), -EINVAL);
    /* Buffers and sizes. */
    ck_assert_int_eq(corio_stream_read(s, NULL, 1, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_read(s, NULL, 0, 1), 0);
    ck_assert_int_eq(corio_stream_read(s, buf, 1, NAN), -EINVAL);
    ck_assert_int_eq(corio_stream_read_exact(s, NULL, 1, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 0, 1), 0);
    ck_assert_int_eq(corio_stream_read_exact(s, buf, SIZE_MAX, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_until(s, NULL, 1, 8, &v, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, 8, NULL, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 0, 8, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_until(s, "abc", 3, 2, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, 65, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, SIZE_MAX, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_read_until(s, "\n", 1, 8, &v, NAN), -EINVAL);
    ck_assert_int_eq(corio_stream_read_line(s, 8, NULL, &n, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_read_line(s, 8, &l, NULL, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_read_line(s, 0, &l, &n, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_peek(s, 65, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_peek(s, SIZE_MAX, &v, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_peek(s, 1, NULL, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_peek(s, 0, &v, 1), 0);
    ck_assert_int_eq(corio_stream_consume(s, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_write(s, NULL, 1, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_write(s, NULL, 0, 1), 0);
    ck_assert_int_eq(corio_stream_write(s, buf, SIZE_MAX, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_write(s, buf, 1, NAN), -EINVAL);
    ck_assert_int_eq(corio_stream_writev(s, NULL, 1, 1), -EFAULT);
    ck_assert_int_eq(corio_stream_writev(s, NULL, -1, 1), -EINVAL);
    struct iovec iov[2] = {{buf, 1}, {NULL, 1}};
    ck_assert_int_eq(corio_stream_writev(s, iov, 2, 1), -EFAULT);
    iov[1] = (struct iovec){buf, SIZE_MAX};
    ck_assert_int_eq(corio_stream_writev(s, iov, 2, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_writev(s, iov, IOV_MAX, 1), -EINVAL);
    ck_assert_int_eq(corio_stream_flush(s, NAN), -EINVAL);
    ck_assert_int_eq(corio_stream_shutdown(s, SHUT_WR, NAN), -EINVAL);
    /* Timeout 0 with nothing to read: at once. */
    ck_assert_int_eq(corio_stream_read(s, buf, 1, 0), -ETIMEDOUT);
    /* Detach hands the descriptor back, open. */
    ck_assert_int_eq(corio_stream_detach(s), fds[0]);
    ck_assert_int_ge(fcntl(fds[0], F_GETFD), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

static Suite *stream_fd_suite(void) {
    Suite *s = suite_create("stream_fd");
    TCase *tc = tcase_create("descriptors");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_unix_socketpair, 0, M_COUNT);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("multishot");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_path_taken, 0, M_COUNT);
    tcase_add_loop_test(tc, test_backpressure, 0, M_COUNT);
    tcase_add_loop_test(tc, test_starved_ring, 0, M_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    (void)t_mode_names;
    return t_run_suite(stream_fd_suite());
}
