#!/usr/bin/env python3
"""The sinks' side of the `stories` stage, end to end: hand-made documents
carrying the stage's keys (story, story_score, story_label, story_terms,
story_evidence) go through the `jsonl` source into the sqlite, report and
csv sinks, so that the sinks are tested apart from the stage's model.

1. sqlite, night 1: one `stories` row per story with its documents, outlets
   (meta.source, else the URL's host), sources in order, first/last day,
   label (the latest document's, else the first document's title, else the
   id) and terms; `story_documents` with score and evidence.
2. sqlite, later nights: a story grows (documents, outlets and last_date up,
   first_date kept, the label the latest), a story continues with one
   document, a changed document moves to another story (the old one loses
   it); re-running a night changes not a byte.
3. sqlite, a version-1 database (stories as per-document rows) is upgraded
   in place: rows moved, per-story rows built, documents untouched; a run
   that fails leaves version 1; a newer version and a broken version-1
   table are refused. docs/sqlite.md's story queries run and answer right.
4. report: stories ranked by outlets, then documents, then first date
   (undated last); a new story of one document is left out, a continued
   one is listed; labels, outlets, dates and evidence in the JSON and on the
   page.
5. csv: story, story_label, story_score and story_terms as columns.

    stories_test.py TEXTMILL SOURCE_DIR
"""
import atexit
import csv
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

TM, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
work = tempfile.mkdtemp(prefix="tm_stories_test_")
atexit.register(shutil.rmtree, work, ignore_errors=True)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()
check = tap.check


def w(*p):
    return os.path.join(work, *p)


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return path


