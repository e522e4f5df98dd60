#include "gazetteer.h"

#include "fold.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>
#include <yaml.h>

/* A slot's entry field: the best entry for the key, or NO_ENTRY for a key
 * that is only the first words of longer keys; PREFIX is set when the key is
 * the first words of a longer key ("united" of "united states"), so that the
 * matcher stops extending a candidate as soon as no key can follow. */
#define PREFIX 0x80000000u
#define NO_ENTRY 0x7fffffffu
#define ENTRY(x) ((x) & ~PREFIX)

typedef struct key_slot {
    uint64_t hash; /* 0: empty */
    uint32_t entry; /* best entry for this key (ENTRY()), and PREFIX */
    uint32_t key_off; /* the folded key in keys[] (for fuzzy matching and collisions) */
} key_slot;

struct gazetteer {
    gz_entry *entries;
    size_t n, cap;
    key_slot *slots;
    size_t slot_cap, used;
    char *keys;
    size_t keys_len, keys_cap;
    size_t max_words;
    uint8_t next_priority;
    /* for fuzzy lookups: slots sorted by (first byte, key length), built on
     * the first fuzzy lookup after a change */
    uint32_t *by_shape;
    size_t n_by_shape;
    /* by_shape's keys in one array, so that a fuzzy lookup neither chases
     * pointers nor measures keys (fz_build) */
    struct fz_key *fz;
    /* a blocked Bloom filter of the keys' hashes, small enough to stay in
     * the cache: most words of a text are no key, and it answers so without
     * a cache miss in the big slot table (NULL: none; filter_build) */
    uint64_t *filter;
    size_t filter_mask;
    /* loaded from an image (gz_from_image): slots, keys, by_shape and the
     * entries' strings live in it, and it is read-only */
    const void *image;
    void *map;
    size_t map_len;
};

typedef struct fz_key {
    uint64_t shape; /* fz_shape(): the index's order as one number */
    uint64_t bytes; /* bit b & 63 for each byte b of the key */
} fz_key;

gazetteer *gz_new(void) { return calloc(1, sizeof(gazetteer)); }

void gz_free(gazetteer *g)
{
    if (!g)
        return;
    if (g->image) {
        free(g->entries);
        free(g->filter);
        if (g->map)
            munmap(g->map, g->map_len);
        free(g);
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        free(g->entries[i].canonical);
        free(g->entries[i].type);
        free(g->entries[i].id);
    }
    free(g->entries);
    free(g->slots);
    free(g->keys);
    free(g->by_shape);
    free(g->fz);
    free(g->filter);
    free(g);
}

size_t gz_size(const gazetteer *g) { return g->n; }
const gz_entry *gz_entry_at(const gazetteer *g, size_t i) { return &g->entries[i]; }
size_t gz_max_words(const gazetteer *g) { return g->max_words; }

/* Which of two entries a key should name: a later list first, then an
 * unambiguous name, then the bigger place. */
static bool better(const gz_entry *a, const gz_entry *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->ambiguous != b->ambiguous)
        return !a->ambiguous;
    return a->population > b->population;
}

static int grow_slots(gazetteer *g)
{
    size_t cap = g->slot_cap ? g->slot_cap * 2 : 1024;
    key_slot *n = calloc(cap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < g->slot_cap; i++) {
        if (!g->slots[i].hash)
            continue;
        size_t j = (size_t)g->slots[i].hash & (cap - 1);
        while (n[j].hash)
            j = (j + 1) & (cap - 1);
        n[j] = g->slots[i];
    }
    free(g->slots);
    g->slots = n;
    g->slot_cap = cap;
    return 0;
}

static const char *key_at(const gazetteer *g, uint32_t off) { return g->keys + off; }

static key_slot *find(const gazetteer *g, const char *key, size_t len, uint64_t h)
{
    size_t j = (size_t)h & (g->slot_cap - 1);
    while (g->slots[j].hash) {
        if (g->slots[j].hash == h && !strncmp(key_at(g, g->slots[j].key_off), key, len) &&
            key_at(g, g->slots[j].key_off)[len] == 0)
            return &g->slots[j];
        j = (j + 1) & (g->slot_cap - 1);
    }
    return &g->slots[j];
}

/* Puts folded key k[0, kl) in the table for entry (or NO_ENTRY|PREFIX: as
 * the first words of a longer key). */
