/* corio — internals of the TLS module (runtime/tls/): the context
 * (tls_context.c) and the connection under a stream (tls_stream.c). */
#ifndef CORIO_TLS_INTERNAL_H
#define CORIO_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "corio/tls.h"

/* Sessions a client context keeps for resumption, one per server name and
 * port (the oldest is replaced when full). */
#define CORIO__TLS_SESSIONS 64

/* One SNI name a server context answers with another context. */
typedef struct corio__tls_sni {
    char *name;                   /* lower case; "*.x.y" for a wildcard */
    corio_tls_context *ctx;       /* the context used (a reference held) */
} corio__tls_sni;

/* One kept client session. */
typedef struct corio__tls_session {
    char *key;                    /* "name|port" (NULL: free slot) */
    SSL_SESSION *sess;            /* a reference held */
    uint64_t stamp;               /* when stored (for replacing the oldest) */
} corio__tls_session;

struct corio_tls_context {
    SSL_CTX *ssl;                 /* OpenSSL's context (immutable once made) */
    _Atomic long refs;            /* the creator's reference + one per stream
                                   * and per SNI entry pointing here; acq_rel
                                   * on the decrement that frees */
    int role;                     /* enum corio_tls_role */
    int ktls;                     /* enum corio_tls_ktls */
    int insecure;                 /* client: no verification */
    int verify;                   /* chain verification asked (client, or
                                   * a server with verify_peer) */
    unsigned char *alpn;          /* wire-format protocol list, or NULL */
    unsigned alpn_len;            /* its length */
    /* server: the SNI table (set before serving, read-only after) */
    corio__tls_sni *sni;          /* entries */
    int nsni;                     /* how many */
    /* client: the session cache (lock: sess_lock, held for a lookup or a
     * store only; never across I/O) */
    pthread_mutex_t sess_lock;
    corio__tls_session sessions[CORIO__TLS_SESSIONS];
    uint64_t sess_clock;          /* store counter (the stamps) */
    int resumption;               /* sessions are kept and offered */
};

/* --- tls_context.c --- */
/* Take a reference (for a stream). */
void corio__tls_ctx_ref(corio_tls_context *c);
/* Whether this process's kernel has the kTLS module (probed once). */
int corio__tls_kernel_ktls(void);
/* The kept session for `key` (a new reference, the caller frees it with
 * SSL_SESSION_free), or NULL. */
SSL_SESSION *corio__tls_session_get(corio_tls_context *c, const char *key);
/* The ex_data index of an SSL's connection (corio__tls_conn *). */
int corio__tls_conn_index(void);
/* Record `fmt` as the calling thread's last error text. */
void corio__tls_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record OpenSSL's first queued error (prefixed by `what`) as the last
 * error text, and clear the queue. */
void corio__tls_set_ssl_error(const char *what);

/* --- tls_stream.c --- */
/* The cache key of a client connection (for the new-session callback). */
const char *corio__tls_conn_key(SSL *ssl);

#endif /* CORIO_TLS_INTERNAL_H */
