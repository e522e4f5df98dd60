#!/usr/bin/env python3
"""Writes a JSONL corpus of about SIZE_MB megabytes that looks like scraped news,
for bench/run: article text assembled from real paragraphs, with web chrome,
archive pages, HTML pages, exact and near duplicates, and metadata.

usage: gen_corpus.py SEEDS_DIR OUT.jsonl SIZE_MB [SEED] [--data DIR] [--quiet]

Text comes from the sample articles in SEEDS_DIR and, when DIR/ner holds the
open NER data (default ../shared/data next to the repository), from its
sentences, detokenized and grouped into paragraphs (the tweet sets btc and
wnut17 are left out: not news prose). Each output line is
{"id", "text", "meta": {title, url, date, source, lang}}.

Kinds of document (shares of documents, for any seed):
  article    ~75%  title, often a byline and a date line, 3-14 paragraphs, and
                   web chrome lines of the kinds plugins/cleanup/rules.c removes
                   (share buttons, "Read more", newsletter and cookie prompts,
                   related-links blocks, comment sections, copyright)
  archive     ~4%  a listing page holding 3-10 articles, cut as plugins/split
                   expects: per-post "Posted in ... Comments Off on TITLE"
                   footers, or title + "By NAME" headers
  html        ~3%  an article as an HTML page (nav, share bar, footer) for the
                   html stage; every other text passes it unchanged
  exact dup   ~5%  the text of a recent document again, under a new id and url
  near dup   ~10%  a recent document with a paragraph dropped or added, ~1.5%
                   of its words changed, and different chrome
Entity mentions come with the real text; the count of gold mentions (B- tags)
in the NER sentences used is printed. The same SEED gives the same bytes;
memory is constant in SIZE_MB (the text pool plus 256 recent documents)."""
import argparse, json, os, random, re, sys

ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split(": ", 1)[1])
ap.add_argument("seeds_dir")
ap.add_argument("out")
ap.add_argument("size_mb", type=float)
ap.add_argument("seed", type=int, nargs="?", default=1)
ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))
ap.add_argument("--quiet", action="store_true")
a = ap.parse_args()
rng = random.Random(a.seed)

# ------------------------------------------------------------------ text pool

CHROME_RE = re.compile(r"^(?:archive ?\||posted in |by \S|filed under|tags?:|share|read more)", re.I)
# sources: (paragraphs, entity counts) -- one per seed article / NER document
sources = []
for name in sorted(os.listdir(a.seeds_dir)):
    if name.endswith(".txt"):
        with open(os.path.join(a.seeds_dir, name), encoding="utf-8") as f:
            paras = [p.strip() for p in f.read().split("\n") if len(p.strip()) > 60 and not CHROME_RE.match(p.strip())]
        if paras:
            sources.append((paras, [0] * len(paras)))
n_seed_sources = len(sources)

NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "%", "'s", "\u2019s", "n't", "'re", "'ve", "'ll", "'d", "'m"}
NO_SPACE_AFTER = {"(", "[", "$"}
ner_dir = os.path.join(a.data, "ner")
ner_files = sorted(f for f in os.listdir(ner_dir) if f.endswith(".bio") and not f.startswith(("btc", "wnut17"))) \
    if os.path.isdir(ner_dir) else []
