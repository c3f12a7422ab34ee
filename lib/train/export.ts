import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { SAEParams } from './params';
import { writeJsonAtomic } from '../io/atomic';
import { writeTensorsSafetensors } from '../io/safetensors';
import { SAELAB_VERSION } from '../version';

/** SAELens version whose cfg.json layout the trained folders follow. */
export const TRAINED_SAE_FORMAT_VERSION = '6.18.0';

/** The SAELens v6 cfg.json of the trained SAE (normalization folded in, so normalize_activations "none"). */
export function trainedSAEConfigJson(cfg: TrainSAEConfig): Record<string, unknown> {
  const hookName = String(cfg.metadata.hook_name ?? 'activations');
  const out: Record<string, unknown> = {
    architecture: cfg.architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: 'none',
    reshape_activations: hookName.endsWith('hook_z') ? 'hook_z' : 'none',
    metadata: {
      ...cfg.metadata,
      hook_name: hookName,
      sae_lens_version: TRAINED_SAE_FORMAT_VERSION,
      sae_lens_training_version: TRAINED_SAE_FORMAT_VERSION,
      saelab_version: SAELAB_VERSION,
    },
  };
  if (cfg.architecture === 'topk') {
    out.k = cfg.k;
    out.rescale_acts_by_decoder_norm = false;
  }
  return out;
}

/**
 * Inference weights from training parameters, with the activation norm scaling factor s folded in
 * (W_enc * s, W_dec / s, b_dec / s) and jumprelu's log_threshold turned into threshold = exp(log_threshold).
 */
export function exportWeights(p: SAEParams, scale: number): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    const w: Record<string, tf.Tensor> = {
      W_enc: scale === 1 ? tf.clone(p.W_enc) : tf.mul(p.W_enc, scale),
      W_dec: scale === 1 ? tf.clone(p.W_dec) : tf.div(p.W_dec, scale),
      b_enc: tf.clone(p.b_enc),
      b_dec: scale === 1 ? tf.clone(p.b_dec) : tf.div(p.b_dec, scale),
    };
    if (p.log_threshold) w.threshold = tf.exp(p.log_threshold);
    return w;
  });
}

/**
 * Write an SAE folder in SAELens format into `dir` (cfg.json, sae_weights.safetensors, and
 * sparsity.safetensors when given log10 densities), each file atomically; other files in dir stay.
 */
export async function writeSAEFiles(dir: string, cfgJson: Record<string, unknown>, weights: Record<string, tf.Tensor>, log10Sparsity?: Float32Array): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await writeTensorsSafetensors(path.join(dir, 'sae_weights.safetensors'), weights);
  if (log10Sparsity) {
    const t = tf.tensor1d(log10Sparsity);
    try {
      await writeTensorsSafetensors(path.join(dir, 'sparsity.safetensors'), { sparsity: t });
    } finally {
      t.dispose();
    }
  }
  writeJsonAtomic(path.join(dir, 'cfg.json'), cfgJson);
}
