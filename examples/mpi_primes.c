/* mpi_primes — the prime checker from Python's concurrent.futures docs
 * (examples/ex_primes.c) distributed over MPI ranks:
 *
 *     mpiexec -n 4 ./mpi_primes          # SPMD: ranks 1..3 are the workers
 *     mpiexec -n 1 ./mpi_primes --spawn 3  # rank 0 spawns 3 workers
 *
 * Each number travels as 8 bytes (map with bytes items); the answer comes
 * back as the result's pointer value (0 or 1, no bytes). The job function
 * is registered by name (CORIO_MPI_FUNCTION) on every rank: that is how a
 * worker finds it, whatever address ASLR gave it there. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <corio.h>

static const uint64_t PRIMES[] = {112272535095293, 112582705942171, 112272535095293,
                                  115280095190773, 115797848077099, 1099726899285419};
#define N (sizeof PRIMES / sizeof PRIMES[0])

static int is_prime(uint64_t n) {
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    uint64_t limit = (uint64_t)sqrt((double)n);
    for (uint64_t i = 3; i <= limit; i += 2)
        if (n % i == 0)
            return 0;
    return 1;
}

/* The job: arg points to a corio_value holding the number's 8 bytes. */
static int is_prime_job(void *arg, corio_value *out) {
    const corio_value *in = arg;
    uint64_t n;
    if (in->len != sizeof n)
        return corio_task_fail(-22, "expected 8 bytes, got %zu", in->len);
    memcpy(&n, in->ptr, sizeof n);
    out->ptr = (void *)(uintptr_t)is_prime(n);
    return 0;
}
CORIO_MPI_FUNCTION(is_prime_job)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    /* First thing on every rank: workers serve here and return 0. */
    int r = corio_mpi_start(&argc, &argv);
    if (r <= 0) {
        if (r < 0)
            fprintf(stderr, "mpi_primes: %s\n", corio_strerror(r));
        return r < 0;
    }
    corio_mpi_options o = {0};
    if (argc > 2 && !strcmp(argv[1], "--spawn")) {
        o.spawn = true;
        o.max_workers = atoi(argv[2]);
    }
    double t0 = now();
    for (size_t i = 0; i < N; i++)
        (void)is_prime(PRIMES[i]);
    double seq = now() - t0;

    corio_executor *ex;
    r = corio_mpi_executor_create(&o, &ex);
    if (r < 0) {
        fprintf(stderr, "mpi_primes: executor: %s\n", corio_strerror(r));
        corio_mpi_finalize();
        return 1;
    }
    corio_value items[N];
    for (size_t i = 0; i < N; i++)
        items[i] = (corio_value){(void *)&PRIMES[i], sizeof PRIMES[i], NULL};
    t0 = now();
    corio_map_options mo = {.bytes = true};
    corio_map *m;
    r = corio_executor_map(ex, is_prime_job, items, N, &mo, &m);
    if (r < 0) {
        fprintf(stderr, "mpi_primes: map: %s\n", corio_strerror(r));
        return 1;
    }
    corio_value v;
    for (size_t i = 0; (r = corio_map_next(m, &v)) != 0; i++) {
        if (r < 0)
            printf("%llu: failed: %s\n", (unsigned long long)PRIMES[i], corio_map_message(m));
        else
            printf("%llu is prime: %s\n", (unsigned long long)PRIMES[i],
                   v.ptr ? "True" : "False");
    }
    double par = now() - t0;
    corio_map_destroy(m);
    corio_executor_stats st = {0};
    corio_executor_inspect(ex, &st);
    corio_executor_destroy(ex);
    printf("sequential %.3f s, %d MPI workers %.3f s (%.1fx)\n", seq, st.max_workers, par,
           seq / par);
    return corio_mpi_finalize() < 0;
}
