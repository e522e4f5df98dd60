/* The report page, drawn from the report's JSON so that the page and the
 * JSON twin cannot disagree. Charts are inline SVG drawn here: the page
 * runs no script, loads nothing and its Content-Security-Policy forbids
 * both. Every string that came from documents or the pipeline is escaped. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- text ------------------------------------------------------------------------- */

/* snprintf into buf that, when the text does not fit, cuts it on a character
 * boundary rather than inside a multibyte UTF-8 sequence. */
static void fit(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void fit(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n < size || size == 0)
        return;
    size_t len = size - 1, i = len;
    while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80)
        i--; /* i - 1: the last character's first byte */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)buf[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (len - (i - 1) < need)
        buf[i - 1] = 0;
}

static void esc_n(FILE *fp, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fputc(s[i], fp);
        }
    }
}

static void esc(FILE *fp, const char *s)
{
    if (s)
        esc_n(fp, s, strlen(s));
}

/* At most `max` characters of s, escaped, with "…" when cut. */
static void esc_cut(FILE *fp, const char *s, size_t max)
{
    size_t chars = 0, i = 0;
    if (!s)
        return;
    for (; s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++chars > max)
            break;
    esc_n(fp, s, i);
    if (s[i])
        fputs("\xE2\x80\xA6", fp);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* An integer with thousands separators ("12,345"), or "–" when unknown. */
static void put_int(FILE *fp, double v)
{
    if (!isfinite(v)) {
        fputs("\xE2\x80\x93", fp);
        return;
    }
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%.0f", fabs(v));
    size_t n = strlen(digits), o = 0;
    if (v < 0)
        out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
    fputs(out, fp);
}

/* A chart that could not be drawn fails the page rather than leave it out.
 * One instance writes its page on one thread, hence thread-local. */
static _Thread_local bool out_of_memory;

static void *zalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        out_of_memory = true;
    return p;
}

/* ---- charts ----------------------------------------------------------------------- */

typedef struct bar {
    const char *label;
    double v[2]; /* NAN: no value in that series */
} bar;

enum { CHART_W = 760, LABEL_W = 230, BARS_W = 440 };

/* A horizontal bar chart of one or two series, as inline SVG. */
static void chart(FILE *fp, const char *id, const char *caption, const bar *bars, size_t n,
                  int series, const char *const names[2])
{
    double max = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < series; k++)
            if (isfinite(bars[i].v[k]) && bars[i].v[k] > max)
                max = bars[i].v[k];
    int row = series == 2 ? 26 : 20, top = series == 2 ? 22 : 4;
    int height = top + (int)n * row + 4;
    fprintf(fp, "<figure class=\"chart\"><svg class=\"chart\" id=\"");
    esc(fp, id);
    fprintf(fp, "\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\"><title>",
            CHART_W, height, CHART_W, height);
    esc(fp, caption);
    fputs("</title>", fp);
    if (series == 2)
        for (int k = 0; k < 2; k++) {
            fprintf(fp, "<rect class=\"s%d\" x=\"%d\" y=\"4\" width=\"12\" height=\"10\"/>", k,
                    LABEL_W + k * 90);
            fprintf(fp, "<text x=\"%d\" y=\"13\">", LABEL_W + 16 + k * 90);
            esc(fp, names[k]);
            fputs("</text>", fp);
        }
    for (size_t i = 0; i < n; i++) {
        int y = top + (int)i * row;
        fprintf(fp, "<g class=\"bar\"><title>");
        esc(fp, bars[i].label);
        fprintf(fp, "</title><text class=\"label\" x=\"%d\" y=\"%d\">", LABEL_W - 8,
                y + row / 2 + 4);
        esc_cut(fp, bars[i].label, 34);
        fputs("</text>", fp);
        int h = series == 2 ? 10 : 14;
        for (int k = 0; k < series; k++) {
            double v = bars[i].v[k];
            if (!isfinite(v))
                continue;
            int by = y + 2 + k * (h + 2);
            double w = max > 0 ? v / max * BARS_W : 0;
            if (v > 0 && w < 1)
                w = 1; /* a small count still shows */
            fprintf(fp, "<rect class=\"s%d\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                    k, LABEL_W, by, w, h);
            fprintf(fp, "<text class=\"value\" x=\"%.1f\" y=\"%d\">", LABEL_W + w + 5,
                    by + h - 2);
            put_int(fp, v);
            fputs("</text>", fp);
        }
        fputs("</g>", fp);
    }
    fputs("</svg><figcaption>", fp);
    esc(fp, caption);
    fputs("</figcaption></figure>\n", fp);
}

