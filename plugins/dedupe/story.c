#include "story.h"

#include "map.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

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

typedef struct entry {
    char *id, *story;
    story_feats f;
    uint64_t seq;
} entry;

#define DAY_INLINE 2
/* The window documents of one date (or of none: -1) that use a term, in
 * the order they came: seq[head, n). The oldest leaves the window first. */
typedef struct day_list {
    int32_t day;
    uint32_t head, n, cap;
    union {
        uint32_t *heap;            /* cap > DAY_INLINE */
        uint32_t inl[DAY_INLINE];  /* most terms have one document a day */
    } seq;
} day_list;

static inline uint32_t *seqs(day_list *l) { return l->cap > DAY_INLINE ? l->seq.heap : l->seq.inl; }

/* Posting lists: term hash -> the window documents that use it, by date, so
 * that a dated document's candidates are the few of the days around its
 * own (a common name is in thousands of documents of other days). */
typedef struct posting {
    uint64_t key;
    day_list *days; /* sorted by day; -1 (no date) first */
    uint32_t n_days, cap_days;
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
    u64map by_id; /* hash of an id -> the seq of the last document with it */
    /* story_find's tallies, per window slot: how many of the new document's
     * names and quotation 4-grams the window document at that slot shares */
    uint64_t *tally_stamp; /* the find that last set the slot's tally */
    uint32_t *tally_names, *tally_quotes;
    uint64_t finds;
    uint32_t *touched; /* the seqs tallied by this find */
    size_t touched_cap;
    const char *stop[sizeof not_names / sizeof *not_names]; /* not_names, sorted */
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

/* Removes an (empty) posting list: linear probing's deletion, moving back
 * the entries after it that would no longer be found. */
static void post_remove(story_index *s, posting *p)
{
    size_t mask = s->post_cap - 1, i = (size_t)(p - s->post);
    free(p->days);
    for (size_t j = (i + 1) & mask; s->post[j].key; j = (j + 1) & mask) {
        size_t k = slot_of(s->post[j].key, s->post_cap);
        /* the entry at j may move to i if its home is not in (i, j] */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            s->post[i] = s->post[j];
            i = j;
        }
    }
    memset(&s->post[i], 0, sizeof s->post[i]);
    s->post_used--;
}

