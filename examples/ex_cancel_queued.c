/* ex_cancel_queued — cancel jobs that are still queued.
 *
 * Python:
 *     with ThreadPoolExecutor(max_workers=1) as ex:
 *         future1 = ex.submit(long_task, 1)
 *         future2 = ex.submit(long_task, 2)   # queued, not started
 *         future3 = ex.submit(long_task, 3)   # queued, not started
 *         time.sleep(0.1)                     # let the first task start
 *         print(future2.cancel(), future3.cancel())   # True True
 *         print(future1.cancel())                     # False: already running
 *
 * A pending future can be cancelled; a running or finished one cannot
 * (cancel returns false). result() of a cancelled future returns
 * -ECANCELED, and the worker skips the job entirely. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "corio.h"
#include "ex_common.h"

static int long_task(void *arg, corio_value *out) {
    ex_sleep_ms(200);
    out->ptr = arg;
    return 0;
}

int main(void) {
    corio_executor *ex;
    corio_thread_pool_options opts = {.max_workers = 1};
    if (corio_thread_pool_create(&opts, &ex) < 0)
        return 1;

    corio_future *f[4] = {NULL};
    for (intptr_t i = 1; i <= 3; i++) {
        int err;
        f[i] = corio_executor_submit(ex, long_task, (void *)i, &err);
        if (!f[i]) {
            fprintf(stderr, "submit: %s\n", corio_strerror(err));
            return 1;
        }
    }
    ex_sleep_ms(50); /* let the one worker start job 1 */

    bool c2 = corio_future_cancel(f[2]);
    bool c3 = corio_future_cancel(f[3]);
    bool c1 = corio_future_cancel(f[1]);
    printf("future 2 cancelled: %s\n", c2 ? "true" : "false");
    printf("future 3 cancelled: %s\n", c3 ? "true" : "false");
    printf("future 1 cancelled: %s (already running)\n", c1 ? "true" : "false");

    void *res;
    int r1 = corio_future_result(f[1], CORIO_FOREVER, &res);
    int r2 = corio_future_result(f[2], CORIO_FOREVER, NULL);
    printf("future 1 result: %ld\n", r1 == 0 ? (long)(intptr_t)res : -1L);
    printf("future 2 result: %s (%s)\n", corio_error_name(r2), corio_strerror(r2));

    corio_executor_destroy(ex); /* returns after job 1 only: 2 and 3 never run */
    for (int i = 1; i <= 3; i++)
        corio_future_unref(f[i]);
    return c2 && c3 && !c1 && r1 == 0 && r2 == -ECANCELED ? 0 : 1;
}
