/*
 * textmill plugin ABI: the only header a plugin needs.
 *
 * A plugin is a shared object that exports one descriptor, built with
 * TM_PLUGIN_DEFINE(). The host loads it with dlopen(), checks its ABI
 * version and build signature, validates the pipeline's options against
 * the descriptor's option table, and then calls, in this order:
 *
 *     init  -> process (any number of times) -> flush -> commit -> fini
 *
 * `fini` runs exactly when `init` succeeded, also when the run fails or is
 * interrupted (then `flush` and `commit` are skipped: a sink must not commit
 * its output, a stage must not save state).
 *
 * Ownership (said once, for every function here):
 *   - What the host passes into a callback (documents, batches, strings,
 *     the config struct) is BORROWED: valid for the duration of that call
 *     only, unless stated otherwise. The config struct and the strings in
 *     it stay valid from `init` until `fini` returns.
 *   - What a plugin passes to the host is COPIED, unless the function's
 *     name ends in `_take`: then the host takes ownership, and the memory
 *     must come from host->alloc().
 *   - A host function that returns an error (a negative TM_E* code) has
 *     taken no ownership of anything.
 *
 * Thread safety: `process` is never called concurrently on one instance
 * unless the descriptor sets TM_CAP_REENTRANT. Host functions may be called
 * from any thread the host calls the plugin on, with the ctx of that call.
 *
 * ABI evolution: the descriptor and the host table only ever grow at their
 * end. The host accepts a plugin whose ABI major equals its own and whose
 * minor is not newer. A plugin can ask whether the host table has a newer
 * entry with TM_HOST_HAS(host, field).
 */
#ifndef TEXTMILL_PLUGIN_H
#define TEXTMILL_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_ABI_MAJOR 1
#define TM_ABI_MINOR 3

/* Return codes. Errors are negative; a callback that fails should first
 * explain why with host->error(). */
enum {
    TM_OK = 0,
    TM_END = 1,           /* a source has no more documents */
    TM_ERR = -1,          /* the plugin failed (run exits with stage failure) */
    TM_ECONFIG = -2,      /* bad option value found in init (config error) */
    TM_EINPUT = -3,       /* unreadable or malformed input (input error) */
    TM_ENOMEM = -4,       /* out of memory */
    TM_EINVAL = -5,       /* a host function was called with bad arguments */
    TM_ETIMEDOUT = -6     /* (ABI 1.3) a stage gave up on a document because
                           * host->expired() said its time_budget is used up:
                           * the document is rejected, the run goes on */
};

typedef enum { TM_ROLE_SOURCE = 1, TM_ROLE_STAGE = 2, TM_ROLE_SINK = 3 } tm_role;

/* Capabilities (descriptor.caps). */
#define TM_CAP_REENTRANT 0x1u /* process() may run on several threads at once */

/* Log levels for host->log(). */
enum { TM_LOG_ERROR = 0, TM_LOG_WARN = 1, TM_LOG_INFO = 2, TM_LOG_DEBUG = 3 };

/* ---------------------------------------------------------------------------
 * Documents
 *
 * The fields below are read-only for plugins; change a document only through
 * the host functions, so that annotations and statistics stay right.
 * Strings are UTF-8 and NUL-terminated; lengths are in bytes and exclude the
 * terminator (text may itself contain NUL bytes, so use text_len).
 */

/* Metadata value types. NUMBER and JSON values hold their JSON text. */
typedef enum {
    TM_META_NULL = 0,
    TM_META_STRING = 1,
    TM_META_NUMBER = 2,
    TM_META_BOOL = 3, /* value is "true" or "false" */
    TM_META_JSON = 4  /* an array or object, as compact JSON text */
} tm_meta_type;

typedef struct tm_meta {
    const char *key;
    tm_meta_type type;
    const char *value; /* NULL for TM_META_NULL */
    size_t len;
} tm_meta;

/* A standoff annotation: [start, end) are UTF-8 byte offsets into text. */
typedef struct tm_annotation {
    size_t start;
    size_t end;
    const char *type;      /* e.g. "LOC"; never NULL */
    const char *label;     /* the covered text or a label; may be NULL */
    const char *canonical; /* canonical name; may be NULL */
    const char *id;        /* external identifier (e.g. a Wikidata QID); may be NULL */
    const char *stage;     /* producing stage; NULL lets the host set the instance name */
    double score;          /* confidence in [0,1]; negative when unknown */
    const char *extra;     /* further fields as a compact JSON object, or NULL */
} tm_annotation;

typedef struct tm_doc {
    const char *id;
    size_t id_len;
    const char *text;
    size_t text_len;
    const tm_meta *meta; /* in insertion order */
    size_t n_meta;
    const tm_annotation *annotations; /* sorted by (start, end) */
    size_t n_annotations;
    /* The host's private fields follow; never copy a tm_doc by value. */
} tm_doc;

