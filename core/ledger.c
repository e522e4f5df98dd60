/* The state directory of a pipeline with `state:`: one run at a time (a
 * lock), which inputs earlier runs completed (the completion ledger), small
 * values plugins keep between runs, and a manifest of every run.
 *
 *   STATE/textmill.lock   flock()ed for the whole run; holds "PID STARTED"
 *   STATE/ledger.db       SQLite: inputs, plugin_state, runs
 *
 * The ledger is the run's last commit point: the inputs a run completed and
 * the values its plugins staged are written in one transaction, after every
 * sink has committed its output and every stage its state. A run that dies
 * before that transaction leaves the ledger as the previous run left it, so
 * the next run processes the same inputs again (and sinks that append cut
 * their files back to the length the ledger records). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define LEDGER_VERSION 1

typedef struct staged_input {
    char *path;
    int64_t size, mtime_ns;
    char hash[17];
    bool done, changed; /* changed: processed before, with other content */
    bool read;          /* given to the source (not only touched) */
} staged_input;

typedef struct kv {
    char *step, *key, *value; /* value NULL: delete */
} kv;

struct tm_ledger {
    char *dir, *db_path, *lock_path;
    int lock_fd;
    sqlite3 *db;
    int64_t run_id;
    staged_input *in;
    size_t n_in, cap_in;
    sqlite3_stmt *q_input; /* an input's row, for tm__ledger_want */
    uint32_t *slots; /* open addressing over `in` by path: index + 1, 0 = empty */
    size_t slot_cap;
    kv *committed, *staged; /* values as loaded, and as set in this run */
    size_t n_committed, n_staged;
    int64_t skipped, touched; /* inputs completed before; same content, new mtime */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS inputs ("
    "  path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    "  hash TEXT NOT NULL, completed TEXT NOT NULL, run INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS plugin_state ("
    "  step TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (step, key));"
    "CREATE TABLE IF NOT EXISTS runs ("
    "  run INTEGER PRIMARY KEY, pid INTEGER NOT NULL, started TEXT NOT NULL, ended TEXT,"
    "  status TEXT NOT NULL, exit_code INTEGER, manifest TEXT);";

static char *db_error(tm_ledger *l, const char *what)
{
    /* "disk I/O error" alone does not say that the disk is full (ENOSPC) or
     * the file too large (EFBIG): add the system's reason when there is one */
    int sys = l->db ? sqlite3_system_errno(l->db) : 0;
    if (sys)
        return tm__xasprintf("%s: %s: %s (%s)", l->db_path, what, sqlite3_errmsg(l->db),
                             strerror(sys));
    return tm__xasprintf("%s: %s: %s", l->db_path, what, l->db ? sqlite3_errmsg(l->db) : "");
}

static int exec(tm_ledger *l, const char *sql, char **err, const char *what)
{
    if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    *err = db_error(l, what);
    return -1;
}

/* mkdir -p */
static int make_dirs(const char *dir, char **err)
{
    char *d = tm__xstrdup(dir);
    for (char *p = d + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(d, 0777) != 0 && errno != EEXIST) {
            *err = tm__xasprintf("state: cannot create the directory %s: %s", d, strerror(errno));
            free(d);
            return -1;
        }
        *p = c;
        if (!c)
            break;
    }
    free(d);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        *err = tm__xasprintf("state: %s is not a directory", dir);
        return -1;
    }
    return 0;
}

/* Takes the lock, waiting up to wait_s seconds (< 0: not at all). flock()
 * locks die with their process, so a lock left by a dead run is free. */
static int take_lock(tm_ledger *l, double wait_s, char **err)
{
    l->lock_fd = open(l->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->lock_fd < 0) {
        *err = tm__xasprintf("state: cannot open %s: %s", l->lock_path, strerror(errno));
        return TM_EXIT_CONFIG;
    }
    double t0 = tm__now();
    for (;;) {
        if (flock(l->lock_fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (tm__interrupted()) {
            *err = tm__xasprintf("state: interrupted while waiting for %s", l->lock_path);
            return TM_EXIT_INTERRUPTED;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            *err = tm__xasprintf("state: cannot lock %s: %s", l->lock_path, strerror(errno));
            return TM_EXIT_CONFIG;
        }
        /* without --wait, still a moment: `textmill status` takes a shared lock
         * for an instant to see whether a run is going on */
        if (tm__now() - t0 >= (wait_s < 0 ? 0.25 : wait_s)) {
            char who[128] = "";
            ssize_t n = pread(l->lock_fd, who, sizeof who - 1, 0);
            who[n > 0 ? n : 0] = 0;
            who[strcspn(who, "\n")] = 0;
            long pid = strtol(who, NULL, 10);
            const char *since = strchr(who, ' ');
            *err = tm__xasprintf("state: another run holds %s (pid %ld, started %s)%s",
                                 l->lock_path, pid, since ? since + 1 : "?",
                                 wait_s < 0 ? "; use --wait to wait for it"
                                            : "; gave up waiting");
            return TM_EXIT_LOCKED;
        }
        usleep(100 * 1000);
    }
    char line[96], when[32];
    tm__utc_iso(time(NULL), when);
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), when);
    if (ftruncate(l->lock_fd, 0) != 0 || pwrite(l->lock_fd, line, (size_t)n, 0) != n) {
        /* only a note for the message another run prints: not a reason to stop */
    }
    return 0;
}

static int load_state(tm_ledger *l, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT step, key, value FROM plugin_state", -1, &st, NULL)) {
        *err = db_error(l, "cannot read plugin_state");
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        l->committed = tm__xrealloc(l->committed, (l->n_committed + 1) * sizeof *l->committed);
        kv *k = &l->committed[l->n_committed++];
        k->step = tm__xstrdup((const char *)sqlite3_column_text(st, 0));
        k->key = tm__xstrdup((const char *)sqlite3_column_text(st, 1));
        k->value = tm__xstrdup((const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return 0;
}

int tm__ledger_open(const char *dir, double wait_s, tm_ledger **out, char **err)
{
    *out = NULL;
    *err = NULL;
    if (make_dirs(dir, err) != 0)
        return TM_EXIT_CONFIG;
    tm_ledger *l = tm__xcalloc(1, sizeof *l);
    l->dir = tm__xstrdup(dir);
    l->lock_path = tm__xasprintf("%s/textmill.lock", dir);
    l->db_path = tm__xasprintf("%s/ledger.db", dir);
    l->lock_fd = -1;
    int rc = take_lock(l, wait_s, err);
    if (rc) {
        tm__ledger_close(l);
        return rc;
    }
    if (sqlite3_open_v2(l->db_path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        *err = db_error(l, "cannot open the ledger");
        tm__ledger_close(l);
        return TM_EXIT_CONFIG;
    }
    sqlite3_busy_timeout(l->db, 5000);
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > LEDGER_VERSION) {
        *err = tm__xasprintf("%s: ledger version %d is newer than this textmill's %d "
                             "(upgrade textmill)", l->db_path, version, LEDGER_VERSION);
        tm__ledger_close(l);
        return TM_EXIT_CONFIG;
    }
    if (exec(l, schema, err, "not a textmill ledger (cannot create its tables)") != 0 ||
        exec(l, "PRAGMA user_version = 1", err, "cannot write") != 0 ||
        load_state(l, err) != 0) {
        /* a full disk or an I/O error is no fault of the configuration: it
         * fails the run as a sink's write error does */
        int code = sqlite3_errcode(l->db);
        rc = code == SQLITE_FULL || (code & 0xff) == SQLITE_IOERR ? TM_EXIT_STAGE
                                                                  : TM_EXIT_CONFIG;
        tm__ledger_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

void tm__ledger_close(tm_ledger *l)
{
    if (!l)
        return;
    sqlite3_finalize(l->q_input);
    if (l->db)
        sqlite3_close(l->db);
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* releases the lock */
    for (size_t i = 0; i < l->n_in; i++)
        free(l->in[i].path);
    free(l->in);
    free(l->slots);
    for (size_t i = 0; i < l->n_committed; i++)
        free(l->committed[i].step), free(l->committed[i].key), free(l->committed[i].value);
    for (size_t i = 0; i < l->n_staged; i++)
        free(l->staged[i].step), free(l->staged[i].key), free(l->staged[i].value);
    free(l->committed);
    free(l->staged);
    free(l->dir);
    free(l->db_path);
    free(l->lock_path);
    free(l);
}

int tm__hash_fd(int fd, char out[17])
{
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    static __thread char buf[1 << 16];
    ssize_t n;
    off_t at = 0; /* pread: the caller's file offset stays where it was */
    while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
        XXH3_64bits_update(h, buf, (size_t)n);
        at += n;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(h));
    XXH3_freeState(h);
    return n < 0 ? -1 : 0;
}

int tm__hash_file(const char *path, char out[17])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = tm__hash_fd(fd, out);
    close(fd);
    return rc;
}

static size_t slot_of(const tm_ledger *l, const char *path)
{
    size_t j = (size_t)XXH3_64bits(path, strlen(path)) & (l->slot_cap - 1);
    while (l->slots[j] && strcmp(l->in[l->slots[j] - 1].path, path))
        j = (j + 1) & (l->slot_cap - 1);
    return j;
}

/* A night over a folder of 100,000 files looks paths up 200,000 times. */
static staged_input *find_input(tm_ledger *l, const char *path)
{
    if (!l->slot_cap)
        return NULL;
    uint32_t k = l->slots[slot_of(l, path)];
    return k ? &l->in[k - 1] : NULL;
}

static void index_input(tm_ledger *l)
{
    if ((l->n_in + 1) * 2 > l->slot_cap) {
        free(l->slots);
        l->slot_cap = l->slot_cap ? 2 * l->slot_cap : 256;
        l->slots = tm__xcalloc(l->slot_cap, sizeof *l->slots);
        for (size_t i = 0; i + 1 < l->n_in; i++)
            l->slots[slot_of(l, l->in[i].path)] = (uint32_t)(i + 1);
    }
    l->slots[slot_of(l, l->in[l->n_in - 1].path)] = (uint32_t)l->n_in;
}

int tm__ledger_want(tm_ledger *l, const char *path, bool *want)
{
    *want = true;
    if (find_input(l, path))
        return 0; /* two patterns named it: once is enough, and it is staged */
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0; /* the source reports what is wrong with it */
    staged_input in = {0};
    in.size = (int64_t)st.st_size;
    in.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    sqlite3_stmt *q = l->q_input;
    bool known = false, same_stat = false;
    char old_hash[17] = "";
    if (q || sqlite3_prepare_v2(l->db, "SELECT size, mtime_ns, hash FROM inputs WHERE path = ?1",
                                -1, &l->q_input, NULL) == SQLITE_OK) {
        q = l->q_input; /* prepared once: asked once per input file */
        sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            known = true;
            same_stat = sqlite3_column_int64(q, 0) == in.size &&
                        sqlite3_column_int64(q, 1) == in.mtime_ns;
            snprintf(old_hash, sizeof old_hash, "%s", (const char *)sqlite3_column_text(q, 2));
        }
        sqlite3_reset(q);
    }
    if (known && same_stat) {
        *want = false;
        l->skipped++;
        return 0;
    }
    if (tm__hash_file(path, in.hash) != 0)
        return 0; /* unreadable: the source says so */
    if (known && !strcmp(in.hash, old_hash)) {
        /* touched, not changed: completed already; remember the new mtime */
        *want = false;
        l->skipped++;
        l->touched++;
        in.done = true;
    }
    in.changed = known && *want;
    in.read = *want;
    in.path = tm__xstrdup(path);
    if (l->n_in == l->cap_in) {
        l->cap_in = l->cap_in ? 2 * l->cap_in : 64;
        l->in = tm__xrealloc(l->in, l->cap_in * sizeof *l->in);
    }
    l->in[l->n_in++] = in;
    index_input(l);
    return 0;
}

int tm__ledger_input_done(tm_ledger *l, const char *path)
{
    staged_input *in = find_input(l, path);
    if (!in)
        return -1;
    in->done = true;
    return 0;
}

void tm__ledger_all_done(tm_ledger *l)
{
    for (size_t i = 0; i < l->n_in; i++)
        l->in[i].done = true;
}

void tm__ledger_counts(const tm_ledger *l, int64_t *skipped, int64_t *read, int64_t *changed,
                       int64_t *completed)
{
    *skipped = l->skipped;
    *read = *changed = *completed = 0;
    for (size_t i = 0; i < l->n_in; i++) {
        if (!l->in[i].read)
            continue;
        (*read)++;
        *changed += l->in[i].changed;
        *completed += l->in[i].done;
    }
}

static kv *kv_find(kv *a, size_t n, const char *step, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(a[i].step, step) && !strcmp(a[i].key, key))
            return &a[i];
    return NULL;
}

const char *tm__ledger_get(tm_ledger *l, const char *step, const char *key)
{
    kv *k = kv_find(l->committed, l->n_committed, step, key);
    return k ? k->value : NULL;
}

int tm__ledger_delete_now(tm_ledger *l, const char *step, const char *key, char **err)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(l->db, "DELETE FROM plugin_state WHERE step = ?1 AND key = ?2",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, step, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (!ok) {
        *err = db_error(l, "cannot write");
        return -1;
    }
    return 0;
}

void tm__ledger_set(tm_ledger *l, const char *step, const char *key, const char *value)
{
    kv *k = kv_find(l->staged, l->n_staged, step, key);
    if (!k) {
        l->staged = tm__xrealloc(l->staged, (l->n_staged + 1) * sizeof *l->staged);
        k = &l->staged[l->n_staged++];
        k->step = tm__xstrdup(step);
        k->key = tm__xstrdup(key);
        k->value = NULL;
    }
    free(k->value);
    k->value = value ? tm__xstrdup(value) : NULL;
}

int tm__ledger_run_begin(tm_ledger *l, char **err)
{
    char when[32];
    tm__utc_iso(time(NULL), when);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "INSERT INTO runs (pid, started, status) VALUES (?1, ?2, "
                                  "'running')", -1, &st, NULL) != SQLITE_OK) {
        *err = db_error(l, "cannot record the run");
        return -1;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)getpid());
    sqlite3_bind_text(st, 2, when, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        *err = db_error(l, "cannot record the run");
        return -1;
    }
    l->run_id = sqlite3_last_insert_rowid(l->db);
    return 0;
}

