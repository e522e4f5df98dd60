/* The run's numbers: per step, documents and bytes in and out, time, drops by
 * reason and the plugin's own counters. Printed as a table by --stats and
 * handed to plugins as JSON by host->run_stats (the report sink). */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <time.h>

static int64_t dropped_of(const tm_ctx *c)
{
    int64_t n = 0;
    for (size_t k = 0; k < c->n_drops; k++)
        n += c->drops[k].n;
    return n;
}

void tm__stats_print(const tm_ctx *all, size_t n)
{
    fprintf(stderr, "%-24s %-10s %10s %10s %10s %9s\n", "step", "plugin", "in", "out",
            "dropped", "seconds");
    for (size_t i = 0; i < n; i++) {
        const tm_ctx *c = &all[i];
        char label[64];
        snprintf(label, sizeof label, "%s (%s)", c->step->name, tm__role_name(c->step->role));
        if (c->step->role == TM_ROLE_SOURCE)
            fprintf(stderr, "%-24s %-10s %10s %10lld %10lld %9.3f\n", label,
                    c->step->plugin.desc->name, "-", (long long)c->docs_out,
                    (long long)(c->utf8_rejected), c->seconds);
        else
            fprintf(stderr, "%-24s %-10s %10lld %10lld %10lld %9.3f\n", label,
                    c->step->plugin.desc->name, (long long)c->docs_in, (long long)c->docs_out,
                    (long long)dropped_of(c), c->seconds);
        for (size_t k = 0; k < c->n_drops; k++)
            fprintf(stderr, "    dropped %-20s %lld\n", c->drops[k].name,
                    (long long)c->drops[k].n);
        if (c->utf8_repaired)
            fprintf(stderr, "    utf8 repaired         %lld\n", (long long)c->utf8_repaired);
        for (size_t k = 0; k < c->n_counters; k++)
            fprintf(stderr, "    %-28s %lld\n", c->counters[k].name,
                    (long long)c->counters[k].n);
    }
}

static cJSON *counts(const tm_stat_count *a, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t k = 0; o && k < n; k++)
        cJSON_AddNumberToObject(o, a[k].name, (double)a[k].n);
    return o;
}

/* The run's numbers as a cJSON tree (NULL when memory runs out). */
static cJSON *stats_tree(const tm_ctx *all, size_t n)
{
    if (!n)
        return NULL;
    const tm_pipeline *p = all[0].pipeline;
    const tm_run_clock *clk = all[0].clock;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "pipeline", p->name ? p->name : "");
    cJSON_AddStringToObject(root, "file", p->file ? p->file : "");
    if (clk) {
        char when[32];
        tm__utc_iso((time_t)clk->started, when);
        cJSON_AddStringToObject(root, "started", when);
        cJSON_AddNumberToObject(root, "seconds", tm__now() - clk->t0);
    }
    cJSON *steps = cJSON_AddArrayToObject(root, "steps");
    for (size_t i = 0; steps && i < n; i++) {
        const tm_ctx *c = &all[i];
        cJSON *s = cJSON_CreateObject();
        if (!s)
            break;
        cJSON_AddItemToArray(steps, s);
        cJSON_AddStringToObject(s, "name", c->step->name);
        cJSON_AddStringToObject(s, "plugin", c->step->plugin.desc->name);
        cJSON_AddStringToObject(s, "role", tm__role_name(c->step->role));
        if (c->step->role != TM_ROLE_SOURCE)
            cJSON_AddNumberToObject(s, "docs_in", (double)c->docs_in);
        cJSON_AddNumberToObject(s, "docs_out", (double)c->docs_out);
        if (c->step->role != TM_ROLE_SOURCE)
            cJSON_AddNumberToObject(s, "bytes_in", (double)c->bytes_in);
        cJSON_AddNumberToObject(s, "bytes_out", (double)c->bytes_out);
        cJSON_AddNumberToObject(s, "seconds", c->seconds);
        cJSON_AddNumberToObject(s, "dropped", (double)dropped_of(c));
        cJSON_AddItemToObject(s, "dropped_by_reason", counts(c->drops, c->n_drops));
        cJSON_AddItemToObject(s, "counters", counts(c->counters, c->n_counters));
        if (c->step->role == TM_ROLE_SOURCE) {
            cJSON_AddNumberToObject(s, "utf8_repaired", (double)c->utf8_repaired);
            cJSON_AddNumberToObject(s, "utf8_rejected", (double)c->utf8_rejected);
        }
    }
    return root;
}

char *tm__stats_json(const tm_ctx *all, size_t n)
{
    cJSON *root = stats_tree(all, n);
    char *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

char *tm__manifest_json(const tm_ctx *all, size_t n, const tm_ledger *l, int exit_code)
{
    cJSON *root = stats_tree(all, n);
    if (!root)
        return NULL;
    const tm_pipeline *p = all[0].pipeline;
    char h[17];
    if (p->file && tm__hash_file(p->file, h) == 0)
        cJSON_AddStringToObject(root, "config_hash", h);
    cJSON *plugins = cJSON_AddArrayToObject(root, "plugins");
    for (size_t i = 0; plugins && i < n; i++) {
        const tm_step *s = all[i].step;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(plugins, o);
        cJSON_AddStringToObject(o, "step", s->name);
        cJSON_AddStringToObject(o, "plugin", s->plugin.desc->name);
        cJSON_AddStringToObject(o, "version", s->plugin.desc->version ? s->plugin.desc->version : "");
        cJSON_AddStringToObject(o, "path", s->plugin.path ? s->plugin.path : "");
        if (s->plugin.hash[0])
            cJSON_AddStringToObject(o, "hash", s->plugin.hash);
    }
    if (l) {
        int64_t skipped, read, changed, completed;
        tm__ledger_counts(l, &skipped, &read, &changed, &completed);
        cJSON *in = cJSON_AddObjectToObject(root, "inputs");
        cJSON_AddNumberToObject(in, "skipped", (double)skipped);
        cJSON_AddNumberToObject(in, "read", (double)read);
        cJSON_AddNumberToObject(in, "changed", (double)changed);
        cJSON_AddNumberToObject(in, "completed", (double)completed);
    }
    cJSON_AddNumberToObject(root, "exit_code", exit_code);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
