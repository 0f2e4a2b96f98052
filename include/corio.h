/* corio — Python's concurrent.futures for C, on per-core io_uring loops with
 * stackful coroutines. Include this one header.
 *
 * The headers use POSIX types (pid_t, ssize_t, sigset_t, socklen_t): with
 * glibc, compile as gnu11 (the default) or, for strict -std=c11, define
 * _POSIX_C_SOURCE=200809L (or _GNU_SOURCE) before any include. */
#ifndef CORIO_H
#define CORIO_H

#include "corio/common.h"
#include "corio/error.h"
#include "corio/future.h"
#include "corio/http.h"
#include "corio/http_client.h"
#include "corio/http_server.h"
#include "corio/executor.h"
#include "corio/io.h"
#include "corio/inspect.h"
#include "corio/metrics.h"
#include "corio/mpi.h"
#include "corio/net.h"
#include "corio/process.h"
#include "corio/resolve.h"
#include "corio/runtime.h"
#include "corio/scope.h"
#include "corio/sendfile.h"
#include "corio/signal.h"
#include "corio/stream.h"
#include "corio/sync.h"
#include "corio/tls.h"
#include "corio/udp.h"
#include "corio/version.h"

#endif /* CORIO_H */
