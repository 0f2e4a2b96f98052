/* Tests for the HTTP/1.1 parser of the examples (examples/http/http_parser.c):
 * request heads and every error status, incremental and pipelined feeding,
 * keep-alive rules, Content-Length and chunked bodies, safe paths, MIME types
 * and response heads and bodies. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"

#define T_NHDR 128

/* One parser with its header array, as a server embeds it per connection. */
typedef struct t_ctx {
    corio__http_parser p;            /* the parser under test */
    corio_http_header hdrs[T_NHDR]; /* its header array */
    corio__http_request req;         /* the last completed request */
    corio__http_response resp;       /* the last completed response */
} t_ctx;

static void t_init_req(t_ctx *t, const corio__http_limits *lim, unsigned allowed) {
    memset(t, 0, sizeof *t);
    corio__http_request_parser_init(&t->p, lim, allowed, t->hdrs, T_NHDR);
}

/* Parses a whole request with default limits and every method allowed. */
static int t_req(t_ctx *t, const char *s) {
    t_init_req(t, NULL, CORIO_HTTP_METHODS_ALL);
    return corio__http_request_parse(&t->p, s, strlen(s), &t->req);
}

static int t_resp(t_ctx *t, const char *s, corio_http_method m) {
    memset(t, 0, sizeof *t);
    corio__http_response_parser_init(&t->p, NULL, t->hdrs, T_NHDR);
    return corio__http_response_parse(&t->p, s, strlen(s), m, &t->resp);
}

static bool t_slice_eq(const char *p, size_t n, const char *s) {
    return p && strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Feeds s[0..len) one more byte per call, each time from a fresh heap copy
 * of exactly the bytes fed so far (so the buffer moves between calls, and
 * ASan sees any read past what was fed). Returns the first non-NEED_MORE
 * result; *at is the length fed when it came. */
static int t_req_bytewise(t_ctx *t, const char *s, size_t len, size_t *at) {
    int rc = CORIO__HTTP_NEED_MORE;
    char *copy = NULL;
    t_init_req(t, NULL, CORIO_HTTP_METHODS_ALL);
    for (size_t n = 1; n <= len; n++) {
        free(copy);
        copy = malloc(n);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, s, n);
        rc = corio__http_request_parse(&t->p, copy, n, &t->req);
        if (rc != CORIO__HTTP_NEED_MORE) {
            *at = n;
            /* Rebase slices onto s so the caller may compare them. */
            if (rc == CORIO__HTTP_DONE) {
                ptrdiff_t d = s - copy;
                t->req.method_str += d;
                t->req.target += d;
                if (t->req.host)
                    t->req.host += d;
                for (size_t i = 0; i < t->req.num_headers; i++) {
                    t->hdrs[i].name += d;
                    t->hdrs[i].value += d;
                }
            }
            break;
        }
    }
    free(copy);
    return rc;
}

START_TEST(test_simple_get) {
    t_ctx t;
    const char *s = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent: t \r\nAccept:*/*\r\nX-Empty:\r\n\r\n";
    ck_assert_int_eq(t_req(&t, s), CORIO__HTTP_DONE);
    ck_assert_int_eq(t.req.method, CORIO_HTTP_GET);
    ck_assert(t_slice_eq(t.req.method_str, t.req.method_len, "GET"));
    ck_assert(t_slice_eq(t.req.target, t.req.target_len, "/index.html?x=1"));
    ck_assert_int_eq(t.req.version_minor, 1);
    ck_assert(t_slice_eq(t.req.host, t.req.host_len, "example.com"));
    ck_assert_uint_eq(t.req.num_headers, 4);
    ck_assert(t_slice_eq(t.hdrs[1].name, t.hdrs[1].name_len, "User-Agent"));
    ck_assert(t_slice_eq(t.hdrs[1].value, t.hdrs[1].value_len, "t"));
    ck_assert(t_slice_eq(t.hdrs[2].value, t.hdrs[2].value_len, "*/*"));
    ck_assert_uint_eq(t.hdrs[3].value_len, 0);
    ck_assert(t.req.keep_alive);
    ck_assert(!t.req.chunked);
    ck_assert(!t.req.has_content_length);
    ck_assert_int_eq(t.req.body, CORIO__HTTP_BODY_NONE);
    ck_assert_uint_eq(t.req.head_len, strlen(s));
    /* Slices point into the caller's buffer: zero-copy. */
    ck_assert_ptr_eq(t.req.target, s + 4);
}
END_TEST

START_TEST(test_need_more) {
    t_ctx t;
    ck_assert_int_eq(t_req(&t, ""), CORIO__HTTP_NEED_MORE);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.1\r\nHost: a\r\n"), CORIO__HTTP_NEED_MORE);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.1\r\nHost: a\r\n\r"), CORIO__HTTP_NEED_MORE);
    /* A buffer shorter than what was already fed is a caller bug. */
    t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, "GET /", 5, &t.req), 0);
    ck_assert_int_eq(corio__http_request_parse(&t.p, "GET /", 3, &t.req), -EINVAL);
}
END_TEST

