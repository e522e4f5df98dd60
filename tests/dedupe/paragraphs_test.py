#!/usr/bin/env python3
"""dedupe's `granularity: paragraph`: repeated paragraphs removed (drop) or
annotated (mark), whatever their place in the document, annotations moved
with the text, and a document with nothing of its own left dropped.

Usage: paragraphs_test.py TEXTMILL SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import Tap  # noqa: E402

tm = sys.argv[1]
tap = Tap()
check = tap.check

P1, P2, P3 = "Alpha paragraph one.", "Bravo paragraph two.", "Charlie paragraph three."
DOCS = [
    ("a", f"{P1}\n\n{P2}\n\n{P3}"),
    # the last two paragraphs repeat: once this failed the whole run
    ("b", f"Own start.\n\n{P2}\n\n{P3}"),
    # repeats in the middle, a triple line break, a trailing line break
    ("c", f"Own first.\n\n{P3}\n\n\n{P2}\n\nOwn last.\n"),
    # the first paragraph repeats
    ("d", f"{P1}\n\nOwn end."),
    # nothing of its own
    ("e", f"{P2}\n\n{P3}\n\n"),
]
EXPECT_DROP = {"a": DOCS[0][1], "b": "Own start.", "c": "Own first.\n\nOwn last.\n",
               "d": "Own end."}

with tempfile.TemporaryDirectory(prefix="tm_paragraphs_") as tmp:
    src = os.path.join(tmp, "in.jsonl")
    with open(src, "w") as f:
        for i, t in DOCS:
            # an annotation on the own text, to follow the edits
            own = t.find("Own")
            ann = [{"start": own, "end": own + 3, "type": "MARK"}] if own >= 0 else []
            f.write(json.dumps({"id": i, "text": t, "annotations": ann}) + "\n")

    def run(mode):
        out = os.path.join(tmp, f"{mode}.jsonl")
        y = os.path.join(tmp, f"{mode}.yaml")
        with open(y, "w") as f:
            f.write(f'version: 1\nsource: {{use: jsonl, with: {{paths: ["{src}"]}}}}\n'
                    f"stages: [{{use: dedupe, with: {{granularity: paragraph, mode: {mode}, "
                    f"min_paragraph_chars: 5, near: false}}}}]\n"
                    f'sinks: [{{use: jsonl, with: {{path: "{out}"}}}}]\n')
        r = subprocess.run([tm, "run", y, "--stats"], capture_output=True, text=True)
        docs = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
        return r, {d["id"]: d for d in docs}

    r, got = run("drop")
    check("drop: the run succeeds", r.returncode == 0, r.stderr)
    check("drop: repeated paragraphs removed wherever they are",
          {i: d["text"] for i, d in got.items()} == EXPECT_DROP,
          json.dumps({i: d["text"] for i, d in got.items()}, indent=1))
    check("drop: a document with nothing of its own is dropped (duplicate_paragraphs)",
          "e" not in got and "dropped duplicate_paragraphs 1" in " ".join(r.stderr.split()),
          r.stderr)
    moved = all(d["text"][a["start"]:a["end"]] == "Own"
                for d in got.values() for a in d.get("annotations", []) if a["type"] == "MARK")
    check("drop: annotations follow the text", moved and len(got) == 4,
          json.dumps(list(got.values()), indent=1))

    r, got = run("mark")
    check("mark: the run succeeds", r.returncode == 0, r.stderr)
    check("mark: every document kept, text unchanged",
          {i: d["text"] for i, d in got.items()} == dict(DOCS), "")
    marks = {i: sorted((d["text"][a["start"]:a["end"]], a.get("label"))
                       for a in d.get("annotations", []) if a["type"] == "DUPLICATE_PARAGRAPH")
             for i, d in got.items()}
    want = {"a": [], "b": [(P2, "a"), (P3, "a")], "c": [(P2, "a"), (P3, "a")],
            "d": [(P1, "a")], "e": [(P2, "a"), (P3, "a")]}
    check("mark: DUPLICATE_PARAGRAPH spans and first owners", marks == want,
          json.dumps(marks, indent=1))

tap.finish()
