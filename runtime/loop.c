/* corio — the event loop: one io_uring, one thread, many coroutines.
 *
 * One iteration: drain the inbox (messages from other threads), run every
 * coroutine that is ready, fire expired timers, then enter the kernel once
 * (io_uring_submit_and_wait_timeout) to submit every SQE the coroutines
 * prepared and — only when nothing is ready — to sleep until a completion,
 * the nearest timer or an eventfd write. Then reap all CQEs.
 *
 * Waking a sleeping loop: other threads push a message onto the inbox and,
 * if the loop is sleeping, write its eventfd (which a ring read is always
 * waiting on). The `sleeping` flag and the inbox form a Dekker pair: the
 * loop stores sleeping=1 then reads the inbox; a poster pushes then reads
 * sleeping — both seq_cst — so at least one side sees the other and no
 * wake-up is lost, while a busy loop costs posters no syscall.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loop.h"
#include "fault.h"

CORIO__TLS_HOT corio__loop *corio__tls_loop;

/* Per CPU, how many loops pinned to it are awake (corio__pinned_loop_awake_here).
 * Relaxed counters: a stale read only makes a worker poll or sleep once
 * more than it should. */
#define PIN_CPUS 1024
static _Atomic unsigned short pinned_awake[PIN_CPUS];

static void pinned_awake_add(corio__loop *l, int d) {
    if (l->pin_cpu >= 0)
        atomic_fetch_add_explicit(&pinned_awake[l->pin_cpu], (unsigned short)d,
                                  memory_order_relaxed);
}

/* The CPUs a pinned loop had before pinning itself, if this thread is one. */
static const cpu_set_t *unpinned_cpus(void) {
    corio__loop *l = corio__tls_loop;
    return l && l->pin_cpu >= 0 ? &l->free_cpus : NULL;
}

int corio__thread_create(pthread_t *t, void *(*fn)(void *), void *arg) {
    const cpu_set_t *cpus = unpinned_cpus();
    if (!cpus)
        return corio__pthread_create(t, NULL, fn, arg);
    pthread_attr_t a;
    int r = pthread_attr_init(&a);
    if (r != 0)
        return r;
    r = pthread_attr_setaffinity_np(&a, sizeof *cpus, cpus);
    if (r == 0)
        r = corio__pthread_create(t, &a, fn, arg);
    pthread_attr_destroy(&a);
    return r;
}

void corio__unpin_forked_child(void) {
    const cpu_set_t *cpus = unpinned_cpus();
    if (cpus)
        (void)sched_setaffinity(0, sizeof *cpus, cpus); /* best effort */
}

bool corio__pinned_loop_awake_here(void) {
    int cpu = sched_getcpu();
    return cpu >= 0 && cpu < PIN_CPUS &&
           atomic_load_explicit(&pinned_awake[cpu], memory_order_relaxed) != 0;
}

/* user_data tags: an op pointer (aligned, low bits 0), the op's linked
 * timeout (low bit 1), the eventfd read, and CQEs to ignore (0). */
#define UD_IGNORE 0u
#define UD_EVENTFD 2u
#define UD_TIMEOUT_BIT 1u

/* ---- timers: a binary min-heap of parked coroutines by deadline ---- */

static void heap_swap(corio__loop *l, size_t a, size_t b) {
    corio__coro *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(corio__loop *l, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->deadline <= l->heap[i]->deadline)
            break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(corio__loop *l, size_t i) {
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->heap_len && l->heap[a]->deadline < l->heap[m]->deadline)
            m = a;
        if (b < l->heap_len && l->heap[b]->deadline < l->heap[m]->deadline)
            m = b;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

/* O(log n). On allocation failure the timer is dropped and the coroutine
 * is woken at once as timed out, never left sleeping forever. */
void corio__timer_add(corio__loop *l, corio__coro *c) {
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? 2 * l->heap_cap : 64;
        corio__coro **h = corio__realloc(l->heap, cap * sizeof *h);
        if (!h) {
            c->deadline = 0;
            c->heap_idx = SIZE_MAX;
            return;
        }
        l->heap = h;
        l->heap_cap = cap;
    }
    c->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = c;
    heap_up(l, c->heap_idx);
}