/* ---- sections --------------------------------------------------------------------- */

static const char css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:#1d2330;background:#f4f6f9}"
    "main{max-width:1120px;margin:0 auto;padding:24px 32px 48px;overflow-wrap:anywhere}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:0 0 12px}"
    "h3{font-size:16px;margin:18px 0 8px}"
    "section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:18px 22px;"
    "margin:18px 0}"
    ".meta,.note,figcaption{color:#5b6475;font-size:13px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}"
    ".card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:12px 18px;"
    "min-width:120px}.card b{display:block;font-size:24px;color:#1f5fbf}"
    "table{border-collapse:collapse;width:100%;margin:8px 0;font-size:14px}"
    "th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ef;"
    "vertical-align:top}th{background:#f0f3f7}td.n,th.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "figure{margin:8px 0 14px}svg.chart text{font-size:12px;fill:#1d2330}"
    "svg.chart text.label{text-anchor:end}svg.chart text.value{fill:#5b6475}"
    "svg.chart .s0{fill:#3b7dd8}svg.chart .s1{fill:#e39b2d}"
    ".group{border-left:3px solid #3b7dd8;padding:2px 0 2px 12px;margin:12px 0}"
    ".group ol,.group ul{margin:4px 0;padding-left:22px}.id{color:#5b6475;font-size:12px;"
    "font-family:ui-monospace,monospace}"
    "summary{cursor:pointer;color:#5b6475;font-size:13px}"
    ".tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:9px;"
    "background:#fdeccc;color:#7a4a00;margin-left:6px}"
    ".tag.outlet{background:#e3ecfa;color:#1f4f99}.facts{margin:4px 0}";

static void head(FILE *fp, const cJSON *r)
{
    const char *title = str(r, "title");
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", fp);
    /* first in the head: the sink recognises its own file by this line */
    fputs("<meta name=\"generator\" content=\"", fp);
    esc(fp, str(r, "generator"));
    fputs("\">\n", fp);
    fputs("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          fp);
    esc(fp, title);
    fprintf(fp, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<h1>", css);
    esc(fp, title);
    fputs("</h1>\n<p class=\"meta\">", fp);
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(r, "run");
    const char *file = str(run, "file"), *started = str(run, "started");
    if (file && *file) {
        fputs("Pipeline <code>", fp);
        esc(fp, file);
        fputs("</code> \xC2\xB7 ", fp);
    }
    if (started) {
        fputs("started ", fp);
        esc(fp, started);
        fputs(" \xC2\xB7 ", fp);
    }
    if (isfinite(num(run, "seconds")))
        fprintf(fp, "%.2f s until the report was written \xC2\xB7 ", num(run, "seconds"));
    esc(fp, str(r, "generator"));
    fputs("</p>\n", fp);
}

static void card(FILE *fp, const char *what, double v)
{
    fputs("<div class=\"card\"><b>", fp);
    put_int(fp, v);
    fprintf(fp, "</b>%s</div>", what);
}

static void cards(FILE *fp, const cJSON *r)
{
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(r, "documents");
    fputs("<div class=\"cards\" id=\"summary\">", fp);
    card(fp, "documents", num(docs, "total"));
    card(fp, "bytes of text", num(docs, "bytes"));
    card(fp, "sources", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "sources")));
    card(fp, "duplicates", num(cJSON_GetObjectItemCaseSensitive(r, "duplicates"), "documents"));
    card(fp, "stories", num(cJSON_GetObjectItemCaseSensitive(r, "stories"), "total"));
    card(fp, "dated documents", num(docs, "dated"));
    fputs("</div>\n", fp);
}

/* Bars for the first `max` objects of an array: labelled by member `label`,
 * valued by `k0` (and `k1` for a second series). NULL when out of memory;
 * free() it. */
static bar *bars_of(const cJSON *a, size_t max, const char *label, const char *k0,
                    const char *k1, size_t *n)
{
    size_t all = (size_t)cJSON_GetArraySize(a);
    bar *b = zalloc(all, sizeof *b);
    const cJSON *x;
    *n = 0;
    cJSON_ArrayForEach(x, a)
    {
        if (!b || *n == max)
            break;
        b[*n].label = str(x, label) ? str(x, label) : "";
        b[*n].v[0] = num(x, k0);
        b[*n].v[1] = k1 ? num(x, k1) : NAN;
        (*n)++;
    }
    return b;
}

/* The chart of bars_of(); names the series when there are two. */
static void chart_of(FILE *fp, const char *id, const char *caption, const cJSON *a, size_t max,
                     const char *label, const char *k0, const char *k1,
                     const char *const names[2])
{
    size_t n;
    bar *b = bars_of(a, max, label, k0, k1, &n);
    if (b && n)
        chart(fp, id, caption, b, n, k1 ? 2 : 1, names);
    free(b);
}

/* A column of a table of JSON objects: a member shown as text, an integer,
 * seconds, or an object of counts ("reason 3, other 1"). */
typedef enum { COL_TEXT, COL_INT, COL_SECONDS, COL_COUNTS } col_kind;

typedef struct column {
    const char *title, *key;
    col_kind kind;
} column;

/* <table class="CLS"> with a row of class ROW for each of the first `max`
 * objects of `rows`; the columns end with one whose title is NULL. */
static void table(FILE *fp, const char *cls, const char *row, const cJSON *rows, size_t max,
                  const column *cols)
{
    fprintf(fp, "<table class=\"%s\"><thead><tr>", cls);
    for (const column *c = cols; c->title; c++) {
        bool number = c->kind == COL_INT || c->kind == COL_SECONDS;
        fprintf(fp, "<th%s>%s</th>", number ? " class=\"n\"" : "", c->title);
    }
    fputs("</tr></thead><tbody>\n", fp);
    const cJSON *x, *why;
    size_t i = 0;
    cJSON_ArrayForEach(x, rows)
    {
        if (i++ == max)
            break;
        fprintf(fp, "<tr class=\"%s\">", row);
        for (const column *c = cols; c->title; c++) {
            switch (c->kind) {
            case COL_TEXT:
                fputs("<td>", fp);
                esc(fp, str(x, c->key));
                break;
            case COL_INT:
                fputs("<td class=\"n\">", fp);
                put_int(fp, num(x, c->key));
                break;
            case COL_SECONDS:
                fprintf(fp, "<td class=\"n\">%.3f", num(x, c->key));
                break;
            case COL_COUNTS:
                fputs("<td>", fp);
                cJSON_ArrayForEach(why, cJSON_GetObjectItemCaseSensitive(x, c->key))
                {
                    esc(fp, why->string);
                    fputs(" ", fp);
                    put_int(fp, why->valuedouble);
                    fputs(why->next ? ", " : "", fp);
                }
                break;
            }
            fputs("</td>", fp);
        }
        fputs("</tr>\n", fp);
    }
    fputs("</tbody></table>\n", fp);
}

static void steps(FILE *fp, const cJSON *r)
{
    static const column cols[] = {
        {"step", "name", COL_TEXT},          {"plugin", "plugin", COL_TEXT},
        {"role", "role", COL_TEXT},          {"in", "docs_in", COL_INT},
        {"out", "docs_out", COL_INT},        {"dropped", "dropped", COL_INT},
        {"dropped by reason", "dropped_by_reason", COL_COUNTS},
        {"seconds", "seconds", COL_SECONDS}, {NULL, NULL, COL_TEXT}};
    static const char *const names[2] = {"in", "out"};
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(r, "steps");
    fputs("<section id=\"steps\"><h2>Steps</h2>\n", fp);
    if (!cJSON_GetArraySize(all)) {
        fputs("<p class=\"note\">This textmill gives no run statistics.</p></section>\n", fp);
        return;
    }
    chart_of(fp, "chart-steps", "Documents into and out of each step", all, SIZE_MAX, "name",
             "docs_in", "docs_out", names);
    table(fp, "steps", "step", all, SIZE_MAX, cols);
    fputs("<p class=\"note\">Every stage's numbers are final. The sinks' documents are final "
          "too, but their seconds (and the run's) stop when the report was written: the "
          "writing of this report and of the sinks after it is not in them.</p></section>\n",
          fp);
}

static void counters(FILE *fp, const cJSON *r)
{
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(r, "boilerplate_rules"), *x;
    size_t n = (size_t)cJSON_GetArraySize(rules), i = 0;
    fputs("<section id=\"counters\"><h2>Boilerplate rules and other counters</h2>\n", fp);
    if (n) {
        bar *b = bars_of(rules, SIZE_MAX, "rule", "lines", NULL, &n);
        /* a rule's name with its step's: two steps may count rules */
        char(*labels)[160] = zalloc(n, sizeof *labels);
        cJSON_ArrayForEach(x, rules)
        {
            if (!b || !labels || i == n)
                break;
            const char *step = str(x, "step");
            fit(labels[i], sizeof labels[i], "%s (%s)", b[i].label, step ? step : "");
            b[i].label = labels[i];
            i++;
        }
        if (b && labels)
            chart(fp, "chart-rules", "Lines removed by each boilerplate rule that fired", b,
                  n, 1, NULL);
        free(b);
        free(labels);
    } else {
        fputs("<p class=\"note\">No boilerplate rule fired (no step counted a "
              "<code>rule:NAME</code>).</p>\n",
              fp);
    }
    bool any = false;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r, "steps"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "counters");
        if (!cJSON_GetArraySize(c))
            continue;
        if (!any)
            fputs("<table class=\"counters\"><thead><tr><th>step</th><th>counter</th>"
                  "<th class=\"n\">count</th></tr></thead><tbody>\n",
                  fp);
        any = true;
        cJSON_ArrayForEach(x, c)
        {
            fputs("<tr class=\"counter\">", fp);
            if (x == c->child) { /* the step once, beside all of its counters */
                fprintf(fp, "<td rowspan=\"%d\">", cJSON_GetArraySize(c));
                esc(fp, str(s, "name"));
                fputs("</td>", fp);
            }
            fputs("<td>", fp);
            esc(fp, x->string);
            fputs("</td><td class=\"n\">", fp);
            put_int(fp, x->valuedouble);
            fputs("</td></tr>\n", fp);
        }
    }
    fputs(any ? "</tbody></table>\n" : "<p class=\"note\">No step counted anything.</p>\n",
          fp);
    fputs("</section>\n", fp);
}

