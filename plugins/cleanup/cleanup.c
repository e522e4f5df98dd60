/* stage `cleanup`: character repair and Unicode normalisation, whitespace
 * layout, and removal of boilerplate lines, by named rules (shipped, and the
 * user's) and by corpus statistics (lines repeated across many documents).
 * Every change goes through an offset map, so annotations survive. */
#include "bytes.h"
#include "edit.h"
#include "linestats.h"
#include "normalize.h"
#include "regex.h"
#include "rules.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct config {
    int normalize; /* NORM_* - 0 based: nfc, nfkc, none */
    int repair, typography;
    int builtin_rules;
    tm_strlist disable_rules;
    tm_strmap rules;
    double tail_fraction;
    int repeated_lines;
    int64_t min_docs, window, short_line_words, max_line_hashes;
} config;

static const tm_option options[] = {
    {.name = "normalize", .type = TM_OPT_ENUM, .choices = "nfc|nfkc|none", .def = "nfc",
     .offset = offsetof(config, normalize),
     .help = "Unicode normalisation form: nfc (canonical composition, lossless), nfkc (also "
             "folds compatibility characters such as ligatures and full-width forms) or none."},
    {.name = "repair", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, repair),
     .help = "Repair mojibake (UTF-8 read as Windows-1252: \"Ã©\" -> \"é\"), remove control and "
             "invisible characters, turn no-break and other Unicode spaces into spaces, and "
             "fold runs of blanks and blank lines."},
    {.name = "typography", .type = TM_OPT_BOOL, .def = "false",
     .offset = offsetof(config, typography),
     .help = "Also replace curly quotes, dashes and the ellipsis character by ASCII."},
    {.name = "builtin_rules", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, builtin_rules),
     .help = "Use the shipped boilerplate rules (see the plugin's README for each rule)."},
    {.name = "disable_rules", .type = TM_OPT_LIST, .offset = offsetof(config, disable_rules),
     .help = "Names of shipped rules to switch off, e.g. [share_counter, copyright]."},
    {.name = "rules", .type = TM_OPT_MAP, .offset = offsetof(config, rules),
     .help = "Your own rules, NAME: PCRE2 pattern, matched case-insensitively against each "
             "line (blanks folded); a matching line is removed and counted as rule:NAME."},
    {.name = "tail_fraction", .type = TM_OPT_DOUBLE, .def = "0.4", .min = 0, .max = 1,
     .offset = offsetof(config, tail_fraction),
     .help = "Related-article and comment blocks are removed with everything after them only "
             "when they start in this last fraction of a document's lines."},
    {.name = "repeated_lines", .type = TM_OPT_BOOL, .def = "true",
     .offset = offsetof(config, repeated_lines),
     .help = "Remove lines that recur in at least min_docs documents of the run (and, with "
             "state:, of earlier runs), as corpus pipelines such as CCNet do. Documents are "
             "held back in windows to count."},
    {.name = "min_docs", .type = TM_OPT_INT, .def = "5", .min = 2, .max = 1e9,
     .offset = offsetof(config, min_docs),
     .help = "How many documents a line must appear in to count as repeated boilerplate."},
    {.name = "window", .type = TM_OPT_INT, .def = "1000", .min = 1, .max = 1e7,
     .offset = offsetof(config, window),
     .help = "Documents held back and counted together before repeated lines are removed "
             "from them (more: better statistics, more memory, later output)."},
    {.name = "short_line_words", .type = TM_OPT_INT, .def = "15", .min = 1, .max = 1000,
     .offset = offsetof(config, short_line_words),
     .help = "A repeated line longer than this many words is removed only if it mostly sits "
             "among a document's first or last lines: long repeated prose in the middle is "
             "more likely a syndicated story than chrome, and dedupe handles those."},
    {.name = "max_line_hashes", .type = TM_OPT_INT, .def = "4000000", .min = 1000, .max = 1e9,
     .offset = offsetof(config, max_line_hashes),
     .help = "Memory bound of the repeated-line table (about 32 bytes each); when full, lines "
             "seen only once are forgotten."},
    TM_OPTIONS_END};

/* A word a rule cannot match without. */
typedef struct need_word {
    char word[40];
    size_t len;
} need_word;
#define MAX_NEED 8

/* A place of the rule's anchor byte (see rule) in one of its need words, and
 * the byte after it there (0: the word ends there), which rules out most
 * places at once. */
typedef struct need_place {
    unsigned char word, at;
    char next;
} need_place;
#define MAX_PLACES 16

