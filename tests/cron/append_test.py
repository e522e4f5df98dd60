#!/usr/bin/env python3
"""Append mode of the jsonl and csv sinks with `state:` (incremental runs).

A nightly pipeline (files -> split -> jsonl, jsonl.gz and csv sinks) with
`state:` runs over a folder of .txt inputs copied from seeds/:

  - night 1 reads two files, night 2 a third: the outputs hold night 1's
    lines then night 2's, the same records as one run over all three, and
    the CSV one header;
  - a night with nothing new leaves every output byte for byte as it was;
  - a changed input is processed again: its documents are appended;
  - a failing run (the process_fails test plugin) leaves the outputs and
    the ledger's committed values as they were;
  - a killed run's leftovers (bytes appended after the committed length, a
    stray `.out.jsonl.tmp.ABC123`) are cut back (with a warning) and removed
    by the next run, whose result equals a clean run's;
  - a killed FIRST run (outputs moved into place, ledger never committed) is
    not taken for an old output: the next run starts the file again;
  - an output shorter than the committed length, or a CSV whose header is
    not this run's, is refused with a config error (exit 2) before any work,
    the outputs untouched;
  - the committed length belongs to the path: a sink whose `path:` changed to
    an existing, longer file keeps that file whole and appends to it (the old
    file untouched), and an old ledger's path-less "committed_bytes" is
    honoured only for a file at least that long.

usage: append_test.py TEXTMILL SOURCE_DIR"""
import csv, glob, gzip, io, json, os, shutil, sqlite3, subprocess, sys, tempfile

tm, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
fail_plugin = os.path.join(os.path.dirname(os.path.dirname(tm)), "tests", "plugins",
                           "process_fails.so")
work = tempfile.mkdtemp(prefix="tm-append-")
seeds = sorted(glob.glob(os.path.join(src, "seeds", "*.txt")))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()
check = tap.check


def setup(name, columns="[id, file, text]", extra_stage=""):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "in"), exist_ok=True)
    with open(os.path.join(d, "p.yaml"), "w") as f:
        f.write(f"""version: 1
name: nightly
state: state
source: {{use: files, with: {{paths: ["in/*.txt"]}}}}
stages:
  - use: split
{extra_stage}sinks:
  - use: jsonl
    with: {{path: out/out.jsonl}}
  - use: jsonl
    name: gz
    with: {{path: out/out.jsonl.gz}}
  - use: csv
    with: {{path: out/out.csv, columns: {columns}}}
""")
    return d


def add(d, k, name=None):
    shutil.copy(seeds[k], os.path.join(d, "in", name or f"s{k}.txt"))


