#!/usr/bin/env python3
"""The report sink, end to end.

1. The sample pipeline (plus an exact copy of one sample, so that dedupe has
   a cluster to mark) writes JSONL and the report. Every number of the JSON
   twin is recomputed here from the JSONL output and from `--stats`: per-step
   documents in/out/dropped by reason and counters, documents per source and
   per day, the top entities of each type, duplicate clusters, stories, the
   boilerplate rules that fired. The page must embed the same JSON and load
   nothing from anywhere.
2. Hostile strings (titles holding </script>, markup in sources and entity
   names, a title option with markup) must come out as text.
3. Bad paths and failed runs: a file of another format at either path, a
   path not ending in .html, the twin at the page's path, a read-only
   directory, a failing stage, SIGTERM and SIGKILL. Each exits with its code
   and leaves the older files as they were and no temporary file.
4. The page in headless Chromium: the rendered DOM holds the step rows, the
   charts and the top entities and no script but the data; a 1280x2000
   screenshot is a PNG of that size with the charts' colours painted on it.

Without Chromium, part 4 is skipped (exit 77) once the rest has passed.

    report_test.py TEXTMILL SOURCE_DIR
"""
import atexit
import collections
import glob
import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

TM, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# the deliberately broken plugins of tests/CMakeLists.txt, beside bin/
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.dirname(TM)), "tests", "plugins")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TYPES = ["PER", "ORG", "LOC", "MISC"]
MARKER = '<meta name="generator" content="textmill report'

work = tempfile.mkdtemp(prefix="tm_report_test_")
atexit.register(shutil.rmtree, work, ignore_errors=True)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()
check = tap.check


