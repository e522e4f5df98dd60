/* sink `report`: one self-contained HTML page about a run (per-step counts,
 * documents per source and per day, top entities, duplicate clusters,
 * stories, boilerplate rules that fired) and the same numbers as JSON.
 *
 * process() only counts: its memory grows with the distinct sources,
 * entities, days, stories and duplicate clusters, never with the text.
 * flush() asks the host for the run's numbers (final for every stage by
 * then), builds one JSON object and writes both files through outfile, so
 * they appear only when the whole run succeeds. */
#include "outfile.h"
#include "outlet.h"
#include "report.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct config {
    char *path;
    char *json;
    int64_t top;
    tm_strlist types;
    char *title;
} config;

static const tm_option options[] = {
    {.name = "path", .type = TM_OPT_STRING, .offset = offsetof(config, path), .required = 1,
     .help = "The HTML report, ending in .html, e.g. out/report.html. Missing parent "
             "directories are created; the file appears only when the run succeeds."},
    {.name = "json", .type = TM_OPT_STRING, .offset = offsetof(config, json),
     .help = "The JSON file with the same numbers; default: path with .json instead of "
             ".html."},
    {.name = "top", .type = TM_OPT_INT, .def = "20", .min = 1, .max = 1000,
     .offset = offsetof(config, top),
     .help = "How many entities of each type to list, the most mentioned first."},
    {.name = "types", .type = TM_OPT_LIST, .def = "[PER, ORG, LOC, MISC]",
     .offset = offsetof(config, types),
     .help = "Annotation types counted as entities, in the order they are shown."},
    {.name = "title", .type = TM_OPT_STRING, .offset = offsetof(config, title),
     .help = "The page's title; default: \"textmill report: PIPELINE\"."},
    TM_OPTIONS_END};

#define TITLE_MAX 300    /* bytes of a document title kept for display */
#define MEMBERS_KEPT 50  /* documents listed per story or duplicate cluster */
#define GROUPS_LISTED 100 /* stories and clusters listed, the largest first */
#define NAMES_KEPT 6     /* shared names and terms kept from a story's evidence */
#define TERMS_KEPT 8     /* a story's top terms (story_terms) kept */
#define OUTLETS_LISTED 50 /* outlets listed per story, the most documents first */

typedef struct source_e {
    rkey k;
    int64_t docs, bytes;
    char first[11], last[11]; /* dates, "" when none */
} source_e;

typedef struct entity_e {
    rkey k; /* TYPE \0 NAME */
    int64_t mentions, docs, last_doc;
} entity_e;

typedef struct count_e { /* days and duplicate kinds */
    rkey k;
    int64_t n;
} count_e;

/* A document listed in a story or a duplicate cluster. */
typedef struct member {
    char *id, *title;   /* title NULL when the document has none */
    char date[11];
    char *kind;         /* duplicate kind, when the document is a duplicate */
    char *duplicate_of; /* in stories: the document it duplicates */
    char *outlet;       /* in stories: its outlet, NULL when unknown */
    double similarity;  /* negative: not given */
    double score;       /* story_score (else the evidence's score); negative: none */
    cJSON *names;       /* story evidence: the first shared names */
    cJSON *terms;       /* story evidence: the first shared terms */
    cJSON *parts;       /* story evidence: each part's share of the log-odds */
    double days_apart;  /* story evidence; negative: not given */
} member;

/* A story (keyed by story id) or a duplicate cluster (keyed by the kept
 * document's id). */
typedef struct group_e {
    rkey k;
    int64_t docs;
    member *m;
    size_t n_m;
    char *story; /* clusters: a duplicate's story, where the kept one's title is found */
    /* stories only: */
    char *label;      /* story_label of the latest document that had one */
    cJSON *terms;     /* story_terms of the latest document that had them */
    char first[11], last[11]; /* dates of its documents in this run, "" when none */
    int64_t outlets;  /* distinct outlets among them (story_outlets) */
    bool opened;      /* one of this run's documents opened it (id = story id) */
} group_e;

typedef struct state {
    const tm_host *host;
    const config *cfg;
    char *json_path; /* cfg->json, or derived from path */
    rtable sources, entities, days, kinds, stories, clusters;
    rtable story_outlets; /* STORY \0 OUTLET -> documents (count_e) */
    int64_t docs, bytes, dated, duplicates;
    char *scratch; /* display form of the string at hand */
    size_t scratch_cap;
    outfile html, json;
    bool oom; /* a list of the report could not be made */
} state;

/* ---- checking the targets ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* memmem is a GNU extension; the heads searched here are 4 KiB at most. */
static const void *find(const void *hay, size_t n, const char *needle, size_t k)
{
    for (const char *p = hay; k <= n && p + k <= (const char *)hay + n; p++)
        if (memcmp(p, needle, k) == 0)
            return p;
    return NULL;
}

static const char html_marker[] = "<meta name=\"generator\" content=\"" REPORT_GENERATOR;

/* An HTML file this sink wrote: the generator meta sits in the first lines. */
static bool sniff_html(const unsigned char *head, size_t n)
{
    return outfile_is_text(head, n) &&
           find(head, n, html_marker, sizeof html_marker - 1) != NULL;
}

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A JSON twin this sink wrote: an object whose first member is
 * "generator": "textmill report ...", in any layout. */
