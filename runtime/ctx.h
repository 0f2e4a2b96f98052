/* corio — machine context switch (the lowest layer of the fiber runtime).
 *
 * A context is one saved stack pointer. Everything else a suspended context
 * needs (its callee-saved registers, its floating-point control words and
 * the address to resume at) is pushed on its own stack by
 * corio__ctx_switch, so a context costs 8 bytes outside its stack and a
 * switch touches one cache line of each stack.
 *
 * The implementation is one assembly file per CPU and ABI, picked in
 * meson.build by host_machine.cpu_family():
 *   runtime/arch/x86_64_sysv.S    x86-64, System V psABI
 *   runtime/arch/aarch64_aapcs.S  AArch64, AAPCS64
 *   runtime/arch/portable.c       anything else, on ucontext (slow: saves
 *                                 the signal mask with a syscall)
 * The per-architecture frame layouts are drawn at the top of each file and
 * in docs/context-switch.md.
 *
 * This header is also included by the assembly files (__ASSEMBLER__), which
 * take the offset constants from here so C and assembly cannot disagree. */
#ifndef CORIO_CTX_H
#define CORIO_CTX_H

/* Byte offset of corio__ctx.sp; the assembly addresses the field with it
 * and fiber.c checks it against offsetof with _Static_assert. */
#define CORIO__CTX_SP_OFFSET 0

/* Size in bytes of the frame corio__ctx_switch leaves on a suspended stack,
 * return address included. corio__ctx_make builds one such frame at the
 * 16-byte aligned top of a new stack, so ctx->sp == top - FRAME_SIZE. */
#if defined(CORIO_CTX_PORTABLE)
/* portable.c forced on a CPU that has assembly (to test it): no frame. */
#elif defined(__x86_64__)
#define CORIO__CTX_FRAME_SIZE 0x40
#elif defined(__aarch64__)
#define CORIO__CTX_FRAME_SIZE 0xb0
#endif

#ifndef __ASSEMBLER__

#include <stddef.h>

/* A suspended (or never started) execution context. */
typedef struct corio__ctx {
    void *sp; /* stack pointer of the suspended context; its saved frame
                 starts here. Written only by corio__ctx_switch (when the
                 context is left) and corio__ctx_make. */
} corio__ctx;

/* Save the running context into *from and resume *to.
 *
 * Saves the callee-saved registers of the psABI (x86-64: rbx, rbp,
 * r12-r15, MXCSR control bits, x87 control word; AArch64: x19-x29, lr,
 * d8-d15, FPCR) on the current stack, stores the stack pointer in
 * from->sp, loads to->sp, restores the same set and returns into `to`.
 * Returns when some other context switches back to *from. The signal mask
 * is not touched (no syscall). from and to must differ; *to must have been
 * saved by a switch or built by corio__ctx_make and not resumed since. */
void corio__ctx_switch(corio__ctx *from, corio__ctx *to);

/* Build a context on the stack [stack_lo, stack_lo + size) whose first
 * resumption calls entry(arg) with the stack aligned as after a call
 * instruction (x86-64: rsp + 8 is a multiple of 16 at entry; AArch64: sp
 * a multiple of 16). The new context starts with the caller's current
 * MXCSR / x87 control word (FPCR), as a new thread inherits its creator's
 * floating-point environment. entry must never return: if it does the
 * process writes "corio: fiber entry function returned" to stderr and
 * aborts. The stack must stay mapped until the context is abandoned;
 * nothing is allocated. */
void corio__ctx_make(corio__ctx *ctx, void *stack_lo, size_t size,
                     void (*entry)(void *), void *arg);

/* Called by the arch trampoline if an entry function returns: writes a
 * message to stderr and aborts. Defined in arch/ctx_common.c. */
_Noreturn void corio__ctx_entry_returned(void);