/* The first of p's days that is >= day (p->n_days when none is). */
static uint32_t day_at(const posting *p, int32_t day)
{
    uint32_t lo = 0, hi = p->n_days;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (p->days[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
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
    s->tally_stamp = calloc(window, sizeof *s->tally_stamp);
    s->tally_names = malloc(window * sizeof *s->tally_names);
    s->tally_quotes = malloc(window * sizeof *s->tally_quotes);
    if (!s->ring || !s->tally_stamp || !s->tally_names || !s->tally_quotes) {
        story_free(s);
        return NULL;
    }
    memcpy(s->stop, not_names, sizeof s->stop);
    qsort(s->stop, sizeof s->stop / sizeof *s->stop, sizeof *s->stop, cmp_str);
    return s;
}

void story_feats_free(story_index *s, story_feats *f)
{
    (void)s;
    free(f->names);
    free(f->quotes);
    free(f->name_span);
    free(f->quote_span);
    memset(f, 0, sizeof *f);
}

void story_free(story_index *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->ring && i < s->window; i++) {
        free(s->ring[i].id);
        free(s->ring[i].story);
        story_feats_free(s, &s->ring[i].f);
    }
    free(s->ring);
    for (size_t i = 0; i < s->post_cap; i++) {
        for (uint32_t d = 0; d < s->post[i].n_days; d++)
            if (s->post[i].days[d].cap > DAY_INLINE)
                free(s->post[i].days[d].seq.heap);
        free(s->post[i].days);
    }
    free(s->post);
    u64map_free(&s->df);
    u64map_free(&s->by_id);
    free(s->tally_stamp);
    free(s->tally_names);
    free(s->tally_quotes);
    free(s->touched);
    free(s);
}

/* ---- features ------------------------------------------------------------------------ */

static bool is_not_name(const story_index *s, const char *w, size_t n)
{
    char low[16];
    if (n >= sizeof low)
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    low[n] = 0;
    const char *key = low;
    return bsearch(&key, s->stop, sizeof s->stop / sizeof *s->stop, sizeof *s->stop, cmp_str);
}

typedef struct word {
    size_t a, b;
    bool cap, sentence_start;
    uint64_t h; /* fold_hash of the word, 0 until a quotation needs it */
} word;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct named {
    uint64_t h;
    size_t i; /* where the name was found */
} named;

static int cmp_named(const void *a, const void *b)
{
    uint64_t x = ((const named *)a)->h, y = ((const named *)b)->h;
    return x < y ? -1 : x > y;
}

static uint64_t fold_hash(const char *s, size_t n)
{
    /* ASCII folds to its lower case (and has no marks): utf8proc is needed
     * only for the rest */
    char low[64];
    if (n <= sizeof low) {
        size_t i = 0;
        for (; i < n && (unsigned char)s[i] < 0x80; i++)
            low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        if (i == n) {
            uint64_t h = XXH3_64bits(low, n);
            return h ? h : 1;
        }
    }
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

enum { OTHER, LETTER, UPPER }; /* UPPER: a letter of category Lu; LETTER: any other or a digit */

/* The class of the character at p (n > 0 bytes left), its code point and
 * its length; an invalid byte is one space. ASCII without utf8proc. */
static inline int char_class(const unsigned char *p, size_t n, utf8proc_int32_t *cp, size_t *len)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        *len = 1;
        return p[0] >= 'A' && p[0] <= 'Z'                                          ? UPPER
               : (p[0] >= 'a' && p[0] <= 'z') || (p[0] >= '0' && p[0] <= '9') ? LETTER
                                                                                : OTHER;
    }
    utf8proc_ssize_t l = utf8proc_iterate(p, (utf8proc_ssize_t)n, cp);
    if (l <= 0) {
        *cp = ' ';
        *len = 1;
        return OTHER;
    }
    *len = (size_t)l;
    utf8proc_category_t c = utf8proc_category(*cp);
    return c == UTF8PROC_CATEGORY_LU ? UPPER
           : (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || c == UTF8PROC_CATEGORY_ND
               ? LETTER
               : OTHER;
}

int story_features(story_index *s, const tm_doc *d, story_feats *f)
{
    memset(f, 0, sizeof *f);
    f->date = -1;
    f->text = d->text;
    const tm_meta *dm = s->h->meta_get(d, "date");
    if (dm && dm->type == TM_META_STRING)
        f->date = days_from_iso(dm->value, dm->len);
    const unsigned char *t = (const unsigned char *)d->text;
    size_t n = d->text_len, names_cap = 0, quotes_cap = 0, span_cap = 0;
    /* words, with capitalisation and sentence starts */
    word *w = NULL;
    size_t nw = 0, wcap = 0;
    bool start = true;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        size_t l;
        int cls = char_class(t + i, n - i, &cp, &l);
        if (cls == OTHER) {
            if (cp == '.' || cp == '!' || cp == '?' || cp == '\n' || cp == ':' || cp == 0x201C ||
                cp == '"')
                start = true;
            i += l;
            continue;
        }
        size_t a = i;
        for (i += l; i < n; i += l)
            if (char_class(t + i, n - i, &cp, &l) == OTHER && cp != '-')
                break;
        if (nw == wcap) {
            wcap = wcap ? wcap * 2 : 256;
            word *g = realloc(w, wcap * sizeof *g);
            if (!g) {
                free(w);
                return TM_ENOMEM;
            }
            w = g;
        }
        w[nw++] = (word){a, i, cls == UPPER, start, 0};
        start = false;
    }
    /* names: runs of capitalised words (1 to 4), not function words; a
     * single word at a sentence start is not taken (it may be any word) */
    for (size_t i = 0; i < nw;) {
        if (!w[i].cap || is_not_name(s, d->text + w[i].a, w[i].b - w[i].a)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < nw && j - i < 4 && w[j].cap && !w[j].sentence_start &&
               !is_not_name(s, d->text + w[j].a, w[j].b - w[j].a) && w[j].a - w[j - 1].b <= 1)
            j++;
        if (!(j - i == 1 && w[i].sentence_start)) {
            size_t a = w[i].a, b = w[j - 1].b;
            uint64_t hsh = fold_hash(d->text + a, b - a);
            if (!push_u64(&f->names, &f->n_names, &names_cap, hsh))
                goto oom;
            if (f->n_names > span_cap) {
                span_cap = names_cap;
                story_span *g = realloc(f->name_span, span_cap * sizeof *g);
                if (!g)
                    goto oom;
                f->name_span = g;
            }
            f->name_span[f->n_names - 1] = (story_span){a, b};
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
            for (size_t q = first; q <= last; q++)
                if (!w[q].h)
                    w[q].h = fold_hash(d->text + w[q].a, w[q].b - w[q].a);
            for (size_t k = first; k + 3 <= last; k++) {
                uint64_t g = 0;
                for (size_t q = k; q < k + 4; q++)
                    g = g * 0x100000001B3ull ^ w[q].h;
                if (!push_u64(&f->quotes, &f->n_quotes, &quotes_cap, g ? g : 1))
                    goto oom;
            }
            story_span *g = realloc(f->quote_span, (f->n_quote_text + 1) * sizeof *g);
            if (!g)
                goto oom;
            f->quote_span = g;
            size_t qa = w[first].a, qb = w[last].b < w[first].a + 120 ? w[last].b : w[first].a + 120;
            while (qb > qa && (t[qb] & 0xC0) == 0x80)
                qb--;
            f->quote_span[f->n_quote_text++] = (story_span){qa, qb};
        }
        i = j + cl - 1;
    }
    free(w);
    w = NULL;
    /* sort names (keeping their place in the text) and drop repeats; the
     * sort is by hash alone, as it always was, so a name written two ways
     * keeps the same spelling for the evidence */
    if (f->n_names > 1) {
        named *pairs = malloc(f->n_names * sizeof *pairs);
        story_span *spans = malloc(f->n_names * sizeof *spans);
        if (!pairs || !spans) {
            free(pairs);
            free(spans);
            goto oom;
        }
        for (size_t i = 0; i < f->n_names; i++)
            pairs[i] = (named){f->names[i], i};
        qsort(pairs, f->n_names, sizeof *pairs, cmp_named);
        for (size_t i = 0; i < f->n_names; i++) {
            f->names[i] = pairs[i].h;
            spans[i] = f->name_span[pairs[i].i];
        }
        free(pairs);
        free(f->name_span);
        f->name_span = spans;
    }
    size_t u = 0;
    for (size_t i = 0; i < f->n_names; i++) {
        if (u && f->names[u - 1] == f->names[i])
            continue;
        f->names[u] = f->names[i];
        f->name_span[u++] = f->name_span[i];
    }
    f->n_names = u;
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
    story_feats_free(s, f);
    return TM_ENOMEM;
}

