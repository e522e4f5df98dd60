/* stage `entities`: named-entity mentions (PER, ORG, LOC, MISC) as standoff
 * annotations with a canonical name and, where known, an id. Two sources of
 * mentions: gazetteers (the base lists that ship with textmill, and the
 * user's), matched over folded text, and a statistical tagger (an averaged
 * perceptron with Viterbi decoding, model/) for names nobody listed. Every
 * mention gets a canonical name: a gazetteer entry by alias or folded
 * spelling, a fuzzy match (scored), or, for a short mention ("Aliyev"), the
 * longer mention in the same document that it refers to ("Ilham Aliyev"). */
#define _GNU_SOURCE
#include "textmill/plugin.h"

#include "datadir.h"

#include "fold.h"
#include "gazetteer.h"
#include "gzcache.h"
#include "mention.h"
#include "patterns.h"
#include "model/ner.h"
#include "model/ner_gaz.h"
#include "model/tokenize.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct config {
    tm_strlist types, gazetteers;
    int base_gazetteers;
    char *model;
    int use_model;
    double min_score, fuzzy;
    int prefer; /* 0 gazetteer, 1 model */
    int coreference;
    int cache;
    char *cache_dir;
} config;

static const tm_option options[] = {
    {.name = "types", .type = TM_OPT_LIST, .def = "[PER, ORG, LOC, MISC]",
     .offset = offsetof(config, types), .help = "Entity types to annotate."},
    {.name = "gazetteers", .type = TM_OPT_LIST, .offset = offsetof(config, gazetteers),
     .help = "Your name lists: .tsv, .csv (canonical, type, id, aliases joined by |) or "
             ".yaml (a list of {canonical, type, id, aliases}); later lists win over earlier "
             "ones and over the base lists."},
    {.name = "base_gazetteers", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, base_gazetteers),
     .help = "Use the lists that ship with textmill (countries and subdivisions from "
             "iso-codes, places from GeoNames, demonyms)."},
    {.name = "model", .type = TM_OPT_STRING, .offset = offsetof(config, model),
     .help = "Tagger model file; default: the English model that ships with textmill."},
    {.name = "use_model", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, use_model),
     .help = "Tag names with the statistical model (false: gazetteers only, faster)."},
    {.name = "min_score", .type = TM_OPT_DOUBLE, .def = "0.3", .min = 0, .max = 1,
     .offset = offsetof(config, min_score),
     .help = "Leave out mentions scored below this: the model's confidence (the lowest "
             "posterior probability of the span's tokens, a cautious figure), 1 for a "
             "gazetteer match, scaled by 1 - distance/length for a fuzzy canonical."},
    {.name = "fuzzy", .type = TM_OPT_DOUBLE, .def = "0.2", .min = 0, .max = 0.5,
     .offset = offsetof(config, fuzzy),
     .help = "Largest edit distance, relative to the name's length, at which a mention the "
             "model found takes a gazetteer entry's canonical name (0: exact folding only)."},
    {.name = "prefer", .type = TM_OPT_ENUM, .choices = "gazetteer|model", .def = "gazetteer",
     .offset = offsetof(config, prefer),
     .help = "Where a gazetteer match and a model mention overlap, which one is kept."},
    {.name = "coreference", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, coreference),
     .help = "A short mention takes the canonical name of a longer one in the same document "
             "that ends with it (\"Aliyev\" -> \"Ilham Aliyev\")."},
    {.name = "cache", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, cache),
     .help = "Keep the compiled gazetteers in a cache directory, so that a later run with the "
             "same lists maps them instead of reading and folding the lists again (false: "
             "always build them)."},
    {.name = "cache_dir", .type = TM_OPT_STRING, .offset = offsetof(config, cache_dir),
     .help = "The cache directory; default: $XDG_CACHE_HOME/textmill, else "
             "~/.cache/textmill."},
    TM_OPTIONS_END};

static const char *const type_names[4] = {"PER", "ORG", "LOC", "MISC"};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    gazetteer *gz;
    ner_model *model;
    ner_gaz *bits_gz; /* the lists the model was trained with, for its features */
    gazetteer *common; /* common English words (ambiguous-words.tsv), as folded keys */
    unsigned n_base;   /* entries with a priority below this come from the base lists */
    unsigned want; /* bit per type */
    const char *countries[26 * 26]; /* country names by ISO 3166-1 alpha-2 */
} state;

static int country_slot(const char cc[2])
{
    if (cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z')
        return -1;
    return (cc[0] - 'A') * 26 + (cc[1] - 'A');
}

/* The countries' names as the lists give them (the iso-codes entries). */
static void index_countries(state *s)
{
    for (size_t i = 0, n = gz_size(s->gz); i < n; i++) {
        const gz_entry *e = gz_entry_at(s->gz, i);
        int slot = country_slot(e->country);
        if (slot >= 0 && e->is_country && e->id && !strncmp(e->id, "iso3166:", 8) &&
            !s->countries[slot])
            s->countries[slot] = e->canonical;
    }
}

/* pat_country_fn: a nationality ("Azerbaijani") or a country ("Azerbaijan")
 * -> the country's name; a city or a region of a country is not one. */
static const char *country_of(void *ud, const char *w, size_t n)
{
    state *s = ud;
    char key[256];
    if (n * 4 + 8 > sizeof key)
        return NULL;
    size_t kl = fold_name(w, n, key);
    const gz_entry *e = kl ? gz_lookup(s->gz, key, kl) : NULL;
    int slot = e ? country_slot(e->country) : -1;
    if (slot < 0)
        return NULL;
    bool nationality = e->type_ix == T_MISC;
    bool country = e->type_ix == T_LOC && e->is_country;
    return nationality || country ? s->countries[slot] : NULL;
}

static void fini(void *st)
{
    state *s = st;
    gz_free(s->gz);
    gz_free(s->common);
    ner_free(s->model);
    ner_gaz_free(s->bits_gz);
    s->host->free(s);
}

static int type_index(const char *t)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(t, type_names[i]))
            return i;
    return -1;
}

