/* sink `graph`: the entity co-occurrence network of the run, as GEXF
 * (Gephi), GraphML or Graphviz DOT. Nodes are (type, canonical name)
 * pairs; an edge joins two entities that occur in the same document (or
 * sentence), weighted by how many documents (sentences) they share.
 *
 * The whole graph is held in memory until flush, because a node's counts
 * and an edge's weight are known only at the end; it is then written to a
 * temporary file and renamed into place at commit (plugins/common/outfile),
 * so the target is the old file or the complete new one, never a part. */
#include "graph.h"
#include "outfile.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

#include <textmill/plugin.h>

enum { WIN_DOCUMENT, WIN_SENTENCE };

typedef struct config {
    char *path;
    int format;
    int window;
    int64_t min_weight;
    int64_t min_mentions;
    int64_t max_entities;
    tm_strlist types;
} config;

static const tm_option options[] = {
    {.name = "path", .type = TM_OPT_STRING, .offset = offsetof(config, path), .required = 1,
     .help = "The output file, e.g. out/entities.gexf. Missing parent directories are created; "
             "the file appears only when the run succeeds."},
    {.name = "format", .type = TM_OPT_ENUM, .choices = "auto|gexf|graphml|dot", .def = "auto",
     .offset = offsetof(config, format),
     .help = "File format: auto chooses by the path's extension (.gexf, .graphml, .dot or "
             ".gv); GEXF is what Gephi reads natively."},
    {.name = "window", .type = TM_OPT_ENUM, .choices = "document|sentence", .def = "document",
     .offset = offsetof(config, window),
     .help = "Entities co-occur when they are in the same document, or in the same sentence "
             "(sentences are found by punctuation and capitals: an approximation)."},
    {.name = "min_weight", .type = TM_OPT_INT, .def = "1", .offset = offsetof(config, min_weight),
     .min = 1, .max = 1e12,
     .help = "Leave out edges whose weight (documents or sentences shared) is lower."},
    {.name = "min_mentions", .type = TM_OPT_INT, .def = "1",
     .offset = offsetof(config, min_mentions), .min = 1, .max = 1e12,
     .help = "Leave out entities mentioned fewer times in the whole run, with their edges."},
    {.name = "max_entities", .type = TM_OPT_INT, .def = "1000",
     .offset = offsetof(config, max_entities), .min = 2, .max = 100000,
     .help = "Pairs are counted among at most this many distinct entities per window (the "
             "most mentioned there): a window of k entities costs k*(k-1)/2 pairs."},
    {.name = "types", .type = TM_OPT_LIST, .def = "[PER, ORG, LOC, MISC]",
     .offset = offsetof(config, types),
     .help = "Annotation types that become nodes; other annotations are ignored."},
    TM_OPTIONS_END};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    int format;
    char **types; /* cfg->types without repeats */
    size_t n_types;

    /* Nodes sit in a dense array, found by open addressing over their
     * indices (slot = index + 1, 0 = empty). Edges sit in the open-addressing
     * table itself (weight 0 = empty), so that counting a pair, the hot
     * path, touches one slot in memory; flush compacts them in place. */
    gnode *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *node_slot;
    size_t cap_node_slot;
    gedge *edges;
    size_t n_edges, cap_edges;

    uint32_t *win; /* distinct nodes of the current window */
    size_t n_win, cap_win;
    uint64_t doc_seq, win_seq, mentions, capped;
    const tm_doc *doc; /* the document being read, for messages */

    char *buf; /* clean_text's result */
    size_t cap_buf;
    outfile out;
} state;

/* ---- small helpers ---------------------------------------------------------------- */

