/* Declarations shared between the core's files (tm__ names are internal). */
#ifndef TEXTMILL_INTERNAL_H
#define TEXTMILL_INTERNAL_H

#include "textmill/plugin.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* Exit codes (documented in README.md, "Exit codes"). */
enum {
    TM_EXIT_OK = 0,
    TM_EXIT_INTERNAL = 1, /* a bug or out of memory */
    TM_EXIT_CONFIG = 2,   /* bad command line, pipeline file, option or plugin */
    TM_EXIT_INPUT = 3,    /* unreadable, malformed or empty input */
    TM_EXIT_STAGE = 4,    /* a plugin failed while the run was processing */
    TM_EXIT_LOCKED = 5,   /* another run holds the state directory */
    TM_EXIT_REJECTS = 6,  /* success, but documents a stage failed on were rejected or skipped */
    TM_EXIT_INTERRUPTED = 7
};

/* ---- util.c --------------------------------------------------------------- */
void *tm__xmalloc(size_t n);
void *tm__xcalloc(size_t n, size_t size);
void *tm__xrealloc(void *p, size_t n);
char *tm__xstrdup(const char *s);
char *tm__xstrndup(const char *s, size_t n);
char *tm__xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *tm__xvasprintf(const char *fmt, va_list ap);

typedef struct tm_buf {
    char *data;
    size_t len, cap;
} tm_buf;
void tm__buf_reserve(tm_buf *b, size_t extra);
void tm__buf_add(tm_buf *b, const void *p, size_t n);
void tm__buf_adds(tm_buf *b, const char *s);
void tm__buf_addc(tm_buf *b, char c);
void tm__buf_printf(tm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tm__buf_free(tm_buf *b);
/* Appends s as a JSON string literal (with quotes). */
void tm__buf_json_str(tm_buf *b, const char *s, size_t n);

size_t tm__edit_distance(const char *a, const char *b);
/* The candidate closest to `word` when it is a plausible typo, else NULL. */
const char *tm__suggest(const char *word, const char *const *cands, size_t n);
double tm__now(void); /* monotonic seconds */
/* "2026-11-21T03:00:00Z": t in UTC, as the ledger, manifests and rejects write it. */
void tm__utc_iso(time_t t, char out[32]);

/* ---- log.c ------------------------------------------------------------------ */
extern int tm__log_level;       /* messages above this level are not printed */
extern int tm__log_json;        /* --log-format json */
extern int tm__progress_active; /* a progress line is on stderr (runner.c) */
void tm__log(int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tm__vlog(int level, const char *who, const char *fmt, va_list ap);

/* ---- yaml.c: a YAML document as a tree that remembers positions ---------- */
typedef enum { TM_NODE_SCALAR, TM_NODE_SEQ, TM_NODE_MAP } tm_node_kind;

typedef struct tm_node tm_node;
struct tm_node {
    tm_node_kind kind;
    int line, col;   /* 1-based */
    char *value;     /* scalar text (after ${VAR} expansion) */
    size_t len;
    bool plain;      /* an unquoted scalar: null/~/empty count as null */
    const char *origin; /* where it came from when not the file ("--set x.y") */
    size_t n;        /* children: seq items, or map pairs (keys[i] -> items[i]) */
    tm_node **items;
    tm_node **keys;
};

/* Loads `path` (or `text` of `len` bytes when text != NULL, named `path` in
 * errors). On error returns NULL and sets *err to "FILE:LINE:COL: reason". */
tm_node *tm__yaml_load(const char *path, const char *text, size_t len, bool expand_vars,
                       char **err);
void tm__node_free(tm_node *n);
tm_node *tm__node_get(const tm_node *map, const char *key);
const tm_node *tm__node_key(const tm_node *map, const char *key);
bool tm__node_is_null(const tm_node *n);
tm_node *tm__node_scalar(const char *value, int line, int col);
tm_node *tm__node_clone(const tm_node *n);
/* "FILE:LINE:COL" of a node (or its --set origin), in a static buffer per thread. */
const char *tm__where(const char *file, const tm_node *n);

/* ---- vars.c: ${VAR}, ${VAR:-default}, ${VAR:?message} ----------------------- */
/* Returns the expanded string, or NULL with *err set to a reason and *errcol
 * to the 0-based byte offset of the failing reference. */
char *tm__expand_vars(const char *s, size_t len, size_t *outlen, char **err, size_t *erroff);

/* ---- options.c ----------------------------------------------------------------- */
/* Validates `with` (a map node or NULL) against the option table and fills a
 * fresh config struct. On error returns NULL with *err set (with position). */
void *tm__options_fill(const tm_plugin *p, const char *file, const tm_node *with, char **err);
void tm__options_free(const tm_plugin *p, void *config);
void tm__options_print(FILE *out, const tm_plugin *p, const char *path);
char *tm__options_schema(const tm_plugin *p); /* JSON Schema text */
const char *tm__opt_type_name(tm_opt_type t);
/* A size as TM_OPT_BYTES reads it: 4096, 64k, 500kB, 10MiB (units of 1024). */
bool tm__parse_bytes(const char *s, int64_t *out);
/* A time: 2, 1.5, 250ms, 2s or 1m, in seconds. */
bool tm__parse_seconds(const char *s, double *out);

/* ---- registry.c: finding and loading plugins ---------------------------------- */
typedef struct tm_loaded {
    void *handle;
    const tm_plugin *desc;
    char *path;
    char hash[17]; /* XXH3 of the file as loaded, hex */
} tm_loaded;

const char *tm__role_name(tm_role r);
/* The search path: built-in dir, TEXTMILL_PLUGIN_PATH, then `extra`. */
typedef struct tm_search {
    char **dirs;
    size_t n;
} tm_search;
void tm__search_init(tm_search *s, const char *const *extra, size_t n_extra);
void tm__search_free(tm_search *s);
const char *tm__builtin_plugin_dir(void);
/* Loads and checks one plugin file. On error returns -1 with *err set to one
 * line naming the file. */
int tm__plugin_open(const char *path, tm_loaded *out, char **err);
void tm__plugin_close(tm_loaded *l);
/* Finds `use` (a plugin name or a path to a .so) for `role`. */
int tm__plugin_find(const tm_search *s, const char *use, tm_role role, tm_loaded *out,
                    char **err);
/* Every plugin on the search path (first of each name and role wins). */
size_t tm__plugin_list(const tm_search *s, tm_loaded **out);

/* ---- doc.c: the document model ------------------------------------------------ */
typedef enum { TM_UTF8_REPAIR = 0, TM_UTF8_SKIP = 1, TM_UTF8_FAIL = 2 } tm_utf8_policy;

typedef struct tm_idoc {
    tm_doc pub; /* first, so a tm_doc * is a tm_idoc * */
    size_t cap_meta, cap_annotations;
    char *drop_reason; /* non-NULL once dropped */
    bool detached;     /* taken out of its batch by the plugin (host->detach) */
    bool held;         /* detached and settled: the plugin holds it (until it emits it) */
    bool input_end;    /* the last document of an input (host->input_done) */
} tm_idoc;

/* Number of bytes of the longest valid UTF-8 prefix. */
size_t tm__utf8_valid_prefix(const char *s, size_t len);
/* Copies s replacing each maximal invalid sequence with U+FFFD; *n_bad counts them. */
char *tm__utf8_repair(const char *s, size_t len, size_t *outlen, size_t *n_bad);
tm_idoc *tm__doc_new_take(const char *id, size_t id_len, char *text, size_t text_len);
void tm__doc_free(tm_doc *d);
tm_idoc *tm__doc_clone(const tm_doc *d); /* a deep copy, not dropped or detached */
int tm__doc_annotate(tm_doc *d, const tm_annotation *a, const char *stage);
int tm__doc_replace_text(tm_doc *d, const char *text, size_t len, const tm_edit *edits,
                         size_t n_edits, size_t *n_lost);
const tm_meta *tm__doc_meta_get(const tm_doc *d, const char *key);
int tm__doc_meta_set(tm_doc *d, const char *key, tm_meta_type type, const char *value,
                     size_t len);

/* ---- pipeline.c: the pipeline file --------------------------------------------- */
typedef enum { TM_ON_ERROR_FAIL = 0, TM_ON_ERROR_SKIP = 1, TM_ON_ERROR_REJECT = 2 } tm_on_error;

typedef struct tm_step {
    tm_role role;
    tm_on_error on_error; /* what a failing process() costs: the run, or the document */
    int workers;          /* threads for a reentrant stage; 0: the pipeline's workers: */
    /* Limits per document, for stages: the step's own max_doc_bytes: and
     * time_budget: or else the pipeline's (resolved when parsed); 0: none. */
    int64_t max_doc_bytes; /* longer texts are rejected before process() */
    double time_budget;    /* seconds per document; one document per call */
    char *use;         /* as written */
    char *name;        /* instance name (unique in the pipeline) */
    int line, col;     /* of the step in the file */
    tm_node *with;     /* owned; NULL if absent */
    tm_loaded plugin;  /* after tm__pipeline_load_plugins */
    void *config;      /* after tm__pipeline_load_plugins */
} tm_step;

typedef struct tm_pipeline {
    char *file;
    char *name;
    char *state_dir;
    char *rejects;         /* rejects: (default STATE/rejects.jsonl) */
    struct tm_step *rejects_step; /* the jsonl sink that writes them, after loading */
    bool replay;           /* `textmill replay`: inputs are not the ledger's business */
    int workers;           /* workers: for every reentrant stage (0: 1) */
    int64_t max_doc_bytes; /* the stages' default max_doc_bytes: (0: none) */
    double time_budget;    /* the stages' default time_budget: in seconds (0: none) */
    double max_rejects;    /* with has_max_rejects: a count, or a percentage */
    bool max_rejects_pct, has_max_rejects;
    char **plugin_path;
    size_t n_plugin_path;
    tm_utf8_policy invalid_utf8;
    int64_t batch_bytes;
    tm_step *steps; /* source, stages..., sinks... */
    size_t n_steps;
    tm_node *root;
} tm_pipeline;

/* A --set STEP.KEY=VALUE override. */
typedef struct tm_override {
    char *step, *key, *value;
} tm_override;

tm_pipeline *tm__pipeline_parse(const char *file, const tm_override *ov, size_t n_ov,
                                char **err);
/* Resolves, loads and checks every plugin and validates every option; checks
 * the order of fields read and written. Errors are printed; returns 0 if all
 * is well. */
int tm__pipeline_load_plugins(tm_pipeline *p);
void tm__pipeline_free(tm_pipeline *p);
void tm__step_free(tm_step *s);
/* A step the host adds (rejects sink, replay's source) from YAML text; NULL
 * or an error message. */
char *tm__pipeline_host_step(tm_pipeline *p, const char *yaml, tm_role role, const char *name,
                             tm_step *s);
char *tm__yaml_quote(const char *v); /* a YAML double-quoted scalar (malloc) */

/* ---- host.c: the host table and per-instance contexts ----------------------- */
typedef struct tm_stat_count {
    char *name;
    int64_t n;
} tm_stat_count;

/* When the run started: wall clock for reports, monotonic for durations. */
typedef struct tm_run_clock {
    double started, t0;
} tm_run_clock;

struct tm_ctx {
    tm_step *step;
    tm_pipeline *pipeline;
    tm_ctx *all;                /* every step's context, in pipeline order */
    const tm_run_clock *clock;  /* NULL outside a run */
    struct tm_ledger *ledger;   /* the state directory's ledger; NULL without state: */
    char *error;         /* last message set by host->error() */
    tm_batch *batch;     /* the batch being processed (emit/drop target) */
    /* emitted documents waiting to be merged into the batch */
    struct tm_pending {
        tm_doc *doc;
        const tm_doc *after;
    } *pending;
    size_t n_pending, cap_pending;
    size_t emitted_bytes;
    int64_t docs_in, docs_out, bytes_in, bytes_out;
    double seconds;
    tm_stat_count *drops, *counters;
    size_t n_drops, n_counters;
    int64_t utf8_repaired, utf8_rejected;
    bool utf8_failed;
    bool input_ended_before; /* input_done came before this call emitted anything */
    double deadline; /* tm__now() by which the current document is due (0: no budget) */
};

extern const tm_host tm__host;
void tm__ctx_init(tm_ctx *c, tm_pipeline *p, tm_step *s);
void tm__ctx_free(tm_ctx *c);
void tm__ctx_stat_add(tm_stat_count **arr, size_t *n, const char *name, int64_t delta);
/* Moves documents emitted during a call into the batch (after their anchors),
 * then removes dropped documents, counting them. */
void tm__ctx_settle(tm_ctx *c, tm_batch *b);

/* ---- ledger.c: the state directory (lock, completed inputs, plugin state, runs) -- */
typedef struct tm_ledger tm_ledger;
/* Creates the directory, takes its lock (waiting up to wait_s seconds; < 0:
 * not at all) and opens the ledger. 0, or an exit code with *err set
 * (TM_EXIT_LOCKED when another run holds the lock). */
int tm__ledger_open(const char *dir, double wait_s, tm_ledger **out, char **err);
void tm__ledger_close(tm_ledger *l); /* releases the lock */
/* Should the source read `path`? No when an earlier run completed it with the
 * same size and mtime, or the same content; otherwise it is staged. */
int tm__ledger_want(tm_ledger *l, const char *path, bool *want);
int tm__ledger_input_done(tm_ledger *l, const char *path);
void tm__ledger_all_done(tm_ledger *l);
void tm__ledger_counts(const tm_ledger *l, int64_t *skipped, int64_t *read, int64_t *changed,
                       int64_t *completed);
const char *tm__ledger_get(tm_ledger *l, const char *step, const char *key);
void tm__ledger_set(tm_ledger *l, const char *step, const char *key, const char *value);
/* Deletes a plugin value at once, in its own transaction (replay). */
int tm__ledger_delete_now(tm_ledger *l, const char *step, const char *key, char **err);
int tm__ledger_run_begin(tm_ledger *l, char **err);
/* One transaction: the inputs done and the staged plugin values. */
int tm__ledger_commit(tm_ledger *l, char **err);
void tm__ledger_run_end(tm_ledger *l, int exit_code, const char *status, const char *manifest);
int64_t tm__ledger_run_id(const tm_ledger *l);
/* XXH3-64 of a file's bytes as 16 hex digits; -1 when it cannot be read. */
int tm__hash_file(const char *path, char out[17]);
int tm__hash_fd(int fd, char out[17]); /* the whole file, whatever its offset */
const char *tm__ledger_path(const tm_ledger *l);

/* ---- stats.c ------------------------------------------------------------------- */
void tm__stats_print(const tm_ctx *all, size_t n);
/* The run so far as compact JSON (malloc'd), or NULL when memory runs out. */
char *tm__stats_json(const tm_ctx *all, size_t n);
/* The run manifest kept in the ledger: the pipeline file's hash, every
 * plugin's file, version and hash, the inputs, the run's numbers, the exit. */
char *tm__manifest_json(const tm_ctx *all, size_t n, const tm_ledger *l, int exit_code);

/* ---- inputs.c ------------------------------------------------------------------ */
int tm__expand_paths(tm_ctx *ctx, const tm_strlist *patterns, tm_strlist *out);
void tm__strlist_free(tm_strlist *l);
int tm__read_file(tm_ctx *ctx, const char *path, int64_t max_bytes, char **buf, size_t *len);

/* ---- runner.c ------------------------------------------------------------------ */
typedef struct tm_run_opts {
    int64_t limit; /* 0 = no limit */
    double wait;   /* seconds to wait for the state lock; < 0: none */
    bool quiet, stats, progress;
} tm_run_opts;
int tm__run(tm_pipeline *p, const tm_run_opts *o);
int tm__interrupted(void); /* a SIGINT/SIGTERM arrived during this run */
int tm__check(tm_pipeline *p);
/* replay.c: feeds a rejects file back through its pipeline. An exit code. */
int tm__replay(const char *path, const tm_override *ov, size_t n_ov, const tm_run_opts *o);

/* ---- scaffold.c ----------------------------------------------------------------- */
int tm__new_plugin(const char *name, const char *dir);

#endif
