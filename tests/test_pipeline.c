/* The pipeline file: keys, steps, names, --set overrides, and the load-time
 * checks (unknown plugin, options, field order). */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char path[64];

static void write_pipeline(const char *text)
{
    strcpy(path, "/tmp/tm_pipeline_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static tm_pipeline *parse(const char *text, const tm_override *ov, size_t n, char **err)
{
    write_pipeline(text);
    tm_pipeline *p = tm__pipeline_parse(path, ov, n, err);
    unlink(path);
    return p;
}

static void expect_err(const char *text, const char *suffix)
{
    char *err = NULL;
    tm_pipeline *p = parse(text, NULL, 0, &err);
    assert_null(p);
    assert_non_null(err);
    /* errors start with the file name, which is random here */
    assert_int_equal(strncmp(err, path, strlen(path)), 0);
    assert_string_equal(err + strlen(path), suffix);
    free(err);
}

#define SRC "source: {use: files, with: {paths: [x]}}\n"
#define SINK "sinks: [{use: jsonl, with: {path: o}}]\n"

static void test_good(void **st)
{
    (void)st;
    char *err = NULL;
    tm_pipeline *p = parse("version: 1\nname: t\n" SRC
                           "stages:\n  - use: filter\n  - use: filter\n  - use: filter\n"
                           "    name: last\n" SINK,
                           NULL, 0, &err);
    assert_non_null(p);
    assert_int_equal(p->n_steps, 5);
    assert_string_equal(p->name, "t");
    assert_string_equal(p->steps[0].name, "files");
    assert_string_equal(p->steps[1].name, "filter");
    assert_string_equal(p->steps[2].name, "filter#2");
    assert_string_equal(p->steps[3].name, "last");
    assert_int_equal(p->steps[3].role, TM_ROLE_STAGE);
    assert_int_equal(p->steps[4].role, TM_ROLE_SINK);
    tm__pipeline_free(p);
}

static void test_errors(void **st)
{
    (void)st;
    expect_err("version: 1\n" SRC SINK "sink: []\n",
               ":4:1: unknown key 'sink' in the pipeline; did you mean 'sinks'? (valid: "
               "version, name, state, plugin_path, source, stages, sinks, invalid_utf8, "
               "batch_bytes, rejects, max_rejects, workers, max_doc_bytes, time_budget)");
    expect_err("version: 2\n" SRC SINK,
               ":1:10: unsupported version '2' (this textmill reads version 1)");
    expect_err(SRC SINK, ":1:1: missing 'version: 1'");
    expect_err("version: 1\n" SINK, ":1:1: missing 'source:' (where documents come from)");
    expect_err("version: 1\n" SRC,
               ":1:1: 'sinks' must be a list of at least one step (where documents go)");
    expect_err("version: 1\n" SRC "stages:\n  - with: {a: 1}\n" SINK,
               ":4:5: this stage has no 'use:' (a plugin name or a path to a .so)");
    expect_err("version: 1\n" SRC "stages:\n  - use: filter\n    wiht: {}\n" SINK,
               ":5:5: unknown key 'wiht' in a step; did you mean 'with'? (valid: use, name, "
               "with, on_error, workers, max_doc_bytes, time_budget)");
    expect_err("version: 1\n" SRC "stages:\n  - {use: filter, name: a}\n  - {use: filter, "
               "name: a}\n" SINK,
               ":5:5: two steps are named 'a' (names must be unique)");
    expect_err("version: 1\n" SRC "stages:\n  - {use: filter, with: [1]}\n" SINK,
               ":4:25: 'with' must be a mapping of the plugin's options");
}

static void test_overrides(void **st)
{
    (void)st;
    char *err = NULL;
    tm_override ov[] = {{"long", "min_bytes", "500"}, {"source", "paths", "[a, b]"}};
    tm_pipeline *p = parse("version: 1\n" SRC
                           "stages: [{use: filter, name: long, with: {min_bytes: 200}}]\n" SINK,
                           ov, 2, &err);
    assert_non_null(p);
    assert_string_equal(tm__node_get(p->steps[1].with, "min_bytes")->value, "500");
    const tm_node *paths = tm__node_get(p->steps[0].with, "paths");
    assert_int_equal(paths->kind, TM_NODE_SEQ);
    assert_int_equal(paths->n, 2);
    tm__pipeline_free(p);

    tm_override bad[] = {{"nope", "x", "1"}};
    p = parse("version: 1\n" SRC SINK, bad, 1, &err);
    assert_null(p);
    assert_string_equal(err, "--set nope.x: no step named 'nope' (steps: files, jsonl)");
    free(err);
}

/* max_doc_bytes: and time_budget: at the top level (every stage's default)
 * and on a stage (its own; 0 or null: none); sources and sinks get none. */
static void test_limits(void **st)
{
    (void)st;
    char *err = NULL;
    tm_pipeline *p = parse("version: 1\nstate: s\nmax_doc_bytes: 10MiB\ntime_budget: 250ms\n" SRC
                           "stages:\n  - use: filter\n"
                           "  - {use: filter, max_doc_bytes: 500kB, time_budget: 1m}\n"
                           "  - {use: filter, max_doc_bytes: 0, time_budget: null}\n"
                           "  - {use: filter, max_doc_bytes: 1000000, time_budget: 1.5}\n"
                           "  - {use: filter, time_budget: 2s}\n" SINK,
                           NULL, 0, &err);
    assert_null(err);
    assert_non_null(p);
    assert_int_equal(p->max_doc_bytes, 10 << 20);
    assert_true(p->time_budget == 0.25);
    assert_int_equal(p->steps[0].max_doc_bytes, 0); /* the source */
    assert_true(p->steps[0].time_budget == 0);
    assert_int_equal(p->steps[1].max_doc_bytes, 10 << 20);
    assert_true(p->steps[1].time_budget == 0.25);
    assert_int_equal(p->steps[2].max_doc_bytes, 500 << 10);
    assert_true(p->steps[2].time_budget == 60);
    assert_int_equal(p->steps[3].max_doc_bytes, 0);
    assert_true(p->steps[3].time_budget == 0);
    assert_int_equal(p->steps[4].max_doc_bytes, 1000000);
    assert_true(p->steps[4].time_budget == 1.5);
    assert_int_equal(p->steps[5].max_doc_bytes, 10 << 20);
    assert_true(p->steps[5].time_budget == 2);
    assert_int_equal(p->steps[6].max_doc_bytes, 0); /* the sink */
    assert_string_equal(p->rejects, "s/rejects.jsonl");
    tm__pipeline_free(p);

    expect_err("version: 1\nstate: s\nmax_doc_bytes: 10 MB per doc\n" SRC SINK,
               ":3:16: 'max_doc_bytes' must be a size in bytes such as 1000000, 500kB or "
               "10MiB, not '10 MB per doc'");
    expect_err("version: 1\nstate: s\nmax_doc_bytes: 0\n" SRC SINK,
               ":3:16: 'max_doc_bytes: 0' at the top level limits nothing: leave it out (0 on "
               "a stage step turns the top level's limit off there)");
    expect_err("version: 1\nstate: s\ntime_budget: -2s\n" SRC SINK,
               ":3:14: 'time_budget' cannot be negative (leave it out for no limit)");
    expect_err("version: 1\nstate: s\ntime_budget: 0x10\n" SRC SINK,
               ":3:14: 'time_budget' must be a time per document in seconds (2, 0.5) or with "
               "a unit (250ms, 2s, 1m), not '0x10'");
    expect_err("version: 1\nstate: s\ntime_budget: inf\n" SRC SINK,
               ":3:14: 'time_budget' must be a time per document in seconds (2, 0.5) or with "
               "a unit (250ms, 2s, 1m), not 'inf'");
    expect_err("version: 1\nstate: s\n" SRC "stages:\n  - {use: filter, max_doc_bytes: 3 pages}\n" SINK,
               ":5:34: 'max_doc_bytes' must be a size in bytes such as 1000000, 500kB or "
               "10MiB, not '3 pages'");
    expect_err("version: 1\nstate: s\n" SRC
               "sinks: [{use: jsonl, time_budget: 1s, with: {path: o}}]\n",
               ":4:35: 'time_budget' applies to stages (sources and sinks are not limited per "
               "document)");
    expect_err("version: 1\nmax_doc_bytes: 1MB\n" SRC "stages:\n  - use: filter\n" SINK,
               ":2:16: 'max_doc_bytes' (for every stage) rejects the documents over it, but the "
               "pipeline says nowhere to put rejects: add 'rejects: PATH' (or 'state: DIR', "
               "which keeps them in DIR/rejects.jsonl)");
    expect_err("version: 1\n" SRC "stages:\n  - {use: filter, name: f, time_budget: 1}\n" SINK,
               ":4:41: 'time_budget' (stage 'f') rejects the documents over it, but the "
               "pipeline says nowhere to put rejects: add 'rejects: PATH' (or 'state: DIR', "
               "which keeps them in DIR/rejects.jsonl)");
    expect_err("version: 1\nstate: s\n" SRC
               "stages:\n  - {use: filter, workers: 2, time_budget: 1}\n" SINK,
               ":5:28: 'workers: 2' cannot apply to a stage with a time_budget (it is given one "
               "document per call, on one thread); set 'time_budget: 0' on this step to run it "
               "on threads");
    /* a top-level limit with no stage to apply to needs no rejects */
    p = parse("version: 1\nmax_doc_bytes: 1MB\n" SRC SINK, NULL, 0, &err);
    assert_non_null(p);
    assert_null(p->rejects);
    tm__pipeline_free(p);
}

static void test_load_checks(void **st)
{
    (void)st;
    setenv("TEXTMILL_PLUGIN_PATH", TM_BUILTIN_PLUGIN_DIR, 1);
    char *err = NULL;
    tm_pipeline *p = parse("version: 1\n" SRC "stages: [{use: filter, with: {min_bytes: 10}}]\n"
                           SINK, NULL, 0, &err);
    assert_non_null(p);
    assert_int_equal(tm__pipeline_load_plugins(p), 0);
    tm__pipeline_free(p);

    /* an optional read is fine; a stage that reads a field nobody writes is
     * refused before data flows */
    p = parse("version: 1\n" SRC "stages: [{use: " TM_TEST_PLUGIN_DIR "/ok.so}]\n" SINK, NULL, 0,
              &err);
    assert_non_null(p);
    assert_int_equal(tm__pipeline_load_plugins(p), 0);
    tm__pipeline_free(p);
    p = parse("version: 1\n" SRC "stages: [{use: " TM_TEST_PLUGIN_DIR "/needs_title.so}]\n" SINK,
              NULL, 0, &err);
    assert_non_null(p);
    assert_int_equal(tm__pipeline_load_plugins(p), -1);
    tm__pipeline_free(p);

    p = parse("version: 1\n" SRC "stages: [{use: filter, with: {min_byte: 10}}]\n" SINK, NULL, 0,
              &err);
    assert_non_null(p);
    assert_int_equal(tm__pipeline_load_plugins(p), -1);
    tm__pipeline_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_load_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
