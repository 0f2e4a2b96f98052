/* corio — error codes, their names, task failure messages, logging. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "internal.h"
#include "corio/version.h"

CORIO_API const char *corio_version(void) { return CORIO_VERSION_STRING; }

/* Names of the errno values corio calls commonly return; strerror covers
 * the text of any other. */
static const struct {
    int code;
    const char *name;
} errno_names[] = {
    {EPERM, "EPERM"},         {ENOENT, "ENOENT"},       {EINTR, "EINTR"},
    {EIO, "EIO"},             {EBADF, "EBADF"},         {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},       {EACCES, "EACCES"},       {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},         {EEXIST, "EEXIST"},       {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},       {EMFILE, "EMFILE"},       {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},         {ERANGE, "ERANGE"},       {ENOSYS, "ENOSYS"},
    {ENOTSUP, "ENOTSUP"},     {EADDRINUSE, "EADDRINUSE"}, {ECONNRESET, "ECONNRESET"},
    {ECONNREFUSED, "ECONNREFUSED"}, {ETIMEDOUT, "ETIMEDOUT"}, {ECANCELED, "ECANCELED"},
    {EPROTO, "EPROTO"},       {EMSGSIZE, "EMSGSIZE"},   {ENOTCONN, "ENOTCONN"},
    {EALREADY, "EALREADY"},   {EINPROGRESS, "EINPROGRESS"}, {ECHILD, "ECHILD"},
    {ESRCH, "ESRCH"},         {E2BIG, "E2BIG"},         {EOVERFLOW, "EOVERFLOW"},
};

static const struct {
    int code;
    const char *name;
    const char *text;
} corio_codes[] = {
    {CORIO_EBROKEN_THREAD_POOL, "CORIO_EBROKEN_THREAD_POOL",
     "thread pool is broken: a worker failed to initialize"},
    {CORIO_EBROKEN_PROCESS_POOL, "CORIO_EBROKEN_PROCESS_POOL",
     "process pool is broken: a worker process died or failed to start"},
    {CORIO_EINVALID_STATE, "CORIO_EINVALID_STATE", "invalid state for this operation"},
    {CORIO_ESHUTDOWN, "CORIO_ESHUTDOWN", "cannot schedule new futures after shutdown"},
    {CORIO_ETASK, "CORIO_ETASK", "task failed"},
    {CORIO_EPROTOCOL, "CORIO_EPROTOCOL", "corrupt or truncated message from a worker"},
    {CORIO_ECANCELLED_BY_EXECUTOR, "CORIO_ECANCELLED_BY_EXECUTOR",
     "cancelled by executor shutdown"},
    {CORIO_EBROKEN_MPI, "CORIO_EBROKEN_MPI",
     "MPI executor is broken: a worker rank died or an MPI call failed"},
    {CORIO_EAI_NONAME, "CORIO_EAI_NONAME", "name or service not known"},
    {CORIO_EAI_AGAIN, "CORIO_EAI_AGAIN", "temporary failure in name resolution"},
    {CORIO_EAI_FAIL, "CORIO_EAI_FAIL", "non-recoverable failure in name resolution"},
    {CORIO_EAI_SERVICE, "CORIO_EAI_SERVICE", "service not supported for this socket type"},
    {CORIO_EAI_FAMILY, "CORIO_EAI_FAMILY", "address family not supported"},
    {CORIO_EAI_SOCKTYPE, "CORIO_EAI_SOCKTYPE", "socket type not supported"},
    {CORIO_EAI_BADFLAGS, "CORIO_EAI_BADFLAGS", "bad value for resolver flags"},
    {CORIO_EAI_NODATA, "CORIO_EAI_NODATA", "no address associated with the name"},
    {CORIO_EAI_OVERFLOW, "CORIO_EAI_OVERFLOW", "result too large for the buffer"},
    /* streams */
    {CORIO_EUNEXPECTED_EOF, "CORIO_EUNEXPECTED_EOF", "stream ended in the middle of a frame"},
    {CORIO_ETLS_CONFIG, "CORIO_ETLS_CONFIG", "TLS configuration rejected (certificate, key, CA or cipher list)"},
    {CORIO_ETLS_VERIFY, "CORIO_ETLS_VERIFY", "TLS peer certificate verification failed"},
    {CORIO_ETLS_HANDSHAKE, "CORIO_ETLS_HANDSHAKE", "TLS handshake failed"},
    {CORIO_ETLS_PROTOCOL, "CORIO_ETLS_PROTOCOL", "TLS protocol error: the peer does not speak TLS"},
    /* end streams */
    /* HTTP client */
    {CORIO_EHTTP_PROTOCOL, "CORIO_EHTTP_PROTOCOL", "malformed HTTP response"},
    {CORIO_EHTTP_HEAD_TOO_LARGE, "CORIO_EHTTP_HEAD_TOO_LARGE",
     "HTTP response head larger than the client's limit"},
    {CORIO_EHTTP_TOO_MANY_REDIRECTS, "CORIO_EHTTP_TOO_MANY_REDIRECTS", "too many HTTP redirects"},
    {CORIO_EHTTP_BODY_TOO_LARGE, "CORIO_EHTTP_BODY_TOO_LARGE",
     "HTTP response body larger than the caller's limit"},
    {CORIO_EHTTP_UNSUPPORTED, "CORIO_EHTTP_UNSUPPORTED",
     "HTTP response uses a feature the client does not support"},
    /* end HTTP client */
};

