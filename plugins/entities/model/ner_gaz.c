/* Name-list matcher for gazetteer bits; see ner_gaz.h. */
#include "ner_gaz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ner_impl.h"

#define MAX_WORDS 8

/* An open-addressing table of 64-bit keys (0 = empty): the hash of a type
 * and a sequence of word identities, for every name and every run of a
 * name's first words. The key's two low bits say which it is (FULL: a name,
 * PREFIX: the first words of a longer one), so that a match grows a word at
 * a time and stops as soon as no name goes on: one lookup per word of the
 * candidate, and mostly one per token. */
#define FULL 1u
#define PREFIX 2u
#define FLAGS (FULL | PREFIX)

struct ner_gaz {
    uint64_t *keys;
    size_t n, cap; /* keys in use */
    size_t names;
    size_t maxw[NER_NTYPES];
    bool image; /* keys live in an image (ner_gaz_from_image): read-only */
    void *map;
    size_t map_len;
};

static uint64_t seq_start(int type)
{
    return 0x8a5cd789635d2dffULL * (uint64_t)(type + 1);
}

static uint64_t seq_next(uint64_t h, uint64_t lw)
{
    h = (h ^ lw) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

ner_gaz *ner_gaz_new(void)
{
    return calloc(1, sizeof(ner_gaz));
}

void ner_gaz_free(ner_gaz *g)
{
    if (!g)
        return;
    if (!g->image)
        free(g->keys);
    if (g->map)
        munmap(g->map, g->map_len);
    free(g);
}

size_t ner_gaz_size(const ner_gaz *g)
{
    return g->names;
}

/* Adds flags to key k; *added: whether it was a new name. */
static int insert(ner_gaz *g, uint64_t k, unsigned flags, bool *added)
{
    k = (k & ~(uint64_t)FLAGS) | flags; /* never 0 */
    if ((g->n + 1) * 2 > g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 1024;
        uint64_t *nk = calloc(nc, sizeof *nk);
        if (!nk)
            return -1;
        for (size_t i = 0; i < g->cap; i++) {
            if (!g->keys[i])
                continue;
            size_t j = (size_t)(g->keys[i] >> 17) & (nc - 1);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = g->keys[i];
        }
        free(g->keys);
        g->keys = nk;
        g->cap = nc;
    }
    size_t j = (size_t)(k >> 17) & (g->cap - 1);
    while (g->keys[j]) {
        if ((g->keys[j] | FLAGS) == (k | FLAGS)) {
            *added = (flags & FULL) && !(g->keys[j] & FULL);
            g->keys[j] |= flags;
            return 0;
        }
        j = (j + 1) & (g->cap - 1);
    }
    g->keys[j] = k;
    g->n++;
    *added = (flags & FULL) != 0;
    return 0;
}

/* FULL and PREFIX for key k, 0 when neither. */
static unsigned lookup(const ner_gaz *g, uint64_t k)
{
    if (!g->cap)
        return 0;
    k |= FLAGS;
    size_t j = (size_t)(k >> 17) & (g->cap - 1);
    while (g->keys[j]) {
        if ((g->keys[j] | FLAGS) == k)
            return (unsigned)(g->keys[j] & FLAGS);
        j = (j + 1) & (g->cap - 1);
    }
    return 0;
}

int ner_gaz_add(ner_gaz *g, int type, const char *name, size_t len)
{
    if (type < 0 || type >= NER_NTYPES)
        return 0;
    if (g->image)
        return -1;
    ner_toks t = {0};
    if (ner_tokenize(name, len, &t) < 0)
        return -1;
    int rc = 0;
    if (t.n >= 1 && t.n <= MAX_WORDS) {
        uint64_t h = seq_start(type);
        bool added = false;
        for (size_t i = 0; i < t.n && rc == 0; i++) {
            ner_tinfo ti;
            ner_tinfo_make(name + t.v[i].start, t.v[i].end - t.v[i].start, &ti);
            h = seq_next(h, ti.lw);
            rc = insert(g, h, i + 1 < t.n ? PREFIX : FULL, &added);
        }
        g->names += added;
        if (t.n > g->maxw[type])
            g->maxw[type] = t.n;
    }
    ner_toks_free(&t);
    return rc;
}

static int type_of(const char *s, size_t n)
{
    for (int t = 0; t < NER_NTYPES; t++)
        if (strlen(ner_type_names[t]) == n && memcmp(ner_type_names[t], s, n) == 0)
            return t;
    return -1;
}

/* The n-th TAB-separated field of line[0, len): start and length. */
static bool field(const char *line, size_t len, int n, const char **f, size_t *fl)
{
    const char *p = line, *end = line + len;
    for (int k = 0; k < n; k++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (!tab)
            return false;
        p = tab + 1;
    }
    const char *tab = memchr(p, '\t', (size_t)(end - p));
    *f = p;
    *fl = (size_t)((tab ? tab : end) - p);
    return true;
}

static int load_tsv(ner_gaz *g, const char *path, FILE *f, uint32_t *bits, char *err,
                    size_t errlen)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int col_name = -1, col_type = -1, col_alias = -1, rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (col_name < 0) {
            if (n == 0 || line[0] == '#')
                continue;
            /* the header */
            for (int k = 0;; k++) {
                const char *fv;
                size_t fl;
                if (!field(line, (size_t)n, k, &fv, &fl))
                    break;
                if (fl == 9 && !memcmp(fv, "canonical", 9))
                    col_name = k;
                else if (fl == 4 && !memcmp(fv, "type", 4))
                    col_type = k;
                else if (fl == 7 && !memcmp(fv, "aliases", 7))
                    col_alias = k;
            }
            if (col_name < 0 || col_type < 0) {
                snprintf(err, errlen, "%s:%zu: header without canonical and type columns", path,
                         lineno);
                rc = -1;
                break;
            }
            continue;
        }
        const char *name, *type, *al;
        size_t nl, tl, alen;
        if (n == 0 || !field(line, (size_t)n, col_name, &name, &nl) ||
            !field(line, (size_t)n, col_type, &type, &tl))
            continue;
        int t = type_of(type, tl);
        if (t < 0)
            continue;
        if (ner_gaz_add(g, t, name, nl) < 0) {
            rc = -1;
            snprintf(err, errlen, "%s: out of memory", path);
            break;
        }
        *bits |= NER_GAZ_B(t) | NER_GAZ_I(t);
        if (col_alias < 0 || !field(line, (size_t)n, col_alias, &al, &alen))
            continue;
        for (const char *p = al, *end = al + alen; p < end;) {
            const char *bar = memchr(p, '|', (size_t)(end - p));
            const char *e = bar ? bar : end;
            if (e > p && ner_gaz_add(g, t, p, (size_t)(e - p)) < 0) {
                rc = -1;
                snprintf(err, errlen, "%s: out of memory", path);
                break;
            }
            p = e + 1;
        }
        if (rc)
            break;
    }
    free(line);
    return rc;
}

