/* The document: id, UTF-8 text, metadata and standoff annotations. Text is
 * never changed behind the annotations' back: replace_text takes an offset
 * map and moves every span with the text (or drops it, counted, when the
 * text it covered is gone). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- UTF-8 ------------------------------------------------------------------- */

size_t tm__utf8_valid_prefix(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs are most of the text: check 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            return i;
        i += (size_t)n;
    }
    return len;
}

/* Length of the maximal subpart of an ill-formed sequence at p (Unicode 15,
 * §3.9 "U+FFFD substitution of maximal subparts"), at least 1. */
static size_t maximal_subpart(const unsigned char *p, size_t len)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 1;
    size_t k = 1;
    while (k <= need && k < len) {
        unsigned char b = p[k];
        if (b < lo || b > hi)
            break;
        lo = 0x80;
        hi = 0xBF;
        k++;
    }
    return k;
}

char *tm__utf8_repair(const char *s, size_t len, size_t *outlen, size_t *n_bad)
{
    tm_buf b = {0};
    tm__buf_reserve(&b, len + 16);
    size_t i = 0;
    *n_bad = 0;
    while (i < len) {
        size_t ok = tm__utf8_valid_prefix(s + i, len - i);
        tm__buf_add(&b, s + i, ok);
        i += ok;
        if (i >= len)
            break;
        i += maximal_subpart((const unsigned char *)s + i, len - i);
        tm__buf_add(&b, "\xEF\xBF\xBD", 3);
        (*n_bad)++;
    }
    *outlen = b.len;
    return b.data ? b.data : tm__xstrdup("");
}

/* ---- documents ------------------------------------------------------------------ */

tm_idoc *tm__doc_new_take(const char *id, size_t id_len, char *text, size_t text_len)
{
    tm_idoc *d = tm__xcalloc(1, sizeof *d);
    d->pub.id = tm__xstrndup(id, id_len);
    d->pub.id_len = id_len;
    d->pub.text = text;
    d->pub.text_len = text_len;
    return d;
}

tm_idoc *tm__doc_clone(const tm_doc *src)
{
    char *text = tm__xmalloc(src->text_len + 1);
    memcpy(text, src->text, src->text_len);
    text[src->text_len] = 0;
    tm_idoc *d = tm__doc_new_take(src->id, src->id_len, text, src->text_len);
    for (size_t i = 0; i < src->n_meta; i++)
        tm__doc_meta_set(&d->pub, src->meta[i].key, src->meta[i].type, src->meta[i].value,
                         src->meta[i].len);
    for (size_t i = 0; i < src->n_annotations; i++)
        tm__doc_annotate(&d->pub, &src->annotations[i], src->annotations[i].stage);
    return d;
}

static void annotation_free(tm_annotation *a)
{
    free((char *)a->type);
    free((char *)a->label);
    free((char *)a->canonical);
    free((char *)a->id);
    free((char *)a->stage);
    free((char *)a->extra);
}

void tm__doc_free(tm_doc *pub)
{
    if (!pub)
        return;
    tm_idoc *d = (tm_idoc *)pub;
    free((char *)pub->id);
    free((char *)pub->text);
    for (size_t i = 0; i < pub->n_meta; i++) {
        free((char *)pub->meta[i].key);
        free((char *)pub->meta[i].value);
    }
    free((tm_meta *)pub->meta);
    for (size_t i = 0; i < pub->n_annotations; i++)
        annotation_free((tm_annotation *)&pub->annotations[i]);
    free((tm_annotation *)pub->annotations);
    free(d->drop_reason);
    free(d);
}

int tm__doc_annotate(tm_doc *pub, const tm_annotation *a, const char *stage)
{
    tm_idoc *d = (tm_idoc *)pub;
    if (!a || !a->type || !*a->type || a->start > a->end || a->end > pub->text_len)
        return TM_EINVAL;
    if (pub->n_annotations == d->cap_annotations) {
        d->cap_annotations = d->cap_annotations ? 2 * d->cap_annotations : 8;
        pub->annotations = tm__xrealloc((tm_annotation *)pub->annotations,
                                        d->cap_annotations * sizeof(tm_annotation));
    }
    tm_annotation *arr = (tm_annotation *)pub->annotations;
    /* keep the array sorted by (start, end); appends are the common case */
    size_t pos = pub->n_annotations;
    while (pos > 0 && (arr[pos - 1].start > a->start ||
                       (arr[pos - 1].start == a->start && arr[pos - 1].end > a->end)))
        pos--;
    memmove(arr + pos + 1, arr + pos, (pub->n_annotations - pos) * sizeof *arr);
    tm_annotation *n = &arr[pos];
    n->start = a->start;
    n->end = a->end;
    n->type = tm__xstrdup(a->type);
    n->label = tm__xstrdup(a->label);
    n->canonical = tm__xstrdup(a->canonical);
    n->id = tm__xstrdup(a->id);
    n->stage = tm__xstrdup(stage ? stage : a->stage);
    n->score = a->score;
    n->extra = tm__xstrdup(a->extra);
    pub->n_annotations++;
    return TM_OK;
}

