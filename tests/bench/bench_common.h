/* Helpers shared by the benchmarks under tests/bench. */
#ifndef CORIO_BENCH_COMMON_H
#define CORIO_BENCH_COMMON_H

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Print the machine line every benchmark starts with: CPU architecture and
 * model, online CPUs, kernel. */
static inline void bench_print_machine(void) {
    struct utsname u;
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 1 + (c[1] == ' ');
                    c[strcspn(c, "\n")] = '\0';
                    snprintf(model, sizeof model, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    uname(&u);
    printf("machine: %s, %s, %ld online CPUs (kernel %s)\n", u.machine, model,
           sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

#endif /* CORIO_BENCH_COMMON_H */
