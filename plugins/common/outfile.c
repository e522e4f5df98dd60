/* Atomic output files for the file sinks: see outfile.h. */
#define _POSIX_C_SOURCE 200809L
#include "outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

/* ---- append mode ------------------------------------------------------------------ */

/* The committed length belongs to the path, not to the instance: the ledger key
 * is "committed_bytes:" followed by the path as written in the options, so a
 * changed `path:` (or another pipeline sharing the state directory with the
 * same step names) never cuts a file back to another file's length. Ledgers
 * from before kept it under the bare "committed_bytes" (OLD_KEY), without the
 * path: see committed_length for how that is still honoured. */
#define COMMITTED_KEY "committed_bytes:"
#define OLD_KEY "committed_bytes"

/* COMMITTED_KEY + path, host-allocated (NULL: no memory). */
static char *committed_key(const tm_host *h, const char *path)
{
    size_t n = sizeof COMMITTED_KEY + strlen(path);
    char *k = h->alloc(n);
    if (k)
        snprintf(k, n, "%s%s", COMMITTED_KEY, path);
    return k;
}

/* STATE/append-INSTANCE.base, host-allocated (NULL: no memory). */
static char *base_record_path(const tm_host *h, tm_ctx *ctx)
{
    const char *dir = h->state_dir(ctx), *name = h->instance_name(ctx);
    size_t n = strlen(dir) + strlen(name) + 32;
    char *p = h->alloc(n);
    if (!p)
        return NULL;
    int k = snprintf(p, n, "%s/append-", dir);
    for (const char *c = name; *c; c++)
        p[k++] = *c == '/' ? '_' : *c;
    strcpy(p + k, ".base");
    return p;
}

/* The length the first run started from, as the record says, for `path`:
 * true with *b set, false when there is no record (or one for another path,
 * after the sink's path changed). */
static bool read_base_record(const tm_host *h, tm_ctx *ctx, const char *path, int64_t *b)
{
    char *rec = base_record_path(h, ctx);
    if (!rec)
        return false;
    FILE *f = fopen(rec, "re");
    h->free(rec);
    if (!f)
        return false;
    char line[4200];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(line, &end, 10);
    if (errno || v < 0 || *end != '\t')
        return false;
    end++;
    size_t n = strlen(end);
    if (n && end[n - 1] == '\n')
        end[--n] = 0;
    if (strcmp(end, path) != 0)
        return false;
    *b = v;
    return true;
}

/* Writes the record durably (temporary file, fsync, rename, fsync of the
 * state directory) before the first run touches the target. */
static int write_base_record(const tm_host *h, tm_ctx *ctx, const char *path, int64_t b)
{
    char *rec = base_record_path(h, ctx);
    if (!rec)
        return TM_ENOMEM;
    size_t n = strlen(rec) + 8;
    char *tmp = h->alloc(n);
    if (!tmp) {
        h->free(rec);
        return TM_ENOMEM;
    }
    snprintf(tmp, n, "%s.tmp", rec);
    int rc = TM_OK;
    FILE *f = fopen(tmp, "we");
    if (!f || fprintf(f, "%" PRId64 "\t%s\n", b, path) < 0 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        rc = h->error(ctx, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    }
    if (f && fclose(f) != 0 && rc == TM_OK)
        rc = h->error(ctx, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    if (rc == TM_OK && rename(tmp, rec) != 0)
        rc = h->error(ctx, "%s: cannot move %s into place: %s", path, tmp, strerror(errno));
    if (rc != TM_OK)
        unlink(tmp);
    else
        outfile_sync_dir(h, ctx, rec);
    h->free(tmp);
    h->free(rec);
    return rc;
}

static void remove_base_record(const tm_host *h, tm_ctx *ctx)
{
    char *rec = base_record_path(h, ctx);
    if (rec)
        unlink(rec);
    h->free(rec);
}

static int parse_length(const tm_host *h, tm_ctx *ctx, const char *path, const char *key,
                        const char *v, int64_t *l)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || n < 0 || end == v || *end)
        return h->error(ctx, "%s: the ledger's %s for this sink is '%s', not a length", path,
                        key, v);
    *l = n;
    return 1;
}

