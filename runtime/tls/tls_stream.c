/* corio — a TLS connection under a corio_stream (corio/tls.h): the
 * handshake, and the stream transport (stream_internal.h) that reads and
 * writes application data through OpenSSL.
 *
 * Two ways OpenSSL's records reach the socket:
 *
 *  ring path (user space; the default where the kernel has no kTLS)
 *      OpenSSL <-> corio BIO <-> in[] / out[] <-> corio_recv / corio_send
 *    The BIO never waits: a read takes what in[] holds or asks OpenSSL to
 *    retry (WANT_READ), a write appends to out[]. Waiting happens outside
 *    OpenSSL, in this file's loop: on WANT_READ it first sends out[] (a
 *    handshake flight must leave before we wait for the answer), then
 *    receives into in[] with one ring operation carrying the deadline, and
 *    calls OpenSSL again. No OpenSSL call is ever suspended half-way, so a
 *    reader and a writer coroutine of one loop may overlap, and a timeout
 *    leaves OpenSSL in a clean state (what it wrote is in out[] and goes
 *    out with the next send).
 *
 *  socket path (kTLS)
 *      OpenSSL <-> its socket BIO <-> O_NONBLOCK socket
 *    OpenSSL moves the record layer into the kernel only through its own
 *    socket BIO. On WANT_READ / WANT_WRITE the ring waits for readiness
 *    (corio_poll) with the deadline. SIGPIPE is held blocked on the thread
 *    around each OpenSSL call (its socket BIO writes with write(2)).
 *
 * OpenSSL's error queue is emptied whenever a failure is classified (and
 * before each handshake step), so the hot read and write calls need not
 * clear it first: SSL_get_error reads a queue that holds only their own
 * errors.
 *
 * Errors: an OpenSSL failure becomes a CORIO_ETLS_* code (classify()), a
 * system one its -errno, an end without close_notify CORIO_EUNEXPECTED_EOF.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "corio/io.h"
#include "corio/runtime.h"
#include "internal.h"
#include "net_internal.h"
#include "stream_internal.h"
#include "tls_internal.h"

/* Ciphertext buffers of the ring path. in[] holds one largest record and
 * its header with room to spare (OpenSSL reads ahead into its own buffer);
 * out[] holds several records so that a large write is one send per
 * OUT_CAP bytes. A record is at most 16 KiB of data plus 256 bytes of
 * overhead plus a 5-byte header. */
#define REC_MAX (16384 + 256 + 5)
#define IN_CAP (2 * REC_MAX)
#define OUT_CAP (4 * REC_MAX)
/* Largest write coalesced from an iovec into one record. */
#define GATHER_MAX 16384

typedef struct tls_conn {
    SSL *ssl;                   /* the connection */
    corio_tls_context *ctx;     /* its context (a reference held) */
    corio_stream *stream;       /* the stream over it (for corio_tls_get_info) */
    int fd;                     /* the socket (owned once the stream exists) */
    int ring;                   /* 1: ring path, 0: socket path (kTLS) */
    int server;                 /* the server side */
    /* ring path */
    unsigned char *in;          /* received ciphertext not yet given to OpenSSL */
    size_t ipos, ilen;          /* first unread byte, bytes held */
    int ieof;                   /* the peer ended the TCP stream */
    int ierr;                   /* a receive failed with this (given once) */
    unsigned char *out;         /* ciphertext OpenSSL wrote, not yet sent */
    size_t opos, olen;          /* first unsent byte, end of the data */
    int flushing;               /* a coroutine is sending out[] now */
    int werr;                   /* a send failed after a write was accepted:
                                 * given to the next write or flush */
    /* both paths */
    int shut_sent;              /* close_notify sent (or tried) */
    int handshaken;             /* the handshake completed */
    char key[CORIO__NET_MAX_HOST + 16]; /* client session key "name|port" */
    char sni[CORIO__NET_MAX_HOST + 1];  /* server name sent or received */
    char alpn[256];             /* selected ALPN protocol, NUL-terminated */
    unsigned char *gather;      /* GATHER_MAX bytes for writev, lazily */
} tls_conn;

/* ---- the ring path's BIO ---- */

static int bio_read(BIO *b, char *buf, size_t len, size_t *got) {
    tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t have = c->ilen - c->ipos;
    if (have == 0) {
        if (!c->ieof && !c->ierr)
            BIO_set_retry_read(b);
        *got = 0;
        return 0;
    }
    size_t n = have < len ? have : len;
    memcpy(buf, c->in + c->ipos, n);
    c->ipos += n;
    if (c->ipos == c->ilen)
        c->ipos = c->ilen = 0;
    *got = n;
    return 1;
}

