"""Shared helpers for the gazetteer build scripts (python3, stdlib only).

The scripts in this folder turn public data into the gazetteers of the
`entities` stage; see plugins/entities/gazetteers/README.md.
"""

import os
import re
import struct
import sys
import unicodedata

# Columns every textmill gazetteer TSV has, in this order. The first four are
# required; flags, population and country are optional extra columns that the
# base gazetteers add (a reader takes the column names from the header line).
COLUMNS = ["canonical", "type", "id", "aliases", "flags", "population", "country"]
TYPES = ("LOC", "ORG", "PER", "MISC")

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GAZ_DIR = os.path.join(REPO, "plugins", "entities", "gazetteers")
WORDS_FILE = os.path.join(GAZ_DIR, "ambiguous-words.tsv")


def die(msg):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(1)


# ---------------------------------------------------------------- scripts

# Scripts in which a two-character name is a normal name (one character per
# syllable or morpheme): 日本, 中国, 서울.
SYLLABIC = {"HAN", "HIRAGANA", "KATAKANA", "HANGUL", "YI"}


def scripts_of(s):
    """Set of Unicode script names (first word of the character name) of the
    letters in s: LATIN, CYRILLIC, GREEK, HAN, ..."""
    out = set()
    for ch in s:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            if not name:
                continue
            word = name.split()[0]
            if word == "CJK":
                word = "HAN"
            elif word == "KATAKANA-HIRAGANA":
                word = "KATAKANA"
            elif word in ("MODIFIER", "FULLWIDTH", "HALFWIDTH"):
                continue  # modifier letters (ʼ) and width forms carry no script
            out.add(word)
    return out


def letters(s):
    return sum(1 for ch in s if ch.isalpha())


def fold(s):
    """Accent-folded key: NFKD with combining marks removed. Case is kept.
    Only used to avoid listing an alias that differs from another one by
    accents alone (folding is the matcher's job)."""
    d = unicodedata.normalize("NFKD", s)
    return "".join(ch for ch in d if not unicodedata.combining(ch))


# The matcher's transliterations (plugins/entities/fold.c), applied after
# lower-casing and again to the base letters of a decomposed character.
MATCH_TRANSLIT = {"ş": "sh", "ș": "sh", "ç": "ch", "ə": "a", "ı": "i", "ğ": "g",
                  "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d",
                  "ð": "d", "þ": "th", "x": "kh", "q": "g"}
APOSTROPHES = {"'", "\u2019", "\u02bc"}


def match_key(s):
    """The key the entities stage matches a name by: a Python copy of
    fold_name() in plugins/entities/fold.c (lower case, the transliterations
    above, diacritics and apostrophes dropped, any other non-alphanumeric run
    a single space: "Nagorno-Karabakh" and "Nagorno Karabakh" are one key,
    "WHO" and "Who" are one key). Used to find names that the matcher cannot
    tell apart."""
    out = []
    space = True
    for ch in s:
        ch = ch.lower()
        t = MATCH_TRANSLIT.get(ch)
        if t:
            out.append(t)
            space = False
            continue
        for b in unicodedata.normalize("NFKD", ch):
            cat = unicodedata.category(b)
            if cat.startswith("M") or b in APOSTROPHES:
                continue
            if not (cat.startswith("L") or cat.startswith("N")):
                if not space:
                    out.append(" ")
                space = True
                continue
            b = b.lower()
            out.append(MATCH_TRANSLIT.get(b, b))
            space = False
    return "".join(out).rstrip(" ")


# ---------------------------------------------------------------- words

