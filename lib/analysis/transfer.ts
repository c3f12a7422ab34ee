/**
 * Feature transfer between a base model and its finetune through one SAE (seed 001 stage 5):
 * feature families from the two log-density vectors, seeded sampling, per-feature activation Pearson over
 * tokens (np.corrcoef semantics, NaN for features constant on the sample), log-activation error for dead
 * families, logit vectors W_dec[i] @ W_U and their Pearson over the vocabulary, and W_U Frobenius figures.
 * Correlations are computed for many features at once in tfjs (centred reductions / matmuls).
 */
import * as tf from '@tensorflow/tfjs';
import { sampleIndices } from './sampling';
import { Moments, columnSums, combineMoments, nanMean, countNaN, takeScalar, tileColumns, tileRows } from './stats';
import { LOG_EPSILON } from './saeMetrics';

/** Published thresholds (all on log10(density + 1e-10)). */
export const FAMILY_DEFAULTS = {
  /** dead: log density <= -9 */
  deadThreshold: -9,
  /** exclusively dead in one model: <= -8 there and > -8 in the other */
  exclusiveDeadThreshold: -8,
  /** dense: log density in [-5, -1] (inclusive) in both models */
  denseRange: [-5, -1] as [number, number],
  /** sample caps per family */
  exclusivelyDeadCap: 100,
  denseCap: 1000,
};

export interface FamilyOptions {
  /** seed of the sampling; the three families use seed, seed + 1, seed + 2 */
  seed: number;
  deadThreshold?: number;
  exclusiveDeadThreshold?: number;
  denseRange?: [number, number];
  exclusivelyDeadCap?: number;
  denseCap?: number;
}

/** One family: how many features qualified and the sampled feature ids (ascending). */
export interface FeatureFamily {
  total: number;
  sampled: Int32Array;
}

export interface FeatureFamilies {
  nFeatures: number;
  /** features with log density <= deadThreshold */
  deadBase: number;
  deadFinetune: number;
  deadFractionBase: number;
  deadFractionFinetune: number;
  /** dead (<= -8) in base but alive (> -8) in the finetune */
  exclusivelyDeadBase: FeatureFamily;
  /** dead in the finetune but alive in base */
  exclusivelyDeadFinetune: FeatureFamily;
  /** log density within denseRange in both */
  dense: FeatureFamily;
  seed: number;
}

/** Splits features into the published families from two log10(density + 1e-10) vectors and samples each. */
export function featureFamilies(logBase: ArrayLike<number>, logFinetune: ArrayLike<number>, options: FamilyOptions): FeatureFamilies {
  const o = { ...FAMILY_DEFAULTS, ...options };
  if (logBase.length !== logFinetune.length) {
    throw new Error(`featureFamilies: base has ${logBase.length} log densities but the finetune has ${logFinetune.length}; use the same SAE for both`);
  }
  const n = logBase.length;
  const exBase: number[] = [];
  const exFt: number[] = [];
  const dense: number[] = [];
  let deadBase = 0;
  let deadFt = 0;
  const [lo, hi] = o.denseRange;
  const t = o.exclusiveDeadThreshold;
  for (let i = 0; i < n; i++) {
    const b = logBase[i];
    const f = logFinetune[i];
    if (b <= o.deadThreshold) deadBase++;
    if (f <= o.deadThreshold) deadFt++;
    if (b <= t && f > t) exBase.push(i);
    if (f <= t && b > t) exFt.push(i);
    if (b >= lo && b <= hi && f >= lo && f <= hi) dense.push(i);
  }
  return {
    nFeatures: n,
    deadBase,
    deadFinetune: deadFt,
    deadFractionBase: deadBase / n,
    deadFractionFinetune: deadFt / n,
    exclusivelyDeadBase: { total: exBase.length, sampled: sampleIndices(exBase, o.exclusivelyDeadCap, o.seed) },
    exclusivelyDeadFinetune: { total: exFt.length, sampled: sampleIndices(exFt, o.exclusivelyDeadCap, o.seed + 1) },
    dense: { total: dense.length, sampled: sampleIndices(dense, o.denseCap, o.seed + 2) },
    seed: o.seed,
  };
}

