#!/bin/bash
# ner_heldout: scores the committed model on the held-out test files of
# ../shared/data/ner (the ones retrain.sh never trains on), without and with
# gazetteer bits, and fails when micro F1 on uner_en_ewt.test (web text, the
# closest to the stage's input) or crossner_politics.test drops below its
# bar. Skips (77) without the data.
#   heldout.sh EVAL_BIN MODEL DATA_DIR [GAZ_DIR]
set -uo pipefail
EVAL=$1 MODEL=$2 DATA=$3 GAZDIR=${4:-}
if [ ! -f "$DATA/uner_en_ewt.test.bio" ]; then
  echo "SKIP: no NER data in $DATA"
  exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# wikigold's last 36 documents, as retrain.sh holds them out
awk -v b="$TMP/wikigold.heldout.bio" '
  /^# doc / && index($0, "\t") == 0 { d++ }
  d > 109 { print > b }' "$DATA/wikigold.test.bio"
TEST=("$DATA/uner_en_ewt.test.bio" "$TMP/wikigold.heldout.bio"
  "$DATA"/crossner_{politics,science,music,literature,ai}.test.bio
  "$DATA/btc.test.bio" "$DATA/wnut17.test.bio" "$DATA/sec_fin.test.bio")
# The bars sit about 3-4 points below what the committed model achieves
# (see plugins/entities/model/README.md: 68.9/78.7 without bits, 69.1/79.9
# with): retraining noise passes, a broken tokenizer, feature, lexicon or
# decoder change does not.
status=0
echo "== without gazetteer bits"
"$EVAL" --min-f1 uner_en_ewt.test.bio=65 --min-f1 crossner_politics.test.bio=75 \
  "$MODEL" "${TEST[@]}" || status=1
if [ -n "$GAZDIR" ] && [ -f "$GAZDIR/geonames.tsv" ] && [ -f "$GAZDIR/demonyms.tsv" ]; then
  echo "== with gazetteer bits ($GAZDIR)"
  "$EVAL" --gaz "$GAZDIR/geonames.tsv" --gaz "$GAZDIR/demonyms.tsv" \
    --min-f1 uner_en_ewt.test.bio=66 --min-f1 crossner_politics.test.bio=76 \
    "$MODEL" "${TEST[@]}" || status=1
fi
exit $status
