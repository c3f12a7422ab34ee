/**
 * A forward pass without a gradient tape holds one block's intermediates at a time: its peak memory above
 * the weights does not grow with the number of layers (it did, ~linearly, when every intermediate lived
 * until the pass ended). Gradients through the same pass are unchanged.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { setupBackend, assertClose } from '../helpers';

before(setupBackend);

const model = (layers: number) => HookedTransformer.fromConfig({ n_layers: layers, d_model: 32, d_head: 8, n_heads: 4, d_vocab: 50, n_ctx: 64, act_fn: 'gelu_new' }, { seed: 5 });

/** Bytes a pass adds at its peak over what existed before it (weights, tokens). */
async function passPeak(m: HookedTransformer, tokens: tf.Tensor2D): Promise<number> {
  const start = tf.memory().numBytes;
  const info = await tf.profile(() => { m.forward(tokens, { returnType: 'none', stopAtLayer: m.cfg.n_layers }); });
  return info.peakBytes - start;
}

test('forward peak memory is flat in the number of layers (one block at a time)', async () => {
  const tokens = tf.tensor2d(Array.from({ length: 8 * 64 }, (_, i) => (i * 7) % 50), [8, 64], 'int32');
  const m2 = model(2);
  const m8 = model(8);
  const tensors = tf.memory().numTensors;
  const p2 = await passPeak(m2, tokens);
  const p8 = await passPeak(m8, tokens);
  // one block's intermediates: attention scores [8, 4, 64, 64] and the MLP [8, 64, 128] dominate (~0.5 MB each);
  // 8 layers kept alive would be about 4x the 2-layer peak
  assert.ok(p8 < 1.3 * p2, `8-layer pass peak ${p8} B vs 2-layer ${p2} B: intermediates must not accumulate over blocks`);
  assert.strictEqual(tf.memory().numTensors, tensors, 'the passes leave no tensors behind');
  m2.dispose();
  m8.dispose();
});

test('gradients through a forward pass are those of the unsplit computation', async () => {
  const m = model(3);
  const tokens = tf.tensor2d([[1, 4, 9, 16, 25], [3, 5, 7, 11, 13]], undefined, 'int32');
  const hook = 'blocks.1.hook_resid_pre';
  const grad = (perturb: tf.Tensor) => tf.grad((d: tf.Tensor) => tf.sum(m.forward(tokens, { fwdHooks: [[hook, (x) => tf.add(x, d)]] }).logits!))(perturb);
  const zero = tf.zeros([2, 5, 32]);
  const g = await grad(zero).data();
  // central differences on a few coordinates of the perturbation
  const eps = 1e-2;
  for (const idx of [0, 37, 200, 319]) {
    const e = tf.tensor1d(Array.from({ length: 320 }, (_, i) => (i === idx ? eps : 0))).reshape([2, 5, 32]);
    const f = (d: tf.Tensor) => tf.sum(m.forward(tokens, { fwdHooks: [[hook, (x) => tf.add(x, d)]] }).logits!).dataSync()[0];
    const num = (f(e) - f(tf.neg(e))) / (2 * eps);
    assertClose([g[idx]], [num], 2e-2, 2e-2, `d sum(logits) / d resid[${idx}]`);
  }
});
