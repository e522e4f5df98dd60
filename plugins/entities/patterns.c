#define _GNU_SOURCE
#include "patterns.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
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
static bool maker(const char *t, const ner_tok *w, pat_lex_fn lex, void *ud)
{
    size_t n = w->end - w->start;
    if (n < 3 || !up(t[w->start]) || (w->flags & NER_TOK_SENT_START))
        return false;
    for (size_t i = w->start + 1; i < w->end; i++)
        if (!low(t[i]) && (unsigned char)t[i] < 0x80)
            return false;
    return !lex || !(lex(ud, t + w->start, n) & (PAT_COMMON | PAT_NATIONALITY));
}

void pat_designations(const char *t, size_t len, const ner_tok *tk, size_t n, mention *m,
                      size_t *nm, size_t cap, pat_lex_fn lex, void *ud)
{
    for (size_t i = 0; i < n && *nm < cap; i++) {
        bool strong = false;
        size_t dl = up(t[tk[i].start]) ? designation(t, len, tk[i].start, &strong) : 0;
        if (!dl)
            continue;
        size_t start = tk[i].start, end = tk[i].start + dl;
        if (i > 0 && tk[i - 1].end + 1 == start && t[start - 1] == ' ' && maker(t, &tk[i - 1], lex, ud))
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
            if (covered || same == &m[k])
                continue; /* the definition itself ("ICANN (ICANN)") stays as it is */
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

/* ---- names by their head noun --------------------------------------------------------- */

typedef struct head {
    const char *word;
    size_t len;
    int type;
} head;

#define H(word, type) {word, sizeof word - 1, type}

/* Nouns that make a capitalised phrase a name of one type, in English news.
 * Kept to words whose capitalised use is almost always part of a name. */
static const head heads[] = {
    /* organisations: government, politics, military, business, media, civil society */
    H("Ministry", T_ORG), H("Ministries", T_ORG), H("Department", T_ORG), H("Office", T_ORG),
    H("Agency", T_ORG), H("Commission", T_ORG), H("Commissioner", T_ORG), H("Committee", T_ORG),
    H("Council", T_ORG), H("Parliament", T_ORG), H("Assembly", T_ORG), H("Senate", T_ORG),
    H("Court", T_ORG), H("Tribunal", T_ORG), H("Party", T_ORG), H("Movement", T_ORG),
    H("Front", T_ORG), H("Alliance", T_ORG), H("Coalition", T_ORG), H("Union", T_ORG),
    H("Organization", T_ORG), H("Organisation", T_ORG), H("Association", T_ORG),
    H("Federation", T_ORG), H("Foundation", T_ORG), H("Institute", T_ORG), H("Institution", T_ORG),
    H("University", T_ORG), H("Academy", T_ORG), H("College", T_ORG), H("School", T_ORG),
    H("Bank", T_ORG), H("Fund", T_ORG), H("Company", T_ORG), H("Corporation", T_ORG),
    H("Corp", T_ORG), H("Inc", T_ORG), H("Ltd", T_ORG), H("Group", T_ORG), H("Holdings", T_ORG),
    H("Industries", T_ORG), H("Airlines", T_ORG), H("Army", T_ORG), H("Navy", T_ORG),
    H("Forces", T_ORG), H("Force", T_ORG), H("Guard", T_ORG), H("Corps", T_ORG),
    H("Brigade", T_ORG), H("Division", T_ORG), H("Regiment", T_ORG), H("Battalion", T_ORG),
    H("Fleet", T_ORG), H("Squadron", T_ORG), H("Police", T_ORG), H("Service", T_ORG),
    H("Services", T_ORG), H("Authority", T_ORG), H("Board", T_ORG), H("Bureau", T_ORG),
    H("Secretariat", T_ORG), H("Mission", T_ORG), H("Embassy", T_ORG), H("Consulate", T_ORG),
    H("Church", T_ORG), H("Times", T_ORG), H("Post", T_ORG), H("News", T_ORG),
    H("Herald", T_ORG), H("Tribune", T_ORG), H("Gazette", T_ORG), H("Journal", T_ORG),
    H("Review", T_ORG), H("Press", T_ORG), H("Television", T_ORG), H("Radio", T_ORG),
    H("Network", T_ORG), H("Center", T_ORG), H("Centre", T_ORG), H("Lab", T_ORG),
    H("Laboratory", T_ORG),
    /* places */
    H("District", T_LOC), H("Province", T_LOC), H("Region", T_LOC), H("Republic", T_LOC),
    H("Oblast", T_LOC), H("Governorate", T_LOC), H("County", T_LOC), H("Prefecture", T_LOC),
    H("Island", T_LOC), H("Islands", T_LOC), H("Mountains", T_LOC), H("Valley", T_LOC),
    H("Strait", T_LOC), H("Gulf", T_LOC), H("Sea", T_LOC), H("Ocean", T_LOC), H("River", T_LOC),
    H("Lake", T_LOC), H("Peninsula", T_LOC), H("Airport", T_LOC), H("Square", T_LOC),
    H("Street", T_LOC), H("Avenue", T_LOC), H("Bridge", T_LOC), H("Highway", T_LOC),
    /* events, laws and documents */
    H("War", T_MISC), H("Wars", T_MISC), H("Revolution", T_MISC), H("Convention", T_MISC),
    H("Treaty", T_MISC), H("Agreement", T_MISC), H("Accord", T_MISC), H("Accords", T_MISC),
    H("Protocol", T_MISC), H("Declaration", T_MISC), H("Act", T_MISC), H("Doctrine", T_MISC),
    H("Summit", T_MISC), H("Games", T_MISC), H("Olympics", T_MISC), H("Cup", T_MISC),
    H("Prize", T_MISC), H("Award", T_MISC),
};
#undef H

/* A word of a list, with its length (W("of")). */
typedef struct word {
    const char *w;
    size_t n;
} word;

#define W(s) {s, sizeof s - 1}

static const word joiners[] = {
    W("of"), W("for"), W("the"), W("and"), W("in"), W("on"), W("de"), W("du"), W("al")};

/* Titles in front of "of": "President of the Russian Federation" names a
 * country after the title, not an organisation. */
static const word titles[] = {
    W("President"), W("Prime"), W("Minister"), W("Secretary"), W("Chairman"), W("Chairwoman"),
    W("Chair"), W("Director"), W("Head"), W("Chief"), W("King"), W("Queen"), W("Prince"),
    W("Princess"), W("Governor"), W("Mayor"), W("Ambassador"), W("Spokesman"), W("Spokeswoman"),
    W("Spokesperson"), W("Commander"), W("General"), W("Deputy"), W("Vice"), W("Speaker"),
    W("Leader"), W("Founder"), W("Emperor"), W("Pope"), W("Sultan"), W("Member"), W("Members"),
    W("Foreign"), W("Defense"), W("Defence"), W("Interior"), W("Finance"), W("State"), W("Sir"),
    W("Lord"), W("Lady"), W("Senator"), W("Judge"), W("Justice"), W("Colonel"), W("Lieutenant"),
    W("Major"), W("Captain"), W("Sergeant"), W("Admiral"), W("Marshal"), W("Ayatollah"),
    W("Sheikh"), W("Emir"), W("Patriarch"), W("Archbishop"), W("Bishop"), W("Cardinal"),
    W("Rabbi"), W("Imam"), W("Chancellor"), W("Premier")};

/* Capitalised, these mark a headline in title case, not a name. */
static const word title_case[] = {
    W("Of"), W("For"), W("The"), W("And"), W("In"), W("On"), W("To"), W("A"), W("An"),
    W("With"), W("At"), W("By"), W("From"), W("As"), W("Is"), W("Are")};

/* The heads by their first letter (they all start with a capital):
 * heads[by_letter[from[c]], ..., by_letter[from[c + 1] - 1]] start with
 * 'A' + c, in the list's order. */
enum { N_HEADS = sizeof heads / sizeof *heads };
static uint8_t by_letter[N_HEADS], from[27];
static pthread_once_t letters_once = PTHREAD_ONCE_INIT;

static void index_letters(void)
{
    size_t k = 0;
    for (int c = 0; c < 26; c++) {
        from[c] = (uint8_t)k;
        for (size_t i = 0; i < N_HEADS; i++)
            if (heads[i].word[0] == 'A' + c)
                by_letter[k++] = (uint8_t)i;
    }
    from[26] = (uint8_t)k;
}

int pat_head_type(const char *w, size_t n)
{
    pthread_once(&letters_once, index_letters);
    if (!n || !up(w[0]))
        return -1;
    for (size_t k = from[w[0] - 'A']; k < from[w[0] - 'A' + 1]; k++) {
        const head *h = &heads[by_letter[k]];
        if (h->len == n && !memcmp(h->word, w, n))
            return h->type;
    }
    return -1;
}

static bool in(const word *list, size_t count, const char *w, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (list[i].n == n && !memcmp(list[i].w, w, n))
            return true;
    return false;
}

static bool joiner(const char *w, size_t n) { return in(joiners, sizeof joiners / sizeof *joiners, w, n); }

static bool title(const char *w, size_t n) { return in(titles, sizeof titles / sizeof *titles, w, n); }

/* Words run together by a lost line break ("HillThe"): a capital after three
 * or more small letters. */
static bool glued(const char *t, const ner_tok *w)
{
    size_t small = 0;
    for (size_t i = w->start; i < w->end; i++) {
        if (low(t[i]))
            small++;
        else if (up(t[i]) && small >= 3)
            return true;
        else
            small = 0;
    }
    return false;
}

/* Whether the line holding byte p is a headline in title case: four words
 * or more, nearly all capitalised. The answer for the last line asked about
 * is kept in *memo ([start, end) of that line, and the answer), since a
 * line is asked about once per capitalised word. */
typedef struct line_memo {
    size_t a, b;
    bool headline;
} line_memo;

static bool headline(const char *t, size_t len, size_t p, line_memo *memo)
{
    if (memo->a <= p && p < memo->b)
        return memo->headline;
    const char *nl = p ? memrchr(t, '\n', p) : NULL, *end = memchr(t + p, '\n', len - p);
    size_t a = nl ? (size_t)(nl - t) + 1 : 0, b = end ? (size_t)(end - t) : len, words = 0, caps = 0;
    *memo = (line_memo){a, b, false};
    if (b - a > 300)
        return false;
    for (size_t i = a; i < b; i++) {
        if ((i == a || t[i - 1] == ' ') && (up(t[i]) || low(t[i]))) {
            words++;
            caps += up(t[i]);
        }
    }
    memo->headline = words >= 4 && caps * 10 >= words * 8;
    return memo->headline;
}

/* A capitalised word ("Defense", "Prosecutor", "Şuşa"), an ordinal in front
 * of a unit ("4th", "15th"), or a possessive inside a name ("'s"). */
static bool cap_word(const char *t, const ner_tok *w)
{
    unsigned char c = (unsigned char)t[w->start];
    return up((char)c) || (c >= 0xC3 && c <= 0xD4 && w->end - w->start >= 2 &&
                            (unsigned char)t[w->start + 1] >= 0x80 && (unsigned char)t[w->start + 1] < 0xA0);
}

static bool ordinal(const char *t, const ner_tok *w)
{
    size_t i = w->start, n = w->end - w->start;
    while (i < w->end && dig(t[i]))
        i++;
    size_t rest = w->end - i;
    return i > w->start && rest == 2 && n <= 5 &&
           (!memcmp(t + i, "st", 2) || !memcmp(t + i, "nd", 2) || !memcmp(t + i, "rd", 2) ||
            !memcmp(t + i, "th", 2));
}

static bool possessive(const char *t, const ner_tok *w)
{
    size_t n = w->end - w->start;
    return (n == 2 && !memcmp(t + w->start, "'s", 2)) ||
           (n == 4 && !memcmp(t + w->start, "\xE2\x80\x99s", 4));
}

/* Tokens a and b touch, or have one space or a hyphen between them. */
static bool adjacent(const char *t, const ner_tok *a, const ner_tok *b)
{
    return b->start == a->end || (b->start == a->end + 1 && t[a->end] == ' ');
}

void pat_head_phrases(const char *t, size_t len, const ner_tok *tk, size_t n, mention *m,
                      size_t *nm, size_t cap, pat_lex_fn lex, void *ud)
{
    line_memo line = {0, 0, false};
    for (size_t i = 0; i < n && *nm < cap;) {
        /* a run of capitalised words (and hyphens inside), with joiners
         * between them, starting at a word that is not a sentence's common
         * first word ("The", "In") */
        const ner_tok *w = &tk[i];
        bool first_ok = cap_word(t, w) || (ordinal(t, w) && i + 1 < n && cap_word(t, &tk[i + 1]));
        if (!first_ok || glued(t, w) || (lex && (lex(ud, t + w->start, w->end - w->start) & PAT_COMMON)) ||
            headline(t, len, w->start, &line)) {
            i++;
            continue;
        }
        size_t j = i, last = i; /* last: the last capitalised word of the run */
        int type = -1;
        size_t head_at = SIZE_MAX;
        for (; j < n; j++) {
            const ner_tok *x = &tk[j];
            size_t xl = x->end - x->start;
            if (j > i && !adjacent(t, &tk[j - 1], x))
                break;
            if (j > i && j == last + 1 && xl == 1 && t[x->start] == '-' && j + 1 < n &&
                tk[j + 1].start == x->end && cap_word(t, &tk[j + 1]))
                continue; /* "Nagorno-Karabakh" */
            if (j > i && j == last + 1 && possessive(t, x)) {
                /* inside a name only after common words ("Prosecutor's
                 * Office"), not after a name ("Erdogan's Justice ...") */
                bool common = true;
                for (size_t k = i; k < j && common; k++)
                    common = !cap_word(t, &tk[k]) ||
                             (lex && (lex(ud, t + tk[k].start, tk[k].end - tk[k].start) & PAT_COMMON));
                if (!common)
                    break;
                continue;
            }
            if (j - i >= 12)
                break;
            if (cap_word(t, x) || (j == i && ordinal(t, x))) {
                if (((tk[j].flags & NER_TOK_SENT_START) && j > i) || glued(t, x) ||
                    in(title_case, sizeof title_case / sizeof *title_case, t + x->start, xl))
                    break;
                int ht = pat_head_type(t + x->start, xl);
                /* after the head, only another head ("Army Corps") or what
                 * "of"/"for" brings ("Ministry of Defense") belongs to it */
                if (type >= 0 && ht < 0 && j == last + 1 && head_at == last)
                    break;
                if (ht >= 0 && (type < 0 || ht == T_ORG))
                    type = ht, head_at = j;
                last = j;
                continue;
            }
            /* a joiner between capitalised words; after the head, "and" goes
             * on only to a word that is not a place ("Security and
             * Cooperation", not "Azerbaijan and Armenia") */
            if (j > i && joiner(t + x->start, xl) && j + 1 < n && adjacent(t, x, &tk[j + 1])) {
                size_t k = j + 1;
                while (k < n && joiner(t + tk[k].start, tk[k].end - tk[k].start) && k < j + 2)
                    k++;
                if (k < n && cap_word(t, &tk[k]) && adjacent(t, &tk[k - 1], &tk[k])) {
                    /* "and" joins two words before the head ("Justice and
                     * Development Party"), never two names ("Aliyev and the
                     * ... Ministry", "... Union and the ... Organization");
                     * "in" ends a name ("... Corps in Pirikeskul") */
                    bool and_ = xl == 3 && !memcmp(t + x->start, "and", 3);
                    bool in_ = xl == 2 && !memcmp(t + x->start, "in", 2);
                    if (in_ || (and_ && (type >= 0 || k != j + 1 || last != i)))
                        break;
                    bool titled = xl == 2 && !memcmp(t + x->start, "of", 2);
                    for (size_t q = i; q < j && titled; q++)
                        titled = title(t + tk[q].start, tk[q].end - tk[q].start);
                    if (titled) { /* start again after "President of the" */
                        i = k;
                        last = k - 1;
                        type = -1, head_at = SIZE_MAX;
                    }
                    j = k - 1;
                    continue;
                }
            }
            break;
        }
        /* a name needs a head and one more capitalised word ("the Ministry"
         * alone is not one) */
        if (type >= 0 && last > i && !(head_at == i && last == i)) {
            m[(*nm)++] = (mention){tk[i].start, tk[last].end, type, 0.6, NULL, NULL, false};
        }
        i = last + 1;
    }
}

/* ---- people's names ------------------------------------------------------------------- */

/* "Mr.", "Mrs.", "Dr.", "Gen.", "Sen.", "Rep.", "Gov.", "Lt.", "Col.", "Sgt." */
static bool honorific(const char *t, const ner_tok *w)
{
    static const word h[] = {
        W("Mr."), W("Mrs."), W("Ms."), W("Dr."), W("Gen."), W("Sen."), W("Rep."), W("Gov."),
        W("Lt."), W("Col."), W("Sgt."), W("Capt."), W("Prof."), W("Rev."), W("Mr"), W("Mrs"),
        W("Ms"), W("Dr")};
    return in(h, sizeof h / sizeof *h, t + w->start, w->end - w->start);
}

/* The index of the token that starts at byte p, or n. */
static size_t token_at(const ner_tok *tk, size_t n, size_t p)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tk[mid].start < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && tk[lo].start == p ? lo : n;
}

void pat_complete_persons(const char *t, const ner_tok *tk, size_t n, mention *m, size_t nm,
                          pat_lex_fn lex, void *ud)
{
    for (size_t k = 0; k < nm; k++) {
        if (m[k].type != T_PER)
            continue;
        size_t i = token_at(tk, n, m[k].start), first = i;
        if (i == n)
            continue;
        /* a title is not part of the name: "[President] Erdogan" */
        while (i + 1 < n && tk[i + 1].end <= m[k].end &&
               (title(t + tk[i].start, tk[i].end - tk[i].start) || honorific(t, &tk[i])))
            i++;
        while (i < n && tk[i].end <= m[k].end && !cap_word(t, &tk[i]))
            i++; /* "Prime Minister" leaves "Minister"; punctuation */
        if (i == n || tk[i].end > m[k].end)
            continue;
        if (tk[i].start != m[k].start)
            m[k].start = tk[i].start;
        first = i;
        while (first > 0 && first + 3 > i) {
            const ner_tok *w = &tk[first - 1];
            size_t wl = w->end - w->start;
            bool small = false;
            for (size_t q = w->start + 1; q < w->end; q++)
                small |= low(t[q]);
            if (!adjacent(t, w, &tk[first]) || tk[first].start != w->end + 1 || !up(t[w->start]) ||
                !small || wl < 2 || glued(t, w) || title(t + w->start, wl) || pat_head_type(t + w->start, wl) >= 0 ||
                (lex && lex(ud, t + w->start, wl)) || (tk[first].flags & NER_TOK_SENT_START))
                break;
            first--;
        }
        if (first == i)
            continue;
        size_t start = tk[first].start;
        for (size_t j = 0; j < nm; j++)
            if (j != k && m[j].type >= 0 && m[j].start >= start && m[j].end <= m[k].start)
                m[j].type = -1;
        m[k].start = start;
    }
}

/* ---- official names of ministries ---------------------------------------- */

typedef struct span {
    const char *p;
    size_t n;
} span;

/* "Azerbaijan's" -> "Azerbaijan" (straight or curly apostrophe). */
static span strip_possessive(span w)
{
    if (w.n > 2 && !memcmp(w.p + w.n - 2, "'s", 2))
        w.n -= 2;
    else if (w.n > 4 && !memcmp(w.p + w.n - 4, "\xE2\x80\x99s", 4))
        w.n -= 4;
    return w;
}

static bool is_word(span w, const char *s) { return w.n == strlen(s) && !memcmp(w.p, s, w.n); }

/* A portfolio word: capitalised, or the "and" of "Foreign Affairs and Trade". */
static bool portfolio_word(span w) { return up(w.p[0]) || is_word(w, "and") || is_word(w, "&"); }

/* Appends the portfolio in one spelling: "Defence" is written "Defense" and a
 * bare "Foreign" is "Foreign Affairs", so that the British and the American
 * and the short and the long form name one ministry. */
static size_t put_portfolio(char *out, const span *w, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = ' ';
        if (is_word(w[i], "Defence")) {
            memcpy(out + o, "Defense", 7);
            o += 7;
            continue;
        }
        memcpy(out + o, w[i].p, w[i].n);
        o += w[i].n;
    }
    if (n == 1 && is_word(w[0], "Foreign")) {
        memcpy(out + o, " Affairs", 8);
        o += 8;
    }
    return o;
}