/* The length earlier runs committed to `path`, from the ledger: 1 with *l
 * set, 0 when there is none, TM_ERR when the value is not a length (reason
 * set), TM_ENOMEM. `size` is the target's size (-1: missing); `warn` in
 * commit, where the choice takes effect (init would say it twice).
 *
 * An old ledger's OLD_KEY does not say which path it was for: it is taken
 * for this path's only when the path has no value of its own and the file is
 * at least that long (a file the sink was pointed at later may be shorter:
 * cutting it back, or refusing it, would be wrong); else it is ignored (with
 * a warning) and the file found is kept whole as on a first run.
 * The first commit under the new key deletes OLD_KEY. */
static int committed_length(const tm_host *h, tm_ctx *ctx, const char *path, int64_t size,
                            bool warn, int64_t *l)
{
    char *key = committed_key(h, path);
    if (!key)
        return TM_ENOMEM;
    const char *v = h->state_get(ctx, key);
    int rc = v ? parse_length(h, ctx, path, "committed length", v, l) : 0;
    h->free(key);
    if (v || !(v = h->state_get(ctx, OLD_KEY)))
        return rc;
    int64_t old;
    if ((rc = parse_length(h, ctx, path, OLD_KEY, v, &old)) < 0)
        return rc;
    if (size >= old) {
        *l = old;
        return 1;
    }
    if (!warn)
        return 0;
    if (size < 0)
        h->log(ctx, TM_LOG_WARN, "%s: not found; the ledger, from an older textmill, says "
               "earlier runs committed %" PRId64 " bytes to this sink's file without saying "
               "which path: starting a new file", path, old);
    else
        h->log(ctx, TM_LOG_WARN, "%s: holds %" PRId64 " bytes, fewer than the %" PRId64 " "
               "that the ledger, from an older textmill, says earlier runs committed to this "
               "sink's file without saying which path: taken for another file, so it is kept "
               "whole and this run's output appended", path, size, old);
    return 0;
}

static int too_short(const tm_host *h, tm_ctx *ctx, const char *path, int64_t size, int64_t l)
{
    return h->error(ctx, "%s: holds %" PRId64 " bytes, fewer than the %" PRId64 " that earlier "
                         "runs committed; move it away to start a new file",
                    path, size, l);
}

int outfile_append_base(const tm_host *h, tm_ctx *ctx, const char *path, int64_t *base)
{
    *base = -1;
    if (!h->state_dir(ctx) || !TM_HOST_HAS(h, state_get))
        return TM_OK;
    struct stat st;
    if (stat(path, &st) != 0) { /* missing (or moved away): a new file */
        *base = 0;
        return TM_OK;
    }
    int64_t size = (int64_t)st.st_size, l;
    int have = committed_length(h, ctx, path, size, false, &l);
    if (have == TM_ENOMEM)
        return TM_ENOMEM;
    if (have < 0)
        return TM_ECONFIG;
    if (!have && !read_base_record(h, ctx, path, &l))
        l = size; /* no run committed here yet: keep the file as found */
    if (size < l)
        return too_short(h, ctx, path, size, l), TM_ECONFIG;
    *base = l;
    return TM_OK;
}

