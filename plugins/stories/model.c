/* Reading the model files; see model.h. */
#include "model.h"

#include "terms.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const st_feature_names[ST_NF] = {"bias",       "title",      "body",
                                             "names",      "title_body", "body_title",
                                             "gap",        "nodate",     "size",
                                             "same_source", "people", "quotes"};

static int load_df(st_model *m, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot open %s: %m", path);
        return -1;
    }
    char line[1024];
    int ln = 0, rc = 0;
    char fold[512];
    while (fgets(line, sizeof line, f)) {
        ln++;
        size_t len = strcspn(line, "\n");
        line[len] = 0;
        if (!len || line[0] == '#')
            continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!strncmp(line, "docs\t", 5)) {
            m->df.prior_docs = strtoull(line + 5, NULL, 10);
            continue;
        }
        if (!t1 || !t2 || t1 - line != 1 || !strchr("wnp", line[0])) {
            snprintf(err, err_len, "%s:%d: expected KIND<TAB>TERM<TAB>COUNT", path, ln);
            rc = -1;
            break;
        }
        const char *term = t1 + 1;
        size_t tl = (size_t)(t2 - term);
        uint32_t h;
        if (line[0] == 'w')
            h = st_hash(term, tl, 1);
        else {
            size_t fl = st_fold_name(term, tl, fold, sizeof fold);
            if (!fl)
                continue;
            h = st_name_term(fold, fl, line[0] == 'p');
        }
        df_entry *e = df_slot(&m->df, h);
        if (!e) {
            snprintf(err, err_len, "out of memory reading %s", path);
            rc = -1;
            break;
        }
        e->prior += (uint32_t)strtoul(t2 + 1, NULL, 10);
    }
    fclose(f);
    return rc;
}

/* The file's feature names must be this build's, in this order: weights
 * read against other features would be silently wrong. */
static bool same_features(const char *q)
{
    for (int i = 0; i < ST_NF; i++) {
        size_t l = strlen(st_feature_names[i]);
        if (strncmp(q, st_feature_names[i], l) || (q[l] != ' ' && q[l] != '\n' && q[l]))
            return false;
        q += l + (q[l] == ' ');
    }
    return *q == '\n' || !*q;
}

static int load_weights(st_model *m, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot open %s: %m", path);
        return -1;
    }
    char line[2048];
    int ln = 0, have = 0, rc = 0;
    m->threshold = 0.5;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        ln++;
        char *p = line;
        if (ln == 1) {
            if (strncmp(line, "textmill-stories-model 1", 24)) {
                snprintf(err, err_len, "%s: not a stories model (version 1)", path);
                rc = -1;
            }
            continue;
        }
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!strncmp(p, "threshold ", 10))
            m->threshold = strtod(p + 10, NULL);
        else if (!strncmp(p, "prior_weight ", 13))
            m->df.prior_weight = strtod(p + 13, NULL);
        else if (!strncmp(p, "features ", 9)) {
            if (!same_features(p + 9)) {
                snprintf(err, err_len, "%s:%d: the features differ from this build's", path, ln);
                rc = -1;
            }
            have |= 4;
        } else if (!strncmp(p, "names ", 6) || !strncmp(p, "nonames ", 8)) {
            int set = p[0] == 'n' && p[1] == 'o';
            p += set ? 8 : 6;
            for (int i = 0; i < ST_NF && rc == 0; i++) {
                char *end;
                m->w[set][i] = strtod(p, &end);
                if (end == p) {
                    snprintf(err, err_len, "%s:%d: expected %d weights", path, ln, ST_NF);
                    rc = -1;
                }
                p = end;
            }
            have |= 1 << set;
        }
    }
    fclose(f);
    if (rc == 0 && have != 7) {
        snprintf(err, err_len, "%s: needs the lines 'features', 'names' and 'nonames'", path);
        rc = -1;
    }
    return rc;
}

st_model *st_model_load(const char *dir, char *err, size_t err_len)
{
    st_model *m = calloc(1, sizeof *m);
    if (!m || !df_init(&m->df)) {
        free(m);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    m->df.prior_weight = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/stories-en.model", dir);
    if (load_weights(m, path, err, err_len) != 0) {
        st_model_free(m);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/df-en.tsv", dir);
    if (load_df(m, path, err, err_len) != 0) {
        st_model_free(m);
        return NULL;
    }
    if (m->df.prior_weight < 0) /* a model without the line: the prior counts in full */
        m->df.prior_weight = (double)m->df.prior_docs;
    return m;
}

void st_model_free(st_model *m)
{
    if (!m)
        return;
    df_free(&m->df);
    free(m);
}

