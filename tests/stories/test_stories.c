/* The stories stage's parts, apart from the host: sparse vectors against a
 * naive reference, the hash map's backward-shift deletion, date parsing, the
 * terms of a text, and a story's saved state (a round trip, and damaged blobs
 * refused with -3). */
#include "cluster.h"
#include "map.h"
#include "terms.h"
#include "vec.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A small deterministic generator (xorshift64*), so that a failure repeats. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

/* ---- sparse vectors against a dense reference ---------------------------------- */

#define UNIVERSE 2048 /* terms are drawn from a small range, so vectors share many */

/* The term of dense index i: spread over 32 bits, so that every radix pass
 * of sv_sort has work to do, and still increasing with i. */
static uint32_t term_of(uint32_t i) { return i * 2097143u + 7u; }

static void random_vec(sv *v, double *dense, uint32_t n, bool small_ints)
{
    sv_clear(v);
    if (dense)
        memset(dense, 0, UNIVERSE * sizeof *dense);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = rnd_below(UNIVERSE);
        /* small integers: exact sums, and many ties for sv_truncate */
        float w = small_ints ? (float)(1 + rnd_below(8)) : (float)(1 + rnd_below(1u << 20)) / 1024.0f;
        assert_true(sv_push(v, term_of(i), w));
        if (dense)
            dense[i] += w;
    }
}

static void assert_sorted_distinct(const sv *v)
{
    for (uint32_t i = 1; i < v->n; i++)
        assert_true(v->t[i - 1] < v->t[i]);
}

static void assert_matches(const sv *v, const double *dense, double tol)
{
    assert_sorted_distinct(v);
    uint32_t nonzero = 0;
    for (uint32_t i = 0; i < UNIVERSE; i++)
        if (dense[i] != 0) {
            nonzero++;
            double got = sv_get(v, term_of(i));
            assert_true(fabs(got - dense[i]) <= tol * (1 + fabs(dense[i])));
        }
    assert_int_equal(v->n, nonzero);
}

static void test_sv_sort(void **unused)
{
    (void)unused;
    sv v = {0};
    double dense[UNIVERSE];
    /* sizes on both sides of the on-stack buffer (512) */
    const uint32_t sizes[] = {0, 1, 2, 3, 17, 511, 512, 513, 1500, 6000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int round = 0; round < 20; round++) {
            random_vec(&v, dense, sizes[s], true);
            sv_sort(&v);
            assert_matches(&v, dense, 0);
        }
    /* already sorted, reversed, and terms with high bits set */
    sv_clear(&v);
    for (uint32_t i = 0; i < 1000; i++)
        assert_true(sv_push(&v, UINT32_MAX - i, 1));
    sv_sort(&v);
    assert_int_equal(v.n, 1000);
    assert_sorted_distinct(&v);
    assert_int_equal(v.t[999], UINT32_MAX);
    sv_free(&v);
}

static void test_sv_add_dot(void **unused)
{
    (void)unused;
    sv a = {0}, b = {0};
    double da[UNIVERSE], db[UNIVERSE];
    for (int round = 0; round < 300; round++) {
        uint32_t na = rnd_below(round % 3 ? 300 : 3000), nb = rnd_below(round % 5 ? 300 : 3000);
        random_vec(&a, da, na, round % 2);
        random_vec(&b, db, nb, round % 2);
        sv_sort(&a);
        sv_sort(&b);
        /* dot against the dense one */
        double want = 0;
        for (uint32_t i = 0; i < UNIVERSE; i++)
            want += da[i] * db[i];
        double got = sv_dot(&a, &b);
        assert_true(fabs(got - want) <= 1e-5 * (1 + fabs(want)));
        assert_true(fabs(sv_dot(&b, &a) - got) <= 1e-9 * (1 + fabs(got)));
        /* a += k b */
        float k = round % 4 == 0 ? 1.0f : (float)(rnd_below(100)) / 37.0f;
        assert_true(sv_add(&a, &b, k));
        for (uint32_t i = 0; i < UNIVERSE; i++)
            if (db[i] != 0)
                da[i] += (double)k * (float)db[i];
        assert_sorted_distinct(&a);
        /* a term both had keeps its slot even when the sum is 0 */
        uint32_t nonzero = 0;
        for (uint32_t i = 0; i < UNIVERSE; i++)
            if (da[i] != 0 || (db[i] != 0 && sv_get(&a, term_of(i)) == 0))
                nonzero++;
        assert_int_equal(a.n, nonzero);
        for (uint32_t i = 0; i < UNIVERSE; i++)
            assert_true(fabs(sv_get(&a, term_of(i)) - da[i]) <= 1e-4 * (1 + fabs(da[i])));
    }
    /* adding to an empty vector, and an empty one to a vector */
    sv e = {0};
    random_vec(&b, db, 50, false);
    sv_sort(&b);
    assert_true(sv_add(&e, &b, 2));
    for (uint32_t i = 0; i < UNIVERSE; i++)
        assert_true(fabs(sv_get(&e, term_of(i)) - 2 * db[i]) <= 1e-4 * (1 + db[i]));
    sv z = {0};
    uint32_t n = e.n;
    assert_true(sv_add(&e, &z, 1));
    assert_int_equal(e.n, n);
    assert_true(sv_dot(&e, &z) == 0);
    sv_free(&a);
    sv_free(&b);
    sv_free(&e);
}

