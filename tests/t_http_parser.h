/* Helpers shared by the HTTP parser suites (test_http_parser.c,
 * test_http_parser_body.c): a parser with its header array (t_ctx), slice
 * comparison, decoding a body in place, and the size of a case table.
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. Include after http_parser.h. */
#ifndef CORIO_T_HTTP_PARSER_H
#define CORIO_T_HTTP_PARSER_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
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

/* ---- helpers --------------------------------------------------------------- */

static inline bool t_slice_eq(const char *p, size_t n, const char *s) {
    return p && strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Drives one request's body through the decoder, in place. */
static inline int t_body(corio__http_body *b, char *buf, size_t len, size_t *used, size_t *out) {
    return corio__http_body_decode(b, buf, len, used, buf, len, out);
}

#define T_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif /* CORIO_T_HTTP_PARSER_H */
