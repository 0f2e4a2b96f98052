/* Incremental, zero-copy HTTP/1.1 message parsing for corio's HTTP server and client.
 *
 * This module is pure C11: no allocation, no I/O, no dependency on the rest
 * of corio. It serves two programs: corio-httpd (request heads, request
 * bodies, safe paths, MIME types) and the downloads tool's native client
 * (response heads and bodies).
 *
 * Return convention, shared by every parsing function here:
 *   1                 the message part is complete;
 *   0                 CORIO__HTTP_NEED_MORE: feed more bytes and call again;
 *   -status (< 0)     the message is unacceptable; `status` is the HTTP status
 *                     a server must answer with (400, 405, 413, 414, 431, 501,
 *                     505). The response parser reuses the same numbers for
 *                     the same classes of fault (400: malformed; 413: body
 *                     over the limit; 431: head over the limits; 501: a
 *                     transfer coding this module does not decode; 505: not
 *                     HTTP/1.x). After an error the connection's framing is
 *                     lost: answer (with "Connection: close") and close it.
 *   -EINVAL           a programming error (a buffer shorter than what was
 *                     already fed). Distinct from every -status.
 *
 * Line endings (RFC 9112 section 2.2). Requests are parsed strictly: every
 * line must end in CRLF; a bare LF or a bare CR is a 400. Being strict closes
 * the door on request smuggling through a front end that splits lines
 * differently. Responses, and chunked framing in responses, accept a bare LF
 * as a line end (the RFC's MAY), because the client talks to servers it does
 * not control; a bare CR is still rejected.
 *
 * Lifetime. Every slice (pointer + length) reported here points into the
 * buffer passed to the call that completed the parse, and stays valid exactly
 * as long as that buffer's bytes stay where they are. Nothing is copied.
 */
#ifndef CORIO_HTTP_PARSER_H
#define CORIO_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/http.h"

/* Result of a parse call that needs more input (see the convention above). */
#define CORIO__HTTP_NEED_MORE 0
/* Result of a parse call that completed its message part. */
#define CORIO__HTTP_DONE 1

/* Default limits, used by corio__http_limits_init(). */
#define CORIO__HTTP_DEFAULT_MAX_URI (8u * 1024u)
#define CORIO__HTTP_DEFAULT_MAX_HEADER_BYTES (16u * 1024u)
#define CORIO__HTTP_DEFAULT_MAX_HEADERS 100u
#define CORIO__HTTP_DEFAULT_MAX_BODY (1024u * 1024u)

/* Longest method token accepted; no registered method comes close, so a
 * longer token is answered 501 without waiting for the rest of the line. */
#define CORIO__HTTP_MAX_METHOD 32u
/* Longest chunk-size line (size, extensions, CRLF); longer is a 400. */
#define CORIO__HTTP_MAX_CHUNK_LINE 4096u

/* Byte classes, one bit each in corio__http_cls[c] (http_parser.c):
 *   TCHAR  tchar = DIGIT / ALPHA / "!#$%&'*+-.^_`|~" (RFC 9110 5.6.2), the
 *          bytes of a token (a method, a field name);
 *   HOST   what a Host value may hold: ASCII letters and digits and
 *          "-._~%!$&'()*+,;=:[]" (see valid_host in http_parser.c);
 *   PATH   what a path segment copies as it is: 0x20-0x7e but '%', '/',
 *          '\\', '?' and '#' (see corio__http_path_normalize).
 * A table lookup is one load per byte where a test of ranges or a bitmap
 * was several instructions. test_http_parser checks every byte of each
 * class against the grammar's definition. */
enum { CORIO__HTTP_C_TCHAR = 1, CORIO__HTTP_C_HOST = 2, CORIO__HTTP_C_PATH = 4 };
extern const unsigned char corio__http_cls[256];

static inline bool corio__http_is_tchar(unsigned char c) {
    return corio__http_cls[c] & CORIO__HTTP_C_TCHAR;
}

/* field-vchar = VCHAR / obs-text; SP and HTAB are handled by the callers. */
static inline bool corio__http_is_field_vchar(unsigned char c) {
    return c > 0x20 && c != 0x7f;
}

/* OWS/BWS bytes: SP and HTAB. */
static inline bool corio__http_is_ws(unsigned char c) {
    return c == ' ' || c == '\t';
}