static int cmp_float_desc(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return a > b ? -1 : a < b;
}

static void test_sv_truncate(void **unused)
{
    (void)unused;
    sv v = {0}, before = {0};
    double dense[UNIVERSE];
    float ws[UNIVERSE];
    for (int round = 0; round < 400; round++) {
        uint32_t n = 1 + rnd_below(round % 4 ? 200 : 2000);
        random_vec(&v, dense, n, round % 2 == 0); /* half with many ties */
        sv_sort(&v);
        assert_true(sv_copy(&before, &v));
        uint32_t keep = rnd_below(v.n + 3);
        sv_truncate(&v, keep);
        uint32_t want = keep < before.n ? keep : before.n;
        assert_int_equal(v.n, want);
        assert_sorted_distinct(&v);
        /* every kept term with its weight, and the kept are the heaviest:
         * the multiset of kept weights is the `want` largest of before */
        for (uint32_t i = 0; i < v.n; i++)
            assert_true(sv_get(&before, v.t[i]) == v.w[i]);
        memcpy(ws, before.w, before.n * sizeof *ws);
        qsort(ws, before.n, sizeof *ws, cmp_float_desc);
        float kept[UNIVERSE];
        memcpy(kept, v.w, v.n * sizeof *kept);
        qsort(kept, v.n, sizeof *kept, cmp_float_desc);
        for (uint32_t i = 0; i < v.n; i++)
            assert_true(kept[i] == ws[i]);
    }
    /* all weights equal: exactly `keep` stay */
    sv_clear(&v);
    for (uint32_t i = 0; i < 3000; i++)
        assert_true(sv_push(&v, i + 1, 0.5f));
    sv_truncate(&v, 100);
    assert_int_equal(v.n, 100);
    sv_truncate(&v, 0);
    assert_int_equal(v.n, 0);
    sv_free(&v);
    sv_free(&before);
}

/* ---- the hash map ------------------------------------------------------------------ */

static void check_map(const st_map *m, const uint64_t *ref, const bool *has, size_t universe)
{
    size_t n = 0;
    for (size_t k = 1; k < universe; k++) {
        uint64_t *p = st_map_get(m, k);
        if (has[k]) {
            assert_non_null(p);
            assert_true(*p == ref[k]);
            n++;
        } else
            assert_null(p);
    }
    assert_int_equal(m->n, n);
}

