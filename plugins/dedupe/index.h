/* The dedupe index: the exact hashes, MinHash signatures and LSH bands of
 * the documents later ones are compared with, in memory, loaded from and
 * saved to a store on disk. The store is behind the small interface at the
 * bottom (SQLite today) so that a shared backend can be added. Memory per
 * document: the 8-bit signature (H bytes), the exact hash (8), a flag (1),
 * a query stamp (4),
 * the id's offset (4) and text, and one 4-byte slot per band and one in the
 * exact table (tables 68-85% full). The exact table is its own so that
 * exact-only dedupe (near: false) needs no signature at all: such documents
 * have none and are in no band. */
#ifndef DEDUPE_INDEX_H
#define DEDUPE_INDEX_H

#include "textmill/plugin.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct dd_table {
    uint32_t *slots; /* document index + 1; 0 is empty */
    size_t cap;
} dd_table;

/* Documents live in chunks of 65,536, so that growing the index never
 * copies it and never leaves more than one chunk unused. */
#define DD_CHUNK_BITS 16
#define DD_CHUNK (1u << DD_CHUNK_BITS)

typedef struct dd_index {
    const tm_host *host;
    size_t H, bands, rows;
    size_t n;
    uint64_t **exact; /* per chunk: the exact hashes */
    uint32_t **id_off; /* per chunk: where each id starts in the id arena */
    uint8_t **sigs;    /* per chunk: H bytes per document */
    uint8_t **has_sig; /* per chunk: 1 when the document has a signature (is in the bands) */
    uint32_t **seen;   /* per chunk: the last query that reached the document */
    uint32_t query;
    size_t n_chunks;
    char **ids;        /* id arena: chunks of 1 MiB */
    size_t n_id_chunks, id_used;
    dd_table *band;    /* one table per band */
    dd_table exact_t;  /* every document, by exact hash */
    size_t n_saved;    /* documents [0, n_saved) are in the store */
} dd_index;

/* bands x rows <= H: a band is `rows` consecutive values of the signature. */
int dd_index_init(dd_index *x, const tm_host *h, size_t H, size_t bands, size_t rows);
void dd_index_free(dd_index *x);
/* Adds a document; sig NULL: none (exact only). Returns its index or -1 (out
 * of memory). */
long dd_index_add(dd_index *x, const char *id, size_t id_len, uint64_t exact, const uint8_t *sig);
/* The earliest document with this exact hash, or -1; *self (when id is not
 * NULL): the earliest with this hash and this id, or -1. */
long dd_index_exact(const dd_index *x, uint64_t exact, const char *id, long *self);
/* Calls fn once for each document with a signature sharing a band with sig;
 * stops when fn returns true. */
void dd_index_candidates(dd_index *x, const uint8_t *sig,
                         bool (*fn)(void *arg, long doc), void *arg);
const char *dd_index_id(const dd_index *x, long doc);
/* NULL for a document without a signature */
const uint8_t *dd_index_sig(const dd_index *x, long doc);
size_t dd_index_bytes(const dd_index *x); /* memory held, for the bench */

/* ---- the store ------------------------------------------------------------------- */
typedef struct dd_store dd_store;
/* Opens (creating) the store at path; `params` describes the options that
 * shape signatures, and a store built with other params is refused. Errors
 * are written to err. */
dd_store *dd_store_open(const char *path, const char *params, char *err, size_t err_len);
int dd_store_load(dd_store *s, dd_index *x, char *err, size_t err_len);
/* Before load, with a run ledger (state_get/state_set): `committed` is the
 * last row the ledger says a completed run saved ("" when the ledger holds
 * none). Rows after it were saved by a run that died before its ledger
 * commit, whose documents the next run processes again: they are removed
 * (in this run's transaction). A store never used with a ledger keeps its
 * rows, and is marked as used with one from this run on. */
int dd_store_cut_back(dd_store *s, const char *committed, char *err, size_t err_len);
/* The last row saved, as text for the ledger. Call after dd_store_save. */
int dd_store_last_row(dd_store *s, char *out, size_t n, char *err, size_t err_len);
/* Saves documents [x->n_saved, x->n) in one transaction. */
int dd_store_save(dd_store *s, dd_index *x, char *err, size_t err_len);
void dd_store_close(dd_store *s);

#endif
