#!/usr/bin/env python3
"""Quality of the stories stage, printed and asserted:

  (a) the samples: pipelines/news.yaml over seeds/ (jsonl sink only), against
      tests/gold/dupes.tsv: the gold same-story pair (002 ~ 004) in one story;
      the other pairs merged are counted and printed (see MAX_OTHER_MERGED);
  (b) held-out development streams (../shared/data/stories, the part
      tools/stories/train.py never trains or tunes on): jsonl -> entities ->
      stories -> jsonl, B-cubed and pairwise F1 against the labels, for the
      dated local-news stream (GVA) and ECB+;
  (c) held-out same-story and different-story pairs drawn from the same part,
      each a stream of its own (textmill-stories pairs, the stage's own
      clusterer): F1 of "the second joins the first's story".
Parts (b) and (c) need ../shared/data and skip with a message without it.

usage: stories_quality.py TEXTMILL STORIES_TOOL SOURCE_DIR   (exit 0 pass, 1 fail)"""
import itertools, json, os, random, re, subprocess, sys, tempfile

tm, tool, src = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, os.path.join(src, "tools", "stories"))
sys.path.insert(0, os.path.join(src, "tests"))
from tap import Tap  # noqa: E402
import score  # noqa: E402
from train import held_out  # noqa: E402

shared = os.environ.get("TEXTMILL_SHARED", os.path.join(src, "..", "shared"))
work = tempfile.mkdtemp(prefix="stories-quality-")
# Targets: the pass marks for the held-out stream (B-cubed 0.88,
# pairwise 0.65); ECB+ and the pairs at the level reached, so they cannot
# slip back. The samples: the gold pair must be one story; the other merges
# are a known gap (the model, learned on incident-level labels, takes the
# Karabakh archive's articles for one story), held at today's count.
GVA_MIN = (0.90, 0.75)
ECB_MIN = (0.78, 0.70)
PAIRS_MIN = 0.82
MAX_OTHER_MERGED = 20
tap = Tap()
check = tap.check


def run_pipeline(name, source, stages, out):
    y = os.path.join(work, name + ".yaml")
    with open(y, "w") as f:
        f.write(f"version: 1\nname: {name}\nsource: {source}\nstages: {stages}\n"
                f'sinks: [{{use: jsonl, with: {{path: "{out}"}}}}]\n')
    r = subprocess.run([tm, "run", y, "--quiet"], capture_output=True, text=True, cwd=src)
    return r.returncode, r.stderr


def samples():
    out = os.path.join(work, "news.jsonl")
    y = open(os.path.join(src, "pipelines", "news.yaml")).read()
    stages = y[y.index("stages:") + len("stages:"):y.index("sinks:")]
    yp = os.path.join(work, "news.yaml")
    with open(yp, "w") as f:
        f.write(f'version: 1\nname: news\nsource: {{use: files, with: {{paths: ["seeds/*.txt"]}}}}\n'
                f'stages:{stages}sinks: [{{use: jsonl, with: {{path: "{out}"}}}}]\n')
    r = subprocess.run([tm, "run", yp, "--quiet"], capture_output=True, text=True, cwd=src)
    check("sample pipeline runs", r.returncode == 0, r.stderr)
    if r.returncode:
        return
    docs = [json.loads(l) for l in open(out)]
    story = {d["id"]: d["meta"].get("story") for d in docs}
    check("every sample document has a story", all(story.values()))
    gold = set()
    for line in open(os.path.join(src, "tests", "gold", "dupes.tsv")):
        f = line.rstrip("\n").split("\t")
        if f[4] == "same_story":
            gold.add(frozenset(f"{f[0][:-4]}#{f[1]}" if f"{f[0][:-4]}#{f[1]}" in story else f[0][:-4]
                               for f in [f[:2], f[2:4]]))
    for pair in gold:
        a, b = sorted(pair)
        check(f"gold same-story pair {a} ~ {b} is one story", story.get(a) and story.get(a) == story.get(b),
              {k: story.get(k) for k in pair})
    others = [p for p in itertools.combinations(sorted(story), 2)
              if story[p[0]] == story[p[1]] and frozenset(p) not in gold]
    print(f"# samples: {len(others)} other pairs merged (target 0): "
          + ", ".join(f"{a}~{b}" for a, b in others[:12]))
    check(f"other sample pairs merged: {len(others)} <= {MAX_OTHER_MERGED}", len(others) <= MAX_OTHER_MERGED)


def prepare_heldout():
    """The held-out part of the development stories, gold under meta.gold_story."""
    docs = [json.loads(l) for l in open(os.path.join(shared, "data", "stories", "docs.jsonl"))]
    first = {}
    for d in docs:
        g, dt = d["story"], d["meta"].get("date")
        if dt and (first.get(g) is None or dt < first[g]):
            first[g] = dt
        first.setdefault(g, None)
    parts = {}
    for d in docs:
        if held_out(d["story"], first[d["story"]]):
            d["meta"]["gold_story"] = d.pop("story")
            parts.setdefault("gva" if d["id"].startswith("gva") else "ecbplus", []).append(d)
    return parts