static void test_map(void **unused)
{
    (void)unused;
    enum { U = 4096 };
    static uint64_t ref[U];
    static bool has[U];
    st_map m = {0};
    assert_null(st_map_get(&m, 5));
    st_map_del(&m, 5); /* on an empty map: nothing */
    /* phases: grow, then mostly delete (long clusters shifted back again and
     * again), then churn at a steady size, as stories open and close */
    for (int phase = 0; phase < 3; phase++) {
        int ops = phase == 2 ? 200000 : 30000;
        for (int i = 0; i < ops; i++) {
            uint64_t k = 1 + rnd_below(U - 1);
            int del_pct = phase == 0 ? 20 : phase == 1 ? 80 : 50;
            if ((int)rnd_below(100) < del_pct) {
                st_map_del(&m, k);
                has[k] = false;
            } else {
                uint64_t v = rnd();
                assert_true(st_map_put(&m, k, v));
                ref[k] = v;
                has[k] = true;
            }
            if (i % 5000 == 0)
                check_map(&m, ref, has, U);
        }
        check_map(&m, ref, has, U);
    }
    /* keys that all hash near each other in a small table: put 40 keys, then
     * delete them in a random order, checking all the rest after each */
    st_map_free(&m);
    memset(has, 0, sizeof has);
    uint64_t keys[40];
    for (int i = 0; i < 40; i++) {
        keys[i] = 1 + (uint64_t)i * 7919;
        assert_true(st_map_put(&m, keys[i], (uint64_t)i));
    }
    for (int i = 39; i > 0; i--) {
        int j = (int)rnd_below((uint32_t)i + 1);
        uint64_t t = keys[i];
        keys[i] = keys[j];
        keys[j] = t;
    }
    for (int i = 0; i < 40; i++) {
        st_map_del(&m, keys[i]);
        assert_null(st_map_get(&m, keys[i]));
        for (int j = i + 1; j < 40; j++)
            assert_non_null(st_map_get(&m, keys[j]));
    }
    assert_int_equal(m.n, 0);
    st_map_free(&m);
}

/* ---- dates ------------------------------------------------------------------------- */

static int date(const char *s) { return st_parse_date(s, strlen(s)); }

