/* corio-downloads — coro mode: one coroutine per URL on the io_uring loops.
 *
 * Every URL has a future, created up front; a reporter coroutine on loop 0
 * reads them with corio_as_completed, exactly as the threads mode's main
 * thread reads the thread pool's (the same calls suspend a coroutine).
 * The --concurrency window is split over the loops, one corio_semaphore per
 * loop: each loop's feeder coroutine takes a unit of
 * its loop's semaphore, then the next URL nobody has started (a shared
 * atomic counter, so a loop whose transfers finish sooner takes more), and
 * spawns that URL's transfer coroutine on its own loop; the transfer
 * completes its future and gives the unit back. So nothing crosses between
 * loops: no cross-thread spawn, no cross-loop semaphore hand-off, and each
 * loop's kept-alive connections serve its own transfers. A transfer uses:
 *   - http:// and https:// with the native client (coro_native.c, on
 *     corio_http_client) by default, or with libcurl's multi-socket API
 *     (coro_curl.c) under --coro-client curl;
 *   - any other scheme always with libcurl.
 * While a transfer waits for the network its coroutine is suspended and
 * costs its loop nothing. When every URL is done, one cleanup coroutine per
 * loop closes that loop's kept-alive connections and curl state.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downloads.h"

/* One URL's transfer. */
typedef struct coro_job {
    const dl_options *o;  /* the run's options */
    size_t index;         /* the URL's index */
    corio_semaphore *sem; /* its loop's window, given back when done */
    corio_future *done;   /* the transfer's future, awaited by the main thread */
    dl_result res;        /* filled by the coroutine */
} coro_job;

/* What every feeder shares. */
typedef struct feed {
    coro_job *jobs;       /* one per URL */
    size_t n;             /* URLs */
    _Atomic size_t next;  /* next URL to start, taken by any loop's feeder */
} feed;

/* One loop's feeder. */
typedef struct feeder {
    feed *shared;         /* the run */
    corio_semaphore *sem; /* this loop's share of the window */
} feeder;

static const corio_spawn_options job_stack = {.stack_size = 128 * 1024};

static int fetch_coro(void *arg, corio_value *out) {
    (void)out;
    coro_job *j = arg;
    const dl_options *o = j->o;
    const char *url = o->urls[j->index];
    char *path = dl_out_path(o->out_dir, url, j->index);
    if (o->client == DL_CLIENT_NATIVE && dl_native_url(url))
        dl_native_fetch(o, url, path, &j->res);
    else
        dl_curl_multi_fetch(o, url, path, &j->res);
    free(path);
    j->res.index = j->index;
    corio_semaphore_release(j->sem, 1);
    corio_future_set_result(j->done, j, NULL);
    return 0;
}

/* A loop's feeder: take a unit of the loop's semaphore, then the next URL
 * nobody has started, and spawn its transfer on this same loop. At most
 * the window's coroutines (and stacks) exist at once, whatever the number
 * of URLs; a loop whose transfers finish sooner simply takes more URLs. */
static int feeder_coro(void *arg, corio_value *out) {
    (void)out;
    feeder *fe = arg;
    feed *fd = fe->shared;
    for (;;) {
        int rc = corio_semaphore_acquire(fe->sem, CORIO_FOREVER);
        size_t i = atomic_fetch_add_explicit(&fd->next, 1, memory_order_relaxed);
        if (i >= fd->n) {
            if (rc == 0)
                corio_semaphore_release(fe->sem, 1);
            break;
        }
        coro_job *j = &fd->jobs[i];
        j->sem = fe->sem;
        corio_future *f = NULL;
        int err = rc;
        if (rc == 0)
            f = corio_spawn_on(corio_runtime_current(), -1, fetch_coro, j, &job_stack, &err);
        if (!f) {
            if (rc == 0)
                corio_semaphore_release(fe->sem, 1);
            corio_future_set_exception(j->done, err, "cannot start: %s", corio_strerror(err));
            continue;
        }
        corio_future_unref(f); /* the job's own future reports the outcome */
    }
    return 0;
}

/* Per-loop cleanup, run on that loop after its last transfer. */
static int cleanup_coro(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    dl_native_loop_cleanup();
    dl_curl_multi_loop_cleanup();
    return 0;
}

/* Reports every URL as its transfer completes (corio_as_completed): on a
 * coroutine (report_coro), or on the main thread if it cannot start. */
typedef struct reporter {
    const dl_options *o;
    dl_run *run;
    coro_job *jobs;
    corio_future **futs;
    size_t n;
} reporter;

