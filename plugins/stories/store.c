/* The stories store; see store.h. */
#include "store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FORMAT "textmill-stories 1"

struct st_store {
    sqlite3 *db;
    char *path;
    uint64_t gen; /* the committed generation; a save writes gen + 1 */
};

static const char *schema =
    "CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* a story's state (cluster.c's blob); NULL blob: closed in that generation */
    "CREATE TABLE IF NOT EXISTS stories (id TEXT NOT NULL, gen INTEGER NOT NULL, blob BLOB,"
    " PRIMARY KEY (id, gen)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS df (term INTEGER NOT NULL, gen INTEGER NOT NULL,"
    " seen INTEGER NOT NULL, PRIMARY KEY (term, gen)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counters (gen INTEGER PRIMARY KEY, docs INTEGER NOT NULL,"
    " now INTEGER NOT NULL, seq INTEGER NOT NULL);"
    /* the 4-gram table: its nonzero entries as (u32 index, u64 value) pairs */
    "CREATE TABLE IF NOT EXISTS grams (gen INTEGER PRIMARY KEY, blob BLOB NOT NULL);";

/* Rows of runs that never completed go; of the rest, only the latest of
 * each key stays, and closed stories go. */
static const char *cleanup =
    "DELETE FROM stories WHERE gen > ?1;"
    "DELETE FROM df WHERE gen > ?1;"
    "DELETE FROM counters WHERE gen > ?1;"
    "DELETE FROM grams WHERE gen > ?1;"
    "DELETE FROM grams WHERE gen < (SELECT max(gen) FROM grams);"
    "DELETE FROM stories WHERE gen < (SELECT max(gen) FROM stories s WHERE s.id = stories.id);"
    "DELETE FROM stories WHERE blob IS NULL;"
    "DELETE FROM df WHERE gen < (SELECT max(gen) FROM df d WHERE d.term = df.term);"
    "DELETE FROM df WHERE seen = 0;" /* forgotten (df.h, df_prune) */
    "DELETE FROM counters WHERE gen < (SELECT max(gen) FROM counters);";

static int fail(st_store *s, char *err, size_t n, const char *what)
{
    snprintf(err, n, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return -1;
}

static int exec_gen(st_store *s, const char *sql, uint64_t gen, char *err, size_t n)
{
    /* the statements of `sql` one by one, each with ?1 = gen */
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, tail, -1, &st, &tail) != SQLITE_OK)
            return fail(s, err, n, "cannot clean up");
        if (!st)
            break;
        if (sqlite3_bind_parameter_count(st))
            sqlite3_bind_int64(st, 1, (sqlite3_int64)gen);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fail(s, err, n, "cannot clean up");
    }
    return 0;
}

static int check_format(st_store *s, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM info WHERE key = 'format'", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, err, n, "not a stories store");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, FORMAT)) {
            snprintf(err, n,
                     "%s: written by another version of the stories stage (%s, this one reads "
                     "%s); move it away to start the stories afresh",
                     s->path, v ? v : "?", FORMAT);
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE &&
        sqlite3_exec(s->db, "INSERT INTO info VALUES ('format', '" FORMAT "')", NULL, NULL,
                     NULL) != SQLITE_OK)
        return fail(s, err, n, "cannot write");
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, err, n, "cannot read");
}

/* A database with tables but not ours (no `info`) is someone else's file:
 * it is refused, never taken over. */
static int foreign(st_store *s, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*), count(*) FILTER (WHERE name = 'info') FROM "
                           "sqlite_master WHERE type = 'table'",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, err, n, "not a stories store");
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0 &&
        sqlite3_column_int(st, 1) == 0) {
        snprintf(err, n, "%s: a database that is not a stories store; move it away or name the "
                         "step differently", s->path);
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Steps a statement that reads a table: SQLITE_ROW, SQLITE_DONE, or an
 * error (a damaged page) that must not pass for the end of the table. */
static int next_row(st_store *s, sqlite3_stmt *st, char *err, size_t n)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail(s, err, n, "cannot read (move the file away to start the stories afresh)");
    return rc;
}

