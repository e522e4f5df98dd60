/* sink `sqlite`: writes documents, their entity mentions, duplicates and
 * stories into a SQLite database with a full-text index (schema.sql), adding
 * to what earlier runs wrote: a document is upserted by its id, and one that
 * has not changed is not written at all, so a re-run leaves the file as it
 * was, byte for byte. A story's own row (dates, counts, outlets) is
 * recomputed in flush from every run's documents, for the stories whose
 * documents this run inserted, changed or moved.
 *
 * The whole run is one transaction, committed only in commit() (after every
 * sink has flushed); a failed, interrupted or killed run leaves the database
 * as it was (SQLite's rollback journal undoes a killed run's pages the next
 * time anyone opens the file). The write lock is taken when the first batch
 * arrives, so a database locked by another process is an error after
 * `busy_timeout`, before anything is written. */
#include "outfile.h"
#include "outlet.h"
#include "schema_sql.h" /* schema_sql[]: schema.sql, embedded by CMake */

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* PRAGMA user_version of the schema written; a newer one is refused, and
 * version 1 (stories as per-document rows) is upgraded in place. */
#define SCHEMA_VERSION 2
/* Mixed into every document's digest. It is not the schema version: a
 * schema change that stores the same rows for the same document (as 1 -> 2
 * did) must not make the next run rewrite, and re-date, every document. */
#define DIGEST_VERSION 1
/* PRAGMA application_id: 'Tmil', so that `file(1)` and this sink can tell a
 * textmill database from another application's. */
#define APPLICATION_ID 0x546D696C

typedef struct config {
    char *path;
    tm_strlist types;
    double busy_timeout;
} config;

static const tm_option options[] = {
    {.name = "path", .type = TM_OPT_STRING, .offset = offsetof(config, path), .required = 1,
     .help = "The database file, e.g. out/news.db. Created, with missing directories, by "
             "the first run; later runs add to it and update documents by id."},
    {.name = "types", .type = TM_OPT_LIST, .def = "[PER, ORG, LOC, MISC]",
     .offset = offsetof(config, types),
     .help = "Annotation types stored as entity mentions; other annotations are left out."},
    {.name = "busy_timeout", .type = TM_OPT_DOUBLE, .def = "5", .min = 0, .max = 3600,
     .offset = offsetof(config, busy_timeout),
     .help = "Seconds to wait for a database that another process has locked (a writer, "
             "or a reader when committing) before the run fails."},
    TM_OPTIONS_END};

/* The prepared statements, numbered so that they can be finalized in a loop. */
enum {
    Q_FIND_DOC,
    Q_INSERT_DOC,
    Q_UPDATE_DOC,
    Q_DELETE_MENTIONS,
    Q_DELETE_DUPLICATE,
    Q_OLD_STORY,
    Q_DELETE_STORY,
    Q_FIND_ENTITY,
    Q_INSERT_ENTITY,
    Q_SET_ENTITY_ID,
    Q_INSERT_MENTION,
    Q_INSERT_DUPLICATE,
    Q_INSERT_STORY,
    Q_TOUCH_STORY,
    Q_TOUCH_OLD_STORY,
    Q_TOUCHED,
    Q_STORY_SUMMARY,
    Q_STORY_OUTLETS,
    Q_STORY_LABEL,
    Q_STORY_UPSERT,
    Q_STORY_DELETE,
    Q_SEEN,
    N_QUERIES
};

/* Documents bind ?1 id, ?2..?9 the standard metadata (in std_meta's order),
 * ?10 text, ?11 meta, ?12 digest, ?13 the run's time. */
