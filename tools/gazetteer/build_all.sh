#!/bin/sh
# Re-make the committed base gazetteers in plugins/entities/gazetteers/ from
# the shared data (GeoNames dumps and NER training files, by default in
# ../shared/data beside the repository) and check them; regions.tsv and
# organizations.tsv are hand-compiled and only checked. iso.tsv is made by the
# build (tools/gazetteer/CMakeLists.txt); a copy is checked here in a
# temporary folder.
#
# needs: python3, Debian packages iso-codes and wamerican
# usage: tools/gazetteer/build_all.sh [SHARED_DATA_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${1:-$here/../../../shared/data}
gaz=$here/../../plugins/entities/gazetteers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$here/build_words.py" --ner "$shared/ner"
python3 "$here/build_geonames.py" --geonames "$shared/geonames"
python3 "$here/build_demonyms.py" --ner "$shared/ner" --geonames-dir "$shared/geonames"
python3 "$here/build_iso.py" --out "$tmp/iso.tsv"
python3 "$here/check.py" "$gaz/geonames.tsv" "$gaz/demonyms.tsv" "$gaz/regions.tsv" \
    "$gaz/organizations.tsv" "$tmp/iso.tsv"
