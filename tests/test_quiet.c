/* Tests for what a loop gives back when it goes quiet (loop.c quiet
 * hooks): the pages of the provided-buffer ring's idle buffers
 * (runtime/net/bufring.c) and of the blocks in the loop thread's block
 * cache (runtime/bcache.c), and that both still work afterwards. A busy
 * loop keeps them. Residency is read with mincore through the modules'
 * test hooks. Waits for the quiet spell are bounded polls (5 s), never a
 * fixed sleep that the test depends on. */
#include "t_stream.h"
#include "bcache.h"
#include "net/stream_internal.h"

#define NSTREAMS 48
#define WAIT_S 5.0
/* Shorter than the loop's quiet period (100 ms): an assertion that the
 * pages are still there holds only if the loop was busy more often. */
#define BUSY_S 0.09

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Poll every 20 ms until f() <= want or WAIT_S passes; returns the last
 * value. */
static long poll_until(long (*f)(void), long want) {
    long v = f();
    for (double t = 0; v > want && t < WAIT_S; t += 0.02) {
        ck_assert_int_eq(corio_sleep(0.02), 0);
        v = f();
    }
    return v;
}

static long ring_resident(void) { return corio__bufring_resident(); }
static long cache_resident(void) { return (long)corio__bcache_resident(); }

/* Many multishot streams receive at once (each holding a ring buffer
 * until it is read), so the ring hands out and touches more buffers than
 * one stream would; once the loop is quiet their pages go, and the
 * streams still receive, byte for byte, into the dropped buffers. */
static int t_ring_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int fds[NSTREAMS][2];
    corio_stream *s[NSTREAMS];
    char msg[64], buf[64];
    for (int i = 0; i < NSTREAMS; i++) {
        t_tcp_pair(fds[i]);
        s[i] = t_stream(fds[i][0], M_MULTISHOT, 0, 0, 0);
    }
    for (int round = 0; round < 2; round++) {
        double t0 = now_s();
        for (int i = 0; i < NSTREAMS; i++) {
            snprintf(msg, sizeof msg, "round %d stream %02d\n", round, i);
            t_puts(fds[i][1], msg);
        }
        for (int i = 0; i < NSTREAMS; i++) {
            snprintf(msg, sizeof msg, "round %d stream %02d\n", round, i);
            size_t n = strlen(msg);
            ck_assert_int_eq(corio_stream_read_exact(s[i], buf, n, WAIT_S), (ssize_t)n);
            ck_assert_mem_eq(buf, msg, n);
        }
        if (round == 0 && !corio__bufring_can_trim()) {
            fprintf(stderr, "SKIP ring trim: the loop's ring has no DEFER_TASKRUN\n");
        } else if (round == 0) {
            /* Every buffer the kernel filled was touched (the ring hands
             * them out in rotation). */
            if (now_s() - t0 < BUSY_S)
                ck_assert_int_ge(corio__bufring_resident(), NSTREAMS);
            /* Quiet: all of them are in the ring again, none held. */
            ck_assert_int_eq(poll_until(ring_resident, 0), 0);
        }
    }
    for (int i = 0; i < NSTREAMS; i++) {
        ck_assert_int_eq(corio_stream_destroy(s[i]), 0);
        close(fds[i][1]);
    }
    return 0;
}

START_TEST(test_ring_pages_given_back_when_quiet) {
    t_mode(M_MULTISHOT);
    ck_assert_int_eq(t_run(t_ring_body, NULL), 0);
}
END_TEST

/* A buffer queued in a stream (received, not read yet) keeps its page and
 * its bytes across the quiet spell; only the ring's free buffers go. */
static int t_held_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int busy[2], fds[2];
    t_tcp_pair(busy);
    t_tcp_pair(fds);
    corio_stream *b = t_stream(busy[0], M_MULTISHOT, 0, 0, 0);
    corio_stream *s = t_stream(fds[0], M_MULTISHOT, 0, 0, 0);
    const void *v;
    /* Armed: the wait times out with the multishot left in place. */
    ck_assert_int_eq(corio_stream_peek(s, 1, &v, 0.001), -ETIMEDOUT);
    double t0 = now_s();
    char buf[32];
    for (int i = 0; i < 40; i++) { /* 40 buffers filled one after another */
        t_puts(busy[1], "x");
        ck_assert_int_eq(corio_stream_read_exact(b, buf, 1, WAIT_S), 1);
    }
    t_puts(fds[1], "kept across the trim");
    /* The loop enters the ring while this coroutine sleeps: the receive's
     * CQE queues its buffer in s, unread (bounded poll). */
    for (double t = 0; t_stats(s).ring_buffers < 1 && t < WAIT_S; t += 0.005)
        ck_assert_int_eq(corio_sleep(0.005), 0);
    ck_assert_uint_eq(t_stats(s).ring_buffers, 1);
    ck_assert_uint_eq(corio_stream_buffered(s), 0);
    if (now_s() - t0 < BUSY_S)
        ck_assert_int_ge(corio__bufring_resident(), 41);
    /* Quiet: every page goes but the held buffer's. */
    if (corio__bufring_can_trim())
        ck_assert_int_eq(poll_until(ring_resident, 1), 1);
    else
        fprintf(stderr, "SKIP ring trim: the loop's ring has no DEFER_TASKRUN\n");
    ck_assert_int_eq(corio_stream_read_exact(s, buf, 20, WAIT_S), 20);
    ck_assert_mem_eq(buf, "kept across the trim", 20);
    ck_assert_int_eq(corio_stream_destroy(s), 0);
    ck_assert_int_eq(corio_stream_destroy(b), 0);
    close(fds[1]);
    close(busy[1]);
    return 0;
}

