/* The pipeline file: top-level keys, steps with their host keys (use, name)
 * and plugin options (with), --set overrides, and the load-time checks that
 * need every plugin: options against each option table, and the order of
 * the fields the steps read and write. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {"version", "name",         "state",       "plugin_path",
                                       "source",  "stages",       "sinks",       "invalid_utf8",
                                       "batch_bytes", "rejects", "max_rejects", "workers",
                                       "max_doc_bytes", "time_budget"};
static const char *const step_keys[] = {"use",     "name",          "with",       "on_error",
                                        "workers", "max_doc_bytes", "time_budget"};

/* workers: 1..64 threads */
static char *want_workers(const char *file, const tm_node *v, int *out)
{
    char *end = NULL;
    long n = v->kind == TM_NODE_SCALAR ? strtol(v->value, &end, 10) : 0;
    if (!end || end == v->value || *end || n < 1 || n > 64)
        return tm__xasprintf("%s: 'workers' must be a number of threads from 1 to 64",
                             tm__where(file, v));
    *out = (int)n;
    return NULL;
}
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* max_doc_bytes: and time_budget: (a limit per document, for stages). At the
 * top level a limit must be more than 0; on a step, 0 or null turns the
 * pipeline's limit off for that stage. */
static char *want_limit(const char *file, const tm_node *v, bool top, int64_t *bytes,
                        double *seconds)
{
    const char *key = bytes ? "max_doc_bytes" : "time_budget";
    if (tm__node_is_null(v) && !top) {
        if (bytes)
            *bytes = 0;
        else
            *seconds = 0;
        return NULL;
    }
    const char *val = v->kind == TM_NODE_SCALAR ? v->value : NULL;
    int64_t b = 0;
    double t = 0;
    bool ok = val && (bytes ? tm__parse_bytes(val, &b) : tm__parse_seconds(val, &t));
    if (!ok && val && val[0] == '-')
        return tm__xasprintf("%s: '%s' cannot be negative (%s)", tm__where(file, v), key,
                             top ? "leave it out for no limit"
                                 : "0 turns the pipeline's limit off for this stage");
    if (!ok && bytes)
        return tm__xasprintf("%s: '%s' must be a size in bytes such as 1000000, 500kB or "
                             "10MiB%s%s%s", tm__where(file, v), key, val ? ", not '" : "",
                             val ? val : "", val ? "'" : "");
    if (!ok)
        return tm__xasprintf("%s: '%s' must be a time per document in seconds (2, 0.5) or "
                             "with a unit (250ms, 2s, 1m)%s%s%s", tm__where(file, v), key,
                             val ? ", not '" : "", val ? val : "", val ? "'" : "");
    if (top && (bytes ? b == 0 : t == 0))
        return tm__xasprintf("%s: '%s: %s' at the top level limits nothing: leave it out (0 "
                             "on a stage step turns the top level's limit off there)",
                             tm__where(file, v), key, val);
    if (bytes)
        *bytes = b;
    else
        *seconds = t;
    return NULL;
}

static char *unknown_key(const char *file, const tm_node *k, const char *const *valid, size_t n,
                         const char *what)
{
    tm_buf list = {0};
    for (size_t i = 0; i < n; i++)
        tm__buf_printf(&list, "%s%s", i ? ", " : "", valid[i]);
    const char *sug = tm__suggest(k->value, (const char **)valid, n);
    char *e = tm__xasprintf("%s: unknown key '%s' in %s%s%s%s (valid: %s)", tm__where(file, k),
                            k->value, what, sug ? "; did you mean '" : "", sug ? sug : "",
                            sug ? "'?" : "", list.data);
    tm__buf_free(&list);
    return e;
}

static char *check_keys(const char *file, const tm_node *map, const char *const *valid,
                        size_t n, const char *what)
{
    for (size_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (size_t j = 0; j < n; j++)
            ok |= strcmp(map->keys[i]->value, valid[j]) == 0;
        if (!ok)
            return unknown_key(file, map->keys[i], valid, n, what);
    }
    return NULL;
}

