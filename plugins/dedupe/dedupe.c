/* stage `dedupe`: exact duplicates (a hash of the normalised text), near
 * duplicates (MinHash with LSH banding) and repeated paragraphs; remembered
 * across runs with `state:`, saved only after the outputs are committed.
 * Same-story grouping lives in the `stories` stage. */
#include "index.h"
#include "map.h"
#include "minhash.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <xxhash.h>

typedef struct config {
    int mode; /* 0 drop, 1 mark */
    int exact, near, fold_case, normalize;
    int64_t shingle;
    int unit; /* 0 word, 1 char */
    int64_t hashes, bands, rows;
    double threshold, verify_margin;
    int64_t seed;
    int granularity; /* 0 document, 1 paragraph */
    int64_t min_paragraph_chars;
    /* options of the story grouping that moved to the `stories` stage:
     * declared so that a pipeline still setting them is told where they went
     * rather than given a list of valid keys */
    char *moved[4];
} config;

static const char *const moved_names[] = {"story", "story_threshold", "story_max_days",
                                          "story_window"};

static const tm_option options[] = {
    {.name = "mode", .type = TM_OPT_ENUM, .choices = "drop|mark", .def = "drop",
     .offset = offsetof(config, mode),
     .help = "drop: duplicates leave the stream (reason: duplicate); mark: they stay, with "
             "meta.duplicate_of, meta.similarity and meta.duplicate_kind."},
    {.name = "exact", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, exact),
     .help = "Find exact duplicates: the same normalised text (Unicode form, case and spacing "
             "folded)."},
    {.name = "near", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, near),
     .help = "Find near duplicates with MinHash and LSH banding."},
    {.name = "fold_case", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, fold_case),
     .help = "Compare texts without regard to case."},
    {.name = "normalize", .type = TM_OPT_ENUM, .choices = "nfc|nfkc", .def = "nfc",
     .offset = offsetof(config, normalize),
     .help = "Unicode form the texts are compared in (nfkc also folds ligatures and "
             "full-width forms)."},
    {.name = "shingle", .type = TM_OPT_INT, .def = "3", .min = 1, .max = 64,
     .offset = offsetof(config, shingle),
     .help = "Shingle size: words (or characters with shingle_unit: char) per shingle."},
    {.name = "shingle_unit", .type = TM_OPT_ENUM, .choices = "word|char", .def = "word",
     .offset = offsetof(config, unit),
     .help = "Shingles of words, or of characters (for short texts and languages without "
             "spaces; use shingle: 5 or more)."},
    {.name = "hashes", .type = TM_OPT_INT, .def = "128", .min = 16, .max = 1024,
     .offset = offsetof(config, hashes),
     .help = "MinHash values per document (bytes of index per document)."},
    {.name = "bands", .type = TM_OPT_INT, .def = "0", .min = 0, .max = 1024,
     .offset = offsetof(config, bands),
     .help = "LSH bands; with rows, bands x rows must be at most hashes. 0: chosen from "
             "threshold."},
    {.name = "rows", .type = TM_OPT_INT, .def = "0", .min = 0, .max = 1024,
     .offset = offsetof(config, rows), .help = "LSH rows per band (see bands)."},
    {.name = "threshold", .type = TM_OPT_DOUBLE, .def = "0.45", .min = 0.05, .max = 1,
     .offset = offsetof(config, threshold),
     .help = "Target Jaccard similarity of word 3-shingles of near duplicates (0.45: about "
             "15% of the words edited): chooses bands x rows, and a candidate is a duplicate "
             "when its estimated similarity reaches threshold - verify_margin."},
    {.name = "verify_margin", .type = TM_OPT_DOUBLE, .def = "0.05", .min = 0, .max = 0.5,
     .offset = offsetof(config, verify_margin),
     .help = "Allowance for the error of the 128-value estimate (about 0.044 at 0.45)."},
    {.name = "seed", .type = TM_OPT_INT, .def = "1", .offset = offsetof(config, seed),
     .help = "Seed of the MinHash functions (an index on disk remembers it)."},
    {.name = "granularity", .type = TM_OPT_ENUM, .choices = "document|paragraph",
     .def = "document", .offset = offsetof(config, granularity),
     .help = "paragraph: also find paragraphs seen in earlier documents (a syndicated block, "
             "a reused boilerplate paragraph); drop mode removes them, mark mode annotates "
             "them (type DUPLICATE_PARAGRAPH, label: the earlier document)."},
    {.name = "min_paragraph_chars", .type = TM_OPT_INT, .def = "200", .min = 1, .max = 1e9,
     .offset = offsetof(config, min_paragraph_chars),
     .help = "Paragraphs shorter than this (bytes) are never duplicates: short common "
             "sentences survive."},
    {.name = "story", .type = TM_OPT_STRING, .offset = offsetof(config, moved[0]),
     .help = "Moved to the stories stage (add `- use: stories` after dedupe): setting it is a "
             "config error, but for `story: false`, which is ignored with a warning."},
    {.name = "story_threshold", .type = TM_OPT_STRING, .offset = offsetof(config, moved[1]),
     .help = "Moved to the stories stage (add `- use: stories` after dedupe): setting it is a "
             "config error."},
    {.name = "story_max_days", .type = TM_OPT_STRING, .offset = offsetof(config, moved[2]),
     .help = "Moved to the stories stage (add `- use: stories` after dedupe): setting it is a "
             "config error."},
    {.name = "story_window", .type = TM_OPT_STRING, .offset = offsetof(config, moved[3]),
     .help = "Moved to the stories stage (add `- use: stories` after dedupe): setting it is a "
             "config error."},
    TM_OPTIONS_END};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    size_t H, bands, rows;
    dd_index index;
    dd_store *store;
    bool opened;
    bool ledger; /* the host keeps a run ledger (ABI 1.2): cut back what it did not commit */
    tokens tok;
    uint64_t *scratch;
    size_t scratch_cap;
    uint8_t *sig;
    u64map paragraphs; /* paragraph hash -> index document that had it first */
} state;

