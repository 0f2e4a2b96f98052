/* corio — TLS contexts (corio/tls.h): what connections share, built on an
 * OpenSSL SSL_CTX.
 *
 * A context is immutable once it serves connections (OpenSSL's SSL_CTX is
 * safe to share between threads for SSL_new once configured), except for
 * two things guarded here: the reference count (atomic) and a client's
 * session cache (a mutex held only for a lookup or a store).
 *
 * Defaults (Go's crypto/tls as the reference): TLS 1.2 and 1.3, OpenSSL's
 * default cipher lists, verification on with the system store for
 * clients, hostname checks without partial wildcards, session tickets on
 * (servers issue them, clients keep one per server name and port).
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "internal.h"
#include "tls_internal.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* ---- the calling thread's last error text ---- */

static _Thread_local char last_error[256];

CORIO_API const char *corio_tls_last_error(void) { return last_error; }

void corio__tls_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

void corio__tls_set_ssl_error(const char *what) {
    unsigned long e = ERR_peek_error();
    char buf[200];
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "no OpenSSL error queued");
    corio__tls_set_error("%s: %s", what, buf);
    ERR_clear_error();
}

/* ---- process-wide facts ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int conn_index = -1;  /* SSL ex_data slot of the connection */
static int kernel_ktls;      /* the `tls` ULP exists */

static void init_once(void) {
    conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    /* The ULP is looked up before the socket's state is checked: a kernel
     * without the module says ENOENT, one with it ENOTCONN (the socket is
     * not connected), so an unconnected socket is a cheap probe. */
    int saved = errno;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        int r = setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls");
        kernel_ktls = r == 0 || errno != ENOENT;
        close(s);
    }
    errno = saved;
}

int corio__tls_kernel_ktls(void) {
    pthread_once(&once, init_once);
    return kernel_ktls;
}

int corio__tls_conn_index(void) {
    pthread_once(&once, init_once);
    return conn_index;
}

/* ---- ALPN ---- */

/* "h2,http/1.1" -> "\2h2\10http/1.1". Returns 0 or -EINVAL (an empty or
 * over-long name, an empty list). */
static int alpn_wire(const char *list, unsigned char **out, unsigned *out_len) {
    size_t n = strlen(list);
    if (n == 0 || n > 4096)
        return -EINVAL;
    unsigned char *w = malloc(n + 1);
    if (!w)
        return -ENOMEM;
    size_t pos = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len > 255) {
            free(w);
            return -EINVAL;
        }
        w[pos++] = (unsigned char)len;
        memcpy(w + pos, p, len);
        pos += len;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) {
                free(w);
                return -EINVAL; /* a trailing comma: an empty name */
            }
        }
    }
    *out = w;
    *out_len = (unsigned)pos;
    return 0;
}

/* Server: the first of our protocols the client offers. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    (void)ssl;
    corio_tls_context *c = arg;
    for (unsigned i = 0; i < c->alpn_len; i += 1u + c->alpn[i]) {
        unsigned l = c->alpn[i];
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (j + 1u + in[j] > inlen)
                break; /* a malformed client list: stop at its end */
            if (in[j] == l && memcmp(in + j + 1, c->alpn + i + 1, l) == 0) {
                *out = in + j + 1;
                *outlen = (unsigned char)l;
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK; /* no overlap: go on without ALPN */
}

/* ---- SNI (server) ---- */