#define MAX_MINISTRY_WORDS 12

void pat_ministries(const char *t, mention *m, size_t nm, pat_country_fn country_of, void *ud)
{
    for (size_t k = 0; k < nm; k++) {
        if (m[k].type != T_ORG || m[k].entry)
            continue;
        span w[MAX_MINISTRY_WORDS];
        size_t n = 0, mi = SIZE_MAX;
        bool too_long = false;
        for (size_t i = m[k].start; i < m[k].end && !too_long;) {
            while (i < m[k].end && t[i] == ' ')
                i++;
            size_t j = i;
            while (j < m[k].end && t[j] != ' ')
                j++;
            if (j == i)
                break;
            if (n == MAX_MINISTRY_WORDS) {
                too_long = true;
                break;
            }
            w[n] = (span){t + i, j - i};
            if (is_word(w[n], "Ministry"))
                mi = mi == SIZE_MAX ? n : SIZE_MAX - 1; /* twice: not one ministry */
            n++;
            i = j;
        }
        if (too_long || mi >= SIZE_MAX - 1)
            continue;
        const char *country = NULL;
        size_t pb = 0; /* portfolio before "Ministry": w[pb, mi) */
        if (mi > 0) {
            span c = strip_possessive(w[0]);
            if ((country = country_of(ud, c.p, c.n)))
                pb = 1;
        }
        for (size_t i = pb; i < mi; i++)
            if (!portfolio_word(w[i]))
                goto next;
        /* after it: "of COUNTRY" when the portfolio came first ("Defence
         * Ministry of Azerbaijan"), else "of PORTFOLIO [of COUNTRY]" */
        size_t pa = mi + 1, pe = n;
        if (pa < n) {
            if (!is_word(w[pa], "of"))
                continue;
            pa++;
            pe = pa;
            if (pb == mi)
                while (pe < n && !is_word(w[pe], "of"))
                    if (!portfolio_word(w[pe++]))
                        goto next;
            size_t cs = pb < mi ? pa : pe + 1; /* where the country starts */
            if (pb < mi || pe < n) {
                if (country || cs >= n)
                    continue;
                const char *a = w[cs].p, *z = w[n - 1].p + w[n - 1].n;
                if (!(country = country_of(ud, a, (size_t)(z - a))))
                    continue;
            }
        }
        const span *pw = pb < mi ? w + pb : w + pa;
        size_t np = pb < mi ? mi - pb : pe - pa;
        if (!np)
            continue;
        /* the country may stand just before the name: "Azerbaijan's [Defense
         * Ministry]", "the Azerbaijani [Defense Ministry]" */
        if (!country && m[k].start > 1 && t[m[k].start - 1] == ' ') {
            size_t b = m[k].start - 1;
            while (b > 0 && t[b - 1] != ' ' && t[b - 1] != '\n')
                b--;
            span c = strip_possessive((span){t + b, m[k].start - 1 - b});
            country = c.n ? country_of(ud, c.p, c.n) : NULL;
        }
        if (!country)
            continue;
        size_t plen = 0;
        for (size_t i = 0; i < np; i++)
            plen += pw[i].n + 1;
        char *canon = malloc(sizeof "Ministry of  Affairs of " + plen + strlen(country));
        if (!canon)
            continue; /* the printed form stays: no worse than before */
        size_t o = (size_t)sprintf(canon, "Ministry of ");
        o += put_portfolio(canon + o, pw, np);
        sprintf(canon + o, " of %s", country);
        free(m[k].canonical);
        m[k].canonical = canon;
    next:;
    }
}
