/**
 * Training configuration: SAELens's LanguageModelSAERunnerConfig fields in camelCase
 * (l1_coefficient -> l1Coefficient, train_batch_size_tokens -> trainBatchSizeTokens, ...).
 */
import { ConfigError, describeValue } from '../io/errors';
export type TrainArchitecture = 'standard' | 'topk' | 'jumprelu';
export type LrSchedulerName = 'constant' | 'cosineannealing' | 'cosineannealingwarmrestarts';
export type BDecInitMethod = 'geometric_median' | 'mean' | 'zeros';
export type TrainNormalizeActivations = 'none' | 'expected_average_only_in';

/** Metadata copied into the trained SAE's cfg.json `metadata` (SAELens names). */
export interface TrainMetadata {
  model_name?: string;
  hook_name?: string;
  hook_head_index?: number | null;
  context_size?: number;
  prepend_bos?: boolean;
  dataset_path?: string;
  [key: string]: unknown;
}

export interface TrainSAEConfig {
  architecture: TrainArchitecture;
  /** width of the activations */
  dIn: number;
  /** number of features; default dIn * expansionFactor */
  dSae: number;
  expansionFactor?: number;
  /** topk: active features per token */
  k?: number;
  applyBDecToInput: boolean;
  bDecInitMethod: BDecInitMethod;
  /** W_dec rows uniform [0,1) then scaled to norm 0.1 (before unit-normalising, when normalizeSaeDecoder) */
  decoderHeuristicInit: boolean;
  initEncoderAsDecoderTranspose: boolean;
  /** keep decoder rows unit norm and remove the gradient component parallel to them */
  normalizeSaeDecoder: boolean;
  scaleSparsityPenaltyByDecoderNorm: boolean;
  /** p of the sparsity norm (1 = L1) */
  lpNorm: number;
  l1Coefficient: number;
  l1WarmUpSteps: number;
  /** jumprelu: coefficient of the L0 (step) penalty and its warm-up */
  l0Coefficient: number;
  l0WarmUpSteps: number;
  jumpreluBandwidth: number;
  jumpreluInitThreshold: number;
  /** topk: weight of the auxiliary dead-feature reconstruction loss (0 disables it) */
  auxCoefficient: number;
  /** std of gaussian noise added to the pre-activations while training */
  noiseScale: number;
  lr: number;
  lrScheduler: LrSchedulerName;
  lrWarmUpSteps: number;
  lrDecaySteps: number;
  /** end lr of cosine annealing and start of the final linear decay; default lr / 10 */
  lrEnd: number;
  nRestartCycles: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEps: number;
  /** global gradient-norm clip (SAELens: 1.0); 0 disables */
  gradClipNorm: number;
  trainingTokens: number;
  trainBatchSizeTokens: number;
  /** mixing buffer size, in training batches (half is served, half kept to mix with the next fill) */
  nBatchesInBuffer: number;
  useGhostGrads: boolean;
  /** steps between feature-density resets (and density logs) */
  featureSamplingWindow: number;
  /** a feature that has not fired for more than this many steps is dead */
  deadFeatureWindow: number;
  normalizeActivations: TrainNormalizeActivations;
  /** tokens used to estimate the norm scaling factor (expected_average_only_in) */
  normEstimateTokens: number;
  /** evenly spaced intermediate checkpoints: SAELens's n_checkpoints (n - 1 intermediate + final) */
  nCheckpoints: number;
  seed: number;
  /** steps between metric logs (SAELens wandb_log_frequency) */
  logEvery: number;
  dtype: 'float32';
  metadata: TrainMetadata;
}

export type TrainSAEConfigInput = Partial<TrainSAEConfig> & { dIn: number; trainingTokens: number };

