#!/usr/bin/env python3
"""Derive plugins/entities/gazetteers/demonyms.tsv: nationality adjectives
("Armenian") linked to their country (python3, stdlib only). The output is
committed.

iso-codes has no demonyms, and no Debian package lists them. They are derived
mechanically: four kinds of evidence that a word W exists (and may be an
adjective of nationality), then a link from W to a country by its spelling:

Evidence (candidates W):
  lang  a language name in iso-codes (ISO 639-2/-3/-5) is W ("Armenian"),
        "W Sign Language" ("Kenyan") or W followed by another language's
        name ("Chadian Arabic", "Saint Lucian Creole French");
  ner   W is tagged B-MISC (one word, or two words B-MISC I-MISC) in the NER
        *training* files (../shared/data/ner/*.train.bio; dev and test files
        are never read);
  text  W is a Titlecase word seen twice or more, not sentence-initial, in
        those training files (any tag): weak, only spelling links it;
  dict  W is a word of Debian's wamerican word list
        (/usr/share/dict/american-english, SCOWL): also weak, and a W with
        only dict/text evidence is dropped when the list has it in lower
        case too ("Green" is not Greek).

Link (W -> country), on the English names of the country in iso-codes
(common name, name, official name) and GeoNames' name:
  * W has as many words as a name, all words but the last are equal, and the
    last words share a prefix of at least 4 letters (3 when W ends in -ish:
    "Polish"/"Poland"), after which the name ends in one of NAME_ENDS and W
    in one of ADJ_ENDS (general English morphology: "Armeni|a"/"Armeni|an",
    "Japan|"/"Japan|ese", "Pol|and"/"Pol|ish", "Kazakh|stan"/"Kazakh|");
  * or W is one word and the name has exactly one word that is not generic
    (a word of five or more country names: Republic, United, States, of, ...)
    and W relates to it as above, or equals it when W has an adjective ending:
    "American" / "United States of America", "Dominican" / "Dominican
    Republic" (this link, and a weak ending such as "Czech", "Thai", need
    lang or ner evidence: dict and text only show that a word exists);
  * W itself is never a country name ("Cuba Sign Language" gives nothing), it
    has no hyphen and it is not a common English word or a person's name in
    ambiguous-words.tsv.
Each W links to the country (or countries, on a tie) with the longest shared
prefix. Each country keeps its best candidates, ranked by: W names a language
of the country (GeoNames' countryInfo.txt lists its ISO 639 codes: "Slovak"
for Slovakia, "Tajik" for Tajikistan), then the number of kinds of evidence
("Afghan" beats "Afghani"), then a usual adjective ending (-an, -ese, -ish,
-i ... before "Czech", "Thai"), then the length of the shared prefix
("Romanian" beats "Roman").

Plural nouns (aliases) are formed by rule: W + "s", except after -ese, -sh,
-ch, -ss, -x, -z ("Armenians"; "Japanese", "Polish" have none), and kept only
when the word list or the training text has them.

What this cannot find: demonyms not spelled like any English name of their
country (British, Dutch, Swiss, Danish, Irish, Filipino, Malagasy, ...;
"French" is found through "French Republic"), and those the evidence lacks.
The script prints the countries left without one.

Hand-written supplement (--supplement, default demonyms-supplement.tsv beside
this script; flag `hand`): the adjectives the derivation misses, second forms
and plurals of derived ones ("Azeri", "Turks"), and the other group names
CoNLL tags MISC (peoples, religious groups, regional and historical
adjectives), each of a kind (`demonym`, `regional`, `ethnic`, `religion`,
`political`, which becomes its flag) and with a country where there is one.
A supplement row whose canonical the derivation also found adds its aliases
(and countries) to that entry; any other row is an entry of its own. Its
one-word aliases that are common English words (ambiguous-words.tsv) are left
out, as in the other base lists; a name that two entries share, to the
matcher (gazlib.match_key), is an error.

usage: build_demonyms.py [--ner DIR] [--json DIR] [--geonames FILE]
                         [--geonames-dir DIR] [--dict FILE] [--supplement FILE]
                         [--out FILE]
"""

