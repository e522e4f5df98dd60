/* The cache of compiled gazetteers; see gzcache.h. */
#include "gzcache.h"

#include "fold.h"
#include "model/ner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>
#include <xxhash.h>

/* The cache file: a header, then the payload (a gazetteer image). Bump
 * CACHE_FORMAT when the header changes, and the image versions when an image
 * layout or the way lists are read changes (what the loaders accept, how
 * priorities are given). */
#define CACHE_FORMAT 1u
#define GZ_IMAGE_VERSION 4u /* 2: prefix slots, fuzzy index by type; 3: country; 4: fz_key */
#define NER_GAZ_IMAGE_VERSION 2u /* 2: prefix keys (ner_gaz.c), names counted */
#define BYTE_ORDER_MARK 0x01020304u

enum { KIND_GAZETTEER = 1, KIND_NER_GAZ = 2 };

static const char magic[8] = {'T', 'M', 'G', 'Z', 'C', 'A', 'C', 'H'};

typedef struct cache_head {
    char magic[8];
    uint32_t format;     /* CACHE_FORMAT */
    uint32_t kind;       /* KIND_* */
    uint32_t byte_order; /* BYTE_ORDER_MARK as written */
    uint32_t word_size;  /* sizeof(size_t) */
    uint64_t key[2];     /* the inputs' hash (cache_key) */
    uint64_t payload_len;
    uint64_t payload_hash; /* XXH3-64 of the payload */
    uint64_t reserved[2];
} cache_head; /* 64 bytes: the payload starts 8-aligned */

typedef struct cache_key {
    uint64_t h[2];
} cache_key;

bool gzc_dir(const char *opt, char *out, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (opt && *opt)
        w = snprintf(out, n, "%s", opt);
    else if (xdg && xdg[0] == '/') /* the spec: a relative value is ignored */
        w = snprintf(out, n, "%s/textmill", xdg);
    else if (home && *home)
        w = snprintf(out, n, "%s/.cache/textmill", home);
    else
        return false;
    return w > 0 && (size_t)w < n;
}

/* ---- the key ---------------------------------------------------------------------------- */

static void hash_u64(XXH3_state_t *st, uint64_t v) { XXH3_128bits_update(st, &v, sizeof v); }

static void hash_str(XXH3_state_t *st, const char *s)
{
    hash_u64(st, strlen(s));
    XXH3_128bits_update(st, s, strlen(s));
}

/* Hashes a file's size and content; -1 when it cannot be read as a regular
 * file (then there is no key: the loader reports the problem). */
static int hash_file(XXH3_state_t *st, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return -1;
    }
    hash_u64(st, (uint64_t)sb.st_size);
    enum { BUF = 1 << 16 };
    unsigned char *buf = malloc(BUF);
    uint64_t total = 0;
    ssize_t r = -1;
    while (buf && (r = read(fd, buf, BUF)) > 0) {
        XXH3_128bits_update(st, buf, (size_t)r);
        total += (uint64_t)r;
    }
    free(buf);
    close(fd);
    if (r < 0 || total != (uint64_t)sb.st_size)
        return -1; /* a read error, or the file changed while read */
    return 0;
}

/* What shapes a compiled gazetteer besides its lists: name folding (a
 * fingerprint of fold_name's output on names that exercise its rules, so
 * that a change of fold.c invalidates caches without anyone bumping a
 * number), the Unicode tables and the hash function. */
static void hash_fold(XXH3_state_t *st)
{
    static const char *const probes[] = {
        "Erdoğan", "Şuşa", "Xankəndi", "Qubadlı", "O'Brien", "Ma’aloula", "São Paulo",
        "Straße", "Ærøskøbing", "Łódź", "Đakovo", "Þórshöfn", "Nagorno-Karabakh", "ǅemal",
        "Ⅻ Ｆｕｌｌ", "Ελλάδα", "Москва", "ﬁnal", "İstanbul", "a  -  b", "١٢٣", "中国"};
    char out[256];
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        size_t n = fold_name(probes[i], strlen(probes[i]), out);
        hash_u64(st, n);
        XXH3_128bits_update(st, out, n);
    }
    hash_str(st, utf8proc_version());
    hash_u64(st, XXH_versionNumber());
}

