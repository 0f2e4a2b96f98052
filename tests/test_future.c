/* Tests for corio_future: the state machine, outcomes, timeouts, destructors,
 * done-callbacks and cross-thread wake-ups, against future.h and CPython's
 * concurrent.futures.Future (Lib/test/test_concurrent_futures/test_future.py). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"
#include "internal.h"
#include "t_helpers.h"

/* ---- helpers --------------------------------------------------------------- */

static atomic_int t_dtor_calls;
static void t_count_dtor(void *p) {
    (void)p;
    atomic_fetch_add(&t_dtor_calls, 1);
}

/* A future in each state. */
static corio_future *t_pending(void) {
    corio_future *f = corio_future_create();
    ck_assert_ptr_nonnull(f);
    return f;
}
static corio_future *t_running(void) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 1);
    return f;
}
static corio_future *t_cancelled(void) {
    corio_future *f = t_pending();
    ck_assert(corio_future_cancel(f));
    return f;
}
static corio_future *t_finished(void *v) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_result(f, v, NULL), 0);
    return f;
}
static corio_future *t_failed(int code, const char *msg) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_exception(f, code, "%s", msg), 0);
    return f;
}

/* ---- states ----------------------------------------------------------------- */

START_TEST(test_pending_queries) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_state_get(f), CORIO_PENDING);
    ck_assert(!corio_future_running(f));
    ck_assert(!corio_future_cancelled(f));
    ck_assert(!corio_future_done(f));
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -ETIMEDOUT);
    ck_assert_int_eq(corio_future_exception(f, 0, NULL), -ETIMEDOUT);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_running_queries) {
    corio_future *f = t_running();
    ck_assert_int_eq(corio_future_state_get(f), CORIO_RUNNING);
    ck_assert(corio_future_running(f));
    ck_assert(!corio_future_cancelled(f));
    ck_assert(!corio_future_done(f));
    /* Python: cancel() returns False while running; state unchanged. */
    ck_assert(!corio_future_cancel(f));
    ck_assert(corio_future_running(f));
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -ETIMEDOUT);
    /* RUNNING -> FINISHED */
    int v = 7;
    void *out = NULL;
    ck_assert_int_eq(corio_future_set_result(f, &v, NULL), 0);
    ck_assert_int_eq(corio_future_state_get(f), CORIO_FINISHED);
    ck_assert(!corio_future_running(f));
    ck_assert_int_eq(corio_future_result(f, 0, &out), 0);
    ck_assert_ptr_eq(out, &v);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_cancel_pending) {
    corio_future *f = t_pending();
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(corio_future_state_get(f), CORIO_CANCELLED);
    ck_assert(corio_future_cancelled(f));
    ck_assert(corio_future_done(f));
    ck_assert(!corio_future_running(f));
    /* Already cancelled: cancel() is still true. */
    ck_assert(corio_future_cancel(f));
    void *out = (void *)0x1;
    ck_assert_int_eq(corio_future_result(f, 0, &out), -ECANCELED);
    ck_assert_ptr_eq(out, (void *)0x1); /* untouched */
    ck_assert_int_eq(corio_future_result(f, 1.0, NULL), -ECANCELED);
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), -ECANCELED);
    ck_assert_int_eq(corio_future_exception(f, 0, NULL), -ECANCELED);
    ck_assert_int_eq(corio_future_exception(f, CORIO_FOREVER, NULL), -ECANCELED);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 0);
    /* A producer finishing a cancelled future: refused, value not taken. */
    atomic_store(&t_dtor_calls, 0);
    ck_assert_int_eq(corio_future_set_result(f, &out, t_count_dtor), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_set_exception(f, -EIO, "late"), CORIO_EINVALID_STATE);
    ck_assert(corio_future_cancelled(f));
    corio_future_unref(f);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 0);
}
END_TEST

