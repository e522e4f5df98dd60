#!/usr/bin/env python3
"""Bad input, end to end: every case runs the real binary (`textmill run` or
`check`) on inputs generated here at run time (nothing big is committed), for
each entry point that meets it: the `files` source (.txt), the `jsonl`
source, the `html` source and stage, the pipeline file itself, and the sinks
(jsonl, csv, sqlite, graph, report).

The cases: empty files, random bytes and an ELF file, NUL bytes, invalid and
overlong UTF-8, surrogates and sequences cut at the end of the file under
each `invalid_utf8` policy, a 100 MB single line (with its peak RSS), JSON
nested 100,000 deep, huge numbers, duplicate keys, a YAML alias bomb,
truncated files, permission denied (as uid 65534 through setpriv when root),
a full disk (RLIMIT_FSIZE, as `ulimit -f`, and a small tmpfs when root may
mount one), a sink path that is a directory, an input that is a directory, a
FIFO or a dangling symlink.

Each case must give the exit code README.md documents, a message on stderr
naming the file (and line where one applies) and the reason, no crash (no
signal, no sanitizer report), no partial output (an older output at the sink
path is byte for byte as it was, no temporary file is left) and, with
`state:`, nothing lost of what earlier runs committed.

A case that fails because of a known bug in a file being changed elsewhere is
marked `# TODO` (reported, not counted as a failure).

    matrix.py TEXTMILL SOURCE_DIR
"""
import atexit
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time

TM, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

work = tempfile.mkdtemp(prefix="tm_bad_input_")
os.chmod(work, 0o755)  # uid 65534 must reach its own directory below
mounts = []


def cleanup():
    for m in mounts:
        subprocess.run(["umount", m], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


atexit.register(cleanup)


class MatrixTap(Tap):
    """Tap, plus expected failures: `not ok N - what # TODO why` is printed
    but not counted (TAP's TODO directive)."""

    def __init__(self):
        super().__init__()
        self.todos = []

    def todo(self, what, ok, detail, why):
        if ok:  # fixed since: say so, so that the mark can go
            return self.check(f"{what} # TODO passes now: {why}", True)
        self.n += 1
        print(f"not ok {self.n} - {what} # TODO {why}")
        for line in str(detail).splitlines()[:12]:
            print(f"#   {line}")
        self.todos.append(what)
        return False


tap = MatrixTap()
check = tap.check
matrix = []  # (case, entry point, exit code, first error line) for the summary

ROOT = os.geteuid() == 0
SETPRIV = shutil.which("setpriv")
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if ROOT and SETPRIV \
    else None
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       r"runtime error:|ThreadSanitizer")


class Result:
    def __init__(self, rc, out, err, maxrss_kb, seconds):
        self.rc, self.out, self.err, self.maxrss_kb, self.seconds = rc, out, err, maxrss_kb, seconds

    def errors(self):
        return [ln for ln in self.err.splitlines() if " error: " in ln or ln.startswith("textmill:")]


def tm(*args, cwd=None, fsize=None, user=None, timeout=60):
    """Runs textmill; stdout and stderr are pipes (a file size limit must not
    cut its own messages). Returns a Result with the exit code (negative: the
    signal that killed it) and this child's peak RSS (wait4)."""
    cmd = (list(user) if user else []) + [TM] + [str(a) for a in args]

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = dict(os.environ)
    env.pop("TEXTMILL_OUT", None)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd or work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=limit, env=env)
    bufs = {}
    readers = [threading.Thread(target=lambda k=k, f=f: bufs.__setitem__(k, f.read()))
               for k, f in (("out", p.stdout), ("err", p.stderr))]
    for t in readers:
        t.start()
    killer = threading.Timer(timeout, lambda: os.kill(p.pid, signal.SIGKILL))
    killer.start()
    _, status, ru = os.wait4(p.pid, 0)
    killer.cancel()
    for t in readers:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    err = bufs["err"].decode("utf-8", "replace")
    if time.monotonic() - t0 >= timeout:
        err += f"\n(killed after {timeout} s: it hung)"
    return Result(p.returncode, bufs["out"].decode("utf-8", "replace"), err, ru.ru_maxrss,
                  time.monotonic() - t0)


def q(s):
    return json.dumps(s)  # a YAML flow scalar holding any path


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def pipeline(name, source, sinks, stages="[]", extra="", d=None):
    d = d or work
    return write(os.path.join(d, name), f"version: 1\nname: {os.path.splitext(name)[0]}\n{extra}"
                 f"source: {source}\nstages: {stages}\nsinks: {sinks}\n")


def files_src(*paths, **opts):
    o = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"{{use: files, with: {{paths: [{', '.join(q(p) for p in paths)}]{o}}}}}"


def jsonl_src(*paths):
    return f"{{use: jsonl, with: {{paths: [{', '.join(q(p) for p in paths)}]}}}}"


def html_src(*paths):
    return f"{{use: html, with: {{paths: [{', '.join(q(p) for p in paths)}]}}}}"


def sink(kind, path, **opts):
    o = "".join(f", {k}: {json.dumps(v)}" for k, v in opts.items())
    return f"{{use: {kind}, with: {{path: {q(path)}{o}}}}}"


OLD_JSONL = b'{"id":"old","text":"an older run\'s output"}\n'


def leftovers(d):
    """Temporary files a sink leaves beside its target (.NAME.tmp.*) or an
    SQLite journal."""
    if not os.path.isdir(d):
        return []
    return sorted(n for n in os.listdir(d) if ".tmp." in n or n.endswith(("-journal", "-wal")))


