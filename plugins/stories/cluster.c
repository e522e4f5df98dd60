/* The online story clusterer; see cluster.h. */
#include "engine.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- small helpers ----------------------------------------------------------------- */

#define PREFETCH 8 /* entries ahead: about a memory latency's worth of work */

static inline void prefetch(const void *p)
{
#if defined(__GNUC__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}


uint64_t st__hash_id(const char *s)
{
    uint64_t h = XXH3_64bits(s, strlen(s));
    return h ? h : 1;
}

/* 31 bits of the id's hash, never 0: the top bit of a 4-gram entry is
 * GRAM_COMMON. Two open stories with one owner (one chance in 2^31 a pair)
 * share their 4-grams' evidence, nothing worse. */
uint32_t st__owner_of(const char *id)
{
    uint32_t o = (uint32_t)(st__hash_id(id) >> 33);
    return o ? o : 1;
}

char *st__dupstr(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static double sigmoid(double z) { return 1 / (1 + exp(-z)); }

int st_parse_date(const char *s, size_t n)
{
    if (!s || n < 10)
        return ST_NO_DATE;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return ST_NO_DATE;
    int y = atoi(s), mo = (s[5] - '0') * 10 + s[6] - '0', d = (s[8] - '0') * 10 + s[9] - '0';
    /* a day past its month's end (2023-02-29, 2024-04-31) is no date */
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] + (mo == 2 && leap))
        return ST_NO_DATE;
    /* days from civil (proleptic Gregorian) */
    y -= mo <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ---- the engine -------------------------------------------------------------------- */

st_engine *st_engine_new(const st_params *p, const st_model *m)
{
    st_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->p = *p;
    if (e->p.window_days < 0)
        e->p.window_days = 0;
    e->m = m;
    e->threshold = p->threshold >= 0 ? p->threshold : m->threshold;
    e->now = ST_NO_DATE;
    e->terms = st_terms_new();
    e->grams = calloc((size_t)1 << GRAMS_BITS, sizeof *e->grams);
    if (!e->terms || !e->grams || !df_init(&e->df)) {
        st_engine_free(e);
        return NULL;
    }
    /* the prior is copied: the stream's counts are added to it */
    e->df.prior_docs = m->df.prior_docs;
    e->df.prior_weight = m->df.prior_weight;
    for (size_t i = 0; i < m->df.cap; i++)
        if (m->df.e[i].term) {
            df_entry *x = df_slot(&e->df, m->df.e[i].term);
            if (!x) {
                st_engine_free(e);
                return NULL;
            }
            x->prior = m->df.e[i].prior;
        }
    return e;
}

void st__story_clear(story *s)
{
    free(s->id);
    s->id = NULL;
    sv_free(&s->title);
    sv_free(&s->body);
    sv_free(&s->names);
    sv_free(&s->label_vec);
    free(s->label);
    s->label = NULL;
    for (uint32_t i = 0; i < s->n_show; i++)
        free(s->show[i].s);
    s->n_show = 0;
    free(s->members);
    s->members = NULL;
    s->n_members = s->cap_members = 0;
}

static void docv_free(docv *d)
{
    free(d->grams);
    free(d->tab);
    sv_free(&d->title);
    sv_free(&d->body);
    sv_free(&d->names);
    free(d->words);
    free(d->strings.p);
}

void st_engine_free(st_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_slots; i++)
        st__story_clear(&e->stories[i]);
    free(e->stories);
    free(e->free_slots);
    st_map_free(&e->ids);
    st_map_free(&e->members);
    st_map_free(&e->owners);
    st_map_free(&e->keys);
    for (size_t i = 0; i < e->n_lists; i++)
        free(e->lists[i].e);
    free(e->lists);
    for (size_t i = 0; i < e->n_closed; i++)
        free(e->closed[i]);
    free(e->closed);
    free(e->pruned);
    st_map_free(&e->acc);
    st_map_free(&e->seen);
    free(e->cands);
    docv_free(&e->d);
    st_terms_free(e->terms);
    df_free(&e->df);
    free(e->grams);
    free(e);
}

story *st__slot_story(st_engine *e, uint64_t ref)
{
    uint32_t slot = (uint32_t)(ref >> 32), gen = (uint32_t)ref;
    if (slot >= e->n_slots)
        return NULL;
    story *s = &e->stories[slot];
    return s->id && s->gen == gen ? s : NULL;
}

uint64_t st__ref_of(st_engine *e, const story *s)
{
    return (uint64_t)(s - e->stories) << 32 | s->gen;
}

/* ---- key terms ------------------------------------------------------------------- */

static int by_w_desc(const void *a, const void *b)
{
    float x = ((const key *)a)->w, y = ((const key *)b)->w;
    if (x != y)
        return x > y ? -1 : 1;
    uint32_t s = ((const key *)a)->term, t = ((const key *)b)->term;
    return s < t ? -1 : s > t;
}

/* The `keep` heaviest of a vector's terms, appended to out. */
size_t st__top_keys(const sv *v, size_t keep, uint8_t name, key *out)
{
    size_t n = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        key k = {v->t[i], v->w[i], name};
        if (n < keep)
            n++;
        else if (by_w_desc(&k, &out[n - 1]) >= 0)
            continue;
        /* insertion into the sorted few */
        size_t j = n - 1;
        while (j > 0 && by_w_desc(&k, &out[j - 1]) < 0) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = k;
    }
    return n;
}

static size_t doc_keys(const docv *d, key *out)
{
    size_t n = st__top_keys(&d->names, KEYS_NAMES, 1, out);
    n += st__top_keys(&d->title, KEYS_TITLE, 0, out + n);
    n += st__top_keys(&d->body, KEYS_BODY, 0, out + n);
    return n;
}

/* ---- a document's vectors ---------------------------------------------------------- */

static bool doc_word(docv *d, uint32_t term, uint8_t name, const char *s, size_t n)
{
    if (d->n_words == d->cap_words) {
        size_t cap = d->cap_words ? d->cap_words * 2 : 64;
        word_ref *w = realloc(d->words, cap * sizeof *w);
        if (!w)
            return false;
        d->words = w;
        d->cap_words = cap;
    }
    uint32_t off;
    if (!st_strings_add(&d->strings, s, n, &off))
        return false;
    d->words[d->n_words++] = (word_ref){term, name, off};
    return true;
}

