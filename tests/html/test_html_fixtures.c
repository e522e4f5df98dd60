/* The extractor on the synthetic pages in tests/html/: exact metadata, the
 * article's paragraphs present, every piece of furniture gone. */
#include "extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            failures++;                                                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                      \
            printf(__VA_ARGS__);                                                             \
            printf("\n");                                                                    \
        }                                                                                    \
    } while (0)

static void eq(const char *what, const char *got, const char *want)
{
    CHECK(got && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what,
          got ? got : "(null)", want);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static void extract(const char *name, hx_result *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/html/%s", TM_SOURCE_DIR, name);
    size_t len;
    char *html = slurp(path, &len);
    int rc = hx_extract(html, len, r);
    free(html);
    CHECK(rc == HX_OK, "%s: hx_extract returned %d", name, rc);
}

static void has(const hx_result *r, const char *s)
{
    CHECK(r->text && strstr(r->text, s), "text lacks \"%s\"", s);
}

static void lacks(const hx_result *r, const char *s)
{
    CHECK(r->text && !strstr(r->text, s), "text holds furniture \"%s\"", s);
}

static void article(void)
{
    hx_result r;
    extract("article.html", &r);
    /* JSON-LD wins over <meta>, canonical over og:url, publisher over WebSite */
    eq("title", r.title, "Harbour town opens a library in its old lighthouse");
    eq("author", r.author, "Maren Olsby; Tobias Wren");
    eq("date", r.date, "2024-03-05");
    eq("url", r.url, "https://courier.example/news/lighthouse-library");
    eq("site", r.site, "The Coastal Courier");
    eq("lang", r.lang, "en");
    /* the headline leads, then the paragraphs, each on its own */
    CHECK(r.text && strncmp(r.text, "Harbour town opens a library in its old lighthouse\n\n"
                                    "The disused lighthouse at the end of the north pier",
                            100) == 0,
          "text starts: \"%.120s\"", r.text ? r.text : "");
    has(&r, "curved oak boards that were cut by a local boat builder. Children’s books");
    has(&r, "\n\nA town project\n\n“Everyone gave something");
    has(&r, "which cost 180,000 crowns.\n\nThe library opens four days a week.\n\n"
            "Tuesday and Thursday: 10:00 to 18:00\n\nSaturday and Sunday: 11:00 to 16:00");
    has(&r, "Entry\xC2\xA0is free, and readers may borrow up to five books at a time.");
    CHECK(r.text && r.text[r.text_len - 1] == '.' && r.text_len == strlen(r.text),
          "text ends cleanly");
    static const char *const chrome[] = {
        "cookies",           "Sport",          "Weather",          "Home",
        "Share on Social",   "Email this",     "ADVERTISEMENT",    "newsletter",
        "Subscribe",         "Tags",           "libraries",        "Related stories",
        "Pier repairs",      "ferry",          "2 comments",       "lovely idea",
        "too expensive",     "Most read",      "print edition",    "rights reserved",
        "Privacy",           "staff photographer", "tracking code", "font-family",
        "By Maren",          "5 March 2024",   "\n\n\n",           "  "};
    for (size_t i = 0; i < sizeof chrome / sizeof *chrome; i++)
        lacks(&r, chrome[i]);
    if (failures)
        printf("--- article.html text:\n%s\n---\n", r.text ? r.text : "(null)");
    hx_result_free(&r);
}

static void blog(void)
{
    int before = failures;
    hx_result r;
    extract("blog.html", &r);
    /* <meta> only: " | Site" stripped, og:url without a canonical link */
    eq("title", r.title, "Notes on mending a fishing net");
    eq("author", r.author, "Lena Haug");
    eq("date", r.date, "2023-07-14");
    eq("url", r.url, "https://blog.example/mending-nets");
    eq("site", r.site, "Quiet Harbour Blog");
    eq("lang", r.lang, "en");
    has(&r, "A torn net is mended with the same knot it was made with");
    has(&r, "a flat stick as wide as one mesh.\n\nneedle -> through the mesh\n"
            "gauge  -> under the twine\nknot   -> sheet bend, pulled tight\n\n"
            "It is slow work at first.");
    static const char *const chrome[] = {"About", "Archive", "Posted by", "Share", "Facebook",
                                         "Older post", "Leave a reply", "June 2023",
                                         "write about boats", "Powered by"};
    for (size_t i = 0; i < sizeof chrome / sizeof *chrome; i++)
        lacks(&r, chrome[i]);
    if (failures > before)
        printf("--- blog.html text:\n%s\n---\n", r.text ? r.text : "(null)");
    hx_result_free(&r);
}

/* Small inputs straight from memory: charset handling and edge cases. */
static void snippets(void)
{
    hx_result r;
    /* claims Latin-1, holds UTF-8: read as UTF-8 */
    const char *a = "<html><head><meta charset=\"iso-8859-1\"></head><body><p>Grüße aus "
                    "Tromsø, ein schöner Tag am Meer.</p></body></html>";
    CHECK(hx_extract(a, strlen(a), &r) == HX_OK, "utf-8 under a latin-1 claim");
    eq("utf-8 under a latin-1 claim", r.text, "Grüße aus Tromsø, ein schöner Tag am Meer.");
    hx_result_free(&r);
    /* claims UTF-8, holds Latin-1 (and a windows-1252 quote): read as windows-1252 */
    const char *b = "<html><head><meta charset=\"utf-8\"></head><body><p>Gr\xFC\xDF"
                    "e aus Troms\xF8 \x93quoted\x94.</p></body></html>";
    CHECK(hx_extract(b, strlen(b), &r) == HX_OK, "latin-1 under a utf-8 claim");
    eq("latin-1 under a utf-8 claim", r.text, "Grüße aus Tromsø “quoted”.");
    hx_result_free(&r);
    /* no charset at all, Latin-1 bytes */
    const char *c = "<p>caf\xE9 cr\xE8me</p>";
    CHECK(hx_extract(c, strlen(c), &r) == HX_OK, "latin-1 without a claim");
    eq("latin-1 without a claim", r.text, "café crème");
    hx_result_free(&r);
    /* an unknown charset on non-UTF-8 bytes */
    const char *d = "<meta charset=\"x-no-such-charset\"><p>na\xEFve</p>";
    CHECK(hx_extract(d, strlen(d), &r) == HX_OK, "unknown charset");
    eq("unknown charset", r.text, "naïve");
    hx_result_free(&r);
    /* binary, and text without markup */
    CHECK(hx_extract("PK\3\4\0\0binary", 12, &r) == HX_NOT_HTML, "binary is not HTML");
    hx_result_free(&r);
    CHECK(hx_extract("just words", 10, &r) == HX_NOT_HTML, "plain text is not HTML");
    hx_result_free(&r);
    /* a head and no body */
    const char *e = "<html><head><title>Only a title</title></head></html>";
    CHECK(hx_extract(e, strlen(e), &r) == HX_NO_BODY, "no body");
    eq("no body: title still read", r.title, "Only a title");
    hx_result_free(&r);
    /* white space folding, <br>, a paragraph of no-break spaces dropped */
    const char *f = "<body><div><p>  one\n\t two  <b>three</b></p><p>&nbsp;&nbsp;</p>"
                    "<p>four<br>five</p></div></body>";
    CHECK(hx_extract(f, strlen(f), &r) == HX_OK, "folding");
    eq("folding", r.text, "one two three\n\nfour\nfive");
    hx_result_free(&r);
    /* dates in several spellings */
    const char *g = "<head><meta name=\"date\" content=\"March 7th, 2021 10:00\"></head>"
                    "<body><p>A paragraph that is long enough to count as text.</p></body>";
    CHECK(hx_extract(g, strlen(g), &r) == HX_OK, "date");
    eq("date in words", r.date, "2021-03-07");
    hx_result_free(&r);
}

int main(void)
{
    hx_global_init();
    article();
    blog();
    snippets();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all fixture checks passed\n");
    return 0;
}
