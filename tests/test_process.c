/* Tests for corio/process.h: real child processes (/bin/sh, cat, head,
 * sleep, true), waited for from plain threads and from coroutines, with
 * and without pidfds (_i & 2: the pidfd-less fallback that polls with
 * waitid). Exit codes, deaths by signal, a megabyte through a pipe, the
 * child that never exits, programs that do not exist, env and cwd,
 * stdin's EOF, descriptors that must not leak into the child, destroy of
 * a running child (killed or detached), runtime shutdown during a wait,
 * 1000 spawns with no zombie and no descriptor leaked. Every child is
 * bounded in time and ends by its own exit or by our kill. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio.h"
#include "net/process_internal.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

static void t_mode(int i) { corio__process_force_nopidfd = (i & 2) != 0; }

static corio_runtime *t_rt(int loops) {
    corio_runtime_options o = {.loops = loops, .stack_size = 64 * 1024, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Run fn(arg) on a plain thread (i & 1 == 0) or as a coroutine (i & 1). */
static int t_run_mode(int i, corio_fn fn, void *arg) {
    if (!(i & 1))
        return fn(arg, NULL);
    corio_runtime_options o = {.loops = 1, .stack_size = 64 * 1024, .no_pin = true};
    return corio_run_with(&o, fn, arg, NULL);
}

/* No child of ours is left, not even a zombie. */
static void t_assert_no_children(void) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
    ck_assert_msg(r == -1 && errno == ECHILD, "a child is left: pid %d", (int)si.si_pid);
}

static int t_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static corio_process *t_spawn_p(const char *const argv[], const corio_process_options *o) {
    corio_process *p = NULL;
    int r = corio_process_spawn(argv, o, &p);
    ck_assert_msg(r == 0, "spawn %s: %s", argv[0], corio_strerror(r));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_gt(corio_process_pid(p), 0);
    return p;
}

/* Read fd to end of file into buf (cap bytes, NUL-terminated when it
 * fits); returns the byte count. */
static size_t t_read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        char tmp[4096]; /* coroutine stacks here are 64 KiB */
        ssize_t r = corio_read(fd, tmp, sizeof tmp, -1, 30);
        ck_assert_msg(r >= 0, "read: %s", corio_strerror((int)r));
        if (r == 0)
            break;
        if (buf && n + (size_t)r < cap)
            memcpy(buf + n, tmp, (size_t)r);
        n += (size_t)r;
    }
    if (buf && n < cap)
        buf[n] = '\0';
    return n;
}

static int t_wait_status(corio_process *p) {
    int st = -1;
    int r = corio_process_wait(p, 30, &st);
    ck_assert_msg(r == 0, "wait: %s", corio_strerror(r));
    return st;
}

/* ---- exit codes and signals --------------------------------------------------- */

static int t_exit_code_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    const char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    corio_process *p = t_spawn_p(argv, NULL);
    int st = t_wait_status(p);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 3);
    /* A second wait, and the future, see the same status. */
    int st2 = -1;
    ck_assert_int_eq(corio_process_wait(p, 0, &st2), 0);
    ck_assert_int_eq(st2, st);
    corio_future *f = corio_process_future(p);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, 0, &v), 0);
    ck_assert_int_eq((int)(intptr_t)v, st);
    ck_assert(!corio_future_cancel(f)); /* a child's exit cannot be cancelled */
    corio_future_unref(f);
    ck_assert_int_eq(corio_process_kill(p, SIGTERM), -ESRCH); /* reaped: harmless */
    corio_process_destroy(p);

    const char *killer[] = {"/bin/sh", "-c", "kill -KILL $$", NULL};
    p = t_spawn_p(killer, NULL);
    st = t_wait_status(p);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);
    corio_process_destroy(p);
    return 0;
}

START_TEST(test_exit_code_and_signal) {
    t_mode(_i);
    ck_assert_int_eq(t_run_mode(_i, t_exit_code_body, NULL), 0);
    t_assert_no_children();
}
END_TEST

/* The child that never exits: a wait times out, a kill ends it. The parent
 * has SIGTERM blocked (as for corio_signal_wait): the child must not. */