/* The value of a hex digit, -1 for any other byte. */
static inline int corio__http_hexval(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline unsigned char corio__http_lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ASCII case-insensitive equality of s[0..n) with the NUL-terminated,
 * lower-case lit. */
static inline bool corio__http_ieq(const char *s, size_t n, const char *lit) {
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (corio__http_lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return i == n && lit[i] == '\0';
}

/* Methods (corio_http_method) and field lines (corio_http_header) are
 * the public types of corio/http.h. */

/* How a message's body is delimited (RFC 9112 section 6.3). */
typedef enum corio__http_body_kind {
    CORIO__HTTP_BODY_NONE = 0,    /* no body at all */
    CORIO__HTTP_BODY_LENGTH = 1,  /* exactly Content-Length bytes */
    CORIO__HTTP_BODY_CHUNKED = 2, /* Transfer-Encoding: chunked */
    CORIO__HTTP_BODY_CLOSE = 3,   /* until the peer closes (responses only) */
} corio__http_body_kind;

/* Limits applied while parsing. Embed one, fill it with
 * corio__http_limits_init(), adjust fields. The parsers copy it at init. */
typedef struct corio__http_limits {
    size_t max_uri;          /* longest request target, bytes; over: 414 */
    size_t max_header_bytes; /* header section (or trailer section) bytes,
                              * every field line and its CRLF plus the final
                              * CRLF; over: 431 */
    size_t max_headers;      /* most field lines in one head; over: 431 */
    uint64_t max_body;       /* longest body (declared or decoded); over: 413 */
} corio__http_limits;


/* A complete request head. Filled by corio__http_request_parse() only when it
 * returns CORIO__HTTP_DONE; slices point into the buffer of that call. */
typedef struct corio__http_request {
    corio_http_method method;    /* one bit of corio_http_method */
    const char *method_str;      /* method token as received */
    size_t method_len;           /* bytes in method_str */
    const char *target;          /* request target as received (undecoded) */
    size_t target_len;           /* bytes in target */
    int version_minor;           /* 0 for HTTP/1.0, >= 1 for HTTP/1.1 and later
                                  * 1.x (processed as 1.1, RFC 9110 6.2) */
    const char *host;            /* Host field value, NULL if absent (1.0) */
    size_t host_len;             /* bytes in host */
    corio_http_header *headers;  /* the caller's array given at init */
    size_t num_headers;          /* entries of headers filled, in order */
    uint64_t content_length;     /* Content-Length value, 0 when absent */
    bool has_content_length;     /* a Content-Length field was present */
    bool chunked;                /* Transfer-Encoding: chunked */
    bool keep_alive;             /* the connection may carry another request */
    corio__http_body_kind body;   /* NONE, LENGTH or CHUNKED; never CLOSE */
    size_t head_len;             /* bytes of the buffer the head used, from
                                  * its start: the body (or the next pipelined
                                  * request) starts at buf + head_len */
} corio__http_request;

/* A complete response head, filled by corio__http_response_parse(). */
typedef struct corio__http_response {
    int version_minor;          /* x of HTTP/1.x */
    int status;                 /* three-digit status code, 100..999 */
    const char *reason;         /* reason phrase, may be empty */
    size_t reason_len;          /* bytes in reason */
    corio_http_header *headers; /* the caller's array given at init */
    size_t num_headers;         /* entries of headers filled, in order */
    uint64_t content_length;    /* Content-Length value, 0 when absent */
    bool has_content_length;    /* a Content-Length field was present */
    bool chunked;               /* Transfer-Encoding ends in chunked */
    bool keep_alive;            /* the connection may carry another request */
    corio__http_body_kind body;  /* how the body that follows is delimited */
    size_t head_len;            /* bytes of the buffer the head used */
} corio__http_response;

/* Parser state, embedded by the caller (no allocation). One parser serves one
 * connection: requests on the server side, responses on the client side.
 * Every field is private to http_parser.c (heads). */
typedef struct corio__http_parser {
    corio__http_limits lim;      /* limits copied at init */
    corio_http_header *hdrs;    /* caller's header array */
    size_t hdr_cap;             /* effective header count limit:
                                 * min(lim.max_headers, capacity of hdrs) */
    unsigned allowed;           /* allowed-method mask (request side) */
    uint8_t is_response;        /* 1: parses responses; 0: requests */
    uint8_t state;              /* head state machine, see http_parser.c */
    int error;                  /* sticky -status once an error was seen */
    size_t pos;                 /* offset of the next unexamined byte */
    size_t start;               /* offset of the start line (after any
                                 * ignored leading CRLFs) */
    size_t tok;                 /* offset where the current token began */
    size_t hdr_start;           /* offset of the header section */
    size_t method_len;          /* request: bytes of the method token */
    size_t target_off;          /* request: offset of the target */
    size_t target_len;          /* request: bytes of the target */
    unsigned method;            /* request: method bit, 0 if unknown */
    int minor;                  /* HTTP/1.minor */
    int status;                 /* response: status code */
    size_t reason_off;          /* response: offset of the reason phrase */
    size_t reason_len;          /* response: bytes of the reason phrase */
    size_t name_len;            /* current field line: bytes of its name */
    size_t value_off;           /* current field line: offset of the value */
    size_t value_end;           /* current field line: end of the value's
                                 * last non-whitespace byte */
    size_t nheaders;            /* field lines seen so far */
    uint64_t content_length;    /* Content-Length value */
    size_t host_off;            /* offset of the Host value */
    size_t host_len;            /* bytes of the Host value */
    uint8_t host_count;         /* Host fields seen (capped at 2) */
    bool has_cl;                /* a Content-Length field was seen */
    bool te_seen;               /* a Transfer-Encoding field was seen */
    bool te_chunked;            /* chunked appeared in Transfer-Encoding */
    bool te_last_chunked;       /* the last coding listed so far is chunked */
    bool te_other;              /* a coding other than chunked was listed */
    bool conn_close;            /* Connection lists "close" */
    bool conn_keep_alive;       /* Connection lists "keep-alive" */
} corio__http_parser;

/* Incremental body decoder for Content-Length, chunked and close-delimited
 * bodies. Embedded by the caller; every field is private. */
typedef struct corio__http_body {
    uint8_t kind;       /* corio__http_body_kind */
    uint8_t state;      /* chunked state machine, see http_body.c */
    bool lenient;       /* accept a bare LF as a line end (responses) */
    bool done;          /* the body is complete */
    int error;          /* sticky -status once an error was seen */
    uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left in the
                         * current chunk (or its size while reading it) */
    uint64_t total;     /* body bytes delivered (or declared) so far */
    uint64_t max_body;  /* limit on total; over: 413 */
    size_t line_bytes;  /* bytes of the current chunk-size line */
    size_t trailer_bytes;     /* bytes of the trailer section so far */
    size_t max_trailer_bytes; /* limit on trailer_bytes; over: 431 */
} corio__http_body;

/* Fills `lim` with the defaults: URI 8 KiB, header section 16 KiB, 100 field
 * lines, body 1 MiB. */
void corio__http_limits_init(corio__http_limits *lim);

/* Prepares `p` to parse requests. `lim` NULL means the defaults; it is
 * copied. `allowed_methods` is a mask of corio_http_method bits: a request
 * with a known method outside it fails with -405. `headers` is the caller's
 * array of `max_headers` entries; it must outlive the parser, and receives
 * the field lines of each completed head (so a request's header slices are
 * overwritten by the next parse). The effective field-line limit is the
 * smaller of lim->max_headers and max_headers. Cannot fail. */
void corio__http_request_parser_init(corio__http_parser *p, const corio__http_limits *lim,
                                    unsigned allowed_methods, corio_http_header *headers,
                                    size_t max_headers);

/* Prepares `p` to parse responses; arguments as for the request side. */
void corio__http_response_parser_init(corio__http_parser *p, const corio__http_limits *lim,
                                     corio_http_header *headers, size_t max_headers);

/* Forgets any partial message and any sticky error; keeps the configuration.
 * O(1). */
void corio__http_parser_reset(corio__http_parser *p);

/* Parses one request head from `buf`, which holds `len` bytes starting at the
 * first byte of this request (up to two leading empty lines, left over from
 * a previous body, are skipped and counted in head_len). Between NEED_MORE
 * calls the caller may append bytes and may move or grow the buffer; the
 * first bytes must stay the same. Only new bytes are examined, so feeding a
 * head byte by byte costs O(length) overall, and errors are reported as soon
 * as the offending byte arrives (a too-long target as soon as it exceeds
 * max_uri, an over-limit Content-Length before the rest of the head).
 *
 * Returns CORIO__HTTP_DONE and fills `req` (slices into `buf`, valid while
 * `buf` is); the parser is then ready for the next request, which starts at
 * buf + req->head_len after this request's body. Returns
 * CORIO__HTTP_NEED_MORE, or a negative status: 400 (syntax, invalid bytes,
 * bare CR/LF, obs-fold, space before a colon, missing or repeated Host in
 * 1.1, duplicate or non-numeric Content-Length, Content-Length together with
 * Transfer-Encoding, Transfer-Encoding not ending in chunked or in a 1.0
 * request), 405, 413 (Content-Length over max_body, including values too big
 * for 64 bits), 414, 431, 501 (unknown method, unknown transfer coding), 505
 * (HTTP major version other than 1). Errors are sticky until reset. A
 * Content-Length field listed twice, even with equal values, is a 400. */
int corio__http_request_parse(corio__http_parser *p, const char *buf, size_t len,
                             corio__http_request *req);

/* Parses one response head, as corio__http_request_parse() does requests.
 * `request_method` is the method of the request this answers: a response to
 * HEAD, a 1xx, 204 or 304, and a 2xx to CONNECT have no body. A 1xx head is
 * returned like any other; the caller skips it and parses again at
 * buf + head_len. Transfer-Encoding not ending in chunked means a
 * close-delimited body (delivered still encoded); another coding listed
 * together with chunked is -501, since the chunks would hold data this
 * module cannot decode; Content-Length together with Transfer-Encoding is
 * -400. */
int corio__http_response_parse(corio__http_parser *p, const char *buf, size_t len,
                              corio_http_method request_method, corio__http_response *resp);

/* Prepares a body decoder. `kind` and `content_length` usually come from a
 * parsed head (req->body, req->content_length). `lim` NULL means defaults:
 * max_body bounds the body, max_header_bytes the trailer section. `lenient`
 * accepts a bare LF in chunked framing (pass true for responses only). */
void corio__http_body_init(corio__http_body *b, corio__http_body_kind kind, uint64_t content_length,
                          const corio__http_limits *lim, bool lenient);

/* Decodes body bytes from in[0..in_len) into out[0..out_cap). `out` may equal
 * `in` (decoding in place: output never overtakes input) or be NULL to
 * discard the data (then out_cap is ignored). For a LENGTH or CLOSE body the
 * data bytes are the input bytes, so a zero-copy caller passes NULL and reads
 * in[0..*in_used) itself. Chunk extensions and trailer fields are checked and
 * dropped.
 *
 * Sets *in_used to the input bytes consumed and *out_len to the bytes
 * written (or that would have been). Returns CORIO__HTTP_DONE when the body is
 * complete (what follows in[*in_used] belongs to the next message),
 * CORIO__HTTP_NEED_MORE when all input was used or out is full (compare
 * *in_used with in_len), or -400 (bad chunk framing, chunk size over 64
 * bits, chunk line over CORIO__HTTP_MAX_CHUNK_LINE), -413 (body over
 * max_body), -431 (trailers over max_header_bytes). Errors are sticky. */
int corio__http_body_decode(corio__http_body *b, const char *in, size_t in_len, size_t *in_used,
                           char *out, size_t out_cap, size_t *out_len);

/* Tells the decoder the peer closed the connection. Returns CORIO__HTTP_DONE
 * if the body is complete (always for CLOSE bodies), else -400: the body was
 * truncated. */
int corio__http_body_eof(const corio__http_body *b);

/* Turns a request target into a path relative to the served directory.
 * Accepts origin-form ("/a/b?q") and absolute-form ("http://h/a/b"); drops
 * the query and fragment; percent-decodes once (so "%252e" stays the
 * literal "%2e"); treats a decoded "%2F" as a separator; collapses empty
 * and "." segments. The result has no leading or trailing '/', no "", "."
 * or ".." segment, no NUL, backslash or control byte: it cannot name
 * anything outside the directory it is resolved against (symlinks aside).
 * The root is ".".
 *
 * Writes the NUL-terminated result to out[0..out_cap); out_cap >= len + 2
 * always suffices. Returns the result's length, -400 for any ".." segment, a
 * NUL, backslash or control byte (raw or decoded), a raw byte >= 0x7f, a bad
 * percent escape or a target that is not a path, or -414 when out_cap is too
 * small. */
int corio__http_path_normalize(const char *target, size_t len, char *out, size_t out_cap);

/* The Content-Type for a file name, chosen by its extension (ASCII
 * case-insensitive): "text/html; charset=utf-8", "image/png", ...;
 * "application/octet-stream" when unknown. Returns a static string. */
const char *corio__http_mime_type(const char *path, size_t len);


#endif /* CORIO_HTTP_PARSER_H */
