/**
 * Outlier activation norms (seed 001, find_outlier_norms + the filter used by the SAE eval).
 *
 * Norm scalar, exactly as published: S = sqrt(d_model) / E|x|, where E|x| is the mean over batches of
 * each batch's mean token norm (every token of the batch, BOS included). With equal-sized batches this is
 * the mean token norm; with unequal batches it is not, and the published definition is kept.
 *
 * A token x is an outlier when
 *   relative rule: |S x| > multiplier * base_threshold, base_threshold = sqrt(d_model) (published multiplier 2), or
 *   absolute rule: |x| > absolute_threshold (published: mistral-7b, 200);
 * the absolute rule wins when a model has one. The base model's rule is applied to the finetune too.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomic } from '../io/atomic';
import { takeScalar } from './stats';

/** The file name the published pipeline uses. */
export const OUTLIER_CFG_FILE = 'outlier_cfg.json';

/** Token norms |x| over the last axis: [..., dModel] -> [...] (the caller disposes the result). */
export function tokenNorms(acts: tf.Tensor): tf.Tensor {
  return tf.tidy(() => acts.toFloat().norm('euclidean', -1));
}

/** The token norms of a batch as a flat array. */
export function tokenNormValues(acts: tf.Tensor): Float32Array {
  const n = tokenNorms(acts);
  const v = n.dataSync() as Float32Array;
  n.dispose();
  return v;
}

/** Serialised state of a NormScalarAccumulator. */
export interface NormScalarState {
  batchMeanSum: number;
  batches: number;
  tokenNormSum: number;
  tokens: number;
}

/**
 * Accumulates the published E|x| (mean over batches of per-batch mean token norms) and, for reference,
 * the token-weighted mean norm. Shards merge by adding sums and counts.
 */
export class NormScalarAccumulator {
  batchMeanSum = 0;
  batches = 0;
  tokenNormSum = 0;
  tokens = 0;

  /** Adds one batch of activations [batch, pos, dModel] (or any [..., dModel]); not disposed. */
  add(acts: tf.Tensor): void {
    if (acts.rank < 2) throw new Error(`NormScalarAccumulator: activations must be [..., dModel], got shape [${acts.shape}]`);
    const n = acts.size / acts.shape[acts.rank - 1];
    if (n === 0) return;
    const sum = takeScalar(tf.tidy(() => tokenNorms(acts).sum()));
    this.batchMeanSum += sum / n;
    this.batches += 1;
    this.tokenNormSum += sum;
    this.tokens += n;
  }

  merge(other: NormScalarAccumulator): this {
    this.batchMeanSum += other.batchMeanSum;
    this.batches += other.batches;
    this.tokenNormSum += other.tokenNormSum;
    this.tokens += other.tokens;
    return this;
  }

  /** E|x| as published: the mean of per-batch mean token norms. */
  meanNorm(): number {
    if (this.batches === 0) throw new Error('NormScalarAccumulator: no batches were added');
    return this.batchMeanSum / this.batches;
  }

  /** The mean norm over all tokens (equals meanNorm() when every batch has the same size). */
  tokenMeanNorm(): number {
    return this.tokens > 0 ? this.tokenNormSum / this.tokens : NaN;
  }

  /** S = sqrt(d_model) / E|x|. */
  normScalar(dModel: number): number {
    return Math.sqrt(dModel) / this.meanNorm();
  }

  toJSON(): NormScalarState {
    return { batchMeanSum: this.batchMeanSum, batches: this.batches, tokenNormSum: this.tokenNormSum, tokens: this.tokens };
  }

  static fromJSON(s: NormScalarState): NormScalarAccumulator {
    return Object.assign(new NormScalarAccumulator(), s);
  }
}

/** How outliers are decided for one model. */
export type OutlierRule =
  | { kind: 'relative'; normScalar: number; multiplier: number; baseThreshold: number }
  | { kind: 'absolute'; threshold: number; normScalar?: number };

/** The published relative rule: |S x| > multiplier * sqrt(d_model). */
export function relativeOutlierRule(normScalar: number, dModel: number, multiplier = 2): OutlierRule {
  return { kind: 'relative', normScalar, multiplier, baseThreshold: Math.sqrt(dModel) };
}

/** The published absolute rule: |x| > threshold. */
export function absoluteOutlierRule(threshold: number, normScalar?: number): OutlierRule {
  return { kind: 'absolute', threshold, normScalar };
}

/** The norm threshold a rule compares against, and the factor applied to x before taking its norm. */
export function ruleThreshold(rule: OutlierRule): { scale: number; threshold: number } {
  return rule.kind === 'absolute'
    ? { scale: 1, threshold: rule.threshold }
    : { scale: rule.normScalar, threshold: rule.multiplier * rule.baseThreshold };
}