static int put_key(gazetteer *g, const char *k, size_t kl, uint32_t entry)
{
    if ((g->used + 1) * 4 > g->slot_cap * 3 && grow_slots(g) != 0)
        return -1;
    uint64_t h = XXH3_64bits(k, kl);
    h = h ? h : 1;
    key_slot *s = find(g, k, kl, h);
    if (s->hash) {
        uint32_t old = ENTRY(s->entry), prefix = (s->entry | entry) & PREFIX;
        if (ENTRY(entry) != NO_ENTRY &&
            (old == NO_ENTRY || better(&g->entries[ENTRY(entry)], &g->entries[old])))
            old = ENTRY(entry);
        s->entry = old | prefix;
        return 0;
    }
    if (g->keys_len + kl + 1 > g->keys_cap) {
        size_t cap = g->keys_cap ? g->keys_cap * 2 : 65536;
        while (cap < g->keys_len + kl + 1)
            cap *= 2;
        char *nk = realloc(g->keys, cap);
        if (!nk)
            return -1;
        g->keys = nk;
        g->keys_cap = cap;
    }
    memcpy(g->keys + g->keys_len, k, kl);
    g->keys[g->keys_len + kl] = 0;
    s->hash = h;
    s->entry = entry;
    s->key_off = (uint32_t)g->keys_len;
    g->keys_len += kl + 1;
    g->used++;
    return 0;
}

static int add_key(gazetteer *g, const char *name, uint32_t entry)
{
    size_t n = strlen(name);
    char *k = malloc(4 * n + 8);
    if (!k)
        return -1;
    size_t kl = fold_name(name, n, k), words = 1;
    int rc = kl ? put_key(g, k, kl, entry) : 0;
    for (size_t i = 0; rc == 0 && i < kl; i++)
        if (k[i] == ' ') {
            words++;
            rc = put_key(g, k, i, NO_ENTRY | PREFIX);
        }
    if (kl && words > g->max_words)
        g->max_words = words;
    free(k);
    return rc;
}

static int type_ix(const char *t)
{
    static const char *const names[] = {"PER", "ORG", "LOC", "MISC"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(t, names[i]))
            return i;
    return -1;
}

int gz_add(gazetteer *g, const char *canonical, const char *type, const char *id,
           const char *aliases, uint32_t population, unsigned flags, uint8_t priority,
           const char *country)
{
    if (g->image || g->n >= UINT32_MAX)
        return -1;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        gz_entry *e = realloc(g->entries, cap * sizeof *e);
        if (!e)
            return -1;
        g->entries = e;
        g->cap = cap;
    }
    gz_entry *e = &g->entries[g->n];
    e->canonical = strdup(canonical);
    e->type = strdup(type);
    e->id = id && *id ? strdup(id) : NULL;
    e->population = population;
    e->ambiguous = (flags & GZ_AMBIGUOUS) != 0;
    e->is_country = (flags & GZ_COUNTRY) != 0;
    e->priority = priority;
    e->country[0] = country ? country[0] : 0;
    e->country[1] = country ? country[1] : 0;
    if (!e->canonical || !e->type)
        return -1;
    e->type_ix = (int8_t)type_ix(e->type);
    free(g->filter); /* it would not know the new keys: none until gz_prepare */
    g->filter = NULL;
    uint32_t idx = (uint32_t)g->n++;
    if (add_key(g, canonical, idx) != 0)
        return -1;
    for (const char *a = aliases; a && *a;) {
        const char *bar = strchr(a, '|');
        size_t l = bar ? (size_t)(bar - a) : strlen(a);
        char *one = strndup(a, l);
        int rc = one ? add_key(g, one, idx) : -1;
        free(one);
        if (rc != 0)
            return -1;
        a = bar ? bar + 1 : a + l;
    }
    return 0;
}

/* Three bits of one 64-bit word per key, from hash bits that the slot
 * index (the low bits) does not use. */
static uint64_t filter_bits(uint64_t h)
{
    return 1ull << (h >> 58) | 1ull << (h >> 52 & 63) | 1ull << (h >> 46 & 63);
}

static uint64_t *filter_word(const gazetteer *g, uint64_t h)
{
    return &g->filter[(h >> 24) & g->filter_mask];
}

/* About 8 bits a key (one word per 8 keys). */
static int filter_build(gazetteer *g)
{
    size_t words = 64;
    while (words * 8 < g->used)
        words *= 2;
    free(g->filter);
    g->filter = calloc(words, sizeof *g->filter);
    if (!g->filter)
        return -1;
    g->filter_mask = words - 1;
    for (size_t i = 0; i < g->slot_cap; i++)
        if (g->slots[i].hash)
            *filter_word(g, g->slots[i].hash) |= filter_bits(g->slots[i].hash);
    return 0;
}

const gz_entry *gz_lookup(const gazetteer *g, const char *key, size_t len)
{
    bool longer;
    return gz_probe(g, key, len, &longer);
}

void gz_prefetch(const gazetteer *g, const char *key, size_t len)
{
    if (!g->slot_cap || !len)
        return;
    uint64_t h = XXH3_64bits(key, len);
    h = h ? h : 1;
    if (g->filter)
        __builtin_prefetch(filter_word(g, h));
    __builtin_prefetch(&g->slots[(size_t)h & (g->slot_cap - 1)]);
}

