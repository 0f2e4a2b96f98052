/* corio — fault injection counter (see fault.h). Compiled only with
 * -Dfault_injection=true.
 *
 * One process-wide counter, atomic because fault points are reached from
 * every thread (loops, pool workers, the process pool's collector). The
 * armed point is claimed with a compare-and-swap on `fired`, so exactly one
 * call fails per arming even when two threads reach the same number (unless
 * armed with _from, where every point from the armed one on fails). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "fault.h"

static _Atomic unsigned long armed_at; /* the point to fail, 1-based; 0: disarmed */
static _Atomic unsigned long reached;  /* fault points reached since arm/disarm */
static _Atomic int fired;              /* the armed point has failed */
static _Atomic int persist;            /* every point after the armed one fails too */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A forked child (fork server, worker) must not inherit a pending fault:
 * it would fail some unrelated allocation of another process. */
static void child_disarm(void) { atomic_store(&armed_at, 0); }
static void atfork_install(void) { pthread_atfork(NULL, NULL, child_disarm); }

static void arm(unsigned long n, int from) {
    pthread_once(&atfork_once, atfork_install);
    atomic_store(&armed_at, 0);
    atomic_store(&reached, 0);
    atomic_store(&fired, 0);
    atomic_store(&persist, from);
    atomic_store(&armed_at, n);
}

void corio__fault_arm(unsigned long n) { arm(n, 0); }

void corio__fault_arm_from(unsigned long n) { arm(n, 1); }

void corio__fault_disarm(void) { atomic_store(&armed_at, 0); }

unsigned long corio__fault_count(void) { return atomic_load(&reached); }

int corio__fault_fired(void) { return atomic_load(&fired); }

int corio__fault_hit(int err) {
    unsigned long k = atomic_fetch_add(&reached, 1) + 1;
    unsigned long at = atomic_load(&armed_at);
    if (at == 0 || k < at)
        return 0;
    if (atomic_load(&persist)) {
        atomic_store(&fired, 1);
        errno = err;
        return 1;
    }
    if (k != at)
        return 0;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&fired, &expect, 1))
        return 0;
    errno = err;
    return 1;
}
