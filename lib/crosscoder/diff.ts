/**
 * Model diffing with a crosscoder: per latent, the relative decoder norm r = |d_b| / (|d_a| + |d_b|)
 * between two of its models (a = base, b = finetune), the cosine between its two decoder directions,
 * its density on a dataset, latent scaling (the per-model least-squares scale of its contribution), and
 * its class: a-only (r ~ 0), shared (r ~ 0.5), b-only (r ~ 1).
 */
import * as tf from '@tensorflow/tfjs';
import { Crosscoder } from './crosscoder';

/** Where a latent lives. 'other': between the shared band and the exclusive tails; 'dead': no decoder norm. */
export type LatentClass = 'shared' | 'base_only' | 'finetune_only' | 'other' | 'dead';

/** Relative-norm thresholds of the classes: r < exclusive: base-only; r > 1 - exclusive: finetune-only; |r - 0.5| <= sharedHalfWidth: shared. */
export interface ClassThresholds {
  exclusive: number;
  sharedHalfWidth: number;
}

/** Minder et al.'s bands: exclusive below 0.1 / above 0.9, shared within 0.4..0.6, widened here to 0.3..0.7. */
export const DEFAULT_CLASS_THRESHOLDS: ClassThresholds = { exclusive: 0.1, sharedHalfWidth: 0.2 };

/** The decoder side of the diff, per latent [d_sae]. */
export interface DecoderDiff {
  /** |W_dec[j, a]| and |W_dec[j, b]| */
  normA: Float32Array;
  normB: Float32Array;
  /** |d_b| / (|d_a| + |d_b|); 0.5 for a latent with no decoder at all (classed 'dead') */
  relativeNorm: Float32Array;
  /** cosine of d_a and d_b (0 where either is zero) */
  cosine: Float32Array;
  classes: LatentClass[];
  thresholds: ClassThresholds;
}

/** The class of a latent from its relative norm r and total decoder norm. */
export function classifyLatent(r: number, totalNorm: number, t: ClassThresholds = DEFAULT_CLASS_THRESHOLDS): LatentClass {
  if (!(totalNorm > 1e-8)) return 'dead';
  if (r < t.exclusive) return 'base_only';
  if (r > 1 - t.exclusive) return 'finetune_only';
  if (Math.abs(r - 0.5) <= t.sharedHalfWidth) return 'shared';
  return 'other';
}

/** Relative norms, decoder cosines and classes of every latent between models a and b (default 0 = base, 1 = finetune). */
export function decoderDiff(cc: Crosscoder, opts: { a?: number; b?: number; thresholds?: ClassThresholds } = {}): DecoderDiff {
  const a = opts.a ?? 0;
  const b = opts.b ?? 1;
  const n = cc.nModels;
  if (!(a >= 0 && a < n && b >= 0 && b < n && a !== b)) throw new Error(`decoderDiff: models a=${a}, b=${b} must be two different indices below ${n}`);
  const thresholds = opts.thresholds ?? DEFAULT_CLASS_THRESHOLDS;
  const [normA, normB, dot] = tf.tidy(() => {
    const W = cc.weights.W_dec as tf.Tensor3D; // [d_sae, n, d]
    const [s, , d] = W.shape;
    const da = tf.reshape(tf.slice(W, [0, a, 0], [s, 1, d]), [s, d]);
    const db = tf.reshape(tf.slice(W, [0, b, 0], [s, 1, d]), [s, d]);
    return [tf.norm(da, 'euclidean', 1), tf.norm(db, 'euclidean', 1), tf.sum(tf.mul(da, db), 1)];
  });
  const nA = normA.dataSync() as Float32Array;
  const nB = normB.dataSync() as Float32Array;
  const dt = dot.dataSync() as Float32Array;
  tf.dispose([normA, normB, dot]);
  const s = nA.length;
  const relativeNorm = new Float32Array(s);
  const cosine = new Float32Array(s);
  const classes: LatentClass[] = [];
  for (let j = 0; j < s; j++) {
    const total = nA[j] + nB[j];
    relativeNorm[j] = total > 1e-8 ? nB[j] / total : 0.5;
    cosine[j] = nA[j] > 1e-12 && nB[j] > 1e-12 ? dt[j] / (nA[j] * nB[j]) : 0;
    classes.push(classifyLatent(relativeNorm[j], total, thresholds));
  }
  return { normA: nA, normB: nB, relativeNorm, cosine, classes, thresholds };
}

/** The classes with latents that never fired on the data (density 0) marked 'dead': their decoders are untrained. */
export function markNeverFired(classes: readonly LatentClass[], density: ArrayLike<number>): LatentClass[] {
  return classes.map((c, j) => (density[j] > 0 ? c : 'dead'));
}

/** How many latents fall in each class. */
export function countClasses(classes: readonly LatentClass[]): Record<LatentClass, number> {
  const c: Record<LatentClass, number> = { shared: 0, base_only: 0, finetune_only: 0, other: 0, dead: 0 };
  for (const k of classes) c[k] += 1;
  return c;
}

/** Per-latent statistics of a crosscoder over paired activations. */
export interface LatentStats {
  tokens: number;
  /** fraction of tokens on which each latent fires [d_sae] */
  density: Float32Array;
  /** mean activation over the tokens where it fires (0 where it never fires) */
  meanActive: Float32Array;
  /**
   * Latent scaling: beta[m][j] = argmin_beta sum_t |y_mt - beta f_j(t) v_j|^2, with v_j the decoder
   * direction of latent j in the model where its decoder norm is largest and y_mt = x_mt - x^_mt +
   * f_j(t) W_dec[j, m] (what the crosscoder leaves unexplained in model m plus the latent's own
   * contribution there). 0 for latents that never fire.
   */
  beta: Float32Array[];
  /** fraction of the explained variance in each model: 1 - |x - x^|^2 / |x - mean x|^2 (summed over tokens) */
  explainedVariance: number[];
}

