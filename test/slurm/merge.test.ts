import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import { SimilarityAccumulator } from '../../lib/analysis/similarity';
import { L0Accumulator, FeatureDensityAccumulator, ReconstructionAccumulator, CeAccumulator, LogActivationHistogramAccumulator } from '../../lib/analysis/saeMetrics';
import { ColumnPearsonAccumulator, ActivationErrorAccumulator } from '../../lib/analysis/transfer';
import { EvalAccumulators, evalToJSON, evalFromJSON, mergeEval } from '../../lib/stages/saeEval';
import { TransferAccumulators, transferToJSON, transferFromJSON, mergeTransfer } from '../../lib/stages/featureTransfer';
import { shardBatchRange, stringifyState, parseState } from '../../lib/stages/shard';
import { mulberry32 } from '../../lib/data/random';

before(setupBackend);

/** Deterministic pseudo-random floats in [-1, 1) (saelab's mulberry32), so the test data is fixed. */
function randomFloats(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * rand() - 1);
}

/** Through the shard file format: JSON that keeps NaN/Infinity. */
const roundTrip = <T>(v: unknown): T => parseState<T>(stringifyState(v));

const N_BATCHES = 7;
const BATCH = 3;
const CTX = 5;
const D = 4;

function batch(i: number, which: 'a' | 'b'): tf.Tensor3D {
  return tf.tensor3d(randomFloats(BATCH * CTX * D, 1000 * i + (which === 'a' ? 1 : 2)), [BATCH, CTX, D]);
}

test('state JSON keeps NaN and infinities (plain JSON would turn them into null)', () => {
  assert.deepStrictEqual(roundTrip({ a: [1, NaN, Infinity, -Infinity], s: 'x' }), { a: [1, NaN, Infinity, -Infinity], s: 'x' });
});

test('similarities: 3 shards merged through JSON equal the single pass and a plain-loop cosine mean', () => {
  const single = new SimilarityAccumulator(CTX, true);
  for (let i = 0; i < N_BATCHES; i++) tf.tidy(() => single.add(batch(i, 'a'), batch(i, 'b')));
  let merged: SimilarityAccumulator | null = null;
  for (let s = 0; s < 3; s++) {
    const r = shardBatchRange(N_BATCHES, { index: s, count: 3 });
    const acc = new SimilarityAccumulator(CTX, true);
    for (let i = r.first; i < r.first + r.count; i++) tf.tidy(() => acc.add(batch(i, 'a'), batch(i, 'b')));
    const back = SimilarityAccumulator.fromJSON(roundTrip(acc.toJSON()));
    merged = merged ? merged.merge(back) : back;
  }
  const a = single.summary();
  const b = merged!.summary();
  assert.strictEqual(b.sequences, N_BATCHES * BATCH);
  assertClose([b.cosine.mean, b.euclidean.mean], [a.cosine.mean, a.euclidean.mean], 1e-6, 1e-6, 'means');
  assertClose(b.cosine.perPosition, a.cosine.perPosition, 1e-6, 1e-6, 'cosine per position');
  assertClose(b.euclidean.perSequence, a.euclidean.perSequence, 1e-6, 1e-6, 'euclidean per sequence');
  assertClose(merged!.cosine.tokenValues(), single.cosine.tokenValues(), 0, 0, 'token values in order');
  // independent: the cosine mean by plain loops over the same data
  let sum = 0;
  for (let i = 0; i < N_BATCHES; i++) {
    const x = randomFloats(BATCH * CTX * D, 1000 * i + 1);
    const y = randomFloats(BATCH * CTX * D, 1000 * i + 2);
    for (let t = 0; t < BATCH * CTX; t++) {
      let dot = 0, nx = 0, ny = 0;
      for (let k = 0; k < D; k++) { const u = x[t * D + k], v = y[t * D + k]; dot += u * v; nx += u * u; ny += v * v; }
      sum += dot / Math.sqrt(nx * ny);
    }
  }
  assertClose([b.cosine.mean], [sum / (N_BATCHES * BATCH * CTX)], 1e-5, 1e-5, 'cosine mean vs loops');
});

function newEval(dSae: number): EvalAccumulators {
  return { l0: new L0Accumulator(), density: new FeatureDensityAccumulator(dSae), recon: new ReconstructionAccumulator(D), ce: new CeAccumulator(), logHist: new LogActivationHistogramAccumulator([-10.5, 3], 100), outlierTokens: 0 };
}

function addEval(acc: EvalAccumulators, i: number): void {
  tf.tidy(() => {
    const x = batch(i, 'a');
    const xHat = x.add(batch(i, 'b').mul(0.1)) as tf.Tensor3D;
    const f = tf.relu(tf.tensor3d(randomFloats(BATCH * CTX * 6, 77 + i), [BATCH, CTX, 6]));
    const keep = tf.tensor2d(randomFloats(BATCH * CTX, 5 + i), [BATCH, CTX]).greater(-0.8);
    acc.l0.add(f);
    acc.density.add(f);
    acc.logHist.add(f);
    acc.recon.add(x, xHat, keep);
    const loss = (seed: number) => tf.tensor2d(randomFloats(BATCH * (CTX - 1), seed), [BATCH, CTX - 1]).add(3);
    acc.ce.addTokenLosses(loss(10 + i), loss(20 + i), i === 4 ? tf.fill([BATCH, CTX - 1], Infinity) : loss(30 + i), i);
    acc.outlierTokens += i % 2;
  });
}

