/* textmill status STATE_DIR: what the state directory of a pipeline with
 * `state:` says, for a person or a cron job's wrapper. Reads only: the ledger
 * is opened read-only (SQLite lets it be read while a run writes it; a busy
 * timeout covers the moment of a commit), the lock file is never created and
 * never taken for more than the instant of a probe.
 *
 *   running      whether a run holds STATE/textmill.lock now (pid, since)
 *   inputs       how many inputs earlier runs completed, and when the last was
 *   runs         the last N runs, newest first: id, started, duration, status,
 *                exit code, documents read and written, inputs read and
 *                skipped, the pipeline and its file's hash
 *
 * Documents read are the source's docs_out and documents written the last
 * step's docs_out when it is a sink: the numbers of the run's summary line.
 * A row the ledger still marks 'running' is shown as running only while its
 * process holds the lock; otherwise the run died without recording its end
 * (SIGKILL, a second SIGTERM, a crash, a power cut) and is shown as killed. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct holder {
    bool running;
    long pid;
    char since[64];
} holder;

/* Is the lock held? A shared, non-blocking flock on a read-only descriptor:
 * it fails only while a run holds the exclusive lock. */
static void probe_lock(const char *dir, holder *h)
{
    memset(h, 0, sizeof *h);
    char *path = tm__xasprintf("%s/textmill.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        h->running = true;
        char who[128] = "";
        ssize_t n = pread(fd, who, sizeof who - 1, 0);
        who[n > 0 ? n : 0] = 0;
        who[strcspn(who, "\n")] = 0;
        h->pid = strtol(who, NULL, 10);
        const char *sp = strchr(who, ' ');
        snprintf(h->since, sizeof h->since, "%s", sp ? sp + 1 : "?");
    }
    close(fd); /* releases the shared lock, if taken */
}

/* "2024-05-01T02:15:03Z" -> seconds since the epoch; -1 when not that form */
static double parse_iso(const char *s)
{
    struct tm t = {0};
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour,
                     &t.tm_min, &t.tm_sec) != 6)
        return -1;
    t.tm_year -= 1900;
    t.tm_mon -= 1;
    return (double)timegm(&t);
}

static double num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

typedef struct run_row {
    int64_t id, pid;
    const char *started, *ended, *status; /* status: ok failed interrupted running killed */
    bool has_exit;
    int exit_code;
    double seconds;                       /* < 0: unknown */
    double docs_read, docs_written;       /* < 0: unknown */
    double in_read, in_skipped, in_changed, in_completed;
    const char *pipeline, *config_hash;
} run_row;

static void row_from(sqlite3_stmt *q, const holder *h, run_row *r, cJSON **manifest)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    r->pid = sqlite3_column_int64(q, 1);
    r->started = (const char *)sqlite3_column_text(q, 2);
    r->ended = (const char *)sqlite3_column_text(q, 3);
    r->status = (const char *)sqlite3_column_text(q, 4);
    if (!r->status)
        r->status = "?";
    r->has_exit = sqlite3_column_type(q, 5) != SQLITE_NULL;
    r->exit_code = sqlite3_column_int(q, 5);
    const char *m = (const char *)sqlite3_column_text(q, 6);
    *manifest = m ? cJSON_Parse(m) : NULL;
    const cJSON *mf = *manifest;
    if (!strcmp(r->status, "running") && !(h->running && h->pid == r->pid))
        r->status = "killed";
    double t0 = parse_iso(r->started), t1 = parse_iso(r->ended);
    r->seconds = num(mf, "seconds", t0 >= 0 && t1 >= 0 ? t1 - t0 : -1);
    if (!strcmp(r->status, "running") && t0 >= 0)
        r->seconds = (double)time(NULL) - t0;
    r->docs_read = r->docs_written = -1;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(mf, "steps");
    int n = cJSON_IsArray(steps) ? cJSON_GetArraySize(steps) : 0;
    if (n > 0) {
        r->docs_read = num(cJSON_GetArrayItem(steps, 0), "docs_out", -1);
        const cJSON *last = cJSON_GetArrayItem(steps, n - 1);
        const char *role = str(last, "role");
        if (role && !strcmp(role, "sink"))
            r->docs_written = num(last, "docs_out", -1);
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(mf, "inputs");
    r->in_read = num(in, "read", -1);
    r->in_skipped = num(in, "skipped", -1);
    r->in_changed = num(in, "changed", -1);
    r->in_completed = num(in, "completed", -1);
    r->pipeline = str(mf, "pipeline");
    r->config_hash = str(mf, "config_hash");
}

