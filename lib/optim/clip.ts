import * as tf from '@tensorflow/tfjs';

/**
 * Global-norm gradient clipping, torch's clip_grad_norm_ rule: every gradient is multiplied by
 * min(1, maxNorm / (norm + 1e-6)), norm the L2 norm of all gradients together.
 */

/** The clipping factor for a gradient norm (a number, for Adam's fused `gradScale`). */
export function clipFactor(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** The L2 norm of all gradients together, as a number. */
export function globalGradNorm(grads: Record<string, tf.Tensor>): number {
  return tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
}

/** Clipped gradients as tensors (the factor computed on the device), and the norm before clipping. */
export function clipGradNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: tf.Scalar } {
  return tf.tidy(() => {
    const sq = Object.values(grads).map((g) => tf.sum(tf.square(g)));
    const norm = tf.sqrt(tf.addN(sq)) as tf.Scalar;
    const factor = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    const out: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) out[k] = tf.mul(g, factor);
    return { grads: out, norm };
  });
}
