/**
 * @file corio/http.h
 * What corio's HTTP/1.1 server (corio/http_server.h) and client
 * (corio/http_client.h) share: methods, field lines, status phrases.
 */
#ifndef CORIO_HTTP_H
#define CORIO_HTTP_H

#include <stddef.h>

#include "corio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Request methods, as bits so that a set of them is one mask. A method
 * token outside this list is answered 501 by the server (RFC 9110 section
 * 9.1); a listed method that a route does not allow is answered 405.
 * Methods are case-sensitive. */
typedef enum corio_http_method {
    CORIO_HTTP_GET = 1u << 0,
    CORIO_HTTP_HEAD = 1u << 1,
    CORIO_HTTP_POST = 1u << 2,
    CORIO_HTTP_PUT = 1u << 3,
    CORIO_HTTP_DELETE = 1u << 4,
    CORIO_HTTP_CONNECT = 1u << 5,
    CORIO_HTTP_OPTIONS = 1u << 6,
    CORIO_HTTP_TRACE = 1u << 7,
    CORIO_HTTP_PATCH = 1u << 8,
} corio_http_method;

/** Every method above. */
#define CORIO_HTTP_METHODS_ALL 0x1ffu

/** One field line: slices of a message buffer, not NUL-terminated. The
 * value has no leading or trailing whitespace and may be empty; names keep
 * the sender's case (compare them case-insensitively). */
typedef struct corio_http_header {
    const char *name;  /**< field name */
    size_t name_len;   /**< bytes in name, >= 1 */
    const char *value; /**< field value */
    size_t value_len;  /**< bytes in value, may be 0 */
} corio_http_header;

/** The reason phrase of a status code ("Bad Request" for 400 or -400),
 * "Unknown" for codes it does not know. Returns a static string. */
CORIO_API const char *corio_http_status_reason(int status);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_HTTP_H */
