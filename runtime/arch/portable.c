/* corio — context switch on ucontext, for CPUs without an assembly file.
 *
 * Correct but slow: swapcontext saves and restores the signal mask with
 * a system call on every switch (~0.5 µs instead of ~5 ns), and saves
 * far more state than the ABI requires. meson.build uses this file only
 * when runtime/arch/ has nothing for host_machine.cpu_family(); porting
 * means writing <cpu>_<abi>.S after the x86-64 and AArch64 files.
 *
 * A context's sp points at a ucontext_t:
 *   - for a context built by corio__ctx_make, one placed at the top of
 *     its stack (below it, the entry record and then the usable stack);
 *   - for a context suspended in corio__ctx_switch, the local `self` in
 *     that call's frame, alive exactly as long as the context is
 *     suspended. */
#include "ctx.h"

#include <stdalign.h>
#include <stdint.h>
#include <ucontext.h>

/* What the first switch into a made context needs: the entry and its
 * argument, stored at the top of the new stack. */
struct start_rec {
    void (*entry)(void *); /* function to call */
    void *arg;             /* its argument */
};

/* makecontext passes int arguments only: a pointer travels as two
 * 32-bit halves. */
static void start(unsigned hi, unsigned lo)
{
    uintptr_t p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
    struct start_rec *r = (struct start_rec *)p;
    r->entry(r->arg);
    corio__ctx_entry_returned();
}

void corio__ctx_switch(corio__ctx *from, corio__ctx *to)
{
    ucontext_t self;
    from->sp = &self;
    swapcontext(&self, (ucontext_t *)to->sp);
}

void corio__ctx_make(corio__ctx *ctx, void *stack_lo, size_t size,
                     void (*entry)(void *), void *arg)
{
    /* Layout, from the top down: ucontext_t, start_rec, the stack. */
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)(alignof(max_align_t) - 1);
    uintptr_t ucp = (top - sizeof(ucontext_t)) & ~(uintptr_t)(alignof(max_align_t) - 1);
    uintptr_t recp = (ucp - sizeof(struct start_rec)) & ~(uintptr_t)15;
    ucontext_t *uc = (ucontext_t *)ucp;
    struct start_rec *rec = (struct start_rec *)recp;
    rec->entry = entry;
    rec->arg = arg;
    getcontext(uc);  /* current signal mask and FP control state */
    uc->uc_link = NULL;
    uc->uc_stack.ss_sp = stack_lo;
    uc->uc_stack.ss_size = recp - (uintptr_t)stack_lo;
    makecontext(uc, (void (*)(void))start, 2,
                (unsigned)((uint64_t)recp >> 32), (unsigned)(recp & 0xffffffffu));
    ctx->sp = uc;
}