def run(d, pipeline="p.yaml"):
    p = subprocess.run([tm, "run", pipeline], cwd=d, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def outs(d):
    o = {}
    for k in ("out.jsonl", "out.jsonl.gz", "out.csv"):
        with open(os.path.join(d, "out", k), "rb") as f:
            o[k] = f.read()
    return o


def jsonl_lines(o):
    return o["out.jsonl"].decode().splitlines()


def gz_lines(o):
    return gzip.decompress(o["out.jsonl.gz"]).decode().splitlines()


def csv_rows(o):
    return list(csv.reader(io.StringIO(o["out.csv"].decode(), newline="")))


def committed(d):
    con = sqlite3.connect(os.path.join(d, "state", "ledger.db"))
    try:
        st = sorted(con.execute("SELECT * FROM plugin_state").fetchall())
        ins = sorted(con.execute("SELECT * FROM inputs").fetchall())
    finally:
        con.close()
    return st, ins


def stray(d):
    return sorted(x for x in os.listdir(os.path.join(d, "out")) if ".tmp." in x)


# ---- night 1 + night 2 against one run over everything ---------------------------
ref = setup("ref")
for k in (0, 1, 2):
    add(ref, k)
rc, err = run(ref)
check("reference: one run over three inputs", rc == 0, err)
R = outs(ref)

d = setup("inc")
add(d, 0), add(d, 1)
rc, err = run(d)
check("night 1 (two inputs)", rc == 0, err)
N1 = outs(d)
add(d, 2)
rc, err = run(d)
check("night 2 (one new input)", rc == 0, err)
N2 = outs(d)
check("jsonl: night 2 kept night 1's bytes and appended",
      N2["out.jsonl"].startswith(N1["out.jsonl"]) and len(N2["out.jsonl"]) > len(N1["out.jsonl"]))
check("jsonl: night 1 + night 2 = one run over all three (same records, same order)",
      jsonl_lines(N2) == jsonl_lines(R),
      f"{len(jsonl_lines(N2))} vs {len(jsonl_lines(R))} lines")
ids = [json.loads(l)["id"] for l in jsonl_lines(N2)]
check("jsonl: every id once", len(ids) == len(set(ids)) and
      set(ids) == {json.loads(l)["id"] for l in jsonl_lines(R)})
check("jsonl.gz: two gzip members, read as one stream, same lines",
      N2["out.jsonl.gz"].startswith(N1["out.jsonl.gz"]) and gz_lines(N2) == jsonl_lines(R))
rows = csv_rows(N2)
check("csv: one header, rows = one run's rows",
      rows == csv_rows(R) and sum(r == ["id", "file", "text"] for r in rows) == 1,
      f"{len(rows)} vs {len(csv_rows(R))} rows")

# the jsonl source reads a file made of two runs (plain and gzip)
rd = os.path.join(work, "read")
os.makedirs(rd)
with open(os.path.join(rd, "p.yaml"), "w") as f:
    f.write(f"""version: 1
name: reread
source: {{use: jsonl, with: {{paths: ["{d}/out/out.jsonl.gz", "{d}/out/out.jsonl"]}}}}
sinks:
  - use: jsonl
    with: {{path: back.jsonl}}
""")
rc, err = run(rd)
back = open(os.path.join(rd, "back.jsonl")).read().splitlines() if rc == 0 else []
check("jsonl source reads the appended .jsonl.gz and .jsonl (2 x all documents)",
      rc == 0 and len(back) == 2 * len(ids), err)

# ---- nothing new ------------------------------------------------------------------
rc, err = run(d)
check("a night with nothing new succeeds", rc == 0, err)
check("... and leaves every output byte for byte as it was", outs(d) == N2)

# ---- a changed input ------------------------------------------------------------------
with open(os.path.join(d, "in", "s1.txt"), "a") as f:
    f.write("\n\nA late paragraph, added the next morning, about the same events.\n")
rc, err = run(d)
N3 = outs(d)
new = jsonl_lines(N3)[len(jsonl_lines(N2)):]
check("a changed input is processed again", rc == 0, err)
check("... its documents appended after the earlier ones",
      N3["out.jsonl"].startswith(N2["out.jsonl"]) and new and
      all(json.loads(l)["meta"]["file"] == "in/s1.txt" for l in new),
      new[:2])
check("... in the gzip and csv outputs too",
      len(gz_lines(N3)) == len(jsonl_lines(N3)) and len(csv_rows(N3)) == len(jsonl_lines(N3)) + 1)

# ---- a failing run ------------------------------------------------------------------
before = committed(d)
add(d, 3)
with open(os.path.join(d, "p.yaml")) as f:
    text = f.read()
with open(os.path.join(d, "fail.yaml"), "w") as f:
    f.write(text.replace("  - use: split\n", f"  - use: split\n  - use: {fail_plugin}\n"))
rc, err = run(d, "fail.yaml")
check(f"a failing run fails (exit {rc})", rc != 0, err)
check("... leaves the outputs byte for byte as they were", outs(d) == N3)
check("... and the ledger's committed values and inputs as they were", committed(d) == before)
check("... and no temporary file", not stray(d), stray(d))
rc, err = run(d)
N4 = outs(d)
check("the next run takes the new input", rc == 0 and
      N4["out.jsonl"].startswith(N3["out.jsonl"]) and len(N4["out.jsonl"]) > len(N3["out.jsonl"]),
      err)

# ---- a killed run's leftovers ------------------------------------------------------------
with open(os.path.join(d, "out", "out.jsonl"), "ab") as f:
    f.write(b'{"id":"junk","text":"half a line of a killed run')
with open(os.path.join(d, "out", "out.csv"), "ab") as f:
    f.write(b"junk,row\r\n")
with open(os.path.join(d, "out", ".out.jsonl.tmp.ABC123"), "wb") as f:
    f.write(b"stray")
rc, err = run(d)
check("after a killed run: the next run succeeds", rc == 0, err)
check("... warns that it cut the outputs back", "cut back by" in err and "jsonl" in err, err)
check("... says it removed the stray temporary file", "stale temporary file" in err, err)
check("... removes it", not stray(d), stray(d))
check("... and the outputs equal a clean run's", outs(d) == N4)
add(d, 4)
rc, err = run(d)
N5 = outs(d)
check("and appends at the committed length afterwards",
      rc == 0 and N5["out.jsonl"].startswith(N4["out.jsonl"]) and
      len(csv_rows(N5)) == len(jsonl_lines(N5)) + 1 and gz_lines(N5) == jsonl_lines(N5), err)

# a run with all five inputs fresh gives the same records (the changed s1 twice
# in the incremental output: later lines supersede; compare the latest per id)
full = setup("full")
for k in range(5):
    add(full, k)
shutil.copy(os.path.join(d, "in", "s1.txt"), os.path.join(full, "in", "s1.txt"))
rc, err = run(full)
latest = {}
for l in jsonl_lines(N5):
    latest[json.loads(l)["id"]] = l
check("latest line per id = one clean run over the final inputs",
      rc == 0 and sorted(latest.values()) == sorted(jsonl_lines(outs(full))), err)

# ---- an output shorter than the committed length ------------------------------------------
# (the csv sink, the last step: see the report on init failures of earlier steps)
with open(os.path.join(d, "out", "out.csv"), "r+b") as f:
    f.truncate(len(N5["out.csv"]) - 10)
cut = outs(d)
add(d, 0, "again.txt")
rc, err = run(d)
check(f"a cut output: config error, exit 2 (got {rc})", rc == 2, err)
check("... saying so clearly", "fewer than the" in err and "move it away" in err, err)
check("... nothing touched", outs(d) == cut)
os.rename(os.path.join(d, "out", "out.csv"), os.path.join(d, "out", "old.csv"))
rc, err = run(d)
o = outs(d)
check("moved away: the next run starts a new file (with a header)", rc == 0 and
      "starting a new file" in err and csv_rows(o)[0] == ["id", "file", "text"] and
      len(csv_rows(o)) > 1, err)

# ---- the csv columns changed -------------------------------------------------------------
with open(os.path.join(d, "p.yaml")) as f:
    text = f.read()
with open(os.path.join(d, "cols.yaml"), "w") as f:
    f.write(text.replace("columns: [id, file, text]", "columns: [id, text]"))
keep = outs(d)
add(d, 2, "again2.txt")
rc, err = run(d, "cols.yaml")
check(f"changed csv columns: config error, exit 2 (got {rc})", rc == 2, err)
check("... naming both headers", "'id,file,text'" in err and "'id,text'" in err, err)
check("... nothing touched", outs(d) == keep)

# ---- a killed first run ---------------------------------------------------------------------
# Its outputs were moved into place but the ledger never committed: the same as
# a state directory whose ledger is gone but whose append-*.base records remain.
k1 = setup("killed-first")
add(k1, 0), add(k1, 1)
rc, err = run(k1)
for f in glob.glob(os.path.join(k1, "state", "ledger.db*")):
    os.unlink(f)
rc2, err2 = run(k1)
got = outs(k1)
ref2 = setup("ref2")
add(ref2, 0), add(ref2, 1)
run(ref2)
check("a killed first run's output is not kept as an old output (no duplicates)",
      rc == 0 and rc2 == 0 and got == outs(ref2), err + err2)

# ---- an output from before state: kept, the first run atomic -----------------------------
pre = setup("pre-existing")
os.makedirs(os.path.join(pre, "out"))
with open(os.path.join(pre, "out", "out.jsonl"), "w") as f:
    f.write('{"id":"old","text":"from before state:"}\n')
shutil.copy(os.path.join(ref2, "out", "out.csv"), os.path.join(pre, "out", "out.csv"))
old_csv = open(os.path.join(pre, "out", "out.csv"), "rb").read()
add(pre, 2)
rc, err = run(pre)
o = outs(pre)
check("an existing output is kept, this run appended (jsonl, csv without a 2nd header)",
      rc == 0 and jsonl_lines(o)[0] == '{"id":"old","text":"from before state:"}' and
      o["out.csv"].startswith(old_csv) and
      sum(r == ["id", "file", "text"] for r in csv_rows(o)) == 1, err)

# ---- the committed length belongs to the path -------------------------------------------
def setup_one(name, path):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "in"), exist_ok=True)
    write_one(d, path)
    return d


