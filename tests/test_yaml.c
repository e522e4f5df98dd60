/* The YAML loader: positions in errors, duplicate keys, alias bombs, and
 * ${VAR} expansion. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char *load_err(const char *text)
{
    char *err = NULL;
    tm_node *n = tm__yaml_load("p.yaml", text, strlen(text), true, &err);
    tm__node_free(n);
    return err;
}

static void expect_err(const char *text, const char *expected)
{
    char *err = load_err(text);
    assert_non_null(err);
    assert_string_equal(err, expected);
    free(err);
}

static void test_positions(void **st)
{
    (void)st;
    char *err = NULL;
    const char *t = "version: 1\nsource:\n  use: files\n  with: {paths: [a, b]}\n";
    tm_node *n = tm__yaml_load("p.yaml", t, strlen(t), true, &err);
    assert_non_null(n);
    tm_node *src = tm__node_get(n, "source");
    assert_int_equal(src->line, 3);
    assert_int_equal(src->col, 3);
    tm_node *use = tm__node_get(src, "use");
    assert_string_equal(use->value, "files");
    assert_int_equal(use->line, 3);
    assert_int_equal(use->col, 8);
    tm_node *paths = tm__node_get(tm__node_get(src, "with"), "paths");
    assert_int_equal(paths->kind, TM_NODE_SEQ);
    assert_int_equal(paths->n, 2);
    assert_int_equal(paths->items[1]->col, 21);
    tm__node_free(n);
}

static void test_syntax_error_has_position(void **st)
{
    (void)st;
    expect_err("a: 1\nb: [1, 2\n", "p.yaml:3:1: did not find expected ',' or ']' while parsing "
                                   "a flow sequence");
    expect_err("a: 1\n  b: 2\n", "p.yaml:2:4: mapping values are not allowed in this context");
}

static void test_duplicate_key(void **st)
{
    (void)st;
    expect_err("a: 1\nb: 2\na: 3\n", "p.yaml:3:1: duplicate key 'a' (first at line 1)");
}

static void test_empty_and_multi(void **st)
{
    (void)st;
    expect_err("", "p.yaml:1:1: the file is empty");
    expect_err("# only a comment\n", "p.yaml:1:1: the file is empty");
    expect_err("a: 1\n---\nb: 2\n", "p.yaml:3:1: more than one YAML document in the file");
}

static void test_alias_bomb(void **st)
{
    (void)st;
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    char *err = load_err(bomb);
    assert_non_null(err);
    assert_non_null(strstr(err, "too many nodes after expanding aliases"));
    free(err);
}

static void test_deep_nesting(void **st)
{
    (void)st;
    char buf[400] = {0};
    for (int i = 0; i < 100; i++)
        strcat(buf, "[");
    for (int i = 0; i < 100; i++)
        strcat(buf, "]");
    char *err = load_err(buf);
    assert_non_null(err);
    assert_non_null(strstr(err, "nested too deeply"));
    free(err);
}

/* pre + n copies of unit + post, in a new string */
static char *repeat(const char *pre, const char *unit, int n, const char *post)
{
    size_t lp = strlen(pre), lu = strlen(unit), lt = strlen(post);
    char *s = malloc(lp + lu * (size_t)n + lt + 1);
    assert_non_null(s);
    memcpy(s, pre, lp);
    for (int i = 0; i < n; i++)
        memcpy(s + lp + lu * (size_t)i, unit, lu);
    memcpy(s + lp + lu * (size_t)n, post, lt + 1);
    return s;
}

static void expect_flow_err(const char *pre, const char *post, const char *expected)
{
    char *t = repeat(pre, "[", 1001, post);
    expect_err(t, expected);
    free(t);
}

static void test_flow_precheck_quotes(void **st)
{
    (void)st;
    /* an apostrophe in a plain scalar, or after a quoted scalar, hides nothing */
    expect_flow_err("version: 1\nname: rock 'n roll\ndeep: ", "\n",
                    "p.yaml:3:1007: nested too deeply (more than 1000 unclosed '[' or '{')");
    expect_flow_err("a: 'a'' ['\nb: ", "\n",
                    "p.yaml:2:1004: nested too deeply (more than 1000 unclosed '[' or '{')");
    expect_flow_err("a: x,'y\nb: ", "'\n",
                    "p.yaml:2:1004: nested too deeply (more than 1000 unclosed '[' or '{')");
    expect_flow_err("# it's\nb: ", "\n",
                    "p.yaml:2:1004: nested too deeply (more than 1000 unclosed '[' or '{')");
    /* brackets in quoted scalars do not count */
    char *t = repeat("version: 1\nlist: [", "'it''s [x', \"\\\"{\", ", 1001, "end]\n");
    char *err = load_err(t);
    assert_null(err);
    free(t);
}

