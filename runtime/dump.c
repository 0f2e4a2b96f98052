/* corio — the coroutine dump, and its opt-in signal.
 *
 * A dump is a request shared by the caller and every loop: the caller
 * posts one call message per loop and waits (DUMP_WAIT_NS for a loop to
 * start its part, DUMP_LONG_NS for one that has started to finish it);
 * each loop formats its own coroutines into its slot's buffer on its own
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
#include <link.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "corio/inspect.h"
#include "corio/scope.h"
#include "ctx.h"
#include "fault.h"
#include "loop.h"

#if defined(CORIO_HAVE_LIBUNWIND)
#include <pthread.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

#define DUMP_WAIT_NS 1000000000 /* how long the caller waits for a loop to start */
#define DUMP_LONG_NS 60000000000LL /* ... and for a loop that has started its part */
#define MAX_FRAMES 32           /* frames printed per coroutine */

/* How backtraces are taken (CORIO_DUMP_BACKTRACE, read at each dump). */
enum { BT_NONE, BT_FP, BT_CFI };

typedef struct dump_req dump_req;

/* One loop's part of a dump. */
typedef struct dump_slot {
    corio__call_msg call; /* posted to the loop; must stay first */
    dump_req *req;        /* the request */
    char *buf;            /* its text (open_memstream), or NULL */
    size_t len;           /* its length */
    long count;           /* coroutines listed */
    _Atomic int started;  /* the loop is formatting its part */
    _Atomic int done;     /* buf and count are final (release) */
} dump_slot;

struct dump_req {
    _Atomic int refs;      /* the caller's and one per loop still to answer */
    corio__parker parker;  /* the caller's; in the request (see the top) */
    int bt;                /* BT_*: how backtraces are taken */
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

/* ---- backtraces of suspended coroutines ----
 *
 * A suspended coroutine's stack is still: its loop's thread, the only one
 * that runs it, is the one formatting the dump. Every coroutine is
 * suspended by corio__fiber_switch, that is by corio__ctx_switch_inline
 * (runtime/ctx.h), which left its frame at ctx.sp:
 *
 *     sp+0x00  MXCSR, x87 control word     sp+0x08 .. 0x28  not written
 *     sp+0x30  rbp                         sp+0x38  the resume address,
 *                                                   a label in the caller
 *     sp+0x40  the red zone it skipped (CORIO__CTX_INLINE_GAP bytes), then
 *              the caller's frame: its rsp at the resume address
 *
 * The callee-saved registers the switch declares clobbered were saved by
 * the caller's own prologue, where its CFI says, so the walk needs only
 * rip, rsp and rbp.
 *
 * With libunwind (CORIO_HAVE_LIBUNWIND at build time, libunwind.so.8 at
 * run time) those registers seed an
 * unw_context_t and unw_step walks the rest by the .eh_frame CFI, which
 * gcc emits for every function, frame pointers or not (the user's code
 * included). libunwind as Debian builds it (its default "conservative
 * checks") tests every address unw_step reads with mincore(2) before
 * reading it, so a corrupt stack makes a step fail, which ends the trace,
 * instead of faulting; on top of that every frame's sp must lie inside
 * the coroutine's own stack, each above the last. The walk ends at
 * corio__ctx_trampoline, whose CFI marks the return address undefined.
 *
 * Without libunwind, the saved rbp chain: no unwind tables needed, but a
 * frame compiled without frame pointers (gcc's default at -O2, corio's own
 * build) ends it at the first return address. */

/* Every function that reads the coroutine's stack: the words read belong
 * to other frames, some poisoned by AddressSanitizer (redzones around
 * locals). */
#define STACK_READER __attribute__((no_sanitize("address")))

/* The switch frame's layout is known (x86-64 assembly, not ucontext). */
#if defined(__x86_64__) && !defined(CORIO_CTX_PORTABLE)
#define DUMP_STACKS 1
#endif

#if defined(DUMP_STACKS)

/* By the saved rbp chain. */
STACK_READER static int walk_fp(const uintptr_t *fr, uintptr_t sp, uintptr_t hi, uintptr_t *pcs,
                                int max) {
    int n = 0;
    pcs[n++] = fr[7]; /* where corio__ctx_switch returns */
    uintptr_t fp = fr[6];
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
}

#endif /* DUMP_STACKS */

#if defined(CORIO_HAVE_LIBUNWIND)

/* libunwind is opened with dlopen(RTLD_LOCAL) at the first dump, not
 * linked: libunwind.so exports unversioned `backtrace` and `_Unwind_*`
 * (the C++ exception ABI), which, linked into a program, may be found
 * before glibc's and libgcc's and serve the whole program. Opened locally,
 * its symbols are reached only through these pointers. Not there at run
 * time: the frame-pointer walk. The header names the functions (macros
 * for the local-only, x86-64 entry points, _ULx86_64_*). */
#define UNW_NAME_(f) #f
#define UNW_NAME(f) UNW_NAME_(f)

static struct {
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_proc_name)(unw_cursor_t *, char *, size_t, unw_word_t *);
} unw;                     /* set by unw_open, once (pthread_once orders it) */
static int unw_ready;      /* every pointer is set */
static pthread_once_t unw_once = PTHREAD_ONCE_INIT;