/* Requests that must be refused with 400, one per rule. */
static const char *const t_bad_400[] = {
    "GET / HTTP/1.1\nHost: a\r\n\r\n",                          /* bare LF, line 1 */
    "GET / HTTP/1.1\r\nHost: a\n\r\n",                          /* bare LF, field */
    "GET / HTTP/1.1\r\nHost: a\r\n\n",                          /* bare LF, end */
    "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",                  /* bare CR */
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n",    /* obs-fold */
    "GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",               /* SP before colon */
    "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",                 /* empty name */
    "GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n",             /* non-token name */
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",           /* CTL in value */
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n",           /* DEL in value */
    "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",             /* no colon */
    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",                       /* double SP */
    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",                       /* trailing SP */
    "GET /\r\nHost: a\r\n\r\n",                                 /* no version */
    "GET / http/1.1\r\nHost: a\r\n\r\n",                        /* lower-case */
    "GET / HTTP/1.10\r\nHost: a\r\n\r\n",                       /* 2-digit minor */
    "GET / HTTP/11.1\r\nHost: a\r\n\r\n",                       /* 2-digit major */
    "GET / HTTP/1\r\nHost: a\r\n\r\n",                          /* no minor */
    "GET /a\x80 HTTP/1.1\r\nHost: a\r\n\r\n",                   /* raw 8-bit target */
    "GE\"T / HTTP/1.1\r\nHost: a\r\n\r\n",                      /* bad method char */
    " GET / HTTP/1.1\r\nHost: a\r\n\r\n",                       /* leading SP */
    "GET / HTTP/1.1\r\n\r\n",                                   /* 1.1 without Host */
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",             /* two Hosts */
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", /* list */
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n"),
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", /* TE in 1.0 */
    "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",          /* 3 empty lines */
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",           /* TLS hello */
    /* Regression: invalid Host values were accepted (RFC 9112 3.2). */
    "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a?b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: \"a\"\r\n\r\n",
    "GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
};

START_TEST(test_status_400) {
    t_ctx t;
    const char *s = t_bad_400[_i];
    ck_assert_msg(t_req(&t, s) == -400, "case %d: got %d", _i,
                  corio__http_request_parse(&t.p, s, strlen(s), &t.req));
    /* Sticky until reset. */
    ck_assert_int_eq(corio__http_request_parse(&t.p, s, strlen(s), &t.req), -400);
    corio__http_parser_reset(&t.p);
    ck_assert_int_eq(corio__http_request_parse(&t.p, "GET / HTTP/1.0\r\n\r\n", 18, &t.req),
                     CORIO__HTTP_DONE);
}
END_TEST

START_TEST(test_status_405_501) {
    t_ctx t;
    const char *post = "POST / HTTP/1.1\r\nHost: a\r\n\r\n";
    t_init_req(&t, NULL, CORIO_HTTP_GET | CORIO_HTTP_HEAD);
    ck_assert_int_eq(corio__http_request_parse(&t.p, post, strlen(post), &t.req), -405);
    t_init_req(&t, NULL, CORIO_HTTP_GET | CORIO_HTTP_HEAD);
    /* Refused as soon as the request line ends. */
    ck_assert_int_eq(corio__http_request_parse(&t.p, post, 17, &t.req), -405);
    ck_assert_int_eq(t_req(&t, "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n"), -501);
    ck_assert_int_eq(t_req(&t, "get / HTTP/1.1\r\nHost: a\r\n\r\n"), -501); /* case-sensitive */
    char longm[64];
    memset(longm, 'X', sizeof longm);
    t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, longm, sizeof longm, &t.req), -501);
    /* Every known method parses when allowed. */
    const char *names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                           "TRACE", "PATCH"};
    for (unsigned i = 0; i < 9; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s / HTTP/1.1\r\nHost: a\r\n\r\n", names[i]);
        ck_assert_int_eq(t_req(&t, buf), CORIO__HTTP_DONE);
        ck_assert_uint_eq(t.req.method, 1u << i);
    }
    /* Unknown transfer coding before chunked: 501 (RFC 9112 6.1). */
    ck_assert_int_eq(
        t_req(&t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        -501);
}
END_TEST

