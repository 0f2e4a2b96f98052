/* corio — corio_sendfile: a regular file to a socket (or pipe, or file).
 *
 * The ring path (a coroutine whose kernel has IORING_OP_SPLICE):
 *
 *   in_fd @pos ──splice──▶ pipe (the loop thread's, up to 1 MiB) ──splice──▶ out_fd
 *
 * one chunk at a time: fill the pipe from the file at an explicit offset,
 * then drain it into out_fd until empty (a short splice is continued;
 * out_fd is made O_NONBLOCK for the call, and when full is waited for
 * with a ring poll, which the timeout and a cancel bound). The
 * kernel runs every splice in an io-wq worker, so the loop thread never
 * waits for the disk. Only bytes that reached out_fd count as sent; when
 * the call ends with bytes still in the pipe (timeout, cancel, error), the
 * pipe is closed rather than reused, so those bytes are never sent later
 * and a retry from the returned offset duplicates nothing.
 *
 * The pipe is cached per thread (a loop's coroutines all run on its
 * thread): taken out of the cache for the duration of a call, so two
 * coroutines of one loop never share it, and closed by a thread-specific
 * destructor when the loop thread exits. A per-call pipe costs pipe2,
 * fcntl and two closes (a few microseconds) on every call.
 *
 * The other path (no splice opcode, a plain thread, or no pipe to be had:
 * fd exhaustion) is a loop of sendfile(2) with an explicit offset, the
 * socket made non-blocking when the call must not block (in a coroutine,
 * or with a deadline) and its readiness awaited on the ring or with
 * poll(2).
 *
 * SIGPIPE: splice and sendfile into a socket or pipe whose reader is gone
 * raise SIGPIPE on the thread that ran them (they have no MSG_NOSIGNAL).
 * On the ring that may be the loop thread, while it submits or runs task
 * work — outside any window of this call's code. So the calling thread
 * keeps SIGPIPE blocked from the first guarded call until the last one
 * ends (a per-thread depth count: coroutines of one loop overlap), and
 * the outermost exit takes a SIGPIPE left pending before it restores the
 * mask. A thread that blocked SIGPIPE itself is left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corio/sendfile.h"
#include "fault.h"
#include "io_internal.h"
#include "loop.h"
#include "net_internal.h"

/* The kernel caps one transfer at MAX_RW_COUNT (as in io.c). */
#define IO_MAX ((size_t)0x7ffff000)

/* What the pipe is grown to (the default /proc/sys/fs/pipe-max-size, so an
 * unprivileged process may ask for it); 64 KiB when the kernel refuses. */
#define PIPE_WANT (1 << 20)

/* ---- SIGPIPE guard (per thread) ---- */

/* Guarded calls in progress on this thread (several coroutines of one
 * loop may be inside corio_sendfile at once). Thread-local: only this
 * thread reads or writes them, so no ordering is involved. */
static _Thread_local int sp_depth;
/* SIGPIPE was blocked by the thread itself before the outermost guard.
 * One flag, not the whole old mask: the library's thread-local block is
 * in static TLS (see CORIO__TLS_HOT) and must stay small enough for
 * dlopen. */
static _Thread_local bool sp_was_blocked;

void corio__sigpipe_enter(void) {
    if (sp_depth++ > 0)
        return;
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &old);
    sp_was_blocked = sigismember(&old, SIGPIPE) == 1;
}

