/* `textmill replay REJECTS`: feeds rejected documents back through the
 * pipeline that rejected them, each from the stage that failed on it.
 *
 * A reject record is a document in the JSONL shape, as it entered the stage
 * that failed, with meta.reject naming the pipeline file, the stage and the
 * working directory of the run (see runner.c). Records are grouped by stage
 * (and directory); each group runs as the pipeline with its source replaced
 * by a jsonl source over the group's records and the steps before the failed
 * stage left out.
 *
 * Under the pipeline's state lock, the rejects file is read whole and moved
 * aside, and the ledger forgets the length committed to it: what fails again
 * goes to a new rejects file, written by the usual append protocol. When
 * every group ran the old records are removed; when one fails, the records of
 * the groups not replayed are left in the file moved aside, and only those,
 * so that replaying it again duplicates nothing. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct group {
    char *step, *cwd, *tmp;
    FILE *fp;
    size_t n;
    bool done;
} group;

typedef struct replay {
    const char *path;
    char *pipeline, *aside;
    group *g;
    size_t n;
} replay;

static group *group_for(replay *rp, const char *step, const char *cwd)
{
    for (size_t i = 0; i < rp->n; i++)
        if (!strcmp(rp->g[i].step, step) && !strcmp(rp->g[i].cwd, cwd))
            return &rp->g[i];
    rp->g = tm__xrealloc(rp->g, (rp->n + 1) * sizeof *rp->g);
    group *x = &rp->g[rp->n++];
    memset(x, 0, sizeof *x);
    x->step = tm__xstrdup(step);
    x->cwd = tm__xstrdup(cwd);
    x->tmp = tm__xasprintf("%s.replay-%ld-%zu.jsonl", rp->path, (long)getpid(), rp->n);
    return x;
}

/* meta.reject of a record line, or NULL. */
static cJSON *reject_of(cJSON *rec)
{
    cJSON *meta = rec ? cJSON_GetObjectItemCaseSensitive(rec, "meta") : NULL;
    return meta ? cJSON_GetObjectItemCaseSensitive(meta, "reject") : NULL;
}

/* Sorts the records into one temporary JSONL file per group, meta.reject
 * removed. 0, or an exit code with the reason logged. */
static int read_records(replay *rp)
{
    FILE *f = fopen(rp->path, "r");
    if (!f) {
        tm__log(TM_LOG_ERROR, NULL, "%s: %s", rp->path, strerror(errno));
        return TM_EXIT_INPUT;
    }
    char *line = NULL, *here = getcwd(NULL, 0);
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        cJSON *rec = cJSON_ParseWithLength(line, (size_t)len);
        cJSON *rej = reject_of(rec);
        const char *pl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "pipeline"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "step"));
        const char *cwd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "cwd"));
        if (!pl || !st) {
            tm__log(TM_LOG_ERROR, NULL, "%s:%zu: not a textmill reject record (it has no "
                    "meta.reject with the pipeline and the step)", rp->path, lineno);
            rc = TM_EXIT_INPUT;
        } else if (rp->pipeline && strcmp(rp->pipeline, pl)) {
            tm__log(TM_LOG_ERROR, NULL, "%s:%zu: a record of another pipeline (%s, not %s): "
                    "replay one pipeline's rejects at a time", rp->path, lineno, pl,
                    rp->pipeline);
            rc = TM_EXIT_INPUT;
        } else {
            if (!rp->pipeline)
                rp->pipeline = tm__xstrdup(pl);
            group *g = group_for(rp, st, cwd ? cwd : here ? here : ".");
            if (!g->fp && !(g->fp = fopen(g->tmp, "w"))) {
                tm__log(TM_LOG_ERROR, NULL, "%s: %s", g->tmp, strerror(errno));
                rc = TM_EXIT_INPUT;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "meta"),
                                                    "reject");
            char *out = rc ? NULL : cJSON_PrintUnformatted(rec);
            if (out) {
                fputs(out, g->fp);
                fputc('\n', g->fp);
                g->n++;
            }
            free(out);
        }
        cJSON_Delete(rec);
    }
    free(line);
    free(here);
    fclose(f);
    for (size_t i = 0; i < rp->n; i++) {
        if (rp->g[i].fp && fclose(rp->g[i].fp) != 0 && !rc) {
            tm__log(TM_LOG_ERROR, NULL, "%s: %s", rp->g[i].tmp, strerror(errno));
            rc = TM_EXIT_INPUT;
        }
        rp->g[i].fp = NULL;
    }
    return rc;
}

