/* Standalone check of one context-switch implementation (ctx.h).
 *
 * Built from this file, runtime/ctx.h and one runtime/arch/<cpu>_<abi>.S
 * only: no Check, no liburing, no other corio source, so it can be
 * cross-compiled statically and run under an emulator (tools/test-arch.sh
 * runs it natively on x86-64 and under qemu-aarch64 for AArch64). C11,
 * POSIX signals and per-architecture inline assembly; nothing allocated,
 * every stack is a static array. Also builds against portable.c (with
 * -DCORIO_CTX_PORTABLE), which skips the frame-position check.
 *
 * Checks, in order (each prints one "ok" line; the first failure prints
 * "test_ctx (<arch>, <implementation>): FAIL in <check>: <what>" and
 * exits 1):
 *   make        corio__ctx_make puts its frame where ctx.h says and
 *               writes nothing outside it;
 *   pingpong    main and three contexts in a ring, 100000 rounds, each
 *               context entered with its own argument;
 *   regs        every callee-saved register (x86-64: rbx, rbp, r12-r15;
 *               AArch64: x19-x29, d8-d15) and the stack pointer survive
 *               a switch while the other side fills them with its own
 *               values;
 *   fpctl       the FP control state (x86-64: MXCSR control bits and
 *               x87 control word; AArch64: FPCR) is per context, and a
 *               new context starts with its creator's (on x86-64 again
 *               with ctx.h's inline switch);
 *   fpbits      (x86-64) each FP control bit alone tells two contexts
 *               apart, their MXCSR exception flags differing as well;
 *   align       the stack pointer at the first instruction of the entry
 *               function is aligned as after a call, for any stack top;
 *   recursion   two stacks a few KB deep, switching at every level;
 *   returned    an entry function that returns reaches
 *               corio__ctx_entry_returned.
 * A broken switch often crashes instead: a handler on an alternate stack
 * then names the check that was running before the signal kills us.
 */
#define _XOPEN_SOURCE 700 /* sigaltstack */

#include <fenv.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

#if defined(CORIO_CTX_PORTABLE)
#define T_IMPL "portable.c"
#else
#define T_IMPL "assembly"
#endif
#if defined(__x86_64__)
#define T_ARCH "x86_64"
#elif defined(__aarch64__)
#define T_ARCH "aarch64"
#else
#define T_ARCH "unknown"
#endif

#define T_STR_(x) #x
#define T_STR(x) T_STR_(x)

/* ------------------------------------------------------------------------ */
/* Reporting                                                                  */

static const char *t_current = "setup"; /* name of the running check */

static _Noreturn void t_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "test_ctx (%s, %s): FAIL in %s: ", T_ARCH, T_IMPL, t_current);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(NULL);
    exit(1);
}

#define T_CHECK(cond, ...) \
    do { \
        if (!(cond)) \
            t_fail(__VA_ARGS__); \
    } while (0)

static void t_begin(const char *name)
{
    t_current = name;
}

/* Fatal signals: say which check crashed, then die of the signal (the
 * handler is reset by SA_RESETHAND, so raising it again kills us, and the
 * exit status still shows the signal). Only write(2), strlen and raise
 * in here: all async-signal-safe. */
static void t_write(const char *s)
{
    ssize_t n = write(2, s, strlen(s));
    (void)n;
}

static void t_crash(int sig)
{
    char num[4] = { (char)('0' + sig / 10 % 10), (char)('0' + sig % 10), '\n', '\0' };
    t_write("test_ctx (" T_ARCH ", " T_IMPL "): FAIL in ");
    t_write(t_current);
    t_write(": killed by signal ");
    t_write(sig >= 10 ? num : num + 1);
    raise(sig);
}

static void t_catch_crashes(void)
{
    static _Alignas(16) char altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    if (sigaltstack(&ss, NULL) != 0)
        t_fail("sigaltstack failed");
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = t_crash;
        sa.sa_flags = SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], &sa, NULL) != 0)
            t_fail("sigaction failed");
    }
}

static void t_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("ok   %-10s ", t_current);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Stacks                                                                     */

#define T_STACK_SIZE (256 * 1024)
#define T_NSTACKS 6
/* Bytes at the bottom of each stack that no check may reach; filled with
 * T_FILL before the checks and compared after. */
#define T_UNTOUCHED (64 * 1024)
#define T_FILL 0x5a

static _Alignas(16) unsigned char t_stacks[T_NSTACKS][T_STACK_SIZE];

static corio__ctx t_main_ctx; /* the main thread while it is suspended */

/* Make ctx on stack number i, whole. */
static void t_make(corio__ctx *ctx, int i, void (*entry)(void *), void *arg)
{
    corio__ctx_make(ctx, t_stacks[i], T_STACK_SIZE, entry, arg);
}

/* ------------------------------------------------------------------------ */
/* make: frame position, nothing written outside the frame                   */

#if defined(CORIO__CTX_FRAME_SIZE)
static void t_noop_entry(void *arg)
{
    (void)arg;
}
#endif

