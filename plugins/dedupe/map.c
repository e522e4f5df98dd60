#include "map.h"

#include <stdlib.h>

static size_t slot(uint64_t k, size_t cap) { return (size_t)(k * 0x9E3779B97F4A7C15ull) & (cap - 1); }

static bool grow(u64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 4096;
    uint64_t *k = calloc(cap, sizeof *k);
    uint32_t *v = calloc(cap, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot(m->keys[i], cap);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return true;
}

uint32_t *u64map_get(u64map *m, uint64_t key, bool add, uint32_t init)
{
    if (add && (m->used + 1) * 4 > m->cap * 3 && !grow(m))
        return NULL;
    if (!m->cap)
        return NULL;
    size_t j = slot(key, m->cap);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        if (!add)
            return NULL;
        m->keys[j] = key;
        m->vals[j] = init;
        m->used++;
    }
    return &m->vals[j];
}

void u64map_free(u64map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->used = 0;
}
