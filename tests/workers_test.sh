#!/usr/bin/env bash
# workers: N runs reentrant stages on N threads with the output of one thread,
# byte for byte, in the same order; and the key is validated.
#   workers_test.sh TEXTMILL SOURCE_DIR
set -u
TM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
n=0 fails=0
check() { n=$((n + 1)); if eval "$1"; then echo "ok $n - $2"; else fails=$((fails + 1)); echo "not ok $n - $2"; sed 's/^/#   /' err 2>/dev/null | head -8; fi; }

# the sample pipeline, every sink, with 1, 2 and 4 workers
for w in 1 2 4; do
    sed "s/^name: news/name: news\nworkers: $w/; s#\"seeds/\*.txt\"#\"$SRC/seeds/*.txt\"#" "$SRC/pipelines/news.yaml" >news$w.yaml
    TEXTMILL_OUT=o$w "$TM" run news$w.yaml --quiet 2>err
    check "[ \$? -eq 0 ]" "news.yaml with workers: $w runs"
done
for w in 2 4; do
    for f in articles.jsonl articles.csv entities.gexf; do
        check "cmp -s o1/$f o$w/$f" "workers: $w: $f identical to one thread's"
    done
done

# a corpus of many documents in small batches (many parts per batch), a step's own
# workers: beside the pipeline's, and a stage that is not reentrant on one thread
SRC="$SRC" python3 - <<'PY'
import json, os, random
rng = random.Random(5)
paras = []
for name in sorted(os.listdir(os.environ["SRC"] + "/seeds")):
    paras += [p for p in open(os.environ["SRC"] + "/seeds/" + name, encoding="utf-8").read().split("\n") if p.strip()]
with open("c.jsonl", "w", encoding="utf-8") as f:
    for i in range(400):
        f.write(json.dumps({"id": f"d{i}", "text": "\n\n".join(rng.sample(paras, rng.randint(1, 12)))}) + "\n")
PY
for w in 1 3; do
    cat >c$w.yaml <<EOF
version: 1
batch_bytes: 65536
source: {use: jsonl, with: {paths: [c.jsonl]}}
stages:
  - {use: metadata}
  - {use: entities, workers: $w}
  - {use: cleanup}
  - {use: filter, with: {min_bytes: 300}}
sinks: [{use: jsonl, with: {path: c$w.out.jsonl}}]
EOF
    "$TM" run c$w.yaml --quiet 2>err
    check "[ \$? -eq 0 ]" "400 documents, entities on $w thread(s)"
done
check "cmp -s c1.out.jsonl c3.out.jsonl" "3 threads: identical output, same order"

# validation
sed 's/{use: cleanup}/{use: cleanup, workers: 2}/' c1.yaml >bad.yaml
"$TM" check bad.yaml 2>err; rc=$?
check '[ $rc -eq 2 ] && grep -q "plugin cleanup is not reentrant" err' "workers on a stage that is not reentrant: config error"
sed 's/^version: 1/version: 1\nworkers: 0/' c1.yaml >bad.yaml
"$TM" check bad.yaml 2>err; rc=$?
check '[ $rc -eq 2 ] && grep -q "workers. must be a number of threads from 1 to 64" err' "workers: 0 is refused"
sed 's/sinks: \[{use: jsonl,/sinks: [{use: jsonl, workers: 2,/' c1.yaml >bad.yaml
"$TM" check bad.yaml 2>err; rc=$?
check '[ $rc -eq 2 ] && grep -q "applies to stages" err' "workers on a sink is refused"

echo "1..$n"
[ $fails -eq 0 ] || { echo "# $fails of $n failed"; exit 1; }
