/* `textmill new-plugin NAME [DIR]`: writes an out-of-tree stage plugin
 * project that builds against the installed SDK through pkg-config and
 * tests itself by running a pipeline with the installed textmill. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char t_cmake[] =
    "cmake_minimum_required(VERSION 3.18)\n"
    "project(textmill-@NAME@ C)\n"
    "\n"
    "# The textmill SDK: one header, found through pkg-config (textmill.pc).\n"
    "find_package(PkgConfig REQUIRED)\n"
    "pkg_check_modules(TEXTMILL REQUIRED textmill)\n"
    "pkg_get_variable(TEXTMILL_BIN textmill textmill)\n"
    "pkg_get_variable(TEXTMILL_PLUGINDIR textmill plugindir)\n"
    "set(PLUGIN_INSTALL_DIR \"${TEXTMILL_PLUGINDIR}\" CACHE PATH\n"
    "    \"Where to install the plugin (or list its directory in TEXTMILL_PLUGIN_PATH)\")\n"
    "\n"
    "# A plugin is a module named stage-NAME.so that exports one descriptor.\n"
    "add_library(stage-@NAME@ MODULE @NAME@.c)\n"
    "set_target_properties(stage-@NAME@ PROPERTIES PREFIX \"\" C_STANDARD 11\n"
    "  C_VISIBILITY_PRESET hidden)\n"
    "target_include_directories(stage-@NAME@ PRIVATE ${TEXTMILL_INCLUDE_DIRS})\n"
    "target_compile_options(stage-@NAME@ PRIVATE ${TEXTMILL_CFLAGS_OTHER} -Wall -Wextra)\n"
    "target_link_options(stage-@NAME@ PRIVATE -Wl,--no-undefined)\n"
    "install(TARGETS stage-@NAME@ LIBRARY DESTINATION \"${PLUGIN_INSTALL_DIR}\")\n"
    "\n"
    "enable_testing()\n"
    "add_test(NAME @NAME@-pipeline\n"
    "  COMMAND ${CMAKE_COMMAND} -DTEXTMILL=${TEXTMILL_BIN}\n"
    "          -DPLUGIN_DIR=${CMAKE_CURRENT_BINARY_DIR}\n"
    "          -DSRC=${CMAKE_CURRENT_SOURCE_DIR} -DOUT=${CMAKE_CURRENT_BINARY_DIR}/test-out\n"
    "          -P ${CMAKE_CURRENT_SOURCE_DIR}/test/run.cmake)\n";

static const char t_source[] =
    "/* stage `@NAME@`: counts the words of each document into meta.word_count\n"
    " * and drops documents with fewer than `min_words` words.\n"
    " * Start here: change process() to do what your stage should do. */\n"
    "#include <textmill/plugin.h>\n"
    "\n"
    "#include <ctype.h>\n"
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "\n"
    "/* The options, filled by textmill from the pipeline's `with:` block. */\n"
    "typedef struct config {\n"
    "    int64_t min_words;\n"
    "} config;\n"
    "\n"
    "static const tm_option options[] = {\n"
    "    {.name = \"min_words\", .type = TM_OPT_INT, .def = \"0\", .min = 0, .max = 1e9,\n"
    "     .offset = offsetof(config, min_words),\n"
    "     .help = \"Drop documents with fewer words than this (reason: too_few_words).\"},\n"
    "    TM_OPTIONS_END};\n"
    "\n"
    "typedef struct state {\n"
    "    const tm_host *host;\n"
    "    const config *cfg;\n"
    "} state;\n"
    "\n"
    "static int init(tm_ctx *ctx, const tm_host *host, const void *cfg, void **out)\n"
    "{\n"
    "    (void)ctx;\n"
    "    state *s = host->alloc(sizeof *s);\n"
    "    if (!s)\n"
    "        return TM_ENOMEM;\n"
    "    s->host = host;\n"
    "    s->cfg = cfg;\n"
    "    *out = s;\n"
    "    return TM_OK;\n"
    "}\n"
    "\n"
    "static int process(void *st, tm_ctx *ctx, tm_batch *batch)\n"
    "{\n"
    "    state *s = st;\n"
    "    for (size_t i = 0; i < batch->n; i++) {\n"
    "        tm_doc *d = batch->docs[i];\n"
    "        int64_t words = 0;\n"
    "        int in_word = 0;\n"
    "        for (size_t k = 0; k < d->text_len; k++) {\n"
    "            int space = isspace((unsigned char)d->text[k]);\n"
    "            words += !space && !in_word;\n"
    "            in_word = !space;\n"
    "        }\n"
    "        char num[32];\n"
    "        int n = snprintf(num, sizeof num, \"%lld\", (long long)words);\n"
    "        if (s->host->meta_set(ctx, d, \"word_count\", TM_META_NUMBER, num, (size_t)n) < 0)\n"
    "            return s->host->error(ctx, \"%s: cannot set word_count\", d->id);\n"
    "        s->host->count(ctx, \"words\", words);\n"
    "        if (words < s->cfg->min_words)\n"
    "            s->host->drop(ctx, d, \"too_few_words\");\n"
    "    }\n"
    "    return TM_OK;\n"
    "}\n"
    "\n"
    "static void fini(void *st)\n"
    "{\n"
    "    state *s = st;\n"
    "    s->host->free(s);\n"
    "}\n"
    "\n"
    "static const char *const reads[] = {\"text\", NULL};\n"
    "static const char *const writes[] = {\"meta.word_count\", NULL};\n"
    "\n"
    "TM_PLUGIN_DEFINE(.name = \"@NAME@\", .version = \"0.1.0\", .license = \"MIT\",\n"
    "                 .summary = \"Counts words into meta.word_count.\",\n"
    "                 .role = TM_ROLE_STAGE, .caps = TM_CAP_REENTRANT, .options = options,\n"
    "                 .config_size = sizeof(config), .reads = reads, .writes = writes,\n"
    "                 .init = init, .process = process, .fini = fini);\n";

