/* Counts of how many documents each (normalised) line appears in, over a
 * run and, with state, over earlier runs: CCNet's idea that a line repeated
 * across many documents is boilerplate. */
#ifndef CLEANUP_LINESTATS_H
#define CLEANUP_LINESTATS_H

#include "textmill/plugin.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct line_count {
    uint64_t hash;   /* 0 marks an empty slot */
    uint32_t docs;   /* documents holding the line, earlier runs included */
    uint32_t edge;   /* of those, where it sat in the first or last lines */
    uint32_t run_docs, run_edge; /* this run's share, to be saved */
} line_count;

typedef struct linestats {
    const tm_host *host;
    line_count *slots;
    size_t cap, used, max_entries;
} linestats;

int linestats_init(linestats *ls, const tm_host *host, size_t max_entries);
void linestats_free(linestats *ls);
/* The hash of a line for counting: ASCII case and digits folded, so that
 * "Posted on May 3" and "Posted on June 12" stay apart but "12 comments" and
 * "7 comments" meet. Never 0. */
uint64_t linestats_hash(const char *s, size_t n);
/* Counts one document's line (call once per distinct line per document). */
void linestats_add(linestats *ls, uint64_t h, bool edge, bool earlier_run, uint32_t docs,
                   uint32_t edges);
const line_count *linestats_get(const linestats *ls, uint64_t h);

/* Loads counts saved by earlier runs from SQLite file `path` (absent: none)
 * and saves this run's counts into it. Both return TM_OK or TM_ERR with a
 * message in *err (static or from sqlite). */
/* `committed`: the last run number the run ledger confirmed (0: none); save
 * tags this run's counts committed + 1, for the caller to confirm with
 * host->state_set once they are saved (see linestats.c). */
int linestats_load(linestats *ls, const char *path, long long committed, char *err,
                   size_t err_len);
int linestats_save(linestats *ls, const char *path, long long committed, char *err,
                   size_t err_len);

#endif
