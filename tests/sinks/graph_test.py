#!/usr/bin/env python3
"""The graph sink on real pipelines: the sample articles through the entities
stage, and hand-made annotations whose graph is known exactly.

Checks that GEXF and GraphML are well-formed XML (xmllint; against their
schemas only when those are installed locally), that the three formats
hold the same nodes, counts and weights, equal to what this script computes
on its own from the jsonl output of the same run; the window, min_weight,
min_mentions and types options; escaping; deterministic output; and bad
input: a file of another format at the path, a directory, an unknown
extension, a read-only directory, a failing and an interrupted run (the old
file stays, no temporary file is left).

usage: graph_test.py TEXTMILL SOURCE_DIR"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from itertools import combinations

TM, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.dirname(TM)), "tests", "plugins")
work = tempfile.mkdtemp(prefix="tm_graph_")
env = dict(os.environ)
env.setdefault("XDG_CACHE_HOME", os.path.join(work, "cache"))  # not the user's ~/.cache
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()


def check(cond, what, detail=""):
    return tap.check(what, cond, detail)


def skip(what):
    print(f"# SKIP {what}")


# ---- running pipelines ---------------------------------------------------------------

def write_pipeline(name, source, stages, sinks):
    """A pipeline file; JSON is YAML, so no quoting rules to get wrong."""
    path = os.path.join(work, name + ".yaml")
    doc = {"version": 1, "name": name, "source": source, "stages": stages,
           "sinks": [{"use": use, "with": w} for use, w in sinks]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    return path


def run(pipeline, *args, prefix=()):
    p = subprocess.run([*prefix, TM, "run", pipeline, *args], capture_output=True, text=True,
                       env=env, cwd=work)
    return p.returncode, p.stderr


def tmp_files(d):
    return [f for f in os.listdir(d) if re.match(r"^\..*\.tmp\.", f)]


# ---- reading the three formats --------------------------------------------------------
# Each reader returns (nodes, edges, order): nodes maps (type, label) to
# {mentions, documents, entity_id}; edges maps a sorted pair of node keys to
# its weight; order lists the node keys as written.

def graph_of(node_list, edge_list, path):
    nodes, ids, order = {}, {}, []
    for nid, key, attrs in node_list:
        assert nid not in ids, f"{path}: node id {nid} twice"
        assert key not in nodes, f"{path}: node {key} twice"
        ids[nid] = key
        nodes[key] = attrs
        order.append(key)
    edges = {}
    for src, dst, w in edge_list:
        assert src in ids and dst in ids, f"{path}: edge {src}-{dst} to an unknown node"
        assert int(src[1:]) < int(dst[1:]), f"{path}: edge {src}-{dst} not written low-high"
        pair = tuple(sorted((ids[src], ids[dst])))
        assert pair not in edges, f"{path}: edge {pair} twice"
        edges[pair] = w
    return nodes, edges, order


def read_gexf(path):
    ns = {"g": "http://gexf.net/1.3"}
    root = ET.parse(path).getroot()
    assert root.tag == "{http://gexf.net/1.3}gexf", root.tag
    assert root.get("version") == "1.3"
    graph = root.find("g:graph", ns)
    assert graph.get("defaultedgetype") == "undirected"
    declared = {a.get("id"): a.get("type") for a in graph.findall("g:attributes/g:attribute", ns)}
    assert declared == {"type": "string", "entity_id": "string", "mentions": "long",
                        "documents": "long"}, declared
    node_list = []
    nodes_el = graph.find("g:nodes", ns)
    for el in nodes_el.findall("g:node", ns):
        vals = {}
        for av in el.findall("g:attvalues/g:attvalue", ns):
            assert av.get("for") in declared, f"attvalue for undeclared {av.get('for')}"
            vals[av.get("for")] = av.get("value")
        node_list.append((el.get("id"), (vals["type"], el.get("label")),
                          {"mentions": int(vals["mentions"]), "documents": int(vals["documents"]),
                           "entity_id": vals.get("entity_id")}))
    assert int(nodes_el.get("count")) == len(node_list)
    edges_el = graph.find("g:edges", ns)
    edge_list = [(e.get("source"), e.get("target"), int(e.get("weight")))
                 for e in edges_el.findall("g:edge", ns)]
    assert int(edges_el.get("count")) == len(edge_list)
    return graph_of(node_list, edge_list, path)


def read_graphml(path):
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(path).getroot()
    assert root.tag == "{http://graphml.graphdrawing.org/xmlns}graphml", root.tag
    keys = {k.get("id"): (k.get("for"), k.get("attr.type")) for k in root.findall("g:key", ns)}
    graph = root.find("g:graph", ns)
    assert graph.get("edgedefault") == "undirected"

    def data(el, domain):
        out = {}
        for d in el.findall("g:data", ns):
            assert keys.get(d.get("key"), ("",))[0] == domain, f"undeclared key {d.get('key')}"
            out[d.get("key")] = d.text or ""
        return out

    node_list = []
    for el in graph.findall("g:node", ns):
        v = data(el, "node")
        node_list.append((el.get("id"), (v["type"], v["label"]),
                          {"mentions": int(v["mentions"]), "documents": int(v["documents"]),
                           "entity_id": v.get("entity_id")}))
    edge_list = [(e.get("source"), e.get("target"), int(data(e, "edge")["weight"]))
                 for e in graph.findall("g:edge", ns)]
    return graph_of(node_list, edge_list, path)


DOT_STRING = r'"((?:[^"\\]|\\.)*)"'


def dot_unescape(s):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def read_dot(path):
    text = open(path, encoding="utf-8").read()
    assert re.match(r"graph \w+ \{\n", text), "no 'graph NAME {' first"
    assert text.endswith("}\n")
    node_list, edge_list = [], []
    for line in text.splitlines()[1:-1]:
        m = re.fullmatch(r"  (n\d+) -- (n\d+) \[weight=(\d+)\];", line)
        if m:
            edge_list.append((m.group(1), m.group(2), int(m.group(3))))
            continue
        m = re.fullmatch(r"  (n\d+) \[(.*)\];", line)
        if not m:
            continue  # the comment and graph attributes
        attrs = {k: dot_unescape(q) if q is not None and v.startswith('"') else v
                 for k, v, q in ((a.group(1), a.group(2), a.group(3)) for a in
                                 re.finditer(r"(\w+)=(" + DOT_STRING + r"|\d+)", m.group(2)))}
        node_list.append((m.group(1), (attrs["type"], attrs["label"]),
                          {"mentions": int(attrs["mentions"]), "documents": int(attrs["documents"]),
                           "entity_id": attrs.get("entity_id")}))
    return graph_of(node_list, edge_list, path)


READERS = {"gexf": read_gexf, "graphml": read_graphml, "dot": read_dot, "gv": read_dot}


def read_graph(path):
    return READERS[path.rsplit(".", 1)[1]](path)


# ---- what the graph should be, from the jsonl of the same run -------------------------

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(s, collapse):
    s = FORBIDDEN.sub("", s)
    return re.sub(r"[ \t\n\r\v\f\u00a0]+", " ", s).strip(" ") if collapse else s


def expected(jsonl, types=("PER", "ORG", "LOC", "MISC"), min_weight=1, min_mentions=1,
             max_entities=1000):
    nodes, edges = {}, Counter()
    for line in open(jsonl, encoding="utf-8"):
        d = json.loads(line)
        raw = d["text"].encode("utf-8")
        in_doc, here = [], Counter()
        for a in d["annotations"]:
            if a["type"] not in types:
                continue
            name = clean(a.get("canonical") or "", False) or \
                clean(raw[a["start"]:a["end"]].decode("utf-8"), True)
            if not name:
                continue
            key = (a["type"], name)
            n = nodes.setdefault(key, {"mentions": 0, "documents": 0, "entity_id": None})
            n["mentions"] += 1
            if key not in in_doc:
                n["documents"] += 1
                in_doc.append(key)
            here[key] += 1
            if n["entity_id"] is None and a.get("id"):
                n["entity_id"] = a["id"]
        # a crowded document: pairs among its most mentioned, the first seen among equals
        kept = sorted(in_doc, key=lambda k: (-here[k], in_doc.index(k)))[:max_entities]
        for pair in combinations(sorted(kept), 2):  # once per document, not per mention
            edges[pair] += 1
    nodes = {k: v for k, v in nodes.items() if v["mentions"] >= min_mentions}
    edges = {p: w for p, w in edges.items() if w >= min_weight and p[0] in nodes and p[1] in nodes}
    return nodes, edges


def same_graph(path, want, what):
    try:
        nodes, edges, order = read_graph(path)
    except Exception as e:  # a reader's assertion names what is malformed
        return check(False, f"{what}: {os.path.basename(path)} reads back", repr(e))
    wn, we = want
    diff = [f"node {k}: got {nodes.get(k)}, want {wn.get(k)}"
            for k in sorted(set(nodes) | set(wn)) if nodes.get(k) != wn.get(k)]
    diff += [f"edge {p}: got {edges.get(p)}, want {we.get(p)}"
             for p in sorted(set(edges) | set(we)) if edges.get(p) != we.get(p)]
    ok = check(not diff, f"{what}: {os.path.basename(path)} has the {len(wn)} nodes and "
               f"{len(we)} edges expected", "\n".join(diff))
    byte_order = sorted(order, key=lambda k: (k[0].encode(), k[1].encode()))
    check(order == byte_order, f"{what}: {os.path.basename(path)} nodes sorted by type, label")
    return ok


# ---- validators ---------------------------------------------------------------------

def find_schema(names):
    for d in ("/usr/share/xml", "/usr/local/share/xml", "/usr/share/sgml"):
        for dirpath, _, files in os.walk(d):
            for n in names:
                if n in files:
                    return os.path.join(dirpath, n)
    return None


SCHEMAS = {"gexf": find_schema(["gexf.xsd"]), "graphml": find_schema(["graphml.xsd"])}
HAVE_XMLLINT = shutil.which("xmllint") is not None
HAVE_DOT = shutil.which("dot") is not None


def validate(path, what):
    ext = path.rsplit(".", 1)[1]
    data = open(path, "rb").read()
    try:
        data.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    check(utf8, f"{what}: {os.path.basename(path)} is valid UTF-8")
    if ext in ("gexf", "graphml"):
        if HAVE_XMLLINT:
            cmd = ["xmllint", "--noout"]
            if SCHEMAS[ext]:
                cmd += ["--schema", SCHEMAS[ext]]
            p = subprocess.run(cmd + [path], capture_output=True, text=True)
            check(p.returncode == 0, f"{what}: xmllint {'--schema ' if SCHEMAS[ext] else ''}"
                  f"accepts {os.path.basename(path)}", p.stderr)
        else:
            check(False, "xmllint is installed (Debian: libxml2-utils)")
    elif HAVE_DOT:
        p = subprocess.run(["dot", "-Tplain", path], capture_output=True, text=True)
        check(p.returncode == 0 and not p.stderr, f"{what}: graphviz dot reads "
              f"{os.path.basename(path)}", p.stderr)


# ---- 1. the sample articles through the entities stage --------------------------------

print("# the sample articles: files -> split, cleanup, metadata, entities -> graph")
if not HAVE_XMLLINT:
    print("# xmllint missing: install libxml2-utils")
for ext in ("gexf", "graphml"):
    if not SCHEMAS[ext]:
        skip(f"no {ext}.xsd installed locally: {ext.upper()} checked as well-formed XML and by "
             "its structure here, not against the schema")
if not HAVE_DOT:
    skip("graphviz (dot) is not installed: DOT checked by this script's reader only")

seeds = {"use": "files", "with": {"paths": [os.path.join(SRC, "seeds", "*.txt")]}}
stages = [{"use": "split"}, {"use": "cleanup"}, {"use": "metadata"}, {"use": "entities"}]
out = os.path.join(work, "seeds")
p = write_pipeline("seeds", seeds, stages, [
    ("jsonl", {"path": f"{out}/articles.jsonl"}),
    ("graph", {"path": f"{out}/doc.gexf"}),
    ("graph", {"path": f"{out}/doc.graphml"}),
    ("graph", {"path": f"{out}/doc.dot"}),
    ("graph", {"path": f"{out}/sentence.gexf", "window": "sentence"}),
    ("graph", {"path": f"{out}/sentence.graphml", "window": "sentence"}),
    ("graph", {"path": f"{out}/sentence.gv", "window": "sentence"}),
    ("graph", {"path": f"{out}/min2.gexf", "min_weight": 2}),
    ("graph", {"path": f"{out}/people-places.graphml", "types": ["PER", "LOC"]}),
    ("graph", {"path": f"{out}/frequent.dot", "min_mentions": 3, "min_weight": 2}),
    ("graph", {"path": f"{out}/as-graphml.xml", "format": "graphml"}),
])
rc, err = run(p)
if not check(rc == 0, "the sample pipeline runs (exit 0)", err):
    sys.exit(1)
jsonl = f"{out}/articles.jsonl"
want = expected(jsonl)
for f in ("doc.gexf", "doc.graphml", "doc.dot"):
    validate(f"{out}/{f}", "seeds")
    same_graph(f"{out}/{f}", want, "seeds, document window")
print(f"# seeds: {len(want[0])} nodes, {len(want[1])} edges (document window)")
check(len(want[0]) > 50 and len(want[1]) > 500, "the sample graph is not trivially small")

sent = [read_graph(f"{out}/sentence.{e}") for e in ("gexf", "graphml", "gv")]
for f in ("sentence.gexf", "sentence.graphml", "sentence.gv"):
    validate(f"{out}/{f}", "seeds")
check(sent[0][:2] == sent[1][:2] == sent[2][:2], "sentence window: the three formats agree")
s_nodes, s_edges, _ = sent[0]
check(s_nodes == want[0], "sentence window: the same nodes as the document window")
check(set(s_edges) <= set(want[1]) and len(s_edges) < len(want[1]),
      f"sentence window: {len(s_edges)} edges, a strict subset of the document window's")
print(f"# seeds: {len(s_edges)} edges (sentence window)")

same_graph(f"{out}/min2.gexf", expected(jsonl, min_weight=2), "min_weight: 2")
same_graph(f"{out}/people-places.graphml", expected(jsonl, types=("PER", "LOC")),
           "types: [PER, LOC]")
same_graph(f"{out}/frequent.dot", expected(jsonl, min_mentions=3, min_weight=2),
           "min_mentions: 3, min_weight: 2")
check(open(f"{out}/as-graphml.xml", "rb").read() == open(f"{out}/doc.graphml", "rb").read(),
      "format: graphml writes GraphML whatever the extension")
check(not tmp_files(out), "no temporary file left")

before = {f: open(f"{out}/{f}", "rb").read() for f in os.listdir(out)}
rc, err = run(p)
check(rc == 0, "a second run replaces its own graph files (exit 0)", err)
check(all(open(f"{out}/{f}", "rb").read() == b for f, b in before.items()),
      "the second run writes the same bytes (deterministic)")

# ---- 2. hand-made annotations: the graph is known exactly -------------------------------

print("# hand-made annotations through the jsonl source")
ORG_NAME = 'Smith & "Sons" <Ltd>\nline two \\ back'


def doc(did, text, anns):
    raw = text.encode("utf-8")
    out_anns, used = [], {}
    for phrase, typ, *rest in anns:
        b = phrase.encode("utf-8")
        start = raw.find(b, used.get(phrase, 0))
        assert start >= 0, (did, phrase)
        used[phrase] = start + len(b)
        a = {"start": start, "end": start + len(b), "type": typ}
        if rest and rest[0] is not None:
            a["canonical"] = rest[0]
        if len(rest) > 1:
            a["id"] = rest[1]
        out_anns.append(a)
    return {"id": did, "text": text, "annotations": out_anns}


DOCS = [
    doc("d1", "Alice met Bob in Paris. Then Carol arrived.\n\nBob left with Dave.",
        [("Alice", "PER", "Alice Smith"), ("Bob", "PER"), ("Paris", "LOC", "Paris", "geonames:2988507"),
         ("Then", "DATE", "then"), ("Carol", "PER", "Carol"), ("Bob", "PER"), ("Dave", "PER", "Dave")]),
    doc("d2", "Mr. Bob and Alice visited the U.S. Army base near New\n  York. Paris is far\u2026 "
        "Carol knew it.",
        [("Bob", "PER"), ("Alice", "PER", "Alice Smith"), ("U.S. Army", "ORG", "United States Army"),
         ("New\n  York", "LOC"), ("Paris", "LOC", "Paris", "geonames:0"), ("Carol", "PER", "Carol")]),
    doc("d3", '"Carol left." Dave stayed. Then 3.5 percent of Smith & "Sons" agreed.',
        [("Carol", "PER"), ("Dave", "PER"), ('Smith & "Sons"', "ORG", ORG_NAME)]),
    doc("d4", "\u00dcnal met \u00c9mile in Z\u00fcrich.\n\u2022 Bob went home.\n\u2022 Carol too. "
        "\u00c9lodie came.",
        [("\u00dcnal", "PER"), ("\u00c9mile", "PER"), ("Z\u00fcrich", "LOC"), ("Bob", "PER"),
         ("Carol", "PER"), ("\u00c9lodie", "PER")]),
    doc("d5", "X met Y.", [("X", "PER", "Bad\u0001Name\uffff"), ("Y", "PER", "")]),
    doc("d6", "Nothing here.", []),
    doc("d7", "Hello  world.", [("  ", "PER")]),  # only blanks: no name, left out
]
hand = os.path.join(work, "hand")
os.makedirs(hand)
with open(f"{hand}/in.jsonl", "w", encoding="utf-8") as f:
    for d in DOCS:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")
src = {"use": "jsonl", "with": {"paths": [f"{hand}/in.jsonl"]}}
p = write_pipeline("hand", src, [], [
    ("jsonl", {"path": f"{hand}/out.jsonl"}),
    *[("graph", {"path": f"{hand}/doc.{e}"}) for e in ("gexf", "graphml", "dot")],
    *[("graph", {"path": f"{hand}/sentence.{e}", "window": "sentence"})
      for e in ("gexf", "graphml", "dot")],
])
rc, err = run(p, "--stats")
check(rc == 0, "the hand-made pipeline runs (exit 0)", err)
check(re.search(r"nameless_mentions\s+1\b", err), "a mention with no name is counted, not a node",
      err)

P, O, L = (lambda n: ("PER", n)), (lambda n: ("ORG", n)), (lambda n: ("LOC", n))
want = expected(f"{hand}/out.jsonl")
nodes = want[0]
check(nodes[P("Bob")] == {"mentions": 4, "documents": 3, "entity_id": None},
      "Bob: 4 mentions in 3 documents (the covered text names him)", nodes.get(P("Bob")))
check(nodes[L("Paris")]["entity_id"] == "geonames:2988507", "Paris keeps the first id seen")
check(L("New York") in nodes, "a covered text broken over lines is one name")
check(P("BadName") in nodes and P("Y") in nodes,
      "control characters and U+FFFF are left out; an empty canonical falls back to the text")
check(O(ORG_NAME) in nodes and P("then") not in nodes and ("DATE", "then") not in nodes,
      "types outside the list are ignored")
check(want[1][(P("Alice Smith"), P("Bob"))] == 2, "Alice Smith - Bob: weight 2 (two documents, "
      "counted once per document although Bob is mentioned twice in d1)")
for e in ("gexf", "graphml", "dot"):
    validate(f"{hand}/doc.{e}", "hand-made")
    same_graph(f"{hand}/doc.{e}", want, "hand-made, document window")

# sentences, by hand: d1 [Alice, Bob, Paris] [Carol] [Bob, Dave]; d2 "Mr." and "U.S." end
# no sentence, an ellipsis does: [Bob, Alice, US Army, New York] [Paris] [Carol]; d3 ends
# after a closing quote, not in "3.5": [Carol] [Dave] [ORG]; d4 a full stop before a line
# break and before a capital with an accent: [Ünal, Émile, Zürich] [Bob] [Carol] [Élodie];
# d5 [BadName, Y].
SENTENCES = [
    [P("Alice Smith"), P("Bob"), L("Paris")], [P("Bob"), P("Dave")],
    [P("Bob"), P("Alice Smith"), O("United States Army"), L("New York")],
    [P("\u00dcnal"), P("\u00c9mile"), L("Z\u00fcrich")], [P("BadName"), P("Y")],
]
s_edges = Counter(p for s in SENTENCES for p in combinations(sorted(s), 2))
for e in ("gexf", "graphml", "dot"):
    validate(f"{hand}/sentence.{e}", "hand-made")
    same_graph(f"{hand}/sentence.{e}", (nodes, dict(s_edges)), "hand-made, sentence window")

p = write_pipeline("hand-cap", src, [], [("graph", {"path": f"{hand}/cap.gexf", "max_entities": 3})])
rc, err = run(p, "--stats")
check(rc == 0 and re.search(r"windows_capped\s+3\b", err) and "max_entities" in err,
      "max_entities: 3 caps three documents, with a warning", err)
capped = expected(f"{hand}/out.jsonl", max_entities=3)
check(len(capped[1]) < len(want[1]), f"max_entities: 3 leaves {len(capped[1])} of "
      f"{len(want[1])} edges")
same_graph(f"{hand}/cap.gexf", capped, "max_entities: 3")

gexf = open(f"{hand}/doc.gexf", encoding="utf-8").read()
dot = open(f"{hand}/doc.dot", encoding="utf-8").read()
check('label="Smith &amp; &quot;Sons&quot; &lt;Ltd&gt;&#10;line two \\ back"' in gexf,
      "GEXF: &, \", <, > and a line break escaped in an attribute")
check('label="Smith & \\"Sons\\" <Ltd>\\nline two \\\\ back"' in dot,
      "DOT: quotes, backslashes and line breaks escaped")
check("\x01" not in gexf and "\uffff" not in gexf, "no character XML 1.0 forbids")

# ---- 3. bad input ----------------------------------------------------------------------

print("# bad input")
bad = os.path.join(work, "bad")
os.makedirs(bad)


def one_sink(name, path, **opts):
    return write_pipeline(name, src, [], [("graph", {"path": path, **opts})])


def refused(name, path, code, message, what, **opts):
    rc, err = run(one_sink(name, path, **opts))
    check(rc == code and message in err, f"{what}: exit {code}, '{message}'",
          f"exit {rc}\n{err}")


for ext, content, what in (("gexf", "id,name\n1,Alice\n", "CSV text"),
                           ("gexf", open(f"{hand}/doc.graphml").read(), "a GraphML file"),
                           ("graphml", open(f"{hand}/doc.gexf").read(), "a GEXF file"),
                           ("dot", '{"id": "d1"}\n', "JSON"),
                           ("gexf", "<?xml version=\"1.0\"?>\n<html><body/></html>\n", "XHTML")):
    target = f"{bad}/existing.{ext}"
    with open(target, "w") as f:
        f.write(content)
    fmt = {"gexf": "GEXF", "graphml": "GraphML", "dot": "DOT"}[ext]
    refused("existing", target, 2, f"exists and is not a {fmt} file",
            f"{what} at a .{ext} path is refused")
    check(open(target).read() == content, f"{what} at the .{ext} path is unchanged")
    os.unlink(target)

for ext in ("gexf", "dot"):  # an empty file, and one with comments before the root
    target = f"{bad}/ok.{ext}"
    open(target, "w").close()
    rc, err = run(one_sink("empty", target))
    check(rc == 0 and os.path.getsize(target) > 0, f"an empty .{ext} file is replaced", err)
with open(f"{bad}/commented.dot", "w") as f:
    f.write("/* made by hand */\n// more\nstrict Graph g { a -- b }\n")
rc, err = run(one_sink("commented", f"{bad}/commented.dot"))
check(rc == 0, "a DOT file with comments and 'strict' before the keyword is replaced", err)
with open(f"{bad}/doctype.graphml", "w") as f:
    f.write('<?xml version="1.0"?>\n<!-- x -->\n<!DOCTYPE graphml [<!ENTITY a "b">]>\n'
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"/>\n')
rc, err = run(one_sink("doctype", f"{bad}/doctype.graphml"))
check(rc == 0, "a GraphML file with a comment and a DOCTYPE before the root is replaced", err)

os.makedirs(f"{bad}/dir.gexf")
refused("dir", f"{bad}/dir.gexf", 2, "is a directory", "a directory at the path")
refused("slash", f"{bad}/sub/", 2, "names a directory", "a path ending in /", format="gexf")
refused("ext", f"{bad}/graph.json", 2, "set format: gexf, graphml or dot",
        "an unknown extension with format: auto")
check(not os.path.exists(f"{bad}/graph.json"), "nothing written for the unknown extension")
refused("fmt", f"{bad}/g.gexf", 2, "gexf", "format: svg is refused by the option table",
        format="svg")
refused("types", f"{bad}/g.gexf", 2, "'PER ORG' is not a type name", "types: 'PER ORG'",
        types="PER ORG")
refused("weight", f"{bad}/g.gexf", 2, "min_weight", "min_weight: 0", min_weight=0)
check(not os.path.exists(f"{bad}/g.gexf"), "nothing written by refused pipelines")

# a read-only directory; root ignores permissions, so run as nobody then
ro = os.path.join(work, "ro")
os.makedirs(ro)
keep = open(f"{hand}/doc.gexf", "rb").read()
with open(f"{ro}/graph.gexf", "wb") as f:
    f.write(keep)
prefix = ()
if os.geteuid() == 0:
    setpriv = shutil.which("setpriv")
    prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups") if setpriv else None
if prefix and subprocess.run([*prefix, TM, "plugins", "graph"], capture_output=True).returncode:
    prefix = None  # e.g. a build tree under /root, which nobody cannot reach
    skip("read-only directory: user nobody cannot run this textmill and its plugins")
elif prefix is None:
    skip("read-only directory: running as root without setpriv")
if prefix is not None:
    os.chmod(work, 0o755)  # mkdtemp's 0700 would keep nobody from the pipeline and input
    os.chmod(ro, 0o555)
    p = one_sink("ro", f"{ro}/graph.gexf")
    rc, err = run(p, prefix=prefix)
    check(rc == 2 and "cannot write in the directory" in err,
          "a read-only directory: exit 2, 'cannot write in the directory'", f"exit {rc}\n{err}")
    check(open(f"{ro}/graph.gexf", "rb").read() == keep and not tmp_files(ro),
          "the read-only directory is unchanged")
    os.chmod(ro, 0o755)

# a stage that fails mid-run: the old graph stays, no temporary file
fails = os.path.join(TEST_PLUGINS, "process_fails.so")
old = os.path.join(work, "old")
os.makedirs(old)
with open(f"{old}/graph.gexf", "wb") as f:
    f.write(keep)
if os.path.exists(fails):
    p = write_pipeline("fails", src, [{"use": fails}], [("graph", {"path": f"{old}/graph.gexf"})])
    rc, err = run(p)
    check(rc == 4, "a stage failure: exit 4", f"exit {rc}\n{err}")
    check(open(f"{old}/graph.gexf", "rb").read() == keep, "the old graph is untouched")
    check(not tmp_files(old), "no temporary file left after the failure")
else:
    check(False, f"the test plugin {fails} is built")

# interrupted runs: a large input, stopped while it is read
big = os.path.join(work, "big.jsonl")
with open(big, "w", encoding="utf-8") as f:
    for i in range(200000):
        f.write(json.dumps(doc(f"b{i}", f"P{i % 97} met O{i % 89} and L{i % 83}.",
                               [(f"P{i % 97}", "PER"), (f"O{i % 89}", "ORG"),
                                (f"L{i % 83}", "LOC")])) + "\n")
p = write_pipeline("big", {"use": "jsonl", "with": {"paths": [big]}}, [],
                   [("graph", {"path": f"{old}/graph.gexf"})])
for sig, code in ((signal.SIGTERM, 7), (signal.SIGKILL, -signal.SIGKILL)):
    proc = subprocess.Popen([TM, "run", p], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, cwd=work)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate()
    name = signal.Signals(sig).name
    if proc.returncode == 0:
        skip(f"{name}: the run finished in under 0.3 s, nothing to interrupt")
        with open(f"{old}/graph.gexf", "wb") as f:
            f.write(keep)
        continue
    check(proc.returncode == code, f"{name} mid-run: exit {code}", f"exit {proc.returncode}\n"
          + err.decode(errors="replace"))
    check(open(f"{old}/graph.gexf", "rb").read() == keep, f"{name}: the old graph is untouched")
    if sig == signal.SIGTERM:
        check(not tmp_files(old), f"{name}: no temporary file left")
rc, err = run(p)
check(rc == 0, "the large input runs to the end", err)
nodes, edges, _ = read_gexf(f"{old}/graph.gexf")
check(len(nodes) == 97 + 89 + 83 and len(edges) == 97 * 89 + 97 * 83 + 89 * 83
      and sum(edges.values()) == 3 * 200000,
      f"the large input: {len(nodes)} nodes, {len(edges)} edges, weights summing to 600000")

# no entity annotations at all: a valid, empty graph and a warning
p = write_pipeline("none", seeds, [], [("graph", {"path": f"{bad}/none.graphml"})])
rc, err = run(p)
check(rc == 0 and "the graph is empty" in err, "no entities: exit 0 and a warning", err)
validate(f"{bad}/none.graphml", "no entities")
check(read_graphml(f"{bad}/none.graphml")[:2] == ({}, {}), "no entities: an empty graph")

tap.finish(f" (work directory kept: {work})")
shutil.rmtree(work, ignore_errors=True)