static const char *const queries[N_QUERIES] = {
    [Q_FIND_DOC] = "SELECT doc, digest FROM documents WHERE id = ?1",
    [Q_INSERT_DOC] = "INSERT INTO documents (id, title, author, date, url, source, lang, file, "
                     "parent, text, meta, digest, added, updated) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
    [Q_UPDATE_DOC] = "UPDATE documents SET title = ?2, author = ?3, date = ?4, url = ?5, "
                     "source = ?6, lang = ?7, file = ?8, parent = ?9, text = ?10, meta = ?11, "
                     "digest = ?12, updated = ?13 WHERE id = ?1",
    [Q_DELETE_MENTIONS] = "DELETE FROM mentions WHERE doc = ?1",
    [Q_DELETE_DUPLICATE] = "DELETE FROM duplicates WHERE doc_id = ?1",
    [Q_OLD_STORY] = "SELECT story_id FROM story_documents WHERE doc_id = ?1",
    [Q_DELETE_STORY] = "DELETE FROM story_documents WHERE doc_id = ?1",
    [Q_FIND_ENTITY] = "SELECT entity, id IS NULL FROM entities WHERE canonical = ?1 AND type = ?2",
    [Q_INSERT_ENTITY] = "INSERT INTO entities (canonical, type, id) VALUES (?1, ?2, ?3)",
    [Q_SET_ENTITY_ID] = "UPDATE entities SET id = ?2 WHERE entity = ?1",
    [Q_INSERT_MENTION] = "INSERT INTO mentions (doc, entity, start, end, text, score, stage) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_INSERT_DUPLICATE] = "INSERT INTO duplicates (doc_id, duplicate_of, kind, similarity) "
                           "VALUES (?1, ?2, ?3, ?4)",
    [Q_INSERT_STORY] = "INSERT INTO story_documents (doc_id, story_id, score, evidence) "
                       "VALUES (?1, ?2, ?3, ?4)",
    /* The stories whose rows flush recomputes, in a TEMP table (memory for
     * the touched stories only, none in the file), with the label and terms
     * of the run's latest document of each: the stage's view of a story as
     * of that document, so the last one seen is the newest. NULL: not given
     * (the key was absent, or the story only lost a document). */
    [Q_TOUCH_STORY] = "INSERT INTO temp.touched (story_id, label, terms) VALUES (?1, ?2, "
                      "CASE WHEN json_valid(?3) THEN CASE WHEN json_type(?3) = 'array' "
                      "THEN json(?3) END END) ON CONFLICT (story_id) DO UPDATE SET "
                      "label = coalesce(excluded.label, label), "
                      "terms = coalesce(excluded.terms, terms)",
    [Q_TOUCH_OLD_STORY] = "INSERT OR IGNORE INTO temp.touched (story_id) VALUES (?1)",
    [Q_TOUCHED] = "SELECT story_id, label, terms FROM temp.touched ORDER BY story_id",
    /* over every run's documents of the story: textmill_day and
     * textmill_outlet are this connection's functions (register_functions) */
    [Q_STORY_SUMMARY] = "SELECT count(*), min(textmill_day(d.date)), max(textmill_day(d.date)) "
                        "FROM story_documents s JOIN documents d ON d.id = s.doc_id "
                        "WHERE s.story_id = ?1",
    [Q_STORY_OUTLETS] = "SELECT o, count(*) AS n FROM (SELECT textmill_outlet(d.source, d.url) "
                        "AS o FROM story_documents s JOIN documents d ON d.id = s.doc_id "
                        "WHERE s.story_id = ?1) WHERE o IS NOT NULL GROUP BY o "
                        "ORDER BY n DESC, o",
    /* A label given but empty means no document of the story has a title;
     * not given at all, the stored one stands. Past those: the title of the
     * story's first document, else its id, so that a label is never blank. */
    [Q_STORY_LABEL] = "SELECT coalesce(nullif(?2, ''), CASE WHEN ?2 IS NULL THEN "
                      "(SELECT label FROM stories WHERE story_id = ?1) END, "
                      "nullif(trim((SELECT title FROM documents WHERE id = ?1)), ''), ?1), "
                      "coalesce(?3, (SELECT terms FROM stories WHERE story_id = ?1), '[]')",
    /* an unchanged row is not written: a re-run must leave the file as it was */
    [Q_STORY_UPSERT] = "INSERT INTO stories (story_id, label, terms, first_date, last_date, "
                       "documents, outlets, sources, updated) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                       "ON CONFLICT (story_id) DO UPDATE SET label = excluded.label, "
                       "terms = excluded.terms, first_date = excluded.first_date, "
                       "last_date = excluded.last_date, documents = excluded.documents, "
                       "outlets = excluded.outlets, sources = excluded.sources, "
                       "updated = excluded.updated "
                       "WHERE (label, terms, first_date, last_date, documents, outlets, sources) "
                       "IS NOT (excluded.label, excluded.terms, excluded.first_date, "
                       "excluded.last_date, excluded.documents, excluded.outlets, "
                       "excluded.sources)",
    [Q_STORY_DELETE] = "DELETE FROM stories WHERE story_id = ?1",
    /* the ids written this run, in a TEMP table: the main file is not touched */
    [Q_SEEN] = "INSERT OR IGNORE INTO temp.seen (id) VALUES (?1)",
};

/* The metadata that has a column of its own (it stays in `meta` too). */
static const char *const std_meta[] = {"title",  "author", "date", "url",
                                       "source", "lang",   "file", "parent"};
#define N_STD_META (sizeof std_meta / sizeof *std_meta)

typedef struct state {
    const tm_host *host;
    const config *cfg;
    sqlite3 *db;
    sqlite3_stmt *q[N_QUERIES];
    XXH3_state_t *hash;
    bool opened;    /* open_db was tried: never twice */
    bool ready;     /* open_db succeeded */
    bool created;   /* the file did not exist before this run */
    bool in_tx;     /* BEGIN IMMEDIATE succeeded */
    bool replaced;  /* some document's old mentions were deleted */
    bool warned_dup; /* the warning about a repeated id was given */
    bool migrated;  /* a version-1 database was upgraded in this run's transaction */
    char *buf;      /* a mention's name with its white space collapsed */
    size_t cap_buf;
    char now[32];   /* the run's time, UTC, for added/updated */
} state;

/* ---- checking an existing file (init: reads only) ---------------------------------- */

static bool is_sqlite(const unsigned char *head, size_t n)
{
    static const char magic[16] = "SQLite format 3"; /* with its NUL: 16 bytes */
    return n >= sizeof magic && memcmp(head, magic, sizeof magic) == 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0), rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

/* Does `table` of `db` have every column that `ref_table` has in `ref`?
 * (`version` only names the schema in the reason.) */
static int has_columns(sqlite3 *db, sqlite3 *ref, const char *ref_table, const char *table,
                       int version, char *why, size_t n)
{
    static const char sql[] = "SELECT name FROM pragma_table_info(?1)";
    sqlite3_stmt *want = NULL, *have = NULL;
    int rc = sqlite3_prepare_v2(ref, sql, -1, &want, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &have, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(want, 1, ref_table, -1, SQLITE_STATIC);
        sqlite3_bind_text(have, 1, table, -1, SQLITE_STATIC);
    }
    int found = 0;
    while (rc == SQLITE_OK && sqlite3_step(want) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(want, 0);
        bool ok = false;
        sqlite3_reset(have);
        while (!ok && (rc = sqlite3_step(have)) == SQLITE_ROW)
            ok = strcmp((const char *)sqlite3_column_text(have, 0), col) == 0;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            break;
        rc = SQLITE_OK;
        if (!ok) {
            snprintf(why, n, "its table '%s' has no column '%s': not the schema this sink "
                             "%s (version %d)", table, col,
                     version == SCHEMA_VERSION ? "writes" : "upgrades", version);
            found = 1;
            break;
        }
    }
    sqlite3_finalize(want);
    sqlite3_finalize(have);
    return rc != SQLITE_OK ? -1 : found;
}

/* Version 1's per-document `stories` table, which a version-1 database has
 * in place of today's per-story one: the columns the upgrade reads. */
static const char legacy_stories_sql[] =
    "CREATE TABLE legacy_stories (doc_id TEXT, story_id TEXT, evidence TEXT)";

