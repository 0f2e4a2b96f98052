/* bench_resolve: name lookups per second against one dnsmasq, corio's
 * resolver against glibc's getaddrinfo(3), measured in the same run.
 *
 *   corio: corio_getaddrinfo from coroutines, --loops loops (default 2) x
 *          --coros coroutines each (default 64), c-ares on each loop's ring
 *   glibc: getaddrinfo(3) on --threads plain threads (default 8)
 *
 * Both ask the same dnsmasq on 127.0.0.1:53 for names of its addn-hosts
 * file (h0.test .. h999.test, answered from its memory), AF_INET and
 * SOCK_STREAM hints, --lookups lookups per round (default 10000), best of
 * --rounds rounds (default 5), the two alternating. Besides lookups/s it
 * prints this process's CPU time per lookup (user + system, all threads)
 * and how busy dnsmasq was, both less sensitive to a loaded machine.
 *
 * glibc asks only the servers of /etc/resolv.conf, on port 53, so the
 * program re-executes itself under `unshare -mn` (as root): a private
 * network namespace whose `lo` it brings up, and a private mount namespace
 * where a temporary resolv.conf ("nameserver 127.0.0.1") is bind-mounted
 * over /etc/resolv.conf. dnsmasq runs inside, on 127.0.0.1:53; corio is
 * pointed at it with corio_resolver_configure. Not root, no unshare or no
 * dnsmasq: it says so and exits 0 (like a missing peer library). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "corio.h"

#define NAMES 1000
#define INNER_ENV "CORIO_BENCH_RESOLVE_INNER"

static int lookups = 10000, rounds = 5, loops = 2, coros = 64, threads = 8;
static pid_t dns_pid;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err) {
    fprintf(stderr, "bench_resolve: %s: %s\n", what, err ? corio_strerror(err) : "failed");
    if (dns_pid > 0)
        kill(dns_pid, SIGTERM);
    exit(1);
}

static void name_of(int i, char *buf, size_t len) { snprintf(buf, len, "h%d.test", i % NAMES); }

/* The address h<i>.test has in the hosts file: 10.3.(i/250).(i%250+1). */
static int check_answer(const struct addrinfo *r, int i) {
    i %= NAMES;
    if (!r || r->ai_family != AF_INET || r->ai_next)
        return 0;
    uint32_t a = ntohl(((const struct sockaddr_in *)r->ai_addr)->sin_addr.s_addr);
    return a == ((10u << 24) | (3u << 16) | ((unsigned)(i / 250) << 8) | (unsigned)(i % 250 + 1));
}

/* ---- the namespace and the server ---- */

static void lo_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die("lo flags", -errno);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die("lo up", -errno);
    close(s);
}

static char dir[] = "/tmp/corio-bench-resolve-XXXXXX";
static char resolv_path[64], hosts_path[64];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die(path, -errno);
}

static void setup_files(void) {
    if (!mkdtemp(dir))
        die("mkdtemp", -errno);
    snprintf(resolv_path, sizeof resolv_path, "%s/resolv.conf", dir);
    snprintf(hosts_path, sizeof hosts_path, "%s/hosts", dir);
    write_file(resolv_path, "nameserver 127.0.0.1\n");
    static char hosts[NAMES * 32];
    size_t n = 0;
    for (int i = 0; i < NAMES; i++)
        n += (size_t)snprintf(hosts + n, sizeof hosts - n, "10.3.%d.%d h%d.test\n", i / 250,
                              i % 250 + 1, i);
    write_file(hosts_path, hosts);
    /* Private mounts, then our resolv.conf over the system's (gone with
     * the namespace). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("mount --make-rprivate /", -errno);
    if (mount(resolv_path, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
        die("bind-mount resolv.conf", -errno);
}

static void cleanup_files(void) {
    umount("/etc/resolv.conf");
    unlink(resolv_path);
    unlink(hosts_path);
    rmdir(dir);
}

static void start_dnsmasq(void) {
    char harg[96];
    snprintf(harg, sizeof harg, "--addn-hosts=%s", hosts_path);
    dns_pid = fork();
    if (dns_pid == 0) {
        execl("/usr/sbin/dnsmasq", "dnsmasq", "--keep-in-foreground", "--no-resolv",
              "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root",
              "--local=/test/", "--port=53", harg, "--pid-file=", (char *)NULL);
        _exit(127);
    }
    if (dns_pid < 0)
        die("fork", -errno);
    corio_resolver_options o = {.servers = "127.0.0.1:53", .try_timeout = 1, .attempts = 3};
    int e = corio_resolver_configure(&o);
    if (e < 0)
        die("corio_resolver_configure", e);
    for (int i = 0; i < 500; i++) { /* bounded wait for it to answer */
        struct addrinfo *r = NULL;
        if (corio_getaddrinfo("h0.test", NULL, NULL, 0.2, &r) == 0) {
            corio_freeaddrinfo(r);
            return;
        }
        if (waitpid(dns_pid, NULL, WNOHANG) == dns_pid) {
            dns_pid = 0;
            die("dnsmasq exited", 0);
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    die("dnsmasq did not answer", 0);
}

/* dnsmasq's CPU time so far (user + system), seconds. */
static double dns_cpu(void) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)dns_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* After ")": state, then fields 4..13, utime is field 14, stime 15. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* UDP datagrams the namespace dropped for a full receive buffer so far
 * (/proc/net/snmp, Udp: RcvbufErrors): a query or answer lost that way
 * costs a c-ares or glibc retry after the try timeout. */
