/* corio — addresses by name: host and port strings to socket addresses.
 *
 * What can be decided without a resolver is decided here, so that the
 * common cases (numeric addresses, "*", Unix names) cost no resolver
 * round trip and a bad string is refused before anything is sent:
 *
 *   "unix:/path" "unix:@name" "unix:" ──▶ sockaddr_un, port must be absent
 *   "127.0.0.1" "::1" "[::1]" "*"       ──▶ inet_pton, port digits parsed here
 *   anything else, or a service name     ──▶ corio_getaddrinfo (resolve.h)
 *
 * The resolver's negative codes are passed through untouched: they are the
 * resolver's to name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "corio/resolve.h"
#include "net_internal.h"

/* A port written as a number: 0 ... 65535. Returns the port, -EINVAL for a
 * malformed or out-of-range number, or 1 << 16 ("not a number, a service
 * name") when it starts with neither a digit nor a sign. */
#define PORT_IS_NAME (1 << 16)

static int parse_port(const char *port) {
    if (!port || !*port)
        return -EINVAL;
    char c = port[0];
    if (!(c >= '0' && c <= '9') && c != '-' && c != '+')
        return PORT_IS_NAME;
    long v = 0;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL; /* "-1", "+80", "80x" */
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -EINVAL; /* checked per digit: no overflow however long */
    }
    return (int)v;
}

int corio__net_port(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

/* A Unix name after "unix:". */
static int parse_unix(const char *name, const char *port, int type, int flags,
                      corio__netaddr *out) {
    if (port && *port)
        return -EINVAL; /* a Unix socket has no port */
    struct sockaddr_un *un = (struct sockaddr_un *)(void *)&out->ss;
    memset(out, 0, sizeof *out);
    un->sun_family = AF_UNIX;
    out->family = AF_UNIX;
    out->type = type;
    size_t n = strnlen(name, sizeof un->sun_path + 1);
    if (n == 0) {
        if (!(flags & CORIO__NET_LOCAL))
            return -EINVAL;
        /* Only the family: bind(2) then autobinds an abstract name. */
        out->len = (socklen_t)sizeof(sa_family_t);
        return 1;
    }
    if (name[0] == '@') {
        /* Abstract: a leading NUL, then the name's bytes; the length is
         * exact, as the name may not be NUL-terminated in the kernel. */
        n--;
        if (n == 0)
            return -EINVAL;
        if (n > sizeof un->sun_path - 1)
            return -ENAMETOOLONG;
        memcpy(un->sun_path + 1, name + 1, n);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
        return 1;
    }
    if (n > sizeof un->sun_path - 1)
        return -ENAMETOOLONG; /* room for the terminating NUL */
    memcpy(un->sun_path, name, n);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 1;
}

/* A numeric IPv4 or IPv6 address without scope. Returns 1 (stored), 0 (not
 * numeric). */
static int parse_numeric(const char *h, int portnum, int type, corio__netaddr *out) {
    memset(out, 0, sizeof *out);
    out->type = type;
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&out->ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&out->ss;
    if (inet_pton(AF_INET, h, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)portnum);
        out->family = AF_INET;
        out->len = sizeof *in;
        return 1;
    }
    memset(&out->ss, 0, sizeof out->ss);
    if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)portnum);
        out->family = AF_INET6;
        out->len = sizeof *in6;
        return 1;
    }
    return 0;
}

