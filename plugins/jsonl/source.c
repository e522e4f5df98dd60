/* source `jsonl`: reads JSON Lines files (plain, gzip or zstd, told apart by
 * their first bytes), one document per line. The id, text and metadata come
 * from configurable fields; every other top-level field becomes metadata,
 * and "annotations" are read back in the shape the jsonl sink writes. */
#include "jsonio.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

typedef struct config {
    tm_strlist paths;
    char *id_field, *text_field, *meta_field;
} config;

static const tm_option options[] = {
    {.name = "paths", .type = TM_OPT_LIST, .offset = offsetof(config, paths), .required = 1,
     .help = "Glob patterns of the JSONL files to read, e.g. [\"in/*.jsonl.gz\"]; files are "
             "read in sorted order, each once. A pattern without wildcards must name an "
             "existing file; a wildcard pattern that matches nothing is only a warning."},
    {.name = "id_field", .type = TM_OPT_STRING, .def = "id", .offset = offsetof(config, id_field),
     .help = "Field holding the document id (a string or a number). Without it the id is "
             "FILE:LINE, FILE being the file name without .jsonl/.gz/.zst."},
    {.name = "text_field", .type = TM_OPT_STRING, .def = "text",
     .offset = offsetof(config, text_field),
     .help = "Field holding the document text (a string); a line without it is an input "
             "error."},
    {.name = "meta_field", .type = TM_OPT_STRING, .def = "meta",
     .offset = offsetof(config, meta_field),
     .help = "Field holding an object whose keys become metadata. Other top-level fields "
             "become metadata too, unless this object has the same key."},
    TM_OPTIONS_END};

/* Buffer sizes: large enough that read(2) and the decompressors run in big
 * steps, small enough not to matter per instance. */
#define IN_CAP ((size_t)256 * 1024)
#define DEC_CAP ((size_t)256 * 1024)
#define LINE_MIN_CAP ((size_t)64 * 1024)

typedef enum { FMT_PLAIN, FMT_GZIP, FMT_ZSTD } format;

/* The raw text of one member's value, in step with cJSON's children. */
typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct state {
    const tm_host *host;
    const config *cfg;

    /* the files to read; globbed on the first process() call */
    tm_strlist files;
    size_t next;
    bool globbed;

    /* the file being read (fd < 0 between files) */
    int fd;
    const char *path;
    char *stem; /* file name without .jsonl/.gz/.zst, for ids */
    size_t lineno;
    size_t records; /* lines of the current file that were not blank */
    format fmt;

    /* raw bytes read from fd; [in_pos, in_len) not yet consumed */
    unsigned char *in;
    size_t in_pos, in_len;
    bool in_eof;
    /* decoded bytes not yet split into lines: plain input points into `in`,
     * compressed input into `dec` */
    unsigned char *dec;
    const unsigned char *chunk;
    size_t chunk_pos, chunk_len;

    /* decompressors, kept across files */
    z_stream z;
    bool z_live, z_member_done;
    ZSTD_DCtx *zd;
    size_t zd_hint; /* last ZSTD_decompressStream result: 0 = frame complete */

    /* a line that spans two chunks is gathered here, grown as needed */
    char *line;
    size_t line_len, line_cap;
    /* the current line: in the chunk when it lies wholly there, else `line` */
    const char *cur;
    size_t cur_len;

    /* per-line scratch: raw value spans and a text buffer */
    span *spans;
    size_t spans_cap;
    jio_buf scratch;

    /* per-line scratch of read_fast: the members and their decoded strings */
    struct fmember *fm;
    size_t fm_cap;
    jio_buf strs;
} state;

static int init(tm_ctx *ctx, const tm_host *host, const void *cfg, void **out)
{
    (void)ctx;
    state *s = host->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->cfg = cfg;
    s->fd = -1;
    jio_buf_init(&s->scratch, host, 0, NULL, NULL);
    jio_buf_init(&s->strs, host, 0, NULL, NULL);
    *out = s;
    return TM_OK;
}

/* Reports an input error as "FILE:LINE: reason" and returns TM_EINPUT. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int line_error(state *s, tm_ctx *ctx, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    s->host->error(ctx, "%s:%zu: %s", s->path, s->lineno, reason);
    return TM_EINPUT;
}

/* ---- reading bytes ------------------------------------------------------------- */

/* Refills `in` when it is used up. Returns TM_OK (in_eof set at the end of
 * the file) or TM_EINPUT. */
static int read_in(state *s, tm_ctx *ctx)
{
    if (s->in_pos < s->in_len || s->in_eof)
        return TM_OK;
    ssize_t r;
    do
        r = read(s->fd, s->in, IN_CAP);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return s->host->error(ctx, "%s: read error: %s", s->path, strerror(errno)), TM_EINPUT;
    s->in_pos = 0;
    s->in_len = (size_t)r;
    s->in_eof = r == 0;
    return TM_OK;
}

static int corrupt(state *s, tm_ctx *ctx, const char *what, const char *detail)
{
    s->host->error(ctx, "%s: truncated or corrupt %s stream (%s)", s->path, what, detail);
    return TM_EINPUT;
}

/* Makes the next decoded bytes available as chunk[chunk_pos, chunk_len).
 * Returns 1 with bytes, 0 at the end of the file, or a TM_E* code. */
