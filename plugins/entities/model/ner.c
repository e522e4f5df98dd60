/* NER tagger: features, decoding, model file I/O. See ner.h. */
#include "ner_impl.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include <xxhash.h>
#include <zstd.h>

const char *const ner_label_names[NER_NLABELS] = {
    "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC",
};
const char *const ner_type_names[NER_NTYPES] = {"PER", "ORG", "LOC", "MISC"};

#define LABEL_LIST "O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC"

/* ------------------------------------------------------------------------
 * Hashing. FNV-1a over code points is incremental, so the hash of every
 * prefix of a word comes for free; the 64-bit finaliser spreads the bits so
 * that the top bits can index the table. */

#define FNV_OFF 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t fnv_cp(uint64_t h, uint32_t cp)
{
    /* code points in one step each (a UTF-32 byte order, not UTF-8) */
    for (int k = 0; k < 4; k++) {
        h ^= (cp >> (8 * k)) & 0xff;
        h *= FNV_PRIME;
    }
    return h;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t pair(uint64_t a, uint64_t b)
{
    return mix64(a * 0x9E3779B97F4A7C15ULL + b);
}

/* ------------------------------------------------------------------------
 * Token info and features */

static uint32_t fold_cp(int32_t cp, utf8proc_category_t cat)
{
    if (cat == UTF8PROC_CATEGORY_ND)
        return '0'; /* 1995 and 2010 are the same word to the model */
    switch (cp) {
    case 0x2018: case 0x2019: case 0x02BC: case 0x201B: case 0x2032:
        return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x00AB: case 0x00BB:
        return '"';
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2212:
        return '-';
    }
    return (uint32_t)utf8proc_tolower(cp);
}

/* Words that may join the capitalised parts of one name: 1 for "of",
 * "for", "&", a hyphen and name particles, 2 for "the" (only after one of
 * those: "Bank of the West"). */
static uint8_t conn_word(const char *s, size_t n)
{
    static const char *const w[] = {"of", "for", "&", "-", "de", "del", "da", "du",
                                     "von", "van", "der", "la", "le"};
    if (n > 3)
        return 0;
    if (n == 3 && !memcmp(s, "the", 3))
        return 2;
    if (ner_is_hyphen(s, n))
        return 1;
    for (size_t k = 0; k < sizeof w / sizeof *w; k++)
        if (strlen(w[k]) == n && !memcmp(w[k], s, n))
            return 1;
    return 0;
}

static void tinfo_core(const char *str, size_t len, ner_tinfo *ti);

static const char *const cue_title[] = {
    "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "prof", "prof.", "sir", "dame",
    "lord", "lady", "king", "queen", "prince", "princess", "emperor", "sultan", "emir",
    "president", "minister", "premier", "chancellor", "senator", "sen.", "rep.",
    "representative", "congressman", "congresswoman", "governor", "gov.", "mayor", "judge",
    "justice", "general", "gen.", "colonel", "col.", "lt.", "lieutenant", "captain", "capt.",
    "major", "maj.", "sergeant", "sgt.", "admiral", "adm.", "commander", "marshal", "chairman",
    "chairwoman", "chairperson", "ceo", "spokesman", "spokeswoman", "spokesperson", "secretary",
    "ambassador", "envoy", "pope", "cardinal", "bishop", "archbishop", "rabbi", "imam", "sheikh",
    "ayatollah", "cleric", "rev.", "reverend", "pastor", "coach", "striker", "midfielder",
    "defender", "goalkeeper", "actor", "actress", "singer", "rapper", "novelist", "author",
    "director", "dictator", "leader", "candidate", "lawmaker", "st.",
};
static const char *const cue_org[] = {
    "ministry", "party", "agency", "corps", "brigade", "brigades", "inc", "inc.", "corp",
    "corp.", "co.", "ltd", "ltd.", "llc", "plc", "gmbh", "ag", "group", "front", "forces",
    "army", "navy", "council", "committee", "commission", "university", "college", "institute",
    "institution", "association", "union", "federation", "league", "bank", "company",
    "corporation", "department", "court", "parliament", "assembly", "congress", "senate",
    "government", "authority", "organization", "organisation", "foundation", "society", "club",
    "fc", "airlines", "airways", "network", "school", "academy", "church", "movement", "alliance",
    "coalition", "board", "bureau", "service", "services", "police", "guard", "fund", "trust",
    "holdings", "systems", "technologies", "industries", "labs", "records", "studios", "press",
    "times", "news", "post", "journal", "tribune", "herald", "gazette", "magazine", "channel",
    "radio", "tv", "television", "cabinet", "office", "administration", "directorate", "command",
    "regiment", "battalion", "division", "team", "band", "orchestra", "hospital", "museum",
    "library", "centre", "center", "bloc", "caucus", "brotherhood", "taliban", "cartel",
};
static const char *const cue_loc[] = {
    "river", "mountain", "mountains", "mount", "mt.", "lake", "sea", "ocean", "island", "islands",
    "valley", "county", "province", "city", "street", "avenue", "ave.", "road", "square",
    "bridge", "airport", "bay", "gulf", "region", "district", "peninsula", "desert", "hills",
    "coast", "strait", "canal", "beach", "village", "town", "oblast", "prefecture", "heights",
    "falls", "republic", "kingdom", "emirates", "highway", "boulevard", "port", "harbour",
    "harbor", "basin", "plain", "plateau", "forest", "glacier", "cape", "gorge", "corridor",
};
static const char *const cue_misc[] = {
    "war", "wars", "election", "elections", "championship", "championships", "cup", "award",
    "awards", "prize", "festival", "olympics", "games", "act", "treaty", "agreement", "accord",
    "accords", "revolution", "crisis", "summit", "conference", "day", "series", "trophy", "open",
    "grand", "prix", "declaration", "protocol", "doctrine", "plan", "uprising", "offensive",
    "operation", "massacre", "genocide", "battle", "referendum", "bill", "constitution",
};

#define CUE_SLOTS 1024
static uint64_t cue_keys[CUE_SLOTS];
static uint8_t cue_vals[CUE_SLOTS];
static pthread_once_t cue_once = PTHREAD_ONCE_INIT;

static void cue_add(const char *const *w, size_t n, uint8_t v)
{
    for (size_t k = 0; k < n; k++) {
        ner_tinfo ti;
        tinfo_core(w[k], strlen(w[k]), &ti);
        uint64_t key = ti.lw | 1;
        size_t j = (size_t)(key >> 40) & (CUE_SLOTS - 1);
        while (cue_keys[j] && cue_keys[j] != key)
            j = (j + 1) & (CUE_SLOTS - 1);
        if (!cue_keys[j]) {
            cue_keys[j] = key;
            cue_vals[j] = v;
        }
    }
}

static void cue_init(void)
{
#define ADD(a, v) cue_add(a, sizeof a / sizeof *a, v)
    ADD(cue_title, NER_CUE_TITLE);
    ADD(cue_org, NER_CUE_ORG);
    ADD(cue_loc, NER_CUE_LOC);
    ADD(cue_misc, NER_CUE_MISC);
#undef ADD
}

static uint8_t cue_of(uint64_t lw)
{
    uint64_t key = lw | 1;
    size_t j = (size_t)(key >> 40) & (CUE_SLOTS - 1);
    while (cue_keys[j]) {
        if (cue_keys[j] == key)
            return cue_vals[j];
        j = (j + 1) & (CUE_SLOTS - 1);
    }
    return NER_CUE_NONE;
}

void ner_tinfo_make(const char *str, size_t len, ner_tinfo *ti)
{
    pthread_once(&cue_once, cue_init);
    tinfo_core(str, len, ti);
    ti->cue = ti->cls == NER_CLS_PUNCT || ti->cls == NER_CLS_DIGIT ? NER_CUE_NONE : cue_of(ti->lw);
}

/* The code point at s[i] (i < len), its category and its folded form
 * (fold_cp); returns its length in bytes. */
static inline size_t decode_fold(const uint8_t *s, size_t len, size_t i, int32_t *cp,
                                 utf8proc_category_t *cat, uint32_t *f)
{
    if (s[i] < 0x80) {
        /* ASCII without utf8proc: the categories that matter to the callers
         * (any other one, here Po, is treated alike), and fold_cp */
        int32_t c = s[i];
        bool up = c >= 'A' && c <= 'Z', digit = c >= '0' && c <= '9';
        *cp = c;
        *cat = up ? UTF8PROC_CATEGORY_LU : c >= 'a' && c <= 'z' ? UTF8PROC_CATEGORY_LL
               : digit ? UTF8PROC_CATEGORY_ND : UTF8PROC_CATEGORY_PO;
        *f = digit ? '0' : up ? (uint32_t)c + 32 : (uint32_t)c;
        return 1;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
    size_t n = 1;
    if (r <= 0) {
        *cp = 0xFFFD; /* invalid byte: a replacement character */
    } else {
        *cp = c;
        n = (size_t)r;
    }
    *cat = utf8proc_category(*cp);
    *f = fold_cp(*cp, *cat);
    return n;
}

uint64_t ner_word_id(const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str;
    uint64_t lw = FNV_OFF;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        utf8proc_category_t cat;
        uint32_t f;
        i += decode_fold(s, len, i, &cp, &cat, &f);
        lw = fnv_cp(lw, f);
    }
    return mix64(lw);
}

static void tinfo_core(const char *str, size_t len, ner_tinfo *ti)
{
    const uint8_t *s = (const uint8_t *)str;
    uint64_t lw = FNV_OFF, cw = FNV_OFF;
    uint32_t last[4] = {0, 0, 0, 0}; /* the last 4 folded code points, ring */
    size_t ncp = 0, n_up = 0, n_low = 0, n_dig = 0, n_nocase = 0;
    int first_letter_up = -1;
    char shape[16];
    size_t shlen = 0;
    memset(ti, 0, sizeof *ti);
    for (size_t i = 0; i < len;) {
        int32_t cp;
        utf8proc_category_t cat;
        uint32_t f;
        size_t n = decode_fold(s, len, i, &cp, &cat, &f);
        for (size_t k = 0; k < n; k++) {
            cw ^= s[i + k];
            cw *= FNV_PRIME;
        }
        i += n;
        char sc;
        switch (cat) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LT:
            sc = 'X';
            n_up++;
            if (first_letter_up < 0)
                first_letter_up = 1;
            break;
        case UTF8PROC_CATEGORY_LL:
            sc = 'x';
            n_low++;
            if (first_letter_up < 0)
                first_letter_up = 0;
            break;
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
            sc = 'L';
            n_nocase++;
            break;
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            sc = 'd';
            n_dig++;
            break;
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_CF:
            sc = 0; /* marks change neither shape nor length */
            break;
        default:
            sc = (cp < 128 && cp > 32) ? (char)cp : 'p';
            break;
        }
        lw = fnv_cp(lw, f);
        if (!sc)
            continue;
        last[ncp & 3] = f;
        if (!ti->fcp)
            ti->fcp = f;
        ncp++;
        if (ncp <= 4)
            ti->pre[ncp - 1] = lw;
        /* Compressed shape: a class char only when it differs from the last
         * one; capped so that odd tokens cannot make it long. */
        if (shlen < sizeof shape && (shlen == 0 || shape[shlen - 1] != sc))
            shape[shlen++] = sc;
    }
    ti->lw = mix64(lw);
    ti->cw = mix64(cw ^ 0x5bd1e995ULL);
    for (int k = 0; k < 4; k++)
        if (ti->pre[k])
            ti->pre[k] = mix64(ti->pre[k]);
    /* Suffix k: the last k code points, oldest first. */
    for (size_t k = 1; k <= 4 && k <= ncp; k++) {
        uint64_t h = FNV_OFF;
        for (size_t j = k; j >= 1; j--)
            h = fnv_cp(h, last[(ncp - j) & 3]);
        ti->suf[k - 1] = mix64(h + 0x2545F4914F6CDD1DULL);
    }
    uint64_t sh = FNV_OFF;
    for (size_t k = 0; k < shlen; k++)
        sh = fnv_cp(sh, (uint8_t)shape[k]);
    ti->shape = mix64(sh + shlen);

    size_t letters = n_up + n_low + n_nocase;
    if (letters == 0)
        ti->cls = n_dig ? NER_CLS_DIGIT : NER_CLS_PUNCT;
    else if (n_up + n_low == 0)
        ti->cls = NER_CLS_NOCASE;
    else if (n_dig)
        ti->cls = NER_CLS_ALNUM;
    else if (n_low == 0)
        ti->cls = n_up == 1 ? NER_CLS_ONECAP : NER_CLS_ALLCAP;
    else if (n_up == 0)
        ti->cls = NER_CLS_LOWER;
    else if (first_letter_up == 1 && n_up == 1)
        ti->cls = NER_CLS_INITCAP;
    else
        ti->cls = NER_CLS_MIXED;
    ti->lenb = ncp <= 4 ? (uint8_t)ncp : ncp <= 6 ? 5 : ncp <= 9 ? 6 : ncp <= 14 ? 7 : 8;
    ti->conn = conn_word(str, len);
}

