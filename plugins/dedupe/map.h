/* A small open-addressing map from non-zero 64-bit keys to 32-bit values,
 * for the paragraph table and the story statistics. */
#ifndef DEDUPE_MAP_H
#define DEDUPE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct u64map {
    uint64_t *keys; /* 0: empty */
    uint32_t *vals;
    size_t cap, used;
} u64map;

/* The value of key; with add, a missing key is added with value `init`.
 * NULL when absent (or out of memory while adding). */
uint32_t *u64map_get(u64map *m, uint64_t key, bool add, uint32_t init);
void u64map_free(u64map *m);

#endif