static int fill_plain(state *s, tm_ctx *ctx)
{
    int rc = read_in(s, ctx);
    if (rc != TM_OK)
        return rc;
    if (s->in_pos == s->in_len)
        return 0;
    s->chunk = s->in + s->in_pos;
    s->chunk_pos = 0;
    s->chunk_len = s->in_len - s->in_pos;
    s->in_pos = s->in_len;
    return 1;
}

static int fill_gzip(state *s, tm_ctx *ctx)
{
    z_stream *z = &s->z;
    for (;;) {
        int rc = read_in(s, ctx);
        if (rc != TM_OK)
            return rc;
        bool no_input = s->in_pos == s->in_len; /* only at the end of the file */
        if (s->z_member_done) {
            /* gzip files may hold several members back to back (cat a.gz b.gz) */
            if (no_input)
                return 0;
            inflateReset(z);
            s->z_member_done = false;
        }
        z->next_in = s->in + s->in_pos;
        z->avail_in = (uInt)(s->in_len - s->in_pos);
        z->next_out = s->dec;
        z->avail_out = (uInt)DEC_CAP;
        int zr = inflate(z, Z_NO_FLUSH);
        s->in_pos = s->in_len - z->avail_in;
        size_t got = DEC_CAP - z->avail_out;
        if (zr == Z_STREAM_END)
            s->z_member_done = true;
        else if (zr == Z_MEM_ERROR)
            return TM_ENOMEM;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return corrupt(s, ctx, "gzip", z->msg ? z->msg : "bad data");
        if (got) {
            s->chunk = s->dec;
            s->chunk_pos = 0;
            s->chunk_len = got;
            return 1;
        }
        /* no output although all input was offered: the stream stops early */
        if (!s->z_member_done && s->in_eof && s->in_pos == s->in_len)
            return corrupt(s, ctx, "gzip", "unexpected end of file");
    }
}

static int fill_zstd(state *s, tm_ctx *ctx)
{
    for (;;) {
        int rc = read_in(s, ctx);
        if (rc != TM_OK)
            return rc;
        bool no_input = s->in_pos == s->in_len;
        if (no_input && s->zd_hint == 0)
            return 0; /* every frame complete and flushed */
        ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
        ZSTD_outBuffer out = {s->dec, DEC_CAP, 0};
        size_t zr = ZSTD_decompressStream(s->zd, &out, &in);
        if (ZSTD_isError(zr))
            return corrupt(s, ctx, "zstd", ZSTD_getErrorName(zr));
        s->in_pos = in.pos;
        s->zd_hint = zr;
        if (out.pos) {
            s->chunk = s->dec;
            s->chunk_pos = 0;
            s->chunk_len = out.pos;
            return 1;
        }
        if (no_input)
            return corrupt(s, ctx, "zstd", "unexpected end of file");
    }
}

static int fill(state *s, tm_ctx *ctx)
{
    switch (s->fmt) {
    case FMT_GZIP: return fill_gzip(s, ctx);
    case FMT_ZSTD: return fill_zstd(s, ctx);
    default: return fill_plain(s, ctx);
    }
}

/* The file name without directory and without trailing .jsonl/.gz/.zst
 * (all of them: "a.jsonl.gz" -> "a"). */
static char *make_stem(const tm_host *h, const char *path)
{
    static const char *const exts[] = {".gz", ".zst", ".jsonl"};
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
            size_t l = strlen(exts[i]);
            if (n > l && memcmp(base + n - l, exts[i], l) == 0) {
                n -= l;
                again = true;
            }
        }
    }
    char *stem = h->alloc(n + 1);
    if (stem) {
        memcpy(stem, base, n);
        stem[n] = 0;
    }
    return stem;
}

static void close_file(state *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->host->free(s->stem);
    s->stem = NULL;
}

/* Opens files[next] and tells its format from its first bytes. */
static int open_file(state *s, tm_ctx *ctx)
{
    const tm_host *h = s->host;
    s->path = s->files.items[s->next++];
    s->lineno = s->records = 0;
    if (!s->in) {
        s->in = h->alloc(IN_CAP);
        s->dec = h->alloc(DEC_CAP);
        if (!s->in || !s->dec)
            return TM_ENOMEM;
    }
    /* A FIFO is read as a stream (another program writing JSONL into it):
     * opening it waits for the writer, as cat does. The run's signal handler
     * restarts the wait (SA_RESTART), so only a second SIGTERM ends it. */
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return h->error(ctx, "%s: %s", s->path, strerror(errno)), TM_EINPUT;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return h->error(ctx, "%s: %s", s->path, strerror(e)), TM_EINPUT;
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return h->error(ctx, "%s: is a directory, not a file", s->path), TM_EINPUT;
    }
    s->fd = fd;
    s->stem = make_stem(h, s->path);
    if (!s->stem)
        return TM_ENOMEM;
    s->in_pos = s->in_len = 0;
    s->in_eof = false;
    s->chunk_pos = s->chunk_len = 0;

    /* sniff: gather up to 4 bytes (a pipe may deliver them piecemeal) */
    while (s->in_len < 4 && !s->in_eof) {
        ssize_t r = read(fd, s->in + s->in_len, IN_CAP - s->in_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return h->error(ctx, "%s: read error: %s", s->path, strerror(errno)), TM_EINPUT;
        s->in_len += (size_t)r;
        s->in_eof = r == 0;
    }
    const unsigned char *m = s->in;
    if (s->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        s->fmt = FMT_GZIP;
        s->z_member_done = false;
        if (s->z_live) {
            inflateReset(&s->z);
        } else {
            memset(&s->z, 0, sizeof s->z);
            /* 16 + MAX_WBITS: expect a gzip header and trailer */
            if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
                return TM_ENOMEM;
            s->z_live = true;
        }
    } else if (s->in_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
        s->fmt = FMT_ZSTD;
        if (s->zd)
            ZSTD_DCtx_reset(s->zd, ZSTD_reset_session_only);
        else if (!(s->zd = ZSTD_createDCtx()))
            return TM_ENOMEM;
        s->zd_hint = 1; /* a frame is due */
    } else {
        s->fmt = FMT_PLAIN;
    }
    return TM_OK;
}

