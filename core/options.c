/* One option table per plugin drives everything about its options, as in
 * Fluent Bit's config maps: validation of the pipeline's `with:` block (with
 * file:line:column and the list of valid keys), filling the plugin's config
 * struct, the `textmill plugins NAME` text and the JSON Schema. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *tm__opt_type_name(tm_opt_type t)
{
    switch (t) {
    case TM_OPT_STRING: return "string";
    case TM_OPT_INT: return "integer";
    case TM_OPT_DOUBLE: return "number";
    case TM_OPT_BOOL: return "boolean";
    case TM_OPT_ENUM: return "choice";
    case TM_OPT_LIST: return "list of strings";
    case TM_OPT_BYTES: return "size";
    case TM_OPT_MAP: return "mapping of strings";
    }
    return "?";
}

static size_t opt_count(const tm_plugin *p)
{
    size_t n = 0;
    while (p->options && p->options[n].name)
        n++;
    return n;
}

static bool parse_int(const char *s, int64_t *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

typedef struct unit {
    const char *name;
    double mult;
} unit;

/* A number that starts with a digit (no sign, "inf" or "nan"), optional
 * spaces, then one of the units (compared ignoring case when fold), in the
 * units' base. */
static bool with_unit(const char *s, const unit *units, size_t n, bool fold, double *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s)
        return false;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < n; i++) {
        if ((fold ? strcasecmp(end, units[i].name) : strcmp(end, units[i].name)) == 0) {
            *out = v * units[i].mult;
            return true;
        }
    }
    return false;
}

bool tm__parse_bytes(const char *s, int64_t *out)
{
    static const unit units[] = {{"", 1},          {"b", 1},
                                 {"k", 1024.0},    {"kb", 1024.0},
                                 {"kib", 1024.0},  {"m", 1048576.0},
                                 {"mb", 1048576.0}, {"mib", 1048576.0},
                                 {"g", 1073741824.0}, {"gb", 1073741824.0},
                                 {"gib", 1073741824.0}};
    double r;
    if (!with_unit(s, units, sizeof units / sizeof units[0], true, &r) || r > 9.2e18 ||
        r != floor(r))
        return false;
    *out = (int64_t)r;
    return true;
}

bool tm__parse_seconds(const char *s, double *out)
{
    static const unit units[] = {{"", 1}, {"s", 1}, {"ms", 1e-3}, {"m", 60}};
    /* no hexadecimal ("0x1p3") */
    if (s[0] && (s[1] == 'x' || s[1] == 'X'))
        return false;
    return with_unit(s, units, sizeof units / sizeof units[0], false, out) && isfinite(*out);
}

static int parse_bool(const char *s)
{
    static const char *const t[] = {"true", "yes", "on", "1"};
    static const char *const f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return 1;
        if (strcasecmp(s, f[i]) == 0)
            return 0;
    }
    return -1;
}

/* index of `v` in "a|b|c", or -1 */
static int enum_index(const char *choices, const char *v)
{
    int idx = 0;
    size_t vl = strlen(v);
    for (const char *c = choices; c && *c; idx++) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (l == vl && strncmp(c, v, l) == 0)
            return idx;
        if (!bar)
            break;
        c = bar + 1;
    }
    return -1;
}

static char *choices_list(const char *choices)
{
    tm_buf b = {0};
    for (const char *c = choices; *c; c++) {
        if (*c == '|')
            tm__buf_adds(&b, ", ");
        else
            tm__buf_addc(&b, *c);
    }
    return b.data ? b.data : tm__xstrdup("");
}

