import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { SAEParams } from './params';
import { fusedSaeTrainingLoss, rowNorm } from '../backend/fusedOps';
import { deadTopkActivation, jumpReLU, stepFunction, stopGradient, topkActivation } from './activations';

/** What one training forward pass needs besides the parameters. */
export interface StepInputs {
  /** [batch, d_in] */
  x: tf.Tensor2D;
  /** coefficient of the sparsity penalty at this step (L1 for standard, L0 for jumprelu) */
  sparsityCoefficient: number;
  /** [d_sae] 1 for dead features, with their count; undefined when none are dead */
  dead?: { mask: tf.Tensor1D; count: number };
  /** [batch, d_sae] gaussian noise (already scaled) added to the pre-activations, when noiseScale > 0 */
  noise?: tf.Tensor2D;
}

/** The taped results of a training forward pass. */
export interface StepOutputs {
  /** scalar total loss */
  loss: tf.Scalar;
  /** named scalar parts: mse_loss, l1_loss | l0_loss, ghost_grad_loss, auxiliary_reconstruction_loss */
  losses: Record<string, tf.Scalar>;
  /** [batch, d_sae] */
  featureActs: tf.Tensor2D;
  /** [batch, d_in] */
  saeOut: tf.Tensor2D;
}

/** sum over d_in, mean over tokens of (a - b)^2 */
function mseSumMean(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.sum(tf.square(tf.sub(a, b)), 1));
}

/**
 * SAELens's training forward pass and losses for one batch (call inside tf.variableGrads):
 * sae_in = x - b_dec (if applyBDecToInput); pre = sae_in W_enc + b_enc (+ noise); acts by architecture;
 * x^ = acts W_dec + b_dec; MSE = mean_tokens sum_d (x^ - x)^2; plus the architecture's sparsity / aux terms.
 */
export function trainingForward(cfg: TrainSAEConfig, p: SAEParams, inp: StepInputs): StepOutputs {
  const { x } = inp;
  if (cfg.architecture === 'standard' && cfg.lpNorm === 1 && !(cfg.useGhostGrads && inp.dead && inp.dead.count > 0)) {
    // forward and backward in two native calls where the backend has them (same loss, same gradients)
    const f = fusedSaeTrainingLoss({
      x, W_enc: p.W_enc, b_enc: p.b_enc, W_dec: p.W_dec, b_dec: p.b_dec, noise: inp.noise, l1Coefficient: inp.sparsityCoefficient,
      applyBDecToInput: cfg.applyBDecToInput, scaleByDecoderNorm: cfg.scaleSparsityPenaltyByDecoderNorm,
    });
    if (f) return { loss: f.loss, losses: { mse_loss: f.mse, l1_loss: f.l1 }, featureActs: f.featureActs, saeOut: f.saeOut };
  }
  const saeIn = cfg.applyBDecToInput ? tf.sub(x, p.b_dec) : x;
  let pre = tf.add(tf.matMul(saeIn, p.W_enc), p.b_enc) as tf.Tensor2D;
  if (inp.noise) pre = tf.add(pre, inp.noise);
  const losses: Record<string, tf.Scalar> = {};
  let acts: tf.Tensor2D;
  if (cfg.architecture === 'standard') acts = tf.relu(pre);
  else if (cfg.architecture === 'topk') acts = topkActivation(pre, cfg.k!);
  else acts = jumpReLU(pre, tf.exp(p.log_threshold!) as tf.Tensor1D, cfg.jumpreluBandwidth);
  const saeOut = tf.add(tf.matMul(acts, p.W_dec), p.b_dec) as tf.Tensor2D;
  const perItemMse = tf.square(tf.sub(saeOut, x)) as tf.Tensor2D; // [batch, d_in]
  losses.mse_loss = tf.mean(tf.sum(perItemMse, 1));

  if (cfg.architecture === 'standard') {
    const weighted = cfg.scaleSparsityPenaltyByDecoderNorm ? tf.mul(acts, rowNorm(p.W_dec)) : acts;
    // acts >= 0, so the L1 norm is the plain sum
    const sparsity = cfg.lpNorm === 1 ? tf.sum(weighted, 1) : tf.sqrt(tf.sum(tf.square(weighted), 1));
    losses.l1_loss = tf.mul(tf.mean(sparsity), inp.sparsityCoefficient);
    if (cfg.useGhostGrads && inp.dead && inp.dead.count > 0) {
      losses.ghost_grad_loss = ghostGradLoss(x, saeOut, perItemMse, pre, inp.dead.mask, p.W_dec);
    }
  } else if (cfg.architecture === 'topk') {
    if (cfg.auxCoefficient > 0 && inp.dead && inp.dead.count > 0) {
      losses.auxiliary_reconstruction_loss = tf.mul(topkAuxLoss(x, saeOut, pre, inp.dead, p), cfg.auxCoefficient);
    }
  } else {
    const l0 = tf.sum(stepFunction(pre, tf.exp(p.log_threshold!) as tf.Tensor1D, cfg.jumpreluBandwidth), 1);
    losses.l0_loss = tf.mul(tf.mean(l0), inp.sparsityCoefficient);
  }
  const loss = tf.addN(Object.values(losses)) as tf.Scalar;
  return { loss, losses, featureActs: acts, saeOut };
}