def run(inputs, sinks, *args, name="p.yaml", cmd="run"):
    """Runs `inputs` (JSONL paths) into `sinks` (dicts): (exit code, stderr)."""
    y = {"version": 1, "name": "stories-test",
         "source": {"use": "jsonl", "with": {"paths": inputs}}, "sinks": sinks}
    path = w(name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(y, f)
    p = subprocess.run([TM, cmd, path, *args], capture_output=True, text=True, timeout=300,
                       cwd=work)
    return p.returncode, p.stderr


def sqlite_sink(db):
    return {"use": "sqlite", "with": {"path": db}}


def counter(err, name):
    m = re.search(rf"^\s+{name}\s+(\d+)\s*$", err, re.M)
    return int(m.group(1)) if m else 0


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def doc(id_, text, story=None, label=None, terms=None, score=None, evidence=None, **meta):
    m = dict(meta)
    if story is not None:
        m["story"] = story
    if label is not None:
        m["story_label"] = label
    if terms is not None:
        m["story_terms"] = terms
    if score is not None:
        m["story_score"] = score
    if evidence is not None:
        m["story_evidence"] = evidence
    return {"id": id_, "text": text, "meta": m}


def ev(story, score, names, terms, days=None, parts=(1.5, 0.3, 0.9, -0.2)):
    e = {"story": story, "score": score,
         "parts": dict(zip(("names", "title", "body", "date"), parts)),
         "names": names, "terms": terms}
    if days is not None:
        e["days_apart"] = days
    return e


# ---- the nights ---------------------------------------------------------------------

QTERMS = ["earthquake", "Izmir", "rescue"]
night1 = [
    # q1: three outlets over two days, one by its URL's host only
    doc("q1", "An earthquake hit Izmir.", "q1", "Quake hits Izmir", QTERMS, title="Quake hits Izmir",
        source="cnn.com", date="2024-05-01"),
    doc("q2", "Izmir shaken by earthquake.", "q1", "Quake hits Izmir", QTERMS, 0.91,
        ev("q1", 0.91, ["Izmir"], ["earthquake"], 0), title="Izmir shaken",
        source="bbc.co.uk", date="2024-05-01T09:30:00Z"),
    doc("q3", "Rescue teams in Izmir.", "q1", "Rescue goes on in Izmir", QTERMS + ["teams"], 0.8,
        ev("q1", 0.8, ["Izmir"], ["rescue", "earthquake"], 1), title="Rescue goes on in Izmir",
        url="https://www.Reuters.com/world/izmir", date="2024-05-02"),
    doc("q4", "More on the Izmir quake.", "q1", "Rescue goes on in Izmir", QTERMS, 0.77,
        ev("q1", 0.77, ["Izmir", "AFAD"], ["rescue"], 1), title="Izmir update",
        source=" cnn.com ", date="2024-05-02"),
    # e1: one outlet, two documents
    doc("e1", "Election called.", "e1", "Election called", ["election"], title="Election called",
        source="cnn.com", date="2024-05-01"),
    doc("e2", "Election date set.", "e1", "Election called", ["election", "date"], 0.7,
        ev("e1", 0.7, ["Parliament"], ["election"], 0), title="Election date set",
        source="cnn.com", date="2024-05-01"),
    # f1: no titles at all, so an empty label: the sinks fall back to the id
    doc("f1", "Floods in the north.", "f1", "", ["floods"], source="apnews.com",
        date="2024-04-30"),
    doc("f2", "Northern floods.", "f1", "", ["floods", "north"], 0.66,
        ev("f1", 0.66, [], ["floods"], 1), source="afp.com", date="2024-05-01"),
    # g1: ties f1 on outlets and documents, starts a day later
    doc("g1", "Grain prices climb.", "g1", "Grain prices climb", ["grain"],
        title="Grain prices climb", source="ft.com", date="2024-05-01"),
    doc("g2", "Grain market.", "g1", "Grain prices climb", ["grain"], 0.6,
        ev("g1", 0.6, [], ["grain"]), title="Grain market", source="wsj.com"),
    # h1: ties e1 on outlets and documents, but undated: ranked after it
    doc("h1", "Harbour strike.", "h1", "Harbour strike", ["harbour"], title="Harbour strike",
        source="cnn.com"),
    doc("h2", "Harbour strike goes on.", "h1", "Harbour strike", ["harbour"], 0.55,
        ev("h1", 0.55, [], ["harbour", "strike"]), date="yesterday"),
    # s1: a story of one document
    doc("s1", "Solar eclipse tonight.", "s1", "Solar eclipse tonight", ["eclipse"],
        title="Solar eclipse tonight", source="cnn.com", date="2024-05-02"),
    # no story at all
    doc("n1", "Nothing to group.", title="Plain", source="cnn.com", date="2024-05-02"),
]
night2 = [
    doc("q5", "The Izmir toll rises.", "q1", "Izmir quake toll rises",
        ["earthquake", "Izmir", "toll"], 0.84, ev("q1", 0.84, ["Izmir"], ["toll"], 2),
        title="Izmir quake toll rises", source="apnews.com", date="2024-05-03"),
    doc("s2", "Eclipse pictures.", "s1", "Solar eclipse tonight", ["eclipse", "pictures"], 0.73,
        ev("s1", 0.73, [], ["eclipse"], 1), title="Eclipse pictures", source="bbc.co.uk",
        date="2024-05-03"),
    doc("k1", "Kiln fire.", "k1", "Kiln fire", ["kiln"], title="Kiln fire", source="local.example",
        date="2024-05-03"),
    doc("k2", "Kiln fire out.", "k1", "Kiln fire", ["kiln"], 0.9, ev("k1", 0.9, [], ["kiln"], 0),
        title="Kiln fire out", source="local.example", date="2024-05-03"),
]
in1 = write_jsonl(w("night1.jsonl"), night1)
in2 = write_jsonl(w("night2.jsonl"), night2)


def story_rows(db):
    c = sqlite3.connect(db)
    rows = {r[0]: {"label": r[1], "terms": json.loads(r[2]), "first_date": r[3],
                   "last_date": r[4], "documents": r[5], "outlets": r[6],
                   "sources": json.loads(r[7]), "updated": r[8]}
            for r in c.execute("SELECT story_id, label, terms, first_date, last_date, documents, "
                               "outlets, sources, updated FROM stories")}
    c.close()
    return rows


def without(rows, *keys):
    return {k: {f: v for f, v in r.items() if f not in keys} for k, r in rows.items()}


# ---- 1. sqlite, night 1 -------------------------------------------------------------
print("# sqlite: night 1")
db = w("news.db")
rc, err = run([in1], [sqlite_sink(db)], "--stats")
check("night 1 runs", rc == 0, err)
rows = story_rows(db)
want1 = {
    "q1": {"label": "Rescue goes on in Izmir", "terms": QTERMS, "first_date": "2024-05-01",
           "last_date": "2024-05-02", "documents": 4, "outlets": 3,
           "sources": ["cnn.com", "bbc.co.uk", "reuters.com"]},
    "e1": {"label": "Election called", "terms": ["election", "date"], "first_date": "2024-05-01",
           "last_date": "2024-05-01", "documents": 2, "outlets": 1, "sources": ["cnn.com"]},
    "f1": {"label": "f1", "terms": ["floods", "north"], "first_date": "2024-04-30",
           "last_date": "2024-05-01", "documents": 2, "outlets": 2,
           "sources": ["afp.com", "apnews.com"]},
    "g1": {"label": "Grain prices climb", "terms": ["grain"], "first_date": "2024-05-01",
           "last_date": "2024-05-01", "documents": 2, "outlets": 2, "sources": ["ft.com", "wsj.com"]},
    "h1": {"label": "Harbour strike", "terms": ["harbour"], "first_date": None, "last_date": None,
           "documents": 2, "outlets": 1, "sources": ["cnn.com"]},
    "s1": {"label": "Solar eclipse tonight", "terms": ["eclipse"], "first_date": "2024-05-02",
           "last_date": "2024-05-02", "documents": 1, "outlets": 1, "sources": ["cnn.com"]},
}
got1 = without(rows, "updated")
check("one stories row per story, no row for a document without one",
      sorted(got1) == sorted(want1), sorted(got1))
for k, want in want1.items():
    check(f"story {k}: " + ", ".join(f"{f} {v!r}" for f, v in want.items()
                                     if f in ("documents", "outlets", "first_date", "label")),
          got1.get(k) == want, (got1.get(k), want))
check("stories rows carry the run's time",
      all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["updated"]) for r in rows.values()))
