/* textmill-stories: trains and measures the stories stage's model outside a
 * pipeline, on labelled JSONL ({"id", "text", "meta": {"title", "date",
 * "source"}, "annotations": [...], "story": GOLD}), through the same
 * clusterer the stage links (plugins/stories/cluster.c).
 *
 *   textmill-stories features MODEL_DIR DATA.jsonl [WINDOW]   > rows.tsv
 *       the gold stream: every document joins its gold story; for each
 *       candidate story the index finds, one row "label set f0 f1 ...";
 *       then a last line "# retrieval FOUND OPEN" (gold stories found by
 *       the index / gold stories open)
 *   textmill-stories cluster MODEL_DIR DATA.jsonl [WINDOW [THRESHOLD]]  > id<TAB>story
 *   textmill-stories pairs MODEL_DIR PAIRS.jsonl [WINDOW]     > probability per line
 *       each line {"a": DOC, "b": DOC}: a fresh stream of a then b; the
 *       probability that b joins a's story (0 when the index finds none)
 *   textmill-stories df DATA.jsonl...                         > df table
 *       document frequencies of stems and names (the model's prior)
 */
#include "cluster.h"
#include "terms.h"

#include <cjson/cJSON.h>
#include <libstemmer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct doc {
    cJSON *json;
    st_input in;
    st_name *names;
    const char *gold;
} doc;

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse(const char *line, doc *d)
{
    memset(d, 0, sizeof *d);
    d->json = cJSON_Parse(line);
    if (!d->json)
        return -1;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(d->json, "meta");
    const char *text = str_of(d->json, "text"), *title = str_of(meta, "title");
    const char *date = str_of(meta, "date");
    d->in.id = str_of(d->json, "id");
    d->in.body = text ? text : "";
    d->in.body_len = strlen(d->in.body);
    d->in.title = title ? title : "";
    d->in.title_len = strlen(d->in.title);
    d->in.date = date ? st_parse_date(date, strlen(date)) : ST_NO_DATE;
    d->in.source = str_of(meta, "source");
    d->in.copy_of = str_of(meta, "duplicate_of");
    d->gold = str_of(d->json, "story");
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(d->json, "annotations"), *a;
    size_t n = 0;
    d->names = calloc((size_t)cJSON_GetArraySize(an) + 1, sizeof *d->names);
    cJSON_ArrayForEach(a, an)
    {
        const char *type = str_of(a, "type"), *canon = str_of(a, "canonical");
        if (!type || (strcmp(type, "PER") && strcmp(type, "ORG") && strcmp(type, "LOC") &&
                      strcmp(type, "MISC")))
            continue;
        if (!canon)
            canon = str_of(a, "label");
        if (canon)
            d->names[n++] = (st_name){canon, strlen(canon), !strcmp(type, "PER")};
    }
    d->in.n_names = n;
    d->in.names = d->names;
    return d->in.id ? 0 : -1;
}

static void doc_free(doc *d)
{
    cJSON_Delete(d->json);
    free(d->names);
}

static void row(void *arg, const double *f, int set, bool positive)
{
    (void)arg;
    printf("%d\t%d", positive, set);
    for (int i = 0; i < ST_NF; i++)
        printf("\t%.6g", f[i]);
    printf("\n");
}

static char *read_line(FILE *f, char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, f);
    return n < 0 ? NULL : *buf;
}

static st_engine *engine(const st_model *m, int window, double threshold)
{
    st_params p = {.window_days = window, .max_open = 100000, .threshold = threshold};
    return st_engine_new(&p, m);
}

