import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { SAELAB_ROOT } from '../version';
import { mergeWithDefaults } from './schema';

/** A model as named in a config: a hub id, a shipped demo name or a local folder, plus revision. */
export interface ModelRef {
  model: string;
  revision: string;
  /** short label used in tables and file names */
  label: string;
  /** tokenizer to use when tokenAlignment is "text" (default: the model's own) */
  tokenizer: string | null;
  /** keep only the first dVocab embedding rows (a finetune that added tokens); null = all */
  dVocab: number | null;
}

/** Token sample sizes of one stage: nBatches x batchSize sequences of contextSize tokens. */
export interface TokenSample {
  nBatches: number;
  batchSize: number;
}

/** Circuits notebooks (seeds 003 and 004): SAEs per hook, the ablation graph and sparse feature circuits. */
export interface CircuitsConfig {
  /** SAE release with one SAE per hook below (SAELens release name, or a local registry name) */
  saeRelease: string;
  /** SAE hooks in model order (the ablation graph's layer range and the circuit's submodules) */
  hooks: string[];
  /** seed 003: thinning fraction at the first hook (or pinned ids), top-k branching, sequences, contexts per node */
  ablation: { thinning: number; pinned: number[]; branching: number; nSequences: number; contextsPerNode: number };
  /**
   * seed 004: JSON-lines prompt pairs ('' = generate for the model's tokenizer), examples, ig steps; the methods
   * compared (atp, ig, exact) and the one the circuit is built from (atp or ig: edges need gradients);
   * node / edge thresholds of the circuit and the node thresholds of the faithfulness curve
   */
  attribution: {
    dataset: string; nExamples: number; igSteps: number; methods: string[]; method: string;
    nodeThreshold: number; edgeThreshold: number; thresholds: number[];
  };
}

export const DEFAULT_CIRCUITS_CONFIG: CircuitsConfig = {
  saeRelease: 'saelab-demo-res',
  hooks: ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.2.hook_resid_pre', 'blocks.3.hook_resid_pre'],
  ablation: { thinning: 0.01, pinned: [], branching: 2, nSequences: 32, contextsPerNode: 3 },
  attribution: {
    dataset: 'data/circuits/sva_demo.jsonl', nExamples: 40, igSteps: 10, methods: ['atp', 'ig', 'exact'], method: 'ig',
    nodeThreshold: 0.03, edgeThreshold: 0.003, thresholds: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
  },
};

/** The one experiment config every notebook reads (configs/*.json). */
export interface ExperimentConfig {
  name: string;
  description: string;
  seed: number;
  base: ModelRef;
  finetune: ModelRef;
  sae: { release: string; id: string };
  dataset: { path: string; split: string; column: string; revision: string };
  contextSize: number;
  prependBos: boolean;
  /** "ids": the finetune is fed the base token ids (as published); "text": each model its own tokens, compared on spans with identical text */
  tokenAlignment: 'ids' | 'text';
  activations: TokenSample;
  eval: TokenSample;
  transfer: TokenSample & { maxExclusiveDead: number; maxDense: number; denseLogDensityMin: number; denseLogDensityMax: number; exclusiveDeadThreshold: number; deadThreshold: number };
  outliers: { multiplier: number | null; absoluteThreshold: number | null };
  /** token budget per forward pass (batches split above it) */
  maxTokensPerForward: number;
  /** research-system sections added by later stages: free-form until their modules define them */
  crosslayer: Record<string, unknown>;
  interpbench: Record<string, unknown>;
  circuits: CircuitsConfig;
  checkpoints: Record<string, unknown>;
}

export const DEFAULT_CONFIG: ExperimentConfig = {
  name: 'demo',
  description: '',
  seed: 0,
  base: { model: 'saelab/demo-base', revision: 'main', label: 'base', tokenizer: null, dVocab: null },
  finetune: { model: 'saelab/demo-finetune', revision: 'main', label: 'finetune', tokenizer: null, dVocab: null },
  sae: { release: 'saelab-demo-res', id: 'blocks.2.hook_resid_pre' },
  dataset: { path: 'saelab/demo-text', split: 'validation', column: 'text', revision: 'main' },
  contextSize: 64,
  prependBos: true,
  tokenAlignment: 'ids',
  activations: { nBatches: 8, batchSize: 16 },
  eval: { nBatches: 8, batchSize: 16 },
  transfer: { nBatches: 8, batchSize: 16, maxExclusiveDead: 100, maxDense: 1000, denseLogDensityMin: -5, denseLogDensityMax: -1, exclusiveDeadThreshold: -8, deadThreshold: -9 },
  outliers: { multiplier: 2, absoluteThreshold: null },
  maxTokensPerForward: 4096,
  crosslayer: {},
  interpbench: {},
  circuits: DEFAULT_CIRCUITS_CONFIG,
  checkpoints: {},
};

/** Where the config comes from: an explicit path, $SAELAB_CONFIG, or configs/demo.json. */
export function configPath(explicit?: string): string {
  const p = explicit ?? process.env.SAELAB_CONFIG ?? path.join(SAELAB_ROOT, 'configs', 'demo.json');
  return path.isAbsolute(p) ? p : path.resolve(p);
}

/** Load and validate an experiment config; unknown keys are errors naming the key and the file. */
export function loadConfig(explicit?: string): ExperimentConfig {
  const file = configPath(explicit);
  if (!fs.existsSync(file)) throw new Error(`config file ${file} does not exist (set SAELAB_CONFIG or pass --config; presets are in ${path.join(SAELAB_ROOT, 'configs')})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const cfg = mergeWithDefaults(DEFAULT_CONFIG, raw, file);
  if (!/^[A-Za-z0-9._-]+$/.test(cfg.name)) throw new Error(`${file}: name '${cfg.name}' must be letters, digits, '.', '_' or '-' (it names the runs/ folder)`);
  if (cfg.tokenAlignment !== 'ids' && cfg.tokenAlignment !== 'text') throw new Error(`${file}: tokenAlignment must be "ids" or "text", got '${cfg.tokenAlignment}'`);
  return cfg;
}

/** Stable hash of any JSON value (keys sorted), for deciding whether a stage's inputs changed. */
export function configHash(value: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
    return v;
  };
  return createHash('sha256').update(JSON.stringify(canon(value))).digest('hex').slice(0, 16);
}
