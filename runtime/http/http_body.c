/* HTTP/1.1 message bodies (RFC 9112 6 and 7): Content-Length, chunked
 * with its extensions and trailers, and read-until-close, decoded
 * incrementally into the caller's buffer or in place; see http_parser.h.
 */
#include "http_parser.h"

#include <string.h>

/* Chunked states (RFC 9112 7.1). Every CR must be followed by LF. */
enum {
    C_SIZE_START, /* expecting the first hex digit of a chunk size */
    C_SIZE,       /* in the hex digits */
    C_EXT_BWS,    /* after the digits: whitespace, then ';' or CR */
    C_EXT,        /* lenient: after a ';': extension bytes up to CR */
    /* Strict chunk extensions (requests, RFC 9112 7.1.1):
     *   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
     *   chunk-ext-name = token; chunk-ext-val = token / quoted-string */
    C_X_SEMI,     /* whitespace seen after the size or a value: only ';' may follow */
    C_X_NAME0,    /* after ';': BWS, then the first tchar of a name */
    C_X_NAME,     /* in a name */
    C_X_EQ,       /* whitespace after a name: '=' or ';' may follow */
    C_X_VAL0,     /* after '=': BWS, then a token or a '"' */
    C_X_TOKEN,    /* in a token value */
    C_X_QUOTED,   /* in a quoted-string value */
    C_X_QPAIR,    /* after a backslash in a quoted-string */
    C_X_VALEND,   /* after the closing '"': ';', whitespace or CR */
    C_SIZE_LF,    /* CR ending the size line seen */
    C_DATA,       /* in chunk data */
    C_DATA_CR,    /* chunk data done: expecting CR */
    C_DATA_LF,    /* CR after chunk data seen */
    C_TRL_START,  /* at a trailer field line or the final empty line */
    C_TRL_NAME,   /* in a trailer field name */
    C_TRL_VALUE,  /* in a trailer field value */
    C_TRL_LF,     /* CR ending a trailer line seen */
    C_FINAL_LF,   /* CR of the final empty line seen */
};

void corio__http_body_init(corio__http_body *b, corio__http_body_kind kind, uint64_t content_length,
                          const corio__http_limits *lim, bool lenient) {
    corio__http_limits def;
    if (!lim) {
        corio__http_limits_init(&def);
        lim = &def;
    }
    memset(b, 0, sizeof *b);
    b->kind = (uint8_t)kind;
    b->state = C_SIZE_START;
    b->lenient = lenient;
    b->max_body = lim->max_body;
    b->max_trailer_bytes = lim->max_header_bytes;
    if (kind == CORIO__HTTP_BODY_LENGTH) {
        b->remaining = content_length;
        b->total = content_length;
        if (content_length > lim->max_body)
            b->error = -413;
    }
    b->done = kind == CORIO__HTTP_BODY_NONE ||
              (kind == CORIO__HTTP_BODY_LENGTH && content_length == 0);
}

/* Moves n data bytes to the output (memmove: in-place decoding aliases). */
static void emit(char *out, size_t *out_len, const char *src, size_t n) {
    if (out && n)
        memmove(out + *out_len, src, n);
    *out_len += n;
}

static size_t min3(uint64_t a, size_t b, size_t c) {
    size_t m = b < c ? b : c;
    return a < m ? (size_t)a : m;
}

