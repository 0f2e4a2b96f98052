/* Helpers shared by the thread-pool examples (not part of corio). */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#include <time.h>

/* Sleep for `ms` milliseconds: the examples' stand-in for real work, like
 * time.sleep in the Python originals. */
static inline void ex_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Seconds since an arbitrary start, for printing timings. */
static inline double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
