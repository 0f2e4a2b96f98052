/* What the HTTP server derives from a message: the safe file path a
 * request target names, the Content-Type a file name implies, and the
 * reason phrase of a status code; see http_parser.h and corio/http.h.
 */
#include "http_parser.h"

#include <string.h>

/* The bytes a path segment copies as they are (class PATH of
 * corio__http_cls): 0x20-0x7e but '%' (an escape), '/' (a separator),
 * '\\' and '?' and '#' (which end the path before this loop sees them).
 * '.' is plain too: a "." or ".." segment is judged once it ends. */
static bool plain(unsigned char c) { return corio__http_cls[c] & CORIO__HTTP_C_PATH; }

int corio__http_path_normalize(const char *t, size_t len, char *out, size_t out_cap) {
    size_t i = 0;
    /* absolute-form (RFC 9112 3.2.2): drop scheme and authority. */
    size_t skip = 0;
    if (len >= 7 && corio__http_ieq(t, 7, "http://"))
        skip = 7;
    else if (len >= 8 && corio__http_ieq(t, 8, "https://"))
        skip = 8;
    if (skip) {
        i = skip;
        while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
            i++;
    } else if (len == 0 || t[0] != '/') {
        return -400;
    }
    size_t end = i;
    while (end < len && t[end] != '?' && t[end] != '#')
        end++;

    /* Segments are decoded straight into out after what is already kept;
     * seg is where the current one begins (after its '/' separator). A
     * segment is kept, or rolled back when empty or ".". */
    size_t olen = 0, seg = 0;
    if (out_cap < 2)
        return -414;
    for (;;) {
        /* A run of plain bytes at once: each would be kept, or the first
         * past out_cap refused with -414. */
        size_t r = i;
        while (r < end && plain((unsigned char)t[r]))
            r++;
        if (r > i) {
            if (olen + (r - i) >= out_cap)
                return -414;
            memcpy(out + olen, t + i, r - i);
            olen += r - i;
            i = r;
        }
        bool sep = i >= end;
        unsigned char c = 0;
        if (!sep) {
            c = (unsigned char)t[i++];
            if (c == '%') {
                int hi = i + 1 < end ? corio__http_hexval((unsigned char)t[i]) : -1;
                int lo = i + 1 < end ? corio__http_hexval((unsigned char)t[i + 1]) : -1;
                if (hi < 0 || lo < 0)
                    return -400;
                c = (unsigned char)(hi << 4 | lo);
                i += 2;
            } else if (c >= 0x7f) {
                return -400;
            }
            if (c < 0x20 || c == 0x7f || c == '\\')
                return -400;
            sep = c == '/';
        }
        if (sep) {
            size_t n = olen - seg;
            if (n == 2 && out[seg] == '.' && out[seg + 1] == '.')
                return -400;
            if (n == 0 || (n == 1 && out[seg] == '.'))
                olen = seg > 0 ? seg - 1 : 0; /* drop it and its separator */
            if (i >= end)
                break;
            if (olen > 0) {
                if (olen + 1 >= out_cap)
                    return -414;
                out[olen++] = '/';
            }
            seg = olen;
            continue;
        }
        if (olen + 1 >= out_cap)
            return -414;
        out[olen++] = (char)c;
    }
    if (olen == 0)
        out[olen++] = '.';
    out[olen] = '\0';
    return (int)olen;
}

const char *corio__http_mime_type(const char *path, size_t len) {
    static const struct {
        const char *ext;  /* lower-case extension, no dot */
        const char *type; /* Content-Type value */
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tar", "application/x-tar"},
        {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},
        {"wav", "audio/wav"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
    };
    size_t dot = len;
    for (size_t i = len; i > 0; i--) {
        if (path[i - 1] == '/')
            break;
        if (path[i - 1] == '.') {
            dot = i - 1;
            break;
        }
    }
    if (dot < len) {
        const char *ext = path + dot + 1;
        size_t n = len - dot - 1;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (corio__http_ieq(ext, n, types[i].ext))
                return types[i].type;
    }
    return "application/octet-stream";
}

const char *corio_http_status_reason(int status) {
    switch (status < 0 ? -status : status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