static bool reserve(const tm_host *h, void *pp, size_t *cap, size_t need, size_t size)
{
    void **p = pp;
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = h->realloc(*p, n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static char *dup_str(const tm_host *h, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = h->alloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

static int no_memory(state *s, tm_ctx *ctx)
{
    s->host->error(ctx, "%s: out of memory (%zu entities, %zu edges so far)", s->cfg->path,
                   s->n_nodes, s->n_edges);
    return TM_ENOMEM;
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Copies n bytes of s into s->buf as text every output format can hold:
 * invalid UTF-8 becomes U+FFFD, and the characters XML 1.0 forbids (C0
 * controls but tab and line breaks, U+FFFE, U+FFFF) are left out. With
 * `collapse` (the covered text of a mention), runs of white space, also
 * no-break spaces, become one space and the ends are trimmed, so that a
 * name broken over two lines is the same name. NULL when memory runs out. */
static const char *clean_text(state *s, const char *p, size_t n, bool collapse)
{
    if (!reserve(s->host, &s->buf, &s->cap_buf, n * 3 + 1, 1))
        return NULL;
    char *o = s->buf;
    bool space = false;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p + i,
                                              (utf8proc_ssize_t)(n - i), &c);
        if (k < 1)
            c = 0xFFFD, k = 1; /* one bad byte at a time, as other sinks do */
        i += (size_t)k;
        if (collapse && ((c < 0x80 && is_blank((unsigned char)c)) || c == 0xA0)) {
            space = o > s->buf;
            continue;
        }
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xFFFE || c == 0xFFFF)
            continue;
        if (space)
            *o++ = ' ', space = false;
        o += utf8proc_encode_char(c, (utf8proc_uint8_t *)o);
    }
    *o = 0;
    return s->buf;
}

/* ---- the tables ------------------------------------------------------------------- */

/* The pair's slot: a multiply-xorshift mix is enough for two indices. */
static size_t edge_slot(uint32_t a, uint32_t b, size_t cap)
{
    uint64_t k = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
    return (size_t)(k ^ k >> 29) & (cap - 1);
}

/* Doubles a table once adding one more entry would fill it past 3/4. */
static bool full(size_t used, size_t cap) { return (used + 1) * 4 > cap * 3; }

/* A zeroed table of twice `cap` slots (`first` to begin with); *n gets its size. */
static void *bigger(const tm_host *h, size_t cap, size_t first, size_t size, size_t *n)
{
    *n = cap ? cap * 2 : first;
    void *t = h->alloc(*n * size);
    return t ? memset(t, 0, *n * size) : NULL;
}

static bool grow_nodes(state *s)
{
    size_t cap;
    uint32_t *slot = bigger(s->host, s->cap_node_slot, 1024, sizeof *slot, &cap);
    if (!slot)
        return false;
    for (size_t i = 0; i < s->n_nodes; i++) {
        size_t j = (size_t)s->nodes[i].hash & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = (uint32_t)i + 1;
    }
    s->host->free(s->node_slot);
    s->node_slot = slot;
    s->cap_node_slot = cap;
    return true;
}

static bool grow_edges(state *s)
{
    size_t cap;
    gedge *t = bigger(s->host, s->cap_edges, 4096, sizeof *t, &cap);
    if (!t)
        return false;
    for (size_t i = 0; i < s->cap_edges; i++) {
        const gedge *e = &s->edges[i];
        if (!e->weight)
            continue;
        size_t j = edge_slot(e->a, e->b, cap);
        while (t[j].weight)
            j = (j + 1) & (cap - 1);
        t[j] = *e;
    }
    s->host->free(s->edges);
    s->edges = t;
    s->cap_edges = cap;
    return true;
}

/* The node of (type, name), added when new; -1 when memory runs out. */
static int64_t node_get(state *s, const char *type, uint32_t type_ix, const char *name)
{
    size_t len = strlen(name);
    uint64_t hash = XXH3_64bits_withSeed(name, len, type_ix);
    if (s->n_nodes >= UINT32_MAX - 1 ||
        (full(s->n_nodes, s->cap_node_slot) && !grow_nodes(s)))
        return -1;
    size_t mask = s->cap_node_slot - 1, j = (size_t)hash & mask;
    for (; s->node_slot[j]; j = (j + 1) & mask) {
        const gnode *n = &s->nodes[s->node_slot[j] - 1];
        if (n->hash == hash && n->type == type && strcmp(n->name, name) == 0)
            return s->node_slot[j] - 1;
    }
    if (!reserve(s->host, &s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof *s->nodes))
        return -1;
    gnode *n = &s->nodes[s->n_nodes];
    memset(n, 0, sizeof *n);
    if (!(n->name = dup_str(s->host, name)))
        return -1;
    n->type = type;
    n->hash = hash;
    s->node_slot[j] = (uint32_t)++s->n_nodes;
    return (int64_t)s->n_nodes - 1;
}

/* One more window shared by nodes a < b. */
static bool edge_bump(state *s, uint32_t a, uint32_t b)
{
    if (full(s->n_edges, s->cap_edges) && !grow_edges(s))
        return false;
    size_t mask = s->cap_edges - 1, j = edge_slot(a, b, s->cap_edges);
    for (; s->edges[j].weight; j = (j + 1) & mask) {
        if (s->edges[j].a == a && s->edges[j].b == b) {
            s->edges[j].weight++;
            return true;
        }
    }
    s->edges[j] = (gedge){a, b, 1};
    s->n_edges++;
    return true;
}

/* ---- windows ---------------------------------------------------------------------- */

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

typedef struct ranked {
    uint32_t mentions, pos, ix;
} ranked;

/* most mentioned first; among equals, the first seen */
static int cmp_ranked(const void *x, const void *y)
{
    const ranked *a = x, *b = y;
    if (a->mentions != b->mentions)
        return a->mentions > b->mentions ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Keeps the max_entities most mentioned nodes of an oversized window. */
static bool cap_window(state *s, tm_ctx *ctx)
{
    size_t k = s->n_win, max = (size_t)s->cfg->max_entities;
    ranked *r = s->host->alloc(k * sizeof *r);
    if (!r)
        return false;
    for (size_t i = 0; i < k; i++)
        r[i] = (ranked){s->nodes[s->win[i]].win_mentions, (uint32_t)i, s->win[i]};
    qsort(r, k, sizeof *r, cmp_ranked);
    for (size_t i = 0; i < max; i++)
        s->win[i] = r[i].ix;
    s->host->free(r);
    if (!s->capped++)
        s->host->log(ctx, TM_LOG_WARN,
                     "document %.*s: a window with %zu distinct entities; pairs counted among "
                     "the %zu most mentioned only (max_entities; counter windows_capped)",
                     (int)s->doc->id_len, s->doc->id, k, max);
    s->host->count(ctx, "windows_capped", 1);
    s->n_win = max;
    return true;
}

/* Ends the current window: every pair of its distinct nodes shares it. */
static int close_window(state *s, tm_ctx *ctx)
{
    if (s->n_win > (size_t)s->cfg->max_entities && !cap_window(s, ctx))
        return no_memory(s, ctx);
    if (s->n_win > 1)
        qsort(s->win, s->n_win, sizeof *s->win, cmp_u32);
    for (size_t i = 0; i < s->n_win; i++)
        for (size_t j = i + 1; j < s->n_win; j++)
            if (!edge_bump(s, s->win[i], s->win[j]))
                return no_memory(s, ctx);
    s->n_win = 0;
    s->win_seq++;
    return TM_OK;
}

/* ---- sentences -------------------------------------------------------------------- */

static const char *const closers[] = {"\"", "'", ")", "]", "\xE2\x80\x9D", "\xE2\x80\x99",
                                      "\xC2\xBB", NULL};
static const char *const openers[] = {"\"", "'", "(", "[", "\xE2\x80\x9C", "\xE2\x80\x98",
                                      "\xC2\xAB", NULL};

static size_t skip_marks(const char *t, size_t n, size_t p, const char *const *marks)
{
    for (size_t k = 0; marks[k];) {
        size_t m = strlen(marks[k]);
        if (p + m <= n && memcmp(t + p, marks[k], m) == 0)
            p += m, k = 0;
        else
            k++;
    }
    return p;
}

/* Is the word before the full stop at i an initial ("J.", "U.S.") or a
 * title that is nearly always followed by a name? */
static bool abbreviation(const char *t, size_t i)
{
    static const char *const words[] = {"Mr",  "Mrs", "Ms",  "Dr",  "Prof", "Sr",  "Jr",
                                        "St",  "Mt",  "Gen", "Lt",  "Col",  "Maj", "Capt",
                                        "Sgt", "Gov", "Sen", "Rep", "Rev",  "Hon", "Pres",
                                        "Adm", "No",  "vs",  NULL};
    size_t j = i;
    while (j > 0 && ((t[j - 1] | 0x20) >= 'a' && (t[j - 1] | 0x20) <= 'z'))
        j--;
    if (i - j == 1 && t[j] >= 'A' && t[j] <= 'Z')
        return true;
    for (size_t k = 0; words[k]; k++)
        if (strlen(words[k]) == i - j && memcmp(t + j, words[k], i - j) == 0)
            return true;
    return false;
}

static bool capital_at(const char *t, size_t n, size_t p)
{
    utf8proc_int32_t c;
    if (p >= n || utf8proc_iterate((const utf8proc_uint8_t *)t + p, (utf8proc_ssize_t)(n - p),
                                   &c) < 1)
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT;
}

/* The offset where the sentence after the one at `from` starts, or
 * SIZE_MAX. A sentence ends at a blank line, or at . ! ? or an ellipsis
 * (and closing quotes or brackets) followed by a line break, or by spaces
 * and a capital letter, unless the full stop ends an initial or a title. */
static size_t next_sentence(const char *t, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        size_t p;
        if (c == '\n') {
            size_t j = i + 1;
            while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r'))
                j++;
            if (j < n && t[j] == '\n')
                return j + 1;
            continue;
        }
        if (c == '.' || c == '!' || c == '?')
            p = i + 1;
        else if (c == 0xE2 && i + 2 < n && memcmp(t + i, "\xE2\x80\xA6", 3) == 0)
            p = i + 3;
        else
            continue;
        if (c == '.' && abbreviation(t, i))
            continue;
        p = skip_marks(t, n, p, closers);
        size_t q = p;
        bool line_break = false;
        while (q < n && is_blank((unsigned char)t[q]))
            line_break |= t[q++] == '\n';
        if (q == p || q >= n)
            continue;
        if (line_break || capital_at(t, n, skip_marks(t, n, q, openers)))
            return q;
    }
    return SIZE_MAX;
}

/* ---- the callbacks ---------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++)
        if ((s[n - k + i] | 0x20) != suffix[i]) /* .GEXF as well */
            return false;
    return true;
}

