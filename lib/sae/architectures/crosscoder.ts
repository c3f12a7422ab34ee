/**
 * Crosscoders (Anthropic 2024; BatchTopK crosscoders after Minder et al. 2025), training only: one
 * dictionary over n models' (or layers') activations at the same token. The trainer sees each row as
 * the n activations side by side, [x_1 | ... | x_n] (dIn = nModels x d_model), so the crosscoder's
 * per-model encoders W_enc [n, d, d_sae] summed into shared latents are the flat encoder [n d, d_sae],
 * and its per-model decoders W_dec [d_sae, n, d] the flat decoder [d_sae, n d]. What differs from an SAE:
 * the sparsity of latent j is weighted by the sum over models of its decoder norms |W_dec[j, m]|
 * (L1 for `crosscoder`; the selection for `batchtopk_crosscoder`), no b_dec subtraction, no unit-norm
 * decoder, and the folder it is saved as (lib/crosscoder/format.ts: cfg.json + crosscoder_weights.safetensors).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture, TrainingArchitecture, TrainStepOutput, Weights } from './types';
import { kthLargestValue } from './ops';
import { encoderPre, linearDecode, reconstructionLoss, scaledWeights, topkAuxLoss } from './trainingParts';
import { linearParams } from './standard';
import { updateTopkThreshold } from './batchtopk';
import type { TrainSAEConfig } from '../../train/config';
import { CrosscoderConfig, saveCrosscoderInto } from '../../crosscoder/format';

/** Sum over models of each latent's decoder norm: flat W_dec [d_sae, n d] -> [d_sae]. */
export function latentDecoderNormSum(W_dec: tf.Tensor, nModels: number): tf.Tensor1D {
  const [dSae, width] = W_dec.shape;
  return tf.tidy(() => tf.sum(tf.sqrt(tf.sum(tf.square(tf.reshape(W_dec, [dSae, nModels, width / nModels])), 2)), 1) as tf.Tensor1D);
}

const SHARED_DEFAULTS: Partial<TrainSAEConfig> = {
  nModels: 2, applyBDecToInput: false, bDecInitMethod: 'zeros', decoderInitNorm: 0.1, normalizeSaeDecoder: false, useGhostGrads: false,
};

function validateCrosscoder(cfg: TrainSAEConfig, fail: (msg: string) => never): void {
  const n = cfg.nModels;
  if (!Number.isInteger(n) || (n as number) < 1) fail(`nModels must be a positive integer, got ${n}`);
  if (cfg.dIn % (n as number) !== 0) fail(`dIn (${cfg.dIn}) must be nModels (${n}) x the width of one model's activation`);
  if (cfg.normalizeSaeDecoder) fail(`normalizeSaeDecoder must be false for crosscoders (their decoder norms carry which model a latent belongs to)`);
  if (cfg.useGhostGrads) fail('useGhostGrads is not supported for crosscoders');
  if (cfg.decoderInitNorm === null) fail('decoderInitNorm must be set for crosscoders (W_enc = W_dec^T at initialisation)');
  const names = cfg.metadata.model_names;
  if (names !== undefined && (!Array.isArray(names) || names.length !== n)) fail(`metadata.model_names must list ${n} names, got ${JSON.stringify(names)}`);
}

/** The crosscoder config and weights in their published layout, with the activation scaling factor folded in. */
export function crosscoderExport(cfg: TrainSAEConfig, p: Weights, state: Record<string, number>, scale: number): { config: CrosscoderConfig; weights: Weights } {
  const n = cfg.nModels as number;
  const d = cfg.dIn / n;
  const flat = scaledWeights(p, scale);
  const weights: Weights = tf.tidy(() => ({
    W_enc: tf.reshape(flat.W_enc, [n, d, cfg.dSae]),
    W_dec: tf.reshape(flat.W_dec, [cfg.dSae, n, d]),
    b_enc: tf.clone(flat.b_enc),
    b_dec: tf.reshape(flat.b_dec, [n, d]),
    ...(cfg.architecture === batchtopkCrosscoder.name ? { threshold: tf.fill([cfg.dSae], state.topk_threshold ?? 0) } : {}),
  }));
  tf.dispose(Object.values(flat));
  const { model_names: names, hook_name: hook, ...metadata } = cfg.metadata;
  const config: CrosscoderConfig = {
    architecture: 'crosscoder',
    activation: cfg.architecture === batchtopkCrosscoder.name ? 'batchtopk' : 'relu',
    n_models: n,
    d_in: d,
    d_sae: cfg.dSae,
    ...(cfg.architecture === batchtopkCrosscoder.name ? { k: cfg.k } : {}),
    model_names: Array.isArray(names) ? names.map(String) : n === 2 ? ['base', 'finetune'] : Array.from({ length: n }, (_, i) => `model_${i}`),
    hook_name: String(hook ?? 'activations'),
    dtype: 'float32',
    metadata: { ...metadata, training: { architecture: cfg.architecture, l1_coefficient: cfg.l1Coefficient, lr: cfg.lr, training_tokens: cfg.trainingTokens, train_batch_size_tokens: cfg.trainBatchSizeTokens, seed: cfg.seed } },
  };
  return { config, weights };
}

async function saveCrosscoder(cfg: TrainSAEConfig, p: Weights, state: Record<string, number>, scale: number, dir: string, log10Density: Float32Array): Promise<void> {
  const { config, weights } = crosscoderExport(cfg, p, state, scale);
  try {
    await saveCrosscoderInto(dir, config, weights, log10Density);
  } finally {
    tf.dispose(Object.values(weights));
  }
}

