/* The engine's state in and out of a store: story blobs, document
 * frequencies, counters and the 4-gram table (see cluster.h, st_sink). */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

/* ---- serialisation ----------------------------------------------------------------- */

/* A story blob: "STS1", then in order (little-endian as the machine writes
 * it; a store is not moved between architectures): first, last (int32),
 * seq (u64), size, n_sources, sources (u32), the id, the label (u32 length
 * + bytes; length 0xffffffff for none), the vectors title, body, names,
 * label_vec (u32 n + n u32 terms + n f32 weights), n_show and each (u32
 * term, u8 name, string), n_members and the member hashes (u64). */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const void *x, size_t n)
{
    if (b->oom || !n) /* an empty vector's arrays may be NULL: no memcpy from them */
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *g = realloc(b->p, cap);
        if (!g) {
            b->oom = true;
            return;
        }
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }

static void put_str(buf *b, const char *s)
{
    if (!s) {
        put_u32(b, UINT32_MAX);
        return;
    }
    uint32_t n = (uint32_t)strlen(s);
    put_u32(b, n);
    put(b, s, n);
}

static void put_sv(buf *b, const sv *v)
{
    put_u32(b, v->n);
    put(b, v->t, v->n * sizeof *v->t);
    put(b, v->w, v->n * sizeof *v->w);
}

static void story_blob(const story *s, buf *b)
{
    put(b, "STS1", 4);
    int32_t d[2] = {s->first, s->last};
    put(b, d, sizeof d);
    put(b, &s->seq, 8);
    put_u32(b, s->size);
    put_u32(b, s->n_sources);
    put(b, s->sources, s->n_sources * sizeof *s->sources);
    put_str(b, s->id);
    put_str(b, s->label);
    put_sv(b, &s->title);
    put_sv(b, &s->body);
    put_sv(b, &s->names);
    put_sv(b, &s->label_vec);
    put_u32(b, s->n_show);
    for (uint32_t i = 0; i < s->n_show; i++) {
        put_u32(b, s->show[i].term);
        put(b, &s->show[i].name, 1);
        put_str(b, s->show[i].s);
    }
    put_u32(b, s->n_members);
    put(b, s->members, s->n_members * sizeof *s->members);
}

typedef struct rd {
    const unsigned char *p;
    size_t n, at;
    bool bad;
} rd;

static void get(rd *r, void *x, size_t n)
{
    if (!n) /* into an empty vector, whose arrays may be NULL */
        return;
    if (r->bad || r->n - r->at < n) {
        r->bad = true;
        memset(x, 0, n);
        return;
    }
    memcpy(x, r->p + r->at, n);
    r->at += n;
}

static uint32_t get_u32(rd *r)
{
    uint32_t v;
    get(r, &v, 4);
    return v;
}

static char *get_str(rd *r, bool *oom)
{
    uint32_t n = get_u32(r);
    if (n == UINT32_MAX || r->bad)
        return NULL;
    if (r->n - r->at < n) {
        r->bad = true;
        return NULL;
    }
    char *s = st__dupstr((const char *)r->p + r->at, n);
    if (!s)
        *oom = true;
    r->at += n;
    return s;
}

static bool get_sv(rd *r, sv *v, uint32_t max)
{
    uint32_t n = get_u32(r);
    if (r->bad || n > max || (size_t)n * 8 > r->n - r->at) {
        r->bad = true;
        return true;
    }
    if (!sv_reserve(v, n))
        return false;
    get(r, v->t, n * sizeof *v->t);
    get(r, v->w, n * sizeof *v->w);
    v->n = n;
    for (uint32_t i = 1; i < n; i++)
        if (v->t[i - 1] >= v->t[i])
            r->bad = true; /* must be sorted, or every dot product is wrong */
    return true;
}