static void check_make(void)
{
    t_begin("make");
#if defined(CORIO__CTX_FRAME_SIZE)
    unsigned char *st = t_stacks[0];
    /* Every stack top misalignment; the frame must sit right below the
     * top aligned down to 16, and bytes outside it must stay as they were. */
    for (size_t trim = 0; trim < 32; trim++) {
        memset(st, T_FILL, T_STACK_SIZE);
        size_t size = T_STACK_SIZE - 4096 - trim;
        corio__ctx c = { .sp = NULL };
        corio__ctx_make(&c, st, size, t_noop_entry, NULL);
        uintptr_t top = ((uintptr_t)st + size) & ~(uintptr_t)15;
        T_CHECK((uintptr_t)c.sp == top - CORIO__CTX_FRAME_SIZE,
                "stack top %#" PRIxPTR " (size %zu): ctx.sp = %p, expected %#" PRIxPTR,
                (uintptr_t)st + size, size, c.sp, top - CORIO__CTX_FRAME_SIZE);
        for (unsigned char *p = st; p < (unsigned char *)c.sp; p++)
            T_CHECK(*p == T_FILL, "make wrote below its frame, at sp - %td",
                    (unsigned char *)c.sp - p);
        for (unsigned char *p = (unsigned char *)top; p < st + T_STACK_SIZE; p++)
            T_CHECK(*p == T_FILL, "make wrote above the aligned top, at top + %td",
                    p - (unsigned char *)top);
    }
    t_ok("frame at the 16-aligned top - %#x for 32 stack tops, nothing written outside it",
         (unsigned)CORIO__CTX_FRAME_SIZE);
#else
    t_ok("skipped (no fixed frame with this implementation)");
#endif
}

/* ------------------------------------------------------------------------ */
/* pingpong: main -> A -> B -> C -> main, many rounds                         */

#define T_PP_ROUNDS 100000L
#define T_PP_N 3

struct t_pp {
    corio__ctx ctx;     /* this context */
    corio__ctx *next;   /* where it switches to */
    int id;             /* 1..T_PP_N: position in the ring */
    uint64_t magic;     /* checked by the entry: the argument is ours */
    long runs;          /* rounds this context has run */
};

/* Incremented by each participant in ring order. volatile: written by
 * other contexts during corio__ctx_switch. */
static volatile long t_pp_step;

static void t_pp_entry(void *p)
{
    struct t_pp *a = p;
    T_CHECK(a->magic == 0xc0ffee00u + (uint64_t)a->id,
            "context started with the wrong argument %p (magic %#" PRIx64 ")", p, a->magic);
    /* A local on this stack: must keep its value across every switch. */
    volatile long mine = 0;
    for (;;) {
        long step = t_pp_step, expect = mine * (T_PP_N + 1) + a->id;
        T_CHECK(step == expect, "context %d ran out of turn: step %ld, expected %ld", a->id,
                step, expect);
        t_pp_step++;
        mine++;
        a->runs = mine;
        corio__ctx_switch(&a->ctx, a->next);
    }
}

static void check_pingpong(void)
{
    t_begin("pingpong");
    static struct t_pp pp[T_PP_N];
    for (int i = 0; i < T_PP_N; i++) {
        pp[i] = (struct t_pp){ .id = i + 1, .magic = 0xc0ffee00u + (uint64_t)(i + 1) };
        pp[i].next = i + 1 < T_PP_N ? &pp[i + 1].ctx : &t_main_ctx;
        t_make(&pp[i].ctx, i, t_pp_entry, &pp[i]);
    }
    t_pp_step = 0;
    for (long r = 0; r < T_PP_ROUNDS; r++) {
        long step = t_pp_step;
        T_CHECK(step == r * (T_PP_N + 1), "main ran out of turn: step %ld in round %ld", step,
                r);
        t_pp_step++;
        corio__ctx_switch(&t_main_ctx, &pp[0].ctx);
    }
    for (int i = 0; i < T_PP_N; i++)
        T_CHECK(pp[i].runs == T_PP_ROUNDS, "context %d ran %ld rounds, expected %ld",
                pp[i].id, pp[i].runs, T_PP_ROUNDS);
    t_ok("%ld rounds of main -> %d contexts -> main, own argument each", T_PP_ROUNDS, T_PP_N);
}

/* ------------------------------------------------------------------------ */
/* regs: callee-saved registers and the stack pointer                         */

/* t_switch_regs(a): load a->in into the callee-saved registers, call
 * corio__ctx_switch(a->from, a->to), and when resumed store the registers
 * into a->out; the stack pointer just before the call and just after it
 * returns go to a->sp[0] and a->sp[1]. One asm statement, so that no
 * compiled code runs between loading the values and the switch or
 * between being resumed and storing them; it declares every register it
 * or the other contexts change as clobbered. The frame pointer (rbp /
 * x29) cannot be declared clobbered, so the asm saves and restores it
 * itself. */
#if defined(__x86_64__)
#define T_NREGS 6
static const char *const t_reg_names[T_NREGS] = { "rbx", "rbp", "r12", "r13", "r14", "r15" };
#elif defined(__aarch64__)
#define T_NREGS 19
static const char *const t_reg_names[T_NREGS] = {
    "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29 (fp)",
    "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15",
};
#endif

