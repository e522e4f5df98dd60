#!/usr/bin/env bash
# Bad input for the `entities` stage, run through the real binary: text that
# is hard to tag (no letters, all capitals, enormous tokens, NUL bytes,
# invalid UTF-8, empty), malformed gazetteers and model files (each a config
# error naming the file and line, with no output), and the cache of compiled
# gazetteers (used on the second run, same output, rebuilt when damaged).
#   entities_bad.sh TEXTMILL SOURCE_DIR
set -u
TM=$1 SRC=$2
cd "$SRC" || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# keep the runs' cache out of the user's: every run below caches in $work
export XDG_CACHE_HOME="$work/cache" HOME="$work/home"
cache="$work/cache/textmill"
fails=0 n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -f "$work/err" ] && sed 's/^/#   /' "$work/err" | head -20; }
# expect CODE DESCRIPTION -- command...: runs it (at most 60 s), checks the exit code
expect() {
    local code=$1 what=$2; shift 3
    timeout 60 "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq "$code" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $code"; fi
}
stderr_has() { if grep -qF -- "$1" "$work/err"; then ok "message: $1"; else bad "stderr lacks: $1"; fi; }
no_output() {
    local left; left=$(find "$work/o" -type f 2>/dev/null | head -1)
    if [ -z "$left" ]; then ok "no output file"; else bad "output left: $left"; fi
    rm -rf "$work/o"
}
# pipeline FILE SOURCE_YAML ENTITIES_WITH_YAML SINK_PATH
pipeline() {
    printf 'version: 1\nsource: %s\nstages: [{use: entities, with: %s}]\nsinks: [{use: jsonl, with: {path: "%s"}}]\n' \
        "$2" "$3" "$4" >"$1"
}
files() { printf '{use: files, with: {paths: ["%s"]}}' "$1"; }
jsonl() { printf '{use: jsonl, with: {paths: ["%s"]}}' "$1"; }
# valid_jsonl FILE [MAX_MENTIONS_PER_WORD]: every line a document whose
# annotations lie inside the text; prints "docs mentions words"
valid_jsonl() {
    python3 - "$@" <<'PY'
import json, sys
docs = mentions = words = 0
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    t = d["text"].encode("utf-8")
    for a in d["annotations"]:
        assert 0 <= a["start"] < a["end"] <= len(t), a
        assert a["type"] in ("PER", "ORG", "LOC", "MISC"), a
        t[a["start"]:a["end"]].decode("utf-8")  # on character boundaries
    docs += 1
    mentions += len(d["annotations"])
    words += len(d["text"].split())
print(docs, mentions, words)
if len(sys.argv) > 2 and mentions > float(sys.argv[2]) * max(words, 1):
    sys.exit("%d mentions for %d words" % (mentions, words))
PY
}
check_run() { # check_run WHAT OUT [MAX_MENTIONS_PER_WORD]
    local counts
    if counts=$(valid_jsonl "$2" ${3:-} 2>"$work/err"); then
        ok "$1: valid JSONL (documents, mentions, words: $counts)"
    else
        bad "$1: output is not valid JSONL with valid annotations"
    fi
}

# --- text that is hard to tag ---------------------------------------------------------
mkdir -p "$work/in"
printf '12345 678.90 -- !!! ??? \xf0\x9f\x98\x80\xf0\x9f\x8e\x89 42%% #$%%^&*() 1990-2020 +1 (555) 010-0199\n' >"$work/in/noletters.txt"
tr 'a-z' 'A-Z' <seeds/001_da75a60ae01185ed.txt >"$work/in/caps.txt"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$work/in/word5m.txt"
{ printf 'Paris '; head -c 5000000 /dev/zero | tr '\0' 'K'; printf ' Berlin\n'; } >"$work/in/capsword5m.txt"
head -c 1000000 /dev/zero | tr '\0' '7' >"$work/in/digits1m.txt"
{ printf 'In Baku, see https://example.com/Baku/'; for i in $(seq 8400); do printf 'a/b-c_d?e=f&'; done; printf ' for more.\n'; } >"$work/in/url.txt"
printf '\n\n\n\n\n\n\n\n\n\n' >"$work/in/newlines.txt"
printf 'caf\xe9 Paris \xff\xfe London \xc3\x28 Berlin \xed\xa0\x80 Baku\n' >"$work/in/badutf8.txt"
for f in noletters caps word5m capsword5m digits1m url newlines badutf8; do
    pipeline "$work/p.yaml" "$(files "$work/in/$f.txt")" '{}' "$work/o/$f.jsonl"
    expect 0 "text: $f" -- "$TM" run "$work/p.yaml"
    case $f in
    caps) check_run "$f" "$work/o/$f.jsonl" 0.33 ;; # an article in capitals: not every word a name
    noletters | word5m | digits1m | newlines) check_run "$f" "$work/o/$f.jsonl" 0 ;;
    *) check_run "$f" "$work/o/$f.jsonl" ;;
    esac
