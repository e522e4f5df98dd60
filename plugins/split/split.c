/* stage `split`: splits archive and listing pages into one document per
 * article, from structural cues: a footer that a blog engine prints after
 * every post ("Posted in … Comments Off on TITLE"), or repeated headers of
 * a title line followed by a byline. Children get the id PARENT#N (N from
 * 0), meta.parent, their title, and the site name when the page ends with
 * it; annotations move into the child that holds them. */
#include "textmill/plugin.h"

#include "regex.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

typedef struct config {
    int64_t min_articles, min_lines;
    int footers, bylines;
} config;

static const tm_option options[] = {
    {.name = "min_articles", .type = TM_OPT_INT, .def = "2", .min = 2, .max = 100000,
     .offset = offsetof(config, min_articles),
     .help = "Split a page only when it holds at least this many articles."},
    {.name = "min_lines", .type = TM_OPT_INT, .def = "2", .min = 1, .max = 10000,
     .offset = offsetof(config, min_lines),
     .help = "A piece needs at least this many non-blank lines (title included) to be an "
             "article; shorter pieces between cues are dropped as chrome."},
    {.name = "footers", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, footers),
     .help = "Use per-post footers (\"Posted in … Comments Off on TITLE\", \"Filed under …\") "
             "as article ends."},
    {.name = "bylines", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, bylines),
     .help = "Without footers, use repeated headers (a short title line followed by a "
             "\"By NAME\" byline) as article starts."},
    TM_OPTIONS_END};

/* Blog-engine footers after each post; the title group is the post's title. */
static const char footer_re[] =
    "^\\s*(?:posted|filed|published) (?:in|under) .{1,300}?(?:comments? (?:off|closed)"
    "(?: on (?<title>.+?))?|leave a comment(?: on (?<title2>.+?))?|\\d+ comments?)\\s*$";
/* A byline on its own line. */
static const char byline_re[] =
    "^\\s*(?:by|submitted by|written by|posted by)\\s*[:\\-–]?\\s*\\p{Lu}[\\w’'.-]*(?:\\s+\\S+){0,6}\\s*$";

typedef struct state {
    const tm_host *host;
    const config *cfg;
    pcre2_code *footer, *byline;
    pcre2_match_data *md;
} state;

static pcre2_code *compile(const char *p)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_DUPNAMES,
                                   &code, &off, NULL);
    if (re)
        tm_regex_jit(re);
    return re;
}

static void fini(void *st)
{
    state *s = st;
    pcre2_code_free(s->footer);
    pcre2_code_free(s->byline);
    pcre2_match_data_free(s->md);
    s->host->free(s);
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfg, void **out)
{
    (void)ctx;
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = cfg;
    s->footer = compile(footer_re);
    s->byline = compile(byline_re);
    s->md = pcre2_match_data_create(8, NULL);
    if (!s->footer || !s->byline || !s->md) {
        fini(s);
        return TM_ENOMEM;
    }
    *out = s;
    return TM_OK;
}

typedef struct line {
    size_t a, b; /* bytes [a, b), without the newline */
    size_t words;
    bool blank;
    int footer;      /* 1 if a post footer */
    size_t ta, tb;   /* the footer's title, when it names one */
} line;

static size_t count_words(const char *s, size_t a, size_t b)
{
    size_t w = 0;
    bool in = false;
    for (size_t i = a; i < b; i++) {
        bool sp = s[i] == ' ' || s[i] == '\t' || (unsigned char)s[i] == 0xC2;
        if (!sp && !in)
            w++;
        in = !sp;
    }
    return w;
}

/* Case- and space-insensitive: does line text t start with title p? (A
 * footer may cut a long title short.) */
static bool title_matches(const char *t, size_t tn, const char *p, size_t pn)
{
    utf8proc_uint8_t *x = NULL, *y = NULL;
    int o = UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_COMPOSE | UTF8PROC_STABLE;
    utf8proc_ssize_t xn = utf8proc_map((const utf8proc_uint8_t *)t, (utf8proc_ssize_t)tn, &x, o);
    utf8proc_ssize_t yn = utf8proc_map((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)pn, &y, o);
    bool ok = false;
    if (xn > 0 && yn > 0) {
        /* compare without blanks and punctuation at the ends */
        size_t i = 0, j = 0, matched = 0;
        while (i < (size_t)xn && j < (size_t)yn) {
            if (x[i] == ' ' || x[i] == 0xA0) { i++; continue; }
            if (y[j] == ' ' || y[j] == 0xA0) { j++; continue; }
            if (x[i] != y[j])
                break;
            i++, j++, matched++;
        }
        while (j < (size_t)yn && (y[j] == ' ' || y[j] == '.' || y[j] == 0xE2 || y[j] == 0x80 ||
                                  y[j] == 0xA6))
            j++; /* a trailing ellipsis on a cut title */
        ok = j == (size_t)yn && matched >= 8;
    }
    free(x);
    free(y);
    return ok;
}