START_TEST(test_cancel_finished_is_false) {
    corio_future *f = t_finished(NULL);
    ck_assert(!corio_future_cancel(f));
    ck_assert(!corio_future_cancelled(f));
    ck_assert_int_eq(corio_future_state_get(f), CORIO_FINISHED);
    corio_future_unref(f);
    f = t_failed(-EIO, "x");
    ck_assert(!corio_future_cancel(f));
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -EIO);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_set_running_states) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 1);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    corio_future_unref(f);
    f = t_cancelled();
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), 0);
    ck_assert(corio_future_cancelled(f));
    corio_future_unref(f);
    f = t_finished(NULL);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    corio_future_unref(f);
    f = t_failed(-EIO, "");
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(f), CORIO_EINVALID_STATE);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_finished_result) {
    int v = 42;
    corio_future *f = t_finished(&v);
    ck_assert(corio_future_done(f));
    ck_assert(!corio_future_cancelled(f));
    ck_assert(!corio_future_running(f));
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f, 0, &out), 0);
    ck_assert_ptr_eq(out, &v);
    ck_assert_int_eq(corio_future_result(f, CORIO_FOREVER, NULL), 0);
    ck_assert_int_eq(corio_future_result(f, 2.5, &out), 0);
    corio_value val;
    ck_assert_int_eq(corio_future_result_value(f, 0, &val), 0);
    ck_assert_ptr_eq(val.ptr, &v);
    ck_assert_uint_eq(val.len, 0);
    const char *msg = "untouched";
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), 0);
    ck_assert_int_eq(corio_future_exception(f, CORIO_FOREVER, NULL), 0);
    /* Done: every second completion is refused. */
    ck_assert_int_eq(corio_future_set_result(f, NULL, NULL), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_set_exception(f, -EIO, NULL), CORIO_EINVALID_STATE);
    corio_value other = {&v, 4, NULL};
    ck_assert_int_eq(corio_future_set_value(f, &other), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_result(f, 0, &out), 0);
    ck_assert_ptr_eq(out, &v);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_set_value_len) {
    corio_future *f = t_pending();
    char *buf = malloc(5);
    memcpy(buf, "hello", 5);
    corio_value v = {buf, 5, free};
    ck_assert_int_eq(corio_future_set_value(f, &v), 0);
    corio_value out = {0};
    ck_assert_int_eq(corio_future_result_value(f, 0, &out), 0);
    ck_assert_ptr_eq(out.ptr, buf);
    ck_assert_uint_eq(out.len, 5);
    ck_assert_int_eq(memcmp(out.ptr, "hello", 5), 0);
    corio_future_unref(f); /* frees buf (leak checkers see it) */
}
END_TEST

/* ---- failures ----------------------------------------------------------------- */

START_TEST(test_exception_message) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_exception(f, -ENOENT, "no %s #%d", "file", 3), 0);
    ck_assert(corio_future_done(f));
    ck_assert(!corio_future_cancelled(f));
    ck_assert_int_eq(corio_future_state_get(f), CORIO_FINISHED);
    void *out = (void *)0x1;
    ck_assert_int_eq(corio_future_result(f, 0, &out), -ENOENT);
    ck_assert_ptr_eq(out, (void *)0x1);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), -ENOENT);
    ck_assert_str_eq(msg, "no file #3");
    ck_assert_int_eq(corio_future_exception(f, CORIO_FOREVER, NULL), -ENOENT);
    ck_assert_int_eq(corio_future_set_exception(f, -EIO, "again"), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_set_result(f, NULL, NULL), CORIO_EINVALID_STATE);
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), -ENOENT);
    ck_assert_str_eq(msg, "no file #3");
    corio_future_unref(f);
}
END_TEST

START_TEST(test_exception_codes_and_empty_message) {
    /* A non-negative code is stored as CORIO_ETASK. */
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_exception(f, 0, "zero"), 0);
    ck_assert_int_eq(corio_future_result(f, 0, NULL), CORIO_ETASK);
    corio_future_unref(f);
    f = t_pending();
    ck_assert_int_eq(corio_future_set_exception(f, 17, NULL), 0);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), CORIO_ETASK);
    ck_assert_str_eq(msg, "");
    corio_future_unref(f);
    /* Our own codes pass through unchanged. */
    f = t_pending();
    ck_assert_int_eq(corio_future_set_exception(f, CORIO_EBROKEN_THREAD_POOL, "broken"), 0);
    ck_assert_int_eq(corio_future_result(f, 0, NULL), CORIO_EBROKEN_THREAD_POOL);
    corio_future_unref(f);
    /* A task may itself fail with -ETIMEDOUT: done() tells it apart. */
    f = t_failed(-ETIMEDOUT, "slow backend");
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -ETIMEDOUT);
    ck_assert(corio_future_done(f));
    corio_future_unref(f);
}
END_TEST

