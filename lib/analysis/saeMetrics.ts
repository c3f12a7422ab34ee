/**
 * SAE evaluation metrics (seed 001 stage 4), each a streaming accumulator whose shards merge exactly:
 * - L0: mean over tokens of #(f > 1e-8) (every token, BOS included, no outlier filter);
 * - feature density: per feature, the fraction of tokens with f > 1e-10; log density log10(d + 1e-10);
 *   dead fraction = share of features with density 0;
 * - reconstruction quality on non-outlier tokens:
 *     R2 as published (torcheval R2Score on flattened tensors): 1 - SSE / sum (x - mean_all)^2, one scalar mean;
 *     explained variance as SAELens intends: 1 - E_t|x - x_hat|^2 / sum_d Var_t(x_d) (population variance);
 * - CE losses (clean, spliced, optionally zero-ablated) as token-weighted means, with inf/NaN batches counted and
 *   reported; CE loss score (CE_zero - CE_sae) / (CE_zero - CE_orig);
 * - the feature-activation histogram of log10(|a| + 1e-10) (100 bins) with its zero count.
 */
import * as tf from '@tensorflow/tfjs';
import { Histogram, StreamingHistogram, StreamingHistogramState, histogram } from './histogram';
import { Moments, columnSums, combineMoments, takeFloat64, takeScalar, tileColumns, tileRows } from './stats';

/** A feature counts as active for L0 when f > L0_THRESHOLD. */
export const L0_THRESHOLD = 1e-8;
/** A feature counts as firing for density when f > DENSITY_THRESHOLD. */
export const DENSITY_THRESHOLD = 1e-10;
/** Epsilon of every log10 in the pipeline: log10(v + LOG_EPSILON). */
export const LOG_EPSILON = 1e-10;

function rows(t: tf.Tensor, what: string): number {
  if (t.rank < 1) throw new Error(`${what}: expected [..., features], got a scalar`);
  return t.size / t.shape[t.rank - 1];
}

/** Streams L0 = mean over tokens of the number of features with f > 1e-8. */
export class L0Accumulator {
  activeSum = 0;
  tokens = 0;

  /** Adds feature activations [..., dSae] (not disposed). */
  add(featureActs: tf.Tensor): void {
    const n = rows(featureActs, 'L0Accumulator');
    this.activeSum += takeScalar(tf.tidy(() => featureActs.greater(L0_THRESHOLD).toFloat().sum()));
    this.tokens += n;
  }

  merge(other: L0Accumulator): this {
    this.activeSum += other.activeSum;
    this.tokens += other.tokens;
    return this;
  }

  l0(): number {
    return this.tokens > 0 ? this.activeSum / this.tokens : NaN;
  }

  toJSON(): { activeSum: number; tokens: number } {
    return { activeSum: this.activeSum, tokens: this.tokens };
  }

  static fromJSON(s: { activeSum: number; tokens: number }): L0Accumulator {
    return Object.assign(new L0Accumulator(), s);
  }
}

/** log10(d + 1e-10) elementwise (tfjs, float32). */
export function logDensity(densities: ArrayLike<number>): Float32Array {
  return tf.tidy(() => tf.tensor1d(Float32Array.from(densities)).add(LOG_EPSILON).log().div(Math.LN10)).dataSync() as Float32Array;
}

/** Streams per-feature firing counts (f > 1e-10) over tokens. */
export class FeatureDensityAccumulator {
  readonly counts: Float64Array;
  tokens = 0;

  constructor(readonly dSae: number) {
    this.counts = new Float64Array(dSae);
  }

  /** Adds feature activations [..., dSae] (not disposed). */
  add(featureActs: tf.Tensor): void {
    if (featureActs.shape[featureActs.rank - 1] !== this.dSae) {
      throw new Error(`FeatureDensityAccumulator: activations have ${featureActs.shape[featureActs.rank - 1]} features, expected d_sae = ${this.dSae}`);
    }
    const n = rows(featureActs, 'FeatureDensityAccumulator');
    const c = takeFloat64(tf.tidy(() => columnSums(featureActs.reshape([n, this.dSae]).greater(DENSITY_THRESHOLD).toFloat())));
    for (let i = 0; i < this.dSae; i++) this.counts[i] += c[i];
    this.tokens += n;
  }

  merge(other: FeatureDensityAccumulator): this {
    if (other.dSae !== this.dSae) throw new Error(`FeatureDensityAccumulator.merge: d_sae ${other.dSae} != ${this.dSae}`);
    for (let i = 0; i < this.dSae; i++) this.counts[i] += other.counts[i];
    this.tokens += other.tokens;
    return this;
  }