/** Boolean mask [...] of outlier tokens of activations [..., dModel] (the caller disposes it). */
export function outlierMask(acts: tf.Tensor, rule: OutlierRule): tf.Tensor {
  const { scale, threshold } = ruleThreshold(rule);
  return tf.tidy(() => acts.toFloat().mul(scale).norm('euclidean', -1).greater(threshold));
}

/** The outlier mask as a flat 0/1 array. */
export function outlierMaskValues(acts: tf.Tensor, rule: OutlierRule): Uint8Array {
  const m = outlierMask(acts, rule);
  const v = Uint8Array.from(m.dataSync());
  m.dispose();
  return v;
}

/** Which token positions are BOS: tokens == bosTokenId, or position 0 of every sequence when no tokens are given. */
export function bosMask(shape: [number, number], tokens?: tf.Tensor2D | Int32Array, bosTokenId?: number): tf.Tensor2D {
  return tf.tidy(() => {
    if (tokens !== undefined) {
      if (bosTokenId === undefined) throw new Error('bosMask: tokens were given without bosTokenId; pass the tokenizer\'s BOS id');
      const t = tokens instanceof tf.Tensor ? tokens : tf.tensor2d(tokens, shape, 'int32');
      if (t.shape.join() !== shape.join()) throw new Error(`bosMask: tokens shape [${t.shape}] does not match activations [${shape}]`);
      return t.equal(bosTokenId) as tf.Tensor2D;
    }
    const first = tf.oneHot(tf.zeros([shape[0]], 'int32'), shape[1]).toBool();
    return first as tf.Tensor2D;
  });
}

/** Serialised state of an OutlierCounter. */
export interface OutlierCounterState {
  outliers: number;
  tokens: number;
  bosTokens: number;
  bosOutliers: number;
  outlierNorms: number[];
}

/** Outcome of outlier counting. */
export interface OutlierSummary {
  outliers: number;
  tokens: number;
  fraction: number;
  bosTokens: number;
  bosOutliers: number;
  /** true when any BOS position was an outlier (published: never) */
  anyBosOutlier: boolean;
  /** unscaled norms |x| of the outlier tokens, in the order seen */
  outlierNorms: number[];
}

/** Counts outlier tokens, BOS outliers and the outliers' norms over batches; shards merge by adding. */
export class OutlierCounter {
  outliers = 0;
  tokens = 0;
  bosTokens = 0;
  bosOutliers = 0;
  outlierNorms: number[] = [];

  constructor(readonly rule: OutlierRule) {}

  /**
   * Adds a batch of activations [batch, pos, dModel]. BOS positions are where `tokens == bosTokenId`,
   * or position 0 when no tokens are given.
   */
  add(acts: tf.Tensor3D, tokens?: tf.Tensor2D | Int32Array, bosTokenId?: number): void {
    if (acts.rank !== 3) throw new Error(`OutlierCounter: activations must be [batch, pos, dModel], got shape [${acts.shape}]`);
    const shape: [number, number] = [acts.shape[0], acts.shape[1]];
    const [mask, norms, bos] = tf.tidy(() => {
      const m = outlierMask(acts, this.rule);
      return [m, tokenNorms(acts), bosMask(shape, tokens, bosTokenId)];
    });
    const m = mask.dataSync();
    const nv = norms.dataSync();
    const b = bos.dataSync();
    for (let i = 0; i < m.length; i++) {
      if (b[i]) this.bosTokens++;
      if (m[i]) {
        this.outliers++;
        this.outlierNorms.push(nv[i]);
        if (b[i]) this.bosOutliers++;
      }
    }
    this.tokens += m.length;
    tf.dispose([mask, norms, bos]);
  }

  merge(other: OutlierCounter): this {
    this.outliers += other.outliers;
    this.tokens += other.tokens;
    this.bosTokens += other.bosTokens;
    this.bosOutliers += other.bosOutliers;
    this.outlierNorms.push(...other.outlierNorms);
    return this;
  }

  summary(): OutlierSummary {
    return {
      outliers: this.outliers,
      tokens: this.tokens,
      fraction: this.tokens > 0 ? this.outliers / this.tokens : NaN,
      bosTokens: this.bosTokens,
      bosOutliers: this.bosOutliers,
      anyBosOutlier: this.bosOutliers > 0,
      outlierNorms: [...this.outlierNorms],
    };
  }

  toJSON(): OutlierCounterState & { rule: OutlierRule } {
    return { rule: this.rule, outliers: this.outliers, tokens: this.tokens, bosTokens: this.bosTokens, bosOutliers: this.bosOutliers, outlierNorms: [...this.outlierNorms] };
  }