static bool is_cap(const ner_tinfo *t)
{
    return t->cls == NER_CLS_INITCAP || t->cls == NER_CLS_ALLCAP || t->cls == NER_CLS_ONECAP ||
           t->cls == NER_CLS_MIXED;
}

void ner_sentence_finish(ner_tinfo *ti, size_t n)
{
    size_t words = 0, caps = 0, longw = 0, title = 0;
    for (size_t i = 0; i < n; i++) {
        int c = ti[i].cls;
        ti[i].first = i == 0;
        if (c == NER_CLS_LOWER || c == NER_CLS_INITCAP || c == NER_CLS_ALLCAP ||
            c == NER_CLS_MIXED || c == NER_CLS_ONECAP) {
            words++;
            caps += c == NER_CLS_ALLCAP || c == NER_CLS_ONECAP;
            if (ti[i].lenb >= 4) {
                longw++;
                title += c == NER_CLS_INITCAP || c == NER_CLS_ALLCAP;
            }
        }
    }
    /* Headlines: all caps, or every longer word capitalised. There a capital
     * letter is no evidence of a name, and the features say so. */
    int mode = NER_MODE_NORMAL;
    if (words >= 3 && caps * 5 >= words * 4)
        mode = NER_MODE_ALLCAPS;
    else if (longw >= 4 && title * 10 >= longw * 9)
        mode = NER_MODE_TITLE;
    for (size_t i = 0; i < n; i++) {
        ti[i].mode = (uint8_t)mode;
        ti[i].rs = ti[i].re = 0;
    }
    /* Capitalised runs, joined by connectors ("Bank of the West", "Rolls -
     * Royce"), in normal sentences only. */
    if (mode != NER_MODE_NORMAL || n > 65535)
        return;
    for (size_t i = 0; i < n;) {
        if (!is_cap(&ti[i])) {
            i++;
            continue;
        }
        size_t j = i + 1;
        for (;;) {
            if (j < n && is_cap(&ti[j])) {
                j++;
                continue;
            }
            size_t k = j;
            if (k < n && ti[k].conn == 1) {
                k++;
                if (k < n && ti[k].conn && !is_cap(&ti[k]))
                    k++;
            }
            if (k > j && k < n && is_cap(&ti[k])) {
                j = k + 1;
                continue;
            }
            break;
        }
        for (size_t k = i; k < j; k++) {
            ti[k].rs = (uint16_t)i;
            ti[k].re = (uint16_t)j;
        }
        i = j;
    }
}

/* ------------------------------------------------------------------------
 * Document flags: an open-addressing map from word to counts. */

#define BOS_W 0x42f0e1eba9ea3693ULL
#define EOS_W 0x6a09e667f3bcc909ULL

typedef struct doc_slot {
    uint64_t key; /* lower-cased word | 1; 0: empty */
    uint32_t lower, capmid, capoth, all;
    uint32_t pos[2]; /* 1 + the first two capitalised occurrences inside sentences */
} doc_slot;

static int doc_kind(const ner_tinfo *t)
{
    /* 0 none, 1 lower case, 2 capitalised mid-sentence, 3 capitalised elsewhere */
    switch (t->cls) {
    case NER_CLS_LOWER:
        return 1;
    case NER_CLS_INITCAP:
    case NER_CLS_ALLCAP:
    case NER_CLS_ONECAP:
    case NER_CLS_MIXED:
        return t->first || t->mode != NER_MODE_NORMAL ? 3 : 2;
    default:
        return 0;
    }
}

typedef struct acr_slot {
    uint64_t key; /* initials | 1; 0: empty */
    uint64_t last_lw;
    uint8_t last_cue;
} acr_slot;


/* The hash of a run's initials, as the word of its acronym would hash
 * ("Democratic Unionist Party" -> "dup"); 0 when it has none. */
