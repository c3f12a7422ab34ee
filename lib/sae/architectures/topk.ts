/**
 * SAELens `topk`: keep each token's k largest pre-activations (relu'd), optionally choosing and decoding
 * with the activations scaled by the decoder row norms (rescale_acts_by_decoder_norm; SAELens TopKSAE).
 * Trained with the AuxK loss on dead features (SAELens TopKTrainingSAE); SAELens 6 trains with
 * rescale_acts_by_decoder_norm and folds the norms into the saved weights.
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture, ArchitectureField, InferenceArchitecture, TrainingArchitecture, TrainStepInput, TrainStepOutput, Weights } from './types';
import { decodeLinear, decoderNorms, foldNorms, linear, topkActivation } from './ops';
import { encoderPre, reconstructionLoss, scaledFoldedWeights, topkAuxLoss } from './trainingParts';
import { linearParams, linearWeightShapes } from './standard';
import { topkActivation as topkTrainingActivation } from '../../train/activations';
import { rowNorm } from '../../backend/fusedOps';
import type { TrainSAEConfig } from '../../train/config';

/** TopKSAEConfig's fields: k (default 100) and rescale_acts_by_decoder_norm (default false). */
export const TOPK_FIELDS: ArchitectureField[] = [
  { name: 'k', default: 100, type: 'number' },
  { name: 'rescale_acts_by_decoder_norm', default: false, type: 'boolean' },
];

/** The TopK training fields and their defaults (SAELens 6: TopKTrainingSAEConfig; SAELens 5: k required, no rescaling). */
export const TOPK_DEFAULTS: TrainingArchitecture['defaults'] = {
  saelens6: { k: 100, auxCoefficient: 1, rescaleActsByDecoderNorm: true },
  saelens5: { auxCoefficient: 1, rescaleActsByDecoderNorm: false },
};

/** The decoder of the TopK family in training: (acts / |W_dec rows| when rescaling) W_dec + b_dec. */
export function topkDecode(cfg: TrainSAEConfig, p: Weights, acts: tf.Tensor2D, invNorm?: tf.Tensor1D): tf.Tensor2D {
  const a = cfg.rescaleActsByDecoderNorm ? tf.mul(acts, invNorm ?? tf.div(1, rowNorm(p.W_dec as tf.Tensor2D))) as tf.Tensor2D : acts;
  return tf.add(tf.matMul(a, p.W_dec as tf.Tensor2D), p.b_dec) as tf.Tensor2D;
}

/**
 * The TopK-family training forward pass with `activation` choosing the active features from the
 * (rescaled) pre-activations: MSE plus the AuxK loss on dead features.
 */
export function topkFamilyForward(cfg: TrainSAEConfig, p: Weights, inp: TrainStepInput, activation: (pre: tf.Tensor2D) => tf.Tensor2D): TrainStepOutput & { invNorm?: tf.Tensor1D } {
  let pre = encoderPre(cfg, p, inp.x, inp.noise);
  const invNorm = cfg.rescaleActsByDecoderNorm ? tf.div(1, rowNorm(p.W_dec as tf.Tensor2D)) as tf.Tensor1D : undefined;
  if (cfg.rescaleActsByDecoderNorm) pre = tf.mul(pre, rowNorm(p.W_dec as tf.Tensor2D)) as tf.Tensor2D;
  const acts = activation(pre);
  const decode = (a: tf.Tensor2D) => topkDecode(cfg, p, a, invNorm);
  const saeOut = decode(acts);
  const { mse } = reconstructionLoss(saeOut, inp.target);
  const losses: Record<string, tf.Scalar> = { mse_loss: mse };
  const aux = cfg.auxCoefficient as number;
  if (aux > 0 && inp.dead && inp.dead.count > 0) {
    losses.auxiliary_reconstruction_loss = tf.mul(topkAuxLoss(inp.target, saeOut, pre, inp.dead, decode, inp.x.shape[1]), aux);
  }
  return { losses, featureActs: acts, saeOut, invNorm };
}

/** Checks of the TopK training fields (k a positive integer when `integerK`, at most dSae). */
export function validateTopk(cfg: TrainSAEConfig, fail: (msg: string) => never, integerK = true): void {
  if (cfg.k === undefined || cfg.k === null) fail(`architecture ${cfg.architecture} needs k (active features per token)`);
  if (integerK ? !(Number.isInteger(cfg.k) && (cfg.k as number) > 0) : !((cfg.k as number) > 0)) fail(`k must be a positive ${integerK ? 'integer' : 'number'}, got ${cfg.k}`);
  if ((cfg.k as number) > cfg.dSae) fail(`k (${cfg.k}) must not exceed dSae (${cfg.dSae})`);
  if (!((cfg.auxCoefficient as number) >= 0)) fail(`auxCoefficient must be >= 0, got ${cfg.auxCoefficient}`);
}

export const topkInference: InferenceArchitecture = {
  target: 'input',
  fields: TOPK_FIELDS,
  pre6: { activationFn: 'topk', fields: (kwargs) => (kwargs.k !== undefined && kwargs.k !== null ? { k: kwargs.k } : undefined) },
  validate(cfg, fail) {
    if (!Number.isSafeInteger(cfg.k) || (cfg.k as number) <= 0) fail(`topk needs a positive integer k, got ${JSON.stringify(cfg.k)}`);
    if ((cfg.k as number) > cfg.d_sae) fail(`topk k=${cfg.k} exceeds d_sae=${cfg.d_sae}`);
  },
  weightShapes: linearWeightShapes,
  encode(cfg, w, xIn) {
    let pre = linear(xIn, w.W_enc, w.b_enc);
    if (cfg.rescale_acts_by_decoder_norm) pre = tf.mul(pre, decoderNorms(w.W_dec));
    return topkActivation(pre, (cfg.k as number | undefined) ?? 100);
  },
  decode(cfg, w, f) {
    const acts = cfg.rescale_acts_by_decoder_norm ? tf.div(f, decoderNorms(w.W_dec)) as tf.Tensor2D : f;
    return decodeLinear(acts, w.W_dec, w.b_dec);
  },
  foldDecoderNorms(cfg, w) {
    if (!cfg.rescale_acts_by_decoder_norm) {
      throw new Error('foldWDecNorm: folding decoder norms into a topk SAE without rescale_acts_by_decoder_norm would change which features are in the top k (SAELens refuses too)');
    }
    return foldNorms(w, ['b_enc']);
  },
};

export const topkTraining: TrainingArchitecture = {
  target: 'input',
  defaults: TOPK_DEFAULTS,
  validate: (cfg, fail) => validateTopk(cfg, fail),
  initParams: (_cfg, init) => linearParams(init),
  coefficients: {},
  usesDeadFeatures: (cfg) => (cfg.auxCoefficient as number) > 0,
  forward(cfg, p, inp) {
    const { losses, featureActs, saeOut } = topkFamilyForward(cfg, p, inp, (pre) => topkTrainingActivation(pre, cfg.k as number));
    return { losses, featureActs, saeOut };
  },
  export: (cfg, p, _state, scale) => ({
    config: { architecture: 'topk', k: cfg.k, rescale_acts_by_decoder_norm: Boolean(cfg.rescaleActsByDecoderNorm) },
    weights: scaledFoldedWeights(cfg, p, scale),
  }),
};

export const topk: Architecture = {
  name: 'topk',
  summary: "each token's k largest pre-activations, trained with the AuxK loss on dead features",
  inference: topkInference,
  training: topkTraining,
};
