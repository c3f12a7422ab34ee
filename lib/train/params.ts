import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { Rng } from '../data/random';
import { trainingArchitecture } from '../sae/architectures';

/**
 * Trainable parameters by SAELens name, in the architecture's order: W_enc [d_in, d_sae], W_dec
 * [d_sae, d_out], the biases, and the architecture's own (jumprelu: log_threshold, saved as
 * threshold = exp(log_threshold); gated: b_gate, b_mag, r_mag; skip_transcoder: W_skip).
 */
export type SAEParams = Record<string, tf.Variable>;

let variableCounter = 0;

/** A tf.Variable with a process-unique name (tfjs refuses two variables of the same name). */
export function namedVariable<R extends tf.Rank>(t: tf.Tensor<R>, name: string): tf.Variable<R> {
  variableCounter += 1;
  return tf.variable(t, true, `saelab_train_${variableCounter}_${name}`);
}

/** torch.nn.init.kaiming_uniform_ (a=0, fan_in): U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)). */
function kaimingUniform(rows: number, cols: number, fanIn: number, rng: Rng): Float32Array {
  const bound = Math.sqrt(6 / fanIn);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

/**
 * The initial encoder W_enc [d_in, d_sae] and decoder W_dec [d_sae, d_out] (d_out = d_in for SAEs).
 * SAELens 6 (decoderInitNorm set): kaiming-uniform W_dec with rows scaled to decoderInitNorm, W_enc = W_dec^T
 * (a transcoder with d_out != d_in draws its own kaiming-uniform W_enc). SAELens 5 (decoderInitNorm null):
 * kaiming-uniform W_dec (or the heuristic uniform [0,1) rows scaled to norm 0.1), kaiming-uniform W_enc or
 * W_enc = W_dec^T, then unit-norm decoder rows when normalizeSaeDecoder.
 */
export function initEncoderDecoder(cfg: TrainSAEConfig, rng: Rng): { W_enc: tf.Tensor2D; W_dec: tf.Tensor2D } {
  const { dIn, dSae } = cfg;
  const dOut = cfg.dOut ?? dIn;
  const decData = new Float32Array(dSae * dOut);
  const heuristic = cfg.decoderInitNorm === null && cfg.decoderHeuristicInit;
  if (heuristic) {
    for (let i = 0; i < decData.length; i++) decData[i] = rng.next();
  } else {
    decData.set(kaimingUniform(dSae, dOut, dOut, rng));
  }
  const transpose = dOut === dIn && (cfg.decoderInitNorm !== null || cfg.initEncoderAsDecoderTranspose);
  const encData = transpose ? null : kaimingUniform(dIn, dSae, dSae, rng);
  return tf.tidy(() => {
    let W_dec: tf.Tensor2D = tf.tensor2d(decData, [dSae, dOut]);
    if (cfg.decoderInitNorm !== null) {
      W_dec = tf.mul(tf.div(W_dec, tf.norm(W_dec, 'euclidean', 1, true)), cfg.decoderInitNorm);
      const W_enc: tf.Tensor2D = encData ? tf.tensor2d(encData, [dIn, dSae]) : tf.transpose(W_dec);
      if (cfg.normalizeSaeDecoder) W_dec = tf.div(W_dec, tf.norm(W_dec, 'euclidean', 1, true));
      return { W_enc, W_dec };
    }
    if (heuristic) W_dec = tf.mul(tf.div(W_dec, tf.norm(W_dec, 'euclidean', 1, true)), 0.1);
    const W_enc: tf.Tensor2D = encData ? tf.tensor2d(encData, [dIn, dSae]) : tf.transpose(W_dec);
    if (cfg.normalizeSaeDecoder) W_dec = tf.div(W_dec, tf.norm(W_dec, 'euclidean', 1, true));
    return { W_enc, W_dec };
  });
}

/** Initialise the architecture's parameters (initEncoderDecoder, then its biases and own parameters) as variables. */
export function initParams(cfg: TrainSAEConfig, rng: Rng): SAEParams {
  const init = initEncoderDecoder(cfg, rng);
  const tensors = trainingArchitecture(cfg.architecture).initParams(cfg, init);
  tf.dispose([init.W_enc, init.W_dec]);
  const p: SAEParams = {};
  for (const [name, t] of Object.entries(tensors)) {
    p[name] = namedVariable(t, name);
    t.dispose();
  }
  return p;
}

/** Parameters as a name -> variable record (the same object: parameters are a record already). */
export function paramList(p: SAEParams): Record<string, tf.Variable> {
  return p;
}

/** Scale decoder rows to unit norm in place (SAELens set_decoder_norm_to_unit_norm). */
export function normalizeDecoderRows(p: SAEParams): void {
  tf.tidy(() => {
    p.W_dec.assign(tf.div(p.W_dec, tf.norm(p.W_dec, 'euclidean', 1, true)));
  });
}

/** Remove from the W_dec gradient [d_sae, d_in] its component along each (unit) decoder row. */
export function removeParallelComponent(gradWDec: tf.Tensor2D, W_dec: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const parallel = tf.sum(tf.mul(gradWDec, W_dec), 1, true); // [d_sae, 1]
    return tf.sub(gradWDec, tf.mul(parallel, W_dec));
  });
}
