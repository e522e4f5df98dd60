#!/usr/bin/env python3
"""Builds the stories model's document-frequency prior (df-en.tsv) from the
per-document term lines `textmill-stories df` prints.

    textmill-stories df A.jsonl B.jsonl | make_df.py MIN_DF > df-en.tsv

Keeps stems and names found in at least MIN_DF documents: rarer ones are
as good as unseen (the stage treats an unseen term as rare)."""
import sys
from collections import Counter

min_df = int(sys.argv[1])
df, docs, seen = Counter(), 0, set()
for line in sys.stdin:
    line = line.rstrip("\n")
    if line == "D":
        df.update(seen)
        seen = set()
        docs += 1
        continue
    kind, term = line.split("\t", 1)
    if kind in "np":
        term = term.replace("\t", " ").strip()
    seen.add((kind, term))
df.update(seen)
print("# textmill stories: document frequencies of stems (w), names of people (p) and other names (n)")
print(f"docs\t{docs}")
for (kind, term), n in sorted(df.items(), key=lambda x: ("wpn".index(x[0][0]), -x[1], x[0][1])):
    if n >= min_df and term:
        print(f"{kind}\t{term}\t{n}")
