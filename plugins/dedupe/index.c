#include "index.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* inlined: the hashes of short tokens and bands are most of the calls */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* The slot of a key: multiply-shift, so capacities need not be powers of
 * two and tables can grow by a quarter. */
static inline size_t home(uint64_t key, size_t cap)
{
    return (size_t)(((unsigned __int128)key * cap) >> 64);
}

#define ID_CHUNK (1u << 20)

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
    int rc = table_init(h, &x->exact_t, 64);
    for (size_t j = 0; rc == TM_OK && j < bands; j++)
        rc = table_init(h, &x->band[j], 64);
    return rc;
}

void dd_index_free(dd_index *x)
{
    const tm_host *h = x->host;
    if (!h)
        return;
    for (size_t c = 0; c < x->n_chunks; c++) {
        h->free(x->exact[c]);
        h->free(x->id_off[c]);
        h->free(x->sigs[c]);
        h->free(x->has_sig[c]);
        h->free(x->seen[c]);
    }
    for (size_t c = 0; c < x->n_id_chunks; c++)
        h->free(x->ids[c]);
    h->free(x->exact);
    h->free(x->id_off);
    h->free(x->sigs);
    h->free(x->has_sig);
    h->free(x->seen);
    h->free(x->ids);
    for (size_t j = 0; x->band && j < x->bands; j++)
        h->free(x->band[j].slots);
    h->free(x->band);
    h->free(x->exact_t.slots);
    memset(x, 0, sizeof *x);
}

static inline uint64_t *exact_at(const dd_index *x, size_t d)
{
    return &x->exact[d >> DD_CHUNK_BITS][d & (DD_CHUNK - 1)];
}

static inline const uint8_t *sig_at(const dd_index *x, size_t d)
{
    return x->sigs[d >> DD_CHUNK_BITS] + (d & (DD_CHUNK - 1)) * x->H;
}

static inline bool has_sig(const dd_index *x, size_t d)
{
    return x->has_sig[d >> DD_CHUNK_BITS][d & (DD_CHUNK - 1)];
}

const uint8_t *dd_index_sig(const dd_index *x, long doc)
{
    return has_sig(x, (size_t)doc) ? sig_at(x, (size_t)doc) : NULL;
}

const char *dd_index_id(const dd_index *x, long doc)
{
    size_t d = (size_t)doc;
    uint32_t off = x->id_off[d >> DD_CHUNK_BITS][d & (DD_CHUNK - 1)];
    return x->ids[off >> 20] + (off & (ID_CHUNK - 1));
}

/* Band j is the values j, j + bands, j + 2 bands, ...: not neighbours,
 * because densification fills a run of empty bins from one shingle, and in
 * a short text a band of neighbouring bins would often stand for a single
 * (common) shingle and make candidates of every text that has it. */
static inline bool band_eq(const dd_index *x, const uint8_t *a, const uint8_t *b, size_t j)
{
    for (size_t k = 0, i = j; k < x->rows; k++, i += x->bands)
        if (a[i] != b[i])
            return false;
    return true;
}

static uint64_t key_of(const dd_index *x, const uint8_t *sig, size_t j)
{
    uint8_t v[1024]; /* rows <= hashes <= 1024 */
    for (size_t k = 0, i = j; k < x->rows; k++, i += x->bands)
        v[k] = sig[i];
    return XXH3_64bits(v, x->rows) ^ (uint64_t)j * 0x9E3779B97F4A7C15ull;
}

static void table_put(dd_table *t, uint64_t key, uint32_t slot)
{
    size_t i = home(key, t->cap);
    while (t->slots[i])
        i = i + 1 == t->cap ? 0 : i + 1;
    t->slots[i] = slot;
}

/* band: a band's table, or bands for the exact table */
static int rehash(dd_index *x, size_t band, size_t cap)
{
    dd_table n, *t = band < x->bands ? &x->band[band] : &x->exact_t;
    if (table_init(x->host, &n, cap) != TM_OK)
        return TM_ENOMEM;
    for (size_t d = 0; d < x->n; d++) {
        if (band == x->bands)
            table_put(&n, *exact_at(x, d), (uint32_t)d + 1);
        else if (has_sig(x, d))
            table_put(&n, key_of(x, sig_at(x, d), band), (uint32_t)d + 1);
    }
    x->host->free(t->slots);
    *t = n;
    return TM_OK;
}

static bool grow_array(const tm_host *h, void **p, size_t n, size_t size)
{
    void *g = h->realloc(*p, (n + 1) * size);
    if (!g)
        return false;
    *p = g;
    return true;
}

