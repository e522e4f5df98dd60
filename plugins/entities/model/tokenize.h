/* Tokenizer for the NER tagger: UTF-8 text -> tokens with byte offsets.
 *
 * Tokens are [start, end) byte ranges into the text; the text itself is never
 * copied or changed. The rules are the ones the tagger was trained with (the
 * trainer runs every token of its .bio files through this same function), so
 * change them only together with a retrained model:
 *
 *   - words: runs of letters, digits and combining marks (utf8proc classes);
 *     an apostrophe between letters stays inside ("O'Brien", "don't"), except
 *     a possessive: "Turkey's" -> "Turkey" "'s" (also with U+2019), because
 *     the gold excludes the possessive from the entity;
 *   - numbers keep inner separators between digits: "1,000.5", "10:30";
 *   - abbreviations keep their period: initials and letter-dot runs ("F.",
 *     "U.S."), and a short list of titles and company suffixes ("Mr.",
 *     "Inc."), so that "Mr. Smith" is neither split into a sentence nor loses
 *     the cue; "AT&T"-style ampersands between capitals stay inside;
 *   - every other punctuation or symbol code point is a token of its own, in
 *     particular hyphens: "Turkish-backed" -> "Turkish" "-" "backed". Names
 *     that are themselves hyphenated ("Nagorno-Karabakh") are rebuilt by the
 *     tagger from B/I labels, since entity spans come from token offsets;
 *   - whitespace, control characters (NUL included) and invalid UTF-8 bytes
 *     separate tokens; an invalid byte is never part of a word.
 *
 * Sentence starts: the first token, any token after a line break, and a token
 * that begins with a capital letter or an opening quote/bracket after
 * whitespace following . ! ? or an ellipsis (closing quotes and brackets may
 * sit between the mark and the space).
 *
 * One pass, linear in the text length whatever it holds (a megabyte-long
 * word is one token); no state outside the output array, so concurrent calls
 * on different outputs are safe.
 */
#ifndef TEXTMILL_NER_TOKENIZE_H
#define TEXTMILL_NER_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#define NER_TOK_SENT_START 0x1u /* the token starts a sentence */

typedef struct ner_tok {
    size_t start, end; /* byte offsets into the text, end exclusive */
    uint32_t flags;    /* NER_TOK_* */
} ner_tok;

/* A growable token array; zero-initialise it, reuse it across calls, free it
 * with ner_toks_free(). */
typedef struct ner_toks {
    ner_tok *v;
    size_t n, cap;
} ner_toks;

/* Tokenizes text[0, len) into out (out->n is reset first). text may hold NUL
 * bytes and invalid UTF-8. Returns 0, or -1 when out of memory (out->n is
 * then the number of tokens made so far). */
int ner_tokenize(const char *text, size_t len, ner_toks *out);

void ner_toks_free(ner_toks *t);

#endif
