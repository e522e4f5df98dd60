/* Finding plugins on the search path, loading them with dlopen(), and
 * refusing, with one line that names the file, anything that is not a
 * plugin of this ABI: the checks GStreamer (ABI major/minor) and nginx
 * (binary-compatibility signature) do at load time. A plugin is code run
 * with the user's rights, so, as ssh does with keys, a file that another
 * user could have written is refused before it is loaded. */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TM_PLUGIN_RELDIR
#define TM_PLUGIN_RELDIR "../lib/textmill/plugins"
#endif

const char *tm__role_name(tm_role r)
{
    switch (r) {
    case TM_ROLE_SOURCE: return "source";
    case TM_ROLE_STAGE: return "stage";
    case TM_ROLE_SINK: return "sink";
    }
    return "unknown";
}

/* The built-in directory is found relative to the executable, so that the
 * binary in the build tree and an installed one under any prefix each find
 * their own plugins (the build tree mirrors the install layout). */
const char *tm__builtin_plugin_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    char joined[PATH_MAX + sizeof TM_PLUGIN_RELDIR + 2];
    snprintf(joined, sizeof joined, "%s/%s", exe, TM_PLUGIN_RELDIR);
    if (!realpath(joined, dir)) {
        if (strlen(joined) >= sizeof dir)
            return NULL;
        memcpy(dir, joined, strlen(joined) + 1);
    }
    return dir;
}

static void search_add(tm_search *s, const char *d)
{
    if (!d || !*d)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->dirs[i], d) == 0)
            return;
    s->dirs = tm__xrealloc(s->dirs, (s->n + 1) * sizeof *s->dirs);
    s->dirs[s->n++] = tm__xstrdup(d);
}

void tm__search_init(tm_search *s, const char *const *extra, size_t n_extra)
{
    s->dirs = NULL;
    s->n = 0;
    search_add(s, tm__builtin_plugin_dir());
    const char *env = getenv("TEXTMILL_PLUGIN_PATH");
    if (env) {
        /* Empty entries, which mean the current directory in $PATH, are
         * skipped by strtok; relative ones would load from wherever the
         * run was started, so they are left out too. */
        char *copy = tm__xstrdup(env);
        for (char *save = NULL, *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
            if (t[0] == '/')
                search_add(s, t);
            else
                tm__log(TM_LOG_WARN, NULL, "TEXTMILL_PLUGIN_PATH: '%s' is not an absolute path "
                        "and is ignored (plugins are never looked up from the current "
                        "directory implicitly)", t);
        }
        free(copy);
    }
    for (size_t i = 0; i < n_extra; i++)
        search_add(s, extra[i]);
}

void tm__search_free(tm_search *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->dirs[i]);
    free(s->dirs);
    s->dirs = NULL;
    s->n = 0;
}

static bool valid_name(const char *n)
{
    if (!n || !*n)
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return false;
    return true;
}

/* Checks what the host relies on in a descriptor; NULL if it is sound. */
static char *check_descriptor(const tm_plugin *d)
{
    if (!valid_name(d->name))
        return tm__xstrdup("its name is missing or not made of [a-z0-9_-]");
    if (d->role != TM_ROLE_SOURCE && d->role != TM_ROLE_STAGE && d->role != TM_ROLE_SINK)
        return tm__xasprintf("plugin '%s' has no valid role", d->name);
    if (!d->process)
        return tm__xasprintf("plugin '%s' has no process callback", d->name);
    if (!d->version || !d->license || !d->summary)
        return tm__xasprintf("plugin '%s' lacks a version, licence or summary", d->name);
    for (size_t i = 0; d->options && d->options[i].name; i++) {
        const tm_option *o = &d->options[i];
        size_t need = o->type == TM_OPT_STRING ? sizeof(char *)
                      : o->type == TM_OPT_INT || o->type == TM_OPT_BYTES ? sizeof(int64_t)
                      : o->type == TM_OPT_DOUBLE                         ? sizeof(double)
                      : o->type == TM_OPT_LIST                           ? sizeof(tm_strlist)
                      : o->type == TM_OPT_MAP                            ? sizeof(tm_strmap)
                                                                         : sizeof(int);
        if (o->type < TM_OPT_STRING || o->type > TM_OPT_MAP)
            return tm__xasprintf("option '%s' has an unknown type", o->name);
        if (o->offset + need > d->config_size)
            return tm__xasprintf("option '%s' lies outside its config struct", o->name);
        if (!o->help || !*o->help)
            return tm__xasprintf("option '%s' has no help text", o->name);
        if (o->type == TM_OPT_ENUM && (!o->choices || !*o->choices))
            return tm__xasprintf("option '%s' is a choice without choices", o->name);
    }
    return NULL;
}

