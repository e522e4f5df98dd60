#include "minhash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
/* inlined: the hashes of short tokens and bands are most of the calls */
#define XXH_INLINE_ALL
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

static inline bool ascii_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/* A token begins at the end of buf. */
static inline bool token_start(tokens *t, const tm_host *h)
{
    if (!grow(h, (void **)&t->v, &t->cap, t->n + 1, sizeof *t->v))
        return false;
    t->v[t->n].off = t->buf_len;
    return true;
}

/* The token ends: its length, and the space after it. */
static inline void token_end(tokens *t)
{
    t->v[t->n].len = t->buf_len - t->v[t->n].off;
    t->n++;
    t->buf[t->buf_len++] = ' ';
}

/* The text normalised (NFC or NFKC, case folded if asked) as utf8proc_map
 * gives it, cut into tokens as it goes: a letter, digit or mark extends the
 * current token, anything else ends it. ASCII is handled here: an ASCII
 * character is its own normal form (folded: its lower case), and it never
 * composes with the character before it. So only the runs of non-ASCII
 * characters, each with the ASCII character just before it (an "e" the
 * next combining accent composes with), go through utf8proc: most of any
 * English text does not. Tokens are kept joined by a space (with one after
 * the last), so that the exact hash is one hash of buf. */
int tokenize(tokens *t, const tm_host *h, const char *str, size_t n, bool casefold, bool nfkc)
{
    const unsigned char *s = (const unsigned char *)str;
    t->n = 0;
    t->buf_len = 0;
    int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (casefold ? UTF8PROC_CASEFOLD : 0) |
               (nfkc ? UTF8PROC_COMPAT : 0);
    /* room for the rest of the text: an ASCII byte gives at most one byte
     * (itself or the space ending a token), and one for the last space */
    if (!grow(h, (void **)&t->buf, &t->buf_cap, n + 1, 1))
        return TM_ENOMEM;
    /* an ASCII byte -> what it is in a token (folded), or 0: not in one */
    unsigned char to[128];
    for (int c = 0; c < 128; c++)
        to[c] = !ascii_word((unsigned char)c) ? 0
                : casefold && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32)
                                                   : (unsigned char)c;
    bool in = false;
    for (size_t i = 0; i < n;) {
        /* a run of ASCII, but for its last byte when a non-ASCII one follows */
        size_t end = i;
        while (end < n && s[end] < 0x80)
            end++;
        if (end < n && end > i)
            end--;
        while (i < end) {
            if (!to[s[i]]) {
                if (in)
                    token_end(t);
                in = false;
                i++;
                continue;
            }
            if (!in && !token_start(t, h))
                return TM_ENOMEM;
            in = true;
            /* the rest of the word, in locals (a store through buf could
             * be one to t, as far as the compiler knows) */
            char *o = t->buf + t->buf_len;
            unsigned char c;
            while (i < end && (c = to[s[i]]))
                *o++ = (char)c, i++;
            t->buf_len = (size_t)(o - t->buf);
        }
        if (i == n)
            break;
        size_t j = i + (s[i] < 0x80);
        while (j < n && s[j] >= 0x80)
            j++;
        utf8proc_uint8_t *seg = NULL;
        utf8proc_ssize_t m = utf8proc_map(s + i, (utf8proc_ssize_t)(j - i), &seg, opts);
        if (m < 0)
            return m == UTF8PROC_ERROR_NOMEM ? TM_ENOMEM : TM_EINVAL;
        /* the segment gives at most its m bytes; then the rest as above */
        if (!grow(h, (void **)&t->buf, &t->buf_cap, t->buf_len + (size_t)m + (n - j) + 1, 1)) {
            free(seg);
            return TM_ENOMEM;
        }
        for (utf8proc_ssize_t k = 0; k < m;) {
            utf8proc_int32_t cp = seg[k];
            utf8proc_ssize_t l = 1;
            bool word;
            if (seg[k] < 0x80) {
                word = ascii_word(seg[k]);
            } else {
                l = utf8proc_iterate(seg + k, m - k, &cp);
                if (l <= 0)
                    l = 1;
                utf8proc_category_t c = utf8proc_category(cp);
                word = (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                       (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) ||
                       (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME);
            }
            if (word) {
                if (!in && !token_start(t, h)) {
                    free(seg);
                    return TM_ENOMEM;
                }
                in = true;
                memcpy(t->buf + t->buf_len, seg + k, (size_t)l);
                t->buf_len += (size_t)l;
            } else if (in) {
                token_end(t);
                in = false;
            }
            k += l;
        }
        free(seg);
        i = j;
    }
    if (in)
        token_end(t);
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
    /* buf is the tokens, each followed by a space */
    uint64_t h = XXH3_64bits(t->buf, t->buf_len);
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

/* x % H, without a division when H is a power of two (mask H - 1; 128 by
 * default) */
static inline size_t bin_of(uint64_t x, size_t H, size_t mask)
{
    return mask ? (size_t)x & mask : (size_t)(x % H);
}

size_t minhash(const tokens *t, int k, bool chars, uint64_t seed, uint8_t *sig, size_t H,
               uint64_t *mins)
{
    for (size_t i = 0; i < H; i++)
        mins[i] = UINT64_MAX;
    size_t count = 0;
    size_t mask = (H & (H - 1)) == 0 ? H - 1 : 0;
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
            size_t bin = bin_of(x, H, mask);
            uint64_t v = mix(x ^ 0x9E3779B97F4A7C15ull);
            if (v < mins[bin])
                mins[bin] = v;
            count++;
        }
    } else {
        /* character k-shingles over the tokens joined by spaces (as buf
         * holds them) */
        size_t len = t->buf_len;
        const char *s = t->buf;
        if (len == 0)
            goto empty;
        size_t kk = (size_t)k <= len ? (size_t)k : len;
        for (size_t i = 0; i + kk <= len; i++) {
            uint64_t x = XXH3_64bits_withSeed(s + i, kk, seed);
            size_t bin = bin_of(x, H, mask);
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

/* zero bytes of x: a byte's low 7 bits plus 0x7F carry into its top bit
 * unless all are 0; or-ed with x itself, only a zero byte leaves it clear */
static inline unsigned zero_bytes(uint64_t x)
{
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
    uint64_t y = (x & low7) + low7;
    /* one bit a zero byte, at the bottom of its byte; the multiply sums the
     * bytes into the top one (no popcount instruction in a portable build) */
    y = (~(y | x | low7)) >> 7;
    return (unsigned)((y * 0x0101010101010101ull) >> 56);
}

/* Eight values at a time: verifying candidates is most of the stage's time
 * at a low threshold. */
double sig_jaccard(const uint8_t *a, const uint8_t *b, size_t H)
{
    size_t eq = 0, i = 0;
    for (; i + 8 <= H; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        eq += zero_bytes(x ^ y);
    }
    for (; i < H; i++)
        eq += a[i] == b[i];
    double m = (double)eq / (double)H, c = 1.0 / 256.0;
    double j = (m - c) / (1.0 - c);
    return j < 0 ? 0 : j > 1 ? 1 : j;
}


static double curve(double J, double b, double r) { return 1.0 - pow(1.0 - pow(J, r), b); }

void lsh_params(size_t H, double t, size_t *bands, size_t *rows)
{
    double best = INFINITY;
    *bands = H / MIN_ROWS;
    *rows = MIN_ROWS;
    for (size_t r = MIN_ROWS; r <= H; r++) {
        size_t b = H / r; /* the H % r values left over are only verified */
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