/**
 * Ghost grads (SAELens): r = x - x^; g = exp(pre[:, dead]) W_dec[dead]; g *= |r| / (2|g| + 1e-6) (detached);
 * loss = mean over tokens and d_in of mse(g, r.detach()) * (mse(x^, x) / (mse(g, r) + 1e-6)).detach().
 * Dead columns are selected by masking (live pre-activations -> -inf, so exp gives 0).
 */
export function ghostGradLoss(x: tf.Tensor2D, saeOut: tf.Tensor2D, perItemMse: tf.Tensor2D, pre: tf.Tensor2D, deadMask: tf.Tensor1D, W_dec: tf.Tensor2D): tf.Scalar {
  const residual = tf.sub(x, saeOut);
  const l2Residual = tf.norm(residual, 'euclidean', 1);
  const deadPre = tf.where(tf.broadcastTo(tf.cast(deadMask, 'bool'), pre.shape), pre, tf.fill(pre.shape, -Infinity));
  let ghostOut = tf.matMul(tf.exp(deadPre), W_dec) as tf.Tensor2D;
  const l2Ghost = tf.norm(ghostOut, 'euclidean', 1);
  const scale = stopGradient(tf.div(l2Residual, tf.add(tf.mul(l2Ghost, 2), 1e-6)));
  ghostOut = tf.mul(ghostOut, tf.expandDims(scale, 1));
  const perItemGhost = tf.square(tf.sub(ghostOut, stopGradient(residual)));
  const rescale = stopGradient(tf.div(perItemMse, tf.add(perItemGhost, 1e-6)));
  return tf.mean(tf.mul(rescale, perItemGhost));
}

/**
 * TopK auxiliary loss (SAELens, after EleutherAI): the top k_aux = d_in / 2 dead latents reconstruct the
 * detached residual; scaled by min(n_dead / k_aux, 1).
 */
export function topkAuxLoss(x: tf.Tensor2D, saeOut: tf.Tensor2D, pre: tf.Tensor2D, dead: { mask: tf.Tensor1D; count: number }, p: SAEParams): tf.Scalar {
  const residual = stopGradient(tf.sub(x, saeOut));
  let kAux = Math.floor(x.shape[1] / 2);
  const scale = Math.min(dead.count / kAux, 1);
  kAux = Math.min(kAux, dead.count);
  const auxActs = deadTopkActivation(pre, dead.mask, kAux);
  const recons = tf.add(tf.matMul(auxActs, p.W_dec), p.b_dec) as tf.Tensor2D;
  return tf.mul(mseSumMean(recons, residual as tf.Tensor2D), scale);
}

/** Explained variance, corrected SAELens formula: 1 - mean_tokens |x - x^|^2 / mean_tokens |x - mean(x)|^2. */
export function explainedVariance(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const resid = tf.mean(tf.sum(tf.square(tf.sub(x, xHat)), 1));
    const total = tf.mean(tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true))), 1));
    return tf.sub(1, tf.div(resid, total));
  });
}
