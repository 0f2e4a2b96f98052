/* Shared helpers of the TLS suites: a throw-away PKI made at test time by
 * tests/tls/make_certs.sh (the openssl command line) in a fresh temporary
 * directory, removed at the end. Nothing secret is ever committed. */
#ifndef CORIO_T_TLS_H
#define CORIO_T_TLS_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef T_TLS_MAKE_CERTS
#error "T_TLS_MAKE_CERTS (the path of tests/tls/make_certs.sh) must be defined"
#endif

/* The PKI's directory (set before the forked tests start). */
static char t_tls_dir[256];

/* Make the PKI. Returns 0, or 77 (skip) when openssl is not installed. */
static inline int t_tls_make_pki(void) {
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "openssl not installed: skipped\n");
        return 77;
    }
    snprintf(t_tls_dir, sizeof t_tls_dir, "/tmp/corio-tls-XXXXXX");
    if (!mkdtemp(t_tls_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "bash '%s' '%s'", T_TLS_MAKE_CERTS, t_tls_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "make_certs.sh failed\n");
        exit(1);
    }
    return 0;
}

static inline void t_tls_remove_pki(void) {
    if (!t_tls_dir[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_tls_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t_tls_dir);
}

/* At the start of each test: the PKI is there. */
static inline void t_tls_setup(void) { ck_assert_msg(t_tls_dir[0], "no PKI"); }

/* The path of one of the PKI's files: "<dir>/<name>.<ext>". */
static inline void t_tls_file(char *buf, size_t n, const char *name, const char *ext) {
    snprintf(buf, n, "%s/%s.%s", t_tls_dir, name, ext);
}

#endif /* CORIO_T_TLS_H */
