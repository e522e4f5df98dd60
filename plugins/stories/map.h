/* An open-addressing hash map from 64-bit keys to 64-bit values, with
 * deletion (backward shift: no tombstones, so lookups stay short however
 * many stories open and close). Key 0 is reserved; callers hash into 1.. */
#ifndef STORIES_MAP_H
#define STORIES_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_map {
    uint64_t *k, *v;
    size_t cap, n;
} st_map;

void st_map_free(st_map *m);
/* The value slot of key, or NULL when absent. */
uint64_t *st_map_get(const st_map *m, uint64_t key);
/* Sets key to value; false when memory runs out. */
bool st_map_put(st_map *m, uint64_t key, uint64_t value);
void st_map_del(st_map *m, uint64_t key);
size_t st_map_bytes(const st_map *m);

#endif
