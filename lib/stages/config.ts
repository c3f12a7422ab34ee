/**
 * The experiment config every notebook and stage reads (configs/*.json): its type, the demo defaults and
 * the loader. Sections owned by a module are typed there (checkpoints: lib/checkpoints/config.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseBlockHook } from '../model/hookNames';
import { SAELAB_ROOT } from '../version';
import { mergeWithDefaults } from '../config/schema';
import { parseBytes } from '../model/memory';
import { ConfigError, describeValue } from '../io/errors';
import { validatePathName } from '../io/folders';
import { CheckpointsConfig, DEFAULT_CHECKPOINTS_CONFIG, checkCheckpointsConfig } from '../checkpoints/config';
import { CrosscoderSettings, DEFAULT_CROSSCODER_CONFIG, checkCrosscoderSettings } from '../crosscoder/settings';

export { configHash } from '../config/hash';

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
  /** how the weights are kept (TransformerLens dtype): "float32", "bfloat16", "float16"; null = auto (float32 when it fits in memory, else the checkpoint's 16-bit dtype) */
  dtype: string | null;
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

/** Cross-layer feature evolution (seed 000, notebook 07): a model, one SAE per hook, a token stream. */
export interface CrossLayerSettings {
  /** model the SAEs read (hub id, TransformerLens name such as gpt2-small, shipped demo name or folder) */
  model: string;
  revision: string;
  /** SAE release with one SAE per hook (SAELens release name, or a local registry name) */
  saeRelease: string;
  /** hooks in layer order, one SAE each; [] = blocks.L.hook_resid_pre for every layer of the model */
  hooks: string[];
  dataset: { path: string; split: string; column: string; revision: string };
  /** tokens per context (SAELens context_size) */
  contextSize: number;
  /** BOS at the start of every context */
  prependBos: boolean;
  /** contexts per forward pass (a batch is batchSize x contextSize tokens; the last partial batch is dropped) */
  batchSize: number;
  /** token budget, rounded down to whole batches */
  tokens: number;
  /** dead features / dead pairs are recorded every this many tokens (the seed: 16 batches = 65,536) */
  checkpointTokens: number;
  /** resumable collector state is saved every this many tokens (0: never) */
  saveEveryTokens: number;
  /** count thresholds of the dead-feature series (the seed: 0 ... 10000) */
  featureThresholds: number[];
  /** co-activation count thresholds of the dead-pair series (the seed: 0 ... 100) */
  pairThresholds: number[];
  /** compute the _relative_activation variants (a first pass for each feature's max activation) */
  relative: boolean;
  /** add the decoder cosine_similarity of W_dec rows */
  decoder: boolean;
  /** pair entries held in memory before spilling sorted runs to disk */
  maxPairsInMemory: number;
  /** max-Pearson thresholds of the pass-through shares */
  passThroughThresholds: number[];
  /** feature graph: links with stat >= minWeight, topK per feature, Louvain resolution/seed; top contexts per node from the first contextTokens tokens */
  graph: { stat: string; minWeight: number; topK: number; resolution: number; seed: number; contexts: number; contextTokens: number };
  /** Neuronpedia pages of the SAEs ({layer} in saeId is replaced), or null for SAEs not on Neuronpedia */
  neuronpedia: { model: string; saeId: string } | null;
}

