/** Non-finite numbers are errors where they enter (weights, activation files) and where they arise (training), and evaluation reports them. */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir, REPO_ROOT } from '../helpers';
import { runCli, tempsUnder } from './util';
import { NonFiniteError, SaelabError } from '../../lib/io/errors';
import { countNonFinite, countNonFiniteJs } from '../../lib/io/finite';
import { loadNativeAddon } from '../../lib/backend/native';
import { loadSafetensors, writeSafetensors, RawTensor, TensorToWrite } from '../../lib/io/safetensors';
import { f32ToBf16, f32ToF16 } from '../../lib/io/dtypes';
import { SAE } from '../../lib/sae/sae';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { SAETrainer } from '../../lib/train/trainer';
import { GeneratorSource } from '../../lib/train/sources';
import { ReconstructionAccumulator } from '../../lib/analysis/saeMetrics';

before(setupBackend);

/** Copy a folder of safetensors + json files, replacing values of one tensor of one file. */
function copyWith(src: string, dst: string, file: string, tensor: string, edit: (v: Float32Array) => void): void {
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  const { tensors, metadata } = loadSafetensors(path.join(src, file));
  const out: Record<string, TensorToWrite> = {};
  for (const [n, t] of Object.entries(tensors)) {
    const data = Float32Array.from(t.data as Float32Array);
    if (n === tensor) edit(data);
    out[n] = { dtype: t.dtype, shape: t.shape, data: t.dtype === 'F32' ? data : t.data };
  }
  writeSafetensors(path.join(dst, file), out, metadata);
}

test('countNonFinite counts NaN and +-inf in every float dtype, from the stored bits', () => {
  const vals = [1, NaN, -Infinity, 0, Infinity, 3.3e38, -2];
  const f32: RawTensor = { dtype: 'F32', shape: [7], data: Float32Array.from(vals) };
  const f64: RawTensor = { dtype: 'F64', shape: [7], data: Float64Array.from([...vals.slice(0, 5), 1e300, -2]) };
  const f16: RawTensor = { dtype: 'F16', shape: [7], data: Uint16Array.from(vals.map((v) => f32ToF16(Math.abs(v) > 1e30 && Number.isFinite(v) ? 1 : v))) };
  const bf16: RawTensor = { dtype: 'BF16', shape: [7], data: Uint16Array.from(vals.map((v) => f32ToBf16(Math.abs(v) > 1e30 && Number.isFinite(v) ? 1 : v))) };
  for (const t of [f32, f64, f16, bf16]) assert.deepStrictEqual(countNonFinite(t), { count: 3, first: 1 }, t.dtype);
  assert.deepStrictEqual(countNonFinite({ dtype: 'I32', data: Int32Array.from([1, 2]) }), { count: 0, first: -1 });
});

test('the native counter (large tensors, every core) agrees with the loop, wherever the values sit', () => {
  const { addon } = loadNativeAddon();
  if (!addon?.nonFinite) assert.fail('the native addon has no nonFinite: rebuild it with `node scripts/build-native.js`');
  const n = 300_001; // above the native threshold, odd so the per-thread chunks are uneven
  const cases: [number[], number][] = [[[], 0], [[0], 1], [[n - 1], 1], [[150_000, 150_001, 7], 3], [[299_999, 20], 2]];
  for (const [at, want] of cases) {
    const f32 = new Float32Array(n).map((_, i) => (i % 13) - 6);
    const f64 = Float64Array.from(f32);
    const bf16 = new Uint16Array(n).fill(f32ToBf16(1.5));
    const f16 = new Uint16Array(n).fill(f32ToF16(-0.25));
    at.forEach((i, k) => {
      const v = [NaN, Infinity, -Infinity][k % 3];
      f32[i] = v; f64[i] = v; bf16[i] = f32ToBf16(v); f16[i] = f32ToF16(v);
    });
    const first = at.length ? Math.min(...at) : -1;
    for (const t of [{ dtype: 'F32', data: f32 }, { dtype: 'F64', data: f64 }, { dtype: 'BF16', data: bf16 }, { dtype: 'F16', data: f16 }] as RawTensor[]) {
      assert.deepStrictEqual(countNonFinite(t), { count: want, first }, `${t.dtype} at ${at}`);
      assert.deepStrictEqual(countNonFiniteJs(t), { count: want, first }, `${t.dtype} at ${at} (loop)`);
      const out = new Float64Array(2);
      addon!.nonFinite!(t.data as ArrayBufferView, { F32: 0, F64: 1, F16: 2, BF16: 3 }[t.dtype as 'F32']!, out);
      assert.deepStrictEqual([...out], [want, first], `${t.dtype} at ${at} (addon)`);
    }
  }
  // the largest finite float32 and float64 values and -0 are finite
  const edge = new Float32Array(n).fill(-0);
  edge[3] = 3.4028234663852886e38; edge[n - 2] = -3.4028234663852886e38;
  assert.deepStrictEqual(countNonFinite({ dtype: 'F32', data: edge }), { count: 0, first: -1 });
});