static int t_never_exits_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    const char *argv[] = {"sleep", "1000", NULL};
    corio_process *p = t_spawn_p(argv, NULL);
    double t0 = t_now();
    ck_assert_int_eq(corio_process_wait(p, 0.1, NULL), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.09);
    ck_assert_int_eq(corio_process_wait(p, 0, NULL), -ETIMEDOUT);
    ck_assert_int_eq(corio_process_kill(p, 0), 0);
    ck_assert_int_eq(corio_process_kill(p, SIGTERM), 0);
    int st = t_wait_status(p);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGTERM);
    corio_process_destroy(p);
    return 0;
}

START_TEST(test_never_exits_timeout_then_kill) {
    t_mode(_i);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    ck_assert_int_eq(corio_signal_block(&s), 0);
    ck_assert_int_eq(t_run_mode(_i, t_never_exits_body, NULL), 0);
    t_assert_no_children();
}
END_TEST

/* ---- pipes ------------------------------------------------------------------------ */

/* 1 MiB through stdout: far more than the 64 KiB pipe buffer, so the
 * child blocks until we read. */
static int t_big_stdout_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    const char *argv[] = {"head", "-c", "1048576", "/dev/zero", NULL};
    corio_process_options o = {.stdout_mode = CORIO_PROCESS_PIPE};
    corio_process *p = t_spawn_p(argv, &o);
    ck_assert_int_eq(corio_process_stdin_fd(p), -1);
    ck_assert_int_eq(corio_process_stderr_fd(p), -1);
    int fd = corio_process_stdout_fd(p);
    ck_assert_int_gt(fd, 2);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert_uint_eq(t_read_all(fd, NULL, 0), 1048576);
    int st = t_wait_status(p);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    corio_process_destroy(p);
    return 0;
}

/* stdin and stdout as buffered streams: lines written through one come
 * back through the other (cat), then end of file both ways. */
static int t_stream_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    const char *argv[] = {"cat", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_PIPE,
                               .stdout_mode = CORIO_PROCESS_PIPE};
    corio_process *p = t_spawn_p(argv, &o);
    corio_stream *in = NULL, *outs = NULL, *bad = (corio_stream *)1;
    ck_assert_int_eq(corio_process_stream(p, 0, NULL, &in), 0);
    ck_assert_int_eq(corio_process_stream(p, 1, NULL, &outs), 0);
    ck_assert_int_eq(corio_process_stdin_fd(p), -1); /* moved to the stream */
    ck_assert_int_eq(corio_process_stream(p, 0, NULL, &bad), -EBADF);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(corio_process_stream(p, 2, NULL, &bad), -EBADF); /* stderr inherited */
    ck_assert_int_eq(corio_process_stream(p, 3, NULL, &bad), -EINVAL);
    ck_assert_int_eq(corio_process_stream(NULL, 0, NULL, &bad), -EINVAL);
    ck_assert_int_eq(corio_process_stream(p, 1, NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_stream_write(in, "one\n", 4, 10), 4);
    ck_assert_int_eq(corio_stream_write(in, "two\n", 4, 10), 4);
    ck_assert_int_eq(corio_stream_flush(in, 10), 0);
    ck_assert_int_eq(corio_stream_destroy(in), 0); /* cat reads end of file */
    const char *line;
    size_t len;
    ck_assert_int_eq(corio_stream_read_line(outs, 64, &line, &len, 10), 1);
    ck_assert_str_eq(line, "one");
    ck_assert_int_eq(corio_stream_read_line(outs, 64, &line, &len, 10), 1);
    ck_assert_str_eq(line, "two");
    ck_assert_int_eq(corio_stream_read_line(outs, 64, &line, &len, 10), 0);
    ck_assert_int_eq(corio_stream_destroy(outs), 0);
    int st = t_wait_status(p);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    corio_process_destroy(p);
    return 0;
}

START_TEST(test_stdio_streams) {
    t_mode(_i);
    ck_assert_int_eq(t_run_mode(_i, t_stream_body, NULL), 0);
    t_assert_no_children();
}
END_TEST

START_TEST(test_stdout_larger_than_pipe) {
    t_mode(_i);
    ck_assert_int_eq(t_run_mode(_i, t_big_stdout_body, NULL), 0);
    t_assert_no_children();
}
END_TEST

