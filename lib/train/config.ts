/**
 * Training configuration: SAELens's LanguageModelSAERunnerConfig and training SAE config fields in
 * camelCase (l1_coefficient -> l1Coefficient, train_batch_size_tokens -> trainBatchSizeTokens, ...).
 * Defaults are SAELens 6.18's for each architecture (`defaults: 'saelens6'`); `defaults: 'saelens5'`
 * restores the SAELens 5.x defaults saelab used before (unit-norm decoder every step, geometric-median
 * b_dec, ...). docs/sae-architectures.md lists both.
 */
import { DEFAULT_ARCHITECTURE, TrainingArchitecture, TrainingDefaults, trainingArchitecture } from '../sae/architectures';
import { ConfigError, describeValue } from '../io/errors';

export type { TrainingDefaults } from '../sae/architectures';
/** A trainable architecture name from the registry (lib/sae/architectures): standard, gated, jumprelu, topk, batchtopk, ... */
export type TrainArchitecture = string;
export type LrSchedulerName = 'constant' | 'cosineannealing' | 'cosineannealingwarmrestarts';
export type BDecInitMethod = 'geometric_median' | 'mean' | 'zeros';
export type TrainNormalizeActivations = 'none' | 'expected_average_only_in';

/** The training-defaults presets saelab knows. */
export const TRAINING_DEFAULTS: readonly TrainingDefaults[] = ['saelens6', 'saelens5'];

/** Metadata copied into the trained SAE's cfg.json `metadata` (SAELens names). */
export interface TrainMetadata {
  model_name?: string;
  hook_name?: string;
  hook_head_index?: number | null;
  /** transcoders: the hook they predict */
  hook_name_out?: string;
  context_size?: number;
  prepend_bos?: boolean;
  dataset_path?: string;
  [key: string]: unknown;
}

