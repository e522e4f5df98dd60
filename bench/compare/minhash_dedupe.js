// Near-duplicate detection with the `minhash` npm package (0.0.9, MIT), as a
// user would write it, for bench/run: the parameters of textmill's dedupe
// stage where the library has them.
//
//   node minhash_dedupe.js < docs.jsonl > kept.jsonl
//
// stdin:  JSONL, {"id", "text", ...} per line
// stdout: the lines of documents that are not a near copy of an earlier one
// stderr: at the end, one JSON line {"docs", "duplicates", "pairs", "seconds"}
//
// Like the stage's defaults: text lower-cased and cut into words at anything
// that is not a letter or digit; word 3-shingles; 128 permutations; LSH with
// 16 bands of 8 rows (bandSize 8); a candidate is a duplicate when its
// estimated Jaccard reaches 0.7 (threshold 0.8 - verify_margin 0.1).
// Differences: the library keeps 128 32-bit values per document (the stage
// one byte per value), hashes every shingle once per permutation, and has no
// exact-hash shortcut, case/Unicode normalisation or stories.
'use strict';
const { Minhash, LshIndex } = require('minhash');
const readline = require('readline');

const index = new LshIndex({ bandSize: 8 });
const sigs = new Map();
let docs = 0, dups = 0, pairs = 0;
const t0 = process.hrtime.bigint();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
rl.on('line', (line) => {
  const d = JSON.parse(line);
  docs++;
  const words = d.text.toLowerCase().split(/[^\p{L}\p{N}\p{M}]+/u).filter(Boolean);
  const m = new Minhash({ numPerm: 128 });
  if (words.length < 3) m.update(words.join(' '));
  for (let i = 0; i + 3 <= words.length; i++) m.update(words[i] + ' ' + words[i + 1] + ' ' + words[i + 2]);
  // the candidates: documents sharing a band (LshIndex.query() throws on a
  // band it has not seen, so the bands are looked up directly)
  const cand = new Set();
  for (const band of index.getHashbands(m)) for (const k of index.index[band] || []) cand.add(k);
  let dup = false;
  for (const k of cand) if (m.jaccard(sigs.get(k)) >= 0.7) { dup = true; pairs++; }
  if (dup) dups++;
  else {  // only kept documents are indexed, as the stage does
    const key = String(docs);
    sigs.set(key, m);
    index.insert(key, m);
    out.push(line);
  }
  if (out.length >= 1000) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
});
rl.on('close', () => {
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stderr.write(JSON.stringify({ docs, duplicates: dups, pairs, seconds }) + '\n');
});
