/* corio-downloads — libcurl's multi-socket API driven from the ring.
 *
 * Each loop has one CURLM. curl says which sockets to watch through
 * CURLMOPT_SOCKETFUNCTION and when to call it back through
 * CURLMOPT_TIMERFUNCTION; we answer with coroutines on the same loop:
 *
 *   poller coroutine (one per socket curl watches)
 *       corio_poll(fd, events)  ──ready──▶  curl_multi_socket_action(fd)
 *   timer coroutine (one per loop)
 *       corio_event_wait(kick, until curl's deadline)
 *           ──timed out──▶  curl_multi_socket_action(CURL_SOCKET_TIMEOUT)
 *
 * When curl changes a socket's events while its poller is suspended in
 * corio_poll, the poller is cancelled (its poll returns -ECANCELED) and a
 * new one is spawned; a change made from inside the poller's own
 * socket_action call just updates the events it polls for next. A poller
 * owns its record and frees it when it exits; curl's per-socket pointer is
 * always the live poller, so a dead one is never reached from curl.
 *
 * A transfer is a coroutine that adds its easy handle and awaits a future;
 * whichever coroutine sees curl report the transfer done (after a
 * socket_action) completes that future. Connections are cached by the
 * multi handle, so consecutive URLs on a loop reuse them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "downloads.h"

#define MAX_LOOPS 256

/* One loop's multi handle and its timer. */
typedef struct mctx {
    CURLM *multi;         /* the loop's multi handle */
    corio_event *kick;    /* set when the deadline changes or on stop */
    double deadline;      /* when to call curl back (dl_now() time); < 0: none */
    corio_future *timer;  /* the timer coroutine */
    bool stopping;        /* cleanup asked the timer coroutine to exit */
} mctx;

/* One watched socket. */
typedef struct poller {
    mctx *m;              /* its loop's context */
    curl_socket_t fd;     /* the socket */
    int what;             /* CURL_POLL_IN / OUT / INOUT */
    bool dead;            /* replaced or removed: exit at the next chance */
    bool in_action;       /* inside its own curl_multi_socket_action call */
    corio_future *f;      /* its coroutine (a reference we hold) */
} poller;

/* One transfer. */
typedef struct xfer {
    corio_future *done;   /* completed when curl reports the transfer done */
    CURLcode result;      /* curl's verdict */
    uint64_t bytes;       /* body bytes */
    long status;          /* response code, read once the head is complete */
    int fd;               /* output file, -1 to discard */
    int werr;             /* first write error */
    CURL *h;              /* the easy handle */
    dl_strict strict;     /* the head check (curl_strict.c) */
} xfer;

/* Slot k is touched only by loop k's coroutines. */
static mctx *ctxs[MAX_LOOPS];

static const corio_spawn_options curl_stack = {.stack_size = 256 * 1024};

/* Hand every finished transfer its result. */
static void check_done(mctx *m) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *h = msg->easy_handle;
        CURLcode res = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, h);
        if (x) {
            x->result = res;
            corio_future_set_result(x->done, NULL, NULL);
        }
    }
}

static void action(mctx *m, curl_socket_t fd, int mask) {
    int running;
    curl_multi_socket_action(m->multi, fd, mask, &running);
    check_done(m);
}

static int poller_main(void *arg, corio_value *out) {
    (void)out;
    poller *p = arg;
    while (!p->dead) {
        short ev = (short)(((p->what & CURL_POLL_IN) ? POLLIN : 0) |
                           ((p->what & CURL_POLL_OUT) ? POLLOUT : 0));
        int r = corio_poll(p->fd, ev, CORIO_FOREVER);
        if (p->dead || r == -ECANCELED)
            break;
        int mask = 0;
        if (r < 0)
            mask = CURL_CSELECT_ERR;
        else {
            if (r & POLLIN)
                dl_quickack(p->fd); /* see downloads.h */
            if (r & (POLLIN | POLLHUP))
                mask |= CURL_CSELECT_IN;
            if (r & POLLOUT)
                mask |= CURL_CSELECT_OUT;
            if (r & (POLLERR | POLLNVAL))
                mask |= CURL_CSELECT_ERR;
        }
        p->in_action = true;
        action(p->m, p->fd, mask);
        p->in_action = false;
    }
    corio_future *f = p->f;
    free(p);
    corio_future_unref(f); /* the loop holds its own until we return */
    return 0;
}

static poller *poller_start(mctx *m, curl_socket_t fd, int what) {
    poller *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    *p = (poller){.m = m, .fd = fd, .what = what};
    int err;
    p->f = corio_spawn_on(corio_runtime_current(), -1, poller_main, p, &curl_stack, &err);
    if (!p->f) {
        free(p);
        return NULL;
    }
    return p;
}

/* Retire a poller: it exits when it next runs and frees itself. */
static void poller_stop(poller *p) {
    p->dead = true;
    if (!p->in_action)
        corio_future_cancel(p->f); /* wakes it from corio_poll */
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    mctx *m = userp;
    poller *p = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (p)
            poller_stop(p);
        curl_multi_assign(m->multi, fd, NULL);
        return 0;
    }
    if (p && p->what == what)
        return 0;
    if (p && p->in_action) {
        p->what = what; /* its loop polls for the new events next */
        return 0;
    }
    if (p)
        poller_stop(p);
    p = poller_start(m, fd, what);
    curl_multi_assign(m->multi, fd, p);
    return p ? 0 : -1;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    mctx *m = userp;
    m->deadline = timeout_ms < 0 ? -1.0 : dl_now() + (double)timeout_ms * 1e-3;
    corio_event_set(m->kick);
    return 0;
}

