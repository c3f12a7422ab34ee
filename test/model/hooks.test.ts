import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../helpers';
import { HookedTransformer } from '../../lib/model';
import { FIXTURES, FAMILIES, assertTensorClose } from './util';

before(setupBackend);

const TOKENS = [[3, 17, 5, 40, 22, 9], [0, 47, 13, 13, 8, 31]];

for (const family of ['gpt2', 'llama']) {
  test(`${family}: identity hooks change nothing; stopAtLayer gives the full run's activations`, async () => {
    const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, family));
    const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
    const base = model.runWithCache(tokens);
    let calls = 0;
    const hooked = model.runWithHooks(tokens, {
      fwdHooks: [
        [() => true, (x) => { calls++; return tf.add(x, 0); }],
        ['blocks.1.hook_resid_pre', () => undefined],
      ],
    });
    assert.strictEqual(calls, model.hookNames().length, 'the predicate hook ran at every hook point');
    assert.deepStrictEqual((hooked.logits as tf.Tensor).dataSync(), (base.logits as tf.Tensor).dataSync());
    const stopped = model.runWithCache(tokens, { stopAtLayer: 1, namesFilter: (n) => n.startsWith('blocks.0.') || !n.startsWith('blocks.') });
    assert.strictEqual(stopped.logits, undefined);
    assert.ok(!stopped.cache.has('blocks.1.hook_resid_pre'), 'layers after stopAtLayer are skipped');
    assert.ok(!stopped.cache.has('ln_final.hook_scale'));
    for (const name of stopped.cache.keys()) {
      assert.deepStrictEqual(stopped.cache.get(name).dataSync(), base.cache.get(name).dataSync(), name);
    }
    const neg = model.runWithCache(tokens, { stopAtLayer: -1, namesFilter: 'blocks.0.hook_resid_post' });
    assert.deepStrictEqual(neg.cache.get('blocks.0.hook_resid_post').dataSync(), base.cache.get('blocks.0.hook_resid_post').dataSync());
    tf.dispose([tokens, base.logits as tf.Tensor, hooked.logits as tf.Tensor]);
    base.cache.dispose(); stopped.cache.dispose(); neg.cache.dispose(); model.dispose();
  });
}

test('a hook returning a replacement splices it in: zeroing the last residual leaves logits = b_f W_U + b_U', async () => {
  const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gpt2'), { processing: false });
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const last = `blocks.${model.cfg.n_layers - 1}.hook_resid_post`;
  const { logits } = model.runWithHooks(tokens, { fwdHooks: [[last, (x) => tf.zerosLike(x)]] });
  // LayerNorm of a zero vector is its bias: every position's logits are ln_final.b @ W_U + b_U
  const expected = tf.add(tf.matMul(tf.reshape(model.params.get('ln_final.b') as tf.Tensor, [1, -1]), model.W_U), model.b_U);
  const rows = tf.reshape(logits as tf.Tensor, [-1, model.cfg.d_vocab_out]).arraySync() as number[][];
  for (const row of rows) assertTensorClose(row, expected.dataSync(), 1e-4, 1e-4, 'zeroed residual logits');
  // splice at one position only: other positions unchanged
  const base = model.forward(tokens).logits as tf.Tensor;
  const mask = tf.tensor3d([0, 1, 0, 0, 0, 0], [1, 6, 1]);
  const spliced = model.runWithHooks(tokens, { fwdHooks: [['blocks.0.hook_resid_post', (x) => tf.mul(x, tf.sub(1, mask))]] }).logits as tf.Tensor;
  const diff = tf.max(tf.abs(tf.sub(spliced, base)), [0, 2]).arraySync() as number[];
  assert.strictEqual(diff[0], 0, 'position before the splice is untouched (causal)');
  assert.ok(diff[1] > 1e-3 && diff[5] > 1e-5, `positions from the splice on change: ${diff}`);
  tf.dispose([tokens, logits as tf.Tensor, expected, base, mask, spliced]);
  model.dispose();
});

