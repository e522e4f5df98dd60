#!/usr/bin/env bash
# The html source and stage in the real binary, on bad pages generated here
# (nothing third-party): binary bytes, no <body>, an empty file, a 50 MB
# page, 10,000 nested <div>s, wrong charset claims both ways. Each is a
# per-document rejection with a warning naming the file, or best-effort text;
# the run succeeds as long as one good page is there, and never crashes.
#   bad_input.sh TEXTMILL SOURCE_DIR
set -u
TM=$1 SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0 n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$work/err" | head -40; }
expect() { # expect CODE DESCRIPTION -- command...
    local code=$1 what=$2; shift 3
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq "$code" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $code"; fi
}
stderr_has() { if grep -qF -- "$1" "$work/err"; then ok "message: $1"; else bad "stderr lacks: $1"; fi; }
pipeline() { # pipeline FILE SOURCE_YAML STAGES_YAML SINK_PATH
    printf 'version: 1\nsource: %s\nstages: %s\nsinks: [{use: jsonl, with: {path: "%s"}}]\n' \
        "$2" "$3" "$4" >"$1"
}

# --- the pages -----------------------------------------------------------------
p="$work/pages"
mkdir -p "$p"
cp "$SRC/tests/html/article.html" "$p/good.html"
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10' >"$p/image.html"
head -c 3000 /dev/urandom >>"$p/image.html"
printf 'just some words, no markup at all\n' >"$p/plain.html"
printf '<html><head><title>Nothing here</title></head></html>\n' >"$p/nobody.html"
printf '<html><head><title>Menus only</title></head><body><nav><a href="/">Home</a></nav></body></html>\n' >"$p/navonly.html"
: >"$p/empty.html"
# 10,000 nested <div>s around one paragraph: libxml2 stops at 256 levels
# (HTML_PARSE_HUGE is not used), so the page is rejected with that reason
python3 - "$p/deep.html" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("<html><body>" + "<div>" * 10000)
    f.write("<p>Deep inside ten thousand divisions, this sentence waits to be read.</p>")
    f.write("</div>" * 10000 + "</body></html>\n")
PY
# says Latin-1, holds UTF-8; says UTF-8, holds Latin-1 (with windows-1252 quotes)
printf '<html><head><meta charset="iso-8859-1"><title>Gr\xc3\xbc\xc3\x9fe</title></head><body><p>Gr\xc3\xbc\xc3\x9fe aus Troms\xc3\xb8, sagte die F\xc3\xa4hrfrau am Kai.</p></body></html>\n' >"$p/claims-latin1.html"
printf '<html><head><meta charset="utf-8"></head><body><p>Gr\xfc\xdfe aus Troms\xf8, \x93sagte\x94 die F\xe4hrfrau am Kai.</p></body></html>\n' >"$p/claims-utf8.html"
# a 50 MB page: a real article structure, repeated paragraphs
python3 - "$p/big.html" <<'PY'
import sys
para = ("<p>Paragraph %d of a very long page: the harbour master counted the boats, "
        "the nets and the crates of fish, and wrote every number into the ledger.</p>\n")
with open(sys.argv[1], "w") as f:
    f.write("<html><head><title>A very long page</title></head><body><nav><a href='/'>Home</a></nav><article>\n")
    i, size = 0, 0
    while size < 50 * 1024 * 1024:
        s = para % i
        f.write(s)
        size += len(s)
        i += 1
    f.write("</article></body></html>\n")
PY

# --- the source -------------------------------------------------------------------
out="$work/out.jsonl"
pipeline "$work/p.yaml" "{use: html, with: {paths: [\"$p/*.html\"]}}" "[]" "$out"
expect 0 "bad pages beside good ones" -- "$TM" run "$work/p.yaml" --stats
stderr_has "image.html: not HTML (binary bytes, or no '<' in the first kilobyte), skipped"
stderr_has "plain.html: not HTML"
stderr_has "nobody.html: no <body> content, skipped"
stderr_has "navonly.html: no main text found, skipped"
stderr_has "deep.html: nested deeper than libxml2's limit (256 levels) before any text, skipped"
stderr_has "empty.html: empty file, skipped"
stderr_has "rejected_not_html            2"
stderr_has "rejected_empty               3"
stderr_has "rejected_too_deep            1"
python3 - "$out" <<'PY' && ok "documents: good, big, both charsets; text and metadata right" || bad "wrong documents"
import json, sys
docs = {}
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    docs[d["id"]] = d
assert sorted(docs) == ["big", "claims-latin1", "claims-utf8", "good"], sorted(docs)
g = docs["good"]
assert g["meta"]["title"] == "Harbour town opens a library in its old lighthouse", g["meta"]
assert g["meta"]["author"] == "Maren Olsby; Tobias Wren"
assert g["meta"]["date"] == "2024-03-05"
assert g["meta"]["url"] == "https://courier.example/news/lighthouse-library"
assert g["meta"]["source"] == "The Coastal Courier"
assert g["meta"]["lang"] == "en"
assert g["meta"]["file"].endswith("/good.html")
assert "The disused lighthouse" in g["text"] and "Related stories" not in g["text"]
assert docs["claims-latin1"]["text"] == "Grüße aus Tromsø, sagte die Fährfrau am Kai.", docs["claims-latin1"]["text"]
assert docs["claims-latin1"]["meta"]["title"] == "Grüße"
assert docs["claims-utf8"]["text"] == "Grüße aus Tromsø, “sagte” die Fährfrau am Kai.", docs["claims-utf8"]["text"]
b = docs["big"]["text"]
assert b.startswith("Paragraph 0 of a very long page") and "Home" not in b[:100], b[:100]
assert len(b) > 10 * 1024 * 1024, len(b)
assert docs["big"]["meta"]["author"] is None   # absent fields are null, never missing
PY

