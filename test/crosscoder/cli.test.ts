import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { assertClose, setupBackend, tmpDir } from '../helpers';
import { command } from '../../lib/cli/commands/train-crosscoder';
import { PairedSyntheticData } from '../../lib/crosscoder/synthetic';
import { Crosscoder } from '../../lib/crosscoder/crosscoder';
import { loadSafetensors, writeTensorsSafetensors } from '../../lib/io/safetensors';

before(setupBackend);

test('saelab train-crosscoder on a file holding both models\' activations writes a crosscoder folder', async () => {
  const dir = tmpDir();
  const data = new PairedSyntheticData({ dIn: 6, shared: 4, rotated: 1, baseOnly: 2, finetuneOnly: 2, activePerSample: 2, chunkTokens: 200, seed: 2 });
  const rows = data.chunk(0);
  const [base, finetune] = tf.split(rows, 2, 1);
  // [batch, pos, d] tensors, as a cache of two models' hook writes them
  await writeTensorsSafetensors(path.join(dir, 'acts.safetensors'), { base: base.reshape([4, 50, 6]), finetune: finetune.reshape([4, 50, 6]) });
  const out = path.join(dir, 'cc');
  const code = await command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensors', 'base,finetune', '--d-sae', '12', '--steps', '10',
    '--batch', '20', '--architecture', 'batchtopk', '--k', '2', '--lr', '0.01', '--seed', '3', '--hook-name', 'blocks.0.hook_resid_post', '--out', out, '--quiet']);
  assert.strictEqual(code, 0);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'cfg.json'), 'utf8'));
  assert.deepStrictEqual([cfg.architecture, cfg.activation, cfg.n_models, cfg.d_in, cfg.d_sae, cfg.k], ['crosscoder', 'batchtopk', 2, 6, 12, 2]);
  assert.deepStrictEqual(cfg.model_names, ['base', 'finetune']);
  assert.strictEqual(cfg.hook_name, 'blocks.0.hook_resid_post');
  const w = loadSafetensors(path.join(out, 'crosscoder_weights.safetensors')).tensors;
  assert.deepStrictEqual(Object.fromEntries(Object.entries(w).map(([k, t]) => [k, t.shape])), { W_enc: [2, 6, 12], W_dec: [12, 2, 6], b_enc: [12], b_dec: [2, 6], threshold: [12] });
  assert.strictEqual(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1, 'logged every 10 steps');
  // the saved crosscoder reads the two models' activations: its encode of [base | finetune] equals the flat formula by hand
  const cc = Crosscoder.load(out);
  const f = cc.encode([base.slice([0, 0], [5, 6]) as tf.Tensor2D, finetune.slice([0, 0], [5, 6]) as tf.Tensor2D]);
  const manual = tf.tidy(() => {
    const pre = tf.relu(tf.add(tf.matMul(rows.slice([0, 0], [5, 12]), tf.reshape(cc.weights.W_enc, [12, 12])), cc.weights.b_enc));
    const norms = tf.sum(tf.sqrt(tf.sum(tf.square(cc.weights.W_dec), 2)), 1);
    return tf.mul(pre, tf.cast(tf.greater(tf.mul(pre, norms), cc.weights.threshold), 'float32'));
  });
  assertClose(f.dataSync(), manual.dataSync(), 1e-5, 1e-5);
  cc.dispose();
  // bad input names the flag
  await assert.rejects(command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensors', 'base,finetune', '--d-sae', '12', '--steps', '10', '--batch', '20', '--architecture', 'gated', '--out', path.join(dir, 'x'), '--quiet']), /--architecture must be relu or batchtopk, got 'gated'/);
  await assert.rejects(command.run(['--activations', path.join(dir, 'acts.safetensors'), '--tensors', 'base,nope', '--d-sae', '12', '--steps', '10', '--batch', '20', '--out', path.join(dir, 'y'), '--quiet']), /no tensor 'nope'/);
});