static bool sniff_json(const unsigned char *head, size_t n)
{
    static const char key[] = "\"generator\"", value[] = "\"" REPORT_GENERATOR;
    const unsigned char *p = head, *end = head + n;
    if (!outfile_is_text(head, n))
        return false;
    p = skip_space(p, end);
    if (p == end || *p++ != '{')
        return false;
    p = skip_space(p, end);
    if ((size_t)(end - p) < sizeof key - 1 || memcmp(p, key, sizeof key - 1) != 0)
        return false;
    p = skip_space(p + sizeof key - 1, end);
    if (p == end || *p++ != ':')
        return false;
    p = skip_space(p, end);
    return (size_t)(end - p) >= sizeof value - 1 && memcmp(p, value, sizeof value - 1) == 0;
}

/* path made comparable, in memory from malloc: the real path of its
 * directory and its last component; when the directory does not exist (yet),
 * the path made absolute with "." and empty components dropped and ".."
 * applied. NULL when memory runs out. */
static char *resolved(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_n = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dir_n + 2);
    if (!dir)
        return NULL;
    if (slash)
        snprintf(dir, dir_n + 2, "%.*s", (int)(dir_n ? dir_n : 1), path); /* "/x": "/" */
    else
        strcpy(dir, ".");
    char *real = realpath(dir, NULL), *out = NULL;
    free(dir);
    if (real) {
        size_t n = strlen(real) + strlen(base) + 2;
        if ((out = malloc(n)))
            snprintf(out, n, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
        free(real);
        return out;
    }
    char cwd[4096] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        cwd[0] = 0;
    size_t n = strlen(cwd) + strlen(path) + 3;
    char *all = malloc(n);
    if (!all || !(out = malloc(n))) {
        free(all);
        return NULL;
    }
    snprintf(all, n, "%s/%s", cwd, path);
    size_t o = 0;
    for (char *save = NULL, *c = strtok_r(all, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            while (o > 0 && out[--o] != '/')
                ;
            continue;
        }
        o += (size_t)sprintf(out + o, "/%s", c);
    }
    out[o] = 0;
    free(all);
    return out;
}

/* Whether the two paths name the same file: the same inode when both exist,
 * else the same resolved path (`./out/r.html` and `out/r.html`). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ra = resolved(a), *rb = resolved(b);
    bool same = ra && rb ? strcmp(ra, rb) == 0 : strcmp(a, b) == 0;
    free(ra);
    free(rb);
    return same;
}

/* init validates only: `textmill check` runs it, so it creates nothing. */
static int init(tm_ctx *ctx, const tm_host *host, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    if (!cfg->path) /* required, so the host has refused this already */
        return host->error(ctx, "path: not set"), TM_ECONFIG;
    if (!ends_with(cfg->path, ".html"))
        return host->error(ctx, "path: '%s' must end in .html (the report is one HTML page)",
                           cfg->path),
               TM_ECONFIG;
    /* the twin's path: the option, or path with .json for .html */
    const char *from = cfg->json ? cfg->json : cfg->path;
    size_t n = cfg->json ? strlen(from) : strlen(from) - strlen(".html");
    char *json = host->alloc(n + sizeof ".json");
    if (!json)
        return TM_ENOMEM;
    snprintf(json, n + sizeof ".json", "%.*s%s", (int)n, from, cfg->json ? "" : ".json");
    int rc = TM_OK;
    if (same_file(json, cfg->path)) {
        host->error(ctx, "json: '%s' is the HTML report's path too; choose another", json);
        rc = TM_ECONFIG;
    }
    if (rc == TM_OK)
        rc = outfile_check(host, ctx, cfg->path, "textmill report (HTML)", sniff_html);
    if (rc == TM_OK)
        rc = outfile_check(host, ctx, json, "textmill report (JSON)", sniff_json);
    state *s = rc == TM_OK ? host->alloc(sizeof *s) : NULL;
    if (!s) { /* fini runs only after a successful init */
        host->free(json);
        return rc == TM_OK ? TM_ENOMEM : rc;
    }
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    s->json_path = json;
    rtable *tables[] = {&s->sources, &s->entities, &s->days,         &s->kinds,
                        &s->stories, &s->clusters, &s->story_outlets};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        rtable_init(tables[i], host);
    *out = s;
    return TM_OK;
}

/* ---- counting documents ---------------------------------------------------------- */

static bool scratch_fits(state *s, size_t need)
{
    if (need > s->scratch_cap) {
        char *b = s->host->realloc(s->scratch, need);
        if (!b)
            return false;
        s->scratch = b;
        s->scratch_cap = need;
    }
    return true;
}

/* The display form of s[0..n) in s->scratch (valid UTF-8, no controls). */
static const char *clean(state *s, const char *p, size_t n, size_t max, size_t *len)
{
    if (!scratch_fits(s, REPORT_CLEAN_SIZE(n)))
        return NULL;
    size_t o = report_clean_into(s->scratch, p, n, max);
    if (len)
        *len = o;
    return s->scratch;
}

static char *dup_clean(state *s, const char *p, size_t n, size_t max, bool *oom)
{
    char *c = report_clean(s->host, p, n, max);
    if (!c)
        *oom = true;
    return c;
}

/* A metadata value as text: strings, and numbers (ids may be numbers). */
static const char *meta_text(const state *s, const tm_doc *d, const char *key, size_t *n)
{
    const tm_meta *m = s->host->meta_get(d, key);
    if (!m || !m->value || (m->type != TM_META_STRING && m->type != TM_META_NUMBER))
        return NULL;
    const char *v = m->value, *end = v + m->len;
    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    *n = (size_t)(end - v);
    return *n ? v : NULL;
}

