#!/usr/bin/env python3
"""The csv sink, end to end: real pipelines write CSV, Python's csv module
reads it back, and every cell must come back exactly (ids, metadata of every
type, texts with commas, quotes, CR, LF, CRLF, NUL and Unicode, the flattened
entities). The bytes are also compared with a small reference writer of the
rules in plugins/csv/README.md (CRLF, when a cell is quoted), so that the
file is right for readers less forgiving than Python's.

Then the failures: a file of another format at the path, the path a
directory, a read-only directory, a failing stage, a killed and an
interrupted run. Each must exit with its documented code, name the problem,
leave an older CSV byte for byte as it was and leave no temporary file
(except after SIGKILL, which nothing can clean up after: then only a
`.NAME.tmp.*` beside it).

    csv_test.py TEXTMILL SOURCE_DIR
"""
import atexit
import csv
import glob
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

TM, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# the deliberately broken plugins of tests/CMakeLists.txt, beside bin/
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.dirname(TM)), "tests", "plugins")
DEFAULT_COLUMNS = ["id", "title", "date", "author", "source", "url", "entities", "text"]
DEFAULT_TYPES = ["PER", "ORG", "LOC", "MISC"]

work = tempfile.mkdtemp(prefix="tm_csv_test_")
# also after an exception (which fails the test with its traceback)
atexit.register(shutil.rmtree, work, ignore_errors=True)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()
check = tap.check


def run(yaml_text, *args, name="p.yaml", user=None):
    """Writes the pipeline and runs `textmill run` (or args[0] as command)."""
    path = os.path.join(work, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(yaml_text)
    cmd = [TM] + (list(args) if args else ["run"]) + [path]
    if args and args[0] == "check":
        cmd = [TM, "check", path] + list(args[1:])
    if user:
        cmd = user + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stderr


def q(s):
    return json.dumps(s)  # a YAML flow scalar that holds any path


def pipeline(source, sinks, stages="[]", extra=""):
    return f"version: 1\nsource: {source}\nstages: {stages}\nsinks: {sinks}\n{extra}"


def jsonl_source(path):
    return f"{{use: jsonl, with: {{paths: [{q(path)}]}}}}"


def csv_sink(path, **opts):
    with_ = ", ".join([f"path: {q(path)}"] + [f"{k}: {json.dumps(v)}" for k, v in opts.items()])
    return f"{{use: csv, with: {{{with_}}}}}"


def read_csv(path, delimiter=",", encoding="utf-8"):
    # newline="" keeps CR and LF inside quoted cells as they were
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter, strict=True))


def temporaries(d):
    return sorted(glob.glob(os.path.join(d, ".*.tmp.*")))


def encode(rows, delim=","):
    """The reference writer: the rules the README states."""
    out = io.StringIO()
    for row in rows:
        cells = []
        for c in row:
            c = c.replace("\0", "")
            quote = (any(ch in c for ch in (delim, '"', "\r", "\n"))
                     or (c and (c[0] in " \t" or c[-1] in " \t"))
                     or (c == "" and len(row) == 1))
            c = c.replace('"', '""')
            cells.append(f'"{c}"' if quote else c)
        out.write(delim.join(cells) + "\r\n")
    return out.getvalue().encode("utf-8")


def flatten(text, annotations, types=DEFAULT_TYPES, sep="; "):
    """The entities cell: distinct `Canonical (TYPE)` in order of first
    appearance, the covered text when there is no canonical name."""
    raw = text.encode("utf-8")
    items = []
    for a in annotations:
        if "*" not in types and a["type"] not in types:
            continue
        name = a.get("canonical") or raw[a["start"]:a["end"]].decode("utf-8")
        name = re.sub(r"[ \t\r\n]+", " ", name).strip(" \t\r\n")
        item = f"{name} ({a['type']})"
        if item not in items:
            items.append(item)
    return sep.join(items)


def meta_cell(v):
    if v is None:
        return ""
    assert isinstance(v, str), v
    return v


# ============================================================ the sample articles
print("== the sample articles: files -> split, cleanup, metadata, entities -> csv + jsonl")
out_csv = os.path.join(work, "seeds", "deep", "articles.csv")  # parents are created
out_jsonl = os.path.join(work, "seeds", "articles.jsonl")
rc, err = run(pipeline(f"{{use: files, with: {{paths: [{q(SRC + '/seeds/*.txt')}]}}}}",
                       f"[{csv_sink(out_csv)}, {{use: jsonl, with: {{path: {q(out_jsonl)}}}}}]",
                       "[{use: split}, {use: cleanup}, {use: metadata}, {use: entities}]"))
