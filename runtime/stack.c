/* corio — guard-paged coroutine stacks and their per-loop pool.
 *
 * Cost: a pooled alloc/free is a few pointer moves (O(1) for the default
 * size, O(cached odd sizes) otherwise); a fresh stack costs mmap +
 * madvise(MADV_GUARD_INSTALL) or mprotect + madvise(MADV_NOHUGEPAGE), and
 * its pages fault in as the coroutine first touches them.
 *
 * RSS policy. A freed stack is cached as it is, with its touched pages
 * still resident: releasing them (MADV_DONTNEED / MADV_FREE) would put a
 * syscall on every coroutine exit and a page fault on the next start,
 * which is the cost the pool exists to avoid. The cache is bounded
 * instead: at most max_cached stacks, so cached memory is at most
 * max_cached x size (64 x 256 KiB = 16 MiB for the defaults a loop would
 * pick) and in practice the few pages each coroutine touched.
 * corio__stack_pool_trim lets an idle loop give that back. Live stacks
 * cost what their coroutines touched; nothing here can shrink those. */
#include "stack.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fault.h"

#ifdef CORIO_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* Lightweight guard regions, Linux 6.13+ (older libc headers lack it). */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* 0: unknown yet, 1: MADV_GUARD_INSTALL works, -1: use mprotect. Pools
 * on different loop threads may probe at the same time and all store the
 * same outcome; an atomic keeps that race defined. Read only when a stack
 * is mapped (not on the pooled path). */
static _Atomic int guard_install_ok;

static size_t page_size(void)
{
    static _Atomic size_t cached;
    size_t ps = cached;
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
        cached = ps;
    }
    return ps;
}

/* Round n up to a multiple of the page size; 0 on overflow. */
static size_t round_page(size_t n)
{
    size_t ps = page_size();
    if (n > SIZE_MAX - (ps - 1))
        return 0;
    return (n + ps - 1) & ~(ps - 1);
}

static int make_guard(void *map)
{
    if (guard_install_ok >= 0) {
        if (madvise(map, CORIO__STACK_GUARD, MADV_GUARD_INSTALL) == 0) {
            guard_install_ok = 1;
            return 0;
        }
        /* EINVAL: kernel (or valgrind) without guard regions. Anything
         * else (ENOMEM, EAGAIN) is retried with mprotect too. */
        if (errno == EINVAL)
            guard_install_ok = -1;
    }
    return mprotect(map, CORIO__STACK_GUARD, PROT_NONE) == 0 ? 0 : -errno;
}

static int map_stack(size_t size, corio__stack **out)
{
    corio__stack *s = corio__malloc(sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    size_t map_size = size + CORIO__STACK_GUARD;
    /* MAP_NORESERVE: no swap accounting for address space the coroutine
     * may never touch (ignored under overcommit_memory=2). MAP_STACK:
     * documents intent and, since Linux 6.7, also disables THP. */
    void *map = corio__mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                     -1, 0);
    if (map == MAP_FAILED) {
        int err = -errno;
        free(s);
        return err == -EAGAIN ? -ENOMEM : err;
    }
    int err = make_guard(map);
    if (err < 0) {
        munmap(map, map_size);
        free(s);
        return err == -EAGAIN ? -ENOMEM : err;
    }
    /* Transparent huge pages would back a 2 MiB region (several stacks'
     * tops) with 2 MiB of RAM and wreck the RSS budget; older kernels do
     * not infer this from MAP_STACK. Failure only costs memory. */
    (void)madvise((char *)map + CORIO__STACK_GUARD, size, MADV_NOHUGEPAGE);
    s->map = map;
    s->map_size = map_size;
    s->lo = (char *)map + CORIO__STACK_GUARD;
    s->size = size;
    s->next = NULL;
    s->vg_id = 0;
#ifdef CORIO_HAVE_VALGRIND_H
    /* Tell memcheck this range is a stack, so switching rsp into it is
     * not taken for a huge stack frame. Registered for the life of the
     * mapping, cached or not. */
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + size);
#endif
    *out = s;
    return 0;
}

static void unmap_stack(corio__stack *s)
{
#ifdef CORIO_HAVE_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    munmap(s->map, s->map_size);
    free(s);
}

int corio__stack_pool_init(corio__stack_pool *p, size_t default_size,
                           size_t max_cached)
{
    size_t ds = round_page(default_size ? default_size : CORIO__STACK_DEFAULT);
    if (ds == 0 || ds > SIZE_MAX - CORIO__STACK_GUARD)
        return -EINVAL;
    p->default_size = ds;
    p->max_cached = max_cached;
    p->n_cached = 0;
    p->cache = NULL;
    p->odd_cache = NULL;
    p->n_live = 0;
    return 0;
}

int corio__stack_alloc(corio__stack_pool *p, size_t size, corio__stack **out)
{
    size_t want = size ? round_page(size) : p->default_size;
    if (want == 0 || want > SIZE_MAX - CORIO__STACK_GUARD)
        return -EINVAL;
    corio__stack *s = NULL;
    if (want == p->default_size) {
        s = p->cache;
        if (s != NULL)
            p->cache = s->next;
    } else {
        for (corio__stack **pp = &p->odd_cache; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->size == want) {
                s = *pp;
                *pp = s->next;
                break;
            }
        }
    }
    if (s != NULL) {
        p->n_cached--;
        s->next = NULL;
    } else {
        int err = map_stack(want, &s);
        if (err < 0)
            return err;
    }
    p->n_live++;
    *out = s;
    return 0;
}

void corio__stack_free(corio__stack_pool *p, corio__stack *s)
{
    if (s == NULL)
        return;
    assert(p->n_live > 0);
    p->n_live--;
    if (p->n_cached >= p->max_cached) {
        unmap_stack(s);
        return;
    }
    corio__stack **head = s->size == p->default_size ? &p->cache : &p->odd_cache;
    s->next = *head;
    *head = s;
    p->n_cached++;
}

static void drain(corio__stack_pool *p, corio__stack **head, size_t keep)
{
    while (*head != NULL && p->n_cached > keep) {
        corio__stack *s = *head;
        *head = s->next;
        p->n_cached--;
        unmap_stack(s);
    }
}

void corio__stack_pool_trim(corio__stack_pool *p, size_t keep)
{
    /* Odd sizes are the least likely to be reused: they go first. */
    drain(p, &p->odd_cache, keep);
    drain(p, &p->cache, keep);
}

void corio__stack_pool_fini(corio__stack_pool *p)
{
    assert(p->n_live == 0);
    corio__stack_pool_trim(p, 0);
}