/* stdin closed by the parent reaches EOF in the child (cat ends); the
 * child's stdout comes back whole. */
static int t_stdin_eof_body(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    const char *argv[] = {"cat", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_PIPE,
                               .stdout_mode = CORIO_PROCESS_PIPE};
    corio_process *p = t_spawn_p(argv, &o);
    ck_assert_int_eq(corio_write(corio_process_stdin_fd(p), "hello", 5, -1, 10), 5);
    ck_assert_int_eq(corio_process_close_stdin(p), 0);
    ck_assert_int_eq(corio_process_close_stdin(p), -EBADF);
    ck_assert_int_eq(corio_process_stdin_fd(p), -1);
    char buf[64];
    ck_assert_uint_eq(t_read_all(corio_process_stdout_fd(p), buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "hello");
    int st = t_wait_status(p);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    corio_process_destroy(p);
    return 0;
}

START_TEST(test_stdin_eof) {
    t_mode(_i);
    ck_assert_int_eq(t_run_mode(_i, t_stdin_eof_body, NULL), 0);
}
END_TEST

/* NULL stdin (cat sees EOF at once), stderr into stdout, env and cwd. */
START_TEST(test_null_stderr_env_cwd) {
    const char *argv[] = {"/bin/sh", "-c", "cat; printf '%s:' \"$FOO\"; pwd; echo err >&2", NULL};
    const char *env[] = {"FOO=bar", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_NULL,
                               .stdout_mode = CORIO_PROCESS_PIPE,
                               .stderr_mode = CORIO_PROCESS_STDOUT,
                               .env = env, .cwd = "/"};
    corio_process *p = t_spawn_p(argv, &o);
    char buf[128];
    t_read_all(corio_process_stdout_fd(p), buf, sizeof buf);
    ck_assert_str_eq(buf, "bar:/\nerr\n");
    ck_assert_int_eq(t_wait_status(p), 0);
    corio_process_destroy(p);

    /* NULL stdout and stderr: the child's writes vanish, it still exits 0. */
    const char *noisy[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
    corio_process_options n = {.stdout_mode = CORIO_PROCESS_NULL,
                               .stderr_mode = CORIO_PROCESS_NULL};
    p = t_spawn_p(noisy, &n);
    ck_assert_int_eq(t_wait_status(p), 0);
    corio_process_destroy(p);
    t_assert_no_children();
}
END_TEST

/* A descriptor of the parent without O_CLOEXEC does not reach the child. */
START_TEST(test_no_fd_leaks_into_child) {
    int leak = dup(STDERR_FILENO); /* dup clears FD_CLOEXEC */
    ck_assert_int_gt(leak, 2);
    char script[64];
    snprintf(script, sizeof script, "test ! -e /proc/self/fd/%d", leak);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    corio_process *p = t_spawn_p(argv, NULL);
    int st = t_wait_status(p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fd %d leaked into the child", leak);
    corio_process_destroy(p);
    close(leak);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_spawn_errors) {
    corio_process *p = (corio_process *)(uintptr_t)1;
    const char *none[] = {"/nonexistent/corio-no-such-program", NULL};
    ck_assert_int_eq(corio_process_spawn(none, NULL, &p), -ENOENT);
    ck_assert_ptr_null(p);
    const char *nopath[] = {"corio-no-such-program-in-path", NULL};
    ck_assert_int_eq(corio_process_spawn(nopath, NULL, &p), -ENOENT);
    const char *notexec[] = {"/etc/passwd", NULL};
    ck_assert_int_eq(corio_process_spawn(notexec, NULL, &p), -EACCES);
    const char *empty_name[] = {"", NULL};
    ck_assert_int_eq(corio_process_spawn(empty_name, NULL, &p), -ENOENT);
    const char *ok[] = {"true", NULL};
    corio_process_options badcwd = {.cwd = "/nonexistent/corio-dir"};
    ck_assert_int_eq(corio_process_spawn(ok, &badcwd, &p), -ENOENT);
    /* Pipes made for a failed spawn are closed again. */
    corio_process_options pipes = {.stdin_mode = CORIO_PROCESS_PIPE,
                                   .stdout_mode = CORIO_PROCESS_PIPE,
                                   .stderr_mode = CORIO_PROCESS_PIPE};
    int before = t_count_fds();
    ck_assert_int_eq(corio_process_spawn(none, &pipes, &p), -ENOENT);
    ck_assert_int_eq(t_count_fds(), before);
    t_assert_no_children(); /* the failed children were reaped */

    const char *empty[] = {NULL};
    ck_assert_int_eq(corio_process_spawn(NULL, NULL, &p), -EINVAL);
    ck_assert_int_eq(corio_process_spawn(empty, NULL, &p), -EINVAL);
    ck_assert_int_eq(corio_process_spawn(ok, NULL, NULL), -EINVAL);
    corio_process_options bad = {.stdin_mode = CORIO_PROCESS_STDOUT};
    ck_assert_int_eq(corio_process_spawn(ok, &bad, &p), -EINVAL);
    corio_process_options bad2 = {.stdout_mode = (corio_process_stdio)42};
    ck_assert_int_eq(corio_process_spawn(ok, &bad2, &p), -EINVAL);

    ck_assert_int_eq(corio_process_pid(NULL), -EINVAL);
    ck_assert_int_eq(corio_process_stdin_fd(NULL), -1);
    ck_assert_int_eq(corio_process_stdout_fd(NULL), -1);
    ck_assert_int_eq(corio_process_stderr_fd(NULL), -1);
    ck_assert_int_eq(corio_process_take_fd(NULL, 0), -EINVAL);
    ck_assert_int_eq(corio_process_close_stdin(NULL), -EINVAL);
    ck_assert_int_eq(corio_process_wait(NULL, 0, NULL), -EINVAL);
    ck_assert_ptr_null(corio_process_future(NULL));
    ck_assert_int_eq(corio_process_kill(NULL, SIGTERM), -EINVAL);
    corio_process_destroy(NULL);

    p = t_spawn_p(ok, NULL);
    ck_assert_int_eq(corio_process_wait(p, NAN, NULL), -EINVAL);
    ck_assert_int_eq(corio_process_kill(p, -1), -EINVAL);
    ck_assert_int_eq(corio_process_kill(p, 100000), -EINVAL);
    ck_assert_int_eq(corio_process_take_fd(p, 3), -EINVAL);
    ck_assert_int_eq(corio_process_take_fd(p, 1), -EBADF);
    ck_assert_int_eq(t_wait_status(p), 0);
    corio_process_destroy(p);
    t_assert_no_children();
}
END_TEST

/* Descriptors exhausted: a clear -EMFILE, no child, nothing left open. */
START_TEST(test_fd_exhaustion) {
    t_mode(_i);
    const char *argv[] = {"true", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_PIPE,
                               .stdout_mode = CORIO_PROCESS_PIPE,
                               .stderr_mode = CORIO_PROCESS_PIPE};
    corio_process *p = t_spawn_p(argv, NULL); /* the reaper's own descriptors, once */
    ck_assert_int_eq(t_wait_status(p), 0);
    corio_process_destroy(p);
    int open_now = t_count_fds();
    /* Exactly four free descriptors: room for two pipes, not three. The
     * limit stops growth; fillers take the holes below it. */
    struct rlimit old, rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = (rlim_t)open_now + 64;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fill[128], nfill = 0;
    while (nfill < 128 && (fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        nfill++;
    ck_assert_int_ge(nfill, 4);
    ck_assert_int_lt(nfill, 128);
    for (int k = 0; k < 4; k++)
        close(fill[--nfill]);
    ck_assert_int_eq(corio_process_spawn(argv, &o, &p), -EMFILE);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(t_count_fds(), open_now + nfill); /* the two pipes made were closed */
    while (nfill)
        close(fill[--nfill]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(t_count_fds(), open_now);
    t_assert_no_children();
}
END_TEST

/* SIGCHLD ignored: the kernel reaps the child itself, and the wait says
 * so plainly instead of hanging. */
START_TEST(test_sigchld_ignored_gives_echild) {
    t_mode(_i);
    ck_assert(signal(SIGCHLD, SIG_IGN) != SIG_ERR);
    const char *argv[] = {"true", NULL};
    corio_process *p = t_spawn_p(argv, NULL);
    ck_assert_int_eq(corio_process_wait(p, 30, NULL), -ECHILD);
    corio_future *f = corio_process_future(p);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), -ECHILD);
    ck_assert_ptr_nonnull(strstr(msg, "reaped elsewhere"));
    corio_future_unref(f);
    corio_process_destroy(p);
}
END_TEST

/* ---- destroy and shutdown -------------------------------------------------------- */

/* Destroying the object of a running child kills it; the reaper reaps it,
 * and the future (taken before) says when. */
START_TEST(test_destroy_running_kills) {
    t_mode(_i);
    const char *argv[] = {"sleep", "1000", NULL};
    corio_process *p = t_spawn_p(argv, NULL);
    corio_future *f = corio_process_future(p);
    corio_process_destroy(p);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
    int st = (int)(intptr_t)v;
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    corio_future_unref(f);
    t_assert_no_children();
}
END_TEST

/* A detached child keeps running after destroy, and is reaped when it
 * ends: it waits for EOF on a stdin pipe whose end we took. */
START_TEST(test_destroy_detached) {
    t_mode(_i);
    const char *argv[] = {"cat", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_PIPE, .detach = true};
    corio_process *p = t_spawn_p(argv, &o);
    int in = corio_process_take_fd(p, 0);
    ck_assert_int_gt(in, 2);
    ck_assert_int_eq(corio_process_take_fd(p, 0), -EBADF);
    corio_future *f = corio_process_future(p);
    corio_process_destroy(p);
    /* cat cannot end before its stdin does. */
    ck_assert_int_eq(corio_future_result(f, 0.05, NULL), -ETIMEDOUT);
    close(in);
    void *v = (void *)1;
    ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
    ck_assert_int_eq((int)(intptr_t)v, 0);
    corio_future_unref(f);
    t_assert_no_children();
}
END_TEST

typedef struct t_shared {
    corio_process *p;
    corio_future *exit_f; /* the child's exit future, handed to the test */
    sem_t ready, done;
    int status, r;
} t_shared;

/* Spawn, hand the exit future out, then wait without limit: the runtime's
 * shutdown cancels the wait; the coroutine then destroys the process. */
static int t_shutdown_body(void *arg, corio_value *out) {
    (void)out;
    t_shared *s = arg;
    const char *argv[] = {"sleep", "1000", NULL};
    corio_process *p = t_spawn_p(argv, NULL);
    s->exit_f = corio_process_future(p);
    t_gate_open(&s->ready, 1);
    int r = corio_process_wait(p, CORIO_FOREVER, NULL);
    s->r = r;
    corio_process_destroy(p);
    return r;
}

START_TEST(test_runtime_shutdown_while_waiting) {
    t_mode(_i);
    t_shared s = {0};
    t_gate_init(&s.ready);
    corio_runtime *rt = t_rt(1);
    corio_future *cf = t_spawn(rt, 0, t_shutdown_body, &s);
    ck_assert(t_gate_pass_within(&s.ready, 30));
    corio_runtime_destroy(rt);
    ck_assert_int_eq(s.r, -ECANCELED);
    ck_assert(corio_future_done(cf));
    corio_future_unref(cf);
    void *v = NULL;
    ck_assert_int_eq(corio_future_result(s.exit_f, 30, &v), 0);
    ck_assert(WIFSIGNALED((int)(intptr_t)v) && WTERMSIG((int)(intptr_t)v) == SIGKILL);
    corio_future_unref(s.exit_f);
    sem_destroy(&s.ready);
    t_assert_no_children();
}
END_TEST

/* ---- concurrency and load ------------------------------------------------------- */

static int t_waiter_coro(void *arg, corio_value *out) {
    (void)out;
    t_shared *s = arg;
    t_gate_open(&s->ready, 1);
    int st = -1;
    int r = corio_process_wait(s->p, 30, &st);
    ck_assert_int_eq(r, 0);
    return st;
}

static void *t_waiter_thread(void *arg) {
    t_shared *s = arg;
    t_gate_open(&s->ready, 1);
    s->r = corio_process_wait(s->p, 30, &s->status);
    return NULL;
}

/* One child awaited at once by a coroutine, a thread and the future. */
START_TEST(test_wait_coroutine_and_thread) {
    t_mode(_i);
    const char *argv[] = {"cat", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_PIPE};
    t_shared s = {0};
    t_gate_init(&s.ready);
    s.p = t_spawn_p(argv, &o);
    s.status = -1;
    corio_runtime *rt = t_rt(1);
    corio_future *cf = t_spawn(rt, 0, t_waiter_coro, &s);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, t_waiter_thread, &s), 0);
    ck_assert(t_gate_pass_within(&s.ready, 30));
    ck_assert(t_gate_pass_within(&s.ready, 30));
    corio_future *f = corio_process_future(s.p);
    ck_assert(!corio_future_done(f)); /* cat still waits for its EOF */
    ck_assert_int_eq(corio_process_close_stdin(s.p), 0);
    void *v = (void *)1;
    ck_assert_int_eq(corio_future_result(f, 30, &v), 0);
    ck_assert_int_eq((int)(intptr_t)v, 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(s.r, 0);
    ck_assert_int_eq(s.status, 0);
    ck_assert_int_eq(corio_future_result(cf, 30, &v), 0);
    ck_assert_int_eq((int)(intptr_t)v, 0);
    corio_future_unref(cf);
    corio_future_unref(f);
    corio_runtime_destroy(rt);
    corio_process_destroy(s.p);
    sem_destroy(&s.ready);
    t_assert_no_children();
}
END_TEST

/* 1000 spawns (fewer under sanitizers and without pidfds), each with three pipes: afterwards
 * no zombie and not one descriptor more than before. */
static int t_many_body(void *arg, corio_value *out) {
    (void)out;
    size_t n = *(size_t *)arg;
    const char *argv[] = {"true", NULL};
    corio_process_options o = {.stdin_mode = CORIO_PROCESS_PIPE,
                               .stdout_mode = CORIO_PROCESS_PIPE,
                               .stderr_mode = CORIO_PROCESS_PIPE};
    for (size_t i = 0; i < n; i++) {
        corio_process *p = t_spawn_p(argv, &o);
        ck_assert_int_eq(t_wait_status(p), 0);
        corio_process_destroy(p);
    }
    return 0;
}

START_TEST(test_thousand_spawns_no_leak) {
    t_mode(_i);
    /* Without pidfds each wait may take up to the 10 ms poll period: fewer. */
    size_t one = 1, n = _i & 2 ? 50 : t_scale(1000, 100);
    ck_assert_int_eq(t_run_mode(_i, t_many_body, &one), 0); /* starts the reaper */
    int before = t_count_fds();
    ck_assert_int_eq(t_run_mode(_i, t_many_body, &n), 0);
    ck_assert_int_eq(t_count_fds(), before);
    t_assert_no_children();
}
END_TEST

static Suite *process_suite(void) {
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("basics");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_exit_code_and_signal, 0, 4);
    tcase_add_loop_test(tc, test_never_exits_timeout_then_kill, 0, 4);
    tcase_add_loop_test(tc, test_stdout_larger_than_pipe, 0, 4);
    tcase_add_loop_test(tc, test_stdio_streams, 0, 4);
    tcase_add_loop_test(tc, test_stdin_eof, 0, 2);
    tcase_add_test(tc, test_null_stderr_env_cwd);
    tcase_add_test(tc, test_no_fd_leaks_into_child);
    tcase_add_test(tc, test_spawn_errors);
    tcase_add_loop_test(tc, test_sigchld_ignored_gives_echild, 0, 4);
    tcase_add_loop_test(tc, test_fd_exhaustion, 0, 4);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_destroy_running_kills, 0, 4);
    tcase_add_loop_test(tc, test_destroy_detached, 0, 4);
    tcase_add_loop_test(tc, test_runtime_shutdown_while_waiting, 0, 4);
    tcase_add_loop_test(tc, test_wait_coroutine_and_thread, 0, 4);
    tcase_add_loop_test(tc, test_thousand_spawns_no_leak, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_run_suite(process_suite()); }
