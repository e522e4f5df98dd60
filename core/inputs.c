/* Input files: the expansion of a source's `paths:` glob patterns, the same
 * for every source plugin (and, with state, the place the completion ledger
 * will key its entries). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tm__expand_paths(tm_ctx *ctx, const tm_strlist *patterns, tm_strlist *out)
{
    out->n = 0;
    out->items = NULL;
    size_t cap = 0;
    for (size_t i = 0; patterns && i < patterns->n; i++) {
        const char *pat = patterns->items[i];
        glob_t g;
        int rc = glob(pat, GLOB_ERR, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            globfree(&g);
            /* a plain name is a promise that the file exists; a pattern is not */
            if (!strpbrk(pat, "*?[")) {
                tm__strlist_free(out);
                return tm__host.error(ctx, "%s: No such file or directory", pat), TM_EINPUT;
            }
            tm__host.log(ctx, TM_LOG_WARN, "no file matches '%s'", pat);
            continue;
        }
        if (rc != 0) {
            globfree(&g);
            tm__strlist_free(out);
            return tm__host.error(ctx, "%s: cannot list the matching files (read error)", pat),
                   TM_EINPUT;
        }
        if (out->n + g.gl_pathc > cap) {
            cap = (out->n + g.gl_pathc) * 2;
            out->items = tm__xrealloc(out->items, cap * sizeof *out->items);
        }
        for (size_t k = 0; k < g.gl_pathc; k++)
            out->items[out->n++] = tm__xstrdup(g.gl_pathv[k]);
        globfree(&g);
    }
    if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, cmp_str);
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (kept && strcmp(out->items[kept - 1], out->items[i]) == 0)
            free(out->items[i]);
        else
            out->items[kept++] = out->items[i];
    }
    out->n = kept;
    if (ctx && ctx->ledger && !ctx->pipeline->replay) { /* incremental: skip what is done */
        kept = 0;
        for (size_t i = 0; i < out->n; i++) {
            bool want = true;
            tm__ledger_want(ctx->ledger, out->items[i], &want);
            if (want)
                out->items[kept++] = out->items[i];
            else
                free(out->items[i]);
        }
        if (kept < out->n)
            tm__host.log(ctx, TM_LOG_INFO, "%zu of %zu inputs were completed by earlier runs "
                         "and are skipped", out->n - kept, out->n);
        out->n = kept;
    }
    return TM_OK;
}

void tm__strlist_free(tm_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

int tm__read_file(tm_ctx *ctx, const char *path, int64_t max_bytes, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer
     * that never comes; anything but a regular file is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return tm__host.error(ctx, "%s: %s", path, strerror(errno)), TM_EINPUT;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tm__host.error(ctx, "%s: %s", path, strerror(e)), TM_EINPUT;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode))
            return tm__host.error(ctx, "%s: is a directory, not a file", path), TM_EINPUT;
        return tm__host.error(ctx, "%s: not a regular file (%s)", path,
                              S_ISFIFO(st.st_mode)   ? "a FIFO"
                              : S_ISSOCK(st.st_mode) ? "a socket"
                                                     : "a device"),
               TM_EINPUT;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *len = (size_t)st.st_size;
    if (max_bytes > 0 && st.st_size > max_bytes) {
        close(fd);
        return TM_OK;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return tm__host.error(ctx, "%s: out of memory reading %zu bytes", path, *len), TM_ENOMEM;
    }
    for (;;) {
        if (n + 1 == cap) {
            /* the file grew while we read it: read on, within max_bytes */
            if (max_bytes > 0 && (int64_t)cap > max_bytes)
                break;
            char *g = realloc(b, cap * 2);
            if (!g) {
                free(b);
                close(fd);
                return TM_ENOMEM;
            }
            b = g;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b);
            close(fd);
            return tm__host.error(ctx, "%s: %s", path, strerror(e)), TM_EINPUT;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = 0;
    *buf = b;
    *len = n;
    return TM_OK;
}