/* Could any user at all have written st? A file or directory is safe when
 * it belongs to this user or root and is not writable by others (the world);
 * a directory writable by all is safe with the sticky bit (as /tmp), since
 * then only an entry's owner may replace it. Group-writable trees are left
 * alone: where each user has a group of their own (umask 002) they are the
 * norm, and the group is someone's choice of whom to trust. */
static const char *unsafe_mode(const struct stat *st, bool dir)
{
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return "is owned by another user";
    if ((st->st_mode & S_IWOTH) && !(dir && (st->st_mode & S_ISVTX)))
        return "is writable by every user";
    return NULL;
}

/* Checks every directory above `file` (an absolute path), nearest first;
 * the reason one fails, or NULL. */
static char *unsafe_dirs(const char *plugin, const char *file)
{
    char *dir = tm__xstrdup(file), *err = NULL;
    struct stat st;
    const char *why;
    for (char *slash = strrchr(dir, '/'); slash && !err; slash = strrchr(dir, '/')) {
        slash[slash == dir] = 0; /* the parent; "/" last */
        if (stat(dir, &st) != 0)
            err = tm__xasprintf("cannot load plugin %s: %s: %s", plugin, dir, strerror(errno));
        else if ((why = unsafe_mode(&st, true)))
            err = tm__xasprintf("refusing to load plugin %s: its directory %s %s (set "
                                "TEXTMILL_ALLOW_UNSAFE_PLUGINS=1 to load it anyway)",
                                plugin, dir, why);
        if (slash == dir)
            break;
    }
    free(dir);
    return err;
}

/* Why the plugin file (open as fd) is not safe to load, or NULL: the file
 * itself and every directory above it must pass unsafe_mode(), since
 * whoever may write a directory may put another file in the plugin's place.
 * Both the directories the path names as written and those it resolves to
 * are checked: a symbolic link on the way can be re-pointed by whoever may
 * write the directory that holds it. */
