/* Sparse vectors; see vec.h. */
#include "vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sv_free(sv *v)
{
    free(v->t);
    free(v->w);
    memset(v, 0, sizeof *v);
}

void sv_clear(sv *v) { v->n = 0; }

bool sv_reserve(sv *v, uint32_t n)
{
    if (n <= v->cap)
        return true;
    uint32_t cap = v->cap ? v->cap : 8;
    while (cap < n)
        cap *= 2;
    uint32_t *t = realloc(v->t, cap * sizeof *t);
    if (!t)
        return false;
    v->t = t;
    float *w = realloc(v->w, cap * sizeof *w);
    if (!w)
        return false;
    v->w = w;
    v->cap = cap;
    return true;
}

bool sv_push(sv *v, uint32_t term, float w)
{
    if (!sv_reserve(v, v->n + 1))
        return false;
    v->t[v->n] = term;
    v->w[v->n] = w;
    v->n++;
    return true;
}

/* Radix sort by term, four passes of eight bits: vectors are sorted once
 * per document, and a comparison sort was a fifth of the stage's time. */
void sv_sort(sv *v)
{
    if (v->n < 2)
        return;
    uint32_t n = v->n;
    uint32_t st[512];
    float sw[512];
    uint32_t *t2 = n <= 512 ? st : malloc(n * sizeof *t2);
    float *w2 = n <= 512 ? sw : malloc(n * sizeof *w2);
    if (!t2 || !w2) { /* an insertion sort in place: slow but right */
        if (t2 != st)
            free(t2);
        if (w2 != sw)
            free(w2);
        for (uint32_t i = 1; i < n; i++)
            for (uint32_t j = i; j > 0 && v->t[j - 1] > v->t[j]; j--) {
                uint32_t t = v->t[j];
                v->t[j] = v->t[j - 1];
                v->t[j - 1] = t;
                float w = v->w[j];
                v->w[j] = v->w[j - 1];
                v->w[j - 1] = w;
            }
    } else {
        uint32_t *ft = v->t, *tt = t2;
        float *fw = v->w, *tw = w2;
        for (int shift = 0; shift < 32; shift += 8) {
            uint32_t count[257] = {0};
            for (uint32_t i = 0; i < n; i++)
                count[((ft[i] >> shift) & 255) + 1]++;
            for (int k = 0; k < 256; k++)
                count[k + 1] += count[k];
            for (uint32_t i = 0; i < n; i++) {
                uint32_t o = count[(ft[i] >> shift) & 255]++;
                tt[o] = ft[i];
                tw[o] = fw[i];
            }
            uint32_t *x = ft;
            ft = tt;
            tt = x;
            float *y = fw;
            fw = tw;
            tw = y;
        }
        /* four passes: the sorted data is back in v's own arrays */
        if (t2 != st)
            free(t2);
        if (w2 != sw)
            free(w2);
    }
    uint32_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (o && v->t[o - 1] == v->t[i])
            v->w[o - 1] += v->w[i];
        else {
            v->t[o] = v->t[i];
            v->w[o] = v->w[i];
            o++;
        }
    }
    v->n = o;
}

double sv_dot(const sv *a, const sv *b)
{
    double s = 0;
    uint32_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        if (a->t[i] < b->t[j])
            i++;
        else if (a->t[i] > b->t[j])
            j++;
        else
            s += (double)a->w[i++] * b->w[j++];
    }
    return s;
}

double sv_norm(const sv *v)
{
    double s = 0;
    for (uint32_t i = 0; i < v->n; i++)
        s += (double)v->w[i] * v->w[i];
    return sqrt(s);
}

void sv_scale(sv *v, float k)
{
    for (uint32_t i = 0; i < v->n; i++)
        v->w[i] *= k;
}

bool sv_add(sv *dst, const sv *src, float k)
{
    if (!src->n)
        return true;
    /* merge from the back into dst's own buffer: no allocation once it has
     * grown to a centroid's size */
    if (!sv_reserve(dst, dst->n + src->n))
        return false;
    uint32_t i = dst->n, j = src->n, o = dst->n + src->n;
    while (j > 0) {
        if (i > 0 && dst->t[i - 1] > src->t[j - 1]) {
            o--, i--;
            dst->t[o] = dst->t[i];
            dst->w[o] = dst->w[i];
        } else if (i > 0 && dst->t[i - 1] == src->t[j - 1]) {
            o--, i--, j--;
            dst->t[o] = dst->t[i];
            dst->w[o] = dst->w[i] + k * src->w[j];
        } else {
            o--, j--;
            dst->t[o] = src->t[j];
            dst->w[o] = k * src->w[j];
        }
    }
    /* o - i slots were saved by shared terms: close the gap */
    uint32_t n = dst->n + src->n - (o - i);
    if (o != i) {
        memmove(dst->t + i, dst->t + o, (n - i) * sizeof *dst->t);
        memmove(dst->w + i, dst->w + o, (n - i) * sizeof *dst->w);
    }
    dst->n = n;
    return true;
}

/* The k-th largest of w[0, n) (k < n), by quickselect on a copy. */
static float kth_largest(float *w, uint32_t n, uint32_t k)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = w[lo + (hi - lo) / 2];
        uint32_t i = lo, j = hi;
        while (i <= j) {
            while (w[i] > pivot)
                i++;
            while (w[j] < pivot)
                j--;
            if (i <= j) {
                float t = w[i];
                w[i] = w[j];
                w[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return w[k];
}

void sv_truncate(sv *v, uint32_t keep)
{
    if (v->n <= keep)
        return;
    if (keep == 0) {
        v->n = 0;
        return;
    }
    float stack[1024], *w = v->n <= 1024 ? stack : malloc(v->n * sizeof *w);
    if (!w) { /* keep the first `keep` terms: a worse centroid, not a wrong one */
        v->n = keep;
        return;
    }
    memcpy(w, v->w, v->n * sizeof *w);
    float cut = kth_largest(w, v->n, keep - 1);
    if (w != stack)
        free(w);
    /* above the cut all stay; at it, the first by term until `keep` */
    uint32_t above = 0;
    for (uint32_t i = 0; i < v->n; i++)
        above += v->w[i] > cut;
    uint32_t ties = keep - above, o = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->w[i] > cut || (v->w[i] == cut && ties && ties--)) {
            v->t[o] = v->t[i];
            v->w[o] = v->w[i];
            o++;
        }
    }
    v->n = o;
}

void sv_shrink(sv *v)
{
    if (v->cap <= v->n + v->n / 4 + 4)
        return;
    uint32_t cap = v->n ? v->n : 1;
    uint32_t *t = realloc(v->t, cap * sizeof *t);
    if (t)
        v->t = t;
    float *w = realloc(v->w, cap * sizeof *w);
    if (w)
        v->w = w;
    v->cap = cap; /* a shrink that failed left a block larger than cap */
}

float sv_get(const sv *v, uint32_t term)
{
    uint32_t lo = 0, hi = v->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (v->t[mid] < term)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n && v->t[lo] == term ? v->w[lo] : 0;
}

bool sv_copy(sv *dst, const sv *src)
{
    if (!sv_reserve(dst, src->n))
        return false;
    if (src->n) {
        memcpy(dst->t, src->t, src->n * sizeof *src->t);
        memcpy(dst->w, src->w, src->n * sizeof *src->w);
    }
    dst->n = src->n;
    return true;
}

size_t sv_bytes(const sv *v) { return (size_t)v->cap * (sizeof *v->t + sizeof *v->w); }