static int bio_write(BIO *b, const char *buf, size_t len, size_t *put) {
    tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (c->opos == c->olen)
        c->opos = c->olen = 0; /* empty: start over (no one is sending it) */
    size_t room = OUT_CAP - c->olen;
    if (room == 0) {
        BIO_set_retry_write(b);
        *put = 0;
        return 0;
    }
    size_t n = room < len ? room : len;
    memcpy(c->out + c->olen, buf, n);
    c->olen += n;
    *put = n;
    return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)num;
    (void)ptr;
    tls_conn *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* sending is done by the caller's loop */
    case BIO_CTRL_EOF:
        return c && c->ipos == c->ilen && (c->ieof || c->ierr);
    case BIO_CTRL_PENDING:
        return c ? (long)(c->ilen - c->ipos) : 0;
    case BIO_CTRL_WPENDING:
        return c ? (long)(c->olen - c->opos) : 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *ring_method;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_method_init(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corio ring");
    if (!m)
        return;
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    ring_method = m;
}

/* Send out[] until it is empty. Returns 0 or a negative code. When another
 * coroutine of this loop is already sending it, returns 0 at once: that
 * one sends what was appended too (it loops until out[] is empty). */
static int out_flush(tls_conn *c, int64_t deadline) {
    if (c->flushing)
        return 0;
    c->flushing = 1;
    int r = 0;
    while (c->opos < c->olen) {
        ssize_t n = corio_send(c->fd, c->out + c->opos, c->olen - c->opos, 0, corio__left_s(deadline));
        if (n < 0) {
            r = (int)n;
            break;
        }
        c->opos += (size_t)n;
    }
    if (c->opos == c->olen)
        c->opos = c->olen = 0;
    c->flushing = 0;
    return r;
}

/* One try to send out[] without waiting (close_notify at close). */
static void out_flush_nowait(tls_conn *c) {
    int saved = errno;
    while (c->opos < c->olen && !c->flushing) {
        ssize_t n = send(c->fd, c->out + c->opos, c->olen - c->opos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            break;
        c->opos += (size_t)n;
    }
    errno = saved;
}

/* Receive into in[] (it is empty: OpenSSL asked for more). */
static int in_fill(tls_conn *c, int64_t deadline) {
    if (c->ieof || c->ierr)
        return 0; /* OpenSSL sees the end through BIO_CTRL_EOF */
    if (c->ipos == c->ilen)
        c->ipos = c->ilen = 0;
    ssize_t n = corio_recv(c->fd, c->in + c->ilen, IN_CAP - c->ilen, 0, corio__left_s(deadline));
    if (n == -ETIMEDOUT || n == -ECANCELED)
        return (int)n; /* the connection stays usable: nothing was lost */
    if (n < 0)
        c->ierr = (int)n;
    else if (n == 0)
        c->ieof = 1;
    else
        c->ilen += (size_t)n;
    return 0;
}

/* ---- both paths: wait as OpenSSL asks ---- */

/* Classify an SSL_ERROR_SSL (or a SYSCALL with nothing of ours) and record
 * its text. */
static int classify(tls_conn *c, const char *what) {
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    long vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK && (reason == SSL_R_CERTIFICATE_VERIFY_FAILED || !c->handshaken)) {
        corio__tls_set_error("%s: certificate verify failed: %s", what,
                             X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return CORIO_ETLS_VERIFY;
    }
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        corio__tls_set_ssl_error(what);
        return CORIO_EUNEXPECTED_EOF;
    }
    int code;
    switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_BAD_LENGTH:
        code = CORIO_ETLS_PROTOCOL;
        break;
    default:
        /* Alerts from the peer (reason >= SSL_AD_REASON_OFFSET) and local
         * refusals: a failed handshake; after it, a broken protocol. */
        code = c->handshaken && reason < SSL_AD_REASON_OFFSET ? CORIO_ETLS_PROTOCOL
                                                              : CORIO_ETLS_HANDSHAKE;
    }
    corio__tls_set_ssl_error(what);
    return code;
}

/* After an OpenSSL call returned `ret` <= 0: wait as it asks and return 0
 * to call it again, 1 for a clean end (close_notify), or a negative code.
 * `sys_errno` is errno right after the call (socket path). */
