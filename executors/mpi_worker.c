/* corio — the MPI executor's process-wide side: the function registry,
 * corio_mpi_start / finalize, and a worker rank's service loop.
 *
 * Function identity: by registered name, not by address. Under PIE and
 * ASLR the same function sits at a different address in each process; the
 * offset within its object (dladdr) would be stable, but it silently names
 * a different function when ranks run different builds, and cannot name a
 * function at all in a statically linked or stripped binary's view of
 * dladdr. A name fails loudly instead: a rank that lacks it answers -ENOENT
 * with the name and the rank. CORIO_MPI_FUNCTION registers in a
 * constructor, so every rank has the whole registry before main. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_internal.h"
#include "fault.h"

corio__mpi_state corio__mpi = {.spmd = MPI_COMM_NULL};

/* ---- registry ---------------------------------------------------------------- */

typedef struct reg_entry {
    char name[CORIO_MPI_NAME_MAX + 1]; /* NUL-terminated */
    size_t len;                        /* strlen(name) */
    corio_fn fn;                       /* the function */
} reg_entry;

/* Written by constructors (single-threaded) and rarely later: a mutex is
 * enough, lookups take it too (a few per job, uncontended). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static reg_entry reg[CORIO_MPI_REGISTRY_MAX];
static size_t reg_n;

CORIO_API int corio_mpi_register(const char *name, corio_fn fn) {
    if (!name || !fn)
        return -EINVAL;
    size_t len = strlen(name);
    if (len == 0 || len > CORIO_MPI_NAME_MAX)
        return -EINVAL;
    int r = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_n; i++) {
        if (reg[i].len == len && memcmp(reg[i].name, name, len) == 0) {
            r = reg[i].fn == fn ? 0 : -EEXIST;
            goto out;
        }
    }
    if (reg_n == CORIO_MPI_REGISTRY_MAX) {
        r = -ENOSPC;
        goto out;
    }
    memcpy(reg[reg_n].name, name, len + 1);
    reg[reg_n].len = len;
    reg[reg_n].fn = fn;
    reg_n++;
out:
    pthread_mutex_unlock(&reg_lock);
    return r;
}

corio_fn corio__mpi_lookup(const char *name, size_t len) {
    corio_fn fn = NULL;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_n && !fn; i++)
        if (reg[i].len == len && memcmp(reg[i].name, name, len) == 0)
            fn = reg[i].fn;
    pthread_mutex_unlock(&reg_lock);
    return fn;
}

int corio__mpi_name_of(corio_fn fn, char *buf, size_t cap) {
    int found = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_n && !found; i++) {
        if (reg[i].fn == fn && reg[i].len < cap) {
            memcpy(buf, reg[i].name, reg[i].len + 1);
            found = 1;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return found;
}

/* ---- start, finalize ---------------------------------------------------------- */

CORIO_API int corio_mpi_rank(void) {
    return corio__mpi.initialized ? corio__mpi.world_rank : -EINVAL;
}

static void stop_spmd_workers(void) {
    /* Rank 0 never made an SPMD executor: the other ranks still serve. */
    corio__mpi_job stop = {.magic = CORIO__MPI_JOB_MAGIC, .kind = CORIO__MPI_JOB_STOP};
    for (int r = 1; r < corio__mpi.world_size; r++)
        MPI_Send(&stop, (int)sizeof stop, MPI_BYTE, r, CORIO__MPI_TAG_JOB, corio__mpi.spmd);
}

CORIO_API int corio_mpi_finalize(void) {
    if (!corio__mpi.initialized || corio__mpi.finalized)
        return -EINVAL;
    if (atomic_load(&corio__mpi.live) > 0)
        return -EBUSY;
    if (corio__mpi.spmd != MPI_COMM_NULL) {
        if (!corio__mpi.spmd_taken)
            stop_spmd_workers();
        MPI_Comm_free(&corio__mpi.spmd);
    }
    corio__mpi.finalized = 1;
    return MPI_Finalize() == MPI_SUCCESS ? 0 : -EPROTO;
}

