/* The pipeline file as a tree of nodes that remember their line and column,
 * built from libyaml's document API. Aliases are expanded into copies, with
 * a budget on nodes and depth so that an alias bomb ("billion laughs") is an
 * error and not an out-of-memory; duplicate keys are errors, not silently
 * last-wins; ${VAR} references in scalar values are expanded here, so every
 * later error about a value points at the right place. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_NODES 100000

typedef struct walker {
    yaml_document_t *doc;
    const char *file;
    bool expand;
    size_t budget;
    char *err;
} walker;

static tm_node *walk(walker *w, yaml_node_t *yn, int depth);

static void fail(walker *w, const yaml_mark_t *m, const char *msg)
{
    if (!w->err)
        w->err = tm__xasprintf("%s:%zu:%zu: %s", w->file, m->line + 1, m->column + 1, msg);
}

static tm_node *node_new(tm_node_kind k, const yaml_mark_t *m)
{
    tm_node *n = tm__xcalloc(1, sizeof *n);
    n->kind = k;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static tm_node *walk_scalar(walker *w, yaml_node_t *yn, bool is_key)
{
    tm_node *n = node_new(TM_NODE_SCALAR, &yn->start_mark);
    const char *v = (const char *)yn->data.scalar.value;
    size_t len = yn->data.scalar.length;
    n->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (w->expand && !is_key && memchr(v, '$', len)) {
        char *reason = NULL;
        size_t off = 0;
        n->value = tm__expand_vars(v, len, &n->len, &reason, &off);
        if (!n->value) {
            /* point at the reference when the scalar is on one line */
            yaml_mark_t m = yn->start_mark;
            if (n->plain && !memchr(v, '\n', len))
                m.column += off;
            else if (!n->plain && !memchr(v, '\n', len))
                m.column += off + 1;
            fail(w, &m, reason);
            free(reason);
            free(n);
            return NULL;
        }
    } else {
        n->value = tm__xstrndup(v, len);
        n->len = len;
    }
    return n;
}

static tm_node *walk(walker *w, yaml_node_t *yn, int depth)
{
    if (w->err)
        return NULL;
    if (depth > MAX_DEPTH) {
        fail(w, &yn->start_mark, "nested too deeply (more than 64 levels)");
        return NULL;
    }
    if (w->budget-- == 0) {
        fail(w, &yn->start_mark,
             "too many nodes after expanding aliases (more than 100000); "
             "is this an alias bomb?");
        return NULL;
    }
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        return walk_scalar(w, yn, false);
    case YAML_SEQUENCE_NODE: {
        tm_node *n = node_new(TM_NODE_SEQ, &yn->start_mark);
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = tm__xcalloc(cnt, sizeof *n->items);
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *c = yaml_document_get_node(w->doc, yn->data.sequence.items.start[i]);
            tm_node *cn = c ? walk(w, c, depth + 1) : NULL;
            if (!cn) {
                tm__node_free(n);
                return NULL;
            }
            n->items[n->n++] = cn;
        }
        return n;
    }
    case YAML_MAPPING_NODE: {
        tm_node *n = node_new(TM_NODE_MAP, &yn->start_mark);
        size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
        n->items = tm__xcalloc(cnt, sizeof *n->items);
        n->keys = tm__xcalloc(cnt, sizeof *n->keys);
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_pair_t *pr = &yn->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(w->doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(w->doc, pr->value);
            if (!k || !v) {
                fail(w, &yn->start_mark, "malformed mapping");
                tm__node_free(n);
                return NULL;
            }
            if (k->type != YAML_SCALAR_NODE) {
                fail(w, &k->start_mark, "a key must be a plain string");
                tm__node_free(n);
                return NULL;
            }
            tm_node *kn = walk_scalar(w, k, true);
            const tm_node *prev = tm__node_key(n, kn->value);
            if (prev) {
                char *msg = tm__xasprintf("duplicate key '%s' (first at line %d)", kn->value,
                                          prev->line);
                fail(w, &k->start_mark, msg);
                free(msg);
                tm__node_free(kn);
                tm__node_free(n);
                return NULL;
            }
            tm_node *vn = walk(w, v, depth + 1);
            if (!vn) {
                tm__node_free(kn);
                tm__node_free(n);
                return NULL;
            }
            n->keys[n->n] = kn;
            n->items[n->n++] = vn;
        }
        return n;
    }
    default:
        fail(w, &yn->start_mark, "empty node");
        return NULL;
    }
}