START_TEST(test_held_buffer_survives_quiet) {
    t_mode(M_MULTISHOT);
    ck_assert_int_eq(t_run(t_held_body, NULL), 0);
}
END_TEST

/* Blocks given back to the cache keep their pages while the loop is busy
 * with them and lose them (all but the link's page) once it is quiet;
 * they are then handed out again, zeroed past the link, and usable. */
#define BLK (64 * 1024)
#define NBLK 8

static int t_cache_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    void *b[NBLK];
    for (int i = 0; i < NBLK; i++) {
        b[i] = corio__bcache_get(BLK);
        ck_assert_ptr_nonnull(b[i]);
        memset(b[i], 0xa5, BLK);
    }
    for (int i = 0; i < NBLK; i++)
        corio__bcache_put(b[i], BLK);
    /* Each block has at least BLK / 4096 - 2 whole pages past its link. */
    ck_assert_int_ge((long)corio__bcache_resident(), NBLK * (BLK / 4096 - 2));
    ck_assert_int_eq(poll_until(cache_resident, 0), 0);
    for (int i = 0; i < NBLK; i++) {
        unsigned char *p = corio__bcache_get(BLK);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p[BLK / 2], 0); /* a dropped page reads as zeros */
        memset(p, i, BLK);
        ck_assert_uint_eq(p[BLK / 2], (unsigned char)i);
        b[i] = p;
    }
    for (int i = 0; i < NBLK; i++)
        corio__bcache_put(b[i], BLK);
    return 0;
}

START_TEST(test_cache_pages_given_back_when_quiet) {
    t_mode(M_PLAIN);
    ck_assert_int_eq(t_run(t_cache_body, NULL), 0);
}
END_TEST

/* While something takes and gives blocks back every few milliseconds the
 * loop never counts as quiet: the cached pages stay. Then it stops, and
 * they go. */
static int t_busy_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    void *b = corio__bcache_get(BLK);
    ck_assert_ptr_nonnull(b);
    memset(b, 1, BLK);
    corio__bcache_put(b, BLK);
    double t0 = now_s(), last = t0;
    while (last - t0 < 0.6) { /* 6 quiet periods' worth of activity */
        b = corio__bcache_get(BLK);
        ck_assert_ptr_nonnull(b);
        memset(b, 2, BLK);
        corio__bcache_put(b, BLK);
        ck_assert_int_eq(corio_sleep(0.01), 0);
        double t = now_s();
        if (t - last < BUSY_S)
            ck_assert_int_ge((long)corio__bcache_resident(), BLK / 4096 - 2);
        last = t;
    }
    ck_assert_int_eq(poll_until(cache_resident, 0), 0);
    return 0;
}

START_TEST(test_busy_loop_keeps_cache) {
    t_mode(M_PLAIN);
    ck_assert_int_eq(t_run(t_busy_body, NULL), 0);
}
END_TEST

/* A block too small for the cache's link is freed, not cached (ASan sees
 * any write past its end). */
static int t_tiny_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio__bcache_put(corio__bcache_get(64), 64); /* the cache exists */
    for (size_t n = 1; n < sizeof(void *); n++) {
        void *b = corio__bcache_get(n);
        ck_assert_ptr_nonnull(b);
        corio__bcache_put(b, n);
        void *c = corio__bcache_get(n); /* not the freed one from a list */
        ck_assert_ptr_nonnull(c);
        corio__bcache_put(c, n);
    }
    return 0;
}

START_TEST(test_cache_tiny_blocks) {
    t_mode(M_PLAIN);
    ck_assert_int_eq(t_run(t_tiny_body, NULL), 0);
}
END_TEST

/* Off a loop thread nothing is cached: put frees, get mallocs. */
START_TEST(test_cache_off_loop_thread) {
    void *b = corio__bcache_get(4096);
    ck_assert_ptr_nonnull(b);
    corio__bcache_put(b, 4096);
    ck_assert_uint_eq(corio__bcache_resident(), 0);
    corio__bcache_put(NULL, 4096); /* nothing */
    ck_assert_int_eq(corio__bufring_resident(), -1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("quiet");
    TCase *tc = tcase_create("quiet");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ring_pages_given_back_when_quiet);
    tcase_add_test(tc, test_held_buffer_survives_quiet);
    tcase_add_test(tc, test_cache_pages_given_back_when_quiet);
    tcase_add_test(tc, test_busy_loop_keeps_cache);
    tcase_add_test(tc, test_cache_tiny_blocks);
    tcase_add_test(tc, test_cache_off_loop_thread);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
