/* corio — fibers: context switch plus sanitizer and valgrind bookkeeping.
 *
 * Without sanitizers corio__fiber_switch is inline in fiber.h: the inline
 * context switch plus one thread-local store (the overflow handler's
 * current fiber). With ASan and TSan it is defined here and brackets the
 * switch with the annotations those tools need to follow a change of
 * stacks:
 *
 *   ASan  __sanitizer_start_switch_fiber(&from->fake, to's stack bounds)
 *         immediately before, __sanitizer_finish_switch_fiber(fake, ...)
 *         first thing after resuming (also at a fiber's very start), which
 *         reports the bounds of the stack we came from: that is how a
 *         thread fiber learns its own bounds. A NULL fake-stack slot on
 *         the final switch out of a fiber frees its fake stack.
 *   TSan  __tsan_switch_to_fiber(to) immediately before the switch; one
 *         TSan fiber per fiber, created at init, destroyed at fini.
 *
 * Valgrind is told about stacks where they are mapped (stack.c). */
#include "fiber.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(CORIO__ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(CORIO__TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* The assembly addresses corio__ctx.sp at CORIO__CTX_SP_OFFSET and a
 * fiber's ctx is its first member (a fiber pointer is a ctx pointer). */
_Static_assert(offsetof(corio__ctx, sp) == CORIO__CTX_SP_OFFSET,
               "corio__ctx.sp offset used by the assembly");
_Static_assert(sizeof(corio__ctx) == sizeof(void *),
               "corio__ctx is one saved stack pointer");
_Static_assert(offsetof(corio__fiber, ctx) == 0,
               "corio__fiber.ctx is the first member");
#if defined(CORIO__CTX_FRAME_SIZE)
_Static_assert(CORIO__CTX_FRAME_SIZE % 16 == 0,
               "saved frames keep the stack 16-byte aligned");
#endif

/* corio__ctx_entry_returned lives in arch/ctx_common.c (the arch layer
 * must not call up into this file). */

#if defined(CORIO__ASAN)
/* The fiber we are switching away from, so the fiber we land in can
 * store the bounds ASan reports for it; NULL after an exit (the fiber is
 * gone). Only touched between start_ and finish_switch_fiber. */
static _Thread_local corio__fiber *asan_prev;

static void asan_arrived(void *fake_stack)
{
    const void *bottom = NULL;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    corio__fiber *prev = asan_prev;
    if (prev != NULL && prev->stack == NULL) {
        prev->asan_bottom = bottom;
        prev->asan_size = size;
    }
}
#endif

/* First code run on a new fiber (through the arch trampoline). */
static void fiber_start(void *p)
{
    corio__fiber *f = p;
#if defined(CORIO__ASAN)
    asan_arrived(NULL);
#endif
    f->entry(f->arg);
    /* Returning here reaches corio__ctx_entry_returned, which aborts. */
}

void corio__fiber_init_thread(corio__fiber *f)
{
    f->ctx.sp = NULL;
    f->stack = NULL;
    f->id = 0;
    f->entry = NULL;
    f->arg = NULL;
    f->asan_fake_stack = NULL;
    f->asan_bottom = NULL;
    f->asan_size = 0;
    f->tsan_fiber = NULL;
    f->tsan_owned = 0;
    f->exited = 0;
#if defined(CORIO__TSAN)
    f->tsan_fiber = __tsan_get_current_fiber();
#endif
}

int corio__fiber_init(corio__fiber *f, corio__stack *st, uint64_t id,
                      void (*entry)(void *), void *arg)
{
    if (st == NULL || entry == NULL || st->size < 4096)
        return -EINVAL;
    f->stack = st;
    f->id = id;
    f->entry = entry;
    f->arg = arg;
    f->asan_fake_stack = NULL;
    f->asan_bottom = st->lo;
    f->asan_size = st->size;
    f->tsan_fiber = NULL;
    f->tsan_owned = 0;
    f->exited = 0;
#if defined(CORIO__TSAN)
    f->tsan_fiber = __tsan_create_fiber(0);
    f->tsan_owned = 1;
#endif
    corio__ctx_make(&f->ctx, st->lo, st->size, fiber_start, f);
    return 0;
}

#if defined(CORIO__ASAN) || defined(CORIO__TSAN)
void corio__fiber_switch(corio__fiber *from, corio__fiber *to)
{
#if defined(CORIO__ASAN)
    asan_prev = from;
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->asan_bottom,
                                   to->asan_size);
#endif
#if defined(CORIO__TSAN)
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    corio__overflow_current = to->stack != NULL ? to : NULL;
    corio__ctx_switch_inline(&from->ctx, &to->ctx);
    /* Back on `from`: whoever switched here already set the current
     * fiber to us. */
#if defined(CORIO__ASAN)
    asan_arrived(from->asan_fake_stack);
#endif
}
#endif /* sanitizers; else inline in fiber.h */

_Noreturn void corio__fiber_exit(corio__fiber *from, corio__fiber *to)
{
    from->exited = 1;
#if defined(CORIO__ASAN)
    /* The frames above us never return: clear their redzones now, so the
     * next fiber on this (pooled) stack starts with clean shadow. Cost:
     * proportional to the depth used, not the stack size. */
    __asan_handle_no_return();
    asan_prev = NULL;
    __sanitizer_start_switch_fiber(NULL, to->asan_bottom, to->asan_size);
#endif
#if defined(CORIO__TSAN)
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    corio__overflow_current = to->stack != NULL ? to : NULL;
    corio__ctx_switch(&from->ctx, &to->ctx);
    /* Nothing switches back to a finished fiber. */
    corio__ctx_entry_returned();
}

void corio__fiber_fini(corio__fiber *f)
{
#if defined(CORIO__ASAN)
    /* Abandoned while suspended: its live frames' redzones are still in
     * the shadow of a stack that may be reused. Clear [sp, top). */
    if (f->stack != NULL && !f->exited && f->ctx.sp != NULL) {
        char *top = (char *)f->stack->lo + f->stack->size;
        char *sp = f->ctx.sp;
        __asan_unpoison_memory_region(sp, (size_t)(top - sp));
    }
#endif
#if defined(CORIO__TSAN)
    if (f->tsan_owned)
        __tsan_destroy_fiber(f->tsan_fiber);
#endif
    f->tsan_fiber = NULL;
    f->tsan_owned = 0;
    f->stack = NULL;
}
