/* Tests for the fiber layer's context switch: callee-saved registers and
 * floating-point control state across switches, stack alignment at entry,
 * where corio__ctx_make puts its frame, ping-pong and fiber-to-fiber
 * switches. Stacks, guards and the stack-overflow handler are in
 * test_fiber_stack.c; the helpers both use in t_fiber.h. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "fiber.h"
#include "stack.h"

#include "t_fiber.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

/* Make fiber f on a fresh pool stack. */
static void t_fiber(corio__fiber *f, uint64_t id, void (*entry)(void *), void *arg)
{
    corio__stack *st;
    ck_assert_int_eq(corio__stack_alloc(&t_pool, 0, &st), 0);
    ck_assert_int_eq(corio__fiber_init(f, st, id, entry, arg), 0);
}

static void t_fiber_release(corio__fiber *f)
{
    corio__stack *st = f->stack;
    corio__fiber_fini(f);
    corio__stack_free(&t_pool, st);
}

/* ------------------------------------------------------------------------ */
/* Callee-saved registers                                                     */

#if defined(__x86_64__)
/* t_switch_regs(from, to, in[6], out[6], sw): load rbx, rbp, r12-r15 from
 * in[], call sw(from, to) (a switch function), store the six registers in
 * out[] when we are resumed, and restore the caller's registers. Written
 * in assembly because C cannot pin values in callee-saved registers
 * across a call. */
__asm__(
    ".pushsection .text\n"
    ".p2align 4\n"
    ".globl t_switch_regs\n"
    ".hidden t_switch_regs\n"
    ".type t_switch_regs, @function\n"
    "t_switch_regs:\n"
    "    pushq %rbx\n"
    "    pushq %rbp\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    pushq %rcx\n"             /* out; also makes rsp 16-aligned */
    "    movq 0(%rdx), %rbx\n"
    "    movq 8(%rdx), %rbp\n"
    "    movq 16(%rdx), %r12\n"
    "    movq 24(%rdx), %r13\n"
    "    movq 32(%rdx), %r14\n"
    "    movq 40(%rdx), %r15\n"
    "    callq *%r8\n"
    "    popq %rcx\n"
    "    movq %rbx, 0(%rcx)\n"
    "    movq %rbp, 8(%rcx)\n"
    "    movq %r12, 16(%rcx)\n"
    "    movq %r13, 24(%rcx)\n"
    "    movq %r14, 32(%rcx)\n"
    "    movq %r15, 40(%rcx)\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbp\n"
    "    popq %rbx\n"
    "    ret\n"
    ".size t_switch_regs, .-t_switch_regs\n"
    ".popsection\n");
