/* The cache of compiled gazetteers: building the stage's gazetteers (reading
 * the lists, folding every name and alias, hashing, sorting the fuzzy index)
 * costs a noticeable part of a second for the base lists and seconds for a
 * list of a few hundred thousand names; the compiled form is written once to
 * a cache file and mapped (mmap) by later runs, which then only check it.
 *
 * A cache file holds one compiled gazetteer. Its name is derived from the
 * real paths of its lists, so that a changed list replaces its cache file
 * instead of adding one; its header holds the key: a hash of the lists'
 * sizes and contents, in order, with the versions of everything that shapes
 * the compiled form (this file's format, the image layout, name folding as
 * fold.c does it, utf8proc's Unicode tables, xxHash; for the tagger's
 * feature lists the tokenizer). A file whose magic, format, byte order, key,
 * size or payload checksum does not match, or whose image is not consistent,
 * is not used: the gazetteer is rebuilt from the lists and the cache file
 * rewritten, atomically (a temporary file renamed into place), so that a
 * reader never sees half a file and parallel runs never clash.
 *
 * Runs in parallel (processes or threads) need no lock: each call opens its
 * own files, and the rename is the only synchronisation. */
#ifndef ENTITIES_GZCACHE_H
#define ENTITIES_GZCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "gazetteer.h"
#include "model/ner_gaz.h"

/* The cache directory: `opt` when not NULL, else $XDG_CACHE_HOME/textmill,
 * else $HOME/.cache/textmill. Returns false (no cache) when none can be
 * named. */
bool gzc_dir(const char *opt, char *out, size_t n);

typedef struct gzc_info {
    bool hit;      /* mapped from the cache */
    bool written;  /* built, and the cache file (re)written */
    char note[1024]; /* why the cache was not used or not written, when that is
                        worth saying (a damaged or unwritable cache); else "" */
    char file[512]; /* the cache file, when a cache directory was given */
} gzc_info;

/* The gazetteer of the lists paths[0, n), loaded in that order (gz_load of
 * each, then gz_prepare), or mapped from cache_dir when a valid cache of the
 * same lists is there; cache_dir NULL: no cache. On a loading error returns
 * NULL with err set by gz_load ("FILE:LINE: reason") and *failed the index
 * of the list at fault (n for out of memory). */
gazetteer *gzc_gazetteer(const char *const *paths, size_t n, const char *cache_dir,
                         gzc_info *info, char *err, size_t errlen, size_t *failed);

/* The same for the tagger's feature matcher (ner_gaz_load of each path). */
ner_gaz *gzc_ner_gaz(const char *const *paths, size_t n, const char *cache_dir, gzc_info *info,
                     char *err, size_t errlen);

#endif