/* Sets one option from node `v` (never NULL); returns an error message or NULL. */
static void map_clear(tm_strmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static char *set_option(const tm_option *o, void *config, const tm_node *v)
{
    char *field = (char *)config + o->offset;
    if (o->type == TM_OPT_MAP) {
        tm_strmap *m = (tm_strmap *)field;
        map_clear(m);
        if (tm__node_is_null(v))
            return NULL;
        if (v->kind != TM_NODE_MAP)
            return tm__xasprintf("option '%s' expects a mapping (name: value, ...)", o->name);
        m->keys = tm__xcalloc(v->n, sizeof *m->keys);
        m->values = tm__xcalloc(v->n, sizeof *m->values);
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i]->kind != TM_NODE_SCALAR || tm__node_is_null(v->items[i]))
                return tm__xasprintf("option '%s': the value of '%s' must be a string", o->name,
                                     v->keys[i]->value);
            m->keys[m->n] = tm__xstrdup(v->keys[i]->value);
            m->values[m->n++] = tm__xstrndup(v->items[i]->value, v->items[i]->len);
        }
        return NULL;
    }
    if (o->type == TM_OPT_LIST) {
        tm_strlist *l = (tm_strlist *)field;
        for (size_t i = 0; i < l->n; i++)
            free(l->items[i]);
        free(l->items);
        l->items = NULL;
        l->n = 0;
        if (tm__node_is_null(v))
            return NULL;
        if (v->kind == TM_NODE_SCALAR) {
            l->items = tm__xcalloc(1, sizeof *l->items);
            l->items[l->n++] = tm__xstrndup(v->value, v->len);
            return NULL;
        }
        if (v->kind != TM_NODE_SEQ)
            return tm__xasprintf("option '%s' expects a list of strings", o->name);
        l->items = tm__xcalloc(v->n, sizeof *l->items);
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i]->kind != TM_NODE_SCALAR)
                return tm__xasprintf("option '%s': item %zu must be a string", o->name, i + 1);
            l->items[l->n++] = tm__xstrndup(v->items[i]->value, v->items[i]->len);
        }
        return NULL;
    }
    if (v->kind != TM_NODE_SCALAR)
        return tm__xasprintf("option '%s' expects a %s, not a %s", o->name,
                             tm__opt_type_name(o->type),
                             v->kind == TM_NODE_MAP ? "mapping" : "list");
    const char *s = v->value;
    if (o->type == TM_OPT_STRING) {
        free(*(char **)field);
        *(char **)field = tm__node_is_null(v) ? NULL : tm__xstrndup(v->value, v->len);
        return NULL;
    }
    if (tm__node_is_null(v))
        return tm__xasprintf("option '%s' expects a %s, not null", o->name,
                             tm__opt_type_name(o->type));
    bool ranged = o->min < o->max;
    switch (o->type) {
    case TM_OPT_INT:
    case TM_OPT_BYTES: {
        int64_t x;
        if (!(o->type == TM_OPT_INT ? parse_int(s, &x) : tm__parse_bytes(s, &x)))
            return o->type == TM_OPT_INT
                       ? tm__xasprintf("option '%s' expects an integer, not '%s'", o->name, s)
                       : tm__xasprintf("option '%s' expects a size such as 4096, 64k or 10MB, "
                                       "not '%s'",
                                       o->name, s);
        if (ranged && ((double)x < o->min || (double)x > o->max))
            return tm__xasprintf("option '%s' must be between %.17g and %.17g, not %s",
                                 o->name, o->min, o->max, s);
        *(int64_t *)field = x;
        return NULL;
    }
    case TM_OPT_DOUBLE: {
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(x))
            return tm__xasprintf("option '%s' expects a number, not '%s'", o->name, s);
        if (ranged && (x < o->min || x > o->max))
            return tm__xasprintf("option '%s' must be between %.17g and %.17g, not %s",
                                 o->name, o->min, o->max, s);
        *(double *)field = x;
        return NULL;
    }
    case TM_OPT_BOOL: {
        int b = parse_bool(s);
        if (b < 0)
            return tm__xasprintf("option '%s' expects true or false, not '%s'", o->name, s);
        *(int *)field = b;
        return NULL;
    }
    case TM_OPT_ENUM: {
        int i = enum_index(o->choices, s);
        if (i < 0) {
            char *l = choices_list(o->choices);
            char *m = tm__xasprintf("option '%s' must be one of: %s (not '%s')", o->name, l, s);
            free(l);
            return m;
        }
        *(int *)field = i;
        return NULL;
    }
    default:
        return tm__xasprintf("option '%s' has an unknown type", o->name);
    }
}