/* The common English words of ambiguous-words.tsv ("as", "we", "union"):
 * the base lists hold places in many languages, and folding accents makes
 * "Ås" (Norway) and "Wé" (New Caledonia) read as "As" and "We". */
static int load_common_words(state *s, const char *dir)
{
    char path[PATH_MAX + 64], line[512];
    snprintf(path, sizeof path, "%s/ambiguous-words.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f || !(s->common = gz_new())) {
        if (f)
            fclose(f);
        return -1;
    }
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab || strncmp(tab + 1, "common\t", 7) != 0)
            continue;
        *tab = 0;
        rc = gz_add(s->common, line, "O", NULL, NULL, 0, 0, 0, NULL);
    }
    fclose(f);
    return rc;
}

static bool has_small_letter(const char *t, const ner_tok *w)
{
    for (size_t k = w->start; k < w->end; k++)
        if (t[k] >= 'a' && t[k] <= 'z')
            return true;
    return false;
}

/* A token in capitals ("US", "U.S.") in a text that is not in capitals: the
 * word before or after it has small letters. */
static bool capitals_among_words(const char *t, const ner_tok *tk, size_t n, size_t i)
{
    size_t letters = 0;
    for (size_t k = tk[i].start; k < tk[i].end; k++) {
        if (t[k] >= 'a' && t[k] <= 'z')
            return false;
        letters += t[k] >= 'A' && t[k] <= 'Z';
    }
    if (letters < 2)
        return false;
    return (i > 0 && has_small_letter(t, &tk[i - 1])) || (i + 1 < n && has_small_letter(t, &tk[i + 1]));
}

static bool all_ascii(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] >= 0x80)
            return false;
    return true;
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
    for (size_t i = 0; i < c->types.n; i++) {
        int t = type_index(c->types.items[i]);
        if (t < 0) {
            fini(s);
            h->error(ctx, "types: '%s' is not one of PER, ORG, LOC, MISC", c->types.items[i]);
            return TM_ECONFIG;
        }
        s->want |= 1u << t;
    }
    char err[1024], dir[PATH_MAX], cdir[PATH_MAX];
    /* the base lists, then the user's, compiled once and cached (gzcache.h) */
    const char *cache = c->cache && gzc_dir(c->cache_dir, cdir, sizeof cdir) ? cdir : NULL;
    static const char *const base[] = {"iso.tsv", "geonames.tsv", "demonyms.tsv",
                                       "regions.tsv", "organizations.tsv"};
    enum { NB = sizeof base / sizeof *base };
    char bpath[NB][PATH_MAX + 64];
    size_t nb = c->base_gazetteers ? NB : 0, nl = 0, failed = 0;
    const char **lists = h->alloc((NB + c->gazetteers.n) * sizeof *lists);
    if (!lists) {
        fini(s);
        return TM_ENOMEM;
    }
    tm_plugin_data_dir(dir, sizeof dir, "gazetteers");
    for (size_t i = 0; i < nb; i++) {
        snprintf(bpath[i], sizeof bpath[i], "%s/%s", dir, base[i]);
        lists[nl++] = bpath[i];
    }
    for (size_t i = 0; i < c->gazetteers.n; i++)
        lists[nl++] = c->gazetteers.items[i];
    gzc_info ci;
    s->gz = gzc_gazetteer(lists, nl, cache, &ci, err, sizeof err, &failed);
    h->free(lists);
    if (!s->gz) {
        if (failed >= nl)
            h->error(ctx, "%s", err);
        else if (failed < nb)
            h->error(ctx, "base gazetteer: %s (reinstall textmill, or base_gazetteers: false)", err);
        else
            h->error(ctx, "gazetteer %s", err);
        fini(s);
        return failed >= nl ? TM_ENOMEM : failed < nb ? TM_ERR : TM_ECONFIG;
    }
    index_countries(s);
    if (ci.hit || ci.written)
        h->count(ctx, ci.hit ? "gazetteer_cache_hits" : "gazetteer_cache_writes", 1);
    char note[sizeof ci.note]; /* said once, when both caches have the same problem */
    snprintf(note, sizeof note, "%s", ci.note);
    if (ci.note[0])
        h->log(ctx, TM_LOG_INFO, "gazetteer cache: %s%s", ci.note,
               ci.written ? "; rebuilt" : " (set cache_dir, or cache: false)");
    s->n_base = (unsigned)nb;
    if (c->base_gazetteers) {
        if (load_common_words(s, dir) != 0) {
            h->error(ctx, "base gazetteer: cannot read %s/ambiguous-words.tsv "
                          "(reinstall textmill, or base_gazetteers: false)", dir);
            fini(s);
            return TM_ERR;
        }
    }
    if (c->use_model) {
        char path[PATH_MAX + 64];
        if (c->model)
            snprintf(path, sizeof path, "%s", c->model);
        else {
            tm_plugin_data_dir(dir, sizeof dir, "models");
            snprintf(path, sizeof path, "%s/ner-en.tmner", dir);
        }
        s->model = ner_load(path, err, sizeof err);
        if (!s->model) {
            h->error(ctx, "model: %s", err);
            fini(s);
            return c->model ? TM_ECONFIG : TM_ERR;
        }
        /* the shipped model was trained with gazetteer features from the
         * base place and demonym lists: give it the same at tag time */
        if (ner_model_gaz_mask(s->model) && c->base_gazetteers) {
            tm_plugin_data_dir(dir, sizeof dir, "gazetteers");
            static const char *const names[] = {"geonames.tsv", "demonyms.tsv"};
            char gpath[2][PATH_MAX + 64];
            const char *glists[2] = {gpath[0], gpath[1]};
            for (size_t i = 0; i < 2; i++)
                snprintf(gpath[i], sizeof gpath[i], "%s/%s", dir, names[i]);
            s->bits_gz = gzc_ner_gaz(glists, 2, cache, &ci, err, sizeof err);
            if (!s->bits_gz) {
                h->error(ctx, "model features: %s", err);
                fini(s);
                return TM_ERR;
            }
            if (ci.hit || ci.written)
                h->count(ctx, ci.hit ? "gazetteer_cache_hits" : "gazetteer_cache_writes", 1);
            if (ci.note[0] && strcmp(ci.note, note) != 0)
                h->log(ctx, TM_LOG_INFO, "gazetteer cache: %s%s", ci.note,
                       ci.written ? "; rebuilt" : " (set cache_dir, or cache: false)");
        }
    }
    *out = s;
    return TM_OK;
}

