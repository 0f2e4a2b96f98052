/* Helpers shared by the io suites (test_io.c, test_io_acceptor.c): a
 * runtime with a given ring size, running one coroutine to its end, a
 * loopback listener and address, and the switch to the fallback path.
 *
 * Everything is static inline: each suite is one translation unit and uses
 * only part of it. Include after corio.h and t_helpers.h. */
#ifndef CORIO_T_IO_H
#define CORIO_T_IO_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "corio.h"
#include "io_internal.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

static inline corio_runtime *t_rt(int loops, unsigned ring_entries) {
    corio_runtime_options o = {.loops = loops, .ring_entries = ring_entries,
                               .stack_size = 64 * 1024, .no_pin = true};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(corio_runtime_create(&o, &rt), 0);
    return rt;
}

/* Run fn as a coroutine on a fresh one-loop runtime; returns its outcome. */
static inline int t_run(corio_fn fn, void *arg) {
    corio_runtime_options o = {.loops = 1, .stack_size = 64 * 1024, .no_pin = true};
    return corio_run_with(&o, fn, arg, NULL);
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel. */
static inline int t_listener(int backlog, uint16_t *port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, backlog), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return s;
}

static inline struct sockaddr_in t_addr(uint16_t port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

/* Ensure the fallback flag matches the loop-test index. */
static inline void t_mode(int fallback) { corio__io_force_fallback = fallback; }

#endif /* CORIO_T_IO_H */