void *tm__options_fill(const tm_plugin *p, const char *file, const tm_node *with, char **err)
{
    *err = NULL;
    size_t n = opt_count(p);
    void *config = tm__xcalloc(1, p->config_size ? p->config_size : 1);
    if (with && !tm__node_is_null(with) && with->kind != TM_NODE_MAP) {
        *err = tm__xasprintf("%s: 'with' must be a mapping of options", tm__where(file, with));
        goto fail;
    }
    if (with && with->kind == TM_NODE_MAP) {
        for (size_t i = 0; i < with->n; i++) {
            const tm_node *k = with->keys[i];
            bool known = false;
            for (size_t j = 0; j < n; j++)
                known |= strcmp(p->options[j].name, k->value) == 0;
            if (known)
                continue;
            const char **names = tm__xcalloc(n, sizeof *names);
            tm_buf list = {0};
            for (size_t j = 0; j < n; j++) {
                names[j] = p->options[j].name;
                tm__buf_printf(&list, "%s%s", j ? ", " : "", names[j]);
            }
            const char *sug = tm__suggest(k->value, names, n);
            char *hint = sug ? tm__xasprintf("; did you mean '%s'?", sug) : tm__xstrdup("");
            *err = tm__xasprintf("%s: unknown option '%s' for %s '%s'%s (valid: %s)",
                                 tm__where(file, k), k->value, tm__role_name(p->role), p->name,
                                 hint, n ? list.data : "none; this plugin takes no options");
            free(hint);
            free(names);
            tm__buf_free(&list);
            goto fail;
        }
    }
    for (size_t j = 0; j < n; j++) {
        const tm_option *o = &p->options[j];
        const tm_node *v = with ? tm__node_get(with, o->name) : NULL;
        char *msg = NULL;
        if (v && tm__node_is_null(v) && (o->def || o->required)) {
            /* a plugin may take NULL for "unset" only where that is the default */
            if (o->def)
                *err = tm__xasprintf("%s: option '%s' is null: give %s %s, or leave the option "
                                     "out for its default (%s)", tm__where(file, v), o->name,
                                     strchr("aeiou", tm__opt_type_name(o->type)[0]) ? "an" : "a",
                                     tm__opt_type_name(o->type), o->def);
            else
                *err = tm__xasprintf("%s: option '%s' is null, but %s '%s' needs it: %s",
                                     tm__where(file, v), o->name, tm__role_name(p->role),
                                     p->name, o->help);
            goto fail;
        }
        if (v) {
            msg = set_option(o, config, v);
            if (msg) {
                *err = tm__xasprintf("%s: %s", tm__where(file, v), msg);
                free(msg);
                goto fail;
            }
        } else if (o->required) {
            *err = tm__xasprintf("%s: %s '%s' needs option '%s': %s", tm__where(file, with),
                                 tm__role_name(p->role), p->name, o->name, o->help);
            goto fail;
        } else if (o->def) {
            char *lerr = NULL;
            tm_node *dv = o->type == TM_OPT_LIST || o->type == TM_OPT_MAP ? tm__yaml_load("default", o->def,
                                                                 strlen(o->def), false, &lerr)
                                                 : tm__node_scalar(o->def, 0, 0);
            if (dv)
                msg = set_option(o, config, dv);
            else
                msg = lerr;
            tm__node_free(dv);
            if (msg) {
                *err = tm__xasprintf("plugin %s: bad default for option '%s': %s", p->name,
                                     o->name, msg);
                free(msg);
                goto fail;
            }
        }
    }
    return config;
fail:
    tm__options_free(p, config);
    return NULL;
}

void tm__options_free(const tm_plugin *p, void *config)
{
    if (!config)
        return;
    for (size_t j = 0; p->options && p->options[j].name; j++) {
        const tm_option *o = &p->options[j];
        char *field = (char *)config + o->offset;
        if (o->type == TM_OPT_STRING) {
            free(*(char **)field);
        } else if (o->type == TM_OPT_LIST) {
            tm_strlist *l = (tm_strlist *)field;
            for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
            free(l->items);
        } else if (o->type == TM_OPT_MAP) {
            map_clear((tm_strmap *)field);
        }
    }
    free(config);
}