check("counter stories: the rows written", counter(err, "stories") == len(want1), err)
c = sqlite3.connect(db)
sd = {r[0]: (r[1], r[2], json.loads(r[3]) if r[3] else None)
      for r in c.execute("SELECT doc_id, story_id, score, evidence FROM story_documents")}
c.close()
want_sd = {d["id"]: (d["meta"]["story"], d["meta"].get("story_score"),
                     d["meta"].get("story_evidence"))
           for d in night1 if "story" in d["meta"]}
check("story_documents: story, score (NULL for an opener) and evidence of each document",
      sd == want_sd, (sd, want_sd))

# ---- 2. sqlite, later nights --------------------------------------------------------
print("# sqlite: night 2 and after")
night1_sha = sha(db)
rc, err = run([in1], [sqlite_sink(db)], "--stats")
check("re-running night 1 writes nothing: the file is byte for byte as it was",
      rc == 0 and sha(db) == night1_sha and counter(err, "stories") == 0
      and counter(err, "unchanged") == len(night1), err)
rc, err = run([in2], [sqlite_sink(db)], "--stats")
check("night 2 runs", rc == 0, err)
rows2 = story_rows(db)
q = rows2.get("q1", {})
check("a story that goes on: documents and outlets of both nights (5, 4)",
      q.get("documents") == 5 and q.get("outlets") == 4, q)
check("... its first_date stays, its last_date grows",
      q.get("first_date") == "2024-05-01" and q.get("last_date") == "2024-05-03", q)
check("... its label and terms are the latest document's",
      q.get("label") == "Izmir quake toll rises" and q.get("terms") == ["earthquake", "Izmir", "toll"],
      q)
check("... its sources, most documents first, then by name",
      q.get("sources") == ["cnn.com", "apnews.com", "bbc.co.uk", "reuters.com"], q)
s1 = rows2.get("s1", {})
check("a story of one document continued by another outlet the next night",
      s1.get("documents") == 2 and s1.get("outlets") == 2 and s1.get("first_date") == "2024-05-02"
      and s1.get("last_date") == "2024-05-03", s1)
check("a new story of night 2", rows2.get("k1", {}).get("documents") == 2, rows2.get("k1"))
check("stories night 2 did not touch keep their rows, updated time included",
      all(rows2[k] == rows[k] for k in ("e1", "f1", "g1", "h1")))
