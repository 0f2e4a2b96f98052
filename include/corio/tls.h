/**
 * @file corio/tls.h
 * TLS (1.2 and 1.3, OpenSSL 3) over corio streams: a client or server
 * handshake on a connected socket gives a corio_stream, and every call of
 * corio/stream.h then reads and writes application data through TLS.
 *
 * A corio_tls_context holds what connections share: certificates and key,
 * trusted roots, ALPN protocols, the session cache. It is created once,
 * is immutable after creation except for corio_tls_context_add_sni, and is
 * used from any thread or loop at once; each stream holds a reference, so
 * a context may be released while its streams are still open.
 *
 * Waiting. Two paths, chosen per connection:
 *  - user space (the default where the kernel has no kTLS): OpenSSL reads
 *    and writes through corio's own BIO, whose reads and writes are ring
 *    operations (corio_recv / corio_send) carrying the call's deadline. A
 *    coroutine suspends inside SSL_read until the ciphertext arrives: one
 *    ring operation per wait, no EAGAIN round trip, no SIGPIPE.
 *  - kTLS: OpenSSL can hand the record layer to the kernel only through its
 *    own socket BIO, so the socket is made O_NONBLOCK, OpenSSL reads and
 *    writes it, and when it would block the ring waits for readiness
 *    (corio_poll) with the deadline; SIGPIPE is held blocked on the thread
 *    around each call (as corio_sendfile does).
 * From a plain thread the same calls block the thread.
 *
 * Concurrency: a TLS stream is used by one coroutine or thread at a time
 * (OpenSSL's SSL object is not thread-safe), except that one reader and
 * one writer may overlap when both are coroutines of the same loop.
 *
 * Timeouts: a read that times out may be retried. A write that times out
 * leaves OpenSSL waiting for the same bytes again: retry it with the same
 * data (the stream's own buffer does this on the next flush) or destroy
 * the stream.
 *
 * Verification. Clients verify by default: the chain against the system
 * store (Debian: ca-certificates) or ca_file/ca_dir, and the name given to
 * corio_tls_connect against the certificate's subjectAltName (DNS names,
 * or an IP address when the name is one). `insecure` turns both off.
 *
 * kTLS. When the kernel has the `tls` module (and `ktls` allows), OpenSSL
 * is asked to move the record layer into the kernel (SSL_OP_ENABLE_KTLS)
 * after the handshake; it does so when the cipher is one the kernel
 * offloads (AES-GCM; ChaCha20-Poly1305 on newer kernels), else the
 * connection stays in user space. corio_tls_get_info tells which.
 *
 * Errors. The calls return -errno for system errors, -ETIMEDOUT and
 * -ECANCELED as every corio call does, and the CORIO_ETLS_* codes of
 * corio/error.h for TLS failures; corio_tls_last_error gives OpenSSL's text
 * for the most recent failure on the calling thread.
 */
#ifndef CORIO_TLS_H
#define CORIO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "corio/common.h"
#include "corio/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Shared TLS configuration (opaque; see the file comment). */
typedef struct corio_tls_context corio_tls_context;

/** Which side a context serves. */
enum corio_tls_role {
    CORIO_TLS_CLIENT = 0,
    CORIO_TLS_SERVER = 1,
};

/** kTLS policy, for corio_tls_options.ktls. */
enum corio_tls_ktls {
    /** Ask for kTLS when the kernel has the `tls` module (probed once per
     * process); otherwise use corio's ring-driven user-space path. */
    CORIO_TLS_KTLS_AUTO = 0,
    /** Never: the user-space path, always. */
    CORIO_TLS_KTLS_OFF = 1,
    /** Always ask OpenSSL for kTLS, even when the probe found no `tls`
     * module: the connection then runs in user space over OpenSSL's own
     * socket I/O (what a kernel without the module gives). */
    CORIO_TLS_KTLS_ON = 2,
};

/** TLS protocol versions, for corio_tls_options.min_version. */
enum corio_tls_version {
    CORIO_TLS_1_2 = 0x0303,
    CORIO_TLS_1_3 = 0x0304,
};

/** Options of corio_tls_context_create. Zero-initialise, then set fields;
 * strings are read during the call only. */
