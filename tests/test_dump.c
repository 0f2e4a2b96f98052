/* Tests for the coroutine dump and the stall watchdog (corio/inspect.h):
 * the dump of a coroutine blocked in each kind of wait, a whole backtrace
 * (three calls deep, static functions named) and the CORIO_DUMP_BACKTRACE
 * walks, a dump over a corrupt stack, the dump signal; the stall report
 * of a coroutine that does not yield (with its whole backtrace), of a
 * run-queue pass that does not end, and none for polite coroutines.
 *
 * Time bounds are generous: speed belongs in the benchmarks. Ordering is
 * done with futures and counters; the few polls (a pipe read, a flag)
 * re-check their condition, no sleep stands for an event. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "corio.h"
#include "internal.h"
#include "loop.h"
#include "t_helpers.h"

static corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* ---- dump --------------------------------------------------------------- */

typedef struct dump_ctx {
    corio_future *never; /* a future nobody completes */
    corio_mutex *mu;     /* a mutex the test holds */
    int sv[2];           /* a socketpair nobody writes to */
    corio_future *peer;  /* the coroutine the joiner joins */
    atomic_int ready;    /* blocked coroutines about to block */
} dump_ctx;

static int d_future(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("waits-on-future");
    atomic_fetch_add(&c->ready, 1);
    return corio_future_result(c->never, -1, NULL);
}

static int d_sleep(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("sleeps");
    atomic_fetch_add(&c->ready, 1);
    return corio_sleep(3600);
}

static int d_recv(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("in-recv");
    char b;
    atomic_fetch_add(&c->ready, 1);
    return (int)corio_recv(c->sv[0], &b, 1, 0, -1);
}

static int d_join(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("joins");
    atomic_fetch_add(&c->ready, 1);
    return corio_future_result(c->peer, -1, NULL);
}

static int d_group_child(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("group-child");
    atomic_fetch_add(&c->ready, 1);
    return corio_future_result(c->never, -1, NULL);
}

static int d_mutex(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("on-mutex");
    atomic_fetch_add(&c->ready, 1);
    int r = corio_mutex_lock(c->mu, 3600);
    if (r == 0)
        corio_mutex_unlock(c->mu);
    return r;
}

/* Joins a group of its own whose one child waits forever. */
static int d_group_join(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("joins-group");
    corio_group *g;
    int r = corio_group_create(CORIO_GROUP_FAIL_FAST, &g);
    if (r < 0)
        return r;
    if ((r = corio_group_spawn(g, d_group_child, c, NULL)) == 0)
        r = corio_group_join(g, -1);
    corio_group_destroy(g); /* cancels and joins the child */
    return r;
}

static int d_wait(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("in-wait");
    atomic_fetch_add(&c->ready, 1);
    return corio_wait(&c->never, 1, -1, CORIO_FIRST_COMPLETED, NULL, NULL, NULL, NULL);
}

static int d_as_completed(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("in-as-completed");
    corio_as_completed *it;
    int r = corio_as_completed_create2(&c->never, 1, -1, &it);
    if (r < 0)
        return r;
    atomic_fetch_add(&c->ready, 1);
    corio_future *f;
    r = corio_as_completed_next(it, &f);
    corio_as_completed_destroy(it);
    return r;
}

