/* Fault injection that needs no build option: process-pool workers
 * SIGKILLed at random points of a long run, a thread-pool initializer that
 * fails for one worker started mid-run, corrupt frames sent by a live
 * worker, and a runtime whose rings have 4 entries under hundreds of
 * concurrent pipe transfers.
 *
 * The property every test checks: each future completes (with its result
 * or the documented failure), none hangs (every wait is bounded), nothing
 * leaks (the suite runs under ASan, UBSan and TSan), and no byte or
 * completion is lost. Random choices come from a seeded generator whose
 * seed is printed, so a failure can be replayed (CORIO_FAULT_SEED). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"
#include "t_tasks.h"
#include "../executors/wire.h"

#define T_LONG 60.0

/* xorshift64*, seeded per test. */
static uint64_t t_rng_state;

static void t_seed(const char *what) {
    const char *e = getenv("CORIO_FAULT_SEED");
    t_rng_state = e && *e ? strtoull(e, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() * 2654435761u;
    if (!t_rng_state)
        t_rng_state = 1;
    fprintf(stderr, "%s: CORIO_FAULT_SEED=%llu\n", what, (unsigned long long)t_rng_state);
}

static uint64_t t_rng(void) {
    t_rng_state ^= t_rng_state >> 12;
    t_rng_state ^= t_rng_state << 25;
    t_rng_state ^= t_rng_state >> 27;
    return t_rng_state * 2685821657736338717ull;
}

static size_t t_below(size_t n) { return n ? (size_t)(t_rng() % n) : 0; }

static void t_no_children(void) {
    errno = 0;
    pid_t r = waitpid(-1, NULL, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD, "a child remains (waitpid -> %d)", (int)r);
}

/* ---- dying workers ---------------------------------------------------------- */

/* In a worker: spin for arg microseconds, then return our pid and our
 * parent's (the fork server's) packed in one word. */
static int t_pid_job(void *arg, corio_value *out) {
    int64_t until = corio__now_ns() + (int64_t)(uintptr_t)arg * 1000;
    while (corio__now_ns() < until) {
    }
    out->ptr = (void *)(((uintptr_t)getppid() << 32) | (uintptr_t)getpid());
    return 0;
}

/* The parent of `pid` per /proc, or -1. */
static pid_t t_ppid_of(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    int ppid = -1;
    char state;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

/* The killer thread: each post of `go` kills the worker last seen. */
typedef struct t_killer {
    sem_t go;              /* one post per kill */
    _Atomic uint64_t last; /* (ppid << 32) | pid of the worker last seen */
    atomic_int stop;       /* set, then go posted, to end the thread */
    int sent;              /* kills delivered */
} t_killer;

static void *t_killer_main(void *arg) {
    t_killer *k = arg;
    for (;;) {
        if (!t_gate_pass_within(&k->go, 120.0))
            break;
        if (atomic_load(&k->stop))
            break;
        uint64_t w = atomic_load(&k->last);
        pid_t pid = (pid_t)(w & 0xffffffffu), ppid = (pid_t)(w >> 32);
        /* Only a live child of the pool's fork server: a reaped pid may
         * have been given to an unrelated process. */
        if (pid > 0 && t_ppid_of(pid) == ppid && kill(pid, SIGKILL) == 0)
            k->sent++;
    }
    return NULL;
}

static void t_dying_workers(bool replace) {
    t_seed(replace ? "dying workers (replace)" : "dying workers (broken pool)");
    size_t n = t_scale(10000, 400);
    int kills = replace ? 12 : 3;
    corio_process_pool_options o = {.max_workers = 2, .replace_crashed_workers = replace};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    corio_future **fs = calloc(n, sizeof *fs);
    /* Kill points: completion indices at which the killer is sent. */
    size_t *at = calloc((size_t)kills, sizeof *at);
    for (int i = 0; i < kills; i++)
        at[i] = t_below(n);

    t_killer k = {.sent = 0};
    t_gate_init(&k.go);
    atomic_init(&k.last, 0);
    atomic_init(&k.stop, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, t_killer_main, &k), 0);

    /* Submit and consume in a sliding window, so that the kill points,
     * taken at random consumption indices, land while jobs are running. */
    enum { W = 256 };
    size_t refused = 0, ok = 0, broken = 0;
    for (size_t i = 0; i < n + W; i++) {
        if (i < n) {
            int err = 0;
            /* Mostly instant jobs, some up to 200 us: kills land in jobs. */
            uintptr_t us = t_below(8) == 0 ? t_below(200) : 0;
            fs[i] = corio_executor_submit(ex, t_pid_job, (void *)us, &err);
            if (!fs[i]) {
                ck_assert_msg(!replace && err == CORIO_EBROKEN_PROCESS_POOL, "submit %zu: %s", i,
                              corio_error_name(err));
                refused++;
            }
        }
        if (i < W || !fs[i - W])
            continue;
        size_t c = i - W;
        void *v = NULL;
        int r = corio_future_result(fs[c], T_LONG, &v);
        ck_assert_msg(r == 0 || r == CORIO_EBROKEN_PROCESS_POOL, "job %zu: %s", c,
                      corio_error_name(r));
        if (r == 0) {
            ok++;
            atomic_store(&k.last, (uint64_t)(uintptr_t)v);
        } else {
            broken++;
        }
        for (int j = 0; j < kills; j++)
            if (at[j] == c)
                sem_post(&k.go);
        corio_future_unref(fs[c]);
    }
    atomic_store(&k.stop, 1);
    sem_post(&k.go);
    pthread_join(th, NULL);
    fprintf(stderr, "  %zu jobs: %zu ok, %zu broken, %zu refused, %d kills delivered\n", n, ok,
            broken, refused, k.sent);
    ck_assert_uint_eq(ok + broken + refused, n);
    if (replace) {
        /* A death fails only the job the worker was running. */
        ck_assert_uint_le(broken, (size_t)k.sent);
        ck_assert(!corio_executor_broken(ex));
        /* The last kill may still be on its way through the fork server:
         * a job sent to that worker meanwhile fails as the job it was
         * running. Each such failure uses up one delivered kill, so within
         * k.sent + 1 submits one must succeed, and the pool stays usable. */
        int r = -1;
        for (int tries = 0; tries <= k.sent && r != 0; tries++) {
            corio_future *f = corio_executor_submit(ex, t_pid_job, NULL, NULL);
            ck_assert_ptr_nonnull(f);
            r = corio_future_result(f, T_LONG, NULL);
            ck_assert_msg(r == 0 || r == CORIO_EBROKEN_PROCESS_POOL, "%s", corio_error_name(r));
            corio_future_unref(f);
        }
        ck_assert_int_eq(r, 0);
        ck_assert(!corio_executor_broken(ex));
    } else if (k.sent > 0) {
        /* The last kill may have landed after the last job, on an idle
         * worker, and its exit still be on its way through the fork
         * server: the pool breaks when the collector hears of it. A job
         * submitted meanwhile (it may reach the surviving worker) must
         * fail then, not run to its end; one submitted after is refused. */
        int err = 0;
        void *two_minutes = (void *)(uintptr_t)(120 * 1000000u);
        corio_future *f = corio_executor_submit(ex, t_pid_job, two_minutes, &err);
        if (f) {
            ck_assert_int_eq(corio_future_result(f, T_LONG, NULL), CORIO_EBROKEN_PROCESS_POOL);
            corio_future_unref(f);
        } else {
            ck_assert_int_eq(err, CORIO_EBROKEN_PROCESS_POOL);
        }
        ck_assert(corio_executor_broken(ex));
        ck_assert_ptr_null(corio_executor_submit(ex, t_pid_job, NULL, &err));
        ck_assert_int_eq(err, CORIO_EBROKEN_PROCESS_POOL);
    }
    corio_executor_destroy(ex);
    t_no_children();
    sem_destroy(&k.go);
    free(at);
    free(fs);
}

START_TEST(test_dying_workers_replaced) { t_dying_workers(true); }
END_TEST

START_TEST(test_dying_workers_break_pool) { t_dying_workers(false); }
END_TEST

/* ---- failing initializer mid-run (thread pool) ------------------------------- */

static atomic_int t_init_calls;

/* Fails for the third worker started, succeeds for the others. */
static int t_init_third_fails(void *arg) {
    (void)arg;
    if (atomic_fetch_add(&t_init_calls, 1) + 1 == 3)
        return corio_task_fail(-EMFILE, "third worker could not open its resource");
    return 0;
}

START_TEST(test_initializer_fails_mid_run) {
    enum { Q = 50 };
    atomic_store(&t_init_calls, 0);
    corio_thread_pool_options o = {.max_workers = 3, .initializer = t_init_third_fails,
                                   .thread_name_prefix = "fault-init"};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_thread_pool_create(&o, &ex), 0);
    t_ctl c;
    t_ctl_init(&c);
    /* A finished result, from worker 1. */
    corio_future *first = corio_executor_submit(ex, t_inc, (void *)41, NULL);
    ck_assert_int_eq(corio_future_result(first, T_LONG, NULL), 0);
    /* Two long jobs: worker 1 takes the first; the second finds nobody idle
     * and starts worker 2 (lazy start). */
    corio_future *g1 = corio_executor_submit(ex, t_gated, &c, NULL);
    ck_assert(t_gate_pass_within(&c.started, T_LONG));
    corio_future *g2 = corio_executor_submit(ex, t_gated, &c, NULL);
    ck_assert(t_gate_pass_within(&c.started, T_LONG));
    ck_assert_int_eq(atomic_load(&t_init_calls), 2);
    /* Load grows: the next submit starts worker 3, whose initializer fails
     * and breaks the pool. Everything queued meanwhile fails. */
    corio_future *q[Q];
    int nq = 0, err = 0;
    for (uintptr_t i = 0; i < Q; i++) {
        corio_future *f = corio_executor_submit(ex, t_inc, (void *)i, &err);
        if (!f) {
            ck_assert_int_eq(err, CORIO_EBROKEN_THREAD_POOL);
            break;
        }
        q[nq++] = f;
    }
    ck_assert_int_ge(nq, 1); /* the submit that started worker 3 was accepted */
    for (int i = 0; i < nq; i++) {
        const char *msg = NULL;
        ck_assert_int_eq(corio_future_exception(q[i], T_LONG, &msg), CORIO_EBROKEN_THREAD_POOL);
        ck_assert_msg(strstr(msg, "third worker could not open its resource"), "message: %s", msg);
        corio_future_unref(q[i]);
    }
    ck_assert(corio_executor_broken(ex));
    ck_assert_ptr_null(corio_executor_submit(ex, t_inc, NULL, &err));
    ck_assert_int_eq(err, CORIO_EBROKEN_THREAD_POOL);
    static void *items[2];
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_inc, items, 2, NULL, &m), CORIO_EBROKEN_THREAD_POOL);
    /* The running jobs finish normally; the finished result stays readable. */
    t_gate_open(&c.gate, 2);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(g1, T_LONG, &v), 0);
    void *w1 = v; /* t_gated's value: the worker thread it ran on */
    ck_assert_int_eq(corio_future_result(g2, T_LONG, &v), 0);
    ck_assert_ptr_nonnull(w1);
    ck_assert_ptr_ne(w1, v); /* two workers ran them (the lazy start above) */
    ck_assert_int_eq(corio_future_result(first, 0, &v), 0);
    ck_assert_ptr_eq(v, (void *)42);
    ck_assert_int_eq(atomic_load(&t_init_calls), 3);
    corio_future_unref(first);
    corio_future_unref(g1);
    corio_future_unref(g2);
    ck_assert_int_eq(corio_executor_shutdown(ex, true, false), 0);
    ck_assert_int_eq(t_count_workers_settled("fault-init", 0), 0);
    corio_executor_destroy(ex);
    t_ctl_fini(&c);
}
END_TEST

