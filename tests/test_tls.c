/* TLS (corio/tls.h): contexts, handshakes on both paths (ring and kTLS
 * socket), verification failures, SNI, ALPN, resumption, close_notify,
 * peers that are not TLS or stop mid-handshake, bulk data. A throw-away
 * PKI is made at test time by tests/tls/make_certs.sh (openssl CLI) in a
 * temporary directory; servers listen on 127.0.0.1 only. The interop
 * checks with openssl s_client and curl are in test_tls_interop.c. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio.h"
#include "t_helpers.h"
#include "t_tls.h"

/* ---- a server coroutine and a client, in one runtime ---- */

enum srv_mode {
    SRV_ECHO,        /* TLS: echo one line, then read to the end */
    SRV_BULK,        /* TLS: read `bulk` bytes, send them back */
    SRV_PLAIN_HTTP,  /* no TLS: answer like a plain HTTP server */
    SRV_SILENT,      /* no TLS: accept and say nothing until the client leaves */
    SRV_HANG_UP,     /* no TLS: read the ClientHello, close */
};

typedef struct pair {
    corio_tls_context *sctx, *cctx; /* server and client contexts */
    int mode;                       /* enum srv_mode */
    const char *name;               /* server name the client asks for */
    double timeout;                 /* client handshake timeout (0: 10 s) */
    size_t bulk;                    /* SRV_BULK: bytes each way */
    corio_listener *l;
    int port;
    /* results */
    int cli;                        /* client handshake result */
    int srv;                        /* server handshake result */
    int srv_eof;                    /* server's read at the end (0: clean) */
    int bulk_ok;                    /* the bulk bytes came back intact */
    corio_tls_info ci, si;          /* both sides' info */
    char srv_sni[64], cli_alpn[32], srv_alpn[32];
    char cli_err[256];
} pair;

static unsigned char pat(size_t i) { return (unsigned char)(i * 7 + (i >> 9)); }

/* The echo server's part (a coroutine or a plain thread): read one line,
 * send it back with its newline, flush. */
static void echo_line(corio_stream *s) {
    const char *line;
    size_t len;
    if (corio_stream_read_line(s, 1024, &line, &len, 10.0) == 1) {
        char copy[1025];
        memcpy(copy, line, len);
        copy[len++] = '\n';
        corio_stream_write(s, copy, len, 10.0);
        corio_stream_flush(s, 10.0);
    }
}

static int server_fn(void *arg, corio_value *out) {
    (void)out;
    pair *p = arg;
    int fd = corio_listener_accept(p->l, NULL, NULL, 10.0);
    if (fd < 0)
        return fd;
    char buf[4096];
    switch (p->mode) {
    case SRV_PLAIN_HTTP: {
        corio_recv(fd, buf, sizeof buf, 0, 5.0);
        const char *a = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        corio_send(fd, a, strlen(a), 0, 5.0);
        corio_close(fd);
        return 0;
    }
    case SRV_SILENT:
        while (corio_recv(fd, buf, sizeof buf, 0, 20.0) > 0) {
        }
        corio_close(fd);
        return 0;
    case SRV_HANG_UP:
        corio_recv(fd, buf, sizeof buf, 0, 5.0);
        corio_close(fd);
        return 0;
    default:
        break;
    }
    corio_stream *s = NULL;
    p->srv = corio_tls_accept(p->sctx, fd, NULL, 10.0, &s);
    if (p->srv < 0) {
        corio_close(fd);
        return 0;
    }
    corio_tls_get_info(s, &p->si);
    snprintf(p->srv_sni, sizeof p->srv_sni, "%s", p->si.server_name);
    snprintf(p->srv_alpn, sizeof p->srv_alpn, "%s", p->si.alpn);
    if (p->mode == SRV_ECHO) {
        echo_line(s);
        p->srv_eof = (int)corio_stream_read(s, buf, sizeof buf, 10.0);
    } else if (p->mode == SRV_BULK) {
        unsigned char *b = malloc(p->bulk);
        ssize_t n = corio_stream_read_exact(s, b, p->bulk, 30.0);
        int ok = n == (ssize_t)p->bulk;
        for (size_t i = 0; ok && i < p->bulk; i++)
            ok = b[i] == pat(i);
        p->bulk_ok = ok;
        corio_stream_write(s, b, p->bulk, 30.0);
        corio_stream_flush(s, 30.0);
        free(b);
        p->srv_eof = (int)corio_stream_read(s, buf, sizeof buf, 10.0);
    }
    corio_stream_destroy(s);
    return 0;
}

