/**
 * What an SAE architecture module provides. One file per architecture (lib/sae/architectures/<name>.ts)
 * exports an `Architecture`; index.ts registers it in one table. Everything else (SAE, loaders, cfg.json
 * parsing, trainer, exporter, CLI) looks the architecture up there and never tests its name.
 */
import * as tf from '@tensorflow/tfjs';
import type { SAEConfig } from '../config';
import type { TrainSAEConfig } from '../../train/config';
import type { Weights } from './ops';

export type { Weights } from './ops';

/** Throws an Error whose message names the config and the problem. */
export type Fail = (msg: string) => never;

/** A cfg.json field an architecture adds to SAELens's base SAEConfig (k, d_out, ...). */
export interface ArchitectureField {
  /** cfg.json key, also the SAEConfig property */
  name: string;
  /** SAELens's dataclass default when a cfg.json leaves the field out; undefined: none (validate decides) */
  default?: unknown;
  /** its JSON type in cfg.json (values are not coerced: "64" is not 64; null counts as absent) */
  type: 'number' | 'string' | 'boolean';
}

/** The inference half: an SAE folder with this `architecture` in cfg.json. */
export interface InferenceArchitecture {
  /**
   * 'input': the SAE reconstructs the activation it reads (cfg.metadata.hook_name); 'output': a transcoder,
   * predicting the activation at cfg.metadata.hook_name_out from the one at hook_name (width d_out; no
   * b_dec subtraction on the input, no de-normalisation or hook_z reshaping of the output, as SAELens).
   */
  target: 'input' | 'output';
  /** cfg.json fields of this architecture beyond SAELens's base SAEConfig */
  fields?: ArchitectureField[];
  /** checks of the architecture's own fields (after the base fields were checked) */
  validate?(cfg: SAEConfig, fail: Fail): void;
  /**
   * Pre-6.0 cfg.json files whose activation_fn names this architecture: `fields` returns this
   * architecture's fields from activation_fn_kwargs, or undefined when the file is not one of it.
   */
  pre6?: { activationFn: string; fields(kwargs: Record<string, unknown>): Record<string, unknown> | undefined };
  /** the tensors of sae_weights.safetensors, in order, with their shapes */
  weightShapes(cfg: SAEConfig): Record<string, number[]>;
  /** feature activations from the processed input. xIn [n, d_in] -> [n, d_sae] */
  encode(cfg: SAEConfig, w: Weights, xIn: tf.Tensor2D): tf.Tensor2D;
  /** output before de-normalisation. f [n, d_sae] -> [n, d_out] */
  decode(cfg: SAEConfig, w: Weights, f: tf.Tensor2D): tf.Tensor2D;
  /** a term added to the output from the raw input (skip transcoders: x W_skip^T). x [n, d_in] -> [n, d_out] */
  skip?(cfg: SAEConfig, w: Weights, x: tf.Tensor2D): tf.Tensor2D;
  /** SAELens fold_W_dec_norm: the weights with decoder row norms folded into the encoder (new tensors where changed); throws when it is unsafe */
  foldDecoderNorms(cfg: SAEConfig, w: Weights): Weights;
}

/** Named presets of training defaults: SAELens 6.18's (the default) or SAELens 5.x's (saelab's earlier defaults). */
export type TrainingDefaults = 'saelens6' | 'saelens5';

/** A sparsity (or other) coefficient with a linear warm-up, by the TrainSAEConfig fields that hold it. */
export interface CoefficientFields {
  value: keyof TrainSAEConfig;
  warmUp: keyof TrainSAEConfig;
}

/** What one training forward pass of an architecture gets. */
export interface TrainStepInput {
  /** encoder input [batch, d_in] (normalisation already applied) */
  x: tf.Tensor2D;
  /** what the output should be [batch, d_out]: x itself for an SAE, the output hook for a transcoder */
  target: tf.Tensor2D;
  /** current value of each coefficient (warm-ups applied), by the names in `coefficients` */
  coefficients: Record<string, number>;
  /** [d_sae] 1 for dead features, with their count; present when usesDeadFeatures and some are dead */
  dead?: { mask: tf.Tensor1D; count: number };
  /** [batch, d_sae] gaussian noise (already scaled) for the pre-activations, when noiseScale > 0 */
  noise?: tf.Tensor2D;
}

