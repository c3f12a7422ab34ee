/**
 * Run-time activation normalisation of SAELens (normalize_activations) and its inverse.
 * expected_average_only_in and none are the identity at run time (a release's scaling factor
 * is folded into the weights at load time instead).
 */
import * as tf from '@tensorflow/tfjs';
import { NormalizeActivations } from './config';

/** What de-normalisation needs: per-row scale and shift, each [n, 1]. */
export interface NormState {
  /** constant_norm_rescale: sqrt(d_in)/|x|; layer_norm: std */
  scale?: tf.Tensor;
  /** layer_norm: mean */
  mu?: tf.Tensor;
}

const LAYER_NORM_EPS = 1e-5;

/** Normalise x [n, d_in]; returns the normalised input and the state de-normalisation needs. */
export function normalizeIn(mode: NormalizeActivations, x: tf.Tensor2D): { x: tf.Tensor2D; state: NormState } {
  const d = x.shape[1];
  if (mode === 'constant_norm_rescale') {
    const coeff = tf.div(Math.sqrt(d), tf.norm(x, 'euclidean', 1, true));
    return { x: tf.mul(x, coeff), state: { scale: coeff } };
  }
  if (mode === 'layer_norm') {
    const mu = tf.mean(x, 1, true);
    const xc = tf.sub(x, mu);
    // unbiased (N - 1) standard deviation, as torch.std
    const std = tf.sqrt(tf.div(tf.sum(tf.square(xc), 1, true), Math.max(d - 1, 1)));
    return { x: tf.div(xc, tf.add(std, LAYER_NORM_EPS)), state: { scale: std, mu } };
  }
  return { x, state: {} };
}

/** Undo normalizeIn on a reconstruction [n, d_in]. */
export function normalizeOut(mode: NormalizeActivations, y: tf.Tensor2D, state: NormState): tf.Tensor2D {
  if (mode === 'constant_norm_rescale') return tf.div(y, state.scale as tf.Tensor);
  if (mode === 'layer_norm') return tf.add(tf.mul(y, state.scale as tf.Tensor), state.mu as tf.Tensor);
  return y;
}

/** Whether a mode needs state carried from encode to decode. */
export function isStateful(mode: NormalizeActivations): boolean {
  return mode === 'constant_norm_rescale' || mode === 'layer_norm';
}
