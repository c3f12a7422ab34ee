import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { REPO_ROOT, setupBackend, tmpDir } from '../helpers';
import { randomValues, requireNative } from './compare';
import { loadNativeAddon } from '../../lib/backend/native';
import { bf16Linear, bf16MatmulStats, bf16MatmulSupport } from '../../lib/backend/bf16';

/**
 * The oneDNN bfloat16 matmul (native/src/bf16.cc) against an independent float64 product of the same
 * bfloat16-rounded inputs. bf16 x bf16 products are exact in float32, so the only error is float32
 * accumulation: |out - exact| <= K * 2^-24 * sum_k |x_k w_k| + 2^-24 |bias| (the standard gamma_K bound).
 */

before(async () => {
  await setupBackend();
  requireNative();
});

/** float32 -> bfloat16 bits, round to nearest even, by the bit layout (independent of the library). */
function bf16Bits(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  const b = dv.getUint32(0);
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}
function bitsToNumber(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits << 16);
  return dv.getFloat32(0);
}

/** Exact float64 product of bf16(x) [M, K] and W (given by an accessor over its bf16 bits) + bias, with each entry's bound. */
function reference(x: Float32Array, M: number, K: number, N: number, wAt: (k: number, n: number) => number, bias?: Float32Array): { exact: Float64Array; bound: Float64Array } {
  const exact = new Float64Array(M * N);
  const bound = new Float64Array(M * N);
  const xr = Float64Array.from(x, (v) => bitsToNumber(bf16Bits(v)));
  const wt = new Float64Array(N * K); // W transposed, as numbers
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) wt[j * K + k] = bitsToNumber(wAt(k, j));
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = bias ? bias[j] : 0;
      let a = 0;
      for (let k = 0; k < K; k++) {
        const p = xr[i * K + k] * wt[j * K + k];
        s += p;
        a += Math.abs(p);
      }
      exact[i * N + j] = s;
      bound[i * N + j] = (K + 1) * 2 ** -24 * (a + (bias ? Math.abs(bias[j]) : 0)) + 1e-30;
    }
  }
  return { exact, bound };
}

function bitsOf(values: Float32Array): Uint16Array {
  return Uint16Array.from(values, bf16Bits);
}

function assertWithin(out: Float32Array, ref: { exact: Float64Array; bound: Float64Array }, label: string): void {
  assert.strictEqual(out.length, ref.exact.length, label);
  for (let i = 0; i < out.length; i++) {
    const err = Math.abs(out[i] - ref.exact[i]);
    if (!(err <= ref.bound[i])) assert.fail(`${label}: entry ${i} = ${out[i]}, exact ${ref.exact[i]}, error ${err} > bound ${ref.bound[i]}`);
  }
}

const support = () => loadNativeAddon().addon!.bf16Info!();

test('bf16Info says whether the oneDNN bfloat16 matmul can run here, and why not', () => {
  const info = support();
  assert.strictEqual(typeof info.available, 'boolean');
  if (!info.available) assert.ok(info.reason.length > 10, 'an unavailable kernel says why');
  else assert.match(info.version, /^2\./);
});

test('bf16 matmul of a [K, N] weight, with and without bias, equals the float64 product of the rounded inputs', (t) => {
  const addon = loadNativeAddon().addon!;
  if (!support().available) {
    // where the kernel is missing, calling it is a clear error (models then compute in float32: test/model/computeDtype)
    assert.throws(() => addon.bf16Matmul!(new Float32Array(4), new Uint16Array(4), null, new Float32Array(4), 2, 2, 2, 0, 2, 0), /bf16Matmul/);
    t.diagnostic(`kernel unavailable: ${support().reason}`);
    return;
  }
  for (const [M, K, N] of [[1, 1, 1], [5, 7, 6], [37, 300, 129], [128, 768, 96]]) {
    const x = randomValues(M * K, 11 + M, 2);
    const w = bitsOf(randomValues(K * N, 12 + N, 0.5));
    const bias = randomValues(N, 13, 1);
    for (const b of [undefined, bias]) {
      const out = new Float32Array(M * N);
      const impl = addon.bf16Matmul!(x, w, b ?? null, out, M, N, K, 0, N, 0);
      assert.match(impl, /bf16/, `oneDNN ran a bf16 implementation (${impl})`);
      assertWithin(out, reference(x, M, K, N, (k, n) => w[k * N + n], b), `${M}x${K}x${N} bias=${!!b}`);
    }
  }
});

test('bf16 matmul rounds the activations to bfloat16 to nearest, ties to even', () => {
  if (!support().available) return assert.ok(!bf16MatmulSupport().ok);
  const addon = loadNativeAddon().addon!;
  // 1 + 2^-8 is half-way between 1 and 1 + 2^-7 (even: 1); 1 + 3 * 2^-8 half-way between 1 + 2^-7 and 1 + 2^-6 (even: 1 + 2^-6);
  // 1 + 2^-8 + 2^-20 is above half-way (1 + 2^-7)
  const x = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20]);
  const one = 0x3f80;
  const w = new Uint16Array([one, 0, 0, 0, one, 0, 0, 0, one]); // the 3 x 3 identity
  const out = new Float32Array(3);
  addon.bf16Matmul!(x, w, null, out, 1, 3, 3, 0, 3, 0);
  assert.deepStrictEqual(Array.from(out), [1, 1 + 2 ** -6, 1 + 2 ** -7]);
});