export const DEFAULT_CROSSLAYER_CONFIG: CrossLayerSettings = {
  model: 'saelab/demo-base',
  revision: 'main',
  saeRelease: 'saelab-demo-res',
  hooks: ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.2.hook_resid_pre', 'blocks.3.hook_resid_pre'],
  dataset: { path: 'saelab/demo-text', split: 'validation', column: 'text', revision: 'main' },
  contextSize: 64,
  prependBos: true,
  batchSize: 16,
  tokens: 32768,
  checkpointTokens: 4096,
  saveEveryTokens: 16384,
  featureThresholds: [0, 5, 10, 50, 100, 500, 1000, 5000, 10000],
  pairThresholds: [0, 5, 10, 50, 100],
  relative: true,
  decoder: true,
  maxPairsInMemory: 8_000_000,
  passThroughThresholds: [0.4, 0.5],
  graph: { stat: 'pearson_correlation', minWeight: 0.5, topK: 3, resolution: 1, seed: 0, contexts: 5, contextTokens: 8192 },
  neuronpedia: null,
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
  /** memory this run may use, e.g. "20G" (null: the machine's; $SAELAB_MAX_MEMORY wins); decides dtype "auto" and whether a model can load */
  maxMemory: string | null;
  /** cross-layer feature evolution (notebook 07) */
  crosslayer: CrossLayerSettings;
  /** research-system sections added by later stages: free-form until their modules define them */
  interpbench: Record<string, unknown>;
  circuits: CircuitsConfig;
  checkpoints: CheckpointsConfig;
  /** crosscoder model diffing (notebook 13) */
  crosscoder: CrosscoderSettings;
}

export const DEFAULT_CONFIG: ExperimentConfig = {
  name: 'demo',
  description: '',
  seed: 0,
  base: { model: 'saelab/demo-base', revision: 'main', label: 'base', tokenizer: null, dVocab: null, dtype: null },
  finetune: { model: 'saelab/demo-finetune', revision: 'main', label: 'finetune', tokenizer: null, dVocab: null, dtype: null },
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
  maxMemory: null,
  crosslayer: DEFAULT_CROSSLAYER_CONFIG,
  interpbench: {},
  circuits: DEFAULT_CIRCUITS_CONFIG,
  checkpoints: DEFAULT_CHECKPOINTS_CONFIG,
  crosscoder: DEFAULT_CROSSCODER_CONFIG,
};

/** Where the config comes from: an explicit path, $SAELAB_CONFIG, or configs/demo.json. */
export function configPath(explicit?: string): string {
  const p = explicit ?? process.env.SAELAB_CONFIG ?? path.join(SAELAB_ROOT, 'configs', 'demo.json');
  return path.isAbsolute(p) ? p : path.resolve(p);
}

/** Config keys that may be null although their default is not. */
const NULLABLE_KEYS: ReadonlySet<string> = new Set(['outliers.multiplier']);

type NumberRule = 'posInt' | 'nonNegInt' | 'pos' | 'nonNeg' | 'unit';
/** Range rules of the experiment config's numbers (every number must also be finite); `?` marks keys that may be null. */
const NUMBER_RULES: Array<[string, NumberRule]> = [
  ['seed', 'nonNegInt'], ['contextSize', 'posInt'], ['maxTokensPerForward', 'posInt'],
  ['base.dVocab?', 'posInt'], ['finetune.dVocab?', 'posInt'],
  ['activations.nBatches', 'posInt'], ['activations.batchSize', 'posInt'], ['eval.nBatches', 'posInt'], ['eval.batchSize', 'posInt'],
  ['transfer.nBatches', 'posInt'], ['transfer.batchSize', 'posInt'], ['transfer.maxExclusiveDead', 'nonNegInt'], ['transfer.maxDense', 'nonNegInt'],
  ['outliers.multiplier?', 'pos'], ['outliers.absoluteThreshold?', 'pos'],
  // the circuits section's other ranges are checked with its hooks by validateCircuitsConfig (lib/stages/circuitsCommon.ts)
  ['circuits.ablation.contextsPerNode', 'posInt'],
  ['checkpoints.training.expansionFactor', 'pos'], ['checkpoints.training.l1Coefficient', 'nonNeg'], ['checkpoints.training.lr', 'pos'],
  ['checkpoints.training.trainingTokens', 'posInt'], ['checkpoints.training.trainBatchSizeTokens', 'posInt'], ['checkpoints.training.seed', 'nonNegInt'],
  ['checkpoints.training.nCheckpoints', 'nonNegInt'], ['checkpoints.trainBatches', 'posInt'], ['checkpoints.evalBatches', 'posInt'], ['checkpoints.batchSize', 'posInt'],
  ['checkpoints.streamTokens', 'posInt'], ['checkpoints.topFeatures', 'posInt'], ['checkpoints.checkpoints[].step', 'nonNegInt'],
  ['checkpoints.circuit.nExamples', 'posInt'], ['checkpoints.circuit.igSteps', 'posInt'], ['checkpoints.circuit.nodeThreshold', 'nonNeg'],
  ['checkpoints.circuit.edgeThreshold', 'nonNeg'], ['checkpoints.circuit.thresholds[]', 'pos'],
];
const RULE_TEXT: Record<NumberRule, [string, (x: number) => boolean]> = {
  posInt: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0],
  nonNegInt: ['a non-negative integer', (x) => Number.isSafeInteger(x) && x >= 0],
  pos: ['a number > 0', (x) => x > 0],
  nonNeg: ['a number >= 0', (x) => x >= 0],
  unit: ['a number in (0, 1]', (x) => x > 0 && x <= 1],
};

