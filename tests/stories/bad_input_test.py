#!/usr/bin/env python3
"""The stories stage on bad input, through the real binary (jsonl -> stories
-> jsonl): every case ends with exit 0 and meta.story on every document, or
with its documented error code and a message naming the culprit; never a
crash or a hang.

  - documents with no words, empty text, only a title, no date, dates of
    1970-01-01 and 3000-01-01 (neither believed: a far-future date must not
    close the stream's stories) and garbage dates;
  - a 20 MB text (only its first 5,000 words are read: it must finish
    quickly) and a 1 MB title (the story's label stays short: memory per
    story is bounded);
  - 200,000 small documents of one story: every one gets meta.story, peak
    RSS stays under 300 MB, the run takes seconds;
  - invalid options: threshold 2, window -1, an unknown option, a model
    directory that does not exist: exit 2 naming the option or directory.

usage: bad_input_test.py TEXTMILL       (exit 0 pass, 1 fail)"""
import json, os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, counters, crashed, read_jsonl, tap, write_jsonl  # noqa: E402
from corpus import BANK, QUAKE, doc, near  # noqa: E402

tm = os.path.abspath(sys.argv[1])
work = tempfile.mkdtemp(prefix="stories-bad-")
MANY = 200_000
RSS_MAX_MB = 300
# Under AddressSanitizer (CI's second pass sets ASAN_OPTIONS) a run is several
# times slower and its RSS is mostly the sanitizer's shadow and quarantine:
# time limits stretch, and the RSS limit is not checked.
SANITIZED = bool(os.environ.get("ASAN_OPTIONS") or os.environ.get("UBSAN_OPTIONS"))
SLOW = 5 if SANITIZED else 1


def run(name, docs=None, options="{window: 3}", timeout=120, measure=False):
    """Writes docs (unless None: the input is already there) and runs them
    through the stage. Returns (rc, stderr, output docs or None, seconds,
    peak RSS of the run in MB when `measure`)."""
    inp = os.path.join(work, name + ".jsonl")
    if docs is not None:
        write_jsonl(inp, docs)
    out = os.path.join(work, name + ".out.jsonl")
    y = os.path.join(work, name + ".yaml")
    with open(y, "w", encoding="utf-8") as f:
        f.write(f"version: 1\nname: {name}\nsource: {{use: jsonl, with: {{paths: [{json.dumps(inp)}]}}}}\n"
                f"stages: [{{use: stories, with: {options}}}]\n"
                f"sinks: [{{use: jsonl, with: {{path: {json.dumps(out)}}}}}]\n")
    cmd = [tm, "run", y, "--stats"]
    if measure:
        # in a child of its own, so that RUSAGE_CHILDREN holds this run alone
        cmd = [sys.executable, "-c",
               "import resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[1:])\n"
               "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
               "sys.exit(r.returncode)"] + cmd
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", None, time.time() - t0, None
    dt = time.time() - t0
    rss = int(r.stdout) / 1024 if measure and r.stdout.strip().isdigit() else None
    docs_out = read_jsonl(out) if r.returncode == 0 and os.path.isfile(out) else None
    return r.returncode, r.stderr, docs_out, dt, rss


def all_have_story(what, rc, err, docs, n):
    """exit 0, n documents out, each with a non-empty meta.story."""
    check(f"{what}: no crash", not crashed(rc), f"exit {rc}: {err[-1500:]}")
    if not check(f"{what}: exit 0", rc == 0, f"exit {rc}: {err[-1500:]}"):
        return {}
    missing = [d["id"] for d in docs if not isinstance(d["meta"].get("story"), str) or not d["meta"]["story"]]
    check(f"{what}: all {n} documents out, every one with meta.story", len(docs) == n and not missing,
          f"{len(docs)} out; without a story: {missing[:10]}")
    return {d["id"]: d["meta"].get("story") for d in docs}


def quake(doc_id, i, date=None, title=True):
    d = doc(doc_id, near(i), date or "2024-03-01", "outlet-" + doc_id)
    if date is None:
        del d["meta"]["date"]
    if not title:
        del d["meta"]["title"]
    return d


print(f"# work directory: {work}")

# ============================================ 200,000 documents of one story
# first, while no other run has raised this process's children's peak RSS
print(f"# {MANY} small documents of one story")
verbs = ["rose", "climbed", "spread", "surged", "kept rising"]
with open(os.path.join(work, "many.jsonl"), "w", encoding="utf-8") as f:
    for i in range(MANY):
        f.write(json.dumps({"id": f"m{i}", "text": f"Flood waters {verbs[i % 5]} in Valencia as the "
                            f"Turia river burst its banks, rescuers said (update {i % 97}).",
                            "meta": {"date": f"2024-10-{29 + i * 3 // MANY:02d}",
                                     "source": f"outlet-{i % 40}"}}) + "\n")
