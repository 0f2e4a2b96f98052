/* corio — listen and dial: TCP, UDP and Unix domain sockets by name.
 *
 * corio_listen binds and listens on a host and port (or a Unix name);
 * corio_listener_accept hands out connections. corio_dial resolves a name
 * and connects with Happy Eyeballs (RFC 8305): IPv6 and IPv4 addresses
 * interleaved, one attempt started every 250 ms (at once when the previous
 * one failed), the first to connect wins and the others are closed.
 *
 * Addresses are written as strings:
 *  - host: a numeric IPv4 address ("127.0.0.1"), a numeric IPv6 address
 *    with or without brackets ("::1", "[::1]", "[fe80::1%eth0]"), a name
 *    resolved with corio_getaddrinfo ("localhost", "example.org"), or "*"
 *    (listen only: every local address, IPv6 and IPv4 on one socket);
 *  - "unix:/path/to/socket" (or "unix:relative/path"): a Unix domain socket
 *    in the file system; "unix:@name": a Linux abstract name (no file);
 *    "unix:" alone (the local address of a dial only): let the kernel pick
 *    an abstract name (autobind), so a datagram client can get replies;
 *  - port: decimal digits "0".."65535" ("0": the kernel picks one, see
 *    corio_listener_port) or a service name from /etc/services ("http").
 *    Unix names take no port: pass NULL or "".
 * Limits: a host name of at most 255 bytes (-ENAMETOOLONG), a Unix path of
 * at most 107 bytes, an abstract name of at most 106 (-ENAMETOOLONG).
 * NULL or empty host, NULL or empty port for an IP host, a port above
 * 65535 or a malformed one: -EINVAL. A name or service that does not
 * resolve: the negative code corio_getaddrinfo returned, passed through.
 *
 * The blocking calls follow corio/io.h: they suspend the calling coroutine
 * (ring operations on its loop) and block a plain thread; `timeout` is
 * relative, in seconds, negative for no limit, NaN -EINVAL; -ETIMEDOUT,
 * -ECANCELED. Descriptors handed out are the caller's, with FD_CLOEXEC set
 * and O_NONBLOCK clear (every corio call works on them either way).
 */
#ifndef CORIO_NET_H
#define CORIO_NET_H

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common.h"

/* Declared here too: <netdb.h> defines it only with POSIX features on. */
struct addrinfo;
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Listening                                                                  */

/** A listening socket (or, with reuseport, one listening socket per loop of
 * a runtime), or a bound datagram socket. */
typedef struct corio_listener corio_listener;

/** Options for corio_listen. Zero-initialise, then set fields: all zeroes
 * is a dual-stack TCP listener with SO_REUSEADDR and a backlog of
 * SOMAXCONN. */
typedef struct corio_listen_options {
    int type;      /**< SOCK_STREAM (0 means the same) or SOCK_DGRAM (a bound
                    *   datagram socket: UDP or Unix datagram, no accept) */
    int family;    /**< AF_UNSPEC (0), AF_INET or AF_INET6: restrict what the
                    *   host may resolve to */
    int backlog;   /**< listen(2) backlog; 0: SOMAXCONN; negative: -EINVAL */
    bool v6only;   /**< an IPv6 socket accepts IPv6 only (IPV6_V6ONLY);
                    *   default: "*" and "::" accept IPv4 clients too */
    bool no_reuseaddr; /**< do not set SO_REUSEADDR (set by default on IP
                        *   sockets, so a restarted server can bind at once) */
    bool reuseport; /**< SO_REUSEPORT with one socket per loop of `runtime`:
                     *   the kernel spreads incoming connections over the
                     *   sockets, and a coroutine accepts on its own loop's
                     *   socket, so there is no accept queue shared between
                     *   loops. Every loop must then accept (or its share of
                     *   the connections waits). IP stream sockets only. */
    corio_runtime *runtime; /**< with reuseport: whose loops get a socket;
                             *   NULL: the calling coroutine's runtime */
    double resolve_timeout; /**< bound on resolving a host name, in
                             *   seconds; 0: 10 s; negative: no limit */
} corio_listen_options;

