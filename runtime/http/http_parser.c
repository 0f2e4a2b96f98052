/* HTTP/1.1 request and response heads: see http_parser.h.
 *
 * Heads are parsed by one byte-at-a-time state machine shared by requests and
 * responses. State lives in corio__http_parser as offsets, never pointers, so
 * the caller may move its buffer between calls; pointers are made only when
 * a head completes, from the buffer of that call. Each byte is examined once
 * across all calls (O(total bytes)), and every check happens on the byte that
 * decides it, so a bad request is refused without waiting for the rest.
 *
 * Field lines are validated and interpreted (Content-Length, Transfer-
 * Encoding, Connection, Host) as each one ends; the caller's header array is
 * filled by a second, check-free walk over the finished head. That walk costs
 * one more pass over at most max_header_bytes, and is what lets the state
 * hold no pointers.
 */
#include "http_parser.h"

#include <errno.h>
#include <string.h>

/* Head states. Request: START -> METHOD -> TARGET -> VERSION -> LINE1_LF.
 * Response: START -> RVERSION -> STATUS -> STATUS_SP -> REASON -> LINE1_LF.
 * Then both: HDR_START -> HDR_NAME -> HDR_OWS -> HDR_VALUE -> HDR_LF ->
 * HDR_START ... and finally HDR_START -> END_LF. The *_LF states have seen a
 * CR and accept only LF: a bare CR is always an error. */
enum {
    S_START,     /* before the start line; empty lines are skipped here */
    S_START_LF,  /* CR of a skipped empty line seen */
    S_METHOD,    /* in the method token */
    S_TARGET,    /* in the request target */
    S_VERSION,   /* in the request's HTTP-version */
    S_RVERSION,  /* in the response's HTTP-version */
    S_STATUS,    /* in the three status digits */
    S_STATUS_SP, /* after the status digits */
    S_REASON,    /* in the reason phrase */
    S_LINE1_LF,  /* CR ending the start line seen */
    S_HDR_START, /* at the start of a field line or the final empty line */
    S_HDR_NAME,  /* in a field name */
    S_HDR_OWS,   /* between the colon and the value */
    S_HDR_VALUE, /* in a field value */
    S_HDR_LF,    /* CR ending a field line seen */
    S_END_LF,    /* CR of the empty line ending the head seen */
};

/* How many empty lines before a start line are ignored (RFC 9112 2.2 asks
 * for "at least one"); more is a 400 rather than an unbounded skip. */
#define MAX_LEADING_EMPTY 2u

/* Longest HTTP-version token, "HTTP/1.1". */
#define VERSION_LEN 8u

/* The byte classes of http_parser.h, row by row (16 bytes per row). */
const unsigned char corio__http_cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    4, 7, 4, 1, 7, 3, 7, 7, 6, 6, 7, 7, 6, 7, 7, 0, /* 0x20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 4, 6, 4, 0, /* 0x30 */
    4, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 0, 6, 5, 7, /* 0x50 */
    5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4, 5, 4, 7, 0, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

/* ieq with the literal's length compared first: most names differ there. */
#define IEQ_LIT(s, n, lit) ((n) == sizeof(lit) - 1 && corio__http_ieq(s, n, lit))

void corio__http_limits_init(corio__http_limits *lim) {
    lim->max_uri = CORIO__HTTP_DEFAULT_MAX_URI;
    lim->max_header_bytes = CORIO__HTTP_DEFAULT_MAX_HEADER_BYTES;
    lim->max_headers = CORIO__HTTP_DEFAULT_MAX_HEADERS;
    lim->max_body = CORIO__HTTP_DEFAULT_MAX_BODY;
}

/* Clears per-message state; configuration (lim, hdrs, hdr_cap, allowed,
 * is_response) is kept. */
void corio__http_parser_reset(corio__http_parser *p) {
    corio__http_parser keep = *p;
    memset(p, 0, sizeof *p);
    p->lim = keep.lim;
    p->hdrs = keep.hdrs;
    p->hdr_cap = keep.hdr_cap;
    p->allowed = keep.allowed;
    p->is_response = keep.is_response;
    p->state = S_START;
}

static void parser_init(corio__http_parser *p, const corio__http_limits *lim,
                        corio_http_header *headers, size_t max_headers) {
    memset(p, 0, sizeof *p);
    if (lim)
        p->lim = *lim;
    else
        corio__http_limits_init(&p->lim);
    p->hdrs = headers;
    p->hdr_cap = headers ? max_headers : 0;
    if (p->hdr_cap > p->lim.max_headers)
        p->hdr_cap = p->lim.max_headers;
}