enum { CHART_ROWS = 20, TABLE_ROWS = 100 };

static void sources(FILE *fp, const cJSON *r)
{
    static const column cols[] = {
        {"source", "source", COL_TEXT},        {"documents", "documents", COL_INT},
        {"bytes", "bytes", COL_INT},           {"first date", "first_date", COL_TEXT},
        {"last date", "last_date", COL_TEXT},  {NULL, NULL, COL_TEXT}};
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(r, "sources");
    size_t n = (size_t)cJSON_GetArraySize(all);
    fputs("<section id=\"sources\"><h2>Documents per source</h2>\n", fp);
    chart_of(fp, "chart-sources",
             n > CHART_ROWS ? "Documents per source (the 20 largest)" : "Documents per source",
             all, CHART_ROWS, "source", "documents", NULL, NULL);
    /* past the chart's rows, the table is there to look things up: folded */
    fprintf(fp, "<details%s><summary>as a table</summary>", n <= CHART_ROWS ? " open" : "");
    table(fp, "sources", "source", all, TABLE_ROWS, cols);
    fputs("</details>\n", fp);
    if (n > TABLE_ROWS)
        fprintf(fp, "<p class=\"note\">and %zu more sources in the JSON data.</p>\n",
                n - TABLE_ROWS);
    fputs("<p class=\"note\">A document's source is its <code>meta.source</code>, else the "
          "host of its <code>meta.url</code>, else the directory of its "
          "<code>meta.file</code> (ending in /).</p></section>\n",
          fp);
}

