/* corio — child processes: spawn, pipes, wait, kill, destroy.
 *
 * Spawning is posix_spawnp, not fork or clone3: glibc runs it as
 * clone(CLONE_VM | CLONE_VFORK), so it costs the same whatever the
 * parent's size, the parent stays suspended until the child has exec'd,
 * and an exec failure (no such program, not executable, a cwd that cannot
 * be entered) comes back as posix_spawn's error, after glibc reaped the
 * failed child. The file actions do the rest of what a hand-written clone
 * child would: dup2 the pipe ends onto 0-2, open /dev/null, chdir, and
 * closefrom(3) so no descriptor of ours leaks in, O_CLOEXEC or not. The
 * attributes reset the signal mask (an application that blocked SIGTERM
 * for corio_signal_wait must not give its children an immune SIGTERM) and
 * every disposition (an ignored SIGPIPE is not inherited either).
 *
 * After spawn the reaper (process_reaper.c) takes charge of the child: it
 * reaps it when it exits and completes its future. Waiting is awaiting
 * that future (from a thread or a coroutine alike, any number at once), so
 * nothing here touches a ring or a loop directly.
 *
 * Pipes: pipe2(O_CLOEXEC); the parent's end is then made O_NONBLOCK (its
 * own open file description; the child's end stays blocking, as programs
 * expect), which is what corio_read / corio_write want on a loop: they
 * meet -EAGAIN with a ring poll instead of tying up a kernel worker. Ends
 * are kept above 2, so that a parent started with 0-2 closed cannot have
 * a pipe end where a dup2 target goes.
 *
 * Streams: corio_process_stream moves a pipe end into a corio_stream
 * (stream.c); nothing here depends on the stream's internals.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corio/process.h"
#include "corio/stream.h"
#include "fault.h"
#include "internal.h"
#include "process_internal.h"

extern char **environ;

struct corio_process {
    corio__child *child; /* pid, pidfd, future: shared with the reaper */
    int fd[3];           /* parent's pipe ends for stdin/stdout/stderr, -1 if none */
    bool detach;         /* destroy leaves a running child alone (no SIGKILL) */
};

/* Move fd above 2 (keeping O_CLOEXEC); returns the new fd or -errno, and
 * closes the old one either way. */
static int above_stdio(int fd) {
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = n < 0 ? -errno : n;
    close(fd);
    return e;
}

static void close_fds(int *fds, int n) {
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

/* Make the pipe for stdio slot `i`: parent's end in *mine, child's in
 * *theirs. 0 or -errno (nothing left open). */
static int make_pipe(int i, int *mine, int *theirs) {
    int pf[2];
    if (pipe2(pf, O_CLOEXEC) < 0)
        return -errno;
    int r0 = above_stdio(pf[0]);
    int r1 = above_stdio(pf[1]);
    if (r0 < 0 || r1 < 0) {
        if (r0 >= 0)
            close(r0);
        if (r1 >= 0)
            close(r1);
        return r0 < 0 ? r0 : r1;
    }
    /* stdin: the child reads pf[0], we write pf[1]; stdout/stderr: the
     * reverse. */
    *mine = i == 0 ? r1 : r0;
    *theirs = i == 0 ? r0 : r1;
    int fl = fcntl(*mine, F_GETFL);
    if (fl < 0 || fcntl(*mine, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = -errno;
        close(r0);
        close(r1);
        return e;
    }
    return 0;
}

static int valid_mode(int i, corio_process_stdio m) {
    return m == CORIO_PROCESS_INHERIT || m == CORIO_PROCESS_NULL || m == CORIO_PROCESS_PIPE ||
           (i == 2 && m == CORIO_PROCESS_STDOUT);
}

/* The file actions and attributes, then posix_spawnp. Returns an error
 * number (posix_spawn's convention), 0 with *pid set. */
static int do_spawn(const char *const argv[], const corio_process_options *o,
                    const corio_process_stdio mode[3], const int theirs[3], pid_t *pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int e = posix_spawn_file_actions_init(&fa);
    if (e)
        return e;
    e = posix_spawnattr_init(&at);
    if (e) {
        posix_spawn_file_actions_destroy(&fa);
        return e;
    }
    for (int i = 0; i < 3 && !e; i++) {
        if (mode[i] == CORIO_PROCESS_PIPE)
            e = posix_spawn_file_actions_adddup2(&fa, theirs[i], i);
        else if (mode[i] == CORIO_PROCESS_NULL)
            e = posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
                                                 i == 0 ? O_RDONLY : O_WRONLY, 0);
        else if (mode[i] == CORIO_PROCESS_STDOUT)
            e = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    if (!e && o->cwd)
        e = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Every descriptor above 2 goes, whether O_CLOEXEC or not (glibc
     * 2.34+; older ones rely on O_CLOEXEC alone). */
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->new_process_group)
        flags |= POSIX_SPAWN_SETPGROUP;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (!e)
        e = posix_spawnattr_setflags(&at, flags);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &all);
    if (!e && o->new_process_group)
        e = posix_spawnattr_setpgroup(&at, 0);
    if (!e) {
        char *const *env = o->env ? (char *const *)(uintptr_t)o->env : environ;
        e = posix_spawnp(pid, argv[0], &fa, &at, (char *const *)(uintptr_t)argv, env);
    }
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return e;
}