export interface TrainSAEConfig {
  /** which preset filled the fields left out: SAELens 6.18's (default) or SAELens 5.x's */
  defaults: TrainingDefaults;
  architecture: TrainArchitecture;
  /** width of the activations (transcoders: of the input hook) */
  dIn: number;
  /** number of features; default dIn * expansionFactor */
  dSae: number;
  /** transcoders: width of the output hook they predict */
  dOut?: number;
  expansionFactor?: number;
  // ---- TopK family (topk, batchtopk, matryoshka_batchtopk)
  /** active features per token (batchtopk: on average over the batch, may be fractional) */
  k?: number;
  /** weight of the AuxK dead-feature reconstruction loss (0 disables it); SAELens aux_loss_coefficient */
  auxCoefficient?: number;
  /** choose and decode with the activations scaled by the decoder row norms; folded into the saved weights */
  rescaleActsByDecoderNorm?: boolean;
  /** batchtopk: rate of the moving average that tracks the threshold */
  topkThresholdLr?: number;
  /** matryoshka_batchtopk: nested feature widths, strictly increasing (dSae is added as the last level) */
  matryoshkaWidths?: number[];
  // ---- crosscoders (crosscoder, batchtopk_crosscoder): rows are n models' activations side by side
  /** number of models (or layers) whose activations are concatenated in each row; dIn = nModels x d_model */
  nModels?: number;
  // ---- L1 family (standard, gated, transcoders)
  /** weight each feature's activation in the sparsity penalty by its decoder row norm (standard) */
  scaleSparsityPenaltyByDecoderNorm?: boolean;
  /** p of the sparsity norm (1 = L1) */
  lpNorm?: number;
  l1Coefficient?: number;
  l1WarmUpSteps?: number;
  // ---- JumpReLU family
  /** coefficient of the L0 (step) or tanh penalty and its warm-up */
  l0Coefficient?: number;
  l0WarmUpSteps?: number;
  jumpreluBandwidth?: number;
  jumpreluInitThreshold?: number;
  /** "step" (Google DeepMind's L0) or "tanh" (Anthropic's) */
  jumpreluSparsityLossMode?: 'step' | 'tanh';
  jumpreluTanhScale?: number;
  /** Anthropic's pre-activation loss on dead features; null disables it */
  preActLossCoefficient?: number | null;
  // ---- shared
  applyBDecToInput: boolean;
  bDecInitMethod: BDecInitMethod;
  /** SAELens 6 decoder_init_norm: W_dec rows (kaiming uniform) scaled to this norm and W_enc = W_dec^T; null: the SAELens 5 initialisation below */
  decoderInitNorm: number | null;
  /** SAELens 5: W_dec rows uniform [0,1) then scaled to norm 0.1 (before unit-normalising, when normalizeSaeDecoder) */
  decoderHeuristicInit: boolean;
  /** SAELens 5: W_enc = W_dec^T at initialisation */
  initEncoderAsDecoderTranspose: boolean;
  /** SAELens 5: keep decoder rows unit norm every step and remove the gradient component parallel to them */
  normalizeSaeDecoder: boolean;
  /** std of gaussian noise added to the pre-activations while training (SAELens 5) */
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
  /** SAELens 5 ghost grads (standard and transcoder) */
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

/** The runner-level defaults of each preset (fields every architecture shares). */
export const RUNNER_DEFAULTS: Record<TrainingDefaults, Partial<TrainSAEConfig>> = {
  saelens6: {
    applyBDecToInput: true, bDecInitMethod: 'zeros', decoderInitNorm: 0.1, decoderHeuristicInit: false, initEncoderAsDecoderTranspose: true,
    normalizeSaeDecoder: false, noiseScale: 0, useGhostGrads: false,
  },
  saelens5: {
    applyBDecToInput: true, bDecInitMethod: 'geometric_median', decoderInitNorm: null, decoderHeuristicInit: false, initEncoderAsDecoderTranspose: false,
    normalizeSaeDecoder: true, noiseScale: 0, useGhostGrads: false,
  },
};

/** Fill defaults (the chosen preset's, SAELens 6.18 by default) and validate; throws an Error naming the bad field. */
export function resolveTrainConfig(input: TrainSAEConfigInput): TrainSAEConfig {
  const preset = input.defaults ?? 'saelens6';
  if (!TRAINING_DEFAULTS.includes(preset)) throw new ConfigError(`train config: defaults '${preset}' is not a preset; use one of ${TRAINING_DEFAULTS.join(', ')}`);
  const architecture = input.architecture ?? DEFAULT_ARCHITECTURE;
  const arch = trainingArchitecture(architecture);
  const given: Partial<TrainSAEConfig> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) (given as Record<string, unknown>)[k] = v;
  const lr = input.lr ?? 3e-4;
  const dIn = input.dIn;
  const dSae = input.dSae ?? (input.expansionFactor !== undefined ? Math.round(dIn * input.expansionFactor) : dIn * 4);
  const cfg: TrainSAEConfig = {
    ...(RUNNER_DEFAULTS[preset] as TrainSAEConfig),
    ...arch.defaults[preset],
    lr,
    lrScheduler: 'constant',
    lrWarmUpSteps: 0,
    lrDecaySteps: 0,
    lrEnd: lr / 10,
    nRestartCycles: 1,
    adamBeta1: 0.9,
    adamBeta2: 0.999,
    adamEps: 1e-8,
    gradClipNorm: 1.0,
    trainBatchSizeTokens: 4096,
    nBatchesInBuffer: 20,
    featureSamplingWindow: 2000,
    deadFeatureWindow: 1000,
    normalizeActivations: 'none',
    normEstimateTokens: 100_000,
    nCheckpoints: 0,
    seed: 42,
    logEvery: 10,
    ...given,
    defaults: preset,
    architecture,
    dIn,
    dSae,
    dtype: 'float32',
    metadata: { ...(input.metadata ?? {}) },
  };
  checkInputFields(input, cfg, arch);
  if (arch.target === 'input') delete cfg.dOut;
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
  const arch = trainingArchitecture(c.architecture);
  positiveInt(c.dIn, 'dIn');
  positiveInt(c.dSae, 'dSae');
  positiveInt(c.trainBatchSizeTokens, 'trainBatchSizeTokens');
  if (!(c.trainingTokens >= c.trainBatchSizeTokens)) throw new ConfigError(`train config: trainingTokens (${c.trainingTokens}) must be at least one batch (trainBatchSizeTokens ${c.trainBatchSizeTokens})`);
  if (!(c.nBatchesInBuffer >= 2 && c.nBatchesInBuffer % 2 === 0)) throw new ConfigError(`train config: nBatchesInBuffer must be an even number >= 2, got ${c.nBatchesInBuffer}`);
  if (!(c.lr > 0)) throw new ConfigError(`train config: lr must be > 0, got ${c.lr}`);
  const scheds: LrSchedulerName[] = ['constant', 'cosineannealing', 'cosineannealingwarmrestarts'];
  if (!scheds.includes(c.lrScheduler)) throw new ConfigError(`train config: lrScheduler '${c.lrScheduler}' is not supported; use one of ${scheds.join(', ')}`);
  nonNegativeInt(c.lrWarmUpSteps, 'lrWarmUpSteps');
  nonNegativeInt(c.lrDecaySteps, 'lrDecaySteps');
  for (const f of ['l1WarmUpSteps', 'l0WarmUpSteps'] as const) if (c[f] !== undefined) nonNegativeInt(c[f] as number, f);
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
  if (c.decoderInitNorm !== null && !(c.decoderInitNorm > 0)) throw new ConfigError(`train config: decoderInitNorm must be > 0 or null, got ${c.decoderInitNorm}`);
  if (c.dOut !== undefined && arch.target === 'input') throw new ConfigError(`train config: dOut is only for transcoders; ${c.architecture} reconstructs its input`);
  arch.validate?.(c, (msg: string): never => { throw new ConfigError(`train config: ${msg}`); });
}