import argparse
import collections
import glob
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree at build time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gazlib  # noqa: E402
from build_iso import clean_name  # noqa: E402

MIN_PREFIX = 4
GENERIC_MIN = 5
WORD = re.compile(r"^[A-Z][a-z'’]+$")
ADJECTIVE = re.compile(r"(an|ese|ish|i|ch)$")


def lcp(a, b):
    a, b = a.lower(), b.lower()
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


# What English drops from the end of a country's name to form its adjective,
# and the adjective endings it adds: general English morphology, not a list of
# demonyms ("Armeni|a" -> "Armeni|an", "Pol|and" -> "Pol|ish",
# "Kazakh|stan" -> "Kazakh", "Chin|a" -> "Chin|ese").
NAME_ENDS = {"", "a", "e", "o", "y", "s", "ia", "um", "us", "al", "on", "ay",
             "ey", "en", "in", "ce", "os", "es", "as", "que", "ique", "and",
             "land", "stan", "istan"}
ADJ_ENDS = {"n", "an", "ian", "ean", "ien", "nian", "vian", "egian", "ican",
            "i", "ese", "nese", "lese", "uese", "ish", "nish", "iot", "in"}
ADJ_ENDS_WEAK = {"", "e", "k", "ic", "er"}


def related(w, c):
    """(rank, shared prefix) of adjective word w for name word c, or None:
    some stem of 4+ letters (3 before -ish) ends the name with one of
    NAME_ENDS and the adjective with one of ADJ_ENDS (rank 2) or
    ADJ_ENDS_WEAK (rank 1: "Czech", "Thai")."""
    if w.lower() == c.lower():
        return None
    n = lcp(w, c)
    lw, lc = w.lower(), c.lower()
    best = None
    for k in range(n, 2, -1):
        rest_c, rest_w = lc[k:], lw[k:]
        if k < MIN_PREFIX and not lw.endswith("ish"):
            break
        if rest_c not in NAME_ENDS:
            continue
        if rest_w in ADJ_ENDS:
            return (2, n)
        if rest_w in ADJ_ENDS_WEAK and best is None:
            best = (1, n)
    return best


def plural(w, attested):
    """W + "s" ("Armenians"), not after -ese, -sh, -ch, -ss, -x, -z
    ("Japanese", "Polish", "Czech"); when a word list is given the plural
    must be in it or in the NER training text."""
    last = w.split()[-1]
    if re.search(r"(ese|sh|ch|ss|x|z)$", last):
        return None
    p = w + "s"
    if attested is not None and p.split()[-1] not in attested:
        return None
    return p


def country_names(json_dir, geonames_tsv):
    """{alpha-2: [English names]} from iso-codes and geonames.tsv."""
    with open(os.path.join(json_dir, "iso_3166-1.json"), encoding="utf-8") as f:
        countries = json.load(f)["3166-1"]
    short = {k: v.strip() for k, v in gazlib.geonames_countries(geonames_tsv).items()}
    names = {}
    for e in countries:
        cc = e["alpha_2"]
        forms = []
        for key in ("common_name", "name", "official_name"):
            if e.get(key):
                form, extras = clean_name(e[key])
                forms.append(form)
                forms.extend(extras)
        if cc in short:
            forms.append(short[cc])
        seen = []
        for x in forms:
            x = re.sub(r"^[Tt]he ", "", x)
            if x not in seen:
                seen.append(x)
        names[cc] = seen
    return names