check("the run succeeds (exit 0)", rc == 0, err)
docs = [json.loads(line) for line in open(out_jsonl, encoding="utf-8")] if rc == 0 else []
rows = read_csv(out_csv) if rc == 0 else [[]]
check("header row is the default columns", rows[0] == DEFAULT_COLUMNS, rows[0])
check(f"one row per document ({len(docs)}, more than the 5 files: split ran)",
      len(rows) - 1 == len(docs) and len(docs) > 5, f"{len(rows) - 1} rows, {len(docs)} documents")
expected = [DEFAULT_COLUMNS]
for d in docs:
    m = d["meta"]
    expected.append([d["id"], meta_cell(m["title"]), meta_cell(m["date"]), meta_cell(m["author"]),
                     meta_cell(m["source"]), meta_cell(m["url"]),
                     flatten(d["text"], d["annotations"]), d["text"]])
bad = [(e[0], i) for e, r in zip(expected, rows) for i in range(len(e)) if len(r) != len(e) or e[i] != r[i]]
check("every cell reads back as the JSONL sink wrote it (id, metadata, entities, text)",
      rows == expected, f"differing (row id, column): {bad[:10]}")
n_ent = sum(1 for r in rows[1:] if r[6])
check(f"entities flattened in {n_ent} rows, e.g. '{rows[1][6][:60]}...'" if len(rows) > 1 else "entities",
      n_ent >= 5 and all(re.fullmatch(r"[^;]+ \((PER|ORG|LOC|MISC)\)(; [^;]+ \((PER|ORG|LOC|MISC)\))*", r[6])
                         for r in rows[1:] if r[6]), [r[6][:200] for r in rows[1:4]])
check("titles came through (metadata ran)", sum(1 for r in rows[1:] if r[1]) >= 5, [r[1] for r in rows])
raw = open(out_csv, "rb").read() if rc == 0 else b""
check("bytes equal the reference writer (CRLF row ends, quoting)", raw == encode(expected),
      f"{raw[:300]!r}\nvs\n{encode(expected)[:300]!r}")
check("the file starts with the header, no BOM", raw.startswith(b"id,title,"))
check("no temporary file left", not temporaries(os.path.dirname(out_csv)), temporaries(os.path.dirname(out_csv)))
check("mode 0644 (an ordinary file, not mkstemp's 0600)",
      rc == 0 and stat.S_IMODE(os.stat(out_csv).st_mode) == 0o644, oct(os.stat(out_csv).st_mode) if rc == 0 else "")

# ============================================================ hand-written tricky documents
print("\n== tricky documents through the jsonl source")
ent_text = "Ankara and NATO met in Ankara; nato agreed with New\nYork, and Foo."


def span(text, sub, nth=0):
    b, s = text.encode("utf-8"), sub.encode("utf-8")
    i = -1
    for _ in range(nth + 1):
        i = b.index(s, i + 1)
    return i, i + len(s)


def ann(text, sub, typ, canonical=None, nth=0):
    s, e = span(text, sub, nth)
    a = {"start": s, "end": e, "type": typ}
    if canonical is not None:
        a["canonical"] = canonical
    return a