/* YYYY-MM-DD from meta.date (the rest, a time, is ignored), or "". */
static void day_of(const state *s, const tm_doc *d, char day[11])
{
    size_t n;
    const char *v = meta_text(s, d, "date", &n);
    outlet_day(v, v ? n : 0, day);
}

/* Who published a document: meta.source, else the host of meta.url (see
 * outlet.h), in its display form in s->scratch; NULL when it has neither
 * (*oom set when memory ran out). */
static const char *outlet(state *s, const tm_doc *d, size_t *len, bool *oom)
{
    size_t src_n = 0, url_n = 0;
    const char *src = meta_text(s, d, "source", &src_n);
    const char *url = meta_text(s, d, "url", &url_n);
    char *host = url ? s->host->alloc(url_n) : NULL;
    if (url && !host)
        return *oom = true, NULL;
    size_t n;
    const char *o = outlet_of(src, src_n, url, url_n, host, &n);
    const char *c = o ? clean(s, o, n, 0, len) : NULL;
    s->host->free(host);
    if (o && !c)
        *oom = true;
    return c;
}

/* Where a document comes from: its outlet; else the directory of meta.file
 * ("seeds/"), so that files read from different folders stay apart; else
 * "(unknown)". */
static const char *source_of(state *s, const tm_doc *d, size_t *len)
{
    bool oom = false;
    const char *o = outlet(s, d, len, &oom);
    if (o || oom)
        return o;
    size_t n;
    const char *v = meta_text(s, d, "file", &n);
    if (v) {
        const char *slash = NULL;
        for (const char *p = v; p < v + n; p++)
            if (*p == '/')
                slash = p;
        if (!slash)
            return clean(s, "./", 2, 0, len);
        return clean(s, v, (size_t)(slash - v) + 1, 0, len);
    }
    return clean(s, "(unknown)", 9, 0, len);
}

static bool wanted_type(const state *s, const char *type)
{
    for (size_t i = 0; i < s->cfg->types.n; i++)
        if (strcmp(s->cfg->types.items[i], type) == 0)
            return true;
    return false;
}

static int count_entities(state *s, const tm_doc *d)
{
    for (size_t i = 0; i < d->n_annotations; i++) {
        const tm_annotation *a = &d->annotations[i];
        if (!wanted_type(s, a->type))
            continue;
        /* the canonical name, else the label, else the covered text */
        const char *name = a->canonical && *a->canonical ? a->canonical
                           : a->label && *a->label      ? a->label
                                                        : d->text + a->start;
        size_t name_n = name == d->text + a->start ? a->end - a->start : strlen(name);
        size_t type_n = strlen(a->type);
        /* the key is TYPE \0 NAME, with the name in its display form */
        if (!scratch_fits(s, type_n + 1 + REPORT_CLEAN_SIZE(name_n)))
            return TM_ENOMEM;
        size_t n = report_clean_into(s->scratch + type_n + 1, name, name_n, 0);
        if (!n)
            continue;
        memcpy(s->scratch, a->type, type_n + 1);
        entity_e *e = rtable_intern(&s->entities, s->scratch, type_n + 1 + n, sizeof *e);
        if (!e)
            return TM_ENOMEM;
        e->mentions++;
        if (e->last_doc != s->docs) {
            e->docs++;
            e->last_doc = s->docs;
        }
    }
    return TM_OK;
}

static int count_key(rtable *t, const char *key, size_t n)
{
    count_e *e = rtable_intern(t, key, n, sizeof *e);
    if (!e)
        return TM_ENOMEM;
    e->n++;
    return TM_OK;
}

/* A new member of a group (NULL once MEMBERS_KEPT are listed, or out of
 * memory: then *oom is set). */
static member *add_member(state *s, group_e *g, const tm_doc *d, const char *title,
                          const char day[11], bool *oom)
{
    g->docs++;
    if (g->n_m >= MEMBERS_KEPT)
        return NULL;
    if (g->n_m == 0 || (g->n_m & (g->n_m - 1)) == 0) { /* grow at powers of two */
        member *m = s->host->realloc(g->m, (g->n_m ? 2 * g->n_m : 1) * sizeof *m);
        if (!m)
            return *oom = true, NULL;
        g->m = m;
    }
    member *m = &g->m[g->n_m++];
    memset(m, 0, sizeof *m);
    m->similarity = m->score = m->days_apart = -1;
    memcpy(m->date, day, 11);
    m->id = dup_clean(s, d->id, d->id_len, 0, oom);
    if (title)
        m->title = dup_clean(s, title, strlen(title), 0, oom);
    return m;
}

static double meta_number(const state *s, const tm_doc *d, const char *key)
{
    const tm_meta *m = s->host->meta_get(d, key);
    if (!m || m->type != TM_META_NUMBER || !m->value)
        return -1;
    return strtod(m->value, NULL);
}

/* Up to `max` strings of a JSON array, cleaned for display; NULL when
 * `from` is no array (or memory ran out: then *oom). */
static cJSON *strings_of(state *s, const cJSON *from, int max, bool *oom)
{
    if (!cJSON_IsArray(from))
        return NULL;
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return *oom = true, NULL;
    int k = 0;
    for (const cJSON *x = from->child; x && k < max; x = x->next) {
        if (!cJSON_IsString(x))
            continue;
        char *c = dup_clean(s, x->valuestring, strlen(x->valuestring), 0, oom);
        cJSON *y = c ? cJSON_CreateString(c) : NULL;
        s->host->free(c);
        if (!y || !cJSON_AddItemToArray(a, y)) {
            cJSON_Delete(y);
            *oom = true;
            break;
        }
        k++;
    }
    return a;
}

