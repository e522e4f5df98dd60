#!/usr/bin/env python3
"""Entity tagging against the gold annotations (tests/gold/entities.jsonl,
copied from ../shared/gold): mention precision, recall and F1 (exact span and
type) over the five raw samples, and canonical accuracy on the mentions found
correctly. Mentions on lines the gold labels boilerplate are left out of the
count (the gold does not annotate them).

usage: entities_quality.py TEXTMILL SOURCE_DIR [--min-f1 X] [--min-canonical X] [-v]"""
import argparse, json, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("textmill")
ap.add_argument("source_dir")
ap.add_argument("--min-f1", type=float, default=0.90)
ap.add_argument("--min-canonical", type=float, default=0.95)
ap.add_argument("-v", action="store_true")
ap.add_argument("--with", dest="opts", default="{}", help="the stage's options, as YAML")
a = ap.parse_args()
gold_dir = os.path.join(a.source_dir, "tests", "gold")
seeds = os.path.join(a.source_dir, "seeds")

boiler = set()
for row in open(os.path.join(gold_dir, "lines.tsv"), encoding="utf-8"):
    f, line, label = row.rstrip("\n").split("\t")[:3]
    if label == "boilerplate":
        boiler.add((f, int(line)))

work = tempfile.mkdtemp()
out = os.path.join(work, "out.jsonl")
with open(os.path.join(work, "p.yaml"), "w") as f:
    f.write(f'version: 1\nsource: {{use: files, with: {{paths: ["{seeds}/*.txt"]}}}}\n'
            f'stages: [{{use: entities, with: {a.opts}}}]\nsinks: [{{use: jsonl, with: {{path: "{out}"}}}}]\n')
r = subprocess.run([a.textmill, "run", os.path.join(work, "p.yaml"), "--stats"],
                   capture_output=True, text=True)
if r.returncode != 0:
    sys.exit(f"pipeline failed ({r.returncode}):\n{r.stderr}")
pred = {}
for d in map(json.loads, open(out, encoding="utf-8")):
    pred[d["id"] + ".txt"] = [x for x in d["annotations"] if x["type"] in ("PER", "ORG", "LOC", "MISC")]

tp = fp = fn = canon_ok = 0
per_type = {t: [0, 0, 0] for t in ("PER", "ORG", "LOC", "MISC")}
misses = []
for g in map(json.loads, open(os.path.join(gold_dir, "entities.jsonl"), encoding="utf-8")):
    raw = open(os.path.join(seeds, g["file"]), "rb").read()
    line_of = lambda off: raw[:off].count(b"\n") + 1
    gold = {(e["start"], e["end"], e["type"]): e for e in g["entities"]}
    got = {}
    for p in pred.get(g["file"], []):
        if (g["file"], line_of(p["start"])) in boiler:
            continue
        got[(p["start"], p["end"], p["type"])] = p
    for k, e in gold.items():
        if k in got:
            tp += 1
            per_type[k[2]][0] += 1
            ok = (got[k].get("canonical") or "") == e["canonical"]
            canon_ok += ok
            if not ok and a.v:
                misses.append(f"canonical {g['file'][:3]} {e['text']!r}: {got[k].get('canonical')!r} != {e['canonical']!r}")
        else:
            fn += 1
            per_type[k[2]][2] += 1
            if a.v:
                misses.append(f"missed    {g['file'][:3]} {e['text']!r} {k[2]}")
    for k, p in got.items():
        if k not in gold:
            fp += 1
            per_type[k[2]][1] += 1
            if a.v:
                misses.append(f"spurious  {g['file'][:3]} {raw[k[0]:k[1]].decode('utf-8', 'replace')!r} {k[2]}")

prec = tp / (tp + fp) if tp + fp else 0.0
rec = tp / (tp + fn) if tp + fn else 0.0
f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
canon = canon_ok / tp if tp else 0.0
print(f"mentions: precision {prec:.3f}, recall {rec:.3f}, F1 {f1:.3f} (tp {tp}, fp {fp}, fn {fn})")
for t, (ttp, tfp, tfn) in per_type.items():
    p_ = ttp / (ttp + tfp) if ttp + tfp else 0.0
    r_ = ttp / (ttp + tfn) if ttp + tfn else 0.0
    print(f"  {t:<4} P {p_:.3f} R {r_:.3f} F1 {2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0:.3f}")
print(f"canonical accuracy on mentions found: {canon:.3f} ({canon_ok}/{tp})")
for m in misses:
    print("  " + m)
ok = f1 >= a.min_f1 and canon >= a.min_canonical
print("PASS" if ok else f"FAIL (thresholds: F1 >= {a.min_f1}, canonical >= {a.min_canonical})")
sys.exit(0 if ok else 1)
