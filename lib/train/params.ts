import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { Rng } from '../data/random';

/** Trainable SAE parameters (SAELens names); jumprelu trains log_threshold and saves exp() of it as `threshold`. */
export interface SAEParams {
  /** [d_in, d_sae] */
  W_enc: tf.Variable<tf.Rank.R2>;
  /** [d_sae] */
  b_enc: tf.Variable<tf.Rank.R1>;
  /** [d_sae, d_in] */
  W_dec: tf.Variable<tf.Rank.R2>;
  /** [d_in] */
  b_dec: tf.Variable<tf.Rank.R1>;
  /** [d_sae], jumprelu only */
  log_threshold?: tf.Variable<tf.Rank.R1>;
}

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
 * Initialise parameters as SAELens's TrainingSAE: kaiming-uniform W_enc [d_in, d_sae] and W_dec [d_sae, d_in],
 * zero biases; optional heuristic decoder init (uniform [0,1) rows scaled to norm 0.1), optional encoder =
 * decoder transpose, then unit-norm decoder rows when normalizeSaeDecoder. jumprelu: log_threshold = log(init).
 */
export function initParams(cfg: TrainSAEConfig, rng: Rng): SAEParams {
  const { dIn, dSae } = cfg;
  const decData = new Float32Array(dSae * dIn);
  if (cfg.decoderHeuristicInit) {
    for (let i = 0; i < decData.length; i++) decData[i] = rng.next();
  } else {
    decData.set(kaimingUniform(dSae, dIn, dIn, rng));
  }
  const encData = cfg.initEncoderAsDecoderTranspose ? null : kaimingUniform(dIn, dSae, dSae, rng);
  const init = tf.tidy(() => {
    let W_dec: tf.Tensor2D = tf.tensor2d(decData, [dSae, dIn]);
    if (cfg.decoderHeuristicInit) W_dec = tf.mul(tf.div(W_dec, tf.norm(W_dec, 'euclidean', 1, true)), 0.1);
    const W_enc: tf.Tensor2D = encData ? tf.tensor2d(encData, [dIn, dSae]) : tf.transpose(W_dec);
    if (cfg.normalizeSaeDecoder) W_dec = tf.div(W_dec, tf.norm(W_dec, 'euclidean', 1, true));
    return { W_enc, W_dec };
  });
  const p: SAEParams = {
    W_enc: namedVariable(init.W_enc, 'W_enc'),
    b_enc: namedVariable(tf.zeros([dSae]) as tf.Tensor1D, 'b_enc'),
    W_dec: namedVariable(init.W_dec, 'W_dec'),
    b_dec: namedVariable(tf.zeros([dIn]) as tf.Tensor1D, 'b_dec'),
  };
  tf.dispose([init.W_enc, init.W_dec]);
  if (cfg.architecture === 'jumprelu') {
    const t = tf.fill([dSae], Math.log(cfg.jumpreluInitThreshold)) as tf.Tensor1D;
    p.log_threshold = namedVariable(t, 'log_threshold');
    t.dispose();
  }
  return p;
}

/** Parameters as a name -> variable record (only those present). */
export function paramList(p: SAEParams): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = { W_enc: p.W_enc, b_enc: p.b_enc, W_dec: p.W_dec, b_dec: p.b_dec };
  if (p.log_threshold) out.log_threshold = p.log_threshold;
  return out;
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
