/* The report sink's parts: a string-keyed table for what it counts (table.c)
 * and the HTML page drawn from the report's JSON (html.c). */
#ifndef REPORT_REPORT_H
#define REPORT_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <textmill/plugin.h>

#define REPORT_GENERATOR "textmill report"
#define REPORT_VERSION "1.1.0"

/* ---- table.c ---------------------------------------------------------------------- */

/* Every entry of a table starts with this header; the key is a copy,
 * NUL-terminated, and may itself hold NUL bytes (len says how long). */
typedef struct rkey {
    char *key;
    size_t len;
    uint64_t hash;
    size_t seq; /* insertion order, for stable ties */
} rkey;

/* Open addressing over an array of entries kept in insertion order. Memory
 * grows with the number of distinct keys only. */
typedef struct rtable {
    const tm_host *host;
    rkey **items; /* in insertion order */
    size_t n, cap;
    uint32_t *slots; /* index + 1 into items; 0 is empty */
    size_t n_slots;  /* a power of two */
} rtable;

void rtable_init(rtable *t, const tm_host *h);
/* The entry for key, or NULL when absent. */
void *rtable_find(const rtable *t, const char *key, size_t len);
/* The entry for key; a missing one is added zeroed, `size` bytes long (at
 * least sizeof(rkey)). NULL when memory runs out. */
void *rtable_intern(rtable *t, const char *key, size_t len, size_t size);
/* Frees every entry (after `each`, when not NULL, released its contents). */
void rtable_free(rtable *t, void (*each)(const tm_host *h, void *entry));
/* The entries sorted by `cmp` (on pointers to entry pointers), in memory
 * from host->alloc; NULL when the table is empty or memory runs out. */
void **rtable_sorted(const rtable *t, int (*cmp)(const void *, const void *));

/* A copy of s[0..n) as valid UTF-8 for display: invalid bytes become
 * U+FFFD, control characters spaces, and the text is cut (on a character
 * boundary, with "…") after `max` bytes (max 0: no limit). NULL when out of
 * memory. */
char *report_clean(const tm_host *h, const char *s, size_t n, size_t max);
/* The same into `out`, which holds REPORT_CLEAN_SIZE(n) bytes (an invalid
 * byte grows to three, and "…" and the NUL follow); returns the length. */
size_t report_clean_into(char *out, const char *s, size_t n, size_t max);
#define REPORT_CLEAN_SIZE(n) (3 * (size_t)(n) + 4)

/* ---- html.c ----------------------------------------------------------------------- */

/* Writes the report page for `report` (the JSON the sink built) to fp:
 * inline CSS and SVG charts, no script, no network. TM_OK or TM_ENOMEM;
 * write errors show up in ferror(fp), which outfile_finish reports. */
int report_html(FILE *fp, const cJSON *report);

#endif
