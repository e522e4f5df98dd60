#!/usr/bin/env python3
"""Check gazetteer files (python3, stdlib only; YAML needs PyYAML).

For each file: UTF-8, LF line ends, '#' comments only before the header, a
header naming at least canonical, type, id, aliases; then per entry: as many
columns as the header, a non-empty canonical without outer spaces, a type of
LOC/ORG/PER/MISC, ids unique in the file, aliases not empty, not repeated and
not the canonical, flags as comma-separated lower-case words, population an
integer, country a comma-separated list of ISO 3166-1 alpha-2 codes.
Prints entries per type, aliases, flags and the file size; exits 1 on errors.

With --keys it also reports, as warnings (not errors), the names the matcher
cannot tell apart: it matches by a folded key (tools/gazetteer/gazlib.py
match_key, a copy of plugins/entities/fold.c: case, accents, hyphens and
apostrophes fold away), so it lists
  * keys that two entries of the file share (the matcher keeps one of them),
    and aliases with the key of another name of their entry (redundant);
  * one-word names that are common English words (ambiguous-words.tsv) on an
    entry not flagged `ambiguous`;
  * acronyms (2-6 capital letters) whose key is a lower-case English word of
    the word list (--dict, Debian's wamerican): the matcher folds case and
    needs only an initial capital, so "WHO" would also match "Who" at the
    start of a sentence;
  * with --against FILE (repeatable), keys the file shares with those files
    (the list loaded later wins such a key).

usage: check.py [--keys] [--against FILE]... [--dict FILE] FILE.tsv|FILE.csv|FILE.yaml ...
"""

import argparse
import collections
import csv
import io
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

REQUIRED = ["canonical", "type", "id", "aliases"]
TYPES = {"LOC", "ORG", "PER", "MISC"}
FLAG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CC = re.compile(r"^[A-Z]{2}$")
MAX_ERRORS = 20


def read_rows(path, text, errors):
    """-> list of (line number, dict). Comments and header handled here."""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            errors.append("PyYAML is not installed: cannot check %s" % path)
            return []
        data = yaml.safe_load(text)
        if not isinstance(data, list):
            errors.append("YAML: expected a list of entries")
            return []
        rows = []
        for i, e in enumerate(data, 1):
            if not isinstance(e, dict):
                errors.append("entry %d: not a mapping" % i)
                continue
            r = {k: e.get(k) for k in e}
            al = r.get("aliases") or []
            r["aliases"] = "|".join(al) if isinstance(al, list) else str(al)
            for k in list(r):
                r[k] = "" if r[k] is None else str(r[k]) if k != "aliases" else r[k]
            rows.append((i, r))
        return rows

    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    n = 0
    while n < len(lines) and lines[n].startswith("#"):
        n += 1
    if n == len(lines):
        errors.append("no header line")
        return []
    body = "\n".join(lines[n:])
    if ext == ".csv":
        reader = csv.reader(io.StringIO(body))
    else:
        reader = (l.split("\t") for l in body.split("\n"))
    header = None
    rows = []
    for k, cols in enumerate(reader):
        lineno = n + k + 1
        if header is None:
            header = [c.strip() for c in cols]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                errors.append("line %d: header lacks %s (header: %s)"
                              % (lineno, ", ".join(missing), " ".join(header)))
                return []
            if header[:4] != REQUIRED:
                errors.append("line %d: the first columns must be %s" % (lineno, " ".join(REQUIRED)))
            continue
        if len(cols) == 1 and cols[0].startswith("#"):
            errors.append("line %d: comment after the header" % lineno)
            continue
        if len(cols) != len(header):
            errors.append("line %d: %d columns, header has %d" % (lineno, len(cols), len(header)))
            continue
        rows.append((lineno, dict(zip(header, cols))))
    return rows