def write_one(d, path):
    with open(os.path.join(d, "p.yaml"), "w") as f:
        f.write(f"""version: 1
name: nightly
state: state
source: {{use: files, with: {{paths: ["in/*.txt"]}}}}
stages:
  - use: split
sinks:
  - use: jsonl
    with: {{path: {path}}}
""")


def read(d, name):
    with open(os.path.join(d, "out", name), "rb") as f:
        return f.read()


def files_of(data):
    return {json.loads(l)["meta"]["file"] for l in data.decode().splitlines()}


def ledger_keys(d):
    con = sqlite3.connect(os.path.join(d, "state", "ledger.db"))
    try:
        return dict(con.execute("SELECT key, value FROM plugin_state WHERE step = 'jsonl'"))
    finally:
        con.close()


def old_ledger(d, path):
    """Turns the ledger into one of an older textmill: the length without the path."""
    con = sqlite3.connect(os.path.join(d, "state", "ledger.db"))
    with con:
        con.execute("UPDATE plugin_state SET key = 'committed_bytes' WHERE step = 'jsonl' "
                    "AND key = ?", ("committed_bytes:" + path,))
    con.close()


def old_lines(prefix, longer_than):
    data, i = b"", 0
    while len(data) <= longer_than:
        data += json.dumps({"id": f"{prefix}-{i}", "text": f"kept line {i} of an old file"}
                           ).encode() + b"\n"
        i += 1
    return data


