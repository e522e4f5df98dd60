#!/usr/bin/env python3
"""Resource limits per document: max_doc_bytes and time_budget, at the top
level (every stage) and on a stage step (which overrides it; 0 turns it off).
A document over a limit is rejected (the rejects file, meta.reject with the
step and the reason), not the run: the others are written, in order, exactly
as without it, and the run exits 6; max_rejects applies. Then the config
errors (exit 2, FILE:LINE:COL).

Uses the test plugins of tests/CMakeLists.txt: `slow_doc` (marks every
document, sleeps a second over one holding SLOW, fails on POISON) and
`gives_up` (over a SLOW document, loops until host->expired() and returns
TM_ETIMEDOUT) and `holds` (holds each document until the next call, slow over
SLOW).

    limits_test.py TEXTMILL SOURCE_DIR
"""
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Tap  # noqa: E402

TM = os.path.abspath(sys.argv[1])
TP = os.path.join(os.path.dirname(os.path.dirname(TM)), "tests", "plugins")
work = tempfile.mkdtemp(prefix="tm_limits_test_")
atexit.register(shutil.rmtree, work, ignore_errors=True)
os.chdir(work)
tap = Tap()
check = tap.check

TEXTS = {f"a{i:02d}": f"Article {i} is fine.\n" for i in range(1, 11)}
TEXTS["a04"] = "Article 4 is long. " * 160 + "\n"   # 3041 bytes
TEXTS["a07"] = "Article 7 is longer. " * 240 + "\n"  # 5041 bytes


def write_inputs(texts, d="in"):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for k, v in texts.items():
        with open(f"{d}/{k}.txt", "w") as f:
            f.write(v)


def pipeline(top="", stages=None, sinks=None, name="p.yaml"):
    """A pipeline over in/*.txt; `top` is extra top-level YAML, `stages` a list
    of flow mappings."""
    stages = stages if stages is not None else [f"{{use: {TP}/slow_doc.so, name: slow}}"]
    text = "version: 1\nname: lim\n" + top + ("\n" if top and not top.endswith("\n") else "")
    text += 'source: {use: files, with: {paths: ["in/*.txt"]}}\n'
    if stages:
        text += "stages:\n" + "".join(f"  - {s}\n" for s in stages)
    text += "sinks: [" + (sinks or "{use: jsonl, with: {path: out/a.jsonl}}") + "]\n"
    with open(name, "w") as f:
        f.write(text)
    return name