test('an SAE with one NaN weight is refused at load, naming the tensor, the count and the file', async () => {
  const dir = tmpDir('safety-nan-sae-');
  const bad = path.join(dir, 'sae');
  copyWith(path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu'), bad, 'sae_weights.safetensors', 'W_enc', (v) => { v[5] = NaN; });
  await assert.rejects(SAE.load(bad), (e: Error) => e instanceof NonFiniteError && /W_enc/.test(e.message) && /1 non-finite/.test(e.message) && e.message.includes(path.join(bad, 'sae_weights.safetensors')));
});

test('a model checkpoint with infinite weights is refused at load, naming the tensor and the count', async () => {
  const dir = tmpDir('safety-inf-model-');
  const bad = path.join(dir, 'gpt2');
  copyWith(path.join(REPO_ROOT, 'test', 'fixtures', 'model', 'gpt2'), bad, 'model.safetensors', 'h.0.mlp.c_fc.weight', (v) => { v[0] = Infinity; v[7] = -Infinity; });
  const names = Object.keys(loadSafetensors(path.join(bad, 'model.safetensors')).tensors);
  const name = names.find((n) => n.endsWith('h.0.mlp.c_fc.weight'))!;
  assert.ok(name, names.join(', '));
  await assert.rejects(HookedTransformer.fromPretrained(bad), (e: Error) => e instanceof NonFiniteError && e.message.includes(name) && /2 non-finite/.test(e.message));
});

test('activation files with NaN given to saelab sae, crosslayer --acts and train-sae are refused, naming file, tensor and count', async () => {
  const dir = tmpDir('safety-nan-acts-');
  const acts = path.join(dir, 'acts.safetensors');
  const data = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.cos(i));
  data[10] = NaN;
  writeSafetensors(acts, { x: { shape: [64, 3], data } });
  const sae = await runCli(['sae', '--sae', path.join(REPO_ROOT, 'test', 'fixtures', 'sae', 'v6_jumprelu'), '--in', acts, '--tensor', 'x', '--out', path.join(dir, 'o.safetensors')]);
  assert.strictEqual(sae.code, 1);
  assert.ok(sae.stderr.includes(`${acts}:x`) && /1 non-finite/.test(sae.stderr), sae.stderr);
  assert.ok(!fs.existsSync(path.join(dir, 'o.safetensors')));
  const cl = await runCli(['crosslayer', '--acts', `${acts},${acts}`, '--tensor', 'x', '--out', path.join(dir, 'cl')]);
  assert.strictEqual(cl.code, 1);
  assert.ok(cl.stderr.includes(acts) && /non-finite/.test(cl.stderr), cl.stderr);
  const tr = await runCli(['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '4', '--batch', '16', '--out', path.join(dir, 'sae'), '--quiet']);
  assert.strictEqual(tr.code, 1);
  assert.ok(tr.stderr.includes(acts) && /non-finite/.test(tr.stderr), tr.stderr);
  assert.ok(!fs.existsSync(path.join(dir, 'sae', 'sae_weights.safetensors')));
});

test('train-sae --lr 1e308 stops at the first non-finite loss naming the step, and writes no SAE', async () => {
  const dir = tmpDir('safety-lr-');
  const acts = path.join(dir, 'acts.safetensors');
  writeSafetensors(acts, { x: { shape: [256, 4], data: Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i * 0.7) + (i % 4)) } });
  const out = path.join(dir, 'sae');
  const r = await runCli(['train-sae', '--activations', acts, '--tensor', 'x', '--d-sae', '8', '--steps', '20', '--batch', '16', '--lr', '1e308', '--out', out, '--quiet']);
  assert.strictEqual(r.code, 1, r.stdout);
  assert.match(r.stderr, /non-finite loss .*at step \d+/);
  assert.ok(!fs.existsSync(path.join(out, 'sae_weights.safetensors')), 'no SAE with NaN weights is written');
  assert.deepStrictEqual(tempsUnder(dir), []);
});

