/* One source file, many deliberately broken plugins (selected by TP_*
 * macros) for the loader's refusal tests, plus one sound stage ("ok"). */
#define _GNU_SOURCE
#include "textmill/plugin.h"

#include <string.h>
#include <unistd.h>

/* the no_desc variant references none of these */
#define UNUSED __attribute__((unused))

UNUSED static int init(tm_ctx *ctx, const tm_host *host, const void *cfg, void **out)
{
    (void)cfg;
#ifdef TP_INIT_FAILS
    (void)out;
    return host->error(ctx, "the model file is missing");
#else
    (void)ctx;
    *out = (void *)host;
    return TM_OK;
#endif
}

#ifdef TP_HOLDS
static tm_doc *held; /* one instance per test run */
#endif

UNUSED static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    const tm_host *host = st;
    (void)b;
#ifdef TP_PROCESS_FAILS
    return host->error(ctx, "cannot process document %s", b->n ? b->docs[0]->id : "?");
#elif defined(TP_POISON)
    /* marks every document, then fails the whole batch if one of them holds
     * the word POISON: what on_error must undo and isolate */
    for (size_t i = 0; i < b->n; i++)
        host->meta_set(ctx, b->docs[i], "poison_stage_saw", TM_META_BOOL, "true", 4);
    /* an instance whose name ends in 2 fails on VENOM instead */
    const char *name = host->instance_name(ctx);
    const char *word = name[0] && name[strlen(name) - 1] == '2' ? "VENOM" : "POISON";
    for (size_t i = 0; i < b->n; i++)
        if (memmem(b->docs[i]->text, b->docs[i]->text_len, word, strlen(word)))
            return host->error(ctx, "document %s is poisoned", b->docs[i]->id);
    return TM_OK;
#elif defined(TP_SLOW_DOC)
    /* for time_budget: marks every document, takes a second over one that
     * holds the word SLOW, and fails on one that holds POISON */
    for (size_t i = 0; i < b->n; i++) {
        const tm_doc *d = b->docs[i];
        host->meta_set(ctx, b->docs[i], "slow_stage_saw", TM_META_BOOL, "true", 4);
        if (memmem(d->text, d->text_len, "POISON", 6))
            return host->error(ctx, "document %s is poisoned", d->id);
        if (memmem(d->text, d->text_len, "SLOW", 4))
            usleep(1000 * 1000);
    }
    return TM_OK;
#elif defined(TP_GIVES_UP)
    /* for time_budget: over a document that holds SLOW, works until
     * host->expired() says the budget is used up, then gives up (after 20 s
     * at most, so that a host whose expired() never fires fails the test's
     * timing instead of hanging) */
    for (size_t i = 0; i < b->n; i++) {
        const tm_doc *d = b->docs[i];
        host->meta_set(ctx, b->docs[i], "gives_up_saw", TM_META_BOOL, "true", 4);
        if (!memmem(d->text, d->text_len, "SLOW", 4))
            continue;
        for (int ms = 0; ms < 20000; ms++) {
            if (host->expired(ctx)) {
                host->error(ctx, "document %s: gave up after %d ms", d->id, ms);
                return TM_ETIMEDOUT;
            }
            usleep(1000);
        }
    }
    return TM_OK;
#elif defined(TP_HOLDS)
    /* holds each document back until the next call (or flush), as a stage
     * with a window does, and takes 400 ms over one that holds SLOW: a call
     * over its time_budget that cannot be undone */
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        if (memmem(d->text, d->text_len, "SLOW", 4))
            usleep(400 * 1000);
        host->detach(ctx, d);
        if (held)
            host->emit_take(ctx, held, NULL);
        held = d;
    }
    return TM_OK;
#elif defined(TP_SLOW_PROCESS)
    /* a slow stage, so that a test can signal a run between batches */
    (void)host;
    (void)ctx;
    usleep(300 * 1000);
    return TM_OK;
#else
    (void)host;
    (void)ctx;
    return TM_OK;
#endif
}

typedef struct config {
    int64_t level;
} config;

#ifdef TP_SLOW_FLUSH
/* A flush that takes a while (a stage releasing held documents), so that a
 * test can signal the run during the flush phase. */
static int flush(void *st, tm_ctx *ctx)
{
    (void)st;
    (void)ctx;
    sleep(2);
    return TM_OK;
}
#endif
#ifdef TP_HOLDS
static int flush(void *st, tm_ctx *ctx)
{
    const tm_host *host = st;
    if (held)
        host->emit_take(ctx, held, NULL);
    held = NULL;
    return TM_OK;
}
#endif
UNUSED static const tm_option options[] = {
    {.name = "level", .type = TM_OPT_INT, .def = "1", .offset = offsetof(config, level),
     .help = "A level."},
    TM_OPTIONS_END};

#ifdef TP_NEEDS_TITLE
UNUSED static const char *const reads[] = {"text", "meta.title", NULL};
#else
UNUSED static const char *const reads[] = {"text", "?meta.title", NULL};
#endif

#ifndef TP_NO_DESC
TM_EXPORT const tm_plugin tm_plugin_descriptor = {
#if defined(TP_BAD_MAJOR)
    .abi_major = TM_ABI_MAJOR + 1,
#else
    .abi_major = TM_ABI_MAJOR,
#endif
#if defined(TP_NEWER_MINOR)
    .abi_minor = TM_ABI_MINOR + 3,
#else
    .abi_minor = TM_ABI_MINOR,
#endif
#if defined(TP_SMALL_DESC)
    .size = 16,
#else
    .size = sizeof(tm_plugin),
#endif
#if defined(TP_BAD_SIG)
    .build_signature = TM_BUILD_SIGNATURE ^ 0xffu,
#else
    .build_signature = TM_BUILD_SIGNATURE,
#endif
    .name = "testplug",
    .version = "0.0.1",
    .license = "MIT",
    .summary = "A plugin for the loader's tests.",
    .role = TM_ROLE_STAGE,
    .options = options,
    .config_size = sizeof(config),
    .reads = reads,
    .init = init,
    .process = process,
#if defined(TP_SLOW_DOC) || defined(TP_GIVES_UP)
    .caps = TM_CAP_REENTRANT, /* nothing kept between documents: a call can be undone */
#endif
#if defined(TP_SLOW_FLUSH) || defined(TP_HOLDS)
    .flush = flush,
#endif
};
#else
TM_EXPORT int not_a_descriptor = 1;
#endif