static int client_fn(void *arg, corio_value *out) {
    (void)out;
    pair *p = arg;
    corio_listen_options lo = {0};
    char want[16];
    snprintf(want, sizeof want, "%d", p->port); /* 0: any; else the same again */
    ck_assert_int_eq(corio_listen("127.0.0.1", want, &lo, &p->l), 0);
    p->port = corio_listener_port(p->l);
    int err = 0;
    corio_future *f = corio_spawn(server_fn, p, &err);
    ck_assert_ptr_nonnull(f);
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    int fd = corio_dial("127.0.0.1", port, 10.0);
    ck_assert_int_ge(fd, 0);
    corio_stream *s = NULL;
    p->cli = corio_tls_connect(p->cctx, fd, p->name, NULL, p->timeout ? p->timeout : 10.0, &s);
    snprintf(p->cli_err, sizeof p->cli_err, "%s", corio_tls_last_error());
    if (p->cli < 0) {
        corio_close(fd);
    } else {
        corio_tls_get_info(s, &p->ci);
        snprintf(p->cli_alpn, sizeof p->cli_alpn, "%s", p->ci.alpn);
        if (p->mode == SRV_ECHO) {
            ck_assert_int_eq(corio_stream_write(s, "hello tls\n", 10, 10.0), 10);
            ck_assert_int_eq(corio_stream_flush(s, 10.0), 0);
            const char *line;
            size_t len;
            ck_assert_int_eq(corio_stream_read_line(s, 1024, &line, &len, 10.0), 1);
            ck_assert_str_eq(line, "hello tls");
            /* close_notify: the server's next read is a clean end. */
            ck_assert_int_eq(corio_stream_shutdown(s, SHUT_WR, 10.0), 0);
        } else if (p->mode == SRV_BULK) {
            unsigned char *b = malloc(p->bulk);
            for (size_t i = 0; i < p->bulk; i++)
                b[i] = pat(i);
            ck_assert_int_eq(corio_stream_write(s, b, p->bulk, 30.0), (ssize_t)p->bulk);
            ck_assert_int_eq(corio_stream_flush(s, 30.0), 0);
            memset(b, 0, p->bulk);
            ck_assert_int_eq(corio_stream_read_exact(s, b, p->bulk, 30.0), (ssize_t)p->bulk);
            for (size_t i = 0; i < p->bulk; i++)
                if (b[i] != pat(i))
                    ck_abort_msg("byte %zu differs", i);
            free(b);
            ck_assert_int_eq(corio_stream_shutdown(s, SHUT_WR, 10.0), 0);
        }
        corio_stream_destroy(s);
    }
    ck_assert_int_eq(corio_future_result(f, 30.0, NULL), 0);
    corio_future_unref(f);
    corio_listener_destroy(p->l);
    return 0;
}

static void run_pair(pair *p) {
    corio_runtime_options o = {.loops = 1, .stack_size = 256 * 1024, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, client_fn, p, NULL), 0);
}

/* ---- contexts ---- */

static corio_tls_context *server_ctx(const char *leaf, const char *alpn, int ktls) {
    char cert[600], key[600];
    t_tls_file(cert, sizeof cert, leaf, "pem");
    t_tls_file(key, sizeof key, leaf, "key");
    corio_tls_options o = {.role = CORIO_TLS_SERVER, .cert_file = cert, .key_file = key,
                           .alpn = alpn, .ktls = ktls};
    corio_tls_context *c = NULL;
    int r = corio_tls_context_create(&o, &c);
    ck_assert_msg(r == 0, "server context: %s (%s)", corio_strerror(r), corio_tls_last_error());
    return c;
}