static void report_all(reporter *rp) {
    const dl_options *o = rp->o;
    dl_run *run = rp->run;
    coro_job *jobs = rp->jobs;
    size_t m = rp->n;
    corio_as_completed *it;
    int rc = corio_as_completed_create2(rp->futs, m, CORIO_FOREVER, &it);
    if (rc == 0) {
        corio_future *f;
        while (corio_as_completed_next(it, &f) == 1) {
            void *v = NULL;
            const char *msg = "";
            int r = corio_future_result(f, CORIO_FOREVER, &v);
            if (r == 0) {
                dl_report_result(o, run, &((coro_job *)v)->res);
                continue;
            }
            /* A transfer that could not start: find its URL. */
            corio_future_exception(f, 0, &msg);
            for (size_t i = 0; i < m; i++)
                if (jobs[i].done == f) {
                    dl_fail(&jobs[i].res, r, "%s", msg);
                    dl_report_result(o, run, &jobs[i].res);
                    break;
                }
        }
        corio_as_completed_destroy(it);
    }
}

static int report_coro(void *arg, corio_value *out) {
    (void)out;
    report_all(arg);
    return 0;
}

int dl_run_coro(const dl_options *o, dl_run *run) {
    size_t n = o->n_urls;
    int loops_wanted = o->loops;
    corio_runtime_options ro = {.loops = loops_wanted, .ring_entries = 1024, .no_pin = !o->pin};
    corio_runtime *rt;
    int rc = corio_runtime_create(&ro, &rt);
    if (rc < 0)
        return rc;
    int loops = corio_runtime_loops(rt);
    /* The window is split over the loops that get a share of it. */
    int feeders = o->concurrency < loops ? o->concurrency : loops;
    corio_semaphore *sems[256] = {0};
    if (feeders > 256)
        feeders = 256;
    coro_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    corio_future **futs = calloc(n ? n : 1, sizeof *futs);
    for (int k = 0; k < feeders && rc == 0; k++) {
        unsigned share = (unsigned)(o->concurrency / feeders + (k < o->concurrency % feeders));
        rc = corio_semaphore_create(share, &sems[k]);
    }
    if (!jobs || !futs || rc < 0) {
        free(jobs), free(futs);
        for (int k = 0; k < feeders; k++)
            corio_semaphore_destroy(sems[k]);
        corio_runtime_destroy(rt);
        return rc < 0 ? rc : -ENOMEM;
    }
    double t0 = dl_now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        coro_job j = {.o = o, .index = i, .res = {.index = i}, .done = corio_future_create()};
        if (!j.done) {
            dl_result r = {.index = i};
            dl_fail(&r, -ENOMEM, "out of memory");
            dl_report_result(o, run, &r);
            continue;
        }
        jobs[m] = j;
        futs[m++] = j.done;
    }
    feed fd = {.jobs = jobs, .n = m};
    feeder fe[256];
    corio_future *ff[256] = {0};
    for (int k = 0; k < feeders; k++) {
        fe[k] = (feeder){.shared = &fd, .sem = sems[k]};
        ff[k] = corio_spawn_on(rt, k, feeder_coro, &fe[k], &job_stack, &rc);
    }
    if (feeders > 0 && !ff[0]) {
        /* Not even one feeder: fail what nobody will start. */
        for (size_t i = atomic_exchange(&fd.next, m); i < m; i++)
            corio_future_set_exception(futs[i], rc < 0 ? rc : -ENOMEM, "cannot start");
    }
    /* The reporter runs as a coroutine on loop 0 (the main thread only
     * waits for it): a completion on loop 0 then resumes it without any
     * thread wake-up, and one on another loop is a message to a loop that
     * is usually awake, where a blocked main thread needed a futex wake
     * and a context switch per URL (measured: 10% of a 1000-file run).
     * Should the spawn fail, the main thread reports. */
    reporter rep = {.o = o, .run = run, .jobs = jobs, .futs = futs, .n = m};
    corio_future *rf = corio_spawn_on(rt, 0, report_coro, &rep, &job_stack, &rc);
    if (rf) {
        corio_future_result(rf, CORIO_FOREVER, NULL);
        corio_future_unref(rf);
    } else {
        report_all(&rep);
    }
    run->seconds = dl_now() - t0;
    for (int k = 0; k < feeders; k++)
        if (ff[k]) {
            corio_future_result(ff[k], CORIO_FOREVER, NULL);
            corio_future_unref(ff[k]);
        }
    for (int l = 0; l < loops; l++) {
        int err;
        corio_future *f = corio_spawn_on(rt, l, cleanup_coro, NULL, &job_stack, &err);
        if (f) {
            corio_future_result(f, CORIO_FOREVER, NULL);
            corio_future_unref(f);
        }
    }
    corio_runtime_destroy(rt);
    for (int k = 0; k < feeders; k++)
        corio_semaphore_destroy(sems[k]);
    for (size_t i = 0; i < m; i++)
        corio_future_unref(futs[i]);
    free(jobs), free(futs);
    return 0;
}