static int step(tls_conn *c, int ret, int sys_errno, int64_t deadline, const char *what) {
    int e = SSL_get_error(c->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (c->ring) {
            int r = out_flush(c, deadline);
            if (r < 0)
                return r;
            return in_fill(c, deadline);
        } else {
            int r = corio_poll(c->fd, POLLIN, corio__left_s(deadline));
            return r < 0 ? r : 0;
        }
    case SSL_ERROR_WANT_WRITE:
        if (c->ring) {
            if (c->flushing) {
                /* Another coroutine of this loop is sending out[]: let it
                 * make room. */
                int r = corio_yield();
                return r < 0 ? r : 0;
            }
            int r = out_flush(c, deadline);
            return r < 0 ? r : 0;
        } else {
            int r = corio_poll(c->fd, POLLOUT, corio__left_s(deadline));
            return r < 0 ? r : 0;
        }
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 1;
    case SSL_ERROR_SYSCALL:
        if (c->ring && c->ierr) {
            ERR_clear_error();
            corio__tls_set_error("%s: %s", what, corio_strerror(c->ierr));
            return c->ierr;
        }
        if (ERR_peek_error())
            return classify(c, what);
        if (!c->ring && sys_errno != 0) {
            corio__tls_set_error("%s: %s", what, strerror(sys_errno));
            return -sys_errno;
        }
        corio__tls_set_error("%s: the peer closed the connection", what);
        return CORIO_EUNEXPECTED_EOF;
    default:
        return classify(c, what);
    }
}

/* Block SIGPIPE around a socket-path call. */
static void guard_enter(tls_conn *c) {
    if (!c->ring)
        corio__sigpipe_enter();
}
static void guard_leave(tls_conn *c) {
    if (!c->ring)
        corio__sigpipe_leave();
}

/* ---- the transport ---- */

static ssize_t tls_read(void *ctx, void *buf, size_t len, int64_t deadline) {
    tls_conn *c = ctx;
    if (len == 0)
        return 0;
    /* Ring path, nothing received and nothing inside OpenSSL: receive
     * first, rather than call SSL_read only to hear WANT_READ. */
    if (c->ring && c->ipos == c->ilen && !c->ieof && !c->ierr && !SSL_has_pending(c->ssl)) {
        int r = out_flush(c, deadline);
        if (r == 0)
            r = in_fill(c, deadline);
        if (r < 0)
            return r;
    }
    for (;;) {
        size_t got = 0;
        guard_enter(c);
        errno = 0;
        int ok = SSL_read_ex(c->ssl, buf, len, &got);
        int se = errno;
        guard_leave(c);
        if (ok)
            return (ssize_t)got;
        int r = step(c, 0, se, deadline, "read");
        if (r == 1)
            return 0;
        if (r < 0)
            return r;
    }
}

static ssize_t tls_readv(void *ctx, const struct iovec *iov, int iovcnt, int64_t deadline) {
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len)
            return tls_read(ctx, iov[i].iov_base, iov[i].iov_len, deadline);
    return 0;
}

static ssize_t tls_write(void *ctx, const void *buf, size_t len, int64_t deadline) {
    tls_conn *c = ctx;
    if (c->werr) {
        int e = c->werr;
        c->werr = 0;
        return e;
    }
    size_t total = 0;
    while (total < len) {
        if (c->ring && OUT_CAP - (c->olen - c->opos) < REC_MAX && !c->flushing) {
            if (total > 0)
                break; /* out[] is full: send it below */
            int r = out_flush(c, deadline);
            if (r < 0)
                return r;
            continue;
        }
        size_t w = 0;
        guard_enter(c);
        errno = 0;
        int ok = SSL_write_ex(c->ssl, (const char *)buf + total, len - total, &w);
        int se = errno;
        guard_leave(c);
        if (ok) {
            total += w;
            if (!c->ring)
                break; /* OpenSSL sent it itself */
            continue;
        }
        if (total > 0 && c->ring)
            break;
        int r = step(c, 0, se, deadline, "write");
        if (r == 1)
            return -EPIPE;
        if (r < 0)
            return total ? (ssize_t)total : r;
    }
    if (c->ring) {
        int r = out_flush(c, deadline);
        if (r < 0) {
            /* OpenSSL took the bytes (they are in out[]): report them, and
             * the failure on the next call. */
            c->werr = r;
        }
    }
    return (ssize_t)total;
}

static ssize_t tls_writev(void *ctx, const struct iovec *iov, int iovcnt, int64_t deadline) {
    tls_conn *c = ctx;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total > GATHER_MAX || iovcnt == 1) {
        for (int i = 0; i < iovcnt; i++)
            if (iov[i].iov_len)
                return tls_write(ctx, iov[i].iov_base, iov[i].iov_len, deadline);
        return 0;
    }
    /* Small pieces (a head and a body, say) become one record. */
    if (!c->gather) {
        c->gather = malloc(GATHER_MAX);
        if (!c->gather)
            return tls_write(ctx, iov[0].iov_base, iov[0].iov_len, deadline);
    }
    size_t off = 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(c->gather + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return tls_write(ctx, c->gather, off, deadline);
}