#if defined(T_NREGS)
struct t_regs {
    corio__ctx *from, *to;  /* arguments of the switch */
    uint64_t in[T_NREGS];   /* loaded into the registers before the switch */
    uint64_t out[T_NREGS];  /* what the registers held when resumed */
    uint64_t sp[2];         /* stack pointer before the call and after it */
};
/* Offsets the assembly uses. */
#define T_R_FROM 0
#define T_R_TO 8
#define T_R_IN 16
#if defined(__x86_64__)
#define T_R_OUT 64
#define T_R_SP 112
#else
#define T_R_OUT 168
#define T_R_SP 320
#endif
_Static_assert(offsetof(struct t_regs, from) == T_R_FROM, "t_regs.from");
_Static_assert(offsetof(struct t_regs, to) == T_R_TO, "t_regs.to");
_Static_assert(offsetof(struct t_regs, in) == T_R_IN, "t_regs.in");
_Static_assert(offsetof(struct t_regs, out) == T_R_OUT, "t_regs.out");
_Static_assert(offsetof(struct t_regs, sp) == T_R_SP, "t_regs.sp");

#define T_OFF(base, add) T_STR(base) "+" T_STR(add)

#if defined(__x86_64__)
__attribute__((noinline)) static void t_switch_regs(struct t_regs *a)
{
    __asm__ volatile(
        /* Step over the red zone (the compiler may keep data there) and
         * align for the call; keep the caller's rsp, rbp and a. */
        "movq %%rsp, %%rax\n\t"
        "subq $128, %%rsp\n\t"
        "andq $-16, %%rsp\n\t"
        "pushq %%rax\n\t"
        "pushq %%rbp\n\t"
        "pushq %%rdi\n\t"
        "subq $8, %%rsp\n\t"
        "movq %%rsp, " T_OFF(T_R_SP, 0) "(%%rdi)\n\t"
        "movq " T_OFF(T_R_IN, 0) "(%%rdi), %%rbx\n\t"
        "movq " T_OFF(T_R_IN, 8) "(%%rdi), %%rbp\n\t"
        "movq " T_OFF(T_R_IN, 16) "(%%rdi), %%r12\n\t"
        "movq " T_OFF(T_R_IN, 24) "(%%rdi), %%r13\n\t"
        "movq " T_OFF(T_R_IN, 32) "(%%rdi), %%r14\n\t"
        "movq " T_OFF(T_R_IN, 40) "(%%rdi), %%r15\n\t"
        "movq " T_STR(T_R_TO) "(%%rdi), %%rsi\n\t"
        "movq " T_STR(T_R_FROM) "(%%rdi), %%rdi\n\t"
        "call corio__ctx_switch\n\t"
        "movq 8(%%rsp), %%rdi\n\t"
        "movq %%rsp, " T_OFF(T_R_SP, 8) "(%%rdi)\n\t"
        "movq %%rbx, " T_OFF(T_R_OUT, 0) "(%%rdi)\n\t"
        "movq %%rbp, " T_OFF(T_R_OUT, 8) "(%%rdi)\n\t"
        "movq %%r12, " T_OFF(T_R_OUT, 16) "(%%rdi)\n\t"
        "movq %%r13, " T_OFF(T_R_OUT, 24) "(%%rdi)\n\t"
        "movq %%r14, " T_OFF(T_R_OUT, 32) "(%%rdi)\n\t"
        "movq %%r15, " T_OFF(T_R_OUT, 40) "(%%rdi)\n\t"
        "addq $8, %%rsp\n\t"
        "popq %%rdi\n\t"
        "popq %%rbp\n\t"
        "popq %%rsp\n\t"
        : "+D"(a)
        :
        : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
          "rbx", "r12", "r13", "r14", "r15",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
          "cc", "memory");
}
#elif defined(__aarch64__)
__attribute__((noinline)) static void t_switch_regs(struct t_regs *a)
{
    register struct t_regs *x0 __asm__("x0") = a;
    __asm__ volatile(
        /* Keep the caller's fp (and lr, which bl overwrites) and a. */
        "stp x29, x30, [sp, #-32]!\n\t"
        "str x0, [sp, #16]\n\t"
        "mov x9, sp\n\t"
        "str x9, [x0, #" T_OFF(T_R_SP, 0) "]\n\t"
        "ldp x19, x20, [x0, #" T_OFF(T_R_IN, 0) "]\n\t"
        "ldp x21, x22, [x0, #" T_OFF(T_R_IN, 16) "]\n\t"
        "ldp x23, x24, [x0, #" T_OFF(T_R_IN, 32) "]\n\t"
        "ldp x25, x26, [x0, #" T_OFF(T_R_IN, 48) "]\n\t"
        "ldp x27, x28, [x0, #" T_OFF(T_R_IN, 64) "]\n\t"
        "ldr x29, [x0, #" T_OFF(T_R_IN, 80) "]\n\t"
        "ldp d8, d9, [x0, #" T_OFF(T_R_IN, 88) "]\n\t"
        "ldp d10, d11, [x0, #" T_OFF(T_R_IN, 104) "]\n\t"
        "ldp d12, d13, [x0, #" T_OFF(T_R_IN, 120) "]\n\t"
        "ldp d14, d15, [x0, #" T_OFF(T_R_IN, 136) "]\n\t"
        "ldr x1, [x0, #" T_STR(T_R_TO) "]\n\t"
        "ldr x0, [x0, #" T_STR(T_R_FROM) "]\n\t"
        "bl corio__ctx_switch\n\t"
        "ldr x0, [sp, #16]\n\t"
        "mov x9, sp\n\t"
        "str x9, [x0, #" T_OFF(T_R_SP, 8) "]\n\t"
        "stp x19, x20, [x0, #" T_OFF(T_R_OUT, 0) "]\n\t"
        "stp x21, x22, [x0, #" T_OFF(T_R_OUT, 16) "]\n\t"
        "stp x23, x24, [x0, #" T_OFF(T_R_OUT, 32) "]\n\t"
        "stp x25, x26, [x0, #" T_OFF(T_R_OUT, 48) "]\n\t"
        "stp x27, x28, [x0, #" T_OFF(T_R_OUT, 64) "]\n\t"
        "str x29, [x0, #" T_OFF(T_R_OUT, 80) "]\n\t"
        "stp d8, d9, [x0, #" T_OFF(T_R_OUT, 88) "]\n\t"
        "stp d10, d11, [x0, #" T_OFF(T_R_OUT, 104) "]\n\t"
        "stp d12, d13, [x0, #" T_OFF(T_R_OUT, 120) "]\n\t"
        "stp d14, d15, [x0, #" T_OFF(T_R_OUT, 136) "]\n\t"
        "ldp x29, x30, [sp], #32\n\t"
        : "+r"(x0)
        :
        : "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12",
          "x13", "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23",
          "x24", "x25", "x26", "x27", "x28", "x30",
          "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11",
          "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22",
          "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
          "cc", "memory");
}
#endif

