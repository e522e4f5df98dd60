/* Gazetteers: lists of names with a canonical form, a type, an optional id
 * and aliases, from TSV, CSV or YAML files; every name and alias is folded
 * (fold.h) into a key, and text is matched by the longest run of folded
 * tokens that is a key (one pass over the tokens, one hash lookup per
 * candidate length: a hash-based equivalent of Aho-Corasick over words). */
#ifndef ENTITIES_GAZETTEER_H
#define ENTITIES_GAZETTEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gz_entry {
    char *canonical, *type, *id;
    uint32_t population;
    uint8_t ambiguous; /* the name is also a common word ("Nice", "Reading") */
    uint8_t is_country; /* a country (flag `country`), not a place in one */
    uint8_t priority;  /* later (user) gazetteers win over earlier (base) ones */
    char country[2];   /* ISO 3166-1 alpha-2 of the one country the entry belongs to
                        * (a place, a nationality), or zeros */
    int8_t type_ix;    /* type as 0 PER, 1 ORG, 2 LOC, 3 MISC, or -1 (another type) */
} gz_entry;

typedef struct gazetteer gazetteer;

gazetteer *gz_new(void);
void gz_free(gazetteer *g);
/* Loads a file (.tsv, .csv, .yaml/.yml by extension); entries of later files
 * get a higher priority. On error returns -1 with "FILE:LINE: reason" (or
 * "FILE: reason" when no line applies): a file that is not a regular file,
 * not UTF-8 text, without the header line, a line with another number of
 * fields than the header, an empty canonical name, an unknown type, an id
 * used twice in the file, a `country` that is not ISO 3166-1 alpha-2 capitals;
 * in YAML, what is not a list of mappings. */
int gz_load(gazetteer *g, const char *path, char *err, size_t err_len);
/* Adds one entry (aliases joined by '|'; country: two capitals or NULL);
 * returns 0 or -1 (out of memory). */
int gz_add(gazetteer *g, const char *canonical, const char *type, const char *id,
           const char *aliases, uint32_t population, unsigned flags, uint8_t priority,
           const char *country);
enum { GZ_AMBIGUOUS = 1, GZ_COUNTRY = 2 }; /* gz_add's flags */
/* The best entry for a folded key, or NULL. */
const gz_entry *gz_lookup(const gazetteer *g, const char *key, size_t len);
/* Builds the index gz_fuzzy uses; call after the last gz_load/gz_add. */
int gz_prepare(gazetteer *g);
/* gz_lookup, and whether longer keys start with this one and a space
 * (*longer): a matcher extends a candidate only while that is so. */
const gz_entry *gz_probe(const gazetteer *g, const char *key, size_t len, bool *longer);
/* Starts fetching what gz_probe(g, key, len) will read, so that a caller
 * that knows its next keys early does not wait for memory for each. */
void gz_prefetch(const gazetteer *g, const char *key, size_t len);
/* The best entry of the type whose folded key is within max_dist edits of
 * key, with the same first letter and number of words, and its distance;
 * NULL if none. Thread-safe once prepared. */
const gz_entry *gz_fuzzy(const gazetteer *g, const char *key, size_t len, const char *type,
                         size_t max_dist, size_t *dist);
size_t gz_size(const gazetteer *g);
/* The i-th entry, i < gz_size(g). */
const gz_entry *gz_entry_at(const gazetteer *g, size_t i);
size_t gz_max_words(const gazetteer *g);

/* The compiled form, for the cache (gzcache.h). gz_write_image writes a
 * prepared gazetteer as one image through `write` (which returns 0 or -1);
 * gz_from_image uses such an image in place (strings, hash table and fuzzy
 * index are not copied), after checking that every count and offset in it
 * is in range, so that a damaged image is refused (NULL, the reason in why)
 * and never read out of bounds. The image must stay valid until gz_free,
 * which munmaps map/map_len when map is not NULL. A gazetteer from an image
 * is read-only: gz_add and gz_load fail on it. */
typedef int (*gz_write_fn)(void *ctx, const void *data, size_t len);
int gz_write_image(const gazetteer *g, gz_write_fn write, void *ctx);
gazetteer *gz_from_image(const void *img, size_t len, void *map, size_t map_len, char *why,
                         size_t why_len);

#endif
