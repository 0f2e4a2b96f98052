/* corio — internals of buffered streams (runtime/net/stream.c,
 * stream_read.c, bufring.c), and the transport interface a layer under
 * the buffers (TLS next) plugs into.
 *
 * The buffering code never touches the descriptor itself: every byte goes
 * through a corio__stream_transport. The default transport (stream.c) is
 * the descriptor: recv/send on a socket, read/write elsewhere, each call
 * suspending a coroutine or blocking a thread like corio/io.h. A TLS layer
 * creates its stream with corio__stream_create_with and its own vtable
 * (SSL_read / SSL_write on the same descriptor), and the public API stays
 * as it is. Only the default transport may use the multishot recv path
 * (it reads the descriptor behind the transport's back).
 *
 * Read buffer layout (one allocation, grown by realloc up to rmax; NULL
 * with rcap 0 after corio__stream_trim, allocated again at rinit bytes by
 * the next refill, on the multishot path only once data is queued):
 *
 *   rbuf                rbuf+rpos         rbuf+rpos+rlen       rbuf+rcap
 *   | consumed (free) |  buffered data  |      free space      |
 *
 * A view handed out points into [rpos, rpos+rlen) as it was; views stay
 * valid until the next read call because only a refill moves or
 * reallocates the buffer (it compacts to offset 0 first), refills happen
 * only inside read calls, and consuming only advances rpos.
 */
#ifndef CORIO_STREAM_INTERNAL_H
#define CORIO_STREAM_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "corio/stream.h"
#include "loop.h"

/* The operations under the buffers. Every call takes an absolute deadline
 * (CLOCK_MONOTONIC ns, INT64_MAX: none), waits as corio/io.h calls do, and
 * returns a byte count or a negative code (-ETIMEDOUT, -ECANCELED,
 * -errno). `ctx` is the transport's own state. */
typedef struct corio__stream_transport {
    /* Receive up to len bytes; 0 at the end of the stream. */
    ssize_t (*read)(void *ctx, void *buf, size_t len, int64_t deadline);
    /* Scatter receive (may receive into the first buffer only). */
    ssize_t (*readv)(void *ctx, const struct iovec *iov, int iovcnt, int64_t deadline);
    /* Send up to len bytes (never raises SIGPIPE on a socket). */
    ssize_t (*write)(void *ctx, const void *buf, size_t len, int64_t deadline);
    /* Gather send, in one operation. */
    ssize_t (*writev)(void *ctx, const struct iovec *iov, int iovcnt, int64_t deadline);
    /* shutdown(2) of a direction: 0 or -errno; never blocks. */
    int (*shutdown)(void *ctx, int how);
    /* Release the transport and close the descriptor: 0 or -errno. */
    int (*close)(void *ctx);
    /* Release the transport, leaving the descriptor open (detach); NULL:
     * nothing to release. */
    void (*release)(void *ctx);
    /* Send what the transport itself still holds (corio_stream_flush,
     * after the stream's own buffer): 0 or a negative code; NULL: the
     * transport holds nothing. */
    int (*flush)(void *ctx, int64_t deadline);
} corio__stream_transport;

/* One received provided buffer waiting to be copied into the stream. */
typedef struct corio__stream_chunk {
    uint16_t bid; /* buffer id in the loop's buffer ring */
    uint32_t off; /* bytes of it already copied out */
    uint32_t len; /* bytes the kernel put in it */
} corio__stream_chunk;

struct corio__bufring;

/* Multishot recv state of one stream (bufring.c). Loop thread only: the
 * CQE handler and the reader run on the same thread, so no locking. */
typedef struct corio__stream_ms {
    corio__op op;                 /* the multishot recv (user_data = &op) */
    corio__loop *loop;            /* loop it belongs to, set at the first arm */
    struct corio__bufring *ring;  /* that loop's buffer ring */
    int armed;                    /* a multishot recv is in the kernel */
    int pausing;                  /* we cancelled it: too much unread data */
    int stopping;                 /* destroy/detach: recycle whatever arrives */
    int eof;                      /* a CQE reported the end of the stream */
    int err;                      /* a CQE reported this error; given to the next read */
    int starved;                  /* it ended with -ENOBUFS: do one plain recv next */
    corio__stream_chunk *q;       /* received buffers not yet copied (FIFO) */
    size_t qhead, qlen, qcap;     /* first slot, length, capacity (= ring entries) */
    size_t qbytes;                /* bytes in the queue not yet copied */
    corio__parker *waiter;        /* the reader parked for data, if any */
    corio__coro *destroyer;       /* the coroutine waiting for the last CQE */
} corio__stream_ms;

