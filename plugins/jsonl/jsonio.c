/* Helpers shared by the jsonl source and sink; see jsonio.h. */
#include "jsonio.h"

#include <utf8proc.h>

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
/* JSON text is scanned for a few special bytes; SSE2 (every x86-64 has it)
 * tests sixteen bytes at once and says where the first one is. Elsewhere
 * the 8-byte word tests below do the same job more slowly. */
#define JIO_SSE2 1
#endif

/* ---- byte buffer ------------------------------------------------------------ */

int jio_buf_init(jio_buf *b, const tm_host *host, size_t cap, int (*drain)(jio_buf *),
                 void *arg)
{
    memset(b, 0, sizeof *b);
    b->host = host;
    b->drain = drain;
    b->arg = arg;
    if (cap) {
        b->data = host->alloc(cap);
        if (!b->data)
            return TM_ENOMEM;
        b->cap = cap;
    }
    return TM_OK;
}

void jio_buf_free(jio_buf *b)
{
    if (b->host)
        b->host->free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool jio_reserve(jio_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n <= b->cap - b->len)
        return true;
    /* grow geometrically so that appending stays linear overall */
    size_t want = b->len + n, cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    char *g = b->host->realloc(b->data, cap);
    if (!g) {
        b->failed = true;
        return false;
    }
    b->data = g;
    b->cap = cap;
    return true;
}

void jio_put(jio_buf *b, const void *s, size_t n)
{
    const char *p = s;
    if (b->failed || (!b->drain && !jio_reserve(b, n)))
        return;
    while (n > 0) {
        if (b->len == b->cap && (b->drain(b) != 0 || b->len == b->cap)) {
            b->failed = true;
            return;
        }
        size_t k = b->cap - b->len < n ? b->cap - b->len : n;
        memcpy(b->data + b->len, p, k);
        b->len += k;
        p += k;
        n -= k;
    }
}

void jio_puts(jio_buf *b, const char *s) { jio_put(b, s, strlen(s)); }

/* ---- UTF-8 ------------------------------------------------------------------ */

size_t jio_utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, &cp);
    return k > 0 ? (size_t)k : 0;
}

size_t jio_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII eight bytes at a time */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = jio_utf8_seq(p + i, n - i);
        if (!k)
            break;
        i += k;
    }
    return i;
}

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD in UTF-8 */

void jio_put_utf8(jio_buf *b, const char *s, size_t n)
{
    size_t ok;
    while ((ok = jio_utf8_valid_prefix(s, n)) < n) {
        jio_put(b, s, ok);
        jio_put(b, replacement, 3);
        s += ok + 1;
        n -= ok + 1;
    }
    jio_put(b, s, n);
}

/* ---- JSON string escaping ------------------------------------------------------ */

/* Byte classes for the escaper: 0 copy, 1 escape, 2 start of a multi-byte
 * sequence (checked). A table keeps the loop over long texts branch-light. */
static const unsigned char byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 control */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 control */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80.. */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

/* Escapes s[0..n) into o, which has room for 6 * n bytes (the most an
 * escape takes per input byte); returns the bytes written. The text is
 * copied as it is scanned: sixteen (or eight) bytes are stored at once and
 * the output moves on by as many as were plain. */
static size_t escape_into(char *o, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *end = p + n;
    char *o0 = o;
    while (p < end) {
#if JIO_SSE2
        /* a signed compare with 0x20 finds both the control bytes and
         * those >= 0x80; 16 <= end - p leaves room for the store */
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)p);
            _mm_storeu_si128((__m128i *)o, x);
            __m128i sp = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                                      _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                                   _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
            unsigned m = (unsigned)_mm_movemask_epi8(sp);
            if (m) {
                p += __builtin_ctz(m);
                o += __builtin_ctz(m);
                break;
            }
            p += 16;
            o += 16;
        }
#endif
        /* eight plain ASCII bytes at a time (no control byte, quote,
         * backslash or byte >= 0x80): most of any text */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
            uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
            /* (v - ones) & ~v & high: some byte of v is zero (or below n
             * for v - n * ones); exact about whether there is one */
            uint64_t special =
                (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x) & high;
            if (special)
                break;
            memcpy(o, p, 8);
            p += 8;
            o += 8;
        }
        if (p >= end)
            break;
        unsigned char c = *p, cls = byte_class[c];
        if (cls == 0) {
            *o++ = (char)*p++;
            continue;
        }
        if (cls == 2) {
            size_t k = jio_utf8_seq(p, (size_t)(end - p));
            if (k) {
                memcpy(o, p, k);
                o += k;
                p += k;
                continue;
            }
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\t': *o++ = 't'; break;
        case '\r': *o++ = 'r'; break;
        default:
            if (cls == 2) {
                memcpy(o, "ufffd", 5);
            } else {
                char u[5] = {'u', '0', '0', hex[c >> 4], hex[c & 15]};
                memcpy(o, u, 5);
            }
            o += 5;
        }
        p++;
    }
    return (size_t)(o - o0);
}

