/* The HTML extractor (plugins/html/extract.c, compiled in) on arbitrary
 * bytes: hx_looks_like_html, then hx_extract whatever it said, and the
 * result's promises: NUL-terminated strings, text_len its length. */
#include "extract.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    hx_global_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *html = (const char *)data;
    (void)hx_looks_like_html(html, size);
    hx_result r;
    int rc = hx_extract(html, size, &r);
    if (rc == HX_OK && r.text && strlen(r.text) > r.text_len) {
        fprintf(stderr, "fuzz: hx_extract: text_len %zu, but the text is longer\n", r.text_len);
        abort();
    }
    if (rc != HX_OK && rc != HX_NOT_HTML && rc != HX_NO_BODY) {
        fprintf(stderr, "fuzz: hx_extract: unexpected result %d\n", rc);
        abort();
    }
    hx_result_free(&r);
    return 0;
}
