/* Main-text and metadata extraction from HTML (see extract.h and README.md).
 *
 * The page is parsed once with libxml2's forgiving HTML parser. Then:
 *
 *   1. metadata walk: every node, collecting JSON-LD, <meta>, <link>, <time>,
 *      itemprop, <title> and <h1> candidates, each with a trust rank;
 *   2. scoring walk (post-order) over <body>: per element, visible text,
 *      text inside links, commas, paragraph text; chrome (navigation, share
 *      bars, comments, ...) is marked dropped and its text does not count;
 *      every paragraph gives readability-style points to its parent and
 *      grandparents;
 *   3. selection walk: the best-scored candidate, refined by semantic
 *      markers (itemprop=articleBody, <article>, <main>);
 *   4. output walk over the chosen container (and good siblings), skipping
 *      dropped and link-dense blocks, folding white space.
 *
 * Every walk is iterative (parent/next pointers, no recursion and no stack),
 * so a page nested 10,000 levels deep costs no C stack. Per-element data
 * lives in one array, reached through the node's `_private` pointer, which
 * libxml2 reserves for applications.
 */
#include "extract.h"

#include <cjson/cJSON.h>
#include <libxml/HTMLparser.h>
#include <libxml/encoding.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Small string helpers (ASCII only: never locale-dependent)
 */

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int ieq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    while (*a && lower((unsigned char)*a) == lower((unsigned char)*b))
        a++, b++;
    return *a == 0 && *b == 0;
}

static int ieqn(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n && b[i]; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return i == n && b[i] == 0;
}