/* libyaml keeps one simple-key slot per open flow collection and walks them
 * all at every token, so text nested N deep costs N^2 before any node
 * exists (100,000 '[' take 16 s and more). A pipeline never nests deeper
 * than MAX_DEPTH, so the text is lexed first, roughly, and refused when
 * more than MAX_FLOW_SCAN '[' or '{' are open at once.
 *
 * The lexer approximates YAML's: it skips comments, quoted scalars and the
 * bodies of block scalars ('|' or '>': the lines indented deeper than the
 * collection that holds the header), and a quote opens only where a node
 * can start, never inside a plain scalar, so that text libyaml reads cannot
 * hide behind a misread quote. A '[' inside a block plain scalar still
 * counts (as literal text it cannot change the context). Hence a bound far
 * above MAX_DEPTH; the walk below gives the exact error. The text has no
 * NUL. Columns count characters, as libyaml's marks do. */
#define MAX_FLOW_SCAN 1000

/* The length of the line break at t[i], or 0: like libyaml, CR, CR LF, NEL,
 * LS and PS break lines too. */
static size_t line_break(const char *t, size_t i, size_t len)
{
    const unsigned char *u = (const unsigned char *)t + i;
    size_t n = len - i;
    if (n == 0)
        return 0;
    if (u[0] == '\n' || u[0] == '\r')
        return u[0] == '\r' && n > 1 && u[1] == '\n' ? 2 : 1;
    if (n > 1 && u[0] == 0xC2 && u[1] == 0x85)
        return 2;
    if (n > 2 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9))
        return 3;
    return 0;
}

static bool blank_at(const char *t, size_t i, size_t len)
{
    return i >= len || t[i] == ' ' || t[i] == '\t' || line_break(t, i, len);
}

/* "|" or ">", then indicators like "-", "+2", then only a comment. */
static bool block_header(const char *t, size_t i, size_t len)
{
    size_t j = i + 1;
    while (j < len && strchr("+-0123456789", t[j]))
        j++;
    while (j < len && (t[j] == ' ' || t[j] == '\t'))
        j++;
    return blank_at(t, j, len) || (t[j] == '#' && (t[j - 1] == ' ' || t[j - 1] == '\t'));
}

