/* Conformance: every built-in plugin, loaded through the real loader, must
 * start and stop cleanly, survive an empty batch, and run inside a real
 * pipeline on the sample articles; sinks must leave a complete output and
 * no temporary file. A new plugin is covered by being built, nothing else. */
#include "internal.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char tmpdir[64];

/* A sample value for a required option, or NULL if there is none. */
static char *sample_option(const tm_plugin *d, const tm_option *o)
{
    if (!strcmp(o->name, "paths") && !strcmp(d->name, "jsonl"))
        return tm__xstrdup("[\"" TM_SOURCE_DIR "/tests/golden/news.jsonl\"]");
    if (!strcmp(o->name, "paths") && !strcmp(d->name, "html"))
        return tm__xstrdup("[\"" TM_SOURCE_DIR "/tests/html/*.html\"]");
    if (!strcmp(o->name, "paths"))
        return tm__xstrdup("[\"" TM_SOURCE_DIR "/seeds/*.txt\"]");
    if (!strcmp(o->name, "path") && !strcmp(d->name, "graph")) /* its format is the extension's */
        return tm__xasprintf("\"%s/sink-graph.gexf\"", tmpdir);
    if (!strcmp(o->name, "path") && !strcmp(d->name, "report")) /* a page must end in .html */
        return tm__xasprintf("\"%s/sink-report.html\"", tmpdir);
    if (!strcmp(o->name, "path"))
        return tm__xasprintf("\"%s/%s-%s.out\"", tmpdir, tm__role_name(d->role), d->name);
    return NULL;
}

/* "{a: x, b: y}" for the plugin's required options */
static char *with_block(const tm_plugin *d, bool *ok)
{
    tm_buf b = {0};
    tm__buf_adds(&b, "{");
    *ok = true;
    for (size_t i = 0; d->options && d->options[i].name; i++) {
        if (!d->options[i].required)
            continue;
        char *v = sample_option(d, &d->options[i]);
        if (!v) {
            print_message("  %s %s: no sample value for required option '%s'\n",
                          tm__role_name(d->role), d->name, d->options[i].name);
            *ok = false;
            continue;
        }
        tm__buf_printf(&b, "%s%s: %s", b.len > 1 ? ", " : "", d->options[i].name, v);
        free(v);
    }
    tm__buf_adds(&b, "}");
    return b.data;
}

static int run_yaml(const char *yaml)
{
    char path[128];
    snprintf(path, sizeof path, "%s/pipeline.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    char *err = NULL;
    tm_pipeline *p = tm__pipeline_parse(path, NULL, 0, &err);
    if (!p) {
        print_error("%s\n", err);
        free(err);
        return -1;
    }
    int rc = tm__pipeline_load_plugins(p) == 0 ? 0 : TM_EXIT_CONFIG;
    tm_run_opts o = {.quiet = true};
    if (rc == 0)
        rc = tm__run(p, &o);
    tm__pipeline_free(p);
    return rc;
}

static void no_temporary_files(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            fail_msg("temporary file left behind: %s", e->d_name);
    closedir(d);
}

/* init, an empty batch, flush, fini: directly, as the runner would */
static void empty_batch(tm_loaded *l, const char *with)
{
    char *err = NULL;
    tm_node *w = tm__yaml_load("with", with, strlen(with), false, &err);
    assert_non_null(w);
    void *cfg = tm__options_fill(l->desc, "with", w, &err);
    if (!cfg)
        fail_msg("%s", err);
    tm_step step = {.role = l->desc->role, .use = (char *)l->desc->name,
                    .name = (char *)l->desc->name, .plugin = *l};
    tm_ctx c;
    tm__ctx_init(&c, NULL, &step);
    void *state = NULL;
    assert_int_equal(l->desc->init(&c, &tm__host, cfg, &state), TM_OK);
    if (l->desc->role != TM_ROLE_SOURCE) {
        tm_batch b = {NULL, 0, 1 << 20};
        c.batch = &b;
        assert_true(l->desc->process(state, &c, &b) >= 0);
        tm__ctx_settle(&c, &b);
        assert_int_equal(b.n, 0);
        free(b.docs);
    }
    /* no flush for sinks: an abandoned run must leave no file */
    if (l->desc->fini)
        l->desc->fini(state);
    tm__ctx_free(&c);
    tm__options_free(l->desc, cfg);
    tm__node_free(w);
    no_temporary_files();
}

static void test_every_plugin(void **st)
{
    (void)st;
    unsetenv("TEXTMILL_PLUGIN_PATH");
    const char *only[] = {TM_BUILTIN_PLUGIN_DIR};
    tm_search s = {0};
    tm__search_init(&s, only, 1);
    tm_loaded *all = NULL;
    size_t n = tm__plugin_list(&s, &all);
    assert_true(n >= 4); /* files, jsonl (source and sink), filter at least */
    const char *seeds = "{use: files, with: {paths: [\"" TM_SOURCE_DIR "/seeds/*.txt\"]}}";
    for (size_t i = 0; i < n; i++) {
        const tm_plugin *d = all[i].desc;
        bool ok;
        char *with = with_block(d, &ok);
        print_message("  %s %s %s\n", tm__role_name(d->role), d->name, all[i].path);
        assert_true(ok);
        empty_batch(&all[i], with);
        char *yaml = NULL, *out = tm__xasprintf("%s/out.jsonl", tmpdir);
        switch (d->role) {
        case TM_ROLE_SOURCE:
            yaml = tm__xasprintf("version: 1\nsource: {use: \"%s\", with: %s}\n"
                                 "sinks: [{use: jsonl, with: {path: \"%s\"}}]\n",
                                 all[i].path, with, out);
            break;
        case TM_ROLE_STAGE:
            yaml = tm__xasprintf("version: 1\nsource: %s\nstages: [{use: \"%s\", with: %s}]\n"
                                 "sinks: [{use: jsonl, with: {path: \"%s\"}}]\n",
                                 seeds, all[i].path, with, out);
            break;
        case TM_ROLE_SINK:
            yaml = tm__xasprintf("version: 1\nsource: %s\nsinks: [{use: \"%s\", with: %s}]\n",
                                 seeds, all[i].path, with);
            break;
        }
        assert_int_equal(run_yaml(yaml), 0);
        no_temporary_files();
        struct stat sb;
        if (d->role == TM_ROLE_SINK) {
            char *p = sample_option(d, &(tm_option){.name = "path"});
            p[strlen(p) - 1] = 0; /* unquote */
            assert_int_equal(stat(p + 1, &sb), 0);
            assert_true(sb.st_size > 0);
            free(p);
        } else {
            assert_int_equal(stat(out, &sb), 0);
        }
        free(out);
        free(yaml);
        free(with);
    }
    for (size_t i = 0; i < n; i++)
        tm__plugin_close(&all[i]);
    free(all);
    tm__search_free(&s);
}

static int setup(void **st)
{
    (void)st;
    strcpy(tmpdir, "/tmp/tm_conformance_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char *cmd = tm__xasprintf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_plugin)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