static cJSON *parse_meta_json(const state *s, const tm_doc *d, const char *key)
{
    const tm_meta *meta = s->host->meta_get(d, key);
    if (!meta || meta->type != TM_META_JSON || !meta->value)
        return NULL;
    return cJSON_ParseWithLength(meta->value, meta->len);
}

/* What a story's evidence (the stories stage's JSON) says of a document
 * that joined: the score, the first shared names and terms, each part's
 * share of the log-odds (names, title, body, date: numbers only) and the
 * days between it and the story. */
static void take_evidence(state *s, const tm_doc *d, member *m, bool *oom)
{
    cJSON *ev = parse_meta_json(s, d, "story_evidence");
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(ev, "score");
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(ev, "days_apart");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(ev, "parts"), *x;
    double own = meta_number(s, d, "story_score");
    if (own >= 0)
        m->score = own;
    else if (cJSON_IsNumber(score))
        m->score = score->valuedouble;
    if (cJSON_IsNumber(days) && days->valuedouble >= 0)
        m->days_apart = days->valuedouble;
    m->names = strings_of(s, cJSON_GetObjectItemCaseSensitive(ev, "names"), NAMES_KEPT, oom);
    m->terms = strings_of(s, cJSON_GetObjectItemCaseSensitive(ev, "terms"), NAMES_KEPT, oom);
    if (cJSON_IsObject(parts) && (m->parts = cJSON_CreateObject())) {
        cJSON_ArrayForEach(x, parts)
        {
            if (!cJSON_IsNumber(x) || !x->string)
                continue;
            char *k = dup_clean(s, x->string, strlen(x->string), 0, oom);
            if (k && !cJSON_AddNumberToObject(m->parts, k, x->valuedouble))
                *oom = true;
            s->host->free(k);
        }
    } else if (cJSON_IsObject(parts)) {
        *oom = true;
    }
    cJSON_Delete(ev);
}

/* A document's part in its story: the story's dates, outlets, label and
 * terms as of this document (the stage's latest view of the story). */
static void add_to_story(state *s, group_e *g, const tm_doc *d, const char day[11], bool *oom)
{
    if (d->id_len == g->k.len && memcmp(d->id, g->k.key, d->id_len) == 0)
        g->opened = true;
    if (day[0] && (!g->first[0] || strcmp(day, g->first) < 0))
        memcpy(g->first, day, 11);
    if (day[0] && strcmp(day, g->last) > 0)
        memcpy(g->last, day, 11);
    size_t n;
    const tm_meta *label = s->host->meta_get(d, "story_label");
    if (label && label->type == TM_META_STRING && label->value) {
        const char *v = label->value;
        n = label->len;
        v = outlet_trim(v, &n);
        char *c = dup_clean(s, v, n, TITLE_MAX, oom);
        if (c) {
            s->host->free(g->label);
            g->label = c;
        }
    }
    cJSON *terms = parse_meta_json(s, d, "story_terms");
    cJSON *kept = strings_of(s, terms, TERMS_KEPT, oom);
    cJSON_Delete(terms);
    if (kept) {
        cJSON_Delete(g->terms);
        g->terms = kept;
    }
    const char *o = outlet(s, d, &n, oom);
    if (!o)
        return;
    /* the key is STORY \0 OUTLET; o is in s->scratch, so it moves over first */
    if (!scratch_fits(s, g->k.len + 1 + n + 1)) {
        *oom = true;
        return;
    }
    memmove(s->scratch + g->k.len + 1, s->scratch, n);
    memcpy(s->scratch, g->k.key, g->k.len);
    s->scratch[g->k.len] = 0;
    count_e *e = rtable_intern(&s->story_outlets, s->scratch, g->k.len + 1 + n, sizeof *e);
    if (!e) {
        *oom = true;
        return;
    }
    if (e->n++ == 0)
        g->outlets++;
}

