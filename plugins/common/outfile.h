/*
 * outfile: the one way textmill's file sinks write a file atomically.
 *
 * The output goes to a temporary file beside the target (same directory, so
 * rename() is atomic), is made durable in the sink's flush(), and is renamed
 * over the target only in commit(), which the host calls once every sink
 * has flushed. fini() without commit removes the temporary file, so a
 * failed, interrupted or killed run never leaves a half-written output at
 * the target (a SIGKILL can leave a `.NAME.tmp.XXXXXX` beside it, never a
 * partial NAME).
 *
 * Linked into each sink that uses it (a static library of plugin code, not
 * part of the host); it calls only the host table.
 */
#ifndef TM_PLUGINS_OUTFILE_H
#define TM_PLUGINS_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

#include <textmill/plugin.h>

/* Does an existing file at the target look like one this sink writes?
 * `head` holds its first `n` bytes (n may be 0 for an empty file, which is
 * always accepted). Returns true to allow replacing it. */
typedef bool (*outfile_sniff)(const unsigned char *head, size_t n);

typedef struct outfile {
    const tm_host *host;
    tm_ctx *ctx;
    const char *path; /* borrowed: the sink's option string */
    char *tmp;        /* the temporary file, once created */
    FILE *fp;         /* open between outfile_open and outfile_finish */
    bool committed;
} outfile;

/* Checks the target before any work is done (for init(): it only reads):
 * the path must not be a directory, an existing file must pass `sniff`
 * (else "PATH: exists and is not a WHAT file; refusing to replace it"), an
 * existing parent directory must be writable. Returns TM_OK or TM_ECONFIG
 * with the reason set. `what` names the format in messages ("CSV"). */
int outfile_check(const tm_host *h, tm_ctx *ctx, const char *path, const char *what,
                  outfile_sniff sniff);

/* Creates the missing parent directories of `path` (mkdir -p, mode 0777
 * narrowed by the umask). TM_OK, or TM_ERR with the reason set. */
int outfile_make_parent(const tm_host *h, tm_ctx *ctx, const char *path);

/* Fsyncs the directory holding `path`, so that a file created or renamed
 * there survives a crash. Called once the output is in place, so a failure
 * is a warning, not a failed run: TM_OK, or TM_ENOMEM. */
int outfile_sync_dir(const tm_host *h, tm_ctx *ctx, const char *path);

/* Creates missing parent directories and the temporary file (mode 0644),
 * opened for buffered writing as o->fp. TM_OK, or TM_ERR with the reason. */
int outfile_open(outfile *o, const tm_host *h, tm_ctx *ctx, const char *path);

/* For flush(): flushes, fsyncs and closes the temporary file. A write error
 * met earlier on o->fp (ENOSPC, EFBIG) is reported here. */
int outfile_finish(outfile *o);

/* For commit(): renames the temporary file over the target and fsyncs the
 * directory so that the rename survives a crash. */
int outfile_commit(outfile *o);

/* For fini(): closes and removes the temporary file unless committed. */
void outfile_close(outfile *o);

/* ---- Append mode (with the pipeline's `state:`) --------------------------
 *
 * A sink that keeps what earlier runs wrote appends each run's output to the
 * target in commit(). How much of the target earlier runs committed is kept
 * in the ledger (host->state_set, per instance, under the key
 * "committed_bytes:PATH" with the path as written, so that the length
 * belongs to that file: a sink pointed at another path finds no committed
 * length there and keeps the file it finds whole), which becomes durable
 * only after every step's commit: so a run killed at any moment leaves the
 * target untouched or LONGER than that length, never shorter, and the next
 * run cuts it back before it appends.
 *
 * Ledgers of older versions hold the length under "committed_bytes", without
 * the path. It is honoured for a path without a value of its own only when
 * the file is at least that long; else it is taken for another file's and
 * ignored, with a warning. The next commit moves it to the new key.
 *
 * The first run of a sink in a state directory has no committed length. If
 * it is killed after moving its output into place but before the ledger
 * commit, the next run must not take that file for an old output to keep:
 * so before it touches the target, the first run records the length it
 * starts from in STATE/append-INSTANCE.base (durably, with the path), and
 * the next first run for the same path starts from that length again (a
 * record for another path is ignored). Once the ledger holds a length for
 * the record's path, the record is obsolete and removed.
 */

/* The length this run's output will be appended at, for init() (reads only):
 * -1 without state (replace mode); 0 when the target is missing or to be
 * started afresh; else the committed length (or, before any committed run,
 * the length of the file found there). A target shorter than the committed
 * length was cut or replaced by someone: TM_ECONFIG with the reason
 * "PATH: holds N bytes, fewer than the L that earlier runs committed; move
 * it away to start a new file". */
int outfile_append_base(const tm_host *h, tm_ctx *ctx, const char *path, int64_t *base);

/* Removes the temporary files `.NAME.tmp.*` beside the target that killed
 * earlier runs left. Only with state (the state lock keeps any other run
 * of this pipeline out); logs how many. Call before outfile_open. */
void outfile_remove_stale(const tm_host *h, tm_ctx *ctx, const char *path);

/* For commit() in append mode: appends the finished temporary file to the
 * target as described above (cutting back what a killed run left, with a
 * warning) and stages the new committed length with state_set. Without
 * state it is outfile_commit (replace). */
int outfile_commit_append(outfile *o);

/* A sniff that accepts text: no NUL byte and valid UTF-8 in the head (a
 * multibyte sequence cut at the end of the head is allowed). */
bool outfile_is_text(const unsigned char *head, size_t n);

#endif
