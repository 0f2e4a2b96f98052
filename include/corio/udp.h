/* corio — datagrams and messages: sendto/recvfrom, sendmsg/recvmsg with
 * control messages, batched receive and send of many datagrams per call,
 * and descriptor passing over Unix sockets (SCM_RIGHTS).
 *
 * Nothing here is specific to UDP but the name: the message calls work on
 * any socket (UDP, Unix datagram, stream or seqpacket, TCP).
 *
 * Every call follows the conventions of corio/io.h: in a coroutine it
 * suspends the coroutine (the loop runs others meanwhile), on a plain
 * thread it blocks the thread; it returns what the system call would, or a
 * negative code (-errno, -ETIMEDOUT, -ECANCELED); `timeout` is relative in
 * seconds (negative: no limit, 0: only what completes at once, NaN:
 * -EINVAL); every buffer, address, msghdr, iovec array and control buffer
 * is borrowed until the call returns and never retained; it waits for
 * readiness whether or not the socket is O_NONBLOCK (never -EAGAIN for
 * lack of readiness); MSG_NOSIGNAL is always added to sends.
 *
 * Cancel safety: after -ETIMEDOUT or -ECANCELED nothing was sent or
 * received by the call. A cancel that arrives once the kernel has
 * delivered a datagram does not undo it: the call returns it, and the next
 * blocking call returns -ECANCELED. No datagram is ever lost to a cancel.
 *
 * In a coroutine, sendmsg/recvmsg (and sendto/recvfrom, which are built on
 * them) are one IORING_OP_SENDMSG / IORING_OP_RECVMSG each; on a kernel
 * without them, a readiness poll on the ring and the system call. The
 * batched calls (corio_recvmmsg, corio_sendmmsg) have no ring opcode: they
 * try recvmmsg/sendmmsg(MSG_DONTWAIT) at once, and when the socket is not
 * ready wait for it with a poll on the ring and try again. One wake-up
 * then drains up to `n` datagrams straight into the caller's buffers.
 */
#ifndef CORIO_UDP_H
#define CORIO_UDP_H

#include <sys/socket.h>
#include <sys/types.h>

#include "common.h"

/* Declared here too: <sys/socket.h> defines it only with _GNU_SOURCE. */
struct mmsghdr;

#ifdef __cplusplus
extern "C" {
#endif

/** Send one datagram of `len` bytes from `buf` to `addr` (NULL with
 * addrlen 0 on a connected socket), like sendto(2). Returns the number of
 * bytes sent, or -errno (-EMSGSIZE: larger than the socket allows,
 * -ECONNREFUSED: an earlier datagram to a connected peer was refused),
 * -ETIMEDOUT, -ECANCELED. -EFAULT for a NULL buf with len > 0. */
CORIO_API ssize_t corio_sendto(int fd, const void *buf, size_t len, int flags,
                               const struct sockaddr *addr, socklen_t addrlen, double timeout);

/** Receive one datagram into `buf` (up to `len` bytes; the rest of a longer
 * datagram is discarded, and with MSG_TRUNC in `flags` the return value is
 * its real length), like recvfrom(2). When `addr` is not NULL the sender's
 * address is stored there and `*addrlen` (in: its size, out: the address
 * length) updated. Returns the byte count, or -errno, -ETIMEDOUT,
 * -ECANCELED; -EFAULT for addr without addrlen. */
CORIO_API ssize_t corio_recvfrom(int fd, void *buf, size_t len, int flags,
                                 struct sockaddr *addr, socklen_t *addrlen, double timeout);

/** Send a message, like sendmsg(2): `msg` (its name, iovec array, buffers
 * and control messages) is borrowed until the call returns. Returns the
 * number of bytes sent, or -errno, -ETIMEDOUT, -ECANCELED. -EFAULT for a
 * NULL msg. */
CORIO_API ssize_t corio_sendmsg(int fd, const struct msghdr *msg, int flags, double timeout);

/** Receive a message, like recvmsg(2). On success `msg->msg_namelen`,
 * `msg->msg_controllen` and `msg->msg_flags` are updated as recvmsg(2)
 * does: MSG_TRUNC there reports a datagram longer than the buffers,
 * MSG_CTRUNC control messages that did not fit (descriptors that did not
 * fit are closed by the kernel; see corio_recv_fds for a call that never
 * leaks). Pass MSG_CMSG_CLOEXEC in `flags` for close-on-exec descriptors.
 * Returns the byte count, or -errno, -ETIMEDOUT, -ECANCELED. -EFAULT for
 * a NULL msg. */
CORIO_API ssize_t corio_recvmsg(int fd, struct msghdr *msg, int flags, double timeout);

/** Receive up to `n` datagrams in one call, like recvmmsg(2) with
 * MSG_WAITFORONE: it waits (up to the timeout) for the first one, then
 * takes every datagram already queued, up to n, without waiting further.
 * Each msgs[i].msg_len receives that datagram's length and msgs[i].msg_hdr
 * is updated as by corio_recvmsg. Returns the number of datagrams (>= 1;
 * 0 only when n is 0), or -errno, -ETIMEDOUT, -ECANCELED. -EFAULT for a
 * NULL msgs with n > 0. The kernel takes at most 1024 (UIO_MAXIOV) per
 * call. */
CORIO_API int corio_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                             double timeout);

