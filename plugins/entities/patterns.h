/* Names the entities stage finds by their form rather than from a list or
 * the model:
 *
 *  - designations of products, weapons and vehicles: letters and digits,
 *    "F-16", "Su-25", "S-300", "A400M", "MH17", and "Bayraktar TB2" with the
 *    maker's name in front (MISC, as CoNLL tags named products);
 *  - abbreviations a document defines: "the Kurdistan Workers' Party (PKK)"
 *    makes every "PKK" in that document a mention with the long name's type
 *    and canonical name (the classic parenthesised-definition cue).
 */
#ifndef ENTITIES_PATTERNS_H
#define ENTITIES_PATTERNS_H

#include "mention.h"
#include "model/tokenize.h"

/* Whether a capitalised word is something other than a maker's name (a
 * nationality: "Russian Su-25" is two names). */
typedef bool (*pat_word_fn)(void *ud, const char *word, size_t len);

/* Appends designation mentions (type T_MISC, no canonical) to m[*nm..cap). */
void pat_designations(const char *t, size_t len, const ner_tok *tk, size_t n, mention *m,
                      size_t *nm, size_t cap, pat_word_fn not_maker, void *ud);

/* For each mention of m[0..*nm) followed by "(ABBR)", where ABBR is 2-8
 * capitals (and digits) whose letters are the initials of the mention's
 * words in order, gives every uncovered "ABBR" of the text the mention's type
 * and canonical (entry, or a copy of canonical), appending to m[*nm..cap). */
void pat_abbreviations(const char *t, size_t len, mention *m, size_t *nm, size_t cap);

#endif