static tm_pipeline *load(const char *file, const tm_override *ov, size_t n_ov)
{
    char *err = NULL;
    tm_pipeline *p = tm__pipeline_parse(file, ov, n_ov, &err);
    if (!p) {
        tm__log(TM_LOG_ERROR, NULL, "%s", err);
        free(err);
    }
    return p;
}

/* The pipeline from the group's stage on, reading the group's records. */
static int run_group(replay *rp, const group *g, const tm_override *ov, size_t n_ov,
                     const tm_run_opts *o)
{
    tm_pipeline *p = load(rp->pipeline, ov, n_ov);
    if (!p)
        return TM_EXIT_CONFIG;
    size_t at = 0;
    for (size_t i = 1; i < p->n_steps && !at; i++)
        if (p->steps[i].role == TM_ROLE_STAGE && !strcmp(p->steps[i].name, g->step))
            at = i;
    if (!at) {
        tm__log(TM_LOG_ERROR, NULL, "%s: no stage named '%s' (the pipeline changed since "
                "the documents were rejected?)", rp->pipeline, g->step);
        tm__pipeline_free(p);
        return TM_EXIT_CONFIG;
    }
    tm_step src;
    char *q = tm__yaml_quote(g->tmp);
    char *yaml = tm__xasprintf("{use: jsonl, with: {paths: [%s]}}", q);
    char *err = tm__pipeline_host_step(p, yaml, TM_ROLE_SOURCE, "replay", &src);
    free(yaml);
    free(q);
    if (err) {
        tm__log(TM_LOG_ERROR, NULL, "replay: %s", err);
        free(err);
        tm__pipeline_free(p);
        return TM_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < at; i++)
        tm__step_free(&p->steps[i]);
    memmove(p->steps + 1, p->steps + at, (p->n_steps - at) * sizeof *p->steps);
    p->n_steps -= at - 1;
    p->steps[0] = src;
    p->replay = true;
    int rc = tm__pipeline_load_plugins(p) == 0 ? tm__run(p, o) : TM_EXIT_CONFIG;
    tm__pipeline_free(p);
    return rc;
}

/* Under the state lock: read the records, move the file aside, and make the
 * ledger forget what was committed to it. */
static int take_records(replay *rp, const tm_override *ov, size_t n_ov, const tm_run_opts *o)
{
    /* the first record names the pipeline, and so the state to lock */
    FILE *f = fopen(rp->path, "r");
    if (!f) {
        tm__log(TM_LOG_ERROR, NULL, "%s: %s", rp->path, strerror(errno));
        return TM_EXIT_INPUT;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    cJSON *first = NULL;
    while (!first && (len = getline(&line, &cap, f)) >= 0)
        if (strspn(line, " \t\r\n") != (size_t)len && !(first = cJSON_ParseWithLength(line, (size_t)len)))
            break;
    free(line);
    fclose(f);
    cJSON *rej = reject_of(first);
    const char *pl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "pipeline"));
    const char *cwd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "cwd"));
    tm_pipeline *p = pl ? load(pl, ov, n_ov) : NULL;
    char *back = getcwd(NULL, 0);
    tm_ledger *l = NULL;
    int rc = 0;
    if (p && p->state_dir && cwd && chdir(cwd) != 0) {
        tm__log(TM_LOG_ERROR, NULL, "%s: %s", cwd, strerror(errno));
        rc = TM_EXIT_INPUT;
    } else if (p && p->state_dir) {
        char *err = NULL;
        if ((rc = tm__ledger_open(p->state_dir, o->wait, &l, &err)) != 0) {
            tm__log(TM_LOG_ERROR, NULL, "%s: %s", p->file, err);
            free(err);
        }
    }
    if (back && chdir(back) != 0)
        rc = rc ? rc : TM_EXIT_INTERNAL;
    free(back);
    if (!rc && first && !pl)
        rc = 0; /* read_records names the line */
    if (!rc)
        rc = read_records(rp);
    if (!rc && rp->n && rename(rp->path, rp->aside) != 0) {
        tm__log(TM_LOG_ERROR, NULL, "%s: cannot move it aside: %s", rp->path, strerror(errno));
        rc = TM_EXIT_INPUT;
    }
    if (!rc && rp->n && l && p->rejects) {
        /* the rejects sink starts a new file, not one shorter than committed */
        char *key = tm__xasprintf("committed_bytes:%s", p->rejects), *err = NULL;
        if (tm__ledger_delete_now(l, "(rejects)", key, &err) != 0 ||
            tm__ledger_delete_now(l, "(rejects)", "committed_bytes", &err) != 0) {
            tm__log(TM_LOG_ERROR, NULL, "%s", err);
            free(err);
            if (rename(rp->aside, rp->path) != 0)
                tm__log(TM_LOG_ERROR, NULL, "the records are in %s", rp->aside);
            rc = TM_EXIT_STAGE;
        }
        free(key);
    }
    tm__ledger_close(l); /* the runs take the lock themselves */
    tm__pipeline_free(p);
    cJSON_Delete(first);
    return rc;
}

