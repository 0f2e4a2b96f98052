/* corio — asynchronous name resolution.
 *
 * corio_getaddrinfo and corio_getnameinfo are getaddrinfo(3) and
 * getnameinfo(3) that never block a loop thread. In a coroutine the lookup
 * is done by c-ares on a channel of the coroutine's loop, whose sockets are
 * polled on the loop's io_uring and whose timeouts are ring timeouts: the
 * coroutine is suspended and the loop runs others meanwhile. On a plain
 * thread the same call blocks the thread (c-ares driven by poll(2)). When
 * /etc/nsswitch.conf names host sources c-ares cannot serve (anything but
 * `files` and `dns`), or when corio_resolver_configure asks for it, the libc
 * resolver runs on the runtime's blocking pool instead (corio_to_thread).
 *
 * Conventions (as in corio/io.h): `timeout` is relative, in seconds, for
 * the whole call (negative: no limit beyond the resolver's own tries; 0:
 * only what completes at once, e.g. numeric addresses; NaN: -EINVAL);
 * -ETIMEDOUT when it expired, -ECANCELED when the calling coroutine was
 * cancelled (the query is abandoned: a late answer is dropped and freed by
 * the resolver). errno is never read nor written. Error codes are the
 * CORIO_EAI_* block of corio/error.h plus -EINVAL, -ENAMETOOLONG, -ENOMEM,
 * -ETIMEDOUT, -ECANCELED; corio_strerror gives their text.
 *
 * /etc/resolv.conf (nameserver, search, domain, options ndots, timeout,
 * attempts, rotate) and the LOCALDOMAIN / RES_OPTIONS variables are read
 * when a loop's resolver is created; the hosts file at every lookup:
 * /etc/hosts, or for corio_getaddrinfo the file named by the CARES_HOSTS
 * environment variable when it is set (read at every lookup too).
 * Numeric addresses never touch the network. See docs/reference/resolve.md.
 */
#ifndef CORIO_RESOLVE_H
#define CORIO_RESOLVE_H

#include <netdb.h>
#include <sys/socket.h>

#include "common.h"

/* Declared here too: <netdb.h> defines it only with POSIX features on
 * (_POSIX_C_SOURCE, _GNU_SOURCE), which a strict -std=c11 build lacks. */
struct addrinfo;