static bool flow_too_deep(const char *t, size_t len, size_t *line, size_t *col)
{
    size_t flow = 0, lit = 0; /* open '[' '{': in flow context; in block plain scalars */
    size_t ln = 1, i = len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, bol = i;
    size_t owner = 0, key = 0; /* columns: the block collection holding this line, a key */
    long body = -1;            /* in a block scalar: its lines are indented more than this */
    char quote = 0;            /* in a '...' or "..." scalar */
    bool plain = false;        /* in a plain scalar */
    bool lone = false;         /* ... that began a line, so perhaps the document */
    bool start = true;         /* a node may start here */
    bool fresh = true;         /* ... right after the indentation, "- " or "? " */
    while (i < len) {
        size_t nl = line_break(t, i, len), sp = i;
        if (nl) {
            i += nl, ln++, bol = i;
            continue;
        }
        bool doc = i == bol && len - i >= 3 &&
                   (!memcmp(t + i, "---", 3) || !memcmp(t + i, "...", 3)) && blank_at(t, i + 3, len);
        if (doc)
            quote = 0;
        if (i == bol && !quote) {
            while (sp < len && t[sp] == ' ')
                sp++;
            size_t indent = sp - i, e = sp;
            while (e < len && (t[e] == ' ' || t[e] == '\t'))
                e++;
            if (blank_at(t, e, len) || (body >= 0 && (long)indent > body)) {
                while (i < len && !line_break(t, i, len)) /* blank, or a block scalar's */
                    i++;
                continue;
            }
            /* a plain scalar goes on in a flow, on a line deeper than its collection,
             * or anywhere if it is the document; "---" or "..." ends it, and quotes */
            bool more = plain && (flow || indent > owner || lone) && !doc;
            body = -1, plain = more, start = fresh = !more, owner = key = indent;
            i = doc ? i + 3 : sp;
            if (doc)
                continue;
        }
        char c = t[i];
        if (quote) {
            if (quote == '"' && c == '\\' && !line_break(t, i + 1, len))
                i++; /* an escape; an escaped line break still counts as a line */
            else if (quote == '\'' && c == '\'' && i + 1 < len && t[i + 1] == '\'')
                i++; /* '' is a quote */
            else if (c == quote)
                quote = 0;
            i++;
            continue;
        }
        bool ind = blank_at(t, i + 1, len); /* followed by a blank */
        if (c == ' ' || c == '\t') {
        } else if (c == '#' && (!plain || i == bol || t[i - 1] == ' ' || t[i - 1] == '\t')) {
            while (i + 1 < len && !line_break(t, i + 1, len))
                i++;
            plain = false;
        } else if (c == '[' || c == '{') {
            if (plain && !flow) {
                lit++;
            } else {
                flow++;
                plain = fresh = false, start = true;
            }
            if (flow + lit > MAX_FLOW_SCAN) {
                size_t chars = 0;
                for (size_t k = bol; k < i; k++)
                    chars += ((unsigned char)t[k] & 0xC0) != 0x80;
                *line = ln, *col = chars + 1;
                return true;
            }
        } else if (c == ']' || c == '}') {
            if (plain && !flow)
                lit -= lit > 0;
            else
                flow -= flow > 0, plain = start = fresh = false;
        } else if (c == ',' && flow) {
            plain = false, start = true;
        } else if (c == ':' && (ind || (flow && !plain))) {
            if (!flow)
                owner = key; /* a key at the start of the line begins a mapping there */
            plain = fresh = false, start = true;
        } else if (!start) {
        } else if ((c == '-' || c == '?') && ind) {
            owner = i - bol, fresh = true;
        } else if ((c == '|' || c == '>') && block_header(t, i, len)) {
            body = (long)owner;
            while (i + 1 < len && !line_break(t, i + 1, len))
                i++;
        } else if (c == '&' || c == '!' || c == '*') { /* anchor, tag, alias */
            while (!blank_at(t, i + 1, len) && !strchr(",[]{}", t[i + 1]))
                i++;
            start = c != '*';
        } else {
            lone = fresh && i - bol == owner;
            if (fresh)
                key = i - bol, fresh = false;
            if (c == '\'' || c == '"')
                quote = c;
            else
                plain = true;
            start = false;
        }
        i++;
    }
    return false;
}

/* libyaml's error as "FILE:LINE:COL: problem". */
static char *parse_error(const yaml_parser_t *parser, const char *path, const char *text,
                         size_t len)
{
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    yaml_mark_t m = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR) {
        /* the reader (encoding errors) gives a byte offset, not a mark */
        size_t off = parser->problem_offset < len ? parser->problem_offset : len, bol = 0;
        m.line = 0;
        for (size_t i = 0; i < off; i++)
            if (text[i] == '\n')
                m.line++, bol = i + 1;
        m.column = off - bol;
        if (off == len)
            return tm__xasprintf("%s:%zu:%zu: %s at the end: a pipeline file must be UTF-8",
                                 path, m.line + 1, m.column + 1, problem);
        return tm__xasprintf("%s:%zu:%zu: %s (byte 0x%02X): a pipeline file must be UTF-8", path,
                             m.line + 1, m.column + 1, problem, (unsigned char)text[off]);
    }
    if (parser->context)
        return tm__xasprintf("%s:%zu:%zu: %s %s", path, m.line + 1, m.column + 1, problem,
                             parser->context);
    return tm__xasprintf("%s:%zu:%zu: %s", path, m.line + 1, m.column + 1, problem);
}