static const char *format_name(int f)
{
    return f == FMT_GEXF ? "GEXF" : f == FMT_GRAPHML ? "GraphML" : "DOT";
}

/* init validates only (`textmill check` runs it): it creates nothing. */
static int init(tm_ctx *ctx, const tm_host *host, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    if (!cfg->path) /* required, so the host has refused this already */
        return host->error(ctx, "path: not set"), TM_ECONFIG;
    int fmt = cfg->format;
    if (fmt == FMT_AUTO)
        fmt = ends_with(cfg->path, ".gexf")      ? FMT_GEXF
              : ends_with(cfg->path, ".graphml") ? FMT_GRAPHML
              : ends_with(cfg->path, ".dot") || ends_with(cfg->path, ".gv") ? FMT_DOT
                                                                             : FMT_AUTO;
    if (fmt == FMT_AUTO)
        return host->error(ctx, "path: cannot tell the format of '%s' from its extension "
                                "(.gexf, .graphml, .dot or .gv); set format: gexf, graphml "
                                "or dot",
                           cfg->path),
               TM_ECONFIG;
    if (!cfg->types.n)
        return host->error(ctx, "types: the list is empty; name at least one annotation type "
                                "(PER, ORG, LOC, MISC)"),
               TM_ECONFIG;
    for (size_t i = 0; i < cfg->types.n; i++) {
        const char *t = cfg->types.items[i];
        bool bad = !*t;
        for (const char *c = t; *c && !bad; c++)
            bad = (unsigned char)*c <= ' ' || *c == ',';
        if (bad)
            return host->error(ctx, "types: '%s' is not a type name (write a list: [PER, ORG])",
                               t),
                   TM_ECONFIG;
    }
    static outfile_sniff const sniffs[] = {NULL, graph_sniff_gexf, graph_sniff_graphml,
                                           graph_sniff_dot};
    int rc = outfile_check(host, ctx, cfg->path, format_name(fmt), sniffs[fmt]);
    if (rc != TM_OK)
        return rc;

    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    s->format = fmt;
    s->doc_seq = s->win_seq = 1; /* 0 is every new node's "never" */
    if (!(s->types = host->alloc(cfg->types.n * sizeof *s->types))) {
        host->free(s);
        return TM_ENOMEM;
    }
    for (size_t i = 0; i < cfg->types.n; i++) {
        size_t k = 0;
        while (k < s->n_types && strcmp(s->types[k], cfg->types.items[i]) != 0)
            k++;
        if (k == s->n_types)
            s->types[s->n_types++] = cfg->types.items[i];
    }
    *out = s;
    return TM_OK;
}