START_TEST(test_status_413) {
    t_ctx t;
    ck_assert_int_eq(
        t_req(&t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n"), -413);
    ck_assert_int_eq(
        t_req(&t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n"),
        CORIO__HTTP_DONE);
    ck_assert_uint_eq(t.req.content_length, 1048576);
    ck_assert_int_eq(t.req.body, CORIO__HTTP_BODY_LENGTH);
    /* Too big for 64 bits: saturates, never wraps to something small. */
    ck_assert_int_eq(
        t_req(&t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        -413);
    ck_assert_int_eq(t_req(&t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
                               "18446744073709551617\r\n\r\n"),
                     -413);
    /* Refused before the head is complete. */
    const char *s = "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n";
    t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, s, strlen(s), &t.req), -413);
    /* A raised limit lets it through. */
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_body = UINT64_MAX;
    t_init_req(&t, &lim, CORIO_HTTP_METHODS_ALL);
    s = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n";
    ck_assert_int_eq(corio__http_request_parse(&t.p, s, strlen(s), &t.req), CORIO__HTTP_DONE);
    ck_assert(t.req.content_length == UINT64_MAX);
}
END_TEST

START_TEST(test_status_414) {
    t_ctx t;
    size_t n = CORIO__HTTP_DEFAULT_MAX_URI + 64;
    char *s = malloc(n + 64);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', CORIO__HTTP_DEFAULT_MAX_URI - 1); /* target exactly at the limit */
    strcpy(s + 4 + CORIO__HTTP_DEFAULT_MAX_URI, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(t_req(&t, s), CORIO__HTTP_DONE);
    ck_assert_uint_eq(t.req.target_len, CORIO__HTTP_DEFAULT_MAX_URI);
    memset(s + 5, 'a', CORIO__HTTP_DEFAULT_MAX_URI); /* one byte over */
    strcpy(s + 5 + CORIO__HTTP_DEFAULT_MAX_URI, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(t_req(&t, s), -414);
    /* Refused without waiting for the end of the line. */
    t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, s, 5 + CORIO__HTTP_DEFAULT_MAX_URI, &t.req),
                     -414);
    free(s);
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_uri = 4;
    t_init_req(&t, &lim, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, "GET /abcd HTTP/1.0\r\n\r\n", 22, &t.req),
                     -414);
}
END_TEST

START_TEST(test_status_431) {
    t_ctx t;
    /* Over the header byte limit: one long field. */
    size_t big = CORIO__HTTP_DEFAULT_MAX_HEADER_BYTES + 100;
    char *s = malloc(big + 100);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    size_t l = strlen(s);
    memset(s + l, 'v', big);
    strcpy(s + l + big, "\r\n\r\n");
    ck_assert_int_eq(t_req(&t, s), -431);
    /* Refused before the field ends. */
    t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, s, l + big, &t.req), -431);
    free(s);

    /* Exactly at the byte limit is fine; one more byte is not. */
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    const char *h = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    lim.max_header_bytes = strlen("Host: a\r\n\r\n");
    t_init_req(&t, &lim, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, h, strlen(h), &t.req), CORIO__HTTP_DONE);
    lim.max_header_bytes--;
    t_init_req(&t, &lim, CORIO_HTTP_METHODS_ALL);
    ck_assert_int_eq(corio__http_request_parse(&t.p, h, strlen(h), &t.req), -431);

    /* Over the count limit: 101 fields. */
    char *m = malloc(101 * 16 + 64);
    ck_assert_ptr_nonnull(m);
    char *w = m + sprintf(m, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 99; i++)
        w += sprintf(w, "X%d: v\r\n", i);
    strcpy(w, "\r\n");
    ck_assert_int_eq(t_req(&t, m), CORIO__HTTP_DONE); /* 100 fields */
    ck_assert_uint_eq(t.req.num_headers, 100);
    strcpy(w, "Y: v\r\n\r\n");
    ck_assert_int_eq(t_req(&t, m), -431); /* 101 fields */
    free(m);

    /* A smaller caller array is a smaller limit. */
    corio_http_header two[2];
    corio__http_request_parser_init(&t.p, NULL, CORIO_HTTP_METHODS_ALL, two, 2);
    h = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    ck_assert_int_eq(corio__http_request_parse(&t.p, h, strlen(h), &t.req), -431);
}
END_TEST

/* Every byte in a field name: accepted exactly when RFC 9110's tchar
 * grammar says so (the parser keeps it as a bitmap). */
START_TEST(test_tchar_every_byte) {
    for (int b = 0; b < 256; b++) {
        if (b == ':')
            continue; /* ends the name: "X" with the value "Y: v" */
        char s[64];
        int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: a\r\nX%cY: v\r\n\r\n", b ? b : '?');
        if (b == 0)
            s[strlen("GET / HTTP/1.1\r\nHost: a\r\nX")] = '\0';
        bool tchar = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                     (b != 0 && strchr("!#$%&'*+-.^_`|~", b) != NULL);
        t_ctx t;
        t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
        int rc = corio__http_request_parse(&t.p, s, (size_t)n, &t.req);
        if (tchar)
            ck_assert_msg(rc == CORIO__HTTP_DONE, "byte %d refused in a name (%d)", b, rc);
        else
            ck_assert_msg(rc < 0, "byte %d taken in a name (%d)", b, rc);
    }
}
END_TEST

/* Host's character set (RFC 3986 3.2.2, as the parser checks it), byte by
 * byte: letters, digits and "-._~%!$&'()*+,;=:[]" are taken, every other
 * byte (control bytes, SP, '/', '@', '?', '#', quotes, obs-text) is a 400. */
START_TEST(test_host_every_byte) {
    for (int b = 0; b < 256; b++) {
        char s[64];
        int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: a%cb\r\n\r\n", b ? b : '?');
        if (b == 0)
            s[strlen("GET / HTTP/1.1\r\nHost: a")] = '\0';
        bool host = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                    (b != 0 && strchr("-._~%!$&'()*+,;=:[]", b) != NULL);
        t_ctx t;
        t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
        int rc = corio__http_request_parse(&t.p, s, (size_t)n, &t.req);
        if (host)
            ck_assert_msg(rc == CORIO__HTTP_DONE && t.req.host_len == 3, "byte %d refused in Host (%d)",
                          b, rc);
        else
            ck_assert_msg(rc < 0, "byte %d taken in Host (%d)", b, rc);
    }
}
END_TEST

START_TEST(test_status_505) {
    t_ctx t;
    ck_assert_int_eq(t_req(&t, "GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/0.9\r\nHost: a\r\n\r\n"), -505);
    ck_assert_int_eq(t_req(&t, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -505);
    /* A later 1.x is processed as 1.1 (RFC 9110 6.2). */
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.2\r\nHost: a\r\n\r\n"), CORIO__HTTP_DONE);
    ck_assert_int_eq(t.req.version_minor, 2);
    ck_assert(t.req.keep_alive);
}
END_TEST

START_TEST(test_keep_alive_rules) {
    t_ctx t;
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.0\r\n\r\n"), CORIO__HTTP_DONE);
    ck_assert(!t.req.keep_alive);
    ck_assert_ptr_null(t.req.host);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
                     CORIO__HTTP_DONE);
    ck_assert(t.req.keep_alive);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), CORIO__HTTP_DONE);
    ck_assert(t.req.keep_alive);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n"),
                     CORIO__HTTP_DONE);
    ck_assert(!t.req.keep_alive);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade,  close \r\n"
                               "\r\n"),
                     CORIO__HTTP_DONE);
    ck_assert(!t.req.keep_alive);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
                     CORIO__HTTP_DONE);
    ck_assert(!t.req.keep_alive);
    ck_assert_int_eq(t_req(&t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"),
                     CORIO__HTTP_DONE);
    ck_assert(t.req.keep_alive);
}
END_TEST

