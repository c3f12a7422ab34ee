import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir } from '../helpers';
import { HookedTransformer, paramShapes } from '../../lib/model';
import { FIXTURES, assertTensorClose } from './util';

before(setupBackend);

const TOKENS = [[3, 17, 5, 40, 22, 9], [0, 47, 13, 13, 8, 31]];

/** Central finite difference of the model loss in one parameter entry. */
function numericGrad(model: HookedTransformer, name: string, index: number, tokens: tf.Tensor2D, mask?: tf.Tensor2D): number {
  const v = model.params.get(name) as tf.Variable;
  const orig = v.dataSync().slice();
  const h = 1e-2;
  const lossAt = (delta: number) => {
    const d = orig.slice();
    d[index] += delta;
    v.assign(tf.tensor(d, v.shape));
    const l = model.forward(tokens, { returnType: 'loss', attentionMask: mask }).loss as tf.Tensor;
    const x = l.dataSync()[0];
    l.dispose();
    return x;
  };
  const g = (lossAt(h) - lossAt(-h)) / (2 * h);
  v.assign(tf.tensor(orig, v.shape));
  return g;
}

for (const family of ['gpt2', 'llama', 'gpt_neox']) {
  test(`${family}: tf.variableGrads through the forward pass matches finite differences`, async () => {
    const model = await HookedTransformer.fromPretrained(path.join(FIXTURES, family), { processing: false, trainable: true });
    const tokens = tf.tensor2d(TOKENS, undefined, 'int32');
    // left padding: rows whose queries see no key must not give NaN gradients
    const mask = tf.tensor2d([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], undefined, 'int32');
    const { value, grads } = tf.variableGrads(() => model.forward(tokens, { returnType: 'loss', attentionMask: mask }).loss as tf.Scalar);
    const trainable = [...model.params.values()].filter((p) => p.trainable).length;
    assert.strictEqual(Object.keys(grads).length, trainable);
    for (const g of Object.values(grads)) for (const x of g.dataSync()) assert.ok(Number.isFinite(x), 'finite gradient');
    const byName = (name: string) => grads[(model.params.get(name) as tf.Variable).name];
    // token 13 appears twice in row 1: its embedding gradient sums both uses
    const checks: Array<[string, number]> = [['embed.W_E', 13 * model.cfg.d_model + 2], ['blocks.0.attn.W_Q', 5], ['blocks.1.mlp.W_out', 7], ['unembed.W_U', 3], ['blocks.0.ln1.w', 1]];
    for (const [name, idx] of checks) {
      const analytic = byName(name).dataSync()[idx];
      const numeric = numericGrad(model, name, idx, tokens, mask);
      assert.ok(Math.abs(analytic - numeric) <= 2e-3 + 2e-2 * Math.abs(numeric), `${family} d loss / d ${name}[${idx}]: autograd ${analytic} vs finite difference ${numeric}`);
    }
    assert.ok(Math.abs(byName('embed.W_E').dataSync()[13 * model.cfg.d_model + 2]) > 0, 'repeated token has a gradient');
    tf.dispose([value, tokens, mask, ...Object.values(grads)]);
    model.dispose();
  });
}

