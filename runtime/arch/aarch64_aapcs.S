/* corio — context switch for AArch64, AAPCS64 (Linux, ELF).
 *
 * AAPCS64: https://github.com/ARM-software/abi-aa/blob/main/aapcs64/aapcs64.rst
 * (section 6.1.1 "General-purpose registers", 6.1.2 "SIMD and
 * floating-point registers"). Callee-saved: x19-x28, x29 (frame pointer),
 * sp, the low 64 bits of v8-v15 (d8-d15), and — as for x86's MXCSR — the
 * FPCR control bits (rounding mode, flush-to-zero, default NaN), which the
 * ABI treats as preserved across calls unless a function is documented to
 * change them. x30 (lr) holds our return address and is saved as the
 * resume point. x18 is the platform register on some OSes and is not
 * touched. FPSR (cumulative exception flags) is status, not control: not
 * saved, like MXCSR's flags on x86-64 (we do save MXCSR whole there since
 * one instruction does both).
 *
 * Frame left on a suspended stack; ctx->sp points at its lowest byte.
 *
 *     offset  size  contents
 *     0x00    16    d8,  d9
 *     0x10    16    d10, d11
 *     0x20    16    d12, d13
 *     0x30    16    d14, d15
 *     0x40    16    x19, x20
 *     0x50    16    x21, x22
 *     0x60    16    x23, x24
 *     0x70    16    x25, x26
 *     0x80    16    x27, x28
 *     0x90    16    x29 (fp), x30 (lr = resume address)
 *     0xa0    8     FPCR
 *     0xa8    8     padding (sp must stay 16-byte aligned)
 *     0xb0          = CORIO__CTX_FRAME_SIZE, the caller's frame above
 *
 * A context built by corio__ctx_make has the same frame with x19 = entry,
 * x20 = arg, x29 = 0, lr = trampoline; sp is 16-byte aligned when the
 * trampoline runs (AArch64 requires that at all times).
 *
 * AArch64 Linux has no red zone.
 */
#include "ctx.h"

#if !defined(__aarch64__) || !defined(__ELF__)
#error "aarch64_aapcs.S is for AArch64 ELF targets only"
#endif

#define F_D8 0x00
#define F_D10 0x10
#define F_D12 0x20
#define F_D14 0x30
#define F_X19 0x40
#define F_X21 0x50
#define F_X23 0x60
#define F_X25 0x70
#define F_X27 0x80
#define F_X29 0x90
#define F_FPCR 0xa0
#if F_FPCR + 16 != CORIO__CTX_FRAME_SIZE
#error "frame layout and CORIO__CTX_FRAME_SIZE disagree"
#endif

/* Branch Target Identification landing pad when the compiler defaults to
 * it (-mbranch-protection=bti|standard); otherwise nothing. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C hint #34
#else
#define BTI_C
#endif

    .text

/* void corio__ctx_switch(corio__ctx *from = x0, corio__ctx *to = x1) */
    .globl corio__ctx_switch
    .hidden corio__ctx_switch
    .type corio__ctx_switch, %function
    .p2align 4