CORIO_API const char *corio_strerror(int code) {
    if (code >= 0)
        return "success";
    for (size_t i = 0; i < sizeof corio_codes / sizeof corio_codes[0]; i++)
        if (corio_codes[i].code == code)
            return corio_codes[i].text;
    if (code > -4096) {
        /* strerror's table is static for known codes in glibc; strerrordesc_np
         * is the thread-safe form. */
        const char *s = strerrordesc_np(-code);
        return s ? s : "unknown error";
    }
    return "unknown error";
}

CORIO_API const char *corio_error_name(int code) {
    if (code == 0)
        return "OK";
    for (size_t i = 0; i < sizeof corio_codes / sizeof corio_codes[0]; i++)
        if (corio_codes[i].code == code)
            return corio_codes[i].name;
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (-errno_names[i].code == code)
            return errno_names[i].name;
    if (code < 0 && code > -4096) {
        const char *s = strerrorname_np(-code);
        if (s)
            return s;
    }
    return "UNKNOWN";
}

/* The failure message of the task running on this thread. A coroutine's
 * message is copied into its future before it can be suspended again, so a
 * per-thread buffer is enough. It is taken from the heap at the thread's
 * first message (freed when the thread exits) rather than declared
 * thread-local: the library's thread-local block lives in static TLS (its
 * hot variables are initial-exec, see CORIO__TLS_HOT), which must stay
 * well under glibc's reserve for libraries loaded with dlopen (about
 * 1.7 KiB). Without memory for it, the message is left empty. */
#define TASK_MSG_CAP 1024
static CORIO__TLS_HOT char *task_msg;
static pthread_key_t task_msg_key;
static pthread_once_t task_msg_once = PTHREAD_ONCE_INIT;

static void task_msg_key_make(void) { pthread_key_create(&task_msg_key, free); }

static char *task_msg_buf(void) {
    if (!task_msg) {
        pthread_once(&task_msg_once, task_msg_key_make);
        char *b = malloc(TASK_MSG_CAP);
        if (!b)
            return NULL;
        b[0] = '\0';
        pthread_setspecific(task_msg_key, b);
        task_msg = b;
    }
    return task_msg;
}

CORIO_API int corio_task_fail(int code, const char *fmt, ...) {
    if (code >= 0)
        code = CORIO_ETASK;
    char *b = task_msg_buf();
    if (b) {
        b[0] = '\0';
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(b, TASK_MSG_CAP, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

void corio__task_msg_clear(void) {
    if (task_msg)
        task_msg[0] = '\0';
}
const char *corio__task_msg(void) { return task_msg ? task_msg : ""; }

void corio__log(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    fprintf(stderr, "corio: %s\n", buf);
}

int64_t corio__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t corio__deadline(double timeout) {
    if (timeout < 0 || timeout != timeout)
        return corio__scope_clip(INT64_MAX);
    if (timeout > 9.0e9) /* ~285 years: treat as forever rather than overflow */
        return corio__scope_clip(INT64_MAX);
    return corio__scope_clip(corio__now_ns() + (int64_t)(timeout * 1e9));
}