void corio__http_request_parser_init(corio__http_parser *p, const corio__http_limits *lim,
                                    unsigned allowed_methods, corio_http_header *headers,
                                    size_t max_headers) {
    parser_init(p, lim, headers, max_headers);
    p->allowed = allowed_methods;
    p->is_response = 0;
}

void corio__http_response_parser_init(corio__http_parser *p, const corio__http_limits *lim,
                                     corio_http_header *headers, size_t max_headers) {
    parser_init(p, lim, headers, max_headers);
    p->allowed = CORIO_HTTP_METHODS_ALL;
    p->is_response = 1;
}

/* Method token -> bit, 0 when not one of ours. Case-sensitive (RFC 9110 9.1). */
static unsigned method_bit(const char *s, size_t n) {
    static const struct {
        const char *name; /* token */
        size_t len;       /* its length */
        unsigned bit;     /* corio_http_method */
    } methods[] = {
        {"GET", 3, CORIO_HTTP_GET},         {"HEAD", 4, CORIO_HTTP_HEAD},
        {"POST", 4, CORIO_HTTP_POST},       {"PUT", 3, CORIO_HTTP_PUT},
        {"DELETE", 6, CORIO_HTTP_DELETE},   {"CONNECT", 7, CORIO_HTTP_CONNECT},
        {"OPTIONS", 7, CORIO_HTTP_OPTIONS}, {"TRACE", 5, CORIO_HTTP_TRACE},
        {"PATCH", 5, CORIO_HTTP_PATCH},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].len == n && memcmp(methods[i].name, s, n) == 0)
            return methods[i].bit;
    return 0;
}

/* "HTTP/d.d" -> 0 and *minor; a well-formed version with a major other than
 * 1 is -505, anything else -400. Multi-digit numbers are not HTTP/1.1
 * syntax (RFC 9112 2.3), hence 400. */
static int parse_version(const char *s, size_t n, int *minor) {
    if (n != VERSION_LEN || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' ||
        s[5] > '9' || s[7] < '0' || s[7] > '9')
        return -400;
    if (s[5] != '1')
        return -505;
    *minor = s[7] - '0';
    return 0;
}

/* Walks a comma-separated list in s[0..n), calling fn for each non-empty
 * element with surrounding whitespace removed. Stops at fn's first error. */
static int for_each_element(corio__http_parser *p, const char *s, size_t n,
                            int (*fn)(corio__http_parser *, const char *, size_t)) {
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && corio__http_is_ws((unsigned char)s[a]))
            a++;
        while (b > a && corio__http_is_ws((unsigned char)s[b - 1]))
            b--;
        if (b > a) {
            int rc = fn(p, s + a, b - a);
            if (rc < 0)
                return rc;
        }
        i = j + 1;
    }
    return 0;
}

static int te_element(corio__http_parser *p, const char *s, size_t n) {
    if (corio__http_ieq(s, n, "chunked")) {
        /* Chunked twice is a framing the RFC forbids (6.1); refuse it
         * rather than guess which one a front end honoured. */
        if (p->te_chunked)
            return -400;
        p->te_chunked = true;
        p->te_last_chunked = true;
    } else {
        p->te_other = true;
        p->te_last_chunked = false;
    }
    return 0;
}

static int conn_element(corio__http_parser *p, const char *s, size_t n) {
    if (corio__http_ieq(s, n, "close"))
        p->conn_close = true;
    else if (corio__http_ieq(s, n, "keep-alive"))
        p->conn_keep_alive = true;
    return 0;
}


/* RFC 9112 3.2 and RFC 3986 3.2.2: Host = uri-host [ ":" port ], where
 * uri-host is an IP-literal in brackets, an IPv4 address or a reg-name of
 * unreserved, pct-encoded and sub-delims characters. Anything else (a
 * space, '/', '@', '?', '#', a quote, a control byte) is a 400: such a
 * value cannot name an authority, and a server that routes or logs on it
 * must not see it. The empty value is allowed (a target without an
 * authority). This checks the character set, not the full grammar: ASCII
 * letters and digits and "-._~%!$&'()*+,;=:[]", class HOST of
 * corio__http_cls. */
