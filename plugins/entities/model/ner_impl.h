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
#define NER_DOC_BLOCK 8192 /* document flags look at most about this many tokens */

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
    /* set by ner_tinfo_make() */
    uint64_t lw;     /* lower-cased word, digits folded to 0, quotes unified */
    uint64_t cw;     /* the word as written */
    uint64_t shape;  /* compressed shape: "Xx", "X.X.", "d", "x-x" */
    uint64_t pre[4]; /* lower-cased prefixes of 1..4 code points (0: too short) */
    uint64_t suf[4]; /* lower-cased suffixes of 1..4 code points */
    uint32_t fcp;    /* the first letter or digit, folded (0: none) */
    uint8_t cls;     /* NER_CLS_* */
    uint8_t lenb;    /* length bucket */
    uint8_t conn;    /* a word that may join the parts of a name: 1 for "of", "for",
                        "&", a hyphen, "de", "von"...; 2 for "the" */
    uint8_t cue;     /* NER_CUE_*: a title, or a word that ends names of a type */
    /* set by the tagger from the model's lexicon (ner_lex_value), 0: unseen */
    uint8_t lex;
    /* set by ner_sentence_finish() */
    uint8_t mode;    /* NER_MODE_* */
    uint8_t first;   /* 1 for the first token of the sentence */
    uint16_t rs, re; /* the capitalised run holding the token, sentence indexes
                        [rs, re); rs == re when it is in none */
    /* set by ner_doc_finish() */
    uint8_t doc;     /* NER_DOC_* flags */
    uint8_t acr;     /* an all-caps word that spells the initials of a capitalised run
                        of the document: 1 + the cue of the run's last word; else 0 */
    uint8_t has_acr; /* the token's run is spelt by an all-caps word of the document */
    uint64_t acr_lw; /* for acr: the run's last word */
    uint64_t agg[4]; /* the words before and after two other occurrences of the word
                        that are capitalised inside a normal sentence (0: none) */
} ner_tinfo;

/* Cue words (a built-in list, compared lower-cased). */
enum {
    NER_CUE_NONE,
    NER_CUE_TITLE, /* Mr., President, Minister, General, Sheikh: a person follows */
    NER_CUE_ORG,   /* Ministry, Party, Agency, Corps, Inc.: ends organisation names */
    NER_CUE_LOC,   /* River, Island, Province, Street: ends place names */
    NER_CUE_MISC,  /* War, Election, Cup, Award, Treaty: ends event and other names */
};

/* Document flags of a token: what the other occurrences of its word (same
 * lower-cased form) in the document look like. */
enum {
    NER_DOC_LOWER = 1,  /* elsewhere in lower case */
    NER_DOC_CAPMID = 2, /* elsewhere capitalised inside a normal sentence */
    NER_DOC_CAPOTH = 4, /* elsewhere capitalised at a sentence start or in a headline */
    NER_DOC_SEEN = 8,   /* occurs elsewhere at all */
};

/* Is s[0, n) a lower-case name particle that may start a hyphenated name
 * ("al-Qaeda", "bin-Laden", "van-...")? */
bool ner_is_particle(const char *s, size_t n);
/* Is s[0, n) a hyphen or dash token? */
bool ner_is_hyphen(const char *s, size_t n);

/* The word identity of token s[0, len): ner_tinfo's lw, alone. */
uint64_t ner_word_id(const char *s, size_t len);
/* Token s[0, len) -> info. Linear in len; huge tokens are fine. */
void ner_tinfo_make(const char *s, size_t len, ner_tinfo *ti);
/* Sets the sentence-level fields of ti[0, n), one sentence. */
void ner_sentence_finish(ner_tinfo *ti, size_t n);
/* Sets the document fields of ti[0, n), a whole document (or a block of
 * NER_DOC_BLOCK tokens of one) whose sentences have been finished. *scratch (a malloc'ed buffer of *cap bytes, may start
 * NULL/0) is grown as needed. Returns 0, or -1 when out of memory (the
 * flags are then 0). */
int ner_doc_finish(ner_tinfo *ti, size_t n, void **scratch, size_t *cap);

#define NER_MAX_FEATS (64 + 3 * 32)
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

/* The lexicon: what the training text says about a word, one byte per
 * word. Keys are 32 bits of the lower-cased word. The low four bits
 * (ner_lex_class) say how often the word was seen and how it is written
 * where capitals carry meaning (inside a normal sentence); the high four
 * (ner_lex_ent) how often it is part of a name, and of which type. */
static inline uint32_t ner_lex_key(uint64_t lw)
{
    return (uint32_t)(lw >> 32) | 1u;
}

enum { NER_LEX_START_ONLY, NER_LEX_LOWER, NER_LEX_CAP, NER_LEX_MIXED };

/* nl, nc: lower-case and capitalised occurrences inside normal sentences;
 * ns: the others (sentence starts, headlines). 0 when never seen, else
 * 1 + 4 * count bucket (1, 2-4, more) + NER_LEX_* (70% or more lower case,
 * 30% or less, in between). */
static inline uint8_t ner_lex_class(uint32_t nl, uint32_t nc, uint32_t ns)
{
    uint32_t n = nl + nc + ns, mid = nl + nc;
    if (n == 0)
        return 0;
    unsigned cb = n == 1 ? 0 : n <= 4 ? 1 : 2, wr;
    if (mid == 0)
        wr = NER_LEX_START_ONLY;
    else if (nl * 10 >= mid * 7)
        wr = NER_LEX_LOWER;
    else if (nl * 10 <= mid * 3)
        wr = NER_LEX_CAP;
    else
        wr = NER_LEX_MIXED;
    return (uint8_t)(1 + 4 * cb + wr);
}

/* Of n occurrences, ent[t] were in an entity of type t: 0 when none, else
 * 1 + 3 * the most frequent type + its share (under 30%, under 70%, more). */
static inline uint8_t ner_lex_ent(uint32_t n, const uint32_t ent[NER_NTYPES])
{
    int best = 0;
    for (int t = 1; t < NER_NTYPES; t++)
        if (ent[t] > ent[best])
            best = t;
    if (!n || !ent[best])
        return 0;
    unsigned sh = ent[best] * 10 < n * 3 ? 0 : ent[best] * 10 < n * 7 ? 1 : 2;
    return (uint8_t)(1 + 3 * best + sh);
}

/* A word's lexicon byte from its counts: lower case, capitalised, other
 * (as for ner_lex_class), then in an entity of each type. */
static inline uint8_t ner_lex_value(const uint32_t k[3 + NER_NTYPES])
{
    return (uint8_t)(ner_lex_class(k[0], k[1], k[2]) | ner_lex_ent(k[0] + k[1] + k[2], k + 3) << 4);
}

/* Is the token a word that the lexicon describes? */
static inline bool ner_lex_word(const ner_tinfo *t)
{
    return t->cls >= NER_CLS_LOWER && t->cls <= NER_CLS_MIXED;
}

/* Everything a model file holds, with float weights (quantised on save). */
typedef struct ner_params {
    unsigned bits;
    uint64_t seed;
    uint32_t gaz_mask;
    float temperature;
    ner_trans trans;
    const float *w; /* (1 << bits) * NER_NLABELS */
    size_t n_lex;   /* lexicon entries: keys in increasing order, and values */
    const uint32_t *lex_keys;
    const uint8_t *lex_vals;
} ner_params;

/* Writes a model file; returns 0 or -1 with err set. *size_out (may be NULL)
 * gets the file size. */
int ner_save(const char *path, const ner_params *p, size_t *size_out, char *err, size_t errlen);

#endif
