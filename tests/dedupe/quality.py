#!/usr/bin/env python3
"""Quality of the dedupe stage:

  (a) gold: the real pipeline (files -> split -> cleanup -> metadata ->
      dedupe(mode: mark) -> jsonl) over seeds/, against tests/gold/dupes.tsv:
      no pair is marked duplicate_of (the same-story pair 002 ~ 004 is two
      outlets' words, not a copy), and dedupe writes no meta.story (stories
      moved to the `stories` stage, whose old options are refused, exit 2);
  (b) a generated near-duplicate corpus (gen_corpus.py, real article text),
      default options, mode mark and mode drop: recall over copies with at
      most 10 % word edits and at 15 %, over new-lead and syndicated copies
      at or above the threshold, pairwise precision (hard negatives: related
      documents that quote part of an original), recall by edit rate; and
      over ../shared's same-story news, no link between texts that are not
      copies;
  (f) robust clustering: at a low threshold an original falsely linked to a
      document that quotes it still gathers its own copies;
  (c) exact only (near: false): exact copies and case/whitespace variants are
      found, and nothing else;
  (d) state across runs: run 2 finds copies of documents kept in run 1; a run
      that fails leaves no index entry behind;
  (e) bad input: empty and one-word documents, long distinct documents, a
      20 MB document, a corrupt and a locked state file: a clear error or a
      working fallback, never a crash or a hang.

Parts needing ../shared (the NER text that enlarges the corpus) fall back to
the seed articles alone, with a message.

usage: quality.py TEXTMILL SOURCE_DIR        (exit 0 pass, 1 fail)"""
import glob, json, os, random, re, shutil, sqlite3, subprocess, sys, tempfile, time, unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_corpus  # noqa: E402

tm, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shared = os.environ.get("TEXTMILL_SHARED", os.path.join(src, "..", "shared"))
work = tempfile.mkdtemp(prefix="dedupe-quality-")
RECALL_MIN, PRECISION_MIN = 0.95, 0.99
LIGHT = 0.10            # copies with at most this edit rate: recall >= RECALL_MIN
RECALL_15 = 0.90        # copies with 15 % of their words edited (J ~ 0.49)
THRESHOLD = 0.45        # the stage's default: copies at or above it must be found
SAME_WORDS_KINDS = ("exact", "case", "whitespace", "reflow", "chrome", "cut")
TIMEOUT = 300           # one run; a hang is a failure, not a stuck ctest
fails = n_checks = 0


def check(what, cond, detail=""):
    global fails, n_checks
    n_checks += 1
    print(("ok" if cond else "not ok") + f" {n_checks} - {what}", flush=True)
    if not cond:
        fails += 1
        if detail:
            print("#   " + str(detail)[:3000].replace("\n", "\n#   "))


def crashed(rc):
    # a signal (Python reports -N) or a shell-style 128+N is a crash, whatever
    # else the run printed
    return rc is None or rc < 0 or rc >= 128


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def read_jsonl(path):
    return [json.loads(l) for l in open(path, encoding="utf-8")]


