/**
 * Folders in SAELens's layout (v6 and pre-6.0, written by tools/make_sae_fixtures.py the way SAELens
 * writes them), Gemma Scope params.npz, save/load round trips, and the release registry.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SAE, parseSAEConfig, resolveRelease, registerRelease, comparePep440, parsePep440, isV6Config } from '../../lib/sae';
import { readNpz } from '../../lib/io/npz';
import { SafetensorsFile } from '../../lib/io/safetensors';
import { setupBackend, assertClose, tmpDir, REPO_ROOT } from '../helpers';

before(setupBackend);

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'sae');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));

async function checkAgainstReference(sae: SAE, name: string): Promise<void> {
  const e = expected[name];
  const x = tf.tensor(e.x.flat(Infinity) as number[], e.x_shape);
  const f = sae.encode(x);
  assert.deepStrictEqual(f.shape, e.feature_shape, `${name} feature shape`);
  assertClose(await f.data(), e.feature_acts, 1e-4, 1e-4, `${name} feature_acts`);
  const y = sae.forward(x);
  assert.deepStrictEqual(y.shape, e.x_shape);
  assertClose(await y.data(), e.sae_out, 1e-4, 1e-4, `${name} sae_out`);
  tf.dispose([x, f, y]);
}

test('v6 folder (jumprelu): cfg, metadata, sparsity and outputs as SAELens computes them', async () => {
  const sae = await SAE.load(path.join(FIX, 'v6_jumprelu'));
  assert.strictEqual(sae.cfg.architecture, 'jumprelu');
  assert.strictEqual(sae.cfg.metadata.hook_name, 'blocks.1.hook_resid_post');
  assert.deepStrictEqual(sae.cfg.metadata.model_from_pretrained_kwargs, { center_writing_weights: false });
  assert.strictEqual(sae.cfg.metadata.context_size, 16);
  assertClose(sae.sparsity!, [Math.log10(0.5), -2, -4, Math.log10(0.2)]);
  await checkAgainstReference(sae, 'v6_jumprelu');
  sae.dispose();
});

test('v6 folder (topk, bf16 weights, layer_norm, rescale by decoder norm)', async () => {
  const sae = await SAE.load(path.join(FIX, 'v6_topk_bf16'));
  assert.strictEqual(sae.cfg.dtype, 'bfloat16');
  assert.strictEqual(sae.cfg.k, 2);
  assert.strictEqual(sae.cfg.rescale_acts_by_decoder_norm, true);
  assert.strictEqual(sae.cfg.normalize_activations, 'layer_norm');
  await checkAgainstReference(sae, 'v6_topk_bf16');
  sae.dispose();
});

test('v6 folder (gated, constant_norm_rescale)', async () => {
  const sae = await SAE.load(path.join(FIX, 'v6_gated'));
  assert.strictEqual(sae.cfg.architecture, 'gated');
  await checkAgainstReference(sae, 'v6_gated');
  sae.dispose();
});

test('pre-6.0 GPT-2 style flat cfg: hook_point renamed, torch dtype, defaults, unit scaling_factor dropped', async () => {
  const sae = await SAE.load(path.join(FIX, 'pre6_standard_gpt2style'));
  assert.strictEqual(sae.cfg.architecture, 'standard');
  assert.strictEqual(sae.cfg.dtype, 'torch.float32');
  assert.strictEqual(sae.cfg.apply_b_dec_to_input, true);
  assert.strictEqual(sae.cfg.normalize_activations, 'none');
  assert.deepStrictEqual(sae.cfg.metadata, {
    model_name: 'gpt2-small', hook_name: 'blocks.2.hook_resid_pre', hook_head_index: null,
    dataset_path: 'Skylion007/openwebtext', context_size: 128, prepend_bos: true,
  });
  assert.deepStrictEqual(Object.keys(sae.weights).sort(), ['W_dec', 'W_enc', 'b_dec', 'b_enc']);
  await checkAgainstReference(sae, 'pre6_standard_gpt2style');
  sae.dispose();
});

test('pre-6.0 (5.x) cfg: topk from activation_fn_str + kwargs, boolean normalize, nested metadata discarded', async () => {
  const sae = await SAE.load(path.join(FIX, 'pre6_topk_v5'));
  assert.strictEqual(sae.cfg.architecture, 'topk');
  assert.strictEqual(sae.cfg.k, 2);
  assert.strictEqual(sae.cfg.normalize_activations, 'none');
  assert.strictEqual(sae.cfg.apply_b_dec_to_input, false);
  assert.strictEqual(sae.cfg.metadata.hook_name, 'blocks.3.hook_resid_post');
  assert.strictEqual(sae.cfg.metadata.sae_lens_version, '5.9.1');
  await checkAgainstReference(sae, 'pre6_topk_v5');
  sae.dispose();
});

test('pre-6.0 hook_z SAE: reshape inferred from the hook name, [b, p, heads, d_head] in and out', async () => {
  const sae = await SAE.load(path.join(FIX, 'pre6_hook_z'));
  assert.strictEqual(sae.cfg.reshape_activations, 'hook_z');
  await checkAgainstReference(sae, 'pre6_hook_z');
  sae.dispose();
});

test('cfg parsing: version gate and conversions', () => {
  // a boolean true normalize_activations in a pre-6.0 cfg means expected_average_only_in
  const c = parseSAEConfig({ d_in: 2, d_sae: 3, hook_point: 'blocks.0.hook_resid_pre', normalize_activations: true });
  assert.strictEqual(c.normalize_activations, 'expected_average_only_in');
  // a v6 cfg keeps its nested metadata; top-level LLM keys are dropped (SAELens does the same)
  const v6 = parseSAEConfig({ d_in: 2, d_sae: 3, model_name: 'dropped', metadata: { sae_lens_version: '6.0.0rc1', hook_name: 'h' } });
  assert.deepStrictEqual(v6.metadata, { sae_lens_version: '6.0.0rc1', hook_name: 'h' });
  assert.strictEqual(isV6Config({ sae_lens_version: '6.0.0rc0' }), true);
  assert.strictEqual(isV6Config({ sae_lens_version: '6.0.0.dev3' }), false);
  assert.strictEqual(isV6Config({ metadata: { sae_lens_version: '5.11.0' } }), false);
  assert.throws(() => parseSAEConfig({ d_in: 2, d_sae: 3, sae_lens_version: 'six', metadata: { hook_name: 'h' } }), /not a valid PEP 440 version/);
  assert.throws(() => parseSAEConfig({ d_in: 2, d_sae: 3, architecture: 'matryoshka', metadata: { hook_name: 'h', sae_lens_version: '6.1.0' } }), /unknown architecture "matryoshka"/);
  assert.throws(() => parseSAEConfig({ d_in: 2, hook_point: 'h' }), /missing required field d_sae/);
  assert.strictEqual(comparePep440('6.18.0', '6.2.0'), 1);
  assert.strictEqual(comparePep440('6.0.0rc0', '6.0.0'), -1);
  assert.strictEqual(comparePep440('6.0', '6.0.0'), 0);
  assert.strictEqual(parsePep440('6.18.0+local.1')?.release.join('.'), '6.18.0');
});

test('Gemma Scope params.npz folder (deflated): jumprelu, apply_b_dec_to_input false, hook from the repo id', async () => {
  const dir = path.join(FIX, 'gemma_scope', 'layer_3', 'tiny', 'average_l0_2');
  const sae = await SAE.load(dir, { repoId: 'google/gemma-scope-2b-pt-res' });
  assert.strictEqual(sae.cfg.architecture, 'jumprelu');
  assert.strictEqual(sae.cfg.apply_b_dec_to_input, false);
  assert.strictEqual(sae.cfg.d_in, 2304);
  assert.strictEqual(sae.cfg.metadata.hook_name, 'blocks.3.hook_resid_post');
  assert.strictEqual(sae.cfg.metadata.model_name, 'gemma-2-2b');
  const e = expected.gemma_scope;
  const xs = new Float32Array(2 * 2304);
  for (const [r, c, v] of e.x_nonzero) xs[r * 2304 + c] = v;
  const x = tf.tensor2d(xs, [2, 2304]);
  assertClose(await sae.encode(x).data(), e.feature_acts, 1e-5, 1e-5);
  const ys = new Float32Array(2 * 2304);
  for (const [r, c, v] of e.sae_out_nonzero) ys[r * 2304 + c] = v;
  assertClose(await sae.forward(x).data(), ys, 1e-5, 1e-5);
  sae.dispose();
});

test('npz reader: stored members, float64 / int32 / float16', () => {
  const a = readNpz(path.join(FIX, 'stored.npz'));
  assert.deepStrictEqual(a.a.shape, [2, 3]);
  assertClose(a.a.data, [0, 0.25, 0.5, 0.75, 1, 1.25]);
  assertClose(a.b.data, [-3, 7]);
  assertClose(a.c.data, [0.5, -1.25, 2048]);
});

test('save/load round trip is exact and writes SAELens 6 files', async () => {
  const dir = tmpDir();
  for (const name of ['v6_jumprelu', 'v6_topk_bf16', 'v6_gated', 'pre6_hook_z']) {
    const a = await SAE.load(path.join(FIX, name));
    const out = path.join(dir, name);
    await a.save(out);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'cfg.json'), 'utf8'));
    assert.strictEqual(cfg.metadata.sae_lens_version, name === 'pre6_hook_z' ? '6.18.0' : a.cfg.metadata.sae_lens_version);
    assert.ok(typeof cfg.metadata.saelab_version === 'string');
    assert.strictEqual(cfg.architecture, a.cfg.architecture);
    assert.strictEqual(isV6Config(cfg), true);
    const b = await SAE.load(out);
    assert.deepStrictEqual({ ...b.cfg, metadata: {} }, { ...a.cfg, metadata: {} });
    for (const k of Object.keys(a.weights)) {
      assert.deepStrictEqual(Array.from(await b.weights[k].data()), Array.from(await a.weights[k].data()), `${name} ${k}`);
    }
    if (a.sparsity) assert.deepStrictEqual(Array.from(b.sparsity!), Array.from(a.sparsity));
    const st = SafetensorsFile.open(path.join(out, 'sae_weights.safetensors'));
    assert.strictEqual(st.info('W_enc').dtype, name === 'v6_topk_bf16' ? 'BF16' : 'F32');
    st.close();
    a.dispose();
    b.dispose();
  }
  // explicit sparsity on save
  const s = await SAE.load(path.join(FIX, 'pre6_hook_z'));
  await s.save(path.join(dir, 'with_sparsity'), { sparsity: new Float32Array([-1, -2, -3]) });
  const f = SafetensorsFile.open(path.join(dir, 'with_sparsity', 'sparsity.safetensors'));
  assertClose(f.readFloat32('sparsity'), [-1, -2, -3]);
  f.close();
  s.dispose();
});

test('registry: releases map to repo and folder with config_overrides; owner/repo falls back to folder ids', () => {
  const r = resolveRelease('gpt2-small-res-jb', 'blocks.8.hook_resid_pre');
  assert.strictEqual(r.repoId, 'jbloom/GPT2-Small-SAEs-Reformatted');
  assert.strictEqual(r.folder, 'blocks.8.hook_resid_pre');
  assert.deepStrictEqual(r.configOverrides.model_from_pretrained_kwargs, { center_writing_weights: true });
  const g = resolveRelease('gemma-scope-2b-pt-res-canonical', 'layer_6/width_16k/canonical');
  assert.strictEqual(g.repoId, 'google/gemma-scope-2b-pt-res');
  assert.strictEqual(g.folder, 'layer_6/width_16k/average_l0_70');
  assert.strictEqual(g.conversion, 'gemma_2');
  assert.deepStrictEqual(resolveRelease('mistral-7b-res-wg', 'blocks.8.hook_resid_pre').configOverrides.normalize_activations, 'constant_norm_rescale');
  assert.strictEqual(resolveRelease('pythia-70m-deduped-res-sm', 'blocks.0.hook_resid_pre').folder, 'e-res-sm');
  assert.strictEqual(resolveRelease('gemma-2b-res-jb', 'blocks.12.hook_resid_post').normScalingFactor, 0.21381938399317255);
  assert.strictEqual(resolveRelease('saelab-demo-res', 'blocks.3.hook_resid_pre').repoId, 'saelab/demo-saes');
  assert.strictEqual(resolveRelease('saelab-demo-res', 'blocks.11.hook_resid_pre').folder, 'blocks.11.hook_resid_pre');
  assert.throws(() => resolveRelease('saelab-demo-res', 'blocks.1.hook_resid_post'), /not found in release 'saelab-demo-res'/);
  const o = resolveRelease('someone/my-saes', 'layer_1');
  assert.deepStrictEqual([o.repoId, o.folder], ['someone/my-saes', 'layer_1']);
  assert.throws(() => resolveRelease('gpt2-small-res-jb', 'blocks.99.hook_resid_pre'), /not found in release 'gpt2-small-res-jb'. Valid ids: blocks.0.hook_resid_pre/);
  assert.throws(() => resolveRelease('no-such-release', 'x'), /unknown SAE release 'no-such-release'/);
});

/** An HF cache with one repo snapshot whose folders are copies of fixtures. */
function fakeHubCache(root: string, repoId: string, folders: Record<string, string>): void {
  const repo = path.join(root, `models--${repoId.replace('/', '--')}`);
  const commit = 'a'.repeat(40);
  fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
  for (const [folder, fixture] of Object.entries(folders)) {
    fs.cpSync(path.join(FIX, fixture), path.join(repo, 'snapshots', commit, folder), { recursive: true });
  }
}

