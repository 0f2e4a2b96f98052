/* corio — signals as awaitables.
 *
 * corio_signal_wait(set, timeout, info) waits until one of the signals in
 * `set` is pending for the process (or for the calling thread), takes it,
 * and returns its number. It suspends a coroutine (a poll on its loop's
 * ring) and blocks a plain thread (poll(2)), like every blocking call.
 *
 * The rule for blocking (read it once):
 *  - A signal reaches corio_signal_wait only while it is BLOCKED in every
 *    thread of the process. A thread that has it unblocked takes it the
 *    ordinary way instead (its handler, or the default action: SIGINT and
 *    SIGTERM end the process), and no waiter ever sees it.
 *  - So block the signals at the top of main, before any runtime, pool or
 *    other thread is created: corio_signal_block(set) blocks them in the
 *    calling thread, and every thread created afterwards inherits that
 *    mask (loop threads, pool workers; corio's process reaper blocks
 *    every signal anyway). Threads created BEFORE the call keep their own
 *    mask: block the signals there too, or they may take the signal.
 *  - corio_signal_wait refuses (-EINVAL) a set with a signal that is not
 *    blocked in the calling thread: the usual mistake is reported, not
 *    turned into a silent hang or a dead process.
 *  - Children started by corio_process_spawn get an empty mask and default
 *    dispositions (a blocked SIGTERM here does not make children immortal).
 *    Processes forked by other means inherit the blocked mask.
 *
 * Delivery: each pending signal goes to exactly one waiter. Every waiter
 * reads its own signalfd, made for exactly its set, and a read takes one
 * signal out of the kernel's queue: two waiters woken by one signal race
 * for it, one gets it and the other goes back to waiting. A signal that
 * arrives while nobody waits stays pending in the kernel and goes to the
 * next waiter; a waiter that times out or is cancelled has taken nothing.
 * Standard signals coalesce as the kernel always does (two SIGUSR1 sent
 * before anyone takes the first count once); realtime signals
 * (SIGRTMIN..SIGRTMAX) queue, and each one sent is delivered once, with
 * its value.
 *
 * Signals sent to the process (kill(2), the terminal, sigqueue(3)) can be
 * taken by any waiter. A signal sent to one thread (pthread_kill, tgkill,
 * a fault) can only be taken by a waiter running on that thread.
 */
#ifndef CORIO_SIGNAL_H
#define CORIO_SIGNAL_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What is known of a signal taken by corio_signal_wait. */
typedef struct corio_signal_info {
    int signo;      /**< the signal number (also the return value) */
    int code;       /**< si_code: SI_USER (kill), SI_QUEUE (sigqueue), SI_KERNEL, ... */
    pid_t pid;      /**< the sender's process id (kill, sigqueue, SIGCHLD's child) */
    uid_t uid;      /**< the sender's real user id */
    int status;     /**< SIGCHLD: the child's exit status or signal */
    intptr_t value; /**< sigqueue's value (sival_ptr; sival_int in the low bits) */
} corio_signal_info;

/** Block the signals of `set` in the calling thread (pthread_sigmask
 * SIG_BLOCK), so that they wait for corio_signal_wait. Call it at the top
 * of main, before creating runtimes, pools or threads: threads created
 * afterwards inherit the mask. Returns 0, or -EINVAL for a NULL set or one
 * naming SIGKILL or SIGSTOP (which cannot be blocked). Nothing is
 * retained: `set` is read during the call. */
CORIO_API int corio_signal_block(const sigset_t *set);

/** Undo corio_signal_block in the calling thread (SIG_UNBLOCK). Signals
 * still pending are then delivered the ordinary way. Returns 0 or
 * -EINVAL (NULL set). */
CORIO_API int corio_signal_unblock(const sigset_t *set);

/** Wait up to `timeout` seconds for one signal of `set`, and take it.
 *
 * Returns the signal number (> 0) and, when `info` is not NULL, fills it.
 * Errors: -EINVAL (NULL or empty set, SIGKILL or SIGSTOP in it, a signal of
 * the set not blocked in the calling thread, NaN timeout), -ETIMEDOUT,
 * -ECANCELED (calling coroutine cancelled), -EMFILE / -ENFILE / -ENOMEM
 * (no descriptor for the signalfd).
 *
 * Lifetime: `set` and `info` are borrowed for the call. The call owns one
 * signalfd for its duration and closes it before returning. Cancel
 * safety: a timeout or a cancel takes no signal (it stays pending for the
 * next waiter); a signal taken just as a cancel arrives is returned, and
 * the next blocking call reports the cancel. Cost: one signalfd(2) and
 * close per call; every waiter whose set holds a signal is woken when it
 * arrives and all but one go back to waiting. */
CORIO_API int corio_signal_wait(const sigset_t *set, double timeout, corio_signal_info *info);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_SIGNAL_H */
