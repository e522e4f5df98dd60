#!/usr/bin/env bash
# End-to-end tests of the textmill binary: the sample pipeline against its
# golden output, JSONL round trips, and bad input (each with its message,
# its exit code, and no partial output).
#   e2e.sh TEXTMILL SOURCE_DIR TEST_PLUGIN_DIR
# TM_UPDATE_GOLDEN=1 rewrites tests/golden/ from this run instead of comparing.
set -u
TM=$1 SRC=$2 TP=$3
cd "$SRC" || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0 n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -f "$work/err" ] && sed 's/^/#   /' "$work/err"; }
# expect CODE DESCRIPTION -- command...: runs it, checks the exit code
expect() {
    local code=$1 what=$2; shift 3
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq "$code" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $code"; fi
}
stderr_has() { if grep -qF -- "$1" "$work/err"; then ok "message: $1"; else bad "stderr lacks: $1"; fi; }
no_file() { if [ ! -e "$1" ]; then ok "no output at $1"; else bad "$1 exists"; fi; }
no_tmp() {
    local left; left=$(find "$1" -name '.*.tmp.*' 2>/dev/null | head -1)
    if [ -z "$left" ]; then ok "no temporary file left in $1"; else bad "stray temporary file $left"; fi
}
pipeline() { # pipeline FILE SOURCE_YAML STAGES_YAML SINK_PATH [EXTRA]
    printf 'version: 1\nsource: %s\nstages: %s\nsinks: [{use: jsonl, with: {path: "%s"}}]\n%s' \
        "$2" "$3" "$4" "${5:-}" >"$1"
}

# --- the sample pipeline -------------------------------------------------------
export TEXTMILL_OUT="$work/news"
expect 0 "check pipelines/news.yaml" -- "$TM" check pipelines/news.yaml
expect 0 "run pipelines/news.yaml" -- "$TM" run pipelines/news.yaml --stats
stderr_has "news: done: 5 documents read, 14 written"
if [ "${TM_UPDATE_GOLDEN:-}" = 1 ]; then
    mkdir -p tests/golden && cp "$work/news/articles.jsonl" tests/golden/news.jsonl
    echo "# updated tests/golden/news.jsonl"
fi
if cmp -s "$work/news/articles.jsonl" tests/golden/news.jsonl; then
    ok "output equals tests/golden/news.jsonl"
else
    bad "output differs from tests/golden/news.jsonl (TM_UPDATE_GOLDEN=1 to accept)"
    diff <(head -c 2000 "$work/news/articles.jsonl") <(head -c 2000 tests/golden/news.jsonl) | head -5
fi
no_tmp "$work/news"
lines=$(wc -l <"$work/news/articles.jsonl")
[ "$lines" -eq 14 ] && ok "14 articles written (the archive page split in 10)" || bad "$lines documents written, expected 14"
# ids are file names (with #N for the parts of a split page); meta has its fixed keys first
python3 - "$work/news/articles.jsonl" <<'PY' && ok "ids, meta.file and meta.parent are consistent" || bad "ids/meta inconsistent"
import json, sys, os
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    m = d["meta"]
    base = os.path.splitext(os.path.basename(m["file"]))[0]
    assert d["id"] == base or (d["id"].startswith(base + "#") and m["parent"] == base), d["id"]
    assert list(m)[:8] == ["title","author","date","url","source","lang","parent","file"]
    assert d["text"] and m["title"], d["id"]
PY

expect 0 "--quiet prints nothing" -- "$TM" run pipelines/news.yaml --quiet
[ ! -s "$work/err" ] && [ ! -s "$work/out" ] && ok "quiet run is silent" || bad "quiet run printed something"
expect 0 "--limit 1" -- "$TM" run pipelines/news.yaml --limit 1
stderr_has "news: done: 1 documents read, 1 written"
expect 0 "--set long-enough.min_bytes=1M" -- "$TM" run pipelines/news.yaml --set long-enough.min_bytes=1M --stats
stderr_has "dropped too_short"
[ ! -s "$work/news/articles.jsonl" ] && [ -f "$work/news/articles.jsonl" ] && ok "--set dropped every article (an empty output)" || bad "--set had no effect"

# --- JSONL round trips (plain, gzip, zstd) ---------------------------------------
"$TM" run pipelines/news.yaml --quiet
for ext in jsonl jsonl.gz jsonl.zst; do
    pipeline "$work/rt.yaml" "{use: jsonl, with: {paths: [\"$work/news/articles.jsonl\"]}}" "[]" "$work/rt/out.$ext"
    expect 0 "jsonl -> $ext" -- "$TM" run "$work/rt.yaml"
    pipeline "$work/back.yaml" "{use: jsonl, with: {paths: [\"$work/rt/out.$ext\"]}}" "[]" "$work/rt/back.jsonl"
    expect 0 "$ext -> jsonl" -- "$TM" run "$work/back.yaml"
    cmp -s "$work/news/articles.jsonl" "$work/rt/back.jsonl" && ok "round trip through .$ext is byte-identical" || bad "round trip through .$ext changed the output"
