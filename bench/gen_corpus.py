#!/usr/bin/env python3
"""Writes a JSONL corpus of about SIZE_MB megabytes built from the sample
articles: each record is one article, or a window of its paragraphs, with its
own id (seeded, so a run is repeatable).  A first version: issue 8 adds
boilerplate, archive pages, near-duplicates and more sources.

usage: gen_corpus.py SEEDS_DIR OUT.jsonl SIZE_MB [SEED]"""
import json, os, random, sys

seeds_dir, out, size_mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
articles = []
for name in sorted(os.listdir(seeds_dir)):
    if name.endswith(".txt"):
        with open(os.path.join(seeds_dir, name), encoding="utf-8") as f:
            articles.append((os.path.splitext(name)[0], [p for p in f.read().split("\n") if p.strip()]))
target = int(size_mb * 1e6)
written = n = 0
with open(out, "w", encoding="utf-8") as f:
    while written < target:
        base, paras = rng.choice(articles)
        a = rng.randrange(len(paras))
        b = min(len(paras), a + rng.randint(3, 40))
        rec = {"id": f"{base}-{n}", "text": "\n\n".join(paras[a:b]),
               "meta": {"source": "bench", "lang": "en"}}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        f.write(line)
        written += len(line.encode("utf-8"))
        n += 1
print(f"{out}: {n} documents, {written / 1e6:.1f} MB")