static uint64_t run_initials(const ner_tinfo *ti, size_t rs, size_t re)
{
    uint64_t h = FNV_OFF;
    size_t k = 0;
    for (size_t i = rs; i < re; i++) {
        if (ti[i].conn || !ti[i].fcp)
            continue;
        h = fnv_cp(h, ti[i].fcp);
        k++;
    }
    return k >= 2 && k <= 8 ? mix64(h) : 0;
}

static doc_slot *doc_find(doc_slot *m, size_t mask, uint64_t key)
{
    size_t j = (size_t)(key >> 20) & mask;
    while (m[j].key && m[j].key != key)
        j = (j + 1) & mask;
    return &m[j];
}

int ner_doc_finish(ner_tinfo *ti, size_t n, void **scratch, size_t *cap)
{
    for (size_t i = 0; i < n; i++) {
        ti[i].doc = 0;
        ti[i].acr = 0;
        ti[i].has_acr = 0;
        ti[i].acr_lw = 0;
    }
    size_t slots = 64;
    while (slots < 2 * n)
        slots *= 2;
    size_t need = slots * (sizeof(doc_slot) + sizeof(acr_slot));
    if (need > *cap) {
        void *nb = realloc(*scratch, need);
        if (!nb)
            return -1;
        *scratch = nb;
        *cap = need;
    }
    doc_slot *m = *scratch;
    acr_slot *am = (acr_slot *)(m + slots);
    memset(m, 0, need);
    size_t mask = slots - 1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            int kind = doc_kind(&ti[i]);
            if (!kind)
                continue;
            doc_slot *d = doc_find(m, mask, ti[i].lw | 1);
            if (pass == 0) {
                d->key = ti[i].lw | 1;
                if (kind == 2 && d->capmid < 2)
                    d->pos[d->capmid] = (uint32_t)i + 1;
                d->all++;
                d->lower += kind == 1;
                d->capmid += kind == 2;
                d->capoth += kind == 3;
                continue;
            }
            /* the other occurrences: the counts without this one */
            uint8_t f = 0;
            f |= d->lower > (uint32_t)(kind == 1) ? NER_DOC_LOWER : 0;
            f |= d->capmid > (uint32_t)(kind == 2) ? NER_DOC_CAPMID : 0;
            f |= d->capoth > (uint32_t)(kind == 3) ? NER_DOC_CAPOTH : 0;
            f |= d->all > 1 ? NER_DOC_SEEN : 0;
            ti[i].doc = f;
            /* context aggregation: the neighbours of other occurrences */
            memset(ti[i].agg, 0, sizeof ti[i].agg);
            if (kind >= 2) {
                int k = 0;
                for (int q = 0; q < 2; q++) {
                    size_t j = d->pos[q];
                    if (!j-- || j == i)
                        continue;
                    ti[i].agg[k++] = j >= 1 && !ti[j].first ? ti[j - 1].lw : BOS_W;
                    ti[i].agg[k++] = j + 1 < n && !ti[j + 1].first ? ti[j + 1].lw : EOS_W;
                }
            }
        }
    }
    /* Acronyms: the runs' initials, then the all-caps words that spell them
     * ("Democratic Unionist Party ... DUP"). rs and re count from the
     * sentence start, the token with first set. */
    size_t base = 0;
    for (size_t i = 0; i < n; i++) {
        if (ti[i].first)
            base = i;
        if (ti[i].re - ti[i].rs < 2 || i - base != ti[i].rs)
            continue;
        size_t rs = base + ti[i].rs, re = base + ti[i].re;
        uint64_t key = run_initials(ti, rs, re);
        if (!key)
            continue;
        key |= 1;
        /* the run is abbreviated somewhere in the document */
        doc_slot *d = doc_find(m, mask, key);
        if (d->key && d->capmid + d->capoth > 0)
            for (size_t k = rs; k < re; k++)
                ti[k].has_acr = 1;
        size_t j = (size_t)(key >> 20) & mask;
        while (am[j].key && am[j].key != key)
            j = (j + 1) & mask;
        if (!am[j].key) {
            am[j].key = key;
            am[j].last_lw = ti[re - 1].lw;
            am[j].last_cue = ti[re - 1].cue;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (ti[i].cls != NER_CLS_ALLCAP || ti[i].lenb > 6)
            continue;
        uint64_t key = ti[i].lw | 1;
        size_t j = (size_t)(key >> 20) & mask;
        while (am[j].key && am[j].key != key)
            j = (j + 1) & mask;
        if (am[j].key) {
            ti[i].acr = (uint8_t)(1 + am[j].last_cue);
            ti[i].acr_lw = am[j].last_lw;
        }
    }
    return 0;
}

/* Feature templates. The numbers are part of the model format: changing one
 * changes every hash, so bump NER_FORMAT_VERSION with it. */
enum {
    T_BIAS = 1, T_LW, T_CW, T_SHAPE, T_CLS, T_PRE1, T_PRE2, T_PRE3, T_PRE4,
    T_SUF1, T_SUF2, T_SUF3, T_SUF4, T_LEN, T_LWM1, T_LWM2, T_LWP1, T_LWP2,
    T_SHM1, T_SHP1, T_SHM2, T_SHP2, T_LWM1_LW, T_LW_LWP1, T_SH3, T_CLS3,
    T_MODE_CLS, T_MODE_LW, T_LWM1_CLS, T_CLS_LWP1, T_GAZ, T_GAZM1, T_GAZP1,
    T_RUN_LEN, T_RUN_PREV, T_RUN_NEXT, T_RUN_CUE, T_RUN_FIRST, T_RUN_LAST, T_RUN_LASTSUF,
    T_CUE, T_LEX, T_LEX3, T_LEXENT, T_LEXENT3, T_LEXENT_W, T_DOC, T_AGG_PREV, T_AGG_NEXT,
    T_ACR, T_ACR_LW, T_HAS_ACR,
};



#define BOS_CLS 14
#define EOS_CLS 15

/* The features of a token fall in two parts: those of the token alone (its
 * word, shape, affixes, class, lexicon entry, and its sentence's mode and
 * whether it starts it), which the tagger sums once per distinct token and
 * remembers, and those of its context. ner_features() is both, in the
 * order the trainer has always seen them. */
enum { FEAT_LOCAL = 1, FEAT_CONTEXT = 2 };

