/* Tests for the HTTP/1.1 parser (runtime/http/): request heads and every
 * error status, every byte of a token and of a Host, incremental
 * (byte-by-byte) and pipelined feeding, keep-alive rules; safe paths from
 * request targets, MIME types and reason phrases. Bodies and responses are
 * in test_http_parser_body.c; the helpers both use in t_http_parser.h. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"
#include "t_http_parser.h"

static void t_init_req(t_ctx *t, const corio__http_limits *lim, unsigned allowed) {
    memset(t, 0, sizeof *t);
    corio__http_request_parser_init(&t->p, lim, allowed, t->hdrs, T_NHDR);
}

/* Parses a whole request with default limits and every method allowed. */
static int t_req(t_ctx *t, const char *s) {
    t_init_req(t, NULL, CORIO_HTTP_METHODS_ALL);
    return corio__http_request_parse(&t->p, s, strlen(s), &t->req);
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

    TCase *path = tcase_create("path");
    tcase_add_loop_test(path, test_path_normalize, 0, T_N(t_paths));
    tcase_add_test(path, test_path_every_byte);
    tcase_add_test(path, test_mime_and_reason);
    suite_add_tcase(s, path);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
