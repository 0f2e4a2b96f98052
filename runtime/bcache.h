/* corio — a loop thread's cache of freed blocks, by size (bcache.c).
 *
 * For buffers a loop takes and gives back once per request (a stream's
 * read and write buffers, an HTTP request block): a loop thread keeps up
 * to CORIO__BCACHE_MAX freed blocks of each of a few sizes and hands the
 * last one freed out first (warm in cache); once the loop has been quiet
 * for a period (corio__quiet, loop.h) with no block taken or given back,
 * the pages inside the cached blocks go back to the kernel. Other threads
 * use malloc and free directly. Loop thread only, no locking. */
#ifndef CORIO_BCACHE_H
#define CORIO_BCACHE_H

#include <stddef.h>

#define CORIO__BCACHE_MAX 32u /* blocks kept per size */

/* A block of `size` bytes: a cached one of that size, or malloc's (a fault
 * point). NULL: no memory. Free it with corio__bcache_put(b, size). */
void *corio__bcache_get(size_t size);
/* Give back b (NULL: nothing), of the size it was taken with: cached on a
 * loop thread while there is room, freed otherwise. */
void corio__bcache_put(void *b, size_t size);
/* Tests: resident pages strictly inside the calling thread's cached
 * blocks (those the quiet trim drops), from mincore. */
size_t corio__bcache_resident(void);

#endif
