/* stage `metadata`: title, author and publication date from the header of
 * an article (its first lines), into meta.title, meta.author, meta.date
 * (ISO 8601). Dates are taken only from bylines and datelines, never from
 * the body, where dates are events, not publication. A field that an
 * earlier step already filled is left alone unless `overwrite` is set. */
#include "textmill/plugin.h"

#include "regex.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    int64_t header_lines;
    int title, author, date, overwrite, day_first;
} config;

static const tm_option options[] = {
    {.name = "header_lines", .type = TM_OPT_INT, .def = "8", .min = 1, .max = 100,
     .offset = offsetof(config, header_lines),
     .help = "How many non-blank lines at the top count as the article's header."},
    {.name = "title", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, title),
     .help = "Take the title from the first line when it looks like a headline."},
    {.name = "author", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, author),
     .help = "Take the author from a byline (\"By X\", \"By: X\", \"by X\", a name alone under "
             "the title, \"Submitted by X\" as a last resort)."},
    {.name = "date", .type = TM_OPT_BOOL, .def = "true", .offset = offsetof(config, date),
     .help = "Take the publication date from a byline or dateline in the header."},
    {.name = "overwrite", .type = TM_OPT_BOOL, .def = "false",
     .offset = offsetof(config, overwrite),
     .help = "Replace fields that an earlier step (the source, split) already filled."},
    {.name = "day_first", .type = TM_OPT_BOOL, .def = "false",
     .offset = offsetof(config, day_first),
     .help = "Read ambiguous numeric dates such as 03/04/2020 as day/month (European) rather "
             "than month/day (US). Dates with dots (03.04.2020) are always day first."},
    TM_OPTIONS_END};

#define NAME "\\p{Lu}[\\p{L}’'.\\-]*(?:\\s(?:\\p{Lu}[\\p{L}’'.\\-]*|de|da|di|del|van|von|der|al|el|bin|ibn|and|&)){0,5}"
#define MONTH "(?<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"

enum { P_BYLINE, P_INLINE_BY, P_BARE_NAME, P_SUBMITTED, P_DATE_MDY, P_DATE_DMY, P_DATE_ISO,
       P_DATE_NUM, P_DATE_DOT, N_PATTERNS };

static const char *const patterns[N_PATTERNS] = {
    /* "By X", "By: X", "by X in City", "BY X | date" */
    [P_BYLINE] = "^(?:by|written by|words by|posted by)\\s*[:\\-–]?\\s*(?<name>" NAME
                 ")(?:\\s+(?:in|at|for)\\s+\\p{Lu}[\\p{L} ]{0,40})?\\s*(?:[-–—|,•].*)?$",
    /* a byline glued to a dek: "…prisoners of war.By South Front -November 10" */
    [P_INLINE_BY] = "(?:[.!?”\"]\\s*)By\\s+(?<name>" NAME ")\\s*(?:[-–—|,].*)?$",
    /* a name alone under the title: two to four capitalised words */
    [P_BARE_NAME] = "^(?<name>\\p{Lu}[\\p{Ll}’'\\-]+(?:\\s\\p{Lu}[\\p{Ll}’'.\\-]*){1,3})$",
    [P_SUBMITTED] = "^submitted by\\s*[:\\-]?\\s*(?<name>" NAME ")\\s*,?\\s*$",
    /* November 10, 2020 (a view counter may be glued to the year) */
    [P_DATE_MDY] = "\\b" MONTH "\\.?\\s+(?<day>\\d{1,2})(?:st|nd|rd|th)?,?\\s+(?<year>(?:19|20)\\d\\d)",
    /* 10 November 2020 */
    [P_DATE_DMY] = "\\b(?<day>\\d{1,2})(?:st|nd|rd|th)?\\s+" MONTH "\\.?,?\\s+(?<year>(?:19|20)\\d\\d)",
    [P_DATE_ISO] = "\\b(?<year>(?:19|20)\\d\\d)-(?<m>\\d\\d)-(?<day>\\d\\d)(?!\\d)",
    /* 10/27/2020 (US order unless day_first, or the first number is > 12) */
    [P_DATE_NUM] = "\\b(?<a>\\d{1,2})/(?<b>\\d{1,2})/(?<year>(?:19|20)\\d\\d)\\b",
    [P_DATE_DOT] = "\\b(?<day>\\d{1,2})\\.(?<m>\\d{1,2})\\.(?<year>(?:19|20)\\d\\d)\\b",
};

