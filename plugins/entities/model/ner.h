/* Statistical named-entity tagger: an averaged structured perceptron over
 * BIO labels for the CoNLL types PER, ORG, LOC and MISC, decoded with
 * Viterbi per sentence (first-order label transitions, BIO constraints as
 * hard rules), with hashed sparse features, some of which look at the whole
 * document, and a lexicon learnt from the training text. See model/README.md
 * for why this model, its features and its training data.
 *
 * Typical use:
 *
 *     char err[256];
 *     ner_model *m = ner_load("ner-en.tmner", err, sizeof err);
 *     ner_toks t = {0};
 *     ner_tokenize(text, len, &t);
 *     uint8_t *lab = malloc(t.n); float *conf = malloc(t.n * sizeof *conf);
 *     ner_tag(m, text, t.v, t.n, NULL, lab, conf);
 *     ner_entity *e = malloc(t.n * sizeof *e);
 *     size_t ne = ner_entities_ex(text, t.v, t.n, lab, conf, NER_ENT_TRIM, e);
 *
 * Thread safety: a loaded model is immutable; any number of threads may call
 * ner_tag() on one model at once. A ner_work belongs to one thread at a time.
 *
 * Model file format (version NER_FORMAT_VERSION), all integers and floats
 * little-endian, floats IEEE-754 binary32:
 *
 *   offset size
 *        0    5  magic "TMNER"
 *        5    3  zero
 *        8    4  u32 format version; it also names the feature set, so a
 *                change of features or tokenizer rules bumps it
 *       12    4  u32 number of labels (9)
 *       16   64  label names, comma-separated, NUL-padded:
 *                "O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC"
 *       80    4  u32 bucket bits B: the weight table has 2^B rows of 9
 *       84    4  u32 gazetteer bits the model was trained with (a mask of
 *                NER_GAZ_* bits; other bits are ignored at tag time)
 *       88    8  u64 feature hashing seed
 *       96    4  f32 scale: weight = int16 value * scale
 *      100    4  f32 temperature for confidences (scores / T -> marginals)
 *      104  360  f32[10][9] transition scores, row = previous label
 *                (rows 0..8 the labels, row 9 the sentence start), column =
 *                label; forbidden BIO transitions are not stored as such but
 *                enforced by the decoder
 *      464    8  u64 size of the decompressed weight payload
 *      472    8  u64 size of the compressed weight payload (Z)
 *      480    Z  the weight payload, one zstd frame; decompressed, it lists
 *                the non-zero rows of the table in increasing row order, each
 *                as a LEB128 varint gap (row - previous row - 1, with the
 *                previous row of the first being -1) and 9 zigzag LEB128
 *                varints (the int16 weights of labels 0..8)
 *    480+Z    8  u64 number of lexicon entries L
 *    488+Z    8  u64 size of the compressed lexicon payload (Z2)
 *    496+Z   Z2  the lexicon, one zstd frame that records its content size;
 *                decompressed, L entries in increasing key order, each a
 *                LEB128 varint key gap (key - previous key, the previous of
 *                the first being 0; a key is ner_lex_key() of the lower-cased
 *                word, never 0) and one byte, the word's ner_lex_value()
 *                (ner_impl.h)
 * 496+Z+Z2    8  u64 XXH64 (seed 0) of every byte before it
 *
 * Version 1 (no lexicon, fewer features) is refused like any other version.
 */
#ifndef TEXTMILL_NER_H
#define TEXTMILL_NER_H

#include <stddef.h>
#include <stdint.h>

#include "tokenize.h"

#define NER_FORMAT_VERSION 2u

/* Labels (BIO indexes). B-X = 1 + 2*type, I-X = 2 + 2*type. */
enum {
    NER_O = 0,
    NER_B_PER, NER_I_PER,
    NER_B_ORG, NER_I_ORG,
    NER_B_LOC, NER_I_LOC,
    NER_B_MISC, NER_I_MISC,
    NER_NLABELS
};
enum { NER_PER = 0, NER_ORG = 1, NER_LOC = 2, NER_MISC = 3, NER_NTYPES = 4 };

#define NER_LABEL_TYPE(l) (((int)(l) - 1) / 2) /* for l != NER_O */
#define NER_LABEL_IS_B(l) ((l) != NER_O && ((l) & 1))
#define NER_B(type) (1 + 2 * (type))
#define NER_I(type) (2 + 2 * (type))

