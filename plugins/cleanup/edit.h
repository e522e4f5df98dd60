/* Building a new text from an old one, left to right, while recording the
 * offset map (tm_edit) that lets the host keep annotations on their words.
 * Unchanged bytes are copied lazily, so a document with few changes costs
 * one pass and a few memcpy calls. */
#ifndef CLEANUP_EDIT_H
#define CLEANUP_EDIT_H

#include "textmill/plugin.h"

#include <stdbool.h>

typedef struct ed {
    const tm_host *host;
    const char *old;
    size_t old_len;
    size_t kept_from;  /* old bytes [kept_from, next change) are copied as they are */
    char *out;
    size_t len, cap;
    tm_edit *edits;
    size_t n, cap_edits;
    bool failed; /* out of memory: sticky */
} ed;

void ed_init(ed *e, const tm_host *host, const char *old, size_t old_len);
/* Starts over on a new old text, keeping the buffers (one ed serves every
 * document: no allocation per document once they are large enough). */
void ed_reset(ed *e, const char *old, size_t old_len);
/* Replaces old[at, old_end) by bytes[0, n). Calls must move left to right
 * (at >= the end of the previous replacement). */
void ed_replace(ed *e, size_t at, size_t old_end, const char *bytes, size_t n);
/* Copies the rest; true if anything changed. The text is NUL-terminated. */
bool ed_finish(ed *e);
void ed_free(ed *e);

#endif
