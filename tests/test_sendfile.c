/* Tests for corio/sendfile.h: corio_sendfile from a regular file to a
 * socket, a pipe and a file, with and without an offset, past the end,
 * timeouts and cancellation (no byte lost or sent twice), the peer gone
 * (-EPIPE and no SIGPIPE: the suite keeps SIGPIPE's default action, so a
 * stray one kills the test), and bad input. Worlds as in t_world: a
 * coroutine on the ring (splice) path, a coroutine on the fallback
 * (sendfile(2)) path, a plain thread. */
#include "t_net.h"

enum { W_CORO, W_FALLBACK, W_THREAD, W_COUNT };

static unsigned char t_pat(size_t i) { return (unsigned char)(i * 31 + (i >> 8) + 7); }

/* An unlinked regular file of `size` pattern bytes, open read-write. */
static int t_file(size_t size) {
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/corio-sendfile-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkostemp(path, O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    static unsigned char chunk[65536];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof chunk ? size - off : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = t_pat(off + i);
        ck_assert_int_eq(write(fd, chunk, n), (ssize_t)n);
        off += n;
    }
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* A thread that reads `fd` to its end. */
typedef struct t_reader {
    int fd;
    unsigned char *buf;
    size_t cap, got;
    pthread_t t;
} t_reader;

static void *t_reader_main(void *arg) {
    t_reader *r = arg;
    for (;;) {
        size_t room = r->cap - r->got;
        ssize_t k = read(r->fd, r->buf + r->got, room ? room : 1);
        if (k <= 0 || !room)
            break;
        r->got += (size_t)k;
    }
    return NULL;
}

static void t_reader_start(t_reader *r, int fd, size_t cap) {
    r->fd = fd;
    r->cap = cap;
    r->got = 0;
    r->buf = malloc(cap);
    ck_assert_ptr_nonnull(r->buf);
    ck_assert_int_eq(pthread_create(&r->t, NULL, t_reader_main, r), 0);
}

/* `n` bytes at `at` of what the reader got are file bytes from `from`. */
static void t_reader_expect(const t_reader *r, size_t at, size_t from, size_t n) {
    ck_assert_uint_ge(r->got, at + n);
    for (size_t i = 0; i < n; i++)
        if (r->buf[at + i] != t_pat(from + i))
            ck_abort_msg("byte %zu: got %u, want file byte %zu", at + i, r->buf[at + i], from + i);
}

typedef struct t_sf {
    int world;
    int sp[2]; /* sp[0] is sent to, sp[1] read by the reader */
    int file;
    size_t size;
} t_sf;

/* ---- file to socket ------------------------------------------------------------ */

static int t_socket_body(void *arg, corio_value *out) {
    (void)out;
    t_sf *s = arg;
    t_reader r;
    t_reader_start(&r, s->sp[1], s->size + 4096);
    int64_t off = 0;
    /* All of it, at an offset: the file position neither used nor moved. */
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, s->size, 10), (ssize_t)s->size);
    ck_assert_int_eq(off, (int64_t)s->size);
    ck_assert_int_eq(lseek(s->file, 0, SEEK_CUR), 0);
    /* From the file position, which advances. */
    ck_assert_int_eq(lseek(s->file, 1000, SEEK_SET), 1000);
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, NULL, 500, 10), 500);
    ck_assert_int_eq(lseek(s->file, 0, SEEK_CUR), 1500);
    /* Past the end: what is there, then 0. */
    off = (int64_t)s->size - 100;
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, 1000, 10), 100);
    ck_assert_int_eq(off, (int64_t)s->size);
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, 1000, 10), 0);
    off = (int64_t)s->size + 5;
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, 1000, 10), 0);
    ck_assert_int_eq(off, (int64_t)s->size + 5);
    ck_assert_int_eq(lseek(s->file, (off_t)s->size, SEEK_SET), (off_t)s->size);
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, NULL, 1000, 10), 0);
    ck_assert_int_eq(lseek(s->file, 0, SEEK_CUR), (off_t)s->size);
    /* Count 0. */
    off = 0;
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, 0, 10), 0);
    ck_assert_int_eq(off, 0);
    /* A count above SSIZE_MAX is cut: here, to the file's end. */
    off = (int64_t)s->size - 10;
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, SIZE_MAX, 10), 10);
    /* The socket is left as it was found (blocking). */
    ck_assert_int_eq(fcntl(s->sp[0], F_GETFL) & O_NONBLOCK, 0);

    ck_assert_int_eq(shutdown(s->sp[0], SHUT_WR), 0);
    pthread_join(r.t, NULL);
    ck_assert_uint_eq(r.got, s->size + 500 + 100 + 10);
    t_reader_expect(&r, 0, 0, s->size);
    t_reader_expect(&r, s->size, 1000, 500);
    t_reader_expect(&r, s->size + 500, s->size - 100, 100);
    t_reader_expect(&r, s->size + 600, s->size - 10, 10);
    free(r.buf);
    return 0;
}

