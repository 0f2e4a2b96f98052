/* corio — buffered streams: the read side.
 *
 * Every read call works on the read buffer (stream_internal.h has its
 * layout) and refills it with `fill` when it needs more: one transport
 * read into the free tail (the plain path), or the queued buffers of the
 * multishot recv (bufring.c). The rules the code keeps:
 *  - A failing call consumes nothing: bytes are consumed only when the
 *    call succeeds (rpos advances last), so a timeout, a cancel, an
 *    oversized line or an end mid-frame leaves every received byte for the
 *    next call. The one exception, read_exact beyond the buffer limit,
 *    reads into the caller's memory and says so in its documentation.
 *  - The buffer only grows when a caller needs more contiguous bytes than
 *    it holds (a longer line, a bigger peek or exact read), doubling up to
 *    rmax: memory follows the largest frame, bounded by the option.
 *  - Views (read_until, read_line, peek) point into the buffer; only fill
 *    moves or reallocates it, and fill runs only inside a read call, so a
 *    view lives until the next read call.
 *  - The delimiter search resumes where the previous pass ended (less
 *    dlen - 1 bytes for a delimiter split across refills): a line arriving
 *    one byte at a time costs O(n), not O(n^2).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "bcache.h"
#include "fault.h"
#include "stream_internal.h"

/* Move the buffered bytes to the start of the buffer. */
static void compact(corio_stream *s) {
    if (s->rpos && s->rlen)
        memmove(s->rbuf, s->rbuf + s->rpos, s->rlen);
    s->rpos = 0;
}

/* Make the buffer able to hold `want` bytes (capped at rmax) and leave a
 * free tail. Compacting costs a copy of at most rcap bytes, and happens
 * only when the tail is under half the buffer, so it is amortised over
 * the refills in between. Returns 0, -ENOMEM, or -EMSGSIZE when the buffer
 * is full at its limit (callers check their own limits first: a guard). */
static int make_room(corio_stream *s, size_t want) {
    if (s->rlen == 0)
        s->rpos = 0;
    if (s->rcap == 0 && want < s->rinit)
        want = s->rinit; /* trimmed: back at the creation size */
    if (want > s->rmax)
        want = s->rmax;
    if (s->rlen == s->rcap && want <= s->rcap && s->rcap < s->rmax)
        want = s->rcap + 1; /* full: grow by the usual doubling */
    if (want > s->rcap) {
        size_t cap = s->rcap * 2 > want ? s->rcap * 2 : want;
        if (cap > s->rmax)
            cap = s->rmax;
        compact(s);
        char *b = s->rcap ? corio__realloc(s->rbuf, cap) : corio__bcache_get(cap);
        if (!b)
            return -ENOMEM;
        s->rbuf = b;
        s->rcap = cap;
    }
    size_t tail = s->rcap - s->rpos - s->rlen;
    if (s->rpos && tail < s->rcap / 2)
        compact(s);
    return s->rpos + s->rlen < s->rcap ? 0 : -EMSGSIZE;
}

/* The multishot path may be asked for: the default transport on a socket
 * (is_sock is set only for it) with the mode chosen. */
static int multishot_wanted(const corio_stream *s) {
    return s->is_sock && s->recv_mode == CORIO_STREAM_RECV_MULTISHOT;
}

/* Receive more bytes into the buffer, which must hold `want` bytes when
 * that many are needed. Returns the bytes added (> 0), 0 at the end of the
 * stream, or a negative code. */
static ssize_t fill(corio_stream *s, size_t want, int64_t deadline) {
    if (s->reof || s->rshut)
        return 0;
    if (multishot_wanted(s) && s->rcap == 0) {
        /* Trimmed: wait for data without a buffer, take one when it is
         * there. */
        ssize_t m = corio__stream_ms_fill(s, deadline, 1);
        if (m != CORIO__MS_READY && m != CORIO__MS_UNAVAILABLE) {
            if (m == 0)
                s->reof = 1;
            return m;
        }
    }
    int r = make_room(s, want);
    if (r < 0)
        return r;
    if (multishot_wanted(s)) {
        ssize_t m = corio__stream_ms_fill(s, deadline, 0);
        if (m != CORIO__MS_UNAVAILABLE) {
            if (m == 0)
                s->reof = 1;
            return m;
        }
    }
    size_t off = s->rpos + s->rlen;
    s->st.reads++;
    ssize_t n = s->tp->read(s->tp_ctx, s->rbuf + off, s->rcap - off, deadline);
    if (n > 0) {
        s->rlen += (size_t)n;
        s->st.bytes_read += (uint64_t)n;
    } else if (n == 0) {
        s->reof = 1;
    }
    return n;
}

static void consume(corio_stream *s, size_t n) {
    s->rpos += n;
    s->rlen -= n;
}

CORIO_API ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len, double timeout) {
    if (!s || timeout != timeout)
        return -EINVAL;
    if (!buf && len)
        return -EFAULT;
    if (len == 0)
        return 0;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    if (s->rlen == 0) {
        int64_t deadline = corio__stream_deadline(timeout, s->rdeadline);
        if (len >= s->rcap && !multishot_wanted(s)) {
            /* A read at least the buffer's size: straight into the
             * caller's memory, no copy. */
            if (s->reof || s->rshut)
                return 0;
            s->st.reads++;
            ssize_t n = s->tp->read(s->tp_ctx, buf, len, deadline);
            if (n > 0)
                s->st.bytes_read += (uint64_t)n;
            else if (n == 0)
                s->reof = 1;
            return n;
        }
        ssize_t n = fill(s, 1, deadline);
        if (n <= 0)
            return n;
    }
    size_t n = s->rlen < len ? s->rlen : len;
    memcpy(buf, s->rbuf + s->rpos, n);
    consume(s, n);
    return (ssize_t)n;
}