/* case-insensitive search of needle (ASCII, lower case) in s[0..n) */
static const char *ifind(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && lower((unsigned char)s[i + j]) == needle[j])
            j++;
        if (j == m)
            return s + i;
    }
    return NULL;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * strict (no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { /* fast path for ASCII runs */
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* Windows-1252 meanings of 0x80..0x9F. Browsers read ISO-8859-1 labels as
 * windows-1252 (WHATWG Encoding), so C1 controls that libxml2's Latin-1
 * decoder produces are mapped back to the characters the page meant. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

/* ------------------------------------------------------------------------
 * A growing byte buffer; on allocation failure it sets `err` and stops
 * growing, and the caller reports HX_NOMEM at the end.
 */
typedef struct buf {
    char *p;
    size_t n, cap;
    int err;
} buf;

static int buf_reserve(buf *b, size_t more)
{
    if (b->err)
        return 0;
    if (b->n + more + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
        b->err = 1;
        return 0;
    }
    b->p = q;
    b->cap = cap;
    return 1;
}

static void buf_add(buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_addc(buf *b, char c)
{
    buf_add(b, &c, 1);
}

/* Appends code point cp as UTF-8. */
static void buf_add_cp(buf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        buf_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, u, 4);
    }
}

/* A copy of s[0..n) with white space (ASCII and U+00A0) folded to single
 * spaces and trimmed, C1 controls mapped as windows-1252, invalid UTF-8
 * replaced by U+FFFD. NULL when nothing is left (or on no memory). */
static char *fold_dup(const char *s, size_t n)
{
    buf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    int space = 0;
    for (size_t i = 0; i < n;) {
        if (is_ws(p[i]) || (p[i] == 0xC2 && i + 1 < n && p[i + 1] == 0xA0)) {
            space = 1;
            i += p[i] == 0xC2 ? 2 : 1;
            continue;
        }
        if (space && b.n)
            buf_addc(&b, ' ');
        space = 0;
        size_t k = utf8_seq(p + i, n - i);
        if (!k) {
            buf_add(&b, "\xEF\xBF\xBD", 3);
            i++;
        } else if (k == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0) {
            unsigned cp = cp1252_c1[p[i + 1] - 0x80];
            if (cp)
                buf_add_cp(&b, cp);
            i += 2;
        } else {
            buf_add(&b, s + i, k);
            i += k;
        }
    }
    if (b.err || !b.n) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *fold_str(const char *s)
{
    return s ? fold_dup(s, strlen(s)) : NULL;
}

/* Decodes the few HTML entities that publishers leave inside JSON-LD
 * strings (&amp; &quot; &#39; &#8217; ...), in place. */
static void entity_decode(char *s)
{
    static const struct {
        const char *name;
        unsigned cp;
    } named[] = {{"amp", '&'},  {"quot", '"'},  {"apos", '\''},    {"lt", '<'},
                 {"gt", '>'},   {"nbsp", 0xA0}, {"rsquo", 0x2019}, {"lsquo", 0x2018},
                 {"rdquo", 0x201D}, {"ldquo", 0x201C}, {"ndash", 0x2013}, {"mdash", 0x2014},
                 {"hellip", 0x2026}};
    char *w = s;
    for (char *r = s; *r;) {
        if (*r == '&') {
            char *semi = strchr(r, ';');
            unsigned cp = 0;
            if (semi && semi - r <= 10) {
                if (r[1] == '#') {
                    char *end;
                    unsigned long v = r[2] == 'x' || r[2] == 'X' ? strtoul(r + 3, &end, 16)
                                                                 : strtoul(r + 2, &end, 10);
                    if (end == semi && v > 0 && v <= 0x10FFFF && !(v >= 0xD800 && v < 0xE000))
                        cp = (unsigned)v;
                } else {
                    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
                        if ((size_t)(semi - r - 1) == strlen(named[i].name) &&
                            memcmp(r + 1, named[i].name, (size_t)(semi - r - 1)) == 0)
                            cp = named[i].cp;
                }
            }
            if (cp) {
                buf t = {0};
                buf_add_cp(&t, cp);
                if (!t.err && t.n <= (size_t)(semi + 1 - r)) {
                    memcpy(w, t.p, t.n);
                    w += t.n;
                    r = semi + 1;
                    free(t.p);
                    continue;
                }
                free(t.p);
            }
        }
        *w++ = *r++;
    }
    *w = 0;
}

/* ------------------------------------------------------------------------
 * Tags
 */
enum tag {
    T_OTHER = 0, T_A, T_ARTICLE, T_ASIDE, T_BLOCKQUOTE, T_BODY, T_BR, T_BUTTON, T_CAPTION,
    T_DD, T_DIV, T_DL, T_DT, T_FIGCAPTION, T_FIGURE, T_FOOTER, T_FORM, T_H1, T_H2, T_H3, T_H4,
    T_H5, T_H6, T_HEAD, T_HEADER, T_HR, T_HTML, T_LI, T_LINK, T_MAIN, T_META, T_NAV, T_OL,
    T_P, T_PRE, T_SCRIPT, T_SECTION, T_TABLE, T_TD, T_TH, T_TIME, T_TITLE, T_TR, T_UL,
    T_IMG, T_SPAN, T_DETAILS, T_ADDRESS, T_CENTER, T_FONT, T_NOSCRIPT
};

/* tag kinds */
#define K_SKIP 0x01    /* never holds readable text: not visited at all */
#define K_BLOCK 0x02   /* starts and ends a paragraph */
#define K_CHROME 0x04  /* page furniture by its very tag */
#define K_HEADING 0x08 /* a paragraph of its own, held back until text follows */
#define K_CELL 0x10    /* table cell: followed by a space */
#define K_PARA 0x20    /* paragraph-like for scoring */

typedef struct taginfo {
    const char *name;
    uint8_t id;
    uint8_t kind;
} taginfo;

/* sorted by name for bsearch */
static const taginfo tags[] = {
    {"a", T_A, 0},
    {"address", T_ADDRESS, K_BLOCK | K_CHROME},
    {"applet", T_OTHER, K_SKIP},
    {"area", T_OTHER, K_SKIP},
    {"article", T_ARTICLE, K_BLOCK},
    {"aside", T_ASIDE, K_BLOCK | K_CHROME},
    {"audio", T_OTHER, K_SKIP},
    {"base", T_OTHER, K_SKIP},
    {"blockquote", T_BLOCKQUOTE, K_BLOCK},
    {"body", T_BODY, K_BLOCK},
    {"br", T_BR, 0},
    {"button", T_BUTTON, K_SKIP},
    {"canvas", T_OTHER, K_SKIP},
    {"caption", T_CAPTION, K_BLOCK},
    {"center", T_CENTER, K_BLOCK},
    {"datalist", T_OTHER, K_SKIP},
    {"dd", T_DD, K_BLOCK | K_PARA},
    {"details", T_DETAILS, K_BLOCK},
    {"dialog", T_OTHER, K_SKIP},
    {"dir", T_UL, K_BLOCK},
    {"div", T_DIV, K_BLOCK},
    {"dl", T_DL, K_BLOCK},
    {"dt", T_DT, K_BLOCK},
    {"embed", T_OTHER, K_SKIP},
    {"fieldset", T_OTHER, K_BLOCK},
    {"figcaption", T_FIGCAPTION, K_BLOCK | K_CHROME},
    {"figure", T_FIGURE, K_BLOCK},
    {"font", T_FONT, 0},
    {"footer", T_FOOTER, K_BLOCK | K_CHROME},
    {"form", T_FORM, K_BLOCK | K_CHROME},
    {"frame", T_OTHER, K_SKIP},
    {"frameset", T_OTHER, K_SKIP},
    {"h1", T_H1, K_BLOCK | K_HEADING},
    {"h2", T_H2, K_BLOCK | K_HEADING},
    {"h3", T_H3, K_BLOCK | K_HEADING},
    {"h4", T_H4, K_BLOCK | K_HEADING},
    {"h5", T_H5, K_BLOCK | K_HEADING},
    {"h6", T_H6, K_BLOCK | K_HEADING},
    {"head", T_HEAD, K_SKIP},
    {"header", T_HEADER, K_BLOCK | K_CHROME},
    {"hgroup", T_OTHER, K_BLOCK},
    {"hr", T_HR, K_BLOCK},
    {"html", T_HTML, K_BLOCK},
    {"iframe", T_OTHER, K_SKIP},
    {"img", T_IMG, 0},
    {"input", T_OTHER, K_SKIP},
    {"legend", T_OTHER, K_BLOCK},
    {"li", T_LI, K_BLOCK | K_PARA},
    {"link", T_LINK, K_SKIP},
    {"main", T_MAIN, K_BLOCK},
    {"map", T_OTHER, K_SKIP},
    {"math", T_OTHER, K_SKIP},
    {"menu", T_OTHER, K_BLOCK | K_CHROME},
    {"meta", T_META, K_SKIP},
    {"nav", T_NAV, K_BLOCK | K_CHROME},
    {"noembed", T_OTHER, K_SKIP},
    {"noframes", T_OTHER, K_SKIP},
    {"noscript", T_NOSCRIPT, K_BLOCK | K_CHROME},
    {"object", T_OTHER, K_SKIP},
    {"ol", T_OL, K_BLOCK},
    {"option", T_OTHER, K_SKIP},
    {"p", T_P, K_BLOCK | K_PARA},
    {"param", T_OTHER, K_SKIP},
    {"picture", T_OTHER, K_SKIP},
    {"pre", T_PRE, K_BLOCK | K_PARA},
    {"script", T_SCRIPT, K_SKIP},
    {"section", T_SECTION, K_BLOCK},
    {"select", T_OTHER, K_SKIP},
    {"source", T_OTHER, K_SKIP},
    {"span", T_SPAN, 0},
    {"style", T_OTHER, K_SKIP},
    {"summary", T_OTHER, K_BLOCK},
    {"svg", T_OTHER, K_SKIP},
    {"table", T_TABLE, K_BLOCK},
    {"tbody", T_OTHER, 0},
    {"td", T_TD, K_CELL | K_PARA},
    {"template", T_OTHER, K_SKIP},
    {"textarea", T_OTHER, K_SKIP},
    {"tfoot", T_OTHER, 0},
    {"th", T_TH, K_CELL},
    {"thead", T_OTHER, 0},
    {"time", T_TIME, 0},
    {"title", T_TITLE, K_SKIP},
    {"tr", T_TR, K_BLOCK},
    {"track", T_OTHER, K_SKIP},
    {"ul", T_UL, K_BLOCK},
    {"video", T_OTHER, K_SKIP},
};

static int tag_cmp(const void *k, const void *e)
{
    return strcmp(k, ((const taginfo *)e)->name);
}

static const taginfo *tag_of(const xmlNode *n)
{
    static const taginfo other = {"", T_OTHER, 0};
    const taginfo *t =
        bsearch(n->name, tags, sizeof tags / sizeof *tags, sizeof *tags, tag_cmp);
    return t ? t : &other;
}

/* The value of attribute `name` without copying: the content of its only
 * text child, "" for an attribute without value, NULL if absent. */
static const char *attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (!ieq((const char *)a->name, name))
            continue;
        if (a->children && a->children->type == XML_TEXT_NODE && !a->children->next)
            return a->children->content ? (const char *)a->children->content : "";
        return a->children ? NULL : "";
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Chrome classification of class / id / role / itemprop / hidden-ness.
 *
 * Class and id values are cut into words (at non-alphanumerics, at
 * lower->Upper camelCase steps and at letter/digit steps) and the words are
 * matched whole, so "share-bar" is chrome but "shareholder" is not, and
 * "ad-slot" is chrome but "header", "head" and "address" are not.
 */

/* Words that mark page furniture wherever they occur in a class name. */
static const char *const strong_words[] = {
    /* advertising and sponsored content */
    "ad", "ads", "adv", "advert", "adverts", "advertisement", "advertising", "adsense",
    "adslot", "adunit", "adbox", "dfp", "sponsor", "sponsored", "sponsors", "promo", "promos",
    "promoted", "promotion", "outbrain", "taboola", "zergnet", "affiliate",
    /* links to other pages of the site */
    "related", "relatedposts", "recommended", "recommendations", "recommendation", "recirc",
    "recirculation", "trending", "popular", "mostread", "mostpopular", "pagination", "pager",
    "breadcrumb", "breadcrumbs", "crumbs", "nextstory", "prevnext",
    /* calls to action */
    "newsletter", "newsletters", "subscribe", "subscription", "subscriptions", "signup",
    "login", "paywall", "donate", "donation", "cta", "disclosure", "disclaimer",
    /* sharing */
    "share", "shares", "sharing", "sharedaddy", "sharebar", "sharethis", "addthis", "social",
    "socials", "socialmedia",
    /* cookie banners, overlays */
    "cookie", "cookies", "consent", "gdpr", "popup", "modal", "lightbox",
    /* page footer and site header */
    "footer", "masthead", "copyright", "colophon",
    /* text for screen readers only, skip links */
    "sr", "skip", "visuallyhidden", "offscreen",
};

/* Words that mark furniture unless another class of the same element says
 * "content" (so "entry-content share-enabled" stays). */
static const char *const weak_words[] = {
    "sidebar", "menu", "submenu", "megamenu", "nav", "navbar",
    "navigation", "subnav", "topnav", "tags", "tagcloud", "taglist", "meta", "metadata", "byline",
    "author", "bio", "toolbar", "tools", "banner", "hidden", "teaser", "teasers", "rating",
    "ratings", "print", "factbox", "callout", "player", "credit", "credits",
};

/* Pairs of words that together mark furniture ("read-more", "more-stories"). */
static const char *const strong_pairs[][2] = {
    {"read", "more"},   {"read", "also"},     {"read", "next"},    {"more", "stories"},
    {"more", "articles"}, {"more", "news"},   {"more", "posts"},   {"more", "from"},
    {"more", "like"},   {"also", "like"},     {"might", "like"},   {"may", "like"},
    {"around", "web"},  {"screen", "reader"}, {"about", "author"}, {"author", "box"},
    {"visually", "hidden"}, {"post", "nav"},  {"you", "missed"},   {"see", "also"},
    {"next", "story"},  {"next", "post"},     {"next", "article"}, {"previous", "post"},
    {"prev", "post"},
};

/* Words that mark the article itself. */
static const char *const pos_words[] = {
    "article", "articlebody", "body", "content", "entry", "hentry", "main", "post", "story",
    "text", "blog", "prose", "storybody", "postbody", "entrycontent", "postcontent",
    "articlecontent", "maincontent", "bodytext", "page", "permalink",
};

/* A class whose first word is one of these states a condition of the page
 * ("has-sidebar", "no-comments", "tag-economy"), not what the element is. */
static const char *const state_words[] = {
    "has", "with", "no", "is", "not", "show", "enable", "enabled", "disable", "tag",
    "category", "cat", "postid", "format", "type", "status", "template", "can",
};

static int in_list(const char *w, size_t n, const char *const *list, size_t count)
{
    if (!n)
        return 0;
    /* the first letter rules out nearly every entry before a full compare */
    int c0 = lower((unsigned char)w[0]);
    for (size_t i = 0; i < count; i++)
        if (lower((unsigned char)list[i][0]) == c0 && ieqn(w, n, list[i]))
            return 1;
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof *(a))

#define C_STRONG 0x1
#define C_WEAK 0x2
#define C_POS 0x4
#define C_BODY 0x8 /* names the article's body: "article-body", "entry-content" */
#define C_COMMENT 0x10 /* reader comments */
#define C_CAPTION 0x20 /* "caption" */
#define C_DATE 0x40    /* "date", "timestamp", "posted" */

/* Classifies one class name (or id) s[0..n): a set of C_* flags. */
static unsigned classify_name(const char *s, size_t n)
{
    struct {
        const char *p;
        size_t n;
    } w[12];
    size_t nw = 0;
    size_t i = 0;
    while (i < n && nw < COUNT(w)) {
        while (i < n && !is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i]))
            i++;
        if (i >= n)
            break;
        size_t st = i++;
        if (is_digit((unsigned char)s[st])) {
            while (i < n && is_digit((unsigned char)s[i]))
                i++;
            continue; /* numbers say nothing */
        }
        while (i < n && is_alpha((unsigned char)s[i]) &&
               !(s[i] >= 'A' && s[i] <= 'Z' && s[i - 1] >= 'a' && s[i - 1] <= 'z'))
            i++;
        w[nw].p = s + st;
        w[nw].n = i - st;
        nw++;
    }
    if (!nw || in_list(w[0].p, w[0].n, state_words, COUNT(state_words)))
        return 0;
    static const char *const body_heads[] = {"article", "story", "post", "entry", "main"};
    static const char *const body_tails[] = {"body", "content", "text"};
    static const char *const body_words[] = {"articlebody", "storybody", "postbody",
                                             "entrycontent", "postcontent", "articlecontent",
                                             "storycontent", "maincontent", "articletext"};
    unsigned r = 0;
    if ((nw == 2 && in_list(w[0].p, w[0].n, body_heads, COUNT(body_heads)) &&
         in_list(w[1].p, w[1].n, body_tails, COUNT(body_tails))) ||
        (nw == 1 && in_list(w[0].p, w[0].n, body_words, COUNT(body_words))))
        r |= C_BODY;
    static const char *const date_words[] = {"date", "dates", "timestamp",
                                             "pubdate", "published", "posted"};
    static const char *const comment_words[] = {"comment", "comments", "commentlist",
                                                "commentform", "disqus", "respond", "replies"};
    for (size_t k = 0; k < nw; k++) {
        if (in_list(w[k].p, w[k].n, comment_words, COUNT(comment_words)))
            r |= C_STRONG | C_COMMENT;
        else if (ieqn(w[k].p, w[k].n, "caption") || ieqn(w[k].p, w[k].n, "captions"))
            r |= C_CAPTION;
        else if (in_list(w[k].p, w[k].n, date_words, COUNT(date_words)))
            r |= C_DATE;
        else if (in_list(w[k].p, w[k].n, strong_words, COUNT(strong_words)))
            r |= C_STRONG;
        else if (in_list(w[k].p, w[k].n, weak_words, COUNT(weak_words)))
            r |= C_WEAK;
        else if (in_list(w[k].p, w[k].n, pos_words, COUNT(pos_words)))
            r |= C_POS;
        for (size_t j = k + 1; j < nw && j <= k + 2; j++)
            for (size_t q = 0; q < COUNT(strong_pairs); q++)
                if (ieqn(w[k].p, w[k].n, strong_pairs[q][0]) &&
                    ieqn(w[j].p, w[j].n, strong_pairs[q][1]))
                    r |= C_STRONG;
    }
    if (r & (C_STRONG | C_WEAK))
        r &= ~(unsigned)(C_POS | C_BODY); /* "sidebar-content" is a sidebar */
    return r;
}