START_TEST(test_dump_each_kind_of_wait) {
    corio_runtime *rt = t_rt(1);
    dump_ctx c = {0};
    c.never = corio_future_create();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, c.sv), 0);
    ck_assert_int_eq(corio_mutex_create(&c.mu), 0);
    ck_assert_int_eq(corio_mutex_lock(c.mu, 0), 0);
    corio_future *fs[8];
    fs[0] = t_spawn(rt, 0, d_future, &c);
    fs[1] = t_spawn(rt, 0, d_sleep, &c);
    fs[2] = t_spawn(rt, 0, d_recv, &c);
    c.peer = fs[1];
    fs[3] = t_spawn(rt, 0, d_join, &c);
    fs[4] = t_spawn(rt, 0, d_mutex, &c);
    fs[5] = t_spawn(rt, 0, d_wait, &c);
    fs[6] = t_spawn(rt, 0, d_group_join, &c);
    fs[7] = t_spawn(rt, 0, d_as_completed, &c);
    corio_group *g;
    ck_assert_int_eq(corio_group_create(CORIO_GROUP_FAIL_FAST, &g), 0);
    ck_assert_int_eq(corio_group_spawn_on(g, rt, 0, d_group_child, &c, NULL, NULL), 0);
    while (atomic_load(&c.ready) < 9) /* its child counts itself */
        sched_yield();
    /* They block right after counting themselves; a dump is a loop
     * message, handled only once they have. */
    FILE *tf = tmpfile();
    ck_assert_ptr_nonnull(tf);
    long n = corio_runtime_dump(rt, fileno(tf));
    ck_assert_int_eq(n, 10);
    static char text[1 << 16];
    rewind(tf);
    size_t len = fread(text, 1, sizeof text - 1, tf);
    text[len] = 0;
    fclose(tf);
    if (getenv("T_SHOW_DUMP"))
        fputs(text, stderr);
    ck_assert_msg(strstr(text, "loop 0: 10 live coroutines"), "%s", text);
    /* What each waits on (object and address), for how long, and until when. */
    const char *w = strstr(text, "\"waits-on-future\" waiting on future 0x");
    ck_assert_msg(w && strstr(w, " s, no deadline"), "%s", text);
    w = strstr(text, "\"sleeps\" waiting in sleep for ");
    ck_assert_msg(w && strstr(w, " s, deadline in 3"), "%s", text);
    ck_assert_msg(strstr(text, "\"in-recv\" in ring operation recv on fd "), "%s", text);
    ck_assert_msg(strstr(text, "\"joins\" joining coroutine "), "%s", text);
    ck_assert_msg(strstr(text, "\"group-child\" waiting on future 0x") && strstr(text, ", group 0x"),
                  "%s", text);
    w = strstr(text, "\"on-mutex\" waiting on sync object (mutex, condition, semaphore, event, "
                     "channel) 0x");
    ck_assert_msg(w && strstr(w, " s, deadline in 3"), "%s", text);
    ck_assert_msg(strstr(text, "\"in-wait\" waiting on corio_wait (futures) 0x"), "%s", text);
    ck_assert_msg(strstr(text, "\"joins-group\" waiting on group join 0x"), "%s", text);
    ck_assert_msg(strstr(text, "\"in-as-completed\" waiting on as_completed 0x"), "%s", text);
    ck_assert_int_eq(corio_runtime_dump(NULL, 1), -EINVAL);
    ck_assert_int_eq(corio_runtime_dump(rt, -1), -EINVAL);
    ck_assert_int_eq(corio_coro_set_name("x"), -EPERM);
    corio_group_destroy(g);
    for (int i = 0; i < 8; i++) {
        corio_future_cancel(fs[i]);
        corio_future_result(fs[i], 30, NULL);
        corio_future_unref(fs[i]);
    }
    corio_mutex_unlock(c.mu);
    corio_mutex_destroy(c.mu);
    close(c.sv[0]);
    close(c.sv[1]);
    corio_future_unref(c.never);
    corio_runtime_destroy(rt);
}
END_TEST

/* A coroutine blocked three calls deep in functions of this file. No
 * tail calls (each does something after its call) and no inlining, so
 * each keeps its frame; static, so only the full symbol table names them
 * (the test is not linked with -rdynamic). */
static atomic_int deep_returns;

/* GCC's noipa also stops clones and interprocedural changes of the
 * frame; clang has no such attribute and does not clone static functions
 * whose address is not taken, so noinline suffices there. */
#if defined(__clang__)
#define T_KEEP_FRAME __attribute__((noinline))
#else
#define T_KEEP_FRAME __attribute__((noinline, noipa))
#endif

T_KEEP_FRAME static int t_deep_3(corio_future *never) {
    int r = corio_future_result(never, -1, NULL);
    atomic_fetch_add(&deep_returns, 1);
    return r;
}

T_KEEP_FRAME static int t_deep_2(corio_future *never) {
    int r = t_deep_3(never);
    atomic_fetch_add(&deep_returns, 1);
    return r;
}

T_KEEP_FRAME static int t_deep_1(corio_future *never) {
    int r = t_deep_2(never);
    atomic_fetch_add(&deep_returns, 1);
    return r;
}