const gz_entry *gz_probe(const gazetteer *g, const char *key, size_t len, bool *longer)
{
    *longer = false;
    if (!g->slot_cap || !len)
        return NULL;
    uint64_t h = XXH3_64bits(key, len);
    h = h ? h : 1;
    if (g->filter && (*filter_word(g, h) & filter_bits(h)) != filter_bits(h))
        return NULL;
    key_slot *s = find(g, key, len, h);
    if (!s->hash)
        return NULL;
    *longer = (s->entry & PREFIX) != 0;
    return ENTRY(s->entry) != NO_ENTRY ? &g->entries[ENTRY(s->entry)] : NULL;
}

static const gazetteer *sort_g; /* qsort has no context argument; built once, single-threaded */

static int type_rank(const char *t)
{
    return t[0] == 'P' ? 0 : t[0] == 'O' ? 1 : t[0] == 'L' ? 2 : 3;
}

static size_t words_of(const char *k)
{
    size_t w = 1;
    for (; *k; k++)
        w += *k == ' ';
    return w;
}

/* The fuzzy index's order (type, first byte, number of words, length) as
 * one number. Words are counted up to 2^22 - 1 (a longer key sorts last,
 * and a lookup of that many words finds nothing). */
static uint64_t fz_shape(int type, unsigned char c, size_t words, size_t len)
{
    const size_t max_words = ((size_t)1 << 22) - 1;
    return (uint64_t)type << 62 | (uint64_t)c << 54 |
           (uint64_t)(words < max_words ? words : max_words) << 32 | (len < UINT32_MAX ? len : UINT32_MAX);
}

static uint64_t byte_set(const char *k, size_t len)
{
    uint64_t set = 0;
    for (size_t i = 0; i < len; i++)
        set |= 1ull << ((unsigned char)k[i] & 63);
    return set;
}

static int fz_build(gazetteer *g)
{
    free(g->fz);
    g->fz = malloc((g->n_by_shape ? g->n_by_shape : 1) * sizeof *g->fz);
    if (!g->fz)
        return -1;
    for (size_t i = 0; i < g->n_by_shape; i++) {
        const key_slot *sl = &g->slots[g->by_shape[i]];
        const char *k = key_at(g, sl->key_off);
        size_t len = strlen(k);
        g->fz[i].shape = fz_shape(type_rank(g->entries[ENTRY(sl->entry)].type), (unsigned char)k[0],
                                  words_of(k), len);
        g->fz[i].bytes = byte_set(k, len);
    }
    return 0;
}

/* The fuzzy index's order: type, first byte, number of words, length. */
static int cmp_shape(const void *a, const void *b)
{
    const key_slot *sa = &sort_g->slots[*(const uint32_t *)a], *sb = &sort_g->slots[*(const uint32_t *)b];
    int ta = type_rank(sort_g->entries[ENTRY(sa->entry)].type);
    int tb = type_rank(sort_g->entries[ENTRY(sb->entry)].type);
    if (ta != tb)
        return ta - tb;
    const char *x = key_at(sort_g, sa->key_off), *y = key_at(sort_g, sb->key_off);
    if (x[0] != y[0])
        return (unsigned char)x[0] - (unsigned char)y[0];
    size_t wx = words_of(x), wy = words_of(y);
    if (wx != wy)
        return wx < wy ? -1 : 1;
    size_t lx = strlen(x), ly = strlen(y);
    return lx < ly ? -1 : lx > ly;
}

int gz_prepare(gazetteer *g)
{
    if (g->image)
        return 0; /* prepared when it was written */
    free(g->by_shape);
    g->by_shape = malloc((g->used + 1) * sizeof *g->by_shape);
    if (!g->by_shape)
        return -1;
    g->n_by_shape = 0;
    for (size_t i = 0; i < g->slot_cap; i++)
        if (g->slots[i].hash && ENTRY(g->slots[i].entry) != NO_ENTRY)
            g->by_shape[g->n_by_shape++] = (uint32_t)i;
    sort_g = g;
    qsort(g->by_shape, g->n_by_shape, sizeof *g->by_shape, cmp_shape);
    return fz_build(g) == 0 && filter_build(g) == 0 ? 0 : -1;
}

/* Whether x has more than k bits set (k is small: a distance). */
static bool more_bits(uint64_t x, size_t k)
{
    for (; x && k; k--)
        x &= x - 1;
    return x != 0;
}