typedef struct piece {
    size_t first, last; /* line indexes, inclusive */
    int title_line;     /* -1 when unknown */
} piece;

static int copy_meta(state *s, tm_ctx *ctx, const tm_doc *from, tm_doc *to)
{
    for (size_t i = 0; i < from->n_meta; i++) {
        const tm_meta *m = &from->meta[i];
        int rc = s->host->meta_set(ctx, to, m->key, m->type, m->value, m->len);
        if (rc != TM_OK)
            return rc;
    }
    return TM_OK;
}

/* Emits the child for lines [p->first, p->last] after the parent. */
static int emit_child(state *s, tm_ctx *ctx, tm_doc *d, const line *L, const piece *p, int n,
                      const char *site, size_t site_len)
{
    const tm_host *h = s->host;
    size_t a = L[p->first].a, b = L[p->last].b;
    char id[1024];
    int idl = snprintf(id, sizeof id, "%.*s#%d", (int)(d->id_len > 900 ? 900 : d->id_len),
                       d->id, n);
    tm_doc *c = h->doc_new(ctx, id, (size_t)idl, d->text + a, b - a);
    if (!c)
        return TM_ENOMEM;
    int rc = copy_meta(s, ctx, d, c);
    if (rc == TM_OK)
        rc = h->meta_set(ctx, c, "parent", TM_META_STRING, d->id, d->id_len);
    if (rc == TM_OK && p->title_line >= 0) {
        const line *t = &L[p->title_line];
        size_t ta = t->a, tb = t->b;
        while (ta < tb && (d->text[ta] == ' ' || d->text[ta] == '\t'))
            ta++;
        while (tb > ta && (d->text[tb - 1] == ' ' || d->text[tb - 1] == '\t'))
            tb--;
        rc = h->meta_set(ctx, c, "title", TM_META_STRING, d->text + ta, tb - ta);
    }
    const tm_meta *src = h->meta_get(c, "source");
    if (rc == TM_OK && site && (!src || src->type == TM_META_NULL))
        rc = h->meta_set(ctx, c, "source", TM_META_STRING, site, site_len);
    /* annotations inside the piece move with it */
    for (size_t i = 0; rc == TM_OK && i < d->n_annotations; i++) {
        tm_annotation an = d->annotations[i];
        if (an.start < a || an.end > b)
            continue;
        an.start -= a;
        an.end -= a;
        rc = h->annotate(ctx, c, &an);
    }
    if (rc != TM_OK) {
        h->doc_free(c);
        return rc;
    }
    return h->emit_take(ctx, c, d);
}

static bool match(state *s, pcre2_code *re, const char *t, size_t a, size_t b)
{
    return pcre2_match(re, (PCRE2_SPTR)t + a, b - a, 0, PCRE2_NO_UTF_CHECK, s->md, NULL) >= 0;
}

