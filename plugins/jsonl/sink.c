/* sink `jsonl`: writes every document as one line of compact JSON, plain,
 * gzip or zstd. Output goes through plugins/common/outfile: a temporary file
 * beside the target, made durable by flush() and renamed into place only by
 * commit(), so a failed or interrupted run never leaves a half-written file
 * (nor the temporary one).
 *
 * With the pipeline's `state:` the sink appends instead: commit() adds this
 * run's temporary file to the end of the target, at the length the ledger
 * says earlier runs committed (outfile_commit_append). gzip members and zstd
 * frames concatenate into a valid stream, so every run adds one member or
 * frame; a run that writes no document adds nothing at all. */
#include "jsonio.h"
#include "outfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

enum { COMP_AUTO, COMP_NONE, COMP_GZIP, COMP_ZSTD };

typedef struct config {
    char *path;
    int compression;
    int64_t level;
} config;

static const tm_option options[] = {
    {.name = "path", .type = TM_OPT_STRING, .offset = offsetof(config, path), .required = 1,
     .help = "The output file, e.g. out/articles.jsonl.zst. Missing parent directories are "
             "created; the file appears only when the run succeeds."},
    {.name = "compression", .type = TM_OPT_ENUM, .choices = "auto|none|gzip|zstd",
     .def = "auto", .offset = offsetof(config, compression),
     .help = "Compression of the output: auto chooses gzip for a path ending in .gz, zstd "
             "for .zst, and none otherwise."},
    {.name = "level", .type = TM_OPT_INT, .def = "0", .offset = offsetof(config, level),
     .min = 0, .max = 19,
     .help = "Compression level: 0 is the library default (gzip 6, zstd 3); gzip takes "
             "1..9, zstd 1..19. Ignored without compression."},
    TM_OPTIONS_END};

/* 1 MiB of JSON per write (or per compressor call) keeps system calls rare. */
#define OUT_CAP ((size_t)1024 * 1024)
#define ZOUT_CAP ((size_t)256 * 1024)

typedef struct state {
    const tm_host *host;
    const config *cfg;
    int comp; /* COMP_NONE, COMP_GZIP or COMP_ZSTD */
    int64_t base; /* append mode: the length appended at; -1 replaces */
    int64_t docs; /* written in this run */

    bool opened;
    /* the JSON text and the compressor write to the raw descriptor of
     * file.fp, never through the FILE, which outfile only flushes empty */
    outfile file;
    jio_buf out; /* JSON text; drains into the compressor or the file */
    unsigned char *zout;
    z_stream z;
    bool z_live;
    ZSTD_CCtx *zc;

    /* why the last write failed; drain() has no ctx to report it with */
    char why[512];
} state;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* An existing file at the path may be replaced when it is JSON Lines as
 * this sink writes it: text, gzip or zstd. Anything else (an SQLite
 * database, an image) is more likely a mistake than an old output. */
static bool looks_like_jsonl(const unsigned char *head, size_t n)
{
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return true;
    if (n >= 4 && memcmp(head, "\x28\xb5\x2f\xfd", 4) == 0)
        return true;
    return outfile_is_text(head, n);
}

static const char *const comp_names[] = {"auto", "plain", "gzip", "zstd"};

/* Append mode: this run's output must be in the format of the file it is
 * appended to (a gzip member after plain text reads as neither). */
static int check_format(const tm_host *h, tm_ctx *ctx, const char *path, int comp)
{
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(m, 1, sizeof m, f) : 0;
    if (f)
        fclose(f);
    if (n == 0)
        return TM_OK; /* empty: anything goes */
    int has = n >= 2 && m[0] == 0x1f && m[1] == 0x8b                       ? COMP_GZIP
              : n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0 ? COMP_ZSTD
                                                                   : COMP_NONE;
    if (has != comp)
        return h->error(ctx, "path: %s holds %s JSON Lines, but this sink writes %s and "
                             "appends to it (with state:); set compression: %s, or move the "
                             "file away to start a new one",
                        path, comp_names[has], comp_names[comp],
                        has == COMP_NONE ? "none" : comp_names[has]),
               TM_ECONFIG;
    return TM_OK;
}

