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

size_t fold_name(const char *s, size_t n, char *out)
{
    size_t o = 0;
    bool space = true; /* no leading space */
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) {
            i++;
            continue;
        }
        i += (size_t)l;
        cp = utf8proc_tolower(cp);
        const char *t = translit(cp);
        if (t) {
            size_t tl = strlen(t);
            memcpy(out + o, t, tl);
            o += tl;
            space = false;
            continue;
        }
        /* decompose and keep the base letters/digits; marks go */
        utf8proc_int32_t buf[8];
        utf8proc_ssize_t k = utf8proc_decompose_char(cp, buf, 8, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, NULL);
        if (k < 0)
            continue;
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
                if (!space)
                    out[o++] = ' ';
                space = true;
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
            space = false;
        }
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = 0;
    return o;
}

size_t fold_distance(const char *a, size_t na, const char *b, size_t nb, size_t limit)
{
    if ((na > nb ? na - nb : nb - na) > limit)
        return limit + 1;
    size_t w = nb + 1;
    size_t *d = malloc((na + 1) * w * sizeof *d);
    if (!d)
        return limit + 1;
    for (size_t i = 0; i <= na; i++)
        d[i * w] = i;
    for (size_t j = 0; j <= nb; j++)
        d[j] = j;
    size_t best_row = 0;
    for (size_t i = 1; i <= na; i++) {
        best_row = (size_t)-1;
        for (size_t j = 1; j <= nb; j++) {
            size_t v = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
            if (d[(i - 1) * w + j] + 1 < v)
                v = d[(i - 1) * w + j] + 1;
            if (d[i * w + j - 1] + 1 < v)
                v = d[i * w + j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[(i - 2) * w + j - 2] + 1 < v)
                v = d[(i - 2) * w + j - 2] + 1;
            d[i * w + j] = v;
            if (v < best_row)
                best_row = v;
        }
        if (best_row > limit) {
            free(d);
            return limit + 1;
        }
    }
    size_t r = d[na * w + nb];
    free(d);
    return r;
}