tricky = [
    {"id": "c,1", "text": 'He said "hi", then left.',
     "meta": {"title": 'A "quoted", title', "n": 42, "float": 1.5, "flag": True, "nothing": None,
              "obj": {"a": [1, 2], "b": "x,y"}, "arr": [1, "two"], "text": "meta's own text"}},
    {"id": "crlf", "text": "line1\r\nline2\rline3\nline4\r\n", "meta": {"title": "multi\nline"}},
    {"id": "empty", "text": "", "meta": {"title": ""}},
    {"id": "unicode", "text": "Zoë 🎉 日本語 e\u0301 — «ok»", "meta": {"title": "Ελληνικά"}},
    {"id": "nul", "text": "a\u0000b\u0000", "meta": {"title": "tt"}},
    {"id": "padded", "text": "  padded\t", "meta": {"title": " x"}},
    {"id": "quote", "text": '"', "meta": {"title": '""'}},
    {"id": "semi;colon", "text": "a;b\tc|d", "meta": {}},
    {"id": "ents", "text": ent_text, "meta": {"title": "entities"},
     # in text order, as the host keeps annotations
     "annotations": [
         ann(ent_text, "Ankara", "LOC", "Ankara"),
         ann(ent_text, "NATO", "ORG", "North Atlantic Treaty Organization"),
         ann(ent_text, "Ankara", "LOC", "Ankara", nth=1),      # the same again: once
         ann(ent_text, "Ankara", "ORG", "Ankara", nth=1),      # same name, other type: kept
         ann(ent_text, "nato", "ORG"),                         # no canonical: the text
         ann(ent_text, "agreed", "DUPLICATE_PARAGRAPH", "x"),  # not an entity type
         ann(ent_text, "New\nYork", "LOC"),                    # a line break becomes a space
         ann(ent_text, "Foo", "MISC", "Foo, Bar \"Baz\""),     # delimiter and quotes inside
     ]},
]
in_jsonl = os.path.join(work, "tricky.jsonl")
with open(in_jsonl, "w", encoding="utf-8") as f:
    for d in tricky:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")
cols = ["id", "title", "meta.text", "n", "float", "flag", "nothing", "missing", "obj", "arr",
        "entities", "text"]
ents = ("Ankara (LOC); North Atlantic Treaty Organization (ORG); Ankara (ORG); nato (ORG); "
        'New York (LOC); Foo, Bar "Baz" (MISC)')
want = [cols,
        ["c,1", 'A "quoted", title', "meta's own text", "42", "1.5", "true", "", "",
         '{"a":[1,2],"b":"x,y"}', '[1,"two"]', "", 'He said "hi", then left.'],
        ["crlf", "multi\nline", "", "", "", "", "", "", "", "", "", "line1\r\nline2\rline3\nline4\r\n"],
        ["empty", "", "", "", "", "", "", "", "", "", "", ""],
        ["unicode", "Ελληνικά", "", "", "", "", "", "", "", "", "", "Zoë 🎉 日本語 e\u0301 — «ok»"],
        ["nul", "tt", "", "", "", "", "", "", "", "", "", "ab"],
        ["padded", " x", "", "", "", "", "", "", "", "", "", "  padded\t"],
        ["quote", '""', "", "", "", "", "", "", "", "", "", '"'],
        ["semi;colon", "", "", "", "", "", "", "", "", "", "", "a;b\tc|d"],
        ["ents", "entities", "", "", "", "", "", "", "", "", ents, ent_text]]
# the flattening in this test agrees with the hand-written expectation
check("the test's own flatten() agrees with the expected entities cell",
      flatten(ent_text, tricky[-1]["annotations"]) == ents, flatten(ent_text, tricky[-1]["annotations"]))

out = os.path.join(work, "tricky", "out.csv")
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(out, columns=cols)}]"), "run", "--stats")
check("the run succeeds (exit 0)", rc == 0, err)
rows = read_csv(out) if rc == 0 else []
check(f"{len(want) - 1} rows and the header", len(rows) == len(want), len(rows))
for w, r in zip(want, rows):
    check(f"row {w[0]!r} reads back exactly", w == r, f"want {w!r}\ngot  {r!r}")
check("bytes equal the reference writer", rc == 0 and open(out, "rb").read() == encode(want),
      open(out, "rb").read()[:400] if rc == 0 else "")
check("NUL bytes counted (nul_dropped 2)", re.search(r"nul_dropped\s+2\b", err), err)
raw = open(out, "rb").read() if rc == 0 else b""
check("a text's CRLF and lone CR are inside a quoted cell, the row ends in CRLF",
      b'"line1\r\nline2\rline3\nline4\r\n"\r\n' in raw, raw[:200])
check("JSON metadata is compact JSON, quoted for its comma", b'"{""a"":[1,2],""b"":""x,y""}"' in raw)

# delimiter ';' with a BOM, another separator and every annotation type
out2 = os.path.join(work, "tricky", "semi.csv")
semi = csv_sink(out2, columns=["id", "entities", "text"], delimiter=";", bom=True, separator=" | ",
                types=["*"])
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{semi}]"))
check("delimiter ';', bom, separator ' | ', types ['*'] (exit 0)", rc == 0, err)
raw = open(out2, "rb").read() if rc == 0 else b""
check("the file starts with the UTF-8 BOM", raw.startswith(b"\xef\xbb\xbfid;entities;text\r\n"), raw[:40])
rows = read_csv(out2, delimiter=";", encoding="utf-8-sig") if rc == 0 else []
want2 = [["id", "entities", "text"]] + [
    [d["id"], flatten(d["text"], d.get("annotations", []), ["*"], " | "), d["text"].replace("\0", "")]
    for d in tricky]
