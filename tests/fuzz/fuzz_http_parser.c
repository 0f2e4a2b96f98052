/* libFuzzer target for the HTTP parser in runtime/http/ (http_parser.c,
 * http_body.c, http_path.c).
 *
 * One input exercises every entry point: the request parser over the whole
 * input (pipelined requests with their bodies), the same again with the
 * first head fed in two parts split at a data-derived point, the chunked
 * decoder in place and through a tiny output window, the path normaliser and
 * the response parser. Beyond crashes and ASan/UBSan reports, it checks
 * properties and aborts when one fails:
 *   - feeding in two parts gives exactly what feeding whole gives;
 *   - the decoder gives the same bytes however its output is windowed;
 *   - a normalised path has no "", "." or ".." segment, no leading or
 *     trailing '/', no NUL, backslash or control byte.
 * Every buffer handed to the parser is a heap copy of exactly the bytes it
 * may read, so a read past the end is an ASan report rather than luck.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NHDR 128

static void require(bool ok) {
    if (!ok)
        abort();
}

static char *dup_exact(const uint8_t *data, size_t n) {
    char *p = malloc(n ? n : 1);
    require(p != NULL);
    if (n)
        memcpy(p, data, n);
    return p;
}

/* Tight limits, so that the 413/414/431 paths are reachable by small
 * inputs; chosen by the first input byte. */
static void pick_limits(const uint8_t *data, size_t size, corio__http_limits *lim) {
    corio__http_limits_init(lim);
    if (size > 0 && (data[0] & 1)) {
        lim->max_uri = 16;
        lim->max_header_bytes = 96;
        lim->max_headers = 4;
        lim->max_body = 64;
    }
}

/* Everything observable about a request parse, for comparisons. */
typedef struct outcome {
    int rc;               /* parse result */
    size_t head_len;      /* when DONE */
    size_t num_headers;   /* when DONE */
    size_t target_off;    /* target offset from the buffer start */
    size_t target_len;    /* target bytes */
    uint64_t content_len; /* Content-Length */
    int body;             /* body kind */
    bool keep_alive;      /* persistence */
} outcome;

static outcome request_outcome(int rc, const corio__http_request *r, const char *buf) {
    outcome o;
    memset(&o, 0, sizeof o);
    o.rc = rc;
    if (rc == CORIO__HTTP_DONE) {
        o.head_len = r->head_len;
        o.num_headers = r->num_headers;
        o.target_off = (size_t)(r->target - buf);
        o.target_len = r->target_len;
        o.content_len = r->content_length;
        o.body = (int)r->body;
        o.keep_alive = r->keep_alive;
    }
    return o;
}

static bool outcome_eq(const outcome *a, const outcome *b) {
    return a->rc == b->rc && a->head_len == b->head_len && a->num_headers == b->num_headers &&
           a->target_off == b->target_off && a->target_len == b->target_len &&
           a->content_len == b->content_len && a->body == b->body &&
           a->keep_alive == b->keep_alive;
}

/* Decodes a body from in[0..len) into scratch; returns the decode result
 * and sets *used. The output never exceeds the input. */
static int drain_body(corio__http_body *b, const char *in, size_t len, size_t *used,
                      char *scratch) {
    size_t out = 0;
    int rc = corio__http_body_decode(b, in, len, used, scratch, len, &out);
    require(*used <= len && out <= *used);
    return rc;
}

/* Parses pipelined requests over the whole buffer; returns the first
 * request's outcome. */
static outcome requests(const char *buf, size_t size, const corio__http_limits *lim) {
    corio_http_header hdrs[NHDR];
    corio__http_parser p;
    corio__http_request req;
    corio__http_request_parser_init(&p, lim, CORIO_HTTP_GET | CORIO_HTTP_HEAD | CORIO_HTTP_POST |
                                                CORIO_HTTP_PUT,
                                   hdrs, NHDR);
    char *scratch = malloc(size ? size : 1);
    require(scratch != NULL);
    outcome first;
    memset(&first, 0, sizeof first);
    size_t off = 0;
    for (int i = 0;; i++) {
        int rc = corio__http_request_parse(&p, buf + off, size - off, &req);
        if (i == 0)
            first = request_outcome(rc, &req, buf);
        if (rc != CORIO__HTTP_DONE)
            break;
        require(req.head_len > 0 && req.head_len <= size - off);
        require(req.num_headers <= lim->max_headers);
        require(req.target_len <= lim->max_uri);
        for (size_t h = 0; h < req.num_headers; h++) {
            require(hdrs[h].name >= buf + off && hdrs[h].name_len > 0);
            require(hdrs[h].value + hdrs[h].value_len <= buf + off + req.head_len);
        }
        off += req.head_len;
        corio__http_body b;
        corio__http_body_init(&b, req.body, req.content_length, lim, false);
        size_t used;
        rc = drain_body(&b, buf + off, size - off, &used, scratch);
        off += used;
        if (rc != CORIO__HTTP_DONE)
            break;
    }
    free(scratch);
    return first;
}