# max_bytes: the big page is refused without being read
pipeline "$work/p.yaml" "{use: html, with: {paths: [\"$p/*.html\"], max_bytes: 1MB}}" "[]" "$out"
expect 0 "max_bytes: 1MB" -- "$TM" run "$work/p.yaml" --stats
stderr_has "big.html: 52"
stderr_has "more than max_bytes (1048576), skipped"
stderr_has "rejected_too_large           1"
# min_text_bytes
pipeline "$work/p.yaml" "{use: html, with: {paths: [\"$p/claims-*.html\", \"$p/good.html\"], min_text_bytes: 200}}" "[]" "$out"
expect 0 "min_text_bytes: 200" -- "$TM" run "$work/p.yaml"
stderr_has "claims-utf8.html: main text shorter than min_text_bytes, skipped"
[ "$(wc -l <"$out")" -eq 1 ] && ok "only the long page is left" || bad "min_text_bytes ignored"

# every page rejected: the host's "no input"
pipeline "$work/p.yaml" "{use: html, with: {paths: [\"$p/image.html\", \"$p/empty.html\"]}}" "[]" "$out"
expect 3 "only bad pages" -- "$TM" run "$work/p.yaml"
stderr_has "no input: source 'html' read no documents"
# a missing file named without wildcards is an input error, as for `files`
pipeline "$work/p.yaml" "{use: html, with: {paths: [\"$p/none.html\"]}}" "[]" "$out"
expect 3 "missing page" -- "$TM" run "$work/p.yaml"
stderr_has "none.html: No such file or directory"

# --- the stage --------------------------------------------------------------------
python3 - "$work/crawl.jsonl" "$p/good.html" <<'PY'
import json, sys
good = open(sys.argv[2], encoding="utf-8").read()
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(json.dumps({"id": "a", "html": good, "url": "https://crawler.example/a", "title": None}) + "\n")
    f.write(json.dumps({"id": "b", "html": "plain text, not a page"}) + "\n")
    f.write(json.dumps({"id": "c", "html": "<html><head><title>t</title></head></html>"}) + "\n")
    f.write(json.dumps({"id": "d", "html": "<div>" * 10000 + "<p>Nested text.</p>"}) + "\n")
    f.write(json.dumps({"id": "e", "html": "<p>Shallow text first.</p>" + "<div>" * 10000 + "<p>Nested text.</p>"}) + "\n")
PY
pipeline "$work/s.yaml" "{use: jsonl, with: {paths: [\"$work/crawl.jsonl\"], text_field: html}}" "[{use: html}]" "$out"
expect 0 "stage on a crawl" -- "$TM" run "$work/s.yaml" --stats
stderr_has "dropped no_text              1"
stderr_has "dropped too_deep             1"
stderr_has "passed_not_html              1"
stderr_has "truncated                    1"
python3 - "$out" <<'PY' && ok "stage: text replaced, record metadata kept, page metadata filled" || bad "stage output wrong"
import json, sys
docs = {d["id"]: d for d in map(json.loads, open(sys.argv[1], encoding="utf-8"))}
assert sorted(docs) == ["a", "b", "e"], sorted(docs)
a = docs["a"]
assert a["text"].startswith("Harbour town opens a library"), a["text"][:80]
assert a["meta"]["url"] == "https://crawler.example/a"          # the record's own value stays
assert a["meta"]["title"] == "Harbour town opens a library in its old lighthouse"  # null is filled
assert a["meta"]["author"] == "Maren Olsby; Tobias Wren"
assert a["meta"]["lang"] == "en"
assert docs["b"]["text"] == "plain text, not a page"
assert docs["e"]["text"] == "Shallow text first.", docs["e"]["text"][:100]  # best effort
PY
pipeline "$work/s.yaml" "{use: jsonl, with: {paths: [\"$work/crawl.jsonl\"], text_field: html}}" "[{use: html, with: {skip_non_html: false}}]" "$out"
expect 0 "stage with skip_non_html: false" -- "$TM" run "$work/s.yaml" --stats
stderr_has "dropped not_html"
[ "$(wc -l <"$out")" -eq 2 ] && ok "two documents left (a, e)" || bad "skip_non_html: false kept the text"

echo "1..$n"
[ "$fails" -eq 0 ] || { echo "# $fails of $n failed"; exit 1; }