static dslot *tab_slot(docv *d, uint32_t term)
{
    size_t j = (term * 2654435761u) & (d->tab_cap - 1);
    while (d->tab[j].term && d->tab[j].term != term)
        j = (j + 1) & (d->tab_cap - 1);
    return &d->tab[j];
}

static const dslot *tab_find(const docv *d, uint32_t term)
{
    size_t j = (term * 2654435761u) & (d->tab_cap - 1);
    while (d->tab[j].term) {
        if (d->tab[j].term == term)
            return &d->tab[j];
        j = (j + 1) & (d->tab_cap - 1);
    }
    return NULL;
}

/* The string of one of the document's terms, or NULL. */
static const char *doc_word_of(const docv *d, uint32_t term, uint8_t name)
{
    const dslot *x = tab_find(d, term);
    uint32_t off = !x ? 0 : name ? x->name_word : x->word;
    return off ? d->strings.p + off - 1 : NULL;
}

/* The document's terms in one table, so that comparing it with a story
 * walks the story's terms once. */
static bool build_tab(docv *d)
{
    size_t need = 64;
    while (need < (size_t)(d->title.n + d->body.n + d->names.n) * 2)
        need *= 2;
    if (need > d->tab_cap) {
        free(d->tab);
        d->tab = malloc(need * sizeof *d->tab);
        if (!d->tab) {
            d->tab_cap = 0;
            return false;
        }
        d->tab_cap = need;
    }
    memset(d->tab, 0, d->tab_cap * sizeof *d->tab);
    for (uint32_t i = 0; i < d->title.n; i++) {
        dslot *x = tab_slot(d, d->title.t[i]);
        x->term = d->title.t[i];
        x->title = d->title.w[i];
    }
    for (uint32_t i = 0; i < d->body.n; i++) {
        dslot *x = tab_slot(d, d->body.t[i]);
        x->term = d->body.t[i];
        x->body = d->body.w[i];
    }
    for (uint32_t i = 0; i < d->names.n; i++) {
        dslot *x = tab_slot(d, d->names.t[i]);
        x->term = d->names.t[i];
        x->name = d->names.w[i];
    }
    for (size_t i = 0; i < d->n_words; i++) {
        const word_ref *w = &d->words[i];
        const dslot *f = tab_find(d, w->term);
        if (!f)
            continue; /* a name or word that no vector kept */
        dslot *x = (dslot *)f;
        if (w->name && !x->name_word)
            x->name_word = w->off + 1;
        else if (!w->name && !x->word)
            x->word = w->off + 1;
    }
    return true;
}

static void normalize(sv *v)
{
    double n = sv_norm(v);
    if (n > 0)
        sv_scale(v, (float)(1 / n));
}

/* The body's word 4-grams (of every word: quotations are made of stop
 * words too), as 32-bit hashes, nonzero. */
static bool doc_grams(docv *d, const st_terms *t)
{
    size_t n;
    const uint32_t *w = st_terms_sequence(t, &n);
    d->n_grams = 0;
    if (n < 4)
        return true;
    size_t want = n - 3 < DOC_GRAMS ? n - 3 : DOC_GRAMS;
    if (want > d->cap_grams) {
        uint32_t *g = realloc(d->grams, want * sizeof *g);
        if (!g)
            return false;
        d->grams = g;
        d->cap_grams = want;
    }
    for (size_t i = 0; i < want; i++) {
        uint64_t h = (uint64_t)w[i] * 0x9E3779B97F4A7C15ULL;
        h = (h ^ w[i + 1]) * 0xC2B2AE3D27D4EB4FULL;
        h = (h ^ w[i + 2]) * 0x165667B19E3779F9ULL;
        h = (h ^ w[i + 3]) * 0x9E3779B97F4A7C15ULL;
        uint32_t g = (uint32_t)(h >> 32);
        d->grams[d->n_grams++] = g ? g : 1;
    }
    return true;
}

/* Counts a document's distinct terms into the frequencies (once per
 * document: a term in the title and the body counts once). */
static bool count_df(st_engine *e, const st_term *t, long n)
{
    uint32_t doc = (uint32_t)e->docs;
    for (long i = 0; i < n; i++) {
        df_entry *x = df_slot(&e->df, t[i].term);
        if (!x)
            return false;
        if (x->stamp != doc) {
            x->seen++;
            x->stamp = doc;
            x->dirty = 1;
        }
    }
    return true;
}

static void clear_seen(st_engine *e)
{
    e->seen.n = 0;
    if (e->seen.cap)
        memset(e->seen.k, 0, e->seen.cap * sizeof *e->seen.k);
}

/* The title's words, counted into the frequencies; their strings are
 * copied now, before the body's call to the tokenizer may move them. */
static int title_terms(st_engine *e, const st_input *in)
{
    docv *d = &e->d;
    st_term *t;
    long nt = st_terms_of(e->terms, in->title ? in->title : "", in->title_len, 200, &t);
    if (nt < 0)
        return -4;
    for (long i = 0; i < nt; i++)
        if (!sv_push(&d->title, t[i].term, 1) ||
            !doc_word(d, t[i].term, 0, t[i].word, strlen(t[i].word)))
            return -4;
    return count_df(e, t, nt) ? 0 : -4;
}

/* The body's words (TF-IDF, the heaviest DOC_BODY_KEEP), its word 4-grams,
 * and the strings of its words for showing (a word of the title keeps the
 * title's form). */
static int body_terms(st_engine *e, const st_input *in)
{
    docv *d = &e->d;
    st_term *t;
    long nb = st_terms_of(e->terms, in->body ? in->body : "", in->body_len, DOC_WORDS, &t);
    if (nb < 0 || !doc_grams(d, e->terms) || !count_df(e, t, nb))
        return -4;
    e->df.seen_docs++;
    for (long i = 0; i < nb; i++) {
        double w = (1 + log((double)t[i].count)) * df_idf(&e->df, t[i].term);
        if (!sv_push(&d->body, t[i].term, (float)w))
            return -4;
    }
    sv_sort(&d->body);
    sv_truncate(&d->body, DOC_BODY_KEEP);
    clear_seen(e);
    for (size_t i = 0; i < d->n_words; i++)
        if (!st_map_put(&e->seen, d->words[i].term, i))
            return -4;
    for (long k = 0; k < nb; k++)
        if (!st_map_get(&e->seen, t[k].term) &&
            !doc_word(d, t[k].term, 0, t[k].word, strlen(t[k].word)))
            return -4;
    return 0;
}