/* init validates only: `textmill check` runs it, so it creates nothing. */
static int init(tm_ctx *ctx, const tm_host *host, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    if (!cfg->path) /* required, so the host has refused this already */
        return host->error(ctx, "path: not set"), TM_ECONFIG;
    int comp = cfg->compression;
    if (comp == COMP_AUTO)
        comp = ends_with(cfg->path, ".gz")    ? COMP_GZIP
               : ends_with(cfg->path, ".zst") ? COMP_ZSTD
                                              : COMP_NONE;
    if (comp == COMP_GZIP && cfg->level > 9)
        return host->error(ctx, "level: %lld is out of range for gzip (1..9, or 0 for the "
                                "default)",
                           (long long)cfg->level),
               TM_ECONFIG;
    int rc = outfile_check(host, ctx, cfg->path, "JSON Lines", looks_like_jsonl);
    if (rc != TM_OK)
        return rc;
    int64_t base;
    if ((rc = outfile_append_base(host, ctx, cfg->path, &base)) != TM_OK)
        return rc;
    if (base > 0 && (rc = check_format(host, ctx, cfg->path, comp)) != TM_OK)
        return rc;

    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    s->comp = comp;
    s->base = base;
    *out = s;
    return TM_OK;
}

/* ---- writing bytes --------------------------------------------------------------- */

static int write_all(state *s, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fileno(s->file.fp), p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(s->why, sizeof s->why, "%s: cannot write: %s", s->cfg->path,
                     strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Passes data through the compressor to the file; `finish` ends the
 * compressed stream (data may then be empty). */
static int emit(state *s, const char *data, size_t n, bool finish)
{
    if (s->comp == COMP_GZIP) {
        z_stream *z = &s->z;
        z->next_in = (Bytef *)data;
        z->avail_in = (uInt)n;
        int zr;
        do {
            z->next_out = s->zout;
            z->avail_out = (uInt)ZOUT_CAP;
            zr = deflate(z, finish ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR) {
                snprintf(s->why, sizeof s->why, "%s: gzip compression failed", s->cfg->path);
                return -1;
            }
            if (write_all(s, s->zout, ZOUT_CAP - z->avail_out) != 0)
                return -1;
        } while (z->avail_out == 0); /* a full output buffer: there may be more */
        return 0;
    }
    if (s->comp == COMP_ZSTD) {
        ZSTD_inBuffer in = {data, n, 0};
        for (;;) {
            ZSTD_outBuffer o = {s->zout, ZOUT_CAP, 0};
            size_t r = ZSTD_compressStream2(s->zc, &o, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(r)) {
                snprintf(s->why, sizeof s->why, "%s: zstd compression failed: %s", s->cfg->path,
                         ZSTD_getErrorName(r));
                return -1;
            }
            if (write_all(s, s->zout, o.pos) != 0)
                return -1;
            /* e_end is done when nothing is left to flush (r == 0) */
            if (finish ? r == 0 : in.pos == in.size)
                return 0;
        }
    }
    return write_all(s, data, n);
}

static int drain(jio_buf *b)
{
    state *s = b->arg;
    int rc = emit(s, b->data, b->len, false);
    b->len = 0;
    return rc;
}

/* Creates the directories, the temporary file and the compressor. Called
 * by the first process() or, when no document ever came, by flush(). */
static int open_output(state *s, tm_ctx *ctx)
{
    const tm_host *h = s->host;
    const char *path = s->cfg->path;
    s->opened = true;
    if (s->base >= 0) /* with state: what killed runs left beside the target */
        outfile_remove_stale(h, ctx, path);
    int rc = outfile_open(&s->file, h, ctx, path);
    if (rc != TM_OK)
        return rc;

    if (jio_buf_init(&s->out, h, OUT_CAP, drain, s) != TM_OK)
        return TM_ENOMEM;
    if (s->comp == COMP_NONE)
        return TM_OK;
    if (!(s->zout = h->alloc(ZOUT_CAP)))
        return TM_ENOMEM;
    int level = (int)s->cfg->level;
    if (s->comp == COMP_GZIP) {
        /* 16 + MAX_WBITS: a gzip header and trailer, as gzip(1) reads */
        if (deflateInit2(&s->z, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                         16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return TM_ENOMEM;
        s->z_live = true;
        return TM_OK;
    }
    if (!(s->zc = ZSTD_createCCtx()))
        return TM_ENOMEM;
    /* a content checksum lets readers detect corruption */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1)) ||
        (level && ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, level))))
        return h->error(ctx, "%s: cannot set up zstd at level %d", path, level);
    return TM_OK;
}

