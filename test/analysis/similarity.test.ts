import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import { SimilarityAccumulator, TokenMetricAccumulator, summarizeTokenMetric, tokenSimilarities } from '../../lib/analysis';
import { FX } from './fixtures';

before(setupBackend);

test('cosine and euclidean per token by hand, zero vector gives cosine 0', () => {
  // tokens: (1,0)vs(0,1): cos 0, dist sqrt2; (3,4)vs(6,8): cos 1, dist 5; (0,0)vs(1,1): cos 0, dist sqrt2
  const a = tf.tensor3d([[[1, 0], [3, 4], [0, 0]]]);
  const b = tf.tensor3d([[[0, 1], [6, 8], [1, 1]]]);
  const s = tokenSimilarities(a, b);
  assert.deepStrictEqual(s.shape, [1, 3]);
  assertClose(s.cosine, [0, 1, 0], 1e-6);
  assertClose(s.euclidean, [Math.SQRT2, 5, Math.SQRT2], 1e-6);
  tf.dispose([a, b]);
});

test('similarities and their means match numpy', () => {
  const f = FX.similarity;
  const a = tf.tensor3d(f.base, f.shape);
  const b = tf.tensor3d(f.finetune, f.shape);
  const s = tokenSimilarities(a, b);
  assertClose(s.cosine, f.cosine, 1e-5, 1e-5, 'cosine');
  assertClose(s.euclidean, f.euclidean, 1e-5, 1e-5, 'euclidean');
  const cs = summarizeTokenMetric(s.cosine, s.shape);
  assertClose([cs.mean], [f.cosine_mean], 1e-6);
  assertClose(cs.perSequence, f.cosine_per_sequence, 1e-6);
  assertClose(cs.perPosition, f.cosine_per_position, 1e-6);
  tf.dispose([a, b]);
});

test('accumulator: batch by batch and merged shards equal one pass', () => {
  const f = FX.similarity;
  const [n, ctx, d] = f.shape;
  const a = tf.tensor3d(f.base, f.shape);
  const b = tf.tensor3d(f.finetune, f.shape);
  const whole = new SimilarityAccumulator(ctx);
  whole.add(a, b);
  const shard1 = new SimilarityAccumulator(ctx);
  const shard2 = new SimilarityAccumulator(ctx);
  shard1.add(a.slice([0, 0, 0], [1, ctx, d]), b.slice([0, 0, 0], [1, ctx, d]));
  shard2.add(a.slice([1, 0, 0], [n - 1, ctx, d]), b.slice([1, 0, 0], [n - 1, ctx, d]));
  // a shard passed through JSON (as a sharded stage would) merges the same
  const merged = SimilarityAccumulator.fromJSON(JSON.parse(JSON.stringify(shard1.toJSON()))).merge(shard2);
  const s = merged.summary();
  assert.strictEqual(s.sequences, n);
  assertClose([s.cosine.mean, s.euclidean.mean], [f.cosine_mean, f.euclidean_mean], 1e-6);
  assertClose(s.cosine.perSequence, f.cosine_per_sequence, 1e-6);
  assertClose(s.euclidean.perPosition, f.euclidean_per_position, 1e-6);
  assertClose(merged.cosine.tokenValues(), whole.cosine.tokenValues(), 1e-7);
  assertClose(s.euclidean.perSequence, whole.summary().euclidean.perSequence, 1e-9);
  tf.dispose([a, b]);
  assert.throws(() => new SimilarityAccumulator(ctx).add(tf.zeros([1, 2, 3]) as tf.Tensor3D, tf.zeros([1, 2, 4]) as tf.Tensor3D), /differ in shape/);
});

test('token metric accumulator is a mean of sums, not of batch means', () => {
  const acc = new TokenMetricAccumulator(2, false);
  acc.add([1, 1]); // one sequence, mean 1
  acc.add([4, 4, 4, 4, 4, 4]); // three sequences, mean 4
  const s = acc.summary();
  assert.strictEqual(s.mean, (2 + 24) / 8);
  assert.deepStrictEqual(Array.from(s.perSequence), [1, 4, 4, 4]);
  assert.deepStrictEqual(Array.from(s.perPosition), [13 / 4, 13 / 4]);
  assert.throws(() => acc.tokenValues(), /not kept/);
});
