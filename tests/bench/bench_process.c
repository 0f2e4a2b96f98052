/* Child processes and signals: what corio's layer costs over the plain
 * system calls, measured in the same run.
 *
 *  - spawn + wait of `true`: corio_process_spawn + corio_process_wait +
 *    destroy (on a thread, and from a coroutine) against posix_spawnp +
 *    waitpid, and fork + execvp + waitpid. corio adds a pidfd, the reaper
 *    thread's wake-up and a future.
 *  - one signal, sent and taken: kill(getpid()) + corio_signal_wait
 *    against kill + sigwaitinfo. corio adds a signalfd per call and a poll.
 *
 * Best of 5 rounds each (the machine is shared). */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "corio.h"

extern char **environ;

#define ROUNDS 5
#define SPAWNS 200
#define SIGNALS 20000

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const argv_true[] = {"true", NULL};

static void raw_spawn(void) {
    pid_t pid;
    if (posix_spawnp(&pid, "true", NULL, NULL, (char *const *)argv_true, environ) != 0)
        abort();
    waitpid(pid, NULL, 0);
}

static void raw_fork(void) {
    pid_t pid = fork();
    if (pid == 0) {
        execvp("true", (char *const *)argv_true);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
}

static void corio_one(void) {
    corio_process *p;
    if (corio_process_spawn(argv_true, NULL, &p) != 0)
        abort();
    corio_process_wait(p, CORIO_FOREVER, NULL);
    corio_process_destroy(p);
}

/* Best per-op microseconds of fn over ROUNDS rounds of n calls. */
static double best_us(void (*fn)(void), int n) {
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t = now();
        for (int i = 0; i < n; i++)
            fn();
        double us = (now() - t) * 1e6 / n;
        if (us < best)
            best = us;
    }
    return best;
}

static double coro_result;
static int coro_spawns(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    coro_result = best_us(corio_one, SPAWNS);
    return 0;
}

static sigset_t usr1;
static void raw_signal(void) {
    kill(getpid(), SIGUSR1);
    siginfo_t si;
    sigwaitinfo(&usr1, &si);
}
static void corio_signal(void) {
    kill(getpid(), SIGUSR1);
    if (corio_signal_wait(&usr1, CORIO_FOREVER, NULL) != SIGUSR1)
        abort();
}
static int coro_signals(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    coro_result = best_us(corio_signal, SIGNALS);
    return 0;
}

int main(void) {
    bench_print_machine();
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    corio_signal_block(&usr1);
    corio_runtime_options o = {.loops = 1};

    double spawn = best_us(raw_spawn, SPAWNS);
    double forked = best_us(raw_fork, SPAWNS);
    double thr = best_us(corio_one, SPAWNS);
    corio_run_with(&o, coro_spawns, NULL, NULL);
    double coro = coro_result;
    /* The reaper ends whenever it watches no child, so each spawn above
     * started a thread; a long-lived child keeps it up. */
    const char *const argv_cat[] = {"cat", NULL};
    corio_process_options keep = {.stdin_mode = CORIO_PROCESS_PIPE};
    corio_process *keeper;
    if (corio_process_spawn(argv_cat, &keep, &keeper) != 0)
        abort();
    double kept = best_us(corio_one, SPAWNS);
    corio_process_destroy(keeper);
    printf("spawn+wait true, posix_spawnp+waitpid (baseline): %8.1f us\n", spawn);
    printf("spawn+wait true, fork+execvp+waitpid:             %8.1f us  (%.2fx baseline)\n",
           forked, forked / spawn);
    printf("spawn+wait true, corio on a thread:               %8.1f us  (%.2fx baseline)\n",
           thr, thr / spawn);
    printf("spawn+wait true, corio on a thread, reaper kept:  %8.1f us  (%.2fx baseline)\n",
           kept, kept / spawn);
    printf("spawn+wait true, corio in a coroutine:            %8.1f us  (%.2fx baseline)\n",
           coro, coro / spawn);

    double rs = best_us(raw_signal, SIGNALS);
    double cs = best_us(corio_signal, SIGNALS);
    corio_run_with(&o, coro_signals, NULL, NULL);
    double cc = coro_result;
    printf("signal kill+take, kill+sigwaitinfo (baseline):    %8.2f us\n", rs);
    printf("signal kill+take, corio_signal_wait on a thread:  %8.2f us  (%.2fx baseline)\n",
           cs, cs / rs);
    printf("signal kill+take, corio_signal_wait in a coro:    %8.2f us  (%.2fx baseline)\n",
           cc, cc / rs);
    return 0;
}