static bool valid_host(const char *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(corio__http_cls[(unsigned char)v[i]] & CORIO__HTTP_C_HOST))
            return false;
    return true;
}

/* A field line ended: interpret the fields that decide framing and
 * persistence. buf holds the whole line. */
static int end_field(corio__http_parser *p, const char *buf) {
    const char *name = buf + p->tok;
    const char *val = buf + p->value_off;
    size_t vlen = p->value_end - p->value_off;

    if (IEQ_LIT(name, p->name_len, "content-length")) {
        /* Any second Content-Length is refused, even an equal one: two
         * parsers disagreeing on which to use is how smuggling starts. */
        if (p->has_cl || vlen == 0)
            return -400;
        uint64_t v = 0;
        for (size_t i = 0; i < vlen; i++) {
            unsigned char c = (unsigned char)val[i];
            if (c < '0' || c > '9')
                return -400;
            /* Saturate instead of wrapping: a 20-digit length must read as
             * huge (413), never as a small number. */
            if (v > (UINT64_MAX - 9) / 10)
                v = UINT64_MAX;
            else
                v = v * 10 + (uint64_t)(c - '0');
        }
        p->has_cl = true;
        p->content_length = v;
        if (v > p->lim.max_body)
            return -413;
    } else if (IEQ_LIT(name, p->name_len, "transfer-encoding")) {
        /* A 1.0 request cannot legitimately be chunked; one that says so is
         * most likely aimed at a proxy that ignores the field. */
        if (!p->is_response && p->minor == 0)
            return -400;
        p->te_seen = true;
        return for_each_element(p, val, vlen, te_element);
    } else if (IEQ_LIT(name, p->name_len, "connection")) {
        return for_each_element(p, val, vlen, conn_element);
    } else if (!p->is_response && IEQ_LIT(name, p->name_len, "host")) {
        if (++p->host_count > 1)
            return -400;
        if (!valid_host(val, vlen))
            return -400;
        p->host_off = p->value_off;
        p->host_len = vlen;
    }
    return 0;
}

/* The request line ended (its CR is at pos - 1). The version decides
 * between 400 and 505 before the method is judged. */
static int end_request_line(corio__http_parser *p, const char *buf, size_t pos) {
    size_t vstart = p->target_off + p->target_len + 1;
    int rc = parse_version(buf + vstart, pos - 1 - vstart, &p->minor);
    if (rc < 0)
        return rc;
    p->method = method_bit(buf + p->start, p->method_len);
    if (p->method == 0)
        return -501;
    if (!(p->method & p->allowed))
        return -405;
    return 0;
}

/* Final checks once the empty line ending the head is seen. */
static int end_head(corio__http_parser *p) {
    if (p->te_seen && p->has_cl)
        return -400;
    if (!p->is_response) {
        /* RFC 9112 3.2: a 1.1 request without exactly one Host is a 400. */
        if (p->minor >= 1 && p->host_count == 0)
            return -400;
        /* RFC 9112 6.3: a request whose final coding is not chunked has no
         * determinable length. */
        if (p->te_seen && !p->te_last_chunked)
            return -400;
    }
    /* We decode chunked only; gzip & co. are the application's business,
     * and a server is told to answer 501 (RFC 9112 6.1). */
    if (p->te_seen && p->te_other)
        return p->is_response && !p->te_chunked ? 0 : -501;
    return 0;
}

/* Fills the caller's header array by walking the finished, validated head. */
static size_t fill_headers(const corio__http_parser *p, const char *buf, size_t end) {
    size_t n = 0, i = p->hdr_start;
    while (i < end && buf[i] != '\r' && buf[i] != '\n' && n < p->hdr_cap) {
        size_t name = i;
        while (buf[i] != ':')
            i++;
        corio_http_header *h = &p->hdrs[n++];
        h->name = buf + name;
        h->name_len = i - name;
        i++;
        while (corio__http_is_ws((unsigned char)buf[i]))
            i++;
        size_t v = i;
        while (buf[i] != '\n')
            i++;
        size_t ve = i++;
        while (ve > v && (buf[ve - 1] == '\r' || corio__http_is_ws((unsigned char)buf[ve - 1])))
            ve--;
        h->value = buf + v;
        h->value_len = ve - v;
    }
    return n;
}

/* Where a run inside the field lines must stop: the input's end, or the
 * first byte past max_header_bytes (which the loop answers with 431). */
