/**
 * Training transcoders on (input hook, output hook) pairs: a ground truth where the same sparse code
 * writes known directions into an input and an output space, a linear map for the skip connection,
 * exact resume, the saved SAELens folder and the CLI.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir } from '../helpers';
import { SAETrainer } from '../../lib/train/trainer';
import { GeneratorSource, PairedActivationSource } from '../../lib/train/sources';
import { SyntheticSparseData, bestCosineRecovery } from '../../lib/train/synthetic';
import { Rng } from '../../lib/data/random';
import { TrainSAEConfigInput } from '../../lib/train/config';
import { SAE } from '../../lib/sae';
import { writeSafetensors } from '../../lib/io/safetensors';

before(setupBackend);

const D_IN = 16;
const D_OUT = 12;
const N_FEATURES = 12;
const data = new SyntheticSparseData({ dIn: D_IN, nFeatures: N_FEATURES, activePerSample: 2, noiseStd: 0, chunkTokens: 256, seed: 3 });
/** output directions [N_FEATURES, D_OUT]: unit rows */
const outDirs = (() => {
  const rng = new Rng(11);
  const a = new Float32Array(N_FEATURES * D_OUT);
  for (let f = 0; f < N_FEATURES; f++) {
    let n = 0;
    for (let d = 0; d < D_OUT; d++) { a[f * D_OUT + d] = rng.normal(); n += a[f * D_OUT + d] ** 2; }
    for (let d = 0; d < D_OUT; d++) a[f * D_OUT + d] /= Math.sqrt(n);
  }
  return a;
})();

/** Chunk i of the output hook: the same sparse code as the input's chunk i, written into the output directions. */
function outputChunk(i: number): tf.Tensor2D {
  const coef = data.coefficients(i);
  return tf.tidy(() => tf.matMul(tf.tensor2d(coef, [256, N_FEATURES]), tf.tensor2d(outDirs, [N_FEATURES, D_OUT])));
}

function pairs(output: (i: number) => tf.Tensor2D = outputChunk, dOut = D_OUT): PairedActivationSource {
  return new PairedActivationSource(data.source(), new GeneratorSource(dOut, output, 'synthetic output hook'));
}

const BASE: Partial<TrainSAEConfigInput> = { dIn: D_IN, dSae: 32, trainingTokens: 400 * 64, trainBatchSizeTokens: 64, nBatchesInBuffer: 8, lr: 1e-2, seed: 0, logEvery: 100,
  metadata: { hook_name: 'blocks.0.ln2.hook_normalized', hook_name_out: 'blocks.0.hook_mlp_out' } };

async function heldOutEv(sae: SAE, output: (i: number) => tf.Tensor2D): Promise<number> {
  const x = data.chunk(99_999);
  const y = output(99_999);
  const pred = sae.forward(x);
  const ev = tf.tidy(() => tf.sub(1, tf.div(tf.mean(tf.sum(tf.square(tf.sub(y, pred)), 1)), tf.mean(tf.sum(tf.square(tf.sub(y, tf.mean(y, 0, true))), 1)))).dataSync()[0]);
  tf.dispose([x, y, pred]);
  return ev;
}

test('a transcoder trained on pairs predicts the output hook and its decoder finds the output directions', async () => {
  const root = tmpDir();
  const trainer = await SAETrainer.create({ ...BASE, architecture: 'transcoder', l1Coefficient: 0.1 } as TrainSAEConfigInput, pairs(), { outDir: root, progress: 'none' });
  assert.strictEqual(trainer.cfg.dOut, D_OUT);
  assert.strictEqual(trainer.cfg.applyBDecToInput, false);
  const result = await trainer.fit();
  trainer.dispose();
  const sae = await SAE.load(result.saeDir!);
  assert.strictEqual(sae.cfg.architecture, 'transcoder');
  assert.strictEqual(sae.cfg.d_out, D_OUT);
  assert.strictEqual(sae.cfg.metadata.hook_name_out, 'blocks.0.hook_mlp_out');
  const ev = await heldOutEv(sae, outputChunk);
  const rec = bestCosineRecovery(tf.tensor2d(outDirs, [N_FEATURES, D_OUT]), sae.weights.W_dec as tf.Tensor2D);
  console.log(`transcoder: held-out explained variance of the output ${ev.toFixed(3)}, mean best cosine with the output directions ${rec.mean.toFixed(3)}`);
  assert.ok(ev >= 0.95, `explained variance ${ev}`);
  assert.ok(rec.mean >= 0.95, `mean best cosine ${rec.mean}`);
  sae.dispose();
});

test('a skip transcoder learns a linear map through W_skip', async () => {
  const M = tf.randomNormal([D_IN, D_OUT], 0, 0.5, 'float32', 5);
  const linear = (i: number) => tf.tidy(() => {
    const x = data.chunk(i);
    return tf.matMul(x, M) as tf.Tensor2D;
  });
  const trainer = await SAETrainer.create({ ...BASE, architecture: 'skip_transcoder', l1Coefficient: 0.01 } as TrainSAEConfigInput, pairs(linear), { progress: 'none' });
  await trainer.fit();
  const sae = trainer.toSAE();
  trainer.dispose();
  assert.deepStrictEqual(sae.weights.W_skip.shape, [D_OUT, D_IN]);
  const ev = await heldOutEv(sae, linear);
  console.log(`skip_transcoder on a linear map: held-out explained variance ${ev.toFixed(4)}`);
  assert.ok(ev >= 0.99, `explained variance ${ev}`);
  sae.dispose();
  M.dispose();
});