static bool overlaps(const mention *a, const mention *b) { return a->start < b->end && b->start < a->end; }

/* a is longer than b and holds it whole */
static bool holds(const mention *a, const mention *b)
{
    return a->start <= b->start && b->end <= a->end && a->end - a->start > b->end - b->start;
}

/* A token that can start or end a name: it begins with a letter or digit
 * (not punctuation, quotes or dashes). */
static bool wordlike(const char *t, size_t n)
{
    unsigned char c = (unsigned char)t[0];
    if (n == 0)
        return false;
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    /* U+2000..U+206F (dashes, quotes), U+00A0..U+00BF (symbols) and U+FFFD
     * (what invalid bytes became) are not */
    if (c == 0xE2 && n >= 2 && (unsigned char)t[1] == 0x80)
        return false;
    if (c == 0xEF && n >= 3 && (unsigned char)t[1] == 0xBF && (unsigned char)t[2] == 0xBD)
        return false;
    if (c == 0xC2)
        return false;
    return true;
}

static bool capitalised(const char *t, size_t n)
{
    unsigned char c = (unsigned char)t[0];
    if (n == 0)
        return false;
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return true; /* non-ASCII initials (Ş, Ç, Ə…): decided by the list */
}

/* Gazetteer matches: at each word token, the longest run of tokens whose
 * folded text is a key. Names start with a capital: a list of places also
 * holds "Mobile" and "Reading", which in lower case are words. */
static size_t gaz_matches(state *s, const char *t, const ner_tok *tk, size_t n, mention *m, size_t cap)
{
    size_t nm = 0, maxw = gz_max_words(s->gz);
    char *buf = NULL;
    size_t buf_cap = 0;
    /* the table is bigger than the caches: the first probe of the candidates
     * up to AHEAD tokens on is fetched early (ahead: the next not fetched) */
    enum { AHEAD = 8 };
    size_t ahead = 0;
    for (size_t i = 0; i < n && nm < cap;) {
        for (; ahead < n && ahead <= i + AHEAD; ahead++) {
            const char *w = t + tk[ahead].start;
            size_t wl = tk[ahead].end - tk[ahead].start;
            char key[128];
            if (wordlike(w, wl) && capitalised(w, wl) && wl * 4 + 8 <= sizeof key) {
                bool space = true;
                gz_prefetch(s->gz, key, fold_trimmed(key, fold_append(w, wl, key, 0, &space)));
            }
        }
        if (!wordlike(t + tk[i].start, tk[i].end - tk[i].start) ||
            !capitalised(t + tk[i].start, tk[i].end - tk[i].start)) {
            i++;
            continue;
        }
        size_t best_j = 0;
        const gz_entry *best = NULL;
        /* the candidate's folded text grows a token at a time (fold_append):
         * buf[0, o) is the fold of t[a, folded) */
        size_t a = tk[i].start, folded = a, o = 0;
        bool space = true;
        for (size_t j = i, words = 0; j < n && words < maxw * 2 + 1; j++, words++) {
            size_t b = tk[j].end;
            if (b - a > 200)
                break;
            if (!wordlike(t + tk[j].start, tk[j].end - tk[j].start))
                continue; /* a name does not end with punctuation */
            if (4 * (b - a) + 8 > buf_cap) {
                buf_cap = 4 * (b - a) + 8 < 1024 ? 1024 : 4 * (b - a) + 8;
                char *g = realloc(buf, buf_cap);
                if (!g)
                    break;
                buf = g;
            }
            o = fold_append(t + folded, b - folded, buf, o, &space);
            folded = b;
            size_t kl = fold_trimmed(buf, o);
            bool longer = false;
            const gz_entry *e = gz_probe(s->gz, buf, kl, &longer);
            /* no key goes on from here past a space: stop extending (inside a
             * word, "People" + "'s", the folded forms may still meet one) */
            bool stop = !longer && j + 1 < n && tk[j + 1].start > tk[j].end;
            /* an entry for a common word needs more than one capital to
             * count; so does a base-list name that only folding made into
             * a common word ("As" is not "Ås") */
            if (e && j == i && s->common && e->priority < s->n_base && all_ascii(t + a, b - a) &&
                gz_lookup(s->common, buf, kl) && !capitals_among_words(t, tk, n, i))
                e = NULL;
            if (e && (!e->ambiguous || j > i) && e->type_ix >= 0) {
                best = e;
                best_j = j;
            }
            if (stop)
                break;
        }
        if (best) {
            m[nm++] = (mention){tk[i].start, tk[best_j].end, best->type_ix, 1.0, best, NULL, true};
            i = best_j + 1;
        } else {
            i++;
        }
    }
    free(buf);
    return nm;
}