static size_t features(const ner_tinfo *ti, size_t n, size_t i, const uint32_t *gaz,
                       uint32_t gaz_mask, uint64_t seed, uint64_t *out, size_t *n_gaz,
                       unsigned parts)
{
    size_t k = 0;
#define F(t, v) (out[k++] = mix64((uint64_t)(v) ^ ((uint64_t)(t) * 0x9E3779B97F4A7C15ULL) ^ seed))
#define L(t, v) ((parts & FEAT_LOCAL) ? (void)F(t, v) : (void)0)
#define C(t, v) ((parts & FEAT_CONTEXT) ? (void)F(t, v) : (void)0)
    const ner_tinfo *c = &ti[i];
    uint64_t lwm1 = i >= 1 ? ti[i - 1].lw : BOS_W, lwm2 = i >= 2 ? ti[i - 2].lw : BOS_W;
    uint64_t lwp1 = i + 1 < n ? ti[i + 1].lw : EOS_W, lwp2 = i + 2 < n ? ti[i + 2].lw : EOS_W;
    uint64_t shm1 = i >= 1 ? ti[i - 1].shape : BOS_W, shm2 = i >= 2 ? ti[i - 2].shape : BOS_W;
    uint64_t shp1 = i + 1 < n ? ti[i + 1].shape : EOS_W;
    uint64_t shp2 = i + 2 < n ? ti[i + 2].shape : EOS_W;
    unsigned clm1 = i >= 1 ? ti[i - 1].cls : BOS_CLS, clp1 = i + 1 < n ? ti[i + 1].cls : EOS_CLS;

    L(T_BIAS, 0);
    L(T_LW, c->lw);
    L(T_CW, c->cw);
    L(T_SHAPE, c->shape);
    L(T_CLS, c->cls | (unsigned)c->first << 4);
    for (int j = 0; j < 4; j++) {
        if (c->pre[j])
            L(T_PRE1 + j, c->pre[j]);
        if (c->suf[j])
            L(T_SUF1 + j, c->suf[j]);
    }
    L(T_LEN, c->lenb | (unsigned)c->cls << 4);
    C(T_LWM1, lwm1);
    C(T_LWM2, lwm2);
    C(T_LWP1, lwp1);
    C(T_LWP2, lwp2);
    C(T_SHM1, shm1);
    C(T_SHP1, shp1);
    C(T_SHM2, shm2);
    C(T_SHP2, shp2);
    C(T_LWM1_LW, pair(lwm1, c->lw));
    C(T_LW_LWP1, pair(c->lw, lwp1));
    C(T_SH3, pair(pair(shm1, c->shape), shp1));
    C(T_CLS3, clm1 | (unsigned)c->cls << 4 | clp1 << 8 | (unsigned)c->first << 12);
    if (c->mode != NER_MODE_NORMAL) {
        L(T_MODE_CLS, c->mode | (unsigned)c->cls << 2);
        L(T_MODE_LW, pair(c->lw, c->mode));
    }
    C(T_LWM1_CLS, pair(lwm1, c->cls));
    C(T_CLS_LWP1, pair(c->cls, lwp1));
    /* A capitalised run ("Bank of the West"): where in it the token is, its
     * length, the words around it, its first and last word. */
    if (c->rs < c->re) {
        size_t rs = c->rs, re = c->re, len = re - rs;
        unsigned pos = len == 1 ? 0 : c->conn ? 4 : i == rs ? 1 : i + 1 == re ? 3 : 2;
        uint64_t lwb = rs >= 1 ? ti[rs - 1].lw : BOS_W, lwa = re < n ? ti[re].lw : EOS_W;
        unsigned cb = rs >= 1 ? ti[rs - 1].cue : 7, ca = re < n ? ti[re].cue : 7;
        C(T_RUN_LEN, (len < 7 ? len : 7) | pos << 3 | (unsigned)c->first << 6);
        C(T_RUN_PREV, pair(lwb, pos));
        C(T_RUN_NEXT, pair(lwa, pos));
        C(T_RUN_CUE, cb | (unsigned)ti[re - 1].cue << 3 | ca << 6 | pos << 9);
        if (len > 1) {
            C(T_RUN_FIRST, pair(ti[rs].lw, pos));
            C(T_RUN_LAST, pair(ti[re - 1].lw, pos));
            if (ti[re - 1].suf[2])
                C(T_RUN_LASTSUF, pair(ti[re - 1].suf[2], pos));
        }
    }
    /* Cue words: titles before, name endings after. */
    unsigned cm1 = i >= 1 ? ti[i - 1].cue : 7, cp1 = i + 1 < n ? ti[i + 1].cue : 7;
    C(T_CUE, cm1 | cp1 << 3 | (unsigned)c->cue << 6 | (unsigned)c->cls << 9);
    /* The lexicon: how the training text writes this word and its
     * neighbours, and how often it is (part of) a name of which type. */
    if (ner_lex_word(c)) {
        unsigned w0 = c->lex & 15, e0 = c->lex >> 4;
        unsigned wm1 = 15, wp1 = 15, em1 = 15, ep1 = 15;
        if (i >= 1) {
            bool lw = ner_lex_word(&ti[i - 1]);
            wm1 = lw ? ti[i - 1].lex & 15u : 14;
            em1 = lw ? ti[i - 1].lex >> 4u : 14;
        }
        if (i + 1 < n) {
            bool lw = ner_lex_word(&ti[i + 1]);
            wp1 = lw ? ti[i + 1].lex & 15u : 14;
            ep1 = lw ? ti[i + 1].lex >> 4u : 14;
        }
        unsigned ctx = (unsigned)c->cls << 4 | (unsigned)c->first << 8 | (unsigned)c->mode << 9;
        L(T_LEX, w0 | ctx);
        C(T_LEX3, wm1 | w0 << 4 | wp1 << 8 | (unsigned)(c->mode != NER_MODE_NORMAL) << 12);
        L(T_LEXENT, e0 | ctx);
        C(T_LEXENT3, em1 | e0 << 4 | ep1 << 8);
        L(T_LEXENT_W, e0 | w0 << 4 | (unsigned)c->cls << 8);
        /* the document: how the word's other occurrences are written */
        C(T_DOC, c->cls | (unsigned)c->first << 4 | (unsigned)(c->mode != NER_MODE_NORMAL) << 5 |
                     (unsigned)c->doc << 6);
    }
    /* Context aggregation: the neighbours of two other occurrences. */
    for (int q = 0; q < 4 && c->agg[q]; q += 2) {
        C(T_AGG_PREV, c->agg[q]);
        C(T_AGG_NEXT, c->agg[q + 1]);
    }
    /* Acronyms spelt by a name of the document, and such names. */
    if (c->acr) {
        C(T_ACR, c->acr);
        C(T_ACR_LW, c->acr_lw);
    }
    if (c->has_acr)
        C(T_HAS_ACR, (c->rs == i) | (unsigned)(c->re == i + 1) << 1);
    size_t k0 = k;
    if (gaz && gaz_mask && (parts & FEAT_CONTEXT)) {
        uint32_t g0 = gaz[i] & gaz_mask;
        uint32_t gm = i >= 1 ? gaz[i - 1] & gaz_mask : 0;
        uint32_t gp = i + 1 < n ? gaz[i + 1] & gaz_mask : 0;
        for (uint32_t all = g0 | gm | gp; all; all &= all - 1) {
            unsigned b = (unsigned)__builtin_ctz(all); /* the set bits, in increasing order */
            if (g0 >> b & 1)
                C(T_GAZ, b);
            if (gm >> b & 1)
                C(T_GAZM1, b);
            if (gp >> b & 1)
                C(T_GAZP1, b);
        }
    }
#undef F
#undef L
#undef C
    if (n_gaz)
        *n_gaz = k - k0;
    return k;
}

size_t ner_features(const ner_tinfo *ti, size_t n, size_t i, const uint32_t *gaz,
                    uint32_t gaz_mask, uint64_t seed, uint64_t *out, size_t *n_gaz)
{
    return features(ti, n, i, gaz, gaz_mask, seed, out, n_gaz, FEAT_LOCAL | FEAT_CONTEXT);
}

/* ------------------------------------------------------------------------
 * Decoding */

bool ner_allowed(int prev, int y)
{
    if (y == NER_O || NER_LABEL_IS_B(y))
        return true;
    /* I-X: only after B-X or I-X (prev == NER_NLABELS is the sentence start) */
    return prev != NER_O && prev < NER_NLABELS && NER_LABEL_TYPE(prev) == NER_LABEL_TYPE(y);
}

#define NEG_INF (-1e30f)

void ner_viterbi(const float *emit, size_t n, const ner_trans trans, const uint16_t *allowed,
                 uint8_t *out, uint8_t *bp)
{
    if (n == 0)
        return;
    float d[NER_NLABELS], nd[NER_NLABELS];
    for (int y = 0; y < NER_NLABELS; y++) {
        bool ok = ner_allowed(NER_NLABELS, y) && (!allowed || (allowed[0] >> y & 1));
        d[y] = ok ? trans[NER_NLABELS][y] + emit[y] : NEG_INF;
    }
    for (size_t i = 1; i < n; i++) {
        for (int y = 0; y < NER_NLABELS; y++) {
            float best = NEG_INF;
            int arg = 0;
            if (!allowed || (allowed[i] >> y & 1)) {
                /* ner_allowed(p, y): any p before O and B-X, B-X and I-X
                 * (y - 1 and y) before I-X */
                int p0 = NER_LABEL_IS_B(y) || y == NER_O ? 0 : y - 1;
                int p1 = NER_LABEL_IS_B(y) || y == NER_O ? NER_NLABELS : y + 1;
                for (int p = p0; p < p1; p++) {
                    if (d[p] <= NEG_INF)
                        continue;
                    float s = d[p] + trans[p][y];
                    if (s > best) {
                        best = s;
                        arg = p;
                    }
                }
            }
            bp[i * NER_NLABELS + y] = (uint8_t)arg;
            nd[y] = best > NEG_INF ? best + emit[i * NER_NLABELS + y] : NEG_INF;
        }
        memcpy(d, nd, sizeof d);
    }
    int y = 0;
    for (int k = 1; k < NER_NLABELS; k++)
        if (d[k] > d[y])
            y = k;
    for (size_t i = n; i-- > 0;) {
        out[i] = (uint8_t)y;
        if (i)
            y = bp[i * NER_NLABELS + y];
    }
}

/* The transition potentials of ner_marginals(), which depend on the model
 * only. */
typedef double trans_pot[NER_NLABELS + 1][NER_NLABELS];

static void transition_potentials(const ner_trans trans, float temp, trans_pot M)
{
    double inv = 1.0 / (temp > 0 ? temp : 1.0);
    float tmax = NEG_INF;
    for (int p = 0; p <= NER_NLABELS; p++)
        for (int y = 0; y < NER_NLABELS; y++)
            if (trans[p][y] > tmax)
                tmax = trans[p][y];
    for (int p = 0; p <= NER_NLABELS; p++)
        for (int y = 0; y < NER_NLABELS; y++)
            M[p][y] = ner_allowed(p, y) ? exp((trans[p][y] - tmax) * inv) : 0.0;
}