static void *unw_sym(void *h, const char *name, int *ok) {
    void *p = dlsym(h, name);
    if (!p)
        *ok = 0;
    return p;
}

static void unw_open(void) {
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    int ok = 1;
    /* Object to function pointers through memcpy: ISO C has no cast. */
    void *p = unw_sym(h, UNW_NAME(unw_init_local), &ok);
    memcpy(&unw.init_local, &p, sizeof p);
    p = unw_sym(h, UNW_NAME(unw_step), &ok);
    memcpy(&unw.step, &p, sizeof p);
    p = unw_sym(h, UNW_NAME(unw_get_reg), &ok);
    memcpy(&unw.get_reg, &p, sizeof p);
    p = unw_sym(h, UNW_NAME(unw_get_proc_name), &ok);
    memcpy(&unw.get_proc_name, &p, sizeof p);
    unw_ready = ok; /* the handle stays open: the pointers point into it */
}

/* 1 when libunwind is there (opened on the first call). */
static int unw_available(void) {
    pthread_once(&unw_once, unw_open);
    return unw_ready;
}

#if defined(DUMP_STACKS)
/* The frames of a suspended coroutine whose switch frame is fr (at sp),
 * on a stack ending at hi. */
STACK_READER static int walk_cfi(const uintptr_t *fr, uintptr_t sp, uintptr_t hi, uintptr_t *pcs,
                                 int max) {
    unw_context_t uc;
    memset(&uc, 0, sizeof uc);
    greg_t *g = uc.uc_mcontext.gregs;
    g[REG_RBP] = (greg_t)fr[6];
    g[REG_RIP] = (greg_t)fr[7];
    g[REG_RSP] = (greg_t)(sp + CORIO__CTX_FRAME_SIZE + CORIO__CTX_INLINE_GAP);
    unw_cursor_t cur;
    /* unw_init_local treats RIP as a return address (it looks up the CFI
     * of the byte before it): here that byte is the switch's own jmp, in
     * the same asm statement, so the row is the same. */
    if (unw.init_local(&cur, &uc) < 0)
        return 0;
    int n = 0;
    uintptr_t last = sp;
    for (;;) {
        unw_word_t ip, fsp;
        if (unw.get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0 ||
            unw.get_reg(&cur, UNW_REG_SP, &fsp) < 0 || fsp < last || fsp > hi)
            break;
        pcs[n++] = (uintptr_t)ip;
        last = (uintptr_t)fsp;
        if (n == max || unw.step(&cur) <= 0)
            break;
    }
    return n;
}

#endif /* DUMP_STACKS */
#endif /* CORIO_HAVE_LIBUNWIND */

/* The return addresses of a suspended coroutine, innermost first; 0 when
 * its stack is not known (a portable-context build, another CPU). */
