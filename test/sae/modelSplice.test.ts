/**
 * Splicing SAEs into the real HookedTransformer (a tiny random GPT-2-style model and the tiny GPT-2
 * checkpoint fixture): causal independence of positions before the spliced one, the error term
 * leaving logits unchanged, hook_z SAEs, metadata-driven model loading and width errors.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { SAE, runWithSAE, runWithCacheAndSAE, loadModelForSAE, checkSAEFitsModel } from '../../lib/sae';
import { setupBackend, assertClose, REPO_ROOT } from '../helpers';

before(setupBackend);

function randomSAE(dIn: number, dSae: number, hookName: string, seed: number, extra: Partial<SAE['cfg']> = {}): SAE {
  const w = {
    W_enc: tf.randomNormal([dIn, dSae], 0, 0.5, 'float32', seed),
    W_dec: tf.randomNormal([dSae, dIn], 0, 0.5, 'float32', seed + 1),
    b_enc: tf.randomNormal([dSae], 0, 0.1, 'float32', seed + 2),
    b_dec: tf.randomNormal([dIn], 0, 0.1, 'float32', seed + 3),
  };
  const sae = SAE.create({ d_in: dIn, d_sae: dSae, metadata: { hook_name: hookName }, ...extra }, w);
  tf.dispose(Object.values(w));
  return sae;
}

const model = (() => {
  let m: HookedTransformer | undefined;
  return () => (m ??= HookedTransformer.fromConfig({ n_layers: 2, d_model: 8, n_ctx: 16, d_head: 4, d_vocab: 20, act_fn: 'gelu_new' }, { seed: 7 }));
})();
const tokens = () => tf.tensor2d([[1, 5, 9, 2, 11, 3], [4, 4, 17, 0, 8, 6]], [2, 6], 'int32');

test('splicing at chosen positions leaves earlier positions\' logits unchanged and changes the spliced one', async () => {
  const m = model();
  const sae = randomSAE(8, 16, 'blocks.1.hook_resid_pre', 100);
  const clean = (await m.forward(tokens()).logits!.array()) as number[][][];
  const spliced = (await runWithSAE(m, sae, tokens(), { positions: [3] }).logits!.array()) as number[][][];
  for (let b = 0; b < 2; b++) {
    for (let p = 0; p < 3; p++) assert.deepStrictEqual(spliced[b][p], clean[b][p], `batch ${b} pos ${p} must be untouched`);
    const diff = Math.max(...spliced[b][3].map((v, i) => Math.abs(v - clean[b][3][i])));
    assert.ok(diff > 1e-3, `position 3 of batch ${b} should change (max diff ${diff})`);
  }
  // the same as replacing the activation by hand with the SAE reconstruction at position 3
  const { cache } = m.runWithCache(tokens(), { namesFilter: ['blocks.1.hook_resid_pre'] });
  const act = cache.get('blocks.1.hook_resid_pre');
  const recon = sae.forward(act);
  const mask = tf.tensor3d([0, 0, 0, 1, 0, 0].map((v) => [v]).flat(), [1, 6, 1]);
  const manual = tf.add(tf.mul(mask, recon), tf.mul(tf.sub(1, mask), act));
  const byHand = m.forward(tokens(), { fwdHooks: [['blocks.1.hook_resid_pre', () => manual]] });
  assertClose(await runWithSAE(m, sae, tokens(), { positions: [3] }).logits!.data(), await byHand.logits!.data(), 1e-5, 1e-5);
  cache.dispose();
  sae.dispose();
});

test('with the error term the logits equal the clean ones; without it they differ', async () => {
  const m = model();
  const sae = randomSAE(8, 16, 'blocks.0.hook_resid_post', 200);
  const clean = await m.forward(tokens()).logits!.data();
  assertClose(await runWithSAE(m, sae, tokens(), { includeError: true }).logits!.data(), clean, 1e-5, 1e-5);
  const without = await runWithSAE(m, sae, tokens()).logits!.data();
  assert.ok(Math.max(...Array.from(without).map((v, i) => Math.abs(v - clean[i]))) > 1e-3);
  // zeroing every feature with the error term = replacing the activation by x - x^ + b_dec
  const res = runWithCacheAndSAE(m, sae, tokens(), { includeError: true, namesFilter: ['blocks.0.hook_resid_post'] });
  const feats = res.saeCache.get('blocks.0.hook_resid_post.hook_sae_acts_post')!;
  assert.deepStrictEqual(feats.shape, [2, 6, 16]);
  const { cache } = m.runWithCache(tokens(), { namesFilter: ['blocks.0.hook_resid_post'] });
  assertClose(await feats.data(), await sae.encode(cache.get('blocks.0.hook_resid_post')).data(), 1e-5, 1e-5);
  cache.dispose();
  sae.dispose();
});

test('a hook_z SAE splices into attn.hook_z [batch, pos, n_heads, d_head]', async () => {
  const m = model();
  const sae = randomSAE(8, 12, 'blocks.0.attn.hook_z', 300, { reshape_activations: 'hook_z' });
  checkSAEFitsModel(sae, m);
  const clean = await m.forward(tokens()).logits!.data();
  assertClose(await runWithSAE(m, sae, tokens(), { includeError: true }).logits!.data(), clean, 1e-5, 1e-5);
  const res = runWithCacheAndSAE(m, sae, tokens(), { namesFilter: ['blocks.0.attn.hook_z'] });
  assert.deepStrictEqual(res.saeCache.get('blocks.0.attn.hook_z.hook_sae_acts_post')!.shape, [2, 6, 12]);
  assert.deepStrictEqual(res.saeCache.get('blocks.0.attn.hook_z.hook_sae_output')!.shape, [2, 6, 2, 4]);
  sae.dispose();
});

test('width and hook mismatches are named', () => {
  const m = model();
  const wide = randomSAE(10, 4, 'blocks.0.hook_resid_pre', 400);
  assert.throws(() => runWithSAE(m, wide, tokens()), /SAE d_in=10 does not match the model's blocks.0.hook_resid_pre width 8/);
  assert.throws(() => checkSAEFitsModel(wide, m), /SAE d_in=10 does not match the model's blocks.0.hook_resid_pre width 8/);
  const elsewhere = randomSAE(8, 4, 'blocks.5.hook_resid_pre', 500);
  assert.throws(() => checkSAEFitsModel(elsewhere, m), /blocks.5.hook_resid_pre is not a hook of the model/);
  wide.dispose();
  elsewhere.dispose();
});

test('loadModelForSAE loads the model as the SAE metadata says and warns on an override', async () => {
  const dir = path.join(REPO_ROOT, 'test', 'fixtures', 'model', 'gpt2');
  const sae = randomSAE(16, 8, 'blocks.1.hook_resid_pre', 600);
  sae.cfg.metadata.model_name = dir;
  sae.cfg.metadata.model_from_pretrained_kwargs = { center_writing_weights: false, fold_ln: true };
  const a = await loadModelForSAE(sae);
  assert.strictEqual(a.processing.centerWritingWeights, false);
  assert.strictEqual(a.processing.foldLn, true);
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarn);
  const b = await loadModelForSAE(sae, { centerWritingWeights: true });
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarn);
  assert.strictEqual(b.processing.centerWritingWeights, true);
  assert.ok(warnings.some((w) => /trained with centerWritingWeights=false/.test(w)), warnings.join('\n'));
  a.dispose();
  b.dispose();
  sae.dispose();
});

test('an SAE with hook_head_index reads and replaces only that head of attn.hook_z', async () => {
  const m = model();
  const sae = randomSAE(4, 6, 'blocks.0.attn.hook_z', 700);
  sae.cfg.metadata.hook_head_index = 1;
  const clean = m.runWithCache(tokens(), { namesFilter: ['blocks.0.attn.hook_z'] }).cache.get('blocks.0.attn.hook_z'); // [2, 6, 2, 4]
  const spliced = m.runWithCache(tokens(), { namesFilter: ['blocks.0.attn.hook_z'], fwdHooks: (await import('../../lib/sae')).spliceHooks(sae) }).cache.get('blocks.0.attn.hook_z');
  const head = (t: tf.Tensor, h: number) => tf.squeeze(tf.slice(t, [0, 0, h, 0], [-1, -1, 1, -1]), [2]);
  assert.deepStrictEqual(Array.from(await head(spliced, 0).data()), Array.from(await head(clean, 0).data()));
  assertClose(await head(spliced, 1).data(), await sae.forward(head(clean, 1)).data(), 1e-6, 1e-6);
  sae.dispose();
});