int st_engine_load_story(st_engine *e, const void *blob, size_t len)
{
    rd r = {blob, len, 0, false};
    char magic[4];
    get(&r, magic, 4);
    if (r.bad || memcmp(magic, "STS1", 4))
        return -3;
    story *s = st__new_slot(e);
    if (!s)
        return -4;
    bool oom = false;
    int32_t d[2];
    get(&r, d, sizeof d);
    s->first = d[0];
    s->last = d[1];
    get(&r, &s->seq, 8);
    s->size = get_u32(&r);
    s->n_sources = get_u32(&r);
    if (s->n_sources > SOURCES_MAX)
        r.bad = true, s->n_sources = 0;
    get(&r, s->sources, s->n_sources * sizeof *s->sources);
    s->id = get_str(&r, &oom);
    s->label = get_str(&r, &oom);
    if (!s->id)
        r.bad = true;
    if (!get_sv(&r, &s->title, 1u << 16) || !get_sv(&r, &s->body, 1u << 16) ||
        !get_sv(&r, &s->names, 1u << 16) || !get_sv(&r, &s->label_vec, 1u << 16))
        oom = true;
    uint32_t ns = get_u32(&r);
    if (ns > SHOW_MAX)
        r.bad = true;
    for (uint32_t i = 0; i < ns && !r.bad && !oom; i++) {
        s->show[i].term = get_u32(&r);
        get(&r, &s->show[i].name, 1);
        s->show[i].s = get_str(&r, &oom);
        if (!s->show[i].s)
            r.bad = true;
        else
            s->n_show++;
    }
    uint32_t nm = get_u32(&r);
    if (nm > MEMBERS_MAX || (size_t)nm * 8 > r.n - r.at)
        r.bad = true;
    if (!r.bad && !oom && nm) {
        s->members = malloc(nm * sizeof *s->members);
        if (!s->members)
            oom = true;
        else {
            get(&r, s->members, nm * sizeof *s->members);
            s->n_members = s->cap_members = nm;
        }
    }
    if (r.at != r.n)
        r.bad = true;
    if (!r.bad && !oom && st_map_get(&e->ids, st__hash_id(s->id)))
        r.bad = true; /* the same story twice */
    if (!r.bad && !oom) {
        st__set_norms(s);
        uint64_t ref = st__ref_of(e, s);
        s->owner = st__owner_of(s->id);
        oom = !st_map_put(&e->ids, st__hash_id(s->id), ref) || !st_map_put(&e->owners, s->owner, ref);
        for (uint32_t i = 0; i < s->n_members && !oom; i++)
            oom = !st_map_put(&e->members, s->members[i], ref);
        /* the index learns the story's terms as if from one document */
        key keys[NAMES_KEEP + TITLE_KEEP + KEYS_BODY];
        size_t nk = st__top_keys(&s->names, NAMES_KEEP, 1, keys);
        nk += st__top_keys(&s->title, TITLE_KEEP, 0, keys + nk);
        nk += st__top_keys(&s->body, KEYS_BODY, 0, keys + nk);
        for (size_t i = 0; i < nk && !oom; i++)
            oom = !st__post(e, keys[i].term, ref);
        if (s->seq > e->seq)
            e->seq = s->seq;
    }
    if (r.bad || oom) {
        /* the id's entry goes only if it is this slot's: a blob refused as
         * the same story twice must not unlink the story loaded first */
        uint64_t *mine = s->id ? st_map_get(&e->ids, st__hash_id(s->id)) : NULL;
        if (mine && *mine == st__ref_of(e, s))
            st_map_del(&e->ids, st__hash_id(s->id));
        mine = s->id ? st_map_get(&e->owners, s->owner) : NULL;
        if (mine && *mine == st__ref_of(e, s))
            st_map_del(&e->owners, s->owner);
        st__story_clear(s);
        s->gen++;
        e->free_slots[e->n_free++] = (uint32_t)(s - e->stories);
        e->n_open--;
        return oom ? -4 : -3;
    }
    return 0;
}

int st_engine_load_df(st_engine *e, uint32_t term, uint32_t seen)
{
    df_entry *x = df_slot(&e->df, term);
    if (!x)
        return -4;
    x->seen = seen;
    return 0;
}

void st_engine_load_counters(st_engine *e, uint64_t docs, int now, uint64_t seq)
{
    e->df.seen_docs = docs;
    e->docs = docs;
    e->now = now;
    if (seq > e->seq)
        e->seq = seq;
}

int st_engine_save(st_engine *e, const st_sink *out)
{
    int rc = 0;
    /* closed first: a story closed and opened again under the same id (a
     * page crawled again after its story closed) is then written over */
    for (size_t i = 0; i < e->n_closed && rc == 0; i++)
        rc = out->closed(out->arg, e->closed[i]);
    buf b = {0};
    for (size_t i = 0; i < e->n_slots && rc == 0; i++) {
        story *s = &e->stories[i];
        if (!s->id || !s->dirty)
            continue;
        b.n = 0;
        story_blob(s, &b);
        rc = b.oom ? -4 : out->story(out->arg, s->id, b.p, b.n);
    }
    free(b.p);
    for (size_t i = 0; i < e->n_pruned && rc == 0; i++) /* before: a term may be back */
        rc = out->df(out->arg, e->pruned[i], 0);
    for (size_t i = 0; i < e->df.cap && rc == 0; i++)
        if (e->df.e[i].term && e->df.e[i].dirty)
            rc = out->df(out->arg, e->df.e[i].term, e->df.e[i].seen);
    if (rc == 0)
        rc = out->counters(out->arg, e->df.seen_docs, e->now, e->seq);
    if (rc == 0 && e->grams_dirty)
        rc = out->grams(out->arg, e->grams, (size_t)1 << GRAMS_BITS);
    return rc;
}

typedef struct by_seq_ref {
    uint64_t seq, ref;
} by_seq_ref;

static int cmp_seq_ref(const void *a, const void *b)
{
    uint64_t x = ((const by_seq_ref *)a)->seq, y = ((const by_seq_ref *)b)->seq;
    return x < y ? -1 : x > y;
}

void st_engine_loaded(st_engine *e)
{
    /* stories were posted in the store's order; the lists keep the most
     * recent last, so they are put in the order the stories were joined */
    by_seq_ref tmp[POSTINGS_MAX];
    for (size_t i = 0; i < e->n_lists; i++) {
        plist *l = &e->lists[i];
        uint32_t n = 0;
        for (uint32_t j = 0; j < l->n; j++) {
            story *s = st__slot_story(e, l->e[j]);
            if (s)
                tmp[n++] = (by_seq_ref){s->seq, l->e[j]};
        }
        qsort(tmp, n, sizeof *tmp, cmp_seq_ref);
        for (uint32_t j = 0; j < n; j++)
            l->e[j] = tmp[j].ref;
        l->n = n;
    }
}

size_t st_engine_grams_size(void) { return (size_t)1 << GRAMS_BITS; }

int st_engine_load_grams(st_engine *e, const uint64_t *table, size_t n)
{
    if (n != (size_t)1 << GRAMS_BITS)
        return -3;
    memcpy(e->grams, table, n * sizeof *table);
    return 0;
}

void st_engine_saved(st_engine *e)
{
    e->grams_dirty = false;
    for (size_t i = 0; i < e->n_slots; i++)
        e->stories[i].dirty = false;
    for (size_t i = 0; i < e->n_closed; i++)
        free(e->closed[i]);
    e->n_closed = 0;
    e->n_pruned = 0;
    for (size_t i = 0; i < e->df.cap; i++)
        e->df.e[i].dirty = 0;
}