static void fini(void *st)
{
    state *s = st;
    dd_index_free(&s->index);
    dd_store_close(s->store);
    tokens_free(&s->tok, s->host);
    free(s->scratch);
    free(s->sig);
    u64map_free(&s->paragraphs);
    s->host->free(s);
}

/* A pipeline written for the dedupe that grouped stories: refused with
 * where the feature went (exit 2), so no one believes stories are still
 * being made. `story: false` asked for what still holds (no stories from
 * dedupe), so it only warns: such pipelines keep running unchanged. */
static int refuse_moved(tm_ctx *ctx, const tm_host *h, const config *c)
{
    for (size_t i = 0; i < sizeof moved_names / sizeof *moved_names; i++) {
        const char *v = c->moved[i];
        if (!v)
            continue;
        if (i == 0 && (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
                       !strcasecmp(v, "off") || !strcmp(v, "0"))) {
            h->log(ctx, TM_LOG_WARN,
                   "`story: false` is ignored: dedupe no longer groups stories (they moved to "
                   "the `stories` stage); remove the option");
            continue;
        }
        h->error(ctx,
                 "dedupe: `%s` has moved to the `stories` stage (add `- use: stories` after "
                 "dedupe; see plugins/stories/README.md) and dedupe no longer writes meta.story",
                 moved_names[i]);
        return TM_ECONFIG;
    }
    return TM_OK;
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfgp, void **out)
{
    const config *c = cfgp;
    if (refuse_moved(ctx, h, c) != TM_OK)
        return TM_ECONFIG;
    size_t H = (size_t)c->hashes, b = (size_t)c->bands, r = (size_t)c->rows;
    if ((b || r) && (!b || !r || b * r > H)) {
        h->error(ctx, "bands x rows must be at most hashes (%zu x %zu > %zu); or leave both 0 "
                      "to choose them from threshold",
                 b, r, H);
        return TM_ECONFIG;
    }
    if (!b)
        lsh_params(H, c->threshold, &b, &r);
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = c;
    s->H = H;
    s->bands = b;
    s->rows = r;
    s->sig = malloc(H);
    int rc = s->sig ? dd_index_init(&s->index, h, H, b, r) : TM_ENOMEM;
    if (rc != TM_OK) {
        fini(s);
        return rc;
    }
    h->log(ctx, TM_LOG_DEBUG, "LSH: %zu bands x %zu rows", b, r);
    *out = s;
    return TM_OK;
}