const gz_entry *gz_fuzzy(const gazetteer *g, const char *key, size_t len, const char *type,
                         size_t max_dist, size_t *dist)
{
    /* only keys of the type, with the same first letter and number of words,
     * and a length within max_dist can be that close: find them by binary
     * search in the index */
    if (!len || !g->n_by_shape)
        return NULL;
    int t = type_rank(type);
    unsigned char c = (unsigned char)key[0];
    size_t words = words_of(key), from = len > max_dist ? len - max_dist : 0;
    uint64_t lo_shape = fz_shape(t, c, words, from), hi_shape = fz_shape(t, c, words, len + max_dist);
    size_t lo = 0, hi = g->n_by_shape;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->fz[mid].shape < lo_shape)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Every byte value in one key and not in the other takes an edit: a
     * cheap lower bound on the distance that skips most candidates. */
    uint64_t bytes = byte_set(key, len);
    const gz_entry *best = NULL;
    size_t best_d = max_dist + 1;
    for (size_t i = lo; i < g->n_by_shape && g->fz[i].shape <= hi_shape; i++) {
        uint64_t kb = g->fz[i].bytes;
        if (more_bits(bytes & ~kb, max_dist) || more_bits(kb & ~bytes, max_dist))
            continue;
        const key_slot *sl = &g->slots[g->by_shape[i]];
        const char *k = key_at(g, sl->key_off);
        size_t d = fold_distance(key, len, k, (size_t)(g->fz[i].shape & UINT32_MAX), max_dist);
        const gz_entry *e = &g->entries[ENTRY(sl->entry)];
        if (d < best_d || (d == best_d && best && better(e, best))) {
            best_d = d;
            best = e;
        }
    }
    if (best)
        *dist = best_d;
    return best;
}

/* ---- loading ------------------------------------------------------------------------- */

static const char *const types[] = {"PER", "ORG", "LOC", "MISC"};

static bool valid_type(const char *t)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(t, types[i]))
            return true;
    return false;
}

static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return !*s;
}

/* Opens a list: a regular file, not a directory, a device or a pipe (a
 * device such as /dev/zero would be read forever). */
static FILE *open_list(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: %s, not a gazetteer file", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        fclose(f);
        return NULL;
    }
    return f;
}

/* The offset of the first byte of s[0, n) that does not belong to
 * well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF), or n when there is none. */
static size_t utf8_bad_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k; /* continuation bytes */
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return i;
        }
        if (k >= n - i || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return i;
        i += k + 1;
    }
    return n;
}

/* Ids seen in one file, for the duplicate check: id hash -> entry, line. */
typedef struct id_seen {
    uint64_t hash; /* 0: empty */
    uint32_t entry, line;
} id_seen;

typedef struct id_set {
    id_seen *v;
    size_t cap, n;
} id_set;

/* The line on which the file gave `id` before, or 0. */
static uint32_t id_find(const id_set *s, const gazetteer *g, const char *id)
{
    if (!s->cap)
        return 0;
    uint64_t h = XXH3_64bits(id, strlen(id));
    h = h ? h : 1;
    for (size_t j = (size_t)h & (s->cap - 1); s->v[j].hash; j = (j + 1) & (s->cap - 1))
        if (s->v[j].hash == h && !strcmp(g->entries[s->v[j].entry].id, id))
            return s->v[j].line;
    return 0;
}

static int id_add(id_set *s, const char *id, uint32_t entry, uint32_t line)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        id_seen *v = calloc(cap, sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i].hash)
                continue;
            size_t j = (size_t)s->v[i].hash & (cap - 1);
            while (v[j].hash)
                j = (j + 1) & (cap - 1);
            v[j] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    uint64_t h = XXH3_64bits(id, strlen(id));
    h = h ? h : 1;
    size_t j = (size_t)h & (s->cap - 1);
    while (s->v[j].hash)
        j = (j + 1) & (s->cap - 1);
    s->v[j] = (id_seen){h, entry, line};
    s->n++;
    return 0;
}

/* Splits a line in place at `sep` into fields; with `quotes`, fields are
 * unquoted as in RFC 4180 ("" inside quotes is one quote). Stores at most
 * max field pointers and returns the number of fields. *bad: 1 for an
 * unterminated quote, 2 for text after a closing quote. */
