/**
 * SAELens SAE folders from their files' contents, without the file system: cfg.json (with registry
 * config_overrides), sae_weights.safetensors and sparsity.safetensors as readers over bytes or files.
 * Shared by the Node loader (./loading) and the browser loader (./loading.browser).
 */
import * as tf from '@tensorflow/tfjs';
import { SAEConfig, parseSAEConfig } from './config';
import { SafetensorsReader, rawToFloat32 } from '../io/safetensorsCore';
import { ConfigError } from '../io/errors';
import { assertFinite } from '../io/finite';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../io/dtypes';
import { ResolvedSAE } from './registry';
import { emitWarning } from '../warnings';

/** File names of a SAELens SAE folder. */
export const SAE_CFG_FILENAME = 'cfg.json';
export const SAE_WEIGHTS_FILENAME = 'sae_weights.safetensors';
export const SPARSITY_FILENAME = 'sparsity.safetensors';

/** What a loader hands to the SAE constructor (weights are owned by the caller and disposed after construction). */
export interface LoadedSAE {
  cfg: SAEConfig;
  weights: Record<string, tf.Tensor>;
  /** log10 feature density [d_sae] */
  sparsity?: Float32Array;
  /** expected_average_only_in releases: fold this factor into the weights */
  normScalingFactor?: number;
  /** the raw cfg dict after overrides, before parsing */
  rawCfg: Record<string, unknown>;
  /** the folder or file it was read from (named in errors) */
  source?: string;
}

/** Parse cfg.json text; `file` names it in errors. */
export function parseCfgJson(text: string, file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: expected a JSON object of SAE config fields`);
  return raw as Record<string, unknown>;
}

/**
 * A SAELens folder from its parts: the cfg.json dict (overrides merged before parsing, as SAELens
 * does), the weights and, when present, the sparsity file. Closes neither reader.
 */
export function saeLensFromFiles(cfgFile: string, raw: Record<string, unknown>, overrides: Record<string, unknown>, weights: SafetensorsReader, sparsityFile?: SafetensorsReader, source?: string): LoadedSAE {
  const merged = { ...raw, ...overrides };
  const cfg = parseSAEConfig(merged, cfgFile);
  const w = readWeights(weights, cfg.dtype);
  let sparsity: Float32Array | undefined;
  if (sparsityFile) {
    if (!sparsityFile.has('sparsity')) throw new ConfigError(`${sparsityFile.file}: no tensor 'sparsity' (found ${sparsityFile.names().join(', ')})`);
    sparsity = sparsityFile.readFloat32('sparsity');
  }
  return { cfg, weights: dropUnitScalingFactor(w, cfgFile), sparsity, rawCfg: merged, source };
}

/** A release's norm scaling factor for expected_average_only_in SAEs (SAELens folds it in at load). */
export function applyReleaseNormScaling(loaded: LoadedSAE, r: ResolvedSAE, release: string, saeId: string): LoadedSAE {
  if (loaded.cfg.normalize_activations === 'expected_average_only_in') {
    if (r.normScalingFactor !== undefined) loaded.normScalingFactor = r.normScalingFactor;
    else emitWarning(`${release}/${saeId}: normalize_activations is expected_average_only_in but the registry has no norm_scaling_factor; not folding one`);
  }
  return loaded;
}

/**
 * Read every tensor as float32 values. SAELens casts tensors to cfg.dtype on load; for a 16-bit
 * cfg.dtype, values stored wider are rounded to that precision here too (computation stays float32).
 */
function readWeights(f: SafetensorsReader, cfgDtype = 'float32'): Record<string, tf.Tensor> {
  const target = cfgDtype.replace(/^torch\./, '');
  const round = target === 'bfloat16' ? (v: number) => bf16ToF32(f32ToBf16(v)) : target === 'float16' ? (v: number) => f16ToF32(f32ToF16(v)) : undefined;
  const stored = target === 'bfloat16' ? 'BF16' : 'F16';
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const name of f.names()) {
      const raw = f.readRaw(name);
      assertFinite(raw, `${f.file}:${name}`, 'the SAE weights are corrupt or the training diverged');
      const values = rawToFloat32(raw);
      if (round && f.info(name).dtype !== stored) for (let i = 0; i < values.length; i++) values[i] = round(values[i]);
      out[name] = tf.tensor(values, f.info(name).shape, 'float32');
    }
    return out;
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  }
}

/** SAELens drops a `scaling_factor` of all ones (older files carried one); any other value is not supported. */
export function dropUnitScalingFactor(w: Record<string, tf.Tensor>, where: string): Record<string, tf.Tensor> {
  const sf = w.scaling_factor;
  if (!sf) return w;
  const allOnes = tf.tidy(() => tf.all(tf.lessEqual(tf.abs(tf.sub(sf, 1)), 1e-6)).dataSync()[0] === 1);
  if (!allOnes) throw new ConfigError(`${where}: the weights carry a scaling_factor that is not all ones (a finetuning scaling factor); SAELens 6 and saelab do not support it`);
  sf.dispose();
  const rest = { ...w };
  delete rest.scaling_factor;
  return rest;
}

