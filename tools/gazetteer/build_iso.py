#!/usr/bin/env python3
"""Build iso.tsv, the gazetteer of countries and their subdivisions, from
Debian's iso-codes package (python3, stdlib only). Run at build time by
tools/gazetteer/CMakeLists.txt; the output is not committed.

Input:
  <json>/iso_3166-1.json, iso_3166-2.json        (iso-codes, /usr/share/iso-codes/json)
  <locale>/*/LC_MESSAGES/iso_3166-1.mo, -2.mo    (translations, /usr/share/locale)
  plugins/entities/gazetteers/ambiguous-words.tsv (common words: flags, alias filter)
  plugins/entities/gazetteers/geonames.tsv        (optional: short English country
                                                   names, "Russia" for "Russian Federation")

Countries: canonical = iso-codes' common_name, else its name (an inverted
"Korea, Republic of" turned round); when GeoNames' short name is a part of
that name ("Russia" in "Russian Federation", "Vatican" in "Holy See (Vatican
City State)") the short name is canonical. Aliases: the other English forms
(name, official_name, GeoNames' name) and the translations of all of them in
every language iso-codes has. No alpha-2/alpha-3 codes.

Subdivisions: canonical = the name (cleaned of iso-codes' "[other name
GB-XXX]" notes and "(EH)" remarks, inverted names turned round), aliases =
the other name in brackets, the name without its category word ("Uva" for
"Uva Province" of type Province) and the translations.

Aliases go through the same filter as geonames.tsv (gazlib.alias_ok): no
one- or two-letter names (except CJK/Hangul), no common English words, no
accent-only variants. All-capital names are kept here ("USA" is a name in
several languages), codes are never added.

usage: build_iso.py --out FILE [--json DIR] [--locale DIR] [--geonames FILE]
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
import translit  # noqa: E402

CONJ = {"and", "y", "et", "e", "i", "und", "og", "en", "&"}
FUNC = {"of", "the", "de", "del", "des", "du", "di", "da", "do", "dos", "das",
        "la", "le", "el"}
CODE_NOTE = re.compile(r"\s+[A-Z]{2}-[A-Z0-9]{1,3}$")
REMARK = re.compile(r"^[A-Z]{2}(-partial)?$")


# The abbreviations English prose uses for countries, in capitals. They are not
# iso-codes data (its alpha codes are left out: "IN", "IT" are words); the
# matcher takes a name in capitals that is also a common word ("US") only when
# the text prints it in capitals among words that are not.
ABBREVIATIONS = {
    "US": ["US", "U.S.", "USA", "U.S.A."], "GB": ["UK", "U.K."], "AE": ["UAE", "U.A.E."],
    "KP": ["DPRK"], "CN": ["PRC"], "KR": ["ROK"], "CD": ["DRC"], "CF": ["CAR"],
}


def titled_words(s):
    """Every word capitalised or a function word: "Vatican City State",
    "Santo Domingo"; not "French part", "stolitsa"."""
    words = s.split()
    return bool(words) and all(w[:1].isupper() or w.lower() in FUNC for w in words)


def clean_name(raw, remarks=True):
    """iso-codes name -> (usable form, [extra forms]).

    "Barcelona [Barcelona]"                -> "Barcelona"
    "Cardiff [Caerdydd GB-CRD]"            -> "Cardiff", ["Caerdydd"]
    "Holy See (Vatican City State)"        -> "Holy See", ["Vatican City State"]
    "Aousserd (EH)"                        -> "Aousserd"
    "Korea, Republic of"                   -> "Republic of Korea", ["Korea"]
    "Virgin Islands, British"              -> "British Virgin Islands", ["Virgin Islands"]
    "Taiwan, Province of China"            -> "Taiwan"
    "Bonaire, Sint Eustatius and Saba"     -> unchanged (a list, not an inversion)

    With remarks=False (translations) a parenthesis is dropped, never kept
    as a name: translations of "Saint Martin (French part)" say "(Parte
    Francesa)" with a capital letter.
    """
    extras = []
    s = raw.strip()
    m = re.search(r"\s*\[([^\]]*)\]", s)
    if m:
        alt = CODE_NOTE.sub("", m.group(1)).strip()
        if alt:
            extras.append(alt)
        s = (s[:m.start()] + s[m.end():]).strip()
    m = re.search(r"\s*\(([^)]*)\)", s)
    if m:
        inner = m.group(1).strip()
        at_end = m.end() == len(s)
        if remarks and at_end and not REMARK.match(inner) and titled_words(inner):
            extras.append(inner)
        s = (s[:m.start()] + " " + s[m.end():]).strip()
        s = re.sub(r"\s+", " ", s)
    if s.count(", ") == 1:
        a, b = s.split(", ")
        bw = b.split()
        if CONJ & {w.lower() for w in bw}:
            pass
        elif len(bw) == 1 or bw[-1].lower() in FUNC:
            s = b + " " + a
            extras.append(a)
        else:
            s = a
    return s, extras


def type_words(types):
    out = set()
    for t in types:
        out.update(w.lower().strip(",") for w in t.split())
    return out


def without_category(name, typ, all_type_words):
    """"Uva Province" (Province) -> "Uva"; "Addu City" (City) -> "Addu";
    not "Australian Capital Territory" -> "Australian Capital"."""
    words = name.split()
    tlast = typ.split()[-1].lower()
    if len(words) < 2 or words[-1].lower() != tlast:
        return None
    rest = words[:-1]
    if rest[-1].lower() in all_type_words or rest[-1].lower() in FUNC:
        return None
    return " ".join(rest)


def load_translations(locale_dir, domain):
    """{lang: {msgid: msgstr}} for every language with <domain>.mo."""
    out = {}
    for path in sorted(glob.glob(os.path.join(locale_dir, "*", "LC_MESSAGES", domain + ".mo"))):
        lang = path.split(os.sep)[-3]
        out[lang] = gazlib.read_mo(path)
    return out


def translated(trans, msgid):
    """Translations of msgid in every language, in language order, cleaned."""
    out = []
    for lang in sorted(trans):
        t = trans[lang].get(msgid)
        if t and t != msgid:
            form, extras = clean_name(t, remarks=False)
            out.append(form)
            out.extend(extras)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", default="/usr/share/iso-codes/json")
    ap.add_argument("--locale", default="/usr/share/locale")
    ap.add_argument("--words", default=gazlib.WORDS_FILE)
    ap.add_argument("--geonames", default=os.path.join(gazlib.GAZ_DIR, "geonames.tsv"),
                    help="committed geonames.tsv for short country names ('' to skip)")
    args = ap.parse_args()

    p1 = os.path.join(args.json, "iso_3166-1.json")
    p2 = os.path.join(args.json, "iso_3166-2.json")
    for p in (p1, p2):
        if not os.path.exists(p):
            gazlib.die("%s not found: install Debian's iso-codes package "
                       "(apt-get install iso-codes) or pass --json DIR" % p)
    with open(p1, encoding="utf-8") as f:
        countries = json.load(f)["3166-1"]
    with open(p2, encoding="utf-8") as f:
        subdivisions = json.load(f)["3166-2"]
    tr1 = load_translations(args.locale, "iso_3166-1")
    tr2 = load_translations(args.locale, "iso_3166-2")
    if not tr1:
        sys.stderr.write("warning: no iso_3166-1.mo under %s: no translations\n" % args.locale)
    common, person = gazlib.load_words(args.words)
    short = gazlib.geonames_countries(args.geonames)

    stats = {}
    rows = []
    for e in countries:
        cc = e["alpha_2"]
        name, name_extra = clean_name(e["name"])
        canonical = e.get("common_name") or name
        gn = short.get(cc, "").strip()
        if not e.get("common_name") and gn and gn != canonical and gn in e["name"]:
            canonical = gn
        cands = [e.get("common_name", ""), name] + name_extra
        if e.get("official_name"):
            cands.append(e["official_name"])
        if gn:
            cands.append(gn)
        for key in ("common_name", "name", "official_name"):
            if e.get(key):
                cands += translated(tr1, e[key])
        aliases = gazlib.clean_alias_list(canonical, [c for c in cands if c], common,
                                          None, stats, allow_caps=True)
        aliases += [a for a in ABBREVIATIONS.get(cc, []) if a not in aliases]
        flags = ["country"] + gazlib.entry_flags(canonical, common, person)
        rows.append({"canonical": canonical, "type": "LOC", "id": "iso3166:" + cc,
                     "aliases": aliases, "flags": flags, "country": cc})

    all_type_words = type_words({e["type"] for e in subdivisions})
    for e in subdivisions:
        code = e["code"]
        canonical, extras = clean_name(e["name"])
        cands = list(extras)
        stripped = without_category(canonical, e["type"], all_type_words)
        if stripped:
            cands.append(stripped)
        cands += translated(tr2, e["name"])
        english = translit.english_name(canonical, cands, code.split("-")[0])
        if english != canonical:
            canonical, cands = english, [canonical] + cands
        aliases = gazlib.clean_alias_list(canonical, cands, common, None, stats,
                                          allow_caps=True)
        flags = gazlib.entry_flags(canonical, common, person)
        rows.append({"canonical": canonical, "type": "LOC", "id": "iso3166-2:" + code,
                     "aliases": aliases, "flags": flags, "country": code.split("-")[0]})

    comments = [
        "textmill base gazetteer: countries and subdivisions from Debian's iso-codes package",
        "(https://salsa.debian.org/iso-codes-team/iso-codes, data LGPL-2.1-or-later), with the",
        "translations of %d languages (3166-1) and %d (3166-2). Generated at build time by" % (len(tr1), len(tr2)),
        "tools/gazetteer/build_iso.py; short country names from geonames.tsv (GeoNames, CC BY 4.0).",
        "flags: country, ambiguous, person. See plugins/entities/gazetteers/README.md.",
    ]
    gazlib.write_tsv(args.out, comments, rows)
    fc = collections.Counter(fl for r in rows for fl in r["flags"])
    print("%s: %d entries (%d countries, %d subdivisions), %d aliases, %d bytes"
          % (args.out, len(rows), len(countries), len(subdivisions),
             sum(len(r["aliases"]) for r in rows), os.path.getsize(args.out)))
    print("flags: " + ", ".join("%s %d" % kv for kv in sorted(fc.items())))
    print("names considered: " + ", ".join("%s %d" % kv for kv in sorted(stats.items())))


if __name__ == "__main__":
    main()
