/* A keep-alive HTTPS "hello" server on the TLS layer alone (corio/tls.h
 * over corio/stream.h, no HTTP library): the floor under any HTTPS server
 * built on corio. Used by https_vs_nginx.sh against nginx with TLS.
 *
 *   bench_tls_hello CERT KEY [LOOPS] [ktls: auto|off|on]
 *
 * Prints "listening on 127.0.0.1:PORT" once it accepts, then serves until
 * SIGTERM or SIGINT. Each request head (up to its empty line) is answered
 * with the 13-byte body "Hello, world!"; pipelined heads are answered
 * together, flushed when nothing more is buffered. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"

static corio_tls_context *ctx;
static corio_listener *lst;

static const char answer[] = "HTTP/1.1 200 OK\r\nServer: corio\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 13\r\n\r\nHello, world!";

static int conn_fn(void *arg, corio_value *out) {
    (void)out;
    int fd = (int)(intptr_t)arg;
    corio_stream *s = NULL;
    if (corio_tls_accept(ctx, fd, NULL, 10.0, &s) < 0) {
        corio_close(fd);
        return 0;
    }
    for (;;) {
        const void *head;
        ssize_t n = corio_stream_read_until(s, "\r\n\r\n", 4, 8192, &head, 60.0);
        if (n <= 0)
            break;
        corio_stream_consume(s, (size_t)n);
        if (corio_stream_write(s, answer, sizeof answer - 1, 10.0) < 0)
            break;
        if (corio_stream_buffered(s) == 0 && corio_stream_flush(s, 10.0) < 0)
            break;
    }
    corio_stream_destroy(s);
    return 0;
}

static int accept_fn(void *arg, corio_value *out) {
    (void)out;
    (void)arg;
    for (;;) {
        int fd = corio_listener_accept(lst, NULL, NULL, -1);
        if (fd < 0)
            return 0;
        int err = 0;
        corio_future *f = corio_spawn(conn_fn, (void *)(intptr_t)fd, &err);
        if (f)
            corio_future_unref(f);
        else
            corio_close(fd);
    }
}

static int main_fn(void *arg, corio_value *out) {
    (void)out;
    corio_runtime *rt = arg;
    corio_listen_options lo = {.reuseport = true, .runtime = rt};
    int r = corio_listen("127.0.0.1", "0", &lo, &lst);
    if (r < 0) {
        fprintf(stderr, "listen: %s\n", corio_strerror(r));
        return r;
    }
    int loops = corio_runtime_loops(rt);
    corio_future **f = calloc((size_t)loops, sizeof *f);
    for (int i = 0; i < loops; i++) {
        int err = 0;
        f[i] = corio_spawn_on(rt, i, accept_fn, NULL, NULL, &err);
    }
    printf("listening on 127.0.0.1:%d\n", corio_listener_port(lst));
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    corio_signal_wait(&set, -1, NULL);
    for (int i = 0; i < loops; i++) {
        corio_future_cancel(f[i]);
        corio_future_result(f[i], 5.0, NULL);
        corio_future_unref(f[i]);
    }
    free(f);
    corio_listener_destroy(lst);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CERT KEY [LOOPS] [auto|off|on]\n", argv[0]);
        return 2;
    }
    int loops = argc > 3 ? atoi(argv[3]) : 1;
    int ktls = CORIO_TLS_KTLS_AUTO;
    if (argc > 4)
        ktls = !strcmp(argv[4], "off") ? CORIO_TLS_KTLS_OFF
               : !strcmp(argv[4], "on") ? CORIO_TLS_KTLS_ON : CORIO_TLS_KTLS_AUTO;
    corio_tls_options o = {.role = CORIO_TLS_SERVER, .cert_file = argv[1], .key_file = argv[2],
                           .ktls = ktls};
    int r = corio_tls_context_create(&o, &ctx);
    if (r < 0) {
        fprintf(stderr, "tls: %s: %s\n", corio_strerror(r), corio_tls_last_error());
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    corio_signal_block(&set);
    corio_runtime_options ro = {.loops = loops};
    corio_runtime *rt;
    if ((r = corio_runtime_create(&ro, &rt)) < 0) {
        fprintf(stderr, "runtime: %s\n", corio_strerror(r));
        return 1;
    }
    int err = 0;
    corio_future *m = corio_spawn_on(rt, 0, main_fn, rt, NULL, &err);
    r = m ? corio_future_result(m, -1, NULL) : err;
    if (m)
        corio_future_unref(m);
    corio_runtime_destroy(rt);
    corio_tls_context_destroy(ctx);
    return r < 0;
}
