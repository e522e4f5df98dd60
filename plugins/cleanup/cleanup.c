/* stage `cleanup`: character repair and Unicode normalisation, whitespace
 * layout, and removal of boilerplate lines, by named rules (shipped, and the
 * user's) and by corpus statistics (lines repeated across many documents).
 * Every change goes through an offset map, so annotations survive. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "edit.h"
#include "linestats.h"
#include "normalize.h"
#include "rules.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct config {
    int normalize; /* NORM_* - 0 based: nfc, nfkc, none */
    int repair, typography;
    int builtin_rules;
    tm_strlist disable_rules;
    tm_strmap rules;
    double tail_fraction;
    int repeated_lines;
    int64_t min_docs, window, short_line_words, max_line_hashes;
} config;

static const tm_option options[] = {
    {.name = "normalize", .type = TM_OPT_ENUM, .choices = "nfc|nfkc|none", .def = "nfc",
     .offset = offsetof(config, normalize),
     .help = "Unicode normalisation form: nfc (canonical composition, lossless), nfkc (also "
             "folds compatibility characters such as ligatures and full-width forms) or none."},
    {.name = "repair", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, repair),
     .help = "Repair mojibake (UTF-8 read as Windows-1252: \"Ã©\" -> \"é\"), remove control and "
             "invisible characters, turn no-break and other Unicode spaces into spaces, and "
             "fold runs of blanks and blank lines."},
    {.name = "typography", .type = TM_OPT_BOOL, .def = "false",
     .offset = offsetof(config, typography),
     .help = "Also replace curly quotes, dashes and the ellipsis character by ASCII."},
    {.name = "builtin_rules", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, builtin_rules),
     .help = "Use the shipped boilerplate rules (see the plugin's README for each rule)."},
    {.name = "disable_rules", .type = TM_OPT_LIST, .offset = offsetof(config, disable_rules),
     .help = "Names of shipped rules to switch off, e.g. [share_counter, copyright]."},
    {.name = "rules", .type = TM_OPT_MAP, .offset = offsetof(config, rules),
     .help = "Your own rules, NAME: PCRE2 pattern, matched case-insensitively against each "
             "line (blanks folded); a matching line is removed and counted as rule:NAME."},
    {.name = "tail_fraction", .type = TM_OPT_DOUBLE, .def = "0.4", .min = 0, .max = 1,
     .offset = offsetof(config, tail_fraction),
     .help = "Related-article and comment blocks are removed with everything after them only "
             "when they start in this last fraction of a document's lines."},
    {.name = "repeated_lines", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, repeated_lines),
     .help = "Remove lines that recur in at least min_docs documents of the run (and, with "
             "state:, of earlier runs), as corpus pipelines such as CCNet do. Documents are "
             "held back in windows to count."},
    {.name = "min_docs", .type = TM_OPT_INT, .def = "5", .min = 2, .max = 1e9,
     .offset = offsetof(config, min_docs),
     .help = "How many documents a line must appear in to count as repeated boilerplate."},
    {.name = "window", .type = TM_OPT_INT, .def = "1000", .min = 1, .max = 1e7,
     .offset = offsetof(config, window),
     .help = "Documents held back and counted together before repeated lines are removed "
             "from them (more: better statistics, more memory, later output)."},
    {.name = "short_line_words", .type = TM_OPT_INT, .def = "15", .min = 1, .max = 1000,
     .offset = offsetof(config, short_line_words),
     .help = "A repeated line longer than this many words is removed only if it mostly sits "
             "among a document's first or last lines: long repeated prose in the middle is "
             "more likely a syndicated story than chrome, and dedupe handles those."},
    {.name = "max_line_hashes", .type = TM_OPT_INT, .def = "4000000", .min = 1000, .max = 1e9,
     .offset = offsetof(config, max_line_hashes),
     .help = "Memory bound of the repeated-line table (about 32 bytes each); when full, lines "
             "seen only once are forgotten."},
    TM_OPTIONS_END};

typedef struct rule {
    const char *name;
    pcre2_code *re;
    rule_scope scope;
    int max_words;
    int source_group, author_group;
    char counter[96];
} rule;

