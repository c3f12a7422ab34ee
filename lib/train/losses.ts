import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { SAEParams } from './params';
import { TrainStepInput, TrainStepOutput, trainingArchitecture } from '../sae/architectures';

export { ghostGradLoss, topkAuxLoss, sparsityPenalty, reconstructionLoss } from '../sae/architectures/trainingParts';
export type { TrainStepInput } from '../sae/architectures';

/** What one training forward pass needs besides the parameters (the architecture's TrainStepInput). */
export type StepInputs = TrainStepInput;

/** The taped results of a training forward pass. */
export interface StepOutputs extends TrainStepOutput {
  /** scalar total loss: the sum of `losses` in order */
  loss: tf.Scalar;
}

/**
 * SAELens's training forward pass and losses for one batch (call inside tf.variableGrads): the
 * architecture's encode, decode and loss terms (lib/sae/architectures), MSE first, summed in order.
 */
export function trainingForward(cfg: TrainSAEConfig, p: SAEParams, inp: StepInputs): StepOutputs {
  const out = trainingArchitecture(cfg.architecture).forward(cfg, p, inp);
  // an architecture that computes the loss fused (forward and backward natively) gives it; else the terms' sum
  const loss = out.loss ?? (tf.addN(Object.values(out.losses)) as tf.Scalar);
  return { ...out, loss };
}

/** Explained variance, corrected SAELens formula: 1 - mean_tokens |x - x^|^2 / mean_tokens |x - mean(x)|^2. */
export function explainedVariance(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const resid = tf.mean(tf.sum(tf.square(tf.sub(x, xHat)), 1));
    const total = tf.mean(tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true))), 1));
    return tf.sub(1, tf.div(resid, total));
  });
}
