/* .bio reading, re-tokenising and scoring; see corpus.h. */
#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ner_impl.h"
#include "tokenize.h"

#define GROW(ptr, n, cap, init)                                                   \
    do {                                                                          \
        if ((n) >= (cap)) {                                                       \
            size_t nc_ = (cap) ? (cap) * 2 : (init);                              \
            void *np_ = realloc((ptr), nc_ * sizeof *(ptr));                      \
            if (!np_) {                                                           \
                fprintf(stderr, "textmill-ner: out of memory\n");                 \
                exit(1);                                                          \
            }                                                                     \
            (ptr) = np_;                                                          \
            (cap) = nc_;                                                          \
        }                                                                         \
    } while (0)

static int parse_tag(const char *t, size_t n)
{
    for (int l = 0; l < NER_NLABELS; l++)
        if (strlen(ner_label_names[l]) == n && memcmp(ner_label_names[l], t, n) == 0)
            return l;
    return -1;
}

static bool is_possessive(const char *s, size_t n)
{
    return (n == 2 && s[0] == '\'' && (s[1] == 's' || s[1] == 'S')) ||
           (n == 4 && memcmp(s, "\xE2\x80\x99", 3) == 0 && (s[3] == 's' || s[3] == 'S'));
}

static bool is_lower_word(const char *s, size_t n)
{
    ner_tinfo ti;
    ner_tinfo_make(s, n, &ti);
    return ti.cls == NER_CLS_LOWER && !ner_is_particle(s, n);
}

static bool has_word(const char *s, size_t n)
{
    ner_tinfo ti;
    ner_tinfo_make(s, n, &ti);
    return ti.cls != NER_CLS_PUNCT;
}

typedef struct raw_tok {
    char *s;
    size_t n;
    int tag;
} raw_tok;

/* Adds one sentence of original tokens. */
static void add_sentence(corpus *c, raw_tok *t, size_t n, uint16_t file, ner_toks *tk)
{
    if (n == 0)
        return;
    GROW(c->sents, c->n_sents, c->cap_sents, 1024);
    sentence *s = &c->sents[c->n_sents++];
    s->first_piece = (uint32_t)c->n_pieces;
    s->first_orig = (uint32_t)c->n_orig;
    s->n_orig = (uint32_t)n;
    s->file = file;
    s->doc = (uint32_t)(c->n_docs ? c->n_docs - 1 : 0);
    for (size_t i = 0; i < n; i++) {
        GROW(c->orig_gold, c->n_orig, c->cap_orig, 4096);
        c->orig_off = realloc(c->orig_off, c->cap_orig * sizeof *c->orig_off);
        if (!c->orig_off) {
            fprintf(stderr, "textmill-ner: out of memory\n");
            exit(1);
        }
        uint32_t orig = (uint32_t)c->n_orig++;
        c->orig_gold[orig] = (uint8_t)t[i].tag;
        c->orig_off[orig] = (uint32_t)c->text_len;
        if (ner_tokenize(t[i].s, t[i].n, tk) < 0) {
            fprintf(stderr, "textmill-ner: out of memory\n");
            exit(1);
        }
        /* Which pieces belong to the entity: all, minus hyphen-joined lower
         * case words at the entity's edges and a final possessive. */
        size_t lo = 0, hi = tk->n;
        int tag = t[i].tag;
        if (tag != NER_O && tk->n > 1) {
            int type = NER_LABEL_TYPE(tag);
            bool starts = NER_LABEL_IS_B(tag);
            bool ends = i + 1 >= n || t[i + 1].tag != NER_I(type);
#define PS(k) (t[i].s + tk->v[k].start)
#define PN(k) (tk->v[k].end - tk->v[k].start)
            if (ends) {
                for (;;) {
                    if (hi - lo >= 2 && is_possessive(PS(hi - 1), PN(hi - 1)))
                        hi--;
                    else if (hi - lo >= 3 && is_lower_word(PS(hi - 1), PN(hi - 1)) &&
                             ner_is_hyphen(PS(hi - 2), PN(hi - 2)))
                        hi -= 2;
                    else
                        break;
                }
            }
            if (starts) {
                while (hi - lo >= 3 && is_lower_word(PS(lo), PN(lo)) &&
                       ner_is_hyphen(PS(lo + 1), PN(lo + 1)))
                    lo += 2;
            }
            /* Keep the token whole when no word would remain. */
            bool any = false;
            for (size_t k = lo; k < hi; k++)
                any |= has_word(PS(k), PN(k));
            if (!any) {
                lo = 0;
                hi = tk->n;
            }
#undef PS
#undef PN
        }
        for (size_t k = 0; k < tk->n; k++) {
            size_t pl = tk->v[k].end - tk->v[k].start;
            while (c->text_len + pl + 2 > c->text_cap) {
                size_t nc = c->text_cap ? c->text_cap * 2 : 1 << 20;
                char *nt = realloc(c->text, nc);
                if (!nt) {
                    fprintf(stderr, "textmill-ner: out of memory\n");
                    exit(1);
                }
                c->text = nt;
                c->text_cap = nc;
            }
            GROW(c->pieces, c->n_pieces, c->cap_pieces, 4096);
            piece *p = &c->pieces[c->n_pieces++];
            p->off = (uint32_t)c->text_len;
            p->len = (uint32_t)pl;
            p->orig = orig;
            memcpy(c->text + c->text_len, t[i].s + tk->v[k].start, pl);
            c->text_len += pl;
            uint8_t g = NER_O;
            if (tag != NER_O && k >= lo && k < hi) {
                int type = NER_LABEL_TYPE(tag);
                g = (uint8_t)(k == lo && NER_LABEL_IS_B(tag) ? NER_B(type) : NER_I(type));
            }
            p->gold = g;
        }
        /* One space between original tokens; none between pieces. */
        c->text[c->text_len++] = ' ';
    }
    s->n_pieces = (uint32_t)(c->n_pieces - s->first_piece);
    /* BIO repair after projection: an I-X must continue an X. */
    for (size_t k = s->first_piece; k < c->n_pieces; k++) {
        int g = c->pieces[k].gold;
        if (g != NER_O && !NER_LABEL_IS_B(g)) {
            int prev = k > s->first_piece ? c->pieces[k - 1].gold : NER_NLABELS;
            if (!ner_allowed(prev, g))
                c->pieces[k].gold = (uint8_t)NER_B(NER_LABEL_TYPE(g));
        }
    }
}

