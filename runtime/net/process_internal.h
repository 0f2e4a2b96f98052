/* corio — internal interface between child processes (process.c) and the
 * reaper that watches and reaps them (process_reaper.c). process.c spawns
 * and owns pipes; the reaper owns everything about a child's life after
 * spawn: its pidfd, its reaping, signalling it, completing its future. */
#ifndef CORIO_PROCESS_INTERNAL_H
#define CORIO_PROCESS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "corio/future.h"

/* One child, from spawn until both the process object and the reaper are
 * done with it (two references). */
typedef struct corio__child {
    pthread_mutex_t lock;  /* serialises kill against reap: a pid or pidfd is never
                            * used after the reap that frees it for reuse */
    pid_t pid;             /* the child's id; ours until `reaped` */
    int pidfd;             /* its pidfd, -1 without pidfds or once reaped (under lock) */
    int reaped;            /* waitid has taken its status, or failed (under lock) */
    int status, err;       /* what the reaper's waitid found, kept between reaping under
                            * the lists' lock and completing the future outside it
                            * (reaper thread only) */
    corio_future *future;  /* completed by the reaper with the status; one reference */
    _Atomic int refs;      /* the process object's and the reaper's */
    struct corio__child *prev, *next; /* the reaper's list of polled children (no
                                       * pidfd), under the reaper's lock */
} corio__child;

/* A record for a child about to be spawned (two references: the process
 * object's and the reaper's), allocated before the spawn so that no child
 * is ever killed for want of memory. NULL when memory is exhausted. */
corio__child *corio__child_create(void);

/* Free a record whose spawn failed (no child, never adopted). NULL is
 * ignored. */
void corio__child_discard(corio__child *c);

/* Take charge of the just-spawned child `pid`: open its pidfd (or poll it
 * without one), and register it with the reaper (started if none runs).
 * Returns 0, or a negative code (no reaper could be started) after killing
 * and reaping the child itself and discarding `c`. */
int corio__child_adopt(corio__child *c, pid_t pid);

/* Send sig to the child unless reaped: 0, -ESRCH (reaped), -errno. */
int corio__child_kill(corio__child *c, int sig);

/* Drop a reference; the last frees the record and its future reference. */
void corio__child_unref(corio__child *c);

/* Tests: when non-zero, children get no pidfd (the fallback of kernels
 * before 5.3: polled with waitid(WNOHANG), signalled with kill(2)). Set it
 * in a forked test before the first spawn. */
extern int corio__process_force_nopidfd;

#endif /* CORIO_PROCESS_INTERNAL_H */
