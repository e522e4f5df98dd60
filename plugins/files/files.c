/* source `files`: one file, one document. The id is the file name without
 * its extension; meta.file is the path as matched. */
#include "textmill/plugin.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    tm_strlist paths;
    int binary; /* 0 fail, 1 skip */
} config;

static const tm_option options[] = {
    {.name = "paths", .type = TM_OPT_LIST, .offset = offsetof(config, paths), .required = 1,
     .help = "Glob patterns of the files to read, e.g. [\"seeds/*.txt\"]. Relative paths are "
             "relative to the working directory. A pattern without wildcards must name an "
             "existing file; a wildcard pattern that matches nothing is only a warning."},
    {.name = "binary", .type = TM_OPT_ENUM, .choices = "fail|skip", .def = "fail",
     .offset = offsetof(config, binary),
     .help = "What to do with a file that holds NUL bytes (not text): fail the run with an "
             "input error, or skip the file with a warning."},
    TM_OPTIONS_END};

/* With the pipeline's `state:`, tells the host that every document of
 * `path` has been emitted (or that the file yields none: empty, binary and
 * skipped, or rejected), so that a later run can skip it. */
static void done(const tm_host *h, tm_ctx *ctx, const char *path)
{
    if (TM_HOST_HAS(h, input_done))
        h->input_done(ctx, path);
}

typedef struct state {
    const tm_host *host;
    const config *cfg;
    tm_strlist files; /* expanded on the first process() call */
    size_t next;
    bool globbed;
} state;

static int init(tm_ctx *ctx, const tm_host *host, const void *cfg, void **out)
{
    (void)ctx;
    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    *out = s;
    return TM_OK;
}

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    const tm_host *h = s->host;
    if (!s->globbed) {
        s->globbed = true;
        int rc = h->expand_paths(ctx, &s->cfg->paths, &s->files);
        if (rc != TM_OK)
            return rc;
    }
    size_t emitted = 0;
    while (s->next < s->files.n && emitted < batch->budget_bytes) {
        const char *path = s->files.items[s->next++];
        char *text;
        size_t len;
        int rc = h->read_file(ctx, path, 0, &text, &len);
        if (rc != TM_OK)
            return rc;
        if (len == 0) {
            h->log(ctx, TM_LOG_WARN, "%s: empty file, skipped", path);
            h->count(ctx, "skipped_empty", 1);
            h->free(text);
            done(h, ctx, path);
            continue;
        }
        if (memchr(text, 0, len)) {
            h->free(text);
            if (s->cfg->binary == 1) {
                h->log(ctx, TM_LOG_WARN, "%s: binary file (holds NUL bytes), skipped", path);
                h->count(ctx, "skipped_binary", 1);
                done(h, ctx, path);
                continue;
            }
            return h->error(ctx, "%s: binary file (holds NUL bytes); set binary: skip to skip "
                                 "such files", path), TM_EINPUT;
        }
        /* id: the file name without directory and extension */
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        const char *dot = strrchr(base, '.');
        size_t id_len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        tm_doc *d = h->doc_new_take(ctx, base, id_len, text, len);
        if (!d) { /* rejected by the invalid_utf8 policy, which the host reported */
            h->log(ctx, TM_LOG_INFO, "%s: invalid UTF-8: that document is this file", path);
            done(h, ctx, path);
            continue;
        }
        if (h->meta_set(ctx, d, "file", TM_META_STRING, path, strlen(path)) != TM_OK) {
            /* a path that is not UTF-8: keep the document, without meta.file */
            h->log(ctx, TM_LOG_WARN, "%s: the path is not valid UTF-8; meta.file left empty",
                   path);
        }
        emitted += len;
        h->emit_take(ctx, d, NULL);
        done(h, ctx, path);
    }
    return s->next < s->files.n ? TM_OK : TM_END;
}

static void fini(void *st)
{
    state *s = st;
    s->host->strlist_free(&s->files);
    s->host->free(s);
}

static const char *const writes[] = {"id", "text", "meta.file", NULL};

TM_PLUGIN_DEFINE(.name = "files", .version = "1.0.0", .license = "MIT",
                 .summary = "Reads text files matched by glob patterns, one document each.",
                 .role = TM_ROLE_SOURCE, .options = options, .config_size = sizeof(config),
                 .writes = writes, .init = init, .process = process, .fini = fini);