check("counter stories: the rows night 2 wrote (q1, s1, k1)", counter(err, "stories") == 3, err)
night2_sha = sha(db)
rc, err = run([in2], [sqlite_sink(db)])
check("re-running night 2 leaves the file byte for byte as it was",
      rc == 0 and sha(db) == night2_sha, err)
rc, err = run([in1], [sqlite_sink(db)])
check("re-running night 1 after night 2 changes nothing either (labels stay the latest)",
      rc == 0 and sha(db) == night2_sha, err)

# night 3: e2 is corrected and moved into q1's story; h1 loses both documents
moved = doc("e2", "Election date set, and an aftershock in Izmir.", "q1", "Izmir aftershock",
            QTERMS, 0.52, ev("q1", 0.52, ["Izmir"], ["aftershock"], 3), title="Election date set",
            source="cnn.com", date="2024-05-04")
h_gone = [doc("h1", "Harbour strike.", "z1", "Strikes", ["strike"], title="Harbour strike",
              source="cnn.com"),
          doc("h2", "Harbour strike goes on.", "z1", "Strikes", ["strike"], 0.5,
              ev("z1", 0.5, [], ["strike"]), date="yesterday")]
in3 = write_jsonl(w("night3.jsonl"), [moved] + h_gone)
rc, err = run([in3], [sqlite_sink(db)], "--stats")
rows3 = story_rows(db)
check("night 3: a changed document moved to another story", rc == 0 and counter(err, "updated") == 3,
      err)
check("... the story it left has one document fewer",
      rows3.get("e1", {}).get("documents") == 1 and rows3["e1"]["last_date"] == "2024-05-01",
      rows3.get("e1"))
check("... the story it joined has one more, and its date",
      rows3.get("q1", {}).get("documents") == 6 and rows3["q1"]["last_date"] == "2024-05-04"
      and rows3["q1"]["label"] == "Izmir aftershock", rows3.get("q1"))
check("... a story left with no document loses its row", "h1" not in rows3, sorted(rows3))
check("... and the story its documents went to has one",
      rows3.get("z1", {}).get("documents") == 2 and rows3["z1"]["label"] == "Strikes",
      rows3.get("z1"))


def integrity(path):
    c_ = sqlite3.connect(path)
    ok = c_.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    fk = c_.execute("PRAGMA foreign_key_check").fetchall()
    c_.close()
    return ok and not fk


check("integrity and foreign keys hold after three nights", integrity(db))

# docs/sqlite.md's story queries, as printed there
doc_md = open(os.path.join(SRC, "docs", "sqlite.md"), encoding="utf-8").read()
blocks = [b for b in re.findall(r"```sql\n(.*?)```", doc_md, re.S)
          if "FROM stories" in b or "FROM story_documents" in b]
week = next((b for b in blocks if "FROM stories\n" in b and "ORDER BY outlets DESC" in b), None)
members = next((b for b in blocks if "FROM story_documents sd" in b), None)
shares = next((b for b in blocks if "json_each(s.sources)" in b), None)
check("docs/sqlite.md has the story queries (this week's stories, a story's documents, "
      "outlets' shares)", week and members and shares, blocks)
c = sqlite3.connect(db)
if week:
    # the week of these documents rather than the one the test runs in
    got = [r[0] for r in c.execute(week.replace("date('now', '-7 days')", "'2024-04-28'"))]
    check("'the stories the most outlets carried this week' ranks them (an undated story "
          "is not of this week)",
          got == ["q1", "f1", "g1", "s1", "k1", "e1"], got)
    got_all = [r[0] for r in c.execute(week)]
    check("... and runs as printed", isinstance(got_all, list))
if members:
    got = [(r[0], r[4]) for r in c.execute(members.replace("002_db9da65741792d56", "s1"))]
    check("'the documents of one story' lists them by date with their scores",
          got == [("s1", None), ("s2", 0.73)], got)
if shares:
    got = dict((r[0], r[1]) for r in c.execute(shares.replace("date('now', '-7 days')",
                                                              "'2024-04-28'")))
    check("'each outlet's share of this week's stories' counts stories per outlet",
          got.get("cnn.com") == 3 and got.get("bbc.co.uk") == 2 and got.get("ft.com") == 1, got)
