/* Tests for error codes and their names. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "corio.h"
#include "internal.h"

START_TEST(test_names_and_texts) {
    ck_assert_str_eq(corio_error_name(-ETIMEDOUT), "ETIMEDOUT");
    ck_assert_str_eq(corio_error_name(-ECANCELED), "ECANCELED");
    ck_assert_str_eq(corio_error_name(CORIO_ESHUTDOWN), "CORIO_ESHUTDOWN");
    ck_assert_str_eq(corio_error_name(CORIO_EBROKEN_THREAD_POOL), "CORIO_EBROKEN_THREAD_POOL");
    ck_assert_str_eq(corio_error_name(CORIO_EBROKEN_PROCESS_POOL), "CORIO_EBROKEN_PROCESS_POOL");
    ck_assert_str_eq(corio_error_name(CORIO_EINVALID_STATE), "CORIO_EINVALID_STATE");
    ck_assert_str_eq(corio_error_name(CORIO_ETASK), "CORIO_ETASK");
    ck_assert_str_eq(corio_error_name(-999999), "UNKNOWN");
    ck_assert_str_eq(corio_strerror(0), "success");
    ck_assert_ptr_nonnull(strstr(corio_strerror(CORIO_ESHUTDOWN), "shutdown"));
    ck_assert_ptr_nonnull(strstr(corio_strerror(-ETIMEDOUT), "timed out"));
    ck_assert_str_eq(corio_strerror(-999999), "unknown error");
    ck_assert_str_eq(corio_strerror(CORIO_EPROTOCOL), "corrupt or truncated message from a worker");
    ck_assert_str_eq(corio_error_name(CORIO_EHTTP_PROTOCOL), "CORIO_EHTTP_PROTOCOL");
    ck_assert_str_eq(corio_error_name(CORIO_EHTTP_HEAD_TOO_LARGE), "CORIO_EHTTP_HEAD_TOO_LARGE");
    ck_assert_str_eq(corio_error_name(CORIO_EHTTP_TOO_MANY_REDIRECTS),
                     "CORIO_EHTTP_TOO_MANY_REDIRECTS");
    ck_assert_str_eq(corio_error_name(CORIO_EHTTP_BODY_TOO_LARGE), "CORIO_EHTTP_BODY_TOO_LARGE");
    ck_assert_str_eq(corio_error_name(CORIO_EHTTP_UNSUPPORTED), "CORIO_EHTTP_UNSUPPORTED");
    ck_assert_ptr_nonnull(strstr(corio_strerror(CORIO_EHTTP_HEAD_TOO_LARGE), "head"));
}
END_TEST

START_TEST(test_task_fail_message) {
    ck_assert_int_eq(corio_task_fail(-ENOENT, "missing %s #%d", "file", 3), -ENOENT);
    ck_assert_str_eq(corio__task_msg(), "missing file #3");
    ck_assert_int_eq(corio_task_fail(5, "positive code"), CORIO_ETASK);
    ck_assert_int_eq(corio_task_fail(-EIO, NULL), -EIO);
    ck_assert_str_eq(corio__task_msg(), "");
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    corio_task_fail(-EIO, "%s", big);
    ck_assert_uint_eq(strlen(corio__task_msg()), 1023);
}
END_TEST

START_TEST(test_deadline) {
    ck_assert(corio__deadline(-1.0) == INT64_MAX);
    ck_assert(corio__deadline(1e300) == INT64_MAX);
    int64_t now = corio__now_ns();
    int64_t d = corio__deadline(0.5);
    ck_assert(d >= now + 400000000 && d <= now + 5000000000LL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("error");
    tcase_add_test(tc, test_names_and_texts);
    tcase_add_test(tc, test_task_fail_message);
    tcase_add_test(tc, test_deadline);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
