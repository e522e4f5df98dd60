/* textmill-ner-train: trains the entities stage's NER model (an averaged
 * structured perceptron, see plugins/entities/model/ner.h) on .bio files.
 *
 *   textmill-ner-train --train FILES... [--train-partial FILES...]
 *                      [--dev FILES...] [--epochs N] [--runs K] [--seed N] [--buckets BITS]
 *                      [--caps-aug P] [--gaz TYPE=FILE]... [--gaz-drop P]
 *                      [--prune X] [--temperature T] -o MODEL
 *
 * Prints the entity-level dev F1 (exact span and type, per type and micro)
 * after every epoch and writes the averaged model of the last epoch.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "corpus.h"
#include "ner_gaz.h"
#include "ner_impl.h"

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "textmill-ner-train: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("%s", "out of memory");
    return p;
}

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);
    if (!p)
        die("%s", "out of memory");
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* xorshift64*: plenty for shuffling and sampling */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
static double rng01(void)
{
    return (double)(rng() >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------------------
 * Training instances: a sentence's pieces with their feature buckets. */

typedef struct ipiece {
    uint32_t feat; /* first bucket in the bucket array */
    uint8_t nf;    /* buckets in all */
    uint8_t ng;    /* of which the last ng come from gazetteer bits */
    uint8_t gold;
} ipiece;

typedef struct instance {
    uint32_t first, n;     /* ipieces */
    uint32_t sent;         /* corpus sentence (for scoring) */
    uint16_t allowed_misc; /* 1: O pieces may be MISC (file without MISC) */
} instance;

typedef struct dataset {
    ipiece *p;
    size_t np, cp;
    uint32_t *b;
    size_t nb, cb;
    instance *in;
    size_t ni, ci;
} dataset;

#define GROW(ptr, n, cap, need)                                                                    \
    do {                                                                                           \
        while ((n) + (need) > (cap)) {                                                             \
            size_t nc_ = (cap) ? (cap)*2 : 4096;                                                   \
            void *np_ = realloc((ptr), nc_ * sizeof *(ptr));                                       \
            if (!np_)                                                                              \
                die("%s", "out of memory");                                                        \
            (ptr) = np_;                                                                           \
            (cap) = nc_;                                                                           \
        }                                                                                          \
    } while (0)

/* Upper-cases s[0, n) into out (room for 4n + 4 bytes); returns the length. */
static size_t upper_copy(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r =
            utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (r <= 0) {
            out[o++] = s[i++];
            continue;
        }
        o += (size_t)utf8proc_encode_char(utf8proc_toupper(cp), (uint8_t *)out + o);
        i += (size_t)r;
    }
    return o;
}

/* What ner_doc_finish() sets, per corpus piece, and the lexicon class. */
typedef struct docinfo {
    uint64_t acr_lw, agg[4];
    uint8_t lex, doc, acr, has_acr;
} docinfo;

/* ------------------------------------------------------------------------
 * The lexicon (ner_impl.h): how the training text writes each word. A
 * training piece gets its word's class as counted in the other nine tenths
 * of the documents (jackknifing), so that a word is as often "unseen" or
 * "seen once" in training as it will be in new text; the model stores the
 * classes counted over everything. */

#define LEX_FOLDS 10
#define LEX_NC (3 + NER_NTYPES)

typedef struct lexicon {
    uint64_t *keys; /* lower-cased word | 1; 0: empty */
    uint32_t *idx;  /* per slot: the word's index */
    uint32_t *cnt;  /* per word: LEX_FOLDS x LEX_NC counts: lower case, capitalised,
                       elsewhere (sentence start, headline); in an entity of each
                       type */
    size_t mask, n, cap;
} lexicon;

static size_t lex_slot(const lexicon *lx, uint64_t lw)
{
    uint64_t key = lw | 1;
    size_t j = (size_t)(key >> 24) & lx->mask;
    while (lx->keys[j] && lx->keys[j] != key)
        j = (j + 1) & lx->mask;
    return j;
}

static void lex_build(lexicon *lx, const corpus *c)
{
    size_t slots = 1024;
    while (slots < 2 * c->n_pieces)
        slots *= 2;
    lx->keys = xcalloc(slots, sizeof *lx->keys);
    lx->idx = xcalloc(slots, sizeof *lx->idx);
    lx->mask = slots - 1;
    lx->n = 0;
    lx->cap = 0;
    lx->cnt = NULL;
    ner_tinfo *ti = NULL;
    size_t cap = 0;
    for (size_t si = 0; si < c->n_sents; si++) {
        const sentence *s = &c->sents[si];
        const piece *pc = c->pieces + s->first_piece;
        size_t n = s->n_pieces;
        if (n > cap) {
            cap = n * 2;
            free(ti);
            ti = xmalloc(cap * sizeof *ti);
        }
        for (size_t i = 0; i < n; i++)
            ner_tinfo_make(c->text + pc[i].off, pc[i].len, &ti[i]);
        ner_sentence_finish(ti, n);
        for (size_t i = 0; i < n; i++) {
            if (!ner_lex_word(&ti[i]))
                continue;
            size_t j = lex_slot(lx, ti[i].lw);
            if (!lx->keys[j]) {
                if (lx->n == lx->cap) {
                    size_t nc = lx->cap ? lx->cap * 2 : 65536;
                    uint32_t *cn = realloc(lx->cnt, nc * LEX_FOLDS * LEX_NC * sizeof *cn);
                    if (!cn)
                        die("%s", "out of memory");
                    memset(cn + lx->cap * LEX_FOLDS * LEX_NC, 0,
                           (nc - lx->cap) * LEX_FOLDS * LEX_NC * sizeof *cn);
                    lx->cnt = cn;
                    lx->cap = nc;
                }
                lx->keys[j] = ti[i].lw | 1;
                lx->idx[j] = (uint32_t)lx->n++;
            }
            int kind = ti[i].first || ti[i].mode != NER_MODE_NORMAL ? 2
                       : ti[i].cls == NER_CLS_LOWER                 ? 0
                                                                    : 1;
            uint32_t *k = lx->cnt + ((size_t)lx->idx[j] * LEX_FOLDS + s->doc % LEX_FOLDS) * LEX_NC;
            k[kind]++;
            int g = pc[i].gold;
            if (g != NER_O)
                k[3 + NER_LABEL_TYPE(g)]++;
        }
    }
    free(ti);
}

/* The class of word lw (ner_impl.h): from all folds (fold < 0) or from all
 * but one. */
static uint8_t lex_class_of(const lexicon *lx, uint64_t lw, int fold)
{
    size_t j = lex_slot(lx, lw);
    if (!lx->keys[j])
        return 0;
    uint32_t k[LEX_NC] = {0};
    const uint32_t *cw = lx->cnt + (size_t)lx->idx[j] * LEX_FOLDS * LEX_NC;
    for (int f = 0; f < LEX_FOLDS; f++)
        if (f != fold)
            for (int t = 0; t < LEX_NC; t++)
                k[t] += cw[f * LEX_NC + t];
    return ner_lex_value(k);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The model's lexicon: sorted keys and their classes over all folds. */
static size_t lex_export(const lexicon *lx, uint32_t **keys_out, uint8_t **vals_out)
{
    uint32_t *tmp = xmalloc((lx->n + 1) * sizeof *tmp);
    size_t n = 0;
    for (size_t j = 0; j <= lx->mask; j++)
        if (lx->keys[j])
            tmp[n++] = ner_lex_key(lx->keys[j]);
    qsort(tmp, n, sizeof *tmp, cmp_u32);
    uint32_t *keys = xmalloc((n + 1) * sizeof *keys);
    uint8_t *vals = xmalloc(n + 1), *set = xcalloc(n + 1, 1);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (!m || keys[m - 1] != tmp[k])
            keys[m++] = tmp[k];
    /* the values: look each key's word up again; of two words that share a
     * key (rare), the first in table order gives its value */
    for (size_t j = 0; j <= lx->mask; j++) {
        if (!lx->keys[j])
            continue;
        uint32_t key = ner_lex_key(lx->keys[j]);
        size_t lo = 0, hi = m;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (keys[mid] < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (!set[lo])
            vals[lo] = lex_class_of(lx, lx->keys[j], -1);
        set[lo] = 1;
    }
    free(set);
    free(tmp);
    *keys_out = keys;
    *vals_out = vals;
    return m;
}

typedef struct build_opts {
    unsigned bits;
    uint64_t seed;
    uint32_t gaz_mask;
    const ner_gaz *gz;
    const docinfo *docf; /* document flags of every corpus piece */
} build_opts;

/* The document flags of every piece of the corpus, computed as the tagger
 * does: per document, in blocks of whole sentences of about NER_DOC_BLOCK
 * pieces. */
static docinfo *doc_flags(const corpus *c, const lexicon *lx, bool jackknife)
{
    docinfo *df = xcalloc(c->n_pieces + 1, sizeof *df);
    ner_tinfo *ti = NULL;
    size_t tcap = 0, dcap = 0;
    void *scratch = NULL;
    for (size_t a = 0; a < c->n_sents;) {
        size_t b = a, np = 0;
        while (b < c->n_sents && c->sents[b].doc == c->sents[a].doc && np < NER_DOC_BLOCK)
            np += c->sents[b++].n_pieces;
        if (np > tcap) {
            tcap = np * 2;
            free(ti);
            ti = xmalloc(tcap * sizeof *ti);
        }
        size_t p0 = c->sents[a].first_piece;
        for (size_t i = 0; i < np; i++) {
            const piece *pc = &c->pieces[p0 + i];
            ner_tinfo_make(c->text + pc->off, pc->len, &ti[i]);
        }
        for (size_t k = a; k < b; k++)
            ner_sentence_finish(ti + (c->sents[k].first_piece - p0), c->sents[k].n_pieces);
        if (ner_doc_finish(ti, np, &scratch, &dcap) < 0)
            die("%s", "out of memory");
        int fold = jackknife ? (int)(c->sents[a].doc % LEX_FOLDS) : -1;
        for (size_t i = 0; i < np; i++)
            df[p0 + i] = (docinfo){ti[i].acr_lw,
                                   {ti[i].agg[0], ti[i].agg[1], ti[i].agg[2], ti[i].agg[3]},
                                   ner_lex_word(&ti[i]) ? lex_class_of(lx, ti[i].lw, fold) : 0,
                                   ti[i].doc, ti[i].acr, ti[i].has_acr};
        a = b;
    }
    free(ti);
    free(scratch);
    return df;
}

/* Adds one instance for corpus sentence si; upper != 0 upper-cases it. */
static void add_instance(dataset *d, const corpus *c, size_t si, int upper, const build_opts *o,
                         ner_tinfo **ti_buf, size_t *ti_cap, uint32_t **gz_buf, char **ubuf,
                         size_t *ucap)
{
    const sentence *s = &c->sents[si];
    size_t n = s->n_pieces;
    if (n == 0)
        return;
    if (n > *ti_cap) {
        *ti_cap = n * 2;
        *ti_buf = realloc(*ti_buf, *ti_cap * sizeof **ti_buf);
        *gz_buf = realloc(*gz_buf, *ti_cap * sizeof **gz_buf);
        if (!*ti_buf || !*gz_buf)
            die("%s", "out of memory");
    }
    const piece *pc = c->pieces + s->first_piece;
    for (size_t i = 0; i < n; i++) {
        const char *str = c->text + pc[i].off;
        size_t len = pc[i].len;
        if (upper) {
            if (4 * len + 4 > *ucap) {
                *ucap = 4 * len + 4;
                *ubuf = realloc(*ubuf, *ucap);
                if (!*ubuf)
                    die("%s", "out of memory");
            }
            len = upper_copy(str, len, *ubuf);
            str = *ubuf;
        }
        ner_tinfo_make(str, len, &(*ti_buf)[i]);
    }
    ner_sentence_finish(*ti_buf, n);
    /* The document as printed decides the flags, also for an upper-cased copy. */
    for (size_t i = 0; i < n; i++) {
        const docinfo *di = &o->docf[s->first_piece + i];
        (*ti_buf)[i].doc = di->doc;
        (*ti_buf)[i].acr = di->acr;
        (*ti_buf)[i].has_acr = di->has_acr;
        (*ti_buf)[i].acr_lw = di->acr_lw;
        (*ti_buf)[i].lex = di->lex;
        memcpy((*ti_buf)[i].agg, di->agg, sizeof di->agg);
    }
    const uint32_t *gz = NULL;
    if (o->gz && o->gaz_mask) {
        static ner_tok *tk;
        static size_t tkcap;
        if (n > tkcap) {
            tkcap = n * 2;
            tk = realloc(tk, tkcap * sizeof *tk);
            if (!tk)
                die("%s", "out of memory");
        }
        for (size_t i = 0; i < n; i++)
            tk[i] = (ner_tok){pc[i].off, pc[i].off + pc[i].len, 0};
        if (ner_gaz_match(o->gz, c->text, tk, n, *gz_buf) < 0)
            die("%s", "out of memory");
        gz = *gz_buf;
    }
    GROW(d->in, d->ni, d->ci, 1);
    instance *in = &d->in[d->ni++];
    in->first = (uint32_t)d->np;
    in->n = (uint32_t)n;
    in->sent = (uint32_t)si;
    in->allowed_misc = c->files[s->file].partial_misc;
    GROW(d->p, d->np, d->cp, n);
    uint64_t h[NER_MAX_FEATS];
    for (size_t i = 0; i < n; i++) {
        size_t ng;
        size_t nf = ner_features(*ti_buf, n, i, gz, o->gaz_mask, o->seed, h, &ng);
        GROW(d->b, d->nb, d->cb, nf);
        if (d->nb + nf > UINT32_MAX)
            die("%s", "too many features");
        ipiece *ip = &d->p[d->np++];
        ip->feat = (uint32_t)d->nb;
        ip->nf = (uint8_t)nf;
        ip->ng = (uint8_t)ng;
        ip->gold = pc[i].gold;
        for (size_t f = 0; f < nf; f++)
            d->b[d->nb++] = ner_bucket(h[f], o->bits);
    }
}

static void build(dataset *d, const corpus *c, const build_opts *o, double caps_aug)
{
    ner_tinfo *ti = NULL;
    uint32_t *gz = NULL;
    char *ub = NULL;
    size_t tc = 0, uc = 0;
    for (size_t si = 0; si < c->n_sents; si++) {
        add_instance(d, c, si, 0, o, &ti, &tc, &gz, &ub, &uc);
        if (caps_aug > 0 && rng01() < caps_aug)
            add_instance(d, c, si, 1, o, &ti, &tc, &gz, &ub, &uc);
    }
    free(ti);
    free(gz);
    free(ub);
}

static void dataset_free(dataset *d)
{
    free(d->p);
    free(d->b);
    free(d->in);
}

/* In a file that does not annotate MISC, an entity that is exactly a name
 * of the MISC gazetteer (a nationality: BTC tags "Russian" and "Israeli"
 * LOC, UNER some ORG, where the files that annotate MISC tag them MISC)
 * follows another scheme: its pieces become O, which such a file's
 * partial labels let be O or MISC. Counts per file go to unlab. */
static void unlabel_demonyms(corpus *c, const ner_gaz *gz, size_t *unlab)
{
    ner_tok *tk = NULL;
    uint32_t *bits = NULL;
    size_t cap = 0;
    for (size_t si = 0; si < c->n_sents; si++) {
        const sentence *s = &c->sents[si];
        if (!c->files[s->file].partial_misc)
            continue;
        size_t n = s->n_pieces;
        piece *pc = c->pieces + s->first_piece;
        if (n + 1 > cap) {
            cap = 2 * n + 1;
            free(tk);
            free(bits);
            tk = xmalloc(cap * sizeof *tk);
            bits = xmalloc(cap * sizeof *bits);
        }
        for (size_t i = 0; i < n; i++)
            tk[i] = (ner_tok){pc[i].off, pc[i].off + pc[i].len, 0};
        if (ner_gaz_match(gz, c->text, tk, n, bits) < 0)
            die("%s", "out of memory");
        for (size_t a = 0; a < n;) {
            int g = pc[a].gold;
            if (g == NER_O) {
                a++;
                continue;
            }
            int t = NER_LABEL_TYPE(g);
            size_t b = a + 1;
            while (b < n && pc[b].gold == NER_I(t))
                b++;
            bool same = t != NER_MISC && (bits[a] & NER_GAZ_B(NER_MISC)) &&
                        !(b < n && (bits[b] & NER_GAZ_I(NER_MISC)));
            for (size_t i = a + 1; same && i < b; i++)
                same = (bits[i] & NER_GAZ_I(NER_MISC)) != 0;
            if (same) {
                for (size_t i = a; i < b; i++)
                    pc[i].gold = NER_O;
                unlab[s->file]++;
            }
            a = b;
        }
    }
    free(tk);
    free(bits);
}

/* ------------------------------------------------------------------------
 * Scoring with float weights */

typedef struct scratch {
    float *emit;
    uint8_t *bp, *pred, *gold;
    uint16_t *allowed;
    double *fb;
    size_t cap;
} scratch;

static void scratch_reserve(scratch *s, size_t n)
{
    if (n <= s->cap)
        return;
    s->cap = n * 2;
    free(s->emit);
    free(s->bp);
    free(s->pred);
    free(s->gold);
    free(s->allowed);
    free(s->fb);
    s->emit = xmalloc(s->cap * NER_NLABELS * sizeof *s->emit);
    s->bp = xmalloc(s->cap * NER_NLABELS);
    s->pred = xmalloc(s->cap);
    s->gold = xmalloc(s->cap);
    s->allowed = xmalloc(s->cap * sizeof *s->allowed);
    s->fb = xmalloc(2 * s->cap * NER_NLABELS * sizeof *s->fb);
}

static void emissions(const dataset *d, const instance *in, const float *w, bool use_gaz,
                      float *emit)
{
    for (size_t i = 0; i < in->n; i++) {
        const ipiece *ip = &d->p[in->first + i];
        float acc[NER_NLABELS] = {0};
        size_t nf = use_gaz ? ip->nf : (size_t)(ip->nf - ip->ng);
        for (size_t f = 0; f < nf; f++) {
            const float *row = w + (size_t)d->b[ip->feat + f] * NER_NLABELS;
            for (int y = 0; y < NER_NLABELS; y++)
                acc[y] += row[y];
        }
        memcpy(emit + i * NER_NLABELS, acc, sizeof acc);
    }
}

static double evaluate(const dataset *d, const corpus *c, const float *w, const ner_trans tr,
                       scratch *sc, bool use_gaz, bool print)
{
    prf p = {0};
    for (size_t k = 0; k < d->ni; k++) {
        const instance *in = &d->in[k];
        scratch_reserve(sc, in->n);
        emissions(d, in, w, use_gaz, sc->emit);
        ner_viterbi(sc->emit, in->n, tr, NULL, sc->pred, sc->bp);
        corpus_score(c, &c->sents[in->sent], sc->pred, &p);
    }
    bool misc = false;
    for (size_t f = 0; f < c->n_files; f++)
        misc |= c->files[f].has_misc;
    if (print)
        return prf_print(&p, "    ", misc);
    /* one line: micro, then per type */
    double f = prf_micro_f1(&p, misc);
    printf("  dev F1 micro %.2f (", 100 * f);
    for (int t = 0; t < NER_NTYPES; t++) {
        if (t == NER_MISC && !misc)
            continue;
        size_t g = p.gold[t], pr = p.tp[t] + p.fp[t];
        double ft = g + pr ? 200.0 * (double)p.tp[t] / (double)(g + pr) : 0;
        printf("%s%s %.1f", t ? " " : "", ner_type_names[t], ft);
    }
    printf(")");
    return f;
}

/* The temperature that makes token marginals best predict the gold labels
 * (lowest negative log-likelihood on dev), so that confidences mean
 * something. Files without MISC are left out: their O may be a MISC. */
static float calibrate(const dataset *d, const float *w, const ner_trans tr, scratch *sc,
                       bool use_gaz)
{
    float best_t = 1.0f;
    double best = INFINITY;
    for (double t = 0.05; t < 200; t *= 1.25) {
        double nll = 0;
        size_t cnt = 0;
        for (size_t k = 0; k < d->ni; k++) {
            const instance *in = &d->in[k];
            if (in->allowed_misc)
                continue;
            scratch_reserve(sc, in->n);
            emissions(d, in, w, use_gaz, sc->emit);
            for (size_t i = 0; i < in->n; i++)
                sc->gold[i] = d->p[in->first + i].gold;
            float cbuf[64];
            float *conf = in->n <= 64 ? cbuf : xmalloc(in->n * sizeof *conf);
            ner_marginals(sc->emit, in->n, tr, (float)t, sc->gold, conf, sc->fb);
            for (size_t i = 0; i < in->n; i++) {
                nll -= log(conf[i] > 1e-12f ? conf[i] : 1e-12f);
                cnt++;
            }
            if (conf != cbuf)
                free(conf);
        }
        if (cnt && nll / (double)cnt < best) {
            best = nll / (double)cnt;
            best_t = (float)t;
        }
    }
    printf("confidence temperature %.3g (dev token NLL %.4f)\n", best_t, best);
    return best_t;
}

/* ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: textmill-ner-train --train FILES... [--train-partial FILES...]\n"
        "         [--dev FILES...] [--epochs N] [--runs K] [--seed N] [--buckets BITS]\n"
        "         [--caps-aug P] [--gaz TYPE=FILE]... [--gaz-drop P] [--prune X]\n"
        "         [--temperature T] -o MODEL\n"
        "  --train          .bio training files\n"
        "  --train-partial  .bio training files whose O tokens may be unannotated MISC\n"
        "                   (files with under 3%% MISC entities are treated so anyway)\n"
        "  --dev            .bio files scored after every epoch and used to set the\n"
        "                   confidence temperature\n"
        "  --epochs N       passes over the training data (10)\n"
        "  --runs K         train K models on different shuffles and average them (1)\n"
        "  --seed N         shuffling and hashing seed (1)\n"
        "  --buckets BITS   weight table of 2^BITS rows (20)\n"
        "  --caps-aug P     also train on an upper-cased copy of this share of sentences (0.05)\n"
        "  --gaz TYPE=FILE  a name list (one name per line) marking matches as\n"
        "                   gazetteer bits for TYPE (PER, ORG, LOC, MISC)\n"
        "  --gaz-drop P     share of sentences trained without gazetteer bits (0.5)\n"
        "  --prune X        zero averaged weights below X in absolute value (0)\n"
        "  --temperature T  confidence temperature to store (default: fitted on --dev)\n"
        "  -o MODEL         output model file\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int epochs = 10, runs = 1;
    unsigned bits = 20;
    uint64_t seed = 1;
    double caps_aug = 0.05, gaz_drop = 0.5, prune = 0, temperature = 0;
    corpus tr = {0}, dv = {0};
    char err[512];
    ner_gaz *gz = ner_gaz_new();
    uint32_t gaz_mask = 0;
    const char **trf = xcalloc((size_t)argc, sizeof *trf),
               **dvf = xcalloc((size_t)argc, sizeof *dvf);
    bool *trp = xcalloc((size_t)argc, sizeof *trp);
    size_t ntr = 0, ndv = 0;
    int mode = 0; /* 1 train, 2 train-partial, 3 dev */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--train"))
            mode = 1;
        else if (!strcmp(a, "--train-partial"))
            mode = 2;
        else if (!strcmp(a, "--dev"))
            mode = 3;
        else if (!strcmp(a, "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]), mode = 0;
        else if (!strcmp(a, "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10), mode = 0;
        else if (!strcmp(a, "--buckets") && i + 1 < argc)
            bits = (unsigned)atoi(argv[++i]), mode = 0;
        else if (!strcmp(a, "--caps-aug") && i + 1 < argc)
            caps_aug = atof(argv[++i]), mode = 0;
        else if (!strcmp(a, "--gaz-drop") && i + 1 < argc)
            gaz_drop = atof(argv[++i]), mode = 0;
        else if (!strcmp(a, "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]), mode = 0;
        else if (!strcmp(a, "--temperature") && i + 1 < argc)
            temperature = atof(argv[++i]), mode = 0;
        else if (!strcmp(a, "--prune") && i + 1 < argc)
            prune = atof(argv[++i]), mode = 0;
        else if (!strcmp(a, "--gaz") && i + 1 < argc) {
            uint32_t bitsset = 0;
            if (ner_gaz_load(gz, argv[++i], &bitsset, err, sizeof err) < 0)
                die("%s", err);
            gaz_mask |= bitsset;
            mode = 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc)
            out = argv[++i], mode = 0;
        else if (a[0] == '-' && a[1])
            usage();
        else if (mode == 1 || mode == 2) {
            trp[ntr] = mode == 2;
            trf[ntr++] = a;
        } else if (mode == 3)
            dvf[ndv++] = a;
        else
            usage();
    }
    if (!ntr || !out || epochs < 1 || runs < 1 || bits < 10 || bits > 26)
        usage();
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
    if (!rng_state)
        rng_state = 1;
    for (size_t i = 0; i < ntr; i++)
        if (corpus_add_file(&tr, trf[i], trp[i], err, sizeof err) < 0)
            die("%s", err);
    for (size_t i = 0; i < ndv; i++)
        if (corpus_add_file(&dv, dvf[i], false, err, sizeof err) < 0)
            die("%s", err);
    /* Without any file that annotates MISC nothing would tell MISC from O:
     * then O is O everywhere (and the model never predicts MISC). */
    bool any_misc = false;
    for (size_t i = 0; i < tr.n_files; i++)
        any_misc |= tr.files[i].has_misc;
    for (size_t i = 0; !any_misc && i < tr.n_files; i++)
        tr.files[i].partial_misc = false;
    size_t *unlab = xcalloc(tr.n_files, sizeof *unlab);
    if (gaz_mask & NER_GAZ_B(NER_MISC))
        unlabel_demonyms(&tr, gz, unlab);
    for (size_t i = 0; i < tr.n_files; i++) {
        printf("train %-40s %7zu tokens %6zu sentences%s", tr.files[i].path, tr.files[i].n_tokens,
               tr.files[i].n_sentences,
               tr.files[i].partial_misc ? "  (no MISC: O may be MISC)" : "");
        if (unlab[i])
            printf(", %zu MISC-list names unlabelled", unlab[i]);
        printf("\n");
    }
    free(unlab);
    for (size_t i = 0; i < dv.n_files; i++)
        printf("dev   %-40s %7zu tokens %6zu sentences\n", dv.files[i].path, dv.files[i].n_tokens,
               dv.files[i].n_sentences);

    double t0 = now();
    build_opts bo = {bits, seed * 0x2545F4914F6CDD1DULL, gaz_mask, gaz_mask ? gz : NULL, NULL};
    dataset dtr = {0}, ddv = {0};
    lexicon lx = {0};
    lex_build(&lx, &tr);
    docinfo *df_tr = doc_flags(&tr, &lx, true), *df_dv = doc_flags(&dv, &lx, false);
    bo.docf = df_tr;
    build(&dtr, &tr, &bo, caps_aug);
    bo.docf = df_dv;
    build(&ddv, &dv, &bo, 0);
    free(df_tr);
    free(df_dv);
    printf("features: %zu training instances, %zu pieces, %.1f features a piece (%.1fs)\n", dtr.ni,
           dtr.np, (double)dtr.nb / (double)(dtr.np ? dtr.np : 1), now() - t0);
    fflush(stdout);

    size_t rows = (size_t)1 << bits, nw = rows * NER_NLABELS;
    float *w = xcalloc(nw, sizeof *w), *avg = xcalloc(nw, sizeof *avg);
    double *u = xcalloc(nw, sizeof *u);
    ner_trans T = {{0}}, Tavg;
    double Tu[NER_NLABELS + 1][NER_NLABELS] = {{0}};
    double c = 1;
    scratch sc = {0};
    uint32_t *order = xmalloc(dtr.ni * sizeof *order);
    for (size_t k = 0; k < dtr.ni; k++)
        order[k] = (uint32_t)k;
    /* With --runs K, K perceptrons trained on different shuffles are
     * averaged: the mean of their averaged weights, which lowers the
     * variance that a single shuffle order leaves. */
    float *ens = runs > 1 ? xcalloc(nw, sizeof *ens) : NULL;
    double Tens[NER_NLABELS + 1][NER_NLABELS] = {{0}};

#define UPD(arr, uarr, idx, v)                                                                     \
    do {                                                                                           \
        (arr)[idx] += (float)(v);                                                                  \
        (uarr)[idx] += c * (double)(v);                                                            \
    } while (0)

    for (int run = 1; run <= runs; run++) {
        if (run > 1) {
            memset(w, 0, nw * sizeof *w);
            memset(u, 0, nw * sizeof *u);
            memset(T, 0, sizeof T);
            memset(Tu, 0, sizeof Tu);
            c = 1;
        }
        for (int ep = 1; ep <= epochs; ep++) {
            double te = now();
            for (size_t k = dtr.ni; k > 1; k--) {
                size_t j = rng() % k;
                uint32_t t = order[k - 1];
                order[k - 1] = order[j];
                order[j] = t;
            }
            size_t errs = 0, toks = 0;
            for (size_t k = 0; k < dtr.ni; k++) {
                const instance *in = &dtr.in[order[k]];
                size_t n = in->n;
                scratch_reserve(&sc, n);
                bool use_gaz = gaz_mask && rng01() >= gaz_drop;
                emissions(&dtr, in, w, use_gaz, sc.emit);
                ner_viterbi(sc.emit, n, T, NULL, sc.pred, sc.bp);
                for (size_t i = 0; i < n; i++)
                    sc.gold[i] = dtr.p[in->first + i].gold;
                if (in->allowed_misc) {
                    /* The file does not annotate MISC: the target is the best
                     * sequence that agrees with the gold where the gold says
                     * something, with O free to be MISC (partial labels). */
                    for (size_t i = 0; i < n; i++)
                        sc.allowed[i] =
                            sc.gold[i] == NER_O
                                ? (uint16_t)(1u << NER_O | 1u << NER_B_MISC | 1u << NER_I_MISC)
                                : (uint16_t)(1u << sc.gold[i]);
                    ner_viterbi(sc.emit, n, T, sc.allowed, sc.gold, sc.bp);
                }
                bool same = true;
                for (size_t i = 0; i < n; i++)
                    same &= sc.pred[i] == sc.gold[i];
                toks += n;
                if (!same) {
                    for (size_t i = 0; i < n; i++) {
                        int g = sc.gold[i], p = sc.pred[i];
                        int gp = i ? sc.gold[i - 1] : NER_NLABELS,
                            pp = i ? sc.pred[i - 1] : NER_NLABELS;
                        if (g != p) {
                            errs++;
                            const ipiece *ip = &dtr.p[in->first + i];
                            size_t nf = use_gaz ? ip->nf : (size_t)(ip->nf - ip->ng);
                            for (size_t f = 0; f < nf; f++) {
                                size_t row = (size_t)dtr.b[ip->feat + f] * NER_NLABELS;
                                UPD(w, u, row + (size_t)g, 1);
                                UPD(w, u, row + (size_t)p, -1);
                            }
                        }
                        if (g != p || gp != pp) {
                            T[gp][g] += 1;
                            Tu[gp][g] += c;
                            T[pp][p] -= 1;
                            Tu[pp][p] -= c;
                        }
                    }
                }
                c += 1;
            }
            /* Averaged weights: w - u / c (the running-sum trick). */
            for (size_t i = 0; i < nw; i++)
                avg[i] = w[i] - (float)(u[i] / c);
            for (int a = 0; a <= NER_NLABELS; a++)
                for (int y = 0; y < NER_NLABELS; y++)
                    Tavg[a][y] = T[a][y] - (float)(Tu[a][y] / c);
            if (runs > 1)
                printf("run %d ", run);
            printf("epoch %2d  train token errors %5.2f%%  %.1fs", ep,
                   100.0 * (double)errs / (double)toks, now() - te);
            if (ddv.ni)
                evaluate(&ddv, &dv, avg, Tavg, &sc, gaz_mask != 0, false);
            printf("\n");
            fflush(stdout);
        }
        if (ens) {
            for (size_t i = 0; i < nw; i++)
                ens[i] += avg[i] / (float)runs;
            for (int a = 0; a <= NER_NLABELS; a++)
                for (int y = 0; y < NER_NLABELS; y++)
                    Tens[a][y] += Tavg[a][y] / runs;
        }
    }
    if (ens) {
        memcpy(avg, ens, nw * sizeof *avg);
        for (int a = 0; a <= NER_NLABELS; a++)
            for (int y = 0; y < NER_NLABELS; y++)
                Tavg[a][y] = (float)Tens[a][y];
        free(ens);
    }
    if (ddv.ni) {
        printf("dev%s%s:\n", runs > 1 ? ", mean of the runs" : "",
               gaz_mask ? ", with gazetteer bits" : "");
        evaluate(&ddv, &dv, avg, Tavg, &sc, gaz_mask != 0, true);
    }
    if (ddv.ni && gaz_mask) {
        printf("dev without gazetteer bits:\n");
        evaluate(&ddv, &dv, avg, Tavg, &sc, false, true);
    }
    float temp = temperature > 0 ? (float)temperature
                 : ddv.ni        ? calibrate(&ddv, avg, Tavg, &sc, gaz_mask != 0)
                                 : 1.0f;
    size_t kept = 0;
    if (prune > 0) {
        for (size_t i = 0; i < nw; i++)
            if (fabsf(avg[i]) < prune)
                avg[i] = 0;
    }
    for (size_t r = 0; r < rows; r++) {
        bool any = false;
        for (int y = 0; y < NER_NLABELS; y++)
            any |= avg[r * NER_NLABELS + y] != 0;
        kept += any;
    }
    uint32_t *lex_keys = NULL;
    uint8_t *lex_vals = NULL;
    size_t n_lex = lex_export(&lx, &lex_keys, &lex_vals);
    ner_params prm = {bits, bo.seed, gaz_mask, temp, {{0}}, avg, n_lex, lex_keys, lex_vals};
    memcpy(prm.trans, Tavg, sizeof Tavg);
    size_t fsize = 0;
    if (ner_save(out, &prm, &fsize, err, sizeof err) < 0)
        die("%s", err);
    printf("wrote %s: %zu bytes, %zu of %zu rows non-zero, %zu lexicon words, %.1fs in all\n",
           out, fsize, kept, rows, n_lex, now() - t0);
    free(lex_keys);
    free(lex_vals);
    free(lx.keys);
    free(lx.idx);
    free(lx.cnt);
    free(w);
    free(avg);
    free(u);
    free(order);
    free(trf);
    free(dvf);
    free(trp);
    free(sc.emit);
    free(sc.bp);
    free(sc.pred);
    free(sc.gold);
    free(sc.allowed);
    free(sc.fb);
    dataset_free(&dtr);
    dataset_free(&ddv);
    corpus_free(&tr);
    corpus_free(&dv);
    ner_gaz_free(gz);
    return 0;
}
