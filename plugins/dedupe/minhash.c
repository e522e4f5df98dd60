#include "minhash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

static bool grow(const tm_host *h, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *g = h->realloc(*p, c * size);
    if (!g)
        return false;
    *p = g;
    *cap = c;
    return true;
}

/* The text normalised (NFC or NFKC, case folded if asked), as utf8proc_map
 * gives it, but with ASCII handled here: an ASCII character is its own
 * normal form (folded: its lower case), and it never composes with the
 * character before it. So only the runs of non-ASCII characters, each with
 * the ASCII character just before it (an "e" the next combining accent
 * composes with), go through utf8proc: most of any English text does not.
 * Returns the length, or a negative utf8proc error; *out is malloc'd. */
static utf8proc_ssize_t normalize(const unsigned char *s, size_t n, int opts, bool casefold,
                                  utf8proc_uint8_t **out)
{
    size_t cap = n + 16, len = 0;
    utf8proc_uint8_t *o = malloc(cap);
    if (!o)
        return UTF8PROC_ERROR_NOMEM;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80 && (i + 1 == n || s[i + 1] < 0x80)) {
            if (len + 2 > cap) { /* a segment before may have grown the text */
                utf8proc_uint8_t *g = realloc(o, cap *= 2);
                if (!g) {
                    free(o);
                    return UTF8PROC_ERROR_NOMEM;
                }
                o = g;
            }
            o[len++] = casefold && s[i] >= 'A' && s[i] <= 'Z' ? (utf8proc_uint8_t)(s[i] + 32) : s[i];
            i++;
            continue;
        }
        size_t j = i + (s[i] < 0x80);
        while (j < n && s[j] >= 0x80)
            j++;
        utf8proc_uint8_t *seg = NULL;
        utf8proc_ssize_t m = utf8proc_map(s + i, (utf8proc_ssize_t)(j - i), &seg, opts);
        if (m < 0) {
            free(o);
            return m;
        }
        if (len + (size_t)m + 1 > cap) {
            while (len + (size_t)m + 1 > cap)
                cap *= 2;
            utf8proc_uint8_t *g = realloc(o, cap);
            if (!g) {
                free(seg);
                free(o);
                return UTF8PROC_ERROR_NOMEM;
            }
            o = g;
        }
        memcpy(o + len, seg, (size_t)m);
        len += (size_t)m;
        free(seg);
        i = j;
    }
    o[len] = 0;
    *out = o;
    return (utf8proc_ssize_t)len;
}

int tokenize(tokens *t, const tm_host *h, const char *s, size_t n, bool casefold, bool nfkc)
{
    t->n = 0;
    t->buf_len = 0;
    utf8proc_uint8_t *norm = NULL;
    int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (casefold ? UTF8PROC_CASEFOLD : 0) |
               (nfkc ? UTF8PROC_COMPAT : 0);
    utf8proc_ssize_t m = normalize((const unsigned char *)s, n, opts, casefold, &norm);
    if (m < 0)
        return m == UTF8PROC_ERROR_NOMEM ? TM_ENOMEM : TM_EINVAL;
    if (!grow(h, (void **)&t->buf, &t->buf_cap, (size_t)m + 1, 1)) {
        free(norm);
        return TM_ENOMEM;
    }
    size_t i = 0, start = 0;
    bool in = false;
    while (i <= (size_t)m) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t l = 1;
        bool word = false;
        if (i < (size_t)m) {
            if (norm[i] < 0x80) {
                cp = norm[i];
                word = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
                       (cp >= 'A' && cp <= 'Z');
            } else {
                l = utf8proc_iterate(norm + i, m - (utf8proc_ssize_t)i, &cp);
                if (l <= 0)
                    l = 1;
                utf8proc_category_t c = utf8proc_category(cp);
                word = (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                       (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) ||
                       (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME);
            }
        }
        if (word && !in) {
            start = i;
            in = true;
        } else if (!word && in) {
            if (!grow(h, (void **)&t->v, &t->cap, t->n + 1, sizeof *t->v)) {
                free(norm);
                return TM_ENOMEM;
            }
            t->v[t->n].off = t->buf_len;
            t->v[t->n].len = i - start;
            memcpy(t->buf + t->buf_len, norm + start, i - start);
            t->buf_len += i - start;
            t->n++;
            in = false;
        }
        i += (size_t)l;
    }
    free(norm);
    return TM_OK;
}

void tokens_free(tokens *t, const tm_host *h)
{
    h->free(t->buf);
    h->free(t->v);
    memset(t, 0, sizeof *t);
}

