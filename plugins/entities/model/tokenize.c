/* Tokenizer for the NER tagger; the rules are documented in tokenize.h. */
#include "tokenize.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Character classes, as far as the tokenizer cares. */
enum {
    C_SPACE,   /* separates tokens */
    C_NL,      /* separates tokens and starts a sentence */
    C_UPPER,   /* Lu, Lt */
    C_LOWER,   /* Ll */
    C_LETTER,  /* Lm, Lo: letters without case */
    C_DIGIT,   /* Nd, Nl, No */
    C_MARK,    /* Mn, Mc, Me: combining marks belong to the word they follow */
    C_FORMAT,  /* Cf (soft hyphen, zero-width joiner): inside a word only */
    C_APOS,    /* ' U+2019 U+02BC */
    C_PERIOD,  /* . */
    C_PUNCT,   /* every other punctuation or symbol, and invalid bytes */
};

/* ASCII's classes, by the rules of class_other() below, in a table: most
 * text is ASCII, and the tokenizer asks for every code point. */
static uint8_t ascii_class[128];
static pthread_once_t ascii_once = PTHREAD_ONCE_INIT;

static int class_other(int32_t cp);

static void ascii_init(void)
{
    for (int32_t c = 0; c < 128; c++)
        ascii_class[c] = (uint8_t)class_other(c);
}

static inline int class_of(int32_t cp)
{
    return cp >= 0 && cp < 128 ? ascii_class[cp] : class_other(cp);
}

static int class_other(int32_t cp)
{
    if (cp < 0)
        return C_PUNCT; /* an invalid byte: a one-byte token of its own */
    if (cp < 128) {
        if (cp >= 'a' && cp <= 'z')
            return C_LOWER;
        if (cp >= 'A' && cp <= 'Z')
            return C_UPPER;
        if (cp >= '0' && cp <= '9')
            return C_DIGIT;
        if (cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f')
            return C_NL;
        if (cp <= 32 || cp == 127)
            return C_SPACE; /* NUL, TAB, other controls, space */
        if (cp == '\'')
            return C_APOS;
        if (cp == '.')
            return C_PERIOD;
        return C_PUNCT;
    }
    if (cp == 0x2019 || cp == 0x02BC)
        return C_APOS;
    if (cp == 0x85)
        return C_NL;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LT:
        return C_UPPER;
    case UTF8PROC_CATEGORY_LL:
        return C_LOWER;
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return C_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return C_DIGIT;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return C_MARK;
    case UTF8PROC_CATEGORY_CF:
        return C_FORMAT;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_CC:
        return C_SPACE;
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return C_NL;
    default:
        return C_PUNCT;
    }
}

/* Decodes the code point at s[i] (i < len); returns its byte length, with
 * *cp = -1 for an invalid byte (then length 1, so that decoding resumes at
 * the next byte and the scan stays linear). */
static inline size_t decode(const uint8_t *s, size_t len, size_t i, int32_t *cp)
{
    if (s[i] < 0x80) {
        *cp = s[i];
        return 1;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
    if (n <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)n;
}

static bool is_wordish(int c)
{
    return c == C_UPPER || c == C_LOWER || c == C_LETTER || c == C_DIGIT || c == C_MARK;
}

static bool is_letter(int c)
{
    return c == C_UPPER || c == C_LOWER || c == C_LETTER;
}

/* Class of the code point at byte i, or C_SPACE past the end. */
static inline int class_at(const uint8_t *s, size_t len, size_t i, int32_t *cp, size_t *n)
{
    if (i >= len) {
        *cp = 0;
        *n = 0;
        return C_SPACE;
    }
    *n = decode(s, len, i, cp);
    return class_of(*cp);
}

/* Abbreviations that keep their period. Titles before names matter most:
 * without them "Mr. Smith" would start a sentence at "Smith". */
static const char *const abbrevs[] = {
    "Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr", "Gen", "Lt", "Col", "Capt",
    "Sgt", "Maj", "Adm", "Gov", "Sen", "Rep", "Rev", "Hon", "Pres", "Messrs",
    "Mme", "Mlle", "Inc", "Corp", "Co", "Ltd", "Bros", "Mt", "Ft", "Ave", "Blvd",
    "Dept", "Univ", "No", "Nos", "Vol", "Fig", "vs", "etc", "approx", "Jan", "Feb",
    "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
};

static bool is_abbrev(const uint8_t *s, size_t n)
{
    if (n > 6)
        return false;
    for (size_t k = 0; k < sizeof abbrevs / sizeof *abbrevs; k++)
        if (abbrevs[k][0] == s[0] && strlen(abbrevs[k]) == n && memcmp(abbrevs[k], s, n) == 0)
            return true;
    return false;
}

static bool is_sentence_mark(int32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == 0x2026 /* … */ || cp == 0x3002 ||
           cp == 0xFF01 || cp == 0xFF1F;
}

static bool is_closer(int32_t cp)
{
    return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x201D || cp == 0x2019 ||
           cp == 0xBB || cp == 0x203A;
}

static bool is_opener(int32_t cp)
{
    return cp == '"' || cp == '\'' || cp == '(' || cp == '[' || cp == 0x201C || cp == 0x2018 ||
           cp == 0xAB || cp == 0x2039 || cp == 0x201E;
}

static int push(ner_toks *t, size_t start, size_t end, uint32_t flags)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        ner_tok *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (ner_tok){start, end, flags};
    return 0;
}