ner_sentences = 0
for fn in ner_files:
    doc, sent, ents = [], [], 0   # doc: list of (sentence text, entities)

    def end_sent():
        global ner_sentences
        if sent:
            out, prev = [], None
            for tok in sent:
                if prev is not None and tok not in NO_SPACE_BEFORE and prev not in NO_SPACE_AFTER:
                    out.append(" ")
                out.append(tok)
                prev = tok
            doc.append(("".join(out), ents))
            ner_sentences += 1

    def end_doc():
        # paragraphs of 2-5 sentences
        if len(doc) >= 2:
            paras, counts, i = [], [], 0
            while i < len(doc):
                k = 2 + (i * 7 + len(doc)) % 4
                chunk = doc[i:i + k]
                paras.append(" ".join(s for s, _ in chunk))
                counts.append(sum(e for _, e in chunk))
                i += k
            sources.append((paras, counts))

    with open(os.path.join(ner_dir, fn), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# doc ") and "\t" not in line:
                end_sent(); sent, ents = [], 0
                end_doc(); doc = []
            elif not line:
                end_sent(); sent, ents = [], 0
                if len(doc) >= 12:   # long documents and files without "# doc" lines
                    end_doc(); doc = []
            else:
                tok, tag = line.split("\t")[:2]
                sent.append(tok)
                ents += tag.startswith("B-")
    end_sent()
    end_doc()

if not sources:
    sys.exit(f"{a.seeds_dir}: no .txt articles")

# names for bylines and titles: capitalised words of the pool
WORDS = [w for paras, _ in sources[:n_seed_sources + 200] for p in paras[:3] for w in p.split() if w.isalpha()]
CAPS = sorted({w for w in WORDS if w[0].isupper() and len(w) > 3}) or ["Smith", "Jones"]
FIRST = ["Anna", "David", "Leyla", "Sarah", "Mehmet", "James", "Olga", "Ravi", "Maria", "Tom", "Elif", "John",
         "Chen", "Fatima", "Peter", "Nina", "Ali", "Laura", "Ivan", "Grace"]
SITES = [("Daily Harbor", "dailyharbor.example"), ("The Meridian Post", "meridianpost.example"),
         ("Caspian Wire", "caspianwire.example"), ("Northfield Gazette", "northfieldgazette.example"),
         ("World Brief", "worldbrief.example"), ("Eastern Observer", "easternobserver.example"),
         ("Metro Ledger", "metroledger.example"), ("Signal Review", "signalreview.example")]
TOPICS = ["Politics", "World", "Economy", "Europe", "Asia", "Defence", "Energy", "Business", "Science", "Culture"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

# chrome: (probability per article, lines) -- the kinds plugins/cleanup/rules.c removes
TOP_CHROME = [
    (0.25, lambda s: ["Skip to content"]),
    (0.30, lambda s: ["Share", "Facebook", "Twitter", "Email"]),
    (0.10, lambda s: [f"{rng.randint(1, 9999)} {rng.randint(0, 999)}"]),
]
MID_CHROME = [
    (0.20, lambda s: ["Advertisement"]),
    (0.10, lambda s: [f"{title_of()} (Photo: {rng.choice(['AFP', 'Reuters', 'AP', 'Getty Images'])})"]),
    (0.08, lambda s: ["Read more: " + title_of()]),
]
END_CHROME = [
    (0.30, lambda s: [title_of(), "Read more »"]),
    (0.35, lambda s: ["Sign up for our daily newsletter to get the latest stories in your inbox."]),
    (0.15, lambda s: ["We use cookies to improve your experience on our site. By continuing, you accept our use of cookies.",
                      "Accept"]),
    (0.30, lambda s: [rng.choice(["Related articles", "You may also like", "Most read", "More stories"])]
     + [title_of() for _ in range(rng.randint(2, 5))]),
    (0.25, lambda s: ["Tags: " + ", ".join(rng.sample(TOPICS, 3))]),
    (0.20, lambda s: [f"{rng.randint(0, 40)} Comments", "Leave a Reply",
                      "Your email address will not be published. Required fields are marked *"]),
    (0.40, lambda s: [f"© {rng.randint(2015, 2024)} {s}. All rights reserved."]),
]


def title_of():
    paras, _ = rng.choice(sources)
    words = rng.choice(paras).split()
    i = rng.randrange(max(1, len(words) - 8))
    t = " ".join(words[i:i + rng.randint(5, 10)]).strip(",.;:\"'()")
    return t[:1].upper() + t[1:] if t else "News in brief"


def byline():
    return f"By {rng.choice(FIRST)} {rng.choice(CAPS)}"


def date():
    return rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28)


def body(lo, hi):
    """lo..hi paragraphs: a window of one source, topped up from another when short."""
    want, paras, ents = rng.randint(lo, hi), [], 0
    while len(paras) < want:
        # the samples are 5 of ~1,500 sources: give them a third of the picks
        src, counts = sources[rng.randrange(n_seed_sources) if rng.random() < 0.3 else rng.randrange(len(sources))]
        i = rng.randrange(len(src))
        j = min(len(src), i + want - len(paras))
        paras += src[i:j]
        ents += sum(counts[i:j])
    return paras, ents


def chrome(table, site):
    out = []
    for p, make in table:
        if rng.random() < p:
            out += make(site)
    return out


def article_lines(site, title, y, m, d, paras):
    lines = chrome(TOP_CHROME, site) + [title]
    if rng.random() < 0.6:
        lines.append(byline())
    if rng.random() < 0.6:
        lines.append(f"{MONTHS[m - 1]} {d}, {y}")
    mid = rng.randrange(len(paras) + 1)
    lines += paras[:mid] + chrome(MID_CHROME, site) + paras[mid:]
    return lines + chrome(END_CHROME, site)


def slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "story"


def meta(site, host, title, y, m, d, n):
    return {"title": title, "url": f"https://{host}/{y}/{m:02d}/{slug(title)}-{n}", "date": f"{y}-{m:02d}-{d:02d}",
            "source": site, "lang": "en"}


def html_page(site, title, y, m, d, paras):
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    nav = "".join(f'<li><a href="/{t.lower()}">{t}</a></li>' for t in rng.sample(TOPICS, 5))
    ps = "\n".join(f"<p>{esc(p)}</p>" for p in paras)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)} | {site}</title>'
            f'<meta property="og:site_name" content="{site}"></head>\n<body><header><nav><ul>{nav}</ul></nav></header>\n'
            f'<main><article><h1>{esc(title)}</h1><p class="byline">{byline()}</p>'
            f'<time datetime="{y}-{m:02d}-{d:02d}">{MONTHS[m - 1]} {d}, {y}</time>\n{ps}\n'
            f'<div class="share"><a href="#">Facebook</a> <a href="#">Twitter</a></div></article></main>\n'
            f'<aside><h3>Most read</h3><ul><li><a href="/a">{esc(title_of())}</a></li></ul></aside>\n'
            f'<footer>© {y} {site}. All rights reserved.</footer></body></html>')