  /** Fraction of tokens each feature fired on, [dSae]. */
  densities(): Float32Array {
    if (this.tokens === 0) throw new Error('FeatureDensityAccumulator: no tokens were added');
    return Float32Array.from(this.counts, (c) => c / this.tokens);
  }

  /** log10(density + 1e-10), [dSae]. */
  logDensities(): Float32Array {
    return logDensity(this.densities());
  }

  /** Share of features that never fired (density 0). */
  deadFraction(): number {
    let dead = 0;
    for (const c of this.counts) if (c === 0) dead++;
    return dead / this.dSae;
  }

  toJSON(): { dSae: number; counts: number[]; tokens: number } {
    return { dSae: this.dSae, counts: Array.from(this.counts), tokens: this.tokens };
  }

  static fromJSON(s: { dSae: number; counts: number[]; tokens: number }): FeatureDensityAccumulator {
    const a = new FeatureDensityAccumulator(s.dSae);
    a.counts.set(s.counts);
    a.tokens = s.tokens;
    return a;
  }
}

/** Reconstruction quality figures. */
export interface ReconstructionSummary {
  /** published R2: 1 - SSE / sum (x - mean of all elements)^2 */
  r2: number;
  /** SAELens-intended: 1 - E_t|x - x_hat|^2 / sum_d Var_t(x_d) */
  explainedVariance: number;
  /** mean squared error per element */
  mse: number;
  /** tokens used (non-outlier) */
  tokens: number;
  /** kept tokens left out because x or x_hat had NaN or inf (reported, never averaged) */
  nonFiniteTokens: number;
}

/** Serialised state of a ReconstructionAccumulator. */
export interface ReconstructionState {
  dModel: number;
  sse: number;
  all: Moments;
  perDim: { n: number; sum: number[]; m2: number[] };
  /** kept tokens left out for NaN/inf (absent in states written before it was counted) */
  nonFiniteTokens?: number;
}

/**
 * Streams what R2 and explained variance need over non-outlier tokens: the squared error, the moments of
 * all elements (one scalar mean) and per-dimension moments. Per batch the moments are taken around the
 * batch's own mean in tfjs; batches and shards then combine exactly (Chan et al.) in float64.
 */
export class ReconstructionAccumulator {
  sse = 0;
  all: Moments = { n: 0, sum: 0, m2: 0 };
  perDimN = 0;
  /** kept tokens left out because x or x_hat held NaN or inf */
  nonFiniteTokens = 0;
  readonly perDimSum: Float64Array;
  readonly perDimM2: Float64Array;

  constructor(readonly dModel: number) {
    this.perDimSum = new Float64Array(dModel);
    this.perDimM2 = new Float64Array(dModel);
  }

