/**
 * SAELens `jumprelu`: relu(pre) * [pre > threshold] per feature (SAELens JumpReLUSAE); trained with a
 * learned log_threshold, straight-through threshold gradients of bandwidth jumpreluBandwidth and an L0
 * ("step", Google DeepMind) or tanh (Anthropic) sparsity loss, optionally Anthropic's pre-activation
 * loss on dead features (SAELens JumpReLUTrainingSAE). Saved with threshold = exp(log_threshold).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture, InferenceArchitecture, TrainingArchitecture, Weights, TrainStepInput, TrainStepOutput } from './types';
import { decodeLinear, foldNorms, linear } from './ops';
import { encoderPre, linearDecode, reconstructionLoss, scaledWeights } from './trainingParts';
import { linearParams, linearWeightShapes } from './standard';
import { jumpReLU, stepFunction } from '../../train/activations';
import { rowNorm } from '../../backend/fusedOps';
import type { TrainSAEConfig } from '../../train/config';

/** relu(pre) * [pre > threshold]. pre [n, d_sae], threshold [d_sae] */
export function jumpReluMask(pre: tf.Tensor2D, threshold: tf.Tensor): tf.Tensor2D {
  return tf.mul(tf.relu(pre), tf.cast(tf.greater(pre, threshold), 'float32')) as tf.Tensor2D;
}

/** The JumpReLU training fields and their defaults (SAELens 6: JumpReLUTrainingSAEConfig; SAELens 5: the runner's). */
export const JUMPRELU_DEFAULTS: TrainingArchitecture['defaults'] = {
  saelens6: { l0Coefficient: 1, l0WarmUpSteps: 0, jumpreluBandwidth: 0.05, jumpreluInitThreshold: 0.01, jumpreluSparsityLossMode: 'step', jumpreluTanhScale: 4, preActLossCoefficient: null },
  saelens5: { l0Coefficient: 1, l0WarmUpSteps: 0, jumpreluBandwidth: 0.001, jumpreluInitThreshold: 0.001, jumpreluSparsityLossMode: 'step', jumpreluTanhScale: 4, preActLossCoefficient: null },
};

/** Checks of the JumpReLU training fields. */
export function validateJumpRelu(cfg: TrainSAEConfig, fail: (msg: string) => never): void {
  if (!((cfg.jumpreluInitThreshold as number) > 0 && (cfg.jumpreluBandwidth as number) > 0)) fail('jumpreluInitThreshold and jumpreluBandwidth must be > 0');
  if (cfg.jumpreluSparsityLossMode !== 'step' && cfg.jumpreluSparsityLossMode !== 'tanh') fail(`jumpreluSparsityLossMode must be "step" or "tanh", got ${JSON.stringify(cfg.jumpreluSparsityLossMode)}`);
  if (cfg.preActLossCoefficient !== null && cfg.preActLossCoefficient !== undefined && !(cfg.preActLossCoefficient >= 0)) fail(`preActLossCoefficient must be >= 0 or null, got ${cfg.preActLossCoefficient}`);
}

/** The JumpReLU training forward pass and losses, decoding with `decode` (W_dec [d_sae, d_out]). */
export function jumpReluForward(cfg: TrainSAEConfig, p: Weights, inp: TrainStepInput): TrainStepOutput {
  const bandwidth = cfg.jumpreluBandwidth as number;
  const pre = encoderPre(cfg, p, inp.x, inp.noise);
  const acts = jumpReLU(pre, tf.exp(p.log_threshold) as tf.Tensor1D, bandwidth);
  const saeOut = linearDecode(p, acts);
  const { mse } = reconstructionLoss(saeOut, inp.target);
  const losses: Record<string, tf.Scalar> = { mse_loss: mse };
  if (cfg.jumpreluSparsityLossMode === 'tanh') {
    const perItem = tf.sum(tf.tanh(tf.mul(tf.mul(acts, cfg.jumpreluTanhScale as number), rowNorm(p.W_dec as tf.Tensor2D))), 1);
    losses.l0_loss = tf.mul(tf.mean(perItem), inp.coefficients.l0);
  } else {
    const l0 = tf.sum(stepFunction(pre, tf.exp(p.log_threshold) as tf.Tensor1D, bandwidth), 1);
    losses.l0_loss = tf.mul(tf.mean(l0), inp.coefficients.l0);
  }
  if (cfg.preActLossCoefficient !== null && cfg.preActLossCoefficient !== undefined && inp.dead && inp.dead.count > 0) {
    // Anthropic's pre-activation loss, on dead features only (SAELens calculate_pre_act_loss)
    const perItem = tf.sum(tf.mul(tf.mul(tf.relu(tf.sub(tf.exp(p.log_threshold), pre)), inp.dead.mask), rowNorm(p.W_dec as tf.Tensor2D)), 1);
    losses.pre_act_loss = tf.mul(tf.mean(perItem), cfg.preActLossCoefficient);
  }
  return { losses, featureActs: acts, saeOut };
}

export const jumpreluInference: InferenceArchitecture = {
  target: 'input',
  weightShapes: (cfg) => ({ ...linearWeightShapes(cfg), threshold: [cfg.d_sae] }),
  encode: (_cfg, w, xIn) => jumpReluMask(linear(xIn, w.W_enc, w.b_enc), w.threshold),
  decode: (_cfg, w, f) => decodeLinear(f, w.W_dec, w.b_dec),
  foldDecoderNorms: (_cfg, w) => foldNorms(w, ['b_enc', 'threshold']),
};

export const jumpreluTraining: TrainingArchitecture = {
  target: 'input',
  defaults: JUMPRELU_DEFAULTS,
  validate: validateJumpRelu,
  initParams(cfg, init) {
    return { ...linearParams(init), log_threshold: tf.fill([init.W_enc.shape[1]], Math.log(cfg.jumpreluInitThreshold as number)) };
  },
  coefficients: { l0: { value: 'l0Coefficient', warmUp: 'l0WarmUpSteps' } },
  usesDeadFeatures: (cfg) => cfg.preActLossCoefficient !== null && cfg.preActLossCoefficient !== undefined,
  forward: jumpReluForward,
  export: (_cfg, p, _state, scale) => ({ config: { architecture: 'jumprelu' }, weights: scaledWeights(p, scale) }),
};

export const jumprelu: Architecture = {
  name: 'jumprelu',
  summary: 'relu(pre) * [pre > threshold] with a learned per-feature threshold, trained with an L0 (step) or tanh penalty',
  inference: jumpreluInference,
  training: jumpreluTraining,
};