/** Columns `ids` of feature activations [..., dSae] as [tokens, ids.length] (the caller disposes it). */
export function selectFeatures(featureActs: tf.Tensor, ids: ArrayLike<number>): tf.Tensor2D {
  const d = featureActs.shape[featureActs.rank - 1];
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < d)) throw new Error(`selectFeatures: feature id ${ids[i]} is outside [0, ${d})`);
  }
  return tf.tidy(() => tf.gather(featureActs.reshape([-1, d]), tf.tensor1d(Int32Array.from(ids), 'int32'), 1) as tf.Tensor2D);
}

/** Serialised state of a ColumnPearsonAccumulator. */
export interface ColumnPearsonState {
  nFeatures: number;
  n: number;
  sumX: number[];
  sumY: number[];
  m2X: number[];
  m2Y: number[];
  cXY: number[];
  firstX: (number | null)[];
  firstY: (number | null)[];
  constX: number[];
  constY: number[];
}

/**
 * Pearson correlation of paired columns x[:, j], y[:, j] over rows (tokens), streamed batch by batch.
 * Each batch's column sums and centred sums of squares / products are ones-vector matmuls in tfjs; batches
 * and shards combine exactly (Chan et al.) in float64. As np.corrcoef: a column constant in x or y gives NaN
 * (detected exactly: every row equals the column's first value, which a float32 centred sum cannot tell);
 * r is clipped to [-1, 1].
 */
export class ColumnPearsonAccumulator {
  n = 0;
  readonly sumX: Float64Array;
  readonly sumY: Float64Array;
  readonly m2X: Float64Array;
  readonly m2Y: Float64Array;
  readonly cXY: Float64Array;
  /** each column's first value and whether every row so far equals it (1) or not (0) */
  readonly firstX: Float64Array;
  readonly firstY: Float64Array;
  readonly constX: Uint8Array;
  readonly constY: Uint8Array;

  constructor(readonly nFeatures: number) {
    const z = () => new Float64Array(nFeatures);
    this.sumX = z();
    this.sumY = z();
    this.m2X = z();
    this.m2Y = z();
    this.cXY = z();
    this.firstX = z();
    this.firstY = z();
    this.constX = new Uint8Array(nFeatures).fill(1);
    this.constY = new Uint8Array(nFeatures).fill(1);
  }

  /** Adds paired rows x, y [rows, nFeatures] (not disposed). */
  add(x: tf.Tensor2D, y: tf.Tensor2D): void {
    if (x.shape.join() !== y.shape.join() || x.rank !== 2 || x.shape[1] !== this.nFeatures) {
      throw new Error(`ColumnPearsonAccumulator: expected x and y of shape [rows, ${this.nFeatures}], got [${x.shape}] and [${y.shape}]`);
    }
    const rows = x.shape[0];
    if (rows === 0) return;
    const F = this.nFeatures;
    const parts = tf.tidy(() => {
      const xf = x.toFloat();
      const yf = y.toFloat();
      const sx = columnSums(xf);
      const sy = columnSums(yf);
      // same-shape operands throughout (outer products instead of broadcasting: see tileRows)
      const dx = xf.sub(tileRows(sx.div(rows), rows));
      const dy = yf.sub(tileRows(sy.div(rows), rows));
      const x0 = xf.slice([0, 0], [1, F]);
      const y0 = yf.slice([0, 0], [1, F]);
      // rows equal to the batch's first row, per column (NaN never equals itself, so NaN columns are not constant)
      const eqX = columnSums(xf.equal(tileRows(x0, rows)).toFloat());
      const eqY = columnSums(yf.equal(tileRows(y0, rows)).toFloat());
      return [sx, sy, columnSums(dx.square()), columnSums(dy.square()), columnSums(dx.mul(dy)), x0, y0, eqX, eqY];
    });
    const [sx, sy, m2x, m2y, cxy, x0, y0, eqX, eqY] = parts.map((t) => t.dataSync());
    tf.dispose(parts);
    const bConstX = Uint8Array.from(eqX, (c) => (c === rows ? 1 : 0));
    const bConstY = Uint8Array.from(eqY, (c) => (c === rows ? 1 : 0));
    this.combine(rows, sx, sy, m2x, m2y, cxy, x0, y0, bConstX, bConstY);
  }