static void test_flow_precheck_block_scalars(void **st)
{
    (void)st;
    const char *heads[] = {"note: |\n", "note: |-\n", "note: >+2\n", "- - k: > # c\n"};
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        char *t = repeat(heads[i], "      \\[ it's {\n", 1001, "");
        char *err = load_err(t);
        assert_null(err);
        free(t);
    }
    /* the body ends where the indentation does */
    expect_flow_err("- - k: |\n      text\n  - ", "\n",
                    "p.yaml:3:1005: nested too deeply (more than 1000 unclosed '[' or '{')");
}

static void test_flow_precheck_position(void **st)
{
    (void)st;
    /* an escaped line break is still a line; columns count characters */
    expect_flow_err("version: 1\nname: \"a long \\\n  name\"\nd\xC3\xA9: ", "\n",
                    "p.yaml:4:1005: nested too deeply (more than 1000 unclosed '[' or '{')");
}

static void test_nul_bytes(void **st)
{
    (void)st;
    char *err = NULL;
    tm_node *n = tm__yaml_load("p.yaml", "a: 1\0b", 6, true, &err);
    assert_null(n);
    assert_string_equal(err, "p.yaml: not a YAML file (it holds NUL bytes)");
    free(err);
}

static char *expand(const char *s, char **err, size_t *off)
{
    size_t len = 0;
    *err = NULL;
    return tm__expand_vars(s, strlen(s), &len, err, off);
}

static void test_vars(void **st)
{
    (void)st;
    setenv("TM_T_DIR", "/data", 1);
    setenv("TM_T_EMPTY", "", 1);
    unsetenv("TM_T_UNSET");
    char *err;
    size_t off;
    char *r = expand("${TM_T_DIR}/in/*.txt", &err, &off);
    assert_string_equal(r, "/data/in/*.txt");
    free(r);
    r = expand("${TM_T_UNSET:-out}/x and ${TM_T_EMPTY:-e}", &err, &off);
    assert_string_equal(r, "out/x and e");
    free(r);
    r = expand("${TM_T_UNSET:-${TM_T_DIR}/d}", &err, &off);
    assert_string_equal(r, "/data/d");
    free(r);
    r = expand("cost: $$5 and $HOME stays", &err, &off);
    assert_string_equal(r, "cost: $5 and $HOME stays");
    free(r);

    r = expand("x ${TM_T_UNSET} y", &err, &off);
    assert_null(r);
    assert_string_equal(err, "undefined variable ${TM_T_UNSET} (set it, or write "
                             "${TM_T_UNSET:-default})");
    assert_int_equal(off, 2);
    free(err);
    r = expand("${TM_T_EMPTY:?set the output directory}", &err, &off);
    assert_null(r);
    assert_string_equal(err, "TM_T_EMPTY: set the output directory");
    free(err);
    r = expand("${TM_T_DIR", &err, &off);
    assert_null(r);
    assert_string_equal(err, "unterminated variable reference ${TM_T_DIR");
    free(err);
}

static void test_vars_in_yaml_positions(void **st)
{
    (void)st;
    unsetenv("TM_T_UNSET");
    expect_err("a: 1\nb: pre-${TM_T_UNSET}\n",
               "p.yaml:2:8: undefined variable ${TM_T_UNSET} (set it, or write "
               "${TM_T_UNSET:-default})");
    expect_err("a: 1\nb: \"q ${TM_T_UNSET}\"\n",
               "p.yaml:2:7: undefined variable ${TM_T_UNSET} (set it, or write "
               "${TM_T_UNSET:-default})");
    /* keys are never expanded */
    char *err = NULL;
    const char *t = "${X}: 1\n";
    tm_node *n = tm__yaml_load("p.yaml", t, strlen(t), true, &err);
    assert_non_null(n);
    assert_string_equal(n->keys[0]->value, "${X}");
    tm__node_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),      cmocka_unit_test(test_syntax_error_has_position),
        cmocka_unit_test(test_duplicate_key),  cmocka_unit_test(test_empty_and_multi),
        cmocka_unit_test(test_alias_bomb),     cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_nul_bytes),      cmocka_unit_test(test_vars),
        cmocka_unit_test(test_vars_in_yaml_positions),
        cmocka_unit_test(test_flow_precheck_quotes),
        cmocka_unit_test(test_flow_precheck_block_scalars),
        cmocka_unit_test(test_flow_precheck_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