static corio_tls_context *client_ctx(int insecure, const char *alpn, int ktls) {
    char ca[600];
    t_tls_file(ca, sizeof ca, "ca", "pem");
    corio_tls_options o = {.role = CORIO_TLS_CLIENT, .ca_file = ca, .insecure = insecure,
                           .alpn = alpn, .ktls = ktls};
    corio_tls_context *c = NULL;
    int r = corio_tls_context_create(&o, &c);
    ck_assert_msg(r == 0, "client context: %s (%s)", corio_strerror(r), corio_tls_last_error());
    return c;
}

static void pair_free(pair *p) {
    corio_tls_context_destroy(p->sctx);
    corio_tls_context_destroy(p->cctx);
}

START_TEST(test_context_errors) {
    t_tls_setup();
    corio_tls_context *c = (corio_tls_context *)1;
    ck_assert_int_eq(corio_tls_context_create(NULL, &c), -EINVAL);
    ck_assert_ptr_null(c);
    corio_tls_options o = {.role = CORIO_TLS_SERVER};
    ck_assert_int_eq(corio_tls_context_create(&o, &c), -EINVAL); /* no certificate */
    o.role = 7;
    ck_assert_int_eq(corio_tls_context_create(&o, &c), -EINVAL);
    char cert[600], key[600], other_key[600];
    t_tls_file(cert, sizeof cert, "server", "pem");
    t_tls_file(key, sizeof key, "server", "key");
    t_tls_file(other_key, sizeof other_key, "other", "key");
    o = (corio_tls_options){.role = CORIO_TLS_SERVER, .cert_file = "/nonexistent.pem",
                            .key_file = key};
    ck_assert_int_eq(corio_tls_context_create(&o, &c), CORIO_ETLS_CONFIG);
    ck_assert_ptr_nonnull(strstr(corio_tls_last_error(), "/nonexistent.pem"));
    o.cert_file = cert;
    o.key_file = other_key; /* not this certificate's key */
    ck_assert_int_eq(corio_tls_context_create(&o, &c), CORIO_ETLS_CONFIG);
    o.key_file = key;
    o.alpn = "h2,,http/1.1";
    ck_assert_int_eq(corio_tls_context_create(&o, &c), -EINVAL);
    o.alpn = "h2,";
    ck_assert_int_eq(corio_tls_context_create(&o, &c), -EINVAL);
    o.alpn = NULL;
    o.ciphers = "NO-SUCH-CIPHER";
    ck_assert_int_eq(corio_tls_context_create(&o, &c), CORIO_ETLS_CONFIG);
    o.ciphers = NULL;
    o.min_version = 0x0301;
    ck_assert_int_eq(corio_tls_context_create(&o, &c), -EINVAL);
    o.min_version = 0;
    o.ktls = 9;
    ck_assert_int_eq(corio_tls_context_create(&o, &c), -EINVAL);
    corio_tls_options co = {.role = CORIO_TLS_CLIENT, .ca_file = "/nonexistent-ca.pem"};
    ck_assert_int_eq(corio_tls_context_create(&co, &c), CORIO_ETLS_CONFIG);
    /* NULLs elsewhere. */
    corio_tls_context_destroy(NULL);
    ck_assert_int_eq(corio_tls_context_add_sni(NULL, "x", NULL), -EINVAL);
    corio_stream *s = NULL;
    ck_assert_int_eq(corio_tls_connect(NULL, 0, "x", NULL, 1.0, &s), -EINVAL);
    ck_assert_int_eq(corio_tls_accept(NULL, 0, NULL, 1.0, &s), -EINVAL);
    ck_assert_int_eq(corio_tls_get_info(NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_tls_is_tls(NULL), 0);
    /* A client needs a name to verify against; a server context cannot
     * connect. */
    corio_tls_context *cc = client_ctx(0, NULL, 0);
    ck_assert_int_eq(corio_tls_connect(cc, 0, NULL, NULL, 1.0, &s), -EINVAL);
    ck_assert_int_eq(corio_tls_accept(cc, 0, NULL, 1.0, &s), -EINVAL);
    corio_tls_context *sc = server_ctx("server", NULL, 0);
    ck_assert_int_eq(corio_tls_connect(sc, 0, "localhost", NULL, 1.0, &s), -EINVAL);
    ck_assert_int_eq(corio_tls_context_add_sni(sc, "x", cc), -EINVAL); /* a client one */
    ck_assert_int_eq(corio_tls_context_add_sni(sc, "x", sc), -EINVAL); /* itself */
    corio_tls_context_destroy(cc);
    corio_tls_context_destroy(sc);
}
END_TEST

/* The echo, on both paths: verification, SNI seen by the server, ALPN,
 * TLS 1.3, a clean close_notify end. */
static void echo_on(int ktls) {
    t_tls_setup();
    pair p = {.sctx = server_ctx("server", "h2,http/1.1", ktls),
              .cctx = client_ctx(0, "http/1.1,h2", ktls), .mode = SRV_ECHO, .name = "localhost"};
    run_pair(&p);
    ck_assert_msg(p.cli == 0, "connect: %s (%s)", corio_strerror(p.cli), p.cli_err);
    ck_assert_int_eq(p.srv, 0);
    ck_assert_int_eq(p.ci.version, CORIO_TLS_1_3);
    ck_assert(p.ci.peer_verified);
    ck_assert_str_eq(p.srv_sni, "localhost");
    /* The server's preference wins. */
    ck_assert_str_eq(p.cli_alpn, "h2");
    ck_assert_str_eq(p.srv_alpn, "h2");
    ck_assert_int_eq(p.srv_eof, 0); /* close_notify: a clean end */
    ck_assert(!p.ci.resumed);
    if (ktls == CORIO_TLS_KTLS_OFF)
        ck_assert(!p.ci.ktls_tx && !p.ci.ktls_rx);
    fprintf(stderr, "tls echo (ktls policy %d): %s, kTLS tx %d rx %d\n", ktls, p.ci.cipher,
            p.ci.ktls_tx, p.ci.ktls_rx);
    pair_free(&p);
}

START_TEST(test_echo_ring) { echo_on(CORIO_TLS_KTLS_OFF); }
END_TEST

START_TEST(test_echo_socket_path) { echo_on(CORIO_TLS_KTLS_ON); }
END_TEST

/* 4 MiB each way: records, out[] refills, partial writes, read-ahead. */
static void bulk_on(int ktls) {
    t_tls_setup();
    pair p = {.sctx = server_ctx("server", NULL, ktls), .cctx = client_ctx(0, NULL, ktls),
              .mode = SRV_BULK, .name = "127.0.0.1", .bulk = t_scale(4u << 20, 256u << 10)};
    run_pair(&p);
    ck_assert_msg(p.cli == 0, "connect: %s (%s)", corio_strerror(p.cli), p.cli_err);
    ck_assert(p.bulk_ok);
    ck_assert_int_eq(p.srv_eof, 0);
    ck_assert_str_eq(p.srv_sni, ""); /* an address is not sent as SNI */
    pair_free(&p);
}

START_TEST(test_bulk_ring) { bulk_on(CORIO_TLS_KTLS_OFF); }
END_TEST

START_TEST(test_bulk_socket_path) { bulk_on(CORIO_TLS_KTLS_ON); }
END_TEST

/* ---- verification ---- */

static void expect_verify_failure(const char *leaf, const char *name, const char *why) {
    pair p = {.sctx = server_ctx(leaf, NULL, 0), .cctx = client_ctx(0, NULL, 0),
              .mode = SRV_ECHO, .name = name};
    run_pair(&p);
    ck_assert_msg(p.cli == CORIO_ETLS_VERIFY, "%s/%s: %s (%s)", leaf, name, corio_strerror(p.cli),
                  p.cli_err);
    ck_assert_msg(strstr(p.cli_err, why), "error text: %s", p.cli_err);
    /* The server sees the client's alert: a failed handshake. */
    ck_assert_int_lt(p.srv, 0);
    pair_free(&p);
}

START_TEST(test_wrong_name) {
    t_tls_setup();
    expect_verify_failure("server", "wrong.example", "mismatch");
}
END_TEST

START_TEST(test_expired) {
    t_tls_setup();
    expect_verify_failure("expired", "localhost", "expired");
}
END_TEST

START_TEST(test_self_signed) {
    t_tls_setup();
    expect_verify_failure("self", "localhost", "self");
    /* insecure: no verification, the handshake goes through. */
    pair p = {.sctx = server_ctx("self", NULL, 0), .cctx = client_ctx(1, NULL, 0),
              .mode = SRV_ECHO, .name = "localhost"};
    run_pair(&p);
    ck_assert_int_eq(p.cli, 0);
    ck_assert(!p.ci.peer_verified);
    pair_free(&p);
}
END_TEST

/* ---- SNI, resumption ---- */

START_TEST(test_sni_selects_context) {
    t_tls_setup();
    corio_tls_context *def = server_ctx("server", NULL, 0);
    corio_tls_context *oth = server_ctx("other", NULL, 0);
    ck_assert_int_eq(corio_tls_context_add_sni(def, "OTHER.test", oth), 0);
    corio_tls_context_destroy(oth); /* def keeps it alive */
    pair p = {.sctx = def, .cctx = client_ctx(0, NULL, 0), .mode = SRV_ECHO, .name = "other.test"};
    corio_runtime_options o = {.loops = 1, .stack_size = 256 * 1024, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, client_fn, &p, NULL), 0);
    ck_assert_msg(p.cli == 0, "other.test: %s (%s)", corio_strerror(p.cli), p.cli_err);
    ck_assert_str_eq(p.srv_sni, "other.test");
    /* An unknown name gets the default certificate: verification of
     * "other2.test" against localhost's certificate fails. */
    p.name = "other2.test";
    ck_assert_int_eq(corio_run_with(&o, client_fn, &p, NULL), 0);
    ck_assert_int_eq(p.cli, CORIO_ETLS_VERIFY);
    pair_free(&p);
}
END_TEST

