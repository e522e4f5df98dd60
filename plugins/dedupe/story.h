/* Same-story detection: documents that report one event in different words.
 * Evidence is what distinguishes a story: quotations both texts print,
 * names both use (weighted by rarity, so "Azerbaijan" in a stream about
 * Azerbaijan weighs little and "TRT Haber" much), and publication dates
 * within a few days when both are known. Recent documents (a window) are
 * kept with their features in an inverted index. */
#ifndef DEDUPE_STORY_H
#define DEDUPE_STORY_H

#include "textmill/plugin.h"

#include <stdbool.h>
#include <stdint.h>

/* Where a name or a quotation is in the document's text: [a, b). */
typedef struct story_span {
    size_t a, b;
} story_span;

typedef struct story_feats {
    uint64_t *names;  /* hashes of name terms, sorted, unique */
    size_t n_names;
    uint64_t *quotes; /* hashes of word 4-grams inside quotations, sorted, unique */
    size_t n_quotes;
    /* for the evidence only, so valid while the document is (story_add
     * drops them: an earlier document's text is never printed) */
    const char *text;        /* the document's text */
    story_span *name_span;   /* names' text, parallel to names */
    story_span *quote_span;  /* each quotation's first words */
    size_t n_quote_text;
    int date;          /* days since 1970, or -1 */
} story_feats;

typedef struct story_index story_index;

typedef struct story_match {
    char *story;       /* story id of the best match (host memory), or NULL */
    char *with;        /* id of the document matched */
    double score;
    size_t shared_names, shared_quote_grams;
    char *evidence;    /* compact JSON object (host memory) */
} story_match;

story_index *story_new(const tm_host *h, size_t window, int max_days, double threshold);
void story_free(story_index *s);
/* Features of a document (text, annotations, meta.date). */
int story_features(story_index *s, const tm_doc *d, story_feats *f);
void story_feats_free(story_index *s, story_feats *f);
/* Finds the best earlier document of the same story. */
int story_find(story_index *s, const story_feats *f, story_match *m);
/* Remembers a document (takes the features; the spans are dropped) under
 * story id `story`. */
int story_add(story_index *s, const char *id, const char *story, story_feats *f);
/* The story id recorded for a document id still in the window, or NULL. */
const char *story_of(story_index *s, const char *id);
void story_match_free(story_index *s, story_match *m);

#endif
