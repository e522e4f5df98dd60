/* Running a pipeline: init every step, pull batches from the source and push
 * them through the stages into the sinks, flush in order (a stage's held
 * documents still flow through the steps after it), then commit the sinks.
 * On any failure or interruption the sinks are finalised without a flush,
 * so no output file is committed half-written. */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

int tm__interrupted(void) { return interrupted != 0; }
int tm__progress_active;

static void on_signal(int sig)
{
    if (interrupted) {
        /* a second signal: stop at once */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    interrupted = sig;
}

typedef struct run {
    tm_pipeline *p;
    const tm_run_opts *o;
    tm_ctx *ctx;
    void **state;
    bool *inited;
    int64_t docs_read, bytes_read, docs_written;
    tm_run_clock clock;
    tm_ledger *ledger; /* with state: */
    tm_ctx rctx;       /* the rejects sink (pipeline's rejects_step), when there is one */
    void *rstate;
    bool rinited;
    int64_t n_rejected, n_skipped; /* documents a stage failed on (on_error) or a limit rejected */
    int64_t n_over_limit;          /* of n_rejected: over max_doc_bytes or time_budget */
    double t0, last_progress;
    int exit_code;
} run;

static int exit_for(int rc)
{
    switch (rc) {
    case TM_ECONFIG: return TM_EXIT_CONFIG;
    case TM_EINPUT: return TM_EXIT_INPUT;
    case TM_ENOMEM: return TM_EXIT_INTERNAL;
    default: return TM_EXIT_STAGE;
    }
}

static void report_failure(run *r, size_t i, const char *when, int rc)
{
    tm_ctx *c = &r->ctx[i];
    /* a plugin that refuses its configuration points at the step in the
     * file, as the host's own option errors do */
    char where[1024] = "";
    if (rc == TM_ECONFIG && c->step->line > 0)
        snprintf(where, sizeof where, "%s:%d:%d: ", r->p->file, c->step->line, c->step->col);
    tm__log(TM_LOG_ERROR, NULL, "%s%s '%s' (%s) failed %s: %s", where,
            tm__role_name(c->step->role), c->step->name, c->step->plugin.desc->name, when,
            c->error ? c->error : rc == TM_ENOMEM ? "out of memory" : "no reason given");
    if (!r->exit_code)
        r->exit_code = exit_for(rc);
}

static void progress(run *r, bool force)
{
    if (!r->o->progress)
        return;
    double now = tm__now();
    if (!force && now - r->last_progress < 0.1)
        return;
    r->last_progress = now;
    double mb = (double)r->bytes_read / 1e6, dt = now - r->t0;
    int64_t dropped = 0;
    for (size_t i = 0; i < r->p->n_steps; i++)
        for (size_t k = 0; k < r->ctx[i].n_drops; k++)
            dropped += r->ctx[i].drops[k].n;
    fprintf(stderr, "\r%lld docs  %.1f MB  %.1f MB/s  %lld dropped\x1b[K",
            (long long)r->docs_read, mb, dt > 0 ? mb / dt : 0.0, (long long)dropped);
    tm__progress_active = 1;
}

/* For the crash tests (tests/cron/kill_test.py): with TEXTMILL_CRASH_AT set to
 * a point's name the run kills itself there with SIGKILL, so that every step
 * of the commit can be shown to be safe to die in, not only the ones a
 * random kill happens to hit. */
static void crash_point(const char *what, const char *step)
{
    const char *at = getenv("TEXTMILL_CRASH_AT");
    if (!at)
        return;
    size_t n = strlen(what);
    if (!strncmp(at, what, n) && (step ? at[n] == ':' && !strcmp(at + n + 1, step) : !at[n]))
        raise(SIGKILL);
}

static void batch_free(tm_batch *b)
{
    for (size_t k = 0; k < b->n; k++)
        tm__doc_free(b->docs[k]);
    free(b->docs);
    b->docs = NULL;
    b->n = 0;
}

/* Throws away what a failed process() call emitted. */
static void discard_pending(tm_ctx *c)
{
    for (size_t k = 0; k < c->n_pending; k++)
        tm__doc_free(c->pending[k].doc);
    c->n_pending = 0;
}

/* Too many documents failed? max_rejects as a count is checked as they fail,
 * as a share of the documents read at the end of the reading. */
static bool over_threshold(run *r, bool at_end)
{
    const tm_pipeline *p = r->p;
    int64_t bad = r->n_rejected + r->n_skipped;
    if (!p->has_max_rejects || !bad)
        return false;
    if (!p->max_rejects_pct)
        return (double)bad > p->max_rejects;
    return at_end && r->docs_read > 0 && 100.0 * (double)bad / (double)r->docs_read > p->max_rejects;
}

/* Writes a document a stage failed on to the rejects file, as it entered
 * that stage, with meta.reject saying where and why. Takes the document. */
static int reject(run *r, tm_ctx *c, tm_doc *doc, const char *why)
{
    tm_buf j = {0};
    char when[32];
    tm__utc_iso(time(NULL), when);
    tm__buf_adds(&j, "{\"step\":");
    tm__buf_json_str(&j, c->step->name, strlen(c->step->name));
    tm__buf_adds(&j, ",\"plugin\":");
    tm__buf_json_str(&j, c->step->plugin.desc->name, strlen(c->step->plugin.desc->name));
    tm__buf_adds(&j, ",\"reason\":");
    tm__buf_json_str(&j, why, strlen(why));
    /* absolute, so that `textmill replay` finds it from anywhere */
    char *abs = realpath(r->p->file, NULL);
    const char *pf = abs ? abs : r->p->file;
    tm__buf_adds(&j, ",\"pipeline\":");
    tm__buf_json_str(&j, pf, strlen(pf));
    free(abs);
    tm__buf_printf(&j, ",\"time\":\"%s\"", when);
    /* relative paths in the pipeline (state:, outputs) are the working
     * directory's: replay runs from the same one */
    char *cwd = getcwd(NULL, 0);
    if (cwd) {
        tm__buf_adds(&j, ",\"cwd\":");
        tm__buf_json_str(&j, cwd, strlen(cwd));
        free(cwd);
    }
    if (r->ledger)
        tm__buf_printf(&j, ",\"run\":%lld", (long long)tm__ledger_run_id(r->ledger));
    tm__buf_addc(&j, '}');
    tm__doc_meta_set(doc, "reject", TM_META_JSON, j.data, j.len);
    tm__buf_free(&j);
    tm_doc *one[1] = {doc};
    tm_batch b = {one, 1, 0};
    r->rctx.batch = &b;
    int rc = r->p->rejects_step->plugin.desc->process(r->rstate, &r->rctx, &b);
    r->rctx.batch = NULL;
    discard_pending(&r->rctx);
    tm__doc_free(doc);
    if (rc < 0) {
        tm__log(TM_LOG_ERROR, NULL, "rejects: cannot write to %s: %s", r->p->rejects,
                r->rctx.error ? r->rctx.error : "no reason given");
        return rc;
    }
    r->rctx.docs_in++;
    return TM_OK;
}

/* Can a failed call be undone by throwing away what it did? Not when the
 * stage took documents to hold (detach) or handed back documents it held
 * from earlier batches: those are not among the copies taken before the call. */
static bool undoable(const tm_ctx *c, const tm_batch *b)
{
    for (size_t k = 0; k < c->n_pending; k++)
        if (((const tm_idoc *)c->pending[k].doc)->held)
            return false;
    for (size_t k = 0; k < b->n; k++)
        if (((const tm_idoc *)b->docs[k])->detached)
            return false;
    return true;
}

/* Throws away what an undoable failed call did: its emits, its batch. */
static void undo_call(tm_ctx *c, tm_batch *b)
{
    discard_pending(c);
    for (size_t k = 0; k < b->n; k++)
        tm__doc_free(b->docs[k]);
    b->n = 0;
}

static void cannot_isolate(run *r, tm_ctx *c)
{
    tm__log(TM_LOG_ERROR, NULL, "stage '%s' failed while it held documents back or handed "
            "held ones on, so its failure cannot be narrowed to one document (on_error works "
            "for stages that finish each batch within the call): %s", c->step->name,
            c->error ? c->error : "no reason given");
    r->exit_code = TM_EXIT_STAGE;
}

/* A document a stage failed on, or one over a limit: skipped or written to
 * the rejects file (which takes it), counted as dropped, and held against
 * max_rejects (the run fails when there are too many). */
static void fail_doc(run *r, tm_ctx *c, tm_doc *doc, const char *why, bool skip)
{
    tm__ctx_stat_add(&c->drops, &c->n_drops, skip ? "error" : "rejected", 1);
    if (skip) {
        r->n_skipped++;
        tm__doc_free(doc);
    } else {
        r->n_rejected++;
        if (reject(r, c, doc, why) < 0 && !r->exit_code)
            r->exit_code = TM_EXIT_STAGE;
    }
    if (!r->exit_code && over_threshold(r, false)) {
        tm__log(TM_LOG_ERROR, NULL, "%lld documents failed, more than max_rejects (%g): "
                "the run fails", (long long)(r->n_rejected + r->n_skipped),
                r->p->max_rejects);
        r->exit_code = TM_EXIT_STAGE;
    }
}

/* "250 ms", "3.2 s": a duration in messages (exact for a configured one). */
static const char *duration(char *buf, size_t n, double s, bool exact)
{
    if (s < 1)
        snprintf(buf, n, exact ? "%g ms" : "%.0f ms", s * 1e3);
    else
        snprintf(buf, n, exact ? "%g s" : "%.1f s", s);
    return buf;
}

/* max_doc_bytes: documents whose text is longer leave the batch for the
 * rejects file before the stage sees them. */
static void reject_oversized(run *r, size_t i, tm_batch *b)
{
    tm_ctx *c = &r->ctx[i];
    int64_t max = c->step->max_doc_bytes;
    size_t kept = 0;
    for (size_t k = 0; k < b->n; k++) {
        tm_doc *d = b->docs[k];
        if ((int64_t)d->text_len <= max || r->exit_code) {
            b->docs[kept++] = d;
            continue;
        }
        char *why = tm__xasprintf("document is %zu bytes, more than max_doc_bytes (%lld)",
                                  d->text_len, (long long)max);
        tm__log(TM_LOG_WARN, NULL, "stage '%s': document %s: %s; rejected, see the rejects "
                "file", c->step->name, d->id, why);
        tm__ctx_stat_add(&c->counters, &c->n_counters, "over_max_doc_bytes", 1);
        r->n_over_limit++;
        fail_doc(r, c, d, why, false);
        free(why);
    }
    b->n = kept;
}

/* The documents of a batch go through a stage one at a time, each from a
 * copy of the original taken before the call, so that a call can be undone
 * and the original skipped or rejected; the survivors (and what the stage
 * emits for them) end up in `out`. Frees `snap` and its documents. Used
 *  - when a stage with on_error: skip or reject failed on a batch, to find
 *    the documents it fails on (budget == 0);
 *  - for every batch of a stage with a time_budget (budget > 0): each call
 *    has a deadline (host->expired), and a document whose call runs over it
 *    or gives up (TM_ETIMEDOUT) is rejected. A failure within the budget
 *    follows on_error; with on_error: fail it is returned, for the caller to
 *    report. */
static int isolate(run *r, size_t i, tm_doc **snap, size_t n, tm_batch *out, double budget)
{
    tm_ctx *c = &r->ctx[i];
    const tm_plugin *d = c->step->plugin.desc;
    int rc = TM_OK;
    for (size_t k = 0; k < n; k++) {
        tm_doc *orig = snap[k];
        snap[k] = NULL;
        if (rc < 0 || r->exit_code) {
            tm__doc_free(orig);
            continue;
        }
        tm_batch one = {tm__xcalloc(1, sizeof(tm_doc *)), 1, out->budget_bytes};
        one.docs[0] = &tm__doc_clone(orig)->pub;
        free(c->error);
        c->error = NULL;
        c->batch = &one;
        double t = tm__now();
        c->deadline = budget > 0 ? t + budget : 0;
        int prc = d->process(r->state[i], c, &one);
        double took = tm__now() - t;
        c->seconds += took;
        c->batch = NULL;
        c->deadline = 0;
        bool can_undo = undoable(c, &one);
        bool over = budget > 0 && (took > budget || prc == TM_ETIMEDOUT);
        char tb[32], tt[32];
        /* Throwing the call's output away undoes it only for a stage that
         * keeps nothing between documents (TM_CAP_REENTRANT): dedupe has
         * already indexed the document, and rejecting it would leave later
         * copies dropped as duplicates of a document no output has. */
        if (over && (!can_undo || !(d->caps & TM_CAP_REENTRANT))) {
            /* what it did stays done (a real failure follows on_error below) */
            if (prc >= 0 || prc == TM_ETIMEDOUT) {
                tm__log(TM_LOG_WARN, NULL, "stage '%s' took %s on document %s, more than "
                        "time_budget (%s), but it keeps state between documents, so the "
                        "call cannot be undone: the document goes on", c->step->name,
                        duration(tt, sizeof tt, took, false), orig->id,
                        duration(tb, sizeof tb, budget, true));
                tm__ctx_stat_add(&c->counters, &c->n_counters, "over_time_budget_kept", 1);
                prc = TM_OK;
            }
            over = false;
        }
        if (prc >= 0 && !over) {
            tm__ctx_settle(c, &one);
            out->docs = tm__xrealloc(out->docs, (out->n + one.n + 1) * sizeof *out->docs);
            memcpy(out->docs + out->n, one.docs, one.n * sizeof *one.docs);
            out->n += one.n;
            free(one.docs);
            tm__doc_free(orig);
            continue;
        }
        if (over) {
            undo_call(c, &one);
            free(one.docs);
            char *why = tm__xasprintf("took %s, more than time_budget (%s)",
                                      duration(tt, sizeof tt, took, false),
                                      duration(tb, sizeof tb, budget, true));
            tm__log(TM_LOG_WARN, NULL, "stage '%s': document %s: %s%s%s; rejected, see the "
                    "rejects file", c->step->name, orig->id, why,
                    prc == TM_ETIMEDOUT ? ": " : "",
                    prc == TM_ETIMEDOUT ? (c->error ? c->error : "it gave up") : "");
            tm__ctx_stat_add(&c->counters, &c->n_counters, "over_time_budget", 1);
            r->n_over_limit++;
            fail_doc(r, c, orig, why, false);
            free(why);
            continue;
        }
        /* a failure (within the budget, if any) */
        if (c->step->on_error == TM_ON_ERROR_FAIL || !can_undo) {
            if (c->step->on_error != TM_ON_ERROR_FAIL)
                cannot_isolate(r, c);
            tm__ctx_settle(c, &one); /* the batch as the stage left it, then freed */
            batch_free(&one);
            tm__doc_free(orig);
            rc = c->step->on_error == TM_ON_ERROR_FAIL ? prc : TM_ERR;
            continue;
        }
        undo_call(c, &one);
        free(one.docs);
        const char *why = c->error ? c->error : prc == TM_ENOMEM ? "out of memory" : "no reason given";
        bool skip = c->step->on_error == TM_ON_ERROR_SKIP;
        tm__log(TM_LOG_WARN, NULL, "stage '%s' failed on document %s: %s; %s", c->step->name,
                orig->id, why, skip ? "skipped (on_error: skip)" : "rejected, see the rejects file");
        fail_doc(r, c, orig, why, skip);
    }
    free(snap);
    return r->exit_code ? TM_ERR : rc;
}

/* ---- worker threads ----------------------------------------------------------- */

/* Threads a stage runs on: its own workers:, else the pipeline's, for a
 * reentrant plugin; 1 for any other. */
static int workers_of(const run *r, const tm_step *s)
{
    if (!(s->plugin.desc->caps & TM_CAP_REENTRANT) || s->role != TM_ROLE_STAGE)
        return 1;
    int n = s->workers ? s->workers : r->p->workers;
    return n > 1 ? n : 1;
}

typedef struct part {
    tm_ctx ctx; /* a copy of the step's context: its own pending, error, counters */
    tm_batch b;
    void *state;
    const tm_plugin *d;
    int rc;
} part;

static void *part_run(void *arg)
{
    part *pt = arg;
    pt->ctx.batch = &pt->b;
    pt->rc = pt->d->process(pt->state, &pt->ctx, &pt->b);
    pt->ctx.batch = NULL;
    return NULL;
}

/* One process() call of a reentrant stage, on n threads: the batch is cut
 * into n runs of about equal text, one per thread, and the results are put
 * back in order, so the output is the one thread's, document for document.
 * What the parts emitted and dropped is settled here; their counters, drops
 * and errors go to the step's context. Returns the first failure. */
static int process_parallel(run *r, size_t i, tm_batch *b, int n)
{
    tm_ctx *c = &r->ctx[i];
    if ((size_t)n > b->n)
        n = (int)b->n;
    part *pt = tm__xcalloc((size_t)n, sizeof *pt);
    size_t total = 0, cum = 0, start = 0;
    for (size_t k = 0; k < b->n; k++)
        total += b->docs[k]->text_len + 1;
    for (int w = 0; w < n; w++) {
        /* at least one document each; about total/n bytes of text each */
        size_t want = total * (size_t)(w + 1) / (size_t)n, left = (size_t)(n - 1 - w);
        size_t at = start;
        cum += b->docs[at++]->text_len + 1;
        while (at < b->n - left && (cum < want || w == n - 1))
            cum += b->docs[at++]->text_len + 1;
        pt[w].ctx = *c;
        pt[w].ctx.pending = NULL;
        pt[w].ctx.n_pending = pt[w].ctx.cap_pending = 0;
        pt[w].ctx.error = NULL;
        pt[w].ctx.drops = pt[w].ctx.counters = NULL;
        pt[w].ctx.n_drops = pt[w].ctx.n_counters = 0;
        pt[w].b.docs = tm__xcalloc(at - start + 1, sizeof *b->docs);
        memcpy(pt[w].b.docs, b->docs + start, (at - start) * sizeof *b->docs);
        pt[w].b.n = at - start;
        pt[w].b.budget_bytes = b->budget_bytes;
        pt[w].state = r->state[i];
        pt[w].d = c->step->plugin.desc;
        start = at;
    }
    pthread_t *th = tm__xcalloc((size_t)n, sizeof *th);
    bool *started = tm__xcalloc((size_t)n, sizeof *started);
    for (int w = 1; w < n; w++)
        started[w] = pthread_create(&th[w], NULL, part_run, &pt[w]) == 0;
    part_run(&pt[0]);
    for (int w = 1; w < n; w++) {
        if (started[w])
            pthread_join(th[w], NULL);
        else
            part_run(&pt[w]); /* no thread to be had: this one does it */
    }
    free(th);
    free(started);
    int rc = TM_OK;
    b->n = 0;
    for (int w = 0; w < n; w++) {
        tm_ctx *pc = &pt[w].ctx;
        if (pt[w].rc < 0 && rc >= 0) {
            rc = pt[w].rc;
            free(c->error);
            c->error = pc->error ? tm__xstrdup(pc->error) : NULL;
        }
        /* pending emits stay on the step's context for the caller to settle
         * or discard as one call's */
        for (size_t k = 0; k < pc->n_pending; k++) {
            if (c->n_pending == c->cap_pending) {
                c->cap_pending = c->cap_pending ? 2 * c->cap_pending : 64;
                c->pending = tm__xrealloc(c->pending, c->cap_pending * sizeof *c->pending);
            }
            c->pending[c->n_pending++] = pc->pending[k];
        }
        pc->n_pending = 0;
        memcpy(b->docs + b->n, pt[w].b.docs, pt[w].b.n * sizeof *b->docs);
        b->n += pt[w].b.n;
        for (size_t k = 0; k < pc->n_drops; k++)
            tm__ctx_stat_add(&c->drops, &c->n_drops, pc->drops[k].name, pc->drops[k].n);
        for (size_t k = 0; k < pc->n_counters; k++)
            tm__ctx_stat_add(&c->counters, &c->n_counters, pc->counters[k].name,
                             pc->counters[k].n);
        tm__ctx_free(pc); /* its own pending (now empty), error, drops, counters */
        free(pt[w].b.docs);
    }
    free(pt);
    return rc;
}

/* One process() call on the whole batch (on threads for a reentrant stage).
 * A stage allowed to fail per document (on_error) gets copies taken first,
 * so that a failed batch can go through it again one document at a time.
 * Returns the call's result; a failure already reported sets r->exit_code. */
static int process_batch(run *r, size_t i, tm_batch *b)
{
    tm_ctx *c = &r->ctx[i];
    const tm_plugin *d = c->step->plugin.desc;
    tm_doc **snap = NULL;
    size_t n_snap = b->n;
    if (c->step->on_error != TM_ON_ERROR_FAIL) {
        snap = tm__xcalloc(n_snap, sizeof *snap);
        for (size_t k = 0; k < n_snap; k++)
            snap[k] = &tm__doc_clone(b->docs[k])->pub;
    }
    int nw = b->n > 1 ? workers_of(r, c->step) : 1;
    c->batch = b;
    double t = tm__now();
    int rc = nw > 1 ? process_parallel(r, i, b, nw) : d->process(r->state[i], c, b);
    c->seconds += tm__now() - t;
    c->batch = NULL;
    if (d->role == TM_ROLE_SINK) {
        /* every sink sees the same documents; they are freed after the last */
        discard_pending(c);
    } else if (rc < 0 && snap && !undoable(c, b)) {
        tm__ctx_settle(c, b);
        cannot_isolate(r, c);
        rc = TM_OK; /* reported */
    } else if (rc < 0 && snap) {
        undo_call(c, b);
        rc = isolate(r, i, snap, n_snap, b, 0);
        snap = NULL;
    } else {
        tm__ctx_settle(c, b);
    }
    for (size_t k = 0; snap && k < n_snap; k++)
        tm__doc_free(snap[k]);
    free(snap);
    return rc;
}

/* Pushes a batch through steps [from, n). Frees its documents. */
static int push(run *r, tm_batch *b, size_t from)
{
    for (size_t i = from; i < r->p->n_steps && b->n; i++) {
        tm_ctx *c = &r->ctx[i];
        const tm_step *s = c->step;
        c->docs_in += (int64_t)b->n;
        for (size_t k = 0; k < b->n; k++)
            c->bytes_in += (int64_t)b->docs[k]->text_len;
        /* limits (stages only): too long a text is rejected before the call */
        if (s->max_doc_bytes > 0) {
            reject_oversized(r, i, b);
            if (r->exit_code || !b->n)
                break;
        }
        int rc;
        if (s->time_budget > 0) {
            /* one document per call, against the clock: the batch's documents
             * are the originals, each call works on a copy */
            tm_doc **docs = b->docs;
            size_t n = b->n;
            b->docs = NULL;
            b->n = 0;
            rc = isolate(r, i, docs, n, b, s->time_budget);
        } else {
            rc = process_batch(r, i, b);
        }
        if (r->exit_code)
            break; /* the reason is logged */
        if (rc < 0) {
            report_failure(r, i, "while processing", rc);
            break;
        }
        c->docs_out += (int64_t)b->n;
        for (size_t k = 0; k < b->n; k++)
            c->bytes_out += (int64_t)b->docs[k]->text_len;
        if (s->role == TM_ROLE_SINK && i + 1 == r->p->n_steps)
            r->docs_written += (int64_t)b->n;
    }
    batch_free(b);
    return r->exit_code ? -1 : 0;
}

static void run_open(run *r, tm_pipeline *p, const tm_run_opts *o)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->o = o;
    r->ctx = tm__xcalloc(p->n_steps, sizeof *r->ctx);
    r->state = tm__xcalloc(p->n_steps, sizeof *r->state);
    r->inited = tm__xcalloc(p->n_steps, sizeof *r->inited);
    r->t0 = tm__now();
    r->clock.t0 = r->t0;
    r->clock.started = (double)time(NULL);
}