/* The names: every mention counts (the first MENTIONS_MAX: a document's
 * names are known long before that); the canonical name is the term. */
static int name_terms(st_engine *e, const st_input *in)
{
    docv *d = &e->d;
    char fold[512];
    st_term *nm = NULL;
    size_t n_nm = 0, cap_nm = 0;
    int rc = 0;
    clear_seen(e);
    for (size_t i = 0; i < in->n_names && i < MENTIONS_MAX && rc == 0; i++) {
        size_t fl = st_fold_name(in->names[i].s, in->names[i].n, fold, sizeof fold);
        if (!fl)
            continue;
        uint32_t h = st_name_term(fold, fl, in->names[i].person);
        uint64_t *k = st_map_get(&e->seen, h);
        if (k) {
            nm[*k].count++;
            continue;
        }
        if (n_nm == cap_nm) {
            cap_nm = cap_nm ? cap_nm * 2 : 16;
            st_term *g = realloc(nm, cap_nm * sizeof *g);
            if (!g) {
                rc = -4;
                break;
            }
            nm = g;
        }
        if (!st_map_put(&e->seen, h, n_nm) || !doc_word(d, h, 1, in->names[i].s, in->names[i].n))
            rc = -4;
        nm[n_nm++] = (st_term){.term = h, .count = 1};
    }
    if (rc == 0 && !count_df(e, nm, (long)n_nm))
        rc = -4;
    for (size_t k = 0; rc == 0 && k < n_nm; k++) {
        double w = (1 + log((double)nm[k].count)) * df_idf(&e->df, nm[k].term);
        if (!sv_push(&d->names, nm[k].term, (float)w))
            rc = -4;
    }
    free(nm);
    return rc;
}

/* Weights the title (now that the frequencies hold the whole document),
 * makes every vector a unit vector, and finds the key terms. */
static void finish_doc(docv *d, const df_table *df)
{
    for (uint32_t i = 0; i < d->title.n; i++)
        d->title.w[i] = (float)df_idf(df, d->title.t[i]);
    sv_sort(&d->title);
    sv_sort(&d->names);
    sv_truncate(&d->names, 64);
    normalize(&d->title);
    normalize(&d->body);
    normalize(&d->names);
    double nn = 0, np = 0;
    for (uint32_t i = 0; i < d->names.n; i++) {
        double w2 = (double)d->names.w[i] * d->names.w[i];
        if (d->names.t[i] & 1)
            np += w2;
        else
            nn += w2;
    }
    d->norm_names = sqrt(nn);
    d->norm_people = sqrt(np);
    d->n_keys = doc_keys(d, d->keys);
}

static void forget_term(void *arg, uint32_t term)
{
    st_engine *e = arg;
    if (e->n_pruned == e->cap_pruned) {
        size_t cap = e->cap_pruned ? e->cap_pruned * 2 : 1024;
        uint32_t *g = realloc(e->pruned, cap * sizeof *g);
        if (!g)
            return; /* the store keeps its count: it comes back at the next load */
        e->pruned = g;
        e->cap_pruned = cap;
    }
    e->pruned[e->n_pruned++] = term;
}

/* The document as vectors, its terms learnt into the frequencies. */
static int build_doc(st_engine *e, const st_input *in)
{
    docv *d = &e->d;
    sv_clear(&d->title);
    sv_clear(&d->body);
    sv_clear(&d->names);
    d->n_words = d->strings.len = 0;
    d->date = in->date;
    d->source = in->source && *in->source ? st_hash(in->source, strlen(in->source), 3) : 0;
    if (title_terms(e, in) != 0 || body_terms(e, in) != 0 || name_terms(e, in) != 0 ||
        (e->df.n > DF_MAX && !df_prune(&e->df, forget_term, e)))
        return -4;
    finish_doc(d, &e->df);
    return build_tab(d) ? 0 : -4;
}

/* ---- the inverted index ------------------------------------------------------------ */

bool st__post(st_engine *e, uint32_t term, uint64_t ref)
{
    uint64_t *ix = st_map_get(&e->keys, term);
    plist *l;
    if (!ix) {
        if (e->n_lists == e->cap_lists) {
            size_t cap = e->cap_lists ? e->cap_lists * 2 : 1024;
            plist *g = realloc(e->lists, cap * sizeof *g);
            if (!g)
                return false;
            e->lists = g;
            e->cap_lists = cap;
        }
        if (!st_map_put(&e->keys, term, e->n_lists))
            return false;
        l = &e->lists[e->n_lists++];
        memset(l, 0, sizeof *l);
    } else
        l = &e->lists[*ix];
    /* a story already listed moves to the end: the list stays the most
     * recent stories, each once */
    for (uint32_t i = l->n; i-- > 0;)
        if (l->e[i] == ref) {
            memmove(l->e + i, l->e + i + 1, (l->n - i - 1) * sizeof *l->e);
            l->e[l->n - 1] = ref;
            return true;
        }
    if (l->n == POSTINGS_MAX) { /* the older half goes: recent stories matter */
        memmove(l->e, l->e + POSTINGS_MAX / 2, (POSTINGS_MAX / 2) * sizeof *l->e);
        l->n = POSTINGS_MAX / 2;
    }
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        uint64_t *g = realloc(l->e, cap * sizeof *g);
        if (!g)
            return false;
        l->e = g;
        l->cap = cap;
    }
    l->e[l->n++] = ref;
    return true;
}


static bool index_doc(st_engine *e, const story *s)
{
    uint64_t ref = st__ref_of(e, s);
    for (size_t i = 0; i < e->d.n_keys; i++)
        if (!st__post(e, e->d.keys[i].term, ref))
            return false;
    return true;
}

/* Drops postings of closed stories, and terms left with none. The lists
 * are cleaned in place first (no allocation); the new map and array are
 * built beside the old ones, which stay whole if memory runs out. */