/* ---- corrupt frames from a live worker ----------------------------------------
 * test_process_pool covers a garbage header (bad magic) and a frame cut by
 * the worker's exit. These send frames whose header is well formed but
 * whose content is not, through the real socket and collector. */

/* A result header answering a job that was never sent (wrong seq), then
 * the real answer. */
static int t_wrong_seq(void *arg, corio_value *out) {
    (void)out;
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_ONE,
                        .seq = (uint32_t)(uintptr_t)arg + 1000};
    ssize_t r = write(corio__pp_worker_fd, &h, sizeof h);
    (void)r;
    return 0;
}

/* A header whose lengths are over the limits. */
static int t_huge_lengths(void *arg, corio_value *out) {
    (void)out;
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_ONE,
                        .seq = (uint32_t)(uintptr_t)arg, .len = UINT64_MAX - 8,
                        .msglen = 16};
    ssize_t r = write(corio__pp_worker_fd, &h, sizeof h);
    (void)r;
    return 0;
}

/* A batch answer to a single job. */
static int t_batch_for_single(void *arg, corio_value *out) {
    (void)out;
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_BATCH,
                        .seq = (uint32_t)(uintptr_t)arg, .ptr = 1};
    ssize_t r = write(corio__pp_worker_fd, &h, sizeof h);
    (void)r;
    return 0;
}

