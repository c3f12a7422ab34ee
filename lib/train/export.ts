import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TrainSAEConfig } from './config';
import { SAEParams } from './params';
import { SAE } from '../sae/sae';
import { SAEConfig, defaultSAEConfig } from '../sae/config';
import { TrainedExport, trainingArchitecture } from '../sae/architectures';
import { tempNameFor } from '../io/atomic';

/**
 * The inference cfg fields and weights of the trained SAE, as SAELens's save_inference_model writes them:
 * the activation norm scaling factor folded in (W_enc * s, W_dec / s, b_dec / s), then the architecture's
 * own processing (jumprelu: threshold = exp(log_threshold); topk with rescaling: decoder norms folded;
 * batchtopk: a jumprelu SAE with the tracked threshold). New tensors; the caller disposes them.
 */
export function exportTrained(cfg: TrainSAEConfig, p: SAEParams, state: Record<string, number> = {}, scale = 1): TrainedExport {
  return trainingArchitecture(cfg.architecture).export(cfg, p, state, scale);
}

/** The trained SAE's config (normalization folded into the weights, so normalize_activations "none"); `exported` is exportTrained's config part. */
export function trainedSAEConfig(cfg: TrainSAEConfig, exported: TrainedExport['config']): SAEConfig {
  const hookName = String(cfg.metadata.hook_name ?? 'activations');
  const isSae = trainingArchitecture(cfg.architecture).target === 'input';
  return defaultSAEConfig({
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: 'none',
    reshape_activations: isSae && hookName.endsWith('hook_z') ? 'hook_z' : 'none',
    ...exported,
    metadata: { ...cfg.metadata, hook_name: hookName },
  });
}

/** Inference weights from training parameters with the activation norm scaling factor s folded in (see exportTrained). */
export function exportWeights(cfg: TrainSAEConfig, p: SAEParams, scale: number, state: Record<string, number> = {}): Record<string, tf.Tensor> {
  return exportTrained(cfg, p, state, scale).weights;
}

/** An SAE (lib/sae) from training config and parameters, normalization folded in. */
export function toSAE(cfg: TrainSAEConfig, params: SAEParams, normScale = 1, state: Record<string, number> = {}): SAE {
  const { config, weights } = exportTrained(cfg, params, state, normScale);
  try {
    return new SAE(trainedSAEConfig(cfg, config), weights);
  } finally {
    tf.dispose(Object.values(weights));
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