  static fromJSON(s: OutlierCounterState & { rule: OutlierRule }): OutlierCounter {
    const c = new OutlierCounter(s.rule);
    Object.assign(c, { outliers: s.outliers, tokens: s.tokens, bosTokens: s.bosTokens, bosOutliers: s.bosOutliers, outlierNorms: [...s.outlierNorms] });
    return c;
  }
}

/**
 * `outlier_cfg.json` as published (keys spelled as in the published file, each a map from model name):
 * `{"norm_scalar": {...}, "threshhold_multiplier": {...}, "base_threshhold": {...}, "absolute_threshold": {...}}`.
 * A model with an absolute threshold has no multiplier/base entries.
 */
export interface OutlierCfgJson {
  norm_scalar: Record<string, number>;
  threshhold_multiplier: Record<string, number>;
  base_threshhold: Record<string, number>;
  absolute_threshold?: Record<string, number>;
}

/** An empty config. */
export function emptyOutlierCfg(): OutlierCfgJson {
  return { norm_scalar: {}, threshhold_multiplier: {}, base_threshhold: {} };
}

/** Records `modelName`'s norm scalar and rule in `cfg` (replacing an earlier entry for it) and returns cfg. */
export function setOutlierCfgEntry(cfg: OutlierCfgJson, modelName: string, normScalar: number, rule: OutlierRule): OutlierCfgJson {
  cfg.norm_scalar[modelName] = normScalar;
  delete cfg.threshhold_multiplier[modelName];
  delete cfg.base_threshhold[modelName];
  if (cfg.absolute_threshold) delete cfg.absolute_threshold[modelName];
  if (rule.kind === 'absolute') {
    cfg.absolute_threshold = cfg.absolute_threshold ?? {};
    cfg.absolute_threshold[modelName] = rule.threshold;
  } else {
    cfg.threshhold_multiplier[modelName] = rule.multiplier;
    cfg.base_threshhold[modelName] = rule.baseThreshold;
  }
  if (cfg.absolute_threshold && Object.keys(cfg.absolute_threshold).length === 0) delete cfg.absolute_threshold;
  return cfg;
}

function checkNumberMap(value: unknown, key: string, source: string, required: boolean): Record<string, number> {
  if (value === undefined && !required) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${source}: "${key}" must be an object mapping model names to numbers, got ${JSON.stringify(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${source}: "${key}"."${k}" must be a finite number, got ${JSON.stringify(v)}`);
  }
  return value as Record<string, number>;
}

/** Validates a parsed outlier_cfg.json (`source` names the file in errors). */
export function parseOutlierCfg(json: unknown, source = OUTLIER_CFG_FILE): OutlierCfgJson {
  if (typeof json !== 'object' || json === null) throw new Error(`${source}: expected a JSON object with "norm_scalar", "threshhold_multiplier", "base_threshhold"`);
  const o = json as Record<string, unknown>;
  const cfg: OutlierCfgJson = {
    norm_scalar: checkNumberMap(o.norm_scalar, 'norm_scalar', source, true),
    threshhold_multiplier: checkNumberMap(o.threshhold_multiplier, 'threshhold_multiplier', source, false),
    base_threshhold: checkNumberMap(o.base_threshhold, 'base_threshhold', source, false),
  };
  if (o.absolute_threshold !== undefined) cfg.absolute_threshold = checkNumberMap(o.absolute_threshold, 'absolute_threshold', source, false);
  return cfg;
}

/** The rule for `modelName`: its absolute threshold when it has one, else the relative rule. */
export function outlierRuleFromCfg(cfg: OutlierCfgJson, modelName: string, source = OUTLIER_CFG_FILE): OutlierRule {
  const abs = cfg.absolute_threshold?.[modelName];
  if (abs !== undefined) return absoluteOutlierRule(abs, cfg.norm_scalar[modelName]);
  const s = cfg.norm_scalar[modelName];
  const m = cfg.threshhold_multiplier[modelName];
  const b = cfg.base_threshhold[modelName];
  if (s === undefined || m === undefined || b === undefined) {
    const known = Object.keys(cfg.norm_scalar).join(', ') || 'none';
    throw new Error(`${source}: no outlier rule for model "${modelName}" (models with a norm scalar: ${known}); run the outlier-norm stage for it or add an absolute_threshold entry`);
  }
  return { kind: 'relative', normScalar: s, multiplier: m, baseThreshold: b };
}

/** Reads and validates an outlier_cfg.json file. */
export function readOutlierCfg(file: string): OutlierCfgJson {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read the outlier config (${(e as Error).message}); run the outlier-norm stage first`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseOutlierCfg(json, file);
}

/** Writes an outlier_cfg.json atomically. */
export function writeOutlierCfg(file: string, cfg: OutlierCfgJson): void {
  writeJsonAtomic(file, parseOutlierCfg(cfg, file));
}