void outfile_remove_stale(const tm_host *h, tm_ctx *ctx, const char *path)
{
    if (!h->state_dir(ctx))
        return; /* without the state lock another run may be writing them */
    char *dir = dir_of(h, path);
    if (!dir)
        return;
    const char *base = base_name(path);
    size_t n = strlen(base) + 8;
    char *prefix = h->alloc(n);
    DIR *d = prefix ? opendir(dir) : NULL;
    int removed = 0;
    if (d) {
        snprintf(prefix, n, ".%s.tmp.", base);
        size_t pn = strlen(prefix);
        for (struct dirent *e; (e = readdir(d));) {
            if (strncmp(e->d_name, prefix, pn) != 0 || !e->d_name[pn])
                continue;
            if (unlinkat(dirfd(d), e->d_name, 0) == 0)
                removed++;
            else
                h->log(ctx, TM_LOG_WARN, "%s: cannot remove the stale temporary file %s/%s: %s",
                       path, dir, e->d_name, strerror(errno));
        }
        closedir(d);
    }
    if (removed)
        h->log(ctx, TM_LOG_WARN, "%s: removed %d stale temporary file%s (.%s.tmp.*) that a "
               "killed earlier run left", path, removed, removed == 1 ? "" : "s", base);
    h->free(prefix);
    h->free(dir);
}

/* Copies n bytes (all, when n < 0) from `in` to `out` at their offsets. */
static int copy_bytes(int in, int out, int64_t n)
{
    char buf[1 << 16];
    while (n != 0) {
        size_t want = n < 0 || n > (int64_t)sizeof buf ? sizeof buf : (size_t)n;
        ssize_t r = read(in, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            if (n > 0) {
                errno = EIO; /* the file shrank under us */
                return -1;
            }
            return 0;
        }
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            off += w;
        }
        if (n > 0)
            n -= r;
    }
    return 0;
}

/* Stages the committed length under this path's key, and the deletion of an
 * old ledger's OLD_KEY (honoured or ignored by now: see committed_length). */
static int stage_length(outfile *o, int64_t len)
{
    const tm_host *h = o->host;
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, len);
    char *key = committed_key(h, o->path);
    if (!key)
        return TM_ENOMEM;
    int rc = h->state_set(o->ctx, key, v);
    h->free(key);
    if (rc == TM_OK && h->state_get(o->ctx, OLD_KEY))
        rc = h->state_set(o->ctx, OLD_KEY, NULL);
    return rc == TM_OK ? TM_OK
                       : h->error(o->ctx, "%s: cannot record the committed length", o->path);
}

/* First run in this state directory: the target is replaced atomically by
 * its first `b` bytes (the old content kept) followed by this run's output.
 * A failure leaves the target as it was. */
static int commit_first(outfile *o, int64_t b, int64_t n)
{
    const tm_host *h = o->host;
    tm_ctx *ctx = o->ctx;
    int rc = write_base_record(h, ctx, o->path, b);
    if (rc != TM_OK)
        return rc;
    if (b == 0) { /* a new file (or what a killed first run left): replace it */
        rc = outfile_commit(o);
        return rc == TM_OK ? stage_length(o, n) : rc;
    }
    size_t len = strlen(o->tmp) + 2;
    char *tmp2 = h->alloc(len);
    if (!tmp2)
        return TM_ENOMEM;
    memcpy(tmp2, o->tmp, len - 2);
    strcpy(tmp2 + len - 2 - 6, "XXXXXX"); /* same pattern: .NAME.tmp.XXXXXX */
    errno = 0;
    int out = mkstemp(tmp2), e = 0;
    int old = out >= 0 ? open(o->path, O_RDONLY | O_CLOEXEC) : -1;
    int add = old >= 0 ? open(o->tmp, O_RDONLY | O_CLOEXEC) : -1;
    if (out < 0 || old < 0 || add < 0 || fchmod(out, 0644) != 0 || copy_bytes(old, out, b) ||
        copy_bytes(add, out, -1) || fsync(out) != 0)
        e = errno ? errno : EIO;
    if (out >= 0 && close(out) != 0 && !e)
        e = errno;
    if (old >= 0)
        close(old);
    if (add >= 0)
        close(add);
    if (!e && rename(tmp2, o->path) != 0)
        e = errno;
    if (e) {
        if (out >= 0)
            unlink(tmp2);
        rc = h->error(ctx, "%s: cannot append this run's output to the existing file (via %s): "
                           "%s; the file is unchanged", o->path, tmp2, strerror(e));
        h->free(tmp2);
        return rc;
    }
    h->free(tmp2);
    unlink(o->tmp);
    o->committed = true;
    outfile_sync_dir(h, ctx, o->path);
    return stage_length(o, b + n);
}

