/* Internals shared by the tagger (ner.c) and the trainer (tools/ner): the
 * one feature function, the decoder and the model writer. Keeping a single
 * feature function is what makes training-time and tag-time features equal. */
#ifndef TEXTMILL_NER_IMPL_H
#define TEXTMILL_NER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ner.h"

#define NER_MAX_SEG 512 /* longest sentence decoded in one piece */

/* Coarse word classes (the "shape class" feature). */
enum {
    NER_CLS_PUNCT,    /* no letter or digit */
    NER_CLS_DIGIT,    /* digits, maybe with punctuation */
    NER_CLS_LOWER,    /* all letters lower case */
    NER_CLS_INITCAP,  /* Xxxx */
    NER_CLS_ALLCAP,   /* XXXX (two or more letters) */
    NER_CLS_ONECAP,   /* a single capital letter, maybe with a period */
    NER_CLS_MIXED,    /* iPhone, McDonald */
    NER_CLS_ALNUM,    /* letters and digits: F16, 16s */
    NER_CLS_NOCASE,   /* letters without case (CJK, Arabic) */
    NER_NCLS
};

/* Sentence modes: in an all-caps or title-case sentence capitals say little. */
enum { NER_MODE_NORMAL, NER_MODE_ALLCAPS, NER_MODE_TITLE };

/* What the features need from one token, computed once per token. */
typedef struct ner_tinfo {
    uint64_t lw;     /* lower-cased word, digits folded to 0, quotes unified */
    uint64_t cw;     /* the word as written */
    uint64_t shape;  /* compressed shape: "Xx", "X.X.", "d", "x-x" */
    uint64_t pre[4]; /* lower-cased prefixes of 1..4 code points (0: too short) */
    uint64_t suf[4]; /* lower-cased suffixes of 1..4 code points */
    uint8_t cls;     /* NER_CLS_* */
    uint8_t lenb;    /* length bucket */
    uint8_t mode;    /* NER_MODE_*, set by ner_sentence_finish() */
    uint8_t first;   /* 1 for the first token of the sentence */
} ner_tinfo;

/* Is s[0, n) a lower-case name particle that may start a hyphenated name
 * ("al-Qaeda", "bin-Laden", "van-...")? */
bool ner_is_particle(const char *s, size_t n);
/* Is s[0, n) a hyphen or dash token? */
bool ner_is_hyphen(const char *s, size_t n);

/* Token s[0, len) -> info. Linear in len; huge tokens are fine. */
void ner_tinfo_make(const char *s, size_t len, ner_tinfo *ti);
/* Sets the sentence-level fields of ti[0, n), one sentence. */
void ner_sentence_finish(ner_tinfo *ti, size_t n);

#define NER_MAX_FEATS (48 + 3 * 32)
/* Feature hashes of token i of a sentence ti[0, n); gaz (n entries, may be
 * NULL) is masked with gaz_mask. Writes at most NER_MAX_FEATS hashes and
 * returns their number. *n_gaz (may be NULL) gets how many of them, at the
 * end, come from gazetteer bits. */
size_t ner_features(const ner_tinfo *ti, size_t n, size_t i, const uint32_t *gaz,
                    uint32_t gaz_mask, uint64_t seed, uint64_t *out, size_t *n_gaz);

static inline uint32_t ner_bucket(uint64_t h, unsigned bits)
{
    return (uint32_t)(h >> (64 - bits));
}

/* Transition scores: row = previous label (NER_NLABELS = sentence start). */
typedef float ner_trans[NER_NLABELS + 1][NER_NLABELS];

/* Is prev -> y allowed by BIO (I-X only after B-X or I-X)? */
bool ner_allowed(int prev, int y);

/* Viterbi over emission scores emit[n][9]. allowed (may be NULL) restricts
 * each token to a set of labels (bit y = label y allowed). Writes the best
 * label sequence to out. scratch needs n * NER_NLABELS bytes. */
void ner_viterbi(const float *emit, size_t n, const ner_trans trans, const uint16_t *allowed,
                 uint8_t *out, uint8_t *scratch);

/* Posterior probability of labels[i] at each token under scores / temp
 * (forward-backward). scratch needs 2 * n * NER_NLABELS doubles. */
void ner_marginals(const float *emit, size_t n, const ner_trans trans, float temp,
                   const uint8_t *labels, float *conf, double *scratch);

/* Everything a model file holds, with float weights (quantised on save). */
typedef struct ner_params {
    unsigned bits;
    uint64_t seed;
    uint32_t gaz_mask;
    float temperature;
    ner_trans trans;
    const float *w; /* (1 << bits) * NER_NLABELS */
} ner_params;

/* Writes a model file; returns 0 or -1 with err set. *size_out (may be NULL)
 * gets the file size. */
int ner_save(const char *path, const ner_params *p, size_t *size_out, char *err, size_t errlen);

#endif