static int run_close(run *r)
{
    for (size_t i = 0; i < r->p->n_steps; i++)
        tm__ctx_free(&r->ctx[i]);
    free(r->ctx);
    free(r->state);
    free(r->inited);
    if (r->p->rejects_step)
        tm__ctx_free(&r->rctx);
    return r->exit_code;
}

static int init_all(run *r)
{
    /* every context first: the run's numbers (and a manifest) read them all,
     * also when a step fails to start */
    for (size_t i = 0; i < r->p->n_steps; i++) {
        tm__ctx_init(&r->ctx[i], r->p, &r->p->steps[i]);
        r->ctx[i].all = r->ctx;
        r->ctx[i].clock = &r->clock;
        r->ctx[i].ledger = r->ledger;
    }
    for (size_t i = 0; i < r->p->n_steps; i++) {
        tm_step *s = &r->p->steps[i];
        const tm_plugin *d = s->plugin.desc;
        if (!d->init)
            continue;
        int rc = d->init(&r->ctx[i], &tm__host, s->config, &r->state[i]);
        if (rc < 0) {
            report_failure(r, i, "to start", rc);
            return -1;
        }
        r->inited[i] = true;
    }
    tm_step *rs = r->p->rejects_step;
    if (rs) {
        tm__ctx_init(&r->rctx, r->p, rs);
        r->rctx.all = r->ctx;
        r->rctx.clock = &r->clock;
        r->rctx.ledger = r->ledger;
        int rc = rs->plugin.desc->init(&r->rctx, &tm__host, rs->config, &r->rstate);
        if (rc < 0) {
            tm__log(TM_LOG_ERROR, NULL, "rejects: %s", r->rctx.error ? r->rctx.error : "cannot start");
            r->exit_code = rc == TM_ECONFIG ? TM_EXIT_CONFIG : TM_EXIT_STAGE;
            return -1;
        }
        r->rinited = true;
    }
    return 0;
}

