/**
 * The crosscoder folder: cfg.json + crosscoder_weights.safetensors (+ sparsity.safetensors), the layout
 * of Anthropic's and ckkissane's crosscoders: W_enc [n, d_in, d_sae], W_dec [d_sae, n, d_in], b_enc
 * [d_sae], b_dec [n, d_in], and for BatchTopK a threshold [d_sae] on the decoder-norm-weighted activations.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadSafetensors, rawToTensor, writeTensorsSafetensors } from '../io/safetensors';
import { writeFileAtomic } from '../io/atomic';

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

/**
 * Write cfg.json, the weights and (when given) log10 densities into dir without replacing the folder:
 * other files there (metrics.jsonl, checkpoints/) stay; each file appears atomically.
 */
export async function saveCrosscoderInto(dir: string, cfg: CrosscoderConfig, weights: CrosscoderWeights, log10Density?: Float32Array): Promise<void> {
  const shapes = crosscoderWeightShapes(cfg);
  for (const [name, shape] of Object.entries(shapes)) {
    if (!weights[name]) throw new Error(`saveCrosscoder: missing tensor ${name}`);
    if (!tf.util.arraysEqual(weights[name].shape, shape)) throw new Error(`saveCrosscoder: ${name} has shape [${weights[name].shape}], the config says [${shape}]`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(dir)), `.${path.basename(dir)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(tmp);
  try {
    const ordered: Record<string, tf.Tensor> = {};
    for (const name of Object.keys(shapes)) ordered[name] = weights[name];
    await writeTensorsSafetensors(path.join(tmp, CROSSCODER_WEIGHTS), ordered);
    if (log10Density) {
      const t = tf.tensor1d(log10Density);
      try {
        await writeTensorsSafetensors(path.join(tmp, CROSSCODER_SPARSITY), { sparsity: t });
      } finally {
        t.dispose();
      }
    }
    writeFileAtomic(path.join(tmp, CROSSCODER_CONFIG), JSON.stringify(cfg, null, 2) + '\n');
    // weights first, cfg.json last: a folder with a cfg.json always has the matching weights
    for (const f of [CROSSCODER_WEIGHTS, CROSSCODER_SPARSITY, CROSSCODER_CONFIG]) {
      if (fs.existsSync(path.join(tmp, f))) fs.renameSync(path.join(tmp, f), path.join(dir, f));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Read a crosscoder folder: its config, weights (float32 tensors, shapes checked) and log10 densities when present. */
export function loadCrosscoderFolder(dir: string): { cfg: CrosscoderConfig; weights: CrosscoderWeights; log10Density?: Float32Array } {
  const cfgFile = path.join(dir, CROSSCODER_CONFIG);
  if (!fs.existsSync(cfgFile)) throw new Error(`${dir}: no ${CROSSCODER_CONFIG}; a crosscoder folder holds ${CROSSCODER_CONFIG} and ${CROSSCODER_WEIGHTS} (saelab train-crosscoder writes one)`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  const cfg = parseCrosscoderConfig(raw, cfgFile);
  const wFile = path.join(dir, CROSSCODER_WEIGHTS);
  const { tensors } = loadSafetensors(wFile);
  const weights: CrosscoderWeights = {};
  try {
    for (const [name, shape] of Object.entries(crosscoderWeightShapes(cfg))) {
      const t = tensors[name];
      if (!t) throw new Error(`${wFile}: missing tensor ${name}`);
      const w = rawToTensor(t, `${wFile}:${name}`);
      weights[name] = w.dtype === 'float32' ? w : tf.cast(w, 'float32');
      if (weights[name] !== w) w.dispose();
      if (!tf.util.arraysEqual(w.shape, shape)) throw new Error(`${wFile}: ${name} has shape [${w.shape}], cfg.json implies [${shape}]`);
    }
  } catch (e) {
    tf.dispose(Object.values(weights));
    throw e;
  }
  const sFile = path.join(dir, CROSSCODER_SPARSITY);
  let log10Density: Float32Array | undefined;
  if (fs.existsSync(sFile)) {
    const s = loadSafetensors(sFile).tensors.sparsity;
    if (s) {
      const t = rawToTensor(s, `${sFile}:sparsity`);
      log10Density = Float32Array.from(t.dataSync());
      t.dispose();
    }
  }
  return { cfg, weights, log10Density };
}