rc, err, docs, dt, rss = run("many", None, timeout=150 * SLOW, measure=True)
got = all_have_story(f"{MANY} documents of one story", rc, err, docs or [], MANY)
if got:
    biggest = max(list(got.values()).count(s) for s in set(got.values())) if len(set(got.values())) < 1000 else 0
    check(f"{MANY} documents of one story: at least 99 % in one story ({len(set(got.values()))} stories)",
          biggest >= 0.99 * MANY, f"largest story: {biggest}")
    st = counters(err)
    check("... and reports as many open stories as the output has", st.get("open_stories") == len(set(got.values())), st)
print(f"#   {MANY} documents: {dt:.1f} s, peak RSS {rss} MB")
if SANITIZED:
    check(f"# SKIP peak RSS under a sanitizer ({rss} MB) says little of the stage's", True)
else:
    check(f"{MANY} documents of one story: peak RSS under {RSS_MAX_MB} MB", rss is not None and rss < RSS_MAX_MB,
          f"peak RSS {rss} MB")
check(f"{MANY} documents of one story: done within {60 * SLOW} s", dt < 60 * SLOW, f"{dt:.1f} s")
del docs, got
os.remove(os.path.join(work, "many.jsonl"))
os.remove(os.path.join(work, "many.out.jsonl")) if os.path.exists(os.path.join(work, "many.out.jsonl")) else None

# ============================================ empty, wordless, title only
print("# empty, wordless and title-only documents")
cases = [
    {"id": "empty", "text": ""},
    {"id": "blank", "text": " \n\t \n"},
    {"id": "punct", "text": "!!! ... --- ??? *** ''' \u2014 \u00bb\u00ab"},
    {"id": "stops", "text": "The and of, to in it: was he said."},
    {"id": "one-letter", "text": "a b c d e f g"},
    {"id": "title-only", "text": "", "meta": {"title": QUAKE[0][0], "date": "2024-03-01"}},
    {"id": "title-only-2", "text": "", "meta": {"title": QUAKE[1][0], "date": "2024-03-01"}},
    {"id": "empty-title", "text": "", "meta": {"title": "", "date": "2024-03-01"}},
    {"id": "hash", "text": "x" * 5000},
    {"id": "nul-ish", "text": "\u0000\u0001\u0002 flood \u0000"},
    quake("normal", 0, "2024-03-01"),
    {"id": "empty-again", "text": ""},
]
rc, err, docs, _, _ = run("empty", cases)
got = all_have_story("documents without words", rc, err, docs or [], len(cases))
if got:
    check("two documents without words do not form a story together (nothing shared)",
          got["empty"] != got["empty-again"] and got["empty"] != got["blank"], got)
    check("a title-only document is compared by its title (the normal document joins nothing it "
          "should not; the run goes on)", got["normal"] in ("normal", "title-only", "title-only-2"), got)

# ============================================ dates
print("# dates: none, 1970, 3000, garbage")
dates = [quake("d-first", 0, "2024-03-01"),
         quake("d-3000", 1, "3000-01-01"),       # if believed, it would close every story
         quake("d-next", 2, "2024-03-02"),
         quake("d-1970", 3, "1970-01-01"),
         quake("d-none", 1),
         doc("b-first", BANK[0], "2024-03-01", "x")]
garbage = ["2024-02-30", "2024-13-01", "yesterday", "", "99999-99-99", "2024/03/01", "0000-00-00",
           "9999-12-31", "\u0662\u0660\u0662\u0664-\u0660\u0663-\u0660\u0661", "2024-03-01" + "9" * 1000]
for k, g in enumerate(garbage):
    d = doc(f"g{k}", (BANK[0][0], f"{BANK[0][1]} Note {k}."), "x", "y")
    d["meta"]["date"] = g
    dates.append(d)
for k, g in enumerate([12345, None, True, ["2024-03-01"], {"y": 2024}]):
    d = doc(f"t{k}", (BANK[0][0], f"{BANK[0][1]} Aside {k}."), "x", "y")
    d["meta"]["date"] = g
    dates.append(d)
rc, err, docs, _, _ = run("dates", dates)
got = all_have_story("dates: none, 1970, 3000, garbage", rc, err, docs or [], len(dates))
if got:
    check("a document dated 3000-01-01 does not close the open stories: the next day's document "
          "joins its story", got["d-next"] == "d-first", got)
    check("documents dated 3000 and 1970 and undated ones are compared with the open stories "
          "(they join theirs)", got["d-3000"] == got["d-1970"] == got["d-none"] == "d-first", got)
    check("garbage dates: the bank documents still find their story",
          sum(1 for k in range(len(garbage)) if got[f"g{k}"] == "b-first") >= len(garbage) - 1, got)