done

# --- bad input --------------------------------------------------------------------
out="$work/bad/out.jsonl"
seeds='{use: files, with: {paths: ["seeds/*.txt"]}}'
expect 2 "missing pipeline file" -- "$TM" run "$work/nope.yaml"
stderr_has "$work/nope.yaml: cannot open: No such file or directory"
printf 'version: 1\nsource: {use: files\nsinks: []\n' >"$work/broken.yaml"
expect 2 "malformed YAML" -- "$TM" run "$work/broken.yaml"
stderr_has "$work/broken.yaml:3:6:"
pipeline "$work/p.yaml" "$seeds" "[{use: fliter}]" "$out"
expect 2 "unknown plugin" -- "$TM" run "$work/p.yaml"
stderr_has "$work/p.yaml:3:10: unknown stage plugin 'fliter'; did you mean 'filter'?"
pipeline "$work/p.yaml" "$seeds" "[{use: filter, with: {min_byte: 3}}]" "$out"
expect 2 "unknown option" -- "$TM" check "$work/p.yaml"
stderr_has "unknown option 'min_byte' for stage 'filter'; did you mean 'min_bytes'? (valid: min_bytes, max_bytes, match, exclude"
# null where an option has a default is refused, never passed on as NULL
pipeline "$work/p.yaml" "{use: jsonl, with: {paths: [x.jsonl], text_field: null}}" "[]" "$out"
expect 2 "null option" -- "$TM" check "$work/p.yaml"
stderr_has "option 'text_field' is null: give a string, or leave the option out for its default (text)"
pipeline "$work/p.yaml" "$seeds" "[{use: filter, with: {match: \"(unclosed\"}}]" "$out"
expect 2 "bad regular expression" -- "$TM" check "$work/p.yaml"
stderr_has "stage 'filter' (filter) failed to start: option 'match': invalid regular expression at offset 9: missing closing parenthesis"
pipeline "$work/p.yaml" "$seeds" "[]" "\${TM_E2E_UNSET}/x.jsonl"
expect 2 "undefined variable" -- "$TM" run "$work/p.yaml"
stderr_has "undefined variable \${TM_E2E_UNSET}"
pipeline "$work/p.yaml" "$seeds" "[{use: $TP/init_fails.so, name: model}]" "$out"
expect 4 "plugin whose init fails" -- "$TM" run "$work/p.yaml"
stderr_has "stage 'model' (testplug) failed to start: the model file is missing"
no_file "$out"
pipeline "$work/p.yaml" "$seeds" "[{use: $TP/bad_major.so}]" "$out"
expect 2 "plugin of another ABI major" -- "$TM" run "$work/p.yaml"
stderr_has "built for plugin ABI 2.3, but this textmill has ABI 1.3"

# a stage that fails mid-run: no output, and an older output stays intact
mkdir -p "$work/bad" && echo '{"kept": true}' >"$out"
pipeline "$work/p.yaml" "$seeds" "[{use: $TP/process_fails.so}]" "$out"
expect 4 "stage failure" -- "$TM" run "$work/p.yaml"
stderr_has "failed while processing: cannot process document 000_a17fe12a0b717373"
[ "$(cat "$out")" = '{"kept": true}' ] && ok "the previous output is untouched" || bad "previous output was changed"
no_tmp "$work/bad"
rm -f "$out"

# SIGTERM while a stage flushes: exit 7, nothing committed, no temporary file
echo '{"kept": true}' >"$out"
pipeline "$work/p.yaml" "$seeds" "[{use: $TP/slow_flush.so}]" "$out"
"$TM" run "$work/p.yaml" 2>"$work/err" & pid=$!
sleep 1
kill -TERM $pid
wait $pid && rc=0 || rc=$?
[ $rc -eq 7 ] && ok "SIGTERM during flush (exit 7)" || bad "SIGTERM during flush: exit $rc, expected 7"
stderr_has "interrupted by SIGTERM; no output was committed"
[ "$(cat "$out")" = '{"kept": true}' ] && ok "the previous output is untouched" || bad "an interrupted flush committed"
no_tmp "$work/bad"
rm -f "$out"

