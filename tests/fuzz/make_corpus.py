#!/usr/bin/env python3
"""Writes the seed corpus of one fuzz target into OUTDIR, from the samples
already in the repository (nothing big is committed for the fuzzers):

  fuzz_pipeline       pipelines/*.yaml, the ```yaml blocks of README.md,
                      docs/*.md and plugins/*/README.md, tests/fuzz/seeds/pipeline
  fuzz_jsonl          tests/golden/news.jsonl (whole, by line, gzip'd),
                      tests/fuzz/seeds/jsonl
  fuzz_html_extract   tests/html/*.html, the sample articles as <p> pages
  fuzz_stage_NAME     seeds/*.txt as plain text; the golden documents with
                      their metadata in fuzz_stage.c's format (fields split
                      by 0x1F, documents by 0x1E, batches by 0x1D), a few
                      per input, and near copies for dedupe; HTML pages for
                      the html stage

usage: make_corpus.py TARGET OUTDIR [SOURCE_DIR]
"""
import glob
import gzip
import hashlib
import html
import json
import os
import re
import sys

META = ["title", "author", "date", "url", "lang", "source"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    target, out = sys.argv[1], sys.argv[2]
    src = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "..")
    os.makedirs(out, exist_ok=True)

    def read(p):
        with open(p, "rb") as f:
            return f.read()

    def put(data):
        if isinstance(data, str):
            data = data.encode()
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    def files(pattern):
        return sorted(glob.glob(os.path.join(src, pattern)))

    here = os.path.join(src, "tests", "fuzz", "seeds")
    golden = [json.loads(l) for l in read(os.path.join(src, "tests/golden/news.jsonl")).decode().splitlines() if l.strip()]
    texts = [read(p) for p in files("seeds/*.txt")]
    pages = [read(p) for p in files("tests/html/*.html")]

    if target == "fuzz_pipeline":
        for p in files("pipelines/*.yaml") + files("tests/fuzz/seeds/pipeline/*"):
            put(read(p))
        for md in files("README.md") + files("docs/*.md") + files("plugins/*/README.md"):
            for block in re.findall(r"```yaml\n(.*?)```", read(md).decode(), re.S):
                put(block)
    elif target == "fuzz_jsonl":
        whole = read(os.path.join(src, "tests/golden/news.jsonl"))
        put(whole)
        put(gzip.compress(whole[:4000], mtime=0))
        for line in whole.splitlines(keepends=True):
            put(line)
        for p in files("tests/fuzz/seeds/jsonl/*"):
            put(read(p))
    elif target == "fuzz_html_extract":
        for p in pages:
            put(p)
        for t in texts:
            paras = "".join("<p>%s</p>\n" % html.escape(x) for x in t.decode().split("\n\n"))
            put("<html><head><title>t</title></head><body><article>%s</article></body></html>" % paras)
    elif target.startswith("fuzz_stage_"):
        stage = target[len("fuzz_stage_"):]

        def record(d):
            m = d.get("meta", {})
            fields = [d["text"]] + [m.get(k) or "" for k in META]
            return "\x1f".join(fields)

        if stage == "html":
            for p in pages:
                put(p)
            put(b"\x1e".join(pages))
        for t in texts:
            put(t)
        for i in range(0, len(golden), 3):
            put("\x1e".join(record(d) for d in golden[i:i + 3]))
        # two batches, the second repeating the first with a small change:
        # duplicates across batches for dedupe, repeated lines for cleanup
        for d in golden[:4]:
            r = record(d)
            put(r + "\x1e" + r + "\x1d" + r.replace(" the ", " a ", 3))
    else:
        sys.exit("make_corpus.py: unknown target %s" % target)


if __name__ == "__main__":
    main()