START_TEST(test_file_to_socket) {
    t_sf s = {.world = _i, .size = (1u << 20) + 123};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.sp), 0);
    s.file = t_file(s.size);
    ck_assert_int_eq(t_world(_i, t_socket_body, &s), 0);
    close(s.file);
    close(s.sp[0]);
    close(s.sp[1]);
}
END_TEST

/* ---- file to pipe, file to file ---------------------------------------------------- */

static int t_pipe_file_body(void *arg, corio_value *out) {
    (void)out;
    t_sf *s = arg;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    t_reader r;
    t_reader_start(&r, p[0], s->size + 16);
    int64_t off = 7;
    ck_assert_int_eq(corio_sendfile(p[1], s->file, &off, s->size, 10), (ssize_t)s->size - 7);
    close(p[1]);
    pthread_join(r.t, NULL);
    ck_assert_uint_eq(r.got, s->size - 7);
    t_reader_expect(&r, 0, 7, s->size - 7);
    free(r.buf);
    close(p[0]);

    int copy = t_file(0);
    off = 0;
    ck_assert_int_eq(corio_sendfile(copy, s->file, &off, s->size, 10), (ssize_t)s->size);
    struct stat st;
    ck_assert_int_eq(fstat(copy, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)s->size);
    unsigned char *b = malloc(s->size);
    ck_assert_int_eq(pread(copy, b, s->size, 0), (ssize_t)s->size);
    for (size_t i = 0; i < s->size; i++)
        if (b[i] != t_pat(i))
            ck_abort_msg("copy byte %zu", i);
    free(b);
    close(copy);
    return 0;
}

START_TEST(test_file_to_pipe_and_file) {
    t_sf s = {.world = _i, .size = 300000};
    s.file = t_file(s.size);
    ck_assert_int_eq(t_world(_i, t_pipe_file_body, &s), 0);
    close(s.file);
}
END_TEST

/* ---- timeouts: a short count, then -ETIMEDOUT, and nothing sent twice ---------- */

static int t_timeout_body(void *arg, corio_value *out) {
    (void)out;
    t_sf *s = arg;
    int64_t off = 0;
    /* Nobody reads: the socket fills, the call ends at its timeout with
     * what reached the socket. */
    double t0 = t_now();
    ssize_t r1 = corio_sendfile(s->sp[0], s->file, &off, s->size, 0.2);
    double took = t_now() - t0;
    ck_assert_msg(r1 > 0 && (size_t)r1 < s->size, "first call: %zd", r1);
    ck_assert_int_eq(off, r1);
    ck_assert_msg(took >= 0.15 && took < 5, "took %.3f s", took);
    /* Calls from there: once the socket is full, -ETIMEDOUT and the
     * offset stays. (The kernel may take a few bytes of slack first.) */
    ssize_t r = 0;
    for (int i = 0; i < 10; i++) {
        int64_t before = off;
        r = corio_sendfile(s->sp[0], s->file, &off, s->size - (size_t)off, i % 2 ? 0 : 0.05);
        if (r == -ETIMEDOUT) {
            ck_assert_int_eq(off, before);
            break;
        }
        ck_assert_int_gt(r, 0);
        ck_assert_int_eq(off, before + r);
    }
    ck_assert_int_eq(r, -ETIMEDOUT);
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, 1, 0), -ETIMEDOUT);
    if (s->world == W_THREAD)
        ck_assert_int_eq(fcntl(s->sp[0], F_GETFL) & O_NONBLOCK, 0);
    /* A reader comes: the rest, and the reader sees the file exactly once. */
    t_reader rd;
    t_reader_start(&rd, s->sp[1], s->size + 4096);
    size_t rest = s->size - (size_t)off;
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, rest, 10), (ssize_t)rest);
    ck_assert_int_eq(shutdown(s->sp[0], SHUT_WR), 0);
    pthread_join(rd.t, NULL);
    ck_assert_uint_eq(rd.got, s->size);
    t_reader_expect(&rd, 0, 0, s->size);
    free(rd.buf);
    return 0;
}

