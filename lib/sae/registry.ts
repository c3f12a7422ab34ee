/**
 * The registry of pretrained SAE releases: release name -> hub repo, model, loader kind,
 * config_overrides and, per SAE id, the folder inside the repo.
 */
import { SAELENS_RELEASES } from './releases';

export interface ReleaseSAE {
  id: string;
  /** folder inside the repo */
  path: string;
  l0?: number;
  neuronpedia?: string;
  /** expected_average_only_in releases: the factor folded into the weights at load */
  norm_scaling_factor?: number;
}

export interface ReleaseInfo {
  repo_id: string;
  model: string;
  /** null: SAELens folders; 'gemma_2': Gemma Scope params.npz folders */
  conversion_func: string | null;
  /** merged into each SAE's cfg.json dict before parsing (as SAELens does) */
  config_overrides: Record<string, unknown> | null;
  saes: ReleaseSAE[];
  /** hub revision to resolve (default main) */
  revision?: string;
  /** ids not listed in `saes` but matching this pattern name their own folder (releases of uniform layout) */
  idPattern?: RegExp;
}

/** Releases shipped with saelab itself (demo SAEs in data/hub, HF-cache layout). */
const SAELAB_RELEASES: Record<string, ReleaseInfo> = {
  'saelab-demo-res': {
    repo_id: 'saelab/demo-saes',
    model: 'saelab-demo',
    conversion_func: null,
    config_overrides: null,
    saes: [],
    idPattern: /^blocks\.\d+\.hook_resid_pre$/,
  },
};

const extraReleases: Record<string, ReleaseInfo> = {};

/** Every known release name. */
export function listReleases(): string[] {
  return [...Object.keys(SAELENS_RELEASES), ...Object.keys(SAELAB_RELEASES), ...Object.keys(extraReleases)];
}

/** A release's registry entry, or undefined. */
export function getRelease(release: string): ReleaseInfo | undefined {
  return extraReleases[release] ?? SAELAB_RELEASES[release] ?? SAELENS_RELEASES[release];
}

/** Add or replace a release at run time (e.g. SAEs of your own on the hub). */
export function registerRelease(name: string, info: ReleaseInfo): void {
  extraReleases[name] = info;
}

export interface ResolvedSAE {
  repoId: string;
  folder: string;
  revision?: string;
  conversion: 'sae_lens' | 'gemma_2';
  configOverrides: Record<string, unknown>;
  normScalingFactor?: number;
  release?: ReleaseInfo;
}

/**
 * Map (release, saeId) to a repo and folder, as SAELens does: a registered release looks the id up
 * (error listing valid ids); an unknown release containing "/" is a repo id with saeId as folder.
 */
export function resolveRelease(release: string, saeId: string): ResolvedSAE {
  const info = getRelease(release);
  if (!info) {
    if (!release.includes('/')) {
      throw new Error(`unknown SAE release '${release}': not in the registry (known: ${listReleases().join(', ')}) and not a hub repo id (owner/name)`);
    }
    return { repoId: release, folder: saeId, conversion: 'sae_lens', configOverrides: {} };
  }
  const sae = info.saes.find((s) => s.id === saeId) ?? (info.idPattern?.test(saeId) ? { id: saeId, path: saeId } : undefined);
  if (!sae) {
    const ids = info.saes.map((s) => s.id);
    let hint = '';
    if (release.includes('gemma-scope') && !release.includes('canonical') && getRelease(`${release}-canonical`)) {
      hint = ` To pick an SAE without naming its L0, use release ${release}-canonical.`;
    }
    const valid = ids.length ? `${ids.slice(0, 8).join(', ')}${ids.length > 8 ? `, ... (${ids.length} in all)` : ''}` : `ids matching ${info.idPattern}`;
    throw new Error(`SAE id '${saeId}' not found in release '${release}'. Valid ids: ${valid}.${hint}`);
  }
  const conv = info.conversion_func ?? 'sae_lens';
  if (conv !== 'sae_lens' && conv !== 'gemma_2') throw new Error(`release '${release}' uses loader '${conv}', which saelab does not implement (supported: SAELens folders, gemma_2)`);
  const configOverrides: Record<string, unknown> = { ...(info.config_overrides ?? {}) };
  if (sae.neuronpedia !== undefined) configOverrides.neuronpedia_id = sae.neuronpedia;
  return { repoId: info.repo_id, folder: sae.path, revision: info.revision, conversion: conv, configOverrides, normScalingFactor: sae.norm_scaling_factor, release: info };
}