static const char t_readme[] =
    "# @NAME@: a textmill stage plugin\n"
    "\n"
    "Counts the words of each document into `meta.word_count` and drops\n"
    "documents with fewer than `min_words` words.\n"
    "\n"
    "## Build, test, install\n"
    "\n"
    "```sh\n"
    "cmake -B build && cmake --build build\n"
    "ctest --test-dir build --output-on-failure\n"
    "cmake --install build          # into textmill's plugin directory\n"
    "```\n"
    "\n"
    "Without installing, point textmill at the build directory:\n"
    "`TEXTMILL_PLUGIN_PATH=$PWD/build textmill plugins @NAME@`.\n"
    "\n"
    "## Use\n"
    "\n"
    "```yaml\n"
    "stages:\n"
    "  - use: @NAME@\n"
    "    with: { min_words: 50 }\n"
    "```\n"
    "\n"
    "## Options\n"
    "\n"
    "| option | type | default | meaning |\n"
    "|---|---|---|---|\n"
    "| `min_words` | integer | 0 | drop documents with fewer words (reason `too_few_words`) |\n";

static const char t_pipeline[] =
    "version: 1\n"
    "name: @NAME@-test\n"
    "source:\n"
    "  use: files\n"
    "  with: { paths: [\"${SRC}/test/*.txt\"] }\n"
    "stages:\n"
    "  - use: @NAME@\n"
    "    with: { min_words: 5 }\n"
    "sinks:\n"
    "  - use: jsonl\n"
    "    with: { path: \"${OUT}/out.jsonl\" }\n";

static const char t_sample_long[] = "The quick brown fox jumps over the lazy dog.\n";
static const char t_sample_short[] = "Too short.\n";

