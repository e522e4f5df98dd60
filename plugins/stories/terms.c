/* Text -> terms; see terms.h. Folding and stemming are the costly steps, so
 * each distinct raw word is folded and stemmed once and remembered in a
 * cache keyed by a hash of its bytes. */
#include "terms.h"

#include <libstemmer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

/* Common English function words: they say nothing about which story a text
 * tells. (Tense and number variants are covered by the stemmer.) */
static const char *const stop_words[] = {
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
    "any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down",
    "during", "each", "few", "for", "from", "further", "had", "has", "have", "having",
    "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
    "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
    "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or",
    "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should",
    "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves",
    "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
    "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves", "said", "says", "say", "told", "according", "mr", "mrs", "ms", "new",
    "one", "two", "may", "might", "must", "shall", "yet", "however", "since", "still",
    "even", "much", "many", "another", "around", "among", "within", "without", "via",
    "per", "s", "t", "don", "didn", "doesn", "isn", "wasn", "won", "can't", "us", "get",
    "got", "like", "make", "made", "way", "well", "back", "first", "last", "year",
    "years", "day", "days", "time", "week", "people", "according", "reported", "report",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "today", "yesterday", "tomorrow", "ago", "will", "image", "photo", "video", "copyright",
    "click", "read", "share", "advertisement", "email", "comments", NULL};

typedef struct cache_entry {
    uint32_t key;  /* hash of the raw word; 0 empty (32 bits: 16-byte entries
                    * keep more of the cache in the CPU's; a false match is
                    * about one per 10^9 words) */
    uint32_t term; /* 0: a stop word or nothing left */
    uint32_t word; /* offset of the folded word in `folded` */
    uint32_t fold; /* hash of the folded word, stop words too */
} cache_entry;

typedef struct slot {
    uint32_t term;
    uint32_t gen;
    uint32_t ix; /* index into out */
} slot;

struct st_terms {
    struct sb_stemmer *stem;
    cache_entry *cache;
    size_t cache_cap, cache_n;
    st_strings folded; /* the folded words the cache entries point into */
    uint64_t *stops; /* hashes of folded stop words, sorted */
    size_t n_stops;
    /* per call */
    st_term *out;
    size_t out_cap;
    slot *slots;
    size_t slot_cap;
    uint32_t gen;
    char *fold;
    size_t fold_cap;
    uint32_t *seq; /* the words in order */
    size_t n_seq, seq_cap;
};

#define CACHE_MAX (1u << 20) /* distinct raw words remembered; then start again */

const uint32_t *st_terms_sequence(const st_terms *t, size_t *n)
{
    *n = t->n_seq;
    return t->seq;
}

