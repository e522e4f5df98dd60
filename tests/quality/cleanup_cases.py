#!/usr/bin/env python3
"""Behaviour of cleanup, split and metadata on small made-up inputs: each
repair, the whitespace layout, annotations surviving edits, prose that must
stay, rules switched off and added, repeated lines within a run and across
runs (state:), and the split/metadata cues.

usage: cleanup_cases.py TEXTMILL"""
import json, os, subprocess, sys, tempfile

tm = sys.argv[1]
work = tempfile.mkdtemp()
fails = 0
n = 0


def run(docs, stages, extra="", name="p"):
    inp = os.path.join(work, name + ".in.jsonl")
    out = os.path.join(work, name + ".out.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            if isinstance(d, str):
                d = {"id": f"d{i}", "text": d}
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(os.path.join(work, name + ".yaml"), "w", encoding="utf-8") as f:
        f.write(f"version: 1\n{extra}source: {{use: jsonl, with: {{paths: [\"{inp}\"]}}}}\n"
                f"stages: {stages}\nsinks: [{{use: jsonl, with: {{path: \"{out}\"}}}}]\n")
    r = subprocess.run([tm, "run", os.path.join(work, name + ".yaml"), "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return r.returncode, r.stderr
    return 0, [json.loads(l) for l in open(out, encoding="utf-8")]


def check(what, cond, detail=""):
    global fails, n
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {what}")
    if not cond:
        fails += 1
        print("#   " + str(detail)[:2000].replace("\n", "\n#   "))


def text_after(stages, text, extra=""):
    rc, out = run([text], stages, extra)
    return out[0]["text"] if rc == 0 and out else (rc, out)


C = "[{use: cleanup}]"
# --- character repair ---------------------------------------------------------------
t = text_after(C, "Caf\u00c3\u00a9 \u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d and na\u00c3\u00afve")
check("mojibake repaired", t == "Caf\u00e9 \u201cquoted\u201d and na\u00efve", repr(t))
t = text_after(C, "a\u00a0b\u200bc\u00adde\u2003f\ufeff")
check("no-break and wide spaces become spaces, invisible characters go", t == "a bcde f", repr(t))
t = text_after(C, "e\u0301t\u00e9 \ufb01le")
check("NFC composes, keeps compatibility characters", t == "\u00e9t\u00e9 \ufb01le", repr(t))
t = text_after("[{use: cleanup, with: {normalize: nfkc}}]", "\ufb01le \uff21")
check("NFKC folds ligatures and full-width forms", t == "file A", repr(t))
t = text_after(C, "a\x01b\r\nc\x7fd\x0ce")
check("control characters removed, CRLF and form feed become newlines", t == "ab\ncd\ne", repr(t))
t = text_after("[{use: cleanup, with: {typography: true}}]", "\u201cIt\u2019s \u2014 fine\u2026\u201d")
check("typography option", t == "\"It's - fine...\"", repr(t))
t = text_after("[{use: cleanup, with: {repair: false, normalize: none}}]", "Caf\u00c3\u00a9\u00a0x")
check("repair: false leaves characters alone", t == "Caf\u00c3\u00a9\u00a0x", repr(t))
# --- layout ---------------------------------------------------------------------------------
t = text_after(C, "\n\n  Title here  \n\n\n\nFirst   line\tof text.\nSecond line.  \n\n\n")
check("blanks folded, one blank line between paragraphs, no edges",
      t == "Title here\n\nFirst line of text.\nSecond line.", repr(t))
# --- annotations survive -------------------------------------------------------------------------
txt = "Share\n\n1 80\n\nPresident  Ilham\u00a0Aliyev met Erdo\u0067\u0306an in Baku."
s = txt.index("Ilham"); e = txt.index(" met")
s2 = txt.index("Erdo"); e2 = txt.index(" in Baku")
s3 = txt.index("1 80")
anns = [{"start": len(txt[:s].encode()), "end": len(txt[:e].encode()), "type": "PER"},
        {"start": len(txt[:s2].encode()), "end": len(txt[:e2].encode()), "type": "PER"},
        {"start": len(txt[:s3].encode()), "end": len(txt[:s3].encode()) + 4, "type": "X"}]
rc, out = run([{"id": "a", "text": txt, "annotations": anns}], C)
d = out[0]
b = d["text"].encode()
got = [b[a["start"]:a["end"]].decode() for a in d["annotations"]]
check("annotations follow their words through the edits; removed text takes its own",
      got == ["Ilham Aliyev", "Erdo\u011fan"] and d["text"].startswith("President Ilham Aliyev"),
      (d["text"], got))
# --- prose is not boilerplate ----------------------------------------------------------------------
prose = ("Read more.\n\nHe said no.\n\nShare this article with friends who care about the war, "
         "the minister urged on Tuesday.\n\nRelated talks in Moscow ended without an agreement "
         "between the sides.\n\nThe newsletter of the ministry published the figures.")
t = text_after(C, "Headline\n\n" + prose)
check("short real sentences and prose that mentions chrome words stay",
      all(p in t for p in ["He said no.", "Share this article with friends", "Related talks",
                           "The newsletter of the ministry"]), t)
# --- rules: switch off, add ---------------------------------------------------------------------------
page = "A title\n\n1 80\n\nBody text of the article goes here.\n\nSubscribe to read the full story"
t = text_after("[{use: cleanup, with: {disable_rules: [share_counter]}}]", page)
check("disable_rules keeps what the rule would remove", "1 80" in t, t)
t = text_after("[{use: cleanup, with: {rules: {paywall: '^subscribe to read'}}}]", page)
check("a user rule removes its lines", "Subscribe" not in t and "1 80" not in t, t)
rc, err = run([page], "[{use: cleanup, with: {disable_rules: [no_such_rule]}}]")
check("an unknown rule name is a config error", rc == 2 and "no shipped rule 'no_such_rule'" in err, err)
rc, err = run([page], "[{use: cleanup, with: {rules: {bad: '(unclosed'}}}]")
check("a bad user pattern is a config error", rc == 2 and "rule 'bad': invalid regular expression" in err, err)
t = text_after("[{use: cleanup, with: {builtin_rules: false}}]", page)
check("builtin_rules: false removes nothing", "1 80" in t and "Subscribe" in t, t)
# --- repeated lines ---------------------------------------------------------------------------------------
syndicated = ("The ceasefire agreement, signed after six weeks of fighting, leaves Azerbaijan in "
              "control of the districts around the region and puts Russian peacekeepers along "
              "the Lachin corridor for at least five years.")
docs = []
words = ["apples", "bridges", "cables", "dunes", "engines", "forests"]
for i, w in enumerate(words):
    docs.append(f"A story about {w}\n\nThe first paragraph says something new about {w} and "
                f"their makers.\n\n{syndicated}\n\nAnother paragraph on {w} with its own "
                f"words.\n\nFollow Example Daily on social media for updates")
rc, out = run(docs, "[{use: cleanup}]")
check("a line repeated across documents (a footer) is removed from all",
      rc == 0 and len(out) == 6 and all("Follow Example Daily" not in d["text"] for d in out), out)
check("long repeated prose in the middle (a syndicated paragraph) stays",
      rc == 0 and all(syndicated in d["text"] for d in out), out)
check("output order is input order", rc == 0 and [d["id"] for d in out] == [f"d{i}" for i in range(6)])
rc, out = run(docs + ["Follow Example Daily on social media for updates"] * 2,
              "[{use: cleanup, with: {window: 2}}]", extra="batch_bytes: 1024\n", name="w")
check("small windows over several batches: order kept, emptied documents left out",
      rc == 0 and [d["id"] for d in out] == [f"d{i}" for i in range(6)], out)
state = os.path.join(work, "state")
rc1, out1 = run(docs[:3], "[{use: cleanup}]", f"state: {state}\n", name="s1")
rc2, out2 = run([d.replace("A story", "A tale") for d in docs[3:]], "[{use: cleanup}]",
                f"state: {state}\n", name="s2")
check("below min_docs in one run, the footer stays",
      rc1 == 0 and all("Follow Example Daily" in d["text"] for d in out1), out1)
check("with state, counts from earlier runs make it boilerplate in the next",
      rc2 == 0 and all("Follow Example Daily" not in d["text"] for d in out2), out2)
# --- split and metadata ------------------------------------------------------------------------------------
archive = ("Category: World\n\nFirst post title\n\nBy Jane Doe | March 3, 2021\n\nBody of the first "
           "post.\n\nMore of it.\n\nPosted in World, NewsComments Off on First post title\n\n"
           "Second post title\n\nby John Roe\n\nBody of the second post.\n\nPosted in News"
           "Comments Off on Second post title\n\nExample Site")
rc, out = run([{"id": "page", "text": archive, "meta": {"url": "https://example.org/c/world"}}],
              "[{use: split}, {use: cleanup}, {use: metadata}]")
check("split: one document per post, ids PARENT#N, meta.parent, titles",
      rc == 0 and [d["id"] for d in out] == ["page#0", "page#1"]
      and [d["meta"]["title"] for d in out] == ["First post title", "Second post title"]
      and all(d["meta"]["parent"] == "page" for d in out), out)
check("split: the site name after the last footer becomes meta.source; parent meta is copied",
      rc == 0 and all(d["meta"]["source"] == "Example Site"
                      and d["meta"]["url"] == "https://example.org/c/world" for d in out), out)
check("metadata: author and date from bylines",
      rc == 0 and [(d["meta"]["author"], d["meta"]["date"]) for d in out]
      == [("Jane Doe", "2021-03-03"), ("John Roe", None)], out)
rc, out = run(["One article only\n\nBy Ann Lee\n\nText that stays whole.\n\nOn 11 October 2020 "
               "the war began."], "[{use: split}, {use: metadata}]")
check("a page with one article is not split; body dates are not publication dates",
      rc == 0 and len(out) == 1 and out[0]["id"] == "d0" and out[0]["meta"]["date"] is None
      and out[0]["meta"]["author"] == "Ann Lee", out)
for line, iso in [("Tue, 10/27/2020 – 02:00", "2020-10-27"), ("2021-05-06T10:00:00Z", "2021-05-06"),
                  ("6 May 2021", "2021-05-06"), ("Updated: Jan. 2, 2019 at 3pm", "2019-01-02"),
                  ("03.04.2020", "2020-04-03"), ("31/12/2020", "2020-12-31")]:
    rc, out = run([f"A headline\n\n{line}\n\nThe text of the story, which is long enough."],
                  "[{use: metadata}]")
    check(f"date from the dateline '{line}'", rc == 0 and out[0]["meta"]["date"] == iso, out)

print(f"1..{n}")
sys.exit(1 if fails else 0)