/* A batch of documents handed to process(). Dropped documents are removed by
 * the host between steps, so every document in a batch is live. */
typedef struct tm_batch {
    tm_doc **docs;
    size_t n;
    size_t budget_bytes; /* for sources: stop emitting once this much text is emitted */
} tm_batch;

/* One edit of an offset map given to host->replace_text(): the old bytes
 * [old_start, old_end) became the new bytes [new_start, new_end). Edits are
 * sorted and do not overlap; text between edits is unchanged, so the gaps
 * between consecutive edits have the same length in old and new text. */
typedef struct tm_edit {
    size_t old_start, old_end;
    size_t new_start, new_end;
} tm_edit;

/* ---------------------------------------------------------------------------
 * Options: declared in a table, never parsed by hand. The host validates the
 * pipeline's `with:` against the table (unknown keys are refused with the
 * list of valid ones), fills the plugin's config struct at the given
 * offsets, prints the table with `textmill plugins NAME` and exports it as
 * a JSON Schema with `--json`.
 */
typedef enum {
    TM_OPT_STRING = 1, /* char *              (NULL when unset without default) */
    TM_OPT_INT = 2,    /* int64_t             within [min, max] when min < max */
    TM_OPT_DOUBLE = 3, /* double              within [min, max] when min < max */
    TM_OPT_BOOL = 4,   /* int, 0 or 1         (true/false, yes/no, on/off) */
    TM_OPT_ENUM = 5,   /* int: index into `choices` ("a|b|c") */
    TM_OPT_LIST = 6,   /* tm_strlist          (a YAML list of strings, or one string) */
    TM_OPT_BYTES = 7,  /* int64_t             a size: 4096, 64k, 10MB, 1GiB */
    TM_OPT_MAP = 8     /* tm_strmap           a YAML mapping of strings to strings */
} tm_opt_type;

typedef struct tm_strlist {
    size_t n;
    char **items;
} tm_strlist;

typedef struct tm_strmap {
    size_t n;
    char **keys; /* in the order written */
    char **values;
} tm_strmap;

typedef struct tm_option {
    const char *name;
    tm_opt_type type;
    const char *def;     /* default as YAML scalar text, or NULL for none */
    size_t offset;       /* offsetof(config struct, field) */
    const char *help;    /* one or two sentences; required */
    const char *choices; /* TM_OPT_ENUM: "drop|mark" */
    double min, max;     /* range for numbers, checked when min < max */
    int required;        /* non-zero: must be given in the pipeline */
} tm_option;

#define TM_OPTIONS_END {0}

/* ---------------------------------------------------------------------------
 * The host table, passed to init(). Size-tagged and append-only.
 */
typedef struct tm_ctx tm_ctx; /* one per plugin instance; opaque */