/* Can `db` take this sink's schema? 0: yes (*fresh when it has none yet),
 * 1: no, with the reason in `why`, -1: SQLite failed (sqlite3_errmsg(db),
 * or `why` when the reference schema could not be built). The tables and
 * columns wanted are those of schema.sql, built in a scratch in-memory
 * database, so that the check never falls out of step with the schema.
 * *version gets the database's user_version; for version 1 its `stories`
 * must be version 1's, to be upgraded (*legacy: it exists). */
static int check_schema(sqlite3 *db, char *why, size_t n, bool *fresh, int *version_out,
                        bool *legacy)
{
    int app = 0, version = 0, objects = 0;
    int rc = pragma_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = pragma_int(db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK)
        rc = pragma_int(db, "SELECT count(*) FROM sqlite_schema", &objects);
    if (rc != SQLITE_OK)
        return -1;
    *fresh = app == 0 && objects == 0;
    *version_out = version;
    *legacy = false;
    if (*fresh)
        return 0;
    if (app != APPLICATION_ID) {
        if (app)
            snprintf(why, n, "a SQLite database of another application (application_id "
                             "0x%08X); refusing to write into it", (unsigned)app);
        else
            snprintf(why, n, "a SQLite database of another application (it has tables but "
                             "no textmill application_id); refusing to write into it");
        return 1;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(why, n, "written by a newer textmill (schema version %d; this sink writes "
                         "version %d)", version, SCHEMA_VERSION);
        return 1;
    }

    sqlite3 *ref = NULL;
    sqlite3_stmt *objs = NULL, *find = NULL;
    bool old = version == 1;
    if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(ref, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(ref, legacy_stories_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ref, "SELECT type, name FROM sqlite_schema WHERE type IN "
                                "('table', 'view') AND name <> 'legacy_stories' ORDER BY rowid",
                           -1, &objs, NULL) != SQLITE_OK) {
        snprintf(why, n, "cannot build the reference schema: %s",
                 ref ? sqlite3_errmsg(ref) : "out of memory");
        sqlite3_close(ref);
        return -1;
    }
    int found = 0;
    rc = sqlite3_prepare_v2(db, "SELECT type FROM sqlite_schema WHERE name = ?1", -1, &find,
                            NULL);
    while (rc == SQLITE_OK && !found && sqlite3_step(objs) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(objs, 0);
        const char *name = (const char *)sqlite3_column_text(objs, 1);
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(find);
        if (step == SQLITE_DONE)
            continue; /* missing: created with the rest */
        if (step != SQLITE_ROW) {
            rc = step;
            break;
        }
        const char *have = (const char *)sqlite3_column_text(find, 0);
        if (strcmp(have, type) != 0) {
            snprintf(why, n, "it has a %s named '%s' where this sink keeps a %s", have, name,
                     type);
            found = 1;
        } else if (strcmp(type, "table") == 0) {
            bool legacy_stories = old && strcmp(name, "stories") == 0;
            found = has_columns(db, ref, legacy_stories ? "legacy_stories" : name, name,
                                old ? version : SCHEMA_VERSION, why, n);
            if (found < 0)
                rc = SQLITE_ERROR;
            else if (legacy_stories)
                *legacy = true;
        }
    }
    sqlite3_finalize(find);
    sqlite3_finalize(objs);
    sqlite3_close(ref);
    return rc != SQLITE_OK ? -1 : found;
}

/* At init, a look at an existing database without writing or waiting: an
 * incompatible one is refused before the run starts. What cannot be read now
 * (a lock, a journal to roll back) is checked again when the run opens it. */
static int check_existing(const tm_host *h, tm_ctx *ctx, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size == 0)
        return TM_OK;
    if (access(path, R_OK | W_OK) != 0)
        return h->error(ctx, "path: cannot write the database %s: %s", path, strerror(errno)),
               TM_ECONFIG;
    sqlite3 *db = NULL;
    char why[512] = "";
    bool fresh, legacy;
    int version;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    int bad = rc == SQLITE_OK ? check_schema(db, why, sizeof why, &fresh, &version, &legacy) : -1;
    int err = db ? sqlite3_errcode(db) : SQLITE_NOMEM;
    if (bad < 0 && (err == SQLITE_NOTADB || err == SQLITE_CORRUPT))
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(db)), bad = 1;
    sqlite3_close(db);
    if (bad > 0)
        return h->error(ctx, "path: %s: %s", path, why), TM_ECONFIG;
    return TM_OK;
}

/* init validates only: `textmill check` runs it, so it creates nothing. */
static int init(tm_ctx *ctx, const tm_host *host, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    if (!cfg->path) /* required, so the host has refused this already */
        return host->error(ctx, "path: not set"), TM_ECONFIG;
    for (size_t i = 0; i < cfg->types.n; i++)
        if (!cfg->types.items[i][0])
            return host->error(ctx, "types: an empty type name"), TM_ECONFIG;
    /* A run killed mid-transaction leaves a hot journal beside the database
     * (for a new database, its pages may not even have a header yet): SQLite
     * rolls it back when this run opens the file, so judge the file then. */
    char *journal = host->alloc(strlen(cfg->path) + sizeof "-journal");
    if (!journal)
        return TM_ENOMEM;
    sprintf(journal, "%s-journal", cfg->path);
    struct stat jb;
    bool hot = stat(journal, &jb) == 0 && jb.st_size > 0;
    host->free(journal);
    int rc = outfile_check(host, ctx, cfg->path, "SQLite", hot ? NULL : is_sqlite);
    if (rc == TM_OK && !hot)
        rc = check_existing(host, ctx, cfg->path);
    if (rc != TM_OK)
        return rc;

    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    if (!(s->hash = XXH3_createState())) {
        host->free(s);
        return TM_ENOMEM;
    }
    *out = s;
    return TM_OK;
}

/* ---- opening the database ---------------------------------------------------------- */