c.close()

# ---- 3. a version-1 database ----------------------------------------------------------
print("# sqlite: upgrading a version-1 database")
# what dedupe wrote before the stories stage: a story and its evidence, no label
old_shape = [
    doc("o1", "Old story opener.", "o1", title="Old opener", source="cnn.com", date="2023-01-01"),
    doc("o2", "Old story follow-up.", "o1", evidence={"with": "o1", "score": 0.7, "names": ["X"],
                                                       "quotes": 1, "days_apart": 1},
        title="Old follow-up", source="bbc.co.uk", date="2023-01-02"),
    doc("o3", "Another old one.", "o3", source="cnn.com", date="2023-01-05"),
    doc("o4", "Not in a story.", title="None", date="2023-01-05"),
]
in_old = write_jsonl(w("old.jsonl"), old_shape)
V1_STORIES = """
DROP TABLE stories;
CREATE TABLE stories (
    doc_id   TEXT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    story_id TEXT NOT NULL,
    evidence TEXT              -- story_evidence as JSON, or NULL
) WITHOUT ROWID;
CREATE INDEX stories_story ON stories (story_id);
INSERT INTO stories (doc_id, story_id, evidence)
    SELECT doc_id, story_id, evidence FROM story_documents;
DROP TABLE story_documents;
PRAGMA user_version = 1;
"""


def make_v1(path):
    """A database as version 1 wrote it: today's sink writes the documents
    (their digests are version 1's), then the story tables are put back as
    version 1 had them."""
    if os.path.exists(path):
        os.unlink(path)
    rc_, err_ = run([in_old], [sqlite_sink(path)], name="v1.yaml")
    c_ = sqlite3.connect(path)
    c_.executescript(V1_STORIES)
    c_.close()
    return rc_ == 0, err_


def table(path, sql):
    c_ = sqlite3.connect(path)
    try:
        return sorted(c_.execute(sql).fetchall(), key=repr)
    finally:
        c_.close()


v1 = w("v1", "news.db")
os.makedirs(os.path.dirname(v1))
ok, err = make_v1(v1)
check("a version-1 database is made", ok and table(v1, "PRAGMA user_version") == [(1,)], err)
v1_docs = table(v1, "SELECT * FROM documents")
v1_rows = table(v1, "SELECT doc_id, story_id, evidence FROM stories")
rc, err = run([in_old], [sqlite_sink(v1)], name="v1.yaml", cmd="check")
check("textmill check accepts a version-1 database and leaves it as it is",
      rc == 0 and table(v1, "PRAGMA user_version") == [(1,)], err)
v1_sha = sha(v1)

# a run that fails after the sink wrote (a second sink cannot create its
# temporary file: the name is too long) leaves version 1 as it was
too_long = w("v1", "x" * 244 + ".jsonl")
rc, err = run([in_old], [sqlite_sink(v1), {"use": "jsonl", "with": {"path": too_long}}],
              name="v1.yaml")
check("a failed run on a version-1 database: exit 4", rc == 4, err)
check("... the database is still version 1, byte for byte",
      sha(v1) == v1_sha and table(v1, "PRAGMA user_version") == [(1,)]
      and table(v1, "SELECT doc_id, story_id, evidence FROM stories") == v1_rows)

rc, err = run([in_old], [sqlite_sink(v1)], "--stats", name="v1.yaml")
check("the next run upgrades it (exit 0, says so once)",
      rc == 0 and err.count("upgraded from schema version 1 to 2") == 1, err)
check("... version 2 now", table(v1, "PRAGMA user_version") == [(2,)])
check("... the old table and its index are gone",
      table(v1, "SELECT name FROM sqlite_schema WHERE name IN ('stories_v1', 'stories_story')") == [])
check("... no document was rewritten (digests still hold): documents byte for byte",
      counter(err, "unchanged") == len(old_shape) and table(v1, "SELECT * FROM documents") == v1_docs,
      err)
check("... the per-document rows moved to story_documents (no score in version 1's data)",
      table(v1, "SELECT doc_id, story_id, evidence FROM story_documents") == v1_rows
      and table(v1, "SELECT score FROM story_documents WHERE score IS NOT NULL") == [],
      table(v1, "SELECT * FROM story_documents"))