def streams(parts):
    annotated = {}
    for kind, mins in (("gva", GVA_MIN), ("ecbplus", ECB_MIN)):
        inp, out = os.path.join(work, kind + ".in.jsonl"), os.path.join(work, kind + ".out.jsonl")
        with open(inp, "w") as f:
            for d in parts[kind]:
                f.write(json.dumps(d) + "\n")
        rc, err = run_pipeline(kind, f'{{use: jsonl, with: {{paths: ["{inp}"]}}}}',
                               "[{use: entities}, {use: stories}]", out)
        check(f"{kind}: held-out stream runs", rc == 0, err)
        if rc:
            continue
        res = [json.loads(l) for l in open(out)]
        gold = {d["id"]: d["meta"]["gold_story"] for d in res}
        s = score.scores(gold, {d["id"]: d["meta"]["story"] for d in res})
        print(f"# {kind} held-out stream: {json.dumps(s)}")
        check(f"{kind}: B-cubed F1 {s['bcubed_f1']} >= {mins[0]}", s["bcubed_f1"] >= mins[0])
        check(f"{kind}: pairwise F1 {s['pair_f1']} >= {mins[1]}", s["pair_f1"] >= mins[1])
        annotated[kind] = res
    return annotated


def pairs(annotated):
    """One same-story pair per story of two or more, as many different-story
    pairs of the most word-sharing document nearby in time (or in the same
    ECB+ topic), and as many random ones; deterministic."""
    rnd = random.Random(7)
    docs = [d for k in ("gva", "ecbplus") for d in annotated.get(k, [])]
    if not docs:
        return
    words = {d["id"]: set(re.findall(r"[a-z]{4,}", (d["meta"].get("title", "") + " " + d["text"][:1500]).lower()))
             for d in docs}
    by = {}
    for d in docs:
        by.setdefault(d["meta"]["gold_story"], []).append(d)
    pos = [tuple(sorted(rnd.sample(ds, 2), key=lambda d: d["meta"].get("date") or ""))
           for g, ds in sorted(by.items()) if len(ds) >= 2]
    neg = []
    for a, _ in pos:
        topic = re.match(r"(ecbplus-t\d+)-", a["meta"]["gold_story"])
        best, bs = None, -1
        for c in rnd.sample(docs, min(400, len(docs))):
            if c["meta"]["gold_story"] == a["meta"]["gold_story"]:
                continue
            if topic and not c["meta"]["gold_story"].startswith(topic.group(1) + "-"):
                continue
            s = len(words[a["id"]] & words[c["id"]]) / (len(words[a["id"]] | words[c["id"]]) + 1)
            if s > bs:
                best, bs = c, s
        if best:
            neg.append((a, best))
    while len(neg) < 2 * len(pos):
        a, b = rnd.sample(docs, 2)
        if a["meta"]["gold_story"] != b["meta"]["gold_story"]:
            neg.append((a, b))
    path = os.path.join(work, "pairs.jsonl")
    clean = lambda d: {k: v for k, v in d.items() if k != "meta"} | {
        "meta": {k: v for k, v in d["meta"].items() if not k.startswith("story") and k != "gold_story"}}
    with open(path, "w") as f:
        for a, b in pos + neg:
            f.write(json.dumps({"a": clean(a), "b": clean(b)}) + "\n")
    model = os.path.join(os.path.dirname(tm), "..", "lib", "textmill", "models")
    r = subprocess.run([tool, "pairs", model, path, "90"], capture_output=True, text=True)
    check("pairs run", r.returncode == 0, r.stderr)
    thr = float(re.search(r"^threshold (\S+)", open(os.path.join(model, "stories-en.model")).read(), re.M).group(1))
    joined = [float(x) >= thr and float(x) > 0 for x in r.stdout.split()]
    tp = sum(joined[:len(pos)])
    fp = sum(joined[len(pos):])
    fn = len(pos) - tp
    f1 = 2 * tp / (2 * tp + fp + fn)
    print(f"# held-out pairs: {len(pos)} same-story, {len(neg)} different; found {tp}, merged {fp}; F1 {f1:.4f}")
    check(f"held-out pairs F1 {f1:.4f} >= {PAIRS_MIN}", f1 >= PAIRS_MIN)


samples()
if not os.path.isfile(os.path.join(shared, "data", "stories", "docs.jsonl")):
    print(f"# skipping the held-out parts: no {shared}/data/stories/docs.jsonl (the development "
          "stories are not in the repository)")
else:
    pairs(streams(prepare_heldout()))
tap.finish()
