/* corio — error codes.
 *
 * Every corio call reports failure as a negative int. Where an errno value
 * fits, it is used negated (-ECANCELED, -ETIMEDOUT, -EINVAL, -ENOMEM, ...).
 * The codes below, all below -4096 and so outside the errno range, name the
 * failures errno has no word for. A task's own failure is whatever negative
 * code the task returned (CORIO_ETASK when it has none better), together
 * with a message kept by its future.
 */
#ifndef CORIO_ERROR_H
#define CORIO_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** corio's own error codes (negative, outside the errno range). */
enum corio_errc {
    /** The thread pool is broken: a worker's initializer failed (Python's
     *  BrokenThreadPool). Pending futures fail with it; submits are refused. */
    CORIO_EBROKEN_THREAD_POOL = -5001,
    /** The process pool is broken: a worker died or could not start
     *  (Python's BrokenProcessPool). */
    CORIO_EBROKEN_PROCESS_POOL = -5002,
    /** The operation is not valid in the future's current state (Python's
     *  InvalidStateError), e.g. set_result on a finished future. */
    CORIO_EINVALID_STATE = -5003,
    /** The executor has been shut down (Python's RuntimeError "cannot
     *  schedule new futures after shutdown"). */
    CORIO_ESHUTDOWN = -5004,
    /** A task failed without choosing a more specific code. */
    CORIO_ETASK = -5005,
    /** A message from a process-pool worker was corrupt or truncated. */
    CORIO_EPROTOCOL = -5006,
    /** The future was cancelled by executor shutdown(cancel_futures=true).
     *  Only corio_future_exception() reports it; result() reports -ECANCELED for every cancelled future, as Python
     *  raises CancelledError. */
    CORIO_ECANCELLED_BY_EXECUTOR = -5007,
    /** The MPI executor is broken: a worker rank died, exited during a job
     *  or an MPI call failed (the message names the rank). Pending futures
     *  fail with it; submits are refused. */
    CORIO_EBROKEN_MPI = -5008,

    /* Name resolution (corio/resolve.h): the getaddrinfo EAI_* space, in a
     * block of its own. -ENOMEM, -ETIMEDOUT, -ECANCELED and -EINVAL keep
     * their errno meaning there. */
    /** No such name (EAI_NONAME): the name, or with AI_NUMERICHOST the
     *  numeric address, does not exist (NXDOMAIN, not in the hosts file). */
    CORIO_EAI_NONAME = -5101,
    /** Temporary failure in name resolution (EAI_AGAIN): no server answered
     *  in time over all tries, or a server said SERVFAIL/REFUSED. */
    CORIO_EAI_AGAIN = -5102,
    /** Non-recoverable failure in name resolution (EAI_FAIL): a malformed or
     *  unexpected answer, an unusable configuration. */
    CORIO_EAI_FAIL = -5103,
    /** The service is unknown, or not available for the socket type, or a
     *  port number is out of range (EAI_SERVICE). */
    CORIO_EAI_SERVICE = -5104,
    /** The address family is not supported (EAI_FAMILY). */
    CORIO_EAI_FAMILY = -5105,
    /** The socket type is not supported (EAI_SOCKTYPE). */
    CORIO_EAI_SOCKTYPE = -5106,
    /** Invalid flags (EAI_BADFLAGS). */
    CORIO_EAI_BADFLAGS = -5107,
    /** The name exists but has no address of the requested family
     *  (EAI_NODATA). */
    CORIO_EAI_NODATA = -5108,
    /** A result did not fit the caller's buffer (EAI_OVERFLOW). */
    CORIO_EAI_OVERFLOW = -5109,
    /* streams (corio/stream.h) */
    /** The peer ended the stream in the middle of a frame: a line without
     *  its delimiter, fewer bytes than an exact read asked for. A clean end
     *  (before the first byte of a frame) is 0, not this. */
    CORIO_EUNEXPECTED_EOF = -5201,
    /* end streams */
    /* TLS (corio/tls.h); corio_tls_last_error gives OpenSSL's detail. */
    /** A certificate, key or CA file that cannot be read or parsed, a key
     *  that does not match its certificate, a cipher list OpenSSL rejects. */
    CORIO_ETLS_CONFIG = -5301,
    /** The peer's certificate was rejected: untrusted or expired chain,
     *  self-signed, or not valid for the name asked for. */
    CORIO_ETLS_VERIFY = -5302,
    /** The handshake failed: the peer sent an alert (it rejected our
     *  certificate, no common version or cipher...). */
    CORIO_ETLS_HANDSHAKE = -5303,
    /** The peer does not speak TLS, or broke the record protocol. */
    CORIO_ETLS_PROTOCOL = -5304,
    /* end TLS */
    /* HTTP (corio/http.h): -5401 to -5499; the client (corio/http_client.h)
     * uses -5401..-5449, the server -5450..-5499. */
    /** A malformed HTTP response: bad status line or field line, bare CR,
     *  obs-fold, conflicting Content-Length fields, Content-Length with
     *  Transfer-Encoding, bad chunk framing, a redirect's unusable
     *  Location. The connection is closed. */
    CORIO_EHTTP_PROTOCOL = -5401,
    /** The response head (status line and fields) exceeded the client's
     *  max_head_bytes or its field-line limit: the client's own limit,
     *  not a status the server sent. */
    CORIO_EHTTP_HEAD_TOO_LARGE = -5402,
    /** More redirects than the client's max_redirects. */
    CORIO_EHTTP_TOO_MANY_REDIRECTS = -5403,
    /** A body longer than the caller's limit (response collect). */
    CORIO_EHTTP_BODY_TOO_LARGE = -5404,
    /** The response uses what the client does not implement: a 101
     *  protocol switch it did not ask for, a transfer coding other than
     *  chunked around a framed body, an HTTP major version other than 1. */
    CORIO_EHTTP_UNSUPPORTED = -5405,
    /* end HTTP client */
};

/** A short human-readable description of `code` (any negative corio or
 *  -errno code; 0 gives "success"). The string is static: never free it. */
CORIO_API const char *corio_strerror(int code);

/** The symbolic name of `code`, e.g. "ETIMEDOUT" or "CORIO_ESHUTDOWN";
 *  "UNKNOWN" for codes corio does not know. Static string. */
CORIO_API const char *corio_error_name(int code);

/** Fail the current task with `code` and a printf-style message.
 *
 * Call from inside a corio_fn (thread pool, process pool or coroutine) and
 * return its result: `return corio_task_fail(-ENOENT, "no %s", path);`.
 * The message is copied into thread-local storage and handed to the task's
 * future when the task returns; it is truncated at 1023 bytes. Returns
 * `code`, or CORIO_ETASK if `code` is not negative. */
CORIO_API int corio_task_fail(int code, const char *fmt, ...) CORIO_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_ERROR_H */
