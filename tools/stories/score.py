#!/usr/bin/env python3
"""Clustering scores of story assignments against gold labels.

    score.py GOLD.jsonl ASSIGNED      (ASSIGNED: lines "id<TAB>story[<TAB>...]",
                                       or a JSONL file with meta.story)

Prints B-cubed precision/recall/F1 and pairwise precision/recall/F1 as JSON.
The gold is the top-level "story" of each GOLD line (or meta.gold_story)."""
import json, sys
from collections import Counter, defaultdict


def gold_of(path):
    g = {}
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        g[d["id"]] = d.get("story") or d["meta"].get("gold_story")
    return g


def assigned_of(path):
    a = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith("{"):
            d = json.loads(line)
            a[d["id"]] = d["meta"].get("story")
        elif line.strip():
            f = line.rstrip("\n").split("\t")
            a[f[0]] = f[1]
    return a


def scores(gold, assigned):
    ids = [i for i in gold if i in assigned]
    # a document the clusterer did not label is a story of its own
    pred = {i: assigned.get(i) or ("\0" + i) for i in ids}
    gc = Counter(gold[i] for i in ids)
    pc = Counter(pred[i] for i in ids)
    both = Counter((gold[i], pred[i]) for i in ids)
    n = len(ids)
    bp = sum(both[(gold[i], pred[i])] / pc[pred[i]] for i in ids) / n if n else 0
    br = sum(both[(gold[i], pred[i])] / gc[gold[i]] for i in ids) / n if n else 0
    tp = sum(c * (c - 1) / 2 for c in both.values())
    gp = sum(c * (c - 1) / 2 for c in gc.values())
    pp = sum(c * (c - 1) / 2 for c in pc.values())
    pprec = tp / pp if pp else 1.0
    prec_r = tp / gp if gp else 1.0
    f = lambda p, r: 2 * p * r / (p + r) if p + r else 0.0
    return {"docs": n, "gold_stories": len(gc), "stories": len(pc),
            "bcubed_p": round(bp, 4), "bcubed_r": round(br, 4), "bcubed_f1": round(f(bp, br), 4),
            "pair_p": round(pprec, 4), "pair_r": round(prec_r, 4), "pair_f1": round(f(pprec, prec_r), 4)}


if __name__ == "__main__":
    print(json.dumps(scores(gold_of(sys.argv[1]), assigned_of(sys.argv[2]))))