START_TEST(test_exception_long_message_truncated) {
    char big[3000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_exception(f, -EIO, "%s", big), 0);
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_exception(f, 0, &msg), -EIO);
    ck_assert_uint_eq(strlen(msg), 1023);
    ck_assert_int_eq(strncmp(msg, big, 1023), 0);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_cancelled_by_executor_reason) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio__future_finish_cancelled(f, 1), 0);
    ck_assert(corio_future_cancelled(f));
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -ECANCELED);
    ck_assert_int_eq(corio_future_exception(f, 0, NULL), CORIO_ECANCELLED_BY_EXECUTOR);
    ck_assert_int_eq(corio__future_finish_cancelled(f, 1), CORIO_EINVALID_STATE);
    corio_future_unref(f);
}
END_TEST

/* ---- result destructor ------------------------------------------------------ */

START_TEST(test_dtor_runs_once_at_last_unref) {
    atomic_store(&t_dtor_calls, 0);
    corio_future *f = t_pending();
    int v;
    ck_assert_int_eq(corio_future_set_result(f, &v, t_count_dtor), 0);
    corio_future_ref(f);
    ck_assert_ptr_eq(corio_future_ref(f), f);
    corio_future_unref(f);
    corio_future_unref(f);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 0);
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f, 0, &out), 0);
    ck_assert_ptr_eq(out, &v);
    corio_future_unref(f);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 1);
}
END_TEST

START_TEST(test_dtor_not_taken_when_set_fails) {
    atomic_store(&t_dtor_calls, 0);
    corio_future *f = t_finished(NULL);
    char *leak_if_taken = malloc(8);
    ck_assert_int_eq(corio_future_set_result(f, leak_if_taken, t_count_dtor), CORIO_EINVALID_STATE);
    corio_value v = {leak_if_taken, 8, t_count_dtor};
    ck_assert_int_eq(corio_future_set_value(f, &v), CORIO_EINVALID_STATE);
    corio_future_unref(f);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 0);
    free(leak_if_taken); /* still the caller's */
    /* A never-completed future has no value to destroy. */
    f = t_pending();
    corio_future_unref(f);
    ck_assert_int_eq(atomic_load(&t_dtor_calls), 0);
}
END_TEST

START_TEST(test_dtor_frees_heap_value) {
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_set_result(f, malloc(64), free), 0);
    corio_future_unref(f); /* valgrind/ASan would report the 64 bytes otherwise */
}
END_TEST

/* ---- done-callbacks -------------------------------------------------------- */

typedef struct t_cb_log {
    pthread_mutex_t lock;
    int order[64];    /* ids in call order */
    int n;            /* number of calls */
    pthread_t thread; /* thread of the last call */
    int state_seen;   /* state of the future during the last call */
} t_cb_log;

typedef struct t_cb {
    t_cb_log *log;
    int id;
    int ret; /* what the callback returns */
} t_cb;

static int t_record_cb(corio_future *f, void *arg) {
    t_cb *c = arg;
    pthread_mutex_lock(&c->log->lock);
    c->log->order[c->log->n++] = c->id;
    c->log->thread = pthread_self();
    c->log->state_seen = corio_future_state_get(f);
    pthread_mutex_unlock(&c->log->lock);
    return c->ret;
}

static void t_log_init(t_cb_log *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
}

START_TEST(test_callbacks_in_order_once) {
    t_cb_log log;
    t_log_init(&log);
    t_cb cbs[10];
    corio_future *f = t_pending();
    for (int i = 0; i < 10; i++) {
        cbs[i] = (t_cb){&log, i, 0};
        ck_assert_int_eq(corio_future_add_done_callback(f, t_record_cb, &cbs[i]), 0);
    }
    ck_assert_int_eq(log.n, 0);
    ck_assert_int_eq(corio_future_set_result(f, NULL, NULL), 0);
    ck_assert_int_eq(log.n, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(log.order[i], i);
    ck_assert_int_eq(log.state_seen, CORIO_FINISHED);
    /* Exactly once: later completion attempts and cancel call nothing. */
    corio_future_set_result(f, NULL, NULL);
    corio_future_cancel(f);
    ck_assert_int_eq(log.n, 10);
    corio_future_unref(f);
    ck_assert_int_eq(log.n, 10);
    pthread_mutex_destroy(&log.lock);
}
END_TEST

START_TEST(test_callback_immediate_when_done) {
    t_cb_log log;
    t_log_init(&log);
    t_cb c = {&log, 5, 0};
    corio_future *f = t_finished(NULL);
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record_cb, &c), 0);
    ck_assert_int_eq(log.n, 1); /* ran before add returned */
    ck_assert(pthread_equal(log.thread, pthread_self()));
    corio_future_unref(f);
    f = t_cancelled();
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record_cb, &c), 0);
    ck_assert_int_eq(log.n, 2);
    ck_assert_int_eq(log.state_seen, CORIO_CANCELLED);
    corio_future_unref(f);
    pthread_mutex_destroy(&log.lock);
}
END_TEST