static bool is_busy(int rc)
{
    rc &= 0xff; /* the primary code of an extended one */
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Explains a failed SQLite call; a lock gets its own message, since waiting
 * for the other process (or a longer busy_timeout) is the cure. */
static int db_error(state *s, tm_ctx *ctx, int rc, const char *doing)
{
    const char *path = s->cfg->path;
    int saved = errno; /* what the failed write met, if SQLite does not keep it */
    if (is_busy(rc))
        return s->host->error(ctx, "%s: database is locked by another process (waited %g s)",
                              path, s->cfg->busy_timeout);
    if (rc == SQLITE_NOMEM)
        return s->host->error(ctx, "%s: out of memory while %s", path, doing), TM_ENOMEM;
    /* sqlite3_db_cacheflush leaves the connection's message alone ("not an
     * error"): then say what the code means, and the system's reason (EFBIG,
     * ENOSPC) when there is one */
    const char *msg = s->db && sqlite3_errcode(s->db) != SQLITE_OK ? sqlite3_errmsg(s->db)
                                                                   : sqlite3_errstr(rc);
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;
    if (!sys && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL))
        sys = saved;
    if (sys)
        return s->host->error(ctx, "%s: cannot %s: %s (%s)", path, doing, msg, strerror(sys));
    return s->host->error(ctx, "%s: cannot %s: %s", path, doing, msg);
}

static int exec(state *s, tm_ctx *ctx, const char *sql, const char *doing)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TM_OK : db_error(s, ctx, rc, doing);
}

/* textmill_day(date): YYYY-MM-DD, or NULL for an undated document. */
static void sql_day(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *v = (const char *)sqlite3_value_text(argv[0]);
    char day[11];
    if (v && outlet_day(v, (size_t)sqlite3_value_bytes(argv[0]), day))
        sqlite3_result_text(c, day, 10, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(c);
}

/* textmill_outlet(source, url): the source, else the URL's host, else NULL. */
static void sql_outlet(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *src = (const char *)sqlite3_value_text(argv[0]);
    size_t src_n = src ? (size_t)sqlite3_value_bytes(argv[0]) : 0;
    const char *url = (const char *)sqlite3_value_text(argv[1]);
    size_t url_n = url ? (size_t)sqlite3_value_bytes(argv[1]) : 0;
    char *host = url_n ? sqlite3_malloc64(url_n) : NULL;
    if (url_n && !host) {
        sqlite3_result_error_nomem(c);
        return;
    }
    size_t len;
    const char *o = outlet_of(src, src_n, host ? url : NULL, url_n, host, &len);
    if (o)
        sqlite3_result_text64(c, o, len, SQLITE_TRANSIENT, SQLITE_UTF8);
    else
        sqlite3_result_null(c);
    sqlite3_free(host);
}

/* The rules for a document's day and outlet live in C (outlet.h), shared
 * with the report, so the per-story SQL calls them rather than repeat
 * them. DIRECTONLY: they exist only on this connection, so the schema must
 * never depend on them, or other readers could not open it. */
static int register_functions(sqlite3 *db)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
#ifdef SQLITE_DIRECTONLY
    flags |= SQLITE_DIRECTONLY;
#endif
    int rc = sqlite3_create_function_v2(db, "textmill_day", 1, flags, NULL, sql_day, NULL, NULL,
                                        NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "textmill_outlet", 2, flags, NULL, sql_outlet, NULL,
                                        NULL, NULL);
    return rc;
}

/* Version 1 -> 2, inside the run's transaction (so a run that fails leaves
 * a version-1 database): the per-document story rows move to
 * story_documents, with the score the document's metadata holds (as a
 * version-2 run would store it, so that digests stay valid and the next
 * run rewrites nothing), and every story is queued for its per-story row,
 * which flush builds as for any run. The old table was renamed before
 * schema.sql ran, since the new `stories` takes its name. */
static const char migrate_sql[] =
    "INSERT INTO story_documents (doc_id, story_id, score, evidence) "
    "SELECT o.doc_id, o.story_id, CASE WHEN json_valid(d.meta) THEN "
    "CASE WHEN json_type(d.meta, '$.story_score') IN ('integer', 'real') "
    "THEN json_extract(d.meta, '$.story_score') END END, o.evidence "
    "FROM stories_v1 o LEFT JOIN documents d ON d.id = o.doc_id;"
    "INSERT OR IGNORE INTO temp.touched (story_id) SELECT story_id FROM story_documents;"
    "DROP TABLE stories_v1;";

/* Opens the database, takes the write lock, checks or creates the schema and
 * prepares the statements. Called by the first non-empty batch or, when no
 * document came, by flush (an empty run still leaves a valid database). */
static int open_db(state *s, tm_ctx *ctx)
{
    const tm_host *h = s->host;
    const char *path = s->cfg->path;
    s->opened = true;

    struct stat sb;
    s->created = stat(path, &sb) != 0;
    if (s->created) {
        int rc = outfile_make_parent(h, ctx, path);
        if (rc != TM_OK)
            return rc;
    }
    time_t t = time(NULL);
    struct tm utc;
    strftime(s->now, sizeof s->now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &utc));

    /* NOMUTEX: the host never calls one instance from two threads at once */
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, ctx, rc, "open the database");
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, (int)(s->cfg->busy_timeout * 1000 + 0.5));
    /* The journal mode is left as the file has it: a new database gets the
     * rollback journal (the README says why), and a database someone
     * switched to WAL stays in WAL, which is just as atomic. A larger page
     * cache keeps the pages of a day's run in memory until the flush, so
     * that readers are locked out only while it writes them and commits. */
    rc = exec(s, ctx, "PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536",
              "set up the database");
    if (rc != TM_OK)
        return rc;
    rc = exec(s, ctx, "BEGIN IMMEDIATE", "lock the database");
    if (rc != TM_OK)
        return rc;
    s->in_tx = true;

    char why[512] = "";
    bool fresh = false, legacy = false;
    int version = 0;
    int bad = check_schema(s->db, why, sizeof why, &fresh, &version, &legacy);
    if (bad > 0)
        return h->error(ctx, "%s: %s", path, why);
    if (bad < 0)
        return why[0] ? h->error(ctx, "%s: %s", path, why)
                      : db_error(s, ctx, sqlite3_errcode(s->db), "read the database");
    rc = register_functions(s->db);
    if (rc != SQLITE_OK)
        return db_error(s, ctx, rc, "set up the database");
    s->migrated = !fresh && version == 1;
    if (legacy)
        rc = exec(s, ctx, "ALTER TABLE stories RENAME TO stories_v1",
                  "upgrade the database from schema version 1");
    if (rc == TM_OK)
        rc = exec(s, ctx, schema_sql, "create the tables");
    if (rc == TM_OK)
        rc = exec(s, ctx, "CREATE TEMP TABLE seen (id TEXT PRIMARY KEY);"
                          "CREATE TEMP TABLE touched (story_id TEXT PRIMARY KEY, label TEXT, "
                          "terms TEXT)",
                  "create a temporary table");
    if (rc == TM_OK && s->migrated) {
        char sql[sizeof migrate_sql + 64];
        snprintf(sql, sizeof sql, "%sPRAGMA user_version = %d",
                 legacy ? migrate_sql : "", SCHEMA_VERSION);
        rc = exec(s, ctx, sql, "upgrade the database from schema version 1");
        if (rc == TM_OK)
            h->log(ctx, TM_LOG_INFO,
                   "%s: upgraded from schema version 1 to %d: the per-document story rows "
                   "are now in story_documents, and stories has one row per story",
                   path, SCHEMA_VERSION);
    }
    if (rc == TM_OK && fresh) {
        /* stamped once, so that a re-run does not write the header again */
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 APPLICATION_ID, SCHEMA_VERSION);
        rc = exec(s, ctx, sql, "create the tables");
    }
    for (int i = 0; rc == TM_OK && i < N_QUERIES; i++) {
        int prc = sqlite3_prepare_v3(s->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i],
                                     NULL);
        if (prc != SQLITE_OK)
            rc = db_error(s, ctx, prc, "prepare a statement");
    }
    s->ready = rc == TM_OK;
    return rc;
}