CORIO_API int corio_process_spawn(const char *const argv[], const corio_process_options *opts,
                                  corio_process **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!argv || !argv[0])
        return -EINVAL;
    corio_process_options zero = {0};
    const corio_process_options *o = opts ? opts : &zero;
    corio_process_stdio mode[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    for (int i = 0; i < 3; i++)
        if (!valid_mode(i, mode[i]))
            return -EINVAL;
    int saved = errno;
    corio_process *p = corio__calloc(1, sizeof *p);
    corio__child *c = p ? corio__child_create() : NULL;
    if (!c) {
        free(p);
        return -ENOMEM;
    }
    p->detach = o->detach;
    int theirs[3] = {-1, -1, -1};
    p->fd[0] = p->fd[1] = p->fd[2] = -1;
    int r = 0;
    for (int i = 0; i < 3 && !r; i++)
        if (mode[i] == CORIO_PROCESS_PIPE)
            r = make_pipe(i, &p->fd[i], &theirs[i]);
    pid_t pid = -1;
    if (!r)
        r = -do_spawn(argv, o, mode, theirs, &pid);
    close_fds(theirs, 3); /* the child has its copies (or never will) */
    if (r < 0)
        corio__child_discard(c);
    else if ((r = corio__child_adopt(c, pid)) == 0)
        p->child = c;
    if (r < 0) {
        close_fds(p->fd, 3);
        free(p);
        errno = saved;
        return r;
    }
    *out = p;
    errno = saved;
    return 0;
}

CORIO_API pid_t corio_process_pid(const corio_process *p) {
    return p ? p->child->pid : -EINVAL;
}

CORIO_API int corio_process_stdin_fd(const corio_process *p) { return p ? p->fd[0] : -1; }
CORIO_API int corio_process_stdout_fd(const corio_process *p) { return p ? p->fd[1] : -1; }
CORIO_API int corio_process_stderr_fd(const corio_process *p) { return p ? p->fd[2] : -1; }

CORIO_API int corio_process_take_fd(corio_process *p, int which) {
    if (!p || which < 0 || which > 2)
        return -EINVAL;
    int fd = p->fd[which];
    if (fd < 0)
        return -EBADF;
    p->fd[which] = -1;
    return fd;
}

CORIO_API int corio_process_stream(corio_process *p, int which, const corio_stream_options *opts,
                                   corio_stream **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!p || which < 0 || which > 2)
        return -EINVAL;
    if (p->fd[which] < 0)
        return -EBADF;
    int r = corio_stream_create(p->fd[which], opts, out);
    if (r == 0)
        p->fd[which] = -1; /* the stream's now */
    return r;
}

CORIO_API int corio_process_close_stdin(corio_process *p) {
    int fd = corio_process_take_fd(p, 0);
    if (fd < 0)
        return fd;
    int saved = errno;
    close(fd); /* Linux frees the descriptor even on EINTR: never retry */
    errno = saved;
    return 0;
}

CORIO_API int corio_process_wait(corio_process *p, double timeout, int *status) {
    if (!p || timeout != timeout)
        return -EINVAL;
    void *v = NULL;
    /* The reaper completes the future; a coroutine suspends on it (its
     * loop runs others meanwhile), a thread blocks on a futex. -ETIMEDOUT
     * and -ECANCELED leave the future untouched: the next wait goes on. */
    int r = corio_future_result(p->child->future, timeout, &v);
    if (r == 0 && status)
        *status = (int)(intptr_t)v;
    return r;
}

CORIO_API corio_future *corio_process_future(corio_process *p) {
    return p ? corio_future_ref(p->child->future) : NULL;
}

CORIO_API int corio_process_kill(corio_process *p, int sig) {
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    return corio__child_kill(p->child, sig);
}

CORIO_API void corio_process_destroy(corio_process *p) {
    if (!p)
        return;
    int saved = errno;
    close_fds(p->fd, 3);
    /* A child that already ended answers -ESRCH or nothing: either way the
     * reaper has it (or will, in a moment) and keeps its own reference. */
    if (!p->detach)
        corio__child_kill(p->child, SIGKILL);
    corio__child_unref(p->child);
    free(p);
    errno = saved;
}
