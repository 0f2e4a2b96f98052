/* corio — the process pool's wire format and the pieces shared between the
 * parent side (process_pool.c) and the fork server / worker side
 * (process_worker.c).
 *
 * Each worker has two pipes to the parent: jobs go down one, results come
 * back up the other, as frames: a fixed header, then a body whose
 * length the header states. Both ends run the same binary on the same
 * machine, so fields are in native byte order and function pointers travel
 * as integers (workers are forked from the same image).
 *
 *   job frame (parent → worker)           result frame (worker → parent)
 *   +--------------------------+          +--------------------------+
 *   | corio__job_hdr  (40 B)   |          | corio__res_hdr  (48 B)   |
 *   +--------------------------+          +--------------------------+
 *   | payload (len B)          |          | payload (len B)          |
 *   |  JOB_PTR:    none        |          |  RES_ONE: result bytes   |
 *   |  JOB_BYTES:  the bytes   |          |  RES_BATCH: n items, each|
 *   |  BATCH_PTR:  n x u64 ptr |          |   corio__res_item + data |
 *   |  BATCH_BYTES: n x u64 len|          |   + message              |
 *   |     then the data        |          +--------------------------+
 *   +--------------------------+          | message (msglen B)       |
 *                                         +--------------------------+
 *
 * A RES_BATCH payload whose items all succeeded with a bare pointer may
 * instead be n x u64 result words (the compact form; see decode_batch).
 *
 * The payload comes before the message so that a large result can be read
 * straight into one buffer that then becomes the future's value.
 *
 * A worker answers its jobs in order; `seq` numbers them per worker so the
 * parent can tell a stray or corrupt frame from the answer it expects.
 */
#ifndef CORIO_WIRE_H
#define CORIO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define CORIO__JOB_MAGIC 0x424f4a43u /* "CJOB" */
#define CORIO__RES_MAGIC 0x53455243u /* "CRES" */

/* Largest payload of one frame (argument, result, or a whole map chunk). */
#define CORIO__WIRE_MAX_PAYLOAD ((uint64_t)1 << 30)
/* Largest failure message; corio_task_fail truncates at 1023 bytes. */
#define CORIO__WIRE_MAX_MSG 4096u

enum corio__job_kind {
    CORIO__JOB_PTR = 1,         /* arg is the pointer value, no payload */
    CORIO__JOB_BYTES = 2,       /* payload is the argument bytes */
    CORIO__JOB_BATCH_PTR = 3,   /* arg is n; payload is n u64 pointer values */
    CORIO__JOB_BATCH_BYTES = 4, /* arg is n; payload is n u64 lengths, then the data */
};

enum corio__res_kind {
    CORIO__RES_ONE = 1,       /* one result: code, value, message */
    CORIO__RES_BATCH = 2,     /* ptr is n; payload is n items */
    CORIO__RES_INIT_FAIL = 3, /* the initializer failed: code and message */
};

typedef struct corio__job_hdr {
    uint32_t magic; /* CORIO__JOB_MAGIC */
    uint32_t kind;  /* corio__job_kind */
    uint32_t seq;   /* per-worker job number, echoed in the result */
    uint32_t pad;   /* zero */
    uint64_t fn;    /* the corio_fn, as an integer */
    uint64_t arg;   /* JOB_PTR: the argument pointer; batches: item count */
    uint64_t len;   /* payload bytes after the header */
} corio__job_hdr;

typedef struct corio__res_hdr {
    uint32_t magic;  /* CORIO__RES_MAGIC */
    uint32_t kind;   /* corio__res_kind */
    uint32_t seq;    /* seq of the job this answers */
    int32_t code;    /* 0 or the (negative) failure code */
    uint32_t msglen; /* message bytes after the payload */
    uint32_t pad;    /* zero */
    uint64_t ptr;    /* RES_ONE with len 0: the result pointer value; RES_BATCH: n */
    uint64_t len;    /* payload bytes */
    uint64_t ns;     /* how long the job ran, for the parent's dispatch depth */
} corio__res_hdr;