/* ---- writing a document ------------------------------------------------------------ */

static const tm_meta *meta_of(const tm_doc *d, const char *key)
{
    for (size_t i = 0; i < d->n_meta; i++)
        if (strcmp(d->meta[i].key, key) == 0)
            return &d->meta[i];
    return NULL;
}

static void bind_str(sqlite3_stmt *st, int i, const char *p, size_t n)
{
    if (p)
        sqlite3_bind_text64(st, i, p, n, SQLITE_STATIC, SQLITE_UTF8);
    else
        sqlite3_bind_null(st, i);
}

/* A metadata value as text (numbers, booleans and JSON as their JSON text);
 * NULL when absent or null. */
static void bind_meta(sqlite3_stmt *st, int i, const tm_meta *m)
{
    if (m && m->type != TM_META_NULL)
        bind_str(st, i, m->value, m->len);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no row, and resets it for the next use. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Every metadata key as one JSON object, in the document's order; NULL when
 * memory runs out. Free with cJSON_free. */
static char *meta_json(const tm_doc *d)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < d->n_meta; i++) {
        const tm_meta *m = &d->meta[i];
        cJSON *v = m->type == TM_META_NULL || !m->value ? cJSON_CreateNull()
                   : m->type == TM_META_STRING          ? cJSON_CreateString(m->value)
                                                        /* JSON text, checked by the host */
                                                        : cJSON_CreateRaw(m->value);
        if (!v || !cJSON_AddItemToObject(o, m->key, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    char *json = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return json;
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Copies n bytes of p into s->buf (at least n + 1 bytes, see write_doc) with
 * runs of white space, also no-break spaces, made one space and the ends
 * trimmed, as the csv and graph sinks name a mention by its covered text;
 * *out_n gets the length. */
static const char *collapse(state *s, const char *p, size_t n, size_t *out_n)
{
    char *o = s->buf;
    bool space = false;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)p + i;
        size_t k = is_blank(u[0]) ? 1 : u[0] == 0xC2 && i + 1 < n && u[1] == 0xA0 ? 2 : 0;
        if (k) {
            space = o > s->buf;
            i += k;
            continue;
        }
        if (space)
            *o++ = ' ', space = false;
        *o++ = p[i++];
    }
    *o = 0;
    *out_n = (size_t)(o - s->buf);
    return s->buf;
}

/* The next annotation from *i on that is stored as a mention (its type is
 * one of `types`), with the name its entity is stored under: the canonical
 * name, else the label, else the covered text with its white space
 * collapsed. A mention with no name left is skipped, and counted in
 * *nameless when that is not NULL. NULL after the last one. */
static const tm_annotation *next_mention(state *s, const tm_doc *d, size_t *i,
                                         const char **name, size_t *name_n, int64_t *nameless)
{
    const config *cfg = s->cfg;
    while (*i < d->n_annotations) {
        const tm_annotation *a = &d->annotations[(*i)++];
        for (size_t t = 0; t < cfg->types.n; t++) {
            if (strcmp(cfg->types.items[t], a->type) != 0)
                continue;
            if (a->canonical && a->canonical[0])
                *name = a->canonical, *name_n = strlen(a->canonical);
            else if (a->label && a->label[0])
                *name = a->label, *name_n = strlen(a->label);
            else
                *name = collapse(s, d->text + a->start, a->end - a->start, name_n);
            if (*name_n == 0) {
                if (nameless)
                    ++*nameless;
                break;
            }
            return a;
        }
    }
    return NULL;
}

/* The annotation's score, or -1 when unknown (negative or not finite). */
static double known_score(const tm_annotation *a)
{
    return a->score >= 0 && isfinite(a->score) ? a->score : -1;
}

static void hash_bytes(state *s, const void *p, size_t n)
{
    uint64_t len = p ? (uint64_t)n : UINT64_MAX; /* tells NULL from "" */
    XXH3_128bits_update(s->hash, &len, sizeof len);
    if (p)
        XXH3_128bits_update(s->hash, p, n);
}

static void hash_str(state *s, const char *p)
{
    hash_bytes(s, p, p ? strlen(p) : 0);
}

/* The digest of everything stored for a document: its text, its metadata
 * (which holds the duplicate and story keys) and the mentions kept. Equal
 * digests mean the rows would come out the same, so the document is skipped. */
static void digest(state *s, const tm_doc *d, const char *meta, char out[33])
{
    XXH3_128bits_reset(s->hash);
    uint64_t version = DIGEST_VERSION;
    XXH3_128bits_update(s->hash, &version, sizeof version);
    hash_bytes(s, d->text, d->text_len);
    hash_str(s, meta);
    const tm_annotation *a;
    const char *name;
    size_t name_n;
    for (size_t i = 0; (a = next_mention(s, d, &i, &name, &name_n, NULL));) {
        uint64_t span[2] = {a->start, a->end};
        double score = known_score(a);
        XXH3_128bits_update(s->hash, span, sizeof span);
        XXH3_128bits_update(s->hash, &score, sizeof score);
        hash_str(s, a->type);
        hash_bytes(s, name, name_n);
        hash_str(s, a->id);
        hash_str(s, a->stage);
    }
    XXH128_hash_t h = XXH3_128bits_digest(s->hash);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}

/* The entity's key, inserting the entity when it is new. An entity first
 * seen without an external id takes the first one that comes later. */
static int entity_key(state *s, const tm_annotation *a, const char *name, size_t name_n,
                      sqlite3_int64 *key)
{
    sqlite3_stmt *find = s->q[Q_FIND_ENTITY];
    bind_str(find, 1, name, name_n);
    bind_str(find, 2, a->type, strlen(a->type));
    int rc = sqlite3_step(find);
    if (rc == SQLITE_ROW) {
        *key = sqlite3_column_int64(find, 0);
        bool no_id = sqlite3_column_int(find, 1);
        sqlite3_reset(find);
        if (!no_id || !a->id)
            return SQLITE_OK;
        sqlite3_stmt *set = s->q[Q_SET_ENTITY_ID];
        sqlite3_bind_int64(set, 1, *key);
        bind_str(set, 2, a->id, strlen(a->id));
        return run(set);
    }
    sqlite3_reset(find);
    if (rc != SQLITE_DONE)
        return rc;
    sqlite3_stmt *ins = s->q[Q_INSERT_ENTITY];
    bind_str(ins, 1, name, name_n);
    bind_str(ins, 2, a->type, strlen(a->type));
    bind_str(ins, 3, a->id, a->id ? strlen(a->id) : 0);
    rc = run(ins);
    *key = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int write_mentions(state *s, tm_ctx *ctx, const tm_doc *d, sqlite3_int64 doc)
{
    sqlite3_stmt *ins = s->q[Q_INSERT_MENTION];
    int64_t n = 0, nameless = 0;
    const tm_annotation *a;
    const char *name;
    size_t name_n;
    for (size_t i = 0; (a = next_mention(s, d, &i, &name, &name_n, &nameless));) {
        sqlite3_int64 key = 0;
        int rc = entity_key(s, a, name, name_n, &key);
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_bind_int64(ins, 1, doc);
        sqlite3_bind_int64(ins, 2, key);
        sqlite3_bind_int64(ins, 3, (sqlite3_int64)a->start);
        sqlite3_bind_int64(ins, 4, (sqlite3_int64)a->end);
        bind_str(ins, 5, d->text + a->start, a->end - a->start);
        if (known_score(a) >= 0)
            sqlite3_bind_double(ins, 6, a->score);
        else
            sqlite3_bind_null(ins, 6);
        bind_str(ins, 7, a->stage, a->stage ? strlen(a->stage) : 0);
        if ((rc = run(ins)) != SQLITE_OK)
            return rc;
        n++;
    }
    s->host->count(ctx, "mentions", n);
    if (nameless)
        s->host->count(ctx, "nameless_mentions", nameless);
    return SQLITE_OK;
}

/* The stages' marks: a duplicate row (dedupe) and a story_documents row
 * (stories), whose story flush then recomputes. */
static int write_marks(state *s, const tm_doc *d)
{
    const tm_meta *of = meta_of(d, "duplicate_of");
    int rc = SQLITE_OK;
    if (of && of->type != TM_META_NULL) {
        sqlite3_stmt *st = s->q[Q_INSERT_DUPLICATE];
        const tm_meta *sim = meta_of(d, "similarity");
        bind_str(st, 1, d->id, d->id_len);
        bind_meta(st, 2, of);
        bind_meta(st, 3, meta_of(d, "duplicate_kind"));
        if (sim && sim->type == TM_META_NUMBER)
            sqlite3_bind_double(st, 4, strtod(sim->value, NULL));
        else
            sqlite3_bind_null(st, 4);
        rc = run(st);
    }
    const tm_meta *story = meta_of(d, "story");
    if (rc == SQLITE_OK && story && story->type != TM_META_NULL) {
        sqlite3_stmt *st = s->q[Q_INSERT_STORY];
        const tm_meta *score = meta_of(d, "story_score");
        bind_str(st, 1, d->id, d->id_len);
        bind_meta(st, 2, story);
        if (score && score->type == TM_META_NUMBER)
            sqlite3_bind_double(st, 3, strtod(score->value, NULL));
        else
            sqlite3_bind_null(st, 3);
        bind_meta(st, 4, meta_of(d, "story_evidence"));
        rc = run(st);
    }
    if (rc == SQLITE_OK && story && story->type != TM_META_NULL) {
        sqlite3_stmt *st = s->q[Q_TOUCH_STORY];
        bind_meta(st, 1, story);
        bind_meta(st, 2, meta_of(d, "story_label"));
        bind_meta(st, 3, meta_of(d, "story_terms"));
        rc = run(st);
    }
    return rc;
}

/* The story a document's stored row puts it in, queued for recomputing
 * before the row goes: a document that changed story leaves one fewer in
 * its old one. */
static int touch_old_story(state *s, const tm_doc *d)
{
    sqlite3_stmt *find = s->q[Q_OLD_STORY];
    bind_str(find, 1, d->id, d->id_len);
    int rc = sqlite3_step(find);
    if (rc == SQLITE_ROW) {
        sqlite3_stmt *touch = s->q[Q_TOUCH_OLD_STORY];
        sqlite3_bind_value(touch, 1, sqlite3_column_value(find, 0));
        rc = run(touch);
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_reset(find);
    return rc;
}

/* Upserts one document: unchanged (same digest) it is left alone; changed,
 * its row is updated in place (keeping its key, so the FTS index is updated
 * by the trigger) and its mentions, duplicate and story rows are replaced. */
static int write_doc(state *s, tm_ctx *ctx, const tm_doc *d)
{
    /* the first copy of an id in a run wins: a later one would make every
     * re-run rewrite the document (each copy differs from the other) */
    sqlite3_stmt *seen = s->q[Q_SEEN];
    bind_str(seen, 1, d->id, d->id_len);
    int rc = run(seen);
    if (rc != SQLITE_OK)
        return rc;
    if (sqlite3_changes(s->db) == 0) {
        if (!s->warned_dup) {
            s->warned_dup = true;
            s->host->log(ctx, TM_LOG_WARN,
                         "%s: document id %.*s came more than once; the first copy is kept, "
                         "later ones are skipped (counter duplicate_ids)",
                         s->cfg->path, (int)(d->id_len > 200 ? 200 : d->id_len), d->id);
        }
        s->host->count(ctx, "duplicate_ids", 1);
        return SQLITE_OK;
    }
    if (d->text_len + 1 > s->cap_buf) { /* a collapsed name is never longer */
        char *b = s->host->realloc(s->buf, d->text_len + 1);
        if (!b)
            return SQLITE_NOMEM;
        s->buf = b;
        s->cap_buf = d->text_len + 1;
    }
    char *meta = meta_json(d);
    if (!meta)
        return SQLITE_NOMEM;
    char sum[33];
    digest(s, d, meta, sum);

    sqlite3_stmt *find = s->q[Q_FIND_DOC];
    bind_str(find, 1, d->id, d->id_len);
    rc = sqlite3_step(find);
    bool exists = rc == SQLITE_ROW;
    sqlite3_int64 doc = exists ? sqlite3_column_int64(find, 0) : 0;
    bool same = exists && strcmp((const char *)sqlite3_column_text(find, 1), sum) == 0;
    sqlite3_reset(find);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        cJSON_free(meta);
        return rc;
    }
    if (same) {
        cJSON_free(meta);
        s->host->count(ctx, "unchanged", 1);
        return SQLITE_OK;
    }

    sqlite3_stmt *st = s->q[exists ? Q_UPDATE_DOC : Q_INSERT_DOC];
    bind_str(st, 1, d->id, d->id_len);
    for (size_t i = 0; i < N_STD_META; i++)
        bind_meta(st, (int)i + 2, meta_of(d, std_meta[i]));
    bind_str(st, 10, d->text, d->text_len);
    bind_str(st, 11, meta, strlen(meta));
    bind_str(st, 12, sum, strlen(sum));
    bind_str(st, 13, s->now, strlen(s->now));
    rc = run(st);
    cJSON_free(meta); /* bound SQLITE_STATIC: only after the statement ran */
    if (!exists)
        doc = sqlite3_last_insert_rowid(s->db);
    /* also for a new document: rows left by one deleted by hand (without
     * PRAGMA foreign_keys, so not cascaded; its key may be reused) must not
     * end up as the new document's */
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s->q[Q_DELETE_MENTIONS], 1, doc);
        rc = run(s->q[Q_DELETE_MENTIONS]);
        if (sqlite3_changes(s->db) > 0)
            s->replaced = true; /* entities may have lost their last mention */
    }
    if (rc == SQLITE_OK)
        rc = touch_old_story(s, d);
    static const int olds[] = {Q_DELETE_DUPLICATE, Q_DELETE_STORY};
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof olds / sizeof *olds; i++) {
        bind_str(s->q[olds[i]], 1, d->id, d->id_len);
        rc = run(s->q[olds[i]]);
    }
    if (rc == SQLITE_OK)
        rc = write_mentions(s, ctx, d, doc);
    if (rc == SQLITE_OK)
        rc = write_marks(s, d);
    if (rc == SQLITE_OK)
        s->host->count(ctx, exists ? "updated" : "inserted", 1);
    return rc;
}

