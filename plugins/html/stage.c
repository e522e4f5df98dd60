/* stage `html`: for documents whose text is an HTML page (a crawl read by
 * the `jsonl` source with `text_field: html`), replaces the text by the
 * page's main text and fills the metadata the record lacks. See extract.c
 * for the method. */
#include "textmill/plugin.h"

#include "extract.h"

#include <string.h>

typedef struct config {
    int skip_non_html;
} config;

static const tm_option options[] = {
    {.name = "skip_non_html", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, skip_non_html),
     .help = "A text that does not look like HTML (a NUL byte, or no '<' in its first "
             "kilobyte) passes unchanged; false drops it (reason: not_html)."},
    TM_OPTIONS_END};

typedef struct state {
    const tm_host *host;
    const config *cfg;
} state;

static int init(tm_ctx *ctx, const tm_host *host, const void *cfg, void **out)
{
    (void)ctx;
    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    s->host = host;
    s->cfg = cfg;
    /* libxml2's global set-up, once, before process() may run on threads */
    hx_global_init();
    *out = s;
    return TM_OK;
}

/* Sets meta `key` from the page when the record has no value for it. */
static int fill(state *s, tm_ctx *ctx, tm_doc *d, const char *key, const char *v)
{
    const tm_meta *m = s->host->meta_get(d, key);
    if (!v || (m && m->type != TM_META_NULL))
        return TM_OK;
    int rc = s->host->meta_set(ctx, d, key, TM_META_STRING, v, strlen(v));
    return rc == TM_ENOMEM ? rc : TM_OK; /* anything else: the field stays as it was */
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    const tm_host *h = s->host;
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        if (!hx_looks_like_html(d->text, d->text_len)) {
            if (s->cfg->skip_non_html)
                h->count(ctx, "passed_not_html", 1);
            else
                h->drop(ctx, d, "not_html");
            continue;
        }
        hx_result r;
        int rc = hx_extract(d->text, d->text_len, &r);
        if (rc == HX_NOMEM) {
            hx_result_free(&r);
            return h->error(ctx, "document %s: out of memory while parsing", d->id), TM_ENOMEM;
        }
        if (rc != HX_OK || r.text_len == 0) {
            /* a page without main text has nothing left for later steps */
            h->drop(ctx, d, r.truncated ? "too_deep" : "no_text");
            hx_result_free(&r);
            continue;
        }
        if (r.truncated)
            h->count(ctx, "truncated", 1); /* libxml2 stopped at its limits */
        /* no offset map: the HTML and the text share no offsets */
        rc = h->replace_text(ctx, d, r.text, r.text_len, NULL, 0);
        if (rc == TM_OK)
            rc = fill(s, ctx, d, "title", r.title);
        if (rc == TM_OK)
            rc = fill(s, ctx, d, "author", r.author);
        if (rc == TM_OK)
            rc = fill(s, ctx, d, "date", r.date);
        if (rc == TM_OK)
            rc = fill(s, ctx, d, "url", r.url);
        if (rc == TM_OK)
            rc = fill(s, ctx, d, "source", r.site);
        if (rc == TM_OK)
            rc = fill(s, ctx, d, "lang", r.lang);
        hx_result_free(&r);
        if (rc != TM_OK)
            return h->error(ctx, "document %s: cannot store the extracted text", d->id), rc;
    }
    return TM_OK;
}

static void fini(void *st)
{
    state *s = st;
    s->host->free(s);
}

static const char *const reads[] = {"text",      "?meta.title", "?meta.author", "?meta.date",
                                    "?meta.url", "?meta.source", "?meta.lang",  NULL};
static const char *const writes[] = {"text",     "meta.title",  "meta.author", "meta.date",
                                     "meta.url", "meta.source", "meta.lang",   NULL};

/* Reentrant: hx_extract() keeps all its state on the stack and in per-call
 * allocations, and libxml2 parses in per-call contexts once initialised. */
TM_PLUGIN_DEFINE(.name = "html", .version = "1.0.0", .license = "MIT",
                 .summary = "Replaces HTML text by its main text and fills page metadata.",
                 .role = TM_ROLE_STAGE, .caps = TM_CAP_REENTRANT, .options = options,
                 .config_size = sizeof(config), .reads = reads, .writes = writes, .init = init,
                 .process = process, .fini = fini);
