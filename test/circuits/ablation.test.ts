/**
 * Feature ablation: the formula on a hand-checkable SAE, the effects against an independent
 * hook written with the plain SAE formulas, a never-firing feature changing nothing, and the CLI.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { SAE } from '../../lib/sae';
import { ablateFeatures, singleFeatureKeepMask, ablationEffects, saeSet, parseTokenList } from '../../lib/circuits';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { command as ablateCommand } from '../../lib/cli/commands/ablate';
import { setupBackend, assertClose, tmpDir } from '../helpers';
import { tinyModel, randomSAE, refEncode, TOKENS } from './tiny';

before(setupBackend);

test('ablating feature j removes exactly f_j W_dec[j] (hand-computed SAE, b_dec untouched)', async () => {
  // d_in 2, d_sae 3; W_enc = I-ish, so f is easy to compute by hand
  const sae = SAE.create({ d_in: 2, d_sae: 3, apply_b_dec_to_input: true, metadata: { hook_name: 'h' } }, {
    W_enc: tf.tensor2d([[1, 0, 1], [0, 1, 1]]),
    W_dec: tf.tensor2d([[2, 0], [0, 3], [1, 1]]),
    b_enc: tf.tensor1d([0, 0, -1]),
    b_dec: tf.tensor1d([0.5, -0.5]),
  });
  const x = tf.tensor3d([[[1.5, 1.5]]]); // x - b_dec = [1, 2]; f = relu([1, 2, 1+2-1]) = [1, 2, 2]
  const expect: Record<number, number[]> = {
    0: [1.5 - 1 * 2, 1.5 - 0], // minus f_0 W_dec[0] = [2, 0]
    1: [1.5 - 0, 1.5 - 2 * 3], // minus 2 * [0, 3]
    2: [1.5 - 2 * 1, 1.5 - 2 * 1], // minus 2 * [1, 1]
  };
  for (const j of [0, 1, 2]) {
    const keep = singleFeatureKeepMask([j], 3);
    assertClose(await ablateFeatures(sae, x, keep).data(), expect[j], 1e-6, 1e-6, `feature ${j}`);
  }
  // two groups stacked along the batch: rows [0] ablate 0, rows [1] ablate 2
  const both = await ablateFeatures(sae, tf.concat([x, x], 0), singleFeatureKeepMask([0, 2], 3)).data();
  assertClose(both, [...expect[0], ...expect[2]], 1e-6, 1e-6, 'grouped');
});

test('ablation effects equal a hand-written hook (x - f_j W_dec[j]) read by the reference encoder', async () => {
  const model = tinyModel();
  const A = 'blocks.1.hook_resid_pre';
  const B = 'blocks.2.hook_resid_pre';
  const saeA = randomSAE(A, 12, 100);
  const saeB = randomSAE(B, 10, 200);
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const features = [0, 3, 7, 11, 5];
  const r = await ablationEffects(model, saeSet([saeA, saeB]), tokens, { layerHook: A, downstreamHook: B, features, featuresPerPass: 2 });
  assert.strictEqual(r.featureEffects.length, features.length * 10);
  assert.strictEqual(r.logprobEffects.length, features.length * 20);
  const N = TOKENS.length;
  const T = TOKENS[0].length;
  const readout = (hooks: Array<[string, (x: tf.Tensor) => tf.Tensor | void]>) => {
    let fb: tf.Tensor | undefined;
    const logits = model.forward(tokens, { fwdHooks: [...hooks, [B, (y) => { fb = tf.keep(refEncode(saeB, tf.slice(y, [0, T - 1], [-1, 1]))); }]] }).logits!;
    const lp = tf.logSoftmax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [-1, 1, -1]), [N, 20]));
    return { fb: tf.reshape(fb!, [N, 10]), lp };
  };
  const clean = readout([]);
  let anyNonZero = false;
  for (let i = 0; i < features.length; i++) {
    const j = features[i];
    const abl = readout([[A, (x) => {
      const f = refEncode(saeA, x);
      const fj = tf.slice(f, [0, 0, j], [-1, -1, 1]); // [N, T, 1]
      return tf.sub(x, tf.mul(fj, tf.slice(saeA.weights.W_dec, [j, 0], [1, -1])));
    }]]);
    const fe = tf.mean(tf.sub(abl.fb, clean.fb), 0);
    const le = tf.mean(tf.sub(abl.lp, clean.lp), 0);
    const feData = await fe.data();
    if (feData.some((v) => Math.abs(v) > 1e-4)) anyNonZero = true;
    assertClose(r.featureEffects.subarray(i * 10, (i + 1) * 10), feData, 1e-5, 1e-4, `feature_effects row ${i}`);
    assertClose(r.logprobEffects.subarray(i * 20, (i + 1) * 20), await le.data(), 1e-5, 1e-4, `logprob_effects row ${i}`);
  }
  assert.ok(anyNonZero, 'some ablation should move downstream features');
});

test('ablating a feature that never fires changes nothing', async () => {
  const model = tinyModel();
  const A = 'blocks.0.hook_resid_pre';
  const B = 'blocks.2.hook_resid_pre';
  const saeA = randomSAE(A, 12, 300, { deadFeature: 4 });
  const saeB = randomSAE(B, 10, 400);
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const f = refEncode(saeA, model.runWithCache(tokens, { namesFilter: [A] }).cache.get(A));
  assert.strictEqual(tf.max(tf.slice(f, [0, 0, 4], [-1, -1, 1])).dataSync()[0], 0, 'feature 4 must be dead');
  const r = await ablationEffects(model, saeSet([saeA, saeB]), tokens, { layerHook: A, downstreamHook: B, features: [4] });
  assert.ok(r.featureEffects.every((v) => v === 0), 'downstream features unchanged');
  assert.ok(r.logprobEffects.every((v) => v === 0), 'log-probs unchanged');
});

test('hooks out of order and unknown SAEs are clear errors', async () => {
  const model = tinyModel();
  const saes = saeSet([randomSAE('blocks.0.hook_resid_pre', 4, 1), randomSAE('blocks.1.hook_resid_pre', 4, 2)]);
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  await assert.rejects(async () => ablationEffects(model, saes, tokens, { layerHook: 'blocks.1.hook_resid_pre', downstreamHook: 'blocks.0.hook_resid_pre', features: [0] }), /must come after/);
  await assert.rejects(async () => ablationEffects(model, saes, tokens, { layerHook: 'blocks.2.hook_resid_pre', downstreamHook: 'blocks.0.hook_resid_pre', features: [0] }), /no SAE for hook 'blocks.2.hook_resid_pre'/);
  await assert.rejects(async () => ablationEffects(model, saes, tokens, { layerHook: 'blocks.0.hook_resid_pre', downstreamHook: 'blocks.1.hook_resid_pre', features: [9] }), /out of range/);
  assert.throws(() => parseTokenList('1 2 3;4 5', '--tokens'), /sequence 1 has 2 tokens/);
});

test('saelab ablate writes feature_effects.<B> and logprob_effects as the library computes them', async () => {
  const dir = tmpDir();
  const modelDir = path.join(dir, 'model');
  await tinyModel().saveHuggingFace(modelDir);
  const A = 'blocks.0.hook_resid_pre';
  const B = 'blocks.1.hook_resid_pre';
  const saeA = randomSAE(A, 6, 500);
  const saeB = randomSAE(B, 5, 600);
  await saeA.save(path.join(dir, 'saeA'));
  await saeB.save(path.join(dir, 'saeB'));
  const out = path.join(dir, 'out.safetensors');
  const code = await ablateCommand.run(['--model', modelDir, '--sae', `${A}=${path.join(dir, 'saeA')}`, '--sae', `${B}=${path.join(dir, 'saeB')}`,
    '--tokens', '1 5 9 2;4,4,17,0', '--layer-hook', A, '--downstream-hook', B, '--features', '2,0,5', '--out', out]);
  assert.strictEqual(code, 0);
  const file = SafetensorsFile.open(out);
  assert.deepStrictEqual(file.info(`feature_effects.${B}`).shape, [3, 5]);
  assert.deepStrictEqual(file.info('logprob_effects').shape, [3, 20]);
  const fe = file.readFloat32(`feature_effects.${B}`);
  const le = file.readFloat32('logprob_effects');
  file.close();
  const loaded = await HookedTransformer.fromPretrained(modelDir);
  const r = await ablationEffects(loaded, saeSet([saeA, saeB]), tf.tensor2d([[1, 5, 9, 2], [4, 4, 17, 0]], undefined, 'int32'), { layerHook: A, downstreamHook: B, features: [2, 0, 5] });
  assertClose(fe, r.featureEffects, 1e-6, 1e-5, 'feature_effects');
  assertClose(le, r.logprobEffects, 1e-6, 1e-5, 'logprob_effects');
  await assert.rejects(ablateCommand.run(['--model', modelDir, '--sae', `${A}=${path.join(dir, 'saeB')}`, '--tokens', '1 2', '--layer-hook', A, '--downstream-hook', B, '--features', '0', '--out', out]), /reads blocks.1.hook_resid_pre/);
});
