/* corio-downloads — what the user sees: per-URL lines or a progress bar,
 * the summary table, the JSON document and the gnuplot chart.
 *
 * Every call here runs on one thread at a time: the main thread, or in coro
 * mode the reporter coroutine on loop 0 while the main thread waits for it
 * (the modes hand results over in as_completed order), so nothing is
 * locked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "downloads.h"

static const char *mode_names[DL_NMODES] = {"seq", "threads", "procs", "coro"};

const char *dl_mode_name(enum dl_mode m) { return mode_names[m]; }

/* Progress bar state (one bar at a time). */
static double bar_last;   /* when it was last drawn */
static double bar_start;  /* when the run began */
static size_t bar_failed; /* failures so far in this run */

static void bar_draw(const dl_options *o, const dl_run *run, bool final) {
    double now = dl_now();
    if (!final && now - bar_last < 0.05 && run->n_results != o->n_urls)
        return;
    bar_last = now;
    const int width = 30;
    size_t done = run->n_results;
    int fill = o->n_urls ? (int)((double)width * (double)done / (double)o->n_urls) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = now - bar_start;
    fprintf(stderr, "\r%-7s [%s] %zu/%zu  %.1f MB  %.2f s%s%s", dl_mode_name(run->mode), bar,
            done, o->n_urls, (double)run->bytes / 1e6, el,
            bar_failed ? "  failed: " : "", "");
    if (bar_failed)
        fprintf(stderr, "%zu", bar_failed);
    fprintf(stderr, "\033[K");
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

void dl_report_begin(const dl_options *o, enum dl_mode m, const char *client) {
    bar_start = dl_now();
    bar_last = 0;
    bar_failed = 0;
    if (!o->json && !o->progress && !o->quiet)
        printf("== %s%s%s: %zu URLs, concurrency %d\n", dl_mode_name(m), client ? " / " : "",
               client ? client : "", o->n_urls, m == DL_SEQ ? 1 : o->concurrency);
}

void dl_report_result(const dl_options *o, dl_run *run, const dl_result *r) {
    run->results[run->n_results++] = *r;
    if (r->code == 0) {
        run->ok++;
        run->bytes += r->bytes;
    } else {
        bar_failed++;
    }
    const char *url = r->index < o->n_urls ? o->urls[r->index] : "?";
    if (o->progress) {
        if (r->code != 0) { /* failures stay visible above the bar */
            fprintf(stderr, "\r\033[K%s: %s\n", url, r->error);
        }
        bar_draw(o, run, false);
        return;
    }
    if (o->json)
        return;
    if (r->code == 0) {
        if (!o->quiet)
            printf("%s  %llu bytes  %.1f ms\n", url, (unsigned long long)r->bytes, r->ms);
    } else {
        printf("%s  FAILED: %s  (%.1f ms)\n", url, r->error, r->ms);
    }
}

void dl_report_end(const dl_options *o, const dl_run *run) {
    if (o->progress)
        bar_draw(o, run, true);
    fflush(stdout);
}

static double mbps(const dl_run *r) {
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0;
}

/* The seq run's seconds, or 0 when seq did not run. */
static double seq_seconds(const dl_run *runs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (runs[i].mode == DL_SEQ)
            return runs[i].seconds;
    return 0;
}

void dl_report_table(const dl_options *o, const dl_run *runs, size_t n) {
    FILE *f = o->json ? stderr : stdout;
    double base = seq_seconds(runs, n);
    fprintf(f, "\n%-8s %-11s %6s %6s %14s %9s %9s %11s\n", "mode", "client", "files", "failed",
            "bytes", "seconds", "MB/s", "vs seq");
    for (size_t i = 0; i < n; i++) {
        const dl_run *r = &runs[i];
        char sp[32] = "-";
        if (base > 0 && r->seconds > 0)
            snprintf(sp, sizeof sp, "%.2fx", base / r->seconds);
        fprintf(f, "%-8s %-11s %6zu %6zu %14llu %9.3f %9.1f %11s\n", dl_mode_name(r->mode),
                r->client, r->files, r->files - r->ok, (unsigned long long)r->bytes, r->seconds,
                mbps(r), sp);
    }
    fflush(f);
}

/* Print s as a JSON string. */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void dl_report_json(const dl_options *o, const dl_run *runs, size_t n) {
    double base = seq_seconds(runs, n);
    printf("{\"urls\": %zu, \"concurrency\": %d, \"timeout\": %g, \"runs\": [", o->n_urls,
           o->concurrency, o->timeout);
    for (size_t i = 0; i < n; i++) {
        const dl_run *r = &runs[i];
        printf("%s\n  {\"mode\": \"%s\", \"client\": \"%s\", \"files\": %zu, \"ok\": %zu, "
               "\"failed\": %zu, \"bytes\": %llu, \"seconds\": %.6f, \"mb_per_s\": %.3f, "
               "\"speedup_vs_seq\": ",
               i ? "," : "", dl_mode_name(r->mode), r->client, r->files, r->ok,
               r->files - r->ok, (unsigned long long)r->bytes, r->seconds, mbps(r));
        if (base > 0 && r->seconds > 0)
            printf("%.4f", base / r->seconds);
        else
            printf("null");
        printf(", \"results\": [");
        for (size_t k = 0; k < r->n_results; k++) {
            const dl_result *x = &r->results[k];
            printf("%s\n    {\"url\": ", k ? "," : "");
            json_str(x->index < o->n_urls ? o->urls[x->index] : "");
            printf(", \"ok\": %s, \"status\": %d, \"bytes\": %llu, \"ms\": %.3f",
                   x->code == 0 ? "true" : "false", x->status, (unsigned long long)x->bytes,
                   x->ms);
            if (x->code != 0) {
                printf(", \"error\": ");
                json_str(x->error);
            }
            putchar('}');
        }
        printf("]}");
    }
    printf("\n]}\n");
    fflush(stdout);
}

/* Is `prog` an executable on PATH? */
static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n + strlen(prog) + 2 < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
            if (access(buf, X_OK) == 0)
                return true;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

int dl_report_plot(const dl_run *runs, size_t n, const char *png_path) {
    if (!on_path("gnuplot")) {
        fprintf(stderr,
                "corio-downloads: gnuplot is not installed, so %s was not drawn.\n"
                "  Install it with: apt-get install gnuplot-nox\n",
                png_path);
        return -ENOENT;
    }
    char data[] = "/tmp/corio-downloads-plot-XXXXXX";
    int fd = mkstemp(data);
    if (fd < 0)
        return -errno;
    FILE *d = fdopen(fd, "w");
    if (!d) {
        close(fd);
        unlink(data);
        return -ENOMEM;
    }
    double base = seq_seconds(runs, n);
    for (size_t i = 0; i < n; i++)
        fprintf(d, "\"%s\" %.3f %.4f %.3f\n", dl_mode_name(runs[i].mode), mbps(&runs[i]),
                runs[i].seconds, base > 0 && runs[i].seconds > 0 ? base / runs[i].seconds : 0);
    fclose(d);
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        unlink(data);
        return -errno;
    }
    size_t files = n ? runs[0].files : 0;
    fprintf(g,
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) "
            "{ set terminal pngcairo size 900,520 noenhanced } "
            "else { set terminal png size 900,520 noenhanced }\n"
            "set output '%s'\n"
            "set title 'corio-downloads: %zu files per mode'\n"
            "set style data histogram\n"
            "set style fill solid 0.8 border -1\n"
            "set boxwidth 0.7\n"
            "set ylabel 'MB/s'\n"
            "set yrange [0:*]\n"
            "set offsets 0, 0, graph 0.15, 0\n"
            "set grid ytics\n"
            "unset key\n"
            "plot '%s' using 2:xtic(1) lc rgb '#3070b0', "
            "'' using 0:2:(sprintf('%%.0f MB/s\\n%%.3f s', $2, $3)) with labels offset 0,1.5\n",
            png_path, files, data);
    int st = pclose(g);
    unlink(data);
    if (st != 0) {
        fprintf(stderr, "corio-downloads: gnuplot failed (status %d)\n", st);
        return -EIO;
    }
    return 0;
}

void dl_run_fini(dl_run *run) {
    free(run->results);
    run->results = NULL;
}
