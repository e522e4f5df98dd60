/* The graph sink's file formats: GEXF 1.3, GraphML and Graphviz DOT, and
 * the sniffing that keeps the sink from replacing a file of another kind.
 * Everything is written in one order (the view's), so that the same input
 * gives the same bytes in every run. */
#include "graph.h"

#include <inttypes.h>
#include <string.h>

/* ---- escaping ------------------------------------------------------------------- */

/* Names are clean UTF-8 already (graph.c removes what XML 1.0 forbids).
 * The same escaping serves attribute values and element text: line breaks
 * and tabs become character references because a parser turns literal ones
 * in an attribute into spaces. */
static void put_xml(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\n': fputs("&#10;", fp); break;
        case '\r': fputs("&#13;", fp); break;
        case '\t': fputs("&#9;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

/* A DOT quoted string. Graphviz reads \" and \\ in any string, and \n as
 * a line break in labels; a carriage return would only confuse it. */
static void put_dot(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', fp), fputc(*s, fp);
        else if (*s == '\n')
            fputs("\\n", fp);
        else if (*s != '\r')
            fputc(*s, fp);
    }
    fputc('"', fp);
}

static const gnode *node_at(const graph_view *g, size_t i) { return &g->nodes[g->order[i]]; }

static const char xml_decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/* ---- GEXF 1.3 (Gephi) --------------------------------------------------------- */

static void gexf_attvalue(FILE *fp, const char *key, const char *value)
{
    fprintf(fp, "          <attvalue for=\"%s\" value=\"", key);
    put_xml(fp, value);
    fputs("\"/>\n", fp);
}

static void write_gexf(FILE *fp, const graph_view *g)
{
    fputs(xml_decl, fp);
    fputs("<gexf xmlns=\"http://gexf.net/1.3\" "
          "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
          "xsi:schemaLocation=\"http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd\" "
          "version=\"1.3\">\n",
          fp);
    fprintf(fp,
            "  <meta>\n"
            "    <creator>textmill graph</creator>\n"
            "    <description>Entities that occur in the same %s; an edge's weight is the "
            "number of %ss they share.</description>\n"
            "  </meta>\n",
            g->window, g->window);
    /* entity_id, not id: Gephi's own Id column is the node id. It has a
     * default because GEXF takes an omitted value without one as an error. */
    fputs("  <graph mode=\"static\" defaultedgetype=\"undirected\">\n"
          "    <attributes class=\"node\" mode=\"static\">\n"
          "      <attribute id=\"type\" title=\"type\" type=\"string\"/>\n"
          "      <attribute id=\"entity_id\" title=\"entity_id\" type=\"string\">"
          "<default></default></attribute>\n"
          "      <attribute id=\"mentions\" title=\"mentions\" type=\"long\"/>\n"
          "      <attribute id=\"documents\" title=\"documents\" type=\"long\"/>\n"
          "    </attributes>\n",
          fp);
    fprintf(fp, "    <nodes count=\"%zu\">\n", g->n_nodes);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const gnode *n = node_at(g, i);
        fprintf(fp, "      <node id=\"n%zu\" label=\"", i);
        put_xml(fp, n->name);
        fputs("\">\n        <attvalues>\n", fp);
        gexf_attvalue(fp, "type", n->type);
        if (n->id)
            gexf_attvalue(fp, "entity_id", n->id);
        fprintf(fp,
                "          <attvalue for=\"mentions\" value=\"%" PRIu64 "\"/>\n"
                "          <attvalue for=\"documents\" value=\"%" PRIu64 "\"/>\n"
                "        </attvalues>\n      </node>\n",
                n->mentions, n->docs);
    }
    fprintf(fp, "    </nodes>\n    <edges count=\"%zu\">\n", g->n_edges);
    for (size_t i = 0; i < g->n_edges; i++)
        fprintf(fp, "      <edge id=\"e%zu\" source=\"n%" PRIu32 "\" target=\"n%" PRIu32
                    "\" weight=\"%" PRIu64 "\"/>\n",
                i, g->edges[i].a, g->edges[i].b, g->edges[i].weight);
    fputs("    </edges>\n  </graph>\n</gexf>\n", fp);
}

/* ---- GraphML ------------------------------------------------------------------ */

static void graphml_data(FILE *fp, const char *indent, const char *key, const char *value)
{
    fprintf(fp, "%s<data key=\"%s\">", indent, key);
    put_xml(fp, value);
    fputs("</data>\n", fp);
}

static void write_graphml(FILE *fp, const graph_view *g)
{
    fputs(xml_decl, fp);
    fputs("<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" "
          "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
          "xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns "
          "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n"
          "  <key id=\"window\" for=\"graph\" attr.name=\"window\" attr.type=\"string\"/>\n"
          "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n"
          "  <key id=\"type\" for=\"node\" attr.name=\"type\" attr.type=\"string\"/>\n"
          "  <key id=\"entity_id\" for=\"node\" attr.name=\"entity_id\" attr.type=\"string\"/>\n"
          "  <key id=\"mentions\" for=\"node\" attr.name=\"mentions\" attr.type=\"long\"/>\n"
          "  <key id=\"documents\" for=\"node\" attr.name=\"documents\" attr.type=\"long\"/>\n"
          "  <key id=\"weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"long\"/>\n"
          "  <graph id=\"entities\" edgedefault=\"undirected\">\n",
          fp);
    graphml_data(fp, "    ", "window", g->window);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const gnode *n = node_at(g, i);
        fprintf(fp, "    <node id=\"n%zu\">\n", i);
        graphml_data(fp, "      ", "label", n->name);
        graphml_data(fp, "      ", "type", n->type);
        if (n->id)
            graphml_data(fp, "      ", "entity_id", n->id);
        fprintf(fp,
                "      <data key=\"mentions\">%" PRIu64 "</data>\n"
                "      <data key=\"documents\">%" PRIu64 "</data>\n"
                "    </node>\n",
                n->mentions, n->docs);
    }
    for (size_t i = 0; i < g->n_edges; i++)
        fprintf(fp, "    <edge id=\"e%zu\" source=\"n%" PRIu32 "\" target=\"n%" PRIu32
                    "\"><data key=\"weight\">%" PRIu64 "</data></edge>\n",
                i, g->edges[i].a, g->edges[i].b, g->edges[i].weight);
    fputs("  </graph>\n</graphml>\n", fp);
}