/* Documents per day, or per month when the days are too many for bars. */
static void dates(FILE *fp, const cJSON *r)
{
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(r, "documents"), *x;
    const cJSON *per = cJSON_GetObjectItemCaseSensitive(docs, "per_day");
    size_t n = (size_t)cJSON_GetArraySize(per);
    fputs("<section id=\"dates\"><h2>Documents per date</h2>\n<p class=\"note\">", fp);
    put_int(fp, num(docs, "dated"));
    fputs(" documents with a date (<code>meta.date</code>), ", fp);
    put_int(fp, num(docs, "undated"));
    fputs(" without", fp);
    if (n) {
        fputs("; from ", fp);
        esc(fp, str(docs, "first_date"));
        fputs(" to ", fp);
        esc(fp, str(docs, "last_date"));
    }
    fputs(".</p>\n", fp);
    bool months = n > 60;
    bar *b = zalloc(n, sizeof *b);
    char(*labels)[11] = zalloc(n, sizeof *labels);
    size_t k = 0;
    cJSON_ArrayForEach(x, per)
    {
        if (!b || !labels)
            break;
        const char *day = str(x, "date");
        size_t len = months ? 7 : 10;
        if (!day)
            continue;
        size_t day_n = strlen(day);
        if (day_n > len) /* cut on a character boundary */
            while (len > 0 && ((unsigned char)day[len] & 0xC0) == 0x80)
                len--;
        if (!k || strncmp(labels[k - 1], day, len) != 0) {
            fit(labels[k], sizeof labels[k], "%.*s", (int)len, day);
            b[k].label = labels[k];
            k++;
        }
        b[k - 1].v[0] += num(x, "documents");
    }
    if (b && labels && k)
        chart(fp, "chart-dates", months ? "Documents per month" : "Documents per day", b, k, 1,
              NULL);
    free(b);
    free(labels);
    fputs("</section>\n", fp);
}