CORIO_API int corio_mpi_start(int *argc, char ***argv) {
    if (corio__mpi.initialized)
        return -EALREADY;
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (inited) {
        MPI_Query_thread(&provided);
    } else if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        return -EPROTO;
    }
    /* The executor calls MPI from its progress thread, never from two
     * threads at once: SERIALIZED is needed, FUNNELED (main thread only)
     * is not enough. */
    if (provided < MPI_THREAD_SERIALIZED) {
        corio__log("MPI gives thread level %d, the MPI executor needs MPI_THREAD_SERIALIZED",
                   provided);
        if (!inited)
            MPI_Finalize();
        return -ENOTSUP;
    }
    corio__mpi.initialized = 1;
    /* A dead peer should surface as an error code we can turn into a
     * broken executor, not as the default abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &corio__mpi.world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &corio__mpi.world_size);

    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    if (parent != MPI_COMM_NULL) {
        /* Spawned by an executor: serve its process (remote rank 0). */
        MPI_Comm_set_errhandler(parent, MPI_ERRORS_RETURN);
        int r = corio__mpi_serve(parent, 0);
        if (r == 0) /* 1: the client gave up on us and will not disconnect */
            MPI_Comm_disconnect(&parent);
        corio__mpi.finalized = 1;
        MPI_Finalize();
        return r < 0 ? r : 0;
    }
    if (corio__mpi.world_size > 1) {
        MPI_Comm dup;
        if (MPI_Comm_dup(MPI_COMM_WORLD, &dup) != MPI_SUCCESS)
            return -EPROTO;
        MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
        if (corio__mpi.world_rank != 0) {
            int r = corio__mpi_serve(dup, 0);
            MPI_Comm_free(&dup);
            corio__mpi.finalized = 1;
            MPI_Finalize();
            return r < 0 ? r : 0;
        }
        corio__mpi.spmd = dup;
    }
    return 1;
}

/* ---- a worker's service --------------------------------------------------------- */

/* The job being run, for the exit handler (the service is single-threaded). */
static struct {
    MPI_Comm comm;   /* the communicator served */
    int client;      /* the client's rank on it */
    int in_job;      /* a job function is running */
    uint64_t id;     /* its id */
    char name[CORIO_MPI_NAME_MAX + 1]; /* its function's name */
} cur = {.comm = MPI_COMM_NULL};

/* exit() inside a job: tell the client, which breaks the executor with a
 * message naming this rank, and give it up to 2 s to acknowledge before
 * the exit goes on (the launcher then usually ends the whole job: a rank
 * that exits without MPI_Finalize is an error to mpiexec). */
static void exit_in_job(void) {
    if (!cur.in_job || cur.comm == MPI_COMM_NULL)
        return;
    cur.in_job = 0;
    char msg[256];
    int n = snprintf(msg, sizeof msg, "MPI worker rank %d exited during job %llu ('%s')",
                     corio__mpi.world_rank, (unsigned long long)cur.id, cur.name);
    unsigned char buf[sizeof(corio__mpi_res) + sizeof msg];
    corio__mpi_res h = {.magic = CORIO__MPI_RES_MAGIC, .kind = CORIO__MPI_RES_DYING,
                        .id = cur.id, .code = CORIO_EBROKEN_MPI, .msglen = (uint32_t)n};
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, msg, (size_t)n);
    if (MPI_Send(buf, (int)(sizeof h + (size_t)n), MPI_BYTE, cur.client, CORIO__MPI_TAG_RES,
                 cur.comm) != MPI_SUCCESS)
        return;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(cur.client, CORIO__MPI_TAG_ACK, cur.comm, &flag, &st) != MPI_SUCCESS || flag)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= 2)
            break;
        struct timespec d = {0, 100000};
        nanosleep(&d, NULL);
    }
}

/* Backoff while no job arrives: 64 tight polls, then polls with
 * sched_yield up to the 512th, then sleeps from 20 µs doubling to 1 ms, so
 * that an idle worker costs little CPU (the oversubscribed case matters:
 * a spinning worker steals the client's core). A job that arrives during
 * a sleep waits up to that sleep: the client sends a lone job to the
 * lowest idle rank, which stays in its polling phase while jobs keep
 * coming. */
static void idle_wait(unsigned *idle) {
    unsigned i = (*idle)++;
    if (i < 64)
        return;
    if (i < 512) {
        sched_yield();
        return;
    }
    long ns = 20000L << (i - 512 < 6 ? i - 512 : 6);
    if (ns > 1000000L)
        ns = 1000000L;
    struct timespec d = {0, ns};
    nanosleep(&d, NULL);
}

/* Growable send buffer of the service. */
typedef struct obuf {
    unsigned char *p; /* bytes */
    size_t len, cap;  /* used, allocated */
} obuf;

