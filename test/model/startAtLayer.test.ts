import { test, before } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { seededRandom } from '../../lib/data/random';
import { residualStart } from '../../lib/stages/saeEval';
import { setupBackend } from '../helpers';

before(setupBackend);

const CONFIGS = {
  standard: { n_layers: 3, d_model: 32, n_heads: 4, d_head: 8, d_mlp: 64, d_vocab: 50, n_ctx: 16, act_fn: 'gelu_new', normalization_type: 'LN' },
  rotaryGqa: {
    n_layers: 3, d_model: 32, n_heads: 4, d_head: 8, d_mlp: 48, d_vocab: 50, n_ctx: 16, act_fn: 'silu', normalization_type: 'RMS',
    positional_embedding_type: 'rotary', n_key_value_heads: 2, gated_mlp: true, final_rms: true, use_local_attn: true, window_size: 5,
  },
} as const;

test('startAtLayer from a residual equals the forward pass whose hook replaced that residual (TransformerLens start_at_layer)', () => {
  for (const [name, cfg] of Object.entries(CONFIGS)) {
    const model = HookedTransformer.fromConfig(cfg as never, { seed: 11 });
    const rand = seededRandom(5);
    const ids = Array.from({ length: 3 * 12 }, () => Math.floor(rand() * 50));
    const tokens = tf.tensor2d(ids, [3, 12], 'int32');
    for (const [hook, start] of [['blocks.0.hook_resid_pre', 0], ['blocks.1.hook_resid_pre', 1], ['blocks.1.hook_resid_post', 2], ['blocks.2.hook_resid_post', 3]] as const) {
      const replacement = tf.randomNormal([3, 12, 32], 0, 1, 'float32', 3);
      // the hooked pass runs whole (a hook sees one row chunk at a time); startAtLayer whole and one row per pass
      const hooked = model.forward(tokens, { fwdHooks: [[hook, () => replacement.clone()]], returnType: 'loss', lossPerToken: true }).loss!;
      const logitsA = model.forward(tokens, { fwdHooks: [[hook, () => replacement.clone()]] }).logits!;
      for (const maxBatchTokens of [undefined, 12]) {
        const started = model.forward(tokens, { startAtLayer: start, residual: replacement, returnType: 'loss', lossPerToken: true, maxBatchTokens }).loss!;
        const logitsB = model.forward(tokens, { startAtLayer: start, residual: replacement, maxBatchTokens }).logits!;
        if (maxBatchTokens === undefined) {
          assert.deepStrictEqual(Array.from(started.dataSync()), Array.from(hooked.dataSync()), `${name} ${hook}`);
          assert.deepStrictEqual(Array.from(logitsB.dataSync()), Array.from(logitsA.dataSync()));
        } else {
          const a = started.dataSync();
          const b = hooked.dataSync();
          for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * Math.abs(b[i]), `${name} ${hook} row chunks: ${a[i]} vs ${b[i]}`);
        }
        tf.dispose([started, logitsB]);
      }
      tf.dispose([hooked, logitsA]);
      replacement.dispose();
    }
    assert.throws(() => model.forward(tokens, { startAtLayer: 1 }), /needs the residual stream/);
    assert.throws(() => model.forward(tokens, { startAtLayer: 1, residual: tf.zeros([3, 11, 32]) }), /expected \[3, 12, 32\]/);
    assert.throws(() => model.forward(tokens, { startAtLayer: 4, residual: tf.zeros([3, 12, 32]) }), /startAtLayer must be an integer in \[0, 3\]/);
    tokens.dispose();
    model.dispose();
  }
});

test('residualStart: the block a residual hook enters (resid_pre L: L, resid_post L: L + 1), null for other hooks', () => {
  assert.strictEqual(residualStart('blocks.0.hook_resid_pre'), 0);
  assert.strictEqual(residualStart('blocks.7.hook_resid_pre'), 7);
  assert.strictEqual(residualStart('blocks.7.hook_resid_post'), 8);
  assert.strictEqual(residualStart('blocks.7.hook_resid_mid'), null);
  assert.strictEqual(residualStart('blocks.7.attn.hook_z'), null);
});