void jio_put_string(jio_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    jio_putc(b, '"');
    while (n > 0 && !b->failed) {
        /* escape straight into the buffer: all of it when there is room
         * (after draining or growing), else as much as fits, cut before a
         * UTF-8 sequence so that it is checked whole */
        size_t k = n;
        if (k > (b->cap - b->len) / 6) {
            if (b->drain) {
                if (b->len > 0 && b->drain(b) != 0) {
                    b->failed = true;
                    return;
                }
            } else if (k <= SIZE_MAX / 6 - 1) {
                jio_reserve(b, 6 * k);
            }
            if (b->failed || b->cap - b->len < 6 * 4) {
                b->failed = true;
                return;
            }
            if (k > (b->cap - b->len) / 6) {
                k = (b->cap - b->len) / 6;
                for (int i = 0; i < 3 && (p[k] & 0xC0) == 0x80; i++)
                    k--;
            }
        }
        b->len += escape_into(b->data + b->len, p, k);
        p += k;
        n -= k;
    }
    jio_putc(b, '"');
}

void jio_put_json(jio_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    bool in_string = false;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t k = jio_utf8_seq(p, (size_t)(end - p));
            if (k) {
                p += k;
                continue;
            }
            jio_put(b, run, (size_t)(p - run));
            jio_put(b, replacement, 3);
        } else if (in_string) {
            if (c == '\\') { /* keep the escape pair together */
                p += p + 1 < end ? 2 : 1;
                continue;
            }
            if (c == '"')
                in_string = false;
            if (c >= 0x20) {
                p++;
                continue;
            }
            jio_put(b, run, (size_t)(p - run));
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jio_put(b, u, 6);
        } else {
            if (c == '"')
                in_string = true;
            if (c > 0x20) {
                p++;
                continue;
            }
            jio_put(b, run, (size_t)(p - run)); /* drop the white space */
        }
        run = ++p;
    }
    jio_put(b, run, (size_t)(p - run));
}

/* ---- raw JSON text ----------------------------------------------------------- */

/* cJSON treats every byte up to 0x20 as white space; so must we, to stay in
 * step with what it accepted. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= 0x20)
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The end of the JSON number (RFC 8259's grammar) that starts at p, or
 * NULL when there is none. */
static const char *number_end(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

bool jio_is_number(const char *s, size_t n) { return number_end(s, s + n) == s + n; }

const char *jio_skip_value(const char *p, const char *end)
{
    if (p >= end)
        return end;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        /* brackets balance in accepted input; only strings can hide them */
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    /* a number or a literal */
    while (p < end && *p != ',' && *p != '}' && *p != ']' && (unsigned char)*p > 0x20)
        p++;
    return p;
}

static uint32_t hex4(const char *p, const char *end)
{
    uint32_t v = 0;
    if (end - p < 4)
        return 0xFFFD;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0xFFFD;
    }
    return v;
}

static size_t put_codepoint(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t jio_unescape(const char *raw, size_t n, char *out)
{
    if (n < 2)
        return 0;
    const char *p = raw + 1, *end = raw + n - 1; /* inside the quotes */
    char *o = out;
    while (p < end) {
#if JIO_SSE2
        /* copy sixteen bytes at a time up to the next backslash (out has
         * room: it is never further ahead than p is) */
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)p);
            _mm_storeu_si128((__m128i *)o, x);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
            if (m) {
                p += __builtin_ctz(m);
                o += __builtin_ctz(m);
                break;
            }
            p += 16;
            o += 16;
        }
#endif
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t k = bs ? (size_t)(bs - p) : (size_t)(end - p);
        memcpy(o, p, k);
        o += k;
        p += k;
        if (!bs || ++p >= end)
            break;
        char c = *p++;
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp = hex4(p, end);
            p += end - p < 4 ? end - p : 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = hex4(p + 2, end);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* unpaired surrogate */
            o += put_codepoint(o, cp);
            break;
        }
        default: *o++ = c; /* '"', '\\', '/' */
        }
    }
    return (size_t)(o - out);
}

void jio_obj_begin(jio_iter *it, const char *p, const char *end)
{
    p = skip_ws(p, end);
    if (p < end && *p == '{')
        p++;
    it->p = p;
    it->end = end;
}

bool jio_obj_next(jio_iter *it, const char **val, size_t *val_len)
{
    const char *p = skip_ws(it->p, it->end), *end = it->end;
    if (p < end && *p == ',')
        p = skip_ws(p + 1, end);
    if (p >= end || *p != '"')
        return false; /* '}' or the end */
    p = skip_ws(skip_string(p, end), end);
    if (p < end && *p == ':')
        p = skip_ws(p + 1, end);
    const char *v = p;
    p = jio_skip_value(p, end);
    *val = v;
    *val_len = (size_t)(p - v);
    it->p = p;
    return true;
}

