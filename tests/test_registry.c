/* The loader's refusals, each asserted by its exact message. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define DIR TM_TEST_PLUGIN_DIR

static char *open_err(const char *path)
{
    tm_loaded l;
    char *err = NULL;
    int rc = tm__plugin_open(path, &l, &err);
    if (rc == 0) {
        tm__plugin_close(&l);
        return NULL;
    }
    return err;
}

static void expect_refusal(const char *path, const char *expected)
{
    char *err = open_err(path);
    assert_non_null(err);
    assert_string_equal(err, expected);
    free(err);
}

static void test_ok_loads(void **st)
{
    (void)st;
    tm_loaded l;
    char *err = NULL;
    assert_int_equal(tm__plugin_open(DIR "/ok.so", &l, &err), 0);
    assert_null(err);
    assert_string_equal(l.desc->name, "testplug");
    assert_int_equal(l.desc->role, TM_ROLE_STAGE);
    tm__plugin_close(&l);
}

static void test_missing_file(void **st)
{
    (void)st;
    expect_refusal(DIR "/nope.so",
                   "cannot load plugin " DIR "/nope.so: No such file or directory");
}

static void test_not_shared_object(void **st)
{
    (void)st;
    expect_refusal(TM_SOURCE_DIR "/tests/plugins/testplugin.c",
                   "cannot load plugin " TM_SOURCE_DIR
                   "/tests/plugins/testplugin.c: not a shared object");
}

static void test_no_descriptor(void **st)
{
    (void)st;
    expect_refusal(DIR "/no_desc.so",
                   "cannot load plugin " DIR "/no_desc.so: no tm_plugin_descriptor symbol "
                   "(define one with TM_PLUGIN_DEFINE from textmill/plugin.h)");
}

static void test_wrong_major(void **st)
{
    (void)st;
    expect_refusal(DIR "/bad_major.so",
                   "cannot load plugin " DIR "/bad_major.so: built for plugin ABI 2.2, but this "
                   "textmill has ABI 1.2 (the major versions must match; rebuild the plugin)");
}

static void test_newer_minor(void **st)
{
    (void)st;
    expect_refusal(DIR "/newer_minor.so",
                   "cannot load plugin " DIR "/newer_minor.so: built for plugin ABI 1.5, newer "
                   "than this textmill's ABI 1.2 (upgrade textmill)");
}

static void test_small_descriptor(void **st)
{
    (void)st;
    char *expected = tm__xasprintf("cannot load plugin " DIR "/small_desc.so: its descriptor "
                                   "is 16 bytes, smaller than the %zu of ABI 1.2",
                                   sizeof(tm_plugin));
    expect_refusal(DIR "/small_desc.so", expected);
    free(expected);
}

static void test_wrong_signature(void **st)
{
    (void)st;
    unsigned long long sig = (unsigned long long)TM_BUILD_SIGNATURE;
    char *expected = tm__xasprintf(
        "cannot load plugin " DIR "/bad_sig.so: build signature %016llx differs from this "
        "textmill's %016llx (rebuild the plugin against this textmill's headers and compiler "
        "settings)",
        sig ^ 0xffu, sig);
    expect_refusal(DIR "/bad_sig.so", expected);
    free(expected);
}

static void test_find_by_name_and_role(void **st)
{
    (void)st;
    const char *extra[] = {TM_BUILTIN_PLUGIN_DIR};
    tm_search s = {0};
    s.dirs = NULL;
    s.n = 0;
    /* only the build tree's plugin directory, whatever the environment says */
    unsetenv("TEXTMILL_PLUGIN_PATH");
    tm__search_init(&s, extra, 1);
    tm_loaded l;
    char *err = NULL;
    assert_int_equal(tm__plugin_find(&s, "filter", TM_ROLE_STAGE, &l, &err), 0);
    assert_string_equal(l.desc->name, "filter");
    tm__plugin_close(&l);

    assert_int_equal(tm__plugin_find(&s, "fliter", TM_ROLE_STAGE, &l, &err), -1);
    assert_non_null(strstr(err, "unknown stage plugin 'fliter'; did you mean 'filter'?"));
    free(err);

    /* a source used as a stage */
    assert_int_equal(tm__plugin_find(&s, "files", TM_ROLE_STAGE, &l, &err), -1);
    assert_non_null(strstr(err, "unknown stage plugin 'files'"));
    free(err);
    assert_int_equal(
        tm__plugin_find(&s, TM_BUILTIN_PLUGIN_DIR "/source-files.so", TM_ROLE_STAGE, &l, &err),
        -1);
    assert_string_equal(err, "plugin " TM_BUILTIN_PLUGIN_DIR
                             "/source-files.so is a source, but is used as a stage");
    free(err);
    tm__search_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_loads),          cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_shared_object), cmocka_unit_test(test_no_descriptor),
        cmocka_unit_test(test_wrong_major),       cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_small_descriptor),  cmocka_unit_test(test_wrong_signature),
        cmocka_unit_test(test_find_by_name_and_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