/* ---- Graphviz DOT ------------------------------------------------------------- */

static void write_dot(FILE *fp, const graph_view *g)
{
    /* the comment goes inside the graph: file(1) and other sniffers look
     * for the keyword first */
    fprintf(fp, "graph entities {\n  // textmill graph: entities that occur in the same %s; "
                "weight = %ss shared\n  comment=",
            g->window, g->window);
    put_dot(fp, g->window);
    fputs(";\n", fp);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const gnode *n = node_at(g, i);
        fprintf(fp, "  n%zu [label=", i);
        put_dot(fp, n->name);
        fputs(", type=", fp);
        put_dot(fp, n->type);
        if (n->id) {
            fputs(", entity_id=", fp);
            put_dot(fp, n->id);
        }
        fprintf(fp, ", mentions=%" PRIu64 ", documents=%" PRIu64 "];\n", n->mentions, n->docs);
    }
    for (size_t i = 0; i < g->n_edges; i++)
        fprintf(fp, "  n%" PRIu32 " -- n%" PRIu32 " [weight=%" PRIu64 "];\n", g->edges[i].a,
                g->edges[i].b, g->edges[i].weight);
    fputs("}\n", fp);
}

void graph_write(FILE *fp, int format, const graph_view *g)
{
    if (format == FMT_GEXF)
        write_gexf(fp, g);
    else if (format == FMT_GRAPHML)
        write_graphml(fp, g);
    else
        write_dot(fp, g);
}

/* ---- sniffing an existing file ---------------------------------------------------- */

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Position just past `end` searched from p, or NULL when the head has none. */
static const unsigned char *past(const unsigned char *p, const unsigned char *e, const char *end)
{
    size_t k = strlen(end);
    for (; p + k <= e; p++)
        if (memcmp(p, end, k) == 0)
            return p + k;
    return NULL;
}

static const unsigned char *skip_bom(const unsigned char *p, const unsigned char *e)
{
    return e - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? p + 3 : p;
}

/* XML whose first element is <root ...>: past the declaration, comments,
 * processing instructions and a DOCTYPE (with or without internal subset).
 * A head cut before the root element is refused: the file is not ours. */
static bool xml_root_is(const unsigned char *p, size_t n, const char *root)
{
    const unsigned char *e = p + n;
    p = skip_bom(p, e);
    for (;;) {
        while (p < e && is_space(*p))
            p++;
        if (e - p < 2 || *p != '<')
            return false;
        if (p[1] == '?')
            p = past(p, e, "?>");
        else if (e - p >= 4 && memcmp(p, "<!--", 4) == 0)
            p = past(p, e, "-->");
        else if (p[1] == '!') { /* a DOCTYPE; its internal subset may hold '>' */
            const unsigned char *q = p + 2;
            while (q < e && *q != '>' && *q != '[')
                q++;
            if (q < e && *q == '[')
                q = past(q, e, "]");
            p = q ? past(q, e, ">") : NULL;
        } else
            break;
        if (!p)
            return false;
    }
    size_t k = strlen(root);
    p++;
    return (size_t)(e - p) > k && memcmp(p, root, k) == 0 &&
           (is_space(p[k]) || p[k] == '>' || p[k] == '/');
}

bool graph_sniff_gexf(const unsigned char *head, size_t n) { return xml_root_is(head, n, "gexf"); }

bool graph_sniff_graphml(const unsigned char *head, size_t n)
{
    return xml_root_is(head, n, "graphml");
}

/* Case-insensitive keyword at p, followed by something that ends a word. */
static const unsigned char *keyword(const unsigned char *p, const unsigned char *e, const char *kw)
{
    size_t k = strlen(kw);
    if ((size_t)(e - p) <= k)
        return NULL;
    for (size_t i = 0; i < k; i++)
        if ((p[i] | 0x20) != (unsigned char)kw[i])
            return NULL;
    unsigned char c = p[k];
    return is_space(c) || c == '{' || c == '"' || c == '/' ? p + k : NULL;
}

/* DOT: [strict] (graph|digraph) after blanks and //, # or C comments. */
bool graph_sniff_dot(const unsigned char *p, size_t n)
{
    const unsigned char *e = p + n;
    p = skip_bom(p, e);
    for (;;) {
        while (p < e && is_space(*p))
            p++;
        if (p < e && *p == '#')
            p = past(p, e, "\n");
        else if (e - p >= 2 && p[0] == '/' && p[1] == '/')
            p = past(p, e, "\n");
        else if (e - p >= 2 && p[0] == '/' && p[1] == '*')
            p = past(p + 2, e, "*/");
        else
            break;
        if (!p)
            return false;
    }
    const unsigned char *q = keyword(p, e, "strict");
    if (q)
        for (p = q; p < e && is_space(*p); p++)
            ;
    return keyword(p, e, "graph") || keyword(p, e, "digraph");
}
