import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { tryRegisterNative } from '../../lib/backend/native';

/** Register the native backend or fail the test with the reason it is unavailable. */
export function requireNative(): void {
  const r = tryRegisterNative();
  assert.ok(r.ok, `the native backend is not available: ${r.reason}`);
}

/** Deterministic pseudo-random floats in [-scale, scale) (a 32-bit LCG), for reproducible test inputs. */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Run `fn` on a backend and return its outputs' values, dtypes and shapes; tensors are disposed. */
async function runOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<{ values: Float32Array[]; shapes: number[][]; dtypes: string[] }> {
  assert.ok(await tf.setBackend(backend), `backend ${backend} did not initialise`);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(fn);
  const list = Array.isArray(outs) ? outs : [outs];
  const values = list.map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
  const shapes = list.map((t) => t.shape);
  const dtypes = list.map((t) => t.dtype as string);
  tf.dispose(list);
  assert.strictEqual(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return { values, shapes, dtypes };
}

/**
 * Compare `fn` on the native backend against the pure-JS cpu backend (the reference): same shapes, dtypes,
 * and values within atol + rtol * |expected|. Inputs must be created inside `fn` (from plain arrays).
 */
export async function compareWithCpu(label: string, fn: () => tf.Tensor | tf.Tensor[], atol = 1e-5, rtol = 1e-4): Promise<void> {
  const prev = tf.getBackend();
  const expected = await runOn('cpu', fn);
  const actual = await runOn('native', fn);
  await tf.setBackend(prev);
  assert.strictEqual(actual.values.length, expected.values.length, `${label}: number of outputs`);
  for (let i = 0; i < expected.values.length; i++) {
    assert.deepStrictEqual(actual.shapes[i], expected.shapes[i], `${label}: output ${i} shape`);
    assert.strictEqual(actual.dtypes[i], expected.dtypes[i], `${label}: output ${i} dtype`);
    assertValuesClose(actual.values[i], expected.values[i], atol, rtol, `${label} output ${i}`);
  }
}

/** A float32 tensor of `shape` filled with deterministic random values. */
export function rand(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed, scale), shape, 'float32');
}

/** Elementwise |a - b| <= atol + rtol * |b|, with equal infinities and NaN against NaN accepted. */
function assertValuesClose(actual: Float32Array, expected: Float32Array, atol: number, rtol: number, label: string): void {
  assert.strictEqual(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) assert.fail(`${label} index ${i}: ${a} vs expected ${b} (atol ${atol}, rtol ${rtol})`);
  }
}
