/* libFuzzer target for the response side of runtime/http/http_parser.c and
 * the client's URL code (runtime/http/client_url.c), fed the way
 * corio_http_client feeds them.
 *
 * The first input byte picks the request method (GET, HEAD or CONNECT:
 * they frame responses differently) and tight or default limits; the rest
 * is what a server sent. One input:
 *   - parses response heads, skipping 1xx ones as the client does, over the
 *     whole buffer, and again growing the buffer one byte per call (the
 *     client's peek loop): both must agree on the result, head length,
 *     status, field count, body kind and length;
 *   - checks the strictness the client promises: a completed head never
 *     has a bare CR, never two Content-Length fields, never Content-Length
 *     together with Transfer-Encoding, never a field line starting with
 *     whitespace (obs-fold);
 *   - decodes the body that follows in one call and through a 1..7-byte
 *     output window: same bytes, same verdict; then the end-of-stream
 *     verdict;
 *   - resolves the Location field, if any, against a fixed base URL, and
 *     checks the result is a well-formed target (starts with '/', no
 *     space or control byte, no "." or ".." segment).
 * Every buffer is a heap copy of exactly the bytes the code may read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"
#include "http_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NHDR 64

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

/* What a head parse gave, for comparisons. */
typedef struct head_out {
    int rc;              /* last parse result */
    size_t start;        /* offset of the final (non-1xx) head */
    size_t head_len;     /* its length */
    int status;          /* its status */
    size_t nhdr;         /* its field lines */
    int body;            /* body kind */
    uint64_t clen;       /* Content-Length */
    bool keep_alive;     /* persistence */
} head_out;

/* Parse heads of buf[0..len), skipping 1xx, feeding `step` new bytes per
 * call (0: everything at once). */
static head_out parse_heads(const char *buf, size_t len, size_t step, corio_http_method m,
                            const corio__http_limits *lim, corio_http_header *hdrs,
                            corio__http_response *last) {
    head_out o = {0};
    corio__http_parser p;
    corio__http_response_parser_init(&p, lim, hdrs, NHDR);
    size_t start = 0, have = step ? 0 : len;
    for (;;) {
        if (step && have < len)
            have = have + step < len ? have + step : len;
        int rc = start < have
                     ? corio__http_response_parse(&p, buf + start, have - start, m, last)
                     : CORIO__HTTP_NEED_MORE;
        o.rc = rc;
        if (rc == CORIO__HTTP_DONE && last->status >= 100 && last->status < 200 &&
            last->status != 101) {
            start += last->head_len;
            corio__http_parser_reset(&p);
            continue;
        }
        if (rc == CORIO__HTTP_DONE) {
            o.start = start;
            o.head_len = last->head_len;
            o.status = last->status;
            o.nhdr = last->num_headers;
            o.body = (int)last->body;
            o.clen = last->content_length;
            o.keep_alive = last->keep_alive;
            return o;
        }
        if (rc < 0 || have == len)
            return o;
    }
}

/* The client's promises about a head it accepted. */
static void check_strict(const char *head, size_t n, const corio__http_response *r) {
    for (size_t i = 0; i < n; i++)
        if (head[i] == '\r')
            require(i + 1 < n && head[i + 1] == '\n');
    int ncl = 0, nte = 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        const corio_http_header *h = &r->headers[i];
        require(h->name >= head && h->name + h->name_len <= head + n);
        require(h->name_len > 0 && h->name[0] != ' ' && h->name[0] != '\t');
        if (h->name_len == 14 && !strncasecmp(h->name, "Content-Length", 14))
            ncl++;
        if (h->name_len == 17 && !strncasecmp(h->name, "Transfer-Encoding", 17))
            nte++;
    }
    require(ncl <= 1);
    require(!(ncl && nte));
    /* No line of the head begins with whitespace (obs-fold). */
    for (size_t i = 0; i + 1 < n; i++)
        if (head[i] == '\n')
            require(head[i + 1] != ' ' && head[i + 1] != '\t');
}