  private combine(
    nB: number, sx: ArrayLike<number>, sy: ArrayLike<number>, m2x: ArrayLike<number>, m2y: ArrayLike<number>, cxy: ArrayLike<number>,
    firstX: ArrayLike<number>, firstY: ArrayLike<number>, constX: ArrayLike<number>, constY: ArrayLike<number>,
  ): void {
    const nA = this.n;
    const n = nA + nB;
    for (let j = 0; j < this.nFeatures; j++) {
      if (nA > 0) {
        const dX = sx[j] / nB - this.sumX[j] / nA;
        const dY = sy[j] / nB - this.sumY[j] / nA;
        this.cXY[j] += cxy[j] + (dX * dY * nA * nB) / n;
        this.constX[j] = this.constX[j] && constX[j] && this.firstX[j] === firstX[j] ? 1 : 0;
        this.constY[j] = this.constY[j] && constY[j] && this.firstY[j] === firstY[j] ? 1 : 0;
      } else {
        this.cXY[j] = cxy[j];
        this.firstX[j] = firstX[j];
        this.firstY[j] = firstY[j];
        this.constX[j] = constX[j];
        this.constY[j] = constY[j];
      }
      const mx: Moments = combineMoments({ n: nA, sum: this.sumX[j], m2: this.m2X[j] }, { n: nB, sum: sx[j], m2: m2x[j] });
      const my: Moments = combineMoments({ n: nA, sum: this.sumY[j], m2: this.m2Y[j] }, { n: nB, sum: sy[j], m2: m2y[j] });
      this.sumX[j] = mx.sum;
      this.m2X[j] = mx.m2;
      this.sumY[j] = my.sum;
      this.m2Y[j] = my.m2;
    }
    this.n = n;
  }

  merge(other: ColumnPearsonAccumulator): this {
    if (other.nFeatures !== this.nFeatures) throw new Error(`ColumnPearsonAccumulator.merge: ${other.nFeatures} features != ${this.nFeatures}`);
    if (other.n === 0) return this;
    this.combine(other.n, other.sumX, other.sumY, other.m2X, other.m2Y, other.cXY, other.firstX, other.firstY, other.constX, other.constY);
    return this;
  }

  /** Pearson r per column, NaN where a column is constant (or no rows were added). */
  correlations(): Float64Array {
    const r = new Float64Array(this.nFeatures);
    for (let j = 0; j < this.nFeatures; j++) {
      const constant = this.n === 0 || this.constX[j] === 1 || this.constY[j] === 1;
      r[j] = constant ? NaN : Math.max(-1, Math.min(1, this.cXY[j] / Math.sqrt(this.m2X[j] * this.m2Y[j])));
    }
    return r;
  }

  toJSON(): ColumnPearsonState {
    const a = (v: ArrayLike<number>) => Array.from(v);
    return {
      nFeatures: this.nFeatures, n: this.n, sumX: a(this.sumX), sumY: a(this.sumY), m2X: a(this.m2X), m2Y: a(this.m2Y), cXY: a(this.cXY),
      firstX: a(this.firstX), firstY: a(this.firstY), constX: a(this.constX), constY: a(this.constY),
    };
  }

  static fromJSON(s: ColumnPearsonState): ColumnPearsonAccumulator {
    const c = new ColumnPearsonAccumulator(s.nFeatures);
    c.n = s.n;
    c.sumX.set(s.sumX);
    c.sumY.set(s.sumY);
    c.m2X.set(s.m2X);
    c.m2Y.set(s.m2Y);
    c.cXY.set(s.cXY);
    c.firstX.set(s.firstX.map((v) => v ?? NaN)); // JSON writes NaN as null
    c.firstY.set(s.firstY.map((v) => v ?? NaN));
    c.constX.set(s.constX);
    c.constY.set(s.constY);
    return c;
  }
}

