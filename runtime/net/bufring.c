/* corio — the multishot recv path of streams: one provided-buffer ring per
 * loop, one multishot recv per stream.
 *
 *   kernel ──CQE(len, bid, F_MORE)──▶ ms_cqe ──queue (bid, len)──▶ ms_fill
 *     ▲                                 └──unpark──▶ reader          │
 *     └──────────── buffer back in the ring (recycle) ◀── copied ────┘
 *
 * Each loop registers, on first use, a ring of BR_ENTRIES buffers of
 * BR_SIZE bytes (io_uring_register_buf_ring, kernel 5.19; multishot recv
 * needs 6.0). A stream's multishot recv (IORING_OP_RECV with
 * IORING_RECV_MULTISHOT and IOSQE_BUFFER_SELECT) stays armed across calls
 * and posts one CQE per receive, naming the buffer the kernel filled. The
 * CQE handler only queues the buffer; the reader copies it into the
 * stream's read buffer and gives it back to the ring at once, so buffers
 * are held only by streams whose reader is behind.
 *
 * Why a copy rather than handing out the provided buffer: the stream's
 * views must be contiguous across receives (a line split over two
 * buffers), which a ring buffer cannot be; one memcpy of bytes that are
 * hot in cache is what that costs. The benchmark decides whether the
 * saved submissions pay for it (docs/benchmarks.md).
 *
 * Back-pressure: when a stream's queue holds rmax bytes nobody reads, its
 * multishot is cancelled, and further data waits in the socket (where TCP
 * flow control applies) until the reader catches up and re-arms. When the
 * ring runs dry (-ENOBUFS ends the multishot) the next refill of that
 * stream is one plain recv, so a starved ring slows streams down instead
 * of spinning re-arms.
 *
 * Giving memory back: the kernel writes each receive into the ring's next
 * buffer, so after a burst every buffer the burst used stays resident
 * although a quiet loop needs none of them. The first buffer taken after
 * a quiet spell arms the ring's corio__quiet (loop.h); once no buffer was
 * taken for a whole quiet period, the pages of every
 * buffer not held by a stream are dropped with MADV_DONTNEED (the
 * buffers stay in the ring; the kernel's next write into one faults in a
 * zeroed page). That is safe only if no buffer can be filled between the
 * loop's last look at the CQ ring and the madvise: the kernel fills a
 * provided buffer and posts its CQE together, in an inline issue (at a
 * submit) or in task work of this ring, never on io-wq for these recvs
 * (no IOSQE_ASYNC; sockets are pollable). With DEFER_TASKRUN that task
 * work runs only inside io_uring_enter with GETEVENTS, so the loop runs
 * the hook after reaping with the CQ ring empty (loop.c), and every
 * buffer the kernel filled is then held (queued) and kept. Without
 * DEFER_TASKRUN task work may run at any return to user space, so the
 * ring never arms the hook and keeps its pages.
 *
 * Support is probed by trying: a failed registration or a first multishot
 * ending with -EINVAL turns the path off for the process, and every stream
 * then takes the plain path with the same results.
 *
 * Threads: a loop's ring, its streams' queues and the CQE handler are all
 * touched only on the loop's thread, so nothing here is locked. The ring's
 * tail is published to the kernel with the release store of
 * io_uring_buf_ring_advance. The per-loop ring is found through a
 * thread-local (a loop is one thread) and freed by a thread-specific
 * destructor when the loop thread exits; the kernel side goes with the
 * ring itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "corio/runtime.h"
#include "fault.h"
#include "io_internal.h"
#include "stream_internal.h"

#define BR_ENTRIES 1024u  /* buffers per loop (a power of two) */
#define BR_SIZE 4096u     /* bytes per buffer */
#define BR_BYTES ((size_t)BR_ENTRIES * BR_SIZE)
#define BR_BGID 0x5c01    /* buffer group id, corio's streams only */
#define Q_INITIAL 8u      /* a stream's first queue slots (grown up to BR_ENTRIES) */
/* The ring starts with BR_START buffers and gets BR_STEP fresh ones each
 * time fewer than BR_LOW are left in it. The kernel takes buffers in ring
 * order and recycled ones go to the tail, so every buffer the ring ever
 * held is touched in rotation: handing out only as many as the loop has
 * needed at once keeps the resident size at what the traffic used (128
 * buffers, 512 KiB, for small requests on thousands of connections)
 * instead of BR_ENTRIES x BR_SIZE = 4 MiB per loop. */
#define BR_START 128u
#define BR_STEP 64u
#define BR_LOW 32u

