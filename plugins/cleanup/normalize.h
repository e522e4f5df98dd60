/* Character-level repair: mojibake, control characters, Unicode spaces,
 * optional typography, and Unicode normalisation (NFC or NFKC, utf8proc). */
#ifndef CLEANUP_NORMALIZE_H
#define CLEANUP_NORMALIZE_H

#include "edit.h"

#include <stdint.h>

enum { NORM_NONE = 0, NORM_NFC = 1, NORM_NFKC = 2 };

/* Runs of non-ASCII text recently found already normalised. Most runs are a
 * few strings again and again (a curly quote or a dash after a letter), and
 * utf8proc_map is a pure function of the bytes, so they skip it. */
#define NORM_CACHE_SLOTS 256
#define NORM_CACHE_BYTES 15
typedef struct norm_cache {
    struct {
        unsigned char len; /* 0: empty */
        char bytes[NORM_CACHE_BYTES];
    } slot[NORM_CACHE_SLOTS];
} norm_cache;

typedef struct norm_opts {
    int form;
    bool mojibake, controls, spaces, typography;
    norm_cache *cache; /* NULL: none; else the caller's, for one form */
} norm_opts;

typedef struct norm_counts {
    int64_t mojibake, controls, spaces, typography, normalized;
} norm_counts;

/* Writes the repaired text of s[0, n) into e (left to right). */
void normalize_chars(ed *e, const char *s, size_t n, const norm_opts *o, norm_counts *c);

/* Whitespace layout of one line: the line with leading and trailing blanks
 * removed and inner runs of blanks folded to one space is written into e as
 * edits of the old text; `line` spans old bytes [a, b). */
void fold_line_spaces(ed *e, const char *s, size_t a, size_t b);

#endif
