import { test } from 'node:test';
import * as assert from 'assert';
import { bigramStats, nextTokenContrastRecords } from '../../lib/checkpoints/contrastPairs';

const tok = { decode: (ids: ArrayLike<number>) => Array.from(ids, (i) => `<${i}>`).join('') };
// the unit 7 8 1 2 7 8 3 4, ten times: 7 -> 8 (20), 8 -> 1 / 3 (10 each), 1 -> 2, 2 -> 7, 3 -> 4 (10 each), 4 -> 7 (9)
const stream = Array.from({ length: 10 }, () => [7, 8, 1, 2, 7, 8, 3, 4]).flat();

test('bigram statistics by hand: counts and most frequent successors (ties to the smaller id)', () => {
  const s = bigramStats(stream);
  assert.deepStrictEqual([7, 8, 1, 2, 3, 4].map((t) => s.count.get(t)), [20, 20, 10, 10, 10, 9]);
  assert.deepStrictEqual([7, 8, 1, 2, 3, 4].map((t) => s.top.get(t)), [[8, 20], [1, 10], [2, 10], [7, 10], [4, 10], [7, 9]]);
  assert.strictEqual(bigramStats(stream, new Set([8])).count.get(7), undefined, 'pairs touching an excluded token are skipped');
});

test('contrast records: qualifying tokens, partners with a different answer, contexts from the stream', () => {
  const r = nextTokenContrastRecords(stream, tok, { prefixTokens: 2, minCount: 10, minShare: 0.5, contextsPerToken: 1 });
  // qualifying (count >= 10, top share >= 0.5), by count then id: 7, 8, 1, 2, 3 (4 has 9); each paired with the next
  // one whose top successor differs: 7-8, 8-1, 1-2, 2-3, 3-7; context = the 2 tokens before the first occurrence at i >= 2
  assert.deepStrictEqual(r.map((x) => [x.clean_prefix, x.patch_prefix, x.clean_answer, x.patch_answer]), [
    ['<1><2><7>', '<1><2><8>', '<8>', '<1>'],
    ['<2><7><8>', '<2><7><1>', '<1>', '<2>'],
    ['<7><8><1>', '<7><8><2>', '<2>', '<7>'],
    ['<8><1><2>', '<8><1><3>', '<7>', '<4>'],
    ['<7><8><3>', '<7><8><7>', '<4>', '<8>'],
  ]);
  assert.strictEqual(r[0].case, 'bigram:"<7>"->"<8>"');
  assert.strictEqual(nextTokenContrastRecords(stream, tok, { minCount: 21 }).length, 0);
});
