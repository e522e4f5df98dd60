/* textmill-ner-eval: scores a NER model on .bio files through the tagger's
 * public API (ner_tag_ws), the path the entities stage uses, one document
 * per call (a "# doc" block; a sentence in files without them), and
 * measures tagging speed.
 *
 *   textmill-ner-eval [--gaz TYPE=FILE]... [--min-f1 FILE=F1]... [--dump OUT] MODEL FILES...
 *   textmill-ner-eval --bench TEXTFILE [--repeat N] MODEL
 *   textmill-ner-eval --tag TEXTFILE [--raw] MODEL
 *
 * For every file: P/R/F1 per type and micro, entity-level, exact span and
 * type, on the file's own tokens. In a file that does not annotate MISC
 * (under 3% of its entities), MISC is left out of the scores, gold and
 * predicted: the model's MISC cannot be judged there.
 * --min-f1 FILE=F1 makes the exit status 1 when FILE's micro F1 (in
 * percent) is below F1: the held-out regression test uses it.
 * --dump OUT writes every token piece with its gold and predicted label.
 * --tag prints the entities of a UTF-8 text file, one per line: start and
 * end byte offsets, type, confidence, text; spans are trimmed to the gold's
 * conventions (NER_ENT_TRIM) unless --raw is given.
 * --bench tokenizes and tags a UTF-8 text file on one thread and prints
 * tokens/s and MB/s for the tokenizer alone and for tokenizer + tagger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"
#include "ner.h"
#include "ner_gaz.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: textmill-ner-eval [--gaz TYPE=FILE]... [--min-f1 FILE=F1]... [--dump OUT] MODEL FILES...\n"
                    "       textmill-ner-eval --bench TEXTFILE [--repeat N] [--gaz TYPE=FILE]... MODEL\n"
                    "       textmill-ner-eval --tag TEXTFILE [--raw] [--gaz TYPE=FILE]... MODEL\n");
    exit(2);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return b;
}

/* Entities of a text file as TSV: start, end (bytes), type, confidence, text. */
static int tag_file(const ner_model *m, const ner_gaz *gz, const char *path, bool trim)
{
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "textmill-ner-eval: %s: %s\n", path, strerror(errno));
        return 2;
    }
    ner_toks t = {0};
    uint8_t *lab = NULL;
    float *conf = NULL;
    uint32_t *bits = NULL;
    ner_entity *e = NULL;
    if (ner_tokenize(text, len, &t) < 0 || !(lab = malloc(t.n + 1)) ||
        !(conf = malloc((t.n + 1) * sizeof *conf)) || !(bits = malloc((t.n + 1) * sizeof *bits)) ||
        !(e = malloc((t.n + 1) * sizeof *e))) {
        fprintf(stderr, "textmill-ner-eval: out of memory\n");
        return 2;
    }
    if (gz && ner_gaz_match(gz, text, t.v, t.n, bits) < 0) {
        fprintf(stderr, "textmill-ner-eval: out of memory\n");
        return 2;
    }
    if (ner_tag(m, text, t.v, t.n, gz ? bits : NULL, lab, conf) < 0) {
        fprintf(stderr, "textmill-ner-eval: out of memory\n");
        return 2;
    }
    size_t ne = ner_entities_ex(text, t.v, t.n, lab, conf, trim ? NER_ENT_TRIM : 0, e);
    for (size_t k = 0; k < ne; k++)
        printf("%zu\t%zu\t%s\t%.3f\t%.*s\n", e[k].start, e[k].end, ner_type_names[e[k].type],
               e[k].conf, (int)(e[k].end - e[k].start), text + e[k].start);
    free(e);
    free(bits);
    free(conf);
    free(lab);
    ner_toks_free(&t);
    free(text);
    return 0;
}

