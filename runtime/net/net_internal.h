/* corio — internal interface of the net module: addresses by name
 * (sockaddr.c), shared by listen.c and dial.c. */
#ifndef CORIO_NET_INTERNAL_H
#define CORIO_NET_INTERNAL_H

#include <netdb.h>
#include <sys/socket.h>

#include "corio/net.h"

/* One address to bind or connect to, self-contained (no pointers), so a
 * list of them is a plain array on the caller's stack. */
typedef struct corio__netaddr {
    struct sockaddr_storage ss; /* the address itself */
    socklen_t len;              /* its length (for an abstract Unix name: exact) */
    int family;                 /* AF_INET, AF_INET6 or AF_UNIX */
    int type;                   /* SOCK_STREAM or SOCK_DGRAM */
    int protocol;               /* 0, or what the resolver said */
} corio__netaddr;

/* At most this many addresses per name: a name with more is cut (dial
 * tries the first ones; a server has a few addresses at most). */
#define CORIO__NET_MAX_ADDRS 64

/* Longest host name (RFC 1035: 255 bytes). */
#define CORIO__NET_MAX_HOST 255

/* Flags of corio__net_resolve. */
enum {
    CORIO__NET_PASSIVE = 1, /* listening: "*" is every local address */
    CORIO__NET_LOCAL = 2,   /* a dial's local address: "unix:" autobinds,
                             * a missing port means any */
};

/* Turn host and port (the syntax of corio/net.h) into addresses of socket
 * type `type` (SOCK_STREAM or SOCK_DGRAM) and family `family` (AF_UNSPEC:
 * any): numeric hosts and Unix names are parsed here, anything else goes
 * to corio_getaddrinfo within `timeout` seconds. Stores at most `cap`
 * addresses in out[] (duplicates dropped, the resolver's order kept) and
 * returns their number (> 0), or a negative code (see corio/net.h). */
int corio__net_resolve(const char *host, const char *port, int type, int family, int flags,
                       double timeout, corio__netaddr *out, int cap);

/* Copy a resolved list into out[] (at most `cap`; entries of another
 * family than `family`, unless AF_UNSPEC, skipped; ai_socktype 0 taken as
 * `type`; duplicates dropped). Returns the number stored (maybe 0). */
int corio__net_from_addrinfo(const struct addrinfo *list, int type, int family,
                             corio__netaddr *out, int cap);

/* The port of an IP address in host order, 0 for anything else. */
int corio__net_port(const struct sockaddr *sa);

/* SIGPIPE guard (sendfile.c): keep SIGPIPE blocked on the calling thread
 * between enter and leave (nested: a per-thread depth, several coroutines
 * of a loop may be inside), and take a SIGPIPE left pending at the
 * outermost leave. For calls that write to a socket without MSG_NOSIGNAL
 * (splice, sendfile, OpenSSL's socket BIO). */
void corio__sigpipe_enter(void);
void corio__sigpipe_leave(void);

#endif /* CORIO_NET_INTERNAL_H */
