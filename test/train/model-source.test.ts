import { before, test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose } from '../helpers';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { ModelActivationSource } from '../../lib/train/model-source';
import { stopAtLayerFor } from '../../lib/model/hookNames';
import { ActivationStore } from '../../lib/train/store';

before(setupBackend);

const cfg = { n_layers: 2, d_model: 8, n_ctx: 16, d_head: 4, n_heads: 2, d_mlp: 16, d_vocab: 11, act_fn: 'gelu' as const, normalization_type: 'LN' as const };
const contexts = Array.from({ length: 10 }, (_, i) => Int32Array.from({ length: 5 }, (_, j) => (i * 3 + j * 7) % 11));

test('stopAtLayer for a hook: blocks.L.* -> L + 1', () => {
  assert.strictEqual(stopAtLayerFor('blocks.3.hook_resid_post'), 4);
  assert.strictEqual(stopAtLayerFor('blocks.0.attn.hook_z'), 1);
  assert.strictEqual(stopAtLayerFor('hook_embed'), 0);
});

test('model source streams the hook activations of each context (equal to a full forward pass) and resumes by replay', async () => {
  const model = HookedTransformer.fromConfig(cfg, { seed: 1 });
  const hook = 'blocks.0.hook_resid_post';
  const src = await ModelActivationSource.create(model, () => contexts, { hookName: hook, contextsPerBatch: 4 });
  assert.strictEqual(src.dIn, 8);
  const got: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = (await src.next())!;
    got.push(...Array.from(t.dataSync()));
    t.dispose();
  }
  // 4 + 4 + 4 contexts: all 10 (each 5 positions x 8), then the stream starts over with contexts 0, 1
  const full = model.runWithCache(tf.tensor2d(Array.from(contexts.flatMap((c) => Array.from(c))), [10, 5], 'int32'), { namesFilter: [hook] });
  const ref = Array.from(full.cache.get(hook).dataSync());
  const row = 5 * 8;
  assertClose(got, [...ref, ...ref.slice(0, 2 * row)], 1e-5, 1e-5);
  // loops, and a restored source continues at the same place
  const state = src.getState();
  const a = (await src.next())!.dataSync();
  const src2 = await ModelActivationSource.create(model, () => contexts, { hookName: hook, contextsPerBatch: 4 });
  await src2.restore(state);
  assert.deepStrictEqual(Array.from((await src2.next())!.dataSync()), Array.from(a));
  assertClose(Array.from(a), ref.slice(2 * row, 6 * row), 1e-5, 1e-5);
  // feeds the activation store
  const store = new ActivationStore(src2, { batchTokens: 10, nBatchesInBuffer: 2, seed: 1 });
  await store.init();
  const b = await store.nextBatch();
  assert.deepStrictEqual(b.shape, [10, 8]);
});