typedef struct rule {
    const char *name;
    const char *pattern;
    pcre2_code *re;
    rule_scope scope;
    int max_words;
    int source_group, author_group;
    need_word need_words[MAX_NEED]; /* see rule_def */
    size_t n_need;                  /* 0: no need, the pattern is always tried */
    need_place places[MAX_PLACES];
    size_t n_places;
    char anchor; /* a byte of every need word, the rarest in English text: lines
                    are searched for it (memchr), then for the words around it */
    bool combined;     /* also an alternative of the combined patterns */
    char counter[96];
} rule;

/* The shipped rules are anchored at the start of the line, so one pattern
 * "(*MARK:0)(?:rule 0)|(*MARK:1)(?:rule 1)|..." tried at offset 0 finds the
 * first of them that matches, in one JIT call instead of one per rule
 * (pcre2_get_mark tells which). Which rules take part depends on the line's
 * word count (max_words) and on whether it lies in the tail (RULE_TAIL), so
 * there is one such pattern per set of rules, compiled when first needed. */
typedef struct combo {
    uint64_t rules; /* bit k: rule k is an alternative */
    pcre2_code *re;
} combo;
#define MAX_COMBOS 64

typedef struct state {
    const tm_host *host;
    const config *cfg;
    norm_opts norm;
    rule *rules;
    size_t n_rules;
    uint64_t *combinable_by_words; /* [w]: combined rules whose word limit admits w words */
    size_t max_limit;              /* the largest word limit of a combined rule */
    uint64_t tail_rules;           /* combined rules with RULE_TAIL scope */
    combo combos[MAX_COMBOS];
    size_t n_combos;
    pcre2_match_data *md;
    linestats stats;
    ed ed;  /* the edits of one document at a time; its buffers are kept */
    bool stats_loaded;
    char *stats_path;
    tm_doc **held;
    size_t n_held, cap_held;
    /* the kept lines of the held documents, in order, as count_lines hashed
     * them: a held text's non-blank lines are exactly these (the rewrite
     * kept them as they were folded), so release need not hash them again */
    struct held_line {
        uint64_t hash;
        size_t words;
    } *held_lines;
    size_t n_held_lines, cap_held_lines;
    size_t *held_first; /* [i]: held document i's first entry in held_lines */
    size_t cap_held_first;
    /* per-document scratch */
    char *fold, *lower;
    size_t fold_cap, lower_cap;
    struct line_info {
        size_t a, b;         /* content bytes [a, b) in the text */
        const char *f;       /* the folded line: in the text itself when folding
                                changes nothing (most lines), else in fold[] */
        size_t flen;
        size_t words;
        bool folded;         /* f is in fold[]: the rewrite must fold the blanks */
        int rule;            /* removing rule, -1 kept, -2 repeated line */
    } *lines;
    size_t n_lines, cap_lines;
    uint64_t *hashes;
    size_t cap_hashes;
    int64_t *rule_hits;      /* per rule, for one document */
    size_t *hit_order;
} state;

static bool name_is_builtin(const char *n)
{
    for (size_t i = 0; i < cleanup_n_rules; i++)
        if (!strcmp(cleanup_rules[i].name, n))
            return true;
    return false;
}

/* Splits a rule's need into words; none if it does not fit, is not lower
 * case ASCII (see rule_def), or its words share no byte. */
static void parse_need(rule *r, const char *need)
{
    /* letters by frequency in English; punctuation is rarer still */
    static const char by_frequency[] = "etaoinshrdlcumwfgypbvkjxqz";
    r->n_need = r->n_places = 0;
    if (!need)
        return;
    for (const char *p = need; *p; p++)
        if ((unsigned char)*p >= 0x80 || (*p >= 'A' && *p <= 'Z'))
            return;
    size_t l0 = strcspn(need, "|"), best = 0;
    for (size_t k = 0; k < l0; k++) {
        const char *f = strchr(by_frequency, need[k]);
        size_t rank = f ? (size_t)(f - by_frequency) + 1 : sizeof by_frequency + 1;
        bool in_all = true;
        for (const char *lit = need; *lit && in_all;) {
            size_t l = strcspn(lit, "|");
            in_all = memchr(lit, need[k], l) != NULL;
            lit += l + (lit[l] == '|');
        }
        if (in_all && rank > best)
            best = rank, r->anchor = need[k];
    }
    if (!best)
        return;
    for (const char *lit = need; *lit;) {
        size_t l = strcspn(lit, "|");
        if (l == 0 || l >= sizeof r->need_words[0].word || r->n_need == MAX_NEED) {
            r->n_need = 0;
            return;
        }
        need_word *nw = &r->need_words[r->n_need++];
        memcpy(nw->word, lit, l);
        nw->len = l;
        for (size_t k = 0; k < l; k++) {
            if (lit[k] != r->anchor)
                continue;
            if (r->n_places == MAX_PLACES) {
                r->n_need = 0;
                return;
            }
            char next = k + 1 < l ? lit[k + 1] : 0;
            r->places[r->n_places++] =
                (need_place){(unsigned char)(r->n_need - 1), (unsigned char)k, next};
        }
        lit += l + (lit[l] == '|');
    }
}

