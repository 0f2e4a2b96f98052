/* The shared library, loaded at run time with dlopen, as a language binding
 * (Python's ctypes, say) loads it.
 *
 * The library's hot thread-locals use the initial-exec TLS model
 * (runtime/internal.h, CORIO__TLS_HOT): a library loaded after start-up
 * must then find room for them in glibc's small static TLS reserve, or
 * dlopen fails with "cannot allocate memory in static TLS block". This
 * suite is the one that does not link corio: it loads build's libcorio.so
 * (CORIO_SO_PATH) and drives coroutines, joins and a thread pool through
 * it, from the loop threads and the main thread, then unloads it. */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>

#include "corio.h"
#include "t_helpers.h"

/* The library's functions, looked up with dlsym. */
static struct {
    void *so;
    __typeof__(corio_runtime_create) *runtime_create;
    __typeof__(corio_runtime_destroy) *runtime_destroy;
    __typeof__(corio_spawn_on) *spawn_on;
    __typeof__(corio_spawn) *spawn;
    __typeof__(corio_future_result) *result;
    __typeof__(corio_future_unref) *unref;
    __typeof__(corio_thread_pool_create) *pool_create;
    __typeof__(corio_executor_submit) *submit;
    __typeof__(corio_executor_shutdown) *shutdown;
    __typeof__(corio_executor_destroy) *destroy;
} lib;

/* dlsym returns an object pointer; POSIX guarantees it converts to a
 * function pointer, ISO C does not, hence the copy. */
static void sym(void *fnptr, size_t size, const char *name) {
    void *p = dlsym(lib.so, name);
    ck_assert_msg(p != NULL, "dlsym %s: %s", name, dlerror());
    ck_assert_uint_eq(size, sizeof p);
    memcpy(fnptr, &p, sizeof p);
}
#define SYM(field, name) sym(&lib.field, sizeof lib.field, name)

/* The size of the loaded library's thread-local block (PT_TLS), which
 * lives in the static reserve because of its initial-exec variables. */
static int tls_of(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    if (!strstr(info->dlpi_name, "libcorio.so"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS)
            *(size_t *)arg = info->dlpi_phdr[i].p_memsz;
    return 1;
}

static void load(void) {
    lib.so = dlopen(CORIO_SO_PATH, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib.so != NULL, "dlopen %s: %s", CORIO_SO_PATH, dlerror());
    /* glibc's reserve is about 1.7 KiB for every library loaded late
     * together: corio keeps well under half of it, so that a program which
     * loads other such libraries (or an older glibc) still has room. */
    size_t tls = SIZE_MAX;
    dl_iterate_phdr(tls_of, &tls);
    ck_assert_msg(tls <= 768, "libcorio's thread-local block is %zu bytes (at most 768)", tls);
    SYM(runtime_create, "corio_runtime_create");
    SYM(runtime_destroy, "corio_runtime_destroy");
    SYM(spawn_on, "corio_spawn_on");
    SYM(spawn, "corio_spawn");
    SYM(result, "corio_future_result");
    SYM(unref, "corio_future_unref");
    SYM(pool_create, "corio_thread_pool_create");
    SYM(submit, "corio_executor_submit");
    SYM(shutdown, "corio_executor_shutdown");
    SYM(destroy, "corio_executor_destroy");
}

static int child(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg * 2);
    return 0;
}

static int job(void *arg, corio_value *out) {
    out->ptr = (void *)((uintptr_t)arg + 1);
    return 0;
}

/* Wait for f, drop it and add its result to *sum; 0 or the failure. */
static int take(corio_future *f, int err, uint64_t *sum) {
    if (!f)
        return err;
    void *v = NULL;
    int r = lib.result(f, 10.0, &v);
    lib.unref(f);
    *sum += (uint64_t)(uintptr_t)v;
    return r;
}

/* On a loop: spawn and join 1000 children one by one, then await 100
 * thread-pool jobs; returns the sum of what they gave. */
static int parent(void *arg, corio_value *out) {
    corio_executor *pool = arg;
    uint64_t sum = 0;
    int r = 0, err = 0;
    for (uintptr_t i = 0; i < 1000 && r == 0; i++)
        r = take(lib.spawn(child, (void *)i, &err), err, &sum);
    for (uintptr_t i = 0; i < 100 && r == 0; i++)
        r = take(lib.submit(pool, job, (void *)i, &err), err, &sum);
    out->ptr = (void *)(uintptr_t)sum;
    return r;
}

START_TEST(test_dlopen_runs_coroutines_and_pools) {
    load();
    corio_thread_pool_options po = {.max_workers = 2};
    corio_executor *pool = NULL;
    ck_assert_int_eq(lib.pool_create(&po, &pool), 0);
    corio_runtime_options ro = {.loops = 2};
    corio_runtime *rt = NULL;
    ck_assert_int_eq(lib.runtime_create(&ro, &rt), 0);
    corio_future *fs[2];
    for (int k = 0; k < 2; k++) {
        int err = 0;
        fs[k] = lib.spawn_on(rt, k, parent, pool, NULL, &err);
        ck_assert_msg(fs[k] != NULL, "spawn_on: %d", err);
    }
    /* 2 * (0 + ... + 999) from the children, 1 + ... + 100 from the jobs. */
    const uint64_t want = 999000 + 5050;
    for (int k = 0; k < 2; k++) {
        void *v = NULL;
        ck_assert_int_eq(lib.result(fs[k], 60.0, &v), 0);
        ck_assert_uint_eq((uint64_t)(uintptr_t)v, want);
        lib.unref(fs[k]);
    }
    /* The main thread uses the pool too (a plain thread, not a loop). */
    int err = 0;
    corio_future *f = lib.submit(pool, job, (void *)41, &err);
    ck_assert_ptr_nonnull(f);
    void *v = NULL;
    ck_assert_int_eq(lib.result(f, 60.0, &v), 0);
    ck_assert_uint_eq((uint64_t)(uintptr_t)v, 42);
    lib.unref(f);
    lib.runtime_destroy(rt);
    ck_assert_int_eq(lib.shutdown(pool, true, false), 0);
    lib.destroy(pool);
    ck_assert_int_eq(dlclose(lib.so), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("shared");
    TCase *tc = tcase_create("dlopen");
    tcase_add_test(tc, test_dlopen_runs_coroutines_and_pools);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