static int split_doc(state *s, tm_ctx *ctx, tm_doc *d)
{
    const tm_host *h = s->host;
    const config *c = s->cfg;
    const char *t = d->text;
    size_t n = d->text_len, n_lines = 0, cap = 64;
    line *L = h->alloc(cap * sizeof *L);
    piece *P = NULL;
    if (!L)
        return TM_ENOMEM;
    int rc = TM_OK;
    size_t footers = 0;
    for (size_t a = 0; a <= n;) {
        const char *nl = memchr(t + a, '\n', n - a);
        size_t b = nl ? (size_t)(nl - t) : n;
        if (n_lines == cap) {
            line *g = h->realloc(L, 2 * cap * sizeof *L);
            if (!g) {
                rc = TM_ENOMEM;
                goto out;
            }
            L = g;
            cap *= 2;
        }
        line *x = &L[n_lines++];
        memset(x, 0, sizeof *x);
        x->a = a;
        x->b = b;
        x->words = count_words(t, a, b);
        x->blank = x->words == 0;
        if (!x->blank && c->footers && match(s, s->footer, t, a, b)) {
            x->footer = 1;
            footers++;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            int g = pcre2_substring_number_from_name(s->footer, (PCRE2_SPTR) "title");
            int g2 = pcre2_substring_number_from_name(s->footer, (PCRE2_SPTR) "title2");
            int use = g > 0 && ov[2 * g] != PCRE2_UNSET ? g
                      : g2 > 0 && ov[2 * g2] != PCRE2_UNSET ? g2 : -1;
            if (use > 0) {
                x->ta = a + ov[2 * use];
                x->tb = a + ov[2 * use + 1];
            }
        }
        if (!nl)
            break;
        a = b + 1;
    }
    P = h->alloc((n_lines + 1) * sizeof *P);
    if (!P) {
        rc = TM_ENOMEM;
        goto out;
    }
    size_t np = 0;
    const char *site = NULL;
    size_t site_len = 0;
    if (footers >= 1) {
        /* each footer ends a post; the post starts at the line carrying the
         * title the footer names, or after the previous footer */
        size_t from = 0;
        for (size_t i = 0; i < n_lines; i++) {
            if (!L[i].footer)
                continue;
            piece p = {from, i, -1};
            if (L[i].tb > L[i].ta)
                for (size_t k = from; k < i; k++)
                    if (!L[k].blank &&
                        title_matches(t + L[k].a, L[k].b - L[k].a, t + L[i].ta, L[i].tb - L[i].ta)) {
                        p.first = k;
                        p.title_line = (int)k;
                        break;
                    }
            P[np++] = p;
            from = i + 1;
        }
        /* after the last footer: a short line or two is the site's name */
        size_t rest = 0, last = 0;
        for (size_t k = from; k < n_lines; k++)
            if (!L[k].blank)
                rest++, last = k;
        if (rest > 2 || (rest && L[last].words > 6)) {
            P[np++] = (piece){from, n_lines - 1, -1};
        } else if (rest) {
            site = t + L[last].a;
            site_len = L[last].b - L[last].a;
            while (site_len && (site[site_len - 1] == ' ' || site[site_len - 1] == '\t'))
                site_len--;
            while (site_len && (*site == ' ' || *site == '\t'))
                site++, site_len--;
        }
    } else if (c->bylines) {
        /* headers: a short title line, then within two lines a byline */
        size_t last_start = 0;
        bool have = false;
        for (size_t i = 0; i < n_lines; i++) {
            if (L[i].blank || L[i].words > 25)
                continue;
            size_t seen = 0;
            bool by = false;
            for (size_t k = i + 1; k < n_lines && seen < 2 && !by; k++) {
                if (L[k].blank)
                    continue;
                seen++;
                by = L[k].words <= 10 && match(s, s->byline, t, L[k].a, L[k].b);
            }
            if (!by || match(s, s->byline, t, L[i].a, L[i].b))
                continue;
            if (have) {
                size_t body = 0;
                for (size_t k = last_start; k < i; k++)
                    body += !L[k].blank;
                if (body < 4)
                    continue; /* a title repeated in one header is not a new article */
                P[np - 1].last = i - 1;
            }
            P[np++] = (piece){i, n_lines - 1, (int)i};
            last_start = i;
            have = true;
        }
    }
    /* pieces too small to be articles are chrome between cues */
    size_t kept = 0;
    for (size_t i = 0; i < np; i++) {
        size_t nb = 0, first = P[i].first, last = P[i].last;
        for (size_t k = P[i].first; k <= P[i].last && k < n_lines; k++)
            nb += !L[k].blank && !L[k].footer;
        while (first < last && (L[first].blank || L[first].footer))
            first++;
        while (last > first && (L[last].blank || L[last].footer))
            last--;
        if (nb >= (size_t)c->min_lines) {
            P[kept] = P[i];
            P[kept].first = first;
            P[kept].last = last;
            kept++;
        }
    }
    if (kept < (size_t)c->min_articles)
        goto out; /* not a listing page: leave it whole */
    for (size_t i = 0; i < kept && rc == TM_OK; i++)
        rc = emit_child(s, ctx, d, L, &P[i], (int)i, site, site_len);
    if (rc == TM_OK) {
        h->count(ctx, "pages_split", 1);
        h->count(ctx, "articles", (int64_t)kept);
        h->drop(ctx, d, "split");
    }
out:
    h->free(L);
    h->free(P);
    return rc;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    for (size_t i = 0; i < b->n; i++) {
        int rc = split_doc(s, ctx, b->docs[i]);
        if (rc != TM_OK)
            return s->host->error(ctx, "%s: cannot split (%d)", b->docs[i]->id, rc);
    }
    return TM_OK;
}

static const char *const reads[] = {"text", NULL};
static const char *const writes[] = {"meta.parent", "meta.title", "meta.source", NULL};

TM_PLUGIN_DEFINE(.name = "split", .version = "1.0.0", .license = "MIT",
                 .summary = "Splits archive and listing pages into one document per article.",
                 .role = TM_ROLE_STAGE, .options = options, .config_size = sizeof(config),
                 .reads = reads, .writes = writes, .init = init, .process = process,
                 .fini = fini);
