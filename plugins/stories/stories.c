/* stage `stories`: groups documents that report the same story, across
 * outlets and across runs (see cluster.h for how, README.md for what users
 * see). With `state:`, the open stories and the document frequencies are
 * kept in STATE/stories-NAME.sqlite, saved only after the outputs are
 * committed (store.h). */
#define _GNU_SOURCE /* dladdr (datadir.h): find the model beside this plugin */
#include "cluster.h"
#include "store.h"

#include "datadir.h"

#include "textmill/plugin.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct config {
    int64_t window;
    double threshold;
    int64_t max_open;
    int names;
    tm_strlist types;
    char *model;
} config;

static const tm_option options[] = {
    {.name = "window", .type = TM_OPT_INT, .def = "90", .min = 0, .max = 3650,
     .offset = offsetof(config, window),
     .help = "Days a story stays open after its last document; a later document starts a new "
             "story. Dates come from meta.date; an undated document is compared with the open "
             "stories the index finds, whatever their dates."},
    {.name = "threshold", .type = TM_OPT_DOUBLE, .min = 0, .max = 1,
     .offset = offsetof(config, threshold),
     .help = "Probability (0-1] at which a document joins its most likely story; unset or 0: "
             "the model's own, chosen on development data. Higher: fewer, purer merges."},
    {.name = "max_open", .type = TM_OPT_INT, .def = "100000", .min = 100, .max = 1e7,
     .offset = offsetof(config, max_open),
     .help = "Open stories kept at most (about 2 kB each); past it the least recently joined "
             "close first."},
    {.name = "names", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, names),
     .help = "Use the entity annotations of an earlier stage (their canonical names) as the "
             "names part of the comparison."},
    {.name = "types", .type = TM_OPT_LIST, .def = "[PER, ORG, LOC, MISC]",
     .offset = offsetof(config, types),
     .help = "Annotation types taken as names."},
    {.name = "model", .type = TM_OPT_STRING, .offset = offsetof(config, model),
     .help = "Directory of the model (stories-en.model and df-en.tsv); default: the one "
             "installed with textmill."},
    TM_OPTIONS_END};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    st_model *model;
    st_engine *engine;
    st_store *store;
    bool opened;
    st_name *names;
    size_t cap_names;
} state;

static void fini(void *st)
{
    state *s = st;
    st_store_close(s->store);
    st_engine_free(s->engine);
    st_model_free(s->model);
    free(s->names);
    s->host->free(s);
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfgp, void **out)
{
    const config *c = cfgp;
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = c;
    char dir[PATH_MAX], err[1024];
    if (c->model)
        snprintf(dir, sizeof dir, "%s", c->model);
    else
        tm_plugin_data_dir(dir, sizeof dir, "models");
    s->model = st_model_load(dir, err, sizeof err);
    if (!s->model) {
        h->error(ctx, "model: %s", err);
        fini(s);
        return c->model ? TM_ECONFIG : TM_ERR;
    }
    st_params p = {.window_days = (int)c->window,
                   .max_open = (size_t)c->max_open,
                   .threshold = c->threshold > 0 ? c->threshold : -1,
                   .today = (int)(time(NULL) / 86400)};
    s->engine = st_engine_new(&p, s->model);
    if (!s->engine) {
        fini(s);
        return TM_ENOMEM;
    }
    *out = s;
    return TM_OK;
}

/* Opens and loads the store once, when state: is set. */
static int open_store(state *s, tm_ctx *ctx)
{
    s->opened = true;
    const char *dir = s->host->state_dir(ctx);
    if (!dir)
        return TM_OK;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return s->host->error(ctx, "state directory %s: %s", dir, strerror(errno));
    char path[4096], err[1024] = "";
    snprintf(path, sizeof path, "%s/stories-%s.sqlite", dir, s->host->instance_name(ctx));
    const char *g = s->host->state_get(ctx, "generation");
    s->store = st_store_open(path, g ? strtoull(g, NULL, 10) : 0, s->engine, err, sizeof err);
    if (!s->store)
        return s->host->error(ctx, "%s", err);
    st_stats st;
    st_engine_stats(s->engine, &st);
    s->host->log(ctx, TM_LOG_DEBUG, "%s: %zu open stories remembered", path, st.open);
    return TM_OK;
}