static void test_parse_date(void **unused)
{
    (void)unused;
    assert_int_equal(date("1970-01-01"), 0);
    assert_int_equal(date("1969-12-31"), -1);
    assert_int_equal(date("2000-02-29"), 11016); /* 2000: leap (divisible by 400) */
    assert_int_equal(date("2000-03-01"), 11017);
    assert_int_equal(date("2024-02-29"), 19782);
    assert_int_equal(date("2024-03-01"), 19783);
    assert_int_equal(date("2023-12-31"), 19722);
    assert_int_equal(date("1900-03-01"), -25508);
    assert_int_equal(date("3000-01-01"), 376200);
    /* anything may follow the day */
    assert_int_equal(date("2024-02-29T23:59:59Z"), 19782);
    assert_int_equal(date("2024-03-01 08:00"), 19783);
    /* not dates */
    const char *bad[] = {"",           "2024",       "2024-03",    "2024-3-01",  "24-03-01",
                         "2024/03/01", "2024-00-10", "2024-13-01", "2024-01-00", "2024-01-32",
                         "abcd-ef-gh", "2024-0a-01", " 2024-03-01", "-024-03-01",
                         /* days past the month's end, leap years included */
                         "2023-02-29", "1900-02-29", "2100-02-29", "2024-02-30", "2024-04-31",
                         "2024-06-31", "2024-09-31", "2024-11-31"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (date(bad[i]) != ST_NO_DATE)
            fail_msg("'%s' parsed as day %d", bad[i], date(bad[i]));
    /* a length shorter than the string: only those bytes are read */
    assert_int_equal(st_parse_date("2024-03-01", 9), ST_NO_DATE);
    assert_int_equal(st_parse_date(NULL, 10), ST_NO_DATE);
}

/* ---- terms ------------------------------------------------------------------------- */

/* The terms of a text, as a sorted list of hashes with counts (in *counts). */
static long terms(st_terms *t, const char *text, st_term **out)
{
    long n = st_terms_of(t, text, strlen(text), 0, out);
    assert_true(n >= 0);
    return n;
}

static uint32_t only_term(st_terms *t, const char *text)
{
    st_term *o;
    long n = terms(t, text, &o);
    if (n != 1)
        fail_msg("'%s' gave %ld terms, expected 1", text, n);
    return o[0].term;
}

static void test_terms(void **unused)
{
    (void)unused;
    st_terms *t = st_terms_new();
    assert_non_null(t);
    st_term *o;
    /* folding: accents and case */
    uint32_t erdogan = only_term(t, "Erdoğan");
    assert_int_equal(only_term(t, "Erdogan"), erdogan);
    assert_int_equal(only_term(t, "ERDOĞAN"), erdogan);
    assert_int_equal(only_term(t, "erdogan"), erdogan);
    assert_int_equal(only_term(t, "Zürich"), only_term(t, "zurich"));
    assert_int_equal(only_term(t, "Earthquake"), only_term(t, "earthquake"));
    assert_true(only_term(t, "earthquake") != erdogan);
    /* the folded surface form is what is shown */
    terms(t, "ERDOĞAN", &o);
    assert_string_equal(o[0].word, "erdogan");
    /* stemming: one term for the forms of a word */
    uint32_t kill = only_term(t, "killed");
    assert_int_equal(only_term(t, "kills"), kill);
    assert_int_equal(only_term(t, "killing"), kill);
    assert_int_equal(only_term(t, "Kill"), kill);
    /* counts: distinct terms in first-seen order */
    long n = terms(t, "Police killed two; kills were reported. POLICE said: killing!", &o);
    assert_int_equal(n, 2);
    assert_int_equal(o[0].term, only_term(t, "police"));
    terms(t, "Police killed two; kills were reported. POLICE said: killing!", &o);
    assert_int_equal(o[0].count, 2);
    assert_int_equal(o[1].term, kill);
    assert_int_equal(o[1].count, 3);
    /* stop words and one-letter words carry nothing */
    assert_int_equal(terms(t, "The and of to in it was he said: a b c I", &o), 0);
    assert_int_equal(terms(t, "THE The the", &o), 0);
    assert_int_equal(terms(t, "", &o), 0);
    assert_int_equal(terms(t, " ,.;!? \n\t-- ... ''", &o), 0);
    /* a token over 40 bytes is not a word (a hash, a URL's path) */
    char longw[128];
    memset(longw, 'x', 60);
    longw[60] = 0;
    assert_int_equal(terms(t, longw, &o), 0);
    memset(longw, 'q', 41);
    longw[41] = 0;
    assert_int_equal(terms(t, longw, &o), 0);
    char with[256];
    snprintf(with, sizeof with, "flood %s flood", longw);
    n = terms(t, with, &o);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].count, 2);
    memset(longw, 'q', 40);
    longw[40] = 0;
    assert_int_equal(terms(t, longw, &o), 1); /* 40 bytes is still a word */
    /* max_words: a long text costs its head */
    size_t big = 20000 * 8;
    char *text = malloc(big + 1);
    assert_non_null(text);
    size_t at = 0;
    for (int i = 0; i < 20000; i++)
        at += (size_t)sprintf(text + at, "w%06d ", i);
    n = st_terms_of(t, text, at, 5000, &o);
    assert_int_equal(n, 5000);
    free(text);
    /* invalid UTF-8 and lone continuation bytes: no crash, words around kept */
    const char junk[] = "flood \xff\xfe\x80 river \xc3 storm \xe2\x82";
    n = st_terms_of(t, junk, sizeof junk - 1, 0, &o);
    assert_int_equal(n, 3);
    /* names: folded, unstemmed */
    char fold[64];
    size_t fl = st_fold_name("Recep Tayyip Erdoğan", strlen("Recep Tayyip Erdoğan"), fold,
                             sizeof fold);
    assert_int_equal(fl, strlen("recep tayyip erdogan"));
    assert_memory_equal(fold, "recep tayyip erdogan", fl);
    assert_int_equal(st_fold_name("...", 3, fold, sizeof fold), 0);
    st_terms_free(t);
}

/* ---- a story's saved state ------------------------------------------------------- */

static st_model *model;

static int load_model(void **unused)
{
    (void)unused;
    char err[1024];
    model = st_model_load(STORIES_MODEL_DIR, err, sizeof err);
    if (!model)
        fprintf(stderr, "cannot load the model: %s\n", err);
    return model ? 0 : -1;
}

static int free_model(void **unused)
{
    (void)unused;
    st_model_free(model);
    return 0;
}

static st_engine *engine(void)
{
    st_params p = {.window_days = 3, .max_open = 1000, .threshold = -1,
                   .today = st_parse_date("2024-06-01", 10)};
    st_engine *e = st_engine_new(&p, model);
    assert_non_null(e);
    return e;
}

