/* The pipeline loader and validator on arbitrary bytes as a pipeline file,
 * as `textmill check` takes it: parse (YAML, ${VAR} expansion, keys, steps),
 * find and load the built-in plugins, validate every option against their
 * tables, check the field order; then init and fini each stage whose init
 * only reads its options. Nothing runs.
 *
 * Kept out, so that the fuzzer cannot reach outside the build tree: `use:`
 * with a path (the input is skipped: dlopen of any file on the machine),
 * plugin_path: (dropped), state: (dropped; never opened here anyway), and
 * init of sources and sinks (they look at or create files named in their
 * options) and of entities (it reads gazetteer files named in its options,
 * and its start-up takes too long to repeat per input). */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static char *file;

static const char *const init_ok[] = {"filter", "cleanup", "split", "metadata", "html",
                                      "dedupe"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_setup();
    file = fz_scratch_path("pipeline.yaml");
    return 0;
}

static bool may_init(const tm_step *s)
{
    if (s->role != TM_ROLE_STAGE)
        return false;
    for (size_t i = 0; i < sizeof init_ok / sizeof *init_ok; i++)
        if (!strcmp(s->plugin.desc->name, init_ok[i]))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write_file(file, data, size);
    char *err = NULL;
    tm_pipeline *p = tm__pipeline_parse(file, NULL, 0, &err);
    if (!p) {
        free(err);
        return 0;
    }
    for (size_t i = 0; i < p->n_steps; i++) {
        const char *u = p->steps[i].use;
        size_t n = strlen(u);
        if (strchr(u, '/') || (n > 3 && !strcmp(u + n - 3, ".so")))
            goto out;
    }
    for (size_t i = 0; i < p->n_plugin_path; i++)
        free(p->plugin_path[i]);
    p->n_plugin_path = 0;
    free(p->state_dir);
    p->state_dir = NULL;
    if (tm__pipeline_load_plugins(p) != 0)
        goto out;
    for (size_t i = 0; i < p->n_steps; i++) {
        tm_step *s = &p->steps[i];
        if (!may_init(s))
            continue;
        tm_ctx c;
        tm__ctx_init(&c, p, s);
        void *state = NULL;
        if (s->plugin.desc->init(&c, &tm__host, s->config, &state) == TM_OK &&
            s->plugin.desc->fini)
            s->plugin.desc->fini(state);
        tm__ctx_free(&c);
    }
out:
    tm__pipeline_free(p);
    return 0;
}
