/* Names the entities stage finds by their form rather than from a list or
 * the model:
 *
 *  - designations of products, weapons and vehicles: letters and digits,
 *    "F-16", "Su-25", "S-300", "A400M", "MH17", and "Bayraktar TB2" with the
 *    maker's name in front (MISC, as CoNLL tags named products);
 *  - abbreviations a document defines: "the Kurdistan Workers' Party (PKK)"
 *    makes every "PKK" in that document a mention with the long name's type
 *    and canonical name (the classic parenthesised-definition cue);
 *  - names with a head noun that says their type: "... Ministry", "Party",
 *    "Brigade" (ORG), "... District", "Republic of ..." (LOC), "... War",
 *    "Convention" (MISC).
 */
#ifndef ENTITIES_PATTERNS_H
#define ENTITIES_PATTERNS_H

#include "mention.h"
#include "model/tokenize.h"

/* What the stage's lists say of a word: PAT_* bits. */
enum { PAT_COMMON = 1, /* a common English word ("the", "as", "union") */
       PAT_NATIONALITY = 2, /* a listed nationality or other MISC name */
       PAT_PLACE = 4 };
typedef unsigned (*pat_lex_fn)(void *ud, const char *word, size_t len);

/* Appends designation mentions (type T_MISC; a canonical only for a plural,
 * "F-16s" -> "F-16") to m[*nm..cap). */
void pat_designations(const char *t, size_t len, const ner_tok *tk, size_t n, mention *m,
                      size_t *nm, size_t cap, pat_lex_fn lex, void *ud);

/* Appends names recognised by a head noun among capitalised words, joined by
 * "of", "for", "the", "and", "in", "on" where needed: organisations ("Ministry
 * of Defense of Azerbaijan", "Justice and Development Party", "4th Army
 * Corps"), places ("Kalbajar District", "Republic of Artsakh") and events
 * and documents ("Nagorno-Karabakh War", "Third Geneva Convention"). */
/* Completes people's names to the left: "Turkish President Recep Tayyip
 * [Erdogan]" -> "Recep Tayyip Erdogan", over capitalised words that are not
 * titles, common words or listed names, on the same line. A mention the
 * completed name now holds is dropped (type -1). */
void pat_complete_persons(const char *t, const ner_tok *tk, size_t n, mention *m, size_t nm,
                          pat_lex_fn lex, void *ud);

/* The type a head noun gives a name ("Ministry": T_ORG), or -1. */
int pat_head_type(const char *word, size_t len);

void pat_head_phrases(const char *t, size_t len, const ner_tok *tk, size_t n, mention *m,
                      size_t *nm, size_t cap, pat_lex_fn lex, void *ud);

/* For each mention of m[0..*nm) followed by "(ABBR)", where ABBR is 2-8
 * capitals (and digits) whose letters are the initials of the mention's
 * words in order, gives every uncovered "ABBR" of the text the mention's type
 * and canonical (entry, or a copy of canonical), appending to m[*nm..cap). */
void pat_abbreviations(const char *t, size_t len, mention *m, size_t *nm, size_t cap);

/* The country a nationality or country name belongs to ("Azerbaijani",
 * "Azerbaijan": "Azerbaijan"), as the lists name it, or NULL. */
typedef const char *(*pat_country_fn)(void *ud, const char *word, size_t len);

/* Gives ministries without a listed entry their official form, so that
 * every way news writes one names it alike: "Azerbaijani Defense Ministry",
 * "Azerbaijan's Ministry of Defence", "the Defence Ministry of Azerbaijan",
 * "Ministry of Defense of Azerbaijan" -> canonical "Ministry of Defense of
 * Azerbaijan". The country comes from the name or from the word just before
 * it; without one the printed form stays. */
void pat_ministries(const char *t, mention *m, size_t nm, pat_country_fn country_of, void *ud);

#endif
