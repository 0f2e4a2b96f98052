/* Tasks and the gate block shared by the executor test suites (thread
 * pool, conformance, faults). Include after corio.h and t_helpers.h.
 *
 * Everything is static inline so that a suite using only part of it
 * compiles cleanly under -Werror. */
#ifndef CORIO_T_TASKS_H
#define CORIO_T_TASKS_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

/* Control block for gated tasks. */
typedef struct t_ctl {
    sem_t started;  /* posted by each gated task as it begins */
    sem_t gate;     /* each gated task passes it once before returning */
    atomic_int ran; /* how many tasks (of any kind using this block) ran */
} t_ctl;

static inline void t_ctl_init(t_ctl *c) {
    t_gate_init(&c->started);
    t_gate_init(&c->gate);
    atomic_init(&c->ran, 0);
}

static inline void t_ctl_fini(t_ctl *c) {
    sem_destroy(&c->started);
    sem_destroy(&c->gate);
}

/* Signals `started`, waits at `gate` (at most 60 s, so a broken test fails
 * instead of hanging), returns the thread it ran on as its value. */
static inline int t_gated(void *arg, corio_value *out) {
    t_ctl *c = arg;
    atomic_fetch_add(&c->ran, 1);
    sem_post(&c->started);
    if (!t_gate_pass_within(&c->gate, 60.0))
        return corio_task_fail(-ETIMEDOUT, "gate never opened");
    out->ptr = (void *)(uintptr_t)pthread_self();
    return 0;
}

/* Returns arg + 1. */
static inline int t_inc(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg + 1);
    return 0;
}

#endif