void corio__timer_del(corio__loop *l, corio__coro *c) {
    size_t i = c->heap_idx;
    if (i == SIZE_MAX)
        return;
    c->heap_idx = SIZE_MAX;
    l->heap_len--;
    if (i == l->heap_len)
        return;
    l->heap[i] = l->heap[l->heap_len];
    l->heap[i]->heap_idx = i;
    heap_down(l, i);
    heap_up(l, i);
}

/* Wake the coroutines whose deadline passed. */
static void fire_timers(corio__loop *l, int64_t now) {
    while (l->heap_len && l->heap[0]->deadline <= now) {
        corio__coro *c = l->heap[0];
        corio__timer_del(l, c);
        corio__count(&l->m.timers_fired, 1);
        /* Withdraw the park unless an unpark got there first; that unpark
         * then owns the resumption. */
        uint32_t expect = CORIO__PARKED;
        if (c->parker && atomic_compare_exchange_strong(&c->parker->state, &expect, CORIO__IDLE)) {
            c->park_res = -ETIMEDOUT;
            corio__loop_make_ready(l, c);
        }
    }
}

/* ---- run queue and inbox ---- */

void corio__loop_make_ready(corio__loop *l, corio__coro *c) {
    c->next = NULL;
    if (l->rq_tail)
        l->rq_tail->next = c;
    else
        l->rq_head = c;
    l->rq_tail = c;
}