static void add_num_or_null(cJSON *o, const char *key, double v)
{
    if (v < 0)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void fmt_count(char *out, size_t n, double v)
{
    if (v < 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%.0f", v);
}

static void fmt_seconds(char *out, size_t n, double s)
{
    if (s < 0)
        snprintf(out, n, "-");
    else if (s < 60)
        snprintf(out, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(out, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(out, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

int tm__status(const char *dir, bool json, int limit)
{
    char *db_path = tm__xasprintf("%s/ledger.db", dir);
    struct stat st;
    if (stat(db_path, &st) != 0 || !S_ISREG(st.st_mode)) {
        tm__log(TM_LOG_ERROR, NULL, "%s: no textmill state here (no ledger.db)", dir);
        free(db_path);
        return TM_EXIT_CONFIG;
    }
    sqlite3 *db = NULL;
    int rc = TM_EXIT_CONFIG;
    sqlite3_stmt *q = NULL;
    cJSON *root = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        tm__log(TM_LOG_ERROR, NULL, "%s: cannot open the ledger: %s", db_path,
                db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);

    holder h;
    probe_lock(dir, &h);

    int64_t n_inputs = 0, n_runs = 0;
    char last_completed[64] = "";
    if (sqlite3_prepare_v2(db, "SELECT count(*), max(completed) FROM inputs", -1, &q, NULL) !=
            SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        tm__log(TM_LOG_ERROR, NULL, "%s: not a textmill ledger (%s)", db_path, sqlite3_errmsg(db));
        goto out;
    }
    n_inputs = sqlite3_column_int64(q, 0);
    if (sqlite3_column_text(q, 1))
        snprintf(last_completed, sizeof last_completed, "%s", sqlite3_column_text(q, 1));
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM runs", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        tm__log(TM_LOG_ERROR, NULL, "%s: not a textmill ledger (%s)", db_path, sqlite3_errmsg(db));
        goto out;
    }
    n_runs = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT run, pid, started, ended, status, exit_code, manifest "
                               "FROM runs ORDER BY run DESC LIMIT ?1", -1, &q, NULL) != SQLITE_OK) {
        tm__log(TM_LOG_ERROR, NULL, "%s: not a textmill ledger (%s)", db_path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(q, 1, limit > 0 ? limit : -1);

    cJSON *runs = NULL;
    if (json) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "state_dir", dir);
        if (h.running) {
            cJSON *r = cJSON_AddObjectToObject(root, "running");
            cJSON_AddNumberToObject(r, "pid", (double)h.pid);
            cJSON_AddStringToObject(r, "since", h.since);
        } else {
            cJSON_AddNullToObject(root, "running");
        }
        cJSON_AddNumberToObject(root, "inputs_completed", (double)n_inputs);
        add_str_or_null(root, "last_completed", last_completed[0] ? last_completed : NULL);
        cJSON_AddNumberToObject(root, "runs_total", (double)n_runs);
        runs = cJSON_AddArrayToObject(root, "runs");
    } else {
        printf("state:     %s\n", dir);
        if (h.running)
            printf("running:   pid %ld since %s\n", h.pid, h.since);
        else
            printf("running:   no\n");
        printf("inputs:    %lld completed%s%s\n", (long long)n_inputs,
               last_completed[0] ? ", the last at " : "", last_completed);
        if (!n_runs) {
            printf("runs:      none yet\n");
        } else {
            long long shown = limit > 0 && limit < n_runs ? limit : n_runs;
            printf("runs:      %lld, the last %lld newest first:\n", (long long)n_runs, shown);
            printf("%6s  %-20s  %8s  %4s  %9s  %9s  %-16s  %s\n", "run", "started", "duration",
                   "exit", "docs r/w", "inputs", "config", "status");
        }
    }
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        run_row r;
        cJSON *mf = NULL;
        row_from(q, &h, &r, &mf);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(runs, o);
            cJSON_AddNumberToObject(o, "run", (double)r.id);
            cJSON_AddNumberToObject(o, "pid", (double)r.pid);
            add_str_or_null(o, "started", r.started);
            add_str_or_null(o, "ended", r.ended);
            add_num_or_null(o, "seconds", r.seconds);
            cJSON_AddStringToObject(o, "status", r.status);
            if (r.has_exit)
                cJSON_AddNumberToObject(o, "exit_code", r.exit_code);
            else
                cJSON_AddNullToObject(o, "exit_code");
            add_num_or_null(o, "docs_read", r.docs_read);
            add_num_or_null(o, "docs_written", r.docs_written);
            cJSON *in = cJSON_AddObjectToObject(o, "inputs");
            add_num_or_null(in, "read", r.in_read);
            add_num_or_null(in, "skipped", r.in_skipped);
            add_num_or_null(in, "changed", r.in_changed);
            add_num_or_null(in, "completed", r.in_completed);
            add_str_or_null(o, "pipeline", r.pipeline);
            add_str_or_null(o, "config_hash", r.config_hash);
        } else {
            char dur[32], ex[16], dr[16], dw[16], ir[16], is[16], docs[40], ins[40];
            fmt_seconds(dur, sizeof dur, r.seconds);
            if (r.has_exit)
                snprintf(ex, sizeof ex, "%d", r.exit_code);
            else
                snprintf(ex, sizeof ex, "-");
            fmt_count(dr, sizeof dr, r.docs_read);
            fmt_count(dw, sizeof dw, r.docs_written);
            fmt_count(ir, sizeof ir, r.in_read);
            fmt_count(is, sizeof is, r.in_skipped);
            snprintf(docs, sizeof docs, "%s/%s", dr, dw);
            snprintf(ins, sizeof ins, "%s/%s", ir, is);
            const char *status = !strcmp(r.status, "killed") ? "killed (no end recorded)"
                                 : !strcmp(r.status, "running") ? "running now"
                                                                : r.status;
            char cfg[64];
            snprintf(cfg, sizeof cfg, "%s", r.config_hash ? r.config_hash : "-");
            printf("%6lld  %-20s  %8s  %4s  %9s  %9s  %-16s  %s\n", (long long)r.id,
                   r.started ? r.started : "?", dur, ex, docs, ins, cfg, status);
        }
        cJSON_Delete(mf);
    }
    if (step != SQLITE_DONE) {
        tm__log(TM_LOG_ERROR, NULL, "%s: cannot read the runs: %s", db_path, sqlite3_errmsg(db));
        goto out;
    }
    if (json) {
        char *s = cJSON_Print(root);
        if (!s) {
            rc = TM_EXIT_INTERNAL;
            goto out;
        }
        puts(s);
        free(s);
    } else if (n_runs) {
        printf("(docs r/w: documents read by the source / written by the last sink;\n"
               " inputs: read this run / skipped as completed by earlier runs)\n");
    }
    rc = TM_EXIT_OK;
out:
    cJSON_Delete(root);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(db_path);
    return rc;
}
