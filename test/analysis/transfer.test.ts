import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import {
  ActivationErrorAccumulator, ColumnPearsonAccumulator, columnPearson, featureFamilies, logitSimilarity, logitVectors,
  rowPearson, summarizeScores, unembedComparison,
} from '../../lib/analysis';
import { FX, nums } from './fixtures';

before(setupBackend);

test('feature families by the published thresholds (hand values)', () => {
  //            0    1    2    3    4     5     6    7
  const base = [-10, -10, -8.5, -3, -2, -0.5, -7, -5];
  const ft = [-10, -3, -9.5, -10, -4, -1, -8, -1];
  const f = featureFamilies(base, ft, { seed: 1 });
  assert.strictEqual(f.deadBase, 2); // <= -9: features 0, 1
  assert.strictEqual(f.deadFinetune, 3); // 0, 2, 3
  assert.strictEqual(f.deadFractionBase, 2 / 8);
  assert.deepStrictEqual(Array.from(f.exclusivelyDeadBase.sampled), [1]); // base <= -8, ft > -8
  assert.deepStrictEqual(Array.from(f.exclusivelyDeadFinetune.sampled), [3, 6]); // ft <= -8, base > -8
  assert.deepStrictEqual(Array.from(f.dense.sampled), [4, 7]); // both in [-5, -1] inclusive
  assert.strictEqual(f.dense.total, 2);
  assert.throws(() => featureFamilies([1], [1, 2], { seed: 0 }), /same SAE/);
});

test('family sampling is capped, seeded and reproducible', () => {
  const n = 5000;
  const base = new Float32Array(n).fill(-3);
  const ft = new Float32Array(n).fill(-3);
  for (let i = 0; i < 300; i++) base[i] = -10; // 300 exclusively dead in base
  const a = featureFamilies(base, ft, { seed: 42 });
  const b = featureFamilies(base, ft, { seed: 42 });
  const c = featureFamilies(base, ft, { seed: 43 });
  assert.strictEqual(a.exclusivelyDeadBase.total, 300);
  assert.strictEqual(a.exclusivelyDeadBase.sampled.length, 100);
  assert.strictEqual(a.dense.total, 4700);
  assert.strictEqual(a.dense.sampled.length, 1000);
  assert.deepStrictEqual(a.dense.sampled, b.dense.sampled);
  assert.deepStrictEqual(a.exclusivelyDeadBase.sampled, b.exclusivelyDeadBase.sampled);
  assert.notDeepStrictEqual(a.dense.sampled, c.dense.sampled);
  assert.strictEqual(new Set(a.dense.sampled).size, 1000);
  assert.ok(a.exclusivelyDeadBase.sampled.every((i) => i < 300));
  assert.ok(a.dense.sampled.every((v, i, arr) => i === 0 || arr[i - 1] < v), 'sampled ids ascending');
  const capped = featureFamilies(base, ft, { seed: 1, denseCap: 5, exclusivelyDeadCap: 2 });
  assert.strictEqual(capped.dense.sampled.length, 5);
  assert.strictEqual(capped.exclusivelyDeadBase.sampled.length, 2);
});

test('per-feature activation Pearson as np.corrcoef (NaN for constant features) and log error', () => {
  const f = FX.feature_pearson;
  const [T, F] = f.shape;
  const x = tf.tensor2d(f.base, [T, F]);
  const y = tf.tensor2d(f.finetune, [T, F]);
  const r = columnPearson(x, y);
  assertClose(r, nums(f.corr), 1e-5, 1e-5, 'corr');
  assert.ok(Number.isNaN(r[3]) && Number.isNaN(r[4]));
  assertClose([summarizeScores(r).mean], [f.nanmean], 1e-5);
  assert.strictEqual(summarizeScores(r).nanCount, 2);
  // streamed in uneven batches and merged shards: same figures
  const s1 = new ColumnPearsonAccumulator(F);
  const s2 = new ColumnPearsonAccumulator(F);
  s1.add(x.slice([0, 0], [7, F]), y.slice([0, 0], [7, F]));
  s1.add(x.slice([7, 0], [20, F]), y.slice([7, 0], [20, F]));
  s2.add(x.slice([27, 0], [T - 27, F]), y.slice([27, 0], [T - 27, F]));
  const merged = ColumnPearsonAccumulator.fromJSON(JSON.parse(JSON.stringify(s1.toJSON()))).merge(s2).correlations();
  assertClose(merged, nums(f.corr), 1e-5, 1e-5, 'merged corr');
  const e1 = new ActivationErrorAccumulator(F);
  const e2 = new ActivationErrorAccumulator(F);
  e1.add(x.slice([0, 0], [10, F]), y.slice([0, 0], [10, F]));
  e2.add(x.slice([10, 0], [T - 10, F]), y.slice([10, 0], [T - 10, F]));
  assertClose(ActivationErrorAccumulator.fromJSON(e1.toJSON()).merge(e2).errors(), f.log_error, 1e-4, 1e-5, 'log error');
  tf.dispose([x, y]);
});

test('constant columns give NaN even when their float32 mean is inexact; r in [-1, 1]', () => {
  const x = tf.tensor2d([[0.1, 1], [0.1, 2], [0.1, 3]]);
  const y = tf.tensor2d([[1, 2], [2, 4], [3, 6]]);
  const r = columnPearson(x, y);
  assert.ok(Number.isNaN(r[0]));
  assert.strictEqual(r[1], 1);
  assertClose(rowPearson(tf.tensor2d([[1, 2, 3], [3, 2, 1]]), tf.tensor2d([[2, 4, 6], [1, 2, 3]])), [1, -1], 1e-6);
});

test('logit vectors, logit similarity over the vocabulary and W_U Frobenius figures match numpy', () => {
  const f = FX.logits;
  const wDec = tf.tensor2d(f.W_dec, [f.n, f.d]);
  const wU = tf.tensor2d(f.W_U, [f.d, f.V]);
  const wU2 = tf.tensor2d(f.W_U_ft, [f.d, f.V]);
  const lv = logitVectors(wDec, wU);
  assertClose(lv.dataSync(), f.logits_base, 1e-5, 1e-5, 'logits');
  lv.dispose();
  // all features, in chunks of 3 (uneven) to exercise chunking; then a subset in a different order
  assertClose(logitSimilarity(wDec, wU, wU2, [0, 1, 2, 3], 3), f.corr, 1e-5, 1e-5, 'logit corr');
  assertClose(logitSimilarity(wDec, wU, wU2, [2, 0]), [f.corr[2], f.corr[0]], 1e-5, 1e-5);
  const u = unembedComparison(wU, wU2, 2);
  assertClose([u.frobeniusRatio, u.frobeniusDiff], [f.fro_ratio, f.fro_diff], 1e-5, 1e-5);
  assert.throws(() => logitSimilarity(wDec, wU, tf.zeros([f.d, f.V + 1]) as tf.Tensor2D, [0]), /differ/);
  tf.dispose([wDec, wU, wU2]);
});

test('score summary: NaN-skipping mean and share above the threshold', () => {
  const s = summarizeScores([0.9, NaN, 0.5, 0.85, NaN]);
  assert.strictEqual(s.mean, (0.9 + 0.5 + 0.85) / 3);
  assert.strictEqual(s.nanCount, 2);
  assert.strictEqual(s.fractionAbove, 2 / 3);
  assert.ok(Number.isNaN(summarizeScores([NaN]).mean));
});