static long udp_drops(void) {
    FILE *f = fopen("/proc/net/snmp", "r");
    if (!f)
        return -1;
    char head[512], vals[512];
    long r = -1;
    while (fgets(head, sizeof head, f)) {
        if (strncmp(head, "Udp:", 4) != 0 || !fgets(vals, sizeof vals, f))
            continue;
        char *hs, *vs, *h = strtok_r(head, " \n", &hs), *v = strtok_r(vals, " \n", &vs);
        for (; h && v; h = strtok_r(NULL, " \n", &hs), v = strtok_r(NULL, " \n", &vs))
            if (!strcmp(h, "RcvbufErrors"))
                r = strtol(v, NULL, 10);
        break;
    }
    fclose(f);
    return r;
}

/* This process's CPU time so far (user + system, every thread), seconds. */
static double self_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

/* ---- corio ---- */

static _Atomic int next_i;
static int round_n;

static int corio_worker(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    char name[32];
    for (;;) {
        int i = atomic_fetch_add_explicit(&next_i, 1, memory_order_relaxed);
        if (i >= round_n)
            return 0;
        name_of(i, name, sizeof name);
        struct addrinfo *r = NULL;
        int e = corio_getaddrinfo(name, NULL, &h, 10, &r);
        if (e < 0)
            die(name, e);
        if (!check_answer(r, i))
            die("corio: wrong answer", 0);
        corio_freeaddrinfo(r);
    }
}

static double corio_round(corio_runtime *rt, int n) {
    int total = loops * coros;
    corio_future **fs = calloc((size_t)total, sizeof *fs);
    if (!fs)
        die("calloc", -ENOMEM);
    atomic_store(&next_i, 0);
    round_n = n;
    double t0 = now_s();
    for (int k = 0; k < total; k++) {
        int err = 0;
        fs[k] = corio_spawn_on(rt, k % loops, corio_worker, NULL, NULL, &err);
        if (!fs[k])
            die("spawn", err);
    }
    for (int k = 0; k < total; k++) {
        int e = corio_future_result(fs[k], 60, NULL);
        if (e < 0)
            die("coroutine", e);
        corio_future_unref(fs[k]);
    }
    double dt = now_s() - t0;
    free(fs);
    return n / dt;
}

/* ---- glibc ---- */

static void *glibc_worker(void *arg) {
    (void)arg;
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    char name[32];
    for (;;) {
        int i = atomic_fetch_add_explicit(&next_i, 1, memory_order_relaxed);
        if (i >= round_n)
            return NULL;
        name_of(i, name, sizeof name);
        struct addrinfo *r = NULL;
        int e = getaddrinfo(name, NULL, &h, &r);
        if (e != 0) {
            fprintf(stderr, "bench_resolve: glibc %s: %s\n", name, gai_strerror(e));
            die("glibc lookup", 0);
        }
        if (!check_answer(r, i))
            die("glibc: wrong answer", 0);
        freeaddrinfo(r);
    }
}

static double glibc_round(int n) {
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    if (!t)
        die("calloc", -ENOMEM);
    atomic_store(&next_i, 0);
    round_n = n;
    double t0 = now_s();
    for (int k = 0; k < threads; k++)
        if (pthread_create(&t[k], NULL, glibc_worker, NULL) != 0)
            die("pthread_create", 0);
    for (int k = 0; k < threads; k++)
        pthread_join(t[k], NULL);
    double dt = now_s() - t0;
    free(t);
    return n / dt;
}

/* ---- main ---- */