/* Appends n bytes to the line; the line keeps room for its terminator. */
static int line_append(state *s, const unsigned char *p, size_t n)
{
    if (n >= s->line_cap - s->line_len) {
        size_t cap = s->line_cap ? s->line_cap : LINE_MIN_CAP;
        while (n >= cap - s->line_len) {
            if (cap > SIZE_MAX / 2)
                return TM_ENOMEM;
            cap *= 2;
        }
        char *g = s->host->realloc(s->line, cap);
        if (!g)
            return TM_ENOMEM;
        s->line = g;
        s->line_cap = cap;
    }
    memcpy(s->line + s->line_len, p, n);
    s->line_len += n;
    return TM_OK;
}

/* Reads the next line (without its '\n') into s->cur: in place when the
 * chunk holds all of it, else gathered in s->line. Returns 1 with a line,
 * 0 at the end of the file, or a TM_E* code. A last line without a newline
 * still counts. */
static int next_line(state *s, tm_ctx *ctx)
{
    s->line_len = 0;
    bool any = false;
    for (;;) {
        if (s->chunk_pos == s->chunk_len) {
            int rc = fill(s, ctx);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
        }
        const unsigned char *p = s->chunk + s->chunk_pos;
        size_t avail = s->chunk_len - s->chunk_pos;
        const unsigned char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        if (nl && !any) { /* the common case: no copy */
            s->cur = (const char *)p;
            s->cur_len = take;
            s->chunk_pos += take + 1;
            return 1;
        }
        if (line_append(s, p, take) != TM_OK) {
            s->host->error(ctx, "%s:%zu: line too long to hold in memory", s->path,
                           s->lineno + 1);
            return TM_ENOMEM;
        }
        any = true;
        s->chunk_pos += take + (nl ? 1 : 0);
        if (nl)
            break;
    }
    if (!any)
        return 0;
    s->line[s->line_len] = 0; /* line_append always leaves room, even for "" */
    s->cur = s->line;
    s->cur_len = s->line_len;
    return 1;
}

static bool is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\f\v", p[i]) || !p[i])
            return false;
    return true;
}

/* ---- building a document --------------------------------------------------------- */

/* Returns str itself when it is valid UTF-8, else a copy with every invalid
 * byte replaced by U+FFFD, stored in *owned for the caller to free. The host
 * refuses metadata that is not UTF-8 and the sink must write valid JSON, so
 * repairing here keeps the document instead of failing the run. NULL when
 * memory runs out. */
static const char *valid_utf8(state *s, tm_ctx *ctx, const char *str, size_t n, size_t *out_n,
                              char **owned)
{
    *out_n = n;
    if (jio_utf8_valid_prefix(str, n) == n)
        return str;
    jio_buf b;
    if (jio_buf_init(&b, s->host, n + 16, NULL, NULL) != TM_OK)
        return NULL;
    jio_put_utf8(&b, str, n);
    jio_putc(&b, 0);
    if (b.failed) {
        jio_buf_free(&b);
        return NULL;
    }
    s->host->log(ctx, TM_LOG_WARN, "%s:%zu: invalid UTF-8 in a field replaced with U+FFFD",
                 s->path, s->lineno);
    s->host->count(ctx, "utf8_repaired_fields", 1);
    *owned = b.data;
    *out_n = b.len - 1;
    return b.data;
}

/* A field with an empty name is ignored, with a warning. */
static bool empty_key(state *s, tm_ctx *ctx, const char *key)
{
    if (*key)
        return false;
    s->host->log(ctx, TM_LOG_WARN, "%s:%zu: a field with an empty name is ignored", s->path,
                 s->lineno);
    return true;
}

/* Sets meta `key` to a value of the given type, made valid UTF-8 first. */
static int put_meta(state *s, tm_ctx *ctx, tm_doc *doc, const char *key, tm_meta_type type,
                    const char *val, size_t len)
{
    const tm_host *h = s->host;
    char *own_key = NULL, *own_val = NULL;
    size_t key_n;
    int rc = TM_ENOMEM;
    const char *k = valid_utf8(s, ctx, key, strlen(key), &key_n, &own_key);
    if (k && val && type != TM_META_NUMBER && type != TM_META_BOOL)
        val = valid_utf8(s, ctx, val, len, &len, &own_val);
    if (k && (val || type == TM_META_NULL)) {
        rc = h->meta_set(ctx, doc, k, type, val, len);
        if (rc < 0)
            rc = line_error(s, ctx, "cannot set metadata \"%s\"", k);
    }
    h->free(own_key);
    h->free(own_val);
    return rc;
}