#define T_REGS_ROUNDS 2000
#define T_REGS_N 2 /* contexts besides main */

struct t_regs_part {
    corio__ctx ctx;    /* this participant (main's is t_main_ctx) */
    corio__ctx *self;  /* &ctx, or &t_main_ctx for main */
    corio__ctx *next;  /* where it switches to */
    int id;            /* 0 = main, 1..T_REGS_N */
};

/* A value for register reg of participant id in round r: distinct for
 * every (id, reg, r), never zero, high and low halves both varying. */
static uint64_t t_pattern(int id, int reg, int r)
{
    uint64_t v = ((uint64_t)(id + 1) << 60) | ((uint64_t)(reg + 1) << 52) | (uint64_t)r << 20;
    return v ^ ((uint64_t)r * 0x9e3779b97f4a7c15u >> 44) ^ 0x00000a5a0000a5a5u;
}

/* One switch with patterns, then the comparison. */
static void t_regs_step(struct t_regs_part *p, int r)
{
    struct t_regs a = { .from = p->self, .to = p->next };
    for (int i = 0; i < T_NREGS; i++)
        a.in[i] = t_pattern(p->id, i, r);
    t_switch_regs(&a);
    for (int i = 0; i < T_NREGS; i++)
        T_CHECK(a.out[i] == a.in[i],
                "%s not preserved: participant %d, round %d: had %#" PRIx64
                ", got %#" PRIx64 " back",
                t_reg_names[i], p->id, r, a.in[i], a.out[i]);
    T_CHECK(a.sp[0] == a.sp[1], "stack pointer not preserved: participant %d, round %d: "
            "%#" PRIx64 " before the switch, %#" PRIx64 " after", p->id, r, a.sp[0], a.sp[1]);
}

static void t_regs_entry(void *arg)
{
    struct t_regs_part *p = arg;
    for (int r = 0;; r++)
        t_regs_step(p, r);
}

static void check_regs(void)
{
    t_begin("regs");
    static struct t_regs_part parts[T_REGS_N + 1];
    for (int i = 0; i <= T_REGS_N; i++) {
        parts[i] = (struct t_regs_part){ .id = i };
        parts[i].self = i == 0 ? &t_main_ctx : &parts[i].ctx;
    }
    for (int i = 0; i <= T_REGS_N; i++)
        parts[i].next = i < T_REGS_N ? parts[i + 1].self : &t_main_ctx;
    for (int i = 1; i <= T_REGS_N; i++)
        t_make(&parts[i].ctx, i, t_regs_entry, &parts[i]);
    /* main -> 1 -> 2 -> main: each is resumed by a context other than the
     * one it switched to, which had loaded its own values. */
    for (int r = 0; r < T_REGS_ROUNDS; r++)
        t_regs_step(&parts[0], r);
    t_ok("%d callee-saved registers and sp, %d rounds of main -> %d contexts -> main",
         T_NREGS, T_REGS_ROUNDS, T_REGS_N);
}
#else
static void check_regs(void)
{
    t_begin("regs");
    t_ok("skipped (no register test for this CPU)");
}
#endif

/* ------------------------------------------------------------------------ */
/* fpctl: floating-point control state per context                           */

/* The raw control registers, status flags masked out. */
#if defined(__x86_64__)
static uint64_t t_fpctl_raw(void)
{
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return ((uint64_t)cw << 32) | (mxcsr & ~0x3fu); /* bits 0-5: exception flags */
}
/* More control bits, set in one context only: MXCSR flush-to-zero and
 * denormals-are-zero, x87 precision control = double (bits 8-9 = 10). */