static size_t split_fields(char *line, char sep, bool quotes, char **f, size_t max, int *bad)
{
    size_t n = 0;
    char *r = line, *w = line;
    *bad = 0;
    for (;;) {
        if (n < max)
            f[n] = w;
        n++;
        if (quotes && *r == '"') {
            r++;
            for (;;) {
                if (!*r) {
                    *bad = 1;
                    return n;
                }
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
            if (*r && *r != sep) {
                *bad = 2;
                return n;
            }
        } else {
            while (*r && *r != sep)
                *w++ = *r++;
        }
        if (*r != sep) {
            *w = 0;
            return n;
        }
        *w++ = 0;
        r++;
    }
}

/* Is `flag` one of the comma-separated words of `flags`? */
static bool flag_in(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)); p += n)
        if ((p == flags || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return true;
    return false;
}

/* "AZ" or "AE,SA": ISO 3166-1 alpha-2 codes joined by commas. */
static bool country_list(const char *s)
{
    for (;;) {
        if (!(s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'))
            return false;
        if (!s[2])
            return true;
        if (s[2] != ',')
            return false;
        s += 3;
    }
}

#define MAX_COLUMNS 64
static const char *const required[4] = {"canonical", "type", "id", "aliases"};

/* TSV or CSV: '#' comments, then a header naming the columns (the first four
 * are canonical, type, id, aliases; `flags` and `population` are read where
 * the header puts them), then one entry per line with as many fields as the
 * header. See gazetteers/README.md. */
static int load_table(gazetteer *g, const char *path, bool csv, uint8_t prio, char *err,
                      size_t err_len)
{
    FILE *f = open_list(path, err, err_len);
    if (!f)
        return -1;
    const char sep = csv ? ',' : '\t';
    const char *sep_s = csv ? "," : "<TAB>", *seps = csv ? "commas" : "TABs";
    char *line = NULL, *fl[MAX_COLUMNS];
    size_t cap = 0, lineno = 0, ncols = 0;
    int col_flags = -1, col_pop = -1, col_country = -1, rc = 0;
    id_set ids = {0};
    ssize_t got;
#define FAIL(...)                                                                            \
    do {                                                                                     \
        snprintf(err, err_len, __VA_ARGS__);                                                 \
        rc = -1;                                                                             \
        goto done;                                                                           \
    } while (0)
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, 0, (size_t)got))
            FAIL("%s:%zu: a NUL byte: not a text file", path, lineno);
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char *l = line;
        if (lineno == 1 && len >= 3 && !memcmp(l, "\xEF\xBB\xBF", 3)) {
            l += 3; /* a byte order mark */
            len -= 3;
        }
        size_t bad_at = utf8_bad_at((const unsigned char *)l, len);
        if (bad_at < len)
            FAIL("%s:%zu: invalid UTF-8 at byte %zu of the line", path, lineno, bad_at + 1);
        if (!len)
            continue;
        int bad = 0;
        if (!ncols) {
            if (l[0] == '#')
                continue;
            size_t n = split_fields(l, sep, csv, fl, MAX_COLUMNS, &bad);
            bool ok = !bad && n >= 4 && n <= MAX_COLUMNS;
            for (size_t k = 0; ok && k < 4; k++)
                ok = !strcmp(fl[k], required[k]);
            if (!ok)
                FAIL("%s:%zu: expected the header line canonical%stype%sid%saliases (the first "
                     "line that is not a '#' comment names the columns)",
                     path, lineno, sep_s, sep_s, sep_s);
            ncols = n;
            for (size_t k = 4; k < n; k++) {
                if (!strcmp(fl[k], "flags"))
                    col_flags = (int)k;
                else if (!strcmp(fl[k], "population"))
                    col_pop = (int)k;
                else if (!strcmp(fl[k], "country"))
                    col_country = (int)k;
            }
            continue;
        }
        bool comment = l[0] == '#';
        size_t n = split_fields(l, sep, csv, fl, MAX_COLUMNS, &bad);
        if (bad)
            FAIL("%s:%zu: %s", path, lineno,
                 bad == 1 ? "an unterminated quote (a quoted field ends on its line)"
                          : "text after a closing quote (quote the whole field)");
        if (n != ncols) {
            if (comment)
                continue; /* a comment after the header: tolerated */
            FAIL("%s:%zu: %zu field%s, but the header has %zu (fields are separated by %s%s)",
                 path, lineno, n, n == 1 ? "" : "s", ncols, seps,
                 n == 1 ? "; this line has none" : "");
        }
        if (blank(fl[0]))
            FAIL("%s:%zu: empty canonical name", path, lineno);
        if (!valid_type(fl[1]))
            FAIL("%s:%zu: type '%s' is not PER, ORG, LOC or MISC", path, lineno, fl[1]);
        uint32_t first = *fl[2] ? id_find(&ids, g, fl[2]) : 0;
        if (first)
            FAIL("%s:%zu: id '%s' is already used on line %u (ids are unique within a file)",
                 path, lineno, fl[2], first);
        unsigned flags = 0;
        if (col_flags >= 0 && flag_in(fl[col_flags], "ambiguous"))
            flags |= GZ_AMBIGUOUS;
        if (col_flags >= 0 && flag_in(fl[col_flags], "country"))
            flags |= GZ_COUNTRY;
        uint32_t pop = col_pop >= 0 ? (uint32_t)strtoul(fl[col_pop], NULL, 10) : 0;
        /* one country, or several ("AE,SA": an adjective of the region),
         * which name no single country */
        const char *cc = col_country >= 0 ? fl[col_country] : "";
        if (*cc && !country_list(cc))
            FAIL("%s:%zu: country '%s' is not an ISO 3166-1 alpha-2 code (two capitals, "
                 "several joined by commas)", path, lineno, cc);
        if (gz_add(g, fl[0], fl[1], fl[2], fl[3], pop, flags, prio, strlen(cc) == 2 ? cc : NULL) != 0 ||
            (*fl[2] && id_add(&ids, fl[2], (uint32_t)(g->n - 1), (uint32_t)lineno) != 0))
            FAIL("%s:%zu: out of memory", path, lineno);
    }
    if (ferror(f))
        FAIL("%s: read error after line %zu: %s", path, lineno, strerror(errno));
    if (!ncols)
        FAIL("%s: no header line (expected canonical%stype%sid%saliases; the file is empty or "
             "holds only comments)",
             path, sep_s, sep_s, sep_s);
#undef FAIL
done:
    free(ids.v);
    free(line);
    fclose(f);
    return rc;
}

