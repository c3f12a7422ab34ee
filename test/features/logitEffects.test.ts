/**
 * Feature effects on the next token: the decoder's direct logit effects against a hand-computed
 * product, and measured ablation effects against lib's splicing (runWithSAE with a position and a
 * zero intervention), an independent path from the batched per-row hook.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { SAE, runWithSAE } from '../../lib/sae';
import { decoderLogitEffects, ablationNextTokenEffects, FeatureExample } from '../../lib/features';
import { setupBackend, assertClose } from '../helpers';

before(setupBackend);

test('decoderLogitEffects: W_dec[f] @ W_U by hand, top promoted and suppressed tokens in order', async () => {
  // W_dec rows: f0 = [1, 0], f1 = [0, 2], f2 = [1, -1]; W_U [2, 4]
  const w = { W_enc: tf.zeros([2, 3]), W_dec: tf.tensor2d([[1, 0], [0, 2], [1, -1]]), b_enc: tf.zeros([3]), b_dec: tf.zeros([2]) };
  const sae = SAE.create({ d_in: 2, d_sae: 3, metadata: { hook_name: 'blocks.0.hook_resid_post' } }, w);
  const W_U = tf.tensor2d([[1, -2, 0.5, 3], [0, 1, -1, 0.25]]);
  // f1 -> [0, 2, -2, 0.5]; f2 -> [1, -3, 1.5, 2.75]
  const [e1, e2] = await decoderLogitEffects(sae, W_U, [1, 2], 2);
  assert.deepStrictEqual(e1.promoted, [[1, 2], [3, 0.5]]);
  assert.deepStrictEqual(e1.suppressed, [[2, -2], [0, 0]]);
  assert.deepStrictEqual(e2.promoted, [[3, 2.75], [2, 1.5]]);
  assert.deepStrictEqual(e2.suppressed, [[1, -3], [0, 1]]);
  await assert.rejects(decoderLogitEffects(sae, W_U, [3]), /feature 3 is out of range for d_sae=3/);
  await assert.rejects(decoderLogitEffects(sae, tf.zeros([5, 4]) as tf.Tensor2D, [0]), /d_in=2, the unembedding reads d_model=5/);
  sae.dispose();
  tf.dispose([W_U, ...Object.values(w)]);
});

test('ablationNextTokenEffects equals splicing with the feature zeroed at the example position (probabilities, clean - ablated)', async () => {
  const model = HookedTransformer.fromConfig({ n_layers: 2, d_model: 8, n_ctx: 16, d_head: 4, d_vocab: 12, act_fn: 'gelu_new' }, { seed: 11 });
  const hook = 'blocks.1.hook_resid_pre';
  const w = {
    W_enc: tf.randomNormal([8, 6], 0, 0.7, 'float32', 3), W_dec: tf.randomNormal([6, 8], 0, 0.7, 'float32', 4),
    b_enc: tf.fill([6], 0.3), b_dec: tf.randomNormal([8], 0, 0.1, 'float32', 5),
  };
  const sae = SAE.create({ d_in: 8, d_sae: 6, metadata: { hook_name: hook } }, w);
  tf.dispose(Object.values(w));
  const tokens = [[1, 5, 9, 2, 11, 3, 7], [4, 4, 10, 0, 8, 6, 2]];
  // feature activations at every position, to pick examples where features fire
  const { cache } = model.runWithCache(tf.tensor2d(tokens, undefined, 'int32'), { namesFilter: [hook] });
  const acts = (await sae.encode(cache.get(hook)).array()) as number[][][];
  cache.dispose();
  const examples = new Map<number, FeatureExample[]>();
  for (const f of [0, 2, 5]) {
    const list: FeatureExample[] = [];
    for (const [s, p] of [[0, 3], [1, 5], [0, 6]]) if (acts[s][p][f] > 0) list.push({ feature: f, rank: list.length + 1, sequence: s, position: p, token: tokens[s][p], activation: acts[s][p][f] });
    if (list.length) examples.set(f, list);
  }
  assert.ok(examples.size >= 2, 'the random SAE should fire on some chosen positions');
  const fullLogits = (await model.forward(tf.tensor2d(tokens, undefined, 'int32')).logits!.array()) as number[][][];
  const clean = (s: number, p: number) => Float32Array.from(tf.tidy(() => tf.logSoftmax(tf.tensor1d(fullLogits[s][p]))).dataSync());
  // small token budget: several forward passes with padded prefixes of different lengths
  const got = await ablationNextTokenEffects(model, sae, tokens, examples, clean, { examplesPerFeature: 2, maxBatchTokens: 9, k: 3 });
  assert.deepStrictEqual(got.map((g) => g.feature), [...examples.keys()].sort((a, b) => a - b));
  for (const g of got) {
    const list = examples.get(g.feature)!.slice(0, 2);
    assert.strictEqual(g.examples, list.length);
    const mean = new Float64Array(12);
    for (const ex of list) {
      const prefix = tf.tensor2d([tokens[ex.sequence].slice(0, ex.position + 1)], undefined, 'int32');
      const out = runWithSAE(model, sae, prefix, { includeError: true, positions: [ex.position], interventions: [{ feature: g.feature, op: 'zero' }] });
      const ablated = tf.tidy(() => tf.softmax(tf.tensor1d((out.logits!.arraySync() as number[][][])[0][ex.position]))).dataSync();
      const before = tf.tidy(() => tf.softmax(tf.tensor1d(fullLogits[ex.sequence][ex.position]))).dataSync();
      for (let v = 0; v < 12; v++) mean[v] += (before[v] - ablated[v]) / list.length;
      tf.dispose([prefix, out.logits!]);
    }
    const order = Array.from(mean.keys()).sort((a, b) => mean[b] - mean[a]);
    assertClose(g.promoted.map(([, v]) => v), order.slice(0, 3).map((i) => mean[i]), 1e-5, 1e-4, `feature ${g.feature} promoted`);
    assertClose(g.suppressed.map(([, v]) => v), order.slice(-3).reverse().map((i) => mean[i]), 1e-5, 1e-4, `feature ${g.feature} suppressed`);
    assert.deepStrictEqual(g.promoted.map(([i]) => i), order.slice(0, 3), `feature ${g.feature} promoted ids`);
  }
  sae.dispose();
  model.dispose();
});
