#include "edit.h"

#include <string.h>

void ed_init(ed *e, const tm_host *host, const char *old, size_t old_len)
{
    memset(e, 0, sizeof *e);
    e->host = host;
    e->old = old;
    e->old_len = old_len;
}

void ed_reset(ed *e, const char *old, size_t old_len)
{
    e->old = old;
    e->old_len = old_len;
    e->kept_from = 0;
    e->len = 0;
    e->n = 0;
    e->failed = false;
}

static void put(ed *e, const char *p, size_t n)
{
    if (e->failed)
        return;
    if (e->len + n + 1 > e->cap) {
        size_t cap = e->cap ? e->cap : e->old_len + 64;
        while (cap < e->len + n + 1)
            cap *= 2;
        char *g = e->host->realloc(e->out, cap);
        if (!g) {
            e->failed = true;
            return;
        }
        e->out = g;
        e->cap = cap;
    }
    memcpy(e->out + e->len, p, n);
    e->len += n;
}

void ed_replace(ed *e, size_t at, size_t old_end, const char *bytes, size_t n)
{
    if (e->failed || at < e->kept_from)
        return;
    /* a replacement by the very same bytes is no change */
    if (old_end - at == n && memcmp(e->old + at, bytes, n) == 0)
        return;
    put(e, e->old + e->kept_from, at - e->kept_from);
    size_t new_start = e->len;
    put(e, bytes, n);
    e->kept_from = old_end;
    if (e->failed)
        return;
    /* Adjacent edits stay apart: merging a deletion into its neighbour would
     * let a span over the deleted text survive as a span over the neighbour's
     * replacement. */
    if (e->n == e->cap_edits) {
        size_t cap = e->cap_edits ? 2 * e->cap_edits : 64;
        tm_edit *g = e->host->realloc(e->edits, cap * sizeof *g);
        if (!g) {
            e->failed = true;
            return;
        }
        e->edits = g;
        e->cap_edits = cap;
    }
    e->edits[e->n++] = (tm_edit){at, old_end, new_start, e->len};
}

bool ed_finish(ed *e)
{
    if (e->n == 0 || e->failed)
        return false;
    put(e, e->old + e->kept_from, e->old_len - e->kept_from);
    e->kept_from = e->old_len;
    if (!e->failed)
        e->out[e->len] = 0;
    return !e->failed;
}

void ed_free(ed *e)
{
    e->host->free(e->out);
    e->host->free(e->edits);
    e->out = NULL;
    e->edits = NULL;
}
