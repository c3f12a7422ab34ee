/**
 * Tensor operations the architectures share: the encoder and decoder linear maps, decoder row norms,
 * TopK selection and norm folding. Architectures call these entry points (never tf.matMul directly for
 * encode/decode), so a faster kernel (a sparse decode, a fused encoder) plugs in here for all of them.
 */
import * as tf from '@tensorflow/tfjs';
import { sparseMatMul } from '../../backend/fusedOps';

/** Weights by SAELens state_dict name. */
export type Weights = Record<string, tf.Tensor>;

/** x W + b (and an optional relu) as one fused kernel where the backend has one. x [n, a], W [a, b], b [b] -> [n, b] */
export function linear(x: tf.Tensor2D, W: tf.Tensor, b: tf.Tensor, activation?: 'relu'): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: W as tf.Tensor2D, bias: b, activation: activation ?? 'linear' }) as tf.Tensor2D;
}

/** Decoder map f W_dec + b_dec. f [n, d_sae], W_dec [d_sae, d_out], b_dec [d_out] -> [n, d_out] */
export function decodeLinear(f: tf.Tensor2D, W_dec: tf.Tensor, b_dec: tf.Tensor): tf.Tensor2D {
  // from the active features only where the backend can (native, sparse enough rows), else dense
  return sparseMatMul(f, W_dec as tf.Tensor2D, b_dec) ?? linear(f, W_dec, b_dec);
}

/** Row norms of W_dec [d_sae]. */
export function decoderNorms(W_dec: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(W_dec), 1)) as tf.Tensor1D);
}

/** Backends whose tensors live in main memory, where a per-row selection in JS beats tf.topk + scatter. */
const HOST_BACKENDS = new Set(['cpu', 'wasm', 'native']);

/** Whether the current backend keeps tensors in main memory (selections are then done in JS). */
export function onHostBackend(): boolean {
  return HOST_BACKENDS.has(tf.getBackend());
}

/** relu of the top k values of each row, zeros elsewhere. pre [n, d_sae] -> [n, d_sae] */
export function topkActivation(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [n, dSae] = pre.shape;
  if (onHostBackend()) return tf.tensor2d(topkRowsHost(pre.dataSync() as Float32Array, n, dSae, k), [n, dSae]);
  return topkActivationTf(pre, k);
}

/** The same with tf.topk + scatterND (for accelerator backends). */
export function topkActivationTf(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [n, dSae] = pre.shape;
  return tf.tidy(() => {
    const { values, indices } = tf.topk(pre, k, true);
    const rows = tf.tile(tf.reshape(tf.range(0, n, 1, 'int32'), [n, 1]), [1, k]);
    const coords = tf.stack([tf.reshape(rows, [-1]), tf.reshape(indices, [-1])], 1) as tf.Tensor2D;
    return tf.scatterND(coords, tf.reshape(tf.relu(values), [-1]), [n, dSae]) as tf.Tensor2D;
  });
}

/**
 * Top-k selection per row with a size-k min-heap (sparse: each row keeps k of d values).
 * Ties keep the lower index. Returns relu of the kept values in a dense [n, d] array.
 */
export function topkRowsHost(data: Float32Array, n: number, d: number, k: number): Float32Array {
  const out = new Float32Array(n * d);
  const hv = new Float32Array(k);
  const hi = new Int32Array(k);
  // heap order: smaller value first; among equal values the larger index first (evicted before lower indices)
  const less = (a: number, b: number) => hv[a] < hv[b] || (hv[a] === hv[b] && hi[a] > hi[b]);
  const swap = (a: number, b: number) => {
    const v = hv[a]; hv[a] = hv[b]; hv[b] = v;
    const i = hi[a]; hi[a] = hi[b]; hi[b] = i;
  };
  const siftDown = (start: number, size: number) => {
    let p = start;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= size) return;
      const r = l + 1;
      const c = r < size && less(r, l) ? r : l;
      if (!less(c, p)) return;
      swap(c, p);
      p = c;
    }
  };
  for (let row = 0; row < n; row++) {
    const base = row * d;
    for (let j = 0; j < k; j++) { hv[j] = data[base + j]; hi[j] = j; }
    for (let j = (k >> 1) - 1; j >= 0; j--) siftDown(j, k);
    for (let j = k; j < d; j++) {
      const v = data[base + j];
      if (v > hv[0]) { hv[0] = v; hi[0] = j; siftDown(0, k); }
    }
    for (let j = 0; j < k; j++) { const v = hv[j]; out[base + hi[j]] = v > 0 ? v : 0; }
  }
  return out;
}

/**
 * The k-th largest value of `data` (1-based k; quickselect on a copy, O(n)). For BatchTopK's selection
 * over a whole batch, where tf.topk would sort n * d_sae values.
 */
export function kthLargest(data: Float32Array, k: number): number {
  if (!(k >= 1 && k <= data.length)) throw new Error(`kthLargest: k=${k} out of range for ${data.length} values`);
  const a = Float32Array.from(data);
  const target = k - 1; // index in descending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    // median of three pivot, partition descending (Hoare)
    const mid = (lo + hi) >> 1;
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
}

/**
 * SAELens fold_W_dec_norm: with n the decoder row norms, W_dec /= n, W_enc *= n, and each per-feature
 * encoder tensor named in `perFeature` (biases, thresholds) *= n. Returns the changed weights (new
 * tensors, kept) merged over the inputs (which stay untouched).
 */
export function foldNorms(w: Weights, perFeature: string[]): Weights {
  return tf.tidy(() => {
    const n = decoderNorms(w.W_dec);
    const out: Weights = { ...w };
    out.W_dec = tf.div(w.W_dec, tf.reshape(n, [-1, 1]));
    out.W_enc = tf.mul(w.W_enc, n);
    for (const name of perFeature) if (w[name]) out[name] = tf.mul(w[name], n);
    for (const name of Object.keys(out)) if (out[name] !== w[name]) tf.keep(out[name]);
    return out;
  });
}

/** The k-th largest entry of a tensor (1-based): a JS selection on host backends, tf.topk elsewhere. */
export function kthLargestValue(t: tf.Tensor, k: number): number {
  if (onHostBackend()) return kthLargest(t.dataSync() as Float32Array, k);
  return tf.tidy(() => tf.topk(tf.reshape(t, [-1]), k, true).values.dataSync()[k - 1]);
}