static void entities(FILE *fp, const cJSON *r)
{
    static const column cols[] = {{"name", "name", COL_TEXT},
                                  {"mentions", "mentions", COL_INT},
                                  {"documents", "documents", COL_INT},
                                  {NULL, NULL, COL_TEXT}};
    static const char *const names[2] = {"mentions", "documents"};
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(r, "entities"), *t;
    fputs("<section id=\"entities\"><h2>Top entities</h2>\n", fp);
    cJSON_ArrayForEach(t, types)
    {
        const char *type = str(t, "type") ? str(t, "type") : "";
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(t, "top");
        fputs("<h3>", fp);
        esc(fp, type);
        fputs(" <span class=\"note\">", fp);
        put_int(fp, num(t, "distinct"));
        fputs(" distinct, ", fp);
        put_int(fp, num(t, "mentions"));
        fputs(" mentions</span></h3>\n", fp);
        if (!cJSON_GetArraySize(top)) {
            fputs("<p class=\"note\">None.</p>\n", fp);
            continue;
        }
        char id[96], caption[128];
        fit(id, sizeof id, "chart-entities-%s", type);
        fit(caption, sizeof caption, "%s: mentions and documents", type);
        chart_of(fp, id, caption, top, SIZE_MAX, "name", "mentions", "documents", names);
        fputs("<details><summary>as a table</summary>", fp);
        table(fp, "entities", "entity", top, SIZE_MAX, cols);
        fputs("</details>\n", fp);
    }
    fputs("</section>\n", fp);
}

/* ", names: a, b" for a non-empty array of strings. */
static void list_of(FILE *fp, const char *what, const cJSON *a)
{
    const cJSON *x;
    if (!cJSON_GetArraySize(a))
        return;
    fprintf(fp, "; %s ", what);
    cJSON_ArrayForEach(x, a)
    {
        esc(fp, cJSON_IsString(x) ? x->valuestring : "");
        fputs(x->next ? ", " : "", fp);
    }
}

/* Why a document joined its story, as the stage explained it: the score,
 * what it shares with the story, the date gap, and each part's weight in
 * the log-odds, so that a reader can see which part decided. */
