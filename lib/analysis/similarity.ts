/**
 * Per-token similarity of two models' activations at the same hook on the same tokens (seed 001 stage 2):
 *   cosine[b, c]    = <a / max(|a|, 1e-12), a' / max(|a'|, 1e-12)>   (torch F.normalize, so a zero vector gives 0)
 *   euclidean[b, c] = |a - a'|
 * for activations a, a' of shape [batch, pos, dModel]; plus global, per-sequence and per-position means,
 * and a streaming accumulator whose shards merge exactly (sums and counts, never means of means).
 */
import * as tf from '@tensorflow/tfjs';
import { columnSums, takeFloat64 } from './stats';

/** F.normalize's epsilon: norms below it are clamped, so zero vectors normalise to zero. */
export const NORMALIZE_EPS = 1e-12;

function checkPair(base: tf.Tensor, finetune: tf.Tensor): void {
  if (base.rank !== 3) throw new Error(`similarity: base activations must be [batch, pos, dModel], got shape [${base.shape}]`);
  if (base.shape.join() !== finetune.shape.join()) {
    throw new Error(`similarity: base activations [${base.shape}] and finetune activations [${finetune.shape}] differ in shape; compute both on the same tokens at the same hook`);
  }
}

/** Per-token cosine similarity and euclidean distance as tensors [batch, pos] (the caller disposes them). */
export function tokenSimilarityTensors(base: tf.Tensor3D, finetune: tf.Tensor3D): { cosine: tf.Tensor2D; euclidean: tf.Tensor2D } {
  checkPair(base, finetune);
  return tf.tidy(() => {
    const a = base.toFloat();
    const b = finetune.toFloat();
    // <a/max(|a|,eps), b/max(|b|,eps)> = <a, b> / (max(|a|,eps) max(|b|,eps)): reduced first, no broadcasting
    const dot = a.mul(b).sum(-1);
    const na = a.norm('euclidean', -1).maximum(NORMALIZE_EPS);
    const nb = b.norm('euclidean', -1).maximum(NORMALIZE_EPS);
    const cosine = dot.div(na.mul(nb)) as tf.Tensor2D;
    const euclidean = a.sub(b).norm('euclidean', -1) as tf.Tensor2D;
    return { cosine, euclidean };
  });
}

/** Per-token similarities, row-major [batch, pos] in plain arrays. */
export interface TokenSimilarities {
  shape: [number, number];
  cosine: Float32Array;
  euclidean: Float32Array;
}

/** Per-token cosine similarity and euclidean distance of two [batch, pos, dModel] activation tensors. */
export function tokenSimilarities(base: tf.Tensor3D, finetune: tf.Tensor3D): TokenSimilarities {
  const { cosine, euclidean } = tokenSimilarityTensors(base, finetune);
  const out: TokenSimilarities = {
    shape: [base.shape[0], base.shape[1]],
    cosine: cosine.dataSync() as Float32Array,
    euclidean: euclidean.dataSync() as Float32Array,
  };
  cosine.dispose();
  euclidean.dispose();
  return out;
}

/** Global, per-sequence and per-position means of one per-token metric. */
export interface MetricSummary {
  /** mean over every token */
  mean: number;
  /** [batch]: mean over positions of each sequence */
  perSequence: Float64Array;
  /** [pos]: mean over sequences at each position */
  perPosition: Float64Array;
}

/** Means of a row-major [batch, pos] metric (plain-JS sums in float64). */
export function summarizeTokenMetric(values: ArrayLike<number>, shape: [number, number]): MetricSummary {
  const [n, ctx] = shape;
  if (values.length !== n * ctx) throw new Error(`summarizeTokenMetric: ${values.length} values do not fill shape [${n}, ${ctx}]`);
  const perSequence = new Float64Array(n);
  const perPosition = new Float64Array(ctx);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < ctx; c++) {
      const v = values[i * ctx + c];
      s += v;
      perPosition[c] += v;
    }
    perSequence[i] = s / ctx;
    total += s;
  }
  for (let c = 0; c < ctx; c++) perPosition[c] /= n;
  return { mean: total / (n * ctx), perSequence, perPosition };
}

/** Serialised state of a TokenMetricAccumulator. */
export interface TokenMetricState {
  ctx: number;
  sum: number;
  count: number;
  positionSums: number[];
  sequenceSums: number[];
  tokens: number[] | null;
}

/**
 * Streams one per-token metric ([batch, pos] per batch) into sums: the global sum and count, per-position
 * sums, per-sequence sums (in the order added) and, when `keepTokens`, every value (for heatmaps and
 * histograms). `merge` appends another shard's sequences after this one's.
 */
export class TokenMetricAccumulator {
  sum = 0;
  count = 0;
  readonly positionSums: Float64Array;
  sequenceSums: number[] = [];
  tokens: number[] | null;

  constructor(readonly ctx: number, keepTokens = true) {
    this.positionSums = new Float64Array(ctx);
    this.tokens = keepTokens ? [] : null;
  }