/* A well-formed RES_ONE header announcing a message, followed by fewer
 * message bytes than announced, then the worker stays alive (the parent
 * must wait for the rest, not read past what arrived), then dies. */
static int t_short_message(void *arg, corio_value *out) {
    (void)out;
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_ONE,
                        .seq = (uint32_t)(uintptr_t)arg, .code = -EIO, .msglen = 100};
    unsigned char buf[sizeof h + 10];
    memcpy(buf, &h, sizeof h);
    memset(buf + sizeof h, 'm', 10);
    ssize_t r = write(corio__pp_worker_fd, buf, sizeof buf);
    (void)r;
    _exit(0);
}

/* Run job `fn` on a fresh one-worker pool as its first job (seq 0), expect
 * CORIO_EPROTOCOL with `want` in the message, then check the pool still
 * works (the bad worker is replaced, the pool not broken). */
static void t_corrupt_case(corio_fn fn, const char *want) {
    corio_process_pool_options o = {.max_workers = 1};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    corio_future *f = corio_executor_submit(ex, fn, (void *)0, NULL);
    corio_future *after = corio_executor_submit(ex, t_inc, (void *)1, NULL);
    const char *msg = NULL;
    int r = corio_future_exception(f, T_LONG, &msg);
    ck_assert_msg(r == CORIO_EPROTOCOL, "%s: %s", corio_error_name(r), msg ? msg : "");
    ck_assert_msg(strstr(msg, want), "message: %s", msg);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(after, T_LONG, &v), 0);
    ck_assert_ptr_eq(v, (void *)2);
    ck_assert(!corio_executor_broken(ex));
    corio_future_unref(f);
    corio_future_unref(after);
    corio_executor_destroy(ex);
    t_no_children();
}