test('fromPretrained applies config_overrides and folds a release norm scaling factor (offline cache)', async () => {
  const cache = tmpDir();
  fakeHubCache(cache, 'jbloom/GPT2-Small-SAEs-Reformatted', { 'blocks.2.hook_resid_pre': 'pre6_standard_gpt2style' });
  fakeHubCache(cache, 'JoshEngels/Mistral-7B-Residual-Stream-SAEs', { mistral_7b_layer_8: 'pre6_standard_gpt2style' });
  fakeHubCache(cache, 'me/scaled-saes', { l2: 'pre6_standard_gpt2style' });
  const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    const gpt2 = await SAE.fromPretrained('gpt2-small-res-jb', 'blocks.2.hook_resid_pre');
    assert.deepStrictEqual(gpt2.cfg.metadata.model_from_pretrained_kwargs, { center_writing_weights: true });
    assert.strictEqual(gpt2.cfg.metadata.neuronpedia_id, 'gpt2-small/2-res-jb');
    await checkAgainstReference(gpt2, 'pre6_standard_gpt2style');
    const mistral = await SAE.fromPretrained('mistral-7b-res-wg', 'blocks.8.hook_resid_pre');
    assert.strictEqual(mistral.cfg.normalize_activations, 'constant_norm_rescale');
    registerRelease('test-scaled', {
      repo_id: 'me/scaled-saes', model: 'gpt2-small', conversion_func: null, config_overrides: { normalize_activations: true },
      saes: [{ id: 'blocks.2.hook_resid_pre', path: 'l2', norm_scaling_factor: 4 }],
    });
    const scaled = await SAE.fromPretrained('test-scaled', 'blocks.2.hook_resid_pre');
    assert.strictEqual(scaled.cfg.normalize_activations, 'none');
    assertClose(await scaled.weights.W_enc.data(), Array.from(await gpt2.weights.W_enc.data()).map((v) => v * 4));
    assertClose(await scaled.weights.b_dec.data(), Array.from(await gpt2.weights.b_dec.data()).map((v) => v / 4));
    // a Gemma Scope (gemma_2 loader) release: params.npz from the cache, config from repo id and folder
    fakeHubCache(cache, 'google/gemma-scope-2b-pt-res', { 'layer_3/tiny/average_l0_2': 'gemma_scope/layer_3/tiny/average_l0_2' });
    registerRelease('test-gemma-scope', {
      repo_id: 'google/gemma-scope-2b-pt-res', model: 'gemma-2-2b', conversion_func: 'gemma_2', config_overrides: null,
      saes: [{ id: 'layer_3/tiny', path: 'layer_3/tiny/average_l0_2', neuronpedia: 'x/3' }],
    });
    const gs = await SAE.fromPretrained('test-gemma-scope', 'layer_3/tiny');
    assert.strictEqual(gs.cfg.architecture, 'jumprelu');
    assert.strictEqual(gs.cfg.metadata.hook_name, 'blocks.3.hook_resid_post');
    assert.strictEqual(gs.cfg.metadata.neuronpedia_id, 'x/3');
    assert.strictEqual(gs.cfg.d_sae, 4);
    gs.dispose();
    // owner/repo release with the folder as sae id
    const direct = await SAE.fromPretrained('me/scaled-saes', 'l2');
    assert.strictEqual(direct.cfg.normalize_activations, 'none');
    await assert.rejects(SAE.fromPretrained('me/not-cached', 'x'), /me\/not-cached/);
    [gpt2, mistral, scaled, direct].forEach((s) => s.dispose());
  } finally {
    if (saved.cache === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved.cache;
    if (saved.offline === undefined) delete process.env.HF_HUB_OFFLINE; else process.env.HF_HUB_OFFLINE = saved.offline;
  }
});