#ifdef __cplusplus
extern "C" {
#endif

/** Resolve `host` and `service` like getaddrinfo(3).
 *
 * `host` may be a name, a numeric IPv4/IPv6 address, or NULL (then
 * `service` alone: the wildcard or loopback address per AI_PASSIVE, as
 * libc does); `service` a port number, a service name of /etc/services, or
 * NULL (port 0). `hints` may be NULL; its ai_family (AF_UNSPEC, AF_INET,
 * AF_INET6), ai_socktype, ai_protocol and ai_flags (AI_PASSIVE,
 * AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_V4MAPPED, AI_ALL,
 * AI_ADDRCONFIG) are honoured as by glibc; AI_ADDRCONFIG and AI_V4MAPPED
 * only on the libc paths (numeric hosts, the libc fallback).
 *
 * Returns 0 and stores in *res an ordinary struct addrinfo list (one entry
 * per address and socket type, exactly glibc's shape: ai_socktype 0 in the
 * hints gives a SOCK_STREAM, SOCK_DGRAM and, without a named service,
 * SOCK_RAW entry per address), with ai_canonname set on the first entry
 * when AI_CANONNAME was asked for (the end of the CNAME chain).
 *
 * Errors: -EINVAL (res NULL, empty host, NaN timeout), -ENAMETOOLONG (a
 * host over 254 bytes), CORIO_EAI_NONAME (no such name: NXDOMAIN, not in
 * the hosts file; also host and service both NULL), CORIO_EAI_NODATA (the
 * name has no address of that family), CORIO_EAI_AGAIN (no server answered
 * over all the resolver's tries, SERVFAIL, REFUSED), CORIO_EAI_FAIL,
 * CORIO_EAI_SERVICE (unknown service, port out of range, service not
 * offered for the socket type), CORIO_EAI_FAMILY, CORIO_EAI_SOCKTYPE,
 * CORIO_EAI_BADFLAGS, -ENOMEM, -ETIMEDOUT, -ECANCELED. *res is NULL on
 * every error.
 *
 * Lifetime: host, service and hints are borrowed until the call returns.
 * The list is owned by the caller and must be freed with
 * corio_freeaddrinfo (not freeaddrinfo(3)). */
CORIO_API int corio_getaddrinfo(const char *host, const char *service,
                                const struct addrinfo *hints, double timeout,
                                struct addrinfo **res);

/** Free a list returned by corio_getaddrinfo. NULL is ignored. */
CORIO_API void corio_freeaddrinfo(struct addrinfo *res);

/** The reverse lookup, like getnameinfo(3): the name of address `sa`
 * (`salen` bytes, AF_INET or AF_INET6) into host[hostlen] and its service
 * into serv[servlen]; either buffer may be NULL (with length 0) when not
 * wanted, not both. Flags: NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD,
 * NI_NOFQDN, NI_DGRAM. Without NI_NAMEREQD an address with no name gives
 * its numeric form. The service is looked up in /etc/services (a local
 * file; no network).
 *
 * Returns 0, or -EINVAL (sa NULL, NaN timeout), CORIO_EAI_NONAME (no host
 * nor service wanted; NI_NAMEREQD and no name), CORIO_EAI_FAMILY (unknown
 * family or salen too short), CORIO_EAI_OVERFLOW (a buffer too small),
 * CORIO_EAI_AGAIN, CORIO_EAI_FAIL, CORIO_EAI_BADFLAGS, -ENOMEM, -ETIMEDOUT,
 * -ECANCELED. Lifetime: every argument is borrowed until the call returns;
 * nothing is written to host or serv after it returned. */
CORIO_API int corio_getnameinfo(const struct sockaddr *sa, socklen_t salen,
                                char *host, size_t hostlen, char *serv, size_t servlen,
                                int flags, double timeout);

/** Which resolver serves names. */
typedef enum corio_resolver_backend {
    /** c-ares, unless /etc/nsswitch.conf's hosts line names a source other
     *  than files and dns (then libc on the blocking pool). The default. */
    CORIO_RESOLVER_AUTO = 0,
    /** Always c-ares (files and dns, in nsswitch.conf's order). */
    CORIO_RESOLVER_CARES = 1,
    /** Always libc getaddrinfo/getnameinfo on the blocking pool. */
    CORIO_RESOLVER_LIBC = 2,
} corio_resolver_backend;

/** Process-wide resolver options. Zero-initialise, then set fields. */
typedef struct corio_resolver_options {
    /** DNS servers as "addr[:port],..." (IPv6 as "[addr]:port"), replacing
     *  resolv.conf's nameserver lines; NULL: resolv.conf's. Implies c-ares
     *  (libc cannot use a port other than 53) unless backend is LIBC. */
    const char *servers;
    /** Seconds per try (c-ares doubles it on later rounds); 0: resolv.conf's
     *  `options timeout` (default 5). */
    double try_timeout;
    /** Tries per server; 0: resolv.conf's `options attempts` (default 4
     *  for c-ares). */
    int attempts;
    /** Query over TCP always (else UDP, with TCP only for truncated
     *  answers). */
    bool use_tcp;
    /** The backend (CORIO_RESOLVER_*). */
    int backend;
} corio_resolver_options;

/** Set the options every later lookup uses (NULL: back to the defaults).
 * Copied: `opts` and its strings are borrowed until the call returns. A
 * loop's resolver picks them up at its next lookup made while it has no
 * query in flight. Returns 0, -EINVAL (negative or NaN timeout, negative
 * attempts, unknown backend, a servers string c-ares cannot parse), or
 * -ENOMEM. Any thread. */
CORIO_API int corio_resolver_configure(const corio_resolver_options *opts);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_RESOLVE_H */
