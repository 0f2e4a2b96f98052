/* corio — live introspection: coroutine names and the coroutine dump.
 *
 * corio_runtime_dump writes one block per loop and one line (plus a
 * backtrace) per live coroutine: its id and name, its state (running,
 * ready, parked with the time left to its deadline, in a ring operation,
 * joining another coroutine, finished), its group, and the return
 * addresses of its suspended stack. Each loop writes its own part, on its
 * own thread, between two coroutines, so the dump is consistent per loop
 * and safe while the program runs; a loop that has not started its part
 * within a second (a coroutine is blocking it) is reported as such
 * instead, and one that has started is waited for (at most 60 s).
 *
 * Backtraces are walked by the unwind tables (.eh_frame) with libunwind
 * when it was found at build time and libunwind.so.8 opens at run time
 * (dlopen, not linked): whole chains, with or without frame pointers,
 * and a corrupt stack ends the walk instead of faulting. Otherwise, or
 * with CORIO_DUMP_BACKTRACE=fp, by the saved frame pointers: cheap, but
 * it stops at the first frame built without them (gcc's default at -O2).
 * CORIO_DUMP_BACKTRACE=none prints none. Each address is printed as
 * module+offset (feed it to addr2line -e module) and symbol+offset from
 * the dynamic symbol table, or with libunwind the full one.
 */
#ifndef CORIO_INSPECT_H
#define CORIO_INSPECT_H

#include "common.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name the calling coroutine (shown by the dump). The string is not
 * copied: it must outlive the coroutine (a literal, say). Returns 0, or
 * -EPERM outside a coroutine. */
CORIO_API int corio_coro_set_name(const char *name);

/** Write a dump of every live coroutine of rt to fd (see above). Any
 * thread, or a coroutine (of rt too: it suspends while the loops write).
 * Returns the number of coroutines listed, -EINVAL (NULL rt, fd < 0),
 * -ENOMEM, or the -errno of a failed write. */
CORIO_API long corio_runtime_dump(corio_runtime *rt, int fd);

/** Opt in: dump rt to fd whenever the process receives `signo` (like Go's
 * SIGQUIT dump). The signal handler only writes a byte to a pipe; a
 * thread of rt's waits on it and writes the dump, so nothing unsafe runs
 * in the handler. The previous handler is restored by
 * corio_runtime_destroy. One signal per runtime, and one runtime per
 * signal. Returns 0, -EINVAL, -EBUSY (already set up), or an -errno. */
CORIO_API int corio_runtime_dump_on_signal(corio_runtime *rt, int signo, int fd);

/** Opt in: a watchdog thread that writes a line to fd when a loop of rt
 * has been busy for longer than `threshold` seconds without switching
 * coroutines (one coroutine runs without yielding: it is blocking its
 * loop), naming the coroutine's id, and when a busy loop has not entered
 * its ring for that long because one pass over its ready coroutines does
 * not end (its timers, messages and I/O completions wait). It samples each
 * loop's counters every threshold / 2, so a stall is reported between
 * threshold and 1.5 x threshold after it began, once per stall. A sleeping
 * (idle) loop is never reported. Stopped by corio_runtime_destroy.
 * Returns 0, -EINVAL (threshold not > 0, fd < 0), -EBUSY (already
 * watching), -ENOMEM, or an -errno.
 * Each stall report is followed by the running coroutine's backtrace,
 * taken on the loop's own thread: the watchdog sends it SIGURG, whose
 * handler (installed by the first call, and only when SIGURG still has its
 * default disposition) records the frames; they are written as
 * backtrace_symbols_fd(3) does, "binary(+offset)[address]" (resolve with
 * `addr2line -f -e binary offset`; symbol names appear for functions the
 * binary exports, e.g. with -rdynamic). A program that handles SIGURG
 * itself keeps its handler and gets "no backtrace" lines instead. */
CORIO_API int corio_runtime_stall_watch(corio_runtime *rt, double threshold, int fd);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_INSPECT_H */
