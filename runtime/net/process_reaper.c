/* corio — the reaper: one thread that reaps every child corio spawns.
 *
 * Why a thread, and not the waiters: a child's future must complete when
 * the child exits even if nobody waits (a done-callback, a future awaited
 * later, a process object destroyed while the child runs, a runtime shut
 * down while a coroutine waited). So someone must always be watching, and
 * that someone must not depend on any loop being alive. One thread per
 * process does it for every child: it sleeps in epoll_wait on the
 * children's pidfds, and when one becomes readable (the child exited) it
 * reaps it with waitid(P_PID, WNOHANG) and completes the child's future.
 * Waiters (threads, coroutines, any number) just await that future, so
 * they need nothing of their own, and a coroutine's wait costs its loop
 * nothing.
 *
 *   child exits ──▶ pidfd readable ──▶ reaper: waitid, close pidfd
 *                                        └─▶ corio_future_set_result(status)
 *                                               ├─▶ waiting thread (futex)
 *                                               └─▶ waiting coroutine (its loop's inbox)
 *
 * Started by a spawn when none runs, with every signal blocked (it takes
 * no application signal), detached; it ends as soon as it watches no child
 * (see reaper_main), so an idle program has no reaper thread, and a
 * program that exits has no thread of ours left running (ThreadSanitizer,
 * for one, waits a second at exit for such threads).
 *
 * Without a pidfd (pidfd_open missing before 5.3, no descriptor left, the
 * child already gone, or forced by a test) a child goes on a list the reaper polls with waitid(WNOHANG) every
 * POLL_MS milliseconds while the list is not empty; kill(2) is then still
 * free of pid reuse because a pid stays ours until we reap it, and
 * corio__child_kill and reaping hold the child's lock.
 *
 * Locks: R.lock (the reaper's list and set-up) is taken before a child's
 * lock, never after. Neither is held while a future is completed: its
 * done-callbacks run user code on this thread, which may spawn or kill.
 *
 * Fork: a child forked by the application inherits no reaper thread; the
 * atfork handler marks the state stale so the first spawn in the child
 * starts a reaper of its own (children of the parent are not ours there).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "internal.h"
#include "process_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* How often polled (pidfd-less) children are checked. */
#define POLL_MS 10

int corio__process_force_nopidfd;

/* The reaper's state, one per process. */
static struct {
    pthread_mutex_t lock;   /* guards everything below */
    int started;            /* the thread runs (in this process) */
    int ep;                 /* epoll on the children's pidfds, and efd */
    int efd;                /* eventfd: wakes the thread when `polled` grows */
    corio__child *polled;   /* children without pidfd, checked every POLL_MS */
    size_t watched;         /* children adopted and not yet reaped (pidfd or polled) */
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .ep = -1, .efd = -1};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&R.lock); }
static void fork_parent(void) { pthread_mutex_unlock(&R.lock); }
/* In a forked child the thread is gone and the children are the parent's:
 * forget them (their records leak in the child, by design) and start
 * afresh on the next spawn. The inherited epoll fd names the PARENT's
 * epoll instance: close it, never touch it. */
static void fork_child(void) {
    if (R.started) {
        close(R.ep);
        close(R.efd);
    }
    R.started = 0;
    R.ep = R.efd = -1;
    R.polled = NULL;
    R.watched = 0;
    pthread_mutex_unlock(&R.lock);
}
static void atfork_register(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* waitid's report as a waitpid(2)-style status word, so that callers use
 * the familiar WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG. */
static int status_of(const siginfo_t *si) {
    switch (si->si_code) {
    case CLD_EXITED:
        return (si->si_status & 0xff) << 8;
    case CLD_DUMPED:
        return (si->si_status & 0x7f) | 0x80;
    default: /* CLD_KILLED: WEXITED reports nothing else */
        return si->si_status & 0x7f;
    }
}

/* Try to reap c, recording the outcome in c->status / c->err. Returns 1
 * when reaped (or when waitid failed for good: c->err is then -errno), 0
 * while it still runs. The pidfd is closed under the child's lock so that
 * corio__child_kill never uses a closed (or reused) descriptor. */
static int reap(corio__child *c, int ep) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    pthread_mutex_lock(&c->lock);
    int r;
    do
        r = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0 && si.si_pid == 0) {
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    c->err = r < 0 ? -errno : 0;
    c->status = r < 0 ? 0 : status_of(&si);
    c->reaped = 1;
    if (c->pidfd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->pidfd, NULL);
        close(c->pidfd);
        c->pidfd = -1;
    }
    pthread_mutex_unlock(&c->lock);
    return 1;
}