static int ob_put(obuf *b, const void *data, size_t n) {
    if (n > CORIO_MPI_MAX_PAYLOAD + 65536 || b->len + n > CORIO_MPI_MAX_PAYLOAD + 65536)
        return -EMSGSIZE;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = corio__realloc(b->p, cap);
        if (!q)
            return -ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    if (n && data)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* Append one outcome: header h (ONE) or item (BATCH) is built by the caller. */
static int put_fail(obuf *o, corio__mpi_res *h, int code, const char *msg) {
    size_t ml = strlen(msg);
    if (ml > CORIO__MPI_MAX_MSG)
        ml = CORIO__MPI_MAX_MSG;
    h->code = code;
    h->msglen = (uint32_t)ml;
    h->len = 0;
    h->ptr = 0;
    o->len = 0;
    int r = ob_put(o, h, sizeof *h);
    return r ? r : ob_put(o, msg, ml);
}

static int run_one(obuf *o, corio__mpi_res *h, corio_fn fn, const corio__mpi_job *j,
                   const unsigned char *payload) {
    corio_value in = {(void *)payload, (size_t)j->len, NULL}, out = {0};
    void *arg = j->kind == CORIO__MPI_JOB_PTR ? (void *)(uintptr_t)j->arg : &in;
    corio__task_msg_clear();
    cur.in_job = 1;
    int r = fn(arg, &out);
    cur.in_job = 0;
    if (r < 0) {
        if (out.dtor)
            out.dtor(out.ptr);
        return put_fail(o, h, r, corio__task_msg());
    }
    if (out.len > CORIO_MPI_MAX_PAYLOAD) {
        if (out.dtor)
            out.dtor(out.ptr);
        return put_fail(o, h, -EMSGSIZE, "result larger than CORIO_MPI_MAX_PAYLOAD");
    }
    h->ptr = out.len ? 0 : (uint64_t)(uintptr_t)out.ptr;
    h->len = out.len;
    r = ob_put(o, h, sizeof *h);
    if (!r)
        r = ob_put(o, out.ptr, out.len);
    if (out.dtor)
        out.dtor(out.ptr);
    return r ? put_fail(o, h, r, "cannot build the result message") : 0;
}

static int run_batch(obuf *o, corio__mpi_res *h, corio_fn fn, const corio__mpi_job *j,
                     const unsigned char *payload) {
    size_t n = (size_t)j->arg;
    int bytes = j->kind == CORIO__MPI_JOB_BATCH_BYTES;
    if (n == 0 || n > j->len / sizeof(uint64_t))
        return put_fail(o, h, CORIO_EPROTOCOL, "corrupt batch");
    corio__batch *b = corio__calloc(1, sizeof *b + n * sizeof b->items[0]);
    corio_value *vals = bytes ? corio__calloc(n, sizeof *vals) : NULL;
    if (!b || (bytes && !vals)) {
        free(b);
        free(vals);
        return put_fail(o, h, -ENOMEM, "worker out of memory");
    }
    b->n = n;
    const unsigned char *data = payload + n * sizeof(uint64_t);
    size_t off = 0, avail = j->len - n * sizeof(uint64_t);
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, payload + i * sizeof v, sizeof v);
        if (bytes) {
            if (v > avail - off) {
                free(b);
                free(vals);
                return put_fail(o, h, CORIO_EPROTOCOL, "corrupt batch lengths");
            }
            vals[i] = (corio_value){(void *)(data + off), (size_t)v, NULL};
            off += (size_t)v;
            b->items[i].arg = &vals[i];
        } else {
            b->items[i].arg = (void *)(uintptr_t)v;
        }
    }
    cur.in_job = 1;
    corio__batch_run(fn, b);
    cur.in_job = 0;
    h->ptr = n;
    /* The common case (every item succeeded with a pointer-sized result)
     * travels as n u64 values: a third of the bytes, no per-item records. */
    int plain = 1;
    for (size_t i = 0; i < n && plain; i++)
        plain = b->items[i].code == 0 && b->items[i].value.len == 0;
    if (plain) {
        h->kind = CORIO__MPI_RES_PTRS;
        h->len = n * sizeof(uint64_t);
        int r = ob_put(o, h, sizeof *h);
        if (!r)
            r = ob_put(o, NULL, h->len);
        for (size_t i = 0; i < n && !r; i++) {
            uint64_t v = (uint64_t)(uintptr_t)b->items[i].value.ptr;
            memcpy(o->p + sizeof *h + i * sizeof v, &v, sizeof v);
        }
        corio__batch_free(b);
        free(vals);
        return r ? put_fail(o, h, r, "cannot build the chunk's result") : 0;
    }
    int r = ob_put(o, h, sizeof *h);
    for (size_t i = 0; i < n && !r; i++) {
        corio__batch_item *it = &b->items[i];
        const char *m = it->message ? it->message : "";
        size_t ml = strlen(m);
        if (ml > CORIO__MPI_MAX_MSG)
            ml = CORIO__MPI_MAX_MSG;
        corio__mpi_item x = {.code = it->code, .msglen = (uint32_t)ml,
                             .ptr = it->value.len ? 0 : (uint64_t)(uintptr_t)it->value.ptr,
                             .len = it->value.len};
        r = ob_put(o, &x, sizeof x);
        if (!r)
            r = ob_put(o, it->value.ptr, it->value.len);
        if (!r)
            r = ob_put(o, m, ml);
    }
    corio__batch_free(b);
    free(vals);
    if (r)
        return put_fail(o, h, r, "chunk's results larger than CORIO_MPI_MAX_PAYLOAD");
    corio__mpi_res *hp = (corio__mpi_res *)(void *)o->p;
    hp->len = o->len - sizeof *h;
    return 0;
}