def check(path, keys=None):
    """Checks one file; with keys (a KeyReport) also reports its keys."""
    errors = []
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print("%s: not UTF-8 (%s)" % (path, e))
        return False
    if "\r" in text:
        errors.append("CR characters (use LF line ends)")
    rows = read_rows(path, text, errors)

    types = collections.Counter()
    flags = collections.Counter()
    ids = {}
    canon = collections.Counter()
    n_alias = 0
    for lineno, r in rows:
        where = "line %d" % lineno
        c = r.get("canonical", "")
        if not c:
            errors.append("%s: empty canonical" % where)
        elif c != c.strip():
            errors.append("%s: canonical %r has outer spaces" % (where, c))
        canon[c] += 1
        t = r.get("type", "")
        if t not in TYPES:
            errors.append("%s: type %r not one of %s" % (where, t, "/".join(sorted(TYPES))))
        types[t] += 1
        i = r.get("id", "")
        if i:
            if i in ids:
                errors.append("%s: id %s already on line %s" % (where, i, ids[i]))
            ids[i] = lineno
        al = r.get("aliases", "")
        if al:
            parts = al.split("|")
            n_alias += len(parts)
            if any(not p.strip() or p != p.strip() for p in parts):
                errors.append("%s: empty alias or alias with outer spaces" % where)
            if len(set(parts)) != len(parts):
                errors.append("%s: repeated alias" % where)
            if c and c in parts:
                errors.append("%s: alias equals the canonical" % where)
        for fl in filter(None, r.get("flags", "").split(",")):
            if not FLAG.match(fl):
                errors.append("%s: flag %r" % (where, fl))
            flags[fl] += 1
        pop = r.get("population", "")
        if pop and not pop.isdigit():
            errors.append("%s: population %r is not an integer" % (where, pop))
        cc = r.get("country", "")
        if cc and not all(CC.match(x) for x in cc.split(",")):
            errors.append("%s: country %r" % (where, cc))

    size = os.path.getsize(path)
    print("%s: %d entries, %d aliases, %d bytes (%.2f MiB)"
          % (path, len(rows), n_alias, size, size / 1048576.0))
    print("  types: " + ", ".join("%s %d" % (t, types[t]) for t in sorted(types)))
    if flags:
        print("  flags: " + ", ".join("%s %d" % kv for kv in sorted(flags.items())))
    shared = sum(1 for v in canon.values() if v > 1)
    print("  canonical names shared by several entries: %d; entries without id: %d"
          % (shared, sum(1 for _, r in rows if not r.get("id"))))
    if keys is not None and not errors:
        keys.report(path, rows)
    for e in errors[:MAX_ERRORS]:
        print("  error: " + e)
    if len(errors) > MAX_ERRORS:
        print("  ... %d more errors" % (len(errors) - MAX_ERRORS))
    print("  %s" % ("OK" if not errors else "%d errors" % len(errors)))
    return not errors


ACRONYM = re.compile(r"^[A-Z]{2,6}$")
MAX_WARNINGS = 400


def names_of(r):
    return [r.get("canonical", "")] + [a for a in r.get("aliases", "").split("|") if a]


class KeyReport:
    """Warnings about names the matcher cannot tell apart (see --keys)."""

    def __init__(self, against, dict_path):
        import gazlib
        self.key = gazlib.match_key
        self.common, _ = gazlib.load_words()
        self.words = set()
        if dict_path and os.path.exists(dict_path):
            with open(dict_path, encoding="utf-8") as f:
                self.words = {w.strip() for w in f if w.strip() and w.strip().islower()}
        self.other = {}  # key -> (file, entry) of the --against files
        for path in against:
            errors = []
            with open(path, encoding="utf-8") as f:
                rows = read_rows(path, f.read(), errors)
            for _, r in rows:
                for n in names_of(r):
                    self.other.setdefault(self.key(n), (os.path.basename(path), r))

    @staticmethod
    def describe(r):
        extra = [x for x in (r.get("flags", ""), r.get("population", ""), r.get("country", "")) if x]
        return "%s (%s%s)" % (r.get("canonical"), r.get("type"), ", " + " ".join(extra) if extra else "")

    def report(self, path, rows):
        warn = []
        seen = {}
        for lineno, r in rows:
            flags = set(filter(None, r.get("flags", "").split(",")))
            own = {}
            for n in names_of(r):
                k = self.key(n)
                if not k:
                    warn.append("line %d: %r folds to an empty key" % (lineno, n))
                    continue
                if k in own:
                    warn.append("line %d: %r has the key of %r: redundant" % (lineno, n, own[k]))
                    continue
                own[k] = n
                if k in seen and seen[k][1] is not r:
                    warn.append("line %d: %r has the key of %r on line %d"
                                % (lineno, n, seen[k][2], seen[k][0]))
                seen.setdefault(k, (lineno, r, n))
                if " " not in k and k in self.common and "ambiguous" not in flags:
                    warn.append("line %d: %r is a common English word (ambiguous-words.tsv)" % (lineno, n))
                if ACRONYM.match(n) and k in self.words:
                    warn.append("line %d: acronym %r matches the word %r (the matcher folds case)"
                                % (lineno, n, k))
                if k in self.other:
                    f, o = self.other[k]
                    warn.append("line %d: %r is also %s in %s" % (lineno, n, self.describe(o), f))
        for w in warn[:MAX_WARNINGS]:
            print("  warning: " + w)
        if len(warn) > MAX_WARNINGS:
            print("  ... %d more warnings" % (len(warn) - MAX_WARNINGS))
        print("  %d key warnings" % len(warn))


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1].strip())
    ap.add_argument("files", nargs="+")
    ap.add_argument("--keys", action="store_true", help="report names the matcher cannot tell apart")
    ap.add_argument("--against", action="append", default=[], metavar="FILE",
                    help="with --keys: report keys shared with this gazetteer")
    ap.add_argument("--dict", default="/usr/share/dict/american-english",
                    help="with --keys: English word list (Debian's wamerican)")
    a = ap.parse_args()
    keys = KeyReport(a.against, a.dict) if a.keys or a.against else None
    ok = True
    for p in a.files:
        ok = check(p, keys) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