static int add_rule(state *s, tm_ctx *ctx, const char *name, const char *pattern,
                    rule_scope scope, int max_words, const char *need, bool builtin)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        s->host->error(ctx, "rule '%s': invalid regular expression at offset %zu: %s", name,
                       (size_t)off, (const char *)msg);
        return TM_ECONFIG;
    }
    tm_regex_jit(re);
    rule *r = &s->rules[s->n_rules++];
    r->name = name;
    r->pattern = pattern;
    r->re = re;
    r->scope = scope;
    r->max_words = max_words;
    r->source_group = pcre2_substring_number_from_name(re, (PCRE2_SPTR) "source");
    r->author_group = pcre2_substring_number_from_name(re, (PCRE2_SPTR) "author");
    parse_need(r, need);
    /* Only the shipped patterns are combined: they are known to be anchored
     * and free of numbered references and backtracking verbs, which could
     * mean something else inside a larger pattern. A rule with a need is
     * cheaper on its own. */
    uint32_t opts = 0;
    pcre2_pattern_info(re, PCRE2_INFO_ALLOPTIONS, &opts);
    r->combined = builtin && !r->n_need && (opts & PCRE2_ANCHORED) && s->n_rules <= 64;
    snprintf(r->counter, sizeof r->counter, "rule:%s", name);
    return TM_OK;
}

static void fini(void *st)
{
    state *s = st;
    const tm_host *h = s->host;
    for (size_t i = 0; i < s->n_rules; i++)
        pcre2_code_free(s->rules[i].re);
    h->free(s->rules);
    for (size_t i = 0; i < s->n_combos; i++)
        pcre2_code_free(s->combos[i].re);
    h->free(s->combinable_by_words);
    h->free(s->held_lines);
    h->free(s->held_first);
    h->free(s->rule_hits);
    h->free(s->hit_order);
    pcre2_match_data_free(s->md);
    linestats_free(&s->stats);
    ed_free(&s->ed);
    h->free(s->norm.cache);
    for (size_t i = 0; i < s->n_held; i++)
        h->doc_free(s->held[i]);
    h->free(s->held);
    h->free(s->stats_path);
    h->free(s->fold);
    h->free(s->lower);
    h->free(s->lines);
    h->free(s->hashes);
    h->free(s);
}

/* Which combined rules admit a line of w words (index min(w, max_limit + 1)),
 * and the per-document tallies. */
static int plan_combos(state *s)
{
    const tm_host *h = s->host;
    s->max_limit = 0;
    for (size_t k = 0; k < s->n_rules; k++)
        if (s->rules[k].combined && (size_t)s->rules[k].max_words > s->max_limit)
            s->max_limit = (size_t)s->rules[k].max_words;
    s->combinable_by_words = h->alloc((s->max_limit + 2) * sizeof *s->combinable_by_words);
    s->rule_hits = h->alloc((s->n_rules + 1) * sizeof *s->rule_hits);
    s->hit_order = h->alloc((s->n_rules + 1) * sizeof *s->hit_order);
    if (!s->combinable_by_words || !s->rule_hits || !s->hit_order)
        return TM_ENOMEM;
    memset(s->rule_hits, 0, (s->n_rules + 1) * sizeof *s->rule_hits);
    for (size_t w = 0; w <= s->max_limit + 1; w++) {
        uint64_t m = 0;
        for (size_t k = 0; k < s->n_rules; k++) {
            const rule *r = &s->rules[k];
            if (r->combined && (!r->max_words || w <= (size_t)r->max_words))
                m |= 1ull << k;
        }
        s->combinable_by_words[w] = m;
    }
    s->tail_rules = 0;
    for (size_t k = 0; k < s->n_rules; k++)
        if (s->rules[k].combined && s->rules[k].scope == RULE_TAIL)
            s->tail_rules |= 1ull << k;
    return TM_OK;
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfgp, void **out)
{
    const config *cfg = cfgp;
    for (size_t i = 0; i < cfg->disable_rules.n; i++) {
        if (!name_is_builtin(cfg->disable_rules.items[i])) {
            h->error(ctx, "disable_rules: there is no shipped rule '%s' (textmill plugins "
                          "cleanup lists them in its README)",
                     cfg->disable_rules.items[i]);
            return TM_ECONFIG;
        }
    }
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = cfg;
    s->norm.form = cfg->normalize == 0 ? NORM_NFC : cfg->normalize == 1 ? NORM_NFKC : NORM_NONE;
    s->norm.mojibake = s->norm.controls = s->norm.spaces = cfg->repair;
    s->norm.typography = cfg->typography;
    s->rules = h->alloc((cleanup_n_rules + cfg->rules.n + 1) * sizeof *s->rules);
    s->md = pcre2_match_data_create(16, NULL);
    ed_init(&s->ed, h, NULL, 0);
    s->norm.cache = h->alloc(sizeof *s->norm.cache);
    if (s->norm.cache)
        memset(s->norm.cache, 0, sizeof *s->norm.cache);
    int rc = s->rules && s->md && s->norm.cache ? TM_OK : TM_ENOMEM;
    if (rc == TM_OK)
        rc = linestats_init(&s->stats, h, (size_t)cfg->max_line_hashes);
    for (size_t i = 0; rc == TM_OK && cfg->builtin_rules && i < cleanup_n_rules; i++) {
        bool off = false;
        for (size_t k = 0; k < cfg->disable_rules.n; k++)
            off |= !strcmp(cfg->disable_rules.items[k], cleanup_rules[i].name);
        if (!off)
            rc = add_rule(s, ctx, cleanup_rules[i].name, cleanup_rules[i].pattern,
                          cleanup_rules[i].scope, cleanup_rules[i].max_words,
                          cleanup_rules[i].need, true);
    }
    for (size_t i = 0; rc == TM_OK && i < cfg->rules.n; i++)
        rc = add_rule(s, ctx, cfg->rules.keys[i], cfg->rules.values[i], RULE_LINE, 0, NULL,
                      false);
    if (rc == TM_OK)
        rc = plan_combos(s);
    if (rc != TM_OK) {
        fini(s);
        return rc;
    }
    *out = s;
    return TM_OK;
}