/**
 * Densities, mean activations, latent scaling and explained variance over batches of paired activations
 * (each batch: n tensors [tokens, d_in], the same tokens in each model; the caller keeps them).
 */
export function latentStats(cc: Crosscoder, batches: Iterable<tf.Tensor2D[]>): LatentStats {
  const { n_models: n, d_sae: s, d_in: d } = cc.cfg;
  const own = tf.tidy(() => tf.argMax(cc.decoderNormsTensor(), 1)); // [d_sae]
  // v_j: the decoder row of latent j in its own model [d_sae, d]
  const V = tf.tidy(() => tf.reshape(tf.gather(tf.reshape(cc.weights.W_dec, [s * n, d]), tf.add(tf.range(0, s * n, n, 'int32'), tf.cast(own, 'int32'))), [s, d]));
  const vNorm2 = tf.tidy(() => tf.sum(tf.square(V), 1));
  let fired = tf.zeros([s]);
  let sumF = tf.zeros([s]);
  let sumF2 = tf.zeros([s]);
  const proj: tf.Tensor[] = Array.from({ length: n }, () => tf.zeros([s]));
  const errSq = new Float64Array(n);
  const sumX = Array.from({ length: n }, () => new Float64Array(d));
  const sumXX = new Float64Array(n);
  let tokens = 0;
  const add = (acc: tf.Tensor, t: tf.Tensor): tf.Tensor => {
    const out = tf.add(acc, t);
    acc.dispose();
    return out;
  };
  try {
    for (const xs of batches) {
      const f = cc.encode(xs);
      const recon = cc.decode(f);
      tokens += f.shape[0];
      fired = add(fired, tf.tidy(() => tf.sum(tf.cast(tf.greater(f, 0), 'float32'), 0)));
      sumF = add(sumF, tf.tidy(() => tf.sum(f, 0)));
      sumF2 = add(sumF2, tf.tidy(() => tf.sum(tf.square(f), 0)));
      for (let m = 0; m < n; m++) {
        // sum_t f_j(t) <v_j, x_mt - x^_mt>
        proj[m] = add(proj[m], tf.tidy(() => tf.sum(tf.mul(tf.matMul(f, tf.sub(xs[m], recon[m]), true, false), V), 1)));
        const [e, sx, sxx] = tf.tidy(() => [tf.sum(tf.square(tf.sub(xs[m], recon[m]))), tf.sum(xs[m], 0), tf.sum(tf.square(xs[m]))]);
        errSq[m] += e.dataSync()[0];
        const sxv = sx.dataSync();
        for (let i = 0; i < d; i++) sumX[m][i] += sxv[i];
        sumXX[m] += sxx.dataSync()[0];
        tf.dispose([e, sx, sxx]);
      }
      tf.dispose([f, ...recon]);
    }
    if (tokens === 0) throw new Error('latentStats: no activations');
    const betas: Float32Array[] = [];
    for (let m = 0; m < n; m++) {
      const beta = tf.tidy(() => {
        const Wm = tf.reshape(tf.slice(cc.weights.W_dec, [0, m, 0], [s, 1, d]), [s, d]);
        const selfTerm = tf.mul(sumF2, tf.sum(tf.mul(Wm, V), 1));
        const denom = tf.mul(vNorm2, sumF2);
        const safe = tf.greater(denom, 0);
        return tf.where(safe, tf.div(tf.add(proj[m], selfTerm), tf.where(safe, denom, tf.onesLike(denom))), tf.zerosLike(denom));
      });
      betas.push(Float32Array.from(beta.dataSync()));
      beta.dispose();
    }
    const firedV = fired.dataSync();
    const sumFV = sumF.dataSync();
    const density = new Float32Array(s);
    const meanActive = new Float32Array(s);
    for (let j = 0; j < s; j++) {
      density[j] = firedV[j] / tokens;
      meanActive[j] = firedV[j] > 0 ? sumFV[j] / firedV[j] : 0;
    }
    const explainedVariance = Array.from({ length: n }, (_, m) => {
      let meanSq = 0;
      for (let i = 0; i < d; i++) meanSq += (sumX[m][i] / tokens) ** 2;
      const total = sumXX[m] - tokens * meanSq;
      return total > 0 ? 1 - errSq[m] / total : 0;
    });
    return { tokens, density, meanActive, beta: betas, explainedVariance };
  } finally {
    tf.dispose([own, V, vNorm2, fired, sumF, sumF2, ...proj]);
  }
}

/**
 * Latent-scaling ratio per latent for two models: nu_j = beta[other][j] / beta[own][j], where own is the
 * model (a or b) with the larger decoder norm. Near 0: the latent really is exclusive to its model; near
 * 1: the other model's activations carry it as well (an exclusive latent invented by L1 shrinkage).
 * 0 where beta[own] is 0.
 */
export function latentScalingRatio(stats: LatentStats, diff: DecoderDiff, a = 0, b = 1): Float32Array {
  const out = new Float32Array(diff.relativeNorm.length);
  for (let j = 0; j < out.length; j++) {
    const ownIsB = diff.normB[j] >= diff.normA[j];
    const betaOwn = stats.beta[ownIsB ? b : a][j];
    const betaOther = stats.beta[ownIsB ? a : b][j];
    out[j] = betaOwn !== 0 ? betaOther / betaOwn : 0;
  }
  return out;
}
