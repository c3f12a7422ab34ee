/**
 * SAELens `batchtopk` (training only): the k * batch largest relu'd pre-activations over the whole batch
 * are kept, so tokens get k active features on average; a global threshold follows the smallest kept
 * activation (an exponential moving average with rate topkThresholdLr, in double precision). Saved, as
 * SAELens saves it, as a `jumprelu` SAE with that threshold for every feature (SAELens BatchTopKTrainingSAE).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture, TrainingArchitecture, TrainStepOutput } from './types';
import { scaledFoldedWeights } from './trainingParts';
import { linearParams } from './standard';
import { TOPK_DEFAULTS, topkFamilyForward, validateTopk } from './topk';
import { batchTopkActivation } from '../../train/activations';
import type { TrainSAEConfig } from '../../train/config';

/** The BatchTopK training fields and their defaults: TopK's (k may be fractional) plus topkThresholdLr 0.01. */
export const BATCHTOPK_DEFAULTS: TrainingArchitecture['defaults'] = {
  saelens6: { ...TOPK_DEFAULTS.saelens6, topkThresholdLr: 0.01 },
  saelens5: { ...TOPK_DEFAULTS.saelens5, topkThresholdLr: 0.01 },
};

/** Checks of the BatchTopK fields. */
export function validateBatchTopk(cfg: TrainSAEConfig, fail: (msg: string) => never): void {
  validateTopk(cfg, fail, false);
  if (Math.floor((cfg.k as number) * cfg.trainBatchSizeTokens) < 1) fail(`k (${cfg.k}) x trainBatchSizeTokens (${cfg.trainBatchSizeTokens}) must keep at least one activation per batch`);
  const lr = cfg.topkThresholdLr as number;
  if (!(lr > 0 && lr <= 1)) fail(`topkThresholdLr must be in (0, 1], got ${cfg.topkThresholdLr}`);
}

/** SAELens update_topk_threshold: threshold <- (1 - lr) threshold + lr * (smallest positive activation of the batch), when any is positive. */
export function updateTopkThreshold(cfg: TrainSAEConfig, state: Record<string, number>, out: TrainStepOutput): void {
  const minPositive = tf.tidy(() => {
    const acts = out.featureActs;
    return tf.min(tf.where(tf.greater(acts, 0), acts, tf.fill(acts.shape, Infinity))).dataSync()[0];
  });
  if (!Number.isFinite(minPositive)) return;
  const lr = cfg.topkThresholdLr as number;
  state.topk_threshold = (1 - lr) * state.topk_threshold + lr * minPositive;
}

/** The trained weights as a jumprelu SAE: TopK's fold of the decoder norms, threshold = the tracked value for every feature. */
export function exportAsJumpRelu(cfg: TrainSAEConfig, p: Record<string, tf.Tensor>, state: Record<string, number>, scale: number): ReturnType<TrainingArchitecture['export']> {
  const weights = scaledFoldedWeights(cfg, p, scale);
  weights.threshold = tf.fill([cfg.dSae], state.topk_threshold);
  return { config: { architecture: 'jumprelu' }, weights };
}

export const batchtopkTraining: TrainingArchitecture = {
  target: 'input',
  defaults: BATCHTOPK_DEFAULTS,
  validate: validateBatchTopk,
  initParams: (_cfg, init) => linearParams(init),
  coefficients: {},
  usesDeadFeatures: (cfg) => (cfg.auxCoefficient as number) > 0,
  initState: () => ({ topk_threshold: 0 }),
  forward(cfg, p, inp) {
    const kTotal = Math.floor((cfg.k as number) * inp.x.shape[0]);
    const { losses, featureActs, saeOut } = topkFamilyForward(cfg, p, inp, (pre) => batchTopkActivation(pre, kTotal));
    return { losses, featureActs, saeOut };
  },
  afterStep: updateTopkThreshold,
  export: exportAsJumpRelu,
};

export const batchtopk: Architecture = {
  name: 'batchtopk',
  summary: 'the k x batch largest activations over the batch (k per token on average); saved as jumprelu with the learned threshold',
  training: batchtopkTraining,
  savedAs: 'jumprelu',
};