/* After a failure: the records of the groups not replayed go back into the
 * file moved aside, and only those. */
static void keep_the_rest(replay *rp)
{
    char *tmp = tm__xasprintf("%s.tmp", rp->aside);
    FILE *out = fopen(tmp, "w");
    size_t kept = 0;
    for (size_t i = 0; out && i < rp->n; i++) {
        if (rp->g[i].done)
            continue;
        FILE *in = fopen(rp->g[i].tmp, "r");
        char buf[65536];
        size_t k;
        while (in && (k = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, k, out);
        if (in)
            fclose(in);
        kept += rp->g[i].n;
    }
    if (out && fflush(out) == 0 && fsync(fileno(out)) == 0 && fclose(out) == 0 &&
        rename(tmp, rp->aside) == 0)
        tm__log(TM_LOG_ERROR, NULL, "replay stopped: the %zu record%s not replayed are in %s "
                "(replay that file; the others reached the sinks)", kept, kept == 1 ? "" : "s",
                rp->aside);
    else
        tm__log(TM_LOG_ERROR, NULL, "replay stopped: the records read are in %s", rp->aside);
    free(tmp);
}

int tm__replay(const char *path, const tm_override *ov, size_t n_ov, const tm_run_opts *o)
{
    /* absolute: the groups run in the directories their runs ran in */
    char *abs = realpath(path, NULL);
    replay rp = {.path = abs ? abs : path};
    rp.aside = tm__xasprintf("%s.replaying-%ld", rp.path, (long)getpid());
    int rc = take_records(&rp, ov, n_ov, o);
    if (!rc && !rp.n) {
        tm__log(TM_LOG_INFO, NULL, "%s: no records to replay", path);
    } else if (!rc) {
        size_t n_records = 0;
        bool again = false;
        char *back = getcwd(NULL, 0);
        for (size_t i = 0; i < rp.n && !rc; i++) {
            group *g = &rp.g[i];
            n_records += g->n;
            tm__log(TM_LOG_INFO, NULL, "replaying %zu document%s through %s from stage '%s'",
                    g->n, g->n == 1 ? "" : "s", rp.pipeline, g->step);
            if (chdir(g->cwd) != 0) {
                tm__log(TM_LOG_ERROR, NULL, "%s: %s", g->cwd, strerror(errno));
                rc = TM_EXIT_INPUT;
                break;
            }
            int x = run_group(&rp, g, ov, n_ov, o);
            if (back && chdir(back) != 0 && !x)
                x = TM_EXIT_INTERNAL;
            if (x == TM_EXIT_OK || x == TM_EXIT_REJECTS) {
                g->done = true;
                again |= x == TM_EXIT_REJECTS;
            } else {
                rc = x; /* a failure, or a signal (7): the rest waits */
            }
        }
        free(back);
        if (rc) {
            keep_the_rest(&rp);
        } else {
            unlink(rp.aside);
            rc = again ? TM_EXIT_REJECTS : TM_EXIT_OK;
            tm__log(TM_LOG_INFO, NULL, "replayed %zu record%s from %s%s", n_records,
                    n_records == 1 ? "" : "s", path,
                    again ? "; some failed again and were rejected anew" : "");
        }
    }
    for (size_t i = 0; i < rp.n; i++) {
        unlink(rp.g[i].tmp);
        free(rp.g[i].tmp);
        free(rp.g[i].step);
        free(rp.g[i].cwd);
    }
    free(rp.g);
    free(rp.pipeline);
    free(rp.aside);
    free(abs);
    return rc;
}