static bool compact(st_engine *e)
{
    size_t live = 0;
    for (size_t i = 0; i < e->n_lists; i++) {
        plist *l = &e->lists[i];
        uint32_t k = 0;
        for (uint32_t j = 0; j < l->n; j++)
            if (st__slot_story(e, l->e[j]))
                l->e[k++] = l->e[j];
        l->n = k;
        live += k > 0;
    }
    st_map keys = {0};
    plist *lists = malloc((live ? live : 1) * sizeof *lists);
    size_t o = 0;
    for (size_t i = 0; lists && i < e->keys.cap; i++) {
        if (!e->keys.k[i] || !e->lists[e->keys.v[i]].n)
            continue;
        if (!st_map_put(&keys, e->keys.k[i], o)) {
            st_map_free(&keys);
            free(lists);
            return false;
        }
        lists[o++] = e->lists[e->keys.v[i]];
    }
    if (!lists)
        return false;
    for (size_t i = 0; i < e->n_lists; i++)
        if (!e->lists[i].n)
            free(e->lists[i].e);
    free(e->lists);
    e->lists = lists;
    e->cap_lists = live ? live : 1;
    e->n_lists = o;
    st_map_free(&e->keys);
    e->keys = keys;
    e->closed_since_compact = 0;
    return true;
}

/* ---- stories ----------------------------------------------------------------------- */

static bool remember_closed(st_engine *e, const char *id)
{
    if (e->n_closed == e->cap_closed) {
        size_t cap = e->cap_closed ? e->cap_closed * 2 : 64;
        char **g = realloc(e->closed, cap * sizeof *g);
        if (!g)
            return false;
        e->closed = g;
        e->cap_closed = cap;
    }
    char *c = st__dupstr(id, strlen(id));
    if (!c)
        return false;
    e->closed[e->n_closed++] = c;
    return true;
}

static bool close_story(st_engine *e, story *s)
{
    if (!remember_closed(e, s->id))
        return false;
    st_map_del(&e->ids, st__hash_id(s->id));
    uint64_t *o = st_map_get(&e->owners, s->owner);
    if (o && st__slot_story(e, *o) == s)
        st_map_del(&e->owners, s->owner);
    for (uint32_t i = 0; i < s->n_members; i++) {
        uint64_t *r = st_map_get(&e->members, s->members[i]);
        if (r && st__slot_story(e, *r) == s)
            st_map_del(&e->members, s->members[i]);
    }
    st__story_clear(s);
    s->gen++;
    e->free_slots[e->n_free++] = (uint32_t)(s - e->stories);
    e->n_open--;
    e->n_closed_total++;
    e->closed_since_compact++;
    return true;
}

static bool maybe_compact(st_engine *e)
{
    if (e->closed_since_compact > e->n_open / 4 + 64)
        return compact(e);
    return true;
}

/* Closes the stories whose last document is more than `window` days before
 * the stream's newest date. */
static bool expire(st_engine *e)
{
    if (e->now == ST_NO_DATE)
        return true;
    for (size_t i = 0; i < e->n_slots; i++) {
        story *s = &e->stories[i];
        if (s->id && s->last != ST_NO_DATE && s->last < e->now - e->p.window_days &&
            !close_story(e, s))
            return false;
    }
    return maybe_compact(e);
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Over max_open: the least recently joined tenth close. */
static bool evict(st_engine *e)
{
    if (e->n_open <= e->p.max_open)
        return true;
    uint64_t *seqs = malloc(e->n_open * sizeof *seqs);
    if (!seqs)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < e->n_slots; i++)
        if (e->stories[i].id)
            seqs[n++] = e->stories[i].seq;
    qsort(seqs, n, sizeof *seqs, by_seq);
    size_t drop = n - e->p.max_open + e->p.max_open / 10;
    uint64_t cut = seqs[drop < n ? drop : n - 1];
    free(seqs);
    for (size_t i = 0; i < e->n_slots; i++) {
        story *s = &e->stories[i];
        if (s->id && s->seq < cut && !close_story(e, s))
            return false;
    }
    return maybe_compact(e);
}

story *st__new_slot(st_engine *e)
{
    if (!e->n_free) {
        if (e->n_slots == e->cap_slots) {
            size_t cap = e->cap_slots ? e->cap_slots * 2 : 256;
            story *g = realloc(e->stories, cap * sizeof *g);
            if (!g)
                return NULL;
            e->stories = g;
            uint32_t *f = realloc(e->free_slots, cap * sizeof *f);
            if (!f)
                return NULL;
            e->free_slots = f;
            e->cap_slots = cap;
        }
        memset(&e->stories[e->n_slots], 0, sizeof(story));
        e->free_slots[e->n_free++] = (uint32_t)e->n_slots++;
    }
    story *s = &e->stories[e->free_slots[--e->n_free]];
    uint32_t gen = s->gen + 1;
    memset(s, 0, sizeof *s);
    s->gen = gen;
    s->first = s->last = ST_NO_DATE;
    e->n_open++;
    return s;
}

/* A story remembers its latest MEMBERS_MAX members (a ring once full): a
 * re-run or a copy of an older one is compared like any document. */
static bool add_member(st_engine *e, story *s, const char *doc_id)
{
    uint64_t h = st__hash_id(doc_id);
    uint32_t at = s->n_members;
    if (at == MEMBERS_MAX) {
        at = s->size % MEMBERS_MAX;
        uint64_t *r = st_map_get(&e->members, s->members[at]);
        if (r && st__slot_story(e, *r) == s)
            st_map_del(&e->members, s->members[at]);
    } else if (at == s->cap_members) {
        uint32_t cap = s->cap_members ? s->cap_members * 2 : 4;
        uint64_t *g = realloc(s->members, cap * sizeof *g);
        if (!g)
            return false;
        s->members = g;
        s->cap_members = cap;
    }
    s->members[at] = h;
    if (at == s->n_members)
        s->n_members++;
    return st_map_put(&e->members, h, st__ref_of(e, s));
}

static void add_source(story *s, uint32_t src)
{
    if (!src)
        return;
    for (uint32_t i = 0; i < s->n_sources; i++)
        if (s->sources[i] == src)
            return;
    if (s->n_sources < SOURCES_MAX)
        s->sources[s->n_sources++] = src;
}