typedef struct doc {
    const char *id, *title, *body, *date, *source;
} doc;

static const doc night1[] = {
    {"quake-1", "Earthquake kills twelve in Izmir",
     "A powerful earthquake struck the Turkish city of Izmir on Friday, killing twelve people "
     "and injuring hundreds. Rescue teams searched collapsed buildings in the Bayrakli district "
     "through the night.",
     "2024-03-01", "outlet-a"},
    {"bank-1", "Central bank raises interest rates",
     "The central bank raised interest rates by half a point on Thursday to fight inflation, "
     "the governor announced in Frankfurt. Markets had expected the increase.",
     "2024-03-01", "outlet-b"},
    {"quake-2", "Izmir earthquake death toll rises",
     "Rescue workers in Izmir pulled survivors from the rubble after Friday's earthquake. The "
     "death toll rose to twelve as more buildings in Bayrakli collapsed.",
     "2024-03-01", "outlet-c"},
    {"vote-1", "Parliament passes pension reform",
     "Lawmakers approved the pension reform late on Friday after a heated debate, raising the "
     "retirement age to sixty-four. Unions called a strike for next week.",
     "2024-03-01", "outlet-a"},
};

static const doc later = {
    "quake-3", "Izmir earthquake: survivors found in Bayrakli rubble",
    "Two days after the earthquake in Izmir, rescue teams found survivors in the rubble of a "
    "collapsed building in Bayrakli. The death toll stands at twelve.",
    "2024-03-03", "outlet-d"};

static void add(st_engine *e, const doc *d, st_result *r)
{
    st_input in = {.id = d->id, .title = d->title, .title_len = strlen(d->title),
                   .body = d->body, .body_len = strlen(d->body),
                   .date = st_parse_date(d->date, strlen(d->date)), .source = d->source};
    assert_int_equal(st_engine_add(e, &in, r), 0);
}

/* An in-memory sink: what st_engine_save hands a store. */
typedef struct blob {
    char *id;
    unsigned char *p;
    size_t n;
} blob;
typedef struct mem {
    blob stories[16];
    size_t n_stories, n_closed;
    uint32_t df_term[20000], df_seen[20000];
    size_t n_df;
    uint64_t docs, seq;
    int now, counters;
    uint64_t *grams;
    size_t n_grams;
} mem;

static int m_story(void *arg, const char *id, const void *b, size_t len)
{
    mem *m = arg;
    assert_true(m->n_stories < 16);
    blob *x = &m->stories[m->n_stories++];
    x->id = strdup(id);
    x->p = malloc(len);
    assert_non_null(x->p);
    memcpy(x->p, b, len);
    x->n = len;
    return 0;
}
static int m_closed(void *arg, const char *id)
{
    (void)id;
    ((mem *)arg)->n_closed++;
    return 0;
}
static int m_df(void *arg, uint32_t term, uint32_t seen)
{
    mem *m = arg;
    assert_true(m->n_df < 20000);
    m->df_term[m->n_df] = term;
    m->df_seen[m->n_df++] = seen;
    return 0;
}
static int m_counters(void *arg, uint64_t docs, int now, uint64_t seq)
{
    mem *m = arg;
    m->docs = docs;
    m->now = now;
    m->seq = seq;
    m->counters++;
    return 0;
}

static int m_grams(void *arg, const uint64_t *table, size_t n)
{
    mem *m = arg;
    free(m->grams);
    m->grams = malloc(n * sizeof *table);
    assert_non_null(m->grams);
    memcpy(m->grams, table, n * sizeof *table);
    m->n_grams = n;
    return 0;
}

static void mem_free(mem *m)
{
    free(m->grams);
    for (size_t i = 0; i < m->n_stories; i++) {
        free(m->stories[i].id);
        free(m->stories[i].p);
    }
    free(m);
}

/* Night 1 through an engine, saved into m. */
static mem *saved_night1(void)
{
    mem *m = calloc(1, sizeof *m);
    assert_non_null(m);
    st_engine *e = engine();
    st_result r;
    for (size_t i = 0; i < sizeof night1 / sizeof *night1; i++)
        add(e, &night1[i], &r);
    st_sink out = {m, m_story, m_closed, m_df, m_counters, m_grams};
    assert_int_equal(st_engine_save(e, &out), 0);
    st_engine_saved(e);
    st_engine_free(e);
    return m;
}