/* ---- the per-story rows ------------------------------------------------------------ */

/* The story's outlets as a JSON array, most documents first (ties by name),
 * in *json (free with cJSON_free), and how many in *n. */
static int story_outlets(state *s, sqlite3_value *story, char **json, int64_t *n)
{
    sqlite3_stmt *st = s->q[Q_STORY_OUTLETS];
    sqlite3_bind_value(st, 1, story);
    cJSON *a = cJSON_CreateArray();
    int rc = a ? SQLITE_OK : SQLITE_NOMEM;
    *n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *x = cJSON_CreateString((const char *)sqlite3_column_text(st, 0));
        rc = x && cJSON_AddItemToArray(a, x) ? SQLITE_OK : (cJSON_Delete(x), SQLITE_NOMEM);
        ++*n;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    *json = rc == SQLITE_OK ? cJSON_PrintUnformatted(a) : NULL;
    if (rc == SQLITE_OK && !*json)
        rc = SQLITE_NOMEM;
    cJSON_Delete(a);
    return rc;
}

/* One touched story's row, from all its documents in the database (every
 * run's, not only this one's): written when it differs from the stored row,
 * removed when the story has no document left. *changed: it was written. */
static int update_story(state *s, sqlite3_stmt *t, bool *changed)
{
    sqlite3_value *story = sqlite3_column_value(t, 0);
    sqlite3_stmt *sum = s->q[Q_STORY_SUMMARY], *up = s->q[Q_STORY_UPSERT];
    *changed = false;
    sqlite3_bind_value(sum, 1, story);
    int rc = sqlite3_step(sum);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(sum);
        return rc;
    }
    int64_t docs = sqlite3_column_int64(sum, 0);
    if (docs == 0) {
        sqlite3_reset(sum);
        sqlite3_bind_value(s->q[Q_STORY_DELETE], 1, story);
        rc = run(s->q[Q_STORY_DELETE]);
        *changed = sqlite3_changes(s->db) > 0;
        return rc;
    }
    sqlite3_bind_value(up, 1, story);
    sqlite3_bind_value(up, 4, sqlite3_column_value(sum, 1)); /* bind_value copies */
    sqlite3_bind_value(up, 5, sqlite3_column_value(sum, 2));
    sqlite3_bind_int64(up, 6, docs);
    sqlite3_reset(sum);

    sqlite3_stmt *lab = s->q[Q_STORY_LABEL];
    sqlite3_bind_value(lab, 1, story);
    sqlite3_bind_value(lab, 2, sqlite3_column_value(t, 1));
    sqlite3_bind_value(lab, 3, sqlite3_column_value(t, 2));
    if ((rc = sqlite3_step(lab)) == SQLITE_ROW) {
        sqlite3_bind_value(up, 2, sqlite3_column_value(lab, 0));
        sqlite3_bind_value(up, 3, sqlite3_column_value(lab, 1));
        rc = SQLITE_OK;
    }
    sqlite3_reset(lab);
    char *sources = NULL;
    int64_t outlets = 0;
    if (rc == SQLITE_OK)
        rc = story_outlets(s, story, &sources, &outlets);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(up, 7, outlets);
        bind_str(up, 8, sources, strlen(sources));
        bind_str(up, 9, s->now, strlen(s->now));
        rc = run(up);
        *changed = sqlite3_changes(s->db) > 0;
    }
    sqlite3_clear_bindings(up);
    cJSON_free(sources); /* bound SQLITE_STATIC: only after the statement ran */
    return rc;
}

