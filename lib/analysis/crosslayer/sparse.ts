import * as tf from '@tensorflow/tfjs';

/**
 * One layer's feature activations for a batch of tokens in compressed-row form:
 * token t's nonzero features are `indices[indptr[t] .. indptr[t+1])` with `values` alongside.
 */
export interface SparseCodes {
  /** tokens in the batch */
  T: number;
  /** features per token (d_sae) */
  d: number;
  /** [T + 1] row starts */
  indptr: Int32Array;
  /** [nnz] feature index of each nonzero, ascending within a token */
  indices: Int32Array;
  /** [nnz] activation value of each nonzero */
  values: Float32Array;
}

/** Activations of one layer for one batch: a tensor or flat array `[..., d_sae]`, or already sparse. */
export type LayerBatch = tf.Tensor | Float32Array | SparseCodes;

export function isSparseCodes(x: unknown): x is SparseCodes {
  return typeof x === 'object' && x !== null && (x as SparseCodes).indptr instanceof Int32Array && (x as SparseCodes).indices instanceof Int32Array;
}

/** Dense row-major `[T, d]` values -> SparseCodes keeping every x != 0 (NaN is rejected). */
export function denseToSparse(dense: Float32Array, d: number, label = 'activations'): SparseCodes {
  if (!Number.isInteger(d) || d <= 0) throw new Error(`${label}: d_sae must be a positive integer, got ${d}`);
  if (dense.length % d !== 0) throw new Error(`${label}: ${dense.length} values is not a multiple of d_sae ${d}`);
  const T = dense.length / d;
  let nnz = 0;
  for (let k = 0; k < dense.length; k++) if (dense[k] !== 0) nnz++;
  const indptr = new Int32Array(T + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let p = 0;
  for (let t = 0; t < T; t++) {
    const base = t * d;
    for (let f = 0; f < d; f++) {
      const x = dense[base + f];
      if (x !== 0) {
        if (x !== x) throw new Error(`${label}: NaN at token ${t}, feature ${f}; the activations are corrupt`);
        indices[p] = f;
        values[p] = x;
        p++;
      }
    }
    indptr[t + 1] = p;
  }
  return { T, d, indptr, indices, values };
}

/** Any LayerBatch -> SparseCodes with `d` features (a tensor's leading dimensions are flattened into tokens). */
export async function toSparseCodes(x: LayerBatch, d: number, label = 'activations'): Promise<SparseCodes> {
  if (isSparseCodes(x)) {
    if (x.d !== d) throw new Error(`${label}: sparse codes have d=${x.d}, expected d_sae ${d}`);
    if (x.indptr.length !== x.T + 1) throw new Error(`${label}: indptr has ${x.indptr.length} entries, expected T + 1 = ${x.T + 1}`);
    return x;
  }
  if (x instanceof Float32Array) return denseToSparse(x, d, label);
  const shape = x.shape;
  if (shape.length < 1 || shape[shape.length - 1] !== d) throw new Error(`${label}: tensor shape [${shape.join(', ')}] must end in d_sae ${d}`);
  const data = x.dtype === 'float32' ? ((await x.data()) as Float32Array) : Float32Array.from(await x.data() as ArrayLike<number>);
  return denseToSparse(data, d, label);
}

/** Build SparseCodes from per-token lists (tests and small drivers). */
export function sparseFromLists(d: number, rows: Array<Array<[number, number]>>): SparseCodes {
  const T = rows.length;
  const indptr = new Int32Array(T + 1);
  let nnz = 0;
  for (const r of rows) nnz += r.length;
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let p = 0;
  rows.forEach((r, t) => {
    const sorted = r.slice().sort((a, b) => a[0] - b[0]);
    for (const [f, v] of sorted) {
      if (f < 0 || f >= d) throw new Error(`feature index ${f} at token ${t} is outside [0, ${d})`);
      if (v === 0) continue;
      indices[p] = f;
      values[p] = v;
      p++;
    }
    indptr[t + 1] = p;
  });
  return { T, d, indptr, indices: indices.subarray(0, p), values: values.subarray(0, p) };
}

/** Tokens [t0, t1) of a SparseCodes batch (views, no copy of values). */
export function sliceTokens(x: SparseCodes, t0: number, t1: number): SparseCodes {
  const base = x.indptr[t0];
  const indptr = new Int32Array(t1 - t0 + 1);
  for (let t = t0; t <= t1; t++) indptr[t - t0] = x.indptr[t] - base;
  return { T: t1 - t0, d: x.d, indptr, indices: x.indices.subarray(base, x.indptr[t1]), values: x.values.subarray(base, x.indptr[t1]) };
}
