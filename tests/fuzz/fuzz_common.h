/* Helpers shared by the libFuzzer targets: quiet logging, plugins kept
 * loaded for the whole process, a pipeline built from YAML text, scratch
 * files in /dev/shm, and the checks every document must pass after a step. */
#ifndef TM_FUZZ_COMMON_H
#define TM_FUZZ_COMMON_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Silences the host's log and loads every built-in plugin once, never to be
 * unloaded: libFuzzer keeps pointers to each module's coverage counters, so
 * a plugin must not be dlclose()d while the fuzzer runs. */
void fz_setup(void);

/* A scratch file name in /dev/shm (else /tmp), unique to this process:
 * "<dir>/tm-fuzz-<pid>-<tag>". malloc'd. Removed at exit. */
char *fz_scratch_path(const char *tag);
/* Writes the bytes to `path` (truncating); aborts when it cannot. */
void fz_write_file(const char *path, const void *data, size_t size);

/* Parses `yaml` as a pipeline file and loads its plugins; aborts on error
 * (the target's own pipeline is wrong, not the input). */
tm_pipeline *fz_pipeline(const char *yaml);

/* Aborts (a crash for libFuzzer) when a document breaks the document
 * model's promises: text is valid UTF-8, annotations lie inside the text on
 * UTF-8 boundaries and are sorted by (start, end), string metadata is valid
 * UTF-8. `who` names the step in the message. */
void fz_check_doc(const tm_doc *d, const char *who);

/* Frees the documents of a batch and its array. */
void fz_batch_free(tm_batch *b);

#endif