/* Maps an old offset through the edits. Inside an edit, a start moves to the
 * edit's new start and an end to its new end, so a span that overlaps
 * changed text keeps covering its replacement. Text inserted exactly at a
 * span's boundary stays outside the span. */
static size_t map_offset(size_t p, const tm_edit *e, size_t n, bool is_end)
{
    /* k = the first edit that is not wholly before p */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        bool after = e[mid].old_end > p || (is_end && e[mid].old_start == p);
        if (after)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo < n && e[lo].old_start < p && p < e[lo].old_end)
        return is_end ? e[lo].new_end : e[lo].new_start;
    if (lo == 0)
        return p;
    return e[lo - 1].new_end + (p - e[lo - 1].old_end);
}

int tm__doc_replace_text(tm_doc *pub, const char *text, size_t len, const tm_edit *edits,
                         size_t n_edits, size_t *n_lost)
{
    *n_lost = 0;
    if (!text || (n_edits && !edits))
        return TM_EINVAL;
    /* the map must describe exactly this old and new text */
    size_t po = 0, pn = 0;
    for (size_t i = 0; i < n_edits; i++) {
        const tm_edit *e = &edits[i];
        if (e->old_start < po || e->old_end < e->old_start || e->new_start < pn ||
            e->new_end < e->new_start || e->old_start - po != e->new_start - pn ||
            e->old_end > pub->text_len || e->new_end > len)
            return TM_EINVAL;
        po = e->old_end;
        pn = e->new_end;
    }
    if (n_edits && pub->text_len - po != len - pn)
        return TM_EINVAL;
    if (!n_edits && !edits && len != pub->text_len)
        n_edits = (size_t)-1; /* "everything changed" */

    tm_annotation *arr = (tm_annotation *)pub->annotations;
    size_t kept = 0;
    for (size_t i = 0; i < pub->n_annotations; i++) {
        tm_annotation a = arr[i];
        bool lost;
        if (n_edits == (size_t)-1) {
            lost = true;
        } else if (n_edits == 0) {
            lost = false; /* same length, no edits: offsets are unchanged */
        } else {
            a.start = map_offset(arr[i].start, edits, n_edits, false);
            a.end = map_offset(arr[i].end, edits, n_edits, true);
            lost = a.start >= a.end && arr[i].start < arr[i].end;
        }
        if (lost) {
            annotation_free(&arr[i]);
            (*n_lost)++;
        } else {
            arr[kept++] = a;
        }
    }
    pub->n_annotations = kept;
    free((char *)pub->text);
    pub->text = tm__xstrndup(text, len);
    pub->text_len = len;
    return TM_OK;
}

const tm_meta *tm__doc_meta_get(const tm_doc *pub, const char *key)
{
    for (size_t i = 0; i < pub->n_meta; i++)
        if (strcmp(pub->meta[i].key, key) == 0)
            return &pub->meta[i];
    return NULL;
}

int tm__doc_meta_set(tm_doc *pub, const char *key, tm_meta_type type, const char *value,
                     size_t len)
{
    tm_idoc *d = (tm_idoc *)pub;
    if (!key || !*key || type > TM_META_JSON || (type != TM_META_NULL && !value))
        return TM_EINVAL;
    tm_meta *m = (tm_meta *)tm__doc_meta_get(pub, key);
    if (!m) {
        if (pub->n_meta == d->cap_meta) {
            d->cap_meta = d->cap_meta ? 2 * d->cap_meta : 8;
            pub->meta = tm__xrealloc((tm_meta *)pub->meta, d->cap_meta * sizeof(tm_meta));
        }
        m = (tm_meta *)&pub->meta[pub->n_meta++];
        m->key = tm__xstrdup(key);
    } else {
        free((char *)m->value);
    }
    m->type = type;
    m->value = type == TM_META_NULL ? NULL : tm__xstrndup(value, len);
    m->len = type == TM_META_NULL ? 0 : len;
    return TM_OK;
}
