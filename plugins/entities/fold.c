#include "fold.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Letters that English spelling writes with two letters or another letter.
 * The mapping is applied after case folding and before diacritics are
 * stripped (ş and ç would otherwise become s and c). */
static const char *translit(utf8proc_int32_t cp)
{
    switch (cp) {
    case 0x015F: case 0x0219: return "sh"; /* ş ș */
    case 0x00E7: return "ch";              /* ç */
    case 0x0259: return "a";               /* ə (schwa) */
    case 0x0131: return "i";               /* dotless ı */
    case 0x011F: return "g";               /* ğ */
    case 0x00DF: return "ss";              /* ß */
    case 0x00E6: return "ae";
    case 0x0153: return "oe";
    case 0x00F8: return "o";
    case 0x0142: return "l";
    case 0x0111: case 0x00F0: return "d";
    case 0x00FE: return "th";
    case 'x': return "kh"; /* Azerbaijani x: Xankəndi / Khankendi */
    case 'q': return "g";  /* Azerbaijani q: Qubadli / Gubadli (and Iraq -> irag, both sides) */
    }
    return NULL;
}

/* One code point outside ASCII: lower case, transliteration, then the
 * compatibility decomposition's base letters and digits. */
static size_t fold_cp(utf8proc_int32_t cp, char *out, size_t o, bool *space)
{
    cp = utf8proc_tolower(cp);
    const char *t = translit(cp);
    if (t) {
        size_t tl = strlen(t);
        memcpy(out + o, t, tl);
        *space = false;
        return o + tl;
    }
    /* decompose and keep the base letters/digits; marks go */
    utf8proc_int32_t buf[8];
    utf8proc_ssize_t k = utf8proc_decompose_char(cp, buf, 8, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, NULL);
    if (k < 0)
        return o;
    for (utf8proc_ssize_t j = 0; j < k; j++) {
        utf8proc_category_t c = utf8proc_category(buf[j]);
        bool alnum = (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                     (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
        bool mark = c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME;
        if (mark)
            continue;
        if (buf[j] == '\'' || buf[j] == 0x2019 || buf[j] == 0x02BC)
            continue; /* O'Brien = OBrien, Ma’aloula = Maaloula */
        if (!alnum) {
            if (!*space)
                out[o++] = ' ';
            *space = true;
            continue;
        }
        const char *t2 = translit(utf8proc_tolower(buf[j]));
        if (t2) {
            size_t tl = strlen(t2);
            memcpy(out + o, t2, tl);
            o += tl;
        } else {
            o += (size_t)utf8proc_encode_char(utf8proc_tolower(buf[j]), (utf8proc_uint8_t *)out + o);
        }
        *space = false;
    }
    return o;
}

size_t fold_append(const char *s, size_t n, char *out, size_t o, bool *space)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            /* ASCII, what most names are, without utf8proc: the same rules
             * (letters lower-cased, x and q transliterated, digits kept, the
             * apostrophe dropped, anything else a space) */
            i++;
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + 32);
            if (c == 'x') {
                out[o++] = 'k';
                out[o++] = 'h';
            } else if (c == 'q') {
                out[o++] = 'g';
            } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                out[o++] = (char)c;
            } else if (c != '\'') { /* O'Brien = OBrien */
                if (!*space)
                    out[o++] = ' ';
                *space = true;
                continue;
            } else {
                continue;
            }
            *space = false;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) {
            i++;
            continue;
        }
        i += (size_t)l;
        o = fold_cp(cp, out, o, space);
    }
    return o;
}

size_t fold_name(const char *s, size_t n, char *out)
{
    bool space = true; /* no leading space */
    size_t o = fold_trimmed(out, fold_append(s, n, out, 0, &space));
    out[o] = 0;
    return o;
}

size_t fold_distance(const char *a, size_t na, const char *b, size_t nb, size_t limit)
{
    if ((na > nb ? na - nb : nb - na) > limit)
        return limit + 1;
    /* Only the band |i - j| <= limit of the table can hold values up to
     * limit (a path that leaves it has made more edits), so only the band
     * is computed; cells beside it count as limit + 1, and so does any
     * value above limit. Three rows (a transposition looks two rows back),
     * on the stack for names of ordinary length. */
    const size_t inf = limit + 1;
    size_t w = nb + 1, stack[3 * 128];
    size_t *rows = 3 * w <= sizeof stack / sizeof *stack ? stack : malloc(3 * w * sizeof *rows);
    if (!rows)
        return inf;
    size_t *d2 = rows, *d1 = rows + w, *d = rows + 2 * w; /* rows i - 2, i - 1, i */
    for (size_t j = 0; j <= nb; j++)
        d1[j] = j < inf ? j : inf;
    for (size_t i = 1; i <= na; i++) {
        size_t lo = i > limit ? i - limit : 1, hi = i + limit < nb ? i + limit : nb;
        size_t best_row = inf;
        d[0] = i < inf ? i : inf;
        if (lo > 1)
            d[lo - 1] = inf;
        if (hi < nb)
            d[hi + 1] = inf; /* read by the next row */
        for (size_t j = lo; j <= hi; j++) {
            size_t v = d1[j - 1] + (a[i - 1] != b[j - 1]);
            if (d1[j] + 1 < v)
                v = d1[j] + 1;
            if (d[j - 1] + 1 < v)
                v = d[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d2[j - 2] + 1 < v)
                v = d2[j - 2] + 1;
            d[j] = v < inf ? v : inf;
            if (d[j] < best_row)
                best_row = d[j];
        }
        if (best_row > limit) {
            if (rows != stack)
                free(rows);
            return inf;
        }
        size_t *t = d2;
        d2 = d1, d1 = d, d = t;
    }
    size_t r = d1[nb];
    if (rows != stack)
        free(rows);
    return r;
}