START_TEST(test_leading_empty_lines) {
    t_ctx t;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(t_req(&t, s), CORIO__HTTP_DONE);
    ck_assert_uint_eq(t.req.head_len, strlen(s));
    ck_assert_ptr_eq(t.req.method_str, s + 4);
}
END_TEST

/* Byte-by-byte feeding must give exactly what parsing the whole does. */
static const char *const t_bytewise_cases[] = {
    "GET /a/b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B:  two words  \r\n\r\n",
    "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
    "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    "\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n",
};

START_TEST(test_bytewise_equals_whole) {
    const char *s = t_bytewise_cases[_i];
    t_ctx whole, part;
    int rw = t_req(&whole, s);
    size_t at = 0;
    int rp = t_req_bytewise(&part, s, strlen(s), &at);
    ck_assert_int_eq(rp, rw);
    if (rw != CORIO__HTTP_DONE)
        return;
    ck_assert_uint_eq(at, strlen(s));
    ck_assert_uint_eq(part.req.head_len, whole.req.head_len);
    ck_assert_int_eq(part.req.method, whole.req.method);
    ck_assert_ptr_eq(part.req.method_str, whole.req.method_str);
    ck_assert_ptr_eq(part.req.target, whole.req.target);
    ck_assert_uint_eq(part.req.target_len, whole.req.target_len);
    ck_assert_ptr_eq(part.req.host, whole.req.host);
    ck_assert_uint_eq(part.req.num_headers, whole.req.num_headers);
    for (size_t i = 0; i < whole.req.num_headers; i++) {
        ck_assert_ptr_eq(part.hdrs[i].name, whole.hdrs[i].name);
        ck_assert_uint_eq(part.hdrs[i].name_len, whole.hdrs[i].name_len);
        ck_assert_ptr_eq(part.hdrs[i].value, whole.hdrs[i].value);
        ck_assert_uint_eq(part.hdrs[i].value_len, whole.hdrs[i].value_len);
    }
    ck_assert(part.req.content_length == whole.req.content_length);
    ck_assert_int_eq(part.req.keep_alive, whole.req.keep_alive);
    ck_assert_int_eq(part.req.chunked, whole.req.chunked);
    ck_assert_int_eq(part.req.body, whole.req.body);
}
END_TEST

/* Drives one request's body through the decoder, in place. */
static int t_body(corio__http_body *b, char *buf, size_t len, size_t *used, size_t *out) {
    return corio__http_body_decode(b, buf, len, used, buf, len, out);
}

START_TEST(test_pipelined) {
    char buf[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                 "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                 "PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n"
                 "GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                 "GET /5 HT";
    const char *targets[] = {"/1", "/2", "/3", "/4"};
    const char *bodies[] = {"", "hello", "abcde", ""};
    size_t len = strlen(buf), off = 0;
    t_ctx t;
    t_init_req(&t, NULL, CORIO_HTTP_METHODS_ALL);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(corio__http_request_parse(&t.p, buf + off, len - off, &t.req),
                         CORIO__HTTP_DONE);
        ck_assert(t_slice_eq(t.req.target, t.req.target_len, targets[i]));
        ck_assert_int_eq(t.req.keep_alive, i != 3);
        off += t.req.head_len;
        corio__http_body b;
        corio__http_body_init(&b, t.req.body, t.req.content_length, NULL, false);
        size_t used, out;
        char *body = buf + off;
        ck_assert_int_eq(t_body(&b, body, len - off, &used, &out), CORIO__HTTP_DONE);
        ck_assert(t_slice_eq(body, out, bodies[i]));
        off += used;
    }
    ck_assert_int_eq(corio__http_request_parse(&t.p, buf + off, len - off, &t.req),
                     CORIO__HTTP_NEED_MORE);
}
END_TEST

START_TEST(test_length_body) {
    corio__http_body b;
    size_t used, out;
    char dst[8];
    corio__http_body_init(&b, CORIO__HTTP_BODY_LENGTH, 10, NULL, false);
    /* Zero-copy: out NULL, data read from the input. */
    ck_assert_int_eq(corio__http_body_decode(&b, "0123", 4, &used, NULL, 0, &out),
                     CORIO__HTTP_NEED_MORE);
    ck_assert_uint_eq(used, 4);
    ck_assert_uint_eq(out, 4);
    /* Output full before input is used up. */
    ck_assert_int_eq(corio__http_body_decode(&b, "45678", 5, &used, dst, 2, &out),
                     CORIO__HTTP_NEED_MORE);
    ck_assert_uint_eq(used, 2);
    ck_assert_int_eq(corio__http_body_eof(&b), -400); /* truncated */
    ck_assert_int_eq(corio__http_body_decode(&b, "6789GET", 7, &used, dst, sizeof dst, &out),
                     CORIO__HTTP_DONE);
    ck_assert_uint_eq(used, 4);
    ck_assert(t_slice_eq(dst, out, "6789"));
    ck_assert_int_eq(corio__http_body_eof(&b), CORIO__HTTP_DONE);
    ck_assert_int_eq(corio__http_body_decode(&b, "x", 1, &used, NULL, 0, &out), CORIO__HTTP_DONE);
    ck_assert_uint_eq(used, 0);
    /* Over the limit, even when initialised by hand. */
    corio__http_body_init(&b, CORIO__HTTP_BODY_LENGTH, 2u << 20, NULL, false);
    ck_assert_int_eq(corio__http_body_decode(&b, "x", 1, &used, NULL, 0, &out), -413);
    corio__http_body_init(&b, CORIO__HTTP_BODY_NONE, 0, NULL, false);
    ck_assert_int_eq(corio__http_body_decode(&b, "x", 1, &used, NULL, 0, &out), CORIO__HTTP_DONE);
    ck_assert_uint_eq(used, 0);
}
END_TEST