/* Sets meta `key` from the JSON value v, whose raw text is raw[0..raw_n). */
static int set_meta(state *s, tm_ctx *ctx, tm_doc *doc, const char *key, const cJSON *v,
                    const char *raw, size_t raw_n)
{
    if (empty_key(s, ctx, key))
        return TM_OK;
    tm_meta_type type;
    const char *val = NULL;
    size_t len = 0;
    char *printed = NULL, num[40];
    if (cJSON_IsString(v)) {
        type = TM_META_STRING;
        val = v->valuestring;
        len = strlen(val);
    } else if (cJSON_IsNumber(v)) {
        /* the number as written keeps large integers exact; cJSON's double
         * only stands in for forms that strict JSON readers refuse */
        type = TM_META_NUMBER;
        if (raw && jio_is_number(raw, raw_n)) {
            val = raw;
            len = raw_n;
        } else if (isfinite(v->valuedouble)) {
            len = (size_t)snprintf(num, sizeof num, "%.17g", v->valuedouble);
            val = num;
        } else {
            type = TM_META_NULL;
        }
    } else if (cJSON_IsBool(v)) {
        type = TM_META_BOOL;
        val = cJSON_IsTrue(v) ? "true" : "false";
        len = strlen(val);
    } else if (cJSON_IsNull(v)) {
        type = TM_META_NULL;
    } else {
        type = TM_META_JSON;
        printed = cJSON_PrintUnformatted(v);
        if (!printed)
            return TM_ENOMEM;
        val = printed;
        len = strlen(val);
    }
    int rc = put_meta(s, ctx, doc, key, type, val, len);
    cJSON_free(printed);
    return rc;
}

static bool as_offset(const cJSON *v, size_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    /* integers only; 2^53 bounds what a double holds exactly */
    if (!(d >= 0 && d <= 9007199254740992.0) || (double)(uint64_t)d != d)
        return false;
    *out = (size_t)d;
    return true;
}

/* A string field that may also be null or absent. */
static bool as_opt_string(const cJSON *v, const char **out)
{
    if (!v || cJSON_IsNull(v)) {
        *out = NULL;
        return true;
    }
    if (!cJSON_IsString(v))
        return false;
    *out = v->valuestring;
    return true;
}

/* Adds annotation number `no` (1-based) of the current line to doc. */
static int add_annotation(state *s, tm_ctx *ctx, tm_doc *doc, const cJSON *a, size_t no)
{
    const tm_host *h = s->host;
    if (!cJSON_IsObject(a))
        return line_error(s, ctx, "annotation %zu is not an object", no);

    /* the known keys (first occurrence wins, as with cJSON lookups); every
     * other key goes into `extra`, built as compact JSON in the scratch */
    static const char *const known[] = {"start", "end",   "type",  "label",
                                        "canonical", "id", "score", "stage"};
    enum { K_START, K_END, K_TYPE, K_LABEL, K_CANONICAL, K_ID, K_SCORE, K_STAGE, K_N };
    const cJSON *f[K_N] = {0};
    jio_buf *x = &s->scratch;
    x->len = 0;
    for (const cJSON *c = a->child; c; c = c->next) {
        size_t i = 0;
        while (i < K_N && strcmp(c->string, known[i]) != 0)
            i++;
        if (i < K_N) {
            if (!f[i])
                f[i] = c;
            continue;
        }
        char *v = cJSON_PrintUnformatted(c);
        if (!v)
            return TM_ENOMEM;
        jio_putc(x, x->len ? ',' : '{');
        jio_put_string(x, c->string, strlen(c->string));
        jio_putc(x, ':');
        jio_put_json(x, v, strlen(v));
        cJSON_free(v);
    }
    bool has_extra = x->len > 0;
    if (has_extra) {
        jio_putc(x, '}');
        jio_putc(x, 0);
    }
    if (x->failed)
        return TM_ENOMEM;

    tm_annotation an = {.score = -1};
    const char *str[5]; /* type, label, canonical, id, stage */
    if (!f[K_START] || !f[K_END] || !as_offset(f[K_START], &an.start) ||
        !as_offset(f[K_END], &an.end))
        return line_error(s, ctx, "annotation %zu: \"start\" and \"end\" must be non-negative "
                                  "integers", no);
    if (!cJSON_IsString(f[K_TYPE]) || !*f[K_TYPE]->valuestring)
        return line_error(s, ctx, "annotation %zu: \"type\" must be a non-empty string", no);
    str[0] = f[K_TYPE]->valuestring;
    static const int opt[] = {K_LABEL, K_CANONICAL, K_ID, K_STAGE};
    for (size_t i = 0; i < 4; i++)
        if (!as_opt_string(f[opt[i]], &str[i + 1]))
            return line_error(s, ctx, "annotation %zu: \"%s\" must be a string or null", no,
                              known[opt[i]]);
    if (f[K_SCORE] && !cJSON_IsNull(f[K_SCORE])) {
        if (!cJSON_IsNumber(f[K_SCORE]))
            return line_error(s, ctx, "annotation %zu: \"score\" must be a number or null", no);
        an.score = f[K_SCORE]->valuedouble;
    }

    /* the host copies strings as they are; make sure they are UTF-8 */
    char *owned[5] = {0};
    int rc = TM_OK;
    for (size_t i = 0; i < 5 && rc == TM_OK; i++) {
        size_t n;
        if (str[i] && !(str[i] = valid_utf8(s, ctx, str[i], strlen(str[i]), &n, &owned[i])))
            rc = TM_ENOMEM;
    }
    if (rc == TM_OK) {
        an.type = str[0];
        an.label = str[1];
        an.canonical = str[2];
        an.id = str[3];
        an.stage = str[4];
        an.extra = has_extra ? x->data : NULL;
        if (h->annotate(ctx, doc, &an) < 0)
            rc = line_error(s, ctx, "annotation %zu does not fit the text", no);
    }
    for (size_t i = 0; i < 5; i++)
        h->free(owned[i]);
    return rc;
}