static void t_fpctl_extra(void)
{
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    mxcsr |= 1u << 15 | 1u << 6; /* FTZ, and DAZ: the lowest control bit */
    cw = (uint16_t)((cw & ~0x300u) | 0x200u);
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
    __asm__ volatile("fldcw %0" : : "m"(cw));
}
#define T_FPCTL_EXTRA "MXCSR.FTZ/DAZ and x87 precision control"
#elif defined(__aarch64__)
static uint64_t t_fpctl_raw(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}
/* FPCR.FZ (bit 24, flush-to-zero) and FPCR.DN (bit 25, default NaN). */
static void t_fpctl_extra(void)
{
    uint64_t v = t_fpctl_raw() | (1u << 24) | (1u << 25);
    __asm__ volatile("msr fpcr, %0" : : "r"(v));
}
#define T_FPCTL_EXTRA "FPCR.FZ and FPCR.DN"
#else
static uint64_t t_fpctl_raw(void)
{
    return 0;
}
static void t_fpctl_extra(void)
{
}
#define T_FPCTL_EXTRA "nothing"
#endif

/* What the rounding mode does to arithmetic, not just what the register
 * says: 1/10 and -1/10 round differently in each of the four modes, in
 * double (SSE / FP unit) and long double (x87 on x86-64). The operands are
 * volatile so nothing is folded at compile time. */
struct t_probe {
    double d[2];
    long double ld[2];
};

static volatile double t_one = 1.0, t_ten = 10.0;
static volatile long double t_one_l = 1.0L, t_ten_l = 10.0L;

__attribute__((noinline)) static struct t_probe t_probe_now(void)
{
    struct t_probe p;
    memset(&p, 0, sizeof p);
    volatile double d0 = t_one / t_ten, d1 = -t_one / t_ten;
    volatile long double l0 = t_one_l / t_ten_l, l1 = -t_one_l / t_ten_l;
    p.d[0] = d0;
    p.d[1] = d1;
    p.ld[0] = l0;
    p.ld[1] = l1;
    return p;
}

static int t_probe_eq(const struct t_probe *a, const struct t_probe *b)
{
    return memcmp(a->d, b->d, sizeof a->d) == 0 && a->ld[0] == b->ld[0] && a->ld[1] == b->ld[1];
}

static const int t_modes[4] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO };
static const char *const t_mode_names[4] = { "to-nearest", "upward", "downward", "toward-zero" };

#define T_FP_N 3 /* contexts besides main */

/* The switch fpctl uses: the assembly one, then (x86-64) the inline one
 * of ctx.h, which loads the FP control words the same way. */
static void (*t_fp_switch)(corio__ctx *from, corio__ctx *to) = corio__ctx_switch;
#if defined(__x86_64__) && !defined(CORIO_CTX_PORTABLE)
__attribute__((noinline)) static void t_switch_inline(corio__ctx *from, corio__ctx *to)
{
    corio__ctx_switch_inline(from, to);
}
#endif
#define T_FP_ROUNDS 1000

struct t_fp {
    corio__ctx ctx;          /* this context */
    corio__ctx *next;        /* where it switches to */
    int id;                  /* 1..T_FP_N */
    int inherit;             /* index in t_modes main had when it made us */
    int mode;                /* index in t_modes we set */
    int extra;               /* also set the extra control bits */
    volatile int started;    /* set once the entry checked what it inherited */
};

static struct t_probe t_fp_ref[4]; /* t_probe_now() in each mode */

/* Set mode index m (and the extra bits when asked); return the raw state
 * and, in *ref, how arithmetic rounds in it. (The extra bits may change
 * the long double result, x87 precision control does, but not the double
 * one, which must be the mode's.) */
static uint64_t t_fp_set(int m, int extra, struct t_probe *ref)
{
    T_CHECK(fesetround(t_modes[m]) == 0, "fesetround(%s) failed", t_mode_names[m]);
    if (extra)
        t_fpctl_extra();
    *ref = t_probe_now();
    T_CHECK(memcmp(ref->d, t_fp_ref[m].d, sizeof ref->d) == 0, "1/10 does not round %s",
            t_mode_names[m]);
    return t_fpctl_raw();
}

/* Is the thread in mode m with raw state raw, and does arithmetic round
 * as it did when the state was set (ref)? Fails naming who is not. */
static void t_fp_expect(const char *who, int m, uint64_t raw, const struct t_probe *ref,
                        int round)
{
    int got = fegetround();
    T_CHECK(got == t_modes[m], "%s, round %d: fegetround() = %#x, expected %s (%#x)", who,
            round, (unsigned)got, t_mode_names[m], (unsigned)t_modes[m]);
    uint64_t now = t_fpctl_raw();
    T_CHECK(now == raw, "%s, round %d: FP control registers %#" PRIx64 ", expected %#" PRIx64,
            who, round, now, raw);
    struct t_probe p = t_probe_now();
    T_CHECK(t_probe_eq(&p, ref), "%s, round %d: 1/10 does not round %s", who, round,
            t_mode_names[m]);
}

