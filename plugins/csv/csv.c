/* sink `csv`: writes one RFC 4180 row per document (the columns chosen, a
 * header row first, UTF-8, CRLF line ends) through plugins/common/outfile,
 * so the file appears complete at its path only when the whole run
 * succeeded, and never half-written.
 *
 * With the pipeline's `state:` the sink appends instead (see outfile.h):
 * the header row (and the BOM) only start a new or empty file, and a file
 * that is appended to must start with this run's header. */
#include "outfile.h"

#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    char *path;
    tm_strlist columns;
    tm_strlist types;
    char *separator;
    char *delimiter;
    int bom;
} config;

static const tm_option options[] = {
    {.name = "path", .type = TM_OPT_STRING, .offset = offsetof(config, path), .required = 1,
     .help = "The output file, e.g. out/articles.csv. Missing parent directories are created; "
             "the file appears only when the run succeeds."},
    {.name = "columns", .type = TM_OPT_LIST,
     .def = "[id, title, date, author, source, url, entities, text]",
     .offset = offsetof(config, columns),
     .help = "The columns, in order; the header row repeats these names. id, text and entities "
             "are the document's own fields; meta.KEY, or any other name, is the metadata key "
             "KEY (empty when the document lacks it)."},
    {.name = "types", .type = TM_OPT_LIST, .def = "[PER, ORG, LOC, MISC]",
     .offset = offsetof(config, types),
     .help = "The annotation types the entities column lists; \"*\" takes every type."},
    {.name = "separator", .type = TM_OPT_STRING, .def = "; ", .offset = offsetof(config, separator),
     .help = "What joins the entities in the entities column (\"Ankara (LOC); NATO (ORG)\")."},
    {.name = "delimiter", .type = TM_OPT_STRING, .def = ",", .offset = offsetof(config, delimiter),
     .help = "The field delimiter: \",\" (RFC 4180), \";\" (spreadsheets in locales with a "
             "decimal comma), \"|\", or a tab (\"\\t\" or the word tab)."},
    {.name = "bom", .type = TM_OPT_BOOL, .def = "false", .offset = offsetof(config, bom),
     .help = "Start the file with a UTF-8 byte order mark, which Excel needs to read UTF-8."},
    TM_OPTIONS_END};

enum { COL_ID, COL_TEXT, COL_ENTITIES, COL_META };

typedef struct column {
    int kind;
    const char *key; /* COL_META: the metadata key (borrowed from the config) */
} column;

/* A growing byte buffer in host memory. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

/* One name of the entities cell: ent.data[at, at + len), in the set at slot. */
typedef struct item {
    size_t at, len, slot;
} item;

typedef struct state {
    const tm_host *host;
    const config *cfg;
    column *cols;
    size_t n_cols;
    char delim;
    bool all_types;

    bool opened;
    outfile out;
    int64_t base; /* append mode: the length appended at; -1 replaces */

    /* the entities cell of the current document and its distinct items,
     * found again through a hash set of item numbers + 1 (0: empty) */
    buf ent, name;
    item *items;
    size_t n_items, items_cap;
    size_t *slots, n_slots;
} state;

static void state_free(state *s)
{
    const tm_host *h = s->host;
    h->free(s->cols);
    h->free(s->ent.data);
    h->free(s->name.data);
    h->free(s->items);
    h->free(s->slots);
    h->free(s);
}

/* ---- options ---------------------------------------------------------------------- */

static int parse_delimiter(state *s, tm_ctx *ctx, const char *d)
{
    if (strcmp(d, "tab") == 0 || strcmp(d, "\t") == 0)
        s->delim = '\t';
    else if (strcmp(d, ",") == 0 || strcmp(d, ";") == 0 || strcmp(d, "|") == 0)
        s->delim = d[0];
    else
        return s->host->error(ctx, "delimiter: '%s' is not one of ',', ';', '|' or a tab "
                                   "(\"\\t\" or tab)", d), TM_ECONFIG;
    return TM_OK;
}