static int add_annotations(state *s, tm_ctx *ctx, tm_doc *doc, const cJSON *arr)
{
    if (cJSON_IsNull(arr))
        return TM_OK;
    if (!cJSON_IsArray(arr))
        return line_error(s, ctx, "\"annotations\" is not an array");
    size_t no = 0;
    for (const cJSON *a = arr->child; a; a = a->next) {
        int rc = add_annotation(s, ctx, doc, a, ++no);
        if (rc != TM_OK)
            return rc;
    }
    return TM_OK;
}

/* A top-level field of the current line. */
typedef struct field {
    const cJSON *item; /* NULL when absent */
    span raw;
} field;

/* Sets meta "file" to the input's path unless the line set it. */
static int set_file(state *s, tm_ctx *ctx, tm_doc *doc)
{
    if (s->host->meta_get(doc, "file"))
        return TM_OK;
    char *own = NULL;
    size_t n;
    const char *p = valid_utf8(s, ctx, s->path, strlen(s->path), &n, &own);
    int rc = p ? s->host->meta_set(ctx, doc, "file", TM_META_STRING, p, n) : TM_ENOMEM;
    s->host->free(own);
    if (rc < 0)
        return rc == TM_ENOMEM ? rc : line_error(s, ctx, "cannot set metadata \"file\"");
    return TM_OK;
}

/* Sets the document's metadata: the meta object's keys first, then the
 * other top-level fields the meta object does not have, then "file". */
static int add_meta(state *s, tm_ctx *ctx, tm_doc *doc, const cJSON *root, const field *meta)
{
    const config *c = s->cfg;
    const cJSON *mo = cJSON_IsObject(meta->item) ? meta->item : NULL;
    int rc;
    if (mo) {
        jio_iter it = {NULL, NULL};
        if (meta->raw.p)
            jio_obj_begin(&it, meta->raw.p, meta->raw.p + meta->raw.n);
        for (const cJSON *m = mo->child; m; m = m->next) {
            span raw = {NULL, 0};
            if (!it.p || !jio_obj_next(&it, &raw.p, &raw.n))
                raw.p = NULL;
            if ((rc = set_meta(s, ctx, doc, m->string, m, raw.p, raw.n)) != TM_OK)
                return rc;
        }
    }
    size_t i = 0;
    for (const cJSON *m = root->child; m; m = m->next, i++) {
        const char *k = m->string;
        if (strcmp(k, c->id_field) == 0 || strcmp(k, c->text_field) == 0 ||
            strcmp(k, "annotations") == 0)
            continue;
        /* a meta field that is not an object is kept as an ordinary field */
        if (strcmp(k, c->meta_field) == 0 && (cJSON_IsObject(m) || cJSON_IsNull(m)))
            continue;
        if (mo && cJSON_GetObjectItemCaseSensitive(mo, k))
            continue;
        if ((rc = set_meta(s, ctx, doc, k, m, s->spans[i].p, s->spans[i].n)) != TM_OK)
            return rc;
    }
    return set_file(s, ctx, doc);
}

/* The id of a line without one: FILE:LINE, in the scratch buffer. */
static int line_id(state *s, const char **id, size_t *id_n)
{
    char num[40];
    jio_buf *x = &s->scratch;
    x->len = 0;
    jio_puts(x, s->stem);
    jio_put(x, num, (size_t)snprintf(num, sizeof num, ":%zu", s->lineno));
    if (x->failed)
        return TM_ENOMEM;
    *id = x->data;
    *id_n = x->len;
    return TM_OK;
}

/* The current line without a byte order mark: cJSON skips one, and the
 * raw spans both readers take must start where cJSON's do. */
static const char *current_line(const state *s, size_t *len)
{
    *len = s->cur_len;
    if (*len >= 3 && memcmp(s->cur, "\xEF\xBB\xBF", 3) == 0) {
        *len -= 3;
        return s->cur + 3;
    }
    return s->cur;
}

/* The host names a document its invalid_utf8 policy rejects by its id;
 * this says where it is. */
static void rejected_here(const state *s, tm_ctx *ctx)
{
    s->host->log(ctx, TM_LOG_INFO, "%s:%zu: invalid UTF-8: that document is this line", s->path,
                 s->lineno);
}

/* Parses the current line into a document with cJSON: the reference for
 * every line read_fast refuses. *out stays NULL when the host's
 * invalid_utf8 policy rejected the text. */