void st__set_norms(story *s)
{
    s->norm[0] = (float)sv_norm(&s->title);
    s->norm[1] = (float)sv_norm(&s->body);
    double nn = 0, np = 0;
    for (uint32_t i = 0; i < s->names.n; i++) {
        double w2 = (double)s->names.w[i] * s->names.w[i];
        if (s->names.t[i] & 1)
            np += w2;
        else
            nn += w2;
    }
    s->norm[2] = (float)sqrt(nn);
    s->norm[3] = (float)sqrt(np);
}

static void widen_dates(story *s, int date)
{
    if (date == ST_NO_DATE)
        return;
    if (s->first == ST_NO_DATE || date < s->first)
        s->first = date;
    if (s->last == ST_NO_DATE || date > s->last)
        s->last = date;
}

/* The weight a shown term has in the story now. */
static double show_weight(const story *s, const show_term *t, double nn, double nb, double nt)
{
    if (t->name)
        return nn > 0 ? sv_get(&s->names, t->term) / nn : 0;
    return (nb > 0 ? sv_get(&s->body, t->term) / nb : 0) +
           (nt > 0 ? sv_get(&s->title, t->term) / nt : 0);
}

/* Keeps the story's heaviest names and words, with their strings, from what
 * it had and what the document brings. */
static bool update_show(st_engine *e, story *s)
{
    const docv *d = &e->d;
    double nn = sv_norm(&s->names), nb = sv_norm(&s->body), nt = sv_norm(&s->title);
    show_term all[SHOW_MAX + 64];
    double wt[SHOW_MAX + 64];
    size_t n = 0;
    for (uint32_t i = 0; i < s->n_show; i++) {
        all[n] = s->show[i];
        wt[n] = show_weight(s, &all[n], nn, nb, nt);
        n++;
    }
    /* the document's candidates are its key terms: its heaviest */
    for (size_t i = 0; i < d->n_keys && n < sizeof all / sizeof *all; i++) {
        const key *w = &d->keys[i];
        bool have = false;
        for (size_t k = 0; k < n && !have; k++)
            have = all[k].term == w->term && all[k].name == w->name;
        if (have)
            continue;
        all[n] = (show_term){w->term, w->name, NULL};
        wt[n] = show_weight(s, &all[n], nn, nb, nt);
        if (wt[n] <= 0)
            continue;
        n++;
    }
    /* selection sort of the few */
    show_term keep[SHOW_MAX];
    uint32_t k = 0;
    bool used[SHOW_MAX + 64] = {0};
    while (k < SHOW_MAX) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!used[i] && wt[i] > 0 && (best == n || wt[i] > wt[best]))
                best = i;
        if (best == n)
            break;
        used[best] = true;
        keep[k] = all[best];
        if (!keep[k].s) {
            const char *str = doc_word_of(d, keep[k].term, keep[k].name);
            keep[k].s = str ? st__dupstr(str, strlen(str)) : NULL;
            if (!keep[k].s)
                break; /* out of memory: show fewer */
        }
        k++;
    }
    /* free the strings of shown terms that fell out */
    for (uint32_t i = 0; i < s->n_show; i++) {
        bool kept = false;
        for (uint32_t j = 0; j < k && !kept; j++)
            kept = keep[j].s == s->show[i].s;
        if (!kept)
            free(s->show[i].s);
    }
    memcpy(s->show, keep, k * sizeof *keep);
    s->n_show = k;
    return true;
}

/* Title of the document nearest the body centroid. */
static bool update_label(st_engine *e, story *s, const st_input *in)
{
    if (!in->title_len)
        return true;
    double nb = sv_norm(&s->body);
    double mine = nb > 0 ? sv_dot(&e->d.body, &s->body) / nb : 0;
    double theirs = 0;
    if (s->label) {
        double nl = sv_norm(&s->label_vec);
        theirs = nb > 0 && nl > 0 ? sv_dot(&s->label_vec, &s->body) / (nb * nl) : 0;
    }
    if (s->label && mine <= theirs)
        return true;
    /* cut at a character boundary: a 1 MB title must not become a 1 MB
     * label held by the story and written on each of its documents */
    size_t n = in->title_len;
    if (n > LABEL_BYTES) {
        n = LABEL_BYTES;
        while (n > 0 && ((unsigned char)in->title[n] & 0xc0) == 0x80)
            n--;
    }
    char *l = st__dupstr(in->title, n);
    if (!l || !sv_copy(&s->label_vec, &e->d.body)) {
        free(l);
        return false;
    }
    sv_truncate(&s->label_vec, LABEL_KEEP);
    sv_shrink(&s->label_vec);
    free(s->label);
    s->label = l;
    return true;
}

static void register_grams(st_engine *e, const story *s);

/* Adds the document to the story: decays the centroids by the days since the
 * story's last document (a half-life of `window` days: the story's latest
 * turn weighs most), adds the vectors, keeps the heaviest terms. */
static bool join(st_engine *e, story *s, const st_input *in)
{
    const docv *d = &e->d;
    if (d->date != ST_NO_DATE && s->last != ST_NO_DATE && d->date > s->last) {
        double half = e->p.window_days > 0 ? e->p.window_days : 1;
        float k = (float)pow(0.5, (d->date - s->last) / half);
        sv_scale(&s->title, k);
        sv_scale(&s->body, k);
        sv_scale(&s->names, k);
    }
    if (!sv_add(&s->title, &d->title, 1) || !sv_add(&s->body, &d->body, 1) ||
        !sv_add(&s->names, &d->names, 1))
        return false;
    sv_truncate(&s->title, TITLE_KEEP);
    sv_truncate(&s->body, BODY_KEEP);
    sv_truncate(&s->names, NAMES_KEEP);
    sv_shrink(&s->title);
    sv_shrink(&s->body);
    sv_shrink(&s->names);
    st__set_norms(s);
    widen_dates(s, d->date);
    add_source(s, d->source);
    s->size++;
    s->seq = ++e->seq;
    s->dirty = true;
    register_grams(e, s);
    return update_label(e, s, in) && update_show(e, s) && index_doc(e, s) &&
           add_member(e, s, in->id);
}

static story *open_story(st_engine *e, const st_input *in, const char *id)
{
    story *s = st__new_slot(e);
    if (!s)
        return NULL;
    s->id = st__dupstr(id, strlen(id));
    s->owner = st__owner_of(id);
    if (!s->id || !st_map_put(&e->ids, st__hash_id(id), st__ref_of(e, s)) ||
        !st_map_put(&e->owners, s->owner, st__ref_of(e, s)) || !join(e, s, in))
        return NULL;
    e->opened++;
    return s;
}