START_TEST(test_callback_failure_does_not_stop_others) {
    t_cb_log log;
    t_log_init(&log);
    t_cb cbs[4] = {{&log, 0, 0}, {&log, 1, -EIO}, {&log, 2, CORIO_ETASK}, {&log, 3, 0}};
    corio_future *f = t_pending();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(corio_future_add_done_callback(f, t_record_cb, &cbs[i]), 0);
    ck_assert_int_eq(corio_future_set_exception(f, -EIO, "x"), 0);
    ck_assert_int_eq(log.n, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(log.order[i], i);
    /* A failing callback on an already-done future: still reported as added. */
    ck_assert_int_eq(corio_future_add_done_callback(f, t_record_cb, &cbs[1]), 0);
    ck_assert_int_eq(log.n, 5);
    corio_future_unref(f);
    pthread_mutex_destroy(&log.lock);
}
END_TEST

START_TEST(test_callbacks_on_cancel) {
    t_cb_log log;
    t_log_init(&log);
    t_cb cbs[3] = {{&log, 0, 0}, {&log, 1, 0}, {&log, 2, 0}};
    corio_future *f = t_pending();
    for (int i = 0; i < 3; i++)
        corio_future_add_done_callback(f, t_record_cb, &cbs[i]);
    ck_assert(corio_future_cancel(f));
    ck_assert_int_eq(log.n, 3);
    ck_assert_int_eq(log.state_seen, CORIO_CANCELLED);
    ck_assert(corio_future_cancel(f)); /* again: true, no second run */
    ck_assert_int_eq(log.n, 3);
    corio_future_unref(f);
    pthread_mutex_destroy(&log.lock);
}
END_TEST

START_TEST(test_callbacks_never_run_are_freed) {
    t_cb_log log;
    t_log_init(&log);
    t_cb c = {&log, 0, 0};
    corio_future *f = t_pending();
    for (int i = 0; i < 5; i++) /* the inline slot plus heap nodes */
        corio_future_add_done_callback(f, t_record_cb, &c);
    corio_future_unref(f); /* leak checkers see the nodes otherwise */
    ck_assert_int_eq(log.n, 0);
    pthread_mutex_destroy(&log.lock);
}
END_TEST

/* A callback that reads the result from inside: the future is done. */
static int t_cb_reads_result(corio_future *f, void *arg) {
    void *out = NULL;
    int r = corio_future_result(f, 0, &out);
    *(int *)arg = r == 0 && out == (void *)0x99 ? 1 : -1;
    return 0;
}

/* A callback that drops the only reference its arg owns. */
static int t_cb_unref(corio_future *f, void *arg) {
    (void)arg;
    corio_future_unref(f);
    return 0;
}

START_TEST(test_callback_sees_outcome_and_may_drop_last_ref) {
    int seen = 0;
    corio_future *f = t_pending();
    corio_future_add_done_callback(f, t_cb_reads_result, &seen);
    /* The second callback takes over the caller's reference and drops it:
     * the future must stay alive until every callback has run. */
    corio_future_add_done_callback(f, t_cb_unref, NULL);
    corio_future_add_done_callback(f, t_cb_reads_result, &seen);
    ck_assert_int_eq(corio_future_set_result(f, (void *)0x99, NULL), 0);
    ck_assert_int_eq(seen, 1);
    /* f is gone now; ASan would flag any later touch by the library. */
}
END_TEST

typedef struct t_completer {
    corio_future *f;
    sem_t *go;
    pthread_t self;
    int how; /* 0 result, 1 exception, 2 cancel */
} t_completer;

static void *t_complete_thread(void *arg) {
    t_completer *c = arg;
    if (c->go)
        t_gate_pass(c->go);
    c->self = pthread_self();
    if (c->how == 0)
        corio_future_set_result(c->f, (void *)0x1234, NULL);
    else if (c->how == 1)
        corio_future_set_exception(c->f, -EPIPE, "pipe %d", 9);
    else
        corio_future_cancel(c->f);
    return NULL;
}

START_TEST(test_callback_runs_on_completing_thread) {
    for (int how = 0; how < 3; how++) {
        t_cb_log log;
        t_log_init(&log);
        t_cb c = {&log, 1, 0};
        corio_future *f = t_pending();
        corio_future_add_done_callback(f, t_record_cb, &c);
        t_completer comp = {f, NULL, 0, how};
        pthread_t th;
        pthread_create(&th, NULL, t_complete_thread, &comp);
        pthread_join(th, NULL);
        ck_assert_int_eq(log.n, 1);
        ck_assert(pthread_equal(log.thread, comp.self));
        ck_assert(!pthread_equal(log.thread, pthread_self()));
        corio_future_unref(f);
        pthread_mutex_destroy(&log.lock);
    }
}
END_TEST

/* ---- NULL handles ------------------------------------------------------------- */

START_TEST(test_null_handles) {
    ck_assert_ptr_null(corio_future_ref(NULL));
    corio_future_unref(NULL);
    ck_assert_int_eq(corio_future_state_get(NULL), CORIO_PENDING);
    ck_assert(!corio_future_cancel(NULL));
    ck_assert(!corio_future_cancelled(NULL));
    ck_assert(!corio_future_running(NULL));
    ck_assert(!corio_future_done(NULL));
    void *out = NULL;
    corio_value v;
    const char *msg = NULL;
    ck_assert_int_eq(corio_future_result(NULL, 0, &out), -EINVAL);
    ck_assert_int_eq(corio_future_result(NULL, CORIO_FOREVER, NULL), -EINVAL);
    ck_assert_int_eq(corio_future_result_value(NULL, 0, &v), -EINVAL);
    ck_assert_int_eq(corio_future_exception(NULL, 0, &msg), -EINVAL);
    ck_assert_int_eq(corio_future_exception(NULL, CORIO_FOREVER, NULL), -EINVAL);
    ck_assert_int_eq(corio_future_add_done_callback(NULL, t_cb_unref, NULL), -EINVAL);
    ck_assert_int_eq(corio_future_set_running_or_notify_cancel(NULL), -EINVAL);
    ck_assert_int_eq(corio_future_set_result(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_future_set_value(NULL, &v), -EINVAL);
    ck_assert_int_eq(corio_future_set_exception(NULL, -EIO, "x"), -EINVAL);
    corio_future *f = t_pending();
    ck_assert_int_eq(corio_future_add_done_callback(f, NULL, NULL), -EINVAL);
    ck_assert_int_eq(corio_future_set_value(f, NULL), -EINVAL);
    ck_assert(!corio_future_done(f));
    corio_future_unref(f);
}
END_TEST

/* ---- timeouts and blocking ------------------------------------------------------ */

START_TEST(test_finite_timeout) {
    corio_future *f = t_running();
    double t0 = t_now();
    ck_assert_int_eq(corio_future_result(f, 0.1, NULL), -ETIMEDOUT);
    double el = t_now() - t0;
    ck_assert(el >= 0.09);
    ck_assert(el < 10.0);
    t0 = t_now();
    ck_assert_int_eq(corio_future_exception(f, 0.05, NULL), -ETIMEDOUT);
    ck_assert(t_now() - t0 >= 0.04);
    /* The future is untouched by a timeout; completing it afterwards must
     * not reach the (gone) waiters of the calls above. */
    ck_assert(corio_future_running(f));
    ck_assert_int_eq(corio_future_set_result(f, (void *)0x5, NULL), 0);
    void *out = NULL;
    ck_assert_int_eq(corio_future_result(f, 0.1, &out), 0);
    ck_assert_ptr_eq(out, (void *)0x5);
    corio_future_unref(f);
}
END_TEST

START_TEST(test_zero_and_negative_timeouts) {
    corio_future *f = t_pending();
    double t0 = t_now();
    ck_assert_int_eq(corio_future_result(f, 0, NULL), -ETIMEDOUT);
    ck_assert_int_eq(corio_future_result(f, 0.0, NULL), -ETIMEDOUT);
    ck_assert(t_now() - t0 < 5.0); /* a poll does not block */
    corio_future_set_result(f, (void *)0x1, NULL);
    /* Any negative timeout means forever: returns at once when done. */
    ck_assert_int_eq(corio_future_result(f, -5.0, NULL), 0);
    corio_future_unref(f);
}
END_TEST

typedef struct t_waiter_arg {
    corio_future *f;
    sem_t *ready;
    double timeout;
    int use_exception;
    int r;
    void *out;
    const char *msg;
} t_waiter_arg;

static void *t_wait_thread(void *arg) {
    t_waiter_arg *w = arg;
    sem_post(w->ready);
    if (w->use_exception)
        w->r = corio_future_exception(w->f, w->timeout, &w->msg);
    else
        w->r = corio_future_result(w->f, w->timeout, &w->out);
    return NULL;
}

START_TEST(test_blocked_result_woken_by_other_thread) {
    for (int how = 0; how < 3; how++) {
        corio_future *f = t_pending();
        sem_t ready;
        t_gate_init(&ready);
        t_waiter_arg w = {f, &ready, CORIO_FOREVER, 0, 0, NULL, NULL};
        pthread_t th;
        pthread_create(&th, NULL, t_wait_thread, &w);
        t_gate_pass(&ready); /* the waiter is (about to be) blocked */
        t_completer comp = {f, NULL, 0, how};
        t_complete_thread(&comp);
        pthread_join(th, NULL);
        if (how == 0) {
            ck_assert_int_eq(w.r, 0);
            ck_assert_ptr_eq(w.out, (void *)0x1234);
        } else if (how == 1) {
            ck_assert_int_eq(w.r, -EPIPE);
        } else {
            ck_assert_int_eq(w.r, -ECANCELED);
        }
        sem_destroy(&ready);
        corio_future_unref(f);
    }
}
END_TEST

START_TEST(test_many_threads_wait_on_one_future) {
    enum { N = 16 };
    corio_future *f = t_pending();
    sem_t ready;
    t_gate_init(&ready);
    t_waiter_arg w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        /* A mix of forever, long finite timeouts and exception(). */
        w[i] = (t_waiter_arg){f, &ready, i % 3 == 0 ? 60.0 : CORIO_FOREVER, i % 4 == 1, 0, NULL, NULL};
        pthread_create(&th[i], NULL, t_wait_thread, &w[i]);
    }
    for (int i = 0; i < N; i++)
        t_gate_pass(&ready);
    ck_assert_int_eq(corio_future_set_result(f, (void *)0xabc, NULL), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].r, 0);
        if (!w[i].use_exception)
            ck_assert_ptr_eq(w[i].out, (void *)0xabc);
    }
    sem_destroy(&ready);
    corio_future_unref(f);
}
END_TEST