done
python3 - "$work/o/badutf8.jsonl" <<'PY' 2>/dev/null && ok "badutf8: no mention starts or ends with U+FFFD" || bad "badutf8: a mention starts or ends with U+FFFD"
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    t = d["text"].encode("utf-8")
    for a in d["annotations"]:
        s = t[a["start"]:a["end"]].decode("utf-8")
        assert not s.startswith("\ufffd") and not s.endswith("\ufffd"), s
PY
# a long document that names the same places thousands of times
for i in $(seq 4000); do printf 'Baku Paris '; done >"$work/in/repeats.txt"
pipeline "$work/p.yaml" "$(files "$work/in/repeats.txt")" '{}' "$work/o/repeats.jsonl"
timeout 5 "$TM" run "$work/p.yaml" 2>"$work/err" && ok "8000 repeated names in under 5 s" ||
    bad "8000 repeated names take more than 5 s"
# an empty file is skipped by the files source; an empty document comes from JSONL
: >"$work/in/empty.txt"
pipeline "$work/p.yaml" "{use: files, with: {paths: [\"$work/in/empty.txt\", \"$work/in/newlines.txt\"]}}" '{}' "$work/o/empty.jsonl"
expect 0 "an empty file beside a file of newlines" -- "$TM" run "$work/p.yaml"
check_run "empty file" "$work/o/empty.jsonl" 0
# NUL bytes: the files source refuses them (a binary file); JSONL can carry them
printf '%s\n' '{"id": "empty", "text": ""}' '{"id": "newlines", "text": "\n\n\n\n"}' \
    '{"id": "nul", "text": "Paris\u0000London and \u0000\u0000 Berlin met Ilham Aliyev\u0000"}' \
    '{"id": "nul-only", "text": "\u0000\u0000\u0000"}' \
    '{"id": "controls", "text": "\u0001Baku\u0002 \u001b[31mMoscow\u001b[0m \u007f"}' >"$work/in/odd.jsonl"
pipeline "$work/p.yaml" "$(jsonl "$work/in/odd.jsonl")" '{}' "$work/o/odd.jsonl"
expect 0 "JSONL: empty text, newlines, NUL bytes, control characters" -- "$TM" run "$work/p.yaml"
check_run "odd JSONL" "$work/o/odd.jsonl"
[ "$(wc -l <"$work/o/odd.jsonl")" -eq 5 ] && ok "all 5 documents written" || bad "not all 5 documents written"
rm -rf "$work/o"