typedef struct state {
    const tm_host *host;
    const config *cfg;
    norm_opts norm;
    rule *rules;
    size_t n_rules;
    pcre2_match_data *md;
    linestats stats;
    bool stats_loaded;
    char *stats_path;
    tm_doc **held;
    size_t n_held, cap_held;
    /* per-document scratch */
    char *fold;
    size_t fold_cap;
    struct line_info {
        size_t a, b;         /* content bytes [a, b) in the text */
        size_t fa, fb;       /* the folded line in fold[] */
        size_t words;
        int rule;            /* removing rule, -1 kept, -2 repeated line */
    } *lines;
    size_t n_lines, cap_lines;
    uint64_t *hashes;
    size_t cap_hashes;
} state;

static bool name_is_builtin(const char *n)
{
    for (size_t i = 0; i < cleanup_n_rules; i++)
        if (!strcmp(cleanup_rules[i].name, n))
            return true;
    return false;
}

static int add_rule(state *s, tm_ctx *ctx, const char *name, const char *pattern,
                    rule_scope scope, int max_words)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        s->host->error(ctx, "rule '%s': invalid regular expression at offset %zu: %s", name,
                       (size_t)off, (const char *)msg);
        return TM_ECONFIG;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    rule *r = &s->rules[s->n_rules++];
    r->name = name;
    r->re = re;
    r->scope = scope;
    r->max_words = max_words;
    r->source_group = pcre2_substring_number_from_name(re, (PCRE2_SPTR) "source");
    r->author_group = pcre2_substring_number_from_name(re, (PCRE2_SPTR) "author");
    snprintf(r->counter, sizeof r->counter, "rule:%s", name);
    return TM_OK;
}

static void fini(void *st)
{
    state *s = st;
    const tm_host *h = s->host;
    for (size_t i = 0; i < s->n_rules; i++)
        pcre2_code_free(s->rules[i].re);
    h->free(s->rules);
    pcre2_match_data_free(s->md);
    linestats_free(&s->stats);
    for (size_t i = 0; i < s->n_held; i++)
        h->doc_free(s->held[i]);
    h->free(s->held);
    h->free(s->stats_path);
    h->free(s->fold);
    h->free(s->lines);
    h->free(s->hashes);
    h->free(s);
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    for (size_t i = 0; i < cfg->disable_rules.n; i++) {
        if (!name_is_builtin(cfg->disable_rules.items[i])) {
            h->error(ctx, "disable_rules: there is no shipped rule '%s' (textmill plugins "
                          "cleanup lists them in its README)",
                     cfg->disable_rules.items[i]);
            return TM_ECONFIG;
        }
    }
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = cfg;
    s->norm.form = cfg->normalize == 0 ? NORM_NFC : cfg->normalize == 1 ? NORM_NFKC : NORM_NONE;
    s->norm.mojibake = s->norm.controls = s->norm.spaces = cfg->repair;
    s->norm.typography = cfg->typography;
    s->rules = h->alloc((cleanup_n_rules + cfg->rules.n + 1) * sizeof *s->rules);
    s->md = pcre2_match_data_create(16, NULL);
    int rc = s->rules && s->md ? TM_OK : TM_ENOMEM;
    if (rc == TM_OK)
        rc = linestats_init(&s->stats, h, (size_t)cfg->max_line_hashes);
    for (size_t i = 0; rc == TM_OK && cfg->builtin_rules && i < cleanup_n_rules; i++) {
        bool off = false;
        for (size_t k = 0; k < cfg->disable_rules.n; k++)
            off |= !strcmp(cfg->disable_rules.items[k], cleanup_rules[i].name);
        if (!off)
            rc = add_rule(s, ctx, cleanup_rules[i].name, cleanup_rules[i].pattern,
                          cleanup_rules[i].scope, cleanup_rules[i].max_words);
    }
    for (size_t i = 0; rc == TM_OK && i < cfg->rules.n; i++)
        rc = add_rule(s, ctx, cfg->rules.keys[i], cfg->rules.values[i], RULE_LINE, 0);
    if (rc != TM_OK) {
        fini(s);
        return rc;
    }
    *out = s;
    return TM_OK;
}

/* ---- lines -------------------------------------------------------------------- */