static void load_all(st_engine *e, const mem *m)
{
    for (size_t i = 0; i < m->n_stories; i++)
        assert_int_equal(st_engine_load_story(e, m->stories[i].p, m->stories[i].n), 0);
    for (size_t i = 0; i < m->n_df; i++)
        assert_int_equal(st_engine_load_df(e, m->df_term[i], m->df_seen[i]), 0);
    st_engine_load_counters(e, m->docs, m->now, m->seq);
    if (m->grams)
        assert_int_equal(st_engine_load_grams(e, m->grams, m->n_grams), 0);
}

static void test_blob_round_trip(void **unused)
{
    (void)unused;
    /* the reference: one engine that sees night 1 and then the later document */
    st_engine *ref = engine();
    st_result r, rr;
    for (size_t i = 0; i < sizeof night1 / sizeof *night1; i++)
        add(ref, &night1[i], &r);
    add(ref, &later, &rr);
    assert_true(rr.joined);
    assert_string_equal(rr.story, "quake-1");

    mem *m = saved_night1();
    /* three stories (quake, bank, vote), whose blobs carry their members, the counters */
    assert_int_equal(m->n_stories, 3);
    assert_int_equal(m->counters, 1);
    assert_int_equal(m->docs, 4);
    assert_true(m->n_df > 10);
    assert_non_null(m->grams); /* the quotations' table, written on the first save */
    assert_true(m->n_grams > 1);

    st_engine *e = engine();
    /* a 4-gram table of another size is refused */
    assert_int_equal(st_engine_load_grams(e, m->grams, m->n_grams - 1), -3);
    load_all(e, m);
    st_stats st;
    st_engine_stats(e, &st);
    assert_int_equal(st.open, 3);
    /* a later document joins night 1's story, as it did in one engine, with
     * the same score (the same centroids and document frequencies) */
    add(e, &later, &r);
    assert_true(r.joined);
    assert_string_equal(r.story, "quake-1");
    assert_true(fabs(r.score - rr.score) < 1e-6);
    assert_string_equal(r.label, rr.label);
    /* a document seen before gets its story, and nothing is learnt */
    add(e, &night1[2], &r);
    assert_true(r.seen_before);
    assert_string_equal(r.story, "quake-1");
    add(e, &night1[3], &r);
    assert_true(r.seen_before);
    assert_string_equal(r.story, "vote-1");
    /* the same blob twice is refused, and the story loaded first stays
     * whole */
    st_engine *twice = engine();
    size_t q = 0;
    while (strcmp(m->stories[q].id, "quake-1"))
        q++;
    assert_int_equal(st_engine_load_story(twice, m->stories[q].p, m->stories[q].n), 0);
    assert_int_equal(st_engine_load_story(twice, m->stories[q].p, m->stories[q].n), -3);
    st_engine_stats(twice, &st);
    assert_int_equal(st.open, 1);
    /* its members are still found, and a later document still joins it */
    add(twice, &night1[0], &r);
    assert_true(r.seen_before);
    assert_string_equal(r.story, "quake-1");
    add(twice, &later, &r);
    assert_true(r.joined);
    assert_string_equal(r.story, "quake-1");
    st_engine_free(twice);
    st_engine_free(e);
    st_engine_free(ref);
    mem_free(m);
}

/* Loads a damaged blob into e: -3, or 0 for a change that still reads as a
 * story (when !must_fail), never anything else; a refused blob leaves e as
 * it was. */
static int load_damaged(st_engine *e, const unsigned char *p, size_t n, bool must_fail)
{
    st_stats before, after;
    st_engine_stats(e, &before);
    int rc = st_engine_load_story(e, p, n);
    if (rc != -3 && (must_fail || rc != 0))
        fail_msg("a damaged blob of %zu bytes: %d", n, rc);
    st_engine_stats(e, &after);
    assert_int_equal(after.open, before.open + (rc == 0));
    return rc;
}

/* The engine still works after all that: a document gets a story. */
static void still_works(st_engine *e)
{
    st_result r;
    add(e, &later, &r);
    assert_non_null(r.story);
    add(e, &night1[1], &r);
    assert_non_null(r.story);
}