check("';' rows read back exactly (ids with ';' quoted, DUPLICATE_PARAGRAPH listed)",
      rows == want2 and "x (DUPLICATE_PARAGRAPH)" in rows[-1][1], f"{rows}\n{want2}")
check("';' bytes equal the reference writer", raw == b"\xef\xbb\xbf" + encode(want2, ";"))
check("a ',' needs no quotes with ';' as delimiter", b"\r\nc,1;;" in raw, raw[:100])

for spelled in ["tab", "\t"]:
    out3 = os.path.join(work, "tricky", "tab.tsv")
    rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(out3, columns=['id', 'text'], delimiter=spelled)}]"))
    rows = read_csv(out3, delimiter="\t") if rc == 0 else []
    want3 = [["id", "text"]] + [[d["id"], d["text"].replace("\0", "")] for d in tricky]
    check(f"tab delimiter spelled {spelled!r}: rows read back exactly", rc == 0 and rows == want3, err or rows)
    check(f"tab delimiter spelled {spelled!r}: bytes equal the reference writer",
          rc == 0 and open(out3, "rb").read() == encode(want3, "\t"))

# one column: an empty cell is "" so that the row is not a blank line
out4 = os.path.join(work, "tricky", "one.csv")
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(out4, columns=['missing'])}]"))
raw = open(out4, "rb").read() if rc == 0 else b""
check("one empty column: every row is \"\" (no blank lines)", raw == b'missing\r\n' + b'""\r\n' * len(tricky), raw[:80])
check("one empty column: the reader sees every row", rc == 0 and read_csv(out4) == [["missing"]] + [[""]] * len(tricky))

# meta.KEY reaches keys named like the document's own fields
in_named = os.path.join(work, "named.jsonl")
with open(in_named, "w", encoding="utf-8") as f:
    f.write(json.dumps({"id": "n1", "text": "body", "meta": {"text": "m-text", "entities": "m-ents"}}) + "\n")
out5 = os.path.join(work, "named.csv")
named_cols = ["text", "meta.text", "entities", "meta.entities", "meta.file"]
rc, err = run(pipeline(jsonl_source(in_named), f"[{csv_sink(out5, columns=named_cols)}]"))
check("text vs meta.text, entities vs meta.entities",
      rc == 0 and read_csv(out5) == [["text", "meta.text", "entities", "meta.entities", "meta.file"],
                                     ["body", "m-text", "", "m-ents", in_named]], err or read_csv(out5))

# no document reaches the sink: a header-only file
out6 = os.path.join(work, "empty", "none.csv")
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(out6)}]", "[{use: filter, with: {min_bytes: 1M}}]"))
check("every document dropped: exit 0", rc == 0, err)
check("every document dropped: a header-only file",
      rc == 0 and open(out6, "rb").read() == b"id,title,date,author,source,url,entities,text\r\n")

# an older CSV is replaced by a successful run
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(out6, columns=['id'])}]"))
check("an older CSV is replaced", rc == 0 and read_csv(out6) == [["id"]] + [[d["id"]] for d in tricky], err)

# `textmill check` creates nothing
out7 = os.path.join(work, "checked", "sub", "x.csv")
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(out7)}]"), "check")
check("check: exit 0 and nothing created", rc == 0 and not os.path.exists(os.path.join(work, "checked")), err)

# ============================================================ configuration errors (exit 2)
print("\n== bad options and bad paths (exit 2, nothing written)")


def refused(what, sink, message, code=2, keep=None, source=None, stages="[]"):
    before = open(keep, "rb").read() if keep else None
    rc, err = run(pipeline(source or jsonl_source(in_jsonl), f"[{sink}]", stages))
    check(f"{what}: exit {code}", rc == code, f"exit {rc}\n{err}")
    check(f"{what}: says {message!r}", message in err, err)
    if keep:
        check(f"{what}: {os.path.basename(keep)} unchanged", open(keep, "rb").read() == before)
        check(f"{what}: no temporary file", not temporaries(os.path.dirname(keep)), temporaries(os.path.dirname(keep)))