#define T_NREGS 6
#define T_HAVE_REGS 1
#elif defined(__aarch64__)
/* Same for x19-x28 and d8-d15 (the low 64 bits of v8-v15). */
__asm__(
    ".pushsection .text\n"
    ".p2align 4\n"
    ".globl t_switch_regs\n"
    ".hidden t_switch_regs\n"
    ".type t_switch_regs, %function\n"
    "t_switch_regs:\n"
    "    sub sp, sp, #192\n"
    "    stp x19, x20, [sp, #0]\n"
    "    stp x21, x22, [sp, #16]\n"
    "    stp x23, x24, [sp, #32]\n"
    "    stp x25, x26, [sp, #48]\n"
    "    stp x27, x28, [sp, #64]\n"
    "    stp d8, d9, [sp, #80]\n"
    "    stp d10, d11, [sp, #96]\n"
    "    stp d12, d13, [sp, #112]\n"
    "    stp d14, d15, [sp, #128]\n"
    "    stp x29, x30, [sp, #144]\n"
    "    str x3, [sp, #160]\n"
    "    ldp x19, x20, [x2, #0]\n"
    "    ldp x21, x22, [x2, #16]\n"
    "    ldp x23, x24, [x2, #32]\n"
    "    ldp x25, x26, [x2, #48]\n"
    "    ldp x27, x28, [x2, #64]\n"
    "    ldp d8, d9, [x2, #80]\n"
    "    ldp d10, d11, [x2, #96]\n"
    "    ldp d12, d13, [x2, #112]\n"
    "    ldp d14, d15, [x2, #128]\n"
    "    blr x4\n"
    "    ldr x3, [sp, #160]\n"
    "    stp x19, x20, [x3, #0]\n"
    "    stp x21, x22, [x3, #16]\n"
    "    stp x23, x24, [x3, #32]\n"
    "    stp x25, x26, [x3, #48]\n"
    "    stp x27, x28, [x3, #64]\n"
    "    stp d8, d9, [x3, #80]\n"
    "    stp d10, d11, [x3, #96]\n"
    "    stp d12, d13, [x3, #112]\n"
    "    stp d14, d15, [x3, #128]\n"
    "    ldp x19, x20, [sp, #0]\n"
    "    ldp x21, x22, [sp, #16]\n"
    "    ldp x23, x24, [sp, #32]\n"
    "    ldp x25, x26, [sp, #48]\n"
    "    ldp x27, x28, [sp, #64]\n"
    "    ldp d8, d9, [sp, #80]\n"
    "    ldp d10, d11, [sp, #96]\n"
    "    ldp d12, d13, [sp, #112]\n"
    "    ldp d14, d15, [sp, #128]\n"
    "    ldp x29, x30, [sp, #144]\n"
    "    add sp, sp, #192\n"
    "    ret\n"
    ".size t_switch_regs, .-t_switch_regs\n"
    ".popsection\n");
#define T_NREGS 18
#define T_HAVE_REGS 1
#endif

#if defined(T_HAVE_REGS)
typedef void (*t_switch_fn)(void *from, void *to);
void t_switch_regs(void *from, void *to, const uint64_t *in, uint64_t *out,
                   t_switch_fn sw);

/* The fiber side: with its own register values, switch back and forth. */
struct t_regs_arg {
    t_switch_fn sw;              /* switch function under test */
    corio__fiber *self, *main;   /* the two contexts */
    uint64_t out[T_NREGS];       /* fiber registers after being resumed */
    int rounds;                  /* switches each way */
};

static void t_regs_fiber(void *p)
{
    struct t_regs_arg *a = p;
    uint64_t in[T_NREGS];
    for (int i = 0; i < T_NREGS; i++)
        in[i] = 0xf1be000000000000ULL + (uint64_t)i * 0x0101;
    for (int r = 0; r < a->rounds; r++) {
        t_switch_regs(a->self, a->main, in, a->out, a->sw);
        for (int i = 0; i < T_NREGS; i++)
            ck_assert_uint_eq(a->out[i], in[i]);
    }
    corio__fiber_exit(a->self, a->main);
}

static void t_check_regs(t_switch_fn sw)
{
    corio__fiber f;
    struct t_regs_arg a = { .sw = sw, .self = &f, .main = &t_main, .rounds = 3 };
    t_fiber(&f, 1, t_regs_fiber, &a);
    uint64_t in[T_NREGS], out[T_NREGS];
    for (int i = 0; i < T_NREGS; i++)
        in[i] = 0x3a1700000000000ULL + (uint64_t)i * 0x1010;
    for (int r = 0; r <= a.rounds; r++) {
        memset(out, 0, sizeof out);
        t_switch_regs(&t_main, &f, in, out, sw);
        for (int i = 0; i < T_NREGS; i++)
            ck_assert_uint_eq(out[i], in[i]);
    }
    t_fiber_release(&f);
}

static void t_raw_switch(void *from, void *to)
{
    corio__ctx_switch(&((corio__fiber *)from)->ctx, &((corio__fiber *)to)->ctx);
}

static void t_fiber_switch(void *from, void *to)
{
    corio__fiber_switch(from, to);
}
#endif