# --- malformed gazetteers: config error (2) naming FILE:LINE, no output -----------------
g="$work/gz"
mkdir -p "$g" "$g/adir.tsv"
H=$'canonical\ttype\tid\taliases'
printf '%s\n' $'Acme Corp\tORG\tacme:1\tAcme' $'Jane Roe\tPER\t\tRoe' >"$g/noheader.tsv"
printf '%s\n' "$H" $'Acme Corp\tORG\tacme:1\tAcme' $'Jane Roe\tPER' >"$g/missingcol.tsv"
printf '%s\n' "$H" $'Acme Corp\tORG\tacme:1\tAcme' $'Jane Roe\tPERSON\t\tRoe' >"$g/badtype.tsv"
printf '%s\n' "$H" $'Acme Corp\tORG\tacme:1\tAcme' $'\tPER\tx:1\tRoe' >"$g/emptycanon.tsv"
printf '%s\n' "$H" $'Acme Corp\tORG\tacme:1\tAcme' 'Jane Roe PER x:2 Roe' >"$g/notab.tsv"
printf '%s\n' "$H" $'Acme Corp\tORG\tacme:1\tAcme' $'Acme Inc\tORG\tacme:1\t' >"$g/dupid.tsv"
printf '%s\n' "$H" $'A\xffB\tORG\t\t' >"$g/badutf8.tsv"
printf '%s\n' 'canonical,type,id,aliases' '"Acme, Inc.",ORG,acme:1,Acme' '"Jane Roe,PER,,Roe' >"$g/unterminated.csv"
printf '%s\n' 'canonical,type,id,aliases' '"Acme, Inc.",ORG,acme:1,Acme' 'Jane Roe,PER,,Roe,extra' >"$g/wrongcols.csv"
printf '%s\n' 'canonical,type,id,aliases' '"Acme" Inc,ORG,,' >"$g/afterquote.csv"
printf '%s\n' 'canonical: Acme' 'type: ORG' >"$g/notlist.yaml"
printf '%s\n' '- {canonical: Acme, type: ORG}' '- {type: PER, aliases: [Roe]}' >"$g/nocanon.yaml"
printf '%s\n' '- {canonical: Acme, type: ORG}' '- canonical: Jane Roe' '  type: PERSON' >"$g/wrongtype.yaml"
printf '%s\n' '- {canonical: "", type: ORG}' >"$g/emptycanon.yaml"
printf '%s\n' '- {canonical: Acme, type: ORG, id: a1}' '- {canonical: Other, type: ORG, id: a1}' >"$g/dupid.yaml"
printf '%s\n' '- {canonical: Acme, type: ORG' >"$g/broken.yaml"
: >"$g/empty.tsv"
{ head -c 2000 plugins/entities/model/ner-en.tmner; printf '\0\1\2\n'; } >"$g/binary.tsv"
gz_case() { # gz_case FILE MESSAGE [ENTITIES_WITH]
    local with="{gazetteers: [\"$1\"], base_gazetteers: false, use_model: false}"
    pipeline "$work/p.yaml" "$(files seeds/001_da75a60ae01185ed.txt)" "${3:-$with}" "$work/o/out.jsonl"
    expect 2 "gazetteer $(basename "$1")" -- "$TM" run "$work/p.yaml"
    stderr_has "$2"
    no_output
}
gz_case "$g/noheader.tsv" "$g/noheader.tsv:1: expected the header line canonical<TAB>type<TAB>id<TAB>aliases"
gz_case "$g/missingcol.tsv" "$g/missingcol.tsv:3: 2 fields, but the header has 4"
gz_case "$g/badtype.tsv" "$g/badtype.tsv:3: type 'PERSON' is not PER, ORG, LOC or MISC"
gz_case "$g/emptycanon.tsv" "$g/emptycanon.tsv:3: empty canonical name"
gz_case "$g/notab.tsv" "$g/notab.tsv:3: 1 field, but the header has 4 (fields are separated by TABs; this line has none)"
gz_case "$g/dupid.tsv" "$g/dupid.tsv:3: id 'acme:1' is already used on line 2"
gz_case "$g/badutf8.tsv" "$g/badutf8.tsv:2: invalid UTF-8"
gz_case "$g/unterminated.csv" "$g/unterminated.csv:3: an unterminated quote"
gz_case "$g/wrongcols.csv" "$g/wrongcols.csv:3: 5 fields, but the header has 4"
gz_case "$g/afterquote.csv" "$g/afterquote.csv:2: text after a closing quote"
gz_case "$g/notlist.yaml" "$g/notlist.yaml:1: expected a list of entries"
gz_case "$g/nocanon.yaml" "$g/nocanon.yaml:2: an entry needs a canonical name"
gz_case "$g/wrongtype.yaml" "$g/wrongtype.yaml:3: type 'PERSON' is not PER, ORG, LOC or MISC"
gz_case "$g/emptycanon.yaml" "$g/emptycanon.yaml:1: an entry needs a canonical name"
gz_case "$g/dupid.yaml" "$g/dupid.yaml:2: id 'a1' is already used on line 1"
gz_case "$g/broken.yaml" "$g/broken.yaml:2:1:"
gz_case "$g/empty.tsv" "$g/empty.tsv: no header line"
gz_case "$g/missing.tsv" "$g/missing.tsv: cannot open: No such file or directory"
gz_case "$g/adir.tsv" "$g/adir.tsv: a directory, not a gazetteer file"
gz_case "$g/binary.tsv" "$g/binary.tsv:1: a NUL byte: not a text file"
gz_case /dev/zero "/dev/zero: not a regular file"
printf '%s\n' $'canonical\ttype\tid\taliases\tcountry' $'Zorblax\tLOC\t\t\tAZ' $'Quux\tLOC\t\t\taz' >"$g/badcountry.tsv"
gz_case "$g/badcountry.tsv" "$g/badcountry.tsv:3: country 'az' is not an ISO 3166-1 alpha-2 code"
printf '%s\n' '- {canonical: Vexmoor, type: LOC, country: Azerbaijan}' >"$g/badcountry.yaml"
gz_case "$g/badcountry.yaml" "$g/badcountry.yaml:1: country 'Azerbaijan' is not an ISO 3166-1 alpha-2 code"
# the same with the base lists and the model, and the bad list after a good one
printf '%s\n' "$H" $'Zorblax Industries\tORG\tz:1\tZorblax' >"$g/good.tsv"
gz_case "$g/dupid.tsv" "$g/dupid.tsv:3: id 'acme:1' is already used on line 2" "{gazetteers: [\"$g/good.tsv\", \"$g/dupid.tsv\"]}"