static int parse_columns(state *s, tm_ctx *ctx, const tm_strlist *l)
{
    const tm_host *h = s->host;
    if (l->n == 0)
        return h->error(ctx, "columns: empty; name at least one column"), TM_ECONFIG;
    if (!(s->cols = h->alloc(l->n * sizeof *s->cols)))
        return TM_ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        const char *name = l->items[i];
        column *c = &s->cols[i];
        if (!*name)
            return h->error(ctx, "columns: item %zu is empty", i + 1), TM_ECONFIG;
        /* a header with one name twice cannot be read back by name */
        for (size_t k = 0; k < i; k++)
            if (strcmp(name, l->items[k]) == 0)
                return h->error(ctx, "columns: '%s' is listed twice", name), TM_ECONFIG;
        if (strcmp(name, "id") == 0)
            *c = (column){COL_ID, NULL};
        else if (strcmp(name, "text") == 0)
            *c = (column){COL_TEXT, NULL};
        else if (strcmp(name, "entities") == 0)
            *c = (column){COL_ENTITIES, NULL};
        else if (strncmp(name, "meta.", 5) == 0 && name[5])
            *c = (column){COL_META, name + 5};
        else if (strncmp(name, "meta.", 5) == 0)
            return h->error(ctx, "columns: '%s' names no metadata key", name), TM_ECONFIG;
        else
            *c = (column){COL_META, name};
    }
    s->n_cols = l->n;
    return TM_OK;
}

/* An existing file may be replaced when it is text that does not look like
 * another format textmill writes or reads: a JSON, JSON Lines, XML or HTML
 * file at a CSV sink's path is more likely a mistake than an old output. */
static bool looks_like_csv(const unsigned char *head, size_t n)
{
    if (!outfile_is_text(head, n))
        return false;
    size_t i = n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < n && strchr(" \t\r\n", head[i]))
        i++;
    return i == n || !strchr("{[<", head[i]);
}

static int check_header(state *s, tm_ctx *ctx);

/* init validates only: `textmill check` runs it, so it creates nothing. */
static int init(tm_ctx *ctx, const tm_host *host, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    int rc = parse_columns(s, ctx, &cfg->columns);
    if (rc == TM_OK)
        rc = parse_delimiter(s, ctx, cfg->delimiter);
    if (rc == TM_OK && cfg->types.n == 0)
        rc = (host->error(ctx, "types: empty; name at least one type, or \"*\" for every "
                               "type"), TM_ECONFIG);
    for (size_t i = 0; rc == TM_OK && i < cfg->types.n; i++)
        if (strcmp(cfg->types.items[i], "*") == 0)
            s->all_types = true;
    if (rc == TM_OK)
        rc = outfile_check(host, ctx, cfg->path, "CSV", looks_like_csv);
    if (rc == TM_OK)
        rc = outfile_append_base(host, ctx, cfg->path, &s->base);
    if (rc == TM_OK && s->base > 0)
        rc = check_header(s, ctx);
    if (rc != TM_OK) {
        state_free(s);
        return rc;
    }
    *out = s;
    return TM_OK;
}

/* ---- cells ------------------------------------------------------------------------ */

/* One cell. Quoted when it holds the delimiter, a quote, CR or LF (RFC 4180),
 * or starts or ends with a space or tab (which some readers trim from an
 * unquoted cell); quotes inside are doubled. NUL bytes are left out: a CSV
 * cell cannot carry them (many readers stop at one), and the counter
 * nul_dropped says that it happened. */
static void put_cell(state *s, tm_ctx *ctx, const char *p, size_t n)
{
    FILE *f = s->out.fp;
    bool quote = n > 0 && (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t');
    /* a row of one empty cell would be a blank line, which readers skip */
    quote |= n == 0 && s->n_cols == 1;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == s->delim || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (quote)
        putc('"', f);
    size_t from = 0, nuls = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '"' && p[i] != 0)
            continue;
        fwrite(p + from, 1, i - from, f);
        if (p[i] == '"')
            fputs("\"\"", f);
        else
            nuls++;
        from = i + 1;
    }
    if (n > from) /* p may be NULL for an empty cell */
        fwrite(p + from, 1, n - from, f);
    if (quote)
        putc('"', f);
    if (nuls)
        s->host->count(ctx, "nul_dropped", (int64_t)nuls);
}

