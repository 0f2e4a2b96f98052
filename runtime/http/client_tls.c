/* corio — HTTP client: the TLS glue for https:// URLs (corio/tls.h).
 *
 * An https:// connection is a corio_dial'd socket handed to
 * corio_tls_connect with the URL's host as SNI and as the name to verify
 * (an IP literal is verified against the certificate's IP addresses and
 * sent without SNI, as the TLS layer does). The stream it returns is used
 * exactly as a plain one; the rest of the client does not know the
 * difference, except that a pooled TLS connection with bytes waiting is
 * kept (they may be a session ticket) where a plain one is dropped.
 *
 * The default context. A client made without options.tls creates a
 * verifying client context (system CA store) on its first https:// use.
 * It is created outside the client's lock (loading the CA store reads
 * files) and installed under it; a second thread that raced to create one
 * too drops its own. The client owns that context and releases it in
 * corio_http_client_destroy; a context given in the options is borrowed.
 */
#include <errno.h>

#include "client_internal.h"
#include "corio/tls.h"

/* The client's context, created on first use. */
static int tls_context(corio_http_client *c, corio_tls_context **out) {
    pthread_mutex_lock(&c->lock);
    *out = c->tls;
    pthread_mutex_unlock(&c->lock);
    if (*out)
        return 0;
    corio_tls_options o = {.role = CORIO_TLS_CLIENT};
    corio_tls_context *fresh;
    int rc = corio_tls_context_create(&o, &fresh);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->lock);
    if (!c->tls) {
        c->tls = fresh;
        c->tls_owned = true;
        fresh = NULL;
    }
    *out = c->tls;
    pthread_mutex_unlock(&c->lock);
    corio_tls_context_destroy(fresh); /* NULL, or the loser of a race */
    return 0;
}

int corio__http_tls_open(corio_http_client *c, int fd, const char *host,
                         const corio_stream_options *so, double timeout, corio_stream **out) {
    corio_tls_context *ctx;
    int rc = tls_context(c, &ctx);
    if (rc < 0)
        return rc;
    return corio_tls_connect(ctx, fd, host, so, timeout, out);
}

bool corio__http_stream_is_tls(const corio_stream *s) { return corio_tls_is_tls(s) == 1; }

void corio__http_tls_context_destroy(corio_tls_context *ctx) { corio_tls_context_destroy(ctx); }
