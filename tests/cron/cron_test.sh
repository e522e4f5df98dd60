#!/usr/bin/env bash
# textmill under cron: the pipeline and crontab line of docs/cron.md run as
# written, incremental nights, the state lock (held, waited for, raced, stale),
# JSON logs, `textmill status`, and SIGTERM / SIGKILL during a run with state.
#   cron_test.sh TEXTMILL SOURCE_DIR
set -u
TM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") SRC=$2
TP=$(cd "$(dirname "$TM")/../tests/plugins" && pwd)
DOC=$SRC/docs/cron.md
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
fails=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -s "$work/err" ] && sed 's/^/#   /' "$work/err" | head -20; }
check() { if eval "$1"; then ok "$2"; else bad "$2"; fi; }
# jst DIR EXPR: evaluates a Python expression over `textmill status DIR --json` as d
jst() { "$TM" status "$1" --json 2>>"$work/err" | python3 -c "import json,sys; d=json.load(sys.stdin); r=d['runs']; print($2)"; }

W=$work/srv
mkdir -p "$W/inbox" "$W/logs"
cp "$SRC"/seeds/000_*.txt "$SRC"/seeds/001_*.txt "$SRC"/seeds/002_*.txt "$W/inbox/"

# --- the pipeline and the crontab line, from the doc ---------------------------
awk '/<!-- pipeline-begin -->/{f=1;next} /<!-- pipeline-end -->/{f=0} f && !/^```/' "$DOC" >"$W/nightly.yaml"
cronline=$(awk '/<!-- crontab-begin -->/{f=1;next} /<!-- crontab-end -->/{f=0} f && !/^```/' "$DOC")
check '[ -s "$W/nightly.yaml" ] && grep -q "^state:" "$W/nightly.yaml"' "docs/cron.md has the pipeline between markers"
check '[ "$(printf "%s\n" "$cronline" | grep -c .)" -eq 1 ]' "docs/cron.md has one crontab line between markers"
cmd=$(printf '%s' "$cronline" | sed -E 's/^([^ ]+ +){5}//')
cmd=${cmd//\/srv\/news/$W}
cmd=${cmd//\/usr\/local\/bin\/textmill/$TM}
echo "# crontab command: $cmd"
night() { env -i PATH=/usr/bin:/bin HOME="$work" /bin/sh -c "$cmd"; }

night >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ]' "night 1: the crontab command exits 0 (got $rc)"
check '[ ! -s "$work/out" ] && [ ! -s "$W/logs/textmill.log" ]' "night 1: silent with --quiet (empty log)"
check '[ -s "$W/out/articles.jsonl" ] && [ -f "$W/state/ledger.db" ]' "night 1: output and ledger written"
check '[ "$(jst "$W/state" "d[\"inputs_completed\"], r[0][\"inputs\"][\"read\"], r[0][\"status\"]")" = "3 3 ok" ]' \
    "status --json after night 1: 3 inputs completed, 3 read, ok"

cp "$SRC"/seeds/003_*.txt "$W/inbox/"
night >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && [ ! -s "$W/logs/textmill.log" ]' "night 2: exit 0, silent (got $rc)"
check '[ "$(jst "$W/state" "r[0][\"inputs\"][\"read\"], r[0][\"inputs\"][\"skipped\"], r[0][\"docs_read\"], d[\"inputs_completed\"]")" = "1 3 1 4" ]' \
    "night 2 reads only the new file (1 read, 3 skipped, 1 document)"

# the same run without --quiet says so
cd "$W" || exit 1
touch inbox/000_*.txt
"$TM" run nightly.yaml >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && grep -q "nothing new: every input was completed by an earlier run" "$work/err"' \
    "a touched file (same content, new mtime) is not read again: nothing new, exit 0"
check '[ "$(jst "$W/state" "r[0][\"inputs\"][\"read\"], r[0][\"inputs\"][\"skipped\"]")" = "0 4" ]' "status: 0 read, 4 skipped"
printf '\nA late correction to this article was added.\n' >>inbox/001_*.txt
"$TM" run nightly.yaml >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && grep -q "3 of 4 inputs were completed by earlier runs" "$work/err"' \
    "a changed file is read again (3 of 4 skipped)"
check '[ "$(jst "$W/state" "r[0][\"inputs\"][\"read\"], r[0][\"inputs\"][\"changed\"]")" = "1 1" ]' "status: 1 read, 1 changed"

# --- the lock ------------------------------------------------------------------------
flock state/textmill.lock sleep 3 &
holder=$!
sleep 0.3
t0=$(date +%s.%N)
"$TM" run nightly.yaml --quiet >"$work/out" 2>"$work/err"; rc=$?
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check '[ $rc -eq 5 ] && [ "$(echo "$dt < 1.5" | bc)" = 1 ]' "lock held: exit 5 at once (got $rc in ${dt}s)"
check 'grep -q "another run holds .*textmill.lock (pid [0-9]*, started .*); use --wait" "$work/err"' "lock held: the message names the holder"
"$TM" status state >"$work/st" 2>>"$work/err"
check 'grep -q "^running: *pid [0-9]* since" "$work/st"' "status shows the lock held"
t0=$(date +%s.%N)
"$TM" run nightly.yaml --quiet --wait=10 >"$work/out" 2>"$work/err"; rc=$?
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check '[ $rc -eq 0 ] && [ "$(echo "$dt > 1.5" | bc)" = 1 ]' "--wait=10: waits for the holder, then exit 0 (got $rc after ${dt}s)"
wait $holder 2>/dev/null

# a stale lock file: a dead pid in it, no flock held
echo "99999 2020-01-01T00:00:00Z" >state/textmill.lock
"$TM" status state >"$work/st" 2>"$work/err"
check 'grep -q "^running: *no" "$work/st"' "stale lock file: status says not running"
cp "$SRC"/seeds/004_*.txt inbox/
"$TM" run nightly.yaml --quiet >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && ! grep -q "^99999 " state/textmill.lock' "stale lock file is taken over (exit $rc)"

# --- JSON logs ------------------------------------------------------------------------
json_lines() {
    python3 -c '
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert lines, "no lines"
for l in lines:
    o = json.loads(l)
    assert isinstance(o, dict) and all(isinstance(o.get(k), str) for k in ("time", "level", "msg")), l
' "$1"
}
printf 'One more article, about the harbour.\n' >inbox/late.txt
"$TM" run nightly.yaml --log-format json >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && json_lines "$work/err" && [ "$(wc -l <"$work/err")" -ge 2 ]' "--log-format json: every stderr line is JSON with time, level, msg"
flock state/textmill.lock sleep 1 &
sleep 0.3
"$TM" run nightly.yaml --log-format json >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 5 ] && json_lines "$work/err" && grep -q "\"level\":\"error\"" "$work/err"' "--log-format json: the lock error too (exit $rc)"
wait
"$TM" check nightly.yaml --log-format json >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ]' "check accepts --log-format json"

