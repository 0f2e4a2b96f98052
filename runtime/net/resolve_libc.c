/* corio — the resolver's libc side: result lists in corio's allocation,
 * the EAI_* mapping, the nsswitch.conf check, and libc getaddrinfo /
 * getnameinfo run on the blocking pool.
 *
 * Why a pool: glibc's resolver blocks its thread (NSS modules such as
 * mdns, myhostname, systemd-resolved or LDAP can take seconds), so on a
 * loop thread it would stall every coroutine of the loop. corio_to_thread
 * runs it on the runtime's blocking pool and the coroutine awaits the
 * future, suspended.
 *
 * Abandoning a job (timeout, cancel): glibc's call cannot be interrupted,
 * so the job runs to its end in the background. Its record is shared by
 * the waiter and a done-callback of the job's future, with a reference
 * count of 2 (acq_rel on the decrement: the last owner sees every write of
 * the other before it frees): whoever drops the last reference frees the
 * record and a result nobody took. The future's completion orders the
 * job's writes before the waiter's reads.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "corio/future.h"
#include "corio/runtime.h"
#include "fault.h"
#include "internal.h"
#include "resolve_internal.h"

/* ---- result lists ---- */

int corio__eai_code(int eai, int err) {
    switch (eai) {
    case 0: return 0;
    case EAI_NONAME: return CORIO_EAI_NONAME;
    case EAI_AGAIN: return CORIO_EAI_AGAIN;
    case EAI_FAIL: return CORIO_EAI_FAIL;
    case EAI_SERVICE: return CORIO_EAI_SERVICE;
    case EAI_FAMILY: return CORIO_EAI_FAMILY;
    case EAI_SOCKTYPE: return CORIO_EAI_SOCKTYPE;
    case EAI_BADFLAGS: return CORIO_EAI_BADFLAGS;
    case EAI_NODATA: return CORIO_EAI_NODATA;
    case EAI_ADDRFAMILY: return CORIO_EAI_NODATA;
    case EAI_OVERFLOW: return CORIO_EAI_OVERFLOW;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SYSTEM: return err > 0 ? -err : CORIO_EAI_FAIL;
    default: return CORIO_EAI_FAIL;
    }
}

struct addrinfo *corio__ai_node(int family, int socktype, int protocol,
                                const struct sockaddr *addr, socklen_t addrlen) {
    /* The address lives in the same allocation, right after the node. */
    struct addrinfo *n = corio__calloc(1, sizeof *n + addrlen);
    if (!n)
        return NULL;
    n->ai_family = family;
    n->ai_socktype = socktype;
    n->ai_protocol = protocol;
    n->ai_addrlen = addrlen;
    n->ai_addr = (struct sockaddr *)(void *)(n + 1);
    memcpy(n->ai_addr, addr, addrlen);
    return n;
}

CORIO_API void corio_freeaddrinfo(struct addrinfo *res) {
    while (res) {
        struct addrinfo *next = res->ai_next;
        free(res->ai_canonname);
        free(res);
        res = next;
    }
}

int corio__ai_copy(const struct addrinfo *src, struct addrinfo **out) {
    struct addrinfo *head = NULL, **tail = &head;
    for (; src; src = src->ai_next) {
        struct addrinfo *n = corio__ai_node(src->ai_family, src->ai_socktype, src->ai_protocol,
                                            src->ai_addr, src->ai_addrlen);
        if (n && src->ai_canonname && !(n->ai_canonname = corio__strdup(src->ai_canonname))) {
            free(n);
            n = NULL;
        }
        if (!n) {
            corio_freeaddrinfo(head);
            return -ENOMEM;
        }
        n->ai_flags = src->ai_flags;
        *tail = n;
        tail = &n->ai_next;
    }
    *out = head;
    return 0;
}

/* ---- nsswitch.conf ---- */

static int nss_libc;
static pthread_once_t nss_once = PTHREAD_ONCE_INIT;

/* Reads the hosts line once per process: a small local file, read on the
 * caller's thread (as c-ares itself reads resolv.conf and nsswitch.conf). */
static void nss_read(void) {
    FILE *f = fopen("/etc/nsswitch.conf", "re");
    if (!f)
        return; /* glibc's default is "dns files": c-ares serves it */
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, "hosts:", 6) != 0)
            continue;
        p += 6;
        char *save = NULL;
        int in_action = 0;
        for (char *t = strtok_r(p, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
            if (*t == '#')
                break;
            /* "[NOTFOUND=return]" are actions, not sources; they may hold
             * blanks, so skip to the closing bracket. */
            if (in_action || *t == '[') {
                in_action = strchr(t, ']') == NULL;
                continue;
            }
            if (strcmp(t, "files") != 0 && strcmp(t, "dns") != 0)
                nss_libc = 1;
        }
    }
    fclose(f);
}

int corio__nss_needs_libc(void) {
    pthread_once(&nss_once, nss_read);
    return nss_libc;
}