/** Pearson r of paired columns of x and y [rows, features] in one pass (np.corrcoef per column). */
export function columnPearson(x: tf.Tensor2D, y: tf.Tensor2D): Float64Array {
  const acc = new ColumnPearsonAccumulator(x.shape[1]);
  acc.add(x, y);
  return acc.correlations();
}

/**
 * Streams the per-feature activation error mean_t |log10(f + 1e-10) - log10(f' + 1e-10)| (used for the dead
 * families, whose activations are mostly zero).
 */
export class ActivationErrorAccumulator {
  readonly sums: Float64Array;
  n = 0;

  constructor(readonly nFeatures: number) {
    this.sums = new Float64Array(nFeatures);
  }

  /** Adds paired activations [rows, nFeatures] (not disposed). */
  add(base: tf.Tensor2D, finetune: tf.Tensor2D): void {
    if (base.shape.join() !== finetune.shape.join() || base.shape[1] !== this.nFeatures) {
      throw new Error(`ActivationErrorAccumulator: expected two [rows, ${this.nFeatures}] tensors, got [${base.shape}] and [${finetune.shape}]`);
    }
    const s = tf.tidy(() => {
      const lb = base.toFloat().add(LOG_EPSILON).log();
      const lf = finetune.toFloat().add(LOG_EPSILON).log();
      return columnSums(lb.sub(lf).abs().div(Math.LN10));
    });
    const v = s.dataSync();
    for (let j = 0; j < this.nFeatures; j++) this.sums[j] += v[j];
    s.dispose();
    this.n += base.shape[0];
  }

  merge(other: ActivationErrorAccumulator): this {
    if (other.nFeatures !== this.nFeatures) throw new Error(`ActivationErrorAccumulator.merge: ${other.nFeatures} features != ${this.nFeatures}`);
    for (let j = 0; j < this.nFeatures; j++) this.sums[j] += other.sums[j];
    this.n += other.n;
    return this;
  }

  /** The mean error per feature. */
  errors(): Float64Array {
    return Float64Array.from(this.sums, (s) => (this.n > 0 ? s / this.n : NaN));
  }

  toJSON(): { nFeatures: number; n: number; sums: number[] } {
    return { nFeatures: this.nFeatures, n: this.n, sums: Array.from(this.sums) };
  }

  static fromJSON(s: { nFeatures: number; n: number; sums: number[] }): ActivationErrorAccumulator {
    const a = new ActivationErrorAccumulator(s.nFeatures);
    a.n = s.n;
    a.sums.set(s.sums);
    return a;
  }
}

/** Logit vectors W_dec[ids] @ W_U: [ids.length, dVocab] from W_dec [dSae, dModel] and W_U [dModel, dVocab] (caller disposes). */
export function logitVectors(wDec: tf.Tensor2D, wU: tf.Tensor2D, ids?: ArrayLike<number>): tf.Tensor2D {
  if (wDec.shape[1] !== wU.shape[0]) throw new Error(`logitVectors: W_dec is [${wDec.shape}] but W_U is [${wU.shape}]; W_dec's d_model must equal W_U's rows`);
  return tf.tidy(() => {
    const rows = ids ? tf.gather(wDec, tf.tensor1d(Int32Array.from(ids), 'int32')) : wDec;
    return tf.matMul(rows.toFloat(), wU.toFloat()) as tf.Tensor2D;
  });
}

/**
 * Pearson r of paired rows of a and b [rows, cols] (np.corrcoef per row pair; NaN for a constant row),
 * with reductions along the last axis only (no transposes).
 */