/* classify every white-space separated name of a class attribute */
static unsigned classify_names(const char *v)
{
    unsigned r = 0;
    while (*v) {
        while (*v && is_ws((unsigned char)*v))
            v++;
        const char *st = v;
        while (*v && !is_ws((unsigned char)*v))
            v++;
        if (v > st)
            r |= classify_name(st, (size_t)(v - st));
    }
    return r;
}

/* element flags from attributes */
#define A_CHROME 0x001  /* furniture by a strong class/id word */
#define A_SURE 0x002    /* furniture whatever the text says: comments, ARIA landmarks */
#define A_WEAK 0x004    /* furniture by a weak class/id word only */
#define A_HIDDEN 0x008  /* not rendered */
#define A_MAIN 0x010    /* itemprop=articleBody or role=main */
#define A_BODY 0x020    /* class/id names the article body */
#define A_POS 0x040     /* class/id says article */
#define A_NEG 0x080     /* class/id says furniture (even if overruled) */
#define A_CAPTION 0x100 /* class/id says caption or photo credit */
#define A_DATE 0x200    /* class/id says date */

static unsigned classify_attrs(const xmlNode *n)
{
    unsigned c = 0, out = 0;
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *name = (const char *)a->name;
        const char *v = a->children && a->children->type == XML_TEXT_NODE
                            ? (const char *)a->children->content
                            : NULL;
        if (ieq(name, "hidden")) {
            out |= A_HIDDEN;
            continue;
        }
        if (!v)
            continue;
        switch (lower((unsigned char)name[0])) {
        case 'c':
            if (ieq(name, "class"))
                c |= classify_names(v);
            break;
        case 'i':
            if (ieq(name, "id"))
                c |= classify_name(v, strlen(v));
            else if (ieq(name, "itemprop")) {
                if (ifind(v, strlen(v), "articlebody"))
                    out |= A_MAIN;
                else if (ieq(v, "comment") || ieq(v, "comments"))
                    out |= A_CHROME | A_SURE;
            }
            break;
        case 'r':
            if (ieq(name, "role")) {
                static const char *const chrome_roles[] = {
                    "navigation", "banner", "contentinfo", "complementary", "search", "menu",
                    "menubar", "dialog", "alertdialog", "toolbar", "tablist"};
                if (ieq(v, "main"))
                    out |= A_MAIN;
                else if (in_list(v, strlen(v), chrome_roles, COUNT(chrome_roles)))
                    out |= A_CHROME | A_SURE;
            }
            break;
        case 'a':
            if (ieq(name, "aria-hidden") && ieq(v, "true"))
                out |= A_HIDDEN;
            break;
        case 's':
            if (ieq(name, "style")) {
                /* "display: none" / "visibility:hidden", spaces ignored */
                char sq[256];
                size_t k = 0;
                for (const char *p = v; *p && k + 1 < sizeof sq; p++)
                    if (!is_ws((unsigned char)*p))
                        sq[k++] = (char)lower((unsigned char)*p);
                if (ifind(sq, k, "display:none") || ifind(sq, k, "visibility:hidden"))
                    out |= A_HIDDEN;
            }
            break;
        }
    }
    if (c & C_STRONG)
        out |= A_CHROME;
    else if ((c & C_WEAK) && !(c & C_POS))
        out |= A_WEAK;
    if (c & C_COMMENT)
        out |= A_SURE;
    if (c & C_CAPTION)
        out |= A_CAPTION;
    if (c & C_DATE)
        out |= A_DATE;
    if (c & C_BODY)
        out |= A_BODY;
    if (c & (C_STRONG | C_WEAK))
        out |= A_NEG;
    if (c & C_POS)
        out |= A_POS;
    return out;
}

/* ------------------------------------------------------------------------
 * Per-element data
 */
#define N_DROP 0x01    /* furniture: not output, not counted */
#define N_HASMAIN 0x02 /* holds (or is) a semantic main-content marker */
#define N_MAIN 0x04    /* is itemprop=articleBody / role=main / <main> */
#define N_POS 0x08
#define N_NEG 0x10
#define N_SCORED 0x20 /* received points from paragraphs */

typedef struct ninfo {
    xmlNode *node;
    uint32_t text;   /* visible non-space characters below */
    uint32_t link;   /* of which inside <a> */
    uint32_t own;    /* of which outside links and outside block children */
    uint32_t ptext;  /* non-link text in paragraph-like blocks below */
    uint32_t commas;
    float score; /* points received from paragraphs below */
    float maxsc; /* the highest score in this subtree */
    uint8_t tag, kind;
    uint8_t flags;
} ninfo;

static ninfo *info_of(const xmlNode *n)
{
    return n && n->type == XML_ELEMENT_NODE ? n->_private : NULL;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* Visible characters (not white space, not UTF-8 continuation bytes) and
 * commas of a text node. */
static void count_text(const xmlChar *s, uint32_t *chars, uint32_t *commas)
{
    uint32_t c = 0, k = 0;
    for (; s && *s; s++) {
        unsigned char b = *s;
        if (b == ',')
            k++;
        if (!is_ws(b) && (b & 0xC0) != 0x80)
            c++;
    }
    *chars = c;
    *commas = k;
}

/* ------------------------------------------------------------------------
 * Metadata candidates: the value of lowest rank wins, the first one among
 * equal ranks.
 */
enum { F_TITLE, F_AUTHOR, F_DATE, F_URL, F_SITE, F_LANG, F_N };

typedef struct meta {
    char *v[F_N];
    int rank[F_N];
    char *title_tag; /* <title>, kept apart: the h1 may refine it */
    char *h1_first;
    int n_h1;
    char *ld[16]; /* JSON-LD script texts */
    size_t n_ld;
} meta;

/* Takes ownership of v (malloc'd, may be NULL). */
static void meta_put(meta *m, int f, int rank, char *v)
{
    if (!v)
        return;
    if (m->v[f] && m->rank[f] <= rank) {
        free(v);
        return;
    }
    free(m->v[f]);
    m->v[f] = v;
    m->rank[f] = rank;
}

static const char *const month_names[12][2] = {
    {"january", "jan"}, {"february", "feb"}, {"march", "mar"},     {"april", "apr"},
    {"may", "may"},     {"june", "jun"},     {"july", "jul"},      {"august", "aug"},
    {"september", "sep"}, {"october", "oct"}, {"november", "nov"}, {"december", "dec"}};

static int valid_ymd(int y, int m, int d)
{
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

/* YYYY-MM-DD of a date valid_ymd() accepted (so every field is bounded) */
static void fmt_ymd(char out[11], int y, int m, int d)
{
    out[0] = (char)('0' + y / 1000), out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10), out[3] = (char)('0' + y % 10);
    out[4] = '-', out[5] = (char)('0' + m / 10), out[6] = (char)('0' + m % 10);
    out[7] = '-', out[8] = (char)('0' + d / 10), out[9] = (char)('0' + d % 10);
    out[10] = 0;
}

/* reads 1..max digits at s; returns the count read (0 if none) */
static int read_num(const char *s, int max, int *out)
{
    int v = 0, k = 0;
    while (k < max && is_digit((unsigned char)s[k]))
        v = v * 10 + (s[k++] - '0');
    if (k && is_digit((unsigned char)s[k]))
        return 0; /* too many digits */
    *out = v;
    return k;
}

/* month name at s: returns 1..12 and sets *len, else 0 */
static int read_month(const char *s, size_t *len)
{
    size_t n = 0;
    while (is_alpha((unsigned char)s[n]))
        n++;
    for (int m = 0; m < 12; m++)
        if (ieqn(s, n, month_names[m][0]) || ieqn(s, n, month_names[m][1]) ||
            (m == 8 && ieqn(s, n, "sept"))) {
            *len = n;
            return m + 1;
        }
    return 0;
}

/* Finds a date in free text: 2023-11-09, 2023/11/09, 20231109, November 9,
 * 2023, 9 Nov. 2023, 09.11.2023 / 11/09/2023 (only when the day is > 12,
 * so that the order is certain). Writes YYYY-MM-DD. */
static int parse_date(const char *s, char out[11])
{
    size_t n = strlen(s);
    int y, m, d;
    for (size_t i = 0; i < n; i++) {
        if (i && (is_digit((unsigned char)s[i - 1]) || is_alpha((unsigned char)s[i - 1])))
            continue; /* only at the start of a word */
        const char *p = s + i;
        if (is_digit((unsigned char)*p)) {
            int k = read_num(p, 4, &y);
            if (k == 4 && (p[4] == '-' || p[4] == '/' || p[4] == '.')) {
                int k2 = read_num(p + 5, 2, &m);
                if (k2 && p[5 + k2] == p[4] && read_num(p + 6 + k2, 2, &d) &&
                    valid_ymd(y, m, d))
                    goto ok;
            }
            if (k == 0 && read_num(p, 8, &y) == 8) { /* YYYYMMDD */
                d = y % 100;
                m = y / 100 % 100;
                y /= 10000;
                if (valid_ymd(y, m, d))
                    goto ok;
            }
            int a, b;
            int ka = read_num(p, 2, &a);
            if (ka && (p[ka] == '/' || p[ka] == '.' || p[ka] == '-')) {
                int kb = read_num(p + ka + 1, 2, &b);
                if (kb && p[ka + 1 + kb] == p[ka] && read_num(p + ka + 2 + kb, 4, &y) == 4) {
                    if (a > 12 && valid_ymd(y, b, a)) {
                        m = b, d = a;
                        goto ok;
                    }
                    if (b > 12 && valid_ymd(y, a, b)) {
                        m = a, d = b;
                        goto ok;
                    }
                }
            }
            /* 9 November 2023, 9th Nov. 2023 */
            if (ka && ka <= 2) {
                const char *q = p + ka;
                if (ieqn(q, 2, "st") || ieqn(q, 2, "nd") || ieqn(q, 2, "rd") || ieqn(q, 2, "th"))
                    q += 2;
                while (*q == ' ' || *q == '-')
                    q++;
                size_t ml;
                if ((m = read_month(q, &ml))) {
                    q += ml;
                    while (*q == '.' || *q == ',' || *q == ' ' || *q == '-')
                        q++;
                    if (read_num(q, 4, &y) == 4 && valid_ymd(y, m, a)) {
                        d = a;
                        goto ok;
                    }
                }
            }
        } else if (is_alpha((unsigned char)*p)) {
            size_t ml;
            if ((m = read_month(p, &ml))) { /* November 9, 2023 */
                const char *q = p + ml;
                while (*q == '.' || *q == ' ')
                    q++;
                int k = read_num(q, 2, &d);
                if (k) {
                    q += k;
                    if (ieqn(q, 2, "st") || ieqn(q, 2, "nd") || ieqn(q, 2, "rd") ||
                        ieqn(q, 2, "th"))
                        q += 2;
                    while (*q == ',' || *q == ' ')
                        q++;
                    if (read_num(q, 4, &y) == 4 && valid_ymd(y, m, d))
                        goto ok;
                }
            }
        }
    }
    return 0;
ok:
    fmt_ymd(out, y, m, d);
    return 1;
}

/* A date value: normalised to YYYY-MM-DD when it parses, else NULL (an
 * unparsable date says too little to be worth keeping). */
static char *date_value(const char *s)
{
    char d[11];
    if (!s || !parse_date(s, d))
        return NULL;
    return strdup(d);
}

/* An author value: folded, without a leading "By", refused when it looks
 * like a URL or a sentence rather than a name. */
static char *author_value(const char *s)
{
    char *v = fold_str(s);
    if (!v)
        return NULL;
    char *p = v;
    static const char *const lead[] = {"view all posts by ", "more articles by ",
                                       "posted by ", "written by ", "by ", "by:"};
    for (size_t i = 0; i < COUNT(lead); i++)
        if (ieqn(p, strlen(lead[i]), lead[i])) {
            p += strlen(lead[i]);
            break;
        }
    while (*p == ' ' || *p == ':')
        p++;
    size_t n = strlen(p);
    if (!n || n > 120 || ifind(p, n, "http") || ifind(p, n, "www.") || strchr(p, '@') ||
        strchr(p, '{') || strchr(p, '<')) {
        free(v);
        return NULL;
    }
    /* trailing separators of a byline ("Ariel H -") */
    while (n && (p[n - 1] == '-' || p[n - 1] == '|' || p[n - 1] == ',' || p[n - 1] == ':' ||
                 p[n - 1] == ' '))
        n--;
    if (!n) {
        free(v);
        return NULL;
    }
    memmove(v, p, n);
    v[n] = 0;
    return v;
}

/* The folded text of an element, or NULL when it is longer than `max`
 * bytes: metadata values are short, and a bound keeps a class="author"
 * wrapped around a whole page (or nested 256 deep) from costing a copy of
 * the page each time. */
static char *node_text_max(xmlNode *top, size_t max)
{
    buf b = {0};
    xmlNode *n = top->children;
    while (n) {
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content) {
            size_t k = strlen((const char *)n->content);
            if (b.n + k > max) {
                free(b.p);
                return NULL;
            }
            buf_add(&b, (const char *)n->content, k);
        }
        if (n->type == XML_ELEMENT_NODE && n->children && !(tag_of(n)->kind & K_SKIP)) {
            n = n->children;
            continue;
        }
        while (n != top && !n->next)
            n = n->parent;
        n = n == top ? NULL : n->next;
    }
    char *v = b.err ? NULL : fold_dup(b.p ? b.p : "", b.n);
    free(b.p);
    return v;
}

