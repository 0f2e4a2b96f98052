/* corio — static files for the HTTP server: open beneath a root (openat2
 * RESOLVE_BENEATH, or a real-path check where the kernel lacks it), a
 * directory's index.html, Content-Type by extension, Last-Modified and
 * If-Modified-Since, a single Range (206 / 416), and the body with
 * corio_sendfile (plain) or through the stream (TLS, small files).
 *
 * Opening is done directly on the loop thread (openat2 + fstat), as nginx
 * does: on a local file system it does not wait on I/O for long, and the
 * ring has no call for openat2.
 */
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "server_internal.h"

#define SMALL_FILE 8192          /* read into the head's send */
#define SENDFILE_STEP (256 * 1024) /* per write-timeout window */
#define XFER_CAP (64 * 1024)     /* TLS transfer buffer */

static _Atomic int have_openat2; /* 0: unknown, 1: yes, -1: no */

/* The real path of the directory dirfd, for the fallback check. */
static int fd_path(int fd, char *out, size_t cap) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    if (n < 0)
        return -errno;
    out[n] = 0;
    return (int)n;
}

/* Open `path` beneath rootfd: no "..", absolute path or symlink may lead
 * out. O_NONBLOCK so that a FIFO cannot stall the loop. */
static int open_beneath(int rootfd, const char *path, bool no_symlinks) {
    if (atomic_load(&have_openat2) >= 0) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                                          (no_symlinks ? RESOLVE_NO_SYMLINKS : 0)};
        int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS) {
            atomic_store(&have_openat2, 1);
            return fd < 0 ? -errno : fd;
        }
        atomic_store(&have_openat2, -1);
    }
    int fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    char root[PATH_MAX], real[PATH_MAX];
    int rl = fd_path(rootfd, root, sizeof root);
    int fl = fd_path(fd, real, sizeof real);
    if (rl < 0 || fl < rl || memcmp(real, root, (size_t)rl) ||
        (fl > rl && real[rl] != '/' && rl > 1)) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

/* Parse "bytes=a-b" / "bytes=a-" / "bytes=-n" against size. Returns 1
 * (range in *from, *to inclusive), 0 (ignore: serve the whole file), or
 * -1 (unsatisfiable: 416). */
static int parse_range(const char *v, size_t n, uint64_t size, uint64_t *from, uint64_t *to) {
    if (n < 7 || strncasecmp(v, "bytes=", 6) != 0)
        return 0;
    v += 6;
    n -= 6;
    if (memchr(v, ',', n))
        return 0; /* several ranges: the whole file (allowed by RFC 9110 14.2) */
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false;
    size_t i = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, has_a = true) {
        if (a > UINT64_MAX / 10 - 1)
            return 0;
        a = a * 10 + (uint64_t)(v[i] - '0');
    }
    if (i == n || v[i] != '-')
        return 0;
    for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, has_b = true) {
        if (b > UINT64_MAX / 10 - 1)
            return 0;
        b = b * 10 + (uint64_t)(v[i] - '0');
    }
    if (i != n || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    if (has_b && b < a)
        return 0; /* invalid: ignored */
    if (a >= size)
        return -1;
    *from = a;
    *to = has_b && b < size ? b : size - 1;
    return 1;
}

static void http_time(time_t t, char *out, size_t cap) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Send [from, from + len) of fd after the head already buffered. */
static int send_body(corio__hconn *c, int fd, uint64_t from, uint64_t len) {
    int64_t off = (int64_t)from;
    if (!c->srv->tls) {
        int r = corio__hs_flush(c);
        while (r == 0 && len > 0) {
            size_t step = len < SENDFILE_STEP ? (size_t)len : SENDFILE_STEP;
            corio_scope sc;
            corio__wd_arm(c, &sc, corio__hs_now() + c->srv->write_t, CORIO__WD_WRITE);
            ssize_t n = corio_sendfile(corio_stream_fd(c->st), fd, &off, step, CORIO_FOREVER);
            n = corio__wd_disarm(c, &sc, n);
            if (n <= 0)
                r = n < 0 ? (int)n : -EIO; /* shrank under us: the framing is lost */
            else
                len -= (uint64_t)n;
        }
        if (r < 0) {
            c->resp.failed = true;
            c->resp.close = true;
        }
        return r;
    }
    if (!c->xfer && !(c->xfer = malloc(XFER_CAP)))
        return -ENOMEM;
    while (len > 0) {
        size_t want = len < XFER_CAP ? (size_t)len : XFER_CAP;
        ssize_t n = corio_read(fd, c->xfer, want, off, CORIO_FOREVER);
        if (n <= 0) {
            c->resp.failed = c->resp.close = true;
            return n < 0 ? (int)n : -EIO;
        }
        int r = corio__hs_write(c, &(struct iovec){c->xfer, (size_t)n}, 1);
        if (r < 0)
            return r;
        off += n;
        len -= (uint64_t)n;
    }
    return 0;
}

