/** The `crosscoder` section of an experiment config (notebook 13: crosscoder model diffing). */
import type { CrosscoderActivation } from './train';
import type { ClassThresholds } from './diff';

/** A text domain the crosscoder is trained and evaluated on (the base's domain, the finetune's). */
export interface CrosscoderDomain {
  label: string;
  /** dataset (hub id, folder or file); null: the config's dataset path */
  path: string | null;
  split: string;
  column: string;
}

export interface CrosscoderSettings {
  /** hook both models are read at; null: the SAE's hook (config.sae.id) */
  hook: string | null;
  /** contexts drawn from each domain; both models run on the same token ids */
  domains: CrosscoderDomain[];
  contextsPerDomain: number;
  /** contexts per forward pass */
  batchSize: number;
  /** leave out position 0 (BOS, whose activations are outliers in both models) */
  dropBos: boolean;
  /** scale each model's activations to mean norm sqrt(d_model) before training (saved in cfg.json metadata) */
  normalize: boolean;
  activation: CrosscoderActivation;
  dSae: number;
  /** batchtopk: active latents per token on average */
  k: number;
  /** relu: L1 coefficient */
  l1Coefficient: number;
  lr: number;
  steps: number;
  trainBatchSizeTokens: number;
  thresholds: ClassThresholds;
  /** exclusive latents listed per side, with their top contexts */
  topLatents: number;
  examplesPerLatent: number;
}

export const DEFAULT_CROSSCODER_CONFIG: CrosscoderSettings = {
  hook: null,
  domains: [
    { label: 'English', path: null, split: 'validation', column: 'text' },
    { label: 'JavaScript', path: null, split: 'code_eval', column: 'text' },
  ],
  contextsPerDomain: 64,
  batchSize: 16,
  dropBos: true,
  normalize: true,
  activation: 'batchtopk',
  dSae: 256,
  k: 8,
  l1Coefficient: 1,
  lr: 3e-3,
  steps: 1000,
  trainBatchSizeTokens: 512,
  thresholds: { exclusive: 0.1, sharedHalfWidth: 0.2 },
  topLatents: 6,
  examplesPerLatent: 3,
};

/** Check the values of a crosscoder section (types were checked against the defaults already). */
export function checkCrosscoderSettings(c: CrosscoderSettings, where: string): void {
  const posInt = (v: number, key: string) => {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: crosscoder.${key} must be a positive integer, got ${v}`);
  };
  for (const k of ['contextsPerDomain', 'batchSize', 'dSae', 'steps', 'trainBatchSizeTokens', 'topLatents', 'examplesPerLatent'] as const) posInt(c[k], k);
  if (c.activation !== 'relu' && c.activation !== 'batchtopk') throw new Error(`${where}: crosscoder.activation must be "relu" or "batchtopk", got ${JSON.stringify(c.activation)}`);
  if (!(c.k > 0)) throw new Error(`${where}: crosscoder.k must be > 0, got ${c.k}`);
  if (!(c.lr > 0)) throw new Error(`${where}: crosscoder.lr must be > 0, got ${c.lr}`);
  if (!(c.l1Coefficient >= 0)) throw new Error(`${where}: crosscoder.l1Coefficient must be >= 0, got ${c.l1Coefficient}`);
  if (!Array.isArray(c.domains) || c.domains.length < 1) throw new Error(`${where}: crosscoder.domains must list at least one {label, path, split, column}`);
  c.domains.forEach((d, i) => {
    if (!d || typeof d.label !== 'string' || typeof d.split !== 'string' || typeof d.column !== 'string' || (d.path !== null && typeof d.path !== 'string')) {
      throw new Error(`${where}: crosscoder.domains[${i}] must be {"label": string, "path": string | null, "split": string, "column": string}, got ${JSON.stringify(d)}`);
    }
  });
  const t = c.thresholds;
  if (!(t.exclusive > 0 && t.exclusive < 0.5 && t.sharedHalfWidth >= 0 && t.sharedHalfWidth < 0.5 - t.exclusive)) {
    throw new Error(`${where}: crosscoder.thresholds must have 0 < exclusive < 0.5 and 0 <= sharedHalfWidth < 0.5 - exclusive, got ${JSON.stringify(t)}`);
  }
}