test('fromConfig: TransformerLens defaults, seeded init, InterpBench-style configs via loadStateDict', () => {
  const a = HookedTransformer.fromConfig({ n_layers: 2, d_model: 16, d_head: 4, n_heads: 4, d_vocab: 30, n_ctx: 8, act_fn: 'gelu_new' }, { seed: 3 });
  const b = HookedTransformer.fromConfig({ n_layers: 2, d_model: 16, d_head: 4, n_heads: 4, d_vocab: 30, n_ctx: 8, act_fn: 'gelu_new' }, { seed: 3 });
  assert.strictEqual(a.cfg.d_mlp, 64);
  assert.strictEqual(a.cfg.d_vocab_out, 30);
  assert.strictEqual(a.cfg.initializer_range, 0.8 / Math.sqrt(16));
  assert.deepStrictEqual(a.W_E.dataSync(), b.W_E.dataSync(), 'same seed, same weights');
  // seed 0 is a seed too (tfjs alone would read 0 as "unseeded" for the first weight)
  const z = () => HookedTransformer.fromConfig({ n_layers: 1, d_model: 8, d_head: 4, n_heads: 2, d_vocab: 10, n_ctx: 4, act_fn: 'gelu_new' }, { seed: 0 });
  const [z1, z2] = [z(), z()];
  for (const [k, v] of z1.params) assert.deepStrictEqual(v.dataSync(), (z2.params.get(k) as tf.Tensor).dataSync(), `seed 0: ${k} reproducible`);
  z1.dispose(); z2.dispose();
  const wq = a.params.get('blocks.0.attn.W_Q') as tf.Tensor;
  assert.deepStrictEqual(wq.shape, [4, 16, 4]);
  const std = Math.sqrt(tf.tidy(() => tf.mean(tf.square(wq)).dataSync()[0]));
  assert.ok(Math.abs(std - 0.2) < 0.03, `W_Q std ${std} near initializer_range 0.2`);
  assert.deepStrictEqual([...(a.params.get('blocks.0.ln1.w') as tf.Tensor).dataSync()], new Array(16).fill(1));
  assert.deepStrictEqual([...(a.params.get('blocks.0.attn.b_Q') as tf.Tensor).dataSync()], new Array(16).fill(0));
  // no normalisation, d_head != d_model / n_heads, d_vocab_out != d_vocab, relu
  const ib = HookedTransformer.fromConfig({ n_layers: 1, d_model: 8, d_head: 3, n_heads: 2, d_mlp: 5, d_vocab: 6, d_vocab_out: 4, n_ctx: 5, act_fn: 'relu', normalization_type: null });
  assert.ok(!ib.hookNames().some((n) => n.includes('ln')), 'no norm hooks without normalisation');
  const sd: Record<string, tf.Tensor> = {};
  let k = 0;
  for (const [name, shape] of paramShapes(ib.cfg)) sd[name] = tf.tensor(Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => ((k++ * 37) % 11) / 10 - 0.5), shape);
  ib.loadStateDict(sd);
  assert.deepStrictEqual((ib.params.get('blocks.0.attn.W_O') as tf.Tensor).dataSync(), sd['blocks.0.attn.W_O'].dataSync());
  const tokens = tf.tensor2d([[0, 5, 2]], undefined, 'int32');
  const { logits, cache } = ib.runWithCache(tokens);
  assert.deepStrictEqual(logits?.shape, [1, 3, 4]);
  // hand check of the first position: it attends only to itself, so z = v = (W_E[0] + W_pos[0]) W_V + b_V
  const e = tf.add(tf.slice(sd['embed.W_E'], [0, 0], [1, -1]), tf.slice(sd['pos_embed.W_pos'], [0, 0], [1, -1]));
  const v = tf.add(tf.sum(tf.mul(tf.reshape(e, [1, -1, 1]), sd['blocks.0.attn.W_V']), 1), sd['blocks.0.attn.b_V']);
  assertTensorClose(tf.slice(cache.get('blocks.0.attn.hook_z'), [0, 0, 0, 0], [1, 1, -1, -1]).reshape([2, 3]), v, 1e-5, 1e-5, 'z at position 0');
  const missing = { ...sd };
  delete missing['blocks.0.mlp.b_in'];
  assert.throws(() => ib.loadStateDict(missing), /missing key 'blocks\.0\.mlp\.b_in'/);
  assert.throws(() => ib.loadStateDict({ ...sd, extra: tf.zeros([1]) }), /unexpected key 'extra'/);
  ib.loadStateDict({ 'unembed.b_U': tf.ones([4]) }, { strict: false });
  assert.throws(() => ib.loadStateDict({ 'unembed.b_U': tf.ones([5]) }, { strict: false }), /'unembed\.b_U' has shape \[5\], expected \[4\]/);
  assert.throws(() => HookedTransformer.fromConfig({ n_layers: 1, d_model: 8, d_head: 4, n_ctx: 4, d_vocab: 5, act_fn: 'swish' }), /act_fn 'swish' is not supported/);
  cache.dispose(); logits?.dispose();
  for (const m of [a, b, ib]) m.dispose();
});

test('saveHuggingFace writes HF GPT-2 layout that loads back to identical logits', async () => {
  const dir = tmpDir();
  // untied random model
  const m = HookedTransformer.fromConfig({ n_layers: 2, d_model: 16, d_head: 4, n_heads: 4, d_vocab: 30, n_ctx: 8, act_fn: 'gelu_new' }, { seed: 5 });
  const out = path.join(dir, 'tiny');
  await m.saveHuggingFace(out);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.strictEqual(cfg.model_type, 'gpt2');
  assert.strictEqual(cfg.n_embd, 16);
  assert.strictEqual(cfg.tie_word_embeddings, false);
  const back = await HookedTransformer.fromPretrained(out, { processing: false });
  const tokens = tf.tensor2d([[1, 2, 3, 29, 0, 7]], undefined, 'int32');
  assert.deepStrictEqual((back.forward(tokens).logits as tf.Tensor).dataSync(), (m.forward(tokens).logits as tf.Tensor).dataSync());
  // tied checkpoint (the gpt2 fixture) round trip keeps HF key names and Conv1D [in, out] shapes
  const g = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gpt2'), { processing: false });
  const out2 = path.join(dir, 'gpt2copy');
  await g.saveHuggingFace(out2);
  const { SafetensorsFile } = await import('../../lib/io/safetensors');
  const f = SafetensorsFile.open(path.join(out2, 'model.safetensors'));
  assert.deepStrictEqual(f.info('h.0.attn.c_attn.weight').shape, [16, 48]);
  assert.deepStrictEqual(f.info('h.1.mlp.c_proj.weight').shape, [64, 16]);
  assert.ok(!f.has('lm_head.weight') && !f.names().some((n) => n.startsWith('transformer.')));
  const orig = SafetensorsFile.open(path.join(FIXTURES, 'gpt2', 'model.safetensors'));
  for (const name of orig.names()) assertTensorClose(f.readFloat32(name), orig.readFloat32(name), 0, 0, name);
  f.close(); orig.close();
  const g2 = await HookedTransformer.fromPretrained(out2, { processing: false });
  assert.deepStrictEqual((g2.forward(tokens).logits as tf.Tensor).dataSync(), (g.forward(tokens).logits as tf.Tensor).dataSync());
  const processed = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gpt2'));
  await assert.rejects(processed.saveHuggingFace(path.join(dir, 'x')), /weights are processed/);
  for (const x of [m, back, g, g2, processed]) x.dispose();
  tokens.dispose();
});