corio__ctx_switch:
    .cfi_startproc
    BTI_C                                    /* BTI landing pad (calls through pointers) */
    sub sp, sp, #CORIO__CTX_FRAME_SIZE       /* room for the frame */
    .cfi_adjust_cfa_offset CORIO__CTX_FRAME_SIZE
    stp d8, d9, [sp, #F_D8]                  /* save callee-saved d8, d9 */
    stp d10, d11, [sp, #F_D10]               /* save d10, d11 */
    stp d12, d13, [sp, #F_D12]               /* save d12, d13 */
    stp d14, d15, [sp, #F_D14]               /* save d14, d15 */
    stp x19, x20, [sp, #F_X19]               /* save callee-saved x19, x20 */
    stp x21, x22, [sp, #F_X21]               /* save x21, x22 */
    stp x23, x24, [sp, #F_X23]               /* save x23, x24 */
    stp x25, x26, [sp, #F_X25]               /* save x25, x26 */
    stp x27, x28, [sp, #F_X27]               /* save x27, x28 */
    stp x29, x30, [sp, #F_X29]               /* save frame pointer and return address */
    mrs x9, fpcr                             /* x9 = FPCR (x9 is a scratch register) */
    str x9, [sp, #F_FPCR]                    /* save FPCR */

    mov x9, sp                               /* sp cannot be stored directly */
    str x9, [x0, #CORIO__CTX_SP_OFFSET]      /* from->sp = our frame */
    ldr x9, [x1, #CORIO__CTX_SP_OFFSET]      /* x9 = to->sp */
    mov sp, x9                               /* switch stacks */

    ldr x9, [sp, #F_FPCR]                    /* x9 = the target's FPCR */
    msr fpcr, x9                             /* restore it */
    ldp d8, d9, [sp, #F_D8]                  /* restore d8, d9 */
    ldp d10, d11, [sp, #F_D10]               /* restore d10, d11 */
    ldp d12, d13, [sp, #F_D12]               /* restore d12, d13 */
    ldp d14, d15, [sp, #F_D14]               /* restore d14, d15 */
    ldp x19, x20, [sp, #F_X19]               /* restore x19, x20 */
    ldp x21, x22, [sp, #F_X21]               /* restore x21, x22 */
    ldp x23, x24, [sp, #F_X23]               /* restore x23, x24 */
    ldp x25, x26, [sp, #F_X25]               /* restore x25, x26 */
    ldp x27, x28, [sp, #F_X27]               /* restore x27, x28 */
    ldp x29, x30, [sp, #F_X29]               /* restore fp and the resume address */
    add sp, sp, #CORIO__CTX_FRAME_SIZE       /* pop the frame */
    .cfi_adjust_cfa_offset -CORIO__CTX_FRAME_SIZE
    ret                                      /* resume the target (branch to x30) */
    .cfi_endproc
    .size corio__ctx_switch, .-corio__ctx_switch

/* void corio__ctx_make(corio__ctx *ctx = x0, void *lo = x1, size_t size = x2,
 *                      void (*entry)(void *) = x3, void *arg = x4) */
    .globl corio__ctx_make
    .hidden corio__ctx_make
    .type corio__ctx_make, %function
    .p2align 4
corio__ctx_make:
    .cfi_startproc
    BTI_C                                    /* BTI landing pad */
    add x9, x1, x2                           /* x9 = top of the stack */
    and x9, x9, #0xfffffffffffffff0          /* align down to 16 */
    sub x9, x9, #CORIO__CTX_FRAME_SIZE       /* x9 = the new context's frame */
    stp x3, x4, [x9, #F_X19]                 /* x19 = entry, x20 = arg, for the trampoline */
    adr x10, corio__ctx_trampoline           /* x10 = address of the trampoline */
    stp xzr, x10, [x9, #F_X29]               /* fp = 0 (ends backtraces), lr = trampoline */
    mrs x10, fpcr                            /* x10 = the creator's FPCR */
    str x10, [x9, #F_FPCR]                   /* the new context inherits it */
    str x9, [x0, #CORIO__CTX_SP_OFFSET]      /* ctx->sp = frame */
    ret                                      /* back to the C caller */
    .cfi_endproc
    .size corio__ctx_make, .-corio__ctx_make

/* First code of every new context, entered by corio__ctx_switch's `ret`
 * with sp 16-byte aligned, x19 = entry, x20 = arg. Not callable. */
    .type corio__ctx_trampoline, %function
    .p2align 4
corio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30                       /* outermost frame: unwinders stop here */
    BTI_C                                    /* harmless; reached by ret */
    mov x0, x20                              /* first argument = arg */
    blr x19                                  /* entry(arg) */
    bl corio__ctx_entry_returned             /* entry must not return: report and abort */
    brk #0                                   /* not reached */
    .cfi_endproc
    .size corio__ctx_trampoline, .-corio__ctx_trampoline

/* GNU property note advertising BTI / PAC compatibility when the compiler
 * builds everything else that way, so this object does not switch the
 * protections off for the whole binary. We never sign lr ourselves; a
 * saved lr is restored bit-for-bit, which is PAC-compatible. */
#if (defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT) || \
    (defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT)
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define PROP_BTI 1
#else
#define PROP_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define PROP_PAC 2
#else
#define PROP_PAC 0
#endif
    .section .note.gnu.property, "a"
    .p2align 3
    .long 4                                  /* n_namesz: "GNU\0" */
    .long 16                                 /* n_descsz */
    .long 5                                  /* n_type: NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"                             /* n_name */
    .long 0xc0000000                         /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long 4                                  /* pr_datasz */
    .long PROP_BTI | PROP_PAC                /* BTI = bit 0, PAC = bit 1 */
    .long 0                                  /* padding to 8 bytes */
#endif

/* The stack of this object need not be executable. */
    .section .note.GNU-stack, "", %progbits