CORIO_API ssize_t corio_stream_read_exact(corio_stream *s, void *buf, size_t n, double timeout) {
    if (!s || timeout != timeout || n > SSIZE_MAX)
        return -EINVAL;
    if (!buf && n)
        return -EFAULT;
    if (n == 0)
        return 0;
    int64_t deadline = corio__stream_deadline(timeout, s->rdeadline);
    if (n <= s->rmax) {
        /* Gather the whole frame in the buffer first: a failure then
         * consumes nothing. */
        while (s->rlen < n) {
            ssize_t r = fill(s, n, deadline);
            if (r < 0)
                return r;
            if (r == 0)
                return s->rlen ? CORIO_EUNEXPECTED_EOF : 0;
        }
        memcpy(buf, s->rbuf + s->rpos, n);
        consume(s, n);
        return (ssize_t)n;
    }
    /* Beyond the buffer limit: what is buffered, then straight into buf
     * (through the buffer on the multishot path, which has no other way). */
    size_t got = s->rlen < n ? s->rlen : n;
    if (got) /* a trimmed stream has no buffer at all */
        memcpy(buf, s->rbuf + s->rpos, got);
    consume(s, got);
    while (got < n) {
        ssize_t r;
        if (multishot_wanted(s)) {
            r = fill(s, 1, deadline);
            if (r > 0) {
                r = (ssize_t)(s->rlen < n - got ? s->rlen : n - got);
                memcpy((char *)buf + got, s->rbuf + s->rpos, (size_t)r);
                consume(s, (size_t)r);
            }
        } else if (s->reof || s->rshut) {
            r = 0;
        } else {
            s->st.reads++;
            r = s->tp->read(s->tp_ctx, (char *)buf + got, n - got, deadline);
            if (r > 0)
                s->st.bytes_read += (uint64_t)r;
            else if (r == 0)
                s->reof = 1;
        }
        if (r < 0)
            return r;
        if (r == 0)
            return got ? CORIO_EUNEXPECTED_EOF : 0;
        got += (size_t)r;
    }
    return (ssize_t)n;
}

CORIO_API ssize_t corio_stream_read_until(corio_stream *s, const void *delim, size_t dlen,
                                          size_t max, const void **out, double timeout) {
    if (!s || timeout != timeout)
        return -EINVAL;
    if (!out)
        return -EFAULT;
    *out = NULL;
    if (!delim)
        return -EFAULT;
    if (dlen == 0 || dlen > max || max > s->rmax || max > SSIZE_MAX)
        return -EINVAL;
    int64_t deadline = corio__stream_deadline(timeout, s->rdeadline);
    size_t scanned = 0; /* bytes from rpos already searched */
    for (;;) {
        size_t lim = s->rlen < max ? s->rlen : max;
        if (lim >= dlen && lim > scanned) {
            /* A delimiter may straddle the end of the last pass. */
            size_t from = scanned >= dlen - 1 ? scanned - (dlen - 1) : 0;
            const char *base = s->rbuf + s->rpos;
            const char *p = dlen == 1 ? memchr(base + from, *(const char *)delim, lim - from)
                                      : memmem(base + from, lim - from, delim, dlen);
            if (p) {
                size_t len = (size_t)(p - base) + dlen;
                *out = base;
                consume(s, len);
                return (ssize_t)len;
            }
            scanned = lim;
        }
        if (s->rlen >= max)
            return -EMSGSIZE;
        ssize_t r = fill(s, s->rlen + 1, deadline);
        if (r < 0)
            return r;
        if (r == 0)
            return s->rlen ? CORIO_EUNEXPECTED_EOF : 0;
    }
}

CORIO_API int corio_stream_read_line(corio_stream *s, size_t max, const char **line, size_t *len,
                                     double timeout) {
    if (!line || !len)
        return s ? -EFAULT : -EINVAL;
    *line = NULL;
    *len = 0;
    const void *v;
    ssize_t r = corio_stream_read_until(s, "\n", 1, max, &v, timeout);
    if (r <= 0)
        return (int)r;
    /* The line is consumed, so its terminator may be overwritten: the
     * view becomes a C string without a copy. */
    char *p = (char *)(uintptr_t)v;
    size_t n = (size_t)r - 1;
    p[n] = '\0';
    if (n && p[n - 1] == '\r')
        p[--n] = '\0';
    *line = p;
    *len = n;
    return 1;
}

CORIO_API ssize_t corio_stream_peek(corio_stream *s, size_t n, const void **out, double timeout) {
    if (!s || timeout != timeout)
        return -EINVAL;
    if (!out)
        return -EFAULT;
    *out = NULL;
    if (n > s->rmax)
        return -EINVAL;
    if (s->rlen < n) {
        int64_t deadline = corio__stream_deadline(timeout, s->rdeadline);
        while (s->rlen < n) {
            ssize_t r = fill(s, n, deadline);
            if (r < 0)
                return r;
            if (r == 0)
                break;
        }
    }
    *out = s->rbuf + s->rpos;
    return (ssize_t)s->rlen;
}

CORIO_API int corio_stream_consume(corio_stream *s, size_t n) {
    if (!s || n > s->rlen)
        return -EINVAL;
    consume(s, n);
    return 0;
}

CORIO_API size_t corio_stream_buffered(const corio_stream *s) { return s ? s->rlen : 0; }