struct corio_stream {
    const corio__stream_transport *tp; /* the layer under the buffers */
    void *tp_ctx;                 /* its state (the stream itself for the default) */
    int fd;                       /* the descriptor (owned unless detached) */
    int is_sock;                  /* fd is a socket (recv/send, multishot allowed) */
    int recv_mode;                /* resolved CORIO_STREAM_RECV_* */
    /* read side */
    char *rbuf;                   /* read buffer (see the diagram above); NULL: none yet */
    size_t rcap;                  /* its size (0 when rbuf is NULL) */
    size_t rinit;                 /* size to allocate it at when it is NULL */
    size_t rmax;                  /* the most it may grow to */
    size_t rpos;                  /* offset of the first unconsumed byte */
    size_t rlen;                  /* unconsumed bytes */
    int reof;                     /* the transport reported the end: no more reads */
    int rshut;                    /* shutdown(SHUT_RD): no more reads */
    int64_t rdeadline;            /* read deadline, INT64_MAX: none */
    /* write side */
    char *wbuf;                   /* write buffer, wlen bytes pending; NULL until the
                                   * first buffered write and after a trim */
    size_t wcap;                  /* its size (fixed at creation) */
    size_t wlen;                  /* bytes pending */
    int wshut;                    /* shut down for writing: writes give -EPIPE */
    int64_t wdeadline;            /* write deadline, INT64_MAX: none */
    corio_stream_counters st;     /* counters for corio_stream_stats */
    /* Cold: only the multishot path touches it. Last, so that the fields
     * every call uses share the first cache lines. */
    corio__stream_ms ms;          /* multishot recv path */
};

/* Largest buffer size an option may ask for. */
#define CORIO__STREAM_MAX_SIZE ((size_t)1 << 30)

/* The earlier of a call's timeout (seconds, relative) and a stream
 * deadline (absolute ns). */
static inline int64_t corio__stream_deadline(double timeout, int64_t stream_deadline) {
    int64_t d = corio__deadline(timeout);
    return stream_deadline < d ? stream_deadline : d;
}

/* --- bufring.c --- */
/* Tests: how many buffers of the calling loop thread's provided-buffer
 * ring have a resident page (mincore); -1 when it has no ring. */
int corio__bufring_resident(void);
/* Tests: whether the calling loop's ring gives buffer pages back when quiet
 * (its ring has DEFER_TASKRUN; see bufring.c). */
int corio__bufring_can_trim(void);

/* --- stream.c --- */
/* Create a stream over `tp` (with its state `ctx`) for descriptor fd
 * (used only by corio_stream_fd / detach and, for the default transport,
 * the multishot path). Same results as corio_stream_create. */
int corio__stream_create_with(const corio__stream_transport *tp, void *ctx, int fd,
                              const corio_stream_options *opts, corio_stream **out);

/* Give back the buffers a stream holds but does not need now: the write
 * buffer when nothing is pending in it and, on the multishot receive path,
 * the read buffer when nothing is buffered (received bytes then wait in
 * the loop's provided buffers until a read takes them). Both come back at
 * their creation sizes when next needed. Like a read call, it ends the
 * validity of views. For servers holding many idle connections: an idle
 * stream then costs its struct only. */
void corio__stream_trim(corio_stream *s);

/* The write that is only a copy: when all total bytes of iov (n pieces,
 * total > 0) fit the write buffer (taken from the block cache if the
 * stream holds none), copies them and returns total; else copies nothing
 * and returns -EAGAIN (also on a write-shut stream): the write needs the
 * transport, through corio_stream_write/writev. No wait, no I/O: a
 * caller that watches its waits (the HTTP server) needs no watch here. */
ssize_t corio__stream_write_buffered(corio_stream *s, const struct iovec *iov, int n,
                                     size_t total);

/* --- bufring.c --- */
/* Refill through the multishot path: append received bytes to the read
 * buffer (whose free tail the caller made room in). Returns the bytes
 * added (> 0), 0 at the end of the stream, a negative code, or
 * CORIO__MS_UNAVAILABLE when this call must use the plain path instead
 * (no kernel support, not a coroutine, ring starved). */
#define CORIO__MS_UNAVAILABLE (-100000)
/* With wait_only, the call copies nothing: it waits as above and returns
 * CORIO__MS_READY once data is queued (the caller then makes room in a
 * read buffer and calls again), so that a stream waiting for data needs
 * no read buffer of its own. */
#define CORIO__MS_READY (-100001)
ssize_t corio__stream_ms_fill(corio_stream *s, int64_t deadline, int wait_only);
/* Stop the multishot recv and give its buffers back (destroy/detach).
 * Returns 0, or -EINVAL when it is armed and the caller is not a
 * coroutine of its loop (the stream must then be leaked). */
int corio__stream_ms_stop(corio_stream *s);

#endif /* CORIO_STREAM_INTERNAL_H */