/* Adds one mention: its node, counts and place in the current window. */
static int add_mention(state *s, tm_ctx *ctx, const tm_doc *d, const tm_annotation *a,
                       uint32_t type_ix)
{
    const char *name = a->canonical ? clean_text(s, a->canonical, strlen(a->canonical), false)
                                    : "";
    if (name && !*name) /* no canonical: the words as printed */
        name = clean_text(s, d->text + a->start, a->end - a->start, true);
    if (!name)
        return no_memory(s, ctx);
    if (!*name) {
        s->host->count(ctx, "nameless_mentions", 1);
        return TM_OK;
    }
    int64_t ix = node_get(s, s->types[type_ix], type_ix, name);
    if (ix < 0)
        return no_memory(s, ctx);
    gnode *n = &s->nodes[ix];
    n->mentions++;
    s->mentions++;
    if (n->last_doc != s->doc_seq)
        n->last_doc = s->doc_seq, n->docs++;
    if (!n->id && a->id && *a->id) { /* the first id seen stands for the entity */
        const char *id = clean_text(s, a->id, strlen(a->id), false);
        if (!id || (*id && !(n->id = dup_str(s->host, id))))
            return no_memory(s, ctx);
    }
    if (n->last_win != s->win_seq) {
        if (!reserve(s->host, &s->win, &s->cap_win, s->n_win + 1, sizeof *s->win))
            return no_memory(s, ctx);
        s->win[s->n_win++] = (uint32_t)ix;
        n->last_win = s->win_seq;
        n->win_mentions = 0;
    }
    if (n->win_mentions < UINT32_MAX)
        n->win_mentions++;
    return TM_OK;
}