  /**
   * Adds activations x and reconstructions xHat [..., dModel] (not disposed). `keep` [...] (bool or 0/1)
   * selects the tokens to use, e.g. the negation of the outlier mask; default every token. Kept tokens
   * whose x or x_hat holds NaN or inf are left out and counted in `nonFiniteTokens` (`finiteRowsOnly`:
   * the caller already removed them).
   */
  add(x: tf.Tensor, xHat: tf.Tensor, keep?: tf.Tensor, finiteRowsOnly = false): void {
    if (x.shape.join() !== xHat.shape.join()) throw new Error(`ReconstructionAccumulator: x [${x.shape}] and x_hat [${xHat.shape}] differ in shape`);
    const d = x.shape[x.rank - 1];
    if (d !== this.dModel) throw new Error(`ReconstructionAccumulator: activations have d = ${d}, expected ${this.dModel}`);
    const n = rows(x, 'ReconstructionAccumulator');
    if (keep && keep.size !== n) throw new Error(`ReconstructionAccumulator: keep mask has ${keep.size} entries for ${n} tokens`);
    const parts = tf.tidy(() => {
      // the keep mask spread over d by an outer product (broadcasting is slow on some backends)
      const wf = keep ? tileColumns(keep.reshape([n]), d) : tf.ones([n, d]);
      const w = wf.greater(0.5);
      const zero = tf.zeros([n, d]);
      // where() rather than multiplying by the mask: outlier rows may hold inf, and inf * 0 = NaN.
      const X = tf.where(w, x.reshape([n, d]).toFloat(), zero);
      const Xh = tf.where(w, xHat.reshape([n, d]).toFloat(), zero);
      const nTok = keep ? keep.toFloat().sum() : tf.scalar(n);
      const sumD = columnSums(X);
      const meanD = sumD.div(nTok.maximum(1));
      const m2D = columnSums(X.sub(tileRows(meanD, n)).mul(wf).square());
      const total = sumD.sum();
      const meanAll = total.div(nTok.mul(d).maximum(1));
      const m2All = X.sub(meanAll).mul(wf).square().sum();
      const sse = X.sub(Xh).square().sum();
      return [nTok, sumD, m2D, total, m2All, sse];
    });
    const [nTok, total, m2All, sse] = [parts[0], parts[3], parts[4], parts[5]].map((t) => t.dataSync()[0]);
    const sumD = parts[1].dataSync();
    const m2D = parts[2].dataSync();
    tf.dispose(parts);
    if (!finiteRowsOnly && (!Number.isFinite(sse + total + m2All) || !sumD.every(Number.isFinite) || !m2D.every(Number.isFinite))) {
      // some kept token has NaN or inf in x or x_hat: leave those tokens out of every sum, and count them
      const finiteKeep = tf.tidy(() => {
        const rowFinite = (t: tf.Tensor) => tf.all(tf.isFinite(t.reshape([n, d]).toFloat()), 1);
        const ok = tf.logicalAnd(rowFinite(x), rowFinite(xHat));
        return keep ? tf.logicalAnd(keep.reshape([n]).toFloat().greater(0.5), ok) : ok;
      });
      const kept = keep ? tf.tidy(() => keep.toFloat().sum().dataSync()[0]) : n;
      const left = tf.tidy(() => finiteKeep.toFloat().sum().dataSync()[0]);
      this.nonFiniteTokens += kept - left;
      try {
        this.add(x, xHat, finiteKeep, true);
      } finally {
        finiteKeep.dispose();
      }
      return;
    }
    if (nTok === 0) return;
    this.sse += sse;
    this.all = combineMoments(this.all, { n: nTok * d, sum: total, m2: m2All });
    this.combinePerDim(nTok, sumD, m2D);
  }

  private combinePerDim(nB: number, sumB: ArrayLike<number>, m2B: ArrayLike<number>): void {
    const nA = this.perDimN;
    for (let j = 0; j < this.dModel; j++) {
      const c = combineMoments({ n: nA, sum: this.perDimSum[j], m2: this.perDimM2[j] }, { n: nB, sum: sumB[j], m2: m2B[j] });
      this.perDimSum[j] = c.sum;
      this.perDimM2[j] = c.m2;
    }
    this.perDimN = nA + nB;
  }

  merge(other: ReconstructionAccumulator): this {
    if (other.dModel !== this.dModel) throw new Error(`ReconstructionAccumulator.merge: d ${other.dModel} != ${this.dModel}`);
    this.nonFiniteTokens += other.nonFiniteTokens;
    if (other.perDimN === 0) return this;
    this.sse += other.sse;
    this.all = combineMoments(this.all, other.all);
    this.combinePerDim(other.perDimN, other.perDimSum, other.perDimM2);
    return this;
  }

  summary(): ReconstructionSummary {
    let sumVar = 0;
    for (let j = 0; j < this.dModel; j++) sumVar += this.perDimM2[j];
    return {
      r2: 1 - this.sse / this.all.m2,
      explainedVariance: 1 - this.sse / sumVar,
      mse: this.all.n > 0 ? this.sse / this.all.n : NaN,
      tokens: this.perDimN,
      nonFiniteTokens: this.nonFiniteTokens,
    };
  }

  toJSON(): ReconstructionState {
    return { dModel: this.dModel, sse: this.sse, all: { ...this.all }, perDim: { n: this.perDimN, sum: Array.from(this.perDimSum), m2: Array.from(this.perDimM2) }, nonFiniteTokens: this.nonFiniteTokens };
  }

  static fromJSON(s: ReconstructionState): ReconstructionAccumulator {
    const a = new ReconstructionAccumulator(s.dModel);
    a.sse = s.sse;
    a.all = { ...s.all };
    a.perDimN = s.perDim.n;
    a.perDimSum.set(s.perDim.sum);
    a.perDimM2.set(s.perDim.m2);
    a.nonFiniteTokens = s.nonFiniteTokens ?? 0;
    return a;
  }
}

/** CE loss score (fraction of the loss gap recovered): (CE_zero - CE_sae) / (CE_zero - CE_orig). */
export function ceLossScore(ceOrig: number, ceSae: number, ceZero: number): number {
  return (ceZero - ceSae) / (ceZero - ceOrig);
}

