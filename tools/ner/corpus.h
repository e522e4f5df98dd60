/* .bio corpora for the NER trainer and evaluator: reading, re-tokenising
 * with the tagger's own tokenizer, and entity-level scoring.
 *
 * Every .bio token is run through ner_tokenize(), so the model trains on the
 * tokens it will see at tag time ("Turkish-backed" becomes "Turkish" "-"
 * "backed"). Labels are projected onto the pieces following the gold's
 * hyphen convention: a lower-case word joined by a hyphen at the edge of an
 * entity is not part of it ("[Turkish]-backed", "pro-[Russian]"), unless it
 * is a name particle ("al-Qaeda"); a possessive piece "'s" is dropped from
 * the end of an entity. Scores are computed on the original .bio tokens:
 * predicted piece labels are mapped back, so the files' own gold is used
 * unchanged. */
#ifndef TOOLS_NER_CORPUS_H
#define TOOLS_NER_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ner.h"

typedef struct piece {
    uint32_t off, len; /* the piece's text in corpus.text */
    uint32_t orig;     /* index of its original token in the corpus */
    uint8_t gold;      /* projected gold label */
} piece;

typedef struct sentence {
    uint32_t first_piece, n_pieces;
    uint32_t first_orig, n_orig;
    uint32_t doc; /* document index: the sentences of one document are contiguous */
    uint16_t file;
} sentence;

typedef struct corpus_file {
    char *path;
    bool has_misc;     /* the file annotates MISC (3% of its entities or more) */
    bool partial_misc; /* its O tokens may be unannotated MISC (!has_misc, or forced) */
    size_t n_tokens, n_sentences, n_entities[NER_NTYPES];
} corpus_file;

typedef struct corpus {
    char *text; /* piece strings, each followed by a space */
    size_t text_len, text_cap;
    piece *pieces;
    size_t n_pieces, cap_pieces;
    uint8_t *orig_gold; /* original tokens' gold labels */
    uint32_t *orig_off; /* original tokens' offsets in text (start of first piece) */
    size_t n_orig, cap_orig;
    sentence *sents;
    size_t n_sents, cap_sents;
    corpus_file *files;
    size_t n_files;
    size_t n_docs;
} corpus;

/* Appends a .bio file. Its "# doc" lines separate documents; in a file
 * without them every sentence is a document of its own (tweets, CrossNER's
 * sentences from different articles). A file with fewer than 3% MISC entities is taken not
 * to annotate MISC: partial_misc (its O tokens may hide MISC); force_partial
 * marks it so whatever it holds. Returns 0 or -1 with err set. */
int corpus_add_file(corpus *c, const char *path, bool force_partial, char *err, size_t errlen);
void corpus_free(corpus *c);

/* Entity-level counts: exact span and type. */
typedef struct prf {
    size_t tp[NER_NTYPES], fp[NER_NTYPES], gold[NER_NTYPES];
} prf;

/* Scores predicted piece labels of sentence s against the original gold.
 * MISC, gold and predicted, is left out in files that do not annotate it. */
void corpus_score(const corpus *c, const sentence *s, const uint8_t *pred_pieces, prf *out);

/* Prints "label  P R F1  (tp fp fn)" rows per type and micro; returns micro F1. */
double prf_print(const prf *p, const char *indent, bool show_misc);
double prf_micro_f1(const prf *p, bool with_misc);

#endif
