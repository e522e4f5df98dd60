#!/usr/bin/env python3
"""Quality of the cleanup stages against the gold annotations (tests/gold/,
copied from ../shared/gold): boilerplate-line precision and recall, articles
found as separate documents with the right title, author and date accuracy.

Every non-blank line of each sample is tagged with a LINE annotation before
the pipeline runs; the stages move annotations with the text through their
offset maps (or drop them with removed text), so the annotations that come
out say exactly which lines were kept, and in which output document.

usage: cleanup_quality.py TEXTMILL SOURCE_DIR"""
import json, os, subprocess, sys, tempfile, unicodedata

tm, src = sys.argv[1], sys.argv[2]
seeds, gold = os.path.join(src, "seeds"), os.path.join(src, "tests", "gold")
THRESHOLDS = {"precision": 0.97, "recall": 0.95, "articles": 13, "author": 0.90, "date": 0.90}

labels = {}
for row in open(os.path.join(gold, "lines.tsv"), encoding="utf-8"):
    f, line, label = row.rstrip("\n").split("\t")[:3]
    labels[(f[:-4], int(line))] = label

work = tempfile.mkdtemp()
inp = os.path.join(work, "in.jsonl")
with open(inp, "w", encoding="utf-8") as out:
    for name in sorted(os.listdir(seeds)):
        raw = open(os.path.join(seeds, name), "rb").read()
        doc_id, anns, off = name[:-4], [], 0
        for no, line in enumerate(raw.split(b"\n"), 1):
            if line.decode("utf-8").strip():
                anns.append({"start": off, "end": off + len(line), "type": "LINE",
                             "label": f"{doc_id}:{no}", "stage": "gold"})
            off += len(line) + 1
        out.write(json.dumps({"id": doc_id, "text": raw.decode("utf-8"), "annotations": anns,
                              "meta": {"file": f"seeds/{name}"}}, ensure_ascii=False) + "\n")

pipeline = os.path.join(work, "p.yaml")
outp = os.path.join(work, "out.jsonl")
with open(pipeline, "w") as f:
    f.write(f"""version: 1
source: {{use: jsonl, with: {{paths: ["{inp}"]}}}}
stages:
  - use: split
  - use: cleanup
  - use: metadata
sinks: [{{use: jsonl, with: {{path: "{outp}"}}}}]
""")
r = subprocess.run([tm, "run", pipeline, "--stats"], capture_output=True, text=True)
if r.returncode != 0:
    sys.exit(f"pipeline failed ({r.returncode}):\n{r.stderr}")
docs = [json.loads(l) for l in open(outp, encoding="utf-8")]

kept = {}  # (doc, line) -> output document id
for d in docs:
    for a in d["annotations"]:
        if a["type"] == "LINE":
            f, no = a["label"].rsplit(":", 1)
            kept[(f, int(no))] = d["id"]

tp = fp = fn = 0
misses = []
for key, label in sorted(labels.items()):
    removed = key not in kept
    if label == "boilerplate":
        tp += removed
        fn += not removed
        if not removed:
            misses.append(f"  left in  {key[0][:3]}:{key[1]}")
    elif removed:
        fp += 1
        misses.append(f"  removed  {key[0][:3]}:{key[1]} ({label})")
precision = tp / (tp + fp) if tp + fp else 0.0
recall = tp / (tp + fn) if tp + fn else 0.0

def norm(s):
    return " ".join(unicodedata.normalize("NFC", s or "").split())

articles = [json.loads(l) for l in open(os.path.join(gold, "articles.jsonl"), encoding="utf-8")]
found = auth_ok = auth_n = date_ok = date_n = site_ok = site_n = 0
for g in articles:
    gid = g["file"][:-4]
    # the output document that holds the article's title line
    out_id = kept.get((gid, g["start_line"]))
    d = next((x for x in docs if x["id"] == out_id), None)
    title_ok = d is not None and norm(d["meta"].get("title")) == norm(g["title"])
    # a separate document: no other gold article's title line in it
    alone = d is not None and not any(
        kept.get((o["file"][:-4], o["start_line"])) == out_id for o in articles if o is not g)
    found += title_ok and alone
    if not (title_ok and alone):
        misses.append(f"  article  {gid[:3]} line {g['start_line']}: got "
                      f"{(d or {}).get('meta', {}).get('title')!r}")
    meta = (d or {}).get("meta", {})
    for field, gv, counter in (("author", g["author"], "a"), ("date", g["date"], "d"),
                               ("source", g["source_site"], "s")):
        if gv is None:
            continue
        ok = norm(meta.get(field)) == norm(gv)
        if counter == "a":
            auth_n += 1; auth_ok += ok
        elif counter == "d":
            date_n += 1; date_ok += ok
        else:
            site_n += 1; site_ok += ok
        if not ok:
            misses.append(f"  {field:<8} {gid[:3]} line {g['start_line']}: {meta.get(field)!r} "
                          f"!= {gv!r}")

print(f"boilerplate lines: precision {precision:.3f} ({tp}/{tp + fp}), recall {recall:.3f} "
      f"({tp}/{tp + fn})")
print(f"articles found with the right title: {found}/{len(articles)}")
print(f"author right: {auth_ok}/{auth_n} = {auth_ok / auth_n:.2f}; date right: {date_ok}/{date_n} "
      f"= {date_ok / date_n:.2f}; source site right: {site_ok}/{site_n}")
if misses:
    print("differences from gold:")
    print("\n".join(misses))
ok = (precision >= THRESHOLDS["precision"] and recall >= THRESHOLDS["recall"]
      and found >= THRESHOLDS["articles"] and auth_ok / auth_n >= THRESHOLDS["author"]
      and date_ok / date_n >= THRESHOLDS["date"])
print("PASS" if ok else f"FAIL (thresholds: {THRESHOLDS})")
sys.exit(0 if ok else 1)
