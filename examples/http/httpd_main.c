/* corio-httpd — a small HTTP/1.1 server on corio coroutines.
 *
 *   corio-httpd [--bind ADDR] [--port N] [--root DIR] [--loops N]
 *               [--delay-ms MS] [--max-conns N] [--idle-timeout SEC]
 *               [--max-body BYTES] [--tls-cert PEM --tls-key PEM] [--quiet]
 *
 * Once listening it prints exactly one line on stdout,
 * "listening on ADDR:PORT", and flushes it, so that a script started with
 * --port 0 can read the port chosen. SIGINT or SIGTERM stops it cleanly
 * (exit status 0). The manual is docs/reference/httpd.md.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "corio.h"
#include "httpd.h"

/* Seconds SIGTERM lets the requests in flight finish. */
#define DRAIN_GRACE 10.0

static const char usage[] =
    "usage: corio-httpd [--bind 127.0.0.1] [--port N] [--root DIR] [--loops N]\n"
    "                   [--delay-ms MS] [--max-conns N] [--idle-timeout SEC]\n"
    "                   [--max-body BYTES] [--tls-cert PEM --tls-key PEM] [--quiet]\n";

/* A whole decimal number in [lo, hi], or fail. */
static bool parse_num(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    httpd_options o = {.port = HTTPD_DEFAULT_PORT};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n = 0;
        bool ok = true;
        if (!strcmp(a, "--quiet")) {
            o.quiet = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "corio-httpd: %s: missing value or unknown option\n%s", a, usage);
            return 2;
        }
        i++;
        if (!strcmp(a, "--bind"))
            o.bind = v;
        else if (!strcmp(a, "--root"))
            o.root = v;
        else if (!strcmp(a, "--tls-cert"))
            o.tls_cert = v;
        else if (!strcmp(a, "--tls-key"))
            o.tls_key = v;
        else if (!strcmp(a, "--port") && (ok = parse_num(v, 0, 65535, &n)))
            o.port = (int)n;
        else if (!strcmp(a, "--loops") && (ok = parse_num(v, 0, 1024, &n)))
            o.loops = (int)n;
        else if (!strcmp(a, "--delay-ms") && (ok = parse_num(v, 0, 3600000, &n)))
            o.delay_ms = (int)n;
        else if (!strcmp(a, "--max-conns") && (ok = parse_num(v, 1, INT_MAX, &n)))
            o.max_conns = (int)n;
        else if (!strcmp(a, "--idle-timeout")) {
            char *end;
            double d = strtod(v, &end);
            if (end == v || *end || !(d > 0) || d > 1e9)
                ok = false;
            o.idle_timeout = d;
        } else if (!strcmp(a, "--max-body") && (ok = parse_num(v, 1, LLONG_MAX, &n)))
            o.max_body = (uint64_t)n;
        else if (ok) {
            fprintf(stderr, "corio-httpd: unknown option %s\n%s", a, usage);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "corio-httpd: bad value for %s: %s\n", a, v);
            return 2;
        }
    }

    if (!o.tls_cert != !o.tls_key) {
        fprintf(stderr, "corio-httpd: --tls-cert and --tls-key go together\n%s", usage);
        return 2;
    }
    /* Each connection is a descriptor: use all the process may have. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Block the stop signals before any thread starts (the loops inherit
     * the mask); this thread takes them with corio_signal_wait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    corio_signal_block(&stop);

    httpd *srv;
    int r = httpd_create(&o, &srv);
    if (r < 0) {
        fprintf(stderr, "corio-httpd: cannot start: %s\n", corio_strerror(r));
        return 1;
    }
    printf("listening on %s:%d\n", o.bind ? o.bind : "127.0.0.1", httpd_port(srv));
    fflush(stdout);
    int sig = corio_signal_wait(&stop, CORIO_FOREVER, NULL);
    if (sig == SIGTERM) {
        /* Graceful: requests in flight get DRAIN_GRACE seconds. */
        corio_drain_summary sum = {0};
        int d = httpd_drain(srv, DRAIN_GRACE, &sum);
        if (d >= 0 && !o.quiet)
            fprintf(stderr,
                    "corio-httpd: drained%s; other work: %zu coroutines finished, %zu cancelled, "
                    "%zu jobs finished, %zu cancelled\n",
                    d ? " (some connections cancelled)" : "", sum.finished, sum.cancelled,
                    sum.jobs_finished, sum.jobs_cancelled);
    }
    httpd_destroy(srv);
    return 0;
}
