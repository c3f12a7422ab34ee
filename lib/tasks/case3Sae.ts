/**
 * Seed 002: an SAE on a case-3 model's residual stream with the seed's configuration, and the checks
 * the seed reports (explained variance, L0, a feature that tracks "token is x").
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { InMemorySource } from '../train/sources';
import { TrainerOptions, TrainResult, trainSAE } from '../train/trainer';
import { TrainSAEConfigInput } from '../train/config';
import { explainedVariancePerToken, meanL0 } from '../analysis/saeMetrics';
import { CASE3_VOCAB, case3Inputs } from './interpbench';

/**
 * The seed's SAE configuration (SAELens names in camelCase): expansion 4, relu (standard), L1 0.1,
 * lr 3e-4 constant, Adam (0.9, 0.999), 1.5M training tokens in batches of 80, ghost grads,
 * geometric-median b_dec, unit-norm decoder, dead window 1000, sampling window 2000, 5 checkpoints
 * (the SAELens 5 training defaults the seed used).
 */
export function case3SaeConfig(dIn: number, hookName: string, overrides: Partial<TrainSAEConfigInput> = {}): TrainSAEConfigInput {
  return {
    defaults: 'saelens5', architecture: 'standard', dIn, expansionFactor: 4, l1Coefficient: 0.1, lr: 3e-4, lrScheduler: 'constant',
    adamBeta1: 0.9, adamBeta2: 0.999, trainingTokens: 1_500_000, trainBatchSizeTokens: 80, useGhostGrads: true,
    bDecInitMethod: 'geometric_median', normalizeSaeDecoder: true, deadFeatureWindow: 1000, featureSamplingWindow: 2000,
    nCheckpoints: 5, seed: 42, logEvery: 100,
    metadata: { model_name: 'interpbench-case-3', hook_name: hookName, context_size: 5, prepend_bos: false, dataset_path: 'interpbench case 3: all 320 inputs' },
    ...overrides,
  };
}

/** Activations of `hookName` on all 320 case-3 inputs: rows [320 * 5, d] (every position, BOS and PAD too) and the tokens. */
export function case3Activations(model: HookedTransformer, hookName: string): { acts: tf.Tensor2D; tokens: number[][] } {
  const tokens = case3Inputs();
  const t = tf.tensor2d(tokens, undefined, 'int32');
  const { cache, logits } = model.runWithCache(t, { namesFilter: [hookName], returnType: 'none' });
  t.dispose();
  logits?.dispose();
  const a = cache.get(hookName);
  const acts = tf.tidy(() => tf.reshape(a, [-1, a.shape[a.shape.length - 1]]) as tf.Tensor2D);
  cache.dispose();
  return { acts, tokens };
}

/**
 * Train the seed's SAE on a case-3 model's `hookName` activations, cycling through the 1,600 token
 * positions of the 320 inputs as the seed's repeating activation store does. `overrides` change the
 * config (e.g. fewer trainingTokens for a quick run); `trainer` options set outDir / saeDir / progress.
 */
export async function trainCase3Sae(model: HookedTransformer, hookName = 'blocks.1.hook_resid_pre', overrides: Partial<TrainSAEConfigInput> = {}, trainer: TrainerOptions = {}): Promise<{ sae: SAE; result: TrainResult }> {
  const { acts } = case3Activations(model, hookName);
  const source = new InMemorySource(acts, undefined, { chunkTokens: 1600 });
  acts.dispose();
  const { trainer: t, result } = await trainSAE(case3SaeConfig(source.dIn, hookName, overrides), source, { progress: 'none', ...trainer });
  return { sae: t.toSAE(), result };
}

/**
 * Pearson correlation of every feature's activation with the indicator "token == tokenId" over all
 * positions. featureActs: [N, d_sae] (or [batch, pos, d_sae]); tokens flattened to N. Returns the
 * correlations and the best feature. Constant features get correlation 0.
 */