test('16-bit cfg dtype: wider stored tensors are rounded to that precision, as SAELens casts on load', async () => {
  const dir = tmpDir();
  fs.cpSync(path.join(FIX, 'v6_jumprelu'), path.join(dir, 'bf16'), { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'bf16', 'cfg.json'), 'utf8'));
  cfg.dtype = 'bfloat16';
  fs.writeFileSync(path.join(dir, 'bf16', 'cfg.json'), JSON.stringify(cfg));
  const a = await SAE.load(path.join(FIX, 'v6_jumprelu'));
  const b = await SAE.load(path.join(dir, 'bf16'));
  const orig = (await a.weights.W_enc.data()) as Float32Array;
  const rounded = (await b.weights.W_enc.data()) as Float32Array;
  const bits = new Uint32Array(rounded.buffer, rounded.byteOffset, rounded.length);
  for (let i = 0; i < orig.length; i++) {
    assert.strictEqual(bits[i] & 0xffff, 0, `value ${rounded[i]} is not a bfloat16`);
    assert.ok(Math.abs(rounded[i] - orig[i]) <= Math.abs(orig[i]) * 2 ** -8, `${rounded[i]} vs ${orig[i]}`);
  }
  a.dispose();
  b.dispose();
});

test('load errors name the file and problem', async () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'empty'));
  await assert.rejects(SAE.load(path.join(dir, 'empty')), /not an SAE folder/);
  fs.cpSync(path.join(FIX, 'v6_jumprelu'), path.join(dir, 'wrongarch'), { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'wrongarch', 'cfg.json'), 'utf8'));
  cfg.architecture = 'standard';
  fs.writeFileSync(path.join(dir, 'wrongarch', 'cfg.json'), JSON.stringify(cfg));
  await assert.rejects(SAE.load(path.join(dir, 'wrongarch')), /unexpected tensors threshold/);
  cfg.architecture = 'gated';
  fs.writeFileSync(path.join(dir, 'wrongarch', 'cfg.json'), JSON.stringify(cfg));
  await assert.rejects(SAE.load(path.join(dir, 'wrongarch')), /missing tensors b_gate, b_mag, r_mag; found W_dec, W_enc, b_dec, b_enc, threshold/);
});
