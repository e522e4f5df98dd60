/* A mention while the entities stage works on one document: a span of the
 * text, its type, its score and where its canonical name comes from. */
#ifndef ENTITIES_MENTION_H
#define ENTITIES_MENTION_H

#include "gazetteer.h"

#include <stdbool.h>
#include <stddef.h>

enum { T_PER, T_ORG, T_LOC, T_MISC };

typedef struct mention {
    size_t start, end; /* bytes of the text, end exclusive */
    int type;          /* T_*, or -1: dropped */
    double score;
    const gz_entry *entry; /* canonical source, if any */
    char *canonical;       /* else this (malloc), or NULL: the text as printed */
    bool from_gaz;
} mention;

#endif