def expect(case, entry, r, code, msgs=(), keep=(), outdir=None, todo=None, extra=None,
           codes=None):
    """One check per (case, entry point): the exit code, every message
    (regular expressions) on stderr, no crash, each (path, bytes) in `keep`
    as it was, no temporary file in `outdir`, and `extra` (a list of
    (ok, what) pairs)."""
    problems = []
    if r.rc < 0:
        problems.append(f"crashed: killed by signal {-r.rc} ({signal.Signals(-r.rc).name})")
    if SANITIZER.search(r.err):
        problems.append("sanitizer report on stderr")
    want = codes or (code,)
    if r.rc not in want:
        problems.append(f"exit {r.rc}, expected {' or '.join(map(str, want))}")
    for m in msgs:
        if not re.search(m, r.err):
            problems.append(f"stderr lacks /{m}/")
    for path, old in keep:
        now = read(path)
        if now != old:
            problems.append(f"{path} changed: was {None if old is None else len(old)} bytes, "
                            f"now {None if now is None else len(now)}")
    if outdir and leftovers(outdir):
        problems.append(f"left behind in {outdir}: {leftovers(outdir)}")
    for ok, what in extra or ():
        if not ok:
            problems.append(what)
    errs = r.errors()
    matrix.append((case, entry, r.rc, (errs[0] if errs else "").split(": ", 2)[-1][:110]))
    detail = "\n".join(problems + ["stderr:"] + r.err.splitlines()[-8:])
    what = f"{case} [{entry}]: exit {r.rc}"
    if todo:
        return tap.todo(what, not problems, detail, todo)
    return check(what, not problems, detail)


def jsonl_docs(path):
    data = read(path) or b""
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


# ---- inputs -------------------------------------------------------------------------
inp = os.path.join(work, "in")
out = os.path.join(work, "out")
os.makedirs(out)
GOOD = "The harbour master counted the boats, the nets and the crates of fish.\n"
write(f"{inp}/good.txt", GOOD)
write(f"{inp}/good.jsonl", json.dumps({"id": "good", "text": GOOD}) + "\n")
write(f"{inp}/good.html", "<html><head><title>Harbour</title></head><body><article><p>"
      + GOOD * 3 + "</p></article></body></html>\n")
rand = bytearray(os.urandom(8192))
rand[100] = 0  # random bytes hold a NUL byte almost surely; make it surely
ELF = "/proc/self/exe" if os.path.exists("/proc/self/exe") else sys.executable
with open(ELF, "rb") as f:
    elf = f.read(200000)
assert elf[:4] == b"\x7fELF"
BAD_UTF8 = {  # name: bytes inside an otherwise good text
    "latin1": b"caf\xe9 au lait",
    "overlong2": b"slash \xc0\xaf here",
    "overlong3": b"slash \xe0\x80\xaf here",
    "surrogate": b"half \xed\xa0\x80 pair",
    "fivebyte": b"old \xf8\x88\x80\x80\x80 form",
    "cut_at_eof": b"euro sign cut \xe2\x82",  # at the very end of the file
}


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# ==== the files source (.txt) ============================================================
def files_cases():
    e = "files"
    d = f"{inp}/files"
    os.makedirs(d)
    sinkp = f"{out}/files.jsonl"

    def run_files(name, *paths, opts=None, extra="", code=0, msgs=(), keep_old=True, todo=None,
                  check_out=None, timeout=60, user=None, cwd=None):
        write(sinkp, OLD_JSONL)
        y = pipeline(f"files_{slug(name)}.yaml", files_src(*paths, **(opts or {})), f"[{sink('jsonl', sinkp)}]",
                     extra=extra)
        r = tm("run", y, timeout=timeout, user=user, cwd=cwd)
        ex = []
        if check_out:
            ex = check_out(sinkp)
        return expect(name, e, r, code, msgs, keep=[(sinkp, OLD_JSONL)] if code else [],
                      outdir=out, todo=todo, extra=ex)

    empty = write(f"{d}/empty.txt", b"")
    good = f"{inp}/good.txt"
    run_files("empty file", empty, code=3,
              msgs=[r"empty\.txt: empty file, skipped", r"no input"])
    run_files("empty file beside a good one", empty, good, code=0,
              msgs=[r"empty\.txt: empty file, skipped"],
              check_out=lambda p: [(len(jsonl_docs(p)) == 1, "one document expected")])
    rnd = write(f"{d}/random.txt", bytes(rand))
    run_files("random bytes", rnd, code=3, msgs=[r"random\.txt: binary file"])
    run_files("random bytes, binary: skip", rnd, good, opts={"binary": "skip"}, code=0,
              msgs=[r"random\.txt: binary file .*skipped"])
    elff = write(f"{d}/prog.txt", elf)
    run_files("ELF file", elff, code=3, msgs=[r"prog\.txt: binary file"])
    nul = write(f"{d}/nul.txt", b"text with a \x00 NUL byte\n")
    run_files("NUL byte in text", nul, code=3, msgs=[r"nul\.txt: binary file \(holds NUL"])

    for bad, raw in BAD_UTF8.items():
        data = b"A line of text, then " + raw if bad == "cut_at_eof" else raw + b" and more text\n"
        f = write(f"{d}/{bad}.txt", data)

        def repaired(p, raw=raw):
            docs = jsonl_docs(p)
            t = docs[0]["text"] if docs else ""
            return [(len(docs) == 1 and "\ufffd" in t, f"text not repaired with U+FFFD: {t!r}")]

        run_files(f"invalid UTF-8 {bad}, repair", f, code=0, extra="invalid_utf8: repair\n",
                  msgs=[rf"{bad}: .*invalid UTF-8"], check_out=repaired)
        run_files(f"invalid UTF-8 {bad}, skip", f, good, code=0, extra="invalid_utf8: skip\n",
                  msgs=[rf"{bad}: skipped: invalid UTF-8"],
                  check_out=lambda p: [([x["id"] for x in jsonl_docs(p)] == ["good"],
                                        "only the good document expected")])
        pos = data.index(raw) + next(i for i, c in enumerate(raw) if c >= 0x80)
        run_files(f"invalid UTF-8 {bad}, fail", good, f, code=3, extra="invalid_utf8: fail\n",
                  msgs=[rf"{bad}: invalid UTF-8 at byte {pos}\b"])

    run_files("invalid UTF-8, fail: the message names the file", good, f"{d}/latin1.txt", code=3,
              extra="invalid_utf8: fail\n", msgs=[r"latin1\.txt: invalid UTF-8"])

    # a directory, a FIFO, a dangling symlink, an unreadable file
    os.makedirs(f"{d}/adir.txt")
    run_files("input is a directory", f"{d}/adir.txt", code=3,
              msgs=[r"adir\.txt: is a directory"])
    os.mkfifo(f"{d}/fifo.txt")
    run_files("input is a FIFO", f"{d}/fifo.txt", code=3, timeout=10,
              msgs=[r"fifo\.txt: not a regular file"])
    os.symlink(f"{d}/nowhere.txt", f"{d}/dangling.txt")
    run_files("input is a dangling symlink", f"{d}/dangling.txt", code=3,
              msgs=[r"dangling\.txt: No such file"])
    run_files("dangling symlink matched by a pattern", f"{d}/dang*.txt", code=3,
              msgs=[r"dangling\.txt: No such file"])


