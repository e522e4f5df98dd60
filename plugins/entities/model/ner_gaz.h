/* A minimal name-list matcher producing the tagger's gazetteer bits
 * (NER_GAZ_B/NER_GAZ_I in ner.h). The trainer uses it to compute the bits
 * of its training data; a stage that tags with a model trained with
 * gazetteer bits should compute them the same way (this matcher, or one
 * that agrees with it), from the same lists.
 *
 * Matching: names and text are split with ner_tokenize(); tokens compare
 * lower-cased, with digits folded to 0 and typographic quotes unified (the
 * tagger's own word identity). Per type, the longest list entry starting at
 * a token wins, and matching resumes after it; names of up to 8 tokens. */
#ifndef TEXTMILL_NER_GAZ_H
#define TEXTMILL_NER_GAZ_H

#include <stddef.h>
#include <stdint.h>

#include "tokenize.h"

typedef struct ner_gaz ner_gaz;

ner_gaz *ner_gaz_new(void);
void ner_gaz_free(ner_gaz *g);
/* Adds a name of a type (NER_PER..NER_MISC); returns 0, or -1 when out of
 * memory. Names of no token or of more than 8 tokens are skipped. */
int ner_gaz_add(ner_gaz *g, int type, const char *name, size_t len);
/* Loads a name list and ORs the bits it can set into *bits. spec is either
 *   TYPE=FILE  one name per line, all of TYPE (PER, ORG, LOC or MISC), or
 *   FILE.tsv   a gazetteer in the entities stage's format (see
 *              plugins/entities/gazetteers/README.md): '#' comment lines,
 *              then a header naming the columns, of which canonical, type
 *              and aliases ('|'-separated) are used; rows of other types
 *              are skipped.
 * Returns 0 or -1 with err set. */
int ner_gaz_load(ner_gaz *g, const char *spec, uint32_t *bits, char *err, size_t errlen);
size_t ner_gaz_size(const ner_gaz *g);
/* Sets bits[0, n) (overwriting) for tokens toks[0, n) of text. Returns 0,
 * or -1 when out of memory (bits are then all 0). */
int ner_gaz_match(const ner_gaz *g, const char *text, const ner_tok *toks, size_t n,
                  uint32_t *bits);

/* The compiled matcher as one image, for a cache: ner_gaz_write_image writes
 * it through `write` (which returns 0 or -1); ner_gaz_from_image uses such an
 * image in place after checking its sizes (NULL with the reason in why when
 * they are not consistent). The image must stay valid until ner_gaz_free,
 * which munmaps map/map_len when map is not NULL; the matcher is read-only
 * (ner_gaz_add and ner_gaz_load fail on it). */
typedef int (*ner_gaz_write_fn)(void *ctx, const void *data, size_t len);
int ner_gaz_write_image(const ner_gaz *g, ner_gaz_write_fn write, void *ctx);
ner_gaz *ner_gaz_from_image(const void *img, size_t len, void *map, size_t map_len, char *why,
                            size_t whylen);

#endif