/* Scans a word starting at byte i (a word-ish code point); returns its end. */
static size_t scan_word(const uint8_t *s, size_t len, size_t i)
{
    size_t j = i, last_end = i; /* last_end: end of the last non-format code point */
    int prev = C_SPACE;
    size_t seg_letters = 0;  /* letters since the word start or the last inner period */
    bool letter_dots = true; /* every segment so far is one letter: "U.S" */
    bool has_dot = false;
    while (j < len) {
        int32_t cp;
        size_t n;
        int c = class_at(s, len, j, &cp, &n);
        if (is_wordish(c) || (c == C_FORMAT && j > i)) {
            if (c != C_FORMAT) {
                last_end = j + n;
                if (is_letter(c))
                    seg_letters++;
                else if (c == C_DIGIT)
                    letter_dots = false;
                prev = c;
            }
            j += n;
            continue;
        }
        int32_t ncp;
        size_t nn;
        int nc = class_at(s, len, j + n, &ncp, &nn);
        if (c == C_APOS && is_letter(prev) && is_letter(nc)) {
            /* Possessive 's: the word ends before the apostrophe. */
            if (ncp == 's' || ncp == 'S') {
                int32_t acp;
                size_t an;
                if (!is_wordish(class_at(s, len, j + n + nn, &acp, &an)))
                    break;
            }
            j += n; /* O'Brien, don't */
            letter_dots = false;
            continue;
        }
        if (prev == C_DIGIT && nc == C_DIGIT && (cp == '.' || cp == ',' || cp == ':')) {
            j += n; /* 1,000.5 and 10:30 */
            continue;
        }
        if (c == C_PERIOD && is_letter(prev) && is_letter(nc) && letter_dots &&
            seg_letters == 1) {
            j += n; /* U.S */
            seg_letters = 0;
            has_dot = true;
            continue;
        }
        if (cp == '&' && prev == C_UPPER && nc == C_UPPER) {
            j += n; /* AT&T */
            letter_dots = false;
            continue;
        }
        break;
    }
    /* Trailing period of an abbreviation: "U.S.", "F.", "Mr." */
    if (last_end < len && s[last_end] == '.' && j == last_end) {
        int32_t fcp;
        size_t fn = decode(s, len, i, &fcp);
        bool initial = !has_dot && i + fn == last_end && class_of(fcp) == C_UPPER;
        if (initial || (has_dot && letter_dots && seg_letters == 1) ||
            is_abbrev(s + i, last_end - i))
            return last_end + 1;
    }
    return last_end;
}

int ner_tokenize(const char *text, size_t len, ner_toks *out)
{
    pthread_once(&ascii_once, ascii_init);
    const uint8_t *s = (const uint8_t *)text;
    out->n = 0;
    bool gap_ws = false, gap_nl = false;
    bool sent_mark = false; /* the last token ends a sentence if a capital follows */
    size_t i = 0;
    while (i < len) {
        int32_t cp;
        size_t n;
        int c = class_at(s, len, i, &cp, &n);
        if (c == C_SPACE || c == C_FORMAT) {
            gap_ws = true;
            i += n;
            continue;
        }
        if (c == C_NL) {
            gap_ws = gap_nl = true;
            i += n;
            continue;
        }
        size_t end;
        if (is_wordish(c)) {
            end = scan_word(s, len, i);
        } else if (c == C_APOS) {
            /* A possessive whose word was split off just before: "'s". */
            int32_t ncp, acp;
            size_t nn, an;
            class_at(s, len, i + n, &ncp, &nn);
            if ((ncp == 's' || ncp == 'S') && !is_wordish(class_at(s, len, i + n + nn, &acp, &an)))
                end = i + n + nn;
            else
                end = i + n;
        } else {
            end = i + n;
        }
        uint32_t flags = 0;
        if (out->n == 0 || gap_nl)
            flags = NER_TOK_SENT_START;
        else if (sent_mark && gap_ws && (c == C_UPPER || is_opener(cp)))
            flags = NER_TOK_SENT_START;
        if (push(out, i, end, flags) < 0)
            return -1;
        /* A mark keeps the sentence end pending; so does a closing quote or
         * bracket right after it ("...end." Next). */
        if (end == i + n && is_sentence_mark(cp))
            sent_mark = true;
        else if (!(sent_mark && !gap_ws && end == i + n && is_closer(cp)))
            sent_mark = false;
        gap_ws = gap_nl = false;
        i = end;
    }
    return 0;
}

void ner_toks_free(ner_toks *t)
{
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}