test('bf16 matmul of per-head weights [h, K, dh] (W_Q layout) and of a column block of a wider weight', () => {
  if (!support().available) return assert.ok(!bf16MatmulSupport().ok);
  const addon = loadNativeAddon().addon!;
  const [M, K, h, dh] = [9, 48, 4, 16];
  const x = randomValues(M * K, 21, 1);
  const w = bitsOf(randomValues(h * K * dh, 22, 1));
  const bias = randomValues(h * dh, 23, 1);
  const out = new Float32Array(M * h * dh);
  addon.bf16Matmul!(x, w, bias, out, M, h * dh, K, h, h * dh, 0);
  assertWithin(out, reference(x, M, K, h * dh, (k, n) => w[(Math.floor(n / dh) * K + k) * dh + (n % dh)], bias), 'heads');
  // columns [123, 200) of a [K, 500] weight
  const [cols, start, count] = [500, 123, 77];
  const wide = bitsOf(randomValues(K * cols, 24, 1));
  const block = new Float32Array(M * count);
  addon.bf16Matmul!(x, wide, null, block, M, count, K, 0, cols, start);
  assertWithin(block, reference(x, M, K, count, (k, n) => wide[k * cols + start + n]), 'column block');
  // the same shape again (the cached primitive) gives the same bits
  const again = new Float32Array(M * count);
  addon.bf16Matmul!(x, wide, null, again, M, count, K, 0, cols, start);
  assert.deepStrictEqual(again, block);
});

test('bf16 matmul rejects buffers that do not hold the described matrices', () => {
  const addon = loadNativeAddon().addon!;
  assert.throws(() => addon.bf16Matmul!(new Float32Array(6), new Uint16Array(5), null, new Float32Array(6), 2, 3, 3, 0, 3, 0), /weight bits do not hold/);
  assert.throws(() => addon.bf16Matmul!(new Float32Array(5), new Uint16Array(9), null, new Float32Array(6), 2, 3, 3, 0, 3, 0), /too short/);
  assert.throws(() => addon.bf16Matmul!(new Float32Array(6), new Uint16Array(9), null, new Float32Array(6), 2, 3, 3, 2, 3, 0), /weight bits do not hold/);
});

test('bf16Linear: tensors in, float32 [.., N] out, the same values as the addon call; counted in bf16MatmulStats', async () => {
  await tf.setBackend('native');
  if (!bf16MatmulSupport().ok) return assert.throws(() => bf16Linear(tf.zeros([2, 3]), { shape: [3, 2], dtype: 'bfloat16', bits: new Uint16Array(6) }), /bf16Linear/);
  const [B, P, K, N] = [2, 3, 40, 24];
  const xv = randomValues(B * P * K, 31, 1);
  const w = { shape: [K, N], dtype: 'bfloat16', bits: bitsOf(randomValues(K * N, 32, 1)) };
  const bias = randomValues(N, 33, 1);
  const before = bf16MatmulStats().calls;
  const y = bf16Linear(tf.tensor3d(xv, [B, P, K]), w, {}, tf.tensor1d(bias));
  assert.deepStrictEqual(y.shape, [B, P, N]);
  assert.strictEqual(bf16MatmulStats().calls, before + 1);
  assertWithin(y.dataSync() as Float32Array, reference(xv, B * P, K, N, (k, n) => w.bits[k * N + n], bias), 'bf16Linear');
  assert.throws(() => bf16Linear(tf.zeros([2, K + 1]), w), /does not take inputs of width/);
  assert.throws(() => bf16Linear(tf.zeros([2, K]), w, {}, tf.zeros([N + 1])), /bias has/);
  tf.dispose(y);
});

test('an addon built without oneDNN (SAELAB_DNNL=0, as where libdnnl-dev is absent) builds, runs, and says why it has no bfloat16 matmul', () => {
  const dir = tmpDir('saelab-native-nodnnl-');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(REPO_ROOT, 'scripts', 'build-native.js'), path.join(dir, 'scripts', 'build-native.js'));
  fs.cpSync(path.join(REPO_ROOT, 'native', 'src'), path.join(dir, 'native', 'src'), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'native', 'binding.gyp'), path.join(dir, 'native', 'binding.gyp'));
  // -O0 (the last -O wins) keeps the build short
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-native.js')], { env: { ...process.env, SAELAB_DNNL: '0', SAELAB_NATIVE_CFLAGS: '-O0' }, encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^saelab: native backend built \(.*without oneDNN \(SAELAB_DNNL=0\)\)\.$/);
  const addon = path.join(dir, 'native', 'build', 'Release', 'saelab_native.node');
  const script = `
    const tf = require('@tensorflow/tfjs');
    const { initBackend } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'index.js'))});
    const { bf16MatmulSupport } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'bf16.js'))});
    initBackend().then((info) => {
      const c = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).arraySync();
      console.log(JSON.stringify({ kind: info.kind, c, support: bf16MatmulSupport() }));
    });
  `;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, env: { ...process.env, SAELAB_NATIVE_ADDON: addon, SAELAB_BACKEND: 'native' }, encoding: 'utf8' });
  assert.strictEqual(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
  assert.strictEqual(out.kind, 'native');
  assert.deepStrictEqual(out.c, [[19, 22], [43, 50]]);
  assert.deepStrictEqual(out.support, { ok: false, reason: 'the native addon was built without oneDNN (apt-get install libdnnl-dev, then npm run build:native)' });
});