def textmill(yaml_text, *args, name="p.yaml", user=None, command="run"):
    """Writes the pipeline into the work directory and runs textmill on it
    from the source tree (so that seeds/*.txt is relative)."""
    path = os.path.join(work, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(yaml_text)
    p = subprocess.run((user or []) + [TM, command, path, *args], cwd=SRC, capture_output=True,
                       text=True, timeout=300)
    return p.returncode, p.stderr


def q(s):
    return json.dumps(s)  # a YAML flow scalar holding any string


def report_sink(path, **opts):
    return "{use: report, with: " + json.dumps({"path": path, **opts}) + "}"


def temporaries(d):
    return sorted(glob.glob(os.path.join(d, ".*.tmp.*")))


def read(path, mode="r"):
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        return f.read()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


# ============================================================== the sample run
print("== the sample pipeline with jsonl and report sinks")
extra = os.path.join(work, "extra")
sample = sorted(glob.glob(os.path.join(SRC, "seeds", "*.txt")))[3]
write(os.path.join(extra, "copy.txt"), read(sample, "rb"))  # an exact duplicate
out = os.path.join(work, "out")
page, twin, lines = (os.path.join(out, n) for n in ("report.html", "report.json", "articles.jsonl"))
SAMPLE = f"""version: 1
name: report-test
source:
  use: files
  with: {{paths: ["seeds/*.txt", {q(extra + "/*.txt")}]}}
stages:
  - use: html
  - use: split
  - use: cleanup
  - use: metadata
  - use: entities
  - use: dedupe
    with: {{mode: mark}}
  - use: filter
    name: long-enough
    with: {{min_bytes: 200}}
sinks:
  - {{use: jsonl, with: {{path: {q(lines)}}}}}
  - {report_sink(page)}
"""
rc, err = textmill(SAMPLE, "--stats")
if not check("the sample pipeline runs (exit 0)", rc == 0, err):
    sys.exit(1)
check("no temporary file is left", not temporaries(out), temporaries(out))
def read_jsonl(path):  # not splitlines(): U+2028 in a JSON string is no line break
    return [json.loads(line) for line in read(path).split("\n") if line]


docs = read_jsonl(lines)
data = json.loads(read(twin))
check("the JSON twin starts with its generator", read(twin).lstrip().startswith('{\n\t"generator"')
      and list(data)[0] == "generator" and data["generator"].startswith("textmill report "))


def parse_stats(text):
    """The --stats table: one entry per step with in/out/dropped, the drops
    by reason and the counters."""
    steps, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^(\S+) \((source|stage|sink)\)\s+(\S+)\s+(-|\d+)\s+(\d+)\s+(\d+)\s+[\d.]+$", line)
        if m:
            cur = {"name": m[1], "role": m[2], "plugin": m[3],
                   "in": None if m[4] == "-" else int(m[4]), "out": int(m[5]),
                   "dropped": int(m[6]), "reasons": {}, "counters": {}}
            steps.append(cur)
        elif cur and (m := re.match(r"^    dropped (\S+)\s+(\d+)$", line)):
            cur["reasons"][m[1]] = int(m[2])
        elif cur and (m := re.match(r"^    (\S+)\s+(-?\d+)$", line)):
            cur["counters"][m[1]] = int(m[2])
    return steps


# --- steps against --stats
stats = parse_stats(err)
check("--stats lists every step", [s["name"] for s in stats] ==
      [s["name"] for s in data["steps"]], f"{[s['name'] for s in stats]}\n{err}")
for s, j in zip(stats, data["steps"]):
    name = s["name"]
    check(f"step {name}: plugin and role", (j["plugin"], j["role"]) == (s["plugin"], s["role"]))
    if s["role"] == "source":
        check(f"step {name}: out and rejected as --stats says",
              j["docs_out"] == s["out"] and j["utf8_rejected"] == s["dropped"], j)
    else:
        check(f"step {name}: in/out/dropped as --stats says",
              (j["docs_in"], j["docs_out"], j["dropped"]) == (s["in"], s["out"], s["dropped"]),
              f"json {j}\nstats {s}")
    check(f"step {name}: dropped by reason as --stats says", j["dropped_by_reason"] == s["reasons"],
          f"{j['dropped_by_reason']} vs {s['reasons']}")
    # counters a step adds in its own commit (after the report) are only in --stats
    check(f"step {name}: every counter as --stats says",
          all(s["counters"].get(k) == v for k, v in j["counters"].items()),
          f"{j['counters']} vs {s['counters']}")
check("the filter dropped nothing it was not asked to, the jsonl sink wrote every document",
      data["steps"][-2]["docs_out"] == len(docs) == data["steps"][-1]["docs_in"])
rules = [{"step": s["name"], "rule": k[5:], "lines": v}
         for s in stats for k, v in s["counters"].items() if k.startswith("rule:")]
rules.sort(key=lambda r: -r["lines"])  # stable: ties keep the steps' order
check("boilerplate rules: every rule:NAME counter, the most lines first",
      data["boilerplate_rules"] == rules and rules, f"{data['boilerplate_rules']}\n{rules}")


# --- documents, sources, dates from the JSONL output
def outlet_of(m):
    """meta.source, else the host of meta.url; None without either."""
    if isinstance(m.get("source"), str) and m["source"].strip():
        return m["source"].strip()
    url = (m.get("url") or "").strip()
    if "://" in url:
        host = re.split(r"[/?#]", url.split("://", 1)[1])[0].rsplit("@", 1)[-1]
        host = host.split(":")[0].lower() if not host.startswith("[") else host.split("]")[0] + "]"
        if len(host) > 4 and host.startswith("www."):
            host = host[4:]
        if host:
            return host
    return None


def source_of(m):
    if outlet_of(m):
        return outlet_of(m)
    f = (m.get("file") or "").strip()
    if f:
        return f[:f.rfind("/") + 1] if "/" in f else "./"
    return "(unknown)"


def day_of(m):
    v = (m.get("date") or "").strip() if isinstance(m.get("date"), str) else ""
    ok = re.match(r"^\d{4}-(\d\d)-(\d\d)(?:[T ].*)?$", v)
    return v[:10] if ok and 1 <= int(ok[1]) <= 12 and 1 <= int(ok[2]) <= 31 else None


def expected_documents(docs):
    days = collections.Counter(day_of(d["meta"]) for d in docs if day_of(d["meta"]))
    return {"total": len(docs), "bytes": sum(len(d["text"].encode()) for d in docs),
            "dated": sum(days.values()), "undated": len(docs) - sum(days.values()),
            "first_date": min(days) if days else None, "last_date": max(days) if days else None,
            "per_day": [{"date": k, "documents": days[k]} for k in sorted(days)]}


def expected_sources(docs):
    by = {}
    for d in docs:
        e = by.setdefault(source_of(d["meta"]), {"documents": 0, "bytes": 0, "dates": []})
        e["documents"] += 1
        e["bytes"] += len(d["text"].encode())
        if day_of(d["meta"]):
            e["dates"].append(day_of(d["meta"]))
    rows = [{"source": k, "documents": e["documents"], "bytes": e["bytes"],
             "first_date": min(e["dates"]) if e["dates"] else None,
             "last_date": max(e["dates"]) if e["dates"] else None} for k, e in by.items()]
    return sorted(rows, key=lambda r: (-r["documents"], r["source"].encode()))


def expected_entities(docs, types, top):
    mentions, in_docs = collections.Counter(), collections.defaultdict(set)
    for i, d in enumerate(docs):
        raw = d["text"].encode()
        for a in d["annotations"]:
            if a["type"] not in types:
                continue
            name = a.get("canonical") or a.get("label") or raw[a["start"]:a["end"]].decode()
            mentions[a["type"], name] += 1
            in_docs[a["type"], name].add(i)
    out = []
    for t in types:
        keys = sorted((k for k in mentions if k[0] == t),
                      key=lambda k: (-mentions[k], -len(in_docs[k]), k[1].encode()))
        out.append({"type": t, "distinct": len(keys), "mentions": sum(mentions[k] for k in keys),
                    "top": [{"name": k[1], "mentions": mentions[k], "documents": len(in_docs[k])}
                            for k in keys[:top]]})
    return out


def groups(docs, key):
    """Documents grouped by a metadata value, in order of first appearance."""
    g = {}
    for d in docs:
        v = d["meta"].get(key)
        if isinstance(v, str) and v.strip():
            g.setdefault(v.strip(), []).append(d)
    return g


def kept_title(by_id, kept, dups):
    """The kept document's title is found through the story its first
    duplicate with a story shares with it (the report keeps no other titles)."""
    story = next((d["meta"]["story"].strip() for d in dups
                  if isinstance(d["meta"].get("story"), str) and d["meta"]["story"].strip()), None)
    k = by_id.get(kept)
    if story is None or not k or (k["meta"].get("story") or "").strip() != story:
        return None
    return k["meta"].get("title") or None


def expected_duplicates(docs):
    by_id = {d["id"]: d for d in docs}
    clusters = groups(docs, "duplicate_of")
    order = sorted(clusters, key=lambda k: -len(clusters[k]))  # stable: first seen first
    return {"documents": sum(map(len, clusters.values())),
            "by_kind": dict(collections.Counter(d["meta"]["duplicate_kind"] for g in clusters.values() for d in g)),
            "clusters_total": len(clusters),
            "clusters": [{"kept": k, "title": kept_title(by_id, k, clusters[k]),
                          "duplicates": len(clusters[k]), "ids": [d["id"] for d in clusters[k]]}
                         for k in order]}


def expected_stories(docs):
    """Stories with two documents or more, or continued (no document of this
    run opened them), ranked by outlets, documents, first date (undated
    last), first seen."""
    out = []
    for k, v in groups(docs, "story").items():
        opened = any(d["id"] == k for d in v)
        if len(v) < 2 and opened:
            continue
        outlets = collections.Counter(outlet_of(d["meta"]) for d in v if outlet_of(d["meta"]))
        days = sorted(day_of(d["meta"]) for d in v if day_of(d["meta"]))
        label = None
        terms = []
        for d in v:  # the latest document's view of the story wins
            lab = d["meta"].get("story_label")
            if isinstance(lab, str) and lab.strip():
                label = lab.strip()
            if isinstance(d["meta"].get("story_terms"), list):
                terms = [t for t in d["meta"]["story_terms"] if isinstance(t, str)][:8]
        if label is None:
            label = next((d["meta"].get("title") for d in v if d["id"] == k), None) or k
        out.append({"story": k, "label": label, "terms": terms, "outlets": len(outlets),
                    "sources": [{"source": o, "documents": n} for o, n in
                                sorted(outlets.items(), key=lambda x: (-x[1], x[0].encode()))],
                    "first_date": days[0] if days else None,
                    "last_date": days[-1] if days else None,
                    "documents": len(v), "continued": not opened, "ids": [d["id"] for d in v]})
    out.sort(key=lambda g: (-g["outlets"], -g["documents"], g["first_date"] is None,
                            g["first_date"] or ""))  # stable: first seen first
    return {"total": len(out), "documents": sum(g["documents"] for g in out), "stories": out}


def without_members(groups_json, key):
    return [{**{k: v for k, v in g.items() if k != "members"}, "ids": [m["id"] for m in g["members"]]}
            for g in groups_json[key]]


def check_numbers(label, data, docs, types=TYPES, top=20):
    check(f"{label}: documents and dates", data["documents"] == expected_documents(docs),
          f"{data['documents']}\n{expected_documents(docs)}")
    check(f"{label}: documents per source", data["sources"] == expected_sources(docs),
          f"{data['sources']}\n{expected_sources(docs)}")
    exp = expected_entities(docs, types, top)
    check(f"{label}: entities per type (distinct, mentions, the top {top})", data["entities"] == exp,
          json.dumps(data["entities"])[:1500] + "\n" + json.dumps(exp)[:1500])
    dup, exp = data["duplicates"], expected_duplicates(docs)
    got = {**{k: v for k, v in dup.items() if k != "clusters"},
           "clusters": without_members(dup, "clusters")}
    check(f"{label}: duplicate clusters", got == exp, f"{got}\n{exp}")
    st, exp = data["stories"], expected_stories(docs)
    got = {**{k: v for k, v in st.items() if k != "stories"}, "stories": without_members(st, "stories")}
    check(f"{label}: stories of two documents or more", got == exp, f"{got}\n{exp}")


check_numbers("sample", data, docs)
# (stories come from the `stories` stage, which this pipeline does not run;
# tests/sinks/stories_test.py feeds the story keys by hand)
check("sample: there is a cluster to show (the copied sample)",
      data["duplicates"]["clusters_total"] >= 1)
check("sample: sources include the directory of files without meta.source",
      any(s["source"] == "seeds/" for s in data["sources"]), data["sources"])
check("sample: run and title", data["run"]["pipeline"] == "report-test"
      and data["title"] == "textmill report: report-test" and data["run"]["started"].endswith("Z"))


# --- the page, read as text
def page_parts(text):
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    return m, (text[:m.start()] + text[m.end():]) if m else text


text = read(page)
m, rest = page_parts(text)
check("the page is marked as a textmill report in its head", MARKER in text[:4096])
check("the page has a Content-Security-Policy that forbids loading anything",
      "default-src 'none'; style-src 'unsafe-inline'; img-src data:" in text)
check("the page embeds the JSON data", bool(m))
if m:
    check("the embedded data equals the JSON twin", json.loads(m[1]) == data)
    check("the embedded data holds no '<' (no </script> can end it early)", "<" not in m[1])
check("the page has one script element, the data", text.count("<script") == 1)
refs = [t for t in ("http:", "https:", "//", "src=", "href=", "url(", "@import", "<link")
        if t in rest.lower()]
check("the page refers to nothing outside itself (no http:, https:, //, src=, href=, url(, "
      "@import, <link)", not refs, refs)

rc, err = textmill(SAMPLE)
check("a second run replaces the report it wrote before", rc == 0 and read(page) != "", err)

# =============================================================== hostile strings
print("\n== hostile strings come out as text")
EVIL_TITLE = "</script><script>alert(1)</script>"
evil_in = os.path.join(work, "evil", "in.jsonl")
evil_docs = [
    {"id": "e1", "text": "Alice met Bob.",
     "meta": {"title": EVIL_TITLE, "source": "<u>bold</u> & 'co'", "date": "2021-02-03T10:00:00Z",
              "story": "s1"},
     "annotations": [{"start": 0, "end": 5, "type": "PER", "canonical": "<img src=x onerror=alert(2)>"}]},
    {"id": "e2", "text": "Alice again.",
     "meta": {"title": "<!-- x --><svg onload=alert(3)>", "url": "https://WWW.Example.org:8080/a?b=1",
              "story": "s1", "duplicate_of": "e1", "duplicate_kind": "near", "similarity": 0.91,
              "date": "2021-02-04"},
     "annotations": [{"start": 0, "end": 5, "type": "PER", "label": "Alice"},
                     {"start": 6, "end": 11, "type": "EVENT", "label": "again"}]},
    {"id": "e3", "text": "Nothing but a URL.",
     "meta": {"url": "http://user@Host.NET:80/x", "date": "2021-13-01", "story": "s2"}},
    {"id": "e4", "text": "Control characters", "meta": {"title": "a\u0001b\nc \u2028 d", "story": "s2"}},
]
write(evil_in, "".join(json.dumps(d) + "\n" for d in evil_docs))
evil_page = os.path.join(work, "evil", "out", "r.html")
evil_out = os.path.join(work, "evil", "out", "r.jsonl")
PAGE_TITLE = '<i>T</i> & "q"'
EVIL = (f"version: 1\nname: evil\nsource: {{use: jsonl, with: {{paths: [{q(evil_in)}]}}}}\n"
        f"sinks: [{{use: jsonl, with: {{path: {q(evil_out)}}}}}, "
        f"{report_sink(evil_page, title=PAGE_TITLE, top=5, types=['PER', 'EVENT'])}]\n")
rc, err = textmill(EVIL, name="evil.yaml")
check("the pipeline of hostile strings runs (exit 0)", rc == 0, err)
evil = json.loads(read(evil_page[:-5] + ".json"))
evil_docs_out = read_jsonl(evil_out)
check_numbers("hostile", evil, evil_docs_out, types=["PER", "EVENT"], top=5)
check("hostile: sources from meta.source, the URL's host and the file's directory",
      [s["source"] for s in evil["sources"]] ==
      sorted(["<u>bold</u> & 'co'", "example.org", "host.net", os.path.dirname(evil_in) + "/"],
             key=lambda s: s.encode()), [s["source"] for s in evil["sources"]])
cl = evil["duplicates"]["clusters"]
check("hostile: the cluster names the kept document's title, kind and similarity",
      cl and cl[0]["title"] == EVIL_TITLE and cl[0]["members"][0]["duplicate_kind"] == "near"
      and cl[0]["members"][0]["similarity"] == 0.91, cl)
check("hostile: the title option is the page's title", evil["title"] == PAGE_TITLE)
titles = {m["id"]: m["title"] for g in evil["stories"]["stories"] for m in g["members"]}
check("hostile: a title's control characters read as spaces, a document without one has null",
      titles.get("e4") == "a b c \u2028 d" and "e3" in titles and titles["e3"] is None, titles)
t = read(evil_page)
m, rest = page_parts(t)
check("hostile: one script element, the data", t.count("<script") == 1 and m)
check("hostile: the data equals the twin", m and json.loads(m[1]) == evil)
for bad in ("<img", "<u>", "<i>", "<svg onload", "<!-- x", "alert(1)</script>"):
    check(f"hostile: no raw {bad!r} in the page", bad not in rest)
check("hostile: the title is shown escaped",
      "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in rest)

ctl_page = os.path.join(work, "ctl", "r.html")
rc, err = textmill(f"version: 1\nname: \"ctl\\u0001name\\x7f\"\n"
                   f"source: {{use: jsonl, with: {{paths: [{q(evil_in)}]}}}}\n"
                   f"sinks: [{report_sink(ctl_page)}]\n", name="ctl\x01.yaml")
ctl = json.loads(read(ctl_page[:-5] + ".json")) if rc == 0 else {}
ctl_text = read(ctl_page) if rc == 0 else ""
check("run statistics: control characters in the pipeline's name and file read as spaces",
      rc == 0 and ctl["run"]["pipeline"] == "ctl name " and ctl["title"] == "textmill report: ctl name "
      and ctl["run"]["file"].endswith("ctl .yaml"), (rc, err, ctl.get("run")))
check("run statistics: no control character in the page",
      rc == 0 and not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", ctl_text), err)

# ============================================================ bad paths, failures
print("\n== bad paths and failed runs leave older files as they were")
SMALL = "version: 1\nname: small\nsource: {use: files, with: {paths: [\"seeds/*.txt\"]}}\nsinks: [%s]\n"


def refused(what, sink, message, code=2, keep=(), stages=None):
    """Runs a pipeline that must fail; the files in `keep` must not change
    and no temporary file may appear beside them."""
    before = {p: read(p, "rb") if os.path.exists(p) else None for p in keep}
    y = SMALL % sink
    if stages:
        y += f"stages: {stages}\n"
    rc, err = textmill(y, name="bad.yaml")
    check(f"{what}: exit {code}", rc == code, f"exit {rc}\n{err}")
    check(f"{what}: says {message!r}", message in err, err)
    after = {p: read(p, "rb") if os.path.exists(p) else None for p in keep}
    check(f"{what}: the older files are as they were", after == before,
          [p for p in keep if after[p] != before[p]])
    dirs = {os.path.dirname(p) for p in keep}
    check(f"{what}: no temporary file", not any(temporaries(d) for d in dirs),
          [temporaries(d) for d in dirs])


bad = os.path.join(work, "bad")
other = os.path.join(bad, "notes.html")
write(other, "<html><body>my own notes</body></html>\n")
refused("an HTML file the sink did not write", report_sink(other),
        f"{other} exists and is not a textmill report (HTML) file; refusing to replace it",
        keep=[other, other[:-5] + ".json"])
page2 = os.path.join(bad, "r.html")
write(page2[:-5] + ".json", '{"generator": "someone else"}\n')
refused("a JSON twin the sink did not write", report_sink(page2),
        "is not a textmill report (JSON) file", keep=[page2, page2[:-5] + ".json"])
write(os.path.join(bad, "bin.html"), b"\x00\x01" + MARKER.encode())
refused("a binary file that holds the marker", report_sink(os.path.join(bad, "bin.html")),
        "is not a textmill report (HTML) file", keep=[os.path.join(bad, "bin.html")])
refused("a path not ending in .html", report_sink(os.path.join(bad, "r.htm")),
        "must end in .html", keep=[os.path.join(bad, "r.htm")])
refused("the twin at the page's path", report_sink(page2, json=page2),
        "is the HTML report's path too", keep=[page2])
refused("the twin at the page's path spelled another way",
        report_sink(page2, json=os.path.join(bad, ".", "sub", "..", "r.html")),
        "is the HTML report's path too", keep=[page2])
refused("the twin at the page's path, a directory not made yet",
        report_sink("tm-report-nodir/r.html", json="./tm-report-nodir//r.html"),
        "is the HTML report's path too", keep=[])
check("the refused twin made no directory", not os.path.exists(os.path.join(SRC, "tm-report-nodir")))
os.makedirs(os.path.join(bad, "dir.html"))
refused("a directory at the path", report_sink(os.path.join(bad, "dir.html")),
        "is a directory", keep=[])
empty = os.path.join(bad, "empty.html")
write(empty, "")
rc, err = textmill(SMALL % report_sink(empty), name="empty.yaml")
check("an empty file at the path is replaced", rc == 0 and MARKER in read(empty), err)
fresh = os.path.join(work, "fresh", "deeper", "r.html")
rc, err = textmill(SMALL % report_sink(fresh), name="check.yaml", command="check")
check("`textmill check` creates nothing", rc == 0 and not os.path.exists(os.path.join(work, "fresh")),
      err)
rc, err = textmill(SMALL % report_sink(fresh, json=os.path.join(work, "fresh", "twin.json")),
                   name="fresh.yaml")
check("missing directories are created, the twin goes where `json` says",
      rc == 0 and os.path.exists(fresh) and json.loads(read(os.path.join(work, "fresh", "twin.json"))))

# a read-only directory; root writes anywhere, so run as nobody then
ro = os.path.join(work, "ro")
os.makedirs(ro)
shutil.copy(page, os.path.join(ro, "r.html"))
shutil.copy(twin, os.path.join(ro, "r.json"))
os.chmod(ro, 0o555)
os.chmod(work, 0o755)
user = None
if os.geteuid() == 0:
    if shutil.which("setpriv"):
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        print("SKIP the read-only directory case: running as root and setpriv is missing")
if os.geteuid() != 0 or user:
    before = sorted(os.listdir(ro)), read(os.path.join(ro, "r.html"))
    rc, err = textmill(SMALL % report_sink(os.path.join(ro, "r.html")), name="ro.yaml", user=user)
    check("a read-only directory: exit 2", rc == 2, f"exit {rc}\n{err}")
    check("a read-only directory: says it cannot write there", f"cannot write in the directory {ro}" in err, err)
    check("a read-only directory: nothing changed or created",
          (sorted(os.listdir(ro)), read(os.path.join(ro, "r.html"))) == before, os.listdir(ro))
os.chmod(ro, 0o755)

keep_dir = os.path.join(work, "keep")
keep = os.path.join(keep_dir, "r.html")
write(keep, read(page))
write(keep[:-5] + ".json", read(twin))
fails = os.path.join(TEST_PLUGINS, "process_fails.so")
if check(f"the failing test stage is built ({fails})", os.path.isfile(fails)):
    refused("a stage that fails", report_sink(keep), "failed while processing: cannot process document",
            code=4, keep=[keep, keep[:-5] + ".json"], stages=f"[{{use: {q(fails)}}}]")
too_long = os.path.join(keep_dir, "x" * 244 + ".jsonl")
refused("the other sink fails", f"{report_sink(keep)}, {{use: jsonl, with: {{path: {q(too_long)}}}}}",
        "cannot create the temporary file", code=4, keep=[keep, keep[:-5] + ".json"])


def interrupted(sig):
    """A run reading a FIFO gets `sig` while its source waits for more."""
    fifo = os.path.join(work, "fifo.jsonl")
    os.mkfifo(fifo)
    y = os.path.join(work, "fifo.yaml")
    write(y, f"version: 1\nsource: {{use: jsonl, with: {{paths: [{q(fifo)}]}}}}\n"
             f"sinks: [{report_sink(keep)}]\nbatch_bytes: 1024\n")
    p = subprocess.Popen([TM, "run", y], stderr=subprocess.PIPE, text=True)
    with open(fifo, "w") as w:
        for i in range(20):
            w.write(json.dumps({"id": f"f{i}", "text": "word " * 300, "meta": {"source": "fifo"}}) + "\n")
        w.flush()
        time.sleep(0.5)  # the batches written so far reach the sink
        p.send_signal(sig)
        if sig == signal.SIGKILL:
            p.wait(timeout=30)
    err = p.communicate(timeout=60)[1]
    os.unlink(fifo)
    return p.returncode, err


old = read(keep), read(keep[:-5] + ".json")
for sig, code in ((signal.SIGTERM, 7), (signal.SIGKILL, -signal.SIGKILL)):
    rc, err = interrupted(sig)
    check(f"{sig.name}: exit {code}", rc == code, f"exit {rc}\n{err}")
    check(f"{sig.name}: the older page and twin are as they were",
          (read(keep), read(keep[:-5] + ".json")) == old)
    # the report writes only in flush, so not even SIGKILL leaves a temporary file
    check(f"{sig.name}: no temporary file", not temporaries(keep_dir), temporaries(keep_dir))

# ================================================================ in a browser
if tap.failed:
    tap.finish()
if not CHROMIUM:
    print(f"\n{tap.n} checks passed\nSKIP: chromium is not installed (Debian: apt-get install "
          "chromium); the page was not opened in a browser")
    sys.exit(77)
print("\n== the page in headless Chromium")


def chromium(*args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={os.path.join(work, 'chromium')}", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, "chromium did not finish within 60 s"
    return p, p.stderr


class Dom(html.parser.HTMLParser):
    """The elements of a dumped DOM with their attributes, and the cells of
    each table row."""

    def __init__(self):
        super().__init__()
        self.elements, self.rows, self.row, self.cell = [], [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "tr":
            self.row = (a.get("class"), [])
            self.rows.append(self.row)
        elif tag in ("td", "th") and self.row:
            self.cell = []
            self.row[1].append(self.cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.cell = None

    def handle_data(self, d):
        if self.cell is not None:
            self.cell.append(d)

    def cells(self, cls):
        return [["".join(c) for c in cells] for k, cells in self.rows if k == cls]


def dom_of(path):
    p, err = chromium("--dump-dom", "file://" + path)
    if not check(f"chromium renders {os.path.basename(path)}", p and p.returncode == 0 and "</html>" in p.stdout,
                 err):
        return None, ""
    d = Dom()
    d.feed(p.stdout)
    return d, p.stdout


dom, raw = dom_of(page)
if dom:
    rows = dom.cells("step")
    want = [[s["name"], s["plugin"], s["role"], "\u2013" if "docs_in" not in s else f"{s['docs_in']:,}",
             f"{s['docs_out']:,}", f"{s['dropped']:,}"] for s in data["steps"]]
    check("DOM: one row per step with its plugin, role, in, out and dropped",
          [r[:6] for r in rows] == want, f"{rows}\n{want}")
    charts = {a.get("id") for t, a in dom.elements if t == "svg" and a.get("class") == "chart"}
    need = {"chart-steps", "chart-rules", "chart-sources", "chart-dates"} | {f"chart-entities-{t}" for t in TYPES}
    check("DOM: the charts (steps, rules, sources, dates, entities of each type)", need <= charts, charts)
    check("DOM: the charts have bars", sum(t == "rect" for t, _ in dom.elements) > 50)
    names = [r[0] for r in dom.cells("entity")]
    tops = [e["top"][0]["name"] for e in data["entities"] if e["top"]]
    check("DOM: the top entity of each type is listed", tops and all(n in names for n in tops), tops)
    check("DOM: the sources are listed", [r[0] for r in dom.cells("source")] == [s["source"] for s in data["sources"]])
    scripts = [a for t, a in dom.elements if t == "script"]
    check("DOM: one script element, the JSON data", scripts == [{"type": "application/json", "id": "data"}], scripts)

dom, raw = dom_of(evil_page)
if dom:
    tags = [t for t, _ in dom.elements]
    scripts = [a for t, a in dom.elements if t == "script"]
    check("hostile DOM: no script element but the data", scripts == [{"type": "application/json", "id": "data"}],
          scripts)
    check("hostile DOM: no img, u or i element, no svg but charts",
          not {"img", "u", "i"} & set(tags)
          and all(a.get("class") == "chart" for t, a in dom.elements if t == "svg"),
          sorted(set(tags)))
    check("hostile DOM: the title is text", "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in raw)
    check("hostile DOM: the page title is text", "<title>&lt;i&gt;T&lt;/i&gt; &amp; \"q\"</title>" in raw)


def png_pixels(path):
    """Width, height and the RGB(A) rows of an 8-bit, non-interlaced PNG."""
    data = read(path, "rb")
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(data[pos + 4:pos + 8 + n]) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            raise ValueError(f"bad CRC in chunk {kind}")
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unexpected PNG format: depth {depth}, colour type {ctype}")
    raw, bpp = zlib.decompress(b"".join(idat)), 3 if ctype == 2 else 4
    stride, prev, rows = w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, cur = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride) if f else ():
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            cur[i] = (cur[i] + pred) & 255
        rows.append(bytes(cur))
        prev = cur
    return w, h, bpp, rows


shot = os.path.join(work, "report.png")
p, err = chromium(f"--screenshot={shot}", "--window-size=1280,2000", "file://" + page)
if check("chromium takes a screenshot", p and p.returncode == 0 and os.path.exists(shot), err):
    try:
        w, h, bpp, rows = png_pixels(shot)
    except (ValueError, zlib.error, struct.error, UnboundLocalError) as e:
        w = h = 0
        check("the screenshot is a valid PNG", False, e)
    if w:
        check("the screenshot is 1280x2000", (w, h) == (1280, 2000), (w, h))
        colours = collections.Counter(
            row[i:i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 4))
        top_share = colours.most_common(1)[0][1] / sum(colours.values())
        check("the screenshot is not blank (many colours, no colour over 90%)",
              len(colours) >= 16 and top_share < 0.9, f"{len(colours)} colours, top {top_share:.2f}")

        def near(rgb):
            return sum(n for c, n in colours.items() if max(abs(c[k] - rgb[k]) for k in range(3)) <= 8)

        check("the screenshot shows the charts' blue and orange bars",
              near((0x3b, 0x7d, 0xd8)) > 200 and near((0xe3, 0x9b, 0x2d)) > 100,
              f"blue {near((0x3b, 0x7d, 0xd8))}, orange {near((0xe3, 0x9b, 0x2d))}")

tap.finish()
