import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { SparseStat } from '../../lib/analysis/crosslayer';
import { Dense } from './dense-reference';

/** Deterministic PRNG for test data: the library's mulberry32 (checked against Python in test/analysis). */
import { mulberry32 as rng } from '../../lib/data/random';

export { rng };

const f32 = (x: number): number => Math.fround(x);

/**
 * Random sparse codes for n_layers layers [T][d] with: feature 0 never fires; feature 1 fires on even
 * tokens in even layers and odd tokens in odd layers (dense, never co-active with the next layer);
 * feature 2 dense (70%); the rest fire with rates 2%..30%. `negatives` adds a few negative values.
 */
export function randomCodes(seed: number, nLayers: number, T: number, d: number, negatives = false): Dense[] {
  const r = rng(seed);
  const layers: Dense[] = [];
  for (let L = 0; L < nLayers; L++) {
    const rates = Array.from({ length: d }, (_, f) => (f === 2 ? 0.7 : 0.02 + 0.28 * r()));
    const X: Dense = [];
    for (let t = 0; t < T; t++) {
      const row = new Array(d).fill(0);
      for (let f = 1; f < d; f++) {
        const on = f === 1 ? t % 2 === L % 2 : r() < rates[f];
        if (on) row[f] = f32(0.05 + 3 * r());
        if (negatives && f > 2 && !on && r() < 0.03) row[f] = f32(-0.5 * r() - 0.01);
      }
      X.push(row);
    }
    layers.push(X);
  }
  return layers;
}

/** Tokens [t0, t1) of a dense layer as a flat Float32Array. */
export function flat(X: Dense, t0: number, t1: number): Float32Array {
  const d = X[0].length;
  const out = new Float32Array((t1 - t0) * d);
  for (let t = t0; t < t1; t++) out.set(X[t], (t - t0) * d);
  return out;
}

/** A SparseStat as a dense [dRows][dCols] array, checking row-major order and no duplicates. */
export function statToDense(s: SparseStat, dRows: number, dCols: number, label: string): number[][] {
  const out = Array.from({ length: dRows }, () => new Array(dCols).fill(0));
  let prev = -1;
  for (let k = 0; k < s.values.length; k++) {
    const i = s.indices[2 * k], j = s.indices[2 * k + 1];
    const key = i * dCols + j;
    assert.ok(key > prev, `${label}: entry ${k} (${i}, ${j}) is not in strictly increasing row-major order`);
    prev = key;
    assert.notStrictEqual(s.values[k], 0, `${label}: stored an explicit zero at (${i}, ${j})`);
    out[i][j] = s.values[k];
  }
  return out;
}

/**
 * Compare a stored statistic with its dense reference. Values within float rounding of the clamp may
 * legitimately land on either side, so there either value is accepted.
 */
export function assertStatEqual(actual: number[][], expected: number[][], clamp: number, label: string, tol = 2e-6): void {
  for (let i = 0; i < expected.length; i++) {
    for (let j = 0; j < expected[i].length; j++) {
      const a = actual[i][j], e = expected[i][j];
      if (Math.abs(a - e) <= tol + tol * Math.abs(e)) continue;
      const nearClamp = (v: number): boolean => Math.abs(Math.abs(v) - clamp) < 1e-5;
      if ((a === 0 && nearClamp(e)) || (e === 0 && nearClamp(a))) continue;
      assert.fail(`${label}[${i}][${j}]: got ${a}, dense definition gives ${e}`);
    }
  }
}

/** Count nonzeros of a dense matrix (to make sure the tests exercise something). */
export function nnz(m: number[][]): number {
  let n = 0;
  for (const r of m) for (const v of r) if (v !== 0) n++;
  return n;
}

export function denseTensor(X: Dense, t0: number, t1: number): tf.Tensor {
  return tf.tensor(flat(X, t0, t1), [t1 - t0, X[0].length]);
}