typedef struct corio_tls_options {
    /** enum corio_tls_role. */
    int role;
    /** PEM certificate chain (leaf first) and its private key. Required for
     * a server; optional for a client (client certificates). */
    const char *cert_file;
    const char *key_file;
    /** Trusted roots: a PEM bundle and/or a hashed directory; both NULL:
     * the system store. Clients use them to verify servers, servers (with
     * verify_peer) to verify clients. */
    const char *ca_file;
    const char *ca_dir;
    /** Client: do not verify the server's chain or name. */
    bool insecure;
    /** Server: ask for a client certificate and verify it (mutual TLS). */
    bool verify_peer;
    /** ALPN protocols, comma separated in order of preference
     * ("h2,http/1.1"); NULL: none. A server picks the first of its own list
     * that the client offers; with no overlap the handshake goes on without
     * ALPN (as Go's crypto/tls does). */
    const char *alpn;
    /** Lowest version accepted (enum corio_tls_version); 0: TLS 1.2. */
    int min_version;
    /** enum corio_tls_ktls. */
    int ktls;
    /** Client: do not keep sessions for resumption; server: issue no
     * tickets and keep no session cache. */
    bool no_resumption;
    /** OpenSSL cipher lists (TLS 1.2 and TLS 1.3 syntax); NULL: OpenSSL's
     * defaults. */
    const char *ciphers;
    const char *ciphersuites;
} corio_tls_options;

/** Create a context. Returns 0 with *out set (release it with
 * corio_tls_context_destroy), or -EINVAL (NULL out, bad role, server
 * without certificate, bad ALPN list or version), CORIO_ETLS_CONFIG (a file
 * that cannot be read or parsed, a key that does not match its
 * certificate, a cipher list OpenSSL rejects: corio_tls_last_error says
 * which), -ENOMEM. */
CORIO_API int corio_tls_context_create(const corio_tls_options *opts, corio_tls_context **out);

/** Server: use `ctx` (a server context) for handshakes whose SNI is `name`
 * (exact, case-insensitive; "*.example.com" matches one label). Handshakes
 * with no SNI or an unknown one use `server` itself. Call before the
 * context serves connections. Returns 0, -EINVAL (NULL, not server
 * contexts, empty name), -ENOMEM. Lifetime: `server` takes a reference to
 * `ctx`. */
CORIO_API int corio_tls_context_add_sni(corio_tls_context *server, const char *name,
                                        corio_tls_context *ctx);

/** Drop the caller's reference; the context is freed when no stream or
 * context holds it any more. NULL is ignored. */
CORIO_API void corio_tls_context_destroy(corio_tls_context *ctx);

/** Client handshake on connected socket `fd`. `server_name` is sent as
 * SNI (unless it is an IP address) and verified against the certificate;
 * NULL sends no SNI and, unless the context is insecure, gives -EINVAL.
 * Returns 0 with the stream in *out: the stream owns fd from then on. On
 * any failure fd is left open and owned by the caller. Errors: -EINVAL,
 * -ETIMEDOUT, -ECANCELED, -ECONNRESET and other -errno, CORIO_EUNEXPECTED_EOF
 * (the peer closed during the handshake), CORIO_ETLS_VERIFY (certificate
 * chain or name rejected), CORIO_ETLS_HANDSHAKE (the peer refused: alert,
 * no common version or cipher), CORIO_ETLS_PROTOCOL (the peer does not
 * speak TLS), -ENOMEM. `sopts` (may be NULL) sizes the stream's buffers. */
CORIO_API int corio_tls_connect(corio_tls_context *ctx, int fd, const char *server_name,
                                const corio_stream_options *sopts, double timeout,
                                corio_stream **out);

/** Server handshake on accepted socket `fd`: as corio_tls_connect. */
CORIO_API int corio_tls_accept(corio_tls_context *ctx, int fd, const corio_stream_options *sopts,
                               double timeout, corio_stream **out);

/** What a TLS stream negotiated. */
typedef struct corio_tls_info {
    int version;              /**< enum corio_tls_version */
    const char *cipher;       /**< OpenSSL's cipher name */
    const char *alpn;         /**< selected protocol, "" when none */
    const char *server_name;  /**< SNI sent (client) or received (server), "" */
    bool resumed;             /**< the session was resumed */
    bool ktls_tx;             /**< the kernel encrypts what is sent */
    bool ktls_rx;             /**< the kernel decrypts what is received */
    bool peer_verified;       /**< the peer's certificate was verified */
} corio_tls_info;

/** Fill *out for TLS stream `s`. Strings are owned by the stream and live
 * as long as it. Returns 0, or -EINVAL (NULL, not a TLS stream). */
CORIO_API int corio_tls_get_info(const corio_stream *s, corio_tls_info *out);

/** Whether `s` is a TLS stream (1) or not (0). */
CORIO_API int corio_tls_is_tls(const corio_stream *s);

/** OpenSSL's text for the last TLS failure of the calling thread (the
 * verification error for CORIO_ETLS_VERIFY), "" when none. Valid until
 * the next TLS call on this thread. */
CORIO_API const char *corio_tls_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_TLS_H */
