/* A scripted HTTP/1.1 origin server for the client tests.
 *
 * Bound to 127.0.0.1 on a port the kernel picks (corio_listen), accepting on
 * a plain thread and serving each connection on a thread of its own with
 * blocking read/write, so it never shares a loop with the client under
 * test. It counts connections (total, open now, most open at once) so the
 * tests can check pooling and the per-origin limit from the server's side.
 *
 * Paths (the request target decides the answer):
 *   /len/N          200, Content-Length N, bytes 'a'..'z' repeated
 *   /chunked        200, chunked "hello, chunked world" in 4 chunks + trailer
 *   /close          200, no length, "until close", then closes
 *   /echo           200, body "METHOD TARGET BODY"
 *   /redir/N        302 to /redir/N-1; /redir/0 answers /echo's way
 *   /loop           302 to /loop
 *   /303, /307      303 or 307 to /echo
 *   /rel/a/b        301 to "../c?x=1" (resolves to /rel/c?x=1)
 *   /abs            302 to http://127.0.0.1:PORT/echo (the same server)
 *   /hold           waits 50 ms, then 200 "held" (keeps connections busy)
 *   /once           first request of a connection: 200 "once"; later
 *                   requests on it: the connection is closed unanswered
 *   /midbody        Content-Length 100, 10 bytes, close
 *   /midchunk       chunked, one chunk, close
 *   /silent         reads the request, never answers
 *   /trickle        Content-Length 1000, one byte every 20 ms
 *   /bighead        200 with an 8 KiB field
 *   /bad/dupcl /bad/clte /bad/barecr /bad/obsfold /bad/status
 *                   malformed responses
 *   /head204        204 (no body) ; /notmod 304 with a Content-Length
 *   /interim        100 Continue, then 200 "after 100"
 *   /toloc          302 to http://localhost:PORT/hdrs (another origin)
 *   /hdrs           200, body: the Authorization, Cookie, X-Keep, Host and
 *                   User-Agent values received, one "Name=value" per line
 */
#ifndef CORIO_T_HTTP_ORIGIN_H
#define CORIO_T_HTTP_ORIGIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"

#define T_ORIGIN_MAX_CONNS 256

typedef struct t_origin {
    corio_listener *l;              /* listening socket */
    int port;                       /* its port */
    pthread_t acceptor;             /* accept thread */
    pthread_t workers[T_ORIGIN_MAX_CONNS]; /* one per connection */
    int fds[T_ORIGIN_MAX_CONNS];    /* their sockets */
    atomic_int nconns;              /* connections accepted so far */
    atomic_int open;                /* connections open now */
    atomic_int max_open;            /* most open at once */
    atomic_int requests;            /* requests read */
} t_origin;

typedef struct t_conn {
    t_origin *o; /* the server */
    int fd;      /* the connection */
} t_conn;