/* Many threads waiting with short timeouts while the future completes: each
 * either times out (future not done at that moment) or sees the result;
 * a waiter that timed out is unlinked before its stack frame goes away. */
START_TEST(test_timeouts_racing_completion) {
    enum { N = 8 };
    int rounds = (int)t_scale(200, 10);
    for (int round = 0; round < rounds; round++) {
        corio_future *f = t_pending();
        sem_t ready;
        t_gate_init(&ready);
        t_waiter_arg w[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            w[i] = (t_waiter_arg){f, &ready, 0.0005 * i, 0, 0, NULL, NULL};
            pthread_create(&th[i], NULL, t_wait_thread, &w[i]);
        }
        for (int i = 0; i < N; i++)
            t_gate_pass(&ready);
        corio_future_set_result(f, (void *)0x1, NULL);
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            ck_assert(w[i].r == 0 || w[i].r == -ETIMEDOUT);
            if (w[i].r == 0)
                ck_assert_ptr_eq(w[i].out, (void *)0x1);
        }
        sem_destroy(&ready);
        corio_future_unref(f);
    }
}
END_TEST

/* cancel() and set_result() racing from two threads: exactly one wins. */
typedef struct t_race {
    corio_future *f;
    pthread_barrier_t *b;
    int r;
} t_race;

