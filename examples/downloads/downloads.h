/* corio-downloads — shared declarations.
 *
 * The tool downloads a list of URLs in one of four ways (seq, threads,
 * procs, coro) and reports each URL as it completes. Every mode produces
 * the same per-URL record (dl_result) and hands it to the reporter
 * (report.c) in completion order.
 *
 * Files:
 *   main.c        options, running the modes, exit status
 *   modes.c       seq, threads (thread pool) and procs (process pool)
 *   fetch_easy.c  one blocking libcurl easy transfer (seq/threads/procs)
 *   coro.c        coro mode: coroutines, semaphore, as_completed
 *   coro_native.c the native client: corio_http_client (http://, https://)
 *   coro_curl.c   libcurl's multi-socket API driven from the ring
 *   report.c      progress bar, per-URL lines, table, JSON, plot
 */
#ifndef CORIO_DOWNLOADS_H
#define CORIO_DOWNLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio.h"

/* The modes, in the order `--mode all` runs them. */
enum dl_mode { DL_SEQ = 0, DL_THREADS, DL_PROCS, DL_CORO, DL_NMODES };

/* Which client coro mode uses for http:// and https:// URLs (other schemes
 * always go to libcurl). */
enum dl_coro_client { DL_CLIENT_NATIVE = 0, DL_CLIENT_CURL = 1 };

/* Options shared by every mode; filled by main.c, read-only afterwards. */
typedef struct dl_options {
    const char *const *urls;   /* the URLs, in input order */
    size_t n_urls;             /* number of URLs */
    int concurrency;           /* transfers in flight at most (threads, procs, coro) */
    double timeout;            /* seconds per URL for the whole transfer; <= 0: none */
    const char *out_dir;       /* save bodies under this directory; NULL: discard */
    int loops;                 /* coro mode: loops (0: one per CPU) */
    bool pin;                  /* coro mode: pin loop k to CPU k */
    enum dl_coro_client client; /* coro mode: client for http:// and https:// */
    bool https;                /* some URL is https:// (native client: make a TLS context) */
    bool insecure;             /* --insecure: do not verify TLS servers */
    const char *cacert;        /* --cacert FILE: trusted roots (NULL: system store) */
    size_t bufsize;            /* receive buffer per transfer (native client) */
    bool quiet;                /* no per-URL line for successful URLs */
    bool json;                 /* one JSON document on stdout, nothing else there */
    bool progress;             /* draw a progress bar on stderr (a TTY) */
} dl_options;

/* The outcome of one URL. */
typedef struct dl_result {
    size_t index;     /* position in dl_options.urls */
    int code;         /* 0: success; else a negative error code */
    int status;       /* HTTP status, 0 if no response head arrived */
    uint64_t bytes;   /* body bytes received */
    double ms;        /* wall time of this URL's transfer, milliseconds */
    char error[192];  /* why it failed ("" on success) */
} dl_result;

/* One mode's totals, for the table and the JSON document. */
typedef struct dl_run {
    enum dl_mode mode; /* which mode */
    const char *client; /* coro: "native" or "curl-multi"; else "curl-easy" */
    size_t files;      /* URLs attempted */
    size_t ok;         /* URLs that succeeded */
    uint64_t bytes;    /* body bytes over every URL */
    double seconds;    /* wall time of the whole mode */
    dl_result *results; /* per URL, in completion order (owned; freed by dl_run_fini) */
    size_t n_results;  /* entries filled */
} dl_run;

/* Mode names as printed and as given to --mode. */
const char *dl_mode_name(enum dl_mode m);

/* Monotonic clock in seconds. */
double dl_now(void);

/* Make the TCP socket `fd` acknowledge what it receives at once, until it
 * next sends. A keep-alive client that sends a request after each response
 * looks interactive to Linux, which then delays its ACKs (up to 40 ms)
 * hoping to piggyback them on the next request. A server writing a response
 * larger than its send buffer waits for those ACKs, so a 64 KiB response
 * from nginx (sendfile) could stall for 40 ms. TCP_QUICKACK is not sticky:
 * the kernel re-enters delayed-ACK mode when the socket sends, so the
 * clients call this after each request (native) or whenever data arrives
 * (libcurl). Ignores errors (a socket that is not TCP). */
void dl_quickack(int fd);