up = without(story_rows(v1), "updated")
check("... one row per story, built from them: o1 from two outlets, labelled by its first "
      "document's title",
      up.get("o1") == {"label": "Old opener", "terms": [], "first_date": "2023-01-01",
                       "last_date": "2023-01-02", "documents": 2, "outlets": 2,
                       "sources": ["bbc.co.uk", "cnn.com"]}, up.get("o1"))
check("... a story whose first document has no title is labelled by its id",
      up.get("o3", {}).get("label") == "o3" and sorted(up) == ["o1", "o3"], up)
fresh = w("v1", "fresh.db")
rc, err = run([in_old], [sqlite_sink(fresh)], name="fresh.yaml")
check("... the same stories rows as a new database gets from the same documents",
      rc == 0 and without(story_rows(fresh), "updated") == up)
check("... the schema is the one a new database gets",
      table(v1, "SELECT type, name, sql FROM sqlite_schema")
      == table(fresh, "SELECT type, name, sql FROM sqlite_schema"))
check("... integrity and foreign keys hold", integrity(v1))
up_sha = sha(v1)
rc, err = run([in_old], [sqlite_sink(v1)], name="v1.yaml")
check("... and a re-run changes nothing", rc == 0 and sha(v1) == up_sha and
      "upgraded" not in err, err)

for what, sql, message in [
    ("a version-1 stories table without version 1's columns",
     "DROP TABLE stories; CREATE TABLE stories (story_id TEXT); PRAGMA user_version = 1;",
     "its table 'stories' has no column 'doc_id': not the schema this sink upgrades (version 1)"),
    ("a newer version", "PRAGMA user_version = 3;",
     "written by a newer textmill (schema version 3; this sink writes version 2)"),
]:
    p = w("v1", re.sub(r"\W+", "_", what) + ".db")
    shutil.copy(fresh, p)
    c = sqlite3.connect(p)
    c.executescript(sql)
    c.close()
    before = sha(p)
    rc, err = run([in_old], [sqlite_sink(p)], name="bad.yaml")
    check(f"{what}: refused (exit 2) with '{message}'", rc == 2 and message in err, err)
    check(f"{what}: left as it was", sha(p) == before)

# ---- 4. report ----------------------------------------------------------------------
print("# report")
page = w("report", "r.html")
rc, err = run([in1], [{"use": "report", "with": {"path": page}}], name="r.yaml")
check("night 1 into the report", rc == 0, err)
rep = json.load(open(page[:-5] + ".json", encoding="utf-8"))
st = rep["stories"]
order = [g["story"] for g in st["stories"]]
check("ranked by outlets, then documents, then first date (undated last); a new story "
      "of one document left out", order == ["q1", "f1", "g1", "e1", "h1"], order)
check("totals: the stories listed and their documents",
      st["total"] == 5 and st["documents"] == 12, (st["total"], st["documents"]))
by = {g["story"]: g for g in st["stories"]}
q = by.get("q1", {})
check("q1: label, terms, outlets, sources, dates, documents",
      q.get("label") == "Rescue goes on in Izmir" and q.get("terms") == QTERMS
      and q.get("outlets") == 3 and q.get("documents") == 4
      and q.get("sources") == [{"source": "cnn.com", "documents": 2},
                               {"source": "bbc.co.uk", "documents": 1},
                               {"source": "reuters.com", "documents": 1}]
      and q.get("first_date") == "2024-05-01" and q.get("last_date") == "2024-05-02"
      and q.get("continued") is False, q)
m2 = next((m for m in q.get("members", []) if m["id"] == "q2"), {})
check("a joining document's evidence: score, shared names and terms, parts, days apart",
      m2.get("story_score") == 0.91 and m2.get("shared_names") == ["Izmir"]
      and m2.get("shared_terms") == ["earthquake"] and m2.get("days_apart") == 0
      and m2.get("parts") == {"names": 1.5, "title": 0.3, "body": 0.9, "date": -0.2}
      and m2.get("source") == "bbc.co.uk", m2)
m1 = next((m for m in q.get("members", []) if m["id"] == "q1"), {})
check("the opening document has no score", "story_score" not in m1 and m1.get("source") == "cnn.com",
      m1)