test('SAE eval accumulators: 3 shards merged through JSON equal the single pass (L0, densities, R2, CE, histogram)', () => {
  const single = newEval(6);
  for (let i = 0; i < N_BATCHES; i++) addEval(single, i);
  let merged: EvalAccumulators | null = null;
  for (let s = 0; s < 3; s++) {
    const r = shardBatchRange(N_BATCHES, { index: s, count: 3 });
    const acc = newEval(6);
    for (let i = r.first; i < r.first + r.count; i++) addEval(acc, i);
    const back = evalFromJSON(roundTrip(evalToJSON(acc)));
    merged = merged ? mergeEval(merged, back) : back;
  }
  const m = merged!;
  assertClose([m.l0.l0()], [single.l0.l0()], 1e-12, 1e-12, 'L0');
  assertClose(m.density.densities(), single.density.densities(), 0, 0, 'densities');
  const rs = single.recon.summary();
  const rm = m.recon.summary();
  assertClose([rm.r2, rm.explainedVariance], [rs.r2, rs.explainedVariance], 1e-7, 1e-7, 'R2 / explained variance');
  const cs = single.ce.summary();
  const cm = m.ce.summary();
  assertClose([cm.cleanLoss, cm.splicedLoss, cm.delta], [cs.cleanLoss, cs.splicedLoss, cs.delta], 1e-7, 1e-7, 'CE');
  assert.strictEqual(cm.nonFiniteBatches, 1);
  assert.deepStrictEqual(cm.nonFinite.map((r) => r.batch), [4], 'the non-finite batch keeps its global number');
  assertClose([cm.zeroLoss!, cm.ceLossScore!], [cs.zeroLoss!, cs.ceLossScore!], 1e-7, 1e-7, 'zero-ablation loss and CE loss score');
  assert.strictEqual(cm.tokens, (N_BATCHES - 1) * BATCH * (CTX - 1), 'the non-finite batch is left out of the token count');
  assert.deepStrictEqual(Array.from(m.logHist.result().counts), Array.from(single.logHist.result().counts));
  assert.strictEqual(m.outlierTokens, 3);
});

test('feature transfer accumulators: 3 shards merged through JSON equal the single pass', () => {
  const make = (): TransferAccumulators => ({
    pearson: new Map([['dense', new ColumnPearsonAccumulator(3)], ['exclusively_dead_base', new ColumnPearsonAccumulator(2)]]),
    errors: new Map([['exclusively_dead_base', new ActivationErrorAccumulator(2)]]),
  });
  const add = (acc: TransferAccumulators, i: number) => tf.tidy(() => {
    const x = tf.tensor2d(randomFloats(BATCH * CTX * 3, 300 + i), [BATCH * CTX, 3]);
    const y = x.mul(0.5).add(tf.tensor2d(randomFloats(BATCH * CTX * 3, 400 + i), [BATCH * CTX, 3])) as tf.Tensor2D;
    acc.pearson.get('dense')!.add(x, y);
    const xd = tf.relu(x.slice([0, 0], [-1, 2])) as tf.Tensor2D;
    const yd = tf.relu(y.slice([0, 0], [-1, 2])) as tf.Tensor2D;
    acc.pearson.get('exclusively_dead_base')!.add(xd, yd);
    acc.errors.get('exclusively_dead_base')!.add(xd, yd);
  });
  const single = make();
  for (let i = 0; i < N_BATCHES; i++) add(single, i);
  let merged: TransferAccumulators | null = null;
  for (let s = 0; s < 3; s++) {
    const r = shardBatchRange(N_BATCHES, { index: s, count: 3 });
    const acc = make();
    for (let i = r.first; i < r.first + r.count; i++) add(acc, i);
    const back = transferFromJSON(roundTrip(transferToJSON(acc)));
    merged = merged ? mergeTransfer(merged, back) : back;
  }
  for (const g of ['dense', 'exclusively_dead_base'] as const) {
    assertClose(merged!.pearson.get(g)!.correlations(), single.pearson.get(g)!.correlations(), 1e-6, 1e-6, `${g} pearson`);
  }
  assertClose(merged!.errors.get('exclusively_dead_base')!.errors(), single.errors.get('exclusively_dead_base')!.errors(), 1e-6, 1e-6, 'errors');
});

test('feature transfer merge refuses a family the first shard lacks', () => {
  const a: TransferAccumulators = { pearson: new Map([['dense', new ColumnPearsonAccumulator(1)]]), errors: new Map() };
  const b: TransferAccumulators = { pearson: new Map([['exclusively_dead_finetune', new ColumnPearsonAccumulator(1)]]), errors: new Map() };
  assert.throws(() => mergeTransfer(a, b), /family 'exclusively_dead_finetune' is missing/);
});