STACK_READER static int backtrace_of(const corio__coro *c, int mode, uintptr_t *pcs, int max) {
#if defined(DUMP_STACKS)
    const corio__stack *st = c->fiber.stack;
    if (!st || !c->fiber.ctx.sp)
        return 0;
    uintptr_t lo = (uintptr_t)st->lo, hi = lo + st->size;
    uintptr_t sp = (uintptr_t)c->fiber.ctx.sp;
    /* A context corio__ctx_make built (at the top, never run) has no
     * frames of its own: it fails the second test. */
    if (sp < lo || sp % 8 || sp + CORIO__CTX_FRAME_SIZE + CORIO__CTX_INLINE_GAP > hi)
        return 0;
    const uintptr_t *fr = (const uintptr_t *)sp;
#if defined(CORIO_HAVE_LIBUNWIND)
    if (mode == BT_CFI)
        return walk_cfi(fr, sp, hi, pcs, max);
#endif
    return mode == BT_NONE ? 0 : walk_fp(fr, sp, hi, pcs, max);
#else
    (void)c;
    (void)mode;
    (void)pcs;
    (void)max;
    return 0; /* the frame layout is only known for x86-64 here */
#endif
}

/* Symbols: pc's line, "module+0xOFF (symbol+0xOFF)", is looked up once per
 * dump of a loop and kept in a direct-mapped cache (100k coroutines parked
 * at the same few call sites cost one lookup per site). The name comes
 * from dladdr (the dynamic symbol table) when its symbol really contains
 * pc (dladdr names the nearest exported symbol below pc, which for a
 * static function is some other function); otherwise, with libunwind,
 * from the file's full symbol table (unw_get_proc_name: slow, it maps
 * the file, hence the cache); otherwise no name: `addr2line -f -e module
 * 0xOFF` gives it. */

#define SYM_CACHE 256 /* entries, a power of two */

typedef struct sym_entry {
    uintptr_t pc;   /* the address, 0: empty */
    char *line;     /* its line (malloc), NULL: in no loaded module */
} sym_entry;

typedef struct sym_cache {
    sym_entry e[SYM_CACHE]; /* by hash of pc */
} sym_cache;

#if defined(CORIO_HAVE_LIBUNWIND)
/* The name of the function around return address pc from the file's
 * symbol table; 0 when there is none. */
static int full_symbol(uintptr_t pc, char *name, size_t cap, uintptr_t *off) {
    unw_context_t uc;
    memset(&uc, 0, sizeof uc);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
    unw_cursor_t cur;
    unw_word_t o = 0;
    if (!unw_available() || unw.init_local(&cur, &uc) < 0 ||
        unw.get_proc_name(&cur, name, cap, &o) < 0 || !name[0])
        return 0;
    *off = (uintptr_t)o;
    return 1;
}
#else
static int full_symbol(uintptr_t pc, char *name, size_t cap, uintptr_t *off) {
    (void)pc;
    (void)name;
    (void)cap;
    (void)off;
    return 0;
}
#endif

/* pc's line, malloc'd; NULL when pc is in no loaded module (or no memory). */
static char *format_pc(uintptr_t pc) {
    Dl_info di;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1((void *)pc, &di, (void **)&sym, RTLD_DL_SYMENT) || !di.dli_fname)
        return NULL;
    const char *mod = strrchr(di.dli_fname, '/');
    mod = mod ? mod + 1 : di.dli_fname;
    char name[256];
    uintptr_t off = 0;
    /* pc is a return address: the call is at pc - 1, which may be the
     * last byte of a noreturn function's body. */
    int named = 0;
    if (di.dli_sname && sym && sym->st_size &&
        pc - 1 - (uintptr_t)di.dli_saddr < (uintptr_t)sym->st_size) {
        snprintf(name, sizeof name, "%s", di.dli_sname);
        off = pc - (uintptr_t)di.dli_saddr;
        named = 1;
    } else {
        named = full_symbol(pc, name, sizeof name, &off);
    }
    char *line = NULL;
    int r = named ? asprintf(&line, "      %s+0x%" PRIxPTR " (%s+0x%" PRIxPTR ")\n", mod,
                             pc - (uintptr_t)di.dli_fbase, name, off)
                  : asprintf(&line, "      %s+0x%" PRIxPTR "\n", mod,
                             pc - (uintptr_t)di.dli_fbase);
    return r < 0 ? NULL : line;
}

/* Print pc's line; 0 when it is in no loaded module (junk read by a
 * frame-pointer walk through code built without frame pointers: stop). */
static int print_pc(FILE *f, sym_cache *sc, uintptr_t pc) {
    sym_entry *e = &sc->e[((pc >> 4) ^ (pc >> 12)) & (SYM_CACHE - 1)];
    if (e->pc != pc) {
        free(e->line);
        e->line = format_pc(pc);
        e->pc = pc;
    }
    if (!e->line)
        return 0;
    fputs(e->line, f);
    return 1;
}

