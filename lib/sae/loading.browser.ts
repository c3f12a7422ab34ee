/**
 * SAEs in a browser (loading.ts in Node reads folders and the hub cache): a SAELens folder's
 * cfg.json, sae_weights.safetensors and sparsity.safetensors fetched from a folder URL, or from the
 * hub URL of a pretrained release (registry, config_overrides and norm scaling as in Node).
 */
import type * as NodeLoading from './loading';
import { SafetensorsBuffer } from '../io/safetensorsCore';
import { ConfigError } from '../io/errors';
import { fetchBytes, fetchJson, joinUrl } from '../hub/http';
import { hubToken } from '../hub/env';
import { resolveRepo } from '../hub/resolve';
import { resolveRelease } from './registry';
import { SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME, SPARSITY_FILENAME, applyReleaseNormScaling, saeLensFromFiles } from './loadingCore';

export type { FolderLoadOptions, LoadedSAE } from './loading';

export const loadSAEFolder: typeof NodeLoading.loadSAEFolder = async (dir, opts = {}) => {
  const token = hubToken();
  const cfgUrl = joinUrl(dir, SAE_CFG_FILENAME);
  const [raw, weights, sparsity] = await Promise.all([
    fetchJson(cfgUrl, { token, optional: true }),
    fetchBytes(joinUrl(dir, SAE_WEIGHTS_FILENAME), { token, optional: true }),
    fetchBytes(joinUrl(dir, SPARSITY_FILENAME), { token, optional: true }),
  ]);
  if (!raw) throw new ConfigError(`${dir}: no ${SAE_CFG_FILENAME} (HTTP 404): no SAELens SAE there (check the SAE id; a SAELens folder holds ${SAE_CFG_FILENAME} and ${SAE_WEIGHTS_FILENAME})`);
  if (!weights) throw new ConfigError(`${dir}: no ${SAE_WEIGHTS_FILENAME} (HTTP 404)`);
  const w = SafetensorsBuffer.parse(weights, joinUrl(dir, SAE_WEIGHTS_FILENAME));
  const s = sparsity ? SafetensorsBuffer.parse(sparsity, joinUrl(dir, SPARSITY_FILENAME)) : undefined;
  return saeLensFromFiles(cfgUrl, raw, opts.configOverrides ?? {}, w, s, dir);
};

export const loadPretrainedSAE: typeof NodeLoading.loadPretrainedSAE = async (release, saeId) => {
  const r = resolveRelease(release, saeId);
  if (r.conversion === 'gemma_2') throw new Error(`${release}/${saeId}: Gemma Scope params.npz folders are not read in a browser (convert it to a SAELens folder)`);
  const { dir } = await resolveRepo(r.repoId, { revision: r.revision });
  const loaded = await loadSAEFolder(r.folder ? joinUrl(dir, r.folder) : dir, { configOverrides: r.configOverrides });
  return applyReleaseNormScaling(loaded, r, release, saeId);
};

export const writeSAEFolder: typeof NodeLoading.writeSAEFolder = async (dir) => {
  throw new Error(`SAE.save(${dir}) writes files: not available in a browser`);
};