# ==== the jsonl source ===================================================================
def jsonl_cases():
    e = "jsonl"
    d = f"{inp}/jsonl"
    os.makedirs(d)
    sinkp = f"{out}/jsonl.jsonl"

    def run_j(name, *paths, extra="", code=0, msgs=(), todo=None, check_out=None, timeout=60,
              codes=None, msgs_if_failed=()):
        write(sinkp, OLD_JSONL)
        y = pipeline(f"jsonl_{slug(name)}.yaml", jsonl_src(*paths),
                     f"[{sink('jsonl', sinkp)}]", extra=extra)
        r = tm("run", y, timeout=timeout)
        ex = check_out(sinkp, r) if check_out and r.rc == 0 else []
        if r.rc:
            msgs = list(msgs) + list(msgs_if_failed)
        return expect(name, e, r, code, msgs, keep=[(sinkp, OLD_JSONL)] if r.rc else [],
                      outdir=out, todo=todo, extra=ex, codes=codes)

    good = f"{inp}/good.jsonl"
    empty = write(f"{d}/empty.jsonl", b"")
    run_j("empty file", empty, code=3, msgs=[r"no input"])
    run_j("empty file names the file", empty, code=3, msgs=[r"empty\.jsonl: empty file"])
    blank = write(f"{d}/blank.jsonl", b"\n  \n\t\r\n")
    run_j("blank lines only", blank, code=3, msgs=[r"no input", r"blank\.jsonl: empty file"])
    rnd = write(f"{d}/random.jsonl", bytes(rand))
    run_j("random bytes", rnd, code=3, msgs=[r"random\.jsonl:\d+: (invalid JSON|not a JSON)"])
    elff = write(f"{d}/prog.jsonl", elf)
    run_j("ELF file", elff, code=3, msgs=[r"prog\.jsonl:1: (invalid JSON|not a JSON)"])
    nul = write(f"{d}/rawnul.jsonl", b'{"id":"n","text":"before\x00after"}\n')

    def whole(p, r):
        docs = jsonl_docs(p)
        return [(docs and docs[0]["text"] == "before\x00after",
                 f"a raw NUL cut or changed the text: {docs!r}")]

    # JSON forbids a raw control character in a string: refusing the line is
    # right, and so is keeping the text whole; cutting it at the NUL is not
    run_j("raw NUL byte inside a JSON string", nul, code=3, codes=(0, 3), check_out=whole,
          msgs_if_failed=[r"rawnul\.jsonl:1: invalid JSON"])
    esc = write(f"{d}/escnul.jsonl", b'{"id":"n","text":"before\\u0000after"}\n')
    run_j("\\u0000 in a JSON string", esc, code=0, check_out=whole)

    for bad, raw in BAD_UTF8.items():
        line = b'{"id":"' + bad.encode() + b'","text":"x ' + raw + b' y"}'
        f = write(f"{d}/{bad}.jsonl", line + (b"" if bad == "cut_at_eof" else b"\n"))

        def repaired(p, r):
            docs = jsonl_docs(p)
            return [(len(docs) == 1 and "\ufffd" in docs[0]["text"], f"not repaired: {docs!r}")]

        run_j(f"invalid UTF-8 {bad} in text, repair", f, extra="invalid_utf8: repair\n",
              msgs=[rf"{bad}: .*invalid UTF-8"], check_out=repaired)
        run_j(f"invalid UTF-8 {bad} in text, skip", f, good, extra="invalid_utf8: skip\n",
              msgs=[rf"{bad}: skipped: invalid UTF-8"],
              check_out=lambda p, r: [([x["id"] for x in jsonl_docs(p)] == ["good"],
                                       "only the good document expected")])
        pos = 2 + next(i for i, c in enumerate(raw) if c >= 0x80)  # in the text, after "x "
        run_j(f"invalid UTF-8 {bad} in text, fail", good, f, extra="invalid_utf8: fail\n", code=3,
              msgs=[rf"{bad}: invalid UTF-8 at byte {pos}\b"])
    run_j("invalid UTF-8, fail: the message names the file and line", good, f"{d}/latin1.jsonl",
          extra="invalid_utf8: fail\n", code=3, msgs=[r"latin1\.jsonl:1: .*invalid UTF-8"])
    meta = write(f"{d}/badmeta.jsonl", b'{"id":"m","text":"fine","meta":{"title":"caf\xe9 \xed\xa0\x80"}}\n')
    run_j("invalid UTF-8 in meta", meta, msgs=[r"badmeta\.jsonl:1: .*UTF-8"],
          check_out=lambda p, r: [("\ufffd" in (jsonl_docs(p) or [{}])[0].get("meta", {}).get("title", ""),
                                   "meta.title not repaired")])

    deep = write(f"{d}/deep.jsonl", '{"id":"deep","text":"t","meta":{"n":' + "[" * 100000
                 + "]" * 100000 + "}}\n")
    run_j("JSON nested 100,000 deep", good, deep, code=3,
          msgs=[r"deep\.jsonl:1: (invalid JSON|nested)"])
    huge = write(f"{d}/huge.jsonl", '{"id":99999999999999999999999,"text":"numbers",'
                 '"meta":{"inf":1e400,"ninf":-1e400,"tiny":1e-400,"big":99999999999999999999999}}\n')

    def exact(p, r):
        raw = (read(p) or b"").decode()
        return [(all(s in raw for s in ('"99999999999999999999999"', '"inf":1e400',
                                        '"ninf":-1e400', '"big":99999999999999999999999')),
                 f"huge numbers not kept as written: {raw[:300]}")]

    run_j("huge numbers in id and meta", huge, check_out=exact)
    dup = write(f"{d}/dup.jsonl", '{"id":"first","id":"second","text":"one","text":"two",'
                '"meta":{"k":1,"k":2}}\n')

    def no_dup(p, r):
        raw = (read(p) or b"").decode().strip()
        keys = []
        json.loads(raw, object_pairs_hook=lambda kv: keys.append([k for k, _ in kv]) or dict(kv))
        dups = [k for k in keys if len(k) != len(set(k))]
        return [(not dups, f"the output repeats keys {dups}: {raw}")]

    run_j("duplicate keys in a JSON line", dup, check_out=no_dup)
    trunc = write(f"{d}/trunc.jsonl", json.dumps({"id": "a", "text": GOOD}) + "\n"
                  + json.dumps({"id": "b", "text": GOOD}) + "\n" + '{"id":"c","text":"cut he')
    run_j("truncated last line", trunc, code=3, msgs=[r"trunc\.jsonl:3: invalid JSON"])
    os.makedirs(f"{d}/adir.jsonl")
    run_j("input is a directory", f"{d}/adir.jsonl", code=3, msgs=[r"adir\.jsonl: is a directory"])
    # a FIFO is a stream another program writes JSONL into (the sink tests
    # use one to stop a run midway): opening it waits for the writer
    os.mkfifo(f"{d}/fifo.jsonl")
    import threading
    feeder = threading.Thread(target=lambda: write(f"{d}/fifo.jsonl", open(good, "rb").read()))
    feeder.start()
    run_j("input is a FIFO with a writer (read as a stream)", f"{d}/fifo.jsonl", code=0,
          timeout=20, check_out=lambda p, r: [(len(jsonl_docs(p)) == len(jsonl_docs(good)),
                                               "every record the writer wrote")])
    feeder.join(timeout=20)
    os.symlink(f"{d}/nowhere.jsonl", f"{d}/dangling.jsonl")
    run_j("input is a dangling symlink", f"{d}/dangling.jsonl", code=3,
          msgs=[r"dangling\.jsonl: No such file"])