int ner_gaz_load(ner_gaz *g, const char *spec, uint32_t *bits, char *err, size_t errlen)
{
    uint32_t dummy = 0;
    if (!bits)
        bits = &dummy;
    size_t sl = strlen(spec);
    bool tsv = sl > 4 && strcmp(spec + sl - 4, ".tsv") == 0 && !strchr(spec, '=');
    const char *eq = tsv ? NULL : strchr(spec, '=');
    int type = eq ? type_of(spec, (size_t)(eq - spec)) : -1;
    if (!tsv && type < 0) {
        snprintf(err, errlen,
                 "%s: expected TYPE=FILE with TYPE one of PER, ORG, LOC, MISC, or a .tsv gazetteer",
                 spec);
        return -1;
    }
    const char *path = tsv ? spec : eq + 1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (tsv) {
        rc = load_tsv(g, path, f, bits, err, errlen);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) >= 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
            if (n == 0)
                continue;
            if (ner_gaz_add(g, type, line, (size_t)n) < 0) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
                break;
            }
        }
        free(line);
        *bits |= NER_GAZ_B(type) | NER_GAZ_I(type);
    }
    fclose(f);
    return rc;
}

int ner_gaz_match(const ner_gaz *g, const char *text, const ner_tok *toks, size_t n,
                  uint32_t *bits)
{
    memset(bits, 0, n * sizeof *bits);
    if (!g->n || !n)
        return 0;
    /* Word identities, computed once per token. */
    uint64_t *lw = malloc(n * sizeof *lw);
    if (!lw)
        return -1;
    for (size_t i = 0; i < n; i++)
        lw[i] = ner_word_id(text + toks[i].start, toks[i].end - toks[i].start);
    for (int type = 0; type < NER_NTYPES; type++) {
        size_t maxw = g->maxw[type];
        if (!maxw)
            continue;
        for (size_t i = 0; i < n;) {
            size_t best = 0;
            uint64_t h = seq_start(type);
            for (size_t L = 1; L <= maxw && i + L <= n; L++) {
                h = seq_next(h, lw[i + L - 1]);
                unsigned f = lookup(g, h);
                if (f & FULL)
                    best = L;
                if (!(f & PREFIX))
                    break;
            }
            if (!best) {
                i++;
                continue;
            }
            bits[i] |= NER_GAZ_B(type);
            for (size_t k = 1; k < best; k++)
                bits[i + k] |= NER_GAZ_I(type);
            i += best;
        }
    }
    free(lw);
    return 0;
}