def mutate(paras):
    """A near copy: a paragraph dropped or added, ~1.5% of the words changed."""
    paras = list(paras)
    if len(paras) > 3 and rng.random() < 0.5:
        del paras[rng.randrange(len(paras))]
    else:
        paras.insert(rng.randrange(len(paras) + 1), rng.choice(rng.choice(sources)[0]))
    out = []
    for p in paras:
        words = p.split(" ")
        for _ in range(int(len(words) * 0.015 + rng.random())):
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        out.append(" ".join(words))
    return out


# ------------------------------------------------------------------ writing

target = int(a.size_mb * 1e6)
written = n = 0
counts = dict.fromkeys(("article", "archive", "archive_articles", "html", "exact_dup", "near_dup"), 0)
gold_mentions = 0
recent = []   # (site, host, title, y, m, d, paras, text) of the last 256 originals
with open(a.out, "w", encoding="utf-8") as f:
    while written < target:
        si = rng.randrange(len(SITES))
        site, host = SITES[si]
        r = rng.random()
        y, m, d = date()
        if r < 0.05 and recent:                                # exact duplicate
            kind = "exact_dup"
            o = rng.choice(recent)
            text, title, (y, m, d) = o[7], o[2], o[3:6]
        elif r < 0.15 and recent:                              # near duplicate
            kind = "near_dup"
            o = rng.choice(recent)
            title, (y, m, d) = o[2], o[3:6]
            text = "\n\n".join(article_lines(site, title, y, m, d, mutate(o[6])))
        elif r < 0.19:                                         # archive page
            kind = "archive"
            k = rng.randint(3, 10)
            counts["archive_articles"] += k
            topic = rng.choice(TOPICS)
            cats = ", ".join(rng.sample(TOPICS, 2))
            footers = rng.random() < 0.6
            lines = [f"Archive | {topic}"]
            for _ in range(k):
                t = title_of()
                paras, e = body(2, 6)
                gold_mentions += e
                lines += [t] + ([] if footers else [byline()]) + paras
                if footers:
                    lines.append(f"Posted in {cats}Comments Off on {t}")
            lines += [site]
            title = f"{topic} archive"
            text = "\n\n".join(lines)
        else:
            title = title_of()
            paras, e = body(3, 14)
            gold_mentions += e
            if r < 0.22:                                       # HTML page
                kind = "html"
                text = html_page(site, title, y, m, d, paras)
            else:
                kind = "article"
                text = "\n\n".join(article_lines(site, title, y, m, d, paras))
            item = (site, host, title, y, m, d, paras, text)
            if len(recent) < 256:
                recent.append(item)
            else:
                recent[rng.randrange(256)] = item
        counts[kind] += 1
        rec = {"id": f"{host.split('.')[0]}-{n:08d}", "text": text, "meta": meta(site, host, title, y, m, d, n)}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        f.write(line)
        written += len(line.encode("utf-8"))
        n += 1

if not a.quiet:
    print(f"{a.out}: {n} documents, {written / 1e6:.1f} MB (seed {a.seed}); text from {n_seed_sources} samples"
          + (f" and {len(sources) - n_seed_sources} NER documents ({ner_sentences} sentences, {len(ner_files)} files)"
             if ner_files else " (no NER data: --data)"))
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; gold entity mentions in NER text {gold_mentions}")
