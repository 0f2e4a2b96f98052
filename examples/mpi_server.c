/* mpi_server — a coroutine server that offloads CPU work to MPI ranks.
 *
 *     mpiexec -n 3 ./mpi_server [--port P] [--self-test]
 *
 * Rank 0 runs corio loops and listens on 127.0.0.1 (port 0: any free one,
 * printed). Each connection is a coroutine: it reads lines holding a
 * number, submits a primality check to the MPI executor and waits for it
 * with corio_future_result — which suspends only that coroutine, so the
 * loop keeps serving the other connections — and answers "N prime" or
 * "N composite". The other ranks compute. With --self-test, a client
 * thread sends a few numbers, checks the answers and stops the server. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio.h>

static corio_executor *ex;
static corio_listener *listener;

static int prime_job(void *arg, corio_value *out) {
    const corio_value *in = arg;
    uint64_t n;
    if (in->len != sizeof n)
        return corio_task_fail(-22, "expected 8 bytes");
    memcpy(&n, in->ptr, sizeof n);
    int p = n >= 2;
    for (uint64_t i = 2; p && i <= (uint64_t)sqrt((double)n); i++)
        p = n % i != 0;
    out->ptr = (void *)(uintptr_t)p;
    return 0;
}
CORIO_MPI_FUNCTION(prime_job)

/* One connection: a line in, a line out. */
static int serve(void *arg, corio_value *out) {
    (void)out;
    int fd = (int)(intptr_t)arg;
    char buf[256];
    size_t have = 0;
    for (;;) {
        ssize_t n = corio_recv(fd, buf + have, sizeof buf - 1 - have, 0, CORIO_FOREVER);
        if (n <= 0)
            break;
        have += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            *nl = '\0';
            uint64_t v = strtoull(buf, NULL, 10);
            int err;
            corio_future *f = corio_executor_submit_bytes(ex, prime_job, &v, sizeof v, &err);
            void *res = NULL;
            int r = f ? corio_future_result(f, 30.0, &res) : err; /* suspends this coroutine */
            corio_future_unref(f);
            char line[64];
            int len = r < 0 ? snprintf(line, sizeof line, "%llu error %s\n",
                                       (unsigned long long)v, corio_error_name(r))
                            : snprintf(line, sizeof line, "%llu %s\n", (unsigned long long)v,
                                       res ? "prime" : "composite");
            if (corio_send(fd, line, (size_t)len, 0, CORIO_FOREVER) < 0)
                goto done;
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, have - used);
            have -= used;
        }
        if (have == sizeof buf - 1)
            break; /* a line too long */
    }
done:
    corio_close(fd);
    return 0;
}

static int accept_loop(void *arg, corio_value *out) {
    (void)arg;
    (void)out;
    for (;;) {
        int fd = corio_listener_accept(listener, NULL, NULL, CORIO_FOREVER);
        if (fd == -ECANCELED || fd == -ESHUTDOWN)
            break;
        if (fd < 0)
            continue;
        int r;
        corio_future *f = corio_spawn(serve, (void *)(intptr_t)fd, &r);
        if (f)
            corio_future_unref(f);
        else
            corio_close(fd);
    }
    return 0;
}

/* The --self-test client (a plain thread, plain sockets). */
static int self_test(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
        return 1;
    const char *req = "2\n15\n1000003\n1000001\n";
    const char *want = "2 prime\n15 composite\n1000003 prime\n1000001 composite\n";
    if (write(s, req, strlen(req)) != (ssize_t)strlen(req))
        return 1;
    char got[256] = {0};
    size_t n = 0;
    while (n < strlen(want)) {
        ssize_t k = read(s, got + n, sizeof got - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(s);
    printf("%s", got);
    return strcmp(got, want) != 0;
}

int main(int argc, char **argv) {
    int r = corio_mpi_start(&argc, &argv);
    if (r <= 0)
        return r < 0;
    const char *port = "0";
    int test = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = argv[++i];
        else if (!strcmp(argv[i], "--self-test"))
            test = 1;
    }
    corio_mpi_options mo = {.spawn = false};
    if ((r = corio_mpi_executor_create(&mo, &ex)) < 0) {
        fprintf(stderr, "mpi_server: %s\n", corio_strerror(r));
        return 1;
    }
    corio_runtime *rt;
    corio_runtime_options o = {.loops = 1};
    if ((r = corio_runtime_create(&o, &rt)) < 0)
        return 1;
    corio_listen_options lo = {.runtime = rt};
    if ((r = corio_listen("127.0.0.1", port, &lo, &listener)) < 0) {
        fprintf(stderr, "mpi_server: listen: %s\n", corio_strerror(r));
        return 1;
    }
    corio_future *acc = corio_spawn_on(rt, 0, accept_loop, NULL, NULL, &r);
    printf("mpi_server: 127.0.0.1:%d\n", corio_listener_port(listener));
    fflush(stdout);
    int rc = 0;
    if (test)
        rc = self_test(corio_listener_port(listener));
    else
        pause(); /* until a signal ends the process */
    corio_runtime_destroy(rt); /* cancels the accept loop and connections */
    corio_future_unref(acc);
    corio_listener_destroy(listener);
    corio_executor_destroy(ex);
    corio_mpi_finalize();
    return rc;
}
