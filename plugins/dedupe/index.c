#include "index.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

/* Tables grow by half when 85% full; the slot is found by multiply-shift on
 * the key, so capacities need not be powers of two (less waste). */
static inline size_t home(uint64_t key, size_t cap)
{
    return (size_t)(((unsigned __int128)key * cap) >> 64);
}

static int table_init(const tm_host *h, dd_table *t, size_t cap)
{
    t->slots = h->alloc(cap * sizeof *t->slots);
    if (!t->slots)
        return TM_ENOMEM;
    memset(t->slots, 0, cap * sizeof *t->slots);
    t->cap = cap;
    return TM_OK;
}

int dd_index_init(dd_index *x, const tm_host *h, size_t H, size_t bands, size_t rows)
{
    memset(x, 0, sizeof *x);
    x->host = h;
    x->H = H;
    x->bands = bands;
    x->rows = rows;
    x->band = h->alloc(bands * sizeof *x->band);
    if (!x->band)
        return TM_ENOMEM;
    memset(x->band, 0, bands * sizeof *x->band);
    int rc = table_init(h, &x->exact, 64);
    for (size_t j = 0; rc == TM_OK && j < bands; j++)
        rc = table_init(h, &x->band[j], 64);
    return rc;
}

void dd_index_free(dd_index *x)
{
    const tm_host *h = x->host;
    if (!h)
        return;
    h->free(x->docs);
    h->free(x->sigs);
    h->free(x->ids);
    h->free(x->exact.slots);
    for (size_t j = 0; x->band && j < x->bands; j++)
        h->free(x->band[j].slots);
    h->free(x->band);
    memset(x, 0, sizeof *x);
}

static uint64_t doc_band_key(const dd_index *x, long doc, size_t j)
{
    return XXH3_64bits(x->sigs + (size_t)doc * x->H + j * x->rows, x->rows) ^
           (uint64_t)j * 0x9E3779B97F4A7C15ull;
}

static void table_put(dd_table *t, uint64_t key, uint32_t slot)
{
    size_t i = home(key, t->cap);
    while (t->slots[i])
        i = i + 1 == t->cap ? 0 : i + 1;
    t->slots[i] = slot;
}

/* Rebuilds table t (exact: band == SIZE_MAX) at a new capacity. */
static int rehash(dd_index *x, dd_table *t, size_t band, size_t cap)
{
    dd_table n;
    if (table_init(x->host, &n, cap) != TM_OK)
        return TM_ENOMEM;
    for (size_t d = 0; d < x->n; d++)
        table_put(&n, band == SIZE_MAX ? x->docs[d].exact : doc_band_key(x, (long)d, band),
                  (uint32_t)d + 1);
    x->host->free(t->slots);
    *t = n;
    return TM_OK;
}

long dd_index_add(dd_index *x, const char *id, size_t id_len, uint64_t exact, const uint8_t *sig)
{
    const tm_host *h = x->host;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap + x->cap / 2 : 1024;
        dd_doc *d = h->realloc(x->docs, cap * sizeof *d);
        if (!d)
            return -1;
        x->docs = d;
        uint8_t *s = h->realloc(x->sigs, cap * x->H);
        if (!s)
            return -1;
        x->sigs = s;
        x->cap = cap;
    }
    if (x->ids_len + id_len + 1 > x->ids_cap) {
        size_t cap = x->ids_cap ? x->ids_cap + x->ids_cap / 2 : 65536;
        while (cap < x->ids_len + id_len + 1)
            cap += cap / 2;
        char *g = h->realloc(x->ids, cap);
        if (!g)
            return -1;
        x->ids = g;
        x->ids_cap = cap;
    }
    long doc = (long)x->n;
    x->docs[doc].exact = exact;
    x->docs[doc].id_off = (uint32_t)x->ids_len;
    memcpy(x->ids + x->ids_len, id, id_len);
    x->ids[x->ids_len + id_len] = 0;
    x->ids_len += id_len + 1;
    memcpy(x->sigs + (size_t)doc * x->H, sig, x->H);
    x->n++;
    if (x->n * 100 > x->exact.cap * 85) {
        size_t cap = x->exact.cap + x->exact.cap / 2;
        if (rehash(x, &x->exact, SIZE_MAX, cap) != TM_OK)
            return -1;
        for (size_t j = 0; j < x->bands; j++)
            if (rehash(x, &x->band[j], j, cap) != TM_OK)
                return -1;
        return doc; /* the rehash placed it */
    }
    table_put(&x->exact, exact, (uint32_t)doc + 1);
    for (size_t j = 0; j < x->bands; j++)
        table_put(&x->band[j], doc_band_key(x, doc, j), (uint32_t)doc + 1);
    return doc;
}

long dd_index_exact(const dd_index *x, uint64_t exact)
{
    const dd_table *t = &x->exact;
    long best = -1;
    for (size_t i = home(exact, t->cap); t->slots[i]; i = i + 1 == t->cap ? 0 : i + 1) {
        long d = (long)t->slots[i] - 1;
        if (x->docs[d].exact == exact && (best < 0 || d < best))
            best = d;
    }
    return best;
}