/* The tagger's word identities (a fingerprint: the image of a small
 * matcher), and its format version, which names its feature set and
 * tokenizer rules. */
static int ner_gaz_hash_write(void *ctx, const void *p, size_t n)
{
    XXH3_128bits_update(ctx, p, n);
    return 0;
}

static void hash_ner_words(XXH3_state_t *st)
{
    static const char *const probes[] = {"Nagorno-Karabakh", "Ilham Aliyev", "U.S.", "O'Neill",
                                         "1990s", "São Paulo", "Москва", "AT&T", "e-mail"};
    ner_gaz *g = ner_gaz_new();
    for (size_t i = 0; g && i < sizeof probes / sizeof *probes; i++)
        ner_gaz_add(g, (int)(i % NER_NTYPES), probes[i], strlen(probes[i]));
    if (g)
        ner_gaz_write_image(g, ner_gaz_hash_write, st);
    ner_gaz_free(g);
    hash_u64(st, NER_FORMAT_VERSION);
}

static int make_key(cache_key *k, int kind, const char *const *paths, size_t n)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return -1;
    XXH3_128bits_reset(st);
    hash_str(st, "textmill compiled gazetteer");
    hash_u64(st, CACHE_FORMAT);
    hash_u64(st, (uint64_t)kind);
    hash_u64(st, sizeof(size_t));
    if (kind == KIND_GAZETTEER) {
        hash_u64(st, GZ_IMAGE_VERSION);
        hash_fold(st);
    } else {
        hash_u64(st, NER_GAZ_IMAGE_VERSION);
        hash_ner_words(st);
    }
    hash_u64(st, n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = hash_file(st, paths[i]);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    k->h[0] = h.low64;
    k->h[1] = h.high64;
    return rc;
}

/* The cache file of a set of lists: named after their real paths, so that
 * editing a list rewrites its cache file rather than adding one. */
static int cache_path(char *out, size_t n, const char *dir, int kind, const char *const *paths,
                      size_t np)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return -1;
    XXH3_64bits_reset(st);
    int rc = 0;
    for (size_t i = 0; i < np && rc == 0; i++) {
        char real[PATH_MAX];
        if (!realpath(paths[i], real))
            rc = -1;
        else
            XXH3_64bits_update(st, real, strlen(real) + 1);
    }
    unsigned long long h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (rc)
        return -1;
    int w = snprintf(out, n, "%s/%s-%016llx.tmcache", dir,
                     kind == KIND_GAZETTEER ? "gazetteer" : "features", h);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Maps a cache file and checks its header and checksum. Returns the payload,
 * with the mapping in map and map_len (for munmap); NULL when the file is missing (note empty)
 * or not usable (the reason in note when it is worth a word: a damaged file;
 * a file of other lists or another version is replaced without a word). */