/* ---- writing documents ------------------------------------------------------------ */

/* The metadata every line carries, in this order, null when absent. */
static const char *const std_meta[] = {"title",  "author", "date",   "url",
                                       "source", "lang",   "parent", "file"};
#define N_STD_META (sizeof std_meta / sizeof *std_meta)

/* The annotation keys the sink writes itself; `extra` cannot override them. */
static const char *const ann_keys[] = {"start", "end",   "type",  "label",
                                       "canonical", "score", "stage", "id"};

static bool in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return true;
    return false;
}

static void put_meta_value(jio_buf *b, const tm_meta *m)
{
    if (m->type == TM_META_NULL || !m->value)
        jio_puts(b, "null");
    else if (m->type == TM_META_STRING)
        jio_put_string(b, m->value, m->len);
    else /* NUMBER, BOOL and JSON hold JSON text (checked by the host) */
        jio_put_json(b, m->value, m->len);
}

static void put_opt_string(jio_buf *b, const char *s)
{
    if (s)
        jio_put_string(b, s, strlen(s));
    else
        jio_puts(b, "null");
}

/* Merges the members of an annotation's `extra` object into the one being
 * written. Other plugins fill `extra`, so it is checked rather than
 * trusted: a value that is not a JSON object is left out with a warning. */
static void put_extra(state *s, tm_ctx *ctx, jio_buf *b, const char *extra)
{
    size_t n = strlen(extra);
    cJSON *o = cJSON_ParseWithOpts(extra, NULL, 1); /* 1: nothing may follow */
    if (!cJSON_IsObject(o)) {
        s->host->log(ctx, TM_LOG_WARN, "an annotation's extra is not a JSON object; left out");
        s->host->count(ctx, "invalid_extra", 1);
        cJSON_Delete(o);
        return;
    }
    jio_iter it;
    jio_obj_begin(&it, extra, extra + n);
    for (const cJSON *m = o->child; m; m = m->next) {
        const char *raw = NULL;
        size_t raw_n = 0;
        if (!jio_obj_next(&it, &raw, &raw_n))
            raw = NULL;
        if (in_list(m->string, ann_keys, sizeof ann_keys / sizeof *ann_keys))
            continue;
        jio_putc(b, ',');
        jio_put_string(b, m->string, strlen(m->string));
        jio_putc(b, ':');
        if (raw && (!cJSON_IsNumber(m) || jio_is_number(raw, raw_n))) {
            jio_put_json(b, raw, raw_n);
        } else if (cJSON_IsNumber(m) && isfinite(m->valuedouble)) {
            /* a number form strict readers refuse ("+1", "01") */
            char num[40];
            snprintf(num, sizeof num, "%.17g", m->valuedouble);
            jio_puts(b, num);
        } else {
            jio_puts(b, "null");
        }
    }
    cJSON_Delete(o);
}

static void put_annotation(state *s, tm_ctx *ctx, jio_buf *b, const tm_annotation *a)
{
    char num[64];
    snprintf(num, sizeof num, "{\"start\":%zu,\"end\":%zu,\"type\":", a->start, a->end);
    jio_puts(b, num);
    put_opt_string(b, a->type);
    jio_puts(b, ",\"label\":");
    put_opt_string(b, a->label);
    jio_puts(b, ",\"canonical\":");
    put_opt_string(b, a->canonical);
    jio_puts(b, ",\"score\":");
    if (a->score >= 0 && isfinite(a->score)) {
        snprintf(num, sizeof num, "%.6g", a->score);
        jio_puts(b, num);
    } else {
        jio_puts(b, "null"); /* negative: unknown */
    }
    jio_puts(b, ",\"stage\":");
    put_opt_string(b, a->stage);
    if (a->id) {
        jio_puts(b, ",\"id\":");
        jio_put_string(b, a->id, strlen(a->id));
    }
    if (a->extra)
        put_extra(s, ctx, b, a->extra);
    jio_putc(b, '}');
}

/* One document as one line:
 * {"id":..,"text":..,"meta":{<standard keys>,<the rest>},"annotations":[..]} */