# well-formed lists in the three forms are accepted (BOM, CRLF, comments, quoting)
printf '\xef\xbb\xbf# my list\r\n%s\r\n%s\r\n# a comment after the header\r\n%s\r\n' "$H" \
    $'Zorblax Industries\tORG\tz:1\tZorblax' $'Quuxley Vandermeer\tPER\t\tVandermeer' >"$g/ok.tsv"
printf '%s\n' 'canonical,type,id,aliases' '"Flimbo, Inc.",ORG,f:1,Flimbo' '"The ""Gronk"" Group",ORG,,Gronk' >"$g/ok.csv"
printf '%s\n' '- {canonical: Trelawney Spoon, type: PER, aliases: [Spoon]}' '- canonical: Vexmoor' '  type: LOC' >"$g/ok.yaml"
printf 'Zorblax Industries hired Quuxley Vandermeer. Flimbo, Inc. and the "Gronk" Group met Trelawney Spoon in Vexmoor.\n' >"$work/in/names.txt"
pipeline "$work/p.yaml" "$(files "$work/in/names.txt")" \
    "{gazetteers: [\"$g/ok.tsv\", \"$g/ok.csv\", \"$g/ok.yaml\"], use_model: false}" "$work/o/names.jsonl"
expect 0 "well-formed TSV, CSV and YAML lists" -- "$TM" run "$work/p.yaml"
python3 - "$work/o/names.jsonl" <<'PY' && ok "every listed name found with its canonical" || bad "listed names not found"
import json, sys
d = json.loads(open(sys.argv[1], encoding="utf-8").readline())
got = {(a["canonical"], a["type"]) for a in d["annotations"]}
want = {("Zorblax Industries", "ORG"), ("Quuxley Vandermeer", "PER"), ("Flimbo, Inc.", "ORG"),
        ('The "Gronk" Group', "ORG"), ("Trelawney Spoon", "PER"), ("Vexmoor", "LOC")}
missing = want - got
assert not missing, missing
PY

# ministries get their official form, whichever way the text writes them, when
# the name or the word before it says the country; without one the printed form stays
printf '%s\n' "The Azerbaijani Defense Ministry said the Russian Defence Ministry agreed. Armenia's Defense Ministry and the Ministry of Defence of Georgia disagreed; the Turkish Foreign Ministry called. Officials at the Health Ministry said nothing." >"$work/in/min.txt"
pipeline "$work/p.yaml" "$(files "$work/in/min.txt")" "{}" "$work/o/min.jsonl"
expect 0 "ministries" -- "$TM" run "$work/p.yaml"
python3 - "$work/o/min.jsonl" <<'PY' && ok "ministries named in their official form" || bad "ministries' canonical names"
import json, sys
d = json.loads(open(sys.argv[1], encoding="utf-8").readline())
got = {a["label"]: a["canonical"] for a in d["annotations"] if a["type"] == "ORG"}
want = {"Azerbaijani Defense Ministry": "Ministry of Defense of Azerbaijan",
        "Russian Defence Ministry": "Ministry of Defense of Russia",
        "Defense Ministry": "Ministry of Defense of Armenia",
        "Ministry of Defence of Georgia": "Ministry of Defense of Georgia",
        "Turkish Foreign Ministry": "Ministry of Foreign Affairs of T\u00fcrkiye",
        "Health Ministry": "Health Ministry"}
bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
assert not bad, bad
PY
rm -rf "$work/o"

# --- model files: config error (2) naming the file, no output --------------------------
m="$work/model"
mkdir -p "$m/dir.tmner"
shipped=plugins/entities/model/ner-en.tmner
ver=$(od -An -tu4 -j8 -N4 "$shipped" | tr -d ' ')
cp "$shipped" "$m/other-version.tmner"
python3 - "$m/other-version.tmner" "$((ver + 1))" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(8)
    f.write(struct.pack("<I", int(sys.argv[2])))
PY
head -c 100000 "$shipped" >"$m/truncated.tmner"
head -c 300 "$shipped" >"$m/header-cut.tmner"
cp "$shipped" "$m/flipped.tmner" && printf 'X' | dd of="$m/flipped.tmner" bs=1 seek=5000 conv=notrunc 2>/dev/null
cp README.md "$m/readme.tmner"
: >"$m/empty.tmner"
model_case() { # model_case FILE MESSAGE...
    local f=$1; shift
    pipeline "$work/p.yaml" "$(files seeds/001_da75a60ae01185ed.txt)" "{model: \"$f\"}" "$work/o/out.jsonl"
    expect 2 "model $(basename "$f")" -- "$TM" run "$work/p.yaml"
    for msg in "$@"; do stderr_has "$msg"; done
    no_output
}
model_case "$m/other-version.tmner" "$m/other-version.tmner: NER model format version $((ver + 1)), but this build reads version $ver"
model_case "$m/truncated.tmner" "$m/truncated.tmner: truncated or damaged NER model (100000 bytes"
model_case "$m/header-cut.tmner" "$m/header-cut.tmner: truncated NER model (300 bytes"
model_case "$m/flipped.tmner" "$m/flipped.tmner: damaged NER model (checksum mismatch)"
model_case "$m/readme.tmner" "$m/readme.tmner: not a textmill NER model"
model_case "$m/empty.tmner" "$m/empty.tmner: an empty file, not a textmill NER model"
model_case "$m/missing.tmner" "$m/missing.tmner: cannot open NER model: No such file or directory"
model_case "$m/dir.tmner" "$m/dir.tmner: cannot read NER model: a directory"
model_case /dev/zero "/dev/zero: cannot read NER model: not a regular file"