/** The values at a key path; `a.b[]` is every element of the array a.b, `a[].b` the b of each element. */
function valuesAt(root: unknown, keyPath: string): Array<[string, unknown]> {
  let cur: Array<[string, unknown]> = [['', root]];
  for (const part of keyPath.split('.')) {
    const each = part.endsWith('[]');
    const key = each ? part.slice(0, -2) : part;
    const next: Array<[string, unknown]> = [];
    for (const [at, v] of cur) {
      const x = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
      const here = at ? `${at}.${key}` : key;
      if (each && Array.isArray(x)) x.forEach((y, i) => next.push([`${here}[${i}]`, y]));
      else if (!each) next.push([here, x]);
    }
    cur = next;
  }
  return cur;
}

/** Every number of the config is finite; the listed ones are in range; null-default keys hold the right type. */
function validateExperimentValues(cfg: ExperimentConfig, where: string): void {
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new ConfigError(`${where}: config key '${at}' must be a finite number, got ${v}`);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, at ? `${at}.${k}` : k);
  };
  walk(cfg, '');
  for (const [rawKey, rule] of NUMBER_RULES) {
    const maybeNull = rawKey.endsWith('?');
    const [text, ok] = RULE_TEXT[rule];
    for (const [at, v] of valuesAt(cfg, maybeNull ? rawKey.slice(0, -1) : rawKey)) {
      if (v === null && maybeNull) continue;
      if (typeof v !== 'number' || !ok(v)) throw new ConfigError(`${where}: config key '${at}' must be ${text}${maybeNull ? ' or null' : ''}, got ${describeValue(v)}`);
    }
  }
  for (const w of ['base', 'finetune'] as const) {
    const t = cfg[w].tokenizer as unknown;
    if (t !== null && (typeof t !== 'string' || !t)) throw new ConfigError(`${where}: config key '${w}.tokenizer' must be a tokenizer name or null, got ${describeValue(t)}`);
  }
  if (cfg.outliers.multiplier === null && cfg.outliers.absoluteThreshold === null) throw new ConfigError(`${where}: outliers needs a multiplier (relative rule) or an absoluteThreshold; both are null`);
}

