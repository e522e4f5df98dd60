/* Text normalisation for comparison, shingling, and MinHash signatures by
 * one-permutation hashing (each shingle hashed once, its bin the hash's low
 * bits) with densification of empty bins, stored as 8-bit values (b-bit
 * MinHash): 128 hashes cost 128 bytes a document. */
#ifndef DEDUPE_MINHASH_H
#define DEDUPE_MINHASH_H

#include "textmill/plugin.h"

#include <stdbool.h>
#include <stdint.h>

/* Normalised tokens of a text: NFC or NFKC, case-folded, split at anything
 * that is not a letter, digit or mark. Token i is buf[v[i].off, +v[i].len);
 * buf[0, buf_len) is the tokens each followed by one space. */
typedef struct tok {
    size_t off, len;
} tok;

typedef struct tokens {
    char *buf;
    tok *v;
    size_t n, cap, buf_len, buf_cap;
} tokens;

int tokenize(tokens *t, const tm_host *h, const char *s, size_t n, bool casefold, bool nfkc);
void tokens_free(tokens *t, const tm_host *h);

/* 64-bit hash of the whole normalised text (tokens joined by one space):
 * exact duplicates modulo case, spacing and Unicode form. */
uint64_t exact_hash(const tokens *t);

/* Fills sig[0, H) from word k-shingles (chars = 0) or character k-shingles
 * of the normalised text (chars = 1); scratch holds H + t->n values.
 * Returns the number of shingles; a text
 * with none leaves sig all 0 and should not be compared. */
size_t minhash(const tokens *t, int k, bool chars, uint64_t seed, uint8_t *sig, size_t H,
               uint64_t *scratch);

/* Estimated Jaccard similarity of two 8-bit signatures: the share of equal
 * values, corrected for the 1/256 chance that unequal minima agree in 8 bits. */
double sig_jaccard(const uint8_t *a, const uint8_t *b, size_t H);


/* Values are 8 bits, so two unrelated documents agree on a band of r rows
 * by chance once in 256^r: with 2 rows, once in 65,536, a dozen chance
 * candidates per band in a million documents. Bands have 3 rows or more. */
#define MIN_ROWS 3

/* bands x rows (<= H) for H hashes and a Jaccard threshold: the split that
 * minimises 0.1 x false-positive area + 0.9 x false-negative area of the
 * S-curve 1 - (1 - J^r)^b (candidates are verified afterwards, so missing a
 * pair costs more than checking one). */
void lsh_params(size_t H, double threshold, size_t *bands, size_t *rows);

#endif
