/* corio — the MPI executor: jobs on MPI ranks behind the executor interface.
 *
 * Like mpi4py.futures' MPIPoolExecutor. Two ways to start:
 *
 *   SPMD   mpiexec -n N ./prog — every rank runs main; corio_mpi_start()
 *          at the top of main makes ranks 1..N-1 serve jobs until the
 *          executor on rank 0 shuts down, then returns 0 on them.
 *   Spawn  mpiexec -n 1 ./prog — corio_mpi_executor_create() starts
 *          max_workers workers with MPI_Comm_spawn (the same program, whose
 *          corio_mpi_start() sees its parent and serves).
 *
 * Function identity: a job names its function by a registered name
 * (CORIO_MPI_FUNCTION below); every rank runs the same binary, so every
 * rank builds the same registry before main. Pointers are not comparable
 * across processes under PIE and ASLR. Arguments and results travel as
 * bytes, as on the process pool (corio_executor_submit_bytes).
 *
 * When the library was built without MPI, every function here returns
 * -ENOTSUP (and corio_mpi_submit_named NULL with *err = -ENOTSUP).
 */
#ifndef CORIO_MPI_H
#define CORIO_MPI_H

#include "common.h"
#include "executor.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The default and largest byte payload of one job or one result (a map
 * chunk counts as one): beyond the limit submit fails with -EMSGSIZE, and a
 * worker fails a job whose result is larger with -EMSGSIZE. */
#define CORIO_MPI_MAX_PAYLOAD ((size_t)1 << 30)
/** The longest registered function name, in bytes (without the NUL). */
#define CORIO_MPI_NAME_MAX 63
/** The most functions one program can register. */
#define CORIO_MPI_REGISTRY_MAX 1024

/** Register `fn` under its own name before main, on every rank:
 * `CORIO_MPI_FUNCTION(my_job)` at file scope, after my_job's definition. */
#define CORIO_MPI_FUNCTION(fn)                                                                     \
    __attribute__((constructor)) static void corio_mpi_register_##fn(void) {                       \
        (void)corio_mpi_register(#fn, fn);                                                         \
    }

/** Register a job function under `name` (at most CORIO_MPI_NAME_MAX bytes).
 * Every rank must register the same names (the macro above does it before
 * main). Returns 0, -EEXIST when the name is taken by another function,
 * -EINVAL for a NULL or too long name or NULL fn, -ENOSPC beyond
 * CORIO_MPI_REGISTRY_MAX, -ENOTSUP without MPI.
 * Lifetime: `name` is copied. Thread-safe. */
CORIO_API int corio_mpi_register(const char *name, corio_fn fn);

/** Initialise MPI (MPI_Init_thread asking MPI_THREAD_SERIALIZED: the
 * executor makes its MPI calls from its own progress thread) and, on a
 * worker, serve jobs. Call it first in main, on every rank:
 *
 *     int r = corio_mpi_start(&argc, &argv);
 *     if (r <= 0)
 *         return r < 0;       // worker done (0) or failure (< 0)
 *     ...rank 0 (or the spawning process): create the executor...
 *
 * Returns 1 on the rank that should go on with main (world rank 0 of a
 * program not spawned by the executor), 0 on a worker after it served until
 * the executor shut down (MPI is then finalized), or -ENOTSUP when the MPI
 * library gives less than MPI_THREAD_SERIALIZED, -EALREADY on a second call,
 * -EPROTO when an MPI call failed. argc and argv may be NULL.
 * Lifetime: argc/argv as MPI_Init's. */
CORIO_API int corio_mpi_start(int *argc, char ***argv);

/** Finalize MPI on the rank that went on with main, after every MPI
 * executor was destroyed. Returns 0, -EBUSY while an executor lives,
 * -EINVAL when corio_mpi_start did not initialise MPI, -ENOTSUP without MPI. */
CORIO_API int corio_mpi_finalize(void);

/** This process's rank in MPI_COMM_WORLD, or -ENOTSUP without MPI, -EINVAL
 * before corio_mpi_start. */
CORIO_API int corio_mpi_rank(void);

/** Options for corio_mpi_executor_create. Zero-initialise, then set fields. */
typedef struct corio_mpi_options {
    int max_workers;    /**< spawn: workers to start (0: 1); SPMD: 0 or at most world size - 1 (every other rank serves) */
    bool spawn;         /**< start workers with MPI_Comm_spawn even when the world has several ranks */
    const char *command; /**< spawn: the program (NULL: this program, /proc/self/exe) */
    char **argv;        /**< spawn: its arguments (NULL-terminated, without argv[0]), or NULL */
    size_t max_payload; /**< 0: CORIO_MPI_MAX_PAYLOAD; larger: -EINVAL */
    int max_poll_us;    /**< longest sleep between polls while jobs are in flight (0: 200 µs) */
} corio_mpi_options;

/** Create the MPI executor. SPMD (the default when the world has more than
 * one rank, and not opts->spawn): ranks 1..N-1 are the workers; at most one
 * SPMD executor per run, since its shutdown ends the workers' service.
 * Spawn: max_workers processes are started now (MPI_Comm_spawn, blocking).
 * Returns 0 and stores the executor in *out (owned by the caller, release
 * with corio_executor_destroy), -EINVAL for bad options or before
 * corio_mpi_start on this process, -EALREADY for a second SPMD executor,
 * -ECHILD when the world has one rank and spawning failed, -ENOMEM,
 * -EAGAIN when the progress thread cannot start, -ENOTSUP without MPI.
 * Lifetime: opts and its strings are only read during the call. */
CORIO_API int corio_mpi_executor_create(const corio_mpi_options *opts, corio_executor **out);

/** Submit a job naming its function by registered name, with `len` bytes
 * of argument (copied before return). The worker looks the name up; an
 * unknown name fails the future with -ENOENT and a message naming it and
 * the rank. Returns the future (a new reference owned by the caller), or
 * NULL with *err (when not NULL) set to -EINVAL (not an MPI executor, NULL
 * name, name too long, NULL data with len > 0), -EMSGSIZE (len beyond
 * max_payload), CORIO_ESHUTDOWN, CORIO_EBROKEN_MPI, -ENOMEM, -ENOTSUP.
 * Lifetime: name and data are only read during the call. */
CORIO_API corio_future *corio_mpi_submit_named(corio_executor *ex, const char *name,
                                               const void *data, size_t len, int *err);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_MPI_H */
