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
} df_entry;

typedef struct df_table {
    df_entry *e;
    size_t cap, n;
    uint64_t prior_docs, seen_docs;
} df_table;

bool df_init(df_table *d);
void df_free(df_table *d);
/* The entry of a term, added when absent (NULL when memory runs out). */
df_entry *df_slot(df_table *d, uint32_t term);
const df_entry *df_find(const df_table *d, uint32_t term);
/* log((N + 1) / (df + 1)) + 1 over prior and seen documents: a term never
 * seen weighs most, one in every document weighs 1. */
double df_idf(const df_table *d, uint32_t term);
size_t df_bytes(const df_table *d);

#endif
