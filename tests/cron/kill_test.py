#!/usr/bin/env python3
"""Crash safety: runs killed with SIGKILL at random moments, then re-run,
give exactly the output of one uninterrupted run.

A nightly pipeline with `state:` (files -> split -> cleanup -> entities ->
dedupe -> jsonl, csv and sqlite sinks) runs over a folder of inputs. The
reference is one clean run over fresh state. Each trial starts over from fresh
state and kills runs at random points of their life (loading, reading,
tagging, writing, committing) until one run is left to finish; then a last
night adds a copy of an earlier article, which the dedupe index must know.
The outputs must equal the reference's: the JSONL and CSV byte for byte, the
database row for row, and no temporary file left.

usage: kill_test.py TEXTMILL SOURCE_DIR [TRIALS]"""
import csv, glob, json, os, random, shutil, signal, sqlite3, subprocess, sys, tempfile, time

tm, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
trials = int(sys.argv[3]) if len(sys.argv) > 3 else 16
rng = random.Random(int(os.environ.get("TM_KILL_SEED", "7")))
work = tempfile.mkdtemp(prefix="tm-kill-")
env = dict(os.environ)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()
check = tap.check


# inputs: the five samples and variants of them (a paragraph dropped, a line
# added), so that there are near copies, stories and many entities
inputs = os.path.join(work, "inputs")
os.makedirs(inputs)
seeds = sorted(glob.glob(os.path.join(src, "seeds", "*.txt")))
k = 0
for round_ in range(10):
    for s in seeds:
        text = open(s, encoding="utf-8").read()
        paras = text.split("\n\n")
        if round_ and len(paras) > 3:
            del paras[rng.randrange(1, len(paras))]
            paras.insert(1, f"Update {round_}: reporting continued on day {round_}.")
        with open(os.path.join(inputs, f"{k:03d}.txt"), "w", encoding="utf-8") as f:
            f.write("\n\n".join(paras))
        k += 1
late = os.path.join(work, "late.txt")          # the last night's input: a copy
shutil.copy(seeds[2], late)


def pipeline(d):
    p = os.path.join(d, "p.yaml")
    # relative paths, run from d: documents name their input file (meta.file)
    # alike in every trial's directory
    with open(p, "w") as f:
        f.write(f"""version: 1
name: nightly
state: state
source: {{use: files, with: {{paths: ["in/*.txt"]}}}}
stages:
  - use: split
  - use: cleanup
  - use: entities
  - use: dedupe
    with: {{mode: mark}}
sinks:
  - use: jsonl
    with: {{path: "out/articles.jsonl"}}
  - use: csv
    with: {{path: "out/articles.csv", columns: [id, title, entities]}}
  - use: sqlite
    with: {{path: "out/news.db"}}
""")
    return p


def fresh(name):
    d = os.path.join(work, name)
    shutil.copytree(inputs, os.path.join(d, "in"))
    return d, pipeline(d)


