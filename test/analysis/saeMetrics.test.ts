import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import {
  CeAccumulator, FeatureDensityAccumulator, L0Accumulator, LogActivationHistogramAccumulator, ReconstructionAccumulator,
  ceLossScore, explainedVariancePerToken, logActivationHistogram, logDensity, meanL0,
} from '../../lib/analysis';
import { FX, nums } from './fixtures';

before(setupBackend);

test('L0 counts features above 1e-8 per token (hand values)', () => {
  const acc = new L0Accumulator();
  acc.add(tf.tensor2d([[0, 2e-8, 5e-9, 1], [0.5, 0, 0, 0]])); // 2 and 1 active
  acc.add(tf.tensor3d([[[3, 3, 3, 0]]])); // 3 active
  assert.strictEqual(acc.l0(), 2);
  const other = new L0Accumulator();
  other.add(tf.tensor2d([[0, 0, 0, 0]]));
  assert.strictEqual(L0Accumulator.fromJSON(acc.toJSON()).merge(other).l0(), 6 / 4);
});

test('feature densities, log densities and dead fraction (hand values)', () => {
  const acc = new FeatureDensityAccumulator(4);
  acc.add(tf.tensor2d([[1e-11, 2e-10, 0, 1], [0, 1, 0, 1]]));
  const shard = new FeatureDensityAccumulator(4);
  shard.add(tf.tensor2d([[0, 0, 0, 1], [0, 0, 0, 1]]));
  acc.merge(FeatureDensityAccumulator.fromJSON(JSON.parse(JSON.stringify(shard.toJSON()))));
  assert.deepStrictEqual(Array.from(acc.counts), [0, 2, 0, 4]);
  assertClose(acc.densities(), [0, 0.5, 0, 1], 1e-7);
  assertClose(acc.logDensities(), [-10, Math.log10(0.5 + 1e-10), -10, 0], 2e-6);
  assert.strictEqual(acc.deadFraction(), 0.5);
  assertClose(logDensity([1e-3]), [Math.log10(1e-3 + 1e-10)], 1e-6);
  assert.throws(() => acc.add(tf.zeros([2, 3])), /d_sae = 4/);
});

test('R2 as published and SAELens explained variance (hand values, outlier row excluded)', () => {
  // kept tokens x = [[1,2],[3,4]], x_hat = [[1,2],[3,3]]: SSE 1; scalar mean 2.5, SST 5 -> R2 0.8;
  // per-dim variances 1 and 1 (population) -> E|x - x_hat|^2 = 0.5, EV = 1 - 0.5 / 2 = 0.75
  const x = tf.tensor2d([[1, 2], [Infinity, 7], [3, 4]]);
  const xh = tf.tensor2d([[1, 2], [0, 0], [3, 3]]);
  const keep = tf.tensor1d([1, 0, 1], 'bool');
  const acc = new ReconstructionAccumulator(2);
  acc.add(x, xh, keep);
  const s = acc.summary();
  assertClose([s.r2, s.explainedVariance, s.mse], [0.8, 0.75, 0.25], 1e-6);
  assert.strictEqual(s.tokens, 2);
  tf.dispose([x, xh, keep]);
});

test('reconstruction metrics match numpy, and merged shards equal one pass', () => {
  const f = FX.reconstruction;
  const [T, D] = f.shape;
  const x = tf.tensor2d(f.x, [T, D]);
  const xh = tf.tensor2d(f.x_hat, [T, D]);
  const keep = tf.tensor1d(nums(f.keep));
  const one = new ReconstructionAccumulator(D);
  one.add(x, xh, keep);
  assertClose([one.summary().r2, one.summary().explainedVariance, one.summary().mse], [f.r2, f.explained_variance, f.mse], 1e-5, 1e-5);
  const shards = [0, 5, 9, T].slice(0, -1).map((start, i, arr) => {
    const end = i + 1 < arr.length ? arr[i + 1] : T;
    const a = new ReconstructionAccumulator(D);
    a.add(x.slice([start, 0], [end - start, D]), xh.slice([start, 0], [end - start, D]), keep.slice([start], [end - start]));
    return a;
  });
  const merged = ReconstructionAccumulator.fromJSON(JSON.parse(JSON.stringify(shards[0].toJSON()))).merge(shards[1]).merge(shards[2]);
  assertClose([merged.summary().r2, merged.summary().explainedVariance], [f.r2, f.explained_variance], 1e-5, 1e-5);
  assert.strictEqual(merged.summary().tokens, T - 2);
  tf.dispose([x, xh, keep]);
});

