/* corio — the HTTP server's router, after Go's ServeMux: exact paths and
 * prefix patterns (ending in '/'), the longest match wins, a method mask
 * per route (405 with Allow listing the methods of every matching
 * pattern), 404 when nothing matches. Routes are a small array scanned
 * in full per request: O(routes), fine for the tens of routes a server
 * has.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

typedef struct route {
    char *pattern;              /* copied; '/'-prefixed */
    size_t len;                 /* strlen(pattern) */
    bool prefix;                /* ends in '/' */
    unsigned methods;           /* accepted methods (GET implies HEAD) */
    corio_http_handler handler; /* the route's handler */
    void *arg;                  /* its argument */
} route;

struct corio_http_mux {
    route *routes; /* n entries, cap allocated */
    size_t n, cap;
};

int corio_http_mux_create(corio_http_mux **out) {
    if (!out)
        return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

int corio_http_mux_handle(corio_http_mux *mux, const char *pattern, unsigned methods,
                          corio_http_handler handler, void *arg) {
    if (!mux || !pattern || pattern[0] != '/' || !handler || (methods & ~CORIO_HTTP_METHODS_ALL))
        return -EINVAL;
    for (size_t i = 0; i < mux->n; i++)
        if (!strcmp(mux->routes[i].pattern, pattern))
            return -EEXIST;
    if (mux->n == mux->cap) {
        size_t cap = mux->cap ? 2 * mux->cap : 8;
        route *r = realloc(mux->routes, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        mux->routes = r;
        mux->cap = cap;
    }
    char *p = strdup(pattern);
    if (!p)
        return -ENOMEM;
    if (!methods)
        methods = CORIO_HTTP_METHODS_ALL;
    if (methods & CORIO_HTTP_GET)
        methods |= CORIO_HTTP_HEAD;
    size_t len = strlen(p);
    mux->routes[mux->n++] = (route){p, len, p[len - 1] == '/', methods, handler, arg};
    return 0;
}

/* Does route r match the normalised path (no trailing '/')? */
static bool match(const route *r, const char *path, size_t n) {
    if (!r->prefix)
        return r->len == n && !memcmp(r->pattern, path, n);
    /* "/static/" matches "/static" and "/static/..."; "/" matches all. */
    if (r->len == 1)
        return true;
    size_t base = r->len - 1;
    return n >= base && !memcmp(r->pattern, path, base) && (n == base || path[base] == '/');
}

int corio_http_mux_serve(corio_http_request *req, corio_http_response *resp, void *arg) {
    corio_http_mux *mux = arg;
    if (!mux || !req || !resp)
        return -EINVAL;
    size_t n;
    const char *path = corio_http_request_path(req, &n);
    corio_http_method m = corio_http_request_method(req);
    const route *best = NULL;
    unsigned allow = 0;
    size_t best_len = 0;
    for (size_t i = 0; i < mux->n; i++) {
        const route *r = &mux->routes[i];
        if (!match(r, path, n))
            continue;
        allow |= r->methods;
        if ((r->methods & m) && (!best || r->len > best_len)) {
            best = r;
            best_len = r->len;
        }
    }
    if (best)
        return best->handler(req, resp, best->arg);
    if (!allow)
        return corio_http_response_error(resp, 404);
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    char list[96] = "";
    for (int i = 0; i < 9; i++)
        if (allow & (1u << i)) {
            if (list[0])
                strcat(list, ", ");
            strcat(list, names[i]);
        }
    int r = corio_http_response_set_header(resp, "Allow", list);
    if (r < 0)
        return r;
    char body[] = "405 Method Not Allowed\n";
    corio_http_response_set_status(resp, 405);
    corio_http_response_set_header(resp, "Content-Type", "text/plain; charset=utf-8");
    return corio_http_response_write_all(resp, body, sizeof body - 1);
}

void corio_http_mux_destroy(corio_http_mux *mux) {
    if (!mux)
        return;
    for (size_t i = 0; i < mux->n; i++)
        free(mux->routes[i].pattern);
    free(mux->routes);
    free(mux);
}