static int d_deep(void *arg, corio_value *out) {
    (void)out;
    dump_ctx *c = arg;
    corio_coro_set_name("deep");
    atomic_fetch_add(&c->ready, 1);
    int r = t_deep_1(c->never);
    return r < 0 ? r : -EIO; /* not a tail call: d_deep keeps its frame */
}

/* The dump of rt as text (static buffer). */
static const char *t_dump_text(corio_runtime *rt, long want) {
    static char text[1 << 16];
    FILE *tf = tmpfile();
    ck_assert_ptr_nonnull(tf);
    ck_assert_int_eq(corio_runtime_dump(rt, fileno(tf)), want);
    rewind(tf);
    size_t len = fread(text, 1, sizeof text - 1, tf);
    text[len] = 0;
    fclose(tf);
    if (getenv("T_SHOW_DUMP"))
        fputs(text, stderr);
    return text;
}

/* The lines of coroutine `name`'s entry (up to the next coroutine). */
static const char *t_entry(const char *text, const char *name, char *buf, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\" ", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p, "no %s in:\n%s", key, text);
    const char *end = strstr(p, "\n  coroutine ");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    ck_assert_uint_lt(n, cap);
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

START_TEST(test_dump_full_backtrace) {
    corio_runtime *rt = t_rt(1);
    dump_ctx c = {0};
    c.never = corio_future_create();
    atomic_store(&deep_returns, 0);
    corio_future *f = t_spawn(rt, 0, d_deep, &c);
    while (atomic_load(&c.ready) < 1)
        sched_yield();
    char e[4096];
    t_entry(t_dump_text(rt, 1), "deep", e, sizeof e);
#if defined(CORIO_HAVE_LIBUNWIND) && defined(__x86_64__)
    /* Innermost first: the wait, then the three frames in order, then the
     * coroutine's function; "module+0xOFF (symbol+0xOFF)". */
    const char *w = strstr(e, " (corio_future_result+0x");
    const char *d3 = strstr(e, " (t_deep_3+0x"), *d2 = strstr(e, " (t_deep_2+0x");
    const char *d1 = strstr(e, " (t_deep_1+0x"), *top = strstr(e, " (d_deep+0x");
    ck_assert_msg(w && d3 && d2 && d1 && top && w < d3 && d3 < d2 && d2 < d1 && d1 < top,
                  "frames missing or out of order:\n%s", e);
    ck_assert_msg(strstr(e, "      test_dump+0x"), "%s", e);
#elif defined(__x86_64__)
    /* The frame-pointer walk: the first frame at least. */
    ck_assert_msg(strstr(e, "\n      "), "%s", e);
#endif
    /* CORIO_DUMP_BACKTRACE=none: the state line alone. */
    setenv("CORIO_DUMP_BACKTRACE", "none", 1);
    t_entry(t_dump_text(rt, 1), "deep", e, sizeof e);
    ck_assert_msg(!strstr(e, "\n      "), "%s", e);
    /* fp: the frame-pointer walk, at least the first frame (x86-64: the
     * only switch frame the dump knows). */
    setenv("CORIO_DUMP_BACKTRACE", "fp", 1);
    t_entry(t_dump_text(rt, 1), "deep", e, sizeof e);
#if defined(__x86_64__)
    ck_assert_msg(strstr(e, "\n      "), "%s", e);
#endif
    unsetenv("CORIO_DUMP_BACKTRACE");
    corio_future_cancel(f);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), -ECANCELED);
    ck_assert_int_eq(atomic_load(&deep_returns), 3);
    corio_future_unref(f);
    corio_future_unref(c.never);
    corio_runtime_destroy(rt);
}
END_TEST

/* A dump must not fault on a corrupt stack. A coroutine of the same loop
 * (so the victim is suspended and nothing else runs) overwrites the
 * victim's stack above its saved stack pointer, dumps, and puts the bytes
 * back before the victim runs again. Three kinds of junk: non-canonical
 * words, an address inside a function (valid unwind info, wrong frames),
 * and pointers into the stack itself, each one word higher. */
typedef struct corrupt_ctx {
    corio_runtime *rt;
    corio_future *never;
    corio__coro *victim; /* set by the victim before it blocks */
    long dumped[3];      /* each dump's result */
    int intact;          /* the victim's name line was in each dump */
} corrupt_ctx;