static void evidence(FILE *fp, const cJSON *m)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(m, "shared_names");
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(m, "shared_terms");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(m, "parts"), *x;
    double score = num(m, "story_score"), days = num(m, "days_apart");
    if (!cJSON_GetArraySize(names) && !cJSON_GetArraySize(terms) && !isfinite(score) &&
        !cJSON_GetArraySize(parts))
        return;
    fputs("<br><span class=\"note evidence\">joined", fp);
    if (isfinite(score))
        fprintf(fp, " with score %.2f", score);
    list_of(fp, "names", names);
    list_of(fp, "terms", terms);
    if (isfinite(days))
        fprintf(fp, "; %.0f day%s apart", days, days == 1 ? "" : "s");
    const char *sep = "; weights ";
    cJSON_ArrayForEach(x, parts)
    {
        if (!cJSON_IsNumber(x))
            continue;
        fputs(sep, fp);
        esc(fp, x->string);
        fprintf(fp, " %+.2f", x->valuedouble);
        sep = ", ";
    }
    fputs("</span>", fp);
}

/* One listed document: its title (or its id), the id, then tags. */
static void member(FILE *fp, const cJSON *m)
{
    const char *title = str(m, "title"), *kind = str(m, "duplicate_kind");
    fputs("<li class=\"member\">", fp);
    esc(fp, title ? title : "(no title)");
    fputs(" <span class=\"id\">", fp);
    esc(fp, str(m, "id"));
    if (str(m, "date")) {
        fputs(" \xC2\xB7 ", fp);
        esc(fp, str(m, "date"));
    }
    fputs("</span>", fp);
    if (kind) {
        fputs("<span class=\"tag\">", fp);
        esc(fp, kind);
        if (isfinite(num(m, "similarity")))
            fprintf(fp, " %.2f", num(m, "similarity"));
        if (str(m, "duplicate_of")) {
            fputs(" copy of ", fp);
            esc(fp, str(m, "duplicate_of"));
        }
        fputs("</span>", fp);
    }
    if (str(m, "source")) {
        fputs("<span class=\"tag outlet\">", fp);
        esc(fp, str(m, "source"));
        fputs("</span>", fp);
    }
    evidence(fp, m);
    fputs("</li>\n", fp);
}

static void members(FILE *fp, const cJSON *g, const char *count_key)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(g, "members"), *m;
    fputs("<ol>", fp);
    cJSON_ArrayForEach(m, all)
        member(fp, m);
    fputs("</ol>", fp);
    double total = num(g, count_key);
    if (isfinite(total) && total > cJSON_GetArraySize(all)) {
        fputs("<p class=\"note\">and ", fp);
        put_int(fp, total - cJSON_GetArraySize(all));
        fputs(" more.</p>", fp);
    }
}

/* A cluster or a story: a heading, the id it is keyed by, its documents. */
static void group(FILE *fp, const cJSON *g, const char *cls, const char *heading,
                  const char *id_key, const char *count_key)
{
    fprintf(fp, "<div class=\"group %s\"><b>", cls);
    esc(fp, heading);
    fprintf(fp, "</b> <span class=\"id\">%s: ", id_key);
    esc(fp, str(g, id_key));
    fputs("</span>", fp);
    members(fp, g, count_key);
    fputs("</div>\n", fp);
}

static void duplicates(FILE *fp, const cJSON *r)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "duplicates"), *c, *k;
    fputs("<section id=\"duplicates\"><h2>Duplicate clusters</h2>\n<p class=\"note\">"
          "Documents marked as duplicates: ",
          fp);
    put_int(fp, num(d, "documents"));
    const char *sep = " (";
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(d, "by_kind"))
    {
        fputs(sep, fp);
        esc(fp, k->string);
        fputs(" ", fp);
        put_int(fp, k->valuedouble);
        fputs(k->next ? "" : ")", fp);
        sep = ", ";
    }
    fputs("; clusters: ", fp);
    put_int(fp, num(d, "clusters_total"));
    fputs(" (by <code>meta.duplicate_of</code>, one for each document kept; duplicates "
          "dropped by an earlier stage do not reach the report).</p>\n",
          fp);
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "clusters"))
    {
        const char *title = str(c, "title");
        group(fp, c, "cluster", title ? title : "(title not seen in this run)", "kept",
              "duplicates");
    }
    fputs("</section>\n", fp);
}