/* Fill *r as a failure of URL `index` with `code` and a printf message. */
void dl_fail(dl_result *r, int code, const char *fmt, ...) CORIO_PRINTF(3, 4);

/* fetch_easy.c: one blocking transfer of `url` with libcurl's easy
 * interface, using a handle from a process-wide stack (so consecutive
 * transfers on a thread reuse connections). `out_path` (may be NULL)
 * receives the body. Fills r (not r->index). Thread safe. */
void dl_fetch_easy(const char *url, double timeout, const char *out_path, dl_result *r);
/* Free the cached easy handles (call once, after every transfer). */
void dl_fetch_easy_cleanup(void);

/* curl_lazy.c: libcurl is loaded with dlopen on first use (the native
 * client never needs it, and linking it costs every run ~7 ms at start).
 * dl_curl_load loads it now (0, or -1 when it cannot be loaded);
 * dl_curl_error says why it could not be ("" when loaded); dl_curl_unload
 * runs curl_global_cleanup if it was loaded. */
int dl_curl_load(void);
const char *dl_curl_error(void);
void dl_curl_unload(void);

/* The file name to save URL `index` under in `dir`: a malloc'd path (the
 * caller frees it), or NULL when dir is NULL. */
char *dl_out_path(const char *dir, const char *url, size_t index);

/* modes.c / coro.c: run one mode over every URL. Each completed URL is
 * handed to dl_report_result as soon as it is known; the run's totals go to
 * *run. Returns 0, or a negative code when the mode could not run at all
 * (the pool or runtime could not be created). */
int dl_run_seq(const dl_options *o, dl_run *run);
int dl_run_threads(const dl_options *o, dl_run *run);
int dl_run_procs(const dl_options *o, dl_run *run);
int dl_run_coro(const dl_options *o, dl_run *run);

/* coro_native.c: make the TLS context the native client uses for https://
 * (when o->https), honouring o->insecure and o->cacert. Returns 0, or a
 * negative code with a message in err. dl_native_fini releases it (after
 * the run). */
int dl_native_init(const dl_options *o, char *err, size_t errlen);
void dl_native_fini(void);
/* coro_native.c: transfer one http:// or https:// URL with the native
 * client (corio_http_client), from a coroutine. Connections are kept per
 * loop and reused. */
void dl_native_fetch(const dl_options *o, const char *url, const char *out_path, dl_result *r);
/* Whether the native client serves `url` (http:// or https://). */
bool dl_native_url(const char *url);
/* Close the calling loop's idle connections and free its buffers (from a
 * coroutine of that loop, after its last transfer). */
void dl_native_loop_cleanup(void);

/* coro_curl.c: transfer one URL with the calling loop's curl multi handle,
 * from a coroutine: the coroutine suspends until curl is done. */
void dl_curl_multi_fetch(const dl_options *o, const char *url, const char *out_path,
                         dl_result *r);
/* Stop the calling loop's multi driver and free it (from a coroutine of
 * that loop, after its last transfer). */
void dl_curl_multi_loop_cleanup(void);

/* curl_strict.c: a CURLOPT_HEADERFUNCTION (with CURLOPT_HEADERDATA a
 * zeroed dl_strict) that stops a transfer whose head has two
 * Content-Length fields, Content-Length with Transfer-Encoding, a bare CR
 * or obs-fold; `bad` then says which. */
typedef struct dl_strict {
    int content_length;    /* Content-Length fields in the current head */
    int transfer_encoding; /* Transfer-Encoding fields in the current head */
    const char *bad;       /* why the head was refused, NULL when it was not */
} dl_strict;
size_t dl_strict_header(char *line, size_t size, size_t nitems, void *arg);

/* report.c */
void dl_report_begin(const dl_options *o, enum dl_mode m, const char *client);
void dl_report_result(const dl_options *o, dl_run *run, const dl_result *r);
void dl_report_end(const dl_options *o, const dl_run *run);
void dl_report_table(const dl_options *o, const dl_run *runs, size_t n);
void dl_report_json(const dl_options *o, const dl_run *runs, size_t n);
int dl_report_plot(const dl_run *runs, size_t n, const char *png_path);
void dl_run_fini(dl_run *run);

#endif /* CORIO_DOWNLOADS_H */