int corio_http_response_send_file(corio_http_response *w, const corio_http_request *req,
                                  int rootfd, const char *path, unsigned flags) {
    if (!w || !req || rootfd < 0)
        return -EINVAL;
    if (w->started)
        return CORIO_EINVALID_STATE;
    if (req->h.method != CORIO_HTTP_GET && req->h.method != CORIO_HTTP_HEAD)
        return corio_http_response_error(w, 405);
    if (!path)
        path = req->path_len > 1 ? req->path + 1 : ".";
    bool nosym = flags & CORIO_HTTP_FILE_NO_SYMLINKS;
    int fd = open_beneath(rootfd, path, nosym);
    struct stat st;
    const char *name = path;
    char ipath[PATH_MAX];
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && (flags & CORIO_HTTP_FILE_INDEX)) {
        /* Resolved beneath the root, not the directory: an index.html that
         * is a symlink staying inside the root is served. */
        close(fd);
        int n = snprintf(ipath, sizeof ipath, "%s/index.html", path);
        fd = n > 0 && (size_t)n < sizeof ipath ? open_beneath(rootfd, ipath, nosym) : -ENAMETOOLONG;
        name = "index.html";
        if (fd >= 0 && fstat(fd, &st) < 0) {
            close(fd);
            fd = -EIO;
        }
    }
    int fl;
    if (fd < 0 || !S_ISREG(st.st_mode) || (fl = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        /* O_NONBLOCK was for the open only: on a regular file it would make
         * a ring read that misses the page cache fail with EAGAIN. */
        if (fd >= 0)
            close(fd);
        return corio_http_response_error(w, 404);
    }
    uint64_t size = (uint64_t)st.st_size, from = 0, len = size;
    char lm[64];
    http_time(st.st_mtime, lm, sizeof lm);
    int r = corio_http_response_add_header(w, "Last-Modified", lm);
    if (r == 0)
        r = corio_http_response_add_header(w, "Accept-Ranges", "bytes");
    bool has_ct = false;
    for (size_t i = 0; w->hdrs && i + 13 <= w->hlen; i++)
        if ((i == 0 || w->hdrs[i - 1] == '\n') && !strncasecmp(w->hdrs + i, "content-type:", 13))
            has_ct = true;
    if (r == 0 && !has_ct)
        r = corio_http_response_add_header(w, "Content-Type",
                                           corio__http_mime_type(name, strlen(name)));
    size_t vl;
    const char *ims = corio_http_request_header(req, "if-modified-since", &vl);
    const char *range = corio_http_request_header(req, "range", &vl);
    if (r == 0 && ims && !range) {
        struct tm tm = {0};
        char tmp[64];
        size_t n = strcspn(ims, "\r\n");
        if (n < sizeof tmp) {
            memcpy(tmp, ims, n);
            tmp[n] = 0;
            const char *e = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
            if (e && !*e && st.st_mtime <= timegm(&tm)) {
                close(fd);
                w->status = 304;
                return corio_http_response_end(w);
            }
        }
    }
    if (r == 0 && range && req->h.method == CORIO_HTTP_GET) {
        uint64_t a, b;
        int k = parse_range(range, vl, size, &a, &b);
        char cr[96];
        if (k < 0) {
            snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
            close(fd);
            if ((r = corio_http_response_set_header(w, "Content-Range", cr)) < 0)
                return r;
            w->status = 416;
            return corio_http_response_write_all(w, NULL, 0);
        }
        if (k > 0) {
            snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, size);
            r = corio_http_response_add_header(w, "Content-Range", cr);
            w->status = 206;
            from = a;
            len = b - a + 1;
        }
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    w->has_cl = true;
    w->cl = len;
    if (req->is_head || len == 0) {
        close(fd);
        return corio_http_response_end(w);
    }
    if (len <= SMALL_FILE) {
        /* Small: read it and send it with the head, in one write. */
        char buf[SMALL_FILE];
        ssize_t n = corio_read(fd, buf, (size_t)len, (int64_t)from, CORIO_FOREVER);
        close(fd);
        if (n != (ssize_t)len)
            return corio_http_response_error(w, 500);
        return corio_http_response_write_all(w, buf, (size_t)len);
    }
    /* The head goes into the stream's buffer, the body after it. */
    r = corio__hs_head_only(w);
    if (r == 0)
        r = send_body(w->c, fd, from, len);
    close(fd);
    if (r == 0) {
        w->written = len;
        r = corio_http_response_end(w);
    }
    return r;
}