/* metadata from element text: 4 KiB is room for any title or name */
static char *node_text(xmlNode *n)
{
    return node_text_max(n, 4096);
}

/* ------------------------------------------------------------------------
 * JSON-LD
 */
typedef struct ld {
    const cJSON *article; /* the first *Article / BlogPosting / ... object */
    const cJSON *page;    /* the first WebPage object */
    const cJSON *persons[32];
    size_t n_persons;
    const char *org_name, *site_name;
} ldinfo;

static int type_is(const cJSON *o, const char *const *names, size_t count)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "@type");
    if (cJSON_IsString(t))
        return in_list(t->valuestring, strlen(t->valuestring), names, count);
    if (cJSON_IsArray(t)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, t) if (cJSON_IsString(e) &&
                                     in_list(e->valuestring, strlen(e->valuestring), names,
                                             count)) return 1;
    }
    return 0;
}

static void ld_visit(ldinfo *L, const cJSON *o, int depth)
{
    static const char *const article_types[] = {
        "Article", "NewsArticle", "BlogPosting", "ReportageNewsArticle",
        "AnalysisNewsArticle", "OpinionNewsArticle", "BackgroundNewsArticle",
        "ReviewNewsArticle", "ScholarlyArticle", "TechArticle", "Report", "LiveBlogPosting",
        "SocialMediaPosting", "Recipe", "HowTo", "Review", "AdvertiserContentArticle",
        "SatiricalArticle", "MedicalScholarlyArticle", "DiscussionForumPosting",
        "Posting", "PressRelease"};
    static const char *const page_types[] = {"WebPage", "ItemPage", "AboutPage", "FAQPage",
                                             "QAPage", "ProfilePage", "CollectionPage"};
    static const char *const org_types[] = {"Organization", "NewsMediaOrganization",
                                            "Corporation", "LocalBusiness"};
    if (depth > 6 || !o)
        return;
    if (cJSON_IsArray(o)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, o) ld_visit(L, e, depth + 1);
        return;
    }
    if (!cJSON_IsObject(o))
        return;
    ld_visit(L, cJSON_GetObjectItemCaseSensitive(o, "@graph"), depth + 1);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (type_is(o, article_types, COUNT(article_types))) {
        if (!L->article)
            L->article = o;
    } else if (type_is(o, page_types, COUNT(page_types))) {
        if (!L->page)
            L->page = o;
    } else if (type_is(o, (const char *const[]){"Person"}, 1)) {
        if (L->n_persons < COUNT(L->persons))
            L->persons[L->n_persons++] = o;
    } else if (type_is(o, (const char *const[]){"WebSite"}, 1) && cJSON_IsString(name)) {
        if (!L->site_name)
            L->site_name = name->valuestring;
    } else if (type_is(o, org_types, COUNT(org_types)) && cJSON_IsString(name)) {
        if (!L->org_name)
            L->org_name = name->valuestring;
    }
}

static const char *ld_str(const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (cJSON_IsArray(v))
        v = cJSON_GetArrayItem(v, 0);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* name of a person given inline, as a string, or by @id */
static const char *ld_person_name(const ldinfo *L, const cJSON *p)
{
    if (cJSON_IsString(p))
        return p->valuestring;
    if (!cJSON_IsObject(p))
        return NULL;
    const char *name = ld_str(p, "name");
    if (name)
        return name;
    const char *id = ld_str(p, "@id");
    for (size_t i = 0; id && i < L->n_persons; i++) {
        const char *pid = ld_str(L->persons[i], "@id");
        if (pid && !strcmp(pid, id))
            return ld_str(L->persons[i], "name");
    }
    return NULL;
}

/* a decoded, folded copy of a JSON-LD string */
static char *ld_value(const char *s)
{
    if (!s)
        return NULL;
    char *t = strdup(s);
    if (!t)
        return NULL;
    entity_decode(t);
    char *v = fold_str(t);
    free(t);
    return v;
}

static void ld_apply(meta *m)
{
    cJSON *roots[COUNT(m->ld)];
    size_t nr = 0;
    ldinfo L = {0};
    for (size_t i = 0; i < m->n_ld; i++) {
        /* skip "<!--" or "//<![CDATA[" wrappers; allow junk after the value */
        const char *s = m->ld[i];
        while (*s && *s != '{' && *s != '[')
            s++;
        roots[nr] = cJSON_ParseWithOpts(s, NULL, 0);
        if (roots[nr])
            ld_visit(&L, roots[nr++], 0);
    }
    const cJSON *a = L.article;
    if (a) {
        const char *h = ld_str(a, "headline");
        meta_put(m, F_TITLE, 0, ld_value(h ? h : ld_str(a, "name")));
        /* authors: one object, one string, or an array of them */
        const cJSON *au = cJSON_GetObjectItemCaseSensitive(a, "author");
        if (!au)
            au = cJSON_GetObjectItemCaseSensitive(a, "creator");
        buf b = {0};
        if (cJSON_IsArray(au)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, au)
            {
                char *v = author_value(ld_person_name(&L, e));
                if (v && !(b.n && ifind(b.p, b.n, v))) {
                    if (b.n)
                        buf_add(&b, "; ", 2);
                    buf_add(&b, v, strlen(v));
                }
                free(v);
            }
        } else {
            char *v = author_value(ld_person_name(&L, au));
            if (v)
                buf_add(&b, v, strlen(v));
            free(v);
        }
        if (b.n && !b.err) {
            entity_decode(b.p);
            meta_put(m, F_AUTHOR, 0, b.p);
        } else {
            free(b.p);
        }
        const char *d = ld_str(a, "datePublished");
        meta_put(m, F_DATE, 0, date_value(d ? d : ld_str(a, "dateCreated")));
        meta_put(m, F_DATE, 7, date_value(ld_str(a, "dateModified")));
        const cJSON *pub = cJSON_GetObjectItemCaseSensitive(a, "publisher");
        if (cJSON_IsArray(pub))
            pub = cJSON_GetArrayItem(pub, 0);
        meta_put(m, F_SITE, 0, ld_value(ld_str(pub, "name")));
        const char *u = ld_str(a, "url");
        if (!u) {
            const cJSON *mp = cJSON_GetObjectItemCaseSensitive(a, "mainEntityOfPage");
            u = cJSON_IsString(mp) ? mp->valuestring : ld_str(mp, "@id");
        }
        if (u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)))
            meta_put(m, F_URL, 2, fold_str(u));
        meta_put(m, F_LANG, 3, fold_str(ld_str(a, "inLanguage")));
    }
    if (L.page) {
        const char *d = ld_str(L.page, "datePublished");
        meta_put(m, F_DATE, 1, date_value(d));
        meta_put(m, F_DATE, 7, date_value(ld_str(L.page, "dateModified")));
    }
    meta_put(m, F_SITE, 2, ld_value(L.site_name ? L.site_name : L.org_name));
    for (size_t i = 0; i < nr; i++)
        cJSON_Delete(roots[i]);
}

/* ------------------------------------------------------------------------
 * The metadata walk: every node of the document.
 */