/* The first request fed in two parts: [0, split) then the whole. */
static outcome request_split(const uint8_t *data, size_t size, size_t split,
                             const corio__http_limits *lim) {
    corio_http_header hdrs[NHDR];
    corio__http_parser p;
    corio__http_request req;
    corio__http_request_parser_init(&p, lim, CORIO_HTTP_GET | CORIO_HTTP_HEAD | CORIO_HTTP_POST |
                                                CORIO_HTTP_PUT,
                                   hdrs, NHDR);
    char *part = dup_exact(data, split);
    int rc = corio__http_request_parse(&p, part, split, &req);
    /* Slices point into the buffer of the call that completed the head. */
    outcome o = request_outcome(rc, &req, part);
    free(part);
    if (rc == CORIO__HTTP_NEED_MORE) {
        char *whole = dup_exact(data, size);
        rc = corio__http_request_parse(&p, whole, size, &req);
        o = request_outcome(rc, &req, whole);
        free(whole);
    }
    return o;
}

/* Chunked decoding all at once in place, then through a 7-byte window: the
 * same result and the same bytes. */
static void chunked(const uint8_t *data, size_t size, const corio__http_limits *lim,
                    bool lenient) {
    char *a = dup_exact(data, size);
    corio__http_body b;
    corio__http_body_init(&b, CORIO__HTTP_BODY_CHUNKED, 0, lim, lenient);
    size_t used_a, out_a;
    int rc_a = corio__http_body_decode(&b, a, size, &used_a, a, size, &out_a);
    require(used_a <= size && out_a <= used_a);

    char *in = dup_exact(data, size);
    char *out = malloc(out_a + 8);
    require(out != NULL);
    corio__http_body_init(&b, CORIO__HTTP_BODY_CHUNKED, 0, lim, lenient);
    size_t off = 0, got = 0;
    int rc_b;
    for (;;) {
        char win[7];
        size_t used, n;
        rc_b = corio__http_body_decode(&b, in + off, size - off, &used, win, sizeof win, &n);
        require(used <= size - off && n <= sizeof win && got + n <= out_a + 7);
        memcpy(out + got, win, n);
        got += n;
        off += used;
        if (rc_b != CORIO__HTTP_NEED_MORE || (used == 0 && n == 0) || off == size)
            break;
    }
    require(rc_b == rc_a);
    if (rc_a >= 0) {
        require(off == used_a && got == out_a);
        require(memcmp(out, a, out_a) == 0);
    }
    (void)corio__http_body_eof(&b);
    free(out);
    free(in);
    free(a);
}

static void path(const uint8_t *data, size_t size) {
    char *t = dup_exact(data, size);
    char *out = malloc(size + 2);
    require(out != NULL);
    int rc = corio__http_path_normalize(t, size, out, size + 2);
    require(rc == -400 || rc >= 0);
    if (rc >= 0) {
        size_t n = (size_t)rc;
        require(strlen(out) == n && n > 0);
        require(out[0] != '/' && out[n - 1] != '/');
        if (strcmp(out, ".") != 0) {
            size_t seg = 0;
            for (size_t i = 0; i <= n; i++) {
                unsigned char c = (unsigned char)out[i];
                if (i == n || c == '/') {
                    size_t len = i - seg;
                    require(len > 0);
                    require(!(len == 1 && out[seg] == '.'));
                    require(!(len == 2 && out[seg] == '.' && out[seg + 1] == '.'));
                    seg = i + 1;
                } else {
                    require(c >= 0x20 && c != 0x7f && c != '\\');
                }
            }
        }
        (void)corio__http_mime_type(out, n);
        /* One byte short of room: 414, and nothing written past it. */
        require(corio__http_path_normalize(t, size, out, n) == -414);
    }
    free(out);
    free(t);
}

static void responses(const char *buf, size_t size, const corio__http_limits *lim,
                      corio_http_method m) {
    corio_http_header hdrs[NHDR];
    corio__http_parser p;
    corio__http_response resp;
    corio__http_response_parser_init(&p, lim, hdrs, NHDR);
    char *scratch = malloc(size ? size : 1);
    require(scratch != NULL);
    size_t off = 0;
    for (;;) {
        int rc = corio__http_response_parse(&p, buf + off, size - off, m, &resp);
        if (rc != CORIO__HTTP_DONE)
            break;
        require(resp.head_len > 0 && resp.head_len <= size - off);
        require(resp.status >= 100 && resp.status <= 999);
        off += resp.head_len;
        corio__http_body b;
        corio__http_body_init(&b, resp.body, resp.content_length, lim, true);
        size_t used;
        rc = drain_body(&b, buf + off, size - off, &used, scratch);
        off += used;
        if (rc != CORIO__HTTP_DONE)
            break;
    }
    free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    corio__http_limits lim;
    pick_limits(data, size, &lim);
    char *buf = dup_exact(data, size);

    outcome whole = requests(buf, size, &lim);
    if (size > 0) {
        /* A split point taken from the data, so the fuzzer can steer it. */
        size_t split = (size_t)data[size - 1] * 256u + (size > 1 ? data[size - 2] : 0u);
        split %= size;
        outcome two = request_split(data, size, split, &lim);
        require(outcome_eq(&whole, &two));
    }
    chunked(data, size, &lim, false);
    chunked(data, size, &lim, true);
    path(data, size);
    responses(buf, size, &lim, CORIO_HTTP_GET);
    responses(buf, size, &lim, CORIO_HTTP_HEAD);
    free(buf);
    return 0;
}
