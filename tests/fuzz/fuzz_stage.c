/* One stage plugin (FUZZ_STAGE, with the options of `setups` below) on
 * arbitrary bytes, loaded through the real loader and called as the runner
 * calls it: a fresh instance per input (init, process per batch, flush,
 * fini), except for a stage whose init is too slow to repeat (entities):
 * one instance for the whole run, process only.
 *
 * The input: batches separated by 0x1D, documents by 0x1E, and in each
 * document fields by 0x1F: text, then meta.title, author, date, url, lang,
 * source. Plain text (no separator) is one document of one batch. Bytes
 * that are not UTF-8 are repaired, as the runner's invalid_utf8: repair
 * would; after every call each document must still keep the document
 * model's promises (fz_check_doc). */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_STAGE
#error "define FUZZ_STAGE (a built-in stage plugin's name)"
#endif

/* Options per stage: chosen to reach more code on few, small documents
 * (low thresholds, marking instead of dropping so later checks see every
 * document). A stage not listed runs with its defaults. */
static const struct {
    const char *stage, *with;
    bool persistent; /* init is too slow to repeat per input */
} setups[] = {
    {"cleanup", "{typography: true, min_docs: 2, window: 4}", false},
    {"dedupe", "{mode: mark, min_paragraph_chars: 20}", false},
    {"stories", "{window: 3, max_open: 100}", false},
    {"entities", "{cache: false}", true},
    {"filter", "{min_bytes: 16, max_bytes: 64k, exclude: '(?i)\\bcookies?\\b', "
               "ignore_case: true, field: lang, values: [en, fr], keep_missing: true}", false},
};

#define MAX_DOCS 64 /* per input: more only repeats the same code */

static const char *const meta_keys[] = {"title", "author", "date", "url", "lang", "source"};

static tm_pipeline *pipe_;
static bool persistent;
static void *kept_state; /* persistent: the one instance */
static tm_ctx kept_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_setup();
    const char *with = "{}";
    for (size_t i = 0; i < sizeof setups / sizeof *setups; i++) {
        if (!strcmp(setups[i].stage, FUZZ_STAGE)) {
            with = setups[i].with;
            persistent = setups[i].persistent;
        }
    }
    /* the jsonl source writes meta.*, so any field the stage reads is there */
    char *yaml = tm__xasprintf("version: 1\n"
                               "source: {use: jsonl, with: {paths: [unused.jsonl]}}\n"
                               "stages: [{use: %s, with: %s}]\n"
                               "sinks: [{use: jsonl, with: {path: unused-out.jsonl}}]\n",
                               FUZZ_STAGE, with);
    pipe_ = fz_pipeline(yaml);
    free(yaml);
    return 0;
}

/* The next piece of [*p, end) up to separator `sep` (or end); moves *p past it. */
static const char *piece(const char **p, const char *end, char sep, size_t *len)
{
    const char *s = *p;
    const char *e = memchr(s, sep, (size_t)(end - s));
    if (!e)
        e = end;
    *len = (size_t)(e - s);
    *p = e < end ? e + 1 : end;
    return s;
}

static tm_doc *make_doc(tm_ctx *c, const char *s, size_t n, size_t k)
{
    const char *p = s, *end = s + n;
    size_t len;
    const char *text = piece(&p, end, '\x1f', &len);
    char id[32];
    snprintf(id, sizeof id, "doc%zu", k);
    tm_doc *d = tm__host.doc_new(c, id, strlen(id), text, len);
    if (!d)
        abort(); /* repair never refuses */
    for (size_t m = 0; m < sizeof meta_keys / sizeof *meta_keys && p < end; m++) {
        const char *v = piece(&p, end, '\x1f', &len);
        size_t rlen = 0, bad = 0;
        char *r = tm__utf8_repair(v, len, &rlen, &bad);
        if (tm__host.meta_set(c, d, meta_keys[m], TM_META_STRING, r, rlen) != TM_OK)
            abort();
        free(r);
    }
    return d;
}

/* Settles the call's emits and drops, checks what is left, frees it. */
static void settle(tm_ctx *c, tm_batch *b)
{
    tm__ctx_settle(c, b);
    for (size_t i = 0; i < b->n; i++)
        fz_check_doc(b->docs[i], FUZZ_STAGE);
    fz_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_step *s = &pipe_->steps[1];
    const tm_plugin *d = s->plugin.desc;
    tm_ctx local, *c = persistent ? &kept_ctx : &local;
    void *state = kept_state;
    if (!persistent || !kept_state) {
        tm__ctx_init(c, pipe_, s);
        if (d->init(c, &tm__host, s->config, &state) != TM_OK) {
            fprintf(stderr, "fuzz: %s: init failed: %s\n", FUZZ_STAGE,
                    c->error ? c->error : "?");
            abort();
        }
        if (persistent)
            kept_state = state;
    }

    const char *p = (const char *)data, *end = p + size;
    size_t k = 0;
    int rc = TM_OK;
    do {
        size_t blen;
        const char *bs = piece(&p, end, '\x1d', &blen);
        const char *q = bs, *bend = bs + blen;
        tm_batch b = {NULL, 0, 1 << 20};
        do {
            size_t dlen;
            const char *ds = piece(&q, bend, '\x1e', &dlen);
            if (k >= MAX_DOCS)
                break;
            b.docs = tm__xrealloc(b.docs, (b.n + 1) * sizeof *b.docs);
            b.docs[b.n++] = make_doc(c, ds, dlen, k++);
        } while (q < bend);
        c->batch = &b;
        rc = d->process(state, c, &b);
        c->batch = NULL;
        settle(c, &b);
    } while (rc >= 0 && p < end && k < MAX_DOCS);

    if (!persistent) {
        /* as the runner: flush only after a run without failure; fini always */
        if (rc >= 0 && d->flush) {
            tm_batch b = {NULL, 0, 1 << 20};
            c->batch = &b;
            d->flush(state, c);
            c->batch = NULL;
            settle(c, &b);
        }
        if (d->fini)
            d->fini(state);
        tm__ctx_free(c);
    } else {
        /* forget this input's counters and last error, keep the instance */
        tm_step *step = c->step;
        tm_pipeline *pl = c->pipeline;
        tm__ctx_free(c);
        tm__ctx_init(c, pl, step);
    }
    return 0;
}