/* ---- comparing a document with a story --------------------------------------------- */

static int features(const st_engine *e, const story *s, uint32_t shared, double *f)
{
    const docv *d = &e->d;
    double nt = s->norm[0], nb = s->norm[1], nn = s->norm[2], np = s->norm[3];
    double tt = 0, bb = 0, title_body = 0, body_title = 0, names = 0, people = 0;
    for (uint32_t i = 0; i < s->title.n; i++) {
        const dslot *x = tab_find(d, s->title.t[i]);
        if (x) {
            tt += (double)x->title * s->title.w[i];
            body_title += (double)x->body * s->title.w[i];
        }
    }
    for (uint32_t i = 0; i < s->body.n; i++) {
        const dslot *x = tab_find(d, s->body.t[i]);
        if (x) {
            bb += (double)x->body * s->body.w[i];
            title_body += (double)x->title * s->body.w[i];
        }
    }
    for (uint32_t i = 0; i < s->names.n; i++) {
        const dslot *x = tab_find(d, s->names.t[i]);
        if (x && (s->names.t[i] & 1))
            people += (double)x->name * s->names.w[i];
        else if (x)
            names += (double)x->name * s->names.w[i];
    }
    memset(f, 0, ST_NF * sizeof *f);
    f[F_BIAS] = 1;
    f[F_TITLE] = nt > 0 ? tt / nt : 0;
    f[F_BODY] = nb > 0 ? bb / nb : 0;
    f[F_NAMES] = nn > 0 && d->norm_names > 0 ? names / (nn * d->norm_names) : 0;
    f[F_PEOPLE] = np > 0 && d->norm_people > 0 ? people / (np * d->norm_people) : 0;
    f[F_QUOTES] = log1p(shared);
    f[F_TITLE_BODY] = nb > 0 ? title_body / nb : 0;
    f[F_BODY_TITLE] = nt > 0 ? body_title / nt : 0;
    if (d->date == ST_NO_DATE || s->last == ST_NO_DATE)
        f[F_NODATE] = 1;
    else {
        int gap = d->date > s->last ? d->date - s->last : d->date < s->first ? s->first - d->date : 0;
        f[F_GAP] = log1p(gap);
    }
    /* the model learnt this weight on stories of at most 22 documents; past
     * that it is extrapolation, and a story of a thousand would refuse
     * everyone however alike: the feature stops growing at 32 */
    f[F_SIZE] = log(s->size < 32 ? s->size : 32);
    for (uint32_t i = 0; i < s->n_sources && d->source; i++)
        if (s->sources[i] == d->source)
            f[F_SAME_SOURCE] = 1;
    return d->names.n && s->names.n ? 0 : 1;
}

/* Is the story open for a document of this date? */
static bool in_window(const st_engine *e, const story *s, int date)
{
    if (date == ST_NO_DATE || s->last == ST_NO_DATE)
        return true;
    int w = e->p.window_days;
    return date <= s->last + w && date >= s->first - w;
}

/* The story's entry among this document's candidates, added (empty) on
 * first sight; NULL when memory runs out. */
static cand *cand_of(st_engine *e, const story *s)
{
    uint64_t slot = (uint64_t)(s - e->stories) + 1;
    uint64_t *c = st_map_get(&e->acc, slot);
    if (c)
        return &e->cands[*c];
    if (e->n_cands == e->cap_cands) {
        size_t cap = e->cap_cands ? e->cap_cands * 2 : 256;
        cand *g = realloc(e->cands, cap * sizeof *g);
        if (!g)
            return NULL;
        e->cands = g;
        e->cap_cands = cap;
    }
    if (!st_map_put(&e->acc, slot, e->n_cands))
        return NULL;
    e->cands[e->n_cands] = (cand){(uint32_t)(slot - 1), 0, 0};
    return &e->cands[e->n_cands++];
}

static story *gram_story(st_engine *e, uint32_t owner)
{
    uint64_t *r = st_map_get(&e->owners, owner & ~GRAM_COMMON);
    return r ? st__slot_story(e, *r) : NULL;
}

/* Which stories own the document's 4-grams: each found counts for its
 * story, which becomes a candidate if the names and words did not find it
 * (a quotation is evidence enough to look). */
static int count_grams(st_engine *e)
{
    const size_t mask = ((size_t)1 << GRAMS_BITS) - 1;
    for (size_t i = 0; i < e->d.n_grams; i++) {
        /* the table is far bigger than the CPU's caches: ask for the next
         * entries while this one is read */
        if (i + PREFETCH < e->d.n_grams)
            prefetch(&e->grams[e->d.grams[i + PREFETCH] & mask]);
        uint32_t g = e->d.grams[i];
        uint64_t x = e->grams[g & mask];
        if ((uint32_t)(x >> 32) != g || (x & GRAM_COMMON))
            continue;
        story *s = gram_story(e, (uint32_t)x);
        if (!s || !in_window(e, s, e->d.date))
            continue;
        cand *c = cand_of(e, s);
        if (!c)
            return -4;
        c->shared++;
    }
    /* a shared sentence weighs in the choice of candidates like a key term */
    for (size_t i = 0; i < e->n_cands; i++)
        e->cands[i].acc += 0.05f * (float)e->cands[i].shared;
    return 0;
}

/* The document's 4-grams become the story's; one another story printed
 * first becomes common (boilerplate, a stock phrase) and counts no more. */
static void register_grams(st_engine *e, const story *s)
{
    const size_t mask = ((size_t)1 << GRAMS_BITS) - 1;
    uint32_t me = s->owner;
    for (size_t i = 0; i < e->d.n_grams; i++) {
        if (i + PREFETCH < e->d.n_grams)
            prefetch(&e->grams[e->d.grams[i + PREFETCH] & mask]);
        uint32_t g = e->d.grams[i];
        uint64_t *x = &e->grams[g & mask];
        if ((uint32_t)(*x >> 32) == g) {
            if ((*x & GRAM_COMMON) || (uint32_t)*x == me)
                continue;
            if (gram_story(e, (uint32_t)*x)) {
                *x |= GRAM_COMMON;
                continue;
            }
        }
        *x = (uint64_t)g << 32 | me; /* new, or its story closed: the latest wins */
    }
    e->grams_dirty = true;
}