void dd_index_candidates(const dd_index *x, const uint8_t *sig,
                         bool (*fn)(void *arg, long doc), void *arg)
{
    for (size_t j = 0; j < x->bands; j++) {
        const dd_table *t = &x->band[j];
        uint64_t key = XXH3_64bits(sig + j * x->rows, x->rows) ^ (uint64_t)j * 0x9E3779B97F4A7C15ull;
        for (size_t i = home(key, t->cap); t->slots[i]; i = i + 1 == t->cap ? 0 : i + 1) {
            long d = (long)t->slots[i] - 1;
            if (!memcmp(x->sigs + (size_t)d * x->H + j * x->rows, sig + j * x->rows, x->rows) &&
                fn(arg, d))
                return;
        }
    }
}

const char *dd_index_id(const dd_index *x, long doc) { return x->ids + x->docs[doc].id_off; }

const uint8_t *dd_index_sig(const dd_index *x, long doc) { return x->sigs + (size_t)doc * x->H; }

size_t dd_index_bytes(const dd_index *x)
{
    return x->cap * (sizeof(dd_doc) + x->H) + x->ids_cap +
           (x->bands + 1) * x->exact.cap * sizeof(uint32_t);
}

/* ---- SQLite store ---------------------------------------------------------------------- */

struct dd_store {
    sqlite3 *db;
    char *path;
};

static void store_err(dd_store *s, const char *what, char *err, size_t n)
{
    snprintf(err, n, "%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : "out of memory");
}

dd_store *dd_store_open(const char *path, const char *params, char *err, size_t err_len)
{
    dd_store *s = sqlite3_malloc(sizeof *s);
    if (!s) {
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    s->db = NULL;
    s->path = sqlite3_mprintf("%s", path);
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->db, 10000);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db,
                          "PRAGMA journal_mode=WAL;"
                          "CREATE TABLE IF NOT EXISTS params (key TEXT PRIMARY KEY, value TEXT);"
                          "CREATE TABLE IF NOT EXISTS docs (n INTEGER PRIMARY KEY, id TEXT NOT "
                          "NULL, exact INTEGER NOT NULL, sig BLOB NOT NULL);",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_err(s, "cannot open the dedupe index (corrupt, locked or not a database?)", err,
                  err_len);
        dd_store_close(s);
        return NULL;
    }
    /* the same options, or a clear refusal: never a silently wrong index */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM params WHERE key = 'signature'", -1, &st,
                            NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(st, 0);
        if (!have || strcmp(have, params) != 0) {
            snprintf(err, err_len,
                     "%s: this index was built with other options (%s; now %s): use another "
                     "state directory or the same shingle, hashes, seed and normalisation",
                     path, have ? have : "?", params);
            sqlite3_finalize(st);
            dd_store_close(s);
            return NULL;
        }
    } else if (rc == SQLITE_OK) {
        sqlite3_finalize(st);
        st = NULL;
        rc = sqlite3_prepare_v2(s->db, "INSERT INTO params VALUES ('signature', ?1)", -1, &st,
                                NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, params, -1, SQLITE_TRANSIENT);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        store_err(s, "cannot read the dedupe index", err, err_len);
        dd_store_close(s);
        return NULL;
    }
    return s;
}

int dd_store_load(dd_store *s, dd_index *x, char *err, size_t err_len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id, exact, sig FROM docs ORDER BY n", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            int idl = sqlite3_column_bytes(st, 0);
            const void *sig = sqlite3_column_blob(st, 2);
            if (!id || !sig || (size_t)sqlite3_column_bytes(st, 2) != x->H) {
                snprintf(err, err_len, "%s: a damaged entry in the dedupe index", s->path);
                sqlite3_finalize(st);
                return TM_ERR;
            }
            if (dd_index_add(x, id, (size_t)idl, (uint64_t)sqlite3_column_int64(st, 1), sig) < 0) {
                sqlite3_finalize(st);
                snprintf(err, err_len, "%s: out of memory loading the dedupe index", s->path);
                return TM_ENOMEM;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        store_err(s, "cannot read the dedupe index", err, err_len);
        sqlite3_finalize(st);
        return TM_ERR;
    }
    sqlite3_finalize(st);
    x->n_saved = x->n;
    return TM_OK;
}

int dd_store_save(dd_store *s, dd_index *x, char *err, size_t err_len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "INSERT INTO docs (id, exact, sig) VALUES (?1, ?2, ?3)",
                                -1, &st, NULL);
    for (size_t d = x->n_saved; rc == SQLITE_OK && d < x->n; d++) {
        sqlite3_bind_text(st, 1, dd_index_id(x, (long)d), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)x->docs[d].exact);
        sqlite3_bind_blob(st, 3, dd_index_sig(x, (long)d), (int)x->H, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_err(s, "cannot save the dedupe index", err, err_len);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return TM_ERR;
    }
    x->n_saved = x->n;
    return TM_OK;
}

void dd_store_close(dd_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    sqlite3_free(s->path);
    sqlite3_free(s);
}