static void t_fp_entry(void *arg)
{
    struct t_fp *a = arg;
    char who[32];
    snprintf(who, sizeof who, "context %d", a->id);
    /* Started with its creator's state (without the extra bits, which
     * main never sets). */
    T_CHECK(fegetround() == t_modes[a->inherit],
            "context %d started in rounding mode %#x, not %s as its creator had when it "
            "called corio__ctx_make", a->id, (unsigned)fegetround(), t_mode_names[a->inherit]);
    a->started = 1;
    struct t_probe ref;
    uint64_t raw = t_fp_set(a->mode, a->extra, &ref);
    for (int r = 0;; r++) {
        t_fp_switch(&a->ctx, a->next);
        t_fp_expect(who, a->mode, raw, &ref, r);
    }
}

static void check_fpctl(const char *name)
{
    t_begin(name);
    /* The probe must tell the four modes apart, or it proves nothing. */
    for (int m = 0; m < 4; m++) {
        T_CHECK(fesetround(t_modes[m]) == 0, "fesetround(%s) failed", t_mode_names[m]);
        t_fp_ref[m] = t_probe_now();
        for (int k = 0; k < m; k++)
            T_CHECK(!t_probe_eq(&t_fp_ref[m], &t_fp_ref[k]),
                    "test bug: 1/10 rounds the same %s and %s", t_mode_names[m],
                    t_mode_names[k]);
    }
    /* Context i is made while main is in mode i (1..3) and then sets
     * another (2, 3, 1); main runs in mode 0. All four differ at any time. */
    static struct t_fp fp[T_FP_N];
    for (int i = 0; i < T_FP_N; i++) {
        fp[i] = (struct t_fp){ .id = i + 1, .inherit = i + 1, .mode = (i + 1) % 3 + 1,
                               .extra = i == 1 };
        fp[i].next = i + 1 < T_FP_N ? &fp[i + 1].ctx : &t_main_ctx;
        T_CHECK(fesetround(t_modes[fp[i].inherit]) == 0, "fesetround failed");
        t_make(&fp[i].ctx, i, t_fp_entry, &fp[i]);
    }
    struct t_probe ref;
    uint64_t raw = t_fp_set(0, 0, &ref);
    for (int r = 0; r < T_FP_ROUNDS; r++) {
        t_fp_switch(&t_main_ctx, &fp[0].ctx);
        t_fp_expect("main", 0, raw, &ref, r);
    }
    for (int i = 0; i < T_FP_N; i++)
        T_CHECK(fp[i].started, "context %d never ran", fp[i].id);
    fesetround(FE_TONEAREST);
    t_ok("rounding mode (fegetround, raw registers, arithmetic) and %s per context, "
         "%d rounds; a new context starts with its creator's", T_FPCTL_EXTRA, T_FP_ROUNDS);
}

/* ------------------------------------------------------------------------ */
/* fpbits (x86-64): every FP control bit alone is told apart                 */

/* Each MXCSR control bit (6-15) and x87 control-word bit (0-5, 8-11) in
 * turn: main and one context whose control state differs in that bit
 * only, and whose MXCSR exception flags differ too (the switch leaves
 * status flags alone but must load a control word that differs in any
 * control bit). No FP arithmetic runs meanwhile: an unmasked exception
 * must not trap. */
#if defined(__x86_64__)
struct t_bits {
    corio__ctx ctx;
    uint32_t mxcsr; /* the context's MXCSR */
    uint16_t cw;    /* its x87 control word */
    int rounds;     /* rounds it saw its own state */
};

/* Also clears the x87 status flags: an x87 exception unmasked while its
 * flag is set (the probe above leaves some set) traps at the next waiting
 * x87 instruction. */
static void t_raw_set(uint32_t mxcsr, uint16_t cw)
{
    __asm__ volatile("fnclex");
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
    __asm__ volatile("fldcw %0" : : "m"(cw));
}

