/* The online story clusterer (after Miranda et al., "Multilingual
 * Clustering of Streaming News", EMNLP 2018, and the TDT event-detection
 * work before it). Each open story keeps decayed centroids of its
 * documents' TF-IDF vectors (title words, body words, entity names), its
 * first and last date, its size and outlets. A new document is compared
 * with the stories that share a name or a rare word with it (an inverted
 * index: never a scan of every story), each comparison gives a few
 * similarities, and a logistic model learned on labelled news turns them
 * into the probability that the document belongs to that story. It joins
 * the most probable story at or above the threshold, or opens a new one.
 * A story closes `window` days after its last document. */
#ifndef STORIES_CLUSTER_H
#define STORIES_CLUSTER_H

#include "df.h"
#include "model.h"
#include "vec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_NO_DATE INT32_MIN

typedef struct st_params {
    int window_days;   /* a story closes this many days after its last document */
    size_t max_open;   /* open stories kept at most (the least recent close first) */
    double threshold;  /* < 0: the model's */
    int today;         /* days since 1970 of the run: later dates are not believed */
} st_params;

typedef struct st_name {
    const char *s; /* canonical name */
    size_t n;
    int person;    /* a person's name (PER) */
} st_name;



typedef struct st_input {
    const char *id;
    const char *title;
    size_t title_len;
    const char *body;
    size_t body_len;
    const st_name *names; /* one per mention */
    size_t n_names;
    int date;             /* days since 1970, or ST_NO_DATE */
    const char *source;   /* outlet, or NULL */
    const char *copy_of;  /* id of the document this is a near copy of, or NULL */
} st_input;

#define ST_SHOW 6
#define ST_TERMS 8
/* What became of a document; strings are borrowed from the engine until the
 * next call. */
typedef struct st_result {
    const char *story;
    bool joined;       /* joined an earlier story by the model's vote */
    bool copy;         /* joined its original's story without a vote */
    bool seen_before;  /* the same id again: its story, nothing learnt */
    double score;      /* probability, when joined */
    double parts[5];   /* contributions to the log-odds: names, title, body, date,
                        * quotes */
    int shared_grams;  /* 4-grams shared with the story alone */
    int days_apart;    /* when joined and both dated; else ST_NO_DATE */
    const char *shared_names[ST_SHOW];
    int n_shared_names;
    const char *shared_terms[ST_SHOW];
    int n_shared_terms;
    const char *label;             /* the story's label after this document */
    const char *terms[ST_TERMS];   /* its top names and words */
    int n_terms;
} st_result;

typedef struct st_engine st_engine;

/* The engine copies the model's prior into its own frequencies; the model
 * must outlive it. NULL when memory runs out. */
st_engine *st_engine_new(const st_params *p, const st_model *m);
void st_engine_free(st_engine *e);

/* The online step. TM-style codes: 0, or -4 when memory runs out. */
int st_engine_add(st_engine *e, const st_input *in, st_result *r);

/* Training: the document joins the open story whose id is `gold` (or opens
 * it), and `fn` is called with the features of every candidate story the
 * index found, `positive` when it is the gold story. `retrieved` tells
 * whether the gold story was open and found. */
typedef void (*st_feature_fn)(void *arg, const double *f, int set, bool positive);
int st_engine_add_gold(st_engine *e, const st_input *in, const char *gold, st_feature_fn fn,
                       void *arg, bool *gold_open, bool *retrieved);

/* ---- state across runs ---------------------------------------------------------- */

/* Counts for the run summary and the memory report. */
typedef struct st_stats {
    size_t open, opened, closed;
    size_t bytes;       /* all the engine holds */
    size_t story_bytes; /* the open stories themselves (centroids, label, names shown,
                         * members): what one more open story costs, times open */
    size_t df_bytes; /* document frequencies and the word cache */
    size_t index_bytes, grams_bytes;
} st_stats;
void st_engine_stats(const st_engine *e, st_stats *s);

/* Serialisation of the engine for a store: the stories changed since the
 * last st_engine_saved() (blob: see cluster.c; it holds the hashes of its
 * members' ids, so a copy or a re-run tomorrow finds its story), the ids of
 * stories closed, the document frequencies changed, the stream's counters
 * and the 4-gram table. */
typedef struct st_sink {
    void *arg;
    int (*story)(void *arg, const char *id, const void *blob, size_t len);
    int (*closed)(void *arg, const char *id);
    int (*df)(void *arg, uint32_t term, uint32_t seen);
    int (*counters)(void *arg, uint64_t docs, int now, uint64_t seq);
    /* the 4-gram table, when it changed: n entries */
    int (*grams)(void *arg, const uint64_t *table, size_t n);
} st_sink;
int st_engine_save(st_engine *e, const st_sink *out);
/* After the store committed: nothing is dirty any more. */
void st_engine_saved(st_engine *e);

/* Loading, in any order before the first st_engine_add. 0, -4 (memory) or
 * -3 (a blob this version cannot read). */
int st_engine_load_story(st_engine *e, const void *blob, size_t len);
int st_engine_load_df(st_engine *e, uint32_t term, uint32_t seen);
void st_engine_load_counters(st_engine *e, uint64_t docs, int now, uint64_t seq);
/* After the last load: the index's lists in the order the stories were
 * joined, as if they had never left memory. */
void st_engine_loaded(st_engine *e);
/* The 4-gram table's entries in this build. */
size_t st_engine_grams_size(void);
/* 0, or -3 when the table has another size than this build's. */
int st_engine_load_grams(st_engine *e, const uint64_t *table, size_t n);

/* Days since 1970 of a date written YYYY-MM-DD (anything may follow), or
 * ST_NO_DATE. */
int st_parse_date(const char *s, size_t n);

#endif