typedef struct state {
    const tm_host *host;
    const config *cfg;
    pcre2_code *re[N_PATTERNS];
} state;

static void fini(void *st)
{
    state *s = st;
    for (int i = 0; i < N_PATTERNS; i++)
        pcre2_code_free(s->re[i]);
    s->host->free(s);
}

static int init(tm_ctx *ctx, const tm_host *h, const void *cfg, void **out)
{
    state *s = h->alloc(sizeof *s);
    if (!s)
        return TM_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = h;
    s->cfg = cfg;
    for (int i = 0; i < N_PATTERNS; i++) {
        int code;
        PCRE2_SIZE off;
        uint32_t flags = PCRE2_UTF | PCRE2_UCP | (i == P_INLINE_BY || i == P_BARE_NAME ? 0 : PCRE2_CASELESS);
        s->re[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED, flags, &code,
                                 &off, NULL);
        if (!s->re[i]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(code, msg, sizeof msg);
            h->error(ctx, "internal pattern %d: %s at %zu", i, (const char *)msg, (size_t)off);
            fini(s);
            return TM_ERR;
        }
        tm_regex_jit(s->re[i]);
    }
    *out = s;
    return TM_OK;
}

typedef struct span {
    const char *p;
    size_t n;
} span;

/* Matches pattern i on s; fills group `name` into *out. */
static bool find(state *s, pcre2_match_data *md, int i, const char *t, size_t n,
                 const char *name, span *out)
{
    if (pcre2_match(s->re[i], (PCRE2_SPTR)t, n, 0, PCRE2_NO_UTF_CHECK, md, NULL) < 0)
        return false;
    if (!name)
        return true;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int g = pcre2_substring_number_from_name(s->re[i], (PCRE2_SPTR)name);
    if (g <= 0 || ov[2 * g] == PCRE2_UNSET)
        return false;
    out->p = t + ov[2 * g];
    out->n = ov[2 * g + 1] - ov[2 * g];
    return true;
}

static int group_int(state *s, pcre2_match_data *md, int i, const char *t, const char *name)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int g = pcre2_substring_number_from_name(s->re[i], (PCRE2_SPTR)name);
    if (g <= 0 || ov[2 * g] == PCRE2_UNSET)
        return -1;
    int v = 0;
    for (size_t k = ov[2 * g]; k < ov[2 * g + 1]; k++)
        v = v * 10 + (t[k] - '0');
    return v;
}

static int month_of(const char *p)
{
    static const char m[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    char x[3] = {(char)(p[0] | 0x20), (char)(p[1] | 0x20), (char)(p[2] | 0x20)};
    for (int i = 0; i < 12; i++)
        if (!memcmp(m + 3 * i, x, 3))
            return i + 1;
    return 0;
}

static bool valid_date(int y, int m, int d)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return y >= 1900 && y <= 2099 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1];
}

/* The first date on the line, as YYYY-MM-DD; false if none. */
static bool parse_date(state *s, pcre2_match_data *md, const char *t, size_t n, char out[11])
{
    for (int i = P_DATE_MDY; i <= P_DATE_DOT; i++) {
        span mon;
        if (!find(s, md, i, t, n, NULL, NULL))
            continue;
        int y = group_int(s, md, i, t, "year"), m = -1, d = -1;
        if (i == P_DATE_MDY || i == P_DATE_DMY) {
            find(s, md, i, t, n, "mon", &mon);
            m = month_of(mon.p);
            d = group_int(s, md, i, t, "day");
        } else if (i == P_DATE_ISO || i == P_DATE_DOT) {
            m = group_int(s, md, i, t, "m");
            d = group_int(s, md, i, t, "day");
        } else {
            int a = group_int(s, md, i, t, "a"), b = group_int(s, md, i, t, "b");
            bool dayf = s->cfg->day_first || a > 12;
            m = dayf ? b : a;
            d = dayf ? a : b;
        }
        if (valid_date(y, m, d)) {
            out[0] = (char)('0' + y / 1000), out[1] = (char)('0' + y / 100 % 10);
            out[2] = (char)('0' + y / 10 % 10), out[3] = (char)('0' + y % 10), out[4] = '-';
            out[5] = (char)('0' + m / 10), out[6] = (char)('0' + m % 10), out[7] = '-';
            out[8] = (char)('0' + d / 10), out[9] = (char)('0' + d % 10), out[10] = 0;
            return true;
        }
    }
    return false;
}

