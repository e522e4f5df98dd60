/* Hash map; see map.h. */
#include "map.h"

#include <stdlib.h>

void st_map_free(st_map *m)
{
    free(m->k);
    free(m->v);
    m->k = m->v = NULL;
    m->cap = m->n = 0;
}

static size_t home(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

uint64_t *st_map_get(const st_map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t j = home(key, m->cap);; j = (j + 1) & (m->cap - 1)) {
        if (m->k[j] == key)
            return &m->v[j];
        if (!m->k[j])
            return NULL;
    }
}

static bool grow(st_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *k = calloc(cap, sizeof *k), *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->k[i])
            continue;
        size_t j = home(m->k[i], cap);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->k[i];
        v[j] = m->v[i];
    }
    free(m->k);
    free(m->v);
    m->k = k;
    m->v = v;
    m->cap = cap;
    return true;
}

bool st_map_put(st_map *m, uint64_t key, uint64_t value)
{
    uint64_t *p = st_map_get(m, key);
    if (p) {
        *p = value;
        return true;
    }
    if ((m->n + 1) * 4 > m->cap * 3 && !grow(m))
        return false;
    size_t j = home(key, m->cap);
    while (m->k[j])
        j = (j + 1) & (m->cap - 1);
    m->k[j] = key;
    m->v[j] = value;
    m->n++;
    return true;
}

void st_map_del(st_map *m, uint64_t key)
{
    if (!m->cap)
        return;
    size_t j = home(key, m->cap);
    while (m->k[j] != key) {
        if (!m->k[j])
            return;
        j = (j + 1) & (m->cap - 1);
    }
    /* shift back the entries after it that would no longer be found */
    size_t i = j;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->k[j])
            break;
        size_t h = home(m->k[j], m->cap);
        /* entry j may move to i if its home is not in (i, j] cyclically */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            m->k[i] = m->k[j];
            m->v[i] = m->v[j];
            i = j;
        }
    }
    m->k[i] = 0;
    m->n--;
}

size_t st_map_bytes(const st_map *m) { return m->cap * 2 * sizeof(uint64_t); }
