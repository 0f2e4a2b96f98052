/* corio-downloads — coro mode: one coroutine per URL on the io_uring loops.
 *
 * Every URL has a future, created up front; the main thread reads them
 * with corio_as_completed, exactly as the threads mode reads the thread
 * pool's. A feeder coroutine takes a unit of a corio_semaphore per URL (so
 * at most --concurrency transfers are in flight, over every loop) and
 * spawns that URL's transfer coroutine, round-robin over the loops; the
 * transfer completes its future and gives the unit back. A transfer uses:
 *   - http:// with the native client (coro_native.c) by default, or with
 *     libcurl's multi-socket API (coro_curl.c) under --coro-client curl;
 *   - https:// (and anything else) always with libcurl.
 * While a transfer waits for the network its coroutine is suspended and
 * costs its loop nothing. When every URL is done, one cleanup coroutine per
 * loop closes that loop's kept-alive connections and curl state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downloads.h"

/* One URL's transfer. */
typedef struct coro_job {
    const dl_options *o;  /* the run's options */
    size_t index;         /* the URL's index */
    corio_semaphore *sem; /* bounds transfers in flight */
    corio_future *done;   /* the transfer's future, awaited by the main thread */
    dl_result res;        /* filled by the coroutine */
} coro_job;

/* The feeder's view of the whole run. */
typedef struct feed {
    coro_job *jobs;       /* one per URL */
    size_t n;             /* URLs */
    corio_semaphore *sem; /* bounds transfers in flight */
    int loops;            /* loops to spread transfers over */
} feed;

static const corio_spawn_options job_stack = {.stack_size = 128 * 1024};

static int fetch_coro(void *arg, corio_value *out) {
    (void)out;
    coro_job *j = arg;
    const dl_options *o = j->o;
    const char *url = o->urls[j->index];
    char *path = dl_out_path(o->out_dir, url, j->index);
    if (o->client == DL_CLIENT_NATIVE && !strncmp(url, "http://", 7))
        dl_native_fetch(o, url, path, &j->res);
    else
        dl_curl_multi_fetch(o, url, path, &j->res);
    free(path);
    j->res.index = j->index;
    corio_semaphore_release(j->sem, 1);
    corio_future_set_result(j->done, j, NULL);
    return 0;
}

/* Starts one transfer coroutine per URL, each after taking a unit of the
 * semaphore: at most --concurrency coroutines (and stacks) exist at once,
 * instead of one per URL waiting for its turn. */
static int feeder_coro(void *arg, corio_value *out) {
    (void)out;
    feed *fd = arg;
    corio_runtime *rt = corio_runtime_current();
    for (size_t i = 0; i < fd->n; i++) {
        coro_job *j = &fd->jobs[i];
        int rc = corio_semaphore_acquire(fd->sem, CORIO_FOREVER);
        corio_future *f = NULL;
        int err = rc;
        if (rc == 0)
            f = corio_spawn_on(rt, (int)(i % (size_t)fd->loops), fetch_coro, j, &job_stack, &err);
        if (!f) {
            if (rc == 0)
                corio_semaphore_release(fd->sem, 1);
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

int dl_run_coro(const dl_options *o, dl_run *run) {
    size_t n = o->n_urls;
    corio_runtime_options ro = {.loops = o->loops, .ring_entries = 1024};
    corio_runtime *rt;
    int rc = corio_runtime_create(&ro, &rt);
    if (rc < 0)
        return rc;
    corio_semaphore *sem;
    rc = corio_semaphore_create((unsigned)o->concurrency, &sem);
    if (rc < 0) {
        corio_runtime_destroy(rt);
        return rc;
    }
    coro_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    corio_future **futs = calloc(n ? n : 1, sizeof *futs);
    if (!jobs || !futs) {
        free(jobs), free(futs);
        corio_semaphore_destroy(sem);
        corio_runtime_destroy(rt);
        return -ENOMEM;
    }
    int loops = corio_runtime_loops(rt);
    double t0 = dl_now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (coro_job){.o = o, .index = i, .sem = sem, .res = {.index = i}};
        jobs[i].done = corio_future_create();
        if (!jobs[i].done) {
            dl_result r = {.index = i};
            dl_fail(&r, -ENOMEM, "out of memory");
            dl_report_result(o, run, &r);
            continue;
        }
        futs[m++] = jobs[i].done;
    }
    /* The feeder only runs jobs whose future exists: compact the list. */
    coro_job *live = calloc(m ? m : 1, sizeof *live);
    size_t k = 0;
    for (size_t i = 0; live && i < n; i++)
        if (jobs[i].done)
            live[k++] = jobs[i];
    feed fd = {.jobs = live, .n = m, .sem = sem, .loops = loops};
    corio_future *feeder = live ? corio_spawn_on(rt, 0, feeder_coro, &fd, &job_stack, &rc) : NULL;
    if (!feeder) {
        for (size_t i = 0; i < m; i++)
            corio_future_set_exception(futs[i], rc < 0 ? rc : -ENOMEM, "cannot start");
    }
    corio_as_completed *it;
    rc = corio_as_completed_create2(futs, m, CORIO_FOREVER, &it);
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
                if (live && live[i].done == f) {
                    dl_fail(&live[i].res, r, "%s", msg);
                    dl_report_result(o, run, &live[i].res);
                    break;
                }
        }
        corio_as_completed_destroy(it);
    }
    run->seconds = dl_now() - t0;
    if (feeder) {
        corio_future_result(feeder, CORIO_FOREVER, NULL);
        corio_future_unref(feeder);
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
    corio_semaphore_destroy(sem);
    for (size_t i = 0; i < m; i++)
        corio_future_unref(futs[i]);
    free(live), free(jobs), free(futs);
    return 0;
}
