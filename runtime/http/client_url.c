/* corio — HTTP client: absolute URLs, origin keys and Location resolution.
 *
 * Only what an HTTP/1.1 client needs of RFC 3986: scheme "http" or "https",
 * an authority without user information (a reg-name, an IPv4 address or a
 * bracketed IPv6 literal, an optional port), and the path and query, sent
 * as the request target exactly as written. Nothing is percent-decoded or
 * re-encoded: what the caller wrote is what the server receives. A byte
 * that cannot appear in a request line (space, control, DEL) is refused
 * rather than escaped, so the caller sees the problem.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"

/* A byte allowed in a request target or in a Location we follow. */
static bool target_byte(unsigned char ch) { return ch > 0x20 && ch != 0x7f; }

/* Bytes of a reg-name or IPv4 address (RFC 3986 unreserved, sub-delims,
 * pct-encoded): enough to refuse what would break the Host line. */
static bool host_byte(unsigned char ch) {
    return isalnum(ch) || strchr("-._~!$&'()*+,;=%", ch) != NULL;
}

/* Bytes of a bracketed IPv6 literal, zone included ("fe80::1%25eth0"). */
static bool v6_byte(unsigned char ch) { return isxdigit(ch) || ch == ':' || ch == '.' || ch == '%'
                                               || isalnum(ch); }

void corio__http_url_fini(corio__http_url *u) {
    if (!u)
        return;
    free(u->target);
    u->target = NULL;
}

/* Parse the authority a[0..n) into u->host / u->port. */
static int parse_authority(const char *a, size_t n, corio__http_url *u) {
    if (n == 0 || memchr(a, '@', n))
        return -EINVAL; /* empty host; user information is refused */
    const char *hs = a, *he, *colon = NULL;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return -EINVAL;
        hs = a + 1;
        he = rb;
        for (const char *p = hs; p < he; p++)
            if (!v6_byte((unsigned char)*p))
                return -EINVAL;
        if (rb + 1 < a + n) {
            if (rb[1] != ':')
                return -EINVAL;
            colon = rb + 1;
        }
        u->ipv6 = true;
    } else {
        colon = memchr(a, ':', n);
        he = colon ? colon : a + n;
        for (const char *p = hs; p < he; p++)
            if (!host_byte((unsigned char)*p))
                return -EINVAL;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof u->host)
        return -EINVAL;
    memcpy(u->host, hs, hl);
    u->host[hl] = '\0';
    const char *dflt = u->tls ? "443" : "80";
    size_t pl = colon ? (size_t)(a + n - colon - 1) : 0;
    if (pl == 0) { /* "host" or "host:" (RFC 3986: empty port is the default) */
        strcpy(u->port, dflt);
        u->default_port = true;
        return 0;
    }
    unsigned long v = 0;
    for (size_t i = 0; i < pl; i++) {
        unsigned char ch = (unsigned char)colon[1 + i];
        if (!isdigit(ch) || i >= 5)
            return -EINVAL;
        v = v * 10 + (ch - '0');
    }
    if (v == 0 || v > 65535)
        return -EINVAL;
    snprintf(u->port, sizeof u->port, "%lu", v);
    u->default_port = !strcmp(u->port, dflt);
    return 0;
}

/* Store path-and-query p[0..n) as the target ("/" when empty), without a
 * fragment. */
static int set_target(corio__http_url *u, const char *p, size_t n) {
    const char *hash = memchr(p, '#', n);
    if (hash)
        n = (size_t)(hash - p);
    for (size_t i = 0; i < n; i++)
        if (!target_byte((unsigned char)p[i]))
            return -EINVAL;
    bool slash = n == 0 || p[0] != '/';
    char *t = malloc(n + 2);
    if (!t)
        return -ENOMEM;
    size_t k = 0;
    if (slash) /* "http://h" and "http://h?q" have the empty path: send "/" */
        t[k++] = '/';
    memcpy(t + k, p, n);
    t[k + n] = '\0';
    free(u->target);
    u->target = t;
    return 0;
}

int corio__http_url_parse(const char *url, corio__http_url *u) {
    if (!url || !u)
        return -EINVAL;
    memset(u, 0, sizeof *u);
    size_t len = strlen(url);
    for (size_t i = 0; i < len; i++)
        if (!target_byte((unsigned char)url[i]))
            return -EINVAL;
    const char *rest;
    if (!strncasecmp(url, "http://", 7)) {
        rest = url + 7;
    } else if (!strncasecmp(url, "https://", 8)) {
        u->tls = true;
        rest = url + 8;
    } else {
        const char *colon = strchr(url, ':');
        /* A scheme of letters before "://" that is not ours: unsupported;
         * anything else is not an absolute URL at all. */
        if (colon && colon > url && !strncmp(colon, "://", 3))
            return -EPROTONOSUPPORT;
        return -EINVAL;
    }
    size_t alen = strcspn(rest, "/?#");
    int rc = parse_authority(rest, alen, u);
    if (rc < 0)
        return rc;
    rc = set_target(u, rest + alen, strlen(rest + alen));
    if (rc < 0)
        corio__http_url_fini(u);
    return rc;
}