START_TEST(test_timeout) {
    t_sf s = {.world = _i, .size = 4u << 20};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.sp), 0);
    s.file = t_file(s.size);
    ck_assert_int_eq(t_world(_i, t_timeout_body, &s), 0);
    close(s.file);
    close(s.sp[0]);
    close(s.sp[1]);
}
END_TEST

/* ---- cancel ------------------------------------------------------------------------ */

typedef struct t_cancel {
    t_sf s;
    size_t filler; /* bytes written before the call */
    sem_t ready;   /* posted just before the call */
    int64_t off;   /* its offset */
    ssize_t res;   /* what it returned */
} t_cancel;

static int t_cancel_body(void *arg, corio_value *out) {
    (void)out;
    t_cancel *c = arg;
    sem_post(&c->ready);
    c->res = corio_sendfile(c->s.sp[0], c->s.file, &c->off, c->s.size, CORIO_FOREVER);
    return c->res < 0 ? (int)c->res : 0;
}

/* _i: fallback. */
START_TEST(test_cancel) {
    t_cancel c = {.s = {.size = 1u << 20}, .res = 1};
    corio__io_force_fallback = _i;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.s.sp), 0);
    c.s.file = t_file(c.s.size);
    /* Fill the socket so that the call cannot send a byte. */
    char fill[512];
    memset(fill, 'f', sizeof fill);
    ssize_t k;
    while ((k = send(c.s.sp[0], fill, sizeof fill, MSG_DONTWAIT)) > 0)
        c.filler += (size_t)k;
    while ((k = send(c.s.sp[0], fill, 1, MSG_DONTWAIT)) > 0)
        c.filler += (size_t)k;
    t_gate_init(&c.ready);
    corio_runtime *rt = t_rt(1);
    corio_future *f = t_spawn(rt, 0, t_cancel_body, &c);
    ck_assert(t_gate_pass_within(&c.ready, 5));
    ck_assert(corio_future_cancel(f));
    int fr = corio_future_result(f, 5, NULL);
    ck_assert_msg(fr == -ECANCELED || (fr == 0 && c.res > 0), "result %d, call %zd", fr, c.res);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    /* What the reader gets is the filler, then exactly the bytes the call
     * reported (none, unless the kernel had slack), in order. */
    size_t sent = c.res > 0 ? (size_t)c.res : 0;
    if (c.res <= 0) {
        ck_assert_int_eq(c.res, -ECANCELED);
        ck_assert_int_eq(c.off, 0);
    } else {
        ck_assert_int_eq(c.off, c.res);
    }
    ck_assert_int_eq(shutdown(c.s.sp[0], SHUT_WR), 0);
    t_reader rd;
    t_reader_start(&rd, c.s.sp[1], c.filler + c.s.size + 16);
    pthread_join(rd.t, NULL);
    ck_assert_uint_eq(rd.got, c.filler + sent);
    t_reader_expect(&rd, c.filler, 0, sent);
    free(rd.buf);
    close(c.s.file);
    close(c.s.sp[0]);
    close(c.s.sp[1]);
    sem_destroy(&c.ready);
}
END_TEST

