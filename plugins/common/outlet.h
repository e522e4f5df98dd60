/* Where a document was published and on which day, read from its metadata
 * the same way by every sink that groups documents by outlet or date (the
 * report's sources and stories, the sqlite sink's per-story rows), so that
 * the page and the database count the same outlets and the same days.
 * Header-only: the sinks that need it already share this directory's
 * include path, and the functions are small. */
#ifndef TM_COMMON_OUTLET_H
#define TM_COMMON_OUTLET_H

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* s[0..*n) without leading and trailing ASCII white space. */
static inline const char *outlet_trim(const char *s, size_t *n)
{
    const char *end = s + *n;
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *n = (size_t)(end - s);
    return s;
}

/* YYYY-MM-DD from a date (a time after 'T' or a space is ignored) into
 * day[11]; false, with day "", when it does not start with a plausible day:
 * anything else counts as undated rather than sorting as a bogus date. */
static inline bool outlet_day(const char *v, size_t n, char day[11])
{
    day[0] = 0;
    if (!v)
        return false;
    v = outlet_trim(v, &n);
    if (n < 10 || (n > 10 && v[10] != 'T' && v[10] != ' '))
        return false;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? v[i] != '-' : !isdigit((unsigned char)v[i]))
            return false;
    int month = (v[5] - '0') * 10 + v[6] - '0', mday = (v[8] - '0') * 10 + v[9] - '0';
    if (month < 1 || month > 12 || mday < 1 || mday > 31)
        return false;
    memcpy(day, v, 10);
    day[10] = 0;
    return true;
}

/* The host name of a URL into out (at least n bytes): lower case, without
 * user, port and a leading "www.", so that links to one site from several
 * feeds name one outlet. 0 when the URL has no host. */
static inline size_t outlet_url_host(const char *url, size_t n, char *out)
{
    const char *end = url + n, *p = NULL;
    for (const char *q = url; q + 3 <= end; q++)
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            p = q + 3;
            break;
        }
    if (!p)
        return 0;
    const char *stop = p;
    while (stop < end && *stop != '/' && *stop != '?' && *stop != '#')
        stop++;
    for (const char *at = p; at < stop; at++)
        if (*at == '@')
            p = at + 1;
    const char *h_end = p;
    if (p < stop && *p == '[') /* an IPv6 literal keeps its colons */
        while (h_end < stop && *h_end != ']')
            h_end++;
    while (h_end < stop && *h_end != ':')
        h_end++;
    if (h_end - p > 4 && (p[0] | 0x20) == 'w' && (p[1] | 0x20) == 'w' && (p[2] | 0x20) == 'w' &&
        p[3] == '.')
        p += 4;
    size_t k = 0;
    for (; p < h_end; p++)
        out[k++] = (char)tolower((unsigned char)*p);
    return k;
}

/* The outlet of a document: its source (trimmed), else the host of its URL;
 * NULL when it has neither. The result points into source, or into out
 * (url_n bytes at least), with its length in *len. */
static inline const char *outlet_of(const char *source, size_t source_n, const char *url,
                                    size_t url_n, char *out, size_t *len)
{
    if (source && (source = outlet_trim(source, &source_n), source_n)) {
        *len = source_n;
        return source;
    }
    if (url && (*len = outlet_url_host(url, url_n, out)))
        return out;
    return NULL;
}

#endif
