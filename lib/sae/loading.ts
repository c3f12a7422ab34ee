/**
 * Reading SAEs from disk and from the hub: SAELens folders (v6 and pre-6.0 cfg.json), Gemma Scope
 * params.npz folders, and pretrained releases through the registry. The only place lib/sae talks to
 * the hub.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parseSAEConfig } from './config';
import { SafetensorsFile, TensorToWrite, writeSafetensors } from '../io/safetensors';
import { writeDirAtomic } from '../io/atomic';
import { ConfigError } from '../io/errors';
import { assertFinite } from '../io/finite';
import { readNpz } from '../io/npz';
import { jumprelu } from './architectures/jumprelu';
import { resolveRelease } from './registry';
import { resolveRepo } from '../hub/resolve';
import { LoadedSAE, SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME, SPARSITY_FILENAME, applyReleaseNormScaling, dropUnitScalingFactor, parseCfgJson, saeLensFromFiles } from './loadingCore';

export { LoadedSAE } from './loadingCore';

export interface FolderLoadOptions {
  /** merged into the cfg.json dict before parsing (registry config_overrides) */
  configOverrides?: Record<string, unknown>;
  /** Gemma Scope folders: the hub repo id (tells model, width and hook); inferred from the path when absent */
  repoId?: string;
}

/** Load a folder: cfg.json + sae_weights.safetensors (+ sparsity.safetensors), or a Gemma Scope params.npz folder. */
export async function loadSAEFolder(dir: string, opts: FolderLoadOptions = {}): Promise<LoadedSAE> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`SAE folder ${dir} does not exist`);
  if (fs.existsSync(path.join(dir, 'cfg.json'))) return loadSAELensFolder(dir, opts.configOverrides ?? {});
  if (fs.existsSync(path.join(dir, 'params.npz'))) return loadGemmaScopeFolder(dir, opts.repoId ?? inferGemmaScopeRepo(dir), opts.configOverrides ?? {});
  throw new ConfigError(`${dir}: not an SAE folder (no cfg.json for a SAELens SAE, no params.npz for Gemma Scope); found ${fs.readdirSync(dir).join(', ') || 'nothing'}`);
}

function loadSAELensFolder(dir: string, overrides: Record<string, unknown>): LoadedSAE {
  const cfgFile = path.join(dir, SAE_CFG_FILENAME);
  const raw = parseCfgJson(fs.readFileSync(cfgFile, 'utf8'), cfgFile);
  const weightsFile = path.join(dir, SAE_WEIGHTS_FILENAME);
  if (!fs.existsSync(weightsFile)) throw new ConfigError(`${dir}: missing ${SAE_WEIGHTS_FILENAME} (found ${fs.readdirSync(dir).join(', ')})`);
  const sparsityFile = path.join(dir, SPARSITY_FILENAME);
  const weights = SafetensorsFile.open(weightsFile, { mapped: true });
  const sparsity = fs.existsSync(sparsityFile) ? SafetensorsFile.open(sparsityFile) : undefined;
  try {
    return saeLensFromFiles(cfgFile, raw, overrides, weights, sparsity, dir);
  } finally {
    weights.close();
    sparsity?.close();
  }
}

const GEMMA_WIDTHS: Record<string, number> = {
  width_4k: 4096, width_16k: 16384, width_32k: 32768, width_65k: 65536, width_131k: 131072, width_262k: 262144, width_524k: 524288, width_1m: 1048576,
};
const GEMMA_MODELS: Array<[string, string, number]> = [
  ['2b-it', 'gemma-2-2b-it', 2304], ['9b-it', 'gemma-2-9b-it', 3584], ['27b-it', 'gemma-2-27b-it', 4608],
  ['2b', 'gemma-2-2b', 2304], ['9b', 'gemma-2-9b', 3584], ['27b', 'gemma-2-27b', 4608],
];

/** The cfg dict SAELens builds for a Gemma Scope folder (always jumprelu, apply_b_dec_to_input false). */
export function gemmaScopeRawConfig(repoId: string, folder: string): Record<string, unknown> {
  const width = Object.entries(GEMMA_WIDTHS).find(([k]) => folder.includes(k));
  const layerMatch = /layer_(\d+)/.exec(folder);
  let layer: number;
  if (layerMatch) layer = Number(layerMatch[1]);
  else if (folder.includes('embedding')) layer = 0;
  else throw new Error(`Gemma Scope folder '${folder}': no layer_N in its name`);
  const model = GEMMA_MODELS.find(([k]) => repoId.includes(k));
  if (!model) throw new Error(`Gemma Scope repo '${repoId}': cannot tell the model (2b, 9b, 27b) from its name`);
  const modelName = model[1];
  let dIn = model[2];
  let hookName: string;
  if (repoId.includes('res') && !folder.includes('embedding')) hookName = `blocks.${layer}.hook_resid_post`;
  else if (repoId.includes('res')) hookName = 'hook_embed';
  else if (repoId.includes('mlp')) hookName = `blocks.${layer}.hook_mlp_out`;
  else if (repoId.includes('att')) {
    hookName = `blocks.${layer}.attn.hook_z`;
    const size = GEMMA_MODELS.find(([k]) => repoId.includes(k))![0].replace('-it', '');
    dIn = ({ '2b': 2048, '9b': 4096, '27b': 4608 } as Record<string, number>)[size] ?? dIn;
  } else throw new Error(`Gemma Scope repo '${repoId}': cannot tell the hook (res, mlp, att) from its name`);
  return {
    architecture: jumprelu.name, d_in: dIn, d_sae: width ? width[1] : undefined, dtype: 'float32', model_name: modelName, hook_name: hookName,
    hook_head_index: null, activation_fn: 'relu', prepend_bos: true, dataset_path: 'monology/pile-uncopyrighted', context_size: 1024,
    apply_b_dec_to_input: false, normalize_activations: null,
  };
}