static void meta_from_meta_tag(meta *m, const xmlNode *n)
{
    const char *key = attr(n, "property");
    if (!key)
        key = attr(n, "name");
    if (!key)
        key = attr(n, "itemprop");
    const char *content = attr(n, "content");
    if (!key || !content) {
        const char *he = attr(n, "http-equiv");
        if (he && content && ieq(he, "content-language"))
            meta_put(m, F_LANG, 1, fold_str(content));
        return;
    }
    static const char *const date_keys[] = {
        "date", "pubdate", "publishdate", "publish-date", "publish_date", "pub_date",
        "dc.date", "dc.date.issued", "dc.date.created", "dcterms.date", "dcterms.issued",
        "dcterms.created", "sailthru.date", "parsely-pub-date", "article.published",
        "date.published", "citation_publication_date", "citation_date",
        "original-publish-date", "datepublished", "article_date_original",
        "cxenseparse:recs:publishtime",
        "publication_date", "og:published_time", "article:published", "bt:pubdate",
        "release_date", "created", "date_published", "dc.created", "dcterms.available"};
    static const char *const author_keys[] = {
        "author", "article:author", "dc.creator", "dcterms.creator", "sailthru.author",
        "parsely-author", "byl", "citation_author", "twitter:creator:name", "og:article:author",
        "article:author_name"};
    if (ieq(key, "og:title"))
        meta_put(m, F_TITLE, 1, fold_str(content));
    else if (ieq(key, "twitter:title") || ieq(key, "headline") || ieq(key, "dc.title") ||
             ieq(key, "citation_title") || ieq(key, "parsely-title"))
        meta_put(m, F_TITLE, 2, fold_str(content));
    else if (ieq(key, "article:published_time"))
        meta_put(m, F_DATE, 1, date_value(content));
    else if (in_list(key, strlen(key), date_keys, COUNT(date_keys)))
        meta_put(m, F_DATE, 2, date_value(content));
    else if (ieq(key, "article:modified_time") || ieq(key, "og:updated_time") ||
             ieq(key, "datemodified") || ieq(key, "last-modified"))
        meta_put(m, F_DATE, 7, date_value(content));
    else if (in_list(key, strlen(key), author_keys, COUNT(author_keys)))
        meta_put(m, F_AUTHOR, 1, author_value(content));
    else if (ieq(key, "og:url"))
        meta_put(m, F_URL, 1, fold_str(content));
    else if (ieq(key, "og:site_name"))
        meta_put(m, F_SITE, 1, fold_str(content));
    else if (ieq(key, "application-name") || ieq(key, "publisher") ||
             ieq(key, "dc.publisher"))
        meta_put(m, F_SITE, 3, fold_str(content));
    else if (ieq(key, "og:locale") || ieq(key, "language") || ieq(key, "dc.language"))
        meta_put(m, F_LANG, 2, fold_str(content));
}

/* Does the class (or id) value v hold one of `words` as a whole word? */
static int has_word(const char *v, const char *const *words, size_t count)
{
    if (!v)
        return 0;
    for (const char *p = v; *p;) {
        while (*p && !is_alpha((unsigned char)*p))
            p++;
        const char *st = p;
        while (*p && is_alpha((unsigned char)*p) &&
               !(p > st && *p >= 'A' && *p <= 'Z' && p[-1] >= 'a' && p[-1] <= 'z'))
            p++;
        if (p > st && in_list(st, (size_t)(p - st), words, count))
            return 1;
    }
    return 0;
}

/* Is n inside reader comments (looking a bounded way up)? */
static int in_comments(const xmlNode *n)
{
    static const char *const words[] = {"comment", "comments", "commentlist", "respond",
                                        "replies", "reply"};
    for (int i = 0; n && n->type == XML_ELEMENT_NODE && i < 16; i++, n = n->parent)
        if (has_word(attr(n, "class"), words, COUNT(words)) ||
            has_word(attr(n, "id"), words, COUNT(words)))
            return 1;
    return 0;
}

static void meta_walk(meta *m, xmlNode *root)
{
    int done_title = 0;
    xmlNode *n = root;
    for (;;) {
        int descend = 1;
        if (n->type == XML_ELEMENT_NODE) {
            const taginfo *t = tag_of(n);
            const char *ip = attr(n, "itemprop");
            switch (t->id) {
            case T_HTML: {
                const char *l = attr(n, "lang");
                if (!l)
                    l = attr(n, "xml:lang");
                meta_put(m, F_LANG, 0, fold_str(l));
                break;
            }
            case T_TITLE:
                if (!done_title) {
                    done_title = 1;
                    m->title_tag = node_text(n);
                }
                descend = 0;
                break;
            case T_META:
                meta_from_meta_tag(m, n);
                break;
            case T_LINK: {
                const char *rel = attr(n, "rel"), *href = attr(n, "href");
                if (rel && href && ieq(rel, "canonical"))
                    meta_put(m, F_URL, 0, fold_str(href));
                break;
            }
            case T_SCRIPT: {
                const char *ty = attr(n, "type");
                if (ty && ieq(ty, "application/ld+json") && m->n_ld < COUNT(m->ld)) {
                    xmlChar *c = xmlNodeGetContent(n);
                    if (c) {
                        m->ld[m->n_ld] = strdup((const char *)c);
                        if (m->ld[m->n_ld])
                            m->n_ld++;
                        xmlFree(c);
                    }
                }
                descend = 0;
                break;
            }
            case T_TIME: {
                const char *dt = attr(n, "datetime");
                if (dt)
                    meta_put(m, F_DATE, ip && ieq(ip, "datePublished") ? 3
                                        : attr(n, "pubdate") ? 3 : 5,
                             date_value(dt));
                break;
            }
            case T_A: {
                const char *rel = attr(n, "rel");
                if (rel && ifind(rel, strlen(rel), "author")) {
                    char *v = node_text(n);
                    meta_put(m, F_AUTHOR, 3, author_value(v));
                    free(v);
                }
                break;
            }
            case T_H1:
                if (m->n_h1++ == 0)
                    m->h1_first = node_text(n);
                break;
            default:
                break;
            }
            /* last resorts: a byline or a date shown in the page, found by
             * its class or id ("byline", "author-name", "post-date") */
            if (!(t->kind & K_SKIP) && (!m->v[F_AUTHOR] || !m->v[F_DATE])) {
                static const char *const by_words[] = {"byline", "author", "byl", "writer"};
                static const char *const no_words[] = {"bio", "box", "avatar", "image",
                                                       "img", "photo", "description",
                                                       "about", "info", "title"};
                static const char *const date_words[] = {"date", "dateline", "published",
                                                         "posted", "pubdate", "timestamp",
                                                         "time", "meta"};
                const char *cl = attr(n, "class"), *id = attr(n, "id");
                if (!m->v[F_AUTHOR] && (has_word(cl, by_words, COUNT(by_words)) ||
                                        has_word(id, by_words, COUNT(by_words))) &&
                    !has_word(cl, no_words, COUNT(no_words)) && !in_comments(n)) {
                    char *tx = node_text(n);
                    /* a name: short, a few words */
                    size_t words = 0;
                    for (const char *q = tx; q && *q; q++)
                        words += *q == ' ';
                    if (tx && strlen(tx) <= 60 && words <= 6)
                        meta_put(m, F_AUTHOR, 4, author_value(tx));
                    free(tx);
                }
                if ((!m->v[F_DATE] || m->rank[F_DATE] > 6) &&
                    (has_word(cl, date_words, COUNT(date_words)) ||
                     has_word(id, date_words, COUNT(date_words)))) {
                    char *tx = node_text(n);
                    if (tx && strlen(tx) <= 200)
                        meta_put(m, F_DATE, 6, date_value(tx));
                    free(tx);
                }
            }
            if (ip && t->id != T_META) {
                if (ieq(ip, "headline"))
                    meta_put(m, F_TITLE, 2, node_text(n));
                else if (ieq(ip, "datePublished")) {
                    const char *v = attr(n, "content");
                    if (!v)
                        v = attr(n, "datetime");
                    if (v)
                        meta_put(m, F_DATE, 3, date_value(v));
                    else {
                        char *tx = node_text(n);
                        meta_put(m, F_DATE, 3, date_value(tx));
                        free(tx);
                    }
                } else if (ieq(ip, "author") || ieq(ip, "creator")) {
                    /* <span itemprop=author><span itemprop=name>X</span></span> */
                    xmlNode *nm = NULL;
                    for (xmlNode *c = n->children; c && !nm; c = c->next)
                        if (c->type == XML_ELEMENT_NODE) {
                            const char *cip = attr(c, "itemprop");
                            if (cip && ieq(cip, "name"))
                                nm = c;
                        }
                    const char *v = attr(n, "content");
                    char *tx = v ? NULL : node_text(nm ? nm : n);
                    meta_put(m, F_AUTHOR, 2, author_value(v ? v : tx));
                    free(tx);
                }
            }
            if (t->kind & K_SKIP && t->id != T_HEAD)
                descend = 0;
        }
        if (descend && n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        for (;;) {
            if (n == root)
                return;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
        }
    }
}

/* ------------------------------------------------------------------------
 * Scoring walk
 */

/* readability-style starting score by tag */
static float tag_base(int tag)
{
    switch (tag) {
    case T_DIV:
    case T_ARTICLE:
    case T_SECTION:
    case T_MAIN:
        return 5;
    case T_PRE:
    case T_TD:
    case T_BLOCKQUOTE:
        return 3;
    case T_ADDRESS:
    case T_OL:
    case T_UL:
    case T_DL:
    case T_DD:
    case T_DT:
    case T_LI:
    case T_FORM:
        return -3;
    case T_H1:
    case T_H2:
    case T_H3:
    case T_H4:
    case T_H5:
    case T_H6:
    case T_TH:
        return -5;
    default:
        return 0;
    }
}

typedef struct walk {
    ninfo *info;
    size_t n_info, cap_info;
    int in_article;
} walk;

/* Decides, when the element ends, whether it is furniture; then passes its
 * counts up and gives its paragraph points to its ancestors. */
static void score_exit(walk *w, xmlNode *n)
{
    ninfo *in = n->_private;
    ninfo *pi = info_of(n->parent);
    unsigned a = classify_attrs(n);
    /* a marked main text protects its ancestors from the furniture rules;
     * teaser cards marked articleBody with a line of text do not */
    if (in->tag == T_MAIN || (a & A_MAIN))
        in->flags |= N_MAIN | (in->ptext >= 200 ? N_HASMAIN : 0);
    if ((a & A_BODY) && in->ptext >= 200)
        in->flags |= N_HASMAIN;
    if (a & A_POS)
        in->flags |= N_POS;
    if (a & A_NEG)
        in->flags |= N_NEG;
    if (in->tag == T_A)
        in->link = in->text;
    if (in->tag == T_ARTICLE)
        w->in_article--;

    /* A run of paragraphs with one parent is an article, whatever the
     * classes around it say (some site builders name their article
     * containers "widget" or "docked-sharebar-content"); reader comments
     * come one per container, so they never make such a run. */
    if (in->score > in->maxsc)
        in->maxsc = in->score;
    int dense = in->maxsc >= 30;

    int chrome = 0;
    if (in->kind & K_CHROME) {
        if (in->tag == T_HEADER)
            /* an article's own header holds its title and standfirst */
            chrome = w->in_article == 0 && !(in->ptext >= 80 && in->link * 4 < in->text);
        else if (in->tag == T_FORM)
            chrome = in->text < 1000; /* some sites wrap the whole page in a form */
        else if (in->tag == T_NOSCRIPT)
            chrome = !dense; /* some blogs put the whole article there */
        else if (in->tag == T_FIGCAPTION)
            chrome = in->score == 0;
        else
            chrome = 1;
    }
    /* a <time> standing alone between blocks is a date line, not a part of
     * a sentence */
    if (in->tag == T_TIME && pi && (pi->kind & K_BLOCK) && !(pi->kind & K_PARA))
        chrome = 1;
    /* captions and photo credits go, unless they hold paragraphs (the text
     * of a gallery) */
    if ((a & A_CAPTION) && in->score == 0)
        chrome = 1;
    /* a date line is short ("date-outer" wrappers around whole posts are not) */
    if ((a & A_DATE) && in->text < 80)
        chrome = 1;
    if (a & A_HIDDEN)
        chrome = 1;
    if ((a & A_SURE) || ((a & A_CHROME) && !dense))
        chrome = 1;
    /* weak words ("sidebar", "meta", "author") are used loosely, even
     * around the article: they count only on blocks with little text */
    if ((a & A_WEAK) && !dense && in->ptext < 1000)
        chrome = 1;
    if (in->flags & N_HASMAIN)
        chrome = 0; /* never drop what holds the marked main content */
    if (in->tag == T_BODY || in->tag == T_HTML)
        chrome = 0;
    if (chrome) {
        in->flags |= N_DROP;
        return;
    }
    if (in->kind & K_PARA) {
        in->ptext = in->text - in->link;
    } else if (in->own >= 25 && (in->kind & K_BLOCK)) {
        in->ptext = sat_add(in->ptext, in->own); /* a <div> used as a paragraph */
    }
    /* paragraph points to parent (full), grandparent (half), great-grandparent (sixth) */
    uint32_t len = in->tag == T_P || in->tag == T_PRE || in->tag == T_TD
                       ? in->text - in->link
                       : (in->kind & K_BLOCK) && in->tag != T_LI && in->tag != T_DD ? in->own
                                                                                   : 0;
    if (len >= 25) {
        float pts = 1.0f + (float)(in->commas < 20 ? in->commas : 20) +
                    (float)(len / 100 < 3 ? len / 100 : 3);
        xmlNode *up = n->parent;
        static const float div[3] = {1, 2, 6};
        for (int lvl = 0; lvl < 3 && up; lvl++, up = up->parent) {
            ninfo *ui = info_of(up);
            if (!ui)
                break;
            ui->score += pts / div[lvl];
            ui->flags |= N_SCORED;
        }
    }
    if (!pi)
        return;
    pi->text = sat_add(pi->text, in->text);
    pi->link = sat_add(pi->link, in->link);
    pi->commas = sat_add(pi->commas, in->commas);
    pi->ptext = sat_add(pi->ptext, in->ptext);
    pi->flags |= in->flags & N_HASMAIN;
    if (in->maxsc > pi->maxsc)
        pi->maxsc = in->maxsc;
    if (!(in->kind & (K_BLOCK | K_CELL)) && in->tag != T_A)
        pi->own = sat_add(pi->own, in->own);
}

static int score_walk(walk *w, xmlNode *root)
{
    xmlNode *n = root;
    for (;;) {
        int entered = 0;
        if (n->type == XML_ELEMENT_NODE) {
            const taginfo *t = tag_of(n);
            if (!(t->kind & K_SKIP)) {
                if (w->n_info == w->cap_info)
                    return -1; /* cannot happen: counted before */
                ninfo *in = &w->info[w->n_info++];
                memset(in, 0, sizeof *in);
                in->node = n;
                in->tag = t->id;
                in->kind = t->kind;
                n->_private = in;
                if (t->id == T_ARTICLE)
                    w->in_article++;
                entered = 1;
            }
        } else if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            ninfo *pi = info_of(n->parent);
            if (pi) {
                uint32_t c, k;
                count_text(n->content, &c, &k);
                pi->text = sat_add(pi->text, c);
                pi->own = sat_add(pi->own, c);
                pi->commas = sat_add(pi->commas, k);
            }
        }
        if (entered && n->children) {
            n = n->children;
            continue;
        }
        for (;;) {
            if (entered)
                score_exit(w, n);
            entered = 1; /* every ancestor we climb to was entered */
            if (n == root)
                return 0;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
        }
    }
}

