#!/usr/bin/env python3
"""bench_smoke: runs bench/run --tiny and checks that it writes valid JSON with
one row per case, each measured or skipped with a reason. Never checks times.
usage: bench_smoke.py TEXTMILL ROOT WORKDIR"""
import json, os, shutil, subprocess, sys

tm, root, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
run = os.path.join(root, "bench", "run")
cases = subprocess.run([sys.executable, run, "--list"], check=True, capture_output=True, text=True).stdout.split("\n")
cases = [c for c in cases if c]
out = os.path.join(work, "results.json")
subprocess.run([sys.executable, run, "--tiny", "--work", work, "--textmill", tm, "--json", out], check=True)
rep = json.load(open(out))
rows = {r["case"]: r for r in rep["cases"]}
assert list(rows) == cases, f"cases {list(rows)} != {cases}"
for name, r in rows.items():
    for k in ("case", "seconds", "MB_per_s", "docs_per_s", "cpu_seconds", "MB_per_cpu_s", "peak_rss_MB",
              "notes"):
        assert k in r, f"{name}: no {k}"
    if r["seconds"] is None:
        assert r["notes"].startswith("skipped:") and "(npm)" in name, f"{name}: not measured: {r['notes']}"
    else:
        # measured, whatever the speed: a slow comparison tool on a loaded
        # machine may round to 0.0 MB/s on the tiny input
        assert r["seconds"] > 0 and r["cpu_seconds"] > 0 and r["peak_rss_MB"] > 0, r
        assert min(r["MB_per_s"], r["docs_per_s"], r["MB_per_cpu_s"]) >= 0, r
assert rep["corpus"]["documents"] > 100, rep["corpus"]
print(f"bench_smoke: {len(rows)} cases, {sum(r['seconds'] is None for r in rows.values())} skipped")