export function rowPearson(a: tf.Tensor2D, b: tf.Tensor2D): Float64Array {
  if (a.shape.join() !== b.shape.join() || a.rank !== 2) throw new Error(`rowPearson: expected two [rows, cols] tensors of one shape, got [${a.shape}] and [${b.shape}]`);
  const parts = tf.tidy(() => {
    const af = a.toFloat();
    const bf = b.toFloat();
    const cols = a.shape[1];
    const da = af.sub(tileColumns(af.mean(1), cols)); // outer products instead of broadcasting: see tileRows
    const db = bf.sub(tileColumns(bf.mean(1), cols));
    const constant = tf.logicalOr(af.max(1).equal(af.min(1)), bf.max(1).equal(bf.min(1)));
    return [da.square().sum(1), db.square().sum(1), da.mul(db).sum(1), constant];
  });
  const [saa, sbb, sab, constant] = parts.map((t) => t.dataSync());
  tf.dispose(parts);
  return Float64Array.from(sab, (c, i) => (constant[i] ? NaN : Math.max(-1, Math.min(1, c / Math.sqrt(saa[i] * sbb[i])))));
}

/**
 * Per-feature logit similarity: Pearson over the vocabulary of W_dec[i] @ W_U (base) and W_dec[i] @ W_U'
 * (finetune), for the features `ids`, `chunk` features at a time to bound memory ([chunk, dVocab] floats).
 */
export function logitSimilarity(wDec: tf.Tensor2D, wUBase: tf.Tensor2D, wUFinetune: tf.Tensor2D, ids: ArrayLike<number>, chunk = 64): Float64Array {
  if (wUBase.shape.join() !== wUFinetune.shape.join()) {
    throw new Error(`logitSimilarity: base W_U [${wUBase.shape}] and finetune W_U [${wUFinetune.shape}] differ; drop added vocabulary rows first (as published for MetaMath's PAD token)`);
  }
  const out = new Float64Array(ids.length);
  for (let start = 0; start < ids.length; start += chunk) {
    const part = Array.from(ids).slice(start, start + chunk);
    const lb = logitVectors(wDec, wUBase, part);
    const lf = logitVectors(wDec, wUFinetune, part);
    try {
      out.set(rowPearson(lb, lf), start);
    } finally {
      tf.dispose([lb, lf]);
    }
  }
  return out;
}

/** |W_U|_F / |W_U'|_F and |W_U - W_U'|_F, summed over row blocks of `rowChunk` rows. */
export function unembedComparison(wUBase: tf.Tensor2D, wUFinetune: tf.Tensor2D, rowChunk = 256): { frobeniusRatio: number; frobeniusDiff: number } {
  if (wUBase.shape.join() !== wUFinetune.shape.join()) throw new Error(`unembedComparison: W_U shapes differ ([${wUBase.shape}] vs [${wUFinetune.shape}])`);
  const [rows, cols] = wUBase.shape;
  let sb = 0;
  let sf = 0;
  let sd = 0;
  for (let r = 0; r < rows; r += rowChunk) {
    const h = Math.min(rowChunk, rows - r);
    const [b, f, d] = tf.tidy(() => {
      const B = wUBase.slice([r, 0], [h, cols]).toFloat();
      const F = wUFinetune.slice([r, 0], [h, cols]).toFloat();
      return [B.square().sum(), F.square().sum(), B.sub(F).square().sum()];
    }).map(takeScalar);
    sb += b;
    sf += f;
    sd += d;
  }
  return { frobeniusRatio: Math.sqrt(sb) / Math.sqrt(sf), frobeniusDiff: Math.sqrt(sd) };
}

/** Summary of per-feature scores: the NaN-skipping mean and how many were NaN (skipped). */
export interface ScoreSummary {
  mean: number;
  count: number;
  nanCount: number;
  /** share of non-NaN scores above `threshold` */
  fractionAbove: number;
  threshold: number;
}

/** NaN-skipping mean of per-feature scores, with the share above `threshold` (default 0.8). */
export function summarizeScores(scores: ArrayLike<number>, threshold = 0.8): ScoreSummary {
  const nanCount = countNaN(scores);
  let above = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] > threshold) above++;
  const valid = scores.length - nanCount;
  return { mean: nanMean(scores), count: scores.length, nanCount, fractionAbove: valid > 0 ? above / valid : NaN, threshold };
}
