/* The loader's refusals, each asserted by its exact message. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
                   "cannot load plugin " DIR "/bad_major.so: built for plugin ABI 2.3, but this "
                   "textmill has ABI 1.3 (the major versions must match; rebuild the plugin)");
}

static void test_newer_minor(void **st)
{
    (void)st;
    expect_refusal(DIR "/newer_minor.so",
                   "cannot load plugin " DIR "/newer_minor.so: built for plugin ABI 1.6, newer "
                   "than this textmill's ABI 1.3 (upgrade textmill)");
}

static void test_small_descriptor(void **st)
{
    (void)st;
    char *expected = tm__xasprintf("cannot load plugin " DIR "/small_desc.so: its descriptor "
                                   "is 16 bytes, smaller than the %zu of ABI 1.3",
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

/* A copy of ok.so in a private directory of its own, to change modes on. */
static char *private_copy(char dir[64])
{
    strcpy(dir, "/tmp/tm_registry_XXXXXX");
    assert_non_null(mkdtemp(dir));
    char *path = tm__xasprintf("%s/ok.so", dir);
    char *cmd = tm__xasprintf("cp '%s/ok.so' '%s'", DIR, path);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static void remove_dir(const char *dir)
{
    char *cmd = tm__xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* Like ssh with keys: a file or directory another user could write is refused. */
static void test_unsafe_permissions(void **st)
{
    (void)st;
    unsetenv("TEXTMILL_ALLOW_UNSAFE_PLUGINS");
    char dir[64];
    char *path = private_copy(dir);
    char *err = open_err(path);
    assert_null(err); /* 0755 in a 0700 directory: fine */

    assert_int_equal(chmod(path, 0757), 0);
    char *want = tm__xasprintf("refusing to load plugin %s: the file is writable by every user "
                               "(set TEXTMILL_ALLOW_UNSAFE_PLUGINS=1 to load it anyway)", path);
    expect_refusal(path, want);
    free(want);

    /* a group-writable file is someone's choice of whom to trust */
    assert_int_equal(chmod(path, 0775), 0);
    assert_null(open_err(path));
    assert_int_equal(chmod(path, 0757), 0);

    /* the override loads it, with a warning */
    setenv("TEXTMILL_ALLOW_UNSAFE_PLUGINS", "1", 1);
    assert_null(open_err(path));
    unsetenv("TEXTMILL_ALLOW_UNSAFE_PLUGINS");

    /* a directory above the file: whoever writes it can swap the file */
    assert_int_equal(chmod(path, 0755), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    char *real = realpath(dir, NULL);
    want = tm__xasprintf("refusing to load plugin %s: its directory %s is writable by every "
                         "user (set TEXTMILL_ALLOW_UNSAFE_PLUGINS=1 to load it anyway)",
                         path, real);
    expect_refusal(path, want);
    free(want);
    /* ... unless it is sticky, as /tmp is */
    assert_int_equal(chmod(dir, 01777), 0);
    assert_null(open_err(path));
    assert_int_equal(chmod(dir, 0700), 0);

    /* a symbolic link in a directory anyone may write: anyone may re-point it,
     * even when what it points to is safe */
    char *open_dir = tm__xasprintf("%s/open", dir), *link = tm__xasprintf("%s/open/link.so", dir);
    assert_int_equal(mkdir(open_dir, 0777), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    assert_int_equal(symlink(path, link), 0);
    want = tm__xasprintf("refusing to load plugin %s: its directory %s is writable by every "
                         "user (set TEXTMILL_ALLOW_UNSAFE_PLUGINS=1 to load it anyway)",
                         link, open_dir);
    expect_refusal(link, want);
    free(want);
    free(link);
    free(open_dir);

    /* a FIFO in a plugin's place is refused, not waited on */
    char *fifo = tm__xasprintf("%s/fifo.so", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    want = tm__xasprintf("cannot load plugin %s: not a regular file", fifo);
    expect_refusal(fifo, want);
    free(want);
    free(fifo);

    /* owned by another user who is not root (only root can give a file away) */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        want = tm__xasprintf("refusing to load plugin %s: the file is owned by another user "
                             "(set TEXTMILL_ALLOW_UNSAFE_PLUGINS=1 to load it anyway)", path);
        expect_refusal(path, want);
        free(want);
    } else {
        print_message("  (not root: the other-owner case is not checked)\n");
    }
    free(real);
    free(path);
    remove_dir(dir);
}

/* Never the current directory by accident: a bare file name is refused,
 * and a relative TEXTMILL_PLUGIN_PATH entry is ignored. */
static void test_no_implicit_current_directory(void **st)
{
    (void)st;
    expect_refusal("ok.so", "cannot load plugin ok.so: a plugin file is named by a path with a "
                            "slash (./ok.so for one in the current directory), never found in "
                            "the current directory implicitly");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(DIR "/.."), 0);
    setenv("TEXTMILL_PLUGIN_PATH", "plugins::" DIR, 1);
    tm_search s;
    tm__search_init(&s, NULL, 0);
    bool relative = false, absolute = false;
    for (size_t i = 0; i < s.n; i++) {
        relative |= strcmp(s.dirs[i], "plugins") == 0;
        absolute |= strcmp(s.dirs[i], DIR) == 0;
    }
    assert_false(relative);
    assert_true(absolute);
    tm__search_free(&s);
    unsetenv("TEXTMILL_PLUGIN_PATH");
    assert_int_equal(chdir(cwd), 0);
}

/* The hash logged and kept in the manifest is of the file as loaded. */
static void test_hash(void **st)
{
    (void)st;
    tm_loaded l;
    char *err = NULL, h[17];
    assert_int_equal(tm__plugin_open(DIR "/ok.so", &l, &err), 0);
    assert_int_equal(tm__hash_file(DIR "/ok.so", h), 0);
    assert_string_equal(l.hash, h);
    tm__plugin_close(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_loads),          cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_shared_object), cmocka_unit_test(test_no_descriptor),
        cmocka_unit_test(test_wrong_major),       cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_small_descriptor),  cmocka_unit_test(test_wrong_signature),
        cmocka_unit_test(test_find_by_name_and_role), cmocka_unit_test(test_unsafe_permissions),
        cmocka_unit_test(test_no_implicit_current_directory), cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