/** Fill defaults (SAELens's) and validate; throws an Error naming the bad field. */
export function resolveTrainConfig(input: TrainSAEConfigInput): TrainSAEConfig {
  const lr = input.lr ?? 3e-4;
  const dIn = input.dIn;
  const dSae = input.dSae ?? (input.expansionFactor !== undefined ? Math.round(dIn * input.expansionFactor) : dIn * 4);
  const cfg: TrainSAEConfig = {
    architecture: input.architecture ?? 'standard',
    dIn,
    dSae,
    expansionFactor: input.expansionFactor,
    k: input.k,
    applyBDecToInput: input.applyBDecToInput ?? true,
    bDecInitMethod: input.bDecInitMethod ?? 'geometric_median',
    decoderHeuristicInit: input.decoderHeuristicInit ?? false,
    initEncoderAsDecoderTranspose: input.initEncoderAsDecoderTranspose ?? false,
    normalizeSaeDecoder: input.normalizeSaeDecoder ?? true,
    scaleSparsityPenaltyByDecoderNorm: input.scaleSparsityPenaltyByDecoderNorm ?? false,
    lpNorm: input.lpNorm ?? 1,
    l1Coefficient: input.l1Coefficient ?? 1e-3,
    l1WarmUpSteps: input.l1WarmUpSteps ?? 0,
    l0Coefficient: input.l0Coefficient ?? 1,
    l0WarmUpSteps: input.l0WarmUpSteps ?? 0,
    jumpreluBandwidth: input.jumpreluBandwidth ?? 0.001,
    jumpreluInitThreshold: input.jumpreluInitThreshold ?? 0.001,
    auxCoefficient: input.auxCoefficient ?? 1,
    noiseScale: input.noiseScale ?? 0,
    lr,
    lrScheduler: input.lrScheduler ?? 'constant',
    lrWarmUpSteps: input.lrWarmUpSteps ?? 0,
    lrDecaySteps: input.lrDecaySteps ?? 0,
    lrEnd: input.lrEnd ?? lr / 10,
    nRestartCycles: input.nRestartCycles ?? 1,
    adamBeta1: input.adamBeta1 ?? 0.9,
    adamBeta2: input.adamBeta2 ?? 0.999,
    adamEps: input.adamEps ?? 1e-8,
    gradClipNorm: input.gradClipNorm ?? 1.0,
    trainingTokens: input.trainingTokens,
    trainBatchSizeTokens: input.trainBatchSizeTokens ?? 4096,
    nBatchesInBuffer: input.nBatchesInBuffer ?? 20,
    useGhostGrads: input.useGhostGrads ?? false,
    featureSamplingWindow: input.featureSamplingWindow ?? 2000,
    deadFeatureWindow: input.deadFeatureWindow ?? 1000,
    normalizeActivations: input.normalizeActivations ?? 'none',
    normEstimateTokens: input.normEstimateTokens ?? 100_000,
    nCheckpoints: input.nCheckpoints ?? 0,
    seed: input.seed ?? 42,
    logEvery: input.logEvery ?? 10,
    dtype: 'float32',
    metadata: { ...(input.metadata ?? {}) },
  };
  checkInputFields(input, cfg);
  validate(cfg);
  return cfg;
}

function positiveInt(v: number, field: string): void {
  if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`train config: ${field} must be a positive integer, got ${v}`);
}

function nonNegativeInt(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0) throw new ConfigError(`train config: ${field} must be a non-negative integer, got ${v}`);
}