static char *want_string(const char *file, const tm_node *v, const char *key, char **out)
{
    if (!v || v->kind != TM_NODE_SCALAR || tm__node_is_null(v) || v->len == 0)
        return tm__xasprintf("%s: '%s' must be a non-empty string", tm__where(file, v), key);
    if (memchr(v->value, 0, v->len))
        return tm__xasprintf("%s: '%s' holds a NUL byte", tm__where(file, v), key);
    *out = tm__xstrndup(v->value, v->len);
    return NULL;
}

static char *parse_step(tm_pipeline *p, const tm_node *n, tm_role role, tm_step *s)
{
    const char *file = p->file;
    memset(s, 0, sizeof *s);
    s->role = role;
    s->line = n->line;
    s->col = n->col;
    if (n->kind != TM_NODE_MAP)
        return tm__xasprintf("%s: a %s must be a mapping with 'use:' (and optionally 'name:', "
                             "'with:')",
                             tm__where(file, n), tm__role_name(role));
    char *e = check_keys(file, n, step_keys, NKEYS(step_keys), "a step");
    if (e)
        return e;
    const tm_node *use = tm__node_get(n, "use");
    if (!use)
        return tm__xasprintf("%s: this %s has no 'use:' (a plugin name or a path to a .so)",
                             tm__where(file, n), tm__role_name(role));
    if ((e = want_string(file, use, "use", &s->use)))
        return e;
    const tm_node *name = tm__node_get(n, "name");
    if (name && (e = want_string(file, name, "name", &s->name)))
        return e;
    const tm_node *oe = tm__node_get(n, "on_error");
    if (oe) {
        static const char *const modes[] = {"fail", "skip", "reject"};
        int found = -1;
        for (int i = 0; i < 3 && oe->kind == TM_NODE_SCALAR; i++)
            if (!strcmp(oe->value, modes[i]))
                found = i;
        if (found < 0)
            return tm__xasprintf("%s: 'on_error' must be fail, skip or reject", tm__where(file, oe));
        if (found && role != TM_ROLE_STAGE)
            return tm__xasprintf("%s: 'on_error: %s' applies to stages (a %s that fails "
                                 "fails the run)", tm__where(file, oe), modes[found],
                                 tm__role_name(role));
        s->on_error = (tm_on_error)found;
    }
    const tm_node *wk = tm__node_get(n, "workers");
    if (wk) {
        if ((e = want_workers(file, wk, &s->workers)))
            return e;
        if (role != TM_ROLE_STAGE && s->workers > 1)
            return tm__xasprintf("%s: 'workers' applies to stages (sources and sinks run on "
                                 "one thread)", tm__where(file, wk));
    }
    /* limits: the pipeline's for every stage, unless the step says otherwise */
    if (role == TM_ROLE_STAGE) {
        s->max_doc_bytes = p->max_doc_bytes;
        s->time_budget = p->time_budget;
    }
    const tm_node *mb = tm__node_get(n, "max_doc_bytes"), *tb = tm__node_get(n, "time_budget");
    for (int k = 0; k < 2; k++) {
        const tm_node *v = k ? tb : mb;
        if (!v)
            continue;
        if (role != TM_ROLE_STAGE)
            return tm__xasprintf("%s: '%s' applies to stages (sources and sinks are not "
                                 "limited per document)", tm__where(file, v),
                                 k ? "time_budget" : "max_doc_bytes");
        if ((e = want_limit(file, v, false, k ? NULL : &s->max_doc_bytes,
                            k ? &s->time_budget : NULL)))
            return e;
    }
    if (s->workers > 1 && s->time_budget > 0)
        return tm__xasprintf("%s: 'workers: %d' cannot apply to a stage with a time_budget (it "
                             "is given one document per call, on one thread); set "
                             "'time_budget: 0' on this step to run it on threads",
                             tm__where(file, wk), s->workers);
    const tm_node *with = tm__node_get(n, "with");
    if (with && !tm__node_is_null(with) && with->kind != TM_NODE_MAP)
        return tm__xasprintf("%s: 'with' must be a mapping of the plugin's options",
                             tm__where(file, with));
    if (with && with->kind == TM_NODE_MAP) {
        s->with = tm__node_clone(with);
    } else {
        /* an empty map at the step, so that errors about options point here */
        s->with = tm__xcalloc(1, sizeof *s->with);
        s->with->kind = TM_NODE_MAP;
        s->with->line = n->line;
        s->with->col = n->col;
    }
    return NULL;
}

