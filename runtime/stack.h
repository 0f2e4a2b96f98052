/* corio — coroutine stacks: mmap'd, guard-protected, pooled per loop.
 *
 * Memory layout of one stack (addresses grow upwards):
 *
 *     map                        lo                               lo + size
 *     |<-- CORIO__STACK_GUARD -->|<------------- size -------------->|
 *     |  guard: faults on touch  |  usable, read/write, lazily backed |
 *                                ^ the stack grows down towards here
 *
 * The guard is installed with MADV_GUARD_INSTALL where the kernel has it
 * (Linux 6.13+: page-table markers, so the mapping stays one VMA and
 * adjacent stacks merge into one VMA), else with mprotect(PROT_NONE) (two
 * VMAs per stack, which limits a process to about vm.max_map_count / 2
 * live stacks: ~32k with the default 65530).
 *
 * A pool belongs to one loop and is used by one thread at a time: no
 * locking. */
#ifndef CORIO_STACK_H
#define CORIO_STACK_H

#include <stddef.h>

/* Default usable stack size: 256 KiB.
 *
 * Why: mmap reserves address space only; a page costs RAM once touched,
 * so a coroutine's resident cost is the depth it actually reached (an idle
 * coroutine parked in the scheduler typically holds 1-2 pages), not this
 * number. 256 KiB is roomy enough for libc calls that are heavy on stack
 * (getaddrinfo/NSS, printf of long double, iconv) and moderate recursion,
 * while 100k coroutines reserve 100k x 272 KiB = ~26.6 GiB of address
 * space (of 128 TiB) and, at 1-2 touched pages each, 0.4-0.8 GiB of RSS
 * plus ~0.5 KiB of page table each: inside the 1 GiB budget for 100k idle
 * coroutines. Pick smaller sizes per coroutine (corio__stack_alloc's size
 * argument) under vm.overcommit_memory=2, which charges reservations. */
#define CORIO__STACK_DEFAULT ((size_t)256 * 1024)

/* Size of the no-access region below every stack: 16 KiB.
 * It costs address space only. One page would catch a frame that runs
 * off the stack a little; a function with a large local array (char
 * buf[8192]) can step over a single page into whatever mapping lies below
 * (often another stack) without faulting, so we reserve four. The
 * overflow handler also reports faults up to 64 KiB below lo. */
#define CORIO__STACK_GUARD ((size_t)16 * 1024)

/* One stack. Owned by its pool: between corio__stack_alloc and
 * corio__stack_free by exactly one fiber, otherwise by the pool's cache. */
typedef struct corio__stack {
    void *lo;                  /* lowest usable byte (just above the guard) */
    size_t size;               /* usable bytes, a multiple of the page size */
    void *map;                 /* start of the whole mapping (the guard) */
    size_t map_size;           /* CORIO__STACK_GUARD + size */
    struct corio__stack *next; /* link in the pool's cache while cached */
    unsigned vg_id;            /* valgrind stack id (0 when not under valgrind) */
} corio__stack;

/* A per-loop cache of stacks. Not thread-safe. */
typedef struct corio__stack_pool {
    size_t default_size;      /* usable size used when alloc asks for 0 */
    size_t max_cached;        /* most stacks kept in the caches together */
    size_t n_cached;          /* stacks in both caches now */
    corio__stack *cache;      /* LIFO cache of default_size stacks */
    corio__stack *odd_cache;  /* cache of other sizes (searched linearly) */
    size_t n_live;            /* stacks handed out and not yet freed */
} corio__stack_pool;

/* Initialise a pool. default_size 0 means CORIO__STACK_DEFAULT; sizes are
 * rounded up to the page size. At most max_cached freed stacks are kept
 * for reuse; the others are unmapped at once. Returns 0 or -EINVAL. */
int corio__stack_pool_init(corio__stack_pool *p, size_t default_size,
                           size_t max_cached);

/* Get a stack of at least `size` usable bytes (0: the pool's default),
 * from the cache when one of the same rounded size is there (O(1) for the
 * default size), else freshly mapped (mmap + guard: two or three
 * syscalls). On success *out is owned by the caller until
 * corio__stack_free. Returns 0, -ENOMEM (no memory or address space, or
 * too many mappings) or -EINVAL (size overflow). A reused stack holds
 * whatever its last user left on it. */
int corio__stack_alloc(corio__stack_pool *p, size_t size, corio__stack **out);

/* Give a stack back. It goes to the cache if fewer than max_cached are
 * there (no syscall), else it is unmapped. */
void corio__stack_free(corio__stack_pool *p, corio__stack *s);

/* Unmap cached stacks until at most `keep` remain (a loop may call this
 * when it goes idle to return memory). */
void corio__stack_pool_trim(corio__stack_pool *p, size_t keep);

/* Unmap every cached stack. Stacks still handed out must have been freed
 * before (a debug build asserts it). The pool may be re-initialised. */
void corio__stack_pool_fini(corio__stack_pool *p);

#endif /* CORIO_STACK_H */
