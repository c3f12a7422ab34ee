import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir , assertClose } from '../helpers';
import { command } from '../../lib/cli/commands/train-sae';
import { SyntheticSparseData } from '../../lib/train/synthetic';
import { writeTensorsSafetensors, loadSafetensors, rawToFloat32 } from '../../lib/io/safetensors';
import { command as saeCommand } from '../../lib/cli/commands/sae';
import { SAE } from '../../lib/sae/sae';

before(setupBackend);

test('saelab train-sae on a safetensors activation file writes a SAELens SAE folder', async () => {
  const dir = tmpDir();
  const data = new SyntheticSparseData({ dIn: 8, nFeatures: 10, activePerSample: 2, chunkTokens: 200, seed: 1 });
  const acts = data.chunk(0).reshape([4, 50, 8]);
  await writeTensorsSafetensors(path.join(dir, 'acts.safetensors'), { 'blocks.0.hook_resid_post': acts });
  const out = path.join(dir, 'sae');
  const code = await command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensor', 'blocks.0.hook_resid_post', '--d-sae', '16',
    '--steps', '12', '--batch', '20', '--out', out, '--architecture', 'topk', '--k', '3', '--lr', '0.01', '--seed', '3',
    '--hook-name', 'blocks.0.hook_resid_post', '--checkpoints', '2', '--quiet']);
  assert.strictEqual(code, 0);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'cfg.json'), 'utf8'));
  assert.strictEqual(cfg.architecture, 'topk');
  assert.strictEqual(cfg.d_in, 8);
  assert.strictEqual(cfg.d_sae, 16);
  assert.strictEqual(cfg.k, 3);
  assert.strictEqual(cfg.normalize_activations, 'none');
  assert.strictEqual(cfg.metadata.hook_name, 'blocks.0.hook_resid_post');
  assert.match(cfg.metadata.sae_lens_version, /^6\./);
  const w = loadSafetensors(path.join(out, 'sae_weights.safetensors')).tensors;
  assert.deepStrictEqual(w.W_enc.shape, [8, 16]);
  assert.deepStrictEqual(w.W_dec.shape, [16, 8]);
  assert.deepStrictEqual(w.b_enc.shape, [16]);
  assert.deepStrictEqual(w.b_dec.shape, [8]);
  assert.deepStrictEqual(loadSafetensors(path.join(out, 'sparsity.safetensors')).tensors.sparsity.shape, [16]);
  assert.strictEqual(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2, 'logged at steps 10 and 12');
  // 12 steps x 20 tokens = 240; 2 checkpoints -> one intermediate after 120 tokens (step 7: 140 tokens)
  assert.deepStrictEqual(fs.readdirSync(path.join(out, 'checkpoints')), ['140']);
  const loaded = await SAE.load(out);
  assert.strictEqual(loaded.cfg.k, 3);
  loaded.dispose();
  const ck = await SAE.load(path.join(out, 'checkpoints', '140'));
  ck.dispose();
  // the folder runs through `saelab sae`; its reconstruction matches topk(x - b_dec) written out by hand
  const recon = path.join(dir, 'recon.safetensors');
  assert.strictEqual(await saeCommand.run(['--sae', out, '--in', path.join(dir, 'acts.safetensors'), '--tensor', 'blocks.0.hook_resid_post', '--out', recon]), 0);
  const r = loadSafetensors(recon).tensors;
  assert.deepStrictEqual(r.sae_out.shape, [4, 50, 8]);
  const x = acts.dataSync();
  const [We, Wd, be, bd] = ['W_enc', 'W_dec', 'b_enc', 'b_dec'].map((n) => rawToFloat32(w[n]));
  const got = rawToFloat32(r.sae_out);
  for (const row of [0, 17, 199]) {
    const pre = Array.from({ length: 16 }, (_, j) => {
      let s = be[j];
      for (let i = 0; i < 8; i++) s += (x[row * 8 + i] - bd[i]) * We[i * 16 + j];
      return s;
    });
    const kth = [...pre].sort((a, b) => b - a)[2];
    const f = pre.map((v) => (v >= kth && v > 0 ? v : 0));
    const xhat = Array.from({ length: 8 }, (_, i) => f.reduce((s, fj, j) => s + fj * Wd[j * 8 + i], bd[i]));
    assertClose(got.subarray(row * 8, row * 8 + 8), xhat, 1e-4, 1e-4, `row ${row}`);
  }
});

test('saelab train-sae names a missing option and a missing tensor', async () => {
  await assert.rejects(command.run(['--tensor', 'x', '--out', '/tmp/x']), /missing required option --activations/);
  const dir = tmpDir();
  await writeTensorsSafetensors(path.join(dir, 'a.safetensors'), { acts: new SyntheticSparseData({ dIn: 4, nFeatures: 4, activePerSample: 1, chunkTokens: 8 }).chunk(0) });
  await assert.rejects(command.run(['--activations', path.join(dir, 'a.safetensors'), '--tensor', 'nope', '--d-sae', '8', '--steps', '2', '--batch', '4', '--out', path.join(dir, 'o'), '--quiet']), /no tensor 'nope'/);
});