int corpus_add_file(corpus *c, const char *path, bool force_partial, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    c->files = realloc(c->files, (c->n_files + 1) * sizeof *c->files);
    if (!c->files) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint16_t fi = (uint16_t)c->n_files++;
    corpus_file *cf = &c->files[fi];
    memset(cf, 0, sizeof *cf);
    cf->path = strdup(path);
    raw_tok *toks = NULL;
    size_t nt = 0, ct = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    ner_toks tk = {0};
    int rc = 0;
    size_t first_sent = c->n_sents;
    bool docs = false;
    c->n_docs++; /* sentences before any "# doc" line */
    while ((ll = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
            line[--ll] = 0;
        char *tab = memchr(line, '\t', (size_t)ll);
        if (ll == 0 || (!tab && line[0] == '#')) {
            /* A blank line ends a sentence; "# doc" lines sit between
             * sentences (tokens may start with '#' but have a TAB). */
            add_sentence(c, toks, nt, fi, &tk);
            cf->n_sentences += nt > 0;
            for (size_t k = 0; k < nt; k++)
                free(toks[k].s);
            nt = 0;
            if (ll >= 6 && !memcmp(line, "# doc ", 6)) {
                docs = true;
                /* a new document, unless the current one is still empty */
                if (c->n_sents > first_sent && c->sents[c->n_sents - 1].doc == c->n_docs - 1)
                    c->n_docs++;
            }
            continue;
        }
        if (!tab) {
            snprintf(err, errlen, "%s:%zu: no TAB in a token line", path, lineno);
            rc = -1;
            break;
        }
        char *tag = tab + 1, *tag_end = memchr(tag, '\t', (size_t)(line + ll - tag));
        if (!tag_end)
            tag_end = line + ll;
        int l = parse_tag(tag, (size_t)(tag_end - tag));
        if (l < 0) {
            snprintf(err, errlen, "%s:%zu: unknown tag \"%.*s\"", path, lineno,
                     (int)(tag_end - tag), tag);
            rc = -1;
            break;
        }
        GROW(toks, nt, ct, 256);
        toks[nt].n = (size_t)(tab - line);
        toks[nt].s = malloc(toks[nt].n + 1);
        if (!toks[nt].s) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        memcpy(toks[nt].s, line, toks[nt].n);
        toks[nt].s[toks[nt].n] = 0;
        toks[nt].tag = l;
        if (NER_LABEL_IS_B(l))
            cf->n_entities[NER_LABEL_TYPE(l)]++;
        cf->n_tokens++;
        nt++;
    }
    if (rc == 0) {
        add_sentence(c, toks, nt, fi, &tk);
        cf->n_sentences += nt > 0;
    }
    if (!docs) {
        c->n_docs--;
        for (size_t k = first_sent; k < c->n_sents; k++)
            c->sents[k].doc = (uint32_t)c->n_docs++;
    } else if (!(c->n_sents > first_sent && c->sents[c->n_sents - 1].doc == c->n_docs - 1))
        c->n_docs--; /* the last document stayed empty */
    for (size_t k = 0; k < nt; k++)
        free(toks[k].s);
    free(toks);
    free(line);
    ner_toks_free(&tk);
    fclose(f);
    size_t ents = 0;
    for (int t = 0; t < NER_NTYPES; t++)
        ents += cf->n_entities[t];
    /* Under 3% MISC (SEC filings: 7 of 1,168 and 7 of 318) means MISC was
     * not annotated; files that annotate it have 10% or more. */
    cf->partial_misc = force_partial || cf->n_entities[NER_MISC] * 100 < 3 * ents;
    cf->has_misc = !cf->partial_misc;
    return rc;
}

void corpus_free(corpus *c)
{
    free(c->text);
    free(c->pieces);
    free(c->orig_gold);
    free(c->orig_off);
    free(c->sents);
    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i].path);
    free(c->files);
    memset(c, 0, sizeof *c);
}