static void marginals(const float *emit, size_t n, const trans_pot M, float temp,
                      const uint8_t *labels, float *conf, double *scratch);

void ner_marginals(const float *emit, size_t n, const ner_trans trans, float temp,
                   const uint8_t *labels, float *conf, double *scratch)
{
    trans_pot M;
    transition_potentials(trans, temp, M);
    marginals(emit, n, M, temp, labels, conf, scratch);
}

static void marginals(const float *emit, size_t n, const trans_pot M, float temp,
                      const uint8_t *labels, float *conf, double *scratch)
{
    if (n == 0)
        return;
    double *al = scratch, *be = scratch + n * NER_NLABELS;
    double inv = 1.0 / (temp > 0 ? temp : 1.0);
    /* the previous labels p that may go before y: [y_from[y], y_to[y]) */
    int y_from[NER_NLABELS], y_to[NER_NLABELS];
    for (int y = 0; y < NER_NLABELS; y++) {
        bool any = y == NER_O || NER_LABEL_IS_B(y);
        y_from[y] = any ? 0 : y - 1;
        y_to[y] = any ? NER_NLABELS : y + 1;
    }
    /* Emission potentials normalised per token (the factor cancels out). */
    for (size_t i = 0; i < n; i++) {
        const float *e = emit + i * NER_NLABELS;
        float mx = e[0];
        for (int y = 1; y < NER_NLABELS; y++)
            mx = e[y] > mx ? e[y] : mx;
        for (int y = 0; y < NER_NLABELS; y++)
            be[i * NER_NLABELS + y] = exp((e[y] - mx) * inv); /* E, kept in be for now */
    }
    /* Forward, normalised at every step so that nothing underflows. */
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (int y = 0; y < NER_NLABELS; y++) {
            double s = 0;
            if (i == 0)
                s = M[NER_NLABELS][y];
            else /* the terms of transitions not allowed are 0: left out */
                for (int p = y_from[y]; p < y_to[y]; p++)
                    s += al[(i - 1) * NER_NLABELS + p] * M[p][y];
            s *= be[i * NER_NLABELS + y];
            al[i * NER_NLABELS + y] = s;
            sum += s;
        }
        for (int y = 0; y < NER_NLABELS; y++)
            al[i * NER_NLABELS + y] = sum > 0 ? al[i * NER_NLABELS + y] / sum : 1.0 / NER_NLABELS;
    }
    /* Backward, in place of E: beta[i] needs E[i+1] only, which is consumed
     * (and replaced by beta[i+1]) one step earlier, so keep a copy of it. */
    double e_next[NER_NLABELS], b_next[NER_NLABELS];
    for (int y = 0; y < NER_NLABELS; y++) {
        e_next[y] = be[(n - 1) * NER_NLABELS + y];
        b_next[y] = 1.0;
        be[(n - 1) * NER_NLABELS + y] = 1.0;
    }
    for (size_t i = n - 1; i-- > 0;) {
        double e_cur[NER_NLABELS], sum = 0;
        memcpy(e_cur, be + i * NER_NLABELS, sizeof e_cur);
        for (int p = 0; p < NER_NLABELS; p++) {
            double s = 0;
            for (int y = 0; y < NER_NLABELS; y++)
                if (M[p][y] != 0.0)
                    s += M[p][y] * e_next[y] * b_next[y];
            be[i * NER_NLABELS + p] = s;
            sum += s;
        }
        for (int p = 0; p < NER_NLABELS; p++) {
            be[i * NER_NLABELS + p] = sum > 0 ? be[i * NER_NLABELS + p] / sum : 1.0;
            b_next[p] = be[i * NER_NLABELS + p];
        }
        memcpy(e_next, e_cur, sizeof e_cur);
    }
    for (size_t i = 0; i < n; i++) {
        double z = 0;
        for (int y = 0; y < NER_NLABELS; y++)
            z += al[i * NER_NLABELS + y] * be[i * NER_NLABELS + y];
        double p = al[i * NER_NLABELS + labels[i]] * be[i * NER_NLABELS + labels[i]];
        conf[i] = z > 0 ? (float)(p / z) : 0.0f;
    }
}

/* ------------------------------------------------------------------------
 * The model */

struct ner_model {
    unsigned bits;
    uint32_t gaz_mask;
    uint64_t seed;
    float scale, temperature;
    ner_trans trans;
    int16_t *w; /* (1 << bits) rows of NER_NLABELS */
    uint32_t *lex_keys; /* the lexicon, open addressing (0: empty) */
    uint8_t *lex_vals;
    size_t lex_mask; /* slots - 1 */
};

static uint8_t model_lex(const ner_model *m, uint64_t lw)
{
    if (!m->lex_keys)
        return 0;
    uint32_t key = ner_lex_key(lw);
    size_t j = (size_t)(key * 0x9E3779B1u) & m->lex_mask;
    while (m->lex_keys[j]) {
        if (m->lex_keys[j] == key)
            return m->lex_vals[j];
        j = (j + 1) & m->lex_mask;
    }
    return 0;
}

/* A token's local score (its FEAT_LOCAL features summed), remembered by
 * the tagger for tokens of up to LOCAL_WORD bytes: most of a text is
 * common words, and this is a third of the features. The key is the
 * token's text, whether it starts its sentence, and the sentence's mode. */
#define LOCAL_WORD 25
#define LOCAL_BITS 14

typedef struct local_slot {
    uint8_t len; /* of word; 0: empty */
    uint8_t first, mode;
    char word[LOCAL_WORD];
    int32_t acc[NER_NLABELS];
} local_slot;

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

static void model_lex_prefetch(const ner_model *m, uint64_t lw)
{
    if (m->lex_keys) {
        size_t j = (size_t)(ner_lex_key(lw) * 0x9E3779B1u) & m->lex_mask;
        PREFETCH(&m->lex_keys[j]);
        PREFETCH(&m->lex_vals[j]);
    }
}

/* A token's ner_tinfo as ner_tinfo_make() and the lexicon make it (a pure
 * function of its text), remembered for tokens of up to LOCAL_WORD bytes. */
#define TOK_BITS 12

typedef struct tok_slot {
    uint8_t len; /* of word; 0: empty */
    char word[LOCAL_WORD];
    ner_tinfo ti;
} tok_slot;

struct ner_work {
    bool conf_names; /* ner_work_conf_for_names() */
    tok_slot *tok; /* 1 << TOK_BITS slots, for local_model */
    trans_pot M;   /* local_model's, for marginals() */
    local_slot *local; /* 1 << LOCAL_BITS slots, for local_model */
    const ner_model *local_model;
    ner_tinfo *ti; /* a block of the document */
    size_t ti_cap;
    float *emit; /* one sentence */
    uint8_t *bp;
    double *fb;
    size_t cap;
    void *doc; /* ner_doc_finish() scratch */
    size_t doc_cap;
};

ner_work *ner_work_new(void)
{
    return calloc(1, sizeof(ner_work));
}

void ner_work_conf_for_names(ner_work *w)
{
    w->conf_names = true;
}

void ner_work_free(ner_work *w)
{
    if (!w)
        return;
    free(w->local);
    free(w->tok);
    free(w->ti);
    free(w->doc);
    free(w->emit);
    free(w->bp);
    free(w->fb);
    free(w);
}

static int work_reserve_ti(ner_work *w, size_t n)
{
    if (n <= w->ti_cap)
        return 0;
    ner_tinfo *ti = realloc(w->ti, n * sizeof *ti);
    if (!ti)
        return -1;
    w->ti = ti;
    w->ti_cap = n;
    return 0;
}

static int work_reserve(ner_work *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    float *emit = realloc(w->emit, n * NER_NLABELS * sizeof *emit);
    if (emit)
        w->emit = emit;
    uint8_t *bp = realloc(w->bp, n * NER_NLABELS);
    if (bp)
        w->bp = bp;
    double *fb = realloc(w->fb, 2 * n * NER_NLABELS * sizeof *fb);
    if (fb)
        w->fb = fb;
    if (!emit || !bp || !fb)
        return -1;
    w->cap = n;
    return 0;
}

uint32_t ner_model_gaz_mask(const ner_model *m)
{
    return m->gaz_mask;
}

unsigned ner_model_bucket_bits(const ner_model *m)
{
    return m->bits;
}


static tok_slot *tok_of(ner_work *w, const char *word, size_t len)
{
    return &w->tok[XXH3_64bits(word, len) >> (64 - TOK_BITS)];
}