export async function tokenFeatureCorrelation(featureActs: tf.Tensor, tokens: readonly (readonly number[])[], tokenId = CASE3_VOCAB.x): Promise<{ correlations: Float32Array; best: number; bestCorrelation: number }> {
  const flatTokens = tokens.flat();
  const dSae = featureActs.shape[featureActs.rank - 1];
  const corr = tf.tidy(() => {
    const f = tf.reshape(featureActs, [-1, dSae]);
    if (f.shape[0] !== flatTokens.length) throw new Error(`tokenFeatureCorrelation: ${f.shape[0]} rows of activations, ${flatTokens.length} tokens`);
    const ind = tf.tensor2d(flatTokens.map((t) => (t === tokenId ? 1 : 0)), [flatTokens.length, 1]);
    const fc = tf.sub(f, tf.mean(f, 0));
    const ic = tf.sub(ind, tf.mean(ind));
    const cov = tf.sum(tf.mul(fc, ic), 0);
    const denom = tf.sqrt(tf.mul(tf.sum(tf.square(fc), 0), tf.sum(tf.square(ic))));
    return tf.where(tf.greater(denom, 0), tf.div(cov, tf.maximum(denom, 1e-30)), tf.zerosLike(cov));
  });
  const correlations = (await corr.data()) as Float32Array;
  corr.dispose();
  let best = 0;
  for (let i = 1; i < correlations.length; i++) if (correlations[i] > correlations[best]) best = i;
  return { correlations, best, bestCorrelation: correlations[best] };
}

/**
 * Features selective for one token: those whose firing positions (activation > 0) hold `tokenId` at
 * least `minPrecision` of the time, with how many positions each fires on, its precision and recall,
 * and the share of the token's positions where at least one selective feature fires (coverage).
 * An SAE often splits "token is x" by position; together the x-only features then cover the x tokens.
 */
export async function tokenSelectiveFeatures(featureActs: tf.Tensor, tokens: readonly (readonly number[])[], tokenId = CASE3_VOCAB.x, minPrecision = 0.95): Promise<{ features: Array<{ feature: number; firing: number; precision: number; recall: number }>; coverage: number; tokenCount: number }> {
  const flatTokens = tokens.flat();
  const dSae = featureActs.shape[featureActs.rank - 1];
  const [fireT, hitT] = tf.tidy(() => {
    const fires = tf.cast(tf.greater(tf.reshape(featureActs, [-1, dSae]), 0), 'float32');
    if (fires.shape[0] !== flatTokens.length) throw new Error(`tokenSelectiveFeatures: ${fires.shape[0]} rows of activations, ${flatTokens.length} tokens`);
    const is = tf.tensor2d(flatTokens.map((t) => (t === tokenId ? 1 : 0)), [flatTokens.length, 1]);
    return [tf.sum(fires, 0), tf.sum(tf.mul(fires, is), 0)];
  });
  const fire = await fireT.data();
  const hit = await hitT.data();
  tf.dispose([fireT, hitT]);
  const tokenCount = flatTokens.filter((t) => t === tokenId).length;
  const features: Array<{ feature: number; firing: number; precision: number; recall: number }> = [];
  for (let j = 0; j < dSae; j++) {
    if (fire[j] > 0 && hit[j] / fire[j] >= minPrecision) features.push({ feature: j, firing: fire[j], precision: hit[j] / fire[j], recall: tokenCount ? hit[j] / tokenCount : 0 });
  }
  let coverage = 0;
  if (features.length && tokenCount) {
    const covered = tf.tidy(() => {
      const sel = tf.gather(tf.reshape(featureActs, [-1, dSae]), features.map((f) => f.feature), 1);
      const any = tf.cast(tf.greater(tf.max(sel, 1), 0), 'float32');
      const is = tf.tensor1d(flatTokens.map((t) => (t === tokenId ? 1 : 0)));
      return tf.sum(tf.mul(any, is));
    });
    coverage = (await covered.data())[0] / tokenCount;
    covered.dispose();
  }
  return { features, coverage, tokenCount };
}

/** What notebook 06 reports of an SAE on the case-3 positions (seed 002's checks). */
export interface Case3SaeChecks {
  hook: string;
  dSae: number;
  /** SAELens's per-token explained variance (explainedVariancePerToken) */
  explainedVariance: number;
  /** mean number of features > 0 per position */
  l0: number;
  /** features that fire (almost) only on x, and the share of x tokens they cover */
  xOnly: Awaited<ReturnType<typeof tokenSelectiveFeatures>>;
}

/**
 * Encode the case-3 activations with the SAE and compute seed 002's checks. Returns the feature
 * activations [positions, d_sae] too (the caller disposes them), for the feature browser.
 */
export async function case3SaeChecks(sae: SAE, hook: string, acts: tf.Tensor2D, tokens: number[][]): Promise<{ checks: Case3SaeChecks; feats: tf.Tensor2D }> {
  const feats = sae.encode(acts) as tf.Tensor2D;
  const recon = sae.decode(feats) as tf.Tensor2D;
  try {
    const xOnly = await tokenSelectiveFeatures(feats, tokens);
    return { checks: { hook, dSae: feats.shape[1], explainedVariance: explainedVariancePerToken(acts, recon), l0: meanL0(feats), xOnly }, feats };
  } catch (e) {
    feats.dispose();
    throw e;
  } finally {
    recon.dispose();
  }
}