typedef struct span {
    uint32_t a, b; /* original tokens [a, b] */
    int type;
} span;

/* Entities of a label sequence over original tokens. */
static size_t gold_spans(const uint8_t *lab, size_t n, span *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (lab[i] == NER_O) {
            i++;
            continue;
        }
        int t = NER_LABEL_TYPE(lab[i]);
        size_t j = i + 1;
        while (j < n && lab[j] == NER_I(t))
            j++;
        out[k++] = (span){(uint32_t)i, (uint32_t)(j - 1), t};
        i = j;
    }
    return k;
}

void corpus_score(const corpus *c, const sentence *s, const uint8_t *pred, prf *out)
{
    size_t no = s->n_orig, np = s->n_pieces;
    span *g = malloc((no + 1) * sizeof *g), *p = malloc((np + 1) * sizeof *p);
    if (!g || !p) {
        fprintf(stderr, "textmill-ner: out of memory\n");
        exit(1);
    }
    size_t ng = gold_spans(c->orig_gold + s->first_orig, no, g);
    /* Predicted entities over pieces, mapped to original tokens; entities
     * that meet inside one original token merge into one. */
    size_t npr = 0;
    const piece *pc = c->pieces + s->first_piece;
    bool misc_ok = c->files[s->file].has_misc;
    for (size_t i = 0; i < np;) {
        if (pred[i] == NER_O) {
            i++;
            continue;
        }
        int t = NER_LABEL_TYPE(pred[i]);
        size_t j = i + 1;
        while (j < np && pred[j] == NER_I(t))
            j++;
        uint32_t a = pc[i].orig - s->first_orig, b = pc[j - 1].orig - s->first_orig;
        if (npr && p[npr - 1].b >= a)
            p[npr - 1].b = b;
        else
            p[npr++] = (span){a, b, t};
        i = j;
    }
    size_t gi = 0;
    for (size_t k = 0; k < npr; k++) {
        if (p[k].type == NER_MISC && !misc_ok)
            continue;
        while (gi < ng && g[gi].a < p[k].a)
            gi++;
        if (gi < ng && g[gi].a == p[k].a && g[gi].b == p[k].b && g[gi].type == p[k].type &&
            (g[gi].type != NER_MISC || misc_ok))
            out->tp[p[k].type]++;
        else
            out->fp[p[k].type]++;
    }
    for (size_t k = 0; k < ng; k++)
        if (g[k].type != NER_MISC || misc_ok)
            out->gold[g[k].type]++;
    free(g);
    free(p);
}

static double f1(size_t tp, size_t fp, size_t fn, double *P, double *R)
{
    *P = tp + fp ? (double)tp / (double)(tp + fp) : 0;
    *R = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    return *P + *R > 0 ? 2 * *P * *R / (*P + *R) : 0;
}

double prf_micro_f1(const prf *p, bool with_misc)
{
    size_t tp = 0, fp = 0, gold = 0;
    for (int t = 0; t < NER_NTYPES; t++) {
        if (t == NER_MISC && !with_misc)
            continue;
        tp += p->tp[t];
        fp += p->fp[t];
        gold += p->gold[t];
    }
    double P, R;
    return f1(tp, fp, gold - tp, &P, &R);
}

double prf_print(const prf *p, const char *indent, bool show_misc)
{
    size_t tp = 0, fp = 0, gold = 0;
    for (int t = 0; t < NER_NTYPES; t++) {
        if (t == NER_MISC && !show_misc)
            continue;
        double P, R, F = f1(p->tp[t], p->fp[t], p->gold[t] - p->tp[t], &P, &R);
        printf("%s%-5s P %5.1f  R %5.1f  F1 %5.1f   (gold %zu, predicted %zu, correct %zu)\n",
               indent, ner_type_names[t], 100 * P, 100 * R, 100 * F, p->gold[t],
               p->tp[t] + p->fp[t], p->tp[t]);
        tp += p->tp[t];
        fp += p->fp[t];
        gold += p->gold[t];
    }
    double P, R, F = f1(tp, fp, gold - tp, &P, &R);
    printf("%s%-5s P %5.1f  R %5.1f  F1 %5.1f   (gold %zu, predicted %zu, correct %zu)\n", indent,
           "micro", 100 * P, 100 * R, 100 * F, gold, tp + fp, tp);
    return F;
}
