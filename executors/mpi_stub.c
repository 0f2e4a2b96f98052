/* corio — the MPI executor's functions when the library is built without
 * MPI: every one fails with -ENOTSUP, so that libcorio exports the same
 * symbols whether or not MPI was found (one ABI, one corio.map). */
#include <errno.h>

#include "internal.h"
#include "corio/mpi.h"

CORIO_API int corio_mpi_register(const char *name, corio_fn fn) {
    (void)name;
    (void)fn;
    return -ENOTSUP;
}

CORIO_API int corio_mpi_start(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return -ENOTSUP;
}

CORIO_API int corio_mpi_finalize(void) { return -ENOTSUP; }

CORIO_API int corio_mpi_rank(void) { return -ENOTSUP; }

CORIO_API int corio_mpi_executor_create(const corio_mpi_options *opts, corio_executor **out) {
    (void)opts;
    if (out)
        *out = NULL;
    return -ENOTSUP;
}

CORIO_API corio_future *corio_mpi_submit_named(corio_executor *ex, const char *name,
                                               const void *data, size_t len, int *err) {
    (void)ex;
    (void)name;
    (void)data;
    (void)len;
    if (err)
        *err = -ENOTSUP;
    return NULL;
}