/** One batch's mean CE losses over its `tokens` next-token predictions. */
export interface CeBatch {
  clean: number;
  spliced: number;
  /** zero-ablated loss, for the CE loss score */
  zero?: number;
  /** number of next-token predictions the means are over */
  tokens: number;
  /** an id to report the batch by (default: its running index in this accumulator) */
  batch?: number;
}

/** A batch left out of the means because a loss was inf or NaN (values as strings, e.g. "Infinity"). */
export interface NonFiniteBatch {
  batch: number;
  clean: string;
  spliced: string;
  zero?: string;
}

/** CE results. */
export interface CeSummary {
  cleanLoss: number;
  splicedLoss: number;
  /** spliced - clean */
  delta: number;
  /** present when every finite batch had a zero-ablated loss */
  zeroLoss?: number;
  ceLossScore?: number;
  batches: number;
  tokens: number;
  /** batches dropped from the means because a loss was inf/NaN (counted, never silently) */
  nonFiniteBatches: number;
  nonFinite: NonFiniteBatch[];
}

/** Serialised state of a CeAccumulator. */
export interface CeState {
  cleanSum: number;
  splicedSum: number;
  zeroSum: number;
  zeroTokens: number;
  tokens: number;
  batches: number;
  seen: number;
  nonFinite: NonFiniteBatch[];
}

/**
 * Streams clean / spliced (/ zero-ablated) CE as token-weighted means (TransformerLens's loss: the mean
 * over every next-token prediction, not an unweighted mean of batch means). A batch whose losses are not
 * all finite is left out of every mean and listed in `nonFinite`.
 */
export class CeAccumulator {
  cleanSum = 0;
  splicedSum = 0;
  zeroSum = 0;
  zeroTokens = 0;
  tokens = 0;
  batches = 0;
  /** batches offered, finite or not (the default batch id) */
  seen = 0;
  nonFinite: NonFiniteBatch[] = [];

  add(b: CeBatch): void {
    const id = b.batch ?? this.seen;
    this.seen++;
    if (!(b.tokens > 0)) throw new Error(`CeAccumulator: batch ${id} has tokens = ${b.tokens}; pass the number of next-token predictions`);
    const finite = Number.isFinite(b.clean) && Number.isFinite(b.spliced) && (b.zero === undefined || Number.isFinite(b.zero));
    if (!finite) {
      const rec: NonFiniteBatch = { batch: id, clean: String(b.clean), spliced: String(b.spliced) };
      if (b.zero !== undefined) rec.zero = String(b.zero);
      this.nonFinite.push(rec);
      return;
    }
    this.cleanSum += b.clean * b.tokens;
    this.splicedSum += b.spliced * b.tokens;
    if (b.zero !== undefined) {
      this.zeroSum += b.zero * b.tokens;
      this.zeroTokens += b.tokens;
    }
    this.tokens += b.tokens;
    this.batches++;
  }

  /** Adds a batch from per-token losses (any shape, same shape for all; not disposed). */
  addTokenLosses(clean: tf.Tensor, spliced: tf.Tensor, zero?: tf.Tensor, batch?: number): void {
    const mean = (t: tf.Tensor) => takeScalar(tf.tidy(() => t.toFloat().mean()));
    if (clean.size !== spliced.size || (zero && zero.size !== clean.size)) {
      throw new Error(`CeAccumulator.addTokenLosses: loss tensors differ in size (${clean.size}, ${spliced.size}${zero ? ', ' + zero.size : ''})`);
    }
    this.add({ clean: mean(clean), spliced: mean(spliced), zero: zero ? mean(zero) : undefined, tokens: clean.size, batch });
  }

  merge(other: CeAccumulator): this {
    this.cleanSum += other.cleanSum;
    this.splicedSum += other.splicedSum;
    this.zeroSum += other.zeroSum;
    this.zeroTokens += other.zeroTokens;
    this.tokens += other.tokens;
    this.batches += other.batches;
    this.seen += other.seen;
    this.nonFinite.push(...other.nonFinite.map((r) => ({ ...r })));
    return this;
  }

  summary(): CeSummary {
    const cleanLoss = this.tokens > 0 ? this.cleanSum / this.tokens : NaN;
    const splicedLoss = this.tokens > 0 ? this.splicedSum / this.tokens : NaN;
    const out: CeSummary = {
      cleanLoss,
      splicedLoss,
      delta: splicedLoss - cleanLoss,
      batches: this.batches,
      tokens: this.tokens,
      nonFiniteBatches: this.nonFinite.length,
      nonFinite: this.nonFinite.map((r) => ({ ...r })),
    };
    if (this.tokens > 0 && this.zeroTokens === this.tokens) {
      out.zeroLoss = this.zeroSum / this.tokens;
      out.ceLossScore = ceLossScore(cleanLoss, splicedLoss, out.zeroLoss);
    }
    return out;
  }