static int sni_match(const char *pattern, const char *name) {
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        /* "*.x.y" matches "a.x.y": exactly one label before the suffix. */
        return dot && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static int sni_select(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    corio_tls_context *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    for (int i = 0; i < c->nsni; i++) {
        if (sni_match(c->sni[i].name, name)) {
            if (!SSL_set_SSL_CTX(ssl, c->sni[i].ctx->ssl))
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    /* An unknown name is served by the default context (as nginx's
     * default server does), not refused. */
    return SSL_TLSEXT_ERR_OK;
}

/* ---- client sessions ---- */

static int session_new(SSL *ssl, SSL_SESSION *sess) {
    corio_tls_context *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const char *key = corio__tls_conn_key(ssl);
    if (!c || !key || !c->resumption || !SSL_SESSION_is_resumable(sess))
        return 0; /* not kept: OpenSSL frees it */
    pthread_mutex_lock(&c->sess_lock);
    /* The entry of this key, else a free slot, else the oldest entry. */
    corio__tls_session *slot = NULL, *free_slot = NULL, *oldest = &c->sessions[0];
    for (int i = 0; i < CORIO__TLS_SESSIONS; i++) {
        corio__tls_session *s = &c->sessions[i];
        if (s->key && strcmp(s->key, key) == 0) {
            slot = s;
            break;
        }
        if (!s->key && !free_slot)
            free_slot = s;
        if (s->key && s->stamp < oldest->stamp)
            oldest = s;
    }
    if (!slot)
        slot = free_slot ? free_slot : oldest;
    char *k = slot->key && strcmp(slot->key, key) == 0 ? slot->key : strdup(key);
    if (!k) {
        pthread_mutex_unlock(&c->sess_lock);
        return 0;
    }
    if (slot->key != k)
        free(slot->key);
    if (slot->sess)
        SSL_SESSION_free(slot->sess);
    slot->key = k;
    slot->sess = sess; /* returning 1 hands our reference over */
    slot->stamp = ++c->sess_clock;
    pthread_mutex_unlock(&c->sess_lock);
    return 1;
}

SSL_SESSION *corio__tls_session_get(corio_tls_context *c, const char *key) {
    if (!c->resumption || !key)
        return NULL;
    SSL_SESSION *found = NULL;
    pthread_mutex_lock(&c->sess_lock);
    for (int i = 0; i < CORIO__TLS_SESSIONS; i++) {
        corio__tls_session *s = &c->sessions[i];
        if (s->key && strcmp(s->key, key) == 0) {
            found = s->sess;
            SSL_SESSION_up_ref(found);
            break;
        }
    }
    pthread_mutex_unlock(&c->sess_lock);
    return found;
}

/* ---- life cycle ---- */

static void context_free(corio_tls_context *c) {
    for (int i = 0; i < c->nsni; i++) {
        free(c->sni[i].name);
        corio_tls_context_destroy(c->sni[i].ctx);
    }
    free(c->sni);
    for (int i = 0; i < CORIO__TLS_SESSIONS; i++) {
        free(c->sessions[i].key);
        if (c->sessions[i].sess)
            SSL_SESSION_free(c->sessions[i].sess);
    }
    pthread_mutex_destroy(&c->sess_lock);
    SSL_CTX_free(c->ssl);
    free(c->alpn);
    free(c);
}

void corio__tls_ctx_ref(corio_tls_context *c) {
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

CORIO_API void corio_tls_context_destroy(corio_tls_context *c) {
    if (!c)
        return;
    /* acq_rel: every use of the context by a stream happens before its
     * release, and the last one frees after seeing all of them. */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        context_free(c);
}

/* Load trusted roots into `ssl`. Returns 0 or CORIO_ETLS_CONFIG. */
static int load_roots(SSL_CTX *ssl, const corio_tls_options *o) {
    if (o->ca_file || o->ca_dir) {
        if (!SSL_CTX_load_verify_locations(ssl, o->ca_file, o->ca_dir)) {
            corio__tls_set_ssl_error(o->ca_file ? o->ca_file : o->ca_dir);
            return CORIO_ETLS_CONFIG;
        }
        return 0;
    }
    /* The system store as one bundle, parsed now (Debian: ca-certificates'
     * /etc/ssl/certs/ca-certificates.crt, which OpenSSL's default file
     * points to), as Go's crypto/x509 does. The hashed directory that
     * SSL_CTX_set_default_verify_paths adds would instead be searched
     * during each handshake and its certificates inserted into the shared
     * store then; under TSan that insertion raced with lookups by other
     * threads inside OpenSSL 3.0's X509 store. The directory remains the
     * fallback when there is no bundle. */
    const char *bundle = getenv(X509_get_default_cert_file_env());
    if (!bundle)
        bundle = X509_get_default_cert_file();
    if (bundle && access(bundle, R_OK) == 0 && SSL_CTX_load_verify_file(ssl, bundle) == 1)
        return 0;
    ERR_clear_error();
    if (!SSL_CTX_set_default_verify_paths(ssl)) {
        corio__tls_set_ssl_error("system CA store");
        return CORIO_ETLS_CONFIG;
    }
    return 0;
}

static int configure(corio_tls_context *c, const corio_tls_options *o) {
    SSL_CTX *s = c->ssl;
    int version = o->min_version ? o->min_version : CORIO_TLS_1_2;
    if (!SSL_CTX_set_min_proto_version(s, version))
        return -EINVAL;
    long opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (c->ktls == CORIO_TLS_KTLS_ON || (c->ktls == CORIO_TLS_KTLS_AUTO && corio__tls_kernel_ktls()))
        opts |= SSL_OP_ENABLE_KTLS;
    if (o->no_resumption)
        opts |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(s, opts);
    /* Partial writes let a timed-out write report what went out; a moving
     * buffer lets the stream retry from its own buffer after a compaction.
     * Read-ahead: each ring receive asks for a whole buffer of records. */
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(s, 1);
    if (o->ciphers && !SSL_CTX_set_cipher_list(s, o->ciphers)) {
        corio__tls_set_ssl_error("cipher list");
        return CORIO_ETLS_CONFIG;
    }
    if (o->ciphersuites && !SSL_CTX_set_ciphersuites(s, o->ciphersuites)) {
        corio__tls_set_ssl_error("TLS 1.3 cipher suites");
        return CORIO_ETLS_CONFIG;
    }
    if (o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(s, o->cert_file) != 1) {
            corio__tls_set_ssl_error(o->cert_file);
            return CORIO_ETLS_CONFIG;
        }
        if (SSL_CTX_use_PrivateKey_file(s, o->key_file, SSL_FILETYPE_PEM) != 1) {
            corio__tls_set_ssl_error(o->key_file);
            return CORIO_ETLS_CONFIG;
        }
        if (SSL_CTX_check_private_key(s) != 1) {
            corio__tls_set_ssl_error("key does not match the certificate");
            return CORIO_ETLS_CONFIG;
        }
    }
    if (o->alpn) {
        int r = alpn_wire(o->alpn, &c->alpn, &c->alpn_len);
        if (r < 0)
            return r;
    }
    SSL_CTX_set_app_data(s, c);
    if (c->role == CORIO_TLS_CLIENT) {
        c->verify = !o->insecure;
        if (c->verify) {
            int r = load_roots(s, o);
            if (r < 0)
                return r;
            SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
        } else {
            SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
        }
        if (c->alpn && SSL_CTX_set_alpn_protos(s, c->alpn, c->alpn_len) != 0)
            return -ENOMEM;
        c->resumption = !o->no_resumption;
        SSL_CTX_set_session_cache_mode(s, c->resumption ? SSL_SESS_CACHE_CLIENT |
                                                              SSL_SESS_CACHE_NO_INTERNAL_STORE
                                                        : SSL_SESS_CACHE_OFF);
        if (c->resumption)
            SSL_CTX_sess_set_new_cb(s, session_new);
    } else {
        static const unsigned char sid[] = "corio";
        SSL_CTX_set_session_id_context(s, sid, sizeof sid - 1);
        if (o->verify_peer) {
            c->verify = 1;
            int r = load_roots(s, o);
            if (r < 0)
                return r;
            SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
        if (o->no_resumption) {
            SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_num_tickets(s, 0);
        }
        if (c->alpn)
            SSL_CTX_set_alpn_select_cb(s, alpn_select, c);
        SSL_CTX_set_tlsext_servername_callback(s, sni_select);
        SSL_CTX_set_tlsext_servername_arg(s, c);
    }
    return 0;
}

CORIO_API int corio_tls_context_create(const corio_tls_options *o, corio_tls_context **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    last_error[0] = '\0';
    if (!o || (o->role != CORIO_TLS_CLIENT && o->role != CORIO_TLS_SERVER))
        return -EINVAL;
    if (o->role == CORIO_TLS_SERVER && (!o->cert_file || !o->key_file))
        return -EINVAL;
    if (!o->cert_file != !o->key_file)
        return -EINVAL;
    if (o->min_version && o->min_version != CORIO_TLS_1_2 && o->min_version != CORIO_TLS_1_3)
        return -EINVAL;
    if (o->ktls < CORIO_TLS_KTLS_AUTO || o->ktls > CORIO_TLS_KTLS_ON)
        return -EINVAL;
    pthread_once(&once, init_once);
    corio_tls_context *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->ssl = SSL_CTX_new(o->role == CORIO_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        free(c);
        ERR_clear_error();
        return -ENOMEM;
    }
    pthread_mutex_init(&c->sess_lock, NULL);
    atomic_init(&c->refs, 1);
    c->role = o->role;
    c->ktls = o->ktls;
    c->insecure = o->insecure;
    int r = configure(c, o);
    if (r < 0) {
        ERR_clear_error();
        context_free(c);
        return r;
    }
    *out = c;
    return 0;
}

CORIO_API int corio_tls_context_add_sni(corio_tls_context *server, const char *name,
                                        corio_tls_context *ctx) {
    if (!server || !name || !*name || !ctx || server == ctx || server->role != CORIO_TLS_SERVER ||
        ctx->role != CORIO_TLS_SERVER || strlen(name) > 255)
        return -EINVAL;
    corio__tls_sni *t = realloc(server->sni, (size_t)(server->nsni + 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    server->sni = t;
    char *n = strdup(name);
    if (!n)
        return -ENOMEM;
    for (char *p = n; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    corio__tls_ctx_ref(ctx);
    server->sni[server->nsni++] = (corio__tls_sni){.name = n, .ctx = ctx};
    return 0;
}
