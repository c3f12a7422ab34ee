import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { SAEParams } from './params';
import { SAE } from '../sae/sae';
import { SAEConfig, defaultSAEConfig } from '../sae/config';
import { tempNameFor } from '../io/atomic';

/** The SAE config of the trained SAE (normalization folded into the weights, so normalize_activations "none"). */
export function trainedSAEConfig(cfg: TrainSAEConfig): SAEConfig {
  const hookName = String(cfg.metadata.hook_name ?? 'activations');
  return defaultSAEConfig({
    architecture: cfg.architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: 'none',
    reshape_activations: hookName.endsWith('hook_z') ? 'hook_z' : 'none',
    ...(cfg.architecture === 'topk' ? { k: cfg.k, rescale_acts_by_decoder_norm: false } : {}),
    metadata: { ...cfg.metadata, hook_name: hookName },
  });
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

/** An SAE (lib/sae) from training config and parameters, normalization folded in. */
export function toSAE(cfg: TrainSAEConfig, params: SAEParams, normScale = 1): SAE {
  const w = exportWeights(params, normScale);
  try {
    return new SAE(trainedSAEConfig(cfg), w);
  } finally {
    tf.dispose(Object.values(w));
  }
}

/**
 * Save an SAE's folder files (cfg.json, sae_weights.safetensors, sparsity.safetensors) into `dir`
 * without replacing the folder: other files there (metrics.jsonl, checkpoints/) stay. Each file
 * appears atomically (SAE.save to a temporary sibling, then one rename per file).
 */
export async function saveSAEInto(sae: SAE, dir: string, sparsity?: Float32Array): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = tempNameFor(path.join(path.dirname(path.resolve(dir)), `.${path.basename(dir)}`));
  await sae.save(tmp, { sparsity });
  try {
    for (const f of fs.readdirSync(tmp)) fs.renameSync(path.join(tmp, f), path.join(dir, f));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
