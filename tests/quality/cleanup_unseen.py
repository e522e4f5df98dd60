#!/usr/bin/env python3
"""cleanup on pages it was not written for: the 156 html-dev pages (other
sites, other chrome), extracted by the html source, with and without cleanup.
Cleanup must not eat prose there (the must-contain snippets the extractor
found must survive) and should remove some of the chrome that got through.
Skips (exit 77) when ../shared/data/html-dev is absent: the pages are
third-party and are not shipped.

usage: cleanup_unseen.py TEXTMILL SOURCE_DIR"""
import glob, json, os, subprocess, sys, tempfile

tm, src = sys.argv[1], sys.argv[2]
dev = os.path.join(src, "..", "shared", "data", "html-dev")
if not os.path.isdir(dev):
    print("SKIP: ../shared/data/html-dev not found (third-party pages are not shipped)")
    sys.exit(77)
work = tempfile.mkdtemp()
fold = lambda s: " ".join(s.split())


def run(stages):
    out = os.path.join(work, "out.jsonl")
    with open(os.path.join(work, "p.yaml"), "w") as f:
        f.write(f'version: 1\nsource: {{use: html, with: {{paths: ["{dev}/*.html"]}}}}\n'
                f'stages: {stages}\nsinks: [{{use: jsonl, with: {{path: "{out}"}}}}]\n')
    r = subprocess.run([tm, "run", os.path.join(work, "p.yaml"), "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"pipeline failed ({r.returncode}): {r.stderr}")
    return {d["id"]: fold(d["text"]) for d in map(json.loads, open(out, encoding="utf-8"))}


def score(docs):
    found, absent, nw, nwo, got = 0, 0, 0, 0, set()
    for f in sorted(glob.glob(os.path.join(dev, "*.snippets.json"))):
        sn = json.load(open(f, encoding="utf-8"))
        i = os.path.basename(f)[: -len(".snippets.json")]
        t = docs.get(i, "")
        for s in sn["with"]:
            nw += 1
            if fold(s) in t:
                found += 1
                got.add((i, s))
        for s in sn["without"]:
            nwo += 1
            absent += fold(s) not in t
    return found / nw, absent / nwo, got


w0, wo0, got0 = score(run("[]"))
w1, wo1, got1 = score(run("[{use: cleanup}]"))
lost = sorted(got0 - got1)
print(f"html only:       with found {w0:.3f}, without absent {wo0:.3f}")
print(f"html + cleanup:  with found {w1:.3f}, without absent {wo1:.3f}")
print(f"must-contain snippets that cleanup removed: {len(lost)}")
for i, s in lost:
    print(f"  {i}: {s[:100]!r}")
ok = len(lost) <= 1 and wo1 >= wo0
print("PASS" if ok else "FAIL: cleanup ate prose or let chrome back in")
sys.exit(0 if ok else 1)