static int count_df_table(int argc, char **argv)
{
    st_terms *t = st_terms_new();
    struct sb_stemmer *stem = sb_stemmer_new("english", NULL);
    /* counts by string: a line per document per distinct stem; sort | uniq
     * -c outside is simplest and exact */
    for (int i = 0; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        char *line = NULL;
        size_t cap = 0;
        while (read_line(f, &line, &cap)) {
            doc d;
            if (parse(line, &d) != 0) {
                doc_free(&d);
                continue;
            }
            printf("D\n");
            for (int part = 0; part < 2; part++) {
                st_term *w;
                long n = part ? st_terms_of(t, d.in.body, d.in.body_len, 5000, &w)
                              : st_terms_of(t, d.in.title, d.in.title_len, 200, &w);
                for (long k = 0; k < n; k++) {
                    const sb_symbol *s =
                        sb_stemmer_stem(stem, (const sb_symbol *)w[k].word, (int)strlen(w[k].word));
                    printf("w\t%.*s\n", sb_stemmer_length(stem), (const char *)s);
                }
            }
            for (size_t k = 0; k < d.in.n_names; k++)
                printf("%c\t%.*s\n", d.names[k].person ? 'p' : 'n', (int)d.names[k].n,
                       d.names[k].s);
            doc_free(&d);
        }
        free(line);
        fclose(f);
    }
    sb_stemmer_delete(stem);
    st_terms_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "df"))
        return count_df_table(argc - 2, argv + 2);
    if (argc < 4) {
        fprintf(stderr, "usage: %s features|cluster|pairs MODEL_DIR DATA.jsonl [WINDOW [THRESHOLD]]\n"
                        "       %s df DATA.jsonl...\n",
                argv[0], argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    char err[512];
    st_model *m = st_model_load(argv[2], err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int window = argc > 4 ? atoi(argv[4]) : 3;
    double threshold = argc > 5 ? atof(argv[5]) : -1;
    FILE *f = fopen(argv[3], "r");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    if (!strcmp(mode, "pairs") || !strcmp(mode, "pair-features")) {
        while (read_line(f, &line, &cap)) {
            cJSON *j = cJSON_Parse(line);
            char *a = j ? cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "a")) : NULL;
            char *b = j ? cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "b")) : NULL;
            doc da, db;
            if (!a || !b || parse(a, &da) || parse(b, &db)) {
                fprintf(stderr, "bad pair line\n");
                return 1;
            }
            st_engine *e = engine(m, window, 0);
            st_result r;
            if (!strcmp(mode, "pair-features")) {
                /* the features of b against a's story, one row (or none) */
                bool open, found;
                st_engine_add_gold(e, &da.in, "a", row, NULL, &open, &found);
                st_engine_add_gold(e, &db.in, "a", row, NULL, &open, &found);
                if (!found)
                    printf("-\n");
            } else {
                if (st_engine_add(e, &da.in, &r) != 0 || st_engine_add(e, &db.in, &r) != 0) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
                printf("%.6f\n", r.joined ? r.score : 0.0);
            }
            st_engine_free(e);
            doc_free(&da);
            doc_free(&db);
            free(a);
            free(b);
            cJSON_Delete(j);
        }
    } else {
        st_engine *e = engine(m, window, threshold);
        size_t found = 0, open = 0;
        while (read_line(f, &line, &cap) && rc == 0) {
            doc d;
            if (parse(line, &d) != 0) {
                fprintf(stderr, "bad line\n");
                rc = 1;
            } else if (!strcmp(mode, "features")) {
                bool gold_open, retrieved;
                rc = st_engine_add_gold(e, &d.in, d.gold ? d.gold : d.in.id, row, NULL,
                                        &gold_open, &retrieved);
                found += retrieved;
                open += gold_open;
            } else {
                st_result r;
                rc = st_engine_add(e, &d.in, &r);
                if (rc == 0)
                    printf("%s\t%s\t%.4f\n", d.in.id, r.story, r.joined ? r.score : 0.0);
            }
            doc_free(&d);
        }
        if (!strcmp(mode, "features"))
            printf("# retrieval %zu %zu\n", found, open);
        st_stats st;
        st_engine_stats(e, &st);
        fprintf(stderr, "open %zu opened %zu closed %zu bytes %zu (stories %zu index %zu df %zu)\n",
                st.open, st.opened, st.closed, st.bytes, st.story_bytes, st.index_bytes,
                st.df_bytes);
        st_engine_free(e);
    }
    free(line);
    fclose(f);
    st_model_free(m);
    return rc;
}