def load_words(path=WORDS_FILE):
    """Read ambiguous-words.tsv -> (common, person): sets of lower-case words."""
    common, person = set(), set()
    if not os.path.exists(path):
        die("%s is missing: run tools/gazetteer/build_words.py first" % path)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or line.startswith("word\t"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 2:
                continue
            if "common" in cols[1].split(","):
                common.add(cols[0])
            if "person" in cols[1].split(","):
                person.add(cols[0])
    return common, person


WORD_SPLIT = re.compile(r"[\s\-]+")


def single_word(s):
    """s as one lower-case word if it is one word (no space or hyphen)."""
    parts = [p for p in WORD_SPLIT.split(s.strip()) if p]
    return parts[0].lower() if len(parts) == 1 else None


# ---------------------------------------------------------------- aliases

AIRPORT_LIKE = re.compile(r"^[A-Z0-9]{3,5}$")


def alias_ok(a, common, keep_scripts=None, allow_caps=False):
    """The mechanical alias filter shared by all base gazetteers.
    Returns None when a is kept, else the reason it was dropped."""
    if not a or "\t" in a or "|" in a:
        return "empty"
    if "," in a or "\u060c" in a:
        return "qualified"  # "London, Ontario" written as one name
    n = letters(a)
    if n == 0:
        return "no-letters"  # pure digits, punctuation
    sc = scripts_of(a)
    if keep_scripts is not None and not sc <= keep_scripts:
        return "script"
    if n <= 2 and not (sc and sc <= SYLLABIC):
        return "short"  # one or two letters (but 日本, 서울 are names)
    if not allow_caps and AIRPORT_LIKE.match(a) and any(c.isalpha() for c in a):
        return "code"  # airport (IATA, ICAO) and other codes: ALV, EGLL, K1G5
    if "LATIN" in sc and not any(ch.isupper() for ch in a):
        return "lowercase"  # machine romanisations: "an dao er cheng"
    w = single_word(a)
    if w is not None and w in common:
        return "common-word"  # "Split", "Van" as an alias of some place
    return None


def clean_alias_list(canonical, cands, common, keep_scripts=None, stats=None,
                     allow_caps=False):
    """Filter, de-duplicate (exact and accent-folded) and order aliases."""
    # An alias that differs from the canonical or from an alias kept before
    # it by accents alone is left out: folding is the matcher's job. Of two
    # such aliases the first in the source's order is kept (GeoNames sorts
    # its names, so "Kiev" comes before "Kíev").
    seen = {canonical, fold(canonical)}
    cands = [c.strip() for c in cands]
    keep = {}
    for i in range(len(cands)):
        a = re.sub(r"\s+", " ", cands[i])
        why = alias_ok(a, common, keep_scripts, allow_caps)
        if why is None and (a in seen or fold(a) in seen):
            why = "duplicate"
        if stats is not None:
            stats[why or "kept"] = stats.get(why or "kept", 0) + 1
        if why is None:
            seen.add(a)
            seen.add(fold(a))
            keep[i] = a
    return [keep[i] for i in sorted(keep)]


def entry_flags(canonical, common, person):
    flags = []
    w = single_word(canonical)
    if w is not None and w in common:
        flags.append("ambiguous")
    if w is not None and w in person:
        flags.append("person")
    return flags


# ---------------------------------------------------------------- output

def write_tsv(path, comments, rows, columns=COLUMNS):
    """rows: dicts with the column names as keys; aliases a list, flags a list."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for c in comments:
            f.write(("# " + c).rstrip() + "\n")
        f.write("\t".join(columns) + "\n")
        for r in rows:
            vals = []
            for col in columns:
                v = r.get(col, "")
                if isinstance(v, (list, tuple)):
                    v = ("|" if col == "aliases" else ",").join(v)
                v = "" if v is None else str(v)
                if "\t" in v or "\n" in v:
                    die("tab or newline in %s of %r" % (col, r))
                vals.append(v)
            f.write("\t".join(vals) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- gettext

def read_mo(path):
    """Parse a GNU gettext .mo file -> {msgid: msgstr} (singular entries)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412DE:
        e = "<"
    elif magic == 0xDE120495:
        e = ">"
    else:
        raise ValueError("%s: not a .mo file" % path)
    _rev, n, o_orig, o_trans = struct.unpack(e + "4I", data[4:20])
    out = {}
    for i in range(n):
        ln, off = struct.unpack(e + "2I", data[o_orig + 8 * i:o_orig + 8 * i + 8])
        tl, toff = struct.unpack(e + "2I", data[o_trans + 8 * i:o_trans + 8 * i + 8])
        msgid = data[off:off + ln]
        msgstr = data[toff:toff + tl]
        if not msgid or b"\x00" in msgid:
            continue  # header, plural forms
        if b"\x04" in msgid:
            msgid = msgid.split(b"\x04", 1)[1]  # msgctxt
        out[msgid.decode("utf-8")] = msgstr.decode("utf-8")
    return out


def geonames_countries(path):
    """{alpha-2: GeoNames' country name} from the committed geonames.tsv."""
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        header = None
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if header is None:
                header = cols
                continue
            r = dict(zip(header, cols))
            if "country" in r.get("flags", "").split(","):
                out[r["country"]] = r["canonical"]
    return out
