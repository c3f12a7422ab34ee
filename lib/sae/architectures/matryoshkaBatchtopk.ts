/**
 * SAELens `matryoshka_batchtopk` (training only): BatchTopK plus a reconstruction loss for each nested
 * prefix of the features (matryoshkaWidths, strictly increasing; the full width is the last level and is
 * added when missing), so early features learn what matters most (Bussmann et al. 2025, arXiv:2503.17547).
 * Saved like BatchTopK as a `jumprelu` SAE (SAELens MatryoshkaBatchTopKTrainingSAE).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture, TrainingArchitecture } from './types';
import { reconstructionLoss } from './trainingParts';
import { linearParams } from './standard';
import { topkFamilyForward } from './topk';
import { BATCHTOPK_DEFAULTS, exportAsJumpRelu, updateTopkThreshold, validateBatchTopk } from './batchtopk';
import { batchTopkActivation } from '../../train/activations';
import type { TrainSAEConfig } from '../../train/config';

/** The matryoshka levels: the configured widths, ending with dSae (appended when the last is smaller, as SAELens does). */
export function matryoshkaLevels(cfg: TrainSAEConfig): number[] {
  const widths = [...((cfg.matryoshkaWidths as number[] | undefined) ?? [])];
  if (widths[widths.length - 1] !== cfg.dSae) widths.push(cfg.dSae);
  return widths;
}

export const matryoshkaBatchtopkTraining: TrainingArchitecture = {
  target: 'input',
  defaults: {
    saelens6: { ...BATCHTOPK_DEFAULTS.saelens6 },
    saelens5: { ...BATCHTOPK_DEFAULTS.saelens5 },
  },
  validate(cfg, fail) {
    validateBatchTopk(cfg, fail);
    const w = cfg.matryoshkaWidths;
    if (!Array.isArray(w) || w.length === 0) fail('matryoshka_batchtopk needs matryoshkaWidths, the nested feature widths (e.g. [128, 512, 2048]; the last level is dSae)');
    for (const x of w as number[]) if (!Number.isInteger(x) || x <= 0 || x > cfg.dSae) fail(`matryoshkaWidths must be positive integers up to dSae (${cfg.dSae}), got ${JSON.stringify(w)}`);
    const levels = matryoshkaLevels(cfg);
    for (let i = 1; i < levels.length; i++) if (levels[i] <= levels[i - 1]) fail(`matryoshkaWidths must be strictly increasing, got ${JSON.stringify(w)}`);
  },
  initParams: (_cfg, init) => linearParams(init),
  coefficients: {},
  usesDeadFeatures: (cfg) => (cfg.auxCoefficient as number) > 0,
  initState: () => ({ topk_threshold: 0 }),
  forward(cfg, p, inp) {
    const kTotal = Math.floor((cfg.k as number) * inp.x.shape[0]);
    const out = topkFamilyForward(cfg, p, inp, (pre) => batchTopkActivation(pre, kTotal));
    const invNorm = out.invNorm;
    const n = out.featureActs.shape[0];
    // the outer level is the SAE itself (its loss is mse_loss); each inner level decodes a prefix of the features
    for (const width of matryoshkaLevels(cfg).slice(0, -1)) {
      let inner = tf.slice(out.featureActs, [0, 0], [n, width]) as tf.Tensor2D;
      if (invNorm) inner = tf.mul(inner, tf.slice(invNorm, [0], [width])) as tf.Tensor2D;
      const recon = tf.add(tf.matMul(inner, tf.slice(p.W_dec, [0, 0], [width, -1]) as tf.Tensor2D), p.b_dec) as tf.Tensor2D;
      out.losses[`inner_mse_loss_${width}`] = reconstructionLoss(recon, inp.target).mse;
    }
    return { losses: out.losses, featureActs: out.featureActs, saeOut: out.saeOut };
  },
  afterStep: updateTopkThreshold,
  export: exportAsJumpRelu,
};

export const matryoshkaBatchtopk: Architecture = {
  name: 'matryoshka_batchtopk',
  summary: 'BatchTopK with a reconstruction loss for each nested prefix of the features (matryoshkaWidths); saved as jumprelu',
  training: matryoshkaBatchtopkTraining,
  savedAs: 'jumprelu',
};
