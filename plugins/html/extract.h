/* Main-text and metadata extraction from one HTML page (libxml2's HTML
 * parser, a readability-style container choice, chrome pruning). Shared by
 * the `html` source and the `html` stage, and compiled directly into the
 * evaluation test. No textmill types here: the extractor knows nothing of
 * documents, so it can be tested on its own. */
#ifndef TEXTMILL_HTML_EXTRACT_H
#define TEXTMILL_HTML_EXTRACT_H

#include <stddef.h>

/* What hx_extract() found. Every string is UTF-8, NUL-terminated, malloc'd,
 * and NULL when the page does not say. */
typedef struct hx_result {
    char *text; /* main text: paragraphs separated by "\n\n" */
    size_t text_len;
    char *title;
    char *author; /* several authors are joined with "; " */
    char *date;   /* YYYY-MM-DD, or as written when it could not be parsed */
    char *url;    /* canonical URL */
    char *site;   /* site name */
    char *lang;   /* two lower-case letters */
    int truncated; /* libxml2 stopped early (nesting deeper than 256 levels, or a
                      text node over 10 MB): the text may lack the page's end */
} hx_result;

/* hx_extract() outcomes. */
enum {
    HX_OK = 0,
    HX_NOT_HTML = 1, /* binary bytes, or no '<' near the start */
    HX_NO_BODY = 2,  /* parsed, but there is no <body> content at all */
    HX_NOMEM = -1
};

/* Cheap test on the first bytes: no NUL byte and a '<' within the first
 * kilobyte (after a byte order mark and white space). */
int hx_looks_like_html(const char *buf, size_t len);

/* Call once before hx_extract() is used from several threads. */
void hx_global_init(void);

/* Parses `len` bytes of HTML and fills *out (zeroed first). On HX_OK the
 * text may still be empty (text_len 0) when the page holds no main text.
 * Free with hx_result_free() whatever the outcome. */
int hx_extract(const char *html, size_t len, hx_result *out);

void hx_result_free(hx_result *r);

#endif