int corio__mpi_serve(MPI_Comm comm, int client) {
    cur.comm = comm;
    cur.client = client;
    static int exit_hooked;
    if (!exit_hooked) {
        exit_hooked = 1;
        atexit(exit_in_job);
    }
    obuf o = {0};
    unsigned idle = 0;
    int ret = 0;
    for (;;) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        if (MPI_Improbe(client, CORIO__MPI_TAG_JOB, comm, &flag, &msg, &st) != MPI_SUCCESS) {
            ret = -EPIPE; /* the client is gone */
            break;
        }
        if (!flag) {
            idle_wait(&idle);
            continue;
        }
        idle = 0;
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        unsigned char *buf = corio__malloc(count > 0 ? (size_t)count : 1);
        if (!buf) {
            ret = -ENOMEM;
            break;
        }
        if (MPI_Mrecv(buf, count, MPI_BYTE, &msg, &st) != MPI_SUCCESS) {
            free(buf);
            ret = -EPIPE;
            break;
        }
        corio__mpi_job j;
        if ((size_t)count < sizeof j) {
            free(buf);
            continue;
        }
        memcpy(&j, buf, sizeof j);
        if (j.magic != CORIO__MPI_JOB_MAGIC || j.kind == CORIO__MPI_JOB_STOP) {
            /* 1: the client abandoned us (no disconnect follows). */
            ret = j.kind == CORIO__MPI_JOB_STOP && j.arg ? 1 : 0;
            free(buf);
            break;
        }
        corio__mpi_res h = {.magic = CORIO__MPI_RES_MAGIC,
                            .kind = j.kind >= CORIO__MPI_JOB_BATCH_PTR ? CORIO__MPI_RES_BATCH
                                                                       : CORIO__MPI_RES_ONE,
                            .id = j.id};
        o.len = 0;
        if (j.namelen > CORIO_MPI_NAME_MAX || sizeof j + j.namelen + j.len != (size_t)count) {
            put_fail(&o, &h, CORIO_EPROTOCOL, "corrupt job message");
        } else {
            const char *name = (const char *)buf + sizeof j;
            corio_fn fn = corio__mpi_lookup(name, j.namelen);
            memcpy(cur.name, name, j.namelen);
            cur.name[j.namelen] = '\0';
            cur.id = j.id;
            if (!fn) {
                char m[160];
                snprintf(m, sizeof m, "no job function registered as '%s' on MPI rank %d",
                         cur.name, corio__mpi.world_rank);
                put_fail(&o, &h, -ENOENT, m);
            } else if (h.kind == CORIO__MPI_RES_ONE) {
                run_one(&o, &h, fn, &j, buf + sizeof j + j.namelen);
            } else {
                run_batch(&o, &h, fn, &j, buf + sizeof j + j.namelen);
            }
        }
        free(buf);
        if (o.len == 0 || MPI_Send(o.p, (int)o.len, MPI_BYTE, client, CORIO__MPI_TAG_RES, comm) !=
                              MPI_SUCCESS) {
            ret = -EPIPE;
            break;
        }
    }
    free(o.p);
    cur.comm = MPI_COMM_NULL;
    return ret;
}
