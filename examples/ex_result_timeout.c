/* ex_result_timeout — result() with a timeout.
 *
 * Python:
 *     with ThreadPoolExecutor(max_workers=2) as ex:
 *         future = ex.submit(slow_task, 5)
 *         try:
 *             print(future.result(timeout=2))
 *         except TimeoutError:
 *             print("Task timed out!")   # the task keeps running
 *
 * Timeouts are relative, in seconds, as a double, exactly like Python's;
 * CORIO_FOREVER waits without limit and 0 only polls. A timeout returns
 * -ETIMEDOUT and leaves the future alone: the job keeps running and a later
 * result() call can still collect it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "corio.h"
#include "ex_common.h"

/* The task: sleep for arg milliseconds, return that number. */
static int slow_task(void *arg, corio_value *out) {
    ex_sleep_ms((long)(intptr_t)arg);
    out->ptr = arg;
    return 0;
}

int main(void) {
    corio_executor *ex;
    corio_thread_pool_options opts = {.max_workers = 2};
    if (corio_thread_pool_create(&opts, &ex) < 0)
        return 1;

    int err;
    corio_future *f = corio_executor_submit(ex, slow_task, (void *)(intptr_t)300, &err);
    if (!f) {
        fprintf(stderr, "submit: %s\n", corio_strerror(err));
        return 1;
    }

    double t0 = ex_now();
    void *res;
    int r = corio_future_result(f, 0.1, &res); /* wait at most 100 ms */
    if (r == -ETIMEDOUT && !corio_future_done(f))
        printf("task timed out after %.0f ms (it keeps running)\n", (ex_now() - t0) * 1e3);
    int timed_out = r == -ETIMEDOUT;

    r = corio_future_result(f, 0, NULL); /* a poll: never blocks */
    printf("poll: %s\n", corio_error_name(r));

    r = corio_future_result(f, CORIO_FOREVER, &res); /* now wait for it */
    printf("task finished after %.0f ms with %ld\n", (ex_now() - t0) * 1e3,
           r == 0 ? (long)(intptr_t)res : -1L);

    corio_future_unref(f);
    corio_executor_destroy(ex);
    return timed_out && r == 0 ? 0 : 1;
}