function inferGemmaScopeRepo(dir: string): string {
  const full = path.resolve(dir);
  const m = /gemma-scope-[0-9a-z-]*?(2b|9b|27b)(-it)?-pt-(res|mlp|att)/.exec(full.replace(/models--google--/g, ''));
  if (!m) throw new Error(`${dir}: a params.npz folder needs its Gemma Scope repo id (e.g. google/gemma-scope-2b-pt-res) to know model and hook; pass repoId`);
  return `google/${m[0]}`;
}

function loadGemmaScopeFolder(dir: string, repoId: string, overrides: Record<string, unknown>, folderName = path.resolve(dir)): LoadedSAE {
  const file = path.join(dir, 'params.npz');
  const arrays = readNpz(file);
  const raw: Record<string, unknown> = { ...gemmaScopeRawConfig(repoId, folderName), ...overrides };
  const weights: Record<string, tf.Tensor> = {};
  for (const [key, a] of Object.entries(arrays)) {
    const name = key.startsWith('w_') ? `W_${key.slice(2)}` : key;
    assertFinite({ dtype: 'F32', data: a.data }, `${file}:${key}`, 'the SAE weights are corrupt');
    weights[name] = tf.tensor(a.data, a.shape, 'float32');
  }
  if (raw.d_sae === undefined && weights.W_enc) raw.d_sae = weights.W_enc.shape[1];
  const cfg = parseSAEConfig(raw, file);
  const w = dropUnitScalingFactor(weights, file);
  if (folderName.includes('embedding') && w.W_enc && w.W_dec) {
    // Gemma Scope's embedding SAEs were trained on embeddings before the sqrt(d_model) scale
    const s = Math.sqrt(cfg.d_in);
    const enc = tf.div(w.W_enc, s);
    const dec = tf.mul(w.W_dec, s);
    w.W_enc.dispose();
    w.W_dec.dispose();
    w.W_enc = enc;
    w.W_dec = dec;
  }
  return { cfg, weights: w, rawCfg: raw, source: dir };
}

// ---- hub resolution: the one call site of lib/hub ----
/** Resolve a repo folder's files through the hub (optional files are fetched when the repo has them). */
async function resolveFolder(repoId: string, folder: string, revision: string | undefined, required: string[], optional: string[]): Promise<string> {
  const rel = (f: string) => (folder ? `${folder}/${f}` : f);
  const { dir } = await resolveRepo(repoId, { revision, files: required.map(rel), optionalFiles: optional.map(rel) });
  return folder ? path.join(dir, folder) : dir;
}

/**
 * Load (release, saeId) through the registry: repo and folder, config_overrides merged into cfg.json,
 * sparsity when the folder has it, and the release's norm scaling factor for expected_average_only_in.
 */
export async function loadPretrainedSAE(release: string, saeId: string): Promise<LoadedSAE> {
  const r = resolveRelease(release, saeId);
  if (r.conversion === 'gemma_2') {
    const dir = await resolveFolder(r.repoId, r.folder, r.revision, ['params.npz'], []);
    return loadGemmaScopeFolder(dir, r.repoId, r.configOverrides, r.folder);
  }
  const dir = await resolveFolder(r.repoId, r.folder, r.revision, ['cfg.json', 'sae_weights.safetensors'], ['sparsity.safetensors']);
  return applyReleaseNormScaling(loadSAELensFolder(dir, r.configOverrides), r, release, saeId);
}

/**
 * Write a SAELens 6 folder atomically: cfg.json, sae_weights.safetensors and, when given,
 * sparsity.safetensors (tensor `sparsity`). The folder appears complete or not at all.
 */
export async function writeSAEFolder(dir: string, cfgJson: Record<string, unknown>, weights: Record<string, TensorToWrite>, sparsity?: Float32Array): Promise<void> {
  await writeDirAtomic(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, SAE_CFG_FILENAME), JSON.stringify(cfgJson, null, 2) + '\n');
    writeSafetensors(path.join(tmp, SAE_WEIGHTS_FILENAME), weights, { format: 'pt' });
    if (sparsity) writeSafetensors(path.join(tmp, SPARSITY_FILENAME), { sparsity: { dtype: 'F32', shape: [sparsity.length], data: sparsity } }, { format: 'pt' });
  });
}
