/* Sparse vectors of term weights, sorted by term, for cosines and centroids. */
#ifndef STORIES_VEC_H
#define STORIES_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sv {
    uint32_t *t; /* terms, ascending */
    float *w;    /* weights */
    uint32_t n, cap;
} sv;

void sv_free(sv *v);
void sv_clear(sv *v);
bool sv_reserve(sv *v, uint32_t n);
/* Appends (term, w) unsorted; sv_sort puts the vector in order and adds up
 * repeated terms. */
bool sv_push(sv *v, uint32_t term, float w);
void sv_sort(sv *v);
double sv_dot(const sv *a, const sv *b);
double sv_norm(const sv *v);
void sv_scale(sv *v, float k);
/* dst = dst + k * src (both sorted). */
bool sv_add(sv *dst, const sv *src, float k);
/* Keeps the `keep` largest weights (stays sorted by term). */
void sv_truncate(sv *v, uint32_t keep);
/* Gives back the capacity a merge left unused (a centroid is kept for days:
 * its slack would be most of its memory). */
void sv_shrink(sv *v);
/* The weight of one term, 0 when absent (binary search). */
float sv_get(const sv *v, uint32_t term);
bool sv_copy(sv *dst, const sv *src);
/* Bytes held, for the memory report. */
size_t sv_bytes(const sv *v);

#endif