# --- status ----------------------------------------------------------------------------
"$TM" status state >"$work/st" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && grep -q "^inputs: *6 completed, the last at 20" "$work/st"' "status text: 6 inputs completed"
runs=$(sqlite3 state/ledger.db "SELECT count(*) FROM runs")
check 'grep -q "^runs: *$runs, the last" "$work/st" && [ "$(grep -c " ok$" "$work/st")" -ge 5 ]' "status text: the runs, ok"
"$TM" status state -n 2 --json >"$work/st" 2>"$work/err"
check 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d[\"runs\"])==2 and d[\"runs_total\"]==$runs and d[\"runs\"][0][\"run\"]>d[\"runs\"][1][\"run\"] and d[\"running\"] is None" "$work/st"' \
    "status -n 2 --json: 2 runs, newest first, runs_total right"
"$TM" status "$work/nowhere" >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "nowhere: no textmill state here (no ledger.db)" "$work/err" && [ ! -e "$work/nowhere" ]' \
    "status on a directory without state: exit 2, creates nothing"

# --- a slow pipeline (slow_flush: 2 s in flush) over its own state ----------------------
cat >slow.yaml <<EOF
version: 1
name: slow
state: state2
source: {use: files, with: {paths: ["inbox/*.txt"]}}
stages: [{use: $TP/slow_flush.so}]
sinks: [{use: jsonl, with: {path: out2/a.jsonl}}]
EOF
"$TM" run slow.yaml --quiet >"$work/out" 2>"$work/err" & a=$!
"$TM" run slow.yaml --quiet >"$work/out2" 2>"$work/err2" & b=$!
wait $a; ra=$?; wait $b; rb=$?
cat "$work/err2" >>"$work/err"
check '[ "$(printf "%s\n" $ra $rb | sort | tr "\n" " ")" = "0 5 " ]' "two runs at once: one exits 0, the other 5 (got $ra, $rb)"
"$TM" run slow.yaml --quiet --wait >"$work/out" 2>"$work/err" & a=$!
"$TM" run slow.yaml --quiet --wait >"$work/out2" 2>"$work/err2" & b=$!
wait $a; ra=$?; wait $b; rb=$?
check '[ $ra -eq 0 ] && [ $rb -eq 0 ]' "two runs at once with --wait: both exit 0, one after the other (got $ra, $rb)"

# a run in progress: status names it; SIGKILL: shown as killed, redone by the next run
printf 'Killed-run article.\n' >inbox/k1.txt
"$TM" run slow.yaml --quiet >"$work/out" 2>"$work/err" & a=$!
sleep 0.7
"$TM" run slow.yaml --quiet >"$work/out2" 2>"$work/err2"; rc=$?
check '[ $rc -eq 5 ] && grep -q "(pid $a, started " "$work/err2"' "a second run names the running one's pid ($a; exit $rc)"
check '[ "$(jst state2 "d[\"running\"][\"pid\"], r[0][\"status\"], r[0][\"pid\"]")" = "$a running $a" ]' "status --json during a run: running, its pid"
"$TM" status state2 >"$work/st" 2>>"$work/err"
check 'grep -q "^running: *pid $a since" "$work/st" && grep -q "running now$" "$work/st"' "status text during a run: running now"
kill -KILL $a; wait $a 2>/dev/null
"$TM" status state2 >"$work/st" 2>>"$work/err"
check 'grep -q "^running: *no" "$work/st" && grep -q "killed (no end recorded)$" "$work/st"' "status text: a SIGKILLed run shows as killed (no end recorded)"
check '[ "$(jst state2 "d[\"running\"], r[0][\"status\"], r[0][\"exit_code\"]")" = "None killed None" ]' "status --json: killed, no exit code"
"$TM" run slow.yaml --quiet >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(jst state2 "r[0][\"inputs\"][\"read\"]")" = 1 ]' "the next run redoes the killed run's input (exit $rc)"

# SIGTERM during the flush: the run commits what it read, exits 7; the next has nothing left
printf 'Terminated-run article one.\n' >inbox/t1.txt
printf 'Terminated-run article two.\n' >inbox/t2.txt
"$TM" run slow.yaml --quiet >"$work/out" 2>"$work/err" & a=$!
sleep 0.7
kill -TERM $a; wait $a; rc=$?
check '[ $rc -eq 7 ] && grep -q "stopped by SIGTERM: 2 inputs read to their end are committed" "$work/err"' "SIGTERM with state: exit 7, inputs committed (got $rc)"
check '[ "$(jst state2 "r[0][\"status\"], r[0][\"exit_code\"], r[0][\"inputs\"][\"completed\"]")" = "interrupted 7 2" ]' "status: interrupted, exit 7, 2 inputs completed"
check '[ "$(sqlite3 state2/ledger.db "SELECT count(*) FROM inputs WHERE path LIKE '"'"'inbox/t%'"'"'")" = 2 ]' "the ledger records both inputs"
"$TM" run slow.yaml >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && grep -q "nothing new" "$work/err"' "the next run finds nothing left (exit $rc)"

# two SIGTERMs: stops at once, nothing committed, the next run redoes it
printf 'Twice-terminated article.\n' >inbox/t3.txt
"$TM" run slow.yaml --quiet >"$work/out" 2>"$work/err" & a=$!
sleep 0.7
# (the first signal cuts the flush's sleep short, so both are sent while the
# process is stopped: on SIGCONT the second finds the first handled)
kill -STOP $a; kill -INT $a; kill -TERM $a; kill -CONT $a; wait $a; rc=$?
check '{ [ $rc -eq 143 ] || [ $rc -eq 130 ]; } && [ "$(jst state2 "r[0][\"status\"]")" = killed ]' "a second signal stops at once; status: killed (rc $rc)"
"$TM" run slow.yaml --quiet >"$work/out" 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(jst state2 "r[0][\"inputs\"][\"read\"]")" = 1 ]' "the next run redoes it (exit $rc)"

# SIGTERM between batches (slow_process: 0.3 s a batch; batches of about one document):
# the inputs read so far are committed, the next run does the rest, and together the
# two runs wrote every document once
mkdir -p inbox3
for i in 1 2 3 4 5 6; do head -c 1500 /dev/zero | tr '\0' 'x' | sed "s/^/Article $i. /" >inbox3/a$i.txt; done
cat >part.yaml <<EOF
version: 1
name: part
state: state3
batch_bytes: 1024
source: {use: files, with: {paths: ["inbox3/*.txt"]}}
stages: [{use: $TP/slow_process.so}]
sinks: [{use: jsonl, with: {path: out3/a.jsonl}}]
EOF
"$TM" run part.yaml --quiet >"$work/out" 2>"$work/err" & a=$!
sleep 0.8
kill -TERM $a; wait $a; rc=$?
done1=$(sqlite3 state3/ledger.db "SELECT count(*) FROM inputs")
check '[ $rc -eq 7 ] && [ "$done1" -ge 1 ] && [ "$done1" -lt 6 ]' "SIGTERM between batches: exit 7 with $done1 of 6 inputs committed (rc $rc)"
"$TM" run part.yaml --quiet 2>"$work/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(sqlite3 state3/ledger.db "SELECT count(*) FROM inputs")" = 6 ]' "the next run completes the rest (exit $rc)"
ids=$(python3 -c 'import json; print(len({json.loads(l)["id"] for l in open("out3/a.jsonl")}))')
check '[ "$(wc -l <out3/a.jsonl)" = 6 ] && [ "$ids" = 6 ]' "every document written once over the two runs"

