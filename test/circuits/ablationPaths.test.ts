/**
 * The shortcuts of ablationEffects give the effects of the plain definition: passes that start at the
 * ablated hook's block from the cached residual (resid_pre, resid_post, the embeddings' output), a hook
 * pass elsewhere (hook_mlp_out), x - f_j W_dec[j] for affine decoders and decode(f with f_j = 0) - decode(f)
 * for a normalising SAE, and sequences where the feature never fires skipped. The reference runs every
 * sequence from the tokens with a hand-written ablation hook (independent SAE formulas).
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { ablationEffects, residualStartLayer, saeSet } from '../../lib/circuits';
import { SAE } from '../../lib/sae';
import { setupBackend, assertClose } from '../helpers';
import { tinyModel, randomSAE, refEncode, TOKENS } from './tiny';

before(setupBackend);

const V = 20;

/** Clean and ablated readouts with the ablation written out by hand: every sequence, from the tokens. */
function reference(model: ReturnType<typeof tinyModel>, A: string, B: string, saeB: SAE, ablated: (x: tf.Tensor, j: number) => tf.Tensor, features: number[]) {
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const [N, T] = [TOKENS.length, TOKENS[0].length];
  const dB = saeB.cfg.d_sae;
  const readout = (hooks: Array<[string, (x: tf.Tensor) => tf.Tensor | void]>) => {
    let fb: tf.Tensor | undefined;
    const logits = model.forward(tokens, { fwdHooks: [...hooks, [B, (y) => { fb = tf.keep(refEncode(saeB, tf.slice(y, [0, T - 1], [-1, 1]))); }]] }).logits!;
    return { fb: tf.reshape(fb!, [N, dB]), lp: tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [-1, 1, -1]), [N, V])) };
  };
  const clean = readout([]);
  return features.map((j) => {
    const abl = readout([[A, (x) => ablated(x, j)]]);
    return { fe: tf.mean(tf.sub(abl.fb, clean.fb), 0).dataSync(), le: tf.mean(tf.sub(abl.lp, clean.lp), 0).dataSync() };
  });
}

/** Features of `sae` at hook A over TOKENS that fire in some sequences but not all (and one that fires in all). */
function partlyFiring(model: ReturnType<typeof tinyModel>, sae: SAE, A: string): { some: number[]; all: number } {
  const f = refEncode(sae, model.runWithCache(tf.tensor2d(TOKENS, undefined, 'int32'), { namesFilter: [A] }).cache.get(A)).arraySync() as number[][][];
  const firesIn = (j: number) => f.filter((seq) => seq.some((v) => v[j] > 0)).length;
  const ids = Array.from({ length: sae.cfg.d_sae }, (_, j) => j);
  return { some: ids.filter((j) => firesIn(j) > 0 && firesIn(j) < TOKENS.length), all: ids.find((j) => firesIn(j) === TOKENS.length)! };
}

const minusDecoderRow = (sae: SAE) => (x: tf.Tensor, j: number) => {
  const f = refEncode(sae, x);
  return tf.sub(x, tf.mul(tf.slice(f, [0, 0, j], [-1, -1, 1]), tf.slice(sae.weights.W_dec, [j, 0], [1, -1])));
};

for (const [A, B, start] of [
  ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_pre', 2], // starts at block 2; B is that block's input
  ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_post', 0], // the embeddings' output: starts at block 0
  ['blocks.1.hook_mlp_out', 'blocks.2.hook_resid_post', undefined], // not a residual: a hook pass from the tokens
] as Array<[string, string, number | undefined]>) {
  test(`ablation at ${A} (read at ${B}) equals the hand-written hook, with sequences where a feature is silent skipped`, async () => {
    assert.strictEqual(residualStartLayer(A), start);
    const model = tinyModel();
    const saeA = randomSAE(A, 16, 1100, { encScale: 0.3 });
    const saeB = randomSAE(B, 10, 1200);
    const { some, all } = partlyFiring(model, saeA, A);
    assert.ok(some.length >= 2, `the test needs features that fire in some sequences only (got ${some})`);
    const features = [some[0], all, some[1]];
    const r = await ablationEffects(model, saeSet([saeA, saeB]), tf.tensor2d(TOKENS, undefined, 'int32'), { layerHook: A, downstreamHook: B, features, maxRowsPerPass: 2 });
    assert.ok(r.ablatedRows < features.length * TOKENS.length && r.ablatedRows > TOKENS.length, `rows run: ${r.ablatedRows}`);
    reference(model, A, B, saeB, minusDecoderRow(saeA), features).forEach(({ fe, le }, i) => {
      assertClose(r.featureEffects.subarray(i * 10, (i + 1) * 10), fe, 1e-5, 1e-4, `feature_effects row ${i}`);
      assertClose(r.logprobEffects.subarray(i * V, (i + 1) * V), le, 1e-5, 1e-4, `logprob_effects row ${i}`);
    });
  });
}

