/* corio — the coroutine dump, and its opt-in signal.
 *
 * A dump is a request shared by the caller and every loop: the caller
 * posts one call message per loop and waits (at most DUMP_WAIT_NS); each
 * loop formats its own coroutines into its slot's buffer on its own
 * thread, marks the slot done, and drops its reference. The caller writes
 * the slots that are done, in loop order, and drops its reference; the
 * last reference frees the request. So a loop that answers late (one of
 * its coroutines blocks it) writes into memory that is still there, and
 * the caller never waits on it for long.
 *
 * The signal: the handler writes one byte to a pipe (async-signal-safe);
 * a thread started by corio_runtime_dump_on_signal reads the pipe and
 * calls corio_runtime_dump. Stopped (thread joined, handler restored) by
 * corio_runtime_destroy.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio/inspect.h"
#include "corio/scope.h"
#include "fault.h"
#include "loop.h"

#define DUMP_WAIT_NS 1000000000 /* how long the caller waits for every loop */
#define MAX_FRAMES 32           /* frames printed per coroutine */

typedef struct dump_req dump_req;

/* One loop's part of a dump. */
typedef struct dump_slot {
    corio__call_msg call; /* posted to the loop; must stay first */
    dump_req *req;        /* the request */
    char *buf;            /* its text (open_memstream), or NULL */
    size_t len;           /* its length */
    long count;           /* coroutines listed */
    _Atomic int done;     /* buf and count are final (release) */
} dump_slot;

struct dump_req {
    _Atomic int refs;      /* the caller's and one per loop still to answer */
    _Atomic int pending;   /* loops that have not answered */
    corio__parker parker;  /* the caller's; in the request (see the top) */
    int n;                 /* slots */
    dump_slot slots[];     /* one per loop */
};

static void req_unref(dump_req *r) {
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < r->n; i++)
        free(r->slots[i].buf);
    free(r);
}

/* The return addresses of a suspended coroutine, by its frame pointers.
 * Every frame read must lie in [lo, hi) and above the previous one. The
 * words read belong to other frames, some poisoned by AddressSanitizer
 * (redzones around locals): this one reader is exempt. */
__attribute__((no_sanitize("address"))) static int backtrace_of(const corio__coro *c, uintptr_t *pcs, int max) {
#if defined(__x86_64__) && !defined(CORIO_CTX_PORTABLE)
    const corio__stack *st = c->fiber.stack;
    if (!st || !c->fiber.ctx.sp)
        return 0;
    uintptr_t lo = (uintptr_t)st->lo, hi = lo + st->size;
    uintptr_t sp = (uintptr_t)c->fiber.ctx.sp;
    if (sp < lo || sp + 0x40 > hi)
        return 0;
    int n = 0;
    pcs[n++] = *(const uintptr_t *)(sp + 0x38); /* where corio__ctx_switch returns */
    uintptr_t fp = *(const uintptr_t *)(sp + 0x30);
    while (n < max && fp >= sp && fp % 8 == 0 && fp + 16 <= hi) {
        uintptr_t pc = ((const uintptr_t *)fp)[1];
        uintptr_t next = ((const uintptr_t *)fp)[0];
        if (!pc)
            break;
        pcs[n++] = pc;
        if (next <= fp)
            break;
        sp = fp;
        fp = next;
    }
    return n;
#else
    (void)c;
    (void)pcs;
    (void)max;
    return 0; /* the frame layout is only known for x86-64 here */
#endif
}

/* Print pc; 0 when it is in no loaded module (a frame-pointer walk
 * through code built without frame pointers reads such junk: stop). */
static int print_pc(FILE *f, uintptr_t pc) {
    Dl_info di;
    if (dladdr((void *)pc, &di) && di.dli_fname) {
        const char *mod = strrchr(di.dli_fname, '/');
        mod = mod ? mod + 1 : di.dli_fname;
        fprintf(f, "      %s+0x%" PRIxPTR, mod, pc - (uintptr_t)di.dli_fbase);
        if (di.dli_sname)
            fprintf(f, " (%s+0x%" PRIxPTR ")", di.dli_sname, pc - (uintptr_t)di.dli_saddr);
        fputc('\n', f);
        return 1;
    }
    return 0;
}