/* ---- lines -------------------------------------------------------------------- */

static bool grow(const tm_host *h, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *g = h->realloc(*p, c * size);
    if (!g)
        return false;
    *p = g;
    *cap = c;
    return true;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Splits text into lines and finds each one's folded form (blanks folded):
 * the line itself when it is already folded, else a copy in s->fold.
 * `folded`: the caller knows every line to be folded or empty (a text this
 * stage rewrote), and needs no word counts. */
static int scan_lines(state *s, const char *t, size_t n, bool folded)
{
    s->n_lines = 0;
    if (!grow(s->host, (void **)&s->fold, &s->fold_cap, n + 1, 1))
        return TM_ENOMEM;
    size_t f = 0, a = 0;
    while (a <= n) {
        const char *nl = memchr(t + a, '\n', n - a);
        size_t b = nl ? (size_t)(nl - t) : n;
        if (!grow(s->host, (void **)&s->lines, &s->cap_lines, s->n_lines + 1,
                  sizeof *s->lines))
            return TM_ENOMEM;
        struct line_info *L = &s->lines[s->n_lines++];
        L->a = a;
        L->b = b;
        L->rule = -1;
        L->words = 0;
        if (folded || bytes_line_folded(t + a, b - a, &L->words)) {
            L->f = t + a;
            L->flen = b - a;
            L->folded = false;
        } else {
            size_t fa = f;
            bool in_space = true;
            for (size_t i = a; i < b; i++) {
                if (is_blank(t[i])) {
                    in_space = true;
                    continue;
                }
                if (in_space && f > fa)
                    s->fold[f++] = ' ';
                if (in_space)
                    L->words++;
                in_space = false;
                s->fold[f++] = t[i];
            }
            L->f = s->fold + fa;
            L->flen = f - fa;
            L->folded = true;
        }
        if (!nl)
            break;
        a = b + 1;
    }
    return TM_OK;
}

static bool line_blank(const struct line_info *L) { return L->flen == 0; }

/* ---- rules -------------------------------------------------------------------- */

static bool rule_applies(const rule *r, size_t words, bool tail_ok)
{
    return (!r->max_words || words <= (size_t)r->max_words) && (r->scope != RULE_TAIL || tail_ok);
}

/* line[0, n) in lower case as far as the need words go (see rule_def):
 * ASCII capitals in lower case, and the two other letters that caseless
 * matching takes for ASCII ones, U+212A KELVIN SIGN and U+017F LONG S, as
 * k and s (so the copy may be shorter: *len). Other bytes as they are. */
static const char *lowered(state *s, const char *line, size_t n, size_t *len)
{
    if (!grow(s->host, (void **)&s->lower, &s->lower_cap, n + 1, 1))
        return NULL;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = bytes_lower_ascii(s->lower + o, line + i, n - i);
        i += k, o += k;
        if (i == n)
            break;
        const unsigned char *u = (const unsigned char *)line + i;
        if (u[0] == 0xC5 && i + 1 < n && u[1] == 0xBF) {
            s->lower[o++] = 's', i += 2;
        } else if (u[0] == 0xE2 && i + 2 < n && u[1] == 0x84 && u[2] == 0xAA) {
            s->lower[o++] = 'k', i += 3;
        } else {
            s->lower[o++] = line[i++];
        }
    }
    *len = o;
    return s->lower;
}