/* What the lists say of a word, for patterns.c. */
static unsigned lexicon(void *ud, const char *w, size_t n)
{
    const state *s = ud;
    char key[256];
    if (n * 4 + 8 > sizeof key)
        return 0;
    size_t kl = fold_name(w, n, key);
    const gz_entry *e = gz_lookup(s->gz, key, kl);
    unsigned bits = 0;
    if (e && e->type_ix == T_MISC)
        bits |= PAT_NATIONALITY;
    if (e && e->type_ix == T_LOC)
        bits |= PAT_PLACE;
    if ((e && e->ambiguous) || (s->common && gz_lookup(s->common, key, kl)))
        bits |= PAT_COMMON;
    return bits;
}

/* Names found by their form (patterns.h) where nothing else found a name,
 * or where they hold what was found whole ("Bayraktar" alone is a place,
 * "Bayraktar TB2" a drone). */
static void add_patterns(state *s, const char *t, size_t len, const ner_tok *tk, size_t n,
                         mention *m, size_t *nm, size_t cap)
{
    size_t base = *nm;
    pat_designations(t, len, tk, n, m, nm, cap, lexicon, s);
    pat_head_phrases(t, len, tk, n, m, nm, cap, lexicon, s);
    size_t out = base;
    for (size_t k = base; k < *nm; k++) {
        mention x = m[k];
        bool clash = false;
        /* a name by its form never swallows a person's (unless the model
         * took "Rifle Brigade" for one) */
        for (size_t j = 0; j < base && !clash; j++) {
            if (m[j].type < 0 || !overlaps(&m[j], &x))
                continue;
            size_t w = m[j].end;
            while (w > m[j].start && t[w - 1] != ' ')
                w--;
            bool person = m[j].type == T_PER && pat_head_type(t + w, m[j].end - w) < 0;
            clash = person || !holds(&x, &m[j]);
        }
        if (clash) {
            free(x.canonical);
            continue;
        }
        for (size_t j = 0; j < base; j++)
            if (m[j].type >= 0 && overlaps(&m[j], &x))
                m[j].type = -1;
        m[out++] = x;
    }
    *nm = out;
}

static int cmp_mention(const void *a, const void *b)
{
    const mention *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static char *plain_canonical(const char *t, size_t n)
{
    /* the mention as printed, with typographic apostrophes and quotes in ASCII */
    char *o = malloc(n + 1);
    size_t k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == 0xE2 && i + 2 < n && (unsigned char)t[i + 1] == 0x80) {
            unsigned char d = (unsigned char)t[i + 2];
            if (d == 0x98 || d == 0x99) {
                o[k++] = '\'';
                i += 2;
                continue;
            }
            if (d == 0x9C || d == 0x9D) {
                o[k++] = '"';
                i += 2;
                continue;
            }
        }
        o[k++] = (char)c;
    }
    o[k] = 0;
    return o;
}

static inline bool is_alnum_at(const char *t, size_t len, size_t i)
{
    unsigned char c = (unsigned char)t[i];
    if (i >= len)
        return false;
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    return (c & 0xC0) == 0x80 || c >= 0xC3; /* letters of other scripts, roughly */
}

/* One sense per document: a name the document uses with confidence is the
 * same name wherever else it is printed. Each confident mention's exact
 * string is searched for in the rest of the text, and an occurrence that no
 * mention covers, on word boundaries, becomes a mention of the same type
 * (and the same canonical). Where the model gave one string several types,
 * the type with the most confidence in the document wins. */
typedef struct name_ref {
    uint64_t hash; /* of the mention's text */
    size_t k;      /* its index */
} name_ref;

static int cmp_name_ref(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    return x->hash != y->hash ? (x->hash < y->hash ? -1 : 1) : (x->k < y->k ? -1 : x->k > y->k);
}

