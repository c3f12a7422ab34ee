import { test } from 'node:test';
import * as assert from 'assert';
import { analyzeChains, ChainInput } from '../../lib/checkpoints/chains';
import { MatchingMemo, matchBySimilarity } from '../../lib/checkpoints/match';
import { stableFeaturesTable, latestBornTable, chainEventsSpec, driftSpec, chainAgeSpec } from '../../lib/checkpoints/chainReport';
import { assertClose } from '../helpers';

const m = (rows: number[][]) => ({ values: Float32Array.from(rows.flat()), rows: rows.length, cols: rows[0].length });

// steps 0 -> 100: a0 continues as b0; a1 continues as b1 and also has a strong partner b2 (a split); a2 has no good partner (dies);
// b2 and b3 are new. 100 -> 200: b1 and b2 both strongly resemble c1 (a merge); b2's matched partner c2 is weak (b2 dies, c2 is born).
const consecutive = [
  m([[0.9, 0.1, 0.0, 0.0],
    [0.1, 0.6, 0.55, 0.0],
    [0.0, 0.0, 0.1, 0.2]]),
  m([[0.95, 0, 0, 0],
    [0, 0.8, 0, 0],
    [0, 0.7, 0.1, 0],
    [0, 0, 0, 0.9]]),
];
const toFinal = [
  m([[0.8, 0, 0, 0],
    [0, 0.5, 0.3, 0],
    [0, 0, 0, 0.1]]),
  consecutive[1],
];
const input: ChainInput = { steps: [0, 100, 200], consecutive, toFinal };

test('chains, births, deaths, splits and merges on hand-built similarity matrices', () => {
  const a = analyzeChains(input, { matchThreshold: 0.5, strongThreshold: 0.5 });
  // optimal consecutive matchings (worked out by hand: a0-b0, a1-b1, a2-b3 beats a1-b2)
  assert.deepStrictEqual(Array.from(a.nextPartner[0]), [0, 1, 3]);
  assert.deepStrictEqual(Array.from(a.nextPartner[1]), [0, 1, 2, 3]);
  assert.deepStrictEqual(a.chains.map((c) => [c.start, c.end, c.features]), [
    [0, 2, [0, 0, 0]], [0, 2, [1, 1, 1]], [0, 0, [2]], [1, 1, [2]], [1, 2, [3, 3]], [2, 2, [2]],
  ]);
  assertClose(a.chains.map((c) => c.minLink), [0.9, 0.6, 1, 1, 0.9, 1], 1e-6);
  assertClose(a.chains[1].links, [0.6, 0.8], 1e-6);
  assert.deepStrictEqual(a.splits.map((s) => [s.from, s.feature, s.partners]), [[0, 1, [1, 2]]]);
  assert.deepStrictEqual(a.merges.map((s) => [s.from, s.feature, s.partners]), [[1, 1, [1, 2]]]);
  assert.deepStrictEqual(a.events.map((e) => [e.step, e.alive, e.births, e.deaths, e.splits, e.merges]), [
    [0, 3, 0, 1, 1, 0],
    [100, 4, 2, 1, 0, 0],
    [200, 4, 1, 0, 0, 1],
  ]);
  // drift: optimal matching to the final checkpoint (a0-c0 0.8, a1-c1 0.5, a2-c3 0.1), chain similarity to its own end
  assertClose(a.events.map((e) => e.meanSimilarityToFinal), [(0.8 + 0.5 + 0.1) / 3, (0.95 + 0.8 + 0.1 + 0.9) / 4, 1], 1e-6);
  assertClose(a.events.slice(0, 2).map((e) => e.meanSimilarityToNext), [(0.9 + 0.6 + 0.2) / 3, (0.95 + 0.8 + 0.1 + 0.9) / 4], 1e-6);
  assert.ok(Number.isNaN(a.events[2].meanSimilarityToNext));
  assertClose(a.chains[0].drift!, [0.8, 0.95, 1], 1e-6);
  assertClose(a.chains[1].drift!, [0.5, 0.8, 1], 1e-6);
  assert.strictEqual(a.chains[2].drift, undefined);
  // with the default threshold 0.7, a1 -> b1 (0.6) is no longer a continuation: a1 dies and b1 is born
  const strict = analyzeChains(input);
  assert.deepStrictEqual(strict.events.map((e) => [e.births, e.deaths]), [[0, 2], [3, 1], [1, 0]]);
});