/** Ranges of numeric fields beyond their type (every number must be finite). */
const FIELD_RANGES: Record<string, [string, (x: number) => boolean]> = {
  lr: ['> 0', (x) => x > 0], lrEnd: ['>= 0', (x) => x >= 0], l1Coefficient: ['>= 0', (x) => x >= 0], l0Coefficient: ['>= 0', (x) => x >= 0],
  auxCoefficient: ['>= 0', (x) => x >= 0], noiseScale: ['>= 0', (x) => x >= 0], gradClipNorm: ['>= 0', (x) => x >= 0], expansionFactor: ['> 0', (x) => x > 0],
  adamBeta1: ['in [0, 1)', (x) => x >= 0 && x < 1], adamBeta2: ['in [0, 1)', (x) => x >= 0 && x < 1], adamEps: ['> 0', (x) => x > 0],
  seed: ['a non-negative integer', (x) => Number.isSafeInteger(x) && x >= 0], trainingTokens: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0],
  normEstimateTokens: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0], nRestartCycles: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0],
  dOut: ['a positive integer', (x) => Number.isSafeInteger(x) && x > 0], k: ['> 0', (x) => x > 0], jumpreluTanhScale: ['> 0', (x) => x > 0],
};

type FieldType = 'number' | 'boolean' | 'string' | 'object' | 'array';

/**
 * JSON types of the config's fields; [type, 'null'] where null is a value of its own (it switches the feature
 * off). Every TrainSAEConfig field needs an entry (a new field without one does not compile).
 */
const FIELD_TYPES: { [K in keyof Required<TrainSAEConfig>]: FieldType | [FieldType, 'null'] } = {
  defaults: 'string', architecture: 'string', dIn: 'number', dSae: 'number', dOut: 'number', expansionFactor: 'number',
  k: 'number', auxCoefficient: 'number', rescaleActsByDecoderNorm: 'boolean', topkThresholdLr: 'number', matryoshkaWidths: 'array', nModels: 'number',
  scaleSparsityPenaltyByDecoderNorm: 'boolean', lpNorm: 'number', l1Coefficient: 'number', l1WarmUpSteps: 'number',
  l0Coefficient: 'number', l0WarmUpSteps: 'number', jumpreluBandwidth: 'number', jumpreluInitThreshold: 'number', jumpreluSparsityLossMode: 'string',
  jumpreluTanhScale: 'number', preActLossCoefficient: ['number', 'null'],
  applyBDecToInput: 'boolean', bDecInitMethod: 'string', decoderInitNorm: ['number', 'null'], decoderHeuristicInit: 'boolean',
  initEncoderAsDecoderTranspose: 'boolean', normalizeSaeDecoder: 'boolean', noiseScale: 'number', lr: 'number', lrScheduler: 'string', lrWarmUpSteps: 'number',
  lrDecaySteps: 'number', lrEnd: 'number', nRestartCycles: 'number', adamBeta1: 'number', adamBeta2: 'number', adamEps: 'number', gradClipNorm: 'number',
  trainingTokens: 'number', trainBatchSizeTokens: 'number', nBatchesInBuffer: 'number', useGhostGrads: 'boolean', featureSamplingWindow: 'number',
  deadFeatureWindow: 'number', normalizeActivations: 'string', normEstimateTokens: 'number', nCheckpoints: 'number', seed: 'number', logEvery: 'number',
  dtype: 'string', metadata: 'object',
};

/**
 * The input's own fields: each must be a field of the config (a typo such as l1_coefficient is an error,
 * so are "constructor" or "toString"; an architecture registered from outside may add fields through its
 * defaults), of its JSON type (no "64" for 64), finite, and in range.
 */
function checkInputFields(input: object, cfg: TrainSAEConfig, arch: TrainingArchitecture): void {
  const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const known = (k: string) => has(FIELD_TYPES, k) || has(arch.defaults.saelens6, k) || has(arch.defaults.saelens5, k);
  for (const [key, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (!known(key)) throw new ConfigError(`train config: unknown field '${key}' (fields: ${Object.keys(cfg).join(', ')})`);
    const want = has(FIELD_TYPES, key) ? FIELD_TYPES[key as keyof TrainSAEConfig] : undefined;
    const got = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    const ok = want === undefined || (Array.isArray(want) ? want.includes(got as FieldType) : got === want);
    if (!ok) {
      const type = Array.isArray(want) ? want[0] : want!;
      throw new ConfigError(`train config: ${key} must be ${type === 'object' || type === 'array' ? `an ${type}` : `a ${type}`}${Array.isArray(want) ? ' or null' : ''}, got ${describeValue(v)}`);
    }
    if (Array.isArray(v) && !v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new ConfigError(`train config: ${key} must be an array of finite numbers, got ${describeValue(v)}`);
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