static size_t head_end(const corio__http_parser *p, size_t len) {
    return p->lim.max_header_bytes < len - p->hdr_start ? p->hdr_start + p->lim.max_header_bytes
                                                        : len;
}

/* Runs the head state machine over buf[p->pos..len). Returns DONE with
 * p->pos just past the head, NEED_MORE, or -status (made sticky).
 *
 * The common shapes are taken in runs and chains: a token, a target, a
 * version or a field value is scanned at once, and the byte that ends a
 * state is taken by the next state in the same iteration (NEXT) when it is
 * in the input and, in the field lines, within max_header_bytes, which is
 * what the loop's top would check. Every other byte goes round the loop,
 * so each check still happens on the byte that decides it. */
static int run(corio__http_parser *p, const char *buf, size_t len) {
    const bool lenient = p->is_response;
    size_t pos = p->pos;
    int rc = 0;

    if (p->error)
        return p->error;
    if (len < pos)
        return -EINVAL;
    /* Where the field lines' runs stop (head_end), once they started;
     * below len it is the first byte past max_header_bytes. */
    size_t hend = p->state >= S_HDR_START ? head_end(p, len) : 0;

/* Take the next byte into `label` now, or leave it to the loop's top. */
#define NEXT(limit, label)                                                                 \
    do {                                                                                   \
        if (pos + 1 >= (limit))                                                            \
            goto next;                                                                     \
        c = (unsigned char)buf[++pos];                                                     \
        goto label;                                                                        \
    } while (0)

    for (; pos < len; pos++) {
        unsigned char c = (unsigned char)buf[pos];
        if (p->state >= S_HDR_START && pos >= hend) {
            rc = -431;
            goto fail;
        }
        switch (p->state) {
        case S_START:
            if (c == '\r' || c == '\n') {
                if (p->start >= 2 * MAX_LEADING_EMPTY || (c == '\n' && !lenient))
                    goto bad;
                if (c == '\r') {
                    p->state = S_START_LF;
                } else {
                    p->start = pos + 1;
                }
                break;
            }
            p->start = pos;
            p->tok = pos;
            if (p->is_response) {
                p->state = S_RVERSION;
            } else {
                if (!corio__http_is_tchar(c))
                    goto bad;
                p->state = S_METHOD;
            }
            break;
        case S_START_LF:
            if (c != '\n')
                goto bad;
            p->start = pos + 1;
            p->state = S_START;
            break;
        case S_METHOD: {
            /* The run of method bytes at once, up to the method limit. */
            size_t end = len - p->start > CORIO__HTTP_MAX_METHOD ? p->start + CORIO__HTTP_MAX_METHOD
                                                                 : len;
            while (pos < end && corio__http_is_tchar((unsigned char)buf[pos]))
                pos++;
            if (pos == len) {
                pos--; /* the for loop's pos++ ends the input */
                break;
            }
            c = (unsigned char)buf[pos];
        }
            if (c == ' ') {
                p->method_len = pos - p->start;
                p->target_off = pos + 1;
                p->state = S_TARGET;
                NEXT(len, target);
            } else if (!corio__http_is_tchar(c)) {
                goto bad;
            } else {
                rc = -501; /* a token byte past CORIO__HTTP_MAX_METHOD */
                goto fail;
            }
            break;
        case S_TARGET:
        target: {
            /* The run of target bytes at once, up to the URI limit; what
             * ends it is taken by the byte rules below. */
            size_t end = p->lim.max_uri < len - p->target_off ? p->target_off + p->lim.max_uri
                                                              : len;
            while (pos < end && buf[pos] != ' ' && (unsigned char)buf[pos] > 0x20 &&
                   (unsigned char)buf[pos] < 0x7f)
                pos++;
            if (pos == len) {
                pos--;
                break;
            }
            c = (unsigned char)buf[pos];
        }
            if (c == ' ') {
                p->target_len = pos - p->target_off;
                if (p->target_len == 0)
                    goto bad;
                p->tok = pos + 1;
                p->state = S_VERSION;
                NEXT(len, version);
            } else if (c <= 0x20 || c >= 0x7f) {
                goto bad;
            } else if (pos - p->target_off >= p->lim.max_uri) {
                rc = -414;
                goto fail;
            }
            break;
        case S_VERSION:
        version: {
            /* The visible bytes at once, up to the version's length. */
            size_t end = len - p->tok > VERSION_LEN ? p->tok + VERSION_LEN : len;
            while (pos < end && corio__http_is_field_vchar((unsigned char)buf[pos]))
                pos++;
            if (pos == len) {
                pos--;
                break;
            }
            c = (unsigned char)buf[pos];
        }
            if (c == '\r') {
                p->state = S_LINE1_LF;
                NEXT(len, line1_lf);
            }
            goto bad; /* not visible, or past VERSION_LEN */
        case S_RVERSION:
            if (c == ' ') {
                rc = parse_version(buf + p->tok, pos - p->tok, &p->minor);
                if (rc < 0)
                    goto fail;
                p->tok = pos + 1;
                p->state = S_STATUS;
            } else if (pos - p->tok >= VERSION_LEN) {
                goto bad;
            }
            break;
        case S_STATUS:
            if (c < '0' || c > '9' || (pos == p->tok && c == '0'))
                goto bad;
            p->status = p->status * 10 + (c - '0');
            if (pos - p->tok == 2)
                p->state = S_STATUS_SP;
            break;
        case S_STATUS_SP:
            /* RFC 9112 4 makes the SP mandatory, but "HTTP/1.1 200\r\n" is
             * common enough that a client must take it. */
            p->reason_off = pos + (c == ' ');
            if (c == ' ') {
                p->state = S_REASON;
            } else if (c == '\r') {
                p->state = S_LINE1_LF;
            } else if (c == '\n') {
                goto line1_done;
            } else {
                goto bad;
            }
            break;
        case S_REASON:
            if (c == '\r') {
                p->reason_len = pos - p->reason_off;
                p->state = S_LINE1_LF;
            } else if (c == '\n') {
                p->reason_len = pos - p->reason_off;
                goto line1_done;
            } else if (!corio__http_is_field_vchar(c) && !corio__http_is_ws(c)) {
                goto bad;
            } else if (pos - p->start >= p->lim.max_header_bytes) {
                rc = -431;
                goto fail;
            }
            break;
        case S_LINE1_LF:
        line1_lf:
            if (c != '\n')
                goto bad;
            if (!p->is_response && (rc = end_request_line(p, buf, pos)) < 0)
                goto fail;
        line1_done:
            p->hdr_start = pos + 1;
            hend = head_end(p, len);
            p->state = S_HDR_START;
            NEXT(hend, hdr_start);
        case S_HDR_START:
        hdr_start:
            if (c == '\r') {
                p->state = S_END_LF;
                NEXT(hend, end_lf);
            }
            if (c == '\n') {
                if (!lenient)
                    goto bad;
                goto head_done;
            }
            /* A leading SP/HTAB is obs-fold (RFC 9112 5.2): refused. */
            if (!corio__http_is_tchar(c))
                goto bad;
            if (++p->nheaders > p->hdr_cap) {
                rc = -431;
                goto fail;
            }
            p->tok = pos;
            p->state = S_HDR_NAME;
            NEXT(hend, hdr_name);
        case S_HDR_NAME:
        hdr_name:
            if (corio__http_is_tchar(c)) {
                /* The run of name bytes at once, to the head limit (met,
                 * the check at the loop's top answers 431). */
                while (pos + 1 < hend && corio__http_is_tchar((unsigned char)buf[pos + 1]))
                    pos++;
                NEXT(hend, hdr_name_end);
            }
        hdr_name_end:
            /* Whitespace before the colon is a 400 (RFC 9112 5.1). */
            if (c != ':')
                goto bad;
            p->name_len = pos - p->tok;
            p->state = S_HDR_OWS;
            NEXT(hend, hdr_ows);
        case S_HDR_OWS:
        hdr_ows:
            if (corio__http_is_ws(c))
                NEXT(hend, hdr_ows);
            p->value_off = p->value_end = pos;
            if (c == '\r') {
                p->state = S_HDR_LF;
                NEXT(hend, hdr_lf);
            }
            if (c == '\n') {
                if (!lenient)
                    goto bad;
                goto field_done;
            }
            if (!corio__http_is_field_vchar(c))
                goto bad;
            p->state = S_HDR_VALUE;
            /* fall through */
        case S_HDR_VALUE: {
            /* The run of visible bytes and inner whitespace at once, to
             * the head limit; value_end stays past the last visible one. */
            size_t vend = p->value_end;
            for (;;) {
                if (corio__http_is_field_vchar(c)) {
                    /* The visible bytes up to the next whitespace at once. */
                    while (pos + 1 < hend &&
                           corio__http_is_field_vchar((unsigned char)buf[pos + 1]))
                        pos++;
                    vend = pos + 1;
                } else if (!corio__http_is_ws(c)) {
                    break;
                }
                if (pos + 1 >= hend) {
                    p->value_end = vend;
                    goto next;
                }
                c = (unsigned char)buf[++pos];
            }
            p->value_end = vend;
        }
            if (c == '\r') {
                p->state = S_HDR_LF;
                NEXT(hend, hdr_lf);
            }
            if (c == '\n') {
                if (!lenient)
                    goto bad;
                goto field_done;
            }
            goto bad;
        case S_HDR_LF:
        hdr_lf:
            if (c != '\n')
                goto bad;
        field_done:
            if ((rc = end_field(p, buf)) < 0)
                goto fail;
            p->state = S_HDR_START;
            NEXT(hend, hdr_start);
        case S_END_LF:
        end_lf:
            if (c != '\n')
                goto bad;
        head_done:
            if ((rc = end_head(p)) < 0)
                goto fail;
            p->pos = pos + 1;
            return CORIO__HTTP_DONE;
        default:
            goto bad;
        }
    next:;
    }
#undef NEXT
    p->pos = pos;
    return CORIO__HTTP_NEED_MORE;
bad:
    rc = -400;
fail:
    p->error = rc;
    return rc;
}