  toJSON(): CeState {
    return { cleanSum: this.cleanSum, splicedSum: this.splicedSum, zeroSum: this.zeroSum, zeroTokens: this.zeroTokens, tokens: this.tokens, batches: this.batches, seen: this.seen, nonFinite: this.nonFinite.map((r) => ({ ...r })) };
  }

  static fromJSON(s: CeState): CeAccumulator {
    return Object.assign(new CeAccumulator(), { ...s, nonFinite: s.nonFinite.map((r) => ({ ...r })) });
  }
}

/** log10(|a| + 1e-10) of a tensor (the caller disposes the result). */
export function logAbs(acts: tf.Tensor): tf.Tensor {
  return tf.tidy(() => acts.toFloat().abs().add(LOG_EPSILON).log().div(Math.LN10));
}

/** A histogram of log10(|a| + 1e-10), with how many activations were exactly zero. */
export interface LogActivationHistogram extends Histogram {
  /** activations exactly 0 (they all land in the first bin, at log10(1e-10) = -10) */
  zeroCount: number;
  /** count of the first bin (what the published plot annotates) */
  firstBinCount: number;
  total: number;
}

function countZeros(acts: tf.Tensor): number {
  return takeScalar(tf.tidy(() => acts.equal(0).toFloat().sum()));
}

/** The published feature-activation histogram: log10(|a| + 1e-10) in `bins` bins over [min, max]. */
export function logActivationHistogram(acts: tf.Tensor, bins = 100): LogActivationHistogram {
  const l = logAbs(acts);
  try {
    const h = histogram(l, { bins });
    return { ...h, zeroCount: countZeros(acts), firstBinCount: h.counts[0], total: acts.size };
  } finally {
    l.dispose();
  }
}

/**
 * The same histogram streamed over batches with a fixed range of log values (e.g. [-10, log10(max|a|)]
 * from a first pass, or a chosen [-10, 3]); shards with the same range merge by adding counts.
 */
export class LogActivationHistogramAccumulator {
  readonly hist: StreamingHistogram;
  zeroCount = 0;
  total = 0;

  constructor(range: [number, number], bins = 100) {
    this.hist = new StreamingHistogram(range, bins);
  }

  add(acts: tf.Tensor): void {
    const l = logAbs(acts);
    try {
      this.hist.add(l);
    } finally {
      l.dispose();
    }
    this.zeroCount += countZeros(acts);
    this.total += acts.size;
  }

  merge(other: LogActivationHistogramAccumulator): this {
    this.hist.merge(other.hist);
    this.zeroCount += other.zeroCount;
    this.total += other.total;
    return this;
  }

  result(): LogActivationHistogram {
    const h = this.hist.result();
    return { ...h, zeroCount: this.zeroCount, firstBinCount: h.counts[0], total: this.total };
  }

  toJSON(): { hist: StreamingHistogramState; zeroCount: number; total: number } {
    return { hist: this.hist.toJSON(), zeroCount: this.zeroCount, total: this.total };
  }

  static fromJSON(s: { hist: StreamingHistogramState; zeroCount: number; total: number }): LogActivationHistogramAccumulator {
    const edges = s.hist.edges;
    const a = new LogActivationHistogramAccumulator([edges[0], edges[edges.length - 1]], edges.length - 1);
    Object.assign(a, { hist: StreamingHistogram.fromJSON(s.hist), zeroCount: s.zeroCount, total: s.total });
    return a;
  }
}

/**
 * Explained variance in SAELens's per-token form: the mean over tokens t of
 * 1 - |x_t - x̂_t|^2 / |x_t - mean_t(x)|^2. x, xHat: [tokens, d].
 */
export function explainedVariancePerToken(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return tf.tidy(() => {
    const resid = tf.sum(tf.square(tf.sub(x, xHat)), -1);
    const total = tf.sum(tf.square(tf.sub(x, tf.mean(x, 0))), -1);
    return tf.mean(tf.sub(1, tf.div(resid, total))).dataSync()[0];
  });
}

/** Mean over tokens of the number of features above `threshold` (default 0). feats: [tokens, d_sae]. */
export function meanL0(feats: tf.Tensor2D, threshold = 0): number {
  return tf.tidy(() => tf.mean(tf.sum(tf.cast(tf.greater(feats, threshold), 'float32'), -1)).dataSync()[0]);
}
