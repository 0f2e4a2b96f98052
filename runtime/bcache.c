/* corio — a loop thread's cache of freed blocks, by size (bcache.h).
 *
 * Why: a keep-alive server gives a waiting connection's buffers back once
 * per request; malloc and free of 8-32 KiB chunks there cost instructions
 * and, when glibc trims the top of its arena, a madvise call. Why the
 * quiet trim (corio__quiet, loop.h): the cached blocks are what a burst left behind, and a loop
 * that went quiet needs none of them resident. The pages strictly inside
 * a block (past the link at its start) are dropped with MADV_DONTNEED:
 * the block stays cached and allocated, reads as zeros, and its next user
 * faults in fresh pages. Only the blocks given back since the last drop
 * (the `hot` ones at the top of each LIFO list) are walked. A burst that
 * outgrows the cache leaves the blocks it could not keep as free chunks
 * in malloc's heap, their touched pages resident; when that was at least
 * SPILL_TRIM bytes since the last quiet spell, the trim also asks
 * glibc to give free pages back (malloc_trim), once for the episode.
 *
 * Threads: the cache is a thread-local of a loop thread, created at its
 * first put there and freed by a thread-specific destructor when the
 * thread ends (its armed corio__quiet is forgotten by then: the loop has ended). */
#include "bcache.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault.h"
#include "loop.h"

#define BC_CLASSES 4                /* sizes kept at once */
#define SPILL_TRIM (1024u * 1024u) /* freed past the cache: worth a malloc_trim */

typedef struct bcache {
    struct {
        void *top;    /* first cached block; each starts with the next's pointer */
        size_t size;  /* the size of every block of this list (0: unused yet) */
        unsigned n;   /* blocks in the list */
        unsigned hot; /* of them, the first `hot` may hold resident pages */
    } c[BC_CLASSES];
    size_t spilled;     /* bytes freed because the cache was full, since the last trim */
    corio__quiet quiet; /* bc_trim once a quiet period saw no get or put */
} bcache;

static CORIO__TLS_HOT bcache *tls_bc; /* read on every get and put */
static pthread_key_t bc_key;
static pthread_once_t bc_once = PTHREAD_ONCE_INIT;
static int bc_key_ok;

static void bc_free(void *p) {
    bcache *bc = p;
    for (int i = 0; i < BC_CLASSES; i++)
        while (bc->c[i].top) {
            void *b = bc->c[i].top;
            memcpy(&bc->c[i].top, b, sizeof(void *));
            free(b);
        }
    free(bc);
}

static void bc_key_init(void) { bc_key_ok = pthread_key_create(&bc_key, bc_free) == 0; }

/* The whole pages inside [b + link, b + size): [*lo, *hi), empty when
 * *hi <= *lo. */
static void inner_pages(const char *b, size_t size, uintptr_t page, uintptr_t *lo,
                        uintptr_t *hi) {
    *lo = ((uintptr_t)b + sizeof(void *) + page - 1) & ~(page - 1);
    *hi = ((uintptr_t)b + size) & ~(page - 1);
}

/* Drop the whole pages inside the block. */
static void drop_pages(char *b, size_t size, uintptr_t page) {
    uintptr_t lo, hi;
    inner_pages(b, size, page, &lo, &hi);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* The loop has been quiet a period with no block taken or given back:
 * drop the pages of the blocks given back since the last drop. */
static void bc_trim(corio__loop *l, corio__quiet *q) {
    (void)l;
    bcache *bc = (bcache *)(void *)((char *)q - offsetof(bcache, quiet));
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < BC_CLASSES; i++) {
        char *b = bc->c[i].top;
        for (unsigned k = 0; k < bc->c[i].hot && b; k++) {
            drop_pages(b, bc->c[i].size, page);
            memcpy(&b, b, sizeof(void *));
        }
        bc->c[i].hot = 0;
    }
    if (bc->spilled >= SPILL_TRIM)
        malloc_trim(0);
    bc->spilled = 0;
}

void *corio__bcache_get(size_t size) {
    bcache *bc = tls_bc;
    for (int i = 0; bc && i < BC_CLASSES; i++)
        if (bc->c[i].size == size && bc->c[i].top) {
            void *b = bc->c[i].top;
            memcpy(&bc->c[i].top, b, sizeof(void *));
            if (bc->c[i].hot) /* the hot blocks are the top ones */
                bc->c[i].hot--;
            bc->c[i].n--;
            bc->quiet.uses++; /* a get alone leaves nothing to drop: no arming */
            return b;
        }
    return corio__malloc(size);
}

static bcache *bc_create(void) {
    pthread_once(&bc_once, bc_key_init);
    bcache *bc;
    if (!bc_key_ok || !(bc = calloc(1, sizeof *bc)))
        return NULL;
    if (pthread_setspecific(bc_key, bc) != 0) {
        free(bc);
        return NULL;
    }
    bc->quiet.trim = bc_trim;
    return tls_bc = bc;
}

void corio__bcache_put(void *b, size_t size) {
    if (!b)
        return;
    corio__loop *l = corio__tls_loop;
    if (size < sizeof(void *)) { /* too small to hold the link */
        free(b);
        return;
    }
    bcache *bc = tls_bc;
    if (!bc && l)
        bc = bc_create();
    for (int i = 0; bc && l && i < BC_CLASSES; i++)
        if ((bc->c[i].size == size || bc->c[i].n == 0) && bc->c[i].n < CORIO__BCACHE_MAX) {
            bc->c[i].size = size;
            memcpy(b, &bc->c[i].top, sizeof(void *));
            bc->c[i].top = b;
            bc->c[i].n++;
            bc->c[i].hot++;
            corio__quiet_use(l, &bc->quiet);
            return;
        }
    if (bc && l) {
        bc->spilled += size;
        corio__quiet_use(l, &bc->quiet);
    }
    free(b);
}

size_t corio__bcache_resident(void) {
    bcache *bc = tls_bc;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    size_t n = 0;
    for (int i = 0; bc && i < BC_CLASSES; i++)
        for (char *b = bc->c[i].top; b; memcpy(&b, b, sizeof(void *))) {
            uintptr_t lo, hi;
            inner_pages(b, bc->c[i].size, page, &lo, &hi);
            for (uintptr_t p = lo; p < hi; p += page) {
                unsigned char v = 0;
                if (mincore((void *)p, page, &v) == 0)
                    n += v & 1;
            }
        }
    return n;
}
