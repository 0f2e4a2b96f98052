/* corio — descriptor passing over Unix sockets (SCM_RIGHTS) and the
 * packet-info control message, built on corio_sendmsg / corio_recvmsg.
 *
 * Receiving descriptors is where leaks hide: the kernel installs every
 * descriptor of a message that fits the control buffer into our table at
 * once, before we look at it. So corio_recv_fds always offers the kernel
 * room for the most a message can carry (SCM_MAX_FD), plus credentials
 * (SO_PASSCRED), takes them all, and only then compares with what the
 * caller can hold: a message with more than that, or one whose control
 * data was cut (MSG_CTRUNC), has every descriptor it brought closed here.
 * Received descriptors are close-on-exec from the start (MSG_CMSG_CLOEXEC),
 * so a fork+exec elsewhere in the process cannot inherit them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "corio/udp.h"
#include "internal.h"

/* Room for the largest SCM_RIGHTS message, plus credentials and a margin
 * for one more small control message the socket may add. */
#define CTRL_SPACE \
    (CMSG_SPACE(CORIO_FDS_MAX * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)) + 64)

/* A control buffer aligned for struct cmsghdr. */
typedef union ctrl_buf {
    char buf[CTRL_SPACE];   /* the bytes */
    struct cmsghdr align;   /* forces cmsghdr alignment */
} ctrl_buf;

/* The send side's buffer: exactly one SCM_RIGHTS message. */
typedef union ctrl_send_buf {
    char buf[CMSG_SPACE(CORIO_FDS_MAX * sizeof(int))]; /* the bytes */
    struct cmsghdr align;                              /* forces cmsghdr alignment */
} ctrl_send_buf;

CORIO_API ssize_t corio_send_fds(int fd, const void *buf, size_t len, const int *fds,
                                 size_t nfds, double timeout) {
    if (!buf && len)
        return -EFAULT;
    if (!fds && nfds)
        return -EFAULT;
    if (len == 0 || nfds > CORIO_FDS_MAX)
        return -EINVAL;
    struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ctrl_send_buf c;
    if (nfds) {
        memset(&c, 0, sizeof c);
        m.msg_control = c.buf;
        m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
    }
    return corio_sendmsg(fd, &m, 0, timeout);
}

/* Close every descriptor of the SCM_RIGHTS messages in m. */
static void close_all(struct msghdr *m) {
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int d;
            memcpy(&d, CMSG_DATA(h) + i * sizeof(int), sizeof d);
            close(d);
        }
    }
}

CORIO_API ssize_t corio_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds,
                                 double timeout) {
    if (!nfds)
        return -EFAULT;
    if (!buf && len)
        return -EFAULT;
    if (!fds && *nfds)
        return -EFAULT;
    size_t cap = *nfds;
    *nfds = 0;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    ctrl_buf c;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                       .msg_controllen = sizeof c.buf};
    ssize_t r = corio_recvmsg(fd, &m, MSG_CMSG_CLOEXEC, timeout);
    if (r < 0)
        return r;
    int saved = errno;
    /* Count first: nothing is handed out unless all of it fits. */
    size_t total = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
            total += (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (total > cap || (m.msg_flags & MSG_CTRUNC)) {
        close_all(&m);
        errno = saved;
        return -EMSGSIZE;
    }
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(fds + *nfds, CMSG_DATA(h), k * sizeof(int));
        *nfds += k;
    }
    errno = saved;
    return r;
}

CORIO_API int corio_msg_local_addr(const struct msghdr *msg, struct sockaddr_storage *addr,
                                   unsigned *ifindex) {
    if (!msg || !addr)
        return -EFAULT;
    /* CMSG_NXTHDR takes a non-const msghdr but only reads it. */
    struct msghdr *m = (struct msghdr *)(uintptr_t)msg;
    if (!m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
        return -ENOENT;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO &&
            h->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(h), sizeof pi);
            struct sockaddr_in *a = (struct sockaddr_in *)(void *)addr;
            memset(addr, 0, sizeof *addr);
            a->sin_family = AF_INET;
            a->sin_addr = pi.ipi_addr;
            if (ifindex)
                *ifindex = (unsigned)pi.ipi_ifindex;
            return 0;
        }
        if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO &&
            h->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(h), sizeof pi);
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)addr;
            memset(addr, 0, sizeof *addr);
            a->sin6_family = AF_INET6;
            a->sin6_addr = pi.ipi6_addr;
            if (ifindex)
                *ifindex = pi.ipi6_ifindex;
            return 0;
        }
    }
    return -ENOENT;
}