/* final readability score: points, tag and class bonus, scaled by the
 * share of text outside links */
static float final_score(const ninfo *in)
{
    float s = in->score + tag_base(in->tag);
    if (in->flags & N_POS)
        s += 25;
    if (in->flags & N_NEG)
        s -= 25;
    float dens = in->text ? (float)in->link / (float)in->text : 0;
    return s * (1 - dens);
}

/* ------------------------------------------------------------------------
 * Selection walk: best candidates and semantic containers, over what is not
 * dropped.
 */
typedef struct pick {
    ninfo *top[5];         /* best final scores, best first */
    ninfo *body_article;   /* itemprop=articleBody with most paragraph text */
    xmlNode *body_lca;     /* the nearest common ancestor of the articleBody elements */
    int n_body_articles;
    ninfo *article;        /* <article> with most paragraph text */
    ninfo *main;           /* <main> / role=main with most paragraph text */
    ninfo *first_h1;
    ninfo *h1s[8]; /* the first h1 elements with text, in document order */
    int n_h1s;
} pick;

static int is_ancestor(const xmlNode *a, const xmlNode *n)
{
    for (; n; n = n->parent)
        if (n == a)
            return 1;
    return 0;
}

static void consider(pick *p, ninfo *in)
{
    if (in->flags & N_SCORED) {
        float s = final_score(in);
        for (int i = 0; i < 5; i++) {
            if (!p->top[i] || s > final_score(p->top[i])) {
                memmove(p->top + i + 1, p->top + i, (size_t)(4 - i) * sizeof *p->top);
                p->top[i] = in;
                break;
            }
        }
    }
    if (in->flags & N_MAIN) {
        const char *ip = attr(in->node, "itemprop");
        if (ip && ifind(ip, strlen(ip), "articlebody")) {
            if (!p->body_article || in->ptext > p->body_article->ptext)
                p->body_article = in;
            /* some pages mark each section of the text as articleBody: their
             * common ancestor is the text (bounded: the walk up is O(depth)) */
            if (p->n_body_articles++ == 0)
                p->body_lca = in->node;
            else if (p->n_body_articles <= 16 && in->ptext >= 100)
                while (p->body_lca && !is_ancestor(p->body_lca, in->node))
                    p->body_lca = p->body_lca->parent;
        } else if (!p->main || in->ptext > p->main->ptext) {
            p->main = in;
        }
    }
    if (in->tag == T_ARTICLE && (!p->article || in->ptext > p->article->ptext))
        p->article = in;
    if (in->tag == T_H1 && !p->first_h1 && in->text)
        p->first_h1 = in;
    if (in->tag == T_H1 && in->text && p->n_h1s < 8)
        p->h1s[p->n_h1s++] = in;
}

static void select_walk(pick *p, xmlNode *root)
{
    xmlNode *n = root;
    for (;;) {
        ninfo *in = info_of(n);
        int descend = in && !(in->flags & N_DROP);
        if (descend)
            consider(p, in);
        if (descend && n->children) {
            n = n->children;
            continue;
        }
        for (;;) {
            if (n == root)
                return;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
        }
    }
}


/* ------------------------------------------------------------------------
 * Output
 */
typedef struct emitter {
    buf b;
    size_t para_sep;  /* where the current paragraph's separator starts */
    int brk;          /* pending break: 0 none, 1 line, 2 paragraph */
    int space;        /* pending space */
    int in_pre;
    int in_heading;
    size_t held;      /* offset of a heading paragraph waiting for text, or SIZE_MAX */
    int n_h1;         /* h1 elements entered */
    int para_is_heading;
} emitter;

/* A paragraph that holds only no-break spaces or invisible characters is
 * taken back out. */
static int blankish(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (is_ws(p[i])) {
            i++;
        } else if (i + 1 < n && p[i] == 0xC2 && p[i + 1] == 0xA0) {
            i += 2;
        } else if (i + 2 < n && p[i] == 0xE2 && p[i + 1] == 0x80 &&
                   (p[i + 2] == 0x8B || p[i + 2] == 0x8C || p[i + 2] == 0x8D)) {
            i += 3; /* zero-width space / (non-)joiner */
        } else if (i + 2 < n && p[i] == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF) {
            i += 3;
        } else {
            return 0;
        }
    }
    return 1;
}

/* ends the current paragraph */
static void para_end(emitter *e)
{
    if (e->b.n > e->para_sep && blankish(e->b.p + e->para_sep, e->b.n - e->para_sep)) {
        e->b.n = e->para_sep;
        if (e->b.p)
            e->b.p[e->b.n] = 0;
    }
    if (e->b.n)
        e->brk = 2;
    e->space = 0;
}

/* called before the first character of text goes out */
static void text_start(emitter *e)
{
    if (e->b.n == 0) {
        e->para_sep = 0;
        e->para_is_heading = e->in_heading;
    } else if (e->brk) {
        if (e->brk == 2) {
            /* a new paragraph: settle the heading held back */
            if (e->held != SIZE_MAX && e->in_heading) {
                e->b.n = e->held; /* heading followed by heading: drop the first */
                e->b.p[e->b.n] = 0;
            }
            e->held = SIZE_MAX;
            e->para_sep = e->b.n;
            e->para_is_heading = e->in_heading;
            if (e->b.n)
                buf_add(&e->b, "\n\n", 2);
        } else {
            buf_addc(&e->b, '\n');
        }
    } else if (e->space) {
        buf_addc(&e->b, ' ');
    }
    e->brk = 0;
    e->space = 0;
}