test('a normalising SAE (constant_norm_rescale) is ablated as x - f_j W_dec[j] |x| / sqrt(d)', async () => {
  const model = tinyModel();
  const A = 'blocks.1.hook_resid_pre';
  const B = 'blocks.2.hook_resid_pre';
  const plain = randomSAE(A, 16, 1300, { encScale: 0.3 });
  const saeA = SAE.create({ ...plain.cfg, normalize_activations: 'constant_norm_rescale' }, plain.weights);
  const saeB = randomSAE(B, 10, 1400);
  const d = saeA.cfg.d_in;
  // the normalised input x sqrt(d) / |x| is what the encoder reads; the decoder output is scaled back by |x| / sqrt(d)
  const norm = (x: tf.Tensor) => tf.div(tf.norm(x, 'euclidean', -1, true), Math.sqrt(d));
  const fOf = (x: tf.Tensor) => refEncode(saeA, tf.div(x, norm(x)));
  const features = Array.from({ length: 16 }, (_, j) => j).filter((j) => (fOf(model.runWithCache(tf.tensor2d(TOKENS, undefined, 'int32'), { namesFilter: [A] }).cache.get(A)).arraySync() as number[][][]).some((s) => s.some((v) => v[j] > 0))).slice(0, 3);
  assert.strictEqual(features.length, 3);
  const r = await ablationEffects(model, saeSet([saeA, saeB]), tf.tensor2d(TOKENS, undefined, 'int32'), { layerHook: A, downstreamHook: B, features });
  const ablated = (x: tf.Tensor, j: number) => tf.sub(x, tf.mul(tf.mul(tf.slice(fOf(x), [0, 0, j], [-1, -1, 1]), norm(x)), tf.slice(saeA.weights.W_dec, [j, 0], [1, -1])));
  reference(model, A, B, saeB, ablated, features).forEach(({ fe, le }, i) => {
    assertClose(r.featureEffects.subarray(i * 10, (i + 1) * 10), fe, 1e-5, 1e-4, `feature_effects row ${i}`);
    assertClose(r.logprobEffects.subarray(i * V, (i + 1) * V), le, 1e-5, 1e-4, `logprob_effects row ${i}`);
  });
});

test('progress: one reporter for the clean passes and one for the ablated passes, ticked to their totals', async () => {
  const model = tinyModel();
  const A = 'blocks.0.hook_resid_pre';
  const B = 'blocks.1.hook_resid_pre';
  const seen: Array<{ label: string; total: number; ticks: number; done: boolean }> = [];
  const r = await ablationEffects(model, saeSet([randomSAE(A, 12, 1500), randomSAE(B, 10, 1600)]), tf.tensor2d(TOKENS, undefined, 'int32'), {
    layerHook: A, downstreamHook: B, features: [0, 1, 2, 3], maxRowsPerPass: 2,
    progress: (label, total) => {
      const p = { label, total, ticks: 0, done: false };
      seen.push(p);
      return { tick: (n = 1) => { p.ticks += n; }, done: () => { p.done = true; } };
    },
  });
  assert.strictEqual(seen.length, 2);
  assert.match(seen[0].label, /clean passes/);
  assert.strictEqual(seen[0].total, 2); // 3 sequences, 2 per pass
  assert.match(seen[1].label, new RegExp(`${r.ablatedRows} of 12 \\(feature, sequence\\) rows fire`));
  assert.strictEqual(seen[1].total, Math.ceil(r.ablatedRows / 2));
  for (const p of seen) assert.ok(p.done && p.ticks === p.total, `${p.label}: ${p.ticks} of ${p.total}`);
});