/* corio__ctx_switch_inline(from, to): the same switch, same contract and
 * same frame, expanded in the caller. The two interoperate: a context
 * left by either can be resumed by either (and one built by
 * corio__ctx_make by both).
 *
 * x86-64: inline assembly that declares every register except rsp and
 * rbp clobbered, so the compiler saves only the values that are live
 * across the switch, where it likes, instead of the switch saving all
 * six callee-saved registers; no call, no return (the resume address is
 * a label in the caller, reached by an indirect jmp the branch target
 * buffer predicts per call site). rbp is saved in the frame explicitly
 * (it may be the frame pointer, which cannot be a clobber). The frame is
 * built 128 bytes below rsp: the caller may be a leaf keeping data in its
 * red zone. Frame, offset from ctx->sp (= rsp - 128 - 0x40):
 *     0x00 MXCSR, 0x04 x87 CW         both saved always; each of the
 *                                     target's loaded only when its control
 *                                     bits differ from ours (MXCSR's flags
 *                                     are status: x86_64_sysv.S says why)
 *     0x08-0x28 r12 r13 r14 r15 rbx   not written (clobbers), but loaded:
 *                                     the target may be a frame left by
 *                                     corio__ctx_switch or built by make
 *     0x30 rbp, 0x38 resume address   (label 1 below)
 * Elsewhere (AArch64, portable.c): a call to corio__ctx_switch. */
#if defined(__x86_64__) && !defined(CORIO_CTX_PORTABLE)
#if defined(__AVX512F__)
#define CORIO__CTX_CLOBBER_AVX512 , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", \
    "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", \
    "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define CORIO__CTX_CLOBBER_AVX512
#endif
/* The bytes the inline switch leaves between its frame and the caller's
 * stack pointer (the red zone): a frame it left at sp resumes its caller
 * with rsp = sp + CORIO__CTX_FRAME_SIZE + CORIO__CTX_INLINE_GAP, at the
 * resume address in the frame (the coroutine dump unwinds from there). */
#define CORIO__CTX_INLINE_GAP 128
static inline __attribute__((always_inline)) void
corio__ctx_switch_inline(corio__ctx *from, corio__ctx *to)
{
    __asm__ volatile(
        "leaq -128-0x40(%%rsp), %%rsp\n\t" /* skip the red zone, room for the frame */
        "stmxcsr 0x00(%%rsp)\n\t"          /* save MXCSR */
        "fnstcw 0x04(%%rsp)\n\t"           /* save the x87 control word */
        "movq %%rbp, 0x30(%%rsp)\n\t"      /* save rbp */
        "leaq 1f(%%rip), %%rax\n\t"
        "movq %%rax, 0x38(%%rsp)\n\t"      /* resume address: label 1 */
        "movq %%rsp, (%%rdi)\n\t"          /* from->sp = frame */
        "movq %%rsp, %%rax\n\t"            /* rax = our frame (FP words in force) */
        "movq (%%rsi), %%rsp\n\t"          /* switch stacks: rsp = to->sp */
        "movl 0x00(%%rsp), %%ecx\n\t"      /* the target's MXCSR */
        "xorl 0x00(%%rax), %%ecx\n\t"      /* ^ ours */
        "testl $0xffc0, %%ecx\n\t"         /* the same control bits (not flags)? */
        "je 2f\n\t"
        "ldmxcsr 0x00(%%rsp)\n\t"          /* no: load it */
        "2:\n\t"
        "movzwl 0x04(%%rsp), %%ecx\n\t"    /* the target's x87 control word */
        "cmpw 0x04(%%rax), %%cx\n\t"       /* the same as ours? */
        "je 3f\n\t"
        "fldcw 0x04(%%rsp)\n\t"            /* no: load it */
        "3:\n\t"
        "movq 0x08(%%rsp), %%r12\n\t"      /* r12 (entry, for a new context) */
        "movq 0x10(%%rsp), %%r13\n\t"      /* r13 (arg, for a new context) */
        "movq 0x18(%%rsp), %%r14\n\t"
        "movq 0x20(%%rsp), %%r15\n\t"
        "movq 0x28(%%rsp), %%rbx\n\t"
        "movq 0x30(%%rsp), %%rbp\n\t"
        "movq 0x38(%%rsp), %%rax\n\t"      /* where the target resumes */
        "leaq 0x40(%%rsp), %%rsp\n\t"      /* pop the frame */
        "jmp *%%rax\n\t"                   /* resume the target */
        "1:\n\t"                           /* resumed here, rsp = frame + 0x40 */
        "leaq 128(%%rsp), %%rsp\n\t"       /* back over the red zone */
        : "+D"(from), "+S"(to)
        :
        : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13",
          "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
          "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
          "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",
          "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7",
          "cc", "memory" CORIO__CTX_CLOBBER_AVX512);
}
#else
static inline void corio__ctx_switch_inline(corio__ctx *from, corio__ctx *to)
{
    corio__ctx_switch(from, to);
}
#endif

#endif /* __ASSEMBLER__ */
#endif /* CORIO_CTX_H */