/* One item of a RES_BATCH payload, followed by len data bytes and msglen
 * message bytes. */
typedef struct corio__res_item {
    int32_t code;    /* 0 or the failure code */
    uint32_t msglen; /* message bytes after the data */
    uint64_t ptr;    /* result pointer value when len is 0 */
    uint64_t len;    /* data bytes */
} corio__res_item;

_Static_assert(sizeof(corio__job_hdr) == 40, "job header layout");
_Static_assert(sizeof(corio__res_hdr) == 48, "result header layout");
_Static_assert(sizeof(corio__res_item) == 24, "result item layout");

/* Check a result header against what the parent expects: the seq of the
 * worker's oldest outstanding job and its item count (0 for a single job).
 * Returns 0, or CORIO_EPROTOCOL with a description in err. */
int corio__wire_check_res(const corio__res_hdr *h, uint32_t seq, size_t nitems, char *err,
                          size_t errlen);

/* Decode a RES_BATCH payload of `len` bytes holding `n` items into a new
 * corio__batch. A payload of exactly n * 8 bytes is the compact form: n
 * result pointers, every item succeeded with no data and no message (the
 * full form takes at least 24 bytes an item, so the two cannot be confused).
 * Decoded into a new
 * corio__batch (one allocation holding the data too; free with
 * corio__batch_free). Returns 0, CORIO_EPROTOCOL (err filled) or -ENOMEM. */
int corio__wire_decode_batch(const void *payload, size_t len, size_t n, corio__batch **out,
                             char *err, size_t errlen);

/* ---- the fork server's control protocol (SOCK_SEQPACKET) ---------------- */

enum corio__fs_type {
    CORIO__FS_SPAWN = 1,        /* parent → fs: fork a worker on the two passed pipe ends */
    CORIO__FS_SPAWNED = 2,      /* fs → parent: the worker's pid */
    CORIO__FS_SPAWN_FAILED = 3, /* fs → parent: err is the -errno of fork */
    CORIO__FS_EXITED = 4,       /* fs → parent: a worker was reaped */
    CORIO__FS_KILL = 5,         /* parent → fs: send signal `status` to worker `pid` */
};

typedef struct corio__fs_msg {
    uint32_t type;     /* corio__fs_type */
    int32_t err;       /* SPAWN_FAILED: -errno */
    uint64_t token;    /* SPAWN*: which request */
    int64_t pid;       /* SPAWNED, EXITED: the worker */
    int32_t how;       /* EXITED: CLD_EXITED, CLD_KILLED or CLD_DUMPED */
    int32_t status;    /* EXITED: exit status or signal number; KILL: the signal */
} corio__fs_msg;

/* A page the pool maps MAP_SHARED before forking its fork server, so that
 * the application and every worker see it. */
typedef struct corio__pp_shared {
    /* pid of the one worker polling its job pipe for the next job (0: none).
     * One poller at a time: on a small machine a second one would take the
     * CPU the application (or the poller itself) needs. A worker that dies
     * while polling is cleared by the application when it learns of the
     * exit. Only CAS 0 → pid and stores of 0: seq_cst is ample. */
    _Atomic int32_t spinner;
} corio__pp_shared;

/* What the fork server needs from the pool options. */
typedef struct corio__fs_config {
    corio_init_fn initializer; /* run once in each worker, or NULL */
    void *initargs;            /* its argument */
    corio__pp_shared *shm;     /* the shared page, or NULL: workers never poll */
} corio__fs_config;

/* The fork server's body, run in the child forked by
 * corio_process_pool_create; never returns. */
_Noreturn void corio__fork_server_main(int ctl, const corio__fs_config *cfg);

/* Close, in a fork server just forked, every parent-side descriptor of every
 * live process pool (they must not keep pipes open in other processes). */
void corio__pp_close_registered(void);

/* In a worker process: the write end of its result pipe (-1 elsewhere). Tests use
 * it to inject corrupt frames. */
extern int corio__pp_worker_fd;

#endif /* CORIO_WIRE_H */
