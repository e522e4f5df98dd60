/* Folding names for matching: case, diacritics, hyphens and apostrophes,
 * and transliteration variants (Azerbaijani and Turkish letters as English
 * news spells them: ş -> sh, ç -> ch, ə -> a, x -> kh, q -> g, ı -> i, ğ -> g),
 * so that "Erdoğan", "Erdogan", "Şuşa" and "Shusha" meet. Both the gazetteer
 * keys and the text are folded the same way. */
#ifndef ENTITIES_FOLD_H
#define ENTITIES_FOLD_H

#include <stdbool.h>
#include <stddef.h>

/* Folds s[0, n) into out (at most 4n + 1 bytes); returns the folded length.
 * Runs of spaces, hyphens and punctuation inside the name become one space. */
size_t fold_name(const char *s, size_t n, char *out);

/* fold_name in pieces, for a name that grows a token at a time: appends the
 * folding of s[0, n) to out[0, o) and returns the new length. *space starts
 * true (no leading space) and carries over between calls; the result may end
 * with a space, which fold_trimmed() leaves out. fold_name(s, n) is the
 * trimmed fold_append of s in one piece, or in pieces cut at code point
 * boundaries. */
size_t fold_append(const char *s, size_t n, char *out, size_t o, bool *space);

static inline size_t fold_trimmed(const char *out, size_t o)
{
    while (o && out[o - 1] == ' ')
        o--;
    return o;
}

/* Optimal string alignment distance between a and b (bytes), or limit + 1
 * when it exceeds limit (cheap early exit). */
size_t fold_distance(const char *a, size_t na, const char *b, size_t nb, size_t limit);

#endif
