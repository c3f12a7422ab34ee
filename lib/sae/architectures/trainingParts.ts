/**
 * Pieces of SAELens's training forward passes that several architectures share: the encoder
 * pre-activation, the linear decoder, the reconstruction loss, the L1 penalty, ghost grads, the TopK
 * auxiliary loss and the export of trained weights with the activation scaling factor folded in.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainSAEConfig } from '../../train/config';
import { rowNorm } from '../../backend/fusedOps';
import { deadTopkActivation, stopGradient } from '../../train/activations';
import { foldNorms, Weights } from './ops';

/** sae_in = x - b_dec (when applyBDecToInput); pre = sae_in W_enc + bias (+ noise). [batch, d_in] -> [batch, d_sae] */
export function encoderPre(cfg: TrainSAEConfig, p: Weights, x: tf.Tensor2D, noise: tf.Tensor2D | undefined, bias = 'b_enc'): tf.Tensor2D {
  const saeIn = cfg.applyBDecToInput ? tf.sub(x, p.b_dec) : x;
  let pre = tf.add(tf.matMul(saeIn, p.W_enc as tf.Tensor2D), p[bias]) as tf.Tensor2D;
  if (noise) pre = tf.add(pre, noise);
  return pre;
}

/** acts W_dec + b_dec. [batch, d_sae] -> [batch, d_out] */
export function linearDecode(p: Weights, acts: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(acts, p.W_dec as tf.Tensor2D), p.b_dec) as tf.Tensor2D;
}

/** Per-element squared error [batch, d_out] and mse_loss = mean over tokens of its sum over d_out. */
export function reconstructionLoss(saeOut: tf.Tensor2D, target: tf.Tensor2D): { perItemMse: tf.Tensor2D; mse: tf.Scalar } {
  const perItemMse = tf.square(tf.sub(saeOut, target)) as tf.Tensor2D;
  return { perItemMse, mse: tf.mean(tf.sum(perItemMse, 1)) };
}

/** mean over tokens of the sum over d of (a - b)^2 */
export function mseSumMean(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.sum(tf.square(tf.sub(a, b)), 1));
}

/**
 * L1 (lpNorm 1) or L2 norm over features of the activations (weighted by the decoder row norms when
 * scaleSparsityPenaltyByDecoderNorm), mean over tokens, times the coefficient. acts >= 0.
 */
export function sparsityPenalty(cfg: TrainSAEConfig, acts: tf.Tensor2D, W_dec: tf.Tensor, coefficient: number): tf.Scalar {
  const weighted = cfg.scaleSparsityPenaltyByDecoderNorm ? tf.mul(acts, rowNorm(W_dec as tf.Tensor2D)) : acts;
  // acts >= 0, so the L1 norm is the plain sum
  const sparsity = (cfg.lpNorm ?? 1) === 1 ? tf.sum(weighted, 1) : tf.sqrt(tf.sum(tf.square(weighted), 1));
  return tf.mul(tf.mean(sparsity), coefficient);
}

/**
 * Ghost grads (SAELens 5): r = x - x^; g = exp(pre[:, dead]) W_dec[dead]; g *= |r| / (2|g| + 1e-6) (detached);
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
 * TopK auxiliary loss (SAELens, after EleutherAI): the top k_aux = d_in / 2 dead latents of the
 * pre-activations reconstruct the detached residual through the SAE's decoder; scaled by
 * min(n_dead / k_aux, 1) (the caller multiplies by its coefficient).
 */
export function topkAuxLoss(target: tf.Tensor2D, saeOut: tf.Tensor2D, pre: tf.Tensor2D, dead: { mask: tf.Tensor1D; count: number }, decode: (acts: tf.Tensor2D) => tf.Tensor2D, dIn: number): tf.Scalar {
  const residual = stopGradient(tf.sub(target, saeOut));
  let kAux = Math.floor(dIn / 2);
  const scale = Math.min(dead.count / kAux, 1);
  kAux = Math.min(kAux, dead.count);
  const auxActs = deadTopkActivation(pre, dead.mask, kAux);
  const recons = decode(auxActs);
  return tf.mul(mseSumMean(recons, residual as tf.Tensor2D), scale);
}

/**
 * Trained weights for inference with the activation scaling factor s folded in (SAELens
 * fold_activation_norm_scaling_factor: W_enc * s, W_dec / s, b_dec / s); other parameters are copied
 * (log_threshold becomes threshold = exp(log_threshold)). New tensors; the caller disposes them.
 */
export function scaledWeights(p: Weights, scale: number): Weights {
  return tf.tidy(() => {
    const w: Weights = {};
    for (const [name, v] of Object.entries(p)) {
      if (name === 'W_enc') w.W_enc = scale === 1 ? tf.clone(v) : tf.mul(v, scale);
      else if (name === 'W_dec' || name === 'b_dec') w[name] = scale === 1 ? tf.clone(v) : tf.div(v, scale);
      else if (name === 'log_threshold') w.threshold = tf.exp(v);
      else w[name] = tf.clone(v);
    }
    return w;
  });
}

/** scaledWeights, then SAELens's TopK inference fold when rescaleActsByDecoderNorm (W_dec unit rows; W_enc, b_enc times the norms). */
export function scaledFoldedWeights(cfg: TrainSAEConfig, p: Weights, scale: number): Weights {
  const w = scaledWeights(p, scale);
  if (!cfg.rescaleActsByDecoderNorm) return w;
  const folded = foldNorms(w, ['b_enc']);
  for (const name of Object.keys(w)) if (folded[name] !== w[name]) w[name].dispose();
  return folded;
}