static void fini_all(run *r)
{
    if (r->rinited && r->p->rejects_step->plugin.desc->fini)
        r->p->rejects_step->plugin.desc->fini(r->rstate);
    r->rinited = false;
    for (size_t i = r->p->n_steps; i-- > 0;) {
        const tm_plugin *d = r->p->steps[i].plugin.desc;
        if (r->inited[i] && d->fini)
            d->fini(r->state[i]);
        r->inited[i] = false;
    }
}

int tm__run(tm_pipeline *p, const tm_run_opts *o)
{
    run r;
    run_open(&r, p, o);
    interrupted = 0;
    bool committing = false, stopping = false;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* a signal must not fail a read or a hash (EINTR) */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    if (p->state_dir && o->limit > 0) {
        /* an input cut short would be committed in part and read again whole */
        tm__log(TM_LOG_ERROR, NULL, "%s: --limit cannot be used with state: (it would commit "
                "inputs in part); try the pipeline without state: first", p->file);
        r.exit_code = TM_EXIT_CONFIG;
        return run_close(&r);
    }
    if (p->state_dir) {
        char *err = NULL;
        int rc = tm__ledger_open(p->state_dir, o->wait, &r.ledger, &err);
        if (!rc && tm__ledger_run_begin(r.ledger, &err) != 0)
            rc = TM_EXIT_STAGE; /* the ledger could not be written (disk full, I/O) */
        if (rc) { /* nothing ran: no summary, no manifest */
            tm__log(TM_LOG_ERROR, NULL, "%s: %s", p->file, err);
            free(err);
            tm__ledger_close(r.ledger);
            sigaction(SIGINT, &old_int, NULL);
            sigaction(SIGTERM, &old_term, NULL);
            r.exit_code = rc;
            return run_close(&r);
        }
    }
    if (init_all(&r) != 0)
        goto done;

    tm_ctx *sc = &r.ctx[0];
    const tm_plugin *src = p->steps[0].plugin.desc;
    /* partial: documents of an input not read to its end were pushed on */
    bool more = true, limited = false, partial = false;
    while (more) {
        /* A signal: without state, stop now and commit nothing. With state,
         * stop where an input ends (no input is committed half-done), then
         * flush and commit what was read; the next run reads the rest. */
        if (interrupted && (!r.ledger || !partial))
            break;
        tm_batch b = {NULL, 0, (size_t)p->batch_bytes};
        sc->batch = &b;
        sc->emitted_bytes = 0;
        sc->input_ended_before = false;
        double t = tm__now();
        int rc = src->process(r.state[0], sc, &b);
        sc->seconds += tm__now() - t;
        sc->batch = NULL;
        tm__ctx_settle(sc, &b);
        if (o->limit > 0 && r.docs_read + (int64_t)b.n >= o->limit) {
            size_t keep = (size_t)(o->limit - r.docs_read);
            for (size_t k = keep; k < b.n; k++)
                tm__doc_free(b.docs[k]);
            b.n = keep;
            more = false;
            limited = true;
        }
        if (interrupted && r.ledger && rc >= 0) {
            /* documents after the last one that ended an input (host->
             * input_done) belong to an input this run will not finish */
            size_t end = b.n;
            while (end > 0 && !((tm_idoc *)b.docs[end - 1])->input_end)
                end--;
            if (end > 0 || !partial || sc->input_ended_before) {
                for (size_t k = end; k < b.n; k++)
                    tm__doc_free(b.docs[k]);
                b.n = end;
                more = false;
            }
        }
        r.docs_read += (int64_t)b.n;
        sc->docs_out += (int64_t)b.n;
        for (size_t k = 0; k < b.n; k++) {
            r.bytes_read += (int64_t)b.docs[k]->text_len;
            sc->bytes_out += (int64_t)b.docs[k]->text_len;
        }
        if (sc->utf8_failed && !r.exit_code)
            r.exit_code = TM_EXIT_INPUT;
        if (rc < 0)
            report_failure(&r, 0, "while reading", rc);
        if (r.exit_code) {
            batch_free(&b);
            goto done;
        }
        if (rc == TM_END) {
            more = false;
            if (r.ledger && !limited) /* every input was read to its end */
                tm__ledger_all_done(r.ledger);
        }
        if (b.n)
            partial = !((tm_idoc *)b.docs[b.n - 1])->input_end;
        if (push(&r, &b, 1) != 0)
            goto done;
        progress(&r, false);
    }
    if (interrupted && !r.ledger)
        goto done;
    int64_t skipped = 0, n_read = 0, n_changed = 0, n_completed = 0;
    if (r.ledger)
        tm__ledger_counts(r.ledger, &skipped, &n_read, &n_changed, &n_completed);
    if (r.docs_read == 0 && r.ledger && skipped > 0 && !interrupted) {
        tm__log(TM_LOG_INFO, NULL, "%s: nothing new: every input was completed by an earlier "
                "run", p->name);
    } else if (r.docs_read == 0 && !interrupted) {
        tm__log(TM_LOG_ERROR, NULL, "%s: no input: source '%s' read no documents",
                p->file, p->steps[0].name);
        r.exit_code = TM_EXIT_INPUT;
        goto done;
    }
    /* flush in order: what a stage releases flows through the rest */
    for (size_t i = 1; i < p->n_steps; i++) {
        tm_ctx *c = &r.ctx[i];
        const tm_plugin *d = p->steps[i].plugin.desc;
        if (!d->flush) {
            crash_point("flush", p->steps[i].name);
            continue;
        }
        tm_batch b = {NULL, 0, (size_t)p->batch_bytes};
        c->batch = &b;
        double t = tm__now();
        int rc = d->flush(r.state[i], c);
        c->seconds += tm__now() - t;
        c->batch = NULL;
        tm__ctx_settle(c, &b);
        c->docs_out += (int64_t)b.n;
        for (size_t k = 0; k < b.n; k++)
            c->bytes_out += (int64_t)b.docs[k]->text_len;
        if (rc < 0) {
            report_failure(&r, i, d->role == TM_ROLE_SINK ? "to commit its output" : "to flush",
                           rc);
            batch_free(&b);
            goto done;
        }
        if (push(&r, &b, i + 1) != 0)
            goto done;
        crash_point("flush", p->steps[i].name);
        if (interrupted && !r.ledger) /* nothing is committed yet: fini removes it */
            goto done;
    }

    if (over_threshold(&r, true)) {
        tm__log(TM_LOG_ERROR, NULL, "%lld of %lld documents failed, more than max_rejects "
                "(%g%%): the run fails", (long long)(r.n_rejected + r.n_skipped),
                (long long)r.docs_read, p->max_rejects);
        r.exit_code = TM_EXIT_STAGE;
        goto done;
    }
    if (r.rinited) {
        const tm_plugin *d = p->rejects_step->plugin.desc;
        if (d->flush && d->flush(r.rstate, &r.rctx) < 0) {
            tm__log(TM_LOG_ERROR, NULL, "rejects: %s", r.rctx.error ? r.rctx.error : "cannot write");
            r.exit_code = TM_EXIT_STAGE;
            goto done;
        }
    }

    /* The commit: outputs into place, then the state that describes them.
     * A signal now would leave some outputs committed and others not, so it
     * waits until the commit is over; the run has then completed. */
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &saved);
    if (interrupted && !r.ledger) {
        sigprocmask(SIG_SETMASK, &saved, NULL);
        goto done;
    }
    stopping = interrupted != 0;
    committing = true;
    if (r.rinited && p->rejects_step->plugin.desc->commit &&
        p->rejects_step->plugin.desc->commit(r.rstate, &r.rctx) < 0) {
        tm__log(TM_LOG_ERROR, NULL, "rejects: %s", r.rctx.error ? r.rctx.error : "cannot commit");
        r.exit_code = TM_EXIT_STAGE;
    }
    for (int pass = 0; pass < 2 && !r.exit_code; pass++) {
        for (size_t i = 0; i < p->n_steps; i++) {
            const tm_plugin *d = p->steps[i].plugin.desc;
            if ((d->role == TM_ROLE_SINK) != (pass == 0) || !d->commit)
                continue;
            int rc = d->commit(r.state[i], &r.ctx[i]);
            if (rc < 0) {
                report_failure(&r, i, "to commit its state", rc);
                break;
            }
            crash_point("commit", p->steps[i].name);
        }
    }
    /* last, the ledger: the inputs completed and the plugins' values, in one
     * transaction; a run that dies before it is done again by the next run */
    if (!r.exit_code && r.ledger) {
        char *err = NULL;
        crash_point("ledger", NULL);
        if (tm__ledger_commit(r.ledger, &err) != 0) {
            tm__log(TM_LOG_ERROR, NULL, "%s (the outputs are committed; the next run "
                    "processes this run's inputs again)", err);
            free(err);
            r.exit_code = TM_EXIT_STAGE;
        }
    }
    sigprocmask(SIG_SETMASK, &saved, NULL); /* a signal held back arrives here */

