#define _GNU_SOURCE
#include "patterns.h"

#include <stdlib.h>
#include <string.h>

static bool up(char c) { return c >= 'A' && c <= 'Z'; }
static bool low(char c) { return c >= 'a' && c <= 'z'; }
static bool dig(char c) { return c >= '0' && c <= '9'; }
static bool alnum(char c) { return up(c) || low(c) || dig(c) || (unsigned char)c >= 0x80; }

/* The length of a designation at t[p] ("F-16", "Su-25", "A400M", "TB2",
 * "BM-21"), or 0. *strong: it stands alone; otherwise ("TB2", "CO2") it is
 * one only after a maker's name ("Bayraktar TB2"). Single letters with one
 * or two digits ("G7", "A1", "Q3", "M4") are roads, groups and quarters
 * more often than products, and are not designations. */
static size_t designation(const char *t, size_t len, size_t p, bool *strong)
{
    size_t i = p, caps = 0, lower = 0, digits = 0, suffix = 0;
    if (p > 0 && (alnum(t[p - 1]) || t[p - 1] == '-'))
        return 0;
    while (i < len && up(t[i]) && caps < 3)
        i++, caps++;
    if (caps == 1)
        while (i < len && low(t[i]) && lower < 2)
            i++, lower++;
    bool hyphen = i < len && t[i] == '-';
    i += hyphen;
    while (i < len && dig(t[i]) && digits < 4)
        i++, digits++;
    while (digits && i < len && up(t[i]) && suffix < 2)
        i++, suffix++;
    if (digits && i + 1 < len && t[i] == 's' && !alnum(t[i + 1]))
        i++; /* a plural: "F-16s" */
    if (!caps || !digits || (lower && !hyphen) || (i < len && (alnum(t[i]) || t[i] == '_')))
        return 0;
    if (i < len && t[i] == '-' && i + 1 < len && alnum(t[i + 1]))
        return 0; /* part of a longer code */
    if (caps == 1 && !lower && !hyphen && !suffix && digits <= 2)
        return 0;
    *strong = hyphen || digits >= 3 || suffix || (caps >= 2 && digits >= 2);
    return i - p;
}

/* A maker's name in front of a designation: a capitalised word ("Bayraktar",
 * "Boeing") that does not start a sentence. */
static bool maker(const char *t, const ner_tok *w, pat_word_fn not_maker, void *ud)
{
    size_t n = w->end - w->start;
    if (n < 3 || !up(t[w->start]) || (w->flags & NER_TOK_SENT_START))
        return false;
    for (size_t i = w->start + 1; i < w->end; i++)
        if (!low(t[i]) && (unsigned char)t[i] < 0x80)
            return false;
    return !not_maker || !not_maker(ud, t + w->start, n);
}

void pat_designations(const char *t, size_t len, const ner_tok *tk, size_t n, mention *m,
                      size_t *nm, size_t cap, pat_word_fn not_maker, void *ud)
{
    for (size_t i = 0; i < n && *nm < cap; i++) {
        bool strong = false;
        size_t dl = up(t[tk[i].start]) ? designation(t, len, tk[i].start, &strong) : 0;
        if (!dl)
            continue;
        size_t start = tk[i].start, end = tk[i].start + dl;
        if (i > 0 && tk[i - 1].end + 1 == start && t[start - 1] == ' ' && maker(t, &tk[i - 1], not_maker, ud))
            start = tk[i - 1].start;
        else if (!strong)
            continue;
        /* the canonical name is the singular */
        char *canonical = t[end - 1] == 's' ? strndup(t + start, end - 1 - start) : NULL;
        m[(*nm)++] = (mention){start, end, T_MISC, 0.6, NULL, canonical, false};
        while (i + 1 < n && tk[i + 1].start < end)
            i++;
    }
}

static bool word_initial(const char *t, size_t i, size_t start)
{
    return i == start || !alnum(t[i - 1]) || t[i - 1] == '\'';
}

/* Whether abbr's letters are initials of long's words, in order: each
 * letter matches the start of a word (words may be skipped: "of", "the"),
 * or a later letter of the word whose start the previous letter matched
 * ("DFRLab" style ends are not required). */
static bool initials(const char *t, size_t ls, size_t le, const char *a, size_t al)
{
    size_t i = ls;
    for (size_t k = 0; k < al; k++) {
        char c = a[k];
        if (dig(c))
            continue;
        for (; i < le; i++)
            if ((t[i] == c || t[i] == c + 32) && word_initial(t, i, ls))
                break;
        if (i == le)
            return false;
        i++;
    }
    return true;
}

void pat_abbreviations(const char *t, size_t len, mention *m, size_t *nm, size_t cap)
{
    size_t base = *nm;
    for (size_t k = 0; k < base; k++) {
        if (m[k].type < 0)
            continue;
        size_t i = m[k].end;
        while (i < len && t[i] == ' ')
            i++;
        if (i >= len || t[i] != '(')
            continue;
        size_t as = ++i;
        while (i < len && i - as <= 8 && (up(t[i]) || dig(t[i])))
            i++;
        size_t al = i - as;
        if (i >= len || t[i] != ')' || al < 2 || al > 8 || !up(t[as]))
            continue;
        /* a foreign-language acronym ("PKK" for the Kurdistan Workers' Party)
         * is believed of an organisation only */
        if (!initials(t, m[k].start, m[k].end, t + as, al) && m[k].type != T_ORG)
            continue;
        for (const char *p = t; (p = memmem(p, len - (size_t)(p - t), t + as, al)); p++) {
            size_t a = (size_t)(p - t), b = a + al;
            if ((a > 0 && alnum(t[a - 1])) || (b < len && alnum(t[b])))
                continue;
            mention *same = NULL;
            bool covered = false;
            for (size_t j = 0; j < *nm && !covered; j++) {
                if (m[j].type < 0 || m[j].end <= a || b <= m[j].start)
                    continue;
                if (m[j].start == a && m[j].end == b)
                    same = &m[j];
                else
                    covered = true;
            }
            if (covered)
                continue;
            if (!same) {
                if (*nm >= cap)
                    return;
                same = &m[(*nm)++];
                *same = (mention){a, b, -1, 0, NULL, NULL, false};
            }
            free(same->canonical);
            same->type = m[k].type;
            same->score = m[k].score;
            same->entry = m[k].entry;
            same->canonical = !m[k].entry && m[k].canonical ? strdup(m[k].canonical) : NULL;
        }
    }
}