int tm__ledger_commit(tm_ledger *l, char **err)
{
    char when[32];
    tm__utc_iso(time(NULL), when);
    if (exec(l, "BEGIN IMMEDIATE", err, "cannot commit the ledger") != 0)
        return -1;
    sqlite3_stmt *ins = NULL, *set = NULL, *del = NULL;
    int ok = sqlite3_prepare_v2(l->db,
                                "INSERT OR REPLACE INTO inputs (path, size, mtime_ns, hash, "
                                "completed, run) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                -1, &ins, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(l->db,
                                "INSERT OR REPLACE INTO plugin_state (step, key, value) "
                                "VALUES (?1, ?2, ?3)",
                                -1, &set, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(l->db, "DELETE FROM plugin_state WHERE step = ?1 AND key = ?2",
                                -1, &del, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < l->n_in; i++) {
        if (!l->in[i].done)
            continue;
        sqlite3_bind_text(ins, 1, l->in[i].path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, l->in[i].size);
        sqlite3_bind_int64(ins, 3, l->in[i].mtime_ns);
        sqlite3_bind_text(ins, 4, l->in[i].hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, when, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 6, l->run_id);
        ok = sqlite3_step(ins) == SQLITE_DONE;
        sqlite3_reset(ins);
    }
    for (size_t i = 0; ok && i < l->n_staged; i++) {
        sqlite3_stmt *s = l->staged[i].value ? set : del;
        sqlite3_bind_text(s, 1, l->staged[i].step, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, l->staged[i].key, -1, SQLITE_STATIC);
        if (l->staged[i].value)
            sqlite3_bind_text(s, 3, l->staged[i].value, -1, SQLITE_STATIC);
        ok = sqlite3_step(s) == SQLITE_DONE;
        sqlite3_reset(s);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(set);
    sqlite3_finalize(del);
    if (!ok || sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        *err = db_error(l, "cannot commit the ledger");
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

void tm__ledger_run_end(tm_ledger *l, int exit_code, const char *status, const char *manifest)
{
    if (!l->run_id)
        return;
    char when[32];
    tm__utc_iso(time(NULL), when);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "UPDATE runs SET ended = ?1, status = ?2, exit_code = ?3, "
                                  "manifest = ?4 WHERE run = ?5", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, when, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, exit_code);
        sqlite3_bind_text(st, 4, manifest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, l->run_id);
        if (sqlite3_step(st) != SQLITE_DONE)
            tm__log(TM_LOG_WARN, NULL, "%s: cannot record the run's end: %s", l->db_path,
                    sqlite3_errmsg(l->db));
    }
    sqlite3_finalize(st);
}

int64_t tm__ledger_run_id(const tm_ledger *l) { return l->run_id; }
const char *tm__ledger_path(const tm_ledger *l) { return l->db_path; }
