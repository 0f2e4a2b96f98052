/* corio-downloads — download many URLs and report each as it completes.
 *
 * The C counterpart of the seeds' ThreadPoolExecutor + as_completed URL
 * loader, in four modes (seq, threads, procs, coro) that can be compared
 * in one run. See docs/downloads.md for the manual.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "downloads.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: corio-downloads [options] [URL...]\n"
            "  --urls FILE          read URLs from FILE (one per line, '#' comments; - for stdin)\n"
            "  --mode MODE          seq | threads | procs | coro | all (default coro)\n"
            "  --concurrency N      transfers in flight (default 16)\n"
            "  --timeout SEC        limit per URL (default 30; 0: none)\n"
            "  --out DIR            save bodies under DIR (default: count and discard)\n"
            "  --coro-client C      coro mode, http(s):// URLs: native | curl (default native)\n"
            "  --loops N            coro mode: io_uring loops (default: one per CPU)\n"
            "  --pin                coro mode: pin loop k to CPU k (default: let them move)\n"
            "  --bufsize BYTES      coro native client: receive buffer (default 256 KiB)\n"
            "  --insecure           coro native client, https://: do not verify servers\n"
            "  --cacert FILE        coro native client, https://: trust the CAs in FILE\n"
            "                       (PEM) instead of the system store\n"
            "  --json               one JSON document on stdout\n"
            "  --plot FILE.png      chart the modes' MB/s with gnuplot\n"
            "  --quiet              no line for URLs that succeeded\n"
            "  --no-progress        plain lines even on a terminal\n"
            "  --help\n"
            "Exit status: 0 when every URL succeeded, 1 when some failed, 2 on bad usage.\n");
}

/* Append a URL (a copy) to the growing list. */
static int push(char ***v, size_t *n, size_t *cap, const char *s, size_t len) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        char **a = realloc(*v, c * sizeof *a);
        if (!a)
            return -ENOMEM;
        *v = a;
        *cap = c;
    }
    char *d = strndup(s, len);
    if (!d)
        return -ENOMEM;
    (*v)[(*n)++] = d;
    return 0;
}

static int read_urls(const char *file, char ***v, size_t *n, size_t *cap) {
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f)
        return -errno;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &lcap, f)) >= 0 && rc == 0) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strcspn(s, " \t\r\n");
        if (l == 0 || *s == '#')
            continue;
        rc = push(v, n, cap, s, l);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The URL list; static so that the early exits on bad usage leave it
 * reachable rather than leaked (the normal exit frees it). */
static char **urls;