static void test_damaged_blobs(void **unused)
{
    (void)unused;
    mem *m = saved_night1();
    /* refused blobs go to one engine (a refusal must leave nothing behind),
     * flipped ones that may still read as a story to another */
    st_engine *refuse = engine(), *flips = engine();
    for (size_t s = 0; s < m->n_stories; s++) {
        const blob *b = &m->stories[s];
        unsigned char *p = malloc(b->n + 16);
        assert_non_null(p);
        /* truncated at every length */
        for (size_t n = 0; n < b->n; n++) {
            memcpy(p, b->p, n);
            load_damaged(refuse, p, n, true);
        }
        /* one byte too many */
        memcpy(p, b->p, b->n);
        p[b->n] = 0;
        load_damaged(refuse, p, b->n + 1, true);
        /* wrong magic */
        memcpy(p, b->p, b->n);
        p[3] = '2';
        load_damaged(refuse, p, b->n, true);
        memcpy(p, "XXXX", 4);
        load_damaged(refuse, p, b->n, true);
        /* every byte flipped, one at a time, then random bytes at random
         * places: some changes still read as a story (a weight, a date), so
         * 0 is allowed there; most must be refused */
        size_t refused = 0, tries = 0;
        for (size_t i = 0; i < b->n; i++) {
            memcpy(p, b->p, b->n);
            p[i] ^= 0xff;
            refused += load_damaged(i < 4 ? refuse : flips, p, b->n, i < 4) == -3;
            tries++;
        }
        for (int k = 0; k < 300; k++) {
            memcpy(p, b->p, b->n);
            for (int j = 0; j < 4; j++)
                p[rnd_below((uint32_t)b->n)] = (unsigned char)rnd();
            refused += load_damaged(flips, p, b->n, false) == -3;
            tries++;
        }
        assert_true(refused > tries / 4);
        free(p);
    }
    /* garbage, with and without the magic */
    unsigned char junk[256];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rnd();
    load_damaged(refuse, junk, sizeof junk, true);
    memcpy(junk, "STS1", 4);
    load_damaged(refuse, junk, sizeof junk, true);
    st_stats st;
    st_engine_stats(refuse, &st);
    assert_int_equal(st.open, 0);
    still_works(refuse);
    still_works(flips);
    st_engine_free(refuse);
    st_engine_free(flips);
    mem_free(m);
}

/* The frequencies forget the stream's rarest terms past DF_MAX, never one
 * the prior knows, and tell the store which (df.h). */
static size_t n_gone;
static void count_gone(void *arg, uint32_t term)
{
    (void)arg;
    assert_true(term >= 100); /* prior-known (1..49) and frequent (50..99) stay */
    n_gone++;
}

static void test_df_prune(void **st)
{
    (void)st;
    df_table d;
    assert_true(df_init(&d));
    for (uint32_t t = 1; t < 50; t++)
        df_slot(&d, t)->prior = 3;
    for (uint32_t t = 50; t < 100; t++)
        df_slot(&d, t)->seen = 40;
    for (uint32_t t = 100; d.n <= DF_MAX; t++)
        df_slot(&d, t)->seen = 1 + (t % 3 == 0); /* ones and twos */
    size_t before = d.n;
    n_gone = 0;
    assert_true(df_prune(&d, count_gone, NULL));
    assert_true(d.n <= DF_MAX / 2);
    assert_int_equal(d.n + n_gone, before);
    for (uint32_t t = 1; t < 50; t++)
        assert_non_null(df_find(&d, t));
    for (uint32_t t = 50; t < 100; t++)
        assert_int_equal(df_find(&d, t)->seen, 40);
    /* a table under the limit is left alone */
    n_gone = 0;
    assert_true(df_prune(&d, count_gone, NULL));
    assert_int_equal(n_gone, 0);
    df_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sv_sort),
        cmocka_unit_test(test_sv_add_dot),
        cmocka_unit_test(test_sv_truncate),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_df_prune),
        cmocka_unit_test(test_blob_round_trip),
        cmocka_unit_test(test_damaged_blobs),
    };
    return cmocka_run_group_tests(tests, load_model, free_model);
}
