"""English forms of place names from countries whose Latin spelling English
text does not copy but transliterates (python3, stdlib only).

English-language news writes Azerbaijani places in transliteration:
Şuşa is "Shusha", Laçın "Lachin", Kəlbəcər "Kalbajar", Xankəndi "Khankendi".
GeoNames and iso-codes name them in the national orthography (or, for some,
in an older Russian-based spelling), and list the English form among the
alternate names. For places of these countries, english_name() picks that
alternate name: the ASCII name closest to a transliteration of the national
spelling. An ASCII name close to that transliteration is kept ("Baku" for
Bakı): it is the English exonym. Places of other countries keep their names
("São Paulo", "Eskişehir", "Türkmenabat", as English text prints them).
"""

import unicodedata

# ISO 3166-1 codes of the countries concerned.
COUNTRIES = {"AZ"}

# Letters of the Azerbaijani Latin alphabet and their usual English
# transliteration (c is j, x is kh, ş sh, ç ch, ə a or e).
_MAP = {"ş": "sh", "ç": "ch", "ğ": "gh", "ı": "i", "ə": "a", "x": "kh", "c": "j",
        "ö": "o", "ü": "u"}
# Letters that mark a name as written in that alphabet.
_NATIONAL = set("əƏşŞçÇğĞıİ")


def _translit(name):
    out = []
    for ch in name:
        low = ch.lower()
        t = _MAP.get(low)
        if t is None:
            t = "".join(c for c in unicodedata.normalize("NFKD", low) if not unicodedata.combining(c))
        out.append(t.capitalize() if ch != low and t else t)
    return "".join(out)


def _distance(a, b):
    a, b = a.lower(), b.lower()
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def english_name(canonical, alternates, country):
    """The name an English text uses for a place of `country` called
    `canonical`, with `alternates` (its other names), or `canonical` itself."""
    if country not in COUNTRIES:
        return canonical
    national = [n for n in [canonical] + list(alternates) if _NATIONAL & set(n)]
    if not national:
        return canonical
    # the national spelling of this name (not of a former name: Goranboy was
    # Qasım İsmayılov), and what English makes of it
    if national[0] == canonical:
        guess = _translit(canonical)
    else:
        guess = min((_translit(n) for n in national), key=lambda g: _distance(g, canonical))
        if _distance(guess, canonical) * 2 > max(len(guess), len(canonical)):
            return canonical
    if canonical.isascii() and _distance(canonical, guess) * 4 <= len(guess):
        return canonical
    ascii_names = [n for n in [canonical] + list(alternates)
                   if n and n.isascii() and n[0].isupper() and "'" not in n and "’" not in n]
    best = None
    for n in ascii_names:
        d = _distance(n, guess)
        if d * 4 <= len(guess) and (best is None or d < best[0]):
            best = (d, n)
    return best[1] if best else canonical