/** Bind to `host` and `port` and listen (see the top of this file for the
 * syntax of both). With several addresses for a name, the first one
 * corio_getaddrinfo returns is bound. `opts` may be NULL (defaults). A Unix
 * path that exists as a socket nobody listens on (a stale file left by a
 * process that died) is removed and bound again; a socket someone still
 * answers on gives -EADDRINUSE, and a path that is not a socket is never
 * removed (-EADDRINUSE).
 *
 * Returns 0 and stores the listener in *out (owned by the caller: release
 * it with corio_listener_destroy), or -EINVAL (bad argument or option,
 * reuseport without a runtime or on a Unix/datagram socket), -ENAMETOOLONG,
 * -EADDRINUSE, -EACCES, -EADDRNOTAVAIL, -EAFNOSUPPORT, -EMFILE, -ENOMEM,
 * any other -errno of socket/bind/listen, or a corio_getaddrinfo code.
 *
 * Lifetime: the strings are read during the call only. It blocks only to
 * resolve a name (suspending a coroutine), so it works from a plain thread
 * and from a coroutine alike. */
CORIO_API int corio_listen(const char *host, const char *port, const corio_listen_options *opts,
                           corio_listener **out);

/** Accept one connection. In a coroutine it is a ring operation on the
 * coroutine's loop: with reuseport on the loop's own socket, and for IP
 * through a multishot accept (corio_acceptor) kept per loop, so a busy
 * server pays one submission for many connections; several coroutines of a
 * loop may accept at once (they take turns, first come first served). A
 * Unix listener takes one ring accept per call (see corio_listener_close). On a plain
 * thread it polls every socket of the listener and accepts on a ready one.
 * When `peer` is not NULL the peer's address is stored there and `*peerlen`
 * (in: its size, out: the address length) updated.
 *
 * Returns the connected descriptor (owned by the caller), or -ESHUTDOWN
 * once corio_listener_close was called (also for a call blocked in here
 * when it was), -EOPNOTSUPP for a datagram listener, -EINVAL (NULL
 * listener, NaN timeout, a coroutine of another runtime than the
 * reuseport one, or than the first runtime whose coroutines accepted), -EFAULT (peer without peerlen), -ETIMEDOUT, -ECANCELED,
 * -EMFILE and the other accept(2) errors.
 *
 * Cancel safety: a connection accepted by the kernel but not yet handed
 * out when the call times out or is cancelled stays queued for the next
 * call on that loop: none is lost. */
CORIO_API int corio_listener_accept(corio_listener *l, struct sockaddr *peer, socklen_t *peerlen,
                                    double timeout);

/** The bound port (host byte order; the one the kernel chose for port
 * "0"), or 0 for a Unix socket; -EINVAL for NULL. */
CORIO_API int corio_listener_port(const corio_listener *l);

/** The bound address: copied to `addr` (at most `*addrlen` bytes) and
 * `*addrlen` set to its full length. Returns 0 or -EINVAL (NULL argument). */
CORIO_API int corio_listener_addr(const corio_listener *l, struct sockaddr *addr,
                                  socklen_t *addrlen);

/** The socket of loop `loop` (with reuseport; any loop number gives the one
 * socket otherwise), or with loop -1 the calling coroutine's loop's socket
 * (the first socket on a plain thread). For a datagram listener this is the
 * bound socket to receive on. The descriptor is non-blocking and stays
 * owned by the listener (valid until corio_listener_destroy); do not close
 * it. Returns the fd, or
 * -EINVAL (NULL, loop out of range). */
CORIO_API int corio_listener_fd(const corio_listener *l, int loop);

