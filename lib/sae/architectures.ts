/**
 * The encoder and decoder maths of each SAELens architecture, on flattened activations
 * [n, d_in] already normalised and with b_dec subtracted (see sae.ts for the full order).
 */
import * as tf from '@tensorflow/tfjs';
import { SAEArchitecture, SAEConfig } from './config';
import { sparseMatMul } from '../backend/fusedOps';

/** Tensor names each architecture's weight file holds (SAELens state_dict keys). */
export const REQUIRED_WEIGHTS: Record<SAEArchitecture, string[]> = {
  standard: ['W_enc', 'W_dec', 'b_enc', 'b_dec'],
  topk: ['W_enc', 'W_dec', 'b_enc', 'b_dec'],
  jumprelu: ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold'],
  gated: ['W_enc', 'W_dec', 'b_gate', 'b_mag', 'r_mag', 'b_dec'],
};

/** x W + b (and an optional relu) as one fused kernel where the backend has one. x [n, a], W [a, b], b [b] -> [n, b] */
function linear(x: tf.Tensor2D, W: tf.Tensor, b: tf.Tensor, activation?: 'relu'): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: W as tf.Tensor2D, bias: b, activation: activation ?? 'linear' }) as tf.Tensor2D;
}

/** Expected shape of each weight for a config. */
export function expectedShape(name: string, cfg: SAEConfig): number[] {
  switch (name) {
    case 'W_enc': return [cfg.d_in, cfg.d_sae];
    case 'W_dec': return [cfg.d_sae, cfg.d_in];
    case 'b_dec': return [cfg.d_in];
    default: return [cfg.d_sae];
  }
}

/** Row norms of W_dec [d_sae]. */
export function decoderNorms(W_dec: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(W_dec), 1)) as tf.Tensor1D);
}

/** Backends whose tensors live in main memory, where a per-row selection in JS beats tf.topk + scatter. */
const HOST_BACKENDS = new Set(['cpu', 'wasm', 'native']);

/** relu of the top k values of each row, zeros elsewhere. pre [n, d_sae] -> [n, d_sae] */
export function topkActivation(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [n, dSae] = pre.shape;
  if (HOST_BACKENDS.has(tf.getBackend())) return tf.tensor2d(topkRowsHost(pre.dataSync() as Float32Array, n, dSae, k), [n, dSae]);
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

/** Feature activations from the processed input. xIn [n, d_in] -> [n, d_sae] */
export function encodeFeatures(cfg: SAEConfig, w: Record<string, tf.Tensor>, xIn: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    switch (cfg.architecture) {
      case 'standard':
        return linear(xIn, w.W_enc, w.b_enc, 'relu');
      case 'jumprelu': {
        const pre = linear(xIn, w.W_enc, w.b_enc);
        return tf.mul(tf.relu(pre), tf.cast(tf.greater(pre, w.threshold), 'float32')) as tf.Tensor2D;
      }
      case 'gated': {
        const gate = linear(xIn, w.W_enc, w.b_gate);
        const wMag = tf.mul(w.W_enc, tf.exp(w.r_mag)) as tf.Tensor2D;
        const mag = linear(xIn, wMag, w.b_mag, 'relu');
        return tf.mul(tf.cast(tf.greater(gate, 0), 'float32'), mag) as tf.Tensor2D;
      }
      case 'topk': {
        let pre = linear(xIn, w.W_enc, w.b_enc);
        if (cfg.rescale_acts_by_decoder_norm) pre = tf.mul(pre, decoderNorms(w.W_dec));
        return topkActivation(pre, cfg.k ?? 100);
      }
    }
  });
}

/** Reconstruction before de-normalisation. f [n, d_sae] -> [n, d_in] */
export function decodeFeatures(cfg: SAEConfig, w: Record<string, tf.Tensor>, f: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    let acts: tf.Tensor2D = f;
    if (cfg.architecture === 'topk' && cfg.rescale_acts_by_decoder_norm) acts = tf.div(f, decoderNorms(w.W_dec));
    // from the active features only where the backend can (native), else dense
    return sparseMatMul(acts, w.W_dec as tf.Tensor2D, w.b_dec) ?? linear(acts, w.W_dec, w.b_dec);
  });
}

/**
 * Fold the decoder row norms n into the encoder (SAELens fold_W_dec_norm): W_dec /= n, W_enc *= n,
 * and the per-feature encoder biases and thresholds *= n. Returns new weights (inputs untouched).
 */
export function foldDecoderNorms(cfg: SAEConfig, w: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  if (cfg.architecture === 'topk' && !cfg.rescale_acts_by_decoder_norm) {
    throw new Error('foldWDecNorm: folding decoder norms into a topk SAE without rescale_acts_by_decoder_norm would change which features are in the top k (SAELens refuses too)');
  }
  return tf.tidy(() => {
    const n = decoderNorms(w.W_dec);
    const out: Record<string, tf.Tensor> = { ...w };
    out.W_dec = tf.div(w.W_dec, tf.reshape(n, [-1, 1]));
    out.W_enc = tf.mul(w.W_enc, n);
    for (const name of ['b_enc', 'threshold', 'b_gate', 'b_mag']) if (w[name]) out[name] = tf.mul(w[name], n);
    for (const name of Object.keys(out)) if (out[name] !== w[name]) tf.keep(out[name]);
    return out;
  });
}
