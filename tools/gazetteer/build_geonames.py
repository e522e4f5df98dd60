#!/usr/bin/env python3
"""Build plugins/entities/gazetteers/geonames.tsv from GeoNames dumps
(python3, stdlib only). The output is committed; GeoNames data is CC BY 4.0
(see ATTRIBUTION.md).

Input (GeoNames' 19-column TAB format, see ../shared/data/README.md):
  cities15000.txt   places with population > 15,000 or capitals
  cities5000.txt    places with population > 5,000 (older snapshot)
  countryInfo.txt   countries
and plugins/entities/gazetteers/ambiguous-words.tsv (build_words.py).

Selection:
  * every row of cities15000 except abandoned, destroyed and historical
    places (feature codes PPLQ, PPLW, PPLH);
  * rows of cities5000 that cities15000 lacks when they are a capital or an
    administrative seat of the first or second order (PPLC, PPLA, PPLA2);
  * every country of countryInfo.txt except codes that ISO 3166-3 lists as
    withdrawn (read from iso-codes when installed: AN, CS).

Aliases: GeoNames' alternate names written in the scripts of KEEP_SCRIPTS,
without codes (airport and other all-capital 3-5 letter codes), pure digits,
names of one or two letters, all-lower-case Latin romanisations, names
qualified with a comma ("London, Ontario" in Arabic script), common English
words (ambiguous-words.tsv) and accent-only variants of a name kept before.

Flags: ambiguous (the name is a common English word), person (the data tags it
as a person more often than a location), capital (national capital), admin1
(seat of a first-order division), country (a country row).

usage: build_geonames.py [--geonames DIR] [--out FILE] [--scripts LATIN,...]
"""

import argparse
import collections
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree at build time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gazlib  # noqa: E402
import translit  # noqa: E402

# Scripts whose alternate names are kept: Latin (what English news uses) and
# the other scripts of the largest news languages (Russian/Ukrainian, Greek,
# Arabic, Hebrew). CJK, Indic and other scripts are left out to keep the
# committed file small; iso.tsv has every language for countries and regions.
KEEP_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW"}
SKIP_CODES = {"PPLQ", "PPLW", "PPLH"}
EXTRA_CODES = {"PPLC", "PPLA", "PPLA2"}
ISO_3166_3 = "/usr/share/iso-codes/json/iso_3166-3.json"


def read_cities(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            c = line.rstrip("\n").split("\t")
            if len(c) != 19:
                gazlib.die("%s:%d: %d columns, expected 19" % (path, n, len(c)))
            rows.append(c)
    return rows


def read_countries(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            c = line.rstrip("\n").split("\t")
            out.append({"iso": c[0], "name": c[4].strip(), "capital": c[5].strip(),
                        "population": c[7], "geonameid": c[16]})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--geonames", default=os.path.join(gazlib.REPO, "..", "shared", "data", "geonames"))
    ap.add_argument("--out", default=os.path.join(gazlib.GAZ_DIR, "geonames.tsv"))
    ap.add_argument("--scripts", default=",".join(sorted(KEEP_SCRIPTS)),
                    help="comma-separated Unicode scripts whose alternate names are kept")
    args = ap.parse_args()
    keep_scripts = set(args.scripts.upper().split(","))

    common, person = gazlib.load_words()
    c15 = read_cities(os.path.join(args.geonames, "cities15000.txt"))
    c5 = read_cities(os.path.join(args.geonames, "cities5000.txt"))
    countries = read_countries(os.path.join(args.geonames, "countryInfo.txt"))

    withdrawn = set()
    if os.path.exists(ISO_3166_3):
        with open(ISO_3166_3, encoding="utf-8") as f:
            withdrawn = {e["alpha_2"] for e in json.load(f)["3166-3"]}
    else:
        sys.stderr.write("note: %s not found (apt-get install iso-codes): "
                         "withdrawn country codes are kept\n" % ISO_3166_3)

    selected = [c for c in c15 if c[7] not in SKIP_CODES]
    have = {c[0] for c in c15}
    extra = [c for c in c5 if c[0] not in have and c[7] in EXTRA_CODES]
    selected += extra

    # national capitals: the PPLC rows; for a country without one, the most
    # populous place named as countryInfo's capital
    has_pplc = {c[8] for c in selected if c[7] == "PPLC"}
    capitals = set()
    for k in countries:
        if k["capital"] and k["iso"] not in has_pplc:
            named = [c for c in selected if c[8] == k["iso"] and k["capital"] in (c[1], c[2])]
            if named:
                capitals.add(max(named, key=lambda c: int(c[14] or 0))[0])
    stats = {}
    rows = []
    for c in selected:
        gid, name, alts, fcode, cc, pop = c[0], c[1].strip(), c[3], c[7], c[8], c[14]
        alts = alts.split(",") if alts else []
        english = translit.english_name(name, alts, cc)
        if english != name:
            name, alts = english, [name] + alts
        aliases = gazlib.clean_alias_list(name, alts, common, keep_scripts, stats)
        flags = gazlib.entry_flags(name, common, person)
        if fcode == "PPLC" or gid in capitals:
            flags.append("capital")
        elif fcode == "PPLA":
            flags.append("admin1")
        rows.append({"canonical": name, "type": "LOC", "id": "geonames:" + gid,
                     "aliases": aliases, "flags": flags,
                     "population": int(pop or 0), "country": cc})

    ncountry = 0
    for k in countries:
        if k["iso"] in withdrawn or not k["geonameid"]:
            continue
        ncountry += 1
        flags = ["country"] + gazlib.entry_flags(k["name"], common, person)
        rows.append({"canonical": k["name"], "type": "LOC", "id": "geonames:" + k["geonameid"],
                     "aliases": [], "flags": flags,
                     "population": int(k["population"] or 0), "country": k["iso"]})

    rows.sort(key=lambda r: ("country" not in r["flags"], r["country"], -r["population"],
                             r["canonical"], r["id"]))
    comments = [
        "textmill base gazetteer: places from GeoNames (https://www.geonames.org/), CC BY 4.0",
        "(https://creativecommons.org/licenses/by/4.0/). Derived (selected, aliases filtered)",
        "by tools/gazetteer/build_geonames.py; see ATTRIBUTION.md. Do not edit by hand.",
        "Inputs: cities15000.txt (2025-11-19), cities5000.txt (2018-01-15), countryInfo.txt.",
        "Alias scripts: %s. flags: ambiguous, person, capital, admin1, country."
        % ",".join(sorted(keep_scripts)),
    ]
    gazlib.write_tsv(args.out, comments, rows)

    fc = collections.Counter()
    for r in rows:
        for fl in r["flags"]:
            fc[fl] += 1
    print("%s: %d entries (%d from cities15000, %d capitals/seats from cities5000, %d countries), "
          "%d aliases, %d bytes"
          % (args.out, len(rows), len(selected) - len(extra), len(extra), ncountry,
             sum(len(r["aliases"]) for r in rows), os.path.getsize(args.out)))
    print("flags: " + ", ".join("%s %d" % kv for kv in sorted(fc.items())))
    print("alternate names: " + ", ".join("%s %d" % kv for kv in sorted(stats.items())))


if __name__ == "__main__":
    main()