test('CE: token-weighted means, inf/NaN batches counted and reported, CE loss score', () => {
  const acc = new CeAccumulator();
  acc.add({ clean: 2, spliced: 3, zero: 6, tokens: 10 });
  acc.add({ clean: Infinity, spliced: 1, zero: 6, tokens: 10 });
  const shard = new CeAccumulator();
  shard.add({ clean: 4, spliced: 5, zero: 8, tokens: 30, batch: 7 });
  shard.addTokenLosses(tf.tensor1d([1, NaN]), tf.tensor1d([1, 1]), tf.tensor1d([1, 1]), 8);
  const s = CeAccumulator.fromJSON(JSON.parse(JSON.stringify(acc.toJSON()))).merge(shard).summary();
  assert.strictEqual(s.cleanLoss, (20 + 120) / 40);
  assert.strictEqual(s.splicedLoss, (30 + 150) / 40);
  assert.strictEqual(s.delta, 1);
  assert.strictEqual(s.zeroLoss, (60 + 240) / 40);
  assertClose([s.ceLossScore!], [(7.5 - 4.5) / (7.5 - 3.5)], 1e-12);
  assert.strictEqual(s.batches, 2);
  assert.strictEqual(s.tokens, 40);
  assert.strictEqual(s.nonFiniteBatches, 2);
  assert.deepStrictEqual(s.nonFinite, [
    { batch: 1, clean: 'Infinity', spliced: '1', zero: '6' },
    { batch: 8, clean: 'NaN', spliced: '1', zero: '1' },
  ]);
  assert.strictEqual(ceLossScore(2, 3, 6), 0.75);
  const noZero = new CeAccumulator();
  noZero.add({ clean: 1, spliced: 2, tokens: 5 });
  assert.strictEqual(noZero.summary().ceLossScore, undefined);
  assert.throws(() => noZero.add({ clean: 1, spliced: 2, tokens: 0 }), /tokens = 0/);
});

test('activation log-histogram: log10(|a| + 1e-10), zero bin annotated (hand values)', () => {
  // logs: -10, -10, 0, 1, 2 (|-10| too); 3 bins over [-10, 2]: edges -10, -6, -2, 2
  const a = tf.tensor2d([[0, 0, 1], [-10, 100, 10]]);
  const h = logActivationHistogram(a, 3);
  assertClose(h.edges, [-10, -6, -2, 2], 1e-5);
  assert.deepStrictEqual(Array.from(h.counts), [2, 0, 4]);
  assert.strictEqual(h.zeroCount, 2);
  assert.strictEqual(h.firstBinCount, 2);
  assert.strictEqual(h.total, 6);
  const s1 = new LogActivationHistogramAccumulator([-10, 2], 3);
  const s2 = new LogActivationHistogramAccumulator([-10, 2], 3);
  s1.add(a.slice([0, 0], [1, 3]));
  s2.add(a.slice([1, 0], [1, 3]));
  const r = LogActivationHistogramAccumulator.fromJSON(JSON.parse(JSON.stringify(s1.toJSON()))).merge(s2).result();
  assert.deepStrictEqual(Array.from(r.counts), [2, 0, 4]);
  assert.strictEqual(r.zeroCount, 2);
  a.dispose();
});

test('accumulators leave no tensors behind', () => {
  const x = tf.randomNormal([2, 3, 4]);
  const xh = tf.randomNormal([2, 3, 4]);
  const f = tf.relu(tf.randomNormal([6, 5]));
  const before = tf.memory().numTensors;
  new L0Accumulator().add(f);
  new FeatureDensityAccumulator(5).add(f);
  new ReconstructionAccumulator(4).add(x, xh, tf.tidy(() => tf.ones([2, 3], 'bool')));
  new CeAccumulator().addTokenLosses(f, f, f);
  logActivationHistogram(f, 10);
  tf.tidy(() => undefined);
  assert.ok(tf.memory().numTensors <= before + 1, `tensors before ${before}, after ${tf.memory().numTensors}`); // +1: the keep mask made above
  tf.dispose([x, xh, f]);
});

test('per-token explained variance and L0 match the hand computation', () => {
  // mean over tokens of x = [2, 0]; token 0 reconstructed exactly (1 - 0/1 = 1), token 1 off by 1 (1 - 1/1 = 0)
  const x = tf.tensor2d([[1, 0], [3, 0]]);
  const xHat = tf.tensor2d([[1, 0], [2, 0]]);
  assert.strictEqual(explainedVariancePerToken(x, xHat), 0.5);
  // features > 0 per token: 1 and 2
  const f = tf.tensor2d([[0, 1, -1], [2, 3, 0]]);
  assert.strictEqual(meanL0(f), 1.5);
  assert.strictEqual(meanL0(f, 1.5), 1, 'only 2 and 3 exceed 1.5');
  tf.dispose([x, xHat, f]);
});
