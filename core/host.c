/* The table of host functions handed to every plugin's init(), and the
 * per-instance context behind it: the error message of the last failing
 * call, documents emitted during a call, drop reasons and counters. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

void tm__ctx_init(tm_ctx *c, tm_pipeline *p, tm_step *s)
{
    memset(c, 0, sizeof *c);
    c->pipeline = p;
    c->step = s;
}

static void stats_free(tm_stat_count *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].name);
    free(a);
}

void tm__ctx_free(tm_ctx *c)
{
    for (size_t i = 0; i < c->n_pending; i++)
        tm__doc_free(c->pending[i].doc);
    free(c->pending);
    free(c->error);
    stats_free(c->drops, c->n_drops);
    stats_free(c->counters, c->n_counters);
    memset(c, 0, sizeof *c);
}

void tm__ctx_stat_add(tm_stat_count **arr, size_t *n, const char *name, int64_t delta)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*arr)[i].name, name) == 0) {
            (*arr)[i].n += delta;
            return;
        }
    }
    *arr = tm__xrealloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[*n].name = tm__xstrdup(name);
    (*arr)[*n].n = delta;
    (*n)++;
}

void tm__ctx_settle(tm_ctx *c, tm_batch *b)
{
    size_t total = b->n + c->n_pending;
    tm_doc **out = tm__xcalloc(total ? total : 1, sizeof *out);
    size_t n = 0;
    bool *used = c->n_pending ? tm__xcalloc(c->n_pending, sizeof *used) : NULL;
    bool anchored = false; /* most emits go to the end: skip the search then */
    for (size_t k = 0; k < c->n_pending && !anchored; k++)
        anchored = c->pending[k].after != NULL;
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        out[n++] = d;
        for (size_t k = 0; anchored && k < c->n_pending; k++) {
            if (!used[k] && c->pending[k].after == d) {
                out[n++] = c->pending[k].doc;
                used[k] = true;
            }
        }
    }
    for (size_t k = 0; k < c->n_pending; k++)
        if (!used[k])
            out[n++] = c->pending[k].doc;
    free(used);
    c->n_pending = 0;
    /* remove dropped documents, counted by reason */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        tm_idoc *d = (tm_idoc *)out[i];
        if (d->detached) {
            d->detached = false; /* the plugin owns it now */
            d->held = true;
        } else if (d->drop_reason) {
            tm__ctx_stat_add(&c->drops, &c->n_drops, d->drop_reason, 1);
            tm__doc_free(out[i]);
        } else {
            d->held = false; /* back in the flow */
            out[kept++] = out[i];
        }
    }
    free(b->docs);
    b->docs = out;
    b->n = kept;
}

/* ---- the host functions ------------------------------------------------------ */

static void *h_alloc(size_t n) { return malloc(n ? n : 1); }
static void *h_realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }
static void h_free(void *p) { free(p); }

static void h_log(tm_ctx *ctx, int level, const char *fmt, ...)
{
    char who[256];
    if (ctx)
        snprintf(who, sizeof who, "%s '%s'", tm__role_name(ctx->step->role), ctx->step->name);
    va_list ap;
    va_start(ap, fmt);
    tm__vlog(level, ctx ? who : NULL, fmt, ap);
    va_end(ap);
}

static int h_error(tm_ctx *ctx, const char *fmt, ...)
{
    if (!ctx)
        return TM_ERR;
    va_list ap;
    va_start(ap, fmt);
    char *m = tm__xvasprintf(fmt, ap);
    va_end(ap);
    free(ctx->error);
    ctx->error = m;
    return TM_ERR;
}

static tm_doc *h_doc_new_take(tm_ctx *ctx, const char *id, size_t id_len, char *text,
                              size_t text_len)
{
    if (!ctx || !id || !text) {
        free(text);
        return NULL;
    }
    text[text_len] = 0;
    char *fixed_id = NULL;
    size_t bad_id = 0;
    if (tm__utf8_valid_prefix(id, id_len) != id_len) {
        fixed_id = tm__utf8_repair(id, id_len, &id_len, &bad_id);
        id = fixed_id;
    }
    if (tm__utf8_valid_prefix(text, text_len) != text_len) {
        size_t bad = 0, len = 0;
        char *fixed = tm__utf8_repair(text, text_len, &len, &bad);
        switch (ctx->pipeline ? ctx->pipeline->invalid_utf8 : TM_UTF8_REPAIR) {
        case TM_UTF8_REPAIR:
            h_log(ctx, TM_LOG_WARN,
                  "%.*s: %zu invalid UTF-8 sequence%s replaced with U+FFFD "
                  "(invalid_utf8: repair)",
                  (int)id_len, id, bad, bad == 1 ? "" : "s");
            free(text);
            text = fixed;
            text_len = len;
            ctx->utf8_repaired++;
            break;
        case TM_UTF8_SKIP:
            h_log(ctx, TM_LOG_WARN, "%.*s: skipped: invalid UTF-8 (invalid_utf8: skip)",
                  (int)id_len, id);
            free(fixed);
            free(text);
            free(fixed_id);
            ctx->utf8_rejected++;
            return NULL;
        case TM_UTF8_FAIL:
            h_log(ctx, TM_LOG_ERROR,
                  "%.*s: invalid UTF-8 at byte %zu (invalid_utf8: fail stops the run)",
                  (int)id_len, id, tm__utf8_valid_prefix(text, text_len));
            free(fixed);
            free(text);
            free(fixed_id);
            ctx->utf8_failed = true;
            return NULL;
        }
    }
    tm_idoc *d = tm__doc_new_take(id, id_len, text, text_len);
    free(fixed_id);
    return &d->pub;
}