# ==== the html source and stage ==========================================================
def html_cases():
    e = "html source"
    d = f"{inp}/html"
    os.makedirs(d)
    sinkp = f"{out}/html.jsonl"

    def run_h(name, *paths, code=0, msgs=(), todo=None, check_out=None, timeout=60, src=None,
              stages="[]", entry=e):
        write(sinkp, OLD_JSONL)
        y = pipeline(f"html_{slug(name)}.yaml", src or html_src(*paths),
                     f"[{sink('jsonl', sinkp)}]", stages=stages)
        r = tm("run", y, timeout=timeout)
        ex = check_out(sinkp) if check_out and r.rc == 0 else []
        return expect(name, entry, r, code, msgs, keep=[(sinkp, OLD_JSONL)] if code else [],
                      outdir=out, todo=todo, extra=ex)

    good = f"{inp}/good.html"
    run_h("empty file", write(f"{d}/empty.html", b""), code=3,
          msgs=[r"empty\.html: empty", "no input"])
    run_h("random bytes", write(f"{d}/random.html", bytes(rand)), code=3,
          msgs=[r"random\.html: .*(not HTML|NUL|binary)", "no input"])
    run_h("ELF file", write(f"{d}/prog.html", elf), code=3,
          msgs=[r"prog\.html: .*(not HTML|NUL|binary)", "no input"])
    run_h("random bytes beside a good page", f"{d}/random.html", good, code=0,
          msgs=[r"random\.html: "])
    bad = write(f"{d}/badutf8.html", b"<html><body><article><p>Gr\xfc\xdfe \xc0\xaf \xed\xa0\x80 "
                + GOOD.encode() * 3 + b"</p></article></body></html>")
    run_h("invalid UTF-8 in a page", bad, code=0,
          check_out=lambda p: [(len(jsonl_docs(p)) == 1, "one document expected")])
    os.makedirs(f"{d}/adir.html")
    run_h("input is a directory", f"{d}/adir.html", code=3, msgs=[r"adir\.html: is a directory"])
    os.mkfifo(f"{d}/fifo.html")
    run_h("input is a FIFO", f"{d}/fifo.html", code=3, timeout=10,
          msgs=[r"fifo\.html: not a regular file"])
    os.symlink(f"{d}/nowhere.html", f"{d}/dangling.html")
    run_h("input is a dangling symlink", f"{d}/dangling.html", code=3,
          msgs=[r"dangling\.html: No such file"])

    # the stage: HTML inside JSONL records
    recs = write(f"{d}/pages.jsonl", "".join(json.dumps(x) + "\n" for x in [
        {"id": "nul", "text": "<html><body><p>a \u0000 NUL</p></body></html>"},
        {"id": "deep", "text": "<html><body>" + "<div>" * 100000 + "<p>" + GOOD + "</p>"
         + "</div>" * 100000 + "</body></html>"},
        {"id": "garbage", "text": "<" + "\ufffd\x01\x02" * 1000},
        {"id": "good", "text": read(good).decode()},
    ]))
    run_h("NUL, 100,000 nested divs, garbage in HTML records", code=0, src=jsonl_src(recs),
          stages="[{use: html}]", entry="html stage",
          check_out=lambda p: [("good" in [x["id"] for x in jsonl_docs(p)],
                                "the good page is missing")])