static void *t_race_cancel(void *arg) {
    t_race *r = arg;
    pthread_barrier_wait(r->b);
    r->r = corio_future_cancel(r->f);
    return NULL;
}

START_TEST(test_cancel_races_set_result) {
    int rounds = (int)t_scale(2000, 50);
    atomic_store(&t_dtor_calls, 0);
    int cancels = 0;
    for (int i = 0; i < rounds; i++) {
        pthread_barrier_t b;
        pthread_barrier_init(&b, NULL, 2);
        corio_future *f = t_pending();
        t_race rc = {f, &b, 0};
        pthread_t th;
        pthread_create(&th, NULL, t_race_cancel, &rc);
        pthread_barrier_wait(&b);
        int sr = corio_future_set_result(f, (void *)0x1, t_count_dtor);
        pthread_join(th, NULL);
        if (rc.r) {
            cancels++;
            ck_assert_int_eq(sr, CORIO_EINVALID_STATE);
            ck_assert(corio_future_cancelled(f));
        } else {
            ck_assert_int_eq(sr, 0);
            ck_assert_int_eq(corio_future_state_get(f), CORIO_FINISHED);
        }
        corio_future_unref(f);
        pthread_barrier_destroy(&b);
    }
    /* Exactly the successful set_results handed their value over. */
    ck_assert_int_eq(atomic_load(&t_dtor_calls), rounds - cancels);
}
END_TEST