bad_dir = os.path.join(work, "bad")
os.makedirs(bad_dir)
refused("delimiter ':'", csv_sink(os.path.join(bad_dir, "a.csv"), delimiter=":"),
        "delimiter: ':' is not one of")
refused("columns []", csv_sink(os.path.join(bad_dir, "a.csv"), columns=[]), "columns: empty")
refused("column 'meta.'", csv_sink(os.path.join(bad_dir, "a.csv"), columns=["id", "meta."]),
        "columns: 'meta.' names no metadata key")
refused("a column twice", csv_sink(os.path.join(bad_dir, "a.csv"), columns=["id", "title", "id"]),
        "columns: 'id' is listed twice")
refused("types []", csv_sink(os.path.join(bad_dir, "a.csv"), types=[]), "types: empty")
refused("delimiter null", csv_sink(os.path.join(bad_dir, "a.csv"), delimiter=None), "option 'delimiter' is null")
refused("separator null", csv_sink(os.path.join(bad_dir, "a.csv"), separator=None), "option 'separator' is null")
refused("path null", "{use: csv, with: {path: null}}", "option 'path' is null, but sink 'csv' needs it")
refused("unknown option", csv_sink(os.path.join(bad_dir, "a.csv"), delimter=";"),
        "unknown option 'delimter' for sink 'csv'")
check("nothing was created by the refused runs", os.listdir(bad_dir) == [], os.listdir(bad_dir))

sqlite_like = os.path.join(bad_dir, "db.csv")
with open(sqlite_like, "wb") as f:
    f.write(b"SQLite format 3\x00" + bytes(range(256)) * 8)
refused("an SQLite database at the path", csv_sink(sqlite_like),
        f"path: {sqlite_like} exists and is not a CSV file; refusing to replace it", keep=sqlite_like)
gz = os.path.join(bad_dir, "old.csv.gz")
with open(gz, "wb") as f:
    f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00" * 20)
refused("a gzip file at the path", csv_sink(gz), "exists and is not a CSV file", keep=gz)
js = os.path.join(bad_dir, "articles.jsonl")
with open(js, "w") as f:
    f.write('{"id": "a", "text": "x, y"}\n')
refused("a JSON Lines file at the path", csv_sink(js), "exists and is not a CSV file", keep=js)
refused("the path is a directory", csv_sink(bad_dir), f"path: {bad_dir} is a directory, not a file")
refused("the path ends in '/'", csv_sink(bad_dir + "/x/"), "names a directory, not a file")
refused("the path is under a file", csv_sink(js + "/x.csv"), f"{js} is not a directory")

# a read-only directory; root writes anywhere, so run as nobody then
ro = os.path.join(work, "ro")
os.makedirs(ro)
shutil.copy(in_jsonl, os.path.join(ro, "in.jsonl"))
with open(os.path.join(ro, "old.csv"), "w") as f:
    f.write("id\r\nkept\r\n")
os.chmod(ro, 0o555)
os.chmod(work, 0o755)
for p in (in_jsonl, os.path.join(ro, "in.jsonl")):
    os.chmod(p, 0o644)
user = None
if os.geteuid() == 0:
    if shutil.which("setpriv"):
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        print("SKIP the read-only directory cases: running as root and setpriv is missing")
if os.geteuid() != 0 or user:
    for target, what in [(os.path.join(ro, "old.csv"), "a CSV in a read-only directory"),
                         (os.path.join(ro, "sub", "new.csv"), "a new subdirectory of a read-only one")]:
        before = open(os.path.join(ro, "old.csv"), "rb").read()
        rc, err = run(pipeline(jsonl_source(os.path.join(ro, "in.jsonl")), f"[{csv_sink(target)}]"),
                      user=user, name="ro.yaml")
        check(f"{what}: exit 2", rc == 2, f"exit {rc}\n{err}")
        check(f"{what}: says it cannot write in {ro}", f"cannot write in the directory {ro}" in err, err)
        check(f"{what}: old.csv unchanged, nothing created",
              open(os.path.join(ro, "old.csv"), "rb").read() == before
              and sorted(os.listdir(ro)) == ["in.jsonl", "old.csv"], os.listdir(ro))
os.chmod(ro, 0o755)