/* The image: uint64_t n, cap, maxw[NER_NTYPES], names, then the cap keys of
 * the hash table, in native byte order. */
int ner_gaz_write_image(const ner_gaz *g, ner_gaz_write_fn write, void *ctx)
{
    uint64_t head[3 + NER_NTYPES] = {g->n, g->cap};
    for (int t = 0; t < NER_NTYPES; t++)
        head[2 + t] = g->maxw[t];
    head[2 + NER_NTYPES] = g->names;
    if (write(ctx, head, sizeof head) != 0)
        return -1;
    return g->cap ? write(ctx, g->keys, g->cap * sizeof *g->keys) : 0;
}

ner_gaz *ner_gaz_from_image(const void *img, size_t len, void *map, size_t map_len, char *why,
                            size_t whylen)
{
    uint64_t head[3 + NER_NTYPES];
    if (((uintptr_t)img & 7) || len < sizeof head) {
        snprintf(why, whylen, "image too short or misaligned");
        return NULL;
    }
    memcpy(head, img, sizeof head);
    uint64_t n = head[0], cap = head[1];
    const uint64_t *keys = (const uint64_t *)((const char *)img + sizeof head);
    if (cap > (len - sizeof head) / 8 || sizeof head + cap * 8 != len || (cap & (cap - 1)) ||
        (cap ? n >= cap : n != 0) || head[2 + NER_NTYPES] > n) {
        snprintf(why, whylen, "bad table size");
        return NULL;
    }
    for (int t = 0; t < NER_NTYPES; t++)
        if (head[2 + t] > MAX_WORDS) {
            snprintf(why, whylen, "bad name length");
            return NULL;
        }
    uint64_t used = 0;
    for (uint64_t i = 0; i < cap; i++)
        used += keys[i] != 0;
    if (used != n) {
        snprintf(why, whylen, "bad key count");
        return NULL;
    }
    ner_gaz *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    g->keys = (uint64_t *)keys;
    g->n = (size_t)n;
    g->cap = (size_t)cap;
    g->names = (size_t)head[2 + NER_NTYPES];
    for (int t = 0; t < NER_NTYPES; t++)
        g->maxw[t] = (size_t)head[2 + t];
    g->image = true;
    g->map = map;
    g->map_len = map_len;
    return g;
}