/** Stop accepting: a call blocked in corio_listener_accept (on any loop or
 * thread) returns -ESHUTDOWN, as does every later call. An IP listener's
 * sockets are shut down (connections the kernel had queued but nobody
 * accepted are reset). Linux does not end a non-blocking accept on a shut
 * down Unix socket, so a Unix listener is instead connected to once per
 * call inside accept: each such call takes that connection, closes it and
 * returns -ESHUTDOWN (clients connecting between close and destroy are
 * reset by destroy). The descriptors stay open (no reuse races) until
 * corio_listener_destroy. Any thread or coroutine may call it, any number
 * of times. Returns 0 or -EINVAL (NULL). */
CORIO_API int corio_listener_close(corio_listener *l);

/** Close the listener (if not yet closed), release the per-loop acceptors
 * (on their own loops: from elsewhere, it runs a short coroutine on each
 * such loop and waits for it), close the sockets, remove the Unix socket
 * file it created (if it is still that socket), and free it. No call may
 * be in corio_listener_accept any more (close first and let them return),
 * and it must run before the runtime whose coroutines accepted is
 * destroyed. NULL is ignored. */
CORIO_API void corio_listener_destroy(corio_listener *l);

/* ------------------------------------------------------------------------ */
/* Dialling                                                                   */

/** Options for corio_dial_with and corio_dial_addrinfo. Zero-initialise. */
typedef struct corio_dial_options {
    int type;               /**< SOCK_STREAM (0 means the same) or SOCK_DGRAM
                             *   (a connected UDP or Unix datagram socket) */
    int family;             /**< AF_UNSPEC (0), AF_INET or AF_INET6: use
                             *   only addresses of that family */
    const char *local_host; /**< bind to this numeric address (or Unix name,
                             *   or "unix:" to autobind) before connecting;
                             *   NULL: the kernel chooses. Attempts of the
                             *   other family are skipped. */
    const char *local_port; /**< its port; NULL or "": any */
    double attempt_delay;   /**< seconds between starting attempts; 0: 0.25
                             *   (RFC 8305's Connection Attempt Delay) */
} corio_dial_options;

/** Resolve `host` and `port` and connect a stream socket (see the top of
 * this file for the syntax), trying the addresses with Happy Eyeballs:
 * IPv6 and IPv4 interleaved (IPv6 first), a new attempt 250 ms after the
 * previous one started or at once when it failed, while the earlier ones
 * go on; the first to connect wins, every other attempt is cancelled and
 * its socket closed before the call returns. `timeout` bounds the whole
 * call, resolution included.
 *
 * In a coroutine the attempts are concurrent connect operations on the
 * loop's ring, driven by the calling coroutine itself; on a plain thread
 * they are non-blocking connects waited on with poll(2).
 *
 * Returns the connected descriptor (owned by the caller), or -EINVAL (NULL
 * or empty host or port, bad port, NaN timeout), -ENAMETOOLONG, the error
 * of the last attempt to fail when all failed (-ECONNREFUSED,
 * -ENETUNREACH, -EHOSTUNREACH, -ENOENT for a missing Unix path...),
 * -ETIMEDOUT, -ECANCELED, -EMFILE, or a corio_getaddrinfo code.
 *
 * Lifetime and cancel safety: the strings are read during the call only;
 * whatever way the call ends, no descriptor but the one returned remains
 * open. */
CORIO_API int corio_dial(const char *host, const char *port, double timeout);

/** corio_dial with options (`opts` may be NULL). Additionally -EINVAL for a
 * bad option (unknown type or family, negative or NaN attempt_delay). */
CORIO_API int corio_dial_with(const char *host, const char *port, const corio_dial_options *opts,
                              double timeout);

/** Happy Eyeballs over an already resolved list (from corio_getaddrinfo,
 * or built by hand): the entries' ai_family, ai_addr and ai_addrlen are
 * used (ai_socktype and ai_protocol when set, else opts' type), at most the
 * first 64 entries, duplicates skipped. The list is borrowed for the call.
 * Returns as corio_dial; -EINVAL for a NULL or empty list (after the
 * family filter: -EAFNOSUPPORT). */
CORIO_API int corio_dial_addrinfo(const struct addrinfo *list, const corio_dial_options *opts,
                                  double timeout);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_NET_H */