test('dead features take part in nothing; tables and plots', () => {
  const alive = [Uint8Array.from([1, 1, 1]), Uint8Array.from([1, 1, 1, 0]), Uint8Array.from([1, 1, 1, 1])];
  const a = analyzeChains({ ...input, alive }, { matchThreshold: 0.5 });
  assert.deepStrictEqual(Array.from(a.nextPartner[0]), [0, 1, 2]);
  assert.strictEqual(a.nextPartner[1][3], -1);
  assert.strictEqual(a.chainOf[1][3], -1);
  assert.deepStrictEqual(a.events.map((e) => [e.alive, e.births, e.deaths]), [[3, 0, 1], [3, 1, 1], [4, 2, 0]]);

  const full = analyzeChains(input, { matchThreshold: 0.5 });
  const stable = stableFeaturesTable(full, { contexts: (f) => `ctx${f}` });
  assert.deepStrictEqual(stable.map((r) => [r.feature, r['born at step'], r.checkpoints]), [[0, 0, 3], [1, 0, 3], [3, 100, 2], [2, 200, 1]]);
  assert.strictEqual(stable[0].chain, '0:0 > 100:0 > 200:0');
  assert.strictEqual(stable[0]['top contexts'], 'ctx0');
  assert.deepStrictEqual(latestBornTable(full).map((r) => [r.feature, r['born at step']]), [[2, 200], [3, 100]]);
  const ev = chainEventsSpec(full) as unknown as { data: { values: Array<Record<string, unknown>> } };
  assert.deepStrictEqual(ev.data.values.filter((r) => r.series === 'births').map((r) => [r.x, r.y]), [[0, 0], [100, 2], [200, 1]]);
  const dr = driftSpec(full) as unknown as { data: { values: Array<Record<string, unknown>> } };
  assert.strictEqual(dr.data.values.find((r) => r.series === 'to next checkpoint' && r.x === 200)!.y, null);
  const age = chainAgeSpec(full) as unknown as { data: { values: Array<Record<string, unknown>> } };
  // chains born at step 0 alive at 0, 100, 200: 3, 2, 2
  assert.deepStrictEqual(age.data.values.filter((r) => r.series === 'born at 0').map((r) => r.y), [3, 2, 2]);
  assert.throws(() => analyzeChains({ steps: [0, 1], consecutive: [] }), /need 1 consecutive/);
  assert.throws(() => analyzeChains({ steps: [0, 1, 2], consecutive: [consecutive[0], consecutive[0]] }), /consecutive\[1\] has 3 rows but checkpoint 1 has 4/);
});

test('MatchingMemo: each matrix is assigned once (the last consecutive matrix is also the last to-final one), with the same results as without it', () => {
  const memo = new MatchingMemo();
  const a = analyzeChains(input, { matchThreshold: 0.5, strongThreshold: 0.5 }, memo);
  // 2 consecutive matrices + toFinal[0]; toFinal[1] is consecutive[1] itself
  assert.strictEqual(memo.computed, 3);
  const b = analyzeChains(input, { matchThreshold: 0.5, strongThreshold: 0.5 });
  assert.deepStrictEqual(a, b);
  // stage 11 saves the matching of each consecutive matrix under its own method name: reused, and equal to a fresh one
  for (const sim of consecutive) assert.deepStrictEqual(memo.match(sim, 'activation'), matchBySimilarity(sim, 'activation'));
  assert.strictEqual(memo.computed, 3);
  // with dead features the masked copies are new matrices: the unmasked ones are assigned on their own
  const alive = [Uint8Array.from([1, 1, 1]), Uint8Array.from([1, 1, 1, 0]), Uint8Array.from([1, 1, 1, 1])];
  const dead = new MatchingMemo();
  analyzeChains({ ...input, alive }, { matchThreshold: 0.5 }, dead);
  assert.deepStrictEqual(dead.match(consecutive[0], 'activation'), matchBySimilarity(consecutive[0], 'activation'));
});