/* The stories sharing the most weight of the document's key terms. */
static int candidates(st_engine *e)
{
    const key *keys = e->d.keys;
    size_t nk = e->d.n_keys;
    e->n_cands = 0;
    e->acc.n = 0;
    if (e->acc.cap)
        memset(e->acc.k, 0, e->acc.cap * sizeof *e->acc.k);
    for (size_t i = 0; i < nk; i++) {
        uint64_t *ix = st_map_get(&e->keys, keys[i].term);
        if (!ix)
            continue;
        plist *l = &e->lists[*ix];
        for (uint32_t j = 0; j < l->n; j++) {
            if (j + PREFETCH < l->n && (size_t)(l->e[j + PREFETCH] >> 32) < e->n_slots)
                prefetch(&e->stories[l->e[j + PREFETCH] >> 32]);
            story *s = st__slot_story(e, l->e[j]);
            if (!s || !in_window(e, s, e->d.date))
                continue;
            cand *c = cand_of(e, s);
            if (!c)
                return -4;
            c->acc += keys[i].w;
        }
    }
    return count_grams(e);
}

static int by_acc_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->acc != y->acc)
        return x->acc > y->acc ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* The CANDIDATES best, first in the array, in order. */
static size_t top_candidates(st_engine *e)
{
    size_t k = e->n_cands < CANDIDATES ? e->n_cands : CANDIDATES;
    for (size_t i = 0; i < e->n_cands; i++) {
        cand c = e->cands[i];
        size_t j = i < k ? i : k;
        if (j == k && by_acc_desc(&c, &e->cands[k - 1]) >= 0)
            continue;
        if (j == k)
            j = k - 1;
        while (j > 0 && by_acc_desc(&c, &e->cands[j - 1]) < 0) {
            e->cands[j] = e->cands[j - 1];
            j--;
        }
        e->cands[j] = c;
    }
    return k;
}

static double score(const st_engine *e, const double *f, int set)
{
    double z = 0;
    for (int i = 0; i < ST_NF; i++)
        z += e->m->w[set][i] * f[i];
    return z;
}

/* A date is believed from 1971 to a year after the run's day: epoch zero and
 * far futures are parse errors of someone's. */
static int believable(const st_engine *e, int date)
{
    if (date == ST_NO_DATE || date < 365 || (e->p.today > 0 && date > e->p.today + 366))
        return ST_NO_DATE;
    return date;
}

/* A document without a title is known by its first line, when that is
 * short enough to be a headline (the metadata stage may not have run). */
static void prepare(const st_engine *e, st_input *in)
{
    in->date = believable(e, in->date);
    if (!in->title || !in->title_len) {
        size_t n = 0;
        while (n < in->body_len && n < 300 && in->body[n] != '\n')
            n++;
        bool line = n < in->body_len ? in->body[n] == '\n' : n == in->body_len;
        in->title = in->body;
        in->title_len = line && n < 300 ? n : 0;
    }
}

static int advance(st_engine *e, int date)
{
    /* a date ahead of the run's day (a time zone, a scheduled post, a typo)
     * is the document's own, not the stream's: "now" moving a year ahead
     * would close every story */
    if (date != ST_NO_DATE && e->p.today > 0 && date > e->p.today + 1)
        return 0;
    if (date != ST_NO_DATE && (e->now == ST_NO_DATE || date > e->now)) {
        e->now = date;
        if (!expire(e))
            return -4;
    }
    return 0;
}

/* ---- the evidence ------------------------------------------------------------------ */

typedef struct shared {
    const char *s;
    double w;
} shared;

static int by_shared(const void *a, const void *b)
{
    double x = ((const shared *)a)->w, y = ((const shared *)b)->w;
    return x > y ? -1 : x < y;
}

static void evidence(st_engine *e, const story *s, const double *f, int set, st_result *r)
{
    const docv *d = &e->d;
    const double *w = e->m->w[set];
    r->parts[0] = w[F_NAMES] * f[F_NAMES] + w[F_PEOPLE] * f[F_PEOPLE];
    r->parts[1] = w[F_TITLE] * f[F_TITLE] + w[F_TITLE_BODY] * f[F_TITLE_BODY];
    r->parts[2] = w[F_BODY] * f[F_BODY] + w[F_BODY_TITLE] * f[F_BODY_TITLE];
    r->parts[3] = w[F_GAP] * f[F_GAP] + w[F_NODATE] * f[F_NODATE];
    r->parts[4] = w[F_QUOTES] * f[F_QUOTES];
    r->shared_grams = (int)lround(expm1(f[F_QUOTES]));
    r->days_apart = ST_NO_DATE;
    if (d->date != ST_NO_DATE && s->last != ST_NO_DATE)
        r->days_apart = d->date > s->last ? d->date - s->last
                        : d->date < s->first ? s->first - d->date : 0;
    shared sh[64];
    size_t n = 0;
    for (uint32_t i = 0; i < d->names.n && n < 64; i++) {
        float sw = sv_get(&s->names, d->names.t[i]);
        const char *str = sw > 0 ? doc_word_of(d, d->names.t[i], 1) : NULL;
        if (str)
            sh[n++] = (shared){str, sw * d->names.w[i]};
    }
    qsort(sh, n, sizeof *sh, by_shared);
    r->n_shared_names = 0;
    for (size_t i = 0; i < n && r->n_shared_names < ST_SHOW; i++)
        r->shared_names[r->n_shared_names++] = sh[i].s;
    n = 0;
    for (size_t i = 0; i < d->n_words && n < 64; i++) {
        const word_ref *wr = &d->words[i];
        if (wr->name)
            continue;
        double x = sv_get(&s->body, wr->term) * sv_get(&d->body, wr->term) +
                   sv_get(&s->title, wr->term) * sv_get(&d->title, wr->term);
        if (x > 0)
            sh[n++] = (shared){d->strings.p + wr->off, x};
    }
    qsort(sh, n, sizeof *sh, by_shared);
    r->n_shared_terms = 0;
    for (size_t i = 0; i < n && r->n_shared_terms < ST_SHOW; i++)
        r->shared_terms[r->n_shared_terms++] = sh[i].s;
}

/* Is the (folded) word one of the words of a name shown? ("karabakh" says
 * nothing "Nagorno-Karabakh" has not said.) */