/* Send close_notify once, without waiting for room or for the peer's. */
static void send_close_notify(tls_conn *c) {
    if (c->shut_sent || !c->handshaken)
        return;
    c->shut_sent = 1;
    ERR_clear_error();
    guard_enter(c);
    SSL_shutdown(c->ssl);
    guard_leave(c);
    ERR_clear_error();
    if (c->ring)
        out_flush_nowait(c);
}

static int tls_shutdown(void *ctx, int how) {
    tls_conn *c = ctx;
    if (how == SHUT_WR || how == SHUT_RDWR)
        send_close_notify(c);
    int saved = errno;
    int r = shutdown(c->fd, how) < 0 ? -errno : 0;
    errno = saved;
    return r == -ENOTCONN ? 0 : r;
}

static void conn_free(tls_conn *c) {
    if (c->ssl)
        SSL_free(c->ssl);
    corio_tls_context_destroy(c->ctx);
    free(c->in);
    free(c->out);
    free(c->gather);
    free(c);
}

static int tls_close(void *ctx) {
    tls_conn *c = ctx;
    send_close_notify(c);
    int fd = c->fd;
    conn_free(c);
    return corio_close(fd);
}

static void tls_release(void *ctx) { conn_free(ctx); }

static int tls_flush(void *ctx, int64_t deadline) {
    tls_conn *c = ctx;
    if (c->werr) {
        int e = c->werr;
        c->werr = 0;
        return e;
    }
    return c->ring ? out_flush(c, deadline) : 0;
}

static const corio__stream_transport tls_transport = {
    .read = tls_read,
    .readv = tls_readv,
    .write = tls_write,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .release = tls_release,
    .flush = tls_flush,
};

const char *corio__tls_conn_key(SSL *ssl) {
    tls_conn *c = SSL_get_ex_data(ssl, corio__tls_conn_index());
    return c && c->key[0] ? c->key : NULL;
}

/* ---- the handshake ---- */

static int is_ip(const char *name) {
    unsigned char b[16];
    return inet_pton(AF_INET, name, b) == 1 || inet_pton(AF_INET6, name, b) == 1;
}

static int conn_new(corio_tls_context *ctx, int fd, tls_conn **out) {
    tls_conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->fd = fd;
    c->ctx = ctx;
    corio__tls_ctx_ref(ctx);
    c->server = ctx->role == CORIO_TLS_SERVER;
    c->ssl = SSL_new(ctx->ssl);
    if (!c->ssl) {
        ERR_clear_error();
        conn_free(c);
        return -ENOMEM;
    }
    SSL_set_ex_data(c->ssl, corio__tls_conn_index(), c);
    int want_ktls = ctx->ktls == CORIO_TLS_KTLS_ON ||
                    (ctx->ktls == CORIO_TLS_KTLS_AUTO && corio__tls_kernel_ktls());
    if (want_ktls) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || !SSL_set_fd(c->ssl, fd)) {
            int e = errno ? -errno : -ENOMEM;
            ERR_clear_error();
            conn_free(c);
            return e;
        }
    } else {
        pthread_once(&ring_once, ring_method_init);
        c->ring = 1;
        c->in = malloc(IN_CAP);
        c->out = malloc(OUT_CAP);
        BIO *b = ring_method ? BIO_new(ring_method) : NULL;
        if (!c->in || !c->out || !b) {
            BIO_free(b);
            ERR_clear_error();
            conn_free(c);
            return -ENOMEM;
        }
        BIO_set_data(b, c);
        SSL_set_bio(c->ssl, b, b); /* the SSL owns the BIO (one reference) */
    }
    *out = c;
    return 0;
}

static int handshake(tls_conn *c, int64_t deadline) {
    for (;;) {
        ERR_clear_error();
        guard_enter(c);
        errno = 0;
        int r = SSL_do_handshake(c->ssl);
        int se = errno;
        guard_leave(c);
        if (r == 1)
            break;
        int s = step(c, r, se, deadline, "handshake");
        if (s == 1) {
            corio__tls_set_error("handshake: the peer closed the connection");
            return CORIO_EUNEXPECTED_EOF;
        }
        if (s < 0)
            return s;
    }
    c->handshaken = 1;
    if (c->ring) {
        /* The last flight (the client's Finished, the server's tickets)
         * may still be in out[]. */
        int r = out_flush(c, deadline);
        if (r < 0)
            return r;
    }
    /* OpenSSL's selected protocol is not NUL-terminated: keep a copy. */
    const unsigned char *p = NULL;
    unsigned pl = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &pl);
    if (p && pl < sizeof c->alpn)
        memcpy(c->alpn, p, pl);
    if (c->server) {
        const char *n = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
        if (n)
            snprintf(c->sni, sizeof c->sni, "%s", n);
    }
    return 0;
}