test('tokenizer glue: toTokens prepends BOS and pads, toString decodes', () => {
  const m = HookedTransformer.fromConfig({ n_layers: 1, d_model: 8, d_head: 4, n_heads: 2, d_vocab: 30, n_ctx: 8, act_fn: 'relu' });
  assert.throws(() => m.toTokens('ab'), /no tokenizer set/);
  const chars = 'abcdefghijklmnopqrstuvwxyz ';
  m.setTokenizer({ encode: (s) => [...s].map((c) => chars.indexOf(c)), decode: (ids) => ids.map((i) => (i === 29 ? '<bos>' : chars[i])).join(''), bosTokenId: 29 });
  const t = m.toTokens(['ab', 'cde']);
  assert.deepStrictEqual(t.arraySync(), [[29, 0, 1, 29], [29, 2, 3, 4]]);
  const { attentionMask } = m.toTokensWithMask(['ab', 'cde'], { paddingSide: 'left', prependBos: false });
  assert.deepStrictEqual(attentionMask.arraySync(), [[0, 1, 1], [1, 1, 1]]);
  assert.deepStrictEqual(m.toString(t), ['<bos>ab<bos>', '<bos>cde']);
  assert.deepStrictEqual(m.toStrTokens('hi'), ['<bos>', 'h', 'i']);
  tf.dispose([t, attentionMask]);
  m.dispose();
});

test('fromPretrained attaches the folder\'s tokenizer.json; toTokens uses GPT-2 ids with BOS', async () => {
  const dir = path.join(tmpDir(), 'withtok');
  fs.mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIXTURES, 'gpt2', f), path.join(dir, f));
  const tokDir = path.join(__dirname, '..', '..', '..', 'data', 'tokenizers', 'gpt2');
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) fs.copyFileSync(path.join(tokDir, f), path.join(dir, f));
  const m = await HookedTransformer.fromPretrained(dir);
  assert.ok(m.tokenizer, 'tokenizer attached');
  const t = m.toTokens('Hello world');
  // GPT-2's ids: <|endoftext|> 50256, "Hello" 15496, " world" 995
  assert.deepStrictEqual(t.arraySync(), [[50256, 15496, 995]]);
  assert.strictEqual(m.toString([15496, 995]), 'Hello world');
  t.dispose();
  m.dispose();
  const bare = await HookedTransformer.fromPretrained(dir, { tokenizer: false });
  assert.strictEqual(bare.tokenizer, null);
  bare.dispose();
});

test('sharded checkpoints (model.safetensors.index.json) and transformer.-prefixed GPT-2 keys load the same model', async () => {
  const { SafetensorsFile, writeSafetensors } = await import('../../lib/io/safetensors');
  const dir = path.join(tmpDir(), 'sharded');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(FIXTURES, 'gpt2', 'config.json'), path.join(dir, 'config.json'));
  const src = SafetensorsFile.open(path.join(FIXTURES, 'gpt2', 'model.safetensors'));
  const names = src.names();
  const weightMap: Record<string, string> = {};
  for (const [i, part] of [names.slice(0, 10), names.slice(10)].entries()) {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const n of part) {
      tensors[`transformer.${n}`] = { dtype: 'F32', shape: src.info(n).shape, data: src.readFloat32(n) };
      weightMap[`transformer.${n}`] = shard;
    }
    writeSafetensors(path.join(dir, shard), tensors);
  }
  src.close();
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const a = await HookedTransformer.fromPretrained(dir);
  const b = await HookedTransformer.fromPretrained(path.join(FIXTURES, 'gpt2'));
  const tokens = tf.tensor2d([[1, 2, 3, 4]], undefined, 'int32');
  assert.deepStrictEqual((a.forward(tokens).logits as tf.Tensor).dataSync(), (b.forward(tokens).logits as tf.Tensor).dataSync());
  fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
  await assert.rejects(HookedTransformer.fromPretrained(dir), /shard model-00002-of-00002\.safetensors .* is missing/);
  tokens.dispose(); a.dispose(); b.dispose();
});