static int d_victim(void *arg, corio_value *out) {
    (void)out;
    corrupt_ctx *c = arg;
    corio_coro_set_name("victim");
    c->victim = corio__tls_coro;
    return t_deep_1(c->never);
}

/* Fill [lo, hi) but the victim's parker, which the dump reads (what it
 * waits on). */
__attribute__((no_sanitize("address"))) static void t_fill(uintptr_t lo, uintptr_t hi,
                                                           const void *keep, int kind) {
    uintptr_t k = (uintptr_t)keep;
    for (uintptr_t a = lo; a + 8 <= hi; a += 8) {
        if (a + 8 > k && a < k + sizeof(corio__parker))
            continue;
        uintptr_t v = kind == 0   ? (uintptr_t)0x4141414141414141ULL
                      : kind == 1 ? (uintptr_t)&corio_sleep + 9
                                  : a + 8;
        *(volatile uintptr_t *)a = v;
    }
}

__attribute__((no_sanitize("address"))) static void t_copy(volatile unsigned char *to,
                                                           const volatile unsigned char *from,
                                                           size_t n) {
    for (size_t i = 0; i < n; i++)
        to[i] = from[i];
}

static int d_corrupter(void *arg, corio_value *out) {
    (void)out;
    corrupt_ctx *c = arg;
    /* The victim was spawned first on this loop: it has run and blocked
     * before this one starts, in practice; the loop makes sure. */
    while (!c->victim || !c->victim->parker)
        corio_sleep(0.001);
    const corio__stack *st = c->victim->fiber.stack;
    uintptr_t hi = (uintptr_t)st->lo + st->size;
    /* From the saved rbp and return address of the switch frame up. */
    uintptr_t from = (uintptr_t)c->victim->fiber.ctx.sp + 0x30;
    size_t n = hi - from;
    unsigned char *save = malloc(n);
    if (!save)
        return -ENOMEM;
    t_copy(save, (unsigned char *)from, n);
    c->intact = 1;
    for (int kind = 0; kind < 3; kind++) {
        t_fill(from, hi, c->victim->parker, kind);
        FILE *tf = tmpfile();
        c->dumped[kind] = tf ? corio_runtime_dump(c->rt, fileno(tf)) : -ENOMEM;
        if (tf) {
            char text[8192];
            rewind(tf);
            size_t len = fread(text, 1, sizeof text - 1, tf);
            text[len] = 0;
            if (!strstr(text, "\"victim\" waiting on future"))
                c->intact = 0;
            if (getenv("T_SHOW_DUMP"))
                fputs(text, stderr);
            fclose(tf);
        }
    }
    t_copy((unsigned char *)from, save, n);
    free(save);
    return 0;
}