static void t_origin_send(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void t_origin_sends(int fd, const char *s) { t_origin_send(fd, s, strlen(s)); }

static void t_origin_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The head of the request being answered, NUL-terminated (per worker). */
static _Thread_local char t_origin_head[65536];

/* Answer one request; returns false when the connection must close. */
static bool t_origin_answer(t_origin *o, int fd, int nth, const char *method, const char *target,
                            const char *body, size_t blen) {
    char buf[16384];
    if (!strncmp(target, "/len/", 5)) {
        long n = atol(target + 5);
        snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", n);
        t_origin_sends(fd, buf);
        for (long i = 0; i < n;) {
            size_t k = 0;
            for (; k < sizeof buf && i < n; k++, i++)
                buf[k] = (char)('a' + i % 26);
            t_origin_send(fd, buf, k);
        }
        return true;
    }
    if (!strcmp(target, "/chunked")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n2;ext=1\r\n, \r\n7\r\nchunked\r\n6\r\n world\r\n"
                           "0\r\nX-Trailer: yes\r\n\r\n");
        return true;
    }
    if (!strcmp(target, "/close")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close");
        return false;
    }
    if (!strcmp(target, "/loop")) {
        t_origin_sends(fd, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
        return true;
    }
    if (!strncmp(target, "/redir/", 7) && atoi(target + 7) > 0) {
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 302 Found\r\nLocation: /redir/%d\r\nContent-Length: 5\r\n\r\nmoved",
                 atoi(target + 7) - 1);
        t_origin_sends(fd, buf);
        return true;
    }
    if (!strcmp(target, "/303") || !strcmp(target, "/307")) {
        snprintf(buf, sizeof buf, "HTTP/1.1 %s x\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n",
                 target + 1);
        t_origin_sends(fd, buf);
        return true;
    }
    if (!strcmp(target, "/rel/a/b")) {
        t_origin_sends(fd, "HTTP/1.1 301 Moved\r\nLocation: ../c?x=1#frag\r\n"
                           "Content-Length: 0\r\n\r\n");
        return true;
    }
    if (!strcmp(target, "/abs")) {
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/echo\r\n"
                 "Content-Length: 0\r\n\r\n",
                 o->port);
        t_origin_sends(fd, buf);
        return true;
    }
    if (!strcmp(target, "/hold")) {
        t_origin_ms(50);
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nheld");
        return true;
    }
    if (!strcmp(target, "/once")) {
        if (nth > 0)
            return false;
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce");
        return true;
    }
    if (!strcmp(target, "/midbody")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        return false;
    }
    if (!strcmp(target, "/midchunk")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n");
        return false;
    }
    if (!strcmp(target, "/silent")) {
        char c;
        while (recv(fd, &c, 1, 0) > 0) {
        }
        return false;
    }
    if (!strcmp(target, "/trickle")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        for (int i = 0; i < 1000; i++) {
            t_origin_ms(20);
            if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
                break;
        }
        return false;
    }
    if (!strcmp(target, "/bighead")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nX-Big: ");
        memset(buf, 'b', 8192);
        t_origin_send(fd, buf, 8192);
        t_origin_sends(fd, "\r\nContent-Length: 0\r\n\r\n");
        return true;
    }
    if (!strcmp(target, "/bad/dupcl")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde");
        return false;
    }
    if (!strcmp(target, "/bad/clte")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
                           "\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        return false;
    }
    if (!strcmp(target, "/bad/barecr")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 0\r\n\r\n");
        return false;
    }
    if (!strcmp(target, "/bad/obsfold")) {
        t_origin_sends(fd, "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n");
        return false;
    }
    if (!strcmp(target, "/bad/status")) {
        t_origin_sends(fd, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
        return false;
    }
    if (!strcmp(target, "/head204")) {
        t_origin_sends(fd, "HTTP/1.1 204 No Content\r\n\r\n");
        return true;
    }
    if (!strcmp(target, "/notmod")) {
        t_origin_sends(fd, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
        return true;
    }
    if (!strcmp(target, "/toloc") || !strcmp(target, "/tosame")) {
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 302 Found\r\nLocation: http://%s:%d/hdrs\r\n"
                 "Content-Length: 0\r\n\r\n",
                 target[3] == 'l' ? "localhost" : "127.0.0.1", o->port);
        t_origin_sends(fd, buf);
        return true;
    }
    if (!strcmp(target, "/hdrs")) {
        static const char *names[] = {"Authorization", "Cookie", "X-Keep", "Host", "User-Agent"};
        int bl = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char pat[64];
            snprintf(pat, sizeof pat, "\r\n%s: ", names[i]);
            const char *v = strcasestr(t_origin_head, pat);
            if (v) {
                v += strlen(pat);
                bl += snprintf(buf + bl, sizeof buf - (size_t)bl, "%s=%.*s\n", names[i],
                               (int)strcspn(v, "\r"), v);
            }
        }
        char head[128];
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", bl);
        t_origin_sends(fd, head);
        t_origin_send(fd, buf, (size_t)bl);
        return true;
    }
    if (!strcmp(target, "/interim")) {
        t_origin_sends(fd, "HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nafter 100");
        return true;
    }
    /* /echo, /redir/0 and anything else: echo method, target and body. */
    int bl = snprintf(buf, sizeof buf, "%s %s %.*s", method, target, (int)blen, body);
    char head[128];
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", bl);
    t_origin_sends(fd, head);
    if (strcmp(method, "HEAD"))
        t_origin_send(fd, buf, (size_t)bl);
    return true;
}