static void print_fields(FILE *out, const char *label, const char *const *f)
{
    fprintf(out, "  %-8s ", label);
    if (!f || !f[0])
        fputs("(nothing)", out);
    for (size_t i = 0; f && f[i]; i++)
        fprintf(out, "%s%s", i ? ", " : "", f[i]);
    fputc('\n', out);
}

void tm__options_print(FILE *out, const tm_plugin *p, const char *path)
{
    fprintf(out, "%s %s %s (%s%s)\n", tm__role_name(p->role), p->name, p->version, p->license,
            p->caps & TM_CAP_REENTRANT ? ", reentrant" : "");
    fprintf(out, "  %s\n\n", p->summary);
    fprintf(out, "  %-8s %s\n", "file", path);
    print_fields(out, "reads", p->reads);
    print_fields(out, "writes", p->writes);
    size_t n = opt_count(p);
    fprintf(out, "\nOptions (under 'with:'):%s\n", n ? "" : " none");
    for (size_t j = 0; j < n; j++) {
        const tm_option *o = &p->options[j];
        fprintf(out, "  %s  (%s", o->name, tm__opt_type_name(o->type));
        if (o->type == TM_OPT_ENUM) {
            char *l = choices_list(o->choices);
            fprintf(out, ": %s", l);
            free(l);
        }
        if (o->min < o->max)
            fprintf(out, ", %.17g to %.17g", o->min, o->max);
        if (o->required)
            fputs(", required", out);
        else if (o->def)
            fprintf(out, ", default %s", o->def);
        fputs(")\n", out);
        /* wrap the help text at 76 columns */
        const char *h = o->help;
        while (*h) {
            size_t take = strlen(h);
            if (take > 70) {
                take = 70;
                while (take > 0 && h[take] != ' ')
                    take--;
                if (take == 0)
                    take = 70;
            }
            fprintf(out, "      %.*s\n", (int)take, h);
            h += take;
            while (*h == ' ')
                h++;
        }
    }
}

static cJSON *json_default(const tm_option *o)
{
    if (!o->def || o->type == TM_OPT_MAP)
        return NULL;
    tm_node *n = tm__node_scalar(o->def, 0, 0);
    cJSON *j = NULL;
    switch (o->type) {
    case TM_OPT_INT:
    case TM_OPT_DOUBLE: j = cJSON_CreateNumber(strtod(o->def, NULL)); break;
    case TM_OPT_BOOL: j = cJSON_CreateBool(parse_bool(o->def) == 1); break;
    case TM_OPT_BYTES: {
        int64_t x = 0;
        if (tm__parse_bytes(o->def, &x) && strspn(o->def, "0123456789") == strlen(o->def))
            j = cJSON_CreateNumber((double)x);
        else
            j = cJSON_CreateString(o->def);
        break;
    }
    case TM_OPT_LIST: {
        char *err = NULL;
        tm_node *l = tm__yaml_load("default", o->def, strlen(o->def), false, &err);
        free(err);
        j = cJSON_CreateArray();
        if (l && l->kind == TM_NODE_SEQ)
            for (size_t i = 0; i < l->n; i++)
                cJSON_AddItemToArray(j, cJSON_CreateString(l->items[i]->value));
        else if (l && l->kind == TM_NODE_SCALAR)
            cJSON_AddItemToArray(j, cJSON_CreateString(l->value));
        tm__node_free(l);
        break;
    }
    default: j = cJSON_CreateString(o->def);
    }
    tm__node_free(n);
    return j;
}