# ==== the pipeline file itself ===========================================================
def yaml_cases():
    d = f"{work}/yaml"
    os.makedirs(d)
    sinkp = f"{out}/yaml.jsonl"
    body = (f"source: {files_src(f'{inp}/good.txt')}\n"
            f"sinks: [{sink('jsonl', sinkp)}]\n")

    def both(name, data, msgs, code=2, todo=None, timeout=30, max_s=None):
        f = write(f"{d}/{slug(name)}.yaml", data)
        for cmd in ("check", "run"):
            write(sinkp, OLD_JSONL)
            r = tm(cmd, f, timeout=timeout)
            ex = [(max_s is None or r.seconds < max_s, f"took {r.seconds:.1f} s (limit {max_s})")]
            expect(name, f"yaml {cmd}", r, code, msgs, keep=[(sinkp, OLD_JSONL)], outdir=out,
                   todo=todo, extra=ex)

    both("empty pipeline file", b"", [r"empty_pipeline_file\.yaml:1:1: the file is empty"])
    both("comments only", b"# nothing\n\n", [r"comments_only\.yaml:1:1: the file is empty"])
    both("random bytes", bytes(rand), [r"random_bytes\.yaml: not a YAML file \(it holds NUL"])
    both("ELF file", elf, [r"elf_file\.yaml: not a YAML file \(it holds NUL"])
    both("NUL byte", b"version: 1\x00\n" + body.encode(), [r"nul_byte\.yaml: not a YAML file \(it holds NUL"])
    for bad, raw in BAD_UTF8.items():
        data = b"version: 1\nname: x" + raw + (b"" if bad == "cut_at_eof" else b"\n" + body.encode())
        both(f"invalid UTF-8 {bad}", data, [rf"_{bad}\.yaml:\d+:\d+: .*(UTF-8|utf-8|octet)"])
    both("invalid UTF-8 in a comment", b"version: 1 # caf\xe9\n" + body.encode(),
         [r"\.yaml:1:\d+: .*(UTF-8|octet)"])
    laughs = "version: 1\n" + 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 10):
        laughs += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    laughs += body
    both("billion laughs", laughs, [r"billion_laughs\.yaml:\d+:\d+: too many nodes .*alias bomb"],
         max_s=3)
    both("duplicate top-level key", "version: 1\n" + body + "sinks: []\n",
         [r"duplicate_top_level_key\.yaml:4:1: duplicate key 'sinks' \(first at line 3\)"])
    both("duplicate option key", "version: 1\nsource: {use: files, with: {paths: [a], paths: [b]}}\n"
         f"sinks: [{sink('jsonl', sinkp)}]\n",
         [r"duplicate_option_key\.yaml:2:\d+: duplicate key 'paths'"])
    for key, val, where in [("batch_bytes", "99999999999999999999999", "top"),
                            ("batch_bytes", "1e400", "top"),
                            ("workers", "99999999999999999999999", "top"),
                            ("workers", "1e400", "top"),
                            ("workers", "-99999999999999999999999", "top"),
                            ("min_bytes", "99999999999999999999999", "filter"),
                            ("min_bytes", "1e400", "filter"),
                            ("min_bytes", "-1", "filter")]:
        if where == "top":
            y = f"version: 1\n{key}: {val}\n" + body
        else:
            y = (f"version: 1\nsource: {files_src(f'{inp}/good.txt')}\n"
                 f"stages: [{{use: filter, with: {{{key}: {val}}}}}]\nsinks: [{sink('jsonl', sinkp)}]\n")
        both(f"huge number {key}: {val}", y, [rf"\.yaml:\d+:\d+: .*{key}"])
    full = "version: 1\n" + body
    both("truncated pipeline file", full[:len(full) - 25], [r"truncated_pipeline_file\.yaml:\d+:\d+: "])
    both("YAML nested 100,000 deep", "version: 1\nx: " + "[" * 100000 + "]" * 100000 + "\n" + body,
         [r"\.yaml:\d+:\d+: nested too deeply"], max_s=10)
    both("YAML block sequences nested 3,000 deep", "version: 1\nx:\n"
         + "".join(" " * i + "- \n" for i in range(3000)) + body,
         [r"\.yaml:\d+:\d+: nested too deeply"], max_s=10)
    os.makedirs(f"{d}/adir.yaml")
    for cmd in ("check", "run"):
        r = tm(cmd, f"{d}/adir.yaml")
        expect("pipeline file is a directory", f"yaml {cmd}", r, 2, [r"adir\.yaml: .*directory"])
        r = tm(cmd, f"{d}/missing.yaml")
        expect("pipeline file is missing", f"yaml {cmd}", r, 2, [r"missing\.yaml: .*No such file"])


