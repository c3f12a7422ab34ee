import * as tf from '@tensorflow/tfjs';
import { kthLargestValue, topkActivation as selectTopk } from '../sae/architectures/ops';

/**
 * Activation functions with the gradients SAELens trains with, as tf.customGrad ops (the forward
 * computations inside a customGrad are not taped, so masks built from comparisons need no gradient).
 */

/** Identity forward, zero gradient (torch .detach()). */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as any) as <T extends tf.Tensor>(x: T) => T;

/** [x > 0] as 0/1 floats, with zero gradient (the gate of a gated SAE: torch's (x > 0).to(dtype) has none). */
export const heaviside = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.cast(tf.greater(x, 0), 'float32'),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as any) as <T extends tf.Tensor>(x: T) => T;

/** rectangle(z) = 1 where -0.5 < z < 0.5, else 0. */
function rectangle(z: tf.Tensor): tf.Tensor {
  return tf.cast(tf.logicalAnd(tf.greater(z, -0.5), tf.less(z, 0.5)), 'float32');
}

/**
 * TopK activation of pre-activations [batch, d_sae]: keep each row's k largest values, relu them,
 * zero the rest (the same selection as inference, lib/sae/architectures/ops.ts: exactly k per row, ties
 * to the lower index). Gradient flows to the kept positive entries only.
 */
export function topkActivation(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const op = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const value = selectTopk(x, k);
    save([tf.cast(tf.greater(value, 0), 'float32')]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
  }) as any) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(pre);
}

/**
 * BatchTopK activation (SAELens BatchTopK): relu, then keep the kTotal largest values over the whole
 * batch [batch, d_sae] (kTotal = k * batch), zeros elsewhere. Gradient flows to the kept positive entries.
 */
export function batchTopkActivation(pre: tf.Tensor2D, kTotal: number): tf.Tensor2D {
  const op = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const acts = tf.relu(x);
    const kth = kthLargestValue(acts, Math.min(kTotal, acts.size));
    const keep = tf.cast(tf.logicalAnd(tf.greaterEqual(acts, kth), tf.greater(acts, 0)), 'float32');
    save([keep]);
    return { value: tf.mul(acts, keep), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
  }) as any) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(pre);
}

/**
 * The auxiliary TopK activations for dead features (SAELens _calculate_topk_aux_acts): among the dead
 * features only, keep each row's kAux largest pre-activations (not relu'd), zero elsewhere.
 * deadMask [d_sae] is 1 for dead features.
 */
export function deadTopkActivation(pre: tf.Tensor2D, deadMask: tf.Tensor1D, kAux: number): tf.Tensor2D {
  const op = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const dead = tf.cast(deadMask, 'bool');
    const masked = tf.where(tf.broadcastTo(dead, x.shape), x, tf.fill(x.shape, -Infinity));
    const kth = tf.slice(tf.topk(masked, kAux, true).values, [0, kAux - 1], [x.shape[0], 1]);
    const keep = tf.cast(tf.logicalAnd(tf.greaterEqual(masked, kth), dead), 'float32');
    save([keep]);
    return { value: tf.mul(x, keep), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
  }) as any) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(pre);
}

/**
 * JumpReLU x * [x > threshold] with SAELens's straight-through threshold gradient:
 * dx = dy * [x > t]; dt = sum_batch( -(t / bandwidth) * rectangle((x - t) / bandwidth) * dy ).
 */
export function jumpReLU(pre: tf.Tensor2D, threshold: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  const op = tf.customGrad(((x: tf.Tensor2D, t: tf.Tensor1D, save: tf.GradSaveFunc) => {
    save([x, t]);
    const value = tf.mul(x, tf.cast(tf.greater(x, t), 'float32'));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ts] = saved;
      const dx = tf.mul(dy, tf.cast(tf.greater(xs, ts), 'float32'));
      const dt = tf.sum(tf.mul(tf.mul(rectangle(tf.div(tf.sub(xs, ts), bandwidth)), dy), tf.div(tf.neg(ts), bandwidth)), 0);
      return [dx, dt];
    };
    return { value, gradFunc };
  }) as any) as (x: tf.Tensor2D, t: tf.Tensor1D) => tf.Tensor2D;
  return op(pre, threshold);
}

/**
 * Heaviside step [x > threshold] with SAELens's pseudo-derivative for the threshold only:
 * dx = 0; dt = sum_batch( -(1 / bandwidth) * rectangle((x - t) / bandwidth) * dy ).
 */
export function stepFunction(pre: tf.Tensor2D, threshold: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  const op = tf.customGrad(((x: tf.Tensor2D, t: tf.Tensor1D, save: tf.GradSaveFunc) => {
    save([x, t]);
    const value = tf.cast(tf.greater(x, t), 'float32');
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ts] = saved;
      const dt = tf.sum(tf.mul(tf.mul(rectangle(tf.div(tf.sub(xs, ts), bandwidth)), dy), -1 / bandwidth), 0);
      return [tf.zerosLike(xs), dt];
    };
    return { value, gradFunc };
  }) as any) as (x: tf.Tensor2D, t: tf.Tensor1D) => tf.Tensor2D;
  return op(pre, threshold);
}