  /** Adds a batch of per-token values [batch, pos] (a tensor, which is not disposed, or row-major values). */
  add(values: tf.Tensor2D | ArrayLike<number>): void {
    let rows: Float64Array;
    let posSums: Float64Array;
    let flat: ArrayLike<number> | null = null;
    if (values instanceof tf.Tensor) {
      if (values.rank !== 2 || values.shape[1] !== this.ctx) throw new Error(`TokenMetricAccumulator: expected [batch, ${this.ctx}] values, got [${values.shape}]`);
      rows = takeFloat64(tf.tidy(() => values.toFloat().sum(1)));
      posSums = takeFloat64(tf.tidy(() => columnSums(values)));
      if (this.tokens) flat = values.dataSync();
    } else {
      if (values.length % this.ctx !== 0) throw new Error(`TokenMetricAccumulator: ${values.length} values are not whole rows of ${this.ctx} positions`);
      const n = values.length / this.ctx;
      rows = new Float64Array(n);
      posSums = new Float64Array(this.ctx);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < this.ctx; c++) {
          rows[i] += values[i * this.ctx + c];
          posSums[c] += values[i * this.ctx + c];
        }
      }
      flat = values;
    }
    for (let c = 0; c < this.ctx; c++) this.positionSums[c] += posSums[c];
    for (const r of rows) {
      this.sequenceSums.push(r);
      this.sum += r;
    }
    this.count += rows.length * this.ctx;
    if (this.tokens && flat) for (let i = 0; i < flat.length; i++) this.tokens.push(flat[i]);
  }

  merge(other: TokenMetricAccumulator): this {
    if (other.ctx !== this.ctx) throw new Error(`TokenMetricAccumulator.merge: context ${other.ctx} != ${this.ctx}`);
    this.sum += other.sum;
    this.count += other.count;
    for (let c = 0; c < this.ctx; c++) this.positionSums[c] += other.positionSums[c];
    this.sequenceSums.push(...other.sequenceSums);
    if (this.tokens) {
      if (!other.tokens) throw new Error('TokenMetricAccumulator.merge: this shard keeps token values but the other does not; use the same keepTokens in every shard');
      for (const v of other.tokens) this.tokens.push(v);
    }
    return this;
  }

  get sequences(): number {
    return this.sequenceSums.length;
  }

  summary(): MetricSummary {
    const n = this.sequences;
    return {
      mean: this.count > 0 ? this.sum / this.count : NaN,
      perSequence: Float64Array.from(this.sequenceSums, (s) => s / this.ctx),
      perPosition: Float64Array.from(this.positionSums, (s) => (n > 0 ? s / n : NaN)),
    };
  }

  /** Every value added, row-major [sequences, ctx] (only when keepTokens). */
  tokenValues(): Float32Array {
    if (!this.tokens) throw new Error('TokenMetricAccumulator: token values were not kept (construct it with keepTokens = true)');
    return Float32Array.from(this.tokens);
  }

  toJSON(): TokenMetricState {
    return { ctx: this.ctx, sum: this.sum, count: this.count, positionSums: Array.from(this.positionSums), sequenceSums: [...this.sequenceSums], tokens: this.tokens ? [...this.tokens] : null };
  }

  static fromJSON(s: TokenMetricState): TokenMetricAccumulator {
    const a = new TokenMetricAccumulator(s.ctx, s.tokens !== null);
    a.sum = s.sum;
    a.count = s.count;
    a.positionSums.set(s.positionSums);
    a.sequenceSums = [...s.sequenceSums];
    a.tokens = s.tokens ? [...s.tokens] : null;
    return a;
  }
}

/** Summary of both similarity metrics. */
export interface SimilaritySummary {
  sequences: number;
  ctx: number;
  cosine: MetricSummary;
  euclidean: MetricSummary;
}

/** Streams cosine similarity and euclidean distance batch by batch; shards merge exactly. */
export class SimilarityAccumulator {
  readonly cosine: TokenMetricAccumulator;
  readonly euclidean: TokenMetricAccumulator;

  constructor(readonly ctx: number, keepTokens = true) {
    this.cosine = new TokenMetricAccumulator(ctx, keepTokens);
    this.euclidean = new TokenMetricAccumulator(ctx, keepTokens);
  }

  /** Adds one batch of base and finetune activations [batch, pos, dModel] (not disposed). */
  add(base: tf.Tensor3D, finetune: tf.Tensor3D): void {
    const { cosine, euclidean } = tokenSimilarityTensors(base, finetune);
    try {
      this.cosine.add(cosine);
      this.euclidean.add(euclidean);
    } finally {
      cosine.dispose();
      euclidean.dispose();
    }
  }

  merge(other: SimilarityAccumulator): this {
    this.cosine.merge(other.cosine);
    this.euclidean.merge(other.euclidean);
    return this;
  }

  summary(): SimilaritySummary {
    return { sequences: this.cosine.sequences, ctx: this.ctx, cosine: this.cosine.summary(), euclidean: this.euclidean.summary() };
  }

  toJSON(): { cosine: TokenMetricState; euclidean: TokenMetricState } {
    return { cosine: this.cosine.toJSON(), euclidean: this.euclidean.toJSON() };
  }

  static fromJSON(s: { cosine: TokenMetricState; euclidean: TokenMetricState }): SimilarityAccumulator {
    const a = new SimilarityAccumulator(s.cosine.ctx);
    Object.assign(a, { cosine: TokenMetricAccumulator.fromJSON(s.cosine), euclidean: TokenMetricAccumulator.fromJSON(s.euclidean) });
    return a;
  }
}