int outfile_commit_append(outfile *o)
{
    const tm_host *h = o->host;
    tm_ctx *ctx = o->ctx;
    if (!h->state_dir(ctx) || !TM_HOST_HAS(h, state_set))
        return outfile_commit(o); /* without state: replace */
    if (!o->tmp || o->fp)
        return h->error(ctx, "%s: nothing finished to commit", o->path);
    struct stat st;
    if (stat(o->tmp, &st) != 0)
        return h->error(ctx, "%s: %s: %s", o->path, o->tmp, strerror(errno));
    int64_t n = (int64_t)st.st_size, l = 0;
    bool exists = stat(o->path, &st) == 0;
    int64_t size = exists ? (int64_t)st.st_size : 0;
    int have = committed_length(h, ctx, o->path, exists ? size : -1, true, &l);
    if (have < 0)
        return have;

    if (!have) {
        int64_t b = 0;
        if (exists && !read_base_record(h, ctx, o->path, &b))
            b = size; /* an old output from before `state:`: kept */
        if (size < b)
            return too_short(h, ctx, o->path, size, b);
        if (exists && n == 0 && size == b) { /* nothing to add, nothing to cut */
            unlink(o->tmp);
            o->committed = true;
            return stage_length(o, b);
        }
        return commit_first(o, b, n);
    }

    /* Earlier runs committed l bytes. From here on a failure leaves the
     * target either untouched or longer than l (a part of this run's output
     * appended), never shorter: the ledger still says l, and the next run
     * cuts the file back to l before it appends. */
    int64_t rec_b;
    if (read_base_record(h, ctx, o->path, &rec_b)) /* this path's, not another's */
        remove_base_record(h, ctx); /* obsolete once the ledger holds a length */
    if (!exists) {
        h->log(ctx, TM_LOG_WARN, "%s: not found, although earlier runs committed %" PRId64
               " bytes to it (moved away?): starting a new file", o->path, l);
        int rc = outfile_commit(o);
        return rc == TM_OK ? stage_length(o, n) : rc;
    }
    if (size < l)
        return too_short(h, ctx, o->path, size, l);
    int fd = open(o->path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return h->error(ctx, "%s: cannot open it to append: %s", o->path, strerror(errno));
    int e = 0;
    if (size > l) {
        h->log(ctx, TM_LOG_WARN, "%s: cut back by %" PRId64 " bytes to the %" PRId64 " that "
               "earlier runs committed (a killed run had appended them)", o->path, size - l, l);
        h->count(ctx, "cut_back_bytes", size - l);
        if (ftruncate(fd, (off_t)l) != 0)
            e = errno;
    }
    if (!e && n > 0) {
        errno = 0;
        int add = open(o->tmp, O_RDONLY | O_CLOEXEC);
        if (add < 0 || lseek(fd, (off_t)l, SEEK_SET) < 0 || copy_bytes(add, fd, -1) != 0)
            e = errno ? errno : EIO;
        if (add >= 0)
            close(add);
    }
    if (!e && (size > l || n > 0) && fsync(fd) != 0)
        e = errno;
    /* a failed append (a full disk) is undone at once, so that the failed
     * run leaves no part of its output; if even that fails, the next run
     * cuts the file back */
    bool undone = e && ftruncate(fd, (off_t)l) == 0 && fsync(fd) == 0;
    if (close(fd) != 0 && !e)
        e = errno;
    if (e && undone)
        return h->error(ctx, "%s: cannot append this run's output: %s (the file is left as "
                             "earlier runs committed it)", o->path, strerror(e));
    if (e)
        return h->error(ctx, "%s: cannot append this run's output: %s (the next run cuts the "
                             "file back to the %" PRId64 " committed bytes)",
                        o->path, strerror(e), l);
    unlink(o->tmp);
    o->committed = true;
    return stage_length(o, l + n);
}