/* Decodes a whole chunked body in place; returns the status and the data. */
static int t_chunked(const char *src, bool lenient, const corio__http_limits *lim, char *data,
                     size_t *data_len, size_t *used) {
    size_t n = strlen(src);
    char *buf = malloc(n + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, src, n);
    corio__http_body b;
    corio__http_body_init(&b, CORIO__HTTP_BODY_CHUNKED, 0, lim, lenient);
    int rc = corio__http_body_decode(&b, buf, n, used, buf, n, data_len);
    if (data)
        memcpy(data, buf, *data_len);
    free(buf);
    return rc;
}

START_TEST(test_chunked_decoding) {
    char data[256];
    size_t dl, used;
    const char *s = "5\r\nhello\r\n1;name=val;q=\"a b\"\r\n \r\n"
                    "0000a\r\n0123456789\r\n0\r\nExpires: never\r\nX:\r\n\r\nNEXT";
    ck_assert_int_eq(t_chunked(s, false, NULL, data, &dl, &used), CORIO__HTTP_DONE);
    ck_assert(t_slice_eq(data, dl, "hello 0123456789"));
    ck_assert_uint_eq(used, strlen(s) - 4);
    /* Upper-case hex, whitespace before an extension. */
    ck_assert_int_eq(t_chunked("A \t;ext\r\n0123456789\r\n0\r\n\r\n", false, NULL, data, &dl,
                               &used),
                     CORIO__HTTP_DONE);
    ck_assert_uint_eq(dl, 10);
    /* The strict grammar's accepted forms: BWS around ';' and '=', token
     * and quoted-string values with a quoted-pair, several extensions. */
    ck_assert_int_eq(t_chunked("3 ; a = b ;c;d=\"x\\\"y; z\"\r\nabc\r\n0\r\n\r\n", false,
                               NULL, data, &dl, &used),
                     CORIO__HTTP_DONE);
    ck_assert(t_slice_eq(data, dl, "abc"));
    /* Empty body. */
    ck_assert_int_eq(t_chunked("0\r\n\r\n", false, NULL, data, &dl, &used), CORIO__HTTP_DONE);
    ck_assert_uint_eq(dl, 0);
    /* Incomplete. */
    ck_assert_int_eq(t_chunked("5\r\nhel", false, NULL, data, &dl, &used),
                     CORIO__HTTP_NEED_MORE);
    ck_assert_int_eq(t_chunked("0\r\nT: v\r\n", false, NULL, data, &dl, &used),
                     CORIO__HTTP_NEED_MORE);
    /* Bare LF: refused strictly, accepted leniently (responses). */
    const char *lf = "3\nabc\n0\nT: v\n\n";
    ck_assert_int_eq(t_chunked(lf, false, NULL, data, &dl, &used), -400);
    ck_assert_int_eq(t_chunked(lf, true, NULL, data, &dl, &used), CORIO__HTTP_DONE);
    ck_assert(t_slice_eq(data, dl, "abc"));
}
END_TEST

START_TEST(test_chunked_bytewise) {
    const char *s = "4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n";
    const char *want = "Wikipedia in\r\n\r\nchunks.";
    size_t n = strlen(s);
    corio__http_body b;
    corio__http_body_init(&b, CORIO__HTTP_BODY_CHUNKED, 0, NULL, false);
    char out[64];
    size_t ol = 0, used, got;
    int rc = CORIO__HTTP_NEED_MORE;
    for (size_t i = 0; i < n; i++) {
        /* One input byte, and at most one output byte, per call. */
        rc = corio__http_body_decode(&b, s + i, 1, &used, out + ol, 1, &got);
        ck_assert_uint_eq(used, 1);
        ol += got;
        if (rc != CORIO__HTTP_NEED_MORE)
            break;
    }
    ck_assert_int_eq(rc, CORIO__HTTP_DONE);
    ck_assert(t_slice_eq(out, ol, want));
}
END_TEST