static void mark(uint8_t *bits, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static bool marked(const uint8_t *bits, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        if (bits[i >> 3] & (1u << (i & 7)))
            return true;
    return false;
}

/* Where names that start with a letter or digit can be printed, found in
 * one pass over the text instead of a search of the whole text per name:
 * the word starts (in is_alnum_at's sense) whose first three bytes are
 * those of one of the names (keys, sorted), grouped by key and in text
 * order within a group (pos[off[k], off[k + 1]) for keys[k]). */
typedef struct name_places {
    uint32_t *keys, *pos;
    size_t nk, *off;
} name_places;

static uint32_t first3(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 16 | (uint32_t)u[1] << 8 | u[2];
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The index of key in pl->keys, or pl->nk. */
static size_t place_key(const name_places *pl, uint32_t key)
{
    size_t lo = 0, hi = pl->nk;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pl->keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < pl->nk && pl->keys[lo] == key ? lo : pl->nk;
}

static void places_free(name_places *pl)
{
    free(pl->keys), free(pl->pos), free(pl->off);
}

/* The places of the names m[r[q].k], q < nr; 0, or -1 when out of memory. */
static int find_places(name_places *pl, const char *t, size_t len, const mention *m,
                       const name_ref *r, size_t nr)
{
    *pl = (name_places){0};
    size_t nk = 0, slots = 64;
    while (slots < 2 * nr)
        slots *= 2;
    pl->keys = malloc(nr * sizeof *pl->keys);
    uint32_t *tab = calloc(slots, sizeof *tab); /* first3 | 1 << 24, 0: empty */
    uint32_t *hit = malloc((len / 2 + 1) * sizeof *hit); /* word starts that begin a name */
    if (!pl->keys || !tab || !hit)
        goto fail;
    for (size_t q = 0; q < nr; q++)
        if (is_alnum_at(t, len, m[r[q].k].start))
            pl->keys[nk++] = first3(t + m[r[q].k].start);
    qsort(pl->keys, nk, sizeof *pl->keys, cmp_u32);
    size_t u = 0;
    for (size_t k = 0; k < nk; k++)
        if (!u || pl->keys[k] != pl->keys[u - 1])
            pl->keys[u++] = pl->keys[k];
    pl->nk = nk = u;
    for (size_t k = 0; k < nk; k++) {
        size_t j = (pl->keys[k] * 0x9E3779B1u) >> 7 & (slots - 1);
        while (tab[j])
            j = (j + 1) & (slots - 1);
        tab[j] = pl->keys[k] | 1u << 24;
    }
    /* the names' first bytes (alphanumeric ones): most bytes of the text
     * are none of them, and are passed over at once */
    bool first[256] = {false};
    for (size_t k = 0; k < nk; k++)
        first[pl->keys[k] >> 16] = true;
    size_t nh = 0;
    for (size_t p = 0; p + 3 <= len; p++) {
        if (!first[(unsigned char)t[p]] || (p > 0 && is_alnum_at(t, len, p - 1)))
            continue; /* not a word start that begins a name */
        uint32_t key = first3(t + p);
        size_t j = (key * 0x9E3779B1u) >> 7 & (slots - 1);
        while (tab[j] && tab[j] != (key | 1u << 24))
            j = (j + 1) & (slots - 1);
        if (tab[j])
            hit[nh++] = (uint32_t)p;
    }
    /* grouped by key, in text order: a counting sort */
    pl->off = calloc(nk + 1, sizeof *pl->off);
    pl->pos = malloc((nh ? nh : 1) * sizeof *pl->pos);
    if (!pl->off || !pl->pos)
        goto fail;
    for (size_t h = 0; h < nh; h++)
        pl->off[place_key(pl, first3(t + hit[h]))]++;
    for (size_t k = 1; k < nk; k++)
        pl->off[k] += pl->off[k - 1]; /* off[k]: the end of group k */
    pl->off[nk] = nh;
    for (size_t h = nh; h-- > 0;) /* backwards: each group fills from its end to its start */
        pl->pos[--pl->off[place_key(pl, first3(t + hit[h]))]] = hit[h];
    free(tab), free(hit);
    return 0;
fail:
    free(tab), free(hit);
    places_free(pl);
    return -1;
}

/* The next of pos[*from, to) where name[0, n) is printed, or NULL. */
static const char *next_place(const char *t, size_t len, const name_places *pl, size_t *from,
                              size_t to, const char *name, size_t n)
{
    while (*from < to) {
        size_t a = pl->pos[(*from)++];
        if (a + n <= len && !memcmp(t + a, name, n))
            return t + a;
    }
    return NULL;
}

static size_t propagate(state *s, const char *t, size_t len, mention *m, size_t nm, size_t cap)
{
    size_t base = nm, nr = 0;
    if (len > (8u << 20) || !base)
        return nm; /* very long texts: not worth a search per name */
    name_ref *r = malloc(base * sizeof *r);
    uint8_t *covered = calloc(len / 8 + 1, 1);
    if (!r || !covered) {
        free(r), free(covered);
        return nm;
    }
    for (size_t k = 0; k < base; k++) {
        if (m[k].type < 0)
            continue;
        if (m[k].score >= s->cfg->min_score)
            mark(covered, m[k].start, m[k].end);
        if (m[k].end - m[k].start >= 3)
            r[nr++] = (name_ref){XXH3_64bits(t + m[k].start, m[k].end - m[k].start), k};
    }
    /* the mentions of each name together, in text order */
    qsort(r, nr, sizeof *r, cmp_name_ref);
    name_places pl;
    bool indexed = nr && find_places(&pl, t, len, m, r, nr) == 0;
    for (size_t g = 0; g < nr;) {
        size_t e = g + 1;
        while (e < nr && r[e].hash == r[g].hash)
            e++;
        size_t k0 = r[g].k, ml = m[k0].end - m[k0].start;
        /* the type this name has most confidently in the document, and its
         * surest sighting; a hash collision between two names is told
         * apart by comparing the text (the group then counts only k0's) */
        double best[4] = {0}, top = 0;
        size_t src = SIZE_MAX;
        for (size_t q = g; q < e; q++) {
            const mention *x = &m[r[q].k];
            if (x->end - x->start != ml || memcmp(t + x->start, t + m[k0].start, ml))
                continue;
            best[x->type] += x->score;
            if (x->score > top)
                top = x->score;
            if (src == SIZE_MAX && x->score >= s->cfg->min_score)
                src = r[q].k;
        }
        if (src == SIZE_MAX) {
            g = e;
            continue; /* never confident */
        }
        int type = m[src].type;
        for (int q = 0; q < 4; q++)
            if (best[q] > best[type])
                type = q;
        for (size_t q = g; q < e; q++) {
            mention *x = &m[r[q].k];
            if (!x->from_gaz && x->end - x->start == ml && !memcmp(t + x->start, t + m[k0].start, ml))
                x->type = type;
        }
        /* every place the name is printed: from the index for a name that
         * starts a word, else by searching the text */
        const char *name = t + m[src].start;
        bool word = indexed && is_alnum_at(t, len, m[src].start);
        size_t key = word ? place_key(&pl, first3(name)) : SIZE_MAX;
        bool by_index = word && key < pl.nk;
        size_t from = by_index ? pl.off[key] : 0, to = by_index ? pl.off[key + 1] : 0;
        for (const char *p = t;
             nm < cap && (p = by_index ? next_place(t, len, &pl, &from, to, name, ml)
                                       : memmem(p, len - (size_t)(p - t), name, ml));
             p++) {
            size_t a = (size_t)(p - t), b = a + ml;
            if ((a > 0 && is_alnum_at(t, len, a - 1)) || is_alnum_at(t, len, b) || marked(covered, a, b))
                continue;
            /* as sure as the surest sighting of the name, a little less */
            m[nm++] = (mention){a, b, type, top * 0.9, m[src].entry, NULL, m[src].from_gaz};
            if (top * 0.9 >= s->cfg->min_score)
                mark(covered, a, b);
        }
        g = e;
    }
    free(r);
    free(covered);
    if (indexed)
        places_free(&pl);
    return nm;
}

static size_t non_ascii(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (unsigned char)s[i] >= 0x80;
    return c;
}

/* The same word, folded: "Erdoğan" and "Erdogan". */
static bool same_word(const char *a, size_t an, const char *b, size_t bn)
{
    char fa[256], fb[256];
    if (an * 4 + 8 > sizeof fa || bn * 4 + 8 > sizeof fb)
        return false;
    size_t la = fold_name(a, an, fa), lb = fold_name(b, bn, fb);
    return la == lb && !memcmp(fa, fb, la);
}

/* The spelling of word w (of length wn) with the most accents among the
 * words of the names of type `type` in m[accented[0..na)], or w itself. */
static const char *best_spelling(const char *t, const mention *m, const size_t *accented,
                                 size_t na, int type, const char *w, size_t wn, size_t *out_n)
{
    const char *best = w;
    size_t best_n = wn, best_acc = non_ascii(w, wn);
    for (size_t q = 0; q < na; q++) {
        size_t j = accented[q];
        if (m[j].type != type)
            continue;
        for (const char *p = t + m[j].start, *e = t + m[j].end; p < e;) {
            size_t l = 0;
            while (p + l < e && p[l] != ' ')
                l++;
            size_t acc = non_ascii(p, l);
            if (acc > best_acc && same_word(w, wn, p, l))
                best = p, best_n = l, best_acc = acc;
            p += l;
            p += p < e && *p == ' ';
        }
    }
    *out_n = best_n;
    return best;
}

/* One spelling per name in a document: where a name no list knows is printed
 * both with its accents and without ("Recep Tayyip Erdogan", "Erdoğan"),
 * each word of its canonical takes the spelling with them, which carries
 * more of the name. */
static void unify_spellings(const char *t, mention *m, size_t nm)
{
    /* only names printed with accents can lend a spelling */
    size_t lim = nm < 4000 ? nm : 4000, na = 0;
    size_t *accented = malloc((lim + 1) * sizeof *accented);
    if (!accented)
        return;
    for (size_t j = 0; j < lim; j++)
        if (m[j].type >= 0 && !m[j].entry && non_ascii(t + m[j].start, m[j].end - m[j].start))
            accented[na++] = j;
    for (size_t k = 0; na && k < lim; k++) {
        if (m[k].type < 0 || m[k].entry || !m[k].canonical)
            continue;
        size_t cl = strlen(m[k].canonical);
        char *out = malloc(4 * cl + 8), *o = out;
        bool changed = false;
        if (!out)
            break;
        for (const char *p = m[k].canonical; *p;) {
            size_t l = strcspn(p, " "), bn;
            const char *b = best_spelling(t, m, accented, na, m[k].type, p, l, &bn);
            changed |= b != p;
            memcpy(o, b, bn);
            o += bn;
            p += l;
            if (*p == ' ')
                *o++ = *p++;
        }
        *o = 0;
        if (changed) {
            free(m[k].canonical);
            m[k].canonical = out;
        } else {
            free(out);
        }
    }
    free(accented);
}

/* Fuzzy lookups of a batch, remembered: a document names a place many
 * times, and a batch holds many documents on one story. */
typedef struct memo_slot {
    uint64_t hash; /* 0: empty */
    const gz_entry *e;
    uint32_t dist;
} memo_slot;

typedef struct fuzzy_memory {
    memo_slot *v;
    size_t cap, used;
} fuzzy_memory;

static const gz_entry *fuzzy_memo(fuzzy_memory *mm, const gazetteer *gz, const char *key, size_t kl,
                                  int type, size_t maxd, size_t *dist)
{
    uint64_t h = XXH3_64bits_withSeed(key, kl, (uint64_t)type * 64 + maxd);
    h = h ? h : 1;
    if (!mm->v && (mm->v = calloc(4096, sizeof *mm->v)))
        mm->cap = 4096;
    size_t j = mm->v ? (size_t)h & (mm->cap - 1) : 0;
    while (mm->v && mm->v[j].hash) {
        if (mm->v[j].hash == h) {
            *dist = mm->v[j].dist;
            return mm->v[j].e;
        }
        j = (j + 1) & (mm->cap - 1);
    }
    const gz_entry *e = gz_fuzzy(gz, key, kl, type_names[type], maxd, dist);
    if (mm->v && (mm->used + 1) * 2 <= mm->cap) { /* full: no more remembered */
        mm->v[j] = (memo_slot){h, e, e ? (uint32_t)*dist : 0};
        mm->used++;
    }
    return e;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    const tm_host *h = s->host;
    const config *c = s->cfg;
    ner_toks toks = {0};
    ner_work *w = s->model ? ner_work_new() : NULL;
    if (w)
        ner_work_conf_for_names(w); /* conf is read for names only (ner_entities_ex) */
    fuzzy_memory memo = {0};
    int rc = TM_OK;
    for (size_t di = 0; di < b->n && rc == TM_OK; di++) {
        tm_doc *d = b->docs[di];
        const char *t = d->text;
        if (ner_tokenize(t, d->text_len, &toks) != 0) {
            rc = TM_ENOMEM;
            break;
        }
        size_t n = toks.n, cap = 2 * n + 1, nm = 0;
        mention *m = calloc(cap, sizeof *m);
        uint8_t *labels = s->model ? malloc(n + 1) : NULL;
        float *conf = s->model ? malloc((n + 1) * sizeof *conf) : NULL;
        ner_entity *ents = s->model ? malloc((n + 1) * sizeof *ents) : NULL;
        if (!m || (s->model && (!labels || !conf || !ents))) {
            free(m), free(labels), free(conf), free(ents);
            rc = TM_ENOMEM;
            break;
        }
        size_t ng = gaz_matches(s, t, toks.v, n, m, cap);
        nm = ng;
        uint32_t *bits = s->bits_gz && n ? malloc(n * sizeof *bits) : NULL;
        if (bits && ner_gaz_match(s->bits_gz, t, toks.v, n, bits) != 0) {
            free(bits);
            bits = NULL;
        }
        if (s->model && n) {
            if (ner_tag_ws(s->model, w, t, toks.v, n, bits, labels, conf) != 0) {
                rc = TM_ENOMEM;
            } else {
                /* spans as the CoNLL-style convention has them: the name part
                 * of "Turkish-backed", "pro-Russian"; possessives out */
                size_t ne = ner_entities_ex(t, toks.v, n, labels, conf, NER_ENT_TRIM, ents);
                for (size_t k = 0; k < ne && nm < cap; k++) {
                    /* a span does not begin or end on punctuation */
                    size_t ts = ents[k].tok_start, te = ents[k].tok_end;
                    while (ts < te && !wordlike(t + toks.v[ts].start, toks.v[ts].end - toks.v[ts].start))
                        ts++;
                    while (te > ts && !wordlike(t + toks.v[te - 1].start, toks.v[te - 1].end - toks.v[te - 1].start))
                        te--;
                    if (ts == te)
                        continue;
                    ents[k].start = toks.v[ts].start;
                    ents[k].end = toks.v[te - 1].end;
                    mention x = {ents[k].start, ents[k].end, ents[k].type,
                                 ents[k].conf < 0 ? 1.0 : ents[k].conf, NULL, NULL, false};
                    /* where the two disagree, `prefer` decides; but a longer
                     * name that holds the list's names whole ("[Azerbaijani]
                     * Defense Ministry", "Bank of [England]") is a name of its own */
                    bool clash = false, whole = true;
                    for (size_t g = 0; g < ng; g++) {
                        if (!m[g].entry || !overlaps(&m[g], &x))
                            continue;
                        clash = true;
                        whole = whole && holds(&x, &m[g]);
                    }
                    whole = whole && x.score >= c->min_score;
                    if (clash && (c->prefer == 1 || whole))
                        for (size_t g = 0; g < ng; g++)
                            if (m[g].entry && overlaps(&m[g], &x))
                                m[g].entry = NULL, m[g].type = -1; /* drop the list's */
                    if (clash && c->prefer == 0 && !whole)
                        continue;
                    m[nm++] = x;
                }
            }
        }
        add_patterns(s, t, d->text_len, toks.v, n, m, &nm, cap);
        pat_complete_persons(t, toks.v, n, m, nm, lexicon, s);
        /* canonical names for the model's mentions: the lists, exactly or fuzzily */
        char key[1024];
        for (size_t k = ng; k < nm; k++) {
            size_t len = m[k].end - m[k].start;
            if (m[k].type < 0 || m[k].entry || len * 4 + 8 > sizeof key)
                continue;
            size_t kl = fold_name(t + m[k].start, len, key);
            const gz_entry *e = gz_lookup(s->gz, key, kl);
            if (e && e->type_ix == m[k].type) {
                m[k].entry = e;
                continue;
            }
            size_t maxd = (size_t)(c->fuzzy * (double)kl);
            size_t dist = 0;
            if (maxd >= 1 && kl >= 5 &&
                (e = fuzzy_memo(&memo, s->gz, key, kl, m[k].type, maxd, &dist))) {
                m[k].entry = e;
                m[k].score *= 1.0 - (double)dist / (double)kl;
            }
        }
        nm = propagate(s, t, d->text_len, m, nm, cap);
        qsort(m, nm, sizeof *m, cmp_mention);
        for (size_t k = 0; k < nm; k++)
            if (!m[k].entry && !m[k].canonical && m[k].type >= 0)
                m[k].canonical = plain_canonical(t + m[k].start, m[k].end - m[k].start);
        pat_ministries(t, m, nm, country_of, s);
        pat_abbreviations(t, d->text_len, m, &nm, cap);
        /* coreference: a one-word PER/ORG mention that ends a longer one */
        if (c->coreference) {
            char a_key[256], b_key[1024];
            for (size_t k = 0; k < nm; k++) {
                /* the model's one-word mention of any type that ends a
                 * person's name in this document is that person ("Pashinyan"
                 * after "Nikol Pashinyan"); a list's is what the list says */
                bool any = !m[k].from_gaz && m[k].type >= 0;
                if (m[k].type != T_PER && m[k].type != T_ORG && !any)
                    continue;
                size_t len = m[k].end - m[k].start;
                if (len * 4 + 8 > sizeof a_key || memchr(t + m[k].start, ' ', len))
                    continue;
                size_t al = fold_name(t + m[k].start, len, a_key);
                for (size_t j = 0; j < nm && al; j++) {
                    size_t lj = m[j].end - m[j].start;
                    bool same = m[k].type <= T_ORG && m[j].type == m[k].type;
                    bool person = any && m[j].type == T_PER;
                    if (j == k || lj <= len || lj * 4 + 8 > sizeof b_key || !(same || person))
                        continue;
                    size_t bl = fold_name(t + m[j].start, lj, b_key);
                    if (bl > al && b_key[bl - al - 1] == ' ' && !memcmp(b_key + bl - al, a_key, al)) {
                        m[k].type = m[j].type;
                        free(m[k].canonical);
                        m[k].canonical = NULL;
                        m[k].entry = m[j].entry;
                        if (!m[k].entry)
                            m[k].canonical = m[j].canonical ? strdup(m[j].canonical) : NULL;
                        break;
                    }
                }
            }
        }
        unify_spellings(t, m, nm);
        size_t kept = 0;
        for (size_t k = 0; k < nm && rc == TM_OK; k++) {
            if (m[k].type < 0 || !(s->want & (1u << m[k].type)) || m[k].score < c->min_score)
                continue;
            /* overlapping mentions (gazetteer vs model) were resolved; keep spans flat */
            bool inside = false;
            for (size_t j = 0; j < k && !inside; j++)
                inside = m[j].type >= 0 && overlaps(&m[j], &m[k]) && j != k &&
                         (s->want & (1u << m[j].type)) && m[j].score >= c->min_score;
            if (inside)
                continue;
            char *label = strndup(t + m[k].start, m[k].end - m[k].start);
            tm_annotation an = {.start = m[k].start, .end = m[k].end,
                                .type = type_names[m[k].type], .label = label,
                                .canonical = m[k].entry ? m[k].entry->canonical : m[k].canonical,
                                .id = m[k].entry ? m[k].entry->id : NULL, .score = m[k].score};
            rc = h->annotate(ctx, d, &an);
            free(label);
            kept++;
        }
        h->count(ctx, "mentions", (int64_t)kept);
        for (size_t k = 0; k < nm; k++)
            free(m[k].canonical);
        free(m), free(labels), free(conf), free(ents), free(bits);
    }
    ner_toks_free(&toks);
    ner_work_free(w);
    free(memo.v);
    if (rc != TM_OK)
        h->error(ctx, "out of memory while tagging");
    return rc;
}

static const char *const reads[] = {"text", NULL};
static const char *const writes[] = {"annotations", NULL};

TM_PLUGIN_DEFINE(.name = "entities", .version = "0.1.0", .license = "MIT",
                 .summary = "Tags people, organisations, places and other names, with canonical names.",
                 .role = TM_ROLE_STAGE, .caps = TM_CAP_REENTRANT, .options = options,
                 .config_size = sizeof(config), .reads = reads, .writes = writes,
                 .init = init, .process = process, .fini = fini);