/* A growing '|'-joined alias list. */
typedef struct alias_buf {
    char *s;
    size_t len, cap;
} alias_buf;

static int alias_add(alias_buf *b, const char *a)
{
    size_t l = strlen(a);
    if (b->len + l + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + l + 2)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return -1;
        b->s = s;
        b->cap = cap;
    }
    if (b->len)
        b->s[b->len++] = '|';
    memcpy(b->s + b->len, a, l + 1);
    b->len += l;
    return 0;
}

/* YAML: a list of {canonical, type, id, aliases: [..]} */
static int load_yaml(gazetteer *g, const char *path, uint8_t prio, char *err, size_t err_len)
{
    FILE *f = open_list(path, err, err_len);
    if (!f)
        return -1;
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = 0;
    if (!yaml_parser_load(&p, &d)) {
        snprintf(err, err_len, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
                 p.problem_mark.column + 1, p.problem ? p.problem : "malformed YAML");
        yaml_parser_delete(&p);
        fclose(f);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root || root->type != YAML_SEQUENCE_NODE) {
        snprintf(err, err_len, "%s:%zu: expected a list of entries {canonical, type, id, aliases}",
                 path, root ? root->start_mark.line + 1 : 1);
        rc = -1;
    }
    id_set ids = {0};
    alias_buf aliases = {0};
    for (yaml_node_item_t *it = rc ? NULL : root->data.sequence.items.start;
         it && it < root->data.sequence.items.top && rc == 0; it++) {
        yaml_node_t *e = yaml_document_get_node(&d, *it);
        const char *canon = NULL, *type = NULL, *id = NULL, *country = NULL;
        size_t line = e->start_mark.line + 1, type_line = line;
        aliases.len = 0;
        if (aliases.s)
            aliases.s[0] = 0;
        if (e->type != YAML_MAPPING_NODE) {
            snprintf(err, err_len, "%s:%zu: an entry must be a mapping {canonical, type, id, aliases}",
                     path, line);
            rc = -1;
            break;
        }
        for (yaml_node_pair_t *pr = e->data.mapping.pairs.start;
             rc == 0 && pr < e->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&d, pr->key), *v = yaml_document_get_node(&d, pr->value);
            const char *ks = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
            if (v->type == YAML_SCALAR_NODE) {
                const char *vs = (const char *)v->data.scalar.value;
                if (!strcmp(ks, "canonical"))
                    canon = vs;
                else if (!strcmp(ks, "type")) {
                    type = vs;
                    type_line = v->start_mark.line + 1;
                } else if (!strcmp(ks, "id"))
                    id = vs;
                else if (!strcmp(ks, "country"))
                    country = vs;
                else if (!strcmp(ks, "aliases") && *vs && alias_add(&aliases, vs) != 0)
                    rc = -1;
            } else if (v->type == YAML_SEQUENCE_NODE && !strcmp(ks, "aliases")) {
                for (yaml_node_item_t *a = v->data.sequence.items.start;
                     rc == 0 && a < v->data.sequence.items.top; a++) {
                    yaml_node_t *an = yaml_document_get_node(&d, *a);
                    if (an->type == YAML_SCALAR_NODE && *an->data.scalar.value &&
                        alias_add(&aliases, (const char *)an->data.scalar.value) != 0)
                        rc = -1;
                }
            }
        }
        uint32_t first = 0;
        if (rc != 0)
            snprintf(err, err_len, "%s:%zu: out of memory", path, line);
        else if (!canon || blank(canon))
            snprintf(err, err_len, "%s:%zu: an entry needs a canonical name (a non-empty string)",
                     path, line);
        else if (!type)
            snprintf(err, err_len, "%s:%zu: an entry needs a type (PER, ORG, LOC or MISC)", path,
                     line);
        else if (!valid_type(type))
            snprintf(err, err_len, "%s:%zu: type '%s' is not PER, ORG, LOC or MISC", path,
                     type_line, type);
        else if (id && *id && (first = id_find(&ids, g, id)) != 0)
            snprintf(err, err_len, "%s:%zu: id '%s' is already used on line %u (ids are unique "
                     "within a file)", path, line, id, first);
        else if (country && *country && !country_list(country))
            snprintf(err, err_len, "%s:%zu: country '%s' is not an ISO 3166-1 alpha-2 code (two "
                     "capitals, several joined by commas)", path, line, country);
        else if (gz_add(g, canon, type, id, aliases.s, 0, 0, prio,
                        country && strlen(country) == 2 ? country : NULL) != 0 ||
                 (id && *id && id_add(&ids, id, (uint32_t)(g->n - 1), (uint32_t)line) != 0))
            snprintf(err, err_len, "%s:%zu: out of memory", path, line);
        else
            continue;
        rc = -1;
    }
    free(aliases.s);
    free(ids.v);
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int gz_load(gazetteer *g, const char *path, char *err, size_t err_len)
{
    if (g->image) {
        snprintf(err, err_len, "%s: the gazetteer is read-only (loaded from the cache)", path);
        return -1;
    }
    uint8_t prio = g->next_priority++;
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".csv"))
        return load_table(g, path, true, prio, err, err_len);
    if ((n > 5 && !strcmp(path + n - 5, ".yaml")) || (n > 4 && !strcmp(path + n - 4, ".yml")))
        return load_yaml(g, path, prio, err, err_len);
    return load_table(g, path, false, prio, err, err_len);
}