# the same with a jsonl source of two files whose records name another file in meta.file:
# the run stops where an input ends (as the source reports it), never inside one
mkdir -p inbox4
python3 -c "
import json
for f in 'ab':
    with open(f'inbox4/{f}.jsonl', 'w') as o:
        for i in range(12):
            o.write(json.dumps({'id': f'{f}{i}', 'text': 'x' * 600 + f' {f}{i}', 'meta': {'file': 'elsewhere.txt'}}) + '\n')
"
cat >part4.yaml <<EOF
version: 1
name: part4
state: state4
batch_bytes: 1024
source: {use: jsonl, with: {paths: ["inbox4/*.jsonl"]}}
stages: [{use: $TP/slow_process.so}]
sinks: [{use: jsonl, with: {path: out4/a.jsonl}}]
EOF
"$TM" run part4.yaml --quiet >"$work/out" 2>"$work/err" & a=$!
sleep 0.8
kill -TERM $a; wait $a; rc=$?
lines1=$(wc -l <out4/a.jsonl)
check '[ $rc -eq 7 ] && [ "$lines1" = 12 ] && [ "$(sqlite3 state4/ledger.db "SELECT path FROM inputs")" = inbox4/a.jsonl ]' \
    "SIGTERM inside a jsonl input: it reads that input to its end, commits it alone, exit 7 (rc $rc, $lines1 lines)"
"$TM" run part4.yaml --quiet 2>"$work/err"; rc=$?
ids=$(python3 -c 'import json; L=[json.loads(l)["id"] for l in open("out4/a.jsonl")]; print(len(L), len(set(L)))')
check '[ $rc -eq 0 ] && [ "$ids" = "24 24" ]' "the next run reads the other input: every record once ($ids)"
"$TM" run part4.yaml --limit 3 2>"$work/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "limit cannot be used with state" "$work/err"' "--limit with state: is refused (exit $rc)"

echo "1..$n"
[ $fails -eq 0 ] || { echo "# $fails failed"; exit 1; }