tm_node *tm__yaml_load(const char *path, const char *text, size_t len, bool expand_vars,
                       char **err)
{
    *err = NULL;
    char *owned = NULL;
    if (!text) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            *err = tm__xasprintf("%s: cannot open: %s", path, strerror(errno));
            return NULL;
        }
        tm_buf b = {0};
        char chunk[65536];
        size_t r;
        while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
            tm__buf_add(&b, chunk, r);
        int bad = ferror(f);
        int saved = errno;
        fclose(f);
        if (bad) {
            tm__buf_free(&b);
            *err = tm__xasprintf("%s: cannot read: %s", path, strerror(saved));
            return NULL;
        }
        owned = b.data ? b.data : tm__xstrdup("");
        text = owned;
        len = b.len;
    }
    if (memchr(text, 0, len)) {
        free(owned);
        *err = tm__xasprintf("%s: not a YAML file (it holds NUL bytes)", path);
        return NULL;
    }

    size_t dl, dc;
    if (flow_too_deep(text, len, &dl, &dc)) {
        free(owned);
        *err = tm__xasprintf("%s:%zu:%zu: nested too deeply (more than %d unclosed '[' or '{')",
                             path, dl, dc, MAX_FLOW_SCAN);
        return NULL;
    }

    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    tm_node *root = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        *err = parse_error(&parser, path, text, len);
        yaml_parser_delete(&parser);
        free(owned);
        return NULL;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (!top) {
        *err = tm__xasprintf("%s:1:1: the file is empty", path);
    } else {
        walker w = {&doc, path, expand_vars, MAX_NODES, NULL};
        root = walk(&w, top, 0);
        *err = w.err;
        if (!root && !*err)
            *err = tm__xasprintf("%s: malformed YAML", path);
        if (root) {
            /* a second document in the file is almost always a mistake */
            yaml_document_t next;
            if (yaml_parser_load(&parser, &next)) {
                if (yaml_document_get_root_node(&next)) {
                    yaml_node_t *r2 = yaml_document_get_root_node(&next);
                    *err = tm__xasprintf("%s:%zu:%zu: more than one YAML document in the file",
                                         path, r2->start_mark.line + 1,
                                         r2->start_mark.column + 1);
                    tm__node_free(root);
                    root = NULL;
                }
                yaml_document_delete(&next);
            } else {
                *err = parse_error(&parser, path, text, len);
                tm__node_free(root);
                root = NULL;
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(owned);
    return root;
}

void tm__node_free(tm_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        tm__node_free(n->items[i]);
        if (n->keys)
            tm__node_free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->value);
    free(n);
}

const tm_node *tm__node_key(const tm_node *map, const char *key)
{
    if (!map || map->kind != TM_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i] && strcmp(map->keys[i]->value, key) == 0)
            return map->keys[i];
    return NULL;
}

tm_node *tm__node_get(const tm_node *map, const char *key)
{
    if (!map || map->kind != TM_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i] && strcmp(map->keys[i]->value, key) == 0)
            return map->items[i];
    return NULL;
}

bool tm__node_is_null(const tm_node *n)
{
    if (!n)
        return true;
    if (n->kind != TM_NODE_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

tm_node *tm__node_scalar(const char *value, int line, int col)
{
    tm_node *n = tm__xcalloc(1, sizeof *n);
    n->kind = TM_NODE_SCALAR;
    n->value = tm__xstrdup(value);
    n->len = strlen(value);
    n->plain = true;
    n->line = line;
    n->col = col;
    return n;
}

tm_node *tm__node_clone(const tm_node *s)
{
    if (!s)
        return NULL;
    tm_node *n = tm__xcalloc(1, sizeof *n);
    *n = *s;
    n->value = s->value ? tm__xstrndup(s->value, s->len) : NULL;
    if (s->n) {
        n->items = tm__xcalloc(s->n, sizeof *n->items);
        for (size_t i = 0; i < s->n; i++)
            n->items[i] = tm__node_clone(s->items[i]);
        if (s->keys) {
            n->keys = tm__xcalloc(s->n, sizeof *n->keys);
            for (size_t i = 0; i < s->n; i++)
                n->keys[i] = tm__node_clone(s->keys[i]);
        }
    } else {
        n->items = NULL;
        n->keys = NULL;
    }
    return n;
}

const char *tm__where(const char *file, const tm_node *n)
{
    static _Thread_local char buf[1024];
    if (n && n->origin)
        snprintf(buf, sizeof buf, "%s", n->origin);
    else if (n)
        snprintf(buf, sizeof buf, "%s:%d:%d", file, n->line, n->col);
    else
        snprintf(buf, sizeof buf, "%s", file);
    return buf;
}