void corio__sigpipe_leave(void) {
    if (--sp_depth > 0)
        return;
    if (sp_was_blocked)
        return; /* the thread blocks it itself: not ours to take or unblock */
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    if (sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

/* ---- the per-thread pipe ---- */

/* A pipe that carries the spliced bytes. */
typedef struct spipe {
    int rd, wr; /* read and write ends (close-on-exec) */
    size_t cap; /* its capacity in bytes */
} spipe;

/* The thread's idle pipe (NULL when none, or while a call holds it). */
static pthread_key_t pipe_key;
static pthread_once_t pipe_once = PTHREAD_ONCE_INIT;
/* 0 once pipe_key exists; an error number if it could not be made. */
static int pipe_key_err;

static void pipe_free(spipe *p) {
    close(p->rd);
    close(p->wr);
    free(p);
}

static void pipe_dtor(void *p) { pipe_free(p); }

static void pipe_key_make(void) { pipe_key_err = pthread_key_create(&pipe_key, pipe_dtor); }

/* The thread's idle pipe, or a new one; NULL when none can be had (no
 * descriptors or memory left: the caller falls back to sendfile(2)). */
static spipe *pipe_take(void) {
    pthread_once(&pipe_once, pipe_key_make);
    if (pipe_key_err == 0) {
        spipe *p = pthread_getspecific(pipe_key);
        if (p) {
            pthread_setspecific(pipe_key, NULL);
            return p;
        }
    }
    spipe *p = corio__malloc(sizeof *p);
    if (!p)
        return NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        free(p);
        return NULL;
    }
    p->rd = fds[0];
    p->wr = fds[1];
    int cap = fcntl(p->wr, F_SETPIPE_SZ, PIPE_WANT);
    if (cap < 0)
        cap = fcntl(p->wr, F_GETPIPE_SZ);
    p->cap = cap > 0 ? (size_t)cap : 65536;
    return p;
}

/* Return an empty pipe to the cache (or close it if the cache is full). */
static void pipe_give(spipe *p) {
    if (pipe_key_err == 0 && !pthread_getspecific(pipe_key) &&
        pthread_setspecific(pipe_key, p) == 0)
        return;
    pipe_free(p);
}

/* ---- the two paths ---- */

/* ring_sendfile's "take the other path" (errors are negative). */
#define NO_PIPE 1

/* One splice on the ring, awaited. */
static int ring_splice(corio__loop *l, int in, int64_t off_in, int out, size_t n,
                       unsigned flags, int64_t deadline) {
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_splice(sqe, in, off_in, out, -1, (unsigned)n, flags);
    return corio__loop_await(l, sqe, corio__left_s(deadline), NULL);
}

/* The ring path. Adds the bytes that reached out_fd to *sent and returns 0
 * (done, or end of file) or the error that stopped it; NO_PIPE, with
 * nothing done, when no pipe could be had. */
static int ring_sendfile(corio__loop *l, int out, int in, int64_t pos, size_t count,
                         int64_t deadline, size_t *sent) {
    spipe *p = pipe_take();
    if (!p)
        return NO_PIPE;
    /* A splice into a blocking out_fd that has no room sleeps in an io-wq
     * worker, and the kernel's linked timeout does not wake it (seen on
     * 6.18: the call outlived its timeout by any amount). Non-blocking, it
     * ends with -EAGAIN and the wait is a ring poll, which the timeout
     * bounds; so out_fd is made non-blocking for the call, as on the
     * sendfile(2) path. */
    int fl = fcntl(out, F_GETFL);
    int nb = fl >= 0 && !(fl & O_NONBLOCK);
    if (nb && fcntl(out, F_SETFL, fl | O_NONBLOCK) < 0) {
        pipe_give(p);
        return -errno;
    }
    int err = 0;
    size_t inpipe = 0; /* bytes in the pipe not yet in out_fd */
    while (*sent < count && !err) {
        size_t want = count - *sent;
        if (want > p->cap)
            want = p->cap;
        int r = ring_splice(l, in, pos + (int64_t)*sent, p->wr, want, SPLICE_F_MOVE, deadline);
        if (r <= 0) {
            err = r; /* 0: end of file */
            break;
        }
        inpipe = (size_t)r;
        while (inpipe) {
            /* MSG_MORE for the socket while more of the file follows. */
            unsigned fl = SPLICE_F_MOVE | (*sent + inpipe < count ? SPLICE_F_MORE : 0);
            r = ring_splice(l, p->rd, -1, out, inpipe, fl, deadline);
            if (r == -EAGAIN) {
                /* An O_NONBLOCK out_fd with no room: wait for it. */
                r = corio__io_wait_ready(out, POLLOUT, deadline);
                if (r > 0)
                    continue;
            }
            if (r <= 0) {
                err = r ? r : -EIO; /* a pipe with data never yields 0 */
                break;
            }
            inpipe -= (size_t)r;
            *sent += (size_t)r;
        }
    }
    if (nb)
        fcntl(out, F_SETFL, fl);
    if (inpipe)
        pipe_free(p); /* its bytes must never reach out_fd later */
    else
        pipe_give(p);
    return err;
}

/* The sendfile(2) path. Adds the bytes sent to *sent; returns 0 or the
 * error that stopped it. */
static int sys_sendfile(int out, int in, int64_t pos, size_t count, int64_t deadline,
                        size_t *sent) {
    int in_coro = corio__tls_coro != NULL;
    int fl = fcntl(out, F_GETFL);
    if (fl < 0)
        return -errno;
    int nb = (in_coro || deadline != INT64_MAX) && !(fl & O_NONBLOCK);
    if (nb && fcntl(out, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    off_t off = (off_t)pos;
    int err = 0;
    while (*sent < count) {
        size_t want = count - *sent;
        ssize_t r = sendfile(out, in, &off, want > IO_MAX ? IO_MAX : want);
        if (r > 0) {
            *sent += (size_t)r;
            continue;
        }
        if (r == 0)
            break; /* end of file */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            err = -errno;
            break;
        }
        if (in_coro && corio_cancel_requested()) {
            err = -ECANCELED;
            break;
        }
        if (deadline != INT64_MAX && corio__now_ns() >= deadline) {
            err = -ETIMEDOUT;
            break;
        }
        int w = corio__io_wait_ready(out, POLLOUT, deadline);
        if (w < 0) {
            err = w;
            break;
        }
    }
    if (nb)
        fcntl(out, F_SETFL, fl);
    return err;
}

/* ---- public API ---- */

CORIO_API ssize_t corio_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count,
                                 double timeout) {
    if (timeout != timeout)
        return -EINVAL;
    if (out_fd < 0 || in_fd < 0)
        return -EBADF;
    if (offset && *offset < 0)
        return -EINVAL;
    int saved = errno;
    struct stat st;
    int infl, outfl;
    if (fstat(in_fd, &st) < 0 || (infl = fcntl(in_fd, F_GETFL)) < 0 ||
        (outfl = fcntl(out_fd, F_GETFL)) < 0) {
        int e = -errno;
        errno = saved;
        return e;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return -EINVAL;
    if ((infl & O_ACCMODE) == O_WRONLY || (outfl & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (count == 0)
        return 0;
    if (corio__tls_coro && corio_cancel_requested())
        return -ECANCELED;
    int64_t pos = offset ? *offset : (int64_t)lseek(in_fd, 0, SEEK_CUR);
    if (pos < 0) {
        int e = -errno;
        errno = saved;
        return e;
    }
    if (count > (size_t)SSIZE_MAX)
        count = (size_t)SSIZE_MAX;
    if ((uint64_t)count > (uint64_t)(INT64_MAX - pos))
        count = (size_t)(INT64_MAX - pos);
    int64_t deadline = corio__deadline(timeout);

    size_t sent = 0;
    int err;
    corio__sigpipe_enter();
    corio__loop *l = corio__io_ring_for(IORING_OP_SPLICE);
    err = l ? ring_sendfile(l, out_fd, in_fd, pos, count, deadline, &sent) : NO_PIPE;
    if (err == NO_PIPE)
        err = sys_sendfile(out_fd, in_fd, pos, count, deadline, &sent);
    corio__sigpipe_leave();

    if (sent > 0) {
        /* Only what reached out_fd moves the offset or the position. */
        if (offset)
            *offset = pos + (int64_t)sent;
        else
            lseek(in_fd, (off_t)(pos + (int64_t)sent), SEEK_SET);
    }
    errno = saved;
    return sent > 0 ? (ssize_t)sent : (ssize_t)err;
}