test('transcoder training resumes from a checkpoint to the same weights (jumprelu_transcoder)', async () => {
  const cfg = { ...BASE, architecture: 'jumprelu_transcoder', l0Coefficient: 0.01, trainingTokens: 40 * 64, nCheckpoints: 2, logEvery: 5 } as TrainSAEConfigInput;
  const root = tmpDir();
  const a = await SAETrainer.create(cfg, pairs(), { outDir: path.join(root, 'full'), progress: 'none' });
  await a.fit();
  a.dispose();
  const b = await SAETrainer.create(cfg, pairs(), { outDir: path.join(root, 'part'), progress: 'none', stopAfterSteps: 25 });
  await b.fit();
  b.dispose();
  const c = await SAETrainer.resume(path.join(root, 'part', 'checkpoints', String(21 * 64)), pairs(), { outDir: path.join(root, 'part'), progress: 'none' });
  assert.strictEqual(c.step, 21);
  await c.fit();
  c.dispose();
  const w = (d: string) => fs.readFileSync(path.join(root, d, 'sae_weights.safetensors'));
  assert.ok(w('full').equals(w('part')), 'resumed weights are bit-identical');
  const saved = await SAE.load(path.join(root, 'full'));
  assert.strictEqual(saved.cfg.architecture, 'jumprelu_transcoder');
  assert.deepStrictEqual(saved.weights.threshold.shape, [32]);
  saved.dispose();
});

test('transcoder configs need paired data; SAEs refuse it', async () => {
  await assert.rejects(SAETrainer.create({ ...BASE, architecture: 'transcoder' } as TrainSAEConfigInput, data.source(), { progress: 'none' }), /needs dOut/);
  await assert.rejects(SAETrainer.create({ ...BASE, architecture: 'standard' } as TrainSAEConfigInput, pairs(), { progress: 'none' }), /standard reconstructs its input, but pairs of .* pairs inputs with outputs/);
  await assert.rejects(SAETrainer.create({ ...BASE, architecture: 'transcoder', applyBDecToInput: true } as TrainSAEConfigInput, pairs(), { progress: 'none' }), /applyBDecToInput must be false/);
});

test('saelab train-sae --architecture transcoder --target-tensor trains on two tensors of the same files', async () => {
  const { main } = await import('../../lib/cli/main');
  const dir = tmpDir();
  const x = data.chunk(0);
  const y = outputChunk(0);
  const file = path.join(dir, 'acts.safetensors');
  writeSafetensors(file, { ln2: { shape: [256, D_IN], data: x.dataSync() as Float32Array }, mlp_out: { shape: [256, D_OUT], data: y.dataSync() as Float32Array } });
  tf.dispose([x, y]);
  const out = path.join(dir, 'tc');
  const code = await main(['train-sae', '--activations', file, '--tensor', 'ln2', '--target-tensor', 'mlp_out', '--architecture', 'transcoder', '--d-sae', '16',
    '--steps', '10', '--batch', '32', '--hook-name', 'blocks.0.ln2.hook_normalized', '--hook-name-out', 'blocks.0.hook_mlp_out', '--out', out, '--quiet']);
  assert.strictEqual(code, 0);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'cfg.json'), 'utf8'));
  assert.strictEqual(cfg.architecture, 'transcoder');
  assert.strictEqual(cfg.d_in, D_IN);
  assert.strictEqual(cfg.d_out, D_OUT);
  assert.strictEqual(cfg.metadata.hook_name_out, 'blocks.0.hook_mlp_out');
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => errors.push(String(m));
  try {
    assert.strictEqual(await main(['train-sae', '--activations', file, '--tensor', 'ln2', '--architecture', 'transcoder', '--d-sae', '16', '--steps', '2', '--batch', '32', '--out', path.join(dir, 'x'), '--quiet']), 1);
  } finally {
    console.error = orig;
  }
  assert.match(errors.join('\n'), /transcoder is a transcoder: give the output hook's activations too/);
});

test('a model source with hookNameOut streams [input | output] rows of one forward pass', async () => {
  const { HookedTransformer } = await import('../../lib/model/hookedTransformer');
  const { ModelActivationSource } = await import('../../lib/train/model-source');
  const model = HookedTransformer.fromConfig({ n_layers: 2, d_model: 8, n_ctx: 16, d_head: 4, n_heads: 2, d_mlp: 16, d_vocab: 11, act_fn: 'gelu', normalization_type: 'LN' }, { seed: 1 });
  const contexts = Array.from({ length: 4 }, (_, i) => Int32Array.from({ length: 5 }, (_, j) => (i * 3 + j * 7) % 11));
  const inHook = 'blocks.1.ln2.hook_normalized';
  const outHook = 'blocks.1.hook_mlp_out';
  const src = await ModelActivationSource.create(model, () => contexts, { hookName: inHook, hookNameOut: outHook, contextsPerBatch: 4 });
  assert.strictEqual(src.dIn, 8);
  assert.strictEqual(src.dOut, 8);
  const rows = (await src.next())!;
  assert.deepStrictEqual(rows.shape, [20, 16]);
  const { cache } = model.runWithCache(tf.tensor2d(contexts.flatMap((c) => Array.from(c)), [4, 5], 'int32'), { namesFilter: [inHook, outHook] });
  const want = tf.concat([tf.reshape(cache.get(inHook), [20, 8]), tf.reshape(cache.get(outHook), [20, 8])], 1);
  const close = tf.tidy(() => tf.max(tf.abs(tf.sub(rows, want))).dataSync()[0]);
  assert.ok(close < 1e-5, `max difference ${close}`);
  assert.match(src.describe(), /blocks\.1\.ln2\.hook_normalized -> blocks\.1\.hook_mlp_out/);
  tf.dispose([rows, want]);
  cache.dispose();
});