test('hook_result sums over heads to hook_attn_out; optional hooks only on request', async () => {
  const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gpt2'), { processing: false });
  assert.ok(!model.hookNames().includes('blocks.0.attn.hook_result'));
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const { cache } = model.runWithCache(tokens, { namesFilter: ['blocks.0.attn.hook_result', 'blocks.0.hook_attn_out'] });
  const result = cache.get('blocks.0.attn.hook_result');
  assert.deepStrictEqual(result.shape, [2, 6, model.cfg.n_heads, model.cfg.d_model]);
  const summed = tf.add(tf.sum(result, 2), model.params.get('blocks.0.attn.b_O') as tf.Tensor);
  assertTensorClose(summed, cache.get('blocks.0.hook_attn_out'), 1e-5, 1e-5, 'sum of per-head results');
  model.setUseAttnResult(true);
  assert.ok(model.hookNames().includes('blocks.1.attn.hook_result'));
  const all = model.runWithCache(tokens);
  assertTensorClose(all.cache.get('blocks.0.attn.hook_result'), result, 0, 0, 'same result with use_attn_result');
  assertTensorClose(all.logits as tf.Tensor, model.forward(tokens).logits as tf.Tensor, 1e-5, 1e-5, 'logits');
  tf.dispose([summed, tokens, all.logits as tf.Tensor]);
  all.cache.dispose(); cache.dispose(); model.dispose();
});

test('hook shapes follow TransformerLens, GQA keeps key/value heads; names are validated', async () => {
  const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'llama'));
  const { n_heads: h, d_head: dh, d_model: d } = model.cfg;
  const kv = model.cfg.n_key_value_heads as number;
  assert.ok(kv < h);
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const { cache, logits } = model.runWithCache(tokens);
  const shapes: Record<string, number[]> = {
    hook_embed: [2, 6, d], 'blocks.0.ln1.hook_scale': [2, 6, 1], 'blocks.0.attn.hook_q': [2, 6, h, dh], 'blocks.0.attn.hook_k': [2, 6, kv, dh],
    'blocks.0.attn.hook_v': [2, 6, kv, dh], 'blocks.0.attn.hook_rot_k': [2, 6, kv, dh], 'blocks.0.attn.hook_attn_scores': [2, h, 6, 6],
    'blocks.0.attn.hook_pattern': [2, h, 6, 6], 'blocks.0.attn.hook_z': [2, 6, h, dh], 'blocks.0.mlp.hook_pre': [2, 6, model.cfg.d_mlp as number],
    'blocks.0.mlp.hook_pre_linear': [2, 6, model.cfg.d_mlp as number], 'blocks.1.hook_resid_post': [2, 6, d],
  };
  for (const [name, shape] of Object.entries(shapes)) assert.deepStrictEqual(cache.get(name).shape, shape, name);
  assert.deepStrictEqual(logits?.shape, [2, 6, model.cfg.d_vocab_out]);
  assert.ok(!cache.has('hook_pos_embed'), 'rotary models have no positional embedding hook');
  assert.throws(() => cache.get('blocks.9.hook_resid_pre'), /ActivationCache has no 'blocks\.9\.hook_resid_pre'.*blocks\.0\.hook_resid_pre/);
  assert.throws(() => model.runWithCache(tokens, { namesFilter: ['blocks.0.hook_resid_pr'] }), /unknown hook name 'blocks\.0\.hook_resid_pr'.*blocks\.0\.hook_resid_pre/);
  assert.throws(() => model.runWithHooks(tokens, { fwdHooks: [['hook_pos_embed', (x) => x]] }), /unknown hook name 'hook_pos_embed'/);
  assert.throws(() => model.runWithHooks(tokens, { fwdHooks: [['hook_embed', () => tf.zeros([1, 2])]] }), /hook on 'hook_embed' returned shape \[1,2\]/);
  const bad = tf.tensor2d([[1, 2, 48]], undefined, 'int32');
  assert.throws(() => model.forward(bad), /token ids must be in \[0, 48\)/);
  const neox = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gpt_neox'));
  assert.ok(!neox.hookNames().some((n) => n.includes('hook_resid_mid')), 'parallel attention+MLP has no hook_resid_mid');
  tf.dispose([tokens, logits as tf.Tensor, bad]);
  cache.dispose(); model.dispose(); neox.dispose();
});