static int add_doc(state *s, tm_ctx *ctx, const tm_doc *d)
{
    bool by_sentence = s->cfg->window == WIN_SENTENCE;
    size_t next = by_sentence ? next_sentence(d->text, d->text_len, 0) : SIZE_MAX;
    s->doc_seq++;
    s->doc = d;
    for (size_t i = 0; i < d->n_annotations; i++) {
        const tm_annotation *a = &d->annotations[i];
        uint32_t t = 0;
        while (t < s->n_types && strcmp(a->type, s->types[t]) != 0)
            t++;
        if (t == s->n_types)
            continue;
        if (a->start >= next) { /* annotations come sorted by start */
            int rc = close_window(s, ctx);
            if (rc != TM_OK)
                return rc;
            while (a->start >= next)
                next = next_sentence(d->text, d->text_len, next);
        }
        int rc = add_mention(s, ctx, d, a, t);
        if (rc != TM_OK)
            return rc;
    }
    return close_window(s, ctx);
}

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    for (size_t i = 0; i < batch->n; i++) {
        int rc = add_doc(s, ctx, batch->docs[i]);
        if (rc != TM_OK)
            return rc;
    }
    return TM_OK;
}

/* by type, then name, in byte order: the same input, the same file */
static int cmp_node(const void *x, const void *y)
{
    const gnode *a = *(const gnode *const *)x, *b = *(const gnode *const *)y;
    int c = strcmp(a->type, b->type);
    return c ? c : strcmp(a->name, b->name);
}

