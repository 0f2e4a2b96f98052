/* corio — version. */
#ifndef CORIO_VERSION_H
#define CORIO_VERSION_H

#include "common.h"

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 1
#define CORIO_VERSION_PATCH 0
/** The version as (major << 16) | (minor << 8) | patch. */
#define CORIO_VERSION_HEX ((CORIO_VERSION_MAJOR << 16) | (CORIO_VERSION_MINOR << 8) | CORIO_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/** The runtime library's version string, e.g. "0.1.0". Static. */
CORIO_API const char *corio_version(void);

#ifdef __cplusplus
}
#endif
#endif
