#include "gazetteer.h"

#include "fold.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <yaml.h>

typedef struct key_slot {
    uint64_t hash; /* 0: empty */
    uint32_t entry; /* best entry for this key */
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
};

gazetteer *gz_new(void) { return calloc(1, sizeof(gazetteer)); }

void gz_free(gazetteer *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->entries[i].canonical);
        free(g->entries[i].type);
        free(g->entries[i].id);
    }
    free(g->entries);
    free(g->slots);
    free(g->keys);
    free(g->by_shape);
    free(g);
}

size_t gz_size(const gazetteer *g) { return g->n; }
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

static int add_key(gazetteer *g, const char *name, uint32_t entry)
{
    size_t n = strlen(name);
    char *k = malloc(4 * n + 8);
    if (!k)
        return -1;
    size_t kl = fold_name(name, n, k);
    if (kl == 0) {
        free(k);
        return 0;
    }
    if ((g->used + 1) * 4 > g->slot_cap * 3 && grow_slots(g) != 0) {
        free(k);
        return -1;
    }
    uint64_t h = XXH3_64bits(k, kl);
    h = h ? h : 1;
    key_slot *s = find(g, k, kl, h);
    if (s->hash) {
        if (better(&g->entries[entry], &g->entries[s->entry]))
            s->entry = entry;
        free(k);
        return 0;
    }
    if (g->keys_len + kl + 1 > g->keys_cap) {
        size_t cap = g->keys_cap ? g->keys_cap * 2 : 65536;
        while (cap < g->keys_len + kl + 1)
            cap *= 2;
        char *nk = realloc(g->keys, cap);
        if (!nk) {
            free(k);
            return -1;
        }
        g->keys = nk;
        g->keys_cap = cap;
    }
    memcpy(g->keys + g->keys_len, k, kl + 1);
    s->hash = h;
    s->entry = entry;
    s->key_off = (uint32_t)g->keys_len;
    g->keys_len += kl + 1;
    g->used++;
    size_t words = 1;
    for (size_t i = 0; i < kl; i++)
        words += k[i] == ' ';
    if (words > g->max_words)
        g->max_words = words;
    free(k);
    return 0;
}