def language_candidates(json_dir):
    """Whole language names ("Armenian"), W of "W Sign Language" and W of
    "W <another language name>" ("Egyptian Arabic", "Saint Lucian Creole
    French")."""
    names = set()
    for part in ("639-2", "639-3", "639-5"):
        path = os.path.join(json_dir, "iso_%s.json" % part)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for e in json.load(f)[part]:
                for name in re.split(r";\s*", e["name"]):
                    names.add(name.strip())
    out = set()
    for name in names:
        if name.endswith(" Sign Language"):
            out.add(name[:-len(" Sign Language")])
            continue
        out.add(name)
        words = name.split()
        for k in range(1, len(words)):
            rest = words[k:]
            if " ".join(rest) in names or rest[0] in names or rest[0] in ("Creole", "Pidgin"):
                out.add(" ".join(words[:k]))
    return out


def country_languages(country_info, json_dir):
    """{alpha-2: {language names}} from the Languages column of GeoNames'
    countryInfo.txt (ISO 639 codes), named by iso-codes."""
    by_code = {}
    for part in ("639-2", "639-3"):
        with open(os.path.join(json_dir, "iso_%s.json" % part), encoding="utf-8") as f:
            for e in json.load(f)[part]:
                forms = set()
                for n in re.split(r";\s*", e["name"]):
                    n = re.sub(r"\s*\(.*?\)", "", n).strip()  # "Modern Greek (1453-)"
                    if n:
                        forms.update((n, n.split()[-1]))
                for key in ("alpha_2", "alpha_3"):
                    if key in e:
                        by_code.setdefault(e[key], set()).update(forms)
    out = {}
    with open(country_info, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            c = line.rstrip("\n").split("\t")
            names = set()
            for code in c[15].split(","):
                names |= by_code.get(code.split("-")[0].strip(), set())
            out[c[0]] = names
    return out


def ner_candidates(ner_dir):
    """From the NER training files: W tagged B-MISC (one word, or two words
    B-MISC I-MISC) -> kind "ner"; a Titlecase word seen at least twice away
    from the start of a sentence, whatever its tag -> kind "text"."""
    misc = collections.Counter()
    text = collections.Counter()
    for path in sorted(glob.glob(os.path.join(ner_dir, "*.train.bio"))):
        prev = None
        first = True
        with open(path, encoding="utf-8") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 2:
                    prev = None
                    if not line.startswith("# doc "):
                        first = True
                    continue
                tok, tag = cols[0], cols[1]
                if not first and WORD.match(tok):
                    text[tok] += 1
                first = False
                if tag == "B-MISC":
                    misc[tok] += 1
                    prev = tok
                elif tag == "I-MISC" and prev is not None and " " not in prev:
                    misc[prev + " " + tok] += 1
                    prev = None
                else:
                    prev = None
    return misc, {w for w, n in text.items() if n >= 2}


SUPPLEMENT_KINDS = {"demonym", "regional", "ethnic", "religion", "political"}


def read_supplement(path, countries):
    """The hand-written rows: [(line, canonical, kind, [countries], [aliases])]."""
    rows = []
    header = None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#") or not line.strip():
                continue
            cols = line.split("\t")
            if header is None:
                header = cols
                if header != ["canonical", "kind", "country", "aliases"]:
                    gazlib.die("%s:%d: header must be canonical, kind, country, aliases" % (path, lineno))
                continue
            if len(cols) != 4:
                gazlib.die("%s:%d: %d columns, expected 4" % (path, lineno, len(cols)))
            canon, kind, cc, al = (c.strip() for c in cols)
            ccs = [c for c in cc.split(",") if c]
            aliases = [a.strip() for a in al.split("|") if a.strip()]
            if not canon or kind not in SUPPLEMENT_KINDS:
                gazlib.die("%s:%d: empty canonical or kind %r not one of %s"
                           % (path, lineno, kind, ", ".join(sorted(SUPPLEMENT_KINDS))))
            bad = [c for c in ccs if c not in countries and c != "XK"]  # XK: Kosovo, as in GeoNames
            if bad:
                gazlib.die("%s:%d: unknown country code %s" % (path, lineno, ",".join(bad)))
            rows.append((lineno, canon, kind, ccs, aliases))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ner", default=os.path.join(gazlib.REPO, "..", "shared", "data", "ner"))
    ap.add_argument("--json", default="/usr/share/iso-codes/json")
    ap.add_argument("--geonames", default=os.path.join(gazlib.GAZ_DIR, "geonames.tsv"))
    ap.add_argument("--geonames-dir", default=os.path.join(gazlib.REPO, "..", "shared", "data", "geonames"),
                    help="folder of GeoNames' countryInfo.txt (languages of each country)")
    ap.add_argument("--out", default=os.path.join(gazlib.GAZ_DIR, "demonyms.tsv"))
    ap.add_argument("--dict", default="/usr/share/dict/american-english",
                    help="word list of Debian's wamerican package ('' to skip)")
    ap.add_argument("--supplement", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "demonyms-supplement.tsv"),
                    help="hand-written supplement ('' to skip)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.json, "iso_639-3.json")):
        gazlib.die("iso-codes not found in %s (apt-get install iso-codes)" % args.json)

    common, person = gazlib.load_words()
    names = country_names(args.json, args.geonames)
    all_names = {n.lower() for v in names.values() for n in v}

    # generic words: in the English names of GENERIC_MIN or more countries
    df = collections.Counter()
    for v in names.values():
        for w in {w for n in v for w in n.split()}:
            df[w.lower()] += 1
    generic = {w for w, n in df.items() if n >= GENERIC_MIN}

    lang = language_candidates(args.json)
    spoken = country_languages(os.path.join(args.geonames_dir, "countryInfo.txt"), args.json)
    ner, text = ner_candidates(args.ner)
    words_list = set()
    if args.dict and os.path.exists(args.dict):
        with open(args.dict, encoding="utf-8") as f:
            words_list = {line.strip() for line in f if line.strip()}
    else:
        sys.stderr.write("note: no word list (apt-get install wamerican): "
                         "fewer demonyms, plurals by rule alone\n")
    cands = {}
    for kind, words in (("lang", lang), ("ner", ner), ("text", text),
                        ("dict", {w for w in words_list if WORD.match(w)})):
        for w in words:
            cands.setdefault(w, set()).add(kind)

    def usable(w):
        words = w.split()
        return (words and all(WORD.match(x) for x in words)
                and w.lower() not in all_names
                and not (len(words) == 1 and (w.lower() in common or w.lower() in person)))

    # W -> {country: score}; score = (rank, shared prefix)
    links = {}
    for w in sorted(cands):
        if not usable(w):
            continue
        ww = w.split()
        # dict and text only show that a word exists: a weak ending or a link
        # through one word of a longer name needs lang or ner evidence
        strong = bool(cands[w] & {"lang", "ner"})
        if not strong and len(ww) == 1 and w.lower() in words_list:
            continue  # "Green": a lower-case word of the list, weak evidence
        best = {}
        for cc, forms in names.items():
            score = None
            for form in forms:
                fw = form.split()
                s = None
                if len(fw) == len(ww) and fw[:-1] == ww[:-1]:
                    s = related(ww[-1], fw[-1])
                elif len(ww) == 1 and len(fw) > 1 and strong:
                    heads = [x for x in fw if x.lower() not in generic]
                    if len(heads) == 1:
                        h = heads[0]
                        if h == ww[0] and ADJECTIVE.search(h):
                            s = (2, len(h) + 1)  # "Czech Republic", "Dominican Republic"
                        else:
                            s = related(ww[0], h)
                if s and s[0] == 1 and not strong:
                    s = None
                if s and (score is None or s > score):
                    score = s
            if score:
                best[cc] = score
        if best:
            top = max(s[1] for s in best.values())
            links[w] = {cc: s for cc, s in best.items() if s[1] == top}

    # each country keeps its best candidates: a language of the country
    # (GeoNames) first, then more kinds of evidence, a usual ending, the
    # longer shared prefix
    per_country = collections.defaultdict(dict)
    for w, ccs in links.items():
        for cc, (rank, n) in ccs.items():
            national = w in spoken.get(cc, ())
            per_country[cc][w] = (national, len(cands[w]), rank, n)
    keep = {}
    for cc, ws in per_country.items():
        top = max(ws.values())
        for w, s in ws.items():
            if s == top:
                keep.setdefault(w, set()).add(cc)

    rows = {}
    for w in sorted(keep):
        p = plural(w, (words_list | text) if words_list else None)
        if p and p.lower() in all_names:
            p = None  # "Philippines"
        rows[w] = {"canonical": w, "type": "MISC", "id": "",
                   "aliases": [p] if p else [],
                   "flags": (["demonym"] + gazlib.entry_flags(w, common, person)
                             + sorted(cands[w])),
                   "population": "",
                   "country": sorted(keep[w])}
    derived = len(rows)

    # the hand-written supplement: new entries, or aliases for derived ones
    extended = 0
    dropped = []
    for lineno, w, kind, ccs, aliases in (read_supplement(args.supplement, names)
                                          if args.supplement else []):
        if w in rows:
            r = rows[w]
            extended += 1
            if kind != "demonym" or (ccs and not set(ccs) & set(r["country"])):
                gazlib.die("%s:%d: %s is derived as a demonym of %s, the supplement says %s %s"
                           % (args.supplement, lineno, w, ",".join(r["country"]), kind, ",".join(ccs)))
        else:
            r = rows[w] = {"canonical": w, "type": "MISC", "id": "", "aliases": [],
                           "flags": [kind] + gazlib.entry_flags(w, common, person),
                           "population": "", "country": []}
        r["flags"].append("hand")
        r["country"] = sorted(set(r["country"]) | set(ccs))
        keys = {gazlib.match_key(x) for x in [w] + r["aliases"]}
        for a in aliases:
            if gazlib.single_word(a) in common:
                dropped.append(a)
                continue
            if gazlib.match_key(a) not in keys:
                keys.add(gazlib.match_key(a))
                r["aliases"].append(a)
    rows = [rows[w] for w in sorted(rows)]
    owner = {}
    for r in rows:
        for x in [r["canonical"]] + r["aliases"]:
            k = gazlib.match_key(x)
            if owner.setdefault(k, r["canonical"]) != r["canonical"]:
                gazlib.die("%r of %s is also a name of %s" % (x, r["canonical"], owner[k]))
    for r in rows:
        r["country"] = ",".join(r["country"])

    comments = [
        "textmill base gazetteer: nationality adjectives (demonyms) linked to countries (ISO 3166-1",
        "alpha-2 in the country column, comma-separated when the adjective fits several).",
        "Derived mechanically by tools/gazetteer/build_demonyms.py from iso-codes language names",
        "(flag lang; LGPL-2.1+), B-MISC (ner) and Titlecase (text) words of the NER training files,",
        "Debian's wamerican word list (dict), linked to country names by spelling; see README.md.",
        "Entries and aliases flagged hand come from tools/gazetteer/demonyms-supplement.tsv (our own",
        "compilation, MIT): the demonyms the derivation misses and the group names CoNLL tags MISC",
        "(flags regional, ethnic, religion, political).",
    ]
    gazlib.write_tsv(args.out, comments, rows)
    covered = {cc for r in rows if "demonym" in r["flags"] for cc in r["country"].split(",") if cc}
    print("%s: %d entries (%d derived demonyms, %d of them extended by the supplement, %d new from it), "
          "%d bytes" % (args.out, len(rows), derived, extended, len(rows) - derived,
                        os.path.getsize(args.out)))
    src = collections.Counter("+".join(sorted(cands[w])) for w in keep)
    print("evidence of the derived ones: " + ", ".join("%s %d" % kv for kv in sorted(src.items())))
    kinds = collections.Counter(r["flags"][0] for r in rows)
    print("kinds: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    if dropped:
        print("supplement aliases left out as common words: " + " ".join(dropped))
    missing = sorted(cc for cc in names if cc not in covered)
    print("countries without a demonym (%d): %s" % (len(missing), " ".join(missing)))


if __name__ == "__main__":
    main()
