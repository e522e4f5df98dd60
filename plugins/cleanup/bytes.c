#include "bytes.h"

#ifdef __SSE2__
#include <emmintrin.h>

/* Signed byte compares: bytes >= 0x80 are negative, below every ASCII range. */
static __m128i between(__m128i v, char lo, char hi)
{
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8((char)(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8((char)(hi + 1))));
}
#endif

size_t bytes_printable_prefix(const char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        /* < 0x20 signed: the controls and every byte >= 0x80 */
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                   _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F)
        i++;
    return i;
}

bool bytes_line_folded(const char *line, size_t n, size_t *words)
{
    if (n == 0 || line[0] == ' ' || line[n - 1] == ' ')
        return false;
    size_t spaces = 0, i = 0;
    bool bad = false, last = false; /* last: the byte before i is a space */
#ifdef __SSE2__
    unsigned prev = 0;
    while (i + 16 <= n) {
        /* spaces are counted per byte lane in acc (as 0 - -1 - -1 ...), which
         * holds 255 at most, then summed */
        __m128i acc = _mm_setzero_si128();
        size_t stop = i + 16 * 255 < n ? i + 16 * 255 : n;
        for (; i + 16 <= stop; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(line + i));
            __m128i sp = _mm_cmpeq_epi8(v, _mm_set1_epi8(' '));
            unsigned m = (unsigned)_mm_movemask_epi8(sp);
            unsigned tab = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));
            bad |= (tab | (m & ((m << 1) | prev))) != 0;
            prev = m >> 15;
            acc = _mm_sub_epi8(acc, sp);
        }
        __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
        spaces += (size_t)_mm_cvtsi128_si32(sums) + (size_t)_mm_extract_epi16(sums, 4);
    }
    last = prev != 0;
#endif
    for (; i < n; i++) {
        bool sp = line[i] == ' ';
        bad |= line[i] == '\t' || (sp && last);
        spaces += sp;
        last = sp;
    }
    if (bad)
        return false;
    *words = spaces + 1;
    return true;
}

void bytes_fold_case_digits(char *dst, const char *src, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        v = _mm_add_epi8(v, _mm_and_si128(between(v, 'A', 'Z'), _mm_set1_epi8(0x20)));
        /* '0'..'9' are 0x30..0x39: clearing the low four bits makes '0' */
        v = _mm_andnot_si128(_mm_and_si128(between(v, '0', '9'), _mm_set1_epi8(0x0F)), v);
        _mm_storeu_si128((__m128i *)(dst + i), v);
    }
#endif
    for (; i < n; i++) {
        char c = src[i];
        dst[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : (c >= '0' && c <= '9') ? '0' : c;
    }
}

size_t bytes_lower_ascii(char *dst, const char *src, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        if (_mm_movemask_epi8(v))
            break;
        v = _mm_add_epi8(v, _mm_and_si128(between(v, 'A', 'Z'), _mm_set1_epi8(0x20)));
        _mm_storeu_si128((__m128i *)(dst + i), v);
    }
#endif
    for (; i < n && (unsigned char)src[i] < 0x80; i++)
        dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? (char)(src[i] + 32) : src[i];
    return i;
}

size_t bytes_find2(const char *s, size_t n, char a, char b)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(a)), _mm_cmpeq_epi8(v, _mm_set1_epi8(b))));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (i < n && s[i] != a && s[i] != b)
        i++;
    return i;
}

bool bytes_is_ascii(const char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16)
        if (_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(s + i))))
            return false;
#endif
    for (; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}