uint32_t st_hash(const char *s, size_t n, uint32_t kind)
{
    uint32_t h = (uint32_t)XXH3_64bits_withSeed(s, n, kind);
    return h ? h : 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool is_stop(const st_terms *t, const char *w, size_t n)
{
    uint64_t h = XXH3_64bits(w, n);
    size_t lo = 0, hi = t->n_stops;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->stops[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_stops && t->stops[lo] == h;
}

st_terms *st_terms_new(void)
{
    st_terms *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->stem = sb_stemmer_new("english", NULL);
    t->cache_cap = 1u << 12;
    t->cache = calloc(t->cache_cap, sizeof *t->cache);
    size_t n = 0;
    while (stop_words[n])
        n++;
    t->stops = malloc(n * sizeof *t->stops);
    if (!t->stem || !t->cache || !t->stops) {
        st_terms_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        t->stops[i] = XXH3_64bits(stop_words[i], strlen(stop_words[i]));
    qsort(t->stops, n, sizeof *t->stops, cmp_u64);
    t->n_stops = n;
    return t;
}

size_t st_terms_bytes(const st_terms *t)
{
    return t->cache_cap * sizeof *t->cache + t->folded.cap + t->seq_cap * sizeof *t->seq +
           t->slot_cap * sizeof *t->slots + t->out_cap * sizeof *t->out;
}

void st_terms_free(st_terms *t)
{
    if (!t)
        return;
    if (t->stem)
        sb_stemmer_delete(t->stem);
    free(t->cache);
    free(t->folded.p);
    free(t->stops);
    free(t->out);
    free(t->slots);
    free(t->fold);
    free(t->seq);
    free(t);
}

static size_t home(uint32_t key, size_t cap) { return (key * 2654435761u) & (cap - 1); }

static bool grow_cache(st_terms *t)
{
    size_t cap = t->cache_cap * 2;
    cache_entry *c = calloc(cap, sizeof *c);
    if (!c)
        return false;
    for (size_t i = 0; i < t->cache_cap; i++) {
        cache_entry *e = &t->cache[i];
        if (!e->key)
            continue;
        size_t j = home(e->key, cap);
        while (c[j].key)
            j = (j + 1) & (cap - 1);
        c[j] = *e;
    }
    free(t->cache);
    t->cache = c;
    t->cache_cap = cap;
    return true;
}

bool st_strings_add(st_strings *a, const char *s, size_t n, uint32_t *off)
{
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *p = realloc(a->p, cap);
        if (!p)
            return false;
        a->p = p;
        a->cap = cap;
    }
    *off = (uint32_t)a->len;
    memcpy(a->p + a->len, s, n);
    a->p[a->len + n] = 0;
    a->len += n + 1;
    return true;
}

size_t st_fold_name(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    bool ascii = true, any = false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            ascii = false;
    if (ascii) {
        if (n >= cap) /* does not fit: as the non-ASCII path, no name */
            return 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + 32);
            any |= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            out[o++] = (char)c;
        }
        return any ? o : 0;
    }
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |
                                          UTF8PROC_STRIPMARK);
    if (r <= 0 || (size_t)r >= cap) {
        free(m);
        return 0;
    }
    memcpy(out, m, (size_t)r);
    free(m);
    for (utf8proc_ssize_t i = 0; i < r; i++)
        any |= out[i] != ' ';
    return any ? (size_t)r : 0;
}

/* The cache entry of a raw word: folded, checked against the stop words
 * and stemmed on first sight. NULL when memory runs out. */
static cache_entry *lookup(st_terms *t, const char *w, size_t n)
{
    uint32_t key = (uint32_t)XXH3_64bits(w, n);
    key = key ? key : 1;
    size_t j = home(key, t->cache_cap);
    while (t->cache[j].key) {
        if (t->cache[j].key == key)
            return &t->cache[j];
        j = (j + 1) & (t->cache_cap - 1);
    }
    if ((t->cache_n + 1) * 2 > t->cache_cap) { /* half full at most: short probes */
        if (!grow_cache(t))
            return NULL;
        return lookup(t, w, n);
    }
    if (n + 1 > t->fold_cap) {
        char *f = realloc(t->fold, n * 4 + 16);
        if (!f)
            return NULL;
        t->fold = f;
        t->fold_cap = n * 4 + 16;
    }
    size_t fl = st_fold_name(w, n, t->fold, t->fold_cap);
    cache_entry e = {.key = key, .fold = fl ? st_hash(t->fold, fl, 5) : 0};
    /* one-character words and stop words carry no story */
    if (fl > 1 && !is_stop(t, t->fold, fl)) {
        const sb_symbol *st = sb_stemmer_stem(t->stem, (const sb_symbol *)t->fold, (int)fl);
        int sl = st ? sb_stemmer_length(t->stem) : 0;
        if (sl > 0) {
            e.term = st_hash((const char *)st, (size_t)sl, 1);
            if (!st_strings_add(&t->folded, t->fold, fl, &e.word))
                return NULL;
        }
    }
    t->cache[j] = e;
    t->cache_n++;
    return &t->cache[j];
}