static bool grow(const tm_host *h, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *g = h->realloc(*p, c * size);
    if (!g)
        return false;
    *p = g;
    *cap = c;
    return true;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Splits text into lines and folds each into s->fold (blanks folded). */
static int scan_lines(state *s, const char *t, size_t n)
{
    s->n_lines = 0;
    if (!grow(s->host, (void **)&s->fold, &s->fold_cap, n + 1, 1))
        return TM_ENOMEM;
    size_t f = 0, a = 0;
    while (a <= n) {
        const char *nl = memchr(t + a, '\n', n - a);
        size_t b = nl ? (size_t)(nl - t) : n;
        if (!grow(s->host, (void **)&s->lines, &s->cap_lines, s->n_lines + 1,
                  sizeof *s->lines))
            return TM_ENOMEM;
        struct line_info *L = &s->lines[s->n_lines++];
        L->a = a;
        L->b = b;
        L->fa = f;
        L->words = 0;
        L->rule = -1;
        bool in_space = true;
        for (size_t i = a; i < b; i++) {
            if (is_blank(t[i])) {
                in_space = true;
                continue;
            }
            if (in_space && f > L->fa)
                s->fold[f++] = ' ';
            if (in_space)
                L->words++;
            in_space = false;
            s->fold[f++] = t[i];
        }
        L->fb = f;
        s->fold[f++] = 0;
        if (!nl)
            break;
        a = b + 1;
    }
    return TM_OK;
}

static bool line_blank(const struct line_info *L) { return L->fb == L->fa; }

/* Applies the rules to every line; returns the number of lines removed. */
static size_t classify(state *s, tm_ctx *ctx, tm_doc *d)
{
    size_t removed = 0, n = s->n_lines, nonblank = 0;
    for (size_t i = 0; i < n; i++)
        nonblank += !line_blank(&s->lines[i]);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct line_info *L = &s->lines[i];
        if (line_blank(L) || L->rule != -1)
            continue;
        seen++;
        const char *line = s->fold + L->fa;
        size_t len = L->fb - L->fa;
        for (size_t k = 0; k < s->n_rules; k++) {
            const rule *r = &s->rules[k];
            if (r->max_words && L->words > (size_t)r->max_words)
                continue;
            if (pcre2_match(r->re, (PCRE2_SPTR)line, len, 0, PCRE2_NO_UTF_CHECK, s->md, NULL) < 0)
                continue;
            if (r->scope == RULE_TAIL &&
                (double)(seen - 1) < (1.0 - s->cfg->tail_fraction) * (double)nonblank)
                continue; /* a header like "Related" early in a text is not the tail */
            /* fill meta from named groups while the match data is fresh */
            int groups[2] = {r->source_group, r->author_group};
            const char *keys[2] = {"source", "author"};
            for (int g = 0; g < 2; g++) {
                if (groups[g] <= 0)
                    continue;
                const tm_meta *m = s->host->meta_get(d, keys[g]);
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
                if ((m && m->type != TM_META_NULL) || ov[2 * groups[g]] == PCRE2_UNSET)
                    continue;
                size_t ga = ov[2 * groups[g]], gb = ov[2 * groups[g] + 1];
                if (gb > ga)
                    s->host->meta_set(ctx, d, keys[g], TM_META_STRING, line + ga, gb - ga);
            }
            L->rule = (int)k;
            removed++;
            if (r->scope == RULE_PAIR) {
                /* the teaser title just above, if it is short */
                for (size_t j = i; j-- > 0;) {
                    struct line_info *P = &s->lines[j];
                    if (line_blank(P))
                        continue;
                    if (P->rule == -1 && P->words <= 20) {
                        P->rule = (int)k;
                        removed++;
                    }
                    break;
                }
            } else if (r->scope == RULE_TAIL) {
                for (size_t j = i + 1; j < n; j++) {
                    if (!line_blank(&s->lines[j]) && s->lines[j].rule == -1) {
                        s->lines[j].rule = (int)k;
                        removed++;
                    }
                }
            }
            break;
        }
    }
    return removed;
}

/* Rewrites the text without the removed lines, with blanks folded and at
 * most one blank line between paragraphs. Each removed line is a deletion of
 * its own, so that whatever annotated it goes with it. */
