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
 * message to stderr and aborts. Defined in fiber.c. */
_Noreturn void corio__ctx_entry_returned(void);

#endif /* __ASSEMBLER__ */
#endif /* CORIO_CTX_H */
