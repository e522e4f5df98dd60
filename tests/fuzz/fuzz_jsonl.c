/* The jsonl source on arbitrary bytes, through its public interface: the
 * bytes are written to a scratch file (in /dev/shm), and a fresh instance
 * reads it (init, process until TM_END with a small batch budget so that
 * batches end mid-file, fini). Plain, gzip and zstd input are told apart by
 * the source itself from the first bytes. Every document read must keep
 * the document model's promises. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS 100000 /* a source that never ends is a bug too */

static tm_pipeline *pipe_;
static char *input;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_setup();
    input = fz_scratch_path("input.jsonl");
    fz_write_file(input, "", 0);
    char *q = tm__yaml_quote(input);
    char *yaml = tm__xasprintf("version: 1\nsource: {use: jsonl, with: {paths: [%s]}}\n"
                               "sinks: [{use: jsonl, with: {path: unused-out.jsonl}}]\n",
                               q);
    pipe_ = fz_pipeline(yaml);
    free(yaml);
    free(q);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write_file(input, data, size);
    tm_step *s = &pipe_->steps[0];
    const tm_plugin *d = s->plugin.desc;
    tm_ctx c;
    tm__ctx_init(&c, pipe_, s);
    void *state = NULL;
    if (d->init(&c, &tm__host, s->config, &state) != TM_OK) {
        fprintf(stderr, "fuzz: jsonl: init failed: %s\n", c.error ? c.error : "?");
        abort();
    }
    int rc = TM_OK;
    for (int calls = 0; rc == TM_OK; calls++) {
        if (calls == MAX_CALLS) {
            fprintf(stderr, "fuzz: jsonl: no TM_END after %d calls\n", calls);
            abort();
        }
        tm_batch b = {NULL, 0, 4096};
        c.batch = &b;
        c.emitted_bytes = 0;
        rc = d->process(state, &c, &b);
        c.batch = NULL;
        tm__ctx_settle(&c, &b);
        for (size_t i = 0; i < b.n; i++)
            fz_check_doc(b.docs[i], "jsonl source");
        fz_batch_free(&b);
    }
    if (d->fini)
        d->fini(state);
    tm__ctx_free(&c);
    return 0;
}
