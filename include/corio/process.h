/* corio — child processes.
 *
 * corio_process_spawn starts a program (posix_spawn: vfork semantics, so a
 * program that cannot be executed is an error from spawn, not a child that
 * exits 127). Its stdin, stdout and stderr are each inherited, /dev/null,
 * or a pipe whose parent end the process object owns. The child's exit is
 * a corio_future, awaitable from threads and coroutines alike;
 * corio_process_wait is the same wait with a timeout.
 *
 * No zombie on any path: every child is watched by the library's reaper
 * (one thread per process, with every signal blocked, running while at
 * least one child is unreaped), which reaps it with waitid(2) as soon as
 * it exits — whether
 * anyone waits, whether the process object still exists, whether the
 * runtime that spawned it still runs. Waiting never reaps; it only waits
 * for the reaper's verdict (the future).
 *
 * The reaper watches a pidfd per child (pidfd_open, Linux 5.3), and
 * signals go through pidfd_send_signal: no pid-reuse race. Without a pidfd
 * (older kernels, or no descriptor left for one) the reaper polls its children with waitid(WNOHANG) every
 * 10 ms and signals use kill(2), which is still safe: a pid cannot be
 * reused before we reap it, and kill and reap are serialised.
 *
 * What breaks it: setting SIGCHLD to SIG_IGN (the kernel then reaps
 * children itself), or calling waitpid(-1) / wait() elsewhere in the
 * program (it may steal our children). The wait then fails with -ECHILD.
 */
#ifndef CORIO_PROCESS_H
#define CORIO_PROCESS_H

#include <sys/types.h>

#include "common.h"
#include "future.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A child process (opaque; owned by the caller of corio_process_spawn). */
typedef struct corio_process corio_process;

/** What one of the child's standard descriptors is. */
typedef enum corio_process_stdio {
    CORIO_PROCESS_INHERIT = 0, /**< the parent's own descriptor (the default) */
    CORIO_PROCESS_NULL = 1,    /**< /dev/null */
    CORIO_PROCESS_PIPE = 2,    /**< a pipe; the parent's end is owned by the process object */
    CORIO_PROCESS_STDOUT = 3,  /**< stderr only: the same as the child's stdout (2>&1) */
} corio_process_stdio;

/** Options for corio_process_spawn. Zero-initialise, then set fields; a
 * NULL options pointer means all zero (everything inherited). */
typedef struct corio_process_options {
    corio_process_stdio stdin_mode;  /**< INHERIT, NULL or PIPE */
    corio_process_stdio stdout_mode; /**< INHERIT, NULL or PIPE */
    corio_process_stdio stderr_mode; /**< INHERIT, NULL, PIPE or STDOUT */
    /** The child's environment ("NAME=value" strings, NULL-terminated);
     * NULL: the parent's environ. PATH lookup of argv[0] always uses the
     * parent's PATH. */
    const char *const *env;
    const char *cwd;        /**< the child's working directory; NULL: the parent's */
    bool new_process_group; /**< the child leads a new process group (setpgid(0, 0)) */
    /** On corio_process_destroy of a still-running child: false (default)
     * sends it SIGKILL; true leaves it running. The reaper reaps it either
     * way when it ends. */
    bool detach;
} corio_process_options;

/** Start argv[0] (looked up in PATH when it has no '/') with arguments
 * argv (NULL-terminated). The child gets an empty signal mask and default
 * signal dispositions, and no descriptor of the parent beyond 0, 1 and 2.
 *
 * Returns 0 and stores the new process object in *out (owned by the
 * caller: corio_process_destroy), or a negative code, with no child left
 * behind: -EINVAL (NULL out, NULL or empty argv, a bad stdio mode),
 * -ENOENT / -EACCES / -ENOEXEC / ... (the program could not be executed,
 * or cwd could not be entered: the child never ran your program and has
 * been reaped), -EMFILE / -ENFILE (descriptors for the pipes, or to start a reaper),
 * -ENOMEM, -EAGAIN (process limit).
 *
 * Lifetime: argv, env, cwd and opts are read during the call only. Spawn
 * never suspends: posix_spawn borrows the calling thread until the child
 * has exec'd (vfork semantics: typically well under a millisecond, and
 * independent of the parent's memory size), so on a loop thread it briefly
 * holds up that loop. */
CORIO_API int corio_process_spawn(const char *const argv[], const corio_process_options *opts,
                                  corio_process **out);

/** The child's process id (> 0), or -EINVAL for NULL. It stays the id of
 * this child until the child is reaped; do not signal it by number, use
 * corio_process_kill. */