/* Opens and loads the index on disk, once, when state: is set. */
static int open_store(state *s, tm_ctx *ctx)
{
    s->opened = true;
    const char *dir = s->host->state_dir(ctx);
    if (!dir)
        return TM_OK;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return s->host->error(ctx, "state directory %s: %s", dir, strerror(errno));
    char path[4096], params[256], err[1024];
    snprintf(path, sizeof path, "%s/dedupe-%s.sqlite", dir, s->host->instance_name(ctx));
    const config *c = s->cfg;
    snprintf(params, sizeof params, "v2 hashes=%zu shingle=%lld unit=%s seed=%lld case=%d nf=%s",
             s->H, (long long)c->shingle, c->unit ? "char" : "word", (long long)c->seed,
             c->fold_case, c->normalize ? "nfkc" : "nfc");
    s->store = dd_store_open(path, params, err, sizeof err);
    /* with a run ledger, rows a killed run saved after the last committed
     * run's are not the outputs' documents: they go (the next run redoes them) */
    s->ledger = TM_HOST_HAS(s->host, state_get);
    if (!s->store ||
        (s->ledger && dd_store_cut_back(s->store, s->host->state_get(ctx, "committed_row"), err,
                                        sizeof err) != TM_OK) ||
        dd_store_load(s->store, &s->index, err, sizeof err) != TM_OK)
        return s->host->error(ctx, "%s", err);
    s->host->log(ctx, TM_LOG_DEBUG, "%s: %zu documents remembered", path, s->index.n);
    return TM_OK;
}

static int set_num(state *s, tm_ctx *ctx, tm_doc *d, const char *key, double v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%.4f", v);
    return s->host->meta_set(ctx, d, key, TM_META_NUMBER, num, (size_t)n);
}

static int set_str(state *s, tm_ctx *ctx, tm_doc *d, const char *key, const char *v)
{
    return s->host->meta_set(ctx, d, key, TM_META_STRING, v, strlen(v));
}

/* A near duplicate that matched this well is not indexed: whatever is like
 * it is almost as like the document it matched, and a flood of one text's
 * copies would otherwise lengthen every band's bucket. A weaker match is
 * indexed, so that when it was a false link (at a low threshold, to an
 * unrelated document) its own copies still find it rather than only the
 * unrelated document. */
#define INDEX_BELOW 0.6

/* Documents verified at most per document. In a stream where every text
 * shares much with a fixed share of all earlier ones (a pool of reused
 * paragraphs), candidates would grow with the index and the stage would be
 * quadratic; past this many the best found so far is the answer (counter
 * candidates_capped). */
#define MAX_CANDIDATES 2000

typedef struct near_search {
    state *s;
    const char *id; /* the document's own id: never its own duplicate */
    long limit;     /* only documents indexed before this one */
    double best;
    long doc;
    double verify;
    size_t verified;
} near_search;

static bool near_candidate(void *arg, long doc)
{
    near_search *ns = arg;
    if (doc >= ns->limit)
        return false;
    double j = sig_jaccard(ns->s->sig, dd_index_sig(&ns->s->index, doc), ns->s->H);
    if (j >= ns->verify && (j > ns->best || (j == ns->best && doc < ns->doc)) &&
        strcmp(dd_index_id(&ns->s->index, doc), ns->id)) {
        ns->best = j;
        ns->doc = doc;
    }
    /* >= 0.999: cannot do better */
    return ns->best >= 0.999 || ++ns->verified >= MAX_CANDIDATES;
}

/* ---- paragraphs ---------------------------------------------------------------------- */

/* Paragraphs of d seen in an earlier document are removed (drop) or
 * annotated (mark); new ones are remembered as d's (index document doc). */