def run(name, source, stages, out=None, extra="", sink=None, timeout=TIMEOUT):
    """Writes and runs a pipeline. Returns (rc, stderr, docs or None, seconds).
    rc is None on a timeout."""
    out = out or os.path.join(work, name + ".out.jsonl")
    sink = sink or f'{{use: jsonl, with: {{path: "{out}"}}}}'
    y = os.path.join(work, name + ".yaml")
    with open(y, "w", encoding="utf-8") as f:
        f.write(f"version: 1\nname: {name}\n{extra}source: {source}\nstages: {stages}\nsinks: [{sink}]\n")
    t0 = time.time()
    try:
        r = subprocess.run([tm, "run", y, "--stats"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", None, time.time() - t0
    dt = time.time() - t0
    docs = read_jsonl(out) if r.returncode == 0 and os.path.isfile(out) else None
    return r.returncode, r.stderr, docs, dt


def jsonl_source(path):
    return f'{{use: jsonl, with: {{paths: ["{path}"]}}}}'


def dedupe(**opts):
    w = ", ".join(f"{k}: {json.dumps(v)}" for k, v in opts.items())
    return f"[{{use: dedupe, with: {{{w}}}}}]" if w else "[{use: dedupe}]"


def drops_of(stderr, step="dedupe"):
    """Drop counts by reason of one step, from the --stats table."""
    out, inside = {}, False
    for line in stderr.splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith(f"{step} (stage)")
        elif inside:
            m = re.match(r"^\s+dropped (\S+)\s+(\d+)$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def clusters(docs):
    """id -> the id of the kept document it was grouped with (itself if kept);
    chains are followed in case a duplicate points at another duplicate."""
    dup = {d["id"]: d["meta"].get("duplicate_of") for d in docs}
    rep = {}
    for i in dup:
        j, seen = i, 0
        while dup.get(j) and seen < 50:
            j, seen = dup[j], seen + 1
        rep[i] = j
    return rep


if subprocess.run([tm, "plugins", "dedupe"], capture_output=True).returncode != 0:
    print(f"FAIL: `{tm} plugins dedupe` fails: the dedupe plugin is not built")
    sys.exit(1)
print(f"work directory: {work}")

# =============================================================== (a) gold
print("\n== (a) gold: seeds through files, split, cleanup, metadata, dedupe (mark)")
gold_dir = os.path.join(src, "tests", "gold")


def norm(s):
    return " ".join(unicodedata.normalize("NFC", s or "").split())


articles = [json.loads(l) for l in open(os.path.join(gold_dir, "articles.jsonl"), encoding="utf-8")]
gold_key, per_file = {}, {}
for g in articles:
    f = g["file"][:3]
    idx = per_file.get(f, 0)
    per_file[f] = idx + 1
    gold_key[norm(g["title"])] = f"{f}#{idx}"
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(gold_dir, "dupes.tsv"), encoding="utf-8")][1:]
want_dup = set()
for fa, ia, fb, ib, label, _ in rows:
    pair = tuple(sorted((f"{fa[:3]}#{ia}", f"{fb[:3]}#{ib}")))
    if label in ("exact_duplicate", "near_duplicate", "exact", "near"):
        want_dup.add(pair)

rc, err, docs, _ = run("gold", f'{{use: files, with: {{paths: ["{src}/seeds/*.txt"]}}}}',
                       "[{use: split}, {use: cleanup}, {use: metadata}, {use: dedupe, with: {mode: mark}}]")
check("gold pipeline runs", rc == 0, err)
if rc == 0:
    def gold_of(d):
        # by title first (as the brief's identity); else by the id's #N suffix
        k = gold_key.get(norm(d["meta"].get("title")))
        if k:
            return k
        m = re.match(r"^(\d{3})_[0-9a-f]+(?:#(\d+))?$", d["id"])
        return f"{m.group(1)}#{m.group(2) or 0}?" if m else "?" + d["id"]
    name = {d["id"]: gold_of(d) for d in docs}
    unmapped = [f"{d['id']} ({d['meta'].get('title')!r})" for d in docs if name[d["id"]].endswith("?") or name[d["id"]].startswith("?")]
    print(f"documents: {len(docs)}; mapped to gold by title: {len(docs) - len(unmapped)}/{len(articles)}")
    for u in unmapped:
        print(f"  not mapped by title: {u}")
    got_dup = {tuple(sorted((name[d["id"]], name.get(d["meta"]["duplicate_of"], d["meta"]["duplicate_of"]))))
               for d in docs if d["meta"].get("duplicate_of")}
    for d in docs:
        if d["meta"].get("duplicate_of"):
            print(f"  duplicate: {name[d['id']]} -> {d['meta']['duplicate_of']} "
                  f"({d['meta'].get('duplicate_kind')}, similarity {d['meta'].get('similarity')})")
    print(f"duplicate pairs found: {sorted(got_dup)}; expected: {sorted(want_dup)}")
    storied = [d["id"] for d in docs if "story" in d["meta"] or "story_evidence" in d["meta"]]
    check("dedupe writes no meta.story or meta.story_evidence (the stories stage does)", not storied, storied)
    check("duplicate_of pairs are exactly the gold duplicate pairs (none)", got_dup == want_dup, sorted(got_dup))
    check("all 14 gold articles come out as documents", len(set(name.values()) & set(gold_key.values())) == len(articles),
          sorted(set(gold_key.values()) - set(name.values())))

# =============================================================== moved options
print("\n== the story options moved to the stories stage")
one = os.path.join(work, "one.jsonl")
write_jsonl(one, [{"id": "a", "text": "one short text"}])
for opt, val in (("story", True), ("story_threshold", 0.4), ("story_max_days", 3), ("story_window", 20000)):
    rc, err, _, _ = run(f"moved-{opt}", jsonl_source(one), dedupe(**{opt: val}))
    check(f"`{opt}: {json.dumps(val)}` is a config error (exit 2) that says where the feature went",
          rc == 2 and f"`{opt}` has moved to the `stories` stage" in err and "use: stories" in err, f"exit {rc}: {err}")
rc, err, d, _ = run("moved-story-false", jsonl_source(one), dedupe(story=False))
check("`story: false` still runs, with a warning that it is ignored",
      rc == 0 and "`story: false` is ignored" in err and d is not None and len(d) == 1, f"exit {rc}: {err}")

# =============================================================== the corpus
print("\n== the generated corpus")
have_shared = os.path.isdir(os.path.join(shared, "data", "ner"))
if not have_shared:
    print(f"SKIP the ../shared part of the corpus: {shared}/data/ner not found; "
          "using the seed articles alone (fewer originals, more copies of each)")
corpus_docs, truth, info = gen_corpus.generate(src, shared if have_shared else None, seed=1)
corpus = os.path.join(work, "corpus.jsonl")
gen_corpus.write(corpus_docs, truth, corpus, os.path.join(work, "truth.tsv"))
print(f"corpus: {json.dumps(info)}; {os.path.getsize(corpus) / 1e6:.1f} MB")
ids = [d["id"] for d in corpus_docs]
group = {i: truth[i]["original"] for i in ids}
RATES = [0.0] + list(gen_corpus.RATES)
EXACT_KINDS = ("exact", "case", "whitespace", "reflow")   # the same words after normalisation


def is_light(i):
    t = truth[i]
    return (t["kind"] == "edit" and t["rate"] <= LIGHT + 1e-9) or t["kind"] in SAME_WORDS_KINDS


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def evaluate(docs, label):
    """Mark-mode output against the truth: prints every number, returns
    (recall over light copies, pairwise precision, per-document results)."""
    meta = {d["id"]: d["meta"] for d in docs}
    rep = clusters(docs)
    found = {i: bool(meta[i].get("duplicate_of")) and group.get(meta[i]["duplicate_of"]) == group[i] for i in ids}
    light = [i for i in ids if is_light(i)]
    recall = mean([found[i] for i in light])
    # pairwise precision over the predicted clusters (kept document + its duplicates)
    members = {}
    for i in ids:
        members.setdefault(rep[i], []).append(i)
    tp = fp = 0
    false_pairs = []
    for m in members.values():
        for a in range(len(m)):
            for b in range(a + 1, len(m)):
                if group[m[a]] == group[m[b]]:
                    tp += 1
                else:
                    fp += 1
                    false_pairs.append((m[a], m[b]))
    precision = tp / (tp + fp) if tp + fp else 1.0
    links = [i for i in ids if meta[i].get("duplicate_of")]
    false_links = [i for i in links if group.get(meta[i]["duplicate_of"]) != group[i]]
    # pairwise recall, for reference: true pairs among original + light copies
    true_pairs = hit = 0
    lights = {}
    for i in ids:
        if truth[i]["kind"] == "original" or is_light(i):
            lights.setdefault(group[i], []).append(i)
    for m in lights.values():
        for a in range(len(m)):
            for b in range(a + 1, len(m)):
                true_pairs += 1
                hit += rep[m[a]] == rep[m[b]]
    print(f"[{label}] copies with <= {LIGHT:.0%} edits found: {sum(found[i] for i in light)}/{len(light)} "
          f"= recall {recall:.4f}; pairwise recall (original + light copies) {hit}/{true_pairs} = "
          f"{hit / max(true_pairs, 1):.4f}")
    print(f"[{label}] pairwise precision {tp}/{tp + fp} = {precision:.4f}; duplicate_of links {len(links)}, "
          f"false {len(false_links)}; originals marked duplicate: "
          f"{sum(1 for i in ids if truth[i]['kind'] == 'original' and meta[i].get('duplicate_of'))}")
    for a, b in false_pairs[:10]:
        print(f"    false pair {a} ({truth[a]['origin']}) ~ {b} ({truth[b]['origin']})")
    print(f"[{label}] recall by edit rate (word edits; true word-3-shingle Jaccard; similarity as reported):")
    print("    | edit rate | copies | found | recall | mean true J | mean meta.similarity of found |")
    print("    |---:|---:|---:|---:|---:|---:|")
    for r in gen_corpus.RATES:
        xs = [i for i in ids if truth[i]["kind"] == "edit" and abs(truth[i]["rate"] - r) < 1e-9]
        sims = [meta[i]["similarity"] for i in xs if isinstance(meta[i].get("similarity"), (int, float))]
        print(f"    | {r:.0%} | {len(xs)} | {sum(found[i] for i in xs)} | {mean([found[i] for i in xs]):.3f} | "
              f"{mean([truth[i]['jaccard'] for i in xs]):.3f} | {mean(sims):.3f} |")
    print(f"[{label}] by kind (0 % word edits):")
    for k in ("exact", "case", "whitespace", "reflow", "chrome", "cut", "lead", "syndicated", "related"):
        xs = [i for i in ids if truth[i]["kind"] == k]
        kinds = {}
        for i in xs:
            kinds[meta[i].get("duplicate_kind")] = kinds.get(meta[i].get("duplicate_kind"), 0) + 1
        above = [i for i in xs if truth[i]["jaccard"] >= THRESHOLD]
        print(f"    {k:<10} {sum(found[i] for i in xs)}/{len(xs)} found ({sum(found[i] for i in above)}/{len(above)} "
              f"with true J >= {THRESHOLD}); duplicate_kind {kinds}")
    return recall, precision, found, meta


# =============================================================== (b) default options
print("\n== (b) default options over the corpus")
rc, err, marked, dt = run("mark", jsonl_source(corpus), dedupe(mode="mark"))
check("mode: mark runs", rc == 0, err)
mark_dups = set()
if rc == 0:
    print(f"mode mark: {len(marked)} documents out of {len(ids)} in {dt:.2f} s "
          f"({os.path.getsize(corpus) / 1e6 / dt:.1f} MB/s with process start)")
    check("mode: mark keeps every document, in input order", [d["id"] for d in marked] == ids)
    recall, precision, found, meta = evaluate(marked, "mark")
    check(f"recall over copies with <= {LIGHT:.0%} edits (and same-words, chrome, cut copies) >= {RECALL_MIN}",
          recall >= RECALL_MIN, f"{recall:.4f}")
    for r, want in ((0.05, RECALL_MIN), (0.10, RECALL_MIN), (0.15, RECALL_15)):
        xs = [i for i in ids if truth[i]["kind"] == "edit" and abs(truth[i]["rate"] - r) < 1e-9]
        got = mean([found[i] for i in xs])
        check(f"recall at {r:.0%} word edits >= {want}", got >= want, f"{got:.4f}")
    xs = [i for i in ids if truth[i]["kind"] in ("lead", "syndicated") and truth[i]["jaccard"] >= THRESHOLD]
    got = mean([found[i] for i in xs])
    check(f"new-lead and syndicated copies with true J >= {THRESHOLD}: recall >= {RECALL_MIN}", got >= RECALL_MIN,
          f"{got:.4f} of {len(xs)}")
    check(f"pairwise precision >= {PRECISION_MIN}", precision >= PRECISION_MIN, f"{precision:.4f}")
    rel = [i for i in ids if truth[i]["kind"] == "related"]
    rel_false = [i for i in ids if meta[i].get("duplicate_of") and
                 (truth[i]["kind"] == "related" or truth[meta[i]["duplicate_of"]]["kind"] == "related")]
    print(f"[mark] links to or from the {len(rel)} related documents (all false): {len(rel_false)}")
    check("at most 2 % of the related documents (hard negatives) are linked", len(rel_false) <= 0.02 * len(rel),
          [(i, meta[i].get("duplicate_of"), truth[i]["jaccard"]) for i in rel_false])
    mark_dups = {i for i in ids if meta[i].get("duplicate_of")}
    # the meta the interface promises on a duplicate
    bad = [i for i in mark_dups if meta[i].get("duplicate_kind") not in ("exact", "near")
           or not isinstance(meta[i].get("similarity"), (int, float))
           or not 0 <= meta[i]["similarity"] <= 1 or meta[i]["duplicate_of"] not in meta]
    check("every duplicate has duplicate_kind exact|near, similarity in [0,1], duplicate_of a known id",
          not bad, [(i, meta[i]) for i in bad[:5]])
    wrong_kind = [i for i in mark_dups if found[i] and
                  (truth[i]["kind"] in EXACT_KINDS) != (meta[i]["duplicate_kind"] == "exact")]
    check("duplicate_kind is exact for same-words copies (exact, case, whitespace, reflow), near otherwise",
          not wrong_kind, [(i, truth[i]["kind"], meta[i]["duplicate_kind"]) for i in wrong_kind[:10]])
    exact_sim = [meta[i]["similarity"] for i in mark_dups if meta[i].get("duplicate_kind") == "exact"]
    check("exact duplicates have similarity 1", all(s == 1 for s in exact_sim), exact_sim[:10])

rc, err, dropped_out, dt = run("drop", jsonl_source(corpus), dedupe())
check("mode: drop (the default) runs", rc == 0, err)
if rc == 0:
    kept = {d["id"] for d in dropped_out}
    dropped = set(ids) - kept
    stats = drops_of(err)
    print(f"mode drop: {len(kept)} kept, {len(dropped)} dropped in {dt:.2f} s; --stats drops by reason: {stats}")
    check("drops are counted under reason 'duplicate'", stats.get("duplicate", 0) == len(dropped) and
          set(stats) <= {"duplicate"}, stats)
    survivors = {}
    for i in kept:
        survivors[group[i]] = True
    light = [i for i in ids if is_light(i)]
    found_d = [i for i in light if i in dropped and survivors.get(group[i])]
    recall_d = len(found_d) / len(light)
    # a dropped document none of whose group survives can only have been
    # matched to another original's document
    false_d = [i for i in dropped if not survivors.get(group[i])]
    print(f"[drop] copies with <= {LIGHT:.0%} edits dropped with their original kept: {len(found_d)}/{len(light)} "
          f"= recall {recall_d:.4f}; dropped documents whose whole group is gone (false): {len(false_d)}")
    for r in gen_corpus.RATES:
        xs = [i for i in ids if truth[i]["kind"] == "edit" and abs(truth[i]["rate"] - r) < 1e-9]
        print(f"    drop recall at {r:.0%}: {sum(i in dropped for i in xs)}/{len(xs)}")
    check(f"mode: drop recall >= {RECALL_MIN}", recall_d >= RECALL_MIN, f"{recall_d:.4f}")
    # an original with a false link is dropped and its copies with it (they
    # are its duplicates): the price of a false link, bounded by precision
    lost = {group[i] for i in false_d}
    print(f"[drop] groups dropped whole: {len(lost)} of {len(set(group.values()))}; originals dropped: "
          f"{sum(1 for i in dropped if truth[i]['kind'] == 'original')}")
    check("mode: drop drops at most 1 % of the groups whole", len(lost) <= 0.01 * len(set(group.values())),
          sorted(lost)[:10])
    if mark_dups:
        check("mode: drop drops exactly the documents mode: mark marks", dropped == mark_dups,
              f"only dropped: {sorted(dropped - mark_dups)[:10]}; only marked: {sorted(mark_dups - dropped)[:10]}")

# Real hard negatives: ../shared's same-story news (many similar shootings in
# one city and week, one topic's two events): a link between two texts whose
# word-3-shingle Jaccard is under 0.3 is false, whatever the story labels say
# (they hold a few syndicated copies, and one copy filed under two stories).
stories_data = os.path.join(shared, "data", "stories", "docs.jsonl")
if os.path.isfile(stories_data):
    rc, err, st_out, dt = run("stories-data", jsonl_source(stories_data), dedupe(mode="mark"))
    check("the same-story news of ../shared runs", rc == 0, err)
    if st_out is not None:
        text = {x["id"]: x["text"] for x in st_out}
        label = {json.loads(l)["id"]: json.loads(l)["story"] for l in open(stories_data, encoding="utf-8")}
        links = [(x["id"], x["meta"]["duplicate_of"], x["meta"]["similarity"]) for x in st_out
                 if x["meta"].get("duplicate_of")]
        true_j = {(a, b): gen_corpus.jaccard(gen_corpus.shingles(text[a]), gen_corpus.shingles(text[b])) for a, b, _ in links}
        bad = [(a, b, sim, round(true_j[(a, b)], 3)) for a, b, sim in links if true_j[(a, b)] < 0.3]
        across = sum(1 for a, b, _ in links if label[a] != label[b])
        print(f"[stories data] {len(st_out)} documents: {len(links)} links ({across} across story labels), "
              f"true J of the linked pairs: min {min(true_j.values(), default=1):.3f}; links under J 0.3: {len(bad)}")
        check("no link between same-story news texts that are not copies (true J < 0.3)", not bad, bad[:10])
else:
    print(f"SKIP the same-story news check: {stories_data} not found")

# =============================================================== (c) exact only
print("\n== (c) exact only (near: false)")
rc, err, ex, dt = run("exact", jsonl_source(corpus), dedupe(mode="mark", near=False))
check("near: false runs", rc == 0, err)
if rc == 0:
    meta = {d["id"]: d["meta"] for d in ex}
    want = {i for i in ids if truth[i]["kind"] in EXACT_KINDS}
    got = {i for i in ids if meta[i].get("duplicate_of")}
    right = {i for i in got if group.get(meta[i]["duplicate_of"]) == group[i]}
    for k in EXACT_KINDS + ("chrome", "edit"):
        xs = [i for i in ids if truth[i]["kind"] == k]
        print(f"    {k:<10} marked {sum(i in got for i in xs)}/{len(xs)}")
    check("exact copies, case-only and whitespace-only variants (reflow included) are all found",
          want <= right, sorted(want - right)[:10])
    check("nothing else is marked (no near duplicates, no originals)", got <= want, sorted(got - want)[:10])
    check("every exact-only duplicate says duplicate_kind: exact",
          all(meta[i].get("duplicate_kind") == "exact" for i in got))

# =============================================================== (d) state across runs
print("\n== (d) state across runs")
half = len(ids) // 2
part1, part2 = os.path.join(work, "part1.jsonl"), os.path.join(work, "part2.jsonl")
write_jsonl(part1, corpus_docs[:half])
write_jsonl(part2, corpus_docs[half:])
ids1, ids2 = set(ids[:half]), ids[half:]


def cross_run(state, mode, tag, snapshot=None):
    """Runs part 1 then part 2 over one state directory; returns run 1's and
    run 2's documents (None on failure). `snapshot`: where to copy the state
    as run 1 left it."""
    extra = f'state: "{state}"\n'
    rc1, err1, d1, _ = run(f"{tag}1", jsonl_source(part1), dedupe(mode=mode), extra=extra)
    check(f"[{mode}] run 1 (first half) with state: runs", rc1 == 0, err1)
    if snapshot and rc1 == 0:
        shutil.copytree(state, snapshot)
    rc2, err2, d2, _ = run(f"{tag}2", jsonl_source(part2), dedupe(mode=mode), extra=extra)
    check(f"[{mode}] run 2 (second half) over the same state runs", rc2 == 0, err2)
    return d1, d2, err2


state_m = os.path.join(work, "state-mark")
snap1 = os.path.join(work, "state-after-run1")
r1, r2, _ = cross_run(state_m, "mark", "xm", snapshot=snap1)
files = sorted(os.path.relpath(p, state_m) for p in glob.glob(os.path.join(state_m, "**"), recursive=True)
               if os.path.isfile(p))
print(f"state directory after two runs: {files}")
run1_ref = {d["id"]: d["meta"].get("duplicate_of") for d in (r1 or [])}
if r1 and r2:
    m1 = {d["id"]: d["meta"] for d in r1}
    m2 = {d["id"]: d["meta"] for d in r2}
    # copies in run 2 whose original was in run 1 and kept there
    expect = [i for i in ids2 if is_light(i) and group[i] in ids1 and not m1[group[i]].get("duplicate_of")]
    ok = [i for i in expect if m2[i].get("duplicate_of") in ids1 and group[m2[i]["duplicate_of"]] == group[i]]
    later = [i for i in ids2 if m2[i].get("duplicate_of") and group[i] in ids1]
    to_run1 = [i for i in later if m2[i]["duplicate_of"] in ids1]
    false_x = [i for i in ids2 if m2[i].get("duplicate_of") in ids1 and group[m2[i]["duplicate_of"]] != group[i]]
    unknown = [i for i in ids2 if m2[i].get("duplicate_of") and m2[i]["duplicate_of"] not in ids1
               and m2[i]["duplicate_of"] not in m2]
    rec = len(ok) / max(len(expect), 1)
    print(f"run 2: light copies of run-1 originals found pointing to a run-1 document of their group: "
          f"{len(ok)}/{len(expect)} = {rec:.4f}; run-2 duplicates of run-1 groups pointing into run 1: "
          f"{len(to_run1)}/{len(later)}; false cross-run links: {len(false_x)}; unknown targets: {len(unknown)}")
    check(f"run 2 marks copies of run-1 documents with duplicate_of = the run-1 id (recall >= {RECALL_MIN})",
          expect and rec >= RECALL_MIN, [(i, m2[i].get("duplicate_of")) for i in expect if i not in ok][:10])
    check("no false links across runs", not false_x, false_x[:10])
    check("duplicate_of always names a document of this run or an earlier one", not unknown, unknown[:10])
    mark2 = {i for i in ids2 if m2[i].get("duplicate_of")}
    state_d = os.path.join(work, "state-drop")
    d1, d2, err2 = cross_run(state_d, "drop", "xd")
    if d2 is not None:
        dropped2 = set(ids2) - {d["id"] for d in d2}
        print(f"mode drop across runs: run 2 dropped {len(dropped2)} ({drops_of(err2)}); mode mark marked {len(mark2)}")
        check("across runs, mode: drop drops exactly what mode: mark marks", dropped2 == mark2,
              f"{sorted(dropped2 ^ mark2)[:10]}")

# A failed run must not commit its index entries: the good run that follows
# over the same input must behave exactly as over fresh state.
fail_plugin = os.path.join(os.path.dirname(os.path.dirname(tm)), "tests", "plugins", "process_fails.so")


def after_failure(tag, stages, sink=None, base=None, source=None, extra=""):
    """A failing run over part 1 (over fresh state), or over part 2 (over the
    state run 1 left, `base`), then the good mark-mode run over the same input
    and state: its result must equal (d)'s run over that input."""
    state = os.path.join(work, f"state-{tag}")
    if base:
        shutil.copytree(base, state)
    extra = f'state: "{state}"\n' + extra
    inp = part2 if base else part1
    out = os.path.join(work, f"{tag}-fail.out.jsonl")
    rc, err, _, _ = run(f"{tag}-fail", source or jsonl_source(inp), stages, out=out, extra=extra, sink=sink)
    for line in err.splitlines():
        if line.startswith("textmill:"):
            print(f"    failing run: exit {rc}: {line}")
    check(f"[{tag}] the failing run fails cleanly (exit 1-4, no crash)", rc is not None and 1 <= rc <= 4,
          f"exit {rc}: {err}")
    if sink is None:
        check(f"[{tag}] the failing run commits no output", not os.path.exists(out))
    rc, err, d, _ = run(f"{tag}-good", jsonl_source(inp), dedupe(mode="mark"), extra=f'state: "{state}"\n')
    check(f"[{tag}] the good run afterwards succeeds", rc == 0, err)
    if d is None:
        return
    got = {x["id"]: x["meta"].get("duplicate_of") for x in d}
    self_dup = [i for i, v in got.items() if v == i]
    # the failed run's documents must have left nothing the good run sees
    ref = run1_ref if not base else {x["id"]: x["meta"].get("duplicate_of") for x in (r2 or [])}
    diff = [i for i in got if got[i] != ref.get(i)]
    print(f"    good run: {sum(1 for v in got.values() if v)} duplicates, {len(self_dup)} of themselves, "
          f"{len(diff)} differ from a run without the failure")
    check(f"[{tag}] no document is a duplicate of itself", not self_dup, self_dup[:10])
    check(f"[{tag}] the result equals a run without the failed one", ref and not diff,
          [(i, got[i], ref.get(i)) for i in diff[:10]])


if os.path.isfile(fail_plugin):
    stages_fail = f'[{{use: dedupe, with: {{mode: mark}}}}, {{use: "{fail_plugin}"}}]'
    after_failure("stage-fails", stages_fail)
    # a failure over state that already holds run 1: run 2's input must then
    # come out as it did in (d), as if the failed run never happened
    if r2 is not None and os.path.isdir(snap1):
        after_failure("stage-fails-on-state", stages_fail, base=snap1)
else:
    print(f"SKIP the failing-stage cases: {fail_plugin} not built")
# the source fails at its last line, after many small batches went through dedupe
bad_tail = os.path.join(work, "part1-bad-tail.jsonl")
with open(bad_tail, "w", encoding="utf-8") as f:
    f.write(open(part1, encoding="utf-8").read() + '{"id": "broken", "text": \n')
after_failure("source-fails-late", dedupe(mode="mark"), source=jsonl_source(bad_tail), extra="batch_bytes: 65536\n")
# the sink's path is a directory (refused before any data flows, as it turns out)
sink_dir = os.path.join(work, "sink-is-a-directory")
os.makedirs(sink_dir, exist_ok=True)
after_failure("sink-fails", dedupe(mode="mark"), sink=f'{{use: jsonl, with: {{path: "{sink_dir}"}}}}')

# =============================================================== (e) bad input
print("\n== (e) bad input")


def outcome(what, rc, err, names=(), out=None):
    """A run is acceptable when it succeeds or fails with exit 2-4 and a
    message naming one of `names` (the file at fault). Never a crash/hang."""
    for line in (err or "").splitlines():
        if line.startswith("textmill:") or rc is None:
            print(f"    {what}: exit {rc}; {line[:300]}")
    if rc and out and os.path.exists(out):
        # plugin.h commits sinks before stage state, so a state that cannot be
        # saved fails the run after its output is in place; say so
        print(f"    NOTE: the run failed (exit {rc}) but its output {os.path.basename(out)} was committed")
    check(f"{what}: no crash or hang", not crashed(rc), f"exit {rc}: {err[-1500:]}")
    if rc is not None and rc != 0 and not crashed(rc):
        check(f"{what}: a clear error (exit 2-4, naming the file)",
              2 <= rc <= 4 and (not names or any(n in err for n in names)), err[-1500:])


tiny = [{"id": "empty1", "text": ""}, {"id": "empty2", "text": ""}, {"id": "blank", "text": " \n\t "},
        {"id": "one1", "text": "word"}, {"id": "one2", "text": "word"}, {"id": "one3", "text": "Word."},
        {"id": "two", "text": "two words"},
        {"id": "normal", "text": corpus_docs[0]["text"]}]
p = os.path.join(work, "tiny.jsonl")
write_jsonl(p, tiny)
for mode in ("mark", "drop"):
    rc, err, d, _ = run(f"tiny-{mode}", jsonl_source(p), dedupe(mode=mode))
    outcome(f"empty and one-word documents, mode {mode}", rc, err, ["tiny.jsonl"])
    if d is not None:
        for x in d:
            print(f"      {x['id']:<7} " + json.dumps({k: v for k, v in x["meta"].items()
                                                      if k in ("duplicate_of", "duplicate_kind", "similarity")}))
        if mode == "mark":
            check("mode mark keeps all of them", len(d) == len(tiny))
        check(f"[{mode}] the normal document is kept and no document is a duplicate of itself",
              "normal" in {x["id"] for x in d} and not any(x["meta"].get("duplicate_of") == x["id"] for x in d))

# Long distinct documents: random word sequences share almost no shingles, so
# whatever their length they are not duplicates (a signature that keeps the
# wrong bits of long texts' minima makes them all look alike).
rng = random.Random(5)
vocab = sorted({w for d in corpus_docs[:200] for w in d["text"].split() if w.isalpha()})
longs = []
for n in (5000, 30000, 150000):
    for k in range(2):
        longs.append({"id": f"long{n}-{k}", "text": " ".join(rng.choice(vocab) for _ in range(n))})
p = os.path.join(work, "long.jsonl")
write_jsonl(p, longs)
rc, err, d, dt = run("long", jsonl_source(p), dedupe(mode="mark"))
outcome("distinct documents of 5,000, 30,000 and 150,000 words", rc, err, ["long.jsonl"])
if d is not None:
    for x in d:
        print(f"      {x['id']:<12} " + json.dumps({k: v for k, v in x["meta"].items()
                                                  if k in ("duplicate_of", "duplicate_kind", "similarity")}))
    wrong = [x["id"] for x in d if x["meta"].get("duplicate_of")]
    check("long distinct documents are not duplicates of each other", not wrong, wrong)

# 20 MB: one document of random words, an exact copy and a 1 % edited copy
rng = random.Random(7)
words, size = [], 0
while size < 20_000_000:
    w = rng.choice(vocab)
    words.append(w)
    size += len(w) + 1
big = " ".join(words)
big_near = gen_corpus.word_edits(big, 0.01, rng, vocab)
p = os.path.join(work, "big.jsonl")
write_jsonl(p, [{"id": "big", "text": big}, {"id": "big-copy", "text": big}, {"id": "big-near", "text": big_near}])
del words, big, big_near
# 60 MB of text takes a few seconds to hash; two minutes means something is
# quadratic in the length of a document
rc, err, d, dt = run("big", jsonl_source(p), dedupe(mode="mark"), timeout=120)
outcome(f"a 20 MB document (+ exact copy + 1 % edited copy), {os.path.getsize(p) / 1e6:.0f} MB in {dt:.1f} s",
        rc, err, ["big"])
if d is not None:
    m = {x["id"]: x["meta"] for x in d}
    print("      " + json.dumps({i: {k: v for k, v in m[i].items() if k in ("duplicate_of", "duplicate_kind", "similarity")}
                                 for i in m}))
    check("the 20 MB exact copy is found", m.get("big-copy", {}).get("duplicate_of") == "big")
    check("the 20 MB 1 %-edited copy is found", m.get("big-near", {}).get("duplicate_of") == "big")
    # 1 % word edits leave a word-3-shingle Jaccard of about 0.95 (see the
    # table of (b)): an estimate of 1 from 128 values has odds of about 0.1 %
    sim = m.get("big-near", {}).get("similarity")
    check("its similarity is an estimate of ~0.95, not 1", isinstance(sim, (int, float)) and sim < 0.995, sim)
del d
for f in (p, os.path.join(work, "big.out.jsonl")):   # 60 MB each: not worth keeping
    if os.path.exists(f):
        os.remove(f)

small = os.path.join(work, "small.jsonl")
write_jsonl(small, corpus_docs[:60])


def store_files(state):
    """SQLite files the stage created in the state directory."""
    out = []
    for f in glob.glob(os.path.join(state, "**"), recursive=True):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                if fh.read(16) == b"SQLite format 3\x00":
                    out.append(f)
    return sorted(out, key=lambda f: ("dedupe" not in os.path.basename(f), f))


def forget_inputs(state):
    """The cases below run the same input again over the dedupe store; the
    run ledger would skip an input an earlier run completed, so it is
    removed (the store stays)."""
    for f in glob.glob(os.path.join(state, "ledger.db*")):
        os.remove(f)


# corrupt state file
state = os.path.join(work, "state-corrupt")
extra = f'state: "{state}"\n'
rc, err, _, _ = run("corrupt-0", jsonl_source(small), dedupe(mode="mark"), extra=extra)
check("a run with state creates its store", rc == 0 and store_files(state), f"exit {rc}: {err}; {os.listdir(state) if os.path.isdir(state) else 'no state dir'}")
stores = store_files(state)
if stores:
    print(f"    store: {[os.path.relpath(s, state) for s in stores]}")
    grng = random.Random(3)
    with open(stores[0], "wb") as f:
        f.write(b"this is not a database\n" + bytes(grng.randrange(256) for _ in range(8192)))
    for f in glob.glob(stores[0] + "-*"):   # a stale -wal/-shm would be another case
        os.remove(f)
    forget_inputs(state)
    rc, err, d, _ = run("corrupt-1", jsonl_source(small), dedupe(mode="mark"), extra=extra)
    outcome("a corrupt state file", rc, err, [os.path.basename(stores[0])],
            out=os.path.join(work, "corrupt-1.out.jsonl"))
    if rc == 0:
        # a fallback must not be silent: the run goes on, but says so
        check("a corrupt state file that is not an error is at least reported (a warning naming it)",
              os.path.basename(stores[0]) in err, err)

# a store of another format version: refused with a clear error naming it;
# a store of the format before (v1: kept documents only) is read as it is
state = os.path.join(work, "state-version")
extra = f'state: "{state}"\n'
rc, err, _, _ = run("version-0", jsonl_source(small), dedupe(mode="mark"), extra=extra)
stores = store_files(state)
if rc == 0 and stores:
    def set_format(v):
        con = sqlite3.connect(stores[0], isolation_level=None)
        old = con.execute("SELECT value FROM params WHERE key = 'signature'").fetchone()[0]
        con.execute("UPDATE params SET value = ? WHERE key = 'signature'", (v + old[2:],))
        con.close()
        return old
    old = set_format("v9")
    forget_inputs(state)
    rc, err, _, _ = run("version-9", jsonl_source(small), dedupe(mode="mark"), extra=extra)
    outcome("a store of a later format (v9)", rc, err, [os.path.basename(stores[0])])
    check("a store of a later format is refused, saying so", rc not in (0, None) and "another version" in err, err[-800:])
    set_format("v1")
    forget_inputs(state)
    rc, err, d, _ = run("version-1", jsonl_source(small), dedupe(mode="mark"), extra=extra)
    check("a store of format v1 is read (and the same input again is seen before, not its own duplicate)",
          rc == 0 and d is not None and not any(x["meta"].get("duplicate_of") == x["id"] for x in d), err[-800:])
    con = sqlite3.connect(stores[0])
    now = con.execute("SELECT value FROM params WHERE key = 'signature'").fetchone()[0]
    con.close()
    check("and is marked v2 from then on (older versions refuse it)", now.startswith("v2 "), now)
else:
    check("a run with state creates its store (version case)", False, f"exit {rc}: {err}")

# locked state file: another process holds an exclusive SQLite lock
state = os.path.join(work, "state-locked")
extra = f'state: "{state}"\n'
rc, err, _, _ = run("locked-0", jsonl_source(small), dedupe(mode="mark"), extra=extra)
stores = store_files(state)
if rc == 0 and stores:
    con = sqlite3.connect(stores[0], isolation_level=None, timeout=1)
    con.execute("BEGIN EXCLUSIVE")
    t0 = time.time()
    forget_inputs(state)
    rc, err, d, dt = run("locked-1", jsonl_source(small), dedupe(mode="mark"), extra=extra)
    con.execute("ROLLBACK")
    con.close()
    outcome(f"a locked state file (exclusive lock held; run took {dt:.1f} s)", rc, err,
            [os.path.basename(stores[0])], out=os.path.join(work, "locked-1.out.jsonl"))
    forget_inputs(state)
    rc, err, d, _ = run("locked-2", jsonl_source(small), dedupe(mode="mark"), extra=extra)
    check("after the lock is released the state works again", rc == 0, err)
    if d is not None:
        # The same 60 documents were committed by an earlier run: the interface
        # does not say what a re-run of input already in the index gives, so
        # this is reported, not checked.
        same = [x["id"] for x in d if x["meta"].get("duplicate_of") == x["id"]]
        print(f"    NOTE: re-running input already in the index: {len(same)}/{len(d)} documents come out "
              f"as duplicate_of themselves")
else:
    check("a run with state creates its store (lock case)", False, f"exit {rc}: {err}")

# =============================================================== (f) robust clustering
# X quotes the first 55 % of an original O's words and goes on with words of
# its own (J(O, X) ~ 0.38), and comes before O; at a
# threshold of 0.3, O is (falsely) linked to X. O's own copies (1-2 % edits)
# must still be linked into O's group: to O, or to one another, never to X.
# When duplicates were not indexed they could only be compared with X, and
# at this threshold most were linked to it.
print("\n== (f) robust clustering: a false link on an original does not take its copies along")
rng = random.Random(11)
origs = [d for d in corpus_docs if truth[d["id"]]["kind"] == "original"][:40]
spares = [d for d in corpus_docs if truth[d["id"]]["kind"] == "original"][40:80]
fdocs, fgroup = [], {}
for n, (o, other) in enumerate(zip(origs, spares)):
    words, more = o["text"].split(), other["text"].split()
    k = round(0.55 * len(words))
    x = " ".join(words[:k]) + "\n\n" + " ".join(more[:max(1, len(words) - k)])
    fdocs.append({"id": f"x{n}", "text": x})
    fgroup[f"x{n}"] = f"x{n}"
    fdocs.append({"id": f"o{n}", "text": o["text"]})
    fgroup[f"o{n}"] = f"o{n}"
    for c in range(4):
        fdocs.append({"id": f"o{n}c{c}", "text": gen_corpus.word_edits(o["text"], rng.choice((0.01, 0.02)), rng, vocab)})
        fgroup[f"o{n}c{c}"] = f"o{n}"
p = os.path.join(work, "robust.jsonl")
write_jsonl(p, fdocs)
rc, err, d, _ = run("robust", jsonl_source(p), dedupe(mode="mark", threshold=0.3, verify_margin=0))
check("threshold 0.3 runs", rc == 0, err)
if d is not None:
    m = {x["id"]: x["meta"] for x in d}
    linked = [f"o{n}" for n in range(len(origs)) if m[f"o{n}"].get("duplicate_of") == f"x{n}"]
    copies = [i for o in linked for i in m if i.startswith(o + "c")]
    wrong = [(i, m[i].get("duplicate_of")) for i in copies if fgroup.get(m[i].get("duplicate_of")) != fgroup[i]]
    print(f"    originals falsely linked to the document quoting them: {len(linked)}/{len(origs)}; their copies "
          f"linked outside their group: {len(wrong)}/{len(copies)}")
    check("the construction gives false links to work with (>= 10 originals linked to their quoter)",
          len(linked) >= 10, len(linked))
    check("copies of a falsely linked original are linked into its group (>= 95 %)",
          copies and len(wrong) <= 0.05 * len(copies), wrong[:10])

print(f"\n{n_checks - fails}/{n_checks} checks passed")
if fails == 0:
    shutil.rmtree(work, ignore_errors=True)
print("PASS" if fails == 0 else f"FAIL (work directory kept: {work})")
sys.exit(0 if fails == 0 else 1)