static int finish(tls_conn *c, const corio_stream_options *sopts, int64_t deadline,
                  corio_stream **out) {
    int r = handshake(c, deadline);
    if (r == 0)
        r = corio__stream_create_with(&tls_transport, c, c->fd, sopts, &c->stream);
    if (r < 0) {
        conn_free(c); /* the fd stays the caller's */
        return r;
    }
    *out = c->stream;
    return 0;
}

CORIO_API int corio_tls_connect(corio_tls_context *ctx, int fd, const char *server_name,
                                const corio_stream_options *sopts, double timeout,
                                corio_stream **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ctx || fd < 0 || ctx->role != CORIO_TLS_CLIENT || timeout != timeout)
        return -EINVAL;
    if (server_name && (!*server_name || strlen(server_name) > CORIO__NET_MAX_HOST))
        return -EINVAL;
    if (!server_name && !ctx->insecure)
        return -EINVAL; /* nothing to verify the certificate against */
    int64_t deadline = corio__deadline(timeout);
    tls_conn *c;
    int r = conn_new(ctx, fd, &c);
    if (r < 0)
        return r;
    SSL_set_connect_state(c->ssl);
    if (server_name) {
        snprintf(c->sni, sizeof c->sni, "%s", server_name);
        int ip = is_ip(server_name);
        if (!ip && !SSL_set_tlsext_host_name(c->ssl, server_name))
            r = -EINVAL;
        if (r == 0 && ctx->verify) {
            SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), server_name)
                        : SSL_set1_host(c->ssl, server_name);
            if (!ok)
                r = -EINVAL;
        }
        if (ip)
            c->sni[0] = '\0'; /* an address is not sent as SNI */
    }
    if (r < 0) {
        ERR_clear_error();
        conn_free(c);
        return r;
    }
    /* Resumption: one session per server name and port. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int saved = errno;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        char host[64] = "";
        if (!server_name) {
            const void *a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                     : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
            inet_ntop(ss.ss_family, a, host, sizeof host);
        }
        snprintf(c->key, sizeof c->key, "%s|%d", server_name ? server_name : host,
                 corio__net_port((struct sockaddr *)&ss));
        SSL_SESSION *sess = corio__tls_session_get(ctx, c->key);
        if (sess) {
            SSL_set_session(c->ssl, sess);
            SSL_SESSION_free(sess);
        }
    }
    errno = saved;
    return finish(c, sopts, deadline, out);
}

CORIO_API int corio_tls_accept(corio_tls_context *ctx, int fd, const corio_stream_options *sopts,
                               double timeout, corio_stream **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ctx || fd < 0 || ctx->role != CORIO_TLS_SERVER || timeout != timeout)
        return -EINVAL;
    int64_t deadline = corio__deadline(timeout);
    tls_conn *c;
    int r = conn_new(ctx, fd, &c);
    if (r < 0)
        return r;
    SSL_set_accept_state(c->ssl);
    return finish(c, sopts, deadline, out);
}

/* ---- what was negotiated ---- */

static tls_conn *conn_of(const corio_stream *s) {
    return s && s->tp == &tls_transport ? s->tp_ctx : NULL;
}

CORIO_API int corio_tls_is_tls(const corio_stream *s) { return conn_of(s) != NULL; }

CORIO_API int corio_tls_get_info(const corio_stream *s, corio_tls_info *out) {
    tls_conn *c = conn_of(s);
    if (!c || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->version = SSL_version(c->ssl);
    out->cipher = SSL_get_cipher_name(c->ssl);
    out->alpn = c->alpn;
    out->server_name = c->sni;
    out->resumed = SSL_session_reused(c->ssl) == 1;
    if (!c->ring) {
        out->ktls_tx = BIO_get_ktls_send(SSL_get_wbio(c->ssl)) ? true : false;
        out->ktls_rx = BIO_get_ktls_recv(SSL_get_rbio(c->ssl)) ? true : false;
    }
    out->peer_verified = c->ctx->verify && SSL_get0_peer_certificate(c->ssl) &&
                         SSL_get_verify_result(c->ssl) == X509_V_OK;
    return 0;
}
