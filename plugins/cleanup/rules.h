/* The shipped boilerplate rules: each names one kind of web chrome. */
#ifndef CLEANUP_RULES_H
#define CLEANUP_RULES_H

#include <stddef.h>

/* What a matching line takes with it. */
typedef enum {
    RULE_LINE = 0, /* the line */
    RULE_PAIR = 1, /* the line and a short line just before it (a teaser title) */
    RULE_TAIL = 2  /* the line and everything after it, when it sits in the last
                      part of the document (related-article and comment blocks) */
} rule_scope;

typedef struct rule_def {
    const char *name;
    const char *pattern; /* PCRE2, matched against one whitespace-folded line */
    rule_scope scope;
    int max_words;       /* lines longer than this are prose, never matched (0: no limit) */
    const char *why;     /* documented in README.md */
    /* NULL, or words the rule cannot match without, "word1|word2": a line
     * containing none of them, in any case, is spared the pattern, which for
     * a rule that looks anywhere in a line means trying it at every
     * position. Lower-case ASCII; a word is found as the caseless pattern
     * would find it (k also as U+212A, s also as U+017F). */
    const char *need;
} rule_def;

extern const rule_def cleanup_rules[];
extern const size_t cleanup_n_rules;

#endif
