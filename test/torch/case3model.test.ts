import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { saveTransformerLensTorchDir, readTransformerLensConfigPickle } from '../../lib/model/interpbench';
import { readTorch, TorchTensor } from '../../lib/io/torch';
import { CASE3_MODEL_CONFIG, case3Accuracy, case3Inputs, interpBenchCaseDir, shippedCase3Dir } from '../../lib/tasks';
import { REPO_ROOT, assertClose, setupBackend, tmpDir } from '../helpers';

before(setupBackend);

test('saveTransformerLensTorchDir writes the InterpBench layout that fromPretrained reads back exactly', async () => {
  const model = HookedTransformer.fromConfig({ ...CASE3_MODEL_CONFIG, seed: 5 }, { seed: 5 });
  const dir = path.join(tmpDir(), 'case');
  await saveTransformerLensTorchDir(model, dir, { meta: { note: 'x' } });
  assert.deepStrictEqual(fs.readdirSync(dir).sort(), ['ll_model.pth', 'll_model_cfg.pkl', 'meta.json']);
  const sd = readTorch(path.join(dir, 'll_model.pth')) as Record<string, TorchTensor>;
  assert.strictEqual(sd['blocks.1.attn.mask'].dtype, 'BOOL');
  assert.deepStrictEqual([...(sd['blocks.1.attn.mask'].data as Uint8Array)].slice(0, 10), [1, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
  assert.strictEqual((sd['blocks.0.attn.IGNORE'].data as Float32Array)[0], -Infinity);
  const cfg = readTransformerLensConfigPickle(path.join(dir, 'll_model_cfg.pkl'));
  assert.strictEqual(cfg.dtype, 'float32');
  assert.strictEqual(cfg.normalization_type, null);
  assert.strictEqual(cfg.d_vocab_out, 1);
  const back = await HookedTransformer.fromPretrained(dir);
  const tokens = tf.tensor2d(case3Inputs().slice(60, 70), undefined, 'int32');
  const a = model.forward(tokens).logits!;
  const b = back.forward(tokens).logits!;
  assertClose(await b.data() as Float32Array, await a.data() as Float32Array, 0, 0, 'identical logits');
  tf.dispose([tokens, a, b]);
  model.dispose();
  back.dispose();
});

test('the shipped case-3 model (data/interpbench/3) solves the task', async () => {
  const dir = path.join(REPO_ROOT, 'data', 'interpbench', '3');
  const model = await HookedTransformer.fromPretrained(dir);
  const tokens = tf.tensor2d(case3Inputs(), undefined, 'int32');
  const logits = model.forward(tokens).logits as tf.Tensor3D;
  const acc = await case3Accuracy(logits);
  assert.strictEqual(acc.total, 64 * 3 + 256 * 4);
  assert.ok(acc.accuracy >= 0.99, `accuracy ${acc.accuracy}`);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  assert.ok(Math.abs(meta.accuracy - acc.accuracy) < 1e-9, 'meta.json reports the accuracy the model has');
  tf.dispose([tokens, logits]);
  model.dispose();
});

test('an InterpBench case in a Python-layout hub cache resolves offline to a folder fromPretrained loads', async () => {
  const cache = tmpDir('saelab-hubcache-');
  const commit = 'a'.repeat(40);
  const repo = path.join(cache, 'models--cybershiptrooper--InterpBench');
  const snap = path.join(repo, 'snapshots', commit, '3');
  fs.mkdirSync(snap, { recursive: true });
  fs.mkdirSync(path.join(repo, 'refs'));
  fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
  for (const f of ['ll_model.pth', 'll_model_cfg.pkl']) fs.copyFileSync(path.join(shippedCase3Dir(), f), path.join(snap, f));
  const dir = await interpBenchCaseDir(3, { cacheDir: cache, shippedCacheDirs: [], offline: true });
  assert.strictEqual(dir, snap);
  const model = await HookedTransformer.fromPretrained(dir);
  assert.strictEqual(model.cfg.d_vocab_out, 1);
  model.dispose();
  await assert.rejects(interpBenchCaseDir(4, { cacheDir: cache, shippedCacheDirs: [], offline: true }));
});