static char *unsafe_plugin(const char *path, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return tm__xasprintf("cannot load plugin %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return tm__xasprintf("cannot load plugin %s: not a regular file", path);
    const char *why = unsafe_mode(&st, false);
    if (why)
        return tm__xasprintf("refusing to load plugin %s: the file %s (set "
                             "TEXTMILL_ALLOW_UNSAFE_PLUGINS=1 to load it anyway)", path, why);
    char *cwd = path[0] == '/' ? NULL : getcwd(NULL, 0);
    if (path[0] != '/' && !cwd)
        return tm__xasprintf("cannot load plugin %s: %s", path, strerror(errno));
    char *as_written = cwd ? tm__xasprintf("%s/%s", cwd, path) : tm__xstrdup(path);
    free(cwd);
    char *err = unsafe_dirs(path, as_written);
    free(as_written);
    if (err)
        return err;
    char *real = realpath(path, NULL);
    if (!real)
        return tm__xasprintf("cannot load plugin %s: %s", path, strerror(errno));
    err = unsafe_dirs(path, real);
    free(real);
    return err;
}

static bool unsafe_allowed(void)
{
    const char *v = getenv("TEXTMILL_ALLOW_UNSAFE_PLUGINS");
    return v && strcmp(v, "1") == 0;
}

int tm__plugin_open(const char *path, tm_loaded *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    /* dlopen() would look a name without a slash up on the library path,
     * and "./" would make it the current directory's: both implicit. */
    if (!strchr(path, '/')) {
        *err = tm__xasprintf("cannot load plugin %s: a plugin file is named by a path with a "
                             "slash (./%s for one in the current directory), never found in "
                             "the current directory implicitly", path, path);
        return -1;
    }
    /* O_NONBLOCK: a FIFO in the plugin's place must be refused, not waited on */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *err = tm__xasprintf("cannot load plugin %s: %s", path, strerror(errno));
        return -1;
    }
    char *unsafe = unsafe_plugin(path, fd);
    if (unsafe && (!unsafe_allowed() || strncmp(unsafe, "refusing", 8) != 0)) {
        close(fd);
        *err = unsafe;
        return -1;
    }
    if (unsafe) {
        tm__log(TM_LOG_WARN, NULL, "%s; loaded anyway (TEXTMILL_ALLOW_UNSAFE_PLUGINS=1)",
                unsafe + strlen("refusing to load plugin "));
        free(unsafe);
    }
    unsigned char magic[4] = {0};
    ssize_t got = pread(fd, magic, 4, 0);
    if (got != 4 || memcmp(magic, "\x7f" "ELF", 4) != 0) {
        close(fd);
        *err = tm__xasprintf("cannot load plugin %s: not a shared object", path);
        return -1;
    }
    tm__hash_fd(fd, out->hash);
    close(fd);
    char *abs = tm__xstrdup(path);
    void *h = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        *err = tm__xasprintf("cannot load plugin %s: %s", path, dlerror());
        free(abs);
        return -1;
    }
    const tm_plugin *d = dlsym(h, TM_DESCRIPTOR_SYMBOL);
    if (!d) {
        *err = tm__xasprintf("cannot load plugin %s: no %s symbol (define one with "
                             "TM_PLUGIN_DEFINE from textmill/plugin.h)",
                             path, TM_DESCRIPTOR_SYMBOL);
        goto fail;
    }
    if (d->abi_major != TM_ABI_MAJOR) {
        *err = tm__xasprintf("cannot load plugin %s: built for plugin ABI %u.%u, but this "
                             "textmill has ABI %d.%d (the major versions must match; rebuild "
                             "the plugin)",
                             path, d->abi_major, d->abi_minor, TM_ABI_MAJOR, TM_ABI_MINOR);
        goto fail;
    }
    if (d->abi_minor > TM_ABI_MINOR) {
        *err = tm__xasprintf("cannot load plugin %s: built for plugin ABI %u.%u, newer than "
                             "this textmill's ABI %d.%d (upgrade textmill)",
                             path, d->abi_major, d->abi_minor, TM_ABI_MAJOR, TM_ABI_MINOR);
        goto fail;
    }
    if (d->size < sizeof(tm_plugin)) {
        *err = tm__xasprintf("cannot load plugin %s: its descriptor is %u bytes, smaller than "
                             "the %zu of ABI %d.%d",
                             path, d->size, sizeof(tm_plugin), TM_ABI_MAJOR, TM_ABI_MINOR);
        goto fail;
    }
    if (d->build_signature != (uint64_t)TM_BUILD_SIGNATURE) {
        *err = tm__xasprintf("cannot load plugin %s: build signature %016llx differs from "
                             "this textmill's %016llx (rebuild the plugin against this "
                             "textmill's headers and compiler settings)",
                             path, (unsigned long long)d->build_signature,
                             (unsigned long long)TM_BUILD_SIGNATURE);
        goto fail;
    }
    char *why = check_descriptor(d);
    if (why) {
        *err = tm__xasprintf("cannot load plugin %s: %s", path, why);
        free(why);
        goto fail;
    }
    out->handle = h;
    out->desc = d;
    out->path = abs;
    return 0;
fail:
    dlclose(h);
    free(abs);
    return -1;
}

void tm__plugin_close(tm_loaded *l)
{
    if (l->handle)
        dlclose(l->handle);
    free(l->path);
    memset(l, 0, sizeof *l);
}