function exportFlat(cfg: TrainSAEConfig, p: Weights, state: Record<string, number>, scale: number): ReturnType<TrainingArchitecture['export']> {
  const { config, weights } = crosscoderExport(cfg, p, state, scale);
  return { config: config as unknown as ReturnType<TrainingArchitecture['export']>['config'], weights };
}

export const crosscoderTraining: TrainingArchitecture = {
  target: 'input',
  defaults: {
    saelens6: { ...SHARED_DEFAULTS, l1Coefficient: 1, l1WarmUpSteps: 0, lpNorm: 1 },
    saelens5: { ...SHARED_DEFAULTS, l1Coefficient: 1, l1WarmUpSteps: 0, lpNorm: 1 },
  },
  validate: validateCrosscoder,
  initParams: (_cfg, init) => linearParams(init),
  coefficients: { l1: { value: 'l1Coefficient', warmUp: 'l1WarmUpSteps' } },
  usesDeadFeatures: () => false,
  forward(cfg, p, inp) {
    const acts = tf.relu(encoderPre(cfg, p, inp.x, inp.noise)) as tf.Tensor2D;
    const saeOut = linearDecode(p, acts);
    const { mse } = reconstructionLoss(saeOut, inp.target);
    const normSum = latentDecoderNormSum(p.W_dec, cfg.nModels as number);
    const l1 = tf.mul(tf.mean(tf.sum(tf.mul(acts, normSum), 1)), inp.coefficients.l1) as tf.Scalar;
    return { losses: { mse_loss: mse, l1_loss: l1 }, featureActs: acts, saeOut };
  },
  export: exportFlat,
  save: saveCrosscoder,
};

/** acts where (acts x normSum) is among the kTotal largest of the batch; the selection passes no gradient. */
function batchTopkByNorm(acts: tf.Tensor2D, weighted: tf.Tensor2D, kTotal: number): tf.Tensor2D {
  const op = tf.customGrad(((a: tf.Tensor2D, w: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const kth = kthLargestValue(w, Math.min(kTotal, w.size));
    const keep = tf.cast(tf.logicalAnd(tf.greaterEqual(w, kth), tf.greater(w, 0)), 'float32');
    save([keep]);
    return { value: tf.mul(a, keep), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0]), tf.zerosLike(w)] };
  }) as any) as (a: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;
  return op(acts, weighted);
}

export const batchtopkCrosscoderTraining: TrainingArchitecture = {
  target: 'input',
  defaults: {
    saelens6: { ...SHARED_DEFAULTS, k: 32, topkThresholdLr: 0.01, auxCoefficient: 1 / 32 },
    saelens5: { ...SHARED_DEFAULTS, k: 32, topkThresholdLr: 0.01, auxCoefficient: 1 / 32 },
  },
  validate(cfg, fail) {
    validateCrosscoder(cfg, fail);
    const k = cfg.k as number;
    if (!(k > 0) || Math.floor(k * cfg.trainBatchSizeTokens) < 1) fail(`k must be > 0 and keep at least one activation per batch (k x trainBatchSizeTokens >= 1), got k=${cfg.k}`);
    const lr = cfg.topkThresholdLr as number;
    if (!(lr > 0 && lr <= 1)) fail(`topkThresholdLr must be in (0, 1], got ${cfg.topkThresholdLr}`);
    if (!((cfg.auxCoefficient as number) >= 0)) fail(`auxCoefficient must be >= 0, got ${cfg.auxCoefficient}`);
  },
  initParams: (_cfg, init) => linearParams(init),
  coefficients: {},
  usesDeadFeatures: (cfg) => (cfg.auxCoefficient as number) > 0,
  initState: () => ({ topk_threshold: 0 }),
  /**
   * featureActs are the decoder-norm-weighted activations (what the threshold is tracked on). With
   * auxCoefficient > 0, the AuxK loss (Gao et al., as SAELens's TopK) lets the top dead latents
   * reconstruct the residual, so latents do not stay dead.
   */
  forward(cfg, p, inp): TrainStepOutput {
    const pre = encoderPre(cfg, p, inp.x, inp.noise);
    const relu = tf.relu(pre) as tf.Tensor2D;
    const normSum = latentDecoderNormSum(p.W_dec, cfg.nModels as number);
    const acts = batchTopkByNorm(relu, tf.mul(relu, normSum) as tf.Tensor2D, Math.floor((cfg.k as number) * inp.x.shape[0]));
    const saeOut = linearDecode(p, acts);
    const { mse } = reconstructionLoss(saeOut, inp.target);
    const losses: Record<string, tf.Scalar> = { mse_loss: mse };
    const aux = cfg.auxCoefficient as number;
    if (aux > 0 && inp.dead && inp.dead.count > 0) {
      losses.auxiliary_reconstruction_loss = tf.mul(topkAuxLoss(inp.target, saeOut, pre, inp.dead, (a) => linearDecode(p, a), inp.x.shape[1]), aux);
    }
    return { losses, featureActs: tf.mul(acts, normSum) as tf.Tensor2D, saeOut };
  },
  afterStep: updateTopkThreshold,
  export: exportFlat,
  save: saveCrosscoder,
};

export const crosscoder: Architecture = {
  name: 'crosscoder',
  summary: 'crosscoder over n models side by side: ReLU, L1 weighted by the sum of the per-model decoder norms; saved as a crosscoder folder',
  training: crosscoderTraining,
};

export const batchtopkCrosscoder: Architecture = {
  name: 'batchtopk_crosscoder',
  summary: 'crosscoder with BatchTopK on the decoder-norm-weighted activations and a tracked inference threshold',
  training: batchtopkCrosscoderTraining,
};