# two sinks, the second cannot write: the first keeps its older output. The
# second's path passes the check in init, but its temporary file's name
# (".NAME.tmp.XXXXXX") is longer than a file name may be, so it fails while
# the documents flow.
echo '{"kept": true}' >"$out"
long="$work/bad/$(printf 'x%.0s' $(seq 244)).jsonl"
printf 'version: 1\nsource: %s\nsinks:\n  - {use: jsonl, with: {path: "%s"}}\n  - {use: jsonl, with: {path: "%s"}}\n' "$seeds" "$out" "$long" >"$work/p.yaml"
expect 4 "one of two sinks fails" -- "$TM" run "$work/p.yaml"
stderr_has "cannot create the temporary file"
[ "$(cat "$out")" = '{"kept": true}' ] && ok "the other sink did not replace its output" || bad "a sink committed although another failed"
no_tmp "$work/bad"
# a sink whose path cannot be written is refused before any data flows
printf 'version: 1\nsource: %s\nsinks:\n  - {use: jsonl, with: {path: "%s"}}\n  - {use: jsonl, with: {path: "/proc/version/x.jsonl"}}\n' "$seeds" "$out" >"$work/p.yaml"
expect 2 "a sink path under a file" -- "$TM" run "$work/p.yaml"
stderr_has "path: /proc/version/x.jsonl: /proc/version is not a directory"
[ "$(cat "$out")" = '{"kept": true}' ] && ok "the other sink did not replace its output" || bad "a sink committed although another failed"
rm -f "$out"
# a file of another format at the path is refused, not overwritten
printf 'SQLite format 3\000\001\002' >"$work/bad/db.jsonl"
pipeline "$work/p.yaml" "$seeds" "[]" "$work/bad/db.jsonl"
expect 2 "an SQLite file at a jsonl sink's path" -- "$TM" run "$work/p.yaml"
stderr_has "path: $work/bad/db.jsonl exists and is not a JSON Lines file; refusing to replace it"
[ "$(head -c 15 "$work/bad/db.jsonl")" = "SQLite format 3" ] && ok "the SQLite file is untouched" || bad "the SQLite file was changed"
rm -f "$work/bad/db.jsonl"

# empty input
mkdir -p "$work/empty"
pipeline "$work/p.yaml" "{use: files, with: {paths: [\"$work/empty/*.txt\"]}}" "[]" "$out"
expect 3 "no input documents" -- "$TM" run "$work/p.yaml"
stderr_has "no input: source 'files' read no documents"
no_file "$out"
pipeline "$work/p.yaml" "{use: files, with: {paths: [\"$work/empty/missing.txt\"]}}" "[]" "$out"
expect 3 "missing input file" -- "$TM" run "$work/p.yaml"
stderr_has "$work/empty/missing.txt: No such file or directory"
: >"$work/empty/a.jsonl"
pipeline "$work/p.yaml" "{use: jsonl, with: {paths: [\"$work/empty/a.jsonl\"]}}" "[]" "$out"
expect 3 "empty JSONL input" -- "$TM" run "$work/p.yaml"
no_file "$out"

# invalid UTF-8: repaired by default, or the run fails by policy
mkdir -p "$work/utf8" && printf 'caf\xe9 au lait \xe2\x82 and more\n' >"$work/utf8/bad.txt"
pipeline "$work/p.yaml" "{use: files, with: {paths: [\"$work/utf8/*.txt\"]}}" "[]" "$out"
expect 0 "invalid UTF-8 is repaired" -- "$TM" run "$work/p.yaml"
stderr_has "bad: 2 invalid UTF-8 sequences replaced with U+FFFD"
LC_ALL=C grep -qP 'caf\xef\xbf\xbd au lait \xef\xbf\xbd and more' "$out" && ok "U+FFFD in the output" || bad "no U+FFFD in output"
rm -f "$out"
pipeline "$work/p.yaml" "{use: files, with: {paths: [\"$work/utf8/*.txt\"]}}" "[]" "$out" "invalid_utf8: fail"
expect 3 "invalid UTF-8 with invalid_utf8: fail" -- "$TM" run "$work/p.yaml"
stderr_has "bad: invalid UTF-8 at byte 3"
no_file "$out"

# a binary file, a truncated gzip, a JSONL line that is not JSON
printf 'PK\003\004\000\000binary' >"$work/utf8/zip.txt"
pipeline "$work/p.yaml" "{use: files, with: {paths: [\"$work/utf8/*.txt\"]}}" "[]" "$out"
expect 3 "binary file" -- "$TM" run "$work/p.yaml"
stderr_has "zip.txt: binary file (holds NUL bytes)"
no_file "$out"
head -c 300 "$work/rt/out.jsonl.gz" >"$work/utf8/cut.jsonl.gz"
pipeline "$work/p.yaml" "{use: jsonl, with: {paths: [\"$work/utf8/cut.jsonl.gz\"]}}" "[]" "$out"
expect 3 "truncated gzip" -- "$TM" run "$work/p.yaml"
no_file "$out"
printf '{"id": "a", "text": "fine"}\n{"id": "b", "text": \n' >"$work/utf8/broken.jsonl"
pipeline "$work/p.yaml" "{use: jsonl, with: {paths: [\"$work/utf8/broken.jsonl\"]}}" "[]" "$out"
expect 3 "malformed JSONL line" -- "$TM" run "$work/p.yaml"
stderr_has "broken.jsonl:2:"
no_file "$out"

# usage errors
expect 2 "unknown command" -- "$TM" rnu
stderr_has "unknown command 'rnu'; did you mean 'run'?"
expect 0 "--help" -- "$TM" --help
expect 0 "run --help" -- "$TM" run --help
expect 0 "--version" -- "$TM" --version

echo "1..$n"
[ "$fails" -eq 0 ] || { echo "# $fails of $n failed"; exit 1; }