/* ---- the peer gone: -EPIPE, never SIGPIPE ------------------------------------------ */

static int t_epipe_body(void *arg, corio_value *out) {
    (void)out;
    t_sf *s = arg;
    int64_t off = 0;
    ck_assert_int_eq(corio_sendfile(s->sp[0], s->file, &off, s->size, 5), -EPIPE);
    ck_assert_int_eq(off, 0);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[0]);
    ck_assert_int_eq(corio_sendfile(p[1], s->file, &off, s->size, 5), -EPIPE);
    close(p[1]);
    /* No SIGPIPE is left pending either. */
    sigset_t pend;
    ck_assert_int_eq(sigpending(&pend), 0);
    ck_assert(!sigismember(&pend, SIGPIPE));
    return 0;
}

START_TEST(test_epipe) {
    t_sf s = {.world = _i, .size = 100000};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.sp), 0);
    close(s.sp[1]);
    s.file = t_file(s.size);
    ck_assert_int_eq(t_world(_i, t_epipe_body, &s), 0);
    close(s.file);
    close(s.sp[0]);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------ */

static int t_bad_body(void *arg, corio_value *out) {
    (void)out;
    (void)arg;
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    int file = t_file(100);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    int closed = dup(0);
    close(closed);
    int64_t off = 0, neg = -1;
    errno = 1234;
    ck_assert_int_eq(corio_sendfile(-1, file, &off, 10, 5), -EBADF);
    ck_assert_int_eq(corio_sendfile(sp[0], -1, &off, 10, 5), -EBADF);
    ck_assert_int_eq(corio_sendfile(closed, file, &off, 10, 5), -EBADF);
    ck_assert_int_eq(corio_sendfile(sp[0], closed, &off, 10, 5), -EBADF);
    ck_assert_int_eq(corio_sendfile(sp[0], closed, &off, 0, 5), -EBADF);
    /* in_fd not a regular file. */
    ck_assert_int_eq(corio_sendfile(sp[0], p[0], &off, 10, 5), -EINVAL);
    ck_assert_int_eq(corio_sendfile(sp[0], sp[1], NULL, 10, 5), -EINVAL);
    /* in_fd not readable, out_fd not writable. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", file);
    int wo = open(path, O_WRONLY | O_CLOEXEC);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(wo, 0);
    ck_assert_int_ge(ro, 0);
    ck_assert_int_eq(corio_sendfile(sp[0], wo, &off, 10, 5), -EBADF);
    ck_assert_int_eq(corio_sendfile(ro, file, &off, 10, 5), -EBADF);
    /* A negative offset, a NaN timeout. */
    ck_assert_int_eq(corio_sendfile(sp[0], file, &neg, 10, 5), -EINVAL);
    ck_assert_int_eq(neg, -1);
    ck_assert_int_eq(corio_sendfile(sp[0], file, &off, 10, NAN), -EINVAL);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(errno, 1234);
    /* Nothing reached the socket. */
    char b;
    ck_assert_int_eq(recv(sp[1], &b, 1, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(wo);
    close(ro);
    close(p[0]);
    close(p[1]);
    close(file);
    close(sp[0]);
    close(sp[1]);
    return 0;
}

START_TEST(test_bad_input) { ck_assert_int_eq(t_world(_i, t_bad_body, NULL), 0); }
END_TEST

static Suite *sendfile_suite(void) {
    Suite *s = suite_create("sendfile");
    TCase *tc = tcase_create("sendfile");
    tcase_set_timeout(tc, 15);
    tcase_add_loop_test(tc, test_file_to_socket, 0, W_COUNT);
    tcase_add_loop_test(tc, test_file_to_pipe_and_file, 0, W_COUNT);
    tcase_add_loop_test(tc, test_timeout, 0, W_COUNT);
    tcase_add_loop_test(tc, test_cancel, 0, 2);
    tcase_add_loop_test(tc, test_epipe, 0, W_COUNT);
    tcase_add_loop_test(tc, test_bad_input, 0, W_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(sendfile_suite()); }
