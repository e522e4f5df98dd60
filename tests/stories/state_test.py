#!/usr/bin/env python3
"""The stories stage across runs (`state:`), through the real binary:

  (a) three nights: documents continuing night 1's stories on nights 2 and 3
      get night 1's story ids; unrelated documents open stories of their own;
  (b) a re-run of night 1's documents (the same ids, from another file, since
      the ledger skips a completed one): each gets its old story (counter
      seen_before), and nothing changes: the store holds what it held, and
      night 3 gives what it gives without the re-run;
  (c) a run that fails after the stage (a failing stage behind it) leaves the
      store as it was, and night 3 run again gives what it gives in a state
      that never saw the failed run;
  (d) the store replaced by garbage, by a store of another format, or by a
      symbolic link (to a store, or to nothing): a one-line error naming the
      file, a documented exit code (2-4), no crash, no output, and the file
      (or the link's target) left as it was;
  (e) window: a document dated window + 1 days after a story's last one
      starts a new story, across runs and within one; at window days it joins.

usage: state_test.py TEXTMILL TEST_PLUGIN_DIR       (exit 0 pass, 1 fail)"""
import hashlib, json, os, shutil, sqlite3, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, counters, crashed, read_jsonl, tap, write_jsonl  # noqa: E402
from corpus import GOLD, NIGHTS, doc, near  # noqa: E402

tm, plugin_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
FAILS = os.path.join(plugin_dir, "process_fails.so")
work = tempfile.mkdtemp(prefix="stories-state-")
WINDOW = 3


