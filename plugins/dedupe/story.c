#include "story.h"

#include "map.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

typedef struct entry {
    char *id, *story;
    story_feats f;
    uint64_t seq;
} entry;

/* posting lists: term hash -> window positions */
typedef struct posting {
    uint64_t key;
    uint32_t *pos;
    uint32_t n, cap;
} posting;

struct story_index {
    const tm_host *h;
    size_t window;
    int max_days;
    double threshold;
    entry *ring;
    uint64_t seq; /* documents added so far */
    posting *post;
    size_t post_cap, post_used;
    u64map df; /* document frequency of name terms over everything seen */
};

/* ---- small hash tables ------------------------------------------------------------- */

static size_t slot_of(uint64_t k, size_t cap) { return (size_t)(k * 0x9E3779B97F4A7C15ull) & (cap - 1); }

static posting *post_slot(story_index *s, uint64_t key, bool add)
{
    if (add && (s->post_used + 1) * 4 > s->post_cap * 3) {
        size_t cap = s->post_cap ? s->post_cap * 2 : 4096;
        posting *n = calloc(cap, sizeof *n);
        if (!n)
            return NULL;
        for (size_t i = 0; i < s->post_cap; i++) {
            if (!s->post[i].key)
                continue;
            size_t j = slot_of(s->post[i].key, cap);
            while (n[j].key)
                j = (j + 1) & (cap - 1);
            n[j] = s->post[i];
        }
        free(s->post);
        s->post = n;
        s->post_cap = cap;
    }
    if (!s->post_cap)
        return NULL;
    size_t j = slot_of(key, s->post_cap);
    while (s->post[j].key && s->post[j].key != key)
        j = (j + 1) & (s->post_cap - 1);
    if (!s->post[j].key) {
        if (!add)
            return NULL;
        s->post[j].key = key;
        s->post_used++;
    }
    return &s->post[j];
}

story_index *story_new(const tm_host *h, size_t window, int max_days, double threshold)
{
    story_index *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->h = h;
    s->window = window;
    s->max_days = max_days;
    s->threshold = threshold;
    s->ring = calloc(window, sizeof *s->ring);
    if (!s->ring) {
        free(s);
        return NULL;
    }
    return s;
}

void story_feats_free(story_index *s, story_feats *f)
{
    (void)s;
    for (size_t i = 0; i < f->n_names; i++)
        free(f->name_text[i]);
    for (size_t i = 0; i < f->n_quote_text; i++)
        free(f->quote_text[i]);
    free(f->names);
    free(f->quotes);
    free(f->name_text);
    free(f->quote_text);
    memset(f, 0, sizeof *f);
}

void story_free(story_index *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->window; i++) {
        free(s->ring[i].id);
        free(s->ring[i].story);
        story_feats_free(s, &s->ring[i].f);
    }
    free(s->ring);
    for (size_t i = 0; i < s->post_cap; i++)
        free(s->post[i].pos);
    free(s->post);
    u64map_free(&s->df);
    free(s);
}

/* ---- features ------------------------------------------------------------------------ */

/* Capitalised words that start sentences or are function words, months and
 * days: not names. */
static const char *const not_names[] = {
    "a", "an", "the", "in", "on", "at", "of", "for", "to", "from", "by", "with", "and", "or",
    "but", "if", "as", "it", "its", "he", "she", "they", "we", "i", "you", "his", "her", "their",
    "our", "this", "that", "these", "those", "there", "here", "what", "when", "where", "which",
    "who", "why", "how", "after", "before", "since", "while", "during", "also", "however",
    "meanwhile", "according", "some", "many", "several", "both", "all", "one", "two", "no",
    "not", "is", "was", "are", "were", "be", "has", "have", "had", "will", "would", "can",
    "could", "should", "may", "might", "mr", "mrs", "ms", "dr", "president", "minister",
    "prime", "foreign", "defense", "defence", "general", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "june",
    "july", "august", "september", "october", "november", "december", "read", "more", "said",
    "says", "image", "photo", "source", "via", "share"};

