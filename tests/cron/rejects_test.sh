#!/usr/bin/env bash
# on_error: fail | skip | reject, the rejects file, max_rejects, the exit codes
# that tell success, success with rejects and failure apart, and
# `textmill replay`. The `poison` test plugin marks every document of a batch,
# then fails the batch when one of them holds the word POISON.
#   rejects_test.sh TEXTMILL SOURCE_DIR
set -u
TM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TP=$(cd "$(dirname "$TM")/../tests/plugins" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
n=0 fails=0
check() { n=$((n + 1)); if eval "$1"; then echo "ok $n - $2"; else fails=$((fails + 1)); echo "not ok $n - $2"; sed 's/^/#   /' err 2>/dev/null | head -8; fi; }

mkdir in
for i in 1 2 3 4 5 6 7 8 9 10; do echo "Article $i is fine." >in/a$(printf %02d $i).txt; done
echo "Article 4 holds POISON." >in/a04.txt
echo "Article 8 holds POISON too." >in/a08.txt
pipeline() { # pipeline ON_ERROR [EXTRA TOP-LEVEL YAML]
    cat >p.yaml <<EOF
version: 1
name: rj
${2:-state: state}
source: {use: files, with: {paths: ["in/*.txt"]}}
stages:
  - {use: $TP/poison.so, name: poison, on_error: $1}
sinks: [{use: jsonl, with: {path: out/a.jsonl}}]
EOF
}
jq_py() { python3 -c "import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]; $2" "${3:-out/a.jsonl}"; }

# reject: the run goes on, exit 6; the rejects hold the documents as they entered the stage
pipeline reject
"$TM" run p.yaml --stats 2>err; rc=$?
check '[ $rc -eq 6 ]' "on_error: reject: exit 6, success with rejects (got $rc)"
check 'grep -q "2 documents failed in a stage: 2 rejected to state/rejects.jsonl" err' "the summary says how many and where"
check 'grep -q "dropped rejected *2" err' "--stats counts them as dropped: rejected"
check '[ "$(wc -l <out/a.jsonl)" = 8 ] && jq_py out/a.jsonl "assert all(d[\"meta\"][\"poison_stage_saw\"] is True for d in L) and len({d[\"id\"] for d in L}) == 8"' \
    "the 8 good documents are written once each, through the stage"
check 'jq_py x "assert [d[\"id\"] for d in L] == [\"a04\", \"a08\"]; r = L[0][\"meta\"][\"reject\"]; assert r[\"step\"] == \"poison\" and \"poisoned\" in r[\"reason\"] and r[\"pipeline\"].endswith(\"/p.yaml\") and r[\"run\"] == 1; assert \"poison_stage_saw\" not in L[0][\"meta\"]; assert L[0][\"text\"] == \"Article 4 holds POISON.\\n\"" state/rejects.jsonl' \
    "rejects: a04 and a08 unchanged, with the stage, the reason, the pipeline and the run"
check '[ "$("$TM" status state --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"runs\"][0][\"status\"])")" = "ok, with rejects" ]' \
    "status: ok, with rejects"

# replay: fails again -> exit 6, the records are rejected anew (not lost)
"$TM" replay state/rejects.jsonl --quiet 2>err; rc=$?
check '[ $rc -eq 6 ] && [ "$(wc -l <state/rejects.jsonl)" = 2 ] && [ "$(wc -l <out/a.jsonl)" = 8 ]' "replay of still-poisoned records: exit 6, both rejected again, nothing written ($rc)"
check '[ -z "$(ls state | grep -E "replay")" ]' "replay leaves no temporary file in the state directory"
# fix the documents and replay: written, the rejects file emptied
sed -i 's/POISON/antidote/' state/rejects.jsonl
"$TM" replay state/rejects.jsonl --quiet 2>err; rc=$?
check '[ $rc -eq 0 ] && [ "$(wc -l <out/a.jsonl)" = 10 ] && [ ! -s state/rejects.jsonl ]' "replay of repaired records: exit 0, all 10 written, no rejects left ($rc)"
check 'jq_py out/a.jsonl "d = [x for x in L if x[\"id\"] == \"a04\"][0]; assert \"antidote\" in d[\"text\"] and \"reject\" not in d[\"meta\"]"' "a replayed document goes on from the failed stage, without meta.reject"
"$TM" replay "$work/nothing.jsonl" 2>err; rc=$?
check '[ $rc -eq 3 ] && grep -q "nothing.jsonl: No such file" err' "replay of a missing file: exit 3"
echo '{"id": "x", "text": "t"}' >notrejects.jsonl
"$TM" replay notrejects.jsonl 2>err; rc=$?
check '[ $rc -eq 3 ] && grep -q "notrejects.jsonl:1: not a textmill reject record" err && [ -f notrejects.jsonl ]' "replay of a file that is not rejects: exit 3, left alone"

# skip: dropped with reason error, no rejects file, exit 6
rm -rf state out
pipeline skip
"$TM" run p.yaml --stats 2>err; rc=$?
check '[ $rc -eq 6 ] && grep -q "dropped error *2" err && [ ! -e state/rejects.jsonl ] && [ "$(wc -l <out/a.jsonl)" = 8 ]' \
    "on_error: skip: exit 6, 2 dropped (error), no rejects file"

# fail (the default): exit 4, nothing committed
rm -rf state out
pipeline fail
"$TM" run p.yaml 2>err; rc=$?
check '[ $rc -eq 4 ] && [ ! -e out/a.jsonl ]' "on_error: fail: exit 4, no output ($rc)"

# max_rejects: a count, and a share of the documents read
rm -rf state out
pipeline reject $'state: state\nmax_rejects: 1'
"$TM" run p.yaml 2>err; rc=$?
check '[ $rc -eq 4 ] && grep -q "more than max_rejects" err && [ ! -e out/a.jsonl ] && [ ! -s state/rejects.jsonl ]' \
    "max_rejects: 1 with 2 failures: exit 4, nothing committed ($rc)"
rm -rf state out
pipeline reject $'state: state\nmax_rejects: 10%'
"$TM" run p.yaml 2>err; rc=$?
check '[ $rc -eq 4 ] && grep -q "2 of 10 documents failed, more than max_rejects (10%)" err && [ ! -e out/a.jsonl ]' "max_rejects: 10% with 2 of 10: exit 4 ($rc)"
rm -rf state out
pipeline reject $'state: state\nmax_rejects: 20%'
"$TM" run p.yaml 2>err; rc=$?
check '[ $rc -eq 6 ]' "max_rejects: 20% with 2 of 10: exit 6 ($rc)"

# configuration errors
pipeline reject "# neither state: nor rejects:"
"$TM" check p.yaml 2>err; rc=$?
check '[ $rc -eq 2 ] && grep -q "on_error: reject., but the pipeline says nowhere to put rejects" err' "reject without rejects: or state: is a config error"
pipeline reject $'rejects: elsewhere/r.jsonl'
"$TM" run p.yaml --quiet 2>err; rc=$?
check '[ $rc -eq 6 ] && [ "$(wc -l <elsewhere/r.jsonl)" = 2 ]' "rejects: PATH without state ($rc)"
pipeline sometimes
"$TM" check p.yaml 2>err; rc=$?
check '[ $rc -eq 2 ] && grep -q "on_error. must be fail, skip or reject" err' "an unknown on_error value is refused"
cat >p.yaml <<EOF
version: 1
source: {use: files, with: {paths: ["in/*.txt"]}}
sinks: [{use: jsonl, on_error: skip, with: {path: out/a.jsonl}}]
EOF
"$TM" check p.yaml 2>err; rc=$?
check '[ $rc -eq 2 ] && grep -q "applies to stages" err' "on_error on a sink is refused"

# rejects from two stages, replayed from another directory: each record from its
# own stage, into the pipeline's own state and outputs; --limit is refused
rm -rf state out in2 && mkdir in2
for i in 1 2 3 4; do echo "Article $i is fine." >in2/b$i.txt; done
echo "Article 2 holds POISON." >in2/b2.txt
echo "Article 3 holds VENOM." >in2/b3.txt
{
    echo "version: 1"
    echo "name: two"
    echo "state: state"
    echo 'source: {use: files, with: {paths: ["in2/*.txt"]}}'
    echo "stages:"
    echo "  - {use: $TP/poison.so, name: poison1, on_error: reject}"
    echo "  - {use: $TP/poison.so, name: poison2, on_error: reject}"
    echo "sinks: [{use: jsonl, with: {path: out/b.jsonl}}]"
} >p2.yaml
"$TM" run p2.yaml --quiet 2>err; rc=$?
check '[ $rc -eq 6 ] && jq_py x "assert sorted((d[\"id\"], d[\"meta\"][\"reject\"][\"step\"]) for d in L) == [(\"b2\", \"poison1\"), (\"b3\", \"poison2\")]" state/rejects.jsonl' \
    "two stages reject one document each ($rc)"
"$TM" replay state/rejects.jsonl --limit 1 2>err; rc=$?
check '[ $rc -eq 2 ] && [ "$(wc -l <state/rejects.jsonl)" = 2 ]' "replay --limit is refused, the rejects untouched"
mkdir -p elsewhere && (cd elsewhere && "$TM" replay ../state/rejects.jsonl --quiet 2>../err); rc=$?
check '[ $rc -eq 6 ] && [ "$(wc -l <state/rejects.jsonl)" = 2 ] && [ ! -e elsewhere/state ] && [ ! -e elsewhere/out ]' \
    "replay from another directory: both groups rejected again into the pipeline's own state, nothing lost ($rc)"
sed -i 's/POISON/antidote/; s/VENOM/antidote/' state/rejects.jsonl
(cd elsewhere && "$TM" replay ../state/rejects.jsonl --quiet 2>../err); rc=$?
check '[ $rc -eq 0 ] && [ "$(wc -l <out/b.jsonl)" = 4 ] && [ ! -s state/rejects.jsonl ] && jq_py x "assert sorted(d[\"id\"] for d in L) == [\"b1\", \"b2\", \"b3\", \"b4\"]" out/b.jsonl' \
    "repaired, replayed: all four written once, no rejects left ($rc)"
check '! ls state | grep -q replay' "no replay file left in the state directory"

echo "1..$n"
[ $fails -eq 0 ] || { echo "# $fails of $n failed"; exit 1; }