START_TEST(test_dump_corrupt_stack) {
    corio_runtime *rt = t_rt(1);
    corrupt_ctx c = {.rt = rt};
    c.never = corio_future_create();
    atomic_store(&deep_returns, 0);
    corio_future *v = t_spawn(rt, 0, d_victim, &c);
    /* Spawned after the victim on the same loop: it runs once the victim
     * has blocked (a loop runs its coroutines one at a time, in order). */
    corio_future *k = t_spawn(rt, 0, d_corrupter, &c);
    ck_assert_int_eq(corio_future_result(k, 30, NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(c.dumped[i], 2);
    ck_assert(c.intact);
    /* The stack was put back: the victim unwinds normally. */
    corio_future_cancel(v);
    ck_assert_int_eq(corio_future_result(v, 30, NULL), -ECANCELED);
    ck_assert_int_eq(atomic_load(&deep_returns), 3);
    corio_future_unref(v);
    corio_future_unref(k);
    corio_future_unref(c.never);
    corio_runtime_destroy(rt);
}
END_TEST

START_TEST(test_dump_on_signal) {
    corio_runtime *rt = t_rt(1);
    dump_ctx c = {0};
    c.never = corio_future_create();
    corio_future *f = t_spawn(rt, 0, d_future, &c);
    while (atomic_load(&c.ready) < 1)
        sched_yield();
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(corio_runtime_dump_on_signal(rt, SIGUSR1, p[1]), 0);
    ck_assert_int_eq(corio_runtime_dump_on_signal(rt, SIGUSR1, p[1]), -EBUSY);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    static char text[8192];
    size_t len = 0;
    while (!strstr(text, "waits-on-future") && len < sizeof text - 1) {
        ssize_t r = corio_read(p[0], text + len, sizeof text - 1 - len, -1, 30);
        ck_assert_int_gt(r, 0);
        len += (size_t)r;
        text[len] = 0;
    }
    corio_future_cancel(f);
    corio_future_result(f, 30, NULL);
    corio_future_unref(f);
    corio_future_unref(c.never);
    corio_runtime_destroy(rt); /* stops the dumper, restores SIGUSR1 */
    close(p[0]);
    close(p[1]);
}
END_TEST

/* ---- stall watchdog ------------------------------------------------------ */

/* The spinner blocks its loop three calls deep (no inlining, no tail
 * calls); each level records the return address of its call, which the
 * stall report's backtrace must show, innermost first. */
static void *spin_ra[3];

T_KEEP_FRAME static int t_spin_3(void) {
    spin_ra[2] = __builtin_return_address(0);
    int64_t until = corio_now_ns() + 600000000;
    while (corio_now_ns() < until) {
    } /* blocks its loop on purpose */
    return atomic_fetch_add(&deep_returns, 1);
}

T_KEEP_FRAME static int t_spin_2(void) {
    spin_ra[1] = __builtin_return_address(0);
    int r = t_spin_3();
    atomic_fetch_add(&deep_returns, 1);
    return r;
}

T_KEEP_FRAME static int t_spin_1(void) {
    spin_ra[0] = __builtin_return_address(0);
    int r = t_spin_2();
    atomic_fetch_add(&deep_returns, 1);
    return r;
}

static int spins(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_coro_set_name("spinner");
    int r = t_spin_1();
    return r < 0 ? r : 0;
}

static int yields_politely(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int64_t until = corio_now_ns() + 600000000;
    while (corio_now_ns() < until)
        corio_sleep(0.0005);
    return 0;
}

START_TEST(test_stall_detector) {
    corio_runtime *rt = t_rt(1);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(corio_runtime_stall_watch(rt, 0, p[1]), -EINVAL);
    ck_assert_int_eq(corio_runtime_stall_watch(rt, 0.1, p[1]), 0);
    ck_assert_int_eq(corio_runtime_stall_watch(rt, 0.1, p[1]), -EBUSY);
    /* A polite coroutine first: nothing reported. */
    corio_future *f = t_spawn(rt, 0, yields_politely, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    corio_future_unref(f);
    static char text[4096];
    ssize_t n = read(p[0], text, sizeof text - 1);
    ck_assert_msg(n < 0 || !strstr(text, "without yielding"), "reported a yielding coroutine");
    /* A busy one: reported with its id. */
    f = t_spawn(rt, 0, spins, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    corio_future_unref(f);
    int64_t until = corio_now_ns() + 10000000000;
    size_t len = 0;
    text[0] = 0;
    while (!strstr(text, "backtrace") && corio_now_ns() < until) {
        n = read(p[0], text + len, sizeof text - 1 - len);
        if (n > 0) {
            len += (size_t)n;
            text[len] = 0;
        } else {
            sched_yield();
        }
    }
    ck_assert_msg(strstr(text, "corio: stall: loop 0: coroutine "), "%s", text);
    ck_assert_msg(strstr(text, " \"spinner\" has run for over 0.100 s"), "%s", text);
    /* Then the running coroutine's backtrace, taken on its own thread
     * (SIGURG): frames as backtrace_symbols_fd writes them, "binary(+0x...)
     * [0x...]", down to the three return addresses of the spinner's chain.
     * TSan delivers signals only at its interception points and may miss
     * the 200 ms window: there the report may say so instead. */
    char want[3][32];
    for (int i = 0; i < 3; i++)
        snprintf(want[i], sizeof want[i], "[%p]\n", spin_ra[i]);
    until = corio_now_ns() + 10000000000;
    while (!strstr(text, "no backtrace") && corio_now_ns() < until &&
           !(strstr(text, want[0]) && strstr(text, want[1]) && strstr(text, want[2]))) {
        n = read(p[0], text + len, sizeof text - 1 - len);
        if (n > 0) {
            len += (size_t)n;
            text[len] = 0;
        } else {
            t_sleep(0.01);
        }
    }
#if defined(__SANITIZE_THREAD__)
    ck_assert_msg(strstr(text, "backtrace"), "%s", text);
#else
    ck_assert_msg(strstr(text, "backtrace of the running coroutine (innermost first):\n"), "%s",
                  text);
    ck_assert_msg(strstr(text, "test_dump") && strstr(text, "[0x"), "%s", text);
    /* The whole chain, through the signal frame onto the coroutine's
     * stack: the three return addresses, innermost first. */
    const char *at[3];
    for (int i = 0; i < 3; i++) {
        at[i] = strstr(text, want[i]);
        ck_assert_msg(at[i], "no frame %s in:\n%s", want[i], text);
    }
    ck_assert_msg(at[2] < at[1] && at[1] < at[0], "frames out of order:\n%s", text);
#endif
    corio_runtime_destroy(rt); /* stops the watchdog */
    close(p[0]);
    close(p[1]);
}
END_TEST

/* The ring stall: one run-queue pass that does not end. Twenty
 * coroutines made ready together, each running 40 ms without yielding
 * (under the 100 ms threshold, so none is a stall by itself): the pass
 * takes 800 ms, during which the loop enters no ring. And coroutines that
 * yield to each other end a pass at every turn: not reported, though the
 * loop enters no ring either (nothing is in flight). */
static int spin_40ms(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int64_t until = corio_now_ns() + 40000000;
    while (corio_now_ns() < until) {
    }
    return 0;
}

static int spawn_spinners(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_future *fs[20];
    for (int i = 0; i < 20; i++) {
        int err = 0;
        if (!(fs[i] = corio_spawn(spin_40ms, NULL, &err)))
            return err;
    }
    for (int i = 0; i < 20; i++) {
        corio_future_result(fs[i], -1, NULL);
        corio_future_unref(fs[i]);
    }
    return 0;
}

static int yields_to_other(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    int64_t until = corio_now_ns() + 400000000;
    while (corio_now_ns() < until)
        corio_yield();
    return 0;
}

/* Everything readable on fd now. */
static size_t t_drain_fd(int fd, char *text, size_t len, size_t cap) {
    for (;;) {
        ssize_t n = read(fd, text + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    text[len] = 0;
    return len;
}

START_TEST(test_stall_ring_pass) {
    corio_runtime *rt = t_rt(1);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    ck_assert_int_eq(corio_runtime_stall_watch(rt, 0.1, p[1]), 0);
    static char text[4096];
    corio_future *a = t_spawn(rt, 0, yields_to_other, NULL);
    corio_future *b = t_spawn(rt, 0, yields_to_other, NULL);
    ck_assert_int_eq(corio_future_result(a, 30, NULL), 0);
    ck_assert_int_eq(corio_future_result(b, 30, NULL), 0);
    corio_future_unref(a);
    corio_future_unref(b);
    size_t len = t_drain_fd(p[0], text, 0, sizeof text);
    ck_assert_msg(!strstr(text, "ring not entered"), "yielding coroutines reported:\n%s", text);
    corio_future *f = t_spawn(rt, 0, spawn_spinners, NULL);
    ck_assert_int_eq(corio_future_result(f, 30, NULL), 0);
    corio_future_unref(f);
    int64_t until = corio_now_ns() + 10000000000;
    while (!strstr(text, "ring not entered") && corio_now_ns() < until) {
        len = t_drain_fd(p[0], text, len, sizeof text);
        if (!strstr(text, "ring not entered"))
            t_sleep(0.01);
    }
    ck_assert_msg(strstr(text, "corio: stall: loop 0: busy, ring not entered for over 0.100 s "
                               "(one pass over its ready coroutines has not ended"),
                  "%s", text);
    corio_runtime_destroy(rt);
    close(p[0]);
    close(p[1]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("dump");
    TCase *tc = tcase_create("dump");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dump_each_kind_of_wait);
    tcase_add_test(tc, test_dump_full_backtrace);
    tcase_add_test(tc, test_dump_corrupt_stack);
    tcase_add_test(tc, test_dump_on_signal);
    tcase_add_test(tc, test_stall_detector);
    tcase_add_test(tc, test_stall_ring_pass);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
