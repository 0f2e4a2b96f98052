/* corio — internal hooks of the I/O calls (io.c, io_acceptor.c), for the
 * library and its tests. */
#ifndef CORIO_IO_INTERNAL_H
#define CORIO_IO_INTERNAL_H

/* When non-zero, coroutines never use the ring's data opcodes: every call
 * takes the "poll on the ring, then system call" path that kernels lacking
 * an opcode get, and acceptors do one accept per call. Set by tests (in a
 * forked test, before any I/O) to exercise the fallback on a new kernel. */
extern int corio__io_force_fallback;

/* 1 when the kernel has `opcode` (probed once per process through the
 * calling loop's ring), 0 when not, -1 when called off a loop thread
 * before any probe. */
int corio__io_op_supported(int opcode);

#endif /* CORIO_IO_INTERNAL_H */