static const char t_test[] =
    "# Runs the plugin in a pipeline with the installed textmill and checks\n"
    "# what came out. Called by ctest with TEXTMILL, PLUGIN_DIR, SRC and OUT.\n"
    "file(REMOVE_RECURSE ${OUT})\n"
    "execute_process(\n"
    "  COMMAND ${CMAKE_COMMAND} -E env TEXTMILL_PLUGIN_PATH=${PLUGIN_DIR} SRC=${SRC} OUT=${OUT}\n"
    "          ${TEXTMILL} run ${SRC}/test/pipeline.yaml --stats\n"
    "  RESULT_VARIABLE rc)\n"
    "if(NOT rc EQUAL 0)\n"
    "  message(FATAL_ERROR \"textmill run failed with exit code ${rc}\")\n"
    "endif()\n"
    "file(STRINGS ${OUT}/out.jsonl lines)\n"
    "list(LENGTH lines n)\n"
    "if(NOT n EQUAL 1)\n"
    "  message(FATAL_ERROR \"expected 1 document (the short one dropped), got ${n}\")\n"
    "endif()\n"
    "string(FIND \"${lines}\" \"\\\"word_count\\\":9\" found)\n"
    "if(found EQUAL -1)\n"
    "  message(FATAL_ERROR \"meta.word_count is not 9 in: ${lines}\")\n"
    "endif()\n";

static char *fill(const char *tpl, const char *name, const char *cname)
{
    tm_buf b = {0};
    for (const char *p = tpl; *p;) {
        if (!strncmp(p, "@NAME@", 6)) {
            tm__buf_adds(&b, name);
            p += 6;
        } else if (!strncmp(p, "@CNAME@", 7)) {
            tm__buf_adds(&b, cname);
            p += 7;
        } else {
            tm__buf_addc(&b, *p++);
        }
    }
    return b.data;
}

static int write_file(const char *dir, const char *rel, const char *content)
{
    char *path = tm__xasprintf("%s/%s", dir, rel);
    FILE *f = fopen(path, "wx");
    int rc = 0;
    if (!f || fputs(content, f) < 0 || fclose(f) != 0) {
        tm__log(TM_LOG_ERROR, NULL, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(path);
    return rc;
}

int tm__new_plugin(const char *name, const char *dir)
{
    bool ok = *name && (*name >= 'a' && *name <= 'z');
    for (const char *c = name; *c; c++)
        ok &= (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
    if (!ok) {
        tm__log(TM_LOG_ERROR, NULL,
                "'%s' is not a valid plugin name: use lowercase letters, digits, '_' and '-', "
                "starting with a letter",
                name);
        return TM_EXIT_CONFIG;
    }
    char *root = tm__xasprintf("%s/%s", dir, name);
    char *test = tm__xasprintf("%s/test", root);
    char *cname = tm__xstrdup(name);
    for (char *c = cname; *c; c++)
        if (*c == '-')
            *c = '_';
    int rc = TM_EXIT_OK;
    if (mkdir(root, 0777) != 0) {
        tm__log(TM_LOG_ERROR, NULL, "cannot create %s: %s", root, strerror(errno));
        rc = errno == EEXIST ? TM_EXIT_CONFIG : TM_EXIT_INPUT;
        goto out;
    }
    if (mkdir(test, 0777) != 0) {
        tm__log(TM_LOG_ERROR, NULL, "cannot create %s: %s", test, strerror(errno));
        rc = TM_EXIT_INPUT;
        goto out;
    }
    char *src_name = tm__xasprintf("%s.c", name);
    const struct {
        const char *rel, *tpl;
    } files[] = {{"CMakeLists.txt", t_cmake},       {src_name, t_source},
                 {"README.md", t_readme},           {"test/pipeline.yaml", t_pipeline},
                 {"test/long.txt", t_sample_long}, {"test/short.txt", t_sample_short},
                 {"test/run.cmake", t_test}};
    for (size_t i = 0; i < sizeof files / sizeof files[0] && rc == TM_EXIT_OK; i++) {
        char *content = fill(files[i].tpl, name, cname);
        if (write_file(root, files[i].rel, content) != 0)
            rc = TM_EXIT_INPUT;
        free(content);
    }
    free(src_name);
    if (rc == TM_EXIT_OK)
        printf("created %s: build with\n  cmake -S %s -B %s/build && cmake --build %s/build "
               "&& ctest --test-dir %s/build\n",
               root, root, root, root, root);
out:
    free(root);
    free(test);
    free(cname);
    return rc;
}