START_TEST(test_callee_saved_preserved)
{
#if defined(T_HAVE_REGS)
    t_setup();
    /* The raw switch: the assembly must save and restore the set. (The
     * sanitizer builds may not use it unwrapped; the wrapped one below
     * is the one they check.) */
#if !defined(CORIO__ASAN) && !defined(CORIO__TSAN)
    t_check_regs(t_raw_switch);
#else
    (void)t_raw_switch;
#endif
    t_check_regs(t_fiber_switch);
    t_teardown();
#endif
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Floating-point control state                                               */

#if defined(__x86_64__)
/* Rounding control: MXCSR bits 13-14, x87 CW bits 10-11 (same encoding:
 * 0 nearest, 1 down, 2 up, 3 toward zero). */
typedef struct { uint32_t mxcsr; uint16_t cw; } t_fpctl;
static t_fpctl t_fp_get(void)
{
    t_fpctl c;
    __asm__ volatile("stmxcsr %0" : "=m"(c.mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(c.cw));
    return c;
}
static void t_fp_set_round(unsigned mode)
{
    t_fpctl c = t_fp_get();
    c.mxcsr = (c.mxcsr & ~0x6000u) | (mode << 13);
    c.cw = (uint16_t)((c.cw & ~0x0c00u) | (mode << 10));
    __asm__ volatile("ldmxcsr %0" : : "m"(c.mxcsr));
    __asm__ volatile("fldcw %0" : : "m"(c.cw));
}
static unsigned t_fp_round(void)
{
    t_fpctl c = t_fp_get();
    unsigned sse = (c.mxcsr >> 13) & 3, x87 = (c.cw >> 10) & 3;
    ck_assert_uint_eq(sse, x87); /* both units always set together here */
    return sse;
}
#define T_HAVE_FP 1
#elif defined(__aarch64__)
/* FPCR.RMode, bits 22-23 (0 nearest, 1 up, 2 down, 3 zero). */
static void t_fp_set_round(unsigned mode)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    v = (v & ~(3ull << 22)) | ((uint64_t)mode << 22);
    __asm__ volatile("msr fpcr, %0" : : "r"(v));
}
static unsigned t_fp_round(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return (unsigned)(v >> 22) & 3;
}
#define T_HAVE_FP 1
#endif

#if defined(T_HAVE_FP)
struct t_fp_arg {
    corio__fiber *self, *main;
    unsigned seen_at_start;  /* rounding mode the fiber started with */
    unsigned seen_later;     /* its own mode after the main changed its */
};

static void t_fp_fiber(void *p)
{
    struct t_fp_arg *a = p;
    a->seen_at_start = t_fp_round();
    t_fp_set_round(3);
    corio__fiber_switch(a->self, a->main);
    a->seen_later = t_fp_round();
    t_fp_set_round(0);
    corio__fiber_exit(a->self, a->main);
}
#endif

/* A new fiber starts with the control state its creator had when it
 * made the fiber (corio__ctx_make), like a new thread. */
START_TEST(test_fp_control_inherited_at_make)
{
#if defined(T_HAVE_FP)
    t_setup();
    corio__fiber f;
    struct t_fp_arg a = { .self = &f, .main = &t_main, .seen_at_start = 99, .seen_later = 99 };
    t_fp_set_round(1);
    t_fiber(&f, 2, t_fp_fiber, &a);
    t_fp_set_round(0);
    corio__fiber_switch(&t_main, &f);
    ck_assert_uint_eq(a.seen_at_start, 1);
    ck_assert_uint_eq(t_fp_round(), 0);
    corio__fiber_switch(&t_main, &f);  /* let it finish */
    t_fiber_release(&f);
    t_teardown();
#endif
}
END_TEST

START_TEST(test_fp_control_isolated)
{
#if defined(T_HAVE_FP)
    t_setup();
    corio__fiber f;
    struct t_fp_arg a = { .self = &f, .main = &t_main, .seen_at_start = 99, .seen_later = 99 };
    t_fp_set_round(0);
    t_fiber(&f, 3, t_fp_fiber, &a);
    corio__fiber_switch(&t_main, &f);
    ck_assert_uint_eq(a.seen_at_start, 0); /* inherited from its creator */
    ck_assert_uint_eq(t_fp_round(), 0);    /* fiber's mode 3 did not leak */
    t_fp_set_round(2);
    corio__fiber_switch(&t_main, &f);
    ck_assert_uint_eq(a.seen_later, 3);    /* main's mode 2 did not leak */
    ck_assert_uint_eq(t_fp_round(), 2);    /* fiber's mode 0 did not leak */
    t_fp_set_round(0);
    t_fiber_release(&f);
    t_teardown();
#endif
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Stack alignment at entry                                                   */

#include "arch/t_align_entry.h"

struct t_align_arg {
    corio__fiber *self, *main;
    int raw;                /* switch back with corio__ctx_switch */
    uintptr_t local_addr;   /* address of an _Alignas(32) local */
    char text[64];          /* snprintf of doubles (SSE-heavy in libc) */
};

#if defined(T_ENTRY_SP_OK)
void t_align_body(void *p)
{
    struct t_align_arg *a = p;
    _Alignas(32) volatile char local[32];
    local[0] = 1;
    a->local_addr = (uintptr_t)&local[0];
    snprintf(a->text, sizeof a->text, "%.3f %.1e", 3.14159, 2.5e10);
    if (a->raw)
        corio__ctx_switch(&a->self->ctx, &a->main->ctx);
    corio__fiber_exit(a->self, a->main);
}
#endif

START_TEST(test_stack_aligned_at_entry)
{
#if defined(T_ENTRY_SP_OK)
    t_setup();
    corio__stack *st;
    ck_assert_int_eq(corio__stack_alloc(&t_pool, 0, &st), 0);
    /* Stack tops that are not 16-aligned: make must align them itself. */
    for (size_t trim = 0; trim < 16; trim += 4) {
        corio__stack odd = *st;
        odd.size -= trim;
        /* Through the fiber layer (fiber_start calls the entry). */
        corio__fiber f;
        struct t_align_arg a = { .self = &f, .main = &t_main };
        ck_assert_int_eq(corio__fiber_init(&f, &odd, 4, t_align_entry, &a), 0);
        t_entry_sp = 0;
        corio__fiber_switch(&t_main, &f);
        ck_assert_msg(T_ENTRY_SP_OK(t_entry_sp), "sp at entry %#lx", (unsigned long)t_entry_sp);
        ck_assert_uint_eq(a.local_addr % 32, 0);
        ck_assert_str_eq(a.text, "3.142 2.5e+10");
        corio__fiber_fini(&f);
#if !defined(CORIO__ASAN) && !defined(CORIO__TSAN)
        /* Raw: the trampoline calls the entry directly, so this checks
         * corio__ctx_make's own alignment. (Sanitizers need the fiber
         * annotations, hence not under them.) */
        struct t_align_arg r = { .self = &f, .main = &t_main, .raw = 1 };
        corio__ctx_make(&f.ctx, odd.lo, odd.size, t_align_entry, &r);
        t_entry_sp = 0;
        corio__ctx_switch(&t_main.ctx, &f.ctx);
        ck_assert_msg(T_ENTRY_SP_OK(t_entry_sp), "raw sp at entry %#lx", (unsigned long)t_entry_sp);
        ck_assert_uint_eq(r.local_addr % 32, 0);
        ck_assert_str_eq(r.text, "3.142 2.5e+10");
#endif
    }
    corio__stack_free(&t_pool, st);
    t_teardown();
#endif
}
END_TEST

/* The frame corio__ctx_make builds is where the header says. */
START_TEST(test_make_frame_position)
{
#if defined(CORIO__CTX_FRAME_SIZE)
    t_setup();
    corio__stack *st;
    ck_assert_int_eq(corio__stack_alloc(&t_pool, 0, &st), 0);
    corio__ctx c;
    corio__ctx_make(&c, st->lo, st->size, NULL, NULL);
    ck_assert_ptr_eq(c.sp, (char *)st->lo + st->size - CORIO__CTX_FRAME_SIZE);
    corio__ctx_make(&c, st->lo, st->size - 8, NULL, NULL);
    ck_assert_ptr_eq(c.sp, (char *)st->lo + st->size - 16 - CORIO__CTX_FRAME_SIZE);
    corio__stack_free(&t_pool, st);
    t_teardown();
#endif
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Ping-pong                                                                  */

struct t_pp_arg {
    corio__fiber *self, *main;
    long counter;   /* incremented by the fiber each round */
    long rounds;
};

static void t_pp_fiber(void *p)
{
    struct t_pp_arg *a = p;
    for (long i = 0; i < a->rounds; i++) {
        a->counter++;
        corio__fiber_switch(a->self, a->main);
    }
    corio__fiber_exit(a->self, a->main);
}

START_TEST(test_ping_pong)
{
    t_setup();
    long rounds = T_SLOW ? 20000 : 200000;
    corio__fiber f1, f2;
    struct t_pp_arg a1 = { .self = &f1, .main = &t_main, .rounds = rounds };
    struct t_pp_arg a2 = { .self = &f2, .main = &t_main, .rounds = rounds };
    t_fiber(&f1, 10, t_pp_fiber, &a1);
    t_fiber(&f2, 11, t_pp_fiber, &a2);
    /* Check's assertions write to a pipe each time: count mismatches in
     * the loop, assert once. */
    long bad = 0;
    for (long i = 0; i < rounds; i++) {
        corio__fiber_switch(&t_main, &f1);
        corio__fiber_switch(&t_main, &f2);
        bad += a1.counter != i + 1 || a2.counter != i + 1;
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(a1.counter, rounds);
    corio__fiber_switch(&t_main, &f1);  /* let both finish */
    corio__fiber_switch(&t_main, &f2);
    t_fiber_release(&f1);
    t_fiber_release(&f2);
    t_teardown();
}
END_TEST

/* Fiber to fiber, without going through the main context. */
struct t_ring_arg {
    corio__fiber *self, *next, *main;
    int *trace, *pos;  /* shared trace of who ran */
    int me;
};

static void t_ring_fiber(void *p)
{
    struct t_ring_arg *a = p;
    for (int i = 0; i < 3; i++) {
        a->trace[(*a->pos)++] = a->me;
        corio__fiber_switch(a->self, a->next);
    }
    corio__fiber_exit(a->self, a->main);
}

START_TEST(test_fiber_to_fiber)
{
    t_setup();
    corio__fiber f[3];
    struct t_ring_arg a[3];
    int trace[16], pos = 0;
    for (int i = 0; i < 3; i++) {
        a[i] = (struct t_ring_arg){ .self = &f[i], .next = &f[(i + 1) % 3], .main = &t_main,
                                    .trace = trace, .pos = &pos, .me = i };
        t_fiber(&f[i], (uint64_t)i, t_ring_fiber, &a[i]);
    }
    corio__fiber_switch(&t_main, &f[0]);  /* 0 1 2 0 1 2 0 1 2, then 0 exits */
    ck_assert_int_eq(pos, 9);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(trace[i], i % 3);
    corio__fiber_switch(&t_main, &f[1]);  /* 1 and 2 exit in turn */
    corio__fiber_switch(&t_main, &f[2]);
    for (int i = 0; i < 3; i++)
        t_fiber_release(&f[i]);
    t_teardown();
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *fiber_suite(void)
{
    Suite *s = suite_create("fiber");
    TCase *tc = tcase_create("ctx");
    tcase_add_test(tc, test_callee_saved_preserved);
    tcase_add_test(tc, test_fp_control_inherited_at_make);
    tcase_add_test(tc, test_fp_control_isolated);
    tcase_add_test(tc, test_stack_aligned_at_entry);
    tcase_add_test(tc, test_make_frame_position);
    tcase_add_test(tc, test_ping_pong);
    tcase_add_test(tc, test_fiber_to_fiber);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fiber_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