char *tm__options_schema(const tm_plugin *p)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "$schema", "https://json-schema.org/draft/2020-12/schema");
    char *id = tm__xasprintf("textmill:%s/%s", tm__role_name(p->role), p->name);
    cJSON_AddStringToObject(s, "$id", id);
    free(id);
    cJSON_AddStringToObject(s, "title", p->name);
    cJSON_AddStringToObject(s, "description", p->summary ? p->summary : "");
    cJSON_AddStringToObject(s, "x-textmill-role", tm__role_name(p->role));
    cJSON_AddStringToObject(s, "x-textmill-version", p->version ? p->version : "");
    cJSON_AddStringToObject(s, "type", "object");
    cJSON_AddBoolToObject(s, "additionalProperties", 0);
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON *req = cJSON_CreateArray();
    for (size_t j = 0; p->options && p->options[j].name; j++) {
        const tm_option *o = &p->options[j];
        cJSON *po = cJSON_AddObjectToObject(props, o->name);
        cJSON_AddStringToObject(po, "description", o->help);
        switch (o->type) {
        case TM_OPT_STRING: cJSON_AddStringToObject(po, "type", "string"); break;
        case TM_OPT_INT: cJSON_AddStringToObject(po, "type", "integer"); break;
        case TM_OPT_DOUBLE: cJSON_AddStringToObject(po, "type", "number"); break;
        case TM_OPT_BOOL: cJSON_AddStringToObject(po, "type", "boolean"); break;
        case TM_OPT_ENUM: {
            cJSON_AddStringToObject(po, "type", "string");
            cJSON *e = cJSON_AddArrayToObject(po, "enum");
            char *l = tm__xstrdup(o->choices ? o->choices : "");
            for (char *save = NULL, *t = strtok_r(l, "|", &save); t;
                 t = strtok_r(NULL, "|", &save))
                cJSON_AddItemToArray(e, cJSON_CreateString(t));
            free(l);
            break;
        }
        case TM_OPT_LIST: {
            cJSON *any = cJSON_AddArrayToObject(po, "anyOf");
            cJSON *arr = cJSON_CreateObject();
            cJSON_AddStringToObject(arr, "type", "array");
            cJSON_AddItemToObject(arr, "items", cJSON_CreateObject());
            cJSON_AddStringToObject(cJSON_GetObjectItem(arr, "items"), "type", "string");
            cJSON_AddItemToArray(any, arr);
            cJSON *one = cJSON_CreateObject();
            cJSON_AddStringToObject(one, "type", "string");
            cJSON_AddItemToArray(any, one);
            break;
        }
        case TM_OPT_MAP: {
            cJSON_AddStringToObject(po, "type", "object");
            cJSON *ap = cJSON_CreateObject();
            cJSON_AddStringToObject(ap, "type", "string");
            cJSON_AddItemToObject(po, "additionalProperties", ap);
            break;
        }
        case TM_OPT_BYTES: {
            cJSON *any = cJSON_AddArrayToObject(po, "anyOf");
            cJSON *i = cJSON_CreateObject();
            cJSON_AddStringToObject(i, "type", "integer");
            cJSON_AddNumberToObject(i, "minimum", 0);
            cJSON_AddItemToArray(any, i);
            cJSON *str = cJSON_CreateObject();
            cJSON_AddStringToObject(str, "type", "string");
            cJSON_AddStringToObject(str, "pattern",
                                    "^[0-9]+(\\.[0-9]+)? ?([bB]|[kKmMgG]([bB]|i[bB])?)?$");
            cJSON_AddItemToArray(any, str);
            break;
        }
        }
        if (o->min < o->max && (o->type == TM_OPT_INT || o->type == TM_OPT_DOUBLE)) {
            cJSON_AddNumberToObject(po, "minimum", o->min);
            cJSON_AddNumberToObject(po, "maximum", o->max);
        }
        cJSON *d = json_default(o);
        if (d)
            cJSON_AddItemToObject(po, "default", d);
        if (o->required)
            cJSON_AddItemToArray(req, cJSON_CreateString(o->name));
    }
    if (cJSON_GetArraySize(req))
        cJSON_AddItemToObject(s, "required", req);
    else
        cJSON_Delete(req);
    char *txt = cJSON_Print(s);
    cJSON_Delete(s);
    char *r = tm__xstrdup(txt);
    cJSON_free(txt);
    return r;
}