/* Whether nw's word is at p, ignoring ASCII case. */
static bool word_at(const char *p, const need_word *nw)
{
    for (size_t j = 0; j < nw->len; j++) {
        char w = nw->word[j], c = p[j];
        if (w >= 'a' && w <= 'z')
            c |= 0x20; /* 'P' | 0x20 == 'p'; no other byte gives a lower-case letter */
        if (c != w)
            return false;
    }
    return true;
}

/* Whether text[0, n) contains one of the rule's need words, ignoring ASCII
 * case, found around each of its anchor bytes. `text` is an all-ASCII line
 * or the line as lowered() makes it (see rule_def). */
static bool need_met(const rule *r, const char *text, size_t n)
{
    char a = r->anchor, upper = a >= 'a' && a <= 'z' ? (char)(a - 32) : a;
    for (size_t i = 0; (i += bytes_find2(text + i, n - i, a, upper)) < n; i++) {
        char next = i + 1 < n ? text[i + 1] : 0;
        if (next >= 'A' && next <= 'Z')
            next |= 0x20;
        for (size_t k = 0; k < r->n_places; k++) {
            const need_place *pl = &r->places[k];
            const need_word *nw = &r->need_words[pl->word];
            if ((pl->next && pl->next != next) || i < pl->at || n - (i - pl->at) < nw->len)
                continue;
            if (word_at(text + i - pl->at, nw))
                return true;
        }
    }
    return false;
}

/* `text`, `text_len`: what need_met looks in, once it is known: the line
 * itself if it is all ASCII (ASCII letters have no other case partners
 * there), else its lowered() copy. */
static bool rule_matches(state *s, const rule *r, const char *line, size_t len,
                         const char **text, size_t *text_len)
{
    if (r->n_need) {
        if (!*text) {
            if (bytes_is_ascii(line, len))
                *text = line, *text_len = len;
            else
                *text = lowered(s, line, len, text_len);
        }
        if (*text && !need_met(r, *text, *text_len))
            return false;
    }
    return pcre2_match(r->re, (PCRE2_SPTR)line, len, 0, PCRE2_NO_UTF_CHECK, s->md, NULL) >= 0;
}

/* The combined pattern of the rules in `set` (NULL if it cannot be made). */
static pcre2_code *combo_for(state *s, uint64_t set)
{
    for (size_t i = 0; i < s->n_combos; i++)
        if (s->combos[i].rules == set)
            return s->combos[i].re;
    if (s->n_combos == MAX_COMBOS)
        return NULL;
    size_t len = 1;
    for (size_t k = 0; k < s->n_rules; k++)
        if (set >> k & 1)
            len += strlen(s->rules[k].pattern) + 32;
    char *p = s->host->alloc(len), *w = p;
    pcre2_code *re = NULL;
    if (p) {
        for (size_t k = 0; k < s->n_rules; k++)
            if (set >> k & 1)
                w += sprintf(w, "%s(*MARK:%zu)(?:%s)", w == p ? "" : "|", k, s->rules[k].pattern);
        int code;
        PCRE2_SIZE off;
        re = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_DUPNAMES, &code, &off,
                           NULL);
        if (re)
            tm_regex_jit(re);
        s->host->free(p);
    }
    /* remembered even when NULL: the rules are then tried one by one */
    s->combos[s->n_combos++] = (combo){set, re};
    return re;
}

/* The first rule, in order, that matches the line and may remove it, or -1;
 * s->md then holds that rule's own match (for its named groups). The
 * combined pattern answers for the combined rules at once; the others are
 * tried one by one where they come before its answer. */
static int first_rule(state *s, const char *line, size_t len, size_t words, bool tail_ok)
{
    uint64_t set = s->combinable_by_words[words <= s->max_limit ? words : s->max_limit + 1];
    if (!tail_ok)
        set &= ~s->tail_rules;
    int found = -1;
    size_t stop = s->n_rules;
    const char *need_text = NULL; /* see rule_matches */
    size_t need_len = 0;
    if (set) {
        pcre2_code *re = combo_for(s, set);
        int rc = re ? pcre2_match(re, (PCRE2_SPTR)line, len, 0, PCRE2_NO_UTF_CHECK, s->md, NULL)
                    : PCRE2_ERROR_NOMATCH - 1;
        PCRE2_SPTR mark = rc >= 0 ? pcre2_get_mark(s->md) : NULL;
        if (mark) {
            found = (int)strtol((const char *)mark, NULL, 10);
            stop = (size_t)found;
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            /* no pattern, or a limit hit: what each rule says on its own */
            for (size_t k = 0; k < s->n_rules; k++)
                if (rule_applies(&s->rules[k], words, tail_ok) &&
                    rule_matches(s, &s->rules[k], line, len, &need_text, &need_len))
                    return (int)k;
            return -1;
        }
    }
    for (size_t k = 0; k < stop; k++) {
        const rule *r = &s->rules[k];
        if (!r->combined && rule_applies(r, words, tail_ok) &&
            rule_matches(s, r, line, len, &need_text, &need_len))
            return (int)k;
    }
    if (found >= 0 && (s->rules[found].source_group > 0 || s->rules[found].author_group > 0))
        pcre2_match(s->rules[found].re, (PCRE2_SPTR)line, len, 0, PCRE2_NO_UTF_CHECK, s->md,
                    NULL);
    return found;
}