void corio__loop_post(corio__loop *l, corio__msg *m) {
    corio__msg *head = atomic_load_explicit(&l->inbox, memory_order_relaxed);
    do {
        m->next = head;
        /* release: the message's contents are visible to the loop's
         * acquiring exchange. seq_cst for the Dekker pair with sleeping. */
    } while (!atomic_compare_exchange_weak_explicit(&l->inbox, &head, m, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (corio__tls_loop != l && atomic_load_explicit(&l->sleeping, memory_order_seq_cst)) {
        uint64_t one = 1;
        ssize_t w = write(l->efd, &one, sizeof one);
        (void)w; /* EAGAIN means the counter is already non-zero: awake */
    }
}

static void handle_msg(corio__loop *l, corio__msg *m) {
    switch (m->kind) {
    case CORIO__MSG_START: {
        corio__coro *c = (corio__coro *)((char *)m - offsetof(corio__coro, wake_msg));
        l->ops->launch(c);
        break;
    }
    case CORIO__MSG_WAKE: {
        corio__coro *c = (corio__coro *)((char *)m - offsetof(corio__coro, wake_msg));
        corio__loop_make_ready(l, c);
        break;
    }
    case CORIO__MSG_CANCEL: {
        corio__coro *c = (corio__coro *)((char *)m - offsetof(corio__coro, cancel_msg));
        /* Cleared before the look at the flags: see
         * corio__coro_post_attention. */
        atomic_exchange_explicit(&c->msg_posted, 0, memory_order_acq_rel);
        if (c->finished)
            l->ops->free(c); /* its free waited for this message */
        else if (atomic_load_explicit(&c->cancel_req, memory_order_acquire))
            l->ops->cancel_now(c); /* the future was cancelled (no-op if seen) */
        else
            l->ops->interrupt(c); /* a scope was cancelled */
        break;
    }
    case CORIO__MSG_DRAIN:
        l->drain_phase = 1;
        corio__loop_drain_check(l);
        break;
    case CORIO__MSG_DRAIN_CANCEL: {
        l->drain_phase = 2;
        size_t n = 0;
        for (corio__coro *c = l->live; c; c = c->all_next)
            if (!c->finished) {
                n++;
                corio_future_cancel(c->future);
            }
        atomic_store_explicit(&l->drain_cancelled, n, memory_order_relaxed);
        corio__loop_drain_check(l);
        break;
    }
    case CORIO__MSG_CALL: {
        corio__call_msg *cm = (corio__call_msg *)m;
        cm->fn(l, cm);
        break;
    }
    case CORIO__MSG_STOP:
        l->stopping = 1;
        for (corio__coro *c = l->live; c; c = c->all_next)
            corio_future_cancel(c->future);
        break;
    }
}

void corio__loop_drain_check(corio__loop *l) {
    if (l->drain_reported || l->nlive != 0)
        return;
    l->drain_reported = 1;
    /* acq_rel: the drainer that sees the count reach 0 also sees this
     * loop's counters; the last loop wakes it. */
    corio_runtime *rt = l->rt;
    if (atomic_fetch_sub_explicit(&rt->drain_loops, 1, memory_order_acq_rel) == 1)
        corio__parker_unpark(&rt->drain_parker);
}

static int drain_inbox(corio__loop *l) {
    /* A plain load first: the inbox is empty on most iterations of a busy
     * loop, and the exchange is a locked instruction. */
    if (!atomic_load_explicit(&l->inbox, memory_order_relaxed))
        return 0;
    corio__msg *m = atomic_exchange_explicit(&l->inbox, NULL, memory_order_acquire);
    if (!m)
        return 0;
    /* The stack is LIFO; reverse it to handle messages in posting order. */
    corio__msg *rev = NULL;
    while (m) {
        corio__msg *n = m->next;
        m->next = rev;
        rev = m;
        m = n;
    }
    uint64_t k = 0;
    while (rev) {
        corio__msg *n = rev->next;
        handle_msg(l, rev);
        rev = n;
        k++;
    }
    corio__count(&l->m.inbox_msgs, k);
    return 1;
}

/* ---- ring ---- */

static int ring_setup(corio__loop *l) {
    /* Best flags first; each fallback drops what older kernels reject
     * (DEFER_TASKRUN 6.1, SINGLE_ISSUER 6.0, COOP_TASKRUN 5.19). */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = l->ring_entries * 4;
        r = io_uring_queue_init_params(l->ring_entries, &l->ring, &p);
        if (r == 0) {
            l->setup_flags = tries[i];
            return 0;
        }
        if (r != -EINVAL)
            return r;
    }
    return r;
}

static void reap(corio__loop *l);

/* Submit until at least `n` SQ slots are free. -EBUSY/-EAGAIN mean the CQ
 * is backed up: the completions are not lost (FEAT_NODROP keeps overflowed
 * CQEs in the kernel) but must be reaped before the kernel takes more
 * SQEs. Reaping here is safe even inside a coroutine: handling a CQE only
 * appends coroutines to the run queue, and the running one awaits no op. */
static void make_room(corio__loop *l, unsigned n) {
    while (io_uring_sq_space_left(&l->ring) < n) {
        int r = io_uring_submit(&l->ring);
        l->efd_queued = 0;
        corio__count(&l->m.ring_enters, 1);
        if (r > 0)
            corio__count(&l->m.ring_submitted, (uint64_t)r);
        if (r == -EBUSY || r == -EAGAIN) {
            reap(l);
            io_uring_get_events(&l->ring);
            reap(l);
        }
    }
}

struct io_uring_sqe *corio__loop_sqe(corio__loop *l) {
    for (;;) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
        if (sqe)
            return sqe;
        make_room(l, 1);
    }
}

static void arm_eventfd(corio__loop *l) {
    if (l->efd_armed)
        return;
    struct io_uring_sqe *sqe = corio__loop_sqe(l);
    io_uring_prep_read(sqe, l->efd, &l->efd_buf, sizeof l->efd_buf, 0);
    io_uring_sqe_set_data64(sqe, UD_EVENTFD);
    l->efd_armed = 1;
    l->efd_queued = 1;
}