static int add_doc(state *s, const tm_doc *d)
{
    bool oom = false;
    size_t n, k;
    s->docs++;
    s->bytes += (int64_t)d->text_len;

    char day[11];
    day_of(s, d, day);
    if (day[0]) {
        s->dated++;
        if (count_key(&s->days, day, 10) != TM_OK)
            return TM_ENOMEM;
    }
    const char *src = source_of(s, d, &n);
    source_e *se = src ? rtable_intern(&s->sources, src, n, sizeof *se) : NULL;
    if (!se)
        return TM_ENOMEM;
    se->docs++;
    se->bytes += (int64_t)d->text_len;
    if (day[0] && (!se->first[0] || strcmp(day, se->first) < 0))
        memcpy(se->first, day, 11);
    if (day[0] && strcmp(day, se->last) > 0)
        memcpy(se->last, day, 11);
    if (count_entities(s, d) != TM_OK)
        return TM_ENOMEM;

    /* the title is kept only for documents a story or cluster lists */
    char *title = NULL;
    const char *v = meta_text(s, d, "title", &n);
    if (v && !(title = dup_clean(s, v, n, TITLE_MAX, &oom)))
        return TM_ENOMEM;
    const char *story = meta_text(s, d, "story", &k);
    char *story_id = story ? dup_clean(s, story, k, 0, &oom) : NULL;
    size_t kept_n;
    const char *kept = meta_text(s, d, "duplicate_of", &kept_n);
    char *kind = NULL;
    if (kept && !oom) {
        s->duplicates++;
        const char *kv = meta_text(s, d, "duplicate_kind", &k);
        if (!kv)
            kv = "unknown", k = 7;
        kind = dup_clean(s, kv, k, 0, &oom);
        if (kind && count_key(&s->kinds, kind, strlen(kind)) != TM_OK)
            oom = true;
        const char *kc = oom ? NULL : clean(s, kept, kept_n, 0, &n);
        group_e *g = kc ? rtable_intern(&s->clusters, kc, n, sizeof *g) : NULL;
        member *m = g ? add_member(s, g, d, title, day, &oom) : NULL;
        if (!g)
            oom = true;
        if (m) {
            m->kind = dup_clean(s, kind, strlen(kind), 0, &oom);
            m->similarity = meta_number(s, d, "similarity");
        }
        if (g && !g->story && story_id)
            g->story = dup_clean(s, story_id, strlen(story_id), 0, &oom);
    }
    if (story_id && !oom) {
        group_e *g = rtable_intern(&s->stories, story_id, strlen(story_id), sizeof *g);
        member *m = g ? add_member(s, g, d, title, day, &oom) : NULL;
        if (!g)
            oom = true;
        if (m && kept) {
            m->kind = dup_clean(s, kind, strlen(kind), 0, &oom);
            m->duplicate_of = dup_clean(s, kept, kept_n, 0, &oom);
        }
        if (m) {
            take_evidence(s, d, m, &oom);
            const char *o = outlet(s, d, &n, &oom);
            if (o)
                m->outlet = dup_clean(s, o, n, 0, &oom);
        }
        if (g)
            add_to_story(s, g, d, day, &oom);
    }
    s->host->free(title);
    s->host->free(story_id);
    s->host->free(kind);
    return oom ? TM_ENOMEM : TM_OK;
}

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    for (size_t i = 0; i < batch->n; i++)
        if (add_doc(s, batch->docs[i]) != TM_OK)
            return s->host->error(ctx, "out of memory while counting document %s",
                                  batch->docs[i]->id),
                   TM_ENOMEM;
    return TM_OK;
}

/* ---- the report's JSON ----------------------------------------------------------- */

/* A table's entries sorted; NULL for an empty table, or with s->oom set. */
static void **sorted(state *s, const rtable *t, int (*cmp)(const void *, const void *))
{
    void **v = rtable_sorted(t, cmp);
    if (!v && t->n)
        s->oom = true;
    return v;
}

static int by_docs_then_name(const void *a, const void *b)
{
    const source_e *x = *(source_e *const *)a, *y = *(source_e *const *)b;
    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    return strcmp(x->k.key, y->k.key);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(rkey *const *)a)->key, (*(rkey *const *)b)->key);
}

static int by_mentions(const void *a, const void *b)
{
    const entity_e *x = *(entity_e *const *)a, *y = *(entity_e *const *)b;
    if (x->mentions != y->mentions)
        return x->mentions > y->mentions ? -1 : 1;
    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    const char *xn = x->k.key + strlen(x->k.key) + 1, *yn = y->k.key + strlen(y->k.key) + 1;
    return strcmp(xn, yn);
}

static int by_size(const void *a, const void *b)
{
    const group_e *x = *(group_e *const *)a, *y = *(group_e *const *)b;
    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    return x->k.seq < y->k.seq ? -1 : x->k.seq > y->k.seq;
}

static void add_opt_string(cJSON *o, const char *key, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *documents_json(state *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", (double)s->docs);
    cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
    cJSON_AddNumberToObject(o, "dated", (double)s->dated);
    cJSON_AddNumberToObject(o, "undated", (double)(s->docs - s->dated));
    void **days = sorted(s, &s->days, by_key);
    add_opt_string(o, "first_date", days ? ((rkey *)days[0])->key : NULL);
    add_opt_string(o, "last_date", days ? ((rkey *)days[s->days.n - 1])->key : NULL);
    cJSON *per = cJSON_AddArrayToObject(o, "per_day");
    for (size_t i = 0; days && i < s->days.n; i++) {
        const count_e *e = days[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToArray(per, x);
        cJSON_AddStringToObject(x, "date", e->k.key);
        cJSON_AddNumberToObject(x, "documents", (double)e->n);
    }
    s->host->free(days);
    return o;
}

static cJSON *sources_json(state *s)
{
    cJSON *a = cJSON_CreateArray();
    void **v = sorted(s, &s->sources, by_docs_then_name);
    for (size_t i = 0; v && i < s->sources.n; i++) {
        const source_e *e = v[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToArray(a, x);
        cJSON_AddStringToObject(x, "source", e->k.key);
        cJSON_AddNumberToObject(x, "documents", (double)e->docs);
        cJSON_AddNumberToObject(x, "bytes", (double)e->bytes);
        add_opt_string(x, "first_date", e->first);
        add_opt_string(x, "last_date", e->last);
    }
    s->host->free(v);
    return a;
}

/* [{"type", "distinct", "mentions", "top": [{"name", "mentions", "documents"}]}] */
static cJSON *entities_json(state *s)
{
    cJSON *a = cJSON_CreateArray();
    void **v = sorted(s, &s->entities, by_mentions);
    for (size_t t = 0; t < s->cfg->types.n; t++) {
        const char *type = s->cfg->types.items[t];
        cJSON *x = cJSON_CreateObject(), *top = cJSON_CreateArray();
        cJSON_AddItemToArray(a, x);
        cJSON_AddStringToObject(x, "type", type);
        int64_t distinct = 0, mentions = 0;
        for (size_t i = 0; v && i < s->entities.n; i++) {
            const entity_e *e = v[i];
            if (strcmp(e->k.key, type) != 0)
                continue;
            distinct++;
            mentions += e->mentions;
            if (distinct > s->cfg->top)
                continue;
            cJSON *y = cJSON_CreateObject();
            cJSON_AddItemToArray(top, y);
            cJSON_AddStringToObject(y, "name", e->k.key + strlen(type) + 1);
            cJSON_AddNumberToObject(y, "mentions", (double)e->mentions);
            cJSON_AddNumberToObject(y, "documents", (double)e->docs);
        }
        cJSON_AddNumberToObject(x, "distinct", (double)distinct);
        cJSON_AddNumberToObject(x, "mentions", (double)mentions);
        cJSON_AddItemToObject(x, "top", top);
    }
    s->host->free(v);
    return a;
}

static cJSON *member_json(const member *m)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "id", m->id ? m->id : "");
    add_opt_string(x, "title", m->title);
    add_opt_string(x, "date", m->date);
    if (m->kind)
        cJSON_AddStringToObject(x, "duplicate_kind", m->kind);
    if (m->duplicate_of)
        cJSON_AddStringToObject(x, "duplicate_of", m->duplicate_of);
    if (m->similarity >= 0)
        cJSON_AddNumberToObject(x, "similarity", m->similarity);
    if (m->outlet)
        cJSON_AddStringToObject(x, "source", m->outlet);
    if (m->score >= 0)
        cJSON_AddNumberToObject(x, "story_score", m->score);
    if (m->names)
        cJSON_AddItemReferenceToObject(x, "shared_names", m->names);
    if (m->terms)
        cJSON_AddItemReferenceToObject(x, "shared_terms", m->terms);
    if (m->parts)
        cJSON_AddItemReferenceToObject(x, "parts", m->parts);
    if (m->days_apart >= 0)
        cJSON_AddNumberToObject(x, "days_apart", m->days_apart);
    return x;
}

static cJSON *members_json(const group_e *g)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < g->n_m; i++)
        cJSON_AddItemToArray(a, member_json(&g->m[i]));
    return a;
}

