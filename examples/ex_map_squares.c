/* ex_map_squares — Executor.map over 1000 numbers.
 *
 * Python:
 *     with ThreadPoolExecutor(max_workers=4) as ex:
 *         squares = list(ex.map(lambda n: n * n, range(1000)))
 *
 * corio_executor_map takes an array of item pointers and returns an ordered
 * iterator: results come back in input order whatever order the jobs finish
 * in. Here each item is a number smuggled in the pointer itself, and each
 * result is a number smuggled back the same way, so nothing is allocated per
 * item. */
#include <stdint.h>
#include <stdio.h>

#include "corio.h"

#define N 1000

/* The task: square the number carried by the item pointer. */
static int square(void *arg, corio_value *out) {
    intptr_t n = (intptr_t)arg;
    out->ptr = (void *)(n * n);
    return 0;
}

int main(void) {
    corio_executor *ex;
    corio_thread_pool_options opts = {.max_workers = 4};
    int r = corio_thread_pool_create(&opts, &ex);
    if (r < 0) {
        fprintf(stderr, "thread pool: %s\n", corio_strerror(r));
        return 1;
    }

    /* The items must stay valid until the iterator is destroyed. */
    static void *items[N];
    for (intptr_t i = 0; i < N; i++)
        items[i] = (void *)i;

    corio_map *m;
    r = corio_executor_map(ex, square, items, N, NULL, &m);
    if (r < 0) {
        fprintf(stderr, "map: %s\n", corio_strerror(r));
        corio_executor_destroy(ex);
        return 1;
    }

    /* corio_map_next returns 1 per result, 0 at the end, < 0 on a failure. */
    corio_value v;
    long long sum = 0;
    size_t count = 0;
    int ok = 1;
    while ((r = corio_map_next(m, &v)) == 1) {
        intptr_t sq = (intptr_t)v.ptr;
        if (sq != (intptr_t)(count * count))
            ok = 0; /* would mean results came back out of order */
        sum += sq;
        count++;
    }
    if (r < 0) {
        fprintf(stderr, "item %zu failed: %s %s\n", count, corio_strerror(r), corio_map_message(m));
        ok = 0;
    }
    corio_map_destroy(m);
    corio_executor_destroy(ex); /* shutdown(wait=True), then free */

    printf("squared %zu numbers on 4 workers, in order: %s\n", count, ok ? "yes" : "NO");
    printf("0^2 + 1^2 + ... + 999^2 = %lld (expected %lld)\n", sum, (long long)(N - 1) * N * (2 * N - 1) / 6);
    return ok && count == N && sum == (long long)(N - 1) * N * (2 * N - 1) / 6 ? 0 : 1;
}