static const char *meta_str(const state *s, const tm_doc *d, const char *key, size_t *len)
{
    const tm_meta *m = s->host->meta_get(d, key);
    if (!m || m->type != TM_META_STRING || !m->len)
        return NULL;
    *len = m->len;
    return m->value;
}

/* The outlet: meta.source, or the host of meta.url. */
static const char *outlet(const state *s, const tm_doc *d, char *buf, size_t cap)
{
    size_t n;
    const char *v = meta_str(s, d, "source", &n);
    if (!v) {
        const char *u = meta_str(s, d, "url", &n);
        const char *p = u ? strstr(u, "://") : NULL;
        if (!p)
            return NULL;
        p += 3;
        size_t k = strcspn(p, "/?#:");
        if (!strncmp(p, "www.", 4) && k > 4) {
            p += 4;
            k -= 4;
        }
        v = p;
        n = k;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return buf;
}

static bool name_type(const config *c, const char *t)
{
    for (size_t i = 0; i < c->types.n; i++)
        if (!strcmp(c->types.items[i], t))
            return true;
    return false;
}

/* The document as the clusterer sees it. */
static int input_of(state *s, const tm_doc *d, st_input *in, char *src, size_t cap)
{
    memset(in, 0, sizeof *in);
    in->id = d->id;
    in->body = d->text;
    in->body_len = d->text_len;
    size_t n;
    in->title = meta_str(s, d, "title", &in->title_len);
    const char *date = meta_str(s, d, "date", &n);
    in->date = date ? st_parse_date(date, n) : ST_NO_DATE;
    in->source = outlet(s, d, src, cap);
    in->copy_of = meta_str(s, d, "duplicate_of", &n);
    if (!s->cfg->names)
        return TM_OK;
    if (d->n_annotations > s->cap_names) {
        st_name *g = realloc(s->names, d->n_annotations * sizeof *g);
        if (!g)
            return TM_ENOMEM;
        s->names = g;
        s->cap_names = d->n_annotations;
    }
    for (size_t i = 0; i < d->n_annotations; i++) {
        const tm_annotation *a = &d->annotations[i];
        if (!name_type(s->cfg, a->type))
            continue;
        const char *nm = a->canonical ? a->canonical : NULL;
        size_t len = nm ? strlen(nm) : a->end - a->start;
        if (!nm)
            nm = d->text + a->start;
        s->names[in->n_names++] = (st_name){nm, len, !strcmp(a->type, "PER")};
    }
    in->names = s->names;
    return TM_OK;
}

static cJSON *string_array(const char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static double round4(double x) { return (double)(long long)(x * 10000 + (x < 0 ? -0.5 : 0.5)) / 10000; }

/* story_evidence: which parts weighed most. */
static char *evidence_json(const st_result *r, const char *copy_of)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "story", r->story);
    cJSON_AddNumberToObject(o, "score", round4(r->score));
    if (r->copy) {
        cJSON_AddStringToObject(o, "copy_of", copy_of ? copy_of : "");
    } else {
        cJSON *parts = cJSON_AddObjectToObject(o, "parts");
        static const char *const part_names[5] = {"names", "title", "body", "date", "quotes"};
        for (int i = 0; parts && i < 5; i++)
            cJSON_AddNumberToObject(parts, part_names[i], round4(r->parts[i]));
        cJSON_AddItemToObject(o, "names", string_array(r->shared_names, r->n_shared_names));
        cJSON_AddItemToObject(o, "terms", string_array(r->shared_terms, r->n_shared_terms));
        cJSON_AddNumberToObject(o, "shared_4grams", r->shared_grams);
        if (r->days_apart != ST_NO_DATE)
            cJSON_AddNumberToObject(o, "days_apart", r->days_apart);
    }
    char *j = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return j;
}

