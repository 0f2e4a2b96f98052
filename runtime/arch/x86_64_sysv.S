/* corio — context switch for x86-64, System V psABI (Linux, ELF).
 *
 * psABI: https://gitlab.com/x86-psABIs/x86-64-ABI (section 3.2.1, "Registers
 * and the Stack Frame", table 3.4). Callee-saved ("preserved across function
 * calls"): rbx, rbp, rsp, r12, r13, r14, r15, the control bits of MXCSR and
 * the x87 control word. Everything else (rax, rcx, rdx, rsi, rdi, r8-r11,
 * xmm0-15, the MXCSR status flags, the x87 status word) is caller-saved, so
 * the C caller of corio__ctx_switch has already given it up: we do not save
 * it. The direction flag is clear at every call by the ABI.
 *
 * Frame left on a suspended stack; ctx->sp points at its lowest byte.
 *
 *     offset  size  contents
 *     0x00    4     MXCSR              (stmxcsr / ldmxcsr)
 *     0x04    2     x87 control word   (fnstcw / fldcw)
 *     0x06    2     padding
 *     0x08    8     r12
 *     0x10    8     r13
 *     0x18    8     r14
 *     0x20    8     r15
 *     0x28    8     rbx
 *     0x30    8     rbp
 *     0x38    8     return address     (pushed by the caller's `call`)
 *     0x40          = CORIO__CTX_FRAME_SIZE, the caller's frame above
 *
 * A context built by corio__ctx_make has the same frame, with r12 = entry,
 * r13 = arg, rbp = 0 and the return address = trampoline, placed so that
 * the trampoline runs with rsp a multiple of 16 and `call`s entry (which
 * therefore sees rsp + 8 aligned, as the ABI requires).
 *
 * Why jmp and not ret: the return stack buffer predicts a `ret` from the
 * matching `call`, but a switch returns to another context's call site,
 * so `ret` mispredicts on every switch (measured 14 ns against 5 ns per
 * switch on an AMD EPYC, bench_switch). An indirect `jmp` is predicted by
 * the branch target buffer, which learns ping-pong patterns. Boost.Context
 * does the same.
 *
 * FP control: both words are saved on every switch, and each is loaded
 * only when the target's control state differs from the one in force
 * (the same rounding, masks, FTZ/DAZ, precision): then the resumed
 * context sees its own control state, as the psABI requires. MXCSR's
 * exception flags (bits 0-5) are status, caller-saved like the x87
 * status word, so they are left as they are. Loading MXCSR whole on every
 * switch (Boost.Context's way, and this file's before) rewrites the flags
 * whenever the two contexts' differ, which any inexact operation (1.0/3,
 * a double printed) makes them do; on Intel Sapphire Rapids such an
 * ldmxcsr costs about 70 ns, a switch 76 ns instead of 4.5 (bench_switch,
 * "FP status flags differing"; docs/context-switch.md has the figures).
 *
 * The red zone (128 bytes below rsp that leaf functions may use without
 * moving rsp) needs no care: corio__ctx_switch is a called function, so the
 * caller's red zone holds nothing live across the call, and we only write
 * below our own return address after moving rsp.
 */
#include "ctx.h"

#if !defined(__x86_64__) || !defined(__ELF__)
#error "x86_64_sysv.S is for x86-64 System V ELF targets only"
#endif

/* MXCSR's control bits: DAZ (6), the exception masks (7-12), the rounding
 * mode (13-14), FTZ (15); bits 0-5 are the exception flags. */
#define MXCSR_CONTROL 0xffc0
#define F_MXCSR 0x00
#define F_X87CW 0x04
#define F_R12 0x08
#define F_R13 0x10
#define F_R14 0x18
#define F_R15 0x20
#define F_RBX 0x28
#define F_RBP 0x30
#define F_RET 0x38
#if F_RET + 8 != CORIO__CTX_FRAME_SIZE
#error "frame layout and CORIO__CTX_FRAME_SIZE disagree"
#endif

/* Indirect-branch tracking landing pad (CET IBT): a NOP on CPUs without
 * it. The object claims no CET feature (see the end of the file). */
#if defined(__CET__) && (__CET__ & 1)
#define ENDBR endbr64
#else
#define ENDBR
#endif

    .text

/* void corio__ctx_switch(corio__ctx *from = rdi, corio__ctx *to = rsi) */
    .globl corio__ctx_switch
    .hidden corio__ctx_switch
    .type corio__ctx_switch, @function
    .p2align 4
corio__ctx_switch:
    .cfi_startproc
    ENDBR                                    /* IBT landing pad (calls through pointers) */
    leaq -F_RET(%rsp), %rsp                  /* room for the frame below the return address */
    .cfi_adjust_cfa_offset F_RET
    stmxcsr F_MXCSR(%rsp)                    /* save MXCSR (rounding, FTZ/DAZ, masks) */
    fnstcw F_X87CW(%rsp)                     /* save x87 control word (precision, rounding) */
    movq %r12, F_R12(%rsp)                   /* save callee-saved r12 */
    movq %r13, F_R13(%rsp)                   /* save callee-saved r13 */
    movq %r14, F_R14(%rsp)                   /* save callee-saved r14 */
    movq %r15, F_R15(%rsp)                   /* save callee-saved r15 */
    movq %rbx, F_RBX(%rsp)                   /* save callee-saved rbx */
    movq %rbp, F_RBP(%rsp)                   /* save callee-saved rbp (frame pointer) */

    movq %rsp, CORIO__CTX_SP_OFFSET(%rdi)    /* from->sp = our frame */
    movq %rsp, %rax                          /* rax = our frame (the FP words now in force) */
    movq CORIO__CTX_SP_OFFSET(%rsi), %rsp    /* switch stacks: rsp = to->sp */
    movq F_RET(%rsp), %r8                    /* r8 = where the target resumes */

    movl F_MXCSR(%rsp), %ecx                 /* ecx = the target's MXCSR */
    xorl F_MXCSR(%rax), %ecx                 /* ^ ours (see "FP control") */
    testl $MXCSR_CONTROL, %ecx               /* the same control bits? */
    jne .Lload_mxcsr                         /* no: load it (rare, out of line) */