static bool is_path(const char *use)
{
    size_t n = strlen(use);
    return strchr(use, '/') || (n > 3 && strcmp(use + n - 3, ".so") == 0);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int tm__plugin_find(const tm_search *s, const char *use, tm_role role, tm_loaded *out,
                    char **err)
{
    *err = NULL;
    if (is_path(use)) {
        if (tm__plugin_open(use, out, err) != 0)
            return -1;
        goto check_role;
    }
    if (!valid_name(use)) {
        *err = tm__xasprintf("'%s' is not a plugin name ([a-z0-9_-]) nor a path to a .so", use);
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) {
        char *cands[2] = {tm__xasprintf("%s/%s-%s.so", s->dirs[i], tm__role_name(role), use),
                          tm__xasprintf("%s/%s.so", s->dirs[i], use)};
        for (int c = 0; c < 2; c++) {
            if (!exists(cands[c]))
                continue;
            int rc = tm__plugin_open(cands[c], out, err);
            free(cands[0]);
            free(cands[1]);
            if (rc != 0)
                return -1;
            goto check_role;
        }
        free(cands[0]);
        free(cands[1]);
    }
    {
        /* not found: say what exists and where we looked */
        tm_loaded *all = NULL;
        size_t n = tm__plugin_list(s, &all);
        const char **names = tm__xcalloc(n + 1, sizeof *names);
        size_t k = 0;
        tm_buf avail = {0}, dirs = {0};
        for (size_t i = 0; i < n; i++) {
            if (all[i].desc->role != role)
                continue;
            names[k++] = all[i].desc->name;
            tm__buf_printf(&avail, "%s%s", avail.len ? ", " : "", all[i].desc->name);
        }
        for (size_t i = 0; i < s->n; i++)
            tm__buf_printf(&dirs, "%s%s", i ? ", " : "", s->dirs[i]);
        const char *sug = tm__suggest(use, names, k);
        *err = tm__xasprintf("unknown %s plugin '%s'%s%s%s (available %ss: %s; searched: %s)",
                             tm__role_name(role), use, sug ? "; did you mean '" : "",
                             sug ? sug : "", sug ? "'?" : "", tm__role_name(role),
                             avail.len ? avail.data : "none", dirs.len ? dirs.data : "nothing");
        free(names);
        tm__buf_free(&avail);
        tm__buf_free(&dirs);
        for (size_t i = 0; i < n; i++)
            tm__plugin_close(&all[i]);
        free(all);
        return -1;
    }
check_role:
    if (out->desc->role != role) {
        *err = tm__xasprintf("plugin %s is a %s, but is used as a %s", out->path,
                             tm__role_name(out->desc->role), tm__role_name(role));
        tm__plugin_close(out);
        return -1;
    }
    return 0;
}

static int cmp_loaded(const void *a, const void *b)
{
    const tm_loaded *x = a, *y = b;
    if (x->desc->role != y->desc->role)
        return (int)x->desc->role - (int)y->desc->role;
    return strcmp(x->desc->name, y->desc->name);
}

size_t tm__plugin_list(const tm_search *s, tm_loaded **out)
{
    tm_loaded *all = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        DIR *d = opendir(s->dirs[i]);
        if (!d)
            continue;
        struct dirent *e;
        char **files = NULL;
        size_t nf = 0;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 3 && strcmp(e->d_name + l - 3, ".so") == 0) {
                files = tm__xrealloc(files, (nf + 1) * sizeof *files);
                files[nf++] = tm__xasprintf("%s/%s", s->dirs[i], e->d_name);
            }
        }
        closedir(d);
        for (size_t f = 0; f < nf; f++) {
            tm_loaded l;
            char *err = NULL;
            if (tm__plugin_open(files[f], &l, &err) == 0) {
                bool dup = false;
                for (size_t j = 0; j < n; j++)
                    dup |= all[j].desc->role == l.desc->role &&
                           strcmp(all[j].desc->name, l.desc->name) == 0;
                if (dup) {
                    tm__plugin_close(&l);
                } else {
                    all = tm__xrealloc(all, (n + 1) * sizeof *all);
                    all[n++] = l;
                }
            } else {
                /* a refused file is worth a word: its owner is looking for it */
                tm__log(strncmp(err, "refusing", 8) == 0 ? TM_LOG_WARN : TM_LOG_DEBUG, NULL,
                        "%s", err);
            }
            free(err);
            free(files[f]);
        }
        free(files);
    }
    if (n)
        qsort(all, n, sizeof *all, cmp_loaded);
    *out = all;
    return n;
}
