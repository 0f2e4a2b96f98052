/* corio — how many CPUs this process may use, and which.
 *
 * Default worker and loop counts follow what the process may actually run
 * on, not what the machine has: the affinity mask (sched_getaffinity, which
 * `taskset` and container runtimes set) and, when one is set, a cgroup v2
 * CPU quota (cpu.max), rounded up, the smallest along the cgroup's path to
 * the root, as Go 1.25 and the JVM read it. A quota of 1.5 CPUs gives 2.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* CPUs in the affinity mask, or the online count when it cannot be read. */
static long affinity_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n;
}

/* The quota of one cpu.max file in whole CPUs (rounded up), or 0 for none. */
static long quota_of(const char *path) {
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char q[32] = "";
    long long period = 0;
    int got = fscanf(f, "%31s %lld", q, &period);
    fclose(f);
    if (got != 2 || period <= 0 || strcmp(q, "max") == 0)
        return 0;
    char *end;
    long long quota = strtoll(q, &end, 10);
    if (*end || quota <= 0)
        return 0;
    long long n = quota / period + (quota % period != 0);
    return n > 1 << 20 ? 1 << 20 : (long)n;
}

/* The smallest cgroup v2 quota on the path from this process's cgroup to
 * the root, in whole CPUs, or 0 when none is set (or no cgroup v2). */
static long cgroup_quota_cpus(void) {
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[4096], rel[4096] = "";
    while (fgets(line, sizeof line, f)) {
        /* The v2 line is "0::/path". */
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(rel, sizeof rel, "%s", line + 3);
            rel[strcspn(rel, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
    if (!rel[0])
        return 0;
    long best = 0;
    for (;;) {
        char path[4200];
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", strcmp(rel, "/") ? rel : "");
        long q = quota_of(path);
        if (q > 0 && (best == 0 || q < best))
            best = q;
        char *slash = strrchr(rel, '/');
        if (!slash || slash == rel)
            break;
        *slash = '\0';
    }
    return best;
}

long corio__usable_cpus(void) {
    long n = affinity_cpus();
    long q = cgroup_quota_cpus();
    if (q > 0 && q < n)
        n = q;
    return n < 1 ? 1 : n;
}

int corio__cpu_set_nth(const cpu_set_t *set, unsigned i) {
    int n = CPU_COUNT(set);
    if (n <= 0)
        return (int)(i % (unsigned)affinity_cpus());
    unsigned want = i % (unsigned)n;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, set) && want-- == 0)
            return cpu;
    return 0; /* not reached: want < n */
}