# ==== the sinks ==========================================================================
SINKS = {"jsonl": "out.jsonl", "csv": "out.csv", "sqlite": "out.db", "graph": "out.gexf",
         "report": "report.html"}


def many_docs(path, n=400):
    """Documents with distinct annotated entities, so that every sink's
    output grows with them (the graph's nodes, the report's tables)."""
    with open(path, "w") as f:
        for i in range(n):
            a, b = f"Person{i:04d} Smith", f"Town{i:04d}"
            text = f"{a} went to {b} with Person{(i + 1) % n:04d} Smith. " + GOOD * 3
            f.write(json.dumps({"id": f"d{i}", "text": text, "meta": {"title": f"Doc {i}"},
                                "annotations": [
                                    {"start": 0, "end": len(a), "type": "PER", "label": a, "canonical": a},
                                    {"start": len(a) + 9, "end": len(a) + 9 + len(b), "type": "LOC",
                                     "label": b, "canonical": b}]}) + "\n")
    return path


def sqlite_rows(path):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = con.execute("SELECT id FROM documents ORDER BY id").fetchall()
        con.close()
        return rows
    except sqlite3.Error as e:
        return f"unreadable: {e}"


def sink_cases():
    d = f"{work}/sinks"
    os.makedirs(d)
    small = write(f"{d}/small.jsonl", "".join(json.dumps({"id": f"s{i}", "text": GOOD}) + "\n"
                                              for i in range(3)))
    big = many_docs(f"{d}/big.jsonl")
    for kind, fname in SINKS.items():
        # a directory at the sink path
        p = f"{d}/{kind}-dir/{fname}"
        os.makedirs(p)
        y = pipeline(f"sink_{kind}_dir.yaml", jsonl_src(small), f"[{sink(kind, p)}]")
        for cmd in ("check", "run"):
            expect("sink path is a directory", f"{kind} sink, {cmd}", tm(cmd, y), 2,
                   [rf"{re.escape(fname)}:? is a directory"])

        # an older output, then a run that meets a file size limit (ulimit -f)
        od = f"{d}/{kind}-full"
        os.makedirs(od)
        target = f"{od}/{fname}"
        y1 = pipeline(f"sink_{kind}_small.yaml", jsonl_src(small), f"[{sink(kind, target)}]")
        r = tm("run", y1)
        check(f"{kind} sink: the older output is written", r.rc == 0, r.err)
        old = read(target)
        old_rows = sqlite_rows(target) if kind == "sqlite" else None
        yb = pipeline(f"sink_{kind}_big.yaml", jsonl_src(big), f"[{sink(kind, f'{d}/{kind}-size/{fname}')}]")
        r = tm("run", yb)
        size = os.path.getsize(f"{d}/{kind}-size/{fname}") if r.rc == 0 else 0
        check(f"{kind} sink: the big output is {size} bytes", r.rc == 0 and size > 2 * len(old),
              r.err)
        y2 = pipeline(f"sink_{kind}_full.yaml", jsonl_src(big), f"[{sink(kind, target)}]")
        limit = max(len(old) + 1, size // 2)
        r = tm("run", y2, fsize=limit)
        keep = [(target, old)] if kind != "sqlite" else []
        ex = [(sqlite_rows(target) == old_rows, "the older database's rows changed")] \
            if kind == "sqlite" else []
        expect(f"file size limit {limit} bytes (ulimit -f)", f"{kind} sink", r, 4,
               [rf"{re.escape(fname)}.*(File too large|full|too big)"], keep=keep, outdir=od,
               extra=ex)
        # the same on a full file system (a small tmpfs), when root may mount one
        if tmpfs:
            fd = f"{tmpfs}/{kind}"
            os.makedirs(fd)
            t2 = f"{fd}/{fname}"
            write(t2, old)
            free = shutil.disk_usage(tmpfs).free
            filler = max(0, free - max(size // 2, 8192) - 16384)
            with open(f"{fd}/filler", "wb") as f:
                f.write(b"\0" * filler)
            y3 = pipeline(f"sink_{kind}_tmpfs.yaml", jsonl_src(big), f"[{sink(kind, t2)}]")
            r = tm("run", y3)
            ex = [(sqlite_rows(t2) == old_rows, "the older database's rows changed")] \
                if kind == "sqlite" else []
            expect("full file system (tmpfs)", f"{kind} sink", r, 4,
                   [rf"{re.escape(fname)}.*(No space left|full)"],
                   keep=[(t2, old)] if kind != "sqlite" else [], outdir=fd, extra=ex)
            shutil.rmtree(fd)

        # an output directory uid 65534 may not write in
        if AS_NOBODY:
            nd = f"{d}/{kind}-ro"
            os.makedirs(f"{nd}/out")
            os.chmod(f"{nd}/out", 0o755)  # root's, not writable by 65534
            os.chmod(nd, 0o755)
            y4 = pipeline(f"sink_{kind}_ro.yaml", jsonl_src(small), f"[{sink(kind, f'{nd}/out/{fname}')}]")
            for cmd in ("check", "run"):
                r = tm(cmd, y4, user=AS_NOBODY)
                expect("output directory not writable", f"{kind} sink, {cmd}", r, 2,
                       [rf"{re.escape(fname)}.*(Permission denied|cannot write)"])


def permission_cases():
    """Unreadable inputs, pipeline file and state directory, as uid 65534."""
    if not AS_NOBODY:
        print("# SKIP permission cases: " + ("running as root without setpriv" if ROOT else
                                             "not root: uid 65534 unavailable"))
        return
    d = f"{work}/perm"
    os.makedirs(f"{d}/out")
    for x in (d, f"{d}/out"):
        os.chown(x, 65534, 65534)
    secret = {".txt": GOOD, ".jsonl": json.dumps({"id": "s", "text": GOOD}) + "\n",
              ".html": read(f"{inp}/good.html").decode()}
    for ext, src in ((".txt", files_src), (".jsonl", jsonl_src), (".html", html_src)):
        f = write(f"{d}/secret{ext}", secret[ext], mode=0o600)  # root's
        sinkp = f"{d}/out/p{ext}.jsonl"
        write(sinkp, OLD_JSONL)
        os.chown(sinkp, 65534, 65534)
        y = pipeline(f"perm{ext}.yaml", src(f), f"[{sink('jsonl', sinkp)}]", d=d)
        os.chown(y, 65534, 65534)
        r = tm("run", y, user=AS_NOBODY, cwd=d)
        expect("input file unreadable", {"txt": "files", "jsonl": "jsonl", "html": "html source"}[ext[1:]],
               r, 3, [rf"secret\{ext}: Permission denied"], keep=[(sinkp, OLD_JSONL)], outdir=f"{d}/out")
    y = write(f"{d}/private.yaml", f"version: 1\nsource: {files_src(f'{inp}/good.txt')}\nsinks: []\n",
              mode=0o600)
    for cmd in ("check", "run"):
        expect("pipeline file unreadable", f"yaml {cmd}", tm(cmd, y, user=AS_NOBODY, cwd=d), 2,
               [r"private\.yaml: .*Permission denied"])
    # a state directory (root's) that 65534 may not write in
    st = f"{d}/state"
    os.makedirs(st)
    os.chmod(st, 0o755)
    sinkp = f"{d}/out/state.jsonl"
    y = pipeline("perm_state.yaml", files_src(f"{inp}/good.txt"), f"[{sink('jsonl', sinkp)}]",
                 extra=f"state: {q(st)}\n", d=d)
    os.chown(y, 65534, 65534)
    r = tm("run", y, user=AS_NOBODY, cwd=d)
    expect("state directory not writable", "state", r, 2, [r"state: .*Permission denied"],
           keep=[(sinkp, None)], outdir=f"{d}/out")
    # a state path that is a file
    stf = write(f"{work}/state-file", b"not a directory")
    y = pipeline("state_file.yaml", files_src(f"{inp}/good.txt"),
                 f"[{sink('jsonl', f'{out}/statefile.jsonl')}]", extra=f"state: {q(stf)}\n")
    expect("state path is a file", "state", tm("run", y), 2, [r"state: .*not a directory"],
           keep=[(f"{out}/statefile.jsonl", None)], outdir=out)


# ==== state: nights, one of them on a full disk =========================================
def ledger_inputs(state):
    con = sqlite3.connect(f"{state}/ledger.db")
    rows = con.execute("SELECT path, size, hash FROM inputs ORDER BY path").fetchall()
    con.close()
    return rows


def night(d, n, docs):
    p = f"{d}/in/night{n}.jsonl"
    write(p, "".join(json.dumps({"id": f"n{n}-{i}", "text": f"Night {n}, document {i}. " + GOOD * 2})
                     + "\n" for i in range(docs)))
    return p


def state_cases():
    """Night 1 commits; night 2 meets a full disk (RLIMIT_FSIZE): while the
    sinks write their temporary outputs, while the jsonl sink appends to what
    night 1 committed, and while the ledger records the run. Night 1's
    outputs, its database rows and the ledger's inputs must be as they were,
    and night 3 without a limit must complete everything."""
    variants = {  # name: (night 1 docs, night 2 docs, sinks, the limit from night 1's sizes)
        "while writing": (20, 2000, ("jsonl", "csv", "sqlite"),
                          lambda j, ledger: max(4 * j, ledger + 65536)),
        # night 2's output fits in its temporary file, not appended to night 1's
        "while appending": (2000, 200, ("jsonl", "csv"),
                            lambda j, ledger: j + j // 40),
        # the outputs fit, the ledger (pages of 4 KB, a journal) does not
        "in the ledger": (4, 1, ("jsonl", "csv"), lambda j, ledger: 4096),
    }
    for variant, (n1, n2, kinds, limit_of) in variants.items():
        d = f"{work}/state-{slug(variant)}"
        os.makedirs(f"{d}/out")
        outs = {"jsonl": f"{d}/out/a.jsonl", "csv": f"{d}/out/a.csv", "sqlite": f"{d}/out/a.db"}
        opts = {"csv": {"columns": ["id", "text"]}}
        y = pipeline("nightly.yaml", jsonl_src(f"{d}/in/*.jsonl"),
                     "[" + ", ".join(sink(k, outs[k], **opts.get(k, {})) for k in kinds) + "]",
                     extra=f"state: {q(d + '/state')}\n", d=d)
        entry = "state, " + "+".join(kinds)
        night(d, 1, n1)
        r = tm("run", y, cwd=d)
        check(f"state, full disk {variant}: night 1 succeeds", r.rc == 0, r.err)
        before = {outs[k]: read(outs[k]) for k in kinds if k != "sqlite"}
        rows1 = sqlite_rows(outs["sqlite"]) if "sqlite" in kinds else None
        inputs1 = ledger_inputs(f"{d}/state")
        night(d, 2, n2)
        limit = limit_of(len(before[outs["jsonl"]]), os.path.getsize(f"{d}/state/ledger.db"))
        r = tm("run", y, cwd=d, fsize=limit)
        ex = [(ledger_inputs(f"{d}/state") == inputs1, "the ledger's inputs changed")]
        if rows1 is not None:
            ex.append((sqlite_rows(outs["sqlite"]) == rows1, "night 1's database rows changed"))
        expect(f"full disk {variant} (ulimit -f {limit}): night 2", entry, r, 4,
               [r"(File too large|full)"], keep=list(before.items()), outdir=f"{d}/out",
               extra=ex)
        night(d, 3, 5)
        r = tm("run", y, cwd=d)
        ids = [x["id"] for x in jsonl_docs(outs["jsonl"])]
        want = [f"n{n}-{i}" for n, k in ((1, n1), (2, n2), (3, 5)) for i in range(k)]
        assert all(len(x) < 1000 for x in want)
        ex = [(ids == want, f"jsonl holds {len(ids)} documents, {len(want)} expected"),
              (len(ledger_inputs(f"{d}/state")) == 3, "the ledger holds 3 inputs")]
        ex += [((read(p) or b"").startswith(old), f"night 1's {p} changed")
               for p, old in before.items()]
        if rows1 is not None:
            ex.append((len(sqlite_rows(outs["sqlite"])) == len(want), "database rows"))
        expect(f"full disk {variant}: night 3 without the limit", entry, r, 0,
               outdir=f"{d}/out", extra=ex)


# ==== a 100 MB single line ===============================================================
def huge_line_cases():
    d = f"{work}/huge"
    os.makedirs(d)
    n = 100 * 1024 * 1024
    word = "harbour boats nets crates fish ledger "
    text = (word * (n // len(word) + 1))[:n]
    cases = [("files", f"{d}/line.txt", files_src(f"{d}/line.txt")),
             ("jsonl", f"{d}/line.jsonl", jsonl_src(f"{d}/line.jsonl"))]
    for entry, path, src in cases:
        write(path, text if entry == "files" else json.dumps({"id": "line", "text": text}))
        sinkp = f"{d}/out.jsonl"
        # through a stage that passes it on (not HTML) and one that reads it all
        y = pipeline(f"huge_{entry}.yaml", src, f"[{sink('jsonl', sinkp)}]",
                     stages="[{use: html}, {use: filter, with: {min_bytes: 10}}]")
        r = tm("run", y, timeout=120)
        rss_mb = r.maxrss_kb / 1024
        size = os.path.getsize(sinkp) if os.path.exists(sinkp) else 0
        expect("a 100 MB single line", entry, r, 0, extra=[
            (rss_mb < 10 * 100, f"peak RSS {rss_mb:.0f} MB, over 10x the line"),
            (n < size < n + 1000, f"output of {size} bytes")])
        print(f"# 100 MB line [{entry}]: {r.seconds:.1f} s, peak RSS {rss_mb:.0f} MB")
        os.unlink(path)
        os.unlink(sinkp)


# ---- main -----------------------------------------------------------------------------
tmpfs = None
if ROOT and shutil.which("mount"):
    m = f"{work}/tmpfs"
    os.makedirs(m)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", m],
                       capture_output=True, text=True)
    if r.returncode == 0:
        tmpfs = m
        mounts.append(m)
    else:
        print(f"# SKIP tmpfs cases: mount not permitted ({r.stderr.strip()})")
else:
    print("# SKIP tmpfs cases: not root")

t0 = time.monotonic()
huge_line_cases()
files_cases()
jsonl_cases()
html_cases()
yaml_cases()
sink_cases()
permission_cases()
state_cases()

print("# the matrix: case [entry point] -> exit code: first error")
for case, entry, rc, msg in matrix:
    print(f"#   {case} [{entry}] -> {rc}: {msg}")
print(f"# {time.monotonic() - t0:.1f} s; {len(tap.todos)} expected failures (TODO)")
tap.finish()
