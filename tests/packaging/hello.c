/* The program the packaging checks build against an installed or
 * subproject corio: a coroutine on a one-loop runtime awaits a thread-pool
 * job, and the error table is reachable. Prints "corio ok" on success. */
#include <corio.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

static int square(void *arg, corio_value *out) {
    long v = (long)(intptr_t)arg;
    out->ptr = (void *)(intptr_t)(v * v);
    return 0;
}

static int main_coro(void *arg, corio_value *out) {
    corio_executor *pool = arg;
    int err = 0;
    corio_future *f = corio_executor_submit(pool, square, (void *)(intptr_t)12, &err);
    if (!f)
        return err;
    void *r = NULL;
    int rc = corio_future_result(f, 10.0, &r); /* suspends the coroutine */
    corio_future_unref(f);
    out->ptr = r;
    return rc;
}

int main(void) {
    corio_executor *pool = NULL;
    corio_thread_pool_options o = {.max_workers = 2};
    if (corio_thread_pool_create(&o, &pool) < 0)
        return 1;
    corio_value v = {0};
    int rc = corio_run(main_coro, pool, &v);
    corio_executor_destroy(pool);
    if (rc != 0 || (intptr_t)v.ptr != 144 || strcmp(corio_error_name(-ETIMEDOUT), "ETIMEDOUT")) {
        fprintf(stderr, "rc %d value %ld\n", rc, (long)(intptr_t)v.ptr);
        return 1;
    }
    printf("corio ok (%s)\n", corio_version());
    return 0;
}