/* The kept document's title: it shares its duplicates' story, which lists
 * it (as the story's first document, or as a member once it has two). */
static const char *kept_title(const state *s, const group_e *c)
{
    const group_e *st = c->story ? rtable_find(&s->stories, c->story, strlen(c->story)) : NULL;
    for (size_t i = 0; st && i < st->n_m; i++)
        if (st->m[i].id && strcmp(st->m[i].id, c->k.key) == 0)
            return st->m[i].title;
    return NULL;
}

static cJSON *duplicates_json(state *s)
{
    cJSON *o = cJSON_CreateObject(), *kinds = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "documents", (double)s->duplicates);
    for (size_t i = 0; i < s->kinds.n; i++) {
        const count_e *e = (const count_e *)s->kinds.items[i];
        cJSON_AddNumberToObject(kinds, e->k.key, (double)e->n);
    }
    cJSON_AddItemToObject(o, "by_kind", kinds);
    cJSON_AddNumberToObject(o, "clusters_total", (double)s->clusters.n);
    cJSON *a = cJSON_AddArrayToObject(o, "clusters");
    void **v = sorted(s, &s->clusters, by_size);
    for (size_t i = 0; v && i < s->clusters.n && i < GROUPS_LISTED; i++) {
        const group_e *g = v[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToArray(a, x);
        cJSON_AddStringToObject(x, "kept", g->k.key);
        add_opt_string(x, "title", kept_title(s, g));
        cJSON_AddNumberToObject(x, "duplicates", (double)g->docs);
        cJSON_AddItemToObject(x, "members", members_json(g));
    }
    s->host->free(v);
    return o;
}

/* What an analyst asks first: which stories the most outlets carried;
 * then the larger, then the older (undated last), then the first seen. */
static int by_outlets(const void *a, const void *b)
{
    const group_e *x = *(group_e *const *)a, *y = *(group_e *const *)b;
    if (x->outlets != y->outlets)
        return x->outlets > y->outlets ? -1 : 1;
    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    if (!x->first[0] != !y->first[0])
        return x->first[0] ? -1 : 1;
    int c = strcmp(x->first, y->first);
    if (c)
        return c;
    return x->k.seq < y->k.seq ? -1 : x->k.seq > y->k.seq;
}

/* Story, then most documents, then outlet name: each story's outlets in
 * one run of the sorted story_outlets. */
static int by_story_outlet(const void *a, const void *b)
{
    const count_e *x = *(count_e *const *)a, *y = *(count_e *const *)b;
    int c = strcmp(x->k.key, y->k.key);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    const char *xo = x->k.key + strlen(x->k.key) + 1, *yo = y->k.key + strlen(y->k.key) + 1;
    return strcmp(xo, yo);
}

/* A story is news when this run brought two documents of it or more, or
 * continued one that an earlier run (or a document dropped before the
 * report) opened; a story of one new document is not. */
static bool listed(const group_e *g)
{
    return g->docs >= 2 || !g->opened;
}

/* The label: the stage's latest, else the title of the story's first
 * document when this run has it, else the story id (the first document's). */
static const char *story_label(const group_e *g)
{
    if (g->label && *g->label)
        return g->label;
    for (size_t i = 0; i < g->n_m; i++)
        if (g->m[i].id && strcmp(g->m[i].id, g->k.key) == 0 && g->m[i].title)
            return g->m[i].title;
    return g->k.key;
}