/* Every story this run touched gets its row recomputed; counter `stories`:
 * the rows written or removed. */
static int update_stories(state *s, tm_ctx *ctx)
{
    sqlite3_stmt *t = s->q[Q_TOUCHED];
    int64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(t)) == SQLITE_ROW) {
        bool changed;
        if ((rc = update_story(s, t, &changed)) != SQLITE_OK)
            break;
        n += changed;
    }
    sqlite3_reset(t);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return db_error(s, ctx, rc, "write the stories");
    if (n)
        s->host->count(ctx, "stories", n);
    return TM_OK;
}

/* ---- the callbacks ----------------------------------------------------------------- */

/* Opens the database on first use; TM_OK once it is ready for writing. */
static int ensure_open(state *s, tm_ctx *ctx)
{
    if (!s->opened)
        return open_db(s, ctx);
    if (!s->ready) /* the host stops at the first failure; this is only a guard */
        return s->host->error(ctx, "%s: the database could not be opened", s->cfg->path);
    return TM_OK;
}

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    if (batch->n == 0 && !s->opened) /* nothing to write yet: create nothing */
        return TM_OK;
    int rc = ensure_open(s, ctx);
    if (rc != TM_OK)
        return rc;
    for (size_t i = 0; i < batch->n; i++) {
        rc = write_doc(s, ctx, batch->docs[i]);
        if (rc != SQLITE_OK) {
            char doing[300];
            snprintf(doing, sizeof doing, "write document %.*s",
                     (int)(batch->docs[i]->id_len > 200 ? 200 : batch->docs[i]->id_len),
                     batch->docs[i]->id);
            return db_error(s, ctx, rc, doing);
        }
    }
    return TM_OK;
}

