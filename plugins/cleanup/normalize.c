/* Character-level repair. Text is scanned once; ASCII bytes (most of any
 * English article) are skipped at once; each change is one small edit, so
 * annotations made before cleanup stay on their words. */
#include "normalize.h"

#include "bytes.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Windows-1252 bytes 0x80..0x9F, as Unicode (0 where cp1252 has no char). */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

/* The Windows-1252 byte of code point cp, or -1. */
static int cp1252_byte(int32_t cp)
{
    if (cp >= 0xA0 && cp <= 0xFF)
        return cp;
    if (cp >= 0x80 && cp <= 0x9F) /* C1 controls: what a Latin-1 decoder leaves */
        return cp;
    for (int i = 0; i < 32; i++)
        if (cp1252_high[i] == cp)
            return 0x80 + i;
    return -1;
}

static int32_t decode(const char *s, size_t n, size_t i, size_t *len)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) { /* the host guarantees valid UTF-8; be safe anyway */
        *len = 1;
        return 0xFFFD;
    }
    *len = (size_t)k;
    return cp;
}

/* UTF-8 that was decoded as Windows-1252 and encoded again ("Ã©" for "é",
 * "â€™" for "’"): a lead char U+00C2..U+00F4 followed by chars whose cp1252
 * bytes are UTF-8 continuation bytes. Returns the old length consumed and
 * writes the repaired UTF-8 into out (up to 4 bytes), or 0. */
static size_t mojibake_at(const char *s, size_t n, size_t i, int32_t lead, size_t lead_len,
                          char *out, size_t *out_len)
{
    if (lead < 0xC2 || lead > 0xF4)
        return 0;
    size_t need = lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
    unsigned char bytes[4] = {(unsigned char)lead};
    size_t j = i + lead_len;
    for (size_t k = 1; k <= need; k++) {
        if (j >= n)
            return 0;
        size_t l;
        int32_t cp = decode(s, n, j, &l);
        int b = cp1252_byte(cp);
        if (b < 0x80 || b > 0xBF)
            return 0;
        bytes[k] = (unsigned char)b;
        j += l;
    }
    utf8proc_int32_t fixed;
    if (utf8proc_iterate(bytes, (utf8proc_ssize_t)(need + 1), &fixed) != (utf8proc_ssize_t)(need + 1))
        return 0;
    memcpy(out, bytes, need + 1);
    *out_len = need + 1;
    return j - i;
}

static bool is_space_cp(int32_t cp)
{
    return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* Invisible characters that carry nothing in prose: zero-width space, BOM,
 * soft hyphen, word joiner. (Zero-width joiners stay: scripts and emoji
 * need them.) */
static bool is_invisible(int32_t cp)
{
    return cp == 0x200B || cp == 0xFEFF || cp == 0xAD || cp == 0x2060;
}

static const char *typographic(int32_t cp)
{
    switch (cp) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: return "'";
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: return "\"";
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:
    case 0x2212: return "-";
    case 0x2026: return "...";
    }
    return NULL;
}

/* The cache slot for s[a, b), or NULL when the run is too long to keep. */
static unsigned char *cache_slot(norm_cache *nc, const char *s, size_t a, size_t b, char **bytes)
{
    if (!nc || b - a > NORM_CACHE_BYTES)
        return NULL;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = a; i < b; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    size_t k = (h ^ h >> 16) % NORM_CACHE_SLOTS;
    *bytes = nc->slot[k].bytes;
    return &nc->slot[k].len;
}

/* Normalises s[a, b) (a run of non-ASCII text, with the ASCII letter before
 * it that a combining mark may attach to) and records it if it changes. */
