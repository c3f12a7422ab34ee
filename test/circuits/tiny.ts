/** Tiny random models and SAEs shared by the circuit tests (d_model 8). */
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../../lib/model';
import { SAE } from '../../lib/sae';
import { PromptPairs } from '../../lib/circuits';

export const D_MODEL = 8;

/** A 3-layer GPT-2-style random model, d_model 8, vocab 20. */
export function tinyModel(seed = 7): HookedTransformer {
  return HookedTransformer.fromConfig({ n_layers: 3, d_model: D_MODEL, n_ctx: 16, d_head: 4, d_vocab: 20, act_fn: 'gelu_new' }, { seed });
}

/** A random standard SAE (no normalisation, b_dec subtracted from the input). */
export function randomSAE(hookName: string, dSae: number, seed: number, opts: { dIn?: number; deadFeature?: number; encScale?: number } = {}): SAE {
  const dIn = opts.dIn ?? D_MODEL;
  const bEnc = tf.tidy(() => {
    const b = tf.randomNormal([dSae], 0, 0.1, 'float32', seed + 2);
    if (opts.deadFeature === undefined) return b;
    const m = tf.oneHot(tf.tensor1d([opts.deadFeature], 'int32'), dSae).reshape([dSae]);
    return tf.sub(b, tf.mul(m, 1e4));
  });
  const w = {
    W_enc: tf.randomNormal([dIn, dSae], 0, opts.encScale ?? 0.5, 'float32', seed),
    W_dec: tf.randomNormal([dSae, dIn], 0, 0.5, 'float32', seed + 1),
    b_enc: bEnc,
    b_dec: tf.randomNormal([dIn], 0, 0.1, 'float32', seed + 3),
  };
  const sae = SAE.create({ d_in: dIn, d_sae: dSae, apply_b_dec_to_input: true, normalize_activations: 'none', metadata: { hook_name: hookName } }, w);
  tf.dispose(Object.values(w));
  return sae;
}

/** Independent reference encoder: relu((x - b_dec) W_enc + b_enc) on [rows, d_in]. */
export function refEncode(sae: SAE, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = sae.cfg.d_in;
    const flat = tf.reshape(x, [-1, d]);
    const f = tf.relu(tf.add(tf.matMul(tf.sub(flat, sae.weights.b_dec), sae.weights.W_enc), sae.weights.b_enc));
    return tf.reshape(f, [...x.shape.slice(0, -1), sae.cfg.d_sae]);
  });
}

export const TOKENS = [[1, 5, 9, 2, 11, 3], [4, 4, 17, 0, 8, 6], [12, 3, 3, 19, 7, 2]];

/** The residual hooks of the tiny model's SAEs and prompt pairs over TOKENS (clean) with their answers. */
export const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.2.hook_resid_pre'];
export const PAIRS: PromptPairs = {
  clean: TOKENS,
  patch: [[1, 5, 9, 2, 13, 3], [4, 4, 17, 1, 8, 10], [12, 3, 3, 19, 7, 15]],
  cleanAnswers: [3, 7, 9],
  patchAnswers: [5, 2, 14],
};