static cJSON *stories_json(state *s)
{
    cJSON *o = cJSON_CreateObject();
    void **v = sorted(s, &s->stories, by_outlets);
    void **outs = sorted(s, &s->story_outlets, by_story_outlet);
    int64_t total = 0, docs = 0;
    for (size_t i = 0; v && i < s->stories.n; i++) {
        const group_e *g = v[i];
        if (listed(g))
            total++, docs += g->docs;
    }
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "documents", (double)docs);
    cJSON *a = cJSON_AddArrayToObject(o, "stories");
    for (size_t i = 0, shown = 0; v && i < s->stories.n && shown < GROUPS_LISTED; i++) {
        const group_e *g = v[i];
        if (!listed(g))
            continue;
        shown++;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToArray(a, x);
        cJSON_AddStringToObject(x, "story", g->k.key);
        cJSON_AddStringToObject(x, "label", story_label(g));
        cJSON_AddItemToObject(x, "terms",
                              g->terms ? cJSON_Duplicate(g->terms, 1) : cJSON_CreateArray());
        cJSON_AddNumberToObject(x, "outlets", (double)g->outlets);
        cJSON *src = cJSON_AddArrayToObject(x, "sources");
        /* the story's run of outlets, found by bisection on the story key */
        size_t lo = 0, hi = outs ? s->story_outlets.n : 0;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(((const rkey *)outs[mid])->key, g->k.key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo, n = 0; outs && k < s->story_outlets.n && n < OUTLETS_LISTED;
             k++, n++) {
            const count_e *e = outs[k];
            if (strcmp(e->k.key, g->k.key) != 0)
                break;
            cJSON *y = cJSON_CreateObject();
            cJSON_AddItemToArray(src, y);
            cJSON_AddStringToObject(y, "source", e->k.key + g->k.len + 1);
            cJSON_AddNumberToObject(y, "documents", (double)e->n);
        }
        add_opt_string(x, "first_date", g->first);
        add_opt_string(x, "last_date", g->last);
        cJSON_AddNumberToObject(x, "documents", (double)g->docs);
        cJSON_AddBoolToObject(x, "continued", !g->opened);
        cJSON_AddItemToObject(x, "members", members_json(g));
    }
    s->host->free(outs);
    s->host->free(v);
    return o;
}

typedef struct rule_row {
    const char *step, *rule;
    double lines;
    size_t order;
} rule_row;

static int by_lines(const void *a, const void *b)
{
    const rule_row *x = a, *y = b;
    if (x->lines != y->lines)
        return x->lines > y->lines ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order; /* the steps' order */
}

/* Every step's counters named rule:NAME (cleanup's boilerplate rules, and
 * any other step that counts rules the same way), the most lines first. */
static cJSON *rules_json(state *s, const cJSON *steps)
{
    size_t n = 0, cap = 0;
    rule_row *v = NULL;
    const cJSON *step, *c;
    cJSON_ArrayForEach(step, steps)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(step, "name");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(step, "counters"))
        {
            if (strncmp(c->string, "rule:", 5) != 0 || !cJSON_IsNumber(c))
                continue;
            if (n == cap) {
                rule_row *w = s->host->realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
                if (!w) {
                    s->oom = true;
                    break;
                }
                v = w;
            }
            v[n] = (rule_row){cJSON_IsString(name) ? name->valuestring : "", c->string + 5,
                              c->valuedouble, n};
            n++;
        }
    }
    if (n)
        qsort(v, n, sizeof *v, by_lines);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToArray(a, x);
        cJSON_AddStringToObject(x, "step", v[i].step);
        cJSON_AddStringToObject(x, "rule", v[i].rule);
        cJSON_AddNumberToObject(x, "lines", v[i].lines);
    }
    s->host->free(v);
    return a;
}

/* A copy of s made displayable by report_clean, in cJSON's memory; NULL when
 * s needs no change or memory runs out (then s is kept: the caller cannot
 * do better, and the page escapes it anyway). */
static char *clean_copy(const tm_host *h, const char *s)
{
    size_t n = strlen(s);
    char *c = report_clean(h, s, n, 0);
    char *out = NULL;
    if (c && strcmp(c, s) != 0 && (out = cJSON_malloc(strlen(c) + 1)))
        strcpy(out, c);
    h->free(c);
    return out;
}

/* Cleans every key and string of the run statistics (the pipeline's name and
 * file, step, plugin, counter and rule names, drop reasons): they come from
 * the pipeline file and plugins, and may hold control characters or invalid
 * UTF-8 that neither the JSON twin nor the page should carry. */
static void clean_tree(const tm_host *h, cJSON *x)
{
    for (; x; x = x->next) {
        char *c;
        if (x->string && !(x->type & cJSON_StringIsConst) && (c = clean_copy(h, x->string))) {
            cJSON_free(x->string);
            x->string = c;
        }
        if (cJSON_IsString(x) && x->valuestring && !(x->type & cJSON_IsReference) &&
            (c = clean_copy(h, x->valuestring))) {
            cJSON_free(x->valuestring);
            x->valuestring = c;
        }
        clean_tree(h, x->child);
    }
}