test('training that diverges midway keeps only finite checkpoints and names the last good one', async () => {
  const dir = tmpDir('safety-diverge-');
  const dIn = 4;
  // 16-row chunks; from chunk 20 on, every chunk has a NaN
  const source = new GeneratorSource(dIn, (i) => tf.tidy(() => {
    const v = Float32Array.from({ length: 16 * dIn }, (_, k) => Math.sin((i * 16 * dIn + k) * 0.37) + 1);
    if (i >= 20) v[3] = NaN;
    return tf.tensor2d(v, [16, dIn]);
  }), 'test source');
  const trainer = await SAETrainer.create({ dIn, dSae: 8, trainingTokens: 16 * 40, trainBatchSizeTokens: 16, nBatchesInBuffer: 2, nCheckpoints: 8, lr: 1e-3, logEvery: 5 }, source, { outDir: dir, progress: 'none' });
  let err: Error | undefined;
  try {
    await trainer.fit();
  } catch (e) {
    err = e as Error;
  } finally {
    trainer.dispose();
  }
  assert.ok(err instanceof NonFiniteError, String(err));
  const step = Number(/at step (\d+)/.exec(err!.message)?.[1]);
  assert.ok(step > 5 && step <= 40, err!.message);
  const cks = fs.readdirSync(path.join(dir, 'checkpoints')).map(Number).sort((a, b) => a - b);
  assert.ok(cks.length >= 1, 'checkpoints before the divergence exist');
  assert.ok(err!.message.includes(path.join(dir, 'checkpoints', String(cks[cks.length - 1]))), `names the last good checkpoint: ${err!.message}`);
  for (const c of cks) {
    const w = loadSafetensors(path.join(dir, 'checkpoints', String(c), 'sae_weights.safetensors')).tensors;
    for (const [n, t] of Object.entries(w)) assert.strictEqual(countNonFinite(t).count, 0, `checkpoint ${c} ${n}`);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'sae_weights.safetensors')));
});

test('reconstruction metrics leave non-finite tokens out and report how many', () => {
  const x = [[1, 2], [3, 5], [0, -1], [2, 2]];
  const xh = [[1.5, 2], [NaN, 5], [0, -0.5], [2, 1]];
  const acc = new ReconstructionAccumulator(2);
  tf.tidy(() => acc.add(tf.tensor2d(x), tf.tensor2d(xh)));
  const s = acc.summary();
  assert.strictEqual(s.nonFiniteTokens, 1);
  assert.strictEqual(s.tokens, 3);
  // by hand over rows 0, 2, 3: SSE = 0.25 + 0.25 + 1 = 1.5; all-element mean = (1+2+0-1+2+2)/6 = 1
  const m2 = [1, 2, 0, -1, 2, 2].reduce((a, v) => a + (v - 1) ** 2, 0);
  assert.ok(Math.abs(s.r2 - (1 - 1.5 / m2)) < 1e-6, `r2 ${s.r2}`);
  assert.ok(Number.isFinite(s.explainedVariance));
});

test('every error above is one of saelab\'s own', () => {
  assert.ok(new NonFiniteError('x') instanceof SaelabError);
});