/** Send up to `n` datagrams in one call, like sendmmsg(2). Waits (up to
 * the timeout) until the socket can take the first; sends as many as it
 * then takes without waiting further, and stores each one's sent length in
 * msgs[i].msg_len. Returns the number sent (>= 1; 0 only when n is 0:
 * resend the rest), or -errno for the first one, -ETIMEDOUT, -ECANCELED.
 * -EFAULT for a NULL msgs with n > 0. At most 1024 per call. */
CORIO_API int corio_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                             double timeout);

/** At most this many descriptors per corio_send_fds / corio_recv_fds
 * message (the kernel's SCM_MAX_FD). */
#define CORIO_FDS_MAX 253

/** Send `len` bytes from `buf` with `nfds` descriptors `fds` attached
 * (SCM_RIGHTS) over the Unix socket `fd`. The descriptors stay the
 * caller's (the receiver gets new ones to the same open files). len must
 * be at least 1: a stream socket passes descriptors only with data.
 * Returns the number of bytes sent (the descriptors travel with the first
 * byte), or -errno, -ETIMEDOUT, -ECANCELED. -EINVAL for len 0 or nfds >
 * CORIO_FDS_MAX, -EFAULT for a NULL buf or a NULL fds with nfds > 0. */
CORIO_API ssize_t corio_send_fds(int fd, const void *buf, size_t len, const int *fds,
                                 size_t nfds, double timeout);

/** Receive up to `len` bytes into `buf` and the descriptors sent with
 * them over the Unix socket `fd`. `*nfds` is, in, the capacity of `fds`
 * and, out, the number of descriptors stored there: new descriptors, owned
 * by the caller, close-on-exec. Returns the byte count (0: the peer shut
 * down its side), or -errno, -ETIMEDOUT, -ECANCELED.
 * -EMSGSIZE: the message carried more descriptors than `*nfds` allows (or
 * other control data that did not fit): every descriptor it carried is
 * closed, *nfds is 0, and its bytes are consumed — treat it as a
 * protocol error. Never leaks a descriptor. -EFAULT for a NULL nfds, buf
 * (with len > 0) or fds (with *nfds > 0). */
CORIO_API ssize_t corio_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds,
                                 double timeout);

/** The local (destination) address of a datagram received with
 * corio_recvmsg / corio_recvmmsg on a socket with IP_PKTINFO (IPv4) or
 * IPV6_RECVPKTINFO (IPv6) enabled: parses the IP_PKTINFO / IPV6_PKTINFO
 * control message of `msg` into `*addr` (a sockaddr_in or sockaddr_in6,
 * port 0) and, when not NULL, the receiving interface's index into
 * `*ifindex`. A control buffer of CMSG_SPACE(sizeof(struct in6_pktinfo))
 * bytes holds either. Returns 0, -ENOENT when msg carries no such control
 * message, -EFAULT for a NULL msg or addr. Never blocks. */
CORIO_API int corio_msg_local_addr(const struct msghdr *msg, struct sockaddr_storage *addr,
                                   unsigned *ifindex);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_UDP_H */