function validate(c: TrainSAEConfig): void {
  const archs: TrainArchitecture[] = ['standard', 'topk', 'jumprelu'];
  if (!archs.includes(c.architecture)) throw new ConfigError(`train config: architecture '${c.architecture}' is not supported; use one of ${archs.join(', ')}`);
  positiveInt(c.dIn, 'dIn');
  positiveInt(c.dSae, 'dSae');
  positiveInt(c.trainBatchSizeTokens, 'trainBatchSizeTokens');
  if (!(c.trainingTokens >= c.trainBatchSizeTokens)) throw new ConfigError(`train config: trainingTokens (${c.trainingTokens}) must be at least one batch (trainBatchSizeTokens ${c.trainBatchSizeTokens})`);
  if (c.architecture === 'topk') {
    if (c.k === undefined) throw new ConfigError('train config: architecture topk needs k (active features per token)');
    positiveInt(c.k, 'k');
    if (c.k > c.dSae) throw new ConfigError(`train config: k (${c.k}) must not exceed dSae (${c.dSae})`);
  }
  if (!(c.nBatchesInBuffer >= 2 && c.nBatchesInBuffer % 2 === 0)) throw new ConfigError(`train config: nBatchesInBuffer must be an even number >= 2, got ${c.nBatchesInBuffer}`);
  if (!(c.lr > 0)) throw new ConfigError(`train config: lr must be > 0, got ${c.lr}`);
  const scheds: LrSchedulerName[] = ['constant', 'cosineannealing', 'cosineannealingwarmrestarts'];
  if (!scheds.includes(c.lrScheduler)) throw new ConfigError(`train config: lrScheduler '${c.lrScheduler}' is not supported; use one of ${scheds.join(', ')}`);
  nonNegativeInt(c.lrWarmUpSteps, 'lrWarmUpSteps');
  nonNegativeInt(c.lrDecaySteps, 'lrDecaySteps');
  nonNegativeInt(c.l1WarmUpSteps, 'l1WarmUpSteps');
  nonNegativeInt(c.l0WarmUpSteps, 'l0WarmUpSteps');
  nonNegativeInt(c.nCheckpoints, 'nCheckpoints');
  positiveInt(c.featureSamplingWindow, 'featureSamplingWindow');
  positiveInt(c.deadFeatureWindow, 'deadFeatureWindow');
  positiveInt(c.logEvery, 'logEvery');
  if (c.lrDecaySteps > 0 && c.lrEnd === 0) throw new ConfigError('train config: lrDecaySteps > 0 needs lrEnd > 0 (the decay starts from lrEnd)');
  if (totalSteps(c) < c.lrWarmUpSteps + c.lrDecaySteps) throw new ConfigError(`train config: lrWarmUpSteps + lrDecaySteps (${c.lrWarmUpSteps + c.lrDecaySteps}) exceed the ${totalSteps(c)} training steps`);
  const bInit: BDecInitMethod[] = ['geometric_median', 'mean', 'zeros'];
  if (!bInit.includes(c.bDecInitMethod)) throw new ConfigError(`train config: bDecInitMethod '${c.bDecInitMethod}' is not supported; use one of ${bInit.join(', ')}`);
  const norms: TrainNormalizeActivations[] = ['none', 'expected_average_only_in'];
  if (!norms.includes(c.normalizeActivations)) throw new ConfigError(`train config: normalizeActivations '${c.normalizeActivations}' is not supported in training; use one of ${norms.join(', ')}`);
  if (c.architecture === 'jumprelu' && !(c.jumpreluInitThreshold > 0 && c.jumpreluBandwidth > 0)) throw new ConfigError('train config: jumpreluInitThreshold and jumpreluBandwidth must be > 0');
  if (c.lpNorm !== 1 && c.lpNorm !== 2) throw new ConfigError(`train config: lpNorm must be 1 or 2, got ${c.lpNorm}`);
}

/** Ranges of numeric fields beyond their type (every number must be finite). */
const FIELD_RANGES: Record<string, [string, (x: number) => boolean]> = {
  lr: ['> 0', (x) => x > 0], lrEnd: ['>= 0', (x) => x >= 0], l1Coefficient: ['>= 0', (x) => x >= 0], l0Coefficient: ['>= 0', (x) => x >= 0],
  auxCoefficient: ['>= 0', (x) => x >= 0], noiseScale: ['>= 0', (x) => x >= 0], gradClipNorm: ['>= 0', (x) => x >= 0], expansionFactor: ['> 0', (x) => x > 0],
  adamBeta1: ['in [0, 1)', (x) => x >= 0 && x < 1], adamBeta2: ['in [0, 1)', (x) => x >= 0 && x < 1], adamEps: ['> 0', (x) => x > 0],
  seed: ['a non-negative integer', (x) => Number.isSafeInteger(x) && x >= 0], trainingTokens: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0],
  normEstimateTokens: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0], nRestartCycles: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0],
};

