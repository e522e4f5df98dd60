#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static tm_loaded *kept; /* reachable until exit: LeakSanitizer does not count it */
static size_t n_kept;
static char **scratch;
static size_t n_scratch;

static void remove_scratch(void)
{
    for (size_t i = 0; i < n_scratch; i++) {
        unlink(scratch[i]);
        free(scratch[i]);
    }
    free(scratch);
    scratch = NULL;
    n_scratch = 0;
}

void fz_setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    tm__log_level = -1; /* errors about the input are expected, by the thousand */
    unsetenv("TEXTMILL_PLUGIN_PATH"); /* the built-in plugins, nothing else */
    tm_search s = {0};
    tm__search_init(&s, NULL, 0);
    n_kept = tm__plugin_list(&s, &kept);
    tm__search_free(&s);
    if (n_kept == 0) {
        fprintf(stderr, "fuzz: no built-in plugins found beside %s\n",
                tm__builtin_plugin_dir() ? tm__builtin_plugin_dir() : "(unknown)");
        abort();
    }
    atexit(remove_scratch);
}

char *fz_scratch_path(const char *tag)
{
    struct stat st;
    const char *dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    char *p = tm__xasprintf("%s/tm-fuzz-%ld-%s", dir, (long)getpid(), tag);
    scratch = tm__xrealloc(scratch, (n_scratch + 1) * sizeof *scratch);
    scratch[n_scratch++] = tm__xstrdup(p);
    return p;
}

void fz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

tm_pipeline *fz_pipeline(const char *yaml)
{
    char *path = fz_scratch_path("pipeline.yaml");
    fz_write_file(path, yaml, strlen(yaml));
    char *err = NULL;
    tm_pipeline *p = tm__pipeline_parse(path, NULL, 0, &err);
    if (!p) {
        fprintf(stderr, "fuzz: bad target pipeline: %s\n%s", err, yaml);
        abort();
    }
    int saved = tm__log_level;
    tm__log_level = TM_LOG_ERROR;
    if (tm__pipeline_load_plugins(p) != 0) {
        fprintf(stderr, "fuzz: cannot load the target pipeline's plugins:\n%s", yaml);
        abort();
    }
    tm__log_level = saved;
    free(path);
    return p;
}

static int valid_utf8(const char *s, size_t n)
{
    return tm__utf8_valid_prefix(s, n) == n;
}

static int boundary(const char *s, size_t len, size_t off)
{
    return off == len || ((unsigned char)s[off] & 0xC0) != 0x80;
}

void fz_check_doc(const tm_doc *d, const char *who)
{
    const char *why = NULL;
    if (!d->id || !valid_utf8(d->id, d->id_len))
        why = "id missing or not UTF-8";
    else if (!d->text || !valid_utf8(d->text, d->text_len))
        why = "text is not valid UTF-8";
    else if (d->text[d->text_len] != 0)
        why = "text is not NUL-terminated";
    for (size_t i = 0; !why && i < d->n_annotations; i++) {
        const tm_annotation *a = &d->annotations[i];
        if (a->start > a->end || a->end > d->text_len)
            why = "annotation outside the text";
        else if (!boundary(d->text, d->text_len, a->start) ||
                 !boundary(d->text, d->text_len, a->end))
            why = "annotation not on UTF-8 boundaries";
        else if (!a->type)
            why = "annotation without type";
        else if (i > 0 && (d->annotations[i - 1].start > a->start ||
                           (d->annotations[i - 1].start == a->start &&
                            d->annotations[i - 1].end > a->end)))
            why = "annotations not sorted";
    }
    for (size_t i = 0; !why && i < d->n_meta; i++) {
        const tm_meta *m = &d->meta[i];
        if (!m->key)
            why = "metadata without key";
        else if (m->type == TM_META_STRING && (!m->value || !valid_utf8(m->value, m->len)))
            why = "string metadata not valid UTF-8";
    }
    if (why) {
        fprintf(stderr, "fuzz: after %s, document '%.*s': %s\n", who, (int)d->id_len, d->id,
                why);
        abort();
    }
}

void fz_batch_free(tm_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        tm__doc_free(b->docs[i]);
    free(b->docs);
    b->docs = NULL;
    b->n = 0;
}