# ============================================================ failures while running
print("\n== failures during a run: the older CSV stays, no temporary file")
keep_dir = os.path.join(work, "keep")
os.makedirs(keep_dir)
keep = os.path.join(keep_dir, "out.csv")
OLD = b"id,text\r\nold,kept\r\n"
with open(keep, "wb") as f:
    f.write(OLD)

fails = os.path.join(TEST_PLUGINS, "process_fails.so")
if check(f"the failing test stage is built ({fails})", os.path.isfile(fails)):
    refused("a stage that fails", csv_sink(keep), "failed while processing: cannot process document",
            code=4, keep=keep, stages=f"[{{use: {q(fails)}}}]")
refused("a missing input file", csv_sink(keep), "No such file or directory", code=3, keep=keep,
        source=jsonl_source(os.path.join(work, "missing.jsonl")))
broken = os.path.join(work, "broken.jsonl")
with open(broken, "w") as f:
    f.write(open(in_jsonl, encoding="utf-8").read() + '{"id": "b", "text": \n')
refused("a malformed line after good ones", csv_sink(keep), "broken.jsonl:10:", code=3, keep=keep,
        source=jsonl_source(broken))
# a second sink that fails while writing (its temporary file's name is too
# long for the file system): the CSV sink must not commit either
too_long = os.path.join(keep_dir, "x" * 244 + ".jsonl")
refused("the other sink fails", f"{csv_sink(keep)}, {{use: jsonl, with: {{path: {q(too_long)}}}}}",
        "cannot create the temporary file", code=4, keep=keep)


def run_on_fifo(sig):
    """A run reading a FIFO: it writes rows to its temporary file, then gets
    `sig` while the source waits for more input. Returns (rc, stderr)."""
    fifo = os.path.join(work, "fifo.jsonl")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    path = os.path.join(work, "fifo.yaml")
    with open(path, "w") as f:
        f.write(pipeline(jsonl_source(fifo), f"[{csv_sink(keep)}]", extra="batch_bytes: 1024\n"))
    p = subprocess.Popen([TM, "run", path], stderr=subprocess.PIPE, text=True)
    # wait for the reader without blocking, so that a run that dies before it
    # opens the FIFO fails this test instead of hanging it
    deadline, fd = time.time() + 30, -1
    while fd < 0 and p.poll() is None and time.time() < deadline:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.02)
    if fd < 0:
        p.kill()
        err = p.communicate()[1]
        os.unlink(fifo)
        return p.returncode, f"the run never opened its input\n{err}", False
    os.set_blocking(fd, True)
    with os.fdopen(fd, "w") as w:
        for i in range(50):  # several batches of 1 KiB
            w.write(json.dumps({"id": f"f{i}", "text": "word, \"quoted\"\n" * 40}) + "\n")
        w.flush()
        deadline = time.time() + 30
        while not temporaries(keep_dir) and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)
        mid = bool(temporaries(keep_dir))
        time.sleep(0.1)
        p.send_signal(sig)
        if sig == signal.SIGKILL:
            p.wait(timeout=30)
    # closing the FIFO ends the source's read, so the runner sees the signal
    err = p.communicate(timeout=60)[1]
    os.unlink(fifo)
    return p.returncode, err, mid


rc, err, mid = run_on_fifo(signal.SIGTERM)
check("SIGTERM: the temporary file existed while the run wrote", mid)
check("SIGTERM: exit 7 (interrupted)", rc == 7, f"exit {rc}\n{err}")
check("SIGTERM: the older CSV is untouched", open(keep, "rb").read() == OLD)
check("SIGTERM: no temporary file", not temporaries(keep_dir), temporaries(keep_dir))

rc, err, mid = run_on_fifo(signal.SIGKILL)
check("SIGKILL: the temporary file existed while the run wrote", mid)
check("SIGKILL: killed", rc == -signal.SIGKILL, f"exit {rc}\n{err}")
check("SIGKILL: the older CSV is untouched", open(keep, "rb").read() == OLD)
left = temporaries(keep_dir)
check("SIGKILL: at most the temporary file is left, named .out.csv.tmp.*",
      all(os.path.basename(t).startswith(".out.csv.tmp.") for t in left), left)
for t in left:
    os.unlink(t)
rc, err = run(pipeline(jsonl_source(in_jsonl), f"[{csv_sink(keep, columns=['id'])}]"))
check("after the kill, a new run replaces the CSV", rc == 0 and read_csv(keep)[1] == ["c,1"], err)

tap.finish()
