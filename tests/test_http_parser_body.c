/* Tests for the HTTP/1.1 parser (runtime/http/): bodies, Content-Length
 * and chunked (extensions, trailers, byte by byte, malformed chunks,
 * limits); and response heads and what they decide about the body (HEAD,
 * bodiless statuses, interim responses, close-delimited, lenient line
 * ends, errors, byte by byte). Request heads and paths are in
 * test_http_parser.c; the helpers both use in t_http_parser.h. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"
#include "t_http_parser.h"

static int t_resp(t_ctx *t, const char *s, corio_http_method m) {
    memset(t, 0, sizeof *t);
    corio__http_response_parser_init(&t->p, NULL, t->hdrs, T_NHDR);
    return corio__http_response_parse(&t->p, s, strlen(s), m, &t->resp);
}

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

int main(void) {
    Suite *s = suite_create("http_parser_body");
    TCase *body = tcase_create("body");
    tcase_add_test(body, test_length_body);
    tcase_add_test(body, test_chunked_decoding);
    tcase_add_test(body, test_chunked_bytewise);
    tcase_add_loop_test(body, test_chunked_malformed, 0, T_N(t_bad_chunks));
    tcase_add_test(body, test_chunked_limits);
    suite_add_tcase(s, body);

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