static const char *const t_bad_chunks[] = {
    "\r\n",                                /* no size */
    "x\r\n",                               /* not hex */
    "-1\r\n",                              /* sign */
    "0x5\r\nhello\r\n0\r\n\r\n",           /* 0x prefix */
    "5 5\r\nhello\r\n0\r\n\r\n",           /* junk after size */
    "5\rhello\r\n0\r\n\r\n",               /* bare CR */
    "5\r\nhelloXX0\r\n\r\n",               /* data longer than size */
    "5\r\nhello\r0\r\n\r\n",               /* bad CRLF after data */
    "5;a\x01\r\nhello\r\n0\r\n\r\n",       /* CTL in extension */
    "10000000000000000\r\n",               /* 17 hex digits: over 64 bits */
    "0\r\n folded: x\r\n\r\n",             /* obs-fold trailer */
    "0\r\nBad Name: x\r\n\r\n",            /* bad trailer name */
    "0\r\nT: a\x02\r\n\r\n",               /* CTL in trailer */
    "0\r\n\rX",                            /* bad final CRLF */
    /* Regression: loose chunk extensions were accepted (RFC 9112 7.1.1). */
    "5 \r\nhello\r\n0\r\n\r\n",             /* trailing space after the size */
    "5\t\r\nhello\r\n0\r\n\r\n",            /* trailing tab after the size */
    "5;\r\nhello\r\n0\r\n\r\n",             /* empty extension name */
    "5;;;==\"\r\nhello\r\n0\r\n\r\n",        /* no names, unbalanced quote */
    "5;a=\"b\r\nhello\r\n0\r\n\r\n",         /* unbalanced quote */
    "5;a=b \r\nhello\r\n0\r\n\r\n",          /* trailing space after a value */
    "5;a \r\nhello\r\n0\r\n\r\n",            /* trailing space after a name */
    "5;a=\r\nhello\r\n0\r\n\r\n",            /* '=' without a value */
    "5;=b\r\nhello\r\n0\r\n\r\n",            /* value without a name */
    "5;a=b=c\r\nhello\r\n0\r\n\r\n",         /* '=' in a token value */
    "5;a\"b\r\nhello\r\n0\r\n\r\n",          /* quote in a name */
    "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",       /* bytes after the closing quote */
};

START_TEST(test_chunked_malformed) {
    size_t dl, used;
    ck_assert_int_eq(t_chunked(t_bad_chunks[_i], false, NULL, NULL, &dl, &used), -400);
}
END_TEST

START_TEST(test_chunked_limits) {
    size_t dl, used;
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    /* A size that fits 64 bits but not the limit: 413, before any data. */
    ck_assert_int_eq(t_chunked("FFFFFFFFFFFFFFFF\r\n", false, NULL, NULL, &dl, &used), -413);
    /* The total over several chunks. */
    lim.max_body = 8;
    ck_assert_int_eq(t_chunked("4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", false, &lim, NULL, &dl,
                               &used),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t_chunked("4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n", false, &lim, NULL, &dl,
                               &used),
                     -413);
    /* Trailers over max_header_bytes: 431. */
    lim.max_header_bytes = 8;
    ck_assert_int_eq(t_chunked("0\r\nLong: trailer\r\n\r\n", false, &lim, NULL, &dl, &used),
                     -431);
    /* Leading zeros are fine; an endless size line is not. */
    char *s = malloc(CORIO__HTTP_MAX_CHUNK_LINE + 16);
    ck_assert_ptr_nonnull(s);
    memset(s, '0', CORIO__HTTP_MAX_CHUNK_LINE + 8);
    s[CORIO__HTTP_MAX_CHUNK_LINE + 8] = '\0';
    ck_assert_int_eq(t_chunked(s, false, NULL, NULL, &dl, &used), -400);
    memcpy(s, "1;", 2);
    memset(s + 2, 'e', CORIO__HTTP_MAX_CHUNK_LINE + 6);
    ck_assert_int_eq(t_chunked(s, false, NULL, NULL, &dl, &used), -400);
    free(s);
    /* Sticky. */
    corio__http_body b;
    corio__http_body_init(&b, CORIO__HTTP_BODY_CHUNKED, 0, NULL, false);
    ck_assert_int_eq(corio__http_body_decode(&b, "z", 1, &used, NULL, 0, &dl), -400);
    ck_assert_int_eq(corio__http_body_decode(&b, "0\r\n\r\n", 5, &used, NULL, 0, &dl), -400);
    ck_assert_int_eq(corio__http_body_eof(&b), -400);
}
END_TEST

/* target -> expected path, or NULL for a 400. */
static const struct {
    const char *target; /* request target */
    const char *path;   /* expected result; NULL: -400 */
} t_paths[] = {
    {"/", "."},
    {"/index.html", "index.html"},
    {"/a/b/c.txt", "a/b/c.txt"},
    {"//a///b//", "a/b"},
    {"/./a/./b/.", "a/b"},
    {"/a/b/?q=1", "a/b"},
    {"/a?x=/../../etc/passwd", "a"},
    {"/a#frag", "a"},
    {"/hello%20world", "hello world"},
    {"/caf%C3%A9", "caf\xc3\xa9"},
    {"/%2e/a", "a"},
    {"/a%2Fb", "a/b"},
    {"/%252e%252e/x", "%2e%2e/x"}, /* double-encoded stays literal */
    {"/...", "..."},
    {"/..a/a..", "..a/a.."},
    {"http://example.com/a/b", "a/b"},
    {"HTTPS://example.com", "."},
    {"http://example.com?x", "."},
    {"/..", NULL},
    {"/../etc/passwd", NULL},
    {"/a/../../etc/passwd", NULL},
    {"/a/..", NULL},
    {"/a/b/../c", NULL}, /* even when it would stay inside */
    {"/%2e%2e/etc/passwd", NULL},
    {"/%2E%2E", NULL},
    {"/.%2e/x", NULL},
    {"/a/..%2f..%2fetc", NULL},
    {"/a\\..\\b", NULL},
    {"/a%5c..%5cb", NULL},
    {"/a%00.html", NULL},
    {"/a%0a", NULL},
    {"/a%", NULL},
    {"/a%2", NULL},
    {"/a%zz", NULL},
    {"/a\x7f", NULL},
    {"/a\xc3\xa9", NULL}, /* raw 8-bit must be encoded */
    {"a/b", NULL},
    {"", NULL},
    {"*", NULL},
    {"http://example.com/../x", NULL},
};

