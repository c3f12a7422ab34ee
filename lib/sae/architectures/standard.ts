/** SAELens `standard`: ReLU encoder, linear decoder; trained with an L1 penalty (SAELens StandardSAE / StandardTrainingSAE). */
import * as tf from '@tensorflow/tfjs';
import { Architecture, TrainingArchitecture, InferenceArchitecture } from './types';
import { decodeLinear, foldNorms, linear } from './ops';
import { fusedSaeTrainingLoss } from '../../backend/fusedOps';
import { encoderPre, ghostGradLoss, linearDecode, reconstructionLoss, scaledWeights, sparsityPenalty } from './trainingParts';

/** W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in]: the tensors of standard, topk and (with threshold) jumprelu. */
export function linearWeightShapes(cfg: { d_in: number; d_sae: number }): Record<string, number[]> {
  return { W_enc: [cfg.d_in, cfg.d_sae], W_dec: [cfg.d_sae, cfg.d_in], b_enc: [cfg.d_sae], b_dec: [cfg.d_in] };
}

/** The encoder/decoder parameters W_enc, b_enc (zeros), W_dec, b_dec (zeros), in the trainer's order. */
export function linearParams(init: { W_enc: tf.Tensor2D; W_dec: tf.Tensor2D }): Record<string, tf.Tensor> {
  return { W_enc: init.W_enc.clone(), b_enc: tf.zeros([init.W_enc.shape[1]]), W_dec: init.W_dec.clone(), b_dec: tf.zeros([init.W_dec.shape[1]]) };
}

/** The L1 training fields and their defaults (SAELens 6: StandardTrainingSAEConfig; SAELens 5: the runner's). */
export const L1_DEFAULTS: TrainingArchitecture['defaults'] = {
  saelens6: { l1Coefficient: 1, l1WarmUpSteps: 0, lpNorm: 1, scaleSparsityPenaltyByDecoderNorm: true },
  saelens5: { l1Coefficient: 1e-3, l1WarmUpSteps: 0, lpNorm: 1, scaleSparsityPenaltyByDecoderNorm: false },
};

export const standardInference: InferenceArchitecture = {
  target: 'input',
  weightShapes: linearWeightShapes,
  encode: (_cfg, w, xIn) => linear(xIn, w.W_enc, w.b_enc, 'relu'),
  decode: (_cfg, w, f) => decodeLinear(f, w.W_dec, w.b_dec),
  foldDecoderNorms: (_cfg, w) => foldNorms(w, ['b_enc']),
};

export const standardTraining: TrainingArchitecture = {
  target: 'input',
  defaults: L1_DEFAULTS,
  validate(cfg, fail) {
    if (cfg.lpNorm !== 1 && cfg.lpNorm !== 2) fail(`lpNorm must be 1 or 2, got ${cfg.lpNorm}`);
  },
  initParams: (_cfg, init) => linearParams(init),
  coefficients: { l1: { value: 'l1Coefficient', warmUp: 'l1WarmUpSteps' } },
  usesDeadFeatures: (cfg) => cfg.useGhostGrads,
  forward(cfg, p, inp) {
    if ((cfg.lpNorm ?? 1) === 1 && inp.target === inp.x && !(cfg.useGhostGrads && inp.dead && inp.dead.count > 0)) {
      // forward and backward in two native calls where the backend has them (the same loss and gradients)
      const f = fusedSaeTrainingLoss({
        x: inp.x, W_enc: p.W_enc as tf.Tensor2D, b_enc: p.b_enc as tf.Tensor1D, W_dec: p.W_dec as tf.Tensor2D, b_dec: p.b_dec as tf.Tensor1D, noise: inp.noise,
        l1Coefficient: inp.coefficients.l1, applyBDecToInput: cfg.applyBDecToInput, scaleByDecoderNorm: cfg.scaleSparsityPenaltyByDecoderNorm ?? false,
      });
      if (f) return { loss: f.loss, losses: { mse_loss: f.mse, l1_loss: f.l1 }, featureActs: f.featureActs, saeOut: f.saeOut };
    }
    const pre = encoderPre(cfg, p, inp.x, inp.noise);
    const acts = tf.relu(pre) as tf.Tensor2D;
    const saeOut = linearDecode(p, acts);
    const { perItemMse, mse } = reconstructionLoss(saeOut, inp.target);
    const losses: Record<string, tf.Scalar> = { mse_loss: mse };
    losses.l1_loss = sparsityPenalty(cfg, acts, p.W_dec, inp.coefficients.l1);
    if (cfg.useGhostGrads && inp.dead && inp.dead.count > 0) {
      losses.ghost_grad_loss = ghostGradLoss(inp.target, saeOut, perItemMse, pre, inp.dead.mask, p.W_dec as tf.Tensor2D);
    }
    return { losses, featureActs: acts, saeOut };
  },
  export: (_cfg, p, _state, scale) => ({ config: { architecture: 'standard' }, weights: scaledWeights(p, scale) }),
};

export const standard: Architecture = {
  name: 'standard',
  summary: 'ReLU encoder and linear decoder, trained with an L1 penalty on the activations',
  inference: standardInference,
  training: standardTraining,
};