def run(p, kill_after=None, crash_at=None):
    """Runs the pipeline; kills it with SIGKILL after kill_after seconds, or
    lets it kill itself at a named point (TEXTMILL_CRASH_AT)."""
    t0 = time.time()
    e = dict(env, TEXTMILL_CRASH_AT=crash_at) if crash_at else env
    proc = subprocess.Popen([tm, "run", p, "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=e, cwd=os.path.dirname(p))
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    err = proc.communicate()[1].decode("utf-8", "replace")
    return proc.returncode, err, time.time() - t0


def db_rows(path):
    con = sqlite3.connect(path)
    out = {}
    for table, cols in [("documents", "id, title, date, text, meta"),
                        ("mentions m JOIN documents d ON d.doc = m.doc JOIN entities e ON e.entity = m.entity",
                         "d.id, m.start, m.end, e.canonical, e.type"),
                        ("duplicates", "doc_id, duplicate_of, kind, similarity"),
                        ("story_documents", "doc_id, story_id")]:
        out[table.split()[0]] = sorted(con.execute(f"SELECT {cols} FROM {table}").fetchall())
    out["fts"] = con.execute("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH 'azerbaijan'").fetchone()
    out["integrity"] = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    return out


def outputs(d):
    o = {}
    with open(os.path.join(d, "out", "articles.jsonl"), "rb") as f:
        o["jsonl"] = f.read()
    with open(os.path.join(d, "out", "articles.csv"), "rb") as f:
        o["csv"] = f.read()
    o["db"] = db_rows(os.path.join(d, "out", "news.db"))
    o["stray"] = sorted(x for x in os.listdir(os.path.join(d, "out")) if ".tmp." in x or x.endswith("-journal"))
    return o


def last_night(d):
    shutil.copy(late, os.path.join(d, "in", "zz-late.txt"))
    return run(os.path.join(d, "p.yaml"))


# the reference: one clean run, then the last night
ref_dir, ref_p = fresh("reference")
rc, err, dur = run(ref_p)
check(f"reference run (exit {rc}, {dur:.2f} s)", rc == 0, err)
if rc != 0:
    sys.exit(1)
rc, err, _ = last_night(ref_dir)
check("reference: last night", rc == 0, err)
ref = outputs(ref_dir)
lines = ref["jsonl"].decode().splitlines()
late_docs = [json.loads(l) for l in lines if json.loads(l)["meta"].get("file", "").endswith("zz-late.txt")]
check("reference: the late copy is marked a duplicate of the earlier article",
      late_docs and all(d["meta"].get("duplicate_of") for d in late_docs), late_docs[:1])
check("reference: csv parses, one header", len(list(csv.reader(ref["csv"].decode().splitlines()))) == len(lines) + 1)

for t in range(trials):
    d, p = fresh(f"trial{t}")
    kills = []
    for attempt in range(rng.randint(1, 4)):
        # half the kills aim at the end, where the sinks write and commit;
        # some land after it: a completed run
        at = rng.uniform(0.0, dur) if rng.random() < 0.5 else rng.uniform(0.7 * dur, 1.1 * dur)
        rc, err, _ = run(p, kill_after=at)
        kills.append(f"{at:.2f}s->{rc}")
    rc, err, _ = run(p)
    ok = rc == 0
    rc2, err2, _ = last_night(d)
    ok = ok and rc2 == 0
    got = outputs(d)
    same = {k: got[k] == ref[k] for k in ("jsonl", "csv", "db")}
    detail = f"kills {kills}; exit {rc}/{rc2}; {err}{err2}"
    if not same["jsonl"]:
        a, b = set(ref["jsonl"].decode().splitlines()), set(got["jsonl"].decode().splitlines())
        detail += f"\njsonl: {len(b - a)} lines extra, {len(a - b)} missing"
    check(f"trial {t}: killed at {', '.join(kills)}; then equal to one clean run "
          f"({', '.join(k for k, v in same.items() if not v) or 'jsonl, csv, db'}"
          f"{' differ' if not all(same.values()) else ' identical'})",
          ok and all(same.values()) and got["db"]["integrity"] == "ok", detail)
    check(f"trial {t}: no stray temporary or journal file", not got["stray"], got["stray"])
    shutil.rmtree(d)

# every point of the commit, deterministically: after each step's flush (the
# sinks have written their temporary files), after each step's commit (the
# jsonl and csv outputs appended, the database committed, the dedupe index
# saved) and just before the ledger's transaction
steps = ["split", "cleanup", "entities", "dedupe", "jsonl", "csv", "sqlite"]
points = [f"flush:{s}" for s in steps] + [f"commit:{s}" for s in ("jsonl", "csv", "sqlite", "cleanup", "dedupe")] + ["ledger"]
for pt in points:
    d, p = fresh("point-" + pt.replace(":", "-"))
    rc, err, _ = run(p, crash_at=pt)
    killed = rc == -signal.SIGKILL
    rc1, err1, _ = run(p)
    rc2, err2, _ = last_night(d)
    got = outputs(d)
    same = all(got[k] == ref[k] for k in ("jsonl", "csv", "db"))
    check(f"killed at {pt}, then re-run: equal to one clean run", killed and rc1 == 0 and rc2 == 0 and same
          and not got["stray"], f"first exit {rc}; then {rc1}/{rc2}; stray {got['stray']}; {err}{err1}{err2}")
    shutil.rmtree(d)

tap.finish(f"; work directory kept: {work}")
shutil.rmtree(work)
