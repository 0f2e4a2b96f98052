/* corio — fault injection: fail the Nth resource acquisition after arming.
 *
 * Built only with -Dfault_injection=true (config.h: CORIO_FAULT_INJECTION).
 * Every allocation of the library (malloc, calloc, realloc, aligned_alloc,
 * strdup) goes through the corio__ wrappers below, and so do the other
 * acquisitions whose failure a caller must survive: coroutine stack mappings
 * (mmap: ENOMEM), descriptors (eventfd, epoll_create1, socketpair: EMFILE)
 * and threads (pthread_create: EAGAIN). Each call of a wrapper is one
 * "fault point".
 *
 * A test arms the counter with corio__fault_arm(n): the n-th fault point
 * reached from then on, by any thread of the process, fails as the system
 * call would (NULL or -1 with errno set); every other one proceeds. Only one
 * point fails per arming, so a sweep over n = 1, 2, ... exercises each error
 * path on its own. corio__fault_count() says how many points were reached
 * since arming: an operation that finishes with count < n never met the
 * fault, which ends the sweep. corio__fault_arm_from(n) makes the n-th point
 * and every later one fail (memory exhausted for good rather than a passing
 * shortage): that finds the paths whose recovery itself allocates. A
 * forked child (the process pool's fork
 * server and workers) starts disarmed.
 *
 * With fault injection off the wrappers are macros for the plain calls: the
 * release build is byte-for-byte the code it was. */
#ifndef CORIO_FAULT_H
#define CORIO_FAULT_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#ifdef CORIO_FAULT_INJECTION
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Arm: the n-th fault point from now fails (n >= 1); resets the count. */
void corio__fault_arm(unsigned long n);
/* Arm: the n-th fault point from now and every later one fail. */
void corio__fault_arm_from(unsigned long n);
/* Disarm: no point fails; the count keeps running. */
void corio__fault_disarm(void);
/* Fault points reached since the last arm. */
unsigned long corio__fault_count(void);
/* Did a point fail since arming? */
int corio__fault_fired(void);
/* Count one fault point; 1 if it must fail (errno is then set to err). */
int corio__fault_hit(int err);

static inline void *corio__malloc(size_t n) {
    return corio__fault_hit(ENOMEM) ? NULL : malloc(n);
}
static inline void *corio__calloc(size_t n, size_t size) {
    return corio__fault_hit(ENOMEM) ? NULL : calloc(n, size);
}
static inline void *corio__realloc(void *p, size_t n) {
    return corio__fault_hit(ENOMEM) ? NULL : realloc(p, n);
}
static inline void *corio__aligned_alloc(size_t align, size_t n) {
    return corio__fault_hit(ENOMEM) ? NULL : aligned_alloc(align, n);
}
static inline char *corio__strdup(const char *s) {
    return corio__fault_hit(ENOMEM) ? NULL : strdup(s);
}
static inline void *corio__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return corio__fault_hit(ENOMEM) ? MAP_FAILED : mmap(addr, len, prot, flags, fd, off);
}
static inline int corio__eventfd(unsigned int initval, int flags) {
    return corio__fault_hit(EMFILE) ? -1 : eventfd(initval, flags);
}
static inline int corio__epoll_create1(int flags) {
    return corio__fault_hit(EMFILE) ? -1 : epoll_create1(flags);
}
static inline int corio__socketpair(int domain, int type, int protocol, int sv[2]) {
    return corio__fault_hit(EMFILE) ? -1 : socketpair(domain, type, protocol, sv);
}
static inline int corio__pipe2(int fds[2], int flags) {
    return corio__fault_hit(EMFILE) ? -1 : pipe2(fds, flags);
}
/* Returns an error number, like pthread_create. */
static inline int corio__pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                        void *(*fn)(void *), void *arg) {
    return corio__fault_hit(EAGAIN) ? EAGAIN : pthread_create(t, attr, fn, arg);
}
#else
#define corio__malloc(n) malloc(n)
#define corio__calloc(n, size) calloc(n, size)
#define corio__realloc(p, n) realloc(p, n)
#define corio__aligned_alloc(align, n) aligned_alloc(align, n)
#define corio__strdup(s) strdup(s)
#define corio__mmap(addr, len, prot, flags, fd, off) mmap(addr, len, prot, flags, fd, off)
#define corio__eventfd(initval, flags) eventfd(initval, flags)
#define corio__epoll_create1(flags) epoll_create1(flags)
#define corio__socketpair(domain, type, protocol, sv) socketpair(domain, type, protocol, sv)
#define corio__pipe2(fds, flags) pipe2(fds, flags)
#define corio__pthread_create(t, attr, fn, arg) pthread_create(t, attr, fn, arg)
#endif

#endif /* CORIO_FAULT_H */
