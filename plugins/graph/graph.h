/* The graph sink's parts: the co-occurrence tables live in graph.c, the
 * three file formats (and the sniffing of an existing file) in write.c. */
#ifndef TM_PLUGINS_GRAPH_H
#define TM_PLUGINS_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { FMT_AUTO, FMT_GEXF, FMT_GRAPHML, FMT_DOT };

/* One entity: a (type, name) pair. Strings are host memory, valid UTF-8
 * with no character XML 1.0 forbids, so writers only escape them. */
typedef struct gnode {
    char *name;       /* the canonical name, else the covered text */
    const char *type; /* points into the sink's list of types */
    char *id;         /* the first external id seen, or NULL */
    uint64_t hash;
    uint64_t mentions, docs;
    uint64_t last_doc, last_win; /* stamps: counted in this document/window already */
    uint32_t win_mentions;       /* mentions in the current window (for the cap) */
} gnode;

/* An undirected edge between node indices a < b; weight = windows shared. */
typedef struct gedge {
    uint32_t a, b;
    uint64_t weight;
} gedge;

/* What the writers print: nodes[order[i]] is output node i ("n<i>"); the
 * edges' endpoints are output positions, a < b, sorted. */
typedef struct graph_view {
    const gnode *nodes;
    const uint32_t *order;
    size_t n_nodes;
    const gedge *edges;
    size_t n_edges;
    const char *window; /* "document" or "sentence" */
} graph_view;

/* Writes the whole graph to fp in format FMT_GEXF, FMT_GRAPHML or FMT_DOT.
 * Write errors stay in fp's error flag (outfile_finish reports them). */
void graph_write(FILE *fp, int format, const graph_view *g);

/* Does an existing file's head look like a file of that format? (The
 * outfile_sniff callbacks: XML whose root is <gexf> or <graphml>, or DOT
 * text that starts with graph/digraph after comments.) */
bool graph_sniff_gexf(const unsigned char *head, size_t n);
bool graph_sniff_graphml(const unsigned char *head, size_t n);
bool graph_sniff_dot(const unsigned char *head, size_t n);

#endif