/* A step the host adds itself (the rejects sink, replay's source), from YAML
 * text such as {use: jsonl, with: {path: "x"}}; values are quoted with
 * yaml_quote. */
char *tm__pipeline_host_step(tm_pipeline *p, const char *yaml, tm_role role, const char *name,
                             tm_step *s)
{
    char *err = NULL;
    tm_node *n = tm__yaml_load("(textmill)", yaml, strlen(yaml), false, &err);
    if (!n)
        return err;
    char *e = parse_step(p, n, role, s);
    tm__node_free(n);
    if (!e && name && !s->name)
        s->name = tm__xstrdup(name);
    return e;
}

char *tm__yaml_quote(const char *v)
{
    tm_buf b = {0};
    tm__buf_json_str(&b, v, strlen(v)); /* a JSON string is a YAML double-quoted scalar */
    return b.data;
}

/* Instance names: explicit ones must be unique; a default (the plugin name)
 * gets "#2", "#3" when it repeats. */
static char *name_steps(tm_pipeline *p)
{
    for (size_t i = 0; i < p->n_steps; i++) {
        tm_step *s = &p->steps[i];
        if (s->name) {
            for (size_t j = 0; j < i; j++)
                if (strcmp(p->steps[j].name, s->name) == 0)
                    return tm__xasprintf("%s:%d:%d: two steps are named '%s' (names must be "
                                         "unique)",
                                         p->file, s->line, s->col, s->name);
            continue;
        }
        const char *base = strrchr(s->use, '/') ? strrchr(s->use, '/') + 1 : s->use;
        size_t bl = strlen(base);
        if (bl > 3 && strcmp(base + bl - 3, ".so") == 0)
            bl -= 3;
        char *cand = tm__xstrndup(base, bl);
        for (int k = 2;; k++) {
            bool taken = false;
            for (size_t j = 0; j < p->n_steps; j++)
                taken |= j != i && p->steps[j].name && strcmp(p->steps[j].name, cand) == 0;
            if (!taken)
                break;
            free(cand);
            cand = tm__xasprintf("%.*s#%d", (int)bl, base, k);
        }
        s->name = cand;
    }
    return NULL;
}

static tm_step *find_step(tm_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (strcmp(p->steps[i].name, name) == 0)
            return &p->steps[i];
    if (strcmp(name, "source") == 0)
        return &p->steps[0];
    tm_step *found = NULL;
    for (size_t i = 0; i < p->n_steps; i++) {
        if (strcmp(p->steps[i].use, name) == 0) {
            if (found)
                return NULL; /* ambiguous */
            found = &p->steps[i];
        }
    }
    return found;
}