static tm_doc *h_doc_new(tm_ctx *ctx, const char *id, size_t id_len, const char *text,
                         size_t text_len)
{
    if (!text)
        return NULL;
    return h_doc_new_take(ctx, id, id_len, tm__xstrndup(text, text_len), text_len);
}

static void h_doc_free(tm_doc *d) { tm__doc_free(d); }

static int h_emit_take(tm_ctx *ctx, tm_doc *doc, const tm_doc *after)
{
    if (!ctx || !doc)
        return TM_EINVAL;
    if (ctx->n_pending == ctx->cap_pending) {
        ctx->cap_pending = ctx->cap_pending ? 2 * ctx->cap_pending : 64;
        ctx->pending = tm__xrealloc(ctx->pending, ctx->cap_pending * sizeof *ctx->pending);
    }
    ctx->pending[ctx->n_pending].doc = doc;
    ctx->pending[ctx->n_pending].after = after;
    ctx->n_pending++;
    ctx->emitted_bytes += doc->text_len;
    return TM_OK;
}

static int h_drop(tm_ctx *ctx, tm_doc *doc, const char *reason)
{
    if (!ctx || !doc)
        return TM_EINVAL;
    tm_idoc *d = (tm_idoc *)doc;
    free(d->drop_reason);
    d->drop_reason = tm__xstrdup(reason && *reason ? reason : "dropped");
    return TM_OK;
}

static bool on_boundary(const tm_doc *d, size_t off)
{
    return off >= d->text_len || ((unsigned char)d->text[off] & 0xC0) != 0x80;
}

static int h_annotate(tm_ctx *ctx, tm_doc *doc, const tm_annotation *a)
{
    if (!ctx || !doc || !a)
        return TM_EINVAL;
    if (a->end > doc->text_len || a->start > a->end || !on_boundary(doc, a->start) ||
        !on_boundary(doc, a->end))
        return TM_EINVAL;
    /* a stage name carried by the annotation (read back from JSONL) is kept */
    return tm__doc_annotate(doc, a, a->stage && *a->stage ? a->stage : ctx->step->name);
}

static int h_replace_text(tm_ctx *ctx, tm_doc *doc, const char *text, size_t len,
                          const tm_edit *edits, size_t n_edits)
{
    if (!ctx || !doc || !text)
        return TM_EINVAL;
    /* say why, or the run can only report "no reason given" */
    size_t valid = tm__utf8_valid_prefix(text, len);
    if (valid != len) {
        h_error(ctx, "document %.*s: replace_text: the new text is not valid UTF-8 (byte %zu)",
                (int)doc->id_len, doc->id, valid);
        return TM_EINVAL;
    }
    size_t lost = 0;
    int rc = tm__doc_replace_text(doc, text, len, edits, n_edits, &lost);
    if (rc == TM_EINVAL)
        h_error(ctx, "document %.*s: replace_text: the edits do not map the old text (%zu "
                "bytes) onto the new (%zu bytes): they must be in order, not overlap, and "
                "leave equal lengths unchanged between them", (int)doc->id_len, doc->id,
                doc->text_len, len);
    if (rc == TM_OK && lost) {
        pthread_mutex_lock(&ctx_lock);
        tm__ctx_stat_add(&ctx->counters, &ctx->n_counters, "annotations_lost", (int64_t)lost);
        pthread_mutex_unlock(&ctx_lock);
    }
    return rc;
}

static const tm_meta *h_meta_get(const tm_doc *doc, const char *key)
{
    return doc && key ? tm__doc_meta_get(doc, key) : NULL;
}