static bool is_not_name(const char *w, size_t n)
{
    char low[16];
    if (n >= sizeof low)
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    low[n] = 0;
    for (size_t i = 0; i < sizeof not_names / sizeof *not_names; i++)
        if (!strcmp(low, not_names[i]))
            return true;
    return false;
}

typedef struct word {
    size_t a, b;
    bool cap, sentence_start;
} word;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct named {
    uint64_t h;
    char *text;
} named;

static int cmp_named(const void *a, const void *b)
{
    uint64_t x = ((const named *)a)->h, y = ((const named *)b)->h;
    return x < y ? -1 : x > y;
}

static uint64_t fold_hash(const char *s, size_t n)
{
    utf8proc_uint8_t *f = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &f,
                                      UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE | UTF8PROC_STRIPMARK |
                                          UTF8PROC_STABLE);
    uint64_t h = m > 0 ? XXH3_64bits(f, (size_t)m) : XXH3_64bits(s, n);
    free(f);
    return h ? h : 1;
}

static int days_from_iso(const char *s, size_t n)
{
    int y, m, d;
    if (n < 10 || sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    /* days from civil (Howard Hinnant's formula) */
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool quote_open(const unsigned char *p, size_t *len)
{
    /* “ (E2 80 9C), « (C2 AB), „ (E2 80 9E), " */
    if (p[0] == '"') return *len = 1, true;
    if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x9C || p[2] == 0x9E)) return *len = 3, true;
    if (p[0] == 0xC2 && p[1] == 0xAB) return *len = 2, true;
    return false;
}

static bool quote_close(const unsigned char *p, size_t *len)
{
    if (p[0] == '"') return *len = 1, true;
    if (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x9D) return *len = 3, true;
    if (p[0] == 0xC2 && p[1] == 0xBB) return *len = 2, true;
    return false;
}

static bool push_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 32;
        uint64_t *g = realloc(*v, c * sizeof *g);
        if (!g)
            return false;
        *v = g;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return true;
}