def run(name, inputs, state, fail_after=False, window=WINDOW):
    """Runs inputs (JSONL paths) -> stories [-> process_fails] -> jsonl in
    the state directory `state`. Returns (rc, stderr, docs or None, stats),
    stats being the stories step's counters from --stats."""
    out = os.path.join(work, name + ".out.jsonl")
    if os.path.exists(out):
        os.remove(out)
    paths = ", ".join(json.dumps(p) for p in inputs)
    after = f'\n  - use: "{FAILS}"' if fail_after else ""
    y = os.path.join(work, name + ".yaml")
    with open(y, "w", encoding="utf-8") as f:
        f.write(f"version: 1\nname: stories-state\nstate: {json.dumps(state)}\n"
                f"source: {{use: jsonl, with: {{paths: [{paths}]}}}}\n"
                f"stages:\n  - use: stories\n    with: {{window: {window}}}{after}\n"
                f"sinks: [{{use: jsonl, with: {{path: {json.dumps(out)}}}}}]\n")
    try:
        r = subprocess.run([tm, "run", y, "--stats"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, "timed out", None, {}
    docs = read_jsonl(out) if r.returncode == 0 and os.path.isfile(out) else None
    return r.returncode, r.stderr, docs, counters(r.stderr)


def stories_of(docs):
    return {d["id"]: d["meta"].get("story") for d in docs or []}


def view(docs):
    """What a user sees of each document, for comparing two runs."""
    keys = ("story", "story_score", "story_label", "story_terms", "story_evidence")
    return [(d["id"], {k: d["meta"].get(k) for k in keys}) for d in docs or []]


def store_path(state):
    return os.path.join(state, "stories-stories.sqlite")


def committed(state):
    """The stories' generation the ledger holds (0 when none)."""
    con = sqlite3.connect(f"file:{os.path.join(state, 'ledger.db')}?mode=ro", uri=True)
    row = con.execute("SELECT value FROM plugin_state WHERE step = 'stories' AND key = 'generation'").fetchone()
    con.close()
    return int(row[0]) if row else 0


def store_view(state):
    """The store as the next run will load it: of rows up to the committed
    generation, the latest of each key, without the generation."""
    g = committed(state)
    con = sqlite3.connect(f"file:{store_path(state)}?mode=ro", uri=True)

    def latest(table, key, cols):
        return con.execute(
            f"SELECT {key}, {cols} FROM {table} x WHERE gen = (SELECT max(gen) FROM {table} y "
            f"WHERE y.{key} = x.{key} AND y.gen <= ?) ORDER BY {key}", (g,)).fetchall()

    v = {"stories": [r for r in latest("stories", "id", "blob") if r[1] is not None],
         "df": latest("df", "term", "seen"),
         "grams": con.execute("SELECT blob FROM grams WHERE gen <= ? ORDER BY gen DESC LIMIT 1",
                              (g,)).fetchall(),
         "counters": con.execute("SELECT docs, now, seq FROM counters WHERE gen <= ? "
                                 "ORDER BY gen DESC LIMIT 1", (g,)).fetchall()}
    con.close()
    return v


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.exists(path) else None


if not os.path.isfile(FAILS):
    print(f"FAIL: {FAILS} is missing (the test plugins are not built)")
    sys.exit(1)
print(f"# work directory: {work}")
night_files = []
for i, night in enumerate(NIGHTS, 1):
    p = os.path.join(work, f"night{i}.jsonl")
    write_jsonl(p, night)
    night_files.append(p)

# ===================================================== (a) three nights
print("# (a) three nights")
state = os.path.join(work, "state")
results = {}
for i, p in enumerate(night_files, 1):
    rc, err, docs, st = run(f"night{i}", [p], state)
    check(f"night {i}: exit 0", rc == 0, err[-1500:])
    got = stories_of(docs)
    check(f"night {i}: every document has meta.story",
          docs is not None and len(docs) == len(NIGHTS[i - 1]) and all(got.values()), got)
    results.update(got)
    if i == 1:
        check("night 1: the state directory holds the stories store", os.path.isfile(store_path(state)),
              os.listdir(state) if os.path.isdir(state) else "no state directory")
        snap_night1 = store_view(state) if os.path.isfile(store_path(state)) else None
    if i == 2:
        shutil.copytree(state, os.path.join(work, "state-after-2"))
        check("night 2: two documents join night 1's stories, one opens its own",
              st.get("joined") == 2 and st.get("new_stories") == 1, st)
for night in NIGHTS:
    for d in night:
        want = GOLD[d["id"]]
        check(f"{d['id']} gets story {want}", results.get(d["id"]) == want, f"got {results.get(d['id'])}")
print("#   stories: " + json.dumps(results))

# ===================================================== (b) the same documents again
print("# (b) night 1's documents again, from another file")
again = os.path.join(work, "night1-again.jsonl")
shutil.copyfile(night_files[0], again)
base = os.path.join(work, "state-after-2")
for name in ("state-rerun", "state-norerun"):
    shutil.copytree(base, os.path.join(work, name))
rerun_state = os.path.join(work, "state-rerun")
before = store_view(rerun_state)
rc, err, docs, st = run("rerun", [again], rerun_state)
check("the re-run: exit 0", rc == 0, err[-1500:])
got = stories_of(docs)
check("the re-run: every document gets its night-1 story",
      docs is not None and all(got[i] == GOLD[i] for i in got) and len(got) == len(NIGHTS[0]), got)
check("the re-run: every document is counted seen_before, none joined or new",
      st.get("seen_before") == len(NIGHTS[0]) and not st.get("joined") and not st.get("new_stories"), st)
after = store_view(rerun_state)
check("the re-run: the store holds what it held (stories with their members, frequencies, counters, 4-grams)",
      before == after, {k: (len(before[k]), len(after[k])) for k in before})
rc1, err1, d_rerun, _ = run("night3-after-rerun", [night_files[2]], rerun_state)
rc2, err2, d_plain, _ = run("night3-no-rerun", [night_files[2]], os.path.join(work, "state-norerun"))
check("night 3 after the re-run gives what it gives without it",
      rc1 == 0 and rc2 == 0 and view(d_rerun) == view(d_plain),
      f"exit {rc1}/{rc2}\n{json.dumps(view(d_rerun))}\n{json.dumps(view(d_plain))}")
if snap_night1 is not None:
    check("the stores after nights 1 and 2 differ (the comparison above can fail)",
          snap_night1 != before)

# ===================================================== (c) a failed run
print("# (c) a run that fails after the stage")
for name in ("state-failed", "state-clean"):
    shutil.copytree(base, os.path.join(work, name))
failed_state = os.path.join(work, "state-failed")
before = store_view(failed_state)
gen_before = committed(failed_state)
rc, err, docs, st = run("night3-fails", [night_files[2]], failed_state, fail_after=True)
check("a stage failing after stories: exit 4", rc == 4, f"exit {rc}: {err[-1500:]}")
check("the failed run: the stories saw the documents (the failure came after them)",
      st.get("joined", 0) + st.get("new_stories", 0) == len(NIGHTS[2]), st)
check("the failed run: the ledger's generation is unchanged", committed(failed_state) == gen_before,
      f"{gen_before} -> {committed(failed_state)}")
check("the failed run: the store holds what it held", store_view(failed_state) == before)
rc1, err1, d_after, _ = run("night3-after-fail", [night_files[2]], failed_state)
rc2, err2, d_clean, _ = run("night3-clean", [night_files[2]], os.path.join(work, "state-clean"))
check("night 3 after the failed run gives what it gives as if it never happened",
      rc1 == 0 and rc2 == 0 and view(d_after) == view(d_clean),
      f"exit {rc1}/{rc2}: {err1[-500:]}\n{json.dumps(view(d_after))}\n{json.dumps(view(d_clean))}")
check("and continues night 1's stories", stories_of(d_after) == {d["id"]: GOLD[d["id"]] for d in NIGHTS[2]},
      stories_of(d_after))

# ===================================================== (d) a damaged, foreign or linked store
print("# (d) a damaged, foreign or linked store")


def refused(what, name, state, path, must_say=None):
    """Night 3 over a store that must be refused: a documented exit code, one
    error line naming the file, no output, the file left as it was."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    h = sha(target)
    rc, err, docs, _ = run(name, [night_files[2]], state)
    check(f"{what}: no crash", not crashed(rc), f"exit {rc}: {err[-1500:]}")
    check(f"{what}: refused with a documented exit code (2-4)", rc is not None and 2 <= rc <= 4,
          f"exit {rc}: {err[-1500:]}")
    named = [l for l in err.splitlines() if "error" in l and path in l]
    check(f"{what}: one error line names the file", len(named) == 1, err[-1500:])
    if must_say:
        check(f"{what}: the error says why ({must_say})", any(must_say in l for l in named), err[-1500:])
    check(f"{what}: no output", not os.path.exists(os.path.join(work, name + ".out.jsonl")))
    check(f"{what}: the file is left as it was", sha(target) == h)
    return err


def fresh_state(name):
    s = os.path.join(work, name)
    shutil.copytree(base, s)
    for f in os.listdir(s):
        if f.startswith("stories-stories.sqlite-"):  # no stale journal
            os.remove(os.path.join(s, f))
    return s


s = fresh_state("state-garbage")
with open(store_path(s), "wb") as f:
    f.write(b"this is not a database\n" + bytes((i * 7919) % 256 for i in range(16384)))
refused("a store replaced by garbage", "garbage", s, store_path(s))

s = fresh_state("state-cut")
with open(store_path(s), "r+b") as f:
    f.truncate(os.path.getsize(store_path(s)) // 2 or 100)
rc, err, docs, _ = run("cut", [night_files[2]], s)
check("a store cut in half: no crash, and a clean result or a clear error",
      not crashed(rc) and (rc == 0 or (2 <= rc <= 4 and store_path(s) in err)), f"exit {rc}: {err[-1500:]}")

s = fresh_state("state-format")
con = sqlite3.connect(store_path(s))
con.execute("UPDATE info SET value = 'textmill-stories 9' WHERE key = 'format'")
con.commit()
con.close()
refused("a store of another format", "format", s, store_path(s), must_say="another version")

s = fresh_state("state-link")
real = os.path.join(work, "elsewhere.sqlite")
shutil.move(store_path(s), real)
os.symlink(real, store_path(s))
err = refused("a symbolic link to a store", "link", s, store_path(s), must_say="symbolic link")
s = fresh_state("state-dangling")
os.remove(store_path(s))
nowhere = os.path.join(work, "nowhere.sqlite")
os.symlink(nowhere, store_path(s))
refused("a symbolic link to nothing", "dangling", s, store_path(s), must_say="symbolic link")
check("a symbolic link to nothing: nothing is created where it points", not os.path.exists(nowhere))

# ===================================================== (e) the window
print(f"# (e) window: {WINDOW} days")


def quake(doc_id, i, date):
    return doc(doc_id, near(i), date, f"outlet-{doc_id}")


def two_runs(name, gap_date):
    s = os.path.join(work, f"state-{name}")
    first = os.path.join(work, f"{name}-1.jsonl")
    second = os.path.join(work, f"{name}-2.jsonl")
    write_jsonl(first, [quake("w-first", 0, "2024-03-01")])
    write_jsonl(second, [quake("w-later", 1, gap_date)])
    rc1, err1, _, _ = run(f"{name}-1", [first], s)
    rc2, err2, d, _ = run(f"{name}-2", [second], s)
    check(f"{name}: both runs exit 0", rc1 == 0 and rc2 == 0, err1[-800:] + err2[-800:])
    return stories_of(d).get("w-later")


got = two_runs("window-in", "2024-03-04")
check(f"across runs, {WINDOW} days after the story's last document: joins it", got == "w-first", got)
got = two_runs("window-out", "2024-03-05")
check(f"across runs, {WINDOW} + 1 days after: a new story", got == "w-later", got)
one = os.path.join(work, "window-one.jsonl")
write_jsonl(one, [quake("o-first", 0, "2024-03-01"), quake("o-in", 1, "2024-03-04"),
                  quake("o-out", 2, "2024-03-08"), quake("o-back", 3, "2024-03-09")])
rc, err, d, _ = run("window-one", [one], os.path.join(work, "state-window-one"))
got = stories_of(d)
check(f"within one run: {WINDOW} days after the story's last document: joins it",
      rc == 0 and got.get("o-in") == "o-first", f"exit {rc}: {got} {err[-800:]}")
check(f"within one run: {WINDOW} + 1 days after the last document (03-04 -> 03-08): a new story, "
      "which the next day's document joins",
      got.get("o-out") == "o-out" and got.get("o-back") == "o-out", got)

if tap.failed:
    print(f"# work directory kept: {work}")
else:
    shutil.rmtree(work, ignore_errors=True)
tap.finish()