static int h_meta_set(tm_ctx *ctx, tm_doc *doc, const char *key, tm_meta_type type,
                      const char *value, size_t len)
{
    (void)ctx;
    if (!doc || !key || tm__utf8_valid_prefix(key, strlen(key)) != strlen(key))
        return TM_EINVAL;
    if (type == TM_META_STRING && tm__utf8_valid_prefix(value, len) != len)
        return TM_EINVAL;
    if (type == TM_META_NUMBER || type == TM_META_JSON) {
        /* raw JSON goes verbatim into the output: it must parse */
        cJSON *j = value ? cJSON_ParseWithLength(value, len) : NULL;
        bool ok = j && (type == TM_META_NUMBER ? cJSON_IsNumber(j)
                                               : cJSON_IsArray(j) || cJSON_IsObject(j));
        cJSON_Delete(j);
        if (!ok)
            return TM_EINVAL;
    }
    if (type == TM_META_BOOL &&
        !(value && ((len == 4 && !memcmp(value, "true", 4)) ||
                    (len == 5 && !memcmp(value, "false", 5)))))
        return TM_EINVAL;
    return tm__doc_meta_set(doc, key, type, value, len);
}

static void h_count(tm_ctx *ctx, const char *counter, int64_t delta)
{
    if (!ctx || !counter)
        return;
    pthread_mutex_lock(&ctx_lock);
    tm__ctx_stat_add(&ctx->counters, &ctx->n_counters, counter, delta);
    pthread_mutex_unlock(&ctx_lock);
}

static int h_detach(tm_ctx *ctx, tm_doc *doc)
{
    if (!ctx || !doc || !ctx->batch)
        return TM_EINVAL;
    for (size_t i = 0; i < ctx->batch->n; i++) {
        if (ctx->batch->docs[i] == doc) {
            ((tm_idoc *)doc)->detached = true;
            return TM_OK;
        }
    }
    return TM_EINVAL;
}

static int h_read_file(tm_ctx *ctx, const char *path, int64_t max_bytes, char **buf,
                       size_t *len)
{
    if (!ctx || !path || !buf || !len)
        return TM_EINVAL;
    return tm__read_file(ctx, path, max_bytes, buf, len);
}

static const char *h_state_dir(tm_ctx *ctx)
{
    return ctx && ctx->pipeline ? ctx->pipeline->state_dir : NULL;
}

static const char *h_instance_name(tm_ctx *ctx) { return ctx ? ctx->step->name : NULL; }

static int h_expand_paths(tm_ctx *ctx, const tm_strlist *patterns, tm_strlist *out)
{
    if (!ctx || !patterns || !out)
        return TM_EINVAL;
    return tm__expand_paths(ctx, patterns, out);
}

static char *h_run_stats(tm_ctx *ctx)
{
    if (!ctx || !ctx->all)
        return NULL;
    return tm__stats_json(ctx->all, ctx->pipeline->n_steps);
}

static int h_input_done(tm_ctx *ctx, const char *path)
{
    if (!ctx || !path)
        return TM_EINVAL;
    /* the document emitted last ends an input: a run stopping by a signal
     * may stop after it */
    if (ctx->n_pending)
        ((tm_idoc *)ctx->pending[ctx->n_pending - 1].doc)->input_end = true;
    else
        ctx->input_ended_before = true; /* at the end of the previous call's documents */
    if (!ctx->ledger)
        return TM_OK;
    return tm__ledger_input_done(ctx->ledger, path) == 0 ? TM_OK : TM_EINVAL;
}

static const char *h_state_get(tm_ctx *ctx, const char *key)
{
    if (!ctx || !key || !ctx->ledger)
        return NULL;
    return tm__ledger_get(ctx->ledger, ctx->step->name, key);
}

static int h_state_set(tm_ctx *ctx, const char *key, const char *value)
{
    if (!ctx || !key || !*key)
        return TM_EINVAL;
    if (ctx->ledger)
        tm__ledger_set(ctx->ledger, ctx->step->name, key, value);
    return TM_OK;
}

/* A clock read against the deadline the runner sets around a call of a stage
 * with a time_budget (runner.c, isolate); 0 when there is none. */
static int h_expired(tm_ctx *ctx)
{
    return ctx && ctx->deadline > 0 && tm__now() >= ctx->deadline;
}

const tm_host tm__host = {
    .size = sizeof(tm_host),
    .abi_minor = TM_ABI_MINOR,
    .alloc = h_alloc,
    .realloc = h_realloc,
    .free = h_free,
    .log = h_log,
    .error = h_error,
    .doc_new = h_doc_new,
    .doc_new_take = h_doc_new_take,
    .doc_free = h_doc_free,
    .emit_take = h_emit_take,
    .drop = h_drop,
    .annotate = h_annotate,
    .replace_text = h_replace_text,
    .meta_get = h_meta_get,
    .meta_set = h_meta_set,
    .count = h_count,
    .state_dir = h_state_dir,
    .instance_name = h_instance_name,
    .expand_paths = h_expand_paths,
    .strlist_free = tm__strlist_free,
    .detach = h_detach,
    .read_file = h_read_file,
    .run_stats = h_run_stats,
    .input_done = h_input_done,
    .state_get = h_state_get,
    .state_set = h_state_set,
    .expired = h_expired,
};