START_TEST(test_resumption) {
    t_tls_setup();
    pair p = {.sctx = server_ctx("server", NULL, 0), .cctx = client_ctx(0, NULL, 0),
              .mode = SRV_ECHO, .name = "localhost"};
    run_pair(&p);
    ck_assert_int_eq(p.cli, 0);
    ck_assert(!p.ci.resumed);
    /* Same contexts, same port (p.port is kept): the client offers the
     * ticket it got for localhost on this port, and the server takes it. */
    run_pair(&p);
    ck_assert_msg(p.cli == 0, "%s (%s)", corio_strerror(p.cli), p.cli_err);
    ck_assert(p.ci.resumed);
    ck_assert(p.si.resumed);
    /* Another port is another key: a full handshake. */
    p.port = 0;
    run_pair(&p);
    ck_assert_int_eq(p.cli, 0);
    ck_assert(!p.ci.resumed);
    /* A context without resumption never resumes. */
    corio_tls_context_destroy(p.cctx);
    char ca[600];
    t_tls_file(ca, sizeof ca, "ca", "pem");
    corio_tls_options o = {.role = CORIO_TLS_CLIENT, .ca_file = ca, .no_resumption = true};
    ck_assert_int_eq(corio_tls_context_create(&o, &p.cctx), 0);
    run_pair(&p);
    run_pair(&p);
    ck_assert_int_eq(p.cli, 0);
    ck_assert(!p.ci.resumed);
    pair_free(&p);
}
END_TEST