static bool in_names(const st_result *r, int names, const char *word)
{
    size_t wl = strlen(word);
    char fold[512];
    for (int i = 0; i < names; i++) {
        size_t n = st_fold_name(r->terms[i], strlen(r->terms[i]), fold, sizeof fold);
        for (size_t a = 0; a + wl <= n; a++)
            if (!memcmp(fold + a, word, wl) && (a == 0 || !isalnum((unsigned char)fold[a - 1])) &&
                (a + wl == n || !isalnum((unsigned char)fold[a + wl])))
                return true;
    }
    return false;
}

static void describe(const story *s, st_result *r)
{
    r->story = s->id;
    r->label = s->label ? s->label : "";
    r->n_terms = 0;
    /* names first (they tell a story apart best), then words */
    int names = 0;
    for (uint32_t i = 0; i < s->n_show && names < ST_TERMS / 2; i++)
        if (s->show[i].name)
            r->terms[r->n_terms++] = s->show[i].s, names++;
    for (uint32_t i = 0; i < s->n_show && r->n_terms < ST_TERMS; i++)
        if (!s->show[i].name && !in_names(r, names, s->show[i].s))
            r->terms[r->n_terms++] = s->show[i].s;
}

/* ---- the online step --------------------------------------------------------------- */

int st_engine_add(st_engine *e, const st_input *in_raw, st_result *r)
{
    memset(r, 0, sizeof *r);
    r->days_apart = ST_NO_DATE;
    st_input in = *in_raw;
    prepare(e, &in);
    /* the same document again: its story, unchanged */
    uint64_t *m = st_map_get(&e->members, st__hash_id(in.id));
    story *s = m ? st__slot_story(e, *m) : NULL;
    if (s) {
        r->seen_before = true;
        describe(s, r);
        return 0;
    }
    if (advance(e, in.date) != 0)
        return -4;
    e->docs++;
    if (build_doc(e, &in) != 0)
        return -4;
    /* a near copy goes where its original went, without a vote */
    m = in.copy_of ? st_map_get(&e->members, st__hash_id(in.copy_of)) : NULL;
    s = m ? st__slot_story(e, *m) : NULL;
    if (s) {
        widen_dates(s, e->d.date);
        add_source(s, e->d.source);
        s->size++;
        s->seq = ++e->seq;
        s->dirty = true;
        register_grams(e, s);
        if (!add_member(e, s, in.id))
            return -4;
        r->copy = true;
        r->score = 1;
        describe(s, r);
        return 0;
    }
    if (candidates(e) != 0)
        return -4;
    size_t nc = top_candidates(e);
    story *best = NULL;
    double best_p = -1, best_f[ST_NF];
    int best_set = 1;
    for (size_t i = 0; i < nc; i++) {
        story *c = &e->stories[e->cands[i].slot];
        double f[ST_NF];
        int set = features(e, c, e->cands[i].shared, f);
        double p = sigmoid(score(e, f, set));
        if (p > best_p || (p == best_p && best && c->seq > best->seq)) {
            best_p = p;
            best = c;
            memcpy(best_f, f, sizeof f);
            best_set = set;
        }
    }
    if (best && best_p >= e->threshold) {
        evidence(e, best, best_f, best_set, r);
        if (!join(e, best, &in))
            return -4;
        r->joined = true;
        r->score = best_p;
        describe(best, r);
        return 0;
    }
    s = open_story(e, &in, in.id);
    if (!s || !evict(e))
        return -4;
    describe(s, r);
    return 0;
}

int st_engine_add_gold(st_engine *e, const st_input *in_raw, const char *gold, st_feature_fn fn,
                       void *arg, bool *gold_open, bool *retrieved)
{
    st_input in = *in_raw;
    prepare(e, &in);
    *gold_open = *retrieved = false;
    if (advance(e, in.date) != 0)
        return -4;
    e->docs++;
    if (build_doc(e, &in) != 0)
        return -4;
    uint64_t *g = st_map_get(&e->ids, st__hash_id(gold));
    story *gs = g ? st__slot_story(e, *g) : NULL;
    if (gs && !in_window(e, gs, e->d.date))
        gs = NULL;
    *gold_open = gs != NULL;
    if (candidates(e) != 0)
        return -4;
    size_t nc = top_candidates(e);
    for (size_t i = 0; i < nc; i++) {
        story *c = &e->stories[e->cands[i].slot];
        double f[ST_NF];
        int set = features(e, c, e->cands[i].shared, f);
        fn(arg, f, set, c == gs);
        if (c == gs)
            *retrieved = true;
    }
    if (gs)
        return join(e, gs, &in) ? 0 : -4;
    story *s = open_story(e, &in, gold);
    return s && evict(e) ? 0 : -4;
}

/* ---- statistics -------------------------------------------------------------------- */

void st_engine_stats(const st_engine *e, st_stats *st)
{
    memset(st, 0, sizeof *st);
    st->open = e->n_open;
    st->opened = e->opened;
    st->closed = e->n_closed_total;
    for (size_t i = 0; i < e->n_slots; i++) {
        const story *s = &e->stories[i];
        if (!s->id)
            continue;
        size_t b = sizeof *s + strlen(s->id) + 1 + sv_bytes(&s->title) + sv_bytes(&s->body) +
                   sv_bytes(&s->names) + sv_bytes(&s->label_vec) +
                   (s->label ? strlen(s->label) + 1 : 0) + s->cap_members * sizeof(uint64_t);
        for (uint32_t k = 0; k < s->n_show; k++)
            b += strlen(s->show[k].s) + 1;
        st->story_bytes += b;
    }
    size_t ib = st_map_bytes(&e->keys) + e->cap_lists * sizeof(plist) +
                (e->cap_slots - e->n_slots) * sizeof(story) + st_map_bytes(&e->ids) +
                st_map_bytes(&e->members);
    for (size_t i = 0; i < e->n_lists; i++)
        ib += e->lists[i].cap * sizeof(uint64_t);
    st->index_bytes = ib;
    st->df_bytes = df_bytes(&e->df) + st_terms_bytes(e->terms);
    st->grams_bytes = ((size_t)1 << GRAMS_BITS) * sizeof *e->grams;
    st->bytes = st->story_bytes + st->index_bytes + st->df_bytes + st->grams_bytes;
}

