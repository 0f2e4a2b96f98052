/* corio-downloads — one blocking transfer with libcurl's easy interface.
 *
 * Used by the seq, threads and procs modes: it is urllib.request.urlopen
 * of the seeds' load_url. The easy handles live on a mutex-guarded stack:
 * a transfer pops one (or creates one), uses it, and pushes it back, so a
 * thread that downloads one URL after another reuses the handle and with it
 * the kept-alive connection, and nothing leaks at exit. A forked process
 * starts with an empty stack (see handle_get).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "downloads.h"

/* The stack of idle easy handles, shared by every thread of the process. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
/* An easy handle and the socket of the connection it opened last (see
 * on_sockopt): the connection a kept-alive transfer reuses. */
typedef struct easy {
    CURL *h;
    int sock; /* -1: none yet */
} easy;

static easy **handles;      /* idle handles (guarded by handles_lock) */
static size_t n_handles;    /* entries used */
static size_t cap_handles;  /* entries allocated */
static pid_t handles_pid;   /* the process the handles belong to */

double dl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void dl_quickack(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one); /* not TCP: no-op */
}

void dl_fail(dl_result *r, int code, const char *fmt, ...) {
    r->code = code < 0 ? code : CORIO_ETASK;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

char *dl_out_path(const char *dir, const char *url, size_t index) {
    if (!dir)
        return NULL;
    /* The last path segment, without query, restricted to a safe alphabet;
     * prefixed with the index so two URLs never collide. */
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    const char *base = "index";
    size_t blen = 5;
    if (slash) {
        const char *end = slash + strcspn(slash, "?#");
        const char *last = end;
        while (last > slash && last[-1] != '/')
            last--;
        if (end > last) {
            base = last;
            blen = (size_t)(end - last);
        }
    }
    char name[128];
    size_t k = 0;
    for (size_t i = 0; i < blen && k + 1 < sizeof name; i++) {
        char c = base[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        name[k++] = ok ? c : '_';
    }
    name[k] = 0;
    size_t n = strlen(dir) + k + 32;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%05zu-%s", dir, index, name);
    return path;
}

static easy *handle_get(void) {
    easy *e = NULL;
    pthread_mutex_lock(&handles_lock);
    if (handles_pid != getpid()) {
        /* A process-pool worker inherits the parent's idle handles, and
         * with them the parent's connected sockets: a transfer on one
         * would share a TCP connection with the parent and with every
         * other worker, and read their responses. Forget them (they are
         * this process's copies; the parent still owns the originals). */
        n_handles = 0;
        handles_pid = getpid();
    }
    if (n_handles > 0)
        e = handles[--n_handles];
    pthread_mutex_unlock(&handles_lock);
    if (e)
        return e;
    e = malloc(sizeof *e);
    if (!e)
        return NULL;
    *e = (easy){.h = curl_easy_init(), .sock = -1};
    if (!e->h) {
        free(e);
        return NULL;
    }
    return e;
}

static void handle_free(easy *e) {
    curl_easy_cleanup(e->h); /* closes its connections first */
    free(e);
}

static void handle_put(easy *e) {
    pthread_mutex_lock(&handles_lock);
    if (n_handles == cap_handles) {
        size_t cap = cap_handles ? cap_handles * 2 : 16;
        easy **a = realloc(handles, cap * sizeof *a);
        if (!a) {
            pthread_mutex_unlock(&handles_lock);
            handle_free(e);
            return;
        }
        handles = a;
        cap_handles = cap;
    }
    handles[n_handles++] = e;
    pthread_mutex_unlock(&handles_lock);
}

void dl_fetch_easy_cleanup(void) {
    pthread_mutex_lock(&handles_lock);
    for (size_t i = 0; i < n_handles; i++)
        handle_free(handles[i]);
    free(handles);
    handles = NULL;
    n_handles = cap_handles = 0;
    pthread_mutex_unlock(&handles_lock);
}

/* What the write callback needs. */
typedef struct sink {
    uint64_t bytes; /* body bytes seen */
    int fd;         /* output file, -1 to discard */
    int werr;       /* first write error (-errno), 0 if none */
    long status;    /* response code, read once the head is complete */
    easy *e;        /* the transfer, to read the status */
} sink;

/* curl calls this for each socket it opens, a kept-alive connection's only
 * when it is opened: remember it for this handle's later transfers. */
static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose) {
    if (purpose == CURLSOCKTYPE_IPCXN)
        ((easy *)clientp)->sock = (int)fd;
    return CURL_SOCKOPT_OK;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
    sink *s = userdata;
    size_t n = size * nmemb;
    if (s->status == 0) { /* the transfer's first data */
        /* No delayed ACKs while the rest of the response comes in (see
         * downloads.h): once per transfer, as curl sends nothing meanwhile.
         * The socket is the one this handle opened last: with one
         * connection per handle, the one in use. (CURLINFO_ACTIVESOCKET
         * only knows it once the transfer is over.) */
        if (s->e->sock >= 0)
            dl_quickack(s->e->sock);
        curl_easy_getinfo(s->e->h, CURLINFO_RESPONSE_CODE, &s->status);
    }
    /* A non-2xx body is not the document: stop at once (the caller reports
     * the status, as urllib raises HTTPError). */
    if (s->status < 200 || s->status > 299)
        return CURL_WRITEFUNC_ERROR;
    s->bytes += n;
    if (s->fd >= 0) {
        for (size_t off = 0; off < n;) {
            ssize_t w = write(s->fd, ptr + off, n - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                s->werr = -errno;
                return CURL_WRITEFUNC_ERROR;
            }
            off += (size_t)w;
        }
    }
    return n;
}

/* Map a curl failure to a negative errno-style code. */
static int curl_code(CURLcode c) {
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
    case CURLE_RECV_ERROR: return -ECONNRESET;
    case CURLE_SEND_ERROR: return -EPIPE;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    default: return -EIO;
    }
}

void dl_fetch_easy(const char *url, double timeout, const char *out_path, dl_result *r) {
    double t0 = dl_now();
    r->code = 0;
    r->status = 0;
    r->bytes = 0;
    r->error[0] = 0;
    sink s = {.fd = -1};
    if (out_path) {
        s.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s.fd < 0) {
            dl_fail(r, -errno, "cannot create %s: %s", out_path, strerror(errno));
            r->ms = (dl_now() - t0) * 1e3;
            return;
        }
    }
    easy *e = handle_get();
    if (!e) {
        dl_fail(r, -ENOMEM, "curl_easy_init failed%s%s", *dl_curl_error() ? ": " : "",
                dl_curl_error());
        goto out;
    }
    s.e = e;
    CURL *h = e->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, e);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    dl_strict strict = {0};
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, dl_strict_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &strict);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "corio-downloads");
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024L);
    if (timeout > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1e3));
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode c = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
    if (strict.bad) {
        dl_fail(r, CORIO_EHTTP_PROTOCOL, "malformed response: %s", strict.bad);
    } else if (status != 0 && (status < 200 || status > 299)) {
        dl_fail(r, -EPROTO, "HTTP %ld", status);
        r->bytes = 0;
    } else if (c != CURLE_OK) {
        if (s.werr)
            dl_fail(r, s.werr, "write %s: %s", out_path, strerror(-s.werr));
        else
            dl_fail(r, curl_code(c), "%s", cerr[0] ? cerr : curl_easy_strerror(c));
    } else {
        r->bytes = s.bytes;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    handle_put(e);
out:
    if (s.fd >= 0)
        close(s.fd);
    r->ms = (dl_now() - t0) * 1e3;
}