static char *apply_override(tm_pipeline *p, const tm_override *o)
{
    tm_step *s = find_step(p, o->step);
    if (!s) {
        tm_buf names = {0};
        for (size_t i = 0; i < p->n_steps; i++)
            tm__buf_printf(&names, "%s%s", i ? ", " : "", p->steps[i].name);
        char *e = tm__xasprintf("--set %s.%s: no step named '%s' (steps: %s)", o->step, o->key,
                                o->step, names.data);
        tm__buf_free(&names);
        return e;
    }
    char *origin = tm__xasprintf("--set %s.%s", o->step, o->key);
    char *err = NULL;
    tm_node *v = tm__yaml_load(origin, o->value, strlen(o->value), true, &err);
    if (!v && strlen(o->value) == 0)
        v = tm__node_scalar("", 0, 0), free(err), err = NULL;
    if (!v) {
        free(origin);
        return err;
    }
    /* the origin string lives as long as the pipeline: keep it in the key node */
    tm_node *key = tm__node_scalar(o->key, 0, 0);
    key->origin = origin;
    v->origin = origin;
    for (size_t i = 0; i < s->with->n; i++) {
        if (strcmp(s->with->keys[i]->value, o->key) == 0) {
            tm__node_free(s->with->items[i]);
            s->with->items[i] = v;
            /* a repeated --set replaces the earlier one, origin and all */
            if (s->with->keys[i]->line == 0)
                free((char *)s->with->keys[i]->origin);
            tm__node_free(s->with->keys[i]);
            s->with->keys[i] = key;
            return NULL;
        }
    }
    s->with->keys = tm__xrealloc(s->with->keys, (s->with->n + 1) * sizeof(tm_node *));
    s->with->items = tm__xrealloc(s->with->items, (s->with->n + 1) * sizeof(tm_node *));
    s->with->keys[s->with->n] = key;
    s->with->items[s->with->n++] = v;
    return NULL;
}

