/**
 * SAELens `gated`: a gate path [x~ W_enc + b_gate > 0] times a magnitude path relu(x~ (W_enc * exp(r_mag)) + b_mag)
 * (SAELens GatedSAE / GatedTrainingSAE: L1 on relu of the gate pre-activations weighted by the decoder norms,
 * plus an auxiliary reconstruction from the gate path).
 */
import * as tf from '@tensorflow/tfjs';
import { Architecture } from './types';
import { decodeLinear, foldNorms, linear } from './ops';
import { linearDecode, reconstructionLoss, scaledWeights, mseSumMean } from './trainingParts';
import { rowNorm } from '../../backend/fusedOps';
import { heaviside } from '../../train/activations';

export const gated: Architecture = {
  name: 'gated',
  summary: 'gate path decides which features fire, a magnitude path sharing W_enc (scaled by exp(r_mag)) how strongly',
  inference: {
    target: 'input',
    weightShapes: (cfg) => ({ W_enc: [cfg.d_in, cfg.d_sae], W_dec: [cfg.d_sae, cfg.d_in], b_gate: [cfg.d_sae], b_mag: [cfg.d_sae], r_mag: [cfg.d_sae], b_dec: [cfg.d_in] }),
    encode(_cfg, w, xIn) {
      const gate = linear(xIn, w.W_enc, w.b_gate);
      const wMag = tf.mul(w.W_enc, tf.exp(w.r_mag)) as tf.Tensor2D;
      const mag = linear(xIn, wMag, w.b_mag, 'relu');
      return tf.mul(tf.cast(tf.greater(gate, 0), 'float32'), mag) as tf.Tensor2D;
    },
    decode: (_cfg, w, f) => decodeLinear(f, w.W_dec, w.b_dec),
    // r_mag needs no scaling: W_enc's scaling reaches the magnitude path too
    foldDecoderNorms: (_cfg, w) => foldNorms(w, ['b_gate', 'b_mag']),
  },
  training: {
    target: 'input',
    defaults: {
      saelens6: { l1Coefficient: 1, l1WarmUpSteps: 0 },
      saelens5: { l1Coefficient: 1e-3, l1WarmUpSteps: 0 },
    },
    initParams: (_cfg, init) => {
      const dSae = init.W_enc.shape[1];
      return { W_enc: init.W_enc.clone(), b_gate: tf.zeros([dSae]), b_mag: tf.zeros([dSae]), r_mag: tf.zeros([dSae]), W_dec: init.W_dec.clone(), b_dec: tf.zeros([init.W_dec.shape[1]]) };
    },
    coefficients: { l1: { value: 'l1Coefficient', warmUp: 'l1WarmUpSteps' } },
    validate(cfg, fail) {
      if (cfg.noiseScale > 0) fail('noiseScale is not supported for gated SAEs (SAELens trains them without noise)');
    },
    usesDeadFeatures: () => false,
    forward(cfg, p, inp) {
      const saeIn = cfg.applyBDecToInput ? tf.sub(inp.x, p.b_dec) : inp.x;
      const piGate = tf.add(tf.matMul(saeIn, p.W_enc as tf.Tensor2D), p.b_gate) as tf.Tensor2D;
      const active = heaviside(piGate);
      const magPre = tf.add(tf.matMul(saeIn, tf.mul(p.W_enc, tf.exp(p.r_mag)) as tf.Tensor2D), p.b_mag);
      const acts = tf.mul(active, tf.relu(magPre)) as tf.Tensor2D;
      const saeOut = linearDecode(p, acts);
      const { mse } = reconstructionLoss(saeOut, inp.target);
      const piGateAct = tf.relu(piGate) as tf.Tensor2D;
      const losses: Record<string, tf.Scalar> = { mse_loss: mse };
      losses.l1_loss = tf.mul(tf.mean(tf.sum(tf.mul(piGateAct, rowNorm(p.W_dec as tf.Tensor2D)), 1)), inp.coefficients.l1);
      losses.auxiliary_reconstruction_loss = mseSumMean(linearDecode(p, piGateAct), inp.target);
      return { losses, featureActs: acts, saeOut };
    },
    export: (_cfg, p, _state, scale) => ({ config: { architecture: 'gated' }, weights: scaledWeights(p, scale) }),
  },
};