static int rewrite(state *s, tm_ctx *ctx, tm_doc *d)
{
    const char *t = d->text;
    size_t n = d->text_len;
    ed e;
    ed_init(&e, s->host, t, n);
    size_t gap_from = 0, newlines = 0; /* since the last kept line */
    bool any = false;
    for (size_t i = 0; i < s->n_lines; i++) {
        struct line_info *L = &s->lines[i];
        if (line_blank(L))
            continue;
        for (size_t k = gap_from; k < L->a; k++)
            newlines += t[k] == '\n';
        if (L->rule != -1) {
            ed_replace(&e, gap_from, L->a, "", 0);
            ed_replace(&e, L->a, L->b, "", 0);
            gap_from = L->b;
            continue;
        }
        if (!any)
            ed_replace(&e, gap_from, L->a, "", 0);
        else
            ed_replace(&e, gap_from, L->a, "\n\n", newlines >= 2 ? 2 : 1);
        fold_line_spaces(&e, t, L->a, L->b);
        gap_from = L->b;
        newlines = 0;
        any = true;
    }
    ed_replace(&e, gap_from, n, "", 0);
    int rc = TM_OK;
    if (e.failed)
        rc = TM_ENOMEM;
    else if (ed_finish(&e))
        rc = s->host->replace_text(ctx, d, e.out, e.len, e.edits, e.n);
    ed_free(&e);
    return rc;
}

/* ---- repeated lines ---------------------------------------------------------------- */

/* The first and last lines of a document, where site chrome lives: up to
 * three at each end, fewer in short documents (always the first and last). */
static bool edge_line(size_t rank, size_t nonblank)
{
    size_t k = nonblank / 4 < 3 ? nonblank / 4 : 3;
    if (k < 1)
        k = 1;
    return rank < k || rank + k >= nonblank;
}

/* Orders line hashes by value, then by position, so that the first
 * occurrence of each line comes first among its equals. */