# --- the cache of compiled gazetteers ------------------------------------------------------
rm -rf "$work/cache"
seeds="{use: files, with: {paths: [\"seeds/*.txt\"]}}"
pipeline "$work/c.yaml" "$seeds" "{gazetteers: [\"$g/ok.tsv\"]}" "$work/c/out.jsonl"
stats_has() { if grep -qE -- "$1" "$work/err"; then ok "stats: $1"; else bad "stats lack: $1"; fi; }
same_as() { if cmp -s "$work/c/out.jsonl" "$1"; then ok "$2: output byte-identical"; else bad "$2: output differs"; fi; }
expect 0 "first run: builds and caches" -- "$TM" run "$work/c.yaml" --stats
stats_has "gazetteer_cache_writes +2"
cp "$work/c/out.jsonl" "$work/first.jsonl"
gzc=$(ls "$cache"/gazetteer-*.tmcache 2>/dev/null | head -1)
ftc=$(ls "$cache"/features-*.tmcache 2>/dev/null | head -1)
[ -s "$gzc" ] && [ -s "$ftc" ] && ok "cache files in \$XDG_CACHE_HOME/textmill" || bad "no cache files in $cache"
expect 0 "second run: from the cache" -- "$TM" run "$work/c.yaml" --stats
stats_has "gazetteer_cache_hits +2"
same_as "$work/first.jsonl" "cached run"
expect 0 "cache: false" -- "$TM" run "$work/c.yaml" --stats --set entities.cache=false
grep -q gazetteer_cache "$work/err" && bad "cache: false used the cache" || ok "cache: false: no cache counters"
same_as "$work/first.jsonl" "uncached run"
# a list edited in place (same size) is noticed by its content
sed -i 's/Zorblax Industries/Zorblux Industries/' "$g/ok.tsv"
printf 'Zorblux Industries hired people.\n' >"$work/in/zorblux.txt"
pipeline "$work/z.yaml" "$(files "$work/in/zorblux.txt")" "{gazetteers: [\"$g/ok.tsv\"]}" "$work/c/z.jsonl"
expect 0 "after editing a list" -- "$TM" run "$work/z.yaml" --stats
stats_has "gazetteer_cache_writes +1"
grep -q '"canonical":"Zorblux Industries"' "$work/c/z.jsonl" && ok "the edited list is used" || bad "a stale cache was used"
sed -i 's/Zorblux Industries/Zorblax Industries/' "$g/ok.tsv"
"$TM" run "$work/c.yaml" --quiet
# damaged caches are rebuilt, with a word, and never change the output
damage() { # damage FILE HOW
    case $2 in
    flip) printf 'Z' | dd of="$1" bs=1 seek=$(($(stat -c %s "$1") / 2)) conv=notrunc 2>/dev/null ;;
    key) printf 'Z' | dd of="$1" bs=1 seek=30 conv=notrunc 2>/dev/null ;;
    truncate) truncate -s $(($(stat -c %s "$1") - 4096)) "$1" ;;
    header) truncate -s 40 "$1" ;;
    garbage) head -c 70000 /dev/urandom >"$1" ;;
    empty) : >"$1" ;;
    esac
}
for how in flip truncate header garbage empty key; do
    for f in "$gzc" "$ftc"; do
        damage "$f" $how
        expect 0 "cache $(basename "${f%%-*}") damaged ($how)" -- "$TM" run "$work/c.yaml" --stats
        stats_has "gazetteer_cache_writes +1"
        [ $how = key ] || stderr_has "gazetteer cache: $f:"
        same_as "$work/first.jsonl" "rebuilt after $how"
        expect 0 "then from the cache again" -- "$TM" run "$work/c.yaml" --stats
        stats_has "gazetteer_cache_hits +2"
    done
done
# a cache directory that cannot be written: the run goes on without a cache
pipeline "$work/u.yaml" "$seeds" "{gazetteers: [\"$g/ok.tsv\"], cache_dir: \"$work/in/names.txt/cache\"}" "$work/c/out.jsonl"
expect 0 "unwritable cache_dir" -- "$TM" run "$work/u.yaml" --stats
stderr_has "cannot create the cache directory $work/in/names.txt/cache"
same_as "$work/first.jsonl" "without a usable cache"
# cache_dir, and no cache at all with cache: false
pipeline "$work/d.yaml" "$seeds" "{gazetteers: [\"$g/ok.tsv\"], cache_dir: \"$work/mycache\"}" "$work/c/out.jsonl"
expect 0 "cache_dir" -- "$TM" run "$work/d.yaml"
[ -n "$(ls "$work/mycache"/gazetteer-*.tmcache 2>/dev/null)" ] && ok "cache_dir holds the cache" || bad "nothing in cache_dir"
rm -rf "$work/cache"
expect 0 "cache: false writes nothing" -- "$TM" run "$work/c.yaml" --set entities.cache=false
[ ! -e "$work/cache" ] && ok "no cache directory made" || bad "cache: false made $work/cache"
# two cold runs at once into one cache directory: both right, one cache file each
pipeline "$work/c2.yaml" "$seeds" "{gazetteers: [\"$g/ok.tsv\"]}" "$work/c/out2.jsonl"
timeout 60 "$TM" run "$work/c.yaml" --quiet & p1=$!
timeout 60 "$TM" run "$work/c2.yaml" --quiet & p2=$!
wait $p1 && wait $p2 && ok "two runs at once" || bad "parallel runs failed"
cmp -s "$work/c/out.jsonl" "$work/first.jsonl" && cmp -s "$work/c/out2.jsonl" "$work/first.jsonl" &&
    ok "both outputs right" || bad "parallel runs differ"
[ "$(ls -A "$cache" | wc -l)" -eq 2 ] && ok "two cache files, no temporary file left" || bad "cache dir holds: $(ls -A "$cache")"

echo "1..$n"
[ "$fails" -eq 0 ] || { echo "# $fails of $n failed"; exit 1; }
