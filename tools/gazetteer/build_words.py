#!/usr/bin/env python3
"""Derive plugins/entities/gazetteers/ambiguous-words.tsv from the NER
*training* files in ../shared/data/ner (python3, stdlib only).

A word is
  common  when it occurs in lower case outside entities at least MIN_LOWER
          times and more often so than capitalised (Titlecase, away from the
          start of a sentence) or tagged as part of an entity: "nice",
          "reading", "split", "bath", "may", "of";
  person  when, as a capitalised token of 3+ letters, it is tagged as (part of) a
          person more often than as a location, at least MIN_PER times:
          "Jordan", "Chad" if the data says so.

Only *.train.bio files are read: dev and test files are for evaluation and
must not shape the gazetteer. The gazetteer builders use this list to flag
entries ("ambiguous", "person") and to drop aliases that are common words.

usage: build_words.py [--ner DIR] [--out FILE]
"""

import argparse
import collections
import glob
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree at build time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gazlib  # noqa: E402

MIN_LOWER = 2
MIN_PER = 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ner", default=os.path.join(gazlib.REPO, "..", "shared", "data", "ner"))
    ap.add_argument("--out", default=gazlib.WORDS_FILE)
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.ner, "*.train.bio")))
    if not files:
        gazlib.die("no *.train.bio files in %s" % args.ner)
    lower = collections.Counter()
    title = collections.Counter()
    per = collections.Counter()
    loc = collections.Counter()
    ntok = 0
    for path in files:
        first = True
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    first = True
                    continue
                if line.startswith("# doc ") and "\t" not in line:
                    continue
                cols = line.split("\t")
                tok, tag = cols[0], cols[1]
                ntok += 1
                if tok.isalpha():
                    if tok.islower():
                        if tag == "O":
                            lower[tok] += 1
                        else:
                            title[tok] += 1  # a lower-case name: "perth" B-LOC
                    elif tok[0].isupper() and (len(tok) == 1 or tok[1:].islower()):
                        if not first:
                            title[tok.lower()] += 1
                        if tag.endswith("-PER"):
                            per[tok.lower()] += 1
                        elif tag.endswith("-LOC"):
                            loc[tok.lower()] += 1
                first = False

    rows = {}
    for w, n in lower.items():
        if n >= MIN_LOWER and n > title[w]:
            rows.setdefault(w, []).append("common")
    for w, n in per.items():
        if len(w) >= 3 and n >= MIN_PER and n > loc[w]:
            rows.setdefault(w, []).append("person")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# Ambiguous words, derived mechanically by tools/gazetteer/build_words.py\n")
        f.write("# from the NER training files (%s; %d tokens).\n"
                % (", ".join(os.path.basename(p) for p in files), ntok))
        f.write("# common: lower-case outside entities >= %d times and more often than Titlecase\n" % MIN_LOWER)
        f.write("#   (not sentence-initial) or inside an entity; columns: lower = that count, title = the other;\n")
        f.write("# person: Titlecase token of 3+ letters tagged PER >= %d times and more often than LOC.\n" % MIN_PER)
        f.write("# Licences of the counted text: see ATTRIBUTION.md.\n")
        f.write("word\tkind\tlower\ttitle\tper\tloc\n")
        for w in sorted(rows):
            f.write("%s\t%s\t%d\t%d\t%d\t%d\n" % (w, ",".join(rows[w]), lower[w], title[w], per[w], loc[w]))
    kinds = collections.Counter(k for v in rows.values() for k in v)
    print("%s: %d words (%s) from %d tokens in %d files"
          % (args.out, len(rows), ", ".join("%s %d" % kv for kv in sorted(kinds.items())), ntok, len(files)))


if __name__ == "__main__":
    main()