/** JSON types of the config's fields (a field added to TrainSAEConfig without an entry here is only checked for being known). */
const FIELD_TYPES: Record<string, 'number' | 'boolean' | 'string' | 'object'> = {
  architecture: 'string', dIn: 'number', dSae: 'number', expansionFactor: 'number', k: 'number', applyBDecToInput: 'boolean', bDecInitMethod: 'string',
  decoderHeuristicInit: 'boolean', initEncoderAsDecoderTranspose: 'boolean', normalizeSaeDecoder: 'boolean', scaleSparsityPenaltyByDecoderNorm: 'boolean',
  lpNorm: 'number', l1Coefficient: 'number', l1WarmUpSteps: 'number', l0Coefficient: 'number', l0WarmUpSteps: 'number', jumpreluBandwidth: 'number',
  jumpreluInitThreshold: 'number', auxCoefficient: 'number', noiseScale: 'number', lr: 'number', lrScheduler: 'string', lrWarmUpSteps: 'number',
  lrDecaySteps: 'number', lrEnd: 'number', nRestartCycles: 'number', adamBeta1: 'number', adamBeta2: 'number', adamEps: 'number', gradClipNorm: 'number',
  trainingTokens: 'number', trainBatchSizeTokens: 'number', nBatchesInBuffer: 'number', useGhostGrads: 'boolean', featureSamplingWindow: 'number',
  deadFeatureWindow: 'number', normalizeActivations: 'string', normEstimateTokens: 'number', nCheckpoints: 'number', seed: 'number', logEvery: 'number',
  dtype: 'string', metadata: 'object',
};

/**
 * The input's own fields: each must be a field of the config (a typo such as l1_coefficient is an error,
 * so are "constructor" or "toString"), of its JSON type (no "64" for 64), finite, and in range.
 */
function checkInputFields(input: object, cfg: TrainSAEConfig): void {
  for (const [key, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(cfg, key)) throw new ConfigError(`train config: unknown field '${key}' (fields: ${Object.keys(cfg).join(', ')})`);
    const want = FIELD_TYPES[key];
    const got = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    if (want && got !== want) throw new ConfigError(`train config: ${key} must be ${want === 'object' ? 'an object' : `a ${want}`}, got ${describeValue(v)}`);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new ConfigError(`train config: ${key} must be a finite number, got ${v}`);
      const range = FIELD_RANGES[key];
      if (range && !range[1](v)) throw new ConfigError(`train config: ${key} must be ${range[0]}, got ${v}`);
    }
  }
}

/** SAELens: total_training_steps = training_tokens // train_batch_size_tokens. */
export function totalSteps(c: Pick<TrainSAEConfig, 'trainingTokens' | 'trainBatchSizeTokens'>): number {
  return Math.floor(c.trainingTokens / c.trainBatchSizeTokens);
}

/**
 * Token counts after which intermediate checkpoints are written (SAELens: range(0, total, total // n)[1:]);
 * a checkpoint is written once the tokens seen exceed the next threshold. The final SAE is written separately.
 */
export function checkpointThresholds(c: Pick<TrainSAEConfig, 'trainingTokens' | 'nCheckpoints'>): number[] {
  if (c.nCheckpoints <= 0) return [];
  const step = Math.floor(c.trainingTokens / c.nCheckpoints);
  if (step <= 0) return [];
  const out: number[] = [];
  for (let t = step; t < c.trainingTokens; t += step) out.push(t);
  return out;
}