check("an empty label falls back to the id (no document has a title)",
      by.get("f1", {}).get("label") == "f1", by.get("f1"))
check("an undated story has null dates", by.get("h1", {}).get("first_date") is None)
text = open(page, encoding="utf-8").read()
section = text[text.find('<section id="stories">'):]
section = section[:section.find("</section>")]
pos = [section.find(f"story: {k}<") for k in order]
check("the page shows the stories in that order", all(p >= 0 for p in pos) and pos == sorted(pos),
      pos)
check("the page shows a story's label, outlets and dates",
      "<b>Rescue goes on in Izmir</b>" in section and "3 outlets" in section
      and "cnn.com (2), bbc.co.uk (1), reuters.com (1)" in section
      and "2024-05-01 \u2013 2024-05-02" in section, section[:1500])
check("the page explains why a document joined",
      "joined with score 0.91; names Izmir; terms earthquake; 0 days apart; weights names +1.50"
      in section, section[:3000])
check("the page leaves out the story of one document", "story: s1<" not in section)
check("the page charts the stories by outlets and documents", 'id="chart-stories"' in section)

rc, err = run([in2], [{"use": "report", "with": {"path": page}}], name="r.yaml")
rep2 = json.load(open(page[:-5] + ".json", encoding="utf-8")) if rc == 0 else {"stories": {}}
by2 = {g["story"]: g for g in rep2["stories"].get("stories", [])}
check("night 2: stories continued from night 1 are listed, as continued, even with one "
      "document", by2.get("q1", {}).get("continued") is True and by2["q1"]["documents"] == 1
      and by2.get("s1", {}).get("continued") is True, by2)
check("night 2: a continued story's label is the latest", by2.get("q1", {}).get("label")
      == "Izmir quake toll rises")
check("night 2: ranked by outlets, then documents", [g for g in by2] == ["k1", "q1", "s1"],
      list(by2))

hostile = [doc("x1", "One.", "x1", "<script>alert(1)</script>", ["<b>bold</b>"],
               title="x", source="<i>outlet</i>"),
           doc("x2", "Two.", "x1", "<script>alert(1)</script>", ["<b>bold</b>"], 0.5,
               {"story": "x1", "score": 0.5, "parts": {"<img src=x>": 1.0},
                "names": ["<u>n</u>"], "terms": ["</span>t"]}, source="b")]
in_x = write_jsonl(w("hostile.jsonl"), hostile)
xpage = w("report", "x.html")
rc, err = run([in_x], [{"use": "report", "with": {"path": xpage}}], name="x.yaml")
xtext = open(xpage, encoding="utf-8").read() if rc == 0 else ""
xbody = re.sub(r'<script type="application/json" id="data">.*?</script>', "", xtext, flags=re.S)
check("hostile labels, terms, outlets and evidence come out as text on the page",
      rc == 0 and "&lt;script&gt;alert(1)&lt;/script&gt;" in xbody
      and not any(t in xbody for t in ("<script", "<b>bold", "<i>outlet", "<img", "<u>n",
                                       "</span>t")), err)

# ---- 5. csv -------------------------------------------------------------------------
print("# csv")
out_csv = w("csv", "stories.csv")
rc, err = run([in1], [{"use": "csv", "with": {"path": out_csv, "columns":
                                              ["id", "story", "story_label", "story_score",
                                               "story_terms"]}}], name="c.yaml")
check("csv with story columns runs", rc == 0, err)
with open(out_csv, encoding="utf-8", newline="") as f:
    got = {r["id"]: r for r in csv.DictReader(f)}
check("csv: story and story_label cells",
      got.get("q3", {}).get("story") == "q1" and got["q3"]["story_label"] == "Rescue goes on in Izmir"
      and got.get("f1", {}).get("story_label") == "" and got.get("n1", {}).get("story") == "",
      got.get("q3"))
check("csv: story_score a number, empty for an opener; story_terms as JSON",
      got.get("q2", {}).get("story_score") == "0.91" and got.get("q1", {}).get("story_score") == ""
      and json.loads(got["q1"]["story_terms"]) == QTERMS, (got.get("q1"), got.get("q2")))

tap.finish()