START_TEST(test_corrupt_frames_from_worker) {
    t_corrupt_case(t_wrong_seq, "answer to job #1000 where job #0 was expected");
    t_corrupt_case(t_huge_lengths, "over the");
    t_corrupt_case(t_batch_for_single, "batch answer to a single job");
    t_corrupt_case(t_short_message, "before end of stream");
}
END_TEST

/* A map chunk whose batch answer lies about an item's length. */
static int t_lying_batch(void *arg, corio_value *out) {
    (void)out;
    if ((uintptr_t)arg != 0)
        return 0; /* only the first item of the chunk writes */
    corio__res_item it = {.len = 1000}; /* more than the payload holds */
    corio__res_hdr h = {.magic = CORIO__RES_MAGIC, .kind = CORIO__RES_BATCH, .seq = 0,
                        .ptr = 3, .len = sizeof it + 4};
    unsigned char buf[sizeof h + sizeof it + 4];
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, &it, sizeof it);
    memcpy(buf + sizeof h + sizeof it, "abcd", 4);
    ssize_t r = write(corio__pp_worker_fd, buf, sizeof buf);
    (void)r;
    return 0;
}

START_TEST(test_corrupt_batch_from_worker) {
    corio_process_pool_options o = {.max_workers = 1};
    corio_executor *ex = NULL;
    ck_assert_int_eq(corio_process_pool_create(&o, &ex), 0);
    static void *items[6] = {(void *)0, (void *)1, (void *)2, (void *)3, (void *)4, (void *)5};
    corio_map_options mo = {.chunksize = 3};
    corio_map *m = NULL;
    ck_assert_int_eq(corio_executor_map(ex, t_lying_batch, items, 6, &mo, &m), 0);
    corio_value v;
    for (int i = 0; i < 3; i++) { /* the first chunk fails, item by item */
        ck_assert_int_eq(corio_map_next(m, &v), CORIO_EPROTOCOL);
        ck_assert_msg(strstr(corio_map_message(m), "malformed"), "message: %s",
                      corio_map_message(m));
    }
    for (int i = 0; i < 3; i++) /* the second runs on the replacement */
        ck_assert_int_eq(corio_map_next(m, &v), 1);
    ck_assert_int_eq(corio_map_next(m, &v), 0);
    corio_map_destroy(m);
    ck_assert(!corio_executor_broken(ex));
    corio_executor_destroy(ex);
    t_no_children();
}
END_TEST