static void *t_origin_serve(void *arg) {
    t_conn *tc = arg;
    t_origin *o = tc->o;
    int fd = tc->fd;
    free(tc);
    int now = atomic_fetch_add(&o->open, 1) + 1;
    for (int m = atomic_load(&o->max_open); now > m;)
        if (atomic_compare_exchange_weak(&o->max_open, &m, now))
            break;
    char req[65536];
    size_t have = 0;
    for (int nth = 0;; nth++) {
        char *end;
        while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
            if (have == sizeof req)
                goto out;
            ssize_t n = recv(fd, req + have, sizeof req - have, 0);
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        size_t hl = (size_t)(end - req) + 4;
        char method[16] = "", target[1024] = "";
        sscanf(req, "%15s %1023s", method, target);
        size_t cl = 0;
        char *p = strcasestr(req, "\r\nContent-Length:");
        if (p && p < end)
            cl = (size_t)atol(p + 17);
        while (have < hl + cl && have < sizeof req) {
            ssize_t n = recv(fd, req + have, sizeof req - have, 0);
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        atomic_fetch_add(&o->requests, 1);
        memcpy(t_origin_head, req, hl);
        t_origin_head[hl] = '\0';
        bool keep = t_origin_answer(o, fd, nth, method, target, req + hl, cl);
        memmove(req, req + hl + cl, have - hl - cl);
        have -= hl + cl;
        if (!keep)
            break;
    }
out:
    atomic_fetch_sub(&o->open, 1);
    shutdown(fd, SHUT_RDWR);
    return NULL;
}

static void *t_origin_accept(void *arg) {
    t_origin *o = arg;
    for (;;) {
        int fd = corio_listener_accept(o->l, NULL, NULL, CORIO_FOREVER);
        if (fd < 0)
            return NULL;
        int k = atomic_load(&o->nconns);
        if (k >= T_ORIGIN_MAX_CONNS) {
            close(fd);
            continue;
        }
        t_conn *tc = malloc(sizeof *tc);
        tc->o = o;
        tc->fd = fd;
        o->fds[k] = fd;
        /* Counted before the worker can answer, so a client that got its
         * response sees the connection counted. */
        atomic_store(&o->nconns, k + 1);
        pthread_create(&o->workers[k], NULL, t_origin_serve, tc);
    }
}

/* Start a server; returns its port. */
static int t_origin_start(t_origin *o) {
    memset(o, 0, sizeof *o);
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &o->l), 0);
    o->port = corio_listener_port(o->l);
    pthread_create(&o->acceptor, NULL, t_origin_accept, o);
    return o->port;
}

/* Stop accepting, end every connection, join every thread. */
static void t_origin_stop(t_origin *o) {
    corio_listener_close(o->l);
    pthread_join(o->acceptor, NULL);
    int n = atomic_load(&o->nconns);
    for (int i = 0; i < n; i++)
        shutdown(o->fds[i], SHUT_RDWR);
    for (int i = 0; i < n; i++) {
        pthread_join(o->workers[i], NULL);
        close(o->fds[i]);
    }
    corio_listener_destroy(o->l);
}

/* "http://127.0.0.1:PORT" + path into buf. */
static const char *t_origin_url(const t_origin *o, const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "http://127.0.0.1:%d%s", o->port, path);
    return buf;
}

#endif /* CORIO_T_HTTP_ORIGIN_H */