tm_pipeline *tm__pipeline_parse(const char *file, const tm_override *ov, size_t n_ov, char **err)
{
    *err = NULL;
    tm_node *root = tm__yaml_load(file, NULL, 0, true, err);
    if (!root)
        return NULL;
    tm_pipeline *p = tm__xcalloc(1, sizeof *p);
    p->file = tm__xstrdup(file);
    p->root = root;
    p->batch_bytes = 4 << 20;
    char *e = NULL;
    if (root->kind != TM_NODE_MAP) {
        e = tm__xasprintf("%s: a pipeline file is a mapping with version, source, stages and "
                          "sinks",
                          tm__where(file, root));
        goto fail;
    }
    if ((e = check_keys(file, root, top_keys, NKEYS(top_keys), "the pipeline")))
        goto fail;

    const tm_node *v = tm__node_get(root, "version");
    if (!v) {
        e = tm__xasprintf("%s:1:1: missing 'version: 1'", file);
        goto fail;
    }
    if (v->kind != TM_NODE_SCALAR || strcmp(v->value, "1") != 0) {
        e = tm__xasprintf("%s: unsupported version '%s' (this textmill reads version 1)",
                          tm__where(file, v), v->kind == TM_NODE_SCALAR ? v->value : "?");
        goto fail;
    }
    if ((v = tm__node_get(root, "name")) && (e = want_string(file, v, "name", &p->name)))
        goto fail;
    if (!p->name) {
        const char *b = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        const char *dot = strrchr(b, '.');
        p->name = dot && dot != b ? tm__xstrndup(b, (size_t)(dot - b)) : tm__xstrdup(b);
    }
    if ((v = tm__node_get(root, "state")) && !tm__node_is_null(v) &&
        (e = want_string(file, v, "state", &p->state_dir)))
        goto fail;
    if ((v = tm__node_get(root, "workers")) && (e = want_workers(file, v, &p->workers)))
        goto fail;
    if ((v = tm__node_get(root, "max_doc_bytes")) && !tm__node_is_null(v) &&
        (e = want_limit(file, v, true, &p->max_doc_bytes, NULL)))
        goto fail;
    if ((v = tm__node_get(root, "time_budget")) && !tm__node_is_null(v) &&
        (e = want_limit(file, v, true, NULL, &p->time_budget)))
        goto fail;
    if ((v = tm__node_get(root, "rejects")) && !tm__node_is_null(v) &&
        (e = want_string(file, v, "rejects", &p->rejects)))
        goto fail;
    if ((v = tm__node_get(root, "max_rejects")) && !tm__node_is_null(v)) {
        /* a share of the documents read ("5%") or a number of documents ("20") */
        char *end = NULL;
        double x = v->kind == TM_NODE_SCALAR ? strtod(v->value, &end) : -1;
        bool pct = end && *end == '%' && !end[1];
        if (!end || end == v->value || (*end && !pct) || x < 0 || (pct && x > 100)) {
            e = tm__xasprintf("%s: 'max_rejects' must be a number of documents (20) or a "
                              "share of those read (5%%)", tm__where(file, v));
            goto fail;
        }
        p->max_rejects = x;
        p->max_rejects_pct = pct;
        p->has_max_rejects = true;
    }
    if ((v = tm__node_get(root, "plugin_path")) && !tm__node_is_null(v)) {
        if (v->kind == TM_NODE_SCALAR) {
            p->plugin_path = tm__xcalloc(1, sizeof(char *));
            if ((e = want_string(file, v, "plugin_path", &p->plugin_path[0])))
                goto fail;
            p->n_plugin_path = 1;
        } else if (v->kind == TM_NODE_SEQ) {
            p->plugin_path = tm__xcalloc(v->n, sizeof(char *));
            for (size_t i = 0; i < v->n; i++) {
                if ((e = want_string(file, v->items[i], "plugin_path", &p->plugin_path[i])))
                    goto fail;
                p->n_plugin_path++;
            }
        } else {
            e = tm__xasprintf("%s: 'plugin_path' must be a list of directories",
                              tm__where(file, v));
            goto fail;
        }
    }
    if ((v = tm__node_get(root, "invalid_utf8"))) {
        static const char *const pol[] = {"repair", "skip", "fail"};
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (v->kind == TM_NODE_SCALAR && strcmp(v->value, pol[i]) == 0)
                found = i;
        if (found < 0) {
            e = tm__xasprintf("%s: 'invalid_utf8' must be one of: repair, skip, fail",
                              tm__where(file, v));
            goto fail;
        }
        p->invalid_utf8 = (tm_utf8_policy)found;
    }
    if ((v = tm__node_get(root, "batch_bytes"))) {
        char *end = NULL;
        long long b = v->kind == TM_NODE_SCALAR ? strtoll(v->value, &end, 10) : -1;
        if (!end || *end || b < 1024 || b > (1ll << 32)) {
            e = tm__xasprintf("%s: 'batch_bytes' must be a number of bytes between 1024 and "
                              "4294967296",
                              tm__where(file, v));
            goto fail;
        }
        p->batch_bytes = b;
    }

    const tm_node *src = tm__node_get(root, "source");
    const tm_node *stages = tm__node_get(root, "stages");
    const tm_node *sinks = tm__node_get(root, "sinks");
    if (!src) {
        e = tm__xasprintf("%s:1:1: missing 'source:' (where documents come from)", file);
        goto fail;
    }
    if (stages && !tm__node_is_null(stages) && stages->kind != TM_NODE_SEQ) {
        e = tm__xasprintf("%s: 'stages' must be a list of steps", tm__where(file, stages));
        goto fail;
    }
    if (!sinks || tm__node_is_null(sinks) || sinks->kind != TM_NODE_SEQ || sinks->n == 0) {
        e = tm__xasprintf("%s: 'sinks' must be a list of at least one step (where documents "
                          "go)",
                          sinks ? tm__where(file, sinks) : tm__where(file, root));
        goto fail;
    }
    size_t n_stages = stages && stages->kind == TM_NODE_SEQ ? stages->n : 0;
    p->steps = tm__xcalloc(1 + n_stages + sinks->n, sizeof *p->steps);
    /* counted before parsing, so that a half-parsed step is freed too */
    if ((e = parse_step(p, src, TM_ROLE_SOURCE, &p->steps[p->n_steps++])))
        goto fail;
    for (size_t i = 0; i < n_stages; i++)
        if ((e = parse_step(p, stages->items[i], TM_ROLE_STAGE, &p->steps[p->n_steps++])))
            goto fail;
    for (size_t i = 0; i < sinks->n; i++)
        if ((e = parse_step(p, sinks->items[i], TM_ROLE_SINK, &p->steps[p->n_steps++])))
            goto fail;
    if ((e = name_steps(p)))
        goto fail;
    for (size_t i = 0; i < p->n_steps && !p->rejects; i++) {
        const tm_step *s = &p->steps[i];
        /* a limit rejects the documents over it, as on_error: reject does */
        const char *limit = s->max_doc_bytes ? "max_doc_bytes" : s->time_budget ? "time_budget"
                                                                                  : NULL;
        if (s->on_error != TM_ON_ERROR_REJECT && !limit)
            continue;
        if (!p->state_dir && s->on_error == TM_ON_ERROR_REJECT) {
            e = tm__xasprintf("%s:%d:%d: step '%s' has 'on_error: reject', but the pipeline "
                              "says nowhere to put rejects: add 'rejects: PATH' (or 'state: DIR', "
                              "which keeps them in DIR/rejects.jsonl)",
                              file, s->line, s->col, s->name);
            goto fail;
        }
        if (!p->state_dir) {
            /* point at the key that set the limit: the step's, else the top level's */
            const tm_node *k = tm__node_get(stages->items[i - 1], limit);
            bool own = k != NULL;
            if (!k)
                k = tm__node_get(root, limit);
            e = tm__xasprintf("%s: '%s'%s%s%s rejects the documents over it, but the pipeline "
                              "says nowhere to put rejects: add 'rejects: PATH' (or 'state: DIR', "
                              "which keeps them in DIR/rejects.jsonl)",
                              tm__where(file, k), limit, own ? " (stage '" : " (for every stage",
                              own ? s->name : "", own ? "')" : ")");
            goto fail;
        }
        p->rejects = tm__xasprintf("%s/rejects.jsonl", p->state_dir);
    }
    for (size_t i = 0; i < n_ov; i++)
        if ((e = apply_override(p, &ov[i])))
            goto fail;
    return p;
fail:
    *err = e;
    tm__pipeline_free(p);
    return NULL;
}