/* Applies the rules to every line; returns the number of lines removed. */
static size_t classify(state *s, tm_ctx *ctx, tm_doc *d)
{
    size_t removed = 0, n = s->n_lines, nonblank = 0;
    for (size_t i = 0; i < n; i++)
        nonblank += !line_blank(&s->lines[i]);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct line_info *L = &s->lines[i];
        if (line_blank(L) || L->rule != -1)
            continue;
        seen++;
        const char *line = L->f;
        size_t len = L->flen;
        /* a header like "Related" early in a text is not the tail */
        bool tail_ok = !((double)(seen - 1) < (1.0 - s->cfg->tail_fraction) * (double)nonblank);
        int found = first_rule(s, line, len, L->words, tail_ok);
        if (found >= 0) {
            size_t k = (size_t)found;
            const rule *r = &s->rules[k];
            /* fill meta from named groups while the match data is fresh */
            int groups[2] = {r->source_group, r->author_group};
            const char *keys[2] = {"source", "author"};
            for (int g = 0; g < 2; g++) {
                if (groups[g] <= 0)
                    continue;
                const tm_meta *m = s->host->meta_get(d, keys[g]);
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
                if ((m && m->type != TM_META_NULL) || ov[2 * groups[g]] == PCRE2_UNSET)
                    continue;
                size_t ga = ov[2 * groups[g]], gb = ov[2 * groups[g] + 1];
                if (gb > ga)
                    s->host->meta_set(ctx, d, keys[g], TM_META_STRING, line + ga, gb - ga);
            }
            L->rule = (int)k;
            removed++;
            if (r->scope == RULE_PAIR) {
                /* the teaser title just above, if it is short */
                for (size_t j = i; j-- > 0;) {
                    struct line_info *P = &s->lines[j];
                    if (line_blank(P))
                        continue;
                    if (P->rule == -1 && P->words <= 20) {
                        P->rule = (int)k;
                        removed++;
                    }
                    break;
                }
            } else if (r->scope == RULE_TAIL) {
                for (size_t j = i + 1; j < n; j++) {
                    if (!line_blank(&s->lines[j]) && s->lines[j].rule == -1) {
                        s->lines[j].rule = (int)k;
                        removed++;
                    }
                }
            }
        }
    }
    return removed;
}

/* Rewrites the text without the removed lines, with blanks folded and at
 * most one blank line between paragraphs. Each removed line is a deletion of
 * its own, so that whatever annotated it goes with it. */
static int rewrite(state *s, tm_ctx *ctx, tm_doc *d)
{
    const char *t = d->text;
    size_t n = d->text_len;
    ed *e = &s->ed;
    ed_reset(e, t, n);
    size_t gap_from = 0, newlines = 0; /* since the last kept line */
    bool any = false;
    for (size_t i = 0; i < s->n_lines; i++) {
        struct line_info *L = &s->lines[i];
        if (line_blank(L))
            continue;
        for (size_t k = gap_from; k < L->a; k++)
            newlines += t[k] == '\n';
        if (L->rule != -1) {
            ed_replace(e, gap_from, L->a, "", 0);
            ed_replace(e, L->a, L->b, "", 0);
            gap_from = L->b;
            continue;
        }
        if (!any)
            ed_replace(e, gap_from, L->a, "", 0);
        else
            ed_replace(e, gap_from, L->a, "\n\n", newlines >= 2 ? 2 : 1);
        if (L->folded) /* else there is nothing to fold */
            fold_line_spaces(e, t, L->a, L->b);
        gap_from = L->b;
        newlines = 0;
        any = true;
    }
    ed_replace(e, gap_from, n, "", 0);
    int rc = TM_OK;
    if (e->failed)
        rc = TM_ENOMEM;
    else if (ed_finish(e))
        rc = s->host->replace_text(ctx, d, e->out, e->len, e->edits, e->n);
    return rc;
}

/* ---- repeated lines ---------------------------------------------------------------- */

/* The first and last lines of a document, where site chrome lives: up to
 * three at each end, fewer in short documents (always the first and last). */