static bool buf_reserve(const tm_host *h, buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    char *p = h->realloc(b->data, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

static bool buf_add(const tm_host *h, buf *b, const char *p, size_t n)
{
    if (!buf_reserve(h, b, n))
        return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "Name (TYPE)" into s->name, with every run of white space in the name made
 * one space: a mention that a line break cuts in two is still one name. */
static bool render_item(state *s, const char *p, size_t n, const char *type)
{
    const tm_host *h = s->host;
    buf *b = &s->name;
    b->len = 0;
    while (n > 0 && is_space(p[0]))
        p++, n--;
    while (n > 0 && is_space(p[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++) {
        if (is_space(p[i]) && is_space(p[i + 1]))
            continue; /* i + 1 < n: the run ends before the trimmed end */
        char c = is_space(p[i]) ? ' ' : p[i];
        if (!buf_add(h, b, &c, 1))
            return false;
    }
    return buf_add(h, b, " (", 2) && buf_add(h, b, type, strlen(type)) && buf_add(h, b, ")", 1);
}

static size_t hash_bytes(const char *p, size_t n)
{
    uint64_t x = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        x = (x ^ (unsigned char)p[i]) * 1099511628211u;
    return (size_t)x;
}

/* The slot of s->name in the set: its item's slot, or the empty one where it
 * belongs. n_slots is a power of two, four times the items' capacity. */
static size_t find_slot(const state *s)
{
    size_t mask = s->n_slots - 1, i = hash_bytes(s->name.data, s->name.len) & mask;
    for (;; i = (i + 1) & mask) {
        size_t k = s->slots[i];
        if (!k || (s->items[k - 1].len == s->name.len &&
                   memcmp(s->ent.data + s->items[k - 1].at, s->name.data, s->name.len) == 0))
            return i;
    }
}

static bool grow_items(state *s)
{
    const tm_host *h = s->host;
    size_t cap = s->items_cap ? s->items_cap * 2 : 64;
    item *items = h->realloc(s->items, cap * sizeof *items);
    size_t *slots = items ? h->alloc(cap * 4 * sizeof *slots) : NULL;
    if (items)
        s->items = items;
    if (!slots)
        return false;
    s->items_cap = cap;
    h->free(s->slots);
    s->slots = slots;
    s->n_slots = cap * 4;
    memset(slots, 0, s->n_slots * sizeof *slots);
    buf keep = s->name;
    for (size_t k = 0; k < s->n_items; k++) {
        item *it = &s->items[k];
        s->name = (buf){s->ent.data + it->at, it->len, it->len};
        it->slot = find_slot(s);
        slots[it->slot] = k + 1;
    }
    s->name = keep;
    return true;
}

static bool type_wanted(const state *s, const char *type)
{
    if (s->all_types)
        return true;
    for (size_t i = 0; i < s->cfg->types.n; i++)
        if (strcmp(type, s->cfg->types.items[i]) == 0)
            return true;
    return false;
}

/* Builds the entities cell in s->ent: each distinct "Canonical (TYPE)" once,
 * in the order of first appearance (annotations are sorted by position);
 * a mention without a canonical name is named by the text it covers. */
static bool build_entities(state *s, const tm_doc *d)
{
    const tm_host *h = s->host;
    const char *sep = s->cfg->separator;
    /* empty the set slot by slot: after one huge document it is large */
    for (size_t k = 0; k < s->n_items; k++)
        s->slots[s->items[k].slot] = 0;
    s->ent.len = 0;
    s->n_items = 0;
    for (size_t i = 0; i < d->n_annotations; i++) {
        const tm_annotation *a = &d->annotations[i];
        if (!type_wanted(s, a->type))
            continue;
        bool ok = a->canonical && *a->canonical
                      ? render_item(s, a->canonical, strlen(a->canonical), a->type)
                      : render_item(s, d->text + a->start, a->end - a->start, a->type);
        if (!ok || (s->n_items == s->items_cap && !grow_items(s)))
            return false;
        size_t slot = find_slot(s);
        if (s->slots[slot])
            continue;
        if (s->n_items && !buf_add(h, &s->ent, sep, strlen(sep)))
            return false;
        s->items[s->n_items] = (item){s->ent.len, s->name.len, slot};
        if (!buf_add(h, &s->ent, s->name.data, s->name.len))
            return false;
        s->slots[slot] = ++s->n_items;
    }
    return true;
}

/* ---- rows ------------------------------------------------------------------------- */

static void end_row(state *s)
{
    fputs("\r\n", s->out.fp);
}

static void put_header(state *s, tm_ctx *ctx)
{
    if (s->cfg->bom)
        fputs("\xEF\xBB\xBF", s->out.fp);
    for (size_t i = 0; i < s->n_cols; i++) {
        if (i)
            putc(s->delim, s->out.fp);
        const char *name = s->cfg->columns.items[i];
        put_cell(s, ctx, name, strlen(name));
    }
    end_row(s);
}

static int put_row(state *s, tm_ctx *ctx, const tm_doc *d)
{
    for (size_t i = 0; i < s->n_cols; i++) {
        if (i)
            putc(s->delim, s->out.fp);
        const column *c = &s->cols[i];
        if (c->kind == COL_ID) {
            put_cell(s, ctx, d->id, d->id_len);
        } else if (c->kind == COL_TEXT) {
            put_cell(s, ctx, d->text, d->text_len);
        } else if (c->kind == COL_ENTITIES) {
            if (!build_entities(s, d))
                return TM_ENOMEM;
            put_cell(s, ctx, s->ent.data, s->ent.len);
        } else {
            /* strings as they are; numbers, booleans and JSON as their JSON
             * text (true/false, compact JSON); null and absent keys empty */
            const tm_meta *m = s->host->meta_get(d, c->key);
            if (m && m->type != TM_META_NULL && m->value)
                put_cell(s, ctx, m->value, m->len);
            else
                put_cell(s, ctx, "", 0);
        }
    }
    end_row(s);
    return TM_OK;
}

/* Creates the temporary file and writes the header: on the first batch, or
 * in flush when no document came (a header-only file). Appending, only a
 * new or empty file gets the header (and the BOM). */
static int open_output(state *s, tm_ctx *ctx)
{
    if (s->base >= 0) /* with state: what killed runs left beside the target */
        outfile_remove_stale(s->host, ctx, s->cfg->path);
    int rc = outfile_open(&s->out, s->host, ctx, s->cfg->path);
    if (rc != TM_OK)
        return rc;
    s->opened = true;
    if (s->base <= 0)
        put_header(s, ctx);
    return TM_OK;
}

/* A write error (a full disk) stops the run at once, not only in flush. */
static int check_written(state *s, tm_ctx *ctx)
{
    if (ferror(s->out.fp))
        return s->host->error(ctx, "%s: cannot write: %s", s->cfg->path,
                              errno ? strerror(errno) : "write error");
    return TM_OK;
}

/* Append mode: the file appended to must begin with the header this run
 * would write (a BOM before it is allowed either way); else the columns (or
 * the delimiter) changed, and rows would no longer match the header. */
static int check_header(state *s, tm_ctx *ctx)
{
    const tm_host *h = s->host;
    char *want = NULL;
    size_t want_n = 0;
    FILE *mem = open_memstream(&want, &want_n);
    if (!mem)
        return TM_ENOMEM;
    FILE *keep = s->out.fp;
    s->out.fp = mem;
    for (size_t i = 0; i < s->n_cols; i++) {
        if (i)
            putc(s->delim, mem);
        const char *name = s->cfg->columns.items[i];
        put_cell(s, ctx, name, strlen(name));
    }
    s->out.fp = keep;
    int failed = fclose(mem) != 0;
    if (failed) {
        free(want);
        return TM_ENOMEM;
    }
    char *have = NULL;
    size_t cap = 0;
    FILE *f = fopen(s->cfg->path, "rb");
    ssize_t n = f ? getline(&have, &cap, f) : -1;
    if (f)
        fclose(f);
    const char *line = n > 0 ? have : "";
    size_t len = n > 0 ? (size_t)n : 0;
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3, len -= 3;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    int rc = TM_OK;
    if (len != want_n || memcmp(line, want, len) != 0)
        rc = (h->error(ctx, "path: %s starts with the header '%.*s', but this sink writes "
                            "'%s' and appends to it (with state:): the columns changed; move "
                            "the file away to start a new one, or restore the columns",
                       s->cfg->path, (int)(len > 300 ? 300 : len), line, want),
              TM_ECONFIG);
    free(have);
    free(want);
    return rc;
}

/* ---- the callbacks ---------------------------------------------------------------- */

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    if (!s->opened) {
        int rc = open_output(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    for (size_t i = 0; i < batch->n; i++) {
        int rc = put_row(s, ctx, batch->docs[i]);
        if (rc != TM_OK)
            return rc;
    }
    return check_written(s, ctx);
}

/* Flush makes the temporary file durable; the rename waits for commit, which
 * runs only when every step has flushed, so that with several sinks none is
 * replaced unless all could write. */
static int flush(void *st, tm_ctx *ctx)
{
    state *s = st;
    if (!s->opened) {
        int rc = open_output(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    return outfile_finish(&s->out);
}

/* Rename over the target; with state, append to it (see outfile.h). */
static int commit(void *st, tm_ctx *ctx)
{
    (void)ctx;
    state *s = st;
    return s->base >= 0 ? outfile_commit_append(&s->out) : outfile_commit(&s->out);
}

static void fini(void *st)
{
    state *s = st;
    outfile_close(&s->out);
    state_free(s);
}

static const char *const reads[] = {"id", "text", "?meta.*", "?annotations", NULL};

TM_PLUGIN_DEFINE(.name = "csv", .version = "1.0.0", .license = "MIT",
                 .summary = "Writes documents as CSV (RFC 4180, UTF-8): chosen metadata, the "
                            "text and the entities, atomically.",
                 .role = TM_ROLE_SINK, .caps = 0, .options = options,
                 .config_size = sizeof(config), .reads = reads, .writes = NULL, .init = init,
                 .process = process, .flush = flush, .fini = fini, .commit = commit);