/* Complete c's future with what reap found, then drop the reaper's
 * reference. No lock held (done-callbacks run here). */
static void finish(corio__child *c) {
    if (c->err)
        corio_future_set_exception(c->future, c->err,
                                   "child %d was reaped elsewhere (SIGCHLD ignored, or "
                                   "waitpid(-1) in the program)", (int)c->pid);
    else
        corio_future_set_result(c->future, (void *)(intptr_t)c->status, NULL);
    corio__child_unref(c);
}

/* Check every polled child, moving the reaped ones to *done. R.lock held. */
static size_t scan_polled_locked(int ep, corio__child **done) {
    size_t n = 0;
    for (corio__child *c = R.polled, *next; c; c = next) {
        next = c->next;
        if (!reap(c, ep))
            continue;
        if (c->prev)
            c->prev->next = c->next;
        else
            R.polled = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->prev = NULL;
        c->next = *done; /* now the list of the reaped, private to this round */
        *done = c;
        n++;
    }
    return n;
}

/* The reaper's loop. It ends when it watches no child any more: the
 * decision is taken under R.lock, where corio__child_adopt starts a new
 * reaper if needed, so a child is never left unwatched. Its descriptors
 * are closed BEFORE the last futures complete, so a waiter that saw its
 * child's end finds no descriptor of ours left (a test can count them), and
 * a program whose children all ended has no reaper thread left. */
static void *reaper_main(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "corio_reaper");
    pthread_mutex_lock(&R.lock);
    int ep = R.ep, efd = R.efd;
    pthread_mutex_unlock(&R.lock);
    struct epoll_event ev[32];
    for (;;) {
        pthread_mutex_lock(&R.lock);
        int timeout = R.polled ? POLL_MS : -1;
        pthread_mutex_unlock(&R.lock);
        int n = epoll_wait(ep, ev, 32, timeout);
        corio__child *done = NULL;
        size_t ndone = 0;
        for (int i = 0; i < n; i++) {
            corio__child *c = ev[i].data.ptr;
            if (!c) {
                uint64_t v;
                ssize_t rd = read(efd, &v, sizeof v); /* a new polled child, or a check */
                (void)rd;
                continue;
            }
            /* One event per pidfd per epoll_wait, and the reaper's own
             * reference keeps c alive until finish(). A pidfd child is on no
             * list, so its `next` is free for ours. */
            if (reap(c, ep)) {
                c->next = done;
                done = c;
                ndone++;
            }
        }
        pthread_mutex_lock(&R.lock);
        ndone += scan_polled_locked(ep, &done);
        R.watched -= ndone;
        int stop = R.watched == 0;
        if (stop) {
            R.started = 0;
            R.ep = R.efd = -1;
        }
        pthread_mutex_unlock(&R.lock);
        if (stop) {
            close(ep);
            close(efd);
        }
        while (done) {
            corio__child *next = done->next;
            done->next = NULL;
            finish(done);
            done = next;
        }
        if (stop)
            return NULL;
    }
}