static void sym_cache_free(sym_cache *sc) {
    for (int i = 0; i < SYM_CACHE; i++)
        free(sc->e[i].line);
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

static void dump_coro(FILE *f, sym_cache *sc, int bt, corio__loop *l, const corio__coro *c,
                      int64_t now) {
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
    if (c == l->current || c->finished || !sc)
        return; /* a running stack moves; a finished one is gone */
    uintptr_t pcs[MAX_FRAMES];
    int n = backtrace_of(c, bt, pcs, MAX_FRAMES);
    int i = 0;
    while (i < n && print_pc(f, sc, pcs[i]))
        i++;
    if (i == MAX_FRAMES)
        fputs("      ... (more frames not shown)\n", f);
}

/* On the loop's thread. */
static void dump_loop(corio__loop *l, corio__call_msg *m) {
    dump_slot *s = (dump_slot *)m;
    dump_req *r = s->req;
    atomic_store_explicit(&s->started, 1, memory_order_relaxed);
    corio__parker_unpark(&r->parker);
    FILE *f = open_memstream(&s->buf, &s->len);
    long count = 0;
    sym_cache *sc = corio__calloc(1, sizeof *sc); /* NULL: no backtraces */
    if (f) {
        int64_t now = corio__now_ns();
        fprintf(f, "loop %d: %zu live coroutines, %zu ring operations in flight, %zu timers\n",
                l->id, l->nlive, l->inflight, l->heap_len);
        for (corio__coro *c = l->live; c; c = c->all_next, count++)
            dump_coro(f, sc, r->bt, l, c, now);
        fclose(f);
    }
    if (sc) {
        sym_cache_free(sc);
        free(sc);
    }
    s->count = count;
    atomic_store_explicit(&s->done, 1, memory_order_release);
    corio__parker_unpark(&r->parker); /* the caller re-checks (see corio_runtime_dump) */
    req_unref(r);
}

/* CORIO_DUMP_BACKTRACE: "none", "fp" (frame pointers: fast, but only
 * as deep as the first frame built without them), otherwise (unset,
 * "full") by the unwind tables when libunwind is there. */
static int backtrace_mode(void) {
    const char *e = getenv("CORIO_DUMP_BACKTRACE");
    if (e && !strcmp(e, "none"))
        return BT_NONE;
#if defined(CORIO_HAVE_LIBUNWIND)
    if ((!e || strcmp(e, "fp")) && unw_available())
        return BT_CFI;
#endif
    return BT_FP;
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
    r->bt = backtrace_mode();
    corio__parker_init(&r->parker);
    for (int i = 0; i < rt->nloops; i++) {
        dump_slot *s = &r->slots[i];
        s->call.m.kind = CORIO__MSG_CALL;
        s->call.fn = dump_loop;
        s->req = r;
        corio__loop_post(&rt->loops[i], &s->call.m);
    }
    /* Wait for the loops' parts. A loop that has not started its part
     * within DUMP_WAIT_NS is not waited for (a coroutine of it blocks it);
     * one that has started is, up to DUMP_LONG_NS: formatting never
     * blocks, but 100k coroutines with full backtraces take about a
     * second. Each loop unparks the caller when it starts and when it is
     * done; the caller re-counts (`started` is only a hint to wait on;
     * `done`, acquire, publishes the part). Shielded: a dump asked for by
     * a cancelled coroutine still gets written. */
    int64_t t0 = corio__now_ns();
    int64_t start_by = t0 + DUMP_WAIT_NS, end_by = t0 + DUMP_LONG_NS;
    corio_scope shield;
    corio_shield_enter(&shield, end_by);
    for (;;) {
        int unstarted = 0, running = 0;
        for (int i = 0; i < r->n; i++) {
            const dump_slot *s = &r->slots[i];
            if (atomic_load_explicit(&s->done, memory_order_acquire))
                continue;
            if (atomic_load_explicit(&s->started, memory_order_relaxed))
                running++;
            else
                unstarted++;
        }
        int64_t now = corio__now_ns(), until;
        if (unstarted && now < start_by)
            until = start_by;
        else if (running && now < end_by)
            until = end_by;
        else
            break;
        corio__parker_park(&r->parker, until);
    }
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
