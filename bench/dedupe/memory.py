#!/usr/bin/env python3
"""Memory of the dedupe index per document, and dedupe's throughput.

Generates N small distinct documents (random word sequences of 50-150 words
from a seeded Zipf-weighted vocabulary of made-up words, so no two are near
duplicates), then runs the same pipeline twice over them:

  base    jsonl -> jsonl
  dedupe  jsonl -> dedupe (defaults: exact + near, mode drop) -> jsonl

and reports the peak RSS of each (from the kernel, via /usr/bin/time -f %M),
(peak RSS with dedupe - peak RSS without) / N = bytes of index per document,
and MB/s and docs/s for both. The difference is what the index costs: both
runs hold the same batches, so what remains is the stage's own memory, which
grows with the number of kept documents.

The corpus (about 0.7 KB a document: ~700 MB at the default 1,000,000) lives
in a temporary directory that is deleted afterwards (--keep keeps it). The
machine running this is usually shared: run the full size once, develop with
--docs 20000.

usage: bench/dedupe/memory.py [--docs 1000000] [--textmill build/bin/textmill]
                              [--seed 1] [--dir TMPDIR] [--keep] [--json OUT]"""
import argparse, json, os, random, re, shutil, subprocess, sys, tempfile, time


def vocabulary(rng, n=20000):
    """n distinct pronounceable made-up words (2-4 syllables), so the corpus
    carries no third-party text and every run makes the same one."""
    onsets = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v",
              "w", "br", "ch", "dr", "gr", "pl", "sh", "st", "th", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                          for _ in range(rng.randint(1, 3))))
    return sorted(words)


def generate(path, n_docs, seed):
    """Writes n_docs JSONL records {"id","text"}; words are [a-z] only, so the
    lines are built directly instead of through json.dumps (3x faster)."""
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    rng.shuffle(vocab)
    # Zipf weights (rank^-1), as in real text: a few words are very common
    cum, acc = [], 0.0
    for rank in range(1, len(vocab) + 1):
        acc += 1.0 / rank
        cum.append(acc)
    choices, randint = rng.choices, rng.randint
    t0 = time.time()
    with open(path, "w", encoding="ascii", buffering=1 << 20) as f:
        for i in range(n_docs):
            f.write('{"id":"b%d","text":"%s"}\n' % (i, " ".join(choices(vocab, cum_weights=cum, k=randint(50, 150)))))
    return time.time() - t0


def measure(tm, yaml_path, work):
    """Runs textmill under /usr/bin/time; returns seconds, peak RSS in KiB and
    the --stats text."""
    tfile = os.path.join(work, "time.txt")
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tfile, tm, "run", yaml_path, "--stats"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"textmill failed (exit {r.returncode}) on {yaml_path}:\n{r.stderr}")
    secs, rss = open(tfile).read().split()[-2:]
    return float(secs), int(rss), r.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--textmill", default=os.environ.get("TEXTMILL", "build/bin/textmill"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", help="where to make the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the corpus and outputs")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    a = ap.parse_args()
    tm = os.path.abspath(a.textmill)
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("needs /usr/bin/time (apt-get install time)")
    if subprocess.run([tm, "plugins", "dedupe"], capture_output=True).returncode != 0:
        sys.exit(f"{tm}: no dedupe plugin")

    work = tempfile.mkdtemp(prefix="dedupe-memory-", dir=a.dir)
    try:
        corpus = os.path.join(work, "corpus.jsonl")
        gen_s = generate(corpus, a.docs, a.seed)
        size = os.path.getsize(corpus)
        print(f"corpus: {a.docs} documents, {size / 1e6:.1f} MB, generated in {gen_s:.1f} s ({work})",
              file=sys.stderr)
        results = []
        for case, stages in (("base", "[]"), ("dedupe", "[{use: dedupe}]")):
            y = os.path.join(work, case + ".yaml")
            out = os.path.join(work, case + ".out.jsonl")
            with open(y, "w") as f:
                f.write(f'version: 1\nsource: {{use: jsonl, with: {{paths: ["{corpus}"]}}}}\n'
                        f'stages: {stages}\nsinks: [{{use: jsonl, with: {{path: "{out}"}}}}]\n')
            secs, rss, stats = measure(tm, y, work)
            written = sum(1 for _ in open(out, "rb"))
            os.remove(out)  # the outputs are as big as the corpus
            # the dedupe step's own counters, as --stats prints them
            counters = {}
            inside = False
            for line in stats.splitlines():
                if re.match(r"^\S", line):
                    inside = line.startswith("dedupe (stage)")
                elif inside:
                    m = re.match(r"^\s+(.+?)\s+(\d+)$", line)
                    if m:
                        counters[m.group(1)] = int(m.group(2))
            results.append({"case": case, "seconds": secs, "peak_rss_kib": rss,
                            "MB_per_s": round(size / 1e6 / max(secs, 1e-3), 1),
                            "docs_per_s": round(a.docs / max(secs, 1e-3)),
                            "written": written, "dedupe_counters": counters})
        base, dd = results
        per_doc = (dd["peak_rss_kib"] - base["peak_rss_kib"]) * 1024 / a.docs
        summary = {"docs": a.docs, "corpus_MB": round(size / 1e6, 1), "results": results,
                   "index_bytes_per_doc": round(per_doc, 1),
                   "dropped_by_dedupe": base["written"] - dd["written"]}

        print(f"\n{a.docs} documents, {size / 1e6:.1f} MB (random 50-150-word texts, all distinct)\n")
        print("| pipeline | seconds | MB/s | docs/s | peak RSS (MB) | written |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            name = "jsonl -> jsonl" if r["case"] == "base" else "jsonl -> dedupe -> jsonl"
            print(f"| {name} | {r['seconds']:.2f} | {r['MB_per_s']:.1f} | {r['docs_per_s']} | "
                  f"{r['peak_rss_kib'] / 1024:.1f} | {r['written']} |")
        print(f"\nindex memory: ({dd['peak_rss_kib']} - {base['peak_rss_kib']}) KiB / {a.docs} = "
              f"{per_doc:.1f} bytes per document")
        if dd["dedupe_counters"]:
            print(f"dedupe counters: {dd['dedupe_counters']}")
        if "index_bytes" in dd["dedupe_counters"]:
            # the stage's own account of its index, beside the kernel's
            summary["index_bytes_counter_per_doc"] = round(dd["dedupe_counters"]["index_bytes"] / a.docs, 1)
            print(f"index_bytes counter / documents = {summary['index_bytes_counter_per_doc']} bytes per document")
        if summary["dropped_by_dedupe"]:
            print(f"note: dedupe dropped {summary['dropped_by_dedupe']} of these distinct documents")
        print(json.dumps(summary))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(summary, f, indent=1)
    finally:
        if a.keep:
            print(f"kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