int gz_add(gazetteer *g, const char *canonical, const char *type, const char *id,
           const char *aliases, uint32_t population, bool ambiguous, uint8_t priority)
{
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
    e->ambiguous = ambiguous;
    e->priority = priority;
    if (!e->canonical || !e->type)
        return -1;
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

const gz_entry *gz_lookup(const gazetteer *g, const char *key, size_t len)
{
    if (!g->slot_cap || !len)
        return NULL;
    uint64_t h = XXH3_64bits(key, len);
    key_slot *s = find(g, key, len, h ? h : 1);
    return s->hash ? &g->entries[s->entry] : NULL;
}

static const gazetteer *sort_g; /* qsort has no context argument; built once, single-threaded */

static int cmp_shape(const void *a, const void *b)
{
    const char *x = key_at(sort_g, sort_g->slots[*(const uint32_t *)a].key_off);
    const char *y = key_at(sort_g, sort_g->slots[*(const uint32_t *)b].key_off);
    if (x[0] != y[0])
        return (unsigned char)x[0] - (unsigned char)y[0];
    size_t lx = strlen(x), ly = strlen(y);
    return lx < ly ? -1 : lx > ly;
}

int gz_prepare(gazetteer *g)
{
    free(g->by_shape);
    g->by_shape = malloc((g->used + 1) * sizeof *g->by_shape);
    if (!g->by_shape)
        return -1;
    g->n_by_shape = 0;
    for (size_t i = 0; i < g->slot_cap; i++)
        if (g->slots[i].hash)
            g->by_shape[g->n_by_shape++] = (uint32_t)i;
    sort_g = g;
    qsort(g->by_shape, g->n_by_shape, sizeof *g->by_shape, cmp_shape);
    return 0;
}

const gz_entry *gz_fuzzy(const gazetteer *g, const char *key, size_t len, size_t max_dist,
                         size_t *dist)
{
    /* only keys with the same first letter and a length within max_dist can
     * be that close: find that range by binary search */
    size_t lo = 0, hi = g->n_by_shape;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *k = key_at(g, g->slots[g->by_shape[mid]].key_off);
        if ((unsigned char)k[0] < (unsigned char)key[0] ||
            (k[0] == key[0] && strlen(k) + max_dist < len))
            lo = mid + 1;
        else
            hi = mid;
    }
    const gz_entry *best = NULL;
    size_t best_d = max_dist + 1;
    for (size_t i = lo; i < g->n_by_shape; i++) {
        const key_slot *sl = &g->slots[g->by_shape[i]];
        const char *k = key_at(g, sl->key_off);
        size_t kl = strlen(k);
        if (k[0] != key[0] || kl > len + max_dist)
            break;
        size_t d = fold_distance(key, len, k, kl, max_dist);
        const gz_entry *e = &g->entries[sl->entry];
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

/* Splits a TSV line (in place) into at most max fields. */
static size_t split_tsv(char *line, char **f, size_t max)
{
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

/* Splits an RFC 4180 CSV line (in place; quotes removed, "" unescaped). */
static size_t split_csv(char *line, char **f, size_t max, bool *bad)
{
    size_t n = 0;
    char *r = line, *w = line;
    *bad = false;
    while (n < max) {
        f[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r) {
                    *bad = true; /* an unterminated quote */
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
        } else {
            while (*r && *r != ',')
                *w++ = *r++;
        }
        if (*r == ',') {
            *w++ = 0;
            r++;
            continue;
        }
        *w = 0;
        break;
    }
    return n;
}

static int load_table(gazetteer *g, const char *path, bool csv, uint8_t prio, char *err,
                      size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %m", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    bool header = false;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (!got || line[0] == '#')
            continue;
        if (!header) {
            header = true;
            if (!strncmp(line, "canonical", 9))
                continue; /* the header line */
        }
        char *fl[6] = {0};
        bool bad = false;
        size_t n = csv ? split_csv(line, fl, 6, &bad) : split_tsv(line, fl, 6);
        if (bad || n < 2 || !*fl[0] || !valid_type(fl[1])) {
            snprintf(err, err_len,
                     "%s:%zu: %s", path, lineno,
                     bad ? "an unterminated quote"
                     : n < 2 || !*fl[0]
                         ? "expected canonical, type[, id, aliases] separated by "
                           "tabs (or commas in .csv)"
                         : "the type must be PER, ORG, LOC or MISC");
            rc = -1;
            break;
        }
        bool amb = n > 4 && fl[4] && strstr(fl[4], "ambiguous");
        uint32_t pop = n > 5 && fl[5] ? (uint32_t)strtoul(fl[5], NULL, 10) : 0;
        if (gz_add(g, fl[0], fl[1], n > 2 ? fl[2] : NULL, n > 3 ? fl[3] : NULL, pop, amb,
                   prio) != 0) {
            snprintf(err, err_len, "%s:%zu: out of memory", path, lineno);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* YAML: a list of {canonical, type, id, aliases: [..]} */
static int load_yaml(gazetteer *g, const char *path, uint8_t prio, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %m", path);
        return -1;
    }
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
        snprintf(err, err_len, "%s:1:1: expected a list of entries {canonical, type, id, aliases}",
                 path);
        rc = -1;
    }
    for (yaml_node_item_t *it = rc ? NULL : root->data.sequence.items.start;
         it && it < root->data.sequence.items.top && rc == 0; it++) {
        yaml_node_t *e = yaml_document_get_node(&d, *it);
        const char *canon = NULL, *type = NULL, *id = NULL;
        char aliases[8192] = "";
        size_t al = 0;
        if (e->type != YAML_MAPPING_NODE) {
            snprintf(err, err_len, "%s:%zu: an entry must be a mapping", path, e->start_mark.line + 1);
            rc = -1;
            break;
        }
        for (yaml_node_pair_t *pr = e->data.mapping.pairs.start; pr < e->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&d, pr->key), *v = yaml_document_get_node(&d, pr->value);
            const char *ks = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
            if (v->type == YAML_SCALAR_NODE) {
                const char *vs = (const char *)v->data.scalar.value;
                if (!strcmp(ks, "canonical"))
                    canon = vs;
                else if (!strcmp(ks, "type"))
                    type = vs;
                else if (!strcmp(ks, "id"))
                    id = vs;
                else if (!strcmp(ks, "aliases"))
                    al += (size_t)snprintf(aliases + al, sizeof aliases - al, "%s%s", al ? "|" : "", vs);
            } else if (v->type == YAML_SEQUENCE_NODE && !strcmp(ks, "aliases")) {
                for (yaml_node_item_t *a = v->data.sequence.items.start; a < v->data.sequence.items.top; a++) {
                    yaml_node_t *an = yaml_document_get_node(&d, *a);
                    if (an->type == YAML_SCALAR_NODE && al < sizeof aliases - 1)
                        al += (size_t)snprintf(aliases + al, sizeof aliases - al, "%s%s", al ? "|" : "",
                                               (const char *)an->data.scalar.value);
                }
            }
        }
        if (!canon || !type || !valid_type(type)) {
            snprintf(err, err_len, "%s:%zu: an entry needs canonical and type (PER, ORG, LOC or MISC)",
                     path, e->start_mark.line + 1);
            rc = -1;
        } else if (gz_add(g, canon, type, id, aliases, 0, false, prio) != 0) {
            snprintf(err, err_len, "%s: out of memory", path);
            rc = -1;
        }
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int gz_load(gazetteer *g, const char *path, char *err, size_t err_len)
{
    uint8_t prio = g->next_priority++;
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".csv"))
        return load_table(g, path, true, prio, err, err_len);
    if ((n > 5 && !strcmp(path + n - 5, ".yaml")) || (n > 4 && !strcmp(path + n - 4, ".yml")))
        return load_yaml(g, path, prio, err, err_len);
    return load_table(g, path, false, prio, err, err_len);
}