static void normalize_run(ed *e, const char *s, size_t a, size_t b, const norm_opts *o,
                          norm_counts *c)
{
    char *cached;
    unsigned char *len = cache_slot(o->cache, s, a, b, &cached);
    if (len && *len == b - a && memcmp(cached, s + a, b - a) == 0)
        return; /* seen before, and normalising left it as it is */
    utf8proc_uint8_t *out = NULL;
    int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (o->form == NORM_NFKC ? UTF8PROC_COMPAT : 0);
    utf8proc_ssize_t k =
        utf8proc_map((const utf8proc_uint8_t *)s + a, (utf8proc_ssize_t)(b - a), &out, opts);
    if (k >= 0 && ((size_t)k != b - a || memcmp(out, s + a, b - a) != 0)) {
        ed_replace(e, a, b, (const char *)out, (size_t)k);
        c->normalized++;
    } else if (k >= 0 && len) {
        *len = (unsigned char)(b - a);
        memcpy(cached, s + a, b - a);
    }
    free(out);
}

void normalize_chars(ed *e, const char *s, size_t n, const norm_opts *o, norm_counts *c)
{
    /* Each run of non-ASCII characters is repaired character by character;
     * the stretches between repairs are normalised as a whole, since
     * composition joins a character with the marks that follow it. */
    size_t i = 0;
    while (i < n) {
        i += bytes_printable_prefix(s + i, n - i);
        if (i == n)
            break;
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) { /* ASCII control characters */
            if (ch == '\n' || ch == '\t') {
                i++;
                continue;
            }
            if (ch == '\r') {
                bool crlf = i + 1 < n && s[i + 1] == '\n';
                if (o->controls)
                    ed_replace(e, i, i + 1, crlf ? "" : "\n", crlf ? 0 : 1);
                i++;
                continue;
            }
            if (o->controls) {
                bool page = ch == '\v' || ch == '\f';
                ed_replace(e, i, i + 1, page ? "\n" : "", page ? 1 : 0);
                c->controls++;
            }
            i++;
            continue;
        }
        /* a run of non-ASCII characters, from the ASCII letter before it */
        size_t run_start = i > 0 && ((s[i - 1] | 0x20) >= 'a' && (s[i - 1] | 0x20) <= 'z') ? i - 1 : i;
        if (run_start < e->kept_from)
            run_start = i;
        size_t j = i;
        while (j < n && ((unsigned char)s[j] >= 0x80)) {
            size_t l;
            int32_t cp = decode(s, n, j, &l);
            char fix[8];
            size_t fix_len = 0, used = 0;
            const char *rep = NULL;
            if (o->mojibake && (used = mojibake_at(s, n, j, cp, l, fix, &fix_len))) {
                rep = fix;
                c->mojibake++;
            } else if (o->spaces && is_space_cp(cp)) {
                rep = " ", fix_len = 1, used = l;
                c->spaces++;
            } else if (o->spaces && (cp == 0x2028 || cp == 0x2029 || cp == 0x85)) {
                rep = "\n", fix_len = 1, used = l;
                c->spaces++;
            } else if (o->controls && (is_invisible(cp) || (cp >= 0x80 && cp <= 0x9F))) {
                rep = "", fix_len = 0, used = l;
                c->controls++;
            } else if (o->typography && (rep = typographic(cp))) {
                fix_len = strlen(rep), used = l;
                c->typography++;
            }
            if (rep) {
                /* normalise what came before in this run, then repair */
                if (o->form && j > run_start)
                    normalize_run(e, s, run_start, j, o, c);
                ed_replace(e, j, j + used, rep, fix_len);
                j += used;
                run_start = j;
                continue;
            }
            j += l;
        }
        if (o->form && j > run_start)
            normalize_run(e, s, run_start, j, o, c);
        i = j;
    }
}

static bool blank(char ch) { return ch == ' ' || ch == '\t'; }

void fold_line_spaces(ed *e, const char *s, size_t a, size_t b)
{
    size_t i = a;
    while (i < b && blank(s[i]))
        i++;
    if (i > a)
        ed_replace(e, a, i, "", 0);
    size_t end = b;
    while (end > i && blank(s[end - 1]))
        end--;
    while (i < end) {
        if (!blank(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < end && blank(s[j]))
            j++;
        if (j - i > 1 || s[i] != ' ')
            ed_replace(e, i, j, " ", 1);
        i = j;
    }
    if (end < b)
        ed_replace(e, end, b, "", 0);
}
