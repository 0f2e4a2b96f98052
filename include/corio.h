/* corio — Python's concurrent.futures for C, on per-core io_uring loops with
 * stackful coroutines. Include this one header. */
#ifndef CORIO_H
#define CORIO_H

#include "corio/common.h"
#include "corio/error.h"
#include "corio/future.h"
#include "corio/executor.h"
#include "corio/io.h"
#include "corio/runtime.h"
#include "corio/sync.h"
#include "corio/scope.h"
#include "corio/metrics.h"
#include "corio/inspect.h"
#include "corio/version.h"

#endif /* CORIO_H */