# ============================================ a 20 MB text, a 1 MB title
print("# a 20 MB text; a 1 MB title")
words = QUAKE[0][1].split()
big_text = " ".join(words[i % len(words)] + ("" if i % 7 else str(i)) for i in range(3_200_000))[:20_000_000]
big = [quake("big-before", 1, "2024-03-01"),
       {"id": "big", "text": big_text, "meta": {"date": "2024-03-01", "title": QUAKE[0][0]}},
       quake("big-after", 2, "2024-03-02")]
rc, err, docs, dt, _ = run("big", big)
print(f"#   20 MB: {dt:.1f} s, stage {counters(err)}")
got = all_have_story("a 20 MB text", rc, err, docs or [], len(big))
check(f"a 20 MB text: done within {15 * SLOW} s ({dt:.1f} s)", dt < 15 * SLOW, f"{dt:.1f} s")
m = re.search(r"^stories \(stage\)\s+\S+\s+\d+\s+\d+\s+\d+\s+([\d.]+)$", err, re.M)
check(f"a 20 MB text: the stage itself takes under {2 * SLOW} s (it reads the first 5,000 words)",
      m is not None and float(m.group(1)) < 2 * SLOW, err[-1500:])
if got:
    check("a 20 MB text: the document went through whole (20,000,000 bytes of text out)",
          len([d for d in docs if d["id"] == "big"][0]["text"].encode()) == 20_000_000)
    check("a 20 MB text of the story joins it", got["big"] == "big-before", got)
del big, big_text, docs

long_title = "Izmir earthquake " + " ".join(f"rubble{i}" for i in range(120_000))
titled = [{"id": "lt-1", "text": QUAKE[0][1], "meta": {"title": long_title, "date": "2024-03-01"}}]
titled += [{"id": f"lt-{i}", "text": QUAKE[i % 4][1], "meta": {"title": long_title, "date": "2024-03-01"}}
           for i in range(2, 6)]
rc, err, docs, dt, _ = run("long-title", titled)
got = all_have_story("a 1 MB title", rc, err, docs or [], len(titled))
if got:
    labels = [len(d["meta"].get("story_label", "").encode()) for d in docs]
    check("a 1 MB title: story_label stays under 1 kB (memory per story is bounded)",
          max(labels) <= 1024, f"label bytes: {labels}")
    out_size = os.path.getsize(os.path.join(work, "long-title.out.jsonl"))
    in_size = os.path.getsize(os.path.join(work, "long-title.jsonl"))
    check("a 1 MB title: the output is not much larger than the input", out_size < in_size * 1.2,
          f"{in_size} bytes in, {out_size} out")
del titled, docs

# ============================================ invalid options
print("# invalid options")
small = [quake("o1", 0, "2024-03-01")]
missing_model = os.path.join(work, "no-such-model-dir")
for what, opts, must in [("threshold: 2", "{threshold: 2}", "threshold"),
                         ("window: -1", "{window: -1}", "window"),
                         ("an unknown option", "{windw: 3}", "windw"),
                         ("threshold: a word", "{threshold: high}", "threshold"),
                         ("a model directory that does not exist", "{model: " + json.dumps(missing_model) + "}",
                          missing_model)]:
    rc, err, docs, _, _ = run("opts", small, options=opts)
    errors = [l for l in err.splitlines() if "error" in l]
    check(f"{what}: exit 2", rc == 2, f"exit {rc}: {err[-1500:]}")
    check(f"{what}: the error names it", any(must in l for l in errors), err[-1500:])
    check(f"{what}: no output", not os.path.exists(os.path.join(work, "opts.out.jsonl")))
# a model directory that exists but holds no model, or a broken one
empty_model = os.path.join(work, "empty-model")
os.makedirs(empty_model)
rc, err, _, _, _ = run("opts", small, options="{model: " + json.dumps(empty_model) + "}")
check("a model directory without a model: exit 2 naming the file it lacks",
      rc == 2 and os.path.join(empty_model, "stories-en.model") in err, f"exit {rc}: {err[-1500:]}")
bad_model = os.path.join(work, "bad-model")
os.makedirs(bad_model)
with open(os.path.join(bad_model, "stories-en.model"), "w") as f:
    f.write("textmill-stories-model 1\nnames 1 2 3\n")
with open(os.path.join(bad_model, "df-en.tsv"), "w") as f:
    f.write("docs\t10\n")
rc, err, _, _, _ = run("opts", small, options="{model: " + json.dumps(bad_model) + "}")
check("a model file with too few weights: exit 2 naming it",
      rc == 2 and os.path.join(bad_model, "stories-en.model") in err, f"exit {rc}: {err[-1500:]}")
# the edges that are valid: window 0, threshold 1
rc, err, docs, _, _ = run("edges", [quake("e1", 0, "2024-03-01"), quake("e2", 1, "2024-03-01")],
                          options="{window: 0, threshold: 1}")
got = all_have_story("window: 0, threshold: 1", rc, err, docs or [], 2)

if tap.failed:
    print(f"# work directory kept: {work}")
else:
    shutil.rmtree(work, ignore_errors=True)
tap.finish()