.Lmxcsr_ok:
    movzwl F_X87CW(%rsp), %ecx               /* ecx = the target's x87 control word */
    cmpw F_X87CW(%rax), %cx                  /* the same as ours? */
    jne .Lload_x87cw                         /* no: load it (rare, out of line) */
.Lx87cw_ok:
    movq F_R12(%rsp), %r12                   /* restore r12 */
    movq F_R13(%rsp), %r13                   /* restore r13 */
    movq F_R14(%rsp), %r14                   /* restore r14 */
    movq F_R15(%rsp), %r15                   /* restore r15 */
    movq F_RBX(%rsp), %rbx                   /* restore rbx */
    movq F_RBP(%rsp), %rbp                   /* restore rbp */
    .cfi_remember_state
    leaq CORIO__CTX_FRAME_SIZE(%rsp), %rsp   /* pop the frame and the return address */
    .cfi_adjust_cfa_offset -CORIO__CTX_FRAME_SIZE
    .cfi_register rip, r8
    jmp *%r8                                 /* resume the target (see "Why jmp" above) */
    .cfi_restore_state
.Lload_mxcsr:
    ldmxcsr F_MXCSR(%rsp)                    /* the target's MXCSR */
    jmp .Lmxcsr_ok
.Lload_x87cw:
    fldcw F_X87CW(%rsp)                      /* the target's x87 control word (slow) */
    jmp .Lx87cw_ok
    .cfi_endproc
    .size corio__ctx_switch, .-corio__ctx_switch

/* void corio__ctx_make(corio__ctx *ctx = rdi, void *lo = rsi, size_t size = rdx,
 *                      void (*entry)(void *) = rcx, void *arg = r8) */
    .globl corio__ctx_make
    .hidden corio__ctx_make
    .type corio__ctx_make, @function
    .p2align 4
corio__ctx_make:
    .cfi_startproc
    ENDBR                                    /* IBT landing pad */
    leaq (%rsi,%rdx), %rax                   /* rax = top of the stack (one past the last byte) */
    andq $-16, %rax                          /* align down: the trampoline runs with rsp = rax */
    leaq -CORIO__CTX_FRAME_SIZE(%rax), %rax  /* rax = the new context's frame */
    stmxcsr F_MXCSR(%rax)                    /* inherit the creator's MXCSR */
    fnstcw F_X87CW(%rax)                     /* inherit the creator's x87 control word */
    movq %rcx, F_R12(%rax)                   /* r12 = entry, for the trampoline */
    movq %r8, F_R13(%rax)                    /* r13 = arg, for the trampoline */
    movq $0, F_R14(%rax)                     /* r14 = 0 (deterministic start state) */
    movq $0, F_R15(%rax)                     /* r15 = 0 */
    movq $0, F_RBX(%rax)                     /* rbx = 0 */
    movq $0, F_RBP(%rax)                     /* rbp = 0: ends frame-pointer backtraces */
    leaq corio__ctx_trampoline(%rip), %rdx   /* rdx = address of the trampoline */
    movq %rdx, F_RET(%rax)                   /* the first switch "returns" into it */
    movq %rax, CORIO__CTX_SP_OFFSET(%rdi)    /* ctx->sp = frame */
    ret                                      /* back to the C caller */
    .cfi_endproc
    .size corio__ctx_make, .-corio__ctx_make

/* First code of every new context, entered by corio__ctx_switch's
 * `jmp *%r8` with rsp 16-byte aligned, r12 = entry, r13 = arg. Not
 * callable. */
    .type corio__ctx_trampoline, @function
    .p2align 4
corio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip                       /* outermost frame: unwinders stop here */
    ENDBR                                    /* the landing pad of that indirect jmp */
    movq %r13, %rdi                          /* first argument = arg */
    callq *%r12                              /* entry(arg); rsp+8 is 16-aligned inside */
    callq corio__ctx_entry_returned          /* entry must not return: report and abort */
    hlt                                      /* not reached (entry_returned is noreturn) */
    .cfi_endproc
    .size corio__ctx_trampoline, .-corio__ctx_trampoline

/* No CET property note, on purpose. Shadow stacks: switching stacks
 * without switching the shadow stack would fault. Indirect branch tracking:
 * a switch resumes a suspended context with an indirect `jmp` to the
 * return address of its call to corio__ctx_switch, which has no ENDBR, so
 * enforced IBT would fault there too. An object without the note makes
 * the linker clear both features for the whole binary, which is the
 * truth. (The ENDBRs above cost nothing and keep the calls through
 * pointers valid if this ever changes.) */

/* The stack of this object need not be executable. */
    .section .note.GNU-stack, "", %progbits
