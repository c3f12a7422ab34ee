import * as tf from '@tensorflow/tfjs';
import { GeneratorSource } from './sources';
import { Rng, hashSeed } from '../data/random';

export interface SyntheticSparseOptions {
  dIn: number;
  /** number of true feature directions */
  nFeatures: number;
  /** expected active features per sample (each is active independently with p = activePerSample / nFeatures) */
  activePerSample: number;
  /** std of isotropic gaussian noise added to each sample */
  noiseStd?: number;
  /** active coefficients are uniform in [minCoef, maxCoef] */
  minCoef?: number;
  maxCoef?: number;
  /** rows per chunk */
  chunkTokens?: number;
  seed?: number;
}

/**
 * Ground-truth activations: each sample is a sparse non-negative combination of known unit directions
 * plus small noise, x = sum_i c_i d_i + eps. Chunk j is a pure function of (seed, j), so a source over it
 * resumes exactly.
 */
export class SyntheticSparseData {
  /** [nFeatures, dIn], unit rows */
  readonly directions: Float32Array;
  readonly opts: Required<SyntheticSparseOptions>;

  constructor(opts: SyntheticSparseOptions) {
    this.opts = { noiseStd: 0.01, minCoef: 0.5, maxCoef: 1.5, chunkTokens: 4096, seed: 0, ...opts };
    const { dIn, nFeatures } = this.opts;
    if (!(this.opts.activePerSample > 0 && this.opts.activePerSample <= nFeatures)) throw new Error(`SyntheticSparseData: activePerSample must be in (0, nFeatures], got ${this.opts.activePerSample}`);
    const rng = new Rng(hashSeed(this.opts.seed, 0x5eed));
    this.directions = new Float32Array(nFeatures * dIn);
    for (let f = 0; f < nFeatures; f++) {
      let norm = 0;
      for (let d = 0; d < dIn; d++) {
        const v = rng.normal();
        this.directions[f * dIn + d] = v;
        norm += v * v;
      }
      norm = Math.sqrt(norm);
      for (let d = 0; d < dIn; d++) this.directions[f * dIn + d] /= norm;
    }
  }

  /** Sparse coefficients of chunk `index` as a dense [rows, nFeatures] array (JS loop: the draw is sparse). */
  coefficients(index: number, rows = this.opts.chunkTokens): Float32Array {
    const { nFeatures, activePerSample, minCoef, maxCoef } = this.opts;
    const rng = new Rng(hashSeed(this.opts.seed, 1, index));
    const p = activePerSample / nFeatures;
    const out = new Float32Array(rows * nFeatures);
    // geometric skipping over the rows * nFeatures Bernoulli(p) cells
    const logq = Math.log(1 - p);
    let pos = -1;
    const total = rows * nFeatures;
    for (;;) {
      const u = Math.max(rng.next(), 1e-300);
      pos += p >= 1 ? 1 : 1 + Math.floor(Math.log(u) / logq);
      if (pos >= total) break;
      out[pos] = rng.uniform(minCoef, maxCoef);
    }
    return out;
  }

  /** Chunk `index`: [rows, dIn] = coefficients @ directions + noise. */
  chunk(index: number): tf.Tensor2D {
    const { dIn, nFeatures, chunkTokens, noiseStd } = this.opts;
    const coef = this.coefficients(index);
    return tf.tidy(() => {
      const clean = tf.matMul(tf.tensor2d(coef, [chunkTokens, nFeatures]), tf.tensor2d(this.directions, [nFeatures, dIn]));
      if (noiseStd <= 0) return clean as tf.Tensor2D;
      return tf.add(clean, tf.randomNormal([chunkTokens, dIn], 0, noiseStd, 'float32', hashSeed(this.opts.seed, 2, index))) as tf.Tensor2D;
    });
  }

  /** An endless activation source over the chunks. */
  source(): GeneratorSource {
    return new GeneratorSource(this.opts.dIn, (i) => this.chunk(i), `synthetic sparse activations (d_in ${this.opts.dIn}, ${this.opts.nFeatures} features, ~${this.opts.activePerSample} active)`);
  }
}

/**
 * Feature recovery: for each true direction [nTrue, d], the best cosine similarity with any learned
 * decoder row [d_sae, d]; returns the per-feature values and their mean.
 */
export function bestCosineRecovery(trueDirections: tf.Tensor2D, decoderRows: tf.Tensor2D): { perFeature: Float32Array; mean: number } {
  const per = tf.tidy(() => {
    const a = tf.div(trueDirections, tf.norm(trueDirections, 'euclidean', 1, true));
    const b = tf.div(decoderRows, tf.maximum(tf.norm(decoderRows, 'euclidean', 1, true), 1e-12));
    return tf.max(tf.matMul(a, b, false, true), 1);
  });
  const perFeature = per.dataSync() as Float32Array;
  per.dispose();
  let s = 0;
  for (const v of perFeature) s += v;
  return { perFeature, mean: s / perFeature.length };
}