/* ---- strict reading (see jsonio.h) ---------------------------------------------- */

static const uint64_t ones8 = 0x0101010101010101ull, high8 = 0x8080808080808080ull;

/* Four hex digits as cJSON reads them, or -1 if one is not a hex digit. */
static long strict_hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v |= (c | 0x20) - 'a' + 10;
        else
            return -1;
    }
    return v;
}

/* Checks the string literal at p (its opening quote); returns the end past
 * the closing quote, or NULL. Sets *esc if it holds escapes. */
static const char *check_string(const char *p, const char *end, bool *esc)
{
    const unsigned char *q = (const unsigned char *)p + 1, *e = (const unsigned char *)end;
    for (;;) {
#if JIO_SSE2
        while (e - q >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)q);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
            if (m) {
                q += __builtin_ctz(m);
                break;
            }
            q += 16;
        }
#endif
        /* eight bytes at a time while none is '"' or '\\' */
        while (e - q >= 8) {
            uint64_t x;
            memcpy(&x, q, 8);
            uint64_t a = x ^ (ones8 * '"'), b = x ^ (ones8 * '\\');
            if ((((a - ones8) & ~a) | ((b - ones8) & ~b)) & high8)
                break;
            q += 8;
        }
        while (q < e && *q != '"' && *q != '\\')
            q++;
        if (q >= e)
            return NULL;
        if (*q == '"')
            return (const char *)q + 1;
        *esc = true;
        if (e - q < 2)
            return NULL;
        switch (q[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            q += 2;
            continue;
        }
        /* \uXXXX: cJSON refuses bad surrogates and reads a bad hex digit
         * as 0, so those are left to it */
        long cp;
        if (q[1] != 'u' || e - q < 6 || (cp = strict_hex4(q + 2)) < 0)
            return NULL;
        q += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return NULL;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo;
            if (e - q < 6 || q[0] != '\\' || q[1] != 'u' || (lo = strict_hex4(q + 2)) < 0xDC00 ||
                lo > 0xDFFF)
                return NULL;
            q += 6;
        }
    }
}

/* A number in strict JSON grammar, at most 63 characters: cJSON reads at
 * most that many into strtod and fails on the rest. */
static const char *check_number(const char *p, const char *end)
{
    const char *e = number_end(p, end);
    return e && e - p <= 63 ? e : NULL;
}

static const char *check_literal(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

static const char *check_value(const char *p, const char *end, int depth, jio_kind *kind,
                               bool *esc);

/* The object or array at p; `depth` levels are open around it. A value
 * must be followed by ',' or the closing bracket, after white space; so a
 * number that cJSON would read further ("01", "1.5.2") is refused there. */
static const char *check_container(const char *p, const char *end, int depth)
{
    if (depth >= JIO_MAX_DEPTH)
        return NULL;
    bool obj = *p == '{';
    char close = obj ? '}' : ']';
    p = skip_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        jio_kind kind;
        bool esc;
        if (obj) {
            if (p >= end || *p != '"' || !(p = check_string(p, end, &esc)))
                return NULL;
            p = skip_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
        }
        if (!(p = check_value(p, end, depth + 1, &kind, &esc)))
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == close ? p + 1 : NULL;
    }
}

static const char *check_value(const char *p, const char *end, int depth, jio_kind *kind,
                               bool *esc)
{
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"': *kind = JIO_STRING; return check_string(p, end, esc);
    case '{': *kind = JIO_OBJECT; return check_container(p, end, depth);
    case '[': *kind = JIO_ARRAY; return check_container(p, end, depth);
    case 't': *kind = JIO_TRUE; return check_literal(p, end, "true");
    case 'f': *kind = JIO_FALSE; return check_literal(p, end, "false");
    case 'n': *kind = JIO_NULL; return check_literal(p, end, "null");
    default: *kind = JIO_NUMBER; return check_number(p, end);
    }
}

bool jio_read_begin(jio_reader *r, const char *p, const char *end)
{
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return false;
    r->p = p + 1;
    r->end = end;
    r->started = false;
    return true;
}

int jio_read_member(jio_reader *r, jio_member *m)
{
    const char *p = skip_ws(r->p, r->end), *end = r->end;
    if (p < end && *p == '}') {
        r->p = p + 1;
        return 0;
    }
    if (r->started) {
        if (p >= end || *p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
    r->started = true;
    m->key_esc = m->val_esc = false;
    const char *k = p;
    if (p >= end || *p != '"' || !(p = check_string(p, end, &m->key_esc)))
        return -1;
    m->key = k + 1;
    m->key_n = (size_t)(p - 1 - m->key);
    p = skip_ws(p, end);
    if (p >= end || *p != ':')
        return -1;
    m->val = p = skip_ws(p + 1, end);
    if (!(p = check_value(p, end, 1, &m->kind, &m->val_esc)))
        return -1;
    m->val_n = (size_t)(p - m->val);
    r->p = p;
    return 1;
}
