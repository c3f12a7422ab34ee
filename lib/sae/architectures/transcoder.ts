/**
 * SAELens `transcoder`: reads one hook (metadata.hook_name, width d_in) and predicts another
 * (metadata.hook_name_out, width d_out) through a ReLU dictionary: relu(x W_enc + b_enc) W_dec + b_dec.
 * As in SAELens, the input is not centred by b_dec (apply_b_dec_to_input must be false), and the
 * output is neither de-normalised nor reshaped. Trained on (input hook, output hook) pairs like a
 * standard SAE (MSE against the output hook plus the L1 penalty).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture, ArchitectureField, Fail, InferenceArchitecture, TrainingArchitecture, TrainStepInput, TrainStepOutput, Weights } from './types';
import { decodeLinear, foldNorms, linear } from './ops';
import { encoderPre, ghostGradLoss, linearDecode, reconstructionLoss, scaledWeights, sparsityPenalty } from './trainingParts';
import { L1_DEFAULTS, linearParams } from './standard';
import type { SAEConfig } from '../config';
import type { TrainSAEConfig } from '../../train/config';

/** TranscoderConfig's field d_out (SAELens's dataclass default 768). */
export const TRANSCODER_FIELDS: ArchitectureField[] = [{ name: 'd_out', default: 768, type: 'number' }];

/** W_enc [d_in, d_sae], W_dec [d_sae, d_out], b_enc [d_sae], b_dec [d_out]. */
export function transcoderWeightShapes(cfg: SAEConfig): Record<string, number[]> {
  const dOut = cfg.d_out as number;
  return { W_enc: [cfg.d_in, cfg.d_sae], W_dec: [cfg.d_sae, dOut], b_enc: [cfg.d_sae], b_dec: [dOut] };
}

/** Checks every transcoder config gets: a positive integer d_out and no b_dec on the input. */
export function validateTranscoder(cfg: SAEConfig, fail: Fail): void {
  if (!Number.isSafeInteger(cfg.d_out) || (cfg.d_out as number) <= 0) fail(`${cfg.architecture} needs d_out, the width of the output hook, as a positive integer; got ${JSON.stringify(cfg.d_out)}`);
  if (cfg.apply_b_dec_to_input) fail(`apply_b_dec_to_input is not supported for transcoders (b_dec has the output's width); set it to false`);
}

/** Checks of a transcoder training config. */
export function validateTranscoderTraining(cfg: TrainSAEConfig, fail: Fail): void {
  if (!Number.isSafeInteger(cfg.dOut) || (cfg.dOut as number) <= 0) fail(`${cfg.architecture} needs dOut, the width of the output hook (train on paired (input, output) activations)`);
  if (cfg.applyBDecToInput) fail('applyBDecToInput must be false for transcoders (b_dec has the output\'s width)');
  if (cfg.normalizeActivations !== 'none') fail(`normalizeActivations '${cfg.normalizeActivations}' is not supported for transcoders; use 'none'`);
}

/** The ReLU transcoder training forward pass: MSE against the target, L1 (and ghost grads); W_skip adds x W_skip^T. */
export function transcoderForward(cfg: TrainSAEConfig, p: Weights, inp: TrainStepInput): TrainStepOutput {
  const pre = encoderPre(cfg, p, inp.x, inp.noise);
  const acts = tf.relu(pre) as tf.Tensor2D;
  let saeOut = linearDecode(p, acts);
  if (p.W_skip) saeOut = tf.add(saeOut, tf.matMul(inp.x, p.W_skip as tf.Tensor2D, false, true)) as tf.Tensor2D;
  const { perItemMse, mse } = reconstructionLoss(saeOut, inp.target);
  const losses: Record<string, tf.Scalar> = { mse_loss: mse };
  losses.l1_loss = sparsityPenalty(cfg, acts, p.W_dec, inp.coefficients.l1);
  if (cfg.useGhostGrads && inp.dead && inp.dead.count > 0) {
    losses.ghost_grad_loss = ghostGradLoss(inp.target, saeOut, perItemMse, pre, inp.dead.mask, p.W_dec as tf.Tensor2D);
  }
  return { losses, featureActs: acts, saeOut };
}

/** Defaults of a transcoder's training fields: the given activation's, with no b_dec on the input. */
export function transcoderDefaults(base: TrainingArchitecture['defaults']): TrainingArchitecture['defaults'] {
  return { saelens6: { ...base.saelens6, applyBDecToInput: false }, saelens5: { ...base.saelens5, applyBDecToInput: false } };
}

/** The inference config fields a trained transcoder is saved with. */
export function transcoderExportConfig(cfg: TrainSAEConfig): { architecture: string; d_out: number; apply_b_dec_to_input: boolean } {
  return { architecture: cfg.architecture, d_out: cfg.dOut as number, apply_b_dec_to_input: false };
}

export const transcoderInference: InferenceArchitecture = {
  target: 'output',
  fields: TRANSCODER_FIELDS,
  validate: validateTranscoder,
  weightShapes: transcoderWeightShapes,
  encode: (_cfg, w, xIn) => linear(xIn, w.W_enc, w.b_enc, 'relu'),
  decode: (_cfg, w, f) => decodeLinear(f, w.W_dec, w.b_dec),
  foldDecoderNorms: (_cfg, w) => foldNorms(w, ['b_enc']),
};

export const transcoderTraining: TrainingArchitecture = {
  target: 'output',
  defaults: transcoderDefaults(L1_DEFAULTS),
  validate(cfg, fail) {
    validateTranscoderTraining(cfg, fail);
    if (cfg.lpNorm !== 1 && cfg.lpNorm !== 2) fail(`lpNorm must be 1 or 2, got ${cfg.lpNorm}`);
  },
  initParams: (_cfg, init) => linearParams(init),
  coefficients: { l1: { value: 'l1Coefficient', warmUp: 'l1WarmUpSteps' } },
  usesDeadFeatures: (cfg) => cfg.useGhostGrads,
  forward: transcoderForward,
  export: (cfg, p) => ({ config: transcoderExportConfig(cfg), weights: scaledWeights(p, 1) }),
};

export const transcoder: Architecture = {
  name: 'transcoder',
  summary: 'reads hook_name and predicts hook_name_out (d_out wide) through a ReLU dictionary',
  inference: transcoderInference,
  training: transcoderTraining,
};