test('saelab train-sae --config streams a model hook over pre-tokenized contexts (SAE metadata from the config)', async () => {
  const { HookedTransformer } = await import('../../lib/model/hookedTransformer');
  const dir = tmpDir();
  const model = HookedTransformer.fromConfig({ n_layers: 2, d_model: 8, n_ctx: 8, d_head: 4, n_heads: 2, d_mlp: 16, d_vocab: 7, act_fn: 'gelu_new', normalization_type: 'LN' }, { seed: 2 });
  await model.saveHuggingFace(path.join(dir, 'tiny'));
  const contexts = Array.from({ length: 12 }, (_, i) => [0, (i % 6) + 1, ((i * 5) % 6) + 1, ((i * 7) % 6) + 1, 1]);
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({
    model: 'tiny', modelOptions: { processing: false }, hookName: 'blocks.0.hook_resid_post', contexts, prependBos: false, contextsPerBatch: 4,
    training: { dSae: 16, trainingTokens: 200, trainBatchSizeTokens: 20, nBatchesInBuffer: 2, lr: 1e-3, l1Coefficient: 0.1, useGhostGrads: true, logEvery: 5 },
  }));
  const out = path.join(dir, 'sae');
  assert.strictEqual(await command.run(['--config', path.join(dir, 'run.json'), '--out', out, '--quiet']), 0);
  const sae = await SAE.load(out);
  assert.strictEqual(sae.cfg.d_in, 8);
  assert.strictEqual(sae.cfg.metadata.hook_name, 'blocks.0.hook_resid_post');
  assert.strictEqual(sae.cfg.metadata.context_size, 5);
  assert.strictEqual(sae.cfg.metadata.prepend_bos, false);
  sae.dispose();
  assert.strictEqual(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2);
});

test('saelab train-sae --architecture batchtopk | matryoshka_batchtopk writes a jumprelu SAE with the learned threshold', async () => {
  const dir = tmpDir();
  const data = new SyntheticSparseData({ dIn: 8, nFeatures: 10, activePerSample: 2, chunkTokens: 200, seed: 1 });
  await writeTensorsSafetensors(path.join(dir, 'acts.safetensors'), { acts: data.chunk(0) });
  for (const [arch, extra] of [['batchtopk', []], ['matryoshka_batchtopk', ['--matryoshka-widths', '4,8']]] as Array<[string, string[]]>) {
    const out = path.join(dir, arch);
    const code = await command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensor', 'acts', '--d-sae', '16', '--steps', '12', '--batch', '20',
      '--out', out, '--architecture', arch, '--k', '2.5', '--lr', '0.01', ...extra, '--quiet']);
    assert.strictEqual(code, 0, arch);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'cfg.json'), 'utf8'));
    assert.strictEqual(cfg.architecture, 'jumprelu', arch);
    assert.strictEqual(cfg.k, undefined);
    const thr = rawToFloat32(loadSafetensors(path.join(out, 'sae_weights.safetensors')).tensors.threshold);
    assert.ok(thr.every((v) => v === thr[0]) && thr[0] > 0, `${arch}: one learned positive threshold`);
    const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(metrics.every((m) => m.topk_threshold > 0), 'metrics log the tracked threshold');
    // the last threshold logged (after step 12's update) is the one saved, rounded to float32
    assert.strictEqual(Math.fround(metrics[metrics.length - 1].topk_threshold), thr[0]);
    if (arch === 'matryoshka_batchtopk') assert.ok('inner_mse_loss_4' in metrics[0] && 'inner_mse_loss_8' in metrics[0], 'inner losses logged');
  }
  await assert.rejects(command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensor', 'acts', '--d-sae', '16', '--steps', '2', '--batch', '20',
    '--out', path.join(dir, 'bad'), '--architecture', 'matryoshka_batchtopk', '--k', '2', '--quiet']), /needs matryoshkaWidths/);
  await assert.rejects(command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensor', 'acts', '--d-sae', '16', '--steps', '2', '--batch', '20',
    '--out', path.join(dir, 'bad'), '--architecture', 'matryoshka_batchtopk', '--k', '2', '--matryoshka-widths', '8,4', '--quiet']), /strictly increasing/);
  await assert.rejects(command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensor', 'acts', '--d-sae', '16', '--steps', '2', '--batch', '20',
    '--out', path.join(dir, 'bad'), '--architecture', 'nope', '--quiet']), /architecture 'nope' is not supported for training; use one of standard, gated, jumprelu, topk, batchtopk/);
});
