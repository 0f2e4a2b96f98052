/* The entry-alignment probe shared by tests/arch/test_ctx.c and
 * tests/test_fiber.c: t_align_entry, used as a context's entry function,
 * records the stack pointer at its first instruction in t_entry_sp, then
 * jumps to t_align_body(arg), which the including test defines.
 * T_ENTRY_SP_OK(sp) says whether that value obeys the ABI, and
 * T_ENTRY_SP_RULE says the rule in words. Include it once per program. */
#ifndef CORIO_T_ALIGN_ENTRY_H
#define CORIO_T_ALIGN_ENTRY_H

#include <stdint.h>

/* Written by the assembly below: global, so it keeps its name. The
 * stub is a global (hidden) symbol because C refers to it as one: a GOT
 * reference to a local label becomes one to its section, and the linker
 * drops the offset (at -O0 with PIE the entry pointer pointed at the
 * start of .text). The assembly restores the section it found
 * (.pushsection/.popsection): at -O0 GCC emits top-level asm in source
 * order between its own data and assumes the section is unchanged after
 * it. */
extern uintptr_t t_entry_sp;
uintptr_t t_entry_sp;
void t_align_entry(void *arg);
void t_align_body(void *arg);

#if defined(__x86_64__)
/* Record rsp at the entry's first instruction, then go on in C. The
 * psABI wants rsp + 8 16-aligned there (as right after a call). */
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".globl t_align_entry\n"
        ".hidden t_align_entry\n"
        ".type t_align_entry, @function\n"
        "t_align_entry:\n"
        "    movq %rsp, t_entry_sp(%rip)\n"
        "    jmp t_align_body\n"
        ".size t_align_entry, .-t_align_entry\n"
        ".popsection\n");
#define T_ENTRY_SP_OK(sp) ((((sp) + 8) & 15) == 0)
#define T_ENTRY_SP_RULE "rsp + 8 a multiple of 16"
#elif defined(__aarch64__)
/* AArch64: sp a multiple of 16 at all times. */
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".globl t_align_entry\n"
        ".hidden t_align_entry\n"
        ".type t_align_entry, %function\n"
        "t_align_entry:\n"
        "    mov x9, sp\n"
        "    adrp x10, t_entry_sp\n"
        "    str x9, [x10, #:lo12:t_entry_sp]\n"
        "    b t_align_body\n"
        ".size t_align_entry, .-t_align_entry\n"
        ".popsection\n");
#define T_ENTRY_SP_OK(sp) (((sp) & 15) == 0)
#define T_ENTRY_SP_RULE "sp a multiple of 16"
#endif

#endif /* CORIO_T_ALIGN_ENTRY_H */
