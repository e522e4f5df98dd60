/* Document frequencies; see df.h. */
#include "df.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool df_init(df_table *d)
{
    memset(d, 0, sizeof *d);
    d->cap = 1u << 14;
    d->e = calloc(d->cap, sizeof *d->e);
    return d->e != NULL;
}

void df_free(df_table *d)
{
    free(d->e);
    memset(d, 0, sizeof *d);
}

static size_t home(uint32_t term, size_t cap) { return (term * 2654435761u) & (cap - 1); }

static bool grow(df_table *d)
{
    size_t cap = d->cap * 2;
    df_entry *e = calloc(cap, sizeof *e);
    if (!e)
        return false;
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->e[i].term)
            continue;
        size_t j = home(d->e[i].term, cap);
        while (e[j].term)
            j = (j + 1) & (cap - 1);
        e[j] = d->e[i];
    }
    free(d->e);
    d->e = e;
    d->cap = cap;
    return true;
}

const df_entry *df_find(const df_table *d, uint32_t term)
{
    size_t j = home(term, d->cap);
    while (d->e[j].term) {
        if (d->e[j].term == term)
            return &d->e[j];
        j = (j + 1) & (d->cap - 1);
    }
    return NULL;
}

df_entry *df_slot(df_table *d, uint32_t term)
{
    df_entry *e = (df_entry *)df_find(d, term);
    if (e)
        return e;
    if ((d->n + 1) * 4 > d->cap * 3 && !grow(d))
        return NULL;
    size_t j = home(term, d->cap);
    while (d->e[j].term)
        j = (j + 1) & (d->cap - 1);
    d->e[j] = (df_entry){.term = term};
    d->n++;
    return &d->e[j];
}

double df_idf(const df_table *d, uint32_t term)
{
    const df_entry *e = df_find(d, term);
    double prior = ((e ? e->prior : 0) + 0.5) / ((double)d->prior_docs + 1);
    double w = d->prior_weight;
    double p = ((e ? e->seen : 0) + w * prior) / ((double)d->seen_docs + w);
    return p < 1 ? 1 - log(p) : 1;
}

size_t df_bytes(const df_table *d) { return d->cap * sizeof *d->e; }

bool df_prune(df_table *d, void (*gone)(void *arg, uint32_t term), void *arg)
{
    uint32_t bar = 1;
    while (d->n > DF_MAX / 2) {
        df_table k = {.cap = d->cap, .prior_docs = d->prior_docs, .seen_docs = d->seen_docs,
                      .prior_weight = d->prior_weight};
        k.e = calloc(k.cap, sizeof *k.e);
        if (!k.e)
            return false;
        for (size_t i = 0; i < d->cap; i++) {
            const df_entry *x = &d->e[i];
            if (!x->term)
                continue;
            if (!x->prior && x->seen <= bar) {
                gone(arg, x->term);
                continue;
            }
            size_t j = home(x->term, k.cap);
            while (k.e[j].term)
                j = (j + 1) & (k.cap - 1);
            k.e[j] = *x;
            k.n++;
        }
        free(d->e);
        *d = k;
        bar *= 2; /* still too many: the next pass forgets more */
    }
    return true;
}