static int bench(const ner_model *m, const ner_gaz *gz, const char *path, int repeat)
{
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "textmill-ner-eval: %s: %s\n", path, strerror(errno));
        return 2;
    }
    ner_toks t = {0};
    ner_work *w = ner_work_new();
    double t0 = now();
    for (int r = 0; r < repeat; r++)
        ner_tokenize(text, len, &t);
    double ttok = (now() - t0) / repeat;
    uint8_t *lab = malloc(t.n + 1);
    float *conf = malloc((t.n + 1) * sizeof *conf);
    uint32_t *bits = malloc((t.n + 1) * sizeof *bits);
    if (!lab || !conf || !bits || !w) {
        fprintf(stderr, "textmill-ner-eval: out of memory\n");
        return 2;
    }
    double tg = 0, tt = 0, tc = 0;
    for (int r = 0; r < repeat; r++) {
        double a = now();
        if (gz)
            ner_gaz_match(gz, text, t.v, t.n, bits);
        double b = now();
        ner_tag_ws(m, w, text, t.v, t.n, gz ? bits : NULL, lab, NULL);
        double c = now();
        ner_tag_ws(m, w, text, t.v, t.n, gz ? bits : NULL, lab, conf);
        tg += b - a;
        tt += c - b;
        tc += now() - c;
    }
    tg /= repeat;
    tt /= repeat;
    tc /= repeat;
    size_t ents = 0;
    for (size_t i = 0; i < t.n; i++)
        ents += NER_LABEL_IS_B(lab[i]);
    double mb = (double)len / 1e6;
    printf("%s: %.2f MB, %zu tokens, %zu entities, one thread, mean of %d runs\n", path, mb, t.n,
           ents, repeat);
    printf("  tokenizer                      %10.0f tokens/s %8.2f MB/s\n", (double)t.n / ttok,
           mb / ttok);
    if (gz)
        printf("  gazetteer bits                 %10.0f tokens/s %8.2f MB/s\n", (double)t.n / tg,
               mb / tg);
    printf("  tagger (labels)                %10.0f tokens/s %8.2f MB/s\n", (double)t.n / tt, mb / tt);
    printf("  tagger (labels + confidences)  %10.0f tokens/s %8.2f MB/s\n", (double)t.n / tc, mb / tc);
    double all = ttok + tg + tt;
    printf("  %-30s %10.0f tokens/s %8.2f MB/s\n",
           gz ? "tokenizer + gazetteer + tagger" : "tokenizer + tagger (labels)", (double)t.n / all,
           mb / all);
    free(lab);
    free(conf);
    free(bits);
    free(text);
    ner_toks_free(&t);
    ner_work_free(w);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *bench_path = NULL, *tag_path = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    const char **minf = calloc((size_t)argc, sizeof *minf);
    size_t nf = 0, nmin = 0;
    int repeat = 3;
    bool raw = false;
    FILE *dump = NULL;
    char err[512];
    ner_gaz *gz = ner_gaz_new();
    uint32_t gaz_bits = 0;
    if (!files || !minf || !gz)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gaz") && i + 1 < argc) {
            if (ner_gaz_load(gz, argv[++i], &gaz_bits, err, sizeof err) < 0) {
                fprintf(stderr, "textmill-ner-eval: %s\n", err);
                return 2;
            }
        } else if (!strcmp(argv[i], "--min-f1") && i + 1 < argc)
            minf[nmin++] = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) {
            dump = fopen(argv[++i], "w");
            if (!dump) {
                fprintf(stderr, "textmill-ner-eval: %s: %s\n", argv[i], strerror(errno));
                return 2;
            }
        } else if (!strcmp(argv[i], "--raw"))
            raw = true;
        else if (!strcmp(argv[i], "--tag") && i + 1 < argc)
            tag_path = argv[++i];
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc)
            bench_path = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (argv[i][0] == '-' && argv[i][1])
            usage();
        else if (!model)
            model = argv[i];
        else
            files[nf++] = argv[i];
    }
    if (!model || (!nf && !bench_path && !tag_path) || repeat < 1)
        usage();
    double tl = now();
    ner_model *m = ner_load(model, err, sizeof err);
    tl = now() - tl;
    if (!m) {
        fprintf(stderr, "textmill-ner-eval: %s\n", err);
        return 2;
    }
    const ner_gaz *g = ner_gaz_size(gz) ? gz : NULL;
    if (g && !(ner_model_gaz_mask(m) & gaz_bits))
        fprintf(stderr, "textmill-ner-eval: note: the model was trained without these "
                        "gazetteer bits; they change nothing\n");
    if (bench_path)
        printf("model loaded in %.3fs\n", tl);
    if (bench_path || tag_path) {
        int rc = bench_path ? bench(m, g, bench_path, repeat) : tag_file(m, g, tag_path, !raw);
        ner_free(m);
        ner_gaz_free(gz);
        free(files);
        free(minf);
        return rc;
    }
    int status = 0;
    prf total = {0};
    size_t total_tokens = 0;
    double total_time = 0;
    ner_work *w = ner_work_new();
    for (size_t k = 0; k < nf; k++) {
        corpus c = {0};
        if (corpus_add_file(&c, files[k], false, err, sizeof err) < 0) {
            fprintf(stderr, "textmill-ner-eval: %s\n", err);
            return 2;
        }
        ner_tok *tk = malloc((c.n_pieces + 1) * sizeof *tk);
        uint8_t *lab = malloc(c.n_pieces + 1);
        uint32_t *bits = malloc((c.n_pieces + 1) * sizeof *bits);
        if (!tk || !lab || !bits || !w) {
            fprintf(stderr, "textmill-ner-eval: out of memory\n");
            return 2;
        }
        for (size_t i = 0; i < c.n_pieces; i++)
            tk[i] = (ner_tok){c.pieces[i].off, c.pieces[i].off + c.pieces[i].len, 0};
        for (size_t s = 0; s < c.n_sents; s++)
            tk[c.sents[s].first_piece].flags = NER_TOK_SENT_START;
        if (g && ner_gaz_match(g, c.text, tk, c.n_pieces, bits) < 0) {
            fprintf(stderr, "textmill-ner-eval: out of memory\n");
            return 2;
        }
        /* one call per document, as the stage tags one document at a time */
        double t0 = now();
        for (size_t s = 0; s < c.n_sents;) {
            size_t e = s + 1;
            while (e < c.n_sents && c.sents[e].doc == c.sents[s].doc)
                e++;
            size_t p0 = c.sents[s].first_piece;
            size_t p1 = c.sents[e - 1].first_piece + c.sents[e - 1].n_pieces;
            if (ner_tag_ws(m, w, c.text, tk + p0, p1 - p0, g ? bits + p0 : NULL, lab + p0,
                           NULL) < 0) {
                fprintf(stderr, "textmill-ner-eval: out of memory\n");
                return 2;
            }
            s = e;
        }
        total_time += now() - t0;
        total_tokens += c.n_pieces;
        prf p = {0};
        for (size_t s = 0; s < c.n_sents; s++)
            corpus_score(&c, &c.sents[s], lab + c.sents[s].first_piece, &p);
        if (dump) {
            /* piece, gold (projected), prediction: for reading errors */
            for (size_t s = 0; s < c.n_sents; s++) {
                const sentence *se = &c.sents[s];
                for (size_t i = se->first_piece; i < se->first_piece + se->n_pieces; i++)
                    fprintf(dump, "%.*s\t%s\t%s%s\n", (int)c.pieces[i].len, c.text + c.pieces[i].off,
                            ner_label_names[c.pieces[i].gold], ner_label_names[lab[i]],
                            c.pieces[i].gold != lab[i] ? "\t*" : "");
                fprintf(dump, "\n");
            }
        }
        bool misc = c.files[0].has_misc;
        printf("%s  (%zu tokens%s)\n", files[k], c.files[0].n_tokens,
               misc ? "" : "; MISC not annotated: left out");
        double f = prf_print(&p, "  ", misc);
        for (int t = 0; t < NER_NTYPES; t++) {
            total.tp[t] += p.tp[t];
            total.fp[t] += p.fp[t];
            total.gold[t] += p.gold[t];
        }
        for (size_t q = 0; q < nmin; q++) {
            const char *eq = strrchr(minf[q], '=');
            if (!eq)
                usage();
            const char *base = strrchr(files[k], '/');
            base = base ? base + 1 : files[k];
            size_t ln = (size_t)(eq - minf[q]);
            if ((strlen(files[k]) == ln && !memcmp(files[k], minf[q], ln)) ||
                (strlen(base) == ln && !memcmp(base, minf[q], ln))) {
                double bar = atof(eq + 1);
                if (100 * f < bar) {
                    printf("  FAIL: micro F1 %.2f is below the bar %.2f\n", 100 * f, bar);
                    status = 1;
                } else
                    printf("  ok: micro F1 %.2f >= %.2f\n", 100 * f, bar);
            }
        }
        free(tk);
        free(lab);
        free(bits);
        corpus_free(&c);
    }
    if (nf > 1) {
        printf("all files (MISC counted only in files that annotate it)\n");
        prf_print(&total, "  ", true);
    }
    printf("tagging: %zu tokens in %.3fs, %.0f tokens/s (one thread, labels only)\n", total_tokens,
           total_time, (double)total_tokens / (total_time > 0 ? total_time : 1e-9));
    if (dump)
        fclose(dump);
    ner_work_free(w);
    ner_free(m);
    ner_gaz_free(gz);
    free(files);
    free(minf);
    return status;
}