static local_slot *local_of(ner_work *w, const ner_tinfo *t)
{
    uint64_t key = t->cw + t->first * 0x9E3779B97F4A7C15ULL + t->mode * 0xC2B2AE3D27D4EB4FULL;
    return &w->local[key >> (64 - LOCAL_BITS)];
}

/* The end of the sentence piece that starts at token s: the next sentence
 * start, at most NER_MAX_SEG tokens on. */
static size_t seg_end(const ner_tok *toks, size_t n, size_t s)
{
    size_t e = s + 1;
    while (e < n && e - s < NER_MAX_SEG && !(toks[e].flags & NER_TOK_SENT_START))
        e++;
    return e;
}

int ner_tag_ws(const ner_model *m, ner_work *w, const char *text, const ner_tok *toks,
               size_t n, const uint32_t *gaz_bits, uint8_t *labels_out, float *conf_out)
{
    uint64_t h[NER_MAX_FEATS];
    if (w->local_model != m) { /* what is remembered is the model's */
        free(w->local);
        free(w->tok);
        w->local = calloc((size_t)1 << LOCAL_BITS, sizeof *w->local);
        w->tok = calloc((size_t)1 << TOK_BITS, sizeof *w->tok);
        w->local_model = m;
        transition_potentials(m->trans, m->temperature, w->M);
    }
    /* The document goes in blocks of whole sentences of about NER_DOC_BLOCK
     * tokens: the document flags look this far, and memory stays bounded. */
    for (size_t b0 = 0; b0 < n;) {
        size_t b1 = b0;
        while (b1 < n && b1 - b0 < NER_DOC_BLOCK)
            b1 = seg_end(toks, n, b1);
        size_t bn = b1 - b0;
        if (work_reserve_ti(w, bn) < 0)
            return -1;
        /* Token infos: remembered ones are copied; the others are made,
         * and their lexicon entry (the lexicon is bigger than the caches
         * too) is fetched while the next LEX_AHEAD tokens are made. */
        enum { LEX_AHEAD = 8 };
        bool made[16]; /* ring, LEX_AHEAD < 16 */
        for (size_t i = 0; i < bn + LEX_AHEAD; i++) {
            if (i < bn) {
                const char *word = text + toks[b0 + i].start;
                size_t wl = toks[b0 + i].end - toks[b0 + i].start;
                tok_slot *ts = w->tok && wl <= LOCAL_WORD ? tok_of(w, word, wl) : NULL;
                made[i & 15] = !(ts && ts->len == wl && !memcmp(ts->word, word, wl));
                if (!made[i & 15]) {
                    w->ti[i] = ts->ti;
                } else {
                    ner_tinfo_make(word, wl, &w->ti[i]);
                    if (ner_lex_word(&w->ti[i]))
                        model_lex_prefetch(m, w->ti[i].lw);
                }
            }
            size_t k = i - LEX_AHEAD;
            if (i < LEX_AHEAD || !made[k & 15])
                continue;
            if (ner_lex_word(&w->ti[k]))
                w->ti[k].lex = model_lex(m, w->ti[k].lw);
            const char *word = text + toks[b0 + k].start;
            size_t wl = toks[b0 + k].end - toks[b0 + k].start;
            if (w->tok && wl <= LOCAL_WORD) {
                tok_slot *ts = tok_of(w, word, wl);
                ts->len = (uint8_t)wl;
                memcpy(ts->word, word, wl);
                ts->ti = w->ti[k];
            }
        }
        for (size_t s = b0; s < b1;) {
            size_t e = seg_end(toks, b1, s);
            ner_sentence_finish(w->ti + (s - b0), e - s);
            s = e;
        }
        if (ner_doc_finish(w->ti, bn, &w->doc, &w->doc_cap) < 0)
            return -1;
        for (size_t s = b0; s < b1;) {
            size_t e = seg_end(toks, b1, s);
            size_t len = e - s;
            const ner_tinfo *ti = w->ti + (s - b0);
            if (work_reserve(w, len) < 0)
                return -1;
            /* The table is bigger than the caches: the rows of token i + 1
             * are fetched while token i is summed. rows[][0, nlocal) are the
             * local features' rows, when the token's local score is not
             * remembered (then it is, from them), else it is in lacc. */
            const int16_t *rows[2][NER_MAX_FEATS];
            size_t nrows[2] = {0, 0}, nlocal[2] = {0, 0};
            local_slot *slot[2] = {NULL, NULL};
            int32_t lacc[2][NER_NLABELS];
            bool known[2] = {false, false};
            const uint32_t *gz = gaz_bits ? gaz_bits + s : NULL;
            for (size_t i = 0; i <= len; i++) {
                if (i < len) {
                    int b = i & 1;
                    const ner_tinfo *t = &ti[i];
                    const ner_tok *tk = &toks[s + i];
                    size_t wl = tk->end - tk->start;
                    local_slot *ls = w->local && wl <= LOCAL_WORD ? local_of(w, t) : NULL;
                    if (w->local && i + 1 < len)
                        PREFETCH(local_of(w, t + 1));
                    known[b] = ls && ls->len == wl && ls->first == t->first && ls->mode == t->mode &&
                               !memcmp(ls->word, text + tk->start, wl);
                    if (known[b])
                        memcpy(lacc[b], ls->acc, sizeof lacc[b]); /* the slot may change before use */
                    slot[b] = known[b] ? NULL : ls;
                    size_t nl = known[b] ? 0 : features(ti, len, i, gz, m->gaz_mask, m->seed, h, NULL, FEAT_LOCAL);
                    size_t nf = nl + features(ti, len, i, gz, m->gaz_mask, m->seed, h + nl, NULL, FEAT_CONTEXT);
                    const int16_t **r = rows[b];
                    for (size_t f = 0; f < nf; f++) {
                        r[f] = m->w + (size_t)ner_bucket(h[f], m->bits) * NER_NLABELS;
                        PREFETCH(r[f]);
                        if (((uintptr_t)r[f] & 63) > 64 - sizeof *r[f] * NER_NLABELS)
                            PREFETCH(r[f] + NER_NLABELS - 1); /* a row across two cache lines */
                    }
                    nrows[b] = nf;
                    nlocal[b] = nl;
                }
                if (i == 0)
                    continue;
                int b = (i - 1) & 1;
                const int16_t **r = rows[b];
                int32_t acc[NER_NLABELS] = {0};
                if (known[b]) {
                    memcpy(acc, lacc[b], sizeof acc);
                } else {
                    for (size_t f = 0; f < nlocal[b]; f++)
                        for (int y = 0; y < NER_NLABELS; y++)
                            acc[y] += r[f][y];
                    if (slot[b]) {
                        const ner_tok *tk = &toks[s + i - 1];
                        local_slot *ls = slot[b];
                        ls->len = (uint8_t)(tk->end - tk->start);
                        ls->first = ti[i - 1].first;
                        ls->mode = ti[i - 1].mode;
                        memcpy(ls->word, text + tk->start, ls->len);
                        memcpy(ls->acc, acc, sizeof acc);
                    }
                }
                /* integer sums: the same whichever part comes first */
                for (size_t f = nlocal[b]; f < nrows[b]; f++)
                    for (int y = 0; y < NER_NLABELS; y++)
                        acc[y] += r[f][y];
                for (int y = 0; y < NER_NLABELS; y++)
                    w->emit[(i - 1) * NER_NLABELS + y] = (float)acc[y] * m->scale;
            }
            ner_viterbi(w->emit, len, m->trans, NULL, labels_out + s, w->bp);
            bool names = false;
            for (size_t i = 0; i < len && !names; i++)
                names = labels_out[s + i] != NER_O;
            if (conf_out && (names || !w->conf_names))
                marginals(w->emit, len, (const double(*)[NER_NLABELS])w->M, m->temperature,
                          labels_out + s, conf_out + s, w->fb);
            else if (conf_out)
                for (size_t i = 0; i < len; i++)
                    conf_out[s + i] = 1.0f;
            s = e;
        }
        b0 = b1;
    }
    return 0;
}

int ner_tag(const ner_model *m, const char *text, const ner_tok *toks, size_t n,
            const uint32_t *gaz_bits, uint8_t *labels_out, float *conf_out)
{
    ner_work *w = ner_work_new();
    if (!w)
        return -1;
    int rc = ner_tag_ws(m, w, text, toks, n, gaz_bits, labels_out, conf_out);
    ner_work_free(w);
    return rc;
}