/* ---- internals used by executors ------------------------------------------- */

START_TEST(test_future_ext_storage) {
    corio_future *f = corio__future_create_ext(40);
    ck_assert_ptr_nonnull(f);
    char *ext = corio__future_ext(f);
    ck_assert_uint_eq((uintptr_t)ext % 16, 0);
    memset(ext, 0xab, 40); /* ASan: the storage is really there */
    ck_assert_int_eq(corio_future_set_result(f, NULL, NULL), 0);
    ck_assert_int_eq(corio__future_code(f), 0);
    corio_future_unref(f);
    f = t_failed(-EIO, "x");
    ck_assert_int_eq(corio__future_code(f), -EIO);
    corio_future_unref(f);
    f = t_cancelled();
    ck_assert_int_eq(corio__future_code(f), 0);
    corio_future_unref(f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("future");
    TCase *tc = tcase_create("states");
    tcase_add_test(tc, test_pending_queries);
    tcase_add_test(tc, test_running_queries);
    tcase_add_test(tc, test_cancel_pending);
    tcase_add_test(tc, test_cancel_finished_is_false);
    tcase_add_test(tc, test_set_running_states);
    tcase_add_test(tc, test_finished_result);
    tcase_add_test(tc, test_set_value_len);
    tcase_add_test(tc, test_null_handles);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_test(tc, test_exception_message);
    tcase_add_test(tc, test_exception_codes_and_empty_message);
    tcase_add_test(tc, test_exception_long_message_truncated);
    tcase_add_test(tc, test_cancelled_by_executor_reason);
    suite_add_tcase(s, tc);

    tc = tcase_create("destructor");
    tcase_add_test(tc, test_dtor_runs_once_at_last_unref);
    tcase_add_test(tc, test_dtor_not_taken_when_set_fails);
    tcase_add_test(tc, test_dtor_frees_heap_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("callbacks");
    tcase_add_test(tc, test_callbacks_in_order_once);
    tcase_add_test(tc, test_callback_immediate_when_done);
    tcase_add_test(tc, test_callback_failure_does_not_stop_others);
    tcase_add_test(tc, test_callbacks_on_cancel);
    tcase_add_test(tc, test_callbacks_never_run_are_freed);
    tcase_add_test(tc, test_callback_sees_outcome_and_may_drop_last_ref);
    tcase_add_test(tc, test_callback_runs_on_completing_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("blocking");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_finite_timeout);
    tcase_add_test(tc, test_zero_and_negative_timeouts);
    tcase_add_test(tc, test_blocked_result_woken_by_other_thread);
    tcase_add_test(tc, test_many_threads_wait_on_one_future);
    tcase_add_test(tc, test_timeouts_racing_completion);
    tcase_add_test(tc, test_cancel_races_set_result);
    tcase_add_test(tc, test_future_ext_storage);
    suite_add_tcase(s, tc);
    return t_run_suite(s);
}