int main(int argc, char **argv) {
    dl_options o = {.concurrency = 16, .timeout = 30, .bufsize = 256u * 1024u};
    const char *mode = "coro", *plot = NULL;
    bool no_progress = false;
    size_t n = 0, cap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o.quiet = true;
        } else if (!strcmp(a, "--pin")) {
            o.pin = true;
        } else if (!strcmp(a, "--insecure")) {
            o.insecure = true;
        } else if (!strcmp(a, "--no-progress")) {
            no_progress = true;
        } else if (a[0] == '-' && a[1] == '-' && !v) {
            fprintf(stderr, "corio-downloads: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--urls")) {
            int rc = read_urls(v, &urls, &n, &cap);
            if (rc < 0) {
                fprintf(stderr, "corio-downloads: %s: %s\n", v, strerror(-rc));
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--mode")) {
            mode = v, i++;
        } else if (!strcmp(a, "--concurrency")) {
            if (!parse_int(v, 1, 100000, &x)) {
                fprintf(stderr, "corio-downloads: bad --concurrency %s\n", v);
                return 2;
            }
            o.concurrency = (int)x, i++;
        } else if (!strcmp(a, "--loops")) {
            if (!parse_int(v, 0, 256, &x)) {
                fprintf(stderr, "corio-downloads: bad --loops %s\n", v);
                return 2;
            }
            o.loops = (int)x, i++;
        } else if (!strcmp(a, "--bufsize")) {
            if (!parse_int(v, 4096, 1L << 30, &x)) {
                fprintf(stderr, "corio-downloads: bad --bufsize %s\n", v);
                return 2;
            }
            o.bufsize = (size_t)x, i++;
        } else if (!strcmp(a, "--timeout")) {
            char *end;
            o.timeout = strtod(v, &end);
            if (end == v || *end || !(o.timeout >= 0)) {
                fprintf(stderr, "corio-downloads: bad --timeout %s\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--cacert")) {
            o.cacert = v, i++;
        } else if (!strcmp(a, "--out")) {
            o.out_dir = v, i++;
        } else if (!strcmp(a, "--plot")) {
            plot = v, i++;
        } else if (!strcmp(a, "--coro-client")) {
            if (!strcmp(v, "native"))
                o.client = DL_CLIENT_NATIVE;
            else if (!strcmp(v, "curl"))
                o.client = DL_CLIENT_CURL;
            else {
                fprintf(stderr, "corio-downloads: bad --coro-client %s\n", v);
                return 2;
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "corio-downloads: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (push(&urls, &n, &cap, a, strlen(a)) < 0) {
            return 2;
        }
    }
    bool run_mode[DL_NMODES] = {0};
    if (!strcmp(mode, "all")) {
        for (int m = 0; m < DL_NMODES; m++)
            run_mode[m] = true;
    } else {
        int m;
        for (m = 0; m < DL_NMODES; m++)
            if (!strcmp(mode, dl_mode_name((enum dl_mode)m)))
                break;
        if (m == DL_NMODES) {
            fprintf(stderr, "corio-downloads: unknown mode %s\n", mode);
            return 2;
        }
        run_mode[m] = true;
    }
    if (n == 0) {
        fprintf(stderr, "corio-downloads: no URLs (give them as arguments or with --urls)\n");
        usage(stderr);
        return 2;
    }
    if (o.out_dir && mkdir(o.out_dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "corio-downloads: %s: %s\n", o.out_dir, strerror(errno));
        return 2;
    }
    o.urls = (const char *const *)urls;
    o.n_urls = n;
    o.progress = !no_progress && !o.json && isatty(STDERR_FILENO);

    /* libcurl is loaded only if something will use it (curl_lazy.c): the
     * easy modes, the curl-multi client, or a URL the native client does
     * not serve. Loading it here, before any pool forks its workers, means
     * workers inherit it and no transfer pays for the load. */
    bool modes_need_curl = run_mode[DL_SEQ] || run_mode[DL_THREADS] || run_mode[DL_PROCS] ||
                           (run_mode[DL_CORO] && o.client != DL_CLIENT_NATIVE);
    bool need_curl = modes_need_curl;
    for (size_t i = 0; i < n && !need_curl; i++)
        need_curl = !dl_native_url(urls[i]);
    /* The native client's TLS context, made once for every loop. */
    for (size_t i = 0; i < n && run_mode[DL_CORO] && o.client == DL_CLIENT_NATIVE; i++)
        o.https |= !strncasecmp(urls[i], "https://", 8);
    char tls_err[512];
    if (dl_native_init(&o, tls_err, sizeof tls_err) < 0) {
        fprintf(stderr, "corio-downloads: %s\n", tls_err);
        return 2;
    }
    if (need_curl && dl_curl_load() < 0) {
        fprintf(stderr, "corio-downloads: %s\n", dl_curl_error());
        if (modes_need_curl)
            return 2;
        /* coro + native: http:// URLs still work; the others fail one by one. */
    }
    dl_run runs[DL_NMODES];
    size_t nruns = 0;
    bool any_failed = false, setup_failed = false;
    for (int m = 0; m < DL_NMODES; m++) {
        if (!run_mode[m])
            continue;
        dl_run *run = &runs[nruns];
        *run = (dl_run){.mode = (enum dl_mode)m, .files = n,
                        .client = m != DL_CORO ? "curl-easy"
                                  : o.client == DL_CLIENT_NATIVE ? "native"
                                                                 : "curl-multi",
                        .results = calloc(n, sizeof(dl_result))};
        if (!run->results) {
            fprintf(stderr, "corio-downloads: out of memory\n");
            return 2;
        }
        dl_report_begin(&o, run->mode, run->client);
        int rc = m == DL_SEQ       ? dl_run_seq(&o, run)
                 : m == DL_THREADS ? dl_run_threads(&o, run)
                 : m == DL_PROCS   ? dl_run_procs(&o, run)
                                   : dl_run_coro(&o, run);
        dl_report_end(&o, run);
        if (rc < 0) {
            fprintf(stderr, "corio-downloads: %s mode could not run: %s\n",
                    dl_mode_name(run->mode), corio_strerror(rc));
            dl_run_fini(run);
            setup_failed = true;
            continue;
        }
        if (run->ok != run->files)
            any_failed = true;
        nruns++;
    }
    if (o.json)
        dl_report_json(&o, runs, nruns);
    else
        dl_report_table(&o, runs, nruns);
    if (plot && nruns > 0 && dl_report_plot(runs, nruns, plot) == 0 && !o.json)
        printf("plot written to %s\n", plot);
    for (size_t i = 0; i < nruns; i++)
        dl_run_fini(&runs[i]);
    dl_fetch_easy_cleanup();
    dl_native_fini();
    dl_curl_unload();
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    return setup_failed ? 2 : any_failed ? 1 : 0;
}