START_TEST(test_path_normalize) {
    const char *target = t_paths[_i].target;
    const char *want = t_paths[_i].path;
    size_t len = strlen(target);
    char out[128];
    int rc = corio__http_path_normalize(target, len, out, len + 2);
    if (!want) {
        ck_assert_msg(rc == -400, "%s: got %d", target, rc);
        return;
    }
    ck_assert_msg(rc >= 0, "%s: got %d", target, rc);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(rc, (int)strlen(want));
    /* Too small an output buffer: 414, never an overflow. */
    ck_assert_int_eq(corio__http_path_normalize(target, len, out, (size_t)rc), -414);
}
END_TEST

/* Every byte between two path bytes: kept as it is (the normaliser copies
 * runs of such bytes at once, chosen by a bitmap), a separator, the end
 * of the path, or a 400. */
START_TEST(test_path_every_byte) {
    for (int b = 0; b < 256; b++) {
        char t[] = "/a?b/cd", out[16], want[16];
        t[2] = (char)b;
        int rc = corio__http_path_normalize(t, sizeof t - 1, out, sizeof out);
        if (b == '?' || b == '#') {
            ck_assert_msg(rc == 1 && !strcmp(out, "a"), "byte %d: %d %s", b, rc, out);
        } else if (b >= 0x20 && b < 0x7f && b != '%' && b != '\\') {
            snprintf(want, sizeof want, "a%cb/cd", b);
            ck_assert_msg(rc == 6 && !strcmp(out, want), "byte %d: %d", b, rc);
            ck_assert_int_eq(corio__http_path_normalize(t, sizeof t - 1, out, 6), -414);
        } else {
            ck_assert_msg(rc == -400, "byte %d taken in a path (%d)", b, rc);
        }
    }
}
END_TEST

START_TEST(test_mime_and_reason) {
    ck_assert_str_eq(corio__http_mime_type("a/index.html", 12), "text/html; charset=utf-8");
    ck_assert_str_eq(corio__http_mime_type("x.PNG", 5), "image/png");
    ck_assert_str_eq(corio__http_mime_type("x.tar.gz", 8), "application/gzip");
    ck_assert_str_eq(corio__http_mime_type("README", 6), "application/octet-stream");
    ck_assert_str_eq(corio__http_mime_type("a.d/file", 8), "application/octet-stream");
    ck_assert_str_eq(corio__http_mime_type("file.", 5), "application/octet-stream");
    ck_assert_str_eq(corio__http_mime_type("x.woff2", 7), "font/woff2");
    ck_assert_str_eq(corio_http_status_reason(-431), "Request Header Fields Too Large");
    ck_assert_str_eq(corio_http_status_reason(200), "OK");
    ck_assert_str_eq(corio_http_status_reason(799), "Unknown");
}
END_TEST

START_TEST(test_response_length) {
    t_ctx t;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: x\r\n\r\nabc";
    ck_assert_int_eq(t_resp(&t, s, CORIO_HTTP_GET), CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.status, 200);
    ck_assert(t_slice_eq(t.resp.reason, t.resp.reason_len, "OK"));
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_LENGTH);
    ck_assert_uint_eq(t.resp.content_length, 3);
    ck_assert(t.resp.keep_alive);
    ck_assert_uint_eq(t.resp.num_headers, 2);
    ck_assert_uint_eq(t.resp.head_len, strlen(s) - 3);
    /* The same response to HEAD has no body. */
    ck_assert_int_eq(t_resp(&t, s, CORIO_HTTP_HEAD), CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_NONE);
    ck_assert_uint_eq(t.resp.content_length, 3);
    /* Bodiless statuses. */
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 204 No Content\r\n\r\n", CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_NONE);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                            CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_NONE);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\n\r\n", CORIO_HTTP_CONNECT), CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_NONE);
    /* An interim response, then the final one from the same buffer. */
    const char *two = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(t_resp(&t, two, CORIO_HTTP_PUT), CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.status, 100);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_NONE);
    size_t off = t.resp.head_len;
    ck_assert_int_eq(corio__http_response_parse(&t.p, two + off, strlen(two) - off,
                                               CORIO_HTTP_PUT, &t.resp),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.status, 201);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_LENGTH);
}
END_TEST

