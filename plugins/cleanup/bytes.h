/* The byte loops that every byte of every document goes through, kept in
 * one place: sixteen bytes at a time with SSE2 (every x86-64 has it), one at
 * a time elsewhere, with the same results. */
#ifndef CLEANUP_BYTES_H
#define CLEANUP_BYTES_H

#include <stdbool.h>
#include <stddef.h>

/* The length of the longest prefix of s[0, n) that is printable ASCII
 * (0x20..0x7E), which character repair leaves as it is. */
size_t bytes_printable_prefix(const char *s, size_t n);

/* Whether line[0, n) is already folded: not empty, no tab, no space at either
 * end, no two spaces in a row. Then *words is its spaces plus one. */
bool bytes_line_folded(const char *line, size_t n, size_t *words);

/* dst[0, n) = src[0, n) with ASCII capitals in lower case and ASCII digits
 * as '0' (line hashing: "12 comments" = "7 comments"). */
void bytes_fold_case_digits(char *dst, const char *src, size_t n);

/* Copies src[0, n) into dst with ASCII capitals in lower case, up to the
 * first byte >= 0x80; returns how many bytes were copied. */
size_t bytes_lower_ascii(char *dst, const char *src, size_t n);

/* The index of the first a or b in s[0, n), or n. */
size_t bytes_find2(const char *s, size_t n, char a, char b);

/* Whether s[0, n) is all ASCII (no byte >= 0x80). */
bool bytes_is_ascii(const char *s, size_t n);

#endif