/* ---- libc on the blocking pool ---- */

/* One job; shared by the waiter and the job's done-callback. */
typedef struct libc_job {
    _Atomic int refs;          /* 2 at start: the waiter and the done-callback */
    int is_name;               /* getnameinfo (1) or getaddrinfo (0) */
    char *host, *service;      /* getaddrinfo's copies (NULL when NULL) */
    struct addrinfo hints;     /* getaddrinfo's hints (flags/family/type/protocol only) */
    int has_hints;             /* hints were given */
    struct sockaddr_storage sa; /* getnameinfo's address */
    socklen_t salen;           /* its length */
    int flags;                 /* getnameinfo's flags */
    size_t hostlen, servlen;   /* the caller's buffer sizes (0: not wanted) */
    char hbuf[NI_MAXHOST];     /* getnameinfo's results */
    char sbuf[NI_MAXSERV];
    int rc;                    /* the outcome as a corio code */
    struct addrinfo *res;      /* getaddrinfo's result (corio's allocation) until taken */
} libc_job;

static void job_unref(libc_job *j) {
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    corio_freeaddrinfo(j->res);
    free(j->host);
    free(j->service);
    free(j);
}

static int job_done(corio_future *f, void *arg) {
    (void)f;
    job_unref(arg);
    return 0;
}

static int job_run(void *arg, corio_value *out) {
    (void)out;
    libc_job *j = arg;
    int saved = errno;
    if (j->is_name) {
        int e = getnameinfo((struct sockaddr *)&j->sa, j->salen, j->hostlen ? j->hbuf : NULL,
                            j->hostlen ? sizeof j->hbuf : 0, j->servlen ? j->sbuf : NULL,
                            j->servlen ? sizeof j->sbuf : 0, j->flags);
        j->rc = corio__eai_code(e, errno);
    } else {
        struct addrinfo *r = NULL;
        int e = getaddrinfo(j->host, j->service, j->has_hints ? &j->hints : NULL, &r);
        j->rc = corio__eai_code(e, errno);
        if (e == 0) {
            j->rc = corio__ai_copy(r, &j->res);
            freeaddrinfo(r);
        }
    }
    errno = saved;
    return 0;
}

/* Submit j and wait for it; 0 when it ran (j->rc holds its outcome). The
 * caller drops its reference afterwards in every case. */
static int job_wait(libc_job *j, int64_t deadline) {
    atomic_init(&j->refs, 2);
    int err = 0;
    corio_future *f = corio_to_thread(job_run, j, &err);
    if (!f) {
        atomic_store_explicit(&j->refs, 1, memory_order_relaxed); /* the caller's */
        return err < 0 ? err : -ENOMEM;
    }
    if (corio_future_add_done_callback(f, job_done, j) < 0) {
        /* No callback: wait for the job without a limit, then free. */
        corio_future_result(f, CORIO_FOREVER, NULL);
        corio_future_unref(f);
        atomic_store_explicit(&j->refs, 1, memory_order_relaxed);
        return -ENOMEM;
    }
    double left = -1;
    if (deadline != INT64_MAX) {
        int64_t d = deadline - corio__now_ns();
        left = d > 0 ? (double)d / 1e9 : 0;
    }
    int r = corio_future_result(f, left, NULL);
    corio_future_unref(f);
    return r;
}

int corio__libc_getaddrinfo(const char *host, const char *service,
                            const struct addrinfo *hints, int64_t deadline,
                            struct addrinfo **res) {
    libc_job *j = corio__calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    if ((host && !(j->host = corio__strdup(host))) ||
        (service && !(j->service = corio__strdup(service)))) {
        free(j->host);
        free(j);
        return -ENOMEM;
    }
    if (hints) {
        j->has_hints = 1;
        j->hints.ai_flags = hints->ai_flags;
        j->hints.ai_family = hints->ai_family;
        j->hints.ai_socktype = hints->ai_socktype;
        j->hints.ai_protocol = hints->ai_protocol;
    }
    int r = job_wait(j, deadline);
    if (r == 0) {
        r = j->rc;
        *res = j->res;
        j->res = NULL;
    }
    job_unref(j);
    return r;
}

int corio__libc_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                            size_t hostlen, char *serv, size_t servlen, int flags,
                            int64_t deadline) {
    libc_job *j = corio__calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->is_name = 1;
    memcpy(&j->sa, sa, salen);
    j->salen = salen;
    j->flags = flags;
    j->hostlen = host ? hostlen : 0;
    j->servlen = serv ? servlen : 0;
    int r = job_wait(j, deadline);
    if (r == 0 && (r = j->rc) == 0) {
        if ((host && strlen(j->hbuf) >= hostlen) || (serv && strlen(j->sbuf) >= servlen))
            r = CORIO_EAI_OVERFLOW;
        else {
            if (host)
                strcpy(host, j->hbuf);
            if (serv)
                strcpy(serv, j->sbuf);
        }
    }
    job_unref(j);
    return r;
}
