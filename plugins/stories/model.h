/* The stories stage's model: the features a decision rests on, the
 * logistic weights learnt for them, the join threshold, and the prior of
 * document frequencies (see model/README.md for the files' format and how
 * they were made). */
#ifndef STORIES_MODEL_H
#define STORIES_MODEL_H

#include "df.h"

#include <stddef.h>

/* The similarities a decision rests on (the model's features). */
enum {
    F_BIAS,
    F_TITLE,       /* cosine of the title words with the story's titles */
    F_BODY,        /* cosine of the body words with the story's bodies */
    F_NAMES,       /* cosine of the entity names (places, organisations, other)
                    * with the story's */
    F_TITLE_BODY,  /* cosine of the title words with the story's bodies */
    F_BODY_TITLE,  /* cosine of the body words with the story's titles */
    F_GAP,         /* log(1 + days between the document and the story's dates) */
    F_NODATE,      /* 1 when either has no date */
    F_SIZE,        /* log of the story's size */
    F_SAME_SOURCE, /* 1 when the story has a document of the same outlet */
    F_PEOPLE,      /* cosine of the people's names: the most telling names */
    F_QUOTES,      /* log(1 + word 4-grams the document shares with the story and no
                    * other story has): the quotations and sentences two reports
                    * of one event print, where two reports of one topic share
                    * only names */
    ST_NF
};
extern const char *const st_feature_names[ST_NF];

/* Weights per feature: set 0 when both the document and the story have
 * entity names, set 1 when either has none (no entity stage, or a text
 * without names). */
typedef struct st_model {
    double w[2][ST_NF];
    double threshold; /* probability to join a story */
    df_table df;      /* the prior */
} st_model;

/* Loads model_dir/stories-en.model and model_dir/df-en.tsv. NULL with the
 * reason in err. */
st_model *st_model_load(const char *dir, char *err, size_t err_len);
void st_model_free(st_model *m);

#endif