/* Decode body bytes in[0..n) with an output window of `win` (0: all). */
static int decode(const corio__http_response *r, const char *in, size_t n, size_t win,
                  char *out, size_t *out_total, const corio__http_limits *lim) {
    corio__http_body b;
    corio__http_body_init(&b, r->body, r->content_length, lim, true);
    size_t pos = 0, total = 0;
    int rc = CORIO__HTTP_NEED_MORE;
    while (pos < n) {
        size_t used = 0, got = 0;
        size_t cap = win ? win : n;
        rc = corio__http_body_decode(&b, in + pos, n - pos, &used, out + total, cap, &got);
        pos += used;
        total += got;
        if (rc != CORIO__HTTP_NEED_MORE || (used == 0 && got == 0))
            break;
    }
    if (rc == CORIO__HTTP_NEED_MORE)
        rc = 100 + corio__http_body_eof(&b); /* distinct from decode results */
    *out_total = total;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static const corio_http_method methods[] = {CORIO_HTTP_GET, CORIO_HTTP_HEAD,
                                                CORIO_HTTP_CONNECT, CORIO_HTTP_GET};
    corio_http_method m = methods[data[0] & 3];
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_body = UINT64_MAX;
    if (data[0] & 4) {
        lim.max_header_bytes = 128;
        lim.max_headers = 4;
    }
    size_t len = size - 1;
    char *buf = dup_exact(data + 1, len);
    corio_http_header h1[NHDR], h2[NHDR];
    corio__http_response r1, r2;
    head_out a = parse_heads(buf, len, 0, m, &lim, h1, &r1);
    head_out b = parse_heads(buf, len, 1, m, &lim, h2, &r2);
    require(a.rc == b.rc);
    if (a.rc == CORIO__HTTP_DONE) {
        require(a.start == b.start && a.head_len == b.head_len && a.status == b.status &&
                a.nhdr == b.nhdr && a.body == b.body && a.clen == b.clen &&
                a.keep_alive == b.keep_alive);
        require(a.start + a.head_len <= len);
        require(a.status >= 100 && a.status <= 999);
        check_strict(buf + a.start, a.head_len, &r1);
        if (r1.body == CORIO__HTTP_BODY_LENGTH)
            require(r1.has_content_length);
        /* The body, twice. */
        size_t boff = a.start + a.head_len, blen = len - boff;
        char *in = dup_exact((const uint8_t *)buf + boff, blen);
        char *o1 = malloc(blen + 1), *o2 = malloc(blen + 1);
        require(o1 && o2);
        size_t n1 = 0, n2 = 0;
        int d1 = decode(&r1, in, blen, 0, o1, &n1, &lim);
        int d2 = decode(&r1, in, blen, 1 + (size_t)(data[0] >> 5), o2, &n2, &lim);
        require(d1 == d2 && n1 == n2 && memcmp(o1, o2, n1) == 0);
        free(o1);
        free(o2);
        free(in);
        /* Location, resolved as a redirect would be. */
        for (size_t i = 0; i < r1.num_headers; i++) {
            if (r1.headers[i].name_len != 8 || strncasecmp(r1.headers[i].name, "Location", 8))
                continue;
            corio__http_url base, next;
            require(corio__http_url_parse("http://example.com:8080/a/b/c?q=1", &base) == 0);
            char *loc = dup_exact((const uint8_t *)r1.headers[i].value, r1.headers[i].value_len);
            if (corio__http_url_resolve(&base, loc, r1.headers[i].value_len, &next) == 0) {
                require(next.target && next.target[0] == '/');
                for (const char *p = next.target; *p; p++)
                    require((unsigned char)*p > 0x20 && *p != 0x7f);
                const char *q = strchr(next.target, '?');
                size_t plen = q ? (size_t)(q - next.target) : strlen(next.target);
                for (size_t k = 0; k < plen; k++)
                    if (next.target[k] == '/') {
                        const char *s = next.target + k + 1;
                        size_t sl = strcspn(s, "/?");
                        if (s + sl > next.target + plen)
                            sl = (size_t)(next.target + plen - s);
                        require(!(sl == 1 && s[0] == '.') &&
                                !(sl == 2 && s[0] == '.' && s[1] == '.'));
                    }
                char *txt = corio__http_url_format(&next);
                require(txt != NULL);
                corio__http_url re;
                require(corio__http_url_parse(txt, &re) == 0);
                require(!strcmp(re.target, next.target));
                corio__http_url_fini(&re);
                free(txt);
                corio__http_url_fini(&next);
            }
            free(loc);
            corio__http_url_fini(&base);
        }
    }
    free(buf);
    return 0;
}