static bool field_written(const char *f, const char *const *avail, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *a = avail[i];
        size_t al = strlen(a);
        if (strcmp(a, f) == 0)
            return true;
        /* "meta.*" satisfies any "meta.x" */
        if (al >= 2 && strcmp(a + al - 2, ".*") == 0 && strncmp(a, f, al - 1) == 0)
            return true;
    }
    return false;
}

int tm__pipeline_load_plugins(tm_pipeline *p)
{
    tm_search search;
    tm__search_init(&search, (const char *const *)p->plugin_path, p->n_plugin_path);
    int bad = 0;
    for (size_t i = 0; i < p->n_steps; i++) {
        tm_step *s = &p->steps[i];
        char *err = NULL;
        if (tm__plugin_find(&search, s->use, s->role, &s->plugin, &err) != 0) {
            tm__log(TM_LOG_ERROR, NULL, "%s:%d:%d: %s", p->file, s->line, s->col, err);
            free(err);
            bad = 1;
            continue;
        }
        bool seen = false; /* one line per file, whatever the steps that use it */
        for (size_t j = 0; j < i && !seen; j++)
            seen = p->steps[j].plugin.path && !strcmp(p->steps[j].plugin.path, s->plugin.path);
        if (!seen)
            tm__log(TM_LOG_INFO, NULL, "plugin %s %s %s: %s (xxh3 %s)",
                    tm__role_name(s->role), s->plugin.desc->name, s->plugin.desc->version,
                    s->plugin.path, s->plugin.hash);
        if (s->workers > 1 && !(s->plugin.desc->caps & TM_CAP_REENTRANT)) {
            tm__log(TM_LOG_ERROR, NULL, "%s:%d:%d: stage '%s': plugin %s is not reentrant "
                    "(it does not declare TM_CAP_REENTRANT), so it runs on one thread: "
                    "'workers' must be 1", p->file, s->line, s->col, s->name,
                    s->plugin.desc->name);
            bad = 1;
        }
        s->config = tm__options_fill(s->plugin.desc, p->file, s->with, &err);
        if (!s->config) {
            tm__log(TM_LOG_ERROR, NULL, "%s", err);
            free(err);
            bad = 1;
        }
    }
    if (!bad && p->rejects) {
        /* the rejects file is written by the jsonl sink, appended and
         * committed like any sink's output */
        char *q = tm__yaml_quote(p->rejects);
        char *yaml = tm__xasprintf("{use: jsonl, with: {path: %s}}", q);
        p->rejects_step = tm__xcalloc(1, sizeof *p->rejects_step);
        /* a name no step of the file can clash with (it keys the sink's ledger values) */
        char *err = tm__pipeline_host_step(p, yaml, TM_ROLE_SINK, "(rejects)", p->rejects_step);
        if (!err && tm__plugin_find(&search, "jsonl", TM_ROLE_SINK, &p->rejects_step->plugin,
                                    &err) == 0)
            p->rejects_step->config =
                tm__options_fill(p->rejects_step->plugin.desc, p->file, p->rejects_step->with,
                                 &err);
        if (err || !p->rejects_step->config) {
            tm__log(TM_LOG_ERROR, NULL, "%s: rejects: %s", p->file, err ? err : "?");
            bad = 1;
        }
        free(err);
        free(yaml);
        free(q);
    }
    tm__search_free(&search);
    if (bad)
        return -1;

    /* Fields must be written before they are read, so that a pipeline in
     * the wrong order fails here and not after an hour of data. */
    const char **avail = NULL;
    size_t n_avail = 0;
    for (size_t i = 0; i < p->n_steps; i++) {
        const tm_plugin *d = p->steps[i].plugin.desc;
        for (size_t r = 0; d->reads && d->reads[r]; r++) {
            const char *f = d->reads[r];
            if (f[0] == '?' || strcmp(f, "id") == 0 || strcmp(f, "text") == 0)
                continue;
            if (!field_written(f, avail, n_avail)) {
                tm__log(TM_LOG_ERROR, NULL,
                        "%s:%d:%d: %s '%s' reads '%s', which no earlier step writes (put a "
                        "step that writes it before this one)",
                        p->file, p->steps[i].line, p->steps[i].col,
                        tm__role_name(d->role), p->steps[i].name, f);
                bad = 1;
            }
        }
        for (size_t w = 0; d->writes && d->writes[w]; w++) {
            avail = tm__xrealloc(avail, (n_avail + 1) * sizeof *avail);
            avail[n_avail++] = d->writes[w];
        }
    }
    free(avail);
    return bad ? -1 : 0;
}

void tm__step_free(tm_step *s)
{
    if (s->config)
        tm__options_free(s->plugin.desc, s->config);
    tm__plugin_close(&s->plugin);
    free(s->use);
    free(s->name);
    /* --set origins are owned by the key nodes they were attached to */
    if (s->with)
        for (size_t k = 0; k < s->with->n; k++)
            if (s->with->keys[k]->origin && s->with->keys[k]->line == 0)
                free((char *)s->with->keys[k]->origin);
    tm__node_free(s->with);
    memset(s, 0, sizeof *s);
}

void tm__pipeline_free(tm_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_steps; i++)
        tm__step_free(&p->steps[i]);
    free(p->steps);
    if (p->rejects_step)
        tm__step_free(p->rejects_step);
    free(p->rejects_step);
    for (size_t i = 0; i < p->n_plugin_path; i++)
        free(p->plugin_path[i]);
    free(p->plugin_path);
    free(p->file);
    free(p->name);
    free(p->state_dir);
    free(p->rejects);
    tm__node_free(p->root);
    free(p);
}
