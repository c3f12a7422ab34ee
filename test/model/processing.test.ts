import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { HookedTransformer } from '../../lib/model';
import { FIXTURES, FAMILIES, assertTensorClose } from './util';

before(setupBackend);

const TOKENS = [[3, 17, 5, 40, 22, 9, 1], [0, 47, 13, 13, 8, 31, 2]];

/** Hooks that write to the residual stream: centred per token by center_writing_weights. */
function isResidualLike(name: string): boolean {
  return /(hook_embed|hook_pos_embed|hook_resid_pre|hook_resid_mid|hook_resid_post|hook_attn_out|hook_mlp_out)$/.test(name);
}

/** Hooks TransformerLens's processing leaves unchanged for LayerNorm models. */
function isUnchangedForLn(name: string): boolean {
  return /(hook_q|hook_k|hook_rot_q|hook_rot_k|hook_attn_scores|hook_pattern|hook_pre|hook_post|hook_scale)$/.test(name);
}

for (const family of FAMILIES) {
  test(`${family}: default processing keeps log-probs and shifts hooks as TransformerLens does`, async () => {
    const raw = await HookedTransformer.fromPretrained(path.join(FIXTURES, family), { processing: false });
    const proc = await HookedTransformer.fromPretrained(path.join(FIXTURES, family));
    const ln = raw.cfg.normalization_type === 'LN';
    assert.strictEqual(proc.cfg.normalization_type, ln ? 'LNPre' : 'RMSPre');
    assert.deepStrictEqual(proc.processing, { foldLn: true, centerWritingWeights: ln, centerUnembed: true, foldValueBiases: true });
    const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
    const a = raw.runWithCache(tokens);
    const b = proc.runWithCache(tokens);
    try {
      // log-probs identical; processed logits are the unprocessed ones centred over the vocabulary
      const lpA = tf.logSoftmax(a.logits as tf.Tensor);
      const lpB = tf.logSoftmax(b.logits as tf.Tensor);
      assertTensorClose(lpB, lpA, 1e-4, 1e-4, `${family} log-probs`);
      const centred = tf.sub(a.logits as tf.Tensor, tf.mean(a.logits as tf.Tensor, -1, true));
      assertTensorClose(b.logits as tf.Tensor, centred, 1e-4, 1e-4, `${family} centred logits`);
      tf.dispose([lpA, lpB, centred]);
      assert.deepStrictEqual(b.cache.keys(), a.cache.keys());
      for (const name of a.cache.keys()) {
        const x = a.cache.get(name);
        const y = b.cache.get(name);
        if (!ln) {
          // RMS families: nothing is centred; folding only moves norm weights into the next matrices
          assertTensorClose(y, x, 1e-4, 1e-4, `${family} ${name}`);
        } else if (isResidualLike(name)) {
          const c = tf.sub(x, tf.mean(x, -1, true));
          assertTensorClose(y, c, 1e-4, 1e-4, `${family} ${name} = unprocessed minus its per-token mean`);
          c.dispose();
        } else if (isUnchangedForLn(name)) {
          assertTensorClose(y, x, 1e-4, 1e-4, `${family} ${name}`);
        }
      }
      if (ln) {
        // hook_v / hook_z lose the value bias (moved into b_O): b_V plus the LayerNorm bias folded through W_V
        const lnB = raw.params.get('blocks.0.ln1.b') as tf.Tensor;
        const bV = tf.add(raw.params.get('blocks.0.attn.b_V') as tf.Tensor, tf.sum(tf.mul(raw.params.get('blocks.0.attn.W_V') as tf.Tensor, tf.reshape(lnB, [1, -1, 1])), 1));
        const z = tf.sub(a.cache.get('blocks.0.attn.hook_z'), bV);
        const v = tf.sub(a.cache.get('blocks.0.attn.hook_v'), bV);
        assertTensorClose(b.cache.get('blocks.0.attn.hook_v'), v, 1e-4, 1e-4, `${family} hook_v minus b_V`);
        tf.dispose([bV, v]);
        assertTensorClose(b.cache.get('blocks.0.attn.hook_z'), z, 1e-4, 1e-4, `${family} hook_z minus b_V`);
        const n = tf.div(tf.sub(a.cache.get('blocks.0.ln1.hook_normalized'), raw.params.get('blocks.0.ln1.b') as tf.Tensor), raw.params.get('blocks.0.ln1.w') as tf.Tensor);
        assertTensorClose(b.cache.get('blocks.0.ln1.hook_normalized'), n, 1e-4, 1e-4, `${family} hook_normalized without w, b`);
        tf.dispose([z, n]);
      }
    } finally {
      a.cache.dispose(); b.cache.dispose(); a.logits?.dispose(); b.logits?.dispose(); tokens.dispose();
      raw.dispose(); proc.dispose();
    }
  });
}

test('each processing step is switchable; processWeights() in place equals loading processed', async () => {
  const dir = path.join(FIXTURES, 'gpt2');
  const onlyFold = await HookedTransformer.fromPretrained(dir, { centerWritingWeights: false, centerUnembed: false, foldValueBiases: false });
  assert.deepStrictEqual(onlyFold.processing, { foldLn: true, centerWritingWeights: false, centerUnembed: false, foldValueBiases: false });
  assert.strictEqual(onlyFold.cfg.normalization_type, 'LNPre');
  assert.ok(!onlyFold.params.has('blocks.0.ln1.w'));
  const noFold = await HookedTransformer.fromPretrained(dir, { foldLn: false });
  assert.strictEqual(noFold.cfg.normalization_type, 'LN');
  assert.deepStrictEqual(noFold.processing, { foldLn: false, centerWritingWeights: true, centerUnembed: true, foldValueBiases: true });
  const full = await HookedTransformer.fromPretrained(dir);
  const inPlace = await HookedTransformer.fromPretrained(dir, { processing: false });
  inPlace.processWeights();
  assert.deepStrictEqual(inPlace.processing, full.processing);
  for (const [k, v] of full.params) assertTensorClose(inPlace.params.get(k) as tf.Tensor, v, 1e-6, 1e-6, k);
  // unembedding after processing: zero mean over the vocabulary
  const colMean = tf.mean(full.W_U, -1);
  assertTensorClose(colMean, new Float32Array(full.cfg.d_model), 1e-6, 0, 'W_U row means');
  colMean.dispose();
  for (const m of [onlyFold, noFold, full, inPlace]) m.dispose();
});