static bool add_term(st_terms *t, uint32_t term, uint32_t word, size_t *n_out)
{
    size_t j = term & (t->slot_cap - 1);
    while (t->slots[j].gen == t->gen) {
        if (t->slots[j].term == term) {
            t->out[t->slots[j].ix].count++;
            return true;
        }
        j = (j + 1) & (t->slot_cap - 1);
    }
    if (*n_out == t->out_cap) {
        size_t cap = t->out_cap ? t->out_cap * 2 : 256;
        st_term *o = realloc(t->out, cap * sizeof *o);
        if (!o)
            return false;
        t->out = o;
        t->out_cap = cap;
    }
    /* words are stored as offsets until the end: `folded` may move */
    t->out[*n_out] = (st_term){.term = term, .count = 1, .word = (const char *)(uintptr_t)word};
    t->slots[j] = (slot){.term = term, .gen = t->gen, .ix = (uint32_t)*n_out};
    (*n_out)++;
    return true;
}

static bool is_alnum(unsigned char c)
{
    return (unsigned)((c | 32) - 'a') < 26u || (unsigned)(c - '0') < 10u;
}

static bool word_char(utf8proc_int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

long st_terms_of(st_terms *t, const char *text, size_t len, size_t max_words, st_term **out)
{
    if (t->cache_n > CACHE_MAX) { /* a vocabulary this large is mostly noise: start again */
        memset(t->cache, 0, t->cache_cap * sizeof *t->cache);
        t->cache_n = 0;
        t->folded.len = 0;
    }
    /* at most one distinct term per word: size the table for the words */
    /* a word takes two bytes at least (a letter and a separator) */
    size_t words_max = len / 2 + 1;
    if (max_words && max_words < words_max)
        words_max = max_words;
    size_t need = 64;
    while (need < words_max * 2 && need < (1u << 20))
        need *= 2;
    if (need > t->slot_cap) {
        free(t->slots);
        t->slots = calloc(need, sizeof *t->slots);
        if (!t->slots) {
            t->slot_cap = 0;
            return -1;
        }
        t->slot_cap = need;
        t->gen = 0;
    }
    if (++t->gen == 0) {
        memset(t->slots, 0, t->slot_cap * sizeof *t->slots);
        t->gen = 1;
    }
    size_t n_out = 0, words = 0;
    t->n_seq = 0;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len && (!max_words || words < max_words) && n_out * 2 < t->slot_cap) {
        /* skip to a word */
        size_t a = i;
        while (a < len) {
            if (s[a] < 0x80) {
                unsigned char c = s[a];
                if (is_alnum(c))
                    break;
                a++;
                continue;
            }
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(s + a, (utf8proc_ssize_t)(len - a), &cp);
            if (k <= 0) {
                a++;
                continue;
            }
            if (word_char(cp))
                break;
            a += (size_t)k;
        }
        size_t b = a;
        while (b < len) {
            if (s[b] < 0x80) {
                unsigned char c = s[b];
                if (is_alnum(c)) {
                    b++;
                    continue;
                }
                break;
            }
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(s + b, (utf8proc_ssize_t)(len - b), &cp);
            if (k <= 0 || !word_char(cp))
                break;
            b += (size_t)k;
        }
        i = b;
        if (b == a)
            continue;
        words++;
        if (b - a > 40) /* not a word: a hash, a URL's path */
            continue;
        cache_entry *e = lookup(t, text + a, b - a);
        if (!e)
            return -1;
        if (t->n_seq == t->seq_cap) {
            size_t cap = t->seq_cap ? t->seq_cap * 2 : 1024;
            uint32_t *g = realloc(t->seq, cap * sizeof *g);
            if (!g)
                return -1;
            t->seq = g;
            t->seq_cap = cap;
        }
        t->seq[t->n_seq++] = e->fold;
        if (e->term && !add_term(t, e->term, e->word, &n_out))
            return -1;
    }
    for (size_t k = 0; k < n_out; k++)
        t->out[k].word = t->folded.p + (uintptr_t)t->out[k].word;
    *out = t->out;
    return (long)n_out;
}

uint32_t st_name_term(const char *folded, size_t n, int person)
{
    uint32_t h = st_hash(folded, n, 2);
    h = person ? h | 1 : h & ~1u;
    return h ? h : 2;
}
