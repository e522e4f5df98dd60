#include "linestats.h"

#include "bytes.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

int linestats_init(linestats *ls, const tm_host *host, size_t max_entries)
{
    memset(ls, 0, sizeof *ls);
    ls->host = host;
    ls->max_entries = max_entries;
    ls->cap = 1024;
    ls->slots = host->alloc(ls->cap * sizeof *ls->slots);
    if (!ls->slots)
        return TM_ENOMEM;
    memset(ls->slots, 0, ls->cap * sizeof *ls->slots);
    return TM_OK;
}

void linestats_free(linestats *ls)
{
    ls->host->free(ls->slots);
    ls->slots = NULL;
}

uint64_t linestats_hash(const char *s, size_t n)
{
    char buf[512];
    buf[0] = 0; /* (n may be 0) */
    size_t m = n < sizeof buf ? n : sizeof buf;
    bytes_fold_case_digits(buf, s, m);
    uint64_t h = XXH3_64bits(buf, m);
    if (n > m) /* long lines: the rest as it is */
        h ^= XXH3_64bits(s + m, n - m) * 0x9E3779B97F4A7C15ull;
    return h ? h : 1;
}

static line_count *find(line_count *slots, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].hash && slots[i].hash != h)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(linestats *ls)
{
    size_t cap = ls->cap * 2;
    line_count *n = ls->host->alloc(cap * sizeof *n);
    if (!n)
        return TM_ENOMEM;
    memset(n, 0, cap * sizeof *n);
    for (size_t i = 0; i < ls->cap; i++)
        if (ls->slots[i].hash)
            *find(n, cap, ls->slots[i].hash) = ls->slots[i];
    ls->host->free(ls->slots);
    ls->slots = n;
    ls->cap = cap;
    return TM_OK;
}

/* When the table is full, lines seen in one document only are forgotten:
 * they are the bulk, and they cannot be boilerplate yet. */
static void prune(linestats *ls)
{
    line_count *old = ls->slots;
    line_count *n = ls->host->alloc(ls->cap * sizeof *n);
    if (!n)
        return;
    memset(n, 0, ls->cap * sizeof *n);
    ls->used = 0;
    for (size_t i = 0; i < ls->cap; i++) {
        if (old[i].hash && old[i].docs > 1) {
            *find(n, ls->cap, old[i].hash) = old[i];
            ls->used++;
        }
    }
    ls->host->free(old);
    ls->slots = n;
}

void linestats_add(linestats *ls, uint64_t h, bool edge, bool earlier_run, uint32_t docs,
                   uint32_t edges)
{
    if (ls->max_entries && ls->used >= ls->max_entries)
        prune(ls);
    if ((ls->used + 1) * 4 > ls->cap * 3 && grow(ls) != TM_OK)
        return;
    line_count *c = find(ls->slots, ls->cap, h);
    if (!c->hash) {
        c->hash = h;
        ls->used++;
    }
    if (earlier_run) {
        c->docs += docs;
        c->edge += edges;
    } else {
        c->docs++;
        c->run_docs++;
        c->edge += edge;
        c->run_edge += edge;
    }
}

const line_count *linestats_get(const linestats *ls, uint64_t h)
{
    const line_count *c = find(ls->slots, ls->cap, h);
    return c->hash ? c : NULL;
}

/* Line counts on disk. Each run's counts are saved as deltas tagged with a
 * run number; the run ledger (host->state_set) records which run numbers
 * committed, after every output. A delta the ledger never confirmed belongs
 * to a run that died before its ledger commit and whose documents the next
 * run reads again: it is ignored and removed, so no line is counted twice.
 * Confirmed deltas are folded into `lines` by the next save. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS lines (hash INTEGER PRIMARY KEY, docs INTEGER NOT NULL, "
    "edge INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS deltas (seq INTEGER NOT NULL, hash INTEGER NOT NULL, "
    "docs INTEGER NOT NULL, edge INTEGER NOT NULL)";

static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

int linestats_load(linestats *ls, const char *path, long long committed, char *err,
                   size_t err_len)
{
    sqlite3 *db = NULL;
    /* read-write, never create: SQLite rolls back what a killed save left */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return TM_OK; /* no earlier run */
    }
    sqlite3_busy_timeout(db, 10000);
    bool lines = has_table(db, "lines"), deltas = has_table(db, "deltas");
    if (!lines) { /* created, but its first save never committed */
        sqlite3_close(db);
        return TM_OK;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        deltas ? "SELECT hash, sum(docs), sum(edge) FROM (SELECT hash, docs, edge FROM lines "
                 "UNION ALL SELECT hash, docs, edge FROM deltas WHERE seq <= ?1) GROUP BY hash "
                 "HAVING sum(docs) > 1"
               : "SELECT hash, docs, edge FROM lines WHERE docs > 1",
        -1, &st, NULL);
    if (rc == SQLITE_OK && deltas)
        sqlite3_bind_int64(st, 1, committed);
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            linestats_add(ls, (uint64_t)sqlite3_column_int64(st, 0), false, true,
                          (uint32_t)sqlite3_column_int64(st, 1),
                          (uint32_t)sqlite3_column_int64(st, 2));
    if (rc != SQLITE_DONE) {
        snprintf(err, err_len, "%s: cannot read line counts: %s", path, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return TM_ERR;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return TM_OK;
}

int linestats_save(linestats *ls, const char *path, long long committed, char *err,
                   size_t err_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(db, 10000);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    /* the confirmed runs' deltas into the totals; an unconfirmed one out */
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO lines(hash, docs, edge) SELECT hash, sum(docs), "
                                "sum(edge) FROM deltas WHERE seq <= ?1 GROUP BY hash "
                                "ON CONFLICT(hash) DO UPDATE SET docs = docs + excluded.docs, "
                                "edge = edge + excluded.edge",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, committed);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "DELETE FROM deltas", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO deltas(seq, hash, docs, edge) "
                                    "VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < ls->cap; i++) {
        const line_count *c = &ls->slots[i];
        if (!c->hash || !c->run_docs)
            continue;
        sqlite3_bind_int64(st, 1, committed + 1);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)c->hash);
        sqlite3_bind_int64(st, 3, c->run_docs);
        sqlite3_bind_int64(st, 4, c->run_edge);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(st);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        snprintf(err, err_len, "%s: cannot save line counts: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_OK ? TM_OK : TM_ERR;
}
