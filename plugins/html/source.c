/* source `html`: one HTML file, one document holding the page's main text
 * and its metadata (see extract.c for how both are found). The id is the
 * file name without its extension; meta.file is the path as matched.
 *
 * A file that cannot be used (not HTML, too large, no main text) is
 * rejected on its own, with a warning that names it and a counter: one bad
 * page in a crawl must not stop the run. A file that cannot be read at all
 * is an input error, as in the `files` source. */
#include "textmill/plugin.h"

#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct config {
    tm_strlist paths;
    int64_t max_bytes;
    int64_t min_text_bytes;
} config;

static const tm_option options[] = {
    {.name = "paths", .type = TM_OPT_LIST, .offset = offsetof(config, paths), .required = 1,
     .help = "Glob patterns of the HTML files to read, e.g. [\"pages/*.html\"]. A pattern "
             "without wildcards must name an existing file; a wildcard pattern that matches "
             "nothing is only a warning."},
    {.name = "max_bytes", .type = TM_OPT_BYTES, .def = "64MB",
     .offset = offsetof(config, max_bytes), .min = 1, .max = 2147483647.0,
     .help = "Larger files are not read: each is skipped with a warning (counter "
             "rejected_too_large). At most 2GiB, libxml2's limit."},
    {.name = "min_text_bytes", .type = TM_OPT_BYTES, .def = "0",
     .offset = offsetof(config, min_text_bytes),
     .help = "Skip, with a warning (counter rejected_empty), pages whose main text is shorter "
             "than this; pages with no main text at all are always skipped."},
    TM_OPTIONS_END};

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
    hx_global_init();
    *out = s;
    return TM_OK;
}

/* Sets meta `key` to v, or to null when the page does not say, so that
 * every document of this source has the same fields. */
static void set_meta(state *s, tm_ctx *ctx, tm_doc *d, const char *key, const char *v)
{
    const tm_host *h = s->host;
    int rc = v ? h->meta_set(ctx, d, key, TM_META_STRING, v, strlen(v))
               : h->meta_set(ctx, d, key, TM_META_NULL, NULL, 0);
    if (rc != TM_OK && v) /* not UTF-8 (a path): keep the document, field null */
        h->meta_set(ctx, d, key, TM_META_NULL, NULL, 0);
}

/* One file: emits a document, or rejects the file with a warning. *cost is
 * the text emitted, or for a rejected file the bytes read (so that a call
 * that meets only rejects still returns after a bounded amount of work).
 * A negative TM_E* code fails the run. */
static int one_file(state *s, tm_ctx *ctx, const char *path, size_t *cost)
{
    const tm_host *h = s->host;
    char *html;
    size_t len;
    int rc = h->read_file(ctx, path, s->cfg->max_bytes, &html, &len);
    if (rc != TM_OK)
        return rc;
    *cost = html ? len + 1 : 1;
    if (!html) {
        h->log(ctx, TM_LOG_WARN, "%s: %zu bytes, more than max_bytes (%lld), skipped", path, len,
               (long long)s->cfg->max_bytes);
        h->count(ctx, "rejected_too_large", 1);
        return TM_OK;
    }
    if (len == 0) {
        h->free(html);
        h->log(ctx, TM_LOG_WARN, "%s: empty file, skipped", path);
        h->count(ctx, "rejected_empty", 1);
        return TM_OK;
    }
    hx_result r;
    rc = hx_extract(html, len, &r);
    h->free(html);
    if (rc == HX_NOMEM) {
        hx_result_free(&r);
        return h->error(ctx, "%s: out of memory while parsing", path), TM_ENOMEM;
    }
    const char *why = NULL, *counter = "rejected_empty";
    if (rc == HX_NOT_HTML) {
        why = "not HTML (binary bytes, or no '<' in the first kilobyte)";
        counter = "rejected_not_html";
    } else if (rc == HX_NO_BODY && r.truncated) {
        why = "nested deeper than libxml2's limit (256 levels) before any text";
        counter = "rejected_too_deep";
    } else if (rc == HX_NO_BODY) {
        why = "no <body> content";
    } else if (r.text_len == 0 && r.truncated) {
        why = "nested deeper than libxml2's limit (256 levels) before any text";
        counter = "rejected_too_deep";
    } else if (r.text_len == 0) {
        why = "no main text found";
    } else if ((int64_t)r.text_len < s->cfg->min_text_bytes) {
        why = "main text shorter than min_text_bytes";
    }
    if (why) {
        h->log(ctx, TM_LOG_WARN, "%s: %s, skipped", path, why);
        h->count(ctx, counter, 1);
        hx_result_free(&r);
        return TM_OK;
    }
    if (r.truncated) {
        h->log(ctx, TM_LOG_WARN, "%s: libxml2 stopped at its limits (nesting over 256 levels "
               "or a text over 10 MB); the text may be incomplete", path);
        h->count(ctx, "truncated", 1);
    }
    /* id: the file name without directory and extension */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t id_len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    tm_doc *d = h->doc_new(ctx, base, id_len, r.text, r.text_len);
    if (!d) { /* rejected by the invalid_utf8 policy (reported), or no memory */
        hx_result_free(&r);
        return TM_OK;
    }
    *cost = r.text_len;
    set_meta(s, ctx, d, "title", r.title);
    set_meta(s, ctx, d, "author", r.author);
    set_meta(s, ctx, d, "date", r.date);
    set_meta(s, ctx, d, "url", r.url);
    set_meta(s, ctx, d, "source", r.site);
    set_meta(s, ctx, d, "lang", r.lang);
    if (h->meta_set(ctx, d, "file", TM_META_STRING, path, strlen(path)) != TM_OK)
        h->log(ctx, TM_LOG_WARN, "%s: the path is not valid UTF-8; meta.file left empty", path);
    hx_result_free(&r);
    rc = h->emit_take(ctx, d, NULL);
    return rc < 0 ? rc : TM_OK;
}

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    if (!s->globbed) {
        s->globbed = true;
        int rc = s->host->expand_paths(ctx, &s->cfg->paths, &s->files);
        if (rc != TM_OK)
            return rc;
    }
    size_t emitted = 0;
    while (s->next < s->files.n && emitted < batch->budget_bytes) {
        size_t cost = 0;
        const char *path = s->files.items[s->next++];
        int rc = one_file(s, ctx, path, &cost);
        if (rc < 0)
            return rc;
        /* emitted, or rejected with a warning: either way the file is done
         * (with `state:`, a later run skips it unless it changes) */
        if (TM_HOST_HAS(s->host, input_done))
            s->host->input_done(ctx, path);
        emitted += cost;
    }
    return s->next < s->files.n ? TM_OK : TM_END;
}

static void fini(void *st)
{
    state *s = st;
    s->host->strlist_free(&s->files);
    s->host->free(s);
}

static const char *const writes[] = {"id",       "text",       "meta.title",
                                     "meta.author", "meta.date", "meta.url",
                                     "meta.source", "meta.lang", "meta.file", NULL};

TM_PLUGIN_DEFINE(.name = "html", .version = "1.0.0", .license = "MIT",
                 .summary = "Reads HTML pages: main text (boilerplate removed) and metadata.",
                 .role = TM_ROLE_SOURCE, .options = options, .config_size = sizeof(config),
                 .writes = writes, .init = init, .process = process, .fini = fini);