static int load_stories(st_store *s, st_engine *e, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT blob FROM stories ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, err, n, "cannot read");
    int rc;
    while ((rc = next_row(s, st, err, n)) == SQLITE_ROW) {
        int r = st_engine_load_story(e, sqlite3_column_blob(st, 0),
                                     (size_t)sqlite3_column_bytes(st, 0));
        if (r) {
            snprintf(err, n, r == -3 ? "%s: a story's saved state is damaged; move the file away "
                                       "to start the stories afresh"
                                     : "%s: out of memory loading the stories",
                     s->path);
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_df(st_store *s, st_engine *e, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT term, seen FROM df", -1, &st, NULL) != SQLITE_OK)
        return fail(s, err, n, "cannot read");
    int rc;
    while ((rc = next_row(s, st, err, n)) == SQLITE_ROW)
        if (st_engine_load_df(e, (uint32_t)sqlite3_column_int64(st, 0),
                              (uint32_t)sqlite3_column_int64(st, 1)) != 0) {
            snprintf(err, n, "%s: out of memory loading the stories", s->path);
            break;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_counters(st_store *s, st_engine *e, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT docs, now, seq FROM counters", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, err, n, "cannot read");
    int rc = next_row(s, st, err, n);
    if (rc == SQLITE_ROW)
        st_engine_load_counters(e, (uint64_t)sqlite3_column_int64(st, 0),
                                (int)sqlite3_column_int64(st, 1),
                                (uint64_t)sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The 4-gram table: its size, then (index, value) pairs. */
static int load_grams(st_store *s, st_engine *e, char *err, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT blob FROM grams", -1, &st, NULL) != SQLITE_OK)
        return fail(s, err, n, "cannot read");
    int rc = next_row(s, st, err, n);
    if (rc == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        uint32_t size = 0;
        if (len >= 4)
            memcpy(&size, b, 4);
        /* the size is checked before anything is allocated for it */
        uint64_t *table = len >= 4 && (len - 4) % 12 == 0 && size == st_engine_grams_size()
                              ? calloc(size, sizeof *table)
                              : NULL;
        for (size_t at = 4; table && at < len; at += 12) {
            uint32_t ix;
            memcpy(&ix, b + at, 4);
            if (ix >= size) {
                free(table);
                table = NULL;
                break;
            }
            memcpy(&table[ix], b + at + 4, 8);
        }
        if (!table || st_engine_load_grams(e, table, size) != 0) {
            snprintf(err, n, "%s: the saved sentence table is damaged or of another build; move "
                             "the file away to start the stories afresh", s->path);
            rc = SQLITE_ERROR;
        }
        free(table);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int load(st_store *s, st_engine *e, char *err, size_t n)
{
    if (load_stories(s, e, err, n) != 0 || load_df(s, e, err, n) != 0 ||
        load_counters(s, e, err, n) != 0 || load_grams(s, e, err, n) != 0)
        return -1;
    st_engine_loaded(e);
    return 0;
}

st_store *st_store_open(const char *path, uint64_t committed, st_engine *e, char *err,
                        size_t err_len)
{
    st_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->gen = committed;
    /* O_NOFOLLOW: a link planted where the store belongs is refused; said
     * here in so many words, as SQLite only says it cannot open the file */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        snprintf(err, err_len, "%s: is a symbolic link; the stories store is never opened "
                               "through one (move it away, or put the store itself there)", path);
        st_store_close(s);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                             NULL);
    if (rc != SQLITE_OK || sqlite3_exec(s->db, "PRAGMA busy_timeout = 5000", NULL, NULL, NULL) ||
        sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        foreign(s, err, err_len) != 0 ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        check_format(s, err, err_len) != 0 || exec_gen(s, cleanup, committed, err, err_len) != 0 ||
        load(s, e, err, err_len) != 0 ||
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (s->db && !*err)
            fail(s, err, err_len, "cannot open");
        else if (!s->db)
            snprintf(err, err_len, "%s: cannot open", path);
        st_store_close(s);
        return NULL;
    }
    return s;
}

typedef struct saver {
    st_store *s;
    sqlite3_stmt *story, *df, *counters, *grams;
    sqlite3_int64 gen;
} saver;

static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int save_story(void *arg, const char *id, const void *blob, size_t len)
{
    saver *v = arg;
    sqlite3_bind_text(v->story, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(v->story, 2, v->gen);
    sqlite3_bind_blob(v->story, 3, blob, (int)len, SQLITE_STATIC);
    return step(v->story);
}

static int save_closed(void *arg, const char *id)
{
    saver *v = arg;
    sqlite3_bind_text(v->story, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(v->story, 2, v->gen);
    sqlite3_bind_null(v->story, 3);
    return step(v->story);
}

static int save_df(void *arg, uint32_t term, uint32_t seen)
{
    saver *v = arg;
    sqlite3_bind_int64(v->df, 1, term);
    sqlite3_bind_int64(v->df, 2, v->gen);
    sqlite3_bind_int64(v->df, 3, seen);
    return step(v->df);
}

/* Sparse: (index, value) pairs of the nonzero entries, after the size. */
static int save_grams(void *arg, const uint64_t *table, size_t n)
{
    saver *v = arg;
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += table[i] != 0;
    unsigned char *b = malloc(4 + used * 12);
    if (!b)
        return -4;
    uint32_t size = (uint32_t)n;
    memcpy(b, &size, 4);
    size_t at = 4;
    for (size_t i = 0; i < n; i++)
        if (table[i]) {
            uint32_t ix = (uint32_t)i;
            memcpy(b + at, &ix, 4);
            memcpy(b + at + 4, &table[i], 8);
            at += 12;
        }
    sqlite3_bind_int64(v->grams, 1, v->gen);
    sqlite3_bind_blob(v->grams, 2, b, (int)at, free);
    return step(v->grams);
}

static int save_counters(void *arg, uint64_t docs, int now, uint64_t seq)
{
    saver *v = arg;
    sqlite3_bind_int64(v->counters, 1, v->gen);
    sqlite3_bind_int64(v->counters, 2, (sqlite3_int64)docs);
    sqlite3_bind_int64(v->counters, 3, now);
    sqlite3_bind_int64(v->counters, 4, (sqlite3_int64)seq);
    return step(v->counters);
}

int st_store_save(st_store *s, st_engine *e, char *err, size_t n)
{
    saver v = {.s = s, .gen = (sqlite3_int64)s->gen + 1};
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    if (rc == 0 &&
        (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO stories VALUES (?1, ?2, ?3)", -1,
                            &v.story, NULL) ||
         sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO df VALUES (?1, ?2, ?3)", -1, &v.df,
                            NULL) ||
         sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO counters VALUES (?1, ?2, ?3, ?4)", -1,
                            &v.counters, NULL) ||
         sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO grams VALUES (?1, ?2)", -1, &v.grams,
                            NULL)))
        rc = -1;
    if (rc == 0) {
        st_sink out = {&v, save_story, save_closed, save_df, save_counters, save_grams};
        rc = st_engine_save(e, &out);
        if (rc == -4) {
            snprintf(err, n, "%s: out of memory saving the stories", s->path);
            rc = -2;
        }
    }
    sqlite3_finalize(v.story);
    sqlite3_finalize(v.df);
    sqlite3_finalize(v.counters);
    sqlite3_finalize(v.grams);
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        s->gen++;
        st_engine_saved(e);
        return 0;
    }
    if (rc != -2)
        fail(s, err, n, "cannot save the stories");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

uint64_t st_store_generation(const st_store *s) { return s->gen; }

void st_store_close(st_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}