static void put_doc(state *s, tm_ctx *ctx, const tm_doc *d)
{
    jio_buf *b = &s->out;
    jio_puts(b, "{\"id\":");
    jio_put_string(b, d->id, d->id_len);
    jio_puts(b, ",\"text\":");
    jio_put_string(b, d->text, d->text_len);
    jio_puts(b, ",\"meta\":{");
    /* one pass over the metadata finds the standard keys; the rest follow
     * them in their own order */
    const tm_meta *std[N_STD_META] = {0};
    size_t n_std = 0;
    for (size_t k = 0; k < d->n_meta; k++) {
        const char *key = d->meta[k].key;
        for (size_t i = 0; i < N_STD_META; i++)
            if (key[0] == std_meta[i][0] && strcmp(key, std_meta[i]) == 0) {
                if (!std[i]) {
                    std[i] = &d->meta[k];
                    n_std++;
                }
                break;
            }
    }
    for (size_t i = 0; i < N_STD_META; i++) {
        if (i)
            jio_putc(b, ',');
        jio_putc(b, '"');
        jio_puts(b, std_meta[i]);
        jio_puts(b, "\":");
        if (std[i])
            put_meta_value(b, std[i]);
        else
            jio_puts(b, "null");
    }
    for (size_t k = 0; k < d->n_meta && n_std < d->n_meta; k++) {
        const tm_meta *m = &d->meta[k];
        if (in_list(m->key, std_meta, N_STD_META))
            continue;
        jio_putc(b, ',');
        jio_put_string(b, m->key, strlen(m->key));
        jio_putc(b, ':');
        put_meta_value(b, m);
    }
    jio_puts(b, "},\"annotations\":[");
    for (size_t k = 0; k < d->n_annotations; k++) {
        if (k)
            jio_putc(b, ',');
        put_annotation(s, ctx, b, &d->annotations[k]);
    }
    jio_puts(b, "]}\n");
}

/* Reports a failed write (drain() left the reason) or a failed allocation. */
static int write_failed(state *s, tm_ctx *ctx)
{
    if (s->why[0])
        return s->host->error(ctx, "%s", s->why);
    return s->host->error(ctx, "%s: out of memory while writing", s->cfg->path);
}

/* ---- the callbacks --------------------------------------------------------------- */

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    if (!s->opened) {
        int rc = open_output(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    for (size_t i = 0; i < batch->n; i++) {
        put_doc(s, ctx, batch->docs[i]);
        if (s->out.failed)
            return write_failed(s, ctx);
    }
    s->docs += (int64_t)batch->n;
    return TM_OK;
}

/* Flush: finish the stream and make the temporary file durable. The rename
 * waits for commit, which runs only when every step has flushed, so that with
 * several sinks none is replaced unless all could write. */
static int flush(void *st, tm_ctx *ctx)
{
    state *s = st;
    if (!s->opened) { /* no document at all: still an (empty) output file */
        int rc = open_output(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    /* appending, a run without documents adds nothing, not even an empty
     * gzip member or zstd frame (the compressor writes a header on its first
     * call), so that the file stays byte for byte as it was */
    bool any = s->base < 0 || s->docs > 0;
    if (s->out.failed || (any && drain(&s->out) != 0) ||
        (any && s->comp != COMP_NONE && emit(s, NULL, 0, true) != 0))
        return write_failed(s, ctx);
    return outfile_finish(&s->file);
}

/* Commit: rename over the target and fsync the directory, so that the
 * rename itself survives a crash; with state, append to it instead (the
 * committed length goes to the ledger, see outfile.h). */
static int commit(void *st, tm_ctx *ctx)
{
    (void)ctx;
    state *s = st;
    return s->base >= 0 ? outfile_commit_append(&s->file) : outfile_commit(&s->file);
}

static void fini(void *st)
{
    state *s = st;
    const tm_host *h = s->host;
    outfile_close(&s->file); /* removes the temporary file unless committed */
    if (s->z_live)
        deflateEnd(&s->z);
    ZSTD_freeCCtx(s->zc);
    jio_buf_free(&s->out);
    h->free(s->zout);
    h->free(s);
}

TM_PLUGIN_DEFINE(.name = "jsonl", .version = "1.0.0", .license = "MIT",
                 .summary = "Writes documents as JSON Lines (plain, gzip or zstd), atomically.",
                 .role = TM_ROLE_SINK, .caps = 0, .options = options,
                 .config_size = sizeof(config), .reads = NULL, .writes = NULL, .init = init,
                 .process = process, .flush = flush, .fini = fini, .commit = commit);