def run(*args):
    t = time.monotonic()
    p = subprocess.run([TM, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr, time.monotonic() - t


def fresh():
    for d in ("state", "out", "elsewhere"):
        shutil.rmtree(d, ignore_errors=True)


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f]


def ids(path):
    return [d["id"] for d in lines(path)]


ALL = sorted(TEXTS)

# ---- max_doc_bytes -----------------------------------------------------------
write_inputs(TEXTS)
fresh()
pipeline("state: state\nmax_doc_bytes: 2kB")
rc, err, _ = run("run", "p.yaml", "--stats")
check(f"max_doc_bytes: 2kB at the top level: exit 6 (got {rc})", rc == 6, err)
check("the others are written, in order, through the stage",
      ids("out/a.jsonl") == [i for i in ALL if i not in ("a04", "a07")]
      and all(d["meta"].get("slow_stage_saw") is True for d in lines("out/a.jsonl")), err)
rej = lines("state/rejects.jsonl")
check("the two long ones are rejected, as they entered the stage",
      [d["id"] for d in rej] == ["a04", "a07"] and rej[0]["text"] == TEXTS["a04"]
      and "slow_stage_saw" not in rej[0]["meta"], rej)
r = rej[0]["meta"]["reject"] if rej else {}
check("meta.reject: step, plugin and reason",
      r.get("step") == "slow" and r.get("plugin") == "testplug"
      and r.get("reason") == "document is 3041 bytes, more than max_doc_bytes (2048)", r)
check("a warning names the document", "document a04: document is 3041 bytes" in err, err)
check("--stats: dropped rejected 2, over_max_doc_bytes 2",
      "dropped rejected" in err and "over_max_doc_bytes" in err
      and [x.split()[-1] for x in err.splitlines() if "over_max_doc_bytes" in x] == ["2"], err)
check("the summary says a limit was hit",
      "2 documents failed in a stage or went over a limit: 2 rejected to state/rejects.jsonl" in err,
      err)

fresh()
pipeline("state: state\nmax_doc_bytes: 2kB",
         [f"{{use: {TP}/slow_doc.so, name: slow, max_doc_bytes: 4KiB}}"])
rc, err, _ = run("run", "p.yaml")
check(f"a step's max_doc_bytes: 4KiB overrides the top level's 2kB (exit {rc})",
      rc == 6 and ids("state/rejects.jsonl") == ["a07"] and len(ids("out/a.jsonl")) == 9, err)

for off in ("0", "null"):
    fresh()
    pipeline("state: state\nmax_doc_bytes: 2kB",
             [f"{{use: {TP}/slow_doc.so, name: slow, max_doc_bytes: {off}}}"])
    rc, err, _ = run("run", "p.yaml")
    check(f"max_doc_bytes: {off} on the step turns the limit off: exit 0, all written ({rc})",
          rc == 0 and ids("out/a.jsonl") == ALL and not lines("state/rejects.jsonl"), err)

fresh()
pipeline("rejects: elsewhere/r.jsonl", [
    f"{{use: {TP}/slow_doc.so, name: first}}",
    f"{{use: {TP}/slow_doc.so, name: second, max_doc_bytes: 4000}}"])
rc, err, _ = run("run", "p.yaml", "--quiet")
rej = lines("elsewhere/r.jsonl")
check(f"only the stage with the limit checks it; rejects: PATH without state (exit {rc})",
      rc == 6 and [(d["id"], d["meta"]["reject"]["step"]) for d in rej] == [("a07", "second")]
      and rej[0]["meta"]["slow_stage_saw"] is True and len(ids("out/a.jsonl")) == 9, err)

fresh()
pipeline("state: state\nmax_doc_bytes: 2kB\nmax_rejects: 1")
rc, err, _ = run("run", "p.yaml")
check(f"max_rejects: 1 with 2 over the limit: exit 4, nothing committed ({rc})",
      rc == 4 and "more than max_rejects" in err and not os.path.exists("out/a.jsonl")
      and not lines("state/rejects.jsonl"), err)
fresh()
pipeline("state: state\nmax_doc_bytes: 2kB\nmax_rejects: 20%")
rc, err, _ = run("run", "p.yaml", "--quiet")
check(f"max_rejects: 20% with 2 of 10: exit 6 ({rc})", rc == 6, err)

# ---- time_budget -------------------------------------------------------------
slow = dict(TEXTS)
slow["a05"] = "Article 5 is SLOW to process.\n"
write_inputs(slow)
fresh()
pipeline("state: state\ntime_budget: 300ms")
rc, err, dt = run("run", "p.yaml", "--stats")
check(f"time_budget: 300ms: the slow document is rejected, exit 6 ({rc})", rc == 6, err)
rej = lines("state/rejects.jsonl")
r = rej[0]["meta"]["reject"] if rej else {}
check("the reject: the document as it entered, the reason says how long",
      [d["id"] for d in rej] == ["a05"] and "slow_stage_saw" not in rej[0]["meta"]
      and r.get("step") == "slow" and r.get("reason", "").startswith("took 1.")
      and r.get("reason", "").endswith(" s, more than time_budget (300 ms)"), rej)
check("the others are written, in order", ids("out/a.jsonl") == [i for i in ALL if i != "a05"],
      ids("out/a.jsonl"))
check("--stats: dropped rejected 1, over_time_budget 1",
      [x.split()[-1] for x in err.splitlines() if "over_time_budget" in x] == ["1"]
      and "dropped rejected" in err, err)
budget_out = open("out/a.jsonl", "rb").read()
# the same pipeline without the slow document and without a budget
os.rename("in/a05.txt", "a05.txt")
fresh()
pipeline("state: state")
rc, err, _ = run("run", "p.yaml", "--quiet")
os.rename("a05.txt", "in/a05.txt")
check("the output is byte for byte that of a run without the slow document",
      rc == 0 and open("out/a.jsonl", "rb").read() == budget_out, err)

fresh()
pipeline("state: state\ntime_budget: 300ms",
         [f"{{use: {TP}/slow_doc.so, name: slow, time_budget: 0}}"])
rc, err, _ = run("run", "p.yaml", "--quiet")
check(f"time_budget: 0 on the step turns it off: exit 0, all written ({rc})",
      rc == 0 and ids("out/a.jsonl") == ALL, err)
fresh()
pipeline("state: state\ntime_budget: 300ms",
         [f"{{use: {TP}/slow_doc.so, name: slow, time_budget: 3s}}"])
rc, err, _ = run("run", "p.yaml", "--quiet")
check(f"time_budget: 3s on the step overrides 300ms: exit 0, all written ({rc})",
      rc == 0 and ids("out/a.jsonl") == ALL, err)

# the cooperative path: the stage asks host->expired() and gives up at once
fresh()
pipeline("state: state", [f"{{use: {TP}/gives_up.so, name: patient, time_budget: 200ms}}"])
rc, err, dt = run("run", "p.yaml")
rej = lines("state/rejects.jsonl")
check(f"host->expired() + TM_ETIMEDOUT: rejected, exit 6 ({rc})",
      rc == 6 and [d["id"] for d in rej] == ["a05"] and "gives_up_saw" not in rej[0]["meta"]
      and rej[0]["meta"]["reject"]["reason"].endswith("more than time_budget (200 ms)")
      and ids("out/a.jsonl") == [i for i in ALL if i != "a05"], err)
check(f"... and quickly: the stage gave up at the deadline ({dt:.2f} s for the run)", dt < 5, err)
check("the warning has the stage's own reason", "gave up after" in err, err)

# a stage that holds documents back cannot be undone: over its budget, the
# document goes on, with a warning and a counter
fresh()
pipeline("state: state", [f"{{use: {TP}/holds.so, name: window, time_budget: 100ms}}"])
rc, err, _ = run("run", "p.yaml", "--stats")
check(f"a call over the budget that cannot be undone: kept, with a warning; exit 0 ({rc})",
      rc == 0 and ids("out/a.jsonl") == ALL and not lines("state/rejects.jsonl")
      and "on document a05, more than time_budget (100 ms), but it keeps state between documents" in err
      and [x.split()[-1] for x in err.splitlines() if "over_time_budget_kept" in x] == ["1"],
      err)

# max_rejects with time budgets
slow2 = dict(slow)
slow2["a09"] = "Article 9 is SLOW as well.\n"
write_inputs(slow2)
fresh()
pipeline("state: state\nmax_rejects: 1",
         [f"{{use: {TP}/gives_up.so, name: patient, time_budget: 100ms}}"])
rc, err, _ = run("run", "p.yaml")
check(f"max_rejects: 1 with 2 over time: exit 4, nothing committed ({rc})",
      rc == 4 and "more than max_rejects" in err and not os.path.exists("out/a.jsonl"), err)
fresh()
pipeline("state: state\nmax_rejects: 2",
         [f"{{use: {TP}/gives_up.so, name: patient, time_budget: 100ms}}"])
rc, err, _ = run("run", "p.yaml", "--quiet")
check(f"max_rejects: 2 with 2 over time: exit 6 ({rc})",
      rc == 6 and ids("state/rejects.jsonl") == ["a05", "a09"], err)

# a failure within the budget follows on_error
poison = dict(TEXTS)
poison["a03"] = "Article 3 holds POISON.\n"
write_inputs(poison)
fresh()
pipeline("state: state\ntime_budget: 5s")
rc, err, _ = run("run", "p.yaml")
check(f"a failure within the budget, on_error: fail (default): exit 4, no output ({rc})",
      rc == 4 and "document a03 is poisoned" in err and not os.path.exists("out/a.jsonl"), err)
fresh()
pipeline("state: state\ntime_budget: 5s",
         [f"{{use: {TP}/slow_doc.so, name: slow, on_error: reject}}"])
rc, err, _ = run("run", "p.yaml", "--quiet")
rej = lines("state/rejects.jsonl")
check(f"on_error: reject: rejected with the stage's reason, exit 6 ({rc})",
      rc == 6 and [d["id"] for d in rej] == ["a03"]
      and rej[0]["meta"]["reject"]["reason"] == "document a03 is poisoned"
      and ids("out/a.jsonl") == [i for i in ALL if i != "a03"], err)
fresh()
pipeline("state: state\ntime_budget: 5s",
         [f"{{use: {TP}/slow_doc.so, name: slow, on_error: skip}}"])
rc, err, _ = run("run", "p.yaml", "--stats")
check(f"on_error: skip: dropped (error), exit 6 ({rc})",
      rc == 6 and "dropped error" in err and not lines("state/rejects.jsonl")
      and len(ids("out/a.jsonl")) == 9, err)

# both limits on one stage; `textmill replay` rejects again what is still too long
write_inputs(TEXTS)
fresh()
pipeline("state: state\nmax_doc_bytes: 2kB\ntime_budget: 2s")
rc, err, _ = run("run", "p.yaml", "--quiet")
rc2, err2, _ = run("replay", "state/rejects.jsonl", "--quiet")
check(f"both limits on a stage; replay rejects the long ones again ({rc}, {rc2})",
      rc == 6 and rc2 == 6 and ids("state/rejects.jsonl") == ["a04", "a07"]
      and len(ids("out/a.jsonl")) == 8, err + err2)

# ---- configuration -------------------------------------------------------------
fresh()
for top, steps, want in [
    ("max_doc_bytes: 10MiB", None, "p.yaml:3:16: 'max_doc_bytes' (for every stage) rejects "
     "the documents over it, but the pipeline says nowhere to put rejects: add 'rejects: "
     "PATH' (or 'state: DIR', which keeps them in DIR/rejects.jsonl)"),
    ("", [f"{{use: {TP}/slow_doc.so, name: slow, time_budget: 2s}}"],
     "p.yaml:5:*: 'time_budget' (stage 'slow') rejects the documents over it, but the "
     "pipeline says nowhere to put rejects"),
    ("state: s\nmax_doc_bytes: lots", None, "p.yaml:4:16: 'max_doc_bytes' must be a size in "
     "bytes such as 1000000, 500kB or 10MiB, not 'lots'"),
    ("state: s\nmax_doc_bytes: 10 parsecs", None, "not '10 parsecs'"),
    ("state: s\nmax_doc_bytes: 1.5", None, "not '1.5'"),
    ("state: s\nmax_doc_bytes: -5", None, "p.yaml:4:16: 'max_doc_bytes' cannot be negative"),
    ("state: s\nmax_doc_bytes: 0", None, "p.yaml:4:16: 'max_doc_bytes: 0' at the top level "
     "limits nothing"),
    ("state: s\ntime_budget: 0ms", None, "p.yaml:4:14: 'time_budget: 0ms' at the top level "
     "limits nothing"),
    ("state: s\ntime_budget: 2h", None, "p.yaml:4:14: 'time_budget' must be a time per "
     "document in seconds (2, 0.5) or with a unit (250ms, 2s, 1m), not '2h'"),
    ("state: s\ntime_budget: fast", None, "not 'fast'"),
    ("state: s\ntime_budget: [1]", None, "p.yaml:4:14: 'time_budget' must be a time"),
    ("state: s", [f"{{use: {TP}/slow_doc.so, time_budget: -1s}}"],
     "p.yaml:6:*: 'time_budget' cannot be negative (0 turns the pipeline's limit off for "
     "this stage)"),
    ("state: s", [f"{{use: {TP}/slow_doc.so, time_budget: 1s, workers: 2}}"],
     "'workers: 2' cannot apply to a stage with a time_budget"),
]:
    pipeline(top, steps)
    rc, err, _ = run("check", "p.yaml")
    # "*" stands for a column that depends on the test plugins' path
    want = re.escape(want).replace(r"\*", "[0-9]+")
    check(f"check refuses {(steps[0].split(', ', 1)[1] if steps else top.split(chr(10))[-1])!r}: "
          f"exit 2 ({rc})", rc == 2 and re.search(want, err), err)

for key in ("max_doc_bytes: 1MB", "time_budget: 1s"):
    pipeline("state: s", sinks=f"{{use: jsonl, {key}, with: {{path: out/a.jsonl}}}}")
    rc, err, _ = run("check", "p.yaml")
    check(f"{key} on a sink: exit 2 with FILE:LINE:COL ({rc})",
          rc == 2 and f"p.yaml:7:{24 + len(key.split(':')[0])}: '{key.split(':')[0]}' applies "
          "to stages (sources and sinks are not limited per document)" in err, err)
    rc, err, _ = run("run", "p.yaml")
    check(f"... and run refuses it too ({rc})", rc == 2, err)
with open("p.yaml", "w") as f:
    f.write("version: 1\nstate: s\nsource: {use: files, time_budget: 1s, with: {paths: [x]}}\n"
            "sinks: [{use: jsonl, with: {path: o}}]\n")
rc, err, _ = run("check", "p.yaml")
check(f"on a source: exit 2 ({rc})", rc == 2 and "p.yaml:3:" in err and "applies to stages" in err,
      err)

for top, step in [("max_doc_bytes: 10MiB\ntime_budget: 250ms", "max_doc_bytes: 500kB, time_budget: 1m"),
                  ("max_doc_bytes: 1000000\ntime_budget: 2s", "max_doc_bytes: 1 GiB, time_budget: 1.5"),
                  ("time_budget: 2", "max_doc_bytes: 64k, time_budget: null")]:
    pipeline("state: s\n" + top, [f"{{use: {TP}/slow_doc.so, {step}}}"])
    rc, err, _ = run("check", "p.yaml")
    check(f"accepted: {top!r} / {step!r} ({rc})", rc == 0, err)

tap.finish()
