/* Words of a text as terms: cut at anything that is not a letter or a digit,
 * folded (case, and accents, so "Erdoğan" and "Erdogan" are one term), stop
 * words and one-letter words left out, the rest reduced to their Snowball
 * English stem ("killed", "kills", "killing" -> "kill"). A term is a 32-bit
 * hash of its stem: vectors and document frequencies are keyed by it. The
 * word as it was first folded is kept beside it, to show terms to people. */
#ifndef STORIES_TERMS_H
#define STORIES_TERMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_terms st_terms;

/* One term of a text: its hash and how often it occurs; `word` is the
 * folded surface form (borrowed from the st_terms, valid until the next
 * st_terms_* call or st_terms_free). */
typedef struct st_term {
    uint32_t term;
    uint32_t count;
    const char *word;
} st_term;

/* NULL when memory runs out or the stemmer is missing. */
st_terms *st_terms_new(void);
void st_terms_free(st_terms *t);
/* Memory held by the word cache. */
size_t st_terms_bytes(const st_terms *t);

/* The distinct terms of text[0, len), in first-seen order, with counts.
 * Returns the number of terms (0 for a text without content words), or -1
 * when memory runs out; *out is borrowed as above. At most `max_words`
 * words are read (0: all), so a 20 MB text costs what its head costs. */
long st_terms_of(st_terms *t, const char *text, size_t len, size_t max_words, st_term **out);

/* The words of the last st_terms_of text in order, every word (stop words
 * too), as hashes of their folded forms: for word n-grams, which catch the
 * quotations and sentences two reports of one event share. Borrowed until
 * the next call. */
const uint32_t *st_terms_sequence(const st_terms *t, size_t *n);

/* The hash of an already folded name or term string (used for entity names,
 * which are not stemmed). */
uint32_t st_hash(const char *s, size_t n, uint32_t kind);

/* The term of a name: people's names are odd, other names even, so that
 * one vector holds both and a comparison can tell them apart. */
uint32_t st_name_term(const char *folded, size_t n, int person);

/* NUL-terminated strings appended to one buffer and known by their offset
 * (the buffer moves as it grows: keep offsets, not pointers). */
typedef struct st_strings {
    char *p;
    size_t len, cap;
} st_strings;
/* Appends s[0, n) and a NUL; *off is where it starts. false when memory runs
 * out. */
bool st_strings_add(st_strings *a, const char *s, size_t n, uint32_t *off);

/* Folds a name (case and accents) into out (capacity cap); returns its
 * length, 0 when it has no letter or digit or does not fit. */
size_t st_fold_name(const char *s, size_t n, char *out, size_t cap);

#endif