/* ---- peers that are not TLS, or stop ---- */

START_TEST(test_plain_http_peer) {
    t_tls_setup();
    pair p = {.sctx = NULL, .cctx = client_ctx(0, NULL, 0), .mode = SRV_PLAIN_HTTP,
              .name = "localhost"};
    run_pair(&p);
    ck_assert_msg(p.cli == CORIO_ETLS_PROTOCOL, "%s (%s)", corio_strerror(p.cli), p.cli_err);
    pair_free(&p);
}
END_TEST

START_TEST(test_silent_peer_times_out) {
    t_tls_setup();
    pair p = {.cctx = client_ctx(0, NULL, 0), .mode = SRV_SILENT, .name = "localhost",
              .timeout = 0.5};
    double t0 = t_now();
    run_pair(&p);
    ck_assert_int_eq(p.cli, -ETIMEDOUT);
    ck_assert(t_now() - t0 < 15.0);
    pair_free(&p);
}
END_TEST

START_TEST(test_peer_hangs_up_mid_handshake) {
    t_tls_setup();
    pair p = {.cctx = client_ctx(0, NULL, 0), .mode = SRV_HANG_UP, .name = "localhost"};
    run_pair(&p);
    ck_assert_msg(p.cli == CORIO_EUNEXPECTED_EOF || p.cli == -ECONNRESET, "%s (%s)",
                  corio_strerror(p.cli), p.cli_err);
    pair_free(&p);
}
END_TEST