typedef struct corio__bufring {
    struct io_uring_buf_ring *br; /* the ring shared with the kernel (page aligned) */
    char *bufs;                   /* BR_ENTRIES buffers of BR_SIZE bytes (page aligned) */
    int mask;                     /* io_uring_buf_ring_mask(BR_ENTRIES) */
    unsigned given;               /* distinct buffers put in the ring so far (bids 0..given-1) */
    unsigned avail;               /* of them, in the ring now (not held by a stream) */
    corio__quiet quiet;           /* ring_trim once a quiet period saw no buffer taken */
    uint8_t held[BR_ENTRIES];     /* 1: the buffer is out of the ring (queued in a stream) */
} corio__bufring;

/* -1 not known yet, 0 the kernel lacks the path, 1 it worked once.
 * Relaxed: a stale read only costs one more failed attempt. */
static _Atomic int ms_support = -1;

/* This loop thread's ring, and whether creating it failed. */
static _Thread_local corio__bufring *tls_ring;
static _Thread_local int tls_ring_failed;
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;

static void ring_free(void *p) {
    corio__bufring *r = p;
    munmap(r->bufs, BR_BYTES);
    free(r->br);
    free(r);
}

static void ring_key_init(void) {
    if (pthread_key_create(&ring_key, ring_free) != 0)
        tls_ring_failed = 1; /* no destructor: do without the path */
}

static void recycle(corio__bufring *r, uint16_t bid) {
    r->held[bid] = 0;
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * BR_SIZE, BR_SIZE, bid, r->mask, 0);
    io_uring_buf_ring_advance(r->br, 1);
    r->avail++;
}

/* Put up to n buffers never used before into the ring. */
static void give_fresh(corio__bufring *r, unsigned n) {
    if (n > BR_ENTRIES - r->given)
        n = BR_ENTRIES - r->given;
    for (unsigned i = 0; i < n; i++) {
        unsigned bid = r->given + i;
        io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * BR_SIZE, BR_SIZE, (uint16_t)bid,
                              r->mask, (int)i);
    }
    io_uring_buf_ring_advance(r->br, (int)n);
    r->given += n;
    r->avail += n;
}

/* The loop has been quiet for a period with no buffer taken: drop the
 * pages of every buffer the ring holds (runs of them, one madvise each;
 * mostly one for all). */
static void ring_trim(corio__loop *l, corio__quiet *q) {
    (void)l;
    corio__bufring *r = (corio__bufring *)(void *)((char *)q - offsetof(corio__bufring, quiet));
    for (unsigned b = 0; b < r->given;) {
        if (r->held[b]) {
            b++;
            continue;
        }
        unsigned e = b + 1;
        while (e < r->given && !r->held[e])
            e++;
        (void)madvise(r->bufs + (size_t)b * BR_SIZE, (size_t)(e - b) * BR_SIZE, MADV_DONTNEED);
        b = e;
    }
}

/* The kernel took buffer bid: top the ring up before it runs dry. */
static void took(corio__loop *l, corio__bufring *r, uint16_t bid) {
    r->held[bid] = 1;
    if (l->setup_flags & IORING_SETUP_DEFER_TASKRUN)
        corio__quiet_use(l, &r->quiet);
    r->avail--;
    if (r->avail < BR_LOW && r->given < BR_ENTRIES)
        give_fresh(r, BR_STEP);
}

/* The calling loop thread's ring, registered on first use; NULL when it
 * cannot be had. */
static corio__bufring *ring_get(corio__loop *l) {
    if (tls_ring || tls_ring_failed)
        return tls_ring;
    pthread_once(&ring_key_once, ring_key_init);
    if (tls_ring_failed)
        return NULL;
    corio__bufring *r = corio__calloc(1, sizeof *r);
    void *br = NULL, *bufs = MAP_FAILED;
    /* The buffers in a mapping of their own: page-aligned, one page each,
     * so that ring_trim can drop exactly the idle ones, and untouched
     * (not resident) until the kernel first fills one. */
    if (!r || posix_memalign(&br, 4096, BR_ENTRIES * sizeof(struct io_uring_buf)) != 0 ||
        (bufs = corio__mmap(NULL, BR_BYTES, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) == MAP_FAILED) {
        free(br);
        free(r);
        return NULL; /* try again next time: memory may come back */
    }
    r->bufs = bufs;
    r->quiet.trim = ring_trim;
    r->br = br;
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                   .ring_entries = BR_ENTRIES, .bgid = BR_BGID};
    int e = io_uring_register_buf_ring(&l->ring, &reg, 0);
    if (e < 0 || pthread_setspecific(ring_key, r) != 0) {
        if (e != -ENOMEM)
            atomic_store_explicit(&ms_support, 0, memory_order_relaxed);
        tls_ring_failed = 1;
        ring_free(r);
        return NULL;
    }
    io_uring_buf_ring_init(r->br);
    r->mask = io_uring_buf_ring_mask(BR_ENTRIES);
    give_fresh(r, BR_START);
    tls_ring = r;
    return r;
}

