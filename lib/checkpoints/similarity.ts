/**
 * Feature similarity between two SAEs: cosine of decoder rows, or cosine of feature activation vectors on
 * the same tokens (streamed over token chunks).
 */
import * as tf from '@tensorflow/tfjs';
import { SAE } from '../sae/sae';
import { DenseMatrix } from './assignment';

const EPS = 1e-12;

/** Row-wise unit vectors of x [n, d] (zero rows stay zero). */
function unitRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), EPS)) as tf.Tensor2D);
}

/** Cosine similarity of every row of a [nA, d] with every row of b [nB, d] -> [nA, nB]. */
export function rowCosine(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.shape[1] !== b.shape[1]) throw new Error(`rowCosine: widths differ (${a.shape[1]} vs ${b.shape[1]})`);
  return tf.tidy(() => tf.matMul(unitRows(a), unitRows(b), false, true));
}

/** Decoder cosine similarity [d_sae_a, d_sae_b] of two SAEs on the same d_in. */
export function decoderCosine(a: SAE, b: SAE): DenseMatrix {
  if (a.cfg.d_in !== b.cfg.d_in) throw new Error(`decoderCosine: SAE A has d_in ${a.cfg.d_in}, SAE B has d_in ${b.cfg.d_in}; decoder matching needs the same activation space`);
  const s = rowCosine(a.weights.W_dec as tf.Tensor2D, b.weights.W_dec as tf.Tensor2D);
  const values = s.dataSync() as Float32Array;
  s.dispose();
  return { values, rows: a.cfg.d_sae, cols: b.cfg.d_sae };
}

/**
 * Cosine of feature activation vectors over shared tokens, accumulated chunk by chunk: add(fa [n, dA],
 * fb [n, dB]) for the same n tokens; result() = (Fa^T Fb) / (|Fa_i| |Fb_j|) [dA, dB]. A feature that never
 * fired has cosine 0 with everything.
 */
export class ActivationCosineAccumulator {
  private cross: tf.Tensor2D;
  private sqA: tf.Tensor1D;
  private sqB: tf.Tensor1D;
  tokens = 0;

  constructor(readonly dA: number, readonly dB: number) {
    this.cross = tf.zeros([dA, dB]);
    this.sqA = tf.zeros([dA]);
    this.sqB = tf.zeros([dB]);
  }

  add(fa: tf.Tensor2D, fb: tf.Tensor2D): void {
    if (fa.shape[0] !== fb.shape[0]) throw new Error(`ActivationCosineAccumulator.add: ${fa.shape[0]} tokens for A but ${fb.shape[0]} for B; pass the same tokens`);
    if (fa.shape[1] !== this.dA || fb.shape[1] !== this.dB) throw new Error(`ActivationCosineAccumulator.add: widths [${fa.shape[1]}, ${fb.shape[1]}], expected [${this.dA}, ${this.dB}]`);
    const [c, a, b] = tf.tidy(() => [
      tf.add(this.cross, tf.matMul(fa, fb, true, false)),
      tf.add(this.sqA, tf.sum(tf.square(fa), 0)),
      tf.add(this.sqB, tf.sum(tf.square(fb), 0)),
    ]);
    tf.dispose([this.cross, this.sqA, this.sqB]);
    this.cross = c as tf.Tensor2D;
    this.sqA = a as tf.Tensor1D;
    this.sqB = b as tf.Tensor1D;
    this.tokens += fa.shape[0];
  }

  result(): DenseMatrix {
    const s = tf.tidy(() => {
      const na = tf.maximum(tf.sqrt(this.sqA), EPS).reshape([this.dA, 1]);
      const nb = tf.maximum(tf.sqrt(this.sqB), EPS).reshape([1, this.dB]);
      return tf.div(tf.div(this.cross, na), nb);
    });
    const values = s.dataSync() as Float32Array;
    s.dispose();
    return { values, rows: this.dA, cols: this.dB };
  }

  dispose(): void {
    tf.dispose([this.cross, this.sqA, this.sqB]);
  }
}

/** Activation cosine [dA, dB] of two feature-activation matrices on the same tokens (fa [n, dA], fb [n, dB]), in token chunks. */
export function activationCosine(fa: tf.Tensor2D, fb: tf.Tensor2D, chunk = 4096): DenseMatrix {
  const acc = new ActivationCosineAccumulator(fa.shape[1], fb.shape[1]);
  try {
    for (let s = 0; s < fa.shape[0]; s += chunk) {
      const n = Math.min(chunk, fa.shape[0] - s);
      const [a, b] = [fa.slice([s, 0], [n, -1]), fb.slice([s, 0], [n, -1])];
      acc.add(a, b);
      tf.dispose([a, b]);
    }
    return acc.result();
  } finally {
    acc.dispose();
  }
}

/** SAE feature activations of tokens x [n, d_in] (same tokens for both SAEs) -> activation cosine [dA, dB], in chunks. */
export function saeActivationCosine(a: SAE, b: SAE, xA: tf.Tensor2D, xB: tf.Tensor2D = xA, chunk = 2048): DenseMatrix {
  if (xA.shape[0] !== xB.shape[0]) throw new Error(`saeActivationCosine: ${xA.shape[0]} tokens for A, ${xB.shape[0]} for B`);
  const acc = new ActivationCosineAccumulator(a.cfg.d_sae, b.cfg.d_sae);
  try {
    for (let s = 0; s < xA.shape[0]; s += chunk) {
      const n = Math.min(chunk, xA.shape[0] - s);
      const ya = xA.slice([s, 0], [n, -1]);
      const yb = xB.slice([s, 0], [n, -1]);
      const fa = a.encode(ya) as tf.Tensor2D;
      const fb = b.encode(yb) as tf.Tensor2D;
      acc.add(fa, fb);
      tf.dispose([ya, yb, fa, fb]);
    }
    return acc.result();
  } finally {
    acc.dispose();
  }
}
