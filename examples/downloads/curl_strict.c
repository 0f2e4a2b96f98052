/* corio-downloads — strict response heads for the libcurl modes.
 *
 * libcurl 7.88 takes responses that corio's own parser refuses: two
 * Content-Length fields (it uses one of them), Content-Length together
 * with Transfer-Encoding (it lets chunked win), a bare CR inside the head
 * and obs-fold continuation lines. Each is a way for two parsers on a path
 * to disagree about where a response ends (response splitting,
 * smuggling), so every mode of the tool refuses them the same way: the
 * native client in corio_http_client, the libcurl modes here, in a header
 * callback that sees each head line before libcurl acts on it and stops
 * the transfer (returning a short count) at the first bad one.
 *
 * libcurl hands the callback one line at a time, split at LF, CRLF
 * included, the status line of each response first (so interim 1xx heads
 * reset the counts).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "downloads.h"

/* Whether line l[0..n) starts with field name `name` and a colon. */
static bool field_is(const char *l, size_t n, const char *name) {
    size_t k = strlen(name);
    return n > k && l[k] == ':' && !strncasecmp(l, name, k);
}

size_t dl_strict_header(char *l, size_t size, size_t nitems, void *arg) {
    dl_strict *st = arg;
    size_t n = size * nitems, len = n;
    if (st->bad)
        return 0;
    if (len > 0 && l[len - 1] == '\n')
        len--;
    if (len > 0 && l[len - 1] == '\r')
        len--;
    if (memchr(l, '\r', len))
        st->bad = "bare CR in the response head";
    else if (len >= 5 && !memcmp(l, "HTTP/", 5))
        st->content_length = st->transfer_encoding = 0;
    else if (len > 0 && (l[0] == ' ' || l[0] == '\t'))
        st->bad = "obs-fold (a field line continued on the next line)";
    else if (field_is(l, len, "Content-Length") && ++st->content_length > 1)
        st->bad = "two Content-Length fields";
    else if (field_is(l, len, "Transfer-Encoding"))
        st->transfer_encoding++;
    if (!st->bad && st->content_length && st->transfer_encoding)
        st->bad = "Content-Length together with Transfer-Encoding";
    return st->bad ? 0 : n;
}
