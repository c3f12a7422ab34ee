import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import {
  MeanAccumulator, combineMoments, linearRegression, linearRegressionParts, nanMean, pearson, sampleIndices, sampleWithoutReplacement,
} from '../../lib/analysis';
import { mulberry32 } from '../../lib/data/random';
import { FX } from './fixtures';

before(setupBackend);

test('regression line and Pearson r match numpy (polyfit, corrcoef)', () => {
  const f = FX.regression;
  const l = linearRegression(f.x, tf.tensor1d(f.y));
  assertClose([l.slope, l.intercept, l.r], [f.slope, f.intercept, f.r], 1e-5, 1e-5);
  assert.strictEqual(l.n, f.x.length);
  // hand: y = 2x + 1 exactly
  const h = linearRegression([0, 1, 2, 3], [1, 3, 5, 7]);
  assertClose([h.slope, h.intercept, h.r], [2, 1, 1], 1e-6);
  assert.ok(Number.isNaN(pearson([0.1, 0.1, 0.1], [1, 2, 3])));
  assert.ok(Number.isNaN(linearRegression([0.1, 0.1, 0.1], [1, 2, 3]).slope));
  assert.throws(() => pearson([1, 2], [1, 2, 3]), /same length/);
});

test('nanMean skips NaN only; mean and moments accumulators merge exactly', () => {
  assert.strictEqual(nanMean([1, NaN, 3]), 2);
  assert.ok(Number.isNaN(nanMean([NaN])));
  assert.strictEqual(nanMean([1, Infinity]), Infinity);
  const a = new MeanAccumulator();
  a.add(10, 4);
  const b = MeanAccumulator.fromJSON({ sum: 2, count: 1 });
  assert.strictEqual(a.merge(b).mean(), 12 / 5);
  // moments of {1, 2} and {4, 5, 9}: union mean 4.2, M2 = 10.24 + 4.84 + 0.04 + 0.64 + 23.04 = 38.8
  const m = combineMoments({ n: 2, sum: 3, m2: 0.5 }, { n: 3, sum: 18, m2: 14 });
  assert.strictEqual(m.n, 5);
  assert.strictEqual(m.sum, 21);
  assertClose([m.m2], [38.8], 1e-12);
});

test('mulberry32 and the seeded draw match an independent Python implementation', () => {
  const r = mulberry32(42);
  assertClose([r(), r(), r(), r(), r()], FX.sampling.seed42_first5, 0, 1e-15);
  const ids = Array.from({ length: 20 }, (_, i) => i);
  assert.deepStrictEqual(sampleWithoutReplacement(ids, 5, 7), FX.sampling.seed7_sample5_of_20);
  assert.deepStrictEqual(Array.from(sampleIndices(ids, 5, 7)), [...FX.sampling.seed7_sample5_of_20].sort((p: number, q: number) => p - q));
  assert.deepStrictEqual(sampleWithoutReplacement([3, 1, 2], 10, 0), [3, 1, 2]);
  assert.throws(() => sampleWithoutReplacement([1], -1, 0), /non-negative/);
});

test('column sums and tiling by outer products are exact', async () => {
  const { columnSums, tileRows, tileColumns } = await import('../../lib/analysis');
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  assert.deepStrictEqual(Array.from(tf.tidy(() => columnSums(x)).dataSync()), [5, 7, 9]);
  assert.deepStrictEqual(tf.tidy(() => tileRows(tf.tensor1d([0.1, 0.2]), 2)).arraySync(), [[Math.fround(0.1), Math.fround(0.2)], [Math.fround(0.1), Math.fround(0.2)]]);
  assert.deepStrictEqual(tf.tidy(() => tileColumns(tf.tensor1d([3, 4]), 3)).arraySync(), [[3, 3, 3], [4, 4, 4]]);
  assert.throws(() => columnSums(tf.zeros([2])), /\[rows, cols\]/);
});

test('linearRegressionParts: a line through parts by hand, and the same line as linearRegression over the joined values', () => {
  // y = 3x - 2 exactly, split unevenly (an empty part included)
  const l = linearRegressionParts([[0, 1], [], [2, 3, 4]], [[-2, 1], [], [4, 7, 10]]);
  assert.deepStrictEqual([l.slope, l.intercept, l.r, l.n], [3, -2, 1, 5]);
  const r = mulberry32(5);
  const x = Float32Array.from({ length: 1000 }, () => r() - 0.5);
  const y = Float32Array.from(x, (v) => -0.5 * v + 0.2 * (r() - 0.5));
  const whole = linearRegression(x, y);
  const parts = linearRegressionParts([x.subarray(0, 300), x.subarray(300)], [y.subarray(0, 300), y.subarray(300)]);
  for (const k of ['slope', 'intercept', 'r'] as const) assert.ok(Math.abs(parts[k] - whole[k]) < 1e-5, `${k}: ${parts[k]} vs ${whole[k]}`);
  assert.ok(Number.isNaN(linearRegressionParts([[1, 1, 1]], [[0, 1, 2]]).slope), 'constant x: no line');
  assert.throws(() => linearRegressionParts([[1, 2]], [[1]]), /part 0 has 2 x values but 1 y values/);
});