/* A plain-HTTP client on a TLS port: the server's accept fails cleanly. */
static int plain_client(void *arg, corio_value *out) {
    (void)out;
    pair *p = arg;
    corio_listen_options lo = {0};
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", &lo, &p->l), 0);
    p->mode = SRV_ECHO;
    int err = 0;
    corio_future *f = corio_spawn(server_fn, p, &err);
    char port[16];
    snprintf(port, sizeof port, "%d", corio_listener_port(p->l));
    int fd = corio_dial("127.0.0.1", port, 10.0);
    ck_assert_int_ge(fd, 0);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ck_assert_int_eq(corio_send(fd, req, strlen(req), 0, 5.0), (ssize_t)strlen(req));
    ck_assert_int_eq(corio_future_result(f, 30.0, NULL), 0);
    corio_future_unref(f);
    corio_close(fd);
    corio_listener_destroy(p->l);
    return 0;
}

START_TEST(test_plain_client_on_tls_port) {
    t_tls_setup();
    pair p = {.sctx = server_ctx("server", NULL, 0)};
    corio_runtime_options o = {.loops = 1, .stack_size = 256 * 1024, .no_pin = true};
    ck_assert_int_eq(corio_run_with(&o, plain_client, &p, NULL), 0);
    ck_assert_int_eq(p.srv, CORIO_ETLS_PROTOCOL);
    pair_free(&p);
}
END_TEST

/* ---- from a plain thread ---- */

static void *thread_server(void *arg) {
    pair *p = arg;
    int fd = corio_listener_accept(p->l, NULL, NULL, 10.0);
    corio_stream *s = NULL;
    p->srv = corio_tls_accept(p->sctx, fd, NULL, 10.0, &s);
    if (p->srv == 0) {
        echo_line(s);
        corio_stream_destroy(s);
    } else {
        close(fd);
    }
    return NULL;
}

START_TEST(test_plain_threads) {
    t_tls_setup();
    pair p = {.sctx = server_ctx("server", NULL, 0), .cctx = client_ctx(0, NULL, 0)};
    ck_assert_int_eq(corio_listen("127.0.0.1", "0", NULL, &p.l), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, thread_server, &p), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", corio_listener_port(p.l));
    int fd = corio_dial("127.0.0.1", port, 10.0);
    ck_assert_int_ge(fd, 0);
    corio_stream *s = NULL;
    ck_assert_int_eq(corio_tls_connect(p.cctx, fd, "localhost", NULL, 10.0, &s), 0);
    ck_assert_int_eq(corio_tls_is_tls(s), 1);
    ck_assert_int_eq(corio_stream_write(s, "thread\n", 7, 5.0), 7);
    ck_assert_int_eq(corio_stream_flush(s, 5.0), 0);
    const char *line;
    size_t len;
    ck_assert_int_eq(corio_stream_read_line(s, 100, &line, &len, 10.0), 1);
    ck_assert_str_eq(line, "thread");
    corio_stream_destroy(s);
    pthread_join(t, NULL);
    ck_assert_int_eq(p.srv, 0);
    corio_listener_destroy(p.l);
    pair_free(&p);
}
END_TEST

static Suite *tls_suite(void) {
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_context_errors);
    tcase_add_test(tc, test_echo_ring);
    tcase_add_test(tc, test_echo_socket_path);
    tcase_add_test(tc, test_bulk_ring);
    tcase_add_test(tc, test_bulk_socket_path);
    tcase_add_test(tc, test_wrong_name);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_self_signed);
    tcase_add_test(tc, test_sni_selects_context);
    tcase_add_test(tc, test_resumption);
    tcase_add_test(tc, test_plain_http_peer);
    tcase_add_test(tc, test_silent_peer_times_out);
    tcase_add_test(tc, test_peer_hangs_up_mid_handshake);
    tcase_add_test(tc, test_plain_client_on_tls_port);
    tcase_add_test(tc, test_plain_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int r = t_tls_make_pki();
    if (r == 77)
        return 77;
    int rc = t_run_suite(tls_suite());
    t_tls_remove_pki();
    return rc;
}