test('maxBatchTokens splits the batch without changing logits, loss or cache', async () => {
  const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'mistral'));
  const rows = [...TOKENS, [5, 5, 5, 1, 2, 3], [9, 8, 7, 6, 5, 4], [1, 1, 1, 1, 1, 1]];
  const tokens = tf.tensor2d(rows, undefined, 'int32');
  const mask = tf.tensor2d(rows.map((r, i) => r.map((_, j) => (i === 2 && j < 2 ? 0 : 1))), undefined, 'int32');
  const whole = model.runWithCache(tokens, { returnType: 'both', attentionMask: mask, namesFilter: 'blocks.1.hook_resid_post' });
  const split = model.runWithCache(tokens, { returnType: 'both', attentionMask: mask, namesFilter: 'blocks.1.hook_resid_post', maxBatchTokens: 13 });
  assertTensorClose(split.logits as tf.Tensor, whole.logits as tf.Tensor, 1e-5, 1e-5, 'logits');
  assertTensorClose(split.loss as tf.Tensor, whole.loss as tf.Tensor, 1e-6, 1e-6, 'loss');
  assertTensorClose(split.cache.get('blocks.1.hook_resid_post'), whole.cache.get('blocks.1.hook_resid_post'), 1e-5, 1e-5, 'cache');
  // the model's default budget applies when a call gives none
  assert.strictEqual(model.maxBatchTokens, Math.floor(2 ** 28 / model.cfg.d_vocab_out));
  model.maxBatchTokens = 13;
  let chunks = 0;
  const auto = model.runWithHooks(tokens, { attentionMask: mask, fwdHooks: [['hook_embed', () => { chunks++; }]] });
  assert.strictEqual(chunks, 3, '6 rows of 6 tokens with a 13-token budget run as 3 chunks of 2 rows');
  assertTensorClose(auto.logits as tf.Tensor, whole.logits as tf.Tensor, 1e-5, 1e-5, 'logits with the default budget');
  tf.dispose([tokens, mask, whole.logits as tf.Tensor, whole.loss as tf.Tensor, split.logits as tf.Tensor, split.loss as tf.Tensor, auto.logits as tf.Tensor]);
  whole.cache.dispose(); split.cache.dispose(); model.dispose();
});

test('100 forward passes leave tf.memory() unchanged', async () => {
  const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gemma'));
  const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
  const mask = tf.tensor2d([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], undefined, 'int32');
  const once = () => {
    const r = model.runWithCache(tokens, { returnType: 'both', attentionMask: mask, namesFilter: 'blocks.0.hook_resid_post', fwdHooks: [['blocks.0.hook_mlp_out', (x) => tf.mul(x, 0.5)]] });
    r.logits?.dispose(); r.loss?.dispose(); r.cache.dispose();
  };
  once();
  const before = tf.memory();
  for (let i = 0; i < 100; i++) once();
  const after = tf.memory();
  assert.strictEqual(after.numTensors, before.numTensors);
  assert.strictEqual(after.numBytes, before.numBytes);
  tf.dispose([tokens, mask]);
  model.dispose();
});

for (const family of FAMILIES) {
  test(`${family}: dVocab trims the vocabulary`, async () => {
    const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, family), { dVocab: 40 });
    assert.strictEqual(model.cfg.d_vocab, 40);
    assert.deepStrictEqual(model.W_E.shape, [40, model.cfg.d_model]);
    assert.deepStrictEqual(model.W_U.shape, [model.cfg.d_model, 40]);
    const full = await HookedTransformer.fromPretrained(path.join(FIXTURES, family), { processing: false });
    const trimmed = await HookedTransformer.fromPretrained(path.join(FIXTURES, family), { processing: false, dVocab: 40 });
    const tokens = tf.tensor2d([[1, 2, 39]], undefined, 'int32');
    const a = full.forward(tokens).logits as tf.Tensor;
    const b = trimmed.forward(tokens).logits as tf.Tensor;
    assertTensorClose(b, tf.slice(a, [0, 0, 0], [-1, -1, 40]), 1e-5, 1e-5, 'first 40 logits');
    tf.dispose([a, b, tokens]);
    for (const m of [model, full, trimmed]) m.dispose();
  });
}

test('TransformerLens aliases map to hub repo ids; SAELens kwargs map to options', async () => {
  const { officialModelName, optionsFromPretrainedKwargs } = await import('../../lib/model');
  assert.strictEqual(officialModelName('gpt2-small'), 'openai-community/gpt2');
  assert.strictEqual(officialModelName('pythia-70m-deduped'), 'EleutherAI/pythia-70m-deduped');
  assert.strictEqual(officialModelName('gemma-2b'), 'google/gemma-2b');
  assert.strictEqual(officialModelName('mistral-7b'), 'mistralai/Mistral-7B-v0.1');
  assert.strictEqual(officialModelName('meta-math/MetaMath-Mistral-7B'), 'meta-math/MetaMath-Mistral-7B');
  assert.deepStrictEqual(optionsFromPretrainedKwargs({ center_writing_weights: false, fold_ln: true, n_devices: 2, checkpoint_value: 3000 }), { centerWritingWeights: false, foldLn: true, revision: 'step3000' });
});