static int cmp_edge(const void *x, const void *y)
{
    const gedge *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

/* Filters and sorts the graph, then writes it to the temporary file. The
 * edge array is compacted in place: nothing is added after this. */
static int flush(void *st, tm_ctx *ctx)
{
    state *s = st;
    const tm_host *h = s->host;
    const config *cfg = s->cfg;
    if (!s->mentions) {
        char list[256] = "";
        for (size_t i = 0; i < s->n_types; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     s->types[i]);
        h->log(ctx, TM_LOG_WARN, "no annotation of the types %s reached this sink: the graph "
                                 "is empty (is there an entities stage before it?)",
               list);
    }
    const gnode **sorted = h->alloc((s->n_nodes + 1) * sizeof *sorted);
    uint32_t *order = h->alloc((s->n_nodes + 1) * sizeof *order);
    uint32_t *pos = h->alloc((s->n_nodes + 1) * sizeof *pos);
    int rc = TM_OK;
    if (!sorted || !order || !pos) {
        rc = no_memory(s, ctx);
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        pos[i] = UINT32_MAX;
        if (s->nodes[i].mentions >= (uint64_t)cfg->min_mentions)
            sorted[k++] = &s->nodes[i];
    }
    qsort(sorted, k, sizeof *sorted, cmp_node);
    for (size_t i = 0; i < k; i++) {
        order[i] = (uint32_t)(sorted[i] - s->nodes);
        pos[order[i]] = (uint32_t)i;
    }
    size_t m = 0;
    for (size_t i = 0; i < s->cap_edges; i++) { /* m <= i: compacting in place */
        gedge e = s->edges[i];
        if (!e.weight || e.weight < (uint64_t)cfg->min_weight)
            continue;
        uint32_t a = pos[e.a], b = pos[e.b];
        if (a == UINT32_MAX || b == UINT32_MAX)
            continue;
        s->edges[m++] = (gedge){a < b ? a : b, a < b ? b : a, e.weight};
    }
    s->n_edges = m;
    if (m) /* no table at all when no window had two entities */
        qsort(s->edges, m, sizeof *s->edges, cmp_edge);

    if ((rc = outfile_open(&s->out, h, ctx, cfg->path)) != TM_OK)
        goto done;
    graph_view view = {s->nodes, order, k, s->edges, m,
                       cfg->window == WIN_SENTENCE ? "sentence" : "document"};
    graph_write(s->out.fp, s->format, &view);
    if ((rc = outfile_finish(&s->out)) != TM_OK)
        goto done;
    h->count(ctx, "nodes", (int64_t)k);
    h->count(ctx, "edges", (int64_t)m);
    h->log(ctx, TM_LOG_DEBUG, "%zu entities, %zu edges (%s)", k, m, format_name(s->format));
done:
    h->free(sorted);
    h->free(order);
    h->free(pos);
    return rc;
}

static int commit(void *st, tm_ctx *ctx)
{
    (void)ctx;
    return outfile_commit(&((state *)st)->out);
}

static void fini(void *st)
{
    state *s = st;
    const tm_host *h = s->host;
    outfile_close(&s->out);
    for (size_t i = 0; i < s->n_nodes; i++) {
        h->free(s->nodes[i].name);
        h->free(s->nodes[i].id);
    }
    h->free(s->nodes);
    h->free(s->node_slot);
    h->free(s->edges);
    h->free(s->win);
    h->free(s->buf);
    h->free(s->types);
    h->free(s);
}

static const char *const reads[] = {"text", "?annotations", NULL};

TM_PLUGIN_DEFINE(.name = "graph", .version = "1.0.0", .license = "MIT",
                 .summary = "Writes the entity co-occurrence network as GEXF, GraphML or DOT, "
                            "atomically.",
                 .role = TM_ROLE_SINK, .caps = 0, .options = options,
                 .config_size = sizeof(config), .reads = reads, .writes = NULL, .init = init,
                 .process = process, .flush = flush, .fini = fini, .commit = commit);