static int cmp_hash_pos(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    uint64_t hx = x[0] | 1, hy = y[0] | 1;
    if (hx != hy)
        return hx < hy ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Counts the distinct kept lines of a document, from the lines scanned for
 * the rules (a kept line's folded text is the same after the rewrite). */
static int count_lines(state *s)
{
    size_t nonblank = 0;
    for (size_t i = 0; i < s->n_lines; i++)
        nonblank += !line_blank(&s->lines[i]) && s->lines[i].rule == -1;
    /* pairs of (hash, position) */
    if (!grow(s->host, (void **)&s->hashes, &s->cap_hashes, 2 * s->n_lines + 2, sizeof *s->hashes))
        return TM_ENOMEM;
    size_t m = 0, rank = 0;
    for (size_t i = 0; i < s->n_lines; i++) {
        struct line_info *L = &s->lines[i];
        if (line_blank(L) || L->rule != -1)
            continue;
        uint64_t h = linestats_hash(s->fold + L->fa, L->fb - L->fa);
        /* the low bit carries "at an edge" for this document */
        s->hashes[2 * m] = (h & ~1ull) | (edge_line(rank, nonblank) ? 1 : 0);
        s->hashes[2 * m + 1] = rank++;
        m++;
    }
    /* each line once per document, as its first occurrence has it */
    qsort(s->hashes, m, 2 * sizeof *s->hashes, cmp_hash_pos);
    for (size_t i = 0; i < m; i++)
        if (i == 0 || (s->hashes[2 * i] | 1) != (s->hashes[2 * i - 2] | 1))
            linestats_add(&s->stats, s->hashes[2 * i] | 1, s->hashes[2 * i] & 1, false, 0, 0);
    return TM_OK;
}

/* The last run whose line counts the run ledger confirmed (0: none). */
static long long committed_run(state *s, tm_ctx *ctx)
{
    const char *v = TM_HOST_HAS(s->host, state_get) ? s->host->state_get(ctx, "stats_run") : NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}

static int load_stats(state *s, tm_ctx *ctx)
{
    s->stats_loaded = true;
    const char *dir = s->host->state_dir(ctx);
    if (!dir)
        return TM_OK;
    size_t l = strlen(dir) + strlen(s->host->instance_name(ctx)) + 32;
    s->stats_path = s->host->alloc(l);
    if (!s->stats_path)
        return TM_ENOMEM;
    snprintf(s->stats_path, l, "%s/cleanup-%s.sqlite", dir, s->host->instance_name(ctx));
    char err[512];
    if (linestats_load(&s->stats, s->stats_path, committed_run(s, ctx), err, sizeof err) != TM_OK)
        return s->host->error(ctx, "%s", err);
    return TM_OK;
}

static int release(state *s, tm_ctx *ctx)
{
    const config *c = s->cfg;
    for (size_t i = 0; i < s->n_held; i++) {
        tm_doc *d = s->held[i];
        int rc = scan_lines(s, d->text, d->text_len);
        if (rc != TM_OK)
            return rc;
        size_t removed = 0;
        for (size_t k = 0; k < s->n_lines; k++) {
            struct line_info *L = &s->lines[k];
            if (line_blank(L))
                continue;
            const line_count *lc =
                linestats_get(&s->stats, linestats_hash(s->fold + L->fa, L->fb - L->fa) | 1);
            if (!lc || lc->docs < (uint32_t)c->min_docs)
                continue;
            bool at_edges = (uint64_t)lc->edge * 5 >= (uint64_t)lc->docs * 4;
            if (L->words > (size_t)c->short_line_words && !at_edges)
                continue;
            L->rule = -2;
            removed++;
        }
        if (removed) {
            s->host->count(ctx, "repeated_line", (int64_t)removed);
            if ((rc = rewrite(s, ctx, d)) != TM_OK)
                return rc;
        }
        s->held[i] = NULL;
        if (d->text_len == 0) {
            /* nothing left: all chrome */
            s->host->count(ctx, "emptied", 1);
            s->host->doc_free(d);
            continue;
        }
        s->host->emit_take(ctx, d, NULL);
    }
    s->n_held = 0;
    return TM_OK;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    const tm_host *h = s->host;
    if (s->cfg->repeated_lines && !s->stats_loaded) {
        int rc = load_stats(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    /* a full window is released before this batch is read: the documents
     * detached in earlier calls are ours to change, emit or free */
    if (s->n_held >= (size_t)s->cfg->window) {
        int rc = release(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        norm_counts nc = {0};
        ed e;
        ed_init(&e, h, d->text, d->text_len);
        normalize_chars(&e, d->text, d->text_len, &s->norm, &nc);
        int rc = e.failed ? TM_ENOMEM : TM_OK;
        if (rc == TM_OK && ed_finish(&e))
            rc = h->replace_text(ctx, d, e.out, e.len, e.edits, e.n);
        ed_free(&e);
        if (rc != TM_OK)
            return h->error(ctx, "%s: cannot repair the text (%d)", d->id, rc);
        if (nc.mojibake)
            h->count(ctx, "mojibake_fixed", nc.mojibake);
        if (nc.controls)
            h->count(ctx, "controls_removed", nc.controls);
        if (nc.normalized)
            h->count(ctx, "unicode_normalized", nc.normalized);

        if ((rc = scan_lines(s, d->text, d->text_len)) != TM_OK)
            return rc;
        classify(s, ctx, d);
        for (size_t k = 0; k < s->n_lines; k++)
            if (s->lines[k].rule >= 0)
                h->count(ctx, s->rules[s->lines[k].rule].counter, 1);
        if ((rc = rewrite(s, ctx, d)) != TM_OK)
            return h->error(ctx, "%s: cannot rewrite the text (%d)", d->id, rc);
        if (d->text_len == 0) {
            h->drop(ctx, d, "all_boilerplate");
            continue;
        }
        if (!s->cfg->repeated_lines)
            continue;
        if ((rc = count_lines(s)) != TM_OK)
            return rc;
        if (!grow(h, (void **)&s->held, &s->cap_held, s->n_held + 1, sizeof *s->held))
            return TM_ENOMEM;
        h->detach(ctx, d);
        s->held[s->n_held++] = d;
    }
    return TM_OK;
}

static int flush(void *st, tm_ctx *ctx) { return release(st, ctx); }

/* The counts of this run join the state only once the outputs that these
 * documents went to are committed. */
static int commit(void *st, tm_ctx *ctx)
{
    state *s = st;
    if (!s->stats_path)
        return TM_OK;
    char err[512];
    mkdir(s->host->state_dir(ctx), 0777);
    long long run = committed_run(s, ctx);
    if (linestats_save(&s->stats, s->stats_path, run, err, sizeof err) != TM_OK)
        return s->host->error(ctx, "%s", err);
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", run + 1);
    if (TM_HOST_HAS(s->host, state_set)) /* durable with the ledger, after every output */
        s->host->state_set(ctx, "stats_run", seq);
    return TM_OK;
}

static const char *const reads[] = {"text", NULL};
static const char *const writes[] = {"text", "meta.source", "meta.author", NULL};

TM_PLUGIN_DEFINE(.name = "cleanup", .version = "1.0.0", .license = "MIT",
                 .summary = "Repairs and normalises text and removes boilerplate lines.",
                 .role = TM_ROLE_STAGE, .options = options, .config_size = sizeof(config),
                 .reads = reads, .writes = writes, .init = init, .process = process,
                 .flush = flush, .fini = fini, .commit = commit);
