/* The clusterer's insides, shared by cluster.c (the online step) and
 * persist.c (stories in and out of a store). Not for the plugin: it sees
 * cluster.h only. */
#ifndef STORIES_ENGINE_H
#define STORIES_ENGINE_H

#include "cluster.h"
#include "map.h"
#include "terms.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes that bound the memory of one story and the cost of one document.
 * A story's centroid keeps its heaviest terms only: past a hundred body
 * terms the weights are small and the cosine hardly moves. */
#define BODY_KEEP 100
#define TITLE_KEEP 32
#define NAMES_KEEP 48
#define LABEL_KEEP 32
#define LABEL_BYTES 300    /* a label is a headline: a longer title is cut */
#define DOC_BODY_KEEP 200  /* a document's body vector */
#define DOC_WORDS 5000     /* words read of a body: a 20 MB text costs its head */
#define KEYS_BODY 12       /* a document's body terms looked up in the index */
#define KEYS_NAMES 12
#define KEYS_TITLE 8
#define POSTINGS_MAX 64    /* stories remembered per term: the most recent */
#define CANDIDATES 12      /* stories compared in full per document */
#define SOURCES_MAX 16     /* outlets remembered per story (for same_source) */
#define SHOW_MAX 16        /* names and words a story keeps to show */
#define MEMBERS_MAX 1000   /* member ids per story (the latest), for copies and re-runs */
#define MENTIONS_MAX 4096  /* entity mentions of a document read */
#define GRAMS_BITS 21      /* the 4-gram table: 2^21 entries, 16 MB: the last
                            * few thousand documents' sentences */
#define DOC_GRAMS 3000     /* 4-grams of a document looked up */
#define GRAM_COMMON 0x80000000u /* an n-gram two stories have used: boilerplate */

typedef struct show_term {
    uint32_t term;
    uint8_t name; /* 1 a name, 0 a word */
    char *s;
} show_term;

typedef struct story {
    /* what finding candidates reads of every story a posting names, in
     * the first cache line */
    char *id; /* NULL: a free slot */
    uint32_t gen;
    int first, last;
    uint32_t owner; /* 31 bits of the id's hash: how the 4-gram table names it,
                     * the same in every run (a slot is not) */
    uint64_t seq;
    float norm[4]; /* of title, body, names, people: every comparison divides by them */
    sv title, body, names, label_vec;
    char *label;
    uint32_t size;
    uint32_t sources[SOURCES_MAX];
    uint32_t n_sources;
    show_term show[SHOW_MAX];
    uint32_t n_show;
    uint64_t *members; /* hashes of member ids */
    uint32_t n_members, cap_members;
    bool dirty;
} story;

typedef struct word_ref {
    uint32_t term;
    uint8_t name;
    uint32_t off; /* in the document's strings */
} word_ref;

/* A document as vectors, with the strings of its terms for showing. */
/* The terms a document is found by, and finds stories by: its heaviest
 * names, title words and body words. */
typedef struct key {
    uint32_t term;
    float w;
    uint8_t name;
} key;

#define KEYS_MAX (KEYS_NAMES + KEYS_TITLE + KEYS_BODY)

typedef struct dslot {
    uint32_t term; /* 0 empty */
    float title, body, name;
    uint32_t word, name_word; /* offsets + 1 in the document's strings; 0 none */
} dslot;

typedef struct docv {
    sv title, body, names;
    dslot *tab; /* every term of the document with its weights, for comparisons */
    size_t tab_cap;
    word_ref *words;
    size_t n_words, cap_words;
    st_strings strings; /* the words' and names' strings (word_ref.off) */
    int date;
    uint32_t source;
    key keys[KEYS_MAX];
    size_t n_keys;
    double norm_names, norm_people; /* of the two parts of the unit names vector */
    uint32_t *grams; /* hashes of the body's word 4-grams */
    size_t n_grams, cap_grams;
} docv;

typedef struct plist {
    uint64_t *e; /* slot << 32 | gen */
    uint32_t n, cap;
} plist;

typedef struct cand {
    uint32_t slot;
    float acc;
    uint32_t shared; /* 4-grams it owns that the document has */
} cand;

struct st_engine {
    st_params p;
    const st_model *m;
    double threshold;
    st_terms *terms;
    df_table df;
    story *stories;
    size_t n_slots, cap_slots, n_open;
    uint32_t *free_slots;
    size_t n_free;
    st_map ids;     /* hash of story id -> slot */
    st_map members; /* hash of document id -> slot << 32 | gen */
    st_map keys;    /* term -> index into lists */
    st_map owners;  /* story owner (see story) -> slot << 32 | gen */
    plist *lists;
    size_t n_lists, cap_lists;
    size_t closed_since_compact;
    uint32_t *pruned; /* terms the frequencies forgot since the last save */
    size_t n_pruned, cap_pruned;
    char **closed; /* ids of stories closed since the last save */
    size_t n_closed, cap_closed;
    uint64_t docs, seq;
    int now;
    size_t opened, n_closed_total;
    docv d;
    /* word 4-gram -> the story that printed it first (gram << 32 | the
     * story's owner | GRAM_COMMON); a direct-mapped table, so its size and
     * the cost per document never grow */
    uint64_t *grams;
    bool grams_dirty;
    /* per document scratch */
    st_map seen; /* term -> index: a document's words and names, each once */
    st_map acc; /* slot -> index into cands */
    cand *cands;
    size_t n_cands, cap_cands;
    char *show_buf[ST_SHOW * 2 + ST_TERMS];
};

/* Helpers of cluster.c that persist.c uses too. */
uint64_t st__hash_id(const char *s);
uint32_t st__owner_of(const char *id);
char *st__dupstr(const char *s, size_t n);
void st__story_clear(story *s);
story *st__slot_story(st_engine *e, uint64_t ref);
uint64_t st__ref_of(st_engine *e, const story *s);
size_t st__top_keys(const sv *v, size_t keep, uint8_t name, key *out);
bool st__post(st_engine *e, uint32_t term, uint64_t ref);
story *st__new_slot(st_engine *e);
void st__set_norms(story *s);

#endif
