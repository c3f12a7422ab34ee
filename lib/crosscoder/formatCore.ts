/**
 * The crosscoder folder: cfg.json + crosscoder_weights.safetensors (+ sparsity.safetensors), the layout
 * of Anthropic's and ckkissane's crosscoders: W_enc [n, d_in, d_sae], W_dec [d_sae, n, d_in], b_enc
 * [d_sae], b_dec [n, d_in], and for BatchTopK a threshold [d_sae] on the decoder-norm-weighted activations.
 * This file is the format without file access (shared with the browser build); format.ts reads and writes folders.
 */
import * as tf from '@tensorflow/tfjs';

export const CROSSCODER_CONFIG = 'cfg.json';
export const CROSSCODER_WEIGHTS = 'crosscoder_weights.safetensors';
export const CROSSCODER_SPARSITY = 'sparsity.safetensors';

/** cfg.json of a crosscoder folder. */
export interface CrosscoderConfig {
  architecture: 'crosscoder';
  /** 'relu': f = relu(pre); 'batchtopk': f = relu(pre) where relu(pre) x (sum of the latent's decoder norms) > threshold */
  activation: 'relu' | 'batchtopk';
  n_models: number;
  /** width of each model's activation */
  d_in: number;
  d_sae: number;
  /** batchtopk: active latents per token on average during training */
  k?: number;
  /** names of the n models (or layers), in the order of the tensors' model axis */
  model_names: string[];
  hook_name: string;
  dtype: 'float32';
  metadata: Record<string, unknown>;
}

/** Crosscoder weights by name: W_enc [n, d_in, d_sae], W_dec [d_sae, n, d_in], b_enc [d_sae], b_dec [n, d_in], threshold [d_sae] (batchtopk). */
export type CrosscoderWeights = Record<string, tf.Tensor>;

/** The tensors a crosscoder of this config has, with their shapes. */
export function crosscoderWeightShapes(cfg: Pick<CrosscoderConfig, 'n_models' | 'd_in' | 'd_sae' | 'activation'>): Record<string, number[]> {
  const shapes: Record<string, number[]> = {
    W_enc: [cfg.n_models, cfg.d_in, cfg.d_sae],
    W_dec: [cfg.d_sae, cfg.n_models, cfg.d_in],
    b_enc: [cfg.d_sae],
    b_dec: [cfg.n_models, cfg.d_in],
  };
  if (cfg.activation === 'batchtopk') shapes.threshold = [cfg.d_sae];
  return shapes;
}

/** Checks a parsed cfg.json; throws naming the file and the field. */
export function parseCrosscoderConfig(raw: unknown, file: string): CrosscoderConfig {
  const fail = (msg: string): never => { throw new Error(`${file}: ${msg}`); };
  if (!raw || typeof raw !== 'object') fail('not a JSON object');
  const c = raw as Record<string, unknown>;
  if (c.architecture !== 'crosscoder') fail(`architecture ${JSON.stringify(c.architecture)} is not "crosscoder"`);
  if (c.activation !== 'relu' && c.activation !== 'batchtopk') fail(`activation ${JSON.stringify(c.activation)} must be "relu" or "batchtopk"`);
  for (const f of ['n_models', 'd_in', 'd_sae']) if (!Number.isInteger(c[f]) || (c[f] as number) <= 0) fail(`${f} must be a positive integer, got ${JSON.stringify(c[f])}`);
  const names = c.model_names;
  if (!Array.isArray(names) || names.length !== c.n_models || !names.every((n) => typeof n === 'string')) fail(`model_names must be ${c.n_models} strings, got ${JSON.stringify(names)}`);
  return { hook_name: 'activations', dtype: 'float32', metadata: {}, ...(c as object) } as CrosscoderConfig;
}