static int read_doc(state *s, tm_ctx *ctx, tm_doc **out)
{
    const tm_host *h = s->host;
    const config *c = s->cfg;
    size_t len;
    const char *line = current_line(s, &len);
    const char *end = line + len, *stop = NULL;
    /* with an explicit length: the line may hold NUL bytes; stop reports
     * where parsing failed (thread-safe, unlike cJSON_GetErrorPtr) */
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &stop, 0);
    if (!root)
        return line_error(s, ctx, "invalid JSON at byte %zu",
                          stop && stop >= line && stop <= end ? (size_t)(stop - line) : 0);
    while (stop && stop < end && (unsigned char)*stop <= 0x20)
        stop++;
    int rc = TM_OK;
    if (stop && stop < end) {
        rc = line_error(s, ctx, "invalid JSON at byte %zu (text after the value)",
                        (size_t)(stop - line));
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = line_error(s, ctx, "not a JSON object");
        goto done;
    }

    /* the raw text of every member, in step with cJSON's children */
    field id = {0}, text = {0}, meta = {0}, ann = {0};
    jio_iter it;
    jio_obj_begin(&it, line, end);
    size_t n = 0;
    for (const cJSON *m = root->child; m; m = m->next, n++) {
        if (n == s->spans_cap) {
            size_t cap = s->spans_cap ? 2 * s->spans_cap : 32;
            span *g = h->realloc(s->spans, cap * sizeof *g);
            if (!g) {
                rc = TM_ENOMEM;
                goto done;
            }
            s->spans = g;
            s->spans_cap = cap;
        }
        span *sp = &s->spans[n];
        if (!jio_obj_next(&it, &sp->p, &sp->n))
            sp->p = NULL, sp->n = 0;
        field *targets[] = {&id, &text, &meta, &ann};
        const char *names[] = {c->id_field, c->text_field, c->meta_field, "annotations"};
        for (size_t k = 0; k < 4; k++)
            if (!targets[k]->item && strcmp(m->string, names[k]) == 0)
                *targets[k] = (field){m, *sp};
    }

    if (!text.item) {
        rc = line_error(s, ctx, "missing text field \"%s\"", c->text_field);
        goto done;
    }
    if (!cJSON_IsString(text.item)) {
        rc = line_error(s, ctx, "text field \"%s\" is not a string", c->text_field);
        goto done;
    }

    /* the id: a string, a number as written, or FILE:LINE */
    const char *id_p;
    size_t id_n;
    char num[40];
    if (!id.item || cJSON_IsNull(id.item)) {
        if ((rc = line_id(s, &id_p, &id_n)) != TM_OK)
            goto done;
    } else if (cJSON_IsString(id.item)) {
        id_p = id.item->valuestring;
        id_n = strlen(id_p);
    } else if (cJSON_IsNumber(id.item)) {
        if (id.raw.p && jio_is_number(id.raw.p, id.raw.n)) {
            id_p = id.raw.p;
            id_n = id.raw.n;
        } else {
            id_n = (size_t)snprintf(num, sizeof num, "%.17g", id.item->valuedouble);
            id_p = num;
        }
    } else {
        rc = line_error(s, ctx, "id field \"%s\" must be a string or a number", c->id_field);
        goto done;
    }

    /* the text, decoded from the raw line so that a \u0000 keeps what follows */
    char *buf;
    size_t text_n;
    if (text.raw.p) {
        buf = h->alloc(text.raw.n + 1);
        if (!buf) {
            rc = TM_ENOMEM;
            goto done;
        }
        text_n = jio_unescape(text.raw.p, text.raw.n, buf);
    } else {
        text_n = strlen(text.item->valuestring);
        buf = h->alloc(text_n + 1);
        if (!buf) {
            rc = TM_ENOMEM;
            goto done;
        }
        memcpy(buf, text.item->valuestring, text_n);
    }
    tm_doc *doc = h->doc_new_take(ctx, id_p, id_n, buf, text_n);
    if (!doc) { /* rejected by the invalid_utf8 policy; the host said why */
        rejected_here(s, ctx);
        goto done;
    }

    rc = add_meta(s, ctx, doc, root, &meta);
    if (rc == TM_OK && ann.item)
        rc = add_annotations(s, ctx, doc, ann.item);
    if (rc != TM_OK)
        h->doc_free(doc);
    else
        *out = doc;
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- reading a line without cJSON ------------------------------------------------ */

/* Most lines are plain objects of strings; read_fast reads those with the
 * strict scanner of jsonio.c and no cJSON tree (which would copy every
 * string, the text included). It refuses, before any side effect, every
 * line it does not read exactly as read_doc would: malformed JSON, the
 * forms jio_read_member leaves to cJSON, NULs in keys or in strings other
 * than the text (cJSON's C strings end there), and the lines read_doc
 * reports an error for (no text, an id of the wrong type). read_doc then
 * reads the line and says what is wrong with it. Nested values (an object
 * in meta, the annotations) still go through cJSON, from their own text. */
#define REFUSED 1

/* A member of the line or of its meta object. */
typedef struct fmember {
    jio_member m;
    const char *key; /* decoded, NUL-terminated */
    const char *str; /* a string value, decoded; str_n bytes */
    size_t str_n;
} fmember;

static bool fm_room(state *s, size_t n)
{
    if (n < s->fm_cap)
        return true;
    size_t cap = s->fm_cap ? 2 * s->fm_cap : 32;
    fmember *g = s->host->realloc(s->fm, cap * sizeof *g);
    if (!g)
        return false;
    s->fm = g;
    s->fm_cap = cap;
    return true;
}

/* Decodes the string whose text, without its quotes, is raw[0..n) into
 * s->strs, NUL-terminated. NULL when it holds a NUL (a byte or \u0000):
 * cJSON's C string would end there, so read_doc must read the line. s->strs
 * has room for the whole line, which the distinct strings of the line
 * cannot exceed (each decodes to fewer bytes than its quotes and text);
 * NULL too if that were ever wrong. */
static const char *decode(state *s, const char *raw, size_t n, bool esc, size_t *out_n)
{
    jio_buf *b = &s->strs;
    if (n + 1 > b->cap - b->len)
        return NULL;
    char *o = b->data + b->len;
    size_t k = n;
    if (esc)
        k = jio_unescape(raw - 1, n + 2, o);
    else
        memcpy(o, raw, n);
    if (memchr(o, 0, k))
        return NULL;
    o[k] = 0;
    b->len += k + 1;
    *out_n = k;
    return o;
}

