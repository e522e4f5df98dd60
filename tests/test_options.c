/* Option validation from a plugin's table: types, ranges, defaults, unknown
 * keys (with the valid ones listed), required options, JSON Schema. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct cfg {
    char *path;
    int64_t count;
    double threshold;
    int flag;
    int mode;
    tm_strlist items;
    int64_t size;
    tm_strmap rules;
} cfg;

static const tm_option opts[] = {
    {.name = "path", .type = TM_OPT_STRING, .offset = offsetof(cfg, path), .required = 1,
     .help = "Where to write."},
    {.name = "count", .type = TM_OPT_INT, .def = "3", .min = 1, .max = 10,
     .offset = offsetof(cfg, count), .help = "How many."},
    {.name = "threshold", .type = TM_OPT_DOUBLE, .def = "0.8", .min = 0, .max = 1,
     .offset = offsetof(cfg, threshold), .help = "A threshold."},
    {.name = "flag", .type = TM_OPT_BOOL, .def = "no", .offset = offsetof(cfg, flag),
     .help = "A flag."},
    {.name = "mode", .type = TM_OPT_ENUM, .choices = "drop|mark", .def = "drop",
     .offset = offsetof(cfg, mode), .help = "What to do."},
    {.name = "items", .type = TM_OPT_LIST, .def = "[a, b]", .offset = offsetof(cfg, items),
     .help = "Some items."},
    {.name = "size", .type = TM_OPT_BYTES, .def = "64k", .offset = offsetof(cfg, size),
     .help = "A size."},
    {.name = "rules", .type = TM_OPT_MAP, .offset = offsetof(cfg, rules), .help = "Named rules."},
    TM_OPTIONS_END};

static const tm_plugin plug = {.name = "demo",
                               .role = TM_ROLE_STAGE,
                               .summary = "demo",
                               .version = "1",
                               .options = opts,
                               .config_size = sizeof(cfg)};

static cfg *fill(const char *yaml, char **err)
{
    char *lerr = NULL;
    tm_node *n = tm__yaml_load("p.yaml", yaml, strlen(yaml), true, &lerr);
    assert_non_null(n);
    cfg *c = tm__options_fill(&plug, "p.yaml", n, err);
    tm__node_free(n);
    return c;
}

static void expect_err(const char *yaml, const char *expected)
{
    char *err = NULL;
    cfg *c = fill(yaml, &err);
    assert_null(c);
    assert_non_null(err);
    assert_string_equal(err, expected);
    free(err);
}

static void test_defaults_and_values(void **st)
{
    (void)st;
    char *err = NULL;
    cfg *c = fill("path: out.jsonl\n", &err);
    assert_non_null(c);
    assert_string_equal(c->path, "out.jsonl");
    assert_int_equal(c->count, 3);
    assert_true(c->threshold > 0.79 && c->threshold < 0.81);
    assert_int_equal(c->flag, 0);
    assert_int_equal(c->mode, 0);
    assert_int_equal(c->items.n, 2);
    assert_string_equal(c->items.items[1], "b");
    assert_int_equal(c->size, 65536);
    tm__options_free(&plug, c);

    c = fill("{path: x, count: 10, threshold: 0.5, flag: true, mode: mark, items: one, "
             "size: 10MB}",
             &err);
    assert_non_null(c);
    assert_int_equal(c->count, 10);
    assert_int_equal(c->flag, 1);
    assert_int_equal(c->mode, 1);
    assert_int_equal(c->items.n, 1);
    assert_string_equal(c->items.items[0], "one");
    assert_int_equal(c->size, 10 * 1024 * 1024);
    assert_int_equal(c->rules.n, 0);
    tm__options_free(&plug, c);

    c = fill("{path: x, rules: {share: '^\\d+$', skip: '^Skip'}}", &err);
    assert_non_null(c);
    assert_int_equal(c->rules.n, 2);
    assert_string_equal(c->rules.keys[1], "skip");
    assert_string_equal(c->rules.values[0], "^\\d+$");
    tm__options_free(&plug, c);
}

static void test_errors(void **st)
{
    (void)st;
    expect_err("path: x\ncuont: 3\n", "p.yaml:2:1: unknown option 'cuont' for stage 'demo'; did "
                                      "you mean 'count'? (valid: path, count, threshold, flag, "
                                      "mode, items, size, rules)");
    expect_err("path: x\ncount: 11\n", "p.yaml:2:8: option 'count' must be between 1 and 10, "
                                       "not 11");
    expect_err("path: x\ncount: 2.5\n", "p.yaml:2:8: option 'count' expects an integer, not "
                                        "'2.5'");
    expect_err("path: x\nthreshold: high\n",
               "p.yaml:2:12: option 'threshold' expects a number, not 'high'");
    expect_err("path: x\nflag: maybe\n", "p.yaml:2:7: option 'flag' expects true or false, not "
                                         "'maybe'");
    expect_err("path: x\nmode: delete\n", "p.yaml:2:7: option 'mode' must be one of: drop, mark "
                                          "(not 'delete')");
    expect_err("path: x\nitems: {a: 1}\n", "p.yaml:2:8: option 'items' expects a list of strings");
    expect_err("path: x\nrules: [a]\n", "p.yaml:2:8: option 'rules' expects a mapping (name: "
                                        "value, ...)");
    expect_err("path: x\nsize: lots\n", "p.yaml:2:7: option 'size' expects a size such as 4096, "
                                        "64k or 10MB, not 'lots'");
    expect_err("path: [a]\n", "p.yaml:1:7: option 'path' expects a string, not a list");
    expect_err("count: 2\n", "p.yaml:1:1: stage 'demo' needs option 'path': Where to write.");
    expect_err("path: x\ncount:\n", "p.yaml:2:7: option 'count' is null: give an integer, or "
                                   "leave the option out for its default (3)");
    expect_err("path: ~\n", "p.yaml:1:7: option 'path' is null, but stage 'demo' needs it: "
                            "Where to write.");
}

static void test_schema(void **st)
{
    (void)st;
    char *s = tm__options_schema(&plug);
    assert_non_null(strstr(s, "\"required\":\t[\"path\"]"));
    assert_non_null(strstr(s, "\"enum\":\t[\"drop\", \"mark\"]"));
    assert_non_null(strstr(s, "\"additionalProperties\":\tfalse"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
