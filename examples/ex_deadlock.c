/* ex_deadlock — the seeds' thread-pool deadlocks, which hang forever in
 * Python, end here with -EDEADLK and a message naming the pool.
 *
 * Python (the concurrent.futures documentation's two examples):
 *     def wait_on_future():
 *         f = executor.submit(pow, 5, 2)
 *         print(f.result())          # never completes: the only worker is us
 *     executor = ThreadPoolExecutor(max_workers=1)
 *     executor.submit(wait_on_future)
 *
 *     def wait_on_b(): return b.result()   # a and b wait on each other
 *     def wait_on_a(): return a.result()
 *     executor = ThreadPoolExecutor(max_workers=2)
 *     a = executor.submit(wait_on_b)
 *     b = executor.submit(wait_on_a)
 *
 * corio sees every worker of the pool blocked on a future that only a job
 * of the same pool can complete (queued behind it, or running on a worker
 * that is itself blocked), and returns -EDEADLK from the last wait instead
 * of blocking. The job returning that code fails its future, which frees
 * the others. Exit status 0 when both deadlocks were reported. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include "corio.h"

static corio_executor *pool;

static int square(void *arg, corio_value *out) {
    (void)arg;
    out->ptr = (void *)(intptr_t)25;
    return 0;
}

/* The first example: wait, from the pool's only worker, on a job queued
 * behind us in the same pool. */
static int wait_on_future(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    corio_future *f = corio_executor_submit(pool, square, NULL, NULL);
    if (!f)
        return -ENOMEM;
    int r = corio_future_result(f, CORIO_FOREVER, NULL);
    corio_future_unref(f);
    return r; /* -EDEADLK, with the pool named in our future's message */
}

/* The second example: two jobs waiting on each other's future. */
static corio_future *_Atomic fa, *_Atomic fb;

static int wait_on(void *arg, corio_value *out) {
    (void)out;
    corio_future *_Atomic *other = arg;
    corio_future *f;
    while (!(f = atomic_load(other))) {
    } /* published right after both submits */
    return corio_future_result(f, CORIO_FOREVER, NULL);
}

static int report(const char *what, corio_future *f) {
    const char *msg = "";
    int r = corio_future_exception(f, CORIO_FOREVER, &msg);
    printf("%s: %s%s%s\n", what, corio_error_name(r), *msg ? ": " : "", msg);
    return r;
}

int main(void) {
    int ok = 1;
    corio_thread_pool_options one = {.max_workers = 1, .thread_name_prefix = "seed-one"};
    if (corio_thread_pool_create(&one, &pool) < 0)
        return 1;
    corio_future *f = corio_executor_submit(pool, wait_on_future, NULL, NULL);
    ok &= f && report("wait_on_future", f) == -EDEADLK;
    corio_future_unref(f);
    corio_executor_destroy(pool);

    corio_thread_pool_options two = {.max_workers = 2, .thread_name_prefix = "seed-two"};
    if (corio_thread_pool_create(&two, &pool) < 0)
        return 1;
    corio_future *a = corio_executor_submit(pool, wait_on, (void *)&fb, NULL);
    corio_future *b = corio_executor_submit(pool, wait_on, (void *)&fa, NULL);
    if (!a || !b)
        return 1;
    atomic_store(&fa, a);
    atomic_store(&fb, b);
    /* One of them gets -EDEADLK; the other then gets its failure. */
    int ra = report("a (waits on b)", a), rb = report("b (waits on a)", b);
    ok &= ra == -EDEADLK && rb == -EDEADLK;
    corio_future_unref(a);
    corio_future_unref(b);
    corio_executor_destroy(pool);
    return ok ? 0 : 1;
}