typedef struct tm_host {
    uint32_t size;      /* sizeof(tm_host) as the host was built */
    uint32_t abi_minor; /* the host's TM_ABI_MINOR */

    /* Memory. host->free() accepts NULL. */
    void *(*alloc)(size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);

    /* Logging, prefixed with the instance name; thread-safe. */
    void (*log)(tm_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Explains why the current callback is about to fail; the last message
     * wins. Returns TM_ERR so that `return host->error(ctx, ...)` works. */
    int (*error)(tm_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

    /* A new document with a copy of id and text; invalid UTF-8 is handled by
     * the pipeline's `invalid_utf8` policy. Returns NULL (with the reason
     * logged) when the policy rejects it or memory runs out. The document
     * belongs to the plugin until it is emitted. */
    tm_doc *(*doc_new)(tm_ctx *ctx, const char *id, size_t id_len, const char *text,
                       size_t text_len);
    /* As doc_new, but takes ownership of `text` (from host->alloc, at least
     * text_len + 1 bytes) even when it returns NULL. */
    tm_doc *(*doc_new_take)(tm_ctx *ctx, const char *id, size_t id_len, char *text,
                            size_t text_len);
    /* Frees a document that was not emitted. */
    void (*doc_free)(tm_doc *doc);

    /* Hands a new document to the next step; takes ownership of `doc`.
     * Sources emit into the batch being filled; stages (split, or flush of
     * held documents) emit after the document `after` of the current batch,
     * or at the end of the batch when `after` is NULL. */
    int (*emit_take)(tm_ctx *ctx, tm_doc *doc, const tm_doc *after);

    /* Marks a document of the current batch as dropped; `reason` is a short
     * word counted in the run summary ("too_short", "duplicate"). */
    int (*drop)(tm_ctx *ctx, tm_doc *doc, const char *reason);

    /* Adds an annotation (copied). A NULL `stage` becomes this instance's name.
     * TM_EINVAL if the span is outside the text or not on UTF-8 boundaries. */
    int (*annotate)(tm_ctx *ctx, tm_doc *doc, const tm_annotation *a);

    /* Replaces the text. `edits` maps old offsets to new ones (see tm_edit);
     * annotations are remapped and those whose text was deleted are dropped.
     * n_edits == 0 with edits == NULL means "everything changed": every
     * annotation is dropped. */
    int (*replace_text)(tm_ctx *ctx, tm_doc *doc, const char *text, size_t text_len,
                        const tm_edit *edits, size_t n_edits);

    /* Metadata: get returns NULL when the key is absent. set replaces an
     * existing key in place or appends; value is ignored for TM_META_NULL. */
    const tm_meta *(*meta_get)(const tm_doc *doc, const char *key);
    int (*meta_set)(tm_ctx *ctx, tm_doc *doc, const char *key, tm_meta_type type,
                    const char *value, size_t len);

    /* Adds delta to the named counter of this instance (run summary). */
    void (*count)(tm_ctx *ctx, const char *counter, int64_t delta);

    /* The directory of the pipeline's `state:` (NULL if not set). */
    const char *(*state_dir)(tm_ctx *ctx);
    /* The instance name ("long-enough", or the plugin name). */
    const char *(*instance_name)(tm_ctx *ctx);

    /* Expands a source's glob patterns into the files to read: sorted, each
     * once. A pattern without wildcards must name an existing path (else
     * TM_EINPUT with the reason set); a wildcard pattern that matches nothing
     * is a warning. Free `out` with strlist_free. */
    int (*expand_paths)(tm_ctx *ctx, const tm_strlist *patterns, tm_strlist *out);
    void (*strlist_free)(tm_strlist *list);

    /* Takes a document of the current batch out of it, for stages that hold
     * documents back (a window of statistics, a dedupe delay). The document
     * leaves the batch when the current call returns; from then on the
     * plugin owns it and must hand it on with emit_take (in a later process
     * or in flush) or free it with doc_free. */
    int (*detach)(tm_ctx *ctx, tm_doc *doc);

    /* Reads a whole regular file into host memory (NUL-terminated; free it
     * with host->free or hand it to doc_new_take). A file larger than
     * max_bytes (when > 0) is not read: *buf is NULL, *len its size, and the
     * result TM_OK, so that the source can reject that one document. Errors
     * (missing, a directory, unreadable) are TM_EINPUT with the reason set. */
    int (*read_file)(tm_ctx *ctx, const char *path, int64_t max_bytes, char **buf, size_t *len);

    /* ---- ABI 1.1 ---- */

    /* The run so far, as compact JSON in host memory (free with host->free);
     * NULL outside a run or when memory runs out. For sinks that report on
     * the run: called from a sink's flush or commit, every stage's numbers
     * are final. The shape (fields are only ever added):
     *   {"pipeline": NAME, "file": PIPELINE_FILE, "started": "2026-11-21T03:00:00Z",
     *    "seconds": 1.25,
     *    "steps": [{"name", "plugin", "role": "source|stage|sink",
     *               "docs_in" (not for the source), "docs_out",
     *               "bytes_in" (not for the source), "bytes_out", "seconds",
     *               "dropped", "dropped_by_reason": {REASON: N},
     *               "counters": {NAME: N} (host->count),
     *               "utf8_repaired", "utf8_rejected" (the source only)}]}
     * Thread-safe with respect to other steps' calls only when the runner is
     * between batches (as it is during flush and commit). */
    char *(*run_stats)(tm_ctx *ctx);

    /* ---- ABI 1.2: incremental runs (with the pipeline's `state:`) ---- */

    /* Sources: every document that came of input `path` (as expand_paths
     * gave it) has been emitted. With `state:`, an input counts as completed
     * (and is skipped by later runs' expand_paths) only when it was reported
     * done and the run then committed; a source that never calls this has
     * its inputs completed when it returns TM_END. TM_OK, or TM_EINVAL for a
     * path expand_paths did not give. */
    int (*input_done)(tm_ctx *ctx, const char *path);

    /* Small values a plugin keeps between runs in the state directory's
     * ledger, per instance (keyed by the instance name). state_set stages a
     * value (copied; NULL deletes the key); it becomes durable in the same
     * transaction that records the run's completed inputs, after every
     * step's commit, and is lost with the run if the run fails or is killed.
     * state_get returns the value as the last committed run left it (never
     * a value staged in this run), borrowed until fini, or NULL. Without
     * `state:` nothing is kept: state_get returns NULL, state_set TM_OK.
     * A sink that appends to a file records here how much of it is committed,
     * and cuts the file back to that length before it appends again. */
    const char *(*state_get)(tm_ctx *ctx, const char *key);
    int (*state_set)(tm_ctx *ctx, const char *key, const char *value);

    /* ---- ABI 1.3: resource limits ---- */

    /* 1 once the document being processed has used up its stage's
     * `time_budget` (the pipeline's, or the step's), else 0; always 0 when
     * the stage has no budget, outside process(), and for sources and sinks.
     * A stage with a budget is given one document per process() call, so a
     * long loop over one document can check this now and then (it costs a
     * clock read) and give up with `return TM_ETIMEDOUT`: the host then
     * undoes the call and rejects the document. A call that simply runs over
     * is treated the same way once it returns (the host cannot stop it). */
    int (*expired)(tm_ctx *ctx);
} tm_host;

/* True if the host table has `field` (a host of an older minor may not). */
#define TM_HOST_HAS(host, field)                                                             \
    ((host)->size >= offsetof(tm_host, field) + sizeof(((tm_host *)0)->field))

/* ---------------------------------------------------------------------------
 * The descriptor.
 */

/* Binary-compatibility signature (as nginx does): sizes of the C types this
 * ABI relies on. A plugin built by another compiler model or word size is
 * refused at load time. */
#define TM_BUILD_SIGNATURE                                                                   \
    ((uint64_t)sizeof(void *) | (uint64_t)sizeof(size_t) << 8 |                              \
     (uint64_t)sizeof(long) << 16 | (uint64_t)sizeof(double) << 24 |                         \
     (uint64_t)sizeof(tm_doc) << 32 | (uint64_t)sizeof(tm_annotation) << 40 |                \
     (uint64_t)sizeof(tm_meta) << 48 | (uint64_t)sizeof(tm_option) << 56)

typedef struct tm_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t size;            /* sizeof(tm_plugin) */
    uint64_t build_signature; /* TM_BUILD_SIGNATURE */

    const char *name;    /* [a-z0-9_-]+; `use:` refers to it */
    const char *version; /* the plugin's own version */
    const char *license; /* SPDX identifier */
    const char *summary; /* one line */
    tm_role role;
    uint32_t caps; /* TM_CAP_* */

    const tm_option *options; /* terminated by TM_OPTIONS_END; may be NULL */
    size_t config_size;       /* size of the struct the options fill */

    /* Document fields read and written: "text", "annotations", "meta.title",
     * "meta.*" (any metadata). A leading '?' marks an optional read. The host
     * refuses, before data flows, a pipeline where a step reads a field that
     * no earlier step writes. NULL-terminated; may be NULL. Sources write
     * "id", "text" and the fields they fill. */
    const char *const *reads;
    const char *const *writes;

    /* init: `config` is the filled option struct (borrowed until fini).
     * Store per-instance state in *state. Must have no side effects beyond
     * reading (`textmill check` calls init and fini). */
    int (*init)(tm_ctx *ctx, const tm_host *host, const void *config, void **state);
    /* source: emit documents until batch->budget_bytes; return TM_END when done.
     * stage: annotate, change, drop or emit around the batch's documents.
     * sink: write the batch's documents. */
    int (*process)(void *state, tm_ctx *ctx, tm_batch *batch);
    /* After the last batch. A stage emits documents it held back; a sink
     * commits its output durably (rename into place). May be NULL. */
    int (*flush)(void *state, tm_ctx *ctx);
    void (*fini)(void *state); /* may be NULL */

    /* After every step's flush succeeded and every sink committed its output:
     * make durable the state that describes that output (a dedupe index), so
     * that a run that dies never leaves state for documents not written out.
     * Called on sinks first, then on the other steps in order. May be NULL. */
    int (*commit)(void *state, tm_ctx *ctx);
} tm_plugin;

#define TM_DESCRIPTOR_SYMBOL "tm_plugin_descriptor"

#if defined(__GNUC__)
#define TM_EXPORT __attribute__((visibility("default")))
#else
#define TM_EXPORT
#endif

/* Defines the descriptor. Use once per plugin:
 *     TM_PLUGIN_DEFINE(.name = "upper", .version = "1.0.0", .license = "MIT",
 *                      .summary = "...", .role = TM_ROLE_STAGE, ...);
 */
#define TM_PLUGIN_DEFINE(...)                                                                \
    TM_EXPORT const tm_plugin tm_plugin_descriptor = {                                      \
        .abi_major = TM_ABI_MAJOR,                                                           \
        .abi_minor = TM_ABI_MINOR,                                                           \
        .size = sizeof(tm_plugin),                                                           \
        .build_signature = TM_BUILD_SIGNATURE,                                               \
        __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif /* TEXTMILL_PLUGIN_H */