static void handle_cqe(corio__loop *l, struct io_uring_cqe *cqe) {
    uint64_t ud = cqe->user_data;
    if (ud == UD_IGNORE)
        return;
    if (ud == UD_EVENTFD) {
        l->efd_armed = 0;
        corio__count(&l->m.eventfd_wakes, 1);
        return;
    }
    corio__op *op = (corio__op *)(uintptr_t)(ud & ~(uint64_t)UD_TIMEOUT_BIT);
    if (op->on_cqe && !(ud & UD_TIMEOUT_BIT)) {
        /* A multishot op: one CQE per shot, F_MORE on all but the last.
         * The handler may free op on the last one: count first. */
        if (!(cqe->flags & IORING_CQE_F_MORE))
            l->inflight--;
        op->on_cqe(l, op, cqe);
        return;
    }
    if (ud & UD_TIMEOUT_BIT) {
        if (cqe->res == -ETIME)
            op->timed_out = 1;
    } else {
        op->res = cqe->res;
        op->flags = cqe->flags;
    }
    if (--op->pending == 0) {
        l->inflight--;
        corio__loop_make_ready(l, op->coro);
    }
}

static void reap(corio__loop *l) {
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&l->ring, head, cqe) {
        handle_cqe(l, cqe);
        n++;
    }
    io_uring_cq_advance(&l->ring, n);
    if (n)
        corio__count(&l->m.ring_completed, n);
}

int corio__loop_await(corio__loop *l, struct io_uring_sqe *sqe, double timeout, uint32_t *flags) {
    corio__coro *c = l->current;
    if (__builtin_expect(c->scope != NULL, 0)) {
        /* The scopes' limit bounds the op like its own timeout. */
        int64_t lim = c->scope->limit;
        if (lim != INT64_MAX) {
            double left = (double)(lim - corio__now_ns()) / 1e9;
            if (left < 0)
                left = 0;
            if (timeout < 0 || left < timeout)
                timeout = left;
        }
    }
    if (corio__coro_stopped(c)) {
        /* The SQE is already taken from the ring: turn it into a no-op. */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, UD_IGNORE);
        return -ECANCELED;
    }
    corio__op op = {.coro = c, .pending = 1, .fd = sqe->fd, .opcode = sqe->opcode};
    struct __kernel_timespec ts;
    if (timeout >= 0 && io_uring_sq_space_left(&l->ring) == 0) {
        /* The op took the last SQ slot: getting the timeout's SQE would
         * submit the op alone, its IOSQE_IO_LINK dangling, and the pair
         * split over two submissions does not link as meant (seen on 6.x:
         * the op unbounded, or a later unrelated SQE chained to it and
         * cancelled with it). Move the op to a fresh pair of slots and
         * leave a no-op in the old one. */
        struct io_uring_sqe copy = *sqe;
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, UD_IGNORE);
        make_room(l, 2);
        sqe = io_uring_get_sqe(&l->ring);
        *sqe = copy;
    }
    io_uring_sqe_set_data(sqe, &op);
    if (timeout >= 0) {
        sqe->flags |= IOSQE_IO_LINK;
        ts.tv_sec = (long long)timeout;
        ts.tv_nsec = (long long)((timeout - (double)ts.tv_sec) * 1e9);
        struct io_uring_sqe *t = corio__loop_sqe(l);
        io_uring_prep_link_timeout(t, &ts, 0);
        io_uring_sqe_set_data64(t, (uint64_t)(uintptr_t)&op | UD_TIMEOUT_BIT);
        op.pending = 2;
    }
    c->op = &op;
    op.since = corio__now_coarse_ns();
    l->inflight++;
    /* Until every CQE naming &op has arrived the coroutine cannot go on:
     * op (and ts) live on its stack. A cancel request meanwhile is turned
     * into an IORING_OP_ASYNC_CANCEL by corio__coro_cancel_now. */
    while (op.pending > 0)
        corio__fiber_switch(&c->fiber, &l->sched);
    c->op = NULL;
    if (flags)
        *flags = op.flags;
    /* An op already running in an io-wq worker is interrupted rather than
     * cancelled: it ends with -EINTR instead of -ECANCELED, or with one of
     * the kernel's internal restart codes (-ERESTARTSYS and its kin, 512 to
     * 516: seen from a blocked IORING_OP_SPLICE), which are -EINTR too and
     * never reach the caller. */
    if (op.res <= -512 && op.res >= -516)
        op.res = -EINTR;
    if (op.timed_out && (op.res == -ECANCELED || op.res == -EINTR))
        return -ETIMEDOUT;
    if (corio__coro_stopped(c) && op.res == -EINTR)
        return -ECANCELED;
    return op.res;
}