static int timer_main(void *arg, corio_value *out) {
    (void)out;
    mctx *m = arg;
    while (!m->stopping) {
        double wait = CORIO_FOREVER;
        if (m->deadline >= 0) {
            wait = m->deadline - dl_now();
            if (wait < 0)
                wait = 0;
        }
        int r = corio_event_wait(m->kick, wait);
        if (r == 0) {
            corio_event_clear(m->kick);
            continue; /* the deadline moved, or stop: look again */
        }
        if (r != -ETIMEDOUT)
            break;
        m->deadline = -1;
        action(m, CURL_SOCKET_TIMEOUT, 0);
    }
    return 0;
}

static mctx *ctx_get(void) {
    int id = corio_loop_id();
    if (id < 0 || id >= MAX_LOOPS)
        return NULL;
    if (ctxs[id])
        return ctxs[id];
    mctx *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->deadline = -1;
    m->multi = curl_multi_init();
    if (!m->multi || corio_event_create(&m->kick) < 0)
        goto fail;
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 256L);
    int err;
    m->timer = corio_spawn_on(corio_runtime_current(), -1, timer_main, m, &curl_stack, &err);
    if (!m->timer)
        goto fail;
    ctxs[id] = m;
    return m;
fail:
    if (m->multi)
        curl_multi_cleanup(m->multi);
    corio_event_destroy(m->kick);
    free(m);
    return NULL;
}

void dl_curl_multi_loop_cleanup(void) {
    int id = corio_loop_id();
    if (id < 0 || id >= MAX_LOOPS || !ctxs[id])
        return;
    mctx *m = ctxs[id];
    m->stopping = true;
    corio_event_set(m->kick);
    corio_future_result(m->timer, CORIO_FOREVER, NULL);
    corio_future_unref(m->timer);
    /* Closing the cached connections calls on_socket(REMOVE): their
     * pollers are retired and exit on their own. */
    curl_multi_cleanup(m->multi);
    corio_event_destroy(m->kick);
    free(m);
    ctxs[id] = NULL;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
    xfer *x = userdata;
    size_t n = size * nmemb;
    if (x->status == 0)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status < 200 || x->status > 299)
        return CURL_WRITEFUNC_ERROR;
    x->bytes += n;
    for (size_t off = 0; x->fd >= 0 && off < n;) {
        /* A plain write: the file is local and curl calls us from a
         * poller coroutine, where a suspension would be fine too, but a
         * disk write is not worth a ring round trip per chunk. */
        ssize_t w = write(x->fd, ptr + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            x->werr = -errno;
            return CURL_WRITEFUNC_ERROR;
        }
        off += (size_t)w;
    }
    return n;
}

void dl_curl_multi_fetch(const dl_options *o, const char *url, const char *out_path,
                         dl_result *r) {
    double t0 = dl_now();
    r->code = 0;
    r->status = 0;
    r->bytes = 0;
    r->error[0] = 0;
    xfer x = {.fd = -1};
    char cerr[CURL_ERROR_SIZE] = "";
    mctx *m = ctx_get();
    if (!m) {
        if (*dl_curl_error())
            dl_fail(r, -ENOSYS, "%s", dl_curl_error());
        else
            dl_fail(r, -ENOMEM, "cannot set up curl on this loop");
        goto out;
    }
    if (out_path) {
        x.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (x.fd < 0) {
            dl_fail(r, -errno, "cannot create %s: %s", out_path, strerror(errno));
            goto out;
        }
    }
    x.done = corio_future_create();
    x.h = curl_easy_init();
    if (!x.done || !x.h) {
        dl_fail(r, -ENOMEM, "%s", x.done && *dl_curl_error() ? dl_curl_error() : "out of memory");
        goto out;
    }
    curl_easy_setopt(x.h, CURLOPT_URL, url);
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(x.h, CURLOPT_PRIVATE, &x);
    curl_easy_setopt(x.h, CURLOPT_HEADERFUNCTION, dl_strict_header);
    curl_easy_setopt(x.h, CURLOPT_HEADERDATA, &x.strict);
    curl_easy_setopt(x.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x.h, CURLOPT_USERAGENT, "corio-downloads");
    curl_easy_setopt(x.h, CURLOPT_BUFFERSIZE, 512L * 1024L);
    curl_easy_setopt(x.h, CURLOPT_ERRORBUFFER, cerr);
    if (o->timeout > 0)
        curl_easy_setopt(x.h, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1e3));
    CURLMcode mc = curl_multi_add_handle(m->multi, x.h);
    if (mc != CURLM_OK) {
        dl_fail(r, -EIO, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        goto out;
    }
    int rc = corio_future_result(x.done, CORIO_FOREVER, NULL);
    if (rc < 0) { /* cancelled: the runtime is stopping */
        curl_multi_remove_handle(m->multi, x.h);
        dl_fail(r, rc, "%s", corio_strerror(rc));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
    if (x.strict.bad)
        dl_fail(r, CORIO_EHTTP_PROTOCOL, "malformed response: %s", x.strict.bad);
    else if (status != 0 && (status < 200 || status > 299))
        dl_fail(r, -EPROTO, "HTTP %ld", status);
    else if (x.result != CURLE_OK) {
        if (x.werr)
            dl_fail(r, x.werr, "write %s: %s", out_path, strerror(-x.werr));
        else
            dl_fail(r, x.result == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                       : x.result == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                                                            : -EIO,
                    "%s", cerr[0] ? cerr : curl_easy_strerror(x.result));
    } else
        r->bytes = x.bytes;
out:
    if (x.h)
        curl_easy_cleanup(x.h);
    corio_future_unref(x.done);
    if (x.fd >= 0)
        close(x.fd);
    r->ms = (dl_now() - t0) * 1e3;
}
