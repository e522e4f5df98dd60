#!/bin/bash
# Retrains the entities stage's NER model (plugins/entities/model/ner-en.tmner)
# from ../shared/data/ner and scores it on the held-out test files.
#
#   tools/ner/retrain.sh BIN_DIR DATA_DIR OUT_MODEL WORK_DIR [GAZ_DIR]
#   (or: cmake --build build --target ner-model)
#
# GAZ_DIR (plugins/entities/gazetteers) supplies the gazetteer bits the model
# learns to use: LOC names from geonames.tsv and MISC demonyms from
# demonyms.tsv, matched by ner_gaz (model/ner_gaz.h). Half of the training
# sentences are seen without them, so the model also works without bits.
# The MISC list also lets the trainer unlabel nationalities that the files
# without MISC tag as LOC or ORG (see the model README).
#
# Two trainings, both deterministic (fixed seed, one thread):
#   1. validation: the training files minus a dev part (the last 96 of the 318
#      documents of uner_en_ewt.dev, and crossner_politics.dev); prints dev F1
#      per epoch and fits the confidence temperature on the dev part;
#   2. final: every training file, dev part included, same settings, with the
#      temperature of step 1.
# Held out for testing, never trained on: every *.test.bio file, and the last
# 36 of the 145 documents of wikigold.test.bio (wikigold has no train split,
# so its first 109 documents are training data here).
set -euo pipefail
BIN=$1 DATA=$2 OUT=$3 WORK=$4 GAZDIR=${5:-}
if [ ! -f "$DATA/uner_en_ewt.dev.bio" ]; then
  echo "retrain.sh: no NER data in $DATA" >&2
  exit 1
fi
mkdir -p "$WORK"

# split_docs FILE N A B: the first N "# doc" documents to A, the rest to B.
# (Token lines always hold a TAB, so a "# doc" line is one without.)
split_docs() {
  awk -v n="$2" -v a="$3" -v b="$4" '
    /^# doc / && index($0, "\t") == 0 { d++ }
    { if (d <= n) print > a; else print > b }' "$1"
}
split_docs "$DATA/wikigold.test.bio" 109 "$WORK/wikigold.train.bio" "$WORK/wikigold.heldout.bio"
split_docs "$DATA/uner_en_ewt.dev.bio" 222 "$WORK/uner_en_ewt.dev-a.bio" "$WORK/uner_en_ewt.dev-b.bio"

TRAIN=(
  "$WORK/wikigold.train.bio"
  "$DATA/crossner_politics.train.bio"
  "$DATA/crossner_science.train.bio" "$DATA/crossner_science.dev.bio"
  "$DATA/crossner_music.train.bio" "$DATA/crossner_music.dev.bio"
  "$DATA/crossner_literature.train.bio" "$DATA/crossner_literature.dev.bio"
  "$DATA/crossner_ai.train.bio" "$DATA/crossner_ai.dev.bio"
  "$DATA/btc.train.bio" "$DATA/btc.dev.bio"
  "$DATA/wnut17.train.bio" "$DATA/wnut17.dev.bio"
  "$DATA/sec_fin.train.bio"
)
DEV=("$WORK/uner_en_ewt.dev-b.bio" "$DATA/crossner_politics.dev.bio")
OPTS=(--epochs 12 --runs 5 --caps-aug 0.1 --buckets 19 --seed 1)
GAZ=()
if [ -n "$GAZDIR" ]; then
  for g in geonames.tsv demonyms.tsv; do
    if [ -f "$GAZDIR/$g" ]; then
      GAZ+=(--gaz "$GAZDIR/$g")
    else
      echo "retrain.sh: warning: $GAZDIR/$g missing, training without it" >&2
    fi
  done
fi

echo "== 1. validation training (dev: ${DEV[*]##*/})"
"$BIN/textmill-ner-train" --train "${TRAIN[@]}" "$WORK/uner_en_ewt.dev-a.bio" \
  --dev "${DEV[@]}" "${OPTS[@]}" "${GAZ[@]}" -o "$WORK/validation.tmner" | tee "$WORK/validation.log"
TEMP=$(sed -n 's/^confidence temperature \([0-9.e+-]*\) .*/\1/p' "$WORK/validation.log")

echo "== 2. final training (temperature $TEMP)"
"$BIN/textmill-ner-train" --train "${TRAIN[@]}" "$DATA/uner_en_ewt.dev.bio" \
  "$DATA/crossner_politics.dev.bio" "${OPTS[@]}" "${GAZ[@]}" --temperature "$TEMP" -o "$OUT" |
  tee "$WORK/final.log"

TEST=("$DATA/uner_en_ewt.test.bio" "$WORK/wikigold.heldout.bio"
  "$DATA"/crossner_{politics,science,music,literature,ai}.test.bio
  "$DATA/btc.test.bio" "$DATA/wnut17.test.bio" "$DATA/sec_fin.test.bio")
if [ ${#GAZ[@]} -gt 0 ]; then
  echo "== held-out test files, with gazetteer bits"
  "$BIN/textmill-ner-eval" "${GAZ[@]}" "$OUT" "${TEST[@]}" | tee "$WORK/test-gaz.log"
fi
echo "== held-out test files, without gazetteer bits"
"$BIN/textmill-ner-eval" "$OUT" "${TEST[@]}" | tee "$WORK/test.log"
