/* corio — internal interface between the resolver's c-ares side
 * (resolve.c) and its libc side (resolve_libc.c). resolve.c calls these;
 * resolve_libc.c calls nothing of resolve.c. */
#ifndef CORIO_RESOLVE_INTERNAL_H
#define CORIO_RESOLVE_INTERNAL_H

#include <netdb.h>
#include <stdint.h>

#include "corio/resolve.h"

/* A getaddrinfo EAI_* value as a corio code (0 for 0). `err` is the errno
 * that came with EAI_SYSTEM. */
int corio__eai_code(int eai, int err);

/* One list node with room for its address, every field zero but those
 * given: the allocation corio_freeaddrinfo frees. NULL on ENOMEM. */
struct addrinfo *corio__ai_node(int family, int socktype, int protocol,
                                const struct sockaddr *addr, socklen_t addrlen);

/* A copy of libc's list `src` in corio's allocation; 0 or -ENOMEM. */
int corio__ai_copy(const struct addrinfo *src, struct addrinfo **out);

/* 1 when /etc/nsswitch.conf's hosts line names a source other than files
 * and dns (read once per process), else 0. */
int corio__nss_needs_libc(void);

/* libc getaddrinfo / getnameinfo on the blocking pool (corio_to_thread),
 * waited for up to the absolute deadline (ns, CLOCK_MONOTONIC; INT64_MAX
 * none). Returns what the public calls return. A coroutine cancelled or
 * timed out meanwhile returns at once; the job finishes in the background
 * and frees its result. */
int corio__libc_getaddrinfo(const char *host, const char *service,
                            const struct addrinfo *hints, int64_t deadline,
                            struct addrinfo **res);
int corio__libc_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                            size_t hostlen, char *serv, size_t servlen, int flags,
                            int64_t deadline);

#endif /* CORIO_RESOLVE_INTERNAL_H */
