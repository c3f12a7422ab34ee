#!/usr/bin/env node
'use strict';
/**
 * Writes data/circuits/bigram_demo.jsonl: next-token contrast prompt pairs (agreement-data layout) from the
 * shipped demo text, for the circuits-over-training notebook on the demo checkpoints (the tiny demo model
 * never learns subject-verb agreement, but it does learn its text's most frequent successors).
 * usage: npm run build && node tools/make_contrast_pairs.js [out.jsonl]
 */
const path = require('path');
const s = require('../dist/lib');

(async () => {
  const out = process.argv[2] || path.join(__dirname, '..', 'data', 'circuits', 'bigram_demo.jsonl');
  const tok = await s.loadTokenizer('saelab/demo-base');
  const ids = [];
  for await (const text of s.textsFromDataset('saelab/demo-text', { split: 'validation', column: 'text' })) {
    ids.push(...tok.encodeRaw(text), tok.bosTokenId);
    if (ids.length > 200000) break;
  }
  const records = s.checkpoints.nextTokenContrastRecords(Int32Array.from(ids), tok, { prefixTokens: 5, minCount: 100, minShare: 0.3, exclude: [tok.bosTokenId], maxTokens: 16, contextsPerToken: 4 });
  s.writeSvaJsonl(out, records);
  const { groups, skipped } = s.svaPromptPairs(records, tok);
  console.log(`${records.length} records -> ${out}; tokenized groups ${groups.map((g) => `${g.length}:${g.clean.length}`).join(' ')}, skipped ${skipped}`);
})().catch((e) => { console.error(e); process.exit(1); });