static const void *cache_map(const char *path, int kind, const cache_key *k, void **map,
                             size_t *map_len, size_t *len, char *note, size_t note_len)
{
    note[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0) {
        close(fd);
        snprintf(note, note_len, "%s: not a cache file (empty, or not a regular file)", path);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
    flags |= MAP_POPULATE; /* every page is read by the checksum anyway */
#endif
    void *m = mmap(NULL, size, PROT_READ, flags, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(note, note_len, "%s: cannot map: %s", path, strerror(errno));
        return NULL;
    }
    cache_head h;
    const char *why = NULL;
    if (size < sizeof h) {
        why = "truncated (shorter than its header)";
    } else {
        memcpy(&h, m, sizeof h);
        if (memcmp(h.magic, magic, sizeof magic) != 0)
            why = "not a textmill gazetteer cache (no magic)";
        else if (h.format != CACHE_FORMAT || h.byte_order != BYTE_ORDER_MARK ||
                 h.word_size != sizeof(size_t) || h.kind != (uint32_t)kind)
            why = ""; /* another version or machine: replaced silently */
        else if (h.key[0] != k->h[0] || h.key[1] != k->h[1])
            why = ""; /* the lists changed */
        else if (h.payload_len != size - sizeof h)
            why = "truncated or damaged (its size does not match its header)";
        else if (XXH3_64bits((const char *)m + sizeof h, size - sizeof h) != h.payload_hash)
            why = "damaged (checksum mismatch)";
    }
    if (why) {
        if (*why)
            snprintf(note, note_len, "%s: %s", path, why);
        munmap(m, size);
        return NULL;
    }
    *map = m;
    *map_len = size;
    *len = size - sizeof h;
    return (const char *)m + sizeof h;
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct writer {
    FILE *f;
    XXH3_state_t *st;
    uint64_t len;
} writer;

static int write_fn(void *ctx, const void *p, size_t n)
{
    writer *w = ctx;
    if (n && fwrite(p, 1, n, w->f) != n)
        return -1;
    XXH3_64bits_update(w->st, p, n);
    w->len += n;
    return 0;
}

static int mkdirs(const char *dir)
{
    char p[PATH_MAX];
    int w = snprintf(p, sizeof p, "%s", dir);
    if (w <= 0 || (size_t)w >= sizeof p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Writes the cache file atomically: a temporary file in the same directory,
 * renamed into place once complete. `image` writes the payload. Returns 0,
 * or -1 with the reason in note. */
static int cache_write(const char *dir, const char *path, int kind, const cache_key *k,
                       int (*image)(const void *obj, writer *w), const void *obj, char *note,
                       size_t note_len)
{
    char tmp[PATH_MAX + 32];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.XXXXXX", dir, base);
    if (mkdirs(dir) != 0) {
        snprintf(note, note_len, "cannot create the cache directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(note, note_len, "cannot write in the cache directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    writer w = {fdopen(fd, "wb"), XXH3_createState(), 0};
    int rc = -1, e = ENOMEM;
    if (w.f && w.st) {
        cache_head h = {0};
        memcpy(h.magic, magic, sizeof magic);
        h.format = CACHE_FORMAT;
        h.kind = (uint32_t)kind;
        h.byte_order = BYTE_ORDER_MARK;
        h.word_size = sizeof(size_t);
        h.key[0] = k->h[0];
        h.key[1] = k->h[1];
        XXH3_64bits_reset(w.st);
        errno = 0;
        /* the header is written again at the end, with the payload's size and
         * checksum: until then it claims an empty payload and is refused */
        if (fwrite(&h, sizeof h, 1, w.f) == 1 && image(obj, &w) == 0) {
            h.payload_len = w.len;
            h.payload_hash = XXH3_64bits_digest(w.st);
            if (fseek(w.f, 0, SEEK_SET) == 0 && fwrite(&h, sizeof h, 1, w.f) == 1)
                rc = 0;
        }
        e = errno ? errno : EIO;
    }
    if (w.f) {
        if (fclose(w.f) != 0 && rc == 0) {
            rc = -1;
            e = errno;
        }
    } else {
        close(fd);
    }
    XXH3_freeState(w.st);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        snprintf(note, note_len, "cannot write the cache file %s: %s", path, strerror(e));
        unlink(tmp);
    }
    return rc;
}

/* ---- the two kinds ---------------------------------------------------------------------- */

static int gz_image(const void *obj, writer *w) { return gz_write_image(obj, write_fn, w); }
static int ner_image(const void *obj, writer *w) { return ner_gaz_write_image(obj, write_fn, w); }

static void *gz_open(const void *img, size_t len, void *map, size_t map_len, char *why, size_t n)
{
    return gz_from_image(img, len, map, map_len, why, n);
}

static void *ner_open(const void *img, size_t len, void *map, size_t map_len, char *why, size_t n)
{
    return ner_gaz_from_image(img, len, map, map_len, why, n);
}

/* What the two kinds of cached object differ in. */
typedef struct kind_ops {
    int kind;
    void *(*open)(const void *img, size_t len, void *map, size_t map_len, char *why, size_t n);
    int (*image)(const void *obj, writer *w);
} kind_ops;

static const kind_ops gz_ops = {KIND_GAZETTEER, gz_open, gz_image};
static const kind_ops ner_ops = {KIND_NER_GAZ, ner_open, ner_image};

/* The cached object for these lists, or NULL (then *keyed says whether the
 * cache can take the object built instead, under key *k). */
static void *cache_get(const kind_ops *ops, const char *const *paths, size_t n,
                       const char *cache_dir, gzc_info *info, cache_key *k, bool *keyed)
{
    memset(info, 0, sizeof *info);
    *keyed = cache_dir && n &&
             cache_path(info->file, sizeof info->file, cache_dir, ops->kind, paths, n) == 0 &&
             make_key(k, ops->kind, paths, n) == 0;
    if (!*keyed)
        return NULL;
    void *map;
    size_t map_len, len;
    const void *img = cache_map(info->file, ops->kind, k, &map, &map_len, &len, info->note,
                                sizeof info->note);
    if (!img)
        return NULL;
    char why[256];
    void *obj = ops->open(img, len, map, map_len, why, sizeof why);
    if (obj) {
        info->hit = true;
        utimensat(AT_FDCWD, info->file, NULL, 0); /* used now: see prune() */
        return obj;
    }
    munmap(map, map_len);
    snprintf(info->note, sizeof info->note, "%s: damaged (%s)", info->file, why);
    return NULL;
}

/* Images are named after their lists' paths, so one left by lists that
 * moved (another install, another build tree) is never read again: when an
 * image is written, those of the directory not used for PRUNE_DAYS go (a hit
 * touches its file). A run that still maps one keeps its mapping. */
#define PRUNE_DAYS 30
static void prune(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    time_t old = time(NULL) - (time_t)PRUNE_DAYS * 86400;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        struct stat st;
        if (l < 9 || strcmp(e->d_name + l - 8, ".tmcache") != 0 ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            strcmp(path, keep) == 0 || lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (st.st_mtime < old)
            unlink(path);
    }
    closedir(d);
}

/* Writes the object just built to the cache, if it can take it. */
static void cache_put(const kind_ops *ops, const char *cache_dir, gzc_info *info,
                      const cache_key *k, bool keyed, const void *obj)
{
    char note[sizeof info->note];
    if (!keyed)
        return;
    if (cache_write(cache_dir, info->file, ops->kind, k, ops->image, obj, note, sizeof note) == 0) {
        info->written = true;
        prune(cache_dir, info->file);
    }
    else
        snprintf(info->note, sizeof info->note, "%s", note);
}

gazetteer *gzc_gazetteer(const char *const *paths, size_t n, const char *cache_dir,
                         gzc_info *info, char *err, size_t errlen, size_t *failed)
{
    cache_key k;
    bool keyed;
    gazetteer *g = cache_get(&gz_ops, paths, n, cache_dir, info, &k, &keyed);
    if (g)
        return g;
    if (!(g = gz_new())) {
        snprintf(err, errlen, "out of memory");
        *failed = n;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (gz_load(g, paths[i], err, errlen) != 0) {
            gz_free(g);
            *failed = i;
            return NULL;
        }
    }
    if (gz_prepare(g) != 0) {
        gz_free(g);
        snprintf(err, errlen, "out of memory");
        *failed = n;
        return NULL;
    }
    cache_put(&gz_ops, cache_dir, info, &k, keyed, g);
    return g;
}

ner_gaz *gzc_ner_gaz(const char *const *paths, size_t n, const char *cache_dir, gzc_info *info,
                     char *err, size_t errlen)
{
    cache_key k;
    bool keyed;
    ner_gaz *g = cache_get(&ner_ops, paths, n, cache_dir, info, &k, &keyed);
    if (g)
        return g;
    if (!(g = ner_gaz_new())) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = 0;
        if (ner_gaz_load(g, paths[i], &bits, err, errlen) != 0) {
            ner_gaz_free(g);
            return NULL;
        }
    }
    cache_put(&ner_ops, cache_dir, info, &k, keyed, g);
    return g;
}