uint64_t exact_hash(const tokens *t)
{
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    for (size_t i = 0; i < t->n; i++) {
        XXH3_64bits_update(st, t->buf + t->v[i].off, t->v[i].len);
        XXH3_64bits_update(st, " ", 1);
    }
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h ? h : 1;
}

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

size_t minhash(const tokens *t, int k, bool chars, uint64_t seed, uint8_t *sig, size_t H,
               uint64_t *mins)
{
    for (size_t i = 0; i < H; i++)
        mins[i] = UINT64_MAX;
    size_t count = 0;
    if (!chars) {
        /* word k-shingles: combine the k token hashes in order */
        if (t->n < (size_t)k) {
            if (t->n == 0)
                goto empty;
            k = (int)t->n; /* a short text is one shingle */
        }
        uint64_t *th = mins + H; /* token hashes, after the bins */
        for (size_t i = 0; i < t->n; i++)
            th[i] = XXH3_64bits_withSeed(t->buf + t->v[i].off, t->v[i].len, seed);
        for (size_t i = 0; i + (size_t)k <= t->n; i++) {
            uint64_t x = seed;
            for (int j = 0; j < k; j++)
                x = mix(x ^ th[i + (size_t)j]) + (uint64_t)j;
            size_t bin = (size_t)(x % H);
            uint64_t v = mix(x ^ 0x9E3779B97F4A7C15ull);
            if (v < mins[bin])
                mins[bin] = v;
            count++;
        }
    } else {
        /* character k-shingles over the tokens joined by spaces */
        size_t len = 0;
        char *s = (char *)(mins + H);
        for (size_t i = 0; i < t->n; i++) {
            memcpy(s + len, t->buf + t->v[i].off, t->v[i].len);
            len += t->v[i].len;
            s[len++] = ' ';
        }
        if (len == 0)
            goto empty;
        size_t kk = (size_t)k <= len ? (size_t)k : len;
        for (size_t i = 0; i + kk <= len; i++) {
            uint64_t x = XXH3_64bits_withSeed(s + i, kk, seed);
            size_t bin = (size_t)(x % H);
            uint64_t v = mix(x ^ 0x9E3779B97F4A7C15ull);
            if (v < mins[bin])
                mins[bin] = v;
            count++;
        }
    }
    /* densification: an empty bin borrows the next filled bin's minimum,
     * mixed with the distance, so that two texts fill it the same way */
    for (size_t i = 0; i < H; i++) {
        uint64_t v = mins[i];
        for (size_t d = 1; v == UINT64_MAX && d < H; d++)
            if (mins[(i + d) % H] != UINT64_MAX)
                v = mix(mins[(i + d) % H] + d * 0x9E3779B97F4A7C15ull);
        /* the minimum of many values has its high bits at 0: keep bits of a
         * re-mix of it, so that 8 bits stay uniform in long texts too */
        sig[i] = (uint8_t)(mix(v ^ 0xD6E8FEB86659FD93ull) >> 32);
    }
    return count;
empty:
    memset(sig, 0, H);
    return 0;
}

double sig_jaccard(const uint8_t *a, const uint8_t *b, size_t H)
{
    size_t eq = 0;
    for (size_t i = 0; i < H; i++)
        eq += a[i] == b[i];
    double m = (double)eq / (double)H, c = 1.0 / 256.0;
    double j = (m - c) / (1.0 - c);
    return j < 0 ? 0 : j > 1 ? 1 : j;
}

uint64_t band_key(const uint8_t *sig, size_t j, size_t r)
{
    uint64_t k = XXH3_64bits(sig + j * r, r) ^ (uint64_t)j * 0x9E3779B97F4A7C15ull;
    return k ? k : 1;
}

static double curve(double J, double b, double r) { return 1.0 - pow(1.0 - pow(J, r), b); }

void lsh_params(size_t H, double t, size_t *bands, size_t *rows)
{
    double best = INFINITY;
    *bands = H;
    *rows = 1;
    for (size_t r = 1; r <= H; r++) {
        if (H % r)
            continue;
        size_t b = H / r;
        double fp = 0, fn = 0, steps = 200;
        for (int i = 0; i < steps; i++) {
            double x = t * (i + 0.5) / steps;
            fp += curve(x, (double)b, (double)r) * t / steps;
            double y = t + (1 - t) * (i + 0.5) / steps;
            fn += (1 - curve(y, (double)b, (double)r)) * (1 - t) / steps;
        }
        double cost = 0.1 * fp + 0.9 * fn;
        if (cost < best) {
            best = cost;
            *bands = b;
            *rows = r;
        }
    }
}
