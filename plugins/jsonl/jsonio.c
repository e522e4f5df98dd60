/* Helpers shared by the jsonl source and sink; see jsonio.h. */
#include "jsonio.h"

#include <utf8proc.h>

#include <stdint.h>
#include <string.h>

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

void jio_put(jio_buf *b, const void *s, size_t n)
{
    const char *p = s;
    if (b->failed)
        return;
    if (!b->drain && n > b->cap - b->len) {
        /* grow geometrically so that appending stays linear overall */
        size_t want = b->len + n, cap = b->cap ? b->cap : 256;
        while (cap < want)
            cap = cap > SIZE_MAX / 2 ? want : cap * 2;
        char *g = b->host->realloc(b->data, cap);
        if (!g) {
            b->failed = true;
            return;
        }
        b->data = g;
        b->cap = cap;
    }
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

void jio_put_string(jio_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    jio_putc(b, '"');
    while (p < end) {
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
            p += 8;
        }
        if (p >= end)
            break;
        unsigned char cls = byte_class[*p];
        if (cls == 0) {
            p++;
            continue;
        }
        if (cls == 2) {
            size_t k = jio_utf8_seq(p, (size_t)(end - p));
            if (k) {
                p += k;
                continue;
            }
        }
        /* copy the clean run, then the escape for this byte */
        jio_put(b, run, (size_t)(p - run));
        switch (*p) {
        case '"': jio_put(b, "\\\"", 2); break;
        case '\\': jio_put(b, "\\\\", 2); break;
        case '\n': jio_put(b, "\\n", 2); break;
        case '\t': jio_put(b, "\\t", 2); break;
        case '\r': jio_put(b, "\\r", 2); break;
        default:
            if (cls == 2) {
                jio_put(b, "\\ufffd", 6);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
                jio_put(b, u, 6);
            }
        }
        run = ++p;
    }
    jio_put(b, run, (size_t)(p - run));
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

bool jio_is_number(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return false;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p))
            p++;
    }
    return p == end;
}

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