/** The taped results of a training forward pass. */
export interface TrainStepOutput {
  /** named scalar loss terms, mse_loss first; the total loss is their sum in this order */
  losses: Record<string, tf.Scalar>;
  /** [batch, d_sae] */
  featureActs: tf.Tensor2D;
  /** [batch, d_out] */
  saeOut: tf.Tensor2D;
  /**
   * the total loss when the architecture computes it in one fused, differentiable op (its `losses` are then plain
   * values for logging); absent: the trainer differentiates the sum of `losses`
   */
  loss?: tf.Scalar;
}

/** What the trainer writes for inference: the cfg.json fields and the weights (new tensors, caller disposes). */
export interface TrainedExport {
  config: Partial<SAEConfig> & { architecture: string };
  weights: Weights;
}

/** The training half: how the trainer initialises, runs and exports this architecture. */
export interface TrainingArchitecture {
  /** 'output': trained on (input hook, output hook) pairs, predicting the output (a transcoder) */
  target: 'input' | 'output';
  /** defaults of this architecture's own TrainSAEConfig fields, per preset */
  defaults: Record<TrainingDefaults, Partial<TrainSAEConfig>>;
  /** checks of the architecture's own fields */
  validate?(cfg: TrainSAEConfig, fail: Fail): void;
  /**
   * All trainable parameters, in order (the order fixes gradient-norm sums), from the shared initial
   * encoder W_enc [d_in, d_sae] and decoder W_dec [d_sae, d_out]; the caller disposes what it passed.
   */
  initParams(cfg: TrainSAEConfig, init: { W_enc: tf.Tensor2D; W_dec: tf.Tensor2D }): Weights;
  /** coefficients with warm-up schedules (SAELens get_coefficients), by name; the first is logged as sparsity_coefficient */
  coefficients: Record<string, CoefficientFields>;
  /** whether the forward pass needs the dead-feature mask */
  usesDeadFeatures(cfg: TrainSAEConfig): boolean;
  /** the forward pass and losses on one batch (runs under tf.variableGrads) */
  forward(cfg: TrainSAEConfig, p: Weights, inp: TrainStepInput): TrainStepOutput;
  /** running values beyond the parameters (saved in checkpoints), e.g. BatchTopK's threshold */
  initState?(cfg: TrainSAEConfig): Record<string, number>;
  /** update the running values after a step (outside the tape) */
  afterStep?(cfg: TrainSAEConfig, state: Record<string, number>, out: TrainStepOutput): void;
  /** inference cfg fields and weights from the parameters, with the activation scaling factor s folded in */
  export(cfg: TrainSAEConfig, p: Weights, state: Record<string, number>, scale: number): TrainedExport;
  /**
   * Architectures whose trained model is not an SAE folder (crosscoders) write their own files into dir
   * (the final folder and every checkpoint); absent: the trainer writes a SAELens SAE folder from `export`.
   */
  save?(cfg: TrainSAEConfig, p: Weights, state: Record<string, number>, scale: number, dir: string, log10Density: Float32Array): Promise<void>;
}

/** One SAE architecture: its SAELens name and its inference and/or training halves. */
export interface Architecture {
  /** SAELens's name (cfg.json `architecture`, LanguageModelSAERunnerConfig sae architecture) */
  name: string;
  /** one line for help texts and docs */
  summary: string;
  /** absent for training-only architectures (SAELens saves them as another one) */
  inference?: InferenceArchitecture;
  /** absent for inference-only architectures */
  training?: TrainingArchitecture;
  /** training-only architectures: the architecture their trained SAEs are saved as */
  savedAs?: string;
}