int story_features(story_index *s, const tm_doc *d, story_feats *f)
{
    memset(f, 0, sizeof *f);
    f->date = -1;
    const tm_meta *dm = s->h->meta_get(d, "date");
    if (dm && dm->type == TM_META_STRING)
        f->date = days_from_iso(dm->value, dm->len);
    const unsigned char *t = (const unsigned char *)d->text;
    size_t n = d->text_len, names_cap = 0, quotes_cap = 0;
    char **ntext = NULL;
    size_t ntext_cap = 0;
    /* words, with capitalisation and sentence starts */
    word *w = NULL;
    size_t nw = 0, wcap = 0;
    bool start = true;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(t + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0)
            l = 1, cp = ' ';
        utf8proc_category_t c = utf8proc_category(cp);
        bool letter = (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                      c == UTF8PROC_CATEGORY_ND;
        if (!letter) {
            if (cp == '.' || cp == '!' || cp == '?' || cp == '\n' || cp == ':' || cp == 0x201C ||
                cp == '"')
                start = true;
            i += (size_t)l;
            continue;
        }
        size_t a = i;
        bool cap = c == UTF8PROC_CATEGORY_LU;
        while (i < n) {
            l = utf8proc_iterate(t + i, (utf8proc_ssize_t)(n - i), &cp);
            if (l <= 0)
                break;
            c = utf8proc_category(cp);
            if (!((c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                  c == UTF8PROC_CATEGORY_ND || cp == '-'))
                break;
            i += (size_t)l;
        }
        if (nw == wcap) {
            wcap = wcap ? wcap * 2 : 256;
            word *g = realloc(w, wcap * sizeof *g);
            if (!g) {
                free(w);
                return TM_ENOMEM;
            }
            w = g;
        }
        w[nw++] = (word){a, i, cap, start};
        start = false;
    }
    /* names: runs of capitalised words (1 to 4), not function words; a
     * single word at a sentence start is not taken (it may be any word) */
    for (size_t i = 0; i < nw;) {
        if (!w[i].cap || is_not_name(d->text + w[i].a, w[i].b - w[i].a)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < nw && j - i < 4 && w[j].cap && !w[j].sentence_start &&
               !is_not_name(d->text + w[j].a, w[j].b - w[j].a) && w[j].a - w[j - 1].b <= 1)
            j++;
        if (!(j - i == 1 && w[i].sentence_start)) {
            size_t a = w[i].a, b = w[j - 1].b;
            uint64_t hsh = fold_hash(d->text + a, b - a);
            if (!push_u64(&f->names, &f->n_names, &names_cap, hsh))
                goto oom;
            if (f->n_names > ntext_cap) {
                ntext_cap = names_cap;
                char **g = realloc(ntext, ntext_cap * sizeof *g);
                if (!g)
                    goto oom;
                ntext = g;
            }
            ntext[f->n_names - 1] = strndup(d->text + a, b - a);
        }
        i = j;
    }
    /* quotations of six words or more: their word 4-grams */
    for (size_t i = 0; i < n; i++) {
        size_t ol, cl = 1;
        if (!quote_open(t + i, &ol))
            continue;
        size_t j = i + ol;
        while (j < n && t[j] != '\n' && !quote_close(t + j, &cl))
            j++;
        if (j >= n || t[j] == '\n') {
            i = j;
            continue;
        }
        /* the words inside [i + ol, j): found by binary search, so that a
         * text with many quotations stays linear-logarithmic */
        size_t lo = 0, hi = nw;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (w[mid].a < i + ol)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t first = lo, last = lo;
        while (last + 1 < nw && w[last + 1].b <= j)
            last++;
        if (first >= nw || w[first].b > j)
            first = nw;
        if (first < nw && last >= first + 5) {
            for (size_t k = first; k + 3 <= last; k++) {
                uint64_t g = 0;
                for (size_t q = k; q < k + 4; q++)
                    g = g * 0x100000001B3ull ^ fold_hash(d->text + w[q].a, w[q].b - w[q].a);
                if (!push_u64(&f->quotes, &f->n_quotes, &quotes_cap, g ? g : 1))
                    goto oom;
            }
            char **g = realloc(f->quote_text, (f->n_quote_text + 1) * sizeof *g);
            if (!g)
                goto oom;
            f->quote_text = g;
            size_t qa = w[first].a, qb = w[last].b < w[first].a + 120 ? w[last].b : w[first].a + 120;
            while (qb > qa && (t[qb] & 0xC0) == 0x80)
                qb--;
            f->quote_text[f->n_quote_text++] = strndup(d->text + qa, qb - qa);
        }
        i = j + cl - 1;
    }
    free(w);
    /* sort names (keeping their text) and drop repeats */
    if (f->n_names > 1) {
        named *pairs = malloc(f->n_names * sizeof *pairs);
        if (!pairs)
            goto oom;
        for (size_t i = 0; i < f->n_names; i++)
            pairs[i] = (named){f->names[i], ntext[i]};
        qsort(pairs, f->n_names, sizeof *pairs, cmp_named);
        for (size_t i = 0; i < f->n_names; i++) {
            f->names[i] = pairs[i].h;
            ntext[i] = pairs[i].text;
        }
        free(pairs);
    }
    size_t u = 0;
    for (size_t i = 0; i < f->n_names; i++) {
        if (u && f->names[u - 1] == f->names[i]) {
            free(ntext[i]);
            continue;
        }
        f->names[u] = f->names[i];
        ntext[u++] = ntext[i];
    }
    f->n_names = u;
    f->name_text = ntext;
    if (f->n_quotes > 1)
        qsort(f->quotes, f->n_quotes, sizeof *f->quotes, cmp_u64);
    u = 0;
    for (size_t i = 0; i < f->n_quotes; i++)
        if (!u || f->quotes[u - 1] != f->quotes[i])
            f->quotes[u++] = f->quotes[i];
    f->n_quotes = u;
    return TM_OK;
oom:
    free(w);
    f->name_text = ntext;
    story_feats_free(s, f);
    return TM_ENOMEM;
}

/* ---- matching ----------------------------------------------------------------------------- */

static double idf(story_index *s, uint64_t key)
{
    uint32_t *df = u64map_get(&s->df, key, false, 0);
    double N = (double)s->seq + 1.0;
    return log(N / ((df ? *df : 0) + 0.5));
}

static size_t shared(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, size_t *ia_out,
                     size_t max_out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            if (ia_out && k < max_out)
                ia_out[k] = i;
            k++, i++, j++;
        }
    }
    return k;
}

