/* The document model: replacing text with an offset map keeps annotations
 * on the same words; UTF-8 repair; metadata. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static tm_doc *mkdoc(const char *text)
{
    return &tm__doc_new_take("d", 1, tm__xstrdup(text), strlen(text))->pub;
}

static void annotate(tm_doc *d, const char *word, const char *type)
{
    const char *p = strstr(d->text, word);
    assert_non_null(p);
    tm_annotation a = {.start = (size_t)(p - d->text),
                       .end = (size_t)(p - d->text) + strlen(word),
                       .type = type,
                       .label = word,
                       .score = -1};
    assert_int_equal(tm__doc_annotate(d, &a, "test"), TM_OK);
}

static void assert_covers(const tm_doc *d, size_t i, const char *expected)
{
    const tm_annotation *a = &d->annotations[i];
    assert_true(a->end <= d->text_len);
    char *got = tm__xstrndup(d->text + a->start, a->end - a->start);
    assert_string_equal(got, expected);
    free(got);
}

static void test_replace_keeps_spans(void **st)
{
    (void)st;
    /* "Share 12  Ilham Aliyev met  Erdoğan." -> drop "Share 12 ", squeeze spaces */
    tm_doc *d = mkdoc("Share 12  Ilham Aliyev met  Erdogan in Baku.");
    annotate(d, "Ilham Aliyev", "PER");
    annotate(d, "Erdogan", "PER");
    annotate(d, "Baku", "LOC");
    annotate(d, "Share", "MISC");
    const char *nt = "Ilham Aliyev met Erdogan in Baku.";
    /* old: [0,10) "Share 12  " deleted; [26,28) "  " -> " " */
    tm_edit e[] = {{0, 10, 0, 0}, {26, 28, 16, 17}};
    size_t lost = 0;
    assert_int_equal(tm__doc_replace_text(d, nt, strlen(nt), e, 2, &lost), TM_OK);
    assert_int_equal(lost, 1); /* "Share" went with its text */
    assert_int_equal(d->n_annotations, 3);
    assert_covers(d, 0, "Ilham Aliyev");
    assert_covers(d, 1, "Erdogan");
    assert_covers(d, 2, "Baku");
    tm__doc_free(d);
}

static void test_replace_inside_span(void **st)
{
    (void)st;
    /* a span whose inside changes keeps covering the replacement */
    tm_doc *d = mkdoc("in Erdog\xcc\x86" "an's words");
    annotate(d, "Erdog\xcc\x86" "an", "PER");
    const char *nt = "in Erdo\xc4\x9f" "an's words"; /* NFC: g + breve -> ğ */
    tm_edit e[] = {{7, 10, 7, 9}};
    size_t lost = 0;
    assert_int_equal(tm__doc_replace_text(d, nt, strlen(nt), e, 1, &lost), TM_OK);
    assert_int_equal(lost, 0);
    assert_covers(d, 0, "Erdo\xc4\x9f" "an");
    tm__doc_free(d);
}

static void test_insertion_at_boundary(void **st)
{
    (void)st;
    tm_doc *d = mkdoc("AB CD");
    annotate(d, "CD", "X");
    /* insert "xx" at offset 3 (the span's start) and "yy" at 5 (its end) */
    const char *nt = "AB xxCDyy";
    tm_edit e[] = {{3, 3, 3, 5}, {5, 5, 7, 9}};
    size_t lost = 0;
    assert_int_equal(tm__doc_replace_text(d, nt, strlen(nt), e, 2, &lost), TM_OK);
    assert_covers(d, 0, "CD");
    tm__doc_free(d);
}

static void test_bad_maps_refused(void **st)
{
    (void)st;
    tm_doc *d = mkdoc("hello world");
    size_t lost;
    tm_edit overlap[] = {{0, 5, 0, 3}, {4, 6, 2, 4}};
    assert_int_equal(tm__doc_replace_text(d, "hel world", 9, overlap, 2, &lost), TM_EINVAL);
    tm_edit wrong_gap[] = {{0, 5, 0, 3}};
    assert_int_equal(tm__doc_replace_text(d, "hel worl", 8, wrong_gap, 1, &lost), TM_EINVAL);
    tm_edit past_end[] = {{0, 50, 0, 3}};
    assert_int_equal(tm__doc_replace_text(d, "hel", 3, past_end, 1, &lost), TM_EINVAL);
    assert_string_equal(d->text, "hello world"); /* unchanged after refusals */
    /* no map and another length: every annotation goes */
    annotate(d, "world", "X");
    assert_int_equal(tm__doc_replace_text(d, "bye", 3, NULL, 0, &lost), TM_OK);
    assert_int_equal(lost, 1);
    assert_int_equal(d->n_annotations, 0);
    tm__doc_free(d);
}

static void test_annotations_sorted_and_checked(void **st)
{
    (void)st;
    tm_doc *d = mkdoc("one two three");
    annotate(d, "three", "X");
    annotate(d, "one", "X");
    annotate(d, "two", "X");
    assert_covers(d, 0, "one");
    assert_covers(d, 2, "three");
    tm_annotation bad = {.start = 5, .end = 50, .type = "X"};
    assert_int_equal(tm__doc_annotate(d, &bad, "t"), TM_EINVAL);
    tm_annotation untyped = {.start = 0, .end = 1};
    assert_int_equal(tm__doc_annotate(d, &untyped, "t"), TM_EINVAL);
    tm__doc_free(d);
}

static void test_utf8_repair(void **st)
{
    (void)st;
    size_t n, bad;
    /* a lone continuation byte, a truncated 3-byte sequence, an overlong NUL */
    const char in[] = "a\x80" "b\xe2\x82" "c\xc0\x80" "d";
    assert_int_equal(tm__utf8_valid_prefix(in, sizeof in - 1), 1);
    char *out = tm__utf8_repair(in, sizeof in - 1, &n, &bad);
    assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd" "d");
    assert_int_equal(bad, 4);
    free(out);
    const char ok[] = "Erdo\xc4\x9f" "an \xf0\x9f\x98\x80";
    assert_int_equal(tm__utf8_valid_prefix(ok, sizeof ok - 1), sizeof ok - 1);
    /* a surrogate encoded in UTF-8 is not valid */
    assert_int_equal(tm__utf8_valid_prefix("x\xed\xa0\x80", 4), 1);
}

static void test_meta(void **st)
{
    (void)st;
    tm_doc *d = mkdoc("x");
    assert_int_equal(tm__doc_meta_set(d, "title", TM_META_STRING, "A", 1), TM_OK);
    assert_int_equal(tm__doc_meta_set(d, "n", TM_META_NUMBER, "3", 1), TM_OK);
    assert_int_equal(tm__doc_meta_set(d, "title", TM_META_STRING, "B", 1), TM_OK);
    assert_int_equal(d->n_meta, 2);
    assert_string_equal(tm__doc_meta_get(d, "title")->value, "B");
    assert_null(tm__doc_meta_get(d, "author"));
    assert_int_equal(tm__doc_meta_set(d, "", TM_META_STRING, "B", 1), TM_EINVAL);
    tm__doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_keeps_spans),
        cmocka_unit_test(test_replace_inside_span),
        cmocka_unit_test(test_insertion_at_boundary),
        cmocka_unit_test(test_bad_maps_refused),
        cmocka_unit_test(test_annotations_sorted_and_checked),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_meta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