/* Decodes a member's key; false to refuse the line. */
static bool decode_key(state *s, fmember *f)
{
    size_t n;
    f->str = NULL;
    return (f->key = decode(s, f->m.key, f->m.key_n, f->m.key_esc, &n)) != NULL;
}

/* Decodes a member's value if it is a string; false to refuse the line. */
static bool decode_str(state *s, fmember *f)
{
    const jio_member *m = &f->m;
    if (m->kind != JIO_STRING)
        return true;
    f->str = decode(s, m->val + 1, m->val_n - 2, m->val_esc, &f->str_n);
    return f->str != NULL;
}

/* set_meta for a member read by read_fast. */
static int set_meta_fast(state *s, tm_ctx *ctx, tm_doc *doc, const fmember *f)
{
    if (empty_key(s, ctx, f->key))
        return TM_OK;
    const jio_member *m = &f->m;
    char *printed = NULL;
    int rc;
    switch (m->kind) {
    case JIO_STRING: return put_meta(s, ctx, doc, f->key, TM_META_STRING, f->str, f->str_n);
    case JIO_NUMBER: return put_meta(s, ctx, doc, f->key, TM_META_NUMBER, m->val, m->val_n);
    case JIO_TRUE: return put_meta(s, ctx, doc, f->key, TM_META_BOOL, "true", 4);
    case JIO_FALSE: return put_meta(s, ctx, doc, f->key, TM_META_BOOL, "false", 5);
    case JIO_NULL: return put_meta(s, ctx, doc, f->key, TM_META_NULL, NULL, 0);
    default: {
        /* an object or array: cJSON prints it compact, as read_doc does */
        cJSON *v = cJSON_ParseWithLength(m->val, m->val_n);
        printed = v ? cJSON_PrintUnformatted(v) : NULL;
        cJSON_Delete(v);
        if (!printed)
            return TM_ENOMEM;
        rc = put_meta(s, ctx, doc, f->key, TM_META_JSON, printed, strlen(printed));
        cJSON_free(printed);
        return rc;
    }
    }
}

/* add_meta for read_fast: top[0..n) are the line's members, mo[0..nm) those
 * of its meta object (mo NULL when the meta field is not an object). */
static int add_meta_fast(state *s, tm_ctx *ctx, tm_doc *doc, const fmember *top, size_t n,
                         const fmember *mo, size_t nm)
{
    const config *c = s->cfg;
    int rc;
    for (size_t i = 0; i < nm; i++)
        if ((rc = set_meta_fast(s, ctx, doc, &mo[i])) != TM_OK)
            return rc;
    for (size_t i = 0; i < n; i++) {
        const char *k = top[i].key;
        if (strcmp(k, c->id_field) == 0 || strcmp(k, c->text_field) == 0 ||
            strcmp(k, "annotations") == 0)
            continue;
        if (strcmp(k, c->meta_field) == 0 &&
            (top[i].m.kind == JIO_OBJECT || top[i].m.kind == JIO_NULL))
            continue;
        bool shadowed = false;
        for (size_t j = 0; mo && j < nm && !shadowed; j++)
            shadowed = strcmp(mo[j].key, k) == 0;
        if (!shadowed && (rc = set_meta_fast(s, ctx, doc, &top[i])) != TM_OK)
            return rc;
    }
    return set_file(s, ctx, doc);
}

/* Reads the current line into a document as read_doc does, or returns
 * REFUSED (having done nothing) for read_doc to read it. */
