/* stage `filter`: drops documents by text length, by a metadata field's
 * value, or by a regular expression (PCRE2) on the text, and records why.
 * A document is kept only when it passes every test that is configured. */
#include "textmill/plugin.h"

#include "regex.h"
#include <stdbool.h>
#include <string.h>

typedef struct config {
    int64_t min_bytes, max_bytes;
    char *match, *exclude;
    int ignore_case;
    char *field;
    tm_strlist values, exclude_values;
    int keep_missing;
} config;

static const tm_option options[] = {
    {.name = "min_bytes", .type = TM_OPT_BYTES, .def = "0", .offset = offsetof(config, min_bytes),
     .help = "Drop documents whose text is shorter than this many bytes (reason: too_short)."},
    {.name = "max_bytes", .type = TM_OPT_BYTES, .def = "0", .offset = offsetof(config, max_bytes),
     .help = "Drop documents whose text is longer than this many bytes (reason: too_long); 0 "
             "means no limit."},
    {.name = "match", .type = TM_OPT_STRING, .offset = offsetof(config, match),
     .help = "A PCRE2 regular expression; drop documents whose text does not contain a match "
             "(reason: no_match)."},
    {.name = "exclude", .type = TM_OPT_STRING, .offset = offsetof(config, exclude),
     .help = "A PCRE2 regular expression; drop documents whose text contains a match (reason: "
             "excluded)."},
    {.name = "ignore_case", .type = TM_OPT_BOOL, .def = "false",
     .offset = offsetof(config, ignore_case),
     .help = "Match 'match' and 'exclude' without regard to (Unicode) case."},
    {.name = "field", .type = TM_OPT_STRING, .offset = offsetof(config, field),
     .help = "A metadata field (e.g. lang or source) tested by 'values' and 'exclude_values'."},
    {.name = "values", .type = TM_OPT_LIST, .offset = offsetof(config, values),
     .help = "Keep only documents whose 'field' equals one of these (reason: field_value)."},
    {.name = "exclude_values", .type = TM_OPT_LIST, .offset = offsetof(config, exclude_values),
     .help = "Drop documents whose 'field' equals one of these (reason: field_value)."},
    {.name = "keep_missing", .type = TM_OPT_BOOL, .def = "false",
     .offset = offsetof(config, keep_missing),
     .help = "Keep documents that lack 'field' or have it null; by default they are dropped "
             "when 'values' is set (reason: field_missing)."},
    TM_OPTIONS_END};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    pcre2_code *match, *exclude;
    pcre2_match_context *mctx;
} state;

static int compile(tm_ctx *ctx, const tm_host *h, const char *opt, const char *pat, int icase,
                   pcre2_code **out)
{
    int code;
    PCRE2_SIZE off;
    uint32_t flags = PCRE2_UTF | PCRE2_UCP | (icase ? PCRE2_CASELESS : 0);
    *out = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, flags, &code, &off, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        h->error(ctx, "option '%s': invalid regular expression at offset %zu: %s", opt,
                 (size_t)off, (const char *)msg);
        return TM_ECONFIG;
    }
    tm_regex_jit(*out);
    return TM_OK;
}

static void fini(void *st)
{
    state *s = st;
    pcre2_code_free(s->match);
    pcre2_code_free(s->exclude);
    pcre2_match_context_free(s->mctx);
    s->host->free(s);
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    if (cfg->max_bytes && cfg->max_bytes < cfg->min_bytes) {
        h->error(ctx, "max_bytes (%lld) is smaller than min_bytes (%lld)",
                 (long long)cfg->max_bytes, (long long)cfg->min_bytes);
        return TM_ECONFIG;
    }
    if ((cfg->values.n || cfg->exclude_values.n) && !cfg->field) {
        h->error(ctx, "'values' and 'exclude_values' need 'field' (the metadata field to test)");
        return TM_ECONFIG;
    }
    if (cfg->field && !cfg->values.n && !cfg->exclude_values.n) {
        h->error(ctx, "'field' needs 'values' or 'exclude_values'");
        return TM_ECONFIG;
    }
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = cfg;
    int rc = TM_OK;
    if (cfg->match)
        rc = compile(ctx, h, "match", cfg->match, cfg->ignore_case, &s->match);
    if (rc == TM_OK && cfg->exclude)
        rc = compile(ctx, h, "exclude", cfg->exclude, cfg->ignore_case, &s->exclude);
    /* bound backtracking, so one pathological document cannot hang the run */
    if (rc == TM_OK && (s->match || s->exclude)) {
        s->mctx = pcre2_match_context_create(NULL);
        if (!s->mctx)
            rc = TM_ENOMEM;
        else
            pcre2_set_match_limit(s->mctx, 10000000);
    }
    if (rc != TM_OK) {
        fini(s);
        return rc;
    }
    *out = s;
    return TM_OK;
}

/* 1 match, 0 no match, <0 error (reported) */
static int search(state *s, tm_ctx *ctx, pcre2_code *re, pcre2_match_data *md, const tm_doc *d,
                  const char *opt)
{
    /* the host guarantees valid UTF-8, so skip PCRE2's own check */
    int rc = pcre2_match(re, (PCRE2_SPTR)d->text, d->text_len, 0, PCRE2_NO_UTF_CHECK, md,
                         s->mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    s->host->error(ctx, "document %s: option '%s': %s", d->id, opt, (const char *)msg);
    return -1;
}

static bool in_list(const tm_strlist *l, const tm_meta *m)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->items[i]) == m->len && memcmp(l->items[i], m->value, m->len) == 0)
            return true;
    return false;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    const tm_host *h = s->host;
    const config *c = s->cfg;
    /* match data per call, so that the stage is reentrant */
    pcre2_match_data *md = NULL;
    if (s->match || s->exclude) {
        md = pcre2_match_data_create(1, NULL);
        if (!md)
            return TM_ENOMEM;
    }
    int rc = TM_OK;
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        const char *why = NULL;
        if ((int64_t)d->text_len < c->min_bytes)
            why = "too_short";
        else if (c->max_bytes && (int64_t)d->text_len > c->max_bytes)
            why = "too_long";
        if (!why && c->field) {
            const tm_meta *m = h->meta_get(d, c->field);
            if (!m || m->type == TM_META_NULL) {
                if (c->values.n && !c->keep_missing)
                    why = "field_missing";
            } else if ((c->values.n && !in_list(&c->values, m)) ||
                       in_list(&c->exclude_values, m)) {
                why = "field_value";
            }
        }
        if (!why && s->match) {
            int r = search(s, ctx, s->match, md, d, "match");
            if (r < 0) {
                rc = TM_ERR;
                break;
            }
            if (r == 0)
                why = "no_match";
        }
        if (!why && s->exclude) {
            int r = search(s, ctx, s->exclude, md, d, "exclude");
            if (r < 0) {
                rc = TM_ERR;
                break;
            }
            if (r == 1)
                why = "excluded";
        }
        if (why)
            h->drop(ctx, d, why);
    }
    pcre2_match_data_free(md);
    return rc;
}

static const char *const reads[] = {"text", "?meta.*", NULL};

TM_PLUGIN_DEFINE(.name = "filter", .version = "1.0.0", .license = "MIT",
                 .summary = "Drops documents by length, metadata value or regular expression.",
                 .role = TM_ROLE_STAGE, .caps = TM_CAP_REENTRANT, .options = options,
                 .config_size = sizeof(config), .reads = reads, .init = init,
                 .process = process, .fini = fini);