START_TEST(test_response_chunked_and_close) {
    t_ctx t;
    char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "6\r\nchunky\r\n0\r\n\r\n";
    ck_assert_int_eq(t_resp(&t, s, CORIO_HTTP_GET), CORIO__HTTP_DONE);
    ck_assert(t.resp.chunked);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_CHUNKED);
    ck_assert(t.resp.keep_alive);
    corio__http_body b;
    corio__http_body_init(&b, t.resp.body, t.resp.content_length, NULL, true);
    size_t used, out;
    char *body = s + t.resp.head_len;
    ck_assert_int_eq(t_body(&b, body, strlen(body), &used, &out), CORIO__HTTP_DONE);
    ck_assert(t_slice_eq(body, out, "chunky"));

    /* No length at all: close-delimited, and the connection cannot persist. */
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n",
                            CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_CLOSE);
    ck_assert(!t.resp.keep_alive);
    corio__http_limits lim;
    corio__http_limits_init(&lim);
    lim.max_body = 10;
    corio__http_body_init(&b, CORIO__HTTP_BODY_CLOSE, 0, &lim, true);
    ck_assert_int_eq(corio__http_body_decode(&b, "0123456", 7, &used, NULL, 0, &out),
                     CORIO__HTTP_NEED_MORE);
    ck_assert_uint_eq(used, 7);
    ck_assert_int_eq(corio__http_body_eof(&b), CORIO__HTTP_DONE);
    ck_assert_int_eq(corio__http_body_decode(&b, "7890", 4, &used, NULL, 0, &out), -413);

    /* A final coding other than chunked also means close-delimited. */
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                            CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.body, CORIO__HTTP_BODY_CLOSE);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                            CORIO_HTTP_GET),
                     -501);
    /* HTTP/1.0 keep-alive only on request. */
    ck_assert_int_eq(t_resp(&t, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert(!t.resp.keep_alive);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: "
                                "keep-alive\r\n\r\n",
                            CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert(t.resp.keep_alive);
}
END_TEST

START_TEST(test_response_lenient_and_errors) {
    t_ctx t;
    /* Bare LF line ends and a missing reason are taken from servers. */
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 404\nContent-Length: 2\nX:  y \n\n", CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert_int_eq(t.resp.status, 404);
    ck_assert_uint_eq(t.resp.reason_len, 0);
    ck_assert_uint_eq(t.resp.num_headers, 2);
    ck_assert(t_slice_eq(t.hdrs[1].value, t.hdrs[1].value_len, "y"));
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 \r\n\r\n", CORIO_HTTP_GET), CORIO__HTTP_DONE);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 500 Internal Server Error\r\n\r\n", CORIO_HTTP_GET),
                     CORIO__HTTP_DONE);
    ck_assert(t_slice_eq(t.resp.reason, t.resp.reason_len, "Internal Server Error"));
    ck_assert_int_eq(t_resp(&t, "HTTP/2.0 200 OK\r\n\r\n", CORIO_HTTP_GET), -505);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 20 OK\r\n\r\n", CORIO_HTTP_GET), -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 2000 OK\r\n\r\n", CORIO_HTTP_GET), -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 099 OK\r\n\r\n", CORIO_HTTP_GET), -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\rX\r\n\r\n", CORIO_HTTP_GET), -400);
    ck_assert_int_eq(t_resp(&t, "ICY 200 OK\r\n\r\n", CORIO_HTTP_GET), -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n"
                                "\r\n",
                            CORIO_HTTP_GET),
                     -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: "
                                "chunked\r\n\r\n",
                            CORIO_HTTP_GET),
                     -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n"
                                "\r\n",
                            CORIO_HTTP_GET),
                     -413);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\n folded\r\n\r\n", CORIO_HTTP_GET), -400);
    ck_assert_int_eq(t_resp(&t, "HTTP/1.1 200 OK\r\n", CORIO_HTTP_GET), CORIO__HTTP_NEED_MORE);
}
END_TEST

START_TEST(test_response_bytewise) {
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n";
    t_ctx whole, part;
    ck_assert_int_eq(t_resp(&whole, s, CORIO_HTTP_GET), CORIO__HTTP_DONE);
    memset(&part, 0, sizeof part);
    corio__http_response_parser_init(&part.p, NULL, part.hdrs, T_NHDR);
    size_t n = strlen(s);
    int rc = CORIO__HTTP_NEED_MORE;
    for (size_t i = 1; i <= n && rc == CORIO__HTTP_NEED_MORE; i++) {
        rc = corio__http_response_parse(&part.p, s, i, CORIO_HTTP_GET, &part.resp);
        ck_assert(i == n || rc == CORIO__HTTP_NEED_MORE);
    }
    ck_assert_int_eq(rc, CORIO__HTTP_DONE);
    ck_assert_uint_eq(part.resp.head_len, whole.resp.head_len);
    ck_assert_uint_eq(part.resp.num_headers, 2);
    ck_assert(t_slice_eq(part.hdrs[0].value, part.hdrs[0].value_len, "text/plain"));
    ck_assert_uint_eq(part.resp.content_length, 11);
}
END_TEST

#define T_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void) {
    Suite *s = suite_create("http_parser");
    TCase *req = tcase_create("request");
    tcase_add_test(req, test_simple_get);
    tcase_add_test(req, test_need_more);
    tcase_add_loop_test(req, test_status_400, 0, T_N(t_bad_400));
    tcase_add_test(req, test_status_405_501);
    tcase_add_test(req, test_status_413);
    tcase_add_test(req, test_status_414);
    tcase_add_test(req, test_status_431);
    tcase_add_test(req, test_tchar_every_byte);
    tcase_add_test(req, test_host_every_byte);
    tcase_add_test(req, test_status_505);
    tcase_add_test(req, test_keep_alive_rules);
    tcase_add_test(req, test_leading_empty_lines);
    tcase_add_loop_test(req, test_bytewise_equals_whole, 0, T_N(t_bytewise_cases));
    tcase_add_test(req, test_pipelined);
    suite_add_tcase(s, req);

    TCase *body = tcase_create("body");
    tcase_add_test(body, test_length_body);
    tcase_add_test(body, test_chunked_decoding);
    tcase_add_test(body, test_chunked_bytewise);
    tcase_add_loop_test(body, test_chunked_malformed, 0, T_N(t_bad_chunks));
    tcase_add_test(body, test_chunked_limits);
    suite_add_tcase(s, body);

    TCase *path = tcase_create("path");
    tcase_add_loop_test(path, test_path_normalize, 0, T_N(t_paths));
    tcase_add_test(path, test_path_every_byte);
    tcase_add_test(path, test_mime_and_reason);
    suite_add_tcase(s, path);

    TCase *resp = tcase_create("response");
    tcase_add_test(resp, test_response_length);
    tcase_add_test(resp, test_response_chunked_and_close);
    tcase_add_test(resp, test_response_lenient_and_errors);
    tcase_add_test(resp, test_response_bytewise);
    suite_add_tcase(s, resp);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
