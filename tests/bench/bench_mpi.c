/* bench_mpi — corio's MPI executor against mpi4py.futures' MPIPoolExecutor,
 * same launcher, same number of ranks, same transports, in one run:
 *
 *   - round trip of a no-op job (submit, result), one at a time
 *   - map over 100,000 items with chunksize 1 and with chunksize 1000
 *
 * Run without arguments (as `make bench` does): it launches itself under
 * `mpiexec -n 4 --oversubscribe` (3 workers, SPMD), then mpi4py's side
 * (bench_mpi.py under `python3 -m mpi4py.futures`, also -n 4), and prints
 * both and the ratios. BENCH_MPI_ARGS adds mpiexec options (e.g.
 * "--mca btl tcp,self"); BENCH_MPI_NP changes the rank count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <corio.h>

#include "bench_common.h"

#define N_RT 2000
#define N_MAP 100000

static int noop(void *arg, corio_value *out) {
    out->ptr = arg;
    return 0;
}
CORIO_MPI_FUNCTION(noop)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The MPI side: rank 0 prints `name value` lines. */
static int child(int argc, char **argv) {
    int r = corio_mpi_start(&argc, &argv);
    if (r <= 0)
        return r < 0;
    corio_executor *ex;
    if (corio_mpi_executor_create(NULL, &ex) < 0)
        return 1;
    int err;
    for (int i = 0; i < N_RT + 100; i++) {
        if (i == 100) {
            double t = now();
            for (int k = 0; k < N_RT; k++) {
                corio_future *f = corio_executor_submit(ex, noop, (void *)(intptr_t)k, &err);
                void *v;
                if (!f || corio_future_result(f, -1, &v) != 0)
                    return 1;
                corio_future_unref(f);
            }
            printf("roundtrip_us %.3f\n", (now() - t) / N_RT * 1e6);
            break;
        }
        corio_future *f = corio_executor_submit(ex, noop, NULL, &err);
        void *v;
        if (!f || corio_future_result(f, -1, &v) != 0)
            return 1;
        corio_future_unref(f);
    }
    void **items = malloc(N_MAP * sizeof *items);
    if (!items)
        return 1;
    for (intptr_t i = 0; i < N_MAP; i++)
        items[i] = (void *)i;
    size_t cs[] = {1, 1000};
    for (int c = 0; c < 2; c++) {
        corio_map_options o = {.chunksize = cs[c]};
        corio_map *m;
        double t = now();
        if (corio_executor_map(ex, noop, items, N_MAP, &o, &m) != 0)
            return 1;
        corio_value v;
        long long sum = 0;
        while ((r = corio_map_next(m, &v)) == 1)
            sum += (intptr_t)v.ptr;
        double dt = now() - t;
        corio_map_destroy(m);
        if (r != 0 || sum != (long long)N_MAP * (N_MAP - 1) / 2)
            return 1;
        printf("map%zu_items_per_s %.0f\n", cs[c], N_MAP / dt);
    }
    fflush(stdout);
    free(items);
    corio_executor_destroy(ex);
    corio_mpi_finalize();
    return 0;
}

typedef struct figs {
    double rt_us, map1, map1000;
} figs;

static int run_side(const char *cmd, figs *f) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[256];
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "roundtrip_us %lf", &v) == 1)
            f->rt_us = v, got++;
        else if (sscanf(line, "map1_items_per_s %lf", &v) == 1)
            f->map1 = v, got++;
        else if (sscanf(line, "map1000_items_per_s %lf", &v) == 1)
            f->map1000 = v, got++;
    }
    int st = pclose(p);
    return st == 0 && got == 3 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--child"))
        return child(argc, argv);
    bench_print_machine();
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    const char *extra = getenv("BENCH_MPI_ARGS") ? getenv("BENCH_MPI_ARGS") : "";
    const char *np = getenv("BENCH_MPI_NP") ? getenv("BENCH_MPI_NP") : "4";
    char self[4096];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0)
        return 1;
    self[l] = '\0';
    char cmd[8192];
    printf("launcher: mpiexec -n %s --oversubscribe %s (SPMD: %d workers each)\n", np, extra,
           atoi(np) - 1);
    figs c = {0}, py = {0};
    snprintf(cmd, sizeof cmd, "mpiexec -n %s --oversubscribe %s %s --child", np, extra, self);
    if (run_side(cmd, &c) != 0) {
        fprintf(stderr, "bench_mpi: the corio side failed (%s)\n", cmd);
        return 1;
    }
    printf("corio   round trip (no-op job)    %9.1f us\n", c.rt_us);
    printf("corio   map 100k, chunksize 1     %9.0f items/s\n", c.map1);
    printf("corio   map 100k, chunksize 1000  %9.0f items/s\n", c.map1000);
    snprintf(cmd, sizeof cmd,
             "mpiexec -n %s --oversubscribe %s /usr/bin/python3 -m mpi4py.futures %s %d %d", np,
             extra, CORIO_BENCH_MPI_PY, N_RT, N_MAP);
    if (run_side(cmd, &py) != 0) {
        printf("mpi4py.futures not available (python3-mpi4py): no ratios\n");
        return 0;
    }
    printf("mpi4py  round trip (no-op job)    %9.1f us\n", py.rt_us);
    printf("mpi4py  map 100k, chunksize 1     %9.0f items/s\n", py.map1);
    printf("mpi4py  map 100k, chunksize 1000  %9.0f items/s\n", py.map1000);
    printf("ratio   round trip                %9.1fx (goal >= 20x)\n", py.rt_us / c.rt_us);
    printf("ratio   map chunksize 1           %9.1fx\n", c.map1 / py.map1);
    printf("ratio   map chunksize 1000        %9.1fx (goal >= 5x)\n", c.map1000 / py.map1000);
    return 0;
}