static void json_str(char **p, size_t *len, size_t *cap, const char *s)
{
    size_t need = strlen(s) * 6 + 4;
    if (*len + need >= *cap) {
        *cap = (*len + need) * 2;
        *p = realloc(*p, *cap);
    }
    char *o = *p + *len;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            *o++ = '\\', *o++ = (char)*c;
        else if (*c < 0x20)
            o += sprintf(o, "\\u%04x", *c);
        else
            *o++ = (char)*c;
    }
    *o++ = '"';
    *o = 0;
    *len = (size_t)(o - *p);
}

static void append(char **p, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 >= *cap) {
        *cap = (*len + n + 1) * 2;
        *p = realloc(*p, *cap);
    }
    memcpy(*p + *len, s, n + 1);
    *len += n;
}

int story_find(story_index *s, const story_feats *f, story_match *m)
{
    memset(m, 0, sizeof *m);
    /* candidates: window documents sharing a name or a quotation n-gram */
    size_t n_cand = 0, cap = 0;
    uint64_t *cand = NULL;
    for (int kind = 0; kind < 2; kind++) {
        const uint64_t *keys = kind ? f->quotes : f->names;
        size_t nk = kind ? f->n_quotes : f->n_names;
        for (size_t i = 0; i < nk; i++) {
            posting *p = post_slot(s, keys[i] ^ (uint64_t)kind, false);
            for (uint32_t k = 0; p && k < p->n; k++)
                if (!push_u64(&cand, &n_cand, &cap, p->pos[k]))
                    return free(cand), TM_ENOMEM;
        }
    }
    if (n_cand > 1)
        qsort(cand, n_cand, sizeof *cand, cmp_u64);
    double best = 0;
    const entry *best_e = NULL;
    size_t best_names = 0, best_quotes = 0;
    for (size_t c = 0; c < n_cand; c++) {
        if (c && cand[c] == cand[c - 1])
            continue;
        uint64_t seq = cand[c];
        if (seq + s->window < s->seq + 1 || seq >= s->seq)
            continue;
        const entry *e = &s->ring[seq % s->window];
        if (e->seq != seq || !e->id)
            continue;
        if (s->max_days >= 0 && f->date >= 0 && e->f.date >= 0 &&
            abs(f->date - e->f.date) > s->max_days)
            continue;
        /* rarity-weighted overlap of names */
        double inter = 0, uni = 0;
        size_t i = 0, j = 0, sn = 0;
        while (i < f->n_names || j < e->f.n_names) {
            if (j >= e->f.n_names || (i < f->n_names && f->names[i] < e->f.names[j]))
                uni += idf(s, f->names[i++]);
            else if (i >= f->n_names || e->f.names[j] < f->names[i])
                uni += idf(s, e->f.names[j++]);
            else {
                double w = idf(s, f->names[i]);
                inter += w, uni += w, sn++;
                i++, j++;
            }
        }
        double wj = uni > 0 ? inter / uni : 0;
        size_t sq = shared(f->quotes, f->n_quotes, e->f.quotes, e->f.n_quotes, NULL, 0);
        /* a shared quotation (three 4-grams: a sentence, not a phrase) with
         * shared names; or a strong overlap of rare names alone */
        bool same = (sq >= 3 && sn >= 2 && wj >= s->threshold / 3) ||
                    (wj >= s->threshold && sn >= 5);
        double score = wj + (sq >= 3 ? 0.5 : 0);
        if (same && score > best) {
            best = score;
            best_e = e;
            best_names = sn;
            best_quotes = sq;
        }
    }
    free(cand);
    if (!best_e)
        return TM_OK;
    m->story = strdup(best_e->story);
    m->with = strdup(best_e->id);
    m->score = best;
    m->shared_names = best_names;
    m->shared_quote_grams = best_quotes;
    /* the evidence, as JSON: what the two documents share */
    char *j = NULL;
    size_t len = 0, cap2 = 0;
    char num[64];
    append(&j, &len, &cap2, "{\"with\":");
    json_str(&j, &len, &cap2, best_e->id);
    snprintf(num, sizeof num, ",\"score\":%.3f,\"names\":[", best);
    append(&j, &len, &cap2, num);
    size_t idx[12];
    size_t k = shared(f->names, f->n_names, best_e->f.names, best_e->f.n_names, idx, 12);
    /* the rarest shared names first would be nicer; document order is fine */
    for (size_t q = 0; q < k && q < 12; q++) {
        if (q)
            append(&j, &len, &cap2, ",");
        json_str(&j, &len, &cap2, f->name_text[idx[q]]);
    }
    append(&j, &len, &cap2, "],\"quotes\":[");
    size_t nq = 0;
    for (size_t q = 0; q < f->n_quote_text && best_quotes; q++) {
        if (nq++)
            append(&j, &len, &cap2, ",");
        json_str(&j, &len, &cap2, f->quote_text[q]);
    }
    append(&j, &len, &cap2, "]");
    if (f->date >= 0 && best_e->f.date >= 0) {
        snprintf(num, sizeof num, ",\"days_apart\":%d", abs(f->date - best_e->f.date));
        append(&j, &len, &cap2, num);
    }
    append(&j, &len, &cap2, "}");
    m->evidence = j;
    return TM_OK;
}