/* ---- the compiled image (the cache, gzcache.h) ---------------------------------------- *
 *
 * Native byte order; every section starts at a multiple of 8 bytes:
 *   image_head
 *   n image_entry                     strings as offsets into the string section
 *   strings                           NUL-terminated: canonical, type, id per entry
 *   slot_cap key_slot                 the hash table as it is in memory
 *   keys                              the folded keys, NUL-terminated
 *   n_by_shape uint32_t               the fuzzy index (gz_prepare)
 *   n_by_shape fz_key                 its keys' shapes and byte sets (fz_build)
 */
typedef struct image_head {
    uint64_t n, slot_cap, used, keys_len, strings_len, n_by_shape, max_words, next_priority;
} image_head;

typedef struct image_entry {
    uint32_t canonical, type, id; /* id: UINT32_MAX for none */
    uint32_t population;
    uint8_t ambiguous, priority;
    char country[2];
    uint8_t is_country, pad[3];
} image_entry;

#define NO_ID UINT32_MAX

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Buffered writes through the caller's function. */
typedef struct img_out {
    gz_write_fn write;
    void *ctx;
    unsigned char buf[1 << 16];
    size_t len;
    int rc;
} img_out;

static void out_flush(img_out *o)
{
    if (o->len && o->rc == 0)
        o->rc = o->write(o->ctx, o->buf, o->len);
    o->len = 0;
}

static void out_put(img_out *o, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n && o->rc == 0) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        memcpy(o->buf + o->len, c, k);
        o->len += k;
        c += k;
        n -= k;
    }
}

static void out_pad(img_out *o, size_t written)
{
    static const unsigned char zero[8];
    out_put(o, zero, pad8(written) - written);
}

int gz_write_image(const gazetteer *g, gz_write_fn write, void *ctx)
{
    if (!g->by_shape && g->used)
        return -1; /* not prepared */
    img_out *o = calloc(1, sizeof *o);
    if (!o)
        return -1;
    o->write = write;
    o->ctx = ctx;
    uint64_t strings_len = 0;
    for (size_t i = 0; i < g->n; i++) {
        const gz_entry *e = &g->entries[i];
        strings_len += strlen(e->canonical) + strlen(e->type) + 2 + (e->id ? strlen(e->id) + 1 : 0);
    }
    if (strings_len >= NO_ID) {
        free(o);
        return -1; /* offsets would not fit */
    }
    image_head h = {g->n, g->slot_cap, g->used, g->keys_len, strings_len, g->n_by_shape,
                    g->max_words, g->next_priority};
    out_put(o, &h, sizeof h);
    uint32_t off = 0;
    for (size_t i = 0; i < g->n; i++) {
        const gz_entry *e = &g->entries[i];
        image_entry ie = {0};
        ie.canonical = off;
        off += (uint32_t)strlen(e->canonical) + 1;
        ie.type = off;
        off += (uint32_t)strlen(e->type) + 1;
        ie.id = NO_ID;
        if (e->id) {
            ie.id = off;
            off += (uint32_t)strlen(e->id) + 1;
        }
        ie.population = e->population;
        ie.ambiguous = e->ambiguous;
        ie.priority = e->priority;
        memcpy(ie.country, e->country, 2);
        ie.is_country = e->is_country;
        out_put(o, &ie, sizeof ie);
    }
    out_pad(o, g->n * sizeof(image_entry));
    for (size_t i = 0; i < g->n; i++) {
        const gz_entry *e = &g->entries[i];
        out_put(o, e->canonical, strlen(e->canonical) + 1);
        out_put(o, e->type, strlen(e->type) + 1);
        if (e->id)
            out_put(o, e->id, strlen(e->id) + 1);
    }
    out_pad(o, strings_len);
    out_put(o, g->slots, g->slot_cap * sizeof *g->slots);
    out_put(o, g->keys, g->keys_len);
    out_pad(o, g->keys_len);
    out_put(o, g->by_shape, g->n_by_shape * sizeof *g->by_shape);
    out_pad(o, g->n_by_shape * sizeof *g->by_shape);
    out_put(o, g->fz, g->n_by_shape * sizeof *g->fz);
    out_flush(o);
    int rc = o->rc;
    free(o);
    return rc;
}