extern const char *const ner_label_names[NER_NLABELS]; /* "O", "B-PER", ... */
extern const char *const ner_type_names[NER_NTYPES];   /* "PER", "ORG", "LOC", "MISC" */

/* Gazetteer hook: one uint32_t of bits per token, set by the caller from its
 * own name lists. A model only uses the bits it was trained with
 * (ner_model_gaz_mask()); train with the same lists you tag with.
 *   NER_GAZ_B(type): the token starts a gazetteer match of that type
 *   NER_GAZ_I(type): the token continues such a match
 *   NER_GAZ_USER(k): k = 0..23, free for other lists (titles, first names,
 *                    demonyms, ...); their meaning is the trainer's and the
 *                    stage's agreement. */
#define NER_GAZ_B(type) (1u << (type))
#define NER_GAZ_I(type) (1u << (4 + (type)))
#define NER_GAZ_USER(k) (1u << (8 + (k)))

typedef struct ner_model ner_model;

/* Loads a model file. On failure returns NULL with a message naming the
 * file in err: not a model, another format version (both versions named),
 * truncated, or damaged (checksum). */
ner_model *ner_load(const char *path, char *err, size_t errlen);
/* The same from memory; name is used in messages. */
ner_model *ner_load_mem(const void *data, size_t len, const char *name, char *err,
                        size_t errlen);
void ner_free(ner_model *m);

uint32_t ner_model_gaz_mask(const ner_model *m);
unsigned ner_model_bucket_bits(const ner_model *m);

/* Scratch memory for ner_tag_ws(); grows to the longest sentence seen. */
typedef struct ner_work ner_work;
ner_work *ner_work_new(void);
void ner_work_free(ner_work *w);
/* From now on, ner_tag_ws() with w computes conf_out only where
 * ner_entities() reads it, in sentences that have a name (the posteriors
 * are most of the decoding time); the tokens of other sentences get 1. */
void ner_work_conf_for_names(ner_work *w);

/* Tags n tokens of text (from ner_tokenize, or any tokens with the same
 * conventions; offsets must lie inside text). The tokens are one document:
 * some features look at the other occurrences of a word in the document
 * (within blocks of about 8192 tokens), so pass one document per call, not a
 * batch of unrelated ones. Sentences are decoded one at a time: they start
 * at tokens flagged NER_TOK_SENT_START, and a sentence of more than 512
 * tokens is cut into pieces. gaz_bits (n entries) may be NULL.
 * labels_out gets n BIO labels, conf_out (may be NULL) the posterior
 * probability of each token's label given the whole sentence. Returns 0, or
 * -1 when out of memory. ner_tag() allocates its scratch per call;
 * ner_tag_ws() reuses w. */
int ner_tag(const ner_model *m, const char *text, const ner_tok *toks, size_t n,
            const uint32_t *gaz_bits, uint8_t *labels_out, float *conf_out);
int ner_tag_ws(const ner_model *m, ner_work *w, const char *text, const ner_tok *toks,
               size_t n, const uint32_t *gaz_bits, uint8_t *labels_out, float *conf_out);

/* An entity: tokens [tok_start, tok_end), bytes [start, end). */
typedef struct ner_entity {
    size_t start, end;
    size_t tok_start, tok_end;
    int type;   /* NER_PER ... NER_MISC */
    float conf; /* the lowest token confidence in the span, or -1 without conf */
} ner_entity;

/* Builds entities from labels (an I-X that does not continue an X starts a
 * new entity); out needs room for n entries. Returns the count. */
size_t ner_entities(const ner_tok *toks, size_t n, const uint8_t *labels, const float *conf,
                    ner_entity *out);

/* ner_entities_ex() flags */
#define NER_ENT_TRIM 0x1u /* apply the gold's span conventions, see below */

/* ner_entities() with flags; text is needed for NER_ENT_TRIM (else it may be
 * NULL). With NER_ENT_TRIM, spans follow the evaluation gold where the
 * training data differs from it: a lower-case tail is dropped ("[Armenian]
 * delegation", "[Canadian] federal election"), with a hyphen left dangling
 * ("[Turkish]-backed"), and so is a lower-case word joined by a hyphen in
 * front ("pro-[Russian]"), unless it is a name particle ("al-Qaeda"); the
 * name part keeps the entity's type. On the evaluation gold's five news
 * articles this adds about 2-3 points of micro F1 (model/README.md). */
size_t ner_entities_ex(const char *text, const ner_tok *toks, size_t n, const uint8_t *labels,
                       const float *conf, unsigned flags, ner_entity *out);

#endif
