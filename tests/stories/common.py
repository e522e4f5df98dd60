"""Helpers of the stories stage's Python tests (state_test.py, bad_input_test.py):
the TAP checks of tests/tap.py, JSONL files, and the stage's --stats counters."""
import json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

tap = Tap()
check = tap.check


def crashed(rc):
    """A signal (Python reports -N), a shell-style 128+N or a timeout (None)."""
    return rc is None or rc < 0 or rc >= 128


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def read_jsonl(path):
    return [json.loads(l) for l in open(path, encoding="utf-8")]


def counters(stderr, step="stories"):
    """The counters of one step in the --stats table (new_stories, joined...)."""
    out, inside = {}, False
    for line in stderr.splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith(f"{step} (stage)")
        elif inside:
            m = re.match(r"^\s+(\w+)\s+(-?\d+)$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out