/* ---- small rings ---------------------------------------------------------------- */

/* One pipe: a writer coroutine sends `total` bytes of a position-derived
 * pattern in random-sized pieces, a reader receives them in random-sized
 * pieces and checks every byte. */
typedef struct t_pipe {
    int fd[2];        /* read end, write end */
    size_t total;     /* bytes to send */
    uint64_t seed;    /* this pipe's piece sizes */
    size_t sent;      /* bytes written (writer) */
    size_t got;       /* bytes read (reader) */
    int bad;          /* first error seen, or 1 for a pattern mismatch */
} t_pipe;

static unsigned char t_pat(const t_pipe *p, size_t pos) {
    return (unsigned char)(pos * 131u + (size_t)p->fd[0] * 7u);
}

static uint64_t t_step(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int t_pipe_writer(void *arg, corio_value *out) {
    (void)out;
    t_pipe *p = arg;
    uint64_t s = p->seed | 1;
    unsigned char buf[8192];
    while (p->sent < p->total) {
        size_t n = 1 + (size_t)(t_step(&s) % sizeof buf);
        if (n > p->total - p->sent)
            n = p->total - p->sent;
        for (size_t i = 0; i < n; i++)
            buf[i] = t_pat(p, p->sent + i);
        ssize_t w;
        if (t_step(&s) % 4 == 0) {
            struct iovec iov[2] = {{buf, n / 2}, {buf + n / 2, n - n / 2}};
            w = corio_writev(p->fd[1], iov, 2, -1, T_LONG);
        } else {
            w = corio_write(p->fd[1], buf, n, -1, T_LONG);
        }
        if (w <= 0) {
            p->bad = w ? (int)w : -EIO;
            break;
        }
        p->sent += (size_t)w;
        if (t_step(&s) % 16 == 0)
            corio_yield();
    }
    corio_close(p->fd[1]);
    p->fd[1] = -1;
    return 0;
}

static int t_pipe_reader(void *arg, corio_value *out) {
    (void)out;
    t_pipe *p = arg;
    uint64_t s = (p->seed * 3) | 1;
    unsigned char buf[8192];
    for (;;) {
        size_t n = 1 + (size_t)(t_step(&s) % sizeof buf);
        ssize_t r;
        if (t_step(&s) % 4 == 0) {
            struct iovec iov[2] = {{buf, n / 2}, {buf + n / 2, n - n / 2}};
            r = corio_readv(p->fd[0], iov, 2, -1, T_LONG);
        } else {
            r = corio_read(p->fd[0], buf, n, -1, T_LONG);
        }
        if (r == 0)
            break;
        if (r < 0) {
            p->bad = (int)r;
            break;
        }
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != t_pat(p, p->got + (size_t)i) && !p->bad)
                p->bad = 1;
        p->got += (size_t)r;
    }
    return 0;
}