static int inner(void) {
    lo_up();
    setup_files();
    start_dnsmasq();
    bench_print_machine();
    printf("nproc %ld, dnsmasq on 127.0.0.1:53 (private netns), %d names from its addn-hosts\n",
           sysconf(_SC_NPROCESSORS_ONLN), NAMES);
    corio_runtime_options o = {.loops = loops, .no_pin = true};
    corio_runtime *rt;
    int e = corio_runtime_create(&o, &rt);
    if (e < 0)
        die("corio_runtime_create", e);
    /* Warm-up: each loop's channel, glibc's resolv.conf, dnsmasq's cache. */
    corio_round(rt, loops * coros * 2);
    glibc_round(threads * 4);
    double best_c = 0, best_g = 0, cpu_c = 0, cpu_g = 0, us_c = 1e9, us_g = 1e9;
    for (int k = 0; k < rounds; k++) {
        long d0 = udp_drops();
        double c0 = dns_cpu(), s0 = self_cpu(), t0 = now_s();
        double c = corio_round(rt, lookups);
        double cc = (dns_cpu() - c0) / (now_s() - t0), cu = (self_cpu() - s0) * 1e6 / lookups;
        c0 = dns_cpu(), s0 = self_cpu(), t0 = now_s();
        double g = glibc_round(lookups);
        double gc = (dns_cpu() - c0) / (now_s() - t0), gu = (self_cpu() - s0) * 1e6 / lookups;
        printf("  round %d: corio %6.0f, glibc %6.0f lookups/s; CPU %5.1f / %5.1f us per lookup; "
               "dnsmasq busy %3.0f%% / %3.0f%%; UDP drops %ld\n",
               k + 1, c, g, cu, gu, cc * 100, gc * 100, udp_drops() - d0);
        if (c > best_c)
            best_c = c, cpu_c = cc;
        if (g > best_g)
            best_g = g, cpu_g = gc;
        us_c = cu < us_c ? cu : us_c;
        us_g = gu < us_g ? gu : us_g;
    }
    corio_runtime_destroy(rt);
    printf("%d lookups of h0..h%d.test (AF_INET, SOCK_STREAM), best of %d:\n", lookups,
           NAMES - 1, rounds);
    printf("corio_getaddrinfo (%d loops x %d coroutines): %7.0f lookups/s, CPU %5.1f us/lookup "
           "(dnsmasq busy %.0f%%)\n",
           loops, coros, best_c, us_c, cpu_c * 100);
    printf("glibc getaddrinfo (%d threads):              %7.0f lookups/s, CPU %5.1f us/lookup "
           "(dnsmasq busy %.0f%%)\n",
           threads, best_g, us_g, cpu_g * 100);
    printf("ratio corio/glibc: %.2f lookups/s, %.2f CPU per lookup\n", best_c / best_g,
           us_c / us_g);
    kill(dns_pid, SIGTERM);
    waitpid(dns_pid, NULL, 0);
    cleanup_files();
    return 0;
}

static int arg_int(const char *v, int lo, int hi) {
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        fprintf(stderr, "bench_resolve: bad number %s\n", v);
        exit(2);
    }
    return (int)n;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i += 2) { /* option, value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: %s [--lookups N] [--rounds N] [--loops N] [--coros N] "
                            "[--threads N]\n", argv[0]);
            return 2;
        }
        if (!strcmp(a, "--lookups"))
            lookups = arg_int(v, 1, 10000000);
        else if (!strcmp(a, "--rounds"))
            rounds = arg_int(v, 1, 100);
        else if (!strcmp(a, "--loops"))
            loops = arg_int(v, 1, 64);
        else if (!strcmp(a, "--coros"))
            coros = arg_int(v, 1, 10000);
        else if (!strcmp(a, "--threads"))
            threads = arg_int(v, 1, 1024);
        else {
            fprintf(stderr, "bench_resolve: unknown option %s\n", a);
            return 2;
        }
    }
    if (getenv(INNER_ENV))
        return inner();
    if (geteuid() != 0 || access("/usr/sbin/dnsmasq", X_OK) != 0) {
        printf("bench_resolve: skipped (needs root for unshare -mn, and /usr/sbin/dnsmasq)\n");
        return 0;
    }
    /* Re-execute under unshare -mn; the child finds INNER_ENV set. */
    setenv(INNER_ENV, "1", 1);
    char **nargv = calloc((size_t)argc + 4, sizeof *nargv);
    if (!nargv)
        return 1;
    nargv[0] = "unshare";
    nargv[1] = "-mn";
    nargv[2] = "--";
    static char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        return 1;
    self[sl] = '\0';
    nargv[3] = self;
    for (int i = 1; i < argc; i++)
        nargv[3 + i] = argv[i];
    fflush(stdout);
    execvp("unshare", nargv);
    printf("bench_resolve: skipped (cannot run unshare: %s)\n", strerror(errno));
    return 0;
}
