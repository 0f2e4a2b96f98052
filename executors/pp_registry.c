/* corio — process pool: the registries of live pools and of parent-side
 * descriptors. A leaf: the fork server (process_worker.c) and every other
 * part of the pool call it; it calls nothing of theirs. */
#include "pp_internal.h"

/* ---- registries -------------------------------------------------------------- */

/* Live pools, for the canceller, which may run after its pool is gone. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pool *live_pools;
static uint64_t next_pool_id = 1;

/* Every parent-side descriptor of every pool, so that a fork server forked
 * later closes them: otherwise a worker socket would stay open in another
 * pool's processes. corio__pp_fd_lock is held across the fork in create. */
pthread_mutex_t corio__pp_fd_lock = PTHREAD_MUTEX_INITIALIZER;
static int *fd_reg;
static size_t fd_n, fd_cap;

void corio__pp_reg_fd_locked(int fd) {
    if (fd_n == fd_cap) {
        size_t cap = fd_cap ? fd_cap * 2 : 64;
        int *n = corio__realloc(fd_reg, cap * sizeof *n);
        if (!n)
            return; /* only hygiene is lost */
        fd_reg = n;
        fd_cap = cap;
    }
    fd_reg[fd_n++] = fd;
}

void corio__pp_close_fd(int fd) {
    if (fd < 0)
        return;
    pthread_mutex_lock(&corio__pp_fd_lock);
    for (size_t i = 0; i < fd_n; i++) {
        if (fd_reg[i] == fd) {
            fd_reg[i] = fd_reg[--fd_n];
            break;
        }
    }
    close(fd);
    pthread_mutex_unlock(&corio__pp_fd_lock);
}

void corio__pp_close_registered(void) {
    /* In the fork server: single-threaded, corio__pp_fd_lock was held by the forking
     * thread, whose copy we are; read the array as it was. */
    for (size_t i = 0; i < fd_n; i++)
        close(fd_reg[i]);
    fd_n = 0;
    corio__executor_forget_all(); /* the parent's executors are not joined here */
    /* Locks held at fork time by the forking thread (corio__pp_fd_lock) or by threads
     * that do not exist here (live_lock) start afresh, so that a job may
     * create a pool of its own. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    corio__pp_fd_lock = fresh;
    live_lock = fresh;
    live_pools = NULL;
}


/* Lock p if it is still the live pool j was submitted to (a job's future
 * may outlive its pool): 1 with p->lock held, 0 if it is gone. The live
 * list's lock is taken first, so destroy cannot free p in between. */
int corio__pp_lock_live_pool(pool *p, const pp_job *j) {
    pthread_mutex_lock(&live_lock);
    pool *q = live_pools;
    while (q && !(q == p && q->id == j->pool_id))
        q = q->live_next;
    if (q)
        pthread_mutex_lock(&p->lock);
    pthread_mutex_unlock(&live_lock);
    return q != NULL;
}

void corio__pp_live_add(pool *p) {
    pthread_mutex_lock(&live_lock);
    p->id = next_pool_id++;
    p->live_next = live_pools;
    live_pools = p;
    pthread_mutex_unlock(&live_lock);
}

void corio__pp_live_remove(pool *p) {
    pthread_mutex_lock(&live_lock);
    pool **pp = &live_pools;
    while (*pp && *pp != p)
        pp = &(*pp)->live_next;
    if (*pp)
        *pp = p->live_next;
    pthread_mutex_unlock(&live_lock);
}