static void t_small_ring_run(int loops, size_t npipes, size_t bytes) {
    corio_runtime_options o = {.loops = loops, .ring_entries = 4, .no_pin = true};
    corio_runtime *rt = NULL;
    int r = corio_runtime_create(&o, &rt);
    if (r == -ENOSYS || r == -EPERM)
        return; /* no io_uring here: nothing to test (see test_io) */
    ck_assert_int_eq(r, 0);
    t_pipe *ps = calloc(npipes, sizeof *ps);
    corio_future **fs = calloc(2 * npipes, sizeof *fs);
    for (size_t i = 0; i < npipes; i++) {
        ck_assert_int_eq(pipe2(ps[i].fd, O_CLOEXEC), 0);
        ps[i].total = bytes / 2 + t_below(bytes);
        ps[i].seed = t_rng();
    }
    /* Readers first, so hundreds of reads are in flight before any write;
     * with two loops, each pipe's ends are on different loops. */
    for (size_t i = 0; i < npipes; i++) {
        int err = 0;
        fs[2 * i] = corio_spawn_on(rt, (int)(i % (size_t)loops), t_pipe_reader, &ps[i], NULL, &err);
        ck_assert_msg(fs[2 * i] != NULL, "spawn: %s", corio_error_name(err));
    }
    for (size_t i = 0; i < npipes; i++) {
        int err = 0;
        fs[2 * i + 1] =
            corio_spawn_on(rt, (int)((i + 1) % (size_t)loops), t_pipe_writer, &ps[i], NULL, &err);
        ck_assert_msg(fs[2 * i + 1] != NULL, "spawn: %s", corio_error_name(err));
    }
    for (size_t i = 0; i < 2 * npipes; i++) {
        ck_assert_msg(corio_future_result(fs[i], 120, NULL) == 0, "coroutine %zu", i);
        corio_future_unref(fs[i]);
    }
    corio_runtime_destroy(rt);
    size_t want = 0, got = 0;
    for (size_t i = 0; i < npipes; i++) {
        ck_assert_msg(ps[i].bad == 0, "pipe %zu: %s", i,
                      ps[i].bad == 1 ? "pattern mismatch" : corio_error_name(ps[i].bad));
        ck_assert_uint_eq(ps[i].sent, ps[i].total);
        ck_assert_uint_eq(ps[i].got, ps[i].total);
        want += ps[i].total;
        got += ps[i].got;
        close(ps[i].fd[0]);
    }
    ck_assert_uint_eq(got, want);
    free(ps);
    free(fs);
}

START_TEST(test_small_ring_one_loop) {
    t_seed("small ring, 1 loop");
    t_small_ring_run(1, 300, t_scale(256 * 1024, 16 * 1024));
}
END_TEST

START_TEST(test_small_ring_two_loops) {
    t_seed("small ring, 2 loops");
    t_small_ring_run(2, 300, t_scale(256 * 1024, 16 * 1024));
}
END_TEST

int main(void) {
    /* A closed pipe must give -EPIPE, never kill the suite. */
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("process_pool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_dying_workers_replaced);
    tcase_add_test(tc, test_dying_workers_break_pool);
    tcase_add_test(tc, test_corrupt_frames_from_worker);
    tcase_add_test(tc, test_corrupt_batch_from_worker);
    suite_add_tcase(s, tc);

    tc = tcase_create("thread_pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_initializer_fails_mid_run);
    suite_add_tcase(s, tc);

    tc = tcase_create("small_rings");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_small_ring_one_loop);
    tcase_add_test(tc, test_small_ring_two_loops);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