bool ner_is_particle(const char *s, size_t n)
{
    static const char *const p[] = {"al", "el", "ul", "ibn", "bin", "bint", "ben", "abu", "ad",
                                    "ar", "as", "ash", "at", "az", "an", "ud", "de", "da",
                                    "di", "du", "van", "von", "der", "la", "le"};
    for (size_t k = 0; k < sizeof p / sizeof *p; k++)
        if (strlen(p[k]) == n && memcmp(p[k], s, n) == 0)
            return true;
    return false;
}

bool ner_is_hyphen(const char *s, size_t n)
{
    /* - and U+2010..U+2014 (hyphen, non-breaking hyphen, figure, en, em dash) */
    return (n == 1 && s[0] == '-') ||
           (n == 3 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 &&
            (unsigned char)s[2] >= 0x90 && (unsigned char)s[2] <= 0x94);
}

static bool tok_is_lower(const char *text, const ner_tok *t)
{
    ner_tinfo ti;
    ner_tinfo_make(text + t->start, t->end - t->start, &ti);
    return ti.cls == NER_CLS_LOWER && !ner_is_particle(text + t->start, t->end - t->start);
}

static bool tok_is_hyphen(const char *text, const ner_tok *t)
{
    return ner_is_hyphen(text + t->start, t->end - t->start);
}

size_t ner_entities(const ner_tok *toks, size_t n, const uint8_t *labels, const float *conf,
                    ner_entity *out)
{
    return ner_entities_ex(NULL, toks, n, labels, conf, 0, out);
}

size_t ner_entities_ex(const char *text, const ner_tok *toks, size_t n, const uint8_t *labels,
                       const float *conf, unsigned flags, ner_entity *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l = labels[i];
        if (l == NER_O || l >= NER_NLABELS) {
            i++;
            continue;
        }
        int type = NER_LABEL_TYPE(l);
        size_t j = i + 1;
        while (j < n && labels[j] == NER_I(type))
            j++;
        size_t a = i, b = j;
        if ((flags & NER_ENT_TRIM) && text) {
            /* Keep at least one token; drop lower-case words and hyphens
             * at the end, and "word -" pairs at the start. */
            while (b - a >= 2 && (tok_is_lower(text, &toks[b - 1]) || tok_is_hyphen(text, &toks[b - 1])))
                b--;
            while (b - a >= 3 && tok_is_lower(text, &toks[a]) && tok_is_hyphen(text, &toks[a + 1]))
                a += 2;
        }
        float c = -1.0f;
        if (conf) {
            c = conf[a];
            for (size_t t = a + 1; t < b; t++)
                c = conf[t] < c ? conf[t] : c;
        }
        out[k++] = (ner_entity){toks[a].start, toks[b - 1].end, a, b, type, c};
        i = j;
    }
    return k;
}

/* ------------------------------------------------------------------------
 * Model file */

#define HDR_SIZE 480
#define OFF_VERSION 8
#define OFF_NLABELS 12
#define OFF_LABELS 16
#define OFF_BITS 80
#define OFF_GAZ 84
#define OFF_SEED 88
#define OFF_SCALE 96
#define OFF_TEMP 100
#define OFF_TRANS 104
#define OFF_RAW 464
#define OFF_ZSIZE 472

static void put32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}
static void putf(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(p, v);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v |= (uint32_t)p[k] << (8 * k);
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}
static float getf(const uint8_t *p)
{
    uint32_t v = get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        p[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[k++] = (uint8_t)v;
    return k;
}

/* Reads a varint of at most 64 bits; returns bytes used, 0 when malformed. */
static size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t k = 0; k < 10 && p + k < end; k++) {
        r |= (uint64_t)(p[k] & 0x7f) << (7 * k);
        if (!(p[k] & 0x80)) {
            *v = r;
            return k + 1;
        }
    }
    return 0;
}