long dd_index_add(dd_index *x, const char *id, size_t id_len, uint64_t exact, const uint8_t *sig)
{
    const tm_host *h = x->host;
    size_t d = x->n, c = d >> DD_CHUNK_BITS;
    if (c == x->n_chunks) {
        if (!grow_array(h, (void **)&x->exact, c, sizeof *x->exact) ||
            !grow_array(h, (void **)&x->id_off, c, sizeof *x->id_off) ||
            !grow_array(h, (void **)&x->sigs, c, sizeof *x->sigs) ||
            !grow_array(h, (void **)&x->has_sig, c, sizeof *x->has_sig) ||
            !grow_array(h, (void **)&x->seen, c, sizeof *x->seen))
            return -1;
        x->exact[c] = h->alloc(DD_CHUNK * sizeof(uint64_t));
        x->id_off[c] = h->alloc(DD_CHUNK * sizeof(uint32_t));
        x->sigs[c] = h->alloc((size_t)DD_CHUNK * x->H);
        x->has_sig[c] = h->alloc(DD_CHUNK);
        x->seen[c] = h->alloc(DD_CHUNK * sizeof(uint32_t));
        x->n_chunks++;
        if (!x->exact[c] || !x->id_off[c] || !x->sigs[c] || !x->has_sig[c] || !x->seen[c])
            return -1;
    }
    /* ids longer than this are kept cut: an id is a name, not a text */
    if (id_len > 4095)
        id_len = 4095;
    if (!x->n_id_chunks || x->id_used + id_len + 1 > ID_CHUNK) {
        if (!grow_array(h, (void **)&x->ids, x->n_id_chunks, sizeof *x->ids) ||
            !(x->ids[x->n_id_chunks] = h->alloc(ID_CHUNK)))
            return -1;
        x->n_id_chunks++;
        x->id_used = 0;
    }
    size_t ic = x->n_id_chunks - 1;
    memcpy(x->ids[ic] + x->id_used, id, id_len);
    x->ids[ic][x->id_used + id_len] = 0;
    x->id_off[c][d & (DD_CHUNK - 1)] = (uint32_t)(ic << 20 | x->id_used);
    x->id_used += id_len + 1;
    *exact_at(x, d) = exact;
    x->has_sig[c][d & (DD_CHUNK - 1)] = sig != NULL;
    x->seen[c][d & (DD_CHUNK - 1)] = 0;
    if (sig)
        memcpy(x->sigs[c] + (d & (DD_CHUNK - 1)) * x->H, sig, x->H);
    x->n++;
    /* the tables grow by a quarter when 85% full: 68-85% full at all times
     * (the band tables are sized for every document, with a signature or not:
     * one capacity for all, and an index is rarely of both kinds) */
    if (x->n * 100 > x->exact_t.cap * 85) {
        size_t cap = x->exact_t.cap + x->exact_t.cap / 4;
        for (size_t j = 0; j <= x->bands; j++)
            if (rehash(x, j, cap) != TM_OK)
                return -1;
        return (long)d; /* the rehash placed it */
    }
    table_put(&x->exact_t, exact, (uint32_t)d + 1);
    for (size_t j = 0; sig && j < x->bands; j++)
        table_put(&x->band[j], key_of(x, sig, j), (uint32_t)d + 1);
    return (long)d;
}

long dd_index_exact(const dd_index *x, uint64_t exact, const char *id, long *self)
{
    const dd_table *t = &x->exact_t;
    long best = -1;
    if (self)
        *self = -1;
    for (size_t i = home(exact, t->cap); t->slots[i]; i = i + 1 == t->cap ? 0 : i + 1) {
        long d = (long)t->slots[i] - 1;
        if (*exact_at(x, (size_t)d) != exact)
            continue;
        if (best < 0 || d < best)
            best = d;
        if (self && (*self < 0 || d < *self) && !strcmp(dd_index_id(x, d), id))
            *self = d;
    }
    return best;
}

void dd_index_candidates(dd_index *x, const uint8_t *sig,
                         bool (*fn)(void *arg, long doc), void *arg)
{
    /* a document sharing many bands is verified once: stamps, not a set */
    if (++x->query == 0) {
        for (size_t c = 0; c < x->n_chunks; c++)
            memset(x->seen[c], 0, DD_CHUNK * sizeof(uint32_t));
        x->query = 1;
    }
    for (size_t j = 0; j < x->bands; j++) {
        const dd_table *t = &x->band[j];
        for (size_t i = home(key_of(x, sig, j), t->cap); t->slots[i];
             i = i + 1 == t->cap ? 0 : i + 1) {
            size_t d = t->slots[i] - 1;
            uint32_t *seen = &x->seen[d >> DD_CHUNK_BITS][d & (DD_CHUNK - 1)];
            if (*seen == x->query)
                continue;
            if (!band_eq(x, sig_at(x, d), sig, j))
                continue; /* another key in the same run of slots */
            *seen = x->query;
            if (fn(arg, (long)d))
                return;
        }
    }
}