static int paragraphs(state *s, tm_ctx *ctx, tm_doc *d, long doc)
{
    const tm_host *h = s->host;
    const char *t = d->text;
    size_t n = d->text_len, removed = 0;
    tm_edit *edits = NULL;
    size_t n_edits = 0;
    char *out = NULL;
    size_t out_len = 0;
    tokens pt = {0};
    int rc = TM_OK;
    for (size_t a = 0; a < n && rc == TM_OK;) {
        /* a paragraph ends at a blank line */
        size_t b = a;
        while (b < n && !(t[b] == '\n' && b + 1 < n && t[b + 1] == '\n'))
            b++;
        if (b - a >= (size_t)s->cfg->min_paragraph_chars) {
            rc = tokenize(&pt, h, t + a, b - a, s->cfg->fold_case, s->cfg->normalize);
            if (rc == TM_OK && pt.n == 0) { /* no words: no one's duplicate */
                a = b + 2;
                continue;
            }
            uint64_t key = rc == TM_OK ? exact_hash(&pt) : 0;
            uint32_t *first = rc == TM_OK ? u64map_get(&s->paragraphs, key, true, UINT32_MAX) : NULL;
            if (rc == TM_OK && !first)
                rc = TM_ENOMEM;
            if (rc == TM_OK && *first != UINT32_MAX && (long)*first != doc) {
                const char *owner = dd_index_id(&s->index, (long)*first);
                if (s->cfg->mode == 1) {
                    size_t from = a; /* after the extra breaks of a wider gap */
                    while (from < b && t[from] == '\n')
                        from++;
                    tm_annotation an = {.start = from, .end = b, .type = "DUPLICATE_PARAGRAPH",
                                        .label = owner, .score = 1};
                    rc = h->annotate(ctx, d, &an);
                } else {
                    /* delete the paragraph and the blank line after it */
                    size_t e = b < n ? b + 2 : b;
                    tm_edit *g = NULL;
                    if (n_edits && edits[n_edits - 1].old_end == a)
                        edits[n_edits - 1].old_end = e; /* the paragraph before went too */
                    else if (!(g = realloc(edits, (n_edits + 1) * sizeof *g)))
                        rc = TM_ENOMEM;
                    else {
                        edits = g;
                        edits[n_edits++] = (tm_edit){a, e, 0, 0};
                    }
                }
                removed++;
            } else if (rc == TM_OK && *first == UINT32_MAX && doc >= 0) {
                *first = (uint32_t)doc;
            }
        }
        a = b + 2;
    }
    if (rc == TM_OK && n_edits) {
        /* build the new text and fix the edits' new offsets */
        out = malloc(n + 1);
        if (!out)
            rc = TM_ENOMEM;
        size_t from = 0;
        for (size_t i = 0; rc == TM_OK && i < n_edits; i++) {
            memcpy(out + out_len, t + from, edits[i].old_start - from);
            out_len += edits[i].old_start - from;
            edits[i].new_start = edits[i].new_end = out_len;
            from = edits[i].old_end;
        }
        if (rc == TM_OK) {
            memcpy(out + out_len, t + from, n - from);
            out_len += n - from;
            /* A removed last paragraph takes the line breaks before it along;
             * they are kept text until they reach the edit before, which then
             * absorbs the last one (edits must not touch). */
            tm_edit *last = &edits[n_edits - 1];
            while (out_len && out[out_len - 1] == '\n' && last->old_end == n) {
                if (n_edits > 1 && last[-1].old_end == last->old_start) {
                    last[-1].old_end = n;
                    last = &edits[--n_edits - 1];
                    continue;
                }
                out_len--;
                last->old_start--;
                last->new_start = last->new_end = out_len;
            }
            rc = h->replace_text(ctx, d, out, out_len, edits, n_edits);
        }
        /* nothing of its own left: an empty document helps no one downstream */
        size_t i = 0;
        while (rc == TM_OK && i < out_len && strchr(" \t\r\n", out[i]))
            i++;
        if (rc == TM_OK && i == out_len)
            rc = h->drop(ctx, d, "duplicate_paragraphs");
    }
    if (removed)
        h->count(ctx, "duplicate_paragraphs", (int64_t)removed);
    free(out);
    free(edits);
    tokens_free(&pt, h);
    return rc;
}

/* ---- documents ------------------------------------------------------------------------ */

