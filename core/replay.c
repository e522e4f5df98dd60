/* `textmill replay REJECTS`: feeds rejected documents back through the
 * pipeline that rejected them, each from the stage that failed on it.
 *
 * A reject record is a document in the JSONL shape, as it entered the stage
 * that failed, with meta.reject naming the pipeline file and the stage (see
 * runner.c). Records are grouped by (pipeline, stage); each group runs as
 * that pipeline with its source replaced by a jsonl source over the group's
 * records and its steps before the failed stage left out. The rejects file
 * is moved aside first, so that what fails again is written to a new one;
 * once every group ran, the old file is removed (or put back when a run
 * failed). */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct group {
    char *pipeline, *step, *tmp;
    FILE *fp;
    size_t n;
} group;

static group *group_for(group **g, size_t *n, const char *pipeline, const char *step)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*g)[i].pipeline, pipeline) && !strcmp((*g)[i].step, step))
            return &(*g)[i];
    *g = tm__xrealloc(*g, (*n + 1) * sizeof **g);
    group *x = &(*g)[(*n)++];
    memset(x, 0, sizeof *x);
    x->pipeline = tm__xstrdup(pipeline);
    x->step = tm__xstrdup(step);
    return x;
}

/* Sorts the records into one temporary JSONL file per group, meta.reject
 * removed. 0, or an exit code with the reason logged. */
static int read_records(const char *path, group **groups, size_t *n_groups)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        tm__log(TM_LOG_ERROR, NULL, "%s: %s", path, strerror(errno));
        return TM_EXIT_INPUT;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        cJSON *rec = cJSON_ParseWithLength(line, (size_t)len);
        cJSON *meta = rec ? cJSON_GetObjectItemCaseSensitive(rec, "meta") : NULL;
        cJSON *rej = meta ? cJSON_GetObjectItemCaseSensitive(meta, "reject") : NULL;
        const char *pl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "pipeline"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rej, "step"));
        if (!pl || !st) {
            tm__log(TM_LOG_ERROR, NULL, "%s:%zu: not a textmill reject record (it has no "
                    "meta.reject with the pipeline and the step)", path, lineno);
            rc = TM_EXIT_INPUT;
        } else {
            group *g = group_for(groups, n_groups, pl, st);
            if (!g->fp) {
                g->tmp = tm__xasprintf("%s.replay-%ld-%zu.jsonl", path, (long)getpid(),
                                       *n_groups);
                if (!(g->fp = fopen(g->tmp, "w"))) {
                    tm__log(TM_LOG_ERROR, NULL, "%s: %s", g->tmp, strerror(errno));
                    rc = TM_EXIT_INPUT;
                }
            }
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "reject");
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
    fclose(f);
    for (size_t i = 0; i < *n_groups; i++)
        if ((*groups)[i].fp && fclose((*groups)[i].fp) != 0 && !rc) {
            tm__log(TM_LOG_ERROR, NULL, "%s: %s", (*groups)[i].tmp, strerror(errno));
            rc = TM_EXIT_INPUT;
        }
    for (size_t i = 0; i < *n_groups; i++)
        (*groups)[i].fp = NULL;
    return rc;
}

/* The pipeline from `step` on, reading the group's records. */
static int run_group(const group *g, const tm_override *ov, size_t n_ov, const tm_run_opts *o)
{
    char *err = NULL;
    tm_pipeline *p = tm__pipeline_parse(g->pipeline, ov, n_ov, &err);
    if (!p) {
        tm__log(TM_LOG_ERROR, NULL, "%s", err);
        free(err);
        return TM_EXIT_CONFIG;
    }
    size_t at = 0;
    for (size_t i = 1; i < p->n_steps && !at; i++)
        if (p->steps[i].role == TM_ROLE_STAGE && !strcmp(p->steps[i].name, g->step))
            at = i;
    if (!at) {
        tm__log(TM_LOG_ERROR, NULL, "%s: no stage named '%s' (the pipeline changed since "
                "the documents were rejected?)", g->pipeline, g->step);
        tm__pipeline_free(p);
        return TM_EXIT_CONFIG;
    }
    tm_step src;
    char *q = tm__yaml_quote(g->tmp);
    char *yaml = tm__xasprintf("{use: jsonl, with: {paths: [%s]}}", q);
    err = tm__pipeline_host_step(p, yaml, TM_ROLE_SOURCE, "replay", &src);
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

int tm__replay(const char *path, const tm_override *ov, size_t n_ov, const tm_run_opts *o)
{
    group *groups = NULL;
    size_t n_groups = 0;
    int rc = read_records(path, &groups, &n_groups);
    char *aside = tm__xasprintf("%s.replaying-%ld", path, (long)getpid());
    if (!rc && !n_groups) {
        tm__log(TM_LOG_INFO, NULL, "%s: no records to replay", path);
    } else if (!rc && rename(path, aside) != 0) {
        tm__log(TM_LOG_ERROR, NULL, "%s: cannot move it aside: %s", path, strerror(errno));
        rc = TM_EXIT_INPUT;
    } else if (!rc) {
        /* what fails again goes to a new rejects file, never the one read */
        int worst = 0;
        size_t n_records = 0;
        for (size_t i = 0; i < n_groups; i++) {
            n_records += groups[i].n;
            tm__log(TM_LOG_INFO, NULL, "replaying %zu document%s through %s from stage '%s'",
                    groups[i].n, groups[i].n == 1 ? "" : "s", groups[i].pipeline,
                    groups[i].step);
            int g = run_group(&groups[i], ov, n_ov, o);
            if (g && g != TM_EXIT_REJECTS && !worst)
                worst = g;
            else if (g == TM_EXIT_REJECTS && !worst)
                worst = -1;
        }
        if (worst > 0) {
            rc = worst;
            /* put the records back, unless a new rejects file took the place */
            if (access(path, F_OK) != 0 && rename(aside, path) == 0)
                tm__log(TM_LOG_ERROR, NULL, "replay failed: %s is as it was", path);
            else
                tm__log(TM_LOG_ERROR, NULL, "replay failed: the records read are kept in %s",
                        aside);
        } else {
            unlink(aside);
            rc = worst < 0 ? TM_EXIT_REJECTS : TM_EXIT_OK;
            tm__log(TM_LOG_INFO, NULL, "replayed %zu record%s from %s%s", n_records,
                    n_records == 1 ? "" : "s", path,
                    worst < 0 ? "; some failed again and were rejected anew" : "");
        }
    }
    for (size_t i = 0; i < n_groups; i++) {
        if (groups[i].tmp)
            unlink(groups[i].tmp);
        free(groups[i].tmp);
        free(groups[i].pipeline);
        free(groups[i].step);
    }
    free(groups);
    free(aside);
    return rc;
}
