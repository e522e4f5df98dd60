/* Small helpers: checked allocation, growable buffers, JSON string escaping,
 * "did you mean" suggestions. Allocation failure ends the process: the core
 * cannot do anything useful without memory, and a clear exit beats a crash. */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void oom(void)
{
    fputs("textmill: out of memory\n", stderr);
    exit(TM_EXIT_INTERNAL);
}

void *tm__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *tm__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *tm__xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *tm__xstrndup(const char *s, size_t n)
{
    char *d = tm__xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *tm__xstrdup(const char *s) { return s ? tm__xstrndup(s, strlen(s)) : NULL; }

char *tm__xvasprintf(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *s = tm__xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *tm__xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = tm__xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void tm__buf_reserve(tm_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = tm__xrealloc(b->data, cap);
    b->cap = cap;
}

void tm__buf_add(tm_buf *b, const void *p, size_t n)
{
    tm__buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void tm__buf_adds(tm_buf *b, const char *s) { tm__buf_add(b, s, strlen(s)); }

void tm__buf_addc(tm_buf *b, char c) { tm__buf_add(b, &c, 1); }

void tm__buf_printf(tm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    tm__buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tm__buf_free(tm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tm__buf_json_str(tm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    tm__buf_reserve(b, n + 2);
    tm__buf_addc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        tm__buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': tm__buf_add(b, "\\\"", 2); break;
        case '\\': tm__buf_add(b, "\\\\", 2); break;
        case '\n': tm__buf_add(b, "\\n", 2); break;
        case '\t': tm__buf_add(b, "\\t", 2); break;
        case '\r': tm__buf_add(b, "\\r", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            tm__buf_add(b, e, 6);
        }
        }
    }
    tm__buf_add(b, s + run, n - run);
    tm__buf_addc(b, '"');
}

/* Optimal string alignment distance: Levenshtein plus adjacent
 * transpositions, the commonest typo ("cuont" for "count"). */
size_t tm__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), w = lb + 1;
    size_t *d = tm__xmalloc((la + 1) * w * sizeof *d);
    for (size_t i = 0; i <= la; i++)
        d[i * w] = i;
    for (size_t j = 0; j <= lb; j++)
        d[j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
            if (d[(i - 1) * w + j] + 1 < best)
                best = d[(i - 1) * w + j] + 1;
            if (d[i * w + j - 1] + 1 < best)
                best = d[i * w + j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[(i - 2) * w + j - 2] + 1 < best)
                best = d[(i - 2) * w + j - 2] + 1;
            d[i * w + j] = best;
        }
    }
    size_t r = d[la * w + lb];
    free(d);
    return r;
}

const char *tm__suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = tm__edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    /* a typo is a few edits, relative to the word's length */
    size_t len = strlen(word);
    if (best && best_d > 0 && best_d <= (len < 6 ? 1 : len / 3))
        return best;
    return NULL;
}

void tm__utc_iso(time_t t, char out[32])
{
    struct tm tmv;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tmv));
}

double tm__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