CORIO_API pid_t corio_process_pid(const corio_process *p);

/** The parent's end of the child's stdin (write to it), stdout or stderr
 * (read from them) pipe, or -1 when that stream is not a pipe (or was taken
 * or closed). The descriptors are O_CLOEXEC and O_NONBLOCK: use
 * corio_write / corio_read (corio/io.h), which wait for readiness in both
 * worlds; a plain read(2) may report EAGAIN. Writing to the stdin of a
 * child that closed it gives -EPIPE (and SIGPIPE on a plain thread, as
 * write(2) does; see corio_write). The descriptor stays owned by the
 * process object and is closed by corio_process_destroy. */
CORIO_API int corio_process_stdin_fd(const corio_process *p);
CORIO_API int corio_process_stdout_fd(const corio_process *p);
CORIO_API int corio_process_stderr_fd(const corio_process *p);

/** Take ownership of the parent's end of pipe `which` (0: stdin, 1:
 * stdout, 2: stderr): returns the descriptor, now the caller's to close,
 * and the object forgets it. Returns -EINVAL (NULL p, bad which) or -EBADF
 * (not a pipe, or already taken / closed). */
CORIO_API int corio_process_take_fd(corio_process *p, int which);

/** Wrap the parent's end of pipe `which` (0: stdin, 1: stdout, 2: stderr)
 * in a buffered stream (corio/stream.h: read_line, read_until, write with
 * coalescing, deadlines): the descriptor moves to the stream, which closes
 * it on corio_stream_destroy; the process object forgets it, as with
 * corio_process_take_fd. `opts` may be NULL. For stdin, corio_stream_flush
 * then corio_stream_destroy (or corio_stream_shutdown(s, SHUT_WR, t)) gives
 * the child end of file. Returns 0 and the stream in *out (the caller's),
 * or -EINVAL (NULL p or out, bad which, bad options), -EBADF (not a pipe,
 * or already taken / closed), -ENOMEM; on failure the pipe stays with the
 * process object. */
CORIO_API int corio_process_stream(corio_process *p, int which, const corio_stream_options *opts,
                                   corio_stream **out);

/** Close the parent's end of the stdin pipe now, so the child reads end of
 * file. Returns 0, -EINVAL (NULL) or -EBADF (no stdin pipe, or already
 * taken / closed). Must not race with a write to that descriptor. */
CORIO_API int corio_process_close_stdin(corio_process *p);

/** Wait up to `timeout` seconds for the child to end. Suspends a
 * coroutine, blocks a thread; any number of threads and coroutines may wait
 * at once, and all see the same status. Returns 0 and stores the wait
 * status in *status when not NULL (test it with WIFEXITED / WEXITSTATUS /
 * WIFSIGNALED / WTERMSIG from <sys/wait.h>), or -ETIMEDOUT (the child still
 * runs), -ECANCELED (the calling coroutine was cancelled; the child still
 * runs and will be reaped), -ECHILD (someone else reaped it: see the top
 * of this header), -EINVAL (NULL p, NaN timeout). */
CORIO_API int corio_process_wait(corio_process *p, double timeout, int *status);

/** The child's exit as a future (a new reference, owned by the caller:
 * corio_future_unref). It is RUNNING while the child runs (it cannot be
 * cancelled) and finishes once the child has been reaped, with result
 * (void *)(intptr_t)status — the wait status as corio_process_wait gives
 * it — or fails with -ECHILD. It stays valid after corio_process_destroy,
 * and completes even then: destroy, then await the future, to know when
 * a killed child is gone. NULL for a NULL p. */
CORIO_API corio_future *corio_process_future(corio_process *p);

/** Send signal `sig` to the child (pidfd_send_signal where available).
 * Returns 0, -ESRCH once the child has been reaped (a kill that lost a
 * race with the child's exit: harmless), -EINVAL (NULL p, bad signal),
 * -EPERM. sig 0 only checks that it is not reaped yet. */
CORIO_API int corio_process_kill(corio_process *p, int sig);

/** Release the process object: close the pipe ends it still owns and, if
 * the child still runs, send it SIGKILL (unless options.detach). Never
 * waits: the reaper reaps the child when it ends, so no zombie is left
 * either way; await corio_process_future (taken before) to know when.
 * Safe while other threads wait on the future; not while they use `p`
 * itself. NULL is ignored. */
CORIO_API void corio_process_destroy(corio_process *p);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PROCESS_H */