int corio__http_request_parse(corio__http_parser *p, const char *buf, size_t len,
                             corio__http_request *req) {
    int rc = run(p, buf, len);
    if (rc != CORIO__HTTP_DONE)
        return rc;
    req->method = (corio_http_method)p->method;
    req->method_str = buf + p->start;
    req->method_len = p->method_len;
    req->target = buf + p->target_off;
    req->target_len = p->target_len;
    req->version_minor = p->minor;
    req->host = p->host_count ? buf + p->host_off : NULL;
    req->host_len = p->host_len;
    req->headers = p->hdrs;
    req->num_headers = fill_headers(p, buf, p->pos);
    req->content_length = p->content_length;
    req->has_content_length = p->has_cl;
    req->chunked = p->te_chunked;
    /* Close wins over keep-alive; 1.0 persists only when asked to. */
    req->keep_alive = !p->conn_close && (p->minor >= 1 || p->conn_keep_alive);
    if (p->te_chunked)
        req->body = CORIO__HTTP_BODY_CHUNKED;
    else if (p->content_length > 0)
        req->body = CORIO__HTTP_BODY_LENGTH;
    else
        req->body = CORIO__HTTP_BODY_NONE;
    req->head_len = p->pos;
    corio__http_parser_reset(p);
    return CORIO__HTTP_DONE;
}