static int one(state *s, tm_ctx *ctx, tm_doc *d)
{
    const tm_host *h = s->host;
    const config *c = s->cfg;
    int rc = tokenize(&s->tok, h, d->text, d->text_len, c->fold_case, c->normalize);
    if (rc != TM_OK)
        return h->error(ctx, "%s: cannot normalise the text", d->id), rc;
    /* a text without words is never anyone's duplicate, nor indexed (all
     * such texts would share one bucket) */
    if (s->tok.n == 0)
        return TM_OK;
    uint64_t exact = exact_hash(&s->tok);
    /* This document indexed by an earlier run (same id, same text: the input
     * read again): it is judged against what came before it then, so it gets
     * that run's answer, and it is not indexed twice. */
    long self, first = dd_index_exact(&s->index, exact, d->id, &self);
    long limit = self >= 0 ? self : LONG_MAX;
    long dup = -1;
    double sim = 0;
    const char *kind = NULL;
    if (c->exact && first >= 0 && first < limit) {
        dup = first;
        sim = 1;
        kind = "exact";
    }
    if (dup < 0 && c->near) {
        size_t need = s->H + s->tok.n;
        if (need > s->scratch_cap) {
            free(s->scratch);
            s->scratch = malloc(need * sizeof *s->scratch);
            if (!s->scratch)
                return TM_ENOMEM;
            s->scratch_cap = need;
        }
        minhash(&s->tok, (int)c->shingle, c->unit == 1, (uint64_t)c->seed, s->sig, s->H,
                s->scratch);
        near_search ns = {s, d->id, limit, -1, -1, c->threshold - c->verify_margin};
        dd_index_candidates(&s->index, s->sig, near_candidate, &ns);
        if (ns.verified >= MAX_CANDIDATES)
            h->count(ctx, "candidates_capped", 1);
        if (ns.doc >= 0) {
            dup = ns.doc;
            sim = ns.best;
            kind = "near";
        }
    }
    if (dup < 0 && self >= 0) {
        h->count(ctx, "seen_before", 1);
        return TM_OK;
    }
    long doc = -1;
    if (self < 0 && (dup < 0 || (kind[0] == 'n' && sim < INDEX_BELOW))) {
        doc = dd_index_add(&s->index, d->id, d->id_len, exact, c->near ? s->sig : NULL);
        if (doc < 0)
            return h->error(ctx, "out of memory in the dedupe index (%zu documents)",
                            s->index.n),
                   TM_ENOMEM;
    }
    if (dup >= 0) {
        const char *of = dd_index_id(&s->index, dup);
        h->count(ctx, kind, 1);
        rc = set_str(s, ctx, d, "duplicate_of", of);
        if (rc == TM_OK)
            rc = set_num(s, ctx, d, "similarity", sim);
        if (rc == TM_OK)
            rc = set_str(s, ctx, d, "duplicate_kind", kind);
        if (rc == TM_OK && c->mode == 0)
            return h->drop(ctx, d, "duplicate");
        doc = -1; /* a duplicate's paragraphs are never the first */
    }
    if (rc == TM_OK && c->granularity == 1)
        rc = paragraphs(s, ctx, d, doc);
    return rc;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    if (!s->opened) {
        int rc = open_store(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        int rc = one(s, ctx, b->docs[i]);
        if (rc != TM_OK)
            return rc;
    }
    return TM_OK;
}

/* The index learns this run's documents only once the outputs hold them. */
static int commit(void *st, tm_ctx *ctx)
{
    state *s = st;
    char err[1024];
    if (s->store && dd_store_save(s->store, &s->index, err, sizeof err) != TM_OK)
        return s->host->error(ctx, "%s", err);
    char row[32];
    if (s->store && s->ledger) { /* durable with the ledger, after every output */
        if (dd_store_last_row(s->store, row, sizeof row, err, sizeof err) != TM_OK)
            return s->host->error(ctx, "%s", err);
        s->host->state_set(ctx, "committed_row", row);
    }
    s->host->count(ctx, "index_bytes", (int64_t)dd_index_bytes(&s->index));
    return TM_OK;
}

static const char *const reads[] = {"text", NULL};
static const char *const writes[] = {"meta.duplicate_of", "meta.similarity",
                                     "meta.duplicate_kind", NULL};

TM_PLUGIN_DEFINE(.name = "dedupe", .version = "1.0.0", .license = "MIT",
                 .summary = "Drops or marks exact and near duplicates and repeated "
                            "paragraphs.",
                 .role = TM_ROLE_STAGE, .options = options, .config_size = sizeof(config),
                 .reads = reads, .writes = writes, .init = init, .process = process,
                 .fini = fini, .commit = commit);