/* The ring opcodes a coroutine waits in, by name (others by number). */
static const char *opcode_name(unsigned op) {
    switch (op) {
    case IORING_OP_NOP: return "nop";
    case IORING_OP_READV: return "readv";
    case IORING_OP_WRITEV: return "writev";
    case IORING_OP_FSYNC: return "fsync";
    case IORING_OP_POLL_ADD: return "poll";
    case IORING_OP_SENDMSG: return "sendmsg";
    case IORING_OP_RECVMSG: return "recvmsg";
    case IORING_OP_TIMEOUT: return "timeout";
    case IORING_OP_ACCEPT: return "accept";
    case IORING_OP_CONNECT: return "connect";
    case IORING_OP_OPENAT: return "openat";
    case IORING_OP_CLOSE: return "close";
    case IORING_OP_STATX: return "statx";
    case IORING_OP_READ: return "read";
    case IORING_OP_WRITE: return "write";
    case IORING_OP_SEND: return "send";
    case IORING_OP_RECV: return "recv";
    case IORING_OP_SPLICE: return "splice";
    case IORING_OP_SHUTDOWN: return "shutdown";
    default: return NULL;
    }
}

static void dump_coro(FILE *f, corio__loop *l, const corio__coro *c, int64_t now) {
    fprintf(f, "  coroutine %" PRIu64 " \"%s\" ", c->fiber.id, c->name ? c->name : "");
    /* How long it has waited: coarse clock, a few ms of resolution. */
    int64_t cnow = corio__now_coarse_ns();
    if (c == l->current) {
        fputs("running", f);
    } else if (c->finished) {
        fputs("finished", f);
    } else if (c->parker) {
        const corio__parker *p = c->parker;
        if (p->what && p->obj)
            fprintf(f, "waiting on %s %p", p->what, p->obj);
        else if (p->what)
            fprintf(f, "waiting in %s", p->what);
        else
            fputs("parked", f);
        fprintf(f, " for %.3f s", (double)(cnow - p->since) / 1e9);
        if (c->heap_idx != SIZE_MAX)
            fprintf(f, ", deadline in %.3f s", (double)(c->deadline - now) / 1e9);
        else
            fputs(", no deadline", f);
    } else if (c->op) {
        const char *name = opcode_name(c->op->opcode);
        double waited = (double)(cnow - c->op->since) / 1e9;
        if (name)
            fprintf(f, "in ring operation %s on fd %d for %.3f s", name, c->op->fd, waited);
        else
            fprintf(f, "in ring operation #%u on fd %d for %.3f s", c->op->opcode, c->op->fd,
                    waited);
    } else if (c->joining) {
        fprintf(f, "joining coroutine %" PRIu64, c->joining->fiber.id);
    } else {
        fputs("ready", f);
    }
    if (c->cancelled)
        fputs(", cancel requested", f);
    if (c->scope)
        fputs(", in a cancel scope", f);
    if (c->end)
        fprintf(f, ", group %p", c->end->arg);
    fputc('\n', f);
    if (c == l->current || c->finished)
        return; /* a running stack moves; a finished one is gone */
    uintptr_t pcs[MAX_FRAMES];
    int n = backtrace_of(c, pcs, MAX_FRAMES);
    for (int i = 0; i < n && print_pc(f, pcs[i]); i++) {
    }
}