/** Load and validate an experiment config; errors (ConfigError) name the file and the key. */
export function loadConfig(explicit?: string): ExperimentConfig {
  const file = configPath(explicit);
  if (!fs.existsSync(file)) throw new ConfigError(`config file ${file} does not exist (set SAELAB_CONFIG or pass --config; presets are in ${path.join(SAELAB_ROOT, 'configs')})`);
  if (fs.statSync(file).isDirectory()) throw new ConfigError(`config file ${file} is a folder; pass a .json file`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const cfg = mergeWithDefaults(DEFAULT_CONFIG, raw, file, '', NULLABLE_KEYS);
  try {
    validatePathName(cfg.name, 'name');
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message} (the runs/ folder)`);
  }
  if (cfg.tokenAlignment !== 'ids' && cfg.tokenAlignment !== 'text') throw new ConfigError(`${file}: tokenAlignment must be "ids" or "text", got '${cfg.tokenAlignment}'`);
  validateExperimentValues(cfg, file);
  for (const which of ['base', 'finetune'] as const) {
    const d = cfg[which].dtype;
    if (d !== null && !['auto', 'float32', 'bfloat16', 'float16'].includes(d)) throw new ConfigError(`${file}: ${which}.dtype must be "float32", "bfloat16", "float16", "auto" or null, got ${JSON.stringify(d)}`);
  }
  if (cfg.maxMemory !== null) {
    try {
      parseBytes(cfg.maxMemory, `${file}: maxMemory`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  validateCrossLayerSettings(cfg.crosslayer, file);
  checkCheckpointsConfig(cfg.checkpoints, file);
  checkCrosscoderSettings(cfg.crosscoder, file);
  return cfg;
}

/** Check the values of a crosslayer section (types were checked against the defaults already). */
export function validateCrossLayerSettings(c: CrossLayerSettings, where: string): void {
  const posInt = (v: number, key: string, allowZero = false) => {
    if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) throw new ConfigError(`${where}: crosslayer.${key} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${v}`);
  };
  posInt(c.contextSize, 'contextSize');
  posInt(c.batchSize, 'batchSize');
  posInt(c.tokens, 'tokens');
  posInt(c.checkpointTokens, 'checkpointTokens', true);
  posInt(c.saveEveryTokens, 'saveEveryTokens', true);
  posInt(c.maxPairsInMemory, 'maxPairsInMemory');
  posInt(c.graph.topK, 'graph.topK');
  posInt(c.graph.contexts, 'graph.contexts', true);
  posInt(c.graph.contextTokens, 'graph.contextTokens', true);
  if (c.tokens < c.batchSize * c.contextSize) throw new ConfigError(`${where}: crosslayer.tokens ${c.tokens} is less than one batch (batchSize ${c.batchSize} x contextSize ${c.contextSize}); only whole batches are used`);
  for (const [key, xs] of [['featureThresholds', c.featureThresholds], ['pairThresholds', c.pairThresholds]] as const) {
    if (xs.length === 0 || xs.some((x, i) => !Number.isInteger(x) || x < 0 || (i > 0 && x <= xs[i - 1]))) throw new ConfigError(`${where}: crosslayer.${key} must be increasing non-negative integers, got ${describeValue(xs)}`);
  }
  if (c.passThroughThresholds.some((x) => typeof x !== 'number' || !(x > -1 && x <= 1))) throw new ConfigError(`${where}: crosslayer.passThroughThresholds must be numbers in (-1, 1], got ${describeValue(c.passThroughThresholds)}`);
  if (!(c.graph.minWeight > 0 && c.graph.minWeight <= 1)) throw new ConfigError(`${where}: crosslayer.graph.minWeight must be in (0, 1], got ${c.graph.minWeight}`);
  c.hooks.forEach((h, i) => {
    if (typeof h !== 'string' || !parseBlockHook(h)) throw new ConfigError(`${where}: crosslayer.hooks[${i}] must be a per-block hook name like blocks.3.hook_resid_pre, got ${describeValue(h)}`);
  });
  if (c.hooks.length === 1) throw new ConfigError(`${where}: crosslayer.hooks needs at least two hooks (statistics are between adjacent layers), or [] for every layer`);
  const np = c.neuronpedia as unknown;
  if (np !== null && (typeof np !== 'object' || typeof (np as { model?: unknown }).model !== 'string' || typeof (np as { saeId?: unknown }).saeId !== 'string' || Object.keys(np as object).length !== 2)) {
    throw new ConfigError(`${where}: crosslayer.neuronpedia must be null or {"model": "...", "saeId": "...{layer}..."}, got ${describeValue(np)}`);
  }
}