static bool edge_line(size_t rank, size_t nonblank)
{
    size_t k = nonblank / 4 < 3 ? nonblank / 4 : 3;
    if (k < 1)
        k = 1;
    return rank < k || rank + k >= nonblank;
}

/* Orders line hashes by value, then by position, so that the first
 * occurrence of each line comes first among its equals. */
static int cmp_hash_pos(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    uint64_t hx = x[0] | 1, hy = y[0] | 1;
    if (hx != hy)
        return hx < hy ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Counts the distinct kept lines of a document, from the lines scanned for
 * the rules (a kept line's folded text is the same after the rewrite), and
 * keeps their hashes in order for release. */
static int count_lines(state *s)
{
    size_t nonblank = 0;
    for (size_t i = 0; i < s->n_lines; i++)
        nonblank += !line_blank(&s->lines[i]) && s->lines[i].rule == -1;
    /* pairs of (hash, position) */
    if (!grow(s->host, (void **)&s->hashes, &s->cap_hashes, 2 * s->n_lines + 2, sizeof *s->hashes))
        return TM_ENOMEM;
    if (!grow(s->host, (void **)&s->held_lines, &s->cap_held_lines,
              s->n_held_lines + nonblank, sizeof *s->held_lines))
        return TM_ENOMEM;
    size_t m = 0, rank = 0;
    for (size_t i = 0; i < s->n_lines; i++) {
        struct line_info *L = &s->lines[i];
        if (line_blank(L) || L->rule != -1)
            continue;
        uint64_t h = linestats_hash(L->f, L->flen);
        s->held_lines[s->n_held_lines++] = (struct held_line){h | 1, L->words};
        /* the low bit carries "at an edge" for this document */
        s->hashes[2 * m] = (h & ~1ull) | (edge_line(rank, nonblank) ? 1 : 0);
        s->hashes[2 * m + 1] = rank++;
        m++;
    }
    /* each line once per document, as its first occurrence has it */
    qsort(s->hashes, m, 2 * sizeof *s->hashes, cmp_hash_pos);
    for (size_t i = 0; i < m; i++)
        if (i == 0 || (s->hashes[2 * i] | 1) != (s->hashes[2 * i - 2] | 1))
            linestats_add(&s->stats, s->hashes[2 * i] | 1, s->hashes[2 * i] & 1, false, 0, 0);
    return TM_OK;
}

/* The last run whose line counts the run ledger confirmed (0: none). */
static long long committed_run(state *s, tm_ctx *ctx)
{
    const char *v = TM_HOST_HAS(s->host, state_get) ? s->host->state_get(ctx, "stats_run") : NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}

static int load_stats(state *s, tm_ctx *ctx)
{
    s->stats_loaded = true;
    const char *dir = s->host->state_dir(ctx);
    if (!dir)
        return TM_OK;
    size_t l = strlen(dir) + strlen(s->host->instance_name(ctx)) + 32;
    s->stats_path = s->host->alloc(l);
    if (!s->stats_path)
        return TM_ENOMEM;
    snprintf(s->stats_path, l, "%s/cleanup-%s.sqlite", dir, s->host->instance_name(ctx));
    char err[512];
    if (linestats_load(&s->stats, s->stats_path, committed_run(s, ctx), err, sizeof err) != TM_OK)
        return s->host->error(ctx, "%s", err);
    return TM_OK;
}

/* Whether a kept line is repeated boilerplate, by the counts so far. */
static bool repeated(const state *s, const struct held_line *hl)
{
    const config *c = s->cfg;
    const line_count *lc = linestats_get(&s->stats, hl->hash);
    if (!lc || lc->docs < (uint32_t)c->min_docs)
        return false;
    bool at_edges = (uint64_t)lc->edge * 5 >= (uint64_t)lc->docs * 4;
    return hl->words <= (size_t)c->short_line_words || at_edges;
}

static int release(state *s, tm_ctx *ctx)
{
    for (size_t i = 0; i < s->n_held; i++) {
        tm_doc *d = s->held[i];
        const struct held_line *hl = s->held_lines + s->held_first[i];
        size_t m = (i + 1 < s->n_held ? s->held_first[i + 1] : s->n_held_lines) - s->held_first[i];
        size_t removed = 0;
        for (size_t k = 0; k < m; k++)
            removed += repeated(s, &hl[k]);
        if (removed) {
            /* the text's non-blank lines are the held lines, in order */
            int rc = scan_lines(s, d->text, d->text_len, true);
            if (rc != TM_OK)
                return rc;
            for (size_t k = 0, j = 0; k < s->n_lines && j < m; k++) {
                struct line_info *L = &s->lines[k];
                if (line_blank(L))
                    continue;
                if (repeated(s, &hl[j++]))
                    L->rule = -2;
            }
            s->host->count(ctx, "repeated_line", (int64_t)removed);
            if ((rc = rewrite(s, ctx, d)) != TM_OK)
                return rc;
        }
        s->held[i] = NULL;
        if (d->text_len == 0) {
            /* nothing left: all chrome */
            s->host->count(ctx, "emptied", 1);
            s->host->doc_free(d);
            continue;
        }
        s->host->emit_take(ctx, d, NULL);
    }
    s->n_held = 0;
    s->n_held_lines = 0;
    return TM_OK;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    const tm_host *h = s->host;
    if (s->cfg->repeated_lines && !s->stats_loaded) {
        int rc = load_stats(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    /* a full window is released before this batch is read: the documents
     * detached in earlier calls are ours to change, emit or free */
    if (s->n_held >= (size_t)s->cfg->window) {
        int rc = release(s, ctx);
        if (rc != TM_OK)
            return rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        norm_counts nc = {0};
        ed *e = &s->ed;
        ed_reset(e, d->text, d->text_len);
        normalize_chars(e, d->text, d->text_len, &s->norm, &nc);
        int rc = e->failed ? TM_ENOMEM : TM_OK;
        if (rc == TM_OK && ed_finish(e))
            rc = h->replace_text(ctx, d, e->out, e->len, e->edits, e->n);
        if (rc != TM_OK)
            return h->error(ctx, "%s: cannot repair the text (%d)", d->id, rc);
        if (nc.mojibake)
            h->count(ctx, "mojibake_fixed", nc.mojibake);
        if (nc.controls)
            h->count(ctx, "controls_removed", nc.controls);
        if (nc.normalized)
            h->count(ctx, "unicode_normalized", nc.normalized);

        if ((rc = scan_lines(s, d->text, d->text_len, false)) != TM_OK)
            return rc;
        classify(s, ctx, d);
        /* one count call per rule and document, in the order the lines
         * have them (the summary lists counters as they first come) */
        size_t n_hit = 0;
        for (size_t k = 0; k < s->n_lines; k++) {
            int r = s->lines[k].rule;
            if (r >= 0 && !s->rule_hits[r]++)
                s->hit_order[n_hit++] = (size_t)r;
        }
        for (size_t k = 0; k < n_hit; k++) {
            h->count(ctx, s->rules[s->hit_order[k]].counter, s->rule_hits[s->hit_order[k]]);
            s->rule_hits[s->hit_order[k]] = 0;
        }
        /* counted before the rewrite: the kept lines that need no folding
         * are read in the old text (a document left empty has none) */
        size_t first = s->n_held_lines;
        if (s->cfg->repeated_lines && (rc = count_lines(s)) != TM_OK)
            return rc;
        if ((rc = rewrite(s, ctx, d)) != TM_OK)
            return h->error(ctx, "%s: cannot rewrite the text (%d)", d->id, rc);
        if (d->text_len == 0) {
            h->drop(ctx, d, "all_boilerplate");
            continue;
        }
        if (!s->cfg->repeated_lines)
            continue;
        if (!grow(h, (void **)&s->held, &s->cap_held, s->n_held + 1, sizeof *s->held) ||
            !grow(h, (void **)&s->held_first, &s->cap_held_first, s->n_held + 1,
                  sizeof *s->held_first))
            return TM_ENOMEM;
        h->detach(ctx, d);
        s->held_first[s->n_held] = first;
        s->held[s->n_held++] = d;
    }
    return TM_OK;
}

static int flush(void *st, tm_ctx *ctx) { return release(st, ctx); }

/* The counts of this run join the state only once the outputs that these
 * documents went to are committed. */
static int commit(void *st, tm_ctx *ctx)
{
    state *s = st;
    if (!s->stats_path)
        return TM_OK;
    char err[512];
    mkdir(s->host->state_dir(ctx), 0777);
    long long run = committed_run(s, ctx);
    if (linestats_save(&s->stats, s->stats_path, run, err, sizeof err) != TM_OK)
        return s->host->error(ctx, "%s", err);
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", run + 1);
    if (TM_HOST_HAS(s->host, state_set)) /* durable with the ledger, after every output */
        s->host->state_set(ctx, "stats_run", seq);
    return TM_OK;
}

static const char *const reads[] = {"text", NULL};
static const char *const writes[] = {"text", "meta.source", "meta.author", NULL};

TM_PLUGIN_DEFINE(.name = "cleanup", .version = "1.0.0", .license = "MIT",
                 .summary = "Repairs and normalises text and removes boilerplate lines.",
                 .role = TM_ROLE_STAGE, .options = options, .config_size = sizeof(config),
                 .reads = reads, .writes = writes, .init = init, .process = process,
                 .flush = flush, .fini = fini, .commit = commit);