#define BAD(...)                                                                             \
    do {                                                                                     \
        snprintf(why, why_len, __VA_ARGS__);                                                 \
        goto bad;                                                                            \
    } while (0)

gazetteer *gz_from_image(const void *img, size_t len, void *map, size_t map_len, char *why,
                         size_t why_len)
{
    const unsigned char *p = img;
    gazetteer *g = NULL;
    image_head h;
    if (((uintptr_t)img & 7) || len < sizeof h)
        BAD("image too short or misaligned");
    memcpy(&h, p, sizeof h);
    /* every count is bounded by the length, so that the sums below cannot overflow */
    if (h.n > len / sizeof(image_entry) || h.slot_cap > len / sizeof(key_slot) ||
        h.keys_len > len || h.strings_len > len || h.n_by_shape > len / 4 ||
        h.used > h.slot_cap || h.next_priority > 255 || h.max_words > h.keys_len + 1)
        BAD("counts out of range");
    size_t o_entries = sizeof h, o_strings = o_entries + pad8(h.n * sizeof(image_entry));
    size_t o_slots = o_strings + pad8(h.strings_len), o_keys = o_slots + h.slot_cap * sizeof(key_slot);
    size_t o_shape = o_keys + pad8(h.keys_len), o_fz = o_shape + pad8(h.n_by_shape * 4);
    size_t end = o_fz + h.n_by_shape * sizeof(fz_key);
    if (end != len)
        BAD("section sizes do not add up to the image size");
    if (h.slot_cap & (h.slot_cap - 1) || (h.slot_cap && h.used >= h.slot_cap) ||
        (!h.slot_cap && h.used))
        BAD("bad hash table size");
    const char *strings = (const char *)p + o_strings, *keys = (const char *)p + o_keys;
    if ((h.strings_len && strings[h.strings_len - 1]) || (h.keys_len && keys[h.keys_len - 1]))
        BAD("unterminated string");
    const key_slot *slots = (const key_slot *)(p + o_slots);
    size_t used = 0;
    for (size_t i = 0; i < h.slot_cap; i++) {
        if (!slots[i].hash)
            continue;
        used++;
        if ((ENTRY(slots[i].entry) >= h.n && ENTRY(slots[i].entry) != NO_ENTRY) ||
            slots[i].key_off >= h.keys_len)
            BAD("hash table slot out of range");
    }
    if (used != h.used)
        BAD("hash table count");
    const uint32_t *shape = (const uint32_t *)(p + o_shape);
    const fz_key *fz = (const fz_key *)(p + o_fz);
    for (size_t i = 0; i < h.n_by_shape; i++) {
        if (shape[i] >= h.slot_cap || !slots[shape[i]].hash ||
            ENTRY(slots[shape[i]].entry) == NO_ENTRY)
            BAD("fuzzy index out of range");
        /* a search reads the key's length from here: it must stay inside keys */
        if ((fz[i].shape & UINT32_MAX) >= h.keys_len - slots[shape[i]].key_off ||
            (i && fz[i].shape < fz[i - 1].shape))
            BAD("fuzzy index keys out of range or out of order");
    }
    g = calloc(1, sizeof *g);
    if (!g || !(g->entries = malloc((h.n ? h.n : 1) * sizeof *g->entries))) {
        snprintf(why, why_len, "out of memory");
        free(g);
        return NULL;
    }
    g->image = img;
    const image_entry *ie = (const image_entry *)(p + o_entries);
    for (size_t i = 0; i < h.n; i++) {
        image_entry e;
        memcpy(&e, &ie[i], sizeof e);
        if (e.canonical >= h.strings_len || e.type >= h.strings_len ||
            (e.id != NO_ID && e.id >= h.strings_len))
            BAD("entry string out of range");
        g->entries[i] = (gz_entry){(char *)strings + e.canonical, (char *)strings + e.type,
                                   e.id == NO_ID ? NULL : (char *)strings + e.id,
                                   e.population, e.ambiguous, e.is_country, e.priority,
                                   {e.country[0], e.country[1]}, 0};
        g->entries[i].type_ix = (int8_t)type_ix(g->entries[i].type);
    }
    g->n = g->cap = h.n;
    g->slots = (key_slot *)slots;
    g->slot_cap = h.slot_cap;
    g->used = h.used;
    g->keys = (char *)keys;
    g->keys_len = g->keys_cap = h.keys_len;
    g->max_words = h.max_words;
    g->next_priority = (uint8_t)h.next_priority;
    g->by_shape = (uint32_t *)shape;
    g->n_by_shape = h.n_by_shape;
    g->fz = (fz_key *)fz;
    g->map = map;
    g->map_len = map_len;
    if (filter_build(g) != 0) {
        snprintf(why, why_len, "out of memory");
        g->map = NULL; /* the caller unmaps it */
        gz_free(g);
        return NULL;
    }
    return g;
bad:
    if (g) {
        free(g->entries);
        free(g);
    }
    return NULL;
}
#undef BAD