char *corio__http_url_format(const corio__http_url *u) {
    size_t n = strlen(u->host) + strlen(u->target) + 32;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s://%s%s%s%s%s%s", u->tls ? "https" : "http", u->ipv6 ? "[" : "", u->host,
             u->ipv6 ? "]" : "", u->default_port ? "" : ":", u->default_port ? "" : u->port,
             u->target);
    return s;
}

void corio__http_url_origin(const corio__http_url *u, char *key) {
    int n = snprintf(key, CORIO__HTTP_KEY_MAX, "%s://%s:%s", u->tls ? "https" : "http", u->host,
                     u->port);
    for (int i = u->tls ? 8 : 7; i < n && key[i] != ':'; i++)
        key[i] = (char)tolower((unsigned char)key[i]);
}

/* RFC 3986 section 5.2.4: remove "." and ".." segments from the path of
 * in[0..n) (the query, from '?', is copied as it is) into out, which has
 * room for n + 2 bytes. Returns the length written. */
static size_t remove_dots(const char *in, size_t n, char *out) {
    const char *q = memchr(in, '?', n);
    size_t plen = q ? (size_t)(q - in) : n;
    size_t o = 0, i = 0;
    while (i < plen) {
        /* in[i] is always '/' here (paths are absolute by construction). */
        size_t j = i + 1;
        while (j < plen && in[j] != '/')
            j++;
        size_t seg = j - i - 1;
        const char *s = in + i + 1;
        if (seg == 1 && s[0] == '.') {
            if (j == plen)
                out[o++] = '/';
        } else if (seg == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* drop the '/' before the removed segment */
            if (j == plen)
                out[o++] = '/';
        } else {
            memcpy(out + o, in + i, j - i);
            o += j - i;
        }
        i = j;
    }
    if (o == 0)
        out[o++] = '/';
    if (q) {
        memcpy(out + o, q, n - plen);
        o += n - plen;
    }
    out[o] = '\0';
    return o;
}

int corio__http_url_resolve(const corio__http_url *base, const char *ref, size_t len,
                            corio__http_url *out) {
    memset(out, 0, sizeof *out);
    const char *hash = memchr(ref, '#', len);
    if (hash)
        len = (size_t)(hash - ref);
    for (size_t i = 0; i < len; i++)
        if (!target_byte((unsigned char)ref[i]))
            return -EINVAL;
    /* A scheme: an absolute URL, parsed as one. */
    size_t sl = 0;
    while (sl < len && (isalnum((unsigned char)ref[sl]) || strchr("+-.", ref[sl])))
        sl++;
    if (sl > 0 && sl < len && ref[sl] == ':' && isalpha((unsigned char)ref[0])) {
        char *abs = strndup(ref, len);
        if (!abs)
            return -ENOMEM;
        int rc = corio__http_url_parse(abs, out);
        free(abs);
        if (rc < 0)
            return rc;
        /* RFC 3986 section 5.2.2: an absolute reference's path loses its
         * dot segments too (a URL the caller gave is sent as written). */
        char *path = malloc(strlen(out->target) + 2);
        if (!path) {
            corio__http_url_fini(out);
            return -ENOMEM;
        }
        remove_dots(out->target, strlen(out->target), path);
        free(out->target);
        out->target = path;
        return 0;
    }
    out->tls = base->tls;
    if (len >= 2 && ref[0] == '/' && ref[1] == '/') { /* network-path reference */
        size_t alen = 2; /* ref is not NUL-terminated: scan within len */
        while (alen < len && ref[alen] != '/' && ref[alen] != '?')
            alen++;
        int rc = parse_authority(ref + 2, alen - 2, out);
        if (rc < 0)
            return rc;
        ref += alen;
        len -= alen;
    } else {
        memcpy(out->host, base->host, sizeof out->host);
        memcpy(out->port, base->port, sizeof out->port);
        out->ipv6 = base->ipv6;
        out->default_port = base->default_port;
    }
    /* Build the merged path in tmp, then remove dot segments into out. */
    size_t blen = strlen(base->target);
    char *tmp = malloc(blen + len + 3);
    if (!tmp)
        return -ENOMEM;
    size_t t = 0;
    if (len == 0) { /* same document: the base path and query */
        memcpy(tmp, base->target, blen);
        t = blen;
    } else if (ref[0] == '/') {
        memcpy(tmp, ref, len);
        t = len;
    } else if (ref[0] == '?') { /* base path, new query */
        size_t bp = strcspn(base->target, "?");
        memcpy(tmp, base->target, bp);
        memcpy(tmp + bp, ref, len);
        t = bp + len;
    } else { /* relative path: the base's directory, then ref */
        size_t bp = strcspn(base->target, "?");
        while (bp > 0 && base->target[bp - 1] != '/')
            bp--;
        memcpy(tmp, base->target, bp);
        memcpy(tmp + bp, ref, len);
        t = bp + len;
    }
    if (t == 0 || tmp[0] != '/') { /* "?q" after "//host": path is "/" */
        memmove(tmp + 1, tmp, t);
        tmp[0] = '/';
        t++;
    }
    char *path = malloc(t + 2);
    if (!path) {
        free(tmp);
        return -ENOMEM;
    }
    remove_dots(tmp, t, path);
    free(tmp);
    out->target = path;
    return 0;
}