/* Flush: entities no mention refers to any more (their documents changed)
 * are removed, and every page is written to the file under the exclusive
 * lock, so that the COMMIT in commit() has only the journal to drop and
 * cannot be kept waiting by readers after other sinks have committed. */
static int flush(void *st, tm_ctx *ctx)
{
    state *s = st;
    int rc = ensure_open(s, ctx);
    if (rc == TM_OK)
        rc = update_stories(s, ctx);
    if (rc == TM_OK && s->replaced)
        rc = exec(s, ctx, "DELETE FROM entities WHERE NOT EXISTS (SELECT 1 FROM mentions m "
                          "WHERE m.entity = entities.entity)",
                  "remove unused entities");
    if (rc != TM_OK)
        return rc;
    rc = sqlite3_db_cacheflush(s->db);
    return rc == SQLITE_OK ? TM_OK : db_error(s, ctx, rc, "write the database");
}

static int commit(void *st, tm_ctx *ctx)
{
    state *s = st;
    int rc = exec(s, ctx, "COMMIT", "commit the database");
    if (rc != TM_OK)
        return rc;
    s->in_tx = false;
    /* SQLite syncs the journal's directory, not the new database's entry */
    return s->created ? outfile_sync_dir(s->host, ctx, s->cfg->path) : TM_OK;
}

/* After a write error (a full disk, EFBIG) SQLite does not roll back at once:
 * the connection stops, and the hot journal is played back by whoever opens
 * the file next, so until then the file holds part of this run's pages and
 * a read-only reader cannot open it. Opening it again now and reading plays
 * the journal back (it only rewrites old pages and shrinks the file, so it
 * needs no new space), leaving the database as it was before the run. */
static void undo_hot_journal(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 1000);
        sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    }
    sqlite3_close(db);
}

static void fini(void *st)
{
    state *s = st;
    for (int i = 0; i < N_QUERIES; i++)
        sqlite3_finalize(s->q[i]);
    if (s->in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    /* A first run that failed leaves the file it created, rolled back to
     * 0 bytes (an empty database): removing it could pull it from under
     * another run that opened it meanwhile and waits for the lock. */
    sqlite3_close(s->db);
    if (s->in_tx)
        undo_hot_journal(s->cfg->path);
    XXH3_freeState(s->hash);
    s->host->free(s->buf);
    s->host->free(s);
}

TM_PLUGIN_DEFINE(.name = "sqlite", .version = "1.1.0", .license = "MIT",
                 .summary = "Writes documents, entities, mentions, duplicates and stories into "
                            "a SQLite database with full-text search; re-runs update in place.",
                 .role = TM_ROLE_SINK, .caps = 0, .options = options,
                 .config_size = sizeof(config), .reads = NULL, .writes = NULL, .init = init,
                 .process = process, .flush = flush, .fini = fini, .commit = commit);
