/* Atomic output files for the file sinks: see outfile.h. */
#define _POSIX_C_SOURCE 200809L
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The directory part of path ("." when there is none), host-allocated. */
static char *dir_of(const tm_host *h, const char *path)
{
    const char *base = base_name(path);
    size_t n = (size_t)(base - path);
    if (n > 1)
        n--; /* drop the trailing '/', but keep "/" itself */
    char *dir = h->alloc(n + 2);
    if (!dir)
        return NULL;
    if (n)
        memcpy(dir, path, n), dir[n] = 0;
    else
        strcpy(dir, ".");
    return dir;
}

bool outfile_is_text(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        if (!len || c > 0xF4)
            return false;
        for (size_t k = 1; k < len; k++) {
            if (i + k >= n)
                return true; /* cut by the end of the head */
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        }
        i += len;
    }
    return true;
}

int outfile_check(const tm_host *h, tm_ctx *ctx, const char *path, const char *what,
                  outfile_sniff sniff)
{
    if (!*base_name(path))
        return h->error(ctx, "path: '%s' names a directory, not a file", path), TM_ECONFIG;
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return h->error(ctx, "path: %s is a directory, not a file", path), TM_ECONFIG;
        if (!S_ISREG(st.st_mode))
            return h->error(ctx, "path: %s exists and is not a regular file; refusing to "
                                 "replace it", path), TM_ECONFIG;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return h->error(ctx, "path: cannot read the existing %s: %s", path,
                            strerror(errno)), TM_ECONFIG;
        unsigned char head[4096];
        ssize_t n = read(fd, head, sizeof head);
        close(fd);
        if (n < 0)
            return h->error(ctx, "path: cannot read the existing %s: %s", path,
                            strerror(errno)), TM_ECONFIG;
        if (n > 0 && sniff && !sniff(head, (size_t)n))
            return h->error(ctx, "path: %s exists and is not a %s file; refusing to replace "
                                 "it (move it away or choose another path)", path, what),
                   TM_ECONFIG;
    }
    /* the nearest existing ancestor must let us create the temporary file */
    char *dir = dir_of(h, path);
    if (!dir)
        return TM_ENOMEM;
    int rc = TM_OK;
    for (;;) {
        if (stat(dir, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                rc = (h->error(ctx, "path: %s: %s is not a directory", path, dir), TM_ECONFIG);
            else if (access(dir, W_OK | X_OK) != 0)
                rc = (h->error(ctx, "path: %s: cannot write in the directory %s: %s", path, dir,
                               strerror(errno)), TM_ECONFIG);
            break;
        }
        char *slash = strrchr(dir, '/');
        if (!slash) { /* a relative path whose first component is missing */
            strcpy(dir, ".");
            continue;
        }
        if (slash == dir) {
            dir[1] = 0;
            continue;
        }
        *slash = 0;
    }
    h->free(dir);
    return rc;
}

static int make_dirs(const tm_host *h, tm_ctx *ctx, const char *path, char *dir)
{
    for (char *p = dir + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        if (p[-1] != '/') { /* "a//b" has an empty component */
            *p = 0;
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) { /* the umask narrows 0777 */
                int e = errno;
                h->error(ctx, "%s: cannot create the directory %s: %s", path, dir, strerror(e));
                *p = c;
                return TM_ERR;
            }
            *p = c;
        }
        if (!c)
            return TM_OK;
    }
}

int outfile_make_parent(const tm_host *h, tm_ctx *ctx, const char *path)
{
    if (base_name(path) - path <= 1) /* "name" or "/name": nothing to create */
        return TM_OK;
    char *dir = dir_of(h, path);
    if (!dir)
        return TM_ENOMEM;
    int rc = make_dirs(h, ctx, path, dir);
    h->free(dir);
    return rc;
}

int outfile_sync_dir(const tm_host *h, tm_ctx *ctx, const char *path)
{
    char *dir = dir_of(h, path);
    if (!dir)
        return TM_ENOMEM;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* some file systems cannot sync a directory (EINVAL); nothing to do then */
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        h->log(ctx, TM_LOG_WARN, "%s: cannot sync the directory %s (%s): the output is in "
               "place, but a crash of the system now could lose its new name",
               path, dir, strerror(errno));
    }
    if (dfd >= 0)
        close(dfd);
    h->free(dir);
    return TM_OK;
}

int outfile_open(outfile *o, const tm_host *h, tm_ctx *ctx, const char *path)
{
    memset(o, 0, sizeof *o);
    o->host = h;
    o->ctx = ctx;
    o->path = path;
    const char *base = base_name(path);
    size_t dir_n = (size_t)(base - path); /* with its trailing '/' */
    int rc = outfile_make_parent(h, ctx, path);
    if (rc != TM_OK)
        return rc;
    static const char suffix[] = ".tmp.XXXXXX";
    size_t n = dir_n + 1 + strlen(base) + sizeof suffix;
    if (!(o->tmp = h->alloc(n)))
        return TM_ENOMEM;
    snprintf(o->tmp, n, "%.*s.%s%s", (int)dir_n, path, base, suffix);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        h->error(ctx, "%s: cannot create the temporary file %s: %s", path, o->tmp,
                 strerror(errno));
        h->free(o->tmp);
        o->tmp = NULL;
        return TM_ERR;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fchmod(fd, 0644); /* mkstemp makes it private; the output is an ordinary file */
    if (!(o->fp = fdopen(fd, "w"))) {
        close(fd);
        return TM_ENOMEM;
    }
    return TM_OK;
}

int outfile_finish(outfile *o)
{
    const tm_host *h = o->host;
    if (!o->fp)
        return h->error(o->ctx, "%s: the output was never opened", o->path);
    int failed = ferror(o->fp) || fflush(o->fp) != 0;
    int e = errno;
    if (!failed && fsync(fileno(o->fp)) != 0)
        failed = 1, e = errno;
    if (fclose(o->fp) != 0 && !failed)
        failed = 1, e = errno;
    o->fp = NULL;
    if (failed)
        return h->error(o->ctx, "%s: cannot write %s: %s", o->path, o->tmp,
                        e ? strerror(e) : "write error");
    return TM_OK;
}

int outfile_commit(outfile *o)
{
    const tm_host *h = o->host;
    if (!o->tmp || o->fp)
        return h->error(o->ctx, "%s: nothing finished to commit", o->path);
    if (rename(o->tmp, o->path) != 0)
        return h->error(o->ctx, "%s: cannot move %s into place: %s", o->path, o->tmp,
                        strerror(errno));
    o->committed = true;
    return outfile_sync_dir(h, o->ctx, o->path);
}

void outfile_close(outfile *o)
{
    if (!o->host)
        return;
    if (o->fp)
        fclose(o->fp);
    o->fp = NULL;
    if (o->tmp && !o->committed)
        unlink(o->tmp); /* never leave a partial output behind */
    o->host->free(o->tmp);
    o->tmp = NULL;
}
