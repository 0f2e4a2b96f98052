/* Helpers shared by the test suites.
 *
 * Everything here is static: each suite is one translation unit. Helpers are
 * prefixed t_ (see STYLE.md). Gates are POSIX semaphores: a test orders
 * events with them, never with sleeps; t_sleep is only for proving that
 * something does NOT happen within a generous time. */
#ifndef CORIO_T_HELPERS_H
#define CORIO_T_HELPERS_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "corio.h"
#ifdef CORIO_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* Seconds on CLOCK_MONOTONIC. */
static inline double t_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void t_sleep(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* How much to scale the big loops (stress, million-item map) down by.
 * CORIO_TEST_SCALE (e.g. 0.01) wins when set; otherwise slow runtimes are
 * detected: valgrind 0.01, TSan 0.05, ASan 0.25, else 1. The Makefile's
 * sanitizer and valgrind targets may set CORIO_TEST_SCALE explicitly. */
static inline double t_scale_factor(void) {
    const char *e = getenv("CORIO_TEST_SCALE");
    if (e && *e) {
        double s = strtod(e, NULL);
        if (s > 0)
            return s;
    }
#ifdef CORIO_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND)
        return 0.01;
#endif
#if defined(__SANITIZE_THREAD__)
    return 0.05;
#elif defined(__SANITIZE_ADDRESS__)
    return 0.25;
#else
    return 1.0;
#endif
}

/* n scaled by t_scale_factor, at least `min`. */
static inline size_t t_scale(size_t n, size_t min) {
    double v = (double)n * t_scale_factor();
    size_t r = v >= (double)n ? n : (size_t)v;
    return r < min ? min : r;
}

/* Number of threads of this process (entries of /proc/self/task). */
static inline int t_count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Calls fn(tid, comm, ctx) for each thread of this process (tid as a string,
 * comm its name) until fn returns nonzero. */
static inline void t_each_thread(int (*fn)(const char *tid, const char *comm, void *ctx),
                                 void *ctx) {
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread exited meanwhile */
        int got = fgets(comm, sizeof comm, f) != NULL;
        fclose(f);
        if (!got)
            continue;
        comm[strcspn(comm, "\n")] = '\0';
        if (fn(e->d_name, comm, ctx))
            break;
    }
    closedir(d);
}

typedef struct t_named {
    const char *name;
    int prefix_only;
    int n;
} t_named;

static inline int t_named_match(const char *tid, const char *comm, void *ctx) {
    (void)tid;
    t_named *c = ctx;
    size_t l = strlen(c->name);
    if (c->prefix_only)
        c->n += strncmp(comm, c->name, l) == 0 && comm[l] == '_';
    else
        c->n += strcmp(comm, c->name) == 0;
    return 0;
}

/* How many threads of this process are named exactly `name`, or, with
 * `prefix_only`, named `name` followed by "_" and anything (a pool's
 * workers). Counting by name ignores helper threads a sanitizer runtime
 * starts on its own (TSan's background thread appears lazily). */
static inline int t_count_named_ex(const char *name, int prefix_only) {
    t_named c = {name, prefix_only, 0};
    t_each_thread(t_named_match, &c);
    return c.n;
}

static inline int t_count_named(const char *name) { return t_count_named_ex(name, 0); }
/* Workers of pools using thread name prefix `prefix`. */
static inline int t_count_workers(const char *prefix) { return t_count_named_ex(prefix, 1); }
/* t_count_workers(prefix) once it equals `want`, or its value after 10 s.
 * For counts right after a pool joined its workers: pthread_join returns
 * when the kernel clears the thread's tid, which comes before the task
 * leaves /proc/self/task, so for a moment a joined worker is still listed.
 * There is no event to wait for, hence the polling. */
static inline int t_count_workers_settled(const char *prefix, int want) {
    int n = t_count_workers(prefix);
    for (int i = 0; i < 10000 && n != want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        n = t_count_workers(prefix);
    }
    return n;
}

/* Spawn fn(arg) as a coroutine on loop `loop` of rt, or fail the test. */
static inline corio_future *t_spawn(corio_runtime *rt, int loop, corio_fn fn, void *arg) {
    int err = 1;
    corio_future *f = corio_spawn_on(rt, loop, fn, arg, NULL, &err);
    ck_assert_msg(f != NULL, "spawn failed: %s", corio_strerror(err));
    return f;
}

/* Gate helpers: a semaphore starting at 0. */
static inline void t_gate_init(sem_t *s) { ck_assert_int_eq(sem_init(s, 0, 0), 0); }
static inline void t_gate_open(sem_t *s, int n) {
    for (int i = 0; i < n; i++)
        sem_post(s);
}
static inline void t_gate_pass(sem_t *s) {
    while (sem_wait(s) == -1 && errno == EINTR) {
    }
}
/* Pass the gate or fail after `timeout` seconds (so a broken gate cannot
 * hang a test until the Check timeout without saying why). */
static inline int t_gate_pass_within(sem_t *s, double timeout) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + timeout;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    int r;
    while ((r = sem_timedwait(s, &ts)) == -1 && errno == EINTR) {
    }
    return r == 0;
}

/* Run a Check suite; returns the process exit status. */
static inline int t_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* CORIO_T_HELPERS_H */
