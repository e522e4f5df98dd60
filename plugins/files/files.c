/* source `files`: one file, one document. The id is the file name without
 * its extension; meta.file is the path as matched. */
#include "textmill/plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct config {
    tm_strlist paths;
    int binary; /* 0 fail, 1 skip */
} config;

static const tm_option options[] = {
    {.name = "paths", .type = TM_OPT_LIST, .offset = offsetof(config, paths), .required = 1,
     .help = "Glob patterns of the files to read, e.g. [\"seeds/*.txt\"]. Relative paths are "
             "relative to the working directory. A pattern without wildcards must name an "
             "existing file; a wildcard pattern that matches nothing is only a warning."},
    {.name = "binary", .type = TM_OPT_ENUM, .choices = "fail|skip", .def = "fail",
     .offset = offsetof(config, binary),
     .help = "What to do with a file that holds NUL bytes (not text): fail the run with an "
             "input error, or skip the file with a warning."},
    TM_OPTIONS_END};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    tm_strlist files; /* expanded on the first process() call */
    size_t next;
    bool globbed;
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
    *out = s;
    return TM_OK;
}

/* Reads a whole file into host memory. */
static int slurp(state *s, tm_ctx *ctx, const char *path, char **out, size_t *len)
{
    const tm_host *h = s->host;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return h->error(ctx, "%s: %s", path, strerror(errno)), TM_EINPUT;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        if (S_ISDIR(st.st_mode))
            return h->error(ctx, "%s: is a directory, not a file", path), TM_EINPUT;
        return h->error(ctx, "%s: not a regular file (%s)", path, strerror(e)), TM_EINPUT;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = h->alloc(cap);
    if (!buf) {
        close(fd);
        return h->error(ctx, "%s: too large to read (%lld bytes)", path,
                        (long long)st.st_size), TM_ENOMEM;
    }
    for (;;) {
        if (n + 1 == cap) { /* the file grew while we read it */
            char *g = h->realloc(buf, cap * 2);
            if (!g) {
                h->free(buf);
                close(fd);
                return TM_ENOMEM;
            }
            buf = g;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            h->free(buf);
            close(fd);
            return h->error(ctx, "%s: %s", path, strerror(e)), TM_EINPUT;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return TM_OK;
}

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
    while (s->next < s->files.n && emitted < batch->budget_bytes) {
        const char *path = s->files.items[s->next++];
        char *text;
        size_t len;
        int rc = slurp(s, ctx, path, &text, &len);
        if (rc != TM_OK)
            return rc;
        if (len == 0) {
            h->log(ctx, TM_LOG_WARN, "%s: empty file, skipped", path);
            h->count(ctx, "skipped_empty", 1);
            h->free(text);
            continue;
        }
        if (memchr(text, 0, len)) {
            h->free(text);
            if (s->cfg->binary == 1) {
                h->log(ctx, TM_LOG_WARN, "%s: binary file (holds NUL bytes), skipped", path);
                h->count(ctx, "skipped_binary", 1);
                continue;
            }
            return h->error(ctx, "%s: binary file (holds NUL bytes); set binary: skip to skip "
                                 "such files", path), TM_EINPUT;
        }
        /* id: the file name without directory and extension */
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        const char *dot = strrchr(base, '.');
        size_t id_len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        tm_doc *d = h->doc_new_take(ctx, base, id_len, text, len);
        if (!d)
            continue; /* rejected by the invalid_utf8 policy, which the host reported */
        if (h->meta_set(ctx, d, "file", TM_META_STRING, path, strlen(path)) != TM_OK) {
            /* a path that is not UTF-8: keep the document, without meta.file */
            h->log(ctx, TM_LOG_WARN, "%s: the path is not valid UTF-8; meta.file left empty",
                   path);
        }
        emitted += len;
        h->emit_take(ctx, d, NULL);
    }
    return s->next < s->files.n ? TM_OK : TM_END;
}

static void fini(void *st)
{
    state *s = st;
    s->host->strlist_free(&s->files);
    s->host->free(s);
}

static const char *const writes[] = {"id", "text", "meta.file", NULL};

TM_PLUGIN_DEFINE(.name = "files", .version = "1.0.0", .license = "MIT",
                 .summary = "Reads text files matched by glob patterns, one document each.",
                 .role = TM_ROLE_SOURCE, .options = options, .config_size = sizeof(config),
                 .writes = writes, .init = init, .process = process, .fini = fini);