static int same_addr(const corio__netaddr *a, const corio__netaddr *b) {
    return a->len == b->len && a->type == b->type && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Append `a` to out[0..n) unless present or full; returns the new n. */
static int add_unique(corio__netaddr *out, int n, int cap, const corio__netaddr *a) {
    if (n >= cap)
        return n;
    for (int i = 0; i < n; i++)
        if (same_addr(&out[i], a))
            return n;
    out[n] = *a;
    return n + 1;
}

int corio__net_from_addrinfo(const struct addrinfo *list, int type, int family,
                             corio__netaddr *out, int cap) {
    int n = 0;
    for (const struct addrinfo *ai = list; ai && n < cap; ai = ai->ai_next) {
        if (!ai->ai_addr)
            continue;
        int fam = ai->ai_addr->sa_family;
        if (fam != AF_INET && fam != AF_INET6 && fam != AF_UNIX)
            continue;
        if (family != AF_UNSPEC && fam != family)
            continue;
        if (ai->ai_addrlen == 0 || ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        int t = ai->ai_socktype ? ai->ai_socktype : type;
        if (t != type)
            continue; /* a resolver without socktype hints lists every type */
        corio__netaddr a;
        memset(&a, 0, sizeof a);
        memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        a.family = fam;
        a.type = t;
        a.protocol = fam == AF_UNIX ? 0 : ai->ai_protocol;
        n = add_unique(out, n, cap, &a);
    }
    return n;
}

/* "*" when listening: IPv6 any (dual-stack unless the caller asks v6only),
 * then IPv4 any for a machine without IPv6; the listener binds the first
 * that works. */
static int wildcard(int portnum, int type, int family, corio__netaddr *out, int cap) {
    int n = 0;
    if (family != AF_INET && n < cap)
        n += parse_numeric("::", portnum, type, &out[n]);
    if (family != AF_INET6 && n < cap)
        n += parse_numeric("0.0.0.0", portnum, type, &out[n]);
    return n;
}

/* Through the resolver: names, scoped IPv6 addresses, service names. */
static int via_resolver(const char *h, const char *port, int type, int family, int flags,
                        double timeout, corio__netaddr *out, int cap) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = type;
    hints.ai_flags = (flags & CORIO__NET_PASSIVE) ? AI_PASSIVE : 0;
    struct addrinfo *res = NULL;
    int r = corio_getaddrinfo(h, port, &hints, timeout, &res);
    if (r < 0)
        return r;
    int n = corio__net_from_addrinfo(res, type, family, out, cap);
    corio_freeaddrinfo(res);
    return n > 0 ? n : -EAFNOSUPPORT; /* resolved, but to nothing usable */
}

int corio__net_resolve(const char *host, const char *port, int type, int family, int flags,
                       double timeout, corio__netaddr *out, int cap) {
    if (!host || !*host || cap <= 0)
        return -EINVAL;
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return -EINVAL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return -EINVAL;
    if (strncmp(host, "unix:", 5) == 0) {
        if (family != AF_UNSPEC)
            return -EINVAL; /* a family restriction excludes every Unix name */
        return parse_unix(host + 5, port, type, flags, out);
    }
    size_t hl = strnlen(host, CORIO__NET_MAX_HOST + 1);
    if (hl > CORIO__NET_MAX_HOST)
        return -ENAMETOOLONG;
    /* A local address may leave the port out: any. */
    if ((flags & CORIO__NET_LOCAL) && (!port || !*port))
        port = "0";
    int portnum = parse_port(port);
    if (portnum < 0)
        return portnum;
    /* "[v6]" is written around IPv6 addresses in URLs and host:port pairs;
     * the brackets are accepted and only around a numeric IPv6 address. */
    char buf[CORIO__NET_MAX_HOST + 1];
    const char *h = host;
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']')
            return -EINVAL;
        memcpy(buf, host + 1, hl - 2);
        buf[hl - 2] = '\0';
        struct in6_addr probe;
        char *pct = strchr(buf, '%');
        if (pct)
            *pct = '\0';
        int ok = inet_pton(AF_INET6, buf, &probe) == 1;
        if (pct)
            *pct = '%';
        if (!ok)
            return -EINVAL;
        h = buf;
    }
    if (strcmp(h, "*") == 0) {
        if (!(flags & CORIO__NET_PASSIVE))
            return -EINVAL; /* one cannot connect to every address */
        if (portnum == PORT_IS_NAME) {
            /* A service name: only its number is wanted from the resolver
             * (which lists IPv4 any first), then the wildcard order. */
            int r = via_resolver(NULL, port, type, family, flags, timeout, out, cap);
            if (r < 0)
                return r;
            portnum = corio__net_port((const struct sockaddr *)&out[0].ss);
        }
        return wildcard(portnum, type, family, out, cap);
    }
    if (portnum != PORT_IS_NAME && parse_numeric(h, portnum, type, out)) {
        if (family != AF_UNSPEC && out->family != family)
            return -EAFNOSUPPORT;
        return 1;
    }
    return via_resolver(h, port, type, family, flags, timeout, out, cap);
}