static int read_fast(state *s, tm_ctx *ctx, tm_doc **out)
{
    const tm_host *h = s->host;
    const config *c = s->cfg;
    size_t len;
    const char *line = current_line(s, &len);
    const char *end = line + len;

    /* the members of the line, checked */
    jio_reader r;
    if (!jio_read_begin(&r, line, end))
        return REFUSED;
    size_t n = 0;
    for (;;) {
        if (!fm_room(s, n))
            return TM_ENOMEM;
        int k = jio_read_member(&r, &s->fm[n].m);
        if (k < 0)
            return REFUSED;
        if (k == 0)
            break;
        n++;
    }
    const char *p = r.p;
    while (p < end && (unsigned char)*p <= 0x20)
        p++;
    if (p < end)
        return REFUSED; /* text after the value */

    /* the first member of each name, as cJSON's lookups find it */
    jio_buf *b = &s->strs;
    b->len = 0;
    if (!jio_reserve(b, len + 1))
        return TM_ENOMEM;
    const char *names[] = {c->id_field, c->text_field, c->meta_field, "annotations"};
    size_t t[4] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t i = 0; i < n; i++) {
        if (!decode_key(s, &s->fm[i]))
            return REFUSED;
        for (size_t k = 0; k < 4; k++)
            if (t[k] == SIZE_MAX && strcmp(s->fm[i].key, names[k]) == 0)
                t[k] = i;
    }
    size_t id = t[0], text = t[1], meta = t[2], ann = t[3];
    if (text == SIZE_MAX || s->fm[text].m.kind != JIO_STRING)
        return REFUSED; /* read_doc reports it */
    if (id != SIZE_MAX && s->fm[id].m.kind != JIO_STRING && s->fm[id].m.kind != JIO_NUMBER &&
        s->fm[id].m.kind != JIO_NULL)
        return REFUSED;
    for (size_t i = 0; i < n; i++) /* not the text (unless also the id): it goes to the doc */
        if ((i != text || i == id) && !decode_str(s, &s->fm[i]))
            return REFUSED;
    size_t nm = 0;
    bool has_mo = meta != SIZE_MAX && s->fm[meta].m.kind == JIO_OBJECT;
    if (has_mo) {
        jio_reader mr;
        const jio_member *mv = &s->fm[meta].m;
        if (!jio_read_begin(&mr, mv->val, mv->val + mv->val_n))
            return REFUSED;
        for (;;) {
            if (!fm_room(s, n + nm))
                return TM_ENOMEM;
            fmember *f = &s->fm[n + nm];
            int k = jio_read_member(&mr, &f->m);
            if (k < 0 || (k > 0 && !(decode_key(s, f) && decode_str(s, f))))
                return REFUSED;
            if (k == 0)
                break;
            nm++;
        }
    }

    /* from here on, as read_doc: the id, the text, the document */
    const fmember *fm = s->fm;
    const char *id_p;
    size_t id_n;
    int rc;
    if (id == SIZE_MAX || fm[id].m.kind == JIO_NULL) {
        if ((rc = line_id(s, &id_p, &id_n)) != TM_OK)
            return rc;
    } else if (fm[id].m.kind == JIO_STRING) {
        id_p = fm[id].str;
        id_n = fm[id].str_n;
    } else {
        id_p = fm[id].m.val; /* a number as written */
        id_n = fm[id].m.val_n;
    }
    const jio_member *tv = &fm[text].m;
    char *buf = h->alloc(tv->val_n + 1);
    if (!buf)
        return TM_ENOMEM;
    size_t text_n = jio_unescape(tv->val, tv->val_n, buf);
    tm_doc *doc = h->doc_new_take(ctx, id_p, id_n, buf, text_n);
    if (!doc) { /* rejected by the invalid_utf8 policy; the host said why */
        rejected_here(s, ctx);
        return TM_OK;
    }

    rc = add_meta_fast(s, ctx, doc, fm, n, has_mo ? fm + n : NULL, nm);
    if (rc == TM_OK && ann != SIZE_MAX) {
        const jio_member *a = &fm[ann].m;
        const char *q = a->val + 1;
        while (a->kind == JIO_ARRAY && (unsigned char)*q <= 0x20)
            q++;
        /* null and [] add nothing; anything else is read as read_doc does */
        if (a->kind != JIO_NULL && !(a->kind == JIO_ARRAY && *q == ']')) {
            cJSON *arr = cJSON_ParseWithLength(a->val, a->val_n);
            rc = arr ? add_annotations(s, ctx, doc, arr) : TM_ENOMEM;
            cJSON_Delete(arr);
        }
    }
    if (rc != TM_OK)
        h->doc_free(doc);
    else
        *out = doc;
    return rc;
}

/* ---- the callbacks --------------------------------------------------------------- */

static int process(void *st, tm_ctx *ctx, tm_batch *batch)
{
    state *s = st;
    const tm_host *h = s->host;
    if (!s->globbed) {
        s->globbed = true;
        int rc = h->expand_paths(ctx, &s->cfg->paths, &s->files);
        if (rc != TM_OK)
            return rc;
    }
    size_t emitted = 0;
    for (;;) {
        if (s->fd < 0) {
            if (s->next == s->files.n)
                return TM_END;
            int rc = open_file(s, ctx);
            if (rc != TM_OK)
                return rc;
        }
        int rc = next_line(s, ctx);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            /* every line of this file has been emitted (or skipped): with
             * `state:`, a later run skips the file unless it changes */
            if (!s->records) /* say which, as the files source does */
                h->log(ctx, TM_LOG_WARN, "%s: empty file (no records), skipped", s->path);
            if (TM_HOST_HAS(h, input_done))
                h->input_done(ctx, s->path);
            close_file(s);
            continue;
        }
        s->lineno++;
        if (is_blank(s->cur, s->cur_len))
            continue;
        s->records++;
        tm_doc *doc = NULL;
        rc = read_fast(s, ctx, &doc);
        if (rc == REFUSED)
            rc = read_doc(s, ctx, &doc);
        if (rc != TM_OK)
            return rc;
        if (!doc)
            continue;
        size_t n = doc->text_len;
        if (h->emit_take(ctx, doc, NULL) < 0) {
            h->doc_free(doc);
            return h->error(ctx, "%s:%zu: the host refused the document", s->path, s->lineno);
        }
        /* at least one document per call, so that a zero budget still moves */
        emitted += n;
        if (emitted >= batch->budget_bytes)
            return TM_OK;
    }
}

static void fini(void *st)
{
    state *s = st;
    const tm_host *h = s->host;
    close_file(s);
    if (s->z_live)
        inflateEnd(&s->z);
    ZSTD_freeDCtx(s->zd);
    h->strlist_free(&s->files);
    h->free(s->in);
    h->free(s->dec);
    h->free(s->line);
    h->free(s->spans);
    jio_buf_free(&s->scratch);
    h->free(s->fm);
    jio_buf_free(&s->strs);
    h->free(s);
}

static const char *const writes[] = {"id", "text", "meta.*", "annotations", NULL};

TM_PLUGIN_DEFINE(.name = "jsonl", .version = "1.0.0", .license = "MIT",
                 .summary = "Reads JSON Lines files (plain, .gz or .zst), one document per line.",
                 .role = TM_ROLE_SOURCE, .caps = 0, .options = options,
                 .config_size = sizeof(config), .reads = NULL, .writes = writes, .init = init,
                 .process = process, .fini = fini);