/* ---- matching ----------------------------------------------------------------------------- */

static uint64_t id_key(const char *id)
{
    uint64_t h = XXH3_64bits(id, strlen(id));
    return h ? h : 1;
}

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

/* Appends s[0, max) as a JSON string, up to a NUL if there is one. */
static void json_str(char **p, size_t *len, size_t *cap, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    size_t need = n * 6 + 4;
    if (*len + need >= *cap) {
        *cap = (*len + need) * 2;
        *p = realloc(*p, *cap);
    }
    char *o = *p + *len;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; c < (const unsigned char *)s + n; c++) {
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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Counts a term's documents of one day in their tallies (find's). */
static int tally_list(story_index *s, const day_list *l, uint32_t *tally, uint64_t find,
                      size_t *n_touched)
{
    for (uint32_t k = l->head; k < l->n; k++) {
        uint32_t seq = l->cap > DAY_INLINE ? l->seq.heap[k] : l->seq.inl[k];
        /* the oldest document of the window is not compared (it never was) */
        if ((uint64_t)seq + s->window <= s->seq)
            continue;
        size_t slot = seq % s->window;
        if (s->tally_stamp[slot] != find) {
            if (*n_touched == s->touched_cap) {
                size_t c = s->touched_cap ? s->touched_cap * 2 : 1024;
                uint32_t *g = realloc(s->touched, c * sizeof *g);
                if (!g)
                    return TM_ENOMEM;
                s->touched = g;
                s->touched_cap = c;
            }
            s->touched[(*n_touched)++] = seq;
            s->tally_stamp[slot] = find;
            s->tally_names[slot] = s->tally_quotes[slot] = 0;
        }
        tally[slot]++;
    }
    return TM_OK;
}

