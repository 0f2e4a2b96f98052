/* ex_done_callbacks — add_done_callback on thread-pool futures.
 *
 * Python:
 *     def compute(n): time.sleep(1); return n * n
 *     def on_complete(future): print(f"Callback: result is {future.result()}")
 *     with ThreadPoolExecutor(max_workers=3) as ex:
 *         for i in range(5):
 *             ex.submit(compute, i).add_done_callback(on_complete)
 *         print("Main thread: tasks submitted")
 *
 * A done-callback runs on the thread that completes the future (here a
 * worker), or at once in the caller if the future is already done. It gets
 * the future itself; result() with a timeout of 0 cannot block there. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "corio.h"
#include "ex_common.h"

static atomic_int callbacks_run;

/* The task: sleep 50 ms (the "work"), then return n * n. */
static int compute(void *arg, corio_value *out) {
    intptr_t n = (intptr_t)arg;
    ex_sleep_ms(50);
    out->ptr = (void *)(n * n);
    return 0;
}

/* The callback: the future is done, so result(0) returns at once. */
static int on_complete(corio_future *f, void *arg) {
    intptr_t n = (intptr_t)arg;
    void *res;
    int r = corio_future_result(f, 0, &res);
    if (r == 0)
        printf("callback: compute(%ld) = %ld\n", (long)n, (long)(intptr_t)res);
    else
        printf("callback: compute(%ld) failed: %s\n", (long)n, corio_strerror(r));
    atomic_fetch_add(&callbacks_run, 1);
    return 0; /* a negative return would be logged; the other callbacks still run */
}

int main(void) {
    corio_executor *ex;
    corio_thread_pool_options opts = {.max_workers = 3};
    if (corio_thread_pool_create(&opts, &ex) < 0)
        return 1;

    corio_future *fs[5];
    for (intptr_t i = 0; i < 5; i++) {
        int err;
        fs[i] = corio_executor_submit(ex, compute, (void *)i, &err);
        if (!fs[i]) {
            fprintf(stderr, "submit: %s\n", corio_strerror(err));
            return 1;
        }
        int r = corio_future_add_done_callback(fs[i], on_complete, (void *)i);
        if (r < 0) /* if registering fails, the callback never runs */
            fprintf(stderr, "add_done_callback: %s\n", corio_strerror(r));
    }
    printf("main: 5 tasks submitted, callbacks will report them\n");

    /* Like leaving Python's `with` block: wait until the workers have run
     * every job. A worker runs a job's callbacks right after completing it,
     * before it takes another job, so they have all run too. */
    corio_executor_shutdown(ex, true, false);
    printf("main: shut down, %d callbacks ran\n", atomic_load(&callbacks_run));

    /* A callback added to a future that is already done runs right away,
     * in this thread. */
    corio_future_add_done_callback(fs[0], on_complete, (void *)0);

    for (int i = 0; i < 5; i++)
        corio_future_unref(fs[i]);
    corio_executor_destroy(ex);
    return atomic_load(&callbacks_run) == 6 ? 0 : 1;
}