static corio_stream *stream_of(corio__op *op) {
    return (corio_stream *)(void *)((char *)op - offsetof(corio_stream, ms.op));
}

/* Ask the kernel to end the multishot; its last CQE will say so. */
static void cancel_ms(corio__loop *l, corio__stream_ms *ms) {
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_cancel(sqe, &ms->op, 0);
    io_uring_sqe_set_data64(sqe, 0);
}

/* Double a full queue, its entries moved to the front. -ENOMEM when
 * there is no memory (the caller drops the buffer). */
static int q_grow(corio__stream_ms *ms) {
    size_t cap = ms->qcap * 2 < BR_ENTRIES ? ms->qcap * 2 : BR_ENTRIES;
    if (cap <= ms->qcap)
        return -ENOMEM; /* cannot happen: the ring has no more buffers */
    corio__stream_chunk *q = corio__malloc(cap * sizeof *q);
    if (!q)
        return -ENOMEM;
    for (size_t i = 0; i < ms->qlen; i++)
        q[i] = ms->q[(ms->qhead + i) % ms->qcap];
    free(ms->q);
    ms->q = q;
    ms->qhead = 0;
    ms->qcap = cap;
    return 0;
}

/* One CQE of a stream's multishot recv (loop thread, from reap). */
static void ms_cqe(corio__loop *l, corio__op *op, struct io_uring_cqe *cqe) {
    corio_stream *s = stream_of(op);
    corio__stream_ms *ms = &s->ms;
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
        uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        s->st.ring_buffers++;
        took(l, ms->ring, bid);
        atomic_store_explicit(&ms_support, 1, memory_order_relaxed);
        if (ms->stopping) {
            recycle(ms->ring, bid);
        } else {
            /* A stream never holds more buffers than the ring has, so
             * the queue needs at most BR_ENTRIES slots; it starts small
             * (a connection mostly holds one) and doubles when full. */
            if (ms->qlen == ms->qcap && q_grow(ms) < 0) {
                recycle(ms->ring, bid); /* the bytes are lost: fail the reader */
                ms->err = -ENOMEM;
                goto done;
            }
            ms->q[(ms->qhead + ms->qlen) % ms->qcap] =
                (corio__stream_chunk){.bid = bid, .off = 0, .len = (uint32_t)cqe->res};
            ms->qlen++;
            ms->qbytes += (size_t)cqe->res;
        }
    } else if (cqe->res == 0) {
        ms->eof = 1;
    } else if (cqe->res == -ENOBUFS) {
        ms->starved = 1;
        if (ms->ring->given < BR_ENTRIES)
            give_fresh(ms->ring, BR_STEP); /* a burst outran the top-ups */
    } else if (cqe->res == -EINVAL &&
               atomic_load_explicit(&ms_support, memory_order_relaxed) < 0) {
        atomic_store_explicit(&ms_support, 0, memory_order_relaxed); /* no multishot recv */
        ms->starved = 1; /* this refill goes the plain way */
    } else if (cqe->res < 0 && !(cqe->res == -ECANCELED && (ms->pausing || ms->stopping))) {
        ms->err = cqe->res;
    }
done:
    if (!more) {
        ms->armed = 0;
        ms->pausing = 0;
        if (ms->destroyer)
            corio__loop_make_ready(l, ms->destroyer);
    } else if (!ms->pausing && !ms->stopping && ms->qbytes >= s->rmax) {
        cancel_ms(l, ms);
        ms->pausing = 1;
    }
    if (ms->waiter)
        corio__parker_unpark(ms->waiter);
}

static void arm(corio_stream *s, corio__loop *l) {
    corio__stream_ms *ms = &s->ms;
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BR_BGID;
    io_uring_sqe_set_data(sqe, &ms->op);
    ms->op.on_cqe = ms_cqe;
    ms->armed = 1;
    l->inflight++; /* until the CQE without F_MORE (loop.c handle_cqe) */
    s->st.reads++;
    s->st.multishot_arms++;
}

/* Copy queued buffers into the read buffer's free tail, recycling each
 * one that is emptied. Returns the bytes copied. */
