import * as tf from '@tensorflow/tfjs';
import { SAE } from '../../lib/sae/sae';

/** Deterministic PRNG for test data: the library's mulberry32 (checked against Python in test/analysis). */
import { mulberry32 as rng } from '../../lib/data/random';

export { rng };

/** Standard normal samples (Box-Muller). */
export function randn(r: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/** A random permutation of 0..n-1 (Fisher-Yates). */
export function permutation(r: () => number, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** A standard ReLU SAE with the given decoder rows W_dec [dSae, dIn] (flat) and W_enc = W_dec^T, zero biases. */
export function saeFromDecoder(wDec: Float32Array, dSae: number, dIn: number): SAE {
  const W_dec = tf.tensor2d(wDec, [dSae, dIn]);
  const weights = { W_dec, W_enc: tf.transpose(W_dec), b_enc: tf.zeros([dSae]), b_dec: tf.zeros([dIn]) };
  try {
    return SAE.create({ d_in: dIn, d_sae: dSae, metadata: { hook_name: 'blocks.0.hook_resid_pre' } }, weights);
  } finally {
    tf.dispose(Object.values(weights));
  }
}
