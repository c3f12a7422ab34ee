import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { setupBackend, tmpDir } from '../helpers';
import { command } from '../../lib/cli/commands/train-sae';
import { SyntheticSparseData } from '../../lib/train/synthetic';
import { writeTensorsSafetensors, loadSafetensors } from '../../lib/io/safetensors';

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
});

test('saelab train-sae names a missing option and a missing tensor', async () => {
  await assert.rejects(command.run(['--tensor', 'x', '--out', '/tmp/x']), /missing required option --activations/);
  const dir = tmpDir();
  await writeTensorsSafetensors(path.join(dir, 'a.safetensors'), { acts: new SyntheticSparseData({ dIn: 4, nFeatures: 4, activePerSample: 1, chunkTokens: 8 }).chunk(0) });
  await assert.rejects(command.run(['--activations', path.join(dir, 'a.safetensors'), '--tensor', 'nope', '--d-sae', '8', '--steps', '2', '--batch', '4', '--out', path.join(dir, 'o'), '--quiet']), /no tensor 'nope'/);
});