static cJSON *build(state *s, tm_ctx *ctx)
{
    const tm_host *h = s->host;
    cJSON *root = cJSON_CreateObject(), *stats = NULL;
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "generator", REPORT_GENERATOR " " REPORT_VERSION);
    if (TM_HOST_HAS(h, run_stats)) {
        char *text = h->run_stats(ctx);
        stats = text ? cJSON_Parse(text) : NULL;
        h->free(text);
        if (stats)
            clean_tree(h, stats->child);
    } else {
        h->log(ctx, TM_LOG_WARN, "this textmill has no run statistics for the report "
                                 "(plugin ABI 1.0); the steps are left out");
    }
    const cJSON *pipe = cJSON_GetObjectItem(stats, "pipeline");
    const char *name = cJSON_IsString(pipe) ? pipe->valuestring : "";
    char *title = NULL;
    if (s->cfg->title)
        title = report_clean(h, s->cfg->title, strlen(s->cfg->title), 0);
    else if ((title = h->alloc(strlen(name) + sizeof "textmill report: ")))
        sprintf(title, "textmill report%s%s", *name ? ": " : "", name);
    cJSON_AddStringToObject(root, "title", title ? title : "textmill report");
    h->free(title);

    cJSON *run = cJSON_AddObjectToObject(root, "run");
    static const char *const run_keys[] = {"pipeline", "file", "started", "seconds"};
    for (size_t i = 0; i < sizeof run_keys / sizeof *run_keys; i++) {
        cJSON *x = cJSON_DetachItemFromObject(stats, run_keys[i]);
        if (x)
            cJSON_AddItemToObject(run, run_keys[i], x);
    }
    cJSON *steps = cJSON_DetachItemFromObject(stats, "steps");
    cJSON_Delete(stats);
    cJSON_AddItemToObject(root, "steps", cJSON_IsArray(steps) ? steps : cJSON_CreateArray());
    if (steps && !cJSON_IsArray(steps))
        cJSON_Delete(steps);
    cJSON_AddItemToObject(root, "documents", documents_json(s));
    cJSON_AddItemToObject(root, "sources", sources_json(s));
    cJSON_AddItemToObject(root, "entities", entities_json(s));
    cJSON_AddItemToObject(root, "duplicates", duplicates_json(s));
    cJSON_AddItemToObject(root, "stories", stories_json(s));
    cJSON_AddItemToObject(root, "boilerplate_rules",
                          rules_json(s, cJSON_GetObjectItem(root, "steps")));
    cJSON *lim = cJSON_AddObjectToObject(root, "limits");
    cJSON_AddNumberToObject(lim, "entities_per_type", (double)s->cfg->top);
    cJSON_AddNumberToObject(lim, "groups_listed", GROUPS_LISTED);
    cJSON_AddNumberToObject(lim, "members_listed", MEMBERS_KEPT);
    cJSON_AddNumberToObject(lim, "title_bytes", TITLE_MAX);
    cJSON_AddNumberToObject(lim, "outlets_listed", OUTLETS_LISTED);
    cJSON_AddNumberToObject(lim, "terms_kept", TERMS_KEPT);
    return root;
}

/* ---- writing --------------------------------------------------------------------- */

static int flush(void *st, tm_ctx *ctx)
{
    state *s = st;
    cJSON *root = build(s, ctx);
    /* cJSON reports a failed allocation only through a missing result */
    char *json = root && !s->oom ? cJSON_Print(root) : NULL;
    if (!json) {
        cJSON_Delete(root);
        return s->host->error(ctx, "out of memory while building the report"), TM_ENOMEM;
    }
    int rc = outfile_open(&s->json, s->host, ctx, s->json_path);
    if (rc == TM_OK) {
        fputs(json, s->json.fp);
        fputc('\n', s->json.fp);
        rc = outfile_finish(&s->json);
    }
    cJSON_free(json);
    if (rc == TM_OK && (rc = outfile_open(&s->html, s->host, ctx, s->cfg->path)) == TM_OK) {
        rc = report_html(s->html.fp, root);
        if (rc != TM_OK)
            s->host->error(ctx, "out of memory while writing the report");
        else
            rc = outfile_finish(&s->html);
    }
    cJSON_Delete(root);
    return rc;
}

/* The twin first: if the page cannot be moved into place after it, the
 * message says so, and the older page still matches nothing newer. */
static int commit(void *st, tm_ctx *ctx)
{
    (void)ctx;
    state *s = st;
    int rc = outfile_commit(&s->json);
    return rc == TM_OK ? outfile_commit(&s->html) : rc;
}

static void free_group(const tm_host *h, void *entry)
{
    group_e *g = entry;
    for (size_t i = 0; i < g->n_m; i++) {
        member *m = &g->m[i];
        h->free(m->id);
        h->free(m->title);
        h->free(m->kind);
        h->free(m->duplicate_of);
        h->free(m->outlet);
        cJSON_Delete(m->names);
        cJSON_Delete(m->terms);
        cJSON_Delete(m->parts);
    }
    h->free(g->m);
    h->free(g->story);
    h->free(g->label);
    cJSON_Delete(g->terms);
}

static void fini(void *st)
{
    state *s = st;
    const tm_host *h = s->host;
    outfile_close(&s->json);
    outfile_close(&s->html);
    rtable_free(&s->sources, NULL);
    rtable_free(&s->entities, NULL);
    rtable_free(&s->days, NULL);
    rtable_free(&s->kinds, NULL);
    rtable_free(&s->stories, free_group);
    rtable_free(&s->clusters, free_group);
    rtable_free(&s->story_outlets, NULL);
    h->free(s->scratch);
    h->free(s->json_path);
    h->free(s);
}

static const char *const reads[] = {"?meta.*", "?annotations", NULL};

TM_PLUGIN_DEFINE(.name = "report", .version = REPORT_VERSION, .license = "MIT",
                 .summary = "Writes a self-contained HTML report of the run (and its numbers "
                            "as JSON), atomically.",
                 .role = TM_ROLE_SINK, .caps = 0, .options = options,
                 .config_size = sizeof(config), .reads = reads, .writes = NULL, .init = init,
                 .process = process, .flush = flush, .fini = fini, .commit = commit);