/* ---- the loop thread ---- */

/* Free the finished coroutines, except those whose free waits for a
 * cancel message in flight (the message's handler frees them). */
static void free_zombies(corio__loop *l) {
    while (l->zombies) {
        corio__coro *z = l->zombies;
        l->zombies = z->next;
        if (!atomic_load_explicit(&z->msg_posted, memory_order_acquire))
            l->ops->free(z);
    }
}

static void run_ready(corio__loop *l) {
    /* Run only what is ready now; coroutines made ready meanwhile wait for
     * the next iteration, so I/O completions are not starved. */
    corio__coro *c = l->rq_head;
    l->rq_head = l->rq_tail = NULL;
    uint64_t ran = 0;
    while (c) {
        ran++;
        corio__coro *next = c->next;
        if (__builtin_expect(!c->fiber.stack, 0) && l->ops->stack(c) < 0) {
            free_zombies(l); /* no stack: it ended, failed */
            c = next;
            continue;
        }
        l->current = c;
        l->pass_next = next;
        corio__tls_coro = c;
        /* For the stall watchdog: who runs now (one plain store). */
        atomic_store_explicit(&l->m.current_name, c->name, memory_order_relaxed);
        atomic_store_explicit(&l->m.current_id, c->fiber.id, memory_order_relaxed);
        corio__fiber_switch(&l->sched, &c->fiber);
        atomic_store_explicit(&l->m.current_id, 0, memory_order_relaxed);
        corio__tls_coro = NULL;
        l->current = NULL;
        /* c, or the coroutines it handed the thread to at their end (see
         * coro_entry), may have finished. */
        free_zombies(l);
        c = next;
    }
    atomic_store_explicit(&l->m.runnable, ran, memory_order_relaxed);
    if (ran)
        corio__count(&l->m.switches, ran);
}

/* Adaptive polling before sleeping. A loop whose coroutines await work done
 * by other threads (a thread-pool job, a process job, a coroutine on another
 * loop) is woken through its inbox and eventfd: a cross-CPU wake-up of a
 * sleeping thread, 5-20 us on a VM, for a job that may take 1 us. So when
 * the loop's last sleep was short (under LOOP_SPIN_WINDOW_NS) and ended with
 * a message in the inbox, the next time it would sleep it first polls the
 * inbox for up to LOOP_SPIN_NS. It never polls with ring operations in
 * flight (their completions need a kernel entry, so an I/O-bound loop would
 * only delay them), with one CPU, or past its next timer. While it polls,
 * `sleeping` stays 0, so posters skip the eventfd write as well. Returns 1
 * when a message arrived. The relaxed load only detects the message;
 * drain_inbox's acquiring exchange takes it. */
#define LOOP_SPIN_NS 25000
#define LOOP_SPIN_WINDOW_NS 100000

static int poll_inbox(corio__loop *l, int64_t now) {
    if (!l->spin || l->inflight || !l->spin_ok)
        return 0;
    int64_t until = (now ? now : corio__now_ns()) + LOOP_SPIN_NS;
    if (l->heap_len && l->heap[0]->deadline < until)
        until = l->heap[0]->deadline;
    for (unsigned i = 1;; i++) {
        corio__cpu_relax();
        if (atomic_load_explicit(&l->inbox, memory_order_relaxed))
            return 1;
        if (i % 32 == 0) {
            if (corio__now_ns() >= until)
                return 0;
            /* The thread that will answer may be queued on this very CPU
             * (a pinned loop, a worker woken onto its waker's CPU): let it
             * run. Returns at once when nothing else is runnable here. */
            sched_yield();
        }
    }
}

/* corio__sched_ops.idle_until, from the running coroutine: the rest of
 * run_ready's pass is pass_next (also while a coroutine that run_ready
 * switched to has handed the thread to its joiner), the next pass is
 * rq_head. */
