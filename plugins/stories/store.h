/* The stories stage's memory across runs: STATE/stories-NAME.sqlite.
 *
 * Every row carries the generation of the run that wrote it. A run writes
 * generation G+1 in the plugin's commit, after every sink has committed its
 * output, and records G+1 in the ledger (host->state_set), which becomes
 * durable last. The next run reads G from the ledger: rows of a later
 * generation were written by a run that died before its ledger commit (its
 * inputs are processed again), so they are deleted; of the rest, the
 * latest row of each story, term and document wins. So a run killed at any
 * moment leaves the stories as the last completed run left them. */
#ifndef STORIES_STORE_H
#define STORIES_STORE_H

#include "cluster.h"

#include <stddef.h>
#include <stdint.h>

typedef struct st_store st_store;

/* Opens (creating) the store, drops rows newer than `committed` (the
 * ledger's generation, 0 when none), compacts, and loads it into e.
 * NULL with the reason in err (a corrupt file, another version). */
st_store *st_store_open(const char *path, uint64_t committed, st_engine *e, char *err,
                        size_t err_len);
/* Writes what changed in e as generation committed + 1. */
int st_store_save(st_store *s, st_engine *e, char *err, size_t err_len);
/* The generation the last save wrote (for the ledger). */
uint64_t st_store_generation(const st_store *s);
void st_store_close(st_store *s);

#endif