int story_add(story_index *s, const char *id, const char *story, story_feats *f)
{
    entry *e = &s->ring[s->seq % s->window];
    free(e->id);
    free(e->story);
    story_feats_free(s, &e->f);
    e->id = strdup(id);
    e->story = strdup(story);
    e->f = *f;
    e->seq = s->seq;
    memset(f, 0, sizeof *f);
    for (int kind = 0; kind < 2; kind++) {
        const uint64_t *keys = kind ? e->f.quotes : e->f.names;
        size_t nk = kind ? e->f.n_quotes : e->f.n_names;
        for (size_t i = 0; i < nk; i++) {
            if (!kind) {
                uint32_t *df = u64map_get(&s->df, keys[i], true, 0);
                if (df)
                    (*df)++;
            }
            posting *p = post_slot(s, keys[i] ^ (uint64_t)kind, true);
            if (!p)
                return TM_ENOMEM;
            /* forget positions that left the window */
            uint32_t kept = 0;
            for (uint32_t k = 0; k < p->n; k++)
                if (p->pos[k] + s->window > s->seq)
                    p->pos[kept++] = p->pos[k];
            p->n = kept;
            if (p->n == p->cap) {
                uint32_t c = p->cap ? p->cap * 2 : 4;
                uint32_t *g = realloc(p->pos, c * sizeof *g);
                if (!g)
                    return TM_ENOMEM;
                p->pos = g;
                p->cap = c;
            }
            p->pos[p->n++] = (uint32_t)s->seq;
        }
    }
    s->seq++;
    return TM_OK;
}

const char *story_of(story_index *s, const char *id)
{
    size_t n = s->seq < s->window ? s->seq : s->window;
    for (size_t k = 0; k < n; k++) {
        const entry *e = &s->ring[(s->seq - 1 - k) % s->window];
        if (e->id && !strcmp(e->id, id))
            return e->story;
    }
    return NULL;
}

void story_match_free(story_index *s, story_match *m)
{
    (void)s;
    free(m->story);
    free(m->with);
    free(m->evidence);
    memset(m, 0, sizeof *m);
}