int64_t corio__loop_idle_until(int64_t until) {
    corio__loop *l = corio__tls_loop;
    /* Queued SQEs are work for the kernel, except the loop's own eventfd
     * read: arm_eventfd queues it before the loop polls its inbox, and a
     * poll that ends with a message never enters the kernel, so it stays
     * queued while the loop runs (posters skip the eventfd write meanwhile:
     * `sleeping` is 0). Counting it kept every coroutine from polling after
     * such a wake-up. efd_queued errs only towards 0 (an enter that failed
     * to submit), which just counts the read as work again. */
    if (!l || !l->spin_ok || l->pass_next || l->rq_head || l->inflight ||
        io_uring_sq_ready(&l->ring) > (unsigned)l->efd_queued ||
        atomic_load_explicit(&l->inbox, memory_order_relaxed))
        return 0;
    if (l->heap_len && l->heap[0]->deadline < until)
        until = l->heap[0]->deadline;
    return until;
}

void corio__loop_arm_quiet(corio__loop *l, corio__quiet *q) {
    if (!l->quiet)
        l->quiet_at = corio__now_ns() + CORIO__LOOP_QUIET_NS;
    q->armed = 1;
    q->seen = q->uses;
    q->next = l->quiet;
    l->quiet = q;
}

/* The armed corio__quiet are due: trim those unused for the whole period;
 * the others are looked at again a period later. */
static void run_quiet(corio__loop *l) {
    corio__quiet *q = l->quiet, *again = NULL;
    l->quiet = NULL;
    while (q) {
        corio__quiet *next = q->next;
        if (q->uses != q->seen) {
            q->seen = q->uses;
            q->next = again;
            again = q;
        } else {
            q->armed = 0;
            q->trim(l, q);
        }
        q = next;
    }
    if (again) { /* ahead of any a trim armed, all due a period from now */
        corio__quiet *t = again;
        while (t->next)
            t = t->next;
        t->next = l->quiet;
        l->quiet = again;
        l->quiet_at = corio__now_ns() + CORIO__LOOP_QUIET_NS;
    }
}

/* Count one call into the ring and what it submitted. */
static void ring_enter(corio__loop *l, int r) {
    l->efd_queued = 0; /* the enter submitted the SQ (or failed: see idle_until) */
    corio__count(&l->m.ring_enters, 1);
    if (r > 0)
        corio__count(&l->m.ring_submitted, (uint64_t)r);
}

