/* corio — HTTP client: the TLS glue for https:// URLs.
 *
 * Built without corio's TLS layer, https:// is refused with
 * -EPROTONOSUPPORT at connect time.
 */
#include <errno.h>

#include "client_internal.h"

int corio__http_tls_open(corio_http_client *c, int fd, const char *host,
                         const corio_stream_options *so, double timeout, corio_stream **out) {
    (void)c;
    (void)fd;
    (void)host;
    (void)so;
    (void)timeout;
    (void)out;
    return -EPROTONOSUPPORT;
}

bool corio__http_stream_is_tls(const corio_stream *s) {
    (void)s;
    return false;
}

void corio__http_tls_context_destroy(corio_tls_context *ctx) { (void)ctx; }