static int decode_chunked(corio__http_body *b, const char *in, size_t in_len, size_t *i,
                          char *out, size_t out_cap, size_t *out_len) {
    while (*i < in_len) {
        unsigned char c = (unsigned char)in[*i];
        if (b->state == C_DATA) {
            size_t room = out ? out_cap - *out_len : SIZE_MAX;
            size_t n = min3(b->remaining, in_len - *i, room);
            if (n == 0)
                return CORIO__HTTP_NEED_MORE; /* out is full */
            emit(out, out_len, in + *i, n);
            *i += n;
            b->remaining -= n;
            if (b->remaining == 0)
                b->state = C_DATA_CR;
            continue;
        }
        if (b->state <= C_SIZE_LF && ++b->line_bytes > CORIO__HTTP_MAX_CHUNK_LINE)
            return -400;
        if (b->state >= C_TRL_START && ++b->trailer_bytes > b->max_trailer_bytes)
            return -431;
        (*i)++;
        switch (b->state) {
        case C_SIZE_START:
        case C_SIZE: {
            int h = corio__http_hexval(c);
            if (h >= 0) {
                /* Refuse a size that would not fit, instead of wrapping into
                 * a small one that a peer could exploit. */
                if (b->remaining > (UINT64_MAX >> 4))
                    return -400;
                b->remaining = (b->remaining << 4) | (uint64_t)h;
                b->state = C_SIZE;
                break;
            }
            if (b->state == C_SIZE_START)
                return -400;
            if (!b->lenient)
                goto strict_ext; /* the byte after the digits is judged there */
            b->state = C_EXT_BWS;
            goto ext_bws;
        }
        strict_ext:
        case C_X_SEMI:
        case C_X_NAME:
        case C_X_EQ:
        case C_X_TOKEN:
        case C_X_VALEND:
            /* The bytes that may end a name, a value or the size. A CR
             * after whitespace is refused: BWS is allowed only before a
             * ';' or '=' (so "5 \r\n" and "5;a \r\n" are 400s). */
            if (c == ';') {
                b->state = C_X_NAME0;
            } else if (c == '\r' && b->state != C_X_SEMI && b->state != C_X_EQ) {
                b->state = C_SIZE_LF;
            } else if (corio__http_is_ws(c)) {
                b->state = b->state == C_X_NAME || b->state == C_X_EQ ? C_X_EQ : C_X_SEMI;
            } else if (c == '=' && (b->state == C_X_NAME || b->state == C_X_EQ)) {
                b->state = C_X_VAL0;
            } else if (corio__http_is_tchar(c) && (b->state == C_X_NAME || b->state == C_X_TOKEN)) {
                /* stays in the name or the token */
            } else {
                return -400;
            }
            break;
        case C_X_NAME0:
            if (corio__http_is_ws(c))
                break;
            if (!corio__http_is_tchar(c))
                return -400; /* "5;", "5;;", "5;=x": no name */
            b->state = C_X_NAME;
            break;
        case C_X_VAL0:
            if (corio__http_is_ws(c))
                break;
            if (c == '"')
                b->state = C_X_QUOTED;
            else if (corio__http_is_tchar(c))
                b->state = C_X_TOKEN;
            else
                return -400;
            break;
        case C_X_QUOTED:
            /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
            if (c == '"')
                b->state = C_X_VALEND;
            else if (c == '\\')
                b->state = C_X_QPAIR;
            else if (c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f))
                break;
            else
                return -400; /* a CR before the closing quote: unbalanced */
            break;
        case C_X_QPAIR:
            if (c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f))
                b->state = C_X_QUOTED;
            else
                return -400;
            break;
        case C_EXT_BWS:
        ext_bws:
            if (corio__http_is_ws(c))
                break;
            if (c == ';')
                b->state = C_EXT;
            else if (c == '\r')
                b->state = C_SIZE_LF;
            else if (c == '\n' && b->lenient)
                goto size_line_done;
            else
                return -400;
            break;
        case C_EXT:
            /* Extensions are dropped; only bytes that could hide a line
             * break or a NUL from another parser are refused. */
            if (c == '\r')
                b->state = C_SIZE_LF;
            else if (c == '\n' && b->lenient)
                goto size_line_done;
            else if (!corio__http_is_field_vchar(c) && !corio__http_is_ws(c))
                return -400;
            break;
        case C_SIZE_LF:
            if (c != '\n')
                return -400;
        size_line_done:
            b->line_bytes = 0;
            if (b->remaining == 0) {
                b->state = C_TRL_START;
                break;
            }
            if (b->remaining > b->max_body - b->total)
                return -413;
            b->total += b->remaining;
            b->state = C_DATA;
            break;
        case C_DATA_CR:
            if (c == '\r')
                b->state = C_DATA_LF;
            else if (c == '\n' && b->lenient)
                b->state = C_SIZE_START;
            else
                return -400;
            break;
        case C_DATA_LF:
            if (c != '\n')
                return -400;
            b->state = C_SIZE_START;
            break;
        case C_TRL_START:
            if (c == '\r') {
                b->state = C_FINAL_LF;
            } else if (c == '\n' && b->lenient) {
                return CORIO__HTTP_DONE;
            } else if (corio__http_is_tchar(c)) {
                b->state = C_TRL_NAME;
            } else {
                return -400; /* includes obs-fold */
            }
            break;
        case C_TRL_NAME:
            if (c == ':')
                b->state = C_TRL_VALUE;
            else if (!corio__http_is_tchar(c))
                return -400;
            break;
        case C_TRL_VALUE:
            if (c == '\r')
                b->state = C_TRL_LF;
            else if (c == '\n' && b->lenient)
                b->state = C_TRL_START;
            else if (!corio__http_is_field_vchar(c) && !corio__http_is_ws(c))
                return -400;
            break;
        case C_TRL_LF:
            if (c != '\n')
                return -400;
            b->state = C_TRL_START;
            break;
        case C_FINAL_LF:
            if (c != '\n')
                return -400;
            return CORIO__HTTP_DONE;
        default:
            return -400;
        }
    }
    return CORIO__HTTP_NEED_MORE;
}

int corio__http_body_decode(corio__http_body *b, const char *in, size_t in_len, size_t *in_used,
                           char *out, size_t out_cap, size_t *out_len) {
    size_t i = 0;
    int rc = CORIO__HTTP_NEED_MORE;
    *in_used = 0;
    *out_len = 0;
    if (b->error)
        return b->error;
    if (b->done)
        return CORIO__HTTP_DONE;
    switch (b->kind) {
    case CORIO__HTTP_BODY_LENGTH: {
        size_t n = min3(b->remaining, in_len, out ? out_cap : SIZE_MAX);
        emit(out, out_len, in, n);
        i = n;
        b->remaining -= n;
        if (b->remaining == 0)
            rc = CORIO__HTTP_DONE;
        break;
    }
    case CORIO__HTTP_BODY_CLOSE: {
        size_t n = min3(UINT64_MAX, in_len, out ? out_cap : SIZE_MAX);
        if (n > b->max_body - b->total) {
            rc = -413;
            break;
        }
        emit(out, out_len, in, n);
        i = n;
        b->total += n;
        break;
    }
    case CORIO__HTTP_BODY_CHUNKED:
        rc = decode_chunked(b, in, in_len, &i, out, out_cap, out_len);
        break;
    default:
        rc = CORIO__HTTP_DONE;
        break;
    }
    *in_used = i;
    if (rc < 0)
        b->error = rc;
    else if (rc == CORIO__HTTP_DONE)
        b->done = true;
    return rc;
}

int corio__http_body_eof(const corio__http_body *b) {
    if (b->error)
        return b->error;
    return (b->done || b->kind == CORIO__HTTP_BODY_CLOSE) ? CORIO__HTTP_DONE : -400;
}