static void t_raw_get(uint32_t *mxcsr, uint16_t *cw)
{
    __asm__ volatile("stmxcsr %0" : "=m"(*mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(*cw));
}

static void t_bits_entry(void *arg)
{
    struct t_bits *b = arg;
    t_raw_set(b->mxcsr, b->cw);
    for (;;) {
        t_fp_switch(&b->ctx, &t_main_ctx);
        uint32_t m;
        uint16_t cw;
        t_raw_get(&m, &cw);
        T_CHECK((m & ~0x3fu) == (b->mxcsr & ~0x3fu) && cw == b->cw,
                "context resumed with MXCSR %#x, x87 CW %#x; its own: %#x, %#x", m, cw,
                b->mxcsr, b->cw);
        b->rounds++;
    }
}

static void check_fpbits(const char *name)
{
    t_begin(name);
    uint32_t m0;
    uint16_t cw0;
    t_raw_get(&m0, &cw0);
    m0 &= ~0x3fu;
    static const int mx_bits[] = {6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    static const int cw_bits[] = {0, 1, 2, 3, 4, 5, 8, 9, 10, 11};
    static struct t_bits b;
    int n = 0;
    for (int k = 0; k < 20; k++) {
        int in_mx = k < 10, bit = in_mx ? mx_bits[k] : cw_bits[k - 10];
        t_raw_set(m0, cw0);
        b = (struct t_bits){ .mxcsr = (in_mx ? m0 ^ (1u << bit) : m0) | 0x20u,
                             .cw = (uint16_t)(in_mx ? cw0 : cw0 ^ (1u << bit)) };
        t_make(&b.ctx, 0, t_bits_entry, &b);
        for (int r = 0; r < 10; r++) {
            t_fp_switch(&t_main_ctx, &b.ctx);
            uint32_t m;
            uint16_t cw;
            t_raw_get(&m, &cw);
            t_raw_set(m0, cw0); /* back to main's own, whatever came in */
            T_CHECK((m & ~0x3fu) == m0 && cw == cw0,
                    "%s bit %d: main resumed with MXCSR %#x, x87 CW %#x; its own: %#x, %#x",
                    in_mx ? "MXCSR" : "x87 CW", bit, m, cw, m0, cw0);
        }
        T_CHECK(b.rounds == 9, "%s bit %d: the context resumed %d times, not 9",
                in_mx ? "MXCSR" : "x87 CW", bit, b.rounds);
        n++;
    }
    t_raw_set(m0, cw0);
    t_ok("%d control bits (MXCSR 6-15, x87 CW 0-5 and 8-11) each alone, with differing "
         "MXCSR flags", n);
}
#endif

/* ------------------------------------------------------------------------ */
/* align: stack pointer at the first instruction of the entry                */

#include "t_align_entry.h"

struct t_align {
    corio__ctx ctx;        /* the context */
    uintptr_t local_addr;  /* address of an _Alignas(32) local */
    uintptr_t frame;       /* __builtin_frame_address(0) of the body */
    char text[64];         /* snprintf of doubles: vector code in libc */
};

void t_align_body(void *arg)
{
    struct t_align *a = arg;
    _Alignas(32) volatile char local[32];
    local[0] = 1;
    a->local_addr = (uintptr_t)&local[0];
    a->frame = (uintptr_t)__builtin_frame_address(0);
    snprintf(a->text, sizeof a->text, "%.3f %.1e %Lg", 3.14159, 2.5e10, (long double)0.5);
    corio__ctx_switch(&a->ctx, &t_main_ctx);
    t_fail("aligned context resumed after it finished");
}

static void check_align(void)
{
    t_begin("align");
#if defined(T_ENTRY_SP_OK)
    unsigned char *st = t_stacks[0];
    for (size_t trim = 0; trim < 32; trim++) {
        size_t size = T_STACK_SIZE - trim;
        struct t_align a = { .local_addr = 1 };
        corio__ctx_make(&a.ctx, st, size, t_align_entry, &a);
        t_entry_sp = 1;
        corio__ctx_switch(&t_main_ctx, &a.ctx);
        T_CHECK(T_ENTRY_SP_OK(t_entry_sp),
                "stack top %#" PRIxPTR ": stack pointer %#" PRIxPTR " at the entry's first "
                "instruction, want " T_ENTRY_SP_RULE, (uintptr_t)st + size, t_entry_sp);
        T_CHECK(t_entry_sp > (uintptr_t)st && t_entry_sp <= (uintptr_t)st + size,
                "entry ran on sp %#" PRIxPTR ", outside its stack [%p, %#" PRIxPTR ")",
                t_entry_sp, (void *)st, (uintptr_t)st + size);
        T_CHECK(a.local_addr % 32 == 0, "an _Alignas(32) local at %#" PRIxPTR, a.local_addr);
        T_CHECK(a.frame > (uintptr_t)st && a.frame < (uintptr_t)st + size,
                "frame address %#" PRIxPTR " outside the context's stack", a.frame);
        T_CHECK(strcmp(a.text, "3.142 2.5e+10 0.5") == 0, "snprintf on the new stack gave \"%s\"",
                a.text);
    }
    t_ok("entry sees %s for 32 stack tops; libc formatting on the new stack",
         T_ENTRY_SP_RULE);
#else
    t_ok("skipped (no alignment probe for this CPU)");
#endif
}

/* ------------------------------------------------------------------------ */
/* recursion: two deep stacks, switching at every level                       */

#define T_DEPTH 200       /* frames, each with a 128-byte buffer: ~30 KB+ */
#define T_MAIN_DEPTH 60

struct t_rec {
    corio__ctx ctx;           /* the recursing context */
    volatile long switches;   /* switches it made; negated when it is done */
    volatile int max_depth;   /* deepest level reached */
};

static struct t_rec t_rec_ctx;

static void t_fill(volatile unsigned char *buf, size_t n, int depth, int who)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(depth * 31 + (int)i * 7 + who);
}

static void t_verify(volatile unsigned char *buf, size_t n, int depth, int who)
{
    for (size_t i = 0; i < n; i++)
        T_CHECK(buf[i] == (unsigned char)(depth * 31 + (int)i * 7 + who),
                "%s stack frame at depth %d corrupted (byte %zu)", who ? "context" : "main",
                depth, i);
}

/* Recurse to T_DEPTH on the context's stack, switching to main on the way
 * down and on the way up, and check every frame's buffer after each. */
__attribute__((noinline)) static int t_rec_down(int depth)
{
    volatile unsigned char buf[128];
    t_fill(buf, sizeof buf, depth, 1);
    if (depth > t_rec_ctx.max_depth)
        t_rec_ctx.max_depth = depth;
    t_rec_ctx.switches++;
    corio__ctx_switch(&t_rec_ctx.ctx, &t_main_ctx);
    t_verify(buf, sizeof buf, depth, 1);
    int below = depth < T_DEPTH ? t_rec_down(depth + 1) : 0;
    t_verify(buf, sizeof buf, depth, 1);
    t_rec_ctx.switches++;
    corio__ctx_switch(&t_rec_ctx.ctx, &t_main_ctx);
    t_verify(buf, sizeof buf, depth, 1);
    return below + buf[depth % 128];
}

static int t_rec_expect(int depth)
{
    int sum = 0;
    for (int d = depth; d <= T_DEPTH; d++)
        sum += (unsigned char)(d * 31 + (d % 128) * 7 + 1);
    return sum;
}

static void t_rec_entry(void *arg)
{
    (void)arg;
    int sum = t_rec_down(0);
    T_CHECK(sum == t_rec_expect(0), "recursion result %d, expected %d", sum, t_rec_expect(0));
    t_rec_ctx.switches = -t_rec_ctx.switches; /* done */
    corio__ctx_switch(&t_rec_ctx.ctx, &t_main_ctx);
    t_fail("finished recursion context resumed");
}

/* Main recurses as well, resuming the context at every level, so both
 * stacks are deep at once. Returns when the context is done. */
__attribute__((noinline)) static void t_main_down(int depth)
{
    volatile unsigned char buf[96];
    t_fill(buf, sizeof buf, depth, 0);
    for (int i = 0; i < 4 && t_rec_ctx.switches >= 0; i++) {
        corio__ctx_switch(&t_main_ctx, &t_rec_ctx.ctx);
        t_verify(buf, sizeof buf, depth, 0);
    }
    if (depth < T_MAIN_DEPTH && t_rec_ctx.switches >= 0)
        t_main_down(depth + 1);
    t_verify(buf, sizeof buf, depth, 0);
    while (depth == 0 && t_rec_ctx.switches >= 0) {
        corio__ctx_switch(&t_main_ctx, &t_rec_ctx.ctx);
        t_verify(buf, sizeof buf, depth, 0);
    }
}

static void check_recursion(void)
{
    t_begin("recursion");
    t_rec_ctx = (struct t_rec){ .max_depth = -1 };
    t_make(&t_rec_ctx.ctx, 4, t_rec_entry, NULL);
    t_main_down(0);
    T_CHECK(t_rec_ctx.max_depth == T_DEPTH, "reached depth %d, not %d", t_rec_ctx.max_depth,
            T_DEPTH);
    T_CHECK(-t_rec_ctx.switches == 2L * (T_DEPTH + 1), "%ld switches, expected %ld",
            -t_rec_ctx.switches, 2L * (T_DEPTH + 1));
    t_ok("%d frames deep on a context while main is %d deep, switching at every level",
         T_DEPTH, T_MAIN_DEPTH);
}

/* ------------------------------------------------------------------------ */
/* returned: an entry that returns                                            */

static corio__ctx t_ret_ctx;
static volatile int t_ret_expected; /* the next corio__ctx_entry_returned is a test */
static volatile int t_ret_reached;  /* it was called */
static void *volatile t_ret_arg;    /* what the returning entry received */

/* ctx.h: the trampoline calls this when an entry function returns. The
 * library's version aborts; ours, when the test expects it, leaves the
 * dead context for main (which never resumes it). */
_Noreturn void corio__ctx_entry_returned(void)
{
    if (t_ret_expected) {
        t_ret_expected = 0;
        t_ret_reached = 1;
        corio__ctx_switch(&t_ret_ctx, &t_main_ctx);
    }
    t_fail("an entry function returned");
}

static void t_ret_entry(void *arg)
{
    t_ret_arg = arg;
}

static void check_returned(void)
{
    t_begin("returned");
    void *arg = (void *)(uintptr_t)0x0123456789abcdefu;
    t_make(&t_ret_ctx, 5, t_ret_entry, arg);
    t_ret_expected = 1;
    corio__ctx_switch(&t_main_ctx, &t_ret_ctx);
    T_CHECK(t_ret_reached, "corio__ctx_entry_returned was not called");
    T_CHECK(t_ret_arg == arg, "entry received %p, expected %p", t_ret_arg, arg);
    t_ok("entry(arg) with a 64-bit argument, return reaches corio__ctx_entry_returned");
}

/* ------------------------------------------------------------------------ */

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    t_catch_crashes();
    memset(t_stacks, T_FILL, sizeof t_stacks);
    check_make();
    memset(t_stacks, T_FILL, sizeof t_stacks);
    check_pingpong();
    check_regs();
    check_fpctl("fpctl");
#if defined(__x86_64__) && !defined(CORIO_CTX_PORTABLE)
    check_fpbits("fpbits");
    t_fp_switch = t_switch_inline;
    check_fpctl("fpctl (inline switch)");
    check_fpbits("fpbits (inline switch)");
    t_fp_switch = corio__ctx_switch;
#endif
    check_align();
    check_recursion();
    check_returned();
    t_begin("stacks");
    for (int i = 0; i < T_NSTACKS; i++)
        for (size_t b = 0; b < T_UNTOUCHED; b++)
            T_CHECK(t_stacks[i][b] == T_FILL, "stack %d used down to %zu bytes from its bottom",
                    i, b);
    t_ok("no check came within %d bytes of a stack's bottom", T_UNTOUCHED);
    printf("test_ctx (%s, %s): all checks passed\n", T_ARCH, T_IMPL);
    return 0;
}
