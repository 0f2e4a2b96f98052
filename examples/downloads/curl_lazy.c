/* corio-downloads — libcurl, loaded when first needed.
 *
 * Linking libcurl costs every run of the tool about 7 ms before main()
 * (the dynamic loader maps and relocates libcurl and its ~30 libraries:
 * OpenSSL, GnuTLS, Kerberos, LDAP...), against 1.6 ms for a program that
 * links corio alone. That is a fifth of a 1000-file download in coro mode,
 * which with the native client never calls libcurl at all. So the tool is
 * not linked with libcurl: this file defines the libcurl functions it uses,
 * and the first call of any of them loads libcurl.so.4 with dlopen, runs
 * curl_global_init once, and forwards. Modes that use libcurl (seq,
 * threads, procs, coro with --coro-client curl or an https:// URL) load it
 * before they start (dl_curl_load), so that process-pool workers inherit
 * it and no transfer pays for the load.
 *
 * When libcurl cannot be loaded, every function fails the way libcurl
 * reports failure (NULL handles, CURLE_FAILED_INIT) and dl_curl_error()
 * says why; the native client keeps working.
 */
#define CURL_DISABLE_TYPECHECK 1 /* the definitions below take the raw varargs */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downloads.h"

/* The entry points, resolved once. */
static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    const char *(*multi_strerror)(CURLMcode);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void *lib;          /* the dlopen handle, NULL if loading failed */
static char why[256];      /* why loading failed */

static void load(void) {
    /* CORIO_DOWNLOADS_LIBCURL names another library file (tests use it to
     * check what happens when libcurl is missing). */
    const char *name = getenv("CORIO_DOWNLOADS_LIBCURL");
    if (!name || !*name)
        name = "libcurl.so.4";
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "libcurl could not be loaded (%s); "
                 "install it (Debian: apt-get install libcurl4)", e ? e : "dlopen failed");
        return;
    }
    /* POSIX lets a void * from dlsym be converted to a function pointer;
     * ISO C does not, hence the memcpy. */
#define SYM(field, name)                                                       \
    do {                                                                       \
        void *s = dlsym(lib, name);                                            \
        if (!s) {                                                              \
            snprintf(why, sizeof why, "libcurl.so.4 has no %s", name);         \
            goto fail;                                                         \
        }                                                                      \
        memcpy(&fn.field, &s, sizeof s);                                       \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(global_cleanup, "curl_global_cleanup");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_reset, "curl_easy_reset");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(multi_init, "curl_multi_init");
    SYM(multi_add_handle, "curl_multi_add_handle");
    SYM(multi_remove_handle, "curl_multi_remove_handle");
    SYM(multi_cleanup, "curl_multi_cleanup");
    SYM(multi_info_read, "curl_multi_info_read");
    SYM(multi_setopt, "curl_multi_setopt");
    SYM(multi_assign, "curl_multi_assign");
    SYM(multi_socket_action, "curl_multi_socket_action");
    SYM(multi_strerror, "curl_multi_strerror");
#undef SYM
    if (fn.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, sizeof why, "curl_global_init failed");
        goto fail;
    }
    return;
fail:
    dlclose(lib);
    lib = NULL;
    memset(&fn, 0, sizeof fn);
}

/* Every entry point goes through here: after pthread_once returns, `lib`
 * and `fn` are written once and only read, by any thread. */
static int loaded(void) {
    pthread_once(&once, load);
    return lib != NULL;
}

int dl_curl_load(void) {
    return loaded() ? 0 : -1;
}

const char *dl_curl_error(void) {
    return loaded() ? "" : why;
}

void dl_curl_unload(void) {
    /* Only if something loaded it; libcurl itself stays mapped (its
     * atexit handlers and thread-locals may still refer to it). */
    if (lib)
        fn.global_cleanup();
}

/* ---- the functions the tool calls -------------------------------------- */

CURLcode curl_global_init(long flags) {
    (void)flags; /* done once by load(), with CURL_GLOBAL_DEFAULT */
    return loaded() ? CURLE_OK : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void) {
    dl_curl_unload();
}

CURL *curl_easy_init(void) {
    return loaded() ? fn.easy_init() : NULL;
}

/* curl_easy_setopt and curl_multi_setopt take one argument whose type
 * follows from the option number's range (CURLOPTTYPE_*, the same ranges
 * for both): read it with that type and pass it on with the same type. */
#define FORWARD_OPTION(rc, real, handle, opt, ap)                              \
    switch ((int)(opt) / 10000 * 10000) {                                      \
    case CURLOPTTYPE_LONG:                                                     \
        rc = real(handle, opt, va_arg(ap, long));                              \
        break;                                                                 \
    case CURLOPTTYPE_OFF_T:                                                    \
        rc = real(handle, opt, va_arg(ap, curl_off_t));                        \
        break;                                                                 \
    case CURLOPTTYPE_FUNCTIONPOINT:                                            \
        rc = real(handle, opt, va_arg(ap, void (*)(void)));                    \
        break;                                                                 \
    default: /* object pointers, strings, slists, blobs */                     \
        rc = real(handle, opt, va_arg(ap, void *));                            \
        break;                                                                 \
    }

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...) {
    if (!loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    FORWARD_OPTION(rc, fn.easy_setopt, h, opt, ap)
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...) {
    if (!loaded())
        return CURLM_INTERNAL_ERROR;
    va_list ap;
    va_start(ap, opt);
    CURLMcode rc;
    FORWARD_OPTION(rc, fn.multi_setopt, m, opt, ap)
    va_end(ap);
    return rc;
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
    if (!loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fn.easy_getinfo(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_perform(CURL *h) {
    return loaded() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *h) {
    if (loaded())
        fn.easy_cleanup(h);
}

void curl_easy_reset(CURL *h) {
    if (loaded())
        fn.easy_reset(h);
}

const char *curl_easy_strerror(CURLcode c) {
    return loaded() ? fn.easy_strerror(c) : why;
}

CURLM *curl_multi_init(void) {
    return loaded() ? fn.multi_init() : NULL;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h) {
    return loaded() ? fn.multi_add_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h) {
    return loaded() ? fn.multi_remove_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_cleanup(CURLM *m) {
    return loaded() ? fn.multi_cleanup(m) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left) {
    if (loaded())
        return fn.multi_info_read(m, left);
    *left = 0;
    return NULL;
}

CURLMcode curl_multi_assign(CURLM *m, curl_socket_t s, void *p) {
    return loaded() ? fn.multi_assign(m, s, p) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running) {
    return loaded() ? fn.multi_socket_action(m, s, ev, running) : CURLM_INTERNAL_ERROR;
}

const char *curl_multi_strerror(CURLMcode c) {
    return loaded() ? fn.multi_strerror(c) : why;
}
