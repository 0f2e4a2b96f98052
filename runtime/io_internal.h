/* corio — internal hooks of the I/O calls (io.c, io_acceptor.c), for the
 * library and its tests. */
#ifndef CORIO_IO_INTERNAL_H
#define CORIO_IO_INTERNAL_H

#include <stdint.h>

/* When non-zero, coroutines never use the ring's data opcodes: every call
 * takes the "poll on the ring, then system call" path that kernels lacking
 * an opcode get, and acceptors do one accept per call. Set by tests (in a
 * forked test, before any I/O) to exercise the fallback on a new kernel. */
extern int corio__io_force_fallback;

/* 1 when the kernel has `opcode` (probed once per process through the
 * calling loop's ring), 0 when not, -1 when called off a loop thread
 * before any probe. */
int corio__io_op_supported(int opcode);

/* For the other I/O modules (runtime/net/), io.c's two building blocks:
 *
 * corio__io_ring_for: the current loop when the caller is a coroutine that
 * may use `opcode` on the ring (kernel has it, fallback not forced), else
 * NULL (a plain thread, or take the poll + system call path). Probes the
 * kernel on first use.
 *
 * corio__io_wait_ready: wait until fd has one of `events` before the
 * absolute `deadline` (ns, CLOCK_MONOTONIC, INT64_MAX: none): a poll on the
 * ring in a coroutine, poll(2) on a thread. Returns the revents (> 0),
 * -ETIMEDOUT, -ECANCELED or -errno. May change errno. */
struct corio__loop;
struct corio__loop *corio__io_ring_for(int opcode);
int corio__io_wait_ready(int fd, short events, int64_t deadline);

#endif /* CORIO_IO_INTERNAL_H */