size_t dd_index_bytes(const dd_index *x)
{
    return x->n_chunks * (size_t)DD_CHUNK * (sizeof(uint64_t) + 2 * sizeof(uint32_t) + x->H + 1) +
           x->n_id_chunks * (size_t)ID_CHUNK +
           (x->bands + 1) * x->exact_t.cap * sizeof(uint32_t);
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
        /* params begin with the format, "vN "; v1 holds only documents that
         * were kept, each with a signature, which v2 reads as they are */
        bool v1 = have && !strncmp(have, "v1 ", 3) && !strcmp(have + 3, params + 3);
        bool other_options = have && strcmp(have, params) && !v1;
        bool other_format = !have || strlen(have) < 3 || have[0] != 'v' ||
                            strchr(have, ' ') != have + 2 || (strncmp(have, params, 3) && !v1);
        if (other_format)
            snprintf(err, err_len,
                     "%s: this dedupe index was written by another version of textmill (index "
                     "format %.2s; this one reads v1 and v2): use another state directory, or "
                     "that version",
                     path, have ? have : "?");
        else if (other_options)
            snprintf(err, err_len,
                     "%s: this dedupe index was built with other options (%s; now %s): use "
                     "another state directory or the same shingle, hashes, seed and "
                     "normalisation",
                     path, have, params);
        if (other_format || other_options) {
            sqlite3_finalize(st);
            dd_store_close(s);
            return NULL;
        }
        if (v1) { /* from now on it may hold v2 rows: older versions must refuse it */
            sqlite3_finalize(st);
            st = NULL;
            rc = sqlite3_prepare_v2(s->db, "UPDATE params SET value = ?1 WHERE key = 'signature'",
                                    -1, &st, NULL);
            if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, params, -1, SQLITE_TRANSIENT);
                rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
            }
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
    /* Take the write lock now, for the whole run: a second run on the same
     * state fails here, before it writes any output, not at commit time. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_err(s, "cannot use the dedupe index", err, err_len);
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
            size_t sig_len = (size_t)sqlite3_column_bytes(st, 2);
            /* an empty signature: a document indexed with near: false */
            if (!id || (sig_len && sig_len != x->H)) {
                snprintf(err, err_len, "%s: a damaged entry in the dedupe index", s->path);
                sqlite3_finalize(st);
                return TM_ERR;
            }
            if (dd_index_add(x, id, (size_t)idl, (uint64_t)sqlite3_column_int64(st, 1),
                             sig_len ? sig : NULL) < 0) {
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
    /* the transaction began when the store was opened */
    int rc = sqlite3_prepare_v2(s->db, "INSERT INTO docs (id, exact, sig) VALUES (?1, ?2, ?3)",
                                -1, &st, NULL);
    for (size_t d = x->n_saved; rc == SQLITE_OK && d < x->n; d++) {
        sqlite3_bind_text(st, 1, dd_index_id(x, (long)d), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)*exact_at(x, d));
        const uint8_t *sig = dd_index_sig(x, (long)d);
        /* a zero-length blob, never NULL: the column is NOT NULL */
        sqlite3_bind_blob(st, 3, sig ? (const void *)sig : "", sig ? (int)x->H : 0, SQLITE_STATIC);
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

int dd_store_cut_back(dd_store *s, const char *committed, char *err, size_t err_len)
{
    sqlite3_stmt *st = NULL;
    bool with_ledger = false;
    int rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM params WHERE key = 'ledger'", -1, &st, NULL);
    if (rc == SQLITE_OK)
        with_ledger = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK && with_ledger) {
        rc = sqlite3_prepare_v2(s->db, "DELETE FROM docs WHERE n > ?1", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)strtoll(committed ? committed : "0", NULL, 10));
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        sqlite3_finalize(st);
    }
    /* from now on the store is kept with a ledger; the mark is saved with
     * this run's rows, in the transaction open began */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "INSERT OR IGNORE INTO params VALUES ('ledger', 'yes')", NULL,
                          NULL, NULL);
    if (rc != SQLITE_OK) {
        store_err(s, "cannot cut the dedupe index back to the last committed run", err, err_len);
        return TM_ERR;
    }
    return TM_OK;
}

int dd_store_last_row(dd_store *s, char *out, size_t n, char *err, size_t err_len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(n), 0) FROM docs", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "%lld", (long long)sqlite3_column_int64(st, 0));
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        store_err(s, "cannot read the dedupe index", err, err_len);
        return TM_ERR;
    }
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