static void emit_text(emitter *e, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (is_ws(c)) {
            if (e->in_pre && e->b.n) {
                if (c == '\n') {
                    if (e->brk < 2)
                        e->brk++; /* a blank line in <pre> is a paragraph break */
                    e->space = 0;
                } else if (c == ' ' || c == '\t') {
                    text_start(e); /* indentation in <pre> is kept */
                    buf_addc(&e->b, (char)c);
                }
            } else {
                e->space = 1;
            }
            i++;
            continue;
        }
        /* a run of non-space bytes */
        size_t j = i;
        while (j < n && !is_ws(p[j]))
            j++;
        text_start(e);
        /* copy, mapping C1 controls as windows-1252 and repairing bad UTF-8 */
        size_t k = i;
        while (k < j) {
            if (p[k] < 0x80) {
                size_t r = k;
                while (r < j && p[r] < 0x80)
                    r++;
                buf_add(&e->b, s + k, r - k);
                k = r;
                continue;
            }
            size_t q = utf8_seq(p + k, j - k);
            if (!q) {
                buf_add(&e->b, "\xEF\xBF\xBD", 3);
                k++;
            } else if (q == 2 && p[k] == 0xC2 && p[k + 1] < 0xA0) {
                unsigned cp = cp1252_c1[p[k + 1] - 0x80];
                if (cp)
                    buf_add_cp(&e->b, cp);
                k += 2;
            } else {
                buf_add(&e->b, s + k, q);
                k += q;
            }
        }
        i = j;
    }
}

/* Is this block, inside the container, mostly links (a list of links to
 * other pages, a teaser, a tag list)? */
static int link_dense(const ninfo *in)
{
    if (!in->text)
        return 1; /* nothing readable below */
    float dens = (float)in->link / (float)in->text;
    switch (in->tag) {
    case T_P:
        return dens > 0.8f;
    case T_A:
    case T_SPAN:
    case T_OTHER:
    case T_FONT:
    case T_TIME:
    case T_IMG:
        return 0; /* inline: judged with its paragraph */
    case T_H1:
    case T_H2:
    case T_H3:
    case T_H4:
    case T_H5:
    case T_H6:
        return dens > 0.5f;
    case T_TD:
    case T_TH:
        return dens > 0.5f && in->text - in->link < 200; /* a column of links */
    case T_TR:
        return 0;
    case T_LI:
        return dens > 0.6f && in->text - in->link < 60;
    default:
        return dens > 0.5f && in->text - in->link < 600;
    }
}

static void emit_tree(emitter *e, xmlNode *root)
{
    xmlNode *n = root;
    for (;;) {
        int entered = 0;
        if (n->type == XML_ELEMENT_NODE) {
            ninfo *in = n->_private;
            if (in && !(in->flags & N_DROP)) {
                if (in->tag == T_BR) {
                    if (e->b.n && !e->in_heading) {
                        /* two <br> in a row end the paragraph */
                        if (e->brk >= 1)
                            e->brk = 2;
                        else
                            e->brk = 1;
                    }
                } else if (n == root || !link_dense(in)) {
                    entered = 1;
                    if (in->kind & K_BLOCK)
                        para_end(e);
                    if (in->kind & K_HEADING)
                        e->in_heading++;
                    if (in->tag == T_H1)
                        e->n_h1++;
                    if (in->tag == T_PRE)
                        e->in_pre++;
                }
            }
        } else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
                   n->content) {
            emit_text(e, (const char *)n->content);
        }
        if (entered && n->children) {
            n = n->children;
            continue;
        }
        for (;;) {
            if (entered) {
                ninfo *in = n->_private;
                if (in->kind & K_BLOCK)
                    para_end(e);
                if (in->kind & K_CELL)
                    e->space = 1;
                if (in->kind & K_HEADING) {
                    e->in_heading--;
                    /* a short heading waits: it is kept only if text follows
                     * (not when its section was all furniture); a long one
                     * is a lead paragraph set in heading type */
                    if (e->para_is_heading && e->b.n > e->para_sep &&
                        e->b.n - e->para_sep < 100)
                        e->held = e->para_sep;
                }
                if (in->tag == T_PRE)
                    e->in_pre--;
            }
            entered = 1;
            if (n == root)
                return;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
        }
    }
}

/* ------------------------------------------------------------------------
 * Title clean-up
 */

/* Strips " | Site", " - Site", "Site: " and the like when Site is the site
 * name. Works in place. */
static void strip_site(char *t, const char *site)
{
    static const char *const seps[] = {" | ", " - ", " – ", " — ", " :: ", " · ", " » ",
                                       " / ", ": ", " || "};
    if (!t || !site)
        return;
    size_t tn = strlen(t), sn = strlen(site);
    for (size_t i = 0; i < COUNT(seps); i++) {
        size_t pn = strlen(seps[i]);
        if (tn > sn + pn && ieqn(t + tn - sn, sn, site) &&
            memcmp(t + tn - sn - pn, seps[i], pn) == 0) {
            t[tn - sn - pn] = 0;
            return;
        }
        if (tn > sn + pn && ieqn(t, sn, site) && memcmp(t + sn, seps[i], pn) == 0) {
            memmove(t, t + sn + pn, tn - sn - pn + 1);
            return;
        }
    }
}

/* case-insensitive (ASCII) containment; false when either is NULL */
static int icontains(const char *hay, const char *needle)
{
    if (!hay || !needle || !*needle)
        return 0;
    size_t n = strlen(needle), hn = strlen(hay);
    for (size_t i = 0; i + n <= hn; i++)
        if (ieqn(hay + i, n, needle))
            return 1;
    return 0;
}

/* Is the h1 the page's title: one holds the other, and the h1 is not a
 * short fragment of it (a site name or a section)? */
static int similar_title(const char *title, const char *h1)
{
    if (!title || !h1)
        return 0;
    return icontains(h1, title) || (icontains(title, h1) && strlen(h1) * 2 >= strlen(title));
}

/* "Headline | Site" where the h1 is "Headline": the h1 */
static int title_has_prefix(const char *t, const char *h1)
{
    size_t n = strlen(h1);
    return n >= 8 && strlen(t) > n && ieqn(t, n, h1) &&
           (t[n] == ' ' || t[n] == '|' || t[n] == '-' || t[n] == ':');
}

/* "Site | Headline" where the h1 is "Headline": the h1 */
static int title_has_suffix(const char *t, const char *h1)
{
    size_t n = strlen(h1), tn = strlen(t);
    if (n < 8 || tn <= n + 2 || !ieqn(t + tn - n, n, h1))
        return 0;
    char c = t[tn - n - 2];
    return t[tn - n - 1] == ' ' && (c == '|' || c == '-' || c == ':' || c == '>');
}

static char *lang_value(const char *v)
{
    if (!v || !is_alpha((unsigned char)v[0]) || !is_alpha((unsigned char)v[1]) ||
        (v[2] && v[2] != '-' && v[2] != '_'))
        return NULL;
    char *l = malloc(3);
    if (l) {
        l[0] = (char)lower((unsigned char)v[0]);
        l[1] = (char)lower((unsigned char)v[1]);
        l[2] = 0;
    }
    return l;
}

/* ------------------------------------------------------------------------
 * Charset choice
 */

/* The charset the page declares in its first 64 KiB (<meta charset=..> or
 * http-equiv content "...; charset=.."), copied into out; 0 if none. */
static int declared_charset(const char *s, size_t n, char *out, size_t outsz)
{
    if (n > 65536)
        n = 65536;
    const char *p = s, *end = s + n;
    while ((p = ifind(p, (size_t)(end - p), "charset")) != NULL) {
        const char *q = p + 7;
        while (q < end && is_ws((unsigned char)*q))
            q++;
        if (q < end && *q == '=') {
            q++;
            while (q < end && (is_ws((unsigned char)*q) || *q == '"' || *q == '\''))
                q++;
            size_t k = 0;
            while (q < end && k + 1 < outsz &&
                   (is_alpha((unsigned char)*q) || is_digit((unsigned char)*q) || *q == '-' ||
                    *q == '_' || *q == '.' || *q == ':'))
                out[k++] = *q++;
            out[k] = 0;
            if (k)
                return 1;
        }
        p += 7;
    }
    return 0;
}

static int is_latin1_label(const char *c)
{
    static const char *const labels[] = {
        "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii",
        "ascii", "windows-1252", "cp1252", "x-cp1252", "cp819", "ibm819", "iso-ir-100",
        "iso_8859-1:1987", "csisolatin1"};
    return in_list(c, strlen(c), labels, COUNT(labels));
}

static int is_utf8_label(const char *c)
{
    return ieq(c, "utf-8") || ieq(c, "utf8") || ieq(c, "unicode-1-1-utf-8") ||
           ieq(c, "x-unicode20utf8");
}

/* The encoding to hand to libxml2. Bytes that are valid UTF-8 are read as
 * UTF-8 whatever the page claims (a wrong claim is far more common than
 * Latin-1 text that happens to be valid UTF-8). Otherwise a known declared
 * charset is used; an unknown, missing or UTF-8 claim on bytes that are
 * not UTF-8 falls back to Latin-1, whose C1 range is later read as
 * windows-1252, as browsers do. */
static const char *choose_encoding(const char *s, size_t n, char *decl, size_t declsz)
{
    if (utf8_valid(s, n))
        return "UTF-8";
    if (declared_charset(s, n, decl, declsz) && !is_utf8_label(decl) &&
        !is_latin1_label(decl)) {
        xmlCharEncodingHandlerPtr h = xmlFindCharEncodingHandler(decl);
        if (h) {
            xmlCharEncCloseFunc(h);
            return decl;
        }
    }
    return "ISO-8859-1";
}

/* ------------------------------------------------------------------------
 * Entry points
 */
int hx_looks_like_html(const char *s, size_t len)
{
    size_t n = len < 1024 ? len : 1024;
    if (!n || memchr(s, 0, n))
        return 0;
    return memchr(s, '<', n) != NULL;
}

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

void hx_global_init(void)
{
    xmlInitParser();
}

void hx_result_free(hx_result *r)
{
    free(r->text);
    free(r->title);
    free(r->author);
    free(r->date);
    free(r->url);
    free(r->site);
    free(r->lang);
    memset(r, 0, sizeof *r);
}

