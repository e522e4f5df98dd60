// Tags entity mentions with compromise, for bench/entities/run.
//
//   node compromise_tag.mjs < docs.jsonl > mentions.jsonl
//
// stdin:  one JSON object per line, {"id": ..., "text": ...}
// stdout: one JSON object per line, {"id": ..., "mentions": [[start, end, type], ...]}
//         with UTF-8 byte offsets into text (end exclusive), like textmill's annotations
// stderr: at the end, one JSON line {"docs", "chars", "load_seconds", "tag_seconds"}:
//         tag_seconds is the time spent tagging and extracting mentions only
//         (not reading, parsing or writing JSON, not node's startup).
//
// Types: people() -> PER, organizations() -> ORG, places() -> LOC, and runs of
// the #Demonym tag (Turkish, Armenians) -> MISC; compromise has nothing else
// that fits CoNLL's MISC.
//
// compromise's match offsets cover whole terms with their punctuation
// ("Baku, Azerbaijan." is one place), so spans are rebuilt from the terms,
// with the span conventions of the gold (tests/gold/NOTES.md, section 3):
//   - a match is cut where punctuation other than a hyphen separates two terms;
//   - leading titles (#Honorific: President, Mr.) are left out;
//   - a possessive 's / ’s at the end is left out;
//   - the period of an abbreviation (Inc., U.S.) is kept.
import { createInterface } from 'node:readline';

const t0 = process.hrtime.bigint();
const nlp = (await import('compromise')).default;
const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

// byte[i] = the UTF-8 byte offset of UTF-16 index i of text (i = 0 .. length)
function byteOffsets(text) {
  const byte = new Uint32Array(text.length + 1);
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    byte[i] = b;
    const c = text.charCodeAt(i);
    if (c < 0x80) b += 1;
    else if (c < 0x800) b += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { byte[++i] = b; b += 4; } else b += 3;
    } else b += 3; // the rest of the BMP, and a lone surrogate (U+FFFD when written)
  }
  byte[text.length] = b;
  return byte;
}

// Punctuation between two terms that ends a mention: anything but spaces and hyphens.
const separates = (post) => /[^\s\-\u2010\u2011\u2013]/.test(post.replace(/^\./, ''));

// [start, end) in UTF-16 units of the mentions in one match's terms
function termSpans(terms) {
  const groups = [[]];
  terms.forEach((t, i) => {
    groups[groups.length - 1].push(t);
    if (i + 1 < terms.length && separates(t.post)) groups.push([]);
  });
  const spans = [];
  for (let g of groups) {
    while (g.length && g[0].tags.includes('Honorific')) g = g.slice(1);
    if (!g.length) continue;
    const last = g[g.length - 1];
    const start = g[0].offset.start;
    let end = last.offset.start + last.offset.length;
    if (/['\u2019]s$/i.test(last.text) && last.text.length > 2) end -= 2;
    else if (last.tags.includes('Abbreviation') && last.post.startsWith('.')) end += 1;
    if (end > start) spans.push([start, end]);
  }
  return spans;
}

function tag(text) {
  const doc = nlp(text);
  const kinds = [
    ['PER', doc.people()], ['ORG', doc.organizations()],
    ['LOC', doc.places()], ['MISC', doc.match('#Demonym+')],
  ];
  const byte = byteOffsets(text);
  const out = [];
  for (const [type, view] of kinds)
    for (const m of view.json({ offset: true, terms: { offset: true } }))
      for (const [s, e] of termSpans(m.terms)) out.push([byte[s], byte[e], type]);
  return out;
}

let docs = 0, chars = 0, tagNs = 0n;
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const d = JSON.parse(line);
  const t = process.hrtime.bigint();
  const mentions = tag(d.text);
  tagNs += process.hrtime.bigint() - t;
  docs++;
  chars += d.text.length;
  process.stdout.write(JSON.stringify({ id: d.id, mentions }) + '\n');
}
process.stderr.write(JSON.stringify({
  docs, chars, load_seconds: loadSeconds, tag_seconds: Number(tagNs) / 1e9,
}) + '\n');
