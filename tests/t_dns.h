/* A real dnsmasq for the resolver suites (test_resolve.c,
 * test_resolve_more.c): started on 127.0.0.1 on a free port with a hosts
 * file of the test's, the resolver pointed at it with
 * corio_resolver_configure, and a silent UDP "server" that never answers.
 *
 * Everything here is static inline: each suite is one translation unit. */
#ifndef CORIO_T_DNS_H
#define CORIO_T_DNS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

/* The hosts file of t_dns_start: the names every suite may ask. */
#define T_DNS_HOSTS "10.1.2.3 alpha.test\n10.1.2.4 beta.test\nfd00::5 six.test\n"

typedef struct t_dns {
    pid_t pid;        /* dnsmasq, 0 when not running (or not installed) */
    int port;         /* its port on 127.0.0.1 */
    char servers[64]; /* "127.0.0.1:port", as given to corio_resolver_configure */
} t_dns;

/* A port on 127.0.0.1 free for both UDP and TCP when asked (dnsmasq binds
 * both); the sockets are released, so another process may still take it:
 * t_dns_start retries with a new port when dnsmasq exits. */
static inline int t_free_port(void) {
    for (;;) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ck_assert_int_eq(bind(u, (struct sockaddr *)&a, sizeof a), 0);
        socklen_t l = sizeof a;
        getsockname(u, (struct sockaddr *)&a, &l);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = bind(t, (struct sockaddr *)&a, sizeof a) == 0;
        close(t);
        close(u);
        if (ok)
            return ntohs(a.sin_port);
    }
}

/* A bound UDP socket on 127.0.0.1 that nobody answers on; its address as
 * "127.0.0.1:port" into servers[64] and its port into *port (may be NULL). */
static inline int t_silent_server(char *servers, int *port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    snprintf(servers, 64, "127.0.0.1:%d", ntohs(a.sin_port));
    if (port)
        *port = ntohs(a.sin_port);
    return s;
}

/* Start dnsmasq on a free port serving `hosts` (a hosts-file text; NULL:
 * T_DNS_HOSTS, which must then hold alpha.test, the readiness probe) plus
 * up to 8 `extra` arguments (NULL-terminated list, or NULL), point the
 * resolver at it (try_timeout 1, attempts 5), and wait (bounded) until it
 * answers alpha.test. Up to 10 ports are tried: one taken between
 * t_free_port and dnsmasq's bind makes dnsmasq exit, which waitpid sees.
 * d->pid stays 0 when dnsmasq is not installed (the test then skips). */
static inline void t_dns_start_ex(t_dns *d, const char *hosts, const char *const *extra) {
    d->pid = 0;
    if (access("/usr/sbin/dnsmasq", X_OK) != 0)
        return;
    if (!hosts)
        hosts = T_DNS_HOSTS;
    char path[] = "/tmp/corio-hosts-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, hosts, strlen(hosts)), (ssize_t)strlen(hosts));
    close(fd);
    for (int attempt = 0; attempt < 10; attempt++) {
        int port = t_free_port();
        char parg[32], harg[64];
        snprintf(parg, sizeof parg, "--port=%d", port);
        snprintf(harg, sizeof harg, "--addn-hosts=%s", path);
        const char *argv[24] = {"dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                                "--listen-address=127.0.0.1", "--bind-interfaces",
                                "--user=root", "--local=/test/", parg, harg, "--pid-file="};
        int n = 11;
        for (int i = 0; extra && extra[i] && i < 8; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        d->pid = fork();
        if (d->pid == 0) {
            execv("/usr/sbin/dnsmasq", (char *const *)argv);
            _exit(127);
        }
        d->port = port;
        snprintf(d->servers, sizeof d->servers, "127.0.0.1:%d", port);
        corio_resolver_options o = {.servers = d->servers, .try_timeout = 1, .attempts = 5};
        ck_assert_int_eq(corio_resolver_configure(&o), 0);
        for (int i = 0; i < 200; i++) {
            int status;
            if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                d->pid = 0;
                break; /* it exited (port taken): try another */
            }
            struct addrinfo *r = NULL;
            if (corio_getaddrinfo("alpha.test", NULL, NULL, 0.2, &r) == 0) {
                corio_freeaddrinfo(r);
                unlink(path);
                return;
            }
            t_sleep(0.01); /* polling for readiness, bounded by i */
        }
        if (d->pid > 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
            d->pid = 0;
        }
    }
    unlink(path);
    ck_abort_msg("dnsmasq did not answer");
}

static inline void t_dns_start(t_dns *d) { t_dns_start_ex(d, NULL, NULL); }

static inline void t_dns_stop(t_dns *d) {
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
}

/* The address of entry r as text into buf[64]. */
static inline const char *t_addr_text(const struct addrinfo *r, char *buf) {
    if (r->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)r->ai_addr)->sin_addr, buf, 64);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)r->ai_addr)->sin6_addr, buf, 64);
    return buf;
}

#endif /* CORIO_T_DNS_H */