/* Start the reaper thread if this process has none. R.lock held. */
static int start_locked(void) {
    if (R.started)
        return 0;
    int ep = corio__epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    int efd = corio__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
        int e = -errno;
        close(ep);
        return e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0) {
        int e = -errno;
        close(ep);
        close(efd);
        return e;
    }
    R.ep = ep;
    R.efd = efd;
    /* The reaper takes no application signal: a process-directed signal
     * the application blocked for corio_signal_wait must not land here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_t t;
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = corio__thread_create(&t, reaper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        close(ep);
        close(efd);
        R.ep = R.efd = -1;
        return -e;
    }
    pthread_detach(t);
    R.started = 1;
    return 0;
}

/* Kill and reap a child nobody can watch. SIGKILL cannot be blocked or
 * caught, so the wait is short. */
static void kill_and_reap(pid_t pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

corio__child *corio__child_create(void) {
    corio__child *c = corio__calloc(1, sizeof *c);
    corio_future *f = corio_future_create();
    if (!c || !f) {
        free(c);
        corio_future_unref(f);
        return NULL;
    }
    /* RUNNING: nobody can cancel the outcome of a running child. */
    corio_future_set_running_or_notify_cancel(f);
    pthread_mutex_init(&c->lock, NULL);
    c->future = f;
    c->pid = -1;
    c->pidfd = -1;
    atomic_init(&c->refs, 2);
    return c;
}

void corio__child_discard(corio__child *c) {
    if (!c)
        return;
    if (c->pidfd >= 0)
        close(c->pidfd);
    pthread_mutex_destroy(&c->lock);
    corio_future_unref(c->future);
    free(c);
}

int corio__child_adopt(corio__child *c, pid_t pid) {
    int saved = errno, e = 0;
    pthread_once(&atfork_once, atfork_register);
    c->pid = pid;
    if (!corio__process_force_nopidfd) {
        /* Race-free although the pid is already out: an unreaped child's
         * pid cannot be reused. pidfd_open sets O_CLOEXEC itself. Any
         * failure (ENOSYS before 5.3, EMFILE, or ESRCH for a child the
         * kernel already reaped because SIGCHLD is ignored) leaves the
         * child to the polled path, which still reaps it (or reports
         * -ECHILD): never a kill of a pid that may no longer be ours. */
        c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (c->pidfd < 0)
            c->pidfd = -1;
    }
    pthread_mutex_lock(&R.lock);
    e = start_locked();
    if (!e && c->pidfd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(R.ep, EPOLL_CTL_ADD, c->pidfd, &ev) < 0)
            e = -errno;
    } else if (!e) {
        c->next = R.polled;
        if (R.polled)
            R.polled->prev = c;
        R.polled = c;
        uint64_t one = 1;
        ssize_t w = write(R.efd, &one, sizeof one); /* switch the reaper to polling */
        (void)w;
    }
    if (!e)
        R.watched++;
    else if (R.started && !R.watched) {
        /* We started a reaper for nothing: wake it so that it sees it has
         * nothing to watch and ends. */
        uint64_t one = 1;
        ssize_t w = write(R.efd, &one, sizeof one);
        (void)w;
    }
    pthread_mutex_unlock(&R.lock);
    if (e) {
        /* No reaper could take it (no descriptor or thread for one): kill
         * and reap it here, so that a failed spawn leaves nothing behind. */
        kill_and_reap(pid);
        corio__child_discard(c);
    }
    errno = saved;
    return e;
}

int corio__child_kill(corio__child *c, int sig) {
    int saved = errno, r;
    pthread_mutex_lock(&c->lock);
    if (c->reaped) {
        r = -ESRCH;
    } else {
        r = -ENOSYS;
        if (c->pidfd >= 0)
            r = syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
        if (r == -ENOSYS)
            r = kill(c->pid, sig) < 0 ? -errno : 0; /* safe: not reaped, under the lock */
    }
    pthread_mutex_unlock(&c->lock);
    errno = saved;
    return r;
}

void corio__child_unref(corio__child *c) {
    /* acq_rel: the last owner sees every write the other made before its
     * own unref (the reaper's status, the closed pidfd). */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&c->lock);
    corio_future_unref(c->future);
    free(c);
}