pc = setup_one("path-change", "out/a.jsonl")
add(pc, 0), add(pc, 1)
rc, err = run(pc)
A = read(pc, "a.jsonl") if rc == 0 else b""
check("path change: night 1 writes out/a.jsonl", rc == 0 and A, err)
B = old_lines("b", len(A) + 100)
with open(os.path.join(pc, "out", "b.jsonl"), "wb") as f:
    f.write(B)
write_one(pc, "out/b.jsonl")
add(pc, 2)
rc, err = run(pc)
got = read(pc, "b.jsonl")
check("path changed to an existing, longer out/b.jsonl: the run succeeds, no cut back",
      rc == 0 and "cut back" not in err, err)
check("... b.jsonl keeps all its old bytes and gets the new documents appended",
      got.startswith(B) and len(got) > len(B) and files_of(got[len(B):]) == {"in/s2.txt"},
      f"{len(got)} bytes, old {len(B)}")
check("... a.jsonl untouched", read(pc, "a.jsonl") == A)
keys = ledger_keys(pc)
check("... the ledger keeps one length per path",
      keys.get("committed_bytes:out/a.jsonl") == str(len(A)) and
      keys.get("committed_bytes:out/b.jsonl") == str(len(got)) and
      "committed_bytes" not in keys, keys)
# and back: a.jsonl's own length still holds (a killed run's bytes cut back)
with open(os.path.join(pc, "out", "a.jsonl"), "ab") as f:
    f.write(b'{"id":"junk","text":"half a line')
write_one(pc, "out/a.jsonl")
add(pc, 3)
rc, err = run(pc)
got_a = read(pc, "a.jsonl")
check("path changed back: a.jsonl cut back to its own committed length, then appended",
      rc == 0 and "cut back by" in err and got_a.startswith(A) and
      files_of(got_a[len(A):]) == {"in/s3.txt"} and read(pc, "b.jsonl") == got, err)

# an old ledger ("committed_bytes" without the path), the path unchanged: honoured
ol = setup_one("old-ledger", "out/a.jsonl")
add(ol, 0), add(ol, 1)
rc, err = run(ol)
A = read(ol, "a.jsonl")
old_ledger(ol, "out/a.jsonl")
with open(os.path.join(ol, "out", "a.jsonl"), "ab") as f:
    f.write(b'{"id":"junk","text":"half a line')
add(ol, 2)
rc2, err2 = run(ol)
got = read(ol, "a.jsonl")
keys = ledger_keys(ol)
check("old ledger, same path: its length is honoured (the killed run's bytes cut back)",
      rc == 0 and rc2 == 0 and "cut back by" in err2 and got.startswith(A) and
      files_of(got[len(A):]) == {"in/s2.txt"}, err + err2)
check("... and moved to the path's key", "committed_bytes" not in keys and
      keys.get("committed_bytes:out/a.jsonl") == str(len(got)), keys)

# an old ledger, the path changed to a file shorter than its length: ignored
ol2 = setup_one("old-ledger-2", "out/a.jsonl")
add(ol2, 0), add(ol2, 1)
rc, err = run(ol2)
A = read(ol2, "a.jsonl")
old_ledger(ol2, "out/a.jsonl")
C = old_lines("c", 10)
with open(os.path.join(ol2, "out", "c.jsonl"), "wb") as f:
    f.write(C)
write_one(ol2, "out/c.jsonl")
add(ol2, 2)
rc2, err2 = run(ol2)
got = read(ol2, "c.jsonl")
check("old ledger, path changed to a shorter file: not refused, a warning",
      rc == 0 and rc2 == 0 and "without saying which path" in err2, err + err2)
check("... the file kept whole, the new documents appended; a.jsonl untouched",
      got.startswith(C) and files_of(got[len(C):]) == {"in/s2.txt"} and
      read(ol2, "a.jsonl") == A, got[:200])

tap.finish(f"; work directory kept: {work}")
shutil.rmtree(work)