int corio__http_response_parse(corio__http_parser *p, const char *buf, size_t len,
                              corio_http_method request_method, corio__http_response *resp) {
    int rc = run(p, buf, len);
    if (rc != CORIO__HTTP_DONE)
        return rc;
    resp->version_minor = p->minor;
    resp->status = p->status;
    resp->reason = buf + p->reason_off;
    resp->reason_len = p->reason_len;
    resp->headers = p->hdrs;
    resp->num_headers = fill_headers(p, buf, p->pos);
    resp->content_length = p->content_length;
    resp->has_content_length = p->has_cl;
    resp->chunked = p->te_seen && p->te_last_chunked;
    resp->keep_alive = !p->conn_close && (p->minor >= 1 || p->conn_keep_alive);
    /* RFC 9112 6.3, in its order of precedence. */
    if (request_method == CORIO_HTTP_HEAD || p->status < 200 || p->status == 204 ||
        p->status == 304 || (request_method == CORIO_HTTP_CONNECT && p->status < 300)) {
        resp->body = CORIO__HTTP_BODY_NONE;
    } else if (p->te_seen) {
        resp->body = resp->chunked ? CORIO__HTTP_BODY_CHUNKED : CORIO__HTTP_BODY_CLOSE;
    } else if (p->has_cl) {
        resp->body = CORIO__HTTP_BODY_LENGTH;
    } else {
        resp->body = CORIO__HTTP_BODY_CLOSE;
    }
    if (resp->body == CORIO__HTTP_BODY_CLOSE)
        resp->keep_alive = false;
    resp->head_len = p->pos;
    corio__http_parser_reset(p);
    return CORIO__HTTP_DONE;
}