static int set_str(state *s, tm_ctx *ctx, tm_doc *d, const char *key, const char *v)
{
    return s->host->meta_set(ctx, d, key, TM_META_STRING, v, strlen(v));
}

static int set_json(state *s, tm_ctx *ctx, tm_doc *d, const char *key, char *json)
{
    if (!json)
        return TM_ENOMEM;
    int rc = s->host->meta_set(ctx, d, key, TM_META_JSON, json, strlen(json));
    free(json);
    return rc;
}

static int one(state *s, tm_ctx *ctx, tm_doc *d)
{
    const tm_host *h = s->host;
    st_input in;
    st_result r;
    char src[256];
    int rc = input_of(s, d, &in, src, sizeof src);
    if (rc == TM_OK && st_engine_add(s->engine, &in, &r) != 0)
        rc = TM_ENOMEM;
    if (rc != TM_OK)
        return h->error(ctx, "%s: out of memory in the stories (%s)", d->id, "clusterer"), rc;
    rc = set_str(s, ctx, d, "story", r.story);
    if (rc == TM_OK && (r.joined || r.copy)) {
        char num[32];
        int n = snprintf(num, sizeof num, "%.4f", r.score);
        rc = h->meta_set(ctx, d, "story_score", TM_META_NUMBER, num, (size_t)n);
        if (rc == TM_OK)
            rc = set_json(s, ctx, d, "story_evidence", evidence_json(&r, in.copy_of));
        h->count(ctx, r.copy ? "copies" : "joined", 1);
    } else if (r.seen_before)
        h->count(ctx, "seen_before", 1);
    else
        h->count(ctx, "new_stories", 1);
    if (rc == TM_OK)
        rc = set_str(s, ctx, d, "story_label", r.label);
    if (rc == TM_OK) {
        cJSON *a = string_array(r.terms, r.n_terms);
        char *j = a ? cJSON_PrintUnformatted(a) : NULL;
        cJSON_Delete(a);
        rc = set_json(s, ctx, d, "story_terms", j);
    }
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

/* The run's numbers, counted in flush so that the sinks (the report) see
 * them: sinks commit before stages. */
static int flush(void *st, tm_ctx *ctx)
{
    state *s = st;
    st_stats sts;
    st_engine_stats(s->engine, &sts);
    s->host->count(ctx, "open_stories", (int64_t)sts.open);
    s->host->count(ctx, "memory_bytes", (int64_t)sts.bytes);
    s->host->count(ctx, "bytes_per_open_story",
                   sts.open ? (int64_t)sts.story_bytes / (int64_t)sts.open : 0);
    return TM_OK;
}

/* The stories learn this run's documents only once the outputs hold them. */
static int commit(void *st, tm_ctx *ctx)
{
    state *s = st;
    if (!s->store)
        return TM_OK;
    char err[1024] = "", gen[32];
    if (st_store_save(s->store, s->engine, err, sizeof err) != 0)
        return s->host->error(ctx, "%s", err);
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)st_store_generation(s->store));
    return s->host->state_set(ctx, "generation", gen);
}

static const char *const reads[] = {"text",      "?meta.title",        "?meta.date",
                                    "?meta.source", "?meta.url",       "?meta.duplicate_of",
                                    "?annotations", NULL};
static const char *const writes[] = {"meta.story",       "meta.story_score",
                                     "meta.story_label", "meta.story_terms",
                                     "meta.story_evidence", NULL};

TM_PLUGIN_DEFINE(.name = "stories", .version = "1.0.0", .license = "MIT",
                 .summary = "Groups documents that report the same story, across outlets and "
                            "runs (an online TF-IDF and names clusterer with a learned model).",
                 .role = TM_ROLE_STAGE, .options = options, .config_size = sizeof(config),
                 .reads = reads, .writes = writes, .init = init, .process = process,
                 .flush = flush, .fini = fini, .commit = commit);