/* the first element with this tag in document order, from n and its
 * following siblings down */
static xmlNode *find_first(xmlNode *start, int tag)
{
    xmlNode *n = start;
    while (n) {
        if (n->type == XML_ELEMENT_NODE && tag_of(n)->id == tag)
            return n;
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && !n->next)
            n = n->parent && n->parent->type == XML_ELEMENT_NODE ? n->parent : NULL;
        if (n)
            n = n->next;
    }
    return NULL;
}

/* Chooses the container of the main text. */
static xmlNode *choose_container(pick *p, ninfo *body)
{
    ninfo *best = p->top[0];
    /* 1. itemprop=articleBody, when it holds a fair part of the text */
    if (p->body_article && p->body_article->ptext >= 200 &&
        (!best || p->body_article->ptext * 4 >= best->ptext)) {
        ninfo *li = info_of(p->body_lca);
        if (li && li->tag != T_BODY && li->tag != T_HTML)
            return p->body_lca;
        return p->body_article->node;
    }
    if (!best)
        return p->article ? p->article->node : p->main ? p->main->node : body->node;

    /* 2. readability: several near-best candidates below one ancestor mean
     *    the text is split into sections; take the ancestor */
    float top = final_score(best);
    xmlNode *c = best->node;
    /* the near-best candidates that are not the best one's own ancestors
     * (those hold its points by construction) */
    xmlNode *near[4];
    int n_near = 0;
    for (int i = 1; i < 5 && p->top[i]; i++)
        if (final_score(p->top[i]) >= 0.75f * top && !is_ancestor(p->top[i]->node, c))
            near[n_near++] = p->top[i]->node;
    if (n_near >= 2) {
        for (xmlNode *anc = c->parent; anc && info_of(anc); anc = anc->parent) {
            int inside = 0;
            for (int i = 0; i < n_near; i++)
                inside += is_ancestor(anc, near[i]);
            if (inside >= 2) {
                c = anc;
                break;
            }
        }
    }
    /* 3. an <article> around the candidate is the article itself */
    for (xmlNode *anc = c; anc && info_of(anc); anc = anc->parent)
        if (info_of(anc)->tag == T_ARTICLE || (info_of(anc)->flags & N_MAIN)) {
            if (info_of(anc)->tag == T_ARTICLE)
                return anc;
            break;
        }
    /* 4. an <article> inside the candidate with most of its text */
    if (p->article && is_ancestor(c, p->article->node) &&
        p->article->ptext * 10 >= info_of(c)->ptext * 6)
        return p->article->node;
    return c;
}

int hx_extract(const char *html, size_t len, hx_result *out)
{
    memset(out, 0, sizeof *out);
    if (!hx_looks_like_html(html, len))
        return HX_NOT_HTML;
    /* a UTF-8 byte order mark: the encoding is told explicitly below */
    if (len >= 3 && !memcmp(html, "\xEF\xBB\xBF", 3))
        html += 3, len -= 3;
    if (len > INT32_MAX)
        return HX_NOT_HTML; /* libxml2 takes an int size */

    /* libxml2 reports some errors (encoding ones) through the generic
     * handler, which prints to stderr; it is per thread, and nothing else in
     * this thread uses libxml2, so it is silenced here. */
    xmlSetGenericErrorFunc(NULL, silent);

    char decl[64];
    const char *enc = choose_encoding(html, len, decl, sizeof decl);
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    if (!ctxt)
        return HX_NOMEM;
    /* no HTML_PARSE_HUGE: libxml2's limits (depth, text node size) stay on */
    htmlDocPtr doc = htmlCtxtReadMemory(ctxt, html, (int)len, NULL, enc,
                                        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                                            HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
    /* libxml2 halts (and disables its callbacks) at its limits; what was
     * read up to there is kept */
    out->truncated = ctxt->disableSAX != 0;
    htmlFreeParserCtxt(ctxt);
    if (!doc)
        return HX_NO_BODY;
    xmlNode *root = xmlDocGetRootElement(doc);
    int rc = HX_OK;
    meta m = {0};
    walk w = {0};
    if (!root) {
        rc = HX_NO_BODY;
        goto done;
    }
    meta_walk(&m, root);
    ld_apply(&m);
    /* a date in the canonical URL (/2023/11/09/) */
    if (m.v[F_URL] && (!m.v[F_DATE] || m.rank[F_DATE] > 6)) {
        const char *u = m.v[F_URL];
        for (const char *q = strchr(u, '/'); q; q = strchr(q + 1, '/')) {
            int y, mo, d;
            if (read_num(q + 1, 4, &y) == 4 && q[5] == '/' && read_num(q + 6, 2, &mo) == 2 &&
                q[8] == '/' && read_num(q + 9, 2, &d) == 2 && valid_ymd(y, mo, d)) {
                char ymd[11];
                fmt_ymd(ymd, y, mo, d);
                meta_put(&m, F_DATE, 6, strdup(ymd));
                break;
            }
        }
    }

    /* <body>: libxml2 adds an implied one as soon as anything but <head>
     * content appears, so a page without it has nothing to read. It is
     * searched for in the whole tree, since stray markup before <html> can
     * make another element the root. */
    xmlNode *body = find_first(root, T_BODY);
    if (!body) {
        rc = HX_NO_BODY;
        goto done;
    }

    /* count elements for the info array */
    size_t count = 0;
    for (xmlNode *n = body;;) {
        if (n->type == XML_ELEMENT_NODE)
            count++;
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n != body && !n->next)
            n = n->parent;
        if (n == body)
            break;
        n = n->next;
    }
    w.info = malloc((count ? count : 1) * sizeof *w.info);
    if (!w.info) {
        rc = HX_NOMEM;
        goto done;
    }
    w.cap_info = count;
    score_walk(&w, body);
    ninfo *bi = body->_private;

    pick p = {0};
    select_walk(&p, body);
    xmlNode *cont = choose_container(&p, bi);

    emitter e = {.held = SIZE_MAX};
    /* readability's sibling step: good siblings of the container join it */
    ninfo *ci = info_of(cont);
    float thr = ci && final_score(ci) * 0.2f > 10 ? final_score(ci) * 0.2f : 10;
    if (cont != body && cont->parent && info_of(cont->parent) && !(ci->flags & N_MAIN) &&
        ci->tag != T_ARTICLE) {
        for (xmlNode *s = cont->parent->children; s; s = s->next) {
            ninfo *si = info_of(s);
            if (!si || (si->flags & N_DROP))
                continue;
            int take = s == cont;
            if (!take && (si->flags & N_SCORED) && final_score(si) >= thr)
                take = 1;
            if (!take && si->tag == T_P && si->text - si->link > 80 &&
                si->link * 4 < si->text)
                take = 1;
            if (take) {
                para_end(&e);
                emit_tree(&e, s);
            }
        }
    } else {
        emit_tree(&e, cont);
    }
    para_end(&e);
    if (e.held != SIZE_MAX && e.b.n) { /* a heading at the very end */
        e.b.n = e.held;
        e.b.p[e.b.n] = 0;
    }
    /* a too narrow choice: fall back to the whole body */
    if (!e.b.err && e.b.n < 100 && cont != body && bi->ptext > 500) {
        free(e.b.p);
        e = (emitter){.held = SIZE_MAX};
        emit_tree(&e, body);
        para_end(&e);
        cont = body;
        ci = bi;
    }
    /* The headline: when the container starts below the article's <h1>,
     * the h1 (the last one before the container, if it is the page's
     * title) leads the text, so that every text starts the same way. */
    if (!e.n_h1 && e.b.n && !e.b.err) {
        for (int i = p.n_h1s - 1; i >= 0; i--) {
            ninfo *h = p.h1s[i];
            if (h >= ci || is_ancestor(cont, h->node))
                continue;
            char *ht = node_text(h->node);
            if (ht && (similar_title(m.v[F_TITLE], ht) || similar_title(m.title_tag, ht))) {
                buf nb = {0};
                buf_add(&nb, ht, strlen(ht));
                buf_add(&nb, "\n\n", 2);
                buf_add(&nb, e.b.p, e.b.n);
                if (!nb.err) {
                    free(e.b.p);
                    e.b = nb;
                } else {
                    free(nb.p);
                }
            }
            free(ht);
            break;
        }
    }
    if (e.b.err) {
        free(e.b.p);
        rc = HX_NOMEM;
        goto done;
    }
    /* trim */
    while (e.b.n && is_ws((unsigned char)e.b.p[e.b.n - 1]))
        e.b.n--;
    if (!e.b.p) {
        e.b.p = calloc(1, 1);
        if (!e.b.p) {
            rc = HX_NOMEM;
            goto done;
        }
    }
    e.b.p[e.b.n] = 0;
    out->text = e.b.p;
    out->text_len = e.b.n;

    /* title: metadata, else the h1 of the article, else <title> */
    char *h1 = NULL;
    if (p.first_h1 && is_ancestor(cont, p.first_h1->node))
        h1 = node_text(p.first_h1->node);
    if (!h1 && m.n_h1 == 1 && m.h1_first)
        h1 = strdup(m.h1_first);
    if (m.v[F_TITLE] && h1 &&
        (title_has_prefix(m.v[F_TITLE], h1) || title_has_suffix(m.v[F_TITLE], h1))) {
        free(m.v[F_TITLE]);
        m.v[F_TITLE] = h1;
        h1 = NULL;
    }
    meta_put(&m, F_TITLE, 3, h1);

done:
    if (m.title_tag && m.v[F_TITLE] == NULL) {
        meta_put(&m, F_TITLE, 4, m.title_tag);
        m.title_tag = NULL;
    }
    out->site = m.v[F_SITE];
    out->title = m.v[F_TITLE];
    strip_site(out->title, out->site);
    out->author = m.v[F_AUTHOR];
    out->date = m.v[F_DATE];
    out->url = m.v[F_URL];
    out->lang = lang_value(m.v[F_LANG]);
    free(m.v[F_LANG]);
    free(m.title_tag);
    free(m.h1_first);
    for (size_t i = 0; i < m.n_ld; i++)
        free(m.ld[i]);
    free(w.info);
    xmlFreeDoc(doc);
    if (rc != HX_OK && rc != HX_NO_BODY)
        hx_result_free(out);
    return rc;
}