int story_find(story_index *s, const story_feats *f, story_match *m)
{
    memset(m, 0, sizeof *m);
    /* Candidates: window documents sharing a name or a quotation n-gram,
     * with how many of each they share, tallied from the posting lists in
     * one pass. A document can only join with two shared names, and five
     * without three shared quotation 4-grams: the (many) candidates that
     * share a common name or two are never compared. */
    uint64_t find = ++s->finds;
    size_t n_touched = 0;
    /* documents more than max_days apart are never one story (when both
     * have a date): only the undated and the days [lo, hi] are looked at */
    bool dated = s->max_days >= 0 && f->date >= 0;
    int32_t lo = f->date - s->max_days, hi = f->date + s->max_days;
    for (int kind = 0; kind < 2; kind++) {
        const uint64_t *keys = kind ? f->quotes : f->names;
        size_t nk = kind ? f->n_quotes : f->n_names;
        uint32_t *tally = kind ? s->tally_quotes : s->tally_names;
        for (size_t i = 0; i < nk; i++) {
            posting *p = post_slot(s, keys[i] ^ (uint64_t)kind, false);
            if (!p)
                continue;
            uint32_t d = 0, end = p->n_days;
            if (dated) {
                if (p->days[0].day < 0 &&
                    tally_list(s, &p->days[0], tally, find, &n_touched) != TM_OK)
                    return TM_ENOMEM;
                d = day_at(p, lo < 0 ? 0 : lo);
                end = day_at(p, hi + 1);
            }
            for (; d < end; d++)
                if (tally_list(s, &p->days[d], tally, find, &n_touched) != TM_OK)
                    return TM_ENOMEM;
        }
    }
    /* the tallies can only be too high (two keys with one hash), never too
     * low: the candidates kept are compared in full below */
    size_t n_cand = 0;
    for (size_t c = 0; c < n_touched; c++) {
        size_t slot = s->touched[c] % s->window;
        uint32_t sn = s->tally_names[slot], sq = s->tally_quotes[slot];
        if (sn >= 5 || (sn >= 2 && sq >= 3))
            s->touched[n_cand++] = s->touched[c];
    }
    /* the earliest of equal scores wins */
    if (n_cand > 1)
        qsort(s->touched, n_cand, sizeof *s->touched, cmp_u32);
    double best = 0;
    const entry *best_e = NULL;
    size_t best_names = 0, best_quotes = 0;
    for (size_t c = 0; c < n_cand; c++) {
        uint64_t seq = s->touched[c];
        const entry *e = &s->ring[seq % s->window];
        if (e->seq != seq || !e->id)
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
    json_str(&j, &len, &cap2, best_e->id, SIZE_MAX);
    snprintf(num, sizeof num, ",\"score\":%.3f,\"names\":[", best);
    append(&j, &len, &cap2, num);
    size_t idx[12];
    size_t k = shared(f->names, f->n_names, best_e->f.names, best_e->f.n_names, idx, 12);
    /* the rarest shared names first would be nicer; document order is fine */
    for (size_t q = 0; q < k && q < 12; q++) {
        if (q)
            append(&j, &len, &cap2, ",");
        json_str(&j, &len, &cap2, f->text + f->name_span[idx[q]].a,
                 f->name_span[idx[q]].b - f->name_span[idx[q]].a);
    }
    append(&j, &len, &cap2, "],\"quotes\":[");
    size_t nq = 0;
    for (size_t q = 0; q < f->n_quote_text && best_quotes; q++) {
        if (nq++)
            append(&j, &len, &cap2, ",");
        json_str(&j, &len, &cap2, f->text + f->quote_span[q].a,
                 f->quote_span[q].b - f->quote_span[q].a);
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

/* Takes a document leaving the window out of its terms' posting lists: it
 * is the oldest of each list of its day. */
static void forget(story_index *s, const entry *e)
{
    int32_t day = e->f.date >= 0 ? e->f.date : -1;
    for (int kind = 0; kind < 2; kind++) {
        const uint64_t *keys = kind ? e->f.quotes : e->f.names;
        size_t nk = kind ? e->f.n_quotes : e->f.n_names;
        for (size_t i = 0; i < nk; i++) {
            posting *p = post_slot(s, keys[i] ^ (uint64_t)kind, false);
            uint32_t d = p ? day_at(p, day) : 0;
            if (!p || d == p->n_days || p->days[d].day != day)
                continue; /* gone already (two terms with one hash) */
            day_list *l = &p->days[d];
            while (l->head < l->n && seqs(l)[l->head] <= e->seq)
                l->head++;
            if (l->head < l->n)
                continue;
            if (l->cap > DAY_INLINE)
                free(l->seq.heap);
            memmove(p->days + d, p->days + d + 1, (p->n_days - d - 1) * sizeof *p->days);
            if (--p->n_days == 0)
                post_remove(s, p);
        }
    }
}

int story_add(story_index *s, const char *id, const char *story, story_feats *f)
{
    entry *e = &s->ring[s->seq % s->window];
    if (e->id)
        forget(s, e);
    free(e->id);
    free(e->story);
    story_feats_free(s, &e->f);
    e->id = strdup(id);
    e->story = strdup(story);
    e->f = *f;
    e->seq = s->seq;
    memset(f, 0, sizeof *f);
    /* the spans point into a text that is about to go */
    free(e->f.name_span);
    free(e->f.quote_span);
    e->f.name_span = e->f.quote_span = NULL;
    e->f.n_quote_text = 0;
    e->f.text = NULL;
    uint32_t *last = u64map_get(&s->by_id, id_key(id), true, 0);
    if (!last)
        return TM_ENOMEM;
    *last = (uint32_t)s->seq;
    int32_t day = e->f.date >= 0 ? e->f.date : -1;
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
            uint32_t d = day_at(p, day);
            if (d == p->n_days || p->days[d].day != day) {
                if (p->n_days == p->cap_days) {
                    uint32_t c = p->cap_days ? p->cap_days * 2 : 1;
                    day_list *g = realloc(p->days, c * sizeof *g);
                    if (!g)
                        return TM_ENOMEM;
                    p->days = g;
                    p->cap_days = c;
                }
                memmove(p->days + d + 1, p->days + d, (p->n_days - d) * sizeof *p->days);
                p->days[d] = (day_list){.day = day, .cap = DAY_INLINE};
                p->n_days++;
            }
            day_list *l = &p->days[d];
            if (l->n == l->cap) {
                if (l->head > l->n / 2) { /* reuse the room of documents gone */
                    memmove(seqs(l), seqs(l) + l->head, (l->n - l->head) * sizeof *seqs(l));
                    l->n -= l->head;
                    l->head = 0;
                } else {
                    uint32_t c = l->cap * 2;
                    uint32_t *g = realloc(l->cap > DAY_INLINE ? l->seq.heap : NULL, c * sizeof *g);
                    if (!g)
                        return TM_ENOMEM;
                    if (l->cap == DAY_INLINE)
                        memcpy(g, l->seq.inl, sizeof l->seq.inl);
                    l->seq.heap = g;
                    l->cap = c;
                }
            }
            seqs(l)[l->n++] = (uint32_t)s->seq;
        }
    }
    s->seq++;
    return TM_OK;
}

const char *story_of(story_index *s, const char *id)
{
    /* the last document with this id's hash is the last with this id,
     * unless two ids share a hash: then the window is searched */
    uint32_t *last = u64map_get(&s->by_id, id_key(id), false, 0);
    if (!last || (uint64_t)*last + s->window < s->seq)
        return NULL;
    const entry *le = &s->ring[*last % s->window];
    if (le->seq == *last && le->id && !strcmp(le->id, id))
        return le->story;
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