done:
    fini_all(&r);
    if (tm__progress_active) {
        fputs("\r\x1b[K", stderr);
        tm__progress_active = 0;
    }
    if (!r.exit_code && !stopping && !(interrupted && !committing) &&
        r.n_rejected + r.n_skipped > 0) {
        tm__log(TM_LOG_WARN, NULL, "%lld document%s failed in a stage%s: %lld rejected%s%s, "
                "%lld skipped", (long long)(r.n_rejected + r.n_skipped),
                r.n_rejected + r.n_skipped == 1 ? "" : "s",
                r.n_over_limit ? " or went over a limit" : "", (long long)r.n_rejected,
                r.n_rejected ? " to " : "", r.n_rejected ? p->rejects : "", (long long)r.n_skipped);
        r.exit_code = TM_EXIT_REJECTS;
    }
    if (stopping && !r.exit_code) {
        int64_t sk, rd, ch, cp;
        tm__ledger_counts(r.ledger, &sk, &rd, &ch, &cp);
        tm__log(TM_LOG_WARN, NULL, "stopped by %s: %lld input%s read to %s end %s "
                "committed; the next run goes on with the rest",
                interrupted == SIGINT ? "SIGINT" : "SIGTERM", (long long)cp,
                cp == 1 ? "" : "s", cp == 1 ? "its" : "their", cp == 1 ? "is" : "are");
        r.exit_code = TM_EXIT_INTERRUPTED;
    } else if (interrupted && committing && !r.exit_code) {
        tm__log(TM_LOG_WARN, NULL, "%s arrived while the outputs were being committed; the "
                "run had completed, and its outputs are committed",
                interrupted == SIGINT ? "SIGINT" : "SIGTERM");
    } else if (interrupted && !r.exit_code) {
        tm__log(TM_LOG_ERROR, NULL, "interrupted by %s; no output was committed",
                interrupted == SIGINT ? "SIGINT" : "SIGTERM");
        r.exit_code = TM_EXIT_INTERRUPTED;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    double dt = tm__now() - r.t0;
    if (o->stats)
        tm__stats_print(r.ctx, p->n_steps);
    if (!o->quiet || r.exit_code) {
        int64_t dropped = 0;
        for (size_t i = 0; i < p->n_steps; i++)
            for (size_t k = 0; k < r.ctx[i].n_drops; k++)
                dropped += r.ctx[i].drops[k].n;
        double mb = (double)r.bytes_read / 1e6;
        bool ok = !r.exit_code || r.exit_code == TM_EXIT_REJECTS;
        tm__log(ok ? TM_LOG_INFO : TM_LOG_ERROR, NULL,
                "%s: %s: %lld documents read, %lld written, %lld dropped; %.2f MB in %.2f s "
                "(%.1f MB/s)",
                p->name,
                !r.exit_code ? "done" : r.exit_code == TM_EXIT_REJECTS ? "done, with rejects"
                : r.exit_code == TM_EXIT_INTERRUPTED ? "stopped" : "failed",
                (long long)r.docs_read,
                (long long)r.docs_written, (long long)dropped, mb, dt, dt > 0 ? mb / dt : 0.0);
    }
    if (r.ledger) {
        char *manifest = tm__manifest_json(r.ctx, p->n_steps, r.ledger, r.exit_code);
        const char *status = r.exit_code == 0 ? "ok"
                             : r.exit_code == TM_EXIT_REJECTS ? "ok, with rejects"
                             : r.exit_code == TM_EXIT_INTERRUPTED ? "interrupted" : "failed";
        tm__ledger_run_end(r.ledger, r.exit_code, status, manifest);
        free(manifest);
        tm__ledger_close(r.ledger); /* and the lock */
    }
    return run_close(&r);
}

int tm__check(tm_pipeline *p)
{
    run r;
    tm_run_opts o = {0};
    run_open(&r, p, &o);
    init_all(&r);
    fini_all(&r);
    return run_close(&r);
}
