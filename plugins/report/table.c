/* The report's tables (sources, entities, stories, duplicate clusters, days)
 * and display strings: see report.h. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: the keys are short names and ids; nothing adversarial depends on
 * the spread beyond a slower lookup. */
static uint64_t hash_of(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

void rtable_init(rtable *t, const tm_host *h)
{
    memset(t, 0, sizeof *t);
    t->host = h;
}

static size_t slot_of(const rtable *t, const char *key, size_t len, uint64_t hash)
{
    size_t mask = t->n_slots - 1, i = (size_t)hash & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t k = t->slots[i];
        if (!k)
            return i;
        const rkey *e = t->items[k - 1];
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return i;
    }
}

void *rtable_find(const rtable *t, const char *key, size_t len)
{
    if (!t->n_slots)
        return NULL;
    uint32_t k = t->slots[slot_of(t, key, len, hash_of(key, len))];
    return k ? t->items[k - 1] : NULL;
}

/* Keeps the load at most one half, so probes stay short. */
static bool grow(rtable *t)
{
    if (t->n == UINT32_MAX - 1)
        return false;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        rkey **items = t->host->realloc(t->items, cap * sizeof *items);
        if (!items)
            return false;
        t->items = items;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 <= t->n_slots)
        return true;
    size_t n_slots = t->n_slots ? t->n_slots * 2 : 128;
    uint32_t *slots = t->host->alloc(n_slots * sizeof *slots);
    if (!slots)
        return false;
    memset(slots, 0, n_slots * sizeof *slots);
    t->host->free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    for (size_t k = 0; k < t->n; k++) {
        const rkey *e = t->items[k];
        t->slots[slot_of(t, e->key, e->len, e->hash)] = (uint32_t)(k + 1);
    }
    return true;
}

void *rtable_intern(rtable *t, const char *key, size_t len, size_t size)
{
    uint64_t hash = hash_of(key, len);
    if (t->n_slots) {
        uint32_t k = t->slots[slot_of(t, key, len, hash)];
        if (k)
            return t->items[k - 1];
    }
    if (!grow(t))
        return NULL;
    rkey *e = t->host->alloc(size);
    char *copy = t->host->alloc(len + 1);
    if (!e || !copy) {
        t->host->free(e);
        t->host->free(copy);
        return NULL;
    }
    memset(e, 0, size);
    memcpy(copy, key, len);
    copy[len] = 0;
    e->key = copy;
    e->len = len;
    e->hash = hash;
    e->seq = t->n;
    t->items[t->n++] = e;
    t->slots[slot_of(t, key, len, hash)] = (uint32_t)t->n;
    return e;
}

void rtable_free(rtable *t, void (*each)(const tm_host *h, void *entry))
{
    for (size_t k = 0; k < t->n; k++) {
        if (each)
            each(t->host, t->items[k]);
        t->host->free(t->items[k]->key);
        t->host->free(t->items[k]);
    }
    t->host->free(t->items);
    t->host->free(t->slots);
    rtable_init(t, t->host);
}

void **rtable_sorted(const rtable *t, int (*cmp)(const void *, const void *))
{
    if (!t->n)
        return NULL;
    void **v = t->host->alloc(t->n * sizeof *v);
    if (!v)
        return NULL;
    memcpy(v, t->items, t->n * sizeof *v);
    qsort(v, t->n, sizeof *v, cmp);
    return v;
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xC2 && c <= 0xDF   ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    if (!len || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    /* overlong forms, surrogates and code points past U+10FFFF */
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] > 0x8F))
        return 0;
    return len;
}

size_t report_clean_into(char *out, const char *s, size_t n, size_t max)
{
    static const char fffd[] = "\xEF\xBF\xBD", ellipsis[] = "\xE2\x80\xA6";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(p + i, n - i);
        const char *put = len ? s + i : fffd;
        size_t put_n = len ? len : 3;
        if (len == 1 && (p[i] < 0x20 || p[i] == 0x7F))
            put = " ", put_n = 1; /* a title's line break or tab reads as a space */
        if (max && o + put_n > max) {
            memcpy(out + o, ellipsis, 3);
            o += 3;
            break;
        }
        memcpy(out + o, put, put_n);
        o += put_n;
        i += len ? len : 1;
    }
    out[o] = 0;
    return o;
}

char *report_clean(const tm_host *h, const char *s, size_t n, size_t max)
{
    char *out = h->alloc(REPORT_CLEAN_SIZE(n));
    if (out)
        report_clean_into(out, s, n, max);
    return out;
}
