/* ex_wait_first_completed — wait(FIRST_COMPLETED), then wait for the rest.
 *
 * Python:
 *     with ThreadPoolExecutor(max_workers=3) as ex:
 *         futures = [ex.submit(task, 1, 3), ex.submit(task, 2, 1), ex.submit(task, 3, 2)]
 *         done, not_done = wait(futures, return_when=FIRST_COMPLETED)
 *         print(f"First completed: {done.pop().result()}")
 *         done, not_done = wait(not_done, return_when=ALL_COMPLETED)
 *
 * corio_wait partitions the futures into caller-provided `done` and
 * `not_done` arrays (in input order) instead of returning two sets. The
 * arrays borrow the caller's references: nothing to release. */
#include <stdint.h>
#include <stdio.h>

#include "corio.h"
#include "ex_common.h"

/* A task: its argument is its duration in ms; its result is that too. */
static int task(void *arg, corio_value *out) {
    ex_sleep_ms((long)(intptr_t)arg);
    out->ptr = arg;
    return 0;
}

int main(void) {
    corio_executor *ex;
    corio_thread_pool_options opts = {.max_workers = 3};
    if (corio_thread_pool_create(&opts, &ex) < 0)
        return 1;

    const intptr_t ms[3] = {150, 50, 100}; /* task 2 finishes first */
    corio_future *fs[3];
    for (int i = 0; i < 3; i++) {
        int err;
        fs[i] = corio_executor_submit(ex, task, (void *)ms[i], &err);
        if (!fs[i]) {
            fprintf(stderr, "submit: %s\n", corio_strerror(err));
            return 1;
        }
    }

    corio_future *done[3], *not_done[3];
    size_t n_done, n_not_done;
    int r = corio_wait(fs, 3, CORIO_FOREVER, CORIO_FIRST_COMPLETED, done, &n_done, not_done,
                       &n_not_done);
    if (r < 0) {
        fprintf(stderr, "wait: %s\n", corio_strerror(r));
        return 1;
    }
    void *res;
    corio_future_result(done[0], 0, &res);
    printf("first completed: the %ld ms task\n", (long)(intptr_t)res);
    printf("still running: %zu\n", n_not_done);
    int first_ok = n_done == 1 && (intptr_t)res == 50;

    /* Now wait for the rest: pass the not_done array back in. */
    size_t n_rest_done;
    corio_future *done2[3];
    r = corio_wait(not_done, n_not_done, CORIO_FOREVER, CORIO_ALL_COMPLETED, done2, &n_rest_done,
                   NULL, NULL);
    for (size_t i = 0; i < n_rest_done; i++) {
        corio_future_result(done2[i], 0, &res);
        printf("completed: the %ld ms task\n", (long)(intptr_t)res);
    }

    for (int i = 0; i < 3; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    return r == 0 && first_ok && n_rest_done == 2 ? 0 : 1;
}
