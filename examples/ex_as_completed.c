/* ex_as_completed — handle results in completion order, one job failing.
 *
 * Python:
 *     def risky_task(n):
 *         if n == 3:
 *             raise ValueError(f"Bad value: {n}")
 *         return n * 2
 *     with ThreadPoolExecutor(max_workers=3) as ex:
 *         futures = {ex.submit(risky_task, i): i for i in range(5)}
 *         for future in as_completed(futures):
 *             n = futures[future]
 *             try:
 *                 print(f"Task {n}: {future.result()}")
 *             except ValueError as e:
 *                 print(f"Task {n} failed: {e}")
 *
 * Errors are values in corio: the task returns a negative code (here
 * -EINVAL, Python's ValueError) and attaches a message with
 * corio_task_fail; result() returns that code and exception() hands out the
 * message. The iterator yields borrowed futures: to map a future back to
 * its input, keep your own table, as the Python dict does. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "corio.h"
#include "ex_common.h"

#define N 5

/* The task: fail for n == 3, else return n * 2 after (5 - n) * 10 ms, so
 * the jobs finish roughly in reverse order. */
static int risky_task(void *arg, corio_value *out) {
    intptr_t n = (intptr_t)arg;
    ex_sleep_ms((N - n) * 10);
    if (n == 3)
        return corio_task_fail(-EINVAL, "Bad value: %ld", (long)n);
    out->ptr = (void *)(n * 2);
    return 0;
}

int main(void) {
    corio_executor *ex;
    corio_thread_pool_options opts = {.max_workers = 3};
    if (corio_thread_pool_create(&opts, &ex) < 0)
        return 1;

    corio_future *fs[N];
    for (intptr_t i = 0; i < N; i++) {
        int err;
        fs[i] = corio_executor_submit(ex, risky_task, (void *)i, &err);
        if (!fs[i]) {
            fprintf(stderr, "submit: %s\n", corio_strerror(err));
            return 1;
        }
    }

    corio_as_completed *it;
    int r = corio_as_completed_create2(fs, N, CORIO_FOREVER, &it);
    if (r < 0) {
        fprintf(stderr, "as_completed: %s\n", corio_strerror(r));
        return 1;
    }
    int ok = 0, failed = 0;
    corio_future *f;
    while ((r = corio_as_completed_next(it, &f)) == 1) {
        int n = -1; /* find the input this future came from */
        for (int i = 0; i < N; i++)
            if (fs[i] == f)
                n = i;
        void *res;
        int code = corio_future_result(f, 0, &res);
        if (code == 0) {
            printf("task %d: %ld\n", n, (long)(intptr_t)res);
            ok++;
        } else {
            const char *msg;
            corio_future_exception(f, 0, &msg);
            printf("task %d failed: %s: %s\n", n, corio_error_name(code), msg);
            failed++;
        }
    }
    if (r < 0) /* -ETIMEDOUT with a finite timeout */
        fprintf(stderr, "as_completed: %s\n", corio_strerror(r));
    corio_as_completed_destroy(it);

    for (int i = 0; i < N; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    printf("%d succeeded, %d failed\n", ok, failed);
    return r == 0 && ok == 4 && failed == 1 ? 0 : 1;
}