/* "2024-05-01" or "2024-05-01 \u2013 2024-05-03", or nothing when undated. */
static void date_range(FILE *fp, const cJSON *g)
{
    const char *first = str(g, "first_date"), *last = str(g, "last_date");
    if (!first)
        return;
    fputs(" \xC2\xB7 ", fp);
    esc(fp, first);
    if (last && strcmp(last, first) != 0) {
        fputs(" \xE2\x80\x93 ", fp);
        esc(fp, last);
    }
}

static void story(FILE *fp, const cJSON *g)
{
    const cJSON *x;
    fputs("<div class=\"group story\"><b>", fp);
    esc(fp, str(g, "label"));
    fputs("</b> <span class=\"id\">story: ", fp);
    esc(fp, str(g, "story"));
    fputs("</span>\n<p class=\"facts\">", fp);
    double outlets = num(g, "outlets"), docs = num(g, "documents");
    put_int(fp, outlets);
    fputs(outlets == 1 ? " outlet" : " outlets", fp);
    fputs(" \xC2\xB7 ", fp);
    put_int(fp, docs);
    fputs(docs == 1 ? " document" : " documents", fp);
    date_range(fp, g);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "continued")))
        fputs(" \xC2\xB7 <span class=\"tag\">continues an earlier story</span>", fp);
    const char *sep = "<br>";
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(g, "sources"))
    {
        fputs(sep, fp);
        esc(fp, str(x, "source"));
        fputs(" (", fp);
        put_int(fp, num(x, "documents"));
        fputs(")", fp);
        sep = ", ";
    }
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(g, "terms");
    if (cJSON_GetArraySize(terms)) {
        fputs("<br><span class=\"note\">terms: ", fp);
        cJSON_ArrayForEach(x, terms)
        {
            esc(fp, cJSON_IsString(x) ? x->valuestring : "");
            fputs(x->next ? ", " : "", fp);
        }
        fputs("</span>", fp);
    }
    fputs("</p>", fp);
    members(fp, g, "documents");
    fputs("</div>\n", fp);
}

static void stories(FILE *fp, const cJSON *r)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "stories"), *g;
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(st, "stories");
    fputs("<section id=\"stories\"><h2>Stories</h2>\n<p class=\"note\">Stories this run "
          "brought two documents of or more, or continued from an earlier one (by "
          "<code>meta.story</code>), the ones the most outlets carried first: ",
          fp);
    put_int(fp, num(st, "total"));
    fputs(", with ", fp);
    put_int(fp, num(st, "documents"));
    fputs(" documents in all.</p>\n", fp);
    static const char *const names[2] = {"outlets", "documents"};
    chart_of(fp, "chart-stories", "Stories: outlets and documents", all, 20, "label", "outlets",
             "documents", names);
    cJSON_ArrayForEach(g, all)
        story(fp, g);
    fputs("</section>\n", fp);
}

/* The numbers for machines, inside the page. '<', '>' and '&' occur only
 * inside JSON strings, where \uXXXX means the same character, so written
 * that way no "</script>" or "<!--" in a title can end the element. */
static int data(FILE *fp, const cJSON *r)
{
    char *json = cJSON_PrintUnformatted(r);
    if (!json)
        return TM_ENOMEM;
    fputs("<script type=\"application/json\" id=\"data\">", fp);
    for (const char *p = json; *p; p++) {
        if (*p == '<')
            fputs("\\u003c", fp);
        else if (*p == '>')
            fputs("\\u003e", fp);
        else if (*p == '&')
            fputs("\\u0026", fp);
        else
            fputc(*p, fp);
    }
    fputs("</script>\n", fp);
    cJSON_free(json);
    return TM_OK;
}

int report_html(FILE *fp, const cJSON *r)
{
    out_of_memory = false;
    head(fp, r);
    cards(fp, r);
    steps(fp, r);
    counters(fp, r);
    sources(fp, r);
    dates(fp, r);
    entities(fp, r);
    duplicates(fp, r);
    stories(fp, r);
    int rc = data(fp, r) == TM_OK && !out_of_memory ? TM_OK : TM_ENOMEM;
    fputs("<p class=\"note\">Written by ", fp);
    esc(fp, str(r, "generator"));
    fputs(". The same numbers are in the JSON file beside this page and in the "
          "<code>#data</code> element above.</p>\n</main>\n</body>\n</html>\n",
          fp);
    return rc;
}
