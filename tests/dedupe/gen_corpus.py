#!/usr/bin/env python3
"""A seeded near-duplicate evaluation corpus built, at test time, from real
article text (no third-party text is committed):

  originals  the articles of seeds/*.txt (seed 001 is an archive page: the
             paragraphs between its "Posted in ..." footers are its articles),
             plus, when ../shared/data/ner exists, a few hundred documents
             rebuilt from its .bio token files (Wikipedia, web, SEC text).
             Originals are made mutually distinct: one whose word-3-shingle
             Jaccard with an earlier original is >= 0.3 is dropped, so every
             pair across groups is a true non-duplicate.
  copies     per original: word edits (substitute/insert/delete) at 1, 2, 3, 5,
             10, 15 and 20 % of its words; a re-wrapped copy (paragraphs
             reflowed at a random width); a copy with site headers/footers; a
             copy with a new lead (its first paragraph written anew); a copy
             with its last paragraphs cut (15-35 % of its words); a syndicated
             copy (new lead, chrome, 10-25 % cut, 2 % word edits); and for some
             originals an exact copy, a case-only and a whitespace-only variant.
  related    hard negatives, each a group of its own: a document that quotes
             the first 20-45 % of an original's words and goes on with text of
             its own (a word-3-shingle Jaccard of about 0.1-0.3 with it): not a
             copy, and a dedupe must not say it is.

The corpus is JSONL ({"id","text","meta"}); the truth file is TSV with one row
per document: id, original (the group: the id of its original), kind, rate
(word edit rate), jaccard (word-3-shingle Jaccard with its original, as this
script measures it) and origin (where the original came from). Ids are neutral
(d000123) so that nothing in an id can leak the answer. In the output each
original comes before all of its copies (the rest is shuffled and groups
interleave), so the document a dedupe keeps is the original: a copy is "found"
when it is marked as a duplicate of a document of its own group.

usage: gen_corpus.py SOURCE_DIR OUT.jsonl TRUTH.tsv [--seed N] [--shared DIR]
                     [--max-originals N] [--copies K]
Imported by quality.py as a module (generate())."""
import argparse, glob, json, os, random, re, sys

RATES = (0.01, 0.02, 0.03, 0.05, 0.10, 0.15, 0.20)
MIN_WORDS = 150          # shorter texts make edit rates too coarse to mean much
DISTINCT_JACCARD = 0.3   # originals at or above this with an earlier one are dropped
WORD = re.compile(r"\w+", re.UNICODE)

# Site chrome that real re-publications wrap around an article. Varied on
# purpose: a dedupe must look past it, not learn one site's footer.
SITES = ["The Daily Ledger", "Global News Wire", "Caucasus Monitor", "World Desk Today",
         "Eurasia Report", "The Morning Courier", "NewsNow 24", "Frontline Digest",
         "Atlantic Observer", "Metro Herald", "Open Source Post", "The Evening Standard-Times"]
DATES = ["November 10, 2020", "2020-10-27", "27/10/2020 14:05", "Tue, 10/27/2020 - 02:00",
         "Oct 3, 2021", "Monday 4 January 2021", "12.03.2019", "Updated: 5 hours ago"]
HEADERS = ["{site}", "{site} | World", "Home > World > Europe", "Published {date}",
           "{date}", "By staff writers, {site}", "Share this article", "Listen to this article",
           "Skip to main content", "Breaking news from {site}"]
FOOTERS = ["Share this article", "Share on Facebook Share on Twitter Email",
           "Read more at {url}", "Originally published at {url}", "© {year} {site}. All rights reserved.",
           "Subscribe to our newsletter", "Filed under: World, Politics", "Tags: conflict, region",
           "Related: more stories from {site}", "Comments are closed.", "via {site} {url}",
           "Follow us on Twitter @{handle}", "Posted {date}"]


def words_of(text):
    return [w.lower() for w in WORD.findall(text)]