static size_t drain(corio_stream *s) {
    corio__stream_ms *ms = &s->ms;
    size_t room = s->rcap - s->rpos - s->rlen, added = 0;
    while (ms->qlen && room) {
        corio__stream_chunk *c = &ms->q[ms->qhead];
        size_t n = c->len - c->off < room ? c->len - c->off : room;
        memcpy(s->rbuf + s->rpos + s->rlen, ms->ring->bufs + (size_t)c->bid * BR_SIZE + c->off, n);
        s->rlen += n;
        room -= n;
        added += n;
        c->off += (uint32_t)n;
        ms->qbytes -= n;
        if (c->off == c->len) {
            recycle(ms->ring, c->bid);
            ms->qhead = (ms->qhead + 1) % ms->qcap;
            ms->qlen--;
        }
    }
    s->st.bytes_read += added;
    return added;
}

ssize_t corio__stream_ms_fill(corio_stream *s, int64_t deadline, int wait_only) {
    corio__stream_ms *ms = &s->ms;
    corio__loop *l = corio__tls_coro ? corio__tls_loop : NULL;
    if (ms->loop && l != ms->loop)
        return ms->armed || ms->qlen ? -EINVAL : CORIO__MS_UNAVAILABLE;
    if (!l || corio__io_force_fallback)
        return CORIO__MS_UNAVAILABLE;
    if (!ms->ring) {
        if (atomic_load_explicit(&ms_support, memory_order_relaxed) == 0)
            return CORIO__MS_UNAVAILABLE;
        corio__bufring *r = ring_get(l);
        if (!r)
            return CORIO__MS_UNAVAILABLE;
        ms->q = corio__malloc(Q_INITIAL * sizeof *ms->q);
        if (!ms->q)
            return -ENOMEM;
        ms->qcap = Q_INITIAL;
        ms->ring = r;
        ms->loop = l;
    }
    for (;;) {
        if (ms->qlen)
            return wait_only ? CORIO__MS_READY : (ssize_t)drain(s);
        if (ms->eof)
            return 0;
        if (ms->err) {
            int e = ms->err;
            ms->err = 0;
            return e;
        }
        if (!ms->armed && (ms->starved ||
                           atomic_load_explicit(&ms_support, memory_order_relaxed) == 0)) {
            ms->starved = 0;
            return CORIO__MS_UNAVAILABLE;
        }
        if (corio_cancel_requested())
            return -ECANCELED;
        if (!ms->armed) {
            /* Nothing armed and no time left: the plain path's one attempt
             * is what timeout 0 promises. */
            if (deadline != INT64_MAX && corio__now_ns() >= deadline)
                return CORIO__MS_UNAVAILABLE;
            arm(s, l);
        }
        corio__parker p;
        corio__parker_init(&p);
        ms->waiter = &p;
        int r = corio__parker_park(&p, deadline);
        ms->waiter = NULL;
        /* Data that raced in with a timeout or a cancel stays queued for
         * the next call: never lost. */
        if (r < 0)
            return r;
    }
}

int corio__stream_ms_stop(corio_stream *s) {
    corio__stream_ms *ms = &s->ms;
    if (!ms->ring)
        return 0;
    if (ms->armed) {
        corio__coro *c = corio__tls_coro;
        if (!c || corio__tls_loop != ms->loop)
            return -EINVAL;
        ms->stopping = 1;
        cancel_ms(ms->loop, ms);
        /* ms->op is named by the kernel until its last CQE: wait for it,
         * deaf to cancellation (only ms_cqe makes us ready). */
        ms->destroyer = c;
        while (ms->armed)
            corio__coro_suspend(c);
        ms->destroyer = NULL;
    }
    /* Give queued buffers back, on the loop thread only: elsewhere the
     * ring may be gone with its loop (they are then lost to the ring, not
     * to memory). */
    if (tls_ring == ms->ring)
        while (ms->qlen) {
            recycle(ms->ring, ms->q[ms->qhead].bid);
            ms->qhead = (ms->qhead + 1) % ms->qcap;
            ms->qlen--;
        }
    free(ms->q);
    ms->q = NULL;
    ms->ring = NULL;
    return 0;
}

int corio__bufring_resident(void) {
    corio__bufring *r = tls_ring;
    if (!r)
        return -1;
    unsigned char vec[BR_ENTRIES];
    if (mincore(r->bufs, BR_BYTES, vec) < 0)
        return -1;
    int n = 0;
    for (unsigned b = 0; b < BR_ENTRIES; b++)
        n += vec[b] & 1;
    return n;
}

int corio__bufring_can_trim(void) {
    corio__loop *l = corio__tls_loop;
    return l && (l->setup_flags & IORING_SETUP_DEFER_TASKRUN) ? 1 : 0;
}