static void *loop_main(void *arg) {
    corio__loop *l = arg;
    corio__tls_loop = l;
    char name[16];
    snprintf(name, sizeof name, "corio-loop%d", l->id % 10000);
    pthread_setname_np(pthread_self(), name);
    atomic_store_explicit(&l->m.tid, (int)syscall(SYS_gettid), memory_order_relaxed);
    l->pin_cpu = -1;
    if (!l->rt->opts.no_pin &&
        pthread_getaffinity_np(pthread_self(), sizeof l->free_cpus, &l->free_cpus) == 0) {
        int cpu = corio__cpu_set_nth(&l->free_cpus, (unsigned)l->id); /* inside the allowed set */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        /* best effort */
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0 && cpu < PIN_CPUS)
            l->pin_cpu = cpu;
    }
    int r = ring_setup(l);
    if (r == 0) {
        l->ring_ok = 1;
        r = corio__overflow_thread_init();
    }
    corio__fiber_init_thread(&l->sched);
    pthread_mutex_lock(&l->start_lock);
    l->start_err = r;
    l->started = 1;
    pthread_cond_signal(&l->start_cond);
    pthread_mutex_unlock(&l->start_lock);
    if (r < 0)
        return NULL;
    l->spin_ok = corio__online_cpus() > 1;
    pinned_awake_add(l, 1);

    for (;;) {
        int quiet_due = 0; /* this iteration slept past the quiet list's time */
        drain_inbox(l);
        run_ready(l);
        if (l->stopping && l->nlive == 0)
            break;
        atomic_store_explicit(&l->m.timers, l->heap_len, memory_order_relaxed);
        int64_t now = l->heap_len ? corio__now_ns() : 0;
        if (l->heap_len)
            fire_timers(l, now);
        arm_eventfd(l);
        if (l->rq_head) {
            /* Busy: enter the kernel only when there is something to
             * submit or reap, never just to look. */
            if (io_uring_sq_ready(&l->ring) || l->inflight)
                ring_enter(l, io_uring_submit_and_get_events(&l->ring));
        } else if (poll_inbox(l, now)) {
            /* A message while polling: drained at the top of the next
             * iteration. The eventfd read armed above is submitted by the
             * next kernel entry; CQEs already posted are reaped below. */
        } else {
            atomic_store_explicit(&l->sleeping, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&l->inbox, memory_order_seq_cst)) {
                atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
                ring_enter(l, io_uring_submit_and_get_events(&l->ring));
            } else {
                pinned_awake_add(l, -1);
                corio__count(&l->m.sleeps, 1);
                struct io_uring_cqe *cqe;
                int64_t slept = l->spin_ok || l->quiet ? corio__now_ns() : 0;
                /* Until the next timer, and no later than the quiet list's
                 * time. */
                int64_t until = l->heap_len ? l->heap[0]->deadline : INT64_MAX;
                if (l->quiet && l->quiet_at < until)
                    until = l->quiet_at;
                if (until != INT64_MAX) {
                    int64_t d = until - (slept ? slept : now); /* now: read with a timer */
                    if (d < 0)
                        d = 0;
                    struct __kernel_timespec ts = {.tv_sec = d / 1000000000,
                                                   .tv_nsec = d % 1000000000};
                    ring_enter(l, io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL));
                } else {
                    ring_enter(l, io_uring_submit_and_wait(&l->ring, 1));
                }
                atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
                pinned_awake_add(l, 1);
                quiet_due = l->quiet && corio__now_ns() >= l->quiet_at;
                if (l->spin_ok) {
                    slept = corio__now_ns() - slept;
                    l->spin = slept < LOOP_SPIN_WINDOW_NS &&
                              atomic_load_explicit(&l->inbox, memory_order_relaxed) != NULL;
                }
            }
        }
        reap(l);
        /* The quiet list is looked at only with every posted completion handled:
         * a provided buffer the kernel filled is then accounted for by its
         * CQE (bufring.c drops the pages of free buffers). */
        if (quiet_due && !io_uring_cq_ready(&l->ring) && !io_uring_cq_has_overflow(&l->ring))
            run_quiet(l);
    }
    pinned_awake_add(l, -1);
    while (l->exit_hooks) {
        corio__loop_hook *h = l->exit_hooks;
        l->exit_hooks = h->next;
        h->fn(l, h);
    }
    corio__fiber_fini(&l->sched);
    corio__overflow_thread_fini();
    return NULL;
}

int corio__loop_start(corio__loop *l) {
    l->efd = corio__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->efd < 0)
        return -errno;
    pthread_mutex_init(&l->start_lock, NULL);
    pthread_cond_init(&l->start_cond, NULL);
    l->stop_msg.kind = CORIO__MSG_STOP;
    l->drain_msg.kind = CORIO__MSG_DRAIN;
    l->drain_cancel_msg.kind = CORIO__MSG_DRAIN_CANCEL;
    /* Up to 1024 cached stacks: address space only (256 MiB at the default
     * size); what stays resident is the few pages each one touched. A burst
     * of spawns reuses them instead of paying mmap + munmap each. */
    int r = corio__stack_pool_init(&l->stacks, l->default_stack, 1024);
    if (r < 0)
        return r;
    r = corio__thread_create(&l->thread, loop_main, l);
    if (r != 0)
        return -r;
    pthread_mutex_lock(&l->start_lock);
    while (!l->started)
        pthread_cond_wait(&l->start_cond, &l->start_lock);
    pthread_mutex_unlock(&l->start_lock);
    if (l->start_err < 0) {
        pthread_join(l->thread, NULL);
        return l->start_err;
    }
    return 0;
}