def shingles(text, k=3):
    w = words_of(text)
    return {" ".join(w[i:i + k]) for i in range(max(1, len(w) - k + 1))} if w else set()


def jaccard(a, b):
    return len(a & b) / len(a | b) if a or b else 1.0


# ---------------------------------------------------------------- originals

def seed_articles(seeds_dir):
    """Articles of the sample seeds: seed 001 (an archive page) is cut at its
    "Posted in" footers; every other seed is one article."""
    out = []
    for path in sorted(glob.glob(os.path.join(seeds_dir, "*.txt"))):
        name = os.path.splitext(os.path.basename(path))[0]
        lines = open(path, encoding="utf-8").read().split("\n")
        if any(l.startswith("Posted in") for l in lines):
            chunk, n = [], 0
            for l in lines:
                if l.startswith("Posted in"):
                    out.append((f"seed:{name}#{n}", "\n".join(chunk).strip()))
                    chunk, n = [], n + 1
                else:
                    chunk.append(l)
            if "\n".join(chunk).strip():
                out.append((f"seed:{name}#{n}", "\n".join(chunk).strip()))
        else:
            out.append((f"seed:{name}", "\n".join(lines).strip()))
    return out


# Detokenisation good enough for shingling and for looking like prose: no space
# before closing punctuation and clitics, none after opening brackets.
_DETOK = [(re.compile(r" ([,.;:!?%)\]}])"), r"\1"), (re.compile(r"([(\[{$]) "), r"\1"),
          (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b", re.I), r"\1"),
          (re.compile(r" ' (s|re|ve|m|ll|d|t)\b", re.I), r"'\1"),  # CrossNER splits "Home ' s"
          (re.compile(r"`` ?| ?''"), '"')]


def detok(tokens):
    s = " ".join(tokens)
    for rx, rep in _DETOK:
        s = rx.sub(rep, s)
    return s


def bio_documents(ner_dir, rng):
    """Documents rebuilt from .bio files. Files with `# doc` markers give one
    document per marker (long SEC filings are cut into ~400-word pieces, since
    one filing is a single text of thousands of words). CrossNER files have no
    markers: their sentences (Wikipedia paragraphs, sampled) are grouped into
    pseudo-articles of 150-400 words. Social-media files (BTC, WNUT17) are not
    articles and are skipped."""
    files = sorted(glob.glob(os.path.join(ner_dir, "wikigold.*.bio")) +
                   glob.glob(os.path.join(ner_dir, "uner_en_ewt.*.bio")) +
                   glob.glob(os.path.join(ner_dir, "sec_fin.*.bio")) +
                   glob.glob(os.path.join(ner_dir, "crossner_*.bio")))
    out = []
    for path in files:
        base = os.path.basename(path)[:-4]
        docs, sent, sents = [], [], []
        cur_id = None
        for line in open(path, encoding="utf-8"):
            line = line.rstrip("\n")
            if line.startswith("# doc ") and "\t" not in line:
                if sents:
                    docs.append((cur_id, sents))
                cur_id, sents = line[6:], []
            elif not line:
                if sent:
                    sents.append(detok(sent))
                    sent = []
            else:
                sent.append(line.split("\t")[0])
        if sent:
            sents.append(detok(sent))
        if sents:
            docs.append((cur_id, sents))
        for doc_id, sents in docs:
            # group sentences into paragraphs of 1-4 and documents of at most
            # ~400 words (a marker-less file is one long "document" here)
            limit = rng.randint(150, 400) if doc_id is None else (400 if base.startswith("sec_") else 10 ** 9)
            paras, para, nw, piece = [], [], 0, 0
            for s in sents:
                para.append(s)
                nw += len(s.split())
                if len(para) >= rng.randint(1, 4):
                    paras.append(" ".join(para))
                    para = []
                if nw >= limit:
                    if para:
                        paras.append(" ".join(para))
                        para = []
                    out.append((f"{base}:{doc_id or ''}/{piece}", "\n\n".join(paras)))
                    paras, nw, piece = [], 0, piece + 1
                    if doc_id is None:
                        limit = rng.randint(150, 400)
            if para:
                paras.append(" ".join(para))
            if paras:
                out.append((f"{base}:{doc_id or ''}/{piece}", "\n\n".join(paras)))
    return out


def distinct(cands):
    """Keeps candidates in order, dropping any whose shingle Jaccard with an
    earlier kept one is >= DISTINCT_JACCARD. An inverted index over shingles
    limits the comparisons to texts that share at least one shingle."""
    kept, sets, index = [], [], {}
    for origin, text in cands:
        s = shingles(text)
        seen = set()
        for sh in s:
            seen.update(index.get(sh, ()))
        if any(jaccard(s, sets[j]) >= DISTINCT_JACCARD for j in seen):
            continue
        for sh in s:
            index.setdefault(sh, []).append(len(sets))
        sets.append(s)
        kept.append((origin, text))
    return kept


# ---------------------------------------------------------------- copies

def tokens_with_space(text):
    """[(word, whitespace after it)], so that word edits keep the layout."""
    parts = re.findall(r"(\S+)(\s*)", text)
    lead = text[:len(text) - len(text.lstrip())]
    return lead, [list(p) for p in parts]


def word_edits(text, rate, rng, vocab):
    """Substitutes, inserts or deletes round(rate * words) words (at least one),
    each at a distinct position, each kind equally likely."""
    lead, toks = tokens_with_space(text)
    n = max(1, round(rate * len(toks)))
    for pos in sorted(rng.sample(range(len(toks)), n), reverse=True):
        op = rng.choice("sid")
        if op == "s":
            toks[pos][0] = rng.choice(vocab)
        elif op == "i":
            toks.insert(pos, [rng.choice(vocab), " "])
        elif len(toks) > 1:
            # keep the deleted word's trailing whitespace if it was a line break
            ws = toks[pos][1]
            del toks[pos]
            if "\n" in ws and pos > 0:
                toks[pos - 1][1] = ws
    return lead + "".join(w + s for w, s in toks)


def reflow(text, rng):
    """Re-wraps every paragraph at one random width: only line breaks change."""
    width = rng.randint(35, 110)
    out = []
    for para in re.split(r"\n\s*\n", text):
        words, lines, cur = para.split(), [], ""
        for w in words:
            if cur and len(cur) + 1 + len(w) > width:
                lines.append(cur)
                cur = w
            else:
                cur = f"{cur} {w}" if cur else w
        if cur:
            lines.append(cur)
        out.append("\n".join(lines))
    return "\n\n".join(p for p in out if p)


def chrome(text, rng):
    """Adds 1-2 header lines and 1-2 footer lines of site chrome."""
    site = rng.choice(SITES)
    slug = re.sub(r"[^a-z0-9]+", "", site.lower())
    fill = dict(site=site, date=rng.choice(DATES), year=rng.randint(2015, 2024),
                url=f"https://www.{slug}.com/{rng.choice(['world', 'news', 'politics'])}/{rng.randint(10000, 99999)}",
                handle=slug[:12])
    head = [h.format(**fill) for h in rng.sample(HEADERS, rng.randint(1, 2))]
    foot = [f.format(**fill) for f in rng.sample(FOOTERS, rng.randint(1, 2))]
    return "\n".join(head) + "\n\n" + text + "\n\n" + "\n".join(foot)


def case_variant(text, rng):
    """ASCII case changes only (upper, lower or word-wise flips), so the
    expectation does not hinge on how a stage folds non-ASCII letters."""
    how = rng.choice(["upper", "lower", "flip"])
    asc = lambda f: "".join(f(c) if c.isascii() else c for c in text)
    if how == "upper":
        return asc(str.upper)
    if how == "lower":
        return asc(str.lower)
    return re.sub(r"[A-Za-z]+", lambda m: m.group(0).swapcase() if rng.random() < 0.3 else m.group(0), text)


def whitespace_variant(text, rng):
    """Only ASCII whitespace changes: doubled spaces, tabs, trailing spaces,
    extra blank lines, leading/trailing newlines."""
    def ws(m):
        s = m.group(0)
        r = rng.random()
        if "\n" in s:
            return s + ("\n" if r < 0.5 else "  \n")
        return "  " if r < 0.15 else "\t" if r < 0.2 else s
    return "\n\n " + re.sub(r"\s+", ws, text) + " \n\n\n"


def paragraphs_of(text):
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def new_lead(text, rng, vocab):
    """The first paragraph written anew (as many words, none of its own), or
    the first 15 % of the words of a one-paragraph text."""
    paras = paragraphs_of(text)
    if len(paras) > 1 and len(paras[0].split()) < 0.5 * len(text.split()):
        n, rest = len(paras[0].split()), paras[1:]
    else:
        words = text.split()
        n = max(1, round(0.15 * len(words)))
        rest = [" ".join(words[n:])]
    lead = " ".join(rng.choice(vocab) for _ in range(n)).capitalize() + "."
    return "\n\n".join([lead] + rest)


def cut(text, rng, lo, hi):
    """The last paragraphs cut, lo-hi of the words: whole paragraphs from the
    end, then what is still owed from the end of the last one left."""
    paras = paragraphs_of(text)
    want = rng.uniform(lo, hi) * len(text.split())
    while len(paras) > 1 and len(paras[-1].split()) <= want:
        want -= len(paras[-1].split())
        paras.pop()
    words = paras[-1].split()
    paras[-1] = " ".join(words[:max(1, len(words) - max(1, int(want)))])
    return "\n\n".join(paras)


def related(text, other, rng):
    """A document that quotes the first 20-45 % of text's words and goes on
    with other's, to the same length."""
    words, more = text.split(), other.split()
    k = max(1, round(rng.uniform(0.20, 0.45) * len(words)))
    return " ".join(words[:k]) + "\n\n" + " ".join(more[:max(1, len(words) - k)])


# ---------------------------------------------------------------- corpus

def originals(source_dir, shared_dir, rng, max_originals):
    cands = [(o, t) for o, t in seed_articles(os.path.join(source_dir, "seeds"))
             if len(t.split()) >= MIN_WORDS]
    n_seed = len(cands)
    ner_dir = os.path.join(shared_dir, "data", "ner") if shared_dir else None
    have_shared = bool(ner_dir and glob.glob(os.path.join(ner_dir, "*.bio")))
    if have_shared:
        extra = [(o, t) for o, t in bio_documents(ner_dir, rng) if len(t.split()) >= MIN_WORDS]
        rng.shuffle(extra)
        cands += extra
    kept = distinct(cands)
    # the rest of the distinct texts are the own words of the related documents
    return kept[:max_originals], kept[max_originals:], n_seed, have_shared


def generate(source_dir, shared_dir=None, seed=1, max_originals=300, copies=None):
    """Returns (docs, truth, info): docs are dicts for JSONL, truth maps id ->
    {original, kind, rate, jaccard, origin}."""
    rng = random.Random(seed)
    origs, spare, n_seed, have_shared = originals(source_dir, shared_dir, rng, max_originals)
    # with the seeds alone there are only a dozen originals: more copies per
    # rate keep the recall figures meaningful
    if copies is None:
        copies = 1 if len(origs) >= 100 else 4
    vocab = sorted({w for _, t in origs for w in t.split() if w.isalpha() and len(w) > 2})
    groups = []
    for gi, (origin, text) in enumerate(origs):
        items = [("original", 0.0, text)]
        for rate in RATES:
            for _ in range(copies):
                items.append(("edit", rate, word_edits(text, rate, rng, vocab)))
        for _ in range(copies):
            items.append(("reflow", 0.0, reflow(text, rng)))
            # half the chrome copies are also re-wrapped, as re-published pages are
            c = chrome(text if rng.random() < 0.5 else reflow(text, rng), rng)
            items.append(("chrome", 0.0, c))
            items.append(("lead", 0.0, new_lead(text, rng, vocab)))
            items.append(("cut", 0.0, cut(text, rng, 0.15, 0.35)))
            syn = chrome(cut(new_lead(text, rng, vocab), rng, 0.10, 0.25), rng)
            items.append(("syndicated", 0.02, word_edits(syn, 0.02, rng, vocab)))
        if gi % 3 == 0:
            items.append(("exact", 0.0, text))
        if gi % 3 == 1:
            items.append(("case", 0.0, case_variant(text, rng)))
        if gi % 3 == 2:
            items.append(("whitespace", 0.0, whitespace_variant(text, rng)))
        groups.append((origin, items))
    # one related document for every other original, its own words from the
    # spare texts (or from another original's second half, with few spares)
    for gi in range(0, len(origs), 2):
        origin, text = origs[gi]
        other = spare[gi // 2][1] if gi // 2 < len(spare) else origs[(gi + 1) % len(origs)][1]
        if other is text:
            continue
        if gi // 2 >= len(spare):
            w = other.split()
            other = " ".join(w[len(w) // 2:])
        groups.append((f"related:{origin}", [("related", 0.0, related(text, other, rng))]))

    # Shuffle everything, then put each group's original at the first of that
    # group's positions: groups interleave, originals still come first.
    flat = [(g, k) for g, (_, items) in enumerate(groups) for k in range(len(items))]
    rng.shuffle(flat)
    first = {}
    for pos, (g, k) in enumerate(flat):
        if g not in first:
            first[g] = pos
    for g, pos in first.items():
        j = next(p for p in range(pos, len(flat)) if flat[p] == (g, 0))
        flat[pos], flat[j] = flat[j], flat[pos]

    ids = {}
    docs, truth = [], {}
    for n, (g, k) in enumerate(flat):
        ids[(g, k)] = f"d{n:06d}"
    osets = [shingles(items[0][2]) for _, items in groups]
    by_origin = {origin: g for g, (origin, _) in enumerate(groups)}
    for g, k in flat:
        origin, items = groups[g]
        kind, rate, text = items[k]
        did = ids[(g, k)]
        docs.append({"id": did, "text": text, "meta": {}})
        # a related document's Jaccard is with the original it quotes
        ref = by_origin[origin[len("related:"):]] if kind == "related" else g
        truth[did] = {"original": ids[(g, 0)], "kind": kind, "rate": rate,
                      "jaccard": round(jaccard(osets[ref], shingles(text)), 4), "origin": origin}
    info = {"originals": len(origs), "related": sum(1 for o, _ in groups if o.startswith("related:")), "seed_originals": sum(1 for o, _ in origs if o.startswith("seed:")),
            "seed_candidates": n_seed, "shared": have_shared, "copies_per_rate": copies,
            "documents": len(docs)}
    return docs, truth, info


def write(docs, truth, out, truth_path):
    with open(out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(truth_path, "w", encoding="utf-8") as f:
        f.write("id\toriginal\tkind\trate\tjaccard\torigin\n")
        for did, t in truth.items():
            f.write(f"{did}\t{t['original']}\t{t['kind']}\t{t['rate']}\t{t['jaccard']}\t{t['origin']}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source_dir")
    ap.add_argument("out")
    ap.add_argument("truth")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shared", help="the shared data directory (default: SOURCE_DIR/../shared)")
    ap.add_argument("--max-originals", type=int, default=300)
    ap.add_argument("--copies", type=int, help="copies per edit rate (default: 1, or 4 with seeds only)")
    a = ap.parse_args()
    shared = a.shared or os.path.join(a.source_dir, "..", "shared")
    docs, truth, info = generate(a.source_dir, shared, a.seed, a.max_originals, a.copies)
    write(docs, truth, a.out, a.truth)
    print(json.dumps(info))


if __name__ == "__main__":
    sys.exit(main())
