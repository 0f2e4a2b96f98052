/* corio — the MPI executor's internal interface: the wire format shared by
 * rank 0 (mpi_executor.c) and the workers (mpi_worker.c), the function
 * registry, and the process-wide MPI state.
 *
 * Messages are MPI_BYTE buffers on one communicator: SPMD, a duplicate of
 * MPI_COMM_WORLD made by every rank in corio_mpi_start (rank 0 is the
 * client, ranks 1..N-1 the workers); spawn, the intercommunicator of
 * MPI_Comm_spawn (the workers are remote ranks 0..n-1). Every rank runs the
 * same binary on the same kind of machine, so fields are in native byte
 * order (a heterogeneous cluster is not supported).
 *
 *   job (TAG_JOB, client -> worker)       result (TAG_RES, worker -> client)
 *   +----------------------------+        +----------------------------+
 *   | corio__mpi_job (40 B)      |        | corio__mpi_res (40 B)      |
 *   | function name (namelen B)  |        | payload (len B)            |
 *   | payload (len B)            |        |  ONE: result bytes         |
 *   |  PTR: none                 |        |  BATCH: n x corio__mpi_item|
 *   |  BYTES: the argument       |        |   then each item's bytes   |
 *   |  BATCH_PTR: n x u64        |        |   and message              |
 *   |  BATCH_BYTES: n x u64 len, |        |  PTRS: n x u64 (all ok)    |
 *   |                            |        | message (msglen B)         |
 *   |    then the data           |        +----------------------------+
 *   +----------------------------+
 *
 * A worker answers its jobs in order; `id` is echoed so the client can
 * check the answer is the one it expects. STOP (TAG_JOB, kind STOP) ends a
 * worker's service; DYING (TAG_RES) is sent by a worker whose job called
 * exit(), and answered with TAG_ACK before it goes on exiting.
 */
#ifndef CORIO_MPI_INTERNAL_H
#define CORIO_MPI_INTERNAL_H

#include <mpi.h>
#include <stdint.h>

#include "internal.h"
#include "corio/mpi.h"

#define CORIO__MPI_TAG_JOB 0x7c01
#define CORIO__MPI_TAG_RES 0x7c02
#define CORIO__MPI_TAG_ACK 0x7c03

#define CORIO__MPI_JOB_MAGIC 0x4a49504du /* "MPIJ" */
#define CORIO__MPI_RES_MAGIC 0x5249504du /* "MPIR" */

enum corio__mpi_job_kind {
    CORIO__MPI_JOB_PTR = 1,         /* arg is the pointer value, no payload */
    CORIO__MPI_JOB_BYTES = 2,       /* payload is the argument bytes */
    CORIO__MPI_JOB_BATCH_PTR = 3,   /* payload is n u64 pointer values */
    CORIO__MPI_JOB_BATCH_BYTES = 4, /* payload is n u64 lengths, then the data */
    CORIO__MPI_JOB_STOP = 5,        /* end the service; arg 1: abandoned (no disconnect) */
};

enum corio__mpi_res_kind {
    CORIO__MPI_RES_ONE = 1,   /* one result: code, value or message */
    CORIO__MPI_RES_BATCH = 2, /* n items */
    CORIO__MPI_RES_DYING = 3, /* the worker is exiting (exit() in a job): code and message */
    CORIO__MPI_RES_PTRS = 4,  /* a batch whose items all succeeded without bytes: n u64 values */
};

typedef struct corio__mpi_job {
    uint32_t magic;   /* CORIO__MPI_JOB_MAGIC */
    uint32_t kind;    /* corio__mpi_job_kind */
    uint64_t id;      /* the job's number, echoed in the result */
    uint64_t arg;     /* PTR: the argument as an integer; batches: n */
    uint64_t len;     /* payload bytes after the name */
    uint32_t namelen; /* bytes of the function name after the header */
    uint32_t pad;     /* zero */
} corio__mpi_job;

typedef struct corio__mpi_res {
    uint32_t magic;  /* CORIO__MPI_RES_MAGIC */
    uint32_t kind;   /* corio__mpi_res_kind */
    uint64_t id;     /* id of the job this answers */
    int32_t code;    /* 0 or the negative failure code */
    uint32_t msglen; /* message bytes after the payload */
    uint64_t ptr;    /* ONE with len 0: the result's pointer value; BATCH: n */
    uint64_t len;    /* payload bytes */
} corio__mpi_res;

/* One item of a batch result. */
typedef struct corio__mpi_item {
    int32_t code;    /* 0 or the failure code */
    uint32_t msglen; /* message bytes after the data */
    uint64_t ptr;    /* pointer value when len is 0 */
    uint64_t len;    /* result bytes */
} corio__mpi_item;

/* Longest failure message carried (corio_task_fail truncates at 1023). */
#define CORIO__MPI_MAX_MSG 4096u

/* The registry (mpi_worker.c): the function of a name, or NULL; the name of
 * a function, or NULL when it was never registered (into buf, NUL ended). */
corio_fn corio__mpi_lookup(const char *name, size_t len);
int corio__mpi_name_of(corio_fn fn, char *buf, size_t cap);

/* Process-wide MPI state (mpi_worker.c). */
typedef struct corio__mpi_state {
    int initialized;    /* corio_mpi_start ran MPI_Init_thread */
    int finalized;      /* corio_mpi_finalize ran */
    int world_rank;     /* this process's rank in MPI_COMM_WORLD */
    int world_size;     /* MPI_COMM_WORLD's size */
    MPI_Comm spmd;      /* the SPMD communicator (rank 0's copy), or MPI_COMM_NULL */
    int spmd_taken;     /* an SPMD executor was created on it */
    _Atomic int live;   /* MPI executors not yet destroyed */
} corio__mpi_state;
extern corio__mpi_state corio__mpi;

/* Serve jobs from `comm` whose client is rank `client` (mpi_worker.c). */
int corio__mpi_serve(MPI_Comm comm, int client);

#endif /* CORIO_MPI_INTERNAL_H */
