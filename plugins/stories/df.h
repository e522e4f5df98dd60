/* Document frequencies: in how many documents each term (or name) occurs.
 * They start from a prior counted on background news (the model's df table,
 * so that two articles alone already know that "police" is common and
 * "Shusha" is not) and grow with every document the stage sees; with
 * `state:` the counts of the stream are kept across runs. */
#ifndef STORIES_DF_H
#define STORIES_DF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct df_entry {
    uint32_t term;  /* 0: empty */
    uint32_t prior; /* from the model */
    uint32_t seen;  /* documents of the stream */
    uint32_t dirty; /* changed since the last save */
    uint32_t stamp; /* the number of the document that counted it last */
} df_entry;

typedef struct df_table {
    df_entry *e;
    size_t cap, n;
    uint64_t prior_docs, seen_docs;
    double prior_weight; /* how many of the stream's documents the prior is worth */
} df_table;

bool df_init(df_table *d);
void df_free(df_table *d);
/* The entry of a term, added when absent (NULL when memory runs out). */
df_entry *df_slot(df_table *d, uint32_t term);
const df_entry *df_find(const df_table *d, uint32_t term);
/* 1 + log(1 / p), where p, the share of documents holding the term, is the
 * stream's own share smoothed by the prior's, which counts as
 * `prior_weight` documents: p = (seen + w * prior_share) / (N + w). So a
 * long stream decides by its own counts (in a stream about one war, the
 * war's names are common), and a stream of two articles still knows what
 * is common in news. */
double df_idf(const df_table *d, uint32_t term);
size_t df_bytes(const df_table *d);

/* The stream's vocabulary grows without end (names, typos, numbers): past
 * DF_MAX terms, the terms the prior does not know and the stream has seen
 * least are forgotten (an unseen term and a term seen once weigh almost the
 * same) until at most half of DF_MAX are left. Each term forgotten is
 * passed to `gone` (for the store). false when memory runs out. */
#define DF_MAX (1u << 20)
bool df_prune(df_table *d, void (*gone)(void *arg, uint32_t term), void *arg);

#endif