/* On the loop's thread. */
static void dump_loop(corio__loop *l, corio__call_msg *m) {
    dump_slot *s = (dump_slot *)m;
    dump_req *r = s->req;
    FILE *f = open_memstream(&s->buf, &s->len);
    long count = 0;
    if (f) {
        int64_t now = corio__now_ns();
        fprintf(f, "loop %d: %zu live coroutines, %zu ring operations in flight, %zu timers\n",
                l->id, l->nlive, l->inflight, l->heap_len);
        for (corio__coro *c = l->live; c; c = c->all_next, count++)
            dump_coro(f, l, c, now);
        fclose(f);
    }
    s->count = count;
    atomic_store_explicit(&s->done, 1, memory_order_release);
    if (atomic_fetch_sub_explicit(&r->pending, 1, memory_order_acq_rel) == 1)
        corio__parker_unpark(&r->parker);
    req_unref(r);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

CORIO_API long corio_runtime_dump(corio_runtime *rt, int fd) {
    if (!rt || fd < 0)
        return -EINVAL;
    dump_req *r = corio__calloc(1, sizeof *r + (size_t)rt->nloops * sizeof r->slots[0]);
    if (!r)
        return -ENOMEM;
    r->n = rt->nloops;
    atomic_init(&r->refs, rt->nloops + 1);
    atomic_init(&r->pending, rt->nloops);
    corio__parker_init(&r->parker);
    for (int i = 0; i < rt->nloops; i++) {
        dump_slot *s = &r->slots[i];
        s->call.m.kind = CORIO__MSG_CALL;
        s->call.fn = dump_loop;
        s->req = r;
        corio__loop_post(&rt->loops[i], &s->call.m);
    }
    /* Shielded and bounded: a dump asked for by a cancelled coroutine
     * still gets written. */
    int64_t deadline = corio__now_ns() + DUMP_WAIT_NS;
    corio_scope shield;
    corio_shield_enter(&shield, deadline);
    while (atomic_load_explicit(&r->pending, memory_order_acquire) != 0)
        if (corio__parker_park(&r->parker, deadline) == -ETIMEDOUT)
            break;
    corio_scope_exit(&shield);
    long total = 0;
    int err = 0;
    char line[128];
    for (int i = 0; i < r->n && !err; i++) {
        dump_slot *s = &r->slots[i];
        if (atomic_load_explicit(&s->done, memory_order_acquire)) {
            if (s->buf)
                err = write_all(fd, s->buf, s->len);
            total += s->count;
        } else {
            int k = snprintf(line, sizeof line,
                             "loop %d: no answer within %d ms (a coroutine may be blocking it)\n",
                             i, DUMP_WAIT_NS / 1000000);
            err = write_all(fd, line, (size_t)k);
        }
    }
    req_unref(r);
    return err ? err : total;
}

CORIO_API int corio_coro_set_name(const char *name) {
    corio__coro *c = corio__tls_coro;
    if (!c)
        return -EPERM;
    c->name = name;
    /* For the stall watchdog: it reads the running coroutine's name. */
    atomic_store_explicit(&c->loop->m.current_name, name, memory_order_relaxed);
    return 0;
}

/* ---- the signal ---- */

typedef struct corio__dumper {
    corio_runtime *rt;       /* the runtime dumped */
    int signo;               /* the signal */
    int fd;                  /* where the dump goes */
    int pipe[2];             /* handler -> thread */
    pthread_t thread;        /* the dumping thread */
    struct sigaction old;    /* the handler before ours */
} corio__dumper;

/* The pipe's write end for each signal set up (one runtime per signal). */
static _Atomic int signal_pipe[NSIG];

static void on_signal(int signo) {
    int saved = errno;
    int w = atomic_load_explicit(&signal_pipe[signo], memory_order_relaxed);
    if (w > 0) {
        char b = 'd';
        ssize_t r = write(w, &b, 1);
        (void)r; /* a full pipe already has a dump coming */
    }
    errno = saved;
}

static void *dumper_main(void *arg) {
    corio__dumper *d = arg;
    char b;
    /* 'd' from the handler dumps; 'q' (or EOF) from corio__dump_stop ends. */
    while (read(d->pipe[0], &b, 1) == 1 && b == 'd')
        corio_runtime_dump(d->rt, d->fd);
    return NULL;
}

CORIO_API int corio_runtime_dump_on_signal(corio_runtime *rt, int signo, int fd) {
    if (!rt || fd < 0 || signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
        return -EINVAL;
    if (rt->dumper || atomic_load(&signal_pipe[signo]))
        return -EBUSY;
    corio__dumper *d = corio__calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->rt = rt;
    d->signo = signo;
    d->fd = fd;
    if (pipe2(d->pipe, O_CLOEXEC) < 0) {
        int e = -errno;
        free(d);
        return e;
    }
    int r = corio__thread_create(&d->thread, dumper_main, d);
    if (r != 0) {
        close(d->pipe[0]);
        close(d->pipe[1]);
        free(d);
        return -r;
    }
    atomic_store(&signal_pipe[signo], d->pipe[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(signo, &sa, &d->old);
    rt->dumper = d;
    return 0;
}

void corio__dump_stop(corio_runtime *rt) {
    corio__dumper *d = rt->dumper;
    if (!d)
        return;
    rt->dumper = NULL;
    sigaction(d->signo, &d->old, NULL);
    atomic_store(&signal_pipe[d->signo], 0);
    char q = 'q';
    ssize_t w = write(d->pipe[1], &q, 1);
    (void)w;
    pthread_join(d->thread, NULL);
    close(d->pipe[0]);
    close(d->pipe[1]);
    free(d);
}