static bool present(state *s, const tm_doc *d, const char *key)
{
    const tm_meta *m = s->host->meta_get(d, key);
    return m && m->type != TM_META_NULL && !s->cfg->overwrite;
}

static size_t words(const char *t, size_t n)
{
    size_t w = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sp = t[i] == ' ' || t[i] == '\t';
        w += !sp && !in;
        in = !sp;
    }
    return w;
}

static void trim(span *x)
{
    while (x->n && strchr(" \t,;:-–", x->p[x->n - 1]))
        x->n--;
    while (x->n && (*x->p == ' ' || *x->p == '\t'))
        x->p++, x->n--;
}

static int process(void *st, tm_ctx *ctx, tm_batch *b)
{
    state *s = st;
    const tm_host *h = s->host;
    const config *c = s->cfg;
    pcre2_match_data *md = pcre2_match_data_create(16, NULL);
    if (!md)
        return TM_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        tm_doc *d = b->docs[i];
        span lines[100];
        size_t nl = 0;
        for (size_t a = 0; a < d->text_len && nl < (size_t)c->header_lines;) {
            const char *e = memchr(d->text + a, '\n', d->text_len - a);
            size_t end = e ? (size_t)(e - d->text) : d->text_len;
            span x = {d->text + a, end - a};
            trim(&x);
            if (x.n)
                lines[nl++] = x;
            a = end + 1;
        }
        if (!nl)
            continue;
        /* the header ends at the first paragraph of prose after the title */
        size_t hdr = nl;
        for (size_t k = 1; k < nl; k++) {
            if (words(lines[k].p, lines[k].n) > 60 &&
                !find(s, md, P_INLINE_BY, lines[k].p, lines[k].n, NULL, NULL)) {
                hdr = k;
                break;
            }
        }
        size_t tw = words(lines[0].p, lines[0].n);
        bool headline = tw <= 30 && (lines[0].p[lines[0].n - 1] != '.' || tw <= 12);
        if (c->title && headline && !present(s, d, "title")) {
            h->meta_set(ctx, d, "title", TM_META_STRING, lines[0].p, lines[0].n);
            h->count(ctx, "title", 1);
        }
        if (c->author && !present(s, d, "author")) {
            span name = {0};
            bool got = false;
            for (size_t k = headline ? 1 : 0; k < hdr && !got; k++) {
                const char *t = lines[k].p;
                size_t n = lines[k].n, w = words(t, n);
                got = (w <= 14 && find(s, md, P_BYLINE, t, n, "name", &name)) ||
                      find(s, md, P_INLINE_BY, t, n, "name", &name) ||
                      (k <= 2 && w <= 4 && find(s, md, P_BARE_NAME, t, n, "name", &name));
            }
            for (size_t k = 1; k < hdr && !got; k++)
                got = find(s, md, P_SUBMITTED, lines[k].p, lines[k].n, "name", &name);
            trim(&name);
            if (got && name.n) {
                h->meta_set(ctx, d, "author", TM_META_STRING, name.p, name.n);
                h->count(ctx, "author", 1);
            }
        }
        if (c->date && !present(s, d, "date")) {
            char iso[11];
            for (size_t k = 1; k < hdr; k++) {
                const char *t = lines[k].p;
                size_t n = lines[k].n;
                /* a dateline (a short line that is not a sentence) or a byline;
                 * never body prose, where dates are events */
                bool dateline = words(t, n) <= 8 && t[n - 1] != '.';
                bool byline = find(s, md, P_BYLINE, t, n, NULL, NULL) ||
                              find(s, md, P_INLINE_BY, t, n, NULL, NULL);
                if ((dateline || byline) && parse_date(s, md, t, n, iso)) {
                    h->meta_set(ctx, d, "date", TM_META_STRING, iso, 10);
                    h->count(ctx, "date", 1);
                    break;
                }
            }
        }
    }
    pcre2_match_data_free(md);
    return TM_OK;
}

static const char *const reads[] = {"text", "?meta.title", "?meta.author", "?meta.date", NULL};
static const char *const writes[] = {"meta.title", "meta.author", "meta.date", NULL};

TM_PLUGIN_DEFINE(.name = "metadata", .version = "1.0.0", .license = "MIT",
                 .summary = "Finds title, author and publication date in an article's header.",
                 .role = TM_ROLE_STAGE, .caps = TM_CAP_REENTRANT, .options = options,
                 .config_size = sizeof(config), .reads = reads, .writes = writes,
                 .init = init, .process = process, .fini = fini);