int ner_save(const char *path, const ner_params *p, size_t *size_out, char *err, size_t errlen)
{
    size_t rows = (size_t)1 << p->bits;
    size_t nw = rows * NER_NLABELS;
    float mx = 0;
    for (size_t i = 0; i < nw; i++)
        mx = fabsf(p->w[i]) > mx ? fabsf(p->w[i]) : mx;
    float scale = mx > 0 ? mx / 32767.0f : 1.0f;
    /* Quantise, and count the rows that stay non-zero to size the buffer. */
    int16_t *q = malloc(nw * sizeof *q);
    if (!q) {
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t nz = 0;
    for (size_t r = 0; r < rows; r++) {
        bool any = false;
        for (int y = 0; y < NER_NLABELS; y++) {
            long v = lroundf(p->w[r * NER_NLABELS + y] / scale);
            v = v > 32767 ? 32767 : v < -32767 ? -32767 : v;
            q[r * NER_NLABELS + y] = (int16_t)v;
            any |= v != 0;
        }
        nz += any;
    }
    size_t rawcap = nz * (10 + NER_NLABELS * 3) + 16;
    uint8_t *raw = malloc(rawcap);
    size_t zcap = ZSTD_compressBound(rawcap);
    size_t lexraw_cap = p->n_lex * 6 + 16, lexz_cap = ZSTD_compressBound(lexraw_cap);
    uint8_t *file = malloc(HDR_SIZE + zcap + 16 + lexz_cap + 8);
    uint8_t *lexraw = malloc(lexraw_cap);
    if (!lexraw) {
        free(q);
        free(raw);
        free(file);
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (!raw || !file) {
        free(q);
        free(raw);
        free(file);
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t rl = 0;
    long prev = -1;
    for (size_t r = 0; r < rows; r++) {
        const int16_t *row = q + r * NER_NLABELS;
        bool any = false;
        for (int y = 0; y < NER_NLABELS; y++)
            any |= row[y] != 0;
        if (!any)
            continue;
        rl += put_varint(raw + rl, (uint64_t)((long)r - prev - 1));
        prev = (long)r;
        for (int y = 0; y < NER_NLABELS; y++) {
            int32_t v = row[y];
            rl += put_varint(raw + rl, (uint32_t)((v << 1) ^ (v >> 31)));
        }
    }
    free(q);
    size_t zl = ZSTD_compress(file + HDR_SIZE, zcap, raw, rl, 19);
    free(raw);
    /* The lexicon: key gaps as varints, then a class byte each. */
    size_t ll = 0;
    uint32_t prev_key = 0;
    for (size_t k = 0; k < p->n_lex; k++) {
        ll += put_varint(lexraw + ll, p->lex_keys[k] - prev_key);
        prev_key = p->lex_keys[k];
        lexraw[ll++] = p->lex_vals[k];
    }
    size_t lzl = ZSTD_isError(zl) ? 0
                                  : ZSTD_compress(file + HDR_SIZE + zl + 16, lexz_cap, lexraw, ll, 19);
    free(lexraw);
    if (!ZSTD_isError(zl) && ZSTD_isError(lzl))
        zl = lzl;
    if (ZSTD_isError(zl)) {
        free(file);
        seterr(err, errlen, "%s: compression failed: %s", path, ZSTD_getErrorName(zl));
        return -1;
    }
    memset(file, 0, HDR_SIZE);
    memcpy(file, "TMNER", 5);
    put32(file + OFF_VERSION, NER_FORMAT_VERSION);
    put32(file + OFF_NLABELS, NER_NLABELS);
    memcpy(file + OFF_LABELS, LABEL_LIST, strlen(LABEL_LIST));
    put32(file + OFF_BITS, p->bits);
    put32(file + OFF_GAZ, p->gaz_mask);
    put64(file + OFF_SEED, p->seed);
    putf(file + OFF_SCALE, scale);
    putf(file + OFF_TEMP, p->temperature);
    for (int a = 0; a <= NER_NLABELS; a++)
        for (int y = 0; y < NER_NLABELS; y++)
            putf(file + OFF_TRANS + 4 * (a * NER_NLABELS + y), p->trans[a][y]);
    put64(file + OFF_RAW, rl);
    put64(file + OFF_ZSIZE, zl);
    put64(file + HDR_SIZE + zl, p->n_lex);
    put64(file + HDR_SIZE + zl + 8, lzl);
    size_t total = HDR_SIZE + zl + 16 + lzl;
    put64(file + total, XXH64(file, total, 0));
    total += 8;

    /* Write beside the target and rename, so a reader never sees half a file. */
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    if (!tmp) {
        free(file);
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f || fwrite(file, 1, total, f) != total || fclose(f) != 0) {
        seterr(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        remove(tmp);
        rc = -1;
    } else if (rename(tmp, path) != 0) {
        seterr(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
        rc = -1;
    }
    free(tmp);
    free(file);
    if (rc == 0 && size_out)
        *size_out = total;
    return rc;
}

/* Reads the lexicon (nlex entries, z bytes at zp) into m; returns NULL or
 * what is wrong. */
static const char *load_lexicon(ner_model *m, const uint8_t *zp, uint64_t z, uint64_t nlex)
{
    if (nlex > (1u << 26))
        return "bad lexicon size";
    unsigned long long rawlen = ZSTD_getFrameContentSize(zp, z);
    if (rawlen == ZSTD_CONTENTSIZE_UNKNOWN || rawlen == ZSTD_CONTENTSIZE_ERROR ||
        rawlen > nlex * 6 || rawlen < nlex * 2)
        return "bad lexicon size";
    size_t slots = 64;
    while (slots < 2 * nlex)
        slots *= 2;
    uint8_t *raw = malloc(rawlen ? rawlen : 1);
    m->lex_keys = calloc(slots, sizeof *m->lex_keys);
    m->lex_vals = calloc(slots, 1);
    m->lex_mask = slots - 1;
    const char *why = NULL;
    if (!raw || !m->lex_keys || !m->lex_vals)
        why = "out of memory for the lexicon";
    else if (ZSTD_decompress(raw, rawlen, zp, z) != rawlen)
        why = "lexicon does not decompress";
    const uint8_t *p = raw, *end = raw + rawlen;
    uint64_t key = 0;
    for (uint64_t k = 0; !why && k < nlex; k++) {
        uint64_t gap;
        size_t used = get_varint(p, end, &gap);
        if (!used || gap == 0 || key + gap > UINT32_MAX || p + used + 1 > end) {
            why = "bad lexicon entry";
            break;
        }
        p += used;
        key += gap;
        uint8_t v = *p++;
        size_t j = (size_t)((uint32_t)key * 0x9E3779B1u) & m->lex_mask;
        while (m->lex_keys[j])
            j = (j + 1) & m->lex_mask;
        m->lex_keys[j] = (uint32_t)key;
        m->lex_vals[j] = v;
    }
    if (!why && p != end)
        why = "bad lexicon entry";
    free(raw);
    return why;
}

ner_model *ner_load_mem(const void *data, size_t len, const char *name, char *err,
                        size_t errlen)
{
    const uint8_t *d = data;
    if (len == 0) {
        seterr(err, errlen, "%s: an empty file, not a textmill NER model", name);
        return NULL;
    }
    if (len < 12 && memcmp(d, "TMNER", len < 5 ? len : 5) == 0) {
        seterr(err, errlen, "%s: truncated NER model (%zu bytes)", name, len);
        return NULL;
    }
    if (len < 12 || memcmp(d, "TMNER", 5) != 0) {
        seterr(err, errlen, "%s: not a textmill NER model (no TMNER magic)", name);
        return NULL;
    }
    uint32_t ver = get32(d + OFF_VERSION);
    if (ver != NER_FORMAT_VERSION) {
        seterr(err, errlen,
               "%s: NER model format version %u, but this build reads version %u "
               "(retrain the model with this build's textmill-ner-train)",
               name, ver, NER_FORMAT_VERSION);
        return NULL;
    }
    if (len < HDR_SIZE + 8) {
        seterr(err, errlen, "%s: truncated NER model (%zu bytes, the header alone is %d)", name,
               len, HDR_SIZE + 8);
        return NULL;
    }
    /* the weights (zl bytes), the lexicon's count and size, the lexicon (lzl
     * bytes), the checksum */
    uint64_t zl = get64(d + OFF_ZSIZE), rl = get64(d + OFF_RAW), nlex = 0, lzl = 0;
    uint64_t expect = (uint64_t)HDR_SIZE + 24 + zl;
    if (zl <= len - HDR_SIZE - 24) {
        nlex = get64(d + HDR_SIZE + zl);
        lzl = get64(d + HDR_SIZE + zl + 8);
        expect = lzl <= len ? expect + lzl : UINT64_MAX;
    }
    if (expect != len) {
        seterr(err, errlen, "%s: truncated or damaged NER model (%zu bytes, expected %llu)",
               name, len, (unsigned long long)expect);
        return NULL;
    }
    if (get64(d + len - 8) != XXH64(d, len - 8, 0)) {
        seterr(err, errlen, "%s: damaged NER model (checksum mismatch)", name);
        return NULL;
    }
    unsigned bits = get32(d + OFF_BITS);
    char labels[65];
    memcpy(labels, d + OFF_LABELS, 64);
    labels[64] = 0;
    if (get32(d + OFF_NLABELS) != NER_NLABELS || strcmp(labels, LABEL_LIST) != 0) {
        seterr(err, errlen, "%s: NER model has labels \"%s\", this build uses \"%s\"", name,
               labels, LABEL_LIST);
        return NULL;
    }
    if (bits < 8 || bits > 26) {
        seterr(err, errlen, "%s: NER model has %u bucket bits (8..26 allowed)", name, bits);
        return NULL;
    }
    ner_model *m = calloc(1, sizeof *m);
    size_t rows = (size_t)1 << bits;
    uint8_t *raw = m ? malloc(rl ? rl : 1) : NULL;
    if (m)
        m->w = calloc(rows * NER_NLABELS, sizeof *m->w);
    if (!m || !raw || !m->w || rl > (uint64_t)rows * (10 + 3 * NER_NLABELS)) {
        seterr(err, errlen, "%s: out of memory (or bad payload size) loading the NER model",
               name);
        free(raw);
        ner_free(m);
        return NULL;
    }
    m->bits = bits;
    m->gaz_mask = get32(d + OFF_GAZ);
    m->seed = get64(d + OFF_SEED);
    m->scale = getf(d + OFF_SCALE);
    m->temperature = getf(d + OFF_TEMP);
    for (int a = 0; a <= NER_NLABELS; a++)
        for (int y = 0; y < NER_NLABELS; y++)
            m->trans[a][y] = getf(d + OFF_TRANS + 4 * (a * NER_NLABELS + y));
    size_t got = ZSTD_decompress(raw, rl, d + HDR_SIZE, zl);
    const char *why = NULL;
    if (ZSTD_isError(got) || got != rl)
        why = "payload does not decompress";
    const uint8_t *p = raw, *end = raw + rl;
    long row = -1;
    while (!why && p < end) {
        uint64_t v;
        size_t k = get_varint(p, end, &v);
        if (!k || v >= rows || (uint64_t)(row + 1) + v >= rows) {
            why = "bad row index";
            break;
        }
        p += k;
        row += (long)v + 1;
        for (int y = 0; y < NER_NLABELS; y++) {
            k = get_varint(p, end, &v);
            if (!k || v > 65535) {
                why = "bad weight";
                break;
            }
            p += k;
            int32_t x = (int32_t)(v >> 1) ^ -(int32_t)(v & 1);
            m->w[(size_t)row * NER_NLABELS + y] = (int16_t)x;
        }
    }
    free(raw);
    if (!why && nlex)
        why = load_lexicon(m, d + HDR_SIZE + zl + 16, lzl, nlex);
    if (!why && !(isfinite(m->scale) && m->scale > 0 && isfinite(m->temperature)))
        why = "bad scale or temperature";
    for (int a = 0; !why && a <= NER_NLABELS; a++)
        for (int y = 0; y < NER_NLABELS; y++)
            if (!isfinite(m->trans[a][y]))
                why = "bad transition score";
    if (why) {
        seterr(err, errlen, "%s: damaged NER model (%s)", name, why);
        ner_free(m);
        return NULL;
    }
    return m;
}

ner_model *ner_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "%s: cannot open NER model: %s", path, strerror(errno));
        return NULL;
    }
    /* a regular file, read whole: not a directory, and not a device such as
     * /dev/zero, which would be read until memory runs out */
    struct stat st;
    const char *why = NULL;
    if (fstat(fileno(f), &st) != 0)
        why = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        why = "a directory, not a model file";
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    if (why) {
        seterr(err, errlen, "%s: cannot read NER model: %s", path, why);
        fclose(f);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = buf ? fread(buf, 1, len, f) : 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || rerr || got != len) {
        seterr(err, errlen, "%s: cannot read NER model: %s", path,
               !buf ? "out of memory" : rerr ? strerror(rerr) : "the file changed while read");
        free(buf);
        return NULL;
    }
    ner_model *m = ner_load_mem(buf, len, path, err, errlen);
    free(buf);
    return m;
}

void ner_free(ner_model *m)
{
    if (!m)
        return;
    free(m->w);
    free(m->lex_keys);
    free(m->lex_vals);
    free(m);
}
