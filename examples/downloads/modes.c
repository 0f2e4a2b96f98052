/* corio-downloads — the seq, threads and procs modes.
 *
 * threads is the seeds' program in C:
 *
 *     with ThreadPoolExecutor(max_workers=N) as executor:
 *         future_to_url = {executor.submit(load_url, url, 60): url for url in URLS}
 *         for future in as_completed(future_to_url):
 *             url = future_to_url[future]
 *             try: data = future.result() ...
 *             except Exception as exc: ...
 *
 * procs is the same with the process pool: the URL travels to a worker as
 * bytes, the worker does the blocking transfer, and a small fixed-size
 * record (dl_result) travels back as the job's result bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downloads.h"

/* ------------------------------------------------------------------------ */
/* seq                                                                       */

int dl_run_seq(const dl_options *o, dl_run *run) {
    double t0 = dl_now();
    for (size_t i = 0; i < o->n_urls; i++) {
        dl_result r = {.index = i};
        char *path = dl_out_path(o->out_dir, o->urls[i], i);
        dl_fetch_easy(o->urls[i], o->timeout, path, &r);
        free(path);
        dl_report_result(o, run, &r);
    }
    run->seconds = dl_now() - t0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Mapping a future back to its URL (future_to_url in the seeds).           */

typedef struct fut_index {
    corio_future *f; /* the job's future (a reference owned by the runner) */
    size_t index;    /* its URL's index */
} fut_index;

static int fut_cmp(const void *a, const void *b) {
    const corio_future *x = ((const fut_index *)a)->f, *y = ((const fut_index *)b)->f;
    return x < y ? -1 : x > y;
}

/* O(log n) lookup in the array sorted by fut_cmp. */
static size_t fut_lookup(const fut_index *map, size_t n, corio_future *f) {
    fut_index key = {.f = f};
    const fut_index *e = bsearch(&key, map, n, sizeof *map, fut_cmp);
    return e ? e->index : SIZE_MAX;
}

/* ------------------------------------------------------------------------ */
/* threads                                                                   */

/* One thread-pool job: the URL and where its record goes. */
typedef struct thread_job {
    const dl_options *o; /* the run's options */
    size_t index;        /* the URL's index */
    dl_result res;       /* filled by the job */
} thread_job;

/* load_url: a blocking transfer on a pool thread. Success returns the job
 * as the result; failure fails the future with the code and message, as
 * urlopen raises. */
static int load_url(void *arg, corio_value *out) {
    thread_job *j = arg;
    char *path = dl_out_path(j->o->out_dir, j->o->urls[j->index], j->index);
    dl_fetch_easy(j->o->urls[j->index], j->o->timeout, path, &j->res);
    free(path);
    if (j->res.code < 0)
        return corio_task_fail(j->res.code, "%s", j->res.error);
    out->ptr = j;
    return 0;
}

/* Drain an as_completed iterator over `futs`, reporting each URL. `rec`
 * gets the record of a done future from its value (or NULL to use the
 * failure). */
typedef void (*record_fn)(corio_future *f, size_t index, void *ctx, dl_result *r);

static void drain(const dl_options *o, dl_run *run, corio_future **futs, fut_index *map,
                  size_t n, record_fn rec, void *ctx) {
    corio_as_completed *it;
    int rc = corio_as_completed_create2(futs, n, CORIO_FOREVER, &it);
    if (rc < 0) {
        fprintf(stderr, "corio-downloads: as_completed: %s\n", corio_strerror(rc));
        return;
    }
    corio_future *f;
    while (corio_as_completed_next(it, &f) == 1) {
        size_t idx = fut_lookup(map, n, f);
        dl_result r = {.index = idx};
        rec(f, idx, ctx, &r);
        r.index = idx;
        dl_report_result(o, run, &r);
    }
    corio_as_completed_destroy(it);
}

static void thread_record(corio_future *f, size_t index, void *ctx, dl_result *r) {
    thread_job *jobs = ctx;
    void *v = NULL;
    int rc = corio_future_result(f, CORIO_FOREVER, &v);
    if (rc == 0) {
        *r = ((thread_job *)v)->res;
    } else if (rc == -ECANCELED) {
        dl_fail(r, rc, "cancelled");
    } else {
        /* The job filled its record before failing; keep its timing and
         * status, and take the message the future carries. */
        const char *msg = "";
        corio_future_exception(f, 0, &msg);
        *r = jobs[index].res;
        dl_fail(r, rc, "%s", msg);
    }
}

int dl_run_threads(const dl_options *o, dl_run *run) {
    size_t n = o->n_urls;
    corio_thread_pool_options po = {.max_workers = o->concurrency,
                                    .thread_name_prefix = "dl"};
    corio_executor *ex;
    int rc = corio_thread_pool_create(&po, &ex);
    if (rc < 0)
        return rc;
    thread_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    corio_future **futs = calloc(n ? n : 1, sizeof *futs);
    fut_index *map = calloc(n ? n : 1, sizeof *map);
    if (!jobs || !futs || !map) {
        free(jobs), free(futs), free(map);
        corio_executor_destroy(ex);
        return -ENOMEM;
    }
    double t0 = dl_now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (thread_job){.o = o, .index = i};
        int err = 0;
        corio_future *f = corio_executor_submit(ex, load_url, &jobs[i], &err);
        if (!f) {
            dl_result r = {.index = i};
            dl_fail(&r, err, "submit: %s", corio_strerror(err));
            dl_report_result(o, run, &r);
            continue;
        }
        futs[m] = f;
        map[m] = (fut_index){f, i};
        m++;
    }
    qsort(map, m, sizeof *map, fut_cmp);
    drain(o, run, futs, map, m, thread_record, jobs);
    run->seconds = dl_now() - t0;
    for (size_t i = 0; i < m; i++)
        corio_future_unref(futs[i]);
    corio_executor_destroy(ex);
    free(jobs), free(futs), free(map);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* procs                                                                     */

/* The bytes a process job receives: this header, then the URL and the
 * output path (empty: discard), each NUL-terminated. */
typedef struct proc_req {
    double timeout;  /* seconds per URL */
    uint32_t url_len;  /* bytes of the URL, without its NUL */
    uint32_t path_len; /* bytes of the output path, 0 for none */
} proc_req;

/* Runs in a worker process: decode the request, transfer, send the record
 * back as the result bytes. */
static int proc_job(void *arg, corio_value *out) {
    const corio_value *in = arg;
    proc_req h;
    if (in->len < sizeof h)
        return corio_task_fail(-EINVAL, "short request");
    memcpy(&h, in->ptr, sizeof h);
    if (in->len != sizeof h + h.url_len + 1 + h.path_len + 1)
        return corio_task_fail(-EINVAL, "malformed request");
    const char *url = (const char *)in->ptr + sizeof h;
    const char *path = h.path_len ? url + h.url_len + 1 : NULL;
    dl_result *r = calloc(1, sizeof *r);
    if (!r)
        return corio_task_fail(-ENOMEM, "out of memory");
    dl_fetch_easy(url, h.timeout, path, r);
    *out = (corio_value){r, sizeof *r, free};
    return 0;
}

static void proc_record(corio_future *f, size_t index, void *ctx, dl_result *r) {
    (void)ctx;
    (void)index;
    corio_value v;
    int rc = corio_future_result_value(f, CORIO_FOREVER, &v);
    if (rc == 0 && v.len == sizeof *r) {
        memcpy(r, v.ptr, sizeof *r);
    } else if (rc == 0) {
        dl_fail(r, CORIO_EPROTOCOL, "bad result record (%zu bytes)", v.len);
    } else {
        const char *msg = "";
        corio_future_exception(f, 0, &msg);
        dl_fail(r, rc, "%s%s%s", corio_strerror(rc), *msg ? ": " : "", msg);
    }
}

int dl_run_procs(const dl_options *o, dl_run *run) {
    size_t n = o->n_urls;
    corio_process_pool_options po = {.max_workers = o->concurrency};
    corio_executor *ex;
    int rc = corio_process_pool_create(&po, &ex);
    if (rc < 0)
        return rc;
    corio_future **futs = calloc(n ? n : 1, sizeof *futs);
    fut_index *map = calloc(n ? n : 1, sizeof *map);
    if (!futs || !map) {
        free(futs), free(map);
        corio_executor_destroy(ex);
        return -ENOMEM;
    }
    double t0 = dl_now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = dl_out_path(o->out_dir, o->urls[i], i);
        size_t ul = strlen(o->urls[i]), pl = path ? strlen(path) : 0;
        proc_req h = {.timeout = o->timeout, .url_len = (uint32_t)ul, .path_len = (uint32_t)pl};
        size_t len = sizeof h + ul + 1 + pl + 1;
        char *req = malloc(len);
        int err = -ENOMEM;
        corio_future *f = NULL;
        if (req) {
            memcpy(req, &h, sizeof h);
            memcpy(req + sizeof h, o->urls[i], ul + 1);
            if (path)
                memcpy(req + sizeof h + ul + 1, path, pl + 1);
            else
                req[sizeof h + ul + 1] = 0;
            f = corio_executor_submit_bytes(ex, proc_job, req, len, &err);
        }
        free(req);
        free(path);
        if (!f) {
            dl_result r = {.index = i};
            dl_fail(&r, err, "submit: %s", corio_strerror(err));
            dl_report_result(o, run, &r);
            continue;
        }
        futs[m] = f;
        map[m] = (fut_index){f, i};
        m++;
    }
    qsort(map, m, sizeof *map, fut_cmp);
    drain(o, run, futs, map, m, proc_record, NULL);
    run->seconds = dl_now() - t0;
    for (size_t i = 0; i < m; i++)
        corio_future_unref(futs[i]);
    corio_executor_destroy(ex);
    free(futs), free(map);
    return 0;
}
